/* client_internal: the parts of libtally its modules share; not public.
 *
 * A tally_t keeps the last cluster map and a routing table slot → peer,
 * where a peer is one worker endpoint with its (lazily created) DEALER for
 * blocking calls. Peers are only ever added (the list stays as small as the
 * set of endpoints ever seen), so a peer index stays valid for the life of
 * the handle; the asynchronous interface keeps its own DEALER per peer index.
 */
#ifndef TALLY_CLIENT_INTERNAL_H
#define TALLY_CLIENT_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "curve.h"
#include "dealer.h"
#include "endpoint_list.h"
#include "lease_memo.h"
#include "person_markets.h"
#include "slot.h"
#include "tally.h"
#include "tally.pb-c.h"

/* Which failures are retried, how often and after what back-off: one
 * policy for every call, retry_policy.h. */

/* Lease routing: the map (with its backlog hints) is refreshed alongside
 * lease calls once it is older than CLIENT_MAP_MAX_AGE_MS, at most once per
 * CLIENT_MAP_MAX_AGE_MS; a blocking lease waits up to CLIENT_MAP_WAIT_MS for
 * the new map before it chooses, then goes on with the one it has. */
#define CLIENT_MAP_MAX_AGE_MS 1000
#define CLIENT_MAP_WAIT_MS 100
/* Failover: a request to a worker unanswered for CLIENT_WATCH_AFTER_MS
 * makes the handle fetch the map in the background, at most once per
 * CLIENT_WATCH_EVERY_MS while it waits (client_recv_watching), so that a
 * slot promoted to a follower is followed within a fraction of a second of
 * the coordinator's decision instead of after the reply timeout. */
#define CLIENT_WATCH_AFTER_MS 500
#define CLIENT_WATCH_EVERY_MS 250
/* Project name -> id for the hints' project filter: entries kept, and how
 * long an unresolved name is left alone before it is asked again. */
#define CLIENT_PROJECT_CACHE 8
#define CLIENT_PROJECT_RETRY_MS 10000
#define CLIENT_LEADER_SEARCH_MS 15000 /* longest search for the leader coordinator */
#define CLIENT_LEADER_PAUSE_MS 100    /* before trying the next coordinator */
#define CLIENT_PROJECT_LOOKUP_MS 1000 /* longest wait for the coordinator's answer */

typedef struct {
  char *endpoint;
  char server_key[CURVE_Z85_LEN + 1]; /* the worker's CURVE key from the map ("" unknown) */
  dealer_t *dealer; /* blocking calls; NULL until first use or after a reset */
} client_peer_t;

/* The ZeroMQ context (and so the I/O thread) of a handle and of the
 * handles opened as its siblings (tally_open_sibling); the last handle
 * closed terminates it. */
typedef struct {
  void *zmq;
  _Atomic int refs;
  int secure;               /* CURVE with `self`; else plain TCP */
  curve_keypair_t self;
  char coordinator_key[CURVE_Z85_LEN + 1];
} client_io_t;

struct tally {
  client_io_t *io; /* shared, counted */
  void *zmq;       /* io->zmq */
  char *coordinator_endpoint;   /* as given: one endpoint or a comma-separated list */
  endpoint_list_t coordinators; /* parsed; current = the one `coordinator` talks to */
  dealer_t *coordinator;
  int timeout_ms;

  client_peer_t *peers;
  size_t peer_count, peer_cap;
  int32_t slot_peer[TALLY_SLOT_COUNT]; /* peer index, -1 = unassigned */
  uint32_t slot_down_owner[TALLY_SLOT_COUNT]; /* worker id when the owner is DOWN, else 0 */
  Tally__Envelope *map_env;            /* last map reply (owned), NULL before the first */
  uint64_t epoch;
  int32_t *worker_peer; /* peer of each worker of the map, in map order; -1 = no endpoint */
  uint64_t map_ms;      /* monotonic time the map was fetched */
  uint64_t map_serial;  /* counts the maps applied */

  /* Background map refresh (client_map_refresh_if_old): its own DEALER,
   * so a reply that comes late never meets a blocking call. */
  dealer_t *map_dealer;
  uint64_t map_request_id; /* outstanding request, 0 = none */
  uint64_t map_request_ms; /* monotonic time of the last request sent */

  uint64_t rng; /* client_random() state */
  struct {
    char *name;
    uint32_t id;         /* 0 = not resolved */
    uint64_t retry_ms;   /* when not resolved: monotonic time to ask again */
  } projects[CLIENT_PROJECT_CACHE];
  size_t project_next; /* entry to replace next */
  person_markets_t *people; /* markets of the people who leased, for the lease order */
  lease_memo_t *leases;     /* tasks leased lately: named in submits and skips */

  int async_count; /* tally_async_t objects alive on this handle */
  char acting_for[72]; /* tally_act_for(): the envelope's acting_for, "" none */
  int last_code;
  char last_error[512];
};

/* Sets req->acting_for from tally_act_for() (a gateway acting for a person). */
void client_stamp(const tally_t *t, Tally__Envelope *req);

/* Records a failure (code and printf-style message) as the handle's last
 * error and returns `code`. */
/* Drops one reference to `io`; the last one terminates the context (every
 * socket of it must be closed by then). Safe on NULL. */
void client_io_release(client_io_t *io);

int client_error(tally_t *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the error of an ErrorReply envelope and returns its code. */
int client_reply_error(tally_t *t, const Tally__Envelope *reply);

/* Fetches the map from the coordinator and rebuilds routing. */
int client_refresh_map(tally_t *t);

/* Fetches the map unless one is cached. */
int client_ensure_map(tally_t *t);

/* Refreshes the map in the background when it is older than
 * CLIENT_MAP_MAX_AGE_MS: applies a reply that came in, sends a request
 * (at most one per CLIENT_MAP_MAX_AGE_MS, on its own DEALER) and, when it
 * just sent one, waits up to wait_ms for the reply. Never fails: without a
 * reply the handle keeps the map it has. */
void client_map_refresh_if_old(tally_t *t, int wait_ms);

/* client_recv_watching's answer when a newer map was applied meanwhile. */
#define CLIENT_MAP_CHANGED 1

/* Waits until monotonic `deadline` for one reply on `dealer` (0 with *out,
 * TIMEOUT, TRANSPORT) while following the map: from sent_ms +
 * CLIENT_WATCH_AFTER_MS on, fetches it in the background (at most once per
 * CLIENT_WATCH_EVERY_MS) and returns CLIENT_MAP_CHANGED as soon as a newer
 * one is applied (routing rebuilt), for the caller to decide whether its
 * request still goes to the right worker; it may call again to wait on. */
int client_recv_watching(tally_t *t, dealer_t *dealer, uint64_t sent_ms, uint64_t deadline,
                         Tally__Envelope **out);

/* True when the handle's map marks the worker behind `peer` DOWN. */
int client_peer_down(const tally_t *t, size_t peer);

/* What a waiting request watches the map for: the worker of `peer` going
 * DOWN (a failover declares the dead primary DOWN and promotes its
 * followers in the same map); `slot` (>= TALLY_SLOT_COUNT: none) is where
 * the request is re-routed; watching starts quiet_ms later than usual (a
 * lease's long poll). */
typedef struct {
  uint32_t slot;
  size_t peer;
  int quiet_ms;
} client_watch_t;

/* 0 when `slot` can be routed (it has an owner that is not DOWN), else
 * UNAVAILABLE with a message naming the slot (and its owner) and saying to
 * retry. */
int client_slot_check(tally_t *t, uint32_t slot);

/* The id of project `name` for matching backlog hints, asked once from the
 * coordinator and cached; 0 for NULL or "" and while it cannot be resolved
 * (then hints of every project count). Leaves the handle's last error as it
 * was. */
uint32_t client_project_id(tally_t *t, const char *name);

/* A random number from the handle's generator (seeded per handle). */
uint64_t client_random(tally_t *t);

/* Index of the peer with `endpoint`, added if new; negative on error. */
int client_peer_add(tally_t *t, const char *endpoint);

/* The CURVE settings of a connection to a daemon whose key is
 * `server_key`: fills *buf and returns it, or NULL for a plain handle. */
const curve_client_t *client_curve_to(const tally_t *t, const char *server_key,
                                      curve_client_t *buf);

/* Routes `slot` to the peer at `endpoint` until the next map refresh. */
void client_route_override(tally_t *t, uint32_t slot, const char *endpoint);

/* The blocking DEALER of a peer, created on first use. */
int client_peer_dealer(tally_t *t, size_t peer, dealer_t **out);

/* Drops a peer's blocking DEALER (and what is queued on it). */
void client_peer_reset(tally_t *t, size_t peer);

/* One round trip on `dealer` (named `endpoint` in messages). Returns 0 with
 * *reply of body `expect`, or an error (recorded) with *reply NULL — except
 * that on MOVED *moved (if not NULL) receives the ErrorReply envelope for the
 * caller to read and free. */
int client_roundtrip(tally_t *t, dealer_t *dealer, Tally__Envelope *req,
                     Tally__Envelope__BodyCase expect, int timeout_ms, Tally__Envelope **reply,
                     Tally__Envelope **moved);

/* client_roundtrip, following the map while it waits when `watch` is not
 * NULL (client_recv_watching): when a new map declares watch->peer's
 * worker DOWN, the wait ends at once with MOVED when the slot has a new
 * owner (a failover promoted a follower: "slot S went to worker W ...";
 * *moved stays NULL, the handle's routing already names it), with
 * client_slot_check's UNAVAILABLE when nobody was promoted, and without a
 * slot with UNAVAILABLE. The peer's connection is then reset (what is
 * queued for it is dropped); the request may or may not have reached it,
 * as after a TIMEOUT, and the caller may send it again. A worker that is
 * not DOWN is waited for until the timeout (a slot that merely moved is
 * answered MOVED by it). */
int client_roundtrip_watch(tally_t *t, dealer_t *dealer, Tally__Envelope *req,
                           Tally__Envelope__BodyCase expect, int timeout_ms, Tally__Envelope **reply,
                           Tally__Envelope **moved, const client_watch_t *watch);

/* After a slot request's last TIMEOUT: adds to the handle's message what
 * the map says of the slot (still listed with the silent worker as owner,
 * with or without an in-sync follower to promote, or changed hands). */
void client_timeout_explain(tally_t *t, uint32_t slot, int peer);

/* A request to the coordinator, retried on UNAVAILABLE (RETRY_FOR_COORDINATOR).
 * With replicated coordinators it finds the leader: NOT_LEADER is followed
 * to the endpoint it names, or (none named, or no reply from a coordinator
 * of a list) the next endpoint is tried after CLIENT_LEADER_PAUSE_MS, for
 * up to CLIENT_LEADER_SEARCH_MS (or the timeout, if longer); then
 * UNAVAILABLE "no leader coordinator answered ...". A request re-sent after
 * a coordinator did not reply may have taken effect there (a create then
 * answers ALREADY_EXISTS). */
int client_call_coordinator(tally_t *t, Tally__Envelope *req, Tally__Envelope__BodyCase expect,
                            Tally__Envelope **reply);

/* The same with its own reply timeout (reports wait for the workers). */
int client_call_coordinator_within(tally_t *t, Tally__Envelope *req, Tally__Envelope__BodyCase expect,
                                   int timeout_ms, Tally__Envelope **reply);

/* A request to one peer, retried on UNAVAILABLE (with backoff), TIMEOUT
 * (once, on a fresh connection) and configuration lag (RETRY_FOR_WORKER). */
int client_call_peer(tally_t *t, size_t peer, Tally__Envelope *req, Tally__Envelope__BodyCase expect,
                     Tally__Envelope **reply);

/* One worker's answer to a request sent to every worker (client_scatter). */
typedef struct {
  uint32_t worker_id;
  char *endpoint;         /* owned; NULL when out of memory */
  int skipped;            /* down and owning no slots: not asked, not a failure */
  int code;               /* 0, or why there is no reply */
  char *error;            /* message when code != 0 (owned) */
  Tally__Envelope *reply; /* of the expected body when code == 0 and !skipped (owned) */
} client_answer_t;

/* True if a worker of the map must be asked for data that lives in slots:
 * it is not down, or it is down but still owns slots (then it counts as a
 * failure). */
int client_worker_is_needed(const Tally__WorkerInfo *info);

/* Sends `req` (its body set; version and request id are overwritten) to
 * every worker of a freshly fetched map at once and waits up to the
 * handle's timeout for the replies. Returns 0 with *answers, one per map
 * worker in map order (client_answers_free), or the map's error. */
int client_scatter(tally_t *t, Tally__Envelope *req, Tally__Envelope__BodyCase expect, client_answer_t **answers,
                   size_t *count);
void client_answers_free(client_answer_t **answers, size_t count);

/* A request about `slot`, sent to its owner and retried on MOVED (after a
 * map refresh, to the owner the error names), UNAVAILABLE (with backoff),
 * TIMEOUT (once, after a map refresh) and configuration lag
 * (RETRY_FOR_SLOT). timeout_ms <= 0 uses the handle's. */
int client_call_slot(tally_t *t, uint32_t slot, Tally__Envelope *req,
                     Tally__Envelope__BodyCase expect, int timeout_ms, Tally__Envelope **reply);

/* Fills a submit request (strings borrowed; NULL is ""). */
/* Names the task of `lease_id` (project, item, stage) in a submit or skip
 * when the handle leased it lately (lease_memo.h); strings borrowed from
 * the memo until the next lease. */
void client_lease_name(tally_t *t, uint64_t lease_id, char **project, char **item_id,
                       Tally__Stage *stage);

void client_submit_init(Tally__SubmitRequest *body, const char *labeler, uint32_t slot, uint64_t lease_id,
                        const char *label, uint32_t handling_ms);

/* True for the attributions a verdict request may carry: NONE (the worker
 * derives who was wrong from the final label) or POLICY_UNCLEAR; LABELER,
 * AUDITOR and BOTH are sent as older clients did and ignored by the worker. */
int client_attribution_is_valid(tally_attribution_t attribution);

/* Sleeps for ms milliseconds. */
void client_sleep_ms(int ms);

#endif
