/* faultproxy: a fault-injecting loopback TCP proxy for the stream tests.
 *
 * It sits on one link of the stream (agent -> control, or viewer -> control) and
 * forwards bytes both ways with real backpressure, while it cuts, pauses or throttles the link
 * on a plan given on its command line, on a control FIFO or on SIGUSR1, so a test can prove
 * that no byte is lost when the link misbehaves. Standalone: libc, one poll loop, no threads.
 *
 * Semantics the tests rely on:
 * - Bytes are counted when the proxy writes them to the far side, summed over every
 *   connection and both directions. A write never crosses the next --cut-at point, so a cut
 *   happens at exactly that count: the granularity is one byte.
 * - A cut (plan, signal or FIFO) shuts down both sockets for writing: each peer receives every
 *   byte written before the cut, then EOF. The proxy discards what the peers still send and
 *   closes once both send queues are empty (or after FP_CUT_DRAIN_MS). --cut-reset instead
 *   aborts both sockets with RST, losing whatever was still in flight.
 * - While paused, live connections forward nothing (a black hole) and new connections are
 *   accepted and closed at once (the client reads EOF).
 * - Throttles are per connection and per direction: a token bucket holding at most a
 *   1/FP_THROTTLE_BURST_DIV second's worth of credit, so bursts stay short.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/rw.h"

#define FP_BUF_CAP (256 * 1024)     /* bytes buffered per direction per connection */
#define FP_MAX_CUTS 65536           /* cut points in one plan */
#define FP_CUT_DRAIN_MS 2000        /* a cut connection is closed hard after this */
#define FP_CUT_POLL_MS 10           /* how often a cut connection looks at its send queues */
#define FP_CUT_DISCARD_READS 16     /* reads of discarded input per cut connection per turn */
#define FP_CTL_LINE_MAX 256         /* longest command line on the control FIFO */
#define FP_LOG_LINE_MAX 512         /* longest log line */
#define FP_THROTTLE_TICK_US 20000   /* a throttled write waits for this much credit */
#define FP_THROTTLE_BURST_DIV 10    /* bucket depth: rate / this (a tenth of a second) */
#define FP_LISTEN_BACKLOG 128

enum { FP_CLIENT = 0, FP_UPSTREAM = 1 };  /* index of conn.fd */
enum { FP_UP = 0, FP_DOWN = 1 };          /* index of conn.dir: dir d reads fd[d], writes fd[1-d] */

enum fp_state { FP_CONNECTING, FP_OPEN, FP_CUTTING, FP_DEAD };

struct fp_ring {
	uint8_t *buf;       /* FP_BUF_CAP bytes */
	size_t head;        /* offset of the oldest byte */
	size_t len;         /* bytes held */
};

struct fp_bucket {
	uint64_t rate;      /* bytes per second, 0 = unlimited */
	double tokens;      /* bytes that may be written now */
	double burst;       /* most credit that can build up */
	int64_t last_us;    /* when tokens were last topped up */
};

struct fp_dir {
	struct fp_ring ring;
	struct fp_bucket bucket;
	bool eof;           /* the source sent FIN */
	bool shut;          /* the FIN was passed on to the destination */
	uint64_t bytes;     /* forwarded so far */
};

struct fp_conn {
	unsigned id;
	enum fp_state state;
	int fd[2];                  /* FP_CLIENT, FP_UPSTREAM; -1 once closed */
	short revents[2];           /* from the last poll */
	bool drained[2];            /* cutting: this peer has ended its side */
	struct fp_dir dir[2];       /* FP_UP, FP_DOWN */
	int64_t deadline_us;        /* cutting: close hard at this time */
};

struct fp_opts {
	const char *listen, *upstream, *port_file, *ctl_path, *log_path;
	const char *cut_at;         /* "B,B,...", parsed by plan_cuts */
	uint64_t seed, cut_random, cut_span;
	uint64_t throttle[2];       /* FP_UP, FP_DOWN; 0 = unlimited */
	uint64_t buffer;            /* bytes held per direction per connection, <= FP_BUF_CAP */
	bool small_sockets;         /* --buffer given: kernel socket buffers that size too */
	bool cut_reset;
};

struct fp_proxy {
	struct fp_opts opt;
	int listen_fd;
	int ctl_fd;
	FILE *log;
	int64_t start_us;
	struct sockaddr_storage upstream;
	socklen_t upstream_len;
	struct fp_conn **conns;     /* owned */
	size_t nconns, capconns;
	unsigned next_id;
	uint64_t total;             /* bytes forwarded, all connections, both directions */
	uint64_t *cuts;             /* sorted, unique; owned */
	size_t ncuts, next_cut;
	bool paused;
	char ctl_line[FP_CTL_LINE_MAX];
	size_t ctl_len;
	bool ctl_overflow;
};

static volatile sig_atomic_t fp_sig_cut, fp_sig_stop;
static int fp_sig_pipe[2] = { -1, -1 };

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fp_log(struct fp_proxy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per event, prefixed with seconds since start; the log is line-buffered. */
static void fp_log(struct fp_proxy *p, const char *fmt, ...)
{
	char line[FP_LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(p->log, "%.3f %s\n", (double)(mono_us() - p->start_us) / 1e6, line);
}

static void on_signal(int sig)
{
	int saved = errno;
	char c = 0;
	ssize_t r;

	if (sig == SIGUSR1)
		fp_sig_cut = 1;
	else
		fp_sig_stop = 1;
	r = write(fp_sig_pipe[1], &c, 1);  /* wakes poll; a full pipe already will */
	(void)r;
	errno = saved;
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* Parses a decimal count with an optional binary suffix K, M or G. 0 or RW_EINVAL. */
static int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return RW_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return RW_EINVAL;
	if (*end == 'K' || *end == 'k')
		mult = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mult = 1024 * 1024 * 1024, end++;
	if (*end || v > UINT64_MAX / mult || v * mult < min || v * mult > max)
		return RW_EINVAL;
	*out = v * mult;
	return RW_OK;
}

/* Resolves "HOST:PORT" or "[V6]:PORT" into `ss`. 0 or RW_EINVAL. */
static int resolve(const char *spec, bool passive, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port;
	size_t hlen;
	struct addrinfo hints, *ai = NULL;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return RW_EINVAL;
		hlen = (size_t)(close - spec - 1);
		if (hlen >= sizeof host)
			return RW_EINVAL;
		memcpy(host, spec + 1, hlen);
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon)
			return RW_EINVAL;
		hlen = (size_t)(colon - spec);
		if (hlen >= sizeof host)
			return RW_EINVAL;
		memcpy(host, spec, hlen);
		port = colon + 1;
	}
	if (hlen == 0 || !*port)
		return RW_EINVAL;
	host[hlen] = '\0';

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return RW_EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return RW_OK;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, cap, "%s:%u", host, port);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* splitmix64: a small, well-mixed generator, so a seed always gives the same cut plan. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Builds the sorted, de-duplicated list of cut points from --cut-at and --cut-random. */
static int plan_cuts(struct fp_proxy *p)
{
	size_t cap = p->opt.cut_random, n = 0;
	char *list = NULL, *save = NULL, *tok;
	uint64_t state = p->opt.seed;

	if (p->opt.cut_at) {
		cap++;
		for (const char *c = p->opt.cut_at; *c; c++)
			cap += *c == ',';
	}
	if (cap == 0)
		return RW_OK;
	if (cap > FP_MAX_CUTS)
		return RW_ETOOBIG;
	p->cuts = calloc(cap, sizeof *p->cuts);
	if (!p->cuts)
		return RW_ENOMEM;
	if (p->opt.cut_at) {
		list = strdup(p->opt.cut_at);
		if (!list)
			return RW_ENOMEM;
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (parse_size(tok, 1, UINT64_MAX, &p->cuts[n]) != RW_OK) {
				free(list);
				return RW_EINVAL;
			}
			n++;
		}
		free(list);
	}
	for (uint64_t i = 0; i < p->opt.cut_random; i++)
		p->cuts[n++] = 1 + splitmix64(&state) % p->opt.cut_span;
	qsort(p->cuts, n, sizeof *p->cuts, cmp_u64);
	p->ncuts = 0;
	for (size_t i = 0; i < n; i++)
		if (p->ncuts == 0 || p->cuts[p->ncuts - 1] != p->cuts[i])
			p->cuts[p->ncuts++] = p->cuts[i];
	return RW_OK;
}

/* ---- ring buffer and token bucket ------------------------------------------------------- */

/* Fills `iov` with the free space of `r` (up to two pieces); returns the piece count. */
static int ring_space(struct fp_ring *r, struct iovec iov[2])
{
	size_t tail = (r->head + r->len) % FP_BUF_CAP;
	size_t free_len = FP_BUF_CAP - r->len;
	size_t first = FP_BUF_CAP - tail < free_len ? FP_BUF_CAP - tail : free_len;

	iov[0].iov_base = r->buf + tail;
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = free_len - first;
	return iov[1].iov_len ? 2 : 1;
}

/* Fills `iov` with at most `limit` of the bytes held in `r`; returns the piece count. */
static int ring_data(struct fp_ring *r, struct iovec iov[2], size_t limit)
{
	size_t len = r->len < limit ? r->len : limit;
	size_t first = FP_BUF_CAP - r->head < len ? FP_BUF_CAP - r->head : len;

	iov[0].iov_base = r->buf + r->head;
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = len - first;
	return iov[1].iov_len ? 2 : 1;
}

static void ring_consume(struct fp_ring *r, size_t n)
{
	r->head = (r->head + n) % FP_BUF_CAP;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
}

static void bucket_init(struct fp_bucket *b, uint64_t rate, int64_t now)
{
	b->rate = rate;
	b->burst = (double)rate / FP_THROTTLE_BURST_DIV;
	if (b->burst < 1)
		b->burst = 1;
	if (b->burst > FP_BUF_CAP)
		b->burst = FP_BUF_CAP;
	b->tokens = b->burst;
	b->last_us = now;
}

static void bucket_refill(struct fp_bucket *b, int64_t now)
{
	if (!b->rate)
		return;
	b->tokens += (double)(now - b->last_us) * (double)b->rate / 1e6;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_us = now;
}

/* The credit a write of `pending` bytes waits for: a tick's worth, so a throttled link sends
 * chunks rather than a byte per wake-up. */
static double bucket_want(const struct fp_bucket *b, size_t pending)
{
	double want = (double)b->rate * FP_THROTTLE_TICK_US / 1e6;

	if (want > b->burst)
		want = b->burst;
	if (want > (double)pending)
		want = (double)pending;
	return want < 1 ? 1 : want;
}

/* Bytes of `pending` the bucket lets through now; 0 means wait (see bucket_wait_us). */
static size_t bucket_allow(const struct fp_bucket *b, size_t pending)
{
	if (!b->rate)
		return pending;
	if (b->tokens < bucket_want(b, pending))
		return 0;
	return b->tokens < (double)pending ? (size_t)b->tokens : pending;
}

static int64_t bucket_wait_us(const struct fp_bucket *b, size_t pending)
{
	double missing = bucket_want(b, pending) - b->tokens;

	return missing <= 0 ? 0 : (int64_t)(missing * 1e6 / (double)b->rate) + 1;
}

/* ---- connections ------------------------------------------------------------------------ */

static uint64_t cut_budget(const struct fp_proxy *p)
{
	return p->next_cut < p->ncuts ? p->cuts[p->next_cut] - p->total : UINT64_MAX;
}

static void conn_close_fds(struct fp_conn *c, bool reset)
{
	for (int side = 0; side < 2; side++) {
		if (c->fd[side] < 0)
			continue;
		if (reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(c->fd[side], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		close(c->fd[side]);
		c->fd[side] = -1;
	}
	c->state = FP_DEAD;
}

/* Closes both sides now (with RST when `reset`); the connection is freed by the loop, never
 * inside its own turn. */
static void conn_close(struct fp_proxy *p, struct fp_conn *c, const char *reason, bool reset)
{
	fp_log(p, "close conn=%u reason=%s up=%" PRIu64 " down=%" PRIu64 " total=%" PRIu64,
	       c->id, reason, c->dir[FP_UP].bytes, c->dir[FP_DOWN].bytes, p->total);
	conn_close_fds(c, reset);
}

/* Cuts a connection: see the file comment for what each peer sees. */
static void conn_cut(struct fp_proxy *p, struct fp_conn *c, const char *reason)
{
	fp_log(p, "cut conn=%u reason=%s total=%" PRIu64 " up=%" PRIu64 " down=%" PRIu64 "%s",
	       c->id, reason, p->total, c->dir[FP_UP].bytes, c->dir[FP_DOWN].bytes,
	       p->opt.cut_reset ? " mode=reset" : "");
	if (p->opt.cut_reset || c->state == FP_CONNECTING) {
		conn_close(p, c, "cut-reset", true);
		return;
	}
	for (int side = 0; side < 2; side++)
		shutdown(c->fd[side], SHUT_WR);
	c->state = FP_CUTTING;
	c->deadline_us = mono_us() + (int64_t)FP_CUT_DRAIN_MS * 1000;
}

static void cut_all(struct fp_proxy *p, const char *reason)
{
	size_t live = 0;

	for (size_t i = 0; i < p->nconns; i++) {
		struct fp_conn *c = p->conns[i];
		if (c->state == FP_OPEN || c->state == FP_CONNECTING) {
			conn_cut(p, c, reason);
			live++;
		}
	}
	if (live == 0)
		fp_log(p, "cut reason=%s live=0", reason);
}

static void conn_free(struct fp_conn *c)
{
	if (!c)
		return;
	conn_close_fds(c, false);
	free(c->dir[FP_UP].ring.buf);
	free(c->dir[FP_DOWN].ring.buf);
	free(c);
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* --buffer: the kernel's socket buffers no larger than the proxy's own, so that what a
 * throttled peer has yet to read is not megabytes of autotuned buffer (a resync event queued
 * behind them would take minutes to arrive at 10 KiB/s). Set before connect / listen, when
 * the window scale is chosen. */
static void set_small_buffers(const struct fp_proxy *p, int fd)
{
	int size = (int)p->opt.buffer;

	if (!p->opt.small_sockets)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/* Trims iov[0..cnt) to at most `max` bytes in all; returns the count still in use. */
static int iov_limit(struct iovec *iov, int cnt, size_t max)
{
	int i;

	for (i = 0; i < cnt && max; i++) {
		if (iov[i].iov_len > max)
			iov[i].iov_len = max;
		max -= iov[i].iov_len;
	}
	return i;
}

/* Starts forwarding for an accepted client: allocates the connection and connects upstream.
 * Takes ownership of `cfd`. 0, or a negative RW_E code (the client is closed). */
static int conn_open(struct fp_proxy *p, int cfd, unsigned id)
{
	struct fp_conn *c = NULL;
	struct fp_conn **grown;
	int64_t now = mono_us();
	int ufd;

	if (p->nconns == p->capconns) {
		size_t cap = p->capconns ? p->capconns * 2 : 16;
		grown = realloc(p->conns, cap * sizeof *grown);
		if (!grown)
			goto oom;
		p->conns = grown;
		p->capconns = cap;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		goto oom;
	c->id = id;
	c->fd[FP_CLIENT] = cfd;
	c->fd[FP_UPSTREAM] = -1;
	for (int d = 0; d < 2; d++) {
		c->dir[d].ring.buf = malloc(FP_BUF_CAP);
		if (!c->dir[d].ring.buf)
			goto oom;
		bucket_init(&c->dir[d].bucket, p->opt.throttle[d], now);
	}

	ufd = socket(p->upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ufd < 0) {
		fp_log(p, "upstream-error conn=%u err=%s", id, strerror(errno));
		conn_free(c);
		return RW_EIO;
	}
	c->fd[FP_UPSTREAM] = ufd;
	set_nodelay(cfd);
	set_nodelay(ufd);
	set_small_buffers(p, ufd);
	if (connect(ufd, (struct sockaddr *)&p->upstream, p->upstream_len) == 0) {
		c->state = FP_OPEN;
	} else if (errno == EINPROGRESS) {
		c->state = FP_CONNECTING;
	} else {
		fp_log(p, "upstream-error conn=%u err=%s", id, strerror(errno));
		conn_free(c);
		return RW_EIO;
	}
	p->conns[p->nconns++] = c;
	return RW_OK;

oom:
	fp_log(p, "refuse conn=%u reason=out-of-memory", id);
	if (c)
		conn_free(c);
	else
		close(cfd);
	return RW_ENOMEM;
}

static void accept_all(struct fp_proxy *p)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		char peer[INET6_ADDRSTRLEN + 8];
		unsigned id;
		int cfd;

		cfd = accept4(p->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fp_log(p, "accept-error err=%s", strerror(errno));
			return;
		}
		id = ++p->next_id;
		format_addr(&ss, peer, sizeof peer);
		if (p->paused) {
			fp_log(p, "refuse conn=%u peer=%s reason=paused", id, peer);
			close(cfd);
			continue;
		}
		fp_log(p, "accept conn=%u peer=%s", id, peer);
		conn_open(p, cfd, id);
	}
}

/* Moves the bytes of one direction: reads what the source offers while there is room, then
 * writes what the bucket and the cut plan allow, then passes on a FIN once all is written.
 * Returns 0, or RW_EIO with `why` set when the connection broke (the caller closes it). */
static int dir_pump(struct fp_proxy *p, struct fp_conn *c, int d, char *why, size_t whycap)
{
	static const char *const side_name[2] = { "client", "upstream" };
	struct fp_dir *dir = &c->dir[d];
	int src = c->fd[d], dst = c->fd[1 - d];
	short rin = c->revents[d], rout = c->revents[1 - d];
	bool fresh = false;
	struct iovec iov[2];
	ssize_t n;

	if (!dir->eof && dir->ring.len < p->opt.buffer && (rin & (POLLIN | POLLHUP | POLLERR))) {
		n = readv(src, iov, iov_limit(iov, ring_space(&dir->ring, iov),
					      (size_t)p->opt.buffer - dir->ring.len));
		if (n > 0) {
			dir->ring.len += (size_t)n;
			fresh = true;
		} else if (n == 0) {
			dir->eof = true;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(why, whycap, "%s-read:%s", side_name[d], strerror(errno));
			return RW_EIO;
		}
	}

	if (dir->ring.len > 0 && (fresh || (rout & (POLLOUT | POLLHUP | POLLERR)))) {
		size_t allow = bucket_allow(&dir->bucket, dir->ring.len);
		uint64_t budget = cut_budget(p);

		if (allow > budget)
			allow = (size_t)budget;
		if (allow > 0) {
			n = writev(dst, iov, ring_data(&dir->ring, iov, allow));
			if (n > 0) {
				ring_consume(&dir->ring, (size_t)n);
				if (dir->bucket.rate)
					dir->bucket.tokens -= (double)n;
				dir->bytes += (uint64_t)n;
				p->total += (uint64_t)n;
				if (p->next_cut < p->ncuts && p->total >= p->cuts[p->next_cut]) {
					p->next_cut++;
					conn_cut(p, c, "cut-at");
					return RW_OK;
				}
			} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				snprintf(why, whycap, "%s-write:%s", side_name[1 - d], strerror(errno));
				return RW_EIO;
			}
		}
	}

	if (dir->eof && dir->ring.len == 0 && !dir->shut) {
		shutdown(dst, SHUT_WR);
		dir->shut = true;
	}
	return RW_OK;
}

/* After a cut: throw away what the peers still send, close when both send queues are empty. */
static void conn_service_cutting(struct fp_proxy *p, struct fp_conn *c, int64_t now)
{
	static uint8_t discard[64 * 1024];
	int queued = 0;

	for (int side = 0; side < 2; side++) {
		if (c->drained[side] || !(c->revents[side] & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (int i = 0; i < FP_CUT_DISCARD_READS; i++) {
			ssize_t n = read(c->fd[side], discard, sizeof discard);
			if (n > 0)
				continue;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
				c->drained[side] = true;
			break;
		}
	}
	for (int side = 0; side < 2; side++) {
		int outq = 0;
		if (ioctl(c->fd[side], SIOCOUTQ, &outq) == 0 && outq > 0)
			queued += outq;
	}
	if (queued == 0)
		conn_close(p, c, "cut", false);
	else if (now >= c->deadline_us)
		conn_close(p, c, "cut-drain-timeout", false);
}

static void conn_service(struct fp_proxy *p, struct fp_conn *c, int64_t now)
{
	char why[160];

	switch (c->state) {
	case FP_DEAD:
		return;
	case FP_CUTTING:
		conn_service_cutting(p, c, now);
		return;
	case FP_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof err;

		if (!(c->revents[FP_UPSTREAM] & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(c->fd[FP_UPSTREAM], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			fp_log(p, "upstream-error conn=%u err=%s", c->id, strerror(err));
			conn_close_fds(c, false);
			return;
		}
		c->state = FP_OPEN;
		c->revents[FP_UPSTREAM] = POLLOUT;
		c->revents[FP_CLIENT] = POLLIN;  /* try the client at once; EAGAIN is harmless */
		break;
	}
	case FP_OPEN:
		break;
	}
	if (p->paused)
		return;
	for (int d = 0; d < 2 && c->state == FP_OPEN; d++) {
		if (dir_pump(p, c, d, why, sizeof why) != RW_OK) {
			conn_close(p, c, why, false);
			return;
		}
	}
	if (c->state == FP_OPEN && c->dir[FP_UP].shut && c->dir[FP_DOWN].shut)
		conn_close(p, c, "eof", false);
}

/* The poll events a connection wants on one side now. */
static short conn_events(const struct fp_proxy *p, const struct fp_conn *c, int side)
{
	const struct fp_dir *in = &c->dir[side], *out = &c->dir[1 - side];
	short ev = 0;

	switch (c->state) {
	case FP_DEAD:
		return 0;
	case FP_CONNECTING:
		return side == FP_UPSTREAM ? POLLOUT : 0;
	case FP_CUTTING:
		return c->drained[side] ? 0 : POLLIN;
	case FP_OPEN:
		break;
	}
	if (p->paused)
		return 0;
	if (!in->eof && in->ring.len < p->opt.buffer)
		ev |= POLLIN;
	if (out->ring.len > 0 && bucket_allow(&out->bucket, out->ring.len) > 0)
		ev |= POLLOUT;
	return ev;
}

/* Milliseconds until some connection needs a turn without an event (-1: none). */
static int conn_timeout_ms(const struct fp_proxy *p, const struct fp_conn *c, int64_t now)
{
	int64_t wait_us = -1;

	if (c->state == FP_CUTTING) {
		wait_us = c->deadline_us - now;
		if (wait_us < 0)
			wait_us = 0;
		if (wait_us > (int64_t)FP_CUT_POLL_MS * 1000)
			wait_us = (int64_t)FP_CUT_POLL_MS * 1000;
	} else if (c->state == FP_OPEN && !p->paused) {
		for (int d = 0; d < 2; d++) {
			const struct fp_dir *dir = &c->dir[d];
			if (dir->ring.len == 0 || !dir->bucket.rate ||
			    bucket_allow(&dir->bucket, dir->ring.len) > 0)
				continue;
			int64_t w = bucket_wait_us(&dir->bucket, dir->ring.len);
			if (wait_us < 0 || w < wait_us)
				wait_us = w;
		}
	}
	if (wait_us < 0)
		return -1;
	return (int)((wait_us + 999) / 1000);
}

static void reap(struct fp_proxy *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->nconns; i++) {
		if (p->conns[i]->state == FP_DEAD)
			conn_free(p->conns[i]);
		else
			p->conns[kept++] = p->conns[i];
	}
	p->nconns = kept;
}

/* ---- control ---------------------------------------------------------------------------- */

static void ctl_run(struct fp_proxy *p, char *line)
{
	size_t len = strlen(line);

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (len == 0)
		return;
	if (strcmp(line, "cut") == 0) {
		cut_all(p, "fifo");
	} else if (strcmp(line, "pause") == 0) {
		p->paused = true;
		fp_log(p, "pause live=%zu", p->nconns);
	} else if (strcmp(line, "resume") == 0) {
		p->paused = false;
		fp_log(p, "resume live=%zu", p->nconns);
	} else {
		fp_log(p, "control-unknown line=%.64s", line);
	}
}

static void ctl_read(struct fp_proxy *p)
{
	char buf[512];
	ssize_t n;

	while ((n = read(p->ctl_fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				p->ctl_line[p->ctl_len] = '\0';
				if (p->ctl_overflow)
					fp_log(p, "control-unknown line=too-long");
				else
					ctl_run(p, p->ctl_line);
				p->ctl_len = 0;
				p->ctl_overflow = false;
			} else if (p->ctl_len < FP_CTL_LINE_MAX - 1) {
				p->ctl_line[p->ctl_len++] = buf[i];
			} else {
				p->ctl_overflow = true;
			}
		}
	}
}

/* Opens (creating it if needed) the control FIFO read-write, so that writers coming and going
 * never make it report EOF. Returns the fd or -1. */
static int ctl_open(const char *path)
{
	struct stat st;

	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		return -1;
	if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

/* ---- set-up and the loop ---------------------------------------------------------------- */

static int listen_on(struct fp_proxy *p, unsigned *port_out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (resolve(p->opt.listen, true, &ss, &len) != RW_OK) {
		fprintf(stderr, "faultproxy: cannot resolve --listen %s\n", p->opt.listen);
		return RW_EINVAL;
	}
	p->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->listen_fd >= 0)
		set_small_buffers(p, p->listen_fd);   /* accepted sockets inherit them */
	if (p->listen_fd < 0 ||
	    setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(p->listen_fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(p->listen_fd, FP_LISTEN_BACKLOG) < 0) {
		fprintf(stderr, "faultproxy: listen on %s: %s\n", p->opt.listen, strerror(errno));
		return RW_EIO;
	}
	len = sizeof ss;
	if (getsockname(p->listen_fd, (struct sockaddr *)&ss, &len) < 0)
		return RW_EIO;
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	return RW_OK;
}

/* Writes "PORT\n" to `path` through a temporary file and rename(), so a reader never sees a
 * half-written port. */
static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096], text[16];
	int fd, len;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
		return RW_EINVAL;
	len = snprintf(text, sizeof text, "%u\n", port);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return RW_EIO;
	if (write(fd, text, (size_t)len) != len || close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return RW_EIO;
	}
	return RW_OK;
}

static int install_signals(void)
{
	struct sigaction sa;

	if (pipe2(fp_sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return RW_EIO;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return RW_OK;
}

static int run(struct fp_proxy *p)
{
	struct pollfd *pfds = NULL;
	size_t cap = 0;
	int rc = RW_OK;

	while (!fp_sig_stop) {
		int64_t now = mono_us();
		size_t npolled = p->nconns, n = 3;
		int timeout = -1;

		if (cap < 3 + 2 * npolled) {
			struct pollfd *grown = realloc(pfds, (3 + 2 * npolled) * sizeof *pfds);
			if (!grown) {
				rc = RW_ENOMEM;
				break;
			}
			pfds = grown;
			cap = 3 + 2 * npolled;
		}
		pfds[0] = (struct pollfd){ .fd = fp_sig_pipe[0], .events = POLLIN };
		pfds[1] = (struct pollfd){ .fd = p->listen_fd, .events = POLLIN };
		pfds[2] = (struct pollfd){ .fd = p->ctl_fd, .events = POLLIN };
		for (size_t i = 0; i < npolled; i++) {
			struct fp_conn *c = p->conns[i];
			for (int d = 0; d < 2; d++)
				bucket_refill(&c->dir[d].bucket, now);
			for (int side = 0; side < 2; side++) {
				short ev = conn_events(p, c, side);
				pfds[n++] = (struct pollfd){ .fd = ev ? c->fd[side] : -1, .events = ev };
			}
			int t = conn_timeout_ms(p, c, now);
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}

		if (poll(pfds, n, timeout) < 0) {
			if (errno != EINTR) {
				fp_log(p, "poll-error err=%s", strerror(errno));
				rc = RW_EIO;
				break;
			}
			for (size_t i = 0; i < n; i++)
				pfds[i].revents = 0;
		}
		if (pfds[0].revents & POLLIN) {
			char sink[64];
			while (read(fp_sig_pipe[0], sink, sizeof sink) > 0)
				;
		}
		for (size_t i = 0; i < npolled; i++)
			for (int side = 0; side < 2; side++)
				p->conns[i]->revents[side] = pfds[3 + 2 * i + (size_t)side].revents;
		if (fp_sig_cut) {
			fp_sig_cut = 0;
			cut_all(p, "signal");
		}
		if (pfds[2].revents & POLLIN)
			ctl_read(p);

		now = mono_us();
		for (size_t i = 0; i < npolled; i++) {
			for (int d = 0; d < 2; d++)
				bucket_refill(&p->conns[i]->dir[d].bucket, now);
			conn_service(p, p->conns[i], now);
		}
		if (pfds[1].revents & POLLIN)
			accept_all(p);
		reap(p);
	}
	free(pfds);
	return rc;
}

static void usage(FILE *out)
{
	fputs("usage: faultproxy --upstream HOST:PORT [--listen HOST:PORT] [--port-file FILE]\n"
	      "                  [--seed N] [--cut-random N --cut-span BYTES] [--cut-at B,B,...]\n"
	      "                  [--cut-reset] [--throttle-up BPS] [--throttle-down BPS]\n"
	      "                  [--buffer BYTES]\n"
	      "                  [--control-fifo PATH] [--log FILE]\n"
	      "\n"
	      "Forwards every connection on --listen (default 127.0.0.1:0) to --upstream.\n"
	      "  --port-file FILE     write the bound port here (atomically) once listening\n"
	      "  --cut-at B,...       cut the connection that makes the byte total reach B\n"
	      "                       (total over all connections, both directions; exact)\n"
	      "  --cut-random N       add N cut points drawn from --seed (default 1) in\n"
	      "  --cut-span BYTES     [1, BYTES]\n"
	      "  --cut-reset          cut with RST (in-flight bytes lost) instead of FIN\n"
	      "  --throttle-up BPS    client -> upstream bytes/second, per connection\n"
	      "  --throttle-down BPS  upstream -> client bytes/second, per connection\n"
	      "  --buffer BYTES       hold at most BYTES per direction per connection (default\n"
	      "                       and most 256K), with kernel socket buffers that size\n"
	      "  --control-fifo PATH  read commands, one a line: cut | pause | resume\n"
	      "                       (paused: nothing forwarded, new connections closed)\n"
	      "  --log FILE           event log (default stderr)\n"
	      "Sizes take a K, M or G suffix. SIGUSR1 cuts every live connection; SIGTERM exits.\n",
	      out);
}

static int parse_args(struct fp_opts *o, int argc, char **argv)
{
	enum { O_LISTEN = 256, O_UPSTREAM, O_PORT_FILE, O_SEED, O_CUT_RANDOM, O_CUT_SPAN, O_CUT_AT,
	       O_CUT_RESET, O_THR_UP, O_THR_DOWN, O_BUFFER, O_CTL, O_LOG, O_HELP };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "upstream", required_argument, NULL, O_UPSTREAM },
		{ "port-file", required_argument, NULL, O_PORT_FILE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "cut-random", required_argument, NULL, O_CUT_RANDOM },
		{ "cut-span", required_argument, NULL, O_CUT_SPAN },
		{ "cut-at", required_argument, NULL, O_CUT_AT },
		{ "cut-reset", no_argument, NULL, O_CUT_RESET },
		{ "throttle-up", required_argument, NULL, O_THR_UP },
		{ "throttle-down", required_argument, NULL, O_THR_DOWN },
		{ "buffer", required_argument, NULL, O_BUFFER },
		{ "control-fifo", required_argument, NULL, O_CTL },
		{ "log", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int opt, bad = 0;

	o->listen = "127.0.0.1:0";
	o->seed = 1;
	o->buffer = FP_BUF_CAP;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_LISTEN: o->listen = optarg; break;
		case O_UPSTREAM: o->upstream = optarg; break;
		case O_PORT_FILE: o->port_file = optarg; break;
		case O_SEED: bad |= parse_size(optarg, 0, UINT64_MAX, &o->seed); break;
		case O_CUT_RANDOM: bad |= parse_size(optarg, 0, FP_MAX_CUTS, &o->cut_random); break;
		case O_CUT_SPAN: bad |= parse_size(optarg, 1, UINT64_MAX, &o->cut_span); break;
		case O_CUT_AT: o->cut_at = optarg; break;
		case O_CUT_RESET: o->cut_reset = true; break;
		case O_THR_UP: bad |= parse_size(optarg, 1, UINT64_MAX, &o->throttle[FP_UP]); break;
		case O_THR_DOWN: bad |= parse_size(optarg, 1, UINT64_MAX, &o->throttle[FP_DOWN]); break;
		case O_BUFFER:
			bad |= parse_size(optarg, 1, FP_BUF_CAP, &o->buffer);
			o->small_sockets = true;
			break;
		case O_CTL: o->ctl_path = optarg; break;
		case O_LOG: o->log_path = optarg; break;
		case O_HELP: usage(stdout); exit(0);
		default: bad = 1; break;
		}
	}
	if (optind != argc || !o->upstream || (o->cut_random && !o->cut_span))
		bad = 1;
	return bad ? RW_EINVAL : RW_OK;
}

int main(int argc, char **argv)
{
	struct fp_proxy p;
	unsigned port = 0;
	int rc;

	memset(&p, 0, sizeof p);
	p.listen_fd = p.ctl_fd = -1;
	p.start_us = mono_us();
	p.log = stderr;
	if (parse_args(&p.opt, argc, argv) != RW_OK) {
		usage(stderr);
		return 2;
	}
	if (p.opt.log_path && !(p.log = fopen(p.opt.log_path, "a"))) {
		fprintf(stderr, "faultproxy: %s: %s\n", p.opt.log_path, strerror(errno));
		return 1;
	}
	setvbuf(p.log, NULL, _IOLBF, 0);
	rc = plan_cuts(&p);
	if (rc != RW_OK) {
		fprintf(stderr, "faultproxy: bad cut plan: %s\n",
			rc == RW_ETOOBIG ? "more than FP_MAX_CUTS points" :
			rc == RW_ENOMEM ? "out of memory" : "not a byte count");
		goto out;
	}
	if (resolve(p.opt.upstream, false, &p.upstream, &p.upstream_len) != RW_OK) {
		fprintf(stderr, "faultproxy: cannot resolve --upstream %s\n", p.opt.upstream);
		rc = RW_EINVAL;
		goto out;
	}
	if (p.opt.ctl_path && (p.ctl_fd = ctl_open(p.opt.ctl_path)) < 0) {
		fprintf(stderr, "faultproxy: %s: %s\n", p.opt.ctl_path, strerror(errno));
		rc = RW_EIO;
		goto out;
	}
	if ((rc = install_signals()) != RW_OK || (rc = listen_on(&p, &port)) != RW_OK)
		goto out;
	for (size_t i = 0; i < p.ncuts; i++)
		fp_log(&p, "plan cut-at=%" PRIu64, p.cuts[i]);
	fp_log(&p, "listen port=%u upstream=%s cuts=%zu throttle-up=%" PRIu64
	       " throttle-down=%" PRIu64, port, p.opt.upstream, p.ncuts, p.opt.throttle[FP_UP],
	       p.opt.throttle[FP_DOWN]);
	if (p.opt.port_file && (rc = write_port_file(p.opt.port_file, port)) != RW_OK) {
		fprintf(stderr, "faultproxy: %s: %s\n", p.opt.port_file, strerror(errno));
		goto out;
	}
	rc = run(&p);
	for (size_t i = 0; i < p.nconns; i++)
		if (p.conns[i]->state != FP_DEAD)
			conn_close(&p, p.conns[i], "exit", false);
	fp_log(&p, "exit total=%" PRIu64, p.total);
out:
	for (size_t i = 0; i < p.nconns; i++)
		conn_free(p.conns[i]);
	free(p.conns);
	free(p.cuts);
	if (p.listen_fd >= 0)
		close(p.listen_fd);
	if (p.ctl_fd >= 0)
		close(p.ctl_fd);
	for (int i = 0; i < 2; i++)
		if (fp_sig_pipe[i] >= 0)
			close(fp_sig_pipe[i]);
	if (p.log != stderr)
		fclose(p.log);
	return rc == RW_OK ? 0 : 1;
}
