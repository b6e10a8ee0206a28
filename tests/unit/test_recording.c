/* test_recording.c: asciicast v2 recordings: UTF-8 split across frames at every position
 * comes back whole, invalid bytes become U+FFFD, and the file is valid asciicast. */
#include "control/recording.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Concatenates the "o" events of a recording file. */
static char *replay(const char *path, int *lines_ok, int *resizes)
{
	FILE *f = fopen(path, "r");
	static char line[1 << 21];   /* one event can hold a whole frame, escaped */
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);
	int first = 1;

	*lines_ok = 1;
	*resizes = 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		if (first) {
			*lines_ok &= json_integer_value(json_object_get(j, "version")) == 2;
			first = 0;
		} else if (json_is_array(j) && json_array_size(j) == 3) {
			const char *kind = json_string_value(json_array_get(j, 1));
			const char *data = json_string_value(json_array_get(j, 2));
			if (!strcmp(kind, "o")) {
				size_t n = json_string_length(json_array_get(j, 2));
				while (len + n + 1 > cap)
					out = realloc(out, cap *= 2);
				memcpy(out + len, data, n);
				len += n;
				out[len] = '\0';
			} else if (!strcmp(kind, "r")) {
				(*resizes)++;
			}
		} else {
			*lines_ok = 0;
		}
		json_decref(j);
	}
	fclose(f);
	return out;
}

int main(void)
{
	const char text[] = "plain \xc3\xa9t\xc3\xa9 \xe2\x9c\x94 done \xf0\x9f\x9a\x80 \x1b[32mgreen\x1b[0m\r\n";
	size_t tlen = sizeof(text) - 1;
	char path[] = "/tmp/rw-test-recording-XXXXXX";
	int fd = mkstemp(path), ok, resizes;
	char *got;

	close(fd);
	/* every split point of a text with 2-, 3- and 4-byte characters */
	for (size_t cut = 0; cut <= tlen; cut++) {
		struct recording *r = recording_open(path, 80, 24, 0, "t");
		CHECK(r != NULL);
		CHECK(recording_output(r, (const uint8_t *)text, cut) == 0);
		CHECK(recording_output(r, (const uint8_t *)text + cut, tlen - cut) == 0);
		recording_close(r);
		got = replay(path, &ok, &resizes);
		CHECK(ok);
		CHECK(!strcmp(got, text));
		free(got);
	}
	/* byte by byte */
	{
		struct recording *r = recording_open(path, 80, 24, 0, "t");
		for (size_t i = 0; i < tlen; i++)
			recording_output(r, (const uint8_t *)text + i, 1);
		recording_resize(r, 100, 40);
		recording_close(r);
		got = replay(path, &ok, &resizes);
		CHECK(ok && resizes == 1);
		CHECK(!strcmp(got, text));
		free(got);
	}
	/* invalid bytes: stray continuation, overlong, surrogate, truncated at the end */
	{
		char out[64];
		size_t used, n;
		n = recording_utf8((const uint8_t *)"a\x80" "b\xc0\xaf" "c\xed\xa0\x80", 10, out, &used);
		CHECK(used == 10);
		out[n] = '\0';
		CHECK(strstr(out, "a\xef\xbf\xbd" "b") == out);
		CHECK(strchr(out, '\xc0') == NULL && strchr(out, '\xed') == NULL);
		n = recording_utf8((const uint8_t *)"ok\xe2\x9c", 4, out, &used);
		CHECK(n == 2 && used == 2);   /* the partial sequence waits for more */
		struct recording *r = recording_open(path, 80, 24, 0, "t");
		recording_output(r, (const uint8_t *)"end\xe2\x9c", 5);
		recording_close(r);           /* never completed: replaced at close */
		got = replay(path, &ok, &resizes);
		CHECK(ok && !strcmp(got, "end\xef\xbf\xbd\xef\xbf\xbd"));
		free(got);
	}
	/* every ASCII byte (quotes, backslash, control characters) survives the JSON escape */
	{
		char ascii[129];
		for (int i = 0; i < 128; i++)
			ascii[i] = (char)(i ? i : 'x');
		ascii[128] = '\0';
		struct recording *r = recording_open(path, 80, 24, 0, "t");
		recording_output(r, (const uint8_t *)ascii, 128);
		recording_close(r);
		got = replay(path, &ok, &resizes);
		CHECK(ok && !strcmp(got, ascii));
		free(got);
	}
	/* 200 KB of mixed text and junk in random pieces (past the conversion piece size) reads
	 * back as the one-shot conversion of the whole */
	{
		size_t len = 200000, used, n, off = 0;
		uint8_t *in = malloc(len);
		char *want = malloc(3 * len + 1);
		uint32_t x = 12345;
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			in[i] = i % 7 ? (uint8_t)text[(x >> 16) % tlen] : (uint8_t)(0x80 | (x >> 8));
		}
		n = recording_utf8(in, len, want, &used);
		for (size_t i = used; i < len; i++, n += 3)
			memcpy(want + n, "\xef\xbf\xbd", 3);
		want[n] = '\0';
		struct recording *r = recording_open(path, 80, 24, 0, "t");
		while (off < len) {
			x = x * 1103515245u + 12345u;
			size_t piece = (x >> 16) % 40000;
			if (piece > len - off)
				piece = len - off;
			CHECK(recording_output(r, in + off, piece) == 0);
			off += piece;
		}
		recording_close(r);
		got = replay(path, &ok, &resizes);
		CHECK(ok && !strcmp(got, want));
		free(got);
		free(want);
		free(in);
	}
	unlink(path);
	return check_done("test_recording");
}
