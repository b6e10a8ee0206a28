/* rw.c: error names and small helpers shared by every runwire binary. */
#include "common/rw.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>

#include <ftw.h>
#include <stdio.h>

#include <sodium.h>

int rw_seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *rw_strerror(int err)
{
	switch (err) {
	case RW_OK: return "ok";
	case RW_ENOMEM: return "out of memory";
	case RW_EINVAL: return "invalid input";
	case RW_EPROTO: return "protocol error";
	case RW_ETOOBIG: return "size limit exceeded";
	case RW_EIO: return "i/o error";
	case RW_EAUTH: return "authentication failed";
	case RW_ENOTFOUND: return "not found";
	case RW_ELIMIT: return "limit reached";
	case RW_ETIMEDOUT: return "timed out";
	case RW_ESTATE: return "invalid state";
	case RW_EDIGEST: return "digest mismatch";
	case RW_EUNSAFE: return "refused as unsafe";
	case RW_EAGAIN: return "try again";
	}
	return "unknown error";
}

void rw_hex(char *out, const uint8_t *in, size_t len)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

void rw_random_hex(char *out, size_t len)
{
	uint8_t buf[64];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		randombytes_buf(buf, n);
		rw_hex(out, buf, n);
		out += 2 * n;
		len -= n;
	}
	*out = '\0';
}

int64_t rw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rw_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *rw_read_file(const char *path, size_t max, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;

	if (!f)
		return NULL;
	buf = malloc(max + 2);
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	len = fread(buf, 1, max + 1, f);
	if (ferror(f) || len > max) {
		int e = ferror(f) ? EIO : EFBIG;
		free(buf);
		fclose(f);
		errno = e;
		return NULL;
	}
	fclose(f);
	while (len && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

int rw_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return RW_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return RW_OK;
}

int rw_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return RW_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return RW_EINVAL;
	*out = v;
	return RW_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rw_remove_tree(const char *path)
{
	int r = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	return r < 0 && errno != ENOENT ? RW_EIO : RW_OK;
}
