/* test_httphead.c: the front door's request-head parser (control/httphead.c) fed byte by
 * byte, as a slow or hostile client would send it: every prefix of a good head asks for
 * more, a bad head is refused at the first byte that shows it, framing fields are kept
 * exactly, and the bearer rewrite cannot be made to inject a line. Each prefix is copied
 * into a buffer of exactly its size, so a read past it is caught under ASan. */
#include "check.h"
#include "control/httphead.h"
#include "common/rw.h"

#include <stdlib.h>
#include <string.h>

static struct httphead H;

/* Parses every prefix of `s` in turn. Returns the first non-zero verdict and sets *at to the
 * prefix length that gave it; 0 with *at = len when no prefix decided. */
static int feed(const char *s, size_t len, size_t *at)
{
	for (size_t k = 1; k <= len; k++) {
		char *p = malloc(k);
		memcpy(p, s, k);
		int r = httphead_parse(&H, p, k);
		free(p);
		if (r) {
			*at = k;
			return r;
		}
	}
	*at = len;
	return 0;
}

/* A head that must be refused with `status` exactly at byte `at_byte` (1-based length). */
static int refused_at(const char *s, int status, size_t at_byte)
{
	size_t at;
	int r = feed(s, strlen(s), &at);
	if (r != RW_EPROTO || H.status != status || at != at_byte) {
		fprintf(stderr, "  head %.40s...: r=%d status=%d at=%zu (want %d at %zu) %s\n", s, r,
			H.status, at, status, at_byte, H.errstr);
		return 0;
	}
	return 1;
}

/* A head that must be refused with `status` once complete (wherever it is noticed). */
static int refused(const char *s, int status)
{
	size_t at;
	int r = feed(s, strlen(s), &at);
	if (r != RW_EPROTO || H.status != status) {
		fprintf(stderr, "  head %.40s...: r=%d status=%d (want %d) %s\n", s, r, H.status,
			status, H.errstr);
		return 0;
	}
	return 1;
}

/* A head that must be accepted exactly when its last byte arrives. */
static int accepted(const char *s, size_t head_len)
{
	size_t at;
	int r = feed(s, strlen(s), &at);
	if (r != (int)head_len || at != head_len) {
		fprintf(stderr, "  head %.40s...: r=%d at=%zu (want %zu) %s\n", s, r, at, head_len,
			H.errstr);
		return 0;
	}
	return 1;
}

static const char *value_of(const char *buf, const char *name)
{
	static char v[8192];
	for (size_t i = 0; i < H.n_fields; i++) {
		const struct httphead_field *f = &H.fields[i];
		if (f->name_len == strlen(name) && !strncasecmp(buf + f->name, name, f->name_len)) {
			memcpy(v, buf + f->value, f->value_len);
			v[f->value_len] = '\0';
			return v;
		}
	}
	return NULL;
}

static void test_good_heads(void)
{
	const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(accepted(get, strlen(get)));
	CHECK(H.content_length == -1 && H.n_fields == 1 && H.method_len == 3);

	/* the body is not part of the head, and Content-Length is read exactly */
	const char *post = "POST /api/sessions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	CHECK(accepted(post, strlen(post) - 5));
	CHECK(H.content_length == 5);

	CHECK(accepted("GET / HTTP/1.0\r\n\r\n", 18));
	/* spaces and tabs around a value are not part of it; obs-text is allowed */
	const char *ws = "GET / HTTP/1.1\r\nX-A: \t v \xc3\xa9 \t\r\n\r\n";
	CHECK(accepted(ws, strlen(ws)));
	CHECK(value_of(ws, "x-a") && !strcmp(value_of(ws, "x-a"), "v \xc3\xa9"));
	const char *empty = "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n";
	CHECK(accepted(empty, strlen(empty)));
	CHECK(value_of(empty, "x-empty") && !*value_of(empty, "x-empty"));
}

static void test_line_ends(void)
{
	/* a bare LF or a bare CR is refused on the byte that shows it */
	CHECK(refused_at("GET / HTTP/1.1\n", 400, 15));
	CHECK(refused_at("GET / HTTP/1.1\r\nHost: x\n\r\n", 400, 24));
	CHECK(refused_at("GET / HTTP/1.1\r\nHost: x\r\n\n", 400, 26));
	CHECK(refused_at("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, 25));
	CHECK(refused_at("GET / HTTP/1.1\r\r\n", 400, 16));
	/* a leading empty line is not a request line */
	CHECK(refused_at("\r\nGET / HTTP/1.1\r\n\r\n", 400, 2));
}

static void test_fields(void)
{
	/* obs-fold, noticed as soon as the continuation line starts */
	CHECK(refused_at("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400, 25));
	CHECK(refused_at("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400, 25));
	/* control characters anywhere */
	CHECK(refused_at("GET / HTTP/1.1\r\nX-A: a\x01" "b\r\n\r\n", 400, 23));
	CHECK(refused_at("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400, 23));
	CHECK(refused_at("GET /\x01 HTTP/1.1\r\n\r\n", 400, 6));
	static const char nul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
	size_t at;
	CHECK(feed(nul, sizeof(nul) - 1, &at) == RW_EPROTO && at == 23 && H.status == 400);
	/* a space before the colon, no colon, an empty name */
	CHECK(refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400));
	CHECK(refused("GET / HTTP/1.1\r\nHost\r\n\r\n", 400));
	CHECK(refused("GET / HTTP/1.1\r\n: x\r\n\r\n", 400));
	CHECK(refused("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400));
}

static void test_request_line(void)
{
	CHECK(refused("GET  / HTTP/1.1\r\n\r\n", 400));
	CHECK(refused("GET /  HTTP/1.1\r\n\r\n", 400));
	CHECK(refused("GET / HTTP/1.1 \r\n\r\n", 400));
	CHECK(refused("GET / HTTP/2.0\r\n\r\n", 400));
	CHECK(refused("GET /\tx HTTP/1.1\r\n\r\n", 400));
	CHECK(refused("G(T / HTTP/1.1\r\n\r\n", 400));
	CHECK(refused("GET /\r\n\r\n", 400));
}

static void test_framing(void)
{
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", 400));
	const char *big = "POST / HTTP/1.1\r\nContent-Length: 123456789012345678\r\n\r\n";
	CHECK(accepted(big, strlen(big)) && H.content_length == 123456789012345678LL);
	CHECK(refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400));
	CHECK(refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501));
}

/* The caps, each at its edge and one past it. */
static void test_caps(void)
{
	char *buf = malloc(HTTPHEAD_MAX_HEAD + 64);
	size_t n = 0, at;

	n += (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTPHEAD_MAX_FIELDS; i++)
		n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
	strcpy(buf + n, "\r\n");
	CHECK(accepted(buf, n + 2) && H.n_fields == HTTPHEAD_MAX_FIELDS);
	n += (size_t)sprintf(buf + n, "X-last: v\r\n\r\n");
	CHECK(refused(buf, 431));

	/* a head of exactly HTTPHEAD_MAX_HEAD bytes, then one byte more */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX-Pad: ");
	memset(buf + n, 'a', HTTPHEAD_MAX_HEAD - n - 4);
	memcpy(buf + HTTPHEAD_MAX_HEAD - 4, "\r\n\r\n", 5);
	CHECK(httphead_parse(&H, buf, HTTPHEAD_MAX_HEAD) == (int)HTTPHEAD_MAX_HEAD);
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX-Pad: ");
	memset(buf + n, 'a', HTTPHEAD_MAX_HEAD - n - 3);
	memcpy(buf + HTTPHEAD_MAX_HEAD - 3, "\r\n\r\n", 5);
	CHECK(httphead_parse(&H, buf, HTTPHEAD_MAX_HEAD - 1) == 0);
	CHECK(httphead_parse(&H, buf, HTTPHEAD_MAX_HEAD) == RW_EPROTO && H.status == 431);
	CHECK(httphead_parse(&H, buf, HTTPHEAD_MAX_HEAD + 1) == RW_EPROTO && H.status == 431);
	(void)at;
	free(buf);
}

/* A 300-byte JWT-shaped token. */
static const char *jwt(void)
{
	static char t[301];
	for (int i = 0; i < 300; i++)
		t[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[i % 64];
	t[40] = t[200] = '.';
	return t;
}

static int rewrite(const char *head, char *out, size_t cap)
{
	size_t at;
	int r = feed(head, strlen(head), &at);
	if (r <= 0)
		return r;
	return httphead_rewrite_bearer(&H, head, out, cap);
}

static void test_rewrite(void)
{
	char head[2048], out[HTTPHEAD_MAX_HEAD + 64], again[HTTPHEAD_MAX_HEAD + 64];
	int n;

	/* every line kept byte for byte, in order, framing included; the list becomes "bearer" */
	snprintf(head, sizeof(head),
		 "GET /ws/abc HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nUpgrade: websocket\r\n"
		 "Sec-WebSocket-Protocol: bearer, %s\r\nX-Other:  kept as is \r\n\r\n", jwt());
	n = rewrite(head, out, sizeof(out));
	CHECK(n > 0);
	if (n > 0) {
		char want[2048];
		snprintf(want, sizeof(want),
			 "GET /ws/abc HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nUpgrade: websocket\r\n"
			 "X-Other:  kept as is \r\nSec-WebSocket-Protocol: bearer\r\n"
			 "X-Runwire-Bearer: %s\r\n\r\n", jwt());
		CHECK((size_t)n == strlen(want) && !memcmp(out, want, (size_t)n));
		/* the cap on the output is checked */
		CHECK(httphead_rewrite_bearer(&H, head, again, (size_t)n - 1) == RW_EPROTO);
		CHECK(httphead_parse(&H, head, strlen(head)) > 0);
		CHECK(httphead_rewrite_bearer(&H, head, again, (size_t)n) == n);
		memcpy(again, out, (size_t)n);
		CHECK(httphead_parse(&H, again, (size_t)n) == n);
		CHECK(H.content_length == 0);
		CHECK(!strcmp(value_of(again, "sec-websocket-protocol"), "bearer"));
		CHECK(!strcmp(value_of(again, "x-runwire-bearer"), jwt()));
	}
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer,%s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) > 0);

	/* an upgrade is a GET without a body: a body would follow a rewritten head unframed */
	snprintf(head, sizeof(head), "GET /healthz HTTP/1.1\r\nContent-Length: 5\r\nSec-WebSocket-Protocol: bearer, %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	snprintf(head, sizeof(head), "POST /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer, %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nContent-Length: 0\r\nSec-WebSocket-Protocol: bearer, %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) > 0);

	/* short lists and no list: nothing to do, lws reads them itself */
	CHECK(rewrite("GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer, abc.def.ghi\r\n\r\n",
		      out, sizeof(out)) == 0);
	CHECK(rewrite("GET / HTTP/1.1\r\n\r\n", out, sizeof(out)) == 0);

	/* a token cannot carry a line: CR, LF, controls are refused by the parser, and the
	 * rewrite takes only the characters of a JWT */
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer, %.100s\nX-Injected: 1%s\r\n\r\n", jwt(), jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer, %.100s X-Injected: 1%s\r\n\r\n", jwt(), jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer, %s, other\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	/* a second list, or a bearer header of its own: which would lws believe? refused */
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearer, %s\r\nSec-WebSocket-Protocol: x\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nX-Runwire-Bearer: a.b.c\r\nSec-WebSocket-Protocol: bearer, %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 400);
	/* a long list that is not a bearer token: too long for lws */
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: chat, %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 431);
	snprintf(head, sizeof(head), "GET /ws/a HTTP/1.1\r\nSec-WebSocket-Protocol: bearerx, %s\r\n\r\n", jwt());
	CHECK(rewrite(head, out, sizeof(out)) == RW_EPROTO && H.status == 431);
}

int main(void)
{
	test_good_heads();
	test_line_ends();
	test_fields();
	test_request_line();
	test_framing();
	test_caps();
	test_rewrite();
	return check_done("test_httphead");
}
