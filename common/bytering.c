/* bytering.c: an offset-addressed byte window (see bytering.h). */
#include "common/bytering.h"
#include "common/rw.h"

#include <stdlib.h>
#include <string.h>

#define BYTERING_MIN_ALLOC 4096

void bytering_init(struct bytering *r, size_t cap, uint64_t offset)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
	r->start = r->end = offset;
}

void bytering_release(struct bytering *r)
{
	free(r->buf);
	r->buf = NULL;
	r->alloc = 0;
}

size_t bytering_used(const struct bytering *r)
{
	return (size_t)(r->end - r->start);
}

size_t bytering_space(const struct bytering *r)
{
	return r->cap - bytering_used(r);
}

/* Grows storage to hold at least `need` bytes, linearising the held bytes at index 0. */
static int ring_grow(struct bytering *r, size_t need)
{
	size_t alloc = r->alloc ? r->alloc : BYTERING_MIN_ALLOC;
	size_t used = bytering_used(r);
	uint8_t *nb;

	while (alloc < need)
		alloc *= 2;
	if (alloc > r->cap)
		alloc = r->cap;
	nb = malloc(alloc);
	if (!nb)
		return RW_ENOMEM;
	if (used) {
		size_t first = r->alloc - r->head < used ? r->alloc - r->head : used;
		memcpy(nb, r->buf + r->head, first);
		memcpy(nb + first, r->buf, used - first);
	}
	free(r->buf);
	r->buf = nb;
	r->alloc = alloc;
	r->head = 0;
	return RW_OK;
}

static void ring_copy_in(struct bytering *r, const uint8_t *src, size_t len)
{
	size_t tail = (r->head + bytering_used(r)) % r->alloc;
	size_t first = r->alloc - tail < len ? r->alloc - tail : len;

	memcpy(r->buf + tail, src, first);
	memcpy(r->buf, src + first, len - first);
	r->end += len;
}

int bytering_append(struct bytering *r, const void *data, size_t len)
{
	size_t need;

	if (len > bytering_space(r))
		return RW_ETOOBIG;
	if (!len)
		return RW_OK;
	need = bytering_used(r) + len;
	if (need > r->alloc && ring_grow(r, need))
		return RW_ENOMEM;
	ring_copy_in(r, data, len);
	return RW_OK;
}

int bytering_append_overwrite(struct bytering *r, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!r->cap) {
		r->start = r->end = r->end + len;
		return RW_OK;
	}
	if (len >= r->cap) {
		/* Only the newest cap bytes survive. */
		p += len - r->cap;
		r->start = r->end = r->end + (len - r->cap);
		r->head = 0;
		len = r->cap;
	}
	if (len > bytering_space(r))
		bytering_consume_to(r, r->start + (len - bytering_space(r)));
	return bytering_append(r, p, len);
}

void bytering_consume_to(struct bytering *r, uint64_t offset)
{
	if (offset <= r->start)
		return;
	if (offset > r->end)
		offset = r->end;
	if (r->alloc)
		r->head = (r->head + (size_t)(offset - r->start)) % r->alloc;
	r->start = offset;
	if (r->start == r->end)
		r->head = 0;
}

size_t bytering_peek(const struct bytering *r, uint64_t offset, const uint8_t **p)
{
	size_t idx, run;

	*p = NULL;
	if (offset < r->start || offset >= r->end)
		return 0;
	idx = (r->head + (size_t)(offset - r->start)) % r->alloc;
	run = (size_t)(r->end - offset);
	if (run > r->alloc - idx)
		run = r->alloc - idx;
	*p = r->buf + idx;
	return run;
}
