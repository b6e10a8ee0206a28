/* listener.c: control's front door. It accepts TCP connections itself, reads each request
 * head strictly (httphead.c) and hands the connection to libwebsockets, because lws 4.1
 * (Debian 12) refuses a WebSocket upgrade whose Sec-WebSocket-Protocol list is longer than
 * 127 bytes, and the seed's browser contract (`Sec-WebSocket-Protocol: bearer, <session
 * JWT>`) is about 300. Such a head is consumed and given to lws rewritten, every other line
 * kept byte for byte; any other head is only peeked at (MSG_PEEK) and lws reads it itself.
 *
 * Because every connection starts here, so do the limits on them: connections at once
 * overall and per client address, a table of connections whose head is still arriving
 * (full: the longest idle one goes), and no busy loop when descriptors run out.
 * See docs/architecture.md, "The front door", and docs/security.md, "Abuse limits".
 */
#include "control/control.h"
#include "control/httphead.h"
#include "common/log.h"
#include "common/rw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTENER_BACKLOG 1024
#define LISTENER_MAX_PENDING 256           /* connections whose head is still arriving */
#define LISTENER_HEAD_TIMEOUT_MS 10000     /* a whole head within this, however it is cut */
#define LISTENER_POLL_MS 5
#define LISTENER_ACCEPT_BATCH 64           /* accepts per wakeup, so the loop stays fair */
#define LISTENER_FULL_PAUSE_MS 100         /* listen socket ignored after EMFILE / ENFILE */
#define LISTENER_CLIENT_BUCKETS 1024
#define LISTENER_DRAIN_MAX (64u << 10)     /* read before a refusal, so it is not lost to RST */
#define LISTENER_LOG_EVERY_MS 10000        /* refusals are counted, and logged this often */
#define LISTENER_MAX_LINGER 32             /* refused connections drained before their close */
#define LISTENER_LINGER_MS 2000
#define LISTENER_MAX_SOCKS 2               /* the public listener and --internal-listen */

/* One client address, with the connections it holds (pending or handed to lws). */
struct client {
	struct client *next;
	uint8_t addr[16];          /* IPv6, or IPv4-mapped */
	uint32_t conns;
};

struct pending_conn {
	int fd;
	int internal;              /* from --internal-listen: plain HTTP only */
	struct client *cl;
	int64_t deadline_ms;
	int64_t last_rx_ms;        /* when more of its head last arrived */
	size_t peeked;             /* bytes seen at the last look */
};

/* A refused connection, answered and half-closed: what the client still sends is read and
 * dropped until it closes too, so that our close is not a reset that discards the answer. */
struct lingering {
	int fd;
	int64_t until_ms;
};

struct refusals {
	uint64_t bad_head, busy, per_client, evicted, timed_out, out_of_fds;
};

/* A listening socket. Connections from each go to its vhost; the limits below are shared,
 * because descriptors are. */
struct listen_sock {
	int fd;
	struct lws *wsi;           /* the socket adopted as a raw file, NULL once closed */
	struct sockaddr_storage addr;  /* where it is bound */
};

static struct {
	struct control *ctl;
	struct listen_sock socks[LISTENER_MAX_SOCKS];
	size_t n_socks;
	int paused;                /* after EMFILE: the listen sockets are not polled */
	size_t max_conns, max_per_client;
	size_t n_conns;            /* handed to lws and not yet destroyed */
	struct pending_conn pending[LISTENER_MAX_PENDING];
	size_t n_pending;
	struct lingering linger[LISTENER_MAX_LINGER];
	size_t n_linger;
	int poll_scheduled;
	struct client *clients[LISTENER_CLIENT_BUCKETS];
	struct refusals refused, logged;
	int64_t last_log_ms;
	lws_sorted_usec_list_t sul, sul_resume;
	char head[HTTPHEAD_MAX_HEAD + 1];
	char out[HTTPHEAD_MAX_HEAD + 64];
	struct httphead h;
} L;

/* ---- client addresses ---- */

static void addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static size_t addr_bucket(const uint8_t key[16])
{
	uint32_t h = 2166136261u;  /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % LISTENER_CLIENT_BUCKETS;
}

/* The entry for a client address, made when absent. NULL on ENOMEM. */
static struct client *client_get(const struct sockaddr_storage *ss)
{
	uint8_t key[16];
	struct client *c;

	addr_key(ss, key);
	for (c = L.clients[addr_bucket(key)]; c; c = c->next)
		if (!memcmp(c->addr, key, 16))
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c->addr, key, 16);
	c->next = L.clients[addr_bucket(key)];
	L.clients[addr_bucket(key)] = c;
	return c;
}

/* One connection of `c` has gone (each was counted in admit()); the entry goes with its
 * last one. */
static void client_put(struct client *c)
{
	struct client **pp;

	if (c->conns && --c->conns)
		return;
	for (pp = &L.clients[addr_bucket(c->addr)]; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
}

/* ---- refusals ---- */

static void log_refusals(int64_t now)
{
	if (now - L.last_log_ms < LISTENER_LOG_EVERY_MS ||
	    !memcmp(&L.refused, &L.logged, sizeof(L.refused)))
		return;
	L.last_log_ms = now;
	log_warn("front_door_refusals", "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		 "bad_head", (json_int_t)L.refused.bad_head, "busy", (json_int_t)L.refused.busy,
		 "per_client", (json_int_t)L.refused.per_client,
		 "evicted_idle", (json_int_t)L.refused.evicted,
		 "head_timeout", (json_int_t)L.refused.timed_out,
		 "out_of_descriptors", (json_int_t)L.refused.out_of_fds,
		 "connections", (json_int_t)L.n_conns, "pending", (json_int_t)L.n_pending);
	L.logged = L.refused;
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	default: return "Service Unavailable";
	}
}

/* A short response that closes the connection. Into `buf`; its length. */
static size_t format_refusal(char *buf, size_t cap, int status, const char *reason)
{
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s\n",
			 status, status_text(status), strlen(reason) + 1,
			 status == 429 || status == 503 ? "Retry-After: 1\r\n" : "", reason);
	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static void schedule_poll(void);

/* Reads and drops what a refused client still sends. 1 once it has closed (or failed). */
static int drain(int fd)
{
	size_t drained = 0;
	ssize_t r;

	while (drained < LISTENER_DRAIN_MAX &&
	       (r = recv(fd, L.head, HTTPHEAD_MAX_HEAD, MSG_DONTWAIT)) > 0)
		drained += (size_t)r;
	return drained < LISTENER_DRAIN_MAX && !(r < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Answers and closes a connection lws never saw. A close with unread bytes in the socket is
 * a reset, and a reset makes the client's kernel discard the answer it has not read yet, so
 * the connection is half-closed and drained for a while first (a lingering close). */
static void refuse_fd(int fd, int status, const char *reason)
{
	char resp[512];
	size_t n = format_refusal(resp, sizeof(resp), status, reason);

	(void)!drain(fd);
	(void)!send(fd, resp, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	if (L.n_linger == LISTENER_MAX_LINGER) {
		close(fd);
		return;
	}
	L.linger[L.n_linger++] = (struct lingering){ fd, rw_now_ms() + LISTENER_LINGER_MS };
	schedule_poll();
}

void listener_refuse_upgrade(struct lws *wsi, int status, const char *reason)
{
	char resp[512];
	size_t n = format_refusal(resp, sizeof(resp), status, reason);
	int fd = (int)lws_get_socket_fd(wsi);

	if (fd >= 0)
		(void)!send(fd, resp, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ---- handing over ---- */

/* Gives the connection to lws; `readbuf` (NULL: none) replaces the head consumed from the
 * socket. The client's count now drops when lws destroys the connection. */
static void hand_over(struct pending_conn *pc, const char *readbuf, size_t len)
{
	/* With a head given, lws serves it inside this call. Either way it returns NULL when it
	 * closed the connection (its destroy callback then found no client to release), and the
	 * client is attached only to a connection known to live. */
	struct lws *wsi = readbuf ? lws_adopt_socket_vhost_readbuf(L.ctl->vh, pc->fd, readbuf, len)
				  : lws_adopt_socket_vhost(L.ctl->vh, pc->fd);

	if (!wsi) {
		client_put(pc->cl);
		return;
	}
	lws_set_opaque_user_data(wsi, pc->cl);
	L.n_conns++;
}

static struct listen_sock *sock_of(struct lws *wsi)
{
	for (size_t i = 0; i < L.n_socks; i++)
		if (L.socks[i].wsi == wsi)
			return &L.socks[i];
	return NULL;
}

void listener_connection_closed(struct lws *wsi)
{
	struct client *c = lws_get_opaque_user_data(wsi);

	if (!c || sock_of(wsi))
		return;
	lws_set_opaque_user_data(wsi, NULL);
	L.n_conns--;
	client_put(c);
}

/* Whether a parsed head asks for a protocol upgrade. */
static int has_upgrade(const struct httphead *h, const char *buf)
{
	for (size_t i = 0; i < h->n_fields; i++)
		if (h->fields[i].name_len == 7 && !strncasecmp(buf + h->fields[i].name, "upgrade", 7))
			return 1;
	return 0;
}

/* Looks at what has arrived. Returns 1 when the connection was handed over or closed,
 * 0 when its head is still incomplete. */
static int sniff(struct pending_conn *pc, int64_t now)
{
	ssize_t n = recv(pc->fd, L.head, HTTPHEAD_MAX_HEAD, MSG_PEEK);
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close(pc->fd);
		client_put(pc->cl);
		return 1;
	}
	if ((size_t)n == pc->peeked)
		return 0;  /* nothing new since the last look */
	pc->peeked = (size_t)n;
	pc->last_rx_ms = now;
	r = httphead_parse(&L.h, L.head, (size_t)n);
	if (r == 0)
		return 0;
	if (r > 0 && pc->internal && has_upgrade(&L.h, L.head)) {
		/* no viewer or agent comes in by the internal port: its token is the scaler's */
		L.refused.bad_head++;
		refuse_fd(pc->fd, 403, "the internal listener serves plain HTTP only");
		client_put(pc->cl);
		return 1;
	}
	if (r > 0)
		r = httphead_rewrite_bearer(&L.h, L.head, L.out, sizeof(L.out));
	if (r < 0) {
		L.refused.bad_head++;
		refuse_fd(pc->fd, L.h.status, L.h.errstr);
		client_put(pc->cl);
		return 1;
	}
	if (r == 0) {
		hand_over(pc, NULL, 0);  /* the common case: lws reads the head itself */
		return 1;
	}
	/* consume exactly the head; whatever follows it stays in the socket for lws */
	if (recv(pc->fd, L.head, L.h.head_len, 0) != (ssize_t)L.h.head_len) {
		close(pc->fd);
		client_put(pc->cl);
		return 1;
	}
	hand_over(pc, L.out, (size_t)r);
	return 1;
}

/* ---- the pending table ---- */

/* Closes the pending connection that has waited longest since its last byte. 1 if one was
 * closed. A slow client that keeps sending stays; one that went quiet makes room. */
static int evict_idle(void)
{
	size_t victim = 0;

	if (!L.n_pending)
		return 0;
	for (size_t i = 1; i < L.n_pending; i++)
		if (L.pending[i].last_rx_ms < L.pending[victim].last_rx_ms)
			victim = i;
	close(L.pending[victim].fd);
	client_put(L.pending[victim].cl);
	L.pending[victim] = L.pending[--L.n_pending];
	L.refused.evicted++;
	return 1;
}

static void on_poll(lws_sorted_usec_list_t *sul)
{
	int64_t now = rw_now_ms();
	size_t w = 0;

	(void)sul;
	L.poll_scheduled = 0;
	for (size_t i = 0; i < L.n_linger; i++)
		if (drain(L.linger[i].fd) || now > L.linger[i].until_ms) {
			close(L.linger[i].fd);
			L.linger[i--] = L.linger[--L.n_linger];
		}
	for (size_t i = 0; i < L.n_pending; i++) {
		struct pending_conn *pc = &L.pending[i];
		if (sniff(pc, now))
			continue;
		if (now > pc->deadline_ms) {
			L.refused.timed_out++;
			close(pc->fd);
			client_put(pc->cl);
			continue;
		}
		L.pending[w++] = *pc;
	}
	L.n_pending = w;
	log_refusals(now);
	if (L.n_pending || L.n_linger)
		schedule_poll();
}

/* Polls pending and lingering connections soon; a poll already due is not postponed. */
static void schedule_poll(void)
{
	if (L.poll_scheduled)
		return;
	L.poll_scheduled = 1;
	lws_sul_schedule(L.ctl->ctx, 0, &L.sul, on_poll, LISTENER_POLL_MS * LWS_US_PER_MS);
}

/* A new connection: counted against its address and the total, then looked at. */
static void admit(int fd, int internal, const struct sockaddr_storage *ss, int64_t now)
{
	struct pending_conn pc = { .fd = fd, .internal = internal, .deadline_ms = now + LISTENER_HEAD_TIMEOUT_MS,
				   .last_rx_ms = now };

	pc.cl = client_get(ss);
	if (!pc.cl) {
		close(fd);
		return;
	}
	pc.cl->conns++;
	if (L.max_per_client && pc.cl->conns > L.max_per_client) {
		L.refused.per_client++;
		refuse_fd(fd, 429, "too many connections from this address");
		client_put(pc.cl);
		return;
	}
	if (L.n_conns + L.n_pending >= L.max_conns && !evict_idle()) {
		L.refused.busy++;
		refuse_fd(fd, 503, "too many connections");
		client_put(pc.cl);
		return;
	}
	if (sniff(&pc, now))
		return;
	if (L.n_pending == LISTENER_MAX_PENDING)
		evict_idle();
	L.pending[L.n_pending++] = pc;
	schedule_poll();
}

static void on_resume(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	if (!L.paused)
		return;
	L.paused = 0;
	for (size_t i = 0; i < L.n_socks; i++)
		if (L.socks[i].wsi)
			lws_rx_flow_control(L.socks[i].wsi, 1);
}

/* accept4 failed for want of descriptors. The listen socket stays readable, so polling it
 * again at once would spin: it is left alone for a moment, and the connections wait in the
 * backlog until descriptors are free again. */
static void out_of_descriptors(void)
{
	L.refused.out_of_fds++;
	if (L.paused)
		return;
	L.paused = 1;
	for (size_t i = 0; i < L.n_socks; i++)
		if (L.socks[i].wsi)
			lws_rx_flow_control(L.socks[i].wsi, 0);
	lws_sul_schedule(L.ctl->ctx, 0, &L.sul_resume, on_resume,
			 LISTENER_FULL_PAUSE_MS * LWS_US_PER_MS);
}

static int callback_listener(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			     void *in, size_t len)
{
	int64_t now = rw_now_ms();
	struct listen_sock *ls = sock_of(wsi);

	(void)user, (void)in, (void)len;
	if (!ls)
		return 0;
	if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		ls->wsi = NULL;
		ls->fd = -1;
		return 0;
	}
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	for (int i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				out_of_descriptors();
			break;
		}
		admit(fd, ls != &L.socks[0], &ss, now);
	}
	log_refusals(now);
	return 0;
}

const struct lws_protocols listener_protocol = {
	"rw-listener", callback_listener, 0, 0, 0, NULL, 0
};

/* The total connection cap: the flag, or what the descriptor limit leaves after the
 * reserve for files, pipes and outbound links. */
static size_t connection_cap(const struct control_config *cfg)
{
	struct rlimit rl;
	size_t fds = 1024;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
		fds = (size_t)rl.rlim_cur;
	size_t derived = fds > 2 * CONTROL_FD_RESERVE ? fds - CONTROL_FD_RESERVE : fds / 2;
	if (cfg->max_connections > 0 && (size_t)cfg->max_connections < derived)
		return (size_t)cfg->max_connections;
	if (cfg->max_connections > 0)
		log_warn("max_connections_above_descriptors", "{s:i, s:I}", "max_connections",
			 cfg->max_connections, "descriptor_limit", (json_int_t)fds);
	return cfg->max_connections > 0 ? (size_t)cfg->max_connections : derived;
}

/* Binds host:*port (0 picks one, written back) and serves it from the loop. 0 or RW_E... with a message printed. */
static int open_sock(struct control *ctl, const char *host, int *portp)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[16];
	int one = 1, defer = 5, fd = -1;
	lws_sock_file_fd_type sfd;
	struct listen_sock *ls;

	if (L.n_socks == LISTENER_MAX_SOCKS)
		return RW_ELIMIT;
	snprintf(port, sizeof(port), "%d", *portp);
	if (getaddrinfo(host, port, &hints, &res) || !res) {
		fprintf(stderr, "runwire-control: cannot resolve listen address %s\n", host);
		return RW_EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* accept() once the request has arrived: the head is then usually there to peek */
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, LISTENER_BACKLOG))
		goto fail;
	freeaddrinfo(res);
	res = NULL;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		goto fail;
	*portp = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	ls = &L.socks[L.n_socks];
	ls->fd = fd;
	ls->addr = ss;
	L.n_socks++;  /* before the adoption, whose callbacks look the socket up */
	sfd.filefd = fd;
	/* the raw listen socket lives on the main vhost, where the listener protocol is */
	ls->wsi = lws_adopt_descriptor_vhost(ctl->vh, LWS_ADOPT_RAW_FILE_DESC, sfd, "rw-listener", NULL);
	if (!ls->wsi) {
		L.n_socks--;
		goto fail;
	}
	return RW_OK;
fail:
	fprintf(stderr, "runwire-control: cannot listen on %s:%d: %s\n", host, *portp, strerror(errno));
	if (res)
		freeaddrinfo(res);
	if (fd >= 0)
		close(fd);
	return RW_EIO;
}

/* The port of a bound address, and whether it is the wildcard address. */
static int sock_port(const struct sockaddr_storage *ss, int *any)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		*any = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
		return ntohs(a->sin6_port);
	}
	*any = ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

int listener_is_internal(struct lws *wsi)
{
	struct sockaddr_storage local;
	socklen_t sl = sizeof(local);
	int fd = (int)lws_get_socket_fd(wsi), any, any_local;
	uint8_t a[16], b[16];

	if (L.n_socks < 2 || fd < 0 || getsockname(fd, (struct sockaddr *)&local, &sl))
		return 0;
	/* the same port twice can only be two specific addresses (bind refuses otherwise) */
	if (sock_port(&local, &any_local) != sock_port(&L.socks[1].addr, &any))
		return 0;
	if (any || sock_port(&L.socks[0].addr, &any) != sock_port(&L.socks[1].addr, &any))
		return 1;
	addr_key(&local, a);
	addr_key(&L.socks[1].addr, b);
	return !memcmp(a, b, 16);
}

int listener_start(struct control *ctl)
{
	L.ctl = ctl;
	L.max_conns = connection_cap(&ctl->cfg);
	/* like the rate limits: with real users by default, not for the embedded default's one
	 * local user, whose clients all share the loopback address */
	if (ctl->cfg.max_connections_per_client < 0)
		ctl->cfg.max_connections_per_client =
			ctl->cfg.firebase_project ? CONTROL_DEFAULT_MAX_CONNECTIONS_PER_CLIENT : 0;
	L.max_per_client = (size_t)ctl->cfg.max_connections_per_client;
	if (open_sock(ctl, ctl->cfg.listen_host, &ctl->cfg.port))
		return RW_EIO;
	if (ctl->cfg.internal_host &&
	    (scrape_token_load(ctl) ||
	     open_sock(ctl, ctl->cfg.internal_host, &ctl->cfg.internal_port)))
		return RW_EIO;
	log_info("front_door", "{s:I, s:I, s:i, s:i, s:i}", "max_connections", (json_int_t)L.max_conns,
		 "max_connections_per_client", (json_int_t)L.max_per_client, "max_pending",
		 LISTENER_MAX_PENDING, "head_timeout_ms", LISTENER_HEAD_TIMEOUT_MS, "internal_port",
		 ctl->cfg.internal_host ? ctl->cfg.internal_port : 0);
	return RW_OK;
}

void listener_stop(void)
{
	lws_sul_cancel(&L.sul);
	lws_sul_cancel(&L.sul_resume);
	for (size_t i = 0; i < L.n_pending; i++) {
		close(L.pending[i].fd);
		client_put(L.pending[i].cl);
	}
	L.n_pending = 0;
	for (size_t i = 0; i < L.n_linger; i++)
		close(L.linger[i].fd);
	L.n_linger = 0;
	L.poll_scheduled = 0;
}
