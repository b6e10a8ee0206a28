/* relay.c: viewers of a session (WS /ws/<id>, DESIGN.md: the relay).
 *
 * Each viewer has a cursor into the session's output (stream.h). The stream is the only
 * queue: a viewer is sent what lies between its cursor and the end, as fast as its socket
 * takes it, from the scrollback cache while it keeps up and from the session log on disk
 * when it has fallen behind, so a slow viewer never holds up the CLI or other viewers and
 * never loses a byte. Only bytes that retention deleted are skipped, and then the viewer is
 * told how many (a resync event). Events carry the output offset at which they happened and
 * are delivered in order with the output.
 */
#include "control/control.h"
#include "control/fleet.h"
#include "control/relay_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define VIEWER_SEND_CHUNK (64u << 10)     /* output bytes per frame to a viewer */
#define VIEWER_WRITE_BUDGET (1u << 20)    /* output bytes per writeable callback */
#define VIEWER_NOTSENT_LOWAT (64u << 10)  /* unsent bytes the kernel may hold for a viewer */

static uint8_t viewer_buf[LWS_PRE + PROTO_OUTPUT_PREFIX_LEN + VIEWER_SEND_CHUNK];

void relay_wake_all(struct session *s)
{
	for (struct viewer *v = s->viewers; v; v = v->next)
		lws_callback_on_writable(v->wsi);
}

int relay_output(struct session *s, uint64_t offset, const uint8_t *data, size_t len)
{
	int rc = stream_append(&s->stream, offset, data, len);

	if (rc) {
		if (rc != RW_EPROTO)
			log_error("session_log_failed", "{s:s, s:s}", "session", s->id, "reason",
				  s->stream.err);
		return rc;
	}
	if (s->rec && recording_output(s->rec, data, len))
		log_warn("recording_failed", "{s:s}", "session", s->id);
	s->ctl->m.bytes_in += len;
	relay_wake_all(s);
	fleet_output_soon(s);
	return RW_OK;
}

void relay_event(struct session *s, json_t *ev)
{
	int was_full = s->stream.events_full;
	int rc = stream_add_event(&s->stream, ev);

	if (rc == RW_ETOOBIG && !was_full)
		log_warn("events_truncated", "{s:s, s:I}", "session", s->id, "bytes",
			 (json_int_t)s->stream.event_bytes);
	if (rc != RW_ETOOBIG || !was_full) {
		relay_wake_all(s);
		fleet_output_soon(s);
	}
}

static void viewer_detach(struct viewer *v)
{
	struct session *s = v->s;

	if (!s)
		return;
	for (struct viewer **pp = &s->viewers; *pp; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	s->n_viewers--;
	v->s = NULL;
	session_viewer_left(s);
}

void relay_detach_all(struct session *s)
{
	while (s->viewers) {
		struct viewer *v = s->viewers;
		viewer_detach(v);
		v->finished = 1;
		lws_callback_on_writable(v->wsi);
	}
}

void relay_close_all(struct session *s, const char *why)
{
	while (s->viewers) {
		struct viewer *v = s->viewers;
		viewer_detach(v);
		v->refusal = why;
		v->refusal_code = PROTO_ERR_INTERNAL;
		lws_callback_on_writable(v->wsi);
	}
}

static int send_json(struct lws *wsi, enum proto_type type, json_t *obj)
{
	size_t len;
	uint8_t *buf = proto_encode_json(type, obj, LWS_PRE, &len);
	int r;

	json_decref(obj);
	if (!buf)
		return -1;
	r = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_BINARY);
	free(buf);
	return r < 0 ? -1 : 0;
}

static int send_error(struct lws *wsi, uint16_t code, const char *msg)
{
	uint8_t buf[LWS_PRE + PROTO_ERROR_MAX_LEN];
	size_t n = proto_encode_error(buf + LWS_PRE, code, msg);

	return lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_BINARY) < 0 ? -1 : 0;
}

/* Sends the next thing this viewer is due: 1 when it wrote a frame (more may be due), 0 when
 * nothing is due now, -1 to close. The caller asks for the next writeable callback. */
static int viewer_write_one(struct viewer *v)
{
	struct session *s = v->s;
	struct stream *st = s ? &s->stream : NULL;
	const uint8_t *p;

	if (v->refusal) {
		send_error(v->wsi, v->refusal_code, v->refusal);
		lws_close_reason(v->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)v->refusal, strlen(v->refusal));
		return -1;
	}
	if (v->finished || !s) {
		lws_close_reason(v->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (!v->hello_sent) {
		v->hello_sent = 1;
		if (v->cursor > st->end)
			v->cursor = st->end;
		return send_json(v->wsi, PROTO_HELLO,
				 json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:i, s:i}", "v",
					   PROTO_VERSION, "sessionId", s->id, "state",
					   session_state_name(s->state), "role",
					   v->role == TOKEN_ROLE_VIEWER ? "viewer" : "writer",
					   "offset", (json_int_t)v->cursor, "bytes",
					   (json_int_t)st->end, "cols", s->cols, "rows", s->rows)) ?
			       -1 : 1;
	}
	if (v->cursor < st->start) {
		/* the only way to skip: retention deleted these bytes from the log */
		uint64_t skipped = st->start - v->cursor;
		log_info("viewer_resync", "{s:s, s:I}", "session", s->id, "skipped",
			 (json_int_t)skipped);
		v->cursor = st->start;
		return send_json(v->wsi, PROTO_EVENT,
				 json_pack("{s:s, s:I, s:I, s:s}", "type", "resync", "skipped",
					   (json_int_t)skipped, "offset", (json_int_t)v->cursor,
					   "reason", "deleted by retention")) ?
			       -1 : 1;
	}
	if (v->next_event < st->n_events && st->events[v->next_event].offset <= v->cursor) {
		struct stream_event *e = &st->events[v->next_event++];
		return lws_write(v->wsi, e->frame + LWS_PRE, e->len, LWS_WRITE_BINARY) < 0 ? -1 : 1;
	}
	if (v->cursor < st->end) {
		uint64_t limit = v->next_event < st->n_events ? st->events[v->next_event].offset :
								st->end;
		uint8_t *frame = viewer_buf + LWS_PRE;
		long n = stream_read(st, v->cursor, (size_t)(limit - v->cursor), &p);

		if (n == RW_ENOTFOUND)
			return 1;   /* retention got there first: the resync above says so */
		if (n <= 0) {
			log_error("viewer_read_failed", "{s:s, s:s}", "session", s->id, "reason",
				  st->err);
			send_error(v->wsi, PROTO_ERR_INTERNAL, "session log unreadable");
			return -1;
		}
		if ((size_t)n > VIEWER_SEND_CHUNK)
			n = VIEWER_SEND_CHUNK;
		proto_encode_output_prefix(frame, v->cursor, (size_t)n);
		memcpy(frame + PROTO_OUTPUT_PREFIX_LEN, p, (size_t)n);
		if (lws_write(v->wsi, frame, PROTO_OUTPUT_PREFIX_LEN + (size_t)n, LWS_WRITE_BINARY) < 0)
			return -1;
		v->cursor += (uint64_t)n;
		s->ctl->m.bytes_out += (uint64_t)n;
		return 1;
	}
	if (s->have_exit && !v->exit_sent) {
		uint8_t frame[LWS_PRE + PROTO_EXIT_LEN];
		v->exit_sent = 1;
		proto_encode_exit(frame + LWS_PRE, &s->exit);
		return lws_write(v->wsi, frame + LWS_PRE, PROTO_EXIT_LEN, LWS_WRITE_BINARY) < 0 ? -1 : 1;
	}
	/* Everything of a finished session is delivered: close once it has been flushed. */
	if (session_is_final(s) && (s->have_exit ? v->exit_sent : 1) &&
	    v->next_event == st->n_events) {
		v->finished = 1;
		lws_callback_on_writable(v->wsi);
	}
	return 0;
}

/* One writeable callback sends frames while the socket takes them, up to a budget. One frame
 * per callback would let an agent that delivers a whole rx buffer (1 MiB) per wake-up outrun
 * even a fast viewer by 16 to 1, pushing it past the scrollback into a resync. The budget
 * keeps one viewer from starving the loop. Returns -1 to close, 0 otherwise. */
static int viewer_write(struct viewer *v)
{
	size_t sent = 0;
	uint64_t before;
	int r;

	if (v->once_pending)
		return 0;   /* nothing is due before the store's answer (a writeable callback may
			     * come anyway: the connection guard asks for some) */
	if (v->remote && !v->refusal)
		return relay_remote_write(v);
	do {
		before = v->cursor;
		r = viewer_write_one(v);
		if (r <= 0)
			break;
		sent += (size_t)(v->cursor - before) + 1;
	} while (sent < VIEWER_WRITE_BUDGET && !lws_send_pipe_choked(v->wsi));
	/* The kernel took output, so the viewer is reading it: that proves the link as a PONG
	 * would. A slow viewer's PONG waits behind the output in flight to it (at 10 KiB/s,
	 * longer than the 30 s hang-up), and a dead one stops taking output within
	 * VIEWER_NOTSENT_LOWAT plus a window, after which the pings decide. */
	if (sent && r >= 0)
		lws_validity_confirmed(v->wsi);
	if (r < 0)
		return -1;
	if (r > 0)
		lws_callback_on_writable(v->wsi);
	return 0;
}

/* Input typed before an agent runs the session, held for it. 0, RW_ETOOBIG or RW_ENOMEM. */
static int pending_input_add(struct session *s, const uint8_t *data, size_t len)
{
	uint8_t *nb;

	if (s->pending_input_len + len > SESSION_MAX_PENDING_INPUT)
		return RW_ETOOBIG;
	nb = realloc(s->pending_input, s->pending_input_len + len);
	if (!nb)
		return RW_ENOMEM;
	memcpy(nb + s->pending_input_len, data, len);
	s->pending_input = nb;
	s->pending_input_len += len;
	return RW_OK;
}

int relay_apply(struct session *s, const struct proto_frame *f)
{
	switch (f->type) {
	case PROTO_INPUT:
		/* the agent starts the pty as soon as it is assigned: frames after ASSIGN find it */
		if (!f->len)
			return RW_OK;
		return s->agent ? agent_link_send_input(s->agent, f->data, f->len)
				: pending_input_add(s, f->data, f->len);
	case PROTO_RESIZE:
		if (s->cols != f->cols || s->rows != f->rows) {
			s->cols = f->cols;
			s->rows = f->rows;
			if (s->rec)
				recording_resize(s->rec, f->cols, f->rows);
		}
		if (s->agent)
			agent_link_send_resize(s->agent, f->cols, f->rows);
		return RW_OK;
	case PROTO_SIGNAL:
		if (s->agent)
			agent_link_send_signal(s->agent, f->signo);
		return RW_OK;
	default:
		return RW_OK;
	}
}

static void viewer_input(struct viewer *v, const struct proto_frame *f)
{
	struct session *s = v->s;

	if (f->type != PROTO_INPUT && f->type != PROTO_RESIZE && f->type != PROTO_SIGNAL)
		return;
	if (v->remote) {
		relay_remote_input(v, f);
		return;
	}
	if (!s || session_is_final(s))
		return;
	if (v->role == TOKEN_ROLE_VIEWER) {
		/* read-only: refuse, keep the connection. Said and logged once: a viewer that
		 * floods input and reads nothing must not grow control's log or its send queue. */
		if (!v->refused++) {
			log_info("viewer_input_refused", "{s:s, s:s}", "session", s->id, "frame",
				 proto_type_name(f->type));
			send_error(v->wsi, PROTO_ERR_FORBIDDEN, "read-only viewer: input refused");
		}
		return;
	}
	if (relay_apply(s, f) == RW_OK) {
		if (f->type == PROTO_INPUT)
			v->backlog_said = 0;
	} else if (!v->backlog_said) {
		/* once until input gets through again, for the reason above */
		v->backlog_said = 1;
		send_error(v->wsi, PROTO_ERR_FORBIDDEN, "input backlog full");
	}
}

/* Why a one-time token id was refused, for the viewer. */
static const char *once_refusal(int rc)
{
	switch (rc) {
	case RW_ELIMIT:
		return "too many session tokens in use: try again later";
	case RW_EAGAIN:
		return "session store unavailable: try again shortly";
	case RW_EAUTH:
		return "token already used";
	default:
		return "token refused";
	}
}

static void on_once_now(void *arg, int rc, int64_t value)
{
	*(int *)arg = rc;
}

/* Authenticates an upgrade to /ws/<id> before it happens: 0 accepts, 1 refuses. A store
 * that answers at once (memory) consumes the jti here, so a replay is refused with a 403; a
 * shared store answers later, so the jti is consumed once the connection is up
 * (viewer_once) and a replay is refused with an error frame and a close (1008). */
static int viewer_filter(struct control *ctl, struct lws *wsi, struct viewer *v)
{
	char uri[256], proto[TOKEN_MAX_LEN + 64], addr[64], reason[128], since[32];
	struct token_claims c;
	const char *tok, *arg;
	struct session *s;
	long long n;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strncmp(uri, "/ws/", 4)) {
		snprintf(reason, sizeof(reason), "not a session path");
		goto refuse;
	}
	/* The token arrives as the entry after "bearer" in the protocol list, moved by the
	 * front door (listener.c) to its own header when the list was too long for lws. */
	if (lws_hdr_custom_copy(wsi, proto, sizeof(proto), LISTENER_BEARER_HEADER,
				(int)strlen(LISTENER_BEARER_HEADER)) > 0) {
		tok = proto;
	} else if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) > 0 &&
		   (tok = strchr(proto, ','))) {
		tok++;
		while (*tok == ' ')
			tok++;
	} else {
		snprintf(reason, sizeof(reason), "no bearer token");
		goto refuse;
	}
	if (token_verify(ctl->keys, tok, &c, reason, sizeof(reason)))
		goto refuse;
	if (strcmp(c.sid, uri + 4)) {
		snprintf(reason, sizeof(reason), "token is for another session");
		goto refuse;
	}
	memset(v, 0, sizeof(*v));
	if (store_answers_at_once(ctl->store)) {
		s = session_find(ctl, c.sid);
		if (!s || strcmp(s->owner, c.sub)) {
			snprintf(reason, sizeof(reason), "no such session");
			goto refuse;
		}
		int rc = RW_EAGAIN;
		store_once(ctl->store, c.jti, c.exp, on_once_now, &rc);
		if (rc) {
			snprintf(reason, sizeof(reason), "%s", once_refusal(rc));
			goto refuse;
		}
	} else {
		/* the token is consumed first, whichever replica holds its session: one use,
		 * fleet-wide; the session is looked up once the store has answered */
		v->once_pending = 1;
		snprintf(v->jti, sizeof(v->jti), "%s", c.jti);
		v->jti_exp = c.exp;
	}
	snprintf(v->sub, sizeof(v->sub), "%s", c.sub);
	snprintf(v->sid, sizeof(v->sid), "%s", c.sid);
	v->role = c.role;
	/* lws copies "since=N" into the buffer and points after the name */
	if ((arg = lws_get_urlarg_by_name(wsi, "since=", since, sizeof(since))) &&
	    !rw_parse_int(arg, 0, INT64_MAX, &n))
		v->since = (uint64_t)n;
	log_audit("viewer_attach", "{s:s, s:s, s:s, s:s, s:I}", "session", c.sid, "user", c.sub,
		 "role", c.role == TOKEN_ROLE_VIEWER ? "viewer" : "writer", "client",
		 server_client_addr(wsi, addr, sizeof(addr)), "since", (json_int_t)v->since);
	return 0;

refuse:
	ctl->m.auth_failures++;
	log_audit("viewer_refused", "{s:s, s:s}", "reason", reason, "client",
		 server_client_addr(wsi, addr, sizeof(addr)));
	listener_refuse_upgrade(wsi, 403, reason);
	return 1;
}

/* The scrollback is meant to be a viewer's only queue, but the kernel's send buffer is one
 * too: autotuned up to tcp_wmem's maximum (4 MiB), it lets a slow viewer hold megabytes
 * that were "sent", so it learns it fell behind (the resync event queues behind them) many
 * minutes late. TCP_NOTSENT_LOWAT makes the socket writeable only while little is unsent;
 * bytes in flight to a fast viewer do not count, so throughput is unchanged. And a key's
 * echo is one small frame: without TCP_NODELAY it waits for the ACK of the previous one
 * (40 ms of delayed ACK); sockets the front door accepted have lws' defaults only. */
static void viewer_tune_socket(struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi);
	int lowat = VIEWER_NOTSENT_LOWAT, one = 1;

	if (fd < 0)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		log_debug("viewer_socket_options", "{s:s}", "reason", strerror(errno));
}

/* The viewer joins its session (or learns it is gone) and is sent from its cursor. */
static void viewer_attach(struct control *ctl, struct viewer *v)
{
	struct session *s = session_find(ctl, v->sid);

	v->ctl = ctl;
	if (!s && store_is_shared(ctl->store)) {
		/* held by another replica: its record, then its stream */
		v->remote = 1;
		v->remote_since_ms = rw_now_ms();
		lws_rx_flow_control(v->wsi, 0);   /* until the record names the holder */
		relay_remote_start(v);
		return;
	}
	if (!s || strcmp(s->owner, v->sub)) {
		/* only after a shared store's answer: the filter checked it otherwise */
		v->refusal = "no such session";
		v->refusal_code = PROTO_ERR_NOT_FOUND;
		lws_callback_on_writable(v->wsi);
		return;
	}
	if (stream_load_events(&s->stream))
		log_warn("events_unavailable", "{s:s, s:s}", "session", s->id, "reason",
			 s->stream.err);
	v->s = s;
	v->cursor = v->since;
	viewer_tune_socket(v->wsi);
	v->next = s->viewers;
	s->viewers = v;
	s->n_viewers++;
	lws_callback_on_writable(v->wsi);
}

/* The shared store's answer on the viewer's token id (see viewer_filter). */
static void viewer_once(void *arg, int rc, int64_t value)
{
	struct viewer *v = arg;
	struct control *ctl = lws_context_user(lws_get_context(v->wsi));
	char addr[64];

	v->once_pending = 0;
	sodium_memzero(v->jti, sizeof(v->jti));
	if (rc) {
		v->refusal = once_refusal(rc);
		v->refusal_code = rc == RW_EAGAIN ? PROTO_ERR_INTERNAL : PROTO_ERR_AUTH;
		ctl->m.auth_failures++;
		log_audit("viewer_refused", "{s:s, s:s, s:s}", "reason", v->refusal, "session", v->sid,
			  "client", server_client_addr(v->wsi, addr, sizeof(addr)));
		lws_callback_on_writable(v->wsi);
		return;
	}
	lws_rx_flow_control(v->wsi, 1);
	viewer_attach(ctl, v);
}

/* Acts on the frames read so far; a remote writer whose outbox is full stops here and goes
 * on once it has room (the rest wait in the reader, their socket not read meanwhile).
 * -1 on a protocol error. */
int viewer_read_frames(struct viewer *v)
{
	struct proto_frame f;
	int r = 0;

	while (!v->rx_held && (r = proto_reader_next(&v->rd, &f)) == 1)
		viewer_input(v, &f);
	return r < 0 ? -1 : 0;
}

static int callback_viewer(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct control *ctl = lws_context_user(lws_get_context(wsi));
	struct viewer *v = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return viewer_filter(ctl, wsi, v);

	case LWS_CALLBACK_ESTABLISHED:
		v->wsi = wsi;
		proto_reader_init(&v->rd);
		if (v->once_pending) {
			lws_rx_flow_control(wsi, 0);
			store_once(ctl->store, v->jti, v->jti_exp, viewer_once, v);
			break;
		}
		viewer_attach(ctl, v);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return viewer_write(v);

	case LWS_CALLBACK_RECEIVE:
		if (proto_reader_feed(&v->rd, in, len) < 0)
			goto bad;
		if (viewer_read_frames(v) < 0)
			goto bad;
		break;

	case LWS_CALLBACK_CLOSED:
		if (v->once_pending || v->remote)
			store_forget(ctl->store, v);
		if (v->remote)
			relay_remote_close(v);
		if (v->refused > 1)
			log_info("viewer_input_refused_total", "{s:s, s:I}", "session", v->sid,
				 "frames", (json_int_t)v->refused);
		viewer_detach(v);
		proto_reader_release(&v->rd);
		break;

	default:
		break;
	}
	return 0;

bad:
	log_warn("viewer_protocol_error", "{s:s, s:s}", "session", v->sid, "reason", v->rd.errstr);
	lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)v->rd.errstr,
			 strlen(v->rd.errstr));
	return -1;
}

const struct lws_protocols relay_protocol = {
	CONTROL_VIEWER_PROTOCOL, callback_viewer, sizeof(struct viewer), 64u << 10, 0, NULL, 0
};
