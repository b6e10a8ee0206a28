/* agent_redirect.h: moving idle external agents to the replica whose sessions wait for them.
 *
 * Sessions stay on the replica that created them (their log, recording and viewers' relay
 * are there) and each replica's waiting queue is its own; external agents land on whichever
 * replica the load balancer picks. A replica started with --advertise-url publishes that URL
 * in its figures (fleet.c); a replica with nothing waiting that accepts an agent's HELLO, or
 * holds an idle one for a while, answers HELLO {"v":1,"redirect":URL} with the URL another
 * replica advertised when that replica has more waiting sessions than idle agents
 * (docs/protocol.md). The agent dials that URL next. Bounded twice: an agent follows at most
 * AGENT_REDIRECT_MAX_FOLLOWS redirects before it gets a session (it says how many in its
 * HELLO, and control redirects no agent that reached the bound), and a replica sends no more
 * agents to another than that one lacks, counting the ones it sent in the last
 * AGENT_REDIRECT_HOLD_MS (the figures it reads are up to two fleet ticks old).
 *
 * Only URLs read from the store are ever sent, never one an agent offered, and only ws:// or
 * wss:// ones (agent_redirect_check_url); local agents are never redirected (their ticket is
 * this replica's). Without --advertise-url on this replica nothing here runs.
 */
#ifndef RW_AGENT_REDIRECT_H
#define RW_AGENT_REDIRECT_H

struct control;

#define AGENT_REDIRECT_MAX_URL 512        /* bytes of an advertised URL */
#define AGENT_REDIRECT_MAX_FOLLOWS 3      /* redirects an agent follows before a session */
#define AGENT_REDIRECT_HOLD_MS 1500       /* a redirect counts against its target this long */
#define AGENT_REDIRECT_IDLE_MS 3000       /* an idle agent is moved after this long idle */
#define AGENT_REDIRECT_RECENT 64          /* redirects remembered for the hold */

/* 0 when `url` is a ws:// or wss:// URL with a host, no user info, at most
 * AGENT_REDIRECT_MAX_URL bytes; RW_EINVAL otherwise. */
int agent_redirect_check_url(const char *url);

/* Where to send an external agent that this replica just accepted or holds idle, or NULL
 * (keep it): only when this replica advertises a URL, shares a store, has no session
 * waiting, and another replica's fresh figures show more waiting sessions than idle agents
 * plus the agents sent there within AGENT_REDIRECT_HOLD_MS. The one lacking most wins. A
 * URL returned is counted as sent; it is borrowed until the next fleet tick. */
const char *agent_redirect_pick(struct control *ctl);

#endif
