/* sha256.c: streaming SHA-256 on OpenSSL (see sha256.h for why not libsodium). */
/* SHA256_CTX is a plain struct where EVP's context is opaque and allocated: keeping the state
 * a value means nothing to free on any path and a copy to peek at a running digest. These
 * calls are deprecated in OpenSSL 3 in favour of EVP, not removed; Debian builds them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/sha256.h"

#include <openssl/sha.h>

_Static_assert(sizeof(SHA256_CTX) <= RW_SHA256_STATE_MAX, "RW_SHA256_STATE_MAX too small");
_Static_assert(SHA256_DIGEST_LENGTH == RW_SHA256_LEN, "SHA-256 digest length");

void rw_sha256_init(struct rw_sha256 *h)
{
	SHA256_Init((SHA256_CTX *)h->state);
}

void rw_sha256_update(struct rw_sha256 *h, const void *data, size_t len)
{
	SHA256_Update((SHA256_CTX *)h->state, data, len);
}

void rw_sha256_final(struct rw_sha256 *h, uint8_t out[RW_SHA256_LEN])
{
	SHA256_Final(out, (SHA256_CTX *)h->state);
}
