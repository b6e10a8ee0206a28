/* main.c: `runwire`, the terminal client: create a session and watch it live, attach to
 * one, list and cancel them. Errors are one line on stderr and a non-zero exit.
 */
#include "client/client.h"
#include "common/rw.h"
#include "common/text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libwebsockets.h>
#include <sodium.h>

#define CLIENT_MAX_COMMAND (64u << 10)
#define CLIENT_MAX_SECRETS 16   /* --secret flags (control takes at most TEMPLATE_MAX_SECRETS) */

#define CLIENT_CANCEL_WAIT_MS 10000   /* how long `cancel` waits to show the state it led to */
#define CLIENT_CANCEL_POLL_MS 100

/* Options every command takes, before or after its name. */
enum { OPT_SERVER = 256, OPT_ID_TOKEN, OPT_VERSION, OPT_SINCE, OPT_TOKEN, OPT_READ_ONLY,
       OPT_SPEED, OPT_MAX_IDLE, OPT_COLS, OPT_ROWS, OPT_BUNDLE, OPT_SHA256, OPT_INSTALL,
       OPT_TEMPLATE, OPT_PROMPT, OPT_SECRET };

#define GLOBAL_LONG_OPTS                                            \
	{ "server", required_argument, NULL, OPT_SERVER },          \
	{ "id-token", required_argument, NULL, OPT_ID_TOKEN },      \
	{ "quiet", no_argument, NULL, 'q' },                        \
	{ "help", no_argument, NULL, 'h' },                         \
	{ "version", no_argument, NULL, OPT_VERSION }

static const char global_help[] =
"  --server URL        control's address (env RUNWIRE_SERVER, default " CLIENT_DEFAULT_SERVER ")\n"
"  --id-token TOKEN    user credential for control (env RUNWIRE_ID_TOKEN)\n"
"  -q, --quiet         no session or progress lines on stderr (failures are still said)\n"
"  -h, --help          this text; --version: the version\n"
"These go before or after the command's name: runwire run --server URL -- CMD\n";

static const char run_help[] =
"usage: runwire run [options] [--] COMMAND...\n"
"       runwire run --bundle URL --sha256 HEX [--install CMD] [options] [--] COMMAND...\n"
"       runwire run --template NAME [--prompt TEXT] [--secret NAME]... [options]\n"
"\n"
"Starts a session and watches it live. Says the session's id and the page that shows it\n"
"on stderr first, the pipeline's stages (fetch, verify, unpack, install) before the\n"
"program starts, then the program's output verbatim. When stdout and stderr are one\n"
"terminal nothing else is written while the program draws (a failure meanwhile is said at\n"
"the end); otherwise every stage line is said as it comes.\n"
"\n"
"  -i                  forward stdin even when it is not a terminal (^D at its end)\n"
"  --cols N, --rows N  the session's terminal size (default: this terminal's)\n"
"  --bundle URL --sha256 HEX\n"
"                      run COMMAND in a bundle's unpacked tree (when the server allows\n"
"                      ad-hoc bundles from that host)\n"
"  --install CMD       run CMD in the tree first\n"
"  --template NAME     run a template the operator wrote (GET /api/config lists them)\n"
"  --prompt TEXT       the template's prompt\n"
"  --secret NAME       give this shell's $NAME as a secret the template takes from users\n"
"                      (userSecrets); the value never appears on a command line\n"
"\n"
"On a terminal, \"~.\" after a newline, or Ctrl-\\ twice, detaches: the session keeps\n"
"running and `runwire attach SESSION` resumes it (\"~~\" sends one \"~\"). Ctrl-C goes to\n"
"the program. A SIGINT, SIGTERM or SIGHUP to runwire itself stops watching, never the\n"
"session (runwire cancel ends it).\n";

static const char attach_help[] =
"usage: runwire attach [--since N] [--token T] [--read-only] [-i] SESSION\n"
"\n"
"Watches (and types into) an existing session from byte N of its output (default 0: all\n"
"of it, checked against its SHA-256 at the end). Detach keys as for run.\n"
"\n"
"  --since N           start at byte offset N\n"
"  --token T           a one-time session token (default: one minted for you)\n"
"  --read-only         watch without typing (a viewer token)\n"
"  -i                  forward stdin even when it is not a terminal\n";

static const char ls_help[] =
"usage: runwire ls\n"
"\n"
"Lists your sessions: id, state, exit code (sN: signal N), bytes of output, creation time\n"
"and command.\n";

static const char cancel_help[] =
"usage: runwire cancel SESSION\n"
"\n"
"Ends a session (SIGHUP to the program, SIGKILL after a grace period) and prints the state\n"
"it led to, with the program's exit code or signal, waiting up to 10 s for it to end.\n";

static const char replay_help[] =
"usage: runwire replay [--speed X] [--max-idle S] SESSION\n"
"\n"
"Plays a session's recording at X times real time (0: at once), idle gaps capped at S\n"
"seconds (default 1 and 2).\n";

static void usage(FILE *out)
{
	fprintf(out,
"usage: runwire [options] COMMAND [ARGS]\n"
"\n"
"  run [-i] [--cols N] [--rows N] [--] COMMAND...\n"
"                      start a session running COMMAND and watch it live; exits with its\n"
"                      exit code (128+N for signal N)\n"
"  run --bundle URL --sha256 HEX [--install CMD] [--] COMMAND...\n"
"                      run COMMAND in a bundle's unpacked tree, after CMD (when the server\n"
"                      allows ad-hoc bundles from that host); exits 125 when the bundle\n"
"                      cannot be fetched, verified or unpacked, with CMD's code when it fails\n"
"  run --template NAME [--prompt TEXT] [--secret NAME]...\n"
"                      run a template the operator wrote (GET /api/config lists them);\n"
"                      --secret gives the value of this shell's $NAME as a secret the\n"
"                      template takes from users (never on the command line)\n"
"  attach [--since N] [--token T] [--read-only] SESSION\n"
"                      watch (and type into) an existing session\n"
"  ls                  list your sessions\n"
"  cancel SESSION      end a session (SIGHUP, then SIGKILL after a grace period)\n"
"  replay [--speed X] [--max-idle S] SESSION\n"
"                      play a session's recording (X times real time; 0: at once)\n"
"runwire COMMAND --help says more about each.\n"
"\n"
"%s"
"\n"
"run and attach exit with the program's status only when every byte was received and\n"
"checked against the total and SHA-256 of the session's exit event. Otherwise they say\n"
"why once on stderr and exit, whatever the program's status was, with:\n"
"  %d  output incomplete: bytes were skipped or never arrived\n"
"  %d  output corrupted: the SHA-256 or the byte count does not match\n"
"  %d  no exit status: the connection to control was lost, or the session failed\n"
"Also: 1 cannot attach, 2 usage, 125 the bundle could not be prepared, 128+N signal N\n"
"(the session's, or runwire's own SIGINT/SIGTERM/SIGHUP: the session keeps running),\n"
"%d detached with \"~.\" or Ctrl-\\ twice (the session keeps running).\n"
"RUNWIRE_SHOW_GAPS=1 adds a line for each skipped range as it happens.\n",
		global_help, CLIENT_EXIT_INCOMPLETE, CLIENT_EXIT_CORRUPTED,
		CLIENT_EXIT_UNFINISHED, CLIENT_EXIT_DETACHED);
}

/* A subcommand's --help: its own text, then the options every command takes. */
static int command_help(const char *text)
{
	printf("%s\n%s", text, global_help);
	return 0;
}

/* Takes an option every command knows. 1 when `opt` was one (*exit_status set when the
 * option ends the program: --help, --version), 0 when it is not. */
static int global_option(struct client *c, int opt, const char *help, int *exit_status)
{
	switch (opt) {
	case OPT_SERVER: c->server = optarg; return 1;
	case OPT_ID_TOKEN: c->id_token = optarg; return 1;
	case 'q': c->quiet = 1; return 1;
	case 'h':
		*exit_status = help ? command_help(help) : (usage(stdout), 0);
		return 1;
	case OPT_VERSION:
		printf("runwire %s\n", RW_VERSION);
		*exit_status = 0;
		return 1;
	default:
		return 0;
	}
}

/* Says a usage error and how to get the command's help. Returns 2. */
static int usage_error(const char *command)
{
	fprintf(stderr, "runwire: see runwire %s%s--help\n", command ? command : "",
		command ? " " : "");
	return 2;
}

/* "runwire: WHAT: control's reason (HTTP N)": `what` says what failed, never why (control's
 * reason does), so that nothing is said twice. */
static void die_http(const char *what, long status, json_t *resp)
{
	const char *msg = json_string_value(json_object_get(resp, "error"));

	fprintf(stderr, "runwire: %s: %s (HTTP %ld)\n", what, msg ? msg : "unexpected answer",
		status);
}

/* The page's address for a session: the page routes #/s/<id> (control/web/src/main.js). */
static void say_session(const struct client *c, const char *sid)
{
	int len = (int)strlen(c->server);

	while (len && c->server[len - 1] == '/')
		len--;
	if (!c->quiet)
		fprintf(stderr, "runwire: session %s: watch it at %.*s/#/s/%s\n", sid, len,
			c->server, sid);
}


static int cmd_run(struct client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cols", required_argument, NULL, OPT_COLS },
		{ "rows", required_argument, NULL, OPT_ROWS },
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "sha256", required_argument, NULL, OPT_SHA256 },
		{ "install", required_argument, NULL, OPT_INSTALL },
		{ "template", required_argument, NULL, OPT_TEMPLATE },
		{ "prompt", required_argument, NULL, OPT_PROMPT },
		{ "secret", required_argument, NULL, OPT_SECRET },
		GLOBAL_LONG_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	int done = -1;
	const char *bundle = NULL, *sha256 = NULL, *install = NULL, *template_name = NULL;
	const char *prompt = NULL, *secret_names[CLIENT_MAX_SECRETS];
	size_t n_secrets = 0;
	int forward = 0, opt;
	long long cols = 0, rows = 0;
	struct winsize ws;
	char err[512], *command = NULL;
	json_t *req, *resp = NULL;
	long status = 0;

	/* "+": the first word that is not an option starts COMMAND, whose own options stay its */
	optind = 0;   /* 0, not 1: glibc then forgets the last parse, "+" (stop at words) included */
	while ((opt = getopt_long(argc, argv, "+iqh", opts, NULL)) != -1) {
		if (global_option(c, opt, run_help, &done)) {
			if (done >= 0)
				return done;
			continue;
		}
		switch (opt) {
		case 'i': forward = 1; break;
		case OPT_COLS:
			if (rw_parse_int(optarg, 1, 4096, &cols)) {
				fprintf(stderr, "runwire: --cols must be 1..4096\n");
				return 2;
			}
			break;
		case OPT_ROWS:
			if (rw_parse_int(optarg, 1, 4096, &rows)) {
				fprintf(stderr, "runwire: --rows must be 1..4096\n");
				return 2;
			}
			break;
		case OPT_BUNDLE: bundle = optarg; break;
		case OPT_SHA256: sha256 = optarg; break;
		case OPT_INSTALL: install = optarg; break;
		case OPT_TEMPLATE: template_name = optarg; break;
		case OPT_PROMPT: prompt = optarg; break;
		case OPT_SECRET:
			/* a value on the command line would show in ps and shell history */
			if (n_secrets == CLIENT_MAX_SECRETS || !getenv(optarg)) {
				fprintf(stderr, "runwire: --secret %s: %s\n", optarg,
					n_secrets == CLIENT_MAX_SECRETS ? "too many secrets"
					: "not set in this environment (--secret NAME sends $NAME)");
				return 2;
			}
			secret_names[n_secrets++] = optarg;
			break;
		default: return usage_error("run");
		}
	}
	/* the server checks all of this too; saying it here saves a round trip */
	if (template_name && (bundle || sha256 || install || optind < argc)) {
		fprintf(stderr, "runwire: a template brings its own command, bundle and install: "
				"drop them, or drop --template\n");
		return 2;
	}
	if (n_secrets && !template_name) {
		fprintf(stderr, "runwire: --secret needs --template\n");
		return 2;
	}
	if (!bundle != !sha256) {
		fprintf(stderr, "runwire: --bundle and --sha256 go together: a bundle runs only with "
				"the SHA-256 of its bytes\n");
		return 2;
	}
	if (install && !bundle) {
		fprintf(stderr, "runwire: --install needs --bundle\n");
		return 2;
	}
	if (!template_name && optind >= argc) {
		fprintf(stderr, "runwire: run needs a command, e.g. runwire run -- sh -c 'echo hi', "
				"or --template NAME\n");
		return 2;
	}
	if (!template_name) {
		command = text_shell_join(argc - optind, argv + optind, CLIENT_MAX_COMMAND);
		if (!command || strlen(command) > CLIENT_MAX_COMMAND) {
			fprintf(stderr, "runwire: command longer than 64 KiB\n");
			free(command);
			return 2;
		}
	}
	if ((!cols || !rows) && (!ioctl(1, TIOCGWINSZ, &ws) || !ioctl(0, TIOCGWINSZ, &ws)) &&
	    ws.ws_col && ws.ws_row) {
		cols = cols ? cols : ws.ws_col;
		rows = rows ? rows : ws.ws_row;
	}
	if (template_name) {
		req = json_pack("{s:s}", "template", template_name);
	} else {
		req = json_pack("{s:s}", "command", command);
		free(command);
	}
	if (bundle)
		json_object_set_new(req, "bundle", json_pack("{s:s, s:s}", "url", bundle, "sha256",
							     sha256));
	if (install)
		json_object_set_new(req, "install", json_string(install));
	if (prompt)
		json_object_set_new(req, "prompt", json_string(prompt));
	if (n_secrets) {
		json_t *sec = json_object();

		for (size_t i = 0; i < n_secrets; i++)
			json_object_set_new(sec, secret_names[i], json_string(getenv(secret_names[i])));
		json_object_set_new(req, "secrets", sec);
	}
	if (cols)
		json_object_set_new(req, "cols", json_integer(cols));
	if (rows)
		json_object_set_new(req, "rows", json_integer(rows));
	if (api_call(c, "POST", "/api/sessions", req, &status, &resp, err, sizeof(err))) {
		json_decref(req);
		fprintf(stderr, "runwire: %s\n", err);
		return 1;
	}
	json_decref(req);
	if (status != 201 || !json_is_string(json_object_get(resp, "token"))) {
		die_http("cannot create a session", status, resp);
		json_decref(resp);
		return 1;
	}
	say_session(c, json_string_value(json_object_get(resp, "sessionId")));
	struct attach_opts o = {
		.sid = json_string_value(json_object_get(resp, "sessionId")),
		.token = json_string_value(json_object_get(resp, "token")),
		.stdin_is_tty = isatty(0),
	};
	o.forward_stdin = o.stdin_is_tty || forward;
	int r = attach_run(c, &o);
	json_decref(resp);
	return r;
}

static int cmd_attach(struct client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "read-only", no_argument, NULL, OPT_READ_ONLY },
		GLOBAL_LONG_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *token = NULL;
	char *minted = NULL, err[512];
	long long since = 0;
	int read_only = 0, forward = 0, opt, r, done = -1;

	/* options anywhere: runwire attach SESSION --since N */
	optind = 0;   /* 0, not 1: glibc then forgets the last parse, "+" (stop at words) included */
	while ((opt = getopt_long(argc, argv, "iqh", opts, NULL)) != -1) {
		if (global_option(c, opt, attach_help, &done)) {
			if (done >= 0)
				return done;
			continue;
		}
		switch (opt) {
		case OPT_SINCE:
			if (rw_parse_int(optarg, 0, INT64_MAX, &since)) {
				fprintf(stderr, "runwire: --since wants a byte offset\n");
				return 2;
			}
			break;
		case OPT_TOKEN: token = optarg; break;
		case OPT_READ_ONLY: read_only = 1; break;
		case 'i': forward = 1; break;
		default: return usage_error("attach");
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "runwire: attach needs one SESSION id\n");
		return usage_error("attach");
	}
	if (!token) {
		minted = api_mint_token(c, argv[optind], read_only ? "viewer" : "writer", err,
					sizeof(err));
		if (!minted) {
			fprintf(stderr, "runwire: %s\n", err);
			return 1;
		}
		token = minted;
	}
	struct attach_opts o = {
		.sid = argv[optind], .token = token, .since = (uint64_t)since,
		.stdin_is_tty = isatty(0),
	};
	o.forward_stdin = !read_only && (o.stdin_is_tty || forward);
	r = attach_run(c, &o);
	free(minted);
	return r;
}

/* Options for a command that takes only the global ones and `nargs` words. Returns -1 to
 * go on, or the exit status. */
static int parse_plain(struct client *c, int argc, char **argv, const char *name,
		       const char *help, int nargs, const char *what)
{
	static const struct option opts[] = { GLOBAL_LONG_OPTS, { NULL, 0, NULL, 0 } };
	int opt, done = -1;

	optind = 0;   /* 0, not 1: glibc then forgets the last parse, "+" (stop at words) included */
	while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		if (!global_option(c, opt, help, &done))
			return usage_error(name);
		if (done >= 0)
			return done;
	}
	if (argc - optind != nargs) {
		fprintf(stderr, "runwire: %s %s\n", name, what);
		return usage_error(name);
	}
	return -1;
}

static int cmd_ls(struct client *c, int argc, char **argv)
{
	json_t *resp = NULL, *s;
	long status = 0;
	char err[512];
	size_t i;
	int r = parse_plain(c, argc, argv, "ls", ls_help, 0, "takes no arguments");

	if (r >= 0)
		return r;
	if (api_call(c, "GET", "/api/sessions", NULL, &status, &resp, err, sizeof(err))) {
		fprintf(stderr, "runwire: %s\n", err);
		return 1;
	}
	if (status != 200) {
		die_http("cannot list sessions", status, resp);
		json_decref(resp);
		return 1;
	}
	printf("%-24s  %-9s  %4s  %10s  %-19s  %s\n", "SESSION", "STATE", "EXIT", "BYTES",
	       "CREATED", "COMMAND");
	json_array_foreach(json_object_get(resp, "sessions"), i, s) {
		char when[32] = "-", code[16] = "-";
		time_t t = (time_t)(json_integer_value(json_object_get(s, "createdAt")) / 1000);
		struct tm tm;
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		if (json_is_integer(json_object_get(s, "exitCode")))
			snprintf(code, sizeof(code), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(s, "exitCode")));
		else if (json_is_integer(json_object_get(s, "signal")))
			snprintf(code, sizeof(code), "s%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(s, "signal")));
		printf("%-24s  %-9s  %4s  %10" JSON_INTEGER_FORMAT "  %-19s  %.60s\n",
		       json_string_value(json_object_get(s, "sessionId")),
		       json_string_value(json_object_get(s, "state")), code,
		       json_integer_value(json_object_get(s, "bytes")), when,
		       json_string_value(json_object_get(s, "command")));
	}
	json_decref(resp);
	return 0;
}

static int cmd_replay(struct client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "speed", required_argument, NULL, OPT_SPEED },
		{ "max-idle", required_argument, NULL, OPT_MAX_IDLE },
		GLOBAL_LONG_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	double speed = 1, max_idle = 2;
	char *end;
	int opt, done = -1;

	optind = 0;   /* 0, not 1: glibc then forgets the last parse, "+" (stop at words) included */
	while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		double v;
		if (global_option(c, opt, replay_help, &done)) {
			if (done >= 0)
				return done;
			continue;
		}
		if (opt != OPT_SPEED && opt != OPT_MAX_IDLE)
			return usage_error("replay");
		v = strtod(optarg, &end);
		if (*end || v < 0 || v > 1000) {
			fprintf(stderr, "runwire: --%s wants a number 0..1000\n",
				opt == OPT_SPEED ? "speed" : "max-idle");
			return 2;
		}
		if (opt == OPT_SPEED)
			speed = v;
		else
			max_idle = v;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "runwire: replay needs one SESSION id\n");
		return usage_error("replay");
	}
	return replay_run(c, argv[optind], speed, max_idle);
}

/* A state a session leaves: anything but these is its last. */
static int state_is_live(const char *state)
{
	return !state || !strcmp(state, "waiting") || !strcmp(state, "starting") ||
	       !strcmp(state, "running");
}

static int cmd_cancel(struct client *c, int argc, char **argv)
{
	json_t *resp = NULL, *code, *sig;
	long status = 0;
	char err[512], path[256], what[128];
	const char *sid, *state;
	int r = parse_plain(c, argc, argv, "cancel", cancel_help, 1, "needs one SESSION id");

	if (r >= 0)
		return r;
	sid = argv[optind];
	snprintf(path, sizeof(path), "/api/sessions/%.64s", sid);
	snprintf(what, sizeof(what), "cannot cancel %.64s", sid);
	if (api_call(c, "DELETE", path, NULL, &status, &resp, err, sizeof(err))) {
		fprintf(stderr, "runwire: %s\n", err);
		return 1;
	}
	if (status != 202) {
		die_http(what, status, resp);
		json_decref(resp);
		return 1;
	}
	/* DELETE answers at once, while the program is still being hung up: the state worth
	 * saying is the one the cancel leads to */
	for (int waited = 0; waited < CLIENT_CANCEL_WAIT_MS; waited += CLIENT_CANCEL_POLL_MS) {
		if (!state_is_live(json_string_value(json_object_get(resp, "state"))))
			break;
		usleep(CLIENT_CANCEL_POLL_MS * 1000);
		json_decref(resp);
		resp = NULL;
		if (api_call(c, "GET", path, NULL, &status, &resp, err, sizeof(err)) ||
		    status != 200) {
			fprintf(stderr, "runwire: cancel of %s requested; cannot read its state: %s\n",
				sid, status && status != 200 ? "unexpected answer" : err);
			json_decref(resp);
			return 1;
		}
	}
	state = json_string_value(json_object_get(resp, "state"));
	code = json_object_get(resp, "exitCode");
	sig = json_object_get(resp, "signal");
	if (state_is_live(state))
		printf("%s %s (cancel requested; still ending after %d s)\n", sid,
		       state ? state : "unknown", CLIENT_CANCEL_WAIT_MS / 1000);
	else if (json_is_integer(code))
		printf("%s %s (exit %" JSON_INTEGER_FORMAT ")\n", sid, state,
		       json_integer_value(code));
	else if (json_is_integer(sig))
		printf("%s %s (signal %" JSON_INTEGER_FORMAT ")\n", sid, state,
		       json_integer_value(sig));
	else
		printf("%s %s\n", sid, state);
	json_decref(resp);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_LONG_OPTS, { NULL, 0, NULL, 0 } };
	struct client c = { 0 };
	const char *cmd;
	int opt, r, done = -1;

	c.server = getenv("RUNWIRE_SERVER") && *getenv("RUNWIRE_SERVER") ? getenv("RUNWIRE_SERVER")
									 : CLIENT_DEFAULT_SERVER;
	c.id_token = getenv("RUNWIRE_ID_TOKEN");
	c.ca_file = getenv("RUNWIRE_CA_FILE");
	c.show_gaps = getenv("RUNWIRE_SHOW_GAPS") && !strcmp(getenv("RUNWIRE_SHOW_GAPS"), "1");
	while ((opt = getopt_long(argc, argv, "+hq", opts, NULL)) != -1) {
		if (!global_option(&c, opt, NULL, &done)) {
			usage(stderr);
			return 2;
		}
		if (done >= 0)
			return done;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	lws_set_log_level(0, NULL);
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		curl_global_cleanup();
		return 0;
	}
	if (!strcmp(cmd, "run"))
		r = cmd_run(&c, argc, argv);
	else if (!strcmp(cmd, "attach"))
		r = cmd_attach(&c, argc, argv);
	else if (!strcmp(cmd, "ls"))
		r = cmd_ls(&c, argc, argv);
	else if (!strcmp(cmd, "replay"))
		r = cmd_replay(&c, argc, argv);
	else if (!strcmp(cmd, "cancel"))
		r = cmd_cancel(&c, argc, argv);
	else {
		fprintf(stderr, "runwire: unknown command \"%s\" (see runwire --help)\n", cmd);
		r = 2;
	}
	curl_global_cleanup();
	return r;
}
