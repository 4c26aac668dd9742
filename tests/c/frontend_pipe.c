/*
 * Test driver for the C reference frontend: int16 PCM on stdin -> int16 frames on stdout,
 * streamed through ef_frontend_push in chunks of the size given as argv[1] (default 160).
 * Built by the tests with -std=c99 -Wall -Wextra -Werror and, where available,
 * -fsanitize=address,undefined. Uses the generated tables ef_default_tables.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ef_default_tables.h"
#include "ef_frontend.h"

#define MAX_CHUNK 4096

static ef_frontend fe;
static int16_t chunk[MAX_CHUNK];
static int16_t frames[(MAX_CHUNK / 1 + EF_MAX_FFT) * (EF_MAX_BANDS + EF_MAX_PERIODICITY_BANDS)];

int main(int argc, char **argv)
{
    size_t chunk_size = 160;
    size_t got;
    if (argc > 1) {
        chunk_size = (size_t)strtoul(argv[1], NULL, 10);
        if (chunk_size < 1 || chunk_size > MAX_CHUNK) {
            fprintf(stderr, "chunk size must be 1..%d\n", MAX_CHUNK);
            return 2;
        }
    }
    if (ef_frontend_init(&fe, &ef_default_config, &ef_default_tables) != EF_OK) {
        fprintf(stderr, "config rejected\n");
        return 2;
    }
    while ((got = fread(chunk, sizeof(int16_t), chunk_size, stdin)) > 0) {
        const size_t due = ef_frontend_frames_due(&fe, got);
        const int32_t n = ef_frontend_push(&fe, chunk, got, frames, due);
        if (n < 0 || (size_t)n != due) {
            fprintf(stderr, "push failed: %ld\n", (long)n);
            return 1;
        }
        if (fwrite(frames, sizeof(int16_t) * EF_NUM_FEATURES(&ef_default_config), (size_t)n,
                   stdout) != (size_t)n) {
            return 1;
        }
    }
    return 0;
}
