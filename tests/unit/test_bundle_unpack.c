/* test_bundle_unpack: the unpacker (agent/bundle_unpack.c) against hostile archives.
 *
 * The archives come from tests/data/make_hostile_archives.py, run at the start with a fresh
 * sandbox: ROOT/box holds outside/secret.txt (what an attack would reach for) and work/, where
 * each case unpacks into work/dest-NAME. Around every case the whole box is listed (path,
 * type, size, mode, file mtime; the case's own destination left out) and the two listings must be
 * equal: nothing may be written, changed or left behind outside the destination. Each refusal
 * must also carry a reason that names the entry.
 *
 * usage: test_bundle_unpack PATH/TO/make_hostile_archives.py
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/bundle_unpack.h"
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

static char root[PATH_MAX], box[PATH_MAX], archives[PATH_MAX];

/* snprintf for paths; a test path never comes near PATH_MAX. */
static void pathf(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/* ---- listing of the box ---- */

struct listing {
	char **lines;
	size_t n, cap;
	const char *skip;       /* a path prefix left out (the case's destination) */
	size_t skip_len;
};

static struct listing *walk_target;

static int walk_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct listing *l = walk_target;
	char *line;

	if (l->skip_len && !strncmp(path, l->skip, l->skip_len) &&
	    (path[l->skip_len] == '\0' || path[l->skip_len] == '/'))
		return 0;
	/* A directory's mtime moves when an entry is created in it (the destination, the
	 * temporary directory beside it): what appeared there shows up by name instead. */
	if (asprintf(&line, "%s %o %lld %lld.%09ld", path, (unsigned)st->st_mode,
		     (long long)st->st_size, S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_mtim.tv_sec,
		     S_ISDIR(st->st_mode) ? 0L : st->st_mtim.tv_nsec) < 0)
		return -1;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->lines = realloc(l->lines, l->cap * sizeof(*l->lines));
	}
	l->lines[l->n++] = line;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_box(struct listing *l, const char *skip)
{
	memset(l, 0, sizeof(*l));
	l->skip = skip;
	l->skip_len = strlen(skip);
	walk_target = l;
	nftw(box, walk_entry, 16, FTW_PHYS);
	qsort(l->lines, l->n, sizeof(*l->lines), cmp_str);
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
}

/* Prints what differs; returns true when the listings are equal. */
static bool listings_equal(const struct listing *a, const struct listing *b)
{
	size_t i = 0, j = 0;
	bool same = true;

	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->lines[i], b->lines[j]);

		if (c < 0) {
			printf("  gone:    %s\n", a->lines[i++]);
			same = false;
		} else if (c > 0) {
			printf("  appeared: %s\n", b->lines[j++]);
			same = false;
		} else {
			i++;
			j++;
		}
	}
	return same;
}

/* ---- running one case ---- */

struct result {
	int rc;
	char err[512];
	struct bundle_unpack_stats stats;
	char dest[PATH_MAX];
	double seconds;
	uint64_t progress_calls, progress_done, progress_total;
};

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
	struct result *r = ud;

	r->progress_calls++;
	r->progress_done = done;
	r->progress_total = total;
}

/* Unpacks archives/NAME into box/work/dest-NAME with `lim` (NULL = defaults) and checks that
 * nothing outside the destination changed; a refused case must leave no destination. */
static struct result run_case(const char *name, const struct bundle_unpack_limits *lim)
{
	struct result r = { 0 };
	struct listing before, after;
	char path[PATH_MAX];
	struct stat st;
	int64_t t0;
	int fd;

	pathf(path, sizeof(path), "%s/%s", archives, name);
	pathf(r.dest, sizeof(r.dest), "%s/work/dest-%s", box, name);
	list_box(&before, r.dest);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("FAIL: cannot open %s: %s\n", path, strerror(errno));
		failed++;
		r.rc = RW_EIO;
		listing_free(&before);
		return r;
	}
	t0 = rw_mono_us();
	r.rc = bundle_unpack(fd, r.dest, lim, on_progress, &r, NULL, &r.stats, r.err, sizeof(r.err));
	r.seconds = (double)(rw_mono_us() - t0) / 1e6;
	close(fd);
	list_box(&after, r.dest);
	CHECK(listings_equal(&before, &after), "%s: something outside the destination changed",
	      name);
	if (r.rc)
		CHECK(lstat(r.dest, &st) < 0 && errno == ENOENT,
		      "%s: refused, yet its destination exists", name);
	listing_free(&before);
	listing_free(&after);
	printf("%-34s rc=%-3d %.2fs %s\n", name, r.rc, r.seconds, r.err);
	return r;
}

static void expect_refused(const char *name, int want_rc, const char *reason_part,
			   const struct bundle_unpack_limits *lim)
{
	struct result r = run_case(name, lim);

	CHECK(r.rc == want_rc, "%s: rc %d, want %d (%s)", name, r.rc, want_rc, r.err);
	CHECK(strstr(r.err, reason_part) != NULL, "%s: reason '%s' lacks '%s'", name, r.err,
	      reason_part);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static unsigned mode_of(const char *dest, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	pathf(path, sizeof(path), "%s/%s", dest, rel);
	return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 01000000;
}

static bool link_is(const char *dest, const char *rel, const char *target)
{
	char path[PATH_MAX], buf[PATH_MAX];
	ssize_t n;

	pathf(path, sizeof(path), "%s/%s", dest, rel);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, target);
}

/* ---- the cases ---- */

static void test_pure_checks(void)
{
	struct bundle_unpack_limits l;
	char out[BUNDLE_UNPACK_MAX_PATH + 1], longpath[BUNDLE_UNPACK_MAX_PATH + 2];

	bundle_unpack_limits_init(&l);
	CHECK(l.max_entries == 100000 && BUNDLE_UNPACK_MAX_ENTRIES == 100000, "entry cap default");
	CHECK(l.max_total_bytes == (1ULL << 30), "total bytes default");
	CHECK(l.max_ratio == 100 && l.ratio_floor == (1ULL << 20), "ratio defaults");

	CHECK(bundle_unpack_normalize("a/./b//c/", out, sizeof(out)) == 0 && !strcmp(out, "a/b/c"),
	      "normalise a/./b//c/ -> %s", out);
	CHECK(bundle_unpack_normalize("./", out, sizeof(out)) == 0 && !strcmp(out, ""), "./ is root");
	CHECK(bundle_unpack_normalize("...", out, sizeof(out)) == 0 && !strcmp(out, "..."),
	      "... is a name");
	CHECK(bundle_unpack_normalize("/etc/passwd", out, sizeof(out)) == RW_EUNSAFE, "absolute");
	CHECK(bundle_unpack_normalize("a/../b", out, sizeof(out)) == RW_EUNSAFE, "dotdot inside");
	CHECK(bundle_unpack_normalize("..", out, sizeof(out)) == RW_EUNSAFE, "dotdot alone");
	CHECK(bundle_unpack_normalize("a/..", out, sizeof(out)) == RW_EUNSAFE, "trailing dotdot");
	memset(longpath, 'a', BUNDLE_UNPACK_MAX_PATH);
	longpath[BUNDLE_UNPACK_MAX_PATH] = '\0';
	CHECK(bundle_unpack_normalize(longpath, out, sizeof(out)) == 0, "path at the cap");
	longpath[BUNDLE_UNPACK_MAX_PATH] = 'a';
	longpath[BUNDLE_UNPACK_MAX_PATH + 1] = '\0';
	CHECK(bundle_unpack_normalize(longpath, out, sizeof(out)) == RW_ETOOBIG,
	      "path one past the cap");

	CHECK(bundle_unpack_check_symlink("a/b/link", "../x") == 0, "link up one, inside");
	CHECK(bundle_unpack_check_symlink("a/link", "../x") == 0, "link to the root's child");
	CHECK(bundle_unpack_check_symlink("link", "../x") == RW_EUNSAFE, "link leaves from root");
	CHECK(bundle_unpack_check_symlink("a/link", "../../x") == RW_EUNSAFE, "link leaves");
	CHECK(bundle_unpack_check_symlink("l", "x/../y") == RW_EUNSAFE, ".. after a name");
	CHECK(bundle_unpack_check_symlink("l", "/etc") == RW_EUNSAFE, "absolute target");
	CHECK(bundle_unpack_check_symlink("l", "") == RW_EUNSAFE, "empty target");
	CHECK(bundle_unpack_check_symlink("l", "./x") == 0, "./x");
	CHECK(bundle_unpack_check_symlink("l", ".") == 0, ". (the root itself)");
	CHECK(bundle_unpack_check_symlink("node_modules/.bin/cli", "../pkg/cli.js") == 0,
	      "npm's .bin links");

	/* The ratio: only past the floor, and only past ratio x compressed. */
	CHECK(!bundle_unpack_ratio_exceeded(l.ratio_floor, 1, &l), "at the floor");
	CHECK(bundle_unpack_ratio_exceeded(l.ratio_floor + 1, 1, &l), "one past the floor");
	CHECK(!bundle_unpack_ratio_exceeded(100 * 20000ULL, 20000, &l), "exactly 100x");
	CHECK(bundle_unpack_ratio_exceeded(100 * 20000ULL + 1, 20000, &l), "one byte past 100x");
	l.max_ratio = 0;
	CHECK(!bundle_unpack_ratio_exceeded(UINT64_MAX, 1, &l), "ratio 0 disables the check");
}

static void test_hostile(void)
{
	char path[PATH_MAX];

	expect_refused("zip_slip.zip", RW_EUNSAFE, "entry '../../evil-slip.txt': '..'", NULL);
	expect_refused("tar_slip.tar.gz", RW_EUNSAFE, "'..' in path", NULL);
	pathf(path, sizeof(path), "%s/evil-slip.txt", box);
	CHECK(!exists(path), "zip slip wrote %s", path);

	expect_refused("abs_path.tar.gz", RW_EUNSAFE, "absolute path", NULL);
	expect_refused("abs_path.zip", RW_EUNSAFE, "evil-abs.txt': absolute path", NULL);
	pathf(path, sizeof(path), "%s/evil-abs.txt", box);
	CHECK(!exists(path), "absolute path wrote %s", path);

	expect_refused("symlink_escape.tar.gz", RW_EUNSAFE,
		       "entry 'link': symlink to '../../outside' leaves the bundle", NULL);
	expect_refused("symlink_abs.tar.gz", RW_EUNSAFE, "is absolute", NULL);
	expect_refused("symlink_escape.zip", RW_EUNSAFE, "entry 'link': symlink", NULL);
	pathf(path, sizeof(path), "%s/outside/pwned.txt", box);
	CHECK(!exists(path), "a file was written through a symlink: %s", path);
	expect_refused("symlink_write_inside.tar.gz", RW_EUNSAFE,
		       "entry 'link/through.txt': its parent 'link' is a symlink", NULL);
	expect_refused("symlink_dotdot_after_name.tar.gz", RW_EUNSAFE,
		       "entry 'w': symlink to 's/..'", NULL);

	expect_refused("hardlink_escape.tar.gz", RW_EUNSAFE, "'..' in hardlink target", NULL);
	expect_refused("hardlink_abs.tar.gz", RW_EUNSAFE, "absolute hardlink target", NULL);
	expect_refused("hardlink_forward.tar.gz", RW_EUNSAFE,
		       "entry 'hl': hardlink to 'later.txt', which is not a file extracted", NULL);
	expect_refused("hardlink_dir.tar.gz", RW_EUNSAFE, "entry 'hl': hardlink to 'd'", NULL);

	expect_refused("device.tar.gz", RW_EUNSAFE, "entry 'null2' is a character device", NULL);
	expect_refused("fifo.tar.gz", RW_EUNSAFE, "entry 'pipe' is a fifo", NULL);
	expect_refused("parent_is_file.tar.gz", RW_EUNSAFE, "entry 'a/b': its parent 'a' is a file",
		       NULL);
	expect_refused("duplicate.tar.gz", RW_EUNSAFE, "entry 'x': duplicate", NULL);
	expect_refused("top_dir_link_escape.tar.gz", RW_EUNSAFE,
		       "entry 'proj/up': symlink to '../elsewhere' leaves the bundle", NULL);
	expect_refused("not_an_archive.bin", RW_EINVAL, "not a zip or tar.gz archive", NULL);
}

static void test_neutralised_and_kept(void)
{
	struct result r;
	char a[PATH_MAX], b[PATH_MAX];
	struct stat sa, sb;

	r = run_case("setuid.tar.gz", NULL);
	CHECK(r.rc == 0, "setuid archive: %s", r.err);
	CHECK(mode_of(r.dest, "bin/suid") == 0755, "setuid stripped: %o", mode_of(r.dest, "bin/suid"));
	CHECK(mode_of(r.dest, "bin/sgid") == 0755, "setgid stripped: %o", mode_of(r.dest, "bin/sgid"));
	CHECK(mode_of(r.dest, "bin/plain") == 0644, "group/other write dropped: %o",
	      mode_of(r.dest, "bin/plain"));
	CHECK(mode_of(r.dest, "bin") == 0755, "sticky dropped: %o", mode_of(r.dest, "bin"));

	r = run_case("top_dir.zip", NULL);
	CHECK(r.rc == 0 && r.stats.stripped, "top dir stripped: %s", r.err);
	CHECK(mode_of(r.dest, "bin/run") == 0755, "exec bit kept (zip): %o",
	      mode_of(r.dest, "bin/run"));
	CHECK(mode_of(r.dest, "README") == 0644, "plain file mode (zip)");
	CHECK(link_is(r.dest, "node_modules/.bin/cli", "../pkg/cli.js"), "zip symlink inside kept");
	pathf(a, sizeof(a), "%s/proj-1.0", r.dest);
	CHECK(!exists(a), "the top-level directory itself is gone");
	CHECK(r.stats.entries == 6 && r.progress_done == 6 && r.progress_total == 6,
	      "progress reached %llu/%llu of %llu entries", (unsigned long long)r.progress_done,
	      (unsigned long long)r.progress_total, (unsigned long long)r.stats.entries);

	r = run_case("top_dir.tar.gz", NULL);
	CHECK(r.rc == 0 && r.stats.stripped, "tar top dir stripped: %s", r.err);
	CHECK(mode_of(r.dest, "bin/run") == 0755, "exec bit kept (tar)");
	CHECK(link_is(r.dest, "bin/link", "run"), "tar symlink inside kept");
	pathf(a, sizeof(a), "%s/bin/run", r.dest);
	pathf(b, sizeof(b), "%s/bin/hard", r.dest);
	CHECK(lstat(a, &sa) == 0 && lstat(b, &sb) == 0 && sa.st_ino == sb.st_ino,
	      "hardlink inside, to a file extracted before it, kept");

	r = run_case("no_strip.zip", NULL);
	CHECK(r.rc == 0 && !r.stats.stripped, "two top-level entries: nothing stripped");
	CHECK(mode_of(r.dest, "a/x.txt") == 0644 && mode_of(r.dest, "b.txt") == 0644,
	      "both entries in place");
	r = run_case("single_file.tar.gz", NULL);
	CHECK(r.rc == 0 && !r.stats.stripped && mode_of(r.dest, "only.txt") == 0644,
	      "a single top-level file is not stripped");
}

static void test_caps(void)
{
	struct bundle_unpack_limits l;
	struct result r;

	/* Entry count, one past the edge. */
	bundle_unpack_limits_init(&l);
	l.max_entries = 10;
	r = run_case("ten_entries.zip", &l);
	CHECK(r.rc == 0 && r.stats.entries == 10, "10 entries with a cap of 10: %s", r.err);
	l.max_entries = 9;
	rw_remove_tree(r.dest);
	expect_refused("ten_entries.zip", RW_ETOOBIG, "more than 9 entries", &l);

	/* Total bytes, one past the edge. */
	bundle_unpack_limits_init(&l);
	l.max_total_bytes = 1000;
	r = run_case("bytes_1000.zip", &l);
	CHECK(r.rc == 0 && r.stats.bytes == 1000, "1000 bytes with a cap of 1000: %s", r.err);
	rw_remove_tree(r.dest);
	l.max_total_bytes = 999;
	expect_refused("bytes_1000.zip", RW_ETOOBIG, "pass the cap of 999", &l);

	/* Counted while writing: the headers say 1000 bytes, the data holds 4000. */
	l.max_total_bytes = 2000;
	expect_refused("lying_size.zip", RW_ETOOBIG, "entry 'lying.bin': unpacked bytes pass the cap "
		       "of 2000", &l);

	/* The default total cap, one byte past, judged from the header. */
	expect_refused("total_over_default.tar.gz", RW_ETOOBIG,
		       "entry 'huge.bin': declared sizes pass the cap of 1073741824 bytes", NULL);

	/* The defaults, with the archives of the issue. */
	r = run_case("many_entries.zip", NULL);
	CHECK(r.rc == RW_ETOOBIG && strstr(r.err, "more than 100000 entries"),
	      "200,000 entries: %s", r.err);
	CHECK(r.seconds < 20, "200,000 entries refused before writing (%.1fs)", r.seconds);
	expect_refused("entries_100001.zip", RW_ETOOBIG, "more than 100000 entries", NULL);

	r = run_case("zip_bomb.zip", NULL);
	CHECK(r.rc == RW_ETOOBIG && strstr(r.err, "entry 'zeros.bin': expands more than 100x"),
	      "1 GiB zip bomb: %s", r.err);
	CHECK(r.seconds < 20, "zip bomb stopped early (%.1fs)", r.seconds);
	expect_refused("tar_gz_bomb.tar.gz", RW_ETOOBIG, "refused as a compression bomb", NULL);
	/* 300 entries of 1 MiB of zeros: none past the per-entry floor, the whole past 100x. */
	expect_refused("small_bombs.zip", RW_ETOOBIG,
		       "the archive expands more than 100x, refused as a compression bomb", NULL);

	/* With the ratio check off, the total cap still stops the bomb. */
	bundle_unpack_limits_init(&l);
	l.max_ratio = 0;
	l.max_total_bytes = 8 << 20;
	expect_refused("zip_bomb.zip", RW_ETOOBIG, "pass the cap of 8388608", &l);
}

static void test_destination(void)
{
	char dest[PATH_MAX], file[PATH_MAX], path[PATH_MAX];
	char err[256];
	atomic_bool cancel = true;
	int fd, rc;

	pathf(path, sizeof(path), "%s/top_dir.zip", archives);
	pathf(dest, sizeof(dest), "%s/work/full", box);
	pathf(file, sizeof(file), "%s/work/full/keep", box);
	mkdir(dest, 0755);
	close(open(file, O_WRONLY | O_CREAT, 0644));
	fd = open(path, O_RDONLY);
	rc = bundle_unpack(fd, dest, NULL, NULL, NULL, NULL, NULL, err, sizeof(err));
	CHECK(rc == RW_EINVAL && strstr(err, "is not empty"), "non-empty destination: %s", err);
	CHECK(exists(file), "the destination's content is untouched");

	/* An empty destination directory is fine (replaced by the tree). */
	pathf(dest, sizeof(dest), "%s/work/empty", box);
	mkdir(dest, 0755);
	rc = bundle_unpack(fd, dest, NULL, NULL, NULL, NULL, NULL, err, sizeof(err));
	CHECK(rc == 0, "empty destination: %s", err);

	pathf(dest, sizeof(dest), "%s/work/cancelled", box);
	rc = bundle_unpack(fd, dest, NULL, NULL, NULL, &cancel, NULL, err, sizeof(err));
	CHECK(rc == RW_ESTATE && !exists(dest), "cancelled: %s", err);
	close(fd);
}

int main(int argc, char **argv)
{
	char cmd[3 * PATH_MAX], path[PATH_MAX];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s make_hostile_archives.py\n", argv[0]);
		return 2;
	}
	pathf(root, sizeof(root), "%s/rw-unpack-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return 2;
	pathf(box, sizeof(box), "%s/box", root);
	pathf(archives, sizeof(archives), "%s/archives", root);
	pathf(path, sizeof(path), "%s/outside", box);
	mkdir(box, 0755);
	mkdir(path, 0755);
	pathf(path, sizeof(path), "%s/work", box);
	mkdir(path, 0755);
	pathf(path, sizeof(path), "%s/outside/secret.txt", box);
	f = fopen(path, "w");
	fputs("the sentinel\n", f);
	fclose(f);
	pathf(cmd, sizeof(cmd), "python3 '%s' '%s' '%s' --big", argv[1], archives, box);
	if (system(cmd) != 0) {
		printf("FAIL: %s\n", cmd);
		return 1;
	}

	test_pure_checks();
	test_hostile();
	test_neutralised_and_kept();
	test_caps();
	test_destination();

	rw_remove_tree(root);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
