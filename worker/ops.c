/* ops: operations counters and queue ages. See ops.h. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fatal.h"
#include "item_record.h"
#include "handling.h"
#include "keys.h"
#include "ops_report.h"
#include "tally_error.h"
#include "ttfa.h"
#include "wire.h"

#define OPS_MS_PER_DAY 86400000ull

struct ops {
  store_t *store;               /* borrowed */
  row_cache_t *rows;            /* borrowed: the "ops" family's write-back cache */
  const config_cache_t *config; /* borrowed */
  const queue_index_t *queues;  /* borrowed */
};

ops_t *ops_new(store_t *store, row_cache_t *ops_rows, const config_cache_t *config,
               const queue_index_t *queues) {
  ops_t *o = calloc(1, sizeof *o);
  if (o == NULL) return NULL;
  o->store = store;
  o->rows = ops_rows;
  o->config = config;
  o->queues = queues;
  return o;
}

void ops_destroy(ops_t **ops) {
  if (ops == NULL || *ops == NULL) return;
  free(*ops);
  *ops = NULL;
}

typedef struct {
  uint8_t key[KEYS_MAX];
  size_t key_len;
  Tally__OpsRow *row;
} ops_ref_t;

/* The row of (project, day of now, market, stage) for changing, from the
 * write-back cache (worker/row_cache.h), started empty when new. */
static void ops_open(ops_t *o, ops_ref_t *ref, uint32_t project_id, const char *market,
                     uint32_t stage, uint64_t now) {
  uint32_t day = (uint32_t)(now / OPS_MS_PER_DAY);
  ref->key_len = keys_ops(ref->key, project_id, day, market, stage);
  ref->row = (Tally__OpsRow *)row_cache_update(o->rows, ref->key, ref->key_len);
  if (ref->row == NULL) {
    ref->row = malloc(sizeof *ref->row);
    if (ref->row == NULL) fatal_exit("out of memory");
    tally__ops_row__init(ref->row);
    ref->row->market = strdup(market);
    if (ref->row->market == NULL) fatal_exit("out of memory");
    ref->row->day = day;
    ref->row->stage = (Tally__Stage)stage;
    row_cache_insert(o->rows, ref->key, ref->key_len, &ref->row->base);
  }
}

/* Done changing the row: it goes into the batch when the group ends. */
static void ops_close(ops_ref_t *ref) {
  /* the worker counts the cache's dirty rows as changes */
  ref->row = NULL;
}

/* Adds one count to bucket `bucket` of a histogram of `n` buckets. */
static void histogram_add(uint64_t **histogram, size_t *count, size_t n, size_t bucket) {
  if (*count < n) {
    uint64_t *grown = realloc(*histogram, n * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory");
    for (size_t i = *count; i < n; i++) grown[i] = 0;
    *histogram = grown;
    *count = n;
  }
  (*histogram)[bucket]++;
}

int ops_merge_row(ops_t *o, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t len) {
  keys_ops_t parsed;
  if (keys_parse_ops(key, key_len, &parsed) < 0) return TALLY_E_INVALID_ARGUMENT;
  Tally__OpsRow *src = tally__ops_row__unpack(NULL, len, value);
  if (src == NULL) return TALLY_E_INVALID_ARGUMENT;
  Tally__OpsRow *dst = (Tally__OpsRow *)row_cache_update(o->rows, key, key_len);
  if (dst == NULL) {
    row_cache_insert(o->rows, key, key_len, &src->base); /* takes src */
    return 0;
  }
  dst->ingested += src->ingested;
  dst->leases += src->leases;
  dst->completed += src->completed;
  dst->handling_ms_sum += src->handling_ms_sum;
  dst->items_done += src->items_done;
  dst->turnaround_ms_sum += src->turnaround_ms_sum;
  dst->sla_breaches += src->sla_breaches;
  dst->expired += src->expired;
  dst->skips += src->skips;
  dst->releases += src->releases;
  if (histogram_sum_into(&dst->handling_histogram, &dst->n_handling_histogram,
                         src->handling_histogram, src->n_handling_histogram) < 0)
    fatal_exit("out of memory");
  if (histogram_sum_into(&dst->turnaround_histogram, &dst->n_turnaround_histogram,
                         src->turnaround_histogram, src->n_turnaround_histogram) < 0)
    fatal_exit("out of memory");
  for (size_t i = 0; i < src->n_ttfa; i++) {
    Tally__TtfaRow *t = ttfa_row_of(dst, src->ttfa[i]->priority);
    if (t == NULL || ttfa_message_sum_into(t->first_label, src->ttfa[i]->first_label) < 0 ||
        ttfa_message_sum_into(t->decision, src->ttfa[i]->decision) < 0)
      fatal_exit("out of memory");
  }
  tally__ops_row__free_unpacked(src, NULL);
  return 0;
}

void ops_on_ingest(ops_t *o, uint32_t project_id, const char *market, uint64_t now) {
  ops_ref_t ref;
  ops_open(o, &ref, project_id, market, TALLY__STAGE__STAGE_LABEL, now);
  ref.row->ingested++;
  ops_close(&ref);
}

void ops_on_lease(ops_t *o, uint32_t project_id, const char *market, uint32_t stage,
                  uint64_t now) {
  ops_ref_t ref;
  ops_open(o, &ref, project_id, market, stage, now);
  ref.row->leases++;
  ops_close(&ref);
}

/* Time to first action of rec's priority: the first label (this LABEL
 * submit gave the item its first label) and the final decision (this
 * submit made the item DONE). */
static void ttfa_on_submit(Tally__OpsRow *row, const item_record_t *rec, uint32_t stage) {
  int first = stage == TALLY__STAGE__STAGE_LABEL && rec->n_labels == 1;
  int decided = rec->state == TALLY__STORE__ITEM_STATE__ITEM_DONE;
  if (!first && !decided) return;
  Tally__TtfaRow *t = ttfa_row_of(row, rec->priority);
  if (t == NULL) fatal_exit("out of memory");
  if (first) {
    uint64_t at = rec->labels[0]->at_ms;
    if (ttfa_message_add(t->first_label, at > rec->ingested_ms ? at - rec->ingested_ms : 0) < 0)
      fatal_exit("out of memory");
  }
  if (decided &&
      ttfa_message_add(t->decision,
                       rec->done_ms > rec->ingested_ms ? rec->done_ms - rec->ingested_ms : 0) < 0)
    fatal_exit("out of memory");
}

void ops_on_submit(ops_t *o, const Tally__Project *p, const item_record_t *rec,
                   uint32_t stage, uint32_t handling_ms, uint64_t now) {
  ops_ref_t ref;
  ops_open(o, &ref, p->id, rec->market, stage, now);
  ref.row->completed++;
  ref.row->handling_ms_sum += handling_ms;
  histogram_add(&ref.row->handling_histogram, &ref.row->n_handling_histogram, HANDLING_BUCKETS,
                handling_bucket_of(handling_ms));
  if (rec->state == TALLY__STORE__ITEM_STATE__ITEM_DONE) {
    uint64_t turnaround = rec->done_ms > rec->ingested_ms ? rec->done_ms - rec->ingested_ms : 0;
    ref.row->items_done++;
    ref.row->turnaround_ms_sum += turnaround;
    histogram_add(&ref.row->turnaround_histogram, &ref.row->n_turnaround_histogram,
                  OPS_TURNAROUND_BUCKETS, ops_turnaround_bucket_of(turnaround));
    if (turnaround > (uint64_t)p->sla_seconds * 1000u) ref.row->sla_breaches++;
  }
  ttfa_on_submit(ref.row, rec, stage);
  ops_close(&ref);
}

void ops_on_lease_end(ops_t *o, uint32_t project_id, const char *market, uint32_t stage,
                      ops_lease_end_t why, uint64_t now) {
  ops_ref_t ref;
  ops_open(o, &ref, project_id, market, stage, now);
  if (why == OPS_LEASE_EXPIRED) ref.row->expired++;
  if (why == OPS_LEASE_SKIPPED) ref.row->skips++;
  if (why == OPS_LEASE_RELEASED) ref.row->releases++;
  ops_close(&ref);
}

/* ------------------------------------------------------------ handler */

/* The ingested_ms of the item at the head of one slot's sub-queue of `q`;
 * 0 when it cannot be read. */
static uint64_t head_ingested_ms(ops_t *o, const queue_t *q, uint32_t slot,
                                 queue_position_t pos) {
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_queue_entry(key, slot, queue_project_id(q), queue_stage(q),
                                    queue_market(q), pos.priority, pos.seq);
  char *id = NULL;
  size_t id_len = 0;
  int rc = store_get(o->store, STORE_CF_QUEUE, key, key_len, &id, &id_len);
  if (rc < 0) fatal_exit("storage read failed");
  uint64_t ingested = 0;
  if (rc == 1 && id_len > 0 && id_len <= KEYS_ITEM_ID_MAX) {
    key_len = keys_item(key, slot, queue_project_id(q), id, id_len);
    char *value = NULL;
    size_t len = 0;
    rc = store_get(o->store, STORE_CF_ITEMS, key, key_len, &value, &len);
    if (rc < 0) fatal_exit("storage read failed");
    item_record_t *rec = rc == 1 ? item_record_decode((uint8_t *)value, len) : NULL;
    if (rec != NULL) ingested = rec->ingested_ms;
    item_record_free(&rec);
    free(value);
  }
  free(id);
  return ingested;
}

/* Fills qa from queue q: depth, top priority and the oldest ingested_ms
 * among the heads of its non-empty sub-queues (one read pair per head). */
static void queue_age_fill(ops_t *o, const queue_t *q, uint32_t *slots, Tally__QueueAge *qa) {
  tally__queue_age__init(qa);
  qa->market = (char *)queue_market(q);
  qa->stage = (Tally__Stage)queue_stage(q);
  qa->depth = queue_depth(q);
  uint32_t best_slot;
  queue_position_t pos;
  if (queue_peek(q, &best_slot, &pos)) qa->top_priority = pos.priority;
  size_t n = queue_nonempty_slots(q, slots);
  for (size_t i = 0; i < n; i++) {
    if (!queue_slot_head(q, slots[i], &pos)) continue;
    uint64_t ingested = head_ingested_ms(o, q, slots[i], pos);
    if (ingested != 0 && (qa->oldest_ingested_ms == 0 || ingested < qa->oldest_ingested_ms))
      qa->oldest_ingested_ms = ingested;
  }
}

static int market_matches(const char *wanted, const char *market, size_t len) {
  return wanted[0] == '\0' || (strlen(wanted) == len && memcmp(wanted, market, len) == 0);
}

/* The project's rows in [from_day, to_day] (0 = unbounded) of `market`.
 * *scan_rc: 0, or TALLY_E_STORAGE when the scan failed (the rows are then
 * incomplete). */
static Tally__OpsRow **ops_rows(ops_t *o, const Tally__Project *p, const Tally__OpsRequest *r,
                                size_t *count, int *scan_rc) {
  uint8_t from[8], upper[8];
  size_t upper_len = keys_day_range(p->id, r->from_day, r->to_day, from, upper);
  row_cache_flush(o->rows); /* the cached rows into the batch the iterator sees */
  store_iter_t *it = store_iter_new(o->store, STORE_CF_OPS, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory");
  Tally__OpsRow **rows = NULL;
  size_t n = 0, cap = 0;
  for (store_iter_seek(it, from, 8); store_iter_valid(it); store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    keys_ops_t k;
    if (keys_parse_ops(key, key_len, &k) < 0 || k.project_id != p->id) continue;
    if (!market_matches(r->market, k.market, k.market_len)) continue;
    const uint8_t *value = store_iter_value(it, &len);
    Tally__OpsRow *row = tally__ops_row__unpack(NULL, len, value);
    if (row == NULL) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      Tally__OpsRow **grown = realloc(rows, cap * sizeof *grown);
      if (grown == NULL) fatal_exit("out of memory");
      rows = grown;
    }
    rows[n++] = row;
  }
  *scan_rc = store_iter_error(it);
  store_iter_destroy(&it);
  *count = n;
  return rows;
}

void ops_handle_request(ops_t *o, responder_t *resp) {
  const router_request_t *req = responder_request(resp);
  const Tally__OpsRequest *r = req->env->ops_request;
  const Tally__Project *p = responder_project(resp, o->config, r->project);
  if (p == NULL) return;
  size_t n_rows = 0;
  int scan_rc = 0;
  Tally__OpsRow **rows = ops_rows(o, p, r, &n_rows, &scan_rc);
  size_t nq = queue_index_count(o->queues);
  Tally__QueueAge *ages = calloc(nq ? nq : 1, sizeof *ages);
  Tally__QueueAge **ptrs = calloc(nq ? nq : 1, sizeof *ptrs);
  uint32_t *slots = malloc(TALLY_SLOT_COUNT * sizeof *slots);
  if (ages == NULL || ptrs == NULL || slots == NULL) fatal_exit("out of memory");
  size_t n_queues = 0;
  for (size_t i = 0; i < nq; i++) {
    const queue_t *q = queue_index_at(o->queues, i);
    if (queue_project_id(q) != p->id || queue_depth(q) == 0 ||
        item_record_stage_is_gold(queue_stage(q)))
      continue;
    if (r->market[0] != '\0' && strcmp(r->market, queue_market(q)) != 0) continue;
    queue_age_fill(o, q, slots, &ages[n_queues]);
    ptrs[n_queues] = &ages[n_queues];
    n_queues++;
  }
  Tally__OpsReply reply = TALLY__OPS_REPLY__INIT;
  reply.worker_id = responder_worker_id(resp);
  reply.n_rows = n_rows;
  reply.rows = rows;
  reply.n_queues = n_queues;
  reply.queues = ptrs;
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_OPS_REPLY;
  env.ops_reply = &reply;
  responder_reply_scan(resp, &env, scan_rc);
  for (size_t i = 0; i < n_rows; i++) tally__ops_row__free_unpacked(rows[i], NULL);
  free(rows);
  free(ages);
  free(ptrs);
  free(slots);
}
