/* bundle_cache.h: verified, unpacked bundles kept by SHA-256 for the next session.
 *
 * The last stage of the agent's bundle pipeline (DESIGN.md): a bundle unpacked once is reused by
 * any later session that names the same digest, with no network request. Layout:
 *
 *   DIR/<sha256>/tree/       the unpacked tree (never handed out: sessions get a private copy,
 *                            so a session cannot poison what the next one receives)
 *   DIR/<sha256>/meta.json   {"sha256","bytes","entries","created"}; its mtime = last use
 *   DIR/<sha256>/lock        flock: shared while a tree is copied out, exclusive to evict
 *   DIR/locks/<sha256>.lock  flock: held while one agent fetches and unpacks that digest
 *   DIR/tmp/                 staging and trash directories
 *
 * An entry appears by one rename(2) of a complete staging directory, so it is there whole or
 * not at all; when two agents race, the second rename fails and its copy is discarded. Past
 * `max_bytes` (sum of the entries' unpacked bytes) the least recently used entries are evicted,
 * skipping entries being copied and the one just added (so the cache may pass its cap by at
 * most one bundle). Several agents (processes or threads) may share one directory; the cache
 * directory must not be writable by sessions.
 */
#ifndef RW_BUNDLE_CACHE_H
#define RW_BUNDLE_CACHE_H

#include <stdint.h>
#include <stddef.h>

#define BUNDLE_CACHE_MAX_BYTES (2ULL << 30)        /* default cap: 2 GiB of unpacked bytes */
#define BUNDLE_CACHE_STALE_TMP_S (24 * 3600)       /* staging left by a crash is removed after */
#define BUNDLE_CACHE_MAX_META 4096                 /* bytes in one meta.json */
#define BUNDLE_CACHE_COPY_BUF (256 * 1024)         /* bytes per read when copy_file_range fails */

struct bundle_cache;

struct bundle_cache_info {
	uint64_t bytes;      /* unpacked file bytes */
	uint64_t entries;    /* archive entries (for progress) */
};

/* Progress of a copy out of the cache: `done` of about `total` entries. */
typedef void (*bundle_cache_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Opens the cache in `dir`, creating it (not its parents) and its subdirectories if needed.
 * `max_bytes` 0 = BUNDLE_CACHE_MAX_BYTES.
 * Returns a handle the caller frees with bundle_cache_free, or NULL with a reason in `err`. */
struct bundle_cache *bundle_cache_open(const char *dir, uint64_t max_bytes, char *err,
				       size_t errlen);
void bundle_cache_free(struct bundle_cache *c);

/* On a hit, copies the cached tree for `sha256_hex` (64 lowercase hex) into `dest` (must not
 * exist or be empty), marks the entry used and fills `info` (may be NULL). Returns 0 on a hit,
 * RW_ENOTFOUND on a miss, another RW_E code on failure. */
int bundle_cache_get(struct bundle_cache *c, const char *sha256_hex, const char *dest,
		     bundle_cache_progress_fn progress, void *ud, struct bundle_cache_info *info,
		     char *err, size_t errlen);

/* Takes the fill lock for `sha256_hex`, blocking while another agent holds it. Returns a
 * descriptor for bundle_cache_unlock, or a negative RW_E code. */
int bundle_cache_lock(struct bundle_cache *c, const char *sha256_hex);
void bundle_cache_unlock(int lock_fd);

/* Makes a fresh staging directory; its path goes into `stage` (PATH_MAX bytes). Unpack into
 * "<stage>/tree", then bundle_cache_commit or bundle_cache_discard it. */
int bundle_cache_stage(struct bundle_cache *c, char *stage, char *err, size_t errlen);

/* Moves the staged tree into the cache as `sha256_hex` (whose digest the caller verified),
 * then evicts past the cap. If the entry already exists the staged copy is discarded and 0 is
 * returned. The stage is gone after the call either way. */
int bundle_cache_commit(struct bundle_cache *c, const char *sha256_hex, const char *stage,
			const struct bundle_cache_info *info, char *err, size_t errlen);

/* Removes a staging directory. */
void bundle_cache_discard(const char *stage);

/* Evicts least recently used entries until the cache holds at most its cap, never `keep_hex`
 * (may be NULL) nor an entry being copied out. Also removes stale staging directories.
 * Returns the number of entries evicted, or a negative RW_E code. */
int bundle_cache_evict(struct bundle_cache *c, const char *keep_hex);

/* Copies the tree `src` to `dst` (which must not exist): directories, regular files (with
 * copy_file_range, so filesystems that can share extents do), symlinks as they are; modes and
 * file times kept, hardlinks become separate files. Exposed for the unit tests. */
int bundle_cache_copy_tree(const char *src, const char *dst, bundle_cache_progress_fn progress,
			   void *ud, uint64_t total, char *err, size_t errlen);

#endif
