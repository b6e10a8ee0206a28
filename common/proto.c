/* proto.c: runwire wire protocol v1 (see proto.h and docs/protocol.md). Pure: no I/O. */
#include "common/proto.h"
#include "common/rw.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void proto_reader_init(struct proto_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void proto_reader_release(struct proto_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static int reader_fail(struct proto_reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->errstr, sizeof(r->errstr), fmt, ap);
	va_end(ap);
	r->err = err;
	return err;
}

int proto_reader_feed(struct proto_reader *r, const void *buf, size_t len)
{
	if (r->err)
		return r->err;
	if (!len)
		return RW_OK;
	if (r->len - r->pos + len > PROTO_READER_MAX_BUF)
		return reader_fail(r, RW_ETOOBIG, "more than %u unconsumed bytes",
				   (unsigned)PROTO_READER_MAX_BUF);
	if (r->pos && r->pos == r->len) {
		r->pos = r->len = 0;
	} else if (r->pos && r->len + len > r->cap) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + len)
			cap *= 2;
		uint8_t *nb = realloc(r->buf, cap);
		if (!nb)
			return reader_fail(r, RW_ENOMEM, "out of memory");
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
	return RW_OK;
}

/* Minimum body length of each type; -1 for unknown types. */
static long min_body(int type)
{
	switch (type) {
	case PROTO_OUTPUT: return 8;
	case PROTO_ACK: return 8;
	case PROTO_INPUT: return 0;
	case PROTO_RESIZE: return 4;
	case PROTO_SIGNAL: return 1;
	case PROTO_EVENT: case PROTO_HELLO: case PROTO_ASSIGN: return 2;
	case PROTO_EXIT: return 48;
	case PROTO_ERROR: return 2;
	}
	return -1;
}

/* Maximum body length of each type. */
static size_t max_body(int type)
{
	switch (type) {
	case PROTO_OUTPUT: return PROTO_MAX_BODY;
	case PROTO_ACK: return 8;
	case PROTO_INPUT: return PROTO_MAX_INPUT;
	case PROTO_RESIZE: return 4;
	case PROTO_SIGNAL: return 1;
	case PROTO_EVENT: case PROTO_HELLO: case PROTO_ASSIGN: return PROTO_MAX_JSON;
	case PROTO_EXIT: return 48;
	case PROTO_ERROR: return 2 + PROTO_MAX_ERROR_MSG;
	}
	return 0;
}

int proto_reader_next(struct proto_reader *r, struct proto_frame *f)
{
	const uint8_t *h;
	size_t avail;
	uint32_t blen;
	long minb;

	if (r->err)
		return r->err;
	avail = r->len - r->pos;
	h = r->buf + r->pos;
	/* Check what we can as soon as we have it, so garbage fails before it is buffered. */
	if (avail >= 1 && h[0] != PROTO_MAGIC0)
		return reader_fail(r, RW_EPROTO, "bad magic byte 0x%02x", h[0]);
	if (avail >= 2 && h[1] != PROTO_MAGIC1)
		return reader_fail(r, RW_EPROTO, "bad magic byte 0x%02x", h[1]);
	if (avail >= 3 && h[2] != PROTO_VERSION)
		return reader_fail(r, RW_EPROTO, "unsupported protocol version %u (want %u)",
				   h[2], PROTO_VERSION);
	if (avail >= 4 && min_body(h[3]) < 0)
		return reader_fail(r, RW_EPROTO, "unknown frame type 0x%02x", h[3]);
	if (avail < PROTO_HEADER_LEN)
		return 0;
	blen = get_u32(h + 4);
	minb = min_body(h[3]);
	if (blen > max_body(h[3]))
		return reader_fail(r, RW_ETOOBIG, "%s frame body of %u bytes exceeds cap of %zu",
				   proto_type_name(h[3]), blen, max_body(h[3]));
	if (blen < (size_t)minb)
		return reader_fail(r, RW_EPROTO, "%s frame body of %u bytes is too short",
				   proto_type_name(h[3]), blen);
	if (avail < PROTO_HEADER_LEN + (size_t)blen)
		return 0;

	const uint8_t *b = h + PROTO_HEADER_LEN;
	memset(f, 0, sizeof(*f));
	f->type = (enum proto_type)h[3];
	switch (f->type) {
	case PROTO_OUTPUT:
		f->offset = get_u64(b);
		f->data = b + 8;
		f->len = blen - 8;
		break;
	case PROTO_ACK:
		f->offset = get_u64(b);
		break;
	case PROTO_INPUT:
	case PROTO_EVENT:
	case PROTO_HELLO:
	case PROTO_ASSIGN:
		f->data = b;
		f->len = blen;
		break;
	case PROTO_RESIZE:
		f->cols = get_u16(b);
		f->rows = get_u16(b + 2);
		if (!f->cols || !f->rows || f->cols > PROTO_MAX_DIM || f->rows > PROTO_MAX_DIM)
			return reader_fail(r, RW_EPROTO, "resize %ux%u outside 1..%u", f->cols,
					   f->rows, PROTO_MAX_DIM);
		break;
	case PROTO_SIGNAL:
		f->signo = b[0];
		if (!proto_signal_allowed(f->signo))
			return reader_fail(r, RW_EPROTO, "signal %u not allowed", f->signo);
		break;
	case PROTO_EXIT:
		f->exit.code = (int32_t)get_u32(b);
		f->exit.signo = b[4];
		f->exit.total = get_u64(b + 8);
		memcpy(f->exit.sha256, b + 16, PROTO_SHA256_LEN);
		break;
	case PROTO_ERROR:
		f->code = get_u16(b);
		f->data = b + 2;
		f->len = blen - 2;
		break;
	}
	r->pos += PROTO_HEADER_LEN + blen;
	return 1;
}

size_t proto_encode_header(uint8_t *dst, enum proto_type type, uint32_t body_len)
{
	dst[0] = PROTO_MAGIC0;
	dst[1] = PROTO_MAGIC1;
	dst[2] = PROTO_VERSION;
	dst[3] = (uint8_t)type;
	put_u32(dst + 4, body_len);
	return PROTO_HEADER_LEN;
}

size_t proto_encode_output_prefix(uint8_t *dst, uint64_t offset, size_t len)
{
	proto_encode_header(dst, PROTO_OUTPUT, (uint32_t)(8 + len));
	put_u64(dst + PROTO_HEADER_LEN, offset);
	return PROTO_OUTPUT_PREFIX_LEN;
}

size_t proto_encode_input_prefix(uint8_t *dst, size_t len)
{
	return proto_encode_header(dst, PROTO_INPUT, (uint32_t)len);
}

size_t proto_encode_ack(uint8_t *dst, uint64_t offset)
{
	proto_encode_header(dst, PROTO_ACK, 8);
	put_u64(dst + PROTO_HEADER_LEN, offset);
	return PROTO_ACK_LEN;
}

size_t proto_encode_resize(uint8_t *dst, uint16_t cols, uint16_t rows)
{
	proto_encode_header(dst, PROTO_RESIZE, 4);
	put_u16(dst + PROTO_HEADER_LEN, cols);
	put_u16(dst + PROTO_HEADER_LEN + 2, rows);
	return PROTO_RESIZE_LEN;
}

size_t proto_encode_signal(uint8_t *dst, uint8_t signo)
{
	proto_encode_header(dst, PROTO_SIGNAL, 1);
	dst[PROTO_HEADER_LEN] = signo;
	return PROTO_SIGNAL_LEN;
}

size_t proto_encode_exit(uint8_t *dst, const struct proto_exit *e)
{
	uint8_t *b = dst + PROTO_HEADER_LEN;

	proto_encode_header(dst, PROTO_EXIT, 48);
	put_u32(b, (uint32_t)e->code);
	b[4] = e->signo;
	b[5] = b[6] = b[7] = 0;
	put_u64(b + 8, e->total);
	memcpy(b + 16, e->sha256, PROTO_SHA256_LEN);
	return PROTO_EXIT_LEN;
}

size_t proto_encode_error(uint8_t *dst, uint16_t code, const char *msg)
{
	size_t n = strlen(msg);

	if (n > PROTO_MAX_ERROR_MSG)
		n = PROTO_MAX_ERROR_MSG;
	proto_encode_header(dst, PROTO_ERROR, (uint32_t)(2 + n));
	put_u16(dst + PROTO_HEADER_LEN, code);
	memcpy(dst + PROTO_HEADER_LEN + 2, msg, n);
	return PROTO_HEADER_LEN + 2 + n;
}

uint8_t *proto_encode_json(enum proto_type type, const json_t *obj, size_t headroom,
			   size_t *len_out)
{
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	uint8_t *buf;

	if (!n || n > PROTO_MAX_JSON)
		return NULL;
	buf = malloc(headroom + PROTO_HEADER_LEN + n);
	if (!buf)
		return NULL;
	proto_encode_header(buf + headroom, type, (uint32_t)n);
	json_dumpb(obj, (char *)buf + headroom + PROTO_HEADER_LEN, n, JSON_COMPACT);
	*len_out = PROTO_HEADER_LEN + n;
	return buf;
}

json_t *proto_parse_json(const struct proto_frame *f)
{
	json_t *j = json_loadb((const char *)f->data, f->len, JSON_REJECT_DUPLICATES, NULL);

	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int proto_signal_allowed(int signo)
{
	switch (signo) {
	case SIGHUP: case SIGINT: case SIGQUIT: case SIGKILL: case SIGTERM:
	case SIGUSR1: case SIGUSR2: case SIGCONT: case SIGSTOP: case SIGTSTP: case SIGWINCH:
		return 1;
	}
	return 0;
}

const char *proto_type_name(int type)
{
	switch (type) {
	case PROTO_OUTPUT: return "OUTPUT";
	case PROTO_ACK: return "ACK";
	case PROTO_INPUT: return "INPUT";
	case PROTO_RESIZE: return "RESIZE";
	case PROTO_SIGNAL: return "SIGNAL";
	case PROTO_EVENT: return "EVENT";
	case PROTO_EXIT: return "EXIT";
	case PROTO_ERROR: return "ERROR";
	case PROTO_HELLO: return "HELLO";
	case PROTO_ASSIGN: return "ASSIGN";
	}
	return "unknown";
}
