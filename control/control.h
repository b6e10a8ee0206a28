/* control.h: runwire-control's shared state and the contracts between its modules.
 *
 *   server.c        libwebsockets context, protocol table, the loop
 *   listener.c      the front door (httphead.c parses), conn_guard.c (no peer stalls the loop)
 *   http_api.c      /api/..., /healthz, /readyz, /metrics
 *   scrape.c        what /api/queue and /metrics answer; the internal listener's token
 *   session.c       sessions: states, registry, waiting queue, JSON views
 *   stream.c        a session's output: the session log, its cache, digest, events
 *   relay.c         viewers (WS /ws/<id>): a cursor each into the stream
 *   relay_remote.c  ... of a session another replica holds, through the store
 *   retention.c     the data directory bounded in age and size
 *   agent_link.c    agents (WS /agent): claim, output in, ACK / input out
 *   agent_redirect.c  where an idle external agent should go instead (agent_redirect.h)
 *   dispatcher.c    where agents come from: local children or elsewhere; credentials
 *   session_token.c one-time session JWTs
 *   kms_signer.c    Cloud KMS signs them on its worker thread (kms_signer.h)
 *   store*.c        what replicas share: one-time ids, rate limits (memory | Redis)
 *   fleet.c         session records and streams for the other replicas, this replica's inbox
 *   fleet_takeover.c  the sessions of a replica that died, taken over (fleet.h)
 *   config.c        flags, environment, config file
 *
 * Everything runs on one event loop (the KMS signer's and the certificate cache's network
 * calls run on their own threads and hand results to the loop); objects are freed from the loop, never inside their
 * own callback (a closing connection is marked and closed from its writeable callback).
 */
#ifndef RW_CONTROL_H
#define RW_CONTROL_H

#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <sodium.h>

#include "common/bytering.h"
#include "common/proto.h"
#include "common/sha256.h"
#include "control/recording.h"
#include "control/store.h"
#include "control/stream.h"
#include "control/templates.h"

#define CONTROL_AGENT_PROTOCOL "runwire.agent.v1"
#define CONTROL_VIEWER_PROTOCOL "bearer"
#define CONTROL_DEFAULT_PORT 8080
#define CONTROL_DEFAULT_SCROLLBACK (4u << 20)
#define CONTROL_MAX_SCROLLBACK (1u << 30)
#define CONTROL_MMAP_THRESHOLD (128u << 10) /* larger allocations get their own mapping */
#define CONTROL_DEFAULT_RETENTION_S (7 * 86400)
#define CONTROL_DEFAULT_MAX_DATA_BYTES (10ull << 30)
#define CONTROL_MIN_DATA_BYTES (64u << 10)
#define CONTROL_DEFAULT_LOCAL_RUNNERS 1
#define CONTROL_MAX_WARM_TARGET 10000
#define CONTROL_DEFAULT_JWKS_REFETCH_S 60
#define CONTROL_INTERNAL_TOKEN_MIN 16      /* characters of the internal listener's token */
#define CONTROL_INTERNAL_TOKEN_MAX 4096
#define CONTROL_DEFAULT_MAX_RUNNERS 16
#define CONTROL_DEFAULT_CANCEL_GRACE_MS 3000
#define CONTROL_DEFAULT_RUNNER_GRACE_S 300
#define CONTROL_MAX_HEADER (16u << 10)        /* HTTP headers incl. tokens */
#define CONTROL_DEFAULT_MAX_CONNECTIONS_PER_CLIENT 256
#define CONTROL_FD_RESERVE 64   /* descriptors kept from clients: files, pipes, outbound links */
#define CONTROL_SESSION_ID_BYTES 12           /* random bytes in a session id (24 hex) */
#define CONTROL_LOCAL_USER "local"
#define FIREBASE_UID_BUF 520               /* a uid is at most 128 characters of UTF-8 */

struct session;
struct viewer;
struct agent_link;
struct dispatcher;
struct token_keys;
struct retention;

struct control_config {
	char *listen_host;        /* address to bind */
	int port;                 /* 0 = kernel picks (see port_file) */
	int local_runners;        /* warm local agents (embedded default) */
	int max_runners;          /* most local agents at once */
	int external;             /* --dispatcher external */
	char *runner_token_file;  /* credential external agents present */
	char *runner_jwks_file;   /* cluster JWKS for runners' service-account tokens */
	char *runner_issuer;
	char *data_dir;
	char *config_file;
	char *session_secret_file;
	char *store_url;          /* --store: NULL or "memory", or redis://HOST:PORT[/DB] */
	char *store_password_file; /* Redis AUTH password */
	char *session_key_file;        /* ES256/RS256 private key PEM */
	char *session_key_id;
	char *session_previous_key_file; /* accepted, never used to sign */
	char *session_previous_key_id;
	char *session_signer;          /* kms:KEY_VERSION, or NULL for the key files */
	char *kms_endpoint;            /* Cloud KMS REST endpoint (tests), NULL: Google's */
	char *agent_path;         /* runwire-agent binary for local runners */
	char *port_file;          /* write the bound port here once listening */
	char *public_url;         /* how agents reach us (default ws://listen/agent) */
	char *advertise_url;      /* --advertise-url: ws[s]:// where external agents reach this
				   * replica itself (agent_redirect.h), or NULL: no redirects */
	size_t scrollback;
	int64_t retention_s;      /* ended sessions are deleted after this long */
	uint64_t max_data_bytes;  /* the data directory is kept below this, oldest first */
	int cancel_grace_ms;
	int runner_grace_s;       /* an external agent may reconnect this long */
	int max_connections;      /* client connections at once; 0 = descriptor limit - reserve */
	int max_connections_per_client; /* from one address at once; 0 = unlimited, -1 = default */
	json_t *file;             /* parsed --config, or NULL */
	char *firebase_project;   /* user sign-in with Firebase ID tokens, or NULL */
	char *firebase_certs_url;
	char *firebase_emulator;  /* HOST:PORT of the Auth emulator (development only) */
	char *firebase_api_key;
	char *firebase_auth_domain;
	char *audit_log;
	char *bwrap;              /* bubblewrap for local runners' sandbox, NULL: from PATH */
	int unsafe_no_sandbox;    /* local sessions run unsandboxed (--unsafe-no-sandbox) */
	char *sandbox_ro;         /* DIR[:DIR...] read-only in local sessions' sandboxes */
	int warm_target;          /* idle runners /api/queue asks the fleet to keep (external) */
	char *internal_host;      /* --internal-listen: /api/queue and /metrics, or NULL */
	int internal_port;
	char *internal_token_file; /* bearer token the internal listener requires */
	char *runner_jwks_url;    /* cluster JWKS fetched and cached (instead of the file) */
	char *runner_jwks_ca_file; /* CA bundle for runner_jwks_url instead of the system's */
	int runner_jwks_refetch_s; /* an unknown kid refetches the JWKS at most this often */
};

struct control_metrics {
	uint64_t bytes_in;        /* output bytes received from agents */
	uint64_t bytes_out;       /* output bytes sent to viewers */
	uint64_t sessions_created;
	uint64_t auth_failures;
};

struct control {
	struct control_config cfg;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	/* SHA-256 of the internal listener's bearer token (the token itself is not kept);
	 * have_internal_token 0: none (a loopback-only internal listener) */
	uint8_t internal_token_hash[crypto_hash_sha256_BYTES];
	int have_internal_token;
	struct session *sessions;       /* all sessions, newest first */
	size_t n_sessions;
	struct session *waiting_head;   /* FIFO of sessions waiting for an agent */
	struct session *waiting_tail;
	struct agent_link *agents;      /* connected agents */
	struct dispatcher *disp;
	struct token_keys *keys;
	struct firebase_auth *fa;       /* NULL: the embedded default's single local user */
	char replica[33];               /* this replica's id among those sharing the store */
	struct store *store;            /* one-time token ids, rate limits, session records
					 * (store.h): this process's, or shared in Redis */
	int max_concurrent;             /* live sessions per user, 0 = unlimited */
	struct control_metrics m;
	struct retention *ret;          /* what keeps the data directory bounded */
	uint64_t data_bytes;            /* the data directory's session files (retention.c) */
	int stopping;
	lws_sorted_usec_list_t sul_tick;
};

/* ---- session.c ---- */

enum session_state {
	SESSION_WAITING = 0,   /* no agent yet */
	SESSION_STARTING,      /* assigned to an agent, command not started yet */
	SESSION_RUNNING,
	SESSION_EXITED,        /* the command ended (exit code or signal) */
	SESSION_FAILED,        /* the runner failed or was lost (see reason) */
	SESSION_CANCELLED,
};

#define SESSION_MAX_PENDING_INPUT (64u << 10) /* input held until an agent runs it */
/* The reason a session cancelled while running ends with (its state event and GET), so a
 * viewer can say why it stopped. */
#define SESSION_CANCEL_REASON "cancelled by its owner"
#define SESSION_MAX_COMMAND (64u << 10)
#define SESSION_MAX_ENV 64
#define SESSION_MAX_ENV_BYTES (32u << 10)

/* Which runner presented a credential: a local agent, a pod, or (neither) the shared
 * external runner token. */
struct agent_identity {
	int local;              /* spawned by this control */
	int agent_id;           /* local agent number, or 0 */
	char pod_uid[64];       /* external runner's pod, when it presented a service-account token */
};

/* What a session's record in a shared store last said (fleet.c's alone). */
struct session_published {
	unsigned gen;                   /* 0: never put */
	int state, have_exit;
	uint64_t bytes;
	size_t viewers;
	int64_t at_ms;
	/* its stream in the shared store, for viewers on other replicas */
	uint64_t out;                   /* next output offset to publish */
	size_t events;                  /* events published */
	uint64_t entries;               /* entries published (the last entry's number) */
	int exit_sent, stream_gen;
	/* what the store has confirmed holding: the agent is acknowledged only this far, so
	 * that a replica taking the session over has every byte the agent let go of */
	uint64_t confirmed;             /* the last confirmed entry's number */
	uint64_t confirmed_out;         /* output below this offset */
	size_t confirmed_events;
	int exit_confirmed;             /* the 'x' entry */
	int moved;                      /* another replica claimed the session (the store
					 * refused a put): this copy is left behind */
	int64_t reader_floor;           /* the lowest offset its live viewers on other
					 * replicas have read to, as last asked; -1: none */
	int readers_asking;             /* store_readers_min in flight */
};

struct session {
	struct session *next, *prev;    /* control->sessions */
	struct session *wait_next;      /* control->waiting_* */
	int waiting;
	char id[2 * CONTROL_SESSION_ID_BYTES + 1];
	char owner[129];
	enum session_state state;
	char *command;
	uint16_t cols, rows;
	json_t *env;
	json_t *bundle;                 /* {"url","sha256"} or NULL */
	char *install;                  /* or NULL */
	int trusted;                    /* from an operator's template */
	char *template_name;            /* or NULL */
	json_t *sandbox;                /* ASSIGN's "sandbox" (template's network, limits) or NULL */
	json_t *secrets;                /* ASSIGN's "secrets" until it is queued, then NULL: wiped
					 * (text_secrets_wipe), never logged or shown */
	json_t *request;                /* while it waits: its creation request, which another
					 * replica resolves again if this one dies first
					 * (fleet_takeover.c); NULL when it had secrets or was
					 * over HTTP_MAX_KEPT_REQUEST */
	int64_t created_ms, started_ms, ended_ms;
	char *reason;                   /* why it failed, for people */
	struct stream stream;           /* output (log, cache, digest) and events */
	int have_exit;
	struct proto_exit exit;
	int digest_ok;                  /* agent's digest matched control's */
	struct agent_link *agent;
	struct viewer *viewers;
	size_t n_viewers;
	uint8_t *pending_input;         /* input before an agent runs the session */
	size_t pending_input_len;
	int cancel_requested;
	char resume_key[65];            /* lets the session's agent reconnect and resume */
	int runner_id;                  /* local agent number running it, 0 if external */
	struct agent_identity holder;   /* the runner it was assigned to: the only one that
					 * may resume it (with resume_key) */
	int64_t lost_since_ms;          /* agent link down since (external runners) */
	lws_sorted_usec_list_t sul_cancel;
	struct session_published published; /* its record in a shared store (fleet.c) */
	int input_taking;               /* a take of its input from the store is in flight */
	int adopting;                   /* being rebuilt from the store (fleet_adopt) */
	uint64_t input_applied;         /* the number of the last entry of its input from the
					 * store this replica applied (or dropped): takes read
					 * after it, and entries up to it are skipped (fleet.c) */
	struct recording *rec;          /* asciicast v2 file while live; NULL when closed */
	uint64_t rec_bytes;             /* size of the recording file once closed */
	struct control *ctl;
};

/* Creates a waiting session owned by `owner` from a resolved request; takes what `spec`
 * owns (the spec is emptied). NULL on ENOMEM. */
struct session *session_new(struct control *ctl, const char *owner, struct session_spec *spec,
			    uint16_t cols, uint16_t rows);
/* Looks up by id; NULL when absent, being taken over, or left behind by a move (the store
 * knows it then). Ownership checks are the caller's. */
struct session *session_find(struct control *ctl, const char *id);
/* Looks up by id whatever its state here (fleet_takeover.c: a takeover in progress). */
struct session *session_find_any(struct control *ctl, const char *id);
/* Makes a session that another replica held (its record's "view", owned by `owner`) with an
 * empty stream. With `spec` NULL a live, assigned one without an agent yet, not queued,
 * `adopting` until the caller has filled its stream (fleet_adopt); with `spec` (what its
 * request resolves to here; taken) a waiting one, queued (fleet_takeover.c). NULL on
 * ENOMEM, a view in no such state, or when its log cannot be created. */
struct session *session_adopt(struct control *ctl, const char *id, const char *owner,
			      json_t *view, struct session_spec *spec);
/* Moves to a new state, stamps times, tells viewers. */
void session_set_state(struct session *s, enum session_state st, const char *reason);
const char *session_state_name(enum session_state st);
int session_is_final(const struct session *s);
/* JSON view for the API (new reference). */
json_t *session_to_json(const struct session *s);
/* Where sessions' logs live: <data-dir>/sessions (in a static buffer). */
const char *session_dir(const struct control *ctl);
/* Path of the session's recording (in a static buffer). */
const char *session_recording_path(const struct session *s);
/* Puts a waiting session at the tail of the waiting queue (a no-op when it is queued or no
 * longer waiting): session_new does, and so does the HTTP API for a session it held out of
 * the queue until its token was signed. */
void session_enqueue(struct session *s);
/* Removes from the waiting queue if queued. */
void session_unqueue(struct session *s);
/* Pops the oldest waiting session, or NULL. */
struct session *session_pop_waiting(struct control *ctl);
size_t session_count_waiting(const struct control *ctl);
/* Cancels: waiting -> cancelled now; running -> SIGHUP, then SIGKILL after the grace. */
void session_cancel(struct session *s);
/* A viewer left: a session that has ended and that nobody watches gives back its memory
 * (scrollback cache, events); its log and recording stay on disk for later viewers. */
void session_viewer_left(struct session *s);
/* Bytes the session holds in the data directory (log, events, recording). */
uint64_t session_disk_bytes(const struct session *s);
/* Deletes an ended session: its files, then the session itself. RW_ESTATE while it is live
 * or its agent's link is still open (the link points at it). */
int session_delete(struct session *s);
/* Frees every session (at shutdown); their files stay. */
void session_free_all(struct control *ctl);

/* ---- relay.c ---- */

extern const struct lws_protocols relay_protocol;
/* Output from the agent: appended to the scrollback and the digest, viewers woken.
 * Returns RW_EPROTO when `offset` is not the session's current end. */
int relay_output(struct session *s, uint64_t offset, const uint8_t *data, size_t len);
/* An event for viewers, placed at the current end of the output. Takes ownership of `ev`. */
void relay_event(struct session *s, json_t *ev);
/* The session's state changed, or it ended: viewers are told. */
void relay_wake_all(struct session *s);
/* Detaches every viewer (session being freed). */
void relay_detach_all(struct session *s);
/* Closes every viewer with ERROR `why` (retryable): they reconnect and find the session
 * where the store says it is. */
void relay_close_all(struct session *s, const char *why);
/* Applies a writer's INPUT, RESIZE or SIGNAL frame to `s` (its agent's, or input held until
 * one runs it), whichever replica the writer is attached through. 0, or RW_ETOOBIG when the
 * input backlog is full (the frame is not applied), RW_ENOMEM. */
int relay_apply(struct session *s, const struct proto_frame *f);

/* ---- agent_link.c ---- */

extern const struct lws_protocols agent_link_protocol;
/* Hands a waiting session to an idle agent. */
void agent_link_assign(struct agent_link *l, struct session *s);
/* Frames for the session's agent; dropped when it has none (input is held by the caller). */
int agent_link_send_input(struct agent_link *l, const uint8_t *data, size_t len);
int agent_link_send_resize(struct agent_link *l, uint16_t cols, uint16_t rows);
int agent_link_send_signal(struct agent_link *l, int signo);
/* The store confirmed more of the session's output: its agent may be acknowledged further. */
void agent_link_store_caught_up(struct agent_link *l);
/* Sends the agent away from its session (ERROR `why`, retryable, then the close): another
 * replica holds the session now; the agent resumes there. */
void agent_link_send_away(struct agent_link *l, const char *why);
/* Bytes of frames the link can still queue before it refuses input. */
size_t agent_link_room(const struct agent_link *l);
/* Idle agents waiting for a session. */
struct agent_link *agent_link_pop_idle(struct control *ctl);
size_t agent_link_count(const struct control *ctl, int idle_only);
/* From control's tick: idle external agents held here a while go where sessions wait
 * (agent_redirect.h). Does nothing without --advertise-url. */
void agent_link_redirect_idle(struct control *ctl);
/* The agent process behind a local link exited: fail its session now. */
void agent_link_runner_gone(struct control *ctl, int agent_id, const char *why);

/* ---- dispatcher.c ---- */

struct dispatcher *dispatcher_new(struct control *ctl);
void dispatcher_free(struct dispatcher *d);
/* Checks an agent's credential; a local ticket is consumed. 0, RW_EAUTH, or RW_EAGAIN when
 * it cannot be checked yet (a fetched JWKS without its kid: the agent should retry). */
int dispatcher_authenticate(struct dispatcher *d, const char *credential,
			    struct agent_identity *who);
/* Checks, without consuming anything, that `credential` is still valid and belongs to the
 * runner `holder` (a session's assignee, for its resume): the same local agent's ticket, a
 * valid service-account token naming the same pod, or the shared runner token when that is
 * what the holder presented. 0 or RW_EAUTH. */
int dispatcher_check_holder(struct dispatcher *d, const char *credential,
			    const struct agent_identity *holder);
/* Gives back what authenticating `who` consumed (an external pod's one claim), for an agent
 * that leaves this replica without a session (a redirect). */
void dispatcher_release(struct dispatcher *d, const struct agent_identity *who);
/* Pairs waiting sessions with idle agents and spawns local agents as needed. */
void dispatcher_run(struct control *ctl);
/* Called from control's periodic tick: reaps local agents, keeps the pool warm. */
void dispatcher_tick(struct control *ctl);
/* Local agents alive (spawned, not reaped). */
size_t dispatcher_local_count(const struct dispatcher *d);

/* ---- session_token.c ---- */

#define TOKEN_TTL_S 600
#define TOKEN_MAX_LEN 4096

enum token_role { TOKEN_ROLE_WRITER = 0, TOKEN_ROLE_VIEWER };

struct token_claims {
	char sub[129];
	char sid[2 * CONTROL_SESSION_ID_BYTES + 1];
	char jti[65];
	enum token_role role;
	int64_t exp;
};

/* Loads the signing keys the config names: an HS256 secret (at least 32 bytes) from
 * session_secret_file, or an ES256/RS256 private key with its kid (and optionally the
 * previous key, verify only, during a rollover); or generates a secret. NULL with `err`. */
struct token_keys *token_keys_new(const struct control_config *cfg, char *err, size_t errlen);
void token_keys_free(struct token_keys *k);
/* Mints a session token (caller frees). NULL on failure, and always when token_keys_async. */
char *token_mint(struct token_keys *k, const char *sub, const char *sid, enum token_role role);
/* Asynchronous minting, for a signer that is not in this process (Cloud KMS). `done` is
 * called on the loop from token_keys_deliver with the token (borrowed) or a reason, or from
 * token_keys_free with "control is stopping". */
typedef void (*token_done_fn)(void *arg, const char *token, const char *err);
int token_keys_async(const struct token_keys *k);
/* RW_OK: `done` will be called; RW_ELIMIT (too many waiting) or RW_ENOMEM: it will not. */
int token_mint_async(struct token_keys *k, const char *sub, const char *sid, enum token_role role,
		     token_done_fn done, void *arg);
/* Runs the callbacks of finished asynchronous mints (the loop, after a wake). */
void token_keys_deliver(struct token_keys *k);
/* Stops an asynchronous signer (before the loop's context goes): mints still waiting get
 * their callbacks with "control is stopping"; verification goes on working. */
void token_keys_stop(struct token_keys *k);
/* `wake` is called from another thread when a mint finished (control: lws_cancel_service). */
void token_keys_set_wake(struct token_keys *k, void (*wake)(void *), void *arg);
/* RW_OK when tokens can be verified; RW_EAGAIN with a reason while a KMS public key is
 * not loaded yet (/readyz). */
int token_keys_ready(struct token_keys *k, char *reason, size_t reasonlen);
/* Verifies signature, algorithm, expiry and shape; does not consume. 0 or RW_EAUTH with
 * `reason` set. */
int token_verify(struct token_keys *k, const char *token, struct token_claims *out,
		 char *reason, size_t reasonlen);
/* A token's jti is consumed once through the store (store_once): shared by replicas. */

/* ---- http_api.c ---- */

extern const struct lws_protocols http_api_protocol;

/* ---- scrape.c ---- */

/* What /api/queue answers (docs/operations.md, "Runners at scale"): sessions waiting, agents
 * connected and idle, the warm pool asked for, and demand = max(0, waiting + warm_target -
 * idle_agents), the runners a scaler should start now; the fleet's figures with a shared
 * store. A new reference. */
json_t *scrape_queue(struct control *ctl);
/* The Prometheus text of /metrics (malloc'd, its length in *len), or NULL out of memory. */
char *scrape_metrics_text(struct control *ctl, size_t *len);
/* Reads --internal-token-file (CONTROL_INTERNAL_TOKEN_MIN..MAX characters) and keeps only its
 * SHA-256 in ctl; without the file (a loopback-only internal listener) no token is asked.
 * 0 or RW_EINVAL with a message printed. */
int scrape_token_load(struct control *ctl);
/* Whether a request on the internal listener carries "Authorization: Bearer <the token>". */
int scrape_authorized(struct control *ctl, struct lws *wsi);

/* ---- listener.c ---- */

extern const struct lws_protocols listener_protocol;
/* Binds cfg.listen_host:cfg.port (0 picks a port, written back to cfg.port), and
 * cfg.internal_host:internal_port when set (the same), and serves them from the loop.
 * Loads the internal token first. 0 or RW_E... with a message printed. */
int listener_start(struct control *ctl);
void listener_stop(void);
/* Whether the connection came in on --internal-listen's socket (by its local address: lws
 * would move a connection adopted on a second vhost back to the first by its Host header). */
int listener_is_internal(struct lws *wsi);
/* Every connection lws held ends here (LWS_CALLBACK_WSI_DESTROY, which lws sends to the
 * vhost's first protocol): its client address's count drops. Others are ignored. */
void listener_connection_closed(struct lws *wsi);
/* Answers a WebSocket upgrade that a FILTER_PROTOCOL_CONNECTION callback is refusing with
 * `status` and a one-line `reason`, before lws closes it (lws 4.1 itself only closes). The
 * connection is fresh, nothing of lws's is queued on it, so the few bytes go out as they
 * are. The caller still returns non-zero from the filter. */
void listener_refuse_upgrade(struct lws *wsi, int status, const char *reason);
#define LISTENER_BEARER_HEADER "x-runwire-bearer:"

/* ---- server.c ---- */

int server_start(struct control *ctl);
void server_run(struct control *ctl);
void server_stop(struct control *ctl);
/* What the browser page needs to sign in: {"mode":"local"} or the Firebase web config. */
json_t *server_auth_config(struct control *ctl);
/* Authenticates an API request: fills `user` (the Firebase uid, or the local user).
 * Returns 0, RW_EAUTH (401) or RW_EAGAIN (503) with `reason` and *retry_after_s set. The
 * caller counts failures against the per-address limit (STORE_LIMIT_AUTHFAIL). */
int server_authenticate(struct control *ctl, struct lws *wsi, char *user, size_t userlen,
			char *reason, size_t reasonlen, int *retry_after_s);
const char *server_client_addr(struct lws *wsi, char *buf, size_t len);

/* ---- config.c ---- */

/* Fills cfg from defaults, RUNWIRE_* environment, --config file and flags (in that order
 * of increasing precedence). 0, or 1 after --help, or RW_EINVAL with a message printed. */
int config_load(struct control_config *cfg, int argc, char **argv);
void config_release(struct control_config *cfg);

#endif
