/* log.c: JSON-lines logger (see log.h). One write(2) per line so lines from several
 * processes sharing a stderr never interleave. */
#include "common/log.h"
#include "common/rw.h"

#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>

static const char *log_component = "runwire";
static enum log_level log_min = LOG_LVL_INFO;
static int log_fd = 2;
static int audit_fd = -1;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *component, enum log_level min)
{
	const char *env = getenv("RUNWIRE_LOG_LEVEL");

	log_component = component;
	log_min = min;
	if (env) {
		for (size_t i = 0; i < RW_ARRAY_LEN(level_names); i++)
			if (!strcasecmp(env, level_names[i]))
				log_min = (enum log_level)i;
	}
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

static void log_vemit(enum log_level level, int audit, const char *event, const char *fields,
		      va_list ap)
{
	json_t *line, *extra = NULL;
	char ts[40];
	struct timespec now;
	struct tm tm;
	char *text;

	if (level < log_min && !audit)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + 19, sizeof(ts) - 19, ".%03ldZ", now.tv_nsec / 1000000);

	line = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
			 "component", log_component, "event", event);
	if (!line)
		return;
	if (audit)
		json_object_set_new(line, "audit", json_true());
	if (fields) {
		json_error_t err;

		extra = json_vpack_ex(&err, 0, fields, ap);
		if (extra)
			json_object_update(line, extra);
		else
			json_object_set_new(line, "log_error", json_string(err.text));
		json_decref(extra);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (!text)
		return;
	size_t n = strlen(text);
	text[n] = '\n';
	(void)rw_write_all(log_fd, text, n + 1);
	if (audit && audit_fd >= 0)
		(void)rw_write_all(audit_fd, text, n + 1);
	free(text);
}

void log_emit(enum log_level level, const char *event, const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	log_vemit(level, 0, event, fields, ap);
	va_end(ap);
}

void log_audit(const char *event, const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	log_vemit(LOG_LVL_INFO, 1, event, fields, ap);
	va_end(ap);
}

int log_audit_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return RW_EIO;
	log_audit_close();
	audit_fd = fd;
	return RW_OK;
}

void log_audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}

static void lws_emit(int level, const char *line)
{
	char msg[512];
	size_t n;

	/* lws 4.1 logs a routine step of socket adoption at error level */
	if (strstr(line, "calling service"))
		return;
	/* drop lws's own "[date] E: " prefix and the trailing newline */
	const char *p = strstr(line, ": ");
	snprintf(msg, sizeof(msg), "%s", p ? p + 2 : line);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_emit(level == LLL_ERR ? LOG_LVL_ERROR : LOG_LVL_WARN, "lws", "{s:s}", "message", msg);
}

void log_route_lws(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}
