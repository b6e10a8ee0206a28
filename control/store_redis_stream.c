/* store_redis_stream.c: session streams in Redis (store.h, "session streams").
 *
 * Keys: runwire:stream:<id> (a Redis Stream whose entry IDs are the entries' numbers,
 * "<n>-0", fields k (kind), o (offset), d (bytes)), runwire:sbytes:<id> (the bytes of data
 * the stream holds, kept by the add script), runwire:holder:<id> (read: the session's
 * holder, which store_redis.c's put and claim scripts write), and the stream's readers on
 * other replicas: runwire:readers:<id> and runwire:readerseen:<id> (below).
 */
#include "control/store_redis_int.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] the stream, KEYS[2] its byte count, KEYS[3] the session's holder; ARGV: holder,
 * n, kind, offset, data, most entries, most bytes, ttl_s. One script, so that the fence, the
 * gap check, the append and the trim are one step whatever other replicas do:
 *   - the holder key names another replica: -2 (STORE_REDIS_STATE), nothing appended;
 *   - entry n is there already (the last number is n or more: a re-put after a lost
 *     answer): 0; the last is neither 0 (empty or expired) nor n - 1: -3 (a gap);
 *   - else XADD "<n>-0", count its data in KEYS[2], and trim the oldest entries (XDEL, the
 *     count down by each one's data) while more than the most entries or bytes are held,
 *     never the newest. Not XADD MAXLEN: it trims without saying what, so the byte count
 *     would drift. An empty stream starts its count afresh (a count left from an expired
 *     stream is dropped). */
static const char stream_add_script[] =
	"local h = redis.call('GET', KEYS[3]) "
	"if h and h ~= ARGV[1] then return -2 end "
	"local n = tonumber(ARGV[2]) local lastn = 0 "
	"local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1) "
	"if #last > 0 then lastn = tonumber(string.match(last[1][1], '^(%d+)')) end "
	"if lastn >= n then return 0 end "
	"if lastn ~= 0 and lastn ~= n - 1 then return -3 end "
	"if lastn == 0 then redis.call('DEL', KEYS[2]) end "
	"redis.call('XADD', KEYS[1], ARGV[2] .. '-0', 'k', ARGV[3], 'o', ARGV[4], 'd', ARGV[5]) "
	"local bytes = redis.call('INCRBY', KEYS[2], #ARGV[5]) "
	"local len = redis.call('XLEN', KEYS[1]) "
	"while len > 1 and (len > tonumber(ARGV[6]) or bytes > tonumber(ARGV[7])) do "
	"  local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1] "
	"  local f, dl = e[2], 0 "
	"  for i = 1, #f - 1, 2 do if f[i] == 'd' then dl = #f[i + 1] end end "
	"  redis.call('XDEL', KEYS[1], e[1]) "
	"  bytes = redis.call('DECRBY', KEYS[2], dl) len = len - 1 "
	"end "
	"if tonumber(ARGV[8]) > 0 then "
	"  redis.call('EXPIRE', KEYS[1], ARGV[8]) redis.call('EXPIRE', KEYS[2], ARGV[8]) "
	"end return 1";

void redis_stream_add(void *b, const char *id, const char *holder, uint64_t n, char kind,
		      uint64_t offset, const uint8_t *data, size_t len, int64_t ttl_s, store_cb cb,
		      void *arg)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, cb, arg);
	char ks[STORE_MAX_KEY + 64], kb[STORE_MAX_KEY + 64], kh[STORE_MAX_KEY + 64];
	char num[24], kd[2] = { kind, 0 }, off[24], mx[16], mb[16], ttl[24];

	if (!q)
		return;
	snprintf(ks, sizeof(ks), STORE_REDIS_PREFIX "stream:%s", id);
	snprintf(kb, sizeof(kb), STORE_REDIS_PREFIX "sbytes:%s", id);
	snprintf(kh, sizeof(kh), STORE_REDIS_PREFIX "holder:%s", id);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
	snprintf(off, sizeof(off), "%llu", (unsigned long long)offset);
	snprintf(mx, sizeof(mx), "%d", STORE_STREAM_MAX_ENTRIES);
	snprintf(mb, sizeof(mb), "%u", (unsigned)STORE_STREAM_MAX_BYTES);
	snprintf(ttl, sizeof(ttl), "%lld", (long long)(ttl_s > 0 ? ttl_s : 0));
	/* the bytes as an argument of their own: binary, never interpolated */
	const char *argv[] = { "EVAL", stream_add_script, "3", ks, kb, kh, holder, num, kd, off,
			       data ? (const char *)data : "", mx, mb, ttl };
	size_t argl[] = { 4, strlen(stream_add_script), 1, strlen(ks), strlen(kb), strlen(kh),
			  strlen(holder), strlen(num), 1, strlen(off), len, strlen(mx), strlen(mb),
			  strlen(ttl) };
	if (redisAsyncCommandArgv(r->c.ac, on_status_reply, q, 14, argv, argl) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}

static void on_entries_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *rep = reply;
	struct store_entry out[STORE_STREAM_BATCH];
	size_t k = 0;
	int rc = RW_OK;

	if (!rep || rep->type != REDIS_REPLY_ARRAY) {
		rc = RW_EAGAIN;
	} else {
		for (size_t i = 0; i < rep->elements && k < STORE_STREAM_BATCH; i++) {
			redisReply *e = rep->element[i], *f;
			struct store_entry *o = &out[k];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    e->element[0]->type != REDIS_REPLY_STRING ||
			    e->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			memset(o, 0, sizeof(*o));
			o->n = strtoull(e->element[0]->str, NULL, 10);
			f = e->element[1];
			for (size_t j = 0; j + 1 < f->elements; j += 2) {
				redisReply *name = f->element[j], *v = f->element[j + 1];
				if (name->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
				    name->len != 1)
					continue;
				if (name->str[0] == 'k' && v->len == 1)
					o->kind = v->str[0];
				else if (name->str[0] == 'o')
					o->offset = strtoull(v->str, NULL, 10);
				else if (name->str[0] == 'd') {
					o->data = (const uint8_t *)v->str;
					o->len = v->len;
				}
			}
			if (o->n && o->kind)
				k++;
		}
	}
	entries_req_done(q, rc, out, k);
}

void redis_stream_read(void *b, const char *id, uint64_t after, store_entries_cb cb,
			      void *arg)
{
	struct store_redis *r = b;
	struct req *q;
	char k[STORE_MAX_KEY + 64], from[48];

	if (!(q = entries_req(r, cb, arg)))
		return;
	snprintf(k, sizeof(k), STORE_REDIS_PREFIX "stream:%s", id);
	snprintf(from, sizeof(from), "(%llu-0", (unsigned long long)after);
	if (redisAsyncCommand(r->c.ac, on_entries_reply, q, "XRANGE %s %s + COUNT %d", k, from,
			      STORE_STREAM_BATCH) != REDIS_OK)
		on_entries_reply(r->c.ac, NULL, q);
}


/* ---- stream readers: runwire:readers:<id> (a sorted set: each reader scored by the offset it
 * has read to) and runwire:readerseen:<id> (the same readers scored by when they expire, by
 * Redis' clock, so that replicas' clocks never meet) ---- */

/* KEYS[1] readers, KEYS[2] seen; ARGV: reader, offset, ttl_ms. */
static const char reader_put_script[] =
	"local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
	"redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) "
	"redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1]) "
	"redis.call('PEXPIRE', KEYS[1], 60000) redis.call('PEXPIRE', KEYS[2], 60000) return 1";
/* KEYS as above. The expired go; answers the lowest offset + 1, or 0 when none is left. */
static const char readers_min_script[] =
	"local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
	"for _, r in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do "
	"  redis.call('ZREM', KEYS[1], r) redis.call('ZREM', KEYS[2], r) end "
	"local m = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
	"if #m == 0 then return 0 end return tonumber(m[2]) + 1";

static void reader_keys(const char *id, char *kr, size_t krl, char *ks, size_t ksl)
{
	snprintf(kr, krl, STORE_REDIS_PREFIX "readers:%s", id);
	snprintf(ks, ksl, STORE_REDIS_PREFIX "readerseen:%s", id);
}

void redis_reader_put(void *b, const char *id, const char *reader, uint64_t offset)
{
	struct store_redis *r = b;
	char kr[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64], off[24], ttl[16];

	if (!r->ready || !r->c.ac)
		return;
	reader_keys(id, kr, sizeof(kr), ks, sizeof(ks));
	snprintf(off, sizeof(off), "%llu", (unsigned long long)offset);
	snprintf(ttl, sizeof(ttl), "%d", STORE_READER_TTL_MS);
	const char *argv[] = { "EVAL", reader_put_script, "2", kr, ks, reader, off, ttl };
	size_t argl[] = { 4, strlen(reader_put_script), 1, strlen(kr), strlen(ks), strlen(reader),
			  strlen(off), strlen(ttl) };
	redisAsyncCommandArgv(r->c.ac, NULL, NULL, 8, argv, argl);
}

void redis_reader_drop(void *b, const char *id, const char *reader)
{
	struct store_redis *r = b;
	char kr[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64];

	if (!r->ready || !r->c.ac)
		return;
	reader_keys(id, kr, sizeof(kr), ks, sizeof(ks));
	redisAsyncCommand(r->c.ac, NULL, NULL, "ZREM %s %b", kr, reader, strlen(reader));
	redisAsyncCommand(r->c.ac, NULL, NULL, "ZREM %s %b", ks, reader, strlen(reader));
}

static void on_min_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	redisReply *rep = reply;

	if (!rep || rep->type != REDIS_REPLY_INTEGER)
		req_done(privdata, RW_EAGAIN, 0);
	else
		req_done(privdata, RW_OK, rep->integer - 1);
}

void redis_readers_min(void *b, const char *id, store_cb cb, void *arg)
{
	struct store_redis *r = b;
	struct req *q = status_req(r, cb, arg);
	char kr[STORE_MAX_KEY + 64], ks[STORE_MAX_KEY + 64];

	if (!q)
		return;
	reader_keys(id, kr, sizeof(kr), ks, sizeof(ks));
	if (redisAsyncCommand(r->c.ac, on_min_reply, q, "EVAL %s 2 %s %s", readers_min_script, kr,
			      ks) != REDIS_OK)
		req_done(q, RW_EAGAIN, 0);
}
