/* Log-scale stage: integer log2 by table, dB in Q7 (see edgeser/frontend/log_scale.py). */
#ifndef EF_LOG_SCALE_H
#define EF_LOG_SCALE_H

#include "ef_frontend.h"

/* work->energy of a frame with block shift `shift` -> out[0 .. num_bands-1], dB Q7. */
void ef_log_scale_process(const ef_config *config, const ef_tables *tables, const ef_work *work,
                          int shift, int16_t *out);

#endif
