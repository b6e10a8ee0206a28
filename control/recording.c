/* recording.c: asciicast v2 recordings (see recording.h). */
#include "control/recording.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define RECORDING_BUF (256u << 10)    /* stdio buffer: one write(2) per 256 KiB */

struct recording {
	FILE *f;
	int64_t t0_us;
	uint8_t tail[4];                  /* an incomplete UTF-8 sequence from the last call */
	size_t tail_len;
	char *text;                       /* conversion buffer */
	size_t text_cap;
	int failed;
};

static size_t seq_len(uint8_t b)
{
	if (b < 0x80) return 1;
	if (b >= 0xc2 && b <= 0xdf) return 2;
	if (b >= 0xe0 && b <= 0xef) return 3;
	if (b >= 0xf0 && b <= 0xf4) return 4;
	return 0;
}

/* Whether in[0..n) is a well-formed sequence (no overlongs, no surrogates, <= U+10FFFF). */
static int seq_ok(const uint8_t *in, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if ((in[i] & 0xc0) != 0x80)
			return 0;
	if (n == 3 && ((in[0] == 0xe0 && in[1] < 0xa0) || (in[0] == 0xed && in[1] >= 0xa0)))
		return 0;
	if (n == 4 && ((in[0] == 0xf0 && in[1] < 0x90) || (in[0] == 0xf4 && in[1] >= 0x90)))
		return 0;
	return 1;
}

size_t recording_utf8(const uint8_t *in, size_t len, char *out, size_t *consumed)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t n = seq_len(in[i]);
		if (n && i + n > len) {
			/* maybe the rest comes with the next frame: keep it if it is a good prefix */
			size_t k;
			for (k = 1; i + k < len && (in[i + k] & 0xc0) == 0x80; k++)
				;
			if (i + k == len)
				break;
			n = 0;
		}
		if (n && seq_ok(in + i, n)) {
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*consumed = i;
	return o;
}

static double elapsed(const struct recording *r)
{
	return (double)(rw_mono_us() - r->t0_us) / 1e6;
}

static int write_event(struct recording *r, const char *kind, json_t *data)
{
	json_t *ev = json_pack("[f, s, o]", elapsed(r), kind, data);
	int rc;

	if (!ev || r->failed)
		return RW_EIO;
	rc = json_dumpf(ev, r->f, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(ev);
	if (rc || fputc('\n', r->f) == EOF) {
		r->failed = 1;
		return RW_EIO;
	}
	return RW_OK;
}

struct recording *recording_open(const char *path, uint16_t cols, uint16_t rows,
				 int64_t started_ms, const char *title)
{
	struct recording *r = calloc(1, sizeof(*r));
	json_t *hdr;

	if (!r)
		return NULL;
	r->f = fopen(path, "w");
	if (!r->f) {
		free(r);
		return NULL;
	}
	setvbuf(r->f, NULL, _IOFBF, RECORDING_BUF);
	r->t0_us = rw_mono_us();
	hdr = json_pack("{s:i, s:i, s:i, s:I, s:{s:s}, s:s}", "version", 2, "width", cols,
			"height", rows, "timestamp", (json_int_t)(started_ms / 1000), "env", "TERM",
			"xterm-256color", "title", title);
	if (!hdr || json_dumpf(hdr, r->f, JSON_COMPACT | JSON_PRESERVE_ORDER) ||
	    fputc('\n', r->f) == EOF) {
		json_decref(hdr);
		fclose(r->f);
		free(r);
		return NULL;
	}
	json_decref(hdr);
	return r;
}

int recording_output(struct recording *r, const uint8_t *data, size_t len)
{
	size_t need = 3 * (len + r->tail_len) + 1, used, n, joined_len = r->tail_len + len;
	uint8_t *joined;

	if (need > r->text_cap) {
		char *nt = realloc(r->text, need);
		if (!nt)
			return RW_ENOMEM;
		r->text = nt;
		r->text_cap = need;
	}
	joined = malloc(joined_len ? joined_len : 1);
	if (!joined)
		return RW_ENOMEM;
	memcpy(joined, r->tail, r->tail_len);
	memcpy(joined + r->tail_len, data, len);
	n = recording_utf8(joined, joined_len, r->text, &used);
	r->tail_len = joined_len - used;
	memcpy(r->tail, joined + used, r->tail_len);
	free(joined);
	if (!n)
		return RW_OK;
	return write_event(r, "o", json_stringn(r->text, n));
}

int recording_resize(struct recording *r, uint16_t cols, uint16_t rows)
{
	char size[32];

	snprintf(size, sizeof(size), "%ux%u", cols, rows);
	return write_event(r, "r", json_string(size));
}

void recording_flush(struct recording *r)
{
	fflush(r->f);
}

void recording_close(struct recording *r)
{
	if (!r)
		return;
	if (r->tail_len) {
		/* an incomplete sequence at the very end is not text */
		char text[16];
		size_t n = 0;
		for (size_t i = 0; i < r->tail_len; i++, n += 3)
			memcpy(text + n, "\xef\xbf\xbd", 3);
		write_event(r, "o", json_stringn(text, n));
	}
	fclose(r->f);
	free(r->text);
	free(r);
}
