/* stream.c: a session's output: log on disk, scrollback cache, digest, events (stream.h). */
#include "control/stream.h"
#include "common/proto.h"
#include "common/rw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>

#define STREAM_EVENT_RECORD_HDR 12         /* u64 offset, u32 length, little endian */
#define STREAM_TRUNCATED_RESERVE 256       /* room kept for the "truncated" event */

/* Log reads land here: one loop, one reader at a time (see stream_read). */
static uint8_t stream_read_buf[STREAM_READ_CHUNK];

static int stream_seterr(struct stream *st, int rc, const char *what)
{
	snprintf(st->err, sizeof(st->err), "%s: %s", what, strerror(errno));
	return rc;
}

#define STREAM_SUFFIX_MAX 8   /* ".events" */

static int open_file(const char *path, const char *suffix, int flags)
{
	size_t n = strlen(path) + STREAM_SUFFIX_MAX + 1;
	char *p = malloc(n);
	int fd;

	if (!p)
		return -1;
	snprintf(p, n, "%s%s", path, suffix);
	fd = open(p, flags | O_CLOEXEC, 0600);
	free(p);
	return fd;
}

static void unlink_file(const char *path, const char *suffix)
{
	size_t n = strlen(path) + STREAM_SUFFIX_MAX + 1;
	char *p = malloc(n);

	if (p) {
		snprintf(p, n, "%s%s", path, suffix);
		unlink(p);
		free(p);
	}
}

int stream_open(struct stream *st, const char *dir, const char *id, size_t cache_cap)
{
	size_t n = strlen(dir) + strlen(id) + 2;

	memset(st, 0, sizeof(*st));
	st->log_fd = st->events_fd = -1;
	/* the path lives as long as the session: sized to fit, ended sessions are many */
	st->path = malloc(n);
	if (!st->path) {
		errno = ENOMEM;
		return stream_seterr(st, RW_ENOMEM, "cannot create the session log");
	}
	snprintf(st->path, n, "%s/%s", dir, id);
	st->cache_cap = cache_cap;
	bytering_init(&st->cache, cache_cap, 0);
	st->cached = 1;
	st->events_loaded = 1;
	rw_sha256_init(&st->sha);
	st->log_fd = open_file(st->path, ".log", O_RDWR | O_CREAT | O_TRUNC | O_APPEND);
	if (st->log_fd < 0)
		return stream_seterr(st, RW_EIO, "cannot create the session log");
	st->events_fd = open_file(st->path, ".events", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
	if (st->events_fd < 0) {
		stream_seterr(st, RW_EIO, "cannot create the session's event log");
		close(st->log_fd);
		st->log_fd = -1;
		return RW_EIO;
	}
	return RW_OK;
}

int stream_append(struct stream *st, uint64_t offset, const uint8_t *data, size_t len)
{
	if (offset != st->end)
		return RW_EPROTO;
	if (!len)
		return RW_OK;
	if (st->log_fd < 0 || rw_write_all(st->log_fd, data, len)) {
		/* A short write leaves bytes the stream never counted: cut them off again so
		 * that file position and stream offset keep meaning the same thing. */
		if (st->log_fd >= 0 && ftruncate(st->log_fd, (off_t)st->end))
			return stream_seterr(st, RW_EIO, "session log damaged");
		return stream_seterr(st, RW_EIO, "cannot append to the session log");
	}
	if (st->cached && bytering_append_overwrite(&st->cache, data, len)) {
		/* the log has it: only the cache is gone, readers fall back to the log */
		bytering_release(&st->cache);
		st->cached = 0;
	}
	rw_sha256_update(&st->sha, data, len);
	st->end += len;
	st->disk_bytes += len;
	return RW_OK;
}

int stream_start_at(struct stream *st, uint64_t offset)
{
	if (st->end || st->n_events_total)
		return RW_ESTATE;
	/* the log's file position is the stream offset: a hole up to `offset` keeps it so */
	if (st->log_fd < 0 || ftruncate(st->log_fd, (off_t)offset))
		return stream_seterr(st, RW_EIO, "cannot place the session log");
	bytering_release(&st->cache);
	bytering_init(&st->cache, st->cache_cap, offset);
	st->start = st->end = offset;
	st->partial = offset > 0;
	return RW_OK;
}

static int write_event_record(struct stream *st, const struct stream_event *e)
{
	uint8_t hdr[STREAM_EVENT_RECORD_HDR];

	for (int i = 0; i < 8; i++)
		hdr[i] = (uint8_t)(e->offset >> (8 * i));
	for (int i = 0; i < 4; i++)
		hdr[8 + i] = (uint8_t)((uint32_t)e->len >> (8 * i));
	if (st->events_fd < 0 || rw_write_all(st->events_fd, hdr, sizeof(hdr)) ||
	    rw_write_all(st->events_fd, e->frame + LWS_PRE, e->len))
		return stream_seterr(st, RW_EIO, "cannot append to the session's event log");
	st->disk_bytes += sizeof(hdr) + e->len;
	return RW_OK;
}

static int push_event(struct stream *st, uint8_t *frame, size_t len)
{
	struct stream_event *e;

	if (st->n_events == st->cap_events) {
		size_t cap = st->cap_events ? 2 * st->cap_events : 16;
		e = realloc(st->events, cap * sizeof(*e));
		if (!e)
			return RW_ENOMEM;
		st->events = e;
		st->cap_events = cap;
	}
	e = &st->events[st->n_events++];
	e->offset = st->end;
	e->frame = frame;
	e->len = len;
	return RW_OK;
}

/* Encodes `ev` (taken) as an EVENT frame with its time and sequence number. */
static uint8_t *encode_event(struct stream *st, json_t *ev, size_t *len)
{
	uint8_t *frame;

	/* when it happened, and its place in the log, so a late viewer can show durations and
	 * tell a replayed event from a new one */
	if (!json_object_get(ev, "ts"))
		json_object_set_new(ev, "ts", json_integer(rw_now_ms()));
	json_object_set_new(ev, "seq", json_integer((json_int_t)st->n_events_total));
	frame = proto_encode_json(PROTO_EVENT, ev, LWS_PRE, len);
	json_decref(ev);
	return frame;
}

int stream_add_event(struct stream *st, json_t *ev)
{
	const char *type;
	uint8_t *frame;
	size_t len;
	int exempt, rc = RW_OK;

	if (!ev)
		return RW_ENOMEM;
	type = json_string_value(json_object_get(ev, "type"));
	exempt = type && !strcmp(type, "state");
	if (st->events_full && !exempt) {
		json_decref(ev);
		return RW_ETOOBIG;
	}
	frame = encode_event(st, ev, &len);
	if (!frame)
		return RW_ENOMEM;
	if (!exempt && (st->n_events_total + 1 >= STREAM_MAX_EVENTS ||
			st->event_bytes + len + STREAM_TRUNCATED_RESERVE > STREAM_MAX_EVENT_BYTES)) {
		/* The last slot and the reserve go to one event that says what happened. */
		free(frame);
		st->events_full = 1;
		rc = RW_ETOOBIG;
		frame = encode_event(st, json_pack("{s:s, s:s}", "type", "truncated", "message",
						   "event limit reached: later stage events are not kept"),
				     &len);
		if (!frame)
			return RW_ENOMEM;
	}
	if (stream_load_events(st) || push_event(st, frame, len)) {
		free(frame);
		return RW_ENOMEM;
	}
	st->event_bytes += len;
	st->n_events_total++;
	write_event_record(st, &st->events[st->n_events - 1]);
	return rc;
}

long stream_read(struct stream *st, uint64_t offset, size_t max, const uint8_t **p)
{
	ssize_t n;

	*p = NULL;
	if (offset < st->start)
		return RW_ENOTFOUND;
	if (offset >= st->end)
		return 0;
	if (max > STREAM_READ_CHUNK)
		max = STREAM_READ_CHUNK;
	if (st->cached && offset >= st->cache.start) {
		size_t k = bytering_peek(&st->cache, offset, p);
		return (long)(k < max ? k : max);
	}
	if (st->end - offset < max)
		max = (size_t)(st->end - offset);
	if (st->log_fd < 0) {
		st->log_fd = open_file(st->path, ".log", O_RDONLY);
		if (st->log_fd < 0)
			return stream_seterr(st, RW_EIO, "cannot open the session log");
	}
	do
		n = pread(st->log_fd, stream_read_buf, max, (off_t)offset);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n == 0)
			errno = EIO;   /* the file is shorter than the stream: damaged */
		return stream_seterr(st, RW_EIO, "cannot read the session log");
	}
	*p = stream_read_buf;
	return (long)n;
}

static uint64_t get_le(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void free_events(struct stream *st)
{
	for (size_t i = 0; i < st->n_events; i++)
		free(st->events[i].frame);
	free(st->events);
	st->events = NULL;
	st->n_events = st->cap_events = 0;
}

int stream_load_events(struct stream *st)
{
	/* bounded by the caps the file was written under (state events may pass a little) */
	const size_t max = 2 * (STREAM_MAX_EVENT_BYTES +
				(size_t)STREAM_MAX_EVENTS * STREAM_EVENT_RECORD_HDR);
	uint8_t *buf;
	size_t pos = 0;
	struct stat sb;
	ssize_t len;
	int fd, rc = RW_OK;

	if (st->events_loaded)
		return RW_OK;
	fd = open_file(st->path, ".events", O_RDONLY);
	if (fd < 0)
		return stream_seterr(st, RW_EIO, "cannot open the session's event log");
	if (fstat(fd, &sb) || (size_t)sb.st_size > max) {
		close(fd);
		errno = EFBIG;
		return stream_seterr(st, RW_EIO, "session's event log unreadable");
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return RW_ENOMEM;
	}
	len = pread(fd, buf, (size_t)sb.st_size, 0);
	close(fd);
	if (len < 0) {
		free(buf);
		return stream_seterr(st, RW_EIO, "cannot read the session's event log");
	}
	while (pos + STREAM_EVENT_RECORD_HDR <= (size_t)len) {
		uint64_t off = get_le(buf + pos, 8);
		size_t n = (size_t)get_le(buf + pos + 8, 4);
		uint8_t *frame;

		if (n > (size_t)len - pos - STREAM_EVENT_RECORD_HDR)
			break;   /* a record cut short: keep what is whole */
		frame = malloc(LWS_PRE + n);
		if (!frame || push_event(st, frame, n)) {
			free(frame);
			rc = RW_ENOMEM;
			break;
		}
		memcpy(frame + LWS_PRE, buf + pos + STREAM_EVENT_RECORD_HDR, n);
		st->events[st->n_events - 1].offset = off;
		pos += STREAM_EVENT_RECORD_HDR + n;
	}
	free(buf);
	if (rc)
		free_events(st);
	else
		st->events_loaded = 1;
	return rc;
}

void stream_digest(const struct stream *st, uint8_t out[32])
{
	struct rw_sha256 copy = st->sha;

	rw_sha256_final(&copy, out);
}

void stream_finish(struct stream *st)
{
	if (st->log_fd >= 0) {
		close(st->log_fd);
		st->log_fd = -1;
	}
	if (st->events_fd >= 0) {
		close(st->events_fd);
		st->events_fd = -1;
	}
}

void stream_idle(struct stream *st)
{
	bytering_release(&st->cache);
	bytering_init(&st->cache, st->cache_cap, st->end);
	st->cached = 0;
	free_events(st);
	st->events_loaded = st->n_events_total == 0;
	if (st->log_fd >= 0 && st->events_fd < 0) {
		/* opened only to read: reopened on the next read */
		close(st->log_fd);
		st->log_fd = -1;
	}
}

uint64_t stream_drop_head(struct stream *st, uint64_t offset)
{
	uint64_t freed;
	int fd, rc;

	if (!st->path)
		return 0;
	if (offset > st->end)
		offset = st->end;
	if (offset <= st->start)
		return 0;
	/* its own descriptor: the stream's may be open for reading only */
	fd = open_file(st->path, ".log", O_WRONLY);
	if (fd < 0)
		return (uint64_t)stream_seterr(st, 0, "cannot open the session log");
	/* keeps the file's size and every later offset: only the blocks go */
	rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)offset);
	if (rc)
		stream_seterr(st, 0, "cannot free the head of the session log");
	close(fd);
	if (rc)
		return 0;
	freed = offset - st->start;
	st->start = offset;
	if (st->cached)
		bytering_consume_to(&st->cache, offset);
	st->disk_bytes = st->disk_bytes > freed ? st->disk_bytes - freed : 0;
	return freed;
}

void stream_release(struct stream *st, int remove_files)
{
	stream_finish(st);
	bytering_release(&st->cache);
	free_events(st);
	if (remove_files && st->path) {
		unlink_file(st->path, ".log");
		unlink_file(st->path, ".events");
	}
	free(st->path);
	st->path = NULL;
	st->disk_bytes = 0;
}
