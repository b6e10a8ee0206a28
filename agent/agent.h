/* agent.h: runwire-agent's state, shared by its uplink (agent/uplink.c) and its session
 * runner (agent/runner.c). One agent claims one session, runs it and exits (DESIGN.md:
 * pull, not push). Everything happens on one libwebsockets event loop.
 */
#ifndef RW_AGENT_H
#define RW_AGENT_H

#include <stdint.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "agent/pty_proc.h"
#include "agent/sandbox.h"
#include "common/bytering.h"
#include "common/proto.h"
#include "common/sha256.h"

#define AGENT_PROTOCOL "runwire.agent.v1"
#define AGENT_DEFAULT_WINDOW (8u << 20)      /* unacknowledged output kept for resends */
#define AGENT_MIN_WINDOW (4u << 10)
#define AGENT_MAX_WINDOW (1u << 30)
#define AGENT_DEFAULT_GRACE_S 300            /* control unreachable this long: give up */
#define AGENT_MAX_IDLE_EXIT_S (7 * 86400)    /* --idle-exit */
#define AGENT_READ_CHUNK (64u << 10)         /* one pty read */
#define AGENT_SEND_CHUNK (256u << 10)        /* output bytes in one OUTPUT frame */
#define AGENT_MAX_EVENT_LINE (16u << 10)     /* one JSON line from RUNWIRE_EVENTS_FD */
#define AGENT_MAX_QUEUED (1u << 20)          /* control frames waiting for the link */
#define AGENT_MAX_CONTROL_URLS 8            /* endpoints in --control URL[,URL...] */
#define AGENT_MAX_URL 512                    /* bytes of one control URL, or a redirect's */
#define AGENT_MAX_REDIRECTS 3                /* redirects followed before a session; past it the
					      * agent stays where it is (docs/protocol.md) */
#define AGENT_MAX_TICKET 4096                /* runner credential's length */
#define AGENT_MAX_INPUT_BUF (1u << 20)       /* input waiting for the pty */
#define AGENT_PTY_DRAIN_SLACK (1u << 20)     /* output read past a full window at pty close */
#define AGENT_DRAIN_MS 2000                  /* after the child exits, wait this long for EOF */
#define AGENT_TICK_MS 20                     /* child reaping and timers */
#define AGENT_EVENTS_FD 3                    /* the fd number a CLI writes its stage events to */
#define AGENT_EXIT_PREPARE_FAILED 125        /* exit code of a session whose bundle could not be
					      * fetched, verified or unpacked (docker run's 125:
					      * the runner failed before the command) */

struct agent_frame {
	struct agent_frame *next;
	size_t len;          /* frame bytes at buf + LWS_PRE */
	uint8_t buf[];
};

struct agent_config {
	char *control_url;   /* ws[s]://host:port/agent[,ws[s]://...] as given (--control) */
	char *ticket;        /* runner credential, never logged, never given to the child */
	char *token_file;    /* where it came from, re-read before a resume, or NULL */
	char *work_root;     /* sessions run in work_root/<sessionId> */
	char *ca_file;       /* extra CA for wss and bundle downloads (tests, private deployments) */
	char *cache_dir;     /* unpacked bundles by digest (bundle_cache), NULL = none */
	size_t window;
	int grace_s;
	int keep_work;       /* keep the work directory after the session */
	int sandbox;         /* run each phase in bubblewrap (sandbox.h); fail closed */
	char *bwrap;         /* bwrap binary, NULL: "bwrap" from PATH */
	const char *sandbox_ro[SANDBOX_MAX_RO_DIRS];   /* --sandbox-ro DIR (argv strings) */
	size_t n_sandbox_ro;
	char *ready_file;    /* present while control counts this agent (--ready-file), or NULL */
	int idle_exit_s;     /* leave after this long accepted with no session; 0: never */
	int run_as;          /* the CLI runs as run_uid/run_gid (--run-as USER) */
	uid_t run_uid;
	gid_t run_gid;
};

/* Where a session is: a bundle session goes PREPARE -> INSTALL (when it has one) -> RUN. */
enum agent_phase {
	AGENT_PHASE_NONE = 0,   /* no session yet */
	AGENT_PHASE_PREPARE,    /* bundle worker running (fetch, verify, unpack) */
	AGENT_PHASE_INSTALL,    /* the install command under the pty */
	AGENT_PHASE_RUN,        /* the command under the pty */
};

struct prepare;

struct agent {
	struct agent_config cfg;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int done;            /* leave the loop */
	bool stopping;       /* uplink_release ran: a closing link schedules no retry */
	int exit_status;     /* process exit status of the agent */

	/* uplink */
	char *urls[AGENT_MAX_CONTROL_URLS];  /* --control's endpoints, tried in turn (owned) */
	size_t n_urls, url_index;     /* the one dialled next, unless a redirect is pending */
	char redirect_url[AGENT_MAX_URL + 1]; /* a redirect's target: dialled next and kept while
				       * its link holds a session; "" when none */
	int redirect_pending;         /* the link closes because of a redirect: dial at once */
	int redirects;                /* redirects followed (AGENT_MAX_REDIRECTS) */
	int stay;                     /* a redirect was refused: dial the same endpoint again */
	int tls_ready;                /* OpenSSL initialised (some --control URL is wss) */
	char host[256], path[AGENT_MAX_URL + 1];
	int port, tls;
	struct lws *ws;
	int connected;
	int attempts;
	int64_t down_since_us;        /* link down since, 0 while up */
	lws_sorted_usec_list_t sul_retry;
	lws_sorted_usec_list_t sul_connect;   /* a connection attempt's deadline */
	struct proto_reader rd;
	struct agent_frame *q_head, *q_tail;
	size_t q_bytes;
	int resume_pending;           /* output waits for control's resume offset */
	int accepted;                 /* control answered this link's HELLO: counted as idle */
	int leaving;                  /* HELLO {"leave":true} sent (--idle-exit): exit on close */
	int ready;                    /* the ready file exists */
	lws_sorted_usec_list_t sul_idle;  /* --idle-exit's deadline */
	uint64_t acked;               /* control holds every byte below this */

	/* session */
	int have_session;
	char sid[64];
	char resume_key[65];          /* from ASSIGN: proves this agent runs the session */
	char work_dir[4096];
	char run_dir[4096];           /* the child's cwd: work_dir, or the unpacked bundle in it */
	enum agent_phase phase;
	struct prepare *prep;         /* the bundle worker during AGENT_PHASE_PREPARE */
	char *command, *install;      /* kept from ASSIGN for the phases after PREPARE */
	json_t *env;                  /* ASSIGN's "env" (owned) */
	json_t *secrets;              /* ASSIGN's "secrets" (owned) until the command spawns, then
				       * wiped: only the command's environment gets them, never a
				       * log line or the install */
	uint16_t cols, rows;          /* the size for the next pty (follows RESIZE) */
	int ev_write_fd;              /* events pipe, write end, kept until the last phase spawns */
	int cancel_signo;             /* a terminating SIGNAL that arrived with no child to get it */
	int next_phase_due;           /* the next phase starts from the tick (install succeeded,
				       * or the bundle is ready) */
	struct pty_proc proc;
	struct sandbox sb;            /* the session's sandbox (cfg.sandbox) */
	int sb_ready;                 /* sandbox_setup done: release it at the end */
	struct lws *pty_wsi, *ev_wsi;
	int ev_read_fd;
	struct bytering window;       /* output bytes not yet acknowledged */
	uint64_t sent;                /* next offset to send */
	struct rw_sha256 sha;
	int pty_paused, pty_eof;
	int64_t child_exit_us;        /* when the child was reaped */
	int killed_stragglers;
	int exit_ready, exit_sent;
	struct proto_exit exit;
	uint8_t *input;               /* bytes waiting for the pty */
	size_t input_len;
	char evline[AGENT_MAX_EVENT_LINE + 1];
	size_t evline_len;
	int evline_overflow;
	lws_sorted_usec_list_t sul_tick;
};

/* uplink.c */
int uplink_start(struct agent *a);
/* Queues a control frame (takes ownership of `f`) and asks for a writeable callback. */
void uplink_queue(struct agent *a, struct agent_frame *f);
/* Queues a JSON frame; 0 or RW_ENOMEM / RW_ETOOBIG. */
int uplink_queue_json(struct agent *a, enum proto_type type, json_t *obj);
void uplink_want_write(struct agent *a);
void uplink_release(struct agent *a);
/* The ready file (--ready-file) follows whether control counts this agent: made (written
 * beside it, then renamed: a probe never sees half a file) once control has accepted the
 * link's HELLO, and kept while the agent holds a session, link up or down (a busy runner
 * must not look like a pending one to a scaler, docs/operations.md); removed when the link
 * of an agent without a session goes down, and at exit. */
void uplink_set_ready(struct agent *a, int ready);

/* runner.c */
extern const struct lws_protocols runner_protocols[2];
/* Starts the session described by an ASSIGN object. 0 or RW_E... with a stage event sent. */
int runner_start(struct agent *a, json_t *assign);
/* Frames from control for the session. */
void runner_on_ack(struct agent *a, uint64_t offset);
void runner_on_input(struct agent *a, const uint8_t *data, size_t len);
void runner_on_resize(struct agent *a, uint16_t cols, uint16_t rows);
void runner_on_signal(struct agent *a, int signo);
/* Sends what may be sent on the writeable link: returns 1 if it wrote a frame. */
int runner_write_output(struct agent *a, struct lws *wsi);
/* Called when the link stays down past the grace period: ends the process group. */
void runner_abandon(struct agent *a);
void runner_release(struct agent *a);
/* Emits a stage event from the agent itself. */
void runner_stage(struct agent *a, const char *stage, const char *state, const char *reason);
/* On the loop's thread after lws_cancel_service() (LWS_CALLBACK_EVENT_WAIT_CANCELLED): takes
 * the bundle worker's stage events and, once it finished, starts install or run, or ends the
 * session. */
void runner_on_wake(struct agent *a);
/* Cancels and joins the bundle worker, if one runs. Call before the loop's context goes: the
 * worker wakes the loop through it. */
void runner_stop_worker(struct agent *a);

/* The child's environment, built from nothing (no credential or control URL can leak): PATH,
 * HOME=`home`, TERM, LANG, USER, RUNWIRE_SESSION_ID=`sid`, RUNWIRE_EVENTS_FD, the string
 * members of `extra` (may be NULL) with valid names, and those of `secrets` (may be NULL),
 * which replace a member of `extra` of the same name. Returns a NULL-terminated array the
 * caller frees with runner_free_env() (which wipes it), or NULL. */
char **runner_child_env(const char *home, const char *sid, json_t *extra, json_t *secrets);
void runner_free_env(char **env);

/* standalone.c: `runwire-agent run ...` (argv[0] is "run"): the bundle pipeline and the
 * command in this terminal, no control. Returns the process exit status. */
int standalone_main(int argc, char **argv);

#endif
