/* stream.h: one session's output stream in control: the session log on disk, the scrollback
 * cache of its tail, the SHA-256 of everything received, and the session's events.
 *
 * The log is the truth: every output byte is appended to <data-dir>/sessions/<id>.log at the
 * file position equal to its stream offset, so any offset still retained can be read back.
 * The scrollback (a bytering) only caches the tail for the viewers that keep up. Events (stage,
 * state, runner) are kept in memory while someone may need them and mirrored to
 * <data-dir>/sessions/<id>.events, from which they are loaded again for a late viewer.
 *
 * A stream owns its memory, files and descriptors; struct session embeds one. Everything is
 * called from control's one event loop. Reads are bounded (STREAM_READ_CHUNK) so that a
 * viewer catching up from disk never holds the loop for long.
 */
#ifndef RW_CONTROL_STREAM_H
#define RW_CONTROL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/bytering.h"
#include "common/sha256.h"

#define STREAM_MAX_EVENTS 4096              /* events kept per session */
#define STREAM_MAX_EVENT_BYTES (1u << 20)   /* encoded event bytes per session */
#define STREAM_READ_CHUNK (64u << 10)       /* most bytes one stream_read() returns */

struct stream_event {
	uint64_t offset;        /* delivered once a viewer has seen the output before it */
	uint8_t *frame;         /* encoded EVENT frame at frame + LWS_PRE */
	size_t len;
};

struct stream {
	char *path;             /* <data-dir>/sessions/<id>, without suffix (owned) */
	int log_fd;             /* open for appending while live, for reading on demand; -1 */
	uint64_t start;         /* first offset still in the log (retention may drop a head) */
	uint64_t end;           /* one past the last byte received */
	size_t cache_cap;
	struct bytering cache;  /* the tail of the log, while live or watched */
	int cached;             /* the cache holds [cache.start, end) */
	struct rw_sha256 sha;
	struct stream_event *events;
	size_t n_events, cap_events;
	size_t event_bytes;     /* encoded bytes of every event so far (loaded or not) */
	size_t n_events_total;  /* events so far, loaded or not */
	int events_loaded;      /* events[] holds all n_events_total */
	int events_full;        /* the byte or count cap was reached and said so */
	int events_fd;          /* open for appending while live; -1 */
	uint64_t disk_bytes;    /* bytes this stream holds on disk */
	int partial;            /* it starts above offset 0 (rebuilt from a store that had
				 * trimmed its head): the digest covers only what it holds */
	char err[160];          /* the last error, for logs */
};

/* Creates the session's log and events files under `dir` (which must exist) for session
 * `id`, with a scrollback cache of at most `cache_cap` bytes. 0 or RW_EIO (err set). */
int stream_open(struct stream *st, const char *dir, const char *id, size_t cache_cap);

/* Makes an empty stream start at `offset`: the bytes below it are not held (a session
 * taken over from a store that had trimmed its head; stream.start says so to readers, as
 * retention's holes do). 0, RW_ESTATE when the stream is not empty, or RW_EIO. */
int stream_start_at(struct stream *st, uint64_t offset);

/* Appends output that must start at the stream's end: to the log, the cache and the digest.
 * 0, RW_EPROTO (offset is not the end), RW_EIO (the log could not be written: nothing was
 * appended) or RW_ENOMEM. */
int stream_append(struct stream *st, uint64_t offset, const uint8_t *data, size_t len);

/* Adds an event at the current end of the output; takes ownership of `ev`. Adds "ts" (when
 * absent) and "seq". Events past STREAM_MAX_EVENTS or STREAM_MAX_EVENT_BYTES are dropped,
 * except "state" events (at most one per state); the first one dropped is replaced by a
 * "truncated" event that tells viewers. 0, RW_ETOOBIG (dropped) or RW_ENOMEM. */
int stream_add_event(struct stream *st, json_t *ev);

/* Points *p at up to `max` bytes of output from `offset` (at most STREAM_READ_CHUNK), from the
 * cache when it holds them, else from the log. Returns the number of bytes (0 at the end),
 * RW_ENOTFOUND when `offset` is below stream->start (retention deleted those bytes), or
 * RW_EIO. *p stays valid until the next call on any stream. */
long stream_read(struct stream *st, uint64_t offset, size_t max, const uint8_t **p);

/* Makes every event available in events[] (loading them from disk after stream_idle).
 * 0, RW_EIO or RW_ENOMEM. */
int stream_load_events(struct stream *st);

/* The SHA-256 of everything appended so far. */
void stream_digest(const struct stream *st, uint8_t out[32]);

/* The stream has ended: its files are closed for writing (they stay for late viewers). */
void stream_finish(struct stream *st);

/* Nobody is watching: the cache and the events go from memory (the files stay). Safe to call
 * on a live stream only when it has finished (stream_finish). */
void stream_idle(struct stream *st);

/* Deletes the bytes below `offset` from the log to free disk (a hole is punched: offsets
 * stay). Returns the number of bytes freed. */
uint64_t stream_drop_head(struct stream *st, uint64_t offset);

/* Frees everything the stream holds in memory; with `remove_files`, deletes its files too. */
void stream_release(struct stream *st, int remove_files);

#endif
