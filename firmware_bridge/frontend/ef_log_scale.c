/* Log-scale stage (spec version 1): see edgeser/frontend/log_scale.py for the specification. */
#include "ef_log_scale.h"

#include "ef_fixed.h"

#define EF_SCALE_BITS 4
#define EF_DB_MULTIPLIER 98642 /* round(10 log10(2) 2^15) */

void ef_log_scale_process(const ef_config *config, const ef_tables *tables, const ef_work *work,
                          int shift, int16_t *out)
{
    uint32_t m;
    for (m = 0; m < config->num_bands; m++) {
        const uint64_t energy = (uint64_t)work->energy[m];
        int msb;
        uint64_t mant;
        uint32_t frac, idx, rem;
        int64_t log2_q16, rel, base, step;
        if (energy == 0) {
            out[m] = 0;
            continue;
        }
        msb = ef_msb64(energy);
        mant = msb <= 30 ? energy << (30 - msb) : energy >> (msb - 30);
        frac = (uint32_t)(mant - ((uint64_t)1 << 30));
        idx = frac >> 24;
        rem = frac & ((1u << 24) - 1);
        base = tables->log2_q16[idx];
        step = tables->log2_q16[idx + 1] - base;
        log2_q16 = ((int64_t)msb << 16) + base + ((step * rem + ((int64_t)1 << 23)) >> 24);
        rel = log2_q16 - ((int64_t)(EF_SCALE_BITS + 2 * shift) << 16);
        if (rel < 0) {
            rel = 0;
        }
        out[m] = (int16_t)((rel * EF_DB_MULTIPLIER + ((int64_t)1 << 23)) >> 24);
    }
}
