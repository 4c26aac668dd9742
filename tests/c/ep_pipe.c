/*
 * Test driver for firmware_bridge/protocol/ep_protocol.c. One mode per run:
 *
 *   ep_pipe crc      stdin bytes -> "xxxx\n", their CRC-16/CCITT-FALSE in hex
 *   ep_pipe cobs     stdin bytes -> COBS-encoded bytes on stdout (no delimiter)
 *   ep_pipe uncobs   stdin bytes -> COBS-decoded bytes on stdout; exit 3 if invalid
 *   ep_pipe encode   text records on stdin -> frames on stdout
 *   ep_pipe decode   a byte stream on stdin -> text records on stdout, pushed byte by byte
 *                    through ep_decoder_push, then "# decoded D dropped X"
 *
 * Text records, one per line, decimal fields:
 *   E seq time_ms model_id label confidence arousal valence n p0 ... p(n-1)
 *   H seq time_ms model_id dropped_audio dropped_events flags
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_protocol.h"

#define MAX_IN (1u << 20)

static uint8_t in_buf[MAX_IN];
static uint8_t out_buf[MAX_IN + MAX_IN / 254u + 16u];

static size_t read_all(void)
{
    size_t n = fread(in_buf, 1, MAX_IN, stdin);
    return n;
}

static void print_record(const ep_record *r)
{
    unsigned k;
    if (r->type == EP_TYPE_EVENT) {
        const ep_event *e = &r->u.event;
        printf("E %lu %lu %lu %u %u %d %d %u", (unsigned long)e->seq, (unsigned long)e->time_ms,
               (unsigned long)e->model_id, (unsigned)e->label, (unsigned)e->confidence,
               (int)e->arousal, (int)e->valence, (unsigned)e->num_classes);
        for (k = 0; k < e->num_classes; k++) {
            printf(" %u", (unsigned)e->probs[k]);
        }
        printf("\n");
    } else {
        const ep_heartbeat *h = &r->u.heartbeat;
        printf("H %lu %lu %lu %lu %lu %u\n", (unsigned long)h->seq, (unsigned long)h->time_ms,
               (unsigned long)h->model_id, (unsigned long)h->dropped_audio,
               (unsigned long)h->dropped_events, (unsigned)h->flags);
    }
}

static int encode_line(char *line)
{
    long long v[8 + EP_MAX_CLASSES];
    char *tok = strtok(line, " \t\r\n");
    char kind;
    size_t count = 0;
    uint8_t payload[EP_MAX_PAYLOAD];
    uint8_t wire[EP_MAX_WIRE];
    size_t plen = 0;
    size_t wlen = 0;
    size_t k;
    int rc;
    if (tok == NULL) {
        return 0;
    }
    kind = tok[0];
    while ((tok = strtok(NULL, " \t\r\n")) != NULL && count < sizeof v / sizeof v[0]) {
        v[count++] = strtoll(tok, NULL, 10);
    }
    if (kind == 'E') {
        ep_event e;
        memset(&e, 0, sizeof e);
        if (count < 8 || v[7] < 0 || v[7] > (long long)EP_MAX_CLASSES ||
            count != 8u + (size_t)v[7]) {
            return 2;
        }
        e.seq = (uint32_t)v[0];
        e.time_ms = (uint32_t)v[1];
        e.model_id = (uint32_t)v[2];
        e.label = (uint8_t)v[3];
        e.confidence = (uint8_t)v[4];
        e.arousal = (int8_t)v[5];
        e.valence = (int8_t)v[6];
        e.num_classes = (uint8_t)v[7];
        for (k = 0; k < e.num_classes; k++) {
            e.probs[k] = (uint8_t)v[8 + k];
        }
        rc = ep_encode_event(&e, payload, sizeof payload, &plen);
    } else if (kind == 'H') {
        ep_heartbeat h;
        if (count != 6) {
            return 2;
        }
        h.seq = (uint32_t)v[0];
        h.time_ms = (uint32_t)v[1];
        h.model_id = (uint32_t)v[2];
        h.dropped_audio = (uint32_t)v[3];
        h.dropped_events = (uint32_t)v[4];
        h.flags = (uint16_t)v[5];
        rc = ep_encode_heartbeat(&h, payload, sizeof payload, &plen);
    } else {
        return 2;
    }
    if (rc != EP_OK) {
        return 4;
    }
    if (ep_frame(payload, plen, wire, sizeof wire, &wlen) != EP_OK) {
        return 4;
    }
    fwrite(wire, 1, wlen, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    size_t n;
    size_t out_len = 0;
    size_t i;
    if (strcmp(mode, "crc") == 0) {
        n = read_all();
        printf("%04x\n", (unsigned)ep_crc16(0xFFFFu, in_buf, n));
        return 0;
    }
    if (strcmp(mode, "cobs") == 0 || strcmp(mode, "uncobs") == 0) {
        int rc;
        n = read_all();
        if (mode[0] == 'c') {
            rc = ep_cobs_encode(in_buf, n, out_buf, sizeof out_buf, &out_len);
        } else {
            rc = ep_cobs_decode(in_buf, n, out_buf, sizeof out_buf, &out_len);
        }
        if (rc != EP_OK) {
            return 3;
        }
        fwrite(out_buf, 1, out_len, stdout);
        return 0;
    }
    if (strcmp(mode, "encode") == 0) {
        static char line[4096];
        while (fgets(line, sizeof line, stdin) != NULL) {
            int rc = encode_line(line);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (strcmp(mode, "decode") == 0) {
        ep_decoder dec;
        ep_record rec;
        ep_decoder_init(&dec);
        n = read_all();
        for (i = 0; i < n; i++) {
            if (ep_decoder_push(&dec, in_buf[i], &rec) == EP_PUSH_RECORD) {
                print_record(&rec);
            }
        }
        printf("# decoded %lu dropped %lu\n", (unsigned long)dec.decoded,
               (unsigned long)dec.dropped);
        return 0;
    }
    fprintf(stderr, "usage: ep_pipe crc|cobs|uncobs|encode|decode\n");
    return 2;
}
