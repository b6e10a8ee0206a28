/* test_sha256.c: the output digest (common/sha256.c) against known vectors, and fed in
 * awkward pieces it gives the one-shot digest; a copied state finishes to the digest so far. */
#include "common/sha256.h"
#include "tests/unit/check.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void digest(const void *p, size_t n, uint8_t out[RW_SHA256_LEN])
{
	struct rw_sha256 h;

	rw_sha256_init(&h);
	rw_sha256_update(&h, p, n);
	rw_sha256_final(&h, out);
}

int main(void)
{
	static const uint8_t abc[RW_SHA256_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
		0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
		0xf2, 0x00, 0x15, 0xad };
	static const uint8_t empty[RW_SHA256_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
		0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
		0x78, 0x52, 0xb8, 0x55 };
	size_t len = 3u << 20, off = 0;
	uint8_t *data = malloc(len), got[RW_SHA256_LEN], want[RW_SHA256_LEN];
	struct rw_sha256 h, copy;
	uint32_t x = 7;
	int peeked = 0;

	CHECK(sodium_init() >= 0 && data);
	digest("abc", 3, got);
	CHECK(!memcmp(got, abc, sizeof(abc)));
	digest("", 0, got);
	CHECK(!memcmp(got, empty, sizeof(empty)));

	/* 3 MiB in pieces of 0..70000 bytes equals libsodium's one-shot digest */
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (uint8_t)(x >> 16);
	}
	crypto_hash_sha256(want, data, len);
	rw_sha256_init(&h);
	while (off < len) {
		size_t piece;
		x = x * 1103515245u + 12345u;
		piece = (x >> 8) % 70000;
		if (piece > len - off)
			piece = len - off;
		rw_sha256_update(&h, data + off, piece);
		off += piece;
		if (!peeked && off >= len / 2) {
			/* a copy finishes to the digest so far and leaves the original running */
			copy = h;
			rw_sha256_final(&copy, got);
			crypto_hash_sha256(want, data, off);
			CHECK(!memcmp(got, want, sizeof(got)));
			crypto_hash_sha256(want, data, len);
			peeked = 1;
		}
	}
	CHECK(peeked);
	rw_sha256_final(&h, got);
	CHECK(!memcmp(got, want, sizeof(got)));
	free(data);
	return check_done("test_sha256");
}
