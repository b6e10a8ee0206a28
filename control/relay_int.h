/* relay_int.h: what relay.c (viewers) and relay_remote.c (viewers of a session another
 * replica holds, through the shared store) share; private to them. A viewer is owned by its
 * connection (lws allocates it as the protocol's per-session data); everything runs on
 * control's loop. */
#ifndef RW_RELAY_INT_H
#define RW_RELAY_INT_H

#include "control/control.h"
#include "control/fleet.h"

struct viewer {
	struct viewer *next;          /* session->viewers */
	struct session *s;            /* NULL once detached */
	struct lws *wsi;
	char sid[2 * CONTROL_SESSION_ID_BYTES + 1];
	enum token_role role;
	uint64_t since;               /* requested start offset */
	uint64_t cursor;              /* next output offset to send */
	size_t next_event;            /* index in s->events */
	int hello_sent, exit_sent, finished;
	int backlog_said;             /* "input backlog full" sent since input last got through */
	size_t refused;               /* input frames refused (read-only): logged once, counted */
	struct proto_reader rd;
	/* A shared store answers later than the handshake: the token's jti is consumed once the
	 * connection is up, and until the answer the viewer is attached to nothing and reads
	 * nothing (its frames wait in the socket). */
	int once_pending;
	char jti[65];
	int64_t jti_exp;
	char sub[129];                /* the token's user: the session must be theirs */
	const char *refusal;          /* refused after the handshake: said, then closed */
	uint16_t refusal_code;        /* PROTO_ERR_... */
	/* A session held by another replica: read from its stream in the shared store. */
	int remote;                   /* 1: the record is asked for; 2: reading the stream */
	uint64_t remote_entry;        /* the last entry read */
	uint8_t *rq;                  /* frames to send: [size_t len][LWS_PRE][frame] ... */
	size_t rq_len, rq_sent;
	int remote_reading, remote_done;
	int64_t remote_since_ms;      /* when the record was first asked for */
	lws_sorted_usec_list_t sul_poll;
	/* how far it has read, told to the holder (store_reader_put): the writer is kept
	 * within the stream's window of it while it takes what it is sent */
	char reader[STORE_READER_MAX];
	uint64_t flushed;             /* the cursor when its queue was last all sent */
	int64_t taken_ms;             /* when it last took a frame, or had none waiting */
	lws_sorted_usec_list_t sul_report;
	struct control *ctl;
	/* a writer's frames for the holding replica, through the store (fleet_push_input) */
	char holder[2 * FLEET_REPLICA_ID_BYTES + 1];
	struct store_entry *ob;       /* its frames as store entries, oldest first, not yet in
				       * the store (the outbox; entries' data owned here) */
	size_t ob_n, ob_cap, ob_bytes;
	size_t pushing;               /* the first `pushing` entries are being pushed (one push
				       * in flight at a time: the order is kept) */
	int64_t full_since_ms;        /* the session's input in the store is full since */
	int rx_held;                  /* its socket is not read: the outbox is full */
	int store_said;               /* "input not delivered" said since input last got through */
	int64_t typed_ms;             /* when it last sent a frame: its echo is polled for fast */
	lws_sorted_usec_list_t sul_push;
};

#define VIEWER_REMOTE_STORE_RETRY_MS 250 /* a read the store did not answer: again after */
#define VIEWER_REMOTE_READAHEAD (4u << 20) /* unsent bytes under which a remote viewer
					     * behind asks for its next batch at once */
#define VIEWER_REMOTE_REPORT_MS 250   /* a remote viewer says how far it has read this often */
#define VIEWER_REMOTE_STALLED_MS 5000 /* one taking nothing this long holds nothing back */
#define VIEWER_REMOTE_POLL_MS 20      /* a remote viewer with nothing new asks again after */
#define VIEWER_REMOTE_TYPING_POLL_US 500 /* ... or this soon, while it is typing: an echo is due */
#define VIEWER_REMOTE_TYPING_MS 1000  /* "typing": a frame pushed within this long */
#define VIEWER_REMOTE_OUTBOX_MAX (256u << 10) /* bytes of a writer's frames not yet in the
					       * store; past it its socket is not read until they
					       * are (backpressure, as the agent link's queue) */
#define VIEWER_REMOTE_PUSH_BYTES (256u << 10) /* bytes one push carries (at least one entry) */
#define VIEWER_REMOTE_RETRY_MS 2      /* a push refused because the input is full: again after */
#define VIEWER_REMOTE_STALL_MS 5000   /* ... for this long, then the writer is told and its
				       * outbox dropped (the holder is not taking input) */
#define VIEWER_REMOTE_RECORD_WAIT_MS 1000 /* a record not there yet (its replica puts it
					   * within FLEET_TICK_MS) is asked for this long */

/* ---- relay_remote.c ---- */

/* The viewer's session is not held here: its record is asked for, then its stream read. */
void relay_remote_start(struct viewer *v);
/* Sends what is queued for a remote viewer; asks for more once it is gone. -1 to close. */
int relay_remote_write(struct viewer *v);
/* A remote writer's INPUT, RESIZE or SIGNAL: through the store to the holder. */
void relay_remote_input(struct viewer *v, const struct proto_frame *f);
/* The connection closed: what the remote path holds goes (reads, pushes, its reader). */
void relay_remote_close(struct viewer *v);

/* ---- relay.c ---- */

/* Acts on the frames read so far; a remote writer whose outbox is full stops here and goes
 * on once it has room. -1 on a protocol error. */
int viewer_read_frames(struct viewer *v);

#endif
