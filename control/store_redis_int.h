/* store_redis_int.h: what the Redis backend's files share (private to store_redis*.c):
 * the connection, requests in flight, and the helpers that answer them. store_redis.c owns
 * the command connection and the operations; store_redis_session.c the session records
 * (put, claim, get, list, orphans); store_redis_stream.c the session streams;
 * store_redis_input.c the session input and the subscription that wakes the holder. */
#ifndef RW_STORE_REDIS_INT_H
#define RW_STORE_REDIS_INT_H

#include "control/store_backend.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <libwebsockets.h>

#define STORE_REDIS_PREFIX "runwire:"

enum req_kind { REQ_INTERNAL = 0, REQ_LIMIT, REQ_ONCE, REQ_JSON, REQ_ENTRIES };

/* REQ_ENTRIES' arg: the caller's callback and argument (the request owns it). */
struct entries_req {
	store_entries_cb cb;
	void *arg;
};

/* An operation in flight: hiredis' privdata for its reply. */
struct req {
	struct req *next, *prev;
	struct store_redis *r;
	enum req_kind kind;
	int limit, count;
	store_cb cb;               /* NULL once forgotten */
	store_json_cb jcb;         /* REQ_JSON's, NULL once forgotten */
	void *arg;
};

/* One connection to Redis and the loop's handle on its socket. */
struct rconn {
	struct store_redis *r;
	redisAsyncContext *ac;     /* NULL while down */
	struct lws *wsi;           /* the loop's handle on ac's socket */
	int64_t since_ms;          /* the subscription's connect started */
};

struct store_redis {
	char host[256];            /* as given */
	char addr[64];             /* resolved at start: connects never resolve */
	int port, db;
	char *password;            /* NULL: no AUTH */
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct rconn c;            /* commands, pipelined */
	struct rconn sub;          /* SUBSCRIBEd to this replica's wake channel (input_watch) */
	void (*wake)(void *arg, const char *id);
	void *wake_arg;
	char wake_chan[STORE_MAX_KEY + 64];
	int ready;                 /* connected, AUTH and SELECT accepted, PING answered */
	int ping_out;              /* a watchdog PING awaits its answer */
	int64_t since_ms;          /* connect started, or the PING went out */
	int backoff_ms;
	int stopping;
	int logged_down;           /* "store_unavailable" said since it was last ready */
	int logged_refused;        /* "store_refused" said since it was last ready */
	struct req *reqs;          /* in flight */
	lws_sorted_usec_list_t sul_retry, sul_watch;
};

/* the adapter: hiredis' event hooks on the lws loop (privdata: a struct rconn) */
int ensure_wsi(struct rconn *c);
void ev_add_read(void *privdata);
void ev_del_read(void *privdata);
void ev_add_write(void *privdata);
void ev_del_write(void *privdata);
void ev_cleanup(void *privdata);

/* requests in flight */
struct req *req_new(struct store_redis *r, enum req_kind kind, store_cb cb, void *arg);
void req_done(struct req *q, int rc, int64_t value);
void req_done_json(struct req *q, int rc, json_t *value);
/* a status request (`cb` may be NULL), a JSON one: NULL when answered already (down) */
struct req *status_req(struct store_redis *r, store_cb cb, void *arg);
struct req *json_req(struct store_redis *r, store_json_cb cb, void *arg);
/* an entries request (its `arg` an entries_req carrying `cb`): NULL when answered already */
struct req *entries_req(struct store_redis *r, store_entries_cb cb, void *arg);
/* answers an entries request (`e` borrowed by its caller's callback) and ends it */
void entries_req_done(struct req *q, int rc, const struct store_entry *e, size_t n);
void on_status_reply(redisAsyncContext *ac, void *reply, void *privdata);
/* an array of JSON strings (nil: empty) answered as a JSON array; unreadable items skipped */
void on_array_reply(redisAsyncContext *ac, void *reply, void *privdata);
void entries_forgotten_guard(void *arg, int rc, json_t *value);

/* What scripts answer besides their result, mapped to RW_E... codes by on_status_reply:
 * -1 RW_ELIMIT (a cap), -2 RW_ESTATE (another replica holds the session), -3 RW_EPROTO (a
 * stream entry's number leaves a gap). */
#define STORE_REDIS_LIMIT (-1)
#define STORE_REDIS_STATE (-2)
#define STORE_REDIS_GAP (-3)

/* store_redis_session.c */
void redis_session_put(void *b, const char *id, const char *replica, const char *owner,
		       int64_t created_ms, const char *json, int waiting, int64_t ttl_s, store_cb cb,
		       void *arg);
void redis_session_claim(void *b, const char *id, const char *replica, int64_t ttl_s,
			 store_json_cb cb, void *arg);
void redis_session_get(void *b, const char *id, store_json_cb cb, void *arg);
void redis_session_list(void *b, const char *owner, store_json_cb cb, void *arg);
void redis_session_orphans(void *b, const char *replica, int64_t ttl_s, store_json_cb cb,
			   void *arg);

/* store_redis_stream.c */
void redis_stream_add(void *b, const char *id, const char *holder, uint64_t n, char kind,
		      uint64_t offset, const uint8_t *data, size_t len, int64_t ttl_s, store_cb cb,
		      void *arg);
void redis_stream_read(void *b, const char *id, uint64_t after, store_entries_cb cb,
		       void *arg);
void redis_reader_put(void *b, const char *id, const char *reader, uint64_t offset);
void redis_reader_drop(void *b, const char *id, const char *reader);
void redis_readers_min(void *b, const char *id, store_cb cb, void *arg);

/* store_redis_input.c */
void sub_drop(struct store_redis *r);
void sub_connect(struct store_redis *r);
void redis_input_push(void *b, const char *replica, const char *id,
		      const struct store_entry *e, size_t n, store_cb cb, void *arg);
void redis_input_pending(void *b, const char *replica, store_json_cb cb, void *arg);
void redis_input_take(void *b, const char *replica, const char *id, uint64_t after,
			     size_t max_bytes,
		      store_entries_cb cb, void *arg);
void redis_input_done(void *b, const char *replica, const char *id, uint64_t upto,
		      store_cb cb, void *arg);
void redis_input_watch(void *b, const char *replica, void (*wake)(void *arg, const char *id),
		       void *arg);

#endif
