/* main.c: runwire-agent, the runner inside each sandbox (DESIGN.md: replaces ttyd and the
 * bash entrypoint). Dials out to control, claims one session, runs it under a pty, streams
 * it back, and exits.
 */
#include "agent/agent.h"
#include "agent/prepare.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>


static volatile sig_atomic_t agent_stop;

static void on_term(int signo)
{
	agent_stop = signo;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: runwire-agent [options]\n"
"       runwire-agent run --bundle PATH|URL --sha256 HEX [options] -- COMMAND...\n"
"\n"
"Dials out to runwire-control, claims one waiting session, runs its command under a pty,\n"
"streams the output back, and exits. `runwire-agent run` runs a bundle's pipeline and\n"
"command in this terminal, without control (see runwire-agent run --help).\n"
"\n"
"  --control URL[,URL...]\n"
"                      control's agent endpoint, ws://HOST:PORT/agent or wss://...; several\n"
"                      (at most 8) are tried in turn when one refuses or is down; a\n"
"                      replica's redirect is followed for the next dial only (at most 3\n"
"                      in a row); with a session, the endpoint whose link dropped is\n"
"                      dialled again, the next one once it cannot be reached (env\n"
"                      RUNWIRE_CONTROL_URL)\n"
"  --token-file FILE   runner credential (env RUNWIRE_RUNNER_TOKEN_FILE)\n"
"  --token-fd N        read the credential from fd N and close it (local dispatcher)\n"
"  --work-root DIR     sessions run in DIR/<sessionId> (env RUNWIRE_WORK_ROOT,\n"
"                      default $TMPDIR/runwire-work)\n"
"  --window BYTES      unacknowledged output kept for resends (env RUNWIRE_WINDOW,\n"
"                      default %u, %u..%u)\n"
"  --grace SECONDS     give up after control is unreachable this long (env\n"
"                      RUNWIRE_GRACE, default %d)\n"
"  --ca-file FILE      extra CA certificates for wss and bundle downloads (env\n"
"                      RUNWIRE_CA_FILE)\n"
"  --cache-dir DIR     unpacked bundles by SHA-256, shared by the agents of a machine\n"
"                      (env RUNWIRE_CACHE_DIR, default: runwire-cache beside the work\n"
"                      root; \"none\" for no cache)\n"
"  --keep-work         keep the session's work directory\n"
"  --sandbox           run each session in a bubblewrap sandbox (local runners; see\n"
"                      docs/security.md); a session fails when it cannot be made\n"
"  --bwrap PATH        the bubblewrap binary (default: bwrap from PATH)\n"
"  --sandbox-ro DIR    also show DIR, read-only, inside the sandbox (repeatable)\n"
"  --run-as USER       run the CLI as USER (the agent must be root); its work\n"
"                      directory is given to USER\n"
"  --ready-file PATH   create PATH once control has accepted this agent (counted as\n"
"                      idle), keep it while a session runs, remove it when the link\n"
"                      of an agent without a session is down, and at exit: a\n"
"                      Kubernetes readiness probe `test -f PATH` (env RUNWIRE_READY_FILE)\n"
"  --idle-exit SECONDS exit 0 after this long accepted without a session (0: never,\n"
"                      the default; env RUNWIRE_IDLE_EXIT)\n"
"  --exit-with-parent  exit when the spawning process does (local dispatcher)\n"
"  -h, --help          this text; --version: the version\n",
		AGENT_DEFAULT_WINDOW, AGENT_MIN_WINDOW, AGENT_MAX_WINDOW, AGENT_DEFAULT_GRACE_S);
}

static char *read_ticket_fd(int fd)
{
	char buf[AGENT_MAX_TICKET + 1];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > AGENT_MAX_TICKET)
		return NULL;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	return len ? strdup(buf) : NULL;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 't' },
		{ "token-fd", required_argument, NULL, 'f' },
		{ "work-root", required_argument, NULL, 'w' },
		{ "window", required_argument, NULL, 'W' },
		{ "grace", required_argument, NULL, 'g' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "cache-dir", required_argument, NULL, 'D' },
		{ "keep-work", no_argument, NULL, 'k' },
		{ "exit-with-parent", no_argument, NULL, 'P' },
		{ "sandbox", no_argument, NULL, 'S' },
		{ "bwrap", required_argument, NULL, 'B' },
		{ "run-as", required_argument, NULL, 'U' },
		{ "sandbox-ro", required_argument, NULL, 'R' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "idle-exit", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct agent a;
	const char *control = getenv("RUNWIRE_CONTROL_URL");
	const char *token_file = getenv("RUNWIRE_RUNNER_TOKEN_FILE");
	const char *window = getenv("RUNWIRE_WINDOW");
	const char *grace = getenv("RUNWIRE_GRACE");
	const char *ca_file = getenv("RUNWIRE_CA_FILE");
	const char *cache_dir = getenv("RUNWIRE_CACHE_DIR");
	const char *idle_exit = getenv("RUNWIRE_IDLE_EXIT");
	const char *ready_file = getenv("RUNWIRE_READY_FILE");
	char work_root[4096];
	long long v;
	int token_fd = -1, c;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("runwire-agent %s\n", RW_VERSION);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "run"))
		return standalone_main(argc - 1, argv + 1);
	snprintf(work_root, sizeof(work_root), "%s/runwire-work", env_or("TMPDIR", "/tmp"));
	a.cfg.work_root = strdup(env_or("RUNWIRE_WORK_ROOT", work_root));
	a.cfg.window = AGENT_DEFAULT_WINDOW;
	a.cfg.grace_s = AGENT_DEFAULT_GRACE_S;
	a.ev_read_fd = -1;
	a.ev_write_fd = -1;
	a.proc.master = -1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': control = optarg; break;
		case 't': token_file = optarg; break;
		case 'f':
			if (rw_parse_int(optarg, 0, 1 << 20, &v)) {
				fprintf(stderr, "runwire-agent: --token-fd wants a file descriptor number\n");
				return 2;
			}
			token_fd = (int)v;
			break;
		case 'w': free(a.cfg.work_root); a.cfg.work_root = strdup(optarg); break;
		case 'W': window = optarg; break;
		case 'g': grace = optarg; break;
		case 'C': ca_file = optarg; break;
		case 'D': cache_dir = optarg; break;
		case 'k': a.cfg.keep_work = 1; break;
		case 'P':
			/* a local runner must not outlive the control that spawned it */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				return 3;
			break;
		case 'S': a.cfg.sandbox = 1; break;
		case 'B': free(a.cfg.bwrap); a.cfg.bwrap = strdup(optarg); break;
		case 'R':
			if (a.cfg.n_sandbox_ro == SANDBOX_MAX_RO_DIRS || optarg[0] != '/') {
				fprintf(stderr, "runwire-agent: --sandbox-ro wants an absolute path "
						"(at most %d)\n", SANDBOX_MAX_RO_DIRS);
				return 2;
			}
			a.cfg.sandbox_ro[a.cfg.n_sandbox_ro++] = optarg;
			break;
		case 'U': {
			struct passwd *pw = getpwnam(optarg);

			if (!pw || !pw->pw_uid || geteuid()) {
				fprintf(stderr, "runwire-agent: --run-as wants a user other than root, "
						"and the agent running as root\n");
				return 2;
			}
			a.cfg.run_as = 1;
			a.cfg.run_uid = pw->pw_uid;
			a.cfg.run_gid = pw->pw_gid;
			break;
		}
		case 'r': free(a.cfg.ready_file); a.cfg.ready_file = strdup(optarg); break;
		case 'I': idle_exit = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* Nobody of the same uid may trace this process or read its memory, environment or
	 * fds through /proc: the credential lives here (reset for the CLI by its execve). */
	prctl(PR_SET_DUMPABLE, 0);
	log_init("agent", LOG_LVL_INFO);
	if (window) {
		if (rw_parse_int(window, AGENT_MIN_WINDOW, AGENT_MAX_WINDOW, &v)) {
			fprintf(stderr, "runwire-agent: --window must be %u..%u bytes\n",
				AGENT_MIN_WINDOW, AGENT_MAX_WINDOW);
			return 2;
		}
		a.cfg.window = (size_t)v;
	}
	if (grace) {
		if (rw_parse_int(grace, 1, 7 * 86400, &v)) {
			fprintf(stderr, "runwire-agent: --grace must be 1..604800 seconds\n");
			return 2;
		}
		a.cfg.grace_s = (int)v;
	}
	if (idle_exit) {
		if (rw_parse_int(idle_exit, 0, AGENT_MAX_IDLE_EXIT_S, &v)) {
			fprintf(stderr, "runwire-agent: --idle-exit must be 0..%d seconds\n",
				AGENT_MAX_IDLE_EXIT_S);
			return 2;
		}
		a.cfg.idle_exit_s = (int)v;
	}
	if (!a.cfg.ready_file && ready_file && *ready_file)
		a.cfg.ready_file = strdup(ready_file);
	if (a.cfg.ready_file && !*a.cfg.ready_file) {
		fprintf(stderr, "runwire-agent: --ready-file wants a path\n");
		return 2;
	}
	/* a file left by an earlier agent in the same place must not say Ready for this one */
	if (a.cfg.ready_file)
		unlink(a.cfg.ready_file);
	if (!control) {
		fprintf(stderr, "runwire-agent: no control URL: pass --control ws://HOST:PORT/agent or set RUNWIRE_CONTROL_URL\n");
		return 2;
	}
	if (token_fd >= 0) {
		a.cfg.ticket = read_ticket_fd(token_fd);
	} else if (token_file) {
		a.cfg.ticket = rw_read_file(token_file, AGENT_MAX_TICKET, NULL);
		a.cfg.token_file = strdup(token_file);
		if (!a.cfg.ticket) {
			fprintf(stderr, "runwire-agent: cannot read token file %s: %s\n", token_file,
				strerror(errno));
			return 2;
		}
	}
	if (!a.cfg.ticket || !*a.cfg.ticket) {
		fprintf(stderr, "runwire-agent: no runner credential: pass --token-file FILE or --token-fd N\n");
		return 2;
	}
	a.cfg.control_url = strdup(control);
	a.cfg.ca_file = ca_file && *ca_file ? strdup(ca_file) : NULL;
	a.cfg.cache_dir = prepare_cache_dir(cache_dir, a.cfg.work_root);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	log_route_lws();
	/* curl_global_init runs here, before any bundle worker thread exists */
	if (bundle_global_init() || uplink_start(&a)) {
		fprintf(stderr, "runwire-agent: cannot start (bad --control URL?)\n");
		return 1;
	}
	while (!a.done && !agent_stop)
		if (lws_service(a.ctx, 0) < 0)
			break;
	if (agent_stop) {
		log_info("terminated", "{s:i}", "signal", (int)agent_stop);
		runner_abandon(&a);
		a.exit_status = 128 + agent_stop;
	}
	runner_stop_worker(&a);   /* its wake-ups go through the context released next */
	uplink_set_ready(&a, 0);  /* an exiting agent is counted nowhere */
	uplink_release(&a);
	runner_release(&a);
	sodium_memzero(a.cfg.ticket, strlen(a.cfg.ticket));
	free(a.cfg.ticket);
	free(a.cfg.token_file);
	free(a.cfg.control_url);
	free(a.cfg.work_root);
	free(a.cfg.ca_file);
	free(a.cfg.cache_dir);
	free(a.cfg.bwrap);
	free(a.cfg.ready_file);
	return a.exit_status;
}
