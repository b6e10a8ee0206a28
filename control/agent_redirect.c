/* agent_redirect.c: which replica an idle external agent should move to (agent_redirect.h).
 * Policy only: agent_link.c sends the redirect; fleet.c publishes and reads the figures. */
#include "control/agent_redirect.h"
#include "control/control.h"
#include "control/fleet.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

/* Redirects sent lately, a ring: they are not in the target's figures yet. */
static struct {
	char replica[2 * FLEET_REPLICA_ID_BYTES + 1 + 48];
	int64_t at_ms;
} recent[AGENT_REDIRECT_RECENT];
static size_t next_recent;
static int64_t refused_logged_ms;

int agent_redirect_check_url(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	int ok;

	if (!url || !*url || strlen(url) > AGENT_REDIRECT_MAX_URL)
		return RW_EINVAL;
	u = curl_url();
	if (!u)
		return RW_EINVAL;
	/* ws and wss are not schemes every libcurl build knows: parse them as any scheme */
	ok = !curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) &&
	     !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	     !curl_url_get(u, CURLUPART_HOST, &host, 0) && *host &&
	     (!strcmp(scheme, "ws") || !strcmp(scheme, "wss")) &&
	     curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
	     curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_NO_PASSWORD;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return ok ? RW_OK : RW_EINVAL;
}

static size_t sent_lately(const char *replica, int64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < AGENT_REDIRECT_RECENT; i++)
		n += recent[i].at_ms && now - recent[i].at_ms < AGENT_REDIRECT_HOLD_MS &&
		     !strcmp(recent[i].replica, replica);
	return n;
}

static json_int_t figure(json_t *j, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(j, key));

	return v > 0 ? v : 0;
}

const char *agent_redirect_pick(struct control *ctl)
{
	const char *mine = ctl->cfg.advertise_url, *id, *best_url = NULL, *best_id = NULL;
	json_int_t best = 0;
	int64_t now = rw_now_ms();
	json_t *others, *fig;

	if (!mine || !ctl->store || !store_is_shared(ctl->store) || session_count_waiting(ctl))
		return NULL;
	others = fleet_other_figures();
	json_object_foreach(others, id, fig) {
		const char *url = json_string_value(json_object_get(fig, "agentUrl"));
		json_int_t lack;

		if (!url || !strcmp(url, mine) || strlen(id) >= sizeof(recent[0].replica))
			continue;
		lack = figure(fig, "waiting") - figure(fig, "idleAgents") -
		       (json_int_t)sent_lately(id, now);
		if (lack <= best)
			continue;
		if (agent_redirect_check_url(url)) {
			/* the store is shared with every replica, and anyone who can write to it:
			 * a URL that is not ws[s] is never handed to an agent (said once a while) */
			if (now - refused_logged_ms > 10000 && (refused_logged_ms = now))
				log_warn("redirect_url_refused", "{s:s, s:s}", "replica", id, "reason",
				 "advertised URL is not ws:// or wss://");
			continue;
		}
		best = lack;
		best_url = url;
		best_id = id;
	}
	if (best_url) {
		snprintf(recent[next_recent].replica, sizeof(recent[0].replica), "%s", best_id);
		recent[next_recent].at_ms = now;
		next_recent = (next_recent + 1) % AGENT_REDIRECT_RECENT;
	}
	return best_url;
}
