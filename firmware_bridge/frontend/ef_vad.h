/*
 * Voice-activity gate and session mean (spec: edgeser/vad.py), integer-only.
 *
 * Per frame, over its first num_bands values (the Mel bands, dB Q7; periodicity columns that
 * follow them are not part of the level):
 *   level  = floor(sum / num_bands)
 *   floor  = level if first frame or level < floor, else floor + ((level - floor) >> rise_shift)
 *   voiced = level >= absolute_q7 && level >= floor + margin_q7
 * The session mean is the per-band mean of the voiced frames, rounded half to even.
 */
#ifndef EF_VAD_H
#define EF_VAD_H

#include <stddef.h>
#include <stdint.h>

#include "ef_frontend.h"

typedef struct {
    int32_t absolute_q7; /* round(absolute_db * 128) */
    int32_t margin_q7;   /* round(margin_db * 128) */
    uint32_t rise_shift; /* 0..16 */
} ef_vad_config;

typedef struct {
    ef_vad_config config;
    int32_t floor_q7;
    int has_floor;
} ef_vad;

void ef_vad_init(ef_vad *vad, const ef_vad_config *config);
void ef_vad_reset(ef_vad *vad);
/* 1 when the frame is voiced, 0 otherwise; updates the noise floor. */
int ef_vad_frame(ef_vad *vad, const int16_t *frame, uint32_t num_bands);

typedef struct {
    int64_t sum[EF_MAX_BANDS];
    int64_t sum_squares[EF_MAX_BANDS]; /* for the deviation (session_std normalisation) */
    uint32_t num_bands;
    uint64_t count;
} ef_session_mean;

/* num_bands here: every value of a frame (EF_NUM_FEATURES with periodicity columns). */
void ef_session_mean_init(ef_session_mean *mean, uint32_t num_bands);
void ef_session_mean_add(ef_session_mean *mean, const int16_t *frame);
/* Writes num_bands means (Q7); returns 0 before any voiced frame (nothing written), else 1. */
int ef_session_mean_get(const ef_session_mean *mean, int32_t *mean_q7);
/*
 * Writes num_bands deviations (Q7): isqrt(floor((sum_squares - 2 m sum + n m^2) / n)) with m the
 * rounded mean (edgeser.vad.SessionMean.std_q7); returns 0 before any voiced frame, else 1.
 */
int ef_session_std_get(const ef_session_mean *mean, int32_t *std_q7);

/* floor(sqrt(v)). */
uint32_t ef_isqrt64(uint64_t v);

/* floor(a / b) rounded half to even, b > 0 (shared with ef_normalise.c). */
int64_t ef_div_round_half_even(int64_t a, int64_t b);

#endif /* EF_VAD_H */
