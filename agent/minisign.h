/* minisign.h: minisign public keys and signatures, verified with libsodium.
 *
 * Part of the verify stage of the agent's bundle pipeline (DESIGN.md: "only the bytes that were
 * promised run"): a template may name the keys that must have signed its bundle; the agent
 * fetches "<bundle URL>.minisig" and checks it here before the SHA-256. The formats are those
 * of the `minisign` tool (https://jedisct1.github.io/minisign/), so authors sign with it:
 *
 *   public key:   "untrusted comment: ..." line (optional here), then base64 of
 *                 "Ed" | key id (8 bytes) | Ed25519 public key (32 bytes)
 *   signature:    "untrusted comment: ..."
 *                 base64 of "ED" (prehashed) or "Ed" (legacy) | key id (8) | signature (64)
 *                 "trusted comment: ..."
 *                 base64 of the global signature (64): Ed25519 over signature | trusted comment
 *
 * "ED" signs BLAKE2b-512 of the file (computed here while streaming it), "Ed" the file itself
 * (held in memory through mmap, so it is capped). Parsing does no I/O; every field has a cap.
 */
#ifndef RW_MINISIGN_H
#define RW_MINISIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MINISIGN_KEY_ID_BYTES 8
#define MINISIGN_KEY_ID_HEX 16                  /* as minisign prints it, without the NUL */
#define MINISIGN_MAX_SIG_FILE (16u << 10)       /* bytes of a .minisig file */
#define MINISIGN_MAX_KEY_FILE 4096              /* bytes of a public key file */
#define MINISIGN_MAX_COMMENT 1024               /* bytes of the untrusted comment (minisign's
						 * COMMENTMAXBYTES) */
#define MINISIGN_MAX_TRUSTED_COMMENT 8192       /* bytes of the trusted comment (minisign's
						 * TRUSTEDCOMMENTMAXBYTES) */
#define MINISIGN_MAX_LEGACY_BYTES (256ULL << 20) /* a legacy ("Ed") signature verifies the file
						  * in one piece: files past this are refused */
#define MINISIGN_READ_CHUNK (256u << 10)        /* bytes per read while hashing a file */
#define MINISIGN_ERR_LEN 256                    /* a good size for `err` */

struct minisign_pubkey {
	uint8_t key_id[MINISIGN_KEY_ID_BYTES];
	uint8_t pk[32];
};

struct minisign_sig {
	bool prehashed;                          /* "ED"; false for legacy "Ed" */
	uint8_t key_id[MINISIGN_KEY_ID_BYTES];
	uint8_t sig[64];                         /* over BLAKE2b-512(file), or the file */
	uint8_t global_sig[64];                  /* over sig | trusted_comment */
	char trusted_comment[MINISIGN_MAX_TRUSTED_COMMENT + 1];   /* NUL-terminated */
	size_t trusted_comment_len;
};

/* Parses a public key: the base64 line alone ("RW...") or a key file's text (an untrusted
 * comment line, then the base64 line; surrounding blank space ignored). 0, or RW_EINVAL /
 * RW_ETOOBIG with a reason in `err`. */
int minisign_pubkey_parse(const char *text, size_t len, struct minisign_pubkey *out, char *err,
			  size_t errlen);

/* Reads a public key given as a base64 string or, when that does not parse, as the path of a
 * key file (at most MINISIGN_MAX_KEY_FILE bytes). 0 or an RW_E code with `err` set. */
int minisign_pubkey_load(const char *arg, struct minisign_pubkey *out, char *err, size_t errlen);

/* Parses the text of a .minisig file (`len` bytes, not NUL-terminated). Strict: four lines in
 * order, each within its cap, base64 of exactly the right length, a known algorithm; a final
 * newline is optional, '\r' before it tolerated, nothing may follow. 0, or RW_EINVAL /
 * RW_ETOOBIG with a reason. */
int minisign_sig_parse(const uint8_t *text, size_t len, struct minisign_sig *out, char *err,
		       size_t errlen);

#define MINISIGN_PUBKEY_B64_LEN 56               /* "RW..." without the NUL */

/* Writes the key's base64 line ("RW...", as in minisign.pub) into `out` (57 bytes). */
void minisign_pubkey_base64(const struct minisign_pubkey *key, char *out);

/* Writes the key id as minisign prints it (up to 16 uppercase hex digits, no leading zeros)
 * into `out` (17 bytes). */
void minisign_key_id_hex(const uint8_t id[MINISIGN_KEY_ID_BYTES], char *out);

/* The key among `keys` (n of them) whose id the signature names, or NULL. */
const struct minisign_pubkey *minisign_find_key(const struct minisign_sig *sig,
						const struct minisign_pubkey *keys, size_t n);

/* Checks the global signature (the trusted comment's) with `key`. 0 or RW_EDIGEST. Cheap: the
 * agent calls it before downloading the bundle. */
int minisign_verify_comment(const struct minisign_sig *sig, const struct minisign_pubkey *key,
			    char *err, size_t errlen);

/* Verifies the file signature over `len` bytes at `data` with `key` (whose id must match),
 * then the global signature. 0, or RW_EDIGEST / RW_EUNSAFE (key id differs) / RW_ETOOBIG. */
int minisign_verify_buf(const struct minisign_sig *sig, const struct minisign_pubkey *key,
			const uint8_t *data, size_t len, char *err, size_t errlen);

/* The same over the whole content of `fd` (read from offset 0 with pread; the offset of the fd
 * is left alone): streaming BLAKE2b-512 for "ED", mmap for "Ed". Also RW_EIO. */
int minisign_verify_fd(const struct minisign_sig *sig, const struct minisign_pubkey *key, int fd,
		       char *err, size_t errlen);

#endif
