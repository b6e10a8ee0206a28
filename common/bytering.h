/* bytering.h: a window of a byte stream, addressed by absolute stream offsets.
 *
 * Holds bytes [start, end) of a stream, at most `cap` of them, in storage that grows on
 * demand (so an idle session costs little). Two uses:
 *   - control's scrollback: bytering_append_overwrite() drops the oldest bytes;
 *   - the agent's unacknowledged window: bytering_space() says how much may be read
 *     before the window is full, bytering_release() drops what control acknowledged.
 */
#ifndef RW_BYTERING_H
#define RW_BYTERING_H

#include <stddef.h>
#include <stdint.h>

struct bytering {
	uint8_t *buf;    /* storage, `alloc` bytes, grown up to `cap` */
	size_t alloc;
	size_t cap;      /* most bytes held at once */
	size_t head;     /* index in buf of the byte at `start` */
	uint64_t start;  /* offset of the oldest byte held */
	uint64_t end;    /* offset one past the newest byte */
};

/* Initialises an empty ring holding at most `cap` bytes, whose stream begins at `offset`.
 * No storage is allocated until the first append. */
void bytering_init(struct bytering *r, size_t cap, uint64_t offset);
void bytering_release(struct bytering *r);

/* Bytes held, and room left before the cap. */
size_t bytering_used(const struct bytering *r);
size_t bytering_space(const struct bytering *r);

/* Appends bytes that must fit (len <= bytering_space()). 0, RW_ETOOBIG or RW_ENOMEM. */
int bytering_append(struct bytering *r, const void *data, size_t len);

/* Appends bytes, dropping the oldest as needed to stay within the cap. 0 or RW_ENOMEM. */
int bytering_append_overwrite(struct bytering *r, const void *data, size_t len);

/* Drops bytes below `offset` (clamped to [start, end]). */
void bytering_consume_to(struct bytering *r, uint64_t offset);

/* Points *p at the longest contiguous run of held bytes starting at `offset` and returns
 * its length (0 when offset == end). RW_ENOTFOUND-style misses return 0 with *p NULL:
 * callers check `offset` against start/end first. */
size_t bytering_peek(const struct bytering *r, uint64_t offset, const uint8_t **p);

#endif
