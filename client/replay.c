/* replay.c: `runwire replay SESSION`: a finished (or running) session's recording, from
 * GET /api/sessions/{id}/recording, written to stdout with its original timing. */
#include "client/client.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void pause_for(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts))
		;
}

int replay_run(const struct client *c, const char *sid, double speed, double max_idle)
{
	char path[256], err[512], *raw = NULL, *line, *save = NULL;
	size_t len;
	long status = 0;
	double prev = 0;
	int first = 1, r = 0;

	snprintf(path, sizeof(path), "/api/sessions/%.64s/recording", sid);
	if (api_request(c, "GET", path, NULL, &status, &raw, &len, err, sizeof(err))) {
		fprintf(stderr, "runwire: %s\n", err);
		return 1;
	}
	if (status != 200 || !raw) {
		fprintf(stderr, "runwire: no recording for %s (HTTP %ld)\n", sid, status);
		free(raw);
		return 1;
	}
	for (line = strtok_r(raw, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		if (first) {
			first = 0;
			if (json_integer_value(json_object_get(j, "version")) != 2) {
				fprintf(stderr, "runwire: %s: not an asciicast v2 recording\n", sid);
				r = 1;
				json_decref(j);
				break;
			}
		} else if (json_is_array(j) && json_array_size(j) == 3 &&
			   json_is_string(json_array_get(j, 1)) &&
			   !strcmp(json_string_value(json_array_get(j, 1)), "o")) {
			double t = json_number_value(json_array_get(j, 0));
			json_t *data = json_array_get(j, 2);
			if (speed > 0 && t > prev) {
				double gap = (t - prev) / speed;
				pause_for(gap > max_idle ? max_idle : gap);
			}
			prev = t;
			if (rw_write_all(1, json_string_value(data), json_string_length(data))) {
				r = 1;
				json_decref(j);
				break;
			}
		}
		json_decref(j);
	}
	free(raw);
	return r;
}
