/* Spectrum stage (spec version 1): see edgeser/frontend/spectrum.py for the specification. */
#include "ef_spectrum.h"

#include "ef_fixed.h"

#define EF_PASS1_SHIFT 7
#define EF_PASS2_SHIFT 23
#define EF_POWER_SHIFT 6

void ef_spectrum_process(const ef_config *config, const ef_tables *tables, ef_work *work)
{
    const uint32_t n_fft = config->fft_size;
    const uint32_t mask = n_fft - 1;
    const uint32_t a_total = config->first_pass_size;
    const uint32_t half = a_total / 2;
    const uint32_t stride = n_fft / a_total; /* B */
    const uint32_t window = config->window_samples;
    uint32_t a, b, k, k1;

    /* Pass 1: A-point DFTs over a of x_w[B a + b], exact sums, rounded to Q8. */
    for (b = 0; b < stride; b++) {
        for (k1 = 0; k1 <= half; k1++) {
            int64_t re = 0;
            int64_t im = 0;
            uint32_t idx = 0;
            const uint32_t step = (stride * k1) & mask;
            for (a = 0; a < a_total && stride * a + b < window; a++) {
                const int64_t x = work->x_w[stride * a + b];
                re += x * tables->twiddle_re[idx];
                im += x * tables->twiddle_im[idx];
                idx = (idx + step) & mask;
            }
            work->yr_re[b * a_total + k1] = (int32_t)ef_rshift_rne(re, EF_PASS1_SHIFT);
            work->yr_im[b * a_total + k1] = (int32_t)ef_rshift_rne(im, EF_PASS1_SHIFT);
        }
        for (k1 = half + 1; k1 < a_total; k1++) {
            work->yr_re[b * a_total + k1] = work->yr_re[b * a_total + (a_total - k1)];
            work->yr_im[b * a_total + k1] = -work->yr_im[b * a_total + (a_total - k1)];
        }
    }

    /* Pass 2: B-point DFTs over b with the twiddles folded in, rounded to Q0; then power. */
    for (k = 0; k <= n_fft / 2; k++) {
        int64_t sr = 0;
        int64_t si = 0;
        uint32_t idx = 0;
        k1 = k & (a_total - 1);
        for (b = 0; b < stride; b++) {
            const int64_t yre = work->yr_re[b * a_total + k1];
            const int64_t yim = work->yr_im[b * a_total + k1];
            const int64_t cr = tables->twiddle_re[idx];
            const int64_t ci = tables->twiddle_im[idx];
            sr += yre * cr - yim * ci;
            si += yre * ci + yim * cr;
            idx = (idx + k) & mask;
        }
        {
            const int64_t xr = ef_rshift_rne(sr, EF_PASS2_SHIFT);
            const int64_t xi = ef_rshift_rne(si, EF_PASS2_SHIFT);
            work->power[k] = ef_rshift_rne(xr * xr + xi * xi, EF_POWER_SHIFT);
        }
    }
}
