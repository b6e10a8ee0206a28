/* bundle_unpack.h: unpack a verified bundle archive (zip or tar.gz) into a directory, safely.
 *
 * The third stage of the agent's bundle pipeline (DESIGN.md: fetch -> verify -> unpack). The
 * archive's bytes match their promised SHA-256, but what they describe is still untrusted: every
 * entry is checked before anything is written, and the caps below are counted while writing.
 *
 * What is refused (RW_EUNSAFE, the reason names the entry): absolute paths, any `..` component,
 * symlinks whose target is absolute or leaves the tree, hardlinks whose target is not a regular
 * file extracted earlier, entries below a symlink or a file, duplicates of files, device, fifo
 * and socket entries. What is neutralised: setuid, setgid and sticky bits and group/other write
 * bits are dropped (exec bits stay), owners, ACLs, extended attributes and file flags are never
 * applied. What is capped (RW_ETOOBIG): entries, total bytes written, compression ratio.
 * When every entry lives under one top-level directory (GitHub archives), it is stripped.
 *
 * Thread-safe: no global state, no chdir (paths handed to libarchive are absolute). One caveat
 * from libarchive's disk writer: it reads the umask with umask(umask(0)) for every entry, so a
 * file another thread of the process creates in that instant gets the mode it asked for
 * unmasked. Threads that run beside an unpack should create files with explicit modes.
 */
#ifndef RW_BUNDLE_UNPACK_H
#define RW_BUNDLE_UNPACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUNDLE_UNPACK_MAX_ENTRIES 100000          /* entries (headers) in one archive */
#define BUNDLE_UNPACK_MAX_TOTAL (1ULL << 30)      /* bytes written to disk, all entries */
#define BUNDLE_UNPACK_MAX_RATIO 100               /* uncompressed : compressed */
#define BUNDLE_UNPACK_RATIO_FLOOR (1ULL << 20)    /* the ratio applies past this many bytes */
#define BUNDLE_UNPACK_MAX_PATH 1024               /* bytes in an entry's path or link target */
#define BUNDLE_UNPACK_READ_BLOCK (256 * 1024)     /* bytes per read from the archive file */

struct bundle_unpack_limits {
	uint64_t max_entries;      /* BUNDLE_UNPACK_MAX_ENTRIES */
	uint64_t max_total_bytes;  /* BUNDLE_UNPACK_MAX_TOTAL */
	uint64_t max_ratio;        /* BUNDLE_UNPACK_MAX_RATIO; 0 = no ratio check */
	uint64_t ratio_floor;      /* BUNDLE_UNPACK_RATIO_FLOOR */
};

struct bundle_unpack_stats {
	uint64_t entries;          /* headers read (directories and links included) */
	uint64_t bytes;            /* file bytes written */
	bool stripped;             /* a single top-level directory was stripped */
};

/* Progress: `done` entries of `total` (total is known before the first byte is written). */
typedef void (*bundle_unpack_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Fills `l` with the defaults above. */
void bundle_unpack_limits_init(struct bundle_unpack_limits *l);

/* Unpacks the archive open on `archive_fd` (a regular file, read from offset 0; the caller
 * keeps the fd) into `dest_dir`, which must not exist or be an empty directory; its parent
 * must exist. Works in a temporary directory beside `dest_dir` and renames it into place, so
 * `dest_dir` appears complete or not at all. Runs two passes: the first reads only headers
 * (count, paths, types, links, declared sizes, top-level directory) so a hostile archive is
 * refused before anything is written; the second applies the same checks again and writes.
 * `lim` may be NULL (defaults); `progress`, `cancel` and `stats` may be NULL.
 * Returns 0, or RW_EUNSAFE / RW_ETOOBIG / RW_EINVAL (not an archive, corrupt) / RW_EIO /
 * RW_ENOMEM / RW_ESTATE (`cancel` became true), with a one-line reason in `err`. */
int bundle_unpack(int archive_fd, const char *dest_dir, const struct bundle_unpack_limits *lim,
		  bundle_unpack_progress_fn progress, void *ud, const atomic_bool *cancel,
		  struct bundle_unpack_stats *stats, char *err, size_t errlen);

/* Where a tree lands (shared with the cache's copy-out): checks that `dest` does not exist or
 * is an empty directory whose parent exists, writes its absolute path (real parent) into
 * `dest_abs` and makes an empty directory `tmp` beside it named ".<name>.<tag>-XXXXXX" (both
 * PATH_MAX bytes). 0, or RW_EINVAL / RW_EIO with a reason. */
int bundle_unpack_dest_begin(const char *dest, const char *tag, char *dest_abs, char *tmp,
			     char *err, size_t errlen);

/* Renames the finished `tmp` onto `dest_abs` (atomic; replaces an empty directory). On failure
 * removes `tmp`. 0, or RW_EINVAL (destination filled meanwhile) / RW_EIO. */
int bundle_unpack_dest_finish(const char *tmp, const char *dest_abs, char *err, size_t errlen);

/* The checks, exposed for the unit tests. */

/* Normalises an entry path into `out` (`outlen` bytes): drops empty and "." components and a
 * trailing '/'. "" is the archive's root. RW_EUNSAFE for an absolute path or a ".."
 * component, RW_ETOOBIG past BUNDLE_UNPACK_MAX_PATH. */
int bundle_unpack_normalize(const char *path, char *out, size_t outlen);

/* Checks a symlink target for a link at normalised path `link_path`: RW_OK when the target is
 * relative and, resolved lexically from the link's directory, stays inside the tree. ".."
 * may only lead the target ("../../lib/x"); after a named component it is refused, because
 * that name may itself be a link and ".." would then climb from where it points. */
int bundle_unpack_check_symlink(const char *link_path, const char *target);

/* True when `out` bytes produced from `in` compressed bytes break the ratio cap in `l`. */
bool bundle_unpack_ratio_exceeded(uint64_t out, uint64_t in, const struct bundle_unpack_limits *l);

#endif
