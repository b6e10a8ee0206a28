/* session_token.c: the seed's session JWTs (DESIGN.md: session auth).
 *
 * HS256, 10 minutes, `sub` = user, `sid` = session, `jti` good for one connection, `role`
 * writer or viewer. libjwt 1.10 verifies with whatever algorithm a token's header names and
 * checks no claims, so the header is read and its `alg` checked before libjwt sees the key,
 * and every claim is checked here.
 */
#include "control/control.h"
#include "common/rw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#define TOKEN_SECRET_MIN 32
#define TOKEN_SECRET_MAX 4096
#define TOKEN_SKEW_S 60
#define TOKEN_JTI_BYTES 16
#define TOKEN_MAX_HEADER_B64 1024   /* encoded header segment; decodes to < 768 bytes */

struct used_jti {
	char jti[65];
	int64_t exp;
};

struct token_keys {
	uint8_t *secret;
	size_t secret_len;
	struct used_jti *used;
	size_t n_used, cap_used;
};

struct token_keys *token_keys_new(const char *secret_file, char *err, size_t errlen)
{
	struct token_keys *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (secret_file) {
		size_t len;
		char *s = rw_read_file(secret_file, TOKEN_SECRET_MAX, &len);
		if (!s) {
			snprintf(err, errlen, "cannot read session secret %s: %s", secret_file,
				 strerror(errno));
			free(k);
			return NULL;
		}
		if (len < TOKEN_SECRET_MIN) {
			snprintf(err, errlen, "session secret %s is %zu bytes; at least %d are needed",
				 secret_file, len, TOKEN_SECRET_MIN);
			sodium_memzero(s, len);
			free(s);
			free(k);
			return NULL;
		}
		k->secret = (uint8_t *)s;
		k->secret_len = len;
	} else {
		k->secret_len = 32;
		k->secret = malloc(k->secret_len);
		if (!k->secret) {
			free(k);
			return NULL;
		}
		randombytes_buf(k->secret, k->secret_len);
	}
	return k;
}

void token_keys_free(struct token_keys *k)
{
	if (!k)
		return;
	sodium_memzero(k->secret, k->secret_len);
	free(k->secret);
	free(k->used);
	free(k);
}

char *token_mint(struct token_keys *k, const char *sub, const char *sid, enum token_role role)
{
	jwt_t *jwt = NULL;
	char jti[2 * TOKEN_JTI_BYTES + 1];
	char *out = NULL;
	int64_t now = rw_now_ms() / 1000;

	rw_random_hex(jti, TOKEN_JTI_BYTES);
	if (jwt_new(&jwt))
		return NULL;
	if (jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "sid", sid) ||
	    jwt_add_grant(jwt, "jti", jti) ||
	    jwt_add_grant(jwt, "role", role == TOKEN_ROLE_VIEWER ? "viewer" : "writer") ||
	    jwt_add_grant_int(jwt, "iat", now) || jwt_add_grant_int(jwt, "exp", now + TOKEN_TTL_S) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, k->secret, (int)k->secret_len))
		goto out;
	out = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	return out;
}

/* Decodes the header segment: 1 when its `alg` is exactly HS256, 0 otherwise. */
static int header_is_hs256(const char *token)
{
	const char *dot = strchr(token, '.');
	unsigned char hdr[1024];
	size_t hlen;
	json_t *h;
	int ok;

	if (!dot || (size_t)(dot - token) > TOKEN_MAX_HEADER_B64)
		return 0;
	if (sodium_base642bin(hdr, sizeof(hdr) - 1, token, (size_t)(dot - token), NULL, &hlen, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return 0;
	h = json_loadb((const char *)hdr, hlen, 0, NULL);
	ok = h && json_is_string(json_object_get(h, "alg")) &&
	     !strcmp(json_string_value(json_object_get(h, "alg")), "HS256");
	json_decref(h);
	return ok;
}

static int copy_claim(jwt_t *jwt, const char *name, char *dst, size_t cap)
{
	const char *v = jwt_get_grant(jwt, name);

	if (!v || !*v || strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int token_verify(struct token_keys *k, const char *token, struct token_claims *out,
		 char *reason, size_t reasonlen)
{
	jwt_t *jwt = NULL;
	const char *role;
	int64_t now = rw_now_ms() / 1000, iat;
	int r = RW_EAUTH;

	memset(out, 0, sizeof(*out));
	if (strlen(token) > TOKEN_MAX_LEN) {
		snprintf(reason, reasonlen, "token longer than %d bytes", TOKEN_MAX_LEN);
		return RW_EAUTH;
	}
	if (!header_is_hs256(token)) {
		snprintf(reason, reasonlen, "token is not an HS256 JWT");
		return RW_EAUTH;
	}
	if (jwt_decode(&jwt, token, k->secret, (int)k->secret_len) || !jwt ||
	    jwt_get_alg(jwt) != JWT_ALG_HS256) {
		snprintf(reason, reasonlen, "bad token signature");
		goto out;
	}
	errno = 0;
	out->exp = jwt_get_grant_int(jwt, "exp");
	if (errno == ENOENT || out->exp <= now) {
		snprintf(reason, reasonlen, "token expired");
		goto out;
	}
	errno = 0;
	iat = jwt_get_grant_int(jwt, "iat");
	if (errno == ENOENT || iat > now + TOKEN_SKEW_S) {
		snprintf(reason, reasonlen, "token issued in the future");
		goto out;
	}
	if (copy_claim(jwt, "sub", out->sub, sizeof(out->sub)) ||
	    copy_claim(jwt, "sid", out->sid, sizeof(out->sid)) ||
	    copy_claim(jwt, "jti", out->jti, sizeof(out->jti))) {
		snprintf(reason, reasonlen, "token lacks sub, sid or jti");
		goto out;
	}
	role = jwt_get_grant(jwt, "role");
	if (role && !strcmp(role, "viewer")) {
		out->role = TOKEN_ROLE_VIEWER;
	} else if (role && !strcmp(role, "writer")) {
		out->role = TOKEN_ROLE_WRITER;
	} else {
		snprintf(reason, reasonlen, "token has no valid role");
		goto out;
	}
	r = RW_OK;
out:
	jwt_free(jwt);
	return r;
}

int token_consume(struct token_keys *k, const char *jti, int64_t exp)
{
	int64_t now = rw_now_ms() / 1000;
	size_t i, w = 0;

	/* purge what has expired: an expired token is refused before it gets here */
	for (i = 0; i < k->n_used; i++)
		if (k->used[i].exp > now)
			k->used[w++] = k->used[i];
	k->n_used = w;
	for (i = 0; i < k->n_used; i++)
		if (!strcmp(k->used[i].jti, jti))
			return RW_EAUTH;
	if (k->n_used == k->cap_used) {
		size_t cap = k->cap_used ? 2 * k->cap_used : 64;
		struct used_jti *nu = realloc(k->used, cap * sizeof(*nu));
		if (!nu)
			return RW_ENOMEM;
		k->used = nu;
		k->cap_used = cap;
	}
	snprintf(k->used[k->n_used].jti, sizeof(k->used[0].jti), "%s", jti);
	k->used[k->n_used].exp = exp;
	k->n_used++;
	return RW_OK;
}
