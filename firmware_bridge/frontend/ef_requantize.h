/* Requantisation: dB Q7 frames -> int8 model input (see edgeser/frontend/requantize.py). */
#ifndef EF_REQUANTIZE_H
#define EF_REQUANTIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t multiplier; /* M in [2^30, 2^31) */
    int32_t shift;      /* right shift s, 1..62 */
    int32_t offset_q7;  /* subtracted from the dB Q7 value first */
    int32_t zero_point; /* the model input's int8 zero point */
} ef_requantizer;

/* One value: clamp(zero_point + (((v - offset_q7) * M + 2^(s-1)) >> s), -128, 127). */
int8_t ef_requantize_one(const ef_requantizer *rq, int32_t value);

/* q[i] = clamp(zero_point + (((v[i] - offset_q7) * M + 2^(s-1)) >> s), -128, 127) */
void ef_requantize(const ef_requantizer *rq, const int16_t *in, int8_t *out, size_t n);

#endif
