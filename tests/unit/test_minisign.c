/* test_minisign.c: agent/minisign.c given good and hostile keys and .minisig files. The
 * signatures are made here with libsodium in minisign's format (prehashed "ED" and legacy
 * "Ed"); tests/e2e/bundle_signed.sh checks the same code against the real minisign tool.
 */
#include "agent/minisign.h"
#include "common/rw.h"
#include "check.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

struct keypair {
	uint8_t id[8], pk[32], sk[64];
	char pub_b64[MINISIGN_PUBKEY_B64_LEN + 1];
};

static void keypair_make(struct keypair *k)
{
	uint8_t raw[42] = { 'E', 'd' };

	crypto_sign_keypair(k->pk, k->sk);
	randombytes_buf(k->id, sizeof(k->id));
	memcpy(raw + 2, k->id, 8);
	memcpy(raw + 10, k->pk, 32);
	sodium_bin2base64(k->pub_b64, sizeof(k->pub_b64), raw, sizeof(raw),
			  sodium_base64_VARIANT_ORIGINAL);
}

/* A .minisig text as minisign writes it. `comment`/`trusted` are used as given (no newline). */
static char *sig_make(const struct keypair *k, const uint8_t *data, size_t len, bool prehashed,
		      const char *comment, const char *trusted)
{
	uint8_t raw[74] = { 'E', prehashed ? 'D' : 'd' }, hash[64], *gmsg;
	uint8_t global[64];
	char b64sig[120], b64global[100], *out;
	size_t tl = strlen(trusted);

	memcpy(raw + 2, k->id, 8);
	if (prehashed) {
		crypto_generichash(hash, sizeof(hash), data, len, NULL, 0);
		crypto_sign_detached(raw + 10, NULL, hash, sizeof(hash), k->sk);
	} else {
		crypto_sign_detached(raw + 10, NULL, data, len, k->sk);
	}
	gmsg = malloc(64 + tl);
	memcpy(gmsg, raw + 10, 64);
	memcpy(gmsg + 64, trusted, tl);
	crypto_sign_detached(global, NULL, gmsg, 64 + tl, k->sk);
	free(gmsg);
	sodium_bin2base64(b64sig, sizeof(b64sig), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64global, sizeof(b64global), global, sizeof(global),
			  sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&out, "untrusted comment: %s\n%s\ntrusted comment: %s\n%s\n", comment, b64sig,
		     trusted, b64global) < 0)
		return NULL;
	return out;
}

static int parse(const char *text, struct minisign_sig *sig)
{
	char err[MINISIGN_ERR_LEN];

	return minisign_sig_parse((const uint8_t *)text, strlen(text), sig, err, sizeof(err));
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Replaces line `idx` (0-based) of `text` by `line`. */
static char *with_line(const char *text, int idx, const char *line)
{
	const char *p = text;
	char *out;
	int n;

	for (int i = 0; i < idx; i++)
		p = strchr(p, '\n') + 1;
	n = (int)(p - text);
	if (asprintf(&out, "%.*s%s%s", n, text, line, strchr(p, '\n')) < 0)
		return NULL;
	return out;
}

static const uint8_t bundle[] = "PK\3\4 pretend this is a bundle's bytes";

static void test_good(const struct keypair *k, const struct keypair *other)
{
	struct minisign_sig sig;
	struct minisign_pubkey key, okey;
	char err[MINISIGN_ERR_LEN], *text;
	uint8_t altered[sizeof(bundle)];

	CHECK(minisign_pubkey_parse(k->pub_b64, strlen(k->pub_b64), &key, err, sizeof(err)) == 0);
	CHECK(!memcmp(key.pk, k->pk, 32) && !memcmp(key.key_id, k->id, 8));
	CHECK(minisign_pubkey_parse(other->pub_b64, strlen(other->pub_b64), &okey, err,
				    sizeof(err)) == 0);
	memcpy(altered, bundle, sizeof(bundle));
	altered[5] ^= 1;

	for (int prehashed = 0; prehashed < 2; prehashed++) {
		text = sig_make(k, bundle, sizeof(bundle), prehashed, "signature from minisign",
				"timestamp:1\tfile:app.zip");
		CHECK(parse(text, &sig) == 0);
		CHECK(sig.prehashed == prehashed);
		CHECK(!strcmp(sig.trusted_comment, "timestamp:1\tfile:app.zip"));
		CHECK(minisign_find_key(&sig, &key, 1) == &key);
		CHECK(minisign_find_key(&sig, &okey, 1) == NULL);
		CHECK(minisign_verify_comment(&sig, &key, err, sizeof(err)) == 0);
		CHECK(minisign_verify_buf(&sig, &key, bundle, sizeof(bundle), err, sizeof(err)) == 0);
		/* tampered bundle, and a signature made for another file */
		CHECK(minisign_verify_buf(&sig, &key, altered, sizeof(altered), err, sizeof(err)) ==
		      RW_EDIGEST);
		CHECK(strstr(err, "does not match the bundle's bytes") != NULL);
		CHECK(minisign_verify_buf(&sig, &key, bundle, sizeof(bundle) - 1, err, sizeof(err)) ==
		      RW_EDIGEST);
		/* another key */
		CHECK(minisign_verify_buf(&sig, &okey, bundle, sizeof(bundle), err, sizeof(err)) ==
		      RW_EUNSAFE);
		/* the same key id on another public key: the signature fails */
		memcpy(okey.key_id, key.key_id, 8);
		CHECK(minisign_verify_buf(&sig, &okey, bundle, sizeof(bundle), err, sizeof(err)) ==
		      RW_EDIGEST);
		memcpy(okey.key_id, other->id, 8);

		/* the trusted comment altered (one byte), the file signature still fine */
		sig.trusted_comment[10] ^= 1;
		CHECK(minisign_verify_comment(&sig, &key, err, sizeof(err)) == RW_EDIGEST);
		CHECK(minisign_verify_buf(&sig, &key, bundle, sizeof(bundle), err, sizeof(err)) ==
		      RW_EDIGEST);
		CHECK(strstr(err, "trusted comment") != NULL);
		sig.trusted_comment[10] ^= 1;
		/* the global signature altered */
		sig.global_sig[0] ^= 1;
		CHECK(minisign_verify_comment(&sig, &key, err, sizeof(err)) == RW_EDIGEST);
		sig.global_sig[0] ^= 1;

		/* through a file descriptor; its offset is not used */
		int fd = memfd_create("t", 0);
		CHECK(write(fd, bundle, sizeof(bundle)) == (ssize_t)sizeof(bundle));
		CHECK(minisign_verify_fd(&sig, &key, fd, err, sizeof(err)) == 0);
		CHECK(pwrite(fd, altered, sizeof(altered), 0) == (ssize_t)sizeof(altered));
		CHECK(minisign_verify_fd(&sig, &key, fd, err, sizeof(err)) == RW_EDIGEST);
		close(fd);

		/* CRLF line ends and no final newline are tolerated */
		char *crlf = malloc(strlen(text) * 2 + 1), *q = crlf;
		for (const char *p = text; *p; p++) {
			if (*p == '\n')
				*q++ = '\r';
			*q++ = *p;
		}
		*q = '\0';
		CHECK(parse(crlf, &sig) == 0);
		crlf[strlen(crlf) - 2] = '\0';
		CHECK(parse(crlf, &sig) == 0);
		CHECK(minisign_verify_buf(&sig, &key, bundle, sizeof(bundle), err, sizeof(err)) == 0);
		free(crlf);
		free(text);
	}

	/* an empty file signs and verifies (both kinds) */
	text = sig_make(k, (const uint8_t *)"", 0, false, "c", "t");
	CHECK(parse(text, &sig) == 0);
	int fd = memfd_create("e", 0);
	CHECK(minisign_verify_fd(&sig, &key, fd, err, sizeof(err)) == 0);
	close(fd);
	free(text);
}

static void test_caps(const struct keypair *k)
{
	struct minisign_sig sig;
	struct minisign_pubkey key;
	char err[MINISIGN_ERR_LEN], *c, *text;

	minisign_pubkey_parse(k->pub_b64, strlen(k->pub_b64), &key, err, sizeof(err));
	/* untrusted comment: at the cap and one past it */
	c = repeat('u', MINISIGN_MAX_COMMENT);
	text = sig_make(k, bundle, sizeof(bundle), true, c, "t");
	CHECK(parse(text, &sig) == 0);
	free(text);
	free(c);
	c = repeat('u', MINISIGN_MAX_COMMENT + 1);
	text = sig_make(k, bundle, sizeof(bundle), true, c, "t");
	CHECK(parse(text, &sig) == RW_ETOOBIG);
	free(text);
	free(c);
	/* trusted comment: at the cap (and it verifies), one past it */
	c = repeat('t', MINISIGN_MAX_TRUSTED_COMMENT);
	text = sig_make(k, bundle, sizeof(bundle), true, "u", c);
	CHECK(parse(text, &sig) == 0);
	CHECK(sig.trusted_comment_len == MINISIGN_MAX_TRUSTED_COMMENT);
	CHECK(minisign_verify_buf(&sig, &key, bundle, sizeof(bundle), err, sizeof(err)) == 0);
	free(text);
	free(c);
	c = repeat('t', MINISIGN_MAX_TRUSTED_COMMENT + 1);
	text = sig_make(k, bundle, sizeof(bundle), true, "u", c);
	CHECK(parse(text, &sig) == RW_ETOOBIG);
	free(text);
	free(c);
	/* the file: at the cap (blank tail) is parsed, one past it is refused unread */
	text = sig_make(k, bundle, sizeof(bundle), true, "u", "t");
	size_t n = strlen(text);
	char *big = malloc(MINISIGN_MAX_SIG_FILE + 1);
	memcpy(big, text, n);
	memset(big + n, '\n', MINISIGN_MAX_SIG_FILE + 1 - n);
	CHECK(minisign_sig_parse((uint8_t *)big, MINISIGN_MAX_SIG_FILE, &sig, err, sizeof(err)) == 0);
	CHECK(minisign_sig_parse((uint8_t *)big, MINISIGN_MAX_SIG_FILE + 1, &sig, err,
				 sizeof(err)) == RW_ETOOBIG);
	free(big);
	free(text);
	/* legacy: a file past the in-memory cap is refused before any read */
	text = sig_make(k, bundle, sizeof(bundle), false, "u", "t");
	parse(text, &sig);
	CHECK(minisign_verify_buf(&sig, &key, NULL, (size_t)MINISIGN_MAX_LEGACY_BYTES + 1, err,
				  sizeof(err)) == RW_ETOOBIG);
	free(text);
	/* a key file past its cap */
	c = repeat(' ', MINISIGN_MAX_KEY_FILE + 1);
	CHECK(minisign_pubkey_parse(c, strlen(c), &key, err, sizeof(err)) == RW_ETOOBIG);
	free(c);
}

static void test_hostile_sigs(const struct keypair *k)
{
	struct minisign_sig sig;
	char err[MINISIGN_ERR_LEN];
	char *good = sig_make(k, bundle, sizeof(bundle), true, "u", "t"), *bad;
	const char *lines[4];
	char copy[1024];

	CHECK(parse(good, &sig) == 0);
	snprintf(copy, sizeof(copy), "%s", good);
	lines[0] = strtok(copy, "\n");
	for (int i = 1; i < 4; i++)
		lines[i] = strtok(NULL, "\n");

	static const struct { int line; const char *text; } cases[] = {
		{ 0, "untrusted comment:no space" },
		{ 0, "trusted comment: swapped" },
		{ 0, "" },
		{ 1, "not base64 at all!" },
		{ 1, "RWQ=" },                                  /* far too short */
		{ 2, "untrusted comment: t" },
		{ 2, "Trusted comment: t" },
		{ 3, "AAAA" },
		{ 3, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = with_line(good, cases[i].line, cases[i].text);
		CHECK(parse(bad, &sig) == RW_EINVAL);
		free(bad);
	}

	/* base64 one byte short and one byte long of the 74-byte signature field */
	uint8_t raw[75];
	char b64[120];
	size_t got;
	sodium_base642bin(raw, sizeof(raw), lines[1], strlen(lines[1]), NULL, &got, NULL,
			  sodium_base64_VARIANT_ORIGINAL);
	CHECK(got == 74);
	for (size_t len = 73; len <= 75; len += 2) {
		sodium_bin2base64(b64, sizeof(b64), raw, len, sodium_base64_VARIANT_ORIGINAL);
		bad = with_line(good, 1, b64);
		CHECK(parse(bad, &sig) == RW_EINVAL);
		free(bad);
	}
	/* an unknown algorithm */
	raw[1] = 'x';
	sodium_bin2base64(b64, sizeof(b64), raw, 74, sodium_base64_VARIANT_ORIGINAL);
	bad = with_line(good, 1, b64);
	CHECK(parse(bad, &sig) == RW_EINVAL);
	free(bad);
	/* base64 without its padding, and with spaces: minisign writes neither */
	snprintf(b64, sizeof(b64), "%.*s", (int)strlen(lines[1]) - 1, lines[1]);
	bad = with_line(good, 1, b64);
	CHECK(parse(bad, &sig) == RW_EINVAL);
	free(bad);
	snprintf(b64, sizeof(b64), " %s", lines[1]);
	bad = with_line(good, 1, b64);
	CHECK(parse(bad, &sig) == RW_EINVAL);
	free(bad);

	/* missing lines, text after the signature, a NUL byte */
	for (int keep = 0; keep < 4; keep++) {
		char part[1024] = "";
		for (int i = 0; i < keep; i++) {
			strcat(part, lines[i]);
			strcat(part, "\n");
		}
		CHECK(parse(part, &sig) == RW_EINVAL);
	}
	if (asprintf(&bad, "%sextra\n", good) > 0) {
		CHECK(parse(bad, &sig) == RW_EINVAL);
		free(bad);
	}
	bad = strdup(good);
	bad[25] = '\0';
	CHECK(minisign_sig_parse((uint8_t *)bad, strlen(good), &sig, err, sizeof(err)) == RW_EINVAL);
	free(bad);
	CHECK(minisign_sig_parse((const uint8_t *)"", 0, &sig, err, sizeof(err)) == RW_EINVAL);
	free(good);
}

static void test_pubkeys(const struct keypair *k)
{
	struct minisign_pubkey key;
	char err[MINISIGN_ERR_LEN], text[512], path[] = "/tmp/test_minisign_pub.XXXXXX";
	uint8_t raw[42];
	char b64[80];
	size_t got;
	int fd;

	snprintf(text, sizeof(text), "untrusted comment: minisign public key X\n%s\n", k->pub_b64);
	CHECK(minisign_pubkey_parse(text, strlen(text), &key, err, sizeof(err)) == 0);
	CHECK(!memcmp(key.pk, k->pk, 32));
	snprintf(text, sizeof(text), "  %s  \n\n", k->pub_b64);
	CHECK(minisign_pubkey_parse(text, strlen(text), &key, err, sizeof(err)) == 0);
	/* round trip to the "RW..." line */
	minisign_pubkey_base64(&key, b64);
	CHECK(!strcmp(b64, k->pub_b64));
	/* two keys, a comment after the key, junk, an empty text */
	snprintf(text, sizeof(text), "%s\n%s\n", k->pub_b64, k->pub_b64);
	CHECK(minisign_pubkey_parse(text, strlen(text), &key, err, sizeof(err)) == RW_EINVAL);
	snprintf(text, sizeof(text), "%s\nuntrusted comment: late\n", k->pub_b64);
	CHECK(minisign_pubkey_parse(text, strlen(text), &key, err, sizeof(err)) == RW_EINVAL);
	CHECK(minisign_pubkey_parse("RWQ", 3, &key, err, sizeof(err)) == RW_EINVAL);
	CHECK(minisign_pubkey_parse("", 0, &key, err, sizeof(err)) == RW_EINVAL);
	CHECK(minisign_pubkey_parse("untrusted comment: x\n", 21, &key, err, sizeof(err)) ==
	      RW_EINVAL);
	/* a key of another algorithm, and one byte short */
	sodium_base642bin(raw, sizeof(raw), k->pub_b64, strlen(k->pub_b64), NULL, &got, NULL,
			  sodium_base64_VARIANT_ORIGINAL);
	raw[1] = 'D';
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	CHECK(minisign_pubkey_parse(b64, strlen(b64), &key, err, sizeof(err)) == RW_EINVAL);
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw) - 1, sodium_base64_VARIANT_ORIGINAL);
	CHECK(minisign_pubkey_parse(b64, strlen(b64), &key, err, sizeof(err)) == RW_EINVAL);
	/* load: a string, a key file, neither */
	CHECK(minisign_pubkey_load(k->pub_b64, &key, err, sizeof(err)) == 0);
	fd = mkstemp(path);
	snprintf(text, sizeof(text), "untrusted comment: minisign public key X\n%s\n", k->pub_b64);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	memset(&key, 0, sizeof(key));
	CHECK(minisign_pubkey_load(path, &key, err, sizeof(err)) == 0);
	CHECK(!memcmp(key.pk, k->pk, 32));
	unlink(path);
	CHECK(minisign_pubkey_load(path, &key, err, sizeof(err)) == RW_EINVAL);
	/* the key id as minisign prints it: little-endian */
	uint8_t id[8] = { 0xbd, 0x2b, 0x83, 0xfe, 0x36, 0xd9, 0xdb, 0xe5 };
	char hex[MINISIGN_KEY_ID_HEX + 1];
	minisign_key_id_hex(id, hex);
	CHECK(!strcmp(hex, "E5DBD936FE832BBD"));
	/* minisign prints it with PRIX64: no leading zeros (its pub file says "F2D0...", not "0F2D...") */
	uint8_t small[8] = { 0x6a, 0x79, 0x49, 0x41, 0xb2, 0x09, 0x2d, 0x0f };
	minisign_key_id_hex(small, hex);
	CHECK(!strcmp(hex, "F2D09B24149796A"));
	uint8_t zero[8] = { 0 };
	minisign_key_id_hex(zero, hex);
	CHECK(!strcmp(hex, "0"));
}

int main(void)
{
	struct keypair k, other;

	if (sodium_init() < 0)
		return 1;
	keypair_make(&k);
	keypair_make(&other);
	test_good(&k, &other);
	test_caps(&k);
	test_hostile_sigs(&k);
	test_pubkeys(&k);
	return check_done("minisign");
}
