/* runner_auth.c: Kubernetes service-account tokens as one-claim runner credentials
 * (see runner_auth.h). Verification is OpenSSL's EVP_DigestVerify; libjwt is not used here
 * because it would pick the algorithm from the token. */
#include "control/runner_auth.h"
#include "control/google_certs.h"
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

struct runner_auth {
	char *issuer;
	struct google_certs_key *keys;  /* from the file, or NULL */
	size_t n_keys;
	struct google_certs *gc;        /* fetched from the URL and cached, or NULL */
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

#define FAILDOC(rc_, ...) do { snprintf(err, errlen, __VA_ARGS__); rc = (rc_); goto out; } while (0)

int runner_auth_parse_jwks(const char *buf, size_t len, struct google_certs_key **keys_out,
			   size_t *n_out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr), *arr, *k;
	struct google_certs_key *keys = NULL;
	size_t n = 0, i;
	int rc = RW_OK;

	arr = json_object_get(doc, "keys");
	if (!json_is_object(doc))
		FAILDOC(RW_EPROTO, "JWKS is not a JSON object%s%s", doc ? "" : ": ", doc ? "" : jerr.text);
	if (!json_is_array(arr))
		FAILDOC(RW_EPROTO, "JWKS has no \"keys\" array");
	if (json_array_size(arr) > RUNNER_AUTH_MAX_KEYS)
		FAILDOC(RW_ETOOBIG, "JWKS has more than %d keys", RUNNER_AUTH_MAX_KEYS);
	keys = calloc(json_array_size(arr) + 1, sizeof(*keys));
	if (!keys)
		FAILDOC(RW_ENOMEM, "out of memory");
	json_array_foreach(arr, i, k) {
		const char *kty = json_string_value(json_object_get(k, "kty"));
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *nn = json_string_value(json_object_get(k, "n"));
		const char *e = json_string_value(json_object_get(k, "e"));
		const char *use = json_string_value(json_object_get(k, "use"));

		if (!json_is_object(k) || !kty)
			FAILDOC(RW_EPROTO, "JWKS key %zu has no \"kty\"", i);
		/* a cluster may publish EC keys too: runners' tokens are checked as RS256 only */
		if (strcmp(kty, "RSA") || (use && strcmp(use, "sig")))
			continue;
		if (!kid || !*kid || strlen(kid) > GOOGLE_CERTS_MAX_KID)
			FAILDOC(RW_EPROTO, "JWKS RSA key %zu has no \"kid\" (or one over %d bytes)", i,
				GOOGLE_CERTS_MAX_KID);
		if (!nn || !e)
			FAILDOC(RW_EPROTO, "JWKS RSA key \"%s\" lacks \"n\" or \"e\"", kid);
		keys[n].pkey = rsa_from_jwk(nn, e);
		if (!keys[n].pkey)
			FAILDOC(RW_EUNSAFE, "JWKS RSA key \"%s\" is malformed or under 2048 bits", kid);
		snprintf(keys[n].kid, sizeof(keys[n].kid), "%s", kid);
		n++;
	}
	if (!n)
		FAILDOC(RW_EPROTO, "JWKS holds no RSA signing key");
	*keys_out = keys;
	*n_out = n;
	keys = NULL;
out:
	if (keys)
		google_certs_free_keys(keys, n);
	json_decref(doc);
	return rc;
}

struct runner_auth *runner_auth_new(const struct runner_auth_opts *o, char *err, size_t errlen)
{
	struct runner_auth *ra = calloc(1, sizeof(*ra));
	char msg[256];

	if (!ra)
		return NULL;
	ra->issuer = strdup(o->issuer);
	ra->used = calloc(RUNNER_AUTH_MAX_USED, sizeof(*ra->used));
	if (!ra->issuer || !ra->used) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (o->jwks_file) {
		size_t len = 0;
		char *doc = rw_read_file(o->jwks_file, RUNNER_AUTH_MAX_JWKS, &len);

		if (!doc) {
			snprintf(err, errlen, "runner JWKS %s: %s", o->jwks_file, strerror(errno));
			goto fail;
		}
		if (runner_auth_parse_jwks(doc, len, &ra->keys, &ra->n_keys, msg, sizeof(msg))) {
			snprintf(err, errlen, "runner JWKS %s: %s", o->jwks_file, msg);
			free(doc);
			goto fail;
		}
		free(doc);
		return ra;
	}
	struct google_certs_opts go = {
		.url = o->jwks_url,
		.ca_file = o->ca_file,
		.parse = runner_auth_parse_jwks,
		.what = "JWKS",
		.log_name = "runner_jwks",
		.kid_refetch_s = o->kid_refetch_s,
	};
	ra->gc = google_certs_new(&go, msg, sizeof(msg));
	if (!ra->gc) {
		snprintf(err, errlen, "--runner-jwks-url %s: %s", o->jwks_url, msg);
		goto fail;
	}
	return ra;
fail:
	runner_auth_free(ra);
	return NULL;
}

int runner_auth_refresh_now(struct runner_auth *ra)
{
	return ra->gc ? google_certs_refresh_now(ra->gc) : RW_OK;
}

void runner_auth_free(struct runner_auth *ra)
{
	if (!ra)
		return;
	google_certs_free_keys(ra->keys, ra->n_keys);
	google_certs_free(ra->gc);
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

/* The key for `kid`: a new reference, or NULL with `reason` set and *rc RW_EAGAIN when a
 * fetched set may still learn it (the refresher was poked, rate limited) or RW_EAUTH. */
static EVP_PKEY *key_for(struct runner_auth *ra, const char *kid, int *rc, char *reason,
			 size_t reasonlen)
{
	EVP_PKEY *key = NULL;

	*rc = RW_EAUTH;
	if (ra->gc) {
		switch (google_certs_get_key(ra->gc, kid, &key)) {
		case RW_OK:
			return key;
		case RW_ENOTFOUND:
			*rc = RW_EAGAIN;
			snprintf(reason, reasonlen, "runner token kid is not in the cluster's JWKS "
				 "(a refetch is asked; retry)");
			return NULL;
		default:
			*rc = RW_EAGAIN;
			snprintf(reason, reasonlen, "the cluster's JWKS is not available yet; retry");
			return NULL;
		}
	}
	for (size_t i = 0; i < ra->n_keys; i++)
		if (!strcmp(ra->keys[i].kid, kid)) {
			EVP_PKEY_up_ref(ra->keys[i].pkey);
			return ra->keys[i].pkey;
		}
	snprintf(reason, reasonlen, "runner token kid is not in the cluster's JWKS");
	return NULL;
}

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
	if (!kid || strlen(kid) > GOOGLE_CERTS_MAX_KID)
		FAIL("runner token has no kid");
	key = key_for(ra, kid, &r, reason, reasonlen);
	if (!key)
		goto out;
	r = RW_EAUTH;
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
	EVP_PKEY_free(key);
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

void runner_auth_release(struct runner_auth *ra, const char *pod_uid)
{
	/* the slot is emptied in place: the ring's order only decides which claim is forgotten
	 * first when it is full, and an empty slot matches no pod */
	for (size_t i = 0; i < ra->n_used; i++)
		if (!strcmp(ra->used[i], pod_uid))
			ra->used[i][0] = '\0';
}
