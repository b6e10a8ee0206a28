/* listener.c: control's front door. It accepts TCP connections itself and hands each one to
 * libwebsockets, because libwebsockets 4.1 (Debian 12) refuses a WebSocket upgrade whose
 * Sec-WebSocket-Protocol list is longer than 127 bytes, and the seed's browser contract
 * (`Sec-WebSocket-Protocol: bearer, <session JWT>`) is about 300.
 *
 * Every connection is handed over untouched (its bytes are only peeked at, MSG_PEEK),
 * except an upgrade whose protocol list is `bearer, <token>` and too long: its request head
 * is consumed and rewritten to `Sec-WebSocket-Protocol: bearer` plus `X-Runwire-Bearer:
 * <token>`, which the relay reads. See docs/architecture.md, "The front door".
 */
#include "control/control.h"
#include "common/log.h"
#include "common/rw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTENER_BACKLOG 1024
#define LISTENER_MAX_HEAD (16u << 10)      /* request head peeked at */
#define LISTENER_MAX_PENDING 256           /* connections whose head is still arriving */
#define LISTENER_HEAD_TIMEOUT_MS 10000
#define LISTENER_POLL_MS 5
#define LISTENER_AH_RX 2048                /* lws's ah rx buffer: a rewritten head fits it */
#define LISTENER_PROTOCOL_LIMIT 127        /* lws 4.1's protocol list buffer, minus NUL */

struct pending_conn {
	int fd;
	int64_t deadline_ms;
};

static struct {
	struct control *ctl;
	int fd;
	struct lws *wsi;
	struct pending_conn pending[LISTENER_MAX_PENDING];
	size_t n_pending;
	lws_sorted_usec_list_t sul;
	char head[LISTENER_MAX_HEAD + 1];
} L = { .fd = -1 };

static int header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && !strncasecmp(line, name, n);
}

/* Builds a head lws accepts from one whose protocol list is too long. Keeps only what a
 * WebSocket upgrade needs. Returns its length, or 0 when this head is not such a request. */
static size_t rewrite_head(const char *head, size_t head_len, char *out, size_t cap)
{
	const char *p = head, *end = head + head_len, *proto = NULL;
	size_t proto_len = 0, n = 0;
	char token[TOKEN_MAX_LEN + 1];

	/* request line */
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	if (!eol || (size_t)(eol - p) + 2 > cap)
		return 0;
	memcpy(out, p, (size_t)(eol - p) + 2);
	n = (size_t)(eol - p) + 2;
	p = eol + 2;
	for (; p < end && (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) && eol != p; p = eol + 2) {
		size_t len = (size_t)(eol - p);
		if (header_is(p, len, "sec-websocket-protocol")) {
			proto = p + 23;
			proto_len = len - 23;
			continue;
		}
		if (!(header_is(p, len, "host") || header_is(p, len, "upgrade") ||
		      header_is(p, len, "connection") || header_is(p, len, "sec-websocket-key") ||
		      header_is(p, len, "sec-websocket-version") || header_is(p, len, "origin") ||
		      header_is(p, len, "x-forwarded-for")))
			continue;
		if (n + len + 2 > cap)
			return 0;
		memcpy(out + n, p, len + 2);
		n += len + 2;
	}
	if (!proto)
		return 0;
	while (proto_len && *proto == ' ') {
		proto++;
		proto_len--;
	}
	/* "bearer, <token>" with nothing after the token */
	if (proto_len < 8 || strncasecmp(proto, "bearer", 6))
		return 0;
	proto += 6;
	proto_len -= 6;
	while (proto_len && (*proto == ' ' || *proto == ',')) {
		proto++;
		proto_len--;
	}
	while (proto_len && proto[proto_len - 1] == ' ')
		proto_len--;
	if (!proto_len || proto_len > TOKEN_MAX_LEN || memchr(proto, ',', proto_len))
		return 0;
	memcpy(token, proto, proto_len);
	token[proto_len] = '\0';
	int w = snprintf(out + n, cap - n,
			 "Sec-WebSocket-Protocol: bearer\r\nX-Runwire-Bearer: %s\r\n\r\n", token);
	if (w < 0 || (size_t)w >= cap - n)
		return 0;
	return n + (size_t)w;
}

/* Hands the connection to lws. `consume` bytes of head were peeked and are replaced by
 * `readbuf` (NULL: nothing consumed). */
static void hand_over(int fd, const char *readbuf, size_t len)
{
	struct lws *wsi = readbuf ? lws_adopt_socket_vhost_readbuf(L.ctl->vh, fd, readbuf, len)
				  : lws_adopt_socket_vhost(L.ctl->vh, fd);
	if (!wsi)
		log_warn("adopt_failed", "{s:i}", "fd", fd);  /* lws closed it */
}

/* Looks at what has arrived. Returns 1 when the connection was handed over or closed,
 * 0 when its head is still incomplete. */
static int sniff(int fd)
{
	ssize_t n = recv(fd, L.head, LISTENER_MAX_HEAD, MSG_PEEK);
	char *end, out[LISTENER_AH_RX];
	size_t head_len, out_len;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close(fd);
		return 1;
	}
	L.head[n] = '\0';
	end = memmem(L.head, (size_t)n, "\r\n\r\n", 4);
	if (!end) {
		if ((size_t)n < LISTENER_MAX_HEAD)
			return 0;
		hand_over(fd, NULL, 0);  /* lws answers an oversized head itself */
		return 1;
	}
	head_len = (size_t)(end - L.head) + 4;
	/* the common case: nothing for us to change */
	char *proto = strcasestr(L.head, "\r\nsec-websocket-protocol:");
	if (!proto || proto > end) {
		hand_over(fd, NULL, 0);
		return 1;
	}
	char *peol = strstr(proto + 2, "\r\n");
	if ((size_t)(peol - (proto + 2 + 23)) <= LISTENER_PROTOCOL_LIMIT) {
		hand_over(fd, NULL, 0);
		return 1;
	}
	out_len = rewrite_head(L.head, head_len, out, sizeof(out));
	if (!out_len) {
		static const char refuse[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
					     "Content-Length: 0\r\nConnection: close\r\n\r\n";
		(void)!write(fd, refuse, sizeof(refuse) - 1);
		close(fd);
		return 1;
	}
	/* consume exactly the head; anything after it stays in the socket for lws */
	if (recv(fd, L.head, head_len, 0) != (ssize_t)head_len) {
		close(fd);
		return 1;
	}
	hand_over(fd, out, out_len);
	return 1;
}

static void schedule_poll(void);

static void on_poll(lws_sorted_usec_list_t *sul)
{
	int64_t now = rw_now_ms();
	size_t w = 0;

	for (size_t i = 0; i < L.n_pending; i++) {
		struct pending_conn *pc = &L.pending[i];
		if (sniff(pc->fd))
			continue;
		if (now > pc->deadline_ms) {
			close(pc->fd);
			continue;
		}
		L.pending[w++] = *pc;
	}
	L.n_pending = w;
	if (L.n_pending)
		schedule_poll();
}

static void schedule_poll(void)
{
	lws_sul_schedule(L.ctl->ctx, 0, &L.sul, on_poll, LISTENER_POLL_MS * LWS_US_PER_MS);
}

static int callback_listener(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			     void *in, size_t len)
{
	if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		L.wsi = NULL;
		L.fd = -1;
		return 0;
	}
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(L.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if (sniff(fd))
			continue;
		if (L.n_pending == LISTENER_MAX_PENDING) {
			close(fd);
			continue;
		}
		L.pending[L.n_pending++] = (struct pending_conn){ fd, rw_now_ms() + LISTENER_HEAD_TIMEOUT_MS };
		if (L.n_pending == 1)
			schedule_poll();
	}
	return 0;
}

const struct lws_protocols listener_protocol = {
	"rw-listener", callback_listener, 0, 0, 0, NULL, 0
};

int listener_start(struct control *ctl)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[16];
	int one = 1, defer = 5;
	lws_sock_file_fd_type sfd;

	L.ctl = ctl;
	snprintf(port, sizeof(port), "%d", ctl->cfg.port);
	if (getaddrinfo(ctl->cfg.listen_host, port, &hints, &res) || !res) {
		fprintf(stderr, "runwire-control: cannot resolve listen address %s\n", ctl->cfg.listen_host);
		return RW_EINVAL;
	}
	L.fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (L.fd < 0)
		goto fail;
	setsockopt(L.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* accept() once the request has arrived: the head is then usually there to peek */
	setsockopt(L.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (bind(L.fd, res->ai_addr, res->ai_addrlen) || listen(L.fd, LISTENER_BACKLOG))
		goto fail;
	freeaddrinfo(res);
	res = NULL;
	if (getsockname(L.fd, (struct sockaddr *)&ss, &sl))
		goto fail;
	ctl->cfg.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						       : ((struct sockaddr_in *)&ss)->sin_port);
	sfd.filefd = L.fd;
	L.wsi = lws_adopt_descriptor_vhost(ctl->vh, LWS_ADOPT_RAW_FILE_DESC, sfd, "rw-listener", NULL);
	if (!L.wsi)
		goto fail;
	return RW_OK;
fail:
	fprintf(stderr, "runwire-control: cannot listen on %s:%d: %s\n", ctl->cfg.listen_host,
		ctl->cfg.port, strerror(errno));
	if (res)
		freeaddrinfo(res);
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
	return RW_EIO;
}

void listener_stop(void)
{
	lws_sul_cancel(&L.sul);
	for (size_t i = 0; i < L.n_pending; i++)
		close(L.pending[i].fd);
	L.n_pending = 0;
}
