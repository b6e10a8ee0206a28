/* attach.c: the terminal client's view of a session. Writes output frames to stdout byte
 * for byte, forwards keys and window sizes, shows events on stderr, and on a dropped
 * connection reconnects with a fresh token from the offset it has written, so nothing is
 * missing or written twice. At the end it checks the total and SHA-256 that the exit
 * event carries against what it received.
 */
#include "client/client.h"
#include "common/proto.h"
#include "common/rw.h"
#include "common/sha256.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <sodium.h>

#define ATTACH_MAX_RECONNECTS 20
#define ATTACH_TICK_MS 50
#define ATTACH_STDIN_CHUNK 4096
#define ATTACH_MAX_PENDING_INPUT (1u << 20)
#define TOKEN_HDR_MAX 8192

struct attach {
	const struct client *c;
	const struct attach_opts *o;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct lws *ws, *stdin_wsi;
	char host[256], base_path[256];
	int port, tls;
	char *token;
	char proto_hdr[TOKEN_HDR_MAX];
	struct proto_reader rd;
	uint64_t cursor;            /* next offset to write to stdout */
	int verifiable;             /* saw the stream from offset 0 with no gap */
	uint64_t skipped;           /* bytes never received (gaps), said once at the end */
	uint64_t first_gap;         /* offset of the first byte missing */
	size_t gaps;
	struct rw_sha256 sha;
	int read_only;
	int done, status;
	int reconnects;
	int hello_seen;                     /* on this connection */
	int stdin_eof, eot_sent;
	uint8_t *pending;           /* input waiting for the link */
	size_t pending_len;
	int resize_due;
	lws_sorted_usec_list_t sul;         /* reconnect */
	lws_sorted_usec_list_t sul_tick;    /* signals */
	struct termios saved_tty;
	int tty_raw;
	int shared_screen;          /* stdout and stderr are terminals: our lines and the
				     * program's drawing land on one screen */
	int drawing;                /* a program (install or command) draws on that screen */
	int ran;                    /* a program started: its EXIT will come, even if cancelled */
	char held[1024];            /* the last line kept back while it drew, said at the end */
	int line_start;             /* the last key sent ended a line: "~." may follow */
	int held_key;               /* '~' or ^\ kept back: the first half of a detach key */
};

#define ATTACH_KEY_CTRL_BACKSLASH 0x1c

static volatile sig_atomic_t winch_seen, term_seen;

static void on_winch(int signo)
{
	winch_seen = 1;
}

static void on_term(int signo)
{
	term_seen = signo;
}

static void tty_restore(struct attach *a)
{
	if (a->tty_raw) {
		tcsetattr(0, TCSAFLUSH, &a->saved_tty);
		a->tty_raw = 0;
	}
}

static void tty_make_raw(struct attach *a)
{
	struct termios raw;

	if (tcgetattr(0, &a->saved_tty))
		return;
	raw = a->saved_tty;
	cfmakeraw(&raw);
	if (!tcsetattr(0, TCSAFLUSH, &raw))
		a->tty_raw = 1;
}

static void say(const struct attach *a, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* in raw mode a bare \n does not return the carriage */
	fprintf(stderr, "runwire: %s%s", line, a->tty_raw ? "\r\n" : "\n");
}

/* A line about the session's progress. On a screen a program is drawing on, any line of
 * ours would break its drawing (a program that redraws by moving the cursor up counts its
 * own lines): progress is dropped there (the program shows its own, viewers get the events),
 * and news worth keeping (`keep`: a failure, the runner lost) is kept back, the last one,
 * and said once the program is done. */
static void say_progress(struct attach *a, int keep, const char *fmt, ...)
{
	char line[sizeof(a->held)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (a->shared_screen && a->drawing) {
		if (keep)
			memcpy(a->held, line, sizeof(line));
		return;
	}
	say(a, "%s", line);
}

/* The program stopped drawing: the line kept back, if any, can be said now. */
static void drawing_ended(struct attach *a)
{
	a->drawing = 0;
	if (a->held[0]) {
		say(a, "%s", a->held);
		a->held[0] = '\0';
	}
}

static void finish(struct attach *a, int status)
{
	a->status = status;
	a->done = 1;
	lws_cancel_service(a->ctx);
}

static void write_stdout(struct attach *a, const uint8_t *p, size_t n)
{
	if (rw_write_all(1, p, n)) {
		say(a, "cannot write output: %s", strerror(errno));
		finish(a, 1);
	}
}

static void on_output(struct attach *a, const struct proto_frame *f)
{
	const uint8_t *p = f->data;
	size_t n = f->len;

	if (f->offset > a->cursor) {
		/* control skipped bytes (after a resync event): nothing is proven from here on.
		 * Counted, and said once when the session ends, not once per gap. */
		if (!a->gaps++)
			a->first_gap = a->cursor;
		a->skipped += f->offset - a->cursor;
		a->verifiable = 0;
		a->cursor = f->offset;
	}
	if (f->offset < a->cursor) {
		/* overlap after a reconnect: skip what was already written */
		uint64_t dup = a->cursor - f->offset;
		if (dup >= n)
			return;
		p += dup;
		n -= (size_t)dup;
	}
	a->drawing = 1;
	write_stdout(a, p, n);
	if (a->verifiable)
		rw_sha256_update(&a->sha, p, n);
	a->cursor += n;
}

/* The one verdict on the output, from the exit event's total and SHA-256. A stream
 * attached --since N > 0 was asked to start late: its total is checked, its digest cannot
 * be. */
static void on_exit_frame(struct attach *a, const struct proto_frame *f)
{
	int status = f->exit.signo ? 128 + f->exit.signo : f->exit.code;
	unsigned long long total = f->exit.total, got = a->cursor;
	uint8_t mine[PROTO_SHA256_LEN];

	drawing_ended(a);
	if (a->gaps || got < total) {
		uint64_t missing = a->skipped + (got < total ? total - got : 0);
		say(a, "output incomplete: %llu of %llu bytes never arrived (%zu gap%s, the first at "
		       "byte %llu; the program's status was %d); exiting %d",
		    (unsigned long long)missing, total, a->gaps + (got < total),
		    a->gaps + (got < total) == 1 ? "" : "s",
		    (unsigned long long)(a->gaps ? a->first_gap : got), status,
		    CLIENT_EXIT_INCOMPLETE);
		status = CLIENT_EXIT_INCOMPLETE;
	} else if (got > total) {
		say(a, "output corrupted: received %llu bytes, the session wrote %llu (the program's "
		       "status was %d); exiting %d", got, total, status, CLIENT_EXIT_CORRUPTED);
		status = CLIENT_EXIT_CORRUPTED;
	} else if (a->verifiable) {
		rw_sha256_final(&a->sha, mine);
		if (sodium_memcmp(mine, f->exit.sha256, PROTO_SHA256_LEN)) {
			say(a, "output corrupted: the SHA-256 of the %llu bytes received does not match "
			       "the session's (the program's status was %d); exiting %d",
			    got, status, CLIENT_EXIT_CORRUPTED);
			status = CLIENT_EXIT_CORRUPTED;
		}
	}
	finish(a, status);
}

#define ATTACH_PROGRESS_US 1000000   /* at most one "running" progress line a second */

/* Writes `v` bytes in the unit that suits `scale` bytes and returns the unit's name, so that
 * "done/total" share one unit. */

/* A stage event as one line on stderr: "[fetch] running 1.2/3.4 MiB", "[unpack] done 812
 * entries", "[verify] failed: sha256 mismatch: ...". Failures are shown even with -q; progress
 * of one stage at most once a second (the agent sends up to ten a second). */
static void say_stage(struct attach *a, json_t *j, const char *stage, const char *state,
		      const char *reason)
{
	/* one attach per process: the throttle's memory can live here */
	static char last_stage[64];
	static int64_t last_us;
	const char *detail = json_string_value(json_object_get(j, "detail"));
	json_t *done = json_object_get(j, "done");
	int running = !strcmp(state, "running");
	char progress[96] = "";
	int64_t now = rw_mono_us();

	if (!strcmp(state, "failed")) {
		say_progress(a, 1, "[%s] failed%s%s", stage, reason ? ": " : "", reason ? reason : "");
		return;
	}
	if (a->c->quiet)
		return;
	if (running && json_is_integer(done) && !strncmp(last_stage, stage, sizeof(last_stage)) &&
	    now - last_us < ATTACH_PROGRESS_US)
		return;
	snprintf(last_stage, sizeof(last_stage), "%s", stage);
	last_us = now;
	text_stage_progress(j, progress, sizeof(progress));
	say_progress(a, 0, "[%s] %s%s%s%s%s", stage, state, progress, detail ? " (" : "",
		     detail ? detail : "", detail ? ")" : "");
}

static void on_event(struct attach *a, const struct proto_frame *f)
{
	json_t *j = proto_parse_json(f);
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *state = json_string_value(json_object_get(j, "state"));
	const char *reason = json_string_value(json_object_get(j, "reason"));

	/* a resync (skipped bytes) shows as a gap in the next OUTPUT's offset, counted there and
	 * said once at the end; a line each only when asked for */
	if (!type || !state) {
		if (a->c->show_gaps && type && !strcmp(type, "resync"))
			say(a, "fell behind: skipped %" JSON_INTEGER_FORMAT " bytes",
			    json_integer_value(json_object_get(j, "skipped")));
		json_decref(j);
		return;
	}
	if (!strcmp(type, "state")) {
		if (!strcmp(state, "failed")) {
			say(a, "session failed: %s; it has no exit status, the output is unverified; "
			       "exiting %d", reason ? reason : "unknown reason", CLIENT_EXIT_UNFINISHED);
			finish(a, CLIENT_EXIT_UNFINISHED);
		} else if (!strcmp(state, "cancelled") && reason) {
			say(a, "session cancelled: %s", reason);
			/* cancelled before anything ran: no EXIT will follow */
			if (!a->ran)
				finish(a, 130);
		}
	} else if (!strcmp(type, "runner") && !a->c->quiet) {
		say_progress(a, 1, "%s", !strcmp(state, "lost") ?
				"runner connection lost, waiting for it to come back" : "runner is back");
	} else if (!strcmp(type, "stage")) {
		const char *stage = json_string_value(json_object_get(j, "stage"));
		int program = stage && (!strcmp(stage, "install") || !strcmp(stage, "run"));

		/* the install command and the command draw from their "running" on */
		if (program && !strcmp(state, "running"))
			a->drawing = a->ran = 1;
		else if (program && !strcmp(stage, "install"))
			drawing_ended(a);
		/* "run" is the output itself; its outcome is the exit status */
		if (stage && strcmp(stage, "run"))
			say_stage(a, j, stage, state, reason);
	}
	json_decref(j);
}

static void on_frame(struct attach *a, const struct proto_frame *f)
{
	json_t *j;

	switch (f->type) {
	case PROTO_HELLO:
		a->hello_seen = 1;
		j = proto_parse_json(f);
		a->read_only = j && !strcmp(json_string_value(json_object_get(j, "role")) ?
						    json_string_value(json_object_get(j, "role")) : "",
					    "viewer");
		json_decref(j);
		break;
	case PROTO_OUTPUT:
		on_output(a, f);
		break;
	case PROTO_EVENT:
		on_event(a, f);
		break;
	case PROTO_EXIT:
		on_exit_frame(a, f);
		break;
	case PROTO_ERROR:
		/* Refused before the hello: a control on a shared store consumes the token after
		 * the handshake, so this is its 403. The first attach gives up, as on a 403. */
		if (!a->hello_seen && !a->cursor && !a->reconnects &&
		    (f->code == PROTO_ERR_AUTH || f->code == PROTO_ERR_NOT_FOUND)) {
			say(a, "cannot attach to %s: %.*s", a->o->sid, (int)f->len,
			    (const char *)f->data);
			finish(a, 1);
			break;
		}
		say(a, "control: %.*s", (int)f->len, (const char *)f->data);
		break;
	default:
		break;
	}
}

static int queue_input(struct attach *a, const uint8_t *p, size_t n)
{
	uint8_t *nb;

	if (a->pending_len + n > ATTACH_MAX_PENDING_INPUT)
		return -1;
	nb = realloc(a->pending, a->pending_len + n);
	if (!nb)
		return -1;
	memcpy(nb + a->pending_len, p, n);
	a->pending = nb;
	a->pending_len += n;
	if (a->ws)
		lws_callback_on_writable(a->ws);
	return 0;
}

static int send_pending(struct attach *a, struct lws *wsi)
{
	uint8_t buf[LWS_PRE + PROTO_RESIZE_LEN + PROTO_INPUT_PREFIX_LEN + ATTACH_STDIN_CHUNK];

	if (a->resize_due && !a->read_only) {
		struct winsize ws;
		a->resize_due = 0;
		if (!ioctl(0, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
			proto_encode_resize(buf + LWS_PRE, ws.ws_col, ws.ws_row);
			if (lws_write(wsi, buf + LWS_PRE, PROTO_RESIZE_LEN, LWS_WRITE_BINARY) < 0)
				return -1;
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (a->pending_len && !a->read_only) {
		size_t n = a->pending_len < ATTACH_STDIN_CHUNK ? a->pending_len : ATTACH_STDIN_CHUNK;
		proto_encode_input_prefix(buf + LWS_PRE, n);
		memcpy(buf + LWS_PRE + PROTO_INPUT_PREFIX_LEN, a->pending, n);
		if (lws_write(wsi, buf + LWS_PRE, PROTO_INPUT_PREFIX_LEN + n, LWS_WRITE_BINARY) < 0)
			return -1;
		memmove(a->pending, a->pending + n, a->pending_len - n);
		a->pending_len -= n;
		if (a->pending_len)
			lws_callback_on_writable(wsi);
	}
	return 0;
}

static void reconnect(struct attach *a);

static int callback_session(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	struct attach *a = lws_context_user(lws_get_context(wsi));
	struct proto_frame f;
	int r;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		a->reconnects = 0;
		a->hello_seen = 0;
		proto_reader_release(&a->rd);
		proto_reader_init(&a->rd);
		if (a->o->stdin_is_tty)
			a->resize_due = 1;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (proto_reader_feed(&a->rd, in, len) < 0)
			goto bad;
		while (!a->done && (r = proto_reader_next(&a->rd, &f)) == 1)
			on_frame(a, &f);
		if (a->rd.err)
			goto bad;
		if (a->done)
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return send_pending(a, wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		a->ws = NULL;
		if (a->done)
			break;
		if (!a->cursor && !a->reconnects) {
			say(a, "cannot attach to %s: %s", a->o->sid,
			    in ? (const char *)in : "connection refused");
			finish(a, 1);
			break;
		}
		reconnect(a);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		a->ws = NULL;
		if (!a->done)
			reconnect(a);
		break;
	default:
		break;
	}
	return 0;
bad:
	say(a, "protocol error from control: %s; exiting %d", a->rd.errstr, CLIENT_EXIT_UNFINISHED);
	finish(a, CLIENT_EXIT_UNFINISHED);
	return -1;
}

/* End of a piped stdin: an end-of-file for the program, as ^D is. */
static void stdin_ended(struct attach *a)
{
	if (a->stdin_eof)
		return;
	a->stdin_eof = 1;
	a->stdin_wsi = NULL;
	if (!a->o->stdin_is_tty)
		queue_input(a, (const uint8_t *)"\x04", 1);
}

/* The detach keys of a terminal: "~." at the start of a line (as ssh's), or ^\ twice. The
 * first half is kept back until the next key says what it was: "~~" sends one "~", "~"
 * or ^\ followed by any other key sends both. Copies what goes to the session from `in`
 * to `out` (room for 2 * n bytes) and returns 1 when the keys asked to detach. */
static int scan_detach_keys(struct attach *a, const uint8_t *in, size_t n, uint8_t *out,
			    size_t *out_len)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];

		if (a->held_key == '~') {
			a->held_key = 0;
			if (ch == '.')
				return *out_len = k, 1;
			out[k++] = '~';
			if (ch == '~') {
				a->line_start = 0;
				continue;
			}
		} else if (a->held_key == ATTACH_KEY_CTRL_BACKSLASH) {
			a->held_key = 0;
			if (ch == ATTACH_KEY_CTRL_BACKSLASH)
				return *out_len = k, 1;
			out[k++] = ATTACH_KEY_CTRL_BACKSLASH;
		}
		if ((ch == '~' && a->line_start) || ch == ATTACH_KEY_CTRL_BACKSLASH) {
			a->held_key = ch;
			continue;
		}
		out[k++] = ch;
		a->line_start = ch == '\r' || ch == '\n';
	}
	*out_len = k;
	return 0;
}

static int callback_stdin(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	struct attach *a = lws_context_user(lws_get_context(wsi));
	uint8_t buf[ATTACH_STDIN_CHUNK], keys[2 * ATTACH_STDIN_CHUNK];
	size_t keys_len;
	ssize_t n;

	/* a pipe whose writer left polls as POLLHUP alone: lws closes without an RX */
	if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		if (!a->done)
			stdin_ended(a);
		return 0;
	}
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	n = read(0, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		stdin_ended(a);
		return -1;
	}
	if (a->o->stdin_is_tty) {
		int detach = scan_detach_keys(a, buf, (size_t)n, keys, &keys_len);

		if (!a->read_only && keys_len && queue_input(a, keys, keys_len))
			lws_rx_flow_control(wsi, 0);
		if (detach) {
			a->drawing = 0;
			say(a, "detached: session %s keeps running; runwire attach %s resumes it",
			    a->o->sid, a->o->sid);
			finish(a, CLIENT_EXIT_DETACHED);
			return -1;
		}
		return 0;
	}
	if (a->read_only)
		return 0;
	if (queue_input(a, buf, (size_t)n))
		lws_rx_flow_control(wsi, 0);
	return 0;
}

static const struct lws_protocols attach_protocols[] = {
	{ "bearer", callback_session, 0, 1u << 20, 0, NULL, 0 },
	{ "rw-stdin", callback_stdin, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static int connect_ws(struct attach *a)
{
	struct lws_client_connect_info i;
	char path[512];

	snprintf(a->proto_hdr, sizeof(a->proto_hdr), "bearer, %s", a->token);
	snprintf(path, sizeof(path), "%s?since=%llu", a->base_path, (unsigned long long)a->cursor);
	memset(&i, 0, sizeof(i));
	i.context = a->ctx;
	i.vhost = a->vh;
	i.address = a->host;
	i.port = a->port;
	i.path = path;
	i.host = a->host;
	i.origin = a->host;
	i.protocol = a->proto_hdr;
	i.ssl_connection = a->tls ? LCCSCF_USE_SSL : 0;
	i.pwsi = &a->ws;
	return lws_client_connect_via_info(&i) ? 0 : -1;
}

static void on_reconnect_timer(lws_sorted_usec_list_t *sul);

static void reconnect(struct attach *a)
{
	char err[256];

	if (++a->reconnects > ATTACH_MAX_RECONNECTS) {
		say(a, "lost the connection to control before the session ended (gave up after %d "
		       "attempts): the output is unverified; exiting %d", ATTACH_MAX_RECONNECTS,
		    CLIENT_EXIT_UNFINISHED);
		finish(a, CLIENT_EXIT_UNFINISHED);
		return;
	}
	/* a token is good for one connection: ask for a fresh one */
	free(a->token);
	a->token = api_mint_token(a->c, a->o->sid, a->read_only ? "viewer" : "writer", err,
				  sizeof(err));
	if (!a->token) {
		/* control away (a replica restarting), or its store away (HTTP 503): again */
		if (strstr(err, "cannot reach") || strstr(err, "HTTP 503")) {
			lws_sul_schedule(a->ctx, 0, &a->sul, on_reconnect_timer,
					 (lws_usec_t)(200 * a->reconnects) * LWS_US_PER_MS);
			return;
		}
		say(a, "%s; the output is unverified; exiting %d", err, CLIENT_EXIT_UNFINISHED);
		finish(a, CLIENT_EXIT_UNFINISHED);
		return;
	}
	if (connect_ws(a))
		lws_sul_schedule(a->ctx, 0, &a->sul, on_reconnect_timer,
				 (lws_usec_t)(200 * a->reconnects) * LWS_US_PER_MS);
}

static void on_reconnect_timer(lws_sorted_usec_list_t *sul)
{
	struct attach *a = lws_container_of(sul, struct attach, sul);

	if (!a->ws && !a->done)
		reconnect(a);
}

static int parse_server(struct attach *a)
{
	char buf[1024];
	const char *prot, *addr, *path;

	if (strlen(a->c->server) >= sizeof(buf))
		return -1;
	memcpy(buf, a->c->server, strlen(a->c->server) + 1);
	if (lws_parse_uri(buf, &prot, &addr, &a->port, &path))
		return -1;
	a->tls = !strcmp(prot, "https") || !strcmp(prot, "wss");
	if (!a->tls && strcmp(prot, "http") && strcmp(prot, "ws"))
		return -1;
	snprintf(a->host, sizeof(a->host), "%s", addr);
	if (!a->port)
		a->port = a->tls ? 443 : 80;
	snprintf(a->base_path, sizeof(a->base_path), "/ws/%s", a->o->sid);
	return 0;
}

static void on_tick(lws_sorted_usec_list_t *sul);

static void schedule_tick(struct attach *a)
{
	lws_sul_schedule(a->ctx, 0, &a->sul_tick, on_tick, ATTACH_TICK_MS * LWS_US_PER_MS);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct attach *a = lws_container_of(sul, struct attach, sul_tick);

	if (term_seen) {
		/* a viewer leaving never ends a session: cancelling is runwire cancel's */
		a->drawing = 0;
		say(a, "%s: session %s keeps running; runwire attach %s resumes it, runwire "
		       "cancel %s ends it", term_seen == SIGINT ? "interrupted" :
		    term_seen == SIGHUP ? "hung up" : "terminated", a->o->sid, a->o->sid, a->o->sid);
		finish(a, 128 + term_seen);
		return;
	}
	if (winch_seen) {
		winch_seen = 0;
		a->resize_due = 1;
		if (a->ws)
			lws_callback_on_writable(a->ws);
	}
	schedule_tick(a);
}

int attach_run(const struct client *c, const struct attach_opts *o)
{
	struct lws_context_creation_info info;
	struct attach a;

	memset(&a, 0, sizeof(a));
	a.c = c;
	a.o = o;
	a.cursor = o->since;
	a.verifiable = o->since == 0;
	a.status = 1;
	a.shared_screen = isatty(1) && isatty(2);
	a.line_start = 1;
	rw_sha256_init(&a.sha);
	proto_reader_init(&a.rd);
	if (parse_server(&a)) {
		fprintf(stderr, "runwire: bad server URL %s (want http://HOST:PORT)\n", c->server);
		return 2;
	}
	a.token = strdup(o->token);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = attach_protocols;
	info.user = &a;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.max_http_header_data = 16384;
	info.client_ssl_ca_filepath = c->ca_file;
	a.ctx = lws_create_context(&info);
	if (!a.ctx) {
		free(a.token);
		return 1;
	}
	a.vh = lws_get_vhost_by_name(a.ctx, "default");

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGHUP, on_term);
	signal(SIGINT, on_term);
	if (o->stdin_is_tty) {
		signal(SIGWINCH, on_winch);
		if (o->forward_stdin)
			tty_make_raw(&a);
	}
	if (o->forward_stdin) {
		lws_sock_file_fd_type fd = { .filefd = 0 };
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		a.stdin_wsi = lws_adopt_descriptor_vhost(a.vh, LWS_ADOPT_RAW_FILE_DESC, fd,
							 "rw-stdin", NULL);
	}
	schedule_tick(&a);
	if (connect_ws(&a)) {
		say(&a, "cannot connect to %s", c->server);
		a.done = 1;
	}
	while (!a.done)
		if (lws_service(a.ctx, 0) < 0)
			break;
	tty_restore(&a);
	drawing_ended(&a);
	if (o->forward_stdin)
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) & ~O_NONBLOCK);
	lws_sul_cancel(&a.sul);
	lws_sul_cancel(&a.sul_tick);
	lws_context_destroy(a.ctx);
	proto_reader_release(&a.rd);
	free(a.pending);
	free(a.token);
	return a.status;
}
