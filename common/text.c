/* text.c: shell quoting, env names and stage progress text (see text.h). */
#include "common/text.h"
#include "common/rw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

char *text_shell_join(int argc, char *const *argv, size_t max)
{
	static const char plain_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789-_./=:,+@%";
	size_t cap = 1, len = 0;
	char *out;

	if (argc == 1)
		return strlen(argv[0]) > max ? NULL : strdup(argv[0]);
	for (int i = 0; i < argc; i++)
		cap += 4 * strlen(argv[i]) + 3;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		size_t wl = strlen(w);
		if (i)
			out[len++] = ' ';
		if (wl && strspn(w, plain_chars) == wl) {
			memcpy(out + len, w, wl);
			len += wl;
			continue;
		}
		out[len++] = '\'';
		for (; *w; w++) {
			if (*w == '\'') {
				memcpy(out + len, "'\\''", 4);
				len += 4;
			} else {
				out[len++] = *w;
			}
		}
		out[len++] = '\'';
	}
	out[len] = '\0';
	if (len > max) {
		free(out);
		return NULL;
	}
	return out;
}

int text_env_name_ok(const char *k)
{
	if (!*k || strlen(k) > 128 || !strncmp(k, "RUNWIRE_", 8))
		return 0;
	for (const char *p = k; *p; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (p != k && *p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

/* Formats v in the unit that suits `scale`; returns the unit's name. */
static const char *in_unit(char *out, size_t n, uint64_t v, uint64_t scale)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB" };
	size_t u = 0;

	while (u + 1 < RW_ARRAY_LEN(unit) && scale >= 1024) {
		scale /= 1024;
		u++;
	}
	if (!u)
		snprintf(out, n, "%llu", (unsigned long long)v);
	else
		snprintf(out, n, "%.1f", (double)v / (double)(1ull << (10 * u)));
	return unit[u];
}

void text_stage_progress(json_t *ev, char *out, size_t len)
{
	const char *stage = json_string_value(json_object_get(ev, "stage"));
	const char *state = json_string_value(json_object_get(ev, "state"));
	json_t *done = json_object_get(ev, "done"), *total = json_object_get(ev, "total");
	char a[32], b[32];

	out[0] = '\0';
	if (!stage || !state || !json_is_integer(done) || json_integer_value(done) < 0)
		return;
	uint64_t d = (uint64_t)json_integer_value(done);
	uint64_t t = json_integer_value(total) > 0 ? (uint64_t)json_integer_value(total) : 0;
	int running = !strcmp(state, "running");

	if (!strcmp(stage, "fetch") && (d || t)) {
		const char *unit = in_unit(a, sizeof(a), d, t > d ? t : d);
		in_unit(b, sizeof(b), t, t > d ? t : d);
		if (t && running)
			snprintf(out, len, " %s/%s %s", a, b, unit);
		else
			snprintf(out, len, " %s %s", a, unit);
	} else if (t && running) {
		snprintf(out, len, " %llu/%llu%s", (unsigned long long)d, (unsigned long long)t,
			 !strcmp(stage, "unpack") ? " entries" : "");
	} else if (!strcmp(stage, "unpack") && d) {
		snprintf(out, len, " %llu entries", (unsigned long long)d);
	}
}

void text_secrets_wipe(json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
		if (json_is_string(v))
			sodium_memzero((char *)json_string_value(v), json_string_length(v));
	json_decref(obj);
}
