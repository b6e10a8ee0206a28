/* minisign.c: minisign key and signature parsing and verification (see minisign.h). Pure
 * parsing over bytes in memory; the only I/O is reading the signed file's descriptor and a key
 * file named on the command line.
 */
#include "agent/minisign.h"
#include "common/rw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define UNTRUSTED_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define PUBKEY_BYTES (2 + MINISIGN_KEY_ID_BYTES + 32)   /* "Ed" | id | pk */
#define SIG_BYTES (2 + MINISIGN_KEY_ID_BYTES + 64)      /* "ED"/"Ed" | id | sig */
#define B64_MAX 128                                     /* base64 of the longest field */

/* Decodes exactly `want` bytes of standard base64 (padding as minisign writes it). */
static bool b64_exact(const char *s, size_t n, uint8_t *out, size_t want)
{
	size_t got = 0;
	const char *end = NULL;

	if (!n || n > B64_MAX)
		return false;
	if (sodium_base642bin(out, want, s, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL))
		return false;
	return got == want && end == s + n;
}

/* The next line of [*p, end): its start and length without "\n" or "\r\n"; *p moves past it.
 * False at the end of the text. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = (size_t)((nl ? nl : end) - *p);
	*p = nl ? nl + 1 : end;
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

static bool is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

void minisign_key_id_hex(const uint8_t id[MINISIGN_KEY_ID_BYTES], char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	size_t n = 0;

	/*
	 * minisign prints the id as a little-endian 64-bit number with PRIX64: no leading zeros.
	 * Printing the same way lets a user match our messages against the comment in their
	 * minisign.pub (and the test grep for it); a key id with a leading zero nibble is 1 in 16.
	 */
	for (int i = 0; i < 2 * MINISIGN_KEY_ID_BYTES; i++) {
		uint8_t byte = id[MINISIGN_KEY_ID_BYTES - 1 - i / 2];
		int digit = i % 2 ? byte & 15 : byte >> 4;

		if (digit || n || i == 2 * MINISIGN_KEY_ID_BYTES - 1)
			out[n++] = hex[digit];
	}
	out[n] = '\0';
}

void minisign_pubkey_base64(const struct minisign_pubkey *key, char *out)
{
	uint8_t raw[PUBKEY_BYTES] = { 'E', 'd' };

	memcpy(raw + 2, key->key_id, MINISIGN_KEY_ID_BYTES);
	memcpy(raw + 2 + MINISIGN_KEY_ID_BYTES, key->pk, sizeof(key->pk));
	sodium_bin2base64(out, MINISIGN_PUBKEY_B64_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_ORIGINAL);
}

int minisign_pubkey_parse(const char *text, size_t len, struct minisign_pubkey *out, char *err,
			  size_t errlen)
{
	const char *p = text, *end = text + len, *line = NULL, *key = NULL;
	uint8_t raw[PUBKEY_BYTES];
	size_t n, key_len = 0;
	bool first = true;

	if (len > MINISIGN_MAX_KEY_FILE)
		return rw_seterr(err, errlen, RW_ETOOBIG, "public key longer than %d bytes",
			      MINISIGN_MAX_KEY_FILE);
	if (memchr(text, '\0', len))
		return rw_seterr(err, errlen, RW_EINVAL, "public key holds a NUL byte");
	/* At most one comment line, then the key, then only blank space. */
	while (next_line(&p, end, &line, &n)) {
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		if (!n)
			continue;
		if (first && n >= strlen(UNTRUSTED_PREFIX) &&
		    !memcmp(line, UNTRUSTED_PREFIX, strlen(UNTRUSTED_PREFIX))) {
			first = false;
			if (n - strlen(UNTRUSTED_PREFIX) > MINISIGN_MAX_COMMENT)
				return rw_seterr(err, errlen, RW_ETOOBIG,
					      "public key comment longer than %d bytes",
					      MINISIGN_MAX_COMMENT);
			continue;
		}
		first = false;
		if (key)
			return rw_seterr(err, errlen, RW_EINVAL, "public key: text after the key");
		key = line;
		key_len = n;
	}
	if (!key)
		return rw_seterr(err, errlen, RW_EINVAL, "no public key found");
	if (!b64_exact(key, key_len, raw, sizeof(raw)))
		return rw_seterr(err, errlen, RW_EINVAL,
			      "not a minisign public key (want base64 of %d bytes, \"RW...\")",
			      PUBKEY_BYTES);
	if (raw[0] != 'E' || raw[1] != 'd')
		return rw_seterr(err, errlen, RW_EINVAL, "public key for an unknown algorithm");
	memcpy(out->key_id, raw + 2, MINISIGN_KEY_ID_BYTES);
	memcpy(out->pk, raw + 2 + MINISIGN_KEY_ID_BYTES, sizeof(out->pk));
	return RW_OK;
}

int minisign_pubkey_load(const char *arg, struct minisign_pubkey *out, char *err, size_t errlen)
{
	char buf[MINISIGN_MAX_KEY_FILE + 1];
	ssize_t n;
	size_t len = 0;
	int fd;

	if (!arg || !*arg)
		return rw_seterr(err, errlen, RW_EINVAL, "empty public key");
	if (!minisign_pubkey_parse(arg, strlen(arg), out, err, errlen))
		return RW_OK;
	fd = open(arg, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rw_seterr(err, errlen, RW_EINVAL, "'%.64s' is neither a minisign public key nor "
			      "a readable key file (%s)", arg, strerror(errno));
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return minisign_pubkey_parse(buf, len, out, err, errlen);
}

int minisign_sig_parse(const uint8_t *bytes, size_t len, struct minisign_sig *out, char *err,
		       size_t errlen)
{
	const char *text = (const char *)bytes, *p = text, *end = text + len, *line;
	uint8_t raw[SIG_BYTES];
	size_t n, ul = strlen(UNTRUSTED_PREFIX), tl = strlen(TRUSTED_PREFIX);

	memset(out, 0, sizeof(*out));
	if (len > MINISIGN_MAX_SIG_FILE)
		return rw_seterr(err, errlen, RW_ETOOBIG, "signature file longer than %u bytes",
			      MINISIGN_MAX_SIG_FILE);
	if (memchr(text, '\0', len))
		return rw_seterr(err, errlen, RW_EINVAL, "signature file holds a NUL byte");

	if (!next_line(&p, end, &line, &n) || n < ul || memcmp(line, UNTRUSTED_PREFIX, ul))
		return rw_seterr(err, errlen, RW_EINVAL, "signature file: the first line must be "
			      "\"untrusted comment: ...\"");
	if (n - ul > MINISIGN_MAX_COMMENT)
		return rw_seterr(err, errlen, RW_ETOOBIG, "signature file: untrusted comment longer "
			      "than %d bytes", MINISIGN_MAX_COMMENT);

	if (!next_line(&p, end, &line, &n) || !b64_exact(line, n, raw, sizeof(raw)))
		return rw_seterr(err, errlen, RW_EINVAL, "signature file: the second line must be the "
			      "signature (base64 of %d bytes)", SIG_BYTES);
	if (raw[0] == 'E' && raw[1] == 'D')
		out->prehashed = true;
	else if (raw[0] != 'E' || raw[1] != 'd')
		return rw_seterr(err, errlen, RW_EINVAL, "signature file: unknown algorithm");
	memcpy(out->key_id, raw + 2, MINISIGN_KEY_ID_BYTES);
	memcpy(out->sig, raw + 2 + MINISIGN_KEY_ID_BYTES, sizeof(out->sig));

	if (!next_line(&p, end, &line, &n) || n < tl || memcmp(line, TRUSTED_PREFIX, tl))
		return rw_seterr(err, errlen, RW_EINVAL, "signature file: the third line must be "
			      "\"trusted comment: ...\"");
	if (n - tl > MINISIGN_MAX_TRUSTED_COMMENT)
		return rw_seterr(err, errlen, RW_ETOOBIG, "signature file: trusted comment longer than "
			      "%d bytes", MINISIGN_MAX_TRUSTED_COMMENT);
	memcpy(out->trusted_comment, line + tl, n - tl);
	out->trusted_comment[n - tl] = '\0';
	out->trusted_comment_len = n - tl;

	if (!next_line(&p, end, &line, &n) || !b64_exact(line, n, out->global_sig,
							 sizeof(out->global_sig)))
		return rw_seterr(err, errlen, RW_EINVAL, "signature file: the fourth line must be the "
			      "trusted comment's signature (base64 of 64 bytes)");
	if (!is_blank(p, (size_t)(end - p)))
		return rw_seterr(err, errlen, RW_EINVAL, "signature file: text after the fourth line");
	return RW_OK;
}

const struct minisign_pubkey *minisign_find_key(const struct minisign_sig *sig,
						const struct minisign_pubkey *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(keys[i].key_id, sig->key_id, MINISIGN_KEY_ID_BYTES))
			return &keys[i];
	return NULL;
}

int minisign_verify_comment(const struct minisign_sig *sig, const struct minisign_pubkey *key,
			    char *err, size_t errlen)
{
	uint8_t msg[sizeof(sig->sig) + MINISIGN_MAX_TRUSTED_COMMENT];

	if (sig->trusted_comment_len > MINISIGN_MAX_TRUSTED_COMMENT)
		return rw_seterr(err, errlen, RW_ETOOBIG, "trusted comment too long");
	memcpy(msg, sig->sig, sizeof(sig->sig));
	memcpy(msg + sizeof(sig->sig), sig->trusted_comment, sig->trusted_comment_len);
	if (crypto_sign_verify_detached(sig->global_sig, msg,
					sizeof(sig->sig) + sig->trusted_comment_len, key->pk))
		return rw_seterr(err, errlen, RW_EDIGEST, "the trusted comment does not match its "
			      "signature (altered comment or signature)");
	return RW_OK;
}

static int key_check(const struct minisign_sig *sig, const struct minisign_pubkey *key, char *err,
		     size_t errlen)
{
	char want[MINISIGN_KEY_ID_HEX + 1], got[MINISIGN_KEY_ID_HEX + 1];

	if (!memcmp(sig->key_id, key->key_id, MINISIGN_KEY_ID_BYTES))
		return RW_OK;
	minisign_key_id_hex(key->key_id, want);
	minisign_key_id_hex(sig->key_id, got);
	return rw_seterr(err, errlen, RW_EUNSAFE, "signed by key %s, not by %s", got, want);
}

/* The file signature over `msg` (the BLAKE2b-512 hash or the file), then the comment's. */
static int verify_msg(const struct minisign_sig *sig, const struct minisign_pubkey *key,
		      const uint8_t *msg, size_t len, char *err, size_t errlen)
{
	char id[MINISIGN_KEY_ID_HEX + 1];

	if (crypto_sign_verify_detached(sig->sig, msg, len, key->pk)) {
		minisign_key_id_hex(key->key_id, id);
		return rw_seterr(err, errlen, RW_EDIGEST, "the %s signature by key %s does not match "
			      "the bundle's bytes", sig->prehashed ? "prehashed" : "legacy", id);
	}
	return minisign_verify_comment(sig, key, err, errlen);
}

int minisign_verify_buf(const struct minisign_sig *sig, const struct minisign_pubkey *key,
			const uint8_t *data, size_t len, char *err, size_t errlen)
{
	uint8_t hash[crypto_generichash_BYTES_MAX];
	int rc = key_check(sig, key, err, errlen);

	if (rc)
		return rc;
	if (!sig->prehashed) {
		if ((uint64_t)len > MINISIGN_MAX_LEGACY_BYTES)
			return rw_seterr(err, errlen, RW_ETOOBIG, "legacy signatures are verified on "
				      "files up to %llu bytes: sign with minisign's default (prehashed)",
				      (unsigned long long)MINISIGN_MAX_LEGACY_BYTES);
		return verify_msg(sig, key, data, len, err, errlen);
	}
	crypto_generichash(hash, sizeof(hash), data, len, NULL, 0);
	return verify_msg(sig, key, hash, sizeof(hash), err, errlen);
}

int minisign_verify_fd(const struct minisign_sig *sig, const struct minisign_pubkey *key, int fd,
		       char *err, size_t errlen)
{
	uint8_t hash[crypto_generichash_BYTES_MAX];
	crypto_generichash_state st;
	struct stat sb;
	uint8_t *buf;
	off_t off = 0;
	ssize_t n;
	int rc = key_check(sig, key, err, errlen);

	if (rc)
		return rc;
	if (fstat(fd, &sb) < 0)
		return rw_seterr(err, errlen, RW_EIO, "signature check: %s", strerror(errno));
	if (!sig->prehashed) {
		void *map;

		if ((uint64_t)sb.st_size > MINISIGN_MAX_LEGACY_BYTES)
			return minisign_verify_buf(sig, key, NULL, (size_t)sb.st_size, err, errlen);
		if (!sb.st_size)
			return verify_msg(sig, key, (const uint8_t *)"", 0, err, errlen);
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			return rw_seterr(err, errlen, RW_EIO, "signature check: %s", strerror(errno));
		rc = verify_msg(sig, key, map, (size_t)sb.st_size, err, errlen);
		munmap(map, (size_t)sb.st_size);
		return rc;
	}
	buf = malloc(MINISIGN_READ_CHUNK);
	if (!buf)
		return rw_seterr(err, errlen, RW_ENOMEM, "out of memory");
	crypto_generichash_init(&st, NULL, 0, sizeof(hash));
	for (;;) {
		n = pread(fd, buf, MINISIGN_READ_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rw_seterr(err, errlen, RW_EIO, "signature check: %s", strerror(errno));
			break;
		}
		if (!n)
			break;
		crypto_generichash_update(&st, buf, (size_t)n);
		off += n;
	}
	free(buf);
	if (rc)
		return rc;
	crypto_generichash_final(&st, hash, sizeof(hash));
	return verify_msg(sig, key, hash, sizeof(hash), err, errlen);
}
