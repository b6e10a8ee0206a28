/* test_kms_signer.c: control/kms_signer.c without a network: CRC32C against the published
 * check value, key version names (one past the length cap), the queue cap (KMS_MAX_QUEUE
 * waiting, the next refused) while the worker is stuck on a server that never answers, and
 * stopping hands every job back. The REST calls themselves: tests/e2e/kms_signer.sh. */
#include "control/kms_signer.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KV "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"

/* A loopback port whose connections the kernel accepts into the backlog and nobody answers. */
static int silent_server(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

int main(void)
{
	char err[256], name[KMS_MAX_KEY_NAME + 2], host[64];
	uint8_t digest[32] = { 1 };
	struct kms_signer *ks;
	struct kms_job *left = NULL;
	int port = 0, fd, i, accepted = 0, refused = 0;
	size_t n = 0;

	CHECK(kms_crc32c("123456789", 9) == 0xe3069283u);
	CHECK(kms_crc32c("", 0) == 0);

	CHECK(kms_key_version_ok(KV, err, sizeof(err)) == RW_OK);
	CHECK(kms_key_version_ok("projects/p/locations/l/keyRings/r/cryptoKeys/k", err, sizeof(err)) == RW_EINVAL);
	CHECK(kms_key_version_ok(KV "/extra", err, sizeof(err)) == RW_EINVAL);
	CHECK(kms_key_version_ok("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1?x", err, sizeof(err)) == RW_EINVAL);
	CHECK(kms_key_version_ok("projects//locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", err, sizeof(err)) == RW_EINVAL);
	/* the cap: exactly KMS_MAX_KEY_NAME is fine, one more is not */
	snprintf(name, sizeof(name), "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/");
	while (strlen(name) < KMS_MAX_KEY_NAME)
		strcat(name, "1");
	CHECK(kms_key_version_ok(name, err, sizeof(err)) == RW_OK);
	strcat(name, "1");
	CHECK(kms_key_version_ok(name, err, sizeof(err)) == RW_EINVAL);

	struct kms_signer_opts bad = { .key_version = KV, .endpoint = "http://kms.example.com" };
	CHECK(kms_signer_new(&bad, err, sizeof(err)) == NULL && strstr(err, "loopback"));
	struct kms_signer_opts badhost = { .key_version = KV, .metadata_host = "h/x?y" };
	CHECK(kms_signer_new(&badhost, err, sizeof(err)) == NULL && strstr(err, "GCE_METADATA_HOST"));

	fd = silent_server(&port);
	CHECK(fd >= 0);
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	struct kms_signer_opts o = { .key_version = KV, .endpoint = "http://127.0.0.1:9",
				     .metadata_host = host };
	ks = kms_signer_new(&o, err, sizeof(err));
	CHECK(ks != NULL);
	if (!ks)
		return check_done("test_kms_signer");
	/* the first job is taken by the worker, which then waits on the silent server */
	CHECK(kms_signer_submit(ks, digest, NULL) == RW_OK);
	nanosleep(&(struct timespec){ 0, 300 * 1000 * 1000 }, NULL);
	for (i = 0; i < KMS_MAX_QUEUE + 1; i++) {
		int r = kms_signer_submit(ks, digest, NULL);
		accepted += r == RW_OK;
		refused += r == RW_ELIMIT;
	}
	CHECK(accepted == KMS_MAX_QUEUE);
	CHECK(refused == 1);
	CHECK(kms_signer_take_done(ks) == NULL);   /* nothing finished: the call is still waiting */
	{
		char *pem = NULL;
		size_t len;
		CHECK(kms_signer_public_pem(ks, &pem, &len, err, sizeof(err)) == RW_EAGAIN && !pem);
	}
	kms_signer_free(ks, &left);                /* aborts the stuck call at once */
	for (struct kms_job *j = left, *next; j; j = next) {
		next = j->next;
		n++;
		CHECK(j->status != RW_OK);
		free(j);
	}
	CHECK(n == KMS_MAX_QUEUE + 1);
	close(fd);
	return check_done("test_kms_signer");
}
