/* test_bundle_fetch: the fetch policy (agent/bundle_fetch.c) without a network: host allowlist
 * matching, loopback detection, which hosts may see GITHUB_TOKEN, s3:// URL building, the
 * refusals that happen before any connection, and local files (hash, size cap one past the
 * edge). The transfers themselves are tested end to end in tests/e2e-bundle/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/bundle_fetch.h"
#include "common/rw.h"

static int passed, failed;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (cond) {                                                     \
			passed++;                                               \
		} else {                                                        \
			failed++;                                               \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);             \
			printf(__VA_ARGS__);                                    \
			printf("\n");                                           \
		}                                                               \
	} while (0)

static void test_allowlist(void)
{
	const char *list[] = { "example.com", "*.bundles.example.org", "[::1]", "127.0.0.1" };
	size_t n = RW_ARRAY_LEN(list);

	CHECK(bundle_fetch_host_allowed("example.com", list, n), "exact");
	CHECK(bundle_fetch_host_allowed("EXAMPLE.com.", list, n), "case and trailing dot");
	CHECK(!bundle_fetch_host_allowed("www.example.com", list, n), "exact is not a suffix");
	CHECK(!bundle_fetch_host_allowed("example.com.evil.net", list, n), "no prefix match");
	CHECK(bundle_fetch_host_allowed("a.bundles.example.org", list, n), "wildcard, one level");
	CHECK(bundle_fetch_host_allowed("b.a.bundles.example.org", list, n), "wildcard, two levels");
	CHECK(!bundle_fetch_host_allowed("bundles.example.org", list, n),
	      "wildcard does not match the bare suffix");
	CHECK(!bundle_fetch_host_allowed("evilbundles.example.org", list, n),
	      "wildcard needs a dot boundary");
	CHECK(bundle_fetch_host_allowed("::1", list, n), "IPv6 without brackets");
	CHECK(bundle_fetch_host_allowed("[::1]", list, n), "IPv6 with brackets");
	CHECK(!bundle_fetch_host_allowed("localhost", list, n), "loopback names are not implied");
	CHECK(!bundle_fetch_host_allowed("example.com", NULL, 0), "empty list allows nothing");
	{
		const char *star[] = { "*.", "*" };

		CHECK(!bundle_fetch_host_allowed("com", star, 2), "bare wildcards match nothing");
	}
}

static void test_loopback(void)
{
	const char *yes[] = { "localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]",
			      "::ffff:127.0.0.1" };
	const char *no[] = { "128.0.0.1", "10.0.0.1", "localhost.evil.com", "127.0.0.1.nip.io",
			     "0x7f000001", "2130706433", "::2", "example.com" };

	for (size_t i = 0; i < RW_ARRAY_LEN(yes); i++)
		CHECK(bundle_fetch_host_is_loopback(yes[i]), "%s is loopback", yes[i]);
	for (size_t i = 0; i < RW_ARRAY_LEN(no); i++)
		CHECK(!bundle_fetch_host_is_loopback(no[i]), "%s is not loopback", no[i]);
}

static void test_github_hosts(void)
{
	CHECK(bundle_fetch_github_token_host("github.com"), "github.com");
	CHECK(bundle_fetch_github_token_host("API.GitHub.com"), "api.github.com");
	CHECK(!bundle_fetch_github_token_host("codeload.github.com"), "codeload never");
	CHECK(!bundle_fetch_github_token_host("objects.githubusercontent.com"), "objects never");
	CHECK(!bundle_fetch_github_token_host("github.com.evil.net"), "suffix trick");
	CHECK(!bundle_fetch_github_token_host("evilgithub.com"), "prefix trick");
}

static void test_s3_urls(void)
{
	char out[512];

	CHECK(bundle_fetch_s3_url("s3://bucket/dir/key.zip", "eu-west-1", NULL, out, sizeof(out)) == 0 &&
	      !strcmp(out, "https://bucket.s3.eu-west-1.amazonaws.com/dir/key.zip"),
	      "virtual-host style: %s", out);
	CHECK(bundle_fetch_s3_url("s3://my.bucket/k", NULL, NULL, out, sizeof(out)) == 0 &&
	      !strcmp(out, "https://s3." BUNDLE_S3_DEFAULT_REGION ".amazonaws.com/my.bucket/k"),
	      "dotted bucket, path style, default region: %s", out);
	CHECK(bundle_fetch_s3_url("s3://b/k", "us-east-1", "http://127.0.0.1:9000/", out,
				  sizeof(out)) == 0 && !strcmp(out, "http://127.0.0.1:9000/b/k"),
	      "endpoint, path style: %s", out);
	CHECK(bundle_fetch_s3_url("s3://b/a b/ü+&.zip", "auto", "https://storage.googleapis.com",
				  out, sizeof(out)) == 0 &&
	      !strcmp(out, "https://storage.googleapis.com/b/a%20b/%C3%BC%2B%26.zip"),
	      "key encoded for SigV4: %s", out);
	CHECK(bundle_fetch_s3_url("s3://bucket", NULL, NULL, out, sizeof(out)) == RW_EINVAL, "no key");
	CHECK(bundle_fetch_s3_url("s3://bucket/", NULL, NULL, out, sizeof(out)) == RW_EINVAL,
	      "empty key");
	CHECK(bundle_fetch_s3_url("s3:///key", NULL, NULL, out, sizeof(out)) == RW_EINVAL,
	      "no bucket");
	CHECK(bundle_fetch_s3_url("s3://b@d/key", NULL, NULL, out, sizeof(out)) == RW_EINVAL,
	      "bad bucket");
	CHECK(bundle_fetch_s3_url("s3://b/k", "us:east", NULL, out, sizeof(out)) == RW_EINVAL,
	      "a colon would break the SigV4 parameter");
	CHECK(bundle_fetch_s3_url("s3://b/k", NULL, NULL, out, 10) == RW_ETOOBIG, "too long");
}

/* Refusals that must happen before any connection (the hosts below do not exist). */
static void test_refused_before_connecting(void)
{
	const char *allow[] = { "allowed.invalid", "127.0.0.1" };
	struct bundle_fetch_opts o;
	struct bundle_fetch_result res;
	char err[256];
	int fd = open("/dev/null", O_WRONLY);
	struct {
		const char *url;
		int rc;
		const char *reason;
	} cases[] = {
		{ "ftp://allowed.invalid/b.zip", RW_EUNSAFE, "scheme ftp refused" },
		{ "http://allowed.invalid/b.zip", RW_EUNSAFE, "plain http to allowed.invalid refused" },
		{ "https://other.invalid/b.zip", RW_EUNSAFE, "host other.invalid is not on the allowlist" },
		{ "https://user:pw@allowed.invalid/b.zip", RW_EUNSAFE, "credentials in a URL" },
		{ "https://[zz/", RW_EINVAL, "malformed URL" },
		{ "s3://bucket", RW_EINVAL, "malformed s3 URL" },
		{ "s3://bucket/key", RW_EUNSAFE, "bucket.s3.us-east-1.amazonaws.com is not on the allowlist" },
	};

	bundle_fetch_opts_init(&o);
	o.allow_hosts = allow;
	o.n_allow_hosts = RW_ARRAY_LEN(allow);
	o.s3_region = "us-east-1";
	for (size_t i = 0; i < RW_ARRAY_LEN(cases); i++) {
		int rc = bundle_fetch(cases[i].url, &o, fd, NULL, NULL, &res, err, sizeof(err));

		CHECK(rc == cases[i].rc && strstr(err, cases[i].reason),
		      "%s: rc %d (%s), want %d (%s)", cases[i].url, rc, err, cases[i].rc,
		      cases[i].reason);
	}
	/* URL length, at the cap and one past (refused for its host, then for its length). */
	{
		char *url = malloc(BUNDLE_FETCH_MAX_URL + 2);
		const char *head = "https://other.invalid/";
		size_t hl = strlen(head);
		int rc;

		memcpy(url, head, hl);
		memset(url + hl, 'a', BUNDLE_FETCH_MAX_URL - hl);
		url[BUNDLE_FETCH_MAX_URL] = '\0';
		rc = bundle_fetch(url, &o, fd, NULL, NULL, &res, err, sizeof(err));
		CHECK(rc == RW_EUNSAFE && strstr(err, "allowlist"), "URL at the cap: %s", err);
		url[BUNDLE_FETCH_MAX_URL] = 'a';
		url[BUNDLE_FETCH_MAX_URL + 1] = '\0';
		rc = bundle_fetch(url, &o, fd, NULL, NULL, &res, err, sizeof(err));
		CHECK(rc == RW_ETOOBIG && strstr(err, "URL longer than 8192"), "URL past the cap: %s",
		      err);
		free(url);
	}
	/* http to loopback needs the flag even for an allowed loopback host. */
	CHECK(bundle_fetch("http://127.0.0.1:1/b.zip", &o, fd, NULL, NULL, &res, err,
			   sizeof(err)) == RW_EUNSAFE, "http loopback without the flag: %s", err);
	o.max_redirects = BUNDLE_FETCH_MAX_REDIRECTS + 1;
	CHECK(bundle_fetch("https://allowed.invalid/b.zip", &o, fd, NULL, NULL, &res, err,
			   sizeof(err)) == RW_EINVAL, "more than %d redirects cannot be asked for",
	      BUNDLE_FETCH_MAX_REDIRECTS);
	close(fd);
}

static void test_local_files(void)
{
	char dir[] = "/tmp/rw-fetch-XXXXXX", path[256], url[300], err[256];
	uint8_t want[32];
	struct bundle_fetch_opts o;
	struct bundle_fetch_result res;
	unsigned char data[100000];
	struct stat st;
	int fd, out, rc;

	if (!mkdtemp(dir))
		return;
	randombytes_buf(data, sizeof(data));
	crypto_hash_sha256(want, data, sizeof(data));
	snprintf(path, sizeof(path), "%s/bundle.zip", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	rw_write_all(fd, data, sizeof(data));
	close(fd);

	bundle_fetch_opts_init(&o);   /* no hosts allowed: a local path needs none */
	out = open(dir, O_TMPFILE | O_RDWR, 0600);
	rc = bundle_fetch(path, &o, out, NULL, NULL, &res, err, sizeof(err));
	CHECK(rc == 0 && res.bytes == sizeof(data) && !memcmp(res.sha256, want, 32),
	      "local path copied and hashed: %s", err);
	CHECK(fstat(out, &st) == 0 && st.st_size == (off_t)sizeof(data), "copy has every byte");
	close(out);

	snprintf(url, sizeof(url), "file://%s", path);
	out = open(dir, O_TMPFILE | O_RDWR, 0600);
	rc = bundle_fetch(url, &o, out, NULL, NULL, &res, err, sizeof(err));
	CHECK(rc == 0 && !memcmp(res.sha256, want, 32), "file:// URL: %s", err);
	close(out);

	snprintf(url, sizeof(url), "file://elsewhere%s", path);
	rc = bundle_fetch(url, &o, -1, NULL, NULL, &res, err, sizeof(err));
	CHECK(rc == RW_EUNSAFE || rc == RW_EINVAL, "file URL with a remote host: %s", err);

	/* The size cap, at the edge and one past it. */
	o.max_bytes = sizeof(data);
	out = open(dir, O_TMPFILE | O_RDWR, 0600);
	CHECK(bundle_fetch(path, &o, out, NULL, NULL, &res, err, sizeof(err)) == 0,
	      "exactly at the cap: %s", err);
	close(out);
	o.max_bytes = sizeof(data) - 1;
	out = open(dir, O_TMPFILE | O_RDWR, 0600);
	rc = bundle_fetch(path, &o, out, NULL, NULL, &res, err, sizeof(err));
	CHECK(rc == RW_ETOOBIG && strstr(err, "pass the cap of 99999"), "one byte past: %s", err);
	close(out);

	snprintf(path, sizeof(path), "%s/missing.zip", dir);
	CHECK(bundle_fetch(path, &o, -1, NULL, NULL, &res, err, sizeof(err)) == RW_ENOTFOUND,
	      "missing file: %s", err);
	CHECK(bundle_fetch(dir, &o, -1, NULL, NULL, &res, err, sizeof(err)) == RW_EINVAL,
	      "a directory is not a bundle: %s", err);
	rw_remove_tree(dir);
}

int main(void)
{
	if (bundle_fetch_global_init())
		return 1;
	test_allowlist();
	test_loopback();
	test_github_hosts();
	test_s3_urls();
	test_refused_before_connecting();
	test_local_files();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
