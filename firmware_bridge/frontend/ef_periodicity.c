/* Periodicity stage (spec version 1): see edgeser/frontend/periodicity.py for the
 * specification. */
#include "ef_periodicity.h"

#define EF_COS_BITS 9
#define EF_PERIODICITY_FRAC_BITS 11

/* floor(num / den) for den > 0 (C division truncates towards zero). */
static int64_t ef_floor_div(int64_t num, int64_t den)
{
    int64_t q = num / den;
    if (num % den != 0 && num < 0) {
        q -= 1;
    }
    return q;
}

void ef_periodicity_process(const ef_config *config, const ef_tables *tables,
                            const ef_work *work, int16_t *out)
{
    const uint32_t columns = config->periodicity_bands;
    const uint32_t first = tables->periodicity_first_bin;
    const uint32_t bins = tables->periodicity_num_bins;
    const int16_t *edges = tables->periodicity_lag_edges;
    const int64_t *p = work->power + first;
    int64_t r0 = 0;
    uint32_t j, k;
    int32_t lag;
    for (k = 0; k < bins; k++) {
        r0 += p[k];
    }
    r0 *= (int64_t)1 << EF_COS_BITS; /* < 2^51 */
    for (j = 0; j < columns; j++) {
        int64_t peak = 0;
        for (lag = edges[j]; lag < edges[j + 1]; lag++) {
            const int16_t *c = tables->periodicity_cos_q9 + (size_t)(lag - edges[0]) * bins;
            int64_t r = 0;
            for (k = 0; k < bins; k++) {
                r += (int64_t)c[k] * p[k];
            }
            if (lag == edges[j] || r > peak) {
                peak = r;
            }
        }
        if (r0 > 0) {
            /* |peak| <= r0 < 2^51: peak * 2^11 + r0 / 2 stays below 2^63. */
            out[j] = (int16_t)ef_floor_div(peak * ((int64_t)1 << EF_PERIODICITY_FRAC_BITS) + r0 / 2,
                                           r0);
        } else {
            out[j] = 0;
        }
    }
}
