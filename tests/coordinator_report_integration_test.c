/* Integration test of audit policies and quality reports at the real
 * tally-coordinator (started by tests/harness.h on loopback).
 *
 * The test plays the client and four fake workers: ROUTER sockets bound in
 * this process and registered with worker_register. Worker A and B answer
 * stats_request with canned rows (some of the same (market, day, labeler)
 * on both, and one malformed), C never answers, D answers UNKNOWN_TYPE (as
 * a worker without statistics does). Checks: the report equals the report
 * engine's result over all rows; workers_answered / workers_failed; the
 * report waits for the deadline only when a worker is silent; heartbeats
 * are served while a report is in progress; a DOWN worker is not asked; a
 * reply with another worker's id counts as failed; a real tally-worker is
 * asked too; validation errors; audit_policy_set end to end, the new policy
 * reaching workers through heartbeats; SIGTERM with a report in progress
 * stops cleanly.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "agreement.h"
#include "check.h"
#include "clock.h"
#include "dealer.h"
#include "harness.h"
#include "report.h"
#include "tally_error.h"
#include "wire.h"

#define DEADLINE_SECONDS 120
#define CALL_TIMEOUT_MS 5000
#define KEEPALIVE_MS 500

static cluster_t cluster;
static void *zmq_context;
static dealer_t *client;
static Tally__Envelope *reply;
static char last_message[512];

static void check_msg(int ok, const char *fmt, ...) {
  if (ok) {
    check_passed++;
    return;
  }
  check_failed++;
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---------------------------------------------------------------- fake workers */

typedef enum { FAKE_ROWS, FAKE_SILENT, FAKE_UNKNOWN_TYPE, FAKE_WRONG_ID } fake_mode_t;

typedef struct {
  const char *name;
  void *socket;
  char endpoint[256];
  uint32_t id;
  fake_mode_t mode;
  int alive; /* sends heartbeats */
  Tally__StatsRow **rows;
  size_t n_rows;
  uint64_t requests; /* stats_requests received */
  char last_project[64], last_market[64];
  uint32_t last_from_day, last_to_day;
} fake_worker_t;

#define FAKES 4
static fake_worker_t fakes[FAKES] = {
    {.name = "A", .mode = FAKE_ROWS},
    {.name = "B", .mode = FAKE_ROWS},
    {.name = "C", .mode = FAKE_SILENT},
    {.name = "D", .mode = FAKE_UNKNOWN_TYPE},
};

static int fake_bind(fake_worker_t *w) {
  w->socket = zmq_socket(zmq_context, ZMQ_ROUTER);
  int linger = 0;
  zmq_setsockopt(w->socket, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(w->socket, "tcp://127.0.0.1:*") != 0) return -1;
  size_t len = sizeof w->endpoint;
  return zmq_getsockopt(w->socket, ZMQ_LAST_ENDPOINT, w->endpoint, &len);
}

static void fake_answer(fake_worker_t *w, const zmq_msg_t *peer, const Tally__Envelope *request) {
  Tally__Envelope env;
  Tally__ErrorReply error;
  Tally__StatsReply stats = TALLY__STATS_REPLY__INIT;
  if (w->mode == FAKE_SILENT) return;
  if (w->mode == FAKE_UNKNOWN_TYPE) {
    wire_error_init(&env, &error, request->request_id, TALLY_E_UNKNOWN_TYPE,
                    "'stats_request' is not a request the worker serves");
  } else {
    wire_envelope_init(&env, request->request_id);
    stats.worker_id = w->mode == FAKE_WRONG_ID ? w->id + 100 : w->id;
    stats.n_rows = w->n_rows;
    stats.rows = w->rows;
    env.body_case = TALLY__ENVELOPE__BODY_STATS_REPLY;
    env.stats_reply = &stats;
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  if (wire_encode(&env, &buf, &len) != 0) return;
  zmq_send(w->socket, zmq_msg_data((zmq_msg_t *)peer), zmq_msg_size((zmq_msg_t *)peer),
           ZMQ_SNDMORE);
  zmq_send(w->socket, buf, len, 0);
  free(buf);
}

/* Answers every request waiting at fake worker w. */
static void fake_serve(fake_worker_t *w) {
  for (;;) {
    zmq_msg_t peer, body;
    zmq_msg_init(&peer);
    if (zmq_msg_recv(&peer, w->socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&peer);
      return;
    }
    zmq_msg_init(&body);
    zmq_msg_recv(&body, w->socket, 0);
    Tally__Envelope *request = NULL;
    if (wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), &request, NULL) == 0 &&
        request->body_case == TALLY__ENVELOPE__BODY_STATS_REQUEST) {
      const Tally__StatsRequest *s = request->stats_request;
      w->requests++;
      snprintf(w->last_project, sizeof w->last_project, "%s", s->project);
      snprintf(w->last_market, sizeof w->last_market, "%s", s->market);
      w->last_from_day = s->from_day;
      w->last_to_day = s->to_day;
      fake_answer(w, &peer, request);
    }
    wire_envelope_free(&request);
    zmq_msg_close(&peer);
    zmq_msg_close(&body);
  }
}

/* ---------------------------------------------------------------- client */

/* One round trip; returns 0 or the error code (message in last_message). */
static int call(Tally__Envelope *request) {
  wire_envelope_free(&reply);
  last_message[0] = '\0';
  int rc = dealer_call(client, request, CALL_TIMEOUT_MS, &reply);
  if (rc < 0 && reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_ERROR)
    snprintf(last_message, sizeof last_message, "%s", reply->error->message);
  return rc;
}

static uint64_t send_request(Tally__Envelope *request) {
  request->version = TALLY_PROTOCOL_VERSION;
  request->request_id = dealer_next_request_id(client);
  CHECK(dealer_send(client, request) == 0);
  return request->request_id;
}

static uint64_t send_heartbeat(uint32_t worker_id, uint64_t config_version) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__Heartbeat body = TALLY__HEARTBEAT__INIT;
  body.worker_id = worker_id;
  body.config_version = config_version;
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT, env.heartbeat = &body;
  return send_request(&env);
}

static uint64_t last_keepalive_ms;

/* Heartbeats for the fake workers that are alive, every KEEPALIVE_MS. */
static void keepalive(void) {
  uint64_t now = clock_monotonic_ms();
  if (now - last_keepalive_ms < KEEPALIVE_MS) return;
  last_keepalive_ms = now;
  for (int i = 0; i < FAKES; i++)
    if (fakes[i].alive && fakes[i].id) send_heartbeat(fakes[i].id, 0);
}

/* Serves the fake workers and keeps them alive until the reply to
 * `request_id` arrives (into `reply`) or timeout_ms pass. Returns 0 or
 * TIMEOUT. When `first_id` is not NULL, it receives the id of the first
 * reply to arrive among `watch_id` and request_id. */
static int pump(uint64_t request_id, int timeout_ms, uint64_t watch_id, uint64_t *first_id,
                uint64_t *watch_at_ms) {
  uint64_t deadline = clock_monotonic_ms() + (uint64_t)timeout_ms;
  wire_envelope_free(&reply);
  while (clock_monotonic_ms() < deadline) {
    zmq_pollitem_t items[FAKES + 1];
    items[0] = (zmq_pollitem_t){dealer_socket(client), 0, ZMQ_POLLIN, 0};
    for (int i = 0; i < FAKES; i++) items[i + 1] = (zmq_pollitem_t){fakes[i].socket, 0, ZMQ_POLLIN, 0};
    zmq_poll(items, FAKES + 1, 20);
    for (int i = 0; i < FAKES; i++) fake_serve(&fakes[i]);
    keepalive();
    Tally__Envelope *env = NULL;
    while (dealer_recv(client, 0, &env) == 0) {
      if (watch_id && env->request_id == watch_id) {
        if (first_id && *first_id == 0) *first_id = watch_id;
        if (watch_at_ms) *watch_at_ms = clock_monotonic_ms();
      }
      if (env->request_id == request_id) {
        if (first_id && *first_id == 0) *first_id = request_id;
        reply = env;
        return 0;
      }
      wire_envelope_free(&env);
    }
  }
  return TALLY_E_TIMEOUT;
}

/* ---------------------------------------------------------------- requests */

static char *labels[] = {"ok", "spam", "hate"};
static char *markets[] = {"es", "jp"};

static int create_project(const char *name, double audit_rate) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectCreate body = TALLY__PROJECT_CREATE__INIT;
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = (char *)name;
  project.n_labels = 3, project.labels = labels;
  project.n_markets = 2, project.markets = markets;
  project.audit_rate = audit_rate;
  project.ordinal = 1;
  body.project = &project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE, env.project_create = &body;
  return call(&env);
}

static int register_worker(const char *endpoint) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__WorkerRegister body = TALLY__WORKER_REGISTER__INIT;
  body.endpoint = (char *)endpoint;
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER, env.worker_register = &body;
  return call(&env);
}

static void fill_report_request(Tally__Envelope *env, Tally__ReportRequest *body,
                                const char *project, const char *market, const char *by) {
  tally__envelope__init(env);
  tally__report_request__init(body);
  body->project = (char *)project;
  body->market = (char *)market;
  body->by = (char *)by;
  env->body_case = TALLY__ENVELOPE__BODY_REPORT_REQUEST;
  env->report_request = body;
}

/* A report round trip with the fake workers served; returns 0 or the
 * error code and the elapsed time in *elapsed_ms. */
static int report(const char *project, const char *market, const char *by, uint32_t from_day,
                  uint32_t to_day, uint64_t *elapsed_ms) {
  Tally__Envelope env;
  Tally__ReportRequest body;
  fill_report_request(&env, &body, project, market, by);
  body.from_day = from_day, body.to_day = to_day;
  uint64_t start = clock_monotonic_ms();
  uint64_t id = send_request(&env);
  int rc = pump(id, 10000, 0, NULL, NULL);
  if (elapsed_ms) *elapsed_ms = clock_monotonic_ms() - start;
  if (rc < 0) return rc;
  if (reply->body_case == TALLY__ENVELOPE__BODY_ERROR) {
    snprintf(last_message, sizeof last_message, "%s", reply->error->message);
    return tally_error_from_wire((int)reply->error->code);
  }
  return reply->body_case == TALLY__ENVELOPE__BODY_REPORT_REPLY ? 0 : TALLY_E_BAD_REQUEST;
}

/* ---------------------------------------------------------------- canned rows */

static Tally__StatsRow *all_rows[16];
static size_t n_all_rows;

static void set_bytes(ProtobufCBinaryData *bytes, const void *data, size_t len) {
  bytes->data = malloc(len);
  if (bytes->data == NULL) abort();
  memcpy(bytes->data, data, len);
  bytes->len = len;
}

static Tally__StatsRow *new_row(const char *market, uint32_t day, const char *labeler,
                                const uint64_t pairs[3][3], uint64_t labels_count) {
  Tally__StatsRow *row = calloc(1, sizeof *row);
  if (row == NULL) abort();
  tally__stats_row__init(row);
  row->market = strdup(market);
  row->labeler = strdup(labeler);
  row->day = day;
  row->policy_version = 1;
  row->labels = labels_count;
  if (pairs) {
    agreement_pairs_t p;
    agreement_pairs_init(&p, 3);
    for (uint32_t a = 0; a < 3; a++)
      for (uint32_t b = 0; b < 3; b++) {
        p.counts[a][b] = pairs[a][b];
        row->audits += pairs[a][b];
        if (a == b) row->audit_agreed += pairs[a][b];
      }
    uint8_t buf[128];
    size_t len;
    agreement_pairs_serialize(&p, buf, sizeof buf, &len);
    set_bytes(&row->pairs, buf, len);
  }
  row->handling_histogram = calloc(3, sizeof *row->handling_histogram);
  row->handling_histogram[2] = labels_count;
  row->n_handling_histogram = 3;
  return row;
}

static void add_units(Tally__StatsRow *row, const uint32_t units[][3], size_t n) {
  agreement_coincidence_t c;
  agreement_fleiss_t f;
  agreement_coincidence_init(&c, 3);
  agreement_fleiss_init(&f, 3);
  for (size_t i = 0; i < n; i++) {
    agreement_coincidence_add_unit(&c, units[i], 3);
    agreement_fleiss_add_unit(&f, units[i], 3);
  }
  uint8_t buf[1024];
  size_t len;
  agreement_coincidence_serialize(&c, buf, sizeof buf, &len);
  set_bytes(&row->coincidence, buf, len);
  agreement_fleiss_serialize(&f, buf, sizeof buf, &len);
  set_bytes(&row->fleiss, buf, len);
}

static void give(fake_worker_t *w, Tally__StatsRow *row) {
  Tally__StatsRow **rows = realloc(w->rows, (w->n_rows + 1) * sizeof *rows);
  if (rows == NULL) abort();
  w->rows = rows;
  w->rows[w->n_rows++] = row;
  all_rows[n_all_rows++] = row;
}

/* Rows of project "quality" (labels ok, spam, hate) for workers A and B. */
static void make_rows(void) {
  static const uint64_t ana_a[3][3] = {{10, 2, 0}, {1, 8, 1}, {0, 0, 5}};
  static const uint64_t ana_b[3][3] = {{4, 0, 0}, {2, 3, 0}, {0, 1, 2}};
  static const uint64_t bo[3][3] = {{7, 0, 1}, {0, 6, 0}, {1, 0, 0}};
  static const uint64_t ana_jp[3][3] = {{1, 0, 0}, {0, 0, 0}, {0, 0, 1}};
  static const uint32_t units_a[][3] = {{0, 0, 0}, {1, 1, 2}, {2, 2, 2}, {0, 1, 0}};
  static const uint32_t units_b[][3] = {{1, 1, 1}, {0, 0, 2}};
  Tally__StatsRow *row = new_row("es", 19000, "ana", ana_a, 40);
  row->gold_total = 4, row->gold_hits = 3;
  row->adjudications = 2, row->attributed_labeler = 1, row->attributed_policy = 1;
  give(&fakes[0], row);
  give(&fakes[1], new_row("es", 19000, "ana", ana_b, 15)); /* same key, other worker */
  give(&fakes[1], new_row("es", 19001, "bo", bo, 20));
  give(&fakes[0], new_row("jp", 19001, "ana", ana_jp, 3));
  row = new_row("es", 19000, "", NULL, 0);
  add_units(row, units_a, 4);
  give(&fakes[0], row);
  row = new_row("es", 19001, "", NULL, 0);
  add_units(row, units_b, 2);
  give(&fakes[1], row);
  row = new_row("es", 19001, "bo", NULL, 1);
  static const uint8_t garbage[] = {'P', 1, 3, 0, 1, 2, 3};
  set_bytes(&row->pairs, garbage, sizeof garbage); /* rejected, counted, logged */
  give(&fakes[1], row);
}

static void free_rows(void) {
  for (size_t i = 0; i < n_all_rows; i++) {
    Tally__StatsRow *row = all_rows[i];
    free(row->market);
    free(row->labeler);
    free(row->pairs.data);
    free(row->coincidence.data);
    free(row->fleiss.data);
    free(row->handling_histogram);
    free(row);
  }
  for (int i = 0; i < FAKES; i++) free(fakes[i].rows);
}

/* The report the engine computes over every canned row (of workers with
 * `answering` set), for comparison. */
static Tally__ReportReply *expected_report(const char *by, const char *market, int with_b) {
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = "quality";
  project.n_labels = 3, project.labels = labels;
  project.ordinal = 1;
  report_query_t query = {by, market, 0, 0};
  report_t *r = NULL;
  Tally__ReportReply *out = NULL;
  if (report_new(&r, &project, &query) != 0) return NULL;
  for (size_t i = 0; i < fakes[0].n_rows; i++) report_add_row(r, fakes[0].rows[i]);
  for (size_t i = 0; with_b && i < fakes[1].n_rows; i++) report_add_row(r, fakes[1].rows[i]);
  report_build(r, &out);
  report_destroy(&r);
  return out;
}

static void compare_row(const Tally__ReportRow *got, const Tally__ReportRow *want) {
  if (got == NULL || want == NULL) {
    check_msg(0, "missing report row");
    return;
  }
  check_msg(strcmp(got->key, want->key) == 0 && got->labels == want->labels &&
                got->audits == want->audits && got->audit_agreed == want->audit_agreed &&
                got->accuracy_defined == want->accuracy_defined &&
                got->accuracy == want->accuracy && got->wilson_low == want->wilson_low &&
                got->wilson_high == want->wilson_high && got->gold_total == want->gold_total &&
                got->gold_hits == want->gold_hits && got->adjudications == want->adjudications &&
                got->attributed_labeler == want->attributed_labeler &&
                got->attributed_policy == want->attributed_policy &&
                got->handling_p50_ms == want->handling_p50_ms &&
                got->handling_p90_ms == want->handling_p90_ms &&
                got->n_coefficients == want->n_coefficients,
            "row '%s' (labels %llu audits %llu) differs from '%s' (labels %llu audits %llu)",
            got->key, (unsigned long long)got->labels, (unsigned long long)got->audits,
            want->key, (unsigned long long)want->labels, (unsigned long long)want->audits);
  for (size_t i = 0; i < got->n_coefficients && i < want->n_coefficients; i++) {
    const Tally__Coefficient *a = got->coefficients[i], *b = want->coefficients[i];
    check_msg(strcmp(a->name, b->name) == 0 && a->defined == b->defined &&
                  fabs(a->value - b->value) <= 1e-12,
              "row '%s' %s: %d %.17g, expected %s %d %.17g", got->key, a->name, a->defined,
              a->value, b->name, b->defined, b->value);
  }
}

static void compare_report(const Tally__ReportReply *got, const Tally__ReportReply *want) {
  if (got == NULL || want == NULL) {
    check_msg(0, "missing report");
    return;
  }
  check_msg(got->n_rows == want->n_rows, "%zu rows, expected %zu", got->n_rows, want->n_rows);
  for (size_t i = 0; i < got->n_rows && i < want->n_rows; i++)
    compare_row(got->rows[i], want->rows[i]);
  compare_row(got->total, want->total);
  CHECK(strcmp(got->project, "quality") == 0 && got->n_labels == 3 &&
        strcmp(got->labels[2], "hate") == 0);
  CHECK(got->n_confusion == 9 && want->n_confusion == 9 &&
        memcmp(got->confusion, want->confusion, 9 * sizeof *got->confusion) == 0);
  CHECK(got->n_policy_unclear == 9);
}

/* ---------------------------------------------------------------- tests */

static void test_audit_policy(void) {
  CHECK_EQ_U64(create_project("quality", 0.1), 0);
  const Tally__Project *p = reply ? reply->project_reply->project : NULL;
  CHECK(p && p->audit && p->audit->rate == 0.1 && p->audit->n_market_rates == 0 &&
        p->policy_version == 1);
  uint64_t config_version = 1;

  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__AuditPolicySet body = TALLY__AUDIT_POLICY_SET__INIT;
  Tally__AuditPolicy policy = TALLY__AUDIT_POLICY__INIT;
  Tally__MarketRate es = TALLY__MARKET_RATE__INIT, *rates[] = {&es};
  es.market = "es", es.rate = 0.4;
  policy.rate = 0.2, policy.ramp_rate = 1, policy.ramp_audits = 30, policy.ramp_target = 0.9;
  policy.n_market_rates = 1, policy.market_rates = rates;
  body.project = "quality", body.policy = &policy;
  env.body_case = TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET, env.audit_policy_set = &body;
  CHECK_EQ_U64(call(&env), 0);
  p = reply && reply->body_case == TALLY__ENVELOPE__BODY_PROJECT_REPLY
          ? reply->project_reply->project
          : NULL;
  CHECK(p && p->audit_rate == 0.2 && p->audit->n_market_rates == 1 &&
        p->audit->market_rates[0]->rate == 0.4 && p->audit->ramp_audits == 30 &&
        p->policy_version == 1);

  es.market = "fr";
  CHECK(call(&env) == TALLY_E_UNKNOWN_MARKET && strstr(last_message, "'fr'"));
  es.market = "es", policy.ramp_target = 2;
  CHECK(call(&env) == TALLY_E_INVALID_ARGUMENT && strstr(last_message, "audit.ramp_target"));
  body.project = "absent";
  CHECK(call(&env) == TALLY_E_UNKNOWN_PROJECT);

  /* A worker whose configuration is older gets the new policy. */
  CHECK_EQ_U64(register_worker(fakes[0].endpoint), 0);
  fakes[0].id = reply ? reply->worker_register_reply->worker_id : 0;
  fakes[0].alive = 1;
  const Tally__ClusterConfig *config = reply ? reply->worker_register_reply->config : NULL;
  CHECK(config && config->version == config_version + 1);
  Tally__Envelope hb = TALLY__ENVELOPE__INIT;
  Tally__Heartbeat beat = TALLY__HEARTBEAT__INIT;
  beat.worker_id = fakes[0].id, beat.config_version = config_version;
  hb.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT, hb.heartbeat = &beat;
  CHECK_EQ_U64(call(&hb), 0);
  config = reply ? reply->heartbeat_reply->config : NULL;
  CHECK(config && config->version == config_version + 1 && config->n_projects == 1 &&
        config->projects[0]->audit && config->projects[0]->audit->rate == 0.2 &&
        config->projects[0]->audit->n_market_rates == 1);
}

static void test_report_errors(void) {
  CHECK_EQ_U64(report("absent", "", "", 0, 0, NULL), (uint64_t)TALLY_E_UNKNOWN_PROJECT);
  CHECK(report("quality", "", "week", 0, 0, NULL) == TALLY_E_INVALID_ARGUMENT &&
        strstr(last_message, "'week'"));
  CHECK(report("quality", "fr", "", 0, 0, NULL) == TALLY_E_UNKNOWN_MARKET &&
        strstr(last_message, "'fr'"));
}

static void register_fakes(void) {
  for (int i = 1; i < FAKES; i++) {
    CHECK_EQ_U64(register_worker(fakes[i].endpoint), 0);
    fakes[i].id = reply ? reply->worker_register_reply->worker_id : 0;
    fakes[i].alive = 1;
  }
  CHECK(fakes[1].id && fakes[2].id && fakes[3].id && fakes[3].id != fakes[0].id);
}

/* All four fake workers UP: A and B answer, C is silent, D answers
 * UNKNOWN_TYPE. The report waits for the deadline because of C, and a
 * heartbeat sent meanwhile is answered at once. */
static void test_report_with_silent_worker(void) {
  Tally__Envelope env;
  Tally__ReportRequest body;
  fill_report_request(&env, &body, "quality", "", "labeler");
  body.from_day = 18000, body.to_day = 20000;
  uint64_t start = clock_monotonic_ms();
  uint64_t report_id = send_request(&env);
  usleep(100 * 1000);
  for (int i = 0; i < FAKES; i++) fake_serve(&fakes[i]);
  uint64_t heartbeat_id = send_heartbeat(fakes[0].id, 0), heartbeat_at = 0, first = 0;
  uint64_t heartbeat_sent = clock_monotonic_ms();
  CHECK_EQ_U64(pump(report_id, 10000, heartbeat_id, &first, &heartbeat_at), 0);
  uint64_t elapsed = clock_monotonic_ms() - start;
  check_msg(first == heartbeat_id && heartbeat_at - heartbeat_sent < 1000,
            "heartbeat not served during the report (first reply %llu, after %llu ms)",
            (unsigned long long)first, (unsigned long long)(heartbeat_at - heartbeat_sent));
  check_msg(elapsed >= 1800 && elapsed < 6000, "report took %llu ms (deadline 2000)",
            (unsigned long long)elapsed);
  const Tally__ReportReply *got =
      reply && reply->body_case == TALLY__ENVELOPE__BODY_REPORT_REPLY ? reply->report_reply : NULL;
  CHECK(got && got->workers_answered == 2 && got->workers_failed == 2);
  Tally__ReportReply *want = expected_report("labeler", NULL, 1);
  compare_report(got, want);
  CHECK(got && got->n_rows == 2 && strcmp(got->rows[0]->key, "ana") == 0 &&
        strcmp(got->rows[1]->key, "bo") == 0);
  CHECK(got && got->rows[0]->audits == 27 + 12 + 2 && got->total->labels == 40 + 15 + 20 + 3);
  report_reply_free(&want);
  for (int i = 0; i < FAKES; i++)
    check_msg(fakes[i].requests == 1 && strcmp(fakes[i].last_project, "quality") == 0 &&
                  fakes[i].last_market[0] == '\0' && fakes[i].last_from_day == 18000 &&
                  fakes[i].last_to_day == 20000,
              "worker %s: %llu requests, project '%s'", fakes[i].name,
              (unsigned long long)fakes[i].requests, fakes[i].last_project);
}

/* Waits until fake worker w is DOWN in the map (the others kept alive). */
static int wait_down(const fake_worker_t *w) {
  uint64_t deadline = clock_monotonic_ms() + 15000;
  while (clock_monotonic_ms() < deadline) {
    Tally__Envelope env = TALLY__ENVELOPE__INIT;
    Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
    env.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST, env.map_request = &body;
    uint64_t id = send_request(&env);
    if (pump(id, 2000, 0, NULL, NULL) == 0 && reply->body_case == TALLY__ENVELOPE__BODY_MAP)
      for (size_t i = 0; i < reply->map->n_workers; i++)
        if (reply->map->workers[i]->id == w->id &&
            reply->map->workers[i]->state == TALLY__WORKER_STATE__WORKER_DOWN)
          return 0;
    pump(0, 200, 0, NULL, NULL);
  }
  return -1;
}

/* C goes DOWN: it is not asked any more, and the report no longer waits
 * for the deadline. */
static void test_report_without_down_worker(void) {
  fakes[2].alive = 0;
  CHECK(wait_down(&fakes[2]) == 0);
  uint64_t before = fakes[2].requests, elapsed = 0;
  CHECK_EQ_U64(report("quality", "es", "", 0, 0, &elapsed), 0);
  const Tally__ReportReply *got = reply ? reply->report_reply : NULL;
  CHECK(got && got->workers_answered == 2 && got->workers_failed == 1);
  check_msg(elapsed < 1900, "report without a silent worker took %llu ms",
            (unsigned long long)elapsed);
  CHECK_EQ_U64(fakes[2].requests, before);
  CHECK(strcmp(fakes[0].last_market, "es") == 0);
  Tally__ReportReply *want = expected_report("", "es", 1);
  compare_report(got, want);
  /* Item-level coefficients are on the "all" row of an ordinal project. */
  const Tally__Coefficient *alpha =
      got && got->n_rows ? report_row_coefficient(got->rows[0], REPORT_OVERLAP_ALPHA_ORDINAL) : NULL;
  CHECK(alpha && alpha->defined);
  report_reply_free(&want);

  /* A reply carrying another worker's id is not counted. */
  fakes[1].mode = FAKE_WRONG_ID;
  CHECK_EQ_U64(report("quality", "", "day", 0, 0, &elapsed), 0);
  got = reply ? reply->report_reply : NULL;
  CHECK(got && got->workers_answered == 1 && got->workers_failed == 2);
  want = expected_report("day", NULL, 0);
  compare_report(got, want);
  CHECK(got && got->n_rows == 2 && strcmp(got->rows[0]->key, "2022-01-08") == 0);
  report_reply_free(&want);
  fakes[1].mode = FAKE_ROWS;
}

/* A real tally-worker joins: it is asked too and the report is answered
 * whether or not it serves statistics yet. */
static void test_report_with_real_worker(void) {
  cluster.n_workers = 1;
  CHECK(cluster_start_worker(&cluster, 0) == 0);
  /* The fakes sent no heartbeat while the real worker started (slow under
   * a sanitizer on a loaded machine): alive ones are UP again first. */
  last_keepalive_ms = 0;
  keepalive();
  pump(0, 700, 0, NULL, NULL);
  uint64_t elapsed = 0;
  CHECK_EQ_U64(report("quality", "", "category", 0, 0, &elapsed), 0);
  const Tally__ReportReply *got = reply ? reply->report_reply : NULL;
  CHECK(got && got->workers_answered + got->workers_failed == 4 && got->workers_answered >= 2);
  CHECK(got && got->n_rows == 3 && strcmp(got->rows[0]->key, "ok") == 0);
  check_msg(elapsed < 1900, "report with a real worker took %llu ms", (unsigned long long)elapsed);
}

/* SIGTERM while a report waits for the silent worker: a clean stop. */
static void test_stop_during_report(void) {
  fakes[2].alive = 1;
  keepalive();
  last_keepalive_ms = 0;
  pump(0, 700, 0, NULL, NULL); /* C is UP again */
  Tally__Envelope env;
  Tally__ReportRequest body;
  fill_report_request(&env, &body, "quality", "", "");
  send_request(&env);
  pump(0, 300, 0, NULL, NULL);
  cluster_kill_coordinator(&cluster, SIGTERM);
  char path[512], line[1024];
  snprintf(path, sizeof path, "%s/coordinator.log", cluster.dir);
  FILE *f = fopen(path, "r");
  int stopped = 0, rejected = 0;
  while (f && fgets(line, sizeof line, f)) {
    stopped |= strstr(line, "tally-coordinator info: stopped") != NULL;
    rejected |= strstr(line, "statistics rows rejected") != NULL;
  }
  if (f) fclose(f);
  CHECK(stopped);  /* exit path ran: every handle closed, state closed */
  CHECK(rejected); /* B's malformed row was logged */
}

int main(void) {
  harness_init(DEADLINE_SECONDS);
  zmq_context = zmq_ctx_new();
  for (int i = 0; i < FAKES; i++) CHECK(fake_bind(&fakes[i]) == 0);
  make_rows();
  /* The fake workers speak plain ZeroMQ: an insecure cluster. */
  cluster.insecure = 1;
  /* The fakes count stats_requests: no ramp-up gathers beside the reports. */
  cluster.ramp_off = 1;
  curve_client_t curve;
  if (cluster_start(&cluster, 0) == 0 &&
      dealer_new(&client, zmq_context, cluster.coordinator_endpoint,
                 harness_curve(&cluster, -1, &curve)) == 0) {
    test_audit_policy();
    test_report_errors();
    register_fakes();
    test_report_with_silent_worker();
    test_report_without_down_worker();
    test_report_with_real_worker();
    test_stop_during_report();
  } else {
    CHECK(0);
  }
  if (check_failed) fprintf(stderr, "logs in %s (kept with TALLY_KEEP_TEST_DIR)\n", cluster.dir);
  cluster_stop(&cluster);
  wire_envelope_free(&reply);
  dealer_destroy(&client);
  for (int i = 0; i < FAKES; i++) zmq_close(fakes[i].socket);
  zmq_ctx_term(zmq_context);
  free_rows();
  return check_summary();
}
