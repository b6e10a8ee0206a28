/* runner_auth.h: one-claim credentials for runners that come from elsewhere (Kubernetes).
 *
 * Each runner pod presents its projected service-account token (a JWT the cluster signs,
 * audience "runwire", a few minutes' lifetime, naming the pod). Control verifies it against
 * the cluster's published JWKS (RS256 only, `alg` checked before any key is used; `iss`,
 * `aud`, `exp`, `nbf`) and records the pod's UID on first use: a pod, and a stolen token,
 * which names that pod, claims once. See docs/security.md.
 */
#ifndef RW_RUNNER_AUTH_H
#define RW_RUNNER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define RUNNER_AUTH_AUDIENCE "runwire"
#define RUNNER_AUTH_MAX_TOKEN 8192
#define RUNNER_AUTH_MAX_KEYS 16
#define RUNNER_AUTH_MAX_JWKS (64u << 10)
#define RUNNER_AUTH_MAX_USED 100000      /* pod UIDs remembered (oldest forgotten first) */
#define RUNNER_AUTH_SKEW_S 60

struct runner_auth;
struct google_certs_key;

struct runner_auth_opts {
	const char *issuer;       /* the cluster's, required */
	const char *jwks_file;    /* the JWKS, read once; or */
	const char *jwks_url;     /* fetched and cached (google_certs.h: Cache-Control max-age
				   * bounded to 60 s..1 day, refreshed before it runs out, the last
				   * good set kept when a fetch fails) */
	const char *ca_file;      /* PEM bundle to trust for jwks_url instead of the system's */
	int kid_refetch_s;        /* an unknown kid refetches at most this often (0: 60 s) */
};

/* Loads the JWKS file, or starts fetching the URL (without waiting: see
 * runner_auth_refresh_now), and keeps the expected issuer. NULL with `err` set when the file
 * is unreadable or not a usable JWKS, or the URL is refused. */
struct runner_auth *runner_auth_new(const struct runner_auth_opts *o, char *err, size_t errlen);
void runner_auth_free(struct runner_auth *ra);
/* With a URL: fetches now, on the calling thread (start-up). 0 or RW_E..., the previous set
 * kept. With a file: 0. */
int runner_auth_refresh_now(struct runner_auth *ra);

/* A JWKS document: {"keys": [{"kty":"RSA","kid","n","e"}, ...]}, at most RUNNER_AUTH_MAX_KEYS
 * entries. Keys of other types, or with "use" other than "sig", are skipped; an RSA key
 * without kid, n or e, malformed or under 2048 bits refuses the whole document, as does a
 * document with no RSA key. A google_certs_parse_fn. */
int runner_auth_parse_jwks(const char *buf, size_t len, struct google_certs_key **keys,
			   size_t *nkeys, char *err, size_t errlen);

/* Verifies a service-account token (signature, issuer, audience, lifetime) and names its
 * pod, consuming nothing: a resume checks with it that the runner holding a session is
 * still the one that claimed it. 0 with `pod_uid` filled, RW_EAUTH with `reason`, or
 * RW_EAGAIN with `reason` when a fetched JWKS has no key for its kid yet (or no set at all):
 * the refetch is asked for, and the runner should try again shortly. Never blocks. */
int runner_auth_verify(struct runner_auth *ra, const char *token, int64_t now_s, char *pod_uid,
		       size_t pod_uid_len, char *reason, size_t reasonlen);

/* Verifies a service-account token and consumes its pod: 0 with `pod_uid` filled the first
 * time, RW_EAUTH with `reason` otherwise ("pod already claimed" on a second use), RW_EAGAIN
 * as runner_auth_verify (nothing consumed). */
int runner_auth_claim(struct runner_auth *ra, const char *token, int64_t now_s, char *pod_uid,
		      size_t pod_uid_len, char *reason, size_t reasonlen);

/* Forgets that `pod_uid` claimed (its agent left without a session: a redirect), so that
 * the pod may claim here again. */
void runner_auth_release(struct runner_auth *ra, const char *pod_uid);

/* Whether a credential looks like a JWT (three dot-separated segments). */
int runner_auth_is_jwt(const char *credential);

#endif
