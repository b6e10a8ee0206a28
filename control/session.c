/* session.c: sessions and their life cycle (see control.h): the registry, the queue of
 * sessions waiting for an agent, state changes, and cancellation.
 */
#include "control/control.h"
#include "common/log.h"
#include "common/rw.h"
#include "common/text.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void session_free_fields(struct session *s);

static const char *const state_names[] = {
	"waiting", "starting", "running", "exited", "failed", "cancelled",
};

const char *session_state_name(enum session_state st)
{
	return (size_t)st < RW_ARRAY_LEN(state_names) ? state_names[st] : "unknown";
}

int session_is_final(const struct session *s)
{
	return s->state >= SESSION_EXITED;
}

/* A new session `id` (or a fresh id when NULL), waiting, queued when `queue`. */
static struct session *session_create(struct control *ctl, const char *id, const char *owner,
				      struct session_spec *spec, uint16_t cols, uint16_t rows,
				      int queue)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->command = spec->command;
	s->env = spec->env ? spec->env : json_object();
	s->bundle = spec->bundle;
	s->install = spec->install;
	s->trusted = spec->trusted;
	s->template_name = spec->template_name;
	s->sandbox = spec->sandbox;
	s->secrets = spec->secrets;
	memset(spec, 0, sizeof(*spec));
	s->ctl = ctl;
	if (id)
		snprintf(s->id, sizeof(s->id), "%s", id);
	else
		rw_random_hex(s->id, CONTROL_SESSION_ID_BYTES);
	snprintf(s->owner, sizeof(s->owner), "%s", owner);
	s->cols = cols;
	s->rows = rows;
	s->created_ms = rw_now_ms();
	s->state = SESSION_WAITING;
	s->published.reader_floor = -1;   /* no viewer on another replica yet */
	if (stream_open(&s->stream, session_dir(ctl), s->id, ctl->cfg.scrollback)) {
		/* the log is what makes "every byte" true: no session without one */
		log_error("session_log_unavailable", "{s:s, s:s}", "session", s->id, "reason",
			  s->stream.err);
		stream_release(&s->stream, 1);
		session_free_fields(s);
		return NULL;
	}

	s->next = ctl->sessions;
	if (ctl->sessions)
		ctl->sessions->prev = s;
	ctl->sessions = s;
	ctl->n_sessions++;

	if (queue)
		session_enqueue(s);
	s->rec = recording_open(session_recording_path(s), cols, rows, s->created_ms, s->command);
	if (!s->rec)
		log_warn("recording_unavailable", "{s:s, s:s}", "session", s->id, "path",
			 session_recording_path(s));
	return s;
}

struct session *session_new(struct control *ctl, const char *owner, struct session_spec *spec,
			    uint16_t cols, uint16_t rows)
{
	struct session *s = session_create(ctl, NULL, owner, spec, cols, rows, 1);

	if (s)
		ctl->m.sessions_created++;
	return s;
}

const char *session_dir(const struct control *ctl)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/sessions", ctl->cfg.data_dir);
	return path;
}

const char *session_recording_path(const struct session *s)
{
	static char path[4400];

	snprintf(path, sizeof(path), "%s/recordings/%s.cast", s->ctl->cfg.data_dir, s->id);
	return path;
}

struct session *session_find_any(struct control *ctl, const char *id)
{
	for (struct session *s = ctl->sessions; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

struct session *session_find(struct control *ctl, const char *id)
{
	struct session *s = session_find_any(ctl, id);

	return s && !s->adopting && !s->published.moved ? s : NULL;
}

/* The view's state, when it is one a live session can be taken over in. */
static int adoptable_state(json_t *view, enum session_state *st)
{
	const char *name = json_string_value(json_object_get(view, "state"));

	if (name && !strcmp(name, "starting"))
		*st = SESSION_STARTING;
	else if (name && !strcmp(name, "running"))
		*st = SESSION_RUNNING;
	else
		return 0;
	return 1;
}

static int64_t view_ms(json_t *view, const char *key)
{
	json_t *v = json_object_get(view, key);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* The view's dimension `key` when it is one, else `dflt`. */
static uint16_t view_dim(json_t *view, const char *key, uint16_t dflt)
{
	json_int_t v = json_integer_value(json_object_get(view, key));

	return v > 0 && v <= PROTO_MAX_DIM ? (uint16_t)v : dflt;
}

struct session *session_adopt(struct control *ctl, const char *id, const char *owner,
			      json_t *view, struct session_spec *spec)
{
	struct session_spec none = { 0 };
	const char *cmd = json_string_value(json_object_get(view, "command"));
	enum session_state st = SESSION_WAITING;
	struct session *s;

	if (strlen(id) != 2 * CONTROL_SESSION_ID_BYTES || (!spec && !adoptable_state(view, &st)))
		return NULL;
	if (!spec) {
		/* a running session: what it runs is its runner's; the view says what to show */
		spec = &none;
		if (!(none.command = strdup(cmd ? cmd : "")))
			return NULL;
		if (json_is_string(json_object_get(view, "template")))
			none.template_name = strdup(json_string_value(json_object_get(view, "template")));
		if (json_is_object(json_object_get(view, "bundle")))
			none.bundle = json_incref(json_object_get(view, "bundle"));
	}
	s = session_create(ctl, id, owner, spec, view_dim(view, "cols", 80),
			   view_dim(view, "rows", 24), st == SESSION_WAITING);
	session_spec_release(&none);
	if (!s)
		return NULL;
	s->state = st;
	s->adopting = st != SESSION_WAITING;
	if (view_ms(view, "createdAt"))
		s->created_ms = view_ms(view, "createdAt");
	s->started_ms = view_ms(view, "startedAt");
	return s;
}

void session_enqueue(struct session *s)
{
	struct control *ctl = s->ctl;

	if (s->waiting || s->state != SESSION_WAITING)
		return;
	s->waiting = 1;
	if (ctl->waiting_tail)
		ctl->waiting_tail->wait_next = s;
	else
		ctl->waiting_head = s;
	ctl->waiting_tail = s;
}

void session_unqueue(struct session *s)
{
	struct control *ctl = s->ctl;
	struct session **pp = &ctl->waiting_head, *prev = NULL;

	if (!s->waiting)
		return;
	while (*pp && *pp != s) {
		prev = *pp;
		pp = &(*pp)->wait_next;
	}
	if (*pp) {
		*pp = s->wait_next;
		if (ctl->waiting_tail == s)
			ctl->waiting_tail = prev;
	}
	s->wait_next = NULL;
	s->waiting = 0;
}

struct session *session_pop_waiting(struct control *ctl)
{
	struct session *s = ctl->waiting_head;

	if (s)
		session_unqueue(s);
	return s;
}

size_t session_count_waiting(const struct control *ctl)
{
	size_t n = 0;

	for (const struct session *s = ctl->waiting_head; s; s = s->wait_next)
		n++;
	return n;
}

void session_set_state(struct session *s, enum session_state st, const char *reason)
{
	json_t *ev;

	if (s->state == st || session_is_final(s))
		return;
	s->state = st;
	if (st == SESSION_RUNNING && !s->started_ms)
		s->started_ms = rw_now_ms();
	if (st >= SESSION_EXITED) {
		s->ended_ms = rw_now_ms();
		session_unqueue(s);
		lws_sul_cancel(&s->sul_cancel);
		if (s->rec) {
			s->rec_bytes = recording_size(s->rec);
			recording_close(s->rec);
			s->rec = NULL;
		}
		stream_finish(&s->stream);
		/* what only a runner needed goes now; what the API shows stays */
		json_decref(s->env);
		s->env = json_object();
		text_secrets_wipe(s->secrets);   /* ended before an agent took it */
		s->secrets = NULL;
		free(s->pending_input);
		s->pending_input = NULL;
		s->pending_input_len = 0;
	}
	if (reason) {
		free(s->reason);
		s->reason = strdup(reason);
	}
	log_info("session_state", "{s:s, s:s, s:s?}", "session", s->id, "state",
		 session_state_name(st), "reason", reason);
	ev = json_pack("{s:s, s:s}", "type", "state", "state", session_state_name(st));
	if (reason)
		json_object_set_new(ev, "reason", json_string(reason));
	relay_event(s, ev);
	relay_wake_all(s);
	if (st >= SESSION_EXITED && !s->n_viewers)
		session_viewer_left(s);
}

void session_viewer_left(struct session *s)
{
	if (session_is_final(s) && !s->n_viewers)
		stream_idle(&s->stream);
}

uint64_t session_disk_bytes(const struct session *s)
{
	return s->stream.disk_bytes + (s->rec ? recording_size(s->rec) : s->rec_bytes);
}

json_t *session_to_json(const struct session *s)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:i}",
			      "sessionId", s->id, "state", session_state_name(s->state),
			      "command", s->command, "cols", s->cols, "rows", s->rows,
			      "createdAt", (json_int_t)s->created_ms,
			      "bytes", (json_int_t)s->stream.end,
			      "viewers", (int)s->n_viewers);

	json_object_set_new(j, "startedAt", s->started_ms ? json_integer(s->started_ms) : json_null());
	json_object_set_new(j, "endedAt", s->ended_ms ? json_integer(s->ended_ms) : json_null());
	if (s->have_exit) {
		char hex[2 * PROTO_SHA256_LEN + 1];
		rw_hex(hex, s->exit.sha256, PROTO_SHA256_LEN);
		json_object_set_new(j, "exitCode",
				    s->exit.signo ? json_null() : json_integer(s->exit.code));
		json_object_set_new(j, "signal", s->exit.signo ? json_integer(s->exit.signo) : json_null());
		json_object_set_new(j, "sha256", json_string(hex));
		/* the agent's total and digest against what control itself received */
		json_object_set_new(j, "verified", json_boolean(s->digest_ok));
		if (!s->digest_ok)
			json_object_set_new(j, "verifyReason",
					    s->stream.partial ?
						    json_sprintf("taken over from a replica after the "
								 "store had let go of its first %llu "
								 "bytes: the digest cannot be checked",
								 (unsigned long long)s->stream.start) :
					    s->exit.total != s->stream.end ?
						    json_sprintf("the runner reports %llu bytes, control "
								 "received %llu",
								 (unsigned long long)s->exit.total,
								 (unsigned long long)s->stream.end) :
						    json_string("the runner's SHA-256 differs from control's "
								"digest of the same bytes"));
	} else {
		json_object_set_new(j, "exitCode", json_null());
		json_object_set_new(j, "signal", json_null());
		json_object_set_new(j, "verified", json_null());
	}
	json_object_set_new(j, "reason", s->reason ? json_string(s->reason) : json_null());
	json_object_set_new(j, "wsUrl", json_sprintf("/ws/%s", s->id));
	if (s->template_name)
		json_object_set_new(j, "template", json_string(s->template_name));
	if (s->bundle)
		json_object_set(j, "bundle", s->bundle);
	return j;
}

static void on_cancel_grace(lws_sorted_usec_list_t *sul)
{
	struct session *s = lws_container_of(sul, struct session, sul_cancel);

	if (s->agent && !session_is_final(s)) {
		log_info("cancel_kill", "{s:s}", "session", s->id);
		agent_link_send_signal(s->agent, SIGKILL);
	}
}

void session_cancel(struct session *s)
{
	if (session_is_final(s))
		return;
	s->cancel_requested = 1;
	if (!s->agent) {
		session_set_state(s, SESSION_CANCELLED, "cancelled before a runner started it");
		return;
	}
	/* SIGHUP first, as a terminal hang-up would; SIGKILL to the group after the grace. */
	agent_link_send_signal(s->agent, SIGHUP);
	lws_sul_schedule(s->ctl->ctx, 0, &s->sul_cancel, on_cancel_grace,
			 (lws_usec_t)s->ctl->cfg.cancel_grace_ms * LWS_US_PER_MS);
}

static void session_free_fields(struct session *s)
{
	json_decref(s->env);
	json_decref(s->bundle);
	free(s->install);
	free(s->template_name);
	json_decref(s->sandbox);
	json_decref(s->request);
	text_secrets_wipe(s->secrets);
	free(s->pending_input);
	free(s->command);
	free(s->reason);
	free(s);
}

static void session_free(struct session *s, int remove_files)
{
	relay_detach_all(s);
	lws_sul_cancel(&s->sul_cancel);
	recording_close(s->rec);
	s->rec = NULL;
	if (remove_files)
		unlink(session_recording_path(s));
	stream_release(&s->stream, remove_files);
	session_free_fields(s);
}

int session_delete(struct session *s)
{
	struct control *ctl = s->ctl;

	if (!session_is_final(s) || s->agent)
		return RW_ESTATE;
	if (s->prev)
		s->prev->next = s->next;
	else
		ctl->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	ctl->n_sessions--;
	log_info("session_deleted", "{s:s}", "session", s->id);
	session_free(s, 1);
	return RW_OK;
}

void session_free_all(struct control *ctl)
{
	while (ctl->sessions) {
		struct session *s = ctl->sessions;
		ctl->sessions = s->next;
		session_free(s, 0);
	}
	ctl->waiting_head = ctl->waiting_tail = NULL;
	ctl->n_sessions = 0;
}
