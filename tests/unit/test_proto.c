/* test_proto.c: the wire codec fed whole, byte by byte and in awkward splits; every cap
 * tested one past the edge; hostile headers refused with a clear error, never a crash. */
#include "common/proto.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* A stream of one of each frame type. */
static size_t build_stream(uint8_t *buf)
{
	size_t n = 0;
	const char out[] = "\x1b[32mhello\x1b[0m\r\n";
	struct proto_exit e = { .code = 3, .signo = 0, .total = 1234567890123ull };

	memset(e.sha256, 0xab, sizeof(e.sha256));
	n += proto_encode_output_prefix(buf + n, 42, sizeof(out) - 1);
	memcpy(buf + n, out, sizeof(out) - 1);
	n += sizeof(out) - 1;
	n += proto_encode_ack(buf + n, 99);
	n += proto_encode_input_prefix(buf + n, 3);
	memcpy(buf + n, "abc", 3);
	n += 3;
	n += proto_encode_resize(buf + n, 132, 43);
	n += proto_encode_signal(buf + n, SIGINT);
	n += proto_encode_exit(buf + n, &e);
	n += proto_encode_error(buf + n, PROTO_ERR_AUTH, "token already used");
	json_t *j = json_pack("{s:s, s:s}", "type", "stage", "stage", "fetch");
	size_t jl;
	uint8_t *jf = proto_encode_json(PROTO_EVENT, j, 0, &jl);
	memcpy(buf + n, jf, jl);
	n += jl;
	free(jf);
	json_decref(j);
	return n;
}

static void check_stream_frames(struct proto_frame *f, int count)
{
	CHECK(count == 8);
	if (count != 8)
		return;
	CHECK(f[0].type == PROTO_OUTPUT && f[0].offset == 42 && f[0].len == 16);
	CHECK(f[1].type == PROTO_ACK && f[1].offset == 99);
	CHECK(f[2].type == PROTO_INPUT && f[2].len == 3);
	CHECK(f[3].type == PROTO_RESIZE && f[3].cols == 132 && f[3].rows == 43);
	CHECK(f[4].type == PROTO_SIGNAL && f[4].signo == SIGINT);
	CHECK(f[5].type == PROTO_EXIT && f[5].exit.code == 3 && f[5].exit.signo == 0 &&
	      f[5].exit.total == 1234567890123ull && f[5].exit.sha256[31] == 0xab);
	CHECK(f[6].type == PROTO_ERROR && f[6].code == PROTO_ERR_AUTH && f[6].len == 18);
	CHECK(f[7].type == PROTO_EVENT);
}

/* Feeds `buf` in pieces of `step` bytes (0: whole) and collects frames. */
static int decode_in_steps(const uint8_t *buf, size_t len, size_t step, struct proto_frame *out,
			   char (*texts)[64])
{
	struct proto_reader r;
	int count = 0, rc;
	struct proto_frame f;

	proto_reader_init(&r);
	for (size_t off = 0; off < len;) {
		size_t n = step ? step : len;
		if (off + n > len)
			n = len - off;
		CHECK(proto_reader_feed(&r, buf + off, n) == 0);
		off += n;
		while ((rc = proto_reader_next(&r, &f)) == 1) {
			if (count < 16) {
				out[count] = f;
				/* keep the text: data pointers die with the next call */
				snprintf(texts[count], 64, "%.*s", (int)(f.len < 60 ? f.len : 60), f.data ? (const char *)f.data : "");
			}
			count++;
		}
		CHECK(rc == 0);
	}
	proto_reader_release(&r);
	return count;
}

static int expect_error(const uint8_t *buf, size_t len, int want, const char *needle)
{
	struct proto_reader r;
	struct proto_frame f;
	int rc = 0;

	proto_reader_init(&r);
	proto_reader_feed(&r, buf, len);
	while ((rc = proto_reader_next(&r, &f)) == 1)
		;
	int ok = rc == want && strstr(r.errstr, needle) != NULL;
	if (!ok)
		fprintf(stderr, "  got rc=%d errstr=\"%s\", want rc=%d with \"%s\"\n", rc, r.errstr, want, needle);
	/* sticky: the reader refuses everything after an error */
	if (want < 0)
		ok = ok && proto_reader_feed(&r, buf, 1) == want && proto_reader_next(&r, &f) == want;
	proto_reader_release(&r);
	return ok;
}

int main(void)
{
	uint8_t buf[4096], bad[64];
	struct proto_frame frames[16];
	char texts[16][64];
	size_t len = build_stream(buf);
	int count;

	/* whole, byte by byte, and awkward splits */
	size_t steps[] = { 0, 1, 2, 3, 5, 7, 8, 9, 13, 64 };
	for (size_t i = 0; i < RW_ARRAY_LEN(steps); i++) {
		count = decode_in_steps(buf, len, steps[i], frames, texts);
		check_stream_frames(frames, count);
		CHECK(!strcmp(texts[0], "\x1b[32mhello\x1b[0m\r\n"));
		CHECK(!strcmp(texts[2], "abc"));
		CHECK(!strcmp(texts[6], "token already used"));
	}

	/* truncated: a partial frame is "need more", never a frame or an error */
	{
		struct proto_reader r;
		struct proto_frame f;
		proto_reader_init(&r);
		proto_reader_feed(&r, buf, 12);
		CHECK(proto_reader_next(&r, &f) == 0);
		proto_reader_release(&r);
	}

	/* wrong magic, wrong version, unknown type */
	memcpy(bad, buf, PROTO_ACK_LEN);
	bad[0] = 'X';
	CHECK(expect_error(bad, 1, RW_EPROTO, "magic"));
	proto_encode_ack(bad, 1);
	bad[2] = 2;
	CHECK(expect_error(bad, 3, RW_EPROTO, "version 2"));
	proto_encode_ack(bad, 1);
	bad[3] = 0x7f;
	CHECK(expect_error(bad, 4, RW_EPROTO, "unknown frame type 0x7f"));

	/* every cap, one past the edge: refused from the header alone */
	proto_encode_header(bad, PROTO_OUTPUT, PROTO_MAX_BODY + 1);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_ETOOBIG, "exceeds cap"));
	proto_encode_header(bad, PROTO_INPUT, PROTO_MAX_INPUT + 1);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_ETOOBIG, "INPUT frame body"));
	proto_encode_header(bad, PROTO_EVENT, PROTO_MAX_JSON + 1);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_ETOOBIG, "EVENT frame body"));
	proto_encode_header(bad, PROTO_ERROR, 2 + PROTO_MAX_ERROR_MSG + 1);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_ETOOBIG, "ERROR frame body"));
	proto_encode_header(bad, PROTO_ACK, 9);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_ETOOBIG, "ACK frame body"));
	proto_encode_header(bad, PROTO_EXIT, 47);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_EPROTO, "too short"));
	proto_encode_header(bad, PROTO_OUTPUT, 7);
	CHECK(expect_error(bad, PROTO_HEADER_LEN, RW_EPROTO, "too short"));

	/* at the cap exactly: accepted */
	{
		size_t n = PROTO_HEADER_LEN + PROTO_MAX_BODY;
		uint8_t *big = calloc(1, n);
		struct proto_reader r;
		struct proto_frame f;
		proto_encode_output_prefix(big, 0, PROTO_MAX_DATA);
		proto_reader_init(&r);
		CHECK(proto_reader_feed(&r, big, n) == 0);
		CHECK(proto_reader_next(&r, &f) == 1 && f.len == PROTO_MAX_DATA);
		proto_encode_input_prefix(big, PROTO_MAX_INPUT);
		CHECK(proto_reader_feed(&r, big, PROTO_HEADER_LEN + PROTO_MAX_INPUT) == 0);
		CHECK(proto_reader_next(&r, &f) == 1 && f.len == PROTO_MAX_INPUT);
		proto_reader_release(&r);
		/* buffering past PROTO_READER_MAX_BUF without draining is refused */
		proto_reader_init(&r);
		CHECK(proto_reader_feed(&r, big, n) == 0);
		CHECK(proto_reader_feed(&r, big, n) == 0);
		CHECK(proto_reader_feed(&r, big, 1) == RW_ETOOBIG);
		proto_reader_release(&r);
		free(big);
	}

	/* resize and signal values are validated */
	proto_encode_resize(bad, 0, 24);
	CHECK(expect_error(bad, PROTO_RESIZE_LEN, RW_EPROTO, "resize 0x24"));
	proto_encode_resize(bad, PROTO_MAX_DIM + 1, 24);
	CHECK(expect_error(bad, PROTO_RESIZE_LEN, RW_EPROTO, "outside"));
	proto_encode_signal(bad, SIGSEGV);
	CHECK(expect_error(bad, PROTO_SIGNAL_LEN, RW_EPROTO, "not allowed"));
	proto_encode_signal(bad, 200);
	CHECK(expect_error(bad, PROTO_SIGNAL_LEN, RW_EPROTO, "not allowed"));

	/* JSON bodies: an object parses, anything else does not */
	{
		struct proto_frame f = { .type = PROTO_EVENT };
		f.data = (const uint8_t *)"[1,2]";
		f.len = 5;
		CHECK(proto_parse_json(&f) == NULL);
		f.data = (const uint8_t *)"{\"a\":1,\"a\":2}";
		f.len = strlen((const char *)f.data);
		CHECK(proto_parse_json(&f) == NULL);
		f.data = (const uint8_t *)"{\"type\":\"x\"}";
		f.len = strlen((const char *)f.data);
		json_t *j = proto_parse_json(&f);
		CHECK(j != NULL);
		json_decref(j);
	}
	/* an error message is truncated to its cap */
	{
		char msg[PROTO_MAX_ERROR_MSG + 100];
		uint8_t out[PROTO_ERROR_MAX_LEN];
		memset(msg, 'x', sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		CHECK(proto_encode_error(out, 1, msg) == PROTO_ERROR_MAX_LEN);
	}
	/* random garbage never crashes: it is refused or needs more */
	for (int round = 0; round < 20000; round++) {
		struct proto_reader r;
		struct proto_frame f;
		uint8_t junk[64];
		size_t n = (size_t)(rand() % 64);
		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rand();
		if (n > 2 && round % 2) {
			junk[0] = 'R';
			junk[1] = 'W';
			junk[2] = 1;
		}
		proto_reader_init(&r);
		proto_reader_feed(&r, junk, n);
		while (proto_reader_next(&r, &f) == 1)
			;
		proto_reader_release(&r);
	}
	CHECK(1);
	return check_done("test_proto");
}
