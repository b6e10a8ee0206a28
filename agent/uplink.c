/* uplink.c: the agent's one WebSocket link to control (DESIGN.md: the agent dials OUT).
 *
 * Dials control, presents its credential in HELLO, receives ASSIGN, then carries output
 * (offset-addressed) up and ACK / INPUT / RESIZE / SIGNAL down. When the link breaks it
 * retries with exponential backoff and jitter; after a reconnect it resumes from the offset
 * control says it holds. Past the grace period without control, the session is abandoned.
 */
#include "agent/agent.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Reconnect backoff in ms, last entry repeats; each delay gets up to 30% jitter. */
#define UPLINK_CONNECT_TIMEOUT_S 15   /* an attempt not established by then is retried */
static const uint32_t uplink_backoff_ms[] = { 100, 200, 500, 1000, 2000, 5000 };

static void uplink_connect(struct agent *a);
static int parse_url(const char *url, int ws_only, char *host, size_t hostlen, int *port,
		     char *path, size_t pathlen, int *tls);
static const char *dial_url(const struct agent *a);
static void next_endpoint(struct agent *a, int was_connected);
static void on_redirect(struct agent *a, const char *url);

void uplink_set_ready(struct agent *a, int ready)
{
	char tmp[4200];
	FILE *f;

	if (!a->cfg.ready_file || a->ready == ready)
		return;
	if (!ready) {
		if (unlink(a->cfg.ready_file) && errno != ENOENT)
			log_warn("ready_file", "{s:s, s:s}", "action", "remove", "reason", strerror(errno));
		a->ready = 0;
		log_info("not_ready", NULL);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", a->cfg.ready_file, (int)getpid());
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) || rename(tmp, a->cfg.ready_file)) {
		log_warn("ready_file", "{s:s, s:s}", "action", "create", "reason", strerror(errno));
		unlink(tmp);
		return;
	}
	a->ready = 1;
	log_info("ready", NULL);
}

/* --idle-exit: the agent has been counted as idle this long without a session. It asks to
 * leave (HELLO {"leave":true}); control takes it out of the idle set and closes the link,
 * and the agent exits 0 when it sees the close. An ASSIGN that crossed the request is run
 * instead (handle_frame). */
static void on_idle_deadline(lws_sorted_usec_list_t *sul)
{
	struct agent *a = lws_container_of(sul, struct agent, sul_idle);
	json_t *bye;

	if (a->have_session || !a->connected || !a->accepted || a->leaving)
		return;
	bye = json_pack("{s:i, s:b}", "v", PROTO_VERSION, "leave", 1);
	if (uplink_queue_json(a, PROTO_HELLO, bye) == RW_OK) {
		a->leaving = 1;
		log_info("idle_exit_requested", "{s:i}", "idle_s", a->cfg.idle_exit_s);
	}
	json_decref(bye);
}

void uplink_want_write(struct agent *a)
{
	if (a->ws && a->connected)
		lws_callback_on_writable(a->ws);
}

void uplink_queue(struct agent *a, struct agent_frame *f)
{
	f->next = NULL;
	if (a->q_tail)
		a->q_tail->next = f;
	else
		a->q_head = f;
	a->q_tail = f;
	a->q_bytes += f->len;
	uplink_want_write(a);
}

int uplink_queue_json(struct agent *a, enum proto_type type, json_t *obj)
{
	size_t len;
	uint8_t *enc;
	struct agent_frame *f;

	if (a->q_bytes > AGENT_MAX_QUEUED) {
		log_warn("event_dropped", "{s:s}", "reason", "control link queue full");
		return RW_ETOOBIG;
	}
	enc = proto_encode_json(type, obj, LWS_PRE, &len);
	if (!enc)
		return RW_ENOMEM;
	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f) {
		free(enc);
		return RW_ENOMEM;
	}
	f->len = len;
	memcpy(f->buf + LWS_PRE, enc + LWS_PRE, len);
	free(enc);
	uplink_queue(a, f);
	return RW_OK;
}

/* A resume proves twice that this is the session's runner: the resume key from ASSIGN, and
 * the credential it claimed the session with, which control checks again. A Kubernetes
 * projected token is rotated in its file by the kubelet and the one read at start may have
 * expired since: read the file again. */
static void refresh_credential(struct agent *a)
{
	char *fresh;

	if (!a->cfg.token_file)
		return;
	fresh = rw_read_file(a->cfg.token_file, AGENT_MAX_TICKET, NULL);
	if (!fresh || !*fresh) {
		log_warn("token_file_unreadable", "{s:s}", "action", "resuming with the first credential");
		free(fresh);
		return;
	}
	sodium_memzero(a->cfg.ticket, strlen(a->cfg.ticket));
	free(a->cfg.ticket);
	a->cfg.ticket = fresh;
}

static void queue_hello(struct agent *a)
{
	json_t *hello;
	struct agent_frame *f;
	uint8_t *enc;
	size_t len;

	if (a->have_session)
		refresh_credential(a);
	/* "redirects" also tells control that this agent follows a redirect */
	hello = json_pack("{s:i, s:s, s:i, s:i}", "v", PROTO_VERSION, "ticket", a->cfg.ticket,
			  "pid", (int)getpid(), "redirects", a->redirects);

	if (a->have_session)
		json_object_set_new(hello, "resume",
				    json_pack("{s:s, s:s, s:I, s:I}", "sessionId", a->sid, "key",
					      a->resume_key, "acked",
					      (json_int_t)a->window.start, "end",
					      (json_int_t)a->window.end));
	enc = proto_encode_json(PROTO_HELLO, hello, LWS_PRE, &len);
	json_decref(hello);
	if (!enc)
		return;
	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f) {
		free(enc);
		return;
	}
	f->len = len;
	memcpy(f->buf + LWS_PRE, enc + LWS_PRE, len);
	free(enc);
	/* HELLO goes before anything queued while the link was down. */
	f->next = a->q_head;
	a->q_head = f;
	if (!a->q_tail)
		a->q_tail = f;
	a->q_bytes += f->len;
}

static void on_retry(lws_sorted_usec_list_t *sul)
{
	struct agent *a = lws_container_of(sul, struct agent, sul_retry);

	uplink_connect(a);
}

static void schedule_retry(struct agent *a)
{
	size_t i = (size_t)a->attempts < RW_ARRAY_LEN(uplink_backoff_ms) ?
			   (size_t)a->attempts : RW_ARRAY_LEN(uplink_backoff_ms) - 1;
	uint32_t ms = uplink_backoff_ms[i];

	/* the link closed because the agent is stopping (lws_context_destroy): nothing to retry */
	if (a->done || a->stopping)
		return;
	ms += (uint32_t)randombytes_uniform(ms * 3 / 10 + 1);
	a->attempts++;
	if (!a->down_since_us)
		a->down_since_us = rw_mono_us();
	if (rw_mono_us() - a->down_since_us > (int64_t)a->cfg.grace_s * 1000000) {
		log_error("control_unreachable", "{s:i, s:s}", "grace_s", a->cfg.grace_s,
			  "action", a->have_session ? "ending session" : "exiting");
		runner_abandon(a);
		a->exit_status = 3;
		a->done = 1;
		lws_cancel_service(a->ctx);
		return;
	}
	log_info("reconnect_scheduled", "{s:i, s:i}", "attempt", a->attempts, "delay_ms", (int)ms);
	lws_sul_schedule(a->ctx, 0, &a->sul_retry, on_retry, (lws_usec_t)ms * 1000);
}

/* libwebsockets 4.1 does not always report a failed connection: one that fails while
 * lws_client_connect_via_info() is still running is freed with CONNECTION_ERROR suppressed
 * (seen as an agent that never reconnected after control's port refused it once, with its
 * program held back for good). So every attempt has a deadline, and a link lws destroys
 * without a word (WSI_DESTROY while it is still ours) counts as failed. A connection the
 * agent has given up on is closed if it ever comes to life. */
static void on_connect_deadline(lws_sorted_usec_list_t *sul)
{
	struct agent *a = lws_container_of(sul, struct agent, sul_connect);

	if (a->connected || a->done)
		return;
	log_warn("connect_timeout", "{s:i, s:s}", "seconds", UPLINK_CONNECT_TIMEOUT_S, "url",
		 dial_url(a));
	a->ws = NULL;
	next_endpoint(a, 0);
	schedule_retry(a);
}

static void uplink_connect(struct agent *a)
{
	struct lws_client_connect_info i;

	if (parse_url(dial_url(a), 0, a->host, sizeof(a->host), &a->port, a->path,
		      sizeof(a->path), &a->tls)) {
		/* checked before: only a redirect's target could fail here, and it was checked too */
		a->redirect_url[0] = '\0';
		schedule_retry(a);
		return;
	}
	memset(&i, 0, sizeof(i));
	i.context = a->ctx;
	i.vhost = a->vh;
	i.address = a->host;
	i.port = a->port;
	i.path = a->path;
	i.host = a->host;
	i.origin = a->host;
	i.protocol = AGENT_PROTOCOL;
	i.local_protocol_name = AGENT_PROTOCOL;
	i.ssl_connection = a->tls ? LCCSCF_USE_SSL : 0;
	i.pwsi = &a->ws;
	lws_sul_schedule(a->ctx, 0, &a->sul_connect, on_connect_deadline,
			 (lws_usec_t)UPLINK_CONNECT_TIMEOUT_S * LWS_US_PER_SEC);
	if (!lws_client_connect_via_info(&i)) {
		a->ws = NULL;
		next_endpoint(a, 0);
		schedule_retry(a);
	}
}

static void handle_frame(struct agent *a, const struct proto_frame *f)
{
	json_t *j;

	switch (f->type) {
	case PROTO_ASSIGN:
		lws_sul_cancel(&a->sul_idle);
		if (a->leaving) {
			log_info("idle_exit_cancelled", "{s:s}", "reason", "a session came first");
			a->leaving = 0;
		}
		j = proto_parse_json(f);
		if (!j || a->have_session) {
			log_error("bad_assign", "{s:b}", "duplicate", a->have_session);
			json_decref(j);
			return;
		}
		runner_start(a, j);
		a->redirects = 0;   /* counted again for its resumes */
		json_decref(j);
		/* the frame's bytes held ASSIGN's secrets; the parsed copy is the runner's now */
		sodium_memzero((void *)f->data, f->len);
		break;
	case PROTO_HELLO:
		/* control's answer to this link's HELLO: accepted (counted as idle), or, to a
		 * resume, the offset it holds */
		j = proto_parse_json(f);
		if (j) {
			a->attempts = 0;
			a->down_since_us = 0;
		}
		if (j && json_object_get(j, "redirect")) {
			/* not accepted here: go where a session waits (control closes the link) */
			on_redirect(a, json_string_value(json_object_get(j, "redirect")));
			json_decref(j);
			break;
		}
		if (j && !a->resume_pending && !a->have_session && !a->accepted) {
			/* control accepted the credential: this agent is counted as idle now */
			a->accepted = 1;
			uplink_set_ready(a, 1);
			if (a->cfg.idle_exit_s)
				lws_sul_schedule(a->ctx, 0, &a->sul_idle, on_idle_deadline,
						 (lws_usec_t)a->cfg.idle_exit_s * LWS_US_PER_SEC);
		}
		if (j && a->resume_pending) {
			json_int_t held = json_integer_value(json_object_get(j, "offset"));
			if (held < (json_int_t)a->window.start || held > (json_int_t)a->window.end) {
				log_error("resume_refused", "{s:I, s:I, s:I}", "held", held, "acked",
					  (json_int_t)a->window.start, "end",
					  (json_int_t)a->window.end);
			} else {
				runner_on_ack(a, (uint64_t)held);
				a->sent = (uint64_t)held;
				a->resume_pending = 0;
				a->redirects = 0;
				log_info("resumed", "{s:s, s:I}", "session", a->sid, "offset", held);
				uplink_want_write(a);
			}
		}
		json_decref(j);
		break;
	case PROTO_ACK:
		runner_on_ack(a, f->offset);
		break;
	case PROTO_INPUT:
		runner_on_input(a, f->data, f->len);
		break;
	case PROTO_RESIZE:
		runner_on_resize(a, f->cols, f->rows);
		break;
	case PROTO_SIGNAL:
		runner_on_signal(a, f->signo);
		break;
	case PROTO_ERROR:
		log_error("control_error", "{s:i, s:s%}", "code", f->code, "message",
			  (const char *)f->data, f->len);
		if (f->code == PROTO_ERR_AUTH || f->code == PROTO_ERR_NOT_FOUND) {
			/* a refused credential or a session control no longer knows: no retry helps */
			runner_abandon(a);
			a->exit_status = 2;
			a->done = 1;
		}
		break;
	default:
		log_warn("unexpected_frame", "{s:s}", "type", proto_type_name(f->type));
	}
}

static int callback_uplink(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct agent *a = lws_context_user(lws_get_context(wsi));
	struct proto_frame f;
	int r, was_connected;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (wsi != a->ws)
			return -1;   /* an attempt given up on (see on_connect_deadline) */
		lws_sul_cancel(&a->sul_connect);
		log_info("connected", "{s:s, s:i}", "host", a->host, "port", a->port);
		a->connected = 1;
		/* the backoff and the grace clock restart once control accepts this link's HELLO
		 * (its answer), not at the upgrade: a control that keeps answering "retry" (a
		 * JWKS being refetched) is retried ever more slowly, and given up on after --grace */
		proto_reader_release(&a->rd);
		proto_reader_init(&a->rd);
		a->resume_pending = a->have_session;
		/* the replica answering may be a new one that took the session over and lacks
		 * the EXIT the old one got: it goes again after the output */
		if (a->have_session)
			a->exit_sent = 0;
		queue_hello(a);
		lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (proto_reader_feed(&a->rd, in, len) < 0)
			goto bad;
		while ((r = proto_reader_next(&a->rd, &f)) == 1)
			handle_frame(a, &f);
		if (r < 0)
			goto bad;
		if (a->done)
			return -1;
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (a->q_head) {
			struct agent_frame *q = a->q_head;
			a->q_head = q->next;
			if (!a->q_head)
				a->q_tail = NULL;
			a->q_bytes -= q->len;
			r = lws_write(wsi, q->buf + LWS_PRE, q->len, LWS_WRITE_BINARY);
			free(q);
			if (r < 0)
				return -1;
			lws_callback_on_writable(wsi);
			break;
		}
		if (!a->resume_pending && runner_write_output(a, wsi) < 0)
			return -1;
		break;

	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* lws_cancel_service() from the bundle worker: its events or its result wait */
		runner_on_wake(a);
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi != a->ws)
			break;   /* not the link, or already told */
		log_warn("connect_failed", "{s:s}", "reason", "connection dropped unreported");
		goto link_gone;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (wsi != a->ws)
			break;
		log_warn("connect_failed", "{s:s}", "reason", in ? (const char *)in : "unknown");
		goto link_gone;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (wsi != a->ws)
			break;
		log_info("disconnected", NULL);
	link_gone:
		was_connected = a->connected;
		lws_sul_cancel(&a->sul_connect);
		lws_sul_cancel(&a->sul_idle);
		a->ws = NULL;
		a->connected = 0;
		a->accepted = 0;
		if (a->leaving && !a->have_session) {
			log_info("idle_exit", "{s:s, s:i}", "reason", "no session claimed while idle",
				 "idle_s", a->cfg.idle_exit_s);
			a->done = 1;
		}
		if (!a->have_session)
			uplink_set_ready(a, 0);
		if (a->done) {
			lws_cancel_service(a->ctx);
			break;
		}
		if (a->redirect_pending) {
			/* a redirect is no failure: dial its target now, backoff untouched */
			a->redirect_pending = 0;
			lws_sul_schedule(a->ctx, 0, &a->sul_retry, on_retry, 1);
			break;
		}
		next_endpoint(a, was_connected);
		schedule_retry(a);
		break;

	default:
		break;
	}
	return 0;

bad:
	log_error("protocol_error", "{s:s}", "reason", a->rd.errstr);
	return -1;
}

static const struct lws_protocols uplink_protocols[] = {
	{ AGENT_PROTOCOL, callback_uplink, 0, 1u << 20, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Splits ws[s]://host[:port]/path (or http[s]://, as control's own URL is often written;
 * with `ws_only` a redirect's target, ws or wss only) into the given fields. */
static int parse_url(const char *url, int ws_only, char *host, size_t hostlen, int *port,
		     char *path, size_t pathlen, int *tls)
{
	char buf[AGENT_MAX_URL + 1];
	const char *prot, *addr, *p;
	int n;

	if (!url || strlen(url) >= sizeof(buf))
		return RW_EINVAL;
	memcpy(buf, url, strlen(url) + 1);
	if (lws_parse_uri(buf, &prot, &addr, &n, &p))
		return RW_EINVAL;
	if (!strcmp(prot, "wss") || (!ws_only && !strcmp(prot, "https")))
		*tls = 1;
	else if (!strcmp(prot, "ws") || (!ws_only && !strcmp(prot, "http")))
		*tls = 0;
	else
		return RW_EINVAL;
	if (!*addr || strlen(addr) >= hostlen || strlen(p) + 2 > pathlen)
		return RW_EINVAL;
	snprintf(host, hostlen, "%s", addr);
	*port = n ? n : (*tls ? 443 : 80);
	snprintf(path, pathlen, "/%s", p);
	return RW_OK;
}

/* The endpoint dialled next: a redirect's target, else the list's current one. */
static const char *dial_url(const struct agent *a)
{
	return a->redirect_url[0] ? a->redirect_url : a->urls[a->url_index];
}

/* After a link that ended without a redirect: an agent holding a session redials the
 * endpoint whose link dropped (the session lives on that replica), and moves on through the
 * list once that endpoint cannot be reached (its replica died: another takes the session
 * over); one refused a redirect stays once more; any other leaves a redirect's target for
 * the list, or moves to the list's next endpoint. */
static void next_endpoint(struct agent *a, int was_connected)
{
	if (a->stopping || !a->n_urls || (a->have_session && was_connected))
		return;
	if (a->stay) {
		a->stay = 0;
		return;
	}
	if (a->redirect_url[0])
		a->redirect_url[0] = '\0';
	else
		a->url_index = (a->url_index + 1) % a->n_urls;
}

/* HELLO {"redirect": URL} from control (docs/protocol.md): another replica's sessions wait
 * for an agent, or (the answer to a resume) another replica holds this agent's session.
 * Followed at most AGENT_MAX_REDIRECTS times in a row, to ws:// or wss:// only (wss
 * verified as any wss link), never by an agent streaming a session. Control closes the link
 * after it; the close dials the target at once. */
static void on_redirect(struct agent *a, const char *url)
{
	char host[sizeof(a->host)], path[sizeof(a->path)];
	int port, tls;

	if (a->have_session && !a->resume_pending)
		return;   /* mid-session: only a resume may be sent to its session's replica */
	if (!url || parse_url(url, 1, host, sizeof(host), &port, path, sizeof(path), &tls)) {
		log_warn("redirect_refused", "{s:s}", "reason", "not a ws:// or wss:// URL");
		a->stay = 1;
		return;
	}
	if (tls && !a->tls_ready) {
		log_warn("redirect_refused", "{s:s}", "reason", "wss target, and TLS not set up (no --control URL is wss)");
		a->stay = 1;
		return;
	}
	if (a->redirects >= AGENT_MAX_REDIRECTS) {
		log_warn("redirect_refused", "{s:s, s:i}", "reason", "followed enough redirects",
			 "redirects", a->redirects);
		a->stay = 1;
		return;
	}
	a->redirects++;
	snprintf(a->redirect_url, sizeof(a->redirect_url), "%s", url);
	a->redirect_pending = 1;
	log_info("redirected", "{s:s, s:i}", "to", url, "redirects", a->redirects);
}

/* Splits --control's comma-separated list into a->urls, each checked. */
static int parse_control_list(struct agent *a)
{
	const char *p = a->cfg.control_url;
	char host[sizeof(a->host)], path[sizeof(a->path)];
	int port, tls;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *u;

		if (a->n_urls == AGENT_MAX_CONTROL_URLS || !n || n > AGENT_MAX_URL)
			return RW_EINVAL;
		u = strndup(p, n);
		if (!u)
			return RW_ENOMEM;
		a->urls[a->n_urls++] = u;
		if (parse_url(u, 0, host, sizeof(host), &port, path, sizeof(path), &tls))
			return RW_EINVAL;
		a->tls_ready |= tls;
		p = comma ? comma + 1 : NULL;
	}
	return a->n_urls ? RW_OK : RW_EINVAL;
}

int uplink_start(struct agent *a)
{
	struct lws_context_creation_info info;
	static struct lws_protocols all[4];
	/* Pings every 10 s and a hang-up after 30 s without a valid packet: a dead control is
	 * noticed within 30 s even when TCP says nothing. */
	static const lws_retry_bo_t retry = {
		.secs_since_valid_ping = 10,
		.secs_since_valid_hangup = 30,
	};

	if (parse_control_list(a)) {
		log_error("bad_control_url", "{s:s, s:i}", "url", a->cfg.control_url, "most",
			  AGENT_MAX_CONTROL_URLS);
		return RW_EINVAL;
	}
	all[0] = uplink_protocols[0];
	all[1] = runner_protocols[0];
	all[2] = runner_protocols[1];
	memset(&all[3], 0, sizeof(all[3]));

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = all;
	/* OpenSSL only for wss: its initialisation loads the system's CA store, a megabyte and
	 * more of the agent's memory that a ws:// link never uses */
	info.options = a->tls_ready ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.user = a;
	info.retry_and_idle_policy = &retry;
	info.client_ssl_ca_filepath = a->cfg.ca_file;
	info.fd_limit_per_thread = 64;
	a->ctx = lws_create_context(&info);
	if (!a->ctx)
		return RW_EIO;
	a->vh = lws_get_vhost_by_name(a->ctx, "default");
	proto_reader_init(&a->rd);
	uplink_connect(a);
	return RW_OK;
}

void uplink_release(struct agent *a)
{
	while (a->q_head) {
		struct agent_frame *f = a->q_head;
		a->q_head = f->next;
		free(f);
	}
	a->q_tail = NULL;
	proto_reader_release(&a->rd);
	a->stopping = true;
	if (a->ctx) {
		/* timers live in the context: cancel them before it goes */
		lws_sul_cancel(&a->sul_retry);
		lws_sul_cancel(&a->sul_connect);
		lws_sul_cancel(&a->sul_tick);
		lws_sul_cancel(&a->sul_idle);
		lws_context_destroy(a->ctx);
		a->ctx = NULL;
	}
	/* after the context: destroying it closes the link, whose callback looks at them */
	for (size_t i = 0; i < a->n_urls; i++)
		free(a->urls[i]);
	a->n_urls = 0;
}
