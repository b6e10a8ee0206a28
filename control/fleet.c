/* fleet.c: session records for the other replicas, and this replica's inbox (fleet.h). */
#include "control/control.h"
#include "control/fleet.h"
#include "control/fleet_int.h"
#include "common/log.h"
#include "common/rw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* The user as an input entry names it: itself, or its hash (store_key_bounded) when longer
 * than this; the holder maps its session's owner the same way before comparing. */
#define FLEET_ENTRY_USER_MAX 128

static struct {
	int64_t last_ms;
	int was_ready;
	unsigned gen;              /* bumped when the store comes back: everything is put again */
	int popping;               /* an inbox read is in flight */
	int reading;               /* a read of the replicas' figures is in flight */
	json_t *others;            /* {replica: figures} of the others, as last read */
	int64_t others_ms;         /* when */
	int watching;              /* store_input_watch asked */
	int listing;               /* an input_pending read is in flight */
	int list_again;            /* a wake came while it was */
	size_t budget;             /* stream bytes left in this tick */
	int flush_due;             /* sul_flush scheduled */
	int64_t orphans_ms;        /* the last sweep for orphans */
	int sweeping;              /* a sweep is in flight */
	struct control *ctl;
	lws_sorted_usec_list_t sul_flush;
} F;

void fleet_init(struct control *ctl)
{
	rw_random_hex(ctl->replica, FLEET_REPLICA_ID_BYTES);
	memset(&F, 0, sizeof(F));
	F.gen = 1;
	F.ctl = ctl;
}

/* Who may resume `s` on another replica: the SHA-256 of its resume key (the key itself never
 * leaves the runner and this process) and the runner it was assigned to. */
static json_t *resume_info(const struct session *s)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];
	json_t *runner;

	if (!s->resume_key[0] || session_is_final(s))
		return NULL;
	crypto_hash_sha256(h, (const uint8_t *)s->resume_key, strlen(s->resume_key));
	rw_hex(hex, h, sizeof(h));
	if (s->holder.local)
		runner = json_pack("{s:b}", "local", 1);   /* a child of this replica: cannot move */
	else if (s->holder.pod_uid[0])
		runner = json_pack("{s:s}", "pod", s->holder.pod_uid);
	else
		runner = json_pack("{s:b}", "shared", 1);  /* the shared runner token */
	return json_pack("{s:s, s:o}", "keyHash", hex, "runner", runner);
}

json_t *fleet_record(const struct session *s)
{
	json_t *j = json_pack("{s:s, s:s, s:o}", "owner", s->owner, "replica", s->ctl->replica,
			      "view", session_to_json(s));
	json_t *r = resume_info(s);

	if (r)
		json_object_set_new(j, "resume", r);
	if (s->state == SESSION_WAITING && s->waiting && s->request)
		/* what another replica queues again if this one dies first (fleet_takeover.c) */
		json_object_set(j, "request", s->request);
	return j;
}

/* The live record outlives its replica as long as its runner may come back: another replica
 * can then take the session over (fleet_adopt). */
int64_t fleet_live_ttl(const struct control *ctl)
{
	return ctl->cfg.runner_grace_s > FLEET_LIVE_TTL_S ? ctl->cfg.runner_grace_s + 60 :
							   FLEET_LIVE_TTL_S;
}

/* An answer about `id` from the store, looked up again when it comes (it may be gone). */
struct put_ack {
	struct control *ctl;
	char id[2 * CONTROL_SESSION_ID_BYTES + 1];
	uint64_t n, out;           /* the entry's number, the output offset after it */
	size_t events;             /* events published with it */
	int exit;                  /* it is the 'x' entry */
};

static struct put_ack *put_ack_new(struct session *s)
{
	struct put_ack *a = calloc(1, sizeof(*a));

	if (a) {
		a->ctl = s->ctl;
		snprintf(a->id, sizeof(a->id), "%s", s->id);
	}
	return a;
}

/* Whether `s` changed since its record was last put (or the record is due again). */
static int needs_put(const struct session *s, int64_t now)
{
	const struct session_published *p = &s->published;

	if (p->gen != F.gen || p->state != (int)s->state || p->have_exit != s->have_exit)
		return 1;
	if (session_is_final(s))
		return 0;
	return p->bytes != s->stream.end || p->viewers != s->n_viewers ||
	       now - p->at_ms >= FLEET_REFRESH_MS;
}

/* Another replica took `s` over while this one was cut off from the store (its figures
 * expired, its agent reconnected there): this copy stops, its agent and viewers are sent
 * away (they reconnect and find the session where the store says it is), and it is no
 * longer found here (session_find). */
static void session_moved(struct session *s)
{
	if (s->published.moved)
		return;
	s->published.moved = 1;
	log_warn("session_moved", "{s:s, s:s}", "session", s->id, "reason",
		 "another replica holds it now");
	if (s->agent)
		agent_link_send_away(s->agent, "session moved to another replica; reconnect");
	relay_close_all(s, "session moved to another replica; reconnect");
}

static void on_put(void *arg, int rc, int64_t value)
{
	struct put_ack *a = arg;
	struct session *s = session_find_any(a->ctl, a->id);

	if (s && rc == RW_ESTATE)
		session_moved(s);
	free(a);
}

static void publish(struct session *s, int64_t now)
{
	struct control *ctl = s->ctl;
	json_t *rec = fleet_record(s);
	int64_t ttl = session_is_final(s) ? (ctl->cfg.retention_s > 0 ? ctl->cfg.retention_s : 0)
					  : fleet_live_ttl(ctl);
	struct put_ack *a = put_ack_new(s);

	/* a put lost to an outage is put again when the store is back; one the store refuses
	 * because another replica holds the session now leaves this copy behind */
	store_session_put(ctl->store, s->id, ctl->replica, s->owner, s->created_ms, rec, ttl,
			  a ? on_put : NULL, a);
	json_decref(rec);
	s->published.gen = F.gen;
	s->published.state = (int)s->state;
	s->published.have_exit = s->have_exit;
	s->published.bytes = s->stream.end;
	s->published.viewers = s->n_viewers;
	s->published.at_ms = now;
}

static void on_inbox(void *arg, int rc, json_t *msgs)
{
	struct control *ctl = arg;
	size_t i;
	json_t *m;

	F.popping = 0;
	json_array_foreach(msgs, i, m) {
		const char *id = json_string_value(json_object_get(m, "cancel"));
		const char *user = json_string_value(json_object_get(m, "user"));
		struct session *s = id ? session_find(ctl, id) : NULL;
		if (!s || !user || strcmp(s->owner, user))
			continue;   /* gone since, or not theirs: nothing to do */
		log_audit("session_cancel", "{s:s, s:s, s:s}", "session", s->id, "user", user, "via",
			  json_string_value(json_object_get(m, "from")) ?
				  json_string_value(json_object_get(m, "from")) : "?");
		session_cancel(s);
	}
	json_decref(msgs);
}

/* This replica's figures now. */
static void own_figures(const struct control *ctl, struct fleet_figures *f)
{
	memset(f, 0, sizeof(*f));
	f->replicas = 1;
	f->waiting = session_count_waiting(ctl);
	f->agents = agent_link_count(ctl, 0);
	f->idle_agents = agent_link_count(ctl, 1);
	for (const struct session *s = ctl->sessions; s; s = s->next)
		f->live += !session_is_final(s) && !s->adopting && !s->published.moved;
}

static size_t figure(json_t *j, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(j, key));

	return v > 0 ? (size_t)v : 0;
}

void fleet_figures(const struct control *ctl, struct fleet_figures *out)
{
	const char *id;
	json_t *j;

	own_figures(ctl, out);
	if (!F.others || rw_now_ms() - F.others_ms > FLEET_FIGURES_TTL_MS)
		return;
	json_object_foreach(F.others, id, j) {
		out->replicas++;
		out->waiting += figure(j, "waiting");
		out->agents += figure(j, "agents");
		out->idle_agents += figure(j, "idleAgents");
		out->live += figure(j, "live");
	}
}

static void on_replicas(void *arg, int rc, json_t *all)
{
	struct control *ctl = arg;

	F.reading = 0;
	if (rc || !all)
		return;
	json_object_del(all, ctl->replica);   /* our own figures are counted fresh */
	json_decref(F.others);
	F.others = all;
	F.others_ms = rw_now_ms();
}

static void put_figures(struct control *ctl)
{
	struct fleet_figures f;
	json_t *j;

	own_figures(ctl, &f);
	j = json_pack("{s:I, s:I, s:I, s:I}", "waiting", (json_int_t)f.waiting, "agents",
		      (json_int_t)f.agents, "idleAgents", (json_int_t)f.idle_agents, "live",
		      (json_int_t)f.live);
	if (ctl->cfg.advertise_url)   /* where agents reach this replica (agent_redirect.h) */
		json_object_set_new(j, "agentUrl", json_string(ctl->cfg.advertise_url));
	store_replica_put(ctl->store, ctl->replica, j, FLEET_FIGURES_TTL_MS);
	json_decref(j);
	if (!F.reading) {
		F.reading = 1;
		store_replica_all(ctl->store, on_replicas, ctl);
	}
}

json_t *fleet_other_figures(void)
{
	if (!F.others || rw_now_ms() - F.others_ms > FLEET_FIGURES_TTL_MS)
		return NULL;
	return F.others;
}

void fleet_free(void)
{
	fleet_takeover_free();
	json_decref(F.others);
	F.others = NULL;
}

static void on_stream_put(void *arg, int rc, int64_t value)
{
	struct put_ack *a = arg;
	struct session *s = session_find_any(a->ctl, a->id);
	struct session_published *p = s ? &s->published : NULL;

	if (!p || s->adopting) {
		free(a);
		return;
	}
	if (rc == RW_OK) {
		if (a->n > p->confirmed) {
			p->confirmed = a->n;
			p->confirmed_out = a->out;
			p->confirmed_events = a->events;
			p->exit_confirmed |= a->exit;
			if (s->agent)
				agent_link_store_caught_up(s->agent);
		}
	} else if (rc == RW_ESTATE) {
		session_moved(s);
	} else if (a->n > p->confirmed && p->entries >= a->n) {
		/* not stored (an outage, or a gap behind an entry that was not): put again from
		 * the last entry the store confirmed; adds are idempotent, so one that did land
		 * is answered as there */
		p->entries = p->confirmed;
		p->out = p->confirmed_out;
		p->events = p->confirmed_events;
		p->exit_sent = 0;
	}
	free(a);
}

/* Puts the next entry of `s`'s stream; on_stream_put records the store's answer. */
static void stream_put(struct session *s, char kind, uint64_t offset, const uint8_t *data,
		       size_t len)
{
	struct control *ctl = s->ctl;
	struct session_published *p = &s->published;
	struct put_ack *a = put_ack_new(s);
	int64_t ttl = ctl->cfg.retention_s > 0 ? ctl->cfg.retention_s : 0;

	p->entries++;
	if (a) {
		a->n = p->entries;
		a->out = kind == 'o' ? offset + len : p->out;
		a->events = p->events;
		a->exit = kind == 'x';
	}
	store_stream_add(ctl->store, s->id, ctl->replica, p->entries, kind, offset, data, len, ttl,
			 a ? on_stream_put : NULL, a);
}

/* Puts what `s` has that its stream in the store lacks, in order (events at an offset before
 * the output after it, as the relay sends them), at most `*budget` output bytes. Puts go
 * without waiting; each answer is recorded (on_stream_put), and the agent is acknowledged
 * only what the store confirmed (fleet_acked). A put that failed is put again from the last
 * confirmed entry, so the stream has no gaps (the store refuses one). */
static void publish_stream(struct session *s, size_t *budget)
{
	struct stream *st = &s->stream;
	struct session_published *p = &s->published;

	if (p->exit_sent || s->adopting || p->moved)
		return;
	if (p->out >= st->end && p->events >= st->n_events_total && !session_is_final(s))
		return;   /* nothing new */
	if (!st->events_loaded && stream_load_events(st))
		return;
	while (*budget) {
		if (p->events < st->n_events && st->events[p->events].offset <= p->out) {
			const struct stream_event *e = &st->events[p->events++];
			stream_put(s, 'e', e->offset, e->frame + LWS_PRE, e->len);
			continue;
		}
		uint64_t limit = p->events < st->n_events ? st->events[p->events].offset : st->end;
		if (p->out < st->start)
			p->out = st->start;   /* retention got there first */
		if (p->out < limit) {
			const uint8_t *data;
			size_t want = (size_t)(limit - p->out);
			long n;
			if (want > STORE_STREAM_MAX_DATA)
				want = STORE_STREAM_MAX_DATA;
			if (want > *budget)
				want = *budget;
			n = stream_read(st, p->out, want, &data);
			if (n <= 0)
				return;
			stream_put(s, 'o', p->out, data, (size_t)n);
			p->out += (uint64_t)n;
			*budget -= (size_t)n;
			continue;
		}
		/* the end: the EXIT frame, or (failed, cancelled before it ran) an empty 'x' */
		if (session_is_final(s) && p->out == st->end && p->events == st->n_events &&
		    (s->have_exit || !s->agent)) {
			uint8_t frame[PROTO_EXIT_LEN];
			size_t len = 0;
			if (s->have_exit)
				len = proto_encode_exit(frame, &s->exit);
			stream_put(s, 'x', st->end, frame, len);
			p->exit_sent = 1;
		}
		return;
	}
}

uint64_t fleet_acked(const struct session *s)
{
	const struct store *st = s->ctl->store;
	const struct session_published *p = &s->published;
	uint64_t acked;

	if (!st || !store_is_shared(st))
		return s->stream.end;
	acked = p->confirmed_out < s->stream.end ? p->confirmed_out : s->stream.end;
	/* a viewer on another replica that takes what it is sent is never left further behind
	 * than the stream keeps: the runner waits for it (one that stalls stops counting) */
	if (p->reader_floor >= 0 && acked > (uint64_t)p->reader_floor + FLEET_READER_LEAD)
		acked = (uint64_t)p->reader_floor + FLEET_READER_LEAD;
	return acked;
}

static void on_readers(void *arg, int rc, int64_t value)
{
	struct put_ack *a = arg;
	struct session *s = session_find_any(a->ctl, a->id);

	if (s) {
		s->published.readers_asking = 0;
		if (!rc) {
			int64_t was = s->published.reader_floor;
			s->published.reader_floor = value;
			if (s->agent && (value < 0 || value > was))
				agent_link_store_caught_up(s->agent);
		}
	}
	free(a);
}

/* Asks how far `s`'s slowest viewer on another replica has read, once its output could be
 * near the stream's window (fleet_acked). */
static void ask_readers(struct session *s)
{
	struct put_ack *a;

	if (s->published.readers_asking || session_is_final(s) || s->adopting ||
	    s->published.moved || s->stream.end < FLEET_READER_LEAD / 2 || !(a = put_ack_new(s)))
		return;
	s->published.readers_asking = 1;
	store_readers_min(s->ctl->store, s->id, on_readers, a);
}

int fleet_has_end(const struct session *s)
{
	const struct store *st = s->ctl->store;

	return !st || !store_is_shared(st) || s->published.moved ||
	       (s->published.exit_confirmed && s->published.confirmed_out == s->stream.end);
}

/* ---- input from writers on other replicas ---- */

#define FLEET_INPUT_HEADER (2 + 128)   /* type, user length, user */

static void on_input_wake(void *arg, const char *id);

/* What the holder takes of a session's input at once: what its agent can queue now, so
 * nothing taken is refused. 0: not now (no agent yet, or its queue is full): the input
 * waits in the store, bounded there, and is looked at again every FLEET_TICK_MS. */
static size_t input_room(const struct session *s)
{
	size_t room;

	if (!s->agent)
		return 0;
	room = agent_link_room(s->agent);
	return room >= STORE_INPUT_MAX_DATA ? room : 0;
}

struct take {
	struct control *ctl;
	char id[2 * CONTROL_SESSION_ID_BYTES + 1];
};

/* Decodes one entry into `f`: 0, or -1 when it is malformed. */
static int input_decode(const uint8_t *p, size_t len, const char **user, size_t *ulen,
			struct proto_frame *f)
{
	size_t h;

	memset(f, 0, sizeof(*f));
	if (len < 2 || len < 2u + p[1])
		return -1;
	h = 2u + p[1];
	f->type = p[0];
	*user = (const char *)p + 2;
	*ulen = p[1];
	p += h;
	len -= h;   /* the bytes after the header */
	switch (f->type) {
	case PROTO_INPUT:
		f->data = p;
		f->len = len;
		return len && len <= PROTO_MAX_INPUT ? 0 : -1;
	case PROTO_RESIZE:
		if (len != 4)
			return -1;
		f->cols = (uint16_t)(p[0] << 8 | p[1]);
		f->rows = (uint16_t)(p[2] << 8 | p[3]);
		return f->cols && f->rows && f->cols <= PROTO_MAX_DIM && f->rows <= PROTO_MAX_DIM ?
			       0 : -1;
	case PROTO_SIGNAL:
		if (len != 1)
			return -1;
		f->signo = p[0];
		return 0;
	default:
		return -1;
	}
}

/* Applies what a take read, in order, skipping what is numbered up to what was applied
 * already (read again because an earlier done has not removed it yet, or was lost), then
 * says done up to the last: the store removes entries only then. A take or done whose
 * answer is lost (the connection dropped) loses nothing: the entries are read again at the
 * next wake or tick and skipped by number, so each is applied once. */
static void on_taken(void *arg, int rc, const struct store_entry *e, size_t n)
{
	struct take *t = arg;
	struct control *ctl = t->ctl;
	struct session *s = session_find(ctl, t->id);
	uint64_t upto = s ? s->input_applied : 0;
	size_t dropped = 0;

	if (s)
		s->input_taking = 0;
	if (rc) {
		if (rc != RW_EINVAL)
			log_info("input_take_failed", "{s:s, s:s, s:s}", "session", t->id, "reason",
				 rw_strerror(rc), "effect", "none: read again at the next wake or tick");
		free(t);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct proto_frame f;
		const char *user;
		char ob[STORE_KEY_HASHED_LEN + 1];
		const char *owner = s ? store_key_bounded(s->owner, FLEET_ENTRY_USER_MAX + 1, ob) : NULL;
		size_t ulen;
		if (e[i].n <= upto)
			continue;   /* applied already */
		upto = e[i].n;
		if (input_decode(e[i].data, e[i].len, &user, &ulen, &f) || !s ||
		    session_is_final(s) || strlen(owner) != ulen ||
		    memcmp(owner, user, ulen) || relay_apply(s, &f)) {
			dropped++;   /* not this owner's, or the session ended (its writers see that) */
			continue;
		}
	}
	if (s)
		s->input_applied = upto;
	if (dropped)
		log_info("remote_input_dropped", "{s:s, s:I}", "session", t->id,
			 "entries", (json_int_t)dropped);
	/* after the entries' last use: the memory store frees them inside this call. Also when
	 * none was new, so that entries whose done was lost go (and the set forgets the
	 * session); a done lost again is said again at the next take. */
	if (upto)
		store_input_done(ctl->store, ctl->replica, t->id, upto, NULL, NULL);
	/* a full batch: there may be more (done then this take run in order on the store) */
	if (n == STORE_INPUT_BATCH)
		fleet_take_input(ctl, t->id);
	free(t);
}

/* Takes `id`'s input: for a session this replica runs, after what it applied, as much as
 * its agent can queue; for one it does not hold (any more), all of it, discarded, so the
 * set forgets it. */
void fleet_take_input(struct control *ctl, const char *id)
{
	struct session *s = session_find(ctl, id);
	size_t room = SIZE_MAX;
	struct take *t;

	if (s && !session_is_final(s)) {
		if (s->input_taking || !(room = input_room(s)))
			return;
	}
	if (!(t = calloc(1, sizeof(*t))))
		return;
	t->ctl = ctl;
	snprintf(t->id, sizeof(t->id), "%s", id);
	if (s)
		s->input_taking = 1;
	store_input_take(ctl->store, ctl->replica, id, s ? s->input_applied : 0, room, on_taken, t);
}

static void on_pending(void *arg, int rc, json_t *ids)
{
	struct control *ctl = arg;
	size_t i;
	json_t *id;

	F.listing = 0;
	json_array_foreach(ids, i, id)
		if (json_string_value(id))
			fleet_take_input(ctl, json_string_value(id));
	json_decref(ids);
	if (F.list_again) {
		F.list_again = 0;
		on_input_wake(ctl, NULL);
	}
}

static void on_input_wake(void *arg, const char *id)
{
	struct control *ctl = arg;

	if (id) {
		fleet_take_input(ctl, id);
		return;
	}
	if (F.listing) {
		F.list_again = 1;
		return;
	}
	F.listing = 1;
	store_input_pending(ctl->store, ctl->replica, on_pending, ctl);
}

uint8_t *fleet_input_entry(const char *user, const struct proto_frame *f, size_t *len)
{
	char ub[STORE_KEY_HASHED_LEN + 1];
	size_t ulen, n, body;
	uint8_t *buf;

	user = store_key_bounded(user, FLEET_ENTRY_USER_MAX + 1, ub);
	ulen = strlen(user);
	n = 2 + ulen;
	switch (f->type) {
	case PROTO_INPUT: body = f->len; break;
	case PROTO_RESIZE: body = 4; break;
	case PROTO_SIGNAL: body = 1; break;
	default: return NULL;
	}
	if (!(buf = malloc(n + body)))
		return NULL;
	buf[0] = (uint8_t)f->type;
	buf[1] = (uint8_t)ulen;
	memcpy(buf + 2, user, ulen);
	if (f->type == PROTO_INPUT) {
		memcpy(buf + n, f->data, f->len);
	} else if (f->type == PROTO_RESIZE) {
		buf[n] = (uint8_t)(f->cols >> 8);
		buf[n + 1] = (uint8_t)f->cols;
		buf[n + 2] = (uint8_t)(f->rows >> 8);
		buf[n + 3] = (uint8_t)f->rows;
	} else {
		buf[n] = f->signo;
	}
	*len = n + body;
	return buf;
}

static void on_flush(lws_sorted_usec_list_t *sul)
{
	struct control *ctl = F.ctl;

	F.flush_due = 0;
	if (!ctl->store || !store_ready(ctl->store))
		return;
	for (struct session *s = ctl->sessions; s && F.budget; s = s->next)
		publish_stream(s, &F.budget);
}

void fleet_output_soon(struct session *s)
{
	struct control *ctl = s->ctl;

	if (F.flush_due || !ctl->store || !store_is_shared(ctl->store) || !F.budget)
		return;
	F.flush_due = 1;
	lws_sul_schedule(ctl->ctx, 0, &F.sul_flush, on_flush, 1);
}

void fleet_sweep_done(void)
{
	F.sweeping = 0;
}

void fleet_tick(struct control *ctl)
{
	int64_t now = rw_now_ms();
	int ready;

	if (!ctl->store || !store_is_shared(ctl->store))
		return;
	if (!F.watching) {
		F.watching = 1;
		store_input_watch(ctl->store, ctl->replica, on_input_wake, ctl);
	}
	F.budget = FLEET_STREAM_TICK_BYTES;
	if (store_ready(ctl->store))
		for (struct session *s = ctl->sessions; s; s = s->next) {
			if (F.budget)
				publish_stream(s, &F.budget);
			ask_readers(s);
		}
	if (now - F.last_ms < FLEET_TICK_MS)
		return;
	F.last_ms = now;
	ready = store_ready(ctl->store);
	if (ready && !F.was_ready)
		F.gen++;
	F.was_ready = ready;
	if (!ready)
		return;
	for (struct session *s = ctl->sessions; s; s = s->next)
		if (!s->adopting && !s->published.moved && needs_put(s, now))
			publish(s, now);
	if (!F.popping) {
		F.popping = 1;
		store_inbox_pop(ctl->store, ctl->replica, on_inbox, ctl);
	}
	on_input_wake(ctl, NULL);   /* input whose wake was missed, or that waited for room */
	put_figures(ctl);
	if (!F.sweeping && now - F.orphans_ms >= FLEET_ORPHANS_MS) {
		F.orphans_ms = now;
		F.sweeping = 1;
		store_session_orphans(ctl->store, ctl->replica, fleet_live_ttl(ctl), fleet_on_orphans,
				      ctl);
	}
}

void fleet_request_cancel(struct control *ctl, json_t *record, const char *user,
			  void (*cb)(void *arg, int rc, int64_t value), void *arg)
{
	const char *replica = json_string_value(json_object_get(record, "replica"));
	const char *id = json_string_value(json_object_get(json_object_get(record, "view"),
							   "sessionId"));
	json_t *msg;

	if (!replica || !id) {
		cb(arg, RW_EINVAL, 0);
		return;
	}
	msg = json_pack("{s:s, s:s, s:s}", "cancel", id, "user", user, "from", ctl->replica);
	store_inbox_push(ctl->store, replica, msg, cb, arg);
	json_decref(msg);
}
