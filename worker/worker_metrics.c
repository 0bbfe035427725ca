/* worker_metrics: the tally-worker's metrics. See worker_metrics.h; the
 * list with meanings is in docs/OPERATIONS.md. */
#include "worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "item_record.h"
#include "tally_error.h"
#include "wire.h"
#include "worker_internal.h"

/* Distinct (type, code) pairs and types kept with their series, so the
 * reply path finds its series without building label strings. A worker
 * sees a few dozen; beyond the cap the series is looked up by labels. */
#define SERIES_CACHE 128

static const double GROUP_BUCKETS[] = {1, 2, 4, 8, 16, 32, 64};

typedef struct {
  uint32_t type;
  int code;
  metric_series_t *series;
} cached_series_t;

struct worker_metrics {
  worker_t *worker;
  metrics_t *registry;
  metric_family_t *requests, *duration, *group_size, *wal_sync, *batches, *received, *sent;
  metric_family_t *queue_depth, *live_leases, *slots_owned, *parked, *held, *disk_full, *epoch,
      *refused;
  metric_series_t *received_total, *sent_total, *group_series, *wal_series;
  metric_series_t *batches_loop, *batches_pool;
  cached_series_t by_code[SERIES_CACHE];
  size_t n_by_code;
  cached_series_t by_type[SERIES_CACHE];
  size_t n_by_type;
  worker_metrics_tag_t current; /* of the request being handled */
};

static const char *body_name(uint32_t type) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  env.body_case = (Tally__Envelope__BodyCase)type;
  return type == 0 ? "other" : wire_body_name(&env);
}

static const char *stage_name(uint32_t stage) {
  switch (stage) {
    case TALLY__STAGE__STAGE_LABEL: return "label";
    case TALLY__STAGE__STAGE_AUDIT: return "audit";
    case TALLY__STAGE__STAGE_ADJUDICATE: return "adjudicate";
    default: return "other";
  }
}

/* The project's name, or "#ID" when the configuration does not know it. */
static const char *project_name(const worker_t *w, uint32_t id, char *buf, size_t size) {
  const Tally__Project *p = config_cache_project_by_id(w->config, id);
  if (p != NULL) return p->name;
  snprintf(buf, size, "#%u", id);
  return buf;
}

static void set_gauge(metric_family_t *f, double value) {
  metric_series_set(metric_family_series(f, NULL), value);
}

/* Reads the worker's state into the gauges (runs before every render). */
static void collect(void *user) {
  worker_metrics_t *m = user;
  const worker_t *w = m->worker;
  char buf[32];
  metric_family_clear(m->queue_depth);
  for (size_t i = 0; i < queue_index_count(w->queues); i++) {
    const queue_t *q = queue_index_at(w->queues, i);
    if (item_record_stage_is_gold(queue_stage(q))) continue; /* not a backlog */
    const char *values[] = {project_name(w, queue_project_id(q), buf, sizeof buf),
                            queue_market(q), stage_name(queue_stage(q))};
    metric_series_t *s = metric_family_series(m->queue_depth, values);
    if (s != NULL) metric_series_set(s, (double)queue_depth(q));
  }
  metric_family_clear(m->live_leases);
  for (size_t i = 0; i < w->n_projects; i++) {
    const char *values[] = {project_name(w, w->projects[i].project_id, buf, sizeof buf)};
    metric_series_t *s = metric_family_series(m->live_leases, values);
    if (s != NULL) metric_series_set(s, (double)w->projects[i].live_leases);
  }
  uint32_t owned = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) owned += w->owned[s] != 0;
  set_gauge(m->slots_owned, owned);
  set_gauge(m->parked, (double)w->n_waiters);
  set_gauge(m->held, (double)reply_queue_held(w->replies));
  set_gauge(m->disk_full, w->no_space ? 1 : 0);
  set_gauge(m->epoch, w->map ? (double)w->map->epoch : 0);
  if (w->router != NULL) set_gauge(m->refused, (double)router_rejected_count(w->router));
}

static int add_families(worker_metrics_t *m) {
  const metric_family_spec_t specs[] = {
      {METRIC_COUNTER, "tally_worker_requests_total",
       "Requests answered, by request type and result code (OK or the error's name).",
       "type,code", NULL, 0, &m->requests},
      {METRIC_HISTOGRAM, "tally_worker_request_duration_seconds",
       "Time from a request's arrival to its reply being sent (after the WAL sync that makes it "
       "durable), by request type. Long-polled lease requests that had to wait are not timed.",
       "type", METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N, &m->duration},
      {METRIC_HISTOGRAM, "tally_worker_group_requests",
       "Requests handled per group commit round.", NULL, GROUP_BUCKETS,
       sizeof GROUP_BUCKETS / sizeof GROUP_BUCKETS[0], &m->group_size},
      {METRIC_HISTOGRAM, "tally_worker_wal_sync_seconds",
       "Time to write one batch to RocksDB with the WAL synced (append, fsync, memtable).", NULL,
       METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N, &m->wal_sync},
      {METRIC_COUNTER, "tally_worker_batches_written_total",
       "Batches written with the WAL synced, by where the write ran (loop: small groups under "
       "light load; pool: pipelined on the thread pool).",
       "thread", NULL, 0, &m->batches},
      {METRIC_COUNTER, "tally_worker_received_bytes_total",
       "Bytes of request envelopes received and handled.", NULL, NULL, 0, &m->received},
      {METRIC_COUNTER, "tally_worker_sent_bytes_total", "Bytes of reply envelopes sent.", NULL,
       NULL, 0, &m->sent},
      {METRIC_GAUGE, "tally_worker_queue_depth",
       "Items waiting in a queue of the slots this worker serves.", "project,market,stage",
       NULL, 0, &m->queue_depth},
      {METRIC_GAUGE, "tally_worker_live_leases", "Leases held now, by project.", "project", NULL,
       0, &m->live_leases},
      {METRIC_GAUGE, "tally_worker_slots_owned", "Slots this worker serves.", NULL, NULL, 0,
       &m->slots_owned},
      {METRIC_GAUGE, "tally_worker_parked_lease_requests",
       "Lease requests waiting (long poll) for work to arrive.", NULL, NULL, 0, &m->parked},
      {METRIC_GAUGE, "tally_worker_replies_awaiting_sync",
       "Replies held until the WAL sync of their batch has finished.", NULL, NULL, 0, &m->held},
      {METRIC_GAUGE, "tally_worker_disk_full",
       "1 while writes are refused because the disk is full, else 0.", NULL, NULL, 0,
       &m->disk_full},
      {METRIC_GAUGE, "tally_worker_map_epoch", "Epoch of the slot map this worker runs.", NULL,
       NULL, 0, &m->epoch},
      {METRIC_COUNTER, "tally_worker_requests_refused_total",
       "Messages answered with an error before reaching a handler (malformed, too large, wrong "
       "version, rate limited).",
       NULL, NULL, 0, &m->refused},
  };
  int rc = metrics_add_families(m->registry, specs, sizeof specs / sizeof specs[0]);
  if (rc < 0) return rc;
  const char *loop[] = {"loop"}, *pool[] = {"pool"};
  m->batches_loop = metric_family_series(m->batches, loop);
  m->batches_pool = metric_family_series(m->batches, pool);
  if (m->batches_loop == NULL || m->batches_pool == NULL) return TALLY_E_NOMEM;
  m->received_total = metric_family_series(m->received, NULL);
  m->sent_total = metric_family_series(m->sent, NULL);
  m->group_series = metric_family_series(m->group_size, NULL);
  m->wal_series = metric_family_series(m->wal_sync, NULL);
  return 0;
}

int worker_metrics_new(worker_metrics_t **out, struct worker *worker) {
  *out = NULL;
  worker_metrics_t *m = calloc(1, sizeof *m);
  if (m == NULL) return TALLY_E_NOMEM;
  m->worker = worker;
  int rc = metrics_new(&m->registry);
  if (rc == 0) rc = metrics_add_process(m->registry, "tally-worker");
  if (rc == 0) rc = add_families(m);
  if (rc == 0) rc = metrics_add_collector(m->registry, collect, m);
  if (rc < 0) {
    worker_metrics_destroy(&m);
    return rc;
  }
  *out = m;
  return 0;
}

void worker_metrics_destroy(worker_metrics_t **m) {
  if (m == NULL || *m == NULL) return;
  metrics_destroy(&(*m)->registry);
  free(*m);
  *m = NULL;
}

metrics_t *worker_metrics_registry(worker_metrics_t *m) { return m->registry; }

void worker_metrics_request_begin(worker_metrics_t *m, const router_request_t *req) {
  if (m == NULL) return;
  m->current.request_type = req->env->body_case;
  m->current.code = 0;
  m->current.arrived_ns = uv_hrtime();
  metric_series_add(m->received_total, req->size);
}

void worker_metrics_parked_begin(worker_metrics_t *m) {
  if (m == NULL) return;
  m->current.request_type = TALLY__ENVELOPE__BODY_LEASE;
  m->current.code = 0;
  m->current.arrived_ns = 0;
}

void worker_metrics_request_end(worker_metrics_t *m) {
  if (m == NULL) return;
  m->current.request_type = 0;
  m->current.arrived_ns = 0;
}

void worker_metrics_tag_reply(worker_metrics_t *m, const Tally__Envelope *reply,
                              worker_metrics_tag_t *tag) {
  if (m == NULL) {
    *tag = (worker_metrics_tag_t){0};
    return;
  }
  *tag = m->current;
  tag->code = reply->body_case == TALLY__ENVELOPE__BODY_ERROR && reply->error != NULL
                  ? tally_error_from_wire((int)reply->error->code)
                  : 0;
}

/* The requests_total series for (type, code), cached. */
static metric_series_t *requests_series(worker_metrics_t *m, uint32_t type, int code) {
  for (size_t i = 0; i < m->n_by_code; i++)
    if (m->by_code[i].type == type && m->by_code[i].code == code) return m->by_code[i].series;
  const char *values[] = {body_name(type), tally_error_name(code)};
  metric_series_t *s = metric_family_series(m->requests, values);
  if (s != NULL && m->n_by_code < SERIES_CACHE)
    m->by_code[m->n_by_code++] = (cached_series_t){type, code, s};
  return s;
}

static metric_series_t *duration_series(worker_metrics_t *m, uint32_t type) {
  for (size_t i = 0; i < m->n_by_type; i++)
    if (m->by_type[i].type == type) return m->by_type[i].series;
  const char *values[] = {body_name(type)};
  metric_series_t *s = metric_family_series(m->duration, values);
  if (s != NULL && m->n_by_type < SERIES_CACHE)
    m->by_type[m->n_by_type++] = (cached_series_t){type, 0, s};
  return s;
}

void worker_metrics_reply_sent(worker_metrics_t *m, const worker_metrics_tag_t *tag, size_t bytes) {
  if (m == NULL) return;
  metric_series_add(m->sent_total, bytes);
  metric_series_t *s = requests_series(m, tag->request_type, tag->code);
  if (s != NULL) metric_series_add(s, 1);
  if (tag->arrived_ns == 0) return;
  s = duration_series(m, tag->request_type);
  if (s != NULL) metric_series_observe(s, (double)(uv_hrtime() - tag->arrived_ns) / 1e9);
}

void worker_metrics_group(worker_metrics_t *m, size_t requests) {
  if (m == NULL || requests == 0) return;
  metric_series_observe(m->group_series, (double)requests);
}

void worker_metrics_batch_written(worker_metrics_t *m, uint64_t ns, int on_pool) {
  if (m == NULL) return;
  metric_series_add(on_pool ? m->batches_pool : m->batches_loop, 1);
  metric_series_observe(m->wal_series, (double)ns / 1e9);
}
