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

static void usage(FILE *out)
{
	fprintf(out,
"usage: runwire [--server URL] COMMAND [ARGS]\n"
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
"\n"
"  --server URL        control's address (env RUNWIRE_SERVER, default %s)\n"
"  --id-token TOKEN    user credential for control (env RUNWIRE_ID_TOKEN)\n"
"  -q, --quiet         no progress lines on stderr\n"
"  -i                  forward stdin even when it is not a terminal (^D at its end)\n"
"\n"
"run and attach exit with the program's status only when every byte was received and\n"
"checked against the total and SHA-256 of the session's exit event. Otherwise they say\n"
"why once on stderr and exit, whatever the program's status was, with:\n"
"  %d  output incomplete: bytes were skipped or never arrived\n"
"  %d  output corrupted: the SHA-256 or the byte count does not match\n"
"  %d  no exit status: the connection to control was lost, or the session failed\n"
"Also: 1 cannot attach, 2 usage, 125 the bundle could not be prepared, 128+N signal N.\n"
"RUNWIRE_SHOW_GAPS=1 adds a line for each skipped range as it happens.\n",
		CLIENT_DEFAULT_SERVER, CLIENT_EXIT_INCOMPLETE, CLIENT_EXIT_CORRUPTED,
		CLIENT_EXIT_UNFINISHED);
}

static void die_http(const char *what, long status, json_t *resp)
{
	const char *msg = json_string_value(json_object_get(resp, "error"));

	fprintf(stderr, "runwire: %s: %s (HTTP %ld)\n", what, msg ? msg : "unexpected answer",
		status);
}


static int cmd_run(struct client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cols", required_argument, NULL, 'c' },
		{ "rows", required_argument, NULL, 'r' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "sha256", required_argument, NULL, 'S' },
		{ "install", required_argument, NULL, 'I' },
		{ "template", required_argument, NULL, 'T' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "secret", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 }
	};
	const char *bundle = NULL, *sha256 = NULL, *install = NULL, *template_name = NULL;
	const char *prompt = NULL, *secret_names[CLIENT_MAX_SECRETS];
	size_t n_secrets = 0;
	int forward = 0, opt;
	long long cols = 0, rows = 0;
	struct winsize ws;
	char err[512], *command = NULL;
	json_t *req, *resp = NULL;
	long status = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+i", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': forward = 1; break;
		case 'c':
			if (rw_parse_int(optarg, 1, 4096, &cols)) {
				fprintf(stderr, "runwire: --cols must be 1..4096\n");
				return 2;
			}
			break;
		case 'r':
			if (rw_parse_int(optarg, 1, 4096, &rows)) {
				fprintf(stderr, "runwire: --rows must be 1..4096\n");
				return 2;
			}
			break;
		case 'b': bundle = optarg; break;
		case 'S': sha256 = optarg; break;
		case 'I': install = optarg; break;
		case 'T': template_name = optarg; break;
		case 'p': prompt = optarg; break;
		case 'K':
			/* a value on the command line would show in ps and shell history */
			if (n_secrets == CLIENT_MAX_SECRETS || !getenv(optarg)) {
				fprintf(stderr, "runwire: --secret %s: %s\n", optarg,
					n_secrets == CLIENT_MAX_SECRETS ? "too many secrets"
					: "not set in this environment (--secret NAME sends $NAME)");
				return 2;
			}
			secret_names[n_secrets++] = optarg;
			break;
		default: usage(stderr); return 2;
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
		{ "since", required_argument, NULL, 's' },
		{ "token", required_argument, NULL, 't' },
		{ "read-only", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	const char *token = NULL;
	char *minted = NULL, err[512];
	long long since = 0;
	int read_only = 0, forward = 0, opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+i", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (rw_parse_int(optarg, 0, INT64_MAX, &since)) {
				fprintf(stderr, "runwire: --since wants a byte offset\n");
				return 2;
			}
			break;
		case 't': token = optarg; break;
		case 'R': read_only = 1; break;
		case 'i': forward = 1; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "runwire: attach needs one SESSION id\n");
		return 2;
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

static int cmd_ls(struct client *c)
{
	json_t *resp = NULL, *s;
	long status = 0;
	char err[512];
	size_t i;

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
		{ "speed", required_argument, NULL, 's' },
		{ "max-idle", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	double speed = 1, max_idle = 2;
	char *end;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		double v;
		if (opt != 's' && opt != 'm') {
			usage(stderr);
			return 2;
		}
		v = strtod(optarg, &end);
		if (*end || v < 0 || v > 1000) {
			fprintf(stderr, "runwire: --%s wants a number 0..1000\n", opt == 's' ? "speed" : "max-idle");
			return 2;
		}
		if (opt == 's')
			speed = v;
		else
			max_idle = v;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "runwire: replay needs one SESSION id\n");
		return 2;
	}
	return replay_run(c, argv[optind], speed, max_idle);
}

static int cmd_cancel(struct client *c, int argc, char **argv)
{
	json_t *resp = NULL;
	long status = 0;
	char err[512], path[256];

	if (argc != 2) {
		fprintf(stderr, "runwire: cancel needs one SESSION id\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/api/sessions/%.64s", argv[1]);
	if (api_call(c, "DELETE", path, NULL, &status, &resp, err, sizeof(err))) {
		fprintf(stderr, "runwire: %s\n", err);
		return 1;
	}
	if (status != 202) {
		die_http(status == 404 ? "no such session" : "cannot cancel", status, resp);
		json_decref(resp);
		return 1;
	}
	printf("%s %s\n", argv[1], json_string_value(json_object_get(resp, "state")));
	json_decref(resp);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "id-token", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct client c = { 0 };
	const char *cmd;
	int opt, r;

	c.server = getenv("RUNWIRE_SERVER") && *getenv("RUNWIRE_SERVER") ? getenv("RUNWIRE_SERVER")
									 : CLIENT_DEFAULT_SERVER;
	c.id_token = getenv("RUNWIRE_ID_TOKEN");
	c.ca_file = getenv("RUNWIRE_CA_FILE");
	c.show_gaps = getenv("RUNWIRE_SHOW_GAPS") && !strcmp(getenv("RUNWIRE_SHOW_GAPS"), "1");
	while ((opt = getopt_long(argc, argv, "+hq", opts, NULL)) != -1) {
		switch (opt) {
		case 's': c.server = optarg; break;
		case 't': c.id_token = optarg; break;
		case 'q': c.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
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
	if (!strcmp(cmd, "run"))
		r = cmd_run(&c, argc, argv);
	else if (!strcmp(cmd, "attach"))
		r = cmd_attach(&c, argc, argv);
	else if (!strcmp(cmd, "ls"))
		r = cmd_ls(&c);
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
