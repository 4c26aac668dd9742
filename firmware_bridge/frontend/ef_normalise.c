/* Normalisation and requantisation of a model window (spec: edgeser/normalisation.py). */
#include "ef_normalise.h"

#include "ef_vad.h"

int ef_model_input(const ef_normaliser *norm, const int16_t *window, uint32_t frames,
                   uint32_t bands, const int32_t *session_mean_q7, int8_t *out)
{
    uint32_t t, b;
    int32_t offset = norm->offset_q7;
    if (norm->mode == EF_NORM_SESSION && session_mean_q7 == NULL) {
        return -1;
    }
    if (norm->mode == EF_NORM_WINDOW) {
        int64_t total = 0;
        for (t = 0; t < frames * bands; t++) {
            total += window[t];
        }
        offset = (int32_t)ef_div_round_half_even(total, (int64_t)frames * bands);
    }
    for (t = 0; t < frames; t++) {
        for (b = 0; b < bands; b++) {
            const int32_t centre = norm->mode == EF_NORM_SESSION ? session_mean_q7[b] : offset;
            out[t * bands + b] = ef_requantize_one(&norm->rq, (int32_t)window[t * bands + b] - centre);
        }
    }
    return 0;
}
