/*
 * ep_protocol.c: the edgeser event protocol, version 1 (see ep_protocol.h and
 * firmware_bridge/PROTOCOL.md). C99, no allocation, byte-wise little-endian parsing.
 */
#include "ep_protocol.h"

uint16_t ep_crc16(uint16_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    unsigned bit;
    if (data == NULL) {
        return crc;
    }
    for (i = 0; i < len; i++) {
        crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)data[i] << 8));
        for (bit = 0; bit < 8u; bit++) {
            if (crc & 0x8000u) {
                crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return crc;
}

int ep_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t i;
    size_t code_at = 0; /* where the current block's code byte goes */
    size_t o = 1;       /* next output position */
    uint8_t code = 1;   /* 1 + bytes in the current block */
    if ((in == NULL && len > 0) || out == NULL || out_len == NULL || cap < 1u) {
        return EP_ERR_ARG;
    }
    for (i = 0; i < len; i++) {
        if (in[i] == 0u) {
            out[code_at] = code;
            code_at = o;
            code = 1;
            if (o >= cap) {
                return EP_ERR_SPACE;
            }
            o++;
            continue;
        }
        if (o >= cap) {
            return EP_ERR_SPACE;
        }
        out[o++] = in[i];
        code++;
        if (code == 0xFFu) {
            out[code_at] = code;
            code = 1;
            code_at = o;
            if (i + 1u == len) {
                /* a trailing run of exactly 254 bytes needs no final 0x01 block */
                *out_len = o;
                return EP_OK;
            }
            if (o >= cap) {
                return EP_ERR_SPACE;
            }
            o++;
        }
    }
    out[code_at] = code;
    *out_len = o;
    return EP_OK;
}

int ep_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t i = 0;
    size_t o = 0;
    size_t j;
    size_t end;
    uint8_t code;
    if (in == NULL || out == NULL || out_len == NULL) {
        return EP_ERR_ARG;
    }
    if (len == 0u) {
        return EP_ERR_COBS;
    }
    while (i < len) {
        code = in[i];
        if (code == 0u || (size_t)code > len - i) {
            return EP_ERR_COBS;
        }
        end = i + code;
        for (j = i + 1u; j < end; j++) {
            if (in[j] == 0u) {
                return EP_ERR_COBS;
            }
            if (o >= cap) {
                return EP_ERR_SPACE;
            }
            out[o++] = in[j];
        }
        i = end;
        if (i < len && code != 0xFFu) {
            if (o >= cap) {
                return EP_ERR_SPACE;
            }
            out[o++] = 0u;
        }
    }
    *out_len = o;
    return EP_OK;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* int8 <-> byte without implementation-defined conversions */
static uint8_t from_i8(int8_t v)
{
    return (uint8_t)(((int)v + 256) & 0xFF);
}

static int8_t to_i8(uint8_t b)
{
    return (int8_t)(b >= 128u ? (int)b - 256 : (int)b);
}

static void put_header(uint8_t *p, uint8_t type, uint32_t seq, uint32_t time_ms,
                       uint32_t model_id)
{
    p[0] = (uint8_t)EP_VERSION;
    p[1] = type;
    put_u32(p + 2, seq);
    put_u32(p + 6, time_ms);
    put_u32(p + 10, model_id);
}

int ep_encode_event(const ep_event *ev, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n;
    size_t k;
    if (ev == NULL || out == NULL || out_len == NULL) {
        return EP_ERR_ARG;
    }
    n = ev->num_classes;
    if (n < 1u || n > EP_MAX_CLASSES || ev->label >= n) {
        return EP_ERR_ARG;
    }
    if (cap < EP_EVENT_FIXED_SIZE + n) {
        return EP_ERR_SPACE;
    }
    put_header(out, (uint8_t)EP_TYPE_EVENT, ev->seq, ev->time_ms, ev->model_id);
    out[14] = ev->label;
    out[15] = ev->confidence;
    out[16] = from_i8(ev->arousal);
    out[17] = from_i8(ev->valence);
    out[18] = (uint8_t)n;
    for (k = 0; k < n; k++) {
        out[EP_EVENT_FIXED_SIZE + k] = ev->probs[k];
    }
    *out_len = EP_EVENT_FIXED_SIZE + n;
    return EP_OK;
}

int ep_encode_heartbeat(const ep_heartbeat *hb, uint8_t *out, size_t cap, size_t *out_len)
{
    if (hb == NULL || out == NULL || out_len == NULL) {
        return EP_ERR_ARG;
    }
    if (cap < EP_HEARTBEAT_SIZE) {
        return EP_ERR_SPACE;
    }
    put_header(out, (uint8_t)EP_TYPE_HEARTBEAT, hb->seq, hb->time_ms, hb->model_id);
    put_u32(out + 14, hb->dropped_audio);
    put_u32(out + 18, hb->dropped_events);
    out[22] = (uint8_t)(hb->flags & 0xFFu);
    out[23] = (uint8_t)((hb->flags >> 8) & 0xFFu);
    *out_len = EP_HEARTBEAT_SIZE;
    return EP_OK;
}

int ep_decode_payload(const uint8_t *p, size_t len, ep_record *out)
{
    size_t n;
    size_t k;
    if (p == NULL || out == NULL) {
        return EP_ERR_ARG;
    }
    if (len < EP_HEADER_SIZE) {
        return EP_ERR_LENGTH;
    }
    if (p[0] != EP_VERSION) {
        return EP_ERR_VERSION;
    }
    if (p[1] == EP_TYPE_HEARTBEAT) {
        if (len != EP_HEARTBEAT_SIZE) {
            return EP_ERR_LENGTH;
        }
        out->type = (uint8_t)EP_TYPE_HEARTBEAT;
        out->u.heartbeat.seq = get_u32(p + 2);
        out->u.heartbeat.time_ms = get_u32(p + 6);
        out->u.heartbeat.model_id = get_u32(p + 10);
        out->u.heartbeat.dropped_audio = get_u32(p + 14);
        out->u.heartbeat.dropped_events = get_u32(p + 18);
        out->u.heartbeat.flags = (uint16_t)((uint16_t)p[22] | (uint16_t)((uint16_t)p[23] << 8));
        return EP_OK;
    }
    if (p[1] != EP_TYPE_EVENT) {
        return EP_ERR_TYPE;
    }
    if (len < EP_EVENT_FIXED_SIZE) {
        return EP_ERR_LENGTH;
    }
    n = p[18];
    if (len != EP_EVENT_FIXED_SIZE + n) {
        return EP_ERR_LENGTH;
    }
    if (n < 1u || n > EP_MAX_CLASSES || p[14] >= n) {
        return EP_ERR_FIELD;
    }
    out->type = (uint8_t)EP_TYPE_EVENT;
    out->u.event.seq = get_u32(p + 2);
    out->u.event.time_ms = get_u32(p + 6);
    out->u.event.model_id = get_u32(p + 10);
    out->u.event.label = p[14];
    out->u.event.confidence = p[15];
    out->u.event.arousal = to_i8(p[16]);
    out->u.event.valence = to_i8(p[17]);
    out->u.event.num_classes = (uint8_t)n;
    for (k = 0; k < EP_MAX_CLASSES; k++) {
        out->u.event.probs[k] = k < n ? p[EP_EVENT_FIXED_SIZE + k] : 0u;
    }
    return EP_OK;
}

int ep_frame(const uint8_t *payload, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t raw[EP_MAX_PAYLOAD + EP_CRC_SIZE];
    uint16_t crc;
    size_t k;
    size_t n = 0;
    int rc;
    if ((payload == NULL && len > 0u) || out == NULL || out_len == NULL) {
        return EP_ERR_ARG;
    }
    if (len > EP_MAX_PAYLOAD) {
        return EP_ERR_OVERSIZE;
    }
    for (k = 0; k < len; k++) {
        raw[k] = payload[k];
    }
    crc = ep_crc16(0xFFFFu, raw, len);
    raw[len] = (uint8_t)(crc >> 8);
    raw[len + 1u] = (uint8_t)(crc & 0xFFu);
    rc = ep_cobs_encode(raw, len + EP_CRC_SIZE, out, cap, &n);
    if (rc != EP_OK) {
        return rc;
    }
    if (n >= cap) {
        return EP_ERR_SPACE;
    }
    out[n] = 0u;
    *out_len = n + 1u;
    return EP_OK;
}

int ep_unframe(const uint8_t *body, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    int rc;
    if (body == NULL || out == NULL || out_len == NULL) {
        return EP_ERR_ARG;
    }
    if (len > EP_MAX_FRAME) {
        return EP_ERR_OVERSIZE;
    }
    rc = ep_cobs_decode(body, len, out, cap, &n);
    if (rc != EP_OK) {
        return rc;
    }
    if (n < EP_CRC_SIZE) {
        return EP_ERR_LENGTH;
    }
    if (ep_crc16(0xFFFFu, out, n) != 0u) {
        return EP_ERR_CRC;
    }
    *out_len = n - EP_CRC_SIZE;
    return EP_OK;
}

void ep_decoder_init(ep_decoder *dec)
{
    size_t k;
    if (dec == NULL) {
        return;
    }
    for (k = 0; k < EP_MAX_FRAME; k++) {
        dec->buf[k] = 0u;
    }
    dec->len = 0u;
    dec->oversized = 0u;
    dec->last_error = EP_OK;
    dec->decoded = 0u;
    dec->dropped = 0u;
}

static int drop(ep_decoder *dec, int err)
{
    dec->dropped++;
    dec->last_error = err;
    return err;
}

int ep_decoder_push(ep_decoder *dec, uint8_t byte, ep_record *out)
{
    uint8_t raw[EP_MAX_FRAME];
    size_t n = 0;
    size_t len;
    int rc;
    if (dec == NULL || out == NULL) {
        return EP_ERR_ARG;
    }
    if (byte != 0u) {
        if (dec->oversized) {
            return EP_PUSH_NONE;
        }
        if (dec->len >= EP_MAX_FRAME) {
            dec->oversized = 1u;
            dec->len = 0u;
            return EP_PUSH_NONE;
        }
        dec->buf[dec->len++] = byte;
        return EP_PUSH_NONE;
    }
    /* a delimiter: the current frame is complete */
    len = dec->len;
    dec->len = 0u;
    if (dec->oversized) {
        dec->oversized = 0u;
        return drop(dec, EP_ERR_OVERSIZE);
    }
    if (len == 0u) {
        return EP_PUSH_NONE;
    }
    rc = ep_unframe(dec->buf, len, raw, sizeof raw, &n);
    if (rc == EP_OK) {
        rc = ep_decode_payload(raw, n, out);
    }
    if (rc != EP_OK) {
        return drop(dec, rc);
    }
    dec->decoded++;
    return EP_PUSH_RECORD;
}
