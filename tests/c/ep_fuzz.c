/*
 * Fuzz driver for firmware_bridge/protocol/ep_protocol.c, meant to be built with
 * -fsanitize=address,undefined.
 *
 *   ep_fuzz FRAMES SEED [STREAM_FILE]
 *
 * Generates a byte stream of FRAMES segments with a splitmix64 generator seeded by SEED and
 * pushes it byte by byte through one ep_decoder. The stream starts mid-frame (the tail of an
 * intact frame); then every segment ends with a 0x00 delimiter and is one of:
 *
 *   intact      (50%) a random event or heartbeat, encoded and framed by the C encoder
 *   mutated     (30%) an intact frame with 1..4 bit flips / byte changes (may be 0x00) /
 *                     insertions / deletions / truncation (a result equal to the frame up to
 *                     added 0x00 delimiters around it counts as intact)
 *   random      (10%) a random payload (0..60 bytes, often version 1 and a known type) with a
 *                     correct CRC and COBS encoding: accepted exactly when it is well-formed
 *   garbage      (7%) 1..200 random bytes, 1 in 16 of them 0x00
 *   oversized    (3%) 65..400 non-zero random bytes
 *
 * and 1 in 20 segments is followed by extra delimiters (empty frames, ignored). It checks that
 * every intact frame comes out once, at its delimiter, with its exact contents, and counts
 * records that came out of corrupted segments (false accepts: CRC collisions). It also round
 * trips random buffers (long zero-free runs included) through ep_cobs_encode/decode with
 * exact-size heap buffers and random capacities. Prints one JSON object; with STREAM_FILE it
 * writes the stream there, so the Python decoder can be run on the same bytes (the "hash" is
 * FNV-1a 64 of the re-encoded payloads of all decoded records, in order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_protocol.h"

#define SEG_MAX 512u

static uint64_t rng_state;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(next_u64() % n);
}

static uint8_t byte_nonzero(void)
{
    return (uint8_t)(1u + below(255u));
}

static uint64_t fnv;

static void fnv_bytes(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        fnv ^= p[i];
        fnv *= 0x100000001B3ull;
    }
}

enum { K_INTACT, K_MUTATED, K_RANDOM, K_GARBAGE, K_OVERSIZED, K_PARTIAL, K_COUNT };

static unsigned long kind_count[K_COUNT];

/* A random valid record's payload. */
static size_t random_payload(uint8_t *payload)
{
    size_t len = 0;
    uint32_t k;
    if (below(4u) != 0u) {
        ep_event e;
        memset(&e, 0, sizeof e);
        e.seq = (uint32_t)next_u64();
        e.time_ms = (uint32_t)next_u64();
        e.model_id = (uint32_t)next_u64();
        e.num_classes = (uint8_t)(1u + below(EP_MAX_CLASSES));
        e.label = (uint8_t)below(e.num_classes);
        e.confidence = (uint8_t)below(256u);
        e.arousal = (int8_t)((int)below(256u) - 128);
        e.valence = (int8_t)((int)below(256u) - 128);
        for (k = 0; k < e.num_classes; k++) {
            e.probs[k] = below(3u) == 0u ? 0u : (uint8_t)below(256u);
        }
        if (ep_encode_event(&e, payload, EP_MAX_PAYLOAD, &len) != EP_OK) {
            abort();
        }
    } else {
        ep_heartbeat h;
        h.seq = (uint32_t)next_u64();
        h.time_ms = (uint32_t)next_u64();
        h.model_id = (uint32_t)next_u64();
        h.dropped_audio = below(2u) ? 0u : (uint32_t)next_u64();
        h.dropped_events = below(2u) ? 0u : (uint32_t)next_u64();
        h.flags = (uint16_t)below(65536u);
        if (ep_encode_heartbeat(&h, payload, EP_MAX_PAYLOAD, &len) != EP_OK) {
            abort();
        }
    }
    return len;
}

/* One mutation of seg[0..*len) (no delimiter), within SEG_MAX. */
static void mutate(uint8_t *seg, size_t *len)
{
    size_t n = *len;
    size_t at;
    size_t i;
    uint32_t op = below(5u);
    if (n == 0u) {
        op = 2u;
    }
    at = n ? below((uint32_t)n) : 0u;
    switch (op) {
    case 0: /* flip one bit */
        seg[at] ^= (uint8_t)(1u << below(8u));
        break;
    case 1: /* change one byte (1 in 8: to 0x00, splitting the frame) */
        seg[at] = below(8u) == 0u ? 0u : (uint8_t)(seg[at] ^ byte_nonzero());
        break;
    case 2: /* insert a byte */
        if (n + 1u < SEG_MAX) {
            at = below((uint32_t)n + 1u);
            for (i = n; i > at; i--) {
                seg[i] = seg[i - 1u];
            }
            seg[at] = below(16u) == 0u ? 0u : byte_nonzero();
            *len = n + 1u;
        }
        break;
    case 3: /* delete a byte */
        for (i = at; i + 1u < n; i++) {
            seg[i] = seg[i + 1u];
        }
        *len = n - 1u;
        break;
    default: /* truncate */
        *len = at;
        break;
    }
}

/* seg[0..len) equals frame[0..flen) once leading and trailing 0x00 are stripped (a
 * mutation that only added delimiters around a frame leaves it intact). */
static int same_up_to_delimiters(const uint8_t *seg, size_t len, const uint8_t *frame,
                                 size_t flen)
{
    size_t start = 0;
    while (start < len && seg[start] == 0u) {
        start++;
    }
    while (len > start && seg[len - 1u] == 0u) {
        len--;
    }
    return len - start == flen && memcmp(seg + start, frame, flen) == 0;
}

/* COBS round trip of a random buffer through exact-size heap buffers. */
static int cobs_roundtrip(void)
{
    size_t n = below(4u) == 0u ? 250u + below(520u) : below(64u);
    uint32_t zero_odds = 1u + below(400u);
    uint8_t *data = (uint8_t *)malloc(n + 1u);
    size_t cap_enc = n + n / 254u + 1u;
    size_t cap;
    uint8_t *enc;
    uint8_t *dec;
    size_t enc_len = 0;
    size_t dec_len = 0;
    size_t i;
    int ok = 1;
    if (data == NULL) {
        abort();
    }
    for (i = 0; i < n; i++) {
        data[i] = below(zero_odds) == 0u ? 0u : byte_nonzero();
    }
    /* too small a capacity must fail cleanly, never write past it */
    cap = 1u + below((uint32_t)cap_enc);
    enc = (uint8_t *)malloc(cap);
    if (enc == NULL) {
        abort();
    }
    if (ep_cobs_encode(data, n, enc, cap, &enc_len) == EP_OK && enc_len > cap) {
        ok = 0;
    }
    free(enc);
    enc = (uint8_t *)malloc(cap_enc);
    dec = (uint8_t *)malloc(n + 1u);
    if (enc == NULL || dec == NULL) {
        abort();
    }
    if (ep_cobs_encode(data, n, enc, cap_enc, &enc_len) != EP_OK) {
        ok = 0;
    } else {
        for (i = 0; i < enc_len; i++) {
            if (enc[i] == 0u) {
                ok = 0;
            }
        }
        if (ep_cobs_decode(enc, enc_len, dec, n, &dec_len) != EP_OK || dec_len != n ||
            (n > 0u && memcmp(dec, data, n) != 0)) {
            ok = 0;
        }
        if (n > 0u && ep_cobs_decode(enc, enc_len, dec, n - 1u, &dec_len) != EP_ERR_SPACE) {
            ok = 0;
        }
    }
    free(data);
    free(enc);
    free(dec);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned long frames;
    unsigned long f;
    unsigned long recovered = 0, lost_intact = 0, mismatched = 0, false_accepts = 0;
    unsigned long random_accepted = 0, cobs_ok = 0, cobs_bad = 0, empty = 0;
    unsigned long long bytes = 0;
    FILE *stream = NULL;
    ep_decoder dec;
    ep_record rec;
    static uint8_t seg[SEG_MAX + 4u];
    uint8_t payload[EP_MAX_FRAME + 8u];
    uint8_t check[EP_MAX_FRAME + 8u];
    uint8_t wire[128];
    size_t seg_len, plen, wlen, clen, i;
    if (argc < 3) {
        fprintf(stderr, "usage: ep_fuzz FRAMES SEED [STREAM_FILE]\n");
        return 2;
    }
    frames = strtoul(argv[1], NULL, 10);
    rng_state = strtoull(argv[2], NULL, 10);
    if (argc > 3) {
        stream = fopen(argv[3], "wb");
        if (stream == NULL) {
            perror(argv[3]);
            return 2;
        }
    }
    fnv = 0xCBF29CE484222325ull;
    ep_decoder_init(&dec);
    for (f = 0; f < frames; f++) {
        uint32_t roll = below(100u);
        int kind;
        unsigned long outputs = 0;
        int last_was_record = 0;
        int content_ok = 0;
        plen = 0;
        wlen = 0;
        if (f == 0u) {
            kind = K_PARTIAL;
        } else if (roll < 50u) {
            kind = K_INTACT;
        } else if (roll < 80u) {
            kind = K_MUTATED;
        } else if (roll < 90u) {
            kind = K_RANDOM;
        } else if (roll < 97u) {
            kind = K_GARBAGE;
        } else {
            kind = K_OVERSIZED;
        }
        if (kind == K_INTACT || kind == K_MUTATED || kind == K_PARTIAL) {
            plen = random_payload(payload);
            if (ep_frame(payload, plen, wire, sizeof wire, &wlen) != EP_OK) {
                abort();
            }
            seg_len = wlen - 1u; /* without the delimiter */
            memcpy(seg, wire, seg_len);
            if (kind == K_MUTATED) {
                uint32_t m = 1u + below(4u);
                while (m-- > 0u) {
                    mutate(seg, &seg_len);
                }
                if (same_up_to_delimiters(seg, seg_len, wire, wlen - 1u)) {
                    kind = K_INTACT;
                }
            } else if (kind == K_PARTIAL) {
                size_t skip = 1u + below((uint32_t)seg_len - 1u);
                memmove(seg, seg + skip, seg_len - skip);
                seg_len -= skip;
            }
        } else if (kind == K_RANDOM) {
            uint8_t raw[64];
            uint16_t crc;
            plen = below(61u);
            for (i = 0; i < plen; i++) {
                payload[i] = (uint8_t)below(256u);
            }
            if (plen >= 2u && below(4u) != 0u) {
                payload[0] = (uint8_t)EP_VERSION;
            }
            if (plen >= 2u && below(4u) != 0u) {
                payload[1] = (uint8_t)(1u + below(2u));
            }
            if (plen >= EP_EVENT_FIXED_SIZE && below(2u) != 0u) {
                payload[18] = (uint8_t)(plen - EP_EVENT_FIXED_SIZE);
                payload[14] = (uint8_t)below(40u);
            }
            memcpy(raw, payload, plen);
            crc = ep_crc16(0xFFFFu, raw, plen);
            raw[plen] = (uint8_t)(crc >> 8);
            raw[plen + 1u] = (uint8_t)(crc & 0xFFu);
            if (ep_cobs_encode(raw, plen + 2u, seg, SEG_MAX, &seg_len) != EP_OK) {
                abort();
            }
        } else if (kind == K_GARBAGE) {
            seg_len = 1u + below(200u);
            for (i = 0; i < seg_len; i++) {
                seg[i] = below(16u) == 0u ? 0u : (uint8_t)below(256u);
            }
        } else {
            seg_len = EP_MAX_FRAME + 1u + below(336u);
            for (i = 0; i < seg_len; i++) {
                seg[i] = byte_nonzero();
            }
        }
        seg[seg_len++] = 0u;
        if (below(20u) == 0u) {
            uint32_t extra = 1u + below(3u);
            while (extra-- > 0u) {
                seg[seg_len++] = 0u;
                empty++;
            }
        }
        kind_count[kind]++;
        if (stream != NULL) {
            fwrite(seg, 1, seg_len, stream);
        }
        bytes += seg_len;
        for (i = 0; i < seg_len; i++) {
            int rc = ep_decoder_push(&dec, seg[i], &rec);
            if (rc != EP_PUSH_RECORD) {
                continue;
            }
            outputs++;
            if (rec.type == EP_TYPE_EVENT) {
                if (ep_encode_event(&rec.u.event, check, sizeof check, &clen) != EP_OK) {
                    abort();
                }
            } else if (ep_encode_heartbeat(&rec.u.heartbeat, check, sizeof check, &clen) !=
                       EP_OK) {
                abort();
            }
            fnv_bytes(check, clen);
            last_was_record = 1;
            content_ok = clen == plen && memcmp(check, payload, plen) == 0;
            if (kind == K_INTACT && !(seg[i] == 0u && content_ok)) {
                mismatched++;
            }
        }
        if (kind == K_INTACT) {
            if (outputs == 1u && last_was_record && content_ok) {
                recovered++;
            } else if (outputs == 0u) {
                lost_intact++;
            } else {
                mismatched++;
            }
        } else if (kind == K_RANDOM) {
            random_accepted += outputs;
            if (outputs > 1u || (outputs == 1u && !content_ok)) {
                mismatched++;
            }
        } else {
            false_accepts += outputs;
        }
        if (cobs_roundtrip()) {
            cobs_ok++;
        } else {
            cobs_bad++;
        }
    }
    if (stream != NULL) {
        fclose(stream);
    }
    printf("{\"frames\": %lu, \"bytes\": %llu, \"intact\": %lu, \"mutated\": %lu, "
           "\"random\": %lu, \"garbage\": %lu, \"oversized\": %lu, \"partial\": %lu, "
           "\"empty\": %lu, \"recovered\": %lu, \"lost_intact\": %lu, \"mismatched\": %lu, "
           "\"false_accepts\": %lu, \"random_accepted\": %lu, \"decoded\": %lu, "
           "\"dropped\": %lu, \"cobs_roundtrips\": %lu, \"cobs_failures\": %lu, "
           "\"hash\": \"%016llx\"}\n",
           frames, bytes, kind_count[K_INTACT], kind_count[K_MUTATED], kind_count[K_RANDOM],
           kind_count[K_GARBAGE], kind_count[K_OVERSIZED], kind_count[K_PARTIAL], empty,
           recovered, lost_intact, mismatched, false_accepts, random_accepted,
           (unsigned long)dec.decoded, (unsigned long)dec.dropped, cobs_ok, cobs_bad,
           (unsigned long long)fnv);
    return (lost_intact == 0u && mismatched == 0u && cobs_bad == 0u) ? 0 : 1;
}
