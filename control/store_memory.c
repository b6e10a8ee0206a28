/* store_memory.c: the embedded default's store: this process's memory, answered at once.
 * One-time ids are remembered until they expire (at most STORE_MAX_ONCE of them: past it a
 * new id is refused, never an old one forgotten early); rate limits are ratelimit.c's
 * fixed windows. */
#include "control/store_backend.h"
#include "control/ratelimit.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct once_id {
	char id[STORE_MAX_KEY];
	int64_t expires_s;
};

struct record {
	char id[STORE_MAX_KEY], owner[STORE_MAX_KEY];
	int64_t created_ms, expires_ms;   /* expires 0: never */
	char *text;
	/* the replica holding the session ("": none): set by a put, taken by a claim; it goes
	 * with the record, or at holder_expires_ms (0: never) when a claim set its own ttl */
	char holder[STORE_MAX_KEY];
	int64_t holder_expires_ms;
	/* its view's state was "waiting" at the last put: the waiting set is the records with
	 * this set (an expired record leaves it with the record) */
	int waiting;
};

struct message {
	char replica[STORE_MAX_KEY];
	char *text;
};

struct mem_entry {
	uint64_t n, offset;
	char kind;
	uint8_t *data;
	size_t len;
};

struct mem_stream {
	char id[STORE_MAX_KEY];
	struct mem_entry *e;       /* oldest first, at most STORE_STREAM_MAX_ENTRIES */
	size_t n, cap;
	size_t bytes;              /* of the entries' data, at most STORE_STREAM_MAX_BYTES */
	int64_t expires_ms;
};

/* One entry of a session's input (every session's, in push order), numbered per session:
 * read by takes, removed by done. */
struct mem_input {
	char replica[STORE_MAX_KEY], id[STORE_MAX_KEY];
	uint64_t n;
	uint8_t *data;
	size_t len;
};

/* A session's input counter: the number its last entry got, kept STORE_INPUT_SEQ_TTL_S
 * after its last push (as Redis keeps runwire:inseq:<id>). */
struct mem_inseq {
	char id[STORE_MAX_KEY];
	uint64_t last;
	int64_t expires_ms;
};

struct mem_reader {
	char id[STORE_MAX_KEY];
	char reader[STORE_READER_MAX];
	uint64_t offset;
	int64_t expires_ms;
};

struct store_memory {
	struct mem_reader *readers;       /* at most STORE_MAX_READERS */
	size_t n_readers, cap_readers;
	struct mem_input *in;
	size_t n_in, cap_in;
	struct mem_inseq *seq;            /* at most STORE_MAX_SESSIONS unexpired */
	size_t n_seq, cap_seq;
	void (*wake)(void *arg, const char *id);
	void *wake_arg;
	char wake_replica[STORE_MAX_KEY];
	struct mem_stream *streams;
	size_t n_streams, cap_streams;
	struct record *reps;              /* replicas' figures: id = replica, no owner */
	size_t n_reps, cap_reps;
	struct record *rec;
	size_t n_rec, cap_rec;
	struct message *msg;              /* every inbox, oldest first */
	size_t n_msg, cap_msg;
	struct ratelimit *rl[STORE_N_LIMITS];
	int rl_limit[STORE_N_LIMITS], rl_window[STORE_N_LIMITS];
	struct once_id *used;
	size_t n_used, cap_used;
};

void *store_memory_new(void)
{
	return calloc(1, sizeof(struct store_memory));
}

static void mem_free(void *b)
{
	struct store_memory *m = b;

	if (!m)
		return;
	for (int i = 0; i < STORE_N_LIMITS; i++)
		ratelimit_free(m->rl[i]);
	free(m->used);
	free(m->readers);
	for (size_t i = 0; i < m->n_rec; i++)
		free(m->rec[i].text);
	free(m->rec);
	for (size_t i = 0; i < m->n_reps; i++)
		free(m->reps[i].text);
	free(m->reps);
	for (size_t i = 0; i < m->n_streams; i++) {
		for (size_t j = 0; j < m->streams[i].n; j++)
			free(m->streams[i].e[j].data);
		free(m->streams[i].e);
	}
	free(m->streams);
	for (size_t i = 0; i < m->n_msg; i++)
		free(m->msg[i].text);
	free(m->msg);
	for (size_t i = 0; i < m->n_in; i++)
		free(m->in[i].data);
	free(m->in);
	free(m->seq);
	free(m);
}

static int mem_ready(const void *b)
{
	return 1;
}

static void mem_limit_hit(void *b, enum store_limit which, const char *name, int limit,
			  int window_s, const char *key, int count, store_cb cb, void *arg)
{
	struct store_memory *m = b;
	int retry = 0, rc;

	if (!m->rl[which] || m->rl_limit[which] != limit || m->rl_window[which] != window_s) {
		ratelimit_free(m->rl[which]);
		m->rl[which] = ratelimit_new(limit, window_s);
		m->rl_limit[which] = limit;
		m->rl_window[which] = window_s;
		if (!m->rl[which]) {
			cb(arg, RW_ENOMEM, 0);
			return;
		}
	}
	rc = count ? ratelimit_hit(m->rl[which], key, rw_now_ms(), &retry)
		   : ratelimit_over(m->rl[which], key, rw_now_ms(), &retry);
	cb(arg, rc, rc == RW_ELIMIT ? retry : 0);
}

static void mem_once(void *b, const char *id, int64_t expires_s, store_cb cb, void *arg)
{
	struct store_memory *m = b;
	int64_t now = rw_now_ms() / 1000;
	size_t i, w = 0;

	if (expires_s <= now) {
		cb(arg, RW_EAUTH, 0);      /* expired ids are never good: nothing to remember */
		return;
	}
	/* purge what has expired: an expired token is refused before it gets here */
	for (i = 0; i < m->n_used; i++)
		if (m->used[i].expires_s > now)
			m->used[w++] = m->used[i];
	m->n_used = w;
	for (i = 0; i < m->n_used; i++)
		if (!strcmp(m->used[i].id, id)) {
			cb(arg, RW_EAUTH, 0);
			return;
		}
	if (m->n_used == STORE_MAX_ONCE) {
		cb(arg, RW_ELIMIT, 0);
		return;
	}
	if (m->n_used == m->cap_used) {
		size_t cap = m->cap_used ? 2 * m->cap_used : 64;
		struct once_id *nu = realloc(m->used, cap * sizeof(*nu));
		if (!nu) {
			cb(arg, RW_ENOMEM, 0);
			return;
		}
		m->used = nu;
		m->cap_used = cap;
	}
	snprintf(m->used[m->n_used].id, sizeof(m->used[0].id), "%s", id);
	m->used[m->n_used].expires_s = expires_s;
	m->n_used++;
	cb(arg, RW_OK, 0);
}

/* Grows an array of `size`-byte items to hold one more. 0 or RW_ENOMEM. */
static int grow(void **items, size_t n, size_t *cap, size_t size)
{
	void *ni;
	size_t nc;

	if (n < *cap)
		return RW_OK;
	nc = *cap ? 2 * *cap : 16;
	ni = realloc(*items, nc * size);
	if (!ni)
		return RW_ENOMEM;
	*items = ni;
	*cap = nc;
	return RW_OK;
}

static void drop_expired(struct store_memory *m)
{
	int64_t now = rw_now_ms();
	size_t w = 0;

	for (size_t i = 0; i < m->n_rec; i++) {
		if (m->rec[i].expires_ms && m->rec[i].expires_ms <= now) {
			free(m->rec[i].text);
			continue;
		}
		m->rec[w++] = m->rec[i];
	}
	m->n_rec = w;
}

static struct record *find_record(struct store_memory *m, const char *id)
{
	drop_expired(m);
	for (size_t i = 0; i < m->n_rec; i++)
		if (!strcmp(m->rec[i].id, id))
			return &m->rec[i];
	return NULL;
}

/* The replica the store names as `r`'s holder, or NULL (none, or its claim's ttl ran out). */
static const char *holder_of(const struct record *r)
{
	if (!r || !r->holder[0] || (r->holder_expires_ms && r->holder_expires_ms <= rw_now_ms()))
		return NULL;
	return r->holder;
}

static void mem_session_put(void *b, const char *id, const char *replica, const char *owner,
			    int64_t created_ms, const char *json, int waiting, int64_t ttl_s,
			    store_cb cb, void *arg)
{
	struct store_memory *m = b;
	struct record *r = find_record(m, id);
	const char *h = holder_of(r);
	char *text;

	if (h && strcmp(h, replica)) {
		if (cb)
			cb(arg, RW_ESTATE, 0);     /* claimed by another replica: nothing written */
		return;
	}
	text = strdup(json);
	if (!text || (!r && grow((void **)&m->rec, m->n_rec, &m->cap_rec, sizeof(*r)))) {
		free(text);
		if (cb)
			cb(arg, RW_ENOMEM, 0);
		return;
	}
	if (!r) {
		if (m->n_rec == STORE_MAX_SESSIONS) {
			free(text);
			if (cb)
				cb(arg, RW_ELIMIT, 0);
			return;
		}
		r = &m->rec[m->n_rec++];
		memset(r, 0, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", id);
	}
	free(r->text);
	r->text = text;
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	r->created_ms = created_ms;
	r->waiting = waiting;
	r->expires_ms = ttl_s > 0 ? rw_now_ms() + ttl_s * 1000 : 0;
	snprintf(r->holder, sizeof(r->holder), "%s", replica);
	r->holder_expires_ms = r->expires_ms;   /* as long as the record, as in Redis */
	if (cb)
		cb(arg, RW_OK, 0);
}

/* The unexpired figures of `replica` (their JSON text), or NULL. */
static const char *figures_of(struct store_memory *m, const char *replica)
{
	int64_t now = rw_now_ms();

	for (size_t i = 0; i < m->n_reps; i++)
		if (!strcmp(m->reps[i].id, replica) && m->reps[i].expires_ms > now)
			return m->reps[i].text;
	return NULL;
}

static void mem_session_claim(void *b, const char *id, const char *replica, int64_t ttl_s,
			      store_json_cb cb, void *arg)
{
	struct store_memory *m = b;
	struct record *r = find_record(m, id);
	const char *h = holder_of(r), *fig;
	json_t *j;

	if (!r) {
		cb(arg, RW_ENOTFOUND, NULL);
		return;
	}
	if (h && strcmp(h, replica) && (fig = figures_of(m, h))) {
		/* its holder is alive: say who, and where its agents reach it */
		json_t *f = json_loads(fig, 0, NULL);
		json_t *url = json_object_get(f, "agentUrl");
		j = json_pack("{s:s}", "holder", h);
		if (j && json_is_string(url))
			json_object_set(j, "agentUrl", url);
		json_decref(f);
		cb(arg, j ? RW_ESTATE : RW_ENOMEM, j);
		return;
	}
	j = json_loads(r->text, 0, NULL);
	if (!j) {
		cb(arg, RW_ENOMEM, NULL);
		return;
	}
	snprintf(r->holder, sizeof(r->holder), "%s", replica);
	r->holder_expires_ms = ttl_s > 0 ? rw_now_ms() + ttl_s * 1000 : 0;
	cb(arg, RW_OK, j);
}

/* As Redis' orphans script: waiting records whose holder is unnamed, or another replica
 * whose figures expired, become `replica`'s, at most STORE_ORPHANS_BATCH. Oldest put first
 * (the array's order); no bound on how many it looks at, as every operation here. */
static void mem_session_orphans(void *b, const char *replica, int64_t ttl_s, store_json_cb cb,
				void *arg)
{
	struct store_memory *m = b;
	json_t *out = json_array();
	size_t taken = 0;

	if (!out) {
		cb(arg, RW_ENOMEM, NULL);
		return;
	}
	drop_expired(m);
	for (size_t i = 0; i < m->n_rec && taken < STORE_ORPHANS_BATCH; i++) {
		struct record *r = &m->rec[i];
		const char *h = holder_of(r);
		json_t *j;

		if (!r->waiting || (h && (!strcmp(h, replica) || figures_of(m, h))))
			continue;   /* not waiting, its own, or its holder is alive */
		j = json_loads(r->text, 0, NULL);
		if (!j || json_array_append_new(out, j))
			continue;   /* out of memory: left for the next sweep, unclaimed */
		snprintf(r->holder, sizeof(r->holder), "%s", replica);
		r->holder_expires_ms = ttl_s > 0 ? rw_now_ms() + ttl_s * 1000 : 0;
		taken++;
	}
	cb(arg, RW_OK, out);
}

static void mem_session_get(void *b, const char *id, store_json_cb cb, void *arg)
{
	struct record *r = find_record(b, id);
	json_t *j = r ? json_loads(r->text, 0, NULL) : NULL;

	cb(arg, j ? RW_OK : RW_ENOTFOUND, j);
}

static int newest_first(const void *a, const void *b)
{
	const struct record *x = *(struct record *const *)a, *y = *(struct record *const *)b;

	return x->created_ms < y->created_ms ? 1 : x->created_ms > y->created_ms ? -1 : 0;
}

static void mem_session_list(void *b, const char *owner, store_json_cb cb, void *arg)
{
	struct store_memory *m = b;
	struct record **mine;
	json_t *list = json_array();
	size_t n = 0;

	drop_expired(m);
	mine = malloc((m->n_rec ? m->n_rec : 1) * sizeof(*mine));
	if (!mine || !list) {
		free(mine);
		json_decref(list);
		cb(arg, RW_ENOMEM, NULL);
		return;
	}
	for (size_t i = 0; i < m->n_rec; i++)
		if (!strcmp(m->rec[i].owner, owner))
			mine[n++] = &m->rec[i];
	qsort(mine, n, sizeof(*mine), newest_first);
	for (size_t i = 0; i < n && i < STORE_MAX_LIST; i++) {
		json_t *j = json_loads(mine[i]->text, 0, NULL);
		if (j)
			json_array_append_new(list, j);
	}
	free(mine);
	cb(arg, RW_OK, list);
}

static void mem_inbox_push(void *b, const char *replica, const char *json, store_cb cb, void *arg)
{
	struct store_memory *m = b;
	size_t held = 0;
	int rc = RW_OK;

	for (size_t i = 0; i < m->n_msg; i++)
		held += !strcmp(m->msg[i].replica, replica);
	if (held >= STORE_MAX_INBOX)
		rc = RW_ELIMIT;
	else if (grow((void **)&m->msg, m->n_msg, &m->cap_msg, sizeof(*m->msg)) ||
		 !(m->msg[m->n_msg].text = strdup(json)))
		rc = RW_ENOMEM;
	else
		snprintf(m->msg[m->n_msg++].replica, sizeof(m->msg[0].replica), "%s", replica);
	if (cb)
		cb(arg, rc, 0);
}

static void mem_inbox_pop(void *b, const char *replica, store_json_cb cb, void *arg)
{
	struct store_memory *m = b;
	json_t *out = json_array();
	size_t w = 0, taken = 0;

	for (size_t i = 0; i < m->n_msg; i++) {
		if (taken < STORE_INBOX_BATCH && !strcmp(m->msg[i].replica, replica)) {
			json_t *j = json_loads(m->msg[i].text, 0, NULL);
			if (j)
				json_array_append_new(out, j);
			free(m->msg[i].text);
			taken++;
			continue;
		}
		m->msg[w++] = m->msg[i];
	}
	m->n_msg = w;
	cb(arg, RW_OK, out);
}

static void mem_replica_put(void *b, const char *replica, const char *json, int64_t ttl_ms)
{
	struct store_memory *m = b;
	struct record *r = NULL;
	char *text = strdup(json);
	int64_t now = rw_now_ms();
	size_t w = 0;

	/* expired figures go first: a replica that stopped makes room for a new one */
	for (size_t i = 0; i < m->n_reps; i++) {
		if (m->reps[i].expires_ms <= now) {
			free(m->reps[i].text);
			continue;
		}
		m->reps[w++] = m->reps[i];
	}
	m->n_reps = w;
	for (size_t i = 0; i < m->n_reps && !r; i++)
		if (!strcmp(m->reps[i].id, replica))
			r = &m->reps[i];
	if (!text)
		return;
	if (!r) {
		if (m->n_reps == STORE_MAX_REPLICAS ||
		    grow((void **)&m->reps, m->n_reps, &m->cap_reps, sizeof(*r))) {
			free(text);
			return;
		}
		r = &m->reps[m->n_reps++];
		memset(r, 0, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", replica);
	}
	free(r->text);
	r->text = text;
	r->expires_ms = rw_now_ms() + ttl_ms;
}

static void mem_replica_all(void *b, store_json_cb cb, void *arg)
{
	struct store_memory *m = b;
	json_t *out = json_object();
	int64_t now = rw_now_ms();

	for (size_t i = 0; i < m->n_reps; i++) {
		json_t *j = m->reps[i].expires_ms > now ? json_loads(m->reps[i].text, 0, NULL) : NULL;
		if (j)
			json_object_set_new(out, m->reps[i].id, j);
	}
	cb(arg, RW_OK, out);
}

static void stream_release(struct mem_stream *s)
{
	for (size_t j = 0; j < s->n; j++)
		free(s->e[j].data);
	free(s->e);
}

static struct mem_stream *find_stream(struct store_memory *m, const char *id, int create)
{
	int64_t now = rw_now_ms();
	size_t w = 0;
	struct mem_stream *s = NULL;

	for (size_t i = 0; i < m->n_streams; i++) {
		if (m->streams[i].expires_ms && m->streams[i].expires_ms <= now) {
			stream_release(&m->streams[i]);
			continue;
		}
		m->streams[w++] = m->streams[i];
	}
	m->n_streams = w;
	for (size_t i = 0; i < m->n_streams; i++)
		if (!strcmp(m->streams[i].id, id))
			return &m->streams[i];
	if (!create || m->n_streams == STORE_MAX_SESSIONS ||
	    grow((void **)&m->streams, m->n_streams, &m->cap_streams, sizeof(*s)))
		return NULL;
	s = &m->streams[m->n_streams++];
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	return s;
}

/* Drops `s`'s oldest entry. */
static void stream_drop_oldest(struct mem_stream *s)
{
	s->bytes -= s->e[0].len;
	free(s->e[0].data);
	memmove(s->e, s->e + 1, (s->n - 1) * sizeof(*s->e));
	s->n--;
}

static void mem_stream_add(void *b, const char *id, const char *holder, uint64_t n, char kind,
			   uint64_t offset,
			   const uint8_t *data, size_t len, int64_t ttl_s, store_cb cb, void *arg)
{
	struct store_memory *m = b;
	const char *h = holder_of(find_record(m, id));
	struct mem_stream *s;
	uint64_t last;
	uint8_t *copy;
	int rc = RW_OK;

	if (h && strcmp(h, holder)) {
		if (cb)
			cb(arg, RW_ESTATE, 0);     /* claimed away: nothing appended */
		return;
	}
	s = find_stream(m, id, 1);
	last = s && s->n ? s->e[s->n - 1].n : 0;
	if (s && last >= n) {
		if (cb)
			cb(arg, RW_OK, 0);         /* already there: a put whose answer was lost */
		return;
	}
	if (s && last && last != n - 1) {
		if (cb)
			cb(arg, RW_EPROTO, 0);     /* a gap: an earlier put failed */
		return;
	}
	if (s && s->n == STORE_STREAM_MAX_ENTRIES)
		stream_drop_oldest(s);   /* room first: the array never grows past the cap */
	copy = malloc(len ? len : 1);
	if (!s || !copy || grow((void **)&s->e, s->n, &s->cap, sizeof(*s->e))) {
		free(copy);
		rc = s ? RW_ENOMEM : RW_ELIMIT;
	} else {
		memcpy(copy, data, len);
		s->e[s->n++] = (struct mem_entry){ .n = n, .offset = offset, .kind = kind,
						   .data = copy, .len = len };
		s->bytes += len;
		/* the newest kept; the one just added always (it is at most STORE_STREAM_MAX_DATA) */
		while (s->n > 1 && (s->n > STORE_STREAM_MAX_ENTRIES || s->bytes > STORE_STREAM_MAX_BYTES))
			stream_drop_oldest(s);
		s->expires_ms = ttl_s > 0 ? rw_now_ms() + ttl_s * 1000 : 0;
	}
	if (cb)
		cb(arg, rc, 0);
}

static void mem_stream_read(void *b, const char *id, uint64_t after, store_entries_cb cb,
			    void *arg)
{
	struct mem_stream *s = find_stream(b, id, 0);
	struct store_entry out[STORE_STREAM_BATCH];
	size_t k = 0;

	for (size_t i = 0; s && i < s->n && k < STORE_STREAM_BATCH; i++) {
		if (s->e[i].n <= after)
			continue;
		out[k++] = (struct store_entry){ .n = s->e[i].n, .kind = s->e[i].kind,
						 .offset = s->e[i].offset, .data = s->e[i].data,
						 .len = s->e[i].len };
	}
	cb(arg, RW_OK, out, k);
}

/* `id`'s input counter (made when `create`; NULL when STORE_MAX_SESSIONS unexpired ones
 * exist or memory runs out), expired ones dropped first. */
static struct mem_inseq *find_inseq(struct store_memory *m, const char *id, int create)
{
	int64_t now = rw_now_ms();
	size_t w = 0;

	for (size_t i = 0; i < m->n_seq; i++)
		if (m->seq[i].expires_ms > now)
			m->seq[w++] = m->seq[i];
	m->n_seq = w;
	for (size_t i = 0; i < m->n_seq; i++)
		if (!strcmp(m->seq[i].id, id))
			return &m->seq[i];
	if (!create || m->n_seq == STORE_MAX_SESSIONS ||
	    grow((void **)&m->seq, m->n_seq, &m->cap_seq, sizeof(*m->seq)))
		return NULL;
	memset(&m->seq[m->n_seq], 0, sizeof(*m->seq));
	snprintf(m->seq[m->n_seq].id, sizeof(m->seq[m->n_seq].id), "%s", id);
	return &m->seq[m->n_seq++];
}

static void mem_input_push(void *b, const char *replica, const char *id,
			   const struct store_entry *e, size_t n, store_cb cb, void *arg)
{
	struct store_memory *m = b;
	struct mem_inseq *seq = NULL;
	size_t held = 0, done = 0;
	int rc = RW_OK;

	/* The holder to wake: the pusher's guess. This backend is one process and names no
	 * other holder (Redis: runwire:holder:<id>). */
	for (size_t i = 0; i < m->n_in; i++)
		held += !strcmp(m->in[i].id, id);
	if (held + n > STORE_INPUT_MAX_ENTRIES)
		rc = RW_ELIMIT;
	else if (!(seq = find_inseq(m, id, 1)))
		rc = RW_ELIMIT;
	for (; !rc && done < n; done++) {
		struct mem_input *in;
		if (grow((void **)&m->in, m->n_in, &m->cap_in, sizeof(*m->in)) ||
		    !(m->in[m->n_in].data = malloc(e[done].len ? e[done].len : 1))) {
			rc = RW_ENOMEM;
			break;
		}
		in = &m->in[m->n_in++];
		memcpy(in->data, e[done].data, e[done].len);
		in->len = e[done].len;
		in->n = seq->last + 1 + done;
		snprintf(in->replica, sizeof(in->replica), "%s", replica);
		snprintf(in->id, sizeof(in->id), "%s", id);
	}
	if (rc) {
		/* all or none: take back what this push added (numbers are given on success) */
		while (done--)
			free(m->in[--m->n_in].data);
	} else {
		seq->last += n;
		seq->expires_ms = rw_now_ms() + (int64_t)STORE_INPUT_SEQ_TTL_S * 1000;
	}
	if (cb)
		cb(arg, rc, 0);
	if (!rc && !held && m->wake && !strcmp(m->wake_replica, replica))
		m->wake(m->wake_arg, id);
}

static void mem_input_pending(void *b, const char *replica, store_json_cb cb, void *arg)
{
	struct store_memory *m = b;
	json_t *out = json_array();

	for (size_t i = 0; i < m->n_in; i++) {
		size_t j;
		if (strcmp(m->in[i].replica, replica))
			continue;
		for (j = 0; j < i && strcmp(m->in[j].id, m->in[i].id); j++)
			;
		if (j == i)
			json_array_append_new(out, json_string(m->in[i].id));
	}
	cb(arg, RW_OK, out);
}

static void mem_input_take(void *b, const char *replica, const char *id, uint64_t after,
			   size_t max_bytes, store_entries_cb cb, void *arg)
{
	struct store_memory *m = b;
	struct store_entry out[STORE_INPUT_BATCH] = { { 0 } };
	size_t k = 0, used = 0;

	/* read, not removed (done removes): the entries' data stay m->in's, which nothing
	 * frees before the callback returns unless the callback itself calls done */
	for (size_t i = 0; i < m->n_in && k < STORE_INPUT_BATCH; i++) {
		if (strcmp(m->in[i].id, id) || m->in[i].n <= after)
			continue;
		if (k && used + m->in[i].len > max_bytes)
			break;   /* FIFO: once one entry stays, the later ones stay */
		out[k++] = (struct store_entry){ .n = m->in[i].n, .data = m->in[i].data,
						 .len = m->in[i].len };
		used += m->in[i].len;
	}
	cb(arg, RW_OK, out, k);
}

static void mem_input_done(void *b, const char *replica, const char *id, uint64_t upto,
			   store_cb cb, void *arg)
{
	struct store_memory *m = b;
	size_t w = 0;

	/* the set of `replica`'s sessions is the entries' own: a session with none left is in
	 * no replica's set */
	for (size_t i = 0; i < m->n_in; i++) {
		if (!strcmp(m->in[i].id, id) && m->in[i].n <= upto) {
			free(m->in[i].data);
			continue;
		}
		m->in[w++] = m->in[i];
	}
	m->n_in = w;
	if (cb)
		cb(arg, RW_OK, 0);
}

/* ---- stream readers ---- */

/* Drops the expired readers, and `id`'s `reader` when given (it is put again, or gone). */
static void readers_prune(struct store_memory *m, const char *id, const char *reader)
{
	int64_t now = rw_now_ms();
	size_t w = 0;

	for (size_t i = 0; i < m->n_readers; i++) {
		struct mem_reader *r = &m->readers[i];
		if (r->expires_ms <= now || (reader && !strcmp(r->id, id) && !strcmp(r->reader, reader)))
			continue;
		m->readers[w++] = *r;
	}
	m->n_readers = w;
}

static void mem_reader_put(void *b, const char *id, const char *reader, uint64_t offset)
{
	struct store_memory *m = b;

	readers_prune(m, id, reader);
	if (m->n_readers == STORE_MAX_READERS ||
	    grow((void **)&m->readers, m->n_readers, &m->cap_readers, sizeof(*m->readers)))
		return;   /* its session's writer is then not held back for it */
	struct mem_reader *r = &m->readers[m->n_readers++];
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->reader, sizeof(r->reader), "%s", reader);
	r->offset = offset;
	r->expires_ms = rw_now_ms() + STORE_READER_TTL_MS;
}

static void mem_reader_drop(void *b, const char *id, const char *reader)
{
	readers_prune(b, id, reader);
}

static void mem_readers_min(void *b, const char *id, store_cb cb, void *arg)
{
	struct store_memory *m = b;
	int64_t min = -1;

	readers_prune(m, NULL, NULL);
	for (size_t i = 0; i < m->n_readers; i++)
		if (!strcmp(m->readers[i].id, id) && (min < 0 || (int64_t)m->readers[i].offset < min))
			min = (int64_t)m->readers[i].offset;
	cb(arg, RW_OK, min);
}

static void mem_input_watch(void *b, const char *replica, void (*wake)(void *arg, const char *id),
			    void *arg)
{
	struct store_memory *m = b;

	m->wake = wake;
	m->wake_arg = arg;
	snprintf(m->wake_replica, sizeof(m->wake_replica), "%s", replica);
}

const struct store_ops store_memory_ops = {
	.kind = "memory",
	.shared = 0,
	.at_once = 1,
	.start = NULL,
	.free = mem_free,
	.ready = mem_ready,
	.limit_hit = mem_limit_hit,
	.once = mem_once,
	.forget = NULL,
	.session_put = mem_session_put,
	.session_claim = mem_session_claim,
	.session_get = mem_session_get,
	.session_orphans = mem_session_orphans,
	.session_list = mem_session_list,
	.inbox_push = mem_inbox_push,
	.inbox_pop = mem_inbox_pop,
	.replica_put = mem_replica_put,
	.replica_all = mem_replica_all,
	.stream_add = mem_stream_add,
	.stream_read = mem_stream_read,
	.input_push = mem_input_push,
	.input_pending = mem_input_pending,
	.input_take = mem_input_take,
	.input_done = mem_input_done,
	.input_watch = mem_input_watch,
	.reader_put = mem_reader_put,
	.reader_drop = mem_reader_drop,
	.readers_min = mem_readers_min,
};
