/*
 * Normalisation and requantisation of a model window (spec: edgeser/normalisation.py):
 * dB Q7 frames -> the model's int8 input, integer-only.
 *
 *   fixed:   centred = v - offset_q7
 *   window:  centred = v - round_half_even(sum(window) / (frames * bands))
 *   session: centred = v - session_mean_q7[band]
 *   q = clamp(zero_point + ((centred * M + 2^(s-1)) >> s), -128, 127)   (ef_requantize.h)
 */
#ifndef EF_NORMALISE_H
#define EF_NORMALISE_H

#include <stddef.h>
#include <stdint.h>

#include "ef_requantize.h"

#define EF_NORM_FIXED 0
#define EF_NORM_WINDOW 1
#define EF_NORM_SESSION 2

typedef struct {
    int32_t mode;          /* EF_NORM_FIXED, EF_NORM_WINDOW or EF_NORM_SESSION */
    int32_t offset_q7;     /* fixed mode only: round(offset_db * 128) */
    ef_requantizer rq;     /* the model input's requantiser (its offset_q7 is 0) */
} ef_normaliser;

/*
 * window: frames x bands dB Q7 values (row-major); session_mean_q7: bands values (session
 * mode only, may be NULL otherwise); out: frames x bands int8. Returns 0, or -1 when session
 * mode has no mean.
 */
int ef_model_input(const ef_normaliser *norm, const int16_t *window, uint32_t frames,
                   uint32_t bands, const int32_t *session_mean_q7, int8_t *out);

#endif /* EF_NORMALISE_H */
