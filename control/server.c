/* server.c: runwire-control's libwebsockets context: one vhost serving HTTP (the API),
 * WebSocket viewers (/ws/<id>, subprotocol "bearer") and agents (/agent), one event loop,
 * and a periodic tick for the dispatcher and lost runners.
 */
#include "control/control.h"
#include "control/conn_guard.h"
#include "control/firebase_auth.h"
#include "control/fleet.h"
#include "control/retention.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERVER_TICK_MS 100

static struct lws_protocols server_protocols[6];

/* Every connection that control writes to goes through the guard (conn_guard.h). */
CONN_GUARDED(guarded_http, http_api_protocol.callback)
CONN_GUARDED(guarded_viewer, relay_protocol.callback)
CONN_GUARDED(guarded_agent, agent_link_protocol.callback)

/* Pings every 10 s and a hang-up after 30 s without a valid packet, on both links. */
static const lws_retry_bo_t server_liveness = {
	.secs_since_valid_ping = 10,
	.secs_since_valid_hangup = 30,
};

#define SERVER_MAX_AUTH_HEADER (FIREBASE_MAX_TOKEN + 16)

int server_authenticate(struct control *ctl, struct lws *wsi, char *user, size_t userlen,
			char *reason, size_t reasonlen, int *retry_after_s)
{
	char addr[64], hdr[SERVER_MAX_AUTH_HEADER + 1];
	struct firebase_user fu;
	int r;

	*retry_after_s = 0;
	if (!ctl->fa) {
		/* the embedded default: one local user, and only on loopback (checked at start) */
		snprintf(user, userlen, "%s", CONTROL_LOCAL_USER);
		return RW_OK;
	}
	server_client_addr(wsi, addr, sizeof(addr));
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > SERVER_MAX_AUTH_HEADER) {
		snprintf(reason, reasonlen, "Authorization header too long");
		r = RW_EAUTH;
	} else if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
		   strncasecmp(hdr, "Bearer ", 7)) {
		snprintf(reason, reasonlen, "missing \"Authorization: Bearer <Firebase ID token>\"");
		r = RW_EAUTH;
	} else {
		r = firebase_auth_verify(ctl->fa, hdr + 7, &fu, reason, reasonlen);
		sodium_memzero(hdr, sizeof(hdr));
	}
	if (r == RW_OK) {
		snprintf(user, userlen, "%s", fu.uid);
		return RW_OK;
	}
	if (r == RW_EAUTH) {
		ctl->m.auth_failures++;
		log_audit("sign_in_failed", "{s:s, s:s}", "reason", reason, "client", addr);
	} else {
		*retry_after_s = 5;
	}
	return r == RW_EAGAIN ? RW_EAGAIN : RW_EAUTH;
}

json_t *server_auth_config(struct control *ctl)
{
	if (!ctl->fa)
		return json_pack("{s:s}", "mode", "local");
	json_t *j = json_pack("{s:s, s:s}", "mode", "firebase", "projectId", ctl->cfg.firebase_project);
	if (ctl->cfg.firebase_api_key)
		json_object_set_new(j, "apiKey", json_string(ctl->cfg.firebase_api_key));
	if (ctl->cfg.firebase_auth_domain)
		json_object_set_new(j, "authDomain", json_string(ctl->cfg.firebase_auth_domain));
	if (ctl->cfg.firebase_emulator)
		json_object_set_new(j, "emulator", json_string(ctl->cfg.firebase_emulator));
	return j;
}

const char *server_client_addr(struct lws *wsi, char *buf, size_t len)
{
	lws_get_peer_simple(wsi, buf, len);
	return buf;
}

static void check_lost_runners(struct control *ctl)
{
	int64_t now = rw_now_ms();

	for (struct session *s = ctl->sessions; s; s = s->next) {
		if (s->agent || !s->lost_since_ms || session_is_final(s))
			continue;
		if (now - s->lost_since_ms > (int64_t)ctl->cfg.runner_grace_s * 1000)
			session_set_state(s, SESSION_FAILED, "runner lost: it did not come back within the grace period");
	}
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct control *ctl = lws_container_of(sul, struct control, sul_tick);
	dispatcher_tick(ctl);
	fleet_tick(ctl);
	agent_link_redirect_idle(ctl);
	check_lost_runners(ctl);
	if (ctl->ret)
		retention_tick(ctl->ret, rw_now_ms());
	lws_sul_schedule(ctl->ctx, 0, &ctl->sul_tick, on_tick, SERVER_TICK_MS * LWS_US_PER_MS);
}

static int write_port_file(const char *path, int port)
{
	char tmp[4096], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", port);
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return RW_EIO;
	fwrite(buf, 1, (size_t)n, f);
	if (fclose(f) || rename(tmp, path))
		return RW_EIO;
	return RW_OK;
}

int server_start(struct control *ctl)
{
	struct lws_context_creation_info info;

	server_protocols[0] = http_api_protocol;
	server_protocols[0].callback = guarded_http;
	server_protocols[1] = relay_protocol;
	server_protocols[1].callback = guarded_viewer;
	server_protocols[2] = agent_link_protocol;
	server_protocols[2].callback = guarded_agent;
	server_protocols[3] = listener_protocol;
	server_protocols[4] = store_protocol;
	memset(&server_protocols[5], 0, sizeof(server_protocols[5]));

	memset(&info, 0, sizeof(info));
	/* a server vhost whose connections come from listener.c */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = server_protocols;
	info.user = ctl;
	info.max_http_header_data = CONTROL_MAX_HEADER;
	info.retry_and_idle_policy = &server_liveness;
	info.timeout_secs = 30;
	info.vhost_name = "runwire";
	ctl->ctx = lws_create_context(&info);
	if (!ctl->ctx) {
		fprintf(stderr, "runwire-control: cannot create the service context\n");
		return RW_EIO;
	}
	ctl->vh = lws_get_vhost_by_name(ctl->ctx, "runwire");
	if (!ctl->vh || listener_start(ctl))
		return RW_EIO;
	if (ctl->cfg.port_file && write_port_file(ctl->cfg.port_file, ctl->cfg.port)) {
		fprintf(stderr, "runwire-control: cannot write port file %s\n", ctl->cfg.port_file);
		return RW_EIO;
	}
	log_info("listening", "{s:s, s:i, s:s, s:i, s:i}", "host", ctl->cfg.listen_host, "port",
		 ctl->cfg.port, "dispatcher", ctl->cfg.external ? "external" : "local",
		 "local_runners", ctl->cfg.local_runners, "max_runners", ctl->cfg.max_runners);
	lws_sul_schedule(ctl->ctx, 0, &ctl->sul_tick, on_tick, 1);
	return RW_OK;
}

void server_run(struct control *ctl)
{
	while (!ctl->stopping)
		if (lws_service(ctl->ctx, 0) < 0)
			break;
}

void server_stop(struct control *ctl)
{
	if (!ctl->ctx)
		return;
	lws_sul_cancel(&ctl->sul_tick);
	listener_stop();
	for (struct session *s = ctl->sessions; s; s = s->next)
		lws_sul_cancel(&s->sul_cancel);
	lws_context_destroy(ctl->ctx);
	ctl->ctx = NULL;
}
