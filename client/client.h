/* client.h: the pieces of `runwire`, the terminal client: REST calls to control
 * (client/api.c) and attaching to a session's stream (client/attach.c).
 */
#ifndef RW_CLIENT_H
#define RW_CLIENT_H

#include <stdint.h>

#include <jansson.h>

#define CLIENT_DEFAULT_SERVER "http://127.0.0.1:8080"
#define CLIENT_MAX_RESPONSE (16u << 20)   /* largest API response read */

struct client {
	const char *server;    /* http[s]://host:port, without a trailing '/' */
	const char *id_token;  /* user credential for the API, or NULL */
	const char *ca_file;
	int quiet;             /* no progress lines on stderr */
	int show_gaps;         /* a line per skipped range as it happens (RUNWIRE_SHOW_GAPS=1,
				* for diagnosis and tests), besides the one verdict at the end */
};

/* Calls the API. On success returns 0 with *status the HTTP status and *resp the parsed
 * JSON body (new reference, may be NULL for a non-JSON body). On transport failure
 * returns RW_EIO with a message in `err` naming the server. */
int api_call(const struct client *c, const char *method, const char *path, json_t *body,
	     long *status, json_t **resp, char *err, size_t errlen);

/* Like api_call, but hands back the raw body (caller frees; NULL when empty). */
int api_request(const struct client *c, const char *method, const char *path, json_t *body,
		long *status, char **raw, size_t *raw_len, char *err, size_t errlen);

/* Receives a streamed response body piece by piece; non-zero stops the transfer. */
typedef int (*api_sink_fn)(const char *data, size_t len, void *ud);

/* GETs `path` and hands a 200 response's body to `fn` as it arrives, with no cap on its
 * size and no total timeout (a transfer that stalls for 60 s fails). 0 with *status set (a
 * body other than 200's is dropped); RW_EINVAL when `fn` stopped it; RW_EIO with `err`. */
int api_stream(const struct client *c, const char *path, api_sink_fn fn, void *ud, long *status,
	       char *err, size_t errlen);

/* Writes a session's recording (asciicast v2) to stdout, paced at `speed` times real time
 * (0: at once), with idle gaps capped at `max_idle` seconds. Returns the exit status. */
int replay_run(const struct client *c, const char *sid, double speed, double max_idle);

/* Mints a fresh one-time token for a session the caller owns (POST .../tokens). Returns
 * a new string or NULL with `err` set. */
char *api_mint_token(const struct client *c, const char *sid, const char *role, char *err,
		     size_t errlen);

struct attach_opts {
	const char *sid;
	const char *token;     /* first token; later ones are minted for reconnects */
	uint64_t since;
	int forward_stdin;     /* send stdin to the session */
	int stdin_is_tty;      /* raw mode and window size changes */
};

/* Exit statuses that say the output is not proven (docs/protocol.md, "Client exit
 * statuses"). They win over the program's own code: a caller must never take output with
 * a hole, a wrong byte or no end for a success. Chosen next to 125 (the runner failed
 * before the command), away from the 1 and 2 programs usually return. */
#define CLIENT_EXIT_INCOMPLETE 121   /* bytes were skipped (a gap), or fewer arrived than the
				      * exit event's total */
#define CLIENT_EXIT_CORRUPTED 122    /* the SHA-256 (or the total) does not match what arrived */
#define CLIENT_EXIT_DETACHED 120     /* the user pressed the detach keys: the session keeps
				      * running, `runwire attach` resumes it */
#define CLIENT_EXIT_UNFINISHED 123   /* no exit event: the connection to control was lost for
				      * good, or the session failed without an exit status */

/* Attaches, writes output to stdout verbatim until the session ends, and returns the
 * exit status to leave with: the session's code, 128+N for signal N, 130 for a session
 * cancelled before it ran, 1 when it cannot attach at all, or one of the CLIENT_EXIT_*
 * statuses above when the output is not proven (said once on stderr). The client leaving
 * never ends the session: CLIENT_EXIT_DETACHED after the detach keys of a terminal ("~."
 * after a newline, or ^\ twice), 128+N when signal N (SIGINT, SIGTERM, SIGHUP) stops it,
 * each said on stderr with the way back (runwire attach). */
int attach_run(const struct client *c, const struct attach_opts *o);

#endif
