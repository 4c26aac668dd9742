/* Periodicity stage: r(L) / r(0) in Q11 over pitch-period ranges (see
 * edgeser/frontend/periodicity.py). Optional: runs when config->periodicity_bands > 0. */
#ifndef EF_PERIODICITY_H
#define EF_PERIODICITY_H

#include "ef_frontend.h"

/* work->power -> out[0 .. periodicity_bands-1], int16 Q11 (value / 2048 = r(L) / r(0)). */
void ef_periodicity_process(const ef_config *config, const ef_tables *tables,
                            const ef_work *work, int16_t *out);

#endif
