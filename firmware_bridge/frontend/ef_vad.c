/* Voice-activity gate and session mean (spec: edgeser/vad.py). */
#include "ef_vad.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q -= 1;
    }
    return q;
}

int64_t ef_div_round_half_even(int64_t a, int64_t b)
{
    const int64_t q = floor_div(a, b);
    const int64_t twice = 2 * (a - q * b);
    if (twice > b || (twice == b && (q & 1) != 0)) {
        return q + 1;
    }
    return q;
}

void ef_vad_init(ef_vad *vad, const ef_vad_config *config)
{
    vad->config = *config;
    ef_vad_reset(vad);
}

void ef_vad_reset(ef_vad *vad)
{
    vad->floor_q7 = 0;
    vad->has_floor = 0;
}

int ef_vad_frame(ef_vad *vad, const int16_t *frame, uint32_t num_bands)
{
    int64_t sum = 0;
    int32_t level;
    uint32_t b;
    for (b = 0; b < num_bands; b++) {
        sum += frame[b];
    }
    level = (int32_t)floor_div(sum, (int64_t)num_bands);
    if (!vad->has_floor || level < vad->floor_q7) {
        vad->floor_q7 = level;
        vad->has_floor = 1;
    } else {
        vad->floor_q7 += (level - vad->floor_q7) >> vad->config.rise_shift;
    }
    return level >= vad->config.absolute_q7 && level >= vad->floor_q7 + vad->config.margin_q7;
}

void ef_session_mean_init(ef_session_mean *mean, uint32_t num_bands)
{
    uint32_t b;
    mean->num_bands = num_bands;
    mean->count = 0;
    for (b = 0; b < EF_MAX_BANDS; b++) {
        mean->sum[b] = 0;
        mean->sum_squares[b] = 0;
    }
}

void ef_session_mean_add(ef_session_mean *mean, const int16_t *frame)
{
    uint32_t b;
    for (b = 0; b < mean->num_bands; b++) {
        mean->sum[b] += frame[b];
        mean->sum_squares[b] += (int64_t)frame[b] * frame[b];
    }
    mean->count += 1;
}

int ef_session_mean_get(const ef_session_mean *mean, int32_t *mean_q7)
{
    uint32_t b;
    if (mean->count == 0) {
        return 0;
    }
    for (b = 0; b < mean->num_bands; b++) {
        mean_q7[b] = (int32_t)ef_div_round_half_even(mean->sum[b], (int64_t)mean->count);
    }
    return 1;
}

uint32_t ef_isqrt64(uint64_t v)
{
    uint64_t root = 0, bit = (uint64_t)1 << 62;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)root;
}

int ef_session_std_get(const ef_session_mean *mean, int32_t *std_q7)
{
    uint32_t b;
    const int64_t n = (int64_t)mean->count;
    if (n == 0) {
        return 0;
    }
    for (b = 0; b < mean->num_bands; b++) {
        const int64_t m = ef_div_round_half_even(mean->sum[b], n);
        const int64_t spread = mean->sum_squares[b] - 2 * m * mean->sum[b] + n * m * m;
        std_q7[b] = (int32_t)ef_isqrt64((uint64_t)(spread / n));
    }
    return 1;
}
