/* bundle_cache.c: the digest-keyed cache of unpacked bundles (see bundle_cache.h).
 *
 * Every change to the cache is one rename(2) (an entry in, an entry out to the trash), and
 * every reader holds a shared flock on the entry while it copies, so agents sharing the
 * directory never see half an entry and never lose one under their feet.
 */
#include "agent/bundle_cache.h"
#include "agent/bundle_unpack.h"
#include "common/rw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

struct bundle_cache {
	char *dir;
	uint64_t max_bytes;
};

static bool digest_ok(const char *hex)
{
	size_t i;

	for (i = 0; hex && hex[i]; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return i == 64;
}

/* Joins up to three parts with '/' into `out` (PATH_MAX bytes). */
static int path_join(char *out, const char *a, const char *b, const char *c)
{
	int n = c ? snprintf(out, PATH_MAX, "%s/%s/%s", a, b, c)
		  : snprintf(out, PATH_MAX, "%s/%s", a, b);

	return n < 0 || n >= PATH_MAX ? RW_EINVAL : RW_OK;
}

static int mkdir_if_missing(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? RW_OK : RW_EIO;
}

struct bundle_cache *bundle_cache_open(const char *dir, uint64_t max_bytes, char *err,
				       size_t errlen)
{
	char path[PATH_MAX];
	struct bundle_cache *c;

	if (!dir || !*dir || strlen(dir) > PATH_MAX - 128) {
		rw_seterr(err, errlen, RW_EINVAL, "bad cache directory");
		return NULL;
	}
	if (mkdir_if_missing(dir) || path_join(path, dir, "tmp", NULL) || mkdir_if_missing(path) ||
	    path_join(path, dir, "locks", NULL) || mkdir_if_missing(path)) {
		rw_seterr(err, errlen, RW_EIO, "cache directory %s: %s", dir, strerror(errno));
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->dir = strdup(dir);
	if (!c || !c->dir) {
		free(c);
		rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
		return NULL;
	}
	c->max_bytes = max_bytes ? max_bytes : BUNDLE_CACHE_MAX_BYTES;
	return c;
}

void bundle_cache_free(struct bundle_cache *c)
{
	if (!c)
		return;
	free(c->dir);
	free(c);
}

/* ---- copying a tree ---- */

struct copy_ctx {
	char src[PATH_MAX];
	char dst[PATH_MAX];
	size_t src_len, dst_len;
	uint64_t done, total;
	bundle_cache_progress_fn progress;
	void *ud;
	char *buf;                  /* BUNDLE_CACHE_COPY_BUF bytes, for the read/write fallback */
	char *err;
	size_t errlen;
};

static int copy_file(struct copy_ctx *cc, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	int in, out, rc = RW_OK;
	bool plain = false;

	in = open(cc->src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->src, strerror(errno));
	out = open(cc->dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->dst, strerror(errno));
	}
	for (;;) {
		ssize_t n;

		if (!plain) {
			n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP || errno == EPERM)) {
				plain = true;
				continue;
			}
		} else {
			n = read(in, cc->buf, BUNDLE_CACHE_COPY_BUF);
			if (n > 0 && rw_write_all(out, cc->buf, (size_t)n))
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rw_seterr(cc->err, cc->errlen, RW_EIO, "copying %s: %s", cc->src,
				    strerror(errno));
			break;
		}
		if (!n)
			break;
	}
	if (!rc && (fchmod(out, st->st_mode & 07777) < 0 || futimens(out, times) < 0))
		rc = rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->dst, strerror(errno));
	close(in);
	if (close(out) < 0 && !rc)
		rc = rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->dst, strerror(errno));
	return rc;
}

static int copy_link(struct copy_ctx *cc, const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n = readlink(cc->src, target, sizeof(target) - 1);

	if (n < 0)
		return rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->src, strerror(errno));
	target[n] = '\0';
	if (symlink(target, cc->dst) < 0)
		return rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->dst, strerror(errno));
	return RW_OK;
}

/* Appends "/name" to both paths; restores them with copy_pop. */
static int copy_push(struct copy_ctx *cc, const char *name)
{
	size_t n = strlen(name);

	if (cc->src_len + n + 2 > PATH_MAX || cc->dst_len + n + 2 > PATH_MAX)
		return rw_seterr(cc->err, cc->errlen, RW_EINVAL, "path too long below %s", cc->src);
	cc->src[cc->src_len] = '/';
	memcpy(cc->src + cc->src_len + 1, name, n + 1);
	cc->dst[cc->dst_len] = '/';
	memcpy(cc->dst + cc->dst_len + 1, name, n + 1);
	cc->src_len += n + 1;
	cc->dst_len += n + 1;
	return RW_OK;
}

static void copy_pop(struct copy_ctx *cc, size_t src_len, size_t dst_len)
{
	cc->src_len = src_len;
	cc->dst_len = dst_len;
	cc->src[src_len] = '\0';
	cc->dst[dst_len] = '\0';
}

/* Copies the children of cc->src into the existing cc->dst. The names of one directory are
 * read and the directory closed before descending, so no descriptor is held per level, and
 * the paths live in `cc`, so each level costs the stack only a few words. */
static int copy_dir(struct copy_ctx *cc)
{
	size_t src_len = cc->src_len, dst_len = cc->dst_len, n = 0, cap = 0;
	char **names = NULL;
	struct dirent *d;
	int rc = RW_OK;
	DIR *dir;

	dir = opendir(cc->src);
	if (!dir)
		return rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->src, strerror(errno));
	while ((d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (n == cap) {
			char **grown = realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));

			if (!grown) {
				rc = RW_ENOMEM;
				break;
			}
			names = grown;
			cap = cap ? cap * 2 : 16;
		}
		names[n] = strdup(d->d_name);
		if (!names[n]) {
			rc = RW_ENOMEM;
			break;
		}
		n++;
	}
	closedir(dir);
	if (rc)
		rw_seterr(cc->err, cc->errlen, rc, "out of memory");

	for (size_t i = 0; i < n && !rc; i++) {
		struct stat st;

		rc = copy_push(cc, names[i]);
		if (rc)
			break;
		if (lstat(cc->src, &st) < 0) {
			rc = rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->src, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir(cc->dst, 0700) < 0)
				rc = rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->dst,
					    strerror(errno));
			else
				rc = copy_dir(cc);
			if (!rc && chmod(cc->dst, st.st_mode & 07777) < 0)
				rc = rw_seterr(cc->err, cc->errlen, RW_EIO, "%s: %s", cc->dst,
					    strerror(errno));
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(cc, &st);
		} else if (S_ISLNK(st.st_mode)) {
			rc = copy_link(cc, &st);
		}   /* nothing else is ever unpacked into the cache */
		copy_pop(cc, src_len, dst_len);
		cc->done++;
		if (cc->progress)
			cc->progress(cc->ud, cc->done < cc->total ? cc->done : cc->total, cc->total);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int bundle_cache_copy_tree(const char *src, const char *dst, bundle_cache_progress_fn progress,
			   void *ud, uint64_t total, char *err, size_t errlen)
{
	struct copy_ctx *cc;
	struct stat st;
	int rc;

	cc = calloc(1, sizeof(*cc));
	if (cc)
		cc->buf = malloc(BUNDLE_CACHE_COPY_BUF);
	if (!cc || !cc->buf) {
		if (cc)
			free(cc);
		return rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
	}
	cc->progress = progress;
	cc->ud = ud;
	cc->total = total;
	cc->err = err;
	cc->errlen = errlen;
	if (snprintf(cc->src, PATH_MAX, "%s", src) >= PATH_MAX ||
	    snprintf(cc->dst, PATH_MAX, "%s", dst) >= PATH_MAX) {
		rc = rw_seterr(err, errlen, RW_EINVAL, "path too long");
		goto out;
	}
	cc->src_len = strlen(cc->src);
	cc->dst_len = strlen(cc->dst);
	if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rc = rw_seterr(err, errlen, RW_EIO, "%s is not a directory", src);
		goto out;
	}
	if (mkdir(dst, 0700) < 0) {
		rc = rw_seterr(err, errlen, RW_EIO, "%s: %s", dst, strerror(errno));
		goto out;
	}
	rc = copy_dir(cc);
	if (!rc && chmod(dst, st.st_mode & 07777) < 0)
		rc = rw_seterr(err, errlen, RW_EIO, "%s: %s", dst, strerror(errno));
out:
	free(cc->buf);
	free(cc);
	return rc;
}

/* ---- entries ---- */

static int meta_read(const char *entry, struct bundle_cache_info *info, struct stat *st)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_int_t bytes = 0, entries = 0;
	json_t *m;
	int rc;

	if (path_join(path, entry, "meta.json", NULL) || stat(path, st) < 0 ||
	    st->st_size > BUNDLE_CACHE_MAX_META)
		return RW_ENOTFOUND;
	m = json_load_file(path, 0, &jerr);
	if (!m)
		return RW_EPROTO;
	rc = json_unpack(m, "{s:I, s:I}", "bytes", &bytes, "entries", &entries) || bytes < 0 ||
	     entries < 0 ? RW_EPROTO : RW_OK;
	json_decref(m);
	info->bytes = (uint64_t)bytes;
	info->entries = (uint64_t)entries;
	return rc;
}

int bundle_cache_get(struct bundle_cache *c, const char *sha256_hex, const char *dest,
		     bundle_cache_progress_fn progress, void *ud, struct bundle_cache_info *info,
		     char *err, size_t errlen)
{
	char entry[PATH_MAX], lock[PATH_MAX], tree[PATH_MAX], meta[PATH_MAX];
	char dest_abs[PATH_MAX], tmp[PATH_MAX];
	struct bundle_cache_info mi;
	struct stat held, now, mst;
	int fd, rc;

	if (!digest_ok(sha256_hex))
		return rw_seterr(err, errlen, RW_EINVAL, "cache key is not a lowercase SHA-256");
	if (path_join(entry, c->dir, sha256_hex, NULL) || path_join(lock, entry, "lock", NULL) ||
	    path_join(tree, entry, "tree", NULL) || path_join(meta, entry, "meta.json", NULL))
		return rw_seterr(err, errlen, RW_EINVAL, "cache path too long");
	fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return RW_ENOTFOUND;
	if (flock(fd, LOCK_SH) < 0) {
		close(fd);
		return rw_seterr(err, errlen, RW_EIO, "locking %s: %s", lock, strerror(errno));
	}
	/* Evicted between open and flock: the lock file now lives in the trash. */
	if (fstat(fd, &held) < 0 || stat(lock, &now) < 0 || held.st_ino != now.st_ino ||
	    held.st_dev != now.st_dev || meta_read(entry, &mi, &mst)) {
		close(fd);
		return RW_ENOTFOUND;
	}
	rc = bundle_unpack_dest_begin(dest, "copy", dest_abs, tmp, err, errlen);
	if (!rc) {
		/* dest_begin made tmp; the copy wants to create it itself. */
		rmdir(tmp);
		rc = bundle_cache_copy_tree(tree, tmp, progress, ud, mi.entries, err, errlen);
		if (rc)
			rw_remove_tree(tmp);
		else
			rc = bundle_unpack_dest_finish(tmp, dest_abs, err, errlen);
	}
	if (!rc) {
		utimensat(AT_FDCWD, meta, NULL, 0);   /* last use, for eviction */
		if (info)
			*info = mi;
	}
	close(fd);
	return rc;
}

int bundle_cache_lock(struct bundle_cache *c, const char *sha256_hex)
{
	char path[PATH_MAX], name[80];
	int fd;

	if (!digest_ok(sha256_hex))
		return RW_EINVAL;
	snprintf(name, sizeof(name), "%s.lock", sha256_hex);
	if (path_join(path, c->dir, "locks", name))
		return RW_EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return RW_EIO;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return RW_EIO;
		}
	}
	return fd;
}

void bundle_cache_unlock(int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
}

int bundle_cache_stage(struct bundle_cache *c, char *stage, char *err, size_t errlen)
{
	if (snprintf(stage, PATH_MAX, "%s/tmp/stage-XXXXXX", c->dir) >= PATH_MAX)
		return rw_seterr(err, errlen, RW_EINVAL, "cache path too long");
	if (!mkdtemp(stage))
		return rw_seterr(err, errlen, RW_EIO, "staging in %s: %s", c->dir, strerror(errno));
	return RW_OK;
}

void bundle_cache_discard(const char *stage)
{
	if (stage && *stage)
		rw_remove_tree(stage);
}

int bundle_cache_commit(struct bundle_cache *c, const char *sha256_hex, const char *stage,
			const struct bundle_cache_info *info, char *err, size_t errlen)
{
	char path[PATH_MAX], entry[PATH_MAX];
	json_t *meta;
	int fd, rc = RW_OK;

	if (!digest_ok(sha256_hex)) {
		bundle_cache_discard(stage);
		return rw_seterr(err, errlen, RW_EINVAL, "cache key is not a lowercase SHA-256");
	}
	meta = json_pack("{s:s, s:I, s:I, s:I}", "sha256", sha256_hex,
			 "bytes", (json_int_t)info->bytes, "entries", (json_int_t)info->entries,
			 "created", (json_int_t)rw_now_ms());
	if (!meta)
		rc = rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
	else if (path_join(path, stage, "meta.json", NULL) || json_dump_file(meta, path, JSON_COMPACT))
		rc = rw_seterr(err, errlen, RW_EIO, "writing %s: %s", path, strerror(errno));
	json_decref(meta);
	if (!rc) {
		fd = path_join(path, stage, "lock", NULL) ? -1 :
		     open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			rc = rw_seterr(err, errlen, RW_EIO, "writing %s: %s", path, strerror(errno));
		else
			close(fd);
	}
	if (!rc && path_join(entry, c->dir, sha256_hex, NULL))
		rc = rw_seterr(err, errlen, RW_EINVAL, "cache path too long");
	if (!rc && rename(stage, entry) < 0) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			bundle_cache_discard(stage);   /* another agent added it first: keep theirs */
		else
			rc = rw_seterr(err, errlen, RW_EIO, "adding %s to the cache: %s", sha256_hex,
				    strerror(errno));
	}
	if (rc) {
		bundle_cache_discard(stage);
		return rc;
	}
	rc = bundle_cache_evict(c, sha256_hex);
	return rc < 0 ? rw_seterr(err, errlen, rc, "cache eviction failed") : RW_OK;
}

/* ---- eviction ---- */

struct cache_entry {
	char name[65];
	uint64_t bytes;
	struct timespec used;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Moves the entry to the trash unless someone is copying it. 0 evicted, 1 busy, <0 error. */
static int evict_one(struct bundle_cache *c, const char *name)
{
	char entry[PATH_MAX], lock[PATH_MAX], trash[PATH_MAX];
	int fd, rc = 0;

	if (path_join(entry, c->dir, name, NULL) || path_join(lock, entry, "lock", NULL) ||
	    snprintf(trash, sizeof(trash), "%s/tmp/trash-XXXXXX", c->dir) >= (int)sizeof(trash))
		return RW_EINVAL;
	fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 1;
	}
	if (!mkdtemp(trash)) {
		rc = RW_EIO;
	} else if (rename(entry, trash) < 0) {
		rmdir(trash);
		rc = RW_EIO;
	}
	close(fd);
	if (!rc)
		rw_remove_tree(trash);
	return rc;
}

/* Removes staging and trash directories older than BUNDLE_CACHE_STALE_TMP_S. */
static void sweep_tmp(struct bundle_cache *c)
{
	char tmpdir[PATH_MAX], path[PATH_MAX];
	time_t cutoff = time(NULL) - BUNDLE_CACHE_STALE_TMP_S;
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (path_join(tmpdir, c->dir, "tmp", NULL) || !(dir = opendir(tmpdir)))
		return;
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "stage-", 6) && strncmp(d->d_name, "trash-", 6))
			continue;
		if (!path_join(path, tmpdir, d->d_name, NULL) && lstat(path, &st) == 0 &&
		    st.st_mtime < cutoff)
			rw_remove_tree(path);
	}
	closedir(dir);
}

int bundle_cache_evict(struct bundle_cache *c, const char *keep_hex)
{
	struct cache_entry *list = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *d;
	int evicted = 0;
	DIR *dir;

	sweep_tmp(c);
	dir = opendir(c->dir);
	if (!dir)
		return RW_EIO;
	while ((d = readdir(dir))) {
		char entry[PATH_MAX];
		struct bundle_cache_info mi;
		struct stat st;

		if (!digest_ok(d->d_name) || path_join(entry, c->dir, d->d_name, NULL) ||
		    meta_read(entry, &mi, &st))
			continue;
		if (n == cap) {
			struct cache_entry *grown = realloc(list, (cap ? cap * 2 : 16) * sizeof(*list));

			if (!grown) {
				closedir(dir);
				free(list);
				return RW_ENOMEM;
			}
			list = grown;
			cap = cap ? cap * 2 : 16;
		}
		memcpy(list[n].name, d->d_name, 65);
		list[n].bytes = mi.bytes;
		list[n].used = st.st_mtim;
		total += mi.bytes;
		n++;
	}
	closedir(dir);
	if (n)
		qsort(list, n, sizeof(*list), entry_cmp);
	for (size_t i = 0; i < n && total > c->max_bytes; i++) {
		if (keep_hex && !strcmp(list[i].name, keep_hex))
			continue;
		if (evict_one(c, list[i].name) == 0) {
			total -= list[i].bytes;
			evicted++;
		}
	}
	free(list);
	return evicted;
}
