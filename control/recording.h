/* recording.h: a session's full recording in asciicast v2 (output with timestamps, resize
 * events), written to <data-dir>/recordings/<sessionId>.cast as the output arrives and
 * served at GET /api/sessions/{id}/recording. asciicast holds UTF-8 text: a multi-byte
 * character split across frames is joined, and bytes that are not UTF-8 become U+FFFD.
 */
#ifndef RW_RECORDING_H
#define RW_RECORDING_H

#include <stddef.h>
#include <stdint.h>

struct recording;

/* Creates the file and writes the header. NULL (with errno) when it cannot. */
struct recording *recording_open(const char *path, uint16_t cols, uint16_t rows,
				 int64_t started_ms, const char *title);
/* Appends output; a trailing partial UTF-8 sequence waits for the next call. 0 or RW_EIO. */
int recording_output(struct recording *r, const uint8_t *data, size_t len);
int recording_resize(struct recording *r, uint16_t cols, uint16_t rows);
/* Bytes written to the file so far. */
uint64_t recording_size(struct recording *r);
/* Makes what was written visible to readers of the file. */
void recording_flush(struct recording *r);
/* Flushes, closes and frees. */
void recording_close(struct recording *r);

/* Converts bytes to UTF-8 text (invalid bytes -> U+FFFD) into `out` (at least 3*len bytes).
 * Returns the text length; *consumed says how many input bytes were used (a trailing
 * incomplete sequence is left). Exposed for the unit test. */
size_t recording_utf8(const uint8_t *in, size_t len, char *out, size_t *consumed);

#endif
