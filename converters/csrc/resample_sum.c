/* Polyphase resampling sums for training-time speed perturbation (converters/fast_resample.py).
 *
 * y[n] = sum over k = 0 .. taps-1, in that order, of xp[s_n + k] * table[p_n * taps + k],
 * with s_n = floor(n * down / up) and p_n = (n * down) mod up, the sum starting from 0.0 and
 * every product rounded before it is added: the same operations, in the same order, as NumPy's
 * non-BLAS matmul loop that edgeser.audio.resample reaches when its window rows overlap
 * (down < taps), so the results are bit-identical. Build with -ffp-contract=off (no fused
 * multiply-add) and without -ffast-math. Four outputs run side by side to hide the add latency;
 * each keeps its own sequential sum.
 */
#include <stddef.h>

void ef_resample_sums(const double *xp, long n_out, long up, long down, long taps,
                      const double *table, double *y)
{
    long n = 0;
    for (; n + 4 <= n_out; n += 4) {
        const double *x0 = xp + (n * down) / up, *x1 = xp + ((n + 1) * down) / up;
        const double *x2 = xp + ((n + 2) * down) / up, *x3 = xp + ((n + 3) * down) / up;
        const double *c0 = table + ((n * down) % up) * taps;
        const double *c1 = table + (((n + 1) * down) % up) * taps;
        const double *c2 = table + (((n + 2) * down) % up) * taps;
        const double *c3 = table + (((n + 3) * down) % up) * taps;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        for (long k = 0; k < taps; k++) {
            a0 += x0[k] * c0[k];
            a1 += x1[k] * c1[k];
            a2 += x2[k] * c2[k];
            a3 += x3[k] * c3[k];
        }
        y[n] = a0;
        y[n + 1] = a1;
        y[n + 2] = a2;
        y[n + 3] = a3;
    }
    for (; n < n_out; n++) {
        const double *x0 = xp + (n * down) / up;
        const double *c0 = table + ((n * down) % up) * taps;
        double a0 = 0.0;
        for (long k = 0; k < taps; k++) {
            a0 += x0[k] * c0[k];
        }
        y[n] = a0;
    }
}
