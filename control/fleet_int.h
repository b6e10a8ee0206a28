/* fleet_int.h: what fleet.c and fleet_takeover.c share (private to them). */
#ifndef RW_FLEET_INT_H
#define RW_FLEET_INT_H

#include <stdint.h>

#include <jansson.h>

struct control;

/* How long a live session's record outlives its replica: as long as its runner may come back
 * to resume it on another replica (--runner-grace), and at least FLEET_LIVE_TTL_S. */
int64_t fleet_live_ttl(const struct control *ctl);
/* Takes session `id`'s input from the store: for a session this replica runs, as much as its
 * agent can queue; for one it does not hold (any more), all of it, discarded. */
void fleet_take_input(struct control *ctl, const char *id);
/* The answer to fleet.c's sweep for orphans (store_session_orphans): each is queued again
 * here, or failed with the reason. */
void fleet_on_orphans(void *arg, int rc, json_t *recs);
/* The sweep is answered: another may go. */
void fleet_sweep_done(void);
/* Frees the takeovers still in progress (at shutdown, before the loop's context goes). */
void fleet_takeover_free(void);

#endif
