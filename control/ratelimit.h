/* ratelimit.h: fixed-window counters keyed by a string (a user, a client address), for the
 * limits in control's config: sessions per minute and failed authentications per minute.
 * Keys are forgotten once their window has passed, so the table stays as small as the set
 * of recently active keys (capped at RATELIMIT_MAX_KEYS; past it the oldest is evicted). */
#ifndef RW_RATELIMIT_H
#define RW_RATELIMIT_H

#include <stdint.h>

#define RATELIMIT_MAX_KEYS 65536
#define RATELIMIT_MAX_KEY 160

struct ratelimit;

/* At most `limit` hits per `window_s` seconds per key; limit 0 means unlimited. */
struct ratelimit *ratelimit_new(int limit, int window_s);
void ratelimit_free(struct ratelimit *rl);

/* Counts a hit for `key` at `now_ms`. 0 when within the limit, otherwise RW_ELIMIT with
 * *retry_after_s set to the seconds until the window resets. */
int ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s);

/* Whether `key` is currently over the limit (without counting a hit). */
int ratelimit_over(struct ratelimit *rl, const char *key, int64_t now_ms, int *retry_after_s);

#endif
