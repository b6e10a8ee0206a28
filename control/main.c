/* main.c: runwire-control, the control service (DESIGN.md: HTTP API, session tokens,
 * store, relay, dispatcher). The embedded default is this one process with an in-memory
 * store that spawns agents on this machine.
 */
#include "control/control.h"
#include "control/retention.h"
#include "control/firebase_auth.h"
#include "control/fleet.h"
#include "common/log.h"
#include "common/rw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static struct control *the_control;

static void on_term(int signo)
{
	if (the_control) {
		the_control->stopping = 1;
		lws_cancel_service(the_control->ctx);
	}
}

/* A worker (the KMS signer) finished: wake the loop, which delivers it (http_api.c). */
static void wake_loop(void *arg)
{
	struct control *ctl = arg;

	if (ctl->ctx)
		lws_cancel_service(ctl->ctx);
}

/* Every client connection holds a descriptor, and the soft limit is often 1024 while the
 * hard one is far higher: take all we may, before libwebsockets sizes its tables from it.
 * The front door keeps its connection cap below it (docs/security.md, "Abuse limits"). */
static void raise_descriptor_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("descriptor_limit", "{s:s}", "reason", strerror(errno));
}

static int is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!strcmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

static int make_dirs(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* Integer from the config file's "limits" section, or `dflt`. */
static int limit_of(struct control *ctl, const char *key, int dflt)
{
	json_t *v = json_object_get(json_object_get(ctl->cfg.file, "limits"), key);

	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 1000000
		       ? (int)json_integer_value(v) : dflt;
}

/* Sign-in (Firebase or the local user), rate limits and the audit log. */
static int start_auth(struct control *ctl)
{
	char err[256];

	/* With real users, limits apply by default; the embedded default's one local user has
	 * none unless the config names them. */
	int signed_in = ctl->cfg.firebase_project != NULL;
	store_limit_set(ctl->store, STORE_LIMIT_SESSIONS,
			limit_of(ctl, "sessionsPerMinute", signed_in ? 30 : 0), 60);
	store_limit_set(ctl->store, STORE_LIMIT_TOKENS,
			limit_of(ctl, "tokensPerMinute", signed_in ? 60 : 0), 60);
	store_limit_set(ctl->store, STORE_LIMIT_AUTHFAIL,
			limit_of(ctl, "authFailuresPerMinute", signed_in ? 20 : 0), 60);
	ctl->max_concurrent = limit_of(ctl, "concurrentSessions", signed_in ? 16 : 0);
	if (log_audit_open(ctl->cfg.audit_log)) {
		fprintf(stderr, "runwire-control: cannot open audit log %s: %s\n", ctl->cfg.audit_log,
			strerror(errno));
		return RW_EIO;
	}
	if (!ctl->cfg.firebase_project)
		return RW_OK;
	struct firebase_auth_opts o = {
		.project_id = ctl->cfg.firebase_project,
		.certs_url = ctl->cfg.firebase_certs_url,
	};
	if (ctl->cfg.firebase_emulator) {
		int r = firebase_auth_emulator_host_ok(ctl->cfg.firebase_emulator);
		if (r) {
			fprintf(stderr, "runwire-control: --firebase-auth-emulator %s: %s\n",
				ctl->cfg.firebase_emulator,
				r == RW_EUNSAFE ? "refusing a non-loopback emulator: its tokens are unsigned"
						: "want HOST:PORT");
			return RW_EINVAL;
		}
		if (!is_loopback(ctl->cfg.listen_host)) {
			fprintf(stderr, "runwire-control: refusing to accept the emulator's unsigned tokens "
					"on %s: listen on a loopback address\n", ctl->cfg.listen_host);
			return RW_EINVAL;
		}
		o.emulator = 1;
		log_warn("firebase_emulator", "{s:s, s:s}", "emulator", ctl->cfg.firebase_emulator,
			 "warning", "accepting UNSIGNED Firebase Auth emulator tokens: development only");
	}
	ctl->fa = firebase_auth_new(&o, err, sizeof(err));
	if (!ctl->fa) {
		fprintf(stderr, "runwire-control: Firebase: %s\n", err);
		return RW_EINVAL;
	}
	if (!o.emulator && firebase_auth_refresh_now(ctl->fa)) {
		firebase_auth_last_error(ctl->fa, err, sizeof(err));
		log_warn("firebase_certs_unavailable", "{s:s}", "reason", err);
	}
	log_info("sign_in", "{s:s, s:s}", "provider", "firebase", "project", ctl->cfg.firebase_project);
	return RW_OK;
}

/* The store --store names (store.h). A shared store needs a session-token key every replica
 * holds: each must verify the tokens the others mint. NULL with a message printed. */
static struct store *open_store(const struct control_config *cfg)
{
	struct store *st;
	char err[1024], *pw = NULL;
	size_t len = 0;

	if (cfg->store_password_file) {
		pw = rw_read_file(cfg->store_password_file, STORE_MAX_PASSWORD, &len);
		if (!pw) {
			fprintf(stderr, "runwire-control: cannot read --store-password-file %s: %s "
				"(at most %d bytes)\n", cfg->store_password_file, strerror(errno),
				STORE_MAX_PASSWORD);
			return NULL;
		}
		while (len && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
			pw[--len] = '\0';
		if (!len) {
			fprintf(stderr, "runwire-control: --store-password-file %s is empty\n",
				cfg->store_password_file);
			free(pw);
			return NULL;
		}
	}
	st = store_new(cfg->store_url, pw, err, sizeof(err));
	if (pw) {
		sodium_memzero(pw, len);
		free(pw);
	}
	if (!st) {
		fprintf(stderr, "runwire-control: %s\n", err);
		return NULL;
	}
	if (store_is_shared(st) && !cfg->session_secret_file && !cfg->session_key_file) {
		fprintf(stderr,
			"runwire-control: --store %s is shared by control replicas, so every replica "
			"must verify the session tokens the others mint: a secret generated at start "
			"would be this process's alone. Give every replica the same key: "
			"--session-secret-file FILE (at least 32 random bytes, for example from "
			"`head -c 32 /dev/urandom > FILE`), or --session-key-file with "
			"--session-key-id (env RUNWIRE_SESSION_SECRET_FILE / RUNWIRE_SESSION_KEY_FILE)\n",
			store_kind(st));
		store_free(st);
		return NULL;
	}
	return st;
}

int main(int argc, char **argv)
{
	static struct control ctl;
	char err[256];
	int r;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("runwire-control %s\n", RW_VERSION);
		return 0;
	}
	r = config_load(&ctl.cfg, argc, argv);
	if (r) {
		config_release(&ctl.cfg);
		return r > 0 ? 0 : 2;
	}
	log_init("control", LOG_LVL_INFO);
	log_route_lws();
	if (ctl.cfg.file)
		log_info("config", "{s:s}", "file", ctl.cfg.config_file);
	if (sodium_init() < 0)
		return 1;

	/* Without user authentication the single local user is only safe when nobody else can
	 * reach us. */
	if (!ctl.cfg.firebase_project && !is_loopback(ctl.cfg.listen_host)) {
		fprintf(stderr,
			"runwire-control: refusing to listen on %s without user authentication: the "
			"embedded default serves one local user and only on a loopback address "
			"(127.0.0.1, ::1); listen there or configure authentication\n",
			ctl.cfg.listen_host);
		config_release(&ctl.cfg);
		return 2;
	}
	char rec_dir[4200];
	snprintf(rec_dir, sizeof(rec_dir), "%s/recordings", ctl.cfg.data_dir);
	if (make_dirs(ctl.cfg.data_dir) || make_dirs(rec_dir) || make_dirs(session_dir(&ctl))) {
		fprintf(stderr, "runwire-control: cannot create data directory %s: %s\n",
			ctl.cfg.data_dir, strerror(errno));
		config_release(&ctl.cfg);
		return 1;
	}
	if (ctl.cfg.file && templates_check(ctl.cfg.file, err, sizeof(err))) {
		fprintf(stderr, "runwire-control: %s: %s\n", ctl.cfg.config_file, err);
		config_release(&ctl.cfg);
		return 2;
	}
	fleet_init(&ctl);
	ctl.store = open_store(&ctl.cfg);
	if (!ctl.store) {
		config_release(&ctl.cfg);
		return 2;
	}
	ctl.keys = token_keys_new(&ctl.cfg, err, sizeof(err));
	if (!ctl.keys) {
		fprintf(stderr, "runwire-control: %s\n", err);
		store_free(ctl.store);
		config_release(&ctl.cfg);
		return 2;
	}
	token_keys_set_wake(ctl.keys, wake_loop, &ctl);
	if (start_auth(&ctl)) {
		store_free(ctl.store);
		token_keys_free(ctl.keys);
		config_release(&ctl.cfg);
		return 2;
	}
	ctl.ret = retention_new(&ctl);
	ctl.disp = ctl.ret ? dispatcher_new(&ctl) : NULL;
	if (!ctl.disp) {
		retention_free(ctl.ret);
		store_free(ctl.store);
		token_keys_free(ctl.keys);
		config_release(&ctl.cfg);
		return 2;
	}

	/* Scrollback caches are megabytes each and go when their session ends: keep them out of
	 * the heap (glibc's threshold would otherwise grow to their size, and freed caches would
	 * stay in the process), so memory after sessions end is what live ones need. */
	mallopt(M_MMAP_THRESHOLD, CONTROL_MMAP_THRESHOLD);
	signal(SIGPIPE, SIG_IGN);
	raise_descriptor_limit();
	the_control = &ctl;
	if (server_start(&ctl) || store_start(ctl.store, ctl.ctx, ctl.vh)) {
		dispatcher_free(ctl.disp);
		token_keys_free(ctl.keys);
		config_release(&ctl.cfg);
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	server_run(&ctl);
	log_info("stopping", NULL);
	ctl.stopping = 1;
	token_keys_stop(ctl.keys);  /* its worker wakes the loop: stop it while there is one */
	dispatcher_free(ctl.disp);
	ctl.disp = NULL;
	/* before the loop goes: the store's connection is one of its descriptors */
	store_free(ctl.store);
	ctl.store = NULL;
	fleet_free();
	server_stop(&ctl);
	session_free_all(&ctl);
	retention_free(ctl.ret);
	firebase_auth_free(ctl.fa);
	log_audit_close();
	token_keys_free(ctl.keys);
	config_release(&ctl.cfg);
	return 0;
}
