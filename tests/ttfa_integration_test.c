/* Time to first action end to end with the real daemons (a coordinator and
 * two workers): items of two markets and two priorities, labeled and
 * audited with controlled waits, then `report ttfa` (libtally and the CLI)
 * against the durations stored on each item.
 *
 * Project "ttfa": markets es and ja, overlap 1, every item audited (rate
 * 1), so an item's final decision is the auditor's agreement, after its
 * first label. Items: 3 emergency and 3 normal per market (12, spread over
 * both workers by their slots).
 *   t0        ingest the 6 emergency items; label each at once
 *   +1 s      ingest the 6 normal items
 *   +3 s      label each (first label >= 3000 ms after ingest)
 *   report    per (market, priority): 3 labeled, 0 decided (decision
 *             undefined: an empty CSV cell)
 *   +1 s      the auditor agrees with every label (decision) except the 3
 *             normal ja items, which go to adjudication
 *   report    3 decided per (market, priority), but 0 for normal ja
 *   +1 s      a lead's verdict on each of the 3 (their final decision)
 *   report    per (market, priority): 3 labeled, 3 decided; max equal to
 *             the largest duration read from the items (labels[0].at_ms -
 *             ingested_ms, done_ms - ingested_ms), exactly; p50 and p95
 *             equal to the estimates of the histogram of those durations,
 *             so in the bucket of the true quantile; the normal items'
 *             first-label p50 in a bucket at or above 3000 ms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "ttfa.h"

#define ITEMS 12
#define PER_GROUP 3

static cluster_t cluster;

static const char *const markets[] = {"es", "ja"};
static const uint32_t priorities[] = {TALLY_PRIORITY_EMERGENCY, TALLY_PRIORITY_NORMAL};

static int near(double a, double b) { return fabs(a - b) < 1e-6 * (fabs(b) > 1 ? fabs(b) : 1); }

/* Item i: market i / 6, priority (i / 3) % 2 (emergency first). */
static void item_id(int i, char *buf, size_t size) {
  snprintf(buf, size, "%s-%s%d", markets[i / 6], (i / 3) % 2 == 0 ? "e" : "n", i % 3);
}

static void ingest(tally_t *t, int from, int to) {
  tally_item_t items[ITEMS];
  char ids[ITEMS][16];
  int n = 0;
  for (int i = from; i < to; i++, n++) {
    item_id(i, ids[n], sizeof ids[n]);
    items[n] = (tally_item_t){ids[n], markets[i / 6], priorities[(i / 3) % 2], "content", NULL,
                              NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "ttfa", items, (size_t)n, &res) == 0 && res && res->accepted == (size_t)n);
  tally_free(res);
}

/* True for the normal ja items: their auditor disagrees, so a lead's
 * verdict is their final decision. */
static int is_verdict_item(const char *id) { return strncmp(id, "ja-n", 4) == 0; }

/* Leases and submits as `who` at `stage` until nothing is left: "ok",
 * except an audit of a verdict item ("spam"); every task must be of
 * `priority`. Returns the number submitted. */
static int work_off(tally_t *t, const char *who, tally_stage_t stage, uint32_t priority) {
  int n = 0;
  for (int guard = 0; guard < ITEMS + 2; guard++) {
    tally_task_t *task = NULL;
    CHECK(tally_lease(t, who, "ttfa", stage, 0, &task) == 0);
    if (task == NULL) break;
    if (priority != UINT32_MAX) CHECK_EQ_U64(task->priority, priority);
    const char *label = stage == TALLY_STAGE_AUDIT && is_verdict_item(task->item_id) ? "spam" : "ok";
    CHECK(tally_submit(t, who, task->slot, task->lease_id, label, 1000) == 0);
    tally_free(task);
    n++;
  }
  return n;
}

/* The figures of (key, priority) in a report, NULL when absent. */
static const tally_ttfa_t *ttfa_of(const tally_ops_report_t *rep, const char *key,
                                   uint32_t priority) {
  const tally_ops_row_t *row = NULL;
  if (strcmp(key, "total") == 0) row = &rep->total;
  for (size_t i = 0; row == NULL && i < rep->row_count; i++)
    if (strcmp(rep->rows[i].key, key) == 0) row = &rep->rows[i];
  for (size_t i = 0; row != NULL && i < row->ttfa_count; i++)
    if (row->ttfa[i].priority == priority) return &row->ttfa[i];
  return NULL;
}

/* The stored durations: first label and decision of every item, as the
 * histograms the report should equal (per market and priority, and per
 * priority over both markets). */
typedef struct {
  ttfa_histogram_t first[2][2], decision[2][2];    /* [market][priority index] */
  ttfa_histogram_t first_all[2], decision_all[2];  /* [priority index] */
} expected_t;

static void expected_read(tally_t *t, expected_t *e) {
  memset(e, 0, sizeof *e);
  for (int i = 0; i < ITEMS; i++) {
    char id[16];
    item_id(i, id, sizeof id);
    tally_item_state_t *it = NULL;
    CHECK(tally_item_get(t, "ttfa", id, &it) == 0 && it != NULL);
    if (it == NULL) continue;
    int m = i / 6, p = (i / 3) % 2;
    CHECK(it->label_count == 1 && it->ingested_ms > 0);
    if (it->label_count >= 1) {
      uint64_t first = it->labels[0].at_ms - it->ingested_ms;
      ttfa_histogram_add(&e->first[m][p], first);
      ttfa_histogram_add(&e->first_all[p], first);
    }
    if (it->done) {
      CHECK(it->done_ms >= it->labels[0].at_ms);
      ttfa_histogram_add(&e->decision[m][p], it->done_ms - it->ingested_ms);
      ttfa_histogram_add(&e->decision_all[p], it->done_ms - it->ingested_ms);
    }
    tally_free(it);
  }
}

/* A figure against the histogram it must have been computed from. */
static void check_figures(const ttfa_histogram_t *h, uint64_t count, tally_figure_t p50,
                          tally_figure_t p95, uint64_t max_ms, tally_figure_t mean) {
  CHECK_EQ_U64(count, h->count);
  if (h->count == 0) {
    CHECK(!p50.defined && !p95.defined && !mean.defined);
    return;
  }
  double want50 = 0, want95 = 0;
  ttfa_histogram_quantile(h, 500, &want50);
  ttfa_histogram_quantile(h, 950, &want95);
  CHECK(p50.defined && near(p50.value, want50));
  CHECK(p95.defined && near(p95.value, want95));
  CHECK_EQ_U64(max_ms, h->max_ms); /* exact */
  CHECK(mean.defined && near(mean.value, (double)h->sum_ms / (double)h->count));
}

/* decided: 0 = nothing decided, 1 = all but the verdict items (waiting
 * for their verdict), 2 = every item. */
static void check_report(const tally_ops_report_t *rep, const expected_t *e, int decided) {
  CHECK_EQ_U64(rep->workers_answered, 2);
  CHECK_EQ_U64(rep->workers_failed, 0);
  CHECK_EQ_U64(rep->row_count, 2); /* es, ja: by market without --by */
  for (int m = 0; m < 2; m++)
    for (int p = 0; p < 2; p++) {
      const tally_ttfa_t *f = ttfa_of(rep, markets[m], priorities[p]);
      CHECK(f != NULL);
      if (f == NULL) continue;
      CHECK_EQ_U64(f->first_label_count, PER_GROUP);
      int verdict_group = m == 1 && p == 1; /* ja, normal */
      CHECK_EQ_U64(f->decision_count, decided == 2 || (decided == 1 && !verdict_group) ? PER_GROUP : 0);
      check_figures(&e->first[m][p], f->first_label_count, f->first_label_p50_ms,
                    f->first_label_p95_ms, f->first_label_max_ms, f->first_label_mean_ms);
      check_figures(&e->decision[m][p], f->decision_count, f->decision_p50_ms,
                    f->decision_p95_ms, f->decision_max_ms, f->decision_mean_ms);
    }
  for (int p = 0; p < 2; p++) {
    const tally_ttfa_t *f = ttfa_of(rep, "total", priorities[p]);
    CHECK(f != NULL);
    if (f == NULL) continue;
    CHECK_EQ_U64(f->first_label_count, 2 * PER_GROUP);
    check_figures(&e->first_all[p], f->first_label_count, f->first_label_p50_ms,
                  f->first_label_p95_ms, f->first_label_max_ms, f->first_label_mean_ms);
    check_figures(&e->decision_all[p], f->decision_count, f->decision_p50_ms,
                  f->decision_p95_ms, f->decision_max_ms, f->decision_mean_ms);
  }
  /* Only the two priorities that have items. */
  CHECK_EQ_U64(rep->total.ttfa_count, 2);
  /* The controlled wait: every normal item was labeled >= 3 s after its
   * ingest, so its p50 lies in a bucket at or above that of 3000 ms (above
   * the bucket's lower bound: the estimate is the bucket's middle, or the
   * max when that is smaller). */
  const tally_ttfa_t *n = ttfa_of(rep, "total", TALLY_PRIORITY_NORMAL);
  double lower = (double)ttfa_bucket_upper_ms(ttfa_bucket_of(3000) - 1);
  CHECK(n != NULL && n->first_label_p50_ms.defined && n->first_label_p50_ms.value > lower &&
        n->first_label_max_ms >= 3000);
}

int main(void) {
  harness_init(150);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) return 1;
  const char *labels[] = {"ok", "spam"};
  tally_project_t spec = {0};
  spec.name = "ttfa";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = (const char **)markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 60;
  spec.sla_seconds = 3600;
  spec.audit_rate = 1.0;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  tally_labeler_t les = {"les", TALLY_ROLE_LABELER, (const char **)&markets[0], 1, NULL};
  tally_labeler_t lja = {"lja", TALLY_ROLE_LABELER, (const char **)&markets[1], 1, NULL};
  tally_labeler_t aud = {"aud", TALLY_ROLE_AUDITOR, (const char **)markets, 2, NULL};
  tally_labeler_t lead = {"lead", TALLY_ROLE_LEAD, (const char **)markets, 2, NULL};
  CHECK(tally_labeler_add(t, &lead, NULL) == 0);
  CHECK(tally_labeler_add(t, &les, NULL) == 0);
  CHECK(tally_labeler_add(t, &lja, NULL) == 0);
  CHECK(tally_labeler_add(t, &aud, NULL) == 0);

  /* Nothing yet: no ttfa figures at all. */
  tally_ops_report_t *rep = NULL;
  CHECK(tally_report_ops(t, "ttfa", "ttfa", NULL, &rep) == 0);
  if (rep) CHECK(rep->total.ttfa_count == 0 && rep->row_count == 0);
  tally_free(rep);

  /* emergency items of both markets, labeled at once */
  ingest(t, 0, 3);
  ingest(t, 6, 9);
  CHECK_EQ_U64(work_off(t, "les", TALLY_STAGE_LABEL, TALLY_PRIORITY_EMERGENCY), PER_GROUP);
  CHECK_EQ_U64(work_off(t, "lja", TALLY_STAGE_LABEL, TALLY_PRIORITY_EMERGENCY), PER_GROUP);
  sleep(1);
  /* normal items, labeled 3 s after their ingest */
  ingest(t, 3, 6);
  ingest(t, 9, 12);
  sleep(3);
  CHECK_EQ_U64(work_off(t, "les", TALLY_STAGE_LABEL, TALLY_PRIORITY_NORMAL), PER_GROUP);
  CHECK_EQ_U64(work_off(t, "lja", TALLY_STAGE_LABEL, TALLY_PRIORITY_NORMAL), PER_GROUP);

  /* Labeled, not decided: every item waits for its audit. */
  expected_t e;
  expected_read(t, &e);
  rep = NULL;
  CHECK(tally_report_ops(t, "ttfa", "ttfa", NULL, &rep) == 0);
  if (rep) check_report(rep, &e, 0);
  tally_free(rep);
  static char out[16384];
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --project ttfa --format csv") == 0);
  CHECK(strstr(out, "group,priority,labeled,first label p50,first label p95,first label max,"
                    "decided,decision p50,decision p95,decision max") != NULL);
  char want[128];
  snprintf(want, sizeof want, "es,emergency,3,");
  CHECK(strstr(out, want) != NULL);
  CHECK(strstr(out, ",0,,,\r\n") != NULL); /* undefined decision figures: empty cells */
  CHECK(strstr(out, "undefined") == NULL);

  /* The auditor agrees with every label but the normal ja items': each
   * agreement is that item's final decision; the others wait. */
  sleep(1);
  CHECK_EQ_U64(work_off(t, "aud", TALLY_STAGE_AUDIT, UINT32_MAX), ITEMS);
  expected_read(t, &e);
  rep = NULL;
  CHECK(tally_report_ops(t, "ttfa", "ttfa", NULL, &rep) == 0);
  if (rep) check_report(rep, &e, 1);
  tally_free(rep);
  /* A lead's verdict closes each of them: it counts "to final decision". */
  sleep(1);
  CHECK_EQ_U64(work_off(t, "lead", TALLY_STAGE_ADJUDICATE, TALLY_PRIORITY_NORMAL), PER_GROUP);
  expected_read(t, &e);
  CHECK_EQ_U64(e.decision[1][1].count, PER_GROUP);
  /* The figures below sum both workers: each decided some of the items. */
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "ttfa", &st) == 0 && st != NULL && st->worker_count == 2);
  for (size_t i = 0; st != NULL && i < st->worker_count; i++) CHECK(st->workers[i].done > 0);
  if (st != NULL) CHECK_EQ_U64(st->total.done, ITEMS);
  tally_free(st);
  rep = NULL;
  CHECK(tally_report_ops(t, "ttfa", "ttfa", NULL, &rep) == 0);
  if (rep) check_report(rep, &e, 2);
  tally_free(rep);

  /* by market filter: one row; by day: one row per day of action */
  tally_ops_query_t q = {0};
  q.market = "ja";
  rep = NULL;
  CHECK(tally_report_ops(t, "ttfa", "ttfa", &q, &rep) == 0);
  if (rep) {
    CHECK(rep->row_count == 1 && strcmp(rep->rows[0].key, "ja") == 0);
    const tally_ttfa_t *f = ttfa_of(rep, "total", TALLY_PRIORITY_EMERGENCY);
    CHECK(f != NULL && f->first_label_count == PER_GROUP &&
          f->first_label_max_ms == e.first[1][0].max_ms);
  }
  tally_free(rep);

  /* the CLI: table, JSON, help, refusals */
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --project ttfa --format csv") == 0);
  /* es emergency: labeled 3, first label max, decided 3, decision max (ms) */
  const char *line = strstr(out, "es,emergency,3,");
  unsigned long long first_max = 0, decided = 0, decision_max = 0;
  double p50, p95, d50, d95;
  CHECK(line != NULL && sscanf(line, "es,emergency,3,%lf,%lf,%llu,%llu,%lf,%lf,%llu", &p50, &p95,
                               &first_max, &decided, &d50, &d95, &decision_max) == 7);
  CHECK_EQ_U64(first_max, e.first[0][0].max_ms);
  CHECK_EQ_U64(decided, PER_GROUP);
  CHECK_EQ_U64(decision_max, e.decision[0][0].max_ms);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --project ttfa --format json") == 0);
  snprintf(want, sizeof want, "\"first_label_max_ms\": %llu",
           (unsigned long long)e.first_all[0].max_ms);
  CHECK(strstr(out, want) != NULL);
  CHECK(strstr(out, "\"priority\": \"emergency\"") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --project ttfa") == 0);
  CHECK(strstr(out, "ttfa report of ttfa") != NULL && strstr(out, "emergency") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --help") == 0);
  CHECK(strstr(out, "Usage: tally report ttfa") != NULL && strstr(out, "max is exact") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --project ttfa --by labeler") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report ttfa --project ttfa --shift-hours 4") == 2);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
