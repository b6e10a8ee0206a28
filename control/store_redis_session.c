/* store_redis_session.c: session records in Redis (store.h, "session records" and
 * "orphans"): put, claim, get, list, and the sweep for orphans.
 *
 * Keys: runwire:session:<id> (the record), runwire:holder:<id> (the replica holding it),
 * runwire:user:<owner> (the owner's ids by creation time), runwire:waiting (the ids whose
 * record says "waiting"), and runwire:replica:<replica> (read: a holder's figures, which
 * store_redis.c's replica_put writes). See the key list in store_redis.c.
 */
#include "control/store_redis_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Waiting-set members one orphans sweep looks at, at most: a few batches' worth, so that a
 * set full of live replicas' sessions still costs Redis a bounded step. */
#define STORE_REDIS_ORPHANS_LOOK (4 * STORE_ORPHANS_BATCH)

/* KEYS[1] record, KEYS[2] owner's index, KEYS[3] holder, KEYS[4] the waiting set; ARGV:
 * json, created_ms, ttl_s, id, replica, waiting (1 or 0). Another replica holds the session
 * (it claimed it): -2, nothing written. Else the replica is (still) its holder, kept as long
 * as the record, and the session is in the waiting set exactly when this record says
 * "waiting" (one step with the record, so the set never disagrees with a record put). */
static const char put_script[] =
	"local h = redis.call('GET', KEYS[3]) "
	"if h and h ~= ARGV[5] then return -2 end "
	"if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) "
	"  redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[3]) "
	"else redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[3], ARGV[5]) end "
	"if ARGV[6] == '1' then redis.call('SADD', KEYS[4], ARGV[4]) "
	"else redis.call('SREM', KEYS[4], ARGV[4]) end "
	"redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4]) return 1";
/* KEYS[1] record, KEYS[2] holder; ARGV: replica, ttl_s, figures key prefix. No record: {0}.
 * Held by another replica whose figures have not expired (it is alive): {2, holder, its
 * figures}. Else the replica becomes the holder: {1, the record}. The holder's figures key
 * is built here from its name, which only the script knows (see the key list above). */
static const char claim_script[] =
	"local rec = redis.call('GET', KEYS[1]) "
	"if not rec then return {0} end "
	"local h = redis.call('GET', KEYS[2]) "
	"if h and h ~= ARGV[1] then "
	"  local f = redis.call('GET', ARGV[3] .. h) "
	"  if f then return {2, h, f} end "
	"end "
	"if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) "
	"else redis.call('SET', KEYS[2], ARGV[1]) end "
	"return {1, rec}";
/* KEYS[1] owner's index; ARGV: most, record key prefix. Newest first; prunes the gone. */
static const char list_script[] =
	"local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1) "
	"local out = {} "
	"for _, id in ipairs(ids) do "
	"  local v = redis.call('GET', ARGV[2] .. id) "
	"  if v then out[#out + 1] = v else redis.call('ZREM', KEYS[1], id) end "
	"end return out";
/* KEYS[1] the waiting set; ARGV: replica, ttl_s, record key prefix, holder key prefix,
 * figures key prefix, most looked at, most taken. Looks at up to ARGV[6] random members
 * (SRANDMEMBER with a positive count: distinct, never more: the script's work is bounded
 * however many sessions wait). For each: no record (it expired) -> it leaves the set; held
 * by this replica, or by another whose figures have not expired (alive) -> left alone; else
 * (the holder key expired, or names a dead replica) this replica becomes the holder, as the
 * claim script does, and its record is answered. Stops once ARGV[7] are taken. Random, not
 * SSCAN: no cursor to keep between sweeps, and a set mostly of live replicas' sessions still
 * shows every orphan to some sweep soon. Records', holders' and figures' keys are built here
 * from the ids the set holds (see the key list in store_redis.c): standalone Redis or
 * Memorystore only, not a Cluster. */
static const char orphans_script[] =
	"local ids = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[6])) "
	"local out = {} "
	"for _, id in ipairs(ids) do "
	"  if #out >= tonumber(ARGV[7]) then break end "
	"  local rec = redis.call('GET', ARGV[3] .. id) "
	"  if not rec then redis.call('SREM', KEYS[1], id) else "
	"    local hk = ARGV[4] .. id "
	"    local h = redis.call('GET', hk) "
	"    if h ~= ARGV[1] and not (h and redis.call('EXISTS', ARGV[5] .. h) == 1) then "
	"      if tonumber(ARGV[2]) > 0 then redis.call('SET', hk, ARGV[1], 'EX', ARGV[2]) "
	"      else redis.call('SET', hk, ARGV[1]) end "
	"      out[#out + 1] = rec "
	"    end "
	"  end "
	"end return out";

void redis_session_put(void *b, const char *id, const char *replica, const char *owner,
		       int64_t created_ms, const char *json, int waiting, int64_t ttl_s, store_cb cb,
		       void *arg)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, cb, arg);
	char k1[STORE_MAX_KEY + 64], k2[STORE_MAX_KEY + 64], k3[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k1, sizeof(k1), STORE_REDIS_PREFIX "session:%s", id);
	snprintf(k2, sizeof(k2), STORE_REDIS_PREFIX "user:%s", owner);
	snprintf(k3, sizeof(k3), STORE_REDIS_PREFIX "holder:%s", id);
	if (redisAsyncCommand(r->c.ac, on_status_reply, q,
			      "EVAL %s 4 %s %s %s %s %s %lld %lld %s %s %d", put_script, k1, k2, k3,
			      STORE_REDIS_PREFIX "waiting", json, (long long)created_ms,
			      (long long)ttl_s, id, replica, waiting ? 1 : 0) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

/* The claim script's answer: {1, record} claimed; {2, holder, figures} held by a live
 * replica, answered {"holder", "agentUrl" when its figures name one}; {0} no record. */
static void on_claim_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply, **e;
	json_t *j = NULL;

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_error("store_command_failed", "{s:s, s:s}", "command", "claim", "reason",
				  rep->str);
		req_done_json(q, RW_EAGAIN, NULL);
		return;
	}
	e = rep->element;
	if (e[0]->integer == 1 && rep->elements == 2 && e[1]->type == REDIS_REPLY_STRING) {
		j = json_loadb(e[1]->str, e[1]->len, 0, NULL);
		req_done_json(q, j ? RW_OK : RW_EPROTO, j);
	} else if (e[0]->integer == 2 && rep->elements == 3 && e[1]->type == REDIS_REPLY_STRING &&
		   e[2]->type == REDIS_REPLY_STRING) {
		json_t *fig = json_loadb(e[2]->str, e[2]->len, 0, NULL);
		json_t *url = json_object_get(fig, "agentUrl");
		j = json_object();
		if (j)
			json_object_set_new(j, "holder", json_stringn(e[1]->str, e[1]->len));
		if (j && json_is_string(url))
			json_object_set(j, "agentUrl", url);
		json_decref(fig);
		req_done_json(q, j ? RW_ESTATE : RW_ENOMEM, j);
	} else if (e[0]->integer == 0) {
		req_done_json(q, RW_ENOTFOUND, NULL);
	} else {
		req_done_json(q, RW_EPROTO, NULL);
	}
}

void redis_session_claim(void *b, const char *id, const char *replica, int64_t ttl_s,
			 store_json_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);
	char k1[STORE_MAX_KEY + 64], k2[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k1, sizeof(k1), STORE_REDIS_PREFIX "session:%s", id);
	snprintf(k2, sizeof(k2), STORE_REDIS_PREFIX "holder:%s", id);
	if (redisAsyncCommand(r->c.ac, on_claim_reply, q, "EVAL %s 2 %s %s %s %lld %s", claim_script,
			      k1, k2, replica, (long long)(ttl_s > 0 ? ttl_s : 0),
			      STORE_REDIS_PREFIX "replica:") != REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}

/* A string reply parsed as JSON; nil is RW_ENOTFOUND. */
static void on_get_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	json_t *j;

	if (!rep || rep->type == REDIS_REPLY_ERROR) {
		req_done_json(q, RW_EAGAIN, NULL);
	} else if (rep->type == REDIS_REPLY_NIL) {
		req_done_json(q, RW_ENOTFOUND, NULL);
	} else {
		j = rep->type == REDIS_REPLY_STRING ? json_loadb(rep->str, rep->len, 0, NULL) : NULL;
		req_done_json(q, j ? RW_OK : RW_EPROTO, j);
	}
}

void redis_session_get(void *b, const char *id, store_json_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);
	char k[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "session:%s", id);
	if (redisAsyncCommand(r->c.ac, on_get_reply, q, "GET %s", k) != REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}

void redis_session_list(void *b, const char *owner, store_json_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);
	char k[STORE_MAX_KEY + 64];

	if (!q)
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "user:%s", owner);
	if (redisAsyncCommand(r->c.ac, on_array_reply, q, "EVAL %s 1 %s %d %s", list_script, k,
			      STORE_MAX_LIST, STORE_REDIS_PREFIX "session:") != REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}

void redis_session_orphans(void *b, const char *replica, int64_t ttl_s, store_json_cb cb,
			   void *arg)
{
	struct store_redis *r = b;
	struct req *q = json_req(r, cb, arg);

	if (!q)
		return;
	if (redisAsyncCommand(r->c.ac, on_array_reply, q, "EVAL %s 1 %s %s %lld %s %s %s %d %d",
			      orphans_script, STORE_REDIS_PREFIX "waiting", replica, (long long)ttl_s,
			      STORE_REDIS_PREFIX "session:", STORE_REDIS_PREFIX "holder:",
			      STORE_REDIS_PREFIX "replica:", STORE_REDIS_ORPHANS_LOOK,
			      STORE_ORPHANS_BATCH) != REDIS_OK)
		req_done_json(q, RW_EAGAIN, NULL);
}
