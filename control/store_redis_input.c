/* store_redis_input.c: session input in Redis (store.h, "session input") and the
 * subscription that wakes the replica holding a session when input for it arrives.
 *
 * Keys: runwire:input:<id> (a list, RPUSH and LPOP in scripts), runwire:inputs:<replica>
 * (the set of the replica's sessions with input waiting), channel runwire:wake:<replica>.
 */
#include "control/store_redis_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] a session's input, KEYS[2] its holder's set of sessions with input; ARGV: most
 * held, ttl, session id, the holder's wake channel, then the entries (all or none). Wakes
 * the holder when the session joins the set (its input was empty): the holder takes until
 * it is empty again. */
static const char input_push_script[] =
	"if redis.call('LLEN', KEYS[1]) + #ARGV - 4 > tonumber(ARGV[1]) then return -1 end "
	"redis.call('RPUSH', KEYS[1], unpack(ARGV, 5)) redis.call('EXPIRE', KEYS[1], ARGV[2]) "
	"if redis.call('SADD', KEYS[2], ARGV[3]) == 1 then redis.call('PUBLISH', ARGV[4], ARGV[3]) end "
	"redis.call('EXPIRE', KEYS[2], ARGV[2]) return 1";
/* KEYS as above; ARGV: most bytes, most entries, session id. Oldest first; at least one. */
static const char input_take_script[] =
	"local out = {} local used = 0 "
	"while #out < tonumber(ARGV[2]) do "
	"  local v = redis.call('LINDEX', KEYS[1], 0) "
	"  if not v then break end "
	"  if #out > 0 and used + #v > tonumber(ARGV[1]) then break end "
	"  redis.call('LPOP', KEYS[1]) out[#out + 1] = v used = used + #v "
	"end "
	"if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[3]) end "
	"return out";
/* ---- the subscription: wakes for input (store_input_watch) ----
 * A connection of its own (a subscribed connection takes no other commands), opened once
 * the command connection is ready and again by the watchdog whenever it is gone. A wake
 * missed meanwhile is not lost: the subscription's confirmation wakes with id NULL and the
 * holder reads the whole set, as it also does every FLEET_TICK_MS. */

void sub_drop(struct store_redis *r)
{
	if (r->sub.ac) {
		redisAsyncContext *ac = r->sub.ac;
		r->sub.ac = NULL;
		redisAsyncFree(ac);
	}
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
	struct store_redis *r = ac->data;

	if (r->sub.ac == ac)
		r->sub.ac = NULL;
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
	struct store_redis *r = ac->data;

	if (status != REDIS_OK && r->sub.ac == ac)
		r->sub.ac = NULL;   /* hiredis frees it; the watchdog tries again */
}

static void on_sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_redis *r = ac->data;
	redisReply *rep = reply, **e;
	char id[STORE_MAX_KEY];

	if (!rep || r->sub.ac != ac || !r->wake)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		log_warn("store_subscribe_failed", "{s:s}", "reason", rep->str);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
		return;
	e = rep->element;
	if (e[0]->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(e[0]->str, "subscribe")) {
		r->wake(r->wake_arg, NULL);   /* (again) listening: what was missed is in the set */
	} else if (!strcmp(e[0]->str, "message") && e[2]->type == REDIS_REPLY_STRING &&
		   e[2]->len && e[2]->len < sizeof(id)) {
		memcpy(id, e[2]->str, e[2]->len);
		id[e[2]->len] = 0;
		r->wake(r->wake_arg, id);
	}
}

void sub_connect(struct store_redis *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->addr, r->port);

	if (!ac || ac->err) {
		if (ac)
			redisAsyncFree(ac);
		return;   /* the watchdog tries again */
	}
	r->sub.ac = ac;
	ac->data = r;
	ac->ev.data = &r->sub;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	redisAsyncSetConnectCallback(ac, on_sub_connect);
	redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
	if (r->password)
		redisAsyncCommand(ac, NULL, NULL, "AUTH %b", r->password, strlen(r->password));
	/* channels are not per database: the replica's random id keeps them apart */
	redisAsyncCommand(ac, on_sub_message, NULL, "SUBSCRIBE %b", r->wake_chan,
			  strlen(r->wake_chan));
	ensure_wsi(&r->sub);
}

/* ---- session input ---- */

static void input_keys(const char *replica, const char *id, char *kl, size_t kll, char *ks,
		       size_t ksl)
{
	snprintf(kl, kll, STORE_REDIS_PREFIX "input:%s", id);
	snprintf(ks, ksl, STORE_REDIS_PREFIX "inputs:%s", replica);
}

void redis_input_push(void *b, const char *replica, const char *id,
			     const struct store_entry *e, size_t n, store_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, cb, arg);
	char kl[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64], ch[STORE_MAX_KEY + 64], mx[16], ttl[16];
	const char *argv[9 + STORE_INPUT_BATCH];
	size_t argl[9 + STORE_INPUT_BATCH];

	if (!q)
		return;
	input_keys(replica, id, kl, sizeof(kl), ks, sizeof(ks));
	snprintf(ch, sizeof(ch), STORE_REDIS_PREFIX "wake:%s", replica);
	snprintf(mx, sizeof(mx), "%d", STORE_INPUT_MAX_ENTRIES);
	snprintf(ttl, sizeof(ttl), "%d", STORE_INPUT_TTL_S);
	const char *head[] = { "EVAL", input_push_script, "2", kl, ks, mx, ttl, id, ch };
	for (size_t i = 0; i < 9; i++) {
		argv[i] = head[i];
		argl[i] = strlen(head[i]);
	}
	/* binary entries as arguments of their own: never interpolated into a command line */
	for (size_t i = 0; i < n; i++) {
		argv[9 + i] = (const char *)e[i].data;
		argl[9 + i] = e[i].len;
	}
	if (redisAsyncCommandArgv(r->c.ac, on_status_reply, q, (int)(9 + n), argv, argl) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

/* An array of strings as a JSON array of strings. */
static void on_ids_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	json_t *out;

	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		req_done_json(q, RW_EAGAIN, NULL);
		return;
	}
	out = json_array();
	for (size_t i = 0; i < rep->elements; i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING)
			json_array_append_new(out, json_stringn(rep->element[i]->str,
								rep->element[i]->len));
	req_done_json(q, RW_OK, out);
}

void redis_input_pending(void *b, const char *replica, store_json_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);
	char k[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "inputs:%s", replica);
	if (redisAsyncCommand(r->c.ac, on_ids_reply, q, "SMEMBERS %b", k, strlen(k)) != REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}

static void on_take_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	struct store_entry out[STORE_INPUT_BATCH];
	size_t k = 0;
	store_entries_cb cb = ((struct entries_req *)q->arg)->cb;
	void *arg = ((struct entries_req *)q->arg)->arg;
	int forgotten = !q->jcb;
	int rc = RW_OK;

	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_error("store_command_failed", "{s:s, s:s}", "command", "input_take",
				  "reason", rep->str);
		rc = RW_EAGAIN;
	} else {
		for (size_t i = 0; i < rep->elements && k < STORE_INPUT_BATCH; i++) {
			redisReply *e = rep->element[i];
			if (e->type != REDIS_REPLY_STRING)
				continue;
			out[k] = (struct store_entry){ .n = k + 1, .data = (const uint8_t *)e->str,
						       .len = e->len };
			k++;
		}
	}
	free(q->arg);
	q->arg = NULL;
	q->jcb = NULL;
	req_done(q, rc, 0);
	if (!forgotten)
		cb(arg, rc, out, k);
}

void redis_input_take(void *b, const char *replica, const char *id, uint64_t after,
			     size_t max_bytes,
			     store_entries_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct entries_req *er;
	struct req *q;
	char kl[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64], mb[24], mx[16];

	if (!r->ready || !r->c.ac) {
		cb(arg, RW_EAGAIN, NULL, 0);
		return;
	}
	er = malloc(sizeof(*er));
	q = er ? req_new(r, REQ_ENTRIES, NULL, er) : NULL;
	if (!q) {
		free(er);
		cb(arg, RW_ENOMEM, NULL, 0);
		return;
	}
	er->cb = cb;
	er->arg = arg;
	q->jcb = entries_forgotten_guard;
	input_keys(replica, id, kl, sizeof(kl), ks, sizeof(ks));
	snprintf(mb, sizeof(mb), "%zu", max_bytes);
	snprintf(mx, sizeof(mx), "%d", STORE_INPUT_BATCH);
	const char *argv[] = { "EVAL", input_take_script, "2", kl, ks, mb, mx, id };
	size_t argl[] = { 4, strlen(input_take_script), 1, strlen(kl), strlen(ks), strlen(mb),
			  strlen(mx), strlen(id) };
	if (redisAsyncCommandArgv(r->c.ac, on_take_reply, q, 8, argv, argl) != REDIS_OK)
		on_take_reply(r->c.ac, NULL, q);
}

void redis_input_watch(void *b, const char *replica,
			      void (*wake)(void *arg, const char *id), void *arg)
{
	struct store_redis *r = b;

	r->wake = wake;
	r->wake_arg = arg;
	snprintf(r->wake_chan, sizeof(r->wake_chan), STORE_REDIS_PREFIX "wake:%s", replica);
	sub_drop(r);   /* a new channel: the watchdog subscribes to it */
}

