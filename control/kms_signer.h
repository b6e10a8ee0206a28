/* kms_signer.h: signs SHA-256 digests with a Cloud KMS asymmetric key version
 * (RSA_SIGN_PKCS1_*_SHA256, i.e. RS256) and publishes its public key.
 *
 * REST calls (docs/security.md, "Session tokens signed by Cloud KMS"):
 *   - an access token from the metadata server (Workload Identity on GKE):
 *     GET http://HOST/computeMetadata/v1/instance/service-accounts/default/token with
 *     "Metadata-Flavor: Google"; HOST is $GCE_METADATA_HOST or metadata.google.internal.
 *     It is kept until KMS_TOKEN_LEAD_S (at most half its life) before it expires, and
 *     dropped when KMS answers 401. It is never logged and is wiped when dropped.
 *   - POST ENDPOINT/v1/{keyVersion}:asymmetricSign {"digest":{"sha256":B64},"digestCrc32c":N}
 *     -> {"signature":B64,"signatureCrc32c":N,"verifiedDigestCrc32c":true,"name":keyVersion}.
 *     The CRC32C checks Google documents are all made, and the signature is also verified
 *     with the public key before it is handed out.
 *   - GET ENDPOINT/v1/{keyVersion}/publicKey -> {"pem","algorithm","pemCrc32c","name"}.
 *
 * Threading. control's event loop must not wait on the network, so the calls run on a worker
 * thread this module owns (the same pattern as google_certs.c). The loop submits a digest with
 * an opaque `arg`; the worker signs it, puts the finished job on a done list and calls the
 * wake function (control: lws_cancel_service), and the loop takes the done list. Jobs are
 * handled one at a time over one kept-alive connection; when a call fails, every job queued
 * behind it fails with the same message at once rather than waiting out its own timeout.
 * All functions except kms_signer_free may be called from any thread.
 */
#ifndef RW_KMS_SIGNER_H
#define RW_KMS_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#define KMS_DEFAULT_ENDPOINT "https://cloudkms.googleapis.com"
#define KMS_DEFAULT_METADATA_HOST "metadata.google.internal"
#define KMS_MAX_KEY_NAME 400          /* bytes of a key version's resource name */
#define KMS_MAX_RESPONSE (64 * 1024)  /* bytes of one response body */
#define KMS_MAX_ACCESS_TOKEN 4096     /* bytes of an access token */
#define KMS_MAX_SIG 512               /* bytes of a signature (RSA 4096) */
#define KMS_MAX_QUEUE 256             /* digests waiting to be signed; more are refused */
#define KMS_CONNECT_TIMEOUT_S 2
#define KMS_REQUEST_TIMEOUT_S 5       /* a whole call; a sign waits for at most three */
#define KMS_TOKEN_LEAD_S 60           /* refresh the access token this long before expiry */
#define KMS_PUBKEY_RETRY_S 5          /* a missing public key is fetched at most this often */
#define KMS_ERR_MAX 256

struct kms_signer;

struct kms_signer_opts {
	const char *key_version;     /* projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V */
	const char *endpoint;        /* NULL: KMS_DEFAULT_ENDPOINT (https, or http to loopback) */
	const char *metadata_host;   /* NULL: $GCE_METADATA_HOST, else KMS_DEFAULT_METADATA_HOST */
	void (*wake)(void *arg);     /* called on the worker when a job is done */
	void *wake_arg;
};

/* A digest to sign. The module owns it from kms_signer_submit() until kms_signer_take_done()
 * hands it back; the caller then frees it with free(). */
struct kms_job {
	struct kms_job *next;
	uint8_t digest[32];
	void *arg;                   /* the caller's */
	int status;                  /* RW_OK, or RW_E... with `err` */
	uint8_t sig[KMS_MAX_SIG];
	size_t sig_len;
	char err[KMS_ERR_MAX];
};

/* CRC32C (Castagnoli), as KMS computes its integrity fields. */
uint32_t kms_crc32c(const void *data, size_t len);

/* 0 when `name` is a key version's resource name (the five collections, ids of
 * [A-Za-z0-9_-]); RW_EINVAL with a message otherwise. */
int kms_key_version_ok(const char *name, char *err, size_t errlen);

/* Starts the worker. NULL with a message on a bad option or out of memory. */
struct kms_signer *kms_signer_new(const struct kms_signer_opts *o, char *err, size_t errlen);

/* Stops the worker (a call in flight is aborted) and frees everything; jobs not taken yet are
 * returned through `left` (their status RW_ESTATE) so the caller can release their args. */
void kms_signer_free(struct kms_signer *ks, struct kms_job **left);

/* Queues a digest. RW_OK (the job comes back through kms_signer_take_done), RW_ELIMIT when
 * KMS_MAX_QUEUE are waiting, RW_ENOMEM. */
int kms_signer_submit(struct kms_signer *ks, const uint8_t digest[32], void *arg);

/* Takes the list of finished jobs (oldest first), or NULL. */
struct kms_job *kms_signer_take_done(struct kms_signer *ks);

/* Fetches the public key on the calling thread (blocking, start-up). RW_OK or an error with
 * the message in `err`. */
int kms_signer_fetch_public_key(struct kms_signer *ks, char *err, size_t errlen);

/* A copy of the public key PEM (caller frees) and RW_OK, or RW_EAGAIN when it is not known yet
 * (the worker is asked to fetch it, at most every KMS_PUBKEY_RETRY_S) with the last error. */
int kms_signer_public_pem(struct kms_signer *ks, char **pem, size_t *len, char *err, size_t errlen);

/* Counters for tests and metrics: access tokens fetched, sign calls made. */
void kms_signer_counts(struct kms_signer *ks, uint64_t *tokens, uint64_t *signs);

#endif
