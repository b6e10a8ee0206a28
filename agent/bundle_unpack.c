/* bundle_unpack.c: safe unpacking of bundle archives with libarchive (see bundle_unpack.h).
 *
 * Two passes over the archive. The scan reads headers only: it counts entries, checks every
 * path, type and link, adds up declared sizes and finds a single top-level directory. The
 * extraction checks each entry again (in the stripped namespace, which is the one that lands
 * on disk) before libarchive writes it, and counts bytes and compression ratio as data flows.
 * Paths handed to libarchive are absolute (root + checked relative path), so no chdir is
 * needed; that is also why ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS is not set: the entry's own
 * path is refused when absolute before the root is prefixed.
 */
#include "agent/bundle_unpack.h"
#include "common/rw.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define UNPACK_SET_MIN_SLOTS 1024   /* initial slots of the path set (a power of two) */

/* Paths seen so far, as keyed 64-bit SipHash values (the key is random per unpack, so an
 * archive cannot craft collisions), with the type of what the path holds. Storing hashes
 * rather than names keeps memory at 16 bytes per entry whatever the names' lengths. */
struct pathset_slot {
	uint64_t hash;   /* 0 = empty */
	unsigned type;   /* AE_IFREG, AE_IFDIR or AE_IFLNK */
};

struct pathset {
	struct pathset_slot *slots;
	size_t cap;      /* a power of two */
	size_t len;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

enum entry_kind { ENTRY_ROOT, ENTRY_FILE, ENTRY_DIR, ENTRY_SYMLINK, ENTRY_HARDLINK };

struct unpack_ctx {
	const struct bundle_unpack_limits *lim;
	struct pathset set;
	uint64_t headers;         /* headers read in this pass */
	uint64_t objects;         /* distinct paths, implied parent directories included */
	uint64_t declared;        /* sum of declared file sizes (scan) */
	uint64_t written;         /* file bytes written (extraction) */
	const char *strip;        /* top-level directory stripped in this pass, or NULL */
	size_t strip_len;
	/* scan: the single top-level directory, if there is one */
	char top[BUNDLE_UNPACK_MAX_PATH + 1];
	bool top_seen, top_ok;
	char *err;
	size_t errlen;
};

static int fail(struct unpack_ctx *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct unpack_ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void bundle_unpack_limits_init(struct bundle_unpack_limits *l)
{
	l->max_entries = BUNDLE_UNPACK_MAX_ENTRIES;
	l->max_total_bytes = BUNDLE_UNPACK_MAX_TOTAL;
	l->max_ratio = BUNDLE_UNPACK_MAX_RATIO;
	l->ratio_floor = BUNDLE_UNPACK_RATIO_FLOOR;
}

bool bundle_unpack_ratio_exceeded(uint64_t out, uint64_t in, const struct bundle_unpack_limits *l)
{
	uint64_t allowed;

	if (!l->max_ratio || out <= l->ratio_floor)
		return false;
	if (__builtin_mul_overflow(in, l->max_ratio, &allowed))
		return false;
	return out > allowed;
}

/* ---- path set ---- */

static uint64_t pathset_hash(const struct pathset *s, const char *path, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, (const unsigned char *)path, len, s->key);
	memcpy(&v, h, sizeof(v));
	return v ? v : 1;
}

static int pathset_init(struct pathset *s)
{
	s->cap = UNPACK_SET_MIN_SLOTS;
	s->len = 0;
	s->slots = calloc(s->cap, sizeof(*s->slots));
	randombytes_buf(s->key, sizeof(s->key));
	return s->slots ? RW_OK : RW_ENOMEM;
}

static void pathset_release(struct pathset *s)
{
	free(s->slots);
	s->slots = NULL;
}

static struct pathset_slot *pathset_slot(const struct pathset *s, uint64_t h)
{
	size_t i = (size_t)h & (s->cap - 1);

	while (s->slots[i].hash && s->slots[i].hash != h)
		i = (i + 1) & (s->cap - 1);
	return &s->slots[i];
}

/* The type stored for `path` (its first `len` bytes), or 0 when it was never seen. */
static unsigned pathset_get(const struct pathset *s, const char *path, size_t len)
{
	return pathset_slot(s, pathset_hash(s, path, len))->type;
}

static int pathset_put(struct pathset *s, const char *path, size_t len, unsigned type)
{
	uint64_t h = pathset_hash(s, path, len);
	struct pathset_slot *slot;

	if ((s->len + 1) * 2 > s->cap) {
		struct pathset_slot *old = s->slots;
		size_t old_cap = s->cap;

		s->slots = calloc(old_cap * 2, sizeof(*s->slots));
		if (!s->slots) {
			s->slots = old;
			return RW_ENOMEM;
		}
		s->cap = old_cap * 2;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].hash)
				*pathset_slot(s, old[i].hash) = old[i];
		free(old);
	}
	slot = pathset_slot(s, h);
	if (!slot->hash)
		s->len++;
	slot->hash = h;
	slot->type = type;
	return RW_OK;
}

/* ---- path checks ---- */

int bundle_unpack_normalize(const char *path, char *out, size_t outlen)
{
	const char *p = path;
	size_t n = 0;

	if (strlen(path) > BUNDLE_UNPACK_MAX_PATH)
		return RW_ETOOBIG;
	if (path[0] == '/')
		return RW_EUNSAFE;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return RW_EUNSAFE;
		if (len && !(len == 1 && p[0] == '.')) {
			if (n + (n ? 1 : 0) + len + 1 > outlen)
				return RW_ETOOBIG;
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (!outlen)
		return RW_ETOOBIG;
	out[n] = '\0';
	return RW_OK;
}

int bundle_unpack_check_symlink(const char *link_path, const char *target)
{
	long depth = 0;
	bool named = false;
	const char *p;

	if (!*target || strlen(target) > BUNDLE_UNPACK_MAX_PATH || target[0] == '/')
		return RW_EUNSAFE;
	/* The link's directory: one level per '/' in its normalised path. */
	for (p = link_path; *p; p++)
		if (*p == '/')
			depth++;
	p = target;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (named || --depth < 0)
				return RW_EUNSAFE;
		} else if (len && !(len == 1 && p[0] == '.')) {
			named = true;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return RW_OK;
}

static const char *type_name(unsigned type)
{
	switch (type) {
	case AE_IFREG: return "a file";
	case AE_IFDIR: return "a directory";
	case AE_IFLNK: return "a symlink";
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a fifo";
	case AE_IFSOCK: return "a socket";
	}
	return "of an unknown type";
}

/* Normalises `raw` (an entry's path or hardlink target) and removes the stripped top-level
 * directory. `what` names it in the reason ("entry", "hardlink target"). */
static int entry_relpath(struct unpack_ctx *c, const char *name, const char *raw, const char *what,
			 char *rel, size_t rellen)
{
	int rc = bundle_unpack_normalize(raw, rel, rellen);

	if (rc == RW_ETOOBIG)
		return fail(c, RW_EUNSAFE, "entry '%.200s': %s longer than %d bytes refused", name,
			    what, BUNDLE_UNPACK_MAX_PATH);
	if (rc && raw[0] == '/')
		return fail(c, RW_EUNSAFE, "entry '%.200s': absolute %s '%.200s' refused", name,
			    what, raw);
	if (rc)
		return fail(c, RW_EUNSAFE, "entry '%.200s': '..' in %s '%.200s' refused", name,
			    what, raw);
	if (c->strip) {
		if (strncmp(rel, c->strip, c->strip_len) ||
		    (rel[c->strip_len] && rel[c->strip_len] != '/'))
			return fail(c, RW_EUNSAFE, "entry '%.200s': %s outside the top-level directory",
				    name, what);
		memmove(rel, rel + c->strip_len + (rel[c->strip_len] ? 1 : 0),
			strlen(rel + c->strip_len + (rel[c->strip_len] ? 1 : 0)) + 1);
	}
	return RW_OK;
}

/* Records that `rel` will hold `type`: every parent must be a directory (or not seen yet, and
 * then it becomes one), and only a directory may appear twice. */
static int entry_claim(struct unpack_ctx *c, const char *name, const char *rel, unsigned type)
{
	size_t len = strlen(rel);
	unsigned have;

	for (size_t i = 0; i < len; i++) {
		if (rel[i] != '/')
			continue;
		have = pathset_get(&c->set, rel, i);
		if (have && have != AE_IFDIR)
			return fail(c, RW_EUNSAFE, "entry '%.200s': its parent '%.*s' is %s, refused",
				    name, (int)(i > 200 ? 200 : i), rel, type_name(have));
		if (!have) {
			if (pathset_put(&c->set, rel, i, AE_IFDIR))
				return fail(c, RW_ENOMEM, "out of memory");
			c->objects++;
		}
	}
	have = pathset_get(&c->set, rel, len);
	if (have && (have != AE_IFDIR || type != AE_IFDIR))
		return fail(c, RW_EUNSAFE, "entry '%.200s': duplicate of %s already extracted, refused",
			    name, type_name(have));
	if (!have) {
		if (pathset_put(&c->set, rel, len, type))
			return fail(c, RW_ENOMEM, "out of memory");
		c->objects++;
	}
	if (c->objects > c->lim->max_entries)
		return fail(c, RW_ETOOBIG, "more than %llu entries (implied directories included): refused",
			    (unsigned long long)c->lim->max_entries);
	return RW_OK;
}

/* Checks one header. On success `*kind` says what it is, `rel` holds its path relative to the
 * output root and, for a hardlink, `link_rel` its target's. */
static int entry_check(struct unpack_ctx *c, struct archive_entry *e, enum entry_kind *kind,
		       char *rel, size_t rellen, char *link_rel, size_t linklen)
{
	const char *name = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	int rc;

	if (!name)
		name = archive_entry_pathname_utf8(e);
	if (!name)
		return fail(c, RW_EUNSAFE, "entry #%llu has no usable name",
			    (unsigned long long)c->headers);
	if (++c->headers > c->lim->max_entries)
		return fail(c, RW_ETOOBIG, "more than %llu entries: refused",
			    (unsigned long long)c->lim->max_entries);
	rc = entry_relpath(c, name, name, "path", rel, rellen);
	if (rc)
		return rc;

	if (hardlink) {
		rc = entry_relpath(c, name, hardlink, "hardlink target", link_rel, linklen);
		if (rc)
			return rc;
		if (!*link_rel || pathset_get(&c->set, link_rel, strlen(link_rel)) != AE_IFREG)
			return fail(c, RW_EUNSAFE,
				    "entry '%.200s': hardlink to '%.200s', which is not a file extracted "
				    "before it, refused", name, hardlink);
		*kind = ENTRY_HARDLINK;
		type = AE_IFREG;
	} else if (type == AE_IFREG) {
		*kind = ENTRY_FILE;
	} else if (type == AE_IFDIR) {
		*kind = ENTRY_DIR;
	} else if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);

		if (!target)
			target = "";
		if (bundle_unpack_check_symlink(rel, target))
			return fail(c, RW_EUNSAFE,
				    "entry '%.200s': symlink to '%.200s' %s, refused", name, target,
				    target[0] == '/' ? "is absolute" : "leaves the bundle");
		*kind = ENTRY_SYMLINK;
	} else {
		return fail(c, RW_EUNSAFE, "entry '%.200s' is %s: refused", name, type_name(type));
	}

	if (!*rel) {
		if (*kind != ENTRY_DIR)
			return fail(c, RW_EUNSAFE, "entry '%.200s' would replace the bundle's root",
				    name);
		*kind = ENTRY_ROOT;
		return RW_OK;
	}
	return entry_claim(c, name, rel, type);
}

/* ---- reading ---- */

static struct archive *reader_open(int fd, struct unpack_ctx *c, int *rc)
{
	struct archive *a;

	if (lseek(fd, 0, SEEK_SET) < 0) {
		*rc = fail(c, RW_EIO, "cannot rewind the archive: %s", strerror(errno));
		return NULL;
	}
	a = archive_read_new();
	if (!a) {
		*rc = fail(c, RW_ENOMEM, "out of memory");
		return NULL;
	}
	archive_read_support_format_zip(a);
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	if (archive_read_open_fd(a, fd, BUNDLE_UNPACK_READ_BLOCK) != ARCHIVE_OK) {
		*rc = fail(c, RW_EINVAL, "not a zip or tar.gz archive: %s",
			   archive_error_string(a) ? archive_error_string(a) : "unreadable");
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Reads the next header. 1 = got one, 0 = end, negative = error (message set). */
static int reader_next(struct archive *a, struct archive_entry **e, struct unpack_ctx *c)
{
	int r = archive_read_next_header(a, e);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 1;
	return fail(c, RW_EINVAL, "not a valid zip or tar.gz archive (after %llu entries): %s",
		    (unsigned long long)c->headers,
		    archive_error_string(a) ? archive_error_string(a) : "read error");
}

static bool cancelled(const atomic_bool *cancel)
{
	return cancel && atomic_load(cancel);
}

/* Pass 1: headers only. Finds the top-level directory to strip (c->top when c->top_ok). */
static int unpack_scan(int fd, struct unpack_ctx *c, uint64_t archive_size,
		       const atomic_bool *cancel)
{
	char rel[BUNDLE_UNPACK_MAX_PATH + 1], link_rel[BUNDLE_UNPACK_MAX_PATH + 1];
	struct archive_entry *e;
	struct archive *a;
	enum entry_kind kind;
	int rc = 0, r;

	a = reader_open(fd, c, &rc);
	if (!a)
		return rc;
	c->top_ok = true;
	while ((r = reader_next(a, &e, c)) == 1) {
		rc = entry_check(c, e, &kind, rel, sizeof(rel), link_rel, sizeof(link_rel));
		if (rc)
			break;
		if (cancelled(cancel)) {
			rc = fail(c, RW_ESTATE, "cancelled");
			break;
		}
		if (kind != ENTRY_ROOT) {
			size_t first = strcspn(rel, "/");

			if (!c->top_seen) {
				memcpy(c->top, rel, first);
				c->top[first] = '\0';
				c->top_seen = true;
			} else if (strlen(c->top) != first || strncmp(c->top, rel, first)) {
				c->top_ok = false;
			}
			if (!rel[first] && kind != ENTRY_DIR)
				c->top_ok = false;
		}
		if (kind == ENTRY_FILE && archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
			c->declared += (uint64_t)archive_entry_size(e);
			if (c->declared > c->lim->max_total_bytes) {
				rc = fail(c, RW_ETOOBIG,
					  "entry '%.200s': declared sizes pass the cap of %llu bytes, refused",
					  archive_entry_pathname(e),
					  (unsigned long long)c->lim->max_total_bytes);
				break;
			}
			/* A compressed stream (tar.gz) is judged as a whole, from its headers here
			 * (before inflating a bomb just to skip it) and from real bytes later. */
			if (archive_filter_count(a) > 1 &&
			    bundle_unpack_ratio_exceeded(c->declared, archive_size, c->lim)) {
				rc = fail(c, RW_ETOOBIG,
					  "entry '%.200s': the archive would expand from %llu to more than "
					  "%llu bytes (over %llux), refused as a compression bomb",
					  archive_entry_pathname(e), (unsigned long long)archive_size,
					  (unsigned long long)c->declared,
					  (unsigned long long)c->lim->max_ratio);
				break;
			}
		}
	}
	if (r < 0)
		rc = r;
	if (!c->top_seen)
		c->top_ok = false;
	archive_read_free(a);
	return rc;
}

/* Modes on disk: no setuid, setgid or sticky bit, no group/other write; the owner can always
 * read and write (and enter directories), so the tree can be cleaned up. Exec bits stay. */
static void entry_sanitize(struct archive_entry *e, enum entry_kind kind)
{
	mode_t perm = archive_entry_perm(e) & 0755;

	if (kind == ENTRY_DIR)
		archive_entry_set_perm(e, perm | 0700);
	else if (kind == ENTRY_FILE || kind == ENTRY_HARDLINK)
		archive_entry_set_perm(e, perm | 0600);
	archive_entry_acl_clear(e);
	archive_entry_xattr_clear(e);
	archive_entry_set_fflags(e, 0, 0);
}

struct extract_state {
	struct unpack_ctx *c;
	struct archive *a;
	struct archive *w;
	const char *root;
	bool per_entry_ratio;   /* zip: each entry's own compressed bytes are known */
	uint64_t archive_size;  /* bytes of the archive file */
	uint64_t total;         /* file bytes written */
};

/* Copies one entry's data, counting bytes and checking the caps on each block. */
static int extract_data(struct extract_state *x, const char *name)
{
	const struct bundle_unpack_limits *lim = x->c->lim;
	int64_t in_start = archive_filter_bytes(x->a, -1);
	uint64_t entry_out = 0, entry_in = 0;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(x->a, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return fail(x->c, RW_EINVAL, "entry '%.200s': corrupt data: %s", name,
				    archive_error_string(x->a) ? archive_error_string(x->a) : "?");
		if (off < 0)
			return fail(x->c, RW_EINVAL, "entry '%.200s': negative offset", name);
		if ((uint64_t)off + size > entry_out) {
			x->total += (uint64_t)off + size - entry_out;
			entry_out = (uint64_t)off + size;
		}
		if (x->total > lim->max_total_bytes)
			return fail(x->c, RW_ETOOBIG,
				    "entry '%.200s': unpacked bytes pass the cap of %llu, refused", name,
				    (unsigned long long)lim->max_total_bytes);
		if (x->per_entry_ratio) {
			entry_in = (uint64_t)(archive_filter_bytes(x->a, -1) - in_start);
			if (bundle_unpack_ratio_exceeded(entry_out, entry_in, lim))
				return fail(x->c, RW_ETOOBIG,
					    "entry '%.200s': expands more than %llux (%llu bytes from %llu), "
					    "refused as a zip bomb", name,
					    (unsigned long long)lim->max_ratio,
					    (unsigned long long)entry_out, (unsigned long long)entry_in);
		}
		/* The archive as a whole (for tar.gz the only measure, as the scan judged it from
		 * the headers): against its full size, since a running ratio would refuse an
		 * honest archive whose most compressible part happens to come first. */
		if (bundle_unpack_ratio_exceeded(x->total, x->archive_size, lim))
			return fail(x->c, RW_ETOOBIG,
				    "entry '%.200s': the archive expands more than %llux, refused as a "
				    "compression bomb", name, (unsigned long long)lim->max_ratio);
		if (size && archive_write_data_block(x->w, buf, size, off) < 0)
			return fail(x->c, RW_EIO, "entry '%.200s': write failed: %s", name,
				    archive_error_string(x->w) ? archive_error_string(x->w) : "?");
	}
	return RW_OK;
}

/* Builds root + "/" + rel into `out` (PATH_MAX bytes). */
static int join_root(struct unpack_ctx *c, const char *root, const char *rel, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", root, rel);

	if (n < 0 || n >= PATH_MAX)
		return fail(c, RW_EUNSAFE, "entry '%.200s': path too long", rel);
	return RW_OK;
}

/* Pass 2: checks each entry again and writes it below `root`. */
static int unpack_extract(int fd, struct unpack_ctx *c, const char *root, uint64_t archive_size,
			  uint64_t total_entries, bundle_unpack_progress_fn progress, void *ud,
			  const atomic_bool *cancel)
{
	char rel[BUNDLE_UNPACK_MAX_PATH + 1], link_rel[BUNDLE_UNPACK_MAX_PATH + 1];
	char full[PATH_MAX], full_link[PATH_MAX];
	struct extract_state x = { .c = c, .root = root, .archive_size = archive_size };
	struct archive_entry *e;
	enum entry_kind kind;
	int rc = 0, r;

	x.a = reader_open(fd, c, &rc);
	if (!x.a)
		return rc;
	x.w = archive_write_disk_new();
	if (!x.w) {
		archive_read_free(x.a);
		return fail(c, RW_ENOMEM, "out of memory");
	}
	archive_write_disk_set_options(x.w, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
				       ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_PERM |
				       ARCHIVE_EXTRACT_TIME);
	while ((r = reader_next(x.a, &e, c)) == 1) {
		const char *name = archive_entry_pathname(e);

		if (cancelled(cancel)) {
			rc = fail(c, RW_ESTATE, "cancelled");
			break;
		}
		if (c->headers == 0)
			x.per_entry_ratio = (archive_format(x.a) & ARCHIVE_FORMAT_BASE_MASK) ==
					    ARCHIVE_FORMAT_ZIP;
		rc = entry_check(c, e, &kind, rel, sizeof(rel), link_rel, sizeof(link_rel));
		if (rc)
			break;
		if (progress)
			progress(ud, c->headers, total_entries);
		if (kind == ENTRY_ROOT)
			continue;
		if (!name)
			name = rel;
		rc = join_root(c, root, rel, full);
		if (rc)
			break;
		if (kind == ENTRY_FILE && archive_entry_size_is_set(e) &&
		    (uint64_t)archive_entry_size(e) > c->lim->max_total_bytes - x.total) {
			rc = fail(c, RW_ETOOBIG,
				  "entry '%.200s': unpacked bytes pass the cap of %llu, refused", name,
				  (unsigned long long)c->lim->max_total_bytes);
			break;
		}
		archive_entry_copy_pathname(e, full);
		if (kind == ENTRY_HARDLINK) {
			rc = join_root(c, root, link_rel, full_link);
			if (rc)
				break;
			archive_entry_copy_hardlink(e, full_link);
		}
		entry_sanitize(e, kind);
		if (archive_write_header(x.w, e) < ARCHIVE_WARN) {
			rc = fail(c, RW_EUNSAFE, "entry '%.200s': refused by the extractor: %s", rel,
				  archive_error_string(x.w) ? archive_error_string(x.w) : "?");
			break;
		}
		rc = extract_data(&x, rel);
		if (rc)
			break;
		if (archive_write_finish_entry(x.w) < ARCHIVE_WARN) {
			rc = fail(c, RW_EIO, "entry '%.200s': %s", rel,
				  archive_error_string(x.w) ? archive_error_string(x.w) : "write failed");
			break;
		}
	}
	if (r < 0)
		rc = r;
	if (archive_write_close(x.w) < ARCHIVE_WARN && !rc)
		rc = fail(c, RW_EIO, "finishing the tree: %s",
			  archive_error_string(x.w) ? archive_error_string(x.w) : "?");
	archive_write_free(x.w);
	archive_read_free(x.a);
	c->written = x.total;
	return rc;
}

/* ---- destination ---- */

/* Splits `dest` into its real parent directory and base name. */
static int dest_split(const char *dest, char *parent, char *base, size_t baselen,
		      char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dest);
	char *slash;

	if (!n || n >= sizeof(tmp)) {
		snprintf(err, errlen, "bad destination path");
		return RW_EINVAL;
	}
	memcpy(tmp, dest, n + 1);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	slash = strrchr(tmp, '/');
	if (slash) {
		*slash = '\0';
		if (snprintf(base, baselen, "%s", slash + 1) >= (int)baselen)
			return RW_EINVAL;
		if (!realpath(slash == tmp ? "/" : tmp, parent)) {
			snprintf(err, errlen, "destination's parent %s: %s", tmp, strerror(errno));
			return RW_EINVAL;
		}
	} else {
		if (snprintf(base, baselen, "%s", tmp) >= (int)baselen)
			return RW_EINVAL;
		if (!realpath(".", parent)) {
			snprintf(err, errlen, "current directory: %s", strerror(errno));
			return RW_EIO;
		}
	}
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		snprintf(err, errlen, "bad destination path %s", dest);
		return RW_EINVAL;
	}
	return RW_OK;
}

/* 0 when `path` does not exist or is an empty directory. */
static int dest_usable(const char *path, char *err, size_t errlen)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? RW_OK : (snprintf(err, errlen, "%s: %s", path,
							   strerror(errno)), RW_EIO);
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "destination %s exists and is not a directory", path);
		return RW_EINVAL;
	}
	dir = opendir(path);
	if (!dir) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return RW_EIO;
	}
	while ((d = readdir(dir))) {
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			closedir(dir);
			snprintf(err, errlen, "destination %s is not empty", path);
			return RW_EINVAL;
		}
	}
	closedir(dir);
	return RW_OK;
}

int bundle_unpack_dest_begin(const char *dest, const char *tag, char *dest_abs, char *tmp,
			     char *err, size_t errlen)
{
	char parent[PATH_MAX], base[NAME_MAX + 1];
	int rc = dest_split(dest, parent, base, sizeof(base), err, errlen);

	if (rc)
		return rc;
	if (snprintf(dest_abs, PATH_MAX, "%s/%s", parent, base) >= PATH_MAX ||
	    snprintf(tmp, PATH_MAX, "%s/.%s.%s-XXXXXX", parent, base, tag) >= PATH_MAX) {
		snprintf(err, errlen, "destination path too long");
		return RW_EINVAL;
	}
	rc = dest_usable(dest_abs, err, errlen);
	if (rc)
		return rc;
	if (!mkdtemp(tmp)) {
		snprintf(err, errlen, "cannot create a directory in %s: %s", parent, strerror(errno));
		return RW_EIO;
	}
	chmod(tmp, 0755);
	return RW_OK;
}

int bundle_unpack_dest_finish(const char *tmp, const char *dest_abs, char *err, size_t errlen)
{
	int e, rc;

	if (rename(tmp, dest_abs) == 0)
		return RW_OK;
	e = errno;
	if (e == ENOTEMPTY || e == EEXIST || e == ENOTDIR) {
		snprintf(err, errlen, "destination %s is not empty", dest_abs);
		rc = RW_EINVAL;
	} else {
		snprintf(err, errlen, "rename into %s: %s", dest_abs, strerror(e));
		rc = RW_EIO;
	}
	rw_remove_tree(tmp);
	return rc;
}

int bundle_unpack(int archive_fd, const char *dest_dir, const struct bundle_unpack_limits *lim,
		  bundle_unpack_progress_fn progress, void *ud, const atomic_bool *cancel,
		  struct bundle_unpack_stats *stats, char *err, size_t errlen)
{
	struct bundle_unpack_limits defaults;
	struct unpack_ctx c = { .err = err, .errlen = errlen };
	char tmp[PATH_MAX], dest[PATH_MAX];
	char top[BUNDLE_UNPACK_MAX_PATH + 1];
	uint64_t entries;
	struct stat st;
	bool strip;
	int rc;

	if (!lim) {
		bundle_unpack_limits_init(&defaults);
		lim = &defaults;
	}
	c.lim = lim;
	if (err && errlen)
		err[0] = '\0';
	if (sodium_init() < 0)
		return fail(&c, RW_EIO, "libsodium failed to initialise");
	if (fstat(archive_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return fail(&c, RW_EINVAL, "the archive is not a regular file");

	/* Pass 1, before anything is created. */
	if (pathset_init(&c.set))
		return fail(&c, RW_ENOMEM, "out of memory");
	rc = unpack_scan(archive_fd, &c, (uint64_t)st.st_size, cancel);
	pathset_release(&c.set);
	if (rc)
		return rc;
	entries = c.headers;
	strip = c.top_ok;
	snprintf(top, sizeof(top), "%s", c.top);

	/* Pass 2, into a temporary directory beside the destination. */
	rc = bundle_unpack_dest_begin(dest_dir, "unpack", dest, tmp, err, errlen);
	if (rc)
		return rc;
	c.headers = c.objects = 0;
	c.strip = strip ? top : NULL;
	c.strip_len = strip ? strlen(top) : 0;
	if (pathset_init(&c.set)) {
		rc = fail(&c, RW_ENOMEM, "out of memory");
	} else {
		rc = unpack_extract(archive_fd, &c, tmp, (uint64_t)st.st_size, entries, progress, ud,
				    cancel);
		pathset_release(&c.set);
	}
	if (rc) {
		rw_remove_tree(tmp);
		return rc;
	}
	rc = bundle_unpack_dest_finish(tmp, dest, err, errlen);
	if (rc)
		return rc;
	if (stats) {
		stats->entries = entries;
		stats->bytes = c.written;
		stats->stripped = strip;
	}
	return RW_OK;
}
