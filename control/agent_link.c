/* agent_link.c: agents connected to control (WS /agent, DESIGN.md: pull, not push).
 *
 * An agent says HELLO with its credential, waits idle until the dispatcher hands it a
 * session (ASSIGN), then streams OUTPUT frames that control acknowledges (ACK) once they
 * are in the session log and, with replicas sharing a store, in the store (fleet_acked). A
 * reconnecting agent says HELLO with `resume`, the session's resume key and its runner
 * credential again; control checks both against the runner the session was assigned to
 * (or, for a session another replica held, against its record: fleet_adopt), answers with
 * the offset it holds and the agent resends from there. EXIT ends the session; control
 * acknowledges the total and closes the link.
 */
#include "control/agent_redirect.h"
#include "control/control.h"
#include "control/fleet.h"
#include "common/log.h"
#include "common/rw.h"
#include "common/text.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#define AGENT_LINK_HELLO_TIMEOUT_S 10
#define AGENT_LINK_MAX_QUEUED (1u << 20)   /* frames waiting to go to one agent */
#define AGENT_LINK_MAX_UNAUTHENTICATED 64  /* links at once that have not said HELLO yet */
#define AGENT_LINK_RESUME_KEY_BYTES 32     /* random bytes of a session's resume key */

struct link_frame {
	struct link_frame *next;
	size_t len;
	uint8_t buf[];      /* frame at buf + LWS_PRE */
};

struct agent_link {
	struct agent_link *next;       /* ctl->agents */
	struct control *ctl;
	struct lws *wsi;
	int authed;
	int idle;                      /* authenticated, no session yet */
	int64_t idle_since_ms;
	struct agent_identity who;
	int pid;
	struct session *s;
	struct proto_reader rd;
	struct link_frame *q_head, *q_tail;
	size_t q_bytes;
	int ack_due;                   /* send an ACK: the log (and, with replicas, the store)
					* holds more than `acked` */
	uint64_t acked;                /* the last ACK sent on this link */
	int ack_final;                 /* the ACK after EXIT is still due */
	int closing;                   /* close once the queue is flushed */
	int follows;                   /* redirects the agent followed before this link (its
					* HELLO's "redirects"); -1: it cannot follow one */
	int redirected;                /* told to go elsewhere: counted nowhere, closing */
	int adopting;                  /* its resume waits for fleet_adopt */
	uint64_t resume_end;           /* ... with the end of what the agent holds */
};

static struct link_frame *frame_alloc(size_t len)
{
	struct link_frame *f = malloc(sizeof(*f) + LWS_PRE + len);

	if (f) {
		f->next = NULL;
		f->len = len;
	}
	return f;
}

/* Frees a frame, its bytes wiped first: frames to an agent carry a viewer's keystrokes and
 * ASSIGN's secrets, and freed memory is the next allocation's garbage. */
static void frame_free(struct link_frame *f)
{
	if (f) {
		sodium_memzero(f->buf, LWS_PRE + f->len);
		free(f);
	}
}

static int link_queue(struct agent_link *l, struct link_frame *f)
{
	if (l->q_bytes + f->len > AGENT_LINK_MAX_QUEUED) {
		frame_free(f);
		return RW_ETOOBIG;
	}
	if (l->q_tail)
		l->q_tail->next = f;
	else
		l->q_head = f;
	l->q_tail = f;
	l->q_bytes += f->len;
	lws_callback_on_writable(l->wsi);
	return RW_OK;
}

static int link_queue_json(struct agent_link *l, enum proto_type type, json_t *obj)
{
	size_t len;
	uint8_t *enc = proto_encode_json(type, obj, LWS_PRE, &len);
	struct link_frame *f;

	json_decref(obj);
	if (!enc)
		return RW_ENOMEM;
	f = frame_alloc(len);
	if (!f) {
		sodium_memzero(enc, LWS_PRE + len);
		free(enc);
		return RW_ENOMEM;
	}
	memcpy(f->buf + LWS_PRE, enc + LWS_PRE, len);
	sodium_memzero(enc, LWS_PRE + len);
	free(enc);
	return link_queue(l, f);
}

static void link_error(struct agent_link *l, uint16_t code, const char *msg)
{
	struct link_frame *f = frame_alloc(PROTO_ERROR_MAX_LEN);

	if (f) {
		f->len = proto_encode_error(f->buf + LWS_PRE, code, msg);
		link_queue(l, f);
	}
	l->closing = 1;
	lws_callback_on_writable(l->wsi);
}

int agent_link_send_input(struct agent_link *l, const uint8_t *data, size_t len)
{
	struct link_frame *f = frame_alloc(PROTO_INPUT_PREFIX_LEN + len);

	if (!f)
		return RW_ENOMEM;
	proto_encode_input_prefix(f->buf + LWS_PRE, len);
	memcpy(f->buf + LWS_PRE + PROTO_INPUT_PREFIX_LEN, data, len);
	return link_queue(l, f);
}

void agent_link_store_caught_up(struct agent_link *l)
{
	l->ack_due = 1;
	lws_callback_on_writable(l->wsi);
}

void agent_link_send_away(struct agent_link *l, const char *why)
{
	if (l->s && l->s->agent == l)
		l->s->agent = NULL;
	l->s = NULL;
	l->ack_due = 0;
	link_error(l, PROTO_ERR_INTERNAL, why);
}

size_t agent_link_room(const struct agent_link *l)
{
	return l->q_bytes < AGENT_LINK_MAX_QUEUED ? AGENT_LINK_MAX_QUEUED - l->q_bytes : 0;
}

int agent_link_send_resize(struct agent_link *l, uint16_t cols, uint16_t rows)
{
	struct link_frame *f = frame_alloc(PROTO_RESIZE_LEN);

	if (!f)
		return RW_ENOMEM;
	proto_encode_resize(f->buf + LWS_PRE, cols, rows);
	return link_queue(l, f);
}

int agent_link_send_signal(struct agent_link *l, int signo)
{
	struct link_frame *f = frame_alloc(PROTO_SIGNAL_LEN);

	if (!f)
		return RW_ENOMEM;
	proto_encode_signal(f->buf + LWS_PRE, (uint8_t)signo);
	return link_queue(l, f);
}

void agent_link_assign(struct agent_link *l, struct session *s)
{
	l->idle = 0;
	l->s = s;
	s->agent = l;
	s->runner_id = l->who.local ? l->who.agent_id : 0;
	s->holder = l->who;
	rw_random_hex(s->resume_key, AGENT_LINK_RESUME_KEY_BYTES);
	json_t *assign = json_pack("{s:s, s:s, s:i, s:i, s:O, s:s}", "sessionId", s->id, "command",
				   s->command, "cols", s->cols, "rows", s->rows, "env", s->env,
				   "resumeKey", s->resume_key);
	if (s->bundle) {
		json_object_set(assign, "bundle", s->bundle);
		json_object_set_new(assign, "fetch", templates_fetch_policy(l->ctl, s->trusted));
	}
	if (s->install)
		json_object_set_new(assign, "install", json_string(s->install));
	if (s->sandbox)
		json_object_set(assign, "sandbox", s->sandbox);
	/* secrets ride apart from "env" (which logs and tools may show) and leave control's
	 * memory once encoded: the session never needs them again (one ASSIGN per session) */
	if (json_object_size(s->secrets))
		json_object_set(assign, "secrets", s->secrets);
	link_queue_json(l, PROTO_ASSIGN, assign);
	text_secrets_wipe(s->secrets);
	s->secrets = NULL;
	json_decref(s->request);   /* it no longer waits: no replica will queue it again */
	s->request = NULL;
	if (s->pending_input_len) {
		agent_link_send_input(l, s->pending_input, s->pending_input_len);
		free(s->pending_input);
		s->pending_input = NULL;
		s->pending_input_len = 0;
	}
	session_set_state(s, SESSION_STARTING, NULL);
	log_info("session_assigned", "{s:s, s:i, s:b}", "session", s->id, "agent_pid", l->pid,
		 "local", l->who.local);
}

struct agent_link *agent_link_pop_idle(struct control *ctl)
{
	struct agent_link *best = NULL;

	/* the agent idle longest goes first */
	for (struct agent_link *l = ctl->agents; l; l = l->next)
		if (l->idle && !l->closing && (!best || l->idle_since_ms < best->idle_since_ms))
			best = l;
	if (best)
		best->idle = 0;
	return best;
}

size_t agent_link_count(const struct control *ctl, int idle_only)
{
	size_t n = 0;

	for (const struct agent_link *l = ctl->agents; l; l = l->next)
		if (l->authed && !l->redirected && (!idle_only || l->idle))
			n++;
	return n;
}

void agent_link_runner_gone(struct control *ctl, int agent_id, const char *why)
{
	for (struct session *s = ctl->sessions; s; s = s->next) {
		if (s->runner_id != agent_id || session_is_final(s))
			continue;
		if (s->agent) {
			s->agent->s = NULL;
			s->agent = NULL;
		}
		session_set_state(s, s->cancel_requested ? SESSION_CANCELLED : SESSION_FAILED, why);
	}
}

/* The session's agent came back on `l` before control saw its old link `old` drop (the
 * old TCP connection can linger half-open for up to the 30 s liveness timeout). The resume
 * key proves it is the same runner, so the new link takes over: frames still queued for the
 * agent (input, resize, signal) move to it behind the HELLO, and the old link is closed from
 * the loop. Called once `l` owns the session. */
static void link_supersede(struct agent_link *old, struct agent_link *l)
{
	log_info("agent_link_superseded", "{s:s, s:i}", "session", l->s->id, "agent_pid",
		 old->pid);
	if (old->q_head) {
		if (l->q_tail)
			l->q_tail->next = old->q_head;
		else
			l->q_head = old->q_head;
		l->q_tail = old->q_tail;
		l->q_bytes += old->q_bytes;
		old->q_head = old->q_tail = NULL;
		old->q_bytes = 0;
	}
	old->s = NULL;
	old->ack_due = 0;
	old->closing = 1;
	lws_set_timeout(old->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

/* Why a resume HELLO may not take `s` over, or NULL when it may: the session must have
 * been assigned (its resume key exists only from ASSIGN on) and be live, the key must be
 * that key, and the credential must still be valid and belong to the runner the session
 * was assigned to (a local agent's ticket, the same pod's token, or the shared runner
 * token). The key alone is not enough: it is a bearer secret that travelled to the runner. */
static const char *resume_refusal(struct control *ctl, struct session *s, const char *key,
				  const char *cred, int *retry)
{
	size_t n = key ? strlen(key) : 0;
	int r;

	*retry = 0;
	if (!s)
		return "no such session";
	if (session_is_final(s))
		return "session is over";
	if (!s->resume_key[0])
		return "session was never assigned";
	if (n != strlen(s->resume_key) || sodium_memcmp(key, s->resume_key, n))
		return "wrong resume key";
	r = cred ? dispatcher_check_holder(ctl->disp, cred, &s->holder) : RW_EAUTH;
	*retry = r == RW_EAGAIN;
	if (r)
		return *retry ? "credential cannot be checked yet" : "credential is not the session's runner's";
	return NULL;
}

/* Sends `l` (an idle external agent) to `url`, another replica's advertised URL: HELLO
 * {"v":1, "redirect":url}, then the close. Its claim here is given back: it claimed nothing
 * on this replica, and may come back to it later. */
static void link_redirect(struct agent_link *l, const char *url, const char *why)
{
	l->idle = 0;
	l->redirected = 1;
	dispatcher_release(l->ctl->disp, &l->who);
	link_queue_json(l, PROTO_HELLO, json_pack("{s:i, s:s}", "v", PROTO_VERSION, "redirect", url));
	l->closing = 1;
	lws_callback_on_writable(l->wsi);
	log_info("agent_redirected", "{s:i, s:s, s:i, s:s}", "agent_pid", l->pid, "to", url,
		 "follows", l->follows, "why", why);
}

/* Whether `l` may be sent elsewhere: an external agent that can follow and has not reached
 * the bound. */
static int link_may_redirect(const struct agent_link *l)
{
	return l->ctl->cfg.advertise_url && !l->who.local && l->follows >= 0 &&
	       l->follows < AGENT_REDIRECT_MAX_FOLLOWS;
}

void agent_link_redirect_idle(struct control *ctl)
{
	static int64_t last_ms;
	int64_t now = rw_now_ms();
	const char *url;

	if (!ctl->cfg.advertise_url || now - last_ms < AGENT_REDIRECT_IDLE_MS / 4)
		return;
	last_ms = now;
	for (struct agent_link *l = ctl->agents; l; l = l->next) {
		if (!l->idle || l->closing || !link_may_redirect(l) ||
		    now - l->idle_since_ms < AGENT_REDIRECT_IDLE_MS)
			continue;
		url = agent_redirect_pick(ctl);
		if (!url)
			return;
		link_redirect(l, url, "idle here, sessions wait there");
	}
}

/* The resume of `s` is accepted: `l` is its agent's link from now on, and the agent resends
 * from the end of what control holds. */
static void resume_accept(struct agent_link *l, struct session *s, uint64_t end)
{
	struct agent_link *old;

	if (end < s->stream.end) {
		link_error(l, PROTO_ERR_PROTOCOL, "agent holds less than control acknowledged");
		return;
	}
	old = s->agent != l ? s->agent : NULL;
	l->authed = 1;
	l->s = s;
	l->who = s->holder;
	s->agent = l;
	s->lost_since_ms = 0;
	link_queue_json(l, PROTO_HELLO,
			json_pack("{s:i, s:I}", "v", PROTO_VERSION, "offset",
				  (json_int_t)s->stream.end));
	if (old)
		link_supersede(old, l);
	log_info("agent_resumed", "{s:s, s:I}", "session", s->id, "offset",
		 (json_int_t)s->stream.end);
	relay_event(s, json_pack("{s:s, s:s}", "type", "runner", "state", "back"));
}

/* fleet_adopt's answer to a resume for a session another replica held. */
static void on_adopted(void *arg, struct session *s, int rc, const char *why, const char *url)
{
	struct agent_link *l = arg;
	struct control *ctl = l->ctl;
	char addr[64];

	l->adopting = 0;
	switch (rc) {
	case RW_OK:
		resume_accept(l, s, l->resume_end);
		return;
	case RW_ESTATE:
		/* its replica is alive: the agent goes there (or tries again, then elsewhere) */
		if (url && l->follows >= 0 && l->follows < AGENT_REDIRECT_MAX_FOLLOWS &&
		    agent_redirect_check_url(url) == RW_OK) {
			link_redirect(l, url, "its session's replica is there");
			return;
		}
		link_error(l, PROTO_ERR_INTERNAL, "session is held by another replica; retry");
		return;
	case RW_ENOTFOUND:
		ctl->m.auth_failures++;
		log_audit("agent_resume_refused", "{s:s, s:s}", "reason", why ? why : "?", "client",
			  server_client_addr(l->wsi, addr, sizeof(addr)));
		link_error(l, PROTO_ERR_NOT_FOUND, "no such session to resume");
		return;
	default:
		link_error(l, PROTO_ERR_INTERNAL, rc == RW_EAGAIN ?
							  "session cannot be taken over yet; retry" :
							  "session cannot be taken over here");
	}
}

/* HELLO from an agent: credential, then either idle or resuming its session. */
static void link_hello(struct agent_link *l, const struct proto_frame *f)
{
	struct control *ctl = l->ctl;
	json_t *j = proto_parse_json(f), *resume;
	const char *cred, *why;
	char addr[64];
	int retry, r;

	if (!j) {
		link_error(l, PROTO_ERR_PROTOCOL, "HELLO must be a JSON object");
		return;
	}
	cred = json_string_value(json_object_get(j, "ticket"));
	resume = json_object_get(j, "resume");
	if (resume) {
		const char *sid = json_string_value(json_object_get(resume, "sessionId"));
		const char *key = json_string_value(json_object_get(resume, "key"));
		json_int_t end = json_integer_value(json_object_get(resume, "end"));
		struct session *s = sid ? session_find(ctl, sid) : NULL;

		l->pid = (int)json_integer_value(json_object_get(j, "pid"));
		l->follows = json_is_integer(json_object_get(j, "redirects")) ?
				     (int)json_integer_value(json_object_get(j, "redirects")) : -1;
		if (!s && sid && store_is_shared(ctl->store)) {
			/* not held here: its replica may be gone, and the store may hand it over */
			l->adopting = 1;
			l->resume_end = end > 0 ? (uint64_t)end : 0;
			fleet_adopt(ctl, sid, key, cred, on_adopted, l);
			json_decref(j);
			return;
		}
		why = resume_refusal(ctl, s, key, cred, &retry);
		if (why && retry) {
			/* the runner's key is not known yet (a JWKS being refetched): the agent
			 * reconnects with backoff and resumes then; its session waits meanwhile */
			link_error(l, PROTO_ERR_INTERNAL, "runner credential cannot be checked yet; retry");
			json_decref(j);
			return;
		}
		if (why) {
			ctl->m.auth_failures++;
			log_audit("agent_resume_refused", "{s:s?, s:s, s:s}", "session", sid, "reason",
				  why, "client", server_client_addr(l->wsi, addr, sizeof(addr)));
			/* one answer for every refusal: an impostor learns nothing from it */
			link_error(l, PROTO_ERR_NOT_FOUND, "no such session to resume");
			json_decref(j);
			return;
		}
		resume_accept(l, s, (uint64_t)end);
		json_decref(j);
		return;
	}
	r = cred ? dispatcher_authenticate(ctl->disp, cred, &l->who) : RW_EAUTH;
	if (r == RW_EAGAIN) {
		link_error(l, PROTO_ERR_INTERNAL, "runner credential cannot be checked yet; retry");
		json_decref(j);
		return;
	}
	if (r) {
		ctl->m.auth_failures++;
		log_audit("agent_refused", "{s:s, s:s}", "reason", "bad or used credential", "client",
			 server_client_addr(l->wsi, addr, sizeof(addr)));
		link_error(l, PROTO_ERR_AUTH, "runner credential refused");
		json_decref(j);
		return;
	}
	l->authed = 1;
	l->idle = 1;
	l->idle_since_ms = rw_now_ms();
	l->pid = (int)json_integer_value(json_object_get(j, "pid"));
	/* an agent that says how many redirects it followed can follow one (older ones do not) */
	l->follows = json_is_integer(json_object_get(j, "redirects")) ?
			     (int)json_integer_value(json_object_get(j, "redirects")) : -1;
	json_decref(j);
	if (link_may_redirect(l)) {
		const char *url = agent_redirect_pick(ctl);
		if (url) {
			link_redirect(l, url, "nothing waits here, sessions wait there");
			return;
		}
	}
	/* the answer tells the agent it is counted as idle: only now does it call itself Ready
	 * (--ready-file), so a scaler never sees a Ready runner that /api/queue does not count */
	link_queue_json(l, PROTO_HELLO, json_pack("{s:i}", "v", PROTO_VERSION));
	log_info("agent_ready", "{s:i, s:b, s:i}", "agent_pid", l->pid, "local", l->who.local,
		 "agent_id", l->who.agent_id);
	dispatcher_run(ctl);
}

/* HELLO {"leave":true} from an idle agent (--idle-exit): it is taken out of the idle set at
 * once and its link closed, and the agent exits when it sees the close. Frames on a link
 * are ordered, so an ASSIGN control sent before this arrived reaches the agent before the
 * close does, and the agent runs that session instead of leaving (the HELLO is then
 * ignored, above). */
static void link_leave(struct agent_link *l, const struct proto_frame *f)
{
	json_t *j = proto_parse_json(f);

	if (!j || !json_is_true(json_object_get(j, "leave"))) {
		json_decref(j);
		link_error(l, PROTO_ERR_PROTOCOL, "no session assigned");
		return;
	}
	json_decref(j);
	l->idle = 0;
	l->closing = 1;
	log_info("agent_left", "{s:i, s:i}", "agent_pid", l->pid, "idle_ms",
		 (int)(rw_now_ms() - l->idle_since_ms));
	lws_callback_on_writable(l->wsi);
}

static void link_exit(struct agent_link *l, const struct proto_frame *f)
{
	struct session *s = l->s;
	uint8_t mine[PROTO_SHA256_LEN];

	s->exit = f->exit;
	s->have_exit = 1;
	stream_digest(&s->stream, mine);
	s->digest_ok = f->exit.total == s->stream.end &&
		       !memcmp(mine, f->exit.sha256, PROTO_SHA256_LEN);
	if (s->stream.partial)
		/* taken over after the store let go of its head: control never had every byte */
		log_info("digest_not_checked", "{s:s, s:I}", "session", s->id, "missing",
			 (json_int_t)s->stream.start);
	else if (!s->digest_ok)
		log_error("digest_mismatch", "{s:s, s:I, s:I}", "session", s->id, "agent_total",
			  (json_int_t)f->exit.total, "control_total", (json_int_t)s->stream.end);
	session_set_state(s, s->cancel_requested ? SESSION_CANCELLED : SESSION_EXITED,
			  s->cancel_requested ? SESSION_CANCEL_REASON : NULL);
	l->ack_due = 1;
	l->ack_final = 1;
	l->closing = 1;
	lws_callback_on_writable(l->wsi);
}

static void link_frame_in(struct agent_link *l, const struct proto_frame *f)
{
	struct session *s = l->s;
	json_t *ev;

	if (l->adopting)
		return;   /* the agent sends nothing before the answer to its HELLO */
	if (!l->authed) {
		if (f->type == PROTO_HELLO) {
			lws_set_timeout(l->wsi, NO_PENDING_TIMEOUT, 0);
			link_hello(l, f);
		} else {
			link_error(l, PROTO_ERR_PROTOCOL, "HELLO first");
		}
		return;
	}
	if (!s) {
		if (f->type == PROTO_HELLO)
			link_leave(l, f);
		else if (f->type != PROTO_ERROR)
			link_error(l, PROTO_ERR_PROTOCOL, "no session assigned");
		return;
	}
	switch (f->type) {
	case PROTO_OUTPUT:
		switch (relay_output(s, f->offset, f->data, f->len)) {
		case RW_OK:
			break;
		case RW_EPROTO:
			link_error(l, PROTO_ERR_PROTOCOL, "output offset does not follow the stream");
			return;
		default:
			/* Not stored, so not acknowledged: the agent keeps it in its window and sends
			 * it again when it has reconnected (with backoff, while the disk is full). */
			link_error(l, PROTO_ERR_INTERNAL, "control cannot store output now");
			return;
		}
		if (s->state == SESSION_STARTING)
			session_set_state(s, SESSION_RUNNING, NULL);
		l->ack_due = 1;
		lws_callback_on_writable(l->wsi);
		break;
	case PROTO_EVENT:
		ev = proto_parse_json(f);
		if (!ev || !json_is_string(json_object_get(ev, "type"))) {
			json_decref(ev);
			return;
		}
		if (s->state == SESSION_STARTING &&
		    !strcmp(json_string_value(json_object_get(ev, "type")), "stage"))
			session_set_state(s, SESSION_RUNNING, NULL);
		relay_event(s, ev);
		break;
	case PROTO_EXIT:
		link_exit(l, f);
		break;
	case PROTO_HELLO:
		/* a leave that crossed its ASSIGN: the agent runs the session instead */
		break;
	case PROTO_ERROR:
		log_warn("agent_error", "{s:s, s:i, s:s%}", "session", s->id, "code", f->code,
			 "message", (const char *)f->data, f->len);
		break;
	default:
		link_error(l, PROTO_ERR_PROTOCOL, "unexpected frame from agent");
	}
}

static int link_write(struct agent_link *l)
{
	if (l->q_head) {
		struct link_frame *f = l->q_head;
		int r;

		l->q_head = f->next;
		if (!l->q_head)
			l->q_tail = NULL;
		l->q_bytes -= f->len;
		r = lws_write(l->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_BINARY);
		frame_free(f);
		if (r < 0)
			return -1;
		lws_callback_on_writable(l->wsi);
		return 0;
	}
	/* what the store holds, with a shared store: what a replica taking over has; output
	 * the store has not confirmed yet is acknowledged when it has (store_caught_up). The
	 * ACK after EXIT goes even when it says nothing new (the agent leaves on it), once the
	 * store holds the end. */
	if (l->ack_due && l->s && fleet_acked(l->s) <= l->acked &&
	    !(l->ack_final && fleet_has_end(l->s)))
		l->ack_due = 0;
	if (l->ack_due && l->s) {
		uint8_t buf[LWS_PRE + PROTO_ACK_LEN];
		l->ack_due = 0;
		l->acked = fleet_acked(l->s);
		if (l->ack_final && fleet_has_end(l->s))
			l->ack_final = 0;
		proto_encode_ack(buf + LWS_PRE, l->acked);
		if (lws_write(l->wsi, buf + LWS_PRE, PROTO_ACK_LEN, LWS_WRITE_BINARY) < 0)
			return -1;
		lws_callback_on_writable(l->wsi);
		return 0;
	}
	if (l->closing && l->s && session_is_final(l->s) && !fleet_has_end(l->s))
		return 0;   /* the last ACK waits until the store holds the end (store_caught_up) */
	if (l->closing) {
		lws_close_reason(l->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

static void link_closed(struct agent_link *l)
{
	struct control *ctl = l->ctl;
	struct session *s = l->s;

	for (struct agent_link **pp = &ctl->agents; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	while (l->q_head) {
		struct link_frame *f = l->q_head;
		l->q_head = f->next;
		frame_free(f);
	}
	proto_reader_release(&l->rd);
	if (l->adopting)
		fleet_adopt_forget(l);
	if (s && s->agent == l) {
		s->agent = NULL;
		if (!session_is_final(s)) {
			/* The agent keeps unacknowledged output and may come back within the
			 * grace; a local agent that died is noticed when it is reaped. */
			s->lost_since_ms = rw_now_ms();
			log_warn("runner_lost", "{s:s}", "session", s->id);
			relay_event(s, json_pack("{s:s, s:s}", "type", "runner", "state", "lost"));
		}
	}
	l->s = NULL;
}

/* Input is a few bytes per key: without TCP_NODELAY an INPUT frame waits for the ACK of the
 * one before it (40 ms of delayed ACK). Sockets the front door accepted (listener.c) have
 * lws' defaults only. */
static void link_tune_socket(struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi), one = 1;

	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		log_debug("agent_socket_options", "{s:s}", "reason", strerror(errno));
}

static int callback_agent_link(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			       void *in, size_t len)
{
	struct control *ctl = lws_context_user(lws_get_context(wsi));
	struct agent_link *l = user;
	struct proto_frame f;
	char uri[64];
	int r;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
		    strcmp(uri, "/agent")) {
			listener_refuse_upgrade(wsi, 403, "agents connect to /agent");
			return 1;
		}
		/* each link holds a descriptor for up to the HELLO timeout before it proves
		 * anything: without a cap, idle upgrades starve everyone (docs/security.md) */
		r = 0;
		for (struct agent_link *a = ctl->agents; a; a = a->next)
			r += !a->authed;
		if (r >= AGENT_LINK_MAX_UNAUTHENTICATED) {
			listener_refuse_upgrade(wsi, 503, "too many agents connecting");
			return 1;
		}
		return 0;

	case LWS_CALLBACK_ESTABLISHED:
		memset(l, 0, sizeof(*l));
		l->ctl = ctl;
		l->wsi = wsi;
		proto_reader_init(&l->rd);
		l->next = ctl->agents;
		ctl->agents = l;
		link_tune_socket(wsi);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, AGENT_LINK_HELLO_TIMEOUT_S);
		break;

	case LWS_CALLBACK_RECEIVE:
		if (l->closing)
			break;
		if (proto_reader_feed(&l->rd, in, len) < 0)
			goto bad;
		while (!l->closing && (r = proto_reader_next(&l->rd, &f)) == 1)
			link_frame_in(l, &f);
		if (l->rd.err)
			goto bad;
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return link_write(l);

	case LWS_CALLBACK_CLOSED:
		if (l->ctl)  /* not set when the filter refused the upgrade */
			link_closed(l);
		break;

	default:
		break;
	}
	return 0;

bad:
	log_warn("agent_protocol_error", "{s:s}", "reason", l->rd.errstr);
	lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)l->rd.errstr,
			 strlen(l->rd.errstr));
	return -1;
}

const struct lws_protocols agent_link_protocol = {
	CONTROL_AGENT_PROTOCOL, callback_agent_link, sizeof(struct agent_link), 1u << 20, 0,
	NULL, 0
};
