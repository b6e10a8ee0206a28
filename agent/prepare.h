/* prepare.h: runs the bundle pipeline (bundle_prepare: fetch, verify, unpack) on a worker
 * thread, so that an event loop never blocks on a download (DESIGN.md: "blocking work runs
 * off the loop and reports progress back").
 *
 * The worker queues each stage event (a private deep copy) under a mutex and calls `notify`
 * from its own thread; the loop's thread then takes the events and, at the end, the result
 * with prepare_take(). The agent's notify is lws_cancel_service() (the loop wakes in
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED); `runwire-agent run` writes a byte to a self-pipe.
 *
 * Lifecycle: prepare_start() -> prepare_take() until it says finished -> prepare_free().
 * prepare_cancel() may be called at any time from the loop's thread; the worker stops soon
 * with RW_ESTATE. prepare_free() joins the worker (cancelling it first if it still runs).
 */
#ifndef RW_PREPARE_H
#define RW_PREPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/bundle.h"

#define PREPARE_MAX_HOSTS 256          /* entries of an allowlist */
#define PREPARE_MAX_QUEUED 256         /* events waiting for the loop; progress is dropped past it */

/* Everything the pipeline needs; prepare_start() copies it (nothing is borrowed after). */
struct prepare_params {
	const char *url;                /* https://, s3://, http://loopback, file:// or a path */
	const char *sha256;             /* 64 hex digits */
	const char *dest_dir;           /* must not exist or be empty; its parent must exist */
	const char *cache_dir;          /* NULL: no cache */
	const char *ca_file;            /* test-only extra CA for https, or NULL */
	const char *const *allow_hosts; /* "host" or "*.suffix" */
	size_t n_allow_hosts;
	bool allow_http_loopback;
	bool allow_local_path;          /* a path or file:// URL: only for operators' templates */
	uint64_t max_download_bytes;    /* 0: BUNDLE_FETCH_MAX_BYTES */
	const char *s3_endpoint;        /* NULL: AWS */
	const char *s3_region;          /* NULL: AWS_REGION, then us-east-1 */
	const char *const *signers;     /* minisign public keys the bundle must be signed by */
	size_t n_signers;               /* 0: no signature needed; at most BUNDLE_MAX_SIGNERS */
};

struct prepare;

/* Called on the worker's thread after it queued something (an event or the result). It must
 * only wake the loop: everything else happens in prepare_take() on the loop's thread. */
typedef void (*prepare_notify_fn)(void *ud);

/* Reads ASSIGN's "bundle" ({"url","sha256","signers"}) and "fetch" policy (docs/protocol.md)
 * into `pp`, whose strings and lists stay borrowed from those objects (and `hosts`, an array of
 * PREPARE_MAX_HOSTS pointers, and `signers`, one of BUNDLE_MAX_SIGNERS, that the caller
 * provides) until prepare_start() has copied them. The signers are the bundle's own
 * ("bundle.signers", from the template) or else the operator's ("fetch.signers").
 * dest_dir, cache_dir and ca_file are left for the caller. 0, or RW_EINVAL with `err` set. */
int prepare_params_from_assign(json_t *bundle, json_t *fetch, const char **hosts,
			       const char **signers, struct prepare_params *pp, char *err,
			       size_t errlen);

#define PREPARE_CACHE_NONE "none"      /* --cache-dir value that turns the cache off */

/* The cache directory from a flag or environment value: NULL for PREPARE_CACHE_NONE, the
 * value itself, or (value NULL or empty) "runwire-cache" beside `work_root` (the work root
 * is per machine, so its agents share the cache). Returns a new string or NULL. */
char *prepare_cache_dir(const char *value, const char *work_root);

/* True when `url` names a local file (a plain path or file://), as bundle_fetch decides. */
bool prepare_url_is_local(const char *url);

/* Starts the worker. Returns a new object (free with prepare_free), or NULL with `err` set. */
struct prepare *prepare_start(const struct prepare_params *pp, prepare_notify_fn notify,
			      void *ud, char *err, size_t errlen);

/* Asks the worker to stop (thread-safe, idempotent). */
void prepare_cancel(struct prepare *p);

/* Takes what the worker queued: `*events` becomes a new array of stage events (the caller
 * owns it; may be empty). Returns 1 when the worker has finished (then *rc is bundle_prepare's
 * result, `err` its reason, and the caller should prepare_free()), 0 while it runs. */
int prepare_take(struct prepare *p, json_t **events, int *rc, char *err, size_t errlen);

/* Joins the worker (after cancelling it if it still runs) and frees everything. NULL is fine. */
void prepare_free(struct prepare *p);

#endif
