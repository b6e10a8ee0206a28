/* replay.c: `runwire replay SESSION`: a finished (or running) session's recording, from
 * GET /api/sessions/{id}/recording, written to stdout with its original timing. The recording
 * is streamed line by line as it arrives: its size has no limit, only one line has. */
#include "client/client.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One asciicast line holds one output frame of at most 1 MiB, as UTF-8 (3 bytes per byte
 * at worst) escaped for JSON (6 per byte at worst). */
#define REPLAY_MAX_LINE (24u << 20)

struct replay {
	const char *sid;
	double speed, max_idle, prev;
	int first;
	char *line;             /* the line being received */
	size_t len, cap;
	char err[256];          /* why it stopped, when it did */
};

static void pause_for(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts))
		;
}

/* Plays one whole line: the header first, then "o" events (others are skipped). */
static int replay_line(struct replay *r, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	int rc = RW_OK;

	if (r->first) {
		r->first = 0;
		if (json_integer_value(json_object_get(j, "version")) != 2) {
			snprintf(r->err, sizeof(r->err), "%s: not an asciicast v2 recording", r->sid);
			rc = RW_EINVAL;
		}
	} else if (json_is_array(j) && json_array_size(j) == 3 &&
		   json_is_string(json_array_get(j, 1)) &&
		   !strcmp(json_string_value(json_array_get(j, 1)), "o")) {
		double t = json_number_value(json_array_get(j, 0));
		json_t *data = json_array_get(j, 2);
		if (r->speed > 0 && t > r->prev) {
			double gap = (t - r->prev) / r->speed;
			pause_for(gap > r->max_idle ? r->max_idle : gap);
		}
		r->prev = t;
		if (rw_write_all(1, json_string_value(data), json_string_length(data))) {
			snprintf(r->err, sizeof(r->err), "cannot write to stdout");
			rc = RW_EIO;
		}
	}
	json_decref(j);
	return rc;
}

static int on_data(const char *data, size_t len, void *ud)
{
	struct replay *r = ud;

	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (r->len + n > REPLAY_MAX_LINE) {
			snprintf(r->err, sizeof(r->err), "%s: a recording line is longer than %u bytes",
				 r->sid, REPLAY_MAX_LINE);
			return RW_ETOOBIG;
		}
		if (r->len + n + 1 > r->cap) {
			size_t cap = r->cap ? r->cap : 64u << 10;
			char *nb;
			while (cap < r->len + n + 1)
				cap *= 2;
			nb = realloc(r->line, cap);
			if (!nb) {
				snprintf(r->err, sizeof(r->err), "out of memory");
				return RW_ENOMEM;
			}
			r->line = nb;
			r->cap = cap;
		}
		memcpy(r->line + r->len, data, n);
		r->len += n;
		data += n;
		len -= n;
		if (nl) {
			int rc = r->len ? replay_line(r, r->line, r->len) : RW_OK;
			r->len = 0;
			data++;
			len--;
			if (rc)
				return rc;
		}
	}
	return RW_OK;
}

int replay_run(const struct client *c, const char *sid, double speed, double max_idle)
{
	struct replay r = { .sid = sid, .speed = speed, .max_idle = max_idle, .first = 1 };
	char path[256], err[512];
	long status = 0;
	int rc;

	snprintf(path, sizeof(path), "/api/sessions/%.64s/recording", sid);
	rc = api_stream(c, path, on_data, &r, &status, err, sizeof(err));
	if (rc == RW_OK && status == 200 && r.len)
		rc = replay_line(&r, r.line, r.len) ? RW_EINVAL : RW_OK;   /* no final newline */
	free(r.line);
	if (rc == RW_EIO) {
		fprintf(stderr, "runwire: %s\n", err);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "runwire: %s\n", r.err);
		return 1;
	}
	if (status != 200) {
		fprintf(stderr, "runwire: no recording for %s (HTTP %ld)\n", sid, status);
		return 1;
	}
	if (r.first) {
		fprintf(stderr, "runwire: %s: the recording is empty\n", sid);
		return 1;
	}
	return 0;
}
