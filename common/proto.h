/* proto.h: runwire wire protocol v1, a pure codec (no I/O).
 *
 * Both links (agent <-> control, viewer <-> control) carry the same frames, one or more per
 * WebSocket binary message. Every frame is an 8-byte header and a body:
 *
 *    0      1      2      3      4      5      6      7
 *   +------+------+------+------+------+------+------+------+
 *   | 'R'  | 'W'  | ver  | type |   body length, u32 BE     |
 *   +------+------+------+------+------+------+------+------+
 *   | body (type-specific, see docs/protocol.md) ...
 *
 * The reader is fed bytes in any split (byte by byte works) and hands out whole frames;
 * data pointers in a returned frame are borrowed until the next proto_reader_* call.
 * Every cap is named below and enforced before anything is buffered.
 */
#ifndef RW_PROTO_H
#define RW_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTO_VERSION 1
#define PROTO_MAGIC0 'R'
#define PROTO_MAGIC1 'W'
#define PROTO_HEADER_LEN 8
#define PROTO_MAX_BODY (1u << 20)                  /* largest body of any frame */
#define PROTO_MAX_DATA (PROTO_MAX_BODY - 8)        /* output bytes in one OUTPUT frame */
#define PROTO_MAX_INPUT (64u << 10)                /* input bytes in one INPUT frame */
#define PROTO_MAX_JSON (64u << 10)                 /* body of HELLO / ASSIGN / EVENT */
#define PROTO_MAX_ERROR_MSG 1024                   /* message bytes in one ERROR frame */
#define PROTO_MAX_DIM 4096                         /* largest cols or rows in RESIZE */
#define PROTO_SHA256_LEN 32
/* Unconsumed bytes a reader holds at most: callers drain frames between feeds. */
#define PROTO_READER_MAX_BUF (2 * (PROTO_HEADER_LEN + PROTO_MAX_BODY))

/* Fixed encoded sizes, for callers that encode in place (e.g. after LWS_PRE). */
#define PROTO_OUTPUT_PREFIX_LEN (PROTO_HEADER_LEN + 8)
#define PROTO_ACK_LEN (PROTO_HEADER_LEN + 8)
#define PROTO_INPUT_PREFIX_LEN PROTO_HEADER_LEN
#define PROTO_RESIZE_LEN (PROTO_HEADER_LEN + 4)
#define PROTO_SIGNAL_LEN (PROTO_HEADER_LEN + 1)
#define PROTO_EXIT_LEN (PROTO_HEADER_LEN + 48)
#define PROTO_ERROR_MAX_LEN (PROTO_HEADER_LEN + 2 + PROTO_MAX_ERROR_MSG)

enum proto_type {
	PROTO_OUTPUT = 0x01, /* u64 offset of first byte, then terminal bytes */
	PROTO_ACK = 0x02,    /* u64 offset: control holds every byte below it */
	PROTO_INPUT = 0x03,  /* bytes for the pty */
	PROTO_RESIZE = 0x04, /* u16 cols, u16 rows */
	PROTO_SIGNAL = 0x05, /* u8 signal number for the session's process group */
	PROTO_EVENT = 0x06,  /* JSON object with a "type": stage, state, resync */
	PROTO_EXIT = 0x07,   /* i32 code, u8 signal, 3 zero bytes, u64 total, 32 bytes SHA-256 */
	PROTO_ERROR = 0x08,  /* u16 code, UTF-8 message */
	PROTO_HELLO = 0x09,  /* JSON object: first frame of a peer */
	PROTO_ASSIGN = 0x0a, /* JSON object: control gives an agent its session */
};

/* Error codes carried by ERROR frames (and used as WebSocket close reasons). */
enum proto_error_code {
	PROTO_ERR_PROTOCOL = 1,  /* malformed or unexpected frame */
	PROTO_ERR_AUTH = 2,      /* credential refused */
	PROTO_ERR_NOT_FOUND = 3, /* no such session */
	PROTO_ERR_FORBIDDEN = 4, /* e.g. input from a read-only viewer */
	PROTO_ERR_RUNNER = 5,    /* the runner failed or was lost */
	PROTO_ERR_INTERNAL = 6,
};

struct proto_exit {
	int32_t code;        /* exit status, or -1 when killed by a signal */
	uint8_t signo;       /* terminating signal, 0 when the process exited */
	uint64_t total;      /* total output bytes of the session */
	uint8_t sha256[PROTO_SHA256_LEN]; /* SHA-256 of all output bytes */
};

/* One decoded frame. Pointers are borrowed from the reader. */
struct proto_frame {
	enum proto_type type;
	uint64_t offset;          /* OUTPUT, ACK */
	const uint8_t *data;      /* OUTPUT, INPUT bytes; ERROR message; JSON text */
	size_t len;               /* length of data */
	uint16_t cols, rows;      /* RESIZE */
	uint8_t signo;            /* SIGNAL */
	uint16_t code;            /* ERROR */
	struct proto_exit exit;   /* EXIT */
};

struct proto_reader {
	uint8_t *buf;   /* buffered, not yet consumed bytes */
	size_t len;     /* bytes in buf */
	size_t pos;     /* consumed prefix of buf */
	size_t cap;     /* allocated size of buf */
	int err;        /* sticky RW_E... code once a frame was rejected */
	char errstr[128];
};

/* Lifecycle of a reader embedded in another struct. release frees its buffer. */
void proto_reader_init(struct proto_reader *r);
void proto_reader_release(struct proto_reader *r);

/* Appends bytes. Returns 0, RW_ENOMEM, RW_ETOOBIG past PROTO_READER_MAX_BUF unconsumed
 * bytes, or the sticky error of an earlier bad frame. */
int proto_reader_feed(struct proto_reader *r, const void *buf, size_t len);

/* Takes the next whole frame. Returns 1 with *f filled, 0 when more bytes are needed, or a
 * negative RW_E... code (RW_EPROTO, RW_ETOOBIG) with r->errstr set. Errors are sticky: the
 * stream cannot be resynchronised and the link must be closed. */
int proto_reader_next(struct proto_reader *r, struct proto_frame *f);

/* Encoders write into `dst`, which must have room for the named *_LEN; they return the
 * number of bytes written. The *_prefix variants write only the header and fixed fields:
 * the caller places `len` payload bytes right after them. */
size_t proto_encode_header(uint8_t *dst, enum proto_type type, uint32_t body_len);
size_t proto_encode_output_prefix(uint8_t *dst, uint64_t offset, size_t len);
size_t proto_encode_input_prefix(uint8_t *dst, size_t len);
size_t proto_encode_ack(uint8_t *dst, uint64_t offset);
size_t proto_encode_resize(uint8_t *dst, uint16_t cols, uint16_t rows);
size_t proto_encode_signal(uint8_t *dst, uint8_t signo);
size_t proto_encode_exit(uint8_t *dst, const struct proto_exit *e);
/* Truncates `msg` to PROTO_MAX_ERROR_MSG bytes. */
size_t proto_encode_error(uint8_t *dst, uint16_t code, const char *msg);

/* Encodes a JSON frame (HELLO, ASSIGN, EVENT) into a new buffer with `headroom` spare bytes
 * before the frame (for LWS_PRE). Returns the buffer (caller frees) with the frame at
 * buf + headroom and its length in *len_out, or NULL when out of memory or over
 * PROTO_MAX_JSON. */
uint8_t *proto_encode_json(enum proto_type type, const json_t *obj, size_t headroom,
			   size_t *len_out);

/* Parses the JSON body of a frame into a new object (caller decrefs), or NULL when it is
 * not a JSON object. */
json_t *proto_parse_json(const struct proto_frame *f);

/* True for the signals a viewer may send to a session (HUP INT QUIT KILL TERM USR1 USR2
 * CONT STOP TSTP WINCH). */
int proto_signal_allowed(int signo);

/* Name of a frame type for logs, "unknown" otherwise. */
const char *proto_type_name(int type);

#endif
