/* httphead.h: a strict parser of one HTTP/1.1 request head, for control's front door
 * (listener.c). It does no I/O: the listener peeks at what has arrived and asks whether it
 * is a complete, acceptable head; the answer for a prefix of a good head is always "more",
 * and a bad head is refused as soon as its bytes show it (see docs/architecture.md, "The
 * front door").
 *
 * What it refuses (RFC 9112 read strictly, as a server behind nothing may):
 *   - line ends other than CRLF (a bare LF or a bare CR), obs-fold (a line that starts with
 *     a space or a tab), control characters anywhere, a space before a header's colon;
 *   - a request line that is not `METHOD SP TARGET SP HTTP/1.x`;
 *   - Content-Length that is not one run of digits, or that appears twice; Transfer-Encoding
 *     together with Content-Length; Transfer-Encoding alone (501: libwebsockets 4.1 cannot
 *     read a chunked request body and would take it for the next request); Host twice;
 *   - a head longer than HTTPHEAD_MAX_HEAD or with more than HTTPHEAD_MAX_FIELDS fields (431).
 */
#ifndef RW_HTTPHEAD_H
#define RW_HTTPHEAD_H

#include <stddef.h>
#include <stdint.h>

#define HTTPHEAD_MAX_HEAD (16u << 10)   /* request line + fields + blank line */
#define HTTPHEAD_MAX_FIELDS 100         /* header fields in one head */
#define HTTPHEAD_PROTOCOL_LIMIT 127     /* longest Sec-WebSocket-Protocol lws 4.1 takes */
#define HTTPHEAD_MAX_TOKEN 4096         /* a bearer token moved to its own header */
#define HTTPHEAD_BEARER_HEADER "X-Runwire-Bearer"

struct httphead_field {
	uint32_t name, name_len;    /* offsets into the parsed buffer */
	uint32_t value, value_len;  /* value without surrounding spaces and tabs */
	uint32_t line, line_len;    /* the whole line, without its CRLF */
};

struct httphead {
	size_t head_len;            /* bytes up to and including the blank line, once complete */
	uint32_t method_len;        /* the method is buf[0 .. method_len) */
	uint32_t request_line_len;  /* without its CRLF */
	size_t n_fields;
	struct httphead_field fields[HTTPHEAD_MAX_FIELDS];
	int64_t content_length;     /* -1 when absent */
	int protocol;               /* index of Sec-WebSocket-Protocol in fields, or -1 */
	int n_protocol;             /* how many Sec-WebSocket-Protocol fields */
	int bearer_header;          /* index of X-Runwire-Bearer, or -1 */
	int status;                 /* the HTTP status to refuse with, after RW_EPROTO */
	char errstr[96];            /* why, for the response body and the log */
};

/* Parses `buf[0 .. len)`, the bytes of a request that have arrived so far (the head and
 * perhaps more). Returns the head's length (> 0) when it is complete and acceptable, 0 when
 * more bytes are needed, or RW_EPROTO when it must be refused: then h->status (400, 431 or
 * 501) and h->errstr say how. `buf` is only read; `h` borrows offsets into it. */
int httphead_parse(struct httphead *h, const char *buf, size_t len);

/* Builds the head libwebsockets gets for an upgrade whose protocol list is
 * `bearer, <token>` and too long for it: every line kept byte for byte and in order except
 * Sec-WebSocket-Protocol, which becomes `bearer`, plus `X-Runwire-Bearer: <token>`.
 * `h` must be a complete parse of `buf`. Returns the new head's length in `out`
 * (at most HTTPHEAD_MAX_HEAD + 64 bytes are written), 0 when the head needs no rewrite
 * (no protocol list, or a short one), or RW_EPROTO with h->status and h->errstr set when a
 * long list cannot be rewritten (not a bearer token, a token with characters a JWT never
 * has, a second protocol field, an X-Runwire-Bearer of its own, a method other than GET or
 * a body: an upgrade has none). */
int httphead_rewrite_bearer(struct httphead *h, const char *buf, char *out, size_t cap);

#endif
