/* kms_signer.c: Cloud KMS asymmetricSign on a worker thread (see kms_signer.h). */
#include "control/kms_signer.h"
#include "control/google_certs.h"
#include "common/rw.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

struct kms_signer {
	char *key_version;
	char *endpoint;                 /* without a trailing slash */
	char *metadata_url;
	void (*wake)(void *);
	void *wake_arg;

	pthread_mutex_t lock;           /* guards the queue, the done list, pem, err, counters */
	pthread_cond_t cond;            /* a job or a public-key request arrived, or stopping */
	pthread_t thread;
	int have_thread;
	atomic_int stopping;            /* also read by curl's progress callback */
	struct kms_job *queue, *queue_tail, *done, *done_tail;
	size_t queued;
	int want_pem;                   /* the loop asked for the public key */
	int64_t pem_tried_at;           /* monotonic seconds of the last public-key fetch */
	char *pem;                      /* the public key, once fetched; never changes after */
	size_t pem_len;
	char pem_err[KMS_ERR_MAX];
	uint64_t n_tokens, n_signs;

	/* the worker's own (and kms_signer_fetch_public_key's, before the worker signs) */
	pthread_mutex_t call_lock;      /* calls never overlap */
	CURL *curl;
	EVP_PKEY *pkey;                 /* parsed public key, to check signatures */
	char *access_token;             /* wiped when dropped */
	int64_t token_refresh_at;       /* monotonic seconds */
};

struct body {
	char *buf;
	size_t len;
	int too_big;
};

static int64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

uint32_t kms_crc32c(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

int kms_key_version_ok(const char *name, char *err, size_t errlen)
{
	static const char *const coll[] = { "projects", "locations", "keyRings", "cryptoKeys",
					    "cryptoKeyVersions" };
	const char *p = name;

	if (!name || strlen(name) > KMS_MAX_KEY_NAME) {
		rw_seterr(err, errlen, 0, "a KMS key version name has at most %d characters", KMS_MAX_KEY_NAME);
		return RW_EINVAL;
	}
	for (size_t i = 0; i < RW_ARRAY_LEN(coll); i++) {
		size_t n = strlen(coll[i]), id = 0;
		if (strncmp(p, coll[i], n) || p[n] != '/')
			goto bad;
		p += n + 1;
		while (isalnum((unsigned char)p[id]) || p[id] == '-' || p[id] == '_')
			id++;
		if (!id || (p[id] != '/' && i + 1 < RW_ARRAY_LEN(coll)) || (p[id] && i + 1 == RW_ARRAY_LEN(coll)))
			goto bad;
		p += id + (p[id] == '/');
	}
	return RW_OK;
bad:
	rw_seterr(err, errlen, 0, "want a KMS key version: projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V");
	return RW_EINVAL;
}

/* The metadata host: a name or address with an optional port, nothing else (it becomes part
 * of a URL). */
static int host_ok(const char *h)
{
	if (!*h || strlen(h) > 255)
		return 0;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-:[]", *h))
			return 0;
	return 1;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;
	char *nb;

	if (b->len + len > KMS_MAX_RESPONSE) {
		b->too_big = 1;
		return 0;
	}
	nb = realloc(b->buf, b->len + len + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, data, len);
	b->buf = nb;
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct kms_signer *ks = arg;
	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&ks->stopping);
}

/* One HTTP call. `auth` is an "Authorization: Bearer ..." header or NULL; `post` a JSON body
 * or NULL for GET. Sets *status and fills `b`. RW_OK when a response came (any status). */
static int http_call(struct kms_signer *ks, const char *url, const char *auth, const char *extra,
		     const char *post, long *status, struct body *b, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	CURLcode rc;

	if (!ks->curl && !(ks->curl = curl_easy_init())) {
		rw_seterr(err, errlen, 0, "out of memory");
		return RW_ENOMEM;
	}
	CURL *h = ks->curl;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)KMS_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)KMS_REQUEST_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "runwire-control");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, ks);
	/* the metadata server is plain http by design; nothing here may go through a proxy */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (auth)
		hdrs = curl_slist_append(hdrs, auth);
	if (extra)
		hdrs = curl_slist_append(hdrs, extra);
	if (post) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		rw_seterr(err, errlen, 0, "%s", b->too_big ? "response larger than 64 KiB"
				   : *curl_err ? curl_err : curl_easy_strerror(rc));
		return rc == CURLE_OPERATION_TIMEDOUT ? RW_ETIMEDOUT : RW_EIO;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return RW_OK;
}

/* Google's error body {"error":{"message":...}}, shortened, for a message; "" otherwise. */
static void google_error(const struct body *b, char *out, size_t len)
{
	json_t *j = b->buf ? json_loadb(b->buf, b->len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

	rw_seterr(out, len, 0, m ? ": %.120s" : "", m);
	json_decref(j);
}

static void drop_token(struct kms_signer *ks)
{
	if (ks->access_token) {
		sodium_memzero(ks->access_token, strlen(ks->access_token));
		free(ks->access_token);
	}
	ks->access_token = NULL;
	ks->token_refresh_at = 0;
}

/* Makes sure an access token is held (call_lock held). */
static int ensure_token(struct kms_signer *ks, char *err, size_t errlen)
{
	struct body b = { 0 };
	long status = 0;
	json_t *j = NULL;
	const char *tok, *type;
	json_int_t ttl;
	int r;

	if (ks->access_token && mono_s() < ks->token_refresh_at)
		return RW_OK;
	drop_token(ks);
	r = http_call(ks, ks->metadata_url, NULL, "Metadata-Flavor: Google", NULL, &status, &b, err, errlen);
	pthread_mutex_lock(&ks->lock);
	ks->n_tokens++;
	pthread_mutex_unlock(&ks->lock);
	if (r) {
		char m[KMS_ERR_MAX];
		rw_seterr(m, sizeof(m), 0, "%s", err);
		rw_seterr(err, errlen, 0, "metadata server unreachable (%s)", m);
		goto out;
	}
	r = RW_EPROTO;
	if (status != 200) {
		rw_seterr(err, errlen, 0, "metadata server answered HTTP %ld for an access token", status);
		goto out;
	}
	j = json_loadb(b.buf ? b.buf : "", b.len, 0, NULL);
	tok = json_string_value(json_object_get(j, "access_token"));
	type = json_string_value(json_object_get(j, "token_type"));
	ttl = json_integer_value(json_object_get(j, "expires_in"));
	if (!tok || !*tok || strlen(tok) > KMS_MAX_ACCESS_TOKEN || strcspn(tok, "\r\n ") != strlen(tok) ||
	    !type || strcasecmp(type, "Bearer") || !json_is_integer(json_object_get(j, "expires_in")) ||
	    ttl <= 0) {
		rw_seterr(err, errlen, 0, "metadata server's token response lacks access_token, a Bearer "
				     "token_type or a positive expires_in");
		goto out;
	}
	ks->access_token = strdup(tok);
	if (!ks->access_token) {
		r = RW_ENOMEM;
		goto out;
	}
	/* refresh a little early, but never later than half way through a short life */
	ks->token_refresh_at = mono_s() + (ttl > 2 * KMS_TOKEN_LEAD_S ? ttl - KMS_TOKEN_LEAD_S : ttl / 2);
	r = RW_OK;
out:
	if (j) {
		/* the parsed copy of the token goes too */
		const char *t = json_string_value(json_object_get(j, "access_token"));
		if (t)
			sodium_memzero((char *)t, strlen(t));
		json_decref(j);
	}
	if (b.buf)
		sodium_memzero(b.buf, b.len);
	free(b.buf);
	return r;
}

/* An authorised call to KMS: one retry with a new access token when KMS answers 401. */
static int kms_call(struct kms_signer *ks, const char *url, const char *post, long *status,
		    struct body *b, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		char auth[KMS_MAX_ACCESS_TOKEN + 32];
		int r = ensure_token(ks, err, errlen);
		if (r)
			return r;
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ks->access_token);
		r = http_call(ks, url, auth, NULL, post, status, b, err, errlen);
		sodium_memzero(auth, sizeof(auth));
		if (r) {
			char m[KMS_ERR_MAX];
			rw_seterr(m, sizeof(m), 0, "%s", err);
			rw_seterr(err, errlen, 0, "Cloud KMS unreachable (%s)", m);
			return r;
		}
		if (*status != 401 || attempt)
			return RW_OK;
		drop_token(ks);
		free(b->buf);
		memset(b, 0, sizeof(*b));
	}
}

static int parse_crc(json_t *v, uint32_t *out)
{
	const char *s = json_string_value(v);
	char *end;
	unsigned long long n;

	/* Int64Value travels as a decimal string; accept a number too */
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 0xffffffffLL) {
		*out = (uint32_t)json_integer_value(v);
		return 0;
	}
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end || n > 0xffffffffULL)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* Fetches and checks the public key (call_lock held). */
static int fetch_pem(struct kms_signer *ks, char *err, size_t errlen)
{
	char url[KMS_MAX_KEY_NAME + 512];
	struct body b = { 0 };
	long status = 0;
	json_t *j = NULL;
	const char *pem, *alg, *name;
	uint32_t crc;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	int r;

	snprintf(url, sizeof(url), "%s/v1/%s/publicKey", ks->endpoint, ks->key_version);
	r = kms_call(ks, url, NULL, &status, &b, err, errlen);
	if (r)
		goto out;
	r = RW_EPROTO;
	if (status != 200) {
		char g[160];
		google_error(&b, g, sizeof(g));
		rw_seterr(err, errlen, 0, "Cloud KMS answered HTTP %ld for the public key%s", status, g);
		goto out;
	}
	j = json_loadb(b.buf ? b.buf : "", b.len, 0, NULL);
	pem = json_string_value(json_object_get(j, "pem"));
	alg = json_string_value(json_object_get(j, "algorithm"));
	name = json_string_value(json_object_get(j, "name"));
	if (!pem || !alg || parse_crc(json_object_get(j, "pemCrc32c"), &crc)) {
		rw_seterr(err, errlen, 0, "Cloud KMS public key response lacks pem, algorithm or pemCrc32c");
		goto out;
	}
	if (name && strcmp(name, ks->key_version)) {
		rw_seterr(err, errlen, 0, "Cloud KMS answered for another key version");
		goto out;
	}
	if (kms_crc32c(pem, strlen(pem)) != crc) {
		rw_seterr(err, errlen, 0, "Cloud KMS public key failed its CRC32C check");
		goto out;
	}
	if (strcmp(alg, "RSA_SIGN_PKCS1_2048_SHA256") && strcmp(alg, "RSA_SIGN_PKCS1_3072_SHA256") &&
	    strcmp(alg, "RSA_SIGN_PKCS1_4096_SHA256")) {
		rw_seterr(err, errlen, 0, "KMS key algorithm %.64s is not RS256 (want RSA_SIGN_PKCS1_2048_SHA256)", alg);
		r = RW_EUNSAFE;
		goto out;
	}
	bio = BIO_new_mem_buf(pem, -1);
	pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pk) < 2048) {
		rw_seterr(err, errlen, 0, "Cloud KMS public key is not an RSA key of 2048 bits or more");
		goto out;
	}
	pthread_mutex_lock(&ks->lock);
	if (!ks->pem) {
		ks->pem = strdup(pem);
		ks->pem_len = strlen(pem);
	}
	ks->pem_err[0] = '\0';
	pthread_mutex_unlock(&ks->lock);
	EVP_PKEY_free(ks->pkey);
	ks->pkey = pk;
	pk = NULL;
	r = ks->pem ? RW_OK : RW_ENOMEM;
out:
	if (r) {
		pthread_mutex_lock(&ks->lock);
		rw_seterr(ks->pem_err, sizeof(ks->pem_err), 0, "%s", err);
		pthread_mutex_unlock(&ks->lock);
	}
	BIO_free(bio);
	EVP_PKEY_free(pk);
	json_decref(j);
	free(b.buf);
	return r;
}

static int verify_sig(EVP_PKEY *pk, const uint8_t digest[32], const uint8_t *sig, size_t len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	int ok = c && EVP_PKEY_verify_init(c) > 0 &&
		 EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		 EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0 &&
		 EVP_PKEY_verify(c, sig, len, digest, 32) == 1;

	EVP_PKEY_CTX_free(c);
	return ok;
}

/* Signs one digest (call_lock held). */
static void sign_job(struct kms_signer *ks, struct kms_job *job)
{
	char url[KMS_MAX_KEY_NAME + 512], b64[64], *req = NULL;
	struct body b = { 0 };
	long status = 0;
	json_t *j = NULL, *sigv;
	const char *sig, *name;
	uint32_t crc;
	size_t slen;
	int r;

	if (!ks->pkey && (r = fetch_pem(ks, job->err, sizeof(job->err))))
		goto out;
	sodium_bin2base64(b64, sizeof(b64), job->digest, 32, sodium_base64_VARIANT_ORIGINAL);
	{
		char crcs[16];
		snprintf(crcs, sizeof(crcs), "%u", kms_crc32c(job->digest, 32));
		j = json_pack("{s:{s:s}, s:s}", "digest", "sha256", b64, "digestCrc32c", crcs);
	}
	req = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	j = NULL;
	r = RW_ENOMEM;
	if (!req)
		goto out;
	snprintf(url, sizeof(url), "%s/v1/%s:asymmetricSign", ks->endpoint, ks->key_version);
	pthread_mutex_lock(&ks->lock);
	ks->n_signs++;
	pthread_mutex_unlock(&ks->lock);
	r = kms_call(ks, url, req, &status, &b, job->err, sizeof(job->err));
	if (r)
		goto out;
	r = RW_EPROTO;
	if (status != 200) {
		char g[160];
		google_error(&b, g, sizeof(g));
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS answered HTTP %ld to asymmetricSign%s", status, g);
		r = RW_EIO;
		goto out;
	}
	j = json_loadb(b.buf ? b.buf : "", b.len, 0, NULL);
	sigv = json_object_get(j, "signature");
	sig = json_string_value(sigv);
	name = json_string_value(json_object_get(j, "name"));
	if (!sig || parse_crc(json_object_get(j, "signatureCrc32c"), &crc)) {
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS sign response lacks signature or signatureCrc32c");
		goto out;
	}
	/* Google's integrity checks: the request's digest arrived intact, the right key signed,
	 * and the signature arrived intact */
	if (!json_is_true(json_object_get(j, "verifiedDigestCrc32c"))) {
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS did not verify the digest's CRC32C");
		goto out;
	}
	if (!name || strcmp(name, ks->key_version)) {
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS signed with another key version");
		goto out;
	}
	if (sodium_base642bin(job->sig, sizeof(job->sig), sig, strlen(sig), NULL, &slen, NULL,
			      sodium_base64_VARIANT_ORIGINAL)) {
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS signature is not base64 of at most %d bytes", KMS_MAX_SIG);
		goto out;
	}
	if (kms_crc32c(job->sig, slen) != crc) {
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS signature failed its CRC32C check");
		goto out;
	}
	if (!verify_sig(ks->pkey, job->digest, job->sig, slen)) {
		rw_seterr(job->err, sizeof(job->err), 0, "Cloud KMS signature does not verify with the key version's public key");
		goto out;
	}
	job->sig_len = slen;
	r = RW_OK;
out:
	job->status = r;
	if (r)
		job->sig_len = 0;
	json_decref(j);
	free(req);
	free(b.buf);
}

static void finish(struct kms_signer *ks, struct kms_job *job)
{
	/* lock held */
	job->next = NULL;
	if (ks->done_tail)
		ks->done_tail->next = job;
	else
		ks->done = job;
	ks->done_tail = job;
}

static void *worker(void *arg)
{
	struct kms_signer *ks = arg;

	pthread_mutex_lock(&ks->lock);
	while (!atomic_load(&ks->stopping)) {
		struct kms_job *job = ks->queue;
		int want_pem = ks->want_pem && !ks->pem;

		if (!job && !want_pem) {
			pthread_cond_wait(&ks->cond, &ks->lock);
			continue;
		}
		if (!job) {
			char err[KMS_ERR_MAX];
			ks->want_pem = 0;
			ks->pem_tried_at = mono_s();
			pthread_mutex_unlock(&ks->lock);
			pthread_mutex_lock(&ks->call_lock);
			fetch_pem(ks, err, sizeof(err));
			pthread_mutex_unlock(&ks->call_lock);
			pthread_mutex_lock(&ks->lock);
			continue;
		}
		ks->queue = job->next;
		if (!ks->queue)
			ks->queue_tail = NULL;
		ks->queued--;
		pthread_mutex_unlock(&ks->lock);

		pthread_mutex_lock(&ks->call_lock);
		sign_job(ks, job);
		pthread_mutex_unlock(&ks->call_lock);

		pthread_mutex_lock(&ks->lock);
		finish(ks, job);
		/* KMS did not answer: those queued behind fail now with the same reason instead of
		 * each waiting out its own timeout; a caller retries (503 Retry-After) */
		while (job->status && job->status != RW_EPROTO && ks->queue) {
			struct kms_job *q = ks->queue;
			ks->queue = q->next;
			ks->queued--;
			q->status = job->status;
			memcpy(q->err, job->err, sizeof(q->err));
			finish(ks, q);
		}
		if (!ks->queue)
			ks->queue_tail = NULL;
		pthread_mutex_unlock(&ks->lock);
		if (ks->wake)
			ks->wake(ks->wake_arg);
		pthread_mutex_lock(&ks->lock);
	}
	pthread_mutex_unlock(&ks->lock);
	return NULL;
}

struct kms_signer *kms_signer_new(const struct kms_signer_opts *o, char *err, size_t errlen)
{
	struct kms_signer *ks;
	const char *ep = o->endpoint ? o->endpoint : KMS_DEFAULT_ENDPOINT;
	const char *mh = o->metadata_host ? o->metadata_host : getenv("GCE_METADATA_HOST");
	size_t n;

	if (kms_key_version_ok(o->key_version, err, errlen))
		return NULL;
	if (google_certs_url_ok(ep, err, errlen)) {
		char m[KMS_ERR_MAX];
		rw_seterr(m, sizeof(m), 0, "%s", err);
		rw_seterr(err, errlen, 0, "--kms-endpoint %s: %s", ep, m);
		return NULL;
	}
	if (!mh || !*mh)
		mh = KMS_DEFAULT_METADATA_HOST;
	if (!host_ok(mh)) {
		rw_seterr(err, errlen, 0, "GCE_METADATA_HOST must be HOST or HOST:PORT");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rw_seterr(err, errlen, 0, "cannot initialise libcurl");
		return NULL;
	}
	ks = calloc(1, sizeof(*ks));
	if (!ks)
		goto nomem;
	ks->key_version = strdup(o->key_version);
	ks->endpoint = strdup(ep);
	n = strlen(mh) + 80;
	ks->metadata_url = malloc(n);
	if (!ks->key_version || !ks->endpoint || !ks->metadata_url)
		goto nomem;
	snprintf(ks->metadata_url, n, "http://%s/computeMetadata/v1/instance/service-accounts/default/token", mh);
	n = strlen(ks->endpoint);
	while (n && ks->endpoint[n - 1] == '/')
		ks->endpoint[--n] = '\0';
	ks->wake = o->wake;
	ks->wake_arg = o->wake_arg;
	pthread_mutex_init(&ks->lock, NULL);
	pthread_mutex_init(&ks->call_lock, NULL);
	pthread_cond_init(&ks->cond, NULL);
	if (pthread_create(&ks->thread, NULL, worker, ks)) {
		rw_seterr(err, errlen, 0, "cannot start the KMS signer thread");
		kms_signer_free(ks, NULL);
		return NULL;
	}
	ks->have_thread = 1;
	return ks;
nomem:
	rw_seterr(err, errlen, 0, "out of memory");
	if (ks) {
		free(ks->key_version);
		free(ks->endpoint);
		free(ks->metadata_url);
		free(ks);
	}
	curl_global_cleanup();
	return NULL;
}

void kms_signer_free(struct kms_signer *ks, struct kms_job **left)
{
	struct kms_job *all;

	if (left)
		*left = NULL;
	if (!ks)
		return;
	if (ks->have_thread) {
		pthread_mutex_lock(&ks->lock);
		atomic_store(&ks->stopping, 1);
		pthread_cond_signal(&ks->cond);
		pthread_mutex_unlock(&ks->lock);
		pthread_join(ks->thread, NULL);
	}
	/* what was not handed back yet: done first, then still queued */
	if (ks->done_tail)
		ks->done_tail->next = ks->queue;
	all = ks->done ? ks->done : ks->queue;
	for (struct kms_job *j = all, *next; j; j = next) {
		next = j->next;
		if (j->status == RW_OK && j->sig_len == 0)
			j->status = RW_ESTATE;
		if (!j->err[0])
			rw_seterr(j->err, sizeof(j->err), 0, "control is stopping");
		if (!left) {
			free(j);
		}
	}
	if (left)
		*left = all;
	drop_token(ks);
	if (ks->curl)
		curl_easy_cleanup(ks->curl);
	EVP_PKEY_free(ks->pkey);
	pthread_mutex_destroy(&ks->lock);
	pthread_mutex_destroy(&ks->call_lock);
	pthread_cond_destroy(&ks->cond);
	free(ks->pem);
	free(ks->key_version);
	free(ks->endpoint);
	free(ks->metadata_url);
	free(ks);
	curl_global_cleanup();
}

int kms_signer_submit(struct kms_signer *ks, const uint8_t digest[32], void *arg)
{
	struct kms_job *job;

	pthread_mutex_lock(&ks->lock);
	if (ks->queued >= KMS_MAX_QUEUE) {
		pthread_mutex_unlock(&ks->lock);
		return RW_ELIMIT;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		pthread_mutex_unlock(&ks->lock);
		return RW_ENOMEM;
	}
	memcpy(job->digest, digest, 32);
	job->arg = arg;
	if (ks->queue_tail)
		ks->queue_tail->next = job;
	else
		ks->queue = job;
	ks->queue_tail = job;
	ks->queued++;
	pthread_cond_signal(&ks->cond);
	pthread_mutex_unlock(&ks->lock);
	return RW_OK;
}

struct kms_job *kms_signer_take_done(struct kms_signer *ks)
{
	struct kms_job *d;

	pthread_mutex_lock(&ks->lock);
	d = ks->done;
	ks->done = ks->done_tail = NULL;
	pthread_mutex_unlock(&ks->lock);
	return d;
}

int kms_signer_fetch_public_key(struct kms_signer *ks, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&ks->call_lock);
	r = ks->pkey ? RW_OK : fetch_pem(ks, err, errlen);
	pthread_mutex_unlock(&ks->call_lock);
	return r;
}

int kms_signer_public_pem(struct kms_signer *ks, char **pem, size_t *len, char *err, size_t errlen)
{
	int r = RW_EAGAIN;

	*pem = NULL;
	pthread_mutex_lock(&ks->lock);
	if (ks->pem) {
		*pem = malloc(ks->pem_len + 1);
		if (*pem) {
			memcpy(*pem, ks->pem, ks->pem_len + 1);
			*len = ks->pem_len;
			r = RW_OK;
		} else {
			r = RW_ENOMEM;
		}
	} else {
		rw_seterr(err, errlen, 0, "%s", ks->pem_err[0] ? ks->pem_err : "not fetched yet");
		if (!ks->want_pem && mono_s() - ks->pem_tried_at >= KMS_PUBKEY_RETRY_S) {
			ks->want_pem = 1;
			pthread_cond_signal(&ks->cond);
		}
	}
	pthread_mutex_unlock(&ks->lock);
	return r;
}

void kms_signer_counts(struct kms_signer *ks, uint64_t *tokens, uint64_t *signs)
{
	pthread_mutex_lock(&ks->lock);
	*tokens = ks->n_tokens;
	*signs = ks->n_signs;
	pthread_mutex_unlock(&ks->lock);
}
