/* firebase_auth.c: Firebase ID token verification (see firebase_auth.h). The token is taken
 * apart by hand (three base64url segments, jansson for the JSON) so that every decision,
 * above all which algorithm and which key, is made here and not by a JWT library. */
#include "control/firebase_auth.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>

#define FIREBASE_MAX_HOSTPORT 300 /* bytes of an emulator HOST:PORT */

struct firebase_auth {
	char project[FIREBASE_MAX_PROJECT + 1];
	char issuer[sizeof(FIREBASE_ISSUER_PREFIX) + FIREBASE_MAX_PROJECT];
	int emulator;
	int64_t skew;
	google_certs_clock_fn clock;
	void *clock_arg;
	struct google_certs *certs; /* NULL in emulator mode */
};

/* The token taken apart; the decoded buffers are owned and freed by token_release(). */
struct token_parts {
	const char *signed_part;  /* "header.payload" as received */
	size_t signed_len;
	const char *sig_b64;
	size_t sig_b64_len;
	const char *payload_b64;
	size_t payload_b64_len;
	json_t *header;
	json_t *claims;
	unsigned char *sig;
	size_t sig_len;
};

static int64_t wall_clock(void *arg)
{
	(void)arg;
	return (int64_t)time(NULL);
}

/* Refuses with `rc`, writing the fixed reason. */
static int refuse(int rc, char *reason, size_t reasonlen, const char *why)
{
	return rw_seterr(reason, reasonlen, rc, "%s", why);
}

static int project_id_ok(const char *p)
{
	size_t n = 0;

	if (!p)
		return 0;
	for (; p[n]; n++) {
		char c = p[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == ':' || c == '_'))
			return 0;
		if (n >= FIREBASE_MAX_PROJECT)
			return 0;
	}
	return n > 0;
}

struct firebase_auth *firebase_auth_new(const struct firebase_auth_opts *o, char *err,
					size_t errlen)
{
	struct firebase_auth *fa;

	if (!o || !project_id_ok(o->project_id)) {
		rw_seterr(err, errlen, 0, "firebase project id is missing or not a project id");
		return NULL;
	}
	if (o->skew_s < 0 || o->skew_s > FIREBASE_MAX_SKEW_S) {
		rw_seterr(err, errlen, 0, "clock skew must be within 0..%d s", FIREBASE_MAX_SKEW_S);
		return NULL;
	}
	if (sodium_init() < 0) {
		rw_seterr(err, errlen, 0, "libsodium failed to initialise");
		return NULL;
	}
	fa = calloc(1, sizeof(*fa));
	if (!fa) {
		rw_seterr(err, errlen, 0, "out of memory");
		return NULL;
	}
	snprintf(fa->project, sizeof(fa->project), "%s", o->project_id);
	snprintf(fa->issuer, sizeof(fa->issuer), "%s%s", FIREBASE_ISSUER_PREFIX, o->project_id);
	fa->emulator = o->emulator ? 1 : 0;
	fa->skew = o->skew_s ? o->skew_s : FIREBASE_DEFAULT_SKEW_S;
	fa->clock = o->clock ? o->clock : wall_clock;
	fa->clock_arg = o->clock_arg;
	if (!fa->emulator) {
		struct google_certs_opts co = {
			.url = o->certs_url,
			.ca_file = o->ca_file,
			.clock = fa->clock,
			.clock_arg = fa->clock_arg,
			.no_refresher = o->no_refresher,
		};

		fa->certs = google_certs_new(&co, err, errlen);
		if (!fa->certs) {
			free(fa);
			return NULL;
		}
	}
	return fa;
}

void firebase_auth_free(struct firebase_auth *fa)
{
	if (!fa)
		return;
	google_certs_free(fa->certs);
	free(fa);
}

int firebase_auth_refresh_now(struct firebase_auth *fa)
{
	return fa->certs ? google_certs_refresh_now(fa->certs) : RW_OK;
}

uint64_t firebase_auth_fetch_count(struct firebase_auth *fa)
{
	return fa->certs ? google_certs_fetch_count(fa->certs) : 0;
}

void firebase_auth_last_error(struct firebase_auth *fa, char *buf, size_t len)
{
	if (fa->certs)
		google_certs_last_error(fa->certs, buf, len);
	else if (len)
		buf[0] = '\0';
}

/* Decodes one unpadded base64url segment into a new buffer (strict: libsodium refuses other
 * characters, padding and non-zero trailing bits). */
static int b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	size_t max = len / 4 * 3 + 3;
	unsigned char *buf = malloc(max);

	if (!buf)
		return RW_ENOMEM;
	if (sodium_base642bin(buf, max, s, len, NULL, outlen, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
		free(buf);
		return RW_EINVAL;
	}
	*out = buf;
	return RW_OK;
}

/* Decodes a segment that must hold one JSON object. */
static json_t *decode_json_segment(const char *s, size_t len, int *bad_b64)
{
	unsigned char *raw;
	size_t rawlen;
	json_t *obj;

	*bad_b64 = 0;
	if (len == 0 || b64url_decode(s, len, &raw, &rawlen)) {
		*bad_b64 = 1;
		return NULL;
	}
	obj = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (obj && !json_is_object(obj)) {
		json_decref(obj);
		obj = NULL;
	}
	return obj;
}

static void token_release(struct token_parts *t)
{
	json_decref(t->header);
	json_decref(t->claims);
	free(t->sig);
}

/* Splits the token and decodes its header. Nothing here trusts the token. */
static int token_split(const char *token, struct token_parts *t, char *reason, size_t reasonlen)
{
	const char *dot1, *dot2;
	size_t len;
	int bad_b64;

	if (!token || !*token)
		return refuse(RW_EAUTH, reason, reasonlen, "missing token");
	len = strnlen(token, FIREBASE_MAX_TOKEN + 1);
	if (len > FIREBASE_MAX_TOKEN)
		return refuse(RW_EAUTH, reason, reasonlen, "token too long");
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
		return refuse(RW_EAUTH, reason, reasonlen, "malformed token: not three segments");
	t->signed_part = token;
	t->signed_len = (size_t)(dot2 - token);
	t->payload_b64 = dot1 + 1;
	t->payload_b64_len = (size_t)(dot2 - dot1 - 1);
	t->sig_b64 = dot2 + 1;
	t->sig_b64_len = len - (size_t)(dot2 + 1 - token);

	t->header = decode_json_segment(token, (size_t)(dot1 - token), &bad_b64);
	if (bad_b64)
		return refuse(RW_EAUTH, reason, reasonlen, "malformed token: header is not base64url");
	if (!t->header)
		return refuse(RW_EAUTH, reason, reasonlen,
			      "malformed token: header is not a JSON object");
	return RW_OK;
}

static int decode_claims(struct token_parts *t, char *reason, size_t reasonlen)
{
	int bad_b64;

	t->claims = decode_json_segment(t->payload_b64, t->payload_b64_len, &bad_b64);
	if (bad_b64)
		return refuse(RW_EAUTH, reason, reasonlen, "malformed token: payload is not base64url");
	if (!t->claims)
		return refuse(RW_EAUTH, reason, reasonlen,
			      "malformed token: payload is not a JSON object");
	return RW_OK;
}

/* The header of a signed token: exactly alg RS256, a kid; then the signature. */
static int check_signed(struct firebase_auth *fa, struct token_parts *t, char *reason,
			size_t reasonlen)
{
	const char *alg = json_string_value(json_object_get(t->header, "alg"));
	const char *kid = json_string_value(json_object_get(t->header, "kid"));
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int rc;

	if (!alg)
		return refuse(RW_EAUTH, reason, reasonlen, "missing alg");
	if (!strcmp(alg, "none"))
		return refuse(RW_EAUTH, reason, reasonlen, "unsigned token (alg none) refused");
	if (strcmp(alg, "RS256"))
		return refuse(RW_EAUTH, reason, reasonlen, "alg must be RS256");
	if (json_object_get(t->header, "crit"))
		return refuse(RW_EAUTH, reason, reasonlen, "crit header not supported");
	if (!kid || !*kid || strlen(kid) > GOOGLE_CERTS_MAX_KID)
		return refuse(RW_EAUTH, reason, reasonlen, "missing kid");

	rc = google_certs_get_key(fa->certs, kid, &pkey);
	if (rc == RW_ENOTFOUND)
		return refuse(RW_EAUTH, reason, reasonlen, "unknown kid");
	if (rc)
		return refuse(RW_EAGAIN, reason, reasonlen, "signing certificates not available");

	if (t->sig_b64_len == 0 || b64url_decode(t->sig_b64, t->sig_b64_len, &t->sig, &t->sig_len)) {
		rc = refuse(RW_EAUTH, reason, reasonlen, "malformed token: signature is not base64url");
		goto out;
	}
	if (t->sig_len != (size_t)EVP_PKEY_get_size(pkey)) {
		rc = refuse(RW_EAUTH, reason, reasonlen, "bad signature");
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		rc = refuse(RW_ENOMEM, reason, reasonlen, "signature check could not start");
		goto out;
	}
	if (EVP_DigestVerify(md, t->sig, t->sig_len, (const unsigned char *)t->signed_part,
			     t->signed_len) != 1) {
		rc = refuse(RW_EAUTH, reason, reasonlen, "bad signature");
		goto out;
	}
	rc = RW_OK;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

/* The header of an emulator token: alg none, nothing in the signature segment. */
static int check_unsigned(struct token_parts *t, char *reason, size_t reasonlen)
{
	const char *alg = json_string_value(json_object_get(t->header, "alg"));

	if (!alg || strcmp(alg, "none"))
		return refuse(RW_EAUTH, reason, reasonlen,
			      "emulator mode accepts only unsigned tokens (alg none)");
	if (t->sig_b64_len)
		return refuse(RW_EAUTH, reason, reasonlen, "unsigned token carries a signature");
	return RW_OK;
}

/* Reads an integer claim. 1 when present, 0 when absent, -1 when present but not an integer. */
static int int_claim(json_t *claims, const char *name, json_int_t *v)
{
	json_t *j = json_object_get(claims, name);

	if (!j)
		return 0;
	if (!json_is_integer(j))
		return -1;
	*v = json_integer_value(j);
	return 1;
}

/* Counts UTF-8 code points (jansson hands out valid UTF-8 only); -1 on a control character. */
static long count_uid_chars(const char *s, size_t len)
{
	long n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return -1;
		if ((c & 0xc0) != 0x80)
			n++;
	}
	return n;
}

static int check_claims(struct firebase_auth *fa, json_t *claims, struct firebase_user *out,
			char *reason, size_t reasonlen)
{
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	json_t *sub = json_object_get(claims, "sub");
	json_t *email = json_object_get(claims, "email");
	int64_t now = fa->clock(fa->clock_arg);
	json_int_t exp, iat, auth_time;
	size_t sub_len;
	long sub_chars;
	int have;

	if (!aud || strcmp(aud, fa->project))
		return refuse(RW_EAUTH, reason, reasonlen, "wrong aud");
	if (!iss || strcmp(iss, fa->issuer))
		return refuse(RW_EAUTH, reason, reasonlen, "wrong iss");
	if (!json_is_string(sub))
		return refuse(RW_EAUTH, reason, reasonlen, "missing sub");
	sub_len = json_string_length(sub);
	if (sub_len == 0)
		return refuse(RW_EAUTH, reason, reasonlen, "empty sub");
	sub_chars = count_uid_chars(json_string_value(sub), sub_len);
	if (sub_chars < 0)
		return refuse(RW_EAUTH, reason, reasonlen, "sub has control characters");
	if (sub_chars > FIREBASE_MAX_UID_CHARS || sub_len > FIREBASE_MAX_UID)
		return refuse(RW_EAUTH, reason, reasonlen, "sub longer than 128 characters");

	if (int_claim(claims, "exp", &exp) != 1)
		return refuse(RW_EAUTH, reason, reasonlen, "missing exp");
	if (exp <= now - fa->skew)
		return refuse(RW_EAUTH, reason, reasonlen, "expired");
	if (int_claim(claims, "iat", &iat) != 1)
		return refuse(RW_EAUTH, reason, reasonlen, "missing iat");
	if (iat > now + fa->skew)
		return refuse(RW_EAUTH, reason, reasonlen, "iat in the future");
	have = int_claim(claims, "auth_time", &auth_time);
	if (have < 0)
		return refuse(RW_EAUTH, reason, reasonlen, "auth_time is not a number");
	if (have && auth_time > now + fa->skew)
		return refuse(RW_EAUTH, reason, reasonlen, "auth_time in the future");

	memcpy(out->uid, json_string_value(sub), sub_len + 1);
	if (json_is_string(email) && json_string_length(email) <= FIREBASE_MAX_EMAIL)
		memcpy(out->email, json_string_value(email), json_string_length(email) + 1);
	out->email_verified = json_is_true(json_object_get(claims, "email_verified"));
	return RW_OK;
}

int firebase_auth_verify(struct firebase_auth *fa, const char *id_token, struct firebase_user *out,
			 char *reason, size_t reasonlen)
{
	struct token_parts t = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rw_seterr(reason, reasonlen, 0, "%s", "");
	rc = token_split(id_token, &t, reason, reasonlen);
	if (!rc)
		rc = fa->emulator ? check_unsigned(&t, reason, reasonlen)
				  : check_signed(fa, &t, reason, reasonlen);
	/* The payload is parsed only once the signature has vouched for it. */
	if (!rc)
		rc = decode_claims(&t, reason, reasonlen);
	if (!rc)
		rc = check_claims(fa, t.claims, out, reason, reasonlen);
	token_release(&t);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int firebase_auth_emulator_host_ok(const char *hostport)
{
	char host[FIREBASE_MAX_HOSTPORT + 1];
	const char *colon, *port;
	size_t hostlen, portlen;
	long portnum = 0;

	if (!hostport || strnlen(hostport, FIREBASE_MAX_HOSTPORT + 1) > FIREBASE_MAX_HOSTPORT)
		return RW_EINVAL;
	if (hostport[0] == '[') {
		const char *close = strchr(hostport, ']');

		if (!close || close[1] != ':')
			return RW_EINVAL;
		colon = close + 1;
	} else {
		colon = strchr(hostport, ':');
		if (!colon || strchr(colon + 1, ':'))
			return RW_EINVAL;
	}
	hostlen = (size_t)(colon - hostport);
	port = colon + 1;
	portlen = strlen(port);
	if (hostlen == 0 || portlen == 0 || portlen > 5)
		return RW_EINVAL;
	for (size_t i = 0; i < portlen; i++) {
		if (port[i] < '0' || port[i] > '9')
			return RW_EINVAL;
		portnum = portnum * 10 + (port[i] - '0');
	}
	if (portnum < 1 || portnum > 65535)
		return RW_EINVAL;
	memcpy(host, hostport, hostlen);
	host[hostlen] = '\0';
	return google_certs_host_is_loopback(host) ? RW_OK : RW_EUNSAFE;
}
