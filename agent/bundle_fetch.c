/* bundle_fetch.c: the fetch and verify stages of the bundle pipeline (see bundle_fetch.h).
 *
 * One libcurl easy handle per fetch, redirects followed by hand so that every hop passes the
 * same scheme, host and credential rules as the first URL. The body streams through a
 * libsodium SHA-256 into a write buffer and then the caller's fd.
 */
#include "agent/bundle_fetch.h"
#include "common/rw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#ifndef RW_VERSION
#define RW_VERSION "dev"
#endif

#define FETCH_USER_AGENT "runwire-agent/" RW_VERSION
#define FETCH_MAX_HOST 255                 /* bytes in a host name */
#define FETCH_CURL_BUFFER (256 * 1024)     /* libcurl's receive buffer (it caps at 512 KiB) */
/* SigV4 payload hash of a GET: SHA-256 of the empty body. curl 7.88 signs with this value but
 * does not send the header, and S3 wants it. */
#define FETCH_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static int fetch_init_rc;

static void fetch_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sodium_init() < 0)
		fetch_init_rc = RW_EIO;
}

int bundle_fetch_global_init(void)
{
	pthread_once(&fetch_once, fetch_init);
	return fetch_init_rc;
}

void bundle_fetch_opts_init(struct bundle_fetch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_s = BUNDLE_FETCH_CONNECT_TIMEOUT_S;
	o->low_speed_limit = BUNDLE_FETCH_LOW_SPEED_LIMIT;
	o->low_speed_time_s = BUNDLE_FETCH_LOW_SPEED_TIME_S;
	o->timeout_s = BUNDLE_FETCH_TIMEOUT_S;
	o->max_redirects = BUNDLE_FETCH_MAX_REDIRECTS;
	o->max_bytes = BUNDLE_FETCH_MAX_BYTES;
}

/* ---- host policy ---- */

/* Lowercase, without IPv6 brackets or a trailing dot. False when it does not fit. */
static bool host_canon(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);

	if (n >= 2 && in[0] == '[' && in[n - 1] == ']') {
		in++;
		n -= 2;
	}
	if (n > 1 && in[n - 1] == '.')
		n--;
	if (!n || n >= outlen)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
	return true;
}

bool bundle_fetch_host_allowed(const char *host, const char *const *allow, size_t n)
{
	char h[FETCH_MAX_HOST + 1], pat[FETCH_MAX_HOST + 1];
	size_t hl;

	if (!host_canon(host, h, sizeof(h)))
		return false;
	hl = strlen(h);
	for (size_t i = 0; i < n; i++) {
		if (!allow[i] || !host_canon(allow[i], pat, sizeof(pat)))
			continue;
		if (pat[0] == '*' && pat[1] == '.') {
			size_t sl = strlen(pat + 1);   /* ".suffix" */

			if (sl > 1 && hl > sl && !strcmp(h + hl - sl, pat + 1))
				return true;
		} else if (!strcmp(h, pat)) {
			return true;
		}
	}
	return false;
}

bool bundle_fetch_host_is_loopback(const char *host)
{
	char h[FETCH_MAX_HOST + 1];
	struct in6_addr a6;
	struct in_addr a4;

	if (!host_canon(host, h, sizeof(h)))
		return false;
	if (!strcmp(h, "localhost"))
		return true;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

bool bundle_fetch_github_token_host(const char *host)
{
	char h[FETCH_MAX_HOST + 1];

	return host_canon(host, h, sizeof(h)) &&
	       (!strcmp(h, "github.com") || !strcmp(h, "api.github.com"));
}

/* ---- s3:// ---- */

static bool s3_name_ok(const char *s, size_t n, const char *extra)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return false;
	return true;
}

int bundle_fetch_s3_url(const char *s3url, const char *region, const char *endpoint, char *out,
			size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *bucket, *key, *slash;
	char *enc;
	size_t blen, n = 0;
	int w;

	if (strncasecmp(s3url, "s3://", 5))
		return RW_EINVAL;
	bucket = s3url + 5;
	slash = strchr(bucket, '/');
	if (!slash || !slash[1])
		return RW_EINVAL;
	blen = (size_t)(slash - bucket);
	key = slash + 1;
	if (blen > 255 || !s3_name_ok(bucket, blen, ".-_"))
		return RW_EINVAL;
	if (!region || !*region)
		region = BUNDLE_S3_DEFAULT_REGION;
	if (!s3_name_ok(region, strlen(region), "-"))
		return RW_EINVAL;
	/* The key, percent-encoded as SigV4's canonical URI wants it: all but unreserved and '/'. */
	enc = malloc(3 * strlen(key) + 1);
	if (!enc)
		return RW_ENOMEM;
	for (const char *p = key; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (isalnum(ch) || strchr("-._~/", ch)) {
			enc[n++] = (char)ch;
		} else {
			enc[n++] = '%';
			enc[n++] = hex[ch >> 4];
			enc[n++] = hex[ch & 15];
		}
	}
	enc[n] = '\0';
	if (endpoint && *endpoint) {
		size_t el = strlen(endpoint);

		while (el && endpoint[el - 1] == '/')
			el--;
		w = snprintf(out, outlen, "%.*s/%.*s/%s", (int)el, endpoint, (int)blen, bucket, enc);
	} else if (memchr(bucket, '.', blen)) {
		/* Dots break the wildcard certificate of virtual-host style. */
		w = snprintf(out, outlen, "https://s3.%s.amazonaws.com/%.*s/%s", region, (int)blen,
			     bucket, enc);
	} else {
		w = snprintf(out, outlen, "https://%.*s.s3.%s.amazonaws.com/%s", (int)blen, bucket,
			     region, enc);
	}
	free(enc);
	return w < 0 || (size_t)w >= outlen ? RW_ETOOBIG : RW_OK;
}

/* ---- one transfer ---- */

struct hop {
	char scheme[16];
	char host[FETCH_MAX_HOST + 1];
	long port;
};

struct xfer {
	CURL *curl;
	int fd;
	crypto_hash_sha256_state sha;
	uint64_t done, total, max;
	unsigned char *buf;           /* BUNDLE_FETCH_WRITE_BUF bytes */
	size_t buflen;
	long status;
	bool started, body, stopped;
	char errbody[BUNDLE_FETCH_MAX_ERROR_BODY + 1];
	size_t errbody_len;
	char *location;               /* the response's Location header, as sent */
	bool location_too_long;
	int rc;                       /* set by a callback that aborts the transfer */
	char msg[256];
	bundle_fetch_progress_fn progress;
	void *ud;
	int64_t last_us;
	const atomic_bool *cancel;
};

static void xfer_progress(struct xfer *x, bool force)
{
	int64_t now;

	if (!x->progress)
		return;
	now = rw_mono_us();
	if (force || now - x->last_us >= BUNDLE_FETCH_PROGRESS_US) {
		x->last_us = now;
		x->progress(x->ud, x->done, x->total);
	}
}

static int xfer_flush(struct xfer *x)
{
	if (x->buflen && rw_write_all(x->fd, x->buf, x->buflen)) {
		x->rc = RW_EIO;
		snprintf(x->msg, sizeof(x->msg), "writing the download: %s", strerror(errno));
		return -1;
	}
	x->buflen = 0;
	return 0;
}

/* Takes body bytes: hashes them and writes them through the buffer. 0 or -1 (x->rc set). */
static int xfer_take(struct xfer *x, const void *p, size_t len)
{
	if (len > x->max - x->done) {
		x->rc = RW_ETOOBIG;
		snprintf(x->msg, sizeof(x->msg), "the download passes the cap of %llu bytes",
			 (unsigned long long)x->max);
		return -1;
	}
	crypto_hash_sha256_update(&x->sha, p, len);
	x->done += len;
	while (len) {
		size_t n = BUNDLE_FETCH_WRITE_BUF - x->buflen;

		if (n > len)
			n = len;
		memcpy(x->buf + x->buflen, p, n);
		x->buflen += n;
		p = (const char *)p + n;
		len -= n;
		if (x->buflen == BUNDLE_FETCH_WRITE_BUF && xfer_flush(x))
			return -1;
	}
	xfer_progress(x, false);
	return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nmemb;

	if (!x->started) {
		curl_off_t cl = -1;

		x->started = true;
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
		x->body = x->status == 200;
		curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (x->body && cl > 0) {
			if ((uint64_t)cl > x->max) {
				x->rc = RW_ETOOBIG;
				snprintf(x->msg, sizeof(x->msg),
					 "Content-Length %lld passes the cap of %llu bytes", (long long)cl,
					 (unsigned long long)x->max);
				return 0;
			}
			x->total = (uint64_t)cl;
			xfer_progress(x, true);
		}
	}
	if (!x->body) {
		/* Keep the start of an error or redirect body for the reason, then stop. */
		size_t room = BUNDLE_FETCH_MAX_ERROR_BODY - x->errbody_len;

		if (!room) {
			x->stopped = true;
			return 0;
		}
		if (len < room)
			room = len;
		memcpy(x->errbody + x->errbody_len, p, room);
		x->errbody_len += room;
		return len;
	}
	return xfer_take(x, p, len) ? 0 : len;
}

/* Keeps the Location header: the redirect is resolved from it even when the transfer of a
 * redirect's body was cut short (libcurl then has no CURLINFO_REDIRECT_URL). */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nmemb, n;

	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {   /* a new response (after a 1xx) */
		free(x->location);
		x->location = NULL;
		x->location_too_long = false;
		return len;
	}
	if (len < 9 || strncasecmp(p, "location:", 9))
		return len;
	p += 9;
	n = len - 9;
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	free(x->location);
	x->location = NULL;
	if (n > BUNDLE_FETCH_MAX_URL) {
		x->location_too_long = true;
		return len;
	}
	x->location = strndup(p, n);
	return len;
}

static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;

	if (x->cancel && atomic_load(x->cancel)) {
		x->rc = RW_ESTATE;
		snprintf(x->msg, sizeof(x->msg), "cancelled");
		return 1;
	}
	return 0;
}

/* The start of an error body on one line of printable characters. */
static const char *errbody_line(struct xfer *x)
{
	size_t n = x->errbody_len > 200 ? 200 : x->errbody_len;

	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)x->errbody[i]))
			x->errbody[i] = ' ';
	x->errbody[n] = '\0';
	return x->errbody;
}

/* ---- the hop loop ---- */

static int hop_parse(CURLU *u, const char *url, struct hop *h, char *err, size_t errlen)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
	int rc = RW_OK;

	if (strlen(url) > BUNDLE_FETCH_MAX_URL)
		return rw_seterr(err, errlen, RW_ETOOBIG, "URL longer than %d bytes refused",
			      BUNDLE_FETCH_MAX_URL);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		rc = rw_seterr(err, errlen, RW_EINVAL, "malformed URL");
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
		 curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
		rc = rw_seterr(err, errlen, RW_EUNSAFE, "credentials in a URL are refused");
	else if (!host_canon(host, h->host, sizeof(h->host)) ||
		 snprintf(h->scheme, sizeof(h->scheme), "%s", scheme) >= (int)sizeof(h->scheme))
		rc = rw_seterr(err, errlen, RW_EINVAL, "malformed URL");
	else
		h->port = strtol(port, NULL, 10);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	return rc;
}

/* The rules every hop passes (see bundle_fetch.h). `hop` is 0 for the first URL. */
static int hop_check(const struct bundle_fetch_opts *o, const struct hop *h, const struct hop *prev,
		     int hop, char *err, size_t errlen)
{
	char where[32] = "";

	if (hop)
		snprintf(where, sizeof(where), " (redirect %d)", hop);
	if (!strcmp(h->scheme, "http")) {
		if (prev && !strcmp(prev->scheme, "https"))
			return rw_seterr(err, errlen, RW_EUNSAFE,
				      "redirect from https to http://%s refused%s", h->host, where);
		if (!o->allow_http_loopback || !bundle_fetch_host_is_loopback(h->host))
			return rw_seterr(err, errlen, RW_EUNSAFE,
				      "plain http to %s refused%s: https only (http only to loopback "
				      "hosts when allowed)", h->host, where);
	} else if (strcmp(h->scheme, "https")) {
		return rw_seterr(err, errlen, RW_EUNSAFE, "scheme %s refused%s: https only", h->scheme,
			      where);
	}
	if (!bundle_fetch_host_allowed(h->host, o->allow_hosts, o->n_allow_hosts))
		return rw_seterr(err, errlen, RW_EUNSAFE, "host %s is not on the allowlist%s", h->host,
			      where);
	return RW_OK;
}

static const char *env_or(const char *v, const char *name)
{
	const char *e;

	if (v)
		return v;
	e = getenv(name);
	return e && *e ? e : NULL;
}

struct creds {
	bool s3;
	char sigv4[96];               /* "aws:amz:REGION:s3" */
	const char *key_id, *secret, *session_token;
	const char *github_token;
};

static struct curl_slist *slist_add(struct curl_slist *l, bool *ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct curl_slist *slist_add(struct curl_slist *l, bool *ok, const char *fmt, ...)
{
	struct curl_slist *n;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	n = s ? curl_slist_append(l, s) : NULL;
	free(s);
	if (!n) {
		*ok = false;
		return l;
	}
	return n;
}

/* Sets up the handle for one hop. `with_creds` when the hop is still on the first URL's host. */
static int hop_setup(CURL *c, CURLU *u, const struct bundle_fetch_opts *o, const struct creds *cr,
		     const struct hop *h, bool with_creds, struct curl_slist **headers,
		     struct curl_slist *resolve, long timeout_ms, struct xfer *x, char *errbuf)
{
	bool ok = true;

	curl_easy_reset(c);
	*headers = NULL;
	if (with_creds && cr->s3 && cr->key_id && cr->secret) {
		*headers = slist_add(*headers, &ok, "x-amz-content-sha256: %s", FETCH_EMPTY_SHA256);
		if (cr->session_token)
			*headers = slist_add(*headers, &ok, "x-amz-security-token: %s",
					     cr->session_token);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, cr->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, cr->key_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, cr->secret);
	}
	if (with_creds && !cr->s3 && cr->github_token && bundle_fetch_github_token_host(h->host))
		*headers = slist_add(*headers, &ok, "Authorization: Bearer %s", cr->github_token);
	if (!ok)
		return RW_ENOMEM;
	curl_easy_setopt(c, CURLOPT_CURLU, u);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, o->allow_http_loopback ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, (long)FETCH_CURL_BUFFER);
	curl_easy_setopt(c, CURLOPT_USERAGENT, FETCH_USER_AGENT);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (resolve)
		curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	if (*headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
	return RW_OK;
}

/* Maps a finished hop to 0 (x->status says what came back) or an error. */
static int hop_result(CURLcode res, struct xfer *x, const struct hop *h, const char *errbuf,
		      char *err, size_t errlen)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(res);

	if (x->rc)
		return rw_seterr(err, errlen, x->rc, "%s from %s", x->msg, h->host);
	switch (res) {
	case CURLE_OK:
		return RW_OK;
	case CURLE_WRITE_ERROR:
		if (x->stopped)
			return RW_OK;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		return rw_seterr(err, errlen, RW_ETIMEDOUT, "fetch from %s timed out: %s", h->host, why);
	case CURLE_FILESIZE_EXCEEDED:
		return rw_seterr(err, errlen, RW_ETOOBIG,
			      "Content-Length from %s passes the cap of %llu bytes", h->host,
			      (unsigned long long)x->max);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return rw_seterr(err, errlen, RW_EUNSAFE, "TLS with %s failed: %s", h->host, why);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return rw_seterr(err, errlen, RW_EUNSAFE, "protocol refused for %s: %s", h->host, why);
	default:
		break;
	}
	return rw_seterr(err, errlen, RW_EIO, "fetch from %s failed: %s", h->host, why);
}

static const char *s3_region(const struct bundle_fetch_opts *o)
{
	const char *region = o->s3_region ? o->s3_region : env_or(NULL, "AWS_REGION");

	if (!region)
		region = env_or(NULL, "AWS_DEFAULT_REGION");
	return region ? region : BUNDLE_S3_DEFAULT_REGION;
}

/* The https URL an s3:// URL is fetched from, into `out`. 0 or RW_E... with `err` set. */
static int s3_https_url(const char *url, const struct bundle_fetch_opts *o, char *out,
			size_t outlen, char *err, size_t errlen)
{
	int rc = bundle_fetch_s3_url(url, s3_region(o), o->s3_endpoint, out, outlen);

	if (rc)
		return rw_seterr(err, errlen, rc, "malformed s3 URL (want s3://bucket/key, region "
			      "of letters, digits and '-')");
	return RW_OK;
}

static int fetch_network(const char *url, const struct bundle_fetch_opts *o, int fd,
			 bundle_fetch_progress_fn progress, void *ud,
			 struct bundle_fetch_result *res, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE], s3url[BUNDLE_FETCH_MAX_URL + 1];
	struct curl_slist *resolve = NULL, *headers = NULL;
	struct xfer x = { .fd = fd, .max = o->max_bytes, .progress = progress, .ud = ud,
			  .cancel = o->cancel };
	struct hop first = { 0 }, prev = { 0 }, cur = { 0 };
	struct creds cr = { 0 };
	char *next = NULL;
	int64_t deadline_us = o->timeout_s > 0 ? rw_mono_us() + o->timeout_s * 1000000LL : 0;
	bool left_origin = false;
	CURLU *u = NULL;
	CURL *c = NULL;
	int rc = RW_OK;
	int hop;

	if (o->max_redirects < 0 || o->max_redirects > BUNDLE_FETCH_MAX_REDIRECTS)
		return rw_seterr(err, errlen, RW_EINVAL, "max redirects must be 0..%d",
			      BUNDLE_FETCH_MAX_REDIRECTS);
	if (!strncasecmp(url, "s3://", 5)) {
		const char *region = s3_region(o);

		rc = s3_https_url(url, o, s3url, sizeof(s3url), err, errlen);
		if (rc)
			return rc;
		cr.s3 = true;
		snprintf(cr.sigv4, sizeof(cr.sigv4), "aws:amz:%s:s3", region);
		cr.key_id = env_or(o->aws_access_key_id, "AWS_ACCESS_KEY_ID");
		cr.secret = env_or(o->aws_secret_access_key, "AWS_SECRET_ACCESS_KEY");
		cr.session_token = env_or(o->aws_session_token, "AWS_SESSION_TOKEN");
		url = s3url;
	} else {
		cr.github_token = env_or(o->github_token, "GITHUB_TOKEN");
	}

	x.buf = malloc(BUNDLE_FETCH_WRITE_BUF);
	u = curl_url();
	c = curl_easy_init();
	if (!x.buf || !u || !c) {
		rc = rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
		goto out;
	}
	x.curl = c;
	for (size_t i = 0; i < o->n_resolve; i++) {
		struct curl_slist *n = curl_slist_append(resolve, o->resolve[i]);

		if (!n) {
			rc = rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
			goto out;
		}
		resolve = n;
	}

	for (hop = 0;; hop++) {
		long timeout_ms = 0;
		CURLcode cres;

		rc = hop_parse(u, next ? next : url, &cur, err, errlen);
		if (rc)
			goto out;
		rc = hop_check(o, &cur, hop ? &prev : NULL, hop, err, errlen);
		if (rc)
			goto out;
		if (!hop)
			first = cur;
		else if (strcmp(cur.host, first.host) || cur.port != first.port ||
			 strcmp(cur.scheme, first.scheme))
			left_origin = true;
		if (deadline_us) {
			timeout_ms = (deadline_us - rw_mono_us()) / 1000;
			if (timeout_ms <= 0) {
				rc = rw_seterr(err, errlen, RW_ETIMEDOUT, "fetch timed out after %ld s",
					    o->timeout_s);
				goto out;
			}
		}
		errbuf[0] = '\0';
		x.started = x.body = x.stopped = x.location_too_long = false;
		x.status = 0;
		x.errbody_len = 0;
		free(x.location);
		x.location = NULL;
		crypto_hash_sha256_init(&x.sha);
		rc = hop_setup(c, u, o, &cr, &cur, !left_origin, &headers, resolve, timeout_ms, &x,
			       errbuf);
		if (rc) {
			rw_seterr(err, errlen, rc, "out of memory");
			goto out;
		}
		cres = curl_easy_perform(c);
		curl_slist_free_all(headers);
		headers = NULL;
		rc = hop_result(cres, &x, &cur, errbuf, err, errlen);
		if (rc)
			goto out;
		if (!x.started)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.status);

		if (x.status == 200)
			break;
		if (x.status == 301 || x.status == 302 || x.status == 303 || x.status == 307 ||
		    x.status == 308) {
			char *resolved = NULL;

			if (hop >= o->max_redirects) {
				rc = rw_seterr(err, errlen, RW_ETOOBIG, "more than %ld redirects, the last "
					    "from %s", o->max_redirects, cur.host);
				goto out;
			}
			if (x.location_too_long) {
				rc = rw_seterr(err, errlen, RW_ETOOBIG, "redirect from %s to a URL longer "
					    "than %d bytes refused", cur.host, BUNDLE_FETCH_MAX_URL);
				goto out;
			}
			free(next);
			next = NULL;
			/* Resolved against this hop's URL, as a browser would (relative Locations). */
			if (!x.location || curl_url_set(u, CURLUPART_URL, x.location, 0) != CURLUE_OK ||
			    curl_url_get(u, CURLUPART_URL, &resolved, 0) != CURLUE_OK) {
				rc = rw_seterr(err, errlen, RW_EPROTO, "HTTP %ld from %s without a "
					    "usable Location", x.status, cur.host);
				goto out;
			}
			next = strdup(resolved);
			curl_free(resolved);
			if (!next) {
				rc = rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
				goto out;
			}
			prev = cur;
			continue;
		}
		rc = x.status == 401 || x.status == 403 ? RW_EAUTH :
		     x.status == 404 ? RW_ENOTFOUND : RW_EPROTO;
		rw_seterr(err, errlen, rc, "HTTP %ld from %s%s%s", x.status, cur.host,
		       x.errbody_len ? ": " : "", errbody_line(&x));
		goto out;
	}
	if (xfer_flush(&x)) {
		rc = rw_seterr(err, errlen, x.rc, "%s", x.msg);
		goto out;
	}
	xfer_progress(&x, true);
	crypto_hash_sha256_final(&x.sha, res->sha256);
	res->bytes = x.done;
	res->redirects = hop;
	snprintf(res->host, sizeof(res->host), "%s", cur.host);
out:
	curl_slist_free_all(headers);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	curl_url_cleanup(u);
	free(next);
	free(x.location);
	free(x.buf);
	sodium_memzero(&x.sha, sizeof(x.sha));
	return rc;
}

/* ---- local files ---- */

/* Opens a local bundle (a path, or a file:// URL on this host). The fd, or RW_E... with
 * `err` set. */
static int open_local(const char *url, char *err, size_t errlen)
{
	char *path = NULL, *host = NULL;
	int fd = -1, rc = RW_OK;

	if (!strncasecmp(url, "file://", 7)) {
		CURLU *u = curl_url();

		if (!u)
			return rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
		if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		    curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK)
			rc = rw_seterr(err, errlen, RW_EINVAL, "malformed file URL");
		else if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host &&
			 strcasecmp(host, "localhost"))
			rc = rw_seterr(err, errlen, RW_EUNSAFE, "file URL names a remote host");
		curl_url_cleanup(u);
		curl_free(host);
		if (rc) {
			curl_free(path);
			return rc;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
		curl_free(path);
	} else {
		fd = open(url, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return rw_seterr(err, errlen, errno == ENOENT ? RW_ENOTFOUND : RW_EIO,
			      "cannot open the bundle: %s", strerror(errno));
	return fd;
}

static int fetch_local(const char *url, const struct bundle_fetch_opts *o, int out_fd,
		       bundle_fetch_progress_fn progress, void *ud,
		       struct bundle_fetch_result *res, char *err, size_t errlen)
{
	struct xfer x = { .fd = out_fd, .max = o->max_bytes, .progress = progress, .ud = ud };
	struct stat st;
	int fd, rc = RW_OK;
	ssize_t n;

	fd = open_local(url, err, errlen);
	if (fd < 0)
		return fd;
	x.buf = malloc(BUNDLE_FETCH_WRITE_BUF);
	if (!x.buf) {
		rc = rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = rw_seterr(err, errlen, RW_EINVAL, "the bundle is not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > x.max) {
		rc = rw_seterr(err, errlen, RW_ETOOBIG, "the bundle's %lld bytes pass the cap of %llu",
			    (long long)st.st_size, (unsigned long long)x.max);
		goto out;
	}
	x.total = (uint64_t)st.st_size;
	crypto_hash_sha256_init(&x.sha);
	xfer_progress(&x, true);
	/* Read straight into the write buffer: one copy fewer than on the network path. */
	for (;;) {
		if (o->cancel && atomic_load(o->cancel)) {
			rc = rw_seterr(err, errlen, RW_ESTATE, "cancelled");
			goto out;
		}
		n = read(fd, x.buf, BUNDLE_FETCH_WRITE_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rw_seterr(err, errlen, RW_EIO, "reading the bundle: %s", strerror(errno));
			goto out;
		}
		if (!n)
			break;
		if ((uint64_t)n > x.max - x.done) {
			rc = rw_seterr(err, errlen, RW_ETOOBIG, "the bundle passes the cap of %llu bytes",
				    (unsigned long long)x.max);
			goto out;
		}
		crypto_hash_sha256_update(&x.sha, x.buf, (size_t)n);
		x.done += (uint64_t)n;
		if (rw_write_all(out_fd, x.buf, (size_t)n)) {
			rc = rw_seterr(err, errlen, RW_EIO, "writing the copy: %s", strerror(errno));
			goto out;
		}
		xfer_progress(&x, false);
	}
	xfer_progress(&x, true);
	crypto_hash_sha256_final(&x.sha, res->sha256);
	res->bytes = x.done;
	res->redirects = 0;
	res->host[0] = '\0';
out:
	free(x.buf);
	close(fd);
	return rc;
}

/* A URL starts with a scheme ([a-z][a-z0-9+.-]*) and "://"; anything else is a path, and
 * file:// is local too. */
static bool is_network_url(const char *url)
{
	const char *colon = strstr(url, "://");
	bool is_url = colon && colon > url && isalpha((unsigned char)url[0]);

	for (const char *p = url; is_url && p < colon; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+.-", *p))
			is_url = false;
	return is_url && strncasecmp(url, "file://", 7);
}

int bundle_fetch(const char *url, const struct bundle_fetch_opts *o, int out_fd,
		 bundle_fetch_progress_fn progress, void *ud, struct bundle_fetch_result *res,
		 char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!url || !*url || !o || !res)
		return rw_seterr(err, errlen, RW_EINVAL, "no bundle URL");
	if (bundle_fetch_global_init())
		return rw_seterr(err, errlen, RW_EIO, "libcurl or libsodium failed to initialise");
	memset(res, 0, sizeof(*res));
	if (!is_network_url(url))
		return fetch_local(url, o, out_fd, progress, ud, res, err, errlen);
	return fetch_network(url, o, out_fd, progress, ud, res, err, errlen);
}

int bundle_fetch_check(const char *url, const struct bundle_fetch_opts *o, char *err,
		       size_t errlen)
{
	char s3url[BUNDLE_FETCH_MAX_URL + 1];
	struct hop h = { 0 };
	struct stat st;
	CURLU *u;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	if (!url || !*url || !o)
		return rw_seterr(err, errlen, RW_EINVAL, "no bundle URL");
	if (bundle_fetch_global_init())
		return rw_seterr(err, errlen, RW_EIO, "libcurl or libsodium failed to initialise");
	if (!is_network_url(url)) {
		fd = open_local(url, err, errlen);
		if (fd < 0)
			return fd;
		rc = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ?
			     rw_seterr(err, errlen, RW_EINVAL, "the bundle is not a regular file") : RW_OK;
		close(fd);
		return rc;
	}
	if (!strncasecmp(url, "s3://", 5)) {
		rc = s3_https_url(url, o, s3url, sizeof(s3url), err, errlen);
		if (rc)
			return rc;
		url = s3url;
	}
	u = curl_url();
	if (!u)
		return rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
	rc = hop_parse(u, url, &h, err, errlen);
	if (!rc)
		rc = hop_check(o, &h, NULL, 0, err, errlen);
	curl_url_cleanup(u);
	return rc;
}
