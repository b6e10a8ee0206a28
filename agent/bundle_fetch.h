/* bundle_fetch.h: download a bundle (https, s3://, GitHub, or a local file) while hashing it.
 *
 * The first two stages of the agent's bundle pipeline (DESIGN.md: fetch, verify). The bytes go
 * to a file descriptor the caller owns and through a streaming SHA-256 (libsodium) on the way,
 * so the digest is known the moment the last byte lands; the caller compares it.
 *
 * Rules for network URLs, checked on the first URL and on every redirect hop (redirects are
 * followed here, not by libcurl): https only, or plain http to a loopback host (127.0.0.0/8,
 * ::1, localhost) when `allow_http_loopback` is set; never from https to http; the host must be
 * on the allowlist (exact names, or "*.suffix" for any name below suffix); no user:password in
 * URLs; at most `max_redirects` hops. Credentials (SigV4 for s3://, GITHUB_TOKEN for github.com
 * and api.github.com) are attached only while the request stays on the first URL's host: once a
 * redirect leaves it, they are never sent again. The size cap is checked against Content-Length
 * and again while the body streams.
 *
 * Thread-safe once bundle_fetch_global_init() has run (bundle_fetch calls it itself through
 * pthread_once; call it from main before starting threads to keep curl_global_init there).
 */
#ifndef RW_BUNDLE_FETCH_H
#define RW_BUNDLE_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUNDLE_FETCH_MAX_BYTES (256ULL << 20)   /* default size cap of one download */
#define BUNDLE_FETCH_MAX_REDIRECTS 5            /* default and highest hop count */
#define BUNDLE_FETCH_CONNECT_TIMEOUT_S 15       /* default connect timeout */
#define BUNDLE_FETCH_LOW_SPEED_LIMIT 1024       /* default: bytes/s below which... */
#define BUNDLE_FETCH_LOW_SPEED_TIME_S 30        /* ...for this long, the transfer is dropped */
#define BUNDLE_FETCH_TIMEOUT_S 900              /* default cap on the whole download */
#define BUNDLE_FETCH_MAX_URL 8192               /* bytes in a URL (first or redirect) */
#define BUNDLE_FETCH_MAX_ERROR_BODY 512         /* bytes of an error response kept for the reason */
#define BUNDLE_FETCH_WRITE_BUF (256 * 1024)     /* bytes gathered before each write(2) */
#define BUNDLE_FETCH_PROGRESS_US 100000         /* at most one progress report per 100 ms */
#define BUNDLE_S3_DEFAULT_REGION "us-east-1"

struct bundle_fetch_opts {
	const char *const *allow_hosts;  /* "host" or "*.suffix"; an empty list allows no host */
	size_t n_allow_hosts;
	bool allow_http_loopback;        /* plain http to loopback hosts (local servers, tests) */
	const char *ca_file;             /* test-only: trust this CA bundle instead of the system's */
	const char *const *resolve;      /* test-only: "HOST:PORT:ADDRESS" pins, as curl --resolve */
	size_t n_resolve;
	long connect_timeout_s;          /* BUNDLE_FETCH_CONNECT_TIMEOUT_S */
	long low_speed_limit;            /* BUNDLE_FETCH_LOW_SPEED_LIMIT (bytes/s) */
	long low_speed_time_s;           /* BUNDLE_FETCH_LOW_SPEED_TIME_S */
	long timeout_s;                  /* BUNDLE_FETCH_TIMEOUT_S; 0 = none */
	long max_redirects;              /* BUNDLE_FETCH_MAX_REDIRECTS (0..5) */
	uint64_t max_bytes;              /* BUNDLE_FETCH_MAX_BYTES */
	const char *s3_region;           /* NULL = AWS_REGION, then BUNDLE_S3_DEFAULT_REGION */
	const char *s3_endpoint;         /* e.g. "https://storage.googleapis.com" or
					  * "http://127.0.0.1:9000": path-style requests to it;
					  * NULL = AWS virtual-host style */
	/* Credentials; NULL = read from the environment at call time (AWS_ACCESS_KEY_ID,
	 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, GITHUB_TOKEN). Without AWS keys, s3:// requests
	 * go out unsigned (public objects). Borrowed for the duration of the call. */
	const char *aws_access_key_id;
	const char *aws_secret_access_key;
	const char *aws_session_token;
	const char *github_token;
	const atomic_bool *cancel;       /* when it becomes true the fetch stops (RW_ESTATE) */
};

struct bundle_fetch_result {
	uint8_t sha256[32];              /* of every byte written to the fd */
	uint64_t bytes;
	int redirects;                   /* hops followed */
	char host[256];                  /* host that served the bytes ("" for a local file) */
};

/* Progress: `done` bytes so far; `total` from Content-Length or the file size, 0 if unknown.
 * Called at most every BUNDLE_FETCH_PROGRESS_US, and once more at the end. */
typedef void (*bundle_fetch_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Fills `o` with the defaults above (no host allowed, no http). */
void bundle_fetch_opts_init(struct bundle_fetch_opts *o);

/* Runs curl_global_init and sodium_init once per process. 0 or RW_EIO. */
int bundle_fetch_global_init(void);

/* Fetches `url` (https://..., http://loopback..., s3://bucket/key, file:///path or a plain
 * local path) and writes its bytes to `out_fd` (the caller's, left open), hashing them.
 * A local path needs no allowlist. Returns 0 and fills `res`, or a negative RW_E code with
 * a one-line reason in `err`: RW_EUNSAFE (scheme, host, redirect refused), RW_ETOOBIG (size
 * cap, too many redirects), RW_ETIMEDOUT, RW_EAUTH (401/403), RW_ENOTFOUND (404, no file),
 * RW_EPROTO (other HTTP status), RW_EIO, RW_EINVAL (malformed URL), RW_ESTATE (cancelled).
 * On failure the fd holds a partial body: the caller discards it. */
int bundle_fetch(const char *url, const struct bundle_fetch_opts *o, int out_fd,
		 bundle_fetch_progress_fn progress, void *ud, struct bundle_fetch_result *res,
		 char *err, size_t errlen);

/* Checks the source without fetching it: a local path must name a regular file this process
 * can open; a network URL must pass the rules above for its first hop (scheme, allowlist, no
 * credentials in it). No network traffic. Lets a cached copy stand in for a source only while
 * that source is still one the caller may use. 0, or the code and reason bundle_fetch would
 * give (RW_ENOTFOUND, RW_EUNSAFE, RW_EINVAL, ...). */
int bundle_fetch_check(const char *url, const struct bundle_fetch_opts *o, char *err,
		       size_t errlen);

/* The policy, exposed for the unit tests. */

/* True when `host` (lowercase or not, IPv6 with or without brackets) matches an entry. */
bool bundle_fetch_host_allowed(const char *host, const char *const *allow, size_t n);

/* True for localhost, 127.0.0.0/8 and ::1 (no name resolution). */
bool bundle_fetch_host_is_loopback(const char *host);

/* True for the hosts that may receive GITHUB_TOKEN: github.com and api.github.com. */
bool bundle_fetch_github_token_host(const char *host);

/* Builds the https URL for s3://bucket/key into `out`: path-style below `endpoint` when given,
 * else virtual-host style on s3.REGION.amazonaws.com (path-style for bucket names with dots).
 * RW_EINVAL for a malformed s3 URL, RW_ETOOBIG when it does not fit. */
int bundle_fetch_s3_url(const char *s3url, const char *region, const char *endpoint, char *out,
			size_t outlen);

#endif
