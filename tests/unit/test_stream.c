/* test_stream.c: control's session stream (control/stream.c): the log is the truth, the cache
 * only its tail; reads come from either without a gap; events are capped in count and bytes,
 * one past each edge; events and output survive stream_idle(); a dropped head is reported. */
#include "control/stream.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <libwebsockets.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/rw-test-stream.XXXXXX";

/* Reads [from, to) through stream_read() in whatever pieces it gives; 0 when every byte is
 * the expected pattern byte. */
static int read_back(struct stream *st, uint64_t from, uint64_t to)
{
	while (from < to) {
		const uint8_t *p;
		long n = stream_read(st, from, (size_t)(to - from), &p);
		if (n <= 0)
			return -1;
		for (long i = 0; i < n; i++)
			if (p[i] != (uint8_t)((from + (uint64_t)i) % 251))
				return -1;
		from += (uint64_t)n;
	}
	return 0;
}

static void test_output(void)
{
	struct stream st;
	uint8_t buf[10000];
	uint64_t off = 0;
	const uint8_t *p;

	CHECK(stream_open(&st, dir, "out", 4096) == 0);
	for (int k = 0; k < 100; k++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)((off + i) % 251);
		CHECK(stream_append(&st, off, buf, sizeof(buf)) == 0);
		off += sizeof(buf);
	}
	CHECK(stream_append(&st, off + 1, buf, 1) == RW_EPROTO);   /* a gap */
	CHECK(stream_append(&st, off - 1, buf, 1) == RW_EPROTO);   /* an overlap */
	CHECK(st.end == off);
	CHECK(st.cache.start == off - 4096);                        /* the cache is the tail */
	CHECK(read_back(&st, 0, off) == 0);                          /* from the log, then cache */
	CHECK(stream_read(&st, off, 100, &p) == 0);
	CHECK(stream_read(&st, 0, 1u << 30, &p) == STREAM_READ_CHUNK); /* one read is bounded */
	stream_finish(&st);
	stream_idle(&st);
	CHECK(!st.cached && st.cache.buf == NULL);                   /* memory gone ... */
	CHECK(read_back(&st, 0, off) == 0);                          /* ... bytes still there */
	CHECK(stream_drop_head(&st, 123456) == 123456);
	CHECK(stream_read(&st, 123455, 10, &p) == RW_ENOTFOUND);
	CHECK(read_back(&st, 123456, off) == 0);
	CHECK(st.disk_bytes == off - 123456);
	stream_release(&st, 1);
	CHECK(access("/tmp/rw-test-stream-none", F_OK) != 0);
}

static json_t *event(size_t pad)
{
	char *s = malloc(pad + 1);
	json_t *ev;

	memset(s, 'x', pad);
	s[pad] = '\0';
	ev = json_pack("{s:s, s:s, s:s}", "type", "stage", "stage", "s", "message", s);
	free(s);
	return ev;
}

static void test_event_caps(void)
{
	struct stream st;
	int rc = 0;
	size_t n = 0;

	/* bytes: 1 KiB events until the cap, then one more */
	CHECK(stream_open(&st, dir, "ev-bytes", 4096) == 0);
	while ((rc = stream_add_event(&st, event(1000))) == 0)
		n++;
	CHECK(rc == RW_ETOOBIG);
	CHECK(n > 900 && n < 1100);
	CHECK(st.event_bytes <= STREAM_MAX_EVENT_BYTES);
	CHECK(st.n_events == n + 1);                                 /* + "truncated" */
	CHECK(memmem(st.events[n].frame + LWS_PRE, st.events[n].len, "truncated", 9) != NULL);
	CHECK(stream_add_event(&st, event(10)) == RW_ETOOBIG);       /* one past: still refused */
	CHECK(st.n_events == n + 1);
	CHECK(stream_add_event(&st, json_pack("{s:s, s:s}", "type", "state", "state", "exited")) == 0);
	CHECK(st.n_events == n + 2);                                 /* state events pass */
	/* idle, then loaded again from disk: the same events, in order, at their offsets */
	stream_finish(&st);
	size_t before = st.n_events, len_last = st.events[before - 1].len;
	stream_idle(&st);
	CHECK(st.n_events == 0 && st.events == NULL);
	CHECK(stream_load_events(&st) == 0);
	CHECK(st.n_events == before && st.events[before - 1].len == len_last);
	stream_release(&st, 1);

	/* count: small events until STREAM_MAX_EVENTS */
	CHECK(stream_open(&st, dir, "ev-count", 4096) == 0);
	n = 0;
	while ((rc = stream_add_event(&st, event(1))) == 0)
		n++;
	CHECK(rc == RW_ETOOBIG);
	CHECK(n == STREAM_MAX_EVENTS - 1);                           /* the last slot says so */
	CHECK(st.n_events == STREAM_MAX_EVENTS);
	stream_release(&st, 1);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 2;
	test_output();
	test_event_caps();
	rw_remove_tree(dir);
	return check_done("test_stream");
}
