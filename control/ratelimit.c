/* ratelimit.c: fixed-window rate limits (see ratelimit.h). */
#include "control/ratelimit.h"
#include "common/rw.h"

#include <stdlib.h>
#include <string.h>

struct rl_entry {
	char key[RATELIMIT_MAX_KEY];
	int64_t window_start_ms;
	int count;
};

struct ratelimit {
	int limit, window_s;
	struct rl_entry *e;
	size_t n, cap;
};

struct ratelimit *ratelimit_new(int limit, int window_s)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl) {
		rl->limit = limit;
		rl->window_s = window_s > 0 ? window_s : 60;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl)
		free(rl->e);
	free(rl);
}

/* Finds the live entry for `key`, dropping expired ones on the way. */
static struct rl_entry *find(struct ratelimit *rl, const char *key, int64_t now_ms, int create)
{
	int64_t window_ms = (int64_t)rl->window_s * 1000;
	struct rl_entry *hit = NULL;
	size_t w = 0, oldest = 0;

	for (size_t i = 0; i < rl->n; i++) {
		if (now_ms - rl->e[i].window_start_ms >= window_ms)
			continue;
		rl->e[w] = rl->e[i];
		if (!strcmp(rl->e[w].key, key))
			hit = &rl->e[w];
		w++;
	}
	rl->n = w;
	if (hit || !create)
		return hit;
	if (rl->n == RATELIMIT_MAX_KEYS) {
		for (size_t i = 1; i < rl->n; i++)
			if (rl->e[i].window_start_ms < rl->e[oldest].window_start_ms)
				oldest = i;
		rl->e[oldest] = rl->e[--rl->n];
	}
	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? 2 * rl->cap : 16;
		struct rl_entry *ne = realloc(rl->e, cap * sizeof(*ne));
		if (!ne)
			return NULL;
		rl->e = ne;
		rl->cap = cap;
	}
	hit = &rl->e[rl->n++];
	memset(hit, 0, sizeof(*hit));
	strncpy(hit->key, key, sizeof(hit->key) - 1);
	hit->window_start_ms = now_ms;
	return hit;
}

static int retry_after(const struct ratelimit *rl, const struct rl_entry *e, int64_t now_ms)
{
	int64_t left = (int64_t)rl->window_s * 1000 - (now_ms - e->window_start_ms);

	return (int)((left + 999) / 1000);
}

int ratelimit_over(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s)
{
	struct rl_entry *e;

	if (!rl || !rl->limit)
		return RW_OK;
	e = find(rl, key, now_ms, 0);
	if (e && e->count >= rl->limit) {
		*retry_after_s = retry_after(rl, e, now_ms);
		return RW_ELIMIT;
	}
	return RW_OK;
}

int ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s)
{
	struct rl_entry *e;

	if (!rl || !rl->limit)
		return RW_OK;
	e = find(rl, key, now_ms, 1);
	if (!e)
		return RW_ENOMEM;
	if (e->count >= rl->limit) {
		*retry_after_s = retry_after(rl, e, now_ms);
		return RW_ELIMIT;
	}
	e->count++;
	return RW_OK;
}
