/* session_token.c: the seed's session JWTs (DESIGN.md: session auth).
 *
 * HS256 with a secret, or ES256/RS256 with a key pair named by `kid` (two keys accepted during
 * a rollover: the current one signs, the previous one only verifies). 10 minutes, `sub` = user, `sid` = session, `jti` good for one connection, `role`
 * writer or viewer. libjwt 1.10 verifies with whatever algorithm a token's header names and
 * checks no claims, so the header is read and its `alg` checked before libjwt sees the key,
 * and every claim is checked here.
 *
 * With --session-signer kms:KEY_VERSION the private key never leaves Cloud KMS: tokens are
 * RS256 with the key version's resource name as kid, their signing input is built here and
 * its SHA-256 signed by kms_signer.c on its worker thread (token_mint_async; the loop gets
 * the result through token_keys_deliver), and they are verified locally with the key
 * version's public key, which every replica fetches, so any replica verifies any replica's
 * tokens. Only RS256 is accepted for that kid (an HS256 token keyed with the public PEM is
 * refused by key_for_header like any alg mismatch).
 */
#include "control/control.h"
#include "control/kms_signer.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define TOKEN_SECRET_MIN 32
#define TOKEN_SECRET_MAX 4096
#define TOKEN_SKEW_S 60
#define TOKEN_JTI_BYTES 16
#define TOKEN_MAX_KID 64
#define TOKEN_MAX_HEADER_B64 1024   /* encoded header segment; decodes to < 768 bytes */

/* One signing key: an HS256 secret, or an ES256/RS256 key pair named by its kid. */
struct signing_key {
	char kid[KMS_MAX_KEY_NAME + 1];   /* --session-key-id (TOKEN_MAX_KID), or a KMS key version */
	jwt_alg_t alg;
	uint8_t *sign;        /* secret, or private key PEM; NULL for a verify-only key */
	size_t sign_len;
	uint8_t *verify;      /* secret, or public key PEM */
	size_t verify_len;
};

struct token_keys {
	struct signing_key keys[2];   /* [0] signs and verifies, [1] verifies during a rollover */
	size_t n_keys;
	struct kms_signer *kms;       /* keys[0] is the KMS key version's (verify loaded lazily) */
	int kms_stopped;              /* token_keys_stop ran: no more minting */
	void (*wake)(void *);         /* token_keys_set_wake */
	void *wake_arg;
};

/* A token waiting for its KMS signature: the job's arg. */
struct pending_mint {
	char *signing_input;          /* header.payload */
	token_done_fn done;
	void *arg;
};

static void kms_wake(void *arg)
{
	struct token_keys *k = arg;

	if (k->wake)
		k->wake(k->wake_arg);
}

/* --session-signer kms:KEY_VERSION */
static int kms_start(struct token_keys *k, const struct control_config *cfg, char *err, size_t errlen)
{
	const char *name = cfg->session_signer + 4;
	struct signing_key *cur = &k->keys[0];
	char why[KMS_ERR_MAX];

	if (strncmp(cfg->session_signer, "kms:", 4)) {
		snprintf(err, errlen, "--session-signer: want kms:projects/P/locations/L/keyRings/R/"
				      "cryptoKeys/K/cryptoKeyVersions/V (or leave it out for key files)");
		return RW_EINVAL;
	}
	if (cfg->session_secret_file || cfg->session_key_file || cfg->session_previous_key_file) {
		snprintf(err, errlen, "--session-signer kms:... replaces the session secret and key files: use one");
		return RW_EINVAL;
	}
	struct kms_signer_opts o = { .key_version = name, .endpoint = cfg->kms_endpoint,
				     .wake = kms_wake, .wake_arg = k };
	k->kms = kms_signer_new(&o, err, errlen);
	if (!k->kms)
		return RW_EINVAL;
	cur->alg = JWT_ALG_RS256;
	snprintf(cur->kid, sizeof(cur->kid), "%s", name);
	/* Start-up waits for the public key once (a few seconds at most); when KMS cannot be
	 * reached now, control still starts, /readyz says why, and the key is fetched later. */
	if (kms_signer_fetch_public_key(k->kms, why, sizeof(why)))
		log_warn("kms_public_key_unavailable", "{s:s, s:s}", "key", name, "reason", why);
	else
		log_info("session_signer", "{s:s, s:s}", "signer", "kms", "key", name);
	return RW_OK;
}

/* The KMS key's public PEM, once known (the loop owns keys[0]). */
static int kms_load_verify(struct token_keys *k, char *why, size_t whylen)
{
	struct signing_key *cur = &k->keys[0];
	char *pem;
	size_t len;

	if (cur->verify)
		return RW_OK;
	if (kms_signer_public_pem(k->kms, &pem, &len, why, whylen))
		return RW_EAGAIN;
	cur->verify = (uint8_t *)pem;
	cur->verify_len = len;
	return RW_OK;
}

static void key_release(struct signing_key *k)
{
	if (k->sign)
		sodium_memzero(k->sign, k->sign_len);
	if (k->verify != k->sign)
		free(k->verify);
	free(k->sign);
	memset(k, 0, sizeof(*k));
}

static uint8_t *bio_take(BIO *b, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	uint8_t *out = n > 0 ? malloc((size_t)n + 1) : NULL;

	if (out) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
		*len = (size_t)n;
	}
	return out;
}

/* Loads a PEM key pair (or a public key when `public_ok`) and works out its algorithm:
 * EC P-256 -> ES256, RSA of 2048 bits or more -> RS256. */
static int load_pem_key(struct signing_key *k, const char *path, const char *kid, int public_ok,
			char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk = NULL;
	BIO *pub = NULL, *priv = NULL;
	int r = RW_EINVAL;

	if (!f) {
		snprintf(err, errlen, "cannot read session key %s: %s", path, strerror(errno));
		return RW_EIO;
	}
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!pk && public_ok) {
		rewind(f);
		pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!pk) {
		snprintf(err, errlen, "session key %s is not a PEM %skey", path, public_ok ? "" : "private ");
		return RW_EINVAL;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		char group[64] = "";
		size_t gl;
		EVP_PKEY_get_group_name(pk, group, sizeof(group), &gl);
		if (strcmp(group, "prime256v1") && strcmp(group, "P-256")) {
			snprintf(err, errlen, "session key %s: EC keys must be P-256 (ES256)", path);
			goto out;
		}
		k->alg = JWT_ALG_ES256;
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) >= 2048) {
		k->alg = JWT_ALG_RS256;
	} else {
		snprintf(err, errlen, "session key %s: want an EC P-256 or an RSA (2048+) key", path);
		goto out;
	}
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	pub = BIO_new(BIO_s_mem());
	if (!pub || !PEM_write_bio_PUBKEY(pub, pk) || !(k->verify = bio_take(pub, &k->verify_len)))
		goto out;
	priv = BIO_new(BIO_s_mem());
	if (priv && PEM_write_bio_PrivateKey(priv, pk, NULL, NULL, 0, NULL, NULL))
		k->sign = bio_take(priv, &k->sign_len);
	r = RW_OK;
out:
	BIO_free(pub);
	BIO_free_all(priv);
	EVP_PKEY_free(pk);
	return r;
}

struct token_keys *token_keys_new(const struct control_config *cfg, char *err, size_t errlen)
{
	struct token_keys *k = calloc(1, sizeof(*k));
	struct signing_key *cur;

	if (!k)
		return NULL;
	cur = &k->keys[0];
	k->n_keys = 1;
	if (cfg->session_signer) {
		if (kms_start(k, cfg, err, errlen))
			goto fail;
		return k;
	}
	if (cfg->session_key_file) {
		if (cfg->session_secret_file) {
			snprintf(err, errlen, "use a session secret or a session key pair, not both");
			goto fail;
		}
		if (!cfg->session_key_id || strlen(cfg->session_key_id) > TOKEN_MAX_KID) {
			snprintf(err, errlen, "--session-key-file needs --session-key-id (at most %d characters)", TOKEN_MAX_KID);
			goto fail;
		}
		if (load_pem_key(cur, cfg->session_key_file, cfg->session_key_id, 0, err, errlen))
			goto fail;
	} else if (cfg->session_secret_file) {
		size_t len;
		char *s = rw_read_file(cfg->session_secret_file, TOKEN_SECRET_MAX, &len);
		if (!s) {
			snprintf(err, errlen, "cannot read session secret %s: %s", cfg->session_secret_file,
				 strerror(errno));
			goto fail;
		}
		if (len < TOKEN_SECRET_MIN) {
			snprintf(err, errlen, "session secret %s is %zu bytes; at least %d are needed",
				 cfg->session_secret_file, len, TOKEN_SECRET_MIN);
			sodium_memzero(s, len);
			free(s);
			goto fail;
		}
		cur->sign = cur->verify = (uint8_t *)s;
		cur->sign_len = cur->verify_len = len;
	} else {
		cur->sign_len = cur->verify_len = 32;
		cur->sign = cur->verify = malloc(32);
		if (!cur->sign)
			goto fail;
		randombytes_buf(cur->sign, 32);
	}
	if (cur->alg != JWT_ALG_ES256 && cur->alg != JWT_ALG_RS256) {
		cur->alg = JWT_ALG_HS256;
		snprintf(cur->kid, sizeof(cur->kid), "hs256");
	}
	if (cfg->session_previous_key_file) {
		if (!cfg->session_key_file || !cfg->session_previous_key_id ||
		    !strcmp(cfg->session_previous_key_id, cur->kid)) {
			snprintf(err, errlen, "--session-previous-key-file needs --session-key-file and its own "
					      "--session-previous-key-id");
			goto fail;
		}
		if (load_pem_key(&k->keys[1], cfg->session_previous_key_file, cfg->session_previous_key_id,
				 1, err, errlen))
			goto fail;
		/* the previous key only verifies: tokens it signed live out their 10 minutes */
		if (k->keys[1].sign) {
			sodium_memzero(k->keys[1].sign, k->keys[1].sign_len);
			free(k->keys[1].sign);
			k->keys[1].sign = NULL;
		}
		k->n_keys = 2;
	}
	return k;
fail:
	token_keys_free(k);
	return NULL;
}

static void release_mint(struct pending_mint *m)
{
	free(m->signing_input);
	free(m);
}

void token_keys_stop(struct token_keys *k)
{
	struct kms_job *left;

	if (!k || !k->kms)
		return;
	kms_signer_free(k->kms, &left);
	k->kms = NULL;
	k->kms_stopped = 1;
	for (struct kms_job *j = left, *next; j; j = next) {
		struct pending_mint *m = j->arg;
		next = j->next;
		m->done(m->arg, NULL, "control is stopping");
		release_mint(m);
		free(j);
	}
}

void token_keys_free(struct token_keys *k)
{
	if (!k)
		return;
	token_keys_stop(k);
	for (size_t i = 0; i < RW_ARRAY_LEN(k->keys); i++)
		key_release(&k->keys[i]);
	free(k);
}

void token_keys_set_wake(struct token_keys *k, void (*wake)(void *), void *arg)
{
	k->wake = wake;
	k->wake_arg = arg;
}

int token_keys_async(const struct token_keys *k)
{
	return k->kms != NULL || k->kms_stopped;
}

int token_keys_ready(struct token_keys *k, char *reason, size_t reasonlen)
{
	char why[KMS_ERR_MAX];

	if (!k->kms || !kms_load_verify(k, why, sizeof(why)))
		return RW_OK;
	snprintf(reason, reasonlen, "session signing key not loaded from Cloud KMS: %s", why);
	return RW_EAGAIN;
}

static char *b64url_json(json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL, *out = NULL;
	size_t n;

	json_decref(j);
	if (!text)
		return NULL;
	n = sodium_base64_ENCODED_LEN(strlen(text), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out = malloc(n);
	if (out)
		sodium_bin2base64(out, n, (const unsigned char *)text, strlen(text),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	free(text);
	return out;
}

int token_mint_async(struct token_keys *k, const char *sub, const char *sid, enum token_role role,
		     token_done_fn done, void *arg)
{
	char jti[2 * TOKEN_JTI_BYTES + 1], *hdr, *body;
	uint8_t digest[32];
	int64_t now = rw_now_ms() / 1000;
	struct pending_mint *m;
	size_t n;
	int r;

	if (!k->kms)
		return RW_ESTATE;  /* stopping */
	rw_random_hex(jti, TOKEN_JTI_BYTES);
	hdr = b64url_json(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", k->keys[0].kid));
	body = b64url_json(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "sub", sub, "sid", sid, "jti", jti,
				     "role", role == TOKEN_ROLE_VIEWER ? "viewer" : "writer",
				     "iat", (json_int_t)now, "exp", (json_int_t)(now + TOKEN_TTL_S)));
	m = calloc(1, sizeof(*m));
	if (!hdr || !body || !m) {
		free(hdr);
		free(body);
		free(m);
		return RW_ENOMEM;
	}
	n = strlen(hdr) + strlen(body) + 2;
	m->signing_input = malloc(n);
	if (m->signing_input)
		snprintf(m->signing_input, n, "%s.%s", hdr, body);
	free(hdr);
	free(body);
	if (!m->signing_input) {
		free(m);
		return RW_ENOMEM;
	}
	m->done = done;
	m->arg = arg;
	crypto_hash_sha256(digest, (const unsigned char *)m->signing_input, strlen(m->signing_input));
	r = kms_signer_submit(k->kms, digest, m);
	if (r)
		release_mint(m);
	return r;
}

void token_keys_deliver(struct token_keys *k)
{
	struct kms_job *j = k->kms ? kms_signer_take_done(k->kms) : NULL;

	for (struct kms_job *next; j; j = next) {
		struct pending_mint *m = j->arg;
		char *token = NULL;

		next = j->next;
		if (j->status == RW_OK) {
			size_t in = strlen(m->signing_input);
			size_t n = in + 1 + sodium_base64_ENCODED_LEN(j->sig_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			token = malloc(n);
			if (token) {
				memcpy(token, m->signing_input, in);
				token[in] = '.';
				sodium_bin2base64(token + in + 1, n - in - 1, j->sig, j->sig_len,
						  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			}
		}
		m->done(m->arg, token, token ? NULL : j->status ? j->err : "out of memory");
		free(token);
		release_mint(m);
		free(j);
	}
}

char *token_mint(struct token_keys *k, const char *sub, const char *sid, enum token_role role)
{
	struct signing_key *key = &k->keys[0];

	if (k->kms || k->kms_stopped)
		return NULL;  /* token_mint_async */
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
	    jwt_set_alg(jwt, key->alg, key->sign, (int)key->sign_len) ||
	    jwt_add_header(jwt, "kid", key->kid))
		goto out;
	out = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	return out;
}

/* Reads the header segment and picks the key its kid names, provided the header's alg is
 * exactly that key's: libjwt would otherwise verify with whatever the token names. A token
 * without a kid is matched only against an HS256 key. NULL when nothing matches. */
static const struct signing_key *key_for_header(struct token_keys *k, const char *token)
{
	const char *dot = strchr(token, '.');
	unsigned char hdr[TOKEN_MAX_HEADER_B64];
	const struct signing_key *found = NULL;
	const char *alg, *kid;
	size_t hlen;
	json_t *h;

	if (!dot || (size_t)(dot - token) > TOKEN_MAX_HEADER_B64)
		return NULL;
	if (sodium_base642bin(hdr, sizeof(hdr) - 1, token, (size_t)(dot - token), NULL, &hlen, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return NULL;
	h = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, NULL);
	alg = json_string_value(json_object_get(h, "alg"));
	kid = json_string_value(json_object_get(h, "kid"));
	for (size_t i = 0; alg && i < k->n_keys; i++) {
		const struct signing_key *key = &k->keys[i];
		if (kid ? strcmp(kid, key->kid) : key->alg != JWT_ALG_HS256)
			continue;
		if (!strcmp(alg, jwt_alg_str(key->alg)))
			found = key;
		break;
	}
	json_decref(h);
	return found;
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
	const struct signing_key *key;
	const char *role;
	int64_t now = rw_now_ms() / 1000, iat;
	int r = RW_EAUTH;

	memset(out, 0, sizeof(*out));
	if (strlen(token) > TOKEN_MAX_LEN) {
		snprintf(reason, reasonlen, "token longer than %d bytes", TOKEN_MAX_LEN);
		return RW_EAUTH;
	}
	key = key_for_header(k, token);
	if (!key) {
		snprintf(reason, reasonlen, "token is not signed with a current session key");
		return RW_EAUTH;
	}
	if (!key->verify) {
		char why[KMS_ERR_MAX];
		if (!k->kms || kms_load_verify(k, why, sizeof(why))) {
			snprintf(reason, reasonlen, "session signing key not loaded yet (Cloud KMS unreachable)");
			return RW_EAUTH;
		}
	}
	if (jwt_decode(&jwt, token, key->verify, (int)key->verify_len) || !jwt ||
	    jwt_get_alg(jwt) != key->alg) {
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
