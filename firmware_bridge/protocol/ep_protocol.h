/*
 * ep_protocol: the edgeser event protocol, version 1, for controller firmware (C99).
 *
 * Emotion events and heartbeats from edgeser arrive as frames on a byte stream (UART, USB
 * CDC, a UDP datagram holds one frame). A frame is COBS(payload + CRC) followed by one 0x00
 * delimiter; the CRC is CRC-16/CCITT-FALSE of the payload, high byte first. The payload
 * layout (little-endian, fixed) is documented byte for byte in firmware_bridge/PROTOCOL.md.
 *
 * No dynamic allocation, no libc beyond <stddef.h>/<stdint.h>, fixed-size buffers, loops
 * bounded by EP_MAX_FRAME or the caller's lengths, byte-wise parsing (independent of the
 * host's endianness and alignment).
 *
 *     static ep_decoder dec;
 *     ep_record rec;
 *     ep_decoder_init(&dec);
 *     for each received byte b:
 *         if (ep_decoder_push(&dec, b, &rec) == EP_PUSH_RECORD) handle(&rec);
 *     // dec.decoded, dec.dropped count good and rejected frames.
 */
#ifndef EP_PROTOCOL_H
#define EP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define EP_VERSION 1u
#define EP_TYPE_EVENT 1u
#define EP_TYPE_HEARTBEAT 2u

#define EP_MAX_CLASSES 32u
#define EP_HEADER_SIZE 14u      /* version, type, seq, time_ms, model_id */
#define EP_EVENT_FIXED_SIZE 19u /* header + label, confidence, arousal, valence, N */
#define EP_HEARTBEAT_SIZE 24u   /* header + dropped_audio, dropped_events, flags */
#define EP_MAX_PAYLOAD (EP_EVENT_FIXED_SIZE + EP_MAX_CLASSES) /* 51 */
#define EP_CRC_SIZE 2u
#define EP_MAX_FRAME 64u                /* encoded bytes before the delimiter */
#define EP_MAX_WIRE (EP_MAX_FRAME + 1u) /* a whole frame with its 0x00 delimiter */

#define EP_AV_NONE (-128) /* arousal / valence not available */

/* Heartbeat status flags; undefined bits are sent as 0 and must be ignored. */
#define EP_FLAG_AUDIO_RUNNING 0x0001u
#define EP_FLAG_MODEL_LOADED 0x0002u
#define EP_FLAG_AUDIO_OVERRUN 0x0004u
#define EP_FLAG_SENDER_DROPS 0x0008u

/* Status codes: EP_OK or a negative error. */
#define EP_OK 0
#define EP_ERR_ARG (-1)      /* bad argument (NULL, N outside 1..32, label >= N) */
#define EP_ERR_SPACE (-2)    /* output buffer too small */
#define EP_ERR_OVERSIZE (-3) /* frame longer than EP_MAX_FRAME */
#define EP_ERR_COBS (-4)     /* bad COBS encoding */
#define EP_ERR_LENGTH (-5)   /* payload length wrong for its type */
#define EP_ERR_CRC (-6)      /* CRC mismatch */
#define EP_ERR_VERSION (-7)  /* protocol version other than EP_VERSION */
#define EP_ERR_TYPE (-8)     /* unknown message type */
#define EP_ERR_FIELD (-9)    /* N outside 1..32 or label >= N */

/* ep_decoder_push results: a record, nothing yet, or (negative EP_ERR_*) a dropped frame. */
#define EP_PUSH_NONE 0
#define EP_PUSH_RECORD 1

typedef struct {
    uint32_t seq;        /* sequence number, wraps */
    uint32_t time_ms;    /* stream time, milliseconds, wraps */
    uint32_t model_id;   /* first 4 bytes of the model's sha256, big-endian value */
    uint8_t label;       /* class index < num_classes */
    uint8_t confidence;  /* 0..255 = 0..1 */
    int8_t arousal;      /* -127..127 = -1..1, EP_AV_NONE if absent */
    int8_t valence;      /* -127..127 = -1..1, EP_AV_NONE if absent */
    uint8_t num_classes; /* 1..EP_MAX_CLASSES */
    uint8_t probs[EP_MAX_CLASSES]; /* 0..255 = 0..1; entries >= num_classes are 0 */
} ep_event;

typedef struct {
    uint32_t seq;
    uint32_t time_ms;
    uint32_t model_id;
    uint32_t dropped_audio;  /* audio chunks dropped since start, wraps */
    uint32_t dropped_events; /* records dropped by the sender since start, wraps */
    uint16_t flags;          /* EP_FLAG_* */
} ep_heartbeat;

typedef struct {
    uint8_t type; /* EP_TYPE_EVENT or EP_TYPE_HEARTBEAT */
    union {
        ep_event event;
        ep_heartbeat heartbeat;
    } u;
} ep_record;

typedef struct {
    uint8_t buf[EP_MAX_FRAME]; /* the current frame's encoded bytes */
    uint8_t len;               /* bytes in buf */
    uint8_t oversized;         /* the current frame overflowed buf */
    int last_error;            /* EP_ERR_* of the last dropped frame, EP_OK if none */
    uint32_t decoded;          /* records returned (wraps) */
    uint32_t dropped;          /* frames rejected (wraps) */
} ep_decoder;

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, xorout 0): "123456789" ->
 * 0x29B1. Pass 0xFFFF as crc to start, or a previous result to continue. */
uint16_t ep_crc16(uint16_t crc, const uint8_t *data, size_t len);

/* COBS encode len bytes into out (capacity cap): *out_len <= len + len / 254 + 1. */
int ep_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* COBS decode (input without the delimiter); EP_ERR_COBS on a 0x00, an empty input or a
 * block running past the end; EP_ERR_SPACE if out is too small. */
int ep_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Payload of a record: 19 + N bytes (event) or 24 bytes (heartbeat). */
int ep_encode_event(const ep_event *ev, uint8_t *out, size_t cap, size_t *out_len);
int ep_encode_heartbeat(const ep_heartbeat *hb, uint8_t *out, size_t cap, size_t *out_len);

/* Parse a payload (without CRC); out is written only when EP_OK is returned. */
int ep_decode_payload(const uint8_t *payload, size_t len, ep_record *out);

/* COBS(payload + CRC high byte, low byte) + 0x00 into out; cap >= EP_MAX_WIRE always
 * suffices for a payload of at most EP_MAX_PAYLOAD bytes. */
int ep_frame(const uint8_t *payload, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* The payload of one frame's encoded bytes (without the delimiter): size, COBS and CRC
 * checked. */
int ep_unframe(const uint8_t *body, size_t len, uint8_t *out, size_t cap, size_t *out_len);

void ep_decoder_init(ep_decoder *dec);

/* Feed one received byte. Returns EP_PUSH_RECORD when this byte (a 0x00 delimiter)
 * completed a valid frame (*out holds it), EP_PUSH_NONE when nothing completed (or only
 * an empty frame), and a negative EP_ERR_* when it completed a frame that was dropped
 * (dec->dropped was incremented). *out is written only on EP_PUSH_RECORD. */
int ep_decoder_push(ep_decoder *dec, uint8_t byte, ep_record *out);

#endif /* EP_PROTOCOL_H */
