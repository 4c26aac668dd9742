/* Frontend driver: config check, framing and streaming over the four stages. */
#include "ef_frontend.h"

#include "ef_filterbank.h"
#include "ef_log_scale.h"
#include "ef_periodicity.h"
#include "ef_spectrum.h"
#include "ef_window.h"

int ef_config_check(const ef_config *config)
{
    const uint32_t n = config->fft_size;
    const uint32_t a = config->first_pass_size;
    if (n < 64 || n > EF_MAX_FFT || (n & (n - 1)) != 0) {
        return EF_ERR_CONFIG;
    }
    if (a != 32 || n % a != 0) {
        return EF_ERR_CONFIG;
    }
    if (config->window_samples < 2 || config->window_samples > n) {
        return EF_ERR_CONFIG;
    }
    if (config->hop_samples < 1 || config->hop_samples > config->window_samples) {
        return EF_ERR_CONFIG;
    }
    if (config->num_bands < 1 || config->num_bands > EF_MAX_BANDS) {
        return EF_ERR_CONFIG;
    }
    if (config->periodicity_bands > EF_MAX_PERIODICITY_BANDS) {
        return EF_ERR_CONFIG;
    }
    return EF_OK;
}

int ef_frontend_init(ef_frontend *fe, const ef_config *config, const ef_tables *tables)
{
    if (ef_config_check(config) != EF_OK) {
        return EF_ERR_CONFIG;
    }
    if (config->periodicity_bands > 0
        && (tables->periodicity_cos_q9 == NULL || tables->periodicity_lag_edges == NULL
            || tables->periodicity_num_bins == 0
            || tables->periodicity_first_bin + tables->periodicity_num_bins
                   > config->fft_size / 2 + 1)) {
        return EF_ERR_CONFIG;
    }
    fe->config = *config;
    fe->tables = tables;
    ef_frontend_reset(fe);
    return EF_OK;
}

void ef_frontend_reset(ef_frontend *fe)
{
    fe->pending_count = 0;
    fe->frames_emitted = 0;
}

void ef_frontend_frame(ef_frontend *fe, const int16_t *frame, int16_t *out)
{
    const int shift = ef_window_process(&fe->config, fe->tables, frame, fe->work.x_w);
    ef_spectrum_process(&fe->config, fe->tables, &fe->work);
    ef_filterbank_process(&fe->config, fe->tables, &fe->work);
    ef_log_scale_process(&fe->config, fe->tables, &fe->work, shift, out);
    if (fe->config.periodicity_bands > 0) {
        ef_periodicity_process(&fe->config, fe->tables, &fe->work, out + fe->config.num_bands);
    }
}

size_t ef_frontend_frames_due(const ef_frontend *fe, size_t n)
{
    const size_t total = (size_t)fe->pending_count + n;
    if (total < fe->config.window_samples) {
        return 0;
    }
    return 1 + (total - fe->config.window_samples) / fe->config.hop_samples;
}

int32_t ef_frontend_push(ef_frontend *fe, const int16_t *samples, size_t n, int16_t *out,
                         size_t max_frames)
{
    const uint32_t window = fe->config.window_samples;
    const uint32_t hop = fe->config.hop_samples;
    const uint32_t bands = EF_NUM_FEATURES(&fe->config);
    int32_t written = 0;
    size_t used = 0;
    if (ef_frontend_frames_due(fe, n) > max_frames) {
        return EF_ERR_CAPACITY;
    }
    while (used < n) {
        /* Fill the pending frame buffer up to one window. */
        size_t take = window - fe->pending_count;
        size_t i;
        if (take > n - used) {
            take = n - used;
        }
        for (i = 0; i < take; i++) {
            fe->pending[fe->pending_count + i] = samples[used + i];
        }
        fe->pending_count += (uint32_t)take;
        used += take;
        if (fe->pending_count < window) {
            break;
        }
        ef_frontend_frame(fe, fe->pending, out + (size_t)written * bands);
        written++;
        fe->frames_emitted++;
        /* Keep the (window - hop) samples that the next frame shares. */
        for (i = 0; i < window - hop; i++) {
            fe->pending[i] = fe->pending[i + hop];
        }
        fe->pending_count = window - hop;
    }
    return written;
}

size_t ef_frontend_compute(ef_frontend *fe, const int16_t *samples, size_t n, int16_t *out,
                           size_t max_frames)
{
    const uint32_t window = fe->config.window_samples;
    const uint32_t hop = fe->config.hop_samples;
    size_t t = 0;
    while (t < max_frames && t * hop + window <= n) {
        ef_frontend_frame(fe, samples + t * hop, out + t * EF_NUM_FEATURES(&fe->config));
        t++;
    }
    return t;
}

size_t ef_frontend_state_size(void)
{
    return sizeof(ef_frontend);
}
