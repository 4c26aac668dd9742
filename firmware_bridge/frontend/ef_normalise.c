/* Normalisation and requantisation of a model window (spec: edgeser/normalisation.py). */
#include "ef_normalise.h"

#include "ef_vad.h"

void ef_band_requantizer(const ef_requantizer *base, int32_t std_q7, ef_requantizer *out)
{
    const uint64_t d = (uint64_t)(std_q7 > EF_MIN_STD_Q7 ? std_q7 : EF_MIN_STD_Q7);
    const uint64_t q = (((uint64_t)base->multiplier << 32) + d / 2) / d;
    uint64_t rest = q, m;
    int32_t bits = 0, b;
    while (rest != 0) {
        bits++;
        rest >>= 1;
    }
    b = bits - 31;
    m = (q + ((uint64_t)1 << (b - 1))) >> b;
    if (m == ((uint64_t)1 << 31)) {
        m >>= 1;
        b += 1;
    }
    *out = *base;
    out->multiplier = (int32_t)m;
    out->shift = base->shift + 32 - b;
}

int ef_model_input(const ef_normaliser *norm, const int16_t *window, uint32_t frames,
                   uint32_t bands, const int32_t *session_mean_q7, const int32_t *session_std_q7,
                   int8_t *out)
{
    uint32_t t, b;
    int32_t offset = norm->offset_q7;
    const int session = norm->mode == EF_NORM_SESSION;
    const int per_band = session && norm->session_std;
    ef_requantizer rq = norm->rq;
    if (session && (session_mean_q7 == NULL || (per_band && session_std_q7 == NULL))) {
        return -1;
    }
    if (norm->mode == EF_NORM_WINDOW) {
        int64_t total = 0;
        for (t = 0; t < frames * bands; t++) {
            total += window[t];
        }
        offset = (int32_t)ef_div_round_half_even(total, (int64_t)frames * bands);
    }
    for (b = 0; b < bands; b++) { /* band by band: one requantiser per band, no table */
        const int32_t centre = session ? session_mean_q7[b] : offset;
        if (per_band) {
            ef_band_requantizer(&norm->rq, session_std_q7[b], &rq);
        }
        for (t = 0; t < frames; t++) {
            out[t * bands + b] = ef_requantize_one(&rq, (int32_t)window[t * bands + b] - centre);
        }
    }
    return 0;
}
