/* worker: loop, group commit and recovery of one tally-worker. See worker.h. */
#include "worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cases.h"
#include "clock.h"
#include "dispatch.h"
#include "gold_mix.h"
#include "ident.h"
#include "log.h"
#include "ops.h"
#include "quality.h"
#include "replication.h"
#include "slot_move.h"
#include "tally_error.h"
#include "tally_store.pb-c.h"
#include "wellbeing.h"
#include "wire.h"
#include "worker_internal.h"

/* At most this many requests form one group; the rest wait for the next
 * (the router's idle handle calls again at once). Small groups let the loop
 * notice a finished write soon: it can only seal and hand over the next
 * batch, and send the replies the write made durable, between groups. At
 * 4 x 64 requests in flight, 32 instead of 4096 cut the time from a write's
 * end to the loop noticing it from about 1.1 ms to 0.4 ms and raised label
 * cycles/s by 12-18% (docs/PERFORMANCE.md, run I). Not below
 * WORKER_PIPELINE_MIN, or every group would sync on the loop. */
#ifndef WORKER_GROUP_MAX
#define WORKER_GROUP_MAX 32
#endif
/* A group of fewer requests syncs on the loop thread: under light load the
 * hand-offs to and from a pool thread cost more latency than the overlap
 * gains. Larger groups (load waiting) sync on the pool. */
#ifndef WORKER_PIPELINE_MIN
#define WORKER_PIPELINE_MIN 16
#endif
_Static_assert(WORKER_GROUP_MAX >= WORKER_PIPELINE_MIN, "a full group must take the pipeline");
/* 1: lease and release replies of a group that also holds replies waiting
 * for its sync leave with those, after the sync (one burst); 0: they leave
 * at the end of the group, before the sync (docs/PERFORMANCE.md, issue 18,
 * measured both). */
#ifndef WORKER_AT_ONCE_WITH_GROUP
#define WORKER_AT_ONCE_WITH_GROUP 0
#endif
#define WORKER_TICK_MS 50
/* Requests waiting for a configuration or map fetch (refresh_wait.h): how
 * long at most, how many in all and of one connection. A wait ends sooner
 * when the fetch is answered (a round trip to the coordinator); the bound
 * matters only while the coordinator is slow to answer. */
#define WORKER_REFRESH_WAIT_MS 300
#define WORKER_REFRESH_PARKED_MAX 1024
#define WORKER_REFRESH_PARKED_PER_CONNECTION 256
/* While the disk is full, how often the tick looks for free space. */
#define WORKER_NO_SPACE_CHECK_MS 1000
static const char WORKER_META_KEY[] = "meta";

void worker_reply(worker_t *w, const uint8_t *peer, size_t peer_len, const Tally__Envelope *env) {
  if (reply_queue_add(w->replies, peer, peer_len, env, 0) < 0)
    fatal_exit("out of memory for replies");
}

void worker_reply_at_once(worker_t *w, const uint8_t *peer, size_t peer_len,
                          const Tally__Envelope *env) {
  /* Lease ids of an incarnation not yet durable wait for it. */
  int at_once = w->durable >= w->incarnation_batch;
  if (reply_queue_add(w->replies, peer, peer_len, env, at_once) < 0)
    fatal_exit("out of memory for replies");
}

void worker_reply_error(worker_t *w, const uint8_t *peer, size_t peer_len, uint64_t request_id,
                        int code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  /* The message may quote request fields: never echo invalid UTF-8 or
   * control characters (ident.h). */
  char safe[sizeof message];
  ident_sanitize(message, 0, safe, sizeof safe);
  Tally__Envelope env;
  Tally__ErrorReply err;
  wire_error_init(&env, &err, request_id, code, safe);
  worker_reply(w, peer, peer_len, &env);
}

void worker_reply_scan(worker_t *w, const router_request_t *req, const Tally__Envelope *env,
                       int scan_rc) {
  if (scan_rc >= 0) {
    worker_reply(w, req->peer, req->peer_len, env);
    return;
  }
  worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_STORAGE,
                     "worker %u could not read its storage (see its log); nothing was changed",
                     w->counters.worker_id);
}

void worker_rows_flush(worker_t *w, int forget) {
  if (w->stats_rows) forget ? row_cache_clear(w->stats_rows) : (void)row_cache_flush(w->stats_rows);
  if (w->ops_rows) forget ? row_cache_clear(w->ops_rows) : (void)row_cache_flush(w->ops_rows);
}

/* Writes the cached rows, the counters and queue depths into the open batch. */
static void worker_put_meta(worker_t *w) {
  worker_rows_flush(w, 0);
  Tally__Store__WorkerMeta meta = TALLY__STORE__WORKER_META__INIT;
  meta.format = 1;
  meta.worker_id = w->counters.worker_id;
  meta.next_seq = w->counters.next_seq;
  meta.next_lease = w->counters.next_lease;
  meta.incarnation = w->counters.incarnation;
  size_t n = queue_index_count(w->queues);
  Tally__Store__QueueDepth *depths = calloc(n ? n : 1, sizeof *depths);
  Tally__Store__QueueDepth **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  if (depths == NULL || ptrs == NULL) fatal_exit("out of memory for meta");
  for (size_t i = 0; i < n; i++) {
    queue_t *q = queue_index_at(w->queues, i);
    tally__store__queue_depth__init(&depths[i]);
    depths[i].project_id = queue_project_id(q);
    depths[i].stage = queue_stage(q);
    depths[i].market = (char *)queue_market(q);
    /* Parked entries are stored entries: a restart offers them again. */
    depths[i].depth = queue_depth(q) + queue_parked(q);
    ptrs[i] = &depths[i];
  }
  meta.n_depths = n;
  meta.depths = ptrs;
  Tally__Store__ProjectCounters *projects = calloc(w->n_projects + 1, sizeof *projects);
  Tally__Store__ProjectCounters **project_ptrs = calloc(w->n_projects + 1, sizeof *project_ptrs);
  if (projects == NULL || project_ptrs == NULL) fatal_exit("out of memory for meta");
  for (size_t i = 0; i < w->n_projects; i++) {
    const project_counters_t *pc = &w->projects[i];
    tally__store__project_counters__init(&projects[i]);
    projects[i].project_id = pc->project_id;
    projects[i].items = pc->items;
    projects[i].labels = pc->labels;
    projects[i].done = pc->done;
    projects[i].expired_leases = pc->expired_leases;
    projects[i].skips = pc->skips;
    projects[i].releases = pc->releases;
    project_ptrs[i] = &projects[i];
  }
  meta.n_projects = w->n_projects;
  meta.projects = project_ptrs;
  size_t len = tally__store__worker_meta__get_packed_size(&meta);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) fatal_exit("out of memory for meta");
  tally__store__worker_meta__pack(&meta, buf);
  store_put(w->store, STORE_CF_DEFAULT, WORKER_META_KEY, sizeof WORKER_META_KEY - 1, buf, len);
  free(buf);
  free(ptrs);
  free(depths);
  free(projects);
  free(project_ptrs);
}

static int worker_load_meta(worker_t *w) {
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(w->store, STORE_CF_DEFAULT, WORKER_META_KEY, sizeof WORKER_META_KEY - 1,
                     &value, &len);
  if (rc <= 0) return rc;
  Tally__Store__WorkerMeta *meta = tally__store__worker_meta__unpack(NULL, len, (uint8_t *)value);
  free(value);
  if (meta == NULL || meta->format != 1) {
    log_error("worker meta record is unreadable (format %u)", meta ? meta->format : 0);
    if (meta) tally__store__worker_meta__free_unpacked(meta, NULL);
    return TALLY_E_STORAGE;
  }
  w->counters.worker_id = meta->worker_id;
  w->counters.next_seq = meta->next_seq;
  w->counters.incarnation = meta->incarnation;
  for (size_t i = 0; i < meta->n_projects; i++) {
    const Tally__Store__ProjectCounters *in = meta->projects[i];
    project_counters_t *pc = worker_project(w, in->project_id);
    pc->items = in->items;
    pc->labels = in->labels;
    pc->done = in->done;
    pc->expired_leases = in->expired_leases;
    pc->skips = in->skips;
    pc->releases = in->releases;
  }
  for (size_t i = 0; i < meta->n_depths; i++) {
    Tally__Store__QueueDepth *d = meta->depths[i];
    queue_t *q = queue_index_get(w->queues, d->project_id, d->stage, d->market, 1);
    if (q == NULL) fatal_exit("out of memory for queues");
    queue_set_depth(q, d->depth);
  }
  tally__store__worker_meta__free_unpacked(meta, NULL);
  return 1;
}

/* Sends the held replies whose batches are durable (and replicated),
 * oldest first. */
static void worker_release_held(worker_t *w) {
  reply_queue_release(w->replies, w->router, w->durable, replication_acked(w));
}

void worker_release_replies(worker_t *w) { worker_release_held(w); }

/* Something waits in the open batch (writes, or changed counters). */
static int worker_batch_open(worker_t *w) {
  return store_pending(w->store) > 0 || w->batch_dirty ||
         row_cache_dirty_count(w->stats_rows) > 0 || row_cache_dirty_count(w->ops_rows) > 0;
}

/* Writes the counters and the open batch, WAL synced, on this thread.
 * Returns 0 (every batch so far durable, held replies sent) or the store's
 * error (nothing acknowledged). */
static int worker_commit_sync(worker_t *w) {
  worker_put_meta(w);
  replication_on_batch(w, w->written + 1);
  uint64_t started = w->metrics ? uv_hrtime() : 0;
  int rc = store_commit(w->store, 1);
  if (rc < 0) return rc;
  if (w->metrics) worker_metrics_batch_written(w->metrics, uv_hrtime() - started, 0);
  w->batch_dirty = 0;
  w->written++;
  /* A synced write syncs the whole WAL, so earlier unsynced batches too. */
  w->durable = w->written;
  worker_release_held(w);
  return 0;
}

void worker_commit_now(worker_t *w) {
  if (worker_commit_sync(w) < 0) fatal_exit("storage write failed");
}

void worker_new_incarnation(worker_t *w) {
  w->counters.incarnation++;
  w->counters.next_lease = 1;
  w->batch_dirty = 1;
  /* The new incarnation is in the open batch: until that batch is durable,
   * replies carrying its lease ids wait for it like any write's. */
  w->incarnation_batch = w->written + 1;
}

project_counters_t *worker_project(worker_t *w, uint32_t project_id) {
  for (size_t i = 0; i < w->n_projects; i++)
    if (w->projects[i].project_id == project_id) return &w->projects[i];
  if (w->n_projects == w->cap_projects) {
    size_t cap = w->cap_projects ? w->cap_projects * 2 : 16;
    project_counters_t *grown = realloc(w->projects, cap * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory for counters");
    w->projects = grown;
    w->cap_projects = cap;
  }
  project_counters_t *pc = &w->projects[w->n_projects++];
  memset(pc, 0, sizeof *pc);
  pc->project_id = project_id;
  return pc;
}

void worker_project_total(const worker_t *w, project_counters_t *total) {
  memset(total, 0, sizeof *total);
  for (size_t i = 0; i < w->n_projects; i++) {
    const project_counters_t *pc = &w->projects[i];
    total->items += pc->items;
    total->labels += pc->labels;
    total->done += pc->done;
    total->expired_leases += pc->expired_leases;
    total->skips += pc->skips;
    total->releases += pc->releases;
    total->live_leases += pc->live_leases;
  }
}


/* Ends the group's replies: those of leases and releases leave now, the
 * others wait behind the batches written so far (what the group wrote is
 * in the open batch if it is not written yet). Returns how many wait. */
static size_t worker_hold_replies(worker_t *w) {
  int held = reply_queue_end_group(w->replies, w->router, w->written + worker_batch_open(w),
                                   WORKER_AT_ONCE_WITH_GROUP);
  if (held < 0) fatal_exit("out of memory for replies");
  return (size_t)held;
}

/* ------------------------------------------------------------ disk full
 *
 * The contract when a batch write fails because the file system is full
 * (TALLY_E_NO_SPACE from store_commit or store_write_sealed); any other
 * storage failure still ends the process (fatal_exit).
 *
 *  1. Nothing is half-acknowledged. The failed batch is not durable, and
 *     neither is the open batch behind it (later groups built it on top of
 *     the failed one's changes): both are dropped (store_discard). Replies
 *     are only ever sent for durable batches, so the replies still held are
 *     exactly those of the groups in the two dropped batches; each is
 *     replaced by a NO_SPACE error, reads of those groups included (they
 *     may have seen dropped changes).
 *  2. The memory is made what a restart would build from storage
 *     (worker_rebuild): counters and queue depths from the last durable
 *     meta record, queue heads of the served slots, item and row caches
 *     emptied; the live leases (memory only) are kept, those whose item
 *     is not durable dropped. The sequences
 *     (next_seq, next_lease) never go back, so no id is handed out twice.
 *  3. The worker is then full (w->no_space) and writes nothing: requests
 *     that write are refused up front with NO_SPACE (labeling.c: ingest,
 *     submit, skip, release, slot chunks), a lease that finds a task is
 *     refused with NO_SPACE (one that finds none answers as usual), expired
 *     leases wait; reads (status, item, reports, exports, cases) are served.
 *     Should something still write (a map or config change persisted), its
 *     batch fails fast the same way and steps 1-2 repeat.
 *  4. Every WORKER_NO_SPACE_CHECK_MS the tick asks store_has_room(); once
 *     space is back it reopens the database (RocksDB keeps the write error
 *     until then), rebuilds the memory again and serves writes: no restart.
 *     A reopen that fails ends the process; a restart then says why.
 *
 * A write that must be durable at once outside groups (worker_commit_now:
 * the registration's worker id, a slot move's freeze or hand-over) ends the
 * process when it fails, also for lack of space: its caller cannot go on.
 */

/* Rebuilds the in-memory state from storage as start-up does (step 2). */
static int worker_rebuild(worker_t *w) {
  item_cache_clear(w->items);
  worker_rows_flush(w, 1);
  queue_index_destroy(&w->queues);
  /* Leases are not in storage: they are kept and taken over below. */
  lease_table_t *leases = w->leases;
  w->queues = queue_index_new();
  w->leases = lease_table_new();
  if (w->queues == NULL || w->leases == NULL) fatal_exit("out of memory rebuilding the indexes");
  worker_counters_t kept = w->counters;
  w->n_projects = 0;
  int rc = worker_load_meta(w);
  if (rc >= 0) rc = labeling_recover(w);
  if (rc >= 0) rc = quality_recover(w->quality);
  if (rc >= 0) labeling_adopt_leases(w, leases);
  lease_table_destroy(&leases);
  if (w->counters.next_seq < kept.next_seq) w->counters.next_seq = kept.next_seq;
  if (w->counters.incarnation < kept.incarnation) w->counters.incarnation = kept.incarnation;
  w->counters.next_lease = kept.next_lease;
  w->batch_dirty = 0;
  w->work_added = 1;
  return rc < 0 ? rc : 0;
}

/* A batch write failed for lack of space (steps 1-3). */
static void worker_on_no_space(worker_t *w) {
  if (!w->no_space)
    log_error("disk full (or a quota or file size limit reached): writes are refused until "
              "space is freed; reads go on; appends of the slots this worker follows are "
              "refused (NO_SPACE), so their primaries take it out of the in-sync sets");
  w->no_space = 1;
  w->no_space_checked_ms = clock_monotonic_ms();
  worker_release_held(w); /* what is durable goes out as usual */
  store_discard(w->store);
  w->written = w->durable;
  /* Followers may hold what was just dropped: they are copied again. */
  replication_resync_all(w, "the primary dropped a batch (disk full)");
  reply_queue_fail_held(w->replies, w->router); /* NO_SPACE instead */
  if (worker_rebuild(w) < 0) fatal_exit("cannot rebuild the indexes from storage");
}

/* While full: reopens the store once there is room again (step 4). */
static void worker_space_check(worker_t *w, uint64_t now) {
  if (!w->no_space || w->write_running || worker_batch_open(w) ||
      reply_queue_held(w->replies) > 0 ||
      now < w->no_space_checked_ms + WORKER_NO_SPACE_CHECK_MS)
    return;
  w->no_space_checked_ms = now;
  if (!store_has_room(w->store)) return;
  if (store_reopen(w->store) < 0) fatal_exit("cannot reopen storage after the disk was full");
  w->no_space = 0;
  if (worker_rebuild(w) < 0) fatal_exit("cannot rebuild the indexes from storage");
  log_info("space has returned: storage reopened, writes are served again");
}

static void worker_start_write(worker_t *w);

static void worker_write_run(uv_work_t *work) {
  worker_t *w = work->data;
  uint64_t started = w->metrics ? uv_hrtime() : 0;
  w->write_rc = store_write_sealed(w->store);
  if (w->metrics) w->write_ns = uv_hrtime() - started;
}

static void worker_write_done(uv_work_t *work, int status) {
  worker_t *w = work->data;
  w->write_running = 0;
  if (status == 0 && w->write_rc == TALLY_E_NO_SPACE) {
    worker_on_no_space(w);
    return;
  }
  if (status != 0 || w->write_rc < 0) fatal_exit("storage write failed");
  store_release_sealed(w->store);
  worker_metrics_batch_written(w->metrics, w->write_ns, 1);
  if (w->write_target > w->durable) w->durable = w->write_target;
  /* What the groups put into the open batch meanwhile goes next. */
  if (!w->stopping) worker_start_write(w);
  worker_release_held(w);
}

/* Seals the open batch and writes it, WAL synced, on the thread pool, when
 * it holds something and no write is running. The loop goes on processing
 * groups into a new open batch meanwhile; their reads see the sealed batch
 * (store.h), and the memtable inserts and the sync are off the loop. */
static void worker_start_write(worker_t *w) {
  if (w->write_running || !worker_batch_open(w)) return;
  worker_put_meta(w);
  replication_on_batch(w, w->written + 1);
  if (store_seal(w->store) != 1) fatal_exit("cannot seal the storage batch");
  w->batch_dirty = 0;
  w->written++;
  w->write_work.data = w;
  w->write_target = w->written;
  w->write_rc = 0;
  if (uv_queue_work(w->loop, &w->write_work, worker_write_run, worker_write_done) != 0)
    fatal_exit("cannot start a storage write");
  w->write_running = 1;
}

int worker_await_refresh(worker_t *w, refresh_kind_t kind) {
  request_handling_t *h = &w->handling;
  if (h->awaiting) return 1;
  if (h->req == NULL || !h->may_wait) return 0;
  /* Handled again from the start later, so it must not have changed
   * anything yet. */
  if (store_pending(w->store) != h->pending || w->batch_dirty != h->dirty) return 0;
  if (!refresh_wait_has_room(w->parked, h->req->peer, h->req->peer_len)) return 0;
  uint64_t fetch = coordinator_link_fetch(w, kind);
  if (fetch == 0) return 0;
  h->awaiting = 1;
  h->kind = kind;
  h->fetch = fetch;
  return 1;
}

/* Handles one request of the group, or parks it when its handler asked to
 * wait for a fetch (worker_await_refresh; only when `may_wait`). */
static void worker_handle_request(worker_t *w, router_request_t *req, int may_wait) {
  size_t replies = reply_queue_group_count(w->replies);
  w->handling = (request_handling_t){.req = req,
                                     .may_wait = may_wait,
                                     .pending = store_pending(w->store),
                                     .dirty = w->batch_dirty};
  /* A parked request's second run is tagged again (its bytes count twice;
   * its first run's replies were dropped, so it is answered once). */
  worker_metrics_request_begin(w->metrics, req);
  dispatch_request(w, req);
  request_handling_t h = w->handling;
  memset(&w->handling, 0, sizeof w->handling);
  if (!h.awaiting) return;
  reply_queue_group_truncate(w->replies, replies);
  uint64_t deadline = clock_monotonic_ms() + WORKER_REFRESH_WAIT_MS;
  if (refresh_wait_park(w->parked, req, h.kind, h.fetch, deadline) < 0)
    fatal_exit("out of memory parking a request"); /* room was checked */
}

void worker_run_group(worker_t *w) {
  if (w->stopping) return;
  router_request_t req;
  int n = 0;
  /* Requests whose fetch is over or whose wait ran out go first, once. */
  uint64_t now = clock_monotonic_ms();
  while (n < WORKER_GROUP_MAX && refresh_wait_take_ready(w->parked, now, &req) == 1) {
    worker_handle_request(w, &req, 0);
    router_request_clear(&req);
    n++;
  }
  while (n < WORKER_GROUP_MAX && router_recv(w->router, &req) == 1) {
    worker_handle_request(w, &req, 1);
    router_request_clear(&req);
    n++;
  }
  worker_metrics_group(w->metrics, (size_t)n);
  labeling_expire_leases(w, clock_now_ms());
  worker_metrics_parked_begin(w->metrics);
  labeling_serve_waiters(w, clock_monotonic_ms());
  worker_metrics_request_end(w->metrics);
  /* While a write runs, the open batch collects the following groups; it is
   * sealed and written when the write ends, so there is one write and one
   * sync per round, as with a blocking commit, but the loop keeps working
   * while the pool thread fills the memtables and the disk syncs. */
  size_t held = worker_hold_replies(w);
  /* Nothing of this group waits for durability (leases, releases, expiries
   * change counters and operations rows only): its changes stay in the open
   * batch for the next group that needs a sync, or the tick's write, so
   * such groups cost no sync. */
  int flush = w->flush_due;
  w->flush_due = 0;
  if (held == 0) {
    if (flush) worker_start_write(w); /* on the pool: nobody waits for it */
    return;
  }
  if (!w->write_running && n < WORKER_PIPELINE_MIN && worker_batch_open(w)) {
    int rc = worker_commit_sync(w); /* light load: write here, reply at once */
    if (rc == TALLY_E_NO_SPACE) worker_on_no_space(w);
    else if (rc < 0) fatal_exit("storage write failed");
    return;
  }
  worker_start_write(w);
  worker_release_held(w);
}

static void worker_on_requests(router_t *router, void *user) {
  (void)router;
  worker_run_group(user);
}

static void worker_on_tick(uv_timer_t *timer) {
  worker_t *w = timer->data;
  worker_space_check(w, clock_monotonic_ms());
  coordinator_link_tick(w, clock_monotonic_ms());
  /* What groups left in the open batch (counters, operations rows of
   * leases) is written at least once per tick. */
  w->flush_due = 1;
  worker_run_group(w);
}

static int write_endpoint_file(const char *path, const char *endpoint) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return TALLY_E_IO;
  fprintf(f, "%s\n", endpoint);
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
    fclose(f);
    return TALLY_E_IO;
  }
  fclose(f);
  return rename(tmp, path) == 0 ? 0 : TALLY_E_IO;
}

/* With `listen` (HOST:PORT), makes the metrics and serves them there. */
static int worker_metrics_start(worker_t *w, const char *listen) {
  if (listen == NULL) return 0;
  int rc = worker_metrics_new(&w->metrics, w);
  if (rc == 0)
    rc = metrics_http_new(&w->metrics_http, w->loop, listen, worker_metrics_registry(w->metrics));
  if (rc == TALLY_E_INVALID_ARGUMENT) log_error("--metrics-listen %s is not HOST:PORT", listen);
  if (rc == 0) log_info("metrics on http://%s/metrics", metrics_http_address(w->metrics_http));
  if (rc == 0) reply_queue_set_metrics(w->replies, w->metrics);
  return rc;
}

int worker_new(worker_t **out, uv_loop_t *loop, const worker_options_t *o) {
  *out = NULL;
  worker_t *w = calloc(1, sizeof *w);
  if (w == NULL) return TALLY_E_NOMEM;
  w->loop = loop;
  w->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : 500;
  w->coordinator_endpoint = strdup(o->coordinator);
  w->endpoint_file = o->endpoint_file ? strdup(o->endpoint_file) : NULL;
  w->queues = queue_index_new();
  w->leases = lease_table_new();
  uint64_t gold_seed = 0;
  if (getrandom(&gold_seed, sizeof gold_seed, 0) != (ssize_t)sizeof gold_seed) gold_seed = clock_now_ms();
  w->gold = gold_mix_new(gold_seed);
  w->config = config_cache_new();
  w->parked = refresh_wait_new(WORKER_REFRESH_PARKED_MAX, WORKER_REFRESH_PARKED_PER_CONNECTION);
  w->replies = reply_queue_new();
  w->counters.next_seq = 1;
  w->counters.next_lease = 1;
  if (!w->coordinator_endpoint || !w->queues || !w->leases || !w->gold || !w->config || !w->parked ||
      !w->replies)
    goto nomem;

  if (mkdir(o->dir, 0755) != 0 && errno != EEXIST) {
    log_error("cannot create %s: %s", o->dir, strerror(errno));
    worker_destroy(&w);
    return TALLY_E_IO;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/data", o->dir);
  int rc = store_open(&w->store, path);
  if (rc == 0) {
    w->stats_rows = row_cache_new(w->store, STORE_CF_STATS, &tally__stats_row__descriptor, 8192);
    w->ops_rows = row_cache_new(w->store, STORE_CF_OPS, &tally__ops_row__descriptor, 256);
    w->items = item_cache_new(12);
    w->cases = cases_new(w->store, w->config, w->owned);
    w->quality = quality_new(w->store, w->stats_rows, w->config, w->owned);
    w->ops = ops_new(w->store, w->ops_rows, w->config, w->queues);
    w->wellbeing = wellbeing_new(w->store, w->config, &w->map, &w->counters.worker_id);
    if (w->stats_rows == NULL || w->ops_rows == NULL || w->items == NULL || w->cases == NULL ||
        w->quality == NULL || w->ops == NULL || w->wellbeing == NULL)
      rc = TALLY_E_NOMEM;
  }
  if (rc == 0) rc = worker_load_meta(w);
  if (rc >= 0) rc = slot_move_open(w);
  if (rc >= 0) rc = replication_open(w);
  if (rc >= 0) coordinator_link_load_cached(w);
  if (rc >= 0) rc = labeling_recover(w);
  w->slots_loaded = 1;
  if (rc >= 0) rc = quality_recover(w->quality);
  if (rc >= 0) {
    /* A new incarnation, durable before any lease of it is handed out. */
    w->counters.incarnation++;
    w->counters.next_lease = 1;
    rc = worker_commit_sync(w);
  }
  if (rc < 0) {
    worker_destroy(&w);
    return rc;
  }
  project_counters_t total;
  worker_project_total(w, &total);
  log_info("storage open: worker id %u, incarnation %llu, %llu items, %zu queues",
           w->counters.worker_id, (unsigned long long)w->counters.incarnation,
           (unsigned long long)total.items, queue_index_count(w->queues));

  w->zmq_ctx = zmq_ctx_new();
  if (w->zmq_ctx == NULL) goto nomem;
  rc = identity_new(&w->identity, o, w->zmq_ctx);
  if (rc < 0) {
    worker_destroy(&w);
    return rc;
  }
  identity_refresh(w->identity, config_cache_config(w->config), w->map);
  rc = router_new(&w->router, loop, w->zmq_ctx, o->bind, identity_server_keys(w->identity),
                  worker_on_requests, w);
  if (rc < 0) {
    worker_destroy(&w);
    return rc;
  }
  uint32_t rate = o->max_request_rate ? o->max_request_rate : WORKER_DEFAULT_REQUEST_RATE;
  if (router_set_rate_limit(w->router, rate, rate / 4.0) < 0) goto nomem;
  snprintf(w->endpoint, sizeof w->endpoint, "%s",
           o->advertise ? o->advertise : router_endpoint(w->router));
  rc = worker_metrics_start(w, o->metrics_listen);
  if (rc == 0) rc = coordinator_link_start(w);
  if (rc < 0) {
    worker_destroy(&w);
    return rc;
  }
  replication_on_map(w); /* streams of the cached map's primary slots */
  uv_timer_init(loop, &w->tick);
  w->tick.data = w;
  uv_timer_start(&w->tick, worker_on_tick, WORKER_TICK_MS, WORKER_TICK_MS);
  if (w->endpoint_file && write_endpoint_file(w->endpoint_file, w->endpoint) < 0) {
    log_error("cannot write endpoint file %s", w->endpoint_file);
    worker_stop(w);
    *out = w;
    return TALLY_E_IO;
  }
  log_info("serving on %s (coordinator %s)", w->endpoint, w->coordinator_endpoint);
  *out = w;
  return 0;
nomem:
  worker_destroy(&w);
  return TALLY_E_NOMEM;
}

void worker_stop(worker_t *w) {
  if (w == NULL || w->stopping) return;
  w->stopping = 1;
  log_info("stopping: %llu batches written since the start, each WAL synced",
           (unsigned long long)w->written);
  metrics_http_destroy(&w->metrics_http);
  router_destroy(&w->router);
  coordinator_link_stop(w);
  slot_move_close(w);
  replication_close(w);
  if (uv_is_active((uv_handle_t *)&w->tick) || w->tick.loop) uv_close((uv_handle_t *)&w->tick, NULL);
}

void worker_destroy(worker_t **worker) {
  if (worker == NULL || *worker == NULL) return;
  worker_t *w = *worker;
  metrics_http_destroy(&w->metrics_http);
  worker_metrics_destroy(&w->metrics);
  router_destroy(&w->router);
  dealer_destroy(&w->coordinator);
  refresh_wait_destroy(&w->parked); /* never answered: the process is ending */
  slot_move_close(w);
  replication_close(w);
  identity_destroy(&w->identity);
  if (w->zmq_ctx) zmq_ctx_term(w->zmq_ctx);
  /* A clean stop writes what groups left in the open batch (counters and
   * rows of leases, releases and expiries). */
  if (w->stopping && w->store && !w->no_space && !w->write_running && worker_batch_open(w))
    (void)worker_commit_sync(w);
  row_cache_destroy(&w->stats_rows);
  row_cache_destroy(&w->ops_rows);
  item_cache_destroy(&w->items);
  cases_destroy(&w->cases);
  quality_destroy(&w->quality);
  ops_destroy(&w->ops);
  wellbeing_destroy(&w->wellbeing);
  store_close(&w->store);
  queue_index_destroy(&w->queues);
  lease_table_destroy(&w->leases);
  gold_mix_destroy(&w->gold);
  config_cache_destroy(&w->config);
  if (w->map) tally__cluster_map__free_unpacked(w->map, NULL);
  /* Never acknowledged: their batches were not known durable. */
  reply_queue_destroy(&w->replies);
  free(w->waiters);
  free(w->projects);
  free(w->endpoint_file);
  free(w->coordinator_endpoint);
  free(w);
  *worker = NULL;
}
