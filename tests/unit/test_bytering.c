/* test_bytering.c: the offset-addressed window used as scrollback (overwrite) and as the
 * agent's unacknowledged window (bounded append), checked against a plain model. */
#include "common/bytering.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <string.h>

static uint8_t byte_at(uint64_t off)
{
	return (uint8_t)(off * 2654435761u >> 13);
}

/* Reads [from, to) through peek and compares with the model stream. */
static int ring_matches(const struct bytering *r, uint64_t from, uint64_t to)
{
	while (from < to) {
		const uint8_t *p;
		size_t n = bytering_peek(r, from, &p);
		if (!n)
			return 0;
		for (size_t i = 0; i < n && from < to; i++, from++)
			if (p[i] != byte_at(from))
				return 0;
	}
	return 1;
}

int main(void)
{
	struct bytering r;
	uint8_t chunk[9000];
	uint64_t off = 0;
	const uint8_t *p;

	/* bounded append: refuses one byte past the cap, accepts after a release */
	bytering_init(&r, 10000, 0);
	CHECK(r.buf == NULL);  /* no storage until used */
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = byte_at(i);
	CHECK(bytering_append(&r, chunk, 9000) == 0);
	CHECK(bytering_space(&r) == 1000);
	CHECK(bytering_append(&r, chunk, 1001) == RW_ETOOBIG);
	CHECK(bytering_append(&r, chunk, 1000) == 0);
	CHECK(bytering_space(&r) == 0);
	bytering_consume_to(&r, 5000);
	CHECK(r.start == 5000 && bytering_space(&r) == 5000);
	bytering_consume_to(&r, 4000);  /* going back is a no-op */
	CHECK(r.start == 5000);
	bytering_consume_to(&r, 999999); /* clamped to end */
	CHECK(r.start == r.end && bytering_used(&r) == 0);
	bytering_release(&r);

	/* overwrite: a long stream through a small ring, in odd-sized pieces, always holds
	 * exactly the newest `cap` bytes and peeks them back in order */
	bytering_init(&r, 4096, 0);
	srand(7);
	for (int round = 0; round < 5000; round++) {
		size_t n = (size_t)(rand() % 6000);
		for (size_t i = 0; i < n; i++)
			chunk[i] = byte_at(off + i);
		CHECK(bytering_append_overwrite(&r, chunk, n) == 0);
		off += n;
		CHECK(r.end == off);
		CHECK(r.start == (off > 4096 ? off - 4096 : 0));
		if (round % 100 == 0)
			CHECK(ring_matches(&r, r.start, r.end));
	}
	CHECK(ring_matches(&r, r.start, r.end));
	CHECK(bytering_peek(&r, r.start - 1, &p) == 0 && p == NULL);
	CHECK(bytering_peek(&r, r.end, &p) == 0);
	bytering_release(&r);

	/* a stream that starts at an offset (resume) */
	bytering_init(&r, 100, 1u << 30);
	CHECK(bytering_append(&r, "abc", 3) == 0);
	CHECK(bytering_peek(&r, (1u << 30) + 1, &p) == 2 && p[0] == 'b');
	bytering_release(&r);
	return check_done("test_bytering");
}
