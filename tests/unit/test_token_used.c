/* test_token_used.c: the one-time token ids control remembers (control/session_token.c) are
 * capped: built with TOKEN_MAX_USED 64, the 65th unexpired id is refused (RW_ELIMIT, not
 * accepted and not forgotten), an id is never accepted twice, and expired ids make room. */
#include "control/control.h"
#include "common/rw.h"
#include "tests/unit/check.h"

#include <string.h>

int main(void)
{
	struct control_config cfg;
	struct token_keys *k;
	char err[256], jti[32];
	int64_t later = rw_now_ms() / 1000 + 600, past = rw_now_ms() / 1000 - 1;
	int i;

	memset(&cfg, 0, sizeof(cfg));
	k = token_keys_new(&cfg, err, sizeof(err));   /* a generated secret */
	CHECK(k != NULL);
	if (!k)
		return check_done("test_token_used");
	for (i = 0; i < TOKEN_MAX_USED; i++) {
		snprintf(jti, sizeof(jti), "id-%d", i);
		CHECK(token_consume(k, jti, later) == RW_OK);
	}
	CHECK(token_consume(k, "id-0", later) == RW_EAUTH);            /* used stays used */
	CHECK(token_consume(k, "one-past", later) == RW_ELIMIT);        /* one past the cap */
	CHECK(token_consume(k, "one-past", later) == RW_ELIMIT);
	token_keys_free(k);

	k = token_keys_new(&cfg, err, sizeof(err));
	for (i = 0; i < TOKEN_MAX_USED; i++) {
		snprintf(jti, sizeof(jti), "old-%d", i);
		token_consume(k, jti, past);                             /* expire at once */
	}
	CHECK(token_consume(k, "fresh", later) == RW_OK);              /* expired ids made room */
	token_keys_free(k);
	return check_done("test_token_used");
}
