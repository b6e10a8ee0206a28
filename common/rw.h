/* rw.h: the one error convention and the small helpers every runwire module shares.
 *
 * Functions return int: 0 (RW_OK) on success, a negative RW_E... code on failure.
 * Functions that return a pointer return NULL on failure. Objects that live long keep a
 * message for their last error (see each module's header).
 */
#ifndef RW_H
#define RW_H

#include <stddef.h>
#include <stdint.h>

enum {
	RW_OK = 0,
	RW_ENOMEM = -1,     /* allocation failed */
	RW_EINVAL = -2,     /* bad argument or malformed input */
	RW_EPROTO = -3,     /* protocol violation by a peer */
	RW_ETOOBIG = -4,    /* a named cap was exceeded */
	RW_EIO = -5,        /* system call failed (errno kept by the caller's message) */
	RW_EAUTH = -6,      /* credential missing, forged, expired or already used */
	RW_ENOTFOUND = -7,  /* no such object (or not yours: same answer) */
	RW_ELIMIT = -8,     /* rate or concurrency limit reached */
	RW_ETIMEDOUT = -9,  /* a peer or a download took too long */
	RW_ESTATE = -10,    /* operation not valid in the object's current state */
	RW_EDIGEST = -11,   /* content does not match its promised SHA-256 */
	RW_EUNSAFE = -12,   /* refused for safety (archive entry, redirect, host) */
	RW_EAGAIN = -13,    /* need more input or a later retry */
};

/* Formats a message into `err` (when it is not NULL and errlen > 0) and returns `rc`: the
 * one way a function reports "what went wrong" beside its RW_E... code. */
int rw_seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Returns a static, human-readable name for an RW_E... code. */
const char *rw_strerror(int err);

/* Fills `out` with `len` random bytes encoded as lowercase hex (2*len chars + NUL).
 * `out` must hold 2*len+1 bytes. Uses libsodium's CSPRNG. */
void rw_random_hex(char *out, size_t len);

/* Encodes `len` bytes as lowercase hex into `out` (2*len+1 bytes). */
void rw_hex(char *out, const uint8_t *in, size_t len);

/* Wall clock in milliseconds since the epoch, and a monotonic clock in microseconds. */
int64_t rw_now_ms(void);
int64_t rw_mono_us(void);

/* Reads a whole small file (at most `max` bytes) into a new NUL-terminated buffer that the
 * caller frees. Trailing whitespace is stripped. Returns NULL and sets errno on failure;
 * errno is EFBIG when the file is larger than `max`. */
char *rw_read_file(const char *path, size_t max, size_t *len_out);

/* Writes `len` bytes fully to `fd`, retrying on EINTR and short writes. 0 or RW_EIO. */
int rw_write_all(int fd, const void *buf, size_t len);

/* Parses a decimal integer in [min, max]. 0 on success, RW_EINVAL otherwise. */
int rw_parse_int(const char *s, long long min, long long max, long long *out);

/* Removes a directory tree (like rm -rf, never following symlinks). 0 or RW_EIO. */
int rw_remove_tree(const char *path);

#define RW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
