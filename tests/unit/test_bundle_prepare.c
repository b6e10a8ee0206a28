/* test_bundle_prepare: bundle_prepare() (agent/bundle.c) and the cache (agent/bundle_cache.c)
 * on local files: the stage events and their order, fail-closed digests, a mismatch that leaves
 * nothing behind, a destination that is not empty, cache hits without a source, private copies
 * that cannot poison the cache, least-recently-used eviction that spares entries in use, two
 * threads filling the same digest at once, and cancellation. Archives are written here with
 * libarchive.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/bundle.h"
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

static char root[PATH_MAX - 256];

static void pathf(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/* Writes a tar.gz at `path` with files name -> content (NULL-terminated pairs) and returns its
 * SHA-256 as hex in `hex`. */
static void make_targz(const char *path, char *hex, const char *const *files)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	unsigned char digest[32], buf[65536];
	size_t n;
	FILE *f;

	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, path);
	for (size_t i = 0; files[i]; i += 2) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, files[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(files[i + 1]));
		archive_write_header(a, e);
		archive_write_data(a, files[i + 1], strlen(files[i + 1]));
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);

	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	f = fopen(path, "rb");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	fclose(f);
	crypto_hash_sha256_final(&st, digest);
	rw_hex(hex, digest, 32);
}

/* Every event of one run, kept (incref'd) in an array. */
static void collect(void *ud, json_t *event)
{
	json_array_append(ud, event);
}

static const char *ev_str(json_t *ev, const char *key)
{
	const char *s = json_string_value(json_object_get(ev, key));

	return s ? s : "";
}

/* "stage:state" of each event, joined by spaces, consecutive duplicates folded. */
static void event_trail(json_t *events, char *out, size_t len)
{
	char last[64] = "", cur[64];
	size_t i, n = 0;
	json_t *ev;

	out[0] = '\0';
	json_array_foreach(events, i, ev) {
		pathf(cur, sizeof(cur), "%s:%s", ev_str(ev, "stage"), ev_str(ev, "state"));
		if (!strcmp(cur, last))
			continue;
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", cur);
		memcpy(last, cur, sizeof(last));
	}
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static bool file_is(const char *path, const char *want)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return !strcmp(buf, want);
}

static int run(struct bundle_opts *o, json_t *events, struct bundle_result *res, char *err)
{
	json_array_clear(events);
	return bundle_prepare(o, collect, events, res, err, BUNDLE_ERR_LEN);
}

static void test_pipeline(void)
{
	const char *files[] = { "app/index.js", "console.log(1)\n", "app/package.json", "{}\n", NULL };
	char bundle[PATH_MAX], dest[PATH_MAX], hex[65], upper[65], trail[512], err[BUNDLE_ERR_LEN];
	struct bundle_opts o;
	struct bundle_result res;
	json_t *events = json_array(), *ev;
	size_t i;
	int rc;

	pathf(bundle, sizeof(bundle), "%s/src/app.tar.gz", root);
	make_targz(bundle, hex, files);
	bundle_opts_init(&o);
	o.url = bundle;
	o.sha256_hex = hex;
	pathf(dest, sizeof(dest), "%s/work/d1", root);
	o.dest_dir = dest;
	rc = run(&o, events, &res, err);
	event_trail(events, trail, sizeof(trail));
	CHECK(rc == 0, "pipeline: %s", err);
	CHECK(!strcmp(trail, "fetch:running fetch:done verify:done unpack:running unpack:done"),
	      "event order: %s", trail);
	json_array_foreach(events, i, ev) {
		CHECK(!strcmp(ev_str(ev, "type"), "stage") && !strcmp(ev_str(ev, "source"), "agent"),
		      "every event is a stage event from the agent");
	}
	ev = json_array_get(events, json_array_size(events) - 1);
	CHECK(json_integer_value(json_object_get(ev, "entries")) == 2, "unpack done counts entries");
	CHECK(!res.cache_hit && res.entries == 2 && res.bytes == 18, "result %llu entries %llu bytes",
	      (unsigned long long)res.entries, (unsigned long long)res.bytes);
	pathf(dest, sizeof(dest), "%s/work/d1/index.js", root);
	CHECK(file_is(dest, "console.log(1)\n"), "tree in place (top directory stripped)");

	/* Uppercase hex is the same digest. */
	for (i = 0; i < 64; i++)
		upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	upper[64] = '\0';
	o.sha256_hex = upper;
	pathf(dest, sizeof(dest), "%s/work/d2", root);
	o.dest_dir = dest;
	CHECK(run(&o, events, &res, err) == 0, "uppercase digest: %s", err);

	/* Fail closed: no digest, or not 64 hex digits. */
	const char *bad[] = { NULL, "", "abc", "zz",
			      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg" };
	for (i = 0; i < RW_ARRAY_LEN(bad); i++) {
		o.sha256_hex = bad[i];
		pathf(dest, sizeof(dest), "%s/work/bad%zu", root, i);
		o.dest_dir = dest;
		rc = run(&o, events, &res, err);
		event_trail(events, trail, sizeof(trail));
		CHECK(rc == RW_EINVAL && !strcmp(trail, "verify:failed"), "digest '%s': %d %s [%s]",
		      bad[i] ? bad[i] : "(null)", rc, err, trail);
	}
	char too_long[66];
	memcpy(too_long, hex, 64);
	too_long[64] = '0';
	too_long[65] = '\0';
	o.sha256_hex = too_long;
	CHECK(run(&o, events, &res, err) == RW_EINVAL, "65 hex digits refused");

	/* A mismatch names both digests and leaves nothing beside the destination. */
	char wrong[65];
	memcpy(wrong, hex, 65);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	o.sha256_hex = wrong;
	pathf(dest, sizeof(dest), "%s/mismatch/dest", root);
	char parent[PATH_MAX];
	pathf(parent, sizeof(parent), "%s/mismatch", root);
	mkdir(parent, 0755);
	o.dest_dir = dest;
	rc = run(&o, events, &res, err);
	event_trail(events, trail, sizeof(trail));
	char want[200];
	pathf(want, sizeof(want), "sha256 mismatch: expected %s got %s", wrong, hex);
	CHECK(rc == RW_EDIGEST && !strcmp(err, want), "mismatch: %s", err);
	CHECK(!strcmp(trail, "fetch:running fetch:done verify:failed"), "mismatch events: %s", trail);
	ev = json_array_get(events, json_array_size(events) - 1);
	CHECK(!strcmp(ev_str(ev, "reason"), want), "the failed event carries the reason");
	CHECK(count_entries(parent) == 0, "nothing left beside the destination");

	/* A destination that is not empty is refused before any fetch. */
	o.sha256_hex = hex;
	pathf(dest, sizeof(dest), "%s/work/d1", root);
	o.dest_dir = dest;
	rc = run(&o, events, &res, err);
	event_trail(events, trail, sizeof(trail));
	CHECK(rc == RW_EINVAL && strstr(err, "not empty") && !strcmp(trail, "unpack:failed"),
	      "non-empty destination: %s [%s]", err, trail);

	/* Cancelled before the start. */
	atomic_bool cancel = true;
	o.cancel = &cancel;
	pathf(dest, sizeof(dest), "%s/work/cancelled", root);
	rc = run(&o, events, &res, err);
	CHECK(rc == RW_ESTATE, "cancelled: %d %s", rc, err);
	json_decref(events);
}

static void test_cache(void)
{
	const char *files[] = { "index.js", "v1\n", NULL };
	char bundle[PATH_MAX], dest[PATH_MAX], cache[PATH_MAX], path[PATH_MAX], hex[65];
	char trail[512], err[BUNDLE_ERR_LEN];
	struct bundle_opts o;
	struct bundle_result res;
	json_t *events = json_array();
	int rc;

	pathf(bundle, sizeof(bundle), "%s/src/cached.tar.gz", root);
	make_targz(bundle, hex, files);
	pathf(cache, sizeof(cache), "%s/cache", root);
	bundle_opts_init(&o);
	o.url = bundle;
	o.sha256_hex = hex;
	o.cache_dir = cache;
	pathf(dest, sizeof(dest), "%s/work/c1", root);
	o.dest_dir = dest;
	rc = run(&o, events, &res, err);
	CHECK(rc == 0 && !res.cache_hit, "first run fills the cache: %s", err);

	/* The source is gone: the cache does not stand in for it (a typo'd path must fail). */
	char moved[PATH_MAX];
	pathf(moved, sizeof(moved), "%s.moved", bundle);
	rename(bundle, moved);
	pathf(dest, sizeof(dest), "%s/work/c2", root);
	rc = run(&o, events, &res, err);
	event_trail(events, trail, sizeof(trail));
	CHECK(rc == RW_ENOTFOUND && !res.cache_hit && !strcmp(trail, "fetch:failed"),
	      "a missing source fails even with its digest cached: %d %s (%s)", rc, err, trail);
	rename(moved, bundle);

	/* The source is there: the cache answers. */
	rc = run(&o, events, &res, err);
	event_trail(events, trail, sizeof(trail));
	CHECK(rc == 0 && res.cache_hit && res.download_bytes == 0, "cache hit: %s", err);
	CHECK(!strcmp(trail, "fetch:skipped verify:done unpack:running unpack:done"),
	      "cache hit events: %s", trail);

	/* A session that changes its copy changes only its copy. */
	pathf(path, sizeof(path), "%s/work/c2/index.js", root);
	FILE *f = fopen(path, "w");
	fputs("poisoned\n", f);
	fclose(f);
	pathf(dest, sizeof(dest), "%s/work/c3", root);
	rc = run(&o, events, &res, err);
	pathf(path, sizeof(path), "%s/work/c3/index.js", root);
	CHECK(rc == 0 && res.cache_hit && file_is(path, "v1\n"), "the cache is not poisoned");

	/* An unsafe archive leaves no entry and no staging behind. */
	char unsafe[PATH_MAX], uhex[65];
	const char *evil[] = { "../evil.txt", "x", NULL };
	pathf(unsafe, sizeof(unsafe), "%s/src/unsafe.tar.gz", root);
	make_targz(unsafe, uhex, evil);
	o.url = unsafe;
	o.sha256_hex = uhex;
	pathf(dest, sizeof(dest), "%s/work/c4", root);
	rc = run(&o, events, &res, err);
	pathf(path, sizeof(path), "%s/%s", cache, uhex);
	struct stat st;
	CHECK(rc == RW_EUNSAFE && lstat(path, &st) < 0, "unsafe archive not cached: %s", err);
	pathf(path, sizeof(path), "%s/tmp", cache);
	CHECK(count_entries(path) == 0, "no staging left behind");
	json_decref(events);
}

/* Fills the cache with a bundle holding one file of `size` bytes named after `tag`. */
static void cache_add(const char *cache, uint64_t max, const char *tag, size_t size, char *hex)
{
	char bundle[PATH_MAX], dest[PATH_MAX], err[BUNDLE_ERR_LEN];
	char *content = malloc(size + 1);
	const char *files[] = { "data", content, NULL };
	struct bundle_opts o;
	int rc;

	memset(content, tag[0], size);
	content[size] = '\0';
	pathf(bundle, sizeof(bundle), "%s/src/%s.tar.gz", root, tag);
	make_targz(bundle, hex, files);
	free(content);
	bundle_opts_init(&o);
	o.url = bundle;
	o.sha256_hex = hex;
	o.cache_dir = cache;
	o.cache_max_bytes = max;
	pathf(dest, sizeof(dest), "%s/work/evict-%s", root, tag);
	o.dest_dir = dest;
	rc = bundle_prepare(&o, NULL, NULL, NULL, err, sizeof(err));
	CHECK(rc == 0, "cache_add %s: %s", tag, err);
	rw_remove_tree(dest);
}

static bool cached(const char *cache, const char *hex)
{
	char path[PATH_MAX];
	struct stat st;

	pathf(path, sizeof(path), "%s/%s/meta.json", cache, hex);
	return stat(path, &st) == 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void test_eviction(void)
{
	char cache[PATH_MAX], a[65], b[65], c[65], d[65], dest[PATH_MAX], path[PATH_MAX];
	char err[BUNDLE_ERR_LEN];
	struct bundle_cache *bc;
	uint64_t max = 2500;   /* room for two bundles of 1000 bytes */
	int fd;

	pathf(cache, sizeof(cache), "%s/lru", root);
	cache_add(cache, max, "a", 1000, a);
	pause_ms(20);
	cache_add(cache, max, "b", 1000, b);
	pause_ms(20);
	CHECK(cached(cache, a) && cached(cache, b), "two bundles fit");

	/* Use A, so B is now the least recently used. */
	bc = bundle_cache_open(cache, max, err, sizeof(err));
	pathf(dest, sizeof(dest), "%s/work/use-a", root);
	CHECK(bundle_cache_get(bc, a, dest, NULL, NULL, NULL, err, sizeof(err)) == 0, "hit A: %s", err);
	pause_ms(20);
	cache_add(cache, max, "c", 1000, c);
	CHECK(cached(cache, a) && !cached(cache, b) && cached(cache, c),
	      "the least recently used (B) was evicted, A and C stay");

	/* An entry being copied out (shared lock held) is never evicted. */
	pathf(path, sizeof(path), "%s/%s/lock", cache, a);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && flock(fd, LOCK_SH) == 0, "hold A's lock");
	pause_ms(20);
	cache_add(cache, max, "d", 1000, d);
	CHECK(cached(cache, a) && !cached(cache, c) && cached(cache, d),
	      "A is in use: C went instead");
	close(fd);

	/* A meta.json past BUNDLE_CACHE_MAX_META bytes makes the entry unusable: a miss. */
	{
		char fake[65], fdir[PATH_MAX], meta[PATH_MAX];
		FILE *mf;

		memset(fake, 'f', 64);
		fake[64] = '\0';
		pathf(fdir, sizeof(fdir), "%s/%s", cache, fake);
		mkdir(fdir, 0700);
		pathf(meta, sizeof(meta), "%s/lock", fdir);
		close(open(meta, O_WRONLY | O_CREAT, 0600));
		pathf(meta, sizeof(meta), "%s/tree", fdir);
		mkdir(meta, 0700);
		pathf(meta, sizeof(meta), "%s/meta.json", fdir);
		mf = fopen(meta, "w");
		fprintf(mf, "{\"bytes\":1,\"entries\":1,\"pad\":\"%*s\"}", BUNDLE_CACHE_MAX_META - 32, "");
		fclose(mf);
		pathf(dest, sizeof(dest), "%s/work/meta-at-cap", root);
		CHECK(bundle_cache_get(bc, fake, dest, NULL, NULL, NULL, err, sizeof(err)) == 0,
		      "meta.json of %d bytes (at the cap) is read: %s", BUNDLE_CACHE_MAX_META, err);
		mf = fopen(meta, "a");
		fputc(' ', mf);
		fclose(mf);
		pathf(dest, sizeof(dest), "%s/work/meta-past-cap", root);
		CHECK(bundle_cache_get(bc, fake, dest, NULL, NULL, NULL, err, sizeof(err)) ==
		      RW_ENOTFOUND, "meta.json one byte past the cap is a miss");
		rw_remove_tree(fdir);
	}

	/* The newest entry stays even when it alone passes the cap. */
	char big[65];
	cache_add(cache, 500, "e", 1000, big);
	CHECK(cached(cache, big) && !cached(cache, a) && !cached(cache, d),
	      "a bundle larger than the cap evicts the rest and stays");
	CHECK(bundle_cache_evict(bc, NULL) == 0, "under a cap of 2500 bytes nothing is evicted");
	bundle_cache_free(bc);
	bc = bundle_cache_open(cache, 500, err, sizeof(err));
	CHECK(bundle_cache_evict(bc, NULL) == 1 && !cached(cache, big),
	      "without `keep`, the oversized entry goes too");
	bundle_cache_free(bc);
}

struct racer {
	struct bundle_opts o;
	char dest[PATH_MAX];
	struct bundle_result res;
	char err[BUNDLE_ERR_LEN];
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	r->rc = bundle_prepare(&r->o, NULL, NULL, &r->res, r->err, sizeof(r->err));
	return NULL;
}

static void test_concurrent_fill(void)
{
	enum { RACERS = 4 };
	static struct racer r[RACERS];
	char bundle[PATH_MAX], cache[PATH_MAX], hex[65], path[PATH_MAX];
	const char *files[] = { "f", "same bytes\n", NULL };
	pthread_t t[RACERS];
	int misses = 0;

	pathf(bundle, sizeof(bundle), "%s/src/race.tar.gz", root);
	make_targz(bundle, hex, files);
	pathf(cache, sizeof(cache), "%s/race-cache", root);
	for (int i = 0; i < RACERS; i++) {
		bundle_opts_init(&r[i].o);
		r[i].o.url = bundle;
		r[i].o.sha256_hex = hex;
		r[i].o.cache_dir = cache;
		pathf(r[i].dest, sizeof(r[i].dest), "%s/work/race%d", root, i);
		r[i].o.dest_dir = r[i].dest;
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		CHECK(r[i].rc == 0, "racer %d: %s", i, r[i].err);
		misses += !r[i].res.cache_hit;
		pathf(path, sizeof(path), "%s/f", r[i].dest);
		CHECK(file_is(path, "same bytes\n"), "racer %d has the tree", i);
	}
	CHECK(misses == 1, "one download for %d agents asking at once (%d)", RACERS, misses);
	pathf(path, sizeof(path), "%s/tmp", cache);
	CHECK(count_entries(path) == 0, "no staging left behind");
}

int main(void)
{
	char path[PATH_MAX];

	if (bundle_global_init())
		return 1;
	pathf(root, sizeof(root), "%s/rw-prepare-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return 1;
	pathf(path, sizeof(path), "%s/src", root);
	mkdir(path, 0755);
	pathf(path, sizeof(path), "%s/work", root);
	mkdir(path, 0755);

	test_pipeline();
	test_cache();
	test_eviction();
	test_concurrent_fill();

	rw_remove_tree(root);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
