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

struct viewer {
	struct viewer *next;          /* session->viewers */
	struct session *s;            /* NULL once detached */
	struct lws *wsi;
	char sid[2 * CONTROL_SESSION_ID_BYTES + 1];
	enum token_role role;
	uint64_t since;               /* requested start offset */
	uint64_t cursor;              /* next output offset to send */
	size_t next_event;            /* index in s->events */
	int hello_sent, exit_sent, finished;
	int backlog_said;             /* "input backlog full" sent since input last got through */
	size_t refused;               /* input frames refused (read-only): logged once, counted */
	struct proto_reader rd;
	/* A shared store answers later than the handshake: the token's jti is consumed once the
	 * connection is up, and until the answer the viewer is attached to nothing and reads
	 * nothing (its frames wait in the socket). */
	int once_pending;
	char jti[65];
	int64_t jti_exp;
	char sub[129];                /* the token's user: the session must be theirs */
	const char *refusal;          /* refused after the handshake: said, then closed */
	uint16_t refusal_code;        /* PROTO_ERR_... */
	/* A session held by another replica: read from its stream in the shared store. */
	int remote;                   /* 1: the record is asked for; 2: reading the stream */
	uint64_t remote_entry;        /* the last entry read */
	uint8_t *rq;                  /* frames to send: [size_t len][LWS_PRE][frame] ... */
	size_t rq_len, rq_sent;
	int remote_reading, remote_done;
	int64_t remote_since_ms;      /* when the record was first asked for */
	lws_sorted_usec_list_t sul_poll;
	/* how far it has read, told to the holder (store_reader_put): the writer is kept
	 * within the stream's window of it while it takes what it is sent */
	char reader[STORE_READER_MAX];
	uint64_t flushed;             /* the cursor when its queue was last all sent */
	int64_t taken_ms;             /* when it last took a frame, or had none waiting */
	lws_sorted_usec_list_t sul_report;
	struct control *ctl;
	/* a writer's frames for the holding replica, through the store (fleet_push_input) */
	char holder[2 * FLEET_REPLICA_ID_BYTES + 1];
	struct store_entry *ob;       /* its frames as store entries, oldest first, not yet in
				       * the store (the outbox; entries' data owned here) */
	size_t ob_n, ob_cap, ob_bytes;
	size_t pushing;               /* the first `pushing` entries are being pushed (one push
				       * in flight at a time: the order is kept) */
	int64_t full_since_ms;        /* the session's input in the store is full since */
	int rx_held;                  /* its socket is not read: the outbox is full */
	int store_said;               /* "input not delivered" said since input last got through */
	int64_t typed_ms;             /* when it last sent a frame: its echo is polled for fast */
	lws_sorted_usec_list_t sul_push;
};

#define VIEWER_REMOTE_STORE_RETRY_MS 250 /* a read the store did not answer: again after */
#define VIEWER_REMOTE_READAHEAD (4u << 20) /* unsent bytes under which a remote viewer
					     * behind asks for its next batch at once */
#define VIEWER_REMOTE_REPORT_MS 250   /* a remote viewer says how far it has read this often */
#define VIEWER_REMOTE_STALLED_MS 5000 /* one taking nothing this long holds nothing back */
#define VIEWER_REMOTE_POLL_MS 20      /* a remote viewer with nothing new asks again after */
#define VIEWER_REMOTE_TYPING_POLL_US 500 /* ... or this soon, while it is typing: an echo is due */
#define VIEWER_REMOTE_TYPING_MS 1000  /* "typing": a frame pushed within this long */
#define VIEWER_REMOTE_OUTBOX_MAX (256u << 10) /* bytes of a writer's frames not yet in the
					       * store; past it its socket is not read until they
					       * are (backpressure, as the agent link's queue) */
#define VIEWER_REMOTE_PUSH_BYTES (256u << 10) /* bytes one push carries (at least one entry) */
#define VIEWER_REMOTE_RETRY_MS 2      /* a push refused because the input is full: again after */
#define VIEWER_REMOTE_STALL_MS 5000   /* ... for this long, then the writer is told and its
				       * outbox dropped (the holder is not taking input) */
#define VIEWER_REMOTE_RECORD_WAIT_MS 1000 /* a record not there yet (its replica puts it
					   * within FLEET_TICK_MS) is asked for this long */

static int remote_write(struct viewer *v);
static uint8_t *rq_frame(struct viewer *v, size_t len);
static void on_remote_poll(lws_sorted_usec_list_t *sul);

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
		return remote_write(v);
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

static void rq_error(struct viewer *v, uint16_t code, const char *msg)
{
	uint8_t *dst = rq_frame(v, PROTO_ERROR_MAX_LEN);

	if (!dst)
		return;
	size_t n = proto_encode_error(dst, code, msg);
	/* the frame was reserved at its largest: record its real length */
	memcpy(dst - LWS_PRE - sizeof(size_t), &n, sizeof(size_t));
	v->rq_len -= PROTO_ERROR_MAX_LEN - n;
	lws_callback_on_writable(v->wsi);
}

static void ob_flush(struct viewer *v);
static int viewer_read_frames(struct viewer *v);

/* Drops the outbox's first `n` entries. */
static void ob_drop(struct viewer *v, size_t n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		v->ob_bytes -= v->ob[i].len;
		free((void *)v->ob[i].data);
	}
	memmove(v->ob, v->ob + n, (v->ob_n - n) * sizeof(*v->ob));
	v->ob_n -= n;
}

static void on_push_retry(lws_sorted_usec_list_t *sul)
{
	ob_flush(lws_container_of(sul, struct viewer, sul_push));
}

/* The store's answer to a push. Frames are never lost unsaid: refused for want of room they
 * are pushed again (in order, the writer held back meanwhile) and only after
 * VIEWER_REMOTE_STALL_MS said and dropped; refused because the store is unreachable they are
 * said, once per run of refusals, as the local path says "input backlog full". */
static void on_input_pushed(void *arg, int rc, int64_t value)
{
	struct viewer *v = arg;
	size_t n = v->pushing;

	v->pushing = 0;
	if (!rc) {
		ob_drop(v, n);
		v->full_since_ms = 0;
		v->backlog_said = 0;
		v->store_said = 0;
	} else if (rc == RW_ELIMIT) {
		int64_t now = rw_now_ms();
		if (!v->full_since_ms)
			v->full_since_ms = now;
		if (now - v->full_since_ms < VIEWER_REMOTE_STALL_MS) {
			lws_sul_schedule(v->ctl->ctx, 0, &v->sul_push, on_push_retry,
					 VIEWER_REMOTE_RETRY_MS * LWS_US_PER_MS);
			return;
		}
		log_warn("viewer_input_undelivered", "{s:s, s:s, s:I}", "session", v->sid, "reason",
			 "input backlog full", "frames", (json_int_t)v->ob_n);
		ob_drop(v, v->ob_n);
		v->full_since_ms = 0;
		if (!v->backlog_said++)
			rq_error(v, PROTO_ERR_FORBIDDEN, "input backlog full: input not delivered");
	} else {
		log_warn("viewer_input_undelivered", "{s:s, s:s, s:I}", "session", v->sid, "reason",
			 rc == RW_EAGAIN ? "store unavailable" : "refused", "frames", (json_int_t)n);
		ob_drop(v, n);
		if (!v->store_said++)
			rq_error(v, PROTO_ERR_INTERNAL,
				 "session store unavailable: input not delivered");
	}
	if (v->rx_held && v->ob_bytes < VIEWER_REMOTE_OUTBOX_MAX / 2) {
		v->rx_held = 0;
		lws_rx_flow_control(v->wsi, 1);
		if (viewer_read_frames(v) < 0 && !v->refusal) {
			v->refusal = v->rd.errstr;
			v->refusal_code = PROTO_ERR_PROTOCOL;
			lws_callback_on_writable(v->wsi);
		}
	}
	ob_flush(v);
}

/* Pushes the outbox's oldest entries unless a push is in flight. */
static void ob_flush(struct viewer *v)
{
	size_t n = 0, bytes = 0;

	if (v->pushing || !v->ob_n)
		return;
	while (n < v->ob_n && n < STORE_INPUT_BATCH &&
	       (!n || bytes + v->ob[n].len <= VIEWER_REMOTE_PUSH_BYTES))
		bytes += v->ob[n++].len;
	v->pushing = n;
	store_input_push(v->ctl->store, v->holder, v->sid, v->ob, n, on_input_pushed, v);
}

/* A frame from a viewer of a session another replica holds: to the holder's input. */
static void remote_input(struct viewer *v, const struct proto_frame *f)
{
	struct store_entry *nb;
	uint8_t *e;
	size_t len;

	if (v->remote != 2 || v->remote_done)
		return;   /* not attached yet (its socket is not read), or the session ended */
	if (v->role == TOKEN_ROLE_VIEWER) {
		/* read-only, checked here where the token was verified (the holder checks the
		 * owner again): refused and said once, as on the holding replica */
		if (!v->refused++)
			rq_error(v, PROTO_ERR_FORBIDDEN, "read-only viewer: input refused");
		return;
	}
	if (f->type == PROTO_INPUT && !f->len)
		return;
	if (v->ob_n == v->ob_cap) {
		size_t nc = v->ob_cap ? 2 * v->ob_cap : 64;
		if (!(nb = realloc(v->ob, nc * sizeof(*nb))))
			goto nomem;
		v->ob = nb;
		v->ob_cap = nc;
	}
	if (!(e = fleet_input_entry(v->sub, f, &len)))
		goto nomem;
	v->ob[v->ob_n++] = (struct store_entry){ .data = e, .len = len };
	v->ob_bytes += len;
	v->typed_ms = rw_now_ms();
	if (!v->rx_held && v->ob_bytes >= VIEWER_REMOTE_OUTBOX_MAX) {
		v->rx_held = 1;
		lws_rx_flow_control(v->wsi, 0);
	}
	ob_flush(v);
	if (!v->remote_reading && v->rq_len == v->rq_sent)
		lws_sul_schedule(v->ctl->ctx, 0, &v->sul_poll, on_remote_poll,
				 VIEWER_REMOTE_TYPING_POLL_US);
	return;
nomem:
	if (!v->backlog_said++)
		rq_error(v, PROTO_ERR_INTERNAL, "out of memory: input not delivered");
}

static void viewer_input(struct viewer *v, const struct proto_frame *f)
{
	struct session *s = v->s;

	if (f->type != PROTO_INPUT && f->type != PROTO_RESIZE && f->type != PROTO_SIGNAL)
		return;
	if (v->remote) {
		remote_input(v, f);
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

/* ---- a viewer of a session another replica holds (its stream in the shared store) ---- */

static void remote_poll(struct viewer *v);

/* Queues one frame of `len` bytes for the remote viewer; returns where to write it. */
static uint8_t *rq_frame(struct viewer *v, size_t len)
{
	size_t need = sizeof(size_t) + LWS_PRE + len;
	uint8_t *nb = realloc(v->rq, v->rq_len + need);

	if (!nb)
		return NULL;
	v->rq = nb;
	memcpy(v->rq + v->rq_len, &len, sizeof(size_t));
	v->rq_len += need;
	return v->rq + v->rq_len - len;
}

static void rq_json(struct viewer *v, enum proto_type type, json_t *obj)
{
	size_t len;
	uint8_t *buf = proto_encode_json(type, obj, 0, &len), *dst;

	json_decref(obj);
	if (buf && (dst = rq_frame(v, len)))
		memcpy(dst, buf, len);
	free(buf);
}

static void on_remote_poll(lws_sorted_usec_list_t *sul)
{
	remote_poll(lws_container_of(sul, struct viewer, sul_poll));
}

/* A batch of the stream: output from the viewer's cursor on (a gap is said as a resync),
 * events, and the end. */
static void on_remote_entries(void *arg, int rc, const struct store_entry *e, size_t n)
{
	struct viewer *v = arg;

	v->remote_reading = 0;
	if (rc) {
		/* the store is unreachable: the viewer waits where it is (nothing is lost, the
		 * holder keeps putting what it missed once the store is back) and asks again */
		lws_sul_schedule(v->ctl->ctx, 0, &v->sul_poll, on_remote_poll,
				 VIEWER_REMOTE_STORE_RETRY_MS * LWS_US_PER_MS);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		v->remote_entry = e[i].n;
		if (e[i].kind == 'e') {
			uint8_t *dst = rq_frame(v, e[i].len);
			if (dst)
				memcpy(dst, e[i].data, e[i].len);
		} else if (e[i].kind == 'o') {
			uint64_t end = e[i].offset + e[i].len, skip;
			if (end <= v->cursor)
				continue;
			if (e[i].offset > v->cursor) {
				/* trimmed from the shared stream while this viewer was behind */
				log_warn("remote_viewer_skipped", "{s:s, s:I, s:I}", "session", v->sid,
					 "offset", (json_int_t)e[i].offset, "cursor", (json_int_t)v->cursor);
				rq_json(v, PROTO_EVENT, json_pack("{s:s, s:I, s:I, s:s}", "type", "resync",
								  "skipped", (json_int_t)(e[i].offset - v->cursor),
								  "offset", (json_int_t)e[i].offset, "reason",
								  "not in the shared stream"));
				v->cursor = e[i].offset;
			}
			skip = v->cursor - e[i].offset;
			uint8_t *dst = rq_frame(v, PROTO_OUTPUT_PREFIX_LEN + (size_t)(end - v->cursor));
			if (!dst)
				continue;
			proto_encode_output_prefix(dst, v->cursor, (size_t)(end - v->cursor));
			memcpy(dst + PROTO_OUTPUT_PREFIX_LEN, e[i].data + skip, (size_t)(end - v->cursor));
			v->cursor = end;
			v->ctl->m.bytes_out += end - e[i].offset - skip;
		} else if (e[i].kind == 'x') {
			uint8_t *dst = e[i].len ? rq_frame(v, e[i].len) : NULL;
			if (dst)
				memcpy(dst, e[i].data, e[i].len);
			v->remote_done = 1;
		}
	}
	/* a full batch: the viewer is behind, so the next one is asked for while this one is
	 * sent (at most VIEWER_REMOTE_READAHEAD unsent plus one batch held), or a viewer on a
	 * busy machine falls further behind than the store keeps */
	if (n == STORE_STREAM_BATCH && !v->remote_done &&
	    v->rq_len - v->rq_sent < VIEWER_REMOTE_READAHEAD)
		remote_poll(v);
	if (v->rq_len > v->rq_sent || v->remote_done)
		lws_callback_on_writable(v->wsi);
	else
		lws_sul_schedule(v->ctl->ctx, 0, &v->sul_poll, on_remote_poll,
				 rw_now_ms() - v->typed_ms < VIEWER_REMOTE_TYPING_MS ?
					 VIEWER_REMOTE_TYPING_POLL_US :
					 VIEWER_REMOTE_POLL_MS * LWS_US_PER_MS);
}

static void remote_poll(struct viewer *v)
{
	if (v->remote_reading || v->remote_done)
		return;
	v->remote_reading = 1;
	store_stream_read(v->ctl->store, v->sid, v->remote_entry, on_remote_entries, v);
}

static void on_remote_record(void *arg, int rc, json_t *rec);
static void on_remote_report(lws_sorted_usec_list_t *sul);
static uint64_t reader_serial;   /* remote viewers so far: with the replica's id, a name */

static void on_record_retry(lws_sorted_usec_list_t *sul)
{
	struct viewer *v = lws_container_of(sul, struct viewer, sul_poll);

	store_session_get(v->ctl->store, v->sid, on_remote_record, v);
}

/* The session's record: whose it is, its state and size, for the hello. */
static void on_remote_record(void *arg, int rc, json_t *rec)
{
	struct viewer *v = arg;
	json_t *view = json_object_get(rec, "view");
	const char *owner = json_string_value(json_object_get(rec, "owner"));

	if (rc == RW_ENOTFOUND && rw_now_ms() - v->remote_since_ms < VIEWER_REMOTE_RECORD_WAIT_MS) {
		/* created a moment ago on another replica: its record is on its way */
		lws_sul_schedule(v->ctl->ctx, 0, &v->sul_poll, on_record_retry,
				 100 * LWS_US_PER_MS);
		return;
	}
	if (rc || !owner || strcmp(owner, v->sub) || !json_is_object(view)) {
		v->refusal = rc == RW_EAGAIN ? "session store unavailable: try again shortly"
					     : "no such session";
		v->refusal_code = rc == RW_EAGAIN ? PROTO_ERR_INTERNAL : PROTO_ERR_NOT_FOUND;
		json_decref(rec);
		lws_callback_on_writable(v->wsi);
		return;
	}
	snprintf(v->holder, sizeof(v->holder), "%s",
		 json_string_value(json_object_get(rec, "replica")) ?
			 json_string_value(json_object_get(rec, "replica")) : "");
	v->remote = 2;
	v->cursor = v->flushed = v->since;
	v->taken_ms = rw_now_ms();
	snprintf(v->reader, sizeof(v->reader), "%s-%llu", v->ctl->replica,
		 (unsigned long long)++reader_serial);
	on_remote_report(&v->sul_report);
	lws_rx_flow_control(v->wsi, 1);   /* its frames may come now: they go to the holder */
	v->hello_sent = 1;
	rq_json(v, PROTO_HELLO, json_pack("{s:i, s:s, s:O, s:s, s:I, s:O, s:O, s:O}", "v",
					   PROTO_VERSION, "sessionId", v->sid, "state",
					   json_object_get(view, "state"), "role",
					   v->role == TOKEN_ROLE_VIEWER ? "viewer" : "writer",
					   "offset", (json_int_t)v->cursor, "bytes",
					   json_object_get(view, "bytes"), "cols",
					   json_object_get(view, "cols"), "rows",
					   json_object_get(view, "rows")));
	json_decref(rec);
	lws_callback_on_writable(v->wsi);
}

/* Says how far `v` has read, while it takes what it is sent (docs/architecture.md,
 * "Failover": a viewer through another replica holds the writer back, within bounds). */
static void on_remote_report(lws_sorted_usec_list_t *sul)
{
	struct viewer *v = lws_container_of(sul, struct viewer, sul_report);
	int64_t now = rw_now_ms();

	if (v->remote_done)
		return;
	if (v->rq_len == v->rq_sent)
		v->taken_ms = now;   /* nothing waits for it: it keeps up */
	if (now - v->taken_ms < VIEWER_REMOTE_STALLED_MS)
		store_reader_put(v->ctl->store, v->sid, v->reader, v->flushed);
	lws_sul_schedule(v->ctl->ctx, 0, &v->sul_report, on_remote_report,
			 VIEWER_REMOTE_REPORT_MS * LWS_US_PER_MS);
}

/* Sends what is queued; asks for more once it is gone. -1 to close. */
static int remote_write(struct viewer *v)
{
	while (v->rq_sent < v->rq_len) {
		size_t len;
		memcpy(&len, v->rq + v->rq_sent, sizeof(size_t));
		uint8_t *frame = v->rq + v->rq_sent + sizeof(size_t) + LWS_PRE;
		if (lws_write(v->wsi, frame, len, LWS_WRITE_BINARY) < 0)
			return -1;
		v->taken_ms = rw_now_ms();
		v->rq_sent += sizeof(size_t) + LWS_PRE + len;
		if (lws_send_pipe_choked(v->wsi)) {
			lws_callback_on_writable(v->wsi);
			return 0;
		}
	}
	free(v->rq);
	v->rq = NULL;
	v->rq_len = v->rq_sent = 0;
	v->flushed = v->cursor;
	if (v->remote_done) {
		lws_close_reason(v->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (v->remote == 2)
		remote_poll(v);
	return 0;
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
		store_session_get(ctl->store, v->sid, on_remote_record, v);
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
static int viewer_read_frames(struct viewer *v)
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
		if (v->remote) {
			lws_sul_cancel(&v->sul_poll);
			lws_sul_cancel(&v->sul_report);
			if (v->reader[0])
				store_reader_drop(ctl->store, v->sid, v->reader);
			lws_sul_cancel(&v->sul_push);
			free(v->rq);
			v->rq = NULL;
			if (v->ob_n)
				log_info("viewer_input_unsent", "{s:s, s:I}", "session", v->sid,
					 "frames", (json_int_t)v->ob_n);
			ob_drop(v, v->ob_n);
			free(v->ob);
			v->ob = NULL;
		}
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
