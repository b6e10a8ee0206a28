/* bundle.c: bundle_prepare(), the fetch -> verify -> unpack pipeline with its cache and its
 * stage events (see bundle.h). The stages themselves live in bundle_fetch.c, bundle_unpack.c
 * and bundle_cache.c; this file orders them, turns progress into throttled events and makes
 * sure a failure leaves nothing behind.
 */
#include "agent/bundle.h"
#include "agent/minisign.h"
#include "common/rw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

struct prep {
	bundle_event_fn cb;
	void *ud;
	int64_t last_us;          /* when the last "running" event went out */
	char *reason;             /* BUNDLE_ERR_LEN bytes */
	const char *hex;          /* the digest, lowercase */
	bool hit_reported;        /* fetch/verify events of a cache hit went out */
};

void bundle_opts_init(struct bundle_opts *o)
{
	memset(o, 0, sizeof(*o));
	bundle_fetch_opts_init(&o->fetch);
	bundle_unpack_limits_init(&o->unpack);
}

int bundle_global_init(void)
{
	return bundle_fetch_global_init();
}

int bundle_parse_sha256(const char *hex, char *out, uint8_t raw[32])
{
	uint8_t bin[32];
	size_t len = 0;
	const char *end = NULL;

	if (!hex || strlen(hex) != BUNDLE_SHA256_HEX_LEN)
		return RW_EINVAL;
	if (sodium_hex2bin(bin, sizeof(bin), hex, BUNDLE_SHA256_HEX_LEN, NULL, &len, &end) ||
	    len != sizeof(bin) || *end)
		return RW_EINVAL;
	rw_hex(out, bin, sizeof(bin));
	if (raw)
		memcpy(raw, bin, sizeof(bin));
	return RW_OK;
}

/* ---- events ---- */

/* Sends one stage event; `extra` (may be NULL) is a json_pack format for more fields. */
static void emit(struct prep *p, const char *stage, const char *state, const char *extra, ...)
{
	json_t *ev, *more = NULL;
	va_list ap;

	if (!p->cb)
		return;
	ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "stage", "stage", stage, "state", state,
		       "source", "agent");
	if (!ev)
		return;
	if (extra) {
		va_start(ap, extra);
		more = json_vpack_ex(NULL, 0, extra, ap);
		va_end(ap);
		if (more)
			json_object_update(ev, more);
		json_decref(more);
	}
	p->cb(p->ud, ev);
	json_decref(ev);
}

/* A progress event, at most one per BUNDLE_PROGRESS_INTERVAL_US unless `force`. */
static void emit_progress(struct prep *p, const char *stage, uint64_t done, uint64_t total,
			  bool force)
{
	int64_t now = rw_mono_us();

	if (!force && now - p->last_us < BUNDLE_PROGRESS_INTERVAL_US)
		return;
	p->last_us = now;
	if (total)
		emit(p, stage, "running", "{s:I, s:I}", "done", (json_int_t)done, "total",
		     (json_int_t)total);
	else
		emit(p, stage, "running", "{s:I}", "done", (json_int_t)done);
}

static void on_fetch_progress(void *ud, uint64_t done, uint64_t total)
{
	emit_progress(ud, "fetch", done, total, false);
}

static void on_unpack_progress(void *ud, uint64_t done, uint64_t total)
{
	emit_progress(ud, "unpack", done, total, done == total);
}

static int stage_failed(struct prep *p, const char *stage, int rc)
{
	emit(p, stage, "failed", "{s:s}", "reason", p->reason);
	return rc;
}

/* ---- signatures ---- */

struct signature {
	struct minisign_pubkey keys[BUNDLE_MAX_SIGNERS];
	size_t n_keys;
	struct minisign_sig sig;
	const struct minisign_pubkey *key;   /* the signer's, once the signature is read */
	char url[BUNDLE_FETCH_MAX_URL + sizeof(BUNDLE_SIG_SUFFIX)];
};

/* "<url>.minisig": the suffix goes on the path of an http(s) URL (before a query or fragment),
 * at the end of anything else (s3:// keys, local paths). */
static int sig_url(const char *url, char *out, size_t outlen)
{
	size_t n = strlen(url);
	int w;

	if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8))
		n = strcspn(url, "?#");
	w = snprintf(out, outlen, "%.*s%s%s", (int)n, url, BUNDLE_SIG_SUFFIX, url + n);
	return w < 0 || (size_t)w >= outlen ? RW_ETOOBIG : RW_OK;
}

/* The trusted comment as one line of printable ASCII for an event (tabs kept). */
static json_t *comment_json(const struct minisign_sig *sig)
{
	char line[MINISIGN_MAX_TRUSTED_COMMENT + 1];

	for (size_t i = 0; i <= sig->trusted_comment_len; i++) {
		unsigned char c = (unsigned char)sig->trusted_comment[i];

		line[i] = (char)(c && c != '\t' && (c < 0x20 || c >= 0x7f) ? '?' : c);
	}
	return json_string(line);
}

/* Parses the signers, fetches and parses "<url>.minisig" (same rules as the bundle, capped at
 * MINISIGN_MAX_SIG_FILE) and checks its key and trusted comment: all before the bundle's own
 * download, so a bundle that cannot pass costs no more than its signature. */
static int signature_fetch(const struct bundle_opts *o, struct signature *sg, char *reason)
{
	struct bundle_fetch_opts fo = o->fetch;
	struct bundle_fetch_result fres;
	char why[BUNDLE_ERR_LEN / 2], id[MINISIGN_KEY_ID_HEX + 1];
	uint8_t *text = NULL;
	ssize_t n;
	int fd, rc;

	if (o->n_signers > BUNDLE_MAX_SIGNERS) {
		snprintf(reason, BUNDLE_ERR_LEN, "more than %d signers", BUNDLE_MAX_SIGNERS);
		return RW_ETOOBIG;
	}
	for (size_t i = 0; i < o->n_signers; i++) {
		rc = minisign_pubkey_parse(o->signers[i] ? o->signers[i] : "",
					   o->signers[i] ? strlen(o->signers[i]) : 0,
					   &sg->keys[sg->n_keys], why, sizeof(why));
		if (rc) {
			snprintf(reason, BUNDLE_ERR_LEN, "signer %zu: %s", i + 1, why);
			return RW_EINVAL;
		}
		sg->n_keys++;
	}
	if (sig_url(o->url, sg->url, sizeof(sg->url))) {
		snprintf(reason, BUNDLE_ERR_LEN, "the signature's URL is too long");
		return RW_ETOOBIG;
	}
	fd = memfd_create("bundle-minisig", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, BUNDLE_ERR_LEN, "cannot hold the signature: %s", strerror(errno));
		return RW_EIO;
	}
	fo.max_bytes = MINISIGN_MAX_SIG_FILE;
	if (o->cancel)
		fo.cancel = o->cancel;
	rc = bundle_fetch(sg->url, &fo, fd, NULL, NULL, &fres, why, sizeof(why));
	if (rc) {
		snprintf(reason, BUNDLE_ERR_LEN, "unsigned bundle: signers are required and "
			 "%.160s could not be fetched: %.200s", sg->url, why);
		close(fd);
		return rc == RW_ESTATE ? rc : RW_EAUTH;
	}
	text = malloc(MINISIGN_MAX_SIG_FILE);
	n = text ? pread(fd, text, MINISIGN_MAX_SIG_FILE, 0) : -1;
	close(fd);
	if (n < 0) {
		free(text);
		snprintf(reason, BUNDLE_ERR_LEN, "reading the signature failed");
		return RW_EIO;
	}
	rc = minisign_sig_parse(text, (size_t)n, &sg->sig, why, sizeof(why));
	free(text);
	if (rc) {
		snprintf(reason, BUNDLE_ERR_LEN, "bad signature file: %s", why);
		return rc;
	}
	sg->key = minisign_find_key(&sg->sig, sg->keys, sg->n_keys);
	if (!sg->key) {
		minisign_key_id_hex(sg->sig.key_id, id);
		snprintf(reason, BUNDLE_ERR_LEN, "signed by key %s, which is not among the %zu "
			 "required signers", id, sg->n_keys);
		return RW_EAUTH;
	}
	rc = minisign_verify_comment(&sg->sig, sg->key, why, sizeof(why));
	if (rc)
		snprintf(reason, BUNDLE_ERR_LEN, "signature refused: %s", why);
	return rc;
}

/* ---- steps ---- */

/* 0 when `dest` does not exist or is an empty directory (checked before any download). */
static int dest_check(const char *dest, char *reason)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int rc = RW_OK;

	if (lstat(dest, &st) < 0) {
		if (errno == ENOENT)
			return RW_OK;
		snprintf(reason, BUNDLE_ERR_LEN, "destination %s: %s", dest, strerror(errno));
		return RW_EIO;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(reason, BUNDLE_ERR_LEN, "destination %s exists and is not a directory", dest);
		return RW_EINVAL;
	}
	dir = opendir(dest);
	if (!dir) {
		snprintf(reason, BUNDLE_ERR_LEN, "destination %s: %s", dest, strerror(errno));
		return RW_EIO;
	}
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			snprintf(reason, BUNDLE_ERR_LEN, "destination %s is not empty", dest);
			rc = RW_EINVAL;
			break;
		}
	closedir(dir);
	return rc;
}

/* An anonymous file in dest's parent (created, then unlinked at once): the download lands on
 * the same filesystem as the tree, and no partial file can outlive a failure or a crash. */
static int download_file(const char *dest, char *reason)
{
	char path[PATH_MAX];
	const char *slash = strrchr(dest, '/');
	size_t dlen = slash ? (size_t)(slash - dest) : 0;
	int fd, n;

	while (slash && dlen && dest[dlen - 1] == '/')
		dlen--;
	if (!slash)
		n = snprintf(path, sizeof(path), ".bundle-fetch-XXXXXX");
	else
		n = snprintf(path, sizeof(path), "%.*s/.bundle-fetch-XXXXXX", (int)dlen,
			     dlen ? dest : "/");
	if (n < 0 || n >= (int)sizeof(path)) {
		snprintf(reason, BUNDLE_ERR_LEN, "destination path too long");
		return RW_EINVAL;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, BUNDLE_ERR_LEN, "cannot create the download file beside %s: %s",
			 dest, strerror(errno));
		return RW_EIO;
	}
	unlink(path);
	return fd;
}

static void report_hit(struct prep *p)
{
	if (p->hit_reported)
		return;
	p->hit_reported = true;
	emit(p, "fetch", "skipped", "{s:s}", "detail", "cache hit");
	emit(p, "verify", "done", "{s:s, s:s}", "sha256", p->hex, "detail", "verified when cached");
}

/* Copy progress out of the cache: the first report means the cache had the digest. */
static void on_copy_progress(void *ud, uint64_t done, uint64_t total)
{
	report_hit(ud);
	on_unpack_progress(ud, done, total);
}

int bundle_prepare(const struct bundle_opts *o, bundle_event_fn cb, void *ud,
		   struct bundle_result *res, char *err, size_t errlen)
{
	char reason[BUNDLE_ERR_LEN] = "", hex[BUNDLE_SHA256_HEX_LEN + 1], got[65];
	char stage_dir[PATH_MAX] = "", tree[PATH_MAX];
	struct prep p = { .cb = cb, .ud = ud, .reason = reason };
	struct bundle_result out = { 0 };
	struct bundle_fetch_opts fo;
	struct bundle_fetch_result fres;
	struct bundle_unpack_stats ust = { 0 };
	struct bundle_cache_info info;
	struct bundle_cache *cache = NULL;
	struct signature *sg = NULL;
	uint8_t want[32];
	int rc, fd = -1, lock_fd = -1;

	if (!o || !o->url || !*o->url || !o->dest_dir || !*o->dest_dir) {
		snprintf(reason, sizeof(reason), "a bundle URL and a destination are required");
		rc = stage_failed(&p, "fetch", RW_EINVAL);
		goto out;
	}
	if (!o->sha256_hex || !*o->sha256_hex) {
		snprintf(reason, sizeof(reason), "no sha256 given: a bundle runs only with the digest "
			 "of its bytes");
		rc = stage_failed(&p, "verify", RW_EINVAL);
		goto out;
	}
	if (bundle_parse_sha256(o->sha256_hex, hex, want)) {
		snprintf(reason, sizeof(reason), "malformed sha256 '%.80s': want 64 hex digits",
			 o->sha256_hex);
		rc = stage_failed(&p, "verify", RW_EINVAL);
		goto out;
	}
	p.hex = hex;
	if (bundle_global_init()) {
		snprintf(reason, sizeof(reason), "libcurl or libsodium failed to initialise");
		rc = stage_failed(&p, "fetch", RW_EIO);
		goto out;
	}
	rc = dest_check(o->dest_dir, reason);
	if (rc) {
		rc = stage_failed(&p, "unpack", rc);
		goto out;
	}
	if (o->n_signers) {
		sg = calloc(1, sizeof(*sg));
		if (!sg) {
			snprintf(reason, sizeof(reason), "out of memory");
			rc = stage_failed(&p, "verify", RW_ENOMEM);
			goto out;
		}
		rc = signature_fetch(o, sg, reason);
		if (rc) {
			rc = stage_failed(&p, "verify", rc);
			goto out;
		}
	}

	/* A cached tree: no network at all (the source is checked, without a request). The fill
	 * lock makes a second agent that asks for the same digest wait for the first one's
	 * download instead of repeating it. A signed bundle
	 * is always downloaded: its signature covers the archive's bytes, which the cache no
	 * longer holds (an entry cached from an unsigned source must not pass as signed). */
	if (o->cache_dir && !sg) {
		/* a cached copy stands in for the source only while the source is there and
		 * allowed: a typo'd path or a host off the allowlist fails as a fetch would */
		rc = bundle_fetch_check(o->url, &o->fetch, reason, sizeof(reason));
		if (rc) {
			rc = stage_failed(&p, "fetch", rc);
			goto out;
		}
	}
	if (o->cache_dir) {
		cache = bundle_cache_open(o->cache_dir, o->cache_max_bytes, reason, sizeof(reason));
		if (!cache) {
			rc = stage_failed(&p, "fetch", RW_EIO);
			goto out;
		}
		for (int attempt = 0; attempt < 2 && !sg; attempt++) {
			rc = bundle_cache_get(cache, hex, o->dest_dir, on_copy_progress, &p, &info,
					      reason, sizeof(reason));
			if (rc == RW_OK) {
				report_hit(&p);
				emit(&p, "unpack", "done", "{s:I, s:I, s:I, s:I, s:s}", "done",
				     (json_int_t)info.entries, "total", (json_int_t)info.entries,
				     "entries", (json_int_t)info.entries, "bytes",
				     (json_int_t)info.bytes, "detail", "copied from cache");
				out.cache_hit = true;
				out.entries = info.entries;
				out.bytes = info.bytes;
				goto out;
			}
			if (rc != RW_ENOTFOUND) {
				rc = stage_failed(&p, "unpack", rc);
				goto out;
			}
			if (attempt == 0) {
				lock_fd = bundle_cache_lock(cache, hex);
				if (lock_fd < 0) {
					snprintf(reason, sizeof(reason), "cannot lock the cache entry");
					rc = stage_failed(&p, "fetch", lock_fd);
					goto out;
				}
			}
		}
		if (sg) {
			lock_fd = bundle_cache_lock(cache, hex);
			if (lock_fd < 0) {
				snprintf(reason, sizeof(reason), "cannot lock the cache entry");
				rc = stage_failed(&p, "fetch", lock_fd);
				goto out;
			}
		}
	}

	/* Fetch, hashing as the bytes arrive. */
	fd = download_file(o->dest_dir, reason);
	if (fd < 0) {
		rc = stage_failed(&p, "fetch", fd);
		goto out;
	}
	fo = o->fetch;
	if (o->cancel)
		fo.cancel = o->cancel;
	emit_progress(&p, "fetch", 0, 0, true);
	rc = bundle_fetch(o->url, &fo, fd, on_fetch_progress, &p, &fres, reason, sizeof(reason));
	if (rc) {
		rc = stage_failed(&p, "fetch", rc);
		goto out;
	}
	emit(&p, "fetch", "done", "{s:I, s:I}", "done", (json_int_t)fres.bytes, "total",
	     (json_int_t)fres.bytes);
	out.download_bytes = fres.bytes;

	/* Verify: the signature over the bytes, then a constant-time compare of the digest. */
	if (sg) {
		char why[BUNDLE_ERR_LEN / 2];

		rc = minisign_verify_fd(&sg->sig, sg->key, fd, why, sizeof(why));
		if (rc) {
			snprintf(reason, sizeof(reason), "signature refused: %s", why);
			rc = stage_failed(&p, "verify", rc);
			goto out;
		}
	}
	if (sodium_memcmp(fres.sha256, want, sizeof(want))) {
		rw_hex(got, fres.sha256, sizeof(fres.sha256));
		snprintf(reason, sizeof(reason), "sha256 mismatch: expected %s got %s", hex, got);
		rc = stage_failed(&p, "verify", RW_EDIGEST);
		goto out;
	}
	if (sg) {
		char id[MINISIGN_KEY_ID_HEX + 1], detail[64];

		minisign_key_id_hex(sg->key->key_id, id);
		snprintf(detail, sizeof(detail), "signed by key %s", id);
		emit(&p, "verify", "done", "{s:s, s:s, s:o, s:s}", "sha256", hex, "signer", id,
		     "trustedComment", comment_json(&sg->sig), "detail", detail);
	} else {
		emit(&p, "verify", "done", "{s:s}", "sha256", hex);
	}

	/* Unpack: into the cache (then a private copy), or straight into place. */
	p.last_us = 0;
	if (cache) {
		rc = bundle_cache_stage(cache, stage_dir, reason, sizeof(reason));
		if (!rc && snprintf(tree, sizeof(tree), "%s/tree", stage_dir) >= (int)sizeof(tree)) {
			snprintf(reason, sizeof(reason), "cache path too long");
			rc = RW_EINVAL;
		}
		if (!rc)
			rc = bundle_unpack(fd, tree, &o->unpack, on_unpack_progress, &p, o->cancel,
					   &ust, reason, sizeof(reason));
		if (!rc) {
			info.bytes = ust.bytes;
			info.entries = ust.entries;
			rc = bundle_cache_commit(cache, hex, stage_dir, &info, reason, sizeof(reason));
			stage_dir[0] = '\0';   /* committed or discarded by the call */
		}
		bundle_cache_unlock(lock_fd);
		lock_fd = -1;
		if (!rc)
			rc = bundle_cache_get(cache, hex, o->dest_dir, NULL, NULL, &info, reason,
					      sizeof(reason));
		if (rc == RW_ENOTFOUND)
			snprintf(reason, sizeof(reason), "the cache entry vanished before its copy");
	} else {
		rc = bundle_unpack(fd, o->dest_dir, &o->unpack, on_unpack_progress, &p, o->cancel,
				   &ust, reason, sizeof(reason));
	}
	if (rc) {
		rc = stage_failed(&p, "unpack", rc);
		goto out;
	}
	emit(&p, "unpack", "done", "{s:I, s:I, s:I, s:I}", "done", (json_int_t)ust.entries,
	     "total", (json_int_t)ust.entries, "entries", (json_int_t)ust.entries, "bytes",
	     (json_int_t)ust.bytes);
	out.entries = ust.entries;
	out.bytes = ust.bytes;

out:
	if (stage_dir[0])
		bundle_cache_discard(stage_dir);
	bundle_cache_unlock(lock_fd);
	bundle_cache_free(cache);
	free(sg);
	if (fd >= 0)
		close(fd);
	if (res)
		*res = out;
	if (err && errlen)
		snprintf(err, errlen, "%s", rc ? reason : "");
	return rc;
}
