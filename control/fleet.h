/* fleet.h: this replica among others sharing a store (store.h): it publishes a record of
 * each session it holds and the session's stream, so that any replica can list, read and
 * view it; it does what other replicas ask of its sessions (a cancel) through its inbox; it
 * takes over the sessions of a replica that died (a running one when its runner resumes
 * here, a waiting one when a sweep finds it orphaned). Only with a shared store; with the
 * memory store there is no other replica and nothing here runs.
 *
 * A session's agent link, log and recording are its holder's own; the store holds what
 * another replica needs to go on with it (docs/architecture.md, "Failover"). Its waiting
 * queue is each replica's own: external agents are moved to it instead (agent_redirect.h).
 */
#ifndef RW_FLEET_H
#define RW_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct control;
struct session;
struct proto_frame;

#define FLEET_TICK_MS 250          /* records published and the inbox read this often */
#define FLEET_LIVE_TTL_S 60        /* a live session's record outlives its replica this long */
#define FLEET_REFRESH_MS 20000     /* a live, unchanged record is put again this often */
#define FLEET_REPLICA_ID_BYTES 8   /* random bytes in a replica's id (16 hex) */
#define FLEET_FIGURES_TTL_MS 2000  /* a replica's figures count this long after its last put */
#define FLEET_ORPHANS_MS 1000     /* waiting sessions whose replica died are looked for */
#define FLEET_READER_LEAD (STORE_STREAM_MAX_BYTES - (4u << 20)) /* the writer is acknowledged
					 * at most this far ahead of the slowest live viewer on
					 * another replica: the stream's window less room for what
					 * the runner sends before it waits (1 MiB) and the lag of
					 * what viewers report */
#define FLEET_STREAM_TICK_BYTES (8u << 20) /* output put into session streams per tick, all
					     * sessions (control's tick: 100 ms) */

/* The fleet's figures: this replica's now, plus the others' as last read (at most
 * FLEET_TICK_MS old). Without a shared store, or while it is unreachable, this replica's. */
struct fleet_figures {
	size_t replicas;           /* replicas counted */
	size_t waiting;            /* sessions waiting for an agent */
	size_t agents, idle_agents;
	size_t live;               /* sessions not ended */
};

/* Picks this replica's id (ctl->replica). */
void fleet_init(struct control *ctl);
/* From control's tick (every 100 ms): puts new output and events into the sessions'
 * streams; every FLEET_TICK_MS also publishes what changed and reads the inbox. */
void fleet_tick(struct control *ctl);
/* The record other replicas see of `s` (new reference): {"owner", "replica", "view"}. */
json_t *fleet_record(const struct session *s);
void fleet_figures(const struct control *ctl, struct fleet_figures *out);
/* The other replicas' figures as last read, {replica: {"waiting", "agents", "idleAgents",
 * "live", "agentUrl" (when it advertises one)}}, borrowed until the next fleet tick; NULL
 * when none were read within FLEET_FIGURES_TTL_MS. */
json_t *fleet_other_figures(void);
/* Drops what fleet.c holds (at shutdown, after the store is gone). */
void fleet_free(void);

/* Asks the replica named in `record` to cancel its session on behalf of `user`. Answers
 * through `cb` (0, or RW_EAGAIN when the store is unreachable). */
void fleet_request_cancel(struct control *ctl, json_t *record, const char *user,
			  void (*cb)(void *arg, int rc, int64_t value), void *arg);

/* ---- input from writers attached through other replicas ----
 * A writer's frame is pushed, by the replica it is attached through, to the session's input
 * in the store, waking `replica` (the holder named in the session's record); the holder
 * takes it, checks the owner and applies it as a local writer's (relay_apply). An entry is
 * [frame type][user length][user][INPUT bytes | cols, rows (2 bytes each) | signal]. */

/* The store entry for `f` (INPUT, RESIZE or SIGNAL) from `user`'s writer: a new buffer of
 * `*len` bytes the caller frees, or NULL (a frame of another type, a user name longer than
 * 128 bytes, ENOMEM). The replica the writer is attached through pushes it
 * (store_input_push) to the replica named in the session's record. */
uint8_t *fleet_input_entry(const char *user, const struct proto_frame *f, size_t *len);
/* Output or an event was added to `s`: put it into its stream in the store soon (within
 * the loop's next turn), not at the next tick, so a remote writer's echo is not held up. */
void fleet_output_soon(struct session *s);

/* ---- acknowledgements follow the store ----
 * With a shared store the agent is acknowledged only output the store confirmed holding, so
 * that whichever replica takes the session over (fleet_adopt) has every byte the agent let go
 * of. Without one, what the session log holds. */
uint64_t fleet_acked(const struct session *s);
/* Whether the store holds the whole of the ended session `s` (its output and its end): its
 * agent's last acknowledgement waits for it. Always true without a shared store. */
int fleet_has_end(const struct session *s);

/* ---- failover: taking over a session whose replica is gone ----
 * An agent resumed here a session this replica does not hold. fleet_adopt reads its record,
 * checks the resume key (by its SHA-256 in the record) and the runner's credential as the
 * holder would, claims it in the store (refused while its replica is alive), rebuilds it from
 * its stream in the store (log, events, recording) and answers through `done`:
 *   RW_OK          `s` is this replica's now, at the offset the store holds
 *   RW_ENOTFOUND   no such session, or refused (`why` names the check, for the audit log)
 *   RW_ESTATE      a live replica holds it: `url` is where agents reach it, or NULL
 *   RW_EAGAIN      not now (store unreachable, credential not checkable yet): retry
 *   RW_EIO         it cannot be rebuilt here
 * `done` may be called before fleet_adopt returns. */
typedef void (*fleet_adopt_cb)(void *arg, struct session *s, int rc, const char *why,
			       const char *url);
void fleet_adopt(struct control *ctl, const char *id, const char *key, const char *cred,
		 fleet_adopt_cb done, void *arg);
/* The caller `arg` is going away: its adopt goes on, but `done` will not be called. */
void fleet_adopt_forget(void *arg);

#endif
