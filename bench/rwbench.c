/* rwbench: the client side of the stream benchmark (bench/run.sh, docs/benchmarks.md).
 *
 * It plays the viewer against runwire-control (and against websocketd for the baseline) and
 * measures what a viewer sees: throughput, keystroke echo round trip, session start latency,
 * and it holds many viewers open while the script samples control's memory. Every command
 * prints one JSON object on stdout.
 *
 * It speaks WebSocket itself (RFC 6455, client side: masked sends, unmasked receives) on a
 * plain blocking socket, and runwire's frames with the codec of common/proto.c. Not
 * libwebsockets: the 4.1 client parses every payload byte through its state machine (about
 * 8 ns a byte), as much CPU as the agent spends, so on two cores it would measure the viewer
 * instead of runwire. Loopback and plain ws:// only; HTTP calls go through libcurl.
 */
#include "common/proto.h"
#include "common/rw.h"
#include "common/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#define BENCH_READ_BUF (1u << 20)       /* one read() of the socket */
#define BENCH_HEAD_MAX 8192             /* HTTP response head of the upgrade */
#define BENCH_CTL_MAX 125               /* payload of a WebSocket control frame */
#define BENCH_MAX_RESPONSE (1u << 20)   /* body of an API answer */
#define BENCH_MAX_VIEWERS 20000
#define BENCH_TOKEN_MAX 4096            /* a session token */
#define BENCH_IO_TIMEOUT_MS 30000       /* a wait for the server that never ends is a failure */

/* ---- small helpers ---- */

static double now_s(void)
{
	return (double)rw_mono_us() / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("rwbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));

	puts(s);
	fflush(stdout);
	free(s);
	json_decref(j);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n sorted values, nearest rank. */
static double quantile(const double *v, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	return n ? v[i ? i - 1 : 0] : 0;
}

/* ---- the server: http://HOST:PORT ---- */

struct server {
	char base[256];      /* http://host:port, no trailing slash */
	char host[128];
	char port[16];
	CURL *curl;
};

static void server_init(struct server *s, const char *url)
{
	const char *p = url, *colon;

	if (strncmp(p, "http://", 7))
		die("--server must be http://HOST:PORT (loopback benchmarks only)");
	p += 7;
	colon = strrchr(p, ':');
	if (!colon || (size_t)(colon - p) >= sizeof(s->host) || strlen(colon + 1) >= sizeof(s->port))
		die("--server must be http://HOST:PORT");
	memcpy(s->host, p, (size_t)(colon - p));
	s->host[colon - p] = '\0';
	snprintf(s->port, sizeof(s->port), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
	snprintf(s->base, sizeof(s->base), "http://%s:%s", s->host, s->port);
	s->curl = curl_easy_init();
	if (!s->curl)
		die("curl_easy_init failed");
}

struct body {
	char *buf;
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t add = size * n;
	char *nb;

	if (b->len + add > BENCH_MAX_RESPONSE)
		return 0;
	nb = realloc(b->buf, b->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, data, add);
	b->buf = nb;
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

/* METHOD base+path with an optional JSON body (taken over); returns the HTTP status and the
 * parsed answer (NULL when it is not JSON). The curl handle is reused: one kept-alive
 * connection. */
static long api(struct server *s, const char *method, const char *path, json_t *req,
		json_t **resp)
{
	char url[512], *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	struct body b = { NULL, 0 };
	long status = 0;
	CURLcode rc;

	json_decref(req);
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	curl_easy_reset(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)BENCH_IO_TIMEOUT_MS);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	free(body);
	if (resp)
		*resp = b.buf ? json_loads(b.buf, 0, NULL) : NULL;
	free(b.buf);
	if (rc != CURLE_OK)
		die("%s %s: %s", method, path, curl_easy_strerror(rc));
	return status;
}

struct session_ref {
	char id[128];
	char token[BENCH_TOKEN_MAX];
};

/* POST /api/sessions {"command": ...}: the new session's id and first token. */
static void create_session(struct server *s, const char *command, struct session_ref *out)
{
	json_t *resp = NULL;
	long st = api(s, "POST", "/api/sessions", json_pack("{s:s}", "command", command), &resp);
	const char *id = json_string_value(json_object_get(resp, "sessionId"));
	const char *tok = json_string_value(json_object_get(resp, "token"));

	if (st != 201 || !id || !tok || strlen(id) >= sizeof(out->id) ||
	    strlen(tok) >= sizeof(out->token))
		die("POST /api/sessions answered %ld", st);
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->token, sizeof(out->token), "%s", tok);
	json_decref(resp);
}

/* A fresh one-time token for an existing session. */
static void mint_token(struct server *s, const char *sid, char *out, size_t outlen)
{
	char path[256];
	json_t *resp = NULL;
	long st;
	const char *tok;

	snprintf(path, sizeof(path), "/api/sessions/%s/tokens", sid);
	st = api(s, "POST", path, json_pack("{s:s}", "role", "viewer"), &resp);
	tok = json_string_value(json_object_get(resp, "token"));
	if (st != 201 || !tok || strlen(tok) >= outlen)
		die("POST %s answered %ld", path, st);
	snprintf(out, outlen, "%s", tok);
	json_decref(resp);
}

/* ---- WebSocket, client side ---- */

typedef void (*ws_payload_fn)(void *ud, const uint8_t *data, size_t len);

struct ws {
	int fd;
	uint8_t *rbuf;                 /* received, not yet parsed (a partial frame header) */
	size_t rlen;
	int in_frame;                  /* a frame's header was parsed */
	uint8_t opcode;
	uint64_t left;                 /* payload bytes of the frame still to come */
	uint8_t ctl[BENCH_CTL_MAX];    /* a control frame's payload */
	size_t ctl_len;
	int closed;                    /* the server sent close, or EOF */
};

static int tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
	int fd = -1, one = 1;

	if (getaddrinfo(host, port, &hints, &ai))
		return -1;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (!connect(fd, a->ai_addr, a->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Sends one frame, masked as a client must. */
static int ws_send(struct ws *w, uint8_t opcode, const void *data, size_t len)
{
	uint8_t stackbuf[256], *buf = stackbuf, mask[4];
	size_t hl = 0;
	int r;

	if (len + 14 > sizeof(stackbuf) && !(buf = malloc(len + 14)))
		return -1;
	buf[hl++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		buf[hl++] = (uint8_t)(0x80 | len);
	} else if (len < 65536) {
		buf[hl++] = 0x80 | 126;
		buf[hl++] = (uint8_t)(len >> 8);
		buf[hl++] = (uint8_t)len;
	} else {
		buf[hl++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			buf[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	randombytes_buf(mask, sizeof(mask));
	memcpy(buf + hl, mask, 4);
	hl += 4;
	for (size_t i = 0; i < len; i++)
		buf[hl + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
	r = rw_write_all(w->fd, buf, hl + len);
	if (buf != stackbuf)
		free(buf);
	return r ? -1 : 0;
}

/* Opens ws://host:port/path with Sec-WebSocket-Protocol `protocol` (NULL: none). Blocks until
 * the 101 answer; bytes after it stay in the read buffer. 0 or -1. */
static int ws_connect(struct ws *w, const char *host, const char *port, const char *path,
		      const char *protocol)
{
	char req[BENCH_TOKEN_MAX + 1024], key[32], head[BENCH_HEAD_MAX + 1];
	uint8_t nonce[16];
	size_t hlen = 0;
	char *end;
	int n;

	memset(w, 0, sizeof(*w));
	w->fd = tcp_connect(host, port);
	if (w->fd < 0)
		return -1;
	w->rbuf = malloc(BENCH_READ_BUF);
	if (!w->rbuf)
		return -1;
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2base64(key, sizeof(key), nonce, sizeof(nonce), sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "%s%s%s\r\n",
		     path, host, port, key, protocol ? "Sec-WebSocket-Protocol: " : "",
		     protocol ? protocol : "", protocol ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req) || rw_write_all(w->fd, req, (size_t)n))
		return -1;
	/* the head, byte by byte until its end: what follows is already WebSocket */
	while (hlen < BENCH_HEAD_MAX) {
		ssize_t r = read(w->fd, head + hlen, 1);
		if (r <= 0)
			return -1;
		hlen++;
		head[hlen] = '\0';
		if (hlen >= 4 && (end = strstr(head, "\r\n\r\n")))
			break;
	}
	if (strncmp(head, "HTTP/1.1 101", 12))
		return -1;
	return 0;
}

static void ws_close(struct ws *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->rbuf);
	w->rbuf = NULL;
}

/* Parses what is buffered: data payload goes to `fn` as it arrives (no reassembly), PINGs
 * are answered, CLOSE ends the stream. */
static void ws_parse(struct ws *w, ws_payload_fn fn, void *ud)
{
	size_t pos = 0;

	while (pos < w->rlen || (w->in_frame && !w->left)) {
		if (!w->in_frame) {
			const uint8_t *h = w->rbuf + pos;
			size_t avail = w->rlen - pos, hl = 2;
			uint64_t plen;

			if (avail < 2)
				break;
			plen = h[1] & 0x7f;
			if (plen == 126)
				hl = 4;
			else if (plen == 127)
				hl = 10;
			if (h[1] & 0x80)
				die("the server masked a frame");
			if (avail < hl)
				break;
			if (plen == 126)
				plen = (uint64_t)h[2] << 8 | h[3];
			else if (plen == 127)
				for (int i = 0; i < 8; i++)
					plen = (i ? plen << 8 : 0) | h[2 + i];
			w->opcode = h[0] & 0x0f;
			w->left = plen;
			w->in_frame = 1;
			w->ctl_len = 0;
			pos += hl;
		}
		size_t take = w->rlen - pos < w->left ? w->rlen - pos : (size_t)w->left;
		if (w->opcode & 8) {
			size_t room = BENCH_CTL_MAX - w->ctl_len;
			memcpy(w->ctl + w->ctl_len, w->rbuf + pos, take < room ? take : room);
			w->ctl_len += take < room ? take : room;
		} else if (take) {
			fn(ud, w->rbuf + pos, take);
		}
		pos += take;
		w->left -= take;
		if (!w->left) {
			w->in_frame = 0;
			if (w->opcode == 9)
				ws_send(w, 10, w->ctl, w->ctl_len);
			else if (w->opcode == 8) {
				ws_send(w, 8, w->ctl, w->ctl_len < 2 ? w->ctl_len : 2);
				w->closed = 1;
			}
		}
	}
	memmove(w->rbuf, w->rbuf + pos, w->rlen - pos);
	w->rlen -= pos;
}

/* One read of the socket, parsed. Returns the bytes read, 0 at the end of the stream. */
static ssize_t ws_pump(struct ws *w, ws_payload_fn fn, void *ud)
{
	ssize_t n;

	if (w->closed)
		return 0;
	n = read(w->fd, w->rbuf + w->rlen, BENCH_READ_BUF - w->rlen);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0) {
		w->closed = 1;
		return 0;
	}
	w->rlen += (size_t)n;
	ws_parse(w, fn, ud);
	return n;
}

/* Waits up to `ms` for the socket to be readable: 1 readable, 0 timeout. */
static int ws_wait(struct ws *w, int ms)
{
	struct pollfd p = { .fd = w->fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

/* ---- a runwire viewer: WebSocket messages carry runwire frames ---- */

struct viewer {
	struct ws ws;
	struct proto_reader rd;
	int hello, exited, error;
	uint64_t bytes;                /* output bytes received */
	uint64_t next;                 /* offset after the last output byte */
	int resyncs;
	struct proto_exit exit;
	double t_first;                /* first output byte, 0 before */
	int verify;
	struct rw_sha256 sha;
	int out_fd;                    /* output bytes go here too, -1: discarded */
};

static void viewer_frame(struct viewer *v, const struct proto_frame *f)
{
	json_t *j;

	switch (f->type) {
	case PROTO_HELLO:
		v->hello = 1;
		break;
	case PROTO_OUTPUT:
		if (!v->t_first && f->len)
			v->t_first = now_s();
		if (f->offset != v->next)
			v->resyncs += f->offset > v->next;
		v->bytes += f->len;
		v->next = f->offset + f->len;
		if (v->verify)
			rw_sha256_update(&v->sha, f->data, f->len);
		if (v->out_fd >= 0 && rw_write_all(v->out_fd, f->data, f->len))
			die("cannot write the output: %s", strerror(errno));
		break;
	case PROTO_EVENT:
		j = proto_parse_json(f);
		if (j && !strcmp(json_string_value(json_object_get(j, "type")) ?: "", "resync"))
			fprintf(stderr, "rwbench: viewer fell behind by %" JSON_INTEGER_FORMAT " bytes\n",
				json_integer_value(json_object_get(j, "skipped")));
		json_decref(j);
		break;
	case PROTO_EXIT:
		v->exit = f->exit;
		v->exited = 1;
		break;
	case PROTO_ERROR:
		fprintf(stderr, "rwbench: control: %.*s\n", (int)f->len, (const char *)f->data);
		v->error = 1;
		break;
	default:
		break;
	}
}

static void viewer_payload(void *ud, const uint8_t *data, size_t len)
{
	struct viewer *v = ud;
	struct proto_frame f;
	int r;

	if (proto_reader_feed(&v->rd, data, len) < 0)
		die("bad frames from control: %s", v->rd.errstr);
	while ((r = proto_reader_next(&v->rd, &f)) == 1)
		viewer_frame(v, &f);
	if (r < 0)
		die("bad frames from control: %s", v->rd.errstr);
}

/* --via: viewers attach through this server (another control replica on the same store)
 * while sessions are created on --server, which runs them. NULL: through --server. */
static struct server *via;

static int viewer_open(struct viewer *v, struct server *s, const char *sid, const char *token)
{
	char path[256], proto[BENCH_TOKEN_MAX + 16];

	if (via)
		s = via;
	memset(v, 0, sizeof(*v));
	v->out_fd = -1;
	proto_reader_init(&v->rd);
	rw_sha256_init(&v->sha);
	snprintf(path, sizeof(path), "/ws/%s?since=0", sid);
	snprintf(proto, sizeof(proto), "bearer, %s", token);
	return ws_connect(&v->ws, s->host, s->port, path, proto);
}

static void viewer_close(struct viewer *v)
{
	ws_close(&v->ws);
	proto_reader_release(&v->rd);
}

/* Reads until `done(v)` holds; dies after BENCH_IO_TIMEOUT_MS of silence. */
static void viewer_until(struct viewer *v, int (*done)(const struct viewer *))
{
	while (!done(v)) {
		if (!ws_wait(&v->ws, BENCH_IO_TIMEOUT_MS))
			die("control said nothing for %d ms", BENCH_IO_TIMEOUT_MS);
		if (!ws_pump(&v->ws, viewer_payload, v) && !done(v))
			die("control closed the viewer early");
	}
}

static int until_exit(const struct viewer *v) { return v->exited || v->error; }
static int until_hello(const struct viewer *v) { return v->hello || v->error; }
static int until_output(const struct viewer *v) { return v->bytes > 0 || until_exit(v); }

/* Sends bytes to the session's pty as an INPUT frame. */
static void viewer_input(struct viewer *v, const void *data, size_t len)
{
	uint8_t frame[PROTO_INPUT_PREFIX_LEN + 64];

	if (len > 64)
		die("viewer_input: at most 64 bytes");
	proto_encode_input_prefix(frame, len);
	memcpy(frame + PROTO_INPUT_PREFIX_LEN, data, len);
	if (ws_send(&v->ws, 2, frame, PROTO_INPUT_PREFIX_LEN + len))
		die("cannot send input");
}

/* ---- commands ---- */

/* throughput: one session running COMMAND, one viewer that counts and discards. */
static int cmd_throughput(struct server *s, const char *command, int verify)
{
	struct session_ref ref = { { 0 }, { 0 } };
	struct viewer v;
	double t0 = now_s(), t_end, secs;
	uint8_t mine[PROTO_SHA256_LEN];
	int complete;

	create_session(s, command, &ref);
	if (viewer_open(&v, s, ref.id, ref.token))
		die("cannot attach to %s", ref.id);
	v.verify = verify;
	viewer_until(&v, until_exit);
	t_end = now_s();
	complete = v.exited && v.bytes == v.exit.total && !v.resyncs;
	if (verify) {
		rw_sha256_final(&v.sha, mine);
		complete &= !memcmp(mine, v.exit.sha256, sizeof(mine));
	}
	secs = t_end - (v.t_first ? v.t_first : t0);
	print_json(json_pack("{s:s, s:I, s:f, s:f, s:f, s:i, s:b, s:i}", "session", ref.id,
			     "bytes", (json_int_t)v.bytes, "seconds", secs, "seconds_from_post",
			     t_end - t0, "mib_per_s", secs > 0 ? (double)v.bytes / secs / 1048576 : 0,
			     "resyncs", v.resyncs, "complete", complete, "exit_code", v.exit.code));
	viewer_close(&v);
	return complete ? 0 : 1;
}

/* view: one more viewer of an existing session, from its start to its exit; the output goes
 * to `out` when given. Exit status 0 when it saw every byte (total, digest, no resync). */
static int cmd_view(struct server *s, const char *sid, const char *out)
{
	char token[BENCH_TOKEN_MAX];
	struct viewer v;
	uint8_t mine[PROTO_SHA256_LEN];
	double t0 = now_s(), t_end, secs;
	int complete;

	mint_token(s, sid, token, sizeof(token));
	if (viewer_open(&v, s, sid, token))
		die("cannot attach to %s", sid);
	v.verify = 1;
	if (out && (v.out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		die("%s: %s", out, strerror(errno));
	viewer_until(&v, until_exit);
	t_end = now_s();
	rw_sha256_final(&v.sha, mine);
	complete = v.exited && v.bytes == v.exit.total && !v.resyncs &&
		   !memcmp(mine, v.exit.sha256, sizeof(mine));
	secs = t_end - (v.t_first ? v.t_first : t0);
	print_json(json_pack("{s:I, s:f, s:f, s:i, s:b}", "bytes", (json_int_t)v.bytes, "seconds",
			     secs, "mib_per_s", secs > 0 ? (double)v.bytes / secs / 1048576 : 0,
			     "resyncs", v.resyncs, "complete", complete));
	if (v.out_fd >= 0)
		close(v.out_fd);
	viewer_close(&v);
	return complete ? 0 : 1;
}

static void count_payload(void *ud, const uint8_t *data, size_t len)
{
	*(uint64_t *)ud += len;
}

/* drain: any WebSocket server (the websocketd baseline): count message bytes until it
 * closes. */
static int cmd_drain(const char *url)
{
	char host[128], port[16], path[256] = "/";
	struct ws w;
	uint64_t bytes = 0;
	double t0, t1;
	const char *p = url + 5, *colon, *slash;

	if (strncmp(url, "ws://", 5))
		die("drain wants ws://HOST:PORT/PATH");
	slash = strchr(p, '/');
	colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
	if (!colon)
		die("drain wants ws://HOST:PORT/PATH");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
	snprintf(port, sizeof(port), "%.*s", (int)(slash ? slash - colon - 1 : (long)strlen(colon + 1)),
		 colon + 1);
	if (slash)
		snprintf(path, sizeof(path), "%s", slash);
	t0 = now_s();
	if (ws_connect(&w, host, port, path, NULL))
		die("cannot connect to %s", url);
	while (ws_wait(&w, BENCH_IO_TIMEOUT_MS) && ws_pump(&w, count_payload, &bytes) > 0)
		;
	t1 = now_s();
	ws_close(&w);
	print_json(json_pack("{s:I, s:f, s:f}", "bytes", (json_int_t)bytes, "seconds", t1 - t0,
			     "mib_per_s", (double)bytes / (t1 - t0) / 1048576));
	return 0;
}

/* echo: one byte at a time through `stty raw -echo; cat`, waiting for each to come back. */
static int cmd_echo(struct server *s, int keys)
{
	struct session_ref ref = { { 0 }, { 0 } };
	struct viewer v;
	double *rtt = calloc((size_t)keys, sizeof(double));
	char path[256];

	if (!rtt)
		die("out of memory");
	create_session(s, "stty raw -echo; printf R; exec cat", &ref);
	if (viewer_open(&v, s, ref.id, ref.token))
		die("cannot attach to %s", ref.id);
	viewer_until(&v, until_output);   /* "R": cat is about to read */
	for (int i = 0; i < keys; i++) {
		uint8_t key = (uint8_t)('a' + i % 26);
		uint64_t want = v.bytes + 1;
		double t0 = now_s();

		viewer_input(&v, &key, 1);
		while (v.bytes < want && !until_exit(&v)) {
			if (!ws_wait(&v.ws, BENCH_IO_TIMEOUT_MS))
				die("key %d never came back", i);
			if (!ws_pump(&v.ws, viewer_payload, &v))
				die("control closed the viewer");
		}
		rtt[i] = (now_s() - t0) * 1e3;
	}
	snprintf(path, sizeof(path), "/api/sessions/%s", ref.id);
	api(s, "DELETE", path, NULL, NULL);
	viewer_close(&v);
	qsort(rtt, (size_t)keys, sizeof(double), cmp_double);
	print_json(json_pack("{s:i, s:f, s:f, s:f, s:f}", "keys", keys, "p50_ms",
			     quantile(rtt, (size_t)keys, 0.5), "p99_ms",
			     quantile(rtt, (size_t)keys, 0.99), "max_ms", rtt[keys - 1], "min_ms",
			     rtt[0]));
	free(rtt);
	return 0;
}

/* start: POST to the first output byte, session after session, `gap_ms` apart so the warm
 * pool is refilled each time. */
static int cmd_start(struct server *s, int sessions, const char *command, int gap_ms)
{
	double *lat = calloc((size_t)sessions, sizeof(double));

	if (!lat)
		die("out of memory");
	for (int i = 0; i < sessions; i++) {
		struct session_ref ref = { { 0 }, { 0 } };
		struct viewer v;
		double t0 = now_s();

		create_session(s, command, &ref);
		if (viewer_open(&v, s, ref.id, ref.token))
			die("cannot attach to %s", ref.id);
		viewer_until(&v, until_output);
		lat[i] = (now_s() - t0) * 1e3;
		viewer_until(&v, until_exit);
		viewer_close(&v);
		if (gap_ms)
			usleep((useconds_t)gap_ms * 1000);
	}
	qsort(lat, (size_t)sessions, sizeof(double), cmp_double);
	print_json(json_pack("{s:i, s:f, s:f, s:f, s:f}", "sessions", sessions, "p50_ms",
			     quantile(lat, (size_t)sessions, 0.5), "p99_ms",
			     quantile(lat, (size_t)sessions, 0.99), "max_ms", lat[sessions - 1],
			     "min_ms", lat[0]));
	free(lat);
	return 0;
}

/* create: COUNT sessions running COMMAND (they wait when runners are few). */
static int cmd_create(struct server *s, int count, const char *command)
{
	double t0 = now_s();

	for (int i = 0; i < count; i++) {
		struct session_ref ref = { { 0 }, { 0 } };
		create_session(s, command, &ref);
	}
	print_json(json_pack("{s:i, s:f}", "created", count, "seconds", now_s() - t0));
	return 0;
}

static volatile sig_atomic_t stop_seen;

static void on_stop(int signo)
{
	stop_seen = signo;
}

/* viewers: COUNT viewers on one session, held open (reading and discarding) until SIGTERM
 * or `hold_s` seconds; prints {"ready": COUNT} once every one has its HELLO. */
static int cmd_viewers(struct server *s, const char *sid, int count, int hold_s)
{
	struct viewer *v = calloc((size_t)count, sizeof(*v));
	struct pollfd *p = calloc((size_t)count, sizeof(*p));
	char token[BENCH_TOKEN_MAX];
	double t0 = now_s(), deadline;

	if (!v || !p)
		die("out of memory");
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	for (int i = 0; i < count; i++) {
		mint_token(s, sid, token, sizeof(token));
		if (viewer_open(&v[i], s, sid, token))
			die("viewer %d cannot attach", i);
		viewer_until(&v[i], until_hello);
		p[i].fd = v[i].ws.fd;
		p[i].events = POLLIN;
		/* the ones already open answer control's pings meanwhile: attaching a thousand
		 * takes longer than control waits for a PONG */
		if (poll(p, (nfds_t)i + 1, 0) > 0)
			for (int k = 0; k <= i; k++)
				if (p[k].revents && !ws_pump(&v[k].ws, viewer_payload, &v[k]))
					p[k].fd = -1;
	}
	print_json(json_pack("{s:i, s:f}", "ready", count, "seconds", now_s() - t0));
	deadline = now_s() + hold_s;
	while (!stop_seen && now_s() < deadline) {
		if (poll(p, (nfds_t)count, 200) <= 0)
			continue;
		for (int i = 0; i < count; i++)
			if (p[i].revents && !ws_pump(&v[i].ws, viewer_payload, &v[i]))
				p[i].fd = -1;
	}
	for (int i = 0; i < count; i++)
		viewer_close(&v[i]);
	free(v);
	free(p);
	return 0;
}

/* The commands that talk to control. 2 for an unknown command. */
static int run_command(struct server *s, const char *cmd, const char *command, const char *sid,
		       const char *out, int verify, long long keys, long long sessions,
		       long long count, long long gap, long long hold)
{
	if (!strcmp(cmd, "throughput")) {
		if (!command)
			die("throughput needs --command");
		return cmd_throughput(s, command, verify);
	}
	if (!strcmp(cmd, "view")) {
		if (!sid)
			die("view needs --session");
		return cmd_view(s, sid, out);
	}
	if (!strcmp(cmd, "echo"))
		return cmd_echo(s, (int)keys);
	if (!strcmp(cmd, "start"))
		return cmd_start(s, (int)sessions, command ? command : "echo started", (int)gap);
	if (!strcmp(cmd, "create")) {
		if (!command || !count)
			die("create needs --count and --command");
		return cmd_create(s, (int)count, command);
	}
	if (!strcmp(cmd, "viewers")) {
		if (!sid || !count)
			die("viewers needs --session and --count");
		return cmd_viewers(s, sid, (int)count, (int)hold);
	}
	return 2;
}

static void usage(FILE *out)
{
	fputs("usage: rwbench --server http://HOST:PORT COMMAND [options]\n"
	      "\n"
	      "  throughput --command CMD [--verify]   one session, one discarding viewer\n"
	      "  view --session ID [--out FILE]        one more viewer, start to exit, verified\n"
	      "  drain --url ws://HOST:PORT/PATH       any WebSocket server: bytes until close\n"
	      "  echo [--keys N]                       keystroke round trip (default 10000)\n"
	      "  start [--sessions N] [--command CMD] [--gap-ms MS]\n"
	      "                                        POST to first output byte (default 200)\n"
	      "  create --count N --command CMD        N sessions (they wait for runners)\n"
	      "  viewers --session ID --count N [--hold S]\n"
	      "                                        N viewers held open on one session\n"
	      "  --via http://HOST:PORT                viewers attach through this control replica\n"
	      "                                        (sessions are still created on --server)\n"
	      "Each prints one JSON object on stdout.\n",
	      out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "command", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "keys", required_argument, NULL, 'k' },
		{ "sessions", required_argument, NULL, 'n' },
		{ "count", required_argument, NULL, 'N' },
		{ "gap-ms", required_argument, NULL, 'g' },
		{ "session", required_argument, NULL, 'S' },
		{ "hold", required_argument, NULL, 'H' },
		{ "verify", no_argument, NULL, 'v' },
		{ "out", required_argument, NULL, 'o' },
		{ "via", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *server = getenv("RUNWIRE_SERVER"), *command = NULL, *url = NULL, *via_url = NULL,
		   *sid = NULL, *out = NULL, *cmd;
	long long keys = 10000, sessions = 200, count = 0, gap = 50, hold = 600;
	int verify = 0, c, rc;
	struct server s;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'c': command = optarg; break;
		case 'u': url = optarg; break;
		case 'S': sid = optarg; break;
		case 'v': verify = 1; break;
		case 'o': out = optarg; break;
		case 'V': via_url = optarg; break;
		case 'k': if (rw_parse_int(optarg, 1, 10000000, &keys)) die("bad --keys"); break;
		case 'n': if (rw_parse_int(optarg, 1, 1000000, &sessions)) die("bad --sessions"); break;
		case 'N': if (rw_parse_int(optarg, 1, BENCH_MAX_VIEWERS, &count)) die("bad --count"); break;
		case 'g': if (rw_parse_int(optarg, 0, 60000, &gap)) die("bad --gap-ms"); break;
		case 'H': if (rw_parse_int(optarg, 0, 86400, &hold)) die("bad --hold"); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT))
		die("cannot initialise libsodium / libcurl");
	if (!strcmp(cmd, "drain")) {
		if (!url)
			die("drain needs --url");
		rc = cmd_drain(url);
		curl_global_cleanup();
		return rc;
	}
	if (!server)
		die("no --server (or RUNWIRE_SERVER)");
	server_init(&s, server);
	struct server via_s;
	if (via_url) {
		server_init(&via_s, via_url);
		via = &via_s;
	}
	rc = run_command(&s, cmd, command, sid, out, verify, keys, sessions, count, gap, hold);
	curl_easy_cleanup(s.curl);
	if (via)
		curl_easy_cleanup(via->curl);
	curl_global_cleanup();
	if (rc == 2)
		usage(stderr);
	return rc;
}
