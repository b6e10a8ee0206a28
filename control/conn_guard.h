/* conn_guard.h: no peer that stops reading and then leaves can stall control's loop
 * (docs/architecture.md, "Why control cannot wedge"; the lws 4.1.6 code paths are named in
 * conn_guard.c).
 *
 * WebSocket: when a send is partial, lws keeps the rest and sends it on the next POLLOUT. If
 * the peer's FIN is read meanwhile (recv() = 0), lws's close only marks the connection
 * "flushing" and its service loop retries the same descriptor at once, forever: one viewer
 * or agent stops the whole process. The guard stops reading from a connection while lws
 * holds unsent bytes for it, so that FIN is never read then; reading resumes in the
 * writeable callback after the flush. A peer that neither reads nor writes is then dropped
 * by the liveness timers (server.c), as any dead peer is.
 *
 * HTTP: lws reads nothing while a response is under way but still polls for input, so a
 * client that half-closes (or sends bytes) without reading the response makes poll() spin.
 * A response that waits for its client is checked every few milliseconds, and such a
 * client is closed.
 *
 * Every protocol whose callback may write goes through the guard: server.c wraps each
 * callback with CONN_GUARDED. The one rule for modules is lws's own: write to a connection
 * only from its own callbacks.
 */
#ifndef RW_CONN_GUARD_H
#define RW_CONN_GUARD_H

#include <libwebsockets.h>

/* Our own reason bit in lws's rx flow-control bitmap (bit 0 is lws's "user bool", bits 6
 * and 7 are its own): holding reads for this reason leaves every other reason alone. */
#define CONN_GUARD_RXFLOW_REASON (1 << 1)

/* Called after a protocol callback returned `rc` for `reason` on `wsi`. WebSocket: holds
 * reads while lws has unsent bytes for `wsi` (whatever rc is: a close requested now may
 * wait for that flush too) and lets them resume from the writeable callback once it has
 * none. HTTP: watches a response that waits for its client until the client takes bytes
 * or the connection closes. Returns rc unchanged. */
int conn_guard_after(struct lws *wsi, enum lws_callback_reasons reason, int rc);

/* Defines `static int name(...)`, an lws callback that calls `inner` and then the guard. */
#define CONN_GUARDED(name, inner)                                                          \
	static int name(struct lws *wsi, enum lws_callback_reasons reason, void *user,      \
			void *in, size_t len)                                               \
	{                                                                                   \
		return conn_guard_after(wsi, reason, (inner)(wsi, reason, user, in, len));  \
	}

#endif
