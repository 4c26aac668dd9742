/*
 * Normalisation and requantisation of a model window (spec: edgeser/normalisation.py):
 * dB Q7 frames -> the model's int8 input, integer-only.
 *
 *   fixed:   centred = v - offset_q7
 *   window:  centred = v - round_half_even(sum(window) / (frames * bands))
 *   session: centred = v - session_mean_q7[band]
 *   q = clamp(zero_point + ((centred * M + 2^(s-1)) >> s), -128, 127)   (ef_requantize.h)
 *
 * With session_std, each band has its own M and s, from the base requantiser (real factor
 * 1 / input scale) divided by the band's deviation d = max(session_std_q7[band], 128):
 *   q' = (M0 * 2^32 + d / 2) / d;  b = bits(q') - 31;  M = (q' + 2^(b-1)) >> b;  s = s0 + 32 - b
 *   (M = 2^31: M /= 2, b += 1)                     (edgeser.normalisation.band_requantizers)
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
    int32_t session_std;   /* session mode: 1 divides each band by the session's deviation */
} ef_normaliser;

#define EF_MIN_STD_Q7 128 /* 1 dB: the smallest deviation a band is divided by */

/* The requantiser of one band: base's real factor divided by max(std_q7, EF_MIN_STD_Q7). */
void ef_band_requantizer(const ef_requantizer *base, int32_t std_q7, ef_requantizer *out);

/*
 * window: frames x bands dB Q7 values (row-major); session_mean_q7 and session_std_q7: bands
 * values each (session mode only; the deviation only with session_std; may be NULL otherwise);
 * out: frames x bands int8. Returns 0, or -1 when session mode lacks its statistics.
 */
int ef_model_input(const ef_normaliser *norm, const int16_t *window, uint32_t frames,
                   uint32_t bands, const int32_t *session_mean_q7, const int32_t *session_std_q7,
                   int8_t *out);

#endif /* EF_NORMALISE_H */
