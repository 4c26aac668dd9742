/* Filterbank stage (spec version 1): see edgeser/frontend/filterbank.py for the specification. */
#include "ef_filterbank.h"

#define EF_WEIGHT_ONE 1024

void ef_filterbank_process(const ef_config *config, const ef_tables *tables, ef_work *work)
{
    const uint32_t bands = config->num_bands;
    uint32_t j;
    int32_t k;
    for (j = 0; j < bands; j++) {
        work->energy[j] = 0;
    }
    /* Segment j: rising slope of band j (j < M), falling slope of band j - 1 (j >= 1). */
    for (j = 0; j <= bands; j++) {
        for (k = tables->seg_start[j]; k < tables->seg_start[j + 1]; k++) {
            const int64_t p = work->power[k];
            const int64_t w = tables->weights_q10[k];
            if (j < bands) {
                work->energy[j] += w * p;
            }
            if (j >= 1) {
                work->energy[j - 1] += (EF_WEIGHT_ONE - w) * p;
            }
        }
    }
}
