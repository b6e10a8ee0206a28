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

/* Loads the JWKS file (RSA keys with "kid", "n", "e") and the expected issuer. NULL with
 * `err` set when the file is unreadable, not a JWKS, or holds no usable RSA key. */
struct runner_auth *runner_auth_new(const char *jwks_file, const char *issuer, char *err,
				    size_t errlen);
void runner_auth_free(struct runner_auth *ra);

/* Verifies a service-account token (signature, issuer, audience, lifetime) and names its
 * pod, consuming nothing: a resume checks with it that the runner holding a session is
 * still the one that claimed it. 0 with `pod_uid` filled, RW_EAUTH with `reason`. */
int runner_auth_verify(struct runner_auth *ra, const char *token, int64_t now_s, char *pod_uid,
		       size_t pod_uid_len, char *reason, size_t reasonlen);

/* Verifies a service-account token and consumes its pod: 0 with `pod_uid` filled the first
 * time, RW_EAUTH with `reason` otherwise ("pod already claimed" on a second use). */
int runner_auth_claim(struct runner_auth *ra, const char *token, int64_t now_s, char *pod_uid,
		      size_t pod_uid_len, char *reason, size_t reasonlen);

/* Whether a credential looks like a JWT (three dot-separated segments). */
int runner_auth_is_jwt(const char *credential);

#endif
