/* log.h: structured logging as JSON lines on stderr.
 *
 * Every line is one JSON object: {"ts":..., "level":..., "event":..., ...fields}. Fields are
 * given as a jansson json_pack() format and its arguments, so values are always escaped
 * correctly. Never pass a secret (token, ticket, key) as a field.
 */
#ifndef RW_LOG_H
#define RW_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Sets the process-wide component name ("control", "agent", ...) and the minimum level.
 * The level may be overridden by RUNWIRE_LOG_LEVEL (debug|info|warn|error). */
void log_init(const char *component, enum log_level min);

/* Writes one log line. `fields` is a json_pack() object format such as "{s:s, s:i}" or NULL. */
void log_emit(enum log_level level, const char *event, const char *fields, ...);

/* Redirects log lines to an append-only file descriptor (default 2). The caller keeps it. */
void log_set_fd(int fd);

/* Audit events (sign-in failures, session create, attach, cancel, token mint): logged as
 * usual with "audit": true, and appended to the audit file when one is open. */
int log_audit_open(const char *path);
void log_audit_close(void);
void log_audit(const char *event, const char *fields, ...);

/* Routes libwebsockets' own log lines (errors and warnings) through log_emit. */
void log_route_lws(void);

#define log_debug(...) log_emit(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LVL_ERROR, __VA_ARGS__)

#endif
