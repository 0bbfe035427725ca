/* ops_report_test: the operations report engine (common/ops_report.c) on
 * small data where every figure is computed by hand in the comments;
 * rows split across "workers" sum to the same; undefined figures; grouping
 * and validation. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "handling.h"
#include "ops_report.h"
#include "tally_error.h"
#include "ttfa.h"

#define DAY 20000u                       /* 2024-10-04 */
#define NOW_MS (20001ull * 86400000ull)  /* midnight after day DAY+1 */

static int near(double a, double b) { return fabs(a - b) < 1e-9 * (fabs(b) > 1 ? fabs(b) : 1); }

/* A row with a handling histogram built from `handling` (n values) and a
 * turnaround histogram from `turn_ms` (m values). */
static Tally__OpsRow *row_new(const char *market, uint32_t day, uint32_t stage) {
  Tally__OpsRow *r = calloc(1, sizeof *r);
  tally__ops_row__init(r);
  r->market = (char *)market;
  r->day = day;
  r->stage = (Tally__Stage)stage;
  r->handling_histogram = calloc(HANDLING_BUCKETS, sizeof(uint64_t));
  r->n_handling_histogram = HANDLING_BUCKETS;
  r->turnaround_histogram = calloc(OPS_TURNAROUND_BUCKETS, sizeof(uint64_t));
  r->n_turnaround_histogram = OPS_TURNAROUND_BUCKETS;
  return r;
}

static void row_free(Tally__OpsRow *r) {
  free(r->handling_histogram);
  free(r->turnaround_histogram);
  free(r);
}

static void submit(Tally__OpsRow *r, uint32_t handling_ms) {
  r->completed++;
  r->handling_ms_sum += handling_ms;
  r->handling_histogram[handling_bucket_of(handling_ms)]++;
}

static void done(Tally__OpsRow *r, uint64_t turnaround_ms, int breach) {
  r->items_done++;
  r->turnaround_ms_sum += turnaround_ms;
  r->turnaround_histogram[ops_turnaround_bucket_of(turnaround_ms)]++;
  r->sla_breaches += breach;
}

static Tally__QueueAge queue(const char *market, uint32_t stage, uint64_t depth, uint32_t top,
                             uint64_t oldest) {
  Tally__QueueAge q = TALLY__QUEUE_AGE__INIT;
  q.market = (char *)market;
  q.stage = (Tally__Stage)stage;
  q.depth = depth;
  q.top_priority = top;
  q.oldest_ingested_ms = oldest;
  return q;
}

static const Tally__OpsReportRow *row_of(const Tally__OpsReportReply *rep, const char *key) {
  for (size_t i = 0; i < rep->n_rows; i++)
    if (strcmp(rep->rows[i]->key, key) == 0) return rep->rows[i];
  return NULL;
}

/* The data set, on two days (D = 2):
 *   es, day DAY,   LABEL: ingested 10, leases 8, submits 2000, 4000, 6000 ms,
 *                         2 done (1 h 30 min -> bucket <=2 h; 30 min -> <=1 h,
 *                         1 breach), expired 2, skips 1, releases 1
 *   es, day DAY+1, AUDIT: leases 2, submit 10000 ms, 1 done (5 h -> <=8 h)
 *   ja, day DAY+1, LABEL: ingested 4, leases 0
 * queues now: es LABEL depth 5 top 1 oldest NOW-3 h; es AUDIT depth 1 top 2
 * oldest NOW-1 h; ja LABEL depth 4 top 0 oldest NOW-2 h.
 * SLA 1 hour (sla_days = 1/24), 8 h shifts. */
static Tally__OpsRow *rows[3];
static Tally__QueueAge queues[3];

static void data_make(void) {
  rows[0] = row_new("es", DAY, 0);
  rows[0]->ingested = 10;
  rows[0]->leases = 8;
  submit(rows[0], 2000);
  submit(rows[0], 4000);
  submit(rows[0], 6000);
  done(rows[0], 90 * 60000ull, 1);
  done(rows[0], 30 * 60000ull, 0);
  rows[0]->expired = 2;
  rows[0]->skips = 1;
  rows[0]->releases = 1;
  rows[1] = row_new("es", DAY + 1, 1);
  rows[1]->leases = 2;
  submit(rows[1], 10000);
  done(rows[1], 5 * 3600000ull, 1);
  rows[2] = row_new("ja", DAY + 1, 0);
  rows[2]->ingested = 4;
  queues[0] = queue("es", 0, 5, 1, NOW_MS - 3 * 3600000ull);
  queues[1] = queue("es", 1, 1, 2, NOW_MS - 3600000ull);
  queues[2] = queue("ja", 0, 4, 0, NOW_MS - 2 * 3600000ull);
}

static Tally__OpsReportReply *run(const char *kind, const char *by, const char *market,
                                  uint32_t from, uint32_t to, int split) {
  ops_query_t q = {kind, by, market, from, to, 3600, 0, NOW_MS};
  ops_report_t *r = NULL;
  if (ops_report_new(&r, "p", &q) != 0) return NULL;
  if (split) {
    /* the same data as three workers' replies, in another order */
    Tally__OpsReply w[3];
    for (int i = 0; i < 3; i++) {
      tally__ops_reply__init(&w[i]);
      w[i].n_rows = 1;
      w[i].rows = &rows[2 - i];
      Tally__QueueAge *qp = &queues[i];
      w[i].n_queues = 1;
      w[i].queues = malloc(sizeof *w[i].queues);
      w[i].queues[0] = qp;
      CHECK(ops_report_add_reply(r, &w[i]) == 0);
      free(w[i].queues);
    }
  } else {
    for (int i = 0; i < 3; i++) CHECK(ops_report_add_row(r, rows[i]) == 0);
    for (int i = 0; i < 3; i++) CHECK(ops_report_add_queue(r, &queues[i]) == 0);
  }
  Tally__OpsReportReply *rep = NULL;
  CHECK(ops_report_build(r, &rep) == 0);
  ops_report_destroy(&r);
  ops_report_destroy(&r); /* safe twice */
  return rep;
}

static void test_total(int split) {
  Tally__OpsReportReply *rep = run("throughput", "", "", 0, 0, split);
  CHECK(rep != NULL);
  if (rep == NULL) return;
  const Tally__OpsReportRow *t = rep->total;
  /* range: from = first day with data (DAY), to = day of NOW (DAY+1): D=2 */
  CHECK_EQ_U64(rep->from_day, DAY);
  CHECK_EQ_U64(rep->to_day, DAY + 1);
  CHECK_EQ_U64(rep->days, 2);
  CHECK_EQ_U64(rep->n_rows, 0);
  CHECK(strcmp(t->key, "all") == 0);
  CHECK_EQ_U64(t->ingested, 14);
  CHECK_EQ_U64(t->leases, 10);
  CHECK_EQ_U64(t->completed, 4);
  CHECK_EQ_U64(t->items_done, 3);
  CHECK_EQ_U64(t->expired, 2);
  CHECK_EQ_U64(t->skips, 1);
  CHECK_EQ_U64(t->releases, 1);
  CHECK_EQ_U64(t->handling_ms_sum, 22000);
  CHECK_EQ_U64(t->sla_breaches, 2);
  CHECK_EQ_U64(t->backlog, 10);
  CHECK_EQ_U64(t->top_priority, 2);
  /* handling 2000 (<=2000), 4000 (<=5000), 6000 (<=7500), 10000 (<=10000):
   * p50 = 2nd of 4 -> 5000; p90 = 3.6th -> 10000 */
  CHECK(t->handling_p50_defined && near(t->handling_p50_ms, 5000));
  CHECK(t->handling_p90_defined && near(t->handling_p90_ms, 10000));
  CHECK(t->completed_per_day_defined && near(t->completed_per_day, 2.0)); /* 4 / 2 */
  CHECK(t->abandonment_defined && near(t->abandonment_rate, 0.2));        /* 2 / 10 */
  CHECK(t->skip_rate_defined && near(t->skip_rate, 0.1));                 /* 1 / 10 */
  CHECK(t->breach_rate_defined && near(t->breach_rate, 2.0 / 3.0));
  /* turnaround buckets: <=1 h, <=2 h, <=8 h: p50 = 2nd of 3 -> 2 h; p90 -> 8 h */
  CHECK(t->turnaround_p50_defined && near(t->turnaround_p50_hours, 2));
  CHECK(t->turnaround_p90_defined && near(t->turnaround_p90_hours, 8));
  CHECK(t->oldest_age_defined && near(t->oldest_age_ms, 3 * 3600000.0));
  CHECK(t->arrival_defined && near(t->arrival_per_day, 7.0)); /* 14 / 2 */
  CHECK(near(t->labeler_hours, 22000 / 3.6e6));
  /* 4 / (22000 / 3.6e6) = 654.5454... */
  CHECK(t->throughput_defined && near(t->throughput_per_labeler_hour, 4 * 3.6e6 / 22000));
  CHECK(t->time_to_clear_defined && near(t->time_to_clear_days, 5.0)); /* 10 / 2 */
  /* ceil((10 + 7/24) / (654.54 * 8 / 24)) = ceil(10.2917 / 218.18) = ceil(0.0472) = 1 */
  CHECK(t->labelers_needed_defined && near(t->labelers_needed, 1));
  ops_report_reply_free(&rep);
  ops_report_reply_free(&rep);
}

static void test_capacity_by_market(void) {
  /* capacity groups by market by default */
  Tally__OpsReportReply *rep = run("capacity", "", "", 0, 0, 1);
  CHECK(rep != NULL && rep->n_rows == 2);
  if (rep == NULL || rep->n_rows != 2) return;
  CHECK(strcmp(rep->rows[0]->key, "es") == 0 && strcmp(rep->rows[1]->key, "ja") == 0);
  const Tally__OpsReportRow *es = row_of(rep, "es"), *ja = row_of(rep, "ja");
  /* es: backlog 6, arrival 10/2 = 5, completed 4/2 = 2 per day,
   * throughput 4 / (22000/3.6e6) = 654.5454, clear 6/2 = 3 days,
   * labelers ceil((6 + 5/24) / (654.5454 * 8 / 24)) = ceil(6.2083/218.18) = 1 */
  CHECK_EQ_U64(es->backlog, 6);
  CHECK(es->arrival_defined && near(es->arrival_per_day, 5));
  CHECK(near(es->completed_per_day, 2));
  CHECK(near(es->throughput_per_labeler_hour, 4 * 3.6e6 / 22000));
  CHECK(es->time_to_clear_defined && near(es->time_to_clear_days, 3));
  CHECK(es->labelers_needed_defined && near(es->labelers_needed, 1));
  CHECK(es->oldest_age_defined && near(es->oldest_age_ms, 3 * 3600000.0));
  /* ja: backlog 4, arrival 2/day, nothing completed: throughput, time to
   * clear and labelers needed are undefined, never 0 */
  CHECK_EQ_U64(ja->backlog, 4);
  CHECK(ja->arrival_defined && near(ja->arrival_per_day, 2));
  CHECK(ja->completed_per_day_defined && near(ja->completed_per_day, 0));
  CHECK(!ja->throughput_defined);
  CHECK(!ja->time_to_clear_defined);
  CHECK(!ja->labelers_needed_defined);
  CHECK(!ja->handling_p50_defined && !ja->breach_rate_defined && !ja->abandonment_defined);
  CHECK(!ja->turnaround_p50_defined);
  ops_report_reply_free(&rep);
}

static void test_by_stage_and_day(void) {
  Tally__OpsReportReply *rep = run("sla", "stage", "", 0, 0, 0);
  CHECK(rep != NULL && rep->n_rows == 2);
  if (rep != NULL && rep->n_rows == 2) {
    const Tally__OpsReportRow *label = row_of(rep, "label"), *audit = row_of(rep, "audit");
    CHECK(label && audit);
    /* label: 2 done, 1 breach; backlog es 5 + ja 4; audit: 1 done, 1 breach */
    CHECK_EQ_U64(label->items_done, 2);
    CHECK(label->breach_rate_defined && near(label->breach_rate, 0.5));
    CHECK_EQ_U64(label->backlog, 9);
    CHECK_EQ_U64(audit->items_done, 1);
    CHECK(near(audit->breach_rate, 1.0));
    CHECK(near(audit->turnaround_p50_hours, 8));
    CHECK_EQ_U64(audit->backlog, 1);
    CHECK_EQ_U64(audit->top_priority, 2);
  }
  ops_report_reply_free(&rep);
  rep = run("throughput", "day", "", 0, 0, 1);
  CHECK(rep != NULL && rep->n_rows == 2);
  if (rep != NULL && rep->n_rows == 2) {
    CHECK(strcmp(rep->rows[0]->key, "2024-10-04") == 0);
    /* a day row's rates are per its own day: completed 3 on day one */
    CHECK(near(rep->rows[0]->completed_per_day, 3));
    CHECK(near(rep->rows[1]->completed_per_day, 1));
    CHECK(near(rep->rows[1]->arrival_per_day, 4));
    CHECK_EQ_U64(rep->rows[0]->backlog, 0); /* queues have no day */
    CHECK_EQ_U64(rep->total->backlog, 10);
  }
  ops_report_reply_free(&rep);
}

static void test_filters(void) {
  /* market ja only, day DAY+1 only: D = 1 */
  Tally__OpsReportReply *rep = run("throughput", "", "ja", DAY + 1, DAY + 1, 0);
  CHECK(rep != NULL);
  if (rep == NULL) return;
  CHECK_EQ_U64(rep->days, 1);
  CHECK_EQ_U64(rep->total->ingested, 4);
  CHECK_EQ_U64(rep->total->completed, 0);
  CHECK_EQ_U64(rep->total->backlog, 4);
  CHECK(!rep->total->abandonment_defined);
  ops_report_reply_free(&rep);
  /* day DAY only: es day one */
  rep = run("throughput", "", "", DAY, DAY, 0);
  CHECK(rep && rep->total->completed == 3 && rep->total->ingested == 10);
  ops_report_reply_free(&rep);
}

static void test_empty_and_validation(void) {
  ops_query_t q = {"sla", "", "", 0, 0, 0, 0, NOW_MS};
  ops_report_t *r = NULL;
  CHECK(ops_report_new(&r, "p", &q) == 0);
  Tally__OpsReportReply *rep = NULL;
  CHECK(ops_report_build(r, &rep) == 0);
  /* nothing at all: every rate undefined, range = today only */
  CHECK(rep && rep->days == 1 && rep->from_day == DAY + 1);
  CHECK(rep && !rep->total->breach_rate_defined && !rep->total->oldest_age_defined &&
        !rep->total->throughput_defined && !rep->total->labelers_needed_defined &&
        !rep->total->handling_p50_defined);
  ops_report_reply_free(&rep);
  ops_report_destroy(&r);
  /* SLA 0: labelers needed undefined even with throughput */
  ops_query_t q0 = {"capacity", "", "", 0, 0, 0, 0, NOW_MS};
  CHECK(ops_report_new(&r, "p", &q0) == 0);
  ops_report_add_row(r, rows[0]);
  ops_report_build(r, &rep);
  CHECK(rep && rep->rows[0]->throughput_defined && !rep->rows[0]->labelers_needed_defined);
  ops_report_reply_free(&rep);
  ops_report_destroy(&r);
  ops_query_t bad[] = {{"quality", "", "", 0, 0, 0, 0, 0}, {"backlog", "day", "", 0, 0, 0, 0, 0},
                       {"capacity", "day", "", 0, 0, 0, 0, 0}, {"sla", "labeler", "", 0, 0, 0, 0, 0},
                       {"sla", "", "", 5, 4, 0, 0, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(ops_report_new(&r, "p", &bad[i]) == TALLY_E_INVALID_ARGUMENT);
    CHECK(r == NULL);
  }
  CHECK(ops_report_by_is_valid("throughput", "day") && ops_report_by_is_valid("sla", "stage"));
  CHECK(!ops_report_by_is_valid("backlog", "day"));
  /* bucket bounds */
  CHECK_EQ_U64(ops_turnaround_bucket_of(3600000), 0);
  CHECK_EQ_U64(ops_turnaround_bucket_of(3600001), 1);
  CHECK_EQ_U64(ops_turnaround_bucket_of(1000ull * 3600000), OPS_TURNAROUND_BUCKETS - 1);
  uint64_t h[OPS_TURNAROUND_BUCKETS] = {0};
  h[OPS_TURNAROUND_BUCKETS - 1] = 1;
  double hours = 0;
  CHECK(ops_turnaround_quantile(h, OPS_TURNAROUND_BUCKETS, 0.5, &hours) == 0 && near(hours, 168));
  /* capacity rounding: (B + A*s)/(T*H*s) exactly 3 stays 3 */
  Tally__OpsRow *x = row_new("es", DAY + 1, 0);
  x->completed = 1;
  x->handling_ms_sum = 3600000; /* 1 per labeler-hour */
  Tally__QueueAge qa = queue("es", 0, 24, 1, NOW_MS - 1);
  ops_query_t q1 = {"capacity", "", "", 0, 0, 86400, 8, NOW_MS};
  CHECK(ops_report_new(&r, "p", &q1) == 0);
  ops_report_add_row(r, x);
  ops_report_add_queue(r, &qa);
  ops_report_build(r, &rep);
  /* ceil((24 + 0*1) / (1 * 8 * 1)) = 3 */
  CHECK(rep && rep->rows[0]->labelers_needed_defined && near(rep->rows[0]->labelers_needed, 3));
  ops_report_reply_free(&rep);
  ops_report_destroy(&r);
  /* nothing waiting, nothing arriving: 0 labelers needed (defined, not -0) */
  CHECK(ops_report_new(&r, "p", &q1) == 0);
  ops_report_add_row(r, x);
  ops_report_build(r, &rep);
  CHECK(rep && rep->rows[0]->labelers_needed_defined && rep->rows[0]->labelers_needed == 0.0 &&
        !signbit(rep->rows[0]->labelers_needed));
  ops_report_reply_free(&rep);
  ops_report_destroy(&r);
  row_free(x);
}

/* ------------------------------------------------------------ ttfa */

static void test_ttfa_buckets(void) {
  CHECK_EQ_U64(ttfa_bucket_upper_ms(0), 1000);
  CHECK_EQ_U64(ttfa_bucket_upper_ms(1), 1585);
  CHECK_EQ_U64(ttfa_bucket_upper_ms(4), 6310);
  CHECK_EQ_U64(ttfa_bucket_upper_ms(5), 10000);
  CHECK_EQ_U64(ttfa_bucket_upper_ms(18), 3981000);
  CHECK_EQ_U64(ttfa_bucket_upper_ms(29), 631000000);
  CHECK_EQ_U64(ttfa_bucket_upper_ms(30), 0);
  CHECK_EQ_U64(ttfa_bucket_of(0), 0);
  CHECK_EQ_U64(ttfa_bucket_of(1000), 0);
  CHECK_EQ_U64(ttfa_bucket_of(1001), 1);
  CHECK_EQ_U64(ttfa_bucket_of(1585), 1);
  CHECK_EQ_U64(ttfa_bucket_of(1586), 2);
  CHECK_EQ_U64(ttfa_bucket_of(60000), 9);  /* (39811, 63096] */
  CHECK_EQ_U64(ttfa_bucket_of(7 * 86400000ull), 29);
  CHECK_EQ_U64(ttfa_bucket_of(631000001), 30);
  /* bounds grow by 10^(1/5) each, within rounding: the documented error */
  for (size_t i = 1; i < TTFA_BUCKETS - 1; i++) {
    double ratio = (double)ttfa_bucket_upper_ms(i) / (double)ttfa_bucket_upper_ms(i - 1);
    CHECK(fabs(ratio - pow(10.0, 0.2)) < 1e-3);
  }
  /* quantiles: empty is undefined; nearest rank; capped at the exact max */
  ttfa_histogram_t h = {0};
  double ms = -1;
  CHECK(ttfa_histogram_quantile(&h, 500, &ms) == 1);
  ttfa_histogram_add(&h, 300);
  CHECK(ttfa_histogram_quantile(&h, 500, &ms) == 0 && near(ms, 300)); /* min(1000, max) */
  ttfa_histogram_add(&h, 2000);
  ttfa_histogram_add(&h, 2100);
  ttfa_histogram_add(&h, 8 * 86400000ull); /* beyond the last bound */
  /* ranks: p50 = 2nd (2000, bucket (1585, 2512]); p95 = 4th (last bucket: max) */
  CHECK(ttfa_histogram_quantile(&h, 500, &ms) == 0 && near(ms, sqrt(1585.0 * 2512.0)));
  CHECK(ttfa_histogram_quantile(&h, 950, &ms) == 0 && near(ms, 8 * 86400000.0));
  CHECK(ttfa_histogram_quantile(&h, 1001, &ms) == 1);
  CHECK_EQ_U64(h.count, 4);
  CHECK_EQ_U64(h.max_ms, 8 * 86400000ull);
  CHECK_EQ_U64(h.sum_ms, 300 + 2000 + 2100 + 8 * 86400000ull);
}

/* Adds first-label and decision durations of `priority` to a row. */
static void ttfa_add(Tally__OpsRow *row, uint32_t priority, const uint64_t *first, size_t nf,
                     const uint64_t *decision, size_t nd) {
  Tally__TtfaRow *t = ttfa_row_of(row, priority);
  CHECK(t != NULL);
  for (size_t i = 0; i < nf; i++) CHECK(ttfa_message_add(t->first_label, first[i]) == 0);
  for (size_t i = 0; i < nd; i++) CHECK(ttfa_message_add(t->decision, decision[i]) == 0);
}

/* Frees what ttfa_row_of and ttfa_message_add allocated in `row`. */
static void ttfa_rows_free(Tally__OpsRow *row) {
  for (size_t i = 0; i < row->n_ttfa; i++) {
    Tally__DurationHistogram *h[2] = {row->ttfa[i]->first_label, row->ttfa[i]->decision};
    for (int k = 0; k < 2; k++) {
      free(h[k]->buckets);
      free(h[k]);
    }
    free(row->ttfa[i]);
  }
  free(row->ttfa);
}

static const Tally__TtfaFigures *ttfa_of(const Tally__OpsReportRow *row, uint32_t priority) {
  for (size_t i = 0; row && i < row->n_ttfa; i++)
    if (row->ttfa[i]->priority == priority) return row->ttfa[i];
  return NULL;
}

/* Two workers' rows of the same market and day add up to the figures of
 * the union, computed by hand:
 *   es emergency first labels 500, 2000 (worker A), 30000, 45000 (B):
 *     p50 = 2nd = 2000 -> sqrt(1585 * 2512); p95 = 4th = 45000 in
 *     (39811, 63096] -> sqrt(39811 * 63096) = 50119 capped at max 45000.
 *   es emergency decisions 45000 (B). es normal decision 3,600,000 (A) in
 *     (2512000, 3981000] -> sqrt(2512000 * 3981000), no first label.
 *   ja emergency first label 1200 (A).
 * A stored priority past EMERGENCY is ignored. */
static void test_ttfa_report(void) {
  Tally__OpsRow a = TALLY__OPS_ROW__INIT, b = TALLY__OPS_ROW__INIT, c = TALLY__OPS_ROW__INIT;
  a.market = b.market = (char *)"es";
  c.market = (char *)"ja";
  a.day = b.day = c.day = DAY;
  ttfa_add(&a, 3, (uint64_t[]){500, 2000}, 2, NULL, 0);
  ttfa_add(&a, 1, NULL, 0, (uint64_t[]){3600000}, 1);
  ttfa_add(&b, 3, (uint64_t[]){30000, 45000}, 2, (uint64_t[]){45000}, 1);
  ttfa_add(&b, 7, (uint64_t[]){1}, 1, NULL, 0);
  ttfa_add(&c, 3, (uint64_t[]){1200}, 1, NULL, 0);
  ops_query_t q = {"ttfa", "", "", 0, 0, 3600, 0, NOW_MS};
  ops_report_t *r = NULL;
  CHECK(ops_report_new(&r, "p", &q) == 0);
  CHECK(ops_report_add_row(r, &b) == 0);
  CHECK(ops_report_add_row(r, &c) == 0);
  CHECK(ops_report_add_row(r, &a) == 0);
  Tally__OpsReportReply *rep = NULL;
  CHECK(ops_report_build(r, &rep) == 0);
  CHECK(rep != NULL && rep->n_rows == 2); /* by "" = by market for ttfa */
  const Tally__OpsReportRow *es = rep ? row_of(rep, "es") : NULL;
  CHECK(es != NULL && es->n_ttfa == 2 && es->ttfa[0]->priority == 1 && es->ttfa[1]->priority == 3);
  const Tally__TtfaFigures *f = ttfa_of(es, 3);
  CHECK(f != NULL);
  if (f != NULL) {
    CHECK_EQ_U64(f->first_label_count, 4);
    CHECK(f->first_label_defined && near(f->first_label_p50_ms, sqrt(1585.0 * 2512.0)));
    CHECK(near(f->first_label_p95_ms, 45000));
    CHECK_EQ_U64(f->first_label_max_ms, 45000);
    CHECK(near(f->first_label_mean_ms, (500 + 2000 + 30000 + 45000) / 4.0));
    CHECK_EQ_U64(f->decision_count, 1);
    CHECK(f->decision_defined && near(f->decision_p50_ms, 45000) && f->decision_max_ms == 45000);
  }
  f = ttfa_of(es, 1);
  CHECK(f != NULL && f->first_label_count == 0 && !f->first_label_defined);
  CHECK(f != NULL && f->decision_count == 1 &&
        near(f->decision_p50_ms, sqrt(2512000.0 * 3981000.0)) && f->decision_max_ms == 3600000);
  f = ttfa_of(rep ? row_of(rep, "ja") : NULL, 3);
  CHECK(f != NULL && f->first_label_count == 1 && f->first_label_max_ms == 1200 &&
        !f->decision_defined);
  /* the total sums every market: 5 emergency first labels, max 45000 */
  f = ttfa_of(rep ? rep->total : NULL, 3);
  CHECK(f != NULL && f->first_label_count == 5 && f->first_label_max_ms == 45000);
  CHECK(rep != NULL && rep->total->n_ttfa == 2);
  ops_report_reply_free(&rep);
  ops_report_destroy(&r);
  /* the same sums through the stored form (a drained worker's hand-over) */
  Tally__DurationHistogram sum = TALLY__DURATION_HISTOGRAM__INIT;
  CHECK(ttfa_message_sum_into(&sum, ttfa_row_of(&a, 3)->first_label) == 0);
  CHECK(ttfa_message_sum_into(&sum, ttfa_row_of(&b, 3)->first_label) == 0);
  CHECK_EQ_U64(sum.count, 4);
  CHECK_EQ_U64(sum.max_ms, 45000);
  CHECK_EQ_U64(sum.sum_ms, 77500);
  CHECK(sum.n_buckets == TTFA_BUCKETS && sum.buckets[0] == 1 && sum.buckets[2] == 1 &&
        sum.buckets[8] == 1 && sum.buckets[9] == 1);
  free(sum.buckets);
  ttfa_rows_free(&a);
  ttfa_rows_free(&b);
  ttfa_rows_free(&c);
}

int main(void) {
  check_deadline(30, NULL);
  data_make();
  test_total(0);
  test_total(1);
  test_capacity_by_market();
  test_by_stage_and_day();
  test_filters();
  test_empty_and_validation();
  test_ttfa_buckets();
  test_ttfa_report();
  for (int i = 0; i < 3; i++) row_free(rows[i]);
  return check_summary();
}
