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

struct store_memory {
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
};
