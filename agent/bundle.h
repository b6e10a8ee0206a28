/* bundle.h: the agent's bundle pipeline: fetch, verify, unpack (and cache) one CLI bundle.
 *
 * DESIGN.md: an agent that claimed a session runs "fetch bundle -> verify SHA-256 -> unpack"
 * before it installs and runs the CLI. bundle_prepare() does those stages in one blocking call,
 * meant for a worker thread off the agent's event loop; it reports each stage through a callback
 * as the stage events of docs/events.md, which the agent forwards to its loop and to viewers:
 *
 *   {"type":"stage","stage":"fetch","state":"running","source":"agent","done":N,"total":T}
 *   {"type":"stage","stage":"verify","state":"done","source":"agent","sha256":"..."}
 *   {"type":"stage","stage":"unpack","state":"failed","source":"agent","reason":"..."}
 *
 * With signers, the signature "<url>.minisig" is fetched first (same rules as the bundle) and
 * its key and trusted comment checked before the bundle is downloaded; after the download the
 * signature over the bytes, then the SHA-256. verify done then also carries "signer" (the key
 * id as minisign prints it) and "trustedComment"; a missing, foreign or wrong signature ends
 * with verify failed and its reason.
 *
 * Order: fetch running (repeated, at most 10 per second) then done; verify done; unpack running
 * (entries) then done. On a cache hit: fetch skipped, verify done (verified when cached), unpack
 * running/done (a private copy of the cached tree). A failure ends with one "failed" event for
 * the stage at fault, its reason the same text as `err`.
 *
 * Modules: bundle_fetch (https, s3://, GitHub, local files; hashing), bundle_unpack (libarchive,
 * the safety checks and caps), bundle_cache (by digest, LRU). Thread-safe: several calls may
 * run at once in different threads (each with its own options and callback).
 */
#ifndef RW_BUNDLE_H
#define RW_BUNDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/bundle_cache.h"
#include "agent/bundle_fetch.h"
#include "agent/bundle_unpack.h"

#define BUNDLE_SHA256_HEX_LEN 64               /* a digest as hex, without the NUL */
#define BUNDLE_PROGRESS_INTERVAL_US 100000     /* at most 10 "running" events per second */
#define BUNDLE_ERR_LEN 512                     /* a good size for the caller's `err` buffer */
#define BUNDLE_MAX_SIGNERS 16                  /* minisign keys a bundle may be checked against */
#define BUNDLE_SIG_SUFFIX ".minisig"           /* appended to the bundle URL's path */

struct bundle_opts {
	const char *url;               /* https://..., s3://bucket/key, http://loopback (when
					* fetch.allow_http_loopback), file:///path or a local path */
	const char *sha256_hex;        /* required: 64 hex digits; missing or malformed is refused */
	const char *const *signers;    /* minisign public keys ("RW..."); when any is given the
					* bundle must carry "<url>.minisig" signed by one of them,
					* checked before the digest, and the cache is not read
					* (it is still filled). Borrowed for the call */
	size_t n_signers;
	const char *dest_dir;          /* the tree lands here: must not exist or be empty; the
					* parent must exist. Downloads go to an unlinked temporary
					* file in the parent, so a partial file never stays behind */
	const char *cache_dir;         /* NULL = no cache */
	uint64_t cache_max_bytes;      /* 0 = BUNDLE_CACHE_MAX_BYTES */
	struct bundle_fetch_opts fetch;      /* allowlist, timeouts, caps, S3, test-only CA... */
	struct bundle_unpack_limits unpack;  /* entries, bytes, ratio */
	const atomic_bool *cancel;     /* may be NULL; when it becomes true the call stops soon
					* with RW_ESTATE (it overrides fetch.cancel) */
};

struct bundle_result {
	bool cache_hit;                /* served from the cache: no network request was made */
	uint64_t download_bytes;       /* bytes fetched (0 on a cache hit) */
	uint64_t entries;              /* archive entries */
	uint64_t bytes;                /* unpacked file bytes */
};

/* Receives one stage event. The event is borrowed: it is valid during the call only; to keep
 * it (for instance to hand it to the event loop's thread), json_incref() it or
 * json_deep_copy() it. Called on the thread that called bundle_prepare. */
typedef void (*bundle_event_fn)(void *ud, json_t *event);

/* Fills `o` with the defaults of each stage (no URL, no digest, no host allowed). */
void bundle_opts_init(struct bundle_opts *o);

/* Process-wide set-up (libcurl, libsodium). Call once from main before starting threads;
 * bundle_prepare also calls it (through pthread_once). 0 or RW_EIO. */
int bundle_global_init(void);

/* Parses a SHA-256 given as 64 hex digits (either case) into lowercase hex in `out`
 * (BUNDLE_SHA256_HEX_LEN + 1 bytes) and raw bytes in `raw` (may be NULL). 0 or RW_EINVAL. */
int bundle_parse_sha256(const char *hex, char *out, uint8_t raw[32]);

/* Runs the pipeline for `o`: on success the verified, unpacked tree is in o->dest_dir and
 * `res` (may be NULL) says how it got there. `cb` may be NULL. Returns 0, or a negative RW_E
 * code with a one-line reason in `err` (`errlen` bytes, BUNDLE_ERR_LEN is plenty):
 * RW_EINVAL (bad options, no or malformed digest, destination not empty, not an archive),
 * RW_EDIGEST (bytes differ from the digest: "sha256 mismatch: expected X got Y", or from the
 * signature), RW_EAUTH (signers required: no signature, or one by another key),
 * RW_EUNSAFE (scheme, host, redirect or archive entry refused), RW_ETOOBIG (a cap),
 * RW_ETIMEDOUT, RW_EAUTH, RW_ENOTFOUND, RW_EPROTO, RW_EIO, RW_ENOMEM, RW_ESTATE (cancelled).
 * Nothing is left in o->dest_dir's parent on failure. */
int bundle_prepare(const struct bundle_opts *o, bundle_event_fn cb, void *ud,
		   struct bundle_result *res, char *err, size_t errlen);

#endif
