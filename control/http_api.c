/* http_api.c: the HTTP side of control: /api/sessions..., /api/queue, /healthz, /readyz,
 * /metrics (their contents come from scrape.c). Requests are answered from the loop; bodies are
 * capped and parsed with jansson.
 * A session that is not the caller's answers 404, exactly as one that does not exist.
 */
#include "control/control.h"
#include "control/fleet.h"
#include "control/web.h"
#include "common/log.h"
#include "common/rw.h"
#include "common/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>

#define HTTP_MAX_BODY (64u << 10)      /* request body */
#define HTTP_MAX_KEPT_REQUEST (16u << 10) /* a creation request kept in the session's record
					  * while it waits (fleet_takeover.c) */
#define HTTP_MAX_PATH 256
#define HTTP_WRITE_CHUNK (16u << 10)
#define HTTP_SIGNER_RETRY_S 5          /* Retry-After when the token signer is unavailable */

/* A request waiting for its session token from an asynchronous signer (Cloud KMS): owned by
 * the signer's callback (mint_done), which frees it; the connection only points at it and
 * clears `wsi` when it closes first. */
struct mint_wait {
	struct control *ctl;
	struct lws *wsi;              /* NULL once the connection closed */
	int create;                   /* 1: POST /api/sessions (cancel the session on failure) */
	enum token_role role;
	char sid[64];
	char user[FIREBASE_UID_BUF];
};

struct http_conn {
	char path[HTTP_MAX_PATH];
	int method;                   /* LWSHUMETH_* */
	char *body;
	size_t body_len;
	int body_too_big;
	char *resp;
	size_t resp_len, resp_sent;
	int responded;
	int close_after;              /* the request was refused before its body was read */
	int retry_after;              /* seconds, for 429 and 503; 0: no header */
	int bearer_challenge;         /* a 401 from the internal listener: WWW-Authenticate */
	FILE *file;                   /* response body streamed from a file, or NULL */
	size_t file_left;
	struct mint_wait *mint;       /* waiting for a token (not owned), or NULL */
	char *minted;                 /* the token it brought, or NULL */
	char *mint_err;               /* or why there is none */
	int mint_create;              /* what the response says once it is minted */
	enum token_role mint_role;
	char mint_sid[64];
	char mint_user[FIREBASE_UID_BUF];
	/* A shared store answers later: the request is routed again once it has (route() is
	 * idempotent up to its store calls, whose answers are kept here per limit). */
	struct lws *wsi;
	int limit_state[STORE_N_LIMITS];  /* 0 not asked, 1 asked, 2 answered */
	int limit_rc[STORE_N_LIMITS];
	int limit_retry[STORE_N_LIMITS];
	int asking;                   /* the limit asked last */
	int deferred;                 /* route() returned waiting for the store */
	int rerun;                    /* the answer came: route again when writeable */
	int json_state, json_rc;      /* one JSON answer per request: a record or a list */
	json_t *json_val;             /* owned */
	int push_state, push_rc;      /* a request to another replica (cancel) */
};

#define HTTP_STORE_RETRY_S 5          /* Retry-After while the store is unreachable */

/* Queues a response; takes ownership of `body`. Returns non-zero to close. */
static int respond(struct lws *wsi, struct http_conn *c, unsigned status, const char *ctype,
		   char *body, size_t len)
{
	uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;

	c->resp = body;
	c->resp_len = len;
	c->resp_sent = 0;
	c->responded = 1;
	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const uint8_t *)"cache-control:",
					(const uint8_t *)"no-store", 8, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const uint8_t *)"content-security-policy:",
					(const uint8_t *)WEB_CSP, (int)strlen(WEB_CSP), &p, end) ||
	    lws_add_http_header_by_name(wsi, (const uint8_t *)"x-content-type-options:",
					(const uint8_t *)"nosniff", 7, &p, end))
		return 1;
	if (c->retry_after) {
		char ra[16];
		int n = snprintf(ra, sizeof(ra), "%d", c->retry_after);
		if (lws_add_http_header_by_name(wsi, (const uint8_t *)"retry-after:", (const uint8_t *)ra,
						n, &p, end))
			return 1;
	}
	if (c->bearer_challenge &&
	    lws_add_http_header_by_name(wsi, (const uint8_t *)"www-authenticate:",
					(const uint8_t *)"Bearer realm=\"runwire-internal\"", 31, &p, end))
		return 1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int respond_json(struct lws *wsi, struct http_conn *c, unsigned status, json_t *j)
{
	char *body = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (!body)
		return 1;
	return respond(wsi, c, status, "application/json", body, strlen(body));
}

static int respond_error(struct lws *wsi, struct http_conn *c, unsigned status, const char *msg)
{
	return respond_json(wsi, c, status, json_pack("{s:s}", "error", msg));
}

/* Reads an optional dimension; 0 when absent. Returns -1 when present but invalid. */
static int get_dim(json_t *req, const char *key, uint16_t *out, uint16_t dflt)
{
	json_t *v = json_object_get(req, key);

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > PROTO_MAX_DIM)
		return -1;
	*out = (uint16_t)json_integer_value(v);
	return 0;
}

/* Drops a parsed POST /api/sessions body, the bytes of its "secrets" wiped first (a
 * resolved spec holds copies of its own). */
static void request_release(json_t *req)
{
	text_secrets_wipe(json_incref(json_object_get(req, "secrets")));
	json_decref(req);
}

static void mint_done(void *arg, const char *token, const char *err);

/* A new session held out of the queue whose token will not come: it fails, with the reason
 * its owner sees in the list (the response says 503). */
static void unsigned_session_fails(struct control *ctl, const char *sid, const char *why)
{
	struct session *s = session_find(ctl, sid);

	if (s && !session_is_final(s))
		session_set_state(s, SESSION_FAILED, why);
}

/* The 201 for a new session or a new token, once it is minted. */
static int respond_minted(struct control *ctl, struct lws *wsi, struct http_conn *c, int create,
			  const char *sid, const char *user, enum token_role role, const char *token)
{
	char addr[64];
	const char *rn = role == TOKEN_ROLE_VIEWER ? "viewer" : "writer";
	struct session *s = session_find(ctl, sid);
	json_t *out;

	if (create) {
		log_audit("session_created", "{s:s, s:s, s:s, s:s?}", "session", sid, "user", user,
			  "client", server_client_addr(wsi, addr, sizeof(addr)), "template",
			  s ? s->template_name : NULL);
		dispatcher_run(ctl);
		out = json_pack("{s:s, s:s}", "sessionId", sid, "token", token);
	} else {
		log_audit("token_minted", "{s:s, s:s, s:s, s:s}", "session", sid, "user", user, "role",
			  rn, "client", server_client_addr(wsi, addr, sizeof(addr)));
		out = json_pack("{s:s, s:s, s:s}", "sessionId", sid, "token", token, "role", rn);
	}
	json_object_set_new(out, "wsUrl", json_sprintf("/ws/%s", sid));
	return respond_json(wsi, c, 201, out);
}

/* Mints on the loop, or starts an asynchronous mint (the response comes from
 * HTTP_WRITEABLE once mint_done has run). */
static int mint_and_respond(struct control *ctl, struct lws *wsi, struct http_conn *c, int create,
			    const char *sid, const char *user, enum token_role role)
{
	char *token, msg[160];
	struct mint_wait *w;
	int r;

	if (!token_keys_async(ctl->keys)) {
		token = token_mint(ctl->keys, user, sid, role);
		if (!token)
			return respond_error(wsi, c, 500, "cannot mint a session token");
		r = respond_minted(ctl, wsi, c, create, sid, user, role, token);
		free(token);
		return r;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return respond_error(wsi, c, 500, "out of memory");
	*w = (struct mint_wait){ .ctl = ctl, .wsi = wsi, .create = create, .role = role };
	snprintf(w->sid, sizeof(w->sid), "%s", sid);
	snprintf(w->user, sizeof(w->user), "%s", user);
	/* A new session waits out of the queue until its token is signed: no runner starts a
	 * session its creator may never be told about. */
	if (create && session_find(ctl, sid))
		session_unqueue(session_find(ctl, sid));
	r = token_mint_async(ctl->keys, user, sid, role, mint_done, w);
	if (r) {
		free(w);
		if (create)
			unsigned_session_fails(ctl, sid, "control is stopping or too many tokens wait "
					   "for Cloud KMS");
		c->retry_after = HTTP_SIGNER_RETRY_S;
		snprintf(msg, sizeof(msg), "cannot sign a session token now: %s",
			 r == RW_ELIMIT ? "too many waiting for Cloud KMS"
			 : r == RW_ESTATE ? "control is stopping" : "out of memory");
		return respond_error(wsi, c, 503, msg);
	}
	c->mint = w;
	c->mint_create = create;
	c->mint_role = role;
	snprintf(c->mint_sid, sizeof(c->mint_sid), "%s", sid);
	snprintf(c->mint_user, sizeof(c->mint_user), "%s", user);
	return 0;
}

/* The signer's answer, on the loop. A new session joins the queue only now, and only when
 * its creator is still there to be told its id and token; otherwise it fails with the reason
 * (nobody could attach to it). */
static void mint_done(void *arg, const char *token, const char *err)
{
	struct mint_wait *w = arg;
	struct session *s = w->create ? session_find(w->ctl, w->sid) : NULL;
	struct http_conn *c;

	if (!token)
		log_warn("session_token_unsigned", "{s:s, s:s, s:s}", "session", w->sid, "user", w->user,
			 "reason", err);
	if (s && !token)
		unsigned_session_fails(w->ctl, w->sid, "its session token could not be signed");
	else if (s && !w->wsi)
		unsigned_session_fails(w->ctl, w->sid, "the request that created it went away "
				       "before its token was signed");
	else if (s) {
		session_enqueue(s);
		dispatcher_run(w->ctl);
	}
	if (w->wsi) {
		c = lws_wsi_user(w->wsi);
		c->mint = NULL;
		if (token) {
			c->minted = strdup(token);
		} else {
			/* the client gets the reason without the transport's detail in parentheses
			 * (addresses, ports): that is in the log line above */
			c->mint_err = strdup(err);
			if (c->mint_err && strstr(c->mint_err, " ("))
				*strstr(c->mint_err, " (") = '\0';
		}
		lws_callback_on_writable(w->wsi);
	}
	free(w);
}

/* HTTP_WRITEABLE after mint_done: the response. */
static int respond_after_mint(struct control *ctl, struct lws *wsi, struct http_conn *c)
{
	char msg[512];
	int r;

	if (c->minted) {
		r = respond_minted(ctl, wsi, c, c->mint_create, c->mint_sid, c->mint_user, c->mint_role,
				   c->minted);
		sodium_memzero(c->minted, strlen(c->minted));
		free(c->minted);
		c->minted = NULL;
		return r;
	}
	c->retry_after = HTTP_SIGNER_RETRY_S;
	snprintf(msg, sizeof(msg), "cannot sign a session token now: %s",
		 c->mint_err ? c->mint_err : "out of memory");
	free(c->mint_err);
	c->mint_err = NULL;
	return respond_error(wsi, c, 503, msg);
}

static void on_limit_answer(void *arg, int rc, int64_t value)
{
	struct http_conn *c = arg;
	int w = c->asking;

	c->limit_state[w] = 2;
	c->limit_rc[w] = rc;
	c->limit_retry[w] = (int)value;
	if (c->deferred) {
		c->rerun = 1;
		lws_callback_on_writable(c->wsi);
	}
}

/* Counts a hit (count 1) or looks (count 0) on limit `w` for `key` once per request. 0 within it, RW_ELIMIT over it
 * (Retry-After set), RW_EAGAIN when the store is unreachable, or 1: the answer is awaited
 * and the request is routed again when it comes (the caller returns 0). */
static int limit_ask(struct control *ctl, struct lws *wsi, struct http_conn *c,
		     enum store_limit w, const char *key, int count)
{
	if (!c->limit_state[w]) {
		c->limit_state[w] = 1;
		c->asking = (int)w;
		c->wsi = wsi;
		store_limit_hit(ctl->store, w, key, count, on_limit_answer, c);
	}
	if (c->limit_state[w] == 1) {
		c->deferred = 1;
		return 1;
	}
	if (c->limit_rc[w] == RW_ELIMIT)
		c->retry_after = c->limit_retry[w];
	else if (c->limit_rc[w])
		c->retry_after = HTTP_STORE_RETRY_S;
	return c->limit_rc[w] == RW_ELIMIT || !c->limit_rc[w] ? c->limit_rc[w] : RW_EAGAIN;
}

#define HTTP_STORE_DOWN "session store unavailable: try again shortly"

static void authfail_counted(void *arg, int rc, int64_t value)
{
	/* nothing waits on it; a count lost to an outage is one failure not counted */
}

static void on_json_answer(void *arg, int rc, json_t *value)
{
	struct http_conn *c = arg;

	c->json_state = 2;
	c->json_rc = rc;
	json_decref(c->json_val);
	c->json_val = value;
	if (c->deferred) {
		c->rerun = 1;
		lws_callback_on_writable(c->wsi);
	}
}

/* Asks the store for a session's record (`id`) or the caller's list (`owner`), once per
 * request: 0 with c->json_val, RW_ENOTFOUND, RW_EAGAIN, or 1 (awaited; see limit_hit). */
static int json_ask(struct control *ctl, struct lws *wsi, struct http_conn *c, const char *id,
		    const char *owner)
{
	if (!c->json_state) {
		c->json_state = 1;
		c->wsi = wsi;
		if (id)
			store_session_get(ctl->store, id, on_json_answer, c);
		else
			store_session_list(ctl->store, owner, on_json_answer, c);
	}
	if (c->json_state == 1) {
		c->deferred = 1;
		return 1;
	}
	if (c->json_rc == RW_OK || c->json_rc == RW_ENOTFOUND)
		return c->json_rc;
	c->retry_after = HTTP_STORE_RETRY_S;
	return RW_EAGAIN;
}

static void on_push_answer(void *arg, int rc, int64_t value)
{
	struct http_conn *c = arg;

	c->push_state = 2;
	c->push_rc = rc;
	if (c->deferred) {
		c->rerun = 1;
		lws_callback_on_writable(c->wsi);
	}
}

static int by_created_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "createdAt"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "createdAt"));

	return x < y ? 1 : x > y ? -1 : 0;
}

/* GET /api/sessions: this replica's sessions as they are now, and with a shared store the
 * records of the caller's sessions on other replicas, newest first. */
static int list_sessions(struct control *ctl, struct lws *wsi, struct http_conn *c,
			 const char *user)
{
	json_t *list = json_array(), *rec, **items;
	size_t i, n;

	if (store_is_shared(ctl->store)) {
		int r = json_ask(ctl, wsi, c, NULL, user);
		if (r == 1) {
			json_decref(list);
			return 0;
		}
		if (r) {
			json_decref(list);
			return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
		}
	}
	for (struct session *s = ctl->sessions; s; s = s->next)
		if (!strcmp(s->owner, user) && session_find(ctl, s->id) == s)
			json_array_append_new(list, session_to_json(s));
	json_array_foreach(c->json_val, i, rec) {
		json_t *view = json_object_get(rec, "view");
		const char *id = json_string_value(json_object_get(view, "sessionId"));
		const char *owner = json_string_value(json_object_get(rec, "owner"));
		if (id && owner && !strcmp(owner, user) && !session_find(ctl, id))
			json_array_append(list, view);
	}
	/* newest first, whichever replica holds each */
	n = json_array_size(list);
	items = n ? malloc(n * sizeof(*items)) : NULL;
	if (items) {
		json_t *sorted = json_array();
		for (i = 0; i < n; i++)
			items[i] = json_array_get(list, i);
		qsort(items, n, sizeof(*items), by_created_desc);
		for (i = 0; i < n; i++)
			json_array_append(sorted, items[i]);
		free(items);
		json_decref(list);
		list = sorted;
	}
	return respond_json(wsi, c, 200, json_pack("{s:o}", "sessions", list));
}

static int mint_token(struct control *ctl, struct lws *wsi, struct http_conn *c,
		      const char *sid, const char *user);

/* A session this replica does not hold: its record in the shared store answers GET, a
 * cancel goes to the replica holding it, a token can be minted here (the key is shared). */
static int remote_session(struct control *ctl, struct lws *wsi, struct http_conn *c,
			  const char *id, const char *user, const char *rest)
{
	json_t *view;
	const char *owner;
	int m = c->method;

	switch (json_ask(ctl, wsi, c, id, NULL)) {
	case 0:
		break;
	case 1:
		return 0;
	case RW_ENOTFOUND:
		return respond_error(wsi, c, 404, "no such session");
	default:
		return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
	}
	view = json_object_get(c->json_val, "view");
	owner = json_string_value(json_object_get(c->json_val, "owner"));
	if (!owner || strcmp(owner, user) || !json_is_object(view))
		return respond_error(wsi, c, 404, "no such session");
	if (!*rest) {
		if (m == LWSHUMETH_GET)
			return respond_json(wsi, c, 200, json_incref(view));
		if (m != LWSHUMETH_DELETE)
			return respond_error(wsi, c, 405, "use GET or DELETE");
		if (!c->push_state) {
			char addr[64];
			c->push_state = 1;
			c->wsi = wsi;
			log_audit("session_cancel_forwarded", "{s:s, s:s, s:s, s:s?}", "session", id,
				  "user", user, "client", server_client_addr(wsi, addr, sizeof(addr)),
				  "replica", json_string_value(json_object_get(c->json_val, "replica")));
			fleet_request_cancel(ctl, c->json_val, user, on_push_answer, c);
		}
		if (c->push_state == 1) {
			c->deferred = 1;
			return 0;
		}
		if (c->push_rc) {
			c->retry_after = HTTP_STORE_RETRY_S;
			return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
		}
		/* the holder cancels within a tick; the view is what the record says now */
		return respond_json(wsi, c, 202, json_incref(view));
	}
	if (!strcmp(rest, "/tokens")) {
		if (m != LWSHUMETH_POST)
			return respond_error(wsi, c, 405, "use POST");
		return mint_token(ctl, wsi, c, id, user);
	}
	if (!strcmp(rest, "/recording")) {
		/* an earlier run of this replica (the same data directory, a new replica id)
		 * still has it: a restart loses no recording */
		char path[4400];
		struct stat st;
		if (m != LWSHUMETH_GET)
			return respond_error(wsi, c, 405, "use GET");
		if (strspn(id, "0123456789abcdef") == strlen(id) &&
		    strlen(id) == 2 * CONTROL_SESSION_ID_BYTES) {
			snprintf(path, sizeof(path), "%s/recordings/%s.cast", ctl->cfg.data_dir, id);
			c->file = fopen(path, "r");
			if (c->file && !fstat(fileno(c->file), &st)) {
				c->file_left = (size_t)st.st_size;
				return respond(wsi, c, 200, "application/x-asciicast", NULL,
					       c->file_left);
			}
			if (c->file)
				fclose(c->file);
			c->file = NULL;
		}
		return respond_error(wsi, c, 404, "the recording is kept by the replica that ran "
				     "this session: ask it");
	}
	return respond_error(wsi, c, 404, "no such endpoint");
}

static int create_session(struct control *ctl, struct lws *wsi, struct http_conn *c,
			  const char *user)
{
	static const char *const fields[] = { "command", "cols", "rows", "env", "bundle",
					      "install", "template", "prompt", "secrets" };
	struct session_spec spec;
	json_error_t jerr;
	json_t *req, *v, *keep;
	const char *key;
	struct session *s;
	uint16_t cols, rows;
	char msg[512];
	int status;

	if (c->body_too_big)
		return respond_error(wsi, c, 413, "request body larger than 64 KiB");
	if (ctl->max_concurrent) {
		int live = 0;
		size_t i;
		json_t *rec;
		/* with a shared store the user's live sessions on every replica count */
		if (store_is_shared(ctl->store)) {
			switch (json_ask(ctl, wsi, c, NULL, user)) {
			case 0:
				break;
			case 1:
				return 0;
			default:
				return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
			}
		}
		json_array_foreach(c->json_val, i, rec) {
			json_t *view = json_object_get(rec, "view");
			const char *id = json_string_value(json_object_get(view, "sessionId"));
			const char *state = json_string_value(json_object_get(view, "state"));
			live += id && state && !session_find(ctl, id) &&
				(!strcmp(state, "waiting") || !strcmp(state, "starting") ||
				 !strcmp(state, "running"));
		}
		for (s = ctl->sessions; s; s = s->next)
			live += !strcmp(s->owner, user) && !session_is_final(s) &&
				session_find(ctl, s->id) == s;
		if (live >= ctl->max_concurrent) {
			c->retry_after = 5;
			snprintf(msg, sizeof(msg), "at most %d sessions at once", ctl->max_concurrent);
			return respond_error(wsi, c, 429, msg);
		}
	}
	switch (limit_ask(ctl, wsi, c, STORE_LIMIT_SESSIONS, user, 1)) {
	case 0:
		break;
	case 1:
		return 0;
	case RW_ELIMIT:
		return respond_error(wsi, c, 429, "too many sessions created this minute");
	default:
		return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
	}
	req = json_loadb(c->body ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES, &jerr);
	/* the body may hold a user's secrets: parsed once, its bytes go now */
	if (c->body)
		sodium_memzero(c->body, c->body_len);
	if (!req || !json_is_object(req)) {
		/* jansson's text quotes the input near the error, which may be a secret's */
		if (req)
			snprintf(msg, sizeof(msg), "request body must be a JSON object (got another "
				 "JSON value)");
		else
			snprintf(msg, sizeof(msg), "request body must be a JSON object (invalid JSON "
				 "at line %d, column %d)", jerr.line, jerr.column);
		request_release(req);
		return respond_error(wsi, c, 400, msg);
	}
	json_object_foreach(req, key, v) {
		size_t i;
		for (i = 0; i < RW_ARRAY_LEN(fields) && strcmp(key, fields[i]); i++)
			;
		if (i == RW_ARRAY_LEN(fields)) {
			snprintf(msg, sizeof(msg), "unknown field \"%.64s\"", key);
			request_release(req);
			return respond_error(wsi, c, 400, msg);
		}
	}
	if (get_dim(req, "cols", &cols, 80) || get_dim(req, "rows", &rows, 24)) {
		request_release(req);
		return respond_error(wsi, c, 400, "\"cols\" and \"rows\" must be integers 1..4096");
	}
	/* kept while it waits, so that another replica can queue it again if this one dies
	 * first (fleet_takeover.c): never with secrets, which no store holds, nor when it
	 * would crowd the record's room (STORE_MAX_RECORD) */
	keep = store_is_shared(ctl->store) && !json_object_get(req, "secrets") &&
			       c->body_len <= HTTP_MAX_KEPT_REQUEST ? json_deep_copy(req) : NULL;
	status = templates_resolve(ctl, req, &spec, msg, sizeof(msg));
	request_release(req);
	if (status) {
		json_decref(keep);
		return respond_error(wsi, c, (unsigned)status, msg);
	}
	s = session_new(ctl, user, &spec, cols, rows);
	session_spec_release(&spec);
	if (!s) {
		json_decref(keep);
		return respond_error(wsi, c, 500, "out of memory");
	}
	s->request = keep;
	return mint_and_respond(ctl, wsi, c, 1, s->id, user, TOKEN_ROLE_WRITER);
}

static int mint_token(struct control *ctl, struct lws *wsi, struct http_conn *c,
		      const char *sid, const char *user)
{
	enum token_role role = TOKEN_ROLE_WRITER;
	json_t *req = NULL;
	const char *r;

	/* minting is cheap for a caller and each token is one more way in: limited per user
	 * like session creation (docs/security.md, "Abuse limits") */
	switch (limit_ask(ctl, wsi, c, STORE_LIMIT_TOKENS, user, 1)) {
	case 0:
		break;
	case 1:
		return 0;
	case RW_ELIMIT:
		return respond_error(wsi, c, 429, "too many session tokens minted this minute");
	default:
		return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
	}
	if (c->body_len) {
		req = json_loadb(c->body, c->body_len, 0, NULL);
		if (!req || !json_is_object(req)) {
			json_decref(req);
			return respond_error(wsi, c, 400, "request body must be a JSON object");
		}
		r = json_string_value(json_object_get(req, "role"));
		if (json_object_get(req, "role") && (!r || (strcmp(r, "viewer") && strcmp(r, "writer")))) {
			json_decref(req);
			return respond_error(wsi, c, 400, "\"role\" must be \"writer\" or \"viewer\"");
		}
		if (r && !strcmp(r, "viewer"))
			role = TOKEN_ROLE_VIEWER;
		json_decref(req);
	}
	return mint_and_respond(ctl, wsi, c, 0, sid, user, role);
}

static int metrics(struct control *ctl, struct lws *wsi, struct http_conn *c)
{
	size_t len = 0;
	char *text = scrape_metrics_text(ctl, &len);

	if (!text)
		return respond_error(wsi, c, 500, "out of memory");
	return respond(wsi, c, 200, "text/plain; version=0.0.4", text, len);
}

/* GET /readyz, on either listener: 503 while stopping, while the shared store is unreachable, or
 * while the session signer has no key. */
static int readyz(struct control *ctl, struct lws *wsi, struct http_conn *c)
{
	char reason[160];

	if (ctl->stopping)
		return respond_json(wsi, c, 503, json_pack("{s:s}", "status", "stopping"));
	if (!store_ready(ctl->store))
		return respond_json(wsi, c, 503, json_pack("{s:s, s:s}", "status", "store unavailable",
							   "store", store_kind(ctl->store)));
	if (token_keys_ready(ctl->keys, reason, sizeof(reason)))
		return respond_json(wsi, c, 503, json_pack("{s:s, s:s}", "status", "starting",
							   "reason", reason));
	return respond_json(wsi, c, 200, json_pack("{s:s}", "status", "ready"));
}

/* The internal listener (--internal-listen): the scaler's queue, the metrics and health,
 * all behind the bearer token; nothing else is served there. */
static int route_internal(struct control *ctl, struct lws *wsi, struct http_conn *c)
{
	const char *p = c->path;

	if (!scrape_authorized(ctl, wsi)) {
		ctl->m.auth_failures++;
		c->bearer_challenge = 1;
		return respond_error(wsi, c, 401, "missing or wrong \"Authorization: Bearer <internal token>\"");
	}
	if (c->method != LWSHUMETH_GET)
		return respond_error(wsi, c, 405, "use GET");
	if (!strcmp(p, "/api/queue"))
		return respond_json(wsi, c, 200, scrape_queue(ctl));
	if (!strcmp(p, "/metrics"))
		return metrics(ctl, wsi, c);
	if (!strcmp(p, "/healthz"))
		return respond_json(wsi, c, 200, json_pack("{s:s}", "status", "ok"));
	if (!strcmp(p, "/readyz"))
		return readyz(ctl, wsi, c);
	return respond_error(wsi, c, 404, "no such endpoint");
}

/* Routes a complete request. Returns non-zero to close the connection. */
static int route(struct control *ctl, struct lws *wsi, struct http_conn *c)
{
	const char *p = c->path;
	char id[64], user[FIREBASE_UID_BUF], reason[160], addr[64] = "";
	int r;
	struct session *s;
	int m = c->method;

	if (ctl->cfg.internal_host && listener_is_internal(wsi))
		return route_internal(ctl, wsi, c);
	if (!strcmp(p, "/healthz"))
		return respond_json(wsi, c, 200, json_pack("{s:s}", "status", "ok"));
	if (!strcmp(p, "/readyz"))
		return readyz(ctl, wsi, c);
	/* with an internal listener, the scaler's and the scraper's endpoints live there only */
	if (ctl->cfg.internal_host && (!strcmp(p, "/metrics") || !strcmp(p, "/api/queue")))
		return respond_error(wsi, c, 404, "no such endpoint");
	if (!strcmp(p, "/metrics"))
		return metrics(ctl, wsi, c);
	if (!strcmp(p, "/api/config"))
		return respond_json(wsi, c, 200, json_pack("{s:o, s:o}", "templates",
						templates_list(ctl), "auth", server_auth_config(ctl)));
	if (!strcmp(p, "/api/queue"))
		return respond_json(wsi, c, 200, scrape_queue(ctl));
	if (strncmp(p, "/api/", 5) && m == LWSHUMETH_GET) {
		char *body;
		size_t len;
		const char *ctype;
		if (web_get(ctl, p, &body, &len, &ctype))
			return respond(wsi, c, 200, ctype, body, len);
	}
	if (strncmp(p, "/api/sessions", 13))
		return respond_error(wsi, c, 404, "no such endpoint");

	/* failed sign-ins are counted per client address, fleet-wide with a shared store: an
	 * address over the limit is refused before its credential is looked at */
	if (ctl->fa) {
		server_client_addr(wsi, addr, sizeof(addr));
		switch (limit_ask(ctl, wsi, c, STORE_LIMIT_AUTHFAIL, addr, 0)) {
		case 0:
			break;
		case 1:
			return 0;
		case RW_ELIMIT:
			return respond_error(wsi, c, 429, "too many failed sign-ins from this address");
		default:
			return respond_error(wsi, c, 503, HTTP_STORE_DOWN);
		}
	}
	r = server_authenticate(ctl, wsi, user, sizeof(user), reason, sizeof(reason), &c->retry_after);
	if (r == RW_EAGAIN)
		return respond_error(wsi, c, 503, reason);
	if (r) {
		/* counted without waiting for the answer: the 401 goes now */
		store_limit_hit(ctl->store, STORE_LIMIT_AUTHFAIL, addr, 1, authfail_counted, NULL);
		return respond_error(wsi, c, 401, reason);
	}
	p += 13;
	if (!*p || !strcmp(p, "/")) {
		if (m == LWSHUMETH_POST)
			return create_session(ctl, wsi, c, user);
		if (m == LWSHUMETH_GET)
			return list_sessions(ctl, wsi, c, user);
		return respond_error(wsi, c, 405, "use GET or POST");
	}
	if (*p != '/')
		return respond_error(wsi, c, 404, "no such endpoint");
	p++;
	size_t idlen = strcspn(p, "/");
	if (idlen >= sizeof(id))
		return respond_error(wsi, c, 404, "no such session");
	memcpy(id, p, idlen);
	id[idlen] = '\0';
	p += idlen;
	s = session_find(ctl, id);
	if (!s && store_is_shared(ctl->store))
		return remote_session(ctl, wsi, c, id, user, p);
	if (!s || strcmp(s->owner, user))
		return respond_error(wsi, c, 404, "no such session");
	if (!*p) {
		if (m == LWSHUMETH_GET)
			return respond_json(wsi, c, 200, session_to_json(s));
		if (m == LWSHUMETH_DELETE) {
			log_audit("session_cancel", "{s:s, s:s, s:s}", "session", s->id, "user", user,
				 "client", server_client_addr(wsi, addr, sizeof(addr)));
			session_cancel(s);
			return respond_json(wsi, c, 202, session_to_json(s));
		}
		return respond_error(wsi, c, 405, "use GET or DELETE");
	}
	if (!strcmp(p, "/recording")) {
		struct stat st;
		if (m != LWSHUMETH_GET)
			return respond_error(wsi, c, 405, "use GET");
		if (s->rec)
			recording_flush(s->rec);
		c->file = fopen(session_recording_path(s), "r");
		if (!c->file || fstat(fileno(c->file), &st))
			return respond_error(wsi, c, 404, "no recording for this session");
		c->file_left = (size_t)st.st_size;
		return respond(wsi, c, 200, "application/x-asciicast", NULL, c->file_left);
	}
	if (!strcmp(p, "/tokens")) {
		if (m != LWSHUMETH_POST)
			return respond_error(wsi, c, 405, "use POST");
		return mint_token(ctl, wsi, c, s->id, user);
	}
	return respond_error(wsi, c, 404, "no such endpoint");
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			 void *in, size_t len)
{
	struct control *ctl = lws_context_user(lws_get_context(wsi));
	struct http_conn *c = user;
	char *uri, clen[32];
	int ulen;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return 1;  /* WebSocket upgrades without a known subprotocol are refused */

	case LWS_CALLBACK_HTTP:
		json_decref(c->json_val);   /* NULL unless a request on this connection left one */
		memset(c, 0, sizeof(*c));
		c->method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
		if (c->method < 0 || (size_t)ulen >= sizeof(c->path)) {
			snprintf(c->path, sizeof(c->path), "/");
			return respond_error(wsi, c, 400, "bad request line");
		}
		memcpy(c->path, uri, (size_t)ulen);
		c->path[ulen] = '\0';
		if (c->method == LWSHUMETH_POST || c->method == LWSHUMETH_PUT ||
		    c->method == LWSHUMETH_PATCH) {
			if (lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
			    atoll(clen) > 0) {
				if (atoll(clen) > HTTP_MAX_BODY) {
					c->close_after = 1;
					return respond_error(wsi, c, 413, "request body larger than 64 KiB");
				}
				return 0;  /* the body follows */
			}
		}
		return route(ctl, wsi, c);

	case LWS_CALLBACK_HTTP_BODY:
		if (!len)
			break;  /* lws reports an empty body (Content-Length: 0) with in == NULL */
		if (c->body_len + len > HTTP_MAX_BODY) {
			c->body_too_big = 1;
			break;
		}
		{
			char *nb = realloc(c->body, c->body_len + len + 1);
			if (!nb)
				return 1;
			c->body = nb;
			memcpy(c->body + c->body_len, in, len);
			c->body_len += len;
			c->body[c->body_len] = '\0';
		}
		break;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c->responded)
			break;
		return route(ctl, wsi, c);

	case LWS_CALLBACK_HTTP_WRITEABLE: {
		uint8_t buf[LWS_PRE + HTTP_WRITE_CHUNK];
		size_t n;
		int last;

		if (c->rerun) {
			c->rerun = 0;
			c->deferred = 0;
			return route(ctl, wsi, c);
		}
		if (!c->responded && (c->minted || c->mint_err))
			return respond_after_mint(ctl, wsi, c);
		if (!c->resp && !c->file)
			break;
		n = c->resp_len - c->resp_sent;
		if (n > HTTP_WRITE_CHUNK)
			n = HTTP_WRITE_CHUNK;
		last = c->resp_sent + n == c->resp_len;
		if (c->file) {
			/* the file may have grown since its size was sent: send exactly that size */
			if (fread(buf + LWS_PRE, 1, n, c->file) != n)
				return -1;
		} else {
			memcpy(buf + LWS_PRE, c->resp + c->resp_sent, n);
		}
		if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
			return -1;
		c->resp_sent += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			break;
		}
		free(c->resp);
		c->resp = NULL;
		free(c->body);
		c->body = NULL;
		json_decref(c->json_val);
		c->json_val = NULL;
		if (c->file) {
			fclose(c->file);
			c->file = NULL;
		}
		if (c->close_after || lws_http_transaction_completed(wsi))
			return -1;
		break;
	}

	case LWS_CALLBACK_WSI_DESTROY:
		/* lws sends every connection's end to the first protocol: this one */
		listener_connection_closed(wsi);
		break;

	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* a worker (the KMS signer) finished something: deliver it on the loop */
		if (ctl && ctl->keys)
			token_keys_deliver(ctl->keys);
		break;

	case LWS_CALLBACK_CLOSED_HTTP:
		if (c && c->deferred)
			store_forget(ctl->store, c);
		if (c) {
			if (c->mint)
				c->mint->wsi = NULL;  /* mint_done still runs and frees it */
			c->mint = NULL;
			if (c->minted)
				sodium_memzero(c->minted, strlen(c->minted));
			free(c->minted);
			free(c->mint_err);
			c->minted = c->mint_err = NULL;
			json_decref(c->json_val);
			c->json_val = NULL;
			free(c->resp);
			free(c->body);
			c->resp = c->body = NULL;
			if (c->file)
				fclose(c->file);
			c->file = NULL;
		}
		break;

	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
	return 0;
}

const struct lws_protocols http_api_protocol = {
	"http", callback_http, sizeof(struct http_conn), 0, 0, NULL, 0
};
