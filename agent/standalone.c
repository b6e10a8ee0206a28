/* standalone.c: `runwire-agent run`, the session pipeline without control, for bundle authors
 * (docs/bundles.md, "Test locally"): fetch, verify and unpack the bundle (prepare.c, on its
 * worker thread), then the install command and the command, each under a fresh pty, with the
 * program's terminal output in this terminal and the stage events as lines on stderr.
 *
 * Its own small poll(2) loop: the uplink, the window and the offsets of a real session have
 * no use here. The child's environment, working directory and events fd are the agent's
 * (runner_child_env, pty_proc), so a bundle that works here behaves the same in a runner.
 */
#include "agent/agent.h"
#include "agent/minisign.h"
#include "agent/prepare.h"
#include "common/rw.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define STANDALONE_SID "local"             /* RUNWIRE_SESSION_ID of a local run */
#define STANDALONE_MAX_ENV 64              /* -e NAME=VALUE flags */
#define STANDALONE_MAX_COMMAND (64u << 10) /* bytes of the joined command, as control's cap */
#define STANDALONE_IO_CHUNK (64u << 10)    /* one read of the pty or of stdin */
#define STANDALONE_PROGRESS_US 1000000     /* at most one "running" line a second per stage */

struct standalone {
	/* options */
	const char *url, *sha256, *install, *cache_flag, *ca_file, *s3_endpoint, *s3_region;
	const char *hosts[PREPARE_MAX_HOSTS];
	size_t n_hosts;
	char signer_b64[BUNDLE_MAX_SIGNERS][MINISIGN_PUBKEY_B64_LEN + 1];
	const char *signers[BUNDLE_MAX_SIGNERS];
	size_t n_signers;
	bool http_loopback, keep_work, quiet;
	json_t *env;                   /* -e NAME=VALUE */
	char *command;

	/* state */
	char work_dir[4096], run_dir[4096];
	char *cache_dir;
	struct prepare *prep;
	enum agent_phase phase;
	struct pty_proc proc;
	int ev_read, ev_write;         /* the events pipe (RUNWIRE_EVENTS_FD), as in the agent */
	char evline[AGENT_MAX_EVENT_LINE + 1];
	size_t evline_len;
	bool evline_overflow;
	bool stdin_tty, tty_raw, stdin_eof;
	struct termios saved_tty;
	uint8_t input[STANDALONE_IO_CHUNK]; /* read from stdin, not yet taken by the pty */
	size_t input_len;
	int64_t child_exit_us;         /* when the child was reaped */
	bool killed_stragglers;
	bool stop_forwarded;           /* sig_stop was passed on to this child */
	int status;                    /* the exit status to leave with */
	char last_stage[64];           /* progress throttle: the stage last shown, and when */
	int64_t last_progress_us;
	bool shared_screen;            /* stdout and stderr are one terminal */
	bool drawing;                  /* install or the command draws on it: no lines of ours */
	char held[1024];               /* the last stage line kept back meanwhile */
};

/* Signals become bytes on a self-pipe so that poll() wakes; the worker's notify writes there
 * too. */
static int wake_fds[2] = { -1, -1 };
static volatile sig_atomic_t sig_winch, sig_chld, sig_stop;

static void on_signal(int signo)
{
	int saved = errno;

	if (signo == SIGWINCH)
		sig_winch = 1;
	else if (signo == SIGCHLD)
		sig_chld = 1;
	else if (!sig_stop)
		sig_stop = signo;
	(void)!write(wake_fds[1], "s", 1);
	errno = saved;
}

static void wake(void *ud)
{
	(void)!write(wake_fds[1], "w", 1);
}

static void say(const struct standalone *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* in raw mode a bare \n does not return the carriage */
	fprintf(stderr, "runwire-agent: %s%s", line, s->tty_raw ? "\r\n" : "\n");
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: runwire-agent run --bundle PATH|URL --sha256 HEX [options] -- COMMAND...\n"
"\n"
"Runs a bundle as a runner would, in this terminal and without control: fetch, verify the\n"
"SHA-256, unpack, the install command, then COMMAND in the unpacked tree under a pty.\n"
"Stage lines go to stderr: all of them as they come, or, when stdout and stderr are one\n"
"terminal, only while no program draws on it (a failure meanwhile is said after).\n"
"Exits with COMMAND's exit code (128+N for signal N), the\n"
"install command's when it fails, %d when the bundle cannot be prepared.\n"
"\n"
"  --bundle PATH|URL       a local zip or tar.gz (no allowlist needed), https://, s3://,\n"
"                          or http:// to loopback (with --allow-http-loopback)\n"
"  --sha256 HEX            SHA-256 of the bundle's bytes (required)\n"
"  --minisign-key KEY      require BUNDLE.minisig signed by KEY (a minisign public key,\n"
"                          \"RW...\", or its .pub file), checked before the SHA-256;\n"
"                          repeatable (any one of the keys)\n"
"  --install CMD           run CMD first in the tree, under the pty (the install stage)\n"
"  --allow-host HOST       allow downloads from HOST (exact, or *.suffix); repeatable\n"
"  --allow-http-loopback   allow plain http to localhost, 127.0.0.0/8, ::1\n"
"  --ca-file PEM           trust this CA for https (tests, private servers)\n"
"  --s3-endpoint URL       S3-compatible store for s3:// URLs; --s3-region REGION\n"
"  --cache-dir DIR         cache unpacked bundles by digest (env RUNWIRE_CACHE_DIR,\n"
"                          default $TMPDIR/runwire-cache; \"none\" for no cache)\n"
"  -e, --env NAME=VALUE    environment for install and COMMAND; repeatable (the rest of\n"
"                          the environment is the runner's: built from nothing)\n"
"  --keep-work             keep the work directory and print its path\n"
"  -q, --quiet             no progress lines (failures are still shown)\n"
"  -h, --help              this text; --version: the version\n",
		AGENT_EXIT_PREPARE_FAILED);
}

/* ---- stage lines ---- */

/* A stage line. While a program draws on the terminal our stderr shares, a line of ours
 * would break its drawing (a program that redraws by moving the cursor up counts its own
 * lines): progress is dropped then (the program shows its own), and a failure (`keep`) is
 * kept back, the last one, and said when the program is done. */
static void say_stage(struct standalone *s, bool keep, const char *fmt, ...)
{
	char line[sizeof(s->held)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->shared_screen && s->drawing) {
		if (keep)
			memcpy(s->held, line, sizeof(line));
		return;
	}
	say(s, "%s", line);
}

static void drawing_ended(struct standalone *s)
{
	s->drawing = false;
	if (s->held[0]) {
		say(s, "%s", s->held);
		s->held[0] = '\0';
	}
}

/* Writes `v` bytes in the unit that suits `scale` bytes ("1.2" for MiB) and returns the
 * unit's name, so that "done/total" share one unit. */

/* One stage event as one line: "[fetch] running 1.2/3.4 MiB", "[verify] failed: reason".
 * Failures are shown even with --quiet; progress of one stage at most once a second (the
 * pipeline reports up to ten a second). */
static void print_stage(struct standalone *s, json_t *ev)
{
	const char *stage = json_string_value(json_object_get(ev, "stage"));
	const char *state = json_string_value(json_object_get(ev, "state"));
	const char *reason = json_string_value(json_object_get(ev, "reason"));
	const char *detail = json_string_value(json_object_get(ev, "detail"));
	json_t *done = json_object_get(ev, "done");
	char progress[96] = "";

	if (!stage || !state)
		return;
	if (!strcmp(state, "failed")) {
		say_stage(s, true, "[%s] failed%s%s", stage, reason ? ": " : "", reason ? reason : "");
		return;
	}
	if (s->quiet)
		return;
	if (!strcmp(state, "running") && json_is_integer(done) &&
	    !strncmp(s->last_stage, stage, sizeof(s->last_stage)) &&
	    rw_mono_us() - s->last_progress_us < STANDALONE_PROGRESS_US)
		return;
	snprintf(s->last_stage, sizeof(s->last_stage), "%s", stage);
	s->last_progress_us = rw_mono_us();
	text_stage_progress(ev, progress, sizeof(progress));
	say_stage(s, false, "[%s] %s%s%s%s%s", stage, state, progress, detail ? " (" : "",
		  detail ? detail : "", detail ? ")" : "");
}

static void agent_stage(struct standalone *s, const char *stage, const char *state,
			const char *reason)
{
	json_t *ev = json_pack("{s:s, s:s}", "stage", stage, "state", state);

	if (reason)
		json_object_set_new(ev, "reason", json_string(reason));
	print_stage(s, ev);
	json_decref(ev);
}

/* Lines the CLI wrote to RUNWIRE_EVENTS_FD, shown as the viewers of a session see them.
 * Returns 1 after reading, 0 when nothing waits, -1 at the end (the pipe is closed). */
static int read_events(struct standalone *s)
{
	char buf[4096];
	ssize_t n = read(s->ev_read, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close(s->ev_read);
		s->ev_read = -1;
		return -1;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (s->evline_len < AGENT_MAX_EVENT_LINE)
				s->evline[s->evline_len++] = buf[i];
			else
				s->evline_overflow = true;
			continue;
		}
		if (!s->evline_overflow && s->evline_len) {
			json_t *j = json_loadb(s->evline, s->evline_len, 0, NULL);
			if (json_is_object(j) && json_is_string(json_object_get(j, "stage")))
				print_stage(s, j);
			json_decref(j);
		}
		s->evline_len = 0;
		s->evline_overflow = false;
	}
	return 1;
}

/* ---- terminal ---- */

static void tty_raw(struct standalone *s)
{
	struct termios raw;

	if (!s->stdin_tty || s->tty_raw || tcgetattr(0, &s->saved_tty))
		return;
	raw = s->saved_tty;
	cfmakeraw(&raw);
	if (!tcsetattr(0, TCSAFLUSH, &raw))
		s->tty_raw = true;
}

static void tty_restore(struct standalone *s)
{
	if (s->tty_raw) {
		tcsetattr(0, TCSAFLUSH, &s->saved_tty);
		s->tty_raw = false;
	}
}

static void term_size(uint16_t *cols, uint16_t *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 24;
	for (int fd = 0; fd <= 2; fd++)
		if (!ioctl(fd, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
			*cols = ws.ws_col;
			*rows = ws.ws_row;
			return;
		}
}

/* ---- phases ---- */

static int exit_status_of(const struct pty_proc *p)
{
	int32_t code;
	uint8_t signo;

	pty_proc_exit_info(p, &code, &signo);
	return signo ? 128 + signo : code;
}

static int spawn_phase(struct standalone *s, enum agent_phase phase)
{
	const char *stage = phase == AGENT_PHASE_INSTALL ? "install" : "run";
	/* "exec CMD" when it is one simple command: the program, not a shell, meets signals */
	char *line = pty_proc_shell_line(phase == AGENT_PHASE_INSTALL ? s->install : s->command);
	const char *argv[] = { "/bin/sh", "-c", line, NULL };
	char err[512], **env = runner_child_env(s->work_dir, STANDALONE_SID, s->env, NULL);
	struct pty_spawn_opts o = {
		.argv = argv, .envp = (const char *const *)env, .cwd = s->run_dir,
		.events_fd = s->ev_write, .events_fd_child = AGENT_EVENTS_FD,
	};
	int r;

	if (!env || !line) {
		agent_stage(s, stage, "failed", "out of memory");
		runner_free_env(env);
		free(line);
		return RW_ENOMEM;
	}
	term_size(&o.cols, &o.rows);
	s->phase = phase;
	agent_stage(s, stage, "running", NULL);
	s->drawing = true;
	tty_raw(s);
	r = pty_proc_spawn(&s->proc, &o, err, sizeof(err));
	runner_free_env(env);
	free(line);
	if (phase == AGENT_PHASE_RUN && s->ev_write >= 0) {
		/* the last phase: the reader sees EOF once the command's tree is done with it */
		close(s->ev_write);
		s->ev_write = -1;
	}
	if (r) {
		agent_stage(s, stage, "failed", err);
		return r;
	}
	s->child_exit_us = 0;
	s->killed_stragglers = false;
	s->stop_forwarded = false;
	return RW_OK;
}

/* The pty's bytes to stdout, verbatim. Returns -1 at the pty's end (every slave closed). */
static int pump_output(struct standalone *s)
{
	uint8_t buf[STANDALONE_IO_CHUNK];
	ssize_t n = read(s->proc.master, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	if (rw_write_all(1, buf, (size_t)n))
		return -1;   /* nobody reads our output any more: end as the pty would */
	return 0;
}

static void pump_input(struct standalone *s, short revents)
{
	ssize_t n;

	if (!s->input_len && (revents & (POLLIN | POLLHUP))) {
		n = read(0, s->input, sizeof(s->input));
		if (n > 0)
			s->input_len = (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			s->stdin_eof = true;
	}
	if (s->input_len && s->proc.master >= 0) {
		n = write(s->proc.master, s->input, s->input_len);
		if (n > 0) {
			memmove(s->input, s->input + n, s->input_len - (size_t)n);
			s->input_len -= (size_t)n;
		}
	}
}

/* One child under its pty, until it has exited and the pty is drained. Returns its status. */
static int run_child(struct standalone *s)
{
	for (;;) {
		struct pollfd pfd[4];
		int n = 0, i_wake, i_pty = -1, i_ev = -1, i_in = -1, timeout = -1;

		/* SIGCHLD only wakes the poll; reaping without blocking is cheap */
		sig_chld = 0;
		if (!s->proc.exited && pty_proc_reap(&s->proc))
			s->child_exit_us = rw_mono_us();
		if (s->proc.exited && s->proc.master < 0)
			return exit_status_of(&s->proc);
		if (s->proc.exited) {
			/* background processes still hold the terminal: as the agent, give them
			 * AGENT_DRAIN_MS, then end the group and stop waiting */
			int64_t left = AGENT_DRAIN_MS * 1000LL - (rw_mono_us() - s->child_exit_us);
			if (left <= 0) {
				if (s->killed_stragglers) {
					close(s->proc.master);
					s->proc.master = -1;
					continue;
				}
				pty_proc_signal(&s->proc, SIGKILL);
				s->killed_stragglers = true;
				s->child_exit_us = rw_mono_us();
				left = AGENT_DRAIN_MS * 1000LL;
			}
			timeout = (int)(left / 1000) + 1;
		}
		if (sig_winch) {
			uint16_t cols, rows;
			sig_winch = 0;
			term_size(&cols, &rows);
			pty_proc_resize(&s->proc, cols, rows);
		}
		if (sig_stop && !s->stop_forwarded) {
			/* not a terminal's ^C (raw mode sends that as a byte): a kill from outside,
			 * passed on to the child's group */
			pty_proc_signal(&s->proc, sig_stop);
			s->stop_forwarded = true;
		}
		i_wake = n;
		pfd[n++] = (struct pollfd){ .fd = wake_fds[0], .events = POLLIN };
		i_pty = n;
		pfd[n++] = (struct pollfd){ .fd = s->proc.master,
					    .events = (short)(POLLIN | (s->input_len ? POLLOUT : 0)) };
		if (s->ev_read >= 0) {
			i_ev = n;
			pfd[n++] = (struct pollfd){ .fd = s->ev_read, .events = POLLIN };
		}
		if (s->stdin_tty && !s->stdin_eof && !s->input_len) {
			i_in = n;
			pfd[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return AGENT_EXIT_PREPARE_FAILED;   /* the runner itself failed */
		}
		if (pfd[i_wake].revents & POLLIN) {
			char drain[64];
			while (read(wake_fds[0], drain, sizeof(drain)) > 0)
				;
		}
		if (i_ev >= 0 && pfd[i_ev].revents)
			read_events(s);
		if (i_in >= 0 && pfd[i_in].revents)
			pump_input(s, pfd[i_in].revents);
		else if (s->input_len && (pfd[i_pty].revents & POLLOUT))
			pump_input(s, 0);
		if (pfd[i_pty].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (pump_output(s) < 0) {
				close(s->proc.master);
				s->proc.master = -1;
			}
		}
	}
}

/* Fetch, verify, unpack on the worker; the stage lines as they come. 0 or the status. */
static int run_prepare(struct standalone *s)
{
	struct prepare_params pp = {
		.url = s->url, .sha256 = s->sha256, .dest_dir = s->run_dir,
		.cache_dir = s->cache_dir, .ca_file = s->ca_file,
		.allow_hosts = s->hosts, .n_allow_hosts = s->n_hosts,
		.allow_http_loopback = s->http_loopback,
		.allow_local_path = true,   /* the author's own machine: any file they name */
		.s3_endpoint = s->s3_endpoint, .s3_region = s->s3_region,
		.signers = s->signers, .n_signers = s->n_signers,
	};
	char err[BUNDLE_ERR_LEN];
	int rc = 0, cancelled = 0;

	s->phase = AGENT_PHASE_PREPARE;
	s->prep = prepare_start(&pp, wake, s, err, sizeof(err));
	if (!s->prep) {
		agent_stage(s, "fetch", "failed", err);
		return AGENT_EXIT_PREPARE_FAILED;
	}
	for (;;) {
		struct pollfd pfd = { .fd = wake_fds[0], .events = POLLIN };
		json_t *events, *ev;
		size_t i;
		int finished;

		if (sig_stop && !cancelled) {
			cancelled = sig_stop;
			prepare_cancel(s->prep);
		}
		finished = prepare_take(s->prep, &events, &rc, err, sizeof(err));
		json_array_foreach(events, i, ev) {
			print_stage(s, ev);
		}
		json_decref(events);
		if (finished)
			break;
		if (poll(&pfd, 1, -1) > 0) {
			char drain[64];
			while (read(wake_fds[0], drain, sizeof(drain)) > 0)
				;
		}
	}
	prepare_free(s->prep);
	s->prep = NULL;
	if (cancelled)
		return 128 + cancelled;
	return rc ? AGENT_EXIT_PREPARE_FAILED : 0;
}

/* ---- options ---- */

enum {
	OPT_BUNDLE = 256, OPT_SHA256, OPT_INSTALL, OPT_ALLOW_HOST, OPT_HTTP_LOOPBACK, OPT_CA_FILE,
	OPT_S3_ENDPOINT, OPT_S3_REGION, OPT_CACHE_DIR, OPT_KEEP_WORK, OPT_MINISIGN_KEY,
};


/* Parses the flags into `s`. 0, or the exit status for a usage error (2) or --help (0 + 1). */
static int parse_args(struct standalone *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "sha256", required_argument, NULL, OPT_SHA256 },
		{ "install", required_argument, NULL, OPT_INSTALL },
		{ "allow-host", required_argument, NULL, OPT_ALLOW_HOST },
		{ "allow-http-loopback", no_argument, NULL, OPT_HTTP_LOOPBACK },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT },
		{ "s3-region", required_argument, NULL, OPT_S3_REGION },
		{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
		{ "keep-work", no_argument, NULL, OPT_KEEP_WORK },
		{ "minisign-key", required_argument, NULL, OPT_MINISIGN_KEY },
		{ "env", required_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+e:qh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_BUNDLE: s->url = optarg; break;
		case OPT_SHA256: s->sha256 = optarg; break;
		case OPT_INSTALL: s->install = *optarg ? optarg : NULL; break;
		case OPT_ALLOW_HOST:
			if (s->n_hosts == PREPARE_MAX_HOSTS) {
				fprintf(stderr, "runwire-agent: at most %d --allow-host\n", PREPARE_MAX_HOSTS);
				return 2;
			}
			s->hosts[s->n_hosts++] = optarg;
			break;
		case OPT_HTTP_LOOPBACK: s->http_loopback = true; break;
		case OPT_CA_FILE: s->ca_file = optarg; break;
		case OPT_S3_ENDPOINT: s->s3_endpoint = optarg; break;
		case OPT_S3_REGION: s->s3_region = optarg; break;
		case OPT_CACHE_DIR: s->cache_flag = optarg; break;
		case OPT_KEEP_WORK: s->keep_work = true; break;
		case OPT_MINISIGN_KEY: {
			struct minisign_pubkey key;
			char why[MINISIGN_ERR_LEN];

			if (s->n_signers == BUNDLE_MAX_SIGNERS) {
				fprintf(stderr, "runwire-agent: at most %d --minisign-key\n",
					BUNDLE_MAX_SIGNERS);
				return 2;
			}
			if (minisign_pubkey_load(optarg, &key, why, sizeof(why))) {
				fprintf(stderr, "runwire-agent: --minisign-key: %s\n", why);
				return 2;
			}
			/* the pipeline takes keys as text: a key file becomes its "RW..." line */
			minisign_pubkey_base64(&key, s->signer_b64[s->n_signers]);
			s->signers[s->n_signers] = s->signer_b64[s->n_signers];
			s->n_signers++;
			break;
		}
		case 'q': s->quiet = true; break;
		case 'e': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || json_object_size(s->env) >= STANDALONE_MAX_ENV) {
				fprintf(stderr, "runwire-agent: -e wants NAME=VALUE (at most %d)\n",
					STANDALONE_MAX_ENV);
				return 2;
			}
			*eq = '\0';
			json_object_set_new(s->env, optarg, json_string(eq + 1));
			*eq = '=';
			break;
		}
		case 'h': usage(stdout); return 1;
		case 'V': printf("runwire-agent %s\n", RW_VERSION); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (!s->url || !s->sha256) {
		fprintf(stderr, "runwire-agent: run needs --bundle PATH|URL and --sha256 HEX\n");
		return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "runwire-agent: run needs a command after the options, e.g. "
				"-- node index.js\n");
		return 2;
	}
	s->command = text_shell_join(argc - optind, argv + optind, STANDALONE_MAX_COMMAND);
	if (!s->command || strlen(s->command) > STANDALONE_MAX_COMMAND) {
		fprintf(stderr, "runwire-agent: command longer than 64 KiB\n");
		return 2;
	}
	return 0;
}

static int make_work_dir(struct standalone *s)
{
	const char *tmp = getenv("TMPDIR");
	char root[4096];

	snprintf(root, sizeof(root), "%s", tmp && *tmp ? tmp : "/tmp");
	if ((size_t)snprintf(s->work_dir, sizeof(s->work_dir), "%s/runwire-run.XXXXXX", root) >=
		    sizeof(s->work_dir) ||
	    !mkdtemp(s->work_dir)) {
		fprintf(stderr, "runwire-agent: cannot create a work directory in %s: %s\n", root,
			strerror(errno));
		s->work_dir[0] = '\0';
		return RW_EIO;
	}
	if ((size_t)snprintf(s->run_dir, sizeof(s->run_dir), "%s/bundle", s->work_dir) >=
	    sizeof(s->run_dir)) {
		fprintf(stderr, "runwire-agent: work directory path too long\n");
		return RW_EINVAL;
	}
	return RW_OK;
}

int standalone_main(int argc, char **argv)
{
	static struct standalone st;
	struct standalone *s = &st;
	char work_root[4096];
	int r, evp[2];

	s->env = json_object();
	s->ev_read = s->ev_write = -1;
	s->proc.master = -1;
	s->cache_flag = getenv("RUNWIRE_CACHE_DIR");
	r = parse_args(s, argc, argv);
	if (r) {
		s->status = r == 1 ? 0 : r;
		goto out;
	}
	if (bundle_global_init() || pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(evp, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, "runwire-agent: cannot start: %s\n", strerror(errno));
		s->status = AGENT_EXIT_PREPARE_FAILED;
		goto out;
	}
	/* the child's end blocks as an ordinary fd would */
	fcntl(evp[1], F_SETFL, fcntl(evp[1], F_GETFL) & ~O_NONBLOCK);
	s->ev_read = evp[0];
	s->ev_write = evp[1];
	snprintf(work_root, sizeof(work_root), "%s/runwire-work",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	s->cache_dir = prepare_cache_dir(s->cache_flag, work_root);
	s->stdin_tty = isatty(0);
	s->shared_screen = isatty(1) && isatty(2);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (make_work_dir(s)) {
		s->status = AGENT_EXIT_PREPARE_FAILED;
		goto out;
	}
	s->status = run_prepare(s);
	if (s->status)
		goto out;
	if (s->install) {
		if (spawn_phase(s, AGENT_PHASE_INSTALL)) {
			s->status = 127;
			goto out;
		}
		s->status = run_child(s);
		tty_restore(s);
		drawing_ended(s);
		if (s->status) {
			char why[64];
			snprintf(why, sizeof(why), "install exited with status %d", s->status);
			agent_stage(s, "install", "failed", why);
			goto out;
		}
		agent_stage(s, "install", "done", NULL);
	}
	if (sig_stop) {
		s->status = 128 + sig_stop;
		goto out;
	}
	if (spawn_phase(s, AGENT_PHASE_RUN)) {
		s->status = 127;
		goto out;
	}
	s->status = run_child(s);
	tty_restore(s);
	/* the last CLI events may still sit in the pipe (a process that escaped the group may
	 * hold it open: take what is there, never wait) */
	while (s->ev_read >= 0 && read_events(s) > 0)
		;
	drawing_ended(s);
	if (s->status) {
		char why[64];
		snprintf(why, sizeof(why), "exited with status %d", s->status);
		agent_stage(s, "run", "failed", why);
	} else {
		agent_stage(s, "run", "done", NULL);
	}

out:
	tty_restore(s);
	drawing_ended(s);
	if (s->proc.pid && !s->proc.exited) {
		pty_proc_signal(&s->proc, SIGKILL);
		while (!pty_proc_reap(&s->proc))
			usleep(10000);
	}
	if (s->proc.master >= 0)
		close(s->proc.master);
	prepare_free(s->prep);
	if (s->work_dir[0]) {
		if (s->keep_work)
			say(s, "work directory kept: %s", s->work_dir);
		else
			rw_remove_tree(s->work_dir);
	}
	if (s->ev_read >= 0)
		close(s->ev_read);
	if (s->ev_write >= 0)
		close(s->ev_write);
	for (int i = 0; i < 2; i++)
		if (wake_fds[i] >= 0)
			close(wake_fds[i]);
	json_decref(s->env);
	free(s->command);
	free(s->cache_dir);
	return s->status;
}
