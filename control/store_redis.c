/* store_redis.c: the store in Redis, shared by control replicas (store.h).
 *
 * hiredis' asynchronous API on control's own libwebsockets loop, through a small adapter:
 * the connection's socket is adopted by lws as a raw descriptor (a dup of it, so that lws
 * and hiredis each close their own), its readable and writeable callbacks drive
 * redisAsyncHandleRead/Write, and hiredis' addWrite hook asks lws for a writeable callback.
 * Nothing here blocks the loop: connecting is non-blocking, the host name is resolved once
 * at start (before the loop serves anyone), and a watchdog PING notices a Redis that stopped
 * answering. While the connection is down every operation is answered RW_EAGAIN at once,
 * operations in flight when it drops are answered RW_EAGAIN, and it is re-established with
 * a doubling backoff (STORE_REDIS_BACKOFF_*). See docs/architecture.md, "The store".
 *
 * Keys (all under "runwire:"):
 *   runwire:once:<id>             one-time ids: SET NX EXAT (the id's own expiry)
 *   runwire:rl:<limit>:<key>      fixed-window counters: INCRBY + PEXPIRE on the first hit,
 *                                 in one Lua script so that the window starts exactly once
 *   runwire:session:<id>          a session's record (JSON), EX its ttl
 *   runwire:holder:<id>           the replica holding the session: set by a put (EX the
 *                                 record's ttl; a put by another replica is refused) and by
 *                                 a claim (EX the claim's ttl), read by stream adds
 *   runwire:waiting               set of the session ids whose record's view says "waiting"
 *                                 (SADD/SREM by the put script); the orphans script claims
 *                                 those whose holder died and drops those whose record
 *                                 expired (store_redis_session.c)
 *   runwire:user:<owner>          sorted set of the owner's session ids by creation time;
 *                                 ids whose record expired are pruned as a list finds them
 *   runwire:inbox:<replica>       list of requests for one replica (RPUSH, LPOP count)
 *   runwire:replica:<replica>     a replica's figures (JSON), PX a few ticks
 *   runwire:replicas              set of replica ids; ids whose figures expired are pruned
 *   runwire:stream:<id>           a session's stream: XADD with the entry's number as ID
 *                                 (<n>-0), fields k (kind), o (offset), d (bytes), in a
 *                                 script that fences, checks for gaps and trims by entries
 *                                 and bytes (store_redis_stream.c)
 *   runwire:sbytes:<id>           the bytes of data the stream holds (INCRBY, DECRBY)
 *   runwire:readers:<id>          sorted set: the stream's readers on other replicas by the
 *                                 offset each has read to; runwire:readerseen:<id> the same
 *                                 by when each expires (Redis' clock)
 *   runwire:input:<id>            a session's input from writers on other replicas: a list
 *                                 (RPUSH, LPOP in a script), at most STORE_INPUT_MAX_ENTRIES
 *   runwire:inputs:<replica>      set of the replica's sessions with input waiting
 *   runwire:wake:<replica>        pub/sub channel: a session's input became non-empty
 * The list, claim, orphans and replicas scripts touch keys they build themselves from the
 * prefix (a holder's figures, records by id): fine on one Redis (standalone, Memorystore),
 * not on a Cluster, where every key a script touches must be among its KEYS.
 */
#include "control/store_redis_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <libwebsockets.h>
#include <sodium.h>

#define STORE_REDIS_BACKOFF_MIN_MS 100
#define STORE_REDIS_BACKOFF_MAX_MS 2000
#define STORE_REDIS_WATCH_MS 500       /* how often the watchdog looks */
#define STORE_REDIS_TIMEOUT_MS 2000    /* a connect or a PING unanswered this long: down */

/* Counts INCRBY ARGV[1] in KEYS[1]; the first hit of a window sets its expiry (ARGV[2] ms).
 * Returns {count, milliseconds left in the window}. */
static const char rl_script[] =
	"local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
	"local t = redis.call('PTTL', KEYS[1]) "
	"if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) t = tonumber(ARGV[2]) end "
	"return {n, t}";

/* KEYS[1] inbox; ARGV: message, most held, seconds an unread inbox lives */
static const char push_script[] =
	"if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end "
	"redis.call('RPUSH', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1";
/* KEYS[1] the set of ids; ARGV: key prefix, most. Returns {id, json, id, json, ...}. */
static const char replicas_script[] =
	"local ids = redis.call('SMEMBERS', KEYS[1]) local out = {} "
	"for _, id in ipairs(ids) do "
	"  local v = redis.call('GET', ARGV[1] .. id) "
	"  if v then if #out < 2 * tonumber(ARGV[2]) then out[#out + 1] = id out[#out + 1] = v end "
	"  else redis.call('SREM', KEYS[1], id) end "
	"end return out";
#define STORE_REDIS_INBOX_TTL_S 600     /* a dead replica's inbox goes after this */

static void connect_now(struct store_redis *r);

void *store_redis_new(const char *host, int port, int db, const char *password)
{
	struct store_redis *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->port = port;
	r->db = db;
	r->backoff_ms = STORE_REDIS_BACKOFF_MIN_MS;
	r->c.r = r;
	r->sub.r = r;
	if (password && !(r->password = strdup(password))) {
		free(r);
		return NULL;
	}
	return r;
}

/* ---- the adapter: hiredis' event hooks on the lws loop ---- */

int ensure_wsi(struct rconn *c)
{
	lws_sock_file_fd_type fd;

	if (c->wsi || !c->ac)
		return c->wsi ? 0 : -1;
	fd.filefd = dup(c->ac->c.fd);
	if (fd.filefd < 0)
		return -1;
	c->wsi = lws_adopt_descriptor_vhost(c->r->vh, LWS_ADOPT_RAW_FILE_DESC, fd, "rw-store", NULL);
	if (!c->wsi) {
		close(fd.filefd);
		return -1;
	}
	lws_set_opaque_user_data(c->wsi, c);
	return 0;
}

void ev_add_read(void *privdata)
{
	ensure_wsi(privdata);
}

void ev_del_read(void *privdata)
{
	/* hiredis stops reading only as it closes: cleanup drops the descriptor */
}

void ev_add_write(void *privdata)
{
	struct rconn *c = privdata;

	if (!ensure_wsi(c))
		lws_callback_on_writable(c->wsi);
}

void ev_del_write(void *privdata)
{
	/* lws' writeable callback is one-shot: nothing to undo */
}

/* hiredis is freeing the context: the loop lets go of its descriptor (closed from lws' own
 * close path, never inside this hook). */
void ev_cleanup(void *privdata)
{
	struct rconn *c = privdata;

	if (c->wsi) {
		lws_set_opaque_user_data(c->wsi, NULL);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
		c->wsi = NULL;
	}
}

static int callback_store(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	struct rconn *c = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!c || !c->ac)
			return -1;
		redisAsyncHandleRead(c->ac);
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (!c || !c->ac)
			return -1;
		redisAsyncHandleWrite(c->ac);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* lws 4.1 closes an adopted descriptor itself (strace: a close here was a second
		 * close, EBADF) */
		if (c && c->wsi == wsi)
			c->wsi = NULL;   /* lws dropped it: the watchdog reconnects */
		break;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols store_protocol = {
	"rw-store", callback_store, 0, 0, 0, NULL, 0
};

/* ---- connection life ---- */

static void on_retry(lws_sorted_usec_list_t *sul)
{
	struct store_redis *r = lws_container_of(sul, struct store_redis, sul_retry);

	if (!r->c.ac && !r->stopping)
		connect_now(r);
}

static void schedule_retry(struct store_redis *r)
{
	if (r->stopping)
		return;
	lws_sul_schedule(r->ctx, 0, &r->sul_retry, on_retry, (lws_usec_t)r->backoff_ms * LWS_US_PER_MS);
	r->backoff_ms = r->backoff_ms * 2 > STORE_REDIS_BACKOFF_MAX_MS ? STORE_REDIS_BACKOFF_MAX_MS
								       : r->backoff_ms * 2;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct store_redis *r = ac->data;

	if (r->c.ac != ac)
		return;
	r->c.ac = NULL;
	r->ready = 0;
	r->ping_out = 0;
	if (!r->stopping) {
		log_warn("store_unavailable", "{s:s, s:s, s:i, s:s}", "store", "redis", "host", r->host,
			 "port", r->port, "reason", ac->errstr[0] ? ac->errstr : "connection closed");
		r->logged_down = 1;
	}
	schedule_retry(r);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct store_redis *r = ac->data;

	if (status == REDIS_OK || r->c.ac != ac)
		return;
	/* hiredis frees the context after this returns */
	r->c.ac = NULL;
	r->ready = 0;
	if (!r->logged_down)
		log_warn("store_unavailable", "{s:s, s:s, s:i, s:s}", "store", "redis", "host", r->host,
			 "port", r->port, "reason", ac->errstr[0] ? ac->errstr : "cannot connect");
	r->logged_down = 1;
	schedule_retry(r);
}

/* Answers and unlinks a request. */
void req_done(struct req *q, int rc, int64_t value)
{
	struct store_redis *r = q->r;

	if (q->prev)
		q->prev->next = q->next;
	else if (r->reqs == q)
		r->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	if (q->kind == REQ_ENTRIES) {
		/* answered here only when no reply came (see on_entries_reply) */
		struct entries_req *er = q->arg;
		if (er && q->jcb)
			er->cb(er->arg, rc, NULL, 0);
		free(er);
	} else if (q->cb) {
		q->cb(q->arg, rc, value);
	} else if (q->jcb) {
		q->jcb(q->arg, rc, NULL);
	}
	free(q);
}

/* Answers a JSON request with `value` (a new reference, given to the callee). */
void req_done_json(struct req *q, int rc, json_t *value)
{
	store_json_cb jcb = q->jcb;
	void *arg = q->arg;

	q->jcb = NULL;
	q->cb = NULL;
	req_done(q, rc, 0);
	if (jcb)
		jcb(arg, rc, value);
	else
		json_decref(value);
}

struct req *req_new(struct store_redis *r, enum req_kind kind, store_cb cb, void *arg)
{
	struct req *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->r = r;
	q->kind = kind;
	q->cb = cb;
	q->arg = arg;
	q->next = r->reqs;
	if (r->reqs)
		r->reqs->prev = q;
	r->reqs = q;
	return q;
}

/* Replies to the connection's own commands (AUTH, SELECT, PING). */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_redis *r = ac->data;
	redisReply *rep = reply;
	const char *what = privdata;

	if (!rep || r->c.ac != ac)
		return;   /* the connection went: on_disconnect says so */
	if (rep->type == REDIS_REPLY_ERROR) {
		/* Redis' own words ("WRONGPASS ...", "NOAUTH ..."), which never hold the password;
		 * said once until it is ready again, not at every retry */
		if (!r->logged_refused)
			log_error("store_refused", "{s:s, s:s, s:s}", "store", "redis", "command", what,
				  "reason", rep->str);
		r->logged_refused = 1;
		r->ready = 0;
		r->logged_down = 1;
		redisAsyncDisconnect(ac);
		return;
	}
	if (!strcmp(what, "PING")) {
		r->ping_out = 0;
		if (!r->ready)
			log_info("store_ready", "{s:s, s:s, s:i, s:i}", "store", "redis", "host", r->host,
				 "port", r->port, "db", r->db);
		r->ready = 1;
		r->logged_down = 0;
		r->logged_refused = 0;
		r->backoff_ms = STORE_REDIS_BACKOFF_MIN_MS;
	}
}

static void connect_now(struct store_redis *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->addr, r->port);

	if (!ac || ac->err) {
		if (!r->logged_down)
			log_warn("store_unavailable", "{s:s, s:s, s:s}", "store", "redis", "host", r->host,
				 "reason", ac ? ac->errstr : "out of memory");
		r->logged_down = 1;
		if (ac)
			redisAsyncFree(ac);
		schedule_retry(r);
		return;
	}
	r->c.ac = ac;
	ac->data = r;
	ac->ev.data = &r->c;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->since_ms = rw_now_ms();
	r->ping_out = 1;
	/* pipelined: the PING's answer means all before it were accepted */
	if (r->password)
		redisAsyncCommand(ac, on_setup_reply, (void *)"AUTH", "AUTH %b", r->password,
				  strlen(r->password));
	if (r->db)
		redisAsyncCommand(ac, on_setup_reply, (void *)"SELECT", "SELECT %d", r->db);
	redisAsyncCommand(ac, on_setup_reply, (void *)"PING", "PING");
	ensure_wsi(&r->c);
}

/* Every STORE_REDIS_WATCH_MS: a PING while idle; a connect or PING unanswered for
 * STORE_REDIS_TIMEOUT_MS drops the connection (its operations answer RW_EAGAIN) so /readyz
 * and the API say so rather than hang. */
static void on_watch(lws_sorted_usec_list_t *sul)
{
	struct store_redis *r = lws_container_of(sul, struct store_redis, sul_watch);
	int64_t now = rw_now_ms();

	if (r->c.ac && (r->ping_out ? now - r->since_ms > STORE_REDIS_TIMEOUT_MS : !r->c.wsi)) {
		redisAsyncContext *ac = r->c.ac;
		log_warn("store_unavailable", "{s:s, s:s, s:i, s:s}", "store", "redis", "host", r->host,
			 "port", r->port, "reason", r->c.wsi ? "no answer within 2 s" : "connection lost");
		r->logged_down = 1;
		r->c.ac = NULL;
		r->ready = 0;
		r->ping_out = 0;
		redisAsyncFree(ac);   /* answers what is in flight with RW_EAGAIN */
		sub_drop(r);
		schedule_retry(r);
	} else if (r->c.ac && r->ready && !r->ping_out) {
		r->ping_out = 1;
		r->since_ms = now;
		redisAsyncCommand(r->c.ac, on_setup_reply, (void *)"PING", "PING");
	}
	if (r->sub.ac && !r->sub.wsi)
		sub_drop(r);       /* lws dropped its socket: subscribe again */
	if (r->wake && r->ready && !r->sub.ac && !r->stopping)
		sub_connect(r);
	if (!r->stopping)
		lws_sul_schedule(r->ctx, 0, &r->sul_watch, on_watch,
				 STORE_REDIS_WATCH_MS * LWS_US_PER_MS);
}

static int redis_start(void *b, struct lws_context *ctx, struct lws_vhost *vh)
{
	struct store_redis *r = b;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int e;

	r->ctx = ctx;
	r->vh = vh;
	/* resolved once, here, before the loop serves anyone: getaddrinfo blocks */
	e = getaddrinfo(r->host, NULL, &hints, &res);
	if (e || !res) {
		fprintf(stderr, "runwire-control: --store: cannot resolve %s: %s\n", r->host,
			gai_strerror(e));
		return RW_EINVAL;
	}
	e = getnameinfo(res->ai_addr, res->ai_addrlen, r->addr, sizeof(r->addr), NULL, 0,
			NI_NUMERICHOST);
	freeaddrinfo(res);
	if (e) {
		fprintf(stderr, "runwire-control: --store: cannot resolve %s\n", r->host);
		return RW_EINVAL;
	}
	log_info("store", "{s:s, s:s, s:s, s:i, s:i, s:b}", "store", "redis", "host", r->host,
		 "address", r->addr, "port", r->port, "db", r->db, "auth", r->password != NULL);
	connect_now(r);
	lws_sul_schedule(ctx, 0, &r->sul_watch, on_watch, STORE_REDIS_WATCH_MS * LWS_US_PER_MS);
	return RW_OK;
}

static void redis_free(void *b)
{
	struct store_redis *r = b;

	if (!r)
		return;
	r->stopping = 1;
	if (r->ctx) {
		lws_sul_cancel(&r->sul_retry);
		lws_sul_cancel(&r->sul_watch);
	}
	if (r->c.ac) {
		redisAsyncContext *ac = r->c.ac;
		r->c.ac = NULL;
		redisAsyncFree(ac);
	}
	sub_drop(r);
	while (r->reqs)
		req_done(r->reqs, RW_EAGAIN, 0);
	if (r->password) {
		sodium_memzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r);
}

static int redis_ready(const void *b)
{
	const struct store_redis *r = b;

	return r->ready;
}

/* ---- operations ---- */

static void on_limit_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	long long n, ms;

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_error("store_command_failed", "{s:s, s:s}", "command", "ratelimit", "reason",
				  rep->str);
		req_done(q, RW_EAGAIN, 0);
		return;
	}
	n = rep->element[0]->integer;
	ms = rep->element[1]->integer;
	/* a hit past the limit is refused; a look says "over" once the limit is used up */
	if (q->count ? n > q->limit : n >= q->limit)
		req_done(q, RW_ELIMIT, ms > 0 ? (ms + 999) / 1000 : 1);
	else
		req_done(q, RW_OK, 0);
}

static void redis_limit_hit(void *b, enum store_limit which, const char *name, int limit,
			    int window_s, const char *key, int count, store_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q;
	char k[STORE_MAX_KEY + 64];

	if (!r->ready || !r->c.ac) {
		cb(arg, RW_EAGAIN, 0);
		return;
	}
	q = req_new(r, REQ_LIMIT, cb, arg);
	if (!q) {
		cb(arg, RW_ENOMEM, 0);
		return;
	}
	q->limit = limit;
	q->count = count;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "rl:%s:%s", name, key);
	if (redisAsyncCommand(r->c.ac, on_limit_reply, q, "EVAL %s 1 %s %d %lld", rl_script, k, count,
			      (long long)window_s * 1000) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

static void on_once_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;

	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			log_error("store_command_failed", "{s:s, s:s}", "command", "once", "reason",
				  rep->str);
		req_done(q, RW_EAGAIN, 0);
	} else if (rep->type == REDIS_REPLY_NIL) {
		req_done(q, RW_EAUTH, 0);   /* set before: here or on another replica */
	} else {
		req_done(q, RW_OK, 0);
	}
}

static void redis_once(void *b, const char *id, int64_t expires_s, store_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q;
	char k[STORE_MAX_KEY + 64];

	if (!r->ready || !r->c.ac) {
		cb(arg, RW_EAGAIN, 0);
		return;
	}
	if (expires_s <= rw_now_ms() / 1000) {
		cb(arg, RW_EAUTH, 0);      /* expired ids are never good: nothing to remember */
		return;
	}
	q = req_new(r, REQ_ONCE, cb, arg);
	if (!q) {
		cb(arg, RW_ENOMEM, 0);
		return;
	}
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "once:%s", id);
	/* %b: the id is arbitrary bytes from a token, never interpolated into a command line */
	if (redisAsyncCommand(r->c.ac, on_once_reply, q, "SET %b 1 NX EXAT %lld", k, strlen(k),
			      (long long)expires_s) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

static void redis_forget(void *b, void *arg)
{
	struct store_redis *r = b;

	for (struct req *q = r->reqs; q; q = q->next)
		if (q->kind == REQ_ENTRIES ? q->arg && ((struct entries_req *)q->arg)->arg == arg
					   : q->arg == arg) {
			q->cb = NULL;
			q->jcb = NULL;
		}
}

/* ---- request helpers, and inboxes (session records: store_redis_session.c) ---- */

void on_status_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;

	long long v;

	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			log_error("store_command_failed", "{s:s, s:s}", "command", "put", "reason",
				  rep->str);
		req_done(q, RW_EAGAIN, 0);
		return;
	}
	v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
	req_done(q, v == STORE_REDIS_STATE ? RW_ESTATE : v == STORE_REDIS_GAP ? RW_EPROTO
		    : v < 0 ? RW_ELIMIT : RW_OK, 0);
}

/* A request whose answer is a status; `cb` may be NULL. NULL when answered already. */
struct req *status_req(struct store_redis *r, store_cb cb, void *arg)
{
	struct req *q;

	if (!r->ready || !r->c.ac) {
		if (cb)
			cb(arg, RW_EAGAIN, 0);
		return NULL;
	}
	q = req_new(r, REQ_INTERNAL, cb, arg);
	if (!q && cb)
		cb(arg, RW_ENOMEM, 0);
	return q;
}

struct req *json_req(struct store_redis *r, store_json_cb cb, void *arg)
{
	struct req *q;

	if (!r->ready || !r->c.ac) {
		cb(arg, RW_EAGAIN, NULL);
		return NULL;
	}
	q = req_new(r, REQ_JSON, NULL, arg);
	if (!q) {
		cb(arg, RW_ENOMEM, NULL);
		return NULL;
	}
	q->jcb = cb;
	return q;
}

/* An array of JSON strings (nil: empty) as a JSON array; unreadable items are skipped. */
void on_array_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	json_t *out;

	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		if (rep)
			log_error("store_command_failed", "{s:s, s:s}", "command", "list", "reason",
				  rep->str);
		req_done_json(q, RW_EAGAIN, NULL);
		return;
	}
	out = json_array();
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		redisReply *e = rep->element[i];
		json_t *j = e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
		if (j)
			json_array_append_new(out, j);
	}
	req_done_json(q, RW_OK, out);
}

static void redis_inbox_push(void *b, const char *replica, const char *json, store_cb cb,
			     void *arg)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, cb, arg);
	char k[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "inbox:%s", replica);
	if (redisAsyncCommand(r->c.ac, on_status_reply, q, "EVAL %s 1 %s %s %d %d", push_script, k,
			      json, STORE_MAX_INBOX, STORE_REDIS_INBOX_TTL_S) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

static void redis_inbox_pop(void *b, const char *replica, store_json_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);
	char k[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "inbox:%s", replica);
	if (redisAsyncCommand(r->c.ac, on_array_reply, q, "LPOP %s %d", k, STORE_INBOX_BATCH) !=
	    REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}

static void redis_replica_put(void *b, const char *replica, const char *json, int64_t ttl_ms)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, NULL, NULL);
	char k[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "replica:%s", replica);
	/* two commands, one request: SADD's answer is not awaited */
	redisAsyncCommand(r->c.ac, NULL, NULL, "SADD " STORE_REDIS_PREFIX "replicas %s", replica);
	if (redisAsyncCommand(r->c.ac, on_status_reply, q, "SET %s %s PX %lld", k, json,
			      (long long)ttl_ms) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

static void on_replicas_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	json_t *out;

	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		req_done_json(q, RW_EAGAIN, NULL);
		return;
	}
	out = json_object();
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		redisReply *id = rep->element[i], *v = rep->element[i + 1];
		json_t *j = v->type == REDIS_REPLY_STRING ? json_loadb(v->str, v->len, 0, NULL) : NULL;
		if (j && id->type == REDIS_REPLY_STRING)
			json_object_setn_new(out, id->str, id->len, j);
		else
			json_decref(j);
	}
	req_done_json(q, RW_OK, out);
}

static void redis_replica_all(void *b, store_json_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);

	if (!q)
		return;
	if (redisAsyncCommand(r->c.ac, on_replicas_reply, q, "EVAL %s 1 %s %s %d", replicas_script,
			      STORE_REDIS_PREFIX "replicas", STORE_REDIS_PREFIX "replica:",
			      STORE_MAX_REPLICAS) != REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}

/* ---- session streams: store_redis_stream.c ---- */

struct req *entries_req(struct store_redis *r, store_entries_cb cb, void *arg)
{
	struct entries_req *er;
	struct req *q;

	if (!r->ready || !r->c.ac) {
		cb(arg, RW_EAGAIN, NULL, 0);
		return NULL;
	}
	er = malloc(sizeof(*er));
	q = er ? req_new(r, REQ_ENTRIES, NULL, er) : NULL;
	if (!q) {
		free(er);
		cb(arg, RW_ENOMEM, NULL, 0);
		return NULL;
	}
	er->cb = cb;
	er->arg = arg;
	q->jcb = entries_forgotten_guard;
	return q;
}

void entries_req_done(struct req *q, int rc, const struct store_entry *e, size_t n)
{
	store_entries_cb cb = ((struct entries_req *)q->arg)->cb;
	void *arg = ((struct entries_req *)q->arg)->arg;
	int forgotten = !q->jcb;

	/* the request's own bookkeeping first; then the caller, entries still borrowed */
	free(q->arg);
	q->arg = NULL;
	q->jcb = NULL;
	req_done(q, rc, 0);
	if (!forgotten)
		cb(arg, rc, e, n);
}

/* An entries request reuses the JSON request's slot: `jcb` non-NULL means "still wanted"
 * (store_forget clears it) and `arg` holds the caller's callback and argument. */
void entries_forgotten_guard(void *arg, int rc, json_t *value)
{
	/* never called: on_entries_reply answers entries requests itself */
}

const struct store_ops store_redis_ops = {
	.kind = "redis",
	.shared = 1,
	.at_once = 0,
	.start = redis_start,
	.free = redis_free,
	.ready = redis_ready,
	.limit_hit = redis_limit_hit,
	.once = redis_once,
	.forget = redis_forget,
	.session_put = redis_session_put,
	.session_claim = redis_session_claim,
	.session_get = redis_session_get,
	.session_list = redis_session_list,
	.session_orphans = redis_session_orphans,
	.inbox_push = redis_inbox_push,
	.inbox_pop = redis_inbox_pop,
	.replica_put = redis_replica_put,
	.replica_all = redis_replica_all,
	.stream_add = redis_stream_add,
	.stream_read = redis_stream_read,
	.input_push = redis_input_push,
	.input_pending = redis_input_pending,
	.input_take = redis_input_take,
	.input_done = redis_input_done,
	.input_watch = redis_input_watch,
	.reader_put = redis_reader_put,
	.reader_drop = redis_reader_drop,
	.readers_min = redis_readers_min,
};
