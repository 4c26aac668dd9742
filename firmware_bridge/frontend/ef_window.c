/* Window stage (spec version 1): see edgeser/frontend/window.py for the specification. */
#include "ef_window.h"

#include "ef_fixed.h"

#define EF_WINDOW_BITS 15
#define EF_MAX_SHIFT 14

int ef_window_process(const ef_config *config, const ef_tables *tables, const int16_t *frame,
                      int16_t *x_w)
{
    uint32_t n;
    int32_t peak = 0;
    int shift = 0;
    for (n = 0; n < config->window_samples; n++) {
        int32_t magnitude = frame[n] < 0 ? -(int32_t)frame[n] : (int32_t)frame[n];
        if (magnitude > peak) {
            peak = magnitude;
        }
    }
    if (peak > 0) {
        shift = EF_MAX_SHIFT - ef_msb64((uint64_t)peak);
        if (shift < 0) {
            shift = 0;
        }
    }
    for (n = 0; n < config->window_samples; n++) {
        int64_t product = (int64_t)frame[n] * tables->window_q15[n];
        x_w[n] = (int16_t)ef_rshift_rne(product, EF_WINDOW_BITS - shift);
    }
    return shift;
}
