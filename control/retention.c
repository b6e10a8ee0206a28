/* retention.c: the data directory bounded in age and size (retention.h). */
#include "control/retention.h"
#include "control/control.h"
#include "common/log.h"
#include "common/rw.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct orphan {
	int64_t mtime_ms;
	uint64_t bytes;
	char *path;
};

struct retention {
	struct control *ctl;
	struct orphan *orphans;   /* oldest first; [first, n) still on disk */
	size_t first, n;
	uint64_t orphan_bytes;
	int64_t last_ms;          /* when the limits were last enforced */
	int full_warned;          /* over the cap with nothing left to delete: said once */
};

static int by_mtime(const void *a, const void *b)
{
	const struct orphan *x = a, *y = b;

	return (x->mtime_ms > y->mtime_ms) - (x->mtime_ms < y->mtime_ms);
}

/* Files of an earlier run in `dir`: deleted when past the retention, else remembered. */
static void scan_dir(struct retention *r, const char *dir, int64_t now_ms, size_t *cap)
{
	int64_t keep_ms = r->ctl->cfg.retention_s * 1000;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4608];
		struct stat sb;
		int64_t mtime_ms;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &sb) || !S_ISREG(sb.st_mode))
			continue;
		mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
		if (now_ms - mtime_ms >= keep_ms || r->n == RETENTION_MAX_ORPHANS) {
			unlink(path);
			continue;
		}
		if (r->n == *cap) {
			size_t nc = *cap ? 2 * *cap : 64;
			struct orphan *no = realloc(r->orphans, nc * sizeof(*no));
			if (!no)
				break;
			r->orphans = no;
			*cap = nc;
		}
		r->orphans[r->n].path = strdup(path);
		if (!r->orphans[r->n].path)
			break;
		r->orphans[r->n].mtime_ms = mtime_ms;
		/* blocks, not size: a log with its head deleted is sparse */
		r->orphans[r->n].bytes = (uint64_t)sb.st_blocks * 512;
		r->orphan_bytes += r->orphans[r->n].bytes;
		r->n++;
	}
	closedir(d);
}

struct retention *retention_new(struct control *ctl)
{
	struct retention *r = calloc(1, sizeof(*r));
	char dir[4200];
	size_t cap = 0;
	int64_t now = rw_now_ms();

	if (!r)
		return NULL;
	r->ctl = ctl;
	scan_dir(r, session_dir(ctl), now, &cap);
	snprintf(dir, sizeof(dir), "%s/recordings", ctl->cfg.data_dir);
	scan_dir(r, dir, now, &cap);
	if (r->n)
		qsort(r->orphans, r->n, sizeof(*r->orphans), by_mtime);
	if (r->n)
		log_info("data_dir_earlier_files", "{s:I, s:I}", "files", (json_int_t)r->n, "bytes",
			 (json_int_t)r->orphan_bytes);
	return r;
}

void retention_free(struct retention *r)
{
	if (!r)
		return;
	for (size_t i = r->first; i < r->n; i++)
		free(r->orphans[i].path);
	free(r->orphans);
	free(r);
}

uint64_t retention_orphan_bytes(const struct retention *r)
{
	return r->orphan_bytes;
}

static void drop_oldest_orphan(struct retention *r)
{
	struct orphan *o = &r->orphans[r->first++];

	unlink(o->path);
	free(o->path);
	r->orphan_bytes -= o->bytes;
}

/* Frees disk from the live session holding the most, down to what its cache still holds
 * (viewers that keep up lose nothing). Returns the bytes freed. */
static uint64_t trim_live(struct control *ctl)
{
	struct session *big = NULL;

	for (struct session *s = ctl->sessions; s; s = s->next)
		if (!session_is_final(s) && (!big || s->stream.disk_bytes > big->stream.disk_bytes))
			big = s;
	if (!big || big->stream.end <= ctl->cfg.scrollback)
		return 0;
	uint64_t freed = stream_drop_head(&big->stream, big->stream.end - ctl->cfg.scrollback);
	if (freed)
		log_warn("session_log_trimmed", "{s:s, s:I, s:I}", "session", big->id, "freed",
			 (json_int_t)freed, "start", (json_int_t)big->stream.start);
	return freed;
}

void retention_tick(struct retention *r, int64_t now_ms)
{
	struct control *ctl = r->ctl;
	int64_t keep_ms = ctl->cfg.retention_s * 1000;
	struct session *s, *prev, *tail = NULL;
	uint64_t total = 0;

	if (now_ms - r->last_ms < RETENTION_TICK_MS)
		return;
	r->last_ms = now_ms;
	while (r->first < r->n && now_ms - r->orphans[r->first].mtime_ms >= keep_ms)
		drop_oldest_orphan(r);
	for (s = ctl->sessions; s; s = s->next)
		tail = s;
	/* oldest first: the list is newest first */
	for (s = tail; s; s = prev) {
		prev = s->prev;
		if (session_is_final(s) && now_ms - s->ended_ms >= keep_ms)
			session_delete(s);   /* RW_ESTATE while its agent's link closes: next tick */
	}
	for (s = ctl->sessions; s; s = s->next) {
		total += session_disk_bytes(s);
		tail = s;
	}
	total += r->orphan_bytes;
	while (total > ctl->cfg.max_data_bytes && r->first < r->n) {
		total -= r->orphans[r->first].bytes;
		drop_oldest_orphan(r);
	}
	for (s = tail; s && total > ctl->cfg.max_data_bytes; s = prev) {
		uint64_t bytes = session_disk_bytes(s);
		prev = s->prev;
		if (session_delete(s) == RW_OK)
			total -= bytes;
	}
	while (total > ctl->cfg.max_data_bytes) {
		uint64_t freed = trim_live(ctl);
		if (!freed)
			break;
		total -= freed < total ? freed : total;
	}
	if (total > ctl->cfg.max_data_bytes && !r->full_warned) {
		r->full_warned = 1;
		log_warn("data_dir_over_limit", "{s:I, s:I}", "bytes", (json_int_t)total, "limit",
			 (json_int_t)ctl->cfg.max_data_bytes);
	} else if (total <= ctl->cfg.max_data_bytes) {
		r->full_warned = 0;
	}
	ctl->data_bytes = total;
}

static int parse_scaled(const char *s, const char *units, const uint64_t *scale, uint64_t max,
			uint64_t *out)
{
	char *end;
	unsigned long long n;
	uint64_t mul = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return RW_EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		return RW_EINVAL;
	if (*end) {
		const char *u = strchr(units, *end);
		if (!u || end[1])
			return RW_EINVAL;
		mul = scale[u - units];
	}
	if (n > max / mul)
		return RW_EINVAL;
	*out = (uint64_t)n * mul;
	return RW_OK;
}

int retention_parse_duration(const char *s, int64_t *out)
{
	static const uint64_t scale[] = { 1, 60, 3600, 86400 };
	uint64_t v;

	if (parse_scaled(s, "smhd", scale, (uint64_t)INT64_MAX / 1000, &v) || !v)
		return RW_EINVAL;
	*out = (int64_t)v;
	return RW_OK;
}

int retention_parse_bytes(const char *s, uint64_t *out)
{
	static const uint64_t scale[] = { 1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40 };

	if (parse_scaled(s, "KMGT", scale, UINT64_MAX, out) || !*out)
		return RW_EINVAL;
	return RW_OK;
}
