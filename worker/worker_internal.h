/* worker_internal: the worker's state, shared by worker.c (loop, group
 * commit, recovery), labeling.c (the labeling cycle) and
 * coordinator_link.c (registration, heartbeats, config). Not a public API.
 */
#ifndef TALLY_WORKER_INTERNAL_H
#define TALLY_WORKER_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "config_cache.h"
#include "item_cache.h"
#include "dealer.h"
#include "endpoint_list.h"
#include "fatal.h"
#include "identity.h"
#include "lease_table.h"
#include "metrics_http.h"
#include "queue_index.h"
#include "refresh_wait.h"
#include "reply_queue.h"
#include "responder.h"
#include "router.h"
#include "row_cache.h"
#include "slot.h"
#include "store.h"
#include "tally.pb-c.h"
#include "worker.h"
#include "worker_metrics.h"

/* A lease request parked until work arrives or its wait runs out. */
typedef struct {
  uint8_t peer[256];
  size_t peer_len;
  uint64_t request_id;
  uint64_t deadline_ms; /* monotonic */
  char labeler[65];
  char project[65];
  uint32_t stage;
} waiter_t;

/* A fetch of the configuration or the map from the coordinator
 * (coordinator_link.c). Fetches are numbered from 1 per kind; at most one
 * is in flight (sent > answered). */
typedef struct {
  uint64_t sent;       /* number of the last fetch sent */
  uint64_t answered;   /* number of the last fetch answered, refused or timed out */
  uint64_t wanted;     /* the highest number a parked request waits for */
  uint64_t request_id; /* of the fetch in flight */
  uint64_t sent_ms;    /* monotonic, of the fetch in flight */
} link_fetch_t;

/* The request being handled (worker.c), so that a handler may ask to wait
 * for a fetch (worker_await_refresh). */
typedef struct {
  router_request_t *req; /* NULL outside worker.c's handling of a request */
  int may_wait;          /* 0 when it waited once already */
  int pending;           /* store_pending() and batch_dirty when it began: */
  int dirty;             /* a request that changed something cannot wait */
  int awaiting;          /* it asked to wait: park it once its handler returns */
  refresh_kind_t kind;
  uint64_t fetch;
} request_handling_t;

/* responder.h's responder: the worker and the request in hand. */
struct responder {
  struct worker *w;
  const router_request_t *req;
};

/* Counters of one project on this worker; persisted with every batch
 * (tally.store.ProjectCounters) except live_leases, which recovery counts. */
typedef struct {
  uint32_t project_id;
  uint64_t items;
  uint64_t labels;
  uint64_t done;
  uint64_t expired_leases;
  uint64_t skips;
  uint64_t releases;
  uint64_t live_leases;
} project_counters_t;

/* Identity and sequences persisted with every batch (tally.store.WorkerMeta).
 * Lease ids are worker id (16 bits) | incarnation (16 bits) | next_lease
 * (32 bits): the incarnation is raised and synced at every start (and when
 * next_lease runs out), so no lease id is handed out twice. */
typedef struct {
  uint32_t worker_id;
  uint64_t next_seq;
  uint64_t next_lease; /* of this incarnation; not persisted */
  uint64_t incarnation;
} worker_counters_t;

#define WORKER_LEASE_WORKER(id) ((uint32_t)((id) >> 48))
#define WORKER_LEASE_INCARNATION(id) ((uint32_t)(((id) >> 32) & 0xffffu))

struct worker {
  uv_loop_t *loop;
  void *zmq_ctx;
  router_t *router;
  store_t *store;
  queue_index_t *queues;
  lease_table_t *leases;
  struct gold_mix *gold; /* gold_mix.h: when each person's next gold task is due */
  config_cache_t *config;
  worker_counters_t counters;
  uint64_t incarnation_batch; /* the batch (w->written) holding the incarnation */
  project_counters_t *projects; /* one per project seen on this worker */
  size_t n_projects, cap_projects;
  int batch_dirty; /* counters or depths changed in the open batch */
  /* Batches written to storage since start, and how many of them are
   * known durable (WAL synced). written - durable batches are in the
   * database (readable) but not yet acknowledged to anyone. */
  uint64_t written;
  uint64_t durable;

  /* Slot map as last received (cached in storage). owned[s]: the map gives
   * slot s to this worker and no move of it is under way, i.e. the slot is
   * served and its state is in memory (worker/slot_state.h). */
  Tally__ClusterMap *map; /* owned, may be NULL */
  uint8_t owned[TALLY_SLOT_COUNT];
  int slots_loaded; /* start-up recovery done: map changes load/unload slots */
  struct slot_moves *moves; /* worker/slot_move.c */
  struct replication *repl; /* worker/replication.c */

  /* Group commit: the open batch is sealed when a group ends and no write
   * is running (else when the write ends) and written, WAL synced, on the
   * thread pool, one write at a time (store_seal, store_write_sealed);
   * replies wait in `replies` until their batch is durable, except those
   * of leases and releases (reply_queue.h). */
  reply_queue_t *replies;
  uv_work_t write_work;
  int write_running;
  int flush_due; /* the tick asks the next group to write the open batch */
  uint64_t write_target; /* the batch number (w->written) being written */
  int write_rc;
  uint64_t write_ns; /* how long it took; set on the pool thread, read in the
                      * after-work callback (uv_queue_work orders the two) */
  waiter_t *waiters;
  size_t n_waiters, cap_waiters;
  int work_added; /* something was queued since waiters were last tried */

  /* Coordinator link. */
  dealer_t *coordinator;
  uv_poll_t coordinator_poll;
  uv_timer_t fetch_kick; /* looks at the socket again after a fetch is sent */
  int registered;
  uint64_t last_register_ms;
  uint64_t last_heartbeat_ms;
  uint64_t last_coordinator_reply_ms;
  /* Replicated coordinators (--coordinator with a list): the dealer talks
   * to coordinators.current; it moves to the leader NOT_LEADER names, or to
   * the next after a pause, or when the one in use stays silent. */
  endpoint_list_t coordinators;
  uint64_t coordinator_since_ms; /* when the dealer was pointed at the current one */
  uint64_t coordinator_next_ms;  /* 0, or when to move on to the next one */
  link_fetch_t fetch[REFRESH_KINDS]; /* by refresh_kind_t */
  /* Requests waiting for a fetch (refresh_wait.h), and the one in hand. */
  refresh_wait_t *parked;
  request_handling_t handling;

  item_cache_t *items; /* records written last, write-through (item_cache.h) */

  /* Handler objects built from the store and caches (x_new/x_destroy). */
  struct cases *cases;         /* cases.h */
  struct quality *quality;     /* quality.h */
  struct ops *ops;             /* ops.h */
  struct wellbeing *wellbeing; /* wellbeing.h */

  /* Hot aggregate rows, written back once per batch (row_cache.h). */
  row_cache_t *stats_rows; /* STORE_CF_STATS, quality.c */
  row_cache_t *ops_rows;   /* STORE_CF_OPS, ops.c */

  /* Who is asking (identity.h): keys, ZAP, the per-person lease cap; and
   * the effective identity of the request being handled. */
  worker_identity_t *identity;
  identity_t caller;
  responder_t responder; /* for the request in hand (worker_responder) */

  /* Disk full (worker.c, "Disk full"): writes are refused until a reopen
   * of the store succeeds; checked every WORKER_NO_SPACE_CHECK_MS. */
  int no_space;
  uint64_t no_space_checked_ms; /* monotonic */

  /* --metrics-listen (worker_metrics.h); both NULL when off. */
  worker_metrics_t *metrics;
  metrics_http_t *metrics_http;

  uv_timer_t tick;
  char endpoint[256];
  char *endpoint_file;
  char *coordinator_endpoint;
  uint32_t heartbeat_ms;
  int stopping;
};

/* --- worker.c ---------------------------------------------------------- */

/* Encodes `env` as the reply to (peer, request id already set in env) and
 * queues it until the group commits. Never fails: an encoding failure is
 * turned into an INTERNAL error reply. */
void worker_reply(worker_t *w, const uint8_t *peer, size_t peer_len, const Tally__Envelope *env);

/* As worker_reply, for a reply that acknowledges nothing durable (a lease,
 * a release): it leaves at the end of the group that made it, in one burst
 * with the group's others, without waiting for the group's sync. */
void worker_reply_at_once(worker_t *w, const uint8_t *peer, size_t peer_len,
                          const Tally__Envelope *env);

/* Raises the incarnation when next_lease runs out; replies sent at once
 * wait for the batch that holds it (start-up raises it synchronously). */
void worker_new_incarnation(worker_t *w);

/* Queues an error reply; `fmt` (printf) explains what was wrong. */
void worker_reply_error(worker_t *w, const uint8_t *peer, size_t peer_len, uint64_t request_id,
                        int code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Queues the reply to a request that scanned storage: `env`, or, when the
 * scan failed (`scan_rc` < 0, from store_iter_error), a STORAGE error
 * instead, since what it read is incomplete. */
void worker_reply_scan(worker_t *w, const router_request_t *req, const Tally__Envelope *env,
                       int scan_rc);

/* Sends the held replies whose batches are durable and, for those that
 * wait for replication, acknowledged by the in-sync followers
 * (replication.h). */
void worker_release_replies(worker_t *w);

/* Writes the counters and everything pending now and syncs the WAL, on
 * this thread, so that every batch written so far is durable on return
 * (outside groups, for the rare writes that must be durable before the
 * next step, e.g. a slot's freeze). Replies held for them are sent. A
 * failed write ends the process, also for lack of space: the caller cannot
 * go on without it. */
void worker_commit_now(worker_t *w);

/* Puts the cached aggregate rows into the open batch (before anything
 * reads the statistics or operations families from storage); with
 * `forget`, also drops them (before writing those families around the
 * caches). */
void worker_rows_flush(worker_t *w, int forget);

/* Counters of `project_id` on this worker, created at zero on first use. */
project_counters_t *worker_project(worker_t *w, uint32_t project_id);

/* Sum of every project's counters into *total (project_id 0). */
void worker_project_total(const worker_t *w, project_counters_t *total);

/* For a handler whose request names a project or labeler the configuration
 * does not know (REFRESH_CONFIG), or a slot the map does not give this
 * worker (REFRESH_MAP): the coordinator may know better. Returns 1 when the
 * request is to wait for a fetch (coordinator_link_fetch) and be handled
 * again after it (refresh_wait.h): the handler must return without changing
 * anything more; whatever it replies is dropped. Returns 0 when it cannot
 * wait: it waited once already, it changed something already, it is not a
 * client's request, the coordinator is away, or too many wait. The handler
 * then answers with what the worker knows. Never blocks. */
int worker_await_refresh(worker_t *w, refresh_kind_t kind);

/* The responder for `req` (responder.h), handed to handler objects;
 * valid until the next call. responder.c. */
responder_t *worker_responder(worker_t *w, const router_request_t *req);

/* Runs one group now: requests, expiries, waiters, commit, replies. */
void worker_run_group(worker_t *w);


/* --- labeling.c -------------------------------------------------------- */

/* The labeling cycle's request handlers (dispatch.c calls them after the
 * caller is authorized): each replies (worker_reply*) exactly once, or parks
 * a lease request as a waiter. */
void labeling_handle_ingest(worker_t *w, const router_request_t *req);
void labeling_handle_lease(worker_t *w, const router_request_t *req);
void labeling_handle_submit(worker_t *w, const router_request_t *req);
void labeling_handle_skip(worker_t *w, const router_request_t *req);
void labeling_handle_release(worker_t *w, const router_request_t *req);
void labeling_handle_status(worker_t *w, const router_request_t *req);
void labeling_handle_item_get(worker_t *w, const router_request_t *req);

/* Replies UNAVAILABLE or MOVED (with the owner's endpoint) and returns 0
 * when this worker does not own `slot`, after refreshing a possibly stale
 * map once; returns 1 when it owns it. */
int labeling_slot_check(worker_t *w, const router_request_t *req, uint32_t slot);

/* Returns every lease whose deadline has passed to its queue. */
void labeling_expire_leases(worker_t *w, uint64_t now_ms);

/* Tries parked lease requests: grants work or answers at their deadline. */
void labeling_serve_waiters(worker_t *w, uint64_t now_monotonic_ms);

/* Rebuilds queue heads of the served slots from storage (start-up, after
 * the cached map was applied). Leases are not stored: a start has none. */
int labeling_recover(worker_t *w);

/* Takes the live leases of `old` over into the (rebuilt, empty) lease
 * table, parking the queue entries they cover: after worker_rebuild(),
 * which rebuilds the indexes from storage but must not lose leases. */
void labeling_adopt_leases(worker_t *w, const lease_table_t *old);

/* --- coordinator_link.c ------------------------------------------------ */

/* Applies the map and configuration cached in storage (start-up, before
 * recovery). */
void coordinator_link_load_cached(worker_t *w);
int coordinator_link_start(worker_t *w);
void coordinator_link_stop(worker_t *w);
/* Called from the tick: registration retries, heartbeats, reading replies. */
void coordinator_link_tick(worker_t *w, uint64_t now_ms);
/* Asks the coordinator for its configuration (REFRESH_CONFIG) or map
 * (REFRESH_MAP) without waiting for the answer, which the loop applies when
 * it comes. At most one fetch of a kind is in flight: when one is, the next
 * is sent once it is over, so the answer a caller waits for was always asked
 * after its call. Returns the number of that fetch, to wait for with
 * refresh_wait_park(), or 0 when none can be had (the coordinator has not
 * answered lately, or its socket refuses more). Fetches that stay
 * unanswered 300 ms count as failed. */
uint64_t coordinator_link_fetch(worker_t *w, refresh_kind_t kind);

/* Applies a map (copied; ignored when older than the one held), recomputes
 * owned slots, loads or unloads slots whose ownership changed and finishes
 * slot moves (slot_move_on_map); persists it. */
void coordinator_link_apply_map(worker_t *w, const Tally__ClusterMap *map);

#endif
