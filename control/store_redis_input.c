/* store_redis_input.c: session input in Redis (store.h, "session input") and the
 * subscription that wakes the replica holding a session when input for it arrives.
 *
 * Keys: runwire:input:<id> (a list of entries, oldest first, each its number as 8 bytes
 * big-endian then the pusher's bytes), runwire:inseq:<id> (the number the session's last
 * entry got: INCRBY in the push), runwire:inputs:<replica> (the set of the replica's
 * sessions with input waiting), channel runwire:wake:<replica>, and runwire:holder:<id>
 * (read only: the replica the store names as the session's holder, store_session_put and
 * _claim). The push computes the holder's set and channel inside its script from the value
 * of runwire:holder:<id>, keys not passed as KEYS: fine for one Redis (standalone,
 * Memorystore), not for Redis Cluster, where a script must name every key it touches.
 *
 * Entries are removed by done, never by a take: a take's answer lost with its connection
 * leaves them to be read again, and the holder skips what it has applied by number.
 */
#include "control/store_redis_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An entry's number: its first 8 bytes, big-endian; 0 when shorter, or past the session's
 * counter (KEYS[3]): such an entry was not pushed by control (something else with access to
 * Redis wrote it), is never answered by a take and goes with the next done, rather than
 * making the holder skip every later entry. Exact up to 2^53, Lua's numbers being doubles. */
#define LUA_ENTRY_NUMBER \
	"local top = tonumber(redis.call('GET', KEYS[3]) or '0') " \
	"local function num(v) if #v < 8 then return 0 end local x = 0 " \
	"for j = 1, 8 do x = x * 256 + string.byte(v, j) end " \
	"if x > top then return 0 end return x end "

/* KEYS[1] a session's input, KEYS[2] its counter, KEYS[3] the pusher's replica's set; ARGV:
 * most held, the input's ttl, session id, the pusher's replica's wake channel, the counter's
 * ttl, the key prefix, then the entries (all or none). Numbers them after the counter, then
 * wakes the holder when the session joins its set (its input was empty): the replica
 * runwire:holder:<id> names, else the pusher's. The holder reads until it is empty again. */
static const char input_push_script[] =
	"local n = #ARGV - 6 "
	"if redis.call('LLEN', KEYS[1]) + n > tonumber(ARGV[1]) then return -1 end "
	"local seq = redis.call('INCRBY', KEYS[2], n) - n "
	"redis.call('EXPIRE', KEYS[2], ARGV[5]) "
	"local out = {} "
	"for i = 7, #ARGV do "
	"  seq = seq + 1 local v, b = seq, '' "
	"  for j = 1, 8 do b = string.char(v % 256) .. b v = math.floor(v / 256) end "
	"  out[#out + 1] = b .. ARGV[i] "
	"end "
	"redis.call('RPUSH', KEYS[1], unpack(out)) redis.call('EXPIRE', KEYS[1], ARGV[2]) "
	"local set, chan = KEYS[3], ARGV[4] "
	"local h = redis.call('GET', ARGV[6] .. 'holder:' .. ARGV[3]) "
	"if h then set = ARGV[6] .. 'inputs:' .. h chan = ARGV[6] .. 'wake:' .. h end "
	"if redis.call('SADD', set, ARGV[3]) == 1 then redis.call('PUBLISH', chan, ARGV[3]) end "
	"redis.call('EXPIRE', set, ARGV[2]) return 1";
/* KEYS[1] a session's input, KEYS[2] the replica's set, KEYS[3] the counter; ARGV: after, most bytes (of the
 * entries' data), most entries, session id. The oldest entries numbered above `after`, at
 * least one; nothing removed (an empty input leaves the set, as done does: a take finding
 * it empty is how a set forgets an input that expired). Reads in slices of 16, so that
 * entries skipped are not all copied at once. */
static const char input_take_script[] =
	LUA_ENTRY_NUMBER
	"local after, most = tonumber(ARGV[1]), tonumber(ARGV[2]) "
	"local out, used, i = {}, 0, 0 "
	"while #out < tonumber(ARGV[3]) do "
	"  local slice = redis.call('LRANGE', KEYS[1], i, i + 15) "
	"  if #slice == 0 then break end "
	"  i = i + #slice "
	"  for _, v in ipairs(slice) do "
	"    if num(v) > after then "
	"      if #out >= tonumber(ARGV[3]) or (#out > 0 and used + #v - 8 > most) then "
	"        return out "
	"      end "
	"      out[#out + 1] = v used = used + #v - 8 "
	"    end "
	"  end "
	"end "
	"if #out == 0 and redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[4]) end "
	"return out";
/* KEYS as the take's; ARGV: upto, session id. Removes the oldest entries while they are
 * numbered up to `upto`; the session leaves the set once its input is empty. */
static const char input_done_script[] =
	LUA_ENTRY_NUMBER
	"local upto, k = tonumber(ARGV[1]), 0 "
	"while true do "
	"  local slice = redis.call('LRANGE', KEYS[1], k, k + 15) "
	"  local stop = #slice < 16 "
	"  for _, v in ipairs(slice) do "
	"    if num(v) > upto then stop = true break end "
	"    k = k + 1 "
	"  end "
	"  if stop then break end "
	"end "
	"if k > 0 then redis.call('LTRIM', KEYS[1], k, -1) end "
	"if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end "
	"return 1";

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
	char kl[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64], kc[STORE_MAX_KEY + 64],
		ch[STORE_MAX_KEY + 64], mx[16], ttl[16], sttl[16];
	enum { HEAD = 12 };
	const char *argv[HEAD + STORE_INPUT_BATCH];
	size_t argl[HEAD + STORE_INPUT_BATCH];

	if (!q)
		return;
	input_keys(replica, id, kl, sizeof(kl), ks, sizeof(ks));
	snprintf(kc, sizeof(kc), STORE_REDIS_PREFIX "inseq:%s", id);
	snprintf(ch, sizeof(ch), STORE_REDIS_PREFIX "wake:%s", replica);
	snprintf(mx, sizeof(mx), "%d", STORE_INPUT_MAX_ENTRIES);
	snprintf(ttl, sizeof(ttl), "%d", STORE_INPUT_TTL_S);
	snprintf(sttl, sizeof(sttl), "%d", STORE_INPUT_SEQ_TTL_S);
	const char *head[HEAD] = { "EVAL", input_push_script, "3", kl, kc, ks, mx, ttl, id, ch,
				   sttl, STORE_REDIS_PREFIX };
	for (size_t i = 0; i < HEAD; i++) {
		argv[i] = head[i];
		argl[i] = strlen(head[i]);
	}
	/* binary entries as arguments of their own: never interpolated into a command line */
	for (size_t i = 0; i < n; i++) {
		argv[HEAD + i] = (const char *)e[i].data;
		argl[HEAD + i] = e[i].len;
	}
	if (redisAsyncCommandArgv(r->c.ac, on_status_reply, q, (int)(HEAD + n), argv, argl) !=
	    REDIS_OK)
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
	int rc = RW_OK;

	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_error("store_command_failed", "{s:s, s:s}", "command", "input_take",
				  "reason", rep->str);
		rc = RW_EAGAIN;
	} else {
		for (size_t i = 0; i < rep->elements && k < STORE_INPUT_BATCH; i++) {
			redisReply *e = rep->element[i];
			const uint8_t *p = (const uint8_t *)e->str;
			uint64_t num = 0;
			if (e->type != REDIS_REPLY_STRING || e->len < 8)
				continue;
			for (int j = 0; j < 8; j++)
				num = num << 8 | p[j];
			out[k++] = (struct store_entry){ .n = num, .data = p + 8, .len = e->len - 8 };
		}
	}
	entries_req_done(q, rc, out, k);
}

void redis_input_take(void *b, const char *replica, const char *id, uint64_t after,
			     size_t max_bytes,
			     store_entries_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q;
	char kl[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64], kc[STORE_MAX_KEY + 64], af[24], mb[24],
		mx[16];

	if (!(q = entries_req(r, cb, arg)))
		return;
	input_keys(replica, id, kl, sizeof(kl), ks, sizeof(ks));
	snprintf(kc, sizeof(kc), STORE_REDIS_PREFIX "inseq:%s", id);
	snprintf(af, sizeof(af), "%llu", (unsigned long long)after);
	snprintf(mb, sizeof(mb), "%zu", max_bytes);
	snprintf(mx, sizeof(mx), "%d", STORE_INPUT_BATCH);
	const char *argv[] = { "EVAL", input_take_script, "3", kl, ks, kc, af, mb, mx, id };
	size_t argl[] = { 4, strlen(input_take_script), 1, strlen(kl), strlen(ks), strlen(kc),
			  strlen(af), strlen(mb), strlen(mx), strlen(id) };
	if (redisAsyncCommandArgv(r->c.ac, on_take_reply, q, 10, argv, argl) != REDIS_OK)
		on_take_reply(r->c.ac, NULL, q);
}

void redis_input_done(void *b, const char *replica, const char *id, uint64_t upto,
		      store_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, cb, arg);
	char kl[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64], kc[STORE_MAX_KEY + 64], up[24];

	if (!q)
		return;
	input_keys(replica, id, kl, sizeof(kl), ks, sizeof(ks));
	snprintf(kc, sizeof(kc), STORE_REDIS_PREFIX "inseq:%s", id);
	snprintf(up, sizeof(up), "%llu", (unsigned long long)upto);
	const char *argv[] = { "EVAL", input_done_script, "3", kl, ks, kc, up, id };
	size_t argl[] = { 4, strlen(input_done_script), 1, strlen(kl), strlen(ks), strlen(kc),
			  strlen(up), strlen(id) };
	if (redisAsyncCommandArgv(r->c.ac, on_status_reply, q, 8, argv, argl) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
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

