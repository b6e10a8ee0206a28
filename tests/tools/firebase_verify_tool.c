/* firebase_verify_tool.c: runs one Firebase ID token, read from stdin, through
 * firebase_auth_verify(), for the end-to-end tests (tests/e2e-firebase) and for checking a
 * token by hand.
 *
 *   firebase_verify_tool --project ID [--emulator] [--certs-url URL] [--ca-file PEM]
 *
 * Prints "uid=<uid>" (and "email=<email>" when there is one) and exits 0 when the token is
 * accepted; prints "refused: <reason>" and exits 1 when it is not; exits 2 on a usage or
 * set-up error. Outside emulator mode it fetches the certificates once before verifying.
 */
#include "control/firebase_auth.h"
#include "common/log.h"
#include "common/rw.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: firebase_verify_tool --project ID [--emulator] [--certs-url URL]"
			" [--ca-file PEM] < token\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "project", required_argument, NULL, 'p' },
		{ "emulator", no_argument, NULL, 'e' },
		{ "certs-url", required_argument, NULL, 'u' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct firebase_auth_opts o = { .no_refresher = 1 };
	struct firebase_auth *fa;
	struct firebase_user user;
	/* One byte more than the cap, so that an oversized token reaches the verifier whole
	 * enough to be refused by it. */
	static char token[FIREBASE_MAX_TOKEN + 2];
	char err[256], reason[256];
	size_t len;
	int opt, rc;

	log_init("firebase_verify_tool", LOG_LVL_WARN);
	while ((opt = getopt_long(argc, argv, "p:eu:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': o.project_id = optarg; break;
		case 'e': o.emulator = 1; break;
		case 'u': o.certs_url = optarg; break;
		case 'c': o.ca_file = optarg; break;
		default: usage(); return opt == 'h' ? 0 : 2;
		}
	}
	if (!o.project_id || optind != argc) {
		usage();
		return 2;
	}

	len = fread(token, 1, sizeof(token) - 1, stdin);
	token[len] = '\0';
	while (len && (token[len - 1] == '\n' || token[len - 1] == '\r' || token[len - 1] == ' '))
		token[--len] = '\0';

	fa = firebase_auth_new(&o, err, sizeof(err));
	if (!fa) {
		fprintf(stderr, "firebase_verify_tool: %s\n", err);
		return 2;
	}
	if (!o.emulator && firebase_auth_refresh_now(fa)) {
		firebase_auth_last_error(fa, err, sizeof(err));
		fprintf(stderr, "firebase_verify_tool: certificates not fetched: %s\n", err);
	}
	rc = firebase_auth_verify(fa, token, &user, reason, sizeof(reason));
	if (rc == RW_OK) {
		printf("uid=%s\n", user.uid);
		if (user.email[0])
			printf("email=%s\n", user.email);
	} else {
		printf("refused: %s\n", reason);
	}
	firebase_auth_free(fa);
	return rc == RW_OK ? 0 : 1;
}
