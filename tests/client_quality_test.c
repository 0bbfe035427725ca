/* client_quality_test: the audit side of libtally and of `tally` against a
 * fake cluster (tests/client_fake.h).
 *
 * The fake coordinator serves the map, one project with an audit policy,
 * audit_policy_set and report_request; the fake workers serve feedback
 * (each its own entries, one of them shared to look like a slot move),
 * export pages (PAGE judgments per page, the cursor a decimal index),
 * leases of adjudication tasks with candidates, and submits (recording the
 * attribution and note). Switches make a worker silent, a page stuck, the
 * report malformed, a third worker down.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client_capture.h"
#include "client_fake.h"
#include "clock.h"
#include "slot.h"
#include "tally.h"
#include "wire.h"

#define WORKERS 2

typedef struct {
  int silent;
  int stuck_export;  /* pages say "not done" without moving */
  size_t judgments;  /* to export */
  uint64_t export_requests, submits, feedback_requests;
  uint32_t last_limit;
  char last_labeler[64], last_project[64];
} worker_t;

static struct {
  fake_t *fake;
  worker_t workers[WORKERS];
  int third_down; /* a third worker in the map: down, owning slots */
  uint32_t owner[TALLY_SLOT_COUNT];
  /* coordinator: the project's policy */
  double rate, ramp_rate, ramp_target;
  uint32_t ramp_audits, policy_version;
  char markets[4][16];
  double market_rates[4];
  size_t market_count;
  uint64_t policy_sets;
  /* coordinator: the last report request */
  int malformed_report;
  char report_market[32], report_by[32];
  uint32_t report_from, report_to;
  /* workers: the last submit */
  int attribution;
  char note[128], label[64];
} Q;

static char *labels3[] = {"ok", "spam", "abuse"};
static char *markets2[] = {"es", "ja"};

static void lock(void) { fake_lock(Q.fake); }
static void unlock(void) { fake_unlock(Q.fake); }

/* ------------------------------------------------------------ fake coordinator */

static void reply_project(void *socket, zmq_msg_t *identity, uint64_t rid) {
  Tally__Project project;
  Tally__AuditPolicy policy;
  Tally__MarketRate rates[4], *rate_ptrs[4];
  tally__project__init(&project);
  tally__audit_policy__init(&policy);
  for (size_t i = 0; i < Q.market_count; i++) {
    tally__market_rate__init(&rates[i]);
    rates[i].market = Q.markets[i];
    rates[i].rate = Q.market_rates[i];
    rate_ptrs[i] = &rates[i];
  }
  policy.rate = Q.rate;
  policy.n_market_rates = Q.market_count;
  policy.market_rates = rate_ptrs;
  policy.ramp_rate = Q.ramp_rate;
  policy.ramp_audits = Q.ramp_audits;
  policy.ramp_target = Q.ramp_target;
  project.id = 7;
  project.name = "mod";
  project.n_labels = 3;
  project.labels = labels3;
  project.n_markets = 2;
  project.markets = markets2;
  project.audit_rate = Q.rate;
  project.audit = &policy;
  project.policy_version = Q.policy_version;
  Tally__ProjectReply body;
  tally__project_reply__init(&body);
  body.project = &project;
  Tally__Envelope env;
  wire_envelope_init(&env, rid);
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_REPLY;
  env.project_reply = &body;
  fake_reply(socket, identity, &env);
}

static void coefficient(Tally__Coefficient *c, char *name, int defined, double value) {
  tally__coefficient__init(c);
  c->name = name;
  c->defined = defined;
  c->value = value;
}

static void reply_report(void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  const Tally__ReportRequest *r = req->report_request;
  snprintf(Q.report_market, sizeof Q.report_market, "%s", r->market);
  snprintf(Q.report_by, sizeof Q.report_by, "%s", r->by);
  Q.report_from = r->from_day;
  Q.report_to = r->to_day;
  if (strcmp(r->project, "mod") != 0) {
    fake_reply_error(socket, identity, req->request_id, TALLY_E_UNKNOWN_PROJECT, "no project 'nope'");
    return;
  }
  Tally__Coefficient c[5], *row_c[2] = {&c[0], &c[1]}, *total_c[3] = {&c[2], &c[3], &c[4]};
  coefficient(&c[0], "percent_agreement", 1, 0.8);
  coefficient(&c[1], "cohen_kappa", 0, 0.0);
  coefficient(&c[2], "percent_agreement", 1, 0.75);
  coefficient(&c[3], "cohen_kappa", 1, 0.5);
  coefficient(&c[4], "scott_pi", 0, 0.0);
  Tally__ReportRow row, total, *rows[1] = {&row};
  tally__report_row__init(&row);
  tally__report_row__init(&total);
  row.key = "ana";
  row.labels = 10;
  row.audits = 5;
  row.audit_agreed = 4;
  row.accuracy_defined = 1;
  row.accuracy = 0.8;
  row.wilson_low = 0.376;
  row.wilson_high = 0.964;
  row.n_coefficients = 2;
  row.coefficients = row_c;
  row.gold_total = 3;
  row.gold_hits = 2;
  row.adjudications = 1;
  row.attributed_auditor = 1;
  row.handling_p50_ms = 4000;
  row.handling_p90_ms = 16000;
  total.key = "all";
  total.labels = 12;
  total.audits = 0;
  total.accuracy_defined = 0;
  total.accuracy = 0.123; /* must not show: undefined */
  total.n_coefficients = 3;
  total.coefficients = total_c;
  uint64_t confusion[9] = {4, 1, 0, 0, 0, 0, 0, 0, 0}, unclear[9] = {0, 1, 0, 0, 0, 0, 0, 0, 0};
  Tally__ReportReply body;
  tally__report_reply__init(&body);
  body.project = "mod";
  body.n_labels = 3;
  body.labels = labels3;
  body.n_rows = 1;
  body.rows = rows;
  body.total = &total;
  body.n_confusion = Q.malformed_report ? 4 : 9;
  body.confusion = confusion;
  body.n_policy_unclear = 9;
  body.policy_unclear = unclear;
  body.workers_answered = 2;
  body.workers_failed = 1;
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_REPORT_REPLY;
  env.report_reply = &body;
  fake_reply(socket, identity, &env);
}

static void serve_coordinator(void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  switch (req->body_case) {
    case TALLY__ENVELOPE__BODY_MAP_REQUEST: {
      fake_map_worker_t workers[WORKERS + 1];
      for (int i = 0; i < WORKERS; i++) workers[i] = (fake_map_worker_t){(uint32_t)i + 1, fake_endpoint(Q.fake, i + 1), 0, 512};
      workers[WORKERS] = (fake_map_worker_t){3, "tcp://127.0.0.1:1", 1, 5};
      fake_reply_map(socket, identity, req->request_id, 1, workers, Q.third_down ? WORKERS + 1 : WORKERS, Q.owner);
      return;
    }
    case TALLY__ENVELOPE__BODY_PROJECT_SHOW:
      reply_project(socket, identity, req->request_id);
      return;
    case TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET: {
      const Tally__AuditPolicy *p = req->audit_policy_set->policy;
      Q.policy_sets++;
      Q.rate = p->rate;
      Q.ramp_rate = p->ramp_rate;
      Q.ramp_audits = p->ramp_audits;
      Q.ramp_target = p->ramp_target;
      Q.market_count = p->n_market_rates < 4 ? p->n_market_rates : 4;
      for (size_t i = 0; i < Q.market_count; i++) {
        snprintf(Q.markets[i], sizeof Q.markets[i], "%s", p->market_rates[i]->market);
        Q.market_rates[i] = p->market_rates[i]->rate;
      }
      Q.policy_version++;
      reply_project(socket, identity, req->request_id);
      return;
    }
    case TALLY__ENVELOPE__BODY_REPORT_REQUEST:
      reply_report(socket, identity, req);
      return;
    default:
      fake_reply_error(socket, identity, req->request_id, TALLY_E_UNKNOWN_TYPE, NULL);
  }
}

/* ------------------------------------------------------------ fake workers */

static void reply_feedback(int w, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  worker_t *wk = &Q.workers[w];
  const Tally__FeedbackRequest *r = req->feedback_request;
  wk->feedback_requests++;
  wk->last_limit = r->limit;
  snprintf(wk->last_labeler, sizeof wk->last_labeler, "%s", r->labeler);
  snprintf(wk->last_project, sizeof wk->last_project, "%s", r->project);
  /* Worker 1 closed audits at 500, 300, 100; worker 2 at 600, 400, 200 and
   * also reports worker 1's 300 (a slot that moved). */
  static const uint64_t times[2][4] = {{500, 300, 100, 0}, {600, 400, 200, 300}};
  Tally__FeedbackEntry e[4], *ep[4];
  char ids[4][32];
  size_t n = w == 0 ? 3 : 4;
  for (size_t i = 0; i < n; i++) {
    tally__feedback_entry__init(&e[i]);
    snprintf(ids[i], sizeof ids[i], "item-%llu", (unsigned long long)times[w][i]);
    e[i].project = "mod";
    e[i].item_id = ids[i];
    e[i].your_label = "spam";
    e[i].final_label = times[w][i] % 200 == 0 ? "spam" : "ok";
    e[i].correct = times[w][i] % 200 == 0;
    e[i].closed_ms = times[w][i];
    ep[i] = &e[i];
  }
  Tally__FeedbackReply body;
  tally__feedback_reply__init(&body);
  body.n_entries = n;
  body.entries = ep;
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_FEEDBACK_REPLY;
  env.feedback_reply = &body;
  fake_reply(socket, identity, &env);
}

#define PAGE 2

static void reply_export(int w, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  worker_t *wk = &Q.workers[w];
  const Tally__ExportRequest *r = req->export_request;
  wk->export_requests++;
  char after[32] = "0";
  if (r->after.len > 0 && r->after.len < sizeof after) {
    memcpy(after, r->after.data, r->after.len);
    after[r->after.len] = '\0';
  }
  size_t first = (size_t)strtoull(after, NULL, 10), limit = r->limit ? r->limit : 1000;
  Tally__Judgment j[PAGE + 8], *jp[PAGE + 8];
  Tally__StoredLabel labels[PAGE + 8][2], *label_ptrs[PAGE + 8][2], audit[PAGE + 8];
  char ids[PAGE + 8][48];
  static char *audited[] = {"ana", "b;en"};
  size_t n = 0;
  for (size_t i = first; !wk->stuck_export && i < wk->judgments && n < limit && n < PAGE + 8; i++, n++) {
    tally__judgment__init(&j[n]);
    snprintf(ids[n], sizeof ids[n], "w%d-j%zu", w + 1, i);
    for (int k = 0; k < 2; k++) {
      tally__stored_label__init(&labels[n][k]);
      labels[n][k].labeler = k ? "b;en" : "ana";
      labels[n][k].label = k ? "ok" : "spam";
      labels[n][k].at_ms = 1000 + i;
      labels[n][k].handling_ms = 2500;
      label_ptrs[n][k] = &labels[n][k];
    }
    tally__stored_label__init(&audit[n]);
    audit[n].labeler = "aud";
    audit[n].label = "ok";
    audit[n].at_ms = 2000 + i;
    j[n].project = "mod";
    j[n].item_id = ids[n];
    j[n].market = "es";
    j[n].n_labels = 2;
    j[n].labels = label_ptrs[n];
    j[n].audit = &audit[n];
    j[n].final_label = "ok";
    j[n].attribution = TALLY__ATTRIBUTION__ATTRIBUTION_LABELER;
    j[n].adjudicator = "lead";
    j[n].note = "said \"spam\", was ok";
    j[n].closed_ms = 3000 + i;
    j[n].content = "{\"text\": \"a, b\"}";
    j[n].n_audited_labelers = 2;
    j[n].audited_labelers = audited;
    jp[n] = &j[n];
  }
  char next[32];
  snprintf(next, sizeof next, "%zu", first + n);
  Tally__ExportReply body;
  tally__export_reply__init(&body);
  body.n_judgments = n;
  body.judgments = jp;
  body.done = !wk->stuck_export && first + n >= wk->judgments;
  if (!body.done) body.next = (ProtobufCBinaryData){strlen(next), (uint8_t *)next};
  if (wk->stuck_export) body.next = r->after; /* no progress */
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_EXPORT_REPLY;
  env.export_reply = &body;
  fake_reply(socket, identity, &env);
}

static void reply_lease(int w, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  static char *candidates[] = {"spam", "ok"};
  Tally__LeaseReply body;
  Tally__Task task;
  tally__lease_reply__init(&body);
  tally__task__init(&task);
  if (w == 0 && req->lease->stage == TALLY__STAGE__STAGE_ADJUDICATE) {
    task.slot = 4; /* worker 1's */
    task.lease_id = 77;
    task.project = "mod";
    task.item_id = "item-9";
    task.market = "es";
    task.content = "{\"sim_truth\":\"ok\"}";
    task.n_labels = 3;
    task.labels = labels3;
    task.stage = TALLY__STAGE__STAGE_ADJUDICATE;
    task.deadline_ms = clock_now_ms() + 60000;
    task.n_candidates = 2;
    task.candidates = candidates;
    body.has_task = 1;
    body.task = &task;
  }
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_LEASE_REPLY;
  env.lease_reply = &body;
  fake_reply(socket, identity, &env);
}

static void serve_worker(int w, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  if (Q.workers[w].silent) return;
  switch (req->body_case) {
    case TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST: reply_feedback(w, socket, identity, req); return;
    case TALLY__ENVELOPE__BODY_EXPORT_REQUEST: reply_export(w, socket, identity, req); return;
    case TALLY__ENVELOPE__BODY_LEASE: reply_lease(w, socket, identity, req); return;
    case TALLY__ENVELOPE__BODY_SUBMIT: {
      const Tally__SubmitRequest *s = req->submit;
      Q.workers[w].submits++;
      Q.attribution = s->attribution;
      snprintf(Q.note, sizeof Q.note, "%s", s->note);
      snprintf(Q.label, sizeof Q.label, "%s", s->label);
      Tally__Ack ack;
      tally__ack__init(&ack);
      Tally__Envelope env;
      wire_envelope_init(&env, req->request_id);
      env.body_case = TALLY__ENVELOPE__BODY_ACK;
      env.ack = &ack;
      fake_reply(socket, identity, &env);
      return;
    }
    default: fake_reply_error(socket, identity, req->request_id, TALLY_E_UNKNOWN_TYPE, NULL);
  }
}

static void serve(void *arg, int index, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  (void)arg;
  if (index == 0)
    serve_coordinator(socket, identity, req);
  else
    serve_worker(index - 1, socket, identity, req);
}

/* ------------------------------------------------------------ audit policy */

static void test_policy(tally_t *t) {
  tally_project_t *p = NULL;
  CHECK(tally_project_show(t, "mod", &p) == 0);
  if (p == NULL) return;
  CHECK(p->policy_version == 3 && p->audit.rate == 0.1 && p->audit_rate == 0.1);
  CHECK(p->audit.market_rate_count == 1 && strcmp(p->audit.market_rates[0].market, "es") == 0 &&
        p->audit.market_rates[0].rate == 0.2);
  CHECK(p->audit.ramp_rate == 0.5 && p->audit.ramp_audits == 20 && p->audit.ramp_target == 0.9);
  tally_free(p);

  tally_market_rate_t rates[] = {{"ja", 0.4}, {"es", 0.05}};
  tally_audit_policy_t policy = {0.3, rates, 2, 0.0, 0, 0.0, 0.0};
  CHECK(tally_audit_policy_set(t, "mod", &policy, &p) == 0);
  CHECK(p && p->policy_version == 4 && p->audit.rate == 0.3 && p->audit.market_rate_count == 2 &&
        strcmp(p->audit.market_rates[0].market, "ja") == 0 && p->audit.ramp_rate == 0.0);
  tally_free(p);
  CHECK(tally_audit_policy_set(t, "mod", &policy, NULL) == 0);

  /* Refused before anything is sent. */
  lock();
  uint64_t sets = Q.policy_sets;
  unlock();
  tally_audit_policy_t bad = policy;
  bad.rate = 1.5;
  CHECK(tally_audit_policy_set(t, "mod", &bad, &p) == TALLY_E_INVALID_ARGUMENT && p == NULL);
  bad = policy;
  bad.ramp_target = -0.1;
  CHECK(tally_audit_policy_set(t, "mod", &bad, NULL) == TALLY_E_INVALID_ARGUMENT);
  tally_market_rate_t twice[] = {{"es", 0.1}, {"es", 0.2}};
  bad = (tally_audit_policy_t){0.1, twice, 2, 0, 0, 0, 0};
  CHECK(tally_audit_policy_set(t, "mod", &bad, NULL) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(tally_last_error(t), "two audit rates") != NULL);
  tally_market_rate_t nameless[] = {{"", 0.1}};
  bad = (tally_audit_policy_t){0.1, nameless, 1, 0, 0, 0, 0};
  CHECK(tally_audit_policy_set(t, "mod", &bad, NULL) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_audit_policy_set(t, "", &policy, NULL) == TALLY_E_INVALID_ARGUMENT);
  lock();
  CHECK_EQ_U64(Q.policy_sets, sets);
  unlock();
}

/* `tally audit-policy set` reads, changes what the options say, sends all. */
static void test_policy_cli(void) {
  lock();
  Q.rate = 0.1;
  Q.market_count = 2;
  snprintf(Q.markets[0], sizeof Q.markets[0], "es");
  snprintf(Q.markets[1], sizeof Q.markets[1], "ja");
  Q.market_rates[0] = 0.2;
  Q.market_rates[1] = 0.3;
  Q.ramp_rate = 0.5;
  Q.ramp_audits = 20;
  Q.ramp_target = 0.9;
  unlock();
  capture_t c;
  const char *ep = fake_endpoint(Q.fake, 0);
  CHECK(capture_run(&c, ep, ARGV("tally", "project", "show", "mod")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "market rates:   es 0.2, ja 0.3\n") != NULL &&
        strstr(c.out, "ramp-up:        rate 0.5 until 20 audits at accuracy >= 0.9\n") != NULL);
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "project", "show", "mod", "--format", "json")) == CLI_EXIT_OK);
  json_t *shown = json_loads(c.out, 0, NULL);
  CHECK(json_array_size(json_object_get(json_object_get(shown, "audit"), "market_rates")) == 2 &&
        json_integer_value(json_object_get(shown, "policy_version")) > 0);
  json_decref(shown);
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "audit-policy", "set", "--project", "mod", "--market", "ja=0.6",
                                 "--ramp-audits", "50", "--format", "json")) == CLI_EXIT_OK);
  lock();
  CHECK(Q.rate == 0.1 && Q.ramp_rate == 0.5 && Q.ramp_audits == 50 && Q.ramp_target == 0.9);
  CHECK(Q.market_count == 2 && strcmp(Q.markets[0], "es") == 0 && Q.market_rates[0] == 0.2 &&
        strcmp(Q.markets[1], "ja") == 0 && Q.market_rates[1] == 0.6);
  unlock();
  json_t *doc = json_loads(c.out, 0, NULL);
  CHECK(doc && json_integer_value(json_object_get(doc, "policy_version")) > 0 &&
        json_integer_value(json_object_get(json_object_get(doc, "audit"), "ramp_audits")) == 50);
  json_decref(doc);
  capture_close(&c);

  CHECK(capture_run(&c, ep, ARGV("tally", "audit-policy", "set", "--project", "mod", "--clear-markets", "--rate",
                                 "0.25")) == CLI_EXIT_OK);
  lock();
  CHECK(Q.rate == 0.25 && Q.market_count == 0 && Q.ramp_audits == 50);
  unlock();
  CHECK(strstr(c.out, "market rates:   none") != NULL);
  capture_close(&c);

  /* A market the project does not have: refused with the project's markets. */
  lock();
  uint64_t sets = Q.policy_sets;
  unlock();
  CHECK(capture_run(&c, ep, ARGV("tally", "audit-policy", "set", "--project", "mod", "--market", "xx=0.1")) ==
        CLI_EXIT_FAILURE);
  CHECK(strstr(c.err, "'xx' is not a market of project 'mod' (markets: es, ja) (UNKNOWN_MARKET)") != NULL);
  capture_close(&c);
  lock();
  CHECK_EQ_U64(Q.policy_sets, sets);
  unlock();

  CHECK(capture_run(&c, ep, ARGV("tally", "audit-policy", "show", "--project", "mod", "--format", "csv")) ==
        CLI_EXIT_OK);
  CHECK(strstr(c.out, "project,policy_version,rate,ramp_rate,ramp_audits,ramp_target,gold_rate,market,market_rate\r\n"
                     "mod,") == c.out);
  capture_close(&c);
}

/* ------------------------------------------------------------ report */

static void test_report(tally_t *t) {
  tally_report_query_t q = {"es", 20000, 20010, TALLY_REPORT_BY_LABELER};
  tally_report_t *rep = NULL;
  CHECK(tally_report_quality(t, "mod", &q, &rep) == 0);
  lock();
  CHECK(strcmp(Q.report_market, "es") == 0 && strcmp(Q.report_by, "labeler") == 0 && Q.report_from == 20000 &&
        Q.report_to == 20010);
  unlock();
  if (rep == NULL) return;
  CHECK(strcmp(rep->project, "mod") == 0 && rep->label_count == 3 && strcmp(rep->labels[2], "abuse") == 0);
  CHECK(rep->row_count == 1 && strcmp(rep->rows[0].key, "ana") == 0 && rep->rows[0].audits == 5 &&
        rep->rows[0].accuracy_defined && rep->rows[0].accuracy == 0.8 && rep->rows[0].wilson_high == 0.964);
  CHECK(rep->rows[0].coefficient_count == 2 && rep->rows[0].coefficients[0].defined &&
        !rep->rows[0].coefficients[1].defined && strcmp(rep->rows[0].coefficients[1].name, "cohen_kappa") == 0);
  CHECK(rep->rows[0].handling_p90_ms == 16000 && rep->rows[0].attributed_auditor == 1 && rep->rows[0].gold_hits == 2);
  CHECK(strcmp(rep->total.key, "all") == 0 && !rep->total.accuracy_defined && rep->total.accuracy == 0.0);
  CHECK(rep->total.coefficient_count == 3 && !rep->total.coefficients[2].defined);
  CHECK(rep->confusion && rep->confusion[0] == 4 && rep->confusion[1] == 1 && rep->policy_unclear[1] == 1);
  CHECK(rep->workers_answered == 2 && rep->workers_failed == 1);
  tally_free(rep);

  /* Everything, ungrouped: empty fields on the wire. */
  CHECK(tally_report_quality(t, "mod", NULL, &rep) == 0);
  lock();
  CHECK(Q.report_market[0] == '\0' && Q.report_by[0] == '\0' && Q.report_from == 0 && Q.report_to == 0);
  unlock();
  tally_free(rep);

  /* Refused locally, refused by the coordinator, malformed replies. */
  tally_report_query_t backwards = {NULL, 20010, 20000, TALLY_REPORT_BY_NONE};
  CHECK(tally_report_quality(t, "mod", &backwards, &rep) == TALLY_E_INVALID_ARGUMENT && rep == NULL);
  tally_report_query_t bad_by = {NULL, 0, 0, (tally_report_by_t)9};
  CHECK(tally_report_quality(t, "mod", &bad_by, &rep) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_report_quality(t, "nope", NULL, &rep) == TALLY_E_UNKNOWN_PROJECT && rep == NULL);
  CHECK(strstr(tally_last_error(t), "no project 'nope'") != NULL);
  lock();
  Q.malformed_report = 1;
  unlock();
  CHECK(tally_report_quality(t, "mod", NULL, &rep) == TALLY_E_INTERNAL && rep == NULL);
  CHECK(strstr(tally_last_error(t), "4 confusion cells for 3 labels") != NULL);
  lock();
  Q.malformed_report = 0;
  unlock();

  /* Through the command: the warning about the worker that failed. */
  capture_t c;
  CHECK(capture_run(&c, fake_endpoint(Q.fake, 0), ARGV("tally", "report", "quality", "--project", "mod", "--by",
                                                       "labeler", "--from", "2024-10-01")) == CLI_EXIT_OK);
  CHECK(strstr(c.err, "warning: 1 of 3 workers did not answer") != NULL);
  CHECK(strstr(c.out, "ana ") != NULL && strstr(c.out, "undefined") != NULL);
  capture_close(&c);
  lock();
  CHECK(Q.report_from == 19997 && Q.report_to == 0 && strcmp(Q.report_by, "labeler") == 0);
  unlock();
  CHECK(capture_run(&c, fake_endpoint(Q.fake, 0), ARGV("tally", "report", "confusion", "--project", "nope")) ==
        CLI_EXIT_FAILURE);
  CHECK(strstr(c.err, "tally: report confusion: no project 'nope' (UNKNOWN_PROJECT)") != NULL);
  capture_close(&c);
}

/* ------------------------------------------------------------ feedback */

static void test_feedback(tally_t *t) {
  tally_feedback_t *fb = NULL;
  CHECK(tally_feedback(t, "ana", "mod", 0, &fb) == 0);
  lock();
  CHECK(Q.workers[0].last_limit == 100 && strcmp(Q.workers[1].last_labeler, "ana") == 0 &&
        strcmp(Q.workers[1].last_project, "mod") == 0);
  unlock();
  if (fb == NULL) return;
  /* Merged newest first; worker 2's copy of item-300 dropped. */
  static const uint64_t want[] = {600, 500, 400, 300, 200, 100};
  CHECK(fb->count == 6 && fb->workers_failed == 0);
  for (size_t i = 0; i < fb->count && i < 6; i++) CHECK_EQ_U64(fb->entries[i].closed_ms, want[i]);
  CHECK(strcmp(fb->entries[0].item_id, "item-600") == 0 && fb->entries[0].correct &&
        strcmp(fb->entries[1].final_label, "ok") == 0 && !fb->entries[1].correct);
  tally_free(fb);

  CHECK(tally_feedback(t, "ana", NULL, 4, &fb) == 0);
  CHECK(fb && fb->count == 4 && fb->entries[3].closed_ms == 300);
  lock();
  CHECK(Q.workers[0].last_limit == 4 && Q.workers[0].last_project[0] == '\0');
  unlock();
  tally_free(fb);

  /* A silent worker: the other's entries, and the count of failures. */
  lock();
  Q.workers[1].silent = 1;
  unlock();
  CHECK(tally_feedback(t, "ana", "mod", 0, &fb) == 0);
  CHECK(fb && fb->count == 3 && fb->workers_failed == 1 && fb->entries[0].closed_ms == 500);
  tally_free(fb);
  capture_t c;
  CHECK(capture_run(&c, fake_endpoint(Q.fake, 0), ARGV("tally", "feedback", "--as", "ana", "--timeout", "1500")) ==
        CLI_EXIT_OK);
  CHECK(strstr(c.err, "warning: 1 worker did not answer") != NULL && strstr(c.out, "0 of 3 judged correct") != NULL);
  capture_close(&c);
  /* ... both: the error. */
  lock();
  Q.workers[0].silent = 1;
  unlock();
  CHECK(tally_feedback(t, "ana", "mod", 0, &fb) == TALLY_E_TIMEOUT && fb == NULL);
  CHECK(strstr(tally_last_error(t), "no worker answered") != NULL);
  lock();
  Q.workers[0].silent = Q.workers[1].silent = 0;
  /* A worker down without slots is no loss; one down with slots is. */
  Q.third_down = 1;
  unlock();
  CHECK(tally_feedback(t, "ana", "mod", 0, &fb) == 0);
  CHECK(fb && fb->count == 6 && fb->workers_failed == 1);
  tally_free(fb);
  lock();
  Q.third_down = 0;
  unlock();
  CHECK(tally_feedback(t, "", "mod", 0, &fb) == TALLY_E_INVALID_ARGUMENT);
}

/* ------------------------------------------------------------ export */

typedef struct {
  size_t count, stop_after;
  char ids[16][32];
  int fields_ok;
} collected_t;

static int collect(void *arg, const tally_judgment_t *j) {
  collected_t *c = arg;
  if (c->count < 16) snprintf(c->ids[c->count], sizeof c->ids[0], "%s", j->item_id);
  c->count++;
  c->fields_ok &= strcmp(j->project, "mod") == 0 && j->label_count == 2 && strcmp(j->labels[1].labeler, "b;en") == 0 &&
                  j->labels[0].handling_ms == 2500 && strcmp(j->audit.labeler, "aud") == 0 &&
                  j->attribution == TALLY_ATTRIBUTION_LABELER && j->audited_labeler_count == 2 &&
                  strcmp(j->adjudicator, "lead") == 0;
  return c->stop_after && c->count >= c->stop_after ? 7 : 0;
}

static void test_export(tally_t *t) {
  lock();
  Q.workers[0].judgments = 5;
  Q.workers[1].judgments = 3;
  Q.workers[0].export_requests = Q.workers[1].export_requests = 0;
  unlock();
  collected_t got = {.fields_ok = 1};
  tally_export_summary_t sum;
  CHECK(tally_export_judgments(t, "mod", PAGE, collect, &got, &sum) == 0);
  CHECK(got.count == 8 && got.fields_ok && sum.judgments == 8 && sum.workers_answered == 2 && sum.workers_failed == 0);
  CHECK(strcmp(got.ids[0], "w1-j0") == 0 && strcmp(got.ids[4], "w1-j4") == 0 && strcmp(got.ids[5], "w2-j0") == 0 &&
        strcmp(got.ids[7], "w2-j2") == 0);
  lock();
  CHECK_EQ_U64(Q.workers[0].export_requests, 3); /* 2 + 2 + 1 */
  CHECK_EQ_U64(Q.workers[1].export_requests, 2);
  unlock();

  /* The callback stops it. */
  got = (collected_t){.stop_after = 3, .fields_ok = 1};
  CHECK(tally_export_judgments(t, "mod", PAGE, collect, &got, &sum) == 7);
  CHECK(got.count == 3 && sum.judgments == 3);

  /* A worker that makes no progress fails; the other is still exported. */
  lock();
  Q.workers[0].stuck_export = 1;
  unlock();
  got = (collected_t){.fields_ok = 1};
  CHECK(tally_export_judgments(t, "mod", PAGE, collect, &got, &sum) == TALLY_E_INTERNAL);
  CHECK(got.count == 3 && sum.workers_failed == 1 && sum.workers_answered == 1);
  CHECK(strstr(tally_last_error(t), "worker 1") != NULL && strstr(tally_last_error(t), "without progress") != NULL);
  lock();
  Q.workers[0].stuck_export = 0;
  Q.third_down = 1;
  unlock();
  got = (collected_t){.fields_ok = 1};
  CHECK(tally_export_judgments(t, "mod", 0, collect, &got, NULL) == TALLY_E_UNAVAILABLE);
  CHECK(got.count == 8 && strstr(tally_last_error(t), "worker 3 is down") != NULL);
  lock();
  Q.third_down = 0;
  unlock();
  CHECK(tally_export_judgments(t, "", 0, collect, &got, NULL) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_export_judgments(t, "mod", 0, NULL, NULL, NULL) == TALLY_E_INVALID_ARGUMENT);

  /* The command streams CSV: header, then one record per judgment. */
  capture_t c;
  CHECK(capture_run(&c, fake_endpoint(Q.fake, 0),
                    ARGV("tally", "export", "judgments", "--project", "mod", "--format", "csv")) == CLI_EXIT_OK);
  size_t records = 0;
  for (char *p = c.out; (p = strstr(p, "\r\nmod,")) != NULL; p++) records++;
  CHECK(records == 8 && strncmp(c.out, "project,item_id,market,labels,", 30) == 0);
  CHECK(strstr(c.out, "mod,w1-j0,es,ana:spam;b\\;en:ok,aud,ok,2000,0,ok,labeler,lead,\"said \"\"spam\"\", was ok\",3000,"
                      "\"{\"\"text\"\": \"\"a, b\"\"}\",ana;b\\;en,1,1,ana:1;b\\;en:1\r\n") != NULL);
  capture_close(&c);
  CHECK(capture_run(&c, fake_endpoint(Q.fake, 0), ARGV("tally", "export", "judgments", "--project", "mod")) ==
        CLI_EXIT_OK);
  size_t lines = 0;
  for (char *p = c.out; *p; p++) lines += *p == '\n';
  json_t *first = json_loadb(c.out, (size_t)(strchr(c.out, '\n') - c.out), 0, NULL);
  CHECK(lines == 8 && first && strcmp(json_string_value(json_object_get(first, "attribution")), "labeler") == 0);
  json_decref(first);
  capture_close(&c);
  /* A failing worker: what could be had is written, and exit 1. */
  lock();
  Q.workers[1].stuck_export = 1;
  unlock();
  CHECK(capture_run(&c, fake_endpoint(Q.fake, 0), ARGV("tally", "export", "judgments", "--project", "mod")) ==
        CLI_EXIT_FAILURE);
  lines = 0;
  for (char *p = c.out; *p; p++) lines += *p == '\n';
  CHECK(lines == 5 && strstr(c.err, "5 judgments written from 1 workers; 1 failed") != NULL);
  capture_close(&c);
  lock();
  Q.workers[1].stuck_export = 0;
  unlock();
}

/* ------------------------------------------------------------ adjudication */

static void test_adjudication(tally_t *t) {
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "lead", "mod", TALLY_STAGE_ADJUDICATE, 0, &task) == 0);
  CHECK(task && task->stage == TALLY_STAGE_ADJUDICATE && task->candidate_count == 2 &&
        strcmp(task->candidates[0], "spam") == 0 && strcmp(task->candidates[1], "ok") == 0);
  tally_free(task);
  task = NULL;
  CHECK(tally_lease(t, "ana", "mod", TALLY_STAGE_LABEL, 0, &task) == 0 && task == NULL);

  CHECK(tally_submit_adjudication(t, "lead", 4, 77, "ok", TALLY_ATTRIBUTION_AUDITOR, "auditor missed the context",
                                  1500) == 0);
  lock();
  CHECK(Q.attribution == TALLY_ATTRIBUTION_AUDITOR && strcmp(Q.note, "auditor missed the context") == 0 &&
        strcmp(Q.label, "ok") == 0);
  uint64_t submits = Q.workers[0].submits;
  unlock();
  /* NONE: the worker derives who was wrong; only values outside the enum are refused. */
  CHECK(tally_submit_adjudication(t, "lead", 4, 77, "ok", TALLY_ATTRIBUTION_NONE, NULL, 0) == 0);
  lock();
  CHECK(Q.attribution == TALLY_ATTRIBUTION_NONE && strcmp(Q.label, "ok") == 0);
  unlock();
  CHECK(tally_submit_adjudication(t, "lead", 4, 77, "ok", (tally_attribution_t)9, NULL, 0) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_submit(t, "ana", 4, 78, "spam", 10) == 0);
  lock();
  CHECK_EQ_U64(Q.workers[0].submits, submits + 2);
  CHECK(Q.attribution == TALLY_ATTRIBUTION_NONE && Q.note[0] == '\0');
  unlock();

  /* The asynchronous interface: candidates in the completion, verdicts. */
  tally_async_t *a = NULL;
  CHECK(tally_async_new(&a, t) == 0);
  if (a == NULL) return;
  int tag = 0, with_candidates = 0, leases = 0;
  for (int i = 0; i < WORKERS; i++) CHECK(tally_async_lease(a, "lead", "mod", TALLY_STAGE_ADJUDICATE, 0, &tag) == 0);
  tally_completion_t done[8];
  uint64_t deadline = clock_monotonic_ms() + 5000;
  while (tally_async_in_flight(a) > 0 && clock_monotonic_ms() < deadline) {
    int n = tally_async_poll(a, 100, done, 8);
    for (int i = 0; i < n; i++) {
      leases++;
      with_candidates += done[i].has_task && done[i].task.candidate_count == 2 &&
                         strcmp(done[i].task.candidates[1], "ok") == 0;
    }
  }
  CHECK(leases == WORKERS && with_candidates == 1);
  CHECK(tally_async_submit_adjudication(a, "lead", 4, 77, "abuse", TALLY_ATTRIBUTION_BOTH, NULL, 10, &tag) == 0);
  CHECK(tally_async_submit_adjudication(a, "lead", 4, 77, "abuse", (tally_attribution_t)5, NULL, 10, &tag) ==
        TALLY_E_INVALID_ARGUMENT);
  int n = 0;
  while (n == 0 && clock_monotonic_ms() < deadline) n = tally_async_poll(a, 100, done, 8);
  CHECK(n == 1 && done[0].status == 0 && done[0].op == TALLY_OP_SUBMIT);
  lock();
  CHECK(Q.attribution == TALLY_ATTRIBUTION_BOTH && strcmp(Q.label, "abuse") == 0);
  unlock();
  tally_async_destroy(&a);

  /* The commands. */
  capture_t c;
  const char *ep = fake_endpoint(Q.fake, 0);
  CHECK(capture_run(&c, ep, ARGV("tally", "lease", "--as", "lead", "--stage", "adjudicate")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "candidate A:    spam\n") != NULL && strstr(c.out, "candidate B:    ok\n") != NULL);
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "lease", "--as", "lead", "--stage", "adjudicate", "--format", "json")) ==
        CLI_EXIT_OK);
  json_t *doc = json_loads(c.out, 0, NULL);
  json_t *cands = json_object_get(json_object_get(doc, "task"), "candidates");
  CHECK(json_array_size(cands) == 2 && strcmp(json_string_value(json_array_get(cands, 0)), "spam") == 0);
  json_decref(doc);
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "submit", "--as", "lead", "4.77", "ok", "--policy-unclear",
                                 "--note", "policy 4.2 is ambiguous")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "adjudicated 4.77: ok (policy unclear)") != NULL);
  capture_close(&c);
  lock();
  CHECK(Q.attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR && strcmp(Q.note, "policy 4.2 is ambiguous") == 0);
  unlock();
  /* An older script's guess is not sent: the worker derives it. */
  CHECK(capture_run(&c, ep, ARGV("tally", "submit", "--as", "lead", "4.77", "spam", "--attribution", "labeler",
                                 "--note", "clear spam")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "adjudicated 4.77: spam\n") != NULL);
  capture_close(&c);
  lock();
  CHECK(Q.attribution == TALLY_ATTRIBUTION_NONE && strcmp(Q.note, "clear spam") == 0);
  unlock();
}

static void kill_nothing(void) {}

int main(void) {
  check_deadline(50, kill_nothing);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) Q.owner[s] = s % 2 ? 2 : 1;
  Q.rate = 0.1;
  Q.market_count = 1;
  snprintf(Q.markets[0], sizeof Q.markets[0], "es");
  Q.market_rates[0] = 0.2;
  Q.ramp_rate = 0.5;
  Q.ramp_audits = 20;
  Q.ramp_target = 0.9;
  Q.policy_version = 3;
  Q.fake = fake_start(WORKERS, serve, NULL);
  if (Q.fake == NULL) {
    fprintf(stderr, "cannot start the fake cluster\n");
    return 1;
  }
  tally_t *t = NULL;
  CHECK(tally_open(&t, fake_endpoint(Q.fake, 0), 1500) == 0);
  if (t) {
    test_policy(t);
    test_policy_cli();
    test_report(t);
    test_feedback(t);
    test_export(t);
    test_adjudication(t);
    tally_close(&t);
  }
  fake_stop(&Q.fake);
  return check_summary();
}
