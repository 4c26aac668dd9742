/* Integer helpers shared by the frontend stages (C99, no libm). */
#ifndef EF_FIXED_H
#define EF_FIXED_H

#include <stdint.h>

/*
 * value / 2^bits rounded half to even (bits >= 1). Written with floor division on the
 * magnitude so that it does not rely on the implementation-defined right shift of negative
 * numbers: the result equals the NumPy side's np.rint(value * 2^-bits).
 */
static inline int64_t ef_rshift_rne(int64_t value, int bits)
{
    const int64_t one = (int64_t)1 << bits;
    const int64_t half = one >> 1;
    int64_t q;
    int64_t r;
    if (value >= 0) {
        q = value >> bits;
    } else {
        q = -((-value + one - 1) >> bits); /* floor(value / 2^bits) */
    }
    r = value - q * one; /* 0 .. one - 1 */
    if (r > half || (r == half && (q & 1))) {
        q += 1;
    }
    return q;
}

/* Position of the leading one of value > 0 (floor(log2(value))). */
static inline int ef_msb64(uint64_t value)
{
    int msb = 0;
    int step;
    for (step = 32; step > 0; step >>= 1) {
        if (value >> step) {
            value >>= step;
            msb += step;
        }
    }
    return msb;
}

#endif /* EF_FIXED_H */
