/* google_certs.c: fetches and caches Google's token-signing certificates on a refresher thread
 * so that firebase_auth_verify() on control's event loop only ever reads memory (see
 * google_certs.h for the schedule and the threading rules). */
#include "control/google_certs.h"
#include "common/log.h"
#include "common/rw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
#include <openssl/x509.h>

#define GOOGLE_CERTS_ERR_MAX 256      /* bytes of the last-error message */
#define GOOGLE_CERTS_MAX_SLEEP_S 3600 /* the refresher re-reads the clock at least this often */
#define GOOGLE_CERTS_NEVER (INT64_MIN / 4) /* "long ago", safe to add small numbers to */

struct google_certs {
	char *url;
	char *ca_file;
	int https;                      /* the URL's scheme: 1 https, 0 http (loopback) */
	google_certs_parse_fn parse;
	char what[32];                  /* "certificate", "JWKS": for messages */
	char ev_fetched[64], ev_failed[64];
	int kid_refetch_s;
	google_certs_clock_fn clock;
	void *clock_arg;

	pthread_mutex_t fetch_lock;     /* held for a whole fetch: fetches never overlap */
	pthread_mutex_t lock;           /* guards everything below */
	pthread_cond_t wake;            /* pokes the refresher (monotonic clock) */
	pthread_t thread;
	int have_thread;
	atomic_int stopping;            /* also read by curl's progress callback */

	struct google_certs_key *keys;          /* the current set, nkeys entries */
	size_t nkeys;
	int64_t expires_at;             /* clock time after which the set is unusable; 0: no set */
	int64_t next_fetch_at;          /* scheduled refresh or retry */
	int64_t last_fetch_at;          /* start of the last fetch */
	int kid_poked;                  /* an unknown kid was seen since the last fetch began */
	int retry_s;                    /* next backoff after a failure */
	uint64_t fetches;
	char err[GOOGLE_CERTS_ERR_MAX];
};

struct fetch_body {
	char *buf;
	size_t len;
	int too_big;
};

static int64_t wall_clock(void *arg)
{
	(void)arg;
	return (int64_t)time(NULL);
}

static int64_t certs_now(struct google_certs *gc)
{
	return gc->clock(gc->clock_arg);
}

int google_certs_host_is_loopback(const char *host)
{
	char bare[64];
	size_t n;
	struct in_addr v4;
	struct in6_addr v6;

	if (!host)
		return 0;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(bare))
		return 0;
	memcpy(bare, host, n);
	bare[n] = '\0';
	if (!strcasecmp(bare, "localhost"))
		return 1;
	if (inet_pton(AF_INET, bare, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, bare, &v6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&v6);
	return 0;
}

int google_certs_url_ok(const char *url, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int rc = RW_OK;

	if (!url || !*url) {
		rw_seterr(err, errlen, 0, "certificate URL is empty");
		return RW_EINVAL;
	}
	u = curl_url();
	if (!u) {
		rw_seterr(err, errlen, 0, "out of memory");
		return RW_ENOMEM;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		rw_seterr(err, errlen, 0, "certificate URL is not an absolute URL");
		rc = RW_EINVAL;
	} else if (!strcmp(scheme, "https")) {
		rc = RW_OK;
	} else if (!strcmp(scheme, "http")) {
		if (!google_certs_host_is_loopback(host)) {
			rw_seterr(err, errlen, 0, "certificate URL must be https (plain http only to a loopback host)");
			rc = RW_EUNSAFE;
		}
	} else {
		rw_seterr(err, errlen, 0, "certificate URL must be https");
		rc = RW_EUNSAFE;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

void google_certs_free_keys(struct google_certs_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i].pkey);
	free(keys);
}

/* Parses the max-age of a Cache-Control value; -1 when it has none (or says no-cache). */
static long long parse_max_age(const char *value)
{
	const char *p = value;
	long long age = -1;

	while (*p) {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) == 8 && !strncasecmp(start, "no-store", 8))
			return -1;
		if ((size_t)(end - start) == 8 && !strncasecmp(start, "no-cache", 8))
			return -1;
		if ((size_t)(end - start) > 8 && !strncasecmp(start, "max-age=", 8)) {
			const char *d = start + 8;
			long long v = 0;

			if (*d == '"')
				d++;
			if (!isdigit((unsigned char)*d))
				continue;
			while (d < end && isdigit((unsigned char)*d)) {
				if (v < GOOGLE_CERTS_MAX_TTL_S)
					v = v * 10 + (*d - '0');
				d++;
			}
			age = v;
		}
	}
	return age;
}

static int64_t ttl_from_headers(CURL *h)
{
	struct curl_header *hdr = NULL;
	size_t i = 0, amount = 1;
	long long age = -1;

	while (i < amount &&
	       curl_easy_header(h, "Cache-Control", i, CURLH_HEADER, -1, &hdr) == CURLHE_OK) {
		long long a = parse_max_age(hdr->value);

		amount = hdr->amount;
		if (a >= 0)
			age = a;
		i++;
	}
	if (age < GOOGLE_CERTS_MIN_TTL_S)
		return GOOGLE_CERTS_MIN_TTL_S;
	if (age > GOOGLE_CERTS_MAX_TTL_S)
		return GOOGLE_CERTS_MAX_TTL_S;
	return age;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fetch_body *body = arg;
	size_t n = size * nmemb;
	char *grown;

	if (n > GOOGLE_CERTS_MAX_DOC - body->len) {
		body->too_big = 1;
		return 0;
	}
	grown = realloc(body->buf, body->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + body->len, data, n);
	body->buf = grown;
	body->len += n;
	body->buf[body->len] = '\0';
	return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct google_certs *gc = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&gc->stopping) ? 1 : 0;
}

/* GETs the document into `body`. 0, or RW_EIO / RW_ETOOBIG / RW_ENOMEM with `err` set. */
static int download(struct google_certs *gc, struct fetch_body *body, int64_t *ttl, char *err,
		    size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode cc;
	long status = 0;
	int rc = RW_OK;

	if (!h) {
		rw_seterr(err, errlen, 0, "out of memory");
		return RW_ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_URL, gc->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, gc->https ? "https" : "http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)GOOGLE_CERTS_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)GOOGLE_CERTS_FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)GOOGLE_CERTS_MAX_DOC);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "runwire-control");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, gc);
	if (gc->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, gc->ca_file);

	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (body->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rw_seterr(err, errlen, 0, "%s document larger than %d bytes", gc->what, GOOGLE_CERTS_MAX_DOC);
		rc = RW_ETOOBIG;
	} else if (cc != CURLE_OK) {
		rw_seterr(err, errlen, 0, "%s fetch failed: %s", gc->what,
			curl_err[0] ? curl_err : curl_easy_strerror(cc));
		rc = RW_EIO;
	} else if (status != 200) {
		rw_seterr(err, errlen, 0, "%s fetch answered HTTP %ld", gc->what, status);
		rc = RW_EIO;
	} else if (!body->buf) {
		rw_seterr(err, errlen, 0, "%s document is empty", gc->what);
		rc = RW_EPROTO;
	} else {
		*ttl = ttl_from_headers(h);
	}
	curl_easy_cleanup(h);
	return rc;
}

/* Reads the public key of one PEM certificate: RSA of at least GOOGLE_CERTS_MIN_RSA_BITS. */
static int key_from_cert(const char *pem, EVP_PKEY **out, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert;
	EVP_PKEY *pkey;

	if (!bio) {
		rw_seterr(err, errlen, 0, "out of memory");
		return RW_ENOMEM;
	}
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!cert) {
		rw_seterr(err, errlen, 0, "certificate is not a PEM X.509 certificate");
		return RW_EPROTO;
	}
	pkey = X509_get_pubkey(cert);
	X509_free(cert);
	if (!pkey) {
		rw_seterr(err, errlen, 0, "certificate has no usable public key");
		return RW_EPROTO;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < GOOGLE_CERTS_MIN_RSA_BITS) {
		EVP_PKEY_free(pkey);
		rw_seterr(err, errlen, 0, "certificate key is not RSA of at least %d bits",
			GOOGLE_CERTS_MIN_RSA_BITS);
		return RW_EUNSAFE;
	}
	*out = pkey;
	return RW_OK;
}

/* Parses {"kid": "PEM", ...} into a new key array. Any bad entry refuses the whole document:
 * a half-understood answer is not one to trust. */
static int parse_doc(const char *buf, size_t len, struct google_certs_key **out, size_t *nout, char *err,
		     size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	struct google_certs_key *keys = NULL;
	size_t n = 0;
	const char *kid;
	json_t *pem;
	int rc = RW_OK;

	if (!json_is_object(doc)) {
		rw_seterr(err, errlen, 0, "certificate document is not a JSON object");
		json_decref(doc);
		return RW_EPROTO;
	}
	if (json_object_size(doc) == 0) {
		rw_seterr(err, errlen, 0, "certificate document names no certificate");
		json_decref(doc);
		return RW_EPROTO;
	}
	if (json_object_size(doc) > GOOGLE_CERTS_MAX_KEYS) {
		rw_seterr(err, errlen, 0, "certificate document names more than %d certificates",
			GOOGLE_CERTS_MAX_KEYS);
		json_decref(doc);
		return RW_ETOOBIG;
	}
	keys = calloc(json_object_size(doc), sizeof(*keys));
	if (!keys) {
		json_decref(doc);
		rw_seterr(err, errlen, 0, "out of memory");
		return RW_ENOMEM;
	}
	json_object_foreach(doc, kid, pem) {
		size_t kidlen = strlen(kid);

		if (kidlen == 0 || kidlen > GOOGLE_CERTS_MAX_KID) {
			rw_seterr(err, errlen, 0, "certificate kid is empty or longer than %d bytes",
				GOOGLE_CERTS_MAX_KID);
			rc = RW_EPROTO;
			break;
		}
		if (!json_is_string(pem)) {
			rw_seterr(err, errlen, 0, "certificate value is not a string");
			rc = RW_EPROTO;
			break;
		}
		rc = key_from_cert(json_string_value(pem), &keys[n].pkey, err, errlen);
		if (rc)
			break;
		memcpy(keys[n].kid, kid, kidlen + 1);
		n++;
	}
	json_decref(doc);
	if (rc) {
		google_certs_free_keys(keys, n);
		return rc;
	}
	*out = keys;
	*nout = n;
	return RW_OK;
}

static int64_t refresh_lead(int64_t ttl)
{
	int64_t lead = ttl / 10;

	return lead > GOOGLE_CERTS_MAX_LEAD_S ? GOOGLE_CERTS_MAX_LEAD_S : lead;
}

/* One fetch: download, parse, install or schedule a retry. Called by the refresher and by
 * google_certs_refresh_now(); fetch_lock keeps them from overlapping. */
static int certs_fetch(struct google_certs *gc)
{
	struct fetch_body body = { 0 };
	struct google_certs_key *keys = NULL, *old_keys = NULL;
	size_t nkeys = 0, old_n = 0;
	char err[GOOGLE_CERTS_ERR_MAX] = "";
	int64_t started, ttl = GOOGLE_CERTS_MIN_TTL_S;
	uint64_t nth;
	int rc;

	pthread_mutex_lock(&gc->fetch_lock);
	pthread_mutex_lock(&gc->lock);
	started = certs_now(gc);
	gc->last_fetch_at = started;
	gc->kid_poked = 0;
	nth = ++gc->fetches;
	pthread_mutex_unlock(&gc->lock);

	rc = download(gc, &body, &ttl, err, sizeof(err));
	if (!rc)
		rc = gc->parse(body.buf, body.len, &keys, &nkeys, err, sizeof(err));
	free(body.buf);

	pthread_mutex_lock(&gc->lock);
	if (!rc) {
		old_keys = gc->keys;
		old_n = gc->nkeys;
		gc->keys = keys;
		gc->nkeys = nkeys;
		gc->expires_at = started + ttl;
		gc->next_fetch_at = started + ttl - refresh_lead(ttl);
		gc->retry_s = GOOGLE_CERTS_RETRY_MIN_S;
		gc->err[0] = '\0';
	} else {
		gc->next_fetch_at = certs_now(gc) + gc->retry_s;
		gc->retry_s = gc->retry_s * 2 > GOOGLE_CERTS_RETRY_MAX_S ? GOOGLE_CERTS_RETRY_MAX_S
									 : gc->retry_s * 2;
		memcpy(gc->err, err, sizeof(gc->err));
	}
	pthread_cond_signal(&gc->wake);
	pthread_mutex_unlock(&gc->lock);
	pthread_mutex_unlock(&gc->fetch_lock);

	google_certs_free_keys(old_keys, old_n);
	if (!rc)
		log_info(gc->ev_fetched, "{s:I, s:i, s:I}", "fetch", (json_int_t)nth,
			 "keys", (int)nkeys, "max_age", (json_int_t)ttl);
	else if (!atomic_load(&gc->stopping))
		log_warn(gc->ev_failed, "{s:I, s:s, s:s, s:s}", "fetch", (json_int_t)nth,
			 "error", rw_strerror(rc), "reason", err, "action", gc->nkeys ?
			 "keeping the previous keys until they expire" : "no keys yet: retrying");
	return rc;
}

static void *refresher_main(void *arg)
{
	struct google_certs *gc = arg;

	pthread_mutex_lock(&gc->lock);
	while (!atomic_load(&gc->stopping)) {
		int64_t now = certs_now(gc), due = gc->next_fetch_at;
		struct timespec until;

		if (gc->kid_poked && gc->last_fetch_at + gc->kid_refetch_s < due)
			due = gc->last_fetch_at + gc->kid_refetch_s;
		if (now >= due) {
			pthread_mutex_unlock(&gc->lock);
			(void)certs_fetch(gc);
			pthread_mutex_lock(&gc->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(due - now < GOOGLE_CERTS_MAX_SLEEP_S ? due - now
									 : GOOGLE_CERTS_MAX_SLEEP_S);
		pthread_cond_timedwait(&gc->wake, &gc->lock, &until);
	}
	pthread_mutex_unlock(&gc->lock);
	return NULL;
}

static int start_refresher(struct google_certs *gc)
{
	sigset_t all, old;
	int rc;

	/* Signals belong to the event loop's thread, never to the refresher. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&gc->thread, NULL, refresher_main, gc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return RW_EIO;
	gc->have_thread = 1;
	return RW_OK;
}

struct google_certs *google_certs_new(const struct google_certs_opts *o, char *err, size_t errlen)
{
	struct google_certs *gc;
	pthread_condattr_t cattr;
	const char *url = o && o->url ? o->url : GOOGLE_CERTS_DEFAULT_URL;

	if (google_certs_url_ok(url, err, errlen))
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rw_seterr(err, errlen, 0, "libcurl failed to initialise");
		return NULL;
	}
	gc = calloc(1, sizeof(*gc));
	if (!gc)
		goto fail_curl;
	gc->url = strdup(url);
	gc->ca_file = o && o->ca_file ? strdup(o->ca_file) : NULL;
	if (!gc->url || (o && o->ca_file && !gc->ca_file))
		goto fail_alloc;
	gc->https = !strncasecmp(url, "https:", 6);
	gc->parse = o && o->parse ? o->parse : parse_doc;
	snprintf(gc->what, sizeof(gc->what), "%s", o && o->what ? o->what : "certificate");
	snprintf(gc->ev_fetched, sizeof(gc->ev_fetched), "%s_fetched",
		 o && o->log_name ? o->log_name : "google_certs");
	snprintf(gc->ev_failed, sizeof(gc->ev_failed), "%s_fetch_failed",
		 o && o->log_name ? o->log_name : "google_certs");
	gc->kid_refetch_s = o && o->kid_refetch_s > 0 ? o->kid_refetch_s : GOOGLE_CERTS_KID_REFETCH_S;
	gc->clock = o && o->clock ? o->clock : wall_clock;
	gc->clock_arg = o ? o->clock_arg : NULL;
	gc->next_fetch_at = GOOGLE_CERTS_NEVER;
	gc->last_fetch_at = GOOGLE_CERTS_NEVER;
	gc->retry_s = GOOGLE_CERTS_RETRY_MIN_S;
	atomic_init(&gc->stopping, 0);
	pthread_mutex_init(&gc->lock, NULL);
	pthread_mutex_init(&gc->fetch_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&gc->wake, &cattr);
	pthread_condattr_destroy(&cattr);
	if (!(o && o->no_refresher) && start_refresher(gc)) {
		rw_seterr(err, errlen, 0, "cannot start the certificate refresher thread");
		google_certs_free(gc);
		return NULL;
	}
	return gc;

fail_alloc:
	free(gc->url);
	free(gc->ca_file);
	free(gc);
fail_curl:
	curl_global_cleanup();
	rw_seterr(err, errlen, 0, "out of memory");
	return NULL;
}

void google_certs_free(struct google_certs *gc)
{
	if (!gc)
		return;
	pthread_mutex_lock(&gc->lock);
	atomic_store(&gc->stopping, 1);
	pthread_cond_signal(&gc->wake);
	pthread_mutex_unlock(&gc->lock);
	if (gc->have_thread)
		pthread_join(gc->thread, NULL);
	google_certs_free_keys(gc->keys, gc->nkeys);
	pthread_cond_destroy(&gc->wake);
	pthread_mutex_destroy(&gc->lock);
	pthread_mutex_destroy(&gc->fetch_lock);
	free(gc->url);
	free(gc->ca_file);
	free(gc);
	curl_global_cleanup();
}

int google_certs_refresh_now(struct google_certs *gc)
{
	return certs_fetch(gc);
}

int google_certs_get_key(struct google_certs *gc, const char *kid, EVP_PKEY **key)
{
	int64_t now;
	int rc = RW_ENOTFOUND;

	*key = NULL;
	pthread_mutex_lock(&gc->lock);
	now = certs_now(gc);
	if (!gc->nkeys || now >= gc->expires_at) {
		rc = RW_EAGAIN;
	} else {
		for (size_t i = 0; i < gc->nkeys; i++) {
			if (!strcmp(gc->keys[i].kid, kid)) {
				EVP_PKEY_up_ref(gc->keys[i].pkey);
				*key = gc->keys[i].pkey;
				rc = RW_OK;
				break;
			}
		}
	}
	if (rc == RW_ENOTFOUND)
		gc->kid_poked = 1;
	/* A replaced clock does not wake the refresher by itself: every lookup that finds work
	 * due (or a kid missing) nudges it to look at the clock again. */
	if (rc || now >= gc->next_fetch_at)
		pthread_cond_signal(&gc->wake);
	pthread_mutex_unlock(&gc->lock);
	return rc;
}

uint64_t google_certs_fetch_count(struct google_certs *gc)
{
	uint64_t n;

	pthread_mutex_lock(&gc->lock);
	n = gc->fetches;
	pthread_mutex_unlock(&gc->lock);
	return n;
}

int google_certs_key_count(struct google_certs *gc, int64_t *expires_at)
{
	int n;

	pthread_mutex_lock(&gc->lock);
	n = (int)gc->nkeys;
	if (expires_at)
		*expires_at = gc->expires_at;
	pthread_mutex_unlock(&gc->lock);
	return n;
}

void google_certs_last_error(struct google_certs *gc, char *buf, size_t len)
{
	if (!len)
		return;
	pthread_mutex_lock(&gc->lock);
	snprintf(buf, len, "%s", gc->err);
	pthread_mutex_unlock(&gc->lock);
}
