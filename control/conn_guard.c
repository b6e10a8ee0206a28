/* conn_guard.c: what keeps a peer that stops reading and then leaves from stalling the loop
 * (see conn_guard.h and docs/architecture.md, "Why control cannot wedge").
 *
 * WebSocket (viewers, agents). The exact lws 4.1.6 condition:
 *   roles/ws/ops-ws.c rops_handle_POLLIN_ws: recv() = 0 -> LWS_HPI_RET_PLEASE_CLOSE_ME
 *   core-net/service.c lws_service_fd_tsi: lws_close_free_wsi(), then returns 1 ("closed")
 *   core-net/close.c __lws_close_free_wsi: lws_has_buffered_out() -> state
 *       LRS_FLUSHING_BEFORE_CLOSE and return: the connection stays open
 *   plat/unix/unix-service.c _lws_plat_service_forced_tsi: "if something closed, retry this
 *       slot" (n--), the slot's revents still POLLIN: the same recv() = 0 again, forever,
 *       inside one lws_service() call (no timer, no other descriptor, no signal check).
 * While rx flow control holds the connection, rops_handle_POLLIN_ws returns before any
 * recv() (and lws drops POLLIN from its events), so that FIN is read only after the flush,
 * when a close really closes.
 *
 * HTTP (API responses, the recording download). lws 4.1.6 reads nothing while a response is
 * under way (roles/h1/ops-h1.c lws_h1_server_socket_service reads only in the ESTABLISHED,
 * ISSUING_FILE, HEADERS, DISCARD_BODY and BODY states, not LRS_DOING_TRANSACTION) but keeps
 * POLLIN in its events: a FIN, or any byte, from a client that does not read the response
 * makes poll() return at once, every time, until lws's 30 s timeout (measured: 90-100% CPU).
 * Rx flow control cannot help here: the h1 role then ignores POLLOUT as well
 * (rops_handle_POLLIN_h1 returns early), and the response stalls while poll() spins. So a
 * response waiting for the socket is looked at every CONN_GUARD_HTTP_CHECK_MS: a client that
 * half-closed, or sent more bytes, while not taking the response is closed.
 */
#include "control/conn_guard.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#define CONN_GUARD_HTTP_CHECK_MS 20   /* how long a stalled response may spin at most */

/* An HTTP response waiting for its client to take bytes. */
struct http_watch {
	struct http_watch *next;
	struct lws *wsi;
	lws_sorted_usec_list_t sul;
};

static struct http_watch *http_watches;

static struct http_watch **watch_find(struct lws *wsi)
{
	struct http_watch **pp = &http_watches;

	while (*pp && (*pp)->wsi != wsi)
		pp = &(*pp)->next;
	return pp;
}

static void watch_remove(struct lws *wsi)
{
	struct http_watch **pp = watch_find(wsi), *w = *pp;

	if (!w)
		return;
	*pp = w->next;
	lws_sul_cancel(&w->sul);
	free(w);
}

static void watch_check(lws_sorted_usec_list_t *sul)
{
	struct http_watch *w = lws_container_of(sul, struct http_watch, sul);
	int fd = (int)lws_get_socket_fd(w->wsi);
	char b;
	ssize_t n;

	/* the client took the bytes: lws goes on with the response (or reads the next request) */
	if (!lws_send_pipe_choked(w->wsi)) {
		watch_remove(w->wsi);
		return;
	}
	n = fd < 0 ? 0 : recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		lws_sul_schedule(lws_get_context(w->wsi), 0, &w->sul, watch_check,
				 CONN_GUARD_HTTP_CHECK_MS * LWS_US_PER_MS);
		return;
	}
	log_info("http_client_gone", "{s:s}", "reason",
		 n > 0 ? "bytes during a response it does not read" : "half-closed during a response");
	lws_set_timeout(w->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	watch_remove(w->wsi);
}

static void watch_add(struct lws *wsi)
{
	struct http_watch *w;

	if (*watch_find(wsi))
		return;
	w = calloc(1, sizeof(*w));
	if (!w)
		return;  /* unguarded: lws's own timeout still ends it */
	w->wsi = wsi;
	w->next = http_watches;
	http_watches = w;
	lws_sul_schedule(lws_get_context(wsi), 0, &w->sul, watch_check,
			 CONN_GUARD_HTTP_CHECK_MS * LWS_US_PER_MS);
}

int conn_guard_after(struct lws *wsi, enum lws_callback_reasons reason, int rc)
{
	switch (reason) {
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (lws_partial_buffered(wsi)) {
			lws_rx_flow_control(wsi, LWS_RXFLOW_REASON_APPLIES_DISABLE |
							 CONN_GUARD_RXFLOW_REASON);
			/* lws calls the writeable callback once it has sent the rest: reads
			 * resume there */
			if (!rc)
				lws_callback_on_writable(wsi);
		} else if (!rc && reason == LWS_CALLBACK_SERVER_WRITEABLE) {
			lws_rx_flow_control(wsi, LWS_RXFLOW_REASON_APPLIES_ENABLE |
							 CONN_GUARD_RXFLOW_REASON);
		}
		break;
	case LWS_CALLBACK_HTTP:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!rc && lws_send_pipe_choked(wsi))
			watch_add(wsi);
		else
			watch_remove(wsi);
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
		watch_remove(wsi);
		break;
	default:
		break;
	}
	return rc;
}
