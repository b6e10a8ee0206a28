/* retention.h: keeps control's data directory bounded in age and in size.
 *
 * Ended sessions (their log, events and recording, then the session itself) are deleted
 * --retention after they ended, and oldest first whenever the data directory holds more than
 * --max-data-bytes. Files left by an earlier run of control (their sessions are gone) go
 * first. When only live sessions are left over the cap, the oldest part of the biggest
 * session's log is deleted (a viewer that later asks for it is told what it skipped).
 */
#ifndef RW_CONTROL_RETENTION_H
#define RW_CONTROL_RETENTION_H

#include <stdint.h>

struct control;
struct retention;

#define RETENTION_TICK_MS 1000         /* how often the limits are enforced */
#define RETENTION_MAX_ORPHANS 100000   /* files of earlier runs tracked (more: deleted) */

/* Scans the data directory for files of earlier runs: those past the retention are deleted,
 * the others are counted against the size cap. NULL on ENOMEM. */
struct retention *retention_new(struct control *ctl);
void retention_free(struct retention *r);

/* Deletes what age or size says must go and updates ctl->data_bytes, at most once per
 * RETENTION_TICK_MS. Called from control's periodic tick. */
void retention_tick(struct retention *r, int64_t now_ms);

/* Bytes of earlier runs' files still on disk. */
uint64_t retention_orphan_bytes(const struct retention *r);

/* Parses "90", "90s", "15m", "12h", "7d" into seconds. 0 or RW_EINVAL. */
int retention_parse_duration(const char *s, int64_t *out);
/* Parses "1048576", "64K", "512M", "10G", "1T" (powers of 1024) into bytes. 0 or RW_EINVAL. */
int retention_parse_bytes(const char *s, uint64_t *out);

#endif
