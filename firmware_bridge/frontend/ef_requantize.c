/* Requantisation (spec version 1): see edgeser/frontend/requantize.py. */
#include "ef_requantize.h"

int8_t ef_requantize_one(const ef_requantizer *rq, int32_t value)
{
    const int64_t round = (int64_t)1 << (rq->shift - 1);
    const int64_t v = ((int64_t)value - rq->offset_q7) * rq->multiplier + round;
    /* floor division by 2^s without relying on the shift of negative numbers */
    const int64_t one = (int64_t)1 << rq->shift;
    int64_t q = v >= 0 ? v >> rq->shift : -((-v + one - 1) >> rq->shift);
    q += rq->zero_point;
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

void ef_requantize(const ef_requantizer *rq, const int16_t *in, int8_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[i] = ef_requantize_one(rq, in[i]);
    }
}
