/* scrape.c: what a scaler and a scraper read: /api/queue's figures (KEDA's metrics-api
 * trigger), the Prometheus text of /metrics, and the bearer token of the internal listener
 * that serves them (--internal-listen, docs/operations.md "Runners at scale"). http_api.c
 * routes the requests; this module owns what they answer and the token's hash in ctl.
 */
#include "control/control.h"
#include "control/fleet.h"
#include "common/log.h"
#include "common/rw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

json_t *scrape_queue(struct control *ctl)
{
	struct fleet_figures ff;
	size_t waiting, idle;

	/* the fleet's figures with a shared store: KEDA sees one truth from any replica */
	fleet_figures(ctl, &ff);
	waiting = ff.waiting;
	idle = ff.idle_agents;
	/* the local dispatcher keeps --local-runners warm itself: that is its warm target */
	size_t warm = (size_t)(ctl->cfg.external ? ctl->cfg.warm_target : ctl->cfg.local_runners);
	size_t demand = waiting + warm > idle ? waiting + warm - idle : 0;

	/* "idleAgents" is the name the page and older scrapers read */
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "waiting", (json_int_t)waiting, "idle_agents",
			 (json_int_t)idle, "warm_target", (json_int_t)warm, "demand",
			 (json_int_t)demand, "idleAgents", (json_int_t)idle);
}

int scrape_token_load(struct control *ctl)
{
	size_t len = 0;
	char *tok;

	if (!ctl->cfg.internal_token_file) {
		log_warn("internal_listener_open", "{s:s, s:s}", "host", ctl->cfg.internal_host,
			 "reason", "no --internal-token-file: loopback clients need no token");
		return RW_OK;
	}
	tok = rw_read_file(ctl->cfg.internal_token_file, CONTROL_INTERNAL_TOKEN_MAX, &len);
	if (!tok || len < CONTROL_INTERNAL_TOKEN_MIN) {
		fprintf(stderr, "runwire-control: internal token file %s: %s\n",
			ctl->cfg.internal_token_file,
			tok ? "shorter than 16 characters" :
			errno == EFBIG ? "longer than 4096 characters" : strerror(errno));
		if (tok)
			sodium_memzero(tok, len);
		free(tok);
		return RW_EINVAL;
	}
	len = strlen(tok);
	crypto_hash_sha256(ctl->internal_token_hash, (const uint8_t *)tok, len);
	ctl->have_internal_token = 1;
	sodium_memzero(tok, len);
	free(tok);
	return RW_OK;
}

/* Whether the request carries "Authorization: Bearer <the internal token>". The token is
 * compared by its SHA-256, in constant time, so neither its bytes nor its length leak
 * through timing. A loopback-only internal listener may have no token (config.c). */
int scrape_authorized(struct control *ctl, struct lws *wsi)
{
	char hdr[CONTROL_INTERNAL_TOKEN_MAX + 16];
	uint8_t h[crypto_hash_sha256_BYTES];
	int n, ok;

	if (!ctl->have_internal_token)
		return 1;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >= (int)sizeof(hdr))
		return 0;
	n = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 7 || strncasecmp(hdr, "Bearer ", 7)) {
		sodium_memzero(hdr, sizeof(hdr));
		return 0;
	}
	crypto_hash_sha256(h, (const uint8_t *)hdr + 7, (size_t)n - 7);
	ok = !sodium_memcmp(h, ctl->internal_token_hash, sizeof(h));
	sodium_memzero(hdr, sizeof(hdr));
	return ok;
}

char *scrape_metrics_text(struct control *ctl, size_t *len_out)
{
	size_t by_state[SESSION_CANCELLED + 1] = { 0 }, viewers = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (struct session *s = ctl->sessions; s; s = s->next) {
		by_state[s->state]++;
		viewers += s->n_viewers;
	}
	fprintf(f, "# HELP runwire_sessions Sessions by state.\n# TYPE runwire_sessions gauge\n");
	for (int st = 0; st <= SESSION_CANCELLED; st++)
		fprintf(f, "runwire_sessions{state=\"%s\"} %zu\n", session_state_name(st), by_state[st]);
	fprintf(f, "# HELP runwire_queue_waiting Sessions waiting for a runner.\n"
		   "# TYPE runwire_queue_waiting gauge\nrunwire_queue_waiting %zu\n",
		session_count_waiting(ctl));
	{
		json_t *q = scrape_queue(ctl);
		fprintf(f, "# HELP runwire_queue_demand Runners a scaler should start now (/api/queue).\n"
			   "# TYPE runwire_queue_demand gauge\nrunwire_queue_demand %lld\n"
			   "# HELP runwire_queue_warm_target Idle runners asked for.\n"
			   "# TYPE runwire_queue_warm_target gauge\nrunwire_queue_warm_target %lld\n",
			(long long)json_integer_value(json_object_get(q, "demand")),
			(long long)json_integer_value(json_object_get(q, "warm_target")));
		json_decref(q);
	}
	fprintf(f, "# HELP runwire_agents_connected Agents connected.\n"
		   "# TYPE runwire_agents_connected gauge\nrunwire_agents_connected %zu\n",
		agent_link_count(ctl, 0));
	fprintf(f, "# HELP runwire_agents_idle Agents connected and waiting for a session.\n"
		   "# TYPE runwire_agents_idle gauge\nrunwire_agents_idle %zu\n",
		agent_link_count(ctl, 1));
	fprintf(f, "# HELP runwire_local_agents Local agent processes alive.\n"
		   "# TYPE runwire_local_agents gauge\nrunwire_local_agents %zu\n",
		dispatcher_local_count(ctl->disp));
	fprintf(f, "# HELP runwire_viewers Viewers attached.\n"
		   "# TYPE runwire_viewers gauge\nrunwire_viewers %zu\n", viewers);
	fprintf(f, "# HELP runwire_bytes_relayed_total Output bytes relayed.\n"
		   "# TYPE runwire_bytes_relayed_total counter\n"
		   "runwire_bytes_relayed_total{direction=\"in\"} %llu\n"
		   "runwire_bytes_relayed_total{direction=\"out\"} %llu\n",
		(unsigned long long)ctl->m.bytes_in, (unsigned long long)ctl->m.bytes_out);
	{
		struct fleet_figures ff;
		fleet_figures(ctl, &ff);
		fprintf(f, "# HELP runwire_fleet_replicas Control replicas sharing the store (1 without one).\n"
			   "# TYPE runwire_fleet_replicas gauge\nrunwire_fleet_replicas %zu\n"
			   "# HELP runwire_fleet_queue_waiting Sessions waiting for a runner, all replicas.\n"
			   "# TYPE runwire_fleet_queue_waiting gauge\nrunwire_fleet_queue_waiting %zu\n"
			   "# HELP runwire_fleet_agents_idle Idle agents, all replicas.\n"
			   "# TYPE runwire_fleet_agents_idle gauge\nrunwire_fleet_agents_idle %zu\n"
			   "# HELP runwire_fleet_sessions_live Sessions not ended, all replicas.\n"
			   "# TYPE runwire_fleet_sessions_live gauge\nrunwire_fleet_sessions_live %zu\n",
			ff.replicas, ff.waiting, ff.idle_agents, ff.live);
	}
	fprintf(f, "# HELP runwire_sessions_created_total Sessions created.\n"
		   "# TYPE runwire_sessions_created_total counter\n"
		   "runwire_sessions_created_total %llu\n",
		(unsigned long long)ctl->m.sessions_created);
	fprintf(f, "# HELP runwire_data_bytes Bytes of session logs and recordings in the data directory.\n"
		   "# TYPE runwire_data_bytes gauge\nrunwire_data_bytes %llu\n",
		(unsigned long long)ctl->data_bytes);
	fprintf(f, "# HELP runwire_auth_failures_total Refused credentials.\n"
		   "# TYPE runwire_auth_failures_total counter\nrunwire_auth_failures_total %llu\n",
		(unsigned long long)ctl->m.auth_failures);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	*len_out = len;
	return text;
}
