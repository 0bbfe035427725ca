/* quality: sampling and sufficient statistics. See quality.h. */
#include "quality.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "agreement.h"
#include "clock.h"
#include "fatal.h"
#include "handling.h"
#include "keys.h"
#include "log.h"
#include "ramp.h"
#include "slot.h"
#include "tally_error.h"
#include "tally_store.pb-c.h"
#include "wire.h"

#define QUALITY_MS_PER_DAY 86400000ull
#define QUALITY_EXPORT_LIMIT 1000
#define QUALITY_EXPORT_SCAN_MAX 20000
#define QUALITY_FEEDBACK_LIMIT 100
static const char QUALITY_SECRET_KEY[] = "audit-secret";

struct quality {
  store_t *store;               /* borrowed */
  row_cache_t *stats_rows;      /* borrowed: the "stats" family's write-back cache */
  const config_cache_t *config; /* borrowed */
  const uint8_t *owned;         /* borrowed: TALLY_SLOT_COUNT flags */
  uint64_t audit_secret;        /* keys the sampling hash (quality_recover) */
};

quality_t *quality_new(store_t *store, row_cache_t *stats_rows, const config_cache_t *config,
                       const uint8_t *owned) {
  quality_t *q = calloc(1, sizeof *q);
  if (q == NULL) return NULL;
  q->store = store;
  q->stats_rows = stats_rows;
  q->config = config;
  q->owned = owned;
  return q;
}

void quality_destroy(quality_t **quality) {
  if (quality == NULL || *quality == NULL) return;
  free(*quality);
  *quality = NULL;
}

static uint32_t quality_day(uint64_t ms) { return (uint32_t)(ms / QUALITY_MS_PER_DAY); }

/* ------------------------------------------------------------ sampling */

static double quality_rate(const Tally__Project *p, const char *market,
                           const char *labeler) {
  const Tally__AuditPolicy *policy = p->audit;
  double rate = policy ? policy->rate : p->audit_rate;
  if (policy == NULL) return rate;
  for (size_t i = 0; i < policy->n_market_rates; i++)
    if (strcmp(policy->market_rates[i]->market, market) == 0) rate = policy->market_rates[i]->rate;
  /* Ramping up until the coordinator, from the sums of every worker, says
   * the person has left it (common/ramp.h): one answer cluster-wide. */
  if (policy->ramp_rate > rate && !ramp_contains(p->ramped_up, p->n_ramped_up, labeler))
    rate = policy->ramp_rate;
  return rate;
}

int quality_is_sampled(quality_t *q, const Tally__Project *p, const char *market,
                       const char *item_id, const char *labeler) {
  double rate = quality_rate(p, market, labeler);
  if (rate <= 0.0) return 0;
  if (rate >= 1.0) return 1;
  XXH64_state_t state;
  XXH64_reset(&state, q->audit_secret ^ ((uint64_t)p->id * 0x9E3779B97F4A7C15ull));
  XXH64_update(&state, item_id, strlen(item_id) + 1);
  XXH64_update(&state, labeler, strlen(labeler));
  double u = (double)(XXH64_digest(&state) >> 11) * (1.0 / 9007199254740992.0);
  return u < rate;
}

int quality_candidates_swapped(const quality_t *q, const char *labeler, const char *item_id,
                               size_t item_len) {
  return (slot_of_item(labeler, item_id, item_len) ^ (uint32_t)q->audit_secret) & 1;
}

/* ------------------------------------------------------------ stats rows */

typedef struct {
  uint8_t key[KEYS_MAX];
  size_t key_len;
  Tally__StatsRow *row;
} stats_ref_t;

static char *dup_or_empty(const char *s) {
  if (*s == '\0') return (char *)protobuf_c_empty_string;
  char *d = strdup(s);
  if (d == NULL) fatal_exit("out of memory");
  return d;
}

/* The row for changing, from the write-back cache (worker/row_cache.h),
 * started empty when new. */
static void stats_open(quality_t *q, stats_ref_t *ref, const Tally__Project *p, uint64_t now,
                       const char *market, const char *labeler) {
  uint32_t day = quality_day(now), version = p->policy_version ? p->policy_version : 1;
  ref->key_len = keys_stats(ref->key, p->id, day, version, market, labeler);
  ref->row = (Tally__StatsRow *)row_cache_update(q->stats_rows, ref->key, ref->key_len);
  if (ref->row == NULL) {
    ref->row = malloc(sizeof *ref->row);
    if (ref->row == NULL) fatal_exit("out of memory");
    tally__stats_row__init(ref->row);
    ref->row->market = dup_or_empty(market);
    ref->row->labeler = dup_or_empty(labeler);
    ref->row->day = day;
    ref->row->policy_version = version;
    row_cache_insert(q->stats_rows, ref->key, ref->key_len, &ref->row->base);
  }
}

/* Done changing the row: it goes into the batch when the group ends. */
static void stats_close(quality_t *q, stats_ref_t *ref) {
  (void)q;
  ref->row = NULL;
}

/* Adds (a, b) to a serialized pairs matrix of k categories, in place. */
static void bytes_pairs_add(ProtobufCBinaryData *bytes, uint32_t k, uint32_t a, uint32_t b) {
  agreement_pairs_t *pairs = malloc(sizeof *pairs);
  if (pairs == NULL) fatal_exit("out of memory");
  if (bytes->len == 0 || agreement_pairs_deserialize(pairs, bytes->data, bytes->len) < 0 ||
      pairs->k != k)
    agreement_pairs_init(pairs, k);
  agreement_pairs_add(pairs, a, b, 1);
  size_t cap = agreement_pairs_serialized_size(pairs), len = 0;
  uint8_t *out = malloc(cap);
  if (out == NULL || agreement_pairs_serialize(pairs, out, cap, &len) < 0)
    fatal_exit("cannot serialize statistics");
  free(bytes->data);
  bytes->data = out;
  bytes->len = len;
  free(pairs);
}

static void histogram_add(Tally__StatsRow *row, uint32_t handling_ms) {
  if (row->n_handling_histogram < HANDLING_BUCKETS) {
    uint64_t *grown = realloc(row->handling_histogram, HANDLING_BUCKETS * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory");
    for (size_t i = row->n_handling_histogram; i < HANDLING_BUCKETS; i++) grown[i] = 0;
    row->handling_histogram = grown;
    row->n_handling_histogram = HANDLING_BUCKETS;
  }
  row->handling_histogram[handling_bucket_of(handling_ms)]++;
}

/* Adds the serialized matrix `src` to `dst` (one of the three kinds).
 * Returns 0 or TALLY_E_INVALID_ARGUMENT. */
typedef enum { MATRIX_PAIRS, MATRIX_COINCIDENCE, MATRIX_FLEISS } matrix_kind_t;

static int matrix_merge(ProtobufCBinaryData *dst, const ProtobufCBinaryData *src,
                        matrix_kind_t kind) {
  if (src->len == 0) return 0;
  if (dst->len == 0) {
    uint8_t *copy = malloc(src->len);
    if (copy == NULL) fatal_exit("out of memory");
    memcpy(copy, src->data, src->len);
    free(dst->data);
    dst->data = copy;
    dst->len = src->len;
    return 0;
  }
  union {
    agreement_pairs_t pairs;
    agreement_coincidence_t coincidence;
    agreement_fleiss_t fleiss;
  } *a = malloc(2 * sizeof *a), *b;
  if (a == NULL) fatal_exit("out of memory");
  b = a + 1;
  int rc;
  size_t cap = 0, len = 0;
  uint8_t *out = NULL;
  switch (kind) {
    case MATRIX_PAIRS:
      rc = agreement_pairs_deserialize(&a->pairs, dst->data, dst->len);
      if (rc == 0) rc = agreement_pairs_deserialize(&b->pairs, src->data, src->len);
      if (rc == 0) rc = agreement_pairs_merge(&a->pairs, &b->pairs);
      if (rc == 0 && (out = malloc(cap = agreement_pairs_serialized_size(&a->pairs))) != NULL)
        rc = agreement_pairs_serialize(&a->pairs, out, cap, &len);
      break;
    case MATRIX_COINCIDENCE:
      rc = agreement_coincidence_deserialize(&a->coincidence, dst->data, dst->len);
      if (rc == 0) rc = agreement_coincidence_deserialize(&b->coincidence, src->data, src->len);
      if (rc == 0) rc = agreement_coincidence_merge(&a->coincidence, &b->coincidence);
      if (rc == 0 &&
          (out = malloc(cap = agreement_coincidence_serialized_size(&a->coincidence))) != NULL)
        rc = agreement_coincidence_serialize(&a->coincidence, out, cap, &len);
      break;
    default:
      rc = agreement_fleiss_deserialize(&a->fleiss, dst->data, dst->len);
      if (rc == 0) rc = agreement_fleiss_deserialize(&b->fleiss, src->data, src->len);
      if (rc == 0) rc = agreement_fleiss_merge(&a->fleiss, &b->fleiss);
      if (rc == 0 && (out = malloc(cap = agreement_fleiss_serialized_size(&a->fleiss))) != NULL)
        rc = agreement_fleiss_serialize(&a->fleiss, out, cap, &len);
      break;
  }
  free(a);
  if (rc == 0 && out == NULL) fatal_exit("out of memory");
  if (rc < 0) {
    free(out);
    return TALLY_E_INVALID_ARGUMENT;
  }
  free(dst->data);
  dst->data = out;
  dst->len = len;
  return 0;
}

#define MATRIX_FIELDS 6

/* Adds the matrices of `src` to those of `dst`, all or none: on
 * error `dst` is unchanged. Returns 0 or TALLY_E_INVALID_ARGUMENT. */
static int matrices_merge(Tally__StatsRow *dst, const Tally__StatsRow *src) {
  ProtobufCBinaryData *to[MATRIX_FIELDS] = {&dst->pairs,       &dst->coincidence,
                                            &dst->fleiss,      &dst->policy_unclear_pairs,
                                            &dst->final_pairs, &dst->auditor_final_pairs};
  const ProtobufCBinaryData *from[MATRIX_FIELDS] = {&src->pairs,       &src->coincidence,
                                                    &src->fleiss,      &src->policy_unclear_pairs,
                                                    &src->final_pairs, &src->auditor_final_pairs};
  static const matrix_kind_t kinds[MATRIX_FIELDS] = {MATRIX_PAIRS, MATRIX_COINCIDENCE,
                                                     MATRIX_FLEISS, MATRIX_PAIRS,
                                                     MATRIX_PAIRS, MATRIX_PAIRS};
  ProtobufCBinaryData merged[MATRIX_FIELDS];
  int rc = 0;
  size_t i;
  for (i = 0; i < MATRIX_FIELDS && rc == 0; i++) {
    merged[i] = (ProtobufCBinaryData){0, NULL};
    if (to[i]->len > 0) {
      merged[i].data = malloc(to[i]->len);
      if (merged[i].data == NULL) fatal_exit("out of memory");
      memcpy(merged[i].data, to[i]->data, to[i]->len);
      merged[i].len = to[i]->len;
    }
    rc = matrix_merge(&merged[i], from[i], kinds[i]);
  }
  if (rc < 0) {
    for (size_t j = 0; j < i; j++) free(merged[j].data);
    return rc;
  }
  for (i = 0; i < MATRIX_FIELDS; i++) {
    free(to[i]->data);
    *to[i] = merged[i];
  }
  return 0;
}

int quality_merge_row(quality_t *q, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t len) {
  keys_stats_t parsed;
  if (keys_parse_stats(key, key_len, &parsed) < 0) return TALLY_E_INVALID_ARGUMENT;
  Tally__StatsRow *src = tally__stats_row__unpack(NULL, len, value);
  if (src == NULL) return TALLY_E_INVALID_ARGUMENT;
  Tally__StatsRow *dst = (Tally__StatsRow *)row_cache_update(q->stats_rows, key, key_len);
  if (dst == NULL) {
    row_cache_insert(q->stats_rows, key, key_len, &src->base); /* takes src */
    return 0;
  }
  int rc = matrices_merge(dst, src);
  if (rc == 0) {
    dst->labels += src->labels;
    dst->audits += src->audits;
    dst->audit_agreed += src->audit_agreed;
    dst->gold_total += src->gold_total;
    dst->gold_hits += src->gold_hits;
    dst->adjudications += src->adjudications;
    dst->attributed_labeler += src->attributed_labeler;
    dst->attributed_auditor += src->attributed_auditor;
    dst->attributed_both += src->attributed_both;
    dst->attributed_policy += src->attributed_policy;
    if (histogram_sum_into(&dst->handling_histogram, &dst->n_handling_histogram,
                           src->handling_histogram, src->n_handling_histogram) < 0)
      fatal_exit("out of memory");
  }
  tally__stats_row__free_unpacked(src, NULL);
  return rc;
}

void quality_on_label(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                      const char *labeler, const char *label, uint32_t handling_ms, uint64_t now) {
  stats_ref_t ref;
  stats_open(q, &ref, p, now, rec->market, labeler);
  (void)label;
  ref.row->labels++;
  histogram_add(ref.row, handling_ms);
  stats_close(q, &ref);
}

void quality_on_gold(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                     const char *labeler, const char *label, uint64_t now) {
  stats_ref_t ref;
  stats_open(q, &ref, p, now, rec->market, labeler);
  ref.row->gold_total++;
  ref.row->gold_hits += strcmp(rec->gold_label, label) == 0;
  stats_close(q, &ref);
}

void quality_on_labels_complete(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                                uint64_t now) {
  if (rec->n_labels < 2) return;
  uint32_t values[16];
  size_t m = 0;
  for (size_t i = 0; i < rec->n_labels && m < 16; i++) {
    int index = config_project_label_index(p, rec->labels[i]->label);
    if (index >= 0) values[m++] = (uint32_t)index;
  }
  if (m < 2) return;
  stats_ref_t ref;
  stats_open(q, &ref, p, now, rec->market, "");
  agreement_coincidence_t *c = malloc(sizeof *c);
  agreement_fleiss_t *f = malloc(sizeof *f);
  if (c == NULL || f == NULL) fatal_exit("out of memory");
  uint32_t k = (uint32_t)p->n_labels;
  if (ref.row->coincidence.len == 0 ||
      agreement_coincidence_deserialize(c, ref.row->coincidence.data, ref.row->coincidence.len) < 0 ||
      c->k != k)
    agreement_coincidence_init(c, k);
  if (ref.row->fleiss.len == 0 ||
      agreement_fleiss_deserialize(f, ref.row->fleiss.data, ref.row->fleiss.len) < 0 || f->k != k)
    agreement_fleiss_init(f, k);
  agreement_coincidence_add_unit(c, values, m);
  agreement_fleiss_add_unit(f, values, m);
  size_t cap = agreement_coincidence_serialized_size(c), len = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL || agreement_coincidence_serialize(c, buf, cap, &len) < 0)
    fatal_exit("cannot serialize statistics");
  free(ref.row->coincidence.data);
  ref.row->coincidence.data = buf;
  ref.row->coincidence.len = len;
  cap = agreement_fleiss_serialized_size(f);
  buf = malloc(cap);
  if (buf == NULL || agreement_fleiss_serialize(f, buf, cap, &len) < 0)
    fatal_exit("cannot serialize statistics");
  free(ref.row->fleiss.data);
  ref.row->fleiss.data = buf;
  ref.row->fleiss.len = len;
  free(c);
  free(f);
  stats_close(q, &ref);
}

void quality_on_audit(quality_t *q, const Tally__Project *p, const char *market,
                      const char *labeler, const char *labeler_label, const char *auditor_label,
                      uint64_t now) {
  int a = config_project_label_index(p, labeler_label);
  int b = config_project_label_index(p, auditor_label);
  if (a < 0 || b < 0) return; /* taxonomy changed under the item */
  stats_ref_t ref;
  stats_open(q, &ref, p, now, market, labeler);
  ref.row->audits++;
  ref.row->audit_agreed += a == b;
  bytes_pairs_add(&ref.row->pairs, (uint32_t)p->n_labels, (uint32_t)a, (uint32_t)b);
  stats_close(q, &ref);
}

void quality_on_adjudication(quality_t *q, const Tally__Project *p, const char *market,
                             const char *labeler, const char *labeler_label,
                             const char *auditor_label, uint32_t attribution, uint64_t now) {
  stats_ref_t ref;
  stats_open(q, &ref, p, now, market, labeler);
  ref.row->adjudications++;
  switch (attribution) {
    case TALLY__ATTRIBUTION__ATTRIBUTION_LABELER: ref.row->attributed_labeler++; break;
    case TALLY__ATTRIBUTION__ATTRIBUTION_AUDITOR: ref.row->attributed_auditor++; break;
    case TALLY__ATTRIBUTION__ATTRIBUTION_BOTH: ref.row->attributed_both++; break;
    default: ref.row->attributed_policy++; break;
  }
  int a = config_project_label_index(p, labeler_label);
  int b = config_project_label_index(p, auditor_label);
  if (attribution == TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR && a >= 0 && b >= 0)
    bytes_pairs_add(&ref.row->policy_unclear_pairs, (uint32_t)p->n_labels, (uint32_t)a,
                    (uint32_t)b);
  stats_close(q, &ref);
}

void quality_on_close(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                      const char *final_label, uint64_t now) {
  if (rec->attribution == TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR) return;
  int f = config_project_label_index(p, final_label);
  if (f < 0) return;
  uint32_t k = (uint32_t)p->n_labels;
  stats_ref_t ref;
  for (size_t i = 0; i < rec->n_sampled; i++) {
    const char *theirs = item_record_label_of(rec, rec->sampled[i]);
    int a = theirs ? config_project_label_index(p, theirs) : -1;
    if (a < 0) continue;
    stats_open(q, &ref, p, now, rec->market, rec->sampled[i]);
    bytes_pairs_add(&ref.row->final_pairs, k, (uint32_t)a, (uint32_t)f);
    stats_close(q, &ref);
  }
  if (rec->audit == NULL || rec->audit->labeler[0] == '\0') return;
  int b = config_project_label_index(p, rec->audit->label);
  if (b < 0) return;
  stats_open(q, &ref, p, now, rec->market, rec->audit->labeler);
  bytes_pairs_add(&ref.row->auditor_final_pairs, k, (uint32_t)b, (uint32_t)f);
  stats_close(q, &ref);
}

void quality_feedback_put(quality_t *q, uint32_t slot, uint32_t project_id, const char *labeler,
                          const char *item_id, size_t item_len, const char *your_label,
                          const char *final_label, int policy_unclear, uint64_t closed_ms) {
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_feedback(key, slot, project_id, labeler, closed_ms, item_id, item_len);
  Tally__Store__FeedbackRecord rec = TALLY__STORE__FEEDBACK_RECORD__INIT;
  rec.format = 1;
  rec.your_label = (char *)your_label;
  rec.final_label = (char *)final_label;
  rec.policy_unclear = policy_unclear != 0;
  size_t len = tally__store__feedback_record__get_packed_size(&rec);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) fatal_exit("out of memory");
  tally__store__feedback_record__pack(&rec, buf);
  store_put(q->store, STORE_CF_FEEDBACK, key, key_len, buf, len);
  free(buf);
}

/* ------------------------------------------------------------ recovery */

int quality_recover(quality_t *q) {
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(q->store, STORE_CF_DEFAULT, QUALITY_SECRET_KEY, sizeof QUALITY_SECRET_KEY - 1,
                     &value, &len);
  if (rc < 0) return rc;
  if (rc == 1 && len == sizeof q->audit_secret) {
    memcpy(&q->audit_secret, value, len);
  } else {
    if (getrandom(&q->audit_secret, sizeof q->audit_secret, 0) != sizeof q->audit_secret)
      return TALLY_E_IO;
    store_put(q->store, STORE_CF_DEFAULT, QUALITY_SECRET_KEY, sizeof QUALITY_SECRET_KEY - 1,
              &q->audit_secret, sizeof q->audit_secret);
  }
  free(value);
  return 0;
}

/* ------------------------------------------------------------ handlers */

void quality_handle_stats(quality_t *q, responder_t *resp) {
  const router_request_t *req = responder_request(resp);
  const Tally__StatsRequest *r = req->env->stats_request;
  const Tally__Project *p = responder_project(resp, q->config, r->project);
  if (p == NULL) return;
  uint8_t from[8], upper[8];
  size_t upper_len = keys_day_range(p->id, r->from_day, r->to_day, from, upper);
  row_cache_flush(q->stats_rows); /* the cached rows into the batch the iterator sees */
  store_iter_t *it = store_iter_new(q->store, STORE_CF_STATS, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory");
  Tally__StatsRow **rows = NULL;
  size_t n = 0, cap = 0;
  for (store_iter_seek(it, from, 8); store_iter_valid(it); store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    keys_stats_t k;
    if (keys_parse_stats(key, key_len, &k) < 0 || k.project_id != p->id) continue;
    if (r->market[0] != '\0' &&
        (strlen(r->market) != k.market_len || memcmp(r->market, k.market, k.market_len) != 0))
      continue;
    const uint8_t *value = store_iter_value(it, &len);
    Tally__StatsRow *row = tally__stats_row__unpack(NULL, len, value);
    if (row == NULL) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      Tally__StatsRow **grown = realloc(rows, cap * sizeof *grown);
      if (grown == NULL) fatal_exit("out of memory");
      rows = grown;
    }
    rows[n++] = row;
  }
  int scan_rc = store_iter_error(it);
  store_iter_destroy(&it);
  Tally__StatsReply reply = TALLY__STATS_REPLY__INIT;
  reply.worker_id = responder_worker_id(resp);
  reply.n_rows = n;
  reply.rows = rows;
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_STATS_REPLY;
  env.stats_reply = &reply;
  responder_reply_scan(resp, &env, scan_rc);
  for (size_t i = 0; i < n; i++) tally__stats_row__free_unpacked(rows[i], NULL);
  free(rows);
}

typedef struct {
  Tally__FeedbackEntry entry;
  Tally__Store__FeedbackRecord *record;
  char *item_id;
} feedback_item_t;

static int feedback_newest_first(const void *a, const void *b) {
  const feedback_item_t *x = a, *y = b;
  return x->entry.closed_ms < y->entry.closed_ms ? 1 : x->entry.closed_ms > y->entry.closed_ms ? -1 : 0;
}

/* Collects up to `limit` feedback entries of `labeler` in project `p` per
 * owned slot into *items, and counts every one of them (no limit) into
 * *standing (closed, judged, correct). Returns 0, or TALLY_E_STORAGE when a
 * scan failed. */
static int feedback_collect(quality_t *q, const Tally__Project *p, const char *labeler,
                            size_t limit, feedback_item_t **items, size_t *n, size_t *cap,
                            Tally__FeedbackStanding *standing) {
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++) {
    if (!q->owned[slot]) continue;
    uint8_t prefix[KEYS_MAX], upper[KEYS_MAX];
    size_t prefix_len = keys_feedback_prefix(prefix, slot, p->id, labeler);
    size_t upper_len = keys_prefix_end(upper, prefix, prefix_len);
    store_iter_t *it = store_iter_new(q->store, STORE_CF_FEEDBACK, upper, upper_len);
    if (it == NULL) fatal_exit("out of memory");
    size_t taken = 0;
    for (store_iter_seek(it, prefix, prefix_len); store_iter_valid(it);
         store_iter_next(it), taken++) {
      size_t key_len, len;
      const uint8_t *key = store_iter_key(it, &key_len);
      keys_feedback_t k;
      if (keys_parse_feedback(key, key_len, prefix_len, &k) < 0) continue;
      const uint8_t *value = store_iter_value(it, &len);
      Tally__Store__FeedbackRecord *rec = tally__store__feedback_record__unpack(NULL, len, value);
      if (rec == NULL) continue;
      int correct = strcmp(rec->your_label, rec->final_label) == 0;
      standing->closed++;
      standing->judged += !rec->policy_unclear;
      standing->correct += !rec->policy_unclear && correct;
      if (taken >= limit) {
        tally__store__feedback_record__free_unpacked(rec, NULL);
        continue;
      }
      if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        feedback_item_t *grown = realloc(*items, *cap * sizeof *grown);
        if (grown == NULL) fatal_exit("out of memory");
        *items = grown;
      }
      feedback_item_t *f = &(*items)[(*n)++];
      tally__feedback_entry__init(&f->entry);
      f->record = rec;
      f->item_id = strndup(k.item_id, k.item_len);
      f->entry.project = p->name;
      f->entry.item_id = f->item_id;
      f->entry.your_label = rec->your_label;
      f->entry.final_label = rec->final_label;
      f->entry.correct = correct;
      f->entry.policy_unclear = rec->policy_unclear;
      f->entry.closed_ms = k.closed_ms;
    }
    int rc = store_iter_error(it);
    store_iter_destroy(&it);
    if (rc < 0) return rc;
  }
  return 0;
}

void quality_handle_feedback(quality_t *q, responder_t *resp) {
  const router_request_t *req = responder_request(resp);
  const Tally__FeedbackRequest *r = req->env->feedback_request;
  uint64_t rid = req->env->request_id;
  if (r->labeler[0] == '\0' || strlen(r->labeler) > KEYS_LABELER_MAX) {
    responder_error(resp, TALLY_E_INVALID_ARGUMENT, "labeler id must be 1 to %d bytes",
                    KEYS_LABELER_MAX);
    return;
  }
  if (responder_labeler(resp, q->config, r->labeler) == NULL) return;
  size_t limit = r->limit ? r->limit : QUALITY_FEEDBACK_LIMIT;
  if (limit > 10000) limit = 10000;
  feedback_item_t *items = NULL;
  size_t n = 0, cap = 0;
  int scan_rc = 0;
  const Tally__ClusterConfig *config = config_cache_config(q->config);
  size_t n_projects = config ? config->n_projects : 0;
  Tally__FeedbackStanding *standing = calloc(n_projects ? n_projects : 1, sizeof *standing);
  Tally__FeedbackStanding **standing_ptrs = calloc(n_projects ? n_projects : 1, sizeof *standing_ptrs);
  if (standing == NULL || standing_ptrs == NULL) fatal_exit("out of memory");
  size_t n_standing = 0;
  const Tally__Project *only = NULL;
  if (r->project[0] != '\0' && (only = responder_project(resp, q->config, r->project)) == NULL) {
    free(standing);
    free(standing_ptrs);
    return;
  }
  for (size_t i = 0; i < n_projects && scan_rc == 0; i++) {
    const Tally__Project *p = config->projects[i];
    if (only != NULL && p != only) continue;
    Tally__FeedbackStanding *st = &standing[n_standing];
    tally__feedback_standing__init(st);
    scan_rc = feedback_collect(q, p, r->labeler, limit, &items, &n, &cap, st);
    st->project = p->name;
    st->has_ramp = ramp_project_has_ramp(p);
    st->ramping = st->has_ramp && !ramp_contains(p->ramped_up, p->n_ramped_up, r->labeler);
    if (p->audit != NULL) {
      st->ramp_audits = p->audit->ramp_audits > 0 ? p->audit->ramp_audits : 1;
      st->ramp_target = p->audit->ramp_target;
    }
    if (st->closed > 0 || st->has_ramp) standing_ptrs[n_standing++] = st;
  }
  if (n > 1) qsort(items, n, sizeof *items, feedback_newest_first);
  size_t shown = n < limit ? n : limit;
  Tally__FeedbackEntry **entries = calloc(shown ? shown : 1, sizeof *entries);
  if (entries == NULL) fatal_exit("out of memory");
  for (size_t i = 0; i < shown; i++) entries[i] = &items[i].entry;
  Tally__FeedbackReply reply = TALLY__FEEDBACK_REPLY__INIT;
  reply.n_entries = shown;
  reply.entries = entries;
  reply.n_standing = n_standing;
  reply.standing = standing_ptrs;
  Tally__Envelope env;
  wire_envelope_init(&env, rid);
  env.body_case = TALLY__ENVELOPE__BODY_FEEDBACK_REPLY;
  env.feedback_reply = &reply;
  responder_reply_scan(resp, &env, scan_rc);
  for (size_t i = 0; i < n; i++) {
    tally__store__feedback_record__free_unpacked(items[i].record, NULL);
    free(items[i].item_id);
  }
  free(items);
  free(entries);
  free(standing);
  free(standing_ptrs);
}

void quality_handle_export(quality_t *q, responder_t *resp) {
  const router_request_t *req = responder_request(resp);
  const Tally__ExportRequest *r = req->env->export_request;
  const Tally__Project *p = responder_project(resp, q->config, r->project);
  if (p == NULL) return;
  size_t limit = r->limit ? r->limit : QUALITY_EXPORT_LIMIT;
  if (limit > QUALITY_EXPORT_LIMIT) limit = QUALITY_EXPORT_LIMIT;
  uint32_t slot = 0;
  if (r->after.len >= 6) slot = keys_get_u16(r->after.data);
  Tally__Judgment *judgments = calloc(limit, sizeof *judgments);
  Tally__Judgment **ptrs = calloc(limit, sizeof *ptrs);
  item_record_t **records = calloc(limit, sizeof *records);
  char **ids = calloc(limit, sizeof *ids);
  if (!judgments || !ptrs || !records || !ids) fatal_exit("out of memory");
  size_t n = 0, scanned = 0;
  uint8_t last[KEYS_MAX];
  size_t last_len = 0;
  int done = 1, scan_rc = 0;
  for (; slot < TALLY_SLOT_COUNT && done && scan_rc == 0; slot++) {
    if (!q->owned[slot]) continue;
    uint8_t prefix[6], upper[6];
    keys_put_u16(prefix, (uint16_t)slot);
    keys_put_u32(prefix + 2, p->id);
    size_t upper_len = keys_prefix_end(upper, prefix, 6);
    store_iter_t *it = store_iter_new(q->store, STORE_CF_ITEMS, upper, upper_len);
    if (it == NULL) fatal_exit("out of memory");
    int resume = r->after.len >= 6 && keys_get_u16(r->after.data) == slot;
    if (resume) {
      store_iter_seek(it, r->after.data, r->after.len);
      if (store_iter_valid(it)) {
        size_t len;
        const uint8_t *key = store_iter_key(it, &len);
        if (len == r->after.len && memcmp(key, r->after.data, len) == 0) store_iter_next(it);
      }
    } else {
      store_iter_seek(it, prefix, 6);
    }
    for (; store_iter_valid(it); store_iter_next(it)) {
      if (n == limit || scanned == QUALITY_EXPORT_SCAN_MAX) {
        done = 0;
        break;
      }
      size_t key_len, len;
      const uint8_t *key = store_iter_key(it, &key_len);
      memcpy(last, key, key_len);
      last_len = key_len;
      scanned++;
      const uint8_t *value = store_iter_value(it, &len);
      item_record_t *rec = item_record_decode(value, len);
      if (rec == NULL || rec->closed_ms == 0) {
        item_record_free(&rec);
        continue;
      }
      Tally__Judgment *j = &judgments[n];
      tally__judgment__init(j);
      ids[n] = strndup((const char *)key + 6, key_len - 6);
      records[n] = rec;
      j->project = p->name;
      j->item_id = ids[n];
      j->market = rec->market;
      j->n_labels = rec->n_labels;
      j->labels = rec->labels;
      j->audit = rec->audit;
      j->final_label = rec->final_label;
      j->attribution = rec->attribution;
      j->adjudicator = rec->adjudicator;
      j->note = rec->note;
      j->closed_ms = rec->closed_ms;
      j->content = rec->content;
      j->n_audited_labelers = rec->n_sampled;
      j->audited_labelers = rec->sampled;
      j->policy_version = rec->closed_policy_version;
      ptrs[n] = j;
      n++;
    }
    if (done) scan_rc = store_iter_error(it);
    store_iter_destroy(&it);
  }
  Tally__ExportReply reply = TALLY__EXPORT_REPLY__INIT;
  reply.n_judgments = n;
  reply.judgments = ptrs;
  reply.done = done;
  if (!done) {
    reply.next.data = last;
    reply.next.len = last_len;
  }
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_EXPORT_REPLY;
  env.export_reply = &reply;
  responder_reply_scan(resp, &env, scan_rc);
  for (size_t i = 0; i < n; i++) {
    item_record_free(&records[i]);
    free(ids[i]);
  }
  free(judgments);
  free(ptrs);
  free(records);
  free(ids);
}
