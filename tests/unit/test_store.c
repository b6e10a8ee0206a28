/* test_store.c: one suite for the store (control/store.h), run against both backends: the
 * memory backend, then a real redis-server this test starts on a free loopback port and
 * stops by pid. Each operation's answer is awaited on a libwebsockets loop, as control does.
 * Then what only a shared store can show: two stores on one Redis see one another's
 * one-time ids and rate-limit hits; Redis stopped -> not ready, operations answer RW_EAGAIN;
 * restarted -> ready again. And the URL parser's refusals (rediss://, junk). */
#include "control/store.h"
#include "common/log.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libwebsockets.h>

static struct lws_context *ctx;
static struct lws_vhost *vh;

struct answer {
	int done, rc;
	int64_t value;
};

static void on_answer(void *arg, int rc, int64_t value)
{
	struct answer *a = arg;

	a->done = 1;
	a->rc = rc;
	a->value = value;
}

/* Serves the loop until `a` is answered (or 5 s pass: then RW_ETIMEDOUT). */
static int wait_answer(struct answer *a)
{
	int64_t deadline = rw_now_ms() + 5000;

	while (!a->done && rw_now_ms() < deadline)
		lws_service(ctx, 0);
	return a->done ? a->rc : RW_ETIMEDOUT;
}

static int once(struct store *st, const char *id, int64_t exp)
{
	struct answer a = { 0 };

	store_once(st, id, exp, on_answer, &a);
	return wait_answer(&a);
}

static int hit(struct store *st, enum store_limit w, const char *key, int count, int *retry)
{
	struct answer a = { 0 };
	int rc;

	store_limit_hit(st, w, key, count, on_answer, &a);
	rc = wait_answer(&a);
	if (retry)
		*retry = (int)a.value;
	return rc;
}

struct janswer {
	int done, rc;
	json_t *value;
};

static void on_janswer(void *arg, int rc, json_t *value)
{
	struct janswer *a = arg;

	a->done = 1;
	a->rc = rc;
	a->value = value;
}

static int wait_janswer(struct janswer *a)
{
	int64_t deadline = rw_now_ms() + 5000;

	while (!a->done && rw_now_ms() < deadline)
		lws_service(ctx, 0);
	return a->done ? a->rc : RW_ETIMEDOUT;
}

static int put(struct store *st, const char *id, const char *owner, int64_t created, int n,
	       int64_t ttl_s)
{
	struct answer a = { 0 };
	json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:i}}", "owner", owner, "replica", "r1",
				"view", "sessionId", id, "n", n);

	store_session_put(st, id, "r1", owner, created, rec, ttl_s, on_answer, &a);
	json_decref(rec);
	return wait_answer(&a);
}

/* The record of `id` (new reference) or NULL. */
static json_t *get(struct store *st, const char *id, int *rc)
{
	struct janswer a = { 0 };

	store_session_get(st, id, on_janswer, &a);
	*rc = wait_janswer(&a);
	return a.value;
}

static json_t *list(struct store *st, const char *owner, int *rc)
{
	struct janswer a = { 0 };

	store_session_list(st, owner, on_janswer, &a);
	*rc = wait_janswer(&a);
	return a.value;
}

static int push(struct store *st, const char *replica, const char *what)
{
	struct answer a = { 0 };
	json_t *m = json_pack("{s:s}", "cancel", what);

	store_inbox_push(st, replica, m, on_answer, &a);
	json_decref(m);
	return wait_answer(&a);
}

static json_t *pop(struct store *st, const char *replica, int *rc)
{
	struct janswer a = { 0 };

	store_inbox_pop(st, replica, on_janswer, &a);
	*rc = wait_janswer(&a);
	return a.value;
}

struct eanswer {
	int done, rc;
	size_t n;
	uint64_t num[STORE_STREAM_BATCH], off[STORE_STREAM_BATCH];
	size_t len[STORE_STREAM_BATCH];
	char kind[STORE_STREAM_BATCH];
	uint8_t data[4096];
	size_t data_len;
};

static void on_entries(void *arg, int rc, const struct store_entry *e, size_t n)
{
	struct eanswer *a = arg;

	a->done = 1;
	a->rc = rc;
	a->n = n;
	for (size_t i = 0; i < n; i++) {
		a->num[i] = e[i].n;
		a->off[i] = e[i].offset;
		a->kind[i] = e[i].kind;
		a->len[i] = e[i].len;
		if (a->data_len + e[i].len <= sizeof(a->data)) {
			memcpy(a->data + a->data_len, e[i].data, e[i].len);
			a->data_len += e[i].len;
		}
	}
}

static int sadd_as(struct store *st, const char *holder, const char *id, uint64_t n, char kind,
		   uint64_t off, const void *d, size_t len)
{
	struct answer a = { 0 };

	store_stream_add(st, id, holder, n, kind, off, d, len, 60, on_answer, &a);
	return wait_answer(&a);
}

static int sadd(struct store *st, const char *id, uint64_t n, char kind, uint64_t off,
		const void *d, size_t len)
{
	return sadd_as(st, "r1", id, n, kind, off, d, len);
}

static int sread(struct store *st, const char *id, uint64_t after, struct eanswer *a)
{
	int64_t deadline = rw_now_ms() + 5000;

	memset(a, 0, sizeof(*a));
	store_stream_read(st, id, after, on_entries, a);
	while (!a->done && rw_now_ms() < deadline)
		lws_service(ctx, 0);
	return a->done ? a->rc : RW_ETIMEDOUT;
}

/* What a whole stream holds: read batch after batch. */
struct stream_sum {
	size_t count, bytes;
	uint64_t first, last;
};

static int sall(struct store *st, const char *id, struct stream_sum *sum)
{
	struct eanswer a;
	int rc;

	memset(sum, 0, sizeof(*sum));
	while ((rc = sread(st, id, sum->last, &a)) == RW_OK && a.n) {
		if (!sum->count)
			sum->first = a.num[0];
		for (size_t i = 0; i < a.n; i++)
			sum->bytes += a.len[i];
		sum->count += a.n;
		sum->last = a.num[a.n - 1];
	}
	return rc;
}

static int64_t readers_min(struct store *st, const char *id)
{
	struct answer a = { 0 };

	store_readers_min(st, id, on_answer, &a);
	return wait_answer(&a) ? -2 : a.value;
}

/* Stream readers: the lowest offset among a session's live readers; a reader put again
 * moves, one dropped or expired (STORE_READER_TTL_MS) no longer counts, other sessions'
 * readers never do, and a name of STORE_READER_MAX bytes is one too long. */
static void suite_readers(struct store *st, const char *tag)
{
	char id[64], id2[64], big[STORE_READER_MAX + 1];

	snprintf(id, sizeof(id), "%s-readers", tag);
	snprintf(id2, sizeof(id2), "%s-readers2", tag);
	CHECK(readers_min(st, id) == -1);                    /* none */
	store_reader_put(st, id, "r1", 100);
	store_reader_put(st, id, "r2", 50);
	store_reader_put(st, id2, "r9", 5);                  /* another session's */
	CHECK(readers_min(st, id) == 50);
	store_reader_drop(st, id, "r2");
	CHECK(readers_min(st, id) == 100);
	store_reader_put(st, id, "r1", 200);                 /* moves, not a second reader */
	CHECK(readers_min(st, id) == 200);
	memset(big, 'x', STORE_READER_MAX);
	big[STORE_READER_MAX] = 0;
	store_reader_put(st, id, big, 1);                    /* one byte too long: not kept */
	big[STORE_READER_MAX - 1] = 0;
	store_reader_put(st, id, big, 150);                  /* at the edge: kept */
	CHECK(readers_min(st, id) == 150);
	store_reader_drop(st, id, big);
	/* (a put goes out with the next answer asked for: each readers_min serves the loop) */
	store_reader_put(st, id, "r3", 10);
	CHECK(readers_min(st, id) == 10);                    /* r3 lives until t + TTL */
	usleep(STORE_READER_TTL_MS * 600);
	store_reader_put(st, id, "r1", 300);                 /* r1 put again at t + 0.6 TTL */
	CHECK(readers_min(st, id) == 10);
	usleep(STORE_READER_TTL_MS * 600);
	CHECK(readers_min(st, id) == 300);                   /* t + 1.2 TTL: r3 expired */
	usleep(STORE_READER_TTL_MS * 1000);
	CHECK(readers_min(st, id) == -1);                    /* t + 2.2 TTL: r1 too */
	CHECK(readers_min(st, id2) == -1);
}

/* Session streams: in order, binary-safe, gap-free and idempotent, the newest kept. */
static void suite_streams(struct store *st, const char *tag)
{
	char id[64];
	uint8_t bin[256];
	struct eanswer a;

	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)i;
	snprintf(id, sizeof(id), "%s-stream", tag);
	CHECK(sread(st, id, 0, &a) == RW_OK && a.n == 0);       /* nothing yet */
	CHECK(sadd(st, id, 1, 'o', 0, "hello", 5) == RW_OK);
	CHECK(sadd(st, id, 2, 'e', 5, "{\"ev\":1}", 8) == RW_OK);
	CHECK(sadd(st, id, 3, 'o', 5, bin, sizeof(bin)) == RW_OK);
	CHECK(sadd(st, id, 4, 'x', 261, "X", 1) == RW_OK);
	CHECK(sadd(st, id, 4, 'o', 261, "again", 5) == RW_OK);    /* already there: a re-put */
	CHECK(sadd(st, id, 2, 'o', 261, "again", 5) == RW_OK);    /* older: already there too */
	CHECK(sadd(st, id, 6, 'o', 261, "gap", 3) == RW_EPROTO);  /* 5 is missing: a gap */
	CHECK(sadd(st, id, 5, 'q', 261, "", 0) == RW_EINVAL);      /* no such kind */
	CHECK(sread(st, id, 0, &a) == RW_OK && a.n == 4);         /* nothing doubled, no gap */
	CHECK(a.num[0] == 1 && a.num[3] == 4 && a.kind[0] == 'o' && a.kind[1] == 'e' &&
	      a.kind[3] == 'x' && a.off[2] == 5 && a.off[3] == 261);
	CHECK(a.data_len == 5 + 8 + 256 + 1 && !memcmp(a.data, "hello", 5) &&
	      !memcmp(a.data + 13, bin, sizeof(bin)));                 /* NULs and all */
	CHECK(sread(st, id, 2, &a) == RW_OK && a.n == 2 && a.num[0] == 3);
	CHECK(sread(st, id, 4, &a) == RW_OK && a.n == 0);
	CHECK(sread(st, "no-such-stream", 0, &a) == RW_OK && a.n == 0);
	/* the newest STORE_STREAM_MAX_ENTRIES kept: one past, the oldest goes */
	snprintf(id, sizeof(id), "%s-trim", tag);
	{
		struct stream_sum sum;
		int ok = 1;
		for (uint64_t n = 1; n <= STORE_STREAM_MAX_ENTRIES + 1; n++)
			ok &= sadd(st, id, n, 'o', n - 1, "x", 1) == RW_OK;
		CHECK(ok);
		CHECK(sall(st, id, &sum) == RW_OK && sum.count == STORE_STREAM_MAX_ENTRIES &&
		      sum.first == 2 && sum.last == STORE_STREAM_MAX_ENTRIES + 1);
		/* trimmed from the front, the numbers run on: a re-put is there, a gap is not */
		CHECK(sadd(st, id, 1, 'o', 0, "x", 1) == RW_OK);
		CHECK(sadd(st, id, STORE_STREAM_MAX_ENTRIES + 3, 'o', 0, "x", 1) == RW_EPROTO);
		CHECK(sall(st, id, &sum) == RW_OK && sum.count == STORE_STREAM_MAX_ENTRIES &&
		      sum.first == 2 && sum.last == STORE_STREAM_MAX_ENTRIES + 1);
	}
	/* one past the entry size */
	{
		uint8_t *big = calloc(1, STORE_STREAM_MAX_DATA + 1);
		CHECK(sadd(st, id, STORE_STREAM_MAX_ENTRIES + 2, 'o', 0, big,
			   STORE_STREAM_MAX_DATA + 1) == RW_ETOOBIG);
		CHECK(sadd(st, id, STORE_STREAM_MAX_ENTRIES + 2, 'o', 0, big, STORE_STREAM_MAX_DATA) ==
		      RW_OK);
		free(big);
	}
	/* an empty stream takes any number to start from */
	snprintf(id, sizeof(id), "%s-late", tag);
	CHECK(sadd(st, id, 7, 'o', 0, "x", 1) == RW_OK);
	CHECK(sread(st, id, 0, &a) == RW_OK && a.n == 1 && a.num[0] == 7);
	/* the newest within STORE_STREAM_MAX_BYTES of data kept: one byte past, the oldest goes;
	 * and the count of bytes stays right across trims (exactly at the cap again: nothing
	 * goes; one byte past it: one more goes) */
	{
		const size_t big = STORE_STREAM_MAX_DATA, per = STORE_STREAM_MAX_BYTES / big;
		uint8_t *d = malloc(big);
		struct stream_sum sum;
		uint64_t n = 0;
		int ok = 1;
		snprintf(id, sizeof(id), "%s-bytes", tag);
		for (size_t i = 0; i < per; i++) {
			memset(d, (int)(i + 1), big);
			ok &= sadd(st, id, ++n, 'o', 0, d, big) == RW_OK;
		}
		CHECK(ok);
		CHECK(sall(st, id, &sum) == RW_OK && sum.count == per && sum.first == 1 &&
		      sum.bytes == STORE_STREAM_MAX_BYTES);                    /* at the cap: all */
		CHECK(sadd(st, id, ++n, 'o', 0, "y", 1) == RW_OK);              /* one byte past */
		CHECK(sall(st, id, &sum) == RW_OK && sum.count == per && sum.first == 2 &&
		      sum.bytes == (per - 1) * big + 1);
		CHECK(sadd(st, id, ++n, 'o', 0, d, big - 1) == RW_OK);         /* at the cap again */
		CHECK(sall(st, id, &sum) == RW_OK && sum.count == per + 1 && sum.first == 2 &&
		      sum.bytes == STORE_STREAM_MAX_BYTES);
		CHECK(sadd(st, id, ++n, 'o', 0, "z", 1) == RW_OK);              /* one byte past */
		CHECK(sall(st, id, &sum) == RW_OK && sum.count == per + 1 && sum.first == 3 &&
		      sum.bytes == (per - 2) * big + 1 + (big - 1) + 1);
		free(d);
	}
	/* a forgotten read does not call back */
	{
		struct eanswer x, y;
		memset(&x, 0, sizeof(x));
		store_stream_read(st, id, 0, on_entries, &x);
		if (!x.done) {
			store_forget(st, &x);
			CHECK(sread(st, id, 0, &y) == RW_OK);
			CHECK(!x.done);
		}
	}
}

static int put_as(struct store *st, const char *id, const char *replica, int n)
{
	struct answer a = { 0 };
	json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:i}}", "owner", "fo-owner", "replica", replica,
				"view", "sessionId", id, "n", n);

	store_session_put(st, id, replica, "fo-owner", 1000, rec, 0, on_answer, &a);
	json_decref(rec);
	return wait_answer(&a);
}

static int view_n(struct store *st, const char *id)
{
	int rc, n;
	json_t *j = get(st, id, &rc);

	n = rc == RW_OK ? (int)json_integer_value(json_object_get(json_object_get(j, "view"), "n")) : -1;
	json_decref(j);
	return n;
}

static int str_is(json_t *j, const char *want)
{
	return json_is_string(j) && !strcmp(json_string_value(j), want);
}

static int claim(struct store *st, const char *id, const char *replica, json_t **value)
{
	struct janswer a = { 0 };
	int rc;

	store_session_claim(st, id, replica, 60, on_janswer, &a);
	rc = wait_janswer(&a);
	*value = a.value;
	return rc;
}

/* A session's holder and its failover: a put names the holder and is refused to any other
 * replica; a claim takes a session whose holder's figures expired (its replica died), and is
 * refused while they live, saying who holds it and where its agents go; once claimed, the
 * old holder's puts and stream adds are refused and the new holder's go in. */
static void suite_failover(struct store *st, const char *tag)
{
	char id[64], r1[64], r2[64], r3[64], none[64];
	struct eanswer a;
	json_t *v;

	snprintf(id, sizeof(id), "%s-fo", tag);
	snprintf(none, sizeof(none), "%s-fo-none", tag);
	snprintf(r1, sizeof(r1), "%s-fo-r1", tag);
	snprintf(r2, sizeof(r2), "%s-fo-r2", tag);
	snprintf(r3, sizeof(r3), "%s-fo-r3", tag);
	/* the put fence */
	CHECK(put_as(st, id, r1, 1) == RW_OK);
	CHECK(put_as(st, id, r2, 2) == RW_ESTATE);            /* r1 holds it */
	CHECK(view_n(st, id) == 1);                            /* unchanged */
	CHECK(put_as(st, id, r1, 3) == RW_OK);                 /* its holder puts on */
	CHECK(view_n(st, id) == 3);
	/* no record: nothing to claim */
	CHECK(claim(st, none, r2, &v) == RW_ENOTFOUND && !v);
	/* its holder alive: refused, with who holds it and where its agents go */
	{
		json_t *f = json_pack("{s:i, s:s}", "waiting", 0, "agentUrl", "ws://10.0.0.1:8080/agent");
		store_replica_put(st, r1, f, 300);
		json_decref(f);
	}
	CHECK(claim(st, id, r2, &v) == RW_ESTATE && v &&
	      str_is(json_object_get(v, "holder"), r1) &&
	      str_is(json_object_get(v, "agentUrl"), "ws://10.0.0.1:8080/agent"));
	json_decref(v);
	CHECK(claim(st, id, r1, &v) == RW_OK && v);            /* its own holder may claim it */
	json_decref(v);
	/* its figures expired (the replica died): r2 takes it, with the record */
	usleep(400 * 1000);
	CHECK(claim(st, id, r2, &v) == RW_OK && v &&
	      json_integer_value(json_object_get(json_object_get(v, "view"), "n")) == 3);
	json_decref(v);
	/* r2 alive without an agentUrl: refused with the holder only */
	{
		json_t *f = json_pack("{s:i}", "waiting", 0);
		store_replica_put(st, r2, f, 5000);
		json_decref(f);
	}
	CHECK(claim(st, id, r3, &v) == RW_ESTATE && v &&
	      str_is(json_object_get(v, "holder"), r2) &&
	      !json_object_get(v, "agentUrl"));
	json_decref(v);
	/* the old holder is fenced off; the new one puts */
	CHECK(put_as(st, id, r1, 4) == RW_ESTATE);
	CHECK(view_n(st, id) == 3);
	CHECK(put_as(st, id, r2, 5) == RW_OK);
	CHECK(view_n(st, id) == 5);
	CHECK(sadd_as(st, r1, id, 1, 'o', 0, "a", 1) == RW_ESTATE);
	CHECK(sread(st, id, 0, &a) == RW_OK && a.n == 0);      /* nothing appended */
	CHECK(sadd_as(st, r2, id, 1, 'o', 0, "a", 1) == RW_OK);
	CHECK(sadd_as(st, r2, id, 2, 'o', 1, "b", 1) == RW_OK);
	CHECK(sadd_as(st, r1, id, 3, 'o', 2, "c", 1) == RW_ESTATE);
	CHECK(sadd_as(st, r2, id, 2, 'o', 1, "b", 1) == RW_OK);   /* a re-put: already there */
	CHECK(sadd_as(st, r2, id, 4, 'o', 3, "d", 1) == RW_EPROTO); /* 3 missing: a gap */
	CHECK(sread(st, id, 0, &a) == RW_OK && a.n == 2 && a.num[0] == 1 && a.num[1] == 2 &&
	      a.data_len == 2 && !memcmp(a.data, "ab", 2));  /* once each, nothing after the gap */
	CHECK(sadd_as(st, r2, id, 3, 'o', 2, "c", 1) == RW_OK);
	CHECK(sread(st, id, 2, &a) == RW_OK && a.n == 1 && a.num[0] == 3 && a.data[0] == 'c');
}

/* A record of `id` put by `replica` whose view's state is `state`, kept `ttl_s` (0: ever). */
static int put_state(struct store *st, const char *id, const char *replica, const char *state,
		     int64_t ttl_s)
{
	struct answer a = { 0 };
	json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:s}}", "owner", "or-owner", "replica", replica,
				"view", "sessionId", id, "state", state);

	store_session_put(st, id, replica, "or-owner", 1000, rec, ttl_s, on_answer, &a);
	json_decref(rec);
	return wait_answer(&a);
}

/* One orphans sweep by `replica`: its records (new reference) or NULL, `*rc` its answer. */
static json_t *orphans(struct store *st, const char *replica, int *rc)
{
	struct janswer a = { 0 };

	store_session_orphans(st, replica, 60, on_janswer, &a);
	*rc = wait_janswer(&a);
	return a.value;
}

/* Whether a sweep's answer holds `id`'s record. */
static int has_id(json_t *arr, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (str_is(json_object_get(json_object_get(v, "view"), "sessionId"), id))
			return 1;
	return 0;
}

static void figures(struct store *st, const char *replica, int64_t ttl_ms)
{
	json_t *f = json_pack("{s:i}", "waiting", 0);

	store_replica_put(st, replica, f, ttl_ms);
	json_decref(f);
}

static long long rraw(int port, const char *fmt, ...);

/* Orphans: waiting sessions whose replica died are claimed by the sweep of a live one, at
 * most STORE_ORPHANS_BATCH at a time, once; running ones never; expired ones leave the
 * waiting set. `port`: the test's redis-server (0: the memory backend), to look at the set
 * itself. Wants no other waiting record in the store. */
static void suite_orphans(struct store *st, const char *tag, int port)
{
	char w[64], run[64], gone[64], r1[64], r2[64], r3[64], r4[64], id[64];
	json_t *j;
	int rc, ok;

	snprintf(w, sizeof(w), "%s-or-w", tag);
	snprintf(run, sizeof(run), "%s-or-run", tag);
	snprintf(gone, sizeof(gone), "%s-or-exp", tag);
	snprintf(r1, sizeof(r1), "%s-or-r1", tag);
	snprintf(r2, sizeof(r2), "%s-or-r2", tag);
	snprintf(r3, sizeof(r3), "%s-or-r3", tag);
	snprintf(r4, sizeof(r4), "%s-or-r4", tag);
	j = orphans(st, "", &rc);
	CHECK(rc == RW_EINVAL && !j);
	/* r1 alive: its waiting session is nobody's orphan, nor its own */
	figures(st, r1, 400);
	CHECK(put_state(st, w, r1, "waiting", 0) == RW_OK);
	CHECK(put_state(st, run, r1, "waiting", 0) == RW_OK);
	CHECK(put_state(st, run, r1, "running", 0) == RW_OK);     /* given to a runner since */
	j = orphans(st, r2, &rc);
	CHECK(rc == RW_OK && json_is_array(j) && json_array_size(j) == 0);
	json_decref(j);
	j = orphans(st, r1, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	/* r1 dies (its figures expire): r2's sweep takes the waiting one, not the running one */
	usleep(500 * 1000);
	j = orphans(st, r2, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 1 && has_id(j, w) && !has_id(j, run));
	CHECK(str_is(json_object_get(json_object_get(json_array_get(j, 0), "view"), "state"),
		     "waiting"));
	json_decref(j);
	CHECK(put_state(st, w, r1, "waiting", 0) == RW_ESTATE);  /* r2 holds it now */
	CHECK(put_state(st, w, r2, "waiting", 0) == RW_OK);
	/* once: r2 alive, r3's sweep finds nothing, and nor does r2's own */
	figures(st, r2, 8000);
	j = orphans(st, r3, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	j = orphans(st, r2, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	/* a waiting record that expires (its replica dead too) leaves the set at the next sweep */
	CHECK(put_state(st, gone, r1, "waiting", 1) == RW_OK);
	if (port)
		CHECK(rraw(port, "SISMEMBER runwire:waiting %s", gone) == 1);
	usleep(2100 * 1000);
	j = orphans(st, r3, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	if (port) {
		CHECK(rraw(port, "SISMEMBER runwire:waiting %s", gone) == 0);
		CHECK(rraw(port, "SISMEMBER runwire:waiting %s", w) == 1);
		CHECK(rraw(port, "SISMEMBER runwire:waiting %s", run) == 0);
	}
	/* one past the batch: r4 never had figures (dead from the start) */
	ok = 1;
	for (int i = 0; i < STORE_ORPHANS_BATCH + 1; i++) {
		snprintf(id, sizeof(id), "%s-or-b%d", tag, i);
		ok &= put_state(st, id, r4, "waiting", 0) == RW_OK;
	}
	CHECK(ok);
	j = orphans(st, r3, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == STORE_ORPHANS_BATCH && !has_id(j, w));
	json_decref(j);
	j = orphans(st, r3, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 1 && !has_id(j, w));
	json_decref(j);
	j = orphans(st, r3, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	/* every one now r3's: r4's puts are refused */
	ok = 1;
	for (int i = 0; i < STORE_ORPHANS_BATCH + 1; i++) {
		snprintf(id, sizeof(id), "%s-or-b%d", tag, i);
		ok &= put_state(st, id, r4, "running", 0) == RW_ESTATE;
	}
	CHECK(ok);
}

static int ipush(struct store *st, const char *rep, const char *id, const void *d, size_t len,
		 size_t n)
{
	struct answer a = { 0 };
	struct store_entry e[STORE_INPUT_BATCH + 1];

	for (size_t i = 0; i < n; i++)
		e[i] = (struct store_entry){ .data = d, .len = len };
	store_input_push(st, rep, id, e, n, on_answer, &a);
	return wait_answer(&a);
}

static int itake(struct store *st, const char *rep, const char *id, uint64_t after, size_t max,
		 struct eanswer *a)
{
	int64_t deadline = rw_now_ms() + 5000;

	memset(a, 0, sizeof(*a));
	store_input_take(st, rep, id, after, max, on_entries, a);
	while (!a->done && rw_now_ms() < deadline)
		lws_service(ctx, 0);
	return a->done ? a->rc : RW_ETIMEDOUT;
}

static int idone(struct store *st, const char *rep, const char *id, uint64_t upto)
{
	struct answer a = { 0 };

	store_input_done(st, rep, id, upto, on_answer, &a);
	return wait_answer(&a);
}

/* How many of `rep`'s sessions have input waiting (store_input_pending), and whether `id`
 * is among them. */
static size_t ipending(struct store *st, const char *rep, const char *id, int *has)
{
	struct janswer j = { 0 };
	size_t n = 0, i;
	json_t *v;

	*has = 0;
	store_input_pending(st, rep, on_janswer, &j);
	if (wait_janswer(&j) != RW_OK)
		return (size_t)-1;
	n = json_array_size(j.value);
	json_array_foreach(j.value, i, v)
		*has |= json_string_value(v) && !strcmp(json_string_value(v), id);
	json_decref(j.value);
	return n;
}

/* One command on the test's redis-server, outside the store (what another replica or an
 * operator does): its reply's integer, or -1 on an error or no connection. */
static long long rraw(int port, const char *fmt, ...)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	redisReply *r = NULL;
	long long v = -1;
	va_list ap;

	if (c && !c->err) {
		va_start(ap, fmt);
		r = redisvCommand(c, fmt, ap);
		va_end(ap);
	}
	if (r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r && r->type == REDIS_REPLY_STATUS)
		v = 0;
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return v;
}

_Static_assert(STORE_INPUT_BATCH <= STORE_STREAM_BATCH, "struct eanswer holds a take");

static int woken;
static char woken_id[64];

static void on_wake(void *arg, const char *id)
{
	woken++;
	snprintf(woken_id, sizeof(woken_id), "%s", id ? id : "");
}

/* Watches `rep`'s wakes; Redis: until the subscription is up (woken with NULL). */
static void watch(struct store *st, const char *rep)
{
	int64_t deadline = rw_now_ms() + 3000;

	woken = 0;
	store_input_watch(st, rep, on_wake, NULL);
	while (!woken && store_is_shared(st) && rw_now_ms() < deadline)
		lws_service(ctx, 10);
	woken = 0;
}

static void wait_woken(void)
{
	int64_t deadline = rw_now_ms() + 3000;

	while (!woken && rw_now_ms() < deadline)
		lws_service(ctx, 10);
}

/* Session input: FIFO per session, each entry numbered from 1 per session, binary-safe; a
 * take reads and removes nothing (taken twice: the same entries, the same numbers), skips
 * what is numbered up to `after`, is bounded by bytes; done removes, and the holder's set
 * forgets the session once its input is empty; all or none at the cap (one past it), which
 * counts entries not yet done; the holder woken when a session's input becomes non-empty,
 * and (Redis, `port`) the holder the store names rather than the pusher's guess. */
static void suite_input(struct store *st, const char *tag, int port)
{
	char id[64], id2[64], rep[64];
	uint8_t bin[256];
	struct eanswer a, b;
	int64_t deadline;
	int ok = 1, has;
	uint64_t base = 7;   /* the last number given out before the cap's part */

	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)i;
	snprintf(id, sizeof(id), "%s-in", tag);
	snprintf(id2, sizeof(id2), "%s-in2", tag);
	snprintf(rep, sizeof(rep), "%s-holder", tag);
	watch(st, rep);
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == 0);   /* nothing yet */
	CHECK(ipush(st, rep, id, "a", 1, 1) == RW_OK);
	wait_woken();
	if (woken != 1 || strcmp(woken_id, id))
		fprintf(stderr, "%s: woken %d id \"%s\"\n", tag, woken, woken_id);
	CHECK(woken == 1 && !strcmp(woken_id, id));                     /* the holder is woken */
	CHECK(ipush(st, rep, id, bin, sizeof(bin), 1) == RW_OK);
	CHECK(ipush(st, rep, id, "bc", 2, 2) == RW_OK);                 /* a batch */
	CHECK(ipush(st, rep, id2, "z", 1, 1) == RW_OK);
	CHECK(ipending(st, rep, id, &has) == 2 && has);
	CHECK(itake(st, rep, id, 0, 1, &a) == RW_OK && a.n == 1 && a.data_len == 1 &&
	      a.data[0] == 'a' && a.num[0] == 1 && a.len[0] == 1);       /* at least one */
	/* read, not removed: taken twice, the same entries with the same numbers */
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == 4 && a.data_len == 1 + 256 + 4 &&
	      a.data[0] == 'a' && !memcmp(a.data + 1, bin, 256) && !memcmp(a.data + 257, "bcbc", 4));
	CHECK(a.num[0] == 1 && a.num[1] == 2 && a.num[2] == 3 && a.num[3] == 4 && a.len[1] == 256 &&
	      a.len[2] == 2);
	CHECK(itake(st, rep, id, 0, 1 << 20, &b) == RW_OK && b.n == a.n &&
	      !memcmp(b.num, a.num, sizeof(a.num)) && b.data_len == a.data_len &&
	      !memcmp(b.data, a.data, a.data_len));
	/* after k: what is numbered up to k is skipped (still at least one, whatever its size) */
	CHECK(itake(st, rep, id, 2, 1 << 20, &a) == RW_OK && a.n == 2 && a.num[0] == 3 &&
	      a.num[1] == 4 && a.data_len == 4 && !memcmp(a.data, "bcbc", 4));
	CHECK(itake(st, rep, id, 1, 1, &a) == RW_OK && a.n == 1 && a.num[0] == 2 && a.len[0] == 256);
	CHECK(itake(st, rep, id, 4, 1 << 20, &a) == RW_OK && a.n == 0);
	/* done(k) removes what is numbered up to k; the set keeps the session while any waits */
	CHECK(idone(st, rep, id, 2) == RW_OK);
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == 2 && a.num[0] == 3);
	CHECK(ipending(st, rep, id, &has) == 2 && has);
	CHECK(idone(st, rep, id, 2) == RW_OK);                           /* again: nothing more */
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == 2 && a.num[0] == 3);
	CHECK(idone(st, rep, id, 4) == RW_OK);
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == 0);
	CHECK(ipending(st, rep, id, &has) == 1 && !has);                 /* empty: forgotten */
	/* each session numbers its own from 1 */
	CHECK(itake(st, rep, id2, 0, 1 << 20, &a) == RW_OK && a.n == 1 && a.data[0] == 'z' &&
	      a.num[0] == 1);
	CHECK(idone(st, rep, id2, 1) == RW_OK);
	CHECK(ipending(st, rep, id, &has) == 0);
	/* numbering goes on across pushes, and after the input was emptied */
	woken = 0;
	CHECK(ipush(st, rep, id, "q", 1, 1) == RW_OK);
	wait_woken();
	CHECK(woken == 1 && !strcmp(woken_id, id));                     /* non-empty again */
	CHECK(ipush(st, rep, id, "rs", 2, 2) == RW_OK);
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == 3 && a.num[0] == 5 &&
	      a.num[2] == 7 && !memcmp(a.data, "qrsrs", 5));
	CHECK(idone(st, rep, id, 7) == RW_OK);
	if (port) {
		/* the counter is kept STORE_INPUT_SEQ_TTL_S after the last push */
		long long ttl = rraw(port, "TTL runwire:inseq:%s", id);
		CHECK(ttl > STORE_INPUT_SEQ_TTL_S - 60 && ttl <= STORE_INPUT_SEQ_TTL_S);
	}
	/* an answer lost on the way (forgotten here) loses nothing: the next take reads it */
	if (!store_answers_at_once(st)) {
		struct eanswer x;
		CHECK(ipush(st, rep, id, "t", 1, 1) == RW_OK);
		memset(&x, 0, sizeof(x));
		store_input_take(st, rep, id, 7, 1 << 20, on_entries, &x);
		store_forget(st, &x);
		CHECK(itake(st, rep, id, 7, 1 << 20, &a) == RW_OK && !x.done && a.n == 1 &&
		      a.num[0] == 8 && a.data[0] == 't');
		CHECK(idone(st, rep, id, 8) == RW_OK);
		base = 8;
	}
	/* the cap: STORE_INPUT_MAX_ENTRIES not yet done, one more refused, a batch past it
	 * refused whole; a take makes no room, done does */
	for (int i = 0; i < STORE_INPUT_MAX_ENTRIES - 1; i++)
		ok &= ipush(st, rep, id, "k", 1, 1) == RW_OK;
	CHECK(ok);
	CHECK(ipush(st, rep, id, "k", 1, 2) == RW_ELIMIT);              /* all or none */
	CHECK(ipush(st, rep, id, "k", 1, 1) == RW_OK);
	CHECK(ipush(st, rep, id, "k", 1, 1) == RW_ELIMIT);              /* one past */
	CHECK(itake(st, rep, id, 0, 1 << 20, &a) == RW_OK && a.n == STORE_INPUT_BATCH);
	CHECK(ipush(st, rep, id, "k", 1, 1) == RW_ELIMIT);              /* taken, not done */
	CHECK(idone(st, rep, id, a.num[0]) == RW_OK);
	CHECK(ipush(st, rep, id, "k", 1, 1) == RW_OK);                  /* done: room for one */
	CHECK(ipush(st, rep, id, "k", 1, 1) == RW_ELIMIT);
	size_t total = 0;
	uint64_t after = a.num[0], first = 0, last = 0;
	while (itake(st, rep, id, after, 1 << 20, &a) == RW_OK && a.n) {
		for (size_t i = 0; i < a.n; i++)
			ok &= a.num[i] == after + 1 + i;                 /* gap-free, in order */
		first = first ? first : a.num[0];
		total += a.n;
		after = last = a.num[a.n - 1];
		CHECK(idone(st, rep, id, after) == RW_OK);
	}
	CHECK(ok);
	CHECK(total == STORE_INPUT_MAX_ENTRIES);                         /* nothing of the refused */
	CHECK(first == base + 2 && last == base + STORE_INPUT_MAX_ENTRIES + 1); /* refused: no number */
	CHECK(ipending(st, rep, id, &has) == 0);
	/* one past an entry's size, and the batch size */
	{
		uint8_t *big = calloc(1, STORE_INPUT_MAX_DATA + 1);
		CHECK(ipush(st, rep, id, big, STORE_INPUT_MAX_DATA + 1, 1) == RW_ETOOBIG);
		CHECK(ipush(st, rep, id, big, STORE_INPUT_MAX_DATA, 1) == RW_OK);
		CHECK(itake(st, rep, id, last, 1, &a) == RW_OK && a.n == 1 &&
		      a.len[0] == STORE_INPUT_MAX_DATA && a.num[0] == last + 1);
		CHECK(idone(st, rep, id, a.num[0]) == RW_OK);
		last = a.num[0];
		free(big);
	}
	CHECK(ipush(st, rep, id, "k", 1, STORE_INPUT_BATCH + 1) == RW_EINVAL);
	CHECK(ipush(st, rep, id, "k", 1, STORE_INPUT_BATCH) == RW_OK);
	CHECK(ipush(st, rep, id, "k", 1, 1) == RW_OK);
	CHECK(itake(st, rep, id, last, 1 << 20, &a) == RW_OK && a.n == STORE_INPUT_BATCH &&
	      a.num[0] == last + 1);                                     /* at most a batch */
	CHECK(idone(st, rep, id, last + STORE_INPUT_BATCH + 1) == RW_OK);
	CHECK(ipending(st, rep, id, &has) == 0);

	/* Redis: entries written by something else with access to it (not numbered by the
	 * counter, or too short to carry a number) are never answered, and go with a done:
	 * they cannot make the holder skip later input, nor stay */
	if (port) {
		CHECK(rraw(port, "RPUSH runwire:input:%s %b %b", id, "\x03\x07mallory!", (size_t)10,
			    "xy", (size_t)2) == 2);
		CHECK(ipush(st, rep, id, "ok", 2, 1) == RW_OK);
		CHECK(itake(st, rep, id, last + STORE_INPUT_BATCH + 1, 1 << 20, &a) == RW_OK &&
		      a.n == 1 && a.num[0] == last + STORE_INPUT_BATCH + 2 && a.len[0] == 2 &&
		      !memcmp(a.data, "ok", 2));
		CHECK(idone(st, rep, id, a.num[0]) == RW_OK);
		CHECK(rraw(port, "LLEN runwire:input:%s", id) == 0);
		CHECK(ipending(st, rep, id, &has) == 0);
	}

	/* Redis: the store names the session's holder (runwire:holder:<id>, as a claim sets
	 * it): the push wakes that replica, not the one the pusher guessed */
	if (port) {
		char rep2[64], id3[64];
		snprintf(rep2, sizeof(rep2), "%s-holder2", tag);
		snprintf(id3, sizeof(id3), "%s-in3", tag);
		CHECK(rraw(port, "SET runwire:holder:%s %s", id3, rep2) == 0);
		watch(st, rep2);
		CHECK(ipush(st, rep, id3, "h", 1, 1) == RW_OK);
		wait_woken();
		CHECK(woken == 1 && !strcmp(woken_id, id3));             /* rep2 is woken */
		CHECK(ipending(st, rep2, id3, &has) == 1 && has);         /* and has it in its set */
		CHECK(ipending(st, rep, id3, &has) == 0 && !has);         /* the guess does not */
		CHECK(itake(st, rep2, id3, 0, 1 << 20, &a) == RW_OK && a.n == 1 && a.num[0] == 1);
		CHECK(idone(st, rep2, id3, 1) == RW_OK);
		CHECK(ipending(st, rep2, id3, &has) == 0);
		/* no holder named: the pusher's replica, as before */
		CHECK(rraw(port, "DEL runwire:holder:%s", id3) == 1);
		woken = 0;
		CHECK(ipush(st, rep, id3, "i", 1, 1) == RW_OK);
		CHECK(ipending(st, rep, id3, &has) == 1 && has);
		CHECK(ipending(st, rep2, id3, &has) == 0);
		deadline = rw_now_ms() + 500;
		while (rw_now_ms() < deadline)
			lws_service(ctx, 10);
		CHECK(woken == 0);                                        /* rep2 is not woken */
		CHECK(idone(st, rep, id3, 2) == RW_OK);
	}
	(void)deadline;
}

/* The caps on lists, inboxes and replicas, one past each, on both backends (built small). */
static void suite_caps(struct store *st, const char *tag)
{
	char id[64], owner[64], rep[64];
	json_t *j;
	int rc, ok = 1;

	snprintf(owner, sizeof(owner), "%s-many", tag);
	for (int i = 0; i < STORE_MAX_LIST + 1; i++) {
		snprintf(id, sizeof(id), "%s-many-%d", tag, i);
		ok &= put(st, id, owner, 1000 + i, i, 0) == RW_OK;
	}
	CHECK(ok);
	j = list(st, owner, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == STORE_MAX_LIST);     /* one past: left off */
	CHECK(json_integer_value(json_object_get(json_object_get(json_array_get(j, 0), "view"), "n")) ==
	      STORE_MAX_LIST);                                           /* the newest kept */
	json_decref(j);

	snprintf(rep, sizeof(rep), "%s-full-inbox", tag);
	ok = 1;
	for (int i = 0; i < STORE_MAX_INBOX; i++)
		ok &= push(st, rep, "x") == RW_OK;
	CHECK(ok);
	CHECK(push(st, rep, "one-past") == RW_ELIMIT);
	json_decref(pop(st, rep, &rc));
	CHECK(push(st, rep, "room-again") == RW_OK);                     /* a pop made room */
	while ((j = pop(st, rep, &rc)) && json_array_size(j)) json_decref(j);
	json_decref(j);

	{
		json_t *f = json_pack("{s:i}", "waiting", 1);
		struct janswer a = { 0 };
		for (int i = 0; i < STORE_MAX_REPLICAS + 1; i++) {
			snprintf(rep, sizeof(rep), "%s-cap-rep-%d", tag, i);
			store_replica_put(st, rep, f, 2000);
		}
		json_decref(f);
		store_replica_all(st, on_janswer, &a);
		CHECK(wait_janswer(&a) == RW_OK && json_object_size(a.value) == STORE_MAX_REPLICAS);
		json_decref(a.value);
	}
}

/* Session records and inboxes, on both backends. */
static void suite_records(struct store *st, const char *tag)
{
	char id1[64], id2[64], id3[64], owner[64], other[64], rep[64];
	json_t *j;
	int rc;

	snprintf(id1, sizeof(id1), "%s-s1", tag);
	snprintf(id2, sizeof(id2), "%s-s2", tag);
	snprintf(id3, sizeof(id3), "%s-s3", tag);
	snprintf(owner, sizeof(owner), "%s-alice", tag);
	snprintf(other, sizeof(other), "%s-bob", tag);
	CHECK(put(st, id1, owner, 1000, 1, 0) == RW_OK);
	CHECK(put(st, id2, owner, 3000, 2, 0) == RW_OK);
	CHECK(put(st, id3, other, 2000, 3, 0) == RW_OK);
	j = get(st, id1, &rc);
	CHECK(rc == RW_OK && json_integer_value(json_object_get(json_object_get(j, "view"), "n")) == 1);
	json_decref(j);
	CHECK(put(st, id1, owner, 1000, 11, 0) == RW_OK);    /* a put replaces */
	j = get(st, id1, &rc);
	CHECK(rc == RW_OK && json_integer_value(json_object_get(json_object_get(j, "view"), "n")) == 11);
	json_decref(j);
	j = get(st, "no-such-session", &rc);
	CHECK(rc == RW_ENOTFOUND && !j);
	j = list(st, owner, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 2);     /* the owner's only */
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(json_array_get(j, 0), "view"),
							"sessionId")), id2));   /* newest first */
	json_decref(j);
	j = list(st, "nobody", &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	/* an owner past STORE_MAX_KEY is listed like any other (through its hash) */
	{
		char long_owner[520], lid[64];
		memset(long_owner, 'o', sizeof(long_owner) - 1);
		long_owner[sizeof(long_owner) - 1] = '\0';
		memcpy(long_owner, tag, strlen(tag));
		snprintf(lid, sizeof(lid), "%s-long-owner", tag);
		CHECK(put(st, lid, long_owner, 5000, 5, 0) == RW_OK);
		j = list(st, long_owner, &rc);
		CHECK(rc == RW_OK && json_array_size(j) == 1);
		json_decref(j);
	}
	/* a record with a ttl goes, and leaves its owner's list */
	CHECK(put(st, id3, other, 2000, 3, 1) == RW_OK);
	usleep(2100 * 1000);
	j = get(st, id3, &rc);
	CHECK(rc == RW_ENOTFOUND);
	json_decref(j);
	j = list(st, other, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	/* one past the record cap */
	{
		size_t n = STORE_MAX_RECORD;
		char *big = malloc(n + 1);
		struct answer a = { 0 };
		memset(big, 'x', n);
		big[n] = '\0';
		json_t *rec = json_pack("{s:s}", "pad", big);
		store_session_put(st, id1, "r1", owner, 1000, rec, 0, on_answer, &a);
		CHECK(wait_answer(&a) == RW_ETOOBIG);
		json_decref(rec);
		free(big);
	}
	/* inboxes: oldest first, in batches, each replica its own */
	snprintf(rep, sizeof(rep), "%s-replica-a", tag);
	for (int i = 0; i < STORE_INBOX_BATCH + 1; i++) {
		char what[16];
		snprintf(what, sizeof(what), "m%d", i);
		CHECK(push(st, rep, what) == RW_OK);
	}
	j = pop(st, "some-other-replica", &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);
	j = pop(st, rep, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == STORE_INBOX_BATCH);
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(j, 0), "cancel")), "m0"));
	json_decref(j);
	j = pop(st, rep, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 1 &&
	      !strcmp(json_string_value(json_object_get(json_array_get(j, 0), "cancel")), "m100"));
	json_decref(j);
	j = pop(st, rep, &rc);
	CHECK(rc == RW_OK && json_array_size(j) == 0);
	json_decref(j);

	/* replicas' figures: each kept for its ttl by the store's clock */
	{
		char r1[64], r2[64];
		json_t *f = json_pack("{s:i}", "waiting", 4);
		struct janswer a = { 0 };
		snprintf(r1, sizeof(r1), "%s-rep-1", tag);
		snprintf(r2, sizeof(r2), "%s-rep-2", tag);
		store_replica_put(st, r1, f, 300);
		store_replica_put(st, r2, f, 5000);
		json_decref(f);
		store_replica_all(st, on_janswer, &a);
		CHECK(wait_janswer(&a) == RW_OK && json_integer_value(json_object_get(
			json_object_get(a.value, r1), "waiting")) == 4 && json_object_get(a.value, r2));
		json_decref(a.value);
		usleep(400 * 1000);
		memset(&a, 0, sizeof(a));
		store_replica_all(st, on_janswer, &a);
		CHECK(wait_janswer(&a) == RW_OK && !json_object_get(a.value, r1) &&
		      json_object_get(a.value, r2));
		json_decref(a.value);
	}
}

static int wait_ready(struct store *st, int want, int ms)
{
	int64_t deadline = rw_now_ms() + ms;

	while (!!store_ready(st) != want && rw_now_ms() < deadline)
		lws_service(ctx, 0);
	return !!store_ready(st) == want;
}

/* The suite both backends pass. `tag` keeps keys apart between runs on one Redis. */
static void suite(struct store *st, const char *tag)
{
	char id[64], key[64];
	int64_t later = rw_now_ms() / 1000 + 600;
	int retry = -1;

	CHECK(wait_ready(st, 1, 5000));
	/* one-time ids */
	snprintf(id, sizeof(id), "%s-jti-1", tag);
	CHECK(once(st, id, later) == RW_OK);
	CHECK(once(st, id, later) == RW_EAUTH);           /* used stays used */
	snprintf(id, sizeof(id), "%s-jti-2", tag);
	CHECK(once(st, id, later) == RW_OK);
	snprintf(id, sizeof(id), "%s-expired", tag);
	CHECK(once(st, id, rw_now_ms() / 1000 - 1) == RW_EAUTH);   /* expired: never good */
	CHECK(once(st, "", later) == RW_EINVAL);
	char big[STORE_MAX_KEY + 1];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(once(st, big, later) == RW_EINVAL);          /* one past the key cap */
	big[sizeof(big) - 2] = '\0';
	CHECK(once(st, big, later) == RW_OK);              /* at the cap */
	CHECK(once(st, big, later) == RW_EAUTH);

	/* rate limits: 3 per 2 s window per key */
	store_limit_set(st, STORE_LIMIT_SESSIONS, 3, 2);
	CHECK(store_limit_of(st, STORE_LIMIT_SESSIONS) == 3);
	snprintf(key, sizeof(key), "%s-user-a", tag);
	CHECK(hit(st, STORE_LIMIT_SESSIONS, key, 0, NULL) == RW_OK);   /* a look counts nothing */
	for (int i = 0; i < 3; i++)
		CHECK(hit(st, STORE_LIMIT_SESSIONS, key, 1, NULL) == RW_OK);
	CHECK(hit(st, STORE_LIMIT_SESSIONS, key, 1, &retry) == RW_ELIMIT); /* one past */
	CHECK(retry >= 1 && retry <= 2);
	CHECK(hit(st, STORE_LIMIT_SESSIONS, key, 0, NULL) == RW_ELIMIT);
	CHECK(hit(st, STORE_LIMIT_TOKENS, key, 1, NULL) == RW_OK);       /* unlimited: 0 */
	snprintf(key, sizeof(key), "%s-user-b", tag);
	CHECK(hit(st, STORE_LIMIT_SESSIONS, key, 1, NULL) == RW_OK);     /* keys apart */
	usleep(2100 * 1000);
	snprintf(key, sizeof(key), "%s-user-a", tag);
	CHECK(hit(st, STORE_LIMIT_SESSIONS, key, 1, NULL) == RW_OK);     /* a new window */
	/* a user id past STORE_MAX_KEY (a Firebase uid may be 512 bytes of UTF-8) is counted
	 * through its hash: limited like any other, apart from one that shares its first bytes */
	{
		char long_a[520], long_b[520];
		memset(long_a, 'a', sizeof(long_a) - 1);
		long_a[sizeof(long_a) - 1] = '\0';
		memcpy(long_a, tag, strlen(tag));
		memcpy(long_b, long_a, sizeof(long_b));
		long_b[sizeof(long_b) - 2] = 'b';
		for (int i = 0; i < 3; i++)
			CHECK(hit(st, STORE_LIMIT_SESSIONS, long_a, 1, NULL) == RW_OK);
		CHECK(hit(st, STORE_LIMIT_SESSIONS, long_a, 1, NULL) == RW_ELIMIT);
		CHECK(hit(st, STORE_LIMIT_SESSIONS, long_b, 1, NULL) == RW_OK);
	}
	store_limit_set(st, STORE_LIMIT_SESSIONS, 0, 60);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &l))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t start_redis(int port, const char *password)
{
	char p[16];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", 1);
		dup2(devnull, 1);
		if (password)
			execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
			       "--save", "", "--appendonly", "no", "--daemonize", "no", "--requirepass",
			       password, (char *)NULL);
		else
			execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
			       "--save", "", "--appendonly", "no", "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_redis(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static struct store *redis_store(int port, int db, const char *password)
{
	char url[64], err[1024];
	struct store *st;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/%d", port, db);
	st = store_new(url, password, err, sizeof(err));
	CHECK(st != NULL);
	if (st)
		CHECK(store_start(st, ctx, vh) == RW_OK);
	return st;
}

int main(void)
{
	static const struct lws_protocols protos[] = {
		{ "rw-store", NULL, 0, 0, 0, NULL, 0 },   /* filled below */
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct lws_protocols plist[2];
	struct lws_context_creation_info info;
	struct store *st, *a, *b;
	char err[1024];
	int64_t later = rw_now_ms() / 1000 + 600;

	log_init("test_store", LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN);
	memcpy(plist, protos, sizeof(plist));
	plist[0] = store_protocol;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = plist;
	info.vhost_name = "test";
	lws_set_log_level(LLL_ERR, NULL);
	ctx = lws_create_context(&info);
	vh = ctx ? lws_get_vhost_by_name(ctx, "test") : NULL;
	CHECK(vh != NULL);
	if (!vh)
		return check_done("test_store");
#ifdef TEST_STORE_STREAM_CAPS
	/* test_store_caps: the stream suite only, with the caps control is built with (4096
	 * entries, 16 MiB), one past each, on both backends */
	{
		int cport = free_port();
		pid_t cpid = start_redis(cport, NULL);
		st = store_new("memory", NULL, err, sizeof(err));
		suite_streams(st, "mem");
		store_free(st);
		st = redis_store(cport, 0, NULL);
		CHECK(wait_ready(st, 1, 5000));
		suite_streams(st, "redis");
		store_free(st);
		stop_redis(cpid);
		lws_context_destroy(ctx);
		return check_done("test_store_caps");
	}
#endif

	/* the URL: refusals say why */
	st = store_new("rediss://127.0.0.1:6380", NULL, err, sizeof(err));
	CHECK(!st && strstr(err, "TLS") && strstr(err, "stunnel") && strstr(err, "Memorystore"));
	st = store_new("redis://user:pw@127.0.0.1:6379", NULL, err, sizeof(err));
	CHECK(!st && strstr(err, "--store-password-file"));
	CHECK(!store_new("redis://127.0.0.1", NULL, err, sizeof(err)));
	CHECK(!store_new("redis://127.0.0.1:0", NULL, err, sizeof(err)));
	CHECK(!store_new("redis://127.0.0.1:65536", NULL, err, sizeof(err)));
	CHECK(!store_new("redis://127.0.0.1:6379/16", NULL, err, sizeof(err)));   /* one past */
	st = store_new("redis://127.0.0.1:6379/15", NULL, err, sizeof(err));
	CHECK(st && store_is_shared(st) && !strcmp(store_kind(st), "redis"));
	store_free(st);
	st = store_new("redis://[::1]:6379", NULL, err, sizeof(err));
	CHECK(st != NULL);
	store_free(st);
	CHECK(!store_new("memcached://x:1", NULL, err, sizeof(err)));
	CHECK(!store_new("memory", "pw", err, sizeof(err)));

	/* memory */
	st = store_new(NULL, NULL, err, sizeof(err));
	CHECK(st && !store_is_shared(st) && store_answers_at_once(st));
	suite(st, "mem");
	suite_records(st, "mem");
	suite_failover(st, "mem");   /* before suite_caps fills the replicas' figures */
	{
		/* its own store: STORE_MAX_SESSIONS and STORE_MAX_REPLICAS are small here */
		struct store *m = store_new("memory", NULL, err, sizeof(err));
		suite_orphans(m, "mem", 0);
		store_free(m);
	}
	suite_caps(st, "mem");
	suite_streams(st, "mem");
	suite_readers(st, "mem");
	suite_input(st, "mem", 0);
	/* the memory backend's cap on records, one past it */
	{
		struct store *m = store_new("memory", NULL, err, sizeof(err));
		char id[32];
		int ok = 1;
		for (int i = 0; i < STORE_MAX_SESSIONS; i++) {
			snprintf(id, sizeof(id), "cap-s-%d", i);
			ok &= put(m, id, "o", i, i, 0) == RW_OK;
		}
		CHECK(ok);
		CHECK(put(m, "one-past", "o", 1, 1, 0) == RW_ELIMIT);
		CHECK(put(m, "cap-s-0", "o", 1, 1, 0) == RW_OK);   /* replacing is not growing */
		store_free(m);
	}
	/* a URL one past STORE_URL_MAX */
	{
		char url[STORE_URL_MAX + 2];
		memset(url, 'x', sizeof(url) - 1);
		url[sizeof(url) - 1] = '\0';
		memcpy(url, "redis://", 8);
		CHECK(!store_new(url, NULL, err, sizeof(err)));
	}
	/* the memory backend's cap, one past it (built with STORE_MAX_ONCE 64) */
	{
		char id[32];
		int ok = 1;
		store_free(st);
		st = store_new("memory", NULL, err, sizeof(err));
		for (int i = 0; i < STORE_MAX_ONCE; i++) {
			snprintf(id, sizeof(id), "cap-%d", i);
			ok &= once(st, id, later) == RW_OK;
		}
		CHECK(ok);
		CHECK(once(st, "cap-0", later) == RW_EAUTH);
		CHECK(once(st, "one-past", later) == RW_ELIMIT);
		CHECK(once(st, "one-past", later) == RW_ELIMIT);
		store_free(st);
		st = store_new("memory", NULL, err, sizeof(err));
		for (int i = 0; i < STORE_MAX_ONCE; i++) {
			snprintf(id, sizeof(id), "soon-%d", i);
			once(st, id, rw_now_ms() / 1000 + 1);
		}
		CHECK(once(st, "fresh", later) == RW_ELIMIT);
		usleep(2100 * 1000);
		CHECK(once(st, "fresh", later) == RW_OK);    /* expired ids made room */
		store_free(st);
	}

	/* Redis: the same suite */
	int port = free_port();
	pid_t pid = start_redis(port, NULL);
	CHECK(port > 0 && pid > 0);
	st = redis_store(port, 0, NULL);
	CHECK(st && !store_answers_at_once(st));
	suite(st, "redis");
	suite_records(st, "redis");
	suite_failover(st, "redis");   /* before suite_caps fills the replicas' figures */
	suite_orphans(st, "redis", port);
	suite_caps(st, "redis");
	suite_streams(st, "redis");
	suite_readers(st, "redis");
	suite_input(st, "redis", port);

	/* two stores (two replicas) on one Redis share ids and limits */
	a = st;
	b = redis_store(port, 0, NULL);
	CHECK(wait_ready(b, 1, 5000));
	CHECK(once(a, "shared-jti", later) == RW_OK);
	CHECK(once(b, "shared-jti", later) == RW_EAUTH);
	CHECK(once(a, "shared-jti", later) == RW_EAUTH);
	store_limit_set(a, STORE_LIMIT_TOKENS, 2, 60);
	store_limit_set(b, STORE_LIMIT_TOKENS, 2, 60);
	CHECK(hit(a, STORE_LIMIT_TOKENS, "shared-user", 1, NULL) == RW_OK);
	CHECK(hit(b, STORE_LIMIT_TOKENS, "shared-user", 1, NULL) == RW_OK);
	CHECK(hit(a, STORE_LIMIT_TOKENS, "shared-user", 1, NULL) == RW_ELIMIT);
	CHECK(hit(b, STORE_LIMIT_TOKENS, "shared-user", 1, NULL) == RW_ELIMIT);
	/* a record put by one replica is read and listed by the other */
	{
		json_t *j;
		int rc;
		CHECK(put(a, "shared-session", "carol", 5000, 7, 0) == RW_OK);
		j = get(b, "shared-session", &rc);
		CHECK(rc == RW_OK && json_integer_value(json_object_get(json_object_get(j, "view"), "n")) == 7);
		json_decref(j);
		j = list(b, "carol", &rc);
		CHECK(rc == RW_OK && json_array_size(j) == 1);
		json_decref(j);
		CHECK(push(b, "replica-of-a", "shared-session") == RW_OK);
		j = pop(a, "replica-of-a", &rc);
		CHECK(rc == RW_OK && json_array_size(j) == 1);
		json_decref(j);
	}
	/* another database is another namespace */
	struct store *c = redis_store(port, 3, NULL);
	CHECK(wait_ready(c, 1, 5000));
	CHECK(once(c, "shared-jti", later) == RW_OK);
	store_free(c);

	/* Redis stops: not ready, operations answer RW_EAGAIN at once; back: ready again */
	stop_redis(pid);
	CHECK(wait_ready(a, 0, 5000));
	CHECK(once(a, "while-down", later) == RW_EAGAIN);
	{
		int rc;
		json_t *j = list(a, "carol", &rc);
		CHECK(rc == RW_EAGAIN && !j);
		CHECK(put(a, "while-down", "carol", 1, 1, 0) == RW_EAGAIN);
	}
	CHECK(hit(a, STORE_LIMIT_TOKENS, "u", 1, NULL) == RW_EAGAIN);
	pid = start_redis(port, NULL);
	CHECK(wait_ready(a, 1, 8000));
	CHECK(wait_ready(b, 1, 8000));
	CHECK(once(a, "after-restart", later) == RW_OK);
	CHECK(once(b, "after-restart", later) == RW_EAUTH);
	/* an operation in flight when the store is freed is answered RW_EAGAIN, not lost */
	{
		struct answer x = { 0 };
		store_once(b, "in-flight", later, on_answer, &x);
		store_free(b);
		CHECK(x.done && x.rc == RW_EAGAIN);
	}
	/* a forgotten operation does not call back */
	{
		struct answer x = { 0 };
		store_once(a, "forgotten", later, on_answer, &x);
		store_forget(a, &x);
		struct answer y = { 0 };
		store_once(a, "after-forgotten", later, on_answer, &y);
		wait_answer(&y);
		CHECK(!x.done && y.done && y.rc == RW_OK);
	}
	store_free(a);
	stop_redis(pid);

	/* AUTH: the right password is ready, a wrong one never is */
	port = free_port();
	pid = start_redis(port, "s3cret-password");
	st = redis_store(port, 0, "s3cret-password");
	CHECK(wait_ready(st, 1, 5000));
	CHECK(once(st, "authed", later) == RW_OK);
	store_free(st);
	st = redis_store(port, 0, "wrong");
	CHECK(!wait_ready(st, 1, 1500));
	CHECK(once(st, "unauthed", later) == RW_EAGAIN);
	store_free(st);
	stop_redis(pid);

	lws_context_destroy(ctx);
	return check_done("test_store");
}
