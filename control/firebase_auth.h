/* firebase_auth.h: verifies Firebase ID tokens for runwire-control (DESIGN.md, "user auth").
 *
 * A token is accepted as Firebase's Admin SDK accepts it, and nothing else: the header is read
 * with jansson before any key is touched and must say exactly alg RS256 with a kid that names
 * one of Google's currently published certificates (google_certs.h); the RS256 signature is
 * checked with OpenSSL (EVP_DigestVerify) against that certificate's RSA key; then the claims:
 * aud = project id, iss = https://securetoken.google.com/<project id>, sub a non-empty string of
 * at most 128 characters, exp > now - skew, iat <= now + skew, auth_time (if any) <= now + skew.
 * libjwt is deliberately not on this path (it follows the header's alg, see DESIGN.md).
 *
 * Emulator mode (development only, an explicit flag) accepts the Firebase Auth emulator's
 * unsigned tokens (alg none, empty signature) and only those, with the same claim checks; it
 * fetches no certificates.
 *
 * Threading: firebase_auth_verify() may be called from any thread, concurrently; it never waits
 * on the network (a mutex held for a lookup at most). Certificates are fetched by a refresher
 * thread that firebase_auth_new() starts and firebase_auth_free() joins: once at start, again
 * before the Cache-Control max-age runs out, and when a verify meets an unknown kid (at most
 * once a minute). A verify that meets an unknown kid fails at once ("unknown kid"); a later one
 * sees the refetched set. firebase_auth_refresh_now() fetches on the caller's thread.
 */
#ifndef RW_FIREBASE_AUTH_H
#define RW_FIREBASE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "control/google_certs.h"

#define FIREBASE_MAX_TOKEN 8192         /* bytes of an ID token; longer is refused unread */
#define FIREBASE_MAX_PROJECT 128        /* bytes of a project id */
#define FIREBASE_MAX_UID_CHARS 128      /* characters (code points) of sub, as Firebase allows */
#define FIREBASE_MAX_UID (4 * FIREBASE_MAX_UID_CHARS) /* bytes of sub in UTF-8 */
#define FIREBASE_MAX_EMAIL 320          /* bytes of an email claim; longer is dropped */
#define FIREBASE_DEFAULT_SKEW_S 300     /* clock skew allowed on exp, iat, auth_time */
#define FIREBASE_MAX_SKEW_S 3600        /* a larger configured skew is refused */
#define FIREBASE_ISSUER_PREFIX "https://securetoken.google.com/"

struct firebase_auth_opts {
	const char *project_id;    /* required: the expected aud; copied */
	const char *certs_url;     /* NULL: GOOGLE_CERTS_DEFAULT_URL. https, or http to loopback */
	const char *ca_file;       /* PEM bundle for the certs URL instead of the system's (tests) */
	int emulator;              /* 1: accept only the Auth emulator's unsigned tokens */
	int skew_s;                /* 0: FIREBASE_DEFAULT_SKEW_S */
	google_certs_clock_fn clock; /* NULL: the wall clock; used for claims and the cache */
	void *clock_arg;
	int no_refresher;          /* 1: start no thread; only refresh_now fetches (tests) */
};

/* The verified user. Plain arrays: nothing to free. */
struct firebase_user {
	char uid[FIREBASE_MAX_UID + 1];     /* sub: non-empty, at most 128 characters */
	char email[FIREBASE_MAX_EMAIL + 1]; /* "" when the token has none (or an oversized one) */
	int email_verified;                 /* the email_verified claim, 0 when absent */
};

struct firebase_auth;

/* Creates a verifier. Refuses (NULL, with a message in `err`) a missing or oversized project
 * id, a certificate URL that is neither https nor http to a loopback host, a skew outside
 * [0, FIREBASE_MAX_SKEW_S]. Outside emulator mode it starts the refresher thread, which begins
 * fetching at once; call firebase_auth_refresh_now() to wait for the first set. Libcurl and
 * libsodium are initialised here. Free with firebase_auth_free(). */
struct firebase_auth *firebase_auth_new(const struct firebase_auth_opts *o, char *err,
					size_t errlen);

/* Stops and joins the refresher and frees the verifier. NULL is a no-op. Not while another
 * thread is inside firebase_auth_verify() on it. */
void firebase_auth_free(struct firebase_auth *fa);

/* Verifies `id_token` (NUL-terminated). 0 and `*out` filled when it is good. Otherwise `*out`
 * is zeroed, `reason` gets a short fixed explanation that never quotes the token, and it
 * returns RW_EAUTH (the token is refused: answer 401), RW_EAGAIN (no usable certificate set
 * yet, or it expired while fetching failed: answer 503 and let the client retry) or, rarely,
 * RW_ENOMEM. `reason` may be NULL. */
int firebase_auth_verify(struct firebase_auth *fa, const char *id_token, struct firebase_user *out,
			 char *reason, size_t reasonlen);

/* Fetches Google's certificates now on the calling thread (blocking; start-up and tests).
 * 0, or the google_certs_refresh_now() error with the message in firebase_auth_last_error().
 * In emulator mode there is nothing to fetch: 0. */
int firebase_auth_refresh_now(struct firebase_auth *fa);

/* Number of certificate fetches begun so far (0 in emulator mode). */
uint64_t firebase_auth_fetch_count(struct firebase_auth *fa);

/* Copies the message of the last failed certificate fetch ("" if none). */
void firebase_auth_last_error(struct firebase_auth *fa, char *buf, size_t len);

/* Checks a --firebase-auth-emulator HOST:PORT ("127.0.0.1:9099", "localhost:9099",
 * "[::1]:9099"). Returns 0 when the host is loopback and the port in 1..65535, RW_EUNSAFE when
 * the host is anything else (the caller refuses to start), RW_EINVAL when it does not parse. */
int firebase_auth_emulator_host_ok(const char *hostport);

#endif
