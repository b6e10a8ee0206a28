/* dispatcher.c: where agents come from (DESIGN.md: dispatcher local | external).
 *
 * Local (the embedded default): control spawns runwire-agent children on this machine,
 * keeps `local_runners` of them warm, and spawns more on demand up to `max_runners`. Each
 * child gets a one-time claim ticket through an inherited pipe, never through its
 * environment or a file. External: agents come from elsewhere (Kubernetes pods scaled by
 * KEDA on /api/queue) and present a pod's service-account token (runner_auth.h) or the
 * runner credential from --runner-token-file.
 */
#include "control/control.h"
#include "control/runner_auth.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DISPATCH_TICKET_BYTES 32
#define DISPATCH_TOKEN_MAX 4096
#define DISPATCH_TICKET_FD 3
#define DISPATCH_PROBE_ERR 512     /* bytes of bwrap's complaint kept for the start-up log */
#define DISPATCH_MAX_RO_DIRS 16    /* --sandbox-ro entries (the agent's SANDBOX_MAX_RO_DIRS) */
#define DISPATCH_AGENT_ARGS (12 + 2 * DISPATCH_MAX_RO_DIRS)

extern char **environ;

struct local_agent {
	int id;
	pid_t pid;
	/* SHA-256 of its one-time ticket: the ticket itself goes to the agent only. Kept after
	 * the claim so that the agent, and only it, can resume its session with it. */
	uint8_t ticket_hash[crypto_hash_sha256_BYTES];
	int claimed;
};

struct dispatcher {
	struct control *ctl;
	struct local_agent *locals;
	size_t n_locals, cap_locals;
	int next_id;
	char *runner_token;    /* external credential, or NULL */
	struct runner_auth *ra; /* external one-claim service-account tokens, or NULL */
	int64_t last_spawn_fail_ms;
	int sandbox;           /* local agents run sessions in bubblewrap (--sandbox) */
};

/* Runs bubblewrap once with the namespaces a session's sandbox uses (agent/sandbox.c), so that
 * control knows at start whether local sessions can be isolated here. 0, or -1 with bwrap's
 * complaint (or the spawn error) in `why`. */
static int sandbox_probe(const char *bwrap, char *why, size_t whylen)
{
	char *const argv[] = { (char *)bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc",
			       "--unshare-uts", "--unshare-net", "--disable-userns", "--cap-drop",
			       "ALL", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
			       "--dev", "/dev", "--tmpfs", "/tmp", "--", "true", NULL };
	posix_spawn_file_actions_t fa;
	int errp[2], status = 0, r;
	ssize_t n = 0, got;
	pid_t pid;

	snprintf(why, whylen, "unknown failure");
	if (pipe2(errp, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	r = posix_spawnp(&pid, bwrap, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(errp[1]);
	if (r) {
		close(errp[0]);
		snprintf(why, whylen, "cannot run %s: %s", bwrap, strerror(r));
		return -1;
	}
	while (n < (ssize_t)whylen - 1 && (got = read(errp[0], why + n, whylen - 1 - (size_t)n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		n += got;
	}
	close(errp[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	while (n && (why[n - 1] == '\n' || why[n - 1] == '\r'))
		n--;
	why[n] = '\0';
	if (!n)
		snprintf(why, whylen, "%s exited with status %d", bwrap,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return -1;
}

/* Decides at start whether local sessions run sandboxed (docs/security.md): with Firebase
 * sign-in (many users on one machine) control refuses to run them unisolated unless the
 * operator says --unsafe-no-sandbox; the single local user is warned. 0 or -1 (do not start). */
static int sandbox_decide(struct dispatcher *d)
{
	struct control *ctl = d->ctl;
	const char *bwrap = ctl->cfg.bwrap ? ctl->cfg.bwrap : "bwrap";
	char why[DISPATCH_PROBE_ERR];

	if (ctl->cfg.external)
		return 0;      /* runners live elsewhere: their pods are their sandbox */
	if (ctl->cfg.unsafe_no_sandbox) {
		log_warn("sandbox_off", "{s:s}", "reason", "--unsafe-no-sandbox: local sessions can "
			 "read each other's files and signal the agents");
		return 0;
	}
	if (!sandbox_probe(bwrap, why, sizeof(why))) {
		d->sandbox = 1;
		log_info("sandbox", "{s:s, s:s}", "bwrap", bwrap, "state", "on");
		return 0;
	}
	if (ctl->fa) {
		fprintf(stderr, "runwire-control: bubblewrap cannot run here (%s), so local sessions "
				"cannot be isolated from each other; with Firebase sign-in (many users) "
				"that is refused: fix bubblewrap (user namespaces) or pass "
				"--unsafe-no-sandbox\n", why);
		return -1;
	}
	log_warn("sandbox_unavailable", "{s:s, s:s, s:s}", "bwrap", bwrap, "reason", why,
		 "consequence", "local sessions run without a sandbox (single local user)");
	return 0;
}

struct dispatcher *dispatcher_new(struct control *ctl)
{
	struct dispatcher *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ctl = ctl;
	if (ctl->cfg.runner_jwks_file || ctl->cfg.runner_jwks_url) {
		char err[512];
		struct runner_auth_opts ro = {
			.issuer = ctl->cfg.runner_issuer,
			.jwks_file = ctl->cfg.runner_jwks_file,
			.jwks_url = ctl->cfg.runner_jwks_url,
			.ca_file = ctl->cfg.runner_jwks_ca_file,
			.kid_refetch_s = ctl->cfg.runner_jwks_refetch_s,
		};
		d->ra = runner_auth_new(&ro, err, sizeof(err));
		if (!d->ra) {
			fprintf(stderr, "runwire-control: %s\n", err);
			free(d);
			return NULL;
		}
		/* the first set before the first runner, when the cluster answers; when it does
		 * not, runners are asked to retry until it does (runner_auth.h) */
		runner_auth_refresh_now(d->ra);
	}
	if (ctl->cfg.runner_token_file) {
		d->runner_token = rw_read_file(ctl->cfg.runner_token_file, DISPATCH_TOKEN_MAX, NULL);
		if (!d->runner_token || strlen(d->runner_token) < 16) {
			fprintf(stderr, "runwire-control: runner token file %s: %s\n",
				ctl->cfg.runner_token_file,
				d->runner_token ? "shorter than 16 characters" : strerror(errno));
			free(d->runner_token);
			runner_auth_free(d->ra);
			free(d);
			return NULL;
		}
	}
	if (sandbox_decide(d)) {
		if (d->runner_token)
			sodium_memzero(d->runner_token, strlen(d->runner_token));
		free(d->runner_token);
		runner_auth_free(d->ra);
		free(d);
		return NULL;
	}
	return d;
}

void dispatcher_free(struct dispatcher *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_locals; i++) {
		kill(d->locals[i].pid, SIGTERM);
		waitpid(d->locals[i].pid, NULL, 0);
	}
	free(d->locals);
	runner_auth_free(d->ra);
	if (d->runner_token)
		sodium_memzero(d->runner_token, strlen(d->runner_token));
	free(d->runner_token);
	free(d);
}

size_t dispatcher_local_count(const struct dispatcher *d)
{
	return d->n_locals;
}

/* The local agent whose ticket `credential` is, or NULL. Compares hashes in constant time. */
static struct local_agent *local_by_ticket(struct dispatcher *d, const char *credential)
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const uint8_t *)credential, strlen(credential));
	for (size_t i = 0; i < d->n_locals; i++)
		if (!sodium_memcmp(h, d->locals[i].ticket_hash, sizeof(h)))
			return &d->locals[i];
	return NULL;
}

static int is_runner_token(const struct dispatcher *d, const char *credential)
{
	size_t n = strlen(credential);

	return d->runner_token && n == strlen(d->runner_token) &&
	       !sodium_memcmp(credential, d->runner_token, n);
}

int dispatcher_authenticate(struct dispatcher *d, const char *credential,
			    struct agent_identity *who)
{
	struct local_agent *la = local_by_ticket(d, credential);

	memset(who, 0, sizeof(*who));
	if (la) {
		if (la->claimed)
			return RW_EAUTH;
		la->claimed = 1;
		who->local = 1;
		who->agent_id = la->id;
		return RW_OK;
	}
	if (d->ra && runner_auth_is_jwt(credential)) {
		char reason[128];
		int r = runner_auth_claim(d->ra, credential, rw_now_ms() / 1000, who->pod_uid,
					  sizeof(who->pod_uid), reason, sizeof(reason));
		if (r == RW_EAGAIN) {
			log_warn("runner_token_deferred", "{s:s}", "reason", reason);
			return RW_EAGAIN;
		}
		if (r) {
			log_warn("runner_token_refused", "{s:s}", "reason", reason);
			return RW_EAUTH;
		}
		return RW_OK;
	}
	if (is_runner_token(d, credential))
		return RW_OK;
	return RW_EAUTH;
}

void dispatcher_release(struct dispatcher *d, const struct agent_identity *who)
{
	if (!who->local && who->pod_uid[0] && d->ra)
		runner_auth_release(d->ra, who->pod_uid);
}

int dispatcher_check_holder(struct dispatcher *d, const char *credential,
			    const struct agent_identity *holder)
{
	struct local_agent *la;
	char uid[sizeof(holder->pod_uid)], reason[128];

	if (holder->local) {
		la = local_by_ticket(d, credential);
		return la && la->claimed && la->id == holder->agent_id ? RW_OK : RW_EAUTH;
	}
	if (holder->pod_uid[0]) {
		if (!d->ra || !runner_auth_is_jwt(credential))
			return RW_EAUTH;
		int r = runner_auth_verify(d->ra, credential, rw_now_ms() / 1000, uid, sizeof(uid),
					   reason, sizeof(reason));
		if (r == RW_EAGAIN) {
			log_warn("runner_token_deferred", "{s:s}", "reason", reason);
			return RW_EAGAIN;
		}
		if (r) {
			log_warn("runner_token_refused", "{s:s}", "reason", reason);
			return RW_EAUTH;
		}
		return strcmp(uid, holder->pod_uid) ? RW_EAUTH : RW_OK;
	}
	return is_runner_token(d, credential) ? RW_OK : RW_EAUTH;
}

static int spawn_local(struct dispatcher *d)
{
	struct control *ctl = d->ctl;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct local_agent *la;
	char url[512], work[4096], ticket[2 * DISPATCH_TICKET_BYTES + 1];
	int pipefd[2], r;
	pid_t pid;

	if (d->n_locals == d->cap_locals) {
		size_t cap = d->cap_locals ? 2 * d->cap_locals : 8;
		struct local_agent *nl = realloc(d->locals, cap * sizeof(*nl));
		if (!nl)
			return RW_ENOMEM;
		d->locals = nl;
		d->cap_locals = cap;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return RW_EIO;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/agent", ctl->cfg.port);
	snprintf(work, sizeof(work), "%s/work", ctl->cfg.data_dir);
	char *argv[DISPATCH_AGENT_ARGS + 1] = { ctl->cfg.agent_path, "--control", url, "--token-fd",
						"3", "--work-root", work, "--exit-with-parent" };
	char *ro = NULL, *save = NULL;
	size_t argc = 8;

	if (d->sandbox) {
		argv[argc++] = "--sandbox";
		if (ctl->cfg.bwrap) {
			argv[argc++] = "--bwrap";
			argv[argc++] = ctl->cfg.bwrap;
		}
		ro = ctl->cfg.sandbox_ro ? strdup(ctl->cfg.sandbox_ro) : NULL;
		for (char *dir = ro ? strtok_r(ro, ":", &save) : NULL;
		     dir && argc + 2 <= DISPATCH_AGENT_ARGS; dir = strtok_r(NULL, ":", &save)) {
			argv[argc++] = "--sandbox-ro";
			argv[argc++] = dir;
		}
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[0], DISPATCH_TICKET_FD);
	/* nothing else of control's (listening socket, client connections) is inherited */
	posix_spawn_file_actions_addclosefrom_np(&fa, DISPATCH_TICKET_FD + 1);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	r = posix_spawn(&pid, ctl->cfg.agent_path, &fa, &attr, argv, environ);
	free(ro);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[0]);
	if (r) {
		close(pipefd[1]);
		log_error("spawn_failed", "{s:s, s:s}", "agent", ctl->cfg.agent_path, "reason",
			  strerror(r));
		return RW_EIO;
	}
	la = &d->locals[d->n_locals++];
	memset(la, 0, sizeof(*la));
	la->id = ++d->next_id;
	la->pid = pid;
	rw_random_hex(ticket, DISPATCH_TICKET_BYTES);
	crypto_hash_sha256(la->ticket_hash, (const uint8_t *)ticket, strlen(ticket));
	/* a pipe holds far more than one ticket: this write does not block */
	rw_write_all(pipefd[1], ticket, strlen(ticket));
	sodium_memzero(ticket, sizeof(ticket));
	close(pipefd[1]);
	log_info("agent_spawned", "{s:i, s:i}", "agent_id", la->id, "pid", (int)pid);
	return RW_OK;
}

static void reap_locals(struct dispatcher *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < d->n_locals; i++) {
			struct local_agent *la = &d->locals[i];
			char why[32], reason[96];

			if (la->pid != pid)
				continue;
			if (WIFSIGNALED(status))
				snprintf(why, sizeof(why), "signal %d", WTERMSIG(status));
			else
				snprintf(why, sizeof(why), "status %d", WEXITSTATUS(status));
			log_info("agent_exited", "{s:i, s:i, s:s}", "agent_id", la->id, "pid",
				 (int)pid, "status", why);
			/* the reason a session still live gets; a delivered one is final already */
			snprintf(reason, sizeof(reason), "runner exited unexpectedly (%s)", why);
			agent_link_runner_gone(d->ctl, la->id, reason);
			d->locals[i] = d->locals[--d->n_locals];
			break;
		}
	}
}

/* Keeps `local_runners` unclaimed agents ready, plus one per waiting session. */
static void keep_warm(struct dispatcher *d)
{
	struct control *ctl = d->ctl;
	size_t unclaimed = 0, want;

	if (ctl->cfg.external || ctl->stopping)
		return;
	for (size_t i = 0; i < d->n_locals; i++)
		unclaimed += !d->locals[i].claimed;
	want = (size_t)ctl->cfg.local_runners + session_count_waiting(ctl);
	/* idle agents are claimed (connected) but have no session: they count as warm */
	want = want > agent_link_count(ctl, 1) ? want - agent_link_count(ctl, 1) : 0;
	if (rw_now_ms() - d->last_spawn_fail_ms < 1000)
		return;
	while (unclaimed < want && d->n_locals < (size_t)ctl->cfg.max_runners) {
		if (spawn_local(d)) {
			d->last_spawn_fail_ms = rw_now_ms();
			break;
		}
		unclaimed++;
	}
}

void dispatcher_run(struct control *ctl)
{
	struct session *s;
	struct agent_link *l;

	while (ctl->waiting_head && (l = agent_link_pop_idle(ctl))) {
		s = session_pop_waiting(ctl);
		agent_link_assign(l, s);
	}
	keep_warm(ctl->disp);
}

void dispatcher_tick(struct control *ctl)
{
	reap_locals(ctl->disp);
	dispatcher_run(ctl);
}
