/* store.c: picks the store backend from --store and checks what every operation is given
 * (store.h). The backends are store_memory.c and store_redis.c. */
#include "control/store_backend.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>


struct store {
	const struct store_ops *ops;
	void *b;
	int limit[STORE_N_LIMITS];
	int window_s[STORE_N_LIMITS];
};

static const char *const limit_names[STORE_N_LIMITS] = { "sessions", "tokens", "authfail" };

/* redis://HOST:PORT[/DB]: HOST a name or an address (IPv6 in brackets), PORT 1..65535, DB
 * 0..15 (Redis' default database count). */
static int parse_redis_url(const char *url, char *host, size_t hostcap, int *port, int *db,
			   char *err, size_t errlen)
{
	const char *p = url + strlen("redis://"), *colon, *end;
	long long n;
	char num[16];

	*db = 0;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end[1] != ':')
			goto bad;
		colon = end + 1;
		p++;
	} else {
		colon = strchr(p, ':');
		end = colon;
		if (!colon || memchr(p, '@', (size_t)(colon - p)))
			goto bad;
	}
	if (end == p || (size_t)(end - p) >= hostcap)
		goto bad;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	p = colon + 1;
	size_t plen = strcspn(p, "/");
	if (!plen || plen >= sizeof(num))
		goto bad;
	memcpy(num, p, plen);
	num[plen] = '\0';
	if (rw_parse_int(num, 1, 65535, &n))
		goto bad;
	*port = (int)n;
	p += plen;
	if (*p == '/' && p[1]) {
		if (rw_parse_int(p + 1, 0, 15, &n))
			goto bad;
		*db = (int)n;
	} else if (*p == '/' ? p[1] != '\0' : *p != '\0') {
		goto bad;
	}
	return RW_OK;
bad:
	snprintf(err, errlen, "--store %s: want memory or redis://HOST:PORT[/DB] (DB 0..15; the "
		 "password goes in --store-password-file, not the URL)", url);
	return RW_EINVAL;
}

struct store *store_new(const char *url, const char *password, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	char host[256];
	int port, db;

	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < STORE_N_LIMITS; i++)
		st->window_s[i] = 60;
	if (!url || !strcmp(url, "memory")) {
		if (password) {
			snprintf(err, errlen, "--store-password-file is for a Redis store (--store redis://...)");
			goto fail;
		}
		st->ops = &store_memory_ops;
		st->b = store_memory_new();
	} else if (!strncmp(url, "rediss://", 9)) {
		snprintf(err, errlen,
			 "--store %s: TLS to Redis is not supported (hiredis 0.14 has no TLS), and "
			 "runwire will not send session state in the clear to a URL that asks for "
			 "TLS. For encryption in transit, reach Redis through a TLS sidecar (for "
			 "example stunnel listening on 127.0.0.1, then --store redis://127.0.0.1:PORT), "
			 "or use a Redis on a private network only control reaches (for example "
			 "Memorystore inside the VPC, with in-transit encryption through such a "
			 "sidecar). See docs/operations.md, \"Replicas with Redis\".", url);
		goto fail;
	} else if (!strncmp(url, "redis://", 8)) {
		if (strlen(url) > STORE_URL_MAX ||
		    parse_redis_url(url, host, sizeof(host), &port, &db, err, errlen))
			goto fail;
		st->ops = &store_redis_ops;
		st->b = store_redis_new(host, port, db, password);
	} else {
		snprintf(err, errlen, "--store %s: want memory or redis://HOST:PORT[/DB]", url);
		goto fail;
	}
	if (!st->b) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return st;
fail:
	free(st);
	return NULL;
}

int store_start(struct store *st, struct lws_context *ctx, struct lws_vhost *vh)
{
	return st->ops->start ? st->ops->start(st->b, ctx, vh) : RW_OK;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	st->ops->free(st->b);
	free(st);
}

const char *store_kind(const struct store *st)
{
	return st->ops->kind;
}

int store_is_shared(const struct store *st)
{
	return st->ops->shared;
}

int store_ready(const struct store *st)
{
	return st->ops->ready(st->b);
}

int store_answers_at_once(const struct store *st)
{
	return st->ops->at_once;
}

void store_limit_set(struct store *st, enum store_limit which, int limit, int window_s)
{
	if ((unsigned)which >= STORE_N_LIMITS)
		return;
	st->limit[which] = limit > 0 ? limit : 0;
	st->window_s[which] = window_s > 0 ? window_s : 60;
}

int store_limit_of(const struct store *st, enum store_limit which)
{
	return (unsigned)which < STORE_N_LIMITS ? st->limit[which] : 0;
}

const char *store_key_bounded(const char *in, size_t max, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[crypto_hash_sha256_BYTES];

	if (!in || strlen(in) < max)
		return in;
	crypto_hash_sha256(h, (const uint8_t *)in, strlen(in));
	memcpy(out, "sha256:", 7);
	for (size_t i = 0; i < sizeof(h); i++) {
		out[7 + 2 * i] = hex[h[i] >> 4];
		out[8 + 2 * i] = hex[h[i] & 15];
	}
	out[STORE_KEY_HASHED_LEN] = '\0';
	return out;
}

void store_limit_hit(struct store *st, enum store_limit which, const char *key, int count,
		     store_cb cb, void *arg)
{
	char kb[STORE_KEY_HASHED_LEN + 1];

	key = store_key_bounded(key, STORE_MAX_KEY, kb);
	if ((unsigned)which >= STORE_N_LIMITS || !key || strlen(key) >= STORE_MAX_KEY) {
		cb(arg, RW_EINVAL, 0);
		return;
	}
	if (!st->limit[which]) {
		cb(arg, RW_OK, 0);
		return;
	}
	st->ops->limit_hit(st->b, which, limit_names[which], st->limit[which], st->window_s[which],
			   key, count ? 1 : 0, cb, arg);
}

void store_once(struct store *st, const char *id, int64_t expires_s, store_cb cb, void *arg)
{
	if (!id || !*id || strlen(id) >= STORE_MAX_KEY) {
		cb(arg, RW_EINVAL, 0);
		return;
	}
	st->ops->once(st->b, id, expires_s, cb, arg);
}

void store_forget(struct store *st, void *arg)
{
	if (st && st->ops->forget)
		st->ops->forget(st->b, arg);
}

static int key_ok(const char *k)
{
	return k && *k && strlen(k) < STORE_MAX_KEY;
}

static void answer(store_cb cb, void *arg, int rc)
{
	if (cb)
		cb(arg, rc, 0);
}

/* Whether `record` is of a session not yet given to any runner: its view's state is
 * "waiting" (what store_session_orphans looks among). */
static int record_waiting(json_t *record)
{
	json_t *state = json_object_get(json_object_get(record, "view"), "state");

	return json_is_string(state) && !strcmp(json_string_value(state), "waiting");
}

void store_session_put(struct store *st, const char *id, const char *replica, const char *owner,
		       int64_t created_ms, json_t *record, int64_t ttl_s, store_cb cb, void *arg)
{
	char ob[STORE_KEY_HASHED_LEN + 1];
	char *text;

	owner = store_key_bounded(owner, STORE_MAX_KEY, ob);
	if (!key_ok(id) || !key_ok(replica) || !key_ok(owner) || !json_is_object(record)) {
		answer(cb, arg, RW_EINVAL);
		return;
	}
	text = json_dumps(record, JSON_COMPACT);
	if (!text) {
		answer(cb, arg, RW_ENOMEM);
		return;
	}
	if (strlen(text) > STORE_MAX_RECORD)
		answer(cb, arg, RW_ETOOBIG);
	else
		st->ops->session_put(st->b, id, replica, owner, created_ms, text,
				     record_waiting(record), ttl_s, cb, arg);
	free(text);
}

void store_session_claim(struct store *st, const char *id, const char *replica, int64_t ttl_s,
			 store_json_cb cb, void *arg)
{
	if (!key_ok(id) || !key_ok(replica)) {
		cb(arg, RW_EINVAL, NULL);
		return;
	}
	st->ops->session_claim(st->b, id, replica, ttl_s, cb, arg);
}

void store_session_orphans(struct store *st, const char *replica, int64_t ttl_s,
			   store_json_cb cb, void *arg)
{
	if (!key_ok(replica)) {
		cb(arg, RW_EINVAL, NULL);
		return;
	}
	st->ops->session_orphans(st->b, replica, ttl_s > 0 ? ttl_s : 0, cb, arg);
}

void store_session_get(struct store *st, const char *id, store_json_cb cb, void *arg)
{
	if (!key_ok(id)) {
		cb(arg, RW_EINVAL, NULL);
		return;
	}
	st->ops->session_get(st->b, id, cb, arg);
}

void store_session_list(struct store *st, const char *owner, store_json_cb cb, void *arg)
{
	char ob[STORE_KEY_HASHED_LEN + 1];

	owner = store_key_bounded(owner, STORE_MAX_KEY, ob);
	if (!key_ok(owner)) {
		cb(arg, RW_EINVAL, NULL);
		return;
	}
	st->ops->session_list(st->b, owner, cb, arg);
}

void store_inbox_push(struct store *st, const char *replica, json_t *msg, store_cb cb, void *arg)
{
	char *text;

	if (!key_ok(replica) || !json_is_object(msg)) {
		answer(cb, arg, RW_EINVAL);
		return;
	}
	text = json_dumps(msg, JSON_COMPACT);
	if (!text) {
		answer(cb, arg, RW_ENOMEM);
		return;
	}
	if (strlen(text) > STORE_MAX_RECORD)
		answer(cb, arg, RW_ETOOBIG);
	else
		st->ops->inbox_push(st->b, replica, text, cb, arg);
	free(text);
}

void store_inbox_pop(struct store *st, const char *replica, store_json_cb cb, void *arg)
{
	if (!key_ok(replica)) {
		cb(arg, RW_EINVAL, NULL);
		return;
	}
	st->ops->inbox_pop(st->b, replica, cb, arg);
}

void store_replica_put(struct store *st, const char *replica, json_t *figures, int64_t ttl_ms)
{
	char *text;

	if (!key_ok(replica) || !json_is_object(figures) || ttl_ms <= 0)
		return;
	text = json_dumps(figures, JSON_COMPACT);
	if (text && strlen(text) <= STORE_MAX_RECORD)
		st->ops->replica_put(st->b, replica, text, ttl_ms);
	free(text);
}

void store_replica_all(struct store *st, store_json_cb cb, void *arg)
{
	st->ops->replica_all(st->b, cb, arg);
}

void store_stream_add(struct store *st, const char *id, const char *holder, uint64_t n,
		      char kind, uint64_t offset, const uint8_t *data, size_t len, int64_t ttl_s,
		      store_cb cb, void *arg)
{
	if (!key_ok(id) || !key_ok(holder) || !n || (kind != 'o' && kind != 'e' && kind != 'x')) {
		answer(cb, arg, RW_EINVAL);
		return;
	}
	if (len > STORE_STREAM_MAX_DATA) {
		answer(cb, arg, RW_ETOOBIG);
		return;
	}
	st->ops->stream_add(st->b, id, holder, n, kind, offset, data, len, ttl_s, cb, arg);
}

void store_stream_read(struct store *st, const char *id, uint64_t after, store_entries_cb cb,
		       void *arg)
{
	if (!key_ok(id)) {
		cb(arg, RW_EINVAL, NULL, 0);
		return;
	}
	st->ops->stream_read(st->b, id, after, cb, arg);
}

void store_input_push(struct store *st, const char *replica, const char *id,
		      const struct store_entry *e, size_t n, store_cb cb, void *arg)
{
	if (!key_ok(replica) || !key_ok(id) || !n || n > STORE_INPUT_BATCH) {
		answer(cb, arg, RW_EINVAL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!e[i].len) {
			answer(cb, arg, RW_EINVAL);
			return;
		}
		if (e[i].len > STORE_INPUT_MAX_DATA) {
			answer(cb, arg, RW_ETOOBIG);
			return;
		}
	}
	st->ops->input_push(st->b, replica, id, e, n, cb, arg);
}

void store_input_pending(struct store *st, const char *replica, store_json_cb cb, void *arg)
{
	if (!key_ok(replica)) {
		cb(arg, RW_EINVAL, NULL);
		return;
	}
	st->ops->input_pending(st->b, replica, cb, arg);
}

void store_input_take(struct store *st, const char *replica, const char *id, uint64_t after,
		      size_t max_bytes, store_entries_cb cb, void *arg)
{
	if (!key_ok(replica) || !key_ok(id)) {
		cb(arg, RW_EINVAL, NULL, 0);
		return;
	}
	st->ops->input_take(st->b, replica, id, after, max_bytes, cb, arg);
}

void store_input_done(struct store *st, const char *replica, const char *id, uint64_t upto,
		      store_cb cb, void *arg)
{
	if (!key_ok(replica) || !key_ok(id)) {
		answer(cb, arg, RW_EINVAL);
		return;
	}
	st->ops->input_done(st->b, replica, id, upto, cb, arg);
}

static int reader_ok(const char *reader)
{
	return reader && *reader && strlen(reader) < STORE_READER_MAX;
}

void store_reader_put(struct store *st, const char *id, const char *reader, uint64_t offset)
{
	if (key_ok(id) && reader_ok(reader))
		st->ops->reader_put(st->b, id, reader, offset);
}

void store_reader_drop(struct store *st, const char *id, const char *reader)
{
	if (key_ok(id) && reader_ok(reader))
		st->ops->reader_drop(st->b, id, reader);
}

void store_readers_min(struct store *st, const char *id, store_cb cb, void *arg)
{
	if (!key_ok(id)) {
		answer(cb, arg, RW_EINVAL);
		return;
	}
	st->ops->readers_min(st->b, id, cb, arg);
}

void store_input_watch(struct store *st, const char *replica,
		       void (*wake)(void *arg, const char *id), void *arg)
{
	if (key_ok(replica))
		st->ops->input_watch(st->b, replica, wake, arg);
}
