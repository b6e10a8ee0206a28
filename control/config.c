/* config.c: runwire-control's settings. Every setting has a flag, an environment variable
 * and a key in the --config JSON file; precedence is flag > environment > file > default.
 */
#include "control/control.h"
#include "control/agent_redirect.h"
#include "control/google_certs.h"
#include "control/retention.h"
#include "common/rw.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (1u << 20)
/* Read when neither --config nor RUNWIRE_CONFIG names a file: <dir of the binary>/../ this,
 * so a build tree's control (build/bin/) finds build/runwire-control.json, which
 * scripts/build-bundle.sh writes with the sample-cli template once the bundle is built. */
#define CONFIG_DEFAULT_NAME "runwire-control.json"
#define CONFIG_NONE "none"

enum opt_type { OPT_STR, OPT_INT, OPT_LISTEN, OPT_INTERNAL_LISTEN, OPT_DISPATCHER,
		OPT_DURATION, OPT_BYTES, OPT_FLAG };

struct opt_def {
	const char *flag;     /* --flag */
	const char *env;      /* RUNWIRE_... */
	const char *key;      /* key in the config file */
	enum opt_type type;
	long long min, max;
	size_t off;           /* field in struct control_config */
	const char *arg;
	const char *help;
};

#define OFF(f) offsetof(struct control_config, f)

static const struct opt_def opt_defs[] = {
	{ "listen", "RUNWIRE_LISTEN", "listen", OPT_LISTEN, 0, 0, 0, "ADDR:PORT",
	  "address to serve HTTP and WebSocket on (default 127.0.0.1:8080; port 0 picks one)" },
	{ "internal-listen", "RUNWIRE_INTERNAL_LISTEN", "internalListen", OPT_INTERNAL_LISTEN, 0, 0, 0, "ADDR:PORT",
	  "also serve /api/queue, /metrics, /healthz and /readyz here, behind --internal-token-file; the main listener then answers 404 for /api/queue and /metrics" },
	{ "internal-token-file", "RUNWIRE_INTERNAL_TOKEN_FILE", "internalTokenFile", OPT_STR, 0, 0, OFF(internal_token_file), "FILE",
	  "bearer token (16 to 4096 characters) the internal listener requires; optional only when --internal-listen is loopback" },
	{ "warm-target", "RUNWIRE_WARM_TARGET", "warmTarget", OPT_INT, 0, CONTROL_MAX_WARM_TARGET, OFF(warm_target), "N",
	  "--dispatcher external: idle runners to keep connected; /api/queue's demand counts them (default 0; the local dispatcher uses --local-runners)" },
	{ "advertise-url", "RUNWIRE_ADVERTISE_URL", "advertiseUrl", OPT_STR, 0, 0, OFF(advertise_url), "URL",
	  "--dispatcher external with a shared store: ws[s]://HOST:PORT/agent at which agents reach this replica itself (not through a load balancer); published to the other replicas, which redirect idle agents here while sessions wait here" },
	{ "local-runners", "RUNWIRE_LOCAL_RUNNERS", "localRunners", OPT_INT, 0, 1024, OFF(local_runners), "N",
	  "local agents kept warm (default 1)" },
	{ "max-runners", "RUNWIRE_MAX_RUNNERS", "maxRunners", OPT_INT, 1, 4096, OFF(max_runners), "N",
	  "most local agents at once; more sessions wait in the queue (default 16)" },
	{ "dispatcher", "RUNWIRE_DISPATCHER", "dispatcher", OPT_DISPATCHER, 0, 0, 0, "local|external",
	  "local spawns agents here (default); external waits for agents from elsewhere" },
	{ "runner-token-file", "RUNWIRE_RUNNER_TOKEN_FILE", "runnerTokenFile", OPT_STR, 0, 0, OFF(runner_token_file), "FILE",
	  "credential that external agents present (at least 16 characters)" },
	{ "runner-jwks-file", "RUNWIRE_RUNNER_JWKS_FILE", "runnerJwksFile", OPT_STR, 0, 0, OFF(runner_jwks_file), "FILE",
	  "external runners present Kubernetes service-account tokens verified with this JWKS (one claim per pod)" },
	{ "runner-jwks-url", "RUNWIRE_RUNNER_JWKS_URL", "runnerJwksUrl", OPT_STR, 0, 0, OFF(runner_jwks_url), "URL",
	  "like --runner-jwks-file, fetched from this URL (https, or http to loopback) and cached per its Cache-Control max-age" },
	{ "runner-jwks-ca-file", "RUNWIRE_RUNNER_JWKS_CA_FILE", "runnerJwksCaFile", OPT_STR, 0, 0, OFF(runner_jwks_ca_file), "FILE",
	  "CA certificates (PEM) to trust for --runner-jwks-url instead of the system's" },
	{ "runner-jwks-refetch", "RUNWIRE_RUNNER_JWKS_REFETCH", "runnerJwksRefetch", OPT_INT, 1, 3600, OFF(runner_jwks_refetch_s), "SECONDS",
	  "a token with a kid not in the fetched JWKS refetches it at most this often (default 60)" },
	{ "runner-issuer", "RUNWIRE_RUNNER_ISSUER", "runnerIssuer", OPT_STR, 0, 0, OFF(runner_issuer), "ISS",
	  "expected issuer of runners' service-account tokens (the cluster's)" },
	{ "data-dir", "RUNWIRE_DATA_DIR", "dataDir", OPT_STR, 0, 0, OFF(data_dir), "DIR",
	  "state and work directories (default $XDG_STATE_HOME/runwire or ~/.local/state/runwire)" },
	{ "config", "RUNWIRE_CONFIG", NULL, OPT_STR, 0, 0, OFF(config_file), "FILE",
	  "JSON file with any of these settings (keys in camelCase); default: "
	  CONFIG_DEFAULT_NAME " beside the binary's directory when present; \"none\" for no file" },
	{ "session-secret-file", "RUNWIRE_SESSION_SECRET_FILE", "sessionSecretFile", OPT_STR, 0, 0, OFF(session_secret_file), "FILE",
	  "HS256 secret for session tokens, at least 32 bytes (default: generated at start)" },
	{ "session-key-file", "RUNWIRE_SESSION_KEY_FILE", "sessionKeyFile", OPT_STR, 0, 0, OFF(session_key_file), "FILE",
	  "sign session tokens with this EC P-256 (ES256) or RSA (RS256) private key instead of a secret" },
	{ "session-key-id", "RUNWIRE_SESSION_KEY_ID", "sessionKeyId", OPT_STR, 0, 0, OFF(session_key_id), "KID",
	  "kid of --session-key-file" },
	{ "session-previous-key-file", "RUNWIRE_SESSION_PREVIOUS_KEY_FILE", "sessionPreviousKeyFile", OPT_STR, 0, 0, OFF(session_previous_key_file), "FILE",
	  "during a rollover: the previous key (public or private PEM), accepted but never used to sign" },
	{ "session-previous-key-id", "RUNWIRE_SESSION_PREVIOUS_KEY_ID", "sessionPreviousKeyId", OPT_STR, 0, 0, OFF(session_previous_key_id), "KID",
	  "kid of --session-previous-key-file" },
	{ "session-signer", "RUNWIRE_SESSION_SIGNER", "sessionSigner", OPT_STR, 0, 0, OFF(session_signer), "kms:KEY_VERSION",
	  "sign session tokens (RS256) with a Cloud KMS key version, projects/.../cryptoKeyVersions/V, instead of key files" },
	{ "kms-endpoint", "RUNWIRE_KMS_ENDPOINT", "kmsEndpoint", OPT_STR, 0, 0, OFF(kms_endpoint), "URL",
	  "Cloud KMS REST endpoint (default https://cloudkms.googleapis.com; http only to loopback)" },
	{ "scrollback", "RUNWIRE_SCROLLBACK", "scrollback", OPT_INT, 4096, CONTROL_MAX_SCROLLBACK, OFF(scrollback), "BYTES",
	  "output kept per session for viewers that attach late (default 4194304)" },
	{ "retention", "RUNWIRE_RETENTION", "retention", OPT_DURATION, 0, 0, OFF(retention_s), "DURATION",
	  "delete ended sessions (log, events, recording) this long after they end: 90s, 15m, 12h, 7d (default 7d)" },
	{ "max-data-bytes", "RUNWIRE_MAX_DATA_BYTES", "maxDataBytes", OPT_BYTES, 0, 0, OFF(max_data_bytes), "BYTES",
	  "keep the data directory's session files below this, oldest first: 1048576, 512M, 10G (default 10G)" },
	{ "cancel-grace", "RUNWIRE_CANCEL_GRACE_MS", "cancelGraceMs", OPT_INT, 0, 600000, OFF(cancel_grace_ms), "MS",
	  "after SIGHUP, wait this long before SIGKILL on cancel (default 3000)" },
	{ "runner-grace", "RUNWIRE_RUNNER_GRACE", "runnerGraceS", OPT_INT, 1, 86400, OFF(runner_grace_s), "SECONDS",
	  "a runner that lost its link may come back this long (default 300)" },
	{ "max-connections", "RUNWIRE_MAX_CONNECTIONS", "maxConnections", OPT_INT, 0, 1000000, OFF(max_connections), "N",
	  "client connections at once, counting those still sending their request head (default: the descriptor limit minus 64)" },
	{ "max-connections-per-client", "RUNWIRE_MAX_CONNECTIONS_PER_CLIENT", "maxConnectionsPerClient", OPT_INT, 0, 1000000, OFF(max_connections_per_client), "N",
	  "connections at once from one client address; 0 = no limit (default 256 with Firebase sign-in, none for the embedded default's local user)" },
	{ "agent", "RUNWIRE_AGENT", "agent", OPT_STR, 0, 0, OFF(agent_path), "PATH",
	  "runwire-agent binary for local runners (default: beside runwire-control)" },
	{ "firebase-project", "RUNWIRE_FIREBASE_PROJECT", "firebaseProject", OPT_STR, 0, 0, OFF(firebase_project), "ID",
	  "sign users in with Firebase: verify ID tokens for this project" },
	{ "firebase-certs-url", "RUNWIRE_FIREBASE_CERTS_URL", "firebaseCertsUrl", OPT_STR, 0, 0, OFF(firebase_certs_url), "URL",
	  "where Google's signing certificates are fetched (https, or http on loopback)" },
	{ "firebase-auth-emulator", "RUNWIRE_FIREBASE_AUTH_EMULATOR", "firebaseAuthEmulator", OPT_STR, 0, 0, OFF(firebase_emulator), "HOST:PORT",
	  "development only: accept the Firebase Auth emulator's unsigned tokens (loopback only)" },
	{ "firebase-api-key", "RUNWIRE_FIREBASE_API_KEY", "firebaseApiKey", OPT_STR, 0, 0, OFF(firebase_api_key), "KEY",
	  "web API key the browser page signs in with (public by design)" },
	{ "firebase-auth-domain", "RUNWIRE_FIREBASE_AUTH_DOMAIN", "firebaseAuthDomain", OPT_STR, 0, 0, OFF(firebase_auth_domain), "DOMAIN",
	  "auth domain for the browser page's sign-in" },
	{ "store", "RUNWIRE_STORE", "store", OPT_STR, 0, 0, OFF(store_url), "memory|redis://HOST:PORT[/DB]",
	  "where shared state lives: memory (default, this process only) or Redis, shared by control replicas" },
	{ "store-password-file", "RUNWIRE_STORE_PASSWORD_FILE", "storePasswordFile", OPT_STR, 0, 0, OFF(store_password_file), "FILE",
	  "password for Redis AUTH (read once at start, never logged)" },
	{ "audit-log", "RUNWIRE_AUDIT_LOG", "auditLog", OPT_STR, 0, 0, OFF(audit_log), "FILE",
	  "append audit events as JSON lines (default <data-dir>/audit.log)" },
	{ "port-file", "RUNWIRE_PORT_FILE", "portFile", OPT_STR, 0, 0, OFF(port_file), "FILE",
	  "write the bound port to FILE once listening" },
	{ "bwrap", "RUNWIRE_BWRAP", "bwrap", OPT_STR, 0, 0, OFF(bwrap), "PATH",
	  "bubblewrap for the sandbox of local runners (default: bwrap from PATH)" },
	{ "sandbox-ro", "RUNWIRE_SANDBOX_RO", "sandboxRo", OPT_STR, 0, 0, OFF(sandbox_ro), "DIR[:DIR...]",
	  "directories shown read-only inside every local session's sandbox (tools, shared data)" },
	{ "unsafe-no-sandbox", "RUNWIRE_UNSAFE_NO_SANDBOX", "unsafeNoSandbox", OPT_FLAG, 0, 0, OFF(unsafe_no_sandbox), "",
	  "run local sessions without a sandbox, each able to read the others (see docs/security.md)" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: runwire-control [options]\n\n"
		     "The runwire control service: HTTP API, session tokens, the relay to viewers,\n"
		     "and the dispatcher that runners (runwire-agent) claim sessions from.\n\n");
	for (size_t i = 0; i < RW_ARRAY_LEN(opt_defs); i++) {
		const struct opt_def *d = &opt_defs[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s %s", d->flag, d->arg);
		fprintf(out, "  %-32s %s\n  %-32s (env %s)\n", left, d->help, "", d->env);
	}
	fprintf(out, "  %-32s %s\n", "-h, --help", "this text");
	fprintf(out, "  %-32s %s\n", "--version", "the version (alone)");
}

static int set_listen(char **hostp, int *portp, const char *v)
{
	const char *colon = strrchr(v, ':');
	long long port;
	char host[256];

	if (!colon || colon == v || (size_t)(colon - v) >= sizeof(host) ||
	    rw_parse_int(colon + 1, 0, 65535, &port))
		return -1;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	/* [::1]:8080 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	free(*hostp);
	*hostp = strdup(host);
	*portp = (int)port;
	return 0;
}

static int apply(struct control_config *cfg, const struct opt_def *d, const char *v,
		 const char *source)
{
	char *p = (char *)cfg + d->off;
	long long n;

	switch (d->type) {
	case OPT_STR:
		if (!*v)
			goto bad;
		free(*(char **)p);
		*(char **)p = strdup(v);
		return 0;
	case OPT_INT:
		if (rw_parse_int(v, d->min, d->max, &n))
			goto bad;
		if (d->off == OFF(scrollback))
			*(size_t *)p = (size_t)n;
		else
			*(int *)p = (int)n;
		return 0;
	case OPT_DURATION:
		if (retention_parse_duration(v, (int64_t *)(void *)p))
			goto bad;
		return 0;
	case OPT_BYTES:
		if (retention_parse_bytes(v, (uint64_t *)(void *)p) ||
		    *(uint64_t *)(void *)p < CONTROL_MIN_DATA_BYTES)
			goto bad;
		return 0;
	case OPT_LISTEN:
		if (set_listen(&cfg->listen_host, &cfg->port, v))
			goto bad;
		return 0;
	case OPT_INTERNAL_LISTEN:
		if (set_listen(&cfg->internal_host, &cfg->internal_port, v))
			goto bad;
		return 0;
	case OPT_FLAG:
		if (!strcmp(v, "1") || !strcmp(v, "true"))
			*(int *)p = 1;
		else if (!strcmp(v, "0") || !strcmp(v, "false"))
			*(int *)p = 0;
		else
			goto bad;
		return 0;
	case OPT_DISPATCHER:
		if (!strcmp(v, "local"))
			cfg->external = 0;
		else if (!strcmp(v, "external"))
			cfg->external = 1;
		else
			goto bad;
		return 0;
	}
bad:
	if (d->type == OPT_INT)
		fprintf(stderr, "runwire-control: --%s (from %s): \"%s\" is not an integer in %lld..%lld\n",
			d->flag, source, v, d->min, d->max);
	else
		fprintf(stderr, "runwire-control: --%s (from %s): \"%s\" is not a valid %s\n", d->flag,
			source, v, d->arg);
	return RW_EINVAL;
}

static int apply_file(struct control_config *cfg, json_t *file)
{
	const char *key;
	json_t *v;

	json_object_foreach(file, key, v) {
		const struct opt_def *d = NULL;
		char num[32], src[300];
		const char *s;

		for (size_t i = 0; i < RW_ARRAY_LEN(opt_defs); i++)
			if (opt_defs[i].key && !strcmp(opt_defs[i].key, key))
				d = &opt_defs[i];
		if (!d)
			continue; /* sections read by other parts (templates, auth, ...) */
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			s = num;
		} else if (json_is_string(v)) {
			s = json_string_value(v);
		} else if (json_is_boolean(v) && d->type == OPT_FLAG) {
			s = json_is_true(v) ? "1" : "0";
		} else {
			fprintf(stderr, "runwire-control: config key \"%s\" must be a string or an integer\n", key);
			return RW_EINVAL;
		}
		snprintf(src, sizeof(src), "%s in %s", key, cfg->config_file);
		if (apply(cfg, d, s, src))
			return RW_EINVAL;
	}
	return RW_OK;
}

static char *default_data_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char buf[4096];

	if (xdg && *xdg)
		snprintf(buf, sizeof(buf), "%s/runwire", xdg);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.local/state/runwire", home);
	else
		snprintf(buf, sizeof(buf), "/tmp/runwire-%d", (int)getuid());
	return strdup(buf);
}

/* <dir of the binary>/../CONFIG_DEFAULT_NAME when that file exists, else NULL (malloc'd). */
static char *default_config_path(void)
{
	char exe[PATH_MAX], buf[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	snprintf(buf, sizeof(buf), "%s/../%s", exe, CONFIG_DEFAULT_NAME);
	return access(buf, R_OK) ? NULL : strdup(buf);
}

static char *default_agent_path(void)
{
	char exe[PATH_MAX], buf[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return strdup("runwire-agent");
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, sizeof(buf), "%s/runwire-agent", exe);
	return strdup(buf);
}

int config_load(struct control_config *cfg, int argc, char **argv)
{
	struct option longopts[RW_ARRAY_LEN(opt_defs) + 2];
	const char *flag_vals[RW_ARRAY_LEN(opt_defs)] = { 0 };
	size_t i;
	int c, idx;

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_host = strdup("127.0.0.1");
	cfg->port = CONTROL_DEFAULT_PORT;
	cfg->local_runners = CONTROL_DEFAULT_LOCAL_RUNNERS;
	cfg->max_runners = CONTROL_DEFAULT_MAX_RUNNERS;
	cfg->scrollback = CONTROL_DEFAULT_SCROLLBACK;
	cfg->retention_s = CONTROL_DEFAULT_RETENTION_S;
	cfg->max_data_bytes = CONTROL_DEFAULT_MAX_DATA_BYTES;
	cfg->cancel_grace_ms = CONTROL_DEFAULT_CANCEL_GRACE_MS;
	cfg->runner_grace_s = CONTROL_DEFAULT_RUNNER_GRACE_S;
	cfg->max_connections_per_client = -1;
	cfg->runner_jwks_refetch_s = CONTROL_DEFAULT_JWKS_REFETCH_S;  /* the default depends on sign-in: listener.c */

	for (i = 0; i < RW_ARRAY_LEN(opt_defs); i++)
		longopts[i] = (struct option){ opt_defs[i].flag,
					       opt_defs[i].type == OPT_FLAG ? no_argument : required_argument,
					       NULL, (int)(1000 + i) };
	longopts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c < 1000) {
			usage(stderr);
			return RW_EINVAL;
		}
		flag_vals[c - 1000] = optarg ? optarg : "1";
	}
	if (optind < argc) {
		fprintf(stderr, "runwire-control: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return RW_EINVAL;
	}

	/* the config file, named by flag or environment, goes first */
	for (i = 0; i < RW_ARRAY_LEN(opt_defs); i++)
		if (!strcmp(opt_defs[i].flag, "config")) {
			const char *path = flag_vals[i] ? flag_vals[i] : getenv(opt_defs[i].env);
			char *found = NULL;

			if (!path || !*path)
				path = found = default_config_path();
			if (path && !strcmp(path, CONFIG_NONE))
				path = NULL;
			if (path && *path) {
				json_error_t err;
				cfg->config_file = strdup(path);
				free(found);
				cfg->file = json_load_file(cfg->config_file, JSON_REJECT_DUPLICATES, &err);
				if (!cfg->file || !json_is_object(cfg->file)) {
					fprintf(stderr, "runwire-control: config %s: %s (line %d)\n", cfg->config_file,
						cfg->file ? "must be a JSON object" : err.text, err.line);
					return RW_EINVAL;
				}
				if (apply_file(cfg, cfg->file))
					return RW_EINVAL;
			}
		}
	for (i = 0; i < RW_ARRAY_LEN(opt_defs); i++) {
		const char *env = getenv(opt_defs[i].env);
		if (env && *env && apply(cfg, &opt_defs[i], env, opt_defs[i].env))
			return RW_EINVAL;
	}
	for (i = 0; i < RW_ARRAY_LEN(opt_defs); i++)
		if (flag_vals[i] && apply(cfg, &opt_defs[i], flag_vals[i], "command line"))
			return RW_EINVAL;
	if (!cfg->data_dir)
		cfg->data_dir = default_data_dir();
	if (!cfg->agent_path)
		cfg->agent_path = default_agent_path();
	if (cfg->external && !cfg->runner_token_file && !cfg->runner_jwks_file &&
	    !cfg->runner_jwks_url) {
		fprintf(stderr, "runwire-control: --dispatcher external needs --runner-jwks-file or "
				"--runner-jwks-url (one claim per pod), or --runner-token-file\n");
		return RW_EINVAL;
	}
	if (cfg->runner_jwks_file && cfg->runner_jwks_url) {
		fprintf(stderr, "runwire-control: --runner-jwks-file and --runner-jwks-url: one or the other\n");
		return RW_EINVAL;
	}
	if (!!(cfg->runner_jwks_file || cfg->runner_jwks_url) != !!cfg->runner_issuer) {
		fprintf(stderr, "runwire-control: --runner-jwks-file (or --runner-jwks-url) and --runner-issuer go together\n");
		return RW_EINVAL;
	}
	if (cfg->runner_jwks_ca_file && !cfg->runner_jwks_url) {
		fprintf(stderr, "runwire-control: --runner-jwks-ca-file needs --runner-jwks-url\n");
		return RW_EINVAL;
	}
	if (cfg->warm_target && !cfg->external) {
		fprintf(stderr, "runwire-control: --warm-target is for --dispatcher external; the local "
				"dispatcher keeps --local-runners warm itself\n");
		return RW_EINVAL;
	}
	if (cfg->advertise_url && agent_redirect_check_url(cfg->advertise_url)) {
		fprintf(stderr, "runwire-control: --advertise-url wants ws://HOST[:PORT]/PATH or "
				"wss://... (at most %d bytes)\n", AGENT_REDIRECT_MAX_URL);
		return RW_EINVAL;
	}
	if (cfg->advertise_url && !cfg->external) {
		fprintf(stderr, "runwire-control: --advertise-url is for --dispatcher external: local "
				"agents hold a ticket only this replica knows\n");
		return RW_EINVAL;
	}
	if (cfg->internal_token_file && !cfg->internal_host) {
		fprintf(stderr, "runwire-control: --internal-token-file needs --internal-listen\n");
		return RW_EINVAL;
	}
	/* the queue and the metrics are not for everyone: off loopback, a token is required */
	if (cfg->internal_host && !cfg->internal_token_file &&
	    !google_certs_host_is_loopback(cfg->internal_host)) {
		fprintf(stderr, "runwire-control: --internal-listen %s is not loopback: it needs "
				"--internal-token-file\n", cfg->internal_host);
		return RW_EINVAL;
	}
	if (cfg->firebase_emulator && !cfg->firebase_project) {
		fprintf(stderr, "runwire-control: --firebase-auth-emulator needs --firebase-project\n");
		return RW_EINVAL;
	}
	if (!cfg->audit_log) {
		char buf[4200];
		snprintf(buf, sizeof(buf), "%s/audit.log", cfg->data_dir);
		cfg->audit_log = strdup(buf);
	}
	if (cfg->local_runners > cfg->max_runners)
		cfg->local_runners = cfg->max_runners;
	return RW_OK;
}

void config_release(struct control_config *cfg)
{
	free(cfg->listen_host);
	free(cfg->runner_token_file);
	free(cfg->runner_jwks_file);
	free(cfg->runner_issuer);
	free(cfg->data_dir);
	free(cfg->config_file);
	free(cfg->session_secret_file);
	free(cfg->store_url);
	free(cfg->store_password_file);
	free(cfg->session_key_file);
	free(cfg->session_key_id);
	free(cfg->session_previous_key_file);
	free(cfg->session_previous_key_id);
	free(cfg->session_signer);
	free(cfg->kms_endpoint);
	free(cfg->agent_path);
	free(cfg->port_file);
	free(cfg->public_url);
	free(cfg->advertise_url);
	free(cfg->firebase_project);
	free(cfg->firebase_certs_url);
	free(cfg->firebase_emulator);
	free(cfg->firebase_api_key);
	free(cfg->firebase_auth_domain);
	free(cfg->audit_log);
	free(cfg->bwrap);
	free(cfg->sandbox_ro);
	free(cfg->internal_host);
	free(cfg->internal_token_file);
	free(cfg->runner_jwks_url);
	free(cfg->runner_jwks_ca_file);
	json_decref(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}
