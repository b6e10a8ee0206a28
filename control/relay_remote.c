/* relay_remote.c: viewers of a session another replica holds (relay_int.h). Its output,
 * events and end are read from the session's stream in the shared store, and a writer's
 * frames go to the holder through the store (docs/architecture.md, "Viewing across
 * replicas", "Typing across replicas"). */
#include "control/relay_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *rq_frame(struct viewer *v, size_t len);
static void on_remote_poll(lws_sorted_usec_list_t *sul);

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
void relay_remote_input(struct viewer *v, const struct proto_frame *f)
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
int relay_remote_write(struct viewer *v)
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

void relay_remote_start(struct viewer *v)
{
	store_session_get(v->ctl->store, v->sid, on_remote_record, v);
}

void relay_remote_close(struct viewer *v)
{
	lws_sul_cancel(&v->sul_poll);
	lws_sul_cancel(&v->sul_report);
	if (v->reader[0])
		store_reader_drop(v->ctl->store, v->sid, v->reader);
	lws_sul_cancel(&v->sul_push);
	free(v->rq);
	v->rq = NULL;
	if (v->ob_n)
		log_info("viewer_input_unsent", "{s:s, s:I}", "session", v->sid, "frames",
			 (json_int_t)v->ob_n);
	ob_drop(v, v->ob_n);
	free(v->ob);
	v->ob = NULL;
}
