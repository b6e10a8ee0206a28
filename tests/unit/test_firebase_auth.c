/* test_firebase_auth.c: the Firebase ID token verifier against hostile tokens.
 *
 * The test makes its own RSA keys and self-signed certificates at run time, serves them in
 * Google's x509 metadata format from an HTTP server thread on 127.0.0.1 (port chosen by the
 * kernel, requests counted, Cache-Control: public, max-age=N), mints tokens with OpenSSL (and
 * one with libjwt, for interoperability), and drives the clock by hand.
 */
#include "control/firebase_auth.h"
#include "control/google_certs.h"
#include "common/log.h"
#include "common/rw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#define PROJECT "runwire-test"
#define ISSUER "https://securetoken.google.com/" PROJECT
#define MAX_AGE 3600         /* what the certificate server announces */
#define REQ_MAX 8192         /* bytes of one request the test server reads */

static int failures, checks;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		checks++;                                                            \
		if (!(cond)) {                                                       \
			failures++;                                                  \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
		}                                                                    \
	} while (0)

/* ---- the clock ----------------------------------------------------------------------- */

static _Atomic int64_t fake_now;

static int64_t test_clock(void *arg)
{
	(void)arg;
	return atomic_load(&fake_now);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- keys and certificates ----------------------------------------------------------- */

struct test_key {
	EVP_PKEY *pkey;
	char *cert_pem;   /* self-signed X.509 */
	char *pub_pem;    /* SubjectPublicKeyInfo */
	char *priv_pem;   /* PKCS#8 */
};

static char *bio_string(BIO *bio)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s = malloc((size_t)n + 1);

	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	return s;
}

static void key_make(struct test_key *k, unsigned bits)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	BIO *bio;

	k->pkey = EVP_RSA_gen(bits);
	if (!k->pkey || !cert) {
		fprintf(stderr, "key generation failed\n");
		exit(2);
	}
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 14 * 86400);
	X509_set_pubkey(cert, k->pkey);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"securetoken.system.gserviceaccount.com",
				   -1, -1, 0);
	X509_set_issuer_name(cert, name);
	X509_sign(cert, k->pkey, EVP_sha256());

	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, cert);
	k->cert_pem = bio_string(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, k->pkey);
	k->pub_pem = bio_string(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL);
	k->priv_pem = bio_string(bio);
	X509_free(cert);
}

static void key_release(struct test_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->cert_pem);
	free(k->pub_pem);
	free(k->priv_pem);
}

static struct test_key key_a, key_b, key_evil, key_weak;

/* ---- the certificate server ---------------------------------------------------------- */

enum serve_mode { SERVE_OK, SERVE_500, SERVE_JUNK, SERVE_HUGE, SERVE_MANY, SERVE_WEAK,
		  SERVE_NO_CACHE };

static struct {
	int fd;
	int port;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	char *doc;              /* the /certs body in SERVE_OK */
	enum serve_mode mode;
	int max_age;
	atomic_int requests;
} srv;

static char *certs_doc(int with_b)
{
	json_t *doc = json_object();
	char *s;

	json_object_set_new(doc, "kid-a", json_string(key_a.cert_pem));
	if (with_b)
		json_object_set_new(doc, "kid-b", json_string(key_b.cert_pem));
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static void srv_set(enum serve_mode mode, int with_b)
{
	pthread_mutex_lock(&srv.lock);
	free(srv.doc);
	srv.doc = certs_doc(with_b);
	srv.mode = mode;
	pthread_mutex_unlock(&srv.lock);
}

static char *body_for_mode(enum serve_mode mode, int *status, int *cache)
{
	json_t *doc;
	char *s;

	*status = 200;
	*cache = 1;
	switch (mode) {
	case SERVE_OK:
		return strdup(srv.doc);
	case SERVE_NO_CACHE:
		*cache = 0;
		return strdup(srv.doc);
	case SERVE_500:
		*status = 500;
		return strdup("{\"error\":\"backend\"}");
	case SERVE_JUNK:
		return strdup("<html>not json</html>");
	case SERVE_HUGE: {
		size_t n = GOOGLE_CERTS_MAX_DOC + 1;

		s = malloc(n + 1);
		memset(s, ' ', n);
		s[0] = '{';
		s[n - 1] = '}';
		s[n] = '\0';
		return s;
	}
	case SERVE_MANY:
		doc = json_object();
		for (int i = 0; i <= GOOGLE_CERTS_MAX_KEYS; i++) {
			char kid[32];

			snprintf(kid, sizeof(kid), "kid-%d", i);
			json_object_set_new(doc, kid, json_string(key_a.cert_pem));
		}
		break;
	case SERVE_WEAK:
		doc = json_pack("{s:s}", "kid-weak", key_weak.cert_pem);
		break;
	default:
		return strdup("");
	}
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static void srv_answer(int c)
{
	char req[REQ_MAX + 1], head[512];
	size_t got = 0;
	int status, cache;
	char *body;

	while (got < REQ_MAX) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) <= 0)
			return;
		n = read(c, req + got, REQ_MAX - got);
		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	atomic_fetch_add(&srv.requests, 1);
	pthread_mutex_lock(&srv.lock);
	body = body_for_mode(srv.mode, &status, &cache);
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\n"
		 "%s%d%s"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, status == 200 ? "OK" : "Internal Server Error",
		 cache ? "Cache-Control: public, max-age=" : "X-Max-Age: ", srv.max_age,
		 cache ? ", must-revalidate, no-transform\r\n" : "\r\n", strlen(body));
	pthread_mutex_unlock(&srv.lock);
	(void)rw_write_all(c, head, strlen(head));
	(void)rw_write_all(c, body, strlen(body));
	free(body);
}

static void *srv_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = srv.fd, .events = POLLIN },
				       { .fd = srv.stop_pipe[0], .events = POLLIN } };
		int c;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			continue;
		srv_answer(c);
		close(c);
	}
	return NULL;
}

static void srv_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(srv.fd, 16) < 0 || getsockname(srv.fd, (struct sockaddr *)&a, &alen) < 0 ||
	    pipe(srv.stop_pipe) < 0) {
		perror("certificate server");
		exit(2);
	}
	srv.port = ntohs(a.sin_port);
	srv.max_age = MAX_AGE;
	pthread_mutex_init(&srv.lock, NULL);
	srv_set(SERVE_OK, 0);
	pthread_create(&srv.thread, NULL, srv_main, NULL);
}

static void srv_stop(void)
{
	(void)rw_write_all(srv.stop_pipe[1], "x", 1);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	close(srv.stop_pipe[0]);
	close(srv.stop_pipe[1]);
	free(srv.doc);
	pthread_mutex_destroy(&srv.lock);
}

static void certs_url(char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%d/robot/v1/metadata/x509/securetoken", srv.port);
}

/* ---- minting tokens ------------------------------------------------------------------ */

enum sign_kind { SIGN_RS256, SIGN_HS256, SIGN_NONE };

static char *b64url(const void *data, size_t len)
{
	size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(n);

	sodium_bin2base64(s, n, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

static char *b64url_json(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *s = b64url(text, strlen(text));

	free(text);
	return s;
}

static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + (c ? strlen(c) + 2 : 1) + 1;
	char *s = malloc(n);

	if (c)
		snprintf(s, n, "%s.%s.%s", a, b, c);
	else
		snprintf(s, n, "%s.%s", a, b);
	return s;
}

/* Signs "h.p" (both already base64url) and returns the whole token. */
static char *sign_parts(const char *h, const char *p, enum sign_kind kind, EVP_PKEY *pkey,
			const char *secret)
{
	char *input = join3(h, p, NULL), *sig, *token;
	unsigned char mac[EVP_MAX_MD_SIZE], rsa[1024];
	unsigned int maclen = 0;
	size_t rsalen = sizeof(rsa);
	EVP_MD_CTX *md;

	switch (kind) {
	case SIGN_RS256:
		md = EVP_MD_CTX_new();
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
		    EVP_DigestSign(md, rsa, &rsalen, (unsigned char *)input, strlen(input)) != 1) {
			fprintf(stderr, "RS256 signing failed\n");
			exit(2);
		}
		EVP_MD_CTX_free(md);
		sig = b64url(rsa, rsalen);
		break;
	case SIGN_HS256:
		HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)input, strlen(input),
		     mac, &maclen);
		sig = b64url(mac, maclen);
		break;
	default:
		sig = strdup("");
		break;
	}
	token = join3(h, p, sig);
	free(input);
	free(sig);
	return token;
}

/* Mints a token; takes ownership of `hdr` and `claims`. */
static char *mint(json_t *hdr, json_t *claims, enum sign_kind kind, EVP_PKEY *pkey,
		  const char *secret)
{
	char *h = b64url_json(hdr), *p = b64url_json(claims);
	char *token = sign_parts(h, p, kind, pkey, secret);

	free(h);
	free(p);
	json_decref(hdr);
	json_decref(claims);
	return token;
}

static json_t *hdr_rs256(const char *kid)
{
	return json_pack("{s:s, s:s, s:s}", "alg", "RS256", "kid", kid, "typ", "JWT");
}

static json_t *good_claims(void)
{
	int64_t now = atomic_load(&fake_now);

	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:b, s:{s:s}}",
			 "iss", ISSUER, "aud", PROJECT, "sub", "user-1234", "user_id", "user-1234",
			 "auth_time", (json_int_t)(now - 60), "iat", (json_int_t)(now - 10),
			 "exp", (json_int_t)(now + 3600), "email", "ada@example.com",
			 "email_verified", 1, "firebase", "sign_in_provider", "password");
}

static char *mint_good(const char *kid, EVP_PKEY *pkey)
{
	return mint(hdr_rs256(kid), good_claims(), SIGN_RS256, pkey, NULL);
}

static json_t *claims_with(const char *key, json_t *value)
{
	json_t *c = good_claims();

	if (value)
		json_object_set_new(c, key, value);
	else
		json_object_del(c, key);
	return c;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* Verifies and checks the result and the reason (a substring), printing what differs. */
static void expect(struct firebase_auth *fa, const char *what, const char *token, int want_rc,
		   const char *want_reason)
{
	struct firebase_user u;
	char reason[256];
	int rc = firebase_auth_verify(fa, token, &u, reason, sizeof(reason));

	checks++;
	if (rc != want_rc || (want_reason && !strstr(reason, want_reason))) {
		failures++;
		fprintf(stderr, "FAIL %s: rc %d (%s) reason \"%s\"; wanted rc %d reason \"%s\"\n",
			what, rc, rw_strerror(rc), reason, want_rc, want_reason ? want_reason : "");
	}
	if (rc == RW_OK)
		CHECK(u.uid[0] != '\0');
	else
		CHECK(u.uid[0] == '\0');
	/* No reason ever quotes the token. */
	if (token && strlen(token) > 16)
		CHECK(!strstr(reason, token + strlen(token) - 16));
}

static void expect_refused(struct firebase_auth *fa, const char *what, char *token,
			   const char *reason)
{
	expect(fa, what, token, RW_EAUTH, reason);
	free(token);
}

/* The refresher works in the background: retries a verify until it passes (5 s at most). */
static int verify_until_ok(struct firebase_auth *fa, const char *token)
{
	struct firebase_user u;
	char reason[128];

	for (int i = 0; i < 500; i++) {
		if (firebase_auth_verify(fa, token, &u, reason, sizeof(reason)) == RW_OK)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static int wait_fetches(struct firebase_auth *fa, uint64_t n)
{
	for (int i = 0; i < 500; i++) {
		if (firebase_auth_fetch_count(fa) >= n)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static struct firebase_auth *new_verifier(int no_refresher, int emulator)
{
	char url[256], err[256] = "";
	struct firebase_auth_opts o = {
		.project_id = PROJECT,
		.certs_url = url,
		.clock = test_clock,
		.no_refresher = no_refresher,
		.emulator = emulator,
	};
	struct firebase_auth *fa;

	certs_url(url, sizeof(url));
	fa = firebase_auth_new(&o, err, sizeof(err));
	if (!fa) {
		fprintf(stderr, "firebase_auth_new: %s\n", err);
		exit(2);
	}
	return fa;
}

/* ---- the tests ----------------------------------------------------------------------- */

static void test_url_and_host_checks(void)
{
	static const struct {
		const char *url;
		int rc;
	} urls[] = {
		{ GOOGLE_CERTS_DEFAULT_URL, RW_OK },
		{ "https://certs.example.com/x509", RW_OK },
		{ "http://127.0.0.1:8080/certs", RW_OK },
		{ "http://127.9.9.9/certs", RW_OK },
		{ "http://localhost:1/certs", RW_OK },
		{ "http://[::1]:8080/certs", RW_OK },
		{ "http://www.googleapis.com/robot/v1/metadata/x509/x", RW_EUNSAFE },
		{ "http://10.0.0.1/certs", RW_EUNSAFE },
		{ "http://0.0.0.0:8080/certs", RW_EUNSAFE },
		{ "http://127.0.0.1.evil.example/certs", RW_EUNSAFE },
		{ "http://localhost.evil.example/certs", RW_EUNSAFE },
		{ "http://127.0.0.1@evil.example/certs", RW_EUNSAFE },
		{ "http://127.0.0.1:80@evil.example/certs", RW_EUNSAFE },
		{ "ftp://127.0.0.1/certs", RW_EUNSAFE },
		{ "file:///etc/passwd", RW_EINVAL },
		{ "not a url", RW_EINVAL },
		{ "", RW_EINVAL },
	};
	static const struct {
		const char *hostport;
		int rc;
	} hosts[] = {
		{ "127.0.0.1:9099", RW_OK },  { "localhost:9099", RW_OK },
		{ "[::1]:9099", RW_OK },      { "127.3.2.1:1", RW_OK },
		{ "LOCALHOST:65535", RW_OK }, { "10.0.0.1:9099", RW_EUNSAFE },
		{ "0.0.0.0:9099", RW_EUNSAFE }, { "example.com:9099", RW_EUNSAFE },
		{ "[::]:9099", RW_EUNSAFE },  { "localhost.evil.example:9099", RW_EUNSAFE },
		{ "127.0.0.1", RW_EINVAL },   { "127.0.0.1:", RW_EINVAL },
		{ "127.0.0.1:0", RW_EINVAL }, { "127.0.0.1:65536", RW_EINVAL },
		{ "127.0.0.1:+80", RW_EINVAL }, { "::1:9099", RW_EINVAL },
		{ ":9099", RW_EINVAL },       { "[::1]9099", RW_EINVAL },
		{ "", RW_EINVAL },
	};
	struct firebase_auth_opts o = { .project_id = PROJECT, .no_refresher = 1 };
	struct firebase_auth *fa;
	char err[256];

	for (size_t i = 0; i < RW_ARRAY_LEN(urls); i++) {
		int rc = google_certs_url_ok(urls[i].url, err, sizeof(err));

		if (rc != urls[i].rc)
			fprintf(stderr, "url \"%s\": %d, wanted %d\n", urls[i].url, rc, urls[i].rc);
		CHECK(rc == urls[i].rc);
	}
	for (size_t i = 0; i < RW_ARRAY_LEN(hosts); i++) {
		int rc = firebase_auth_emulator_host_ok(hosts[i].hostport);

		if (rc != hosts[i].rc)
			fprintf(stderr, "emulator host \"%s\": %d, wanted %d\n", hosts[i].hostport,
				rc, hosts[i].rc);
		CHECK(rc == hosts[i].rc);
	}
	CHECK(firebase_auth_emulator_host_ok(NULL) == RW_EINVAL);

	/* The constructor refuses what the checks refuse. */
	o.certs_url = "http://203.0.113.7/certs";
	fa = firebase_auth_new(&o, err, sizeof(err));
	CHECK(!fa && strstr(err, "https"));
	o.certs_url = NULL;
	o.project_id = "";
	CHECK(!firebase_auth_new(&o, err, sizeof(err)));
	o.project_id = "bad/project";
	CHECK(!firebase_auth_new(&o, err, sizeof(err)));
	o.project_id = PROJECT;
	o.skew_s = FIREBASE_MAX_SKEW_S + 1;
	CHECK(!firebase_auth_new(&o, err, sizeof(err)));
	o.skew_s = 0;
	fa = firebase_auth_new(&o, err, sizeof(err)); /* the default https URL, never fetched */
	CHECK(fa != NULL);
	CHECK(fa && firebase_auth_fetch_count(fa) == 0);
	firebase_auth_free(fa);
}

/* A token of exactly `total` bytes, valid, padded with a claim (and a header field). */
static char *mint_exact_length(size_t total)
{
	for (int hpad = 0; hpad < 4; hpad++) {
		json_t *hdr = hdr_rs256("kid-a");
		char *h;
		char padding[8] = "";

		memset(padding, 'h', (size_t)hpad);
		json_object_set_new(hdr, "x", json_string(padding));
		h = b64url_json(hdr);
		for (size_t ppad = 0; ppad < total; ppad++) {
			json_t *claims = good_claims();
			char *p, *pad = malloc(ppad + 1), *token;
			size_t len;

			memset(pad, 'p', ppad);
			pad[ppad] = '\0';
			json_object_set_new(claims, "pad", json_string(pad));
			free(pad);
			p = b64url_json(claims);
			json_decref(claims);
			len = strlen(h) + 1 + strlen(p) + 1 + 342; /* 2048-bit signature */
			if (len == total) {
				token = sign_parts(h, p, SIGN_RS256, key_a.pkey, NULL);
				free(p);
				free(h);
				json_decref(hdr);
				return token;
			}
			free(p);
			if (len > total)
				break;
		}
		free(h);
		json_decref(hdr);
	}
	return NULL;
}

static void test_refusals(void)
{
	struct firebase_auth *fa = new_verifier(1, 0);
	int64_t now = atomic_load(&fake_now);
	struct firebase_user u;
	char reason[256], *tok, *h, *p, *big;
	json_t *c;

	CHECK(firebase_auth_refresh_now(fa) == RW_OK);
	CHECK(firebase_auth_fetch_count(fa) == 1);

	/* The valid token, with everything filled in. */
	tok = mint_good("kid-a", key_a.pkey);
	CHECK(firebase_auth_verify(fa, tok, &u, reason, sizeof(reason)) == RW_OK);
	CHECK(!strcmp(u.uid, "user-1234"));
	CHECK(!strcmp(u.email, "ada@example.com"));
	CHECK(u.email_verified == 1);
	CHECK(reason[0] == '\0');
	free(tok);

	/* Algorithm confusion: alg none; HS256 keyed with the public key PEM (which libjwt 1.10
	 * itself accepts); HS256 keyed with the certificate PEM. */
	expect_refused(fa, "alg none",
		       mint(json_pack("{s:s, s:s, s:s}", "alg", "none", "kid", "kid-a", "typ", "JWT"),
			    good_claims(), SIGN_NONE, NULL, NULL),
		       "unsigned token (alg none) refused");
	expect_refused(fa, "alg None",
		       mint(json_pack("{s:s, s:s}", "alg", "None", "kid", "kid-a"), good_claims(),
			    SIGN_NONE, NULL, NULL),
		       "alg must be RS256");
	expect_refused(fa, "HS256 with the public key PEM",
		       mint(json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", "kid-a", "typ", "JWT"),
			    good_claims(), SIGN_HS256, NULL, key_a.pub_pem),
		       "alg must be RS256");
	expect_refused(fa, "HS256 with the certificate PEM",
		       mint(json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", "kid-a", "typ", "JWT"),
			    good_claims(), SIGN_HS256, NULL, key_a.cert_pem),
		       "alg must be RS256");
	expect_refused(fa, "RS512",
		       mint(json_pack("{s:s, s:s}", "alg", "RS512", "kid", "kid-a"), good_claims(),
			    SIGN_RS256, key_a.pkey, NULL),
		       "alg must be RS256");
	expect_refused(fa, "alg missing",
		       mint(json_pack("{s:s}", "kid", "kid-a"), good_claims(), SIGN_RS256, key_a.pkey,
			    NULL),
		       "missing alg");
	expect_refused(fa, "alg not a string",
		       mint(json_pack("{s:i, s:s}", "alg", 256, "kid", "kid-a"), good_claims(),
			    SIGN_RS256, key_a.pkey, NULL),
		       "missing alg");

	/* Keys. */
	expect_refused(fa, "unknown kid", mint_good("kid-nobody", key_a.pkey), "unknown kid");
	expect_refused(fa, "kid missing",
		       mint(json_pack("{s:s}", "alg", "RS256"), good_claims(), SIGN_RS256, key_a.pkey,
			    NULL),
		       "missing kid");
	expect_refused(fa, "crit header",
		       mint(json_pack("{s:s, s:s, s:[s]}", "alg", "RS256", "kid", "kid-a", "crit",
				      "exp"),
			    good_claims(), SIGN_RS256, key_a.pkey, NULL),
		       "crit header not supported");
	expect_refused(fa, "signed by another key with the same kid",
		       mint_good("kid-a", key_evil.pkey), "bad signature");

	/* Tampered payload: a valid token with the payload of another. */
	tok = mint_good("kid-a", key_a.pkey);
	h = strdup(tok);
	*strchr(h, '.') = '\0';
	c = claims_with("sub", json_string("admin"));
	p = b64url_json(c);
	json_decref(c);
	{
		char *sig = strrchr(tok, '.') + 1;
		size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
		char *forged = malloc(n);

		snprintf(forged, n, "%s.%s.%s", h, p, sig);
		expect_refused(fa, "tampered payload", forged, "bad signature");
	}
	free(h);
	free(p);
	/* A truncated signature and a flipped signature byte. */
	{
		char *cut = strdup(tok), *flip = strdup(tok);
		char *last = flip + strlen(flip) - 5;

		cut[strlen(cut) - 4] = '\0';
		*last = *last == 'A' ? 'B' : 'A';
		expect_refused(fa, "truncated signature", cut, NULL);
		expect_refused(fa, "flipped signature byte", flip, "bad signature");
	}
	expect_refused(fa, "no signature", sign_parts("eyJhbGciOiJSUzI1NiIsImtpZCI6ImtpZC1hIn0",
						      "e30", SIGN_NONE, NULL, NULL),
		       "signature is not base64url");
	free(tok);

	/* Claims. */
	expect_refused(fa, "expired",
		       mint(hdr_rs256("kid-a"),
			    claims_with("exp", json_integer(now - FIREBASE_DEFAULT_SKEW_S - 1)),
			    SIGN_RS256, key_a.pkey, NULL),
		       "expired");
	expect_refused(fa, "expired exactly at the skew",
		       mint(hdr_rs256("kid-a"),
			    claims_with("exp", json_integer(now - FIREBASE_DEFAULT_SKEW_S)),
			    SIGN_RS256, key_a.pkey, NULL),
		       "expired");
	tok = mint(hdr_rs256("kid-a"),
		   claims_with("exp", json_integer(now - FIREBASE_DEFAULT_SKEW_S + 5)), SIGN_RS256,
		   key_a.pkey, NULL);
	expect(fa, "expired by less than the skew", tok, RW_OK, NULL);
	free(tok);
	expect_refused(fa, "iat in the future beyond skew",
		       mint(hdr_rs256("kid-a"),
			    claims_with("iat", json_integer(now + FIREBASE_DEFAULT_SKEW_S + 1)),
			    SIGN_RS256, key_a.pkey, NULL),
		       "iat in the future");
	tok = mint(hdr_rs256("kid-a"),
		   claims_with("iat", json_integer(now + FIREBASE_DEFAULT_SKEW_S - 5)), SIGN_RS256,
		   key_a.pkey, NULL);
	expect(fa, "iat in the future within skew", tok, RW_OK, NULL);
	free(tok);
	expect_refused(fa, "auth_time in the future",
		       mint(hdr_rs256("kid-a"),
			    claims_with("auth_time",
					json_integer(now + FIREBASE_DEFAULT_SKEW_S + 1)),
			    SIGN_RS256, key_a.pkey, NULL),
		       "auth_time in the future");
	expect_refused(fa, "auth_time a string",
		       mint(hdr_rs256("kid-a"), claims_with("auth_time", json_string("1")),
			    SIGN_RS256, key_a.pkey, NULL),
		       "auth_time is not a number");
	tok = mint(hdr_rs256("kid-a"), claims_with("auth_time", NULL), SIGN_RS256, key_a.pkey,
		   NULL);
	expect(fa, "no auth_time", tok, RW_OK, NULL);
	free(tok);
	expect_refused(fa, "exp missing",
		       mint(hdr_rs256("kid-a"), claims_with("exp", NULL), SIGN_RS256, key_a.pkey,
			    NULL),
		       "missing exp");
	expect_refused(fa, "exp a string",
		       mint(hdr_rs256("kid-a"), claims_with("exp", json_string("9999999999")),
			    SIGN_RS256, key_a.pkey, NULL),
		       "missing exp");
	expect_refused(fa, "exp a real",
		       mint(hdr_rs256("kid-a"), claims_with("exp", json_real(9999999999.0)),
			    SIGN_RS256, key_a.pkey, NULL),
		       "missing exp");
	expect_refused(fa, "iat missing",
		       mint(hdr_rs256("kid-a"), claims_with("iat", NULL), SIGN_RS256, key_a.pkey,
			    NULL),
		       "missing iat");
	expect_refused(fa, "wrong aud",
		       mint(hdr_rs256("kid-a"), claims_with("aud", json_string("other-project")),
			    SIGN_RS256, key_a.pkey, NULL),
		       "wrong aud");
	expect_refused(fa, "aud as an array",
		       mint(hdr_rs256("kid-a"), claims_with("aud", json_pack("[s]", PROJECT)),
			    SIGN_RS256, key_a.pkey, NULL),
		       "wrong aud");
	expect_refused(fa, "aud missing",
		       mint(hdr_rs256("kid-a"), claims_with("aud", NULL), SIGN_RS256, key_a.pkey,
			    NULL),
		       "wrong aud");
	expect_refused(fa, "wrong iss",
		       mint(hdr_rs256("kid-a"),
			    claims_with("iss", json_string("https://securetoken.google.com/other")),
			    SIGN_RS256, key_a.pkey, NULL),
		       "wrong iss");
	expect_refused(fa, "iss with a trailing slash",
		       mint(hdr_rs256("kid-a"), claims_with("iss", json_string(ISSUER "/")),
			    SIGN_RS256, key_a.pkey, NULL),
		       "wrong iss");
	expect_refused(fa, "empty sub",
		       mint(hdr_rs256("kid-a"), claims_with("sub", json_string("")), SIGN_RS256,
			    key_a.pkey, NULL),
		       "empty sub");
	expect_refused(fa, "sub missing",
		       mint(hdr_rs256("kid-a"), claims_with("sub", NULL), SIGN_RS256, key_a.pkey,
			    NULL),
		       "missing sub");
	expect_refused(fa, "sub a number",
		       mint(hdr_rs256("kid-a"), claims_with("sub", json_integer(42)), SIGN_RS256,
			    key_a.pkey, NULL),
		       "missing sub");
	expect_refused(fa, "sub with a newline",
		       mint(hdr_rs256("kid-a"), claims_with("sub", json_string("a\nb")), SIGN_RS256,
			    key_a.pkey, NULL),
		       "sub has control characters");
	{
		char sub[3 * FIREBASE_MAX_UID_CHARS + 4];

		memset(sub, 'u', FIREBASE_MAX_UID_CHARS + 1);
		sub[FIREBASE_MAX_UID_CHARS + 1] = '\0';
		expect_refused(fa, "sub of 129 characters",
			       mint(hdr_rs256("kid-a"), claims_with("sub", json_string(sub)),
				    SIGN_RS256, key_a.pkey, NULL),
			       "sub longer than 128 characters");
		sub[FIREBASE_MAX_UID_CHARS] = '\0';
		tok = mint(hdr_rs256("kid-a"), claims_with("sub", json_string(sub)), SIGN_RS256,
			   key_a.pkey, NULL);
		CHECK(firebase_auth_verify(fa, tok, &u, reason, sizeof(reason)) == RW_OK);
		CHECK(strlen(u.uid) == FIREBASE_MAX_UID_CHARS);
		free(tok);
		/* 128 characters of two bytes each: characters are counted, not bytes. */
		sub[0] = '\0';
		for (int i = 0; i < FIREBASE_MAX_UID_CHARS; i++)
			strcat(sub, "\xc3\xa9");
		tok = mint(hdr_rs256("kid-a"), claims_with("sub", json_string(sub)), SIGN_RS256,
			   key_a.pkey, NULL);
		CHECK(firebase_auth_verify(fa, tok, &u, reason, sizeof(reason)) == RW_OK);
		CHECK(!strcmp(u.uid, sub));
		free(tok);
		strcat(sub, "\xc3\xa9");
		expect_refused(fa, "sub of 129 two-byte characters",
			       mint(hdr_rs256("kid-a"), claims_with("sub", json_string(sub)),
				    SIGN_RS256, key_a.pkey, NULL),
			       "sub longer than 128 characters");
	}
	/* An oversized email is dropped, not trusted and not fatal. */
	big = malloc(FIREBASE_MAX_EMAIL + 2);
	memset(big, 'e', FIREBASE_MAX_EMAIL + 1);
	big[FIREBASE_MAX_EMAIL + 1] = '\0';
	tok = mint(hdr_rs256("kid-a"), claims_with("email", json_string(big)), SIGN_RS256,
		   key_a.pkey, NULL);
	CHECK(firebase_auth_verify(fa, tok, &u, reason, sizeof(reason)) == RW_OK);
	CHECK(u.email[0] == '\0');
	free(tok);
	free(big);

	/* Size: exactly the cap is read; one byte more is refused unread. */
	tok = mint_exact_length(FIREBASE_MAX_TOKEN);
	CHECK(tok != NULL);
	if (tok) {
		char *over = malloc(FIREBASE_MAX_TOKEN + 2);

		CHECK(strlen(tok) == FIREBASE_MAX_TOKEN);
		expect(fa, "token exactly at the cap", tok, RW_OK, NULL);
		snprintf(over, FIREBASE_MAX_TOKEN + 2, "%sA", tok);
		expect_refused(fa, "token one byte over the cap", over, "token too long");
		free(tok);
	}

	/* Garbage. */
	expect(fa, "NULL", NULL, RW_EAUTH, "missing token");
	expect(fa, "empty", "", RW_EAUTH, "missing token");
	expect(fa, "one segment", "abc", RW_EAUTH, "not three segments");
	expect(fa, "two segments", "abc.def", RW_EAUTH, "not three segments");
	expect(fa, "four segments", "a.b.c.d", RW_EAUTH, "not three segments");
	expect(fa, "dots only", "..", RW_EAUTH, "header is not base64url");
	expect(fa, "bad base64 header", "!!!.e30.AAAA", RW_EAUTH, "header is not base64url");
	expect(fa, "padded base64 header", "e30=.e30.AAAA", RW_EAUTH, "header is not base64url");
	expect(fa, "standard-alphabet base64", "e3+/.e30.AAAA", RW_EAUTH,
	       "header is not base64url");
	h = b64url("not json", 8);
	tok = join3(h, "e30", "AAAA");
	expect(fa, "header not JSON", tok, RW_EAUTH, "header is not a JSON object");
	free(h);
	free(tok);
	h = b64url("[\"RS256\"]", 9);
	tok = join3(h, "e30", "AAAA");
	expect(fa, "header a JSON array", tok, RW_EAUTH, "header is not a JSON object");
	free(h);
	free(tok);
	/* Duplicate names are refused: no guessing which alg counts. */
	h = b64url("{\"alg\":\"RS256\",\"kid\":\"kid-a\",\"alg\":\"none\"}", 43);
	tok = join3(h, "e30", "");
	expect(fa, "duplicate alg", tok, RW_EAUTH, "header is not a JSON object");
	free(h);
	free(tok);
	/* A correctly signed payload that is not base64url or not JSON. */
	c = hdr_rs256("kid-a");
	h = b64url_json(c);
	json_decref(c);
	expect_refused(fa, "payload not base64url",
		       sign_parts(h, "!!!", SIGN_RS256, key_a.pkey, NULL),
		       "payload is not base64url");
	p = b64url("[1,2]", 5);
	expect_refused(fa, "payload a JSON array", sign_parts(h, p, SIGN_RS256, key_a.pkey, NULL),
		       "payload is not a JSON object");
	free(p);
	free(h);
	firebase_auth_free(fa);
}

/* libjwt, a real JWT implementation, mints a token we accept; and shows why we do not let it
 * verify: it accepts HS256 keyed with the RSA public key PEM. */
static void test_libjwt_interop(void)
{
	struct firebase_auth *fa = new_verifier(1, 0);
	json_t *claims = good_claims();
	char *claims_text = json_dumps(claims, JSON_COMPACT);
	jwt_t *jwt = NULL, *decoded = NULL;
	char *tok;

	CHECK(firebase_auth_refresh_now(fa) == RW_OK);
	CHECK(jwt_new(&jwt) == 0);
	CHECK(jwt_add_grants_json(jwt, claims_text) == 0);
	CHECK(jwt_add_header(jwt, "kid", "kid-a") == 0);
	CHECK(jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)key_a.priv_pem,
			  (int)strlen(key_a.priv_pem)) == 0);
	tok = jwt_encode_str(jwt);
	CHECK(tok != NULL);
	expect(fa, "libjwt RS256 token", tok, RW_OK, NULL);
	free(tok);
	jwt_free(jwt);

	CHECK(jwt_new(&jwt) == 0);
	CHECK(jwt_add_grants_json(jwt, claims_text) == 0);
	CHECK(jwt_add_header(jwt, "kid", "kid-a") == 0);
	CHECK(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key_a.pub_pem,
			  (int)strlen(key_a.pub_pem)) == 0);
	tok = jwt_encode_str(jwt);
	if (jwt_decode(&decoded, tok, (const unsigned char *)key_a.pub_pem,
		       (int)strlen(key_a.pub_pem)) == 0)
		printf("note: libjwt %s accepts HS256 keyed with the RSA public key PEM\n",
		       "1.10");
	jwt_free(decoded);
	expect(fa, "libjwt HS256 keyed with the public key PEM", tok, RW_EAUTH,
	       "alg must be RS256");
	free(tok);
	jwt_free(jwt);
	free(claims_text);
	json_decref(claims);
	firebase_auth_free(fa);
}

/* N verifies make one fetch; the refresher fetches again before max-age runs out, and after
 * a failed fetch retries; an expired set is not used. */
static void test_cache_max_age(void)
{
	int64_t t0 = atomic_load(&fake_now);
	int base = atomic_load(&srv.requests);
	struct firebase_auth *fa;
	char *tok;

	srv_set(SERVE_OK, 0);
	fa = new_verifier(0, 0);
	CHECK(wait_fetches(fa, 1));
	/* The refresher starts with a fetch; until it lands a verify may say "not available". */
	tok = mint_good("kid-a", key_a.pkey);
	CHECK(verify_until_ok(fa, tok));
	for (int i = 0; i < 100; i++)
		expect(fa, "cached", tok, RW_OK, NULL);
	sleep_ms(100);
	CHECK(firebase_auth_fetch_count(fa) == 1);
	CHECK(atomic_load(&srv.requests) - base == 1);

	/* Nine tenths into max-age (less at most GOOGLE_CERTS_MAX_LEAD_S) the refresher fetches
	 * ahead of expiry, while the current set goes on verifying. */
	atomic_store(&fake_now, t0 + MAX_AGE - GOOGLE_CERTS_MAX_LEAD_S - 1);
	expect(fa, "before the refresh is due", tok, RW_OK, NULL);
	sleep_ms(100);
	CHECK(firebase_auth_fetch_count(fa) == 1);
	atomic_store(&fake_now, t0 + MAX_AGE - GOOGLE_CERTS_MAX_LEAD_S + 1);
	expect(fa, "refresh due, old set still valid", tok, RW_OK, NULL);
	CHECK(wait_fetches(fa, 2));
	sleep_ms(100);
	CHECK(firebase_auth_fetch_count(fa) == 2);
	CHECK(atomic_load(&srv.requests) - base == 2);

	/* The server fails: the set expires and is not used past max-age. */
	srv_set(SERVE_500, 0);
	atomic_store(&fake_now, t0 + 2 * MAX_AGE + 10);
	free(tok);
	tok = mint_good("kid-a", key_a.pkey);
	expect(fa, "expired certificate set", tok, RW_EAGAIN, "signing certificates not available");
	CHECK(wait_fetches(fa, 3));
	sleep_ms(100);
	CHECK(firebase_auth_fetch_count(fa) == 3);
	{
		char err[256];

		firebase_auth_last_error(fa, err, sizeof(err));
		CHECK(strstr(err, "HTTP 500") != NULL);
	}
	/* It comes back: the retry (after GOOGLE_CERTS_RETRY_MIN_S) installs a fresh set. */
	srv_set(SERVE_OK, 0);
	atomic_store(&fake_now, t0 + 2 * MAX_AGE + 10 + GOOGLE_CERTS_RETRY_MIN_S);
	expect(fa, "retry due", tok, RW_EAGAIN, "signing certificates not available");
	CHECK(wait_fetches(fa, 4));
	CHECK(verify_until_ok(fa, tok));
	expect(fa, "after the retry", tok, RW_OK, NULL);
	free(tok);
	firebase_auth_free(fa);
	atomic_store(&fake_now, t0);
}

/* An unknown kid refetches, at most once a minute; a rotated-in key is picked up that way. */
static void test_unknown_kid_refetch(void)
{
	int64_t t0 = atomic_load(&fake_now);
	int base = atomic_load(&srv.requests);
	struct firebase_auth *fa;
	char *tok_a, *tok_b, *tok_x;

	srv_set(SERVE_OK, 0);
	fa = new_verifier(0, 0);
	tok_a = mint_good("kid-a", key_a.pkey);
	tok_b = mint_good("kid-b", key_b.pkey);
	tok_x = mint_good("kid-nobody", key_a.pkey);
	CHECK(verify_until_ok(fa, tok_a));
	CHECK(firebase_auth_fetch_count(fa) == 1);

	/* Within a minute of the last fetch: refused at once, nothing fetched. */
	atomic_store(&fake_now, t0 + 10);
	for (int i = 0; i < 20; i++)
		expect(fa, "unknown kid, rate limited", tok_x, RW_EAUTH, "unknown kid");
	sleep_ms(300);
	CHECK(firebase_auth_fetch_count(fa) == 1);

	/* A minute later the next unknown kid refetches, once. */
	atomic_store(&fake_now, t0 + GOOGLE_CERTS_KID_REFETCH_S + 1);
	expect(fa, "unknown kid after a minute", tok_x, RW_EAUTH, "unknown kid");
	CHECK(wait_fetches(fa, 2));
	atomic_store(&fake_now, t0 + GOOGLE_CERTS_KID_REFETCH_S + 2);
	for (int i = 0; i < 20; i++)
		expect(fa, "unknown kid again", tok_x, RW_EAUTH, "unknown kid");
	sleep_ms(300);
	CHECK(firebase_auth_fetch_count(fa) == 2);

	/* Google rotates in kid-b. Its first token is refused (the minute has not passed) and
	 * the refetch deferred; a minute after the last fetch a token with kid-b pokes it. */
	srv_set(SERVE_OK, 1);
	atomic_store(&fake_now, t0 + GOOGLE_CERTS_KID_REFETCH_S + 30);
	expect(fa, "rotated key, too soon", tok_b, RW_EAUTH, "unknown kid");
	sleep_ms(300);
	CHECK(firebase_auth_fetch_count(fa) == 2);
	atomic_store(&fake_now, t0 + 2 * GOOGLE_CERTS_KID_REFETCH_S + 2);
	expect(fa, "rotated key, refetch begins", tok_b, RW_EAUTH, "unknown kid");
	CHECK(wait_fetches(fa, 3));
	CHECK(verify_until_ok(fa, tok_b));
	expect(fa, "old key still published", tok_a, RW_OK, NULL);
	sleep_ms(100);
	CHECK(firebase_auth_fetch_count(fa) == 3);
	CHECK(atomic_load(&srv.requests) - base == 3);

	free(tok_a);
	free(tok_b);
	free(tok_x);
	firebase_auth_free(fa);
	srv_set(SERVE_OK, 0);
	atomic_store(&fake_now, t0);
}

/* Hostile or broken certificate documents are refused whole; the previous set stays. */
static void test_bad_documents(void)
{
	static const struct {
		enum serve_mode mode;
		int rc;
		const char *msg;
	} cases[] = {
		{ SERVE_500, RW_EIO, "HTTP 500" },
		{ SERVE_JUNK, RW_EPROTO, "not a JSON object" },
		{ SERVE_HUGE, RW_ETOOBIG, "larger than" },
		{ SERVE_MANY, RW_ETOOBIG, "more than" },
		{ SERVE_WEAK, RW_EUNSAFE, "at least 2048 bits" },
	};
	int64_t t0 = atomic_load(&fake_now);
	struct firebase_auth *fa = new_verifier(1, 0);
	char err[256], *tok = mint_good("kid-a", key_a.pkey);

	srv_set(SERVE_OK, 0);
	CHECK(firebase_auth_refresh_now(fa) == RW_OK);
	for (size_t i = 0; i < RW_ARRAY_LEN(cases); i++) {
		int rc;

		srv_set(cases[i].mode, 0);
		rc = firebase_auth_refresh_now(fa);
		firebase_auth_last_error(fa, err, sizeof(err));
		if (rc != cases[i].rc || !strstr(err, cases[i].msg))
			fprintf(stderr, "document %d: rc %d \"%s\"\n", (int)cases[i].mode, rc, err);
		CHECK(rc == cases[i].rc);
		CHECK(strstr(err, cases[i].msg) != NULL);
		expect(fa, "previous set kept", tok, RW_OK, NULL);
	}

	/* Without Cache-Control the set lives GOOGLE_CERTS_MIN_TTL_S. */
	srv_set(SERVE_NO_CACHE, 0);
	CHECK(firebase_auth_refresh_now(fa) == RW_OK);
	firebase_auth_last_error(fa, err, sizeof(err));
	CHECK(err[0] == '\0');
	atomic_store(&fake_now, t0 + GOOGLE_CERTS_MIN_TTL_S - 1);
	expect(fa, "short-lived set", tok, RW_OK, NULL);
	atomic_store(&fake_now, t0 + GOOGLE_CERTS_MIN_TTL_S);
	expect(fa, "short-lived set expired", tok, RW_EAGAIN, "signing certificates not available");
	atomic_store(&fake_now, t0);

	/* A server that is not there. */
	{
		struct firebase_auth_opts o = { .project_id = PROJECT, .no_refresher = 1,
						.certs_url = "http://127.0.0.1:1/certs" };
		struct firebase_auth *dead = firebase_auth_new(&o, err, sizeof(err));

		CHECK(dead != NULL);
		CHECK(firebase_auth_refresh_now(dead) == RW_EIO);
		expect(dead, "no certificates ever", tok, RW_EAGAIN,
		       "signing certificates not available");
		firebase_auth_free(dead);
	}
	srv_set(SERVE_OK, 0);
	free(tok);
	firebase_auth_free(fa);
}

/* Emulator mode: the emulator's unsigned tokens, claims still checked; nothing else. */
static void test_emulator_mode(void)
{
	struct firebase_auth *emu = new_verifier(1, 1), *real = new_verifier(1, 0);
	json_t *none_hdr = json_pack("{s:s, s:s}", "alg", "none", "typ", "JWT");
	int64_t now = atomic_load(&fake_now);
	char *unsigned_tok;

	CHECK(firebase_auth_refresh_now(real) == RW_OK);
	CHECK(firebase_auth_refresh_now(emu) == RW_OK);
	CHECK(firebase_auth_fetch_count(emu) == 0);

	json_incref(none_hdr);
	unsigned_tok = mint(none_hdr, good_claims(), SIGN_NONE, NULL, NULL);
	expect(emu, "emulator token in emulator mode", unsigned_tok, RW_OK, NULL);
	expect(real, "emulator token outside emulator mode", unsigned_tok, RW_EAUTH,
	       "unsigned token (alg none) refused");
	free(unsigned_tok);

	json_incref(none_hdr);
	expect_refused(emu, "emulator token, wrong aud",
		       mint(none_hdr, claims_with("aud", json_string("other")), SIGN_NONE, NULL,
			    NULL),
		       "wrong aud");
	json_incref(none_hdr);
	expect_refused(emu, "emulator token, wrong iss",
		       mint(none_hdr, claims_with("iss", json_string("https://evil.example/")),
			    SIGN_NONE, NULL, NULL),
		       "wrong iss");
	json_incref(none_hdr);
	expect_refused(emu, "emulator token, empty sub",
		       mint(none_hdr, claims_with("sub", json_string("")), SIGN_NONE, NULL, NULL),
		       "empty sub");
	json_incref(none_hdr);
	expect_refused(emu, "emulator token, expired",
		       mint(none_hdr, claims_with("exp", json_integer(now - 3600)), SIGN_NONE, NULL,
			    NULL),
		       "expired");
	json_incref(none_hdr);
	expect_refused(emu, "emulator token with a signature",
		       mint(none_hdr, good_claims(), SIGN_HS256, NULL, "secret"),
		       "unsigned token carries a signature");
	expect_refused(emu, "signed token in emulator mode", mint_good("kid-a", key_a.pkey),
		       "emulator mode accepts only unsigned tokens");
	expect_refused(emu, "HS256 in emulator mode",
		       mint(json_pack("{s:s}", "alg", "HS256"), good_claims(), SIGN_HS256, NULL,
			    "secret"),
		       "emulator mode accepts only unsigned tokens");
	json_decref(none_hdr);
	firebase_auth_free(emu);
	firebase_auth_free(real);
}

/* Verifies on several threads while the set is replaced underneath them. */
struct hammer {
	struct firebase_auth *fa;
	const char *tok;
	int ok;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	struct firebase_user u;
	char reason[128];

	for (int i = 0; i < 200; i++)
		if (firebase_auth_verify(h->fa, h->tok, &u, reason, sizeof(reason)) == RW_OK)
			h->ok++;
	return NULL;
}

static void test_concurrent_verify(void)
{
	struct firebase_auth *fa = new_verifier(0, 0);
	char *tok = mint_good("kid-a", key_a.pkey);
	struct hammer h[4];
	pthread_t th[4];

	srv_set(SERVE_OK, 0);
	CHECK(firebase_auth_refresh_now(fa) == RW_OK);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ .fa = fa, .tok = tok };
		pthread_create(&th[i], NULL, hammer_main, &h[i]);
	}
	for (int i = 0; i < 5; i++)
		CHECK(firebase_auth_refresh_now(fa) == RW_OK);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(h[i].ok == 200);
	}
	free(tok);
	firebase_auth_free(fa);
}

int main(void)
{
	if (sodium_init() < 0)
		return 2;
	log_init("test", LOG_LVL_WARN);
	atomic_store(&fake_now, (int64_t)time(NULL));
	key_make(&key_a, 2048);
	key_make(&key_b, 2048);
	key_make(&key_evil, 2048);
	key_make(&key_weak, 1024);
	srv_start();

	test_url_and_host_checks();
	test_refusals();
	test_libjwt_interop();
	test_cache_max_age();
	test_unknown_kid_refetch();
	test_bad_documents();
	test_emulator_mode();
	test_concurrent_verify();

	srv_stop();
	key_release(&key_a);
	key_release(&key_b);
	key_release(&key_evil);
	key_release(&key_weak);
	printf("test_firebase_auth: %d checks, %d failed\n", checks, failures);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
