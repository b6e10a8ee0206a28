/* fleet_takeover.c: taking over the sessions of a replica that died (fleet.h): a running one
 * when its runner resumes here (fleet_adopt), a waiting one when the sweep for orphans finds
 * it (fleet_on_orphans). docs/architecture.md, "Failover". */
#include "control/control.h"
#include "control/fleet.h"
#include "control/fleet_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- orphans: sessions still waiting whose replica died ---- */

/* Queues `rec`'s session here: its request is resolved again (the templates, and their
 * secret files, are every replica's), and it waits for a runner as it did there. A session
 * whose request cannot be resolved here, or was not kept (it carried secrets, or waited for
 * its token to be signed), is ended with the reason instead: nobody will run it. */
static void requeue(struct control *ctl, json_t *rec)
{
	json_t *view = json_object_get(rec, "view"), *req = json_object_get(rec, "request");
	const char *id = json_string_value(json_object_get(view, "sessionId"));
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	const char *from = json_string_value(json_object_get(rec, "replica"));
	struct session_spec spec = { 0 };
	json_t *copy = json_is_object(req) ? json_deep_copy(req) : NULL;
	char why[200] = "";
	struct session *s;
	int status = copy ? templates_resolve(ctl, copy, &spec, why, sizeof(why)) : -1;

	json_decref(copy);
	if (!id || !owner || session_find_any(ctl, id)) {
		session_spec_release(&spec);
		return;
	}
	if (!status && (s = session_adopt(ctl, id, owner, view, &spec))) {
		s->request = json_incref(req);
		log_info("session_requeued", "{s:s, s:s}", "session", id, "from", from ? from : "?");
		dispatcher_run(ctl);
		return;
	}
	session_spec_release(&spec);
	/* recorded here as failed, so that its owner sees why it never ran */
	spec.command = strdup(json_string_value(json_object_get(view, "command")) ?
				      json_string_value(json_object_get(view, "command")) : "");
	if (!spec.command || !(s = session_adopt(ctl, id, owner, view, &spec)))
		return;
	session_unqueue(s);
	if (status < 0 || !why[0])
		snprintf(why, sizeof(why), "its replica stopped before a runner took it, and its "
					   "request was not kept (it carried secrets, or was over "
					   "16 KiB)");
	session_set_state(s, SESSION_FAILED, why);
	log_warn("session_not_requeued", "{s:s, s:s}", "session", id, "reason", why);
}

void fleet_on_orphans(void *arg, int rc, json_t *recs)
{
	struct control *ctl = arg;
	size_t i;
	json_t *rec;

	fleet_sweep_done();
	json_array_foreach(recs, i, rec) {
		requeue(ctl, rec);
	}
	json_decref(recs);
}

/* ---- taking over a session whose replica is gone (fleet_adopt) ---- */

#define FLEET_ADOPT_RETRY_MS 250   /* a stream read that failed is asked again after */

struct adopt {
	struct adopt *next;        /* adopts in progress */
	struct control *ctl;
	char id[2 * CONTROL_SESSION_ID_BYTES + 1];
	char key[65];              /* the resume key the agent presented (checked by its hash) */
	char *cred;                /* its runner credential (wiped when done) */
	struct agent_identity who; /* the runner the record names */
	char from[33];             /* the replica that held it */
	struct session *s;         /* once claimed */
	uint64_t after;            /* entries read */
	fleet_adopt_cb done;
	void *arg;                 /* NULL once the caller went away */
	lws_sorted_usec_list_t sul;
};

static struct adopt *adopts;

static void adopt_end(struct adopt *ad, int rc, const char *why, const char *url)
{
	for (struct adopt **pp = &adopts; *pp; pp = &(*pp)->next)
		if (*pp == ad) {
			*pp = ad->next;
			break;
		}
	lws_sul_cancel(&ad->sul);
	if (ad->arg)
		ad->done(ad->arg, rc ? NULL : ad->s, rc, why, url);
	/* input that writers pushed while its old replica was gone waits in the store */
	if (!rc && ad->s->agent)
		fleet_take_input(ad->ctl, ad->id);
	if (ad->cred) {
		sodium_memzero(ad->cred, strlen(ad->cred));
		free(ad->cred);
	}
	sodium_memzero(ad->key, sizeof(ad->key));
	free(ad);
}

void fleet_takeover_free(void)
{
	while (adopts) {
		adopts->arg = NULL;
		adopt_end(adopts, RW_EAGAIN, "control is stopping", NULL);
	}
}

void fleet_adopt_forget(void *arg)
{
	for (struct adopt *ad = adopts; ad; ad = ad->next)
		if (ad->arg == arg)
			ad->arg = NULL;
}

/* Applies one entry of the stream to the session being rebuilt. */
static void adopt_entry(struct adopt *ad, const struct store_entry *e)
{
	struct session *s = ad->s;
	struct proto_reader rd;
	struct proto_frame f;
	json_t *ev;

	if (!s->stream.end && !s->stream.n_events_total && e->offset &&
	    stream_start_at(&s->stream, e->offset))
		log_error("session_log_failed", "{s:s, s:s}", "session", s->id, "reason",
			  s->stream.err);
	if (e->kind == 'o') {
		if (relay_output(s, e->offset, e->data, e->len))
			log_error("adopt_entry_skipped", "{s:s, s:I, s:I}", "session", s->id, "offset",
				  (json_int_t)e->offset, "end", (json_int_t)s->stream.end);
		return;
	}
	if (!e->len)
		return;   /* an empty 'x': ended before it ran */
	proto_reader_init(&rd);
	if (proto_reader_feed(&rd, e->data, e->len) == 0 && proto_reader_next(&rd, &f) == 1) {
		if (e->kind == 'e' && (ev = proto_parse_json(&f)))
			relay_event(s, ev);
		else if (e->kind == 'x' && f.type == PROTO_EXIT) {
			s->exit = f.exit;
			s->have_exit = 1;
		}
	}
	proto_reader_release(&rd);
}

static void adopt_read(struct adopt *ad);

static void on_adopt_retry(lws_sorted_usec_list_t *sul)
{
	adopt_read(lws_container_of(sul, struct adopt, sul));
}

/* The session is rebuilt: what the store holds is what this replica holds and has put. */
static void adopt_finish(struct adopt *ad)
{
	struct session *s = ad->s;
	struct session_published *p = &s->published;

	p->entries = p->confirmed = ad->after;
	p->out = p->confirmed_out = s->stream.end;
	p->events = p->confirmed_events = s->stream.n_events_total;
	p->gen = 0;   /* its record is put (naming this replica) at the next tick */
	snprintf(s->resume_key, sizeof(s->resume_key), "%s", ad->key);
	s->holder = ad->who;
	s->lost_since_ms = rw_now_ms();   /* until its agent's link is accepted */
	s->adopting = 0;
	log_info("session_adopted", "{s:s, s:s, s:I, s:I, s:I}", "session", s->id, "from", ad->from,
		 "offset", (json_int_t)s->stream.end, "start", (json_int_t)s->stream.start,
		 "entries", (json_int_t)ad->after);
	if (s->have_exit) {
		/* it ended on its replica before its agent heard: nothing is left to resume */
		uint8_t mine[PROTO_SHA256_LEN];
		stream_digest(&s->stream, mine);
		s->digest_ok = !s->stream.partial && s->exit.total == s->stream.end &&
			       !memcmp(mine, s->exit.sha256, PROTO_SHA256_LEN);
		p->exit_sent = p->exit_confirmed = 1;
		session_set_state(s, SESSION_EXITED, NULL);
		adopt_end(ad, RW_ENOTFOUND, "session is over", NULL);
		return;
	}
	adopt_end(ad, RW_OK, NULL, NULL);
}

static void on_adopt_entries(void *arg, int rc, const struct store_entry *e, size_t n)
{
	struct adopt *ad = arg;

	if (rc) {
		lws_sul_schedule(ad->ctl->ctx, 0, &ad->sul, on_adopt_retry,
				 FLEET_ADOPT_RETRY_MS * LWS_US_PER_MS);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		adopt_entry(ad, &e[i]);
		ad->after = e[i].n;
	}
	if (n == STORE_STREAM_BATCH)
		adopt_read(ad);
	else
		adopt_finish(ad);
}

static void adopt_read(struct adopt *ad)
{
	store_stream_read(ad->ctl->store, ad->id, ad->after, on_adopt_entries, ad);
}

static void on_adopt_claim(void *arg, int rc, json_t *rec)
{
	struct adopt *ad = arg;
	const char *owner = json_string_value(json_object_get(rec, "owner"));

	if (rc == RW_ESTATE) {
		const char *holder = json_string_value(json_object_get(rec, "holder"));
		const char *url = json_string_value(json_object_get(rec, "agentUrl"));
		log_info("adopt_declined", "{s:s, s:s, s:s}", "session", ad->id, "holder",
			 holder ? holder : "?", "reason", "its replica is alive");
		adopt_end(ad, RW_ESTATE, "another replica holds it", url);
	} else if (rc || !owner) {
		adopt_end(ad, rc == RW_ENOTFOUND || !rc ? RW_ENOTFOUND : RW_EAGAIN,
			  rc == RW_ENOTFOUND || !rc ? "no such session" : "session store unavailable",
			  NULL);
	} else if (!(ad->s = session_adopt(ad->ctl, ad->id, owner, json_object_get(rec, "view"),
					   NULL))) {
		adopt_end(ad, RW_EIO, "session cannot be taken over here", NULL);
	} else {
		adopt_read(ad);
	}
	json_decref(rec);
}

/* Why the record does not let this agent resume its session, or NULL: the same checks as a
 * resume on the session's own replica (agent_link.c), against what the record keeps. */
static const char *adopt_refusal(struct adopt *ad, json_t *rec, int *retry)
{
	json_t *resume = json_object_get(rec, "resume"), *runner;
	const char *hash = json_string_value(json_object_get(resume, "keyHash"));
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];
	int r;

	*retry = 0;
	if (!json_is_object(json_object_get(rec, "view")))
		return "no such session";
	if (!resume)
		return "session is over or was never assigned";
	crypto_hash_sha256(h, (const uint8_t *)ad->key, strlen(ad->key));
	rw_hex(hex, h, sizeof(h));
	if (!hash || strlen(hash) != strlen(hex) || sodium_memcmp(hash, hex, strlen(hex)))
		return "wrong resume key";
	runner = json_object_get(resume, "runner");
	if (json_is_true(json_object_get(runner, "local")))
		return "its runner was local to its replica";
	memset(&ad->who, 0, sizeof(ad->who));
	if (json_is_string(json_object_get(runner, "pod")))
		snprintf(ad->who.pod_uid, sizeof(ad->who.pod_uid), "%s",
			 json_string_value(json_object_get(runner, "pod")));
	r = dispatcher_check_holder(ad->ctl->disp, ad->cred, &ad->who);
	*retry = r == RW_EAGAIN;
	if (r)
		return *retry ? "credential cannot be checked yet" :
				"credential is not the session's runner's";
	snprintf(ad->from, sizeof(ad->from), "%s",
		 json_string_value(json_object_get(rec, "replica")) ?
			 json_string_value(json_object_get(rec, "replica")) : "?");
	return NULL;
}

static void on_adopt_record(void *arg, int rc, json_t *rec)
{
	struct adopt *ad = arg;
	const char *why;
	int retry;

	if (rc) {
		adopt_end(ad, rc == RW_ENOTFOUND ? RW_ENOTFOUND : RW_EAGAIN,
			  rc == RW_ENOTFOUND ? "no such session" : "session store unavailable", NULL);
	} else if ((why = adopt_refusal(ad, rec, &retry))) {
		adopt_end(ad, retry ? RW_EAGAIN : RW_ENOTFOUND, why, NULL);
	} else {
		store_session_claim(ad->ctl->store, ad->id, ad->ctl->replica, fleet_live_ttl(ad->ctl),
				    on_adopt_claim, ad);
	}
	json_decref(rec);
}

void fleet_adopt(struct control *ctl, const char *id, const char *key, const char *cred,
		 fleet_adopt_cb done, void *arg)
{
	struct session *s = session_find_any(ctl, id);
	struct adopt *ad;

	if (!ctl->store || !store_is_shared(ctl->store)) {
		done(arg, NULL, RW_ENOTFOUND, "no such session", NULL);
		return;
	}
	if (s) {
		/* being taken over here already (the agent came back quickly), or left behind
		 * here by a move: its holder is elsewhere, or will be */
		done(arg, NULL, RW_EAGAIN, s->adopting ? "session is being taken over here" :
							 "session moved from here", NULL);
		return;
	}
	if (!key || strlen(key) >= sizeof(((struct adopt *)NULL)->key) || !cred) {
		done(arg, NULL, RW_ENOTFOUND, "no such session", NULL);
		return;
	}
	ad = calloc(1, sizeof(*ad));
	if (!ad || !(ad->cred = strdup(cred))) {
		free(ad);
		done(arg, NULL, RW_EAGAIN, "out of memory", NULL);
		return;
	}
	ad->ctl = ctl;
	snprintf(ad->id, sizeof(ad->id), "%s", id);
	snprintf(ad->key, sizeof(ad->key), "%s", key);
	ad->done = done;
	ad->arg = arg;
	ad->next = adopts;
	adopts = ad;
	store_session_get(ctl->store, id, on_adopt_record, ad);
}
