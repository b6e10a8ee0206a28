/* store_backend.h: what a store backend provides (private to store*.c). store.c parses the
 * URL, keeps the limits' sizes and checks arguments; a backend only does the operation. */
#ifndef RW_STORE_BACKEND_H
#define RW_STORE_BACKEND_H

#include "control/store.h"

struct store_ops {
	const char *kind;
	int shared;                 /* other processes see the same state */
	int at_once;                /* every answer comes inside the call */
	int (*start)(void *b, struct lws_context *ctx, struct lws_vhost *vh);
	void (*free)(void *b);
	int (*ready)(const void *b);
	/* `limit` > 0 here; `name` names the limit ("sessions", ...) for shared keys */
	void (*limit_hit)(void *b, enum store_limit which, const char *name, int limit,
			  int window_s, const char *key, int count, store_cb cb, void *arg);
	void (*once)(void *b, const char *id, int64_t expires_s, store_cb cb, void *arg);
	void (*forget)(void *b, void *arg);
	/* `json` is the record's or message's text; `cb` may be NULL; `waiting`: the record's
	 * view.state is "waiting" (store.c reads it), so the session is in the waiting set */
	void (*session_put)(void *b, const char *id, const char *replica, const char *owner,
			    int64_t created_ms, const char *json, int waiting, int64_t ttl_s,
			    store_cb cb, void *arg);
	void (*session_claim)(void *b, const char *id, const char *replica, int64_t ttl_s,
			      store_json_cb cb, void *arg);
	void (*session_get)(void *b, const char *id, store_json_cb cb, void *arg);
	void (*session_orphans)(void *b, const char *replica, int64_t ttl_s, store_json_cb cb,
				void *arg);
	void (*session_list)(void *b, const char *owner, store_json_cb cb, void *arg);
	void (*inbox_push)(void *b, const char *replica, const char *json, store_cb cb, void *arg);
	void (*inbox_pop)(void *b, const char *replica, store_json_cb cb, void *arg);
	void (*replica_put)(void *b, const char *replica, const char *json, int64_t ttl_ms);
	void (*replica_all)(void *b, store_json_cb cb, void *arg);
	void (*stream_add)(void *b, const char *id, const char *holder, uint64_t n, char kind,
			   uint64_t offset,
			   const uint8_t *data, size_t len, int64_t ttl_s, store_cb cb, void *arg);
	void (*stream_read)(void *b, const char *id, uint64_t after, store_entries_cb cb,
			    void *arg);
	void (*input_push)(void *b, const char *replica, const char *id,
			   const struct store_entry *e, size_t n, store_cb cb, void *arg);
	void (*input_pending)(void *b, const char *replica, store_json_cb cb, void *arg);
	void (*input_take)(void *b, const char *replica, const char *id, uint64_t after,
			   size_t max_bytes, store_entries_cb cb, void *arg);
	void (*input_done)(void *b, const char *replica, const char *id, uint64_t upto,
			   store_cb cb, void *arg);
	void (*reader_put)(void *b, const char *id, const char *reader, uint64_t offset);
	void (*reader_drop)(void *b, const char *id, const char *reader);
	void (*readers_min)(void *b, const char *id, store_cb cb, void *arg);
	/* `replica` is copied; `wake` is called from the loop */
	void (*input_watch)(void *b, const char *replica, void (*wake)(void *arg, const char *id),
			    void *arg);
};

extern const struct store_ops store_memory_ops;
extern const struct store_ops store_redis_ops;

void *store_memory_new(void);
/* Takes a copy of `host` and `password`. NULL on ENOMEM. */
void *store_redis_new(const char *host, int port, int db, const char *password);

#endif
