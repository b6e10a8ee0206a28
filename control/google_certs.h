/* google_certs.h: the cache of Google's published token-signing certificates, and of any
 * published key set fetched the same way (a Kubernetes cluster's JWKS, runner_auth.h).
 *
 * runwire-control verifies Firebase ID tokens (firebase_auth.h) against the X.509 certificates
 * that Google publishes as a JSON object {"<kid>": "-----BEGIN CERTIFICATE-----...", ...}. This
 * module fetches that document with libcurl, keeps the RSA public keys it names, and knows for
 * how long they may be used (the response's Cache-Control max-age).
 *
 * Threading. The control process has one event loop that must never wait on the network, so
 * fetching happens on a refresher thread that this module owns:
 *   - it fetches once at start, again shortly before max-age runs out (at nine tenths of it,
 *     at most GOOGLE_CERTS_MAX_LEAD_S early), and after a failure with a backoff of 5 s
 *     doubling to 60 s, keeping the previous keys until they expire;
 *   - google_certs_get_key() on an unknown kid pokes it; it then fetches, but never sooner than
 *     GOOGLE_CERTS_KID_REFETCH_S (or the kid_refetch_s option) after the previous fetch began
 *     (a poke that comes too early is deferred to that time, not lost).
 * google_certs_get_key() only takes a mutex for a few instructions and may be called from any
 * thread. google_certs_refresh_now() fetches on the calling thread (blocking) and is meant for
 * start-up and tests. Fetches never overlap. The clock may be replaced (tests): the refresher
 * sleeps on the real monotonic clock and re-reads the given clock when it wakes or is poked.
 */
#ifndef RW_GOOGLE_CERTS_H
#define RW_GOOGLE_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define GOOGLE_CERTS_DEFAULT_URL \
	"https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"

#define GOOGLE_CERTS_MAX_DOC (256 * 1024) /* bytes of one certificate document */
#define GOOGLE_CERTS_MAX_KEYS 32          /* certificates in one document */
#define GOOGLE_CERTS_MAX_KID 128          /* bytes of one kid */
#define GOOGLE_CERTS_MIN_RSA_BITS 2048    /* smaller RSA keys are refused */
#define GOOGLE_CERTS_MIN_TTL_S 60         /* a missing or smaller max-age counts as this */
#define GOOGLE_CERTS_MAX_TTL_S 86400      /* a larger max-age counts as this */
#define GOOGLE_CERTS_MAX_LEAD_S 300       /* refresh at most this long before expiry */
#define GOOGLE_CERTS_KID_REFETCH_S 60     /* an unknown kid refetches at most this often */
#define GOOGLE_CERTS_RETRY_MIN_S 5        /* first retry after a failed fetch */
#define GOOGLE_CERTS_RETRY_MAX_S 60       /* retries back off up to this */
#define GOOGLE_CERTS_CONNECT_TIMEOUT_S 5
#define GOOGLE_CERTS_FETCH_TIMEOUT_S 15

/* A clock in whole seconds since the epoch. */
typedef int64_t (*google_certs_clock_fn)(void *arg);

/* One key of a fetched set. */
struct google_certs_key {
	char kid[GOOGLE_CERTS_MAX_KID + 1];
	EVP_PKEY *pkey; /* one reference owned by the set */
};

/* Parses a fetched document into a new array of keys (freed with google_certs_free_keys).
 * 0, or RW_E... with a message in `err`: a document that is not wholly understood is refused
 * whole, and the previous set stays. */
typedef int (*google_certs_parse_fn)(const char *buf, size_t len, struct google_certs_key **keys,
				     size_t *nkeys, char *err, size_t errlen);

void google_certs_free_keys(struct google_certs_key *keys, size_t n);

struct google_certs_opts {
	const char *url;               /* NULL: GOOGLE_CERTS_DEFAULT_URL; copied */
	const char *ca_file;           /* PEM bundle to trust instead of the system's (tests); copied */
	google_certs_clock_fn clock;   /* NULL: the wall clock */
	void *clock_arg;               /* passed to clock */
	int no_refresher;              /* 1: start no thread; only refresh_now fetches (tests) */
	google_certs_parse_fn parse;   /* NULL: Google's {"kid": "PEM certificate"} object */
	const char *what;              /* the document in messages (NULL: "certificate") */
	const char *log_name;          /* log events <log_name>_fetched / _fetch_failed
					* (NULL: "google_certs") */
	int kid_refetch_s;             /* 0: GOOGLE_CERTS_KID_REFETCH_S */
};

struct google_certs;

/* 1 when `host` (a name, an IPv4 address, or an IPv6 address with or without brackets) is
 * loopback: "localhost", 127.0.0.0/8 or ::1. 0 otherwise. No name resolution. */
int google_certs_host_is_loopback(const char *host);

/* Checks that `url` is absolute https, or plain http to a loopback host (127.0.0.0/8, ::1,
 * localhost), using curl_url(). 0, or RW_EUNSAFE / RW_EINVAL with a message in `err`. */
int google_certs_url_ok(const char *url, char *err, size_t errlen);

/* Creates the cache and starts its refresher thread, which begins with a fetch. Does not wait
 * for it (call google_certs_refresh_now() for that). NULL on failure, with a message in `err`
 * (a refused URL, or out of memory). Free with google_certs_free(). */
struct google_certs *google_certs_new(const struct google_certs_opts *o, char *err, size_t errlen);

/* Stops the refresher (aborting a fetch in flight), joins it, frees everything. NULL is a
 * no-op. Keys handed out by google_certs_get_key() stay valid: they are counted references. */
void google_certs_free(struct google_certs *gc);

/* Fetches the document now, on the calling thread, waiting for a fetch already in flight to
 * finish first. 0 when a new key set was installed; RW_EIO (network, HTTP status),
 * RW_ETOOBIG (a cap), RW_EPROTO (not the expected JSON or PEM), RW_EUNSAFE (key too weak);
 * on failure the previous key set stays and the message is kept (google_certs_last_error). */
int google_certs_refresh_now(struct google_certs *gc);

/* Finds the public key of certificate `kid`. 0 and `*key` set to a new reference that the
 * caller releases with EVP_PKEY_free(). RW_ENOTFOUND when the current set has no such kid
 * (the refresher is poked, rate limited); RW_EAGAIN when there is no usable set (none fetched
 * yet, or expired: the refresher is poked). Never blocks on the network. */
int google_certs_get_key(struct google_certs *gc, const char *kid, EVP_PKEY **key);

/* Number of fetches begun so far (each one HTTP request), for tests and metrics. */
uint64_t google_certs_fetch_count(struct google_certs *gc);

/* Number of keys in the current set, and the clock time at which it expires (0: none). */
int google_certs_key_count(struct google_certs *gc, int64_t *expires_at);

/* Copies the message of the last failed fetch ("" when the last fetch succeeded). */
void google_certs_last_error(struct google_certs *gc, char *buf, size_t len);

#endif
