/* recording.c: asciicast v2 recordings (see recording.h). */
#include "control/recording.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define RECORDING_PIECE (16u << 10)   /* output bytes converted and escaped at a time */
#define RECORDING_JSON_MAX_ESC 6      /* a control character becomes \u00XX */

struct recording {
	FILE *f;
	int64_t t0_us;
	uint8_t tail[4];                  /* an incomplete UTF-8 sequence from the last call */
	uint16_t cols, rows;              /* the size last written */
	uint16_t new_cols, new_rows;      /* a resize not written yet */
	size_t tail_len;
	int failed;
};

/* Conversion buffers, shared: every recording is written from control's one event loop, and
 * a per-session buffer would cost an idle session memory. UTF-8 text is at most 3 bytes per
 * input byte (U+FFFD), its JSON escape at most 6 per text byte. */
static char rec_text[3 * RECORDING_PIECE];
static char rec_json[RECORDING_JSON_MAX_ESC * sizeof(rec_text)];

/* Word-at-a-time byte tests (exact as booleans): whether any byte of `w` is below `n`
 * (n <= 128), or equals `b`. */
#define WORD_ONES 0x0101010101010101ULL
#define WORD_HIGHS 0x8080808080808080ULL

static inline int word_has_less(uint64_t w, uint8_t n)
{
	return ((w - WORD_ONES * n) & ~w & WORD_HIGHS) != 0;
}

static inline int word_has_byte(uint64_t w, uint8_t b)
{
	uint64_t x = w ^ (WORD_ONES * b);

	return ((x - WORD_ONES) & ~x & WORD_HIGHS) != 0;
}

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
		/* runs of ASCII, a word at a time: terminal output is mostly that */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, in + i, 8);
			if (w & WORD_HIGHS)
				break;
			memcpy(out + o, &w, 8);
			i += 8;
			o += 8;
		}
		if (i == len)
			break;
		if (in[i] < 0x80) {
			out[o++] = (char)in[i++];
			continue;
		}
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

static int write_pending_resize(struct recording *r);

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
	r->t0_us = rw_mono_us();
	r->cols = r->new_cols = cols;
	r->rows = r->new_rows = rows;
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

/* Escapes UTF-8 text as the inside of a JSON string, as jansson does: quote, backslash and
 * control characters; everything else verbatim. Returns the length written to `out`
 * (at most RECORDING_JSON_MAX_ESC * len). Output is the hot path of a recording, and
 * jansson's dumper decodes every code point on the way: written through it, a session's
 * recording took more CPU than the rest of control's relay put together. */
static size_t json_escape(const char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c;
		/* a word at a time while no byte needs escaping */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, in + i, 8);
			if (word_has_less(w, 0x20) || word_has_byte(w, '"') || word_has_byte(w, '\\'))
				break;
			memcpy(out + o, &w, 8);
			i += 8;
			o += 8;
		}
		if (i == len)
			break;
		c = (unsigned char)in[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		switch (c) {
		case '"': case '\\': out[o++] = (char)c; break;
		case '\b': out[o++] = 'b'; break;
		case '\f': out[o++] = 'f'; break;
		case '\n': out[o++] = 'n'; break;
		case '\r': out[o++] = 'r'; break;
		case '\t': out[o++] = 't'; break;
		default:
			memcpy(out + o, "u00", 3);
			out[o + 3] = hex[c >> 4];
			out[o + 4] = hex[c & 15];
			o += 5;
		}
	}
	return o;
}

/* Writes UTF-8 text as part of the current event's JSON string. */
static void write_text(struct recording *r, const char *text, size_t n)
{
	n = json_escape(text, n, rec_json);
	if (!r->failed && fwrite(rec_json, 1, n, r->f) != n)
		r->failed = 1;
}

/* Opens an output event: `[<seconds>,"o","`; the text and `"]` follow. */
static void start_output_event(struct recording *r)
{
	char t[64];
	json_t *secs = json_real(elapsed(r));
	size_t n = json_dumpb(secs, t, sizeof(t), JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));

	json_decref(secs);
	if (!n || n >= sizeof(t) || fputc('[', r->f) == EOF || fwrite(t, 1, n, r->f) != n ||
	    fputs(",\"o\",\"", r->f) == EOF)
		r->failed = 1;
}

int recording_output(struct recording *r, const uint8_t *data, size_t len)
{
	uint8_t joined[2 * sizeof(r->tail)];
	size_t used, n, off;

	if (r->failed || write_pending_resize(r))
		return RW_EIO;
	if (r->tail_len) {
		/* The last call ended inside a sequence: finish it with this call's first bytes
		 * (a sequence is at most 4 bytes), then go on from a sequence boundary in `data`. */
		size_t k = len < sizeof(r->tail) ? len : sizeof(r->tail);

		memcpy(joined, r->tail, r->tail_len);
		memcpy(joined + r->tail_len, data, k);
		n = recording_utf8(joined, r->tail_len + k, rec_text, &used);
		if (!used) {
			/* still incomplete (so k == len): keep it all for the next call */
			memcpy(r->tail + r->tail_len, data, k);
			r->tail_len += k;
			return RW_OK;
		}
		off = used - r->tail_len;
	} else {
		n = recording_utf8(data, len < RECORDING_PIECE ? len : RECORDING_PIECE, rec_text,
				   &used);
		if (!used) {
			/* nothing but the start of a sequence (or nothing at all) */
			memcpy(r->tail, data, len);
			r->tail_len = len;
			return RW_OK;
		}
		off = used;
	}
	start_output_event(r);
	write_text(r, rec_text, n);
	while (off < len && !r->failed) {
		size_t piece = len - off < RECORDING_PIECE ? len - off : RECORDING_PIECE;

		n = recording_utf8(data + off, piece, rec_text, &used);
		if (!used)
			break;   /* a trailing incomplete sequence */
		write_text(r, rec_text, n);
		off += used;
	}
	r->tail_len = len - off;
	memcpy(r->tail, data + off, r->tail_len);
	if (fputs("\"]\n", r->f) == EOF)
		r->failed = 1;
	return r->failed ? RW_EIO : RW_OK;
}

int recording_resize(struct recording *r, uint16_t cols, uint16_t rows)
{
	/* Written with the next output: a flood of resizes with nothing drawn between them
	 * (a window being dragged, or a hostile viewer) costs one line, not one per frame. */
	r->new_cols = cols;
	r->new_rows = rows;
	return RW_OK;
}

static int write_pending_resize(struct recording *r)
{
	char size[32];

	if (r->new_cols == r->cols && r->new_rows == r->rows)
		return RW_OK;
	r->cols = r->new_cols;
	r->rows = r->new_rows;
	snprintf(size, sizeof(size), "%ux%u", r->cols, r->rows);
	return write_event(r, "r", json_string(size));
}

uint64_t recording_size(struct recording *r)
{
	off_t n = ftello(r->f);

	return n > 0 ? (uint64_t)n : 0;
}

void recording_flush(struct recording *r)
{
	fflush(r->f);
}

void recording_close(struct recording *r)
{
	if (!r)
		return;
	write_pending_resize(r);   /* the size it ended at */
	if (r->tail_len) {
		/* an incomplete sequence at the very end is not text */
		char text[16];
		size_t n = 0;
		for (size_t i = 0; i < r->tail_len; i++, n += 3)
			memcpy(text + n, "\xef\xbf\xbd", 3);
		write_event(r, "o", json_stringn(text, n));
	}
	fclose(r->f);
	free(r);
}
