/* runner.c: runs the claimed session: the CLI under a pty whose master fd joins the agent's
 * event loop, the window of output control has not acknowledged, and the stage events a CLI
 * writes to RUNWIRE_EVENTS_FD.
 *
 * A session with a bundle goes through phases (agent.h): PREPARE (bundle_prepare on a worker
 * thread, prepare.c, its stage events forwarded from runner_on_wake), INSTALL (the install
 * command under a pty) and RUN (the command under a fresh pty). Both children write into one
 * output stream: the same offsets, window and SHA-256, so the EXIT digest covers install and
 * run. A phase that fails ends the session: a bundle with AGENT_EXIT_PREPARE_FAILED, install
 * with its own exit code (the command never runs).
 *
 * Backpressure, not loss: when the window is full the pty is no longer read, so the CLI
 * blocks on write. The session ends when the child has exited and the pty is drained; the
 * EXIT frame (total bytes, SHA-256) goes after the last output byte, and the agent leaves
 * once control acknowledges everything.
 */
#include "agent/agent.h"
#include "agent/prepare.h"
#include "common/log.h"
#include "common/rw.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUNNER_MAX_ENV 128            /* environment entries given to the child */
/* Output read per loop wake-up. A pty master read returns at most the line discipline's
 * 4 KiB buffer, so a cap of a few reads (16 KiB) made each wake-up, OUTPUT frame and ACK
 * carry 16 KiB: per-frame costs then dominated in the agent and in control. A budget as
 * large as one frame still takes well under a millisecond, so input stays snappy. */
#define RUNNER_READ_BUDGET AGENT_SEND_CHUNK
/* While the link is up the pty is read at most this far ahead of what went out on it:
 * reading further would not make the stream faster (the link is the bottleneck then), only
 * grow the window's storage, i.e. the agent's memory. While the link is down the whole
 * window fills, so the program runs on through a short outage. */
#define RUNNER_READ_AHEAD (2 * AGENT_SEND_CHUNK)
/* While the link is up the window holds at most this much, read-ahead included: enough in
 * flight for speed x round trip between a runner and its control (1 MiB is 100 MiB/s at
 * 10 ms; a pty gives under 100 MiB/s), and a ring that never grows past it keeps the agent's
 * own memory near 3 MiB. The whole window (--window) is for outages, when it lets the
 * program run on. */
#define RUNNER_LIVE_WINDOW (1u << 20)

static uint8_t *send_buf;             /* LWS_PRE + OUTPUT prefix + AGENT_SEND_CHUNK */

void runner_stage(struct agent *a, const char *stage, const char *state, const char *reason)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "stage", "stage", stage, "state",
			       state, "source", "agent");

	if (reason)
		json_object_set_new(ev, "reason", json_string(reason));
	uplink_queue_json(a, PROTO_EVENT, ev);
	json_decref(ev);
}

static void schedule_tick(struct agent *a);

/* The session is over: EXIT (with what a->proc says) goes after the last output byte. */
static void set_exit(struct agent *a)
{
	pty_proc_exit_info(&a->proc, &a->exit.code, &a->exit.signo);
	a->exit.total = a->window.end;
	rw_sha256_final(&a->sha, a->exit.sha256);
	a->exit_ready = 1;
	log_info("session_exited", "{s:s, s:i, s:i, s:I}", "session", a->sid, "code",
		 a->exit.code, "signal", a->exit.signo, "bytes", (json_int_t)a->exit.total);
	uplink_want_write(a);
}

/* Ends a session before (or between) its children: `status` as waitpid reports it. The
 * stage event that says why has already gone out. */
static void end_early(struct agent *a, int status)
{
	a->proc.exited = 1;
	a->proc.status = status;
	a->pty_eof = 1;
	a->next_phase_due = 0;
	set_exit(a);
}

static void finish_if_done(struct agent *a)
{
	int32_t code;
	uint8_t signo;
	char why[64];

	if (a->exit_ready || a->next_phase_due || !a->proc.exited || !a->pty_eof)
		return;
	pty_proc_exit_info(&a->proc, &code, &signo);
	if (a->phase == AGENT_PHASE_INSTALL) {
		if (code == 0) {
			/* the tick starts the command: never adopt a new pty inside the old one's
			 * close callback */
			runner_stage(a, "install", "done", NULL);
			a->next_phase_due = 1;
			return;
		}
		if (signo)
			snprintf(why, sizeof(why), "install killed by signal %d", signo);
		else
			snprintf(why, sizeof(why), "install exited with code %d", code);
		runner_stage(a, "install", "failed", why);
	} else {
		runner_stage(a, "run", code == 0 ? "done" : "failed", NULL);
	}
	set_exit(a);
}

static int read_ahead_full(const struct agent *a)
{
	return a->connected && !a->resume_pending && a->window.end >= a->sent + RUNNER_READ_AHEAD;
}

/* How much more of the pty may be read now: the window's room, and while the link is up no
 * more than RUNNER_LIVE_WINDOW held in all (reads are sized by this, so the ring's storage
 * never grows past it while connected). */
static size_t read_room(const struct agent *a)
{
	size_t room = bytering_space(&a->window);
	size_t used = bytering_used(&a->window);

	if (a->connected && !a->resume_pending) {
		size_t live = used < RUNNER_LIVE_WINDOW ? RUNNER_LIVE_WINDOW - used : 0;
		if (live < room)
			room = live;
	}
	return room;
}

/* Reading stopped for a full window or read-ahead: start again once neither holds. */
static void resume_pty(struct agent *a)
{
	if (a->pty_paused && a->pty_wsi && read_room(a) && !read_ahead_full(a)) {
		a->pty_paused = 0;
		lws_rx_flow_control(a->pty_wsi, 1);
	}
}

/* Reads the pty while there is room (read_room). Returns -1 when the pty reached its end. */
static int read_pty(struct agent *a)
{
	uint8_t buf[AGENT_READ_CHUNK];
	size_t got = 0;

	while (got < RUNNER_READ_BUDGET) {
		size_t space = read_room(a);
		ssize_t n;

		if (!space || read_ahead_full(a)) {
			if (!a->pty_paused && a->pty_wsi) {
				lws_rx_flow_control(a->pty_wsi, 0);
				a->pty_paused = 1;
				if (!bytering_space(&a->window))
					log_debug("window_full", "{s:I}", "acked",
						  (json_int_t)a->window.start);
			}
			return 0;
		}
		n = read(a->proc.master, buf, space < sizeof(buf) ? space : sizeof(buf));
		if (n > 0) {
			bytering_append(&a->window, buf, (size_t)n);
			rw_sha256_update(&a->sha, buf, (size_t)n);
			uplink_want_write(a);
			got += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1; /* EIO: every slave fd is closed */
	}
	return 0;
}

/* At close the window may be full: take what the pty still holds anyway (it is bounded by
 * the kernel's pty buffer), so nothing the CLI wrote is lost. */
static void drain_at_close(struct agent *a)
{
	uint8_t buf[AGENT_READ_CHUNK];
	size_t extra = 0;

	if (a->proc.master < 0)
		return;
	a->window.cap += AGENT_PTY_DRAIN_SLACK;
	for (;;) {
		ssize_t n = read(a->proc.master, buf, sizeof(buf));
		if (n <= 0 || extra + (size_t)n > AGENT_PTY_DRAIN_SLACK)
			break;
		bytering_append(&a->window, buf, (size_t)n);
		rw_sha256_update(&a->sha, buf, (size_t)n);
		extra += (size_t)n;
	}
	if (extra)
		uplink_want_write(a);
}

static int callback_pty(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			void *in, size_t len)
{
	struct agent *a = lws_context_user(lws_get_context(wsi));
	ssize_t n;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (read_pty(a) < 0)
			return -1;
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (!a->input_len)
			break;
		n = write(a->proc.master, a->input, a->input_len);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0) {
			memmove(a->input, a->input + n, a->input_len - (size_t)n);
			a->input_len -= (size_t)n;
		}
		if (a->input_len)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		drain_at_close(a);
		/* libwebsockets closes an adopted descriptor itself (strace: a second close here
		 * failed with EBADF, and could have closed a bundle worker's new fd of that number) */
		a->proc.master = -1;
		a->pty_wsi = NULL;
		a->pty_eof = 1;
		finish_if_done(a);
		break;
	default:
		break;
	}
	return 0;
}

/* One JSON line from the CLI's events fd becomes a stage event, or is dropped with a log. */
static void forward_cli_event(struct agent *a, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	const char *stage, *state;

	if (!j || !json_is_object(j)) {
		log_warn("cli_event_dropped", "{s:s}", "reason", "not a JSON object");
		goto out;
	}
	stage = json_string_value(json_object_get(j, "stage"));
	state = json_string_value(json_object_get(j, "state"));
	if (!stage || !*stage || !state ||
	    (strcmp(state, "running") && strcmp(state, "done") && strcmp(state, "failed") &&
	     strcmp(state, "skipped"))) {
		log_warn("cli_event_dropped", "{s:s}", "reason", "needs a stage and a known state");
		goto out;
	}
	json_object_set_new(j, "type", json_string("stage"));
	json_object_set_new(j, "source", json_string("cli"));
	uplink_queue_json(a, PROTO_EVENT, j);
out:
	json_decref(j);
}

static int callback_events(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct agent *a = lws_context_user(lws_get_context(wsi));
	char buf[4096];
	ssize_t n;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		n = read(a->ev_read_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0)
			return -1;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (!a->evline_overflow && a->evline_len)
					forward_cli_event(a, a->evline, a->evline_len);
				else if (a->evline_overflow)
					log_warn("cli_event_dropped", "{s:s, s:i}", "reason",
						 "line too long", "max", AGENT_MAX_EVENT_LINE);
				a->evline_len = 0;
				a->evline_overflow = 0;
			} else if (a->evline_len < AGENT_MAX_EVENT_LINE) {
				a->evline[a->evline_len++] = buf[i];
			} else {
				a->evline_overflow = 1;
			}
		}
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		a->ev_read_fd = -1;           /* closed by libwebsockets, as the pty's master */
		a->ev_wsi = NULL;
		break;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols runner_protocols[2] = {
	{ "rw-pty", callback_pty, 0, 0, 0, NULL, 0 },
	{ "rw-events", callback_events, 0, 0, 0, NULL, 0 },
};

static void start_next_phase(struct agent *a);

static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct agent *a = lws_container_of(sul, struct agent, sul_tick);
	int64_t now = rw_mono_us();

	if (a->next_phase_due) {
		a->next_phase_due = 0;
		start_next_phase(a);
		if (a->exit_ready)
			return;
		now = rw_mono_us();
	}
	if (!a->proc.exited && pty_proc_reap(&a->proc))
		a->child_exit_us = now;
	if (a->proc.exited && !a->pty_eof && now - a->child_exit_us > AGENT_DRAIN_MS * 1000) {
		if (!a->killed_stragglers) {
			/* Background processes still hold the terminal: the session is over. */
			log_info("ending_stragglers", "{s:s}", "session", a->sid);
			pty_proc_signal(&a->proc, SIGKILL);
			a->killed_stragglers = 1;
			a->child_exit_us = now;
		} else if (a->pty_wsi) {
			lws_set_timeout(a->pty_wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
		}
	}
	resume_pty(a);   /* after the link dropped, the whole window may fill */
	/* Input the pty refused (EAGAIN) waits for POLLOUT, which a pty master does not always
	 * signal once its slave's reader has made room: a large paste stalled with part of it
	 * here, for good. Looked at again every tick. */
	if (a->input_len && a->pty_wsi)
		lws_callback_on_writable(a->pty_wsi);
	finish_if_done(a);
	if (!a->exit_ready)
		schedule_tick(a);
}

static void schedule_tick(struct agent *a)
{
	lws_sul_schedule(a->ctx, 0, &a->sul_tick, on_tick, AGENT_TICK_MS * LWS_US_PER_MS);
}


char **runner_child_env(const char *home, const char *sid, json_t *extra, json_t *secrets)
{
	char **env = calloc(RUNNER_MAX_ENV + 1, sizeof(char *));
	struct passwd *pw = getpwuid(getuid());
	const char *lang = getenv("LANG");
	size_t n = 0;
	const char *k;
	json_t *v;

	if (!env)
		return NULL;
#define ENV_ADD(...) do { if (n < RUNNER_MAX_ENV && asprintf(&env[n], __VA_ARGS__) >= 0) n++; } while (0)
	ENV_ADD("PATH=/usr/local/bin:/usr/bin:/bin");
	ENV_ADD("HOME=%s", home);
	ENV_ADD("TERM=xterm-256color");
	ENV_ADD("COLORTERM=truecolor");
	ENV_ADD("LANG=%s", lang && *lang ? lang : "C.UTF-8");
	ENV_ADD("SHELL=/bin/sh");
	if (pw) {
		ENV_ADD("USER=%s", pw->pw_name);
		ENV_ADD("LOGNAME=%s", pw->pw_name);
	}
	ENV_ADD("RUNWIRE_SESSION_ID=%s", sid);
	ENV_ADD("RUNWIRE_EVENTS_FD=%d", AGENT_EVENTS_FD);
	json_object_foreach(extra, k, v) {
		if (json_is_string(v) && text_env_name_ok(k) && !json_object_get(secrets, k))
			ENV_ADD("%s=%s", k, json_string_value(v));
	}
	json_object_foreach(secrets, k, v) {
		if (json_is_string(v) && text_env_name_ok(k))
			ENV_ADD("%s=%s", k, json_string_value(v));
	}
#undef ENV_ADD
	return env;
}

void runner_free_env(char **env)
{
	for (char **e = env; e && *e; e++) {
		sodium_memzero(*e, strlen(*e));   /* it may hold a secret */
		free(*e);
	}
	free(env);
}

static int valid_sid(const char *sid)
{
	size_t n = strlen(sid);

	if (!n || n >= 64)
		return 0;
	return strspn(sid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* --run-as: the work directory (and the bundle unpacked into it) belongs to the CLI's uid. */
static uid_t give_uid;
static gid_t give_gid;

static int give_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (lchown(path, give_uid, give_gid) < 0)
		log_warn("run_as_chown_failed", "{s:s, s:s}", "path", path, "reason", strerror(errno));
	return 0;
}

static void runner_give_tree(const char *dir, uid_t uid, gid_t gid)
{
	give_uid = uid;
	give_gid = gid;
	nftw(dir, give_one, 16, FTW_PHYS);
}

/* Prepares the session's sandbox from ASSIGN's "sandbox" (the template's network and
 * limits): its cgroups, and the log line of what could not be applied here. */
static int start_sandbox(struct agent *a, json_t *assign, char *err, size_t errlen)
{
	struct sandbox_policy pol;
	json_t *notes = NULL;
	int r;

	sandbox_policy_init(&pol);
	r = sandbox_policy_from_json(json_object_get(assign, "sandbox"), &pol, err, errlen);
	if (r)
		return r;
	a->sb.run_as = a->cfg.run_as;
	a->sb.uid = a->cfg.run_uid;
	a->sb.gid = a->cfg.run_gid;
	memcpy(a->sb.ro_dirs, a->cfg.sandbox_ro, sizeof(a->sb.ro_dirs));
	a->sb.n_ro_dirs = a->cfg.n_sandbox_ro;
	r = sandbox_setup(&a->sb, a->cfg.bwrap, a->sid, &pol, &notes, err, errlen);
	a->sb_ready = 1;     /* released at the end even when set-up failed half-way */
	if (!r && json_array_size(notes))
		log_warn("sandbox_limits_not_applied", "{s:s, s:O}", "session", a->sid, "notes",
			 notes);
	log_info("sandbox", "{s:s, s:s, s:I, s:I, s:b, s:b}", "session", a->sid, "network",
		 pol.network == SANDBOX_NET_NONE ? "none" : "outbound", "processes",
		 (json_int_t)pol.processes, "memory", (json_int_t)pol.memory, "pids_cgroup",
		 a->sb.cg_pids[0] != 0, "memory_cgroup", a->sb.cg_mem[0] != 0);
	json_decref(notes);
	if (r)
		a->sb_ready = 0, sandbox_release(&a->sb);
	return r;
}

/* Spawns `argv` for the phase under a fresh pty in run_dir. The events pipe is made once
 * and lives across phases: the agent keeps its write end until the last phase has spawned,
 * so its reader sees EOF only when the command's process tree is done with it. */
static int spawn_phase_argv(struct agent *a, enum agent_phase phase, const char *const *argv,
			    char *err, size_t errlen)
{
	const char *stage = phase == AGENT_PHASE_INSTALL ? "install" : "run";
	lws_sock_file_fd_type fd;
	char **env;
	int evp[2], r;

	a->phase = phase;
	if (a->ev_read_fd < 0) {
		if (pipe2(evp, O_CLOEXEC | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			return RW_EIO;
		}
		/* the child's end blocks as an ordinary fd would */
		fcntl(evp[1], F_SETFL, fcntl(evp[1], F_GETFL) & ~O_NONBLOCK);
		a->ev_read_fd = evp[0];
		a->ev_write_fd = evp[1];
		fd.filefd = evp[0];
		a->ev_wsi = lws_adopt_descriptor_vhost(a->vh, LWS_ADOPT_RAW_FILE_DESC, fd,
						       "rw-events", NULL);
		if (!a->ev_wsi) {
			snprintf(err, errlen, "cannot watch the events pipe");
			return RW_EIO;
		}
	}
	env = runner_child_env(a->work_dir, a->sid, a->env,
			       phase == AGENT_PHASE_RUN ? a->secrets : NULL);
	if (!env) {
		snprintf(err, errlen, "out of memory");
		return RW_ENOMEM;
	}
	struct pty_spawn_opts o = {
		.argv = argv, .envp = (const char *const *)env, .cwd = a->run_dir,
		.cols = a->cols, .rows = a->rows,
		.events_fd = a->ev_write_fd, .events_fd_child = AGENT_EVENTS_FD,
	};
	if (a->sb_ready) {
		/* the bundle is the install's to prepare, read-only to the command */
		bool has_bundle = strcmp(a->run_dir, a->work_dir) != 0;

		r = sandbox_argv(&a->sb, a->work_dir, has_bundle ? a->run_dir : NULL,
				 phase == AGENT_PHASE_INSTALL || a->sb.policy.bundle_writable,
				 a->run_dir, argv);
		if (r) {
			snprintf(err, errlen, "cannot build the sandbox's command line");
			runner_free_env(env);
			return r;
		}
		if (a->cfg.run_as)
			runner_give_tree(a->work_dir, a->cfg.run_uid, a->cfg.run_gid);
		o.sandbox = &a->sb;
	}
	runner_stage(a, stage, "running", NULL);
	r = pty_proc_spawn(&a->proc, &o, err, errlen);
	runner_free_env(env);
	if (phase == AGENT_PHASE_RUN) {
		text_secrets_wipe(a->secrets);   /* the command has them; no one else needs them */
		a->secrets = NULL;
	}
	if (phase == AGENT_PHASE_RUN && a->ev_write_fd >= 0) {
		close(a->ev_write_fd);
		a->ev_write_fd = -1;
	}
	if (r)
		return r;
	a->pty_eof = 0;
	a->pty_paused = 0;
	a->killed_stragglers = 0;
	a->child_exit_us = 0;
	/* install's close may have grown the window by the drain slack: give it back as soon
	 * as what is held allows */
	if (a->window.cap > a->cfg.window)
		a->window.cap = bytering_used(&a->window) > a->cfg.window ?
					bytering_used(&a->window) : a->cfg.window;
	fd.filefd = a->proc.master;
	a->pty_wsi = lws_adopt_descriptor_vhost(a->vh, LWS_ADOPT_RAW_FILE_DESC, fd, "rw-pty", NULL);
	if (!a->pty_wsi) {
		snprintf(err, errlen, "cannot watch the pty");
		pty_proc_signal(&a->proc, SIGKILL);
		return RW_EIO;
	}
	if (a->input_len)   /* typed ahead while there was no pty */
		lws_callback_on_writable(a->pty_wsi);
	if (!send_buf)
		send_buf = malloc(LWS_PRE + PROTO_OUTPUT_PREFIX_LEN + AGENT_SEND_CHUNK);
	schedule_tick(a);
	log_info("session_started", "{s:s, s:s, s:i}", "session", a->sid, "phase", stage, "pid",
		 (int)a->proc.pid);
	return RW_OK;
}

/* Spawns the phase's command (install or the session's command) under a fresh pty in
 * run_dir, through `/bin/sh -c` (as `exec` when it is one simple command: see
 * pty_proc_shell_line). 0, or RW_E... with `err` set (the caller ends the session). */
static int spawn_phase(struct agent *a, enum agent_phase phase, char *err, size_t errlen)
{
	char *line = pty_proc_shell_line(phase == AGENT_PHASE_INSTALL ? a->install : a->command);
	const char *argv[] = { "/bin/sh", "-c", line, NULL };
	int r;

	if (!line) {
		snprintf(err, errlen, "out of memory");
		return RW_ENOMEM;
	}
	r = spawn_phase_argv(a, phase, argv, err, errlen);
	free(line);
	return r;
}

/* After PREPARE or INSTALL: install when there is one and it has not run, else the command. */
static void start_next_phase(struct agent *a)
{
	enum agent_phase next = a->install && a->phase < AGENT_PHASE_INSTALL ? AGENT_PHASE_INSTALL
									      : AGENT_PHASE_RUN;
	char err[4400];

	if (a->cancel_signo) {
		/* cancelled while no child ran: end as if the signal had killed one */
		end_early(a, a->cancel_signo);
		return;
	}
	if (spawn_phase(a, next, err, sizeof(err)) == RW_OK)
		return;
	log_error("session_start_failed", "{s:s, s:s}", "session", a->sid, "reason", err);
	runner_stage(a, next == AGENT_PHASE_INSTALL ? "install" : "run", "failed", err);
	/* report a failed start as an exit so control and viewers learn the outcome */
	end_early(a, 127 << 8);
}

/* The bundle worker's notify: only wakes the loop (lws_cancel_service is thread-safe). */
static void wake_loop(void *ud)
{
	struct agent *a = ud;

	lws_cancel_service(a->ctx);
}

/* Starts the bundle worker: the tree lands in <work_dir>/bundle, the command's cwd. */
static int start_prepare(struct agent *a, json_t *assign, char *err, size_t errlen)
{
	const char *hosts[PREPARE_MAX_HOSTS], *signers[BUNDLE_MAX_SIGNERS];
	struct prepare_params pp;
	int r;

	r = prepare_params_from_assign(json_object_get(assign, "bundle"),
				       json_object_get(assign, "fetch"), hosts, signers, &pp, err,
				       errlen);
	if (r)
		return r;
	if ((size_t)snprintf(a->run_dir, sizeof(a->run_dir), "%s/bundle", a->work_dir) >=
	    sizeof(a->run_dir)) {
		snprintf(err, errlen, "work directory path too long");
		return RW_EINVAL;
	}
	pp.dest_dir = a->run_dir;
	pp.cache_dir = a->cfg.cache_dir;
	pp.ca_file = a->cfg.ca_file;
	a->phase = AGENT_PHASE_PREPARE;
	a->prep = prepare_start(&pp, wake_loop, a, err, errlen);
	if (!a->prep)
		return RW_EIO;
	log_info("bundle_preparing", "{s:s, s:s, s:b, s:i}", "session", a->sid, "url", pp.url,
		 "cache", a->cfg.cache_dir != NULL, "signers", (int)pp.n_signers);
	return RW_OK;
}

int runner_start(struct agent *a, json_t *assign)
{
	const char *sid = json_string_value(json_object_get(assign, "sessionId"));
	const char *command = json_string_value(json_object_get(assign, "command"));
	const char *install = json_string_value(json_object_get(assign, "install"));
	json_int_t cols = json_integer_value(json_object_get(assign, "cols"));
	json_int_t rows = json_integer_value(json_object_get(assign, "rows"));
	char err[4400];

	if (!sid || !valid_sid(sid) || !command) {
		log_error("bad_assign", "{s:s}", "reason", "missing sessionId or command");
		return RW_EPROTO;
	}
	snprintf(a->sid, sizeof(a->sid), "%s", sid);
	snprintf(a->resume_key, sizeof(a->resume_key), "%s",
		 json_string_value(json_object_get(assign, "resumeKey")) ?: "");
	a->have_session = 1;
	a->ev_write_fd = -1;
	bytering_init(&a->window, a->cfg.window, 0);
	rw_sha256_init(&a->sha);
	a->sent = a->acked = 0;
	a->cols = (uint16_t)(cols > 0 && cols <= PROTO_MAX_DIM ? cols : 80);
	a->rows = (uint16_t)(rows > 0 && rows <= PROTO_MAX_DIM ? rows : 24);
	a->command = strdup(command);
	a->install = install && *install ? strdup(install) : NULL;
	a->env = json_incref(json_object_get(assign, "env"));
	a->secrets = json_incref(json_object_get(assign, "secrets"));
	log_info("session_claimed", "{s:s}", "session", a->sid);

	if (!a->command || (install && *install && !a->install)) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (mkdir(a->cfg.work_root, 0700) < 0 && errno != EEXIST) {
		snprintf(err, sizeof(err), "cannot create %s: %s", a->cfg.work_root, strerror(errno));
		goto fail;
	}
	snprintf(a->work_dir, sizeof(a->work_dir), "%s/%s", a->cfg.work_root, a->sid);
	if (mkdir(a->work_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, sizeof(err), "cannot create %s: %s", a->work_dir, strerror(errno));
		goto fail;
	}
	/* the --run-as uid must reach its own work directory, and list no other */
	if (a->cfg.run_as)
		chmod(a->cfg.work_root, 0711);
	if (a->cfg.sandbox && start_sandbox(a, assign, err, sizeof(err)))
		goto fail;
	if (json_object_get(assign, "bundle")) {
		if (start_prepare(a, assign, err, sizeof(err)) == RW_OK)
			return RW_OK;
		log_error("bundle_failed", "{s:s, s:s}", "session", a->sid, "reason", err);
		runner_stage(a, "fetch", "failed", err);
		end_early(a, AGENT_EXIT_PREPARE_FAILED << 8);
		return RW_EINVAL;
	}
	snprintf(a->run_dir, sizeof(a->run_dir), "%s", a->work_dir);
	/* no bundle: the first child starts at once, as the ASSIGN arrives */
	start_next_phase(a);
	return a->exit_ready ? RW_EIO : RW_OK;

fail:
	log_error("session_start_failed", "{s:s, s:s}", "session", a->sid, "reason", err);
	runner_stage(a, "run", "failed", err);
	/* report a failed start as an exit so control and viewers learn the outcome */
	end_early(a, 127 << 8);
	return RW_EIO;
}

void runner_on_wake(struct agent *a)
{
	char err[BUNDLE_ERR_LEN];
	json_t *events, *ev;
	int rc = 0, finished;
	size_t i;

	if (!a->prep)
		return;
	finished = prepare_take(a->prep, &events, &rc, err, sizeof(err));
	json_array_foreach(events, i, ev) {
		uplink_queue_json(a, PROTO_EVENT, ev);
	}
	json_decref(events);
	if (!finished)
		return;
	prepare_free(a->prep);
	a->prep = NULL;
	if (rc && !a->cancel_signo) {
		/* the library sent the failed stage with the reason */
		log_error("bundle_failed", "{s:s, s:s, s:s}", "session", a->sid, "code",
			  rw_strerror(rc), "reason", err);
		end_early(a, AGENT_EXIT_PREPARE_FAILED << 8);
		return;
	}
	if (!rc)
		log_info("bundle_ready", "{s:s}", "session", a->sid);
	/* the next phase (or the end, when cancelled) starts from the tick, outside this
	 * broadcast callback */
	a->next_phase_due = 1;
	schedule_tick(a);
}

void runner_stop_worker(struct agent *a)
{
	prepare_free(a->prep);
	a->prep = NULL;
}

void runner_on_ack(struct agent *a, uint64_t offset)
{
	if (!a->have_session)
		return;
	if (offset > a->window.end) {
		log_warn("bad_ack", "{s:I, s:I}", "ack", (json_int_t)offset, "end",
			 (json_int_t)a->window.end);
		return;
	}
	bytering_consume_to(&a->window, offset);
	if (offset > a->acked)
		a->acked = offset;
	resume_pty(a);
	if (a->exit_sent && a->acked >= a->exit.total) {
		log_info("session_delivered", "{s:s, s:I}", "session", a->sid,
			 "bytes", (json_int_t)a->exit.total);
		a->done = 1;
	}
}

void runner_on_input(struct agent *a, const uint8_t *data, size_t len)
{
	uint8_t *nb;

	/* Before the first child and between install and run, input waits for the next pty
	 * (control sends what a viewer typed early right after ASSIGN). */
	if (!a->pty_wsi && (!a->have_session || a->exit_ready || a->phase == AGENT_PHASE_RUN))
		return;
	/* an empty INPUT frame is allowed and means nothing; realloc(p, 0) would free p */
	if (!len)
		return;
	if (a->input_len + len > AGENT_MAX_INPUT_BUF) {
		log_warn("input_dropped", "{s:i}", "bytes", (int)len);
		return;
	}
	nb = realloc(a->input, a->input_len + len);
	if (!nb)
		return;
	a->input = nb;
	memcpy(a->input + a->input_len, data, len);
	a->input_len += len;
	if (a->pty_wsi)
		lws_callback_on_writable(a->pty_wsi);
}

void runner_on_resize(struct agent *a, uint16_t cols, uint16_t rows)
{
	a->cols = cols;   /* for a pty still to come */
	a->rows = rows;
	if (a->proc.master >= 0)
		pty_proc_resize(&a->proc, cols, rows);
}

/* The signals whose default action ends a process: these cancel a session with no child. */
static int ends_process(int signo)
{
	return signo == SIGHUP || signo == SIGINT || signo == SIGQUIT || signo == SIGKILL ||
	       signo == SIGTERM || signo == SIGUSR1 || signo == SIGUSR2;
}

void runner_on_signal(struct agent *a, int signo)
{
	if ((a->prep || a->next_phase_due) && !a->exit_ready) {
		/* no child to get it (fetching, or between install and run): stop here */
		if (ends_process(signo) && !a->cancel_signo) {
			log_info("signal", "{s:s, s:i, s:s}", "session", a->sid, "signal", signo,
				 "action", "cancel before the command");
			a->cancel_signo = signo;
			prepare_cancel(a->prep);
		}
		return;
	}
	if (a->proc.pid) {
		log_info("signal", "{s:s, s:i}", "session", a->sid, "signal", signo);
		pty_proc_signal(&a->proc, signo);
	}
}

int runner_write_output(struct agent *a, struct lws *wsi)
{
	const uint8_t *p;
	size_t n;

	if (!a->have_session)
		return 0;
	if (a->sent < a->window.start)
		a->sent = a->window.start;
	n = bytering_peek(&a->window, a->sent, &p);
	if (n) {
		uint8_t *frame = send_buf + LWS_PRE;
		if (n > AGENT_SEND_CHUNK)
			n = AGENT_SEND_CHUNK;
		proto_encode_output_prefix(frame, a->sent, n);
		memcpy(frame + PROTO_OUTPUT_PREFIX_LEN, p, n);
		if (lws_write(wsi, frame, PROTO_OUTPUT_PREFIX_LEN + n, LWS_WRITE_BINARY) < 0)
			return -1;
		a->sent += n;
		resume_pty(a);
		lws_callback_on_writable(wsi);
		return 1;
	}
	if (a->exit_ready && !a->exit_sent) {
		uint8_t frame[LWS_PRE + PROTO_EXIT_LEN];
		proto_encode_exit(frame + LWS_PRE, &a->exit);
		if (lws_write(wsi, frame + LWS_PRE, PROTO_EXIT_LEN, LWS_WRITE_BINARY) < 0)
			return -1;
		a->exit_sent = 1;
		return 1;
	}
	return 0;
}

void runner_abandon(struct agent *a)
{
	runner_stop_worker(a);
	if (!a->proc.pid || a->exit_ready)
		return;
	pty_proc_signal(&a->proc, SIGHUP);
	usleep(200 * 1000);
	pty_proc_signal(&a->proc, SIGKILL);
}

void runner_release(struct agent *a)
{
	if (a->proc.pid && !a->proc.exited) {
		pty_proc_signal(&a->proc, SIGKILL);
		pty_proc_reap(&a->proc);
	}
	bytering_release(&a->window);
	free(a->input);
	a->input = NULL;
	free(send_buf);
	send_buf = NULL;
	runner_stop_worker(a);
	free(a->command);
	free(a->install);
	a->command = a->install = NULL;
	json_decref(a->env);
	a->env = NULL;
	text_secrets_wipe(a->secrets);
	a->secrets = NULL;
	if (a->have_session && a->ev_write_fd >= 0) {
		close(a->ev_write_fd);
		a->ev_write_fd = -1;
	}
	if (a->have_session && !a->cfg.keep_work && a->work_dir[0])
		rw_remove_tree(a->work_dir);
	if (a->sb_ready) {
		sandbox_release(&a->sb);
		a->sb_ready = 0;
	}
}
