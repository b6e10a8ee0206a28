/* runner_auth.c: Kubernetes service-account tokens as one-claim runner credentials
 * (see runner_auth.h). Verification is OpenSSL's EVP_DigestVerify; libjwt is not used here
 * because it would pick the algorithm from the token. */
#include "control/runner_auth.h"
#include "common/rw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

struct runner_key {
	char kid[128];
	EVP_PKEY *pkey;
};

struct runner_auth {
	char *issuer;
	struct runner_key keys[RUNNER_AUTH_MAX_KEYS];
	size_t n_keys;
	char (*used)[64];       /* pod UIDs that have claimed, a ring */
	size_t n_used, next_used;
};

/* base64url (unpadded) into a new buffer; NULL when malformed. */
static uint8_t *b64url(const char *in, size_t len, size_t *out_len)
{
	uint8_t *out = malloc(len * 3 / 4 + 4);

	if (!out)
		return NULL;
	if (sodium_base642bin(out, len * 3 / 4 + 4, in, len, NULL, out_len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
		free(out);
		return NULL;
	}
	return out;
}

static EVP_PKEY *rsa_from_jwk(const char *n64, const char *e64)
{
	size_t nl, el;
	uint8_t *n = b64url(n64, strlen(n64), &nl), *e = b64url(e64, strlen(e64), &el);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = NULL, *be = NULL;

	if (!n || !e || !bld || nl < 256) /* RSA of at least 2048 bits */
		goto out;
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	if (!bn || !be || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

struct runner_auth *runner_auth_new(const char *jwks_file, const char *issuer, char *err,
				    size_t errlen)
{
	struct runner_auth *ra = calloc(1, sizeof(*ra));
	json_error_t jerr;
	json_t *jwks, *k;
	size_t i;

	if (!ra)
		return NULL;
	ra->issuer = strdup(issuer);
	ra->used = calloc(RUNNER_AUTH_MAX_USED, sizeof(*ra->used));
	jwks = json_load_file(jwks_file, JSON_REJECT_DUPLICATES, &jerr);
	if (!jwks || !json_is_array(json_object_get(jwks, "keys"))) {
		snprintf(err, errlen, "runner JWKS %s: %s", jwks_file, jwks ? "no \"keys\" array" : jerr.text);
		json_decref(jwks);
		runner_auth_free(ra);
		return NULL;
	}
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		const char *kty = json_string_value(json_object_get(k, "kty"));
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *n = json_string_value(json_object_get(k, "n"));
		const char *e = json_string_value(json_object_get(k, "e"));
		EVP_PKEY *pk;

		if (ra->n_keys == RUNNER_AUTH_MAX_KEYS || !kty || strcmp(kty, "RSA") || !kid || !n || !e ||
		    strlen(kid) >= sizeof(ra->keys[0].kid))
			continue;
		pk = rsa_from_jwk(n, e);
		if (!pk)
			continue;
		snprintf(ra->keys[ra->n_keys].kid, sizeof(ra->keys[0].kid), "%s", kid);
		ra->keys[ra->n_keys++].pkey = pk;
	}
	json_decref(jwks);
	if (!ra->n_keys) {
		snprintf(err, errlen, "runner JWKS %s holds no RSA key of 2048 bits or more with a kid", jwks_file);
		runner_auth_free(ra);
		return NULL;
	}
	return ra;
}

void runner_auth_free(struct runner_auth *ra)
{
	if (!ra)
		return;
	for (size_t i = 0; i < ra->n_keys; i++)
		EVP_PKEY_free(ra->keys[i].pkey);
	free(ra->used);
	free(ra->issuer);
	free(ra);
}

int runner_auth_is_jwt(const char *c)
{
	const char *d1 = strchr(c, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

	return d1 && d2 && !strchr(d2 + 1, '.');
}

static int aud_ok(json_t *aud)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return !strcmp(json_string_value(aud), RUNNER_AUTH_AUDIENCE);
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), RUNNER_AUTH_AUDIENCE))
			return 1;
	return 0;
}

#define FAIL(...) do { snprintf(reason, reasonlen, __VA_ARGS__); goto out; } while (0)

int runner_auth_verify(struct runner_auth *ra, const char *token, int64_t now_s, char *pod_uid,
		       size_t pod_uid_len, char *reason, size_t reasonlen)
{
	const char *d1, *d2;
	uint8_t *hdr_raw = NULL, *pl_raw = NULL, *sig = NULL;
	size_t hl, pl, sl;
	json_t *hdr = NULL, *claims = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *key = NULL;
	const char *alg, *kid, *uid;
	int r = RW_EAUTH;

	if (strlen(token) > RUNNER_AUTH_MAX_TOKEN || !runner_auth_is_jwt(token))
		FAIL("runner token is not a JWT");
	d1 = strchr(token, '.');
	d2 = strchr(d1 + 1, '.');
	hdr_raw = b64url(token, (size_t)(d1 - token), &hl);
	hdr = hdr_raw ? json_loadb((const char *)hdr_raw, hl, JSON_REJECT_DUPLICATES, NULL) : NULL;
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	/* the algorithm is ours to choose, not the token's */
	if (!alg || strcmp(alg, "RS256"))
		FAIL("runner token alg must be RS256");
	for (size_t i = 0; kid && i < ra->n_keys; i++)
		if (!strcmp(ra->keys[i].kid, kid))
			key = ra->keys[i].pkey;
	if (!key)
		FAIL("runner token kid is not in the cluster's JWKS");
	sig = b64url(d2 + 1, strlen(d2 + 1), &sl);
	md = EVP_MD_CTX_new();
	if (!sig || !md || (int)sl != EVP_PKEY_get_size(key) ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) <= 0 ||
	    EVP_DigestVerify(md, sig, sl, (const uint8_t *)token, (size_t)(d2 - token)) != 1)
		FAIL("runner token signature is bad");
	pl_raw = b64url(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
	claims = pl_raw ? json_loadb((const char *)pl_raw, pl, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(claims))
		FAIL("runner token payload is not a JSON object");
	if (!json_is_string(json_object_get(claims, "iss")) ||
	    strcmp(json_string_value(json_object_get(claims, "iss")), ra->issuer))
		FAIL("runner token has the wrong issuer");
	if (!aud_ok(json_object_get(claims, "aud")))
		FAIL("runner token audience is not \"%s\"", RUNNER_AUTH_AUDIENCE);
	if (!json_is_integer(json_object_get(claims, "exp")) ||
	    json_integer_value(json_object_get(claims, "exp")) + RUNNER_AUTH_SKEW_S <= now_s)
		FAIL("runner token expired");
	if (json_is_integer(json_object_get(claims, "nbf")) &&
	    json_integer_value(json_object_get(claims, "nbf")) > now_s + RUNNER_AUTH_SKEW_S)
		FAIL("runner token not valid yet");
	uid = json_string_value(json_object_get(json_object_get(json_object_get(claims, "kubernetes.io"), "pod"), "uid"));
	if (!uid || !*uid || strlen(uid) >= sizeof(ra->used[0]) || strlen(uid) >= pod_uid_len)
		FAIL("runner token names no pod");
	snprintf(pod_uid, pod_uid_len, "%s", uid);
	r = RW_OK;
out:
	EVP_MD_CTX_free(md);
	json_decref(hdr);
	json_decref(claims);
	free(hdr_raw);
	free(pl_raw);
	free(sig);
	return r;
}

int runner_auth_claim(struct runner_auth *ra, const char *token, int64_t now_s, char *pod_uid,
		      size_t pod_uid_len, char *reason, size_t reasonlen)
{
	int r = runner_auth_verify(ra, token, now_s, pod_uid, pod_uid_len, reason, reasonlen);

	if (r)
		return r;
	for (size_t i = 0; i < ra->n_used; i++)
		if (!strcmp(ra->used[i], pod_uid)) {
			snprintf(reason, reasonlen, "pod already claimed");
			return RW_EAUTH;
		}
	snprintf(ra->used[ra->next_used], sizeof(ra->used[0]), "%s", pod_uid);
	ra->next_used = (ra->next_used + 1) % RUNNER_AUTH_MAX_USED;
	if (ra->n_used < RUNNER_AUTH_MAX_USED)
		ra->n_used++;
	return RW_OK;
}
