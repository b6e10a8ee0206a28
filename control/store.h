/* store.h: the state control replicas share, behind one interface with two backends
 * (DESIGN.md: "session store: memory (default) | Redis (replicas)").
 *
 *   memory   this process only (the embedded default): answers at once, never fails for
 *            want of a peer (store_memory.c)
 *   redis    redis://HOST:PORT[/DB], shared by every replica: hiredis' asynchronous API on
 *            control's own event loop, reconnecting with backoff (store_redis.c)
 *
 * What lives here today: one-time ids (session tokens' jti) and fixed-window rate limits.
 *
 * Every operation reports through a callback, which the memory backend calls before the
 * operation returns and the Redis backend calls later, from the loop. So callers write one
 * path for both: they ask, and act in the callback; a caller whose object may go away before
 * the answer comes calls store_forget() with the same `arg` first. Results are 0 or a
 * negative RW_E... code; RW_EAGAIN always means "the store is unreachable now": the caller
 * answers 503 (the operation may be retried), never guesses.
 */
#ifndef RW_STORE_H
#define RW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct lws_context;
struct lws_protocols;
struct lws_vhost;
struct store;

#define STORE_MAX_KEY 160           /* a rate-limit key or one-time id, bytes */
#define STORE_KEY_HASHED_LEN 71     /* "sha256:" and 64 hex digits */
#ifndef STORE_MAX_ONCE
#define STORE_MAX_ONCE 65536        /* one-time ids the memory backend remembers unexpired */
#endif
#define STORE_MAX_PASSWORD 512      /* bytes of --store-password-file */
#define STORE_URL_MAX 512

/* The rate limits control keeps (config "limits"). Each has its own window and limit. */
enum store_limit {
	STORE_LIMIT_SESSIONS = 0,   /* sessions created per user */
	STORE_LIMIT_TOKENS,         /* session tokens minted per user */
	STORE_LIMIT_AUTHFAIL,       /* failed sign-ins per client address */
	STORE_N_LIMITS
};

/* A store's answer: `rc` 0 or RW_E...; `value` per operation (see each). */
typedef void (*store_cb)(void *arg, int rc, int64_t value);

/* Parses `url` ("memory", NULL, or redis://HOST:PORT[/DB]) and makes the backend. A
 * rediss:// URL is refused (hiredis 0.14 has no TLS), as is any other scheme. `password`,
 * when not NULL, is copied (for Redis AUTH) and the caller may wipe its own. The Redis
 * backend does not connect until store_start(). NULL with `err` set. */
struct store *store_new(const char *url, const char *password, char *err, size_t errlen);
/* Joins the store to the event loop (Redis connects now, in the background). 0 or RW_E... */
int store_start(struct store *st, struct lws_context *ctx, struct lws_vhost *vh);
/* Disconnects and frees; pending operations are answered RW_EAGAIN first. */
void store_free(struct store *st);

/* "memory" or "redis". */
const char *store_kind(const struct store *st);
/* Whether the store is shared between processes (Redis): control then needs settings every
 * replica agrees on, such as the session-token key. */
int store_is_shared(const struct store *st);
/* Whether the store can answer now (Redis: connected and answering its pings). */
int store_ready(const struct store *st);
/* Whether operations are answered inside the call (memory): a caller that cannot wait, such
 * as a WebSocket handshake filter, may then rely on the callback having run. */
int store_answers_at_once(const struct store *st);

/* Sets a limit's size: at most `limit` hits per `window_s` seconds per key (0: unlimited). */
void store_limit_set(struct store *st, enum store_limit which, int limit, int window_s);
/* The limit's configured size (0: unlimited). */
int store_limit_of(const struct store *st, enum store_limit which);
/* Counts a hit for `key` (count = 1), or only looks (count = 0). Answers 0 within the
 * limit, RW_ELIMIT over it with `value` the seconds until the window ends, RW_EAGAIN when
 * the store is unreachable. */
void store_limit_hit(struct store *st, enum store_limit which, const char *key, int count,
		     store_cb cb, void *arg);

/* Marks `id` used until `expires_s` (Unix seconds). Answers 0 the first time, RW_EAUTH
 * when it was already used (here or on another replica), RW_ELIMIT when the memory
 * backend holds STORE_MAX_ONCE unexpired ids, RW_EAGAIN when the store is unreachable. */
void store_once(struct store *st, const char *id, int64_t expires_s, store_cb cb, void *arg);

/* ---- session records: what other replicas know of a session (fleet.c) ----
 *
 * A record is a JSON object {"owner", "replica", "view"} where "view" is the session as the
 * API shows it. Each is kept `ttl_s` seconds after its last put (0: no expiry) and listed
 * per owner, newest first. */
#define STORE_MAX_RECORD (64u << 10)     /* bytes of one record's JSON */
#ifndef STORE_MAX_LIST
#define STORE_MAX_LIST 1000              /* records one list answers (newest first) */
#endif
#ifndef STORE_MAX_SESSIONS
#define STORE_MAX_SESSIONS 65536         /* records the memory backend keeps */
#endif

/* An answer carrying JSON: `value` is a new reference the callee owns (NULL on error). */
typedef void (*store_json_cb)(void *arg, int rc, json_t *value);

/* Writes `id`'s record (takes no reference to `record`), put by `replica`, which holds the
 * session: the store remembers each session's holder (Redis: runwire:holder:<id>, kept as
 * long as the record) and refuses a put by another replica with RW_ESTATE (the session was
 * claimed by another replica: store_session_claim). Answers 0, RW_ESTATE, RW_ETOOBIG past
 * STORE_MAX_RECORD, RW_ELIMIT when the memory backend is full, RW_EAGAIN when unreachable.
 * `cb` may be NULL (nothing to tell). */
void store_session_put(struct store *st, const char *id, const char *replica, const char *owner,
		       int64_t created_ms, json_t *record, int64_t ttl_s, store_cb cb, void *arg);
/* Makes `replica` the holder of live session `id`, unless another replica holds it and is
 * alive (its figures, store_replica_put, have not expired): the failover of a session whose
 * replica died. Atomic: of replicas claiming at once, one wins. Answers 0 with `value` the
 * session's record (the caller now holds it; the holder is kept `ttl_s`), RW_ESTATE with
 * `value` {"holder": its replica, "agentUrl": where agents reach it, when it advertises one}
 * while a live replica holds it, RW_ENOTFOUND without a record, RW_EAGAIN when unreachable. */
void store_session_claim(struct store *st, const char *id, const char *replica, int64_t ttl_s,
			 store_json_cb cb, void *arg);
/* Answers the record of `id`, or RW_ENOTFOUND. */
void store_session_get(struct store *st, const char *id, store_json_cb cb, void *arg);
/* ---- orphans: sessions still waiting whose replica is gone ----
 * The store keeps the set of sessions whose record's view says "waiting" (Redis:
 * runwire:waiting, kept by store_session_put). */
#define STORE_ORPHANS_BATCH 16           /* sessions one sweep claims at most */
/* Claims for `replica` up to STORE_ORPHANS_BATCH waiting sessions whose holder is gone (its
 * figures expired) or unnamed, as store_session_claim would (the holder kept `ttl_s`), and
 * answers a JSON array of their records (maybe empty); ids whose record expired leave the
 * set. The caller queues them again (fleet.c). */
void store_session_orphans(struct store *st, const char *replica, int64_t ttl_s,
			   store_json_cb cb, void *arg);
/* `in` when it is shorter than `max` bytes, else "sha256:<hex of its SHA-256>" written into
 * `out` (STORE_KEY_HASHED_LEN + 1 bytes): a bounded key that still names one user. A
 * Firebase uid may be 128 characters of UTF-8 (up to 512 bytes), past STORE_MAX_KEY; the
 * store maps owners and rate-limit keys through this, so such a user is counted and listed
 * like any other. */
const char *store_key_bounded(const char *in, size_t max, char *out);
/* Answers a JSON array of `owner`'s records, newest first, at most STORE_MAX_LIST. */
void store_session_list(struct store *st, const char *owner, store_json_cb cb, void *arg);

/* ---- replica inboxes: requests for the replica holding a session (a cancel) ---- */
#define STORE_INBOX_BATCH 100            /* messages one pop answers */
#ifndef STORE_MAX_INBOX
#define STORE_MAX_INBOX 10000            /* messages one inbox holds; past it pushes are refused */
#endif

/* Appends `msg` to `replica`'s inbox. Answers 0, RW_ELIMIT, RW_EAGAIN; `cb` may be NULL. */
void store_inbox_push(struct store *st, const char *replica, json_t *msg, store_cb cb, void *arg);
/* Takes up to STORE_INBOX_BATCH messages, oldest first: answers a JSON array (maybe empty). */
void store_inbox_pop(struct store *st, const char *replica, store_json_cb cb, void *arg);

/* ---- replicas: each one's figures, for the fleet's (fleet.c) ---- */
#ifndef STORE_MAX_REPLICAS
#define STORE_MAX_REPLICAS 256           /* replicas one answer lists */
#endif

/* Puts `replica`'s figures (a JSON object), kept `ttl_ms` (by the store's clock). */
void store_replica_put(struct store *st, const char *replica, json_t *figures, int64_t ttl_ms);
/* Answers a JSON object {replica: figures} of every replica whose figures have not expired. */
void store_replica_all(struct store *st, store_json_cb cb, void *arg);

/* ---- session streams: a session's output and events in the store, which viewers on
 * other replicas read and which a replica taking the session over rebuilds from (fleet.c) ----
 *
 * Entries numbered 1, 2, ... in order by the one replica that holds the session: output
 * bytes ('o'), an encoded EVENT frame ('e') or the EXIT frame ('x'), each at an output
 * offset. Only the newest entries are kept, at most STORE_STREAM_MAX_ENTRIES and
 * STORE_STREAM_MAX_BYTES of data: a reader that falls further behind finds its next entry
 * gone and is told how much it missed. */
#ifndef STORE_STREAM_MAX_ENTRIES
#define STORE_STREAM_MAX_ENTRIES 4096    /* entries kept per session */
#endif
#ifndef STORE_STREAM_MAX_BYTES
#define STORE_STREAM_MAX_BYTES (16u << 20) /* bytes of entries' data kept per session */
#endif
#define STORE_STREAM_MAX_DATA (64u << 10) /* bytes of one entry */
#define STORE_STREAM_BATCH 64            /* entries one read answers */

struct store_entry {
	uint64_t n;                /* its number */
	char kind;                 /* 'o', 'e' or 'x' */
	uint64_t offset;           /* output offset ('o': of its first byte) */
	const uint8_t *data;       /* borrowed for the callback's duration */
	size_t len;
};
/* An answer carrying entries (borrowed until the callback returns), oldest first. */
typedef void (*store_entries_cb)(void *arg, int rc, const struct store_entry *e, size_t n);

/* Appends entry `n` to session `id`'s stream on behalf of `holder`, the whole stream
 * expiring `ttl_s` after this append. Appends are idempotent and gap-free, so that the
 * holder can put again whatever it has no answer for: answers 0 when the entry was appended
 * or was already there (a put whose answer was lost), RW_EPROTO when `n` is not one more
 * than the stream's last number (a gap: an earlier put failed; an empty or expired stream
 * takes any number), RW_ESTATE when the store names another replica as the session's
 * holder (it was claimed away: nothing is appended), RW_ETOOBIG past STORE_STREAM_MAX_DATA,
 * RW_EAGAIN when unreachable. `cb` may be NULL. */
void store_stream_add(struct store *st, const char *id, const char *holder, uint64_t n,
		      char kind, uint64_t offset, const uint8_t *data, size_t len, int64_t ttl_s,
		      store_cb cb, void *arg);
/* Answers the entries after number `after`, at most STORE_STREAM_BATCH (none: not yet). */
void store_stream_read(struct store *st, const char *id, uint64_t after, store_entries_cb cb,
		       void *arg);

/* ---- session input: what a writer attached through another replica sends the replica
 * holding the session (fleet.c takes it, relay.c pushes it) ----
 *
 * Per session a FIFO of opaque entries (fleet.c's encoding: a kind byte, the user, the
 * bytes), plus per holding replica the set of its sessions with input waiting. A push that
 * makes a session's input non-empty wakes its holder at once (Redis: PUBLISH to the
 * holder's channel, which it SUBSCRIBEs to on a second connection); a holder also looks at
 * the set every FLEET_TICK_MS, so a wake lost to a reconnect delays input, never loses it. */
#ifndef STORE_INPUT_MAX_ENTRIES
#define STORE_INPUT_MAX_ENTRIES 256      /* entries one session's input holds; past it a push
					  * is refused (RW_ELIMIT): the writer's backpressure */
#endif
#define STORE_INPUT_MAX_DATA ((64u << 10) + 256) /* bytes of one entry (an INPUT frame's
						 * bytes, PROTO_MAX_INPUT, and a header) */
#define STORE_INPUT_BATCH 64             /* entries one take answers at most */
#define STORE_INPUT_TTL_S 600            /* input nobody takes (its holder died) goes after */
#define STORE_INPUT_SEQ_TTL_S (8 * 86400) /* a session's input counter is kept this long after
					   * its last push. One whose counter expired would
					   * number from 1 again, below what its holder has
					   * applied (it would skip them): so it outlives any
					   * session's input by far */

/* Appends entries `e[0..n)` (their `data`, `len`; n at most STORE_INPUT_BATCH) to session
 * `id`'s input, all or none, numbering them (per session, from 1), and wakes the session's
 * holder: the replica the store names as holder (store_session_put, _claim), else
 * `replica`. Answers 0, RW_ELIMIT when they would make more than STORE_INPUT_MAX_ENTRIES
 * wait (nothing is appended: the pusher may try again once the holder has taken some),
 * RW_ETOOBIG when one is larger than STORE_INPUT_MAX_DATA, RW_EAGAIN when the store is
 * unreachable. Entries pushed are taken in push order. */
void store_input_push(struct store *st, const char *replica, const char *id,
		      const struct store_entry *e, size_t n, store_cb cb, void *arg);
/* Answers a JSON array of the ids of `replica`'s sessions with input waiting. */
void store_input_pending(struct store *st, const char *replica, store_json_cb cb, void *arg);
/* Reads session `id`'s oldest entries numbered above `after`, at most STORE_INPUT_BATCH and
 * at most `max_bytes` (at least one entry whatever its size), oldest first (entries' `n`,
 * `data`, `len`). Nothing is removed: an answer lost on the way (a dropped connection)
 * loses no input, the same entries are read again. Answers `n` 0 when none wait. */
void store_input_take(struct store *st, const char *replica, const char *id, uint64_t after,
		      size_t max_bytes, store_entries_cb cb, void *arg);
/* Removes session `id`'s entries numbered up to `upto` (the holder applied them), and the
 * session from `replica`'s set when its input is empty. Answers 0 or RW_EAGAIN; `cb` may be
 * NULL. A holder that dies between applying entries and this leaves them to be applied
 * again by the next holder (at most one batch). */
void store_input_done(struct store *st, const char *replica, const char *id, uint64_t upto,
		      store_cb cb, void *arg);
/* Asks to be woken (`wake(arg, id)`, from the loop) when input for `replica`'s session `id`
 * has been pushed, and with id NULL when wakes may have been missed (the subscription was
 * re-established): the caller then reads store_input_pending. One watcher per store. */
void store_input_watch(struct store *st, const char *replica,
		       void (*wake)(void *arg, const char *id), void *arg);

/* ---- stream readers: how far viewers on other replicas have read a session's stream ----
 * The holder keeps the session's writer no more than FLEET_READER_LEAD ahead of the slowest
 * live one (fleet.c), so that none falls out of the stream's window. A reader is live for
 * STORE_READER_TTL_MS after its last put. */
#define STORE_READER_TTL_MS 1000
#define STORE_READER_MAX 64              /* bytes of a reader's name */
#ifndef STORE_MAX_READERS
#define STORE_MAX_READERS 4096           /* readers the memory backend keeps, all sessions */
#endif
/* Says that `reader` (a name unique in the fleet) has read session `id`'s output up to
 * `offset`; live for STORE_READER_TTL_MS. Fire and forget. */
void store_reader_put(struct store *st, const char *id, const char *reader, uint64_t offset);
/* `reader` is gone (its viewer closed). */
void store_reader_drop(struct store *st, const char *id, const char *reader);
/* Answers `value` the lowest offset among session `id`'s live readers, or -1 when there is
 * none; RW_EAGAIN when unreachable. */
void store_readers_min(struct store *st, const char *id, store_cb cb, void *arg);

/* Operations asked with `arg` will not call back (their object is going away). */
void store_forget(struct store *st, void *arg);

/* The loop protocol the Redis backend's connection runs under ("rw-store"): the server
 * lists it among its protocols whatever the backend. */
extern const struct lws_protocols store_protocol;

#endif
