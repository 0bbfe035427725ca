/* Operations reports end to end with the real daemons (a coordinator and
 * two workers): a known sequence of ingests, leases, submits with known
 * handling times, one skip, one release and one lease left to expire; then
 * every figure of the throughput, backlog, SLA and capacity reports (through
 * libtally, and the capacity table through the CLI) against values computed
 * by hand below.
 *
 * Project "ops": markets es and ja, lease 1 s, SLA 1 s, overlap 1, no
 * audits. Items: es-0..es-5 and ja-1..ja-3 priority NORMAL, ja-0 HIGH.
 *   les (es): lease+submit 2000, 4000, 6000 ms (es-0..2, done within the SLA),
 *             lease es-3 and skip it, lease es-4 and release it
 *   lja (ja): lease a ja item and let it expire (> 1 s), lease a ja item
 *             again and submit 10000 ms: done > 1 s after ingest, an SLA
 *             breach (which ja item comes first depends on the worker the
 *             client asks first: the items are spread over both workers)
 * Hand-computed (D = 1 day, everything happens today):
 *   es: ingested 6, leases 5, completed 3, done 3, skips 1, releases 1,
 *       expired 0, handling 12000 ms, breaches 0, backlog 3
 *   ja: ingested 4, leases 2, completed 1, done 1, expired 1, handling
 *       10000 ms, breaches 1, backlog 3
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "check.h"
#include "dealer.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"
#include "wire.h"

static cluster_t cluster;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int near(double a, double b) { return fabs(a - b) < 1e-6 * (fabs(b) > 1 ? fabs(b) : 1); }

#define FIG(f, v) CHECK((f).defined && near((f).value, (v)))

static const tally_ops_row_t *row_of(const tally_ops_report_t *r, const char *key) {
  for (size_t i = 0; i < r->row_count; i++)
    if (strcmp(r->rows[i].key, key) == 0) return &r->rows[i];
  return NULL;
}

/* Leases for `who`; returns the task or NULL. */
static tally_task_t *lease(tally_t *t, const char *who) {
  tally_task_t *task = NULL;
  if (tally_lease(t, who, "ops", TALLY_STAGE_LABEL, 0, &task) != 0) return NULL;
  return task;
}

/* Sends an ops_report_request straight to the coordinator (past the
 * client's own checks) and returns the error code of the reply, 0 for an
 * ops_report_reply, or 1 when there was no usable reply. */
static int raw_ops_report(const char *kind, const char *by, double shift_hours) {
  void *ctx = zmq_ctx_new();
  dealer_t *d = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__OpsReportRequest r = TALLY__OPS_REPORT_REQUEST__INIT;
  wire_envelope_init(&req, 0);
  r.project = "ops";
  r.kind = (char *)kind;
  r.by = (char *)by;
  r.shift_hours = shift_hours;
  req.body_case = TALLY__ENVELOPE__BODY_OPS_REPORT_REQUEST;
  req.ops_report_request = &r;
  int code = 1;
  curve_client_t curve;
  if (dealer_new(&d, ctx, cluster.coordinator_endpoint, harness_curve(&cluster, -1, &curve)) == 0) dealer_call(d, &req, 10000, &reply);
  if (reply != NULL) {
    if (reply->body_case == TALLY__ENVELOPE__BODY_OPS_REPORT_REPLY) code = 0;
    if (reply->body_case == TALLY__ENVELOPE__BODY_ERROR)
      code = tally_error_from_wire((int)reply->error->code);
  }
  wire_envelope_free(&reply);
  dealer_destroy(&d);
  zmq_ctx_term(ctx);
  return code;
}

static void check_es(const tally_ops_row_t *es) {
  CHECK(es != NULL);
  if (es == NULL) return;
  CHECK_EQ_U64(es->ingested, 6);
  CHECK_EQ_U64(es->leases, 5);
  CHECK_EQ_U64(es->completed, 3);
  CHECK_EQ_U64(es->items_done, 3);
  CHECK_EQ_U64(es->expired, 0);
  CHECK_EQ_U64(es->skips, 1);
  CHECK_EQ_U64(es->releases, 1);
  CHECK_EQ_U64(es->handling_ms_sum, 12000);
  CHECK_EQ_U64(es->sla_breaches, 0);
  CHECK_EQ_U64(es->backlog, 3);
  FIG(es->completed_per_day, 3);
  FIG(es->abandonment_rate, 0);          /* 0 / 5: defined, 0 */
  FIG(es->skip_rate, 0.2);               /* 1 / 5 */
  FIG(es->breach_rate, 0);               /* 0 / 3 */
  FIG(es->handling_p50_ms, 5000);        /* 2000, 4000, 6000: 2nd in (3000, 5000] */
  FIG(es->handling_p90_ms, 7500);        /* 2.7th: 6000 in (5000, 7500] */
  FIG(es->turnaround_p50_hours, 1);
  FIG(es->arrival_per_day, 6);
  FIG(es->throughput_per_labeler_hour, 900);   /* 3 / (12000 / 3.6e6) */
  FIG(es->time_to_clear_days, 1);              /* 3 / 3 */
  FIG(es->labelers_needed, 37);  /* ceil((3 + 6/86400) / (900 * 8 / 86400)) = ceil(36.0008) */
}

static void check_ja(const tally_ops_row_t *ja) {
  CHECK(ja != NULL);
  if (ja == NULL) return;
  CHECK_EQ_U64(ja->ingested, 4);
  CHECK_EQ_U64(ja->leases, 2);
  CHECK_EQ_U64(ja->completed, 1);
  CHECK_EQ_U64(ja->items_done, 1);
  CHECK_EQ_U64(ja->expired, 1);
  CHECK_EQ_U64(ja->skips, 0);
  CHECK_EQ_U64(ja->releases, 0);
  CHECK_EQ_U64(ja->handling_ms_sum, 10000);
  CHECK_EQ_U64(ja->sla_breaches, 1);
  CHECK_EQ_U64(ja->backlog, 3);
  FIG(ja->abandonment_rate, 0.5);        /* 1 / 2 */
  FIG(ja->skip_rate, 0);
  FIG(ja->breach_rate, 1);
  FIG(ja->handling_p50_ms, 10000);
  FIG(ja->handling_p90_ms, 10000);
  FIG(ja->throughput_per_labeler_hour, 360);  /* 1 / (10000 / 3.6e6) */
  FIG(ja->time_to_clear_days, 3);             /* 3 / 1 */
  FIG(ja->labelers_needed, 91);  /* ceil((3 + 4/86400) / (360 * 8 / 86400)) = ceil(90.0014) */
}

static void check_total(const tally_ops_row_t *t) {
  CHECK_EQ_U64(t->ingested, 10);
  CHECK_EQ_U64(t->leases, 7);
  CHECK_EQ_U64(t->completed, 4);
  CHECK_EQ_U64(t->items_done, 4);
  CHECK_EQ_U64(t->expired, 1);
  CHECK_EQ_U64(t->skips, 1);
  CHECK_EQ_U64(t->releases, 1);
  CHECK_EQ_U64(t->handling_ms_sum, 22000);
  CHECK_EQ_U64(t->sla_breaches, 1);
  CHECK_EQ_U64(t->backlog, 6);
  CHECK_EQ_U64(t->top_priority, 1); /* the HIGH item is done */
  FIG(t->completed_per_day, 4);
  FIG(t->abandonment_rate, 1.0 / 7);
  FIG(t->skip_rate, 1.0 / 7);
  FIG(t->breach_rate, 0.25);
  FIG(t->handling_p50_ms, 5000);   /* 2000, 4000, 6000, 10000: 2nd in (3000, 5000] */
  FIG(t->handling_p90_ms, 10000);  /* 3.6th: 10000 in (7500, 10000] */
  FIG(t->turnaround_p50_hours, 1); /* all within the first hour */
  FIG(t->turnaround_p90_hours, 1);
  FIG(t->arrival_per_day, 10);
  CHECK(near(t->labeler_hours, 22000 / 3.6e6));
  FIG(t->throughput_per_labeler_hour, 4 * 3.6e6 / 22000); /* 654.5454... */
  FIG(t->time_to_clear_days, 1.5);                        /* 6 / 4 */
  /* ceil((6 + 10/86400) / (654.5454 * 8 / 86400)) = ceil(5702510 / 57600) = ceil(99.0019) */
  FIG(t->labelers_needed, 100);
}

int main(void) {
  harness_init(120);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) return 1;
  const char *labels[] = {"ok", "spam"};
  const char *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = "ops";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 1;
  spec.sla_seconds = 1;
  spec.audit_rate = 0.0;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  tally_labeler_t les = {"les", TALLY_ROLE_LABELER, &markets[0], 1, NULL};
  tally_labeler_t lja = {"lja", TALLY_ROLE_LABELER, &markets[1], 1, NULL};
  CHECK(tally_labeler_add(t, &les, NULL) == 0);
  CHECK(tally_labeler_add(t, &lja, NULL) == 0);

  /* Nothing yet: every rate undefined, never 0. */
  tally_ops_report_t *rep = NULL;
  CHECK(tally_report_ops(t, "ops", "capacity", NULL, &rep) == 0);
  if (rep) {
    CHECK(!rep->total.throughput_per_labeler_hour.defined && !rep->total.labelers_needed.defined &&
          !rep->total.oldest_age_ms.defined && !rep->total.breach_rate.defined);
    CHECK_EQ_U64(rep->workers_answered, 2);
  }
  tally_free(rep);

  tally_item_t items[10];
  char ids[10][8];
  for (int i = 0; i < 10; i++) {
    int es = i < 6;
    snprintf(ids[i], sizeof ids[i], "%s-%d", es ? "es" : "ja", es ? i : i - 6);
    items[i] = (tally_item_t){ids[i], es ? "es" : "ja", i == 6 ? 2u : 1u, "content", NULL, NULL};
  }
  uint64_t ingest_from = now_ms();
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "ops", items, 10, &res) == 0 && res && res->accepted == 10);
  tally_free(res);
  uint64_t ingest_to = now_ms();

  const uint32_t handling[] = {2000, 4000, 6000};
  for (int i = 0; i < 3; i++) {
    tally_task_t *task = lease(t, "les");
    CHECK(task != NULL);
    if (task) CHECK(tally_submit(t, "les", task->slot, task->lease_id, "ok", handling[i]) == 0);
    tally_free(task);
  }
  tally_task_t *task = lease(t, "les");
  CHECK(task != NULL);
  if (task) CHECK(tally_skip(t, "les", task->slot, task->lease_id) == 0);
  tally_free(task);
  task = lease(t, "les");
  CHECK(task != NULL);
  if (task) CHECK(tally_release(t, "les", task->slot, task->lease_id) == 0);
  tally_free(task);

  /* The ja items may sit on either worker: which one comes first depends on
   * the worker the client asks first, so only the market is checked. */
  task = lease(t, "lja");
  CHECK(task != NULL && strcmp(task->market, "ja") == 0);
  tally_free(task);
  sleep(3); /* the 1 s lease expires and the item goes back to its queue */
  task = lease(t, "lja");
  CHECK(task != NULL && strcmp(task->market, "ja") == 0);
  if (task) CHECK(tally_submit(t, "lja", task->slot, task->lease_id, "spam", 10000) == 0);
  tally_free(task);

  /* throughput, everything */
  rep = NULL;
  CHECK(tally_report_ops(t, "ops", "throughput", NULL, &rep) == 0);
  if (rep) {
    CHECK_EQ_U64(rep->workers_answered, 2);
    CHECK_EQ_U64(rep->workers_failed, 0);
    CHECK_EQ_U64(rep->days, 1);
    CHECK_EQ_U64(rep->sla_seconds, 1);
    CHECK_EQ_U64(rep->row_count, 0);
    check_total(&rep->total);
    /* oldest waiting: every item was ingested in one batch */
    CHECK(rep->total.oldest_age_ms.defined &&
          rep->total.oldest_age_ms.value + 1 >= (double)(rep->generated_ms - ingest_to) &&
          rep->total.oldest_age_ms.value <= (double)(rep->generated_ms - ingest_from) + 1);
  }
  tally_free(rep);

  /* throughput and sla by market */
  tally_ops_query_t q = {0};
  q.by = "market";
  const char *kinds[] = {"throughput", "sla", "backlog", "capacity"};
  for (int k = 0; k < 4; k++) {
    rep = NULL;
    CHECK(tally_report_ops(t, "ops", kinds[k], &q, &rep) == 0);
    if (rep) {
      CHECK_EQ_U64(rep->row_count, 2);
      check_es(row_of(rep, "es"));
      check_ja(row_of(rep, "ja"));
      check_total(&rep->total);
      const tally_ops_row_t *es = row_of(rep, "es"), *ja = row_of(rep, "ja");
      if (es && ja) {
        CHECK_EQ_U64(es->top_priority, 1);
        CHECK(es->oldest_age_ms.defined && ja->oldest_age_ms.defined);
      }
    }
    tally_free(rep);
  }

  /* capacity groups by market without --by; market filter */
  rep = NULL;
  q.by = NULL;
  q.market = "ja";
  CHECK(tally_report_ops(t, "ops", "capacity", &q, &rep) == 0);
  if (rep) {
    CHECK_EQ_U64(rep->row_count, 1);
    if (rep->row_count == 1) check_ja(&rep->rows[0]);
    CHECK_EQ_U64(rep->total.backlog, 3);
  }
  tally_free(rep);

  /* by stage: all of it is stage label; by day: one row, today */
  q.market = NULL;
  q.by = "stage";
  rep = NULL;
  CHECK(tally_report_ops(t, "ops", "sla", &q, &rep) == 0);
  if (rep) {
    CHECK(rep->row_count == 1 && strcmp(rep->rows[0].key, "label") == 0);
    if (rep->row_count == 1) check_total(&rep->rows[0]);
  }
  tally_free(rep);
  q.by = "day";
  rep = NULL;
  CHECK(tally_report_ops(t, "ops", "throughput", &q, &rep) == 0);
  if (rep) {
    CHECK_EQ_U64(rep->row_count, 1);
    if (rep->row_count == 1) CHECK_EQ_U64(rep->rows[0].completed, 4);
  }
  tally_free(rep);
  /* shift hours: 4 h shifts double the labelers: ceil(99.0019 * 2) = 199 */
  q.by = NULL;
  q.shift_hours = 4;
  rep = NULL;
  CHECK(tally_report_ops(t, "ops", "capacity", &q, &rep) == 0);
  if (rep) FIG(rep->total.labelers_needed, 199);
  tally_free(rep);

  /* refusals */
  tally_ops_query_t bad = {0};
  bad.by = "day";
  rep = NULL;
  CHECK(tally_report_ops(t, "ops", "backlog", &bad, &rep) < 0 && rep == NULL);
  CHECK(tally_report_ops(t, "ops", "quality", NULL, &rep) < 0);
  CHECK(tally_report_ops(t, "nope", "sla", NULL, &rep) < 0);
  bad.by = NULL;
  bad.market = "fr";
  CHECK(tally_report_ops(t, "ops", "sla", &bad, &rep) < 0);
  tally_close(&t);
  /* the coordinator's own checks */
  CHECK(raw_ops_report("sla", "", 0) == 0);
  CHECK(raw_ops_report("quality", "", 0) == TALLY_E_INVALID_ARGUMENT);
  CHECK(raw_ops_report("backlog", "day", 0) == TALLY_E_INVALID_ARGUMENT);
  CHECK(raw_ops_report("sla", "labeler", 0) == TALLY_E_INVALID_ARGUMENT);
  CHECK(raw_ops_report("capacity", "", 30) == TALLY_E_INVALID_ARGUMENT);

  /* the CLI: CSV of the capacity report, help, usage errors */
  static char out[16384];
  CHECK(cluster_cli(&cluster, out, sizeof out, "report capacity --project ops --format csv") == 0);
  CHECK(strstr(out, "group,backlog,arrival/day,completed/day,per labeler-hour,days to clear,"
                    "labelers needed") != NULL);
  CHECK(strstr(out, "es,3,6.00,3.00,900.00,1.00,37") != NULL);
  CHECK(strstr(out, "ja,3,4.00,1.00,360.00,3.00,91") != NULL);
  CHECK(strstr(out, "total,6,10.00,4.00,654.55,1.50,100") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report sla --project ops --by market") == 0);
  CHECK(strstr(out, "breach rate") != NULL && strstr(out, "0.2500") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report throughput --project ops --format json") == 0);
  CHECK(strstr(out, "\"abandonment_rate\"") != NULL && strstr(out, "\"completed\": 4") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report backlog --project ops --market es") == 0);
  CHECK(strstr(out, "backlog") != NULL);
  const char *help_kinds[] = {"throughput", "backlog", "sla", "capacity"};
  for (int k = 0; k < 4; k++) {
    CHECK(cluster_cli(&cluster, out, sizeof out, "report %s --help", help_kinds[k]) == 0);
    char want[64];
    snprintf(want, sizeof want, "Usage: tally report %s", help_kinds[k]);
    CHECK(strstr(out, want) != NULL);
  }
  CHECK(cluster_cli(&cluster, out, sizeof out, "report backlog --project ops --by day") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report sla --by market") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report sla --project ops --shift-hours 4") == 2);

  cluster_stop(&cluster);
  return check_summary();
}
