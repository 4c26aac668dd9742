/* Filterbank stage: HTK Mel triangles, Q10 weights (see edgeser/frontend/filterbank.py). */
#ifndef EF_FILTERBANK_H
#define EF_FILTERBANK_H

#include "ef_frontend.h"

/* work->power -> work->energy[0 .. num_bands-1]. */
void ef_filterbank_process(const ef_config *config, const ef_tables *tables, ef_work *work);

#endif
