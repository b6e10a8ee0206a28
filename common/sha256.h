/* sha256.h: streaming SHA-256 of a session's output, the proof of completeness that EXIT
 * carries (docs/protocol.md): the agent hashes what it reads from the pty, control what it
 * receives, runwire what it writes.
 *
 * OpenSSL's SHA-256, not libsodium's (CONVENTIONS.md's default): every output byte is hashed
 * on each of those three hops, and libsodium's portable code runs at about 200 MB/s, a third
 * of the agent's and of control's CPU at full stream speed, where OpenSSL uses the CPU's SHA
 * extensions (about 1.5 GB/s here; docs/benchmarks.md). The state is a plain value, so a
 * copy can be finished to read the digest so far.
 */
#ifndef RW_SHA256_H
#define RW_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RW_SHA256_LEN 32
#define RW_SHA256_STATE_MAX 128   /* OpenSSL's SHA256_CTX fits (checked in sha256.c) */

struct rw_sha256 {
	_Alignas(16) unsigned char state[RW_SHA256_STATE_MAX];
};

void rw_sha256_init(struct rw_sha256 *h);
void rw_sha256_update(struct rw_sha256 *h, const void *data, size_t len);
/* Writes the digest of everything given to update; `h` must be initialised again to reuse. */
void rw_sha256_final(struct rw_sha256 *h, uint8_t out[RW_SHA256_LEN]);

#endif
