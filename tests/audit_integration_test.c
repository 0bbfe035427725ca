/* Integration tests of the double-blind audit engine on the real daemons:
 *  - blindness at the protocol level: a labeler's lease and submit replies
 *    are byte-identical for sampled and unsampled items apart from ids, and
 *    an audit task carries neither the first label nor the labeler's id;
 *  - 10,000 labels by a crowd whose members also audit and adjudicate:
 *    nobody audits or adjudicates their own item, every audit closes, and
 *    each labeler's realised audit rate is within 3 standard deviations;
 *  - feedback shows a labeler only their own closed audits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "dealer.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"
#include "wire.h"

static cluster_t cluster;
static void *zctx;

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) exit(1);
  return t;
}

static void make_project(tally_t *t, const char *name, double rate, uint32_t overlap) {
  const char *labels[] = {"ok", "spam", "hate", "violence"};
  const char *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = name;
  spec.labels = labels;
  spec.label_count = 4;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = overlap;
  spec.lease_seconds = 120;
  spec.audit_rate = rate;
  tally_project_t *out = NULL;
  CHECK(tally_project_create(t, &spec, &out) == 0);
  tally_free(out);
}

static void make_person(tally_t *t, const char *id, uint32_t roles) {
  const char *markets[] = {"es", "ja"};
  tally_labeler_t spec = {id, roles, markets, 2, NULL};
  tally_labeler_t *out = NULL;
  CHECK(tally_labeler_add(t, &spec, &out) == 0);
  tally_free(out);
}

static void ingest(tally_t *t, const char *project, int n, const char *content) {
  tally_item_t *items = calloc((size_t)n, sizeof *items);
  char (*ids)[24] = calloc((size_t)n, sizeof *ids);
  for (int i = 0; i < n; i++) {
    snprintf(ids[i], sizeof ids[i], "it-%05d", i);
    items[i] = (tally_item_t){ids[i], i % 2 ? "es" : "ja", 1, content, NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, project, items, (size_t)n, &res) == 0 && res->accepted == (uint32_t)n);
  tally_free(res);
  free(items);
  free(ids);
}

/* One raw round trip to the worker; returns the reply (caller frees). */
static Tally__Envelope *raw_call(dealer_t *d, Tally__Envelope *request) {
  Tally__Envelope *reply = NULL;
  dealer_call(d, request, 5000, &reply);
  return reply;
}

/* Encodes `env` with request id 0 into buf; returns its length. */
static size_t normalized(Tally__Envelope *env, uint8_t *buf, size_t cap) {
  env->request_id = 0;
  size_t len = tally__envelope__get_packed_size(env);
  if (len > cap) return 0;
  return tally__envelope__pack(env, buf);
}

#define BLIND_ITEMS 60
static const char blind_labeler[] = "blind-labeler-7f3a9c";

static curve_client_t curve; /* harness_curve buffer */

static void test_blindness(void) {
  tally_t *t = client();
  make_project(t, "blind", 0.5, 1);
  make_person(t, blind_labeler, TALLY_ROLE_LABELER);
  make_person(t, "blind-auditor", TALLY_ROLE_AUDITOR);
  ingest(t, "blind", BLIND_ITEMS, "the same content for every item");
  dealer_t *d = NULL;
  CHECK(dealer_new(&d, zctx, cluster.worker_endpoints[0], harness_curve(&cluster, 0, &curve)) == 0);
  static uint8_t lease_bytes[BLIND_ITEMS][2048], submit_bytes[BLIND_ITEMS][256];
  static size_t lease_len[BLIND_ITEMS], submit_len[BLIND_ITEMS];
  static char item_ids[BLIND_ITEMS][32];
  int leased = 0;
  for (int i = 0; i < BLIND_ITEMS; i++) {
    Tally__Envelope req;
    Tally__LeaseRequest lease = TALLY__LEASE_REQUEST__INIT;
    wire_envelope_init(&req, 0);
    lease.labeler = (char *)blind_labeler;
    lease.project = "blind";
    req.body_case = TALLY__ENVELOPE__BODY_LEASE;
    req.lease = &lease;
    Tally__Envelope *reply = raw_call(d, &req);
    if (reply == NULL || reply->body_case != TALLY__ENVELOPE__BODY_LEASE_REPLY ||
        !reply->lease_reply->has_task) {
      wire_envelope_free(&reply);
      break;
    }
    Tally__Task *task = reply->lease_reply->task;
    snprintf(item_ids[i], sizeof item_ids[i], "%s", task->item_id);
    Tally__SubmitRequest submit = TALLY__SUBMIT_REQUEST__INIT;
    submit.labeler = (char *)blind_labeler;
    submit.slot = task->slot;
    submit.lease_id = task->lease_id;
    submit.label = i % 3 ? "ok" : "spam";
    submit.handling_ms = 1000;
    /* Normalize the ids: item, slot, lease, deadline, market. */
    char *item_id = task->item_id, *market = task->market;
    task->slot = 0;
    task->lease_id = 0;
    task->deadline_ms = 0;
    task->item_id = "";
    task->market = "";
    lease_len[i] = normalized(reply, lease_bytes[i], sizeof lease_bytes[i]);
    task->item_id = item_id; /* owned by the reply: freed with it */
    task->market = market;
    Tally__Envelope sreq;
    wire_envelope_init(&sreq, 0);
    sreq.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
    sreq.submit = &submit;
    Tally__Envelope *sreply = raw_call(d, &sreq);
    CHECK(sreply != NULL && sreply->body_case == TALLY__ENVELOPE__BODY_ACK);
    if (sreply) submit_len[i] = normalized(sreply, submit_bytes[i], sizeof submit_bytes[i]);
    wire_envelope_free(&sreply);
    wire_envelope_free(&reply);
    leased++;
  }
  CHECK(leased == BLIND_ITEMS);
  /* The auditor's queue tells which items were sampled. */
  int sampled[BLIND_ITEMS] = {0}, n_sampled = 0;
  for (;;) {
    Tally__Envelope req;
    Tally__LeaseRequest lease = TALLY__LEASE_REQUEST__INIT;
    wire_envelope_init(&req, 0);
    lease.labeler = "blind-auditor";
    lease.project = "blind";
    lease.stage = TALLY__STAGE__STAGE_AUDIT;
    req.body_case = TALLY__ENVELOPE__BODY_LEASE;
    req.lease = &lease;
    Tally__Envelope *reply = raw_call(d, &req);
    if (reply == NULL || !reply->lease_reply || !reply->lease_reply->has_task) {
      wire_envelope_free(&reply);
      break;
    }
    Tally__Task *task = reply->lease_reply->task;
    /* The audit task is blind: no first label, no labeler. */
    CHECK(task->n_candidates == 0);
    CHECK(strcmp(task->content, "the same content for every item") == 0);
    CHECK(task->n_labels == 4);
    uint8_t raw[4096];
    size_t raw_len = normalized(reply, raw, sizeof raw);
    CHECK(memmem(raw, raw_len, blind_labeler, strlen(blind_labeler)) == NULL);
    CHECK(task->base.n_unknown_fields == 0);
    for (int i = 0; i < BLIND_ITEMS; i++)
      if (strcmp(item_ids[i], task->item_id) == 0 && !sampled[i]) sampled[i] = 1, n_sampled++;
    tally_submit(t, "blind-auditor", task->slot, task->lease_id, "ok", 500);
    wire_envelope_free(&reply);
  }
  /* Some but not all sampled (rate 0.5 over 60: P(0 or 60) ~ 1e-18). */
  CHECK(n_sampled > 0 && n_sampled < BLIND_ITEMS);
  int first_s = -1, first_u = -1, lease_differs = 0, submit_differs = 0;
  for (int i = 0; i < BLIND_ITEMS; i++) {
    int *first = sampled[i] ? &first_s : &first_u;
    if (*first < 0) *first = i;
  }
  for (int i = 0; i < BLIND_ITEMS && first_s >= 0 && first_u >= 0; i++) {
    int ref = first_u;
    lease_differs += lease_len[i] != lease_len[ref] ||
                     memcmp(lease_bytes[i], lease_bytes[ref], lease_len[i]) != 0;
    submit_differs += submit_len[i] != submit_len[ref] ||
                      memcmp(submit_bytes[i], submit_bytes[ref], submit_len[i]) != 0;
  }
  CHECK(first_s >= 0 && first_u >= 0);
  CHECK_EQ_U64(lease_differs, 0);
  CHECK_EQ_U64(submit_differs, 0);
  dealer_destroy(&d);
  tally_close(&t);
}

/* ------------------------------------------------------------ the crowd */

#define CROWD 10
#define TASKS_EACH 1000
#define CROWD_RATE 0.2

static void crowd_labeler(int i) {
  tally_t *t = client();
  char me[16];
  snprintf(me, sizeof me, "L%d", i);
  static const char *labels[] = {"ok", "spam", "hate", "violence"};
  unsigned seed = (unsigned)i * 7919u;
  for (int done = 0, empty = 0; done < TASKS_EACH && empty < 20;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, me, "crowd", TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(20000);
      continue;
    }
    if (tally_submit(t, me, task->slot, task->lease_id, labels[rand_r(&seed) % 4], 3000) == 0) done++;
    tally_free(task);
  }
  tally_close(&t);
  _exit(0);
}

/* Drains the audit or adjudication queue as `me`. */
static void crowd_reviewer(const char *me, int stage) {
  tally_t *t = client();
  static const char *labels[] = {"ok", "spam", "hate", "violence"};
  unsigned seed = (unsigned)me[1] * 31u + (unsigned)stage;
  for (int empty = 0; empty < 15;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, me, "crowd", (tally_stage_t)stage, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(100000);
      continue;
    }
    empty = 0;
    const char *label = labels[rand_r(&seed) % 4];
    if (stage == TALLY_STAGE_AUDIT) {
      tally_submit(t, me, task->slot, task->lease_id, label, 2000);
    } else {
      tally_submit_adjudication(t, me, task->slot, task->lease_id, label,
                                (tally_attribution_t)(1 + rand_r(&seed) % 4),
                                "decided in the crowd test", 1500);
    }
    tally_free(task);
  }
  tally_close(&t);
  _exit(0);
}

typedef struct {
  int labels, sampled;
} labeler_count_t;

static void test_crowd(void) {
  tally_t *t = client();
  make_project(t, "crowd", CROWD_RATE, 1);
  char id[16];
  for (int i = 0; i < CROWD; i++) {
    snprintf(id, sizeof id, "L%d", i);
    /* Labelers who also audit or adjudicate: self-review must never happen. */
    uint32_t roles = TALLY_ROLE_LABELER | (i < 4 ? TALLY_ROLE_AUDITOR : 0) |
                     (i >= 4 && i < 7 ? TALLY_ROLE_LEAD : 0);
    make_person(t, id, roles);
  }
  make_person(t, "A0", TALLY_ROLE_AUDITOR);
  make_person(t, "D0", TALLY_ROLE_LEAD);
  ingest(t, "crowd", CROWD * TASKS_EACH, "{\"text\":\"crowd item\"}");
  tally_close(&t);
  pid_t kids[CROWD];
  for (int i = 0; i < CROWD; i++)
    if ((kids[i] = fork()) == 0) crowd_labeler(i);
  for (int i = 0; i < CROWD; i++) waitpid(kids[i], NULL, 0);
  const char *auditors[] = {"A0", "L0", "L1", "L2", "L3"};
  pid_t reviewers[8];
  int n = 0;
  for (int i = 0; i < 5; i++)
    if ((reviewers[n++] = fork()) == 0) crowd_reviewer(auditors[i], TALLY_STAGE_AUDIT);
  for (int i = 0; i < n; i++) waitpid(reviewers[i], NULL, 0);
  const char *leads[] = {"D0", "L4", "L5", "L6"};
  n = 0;
  for (int i = 0; i < 4; i++)
    if ((reviewers[n++] = fork()) == 0) crowd_reviewer(leads[i], TALLY_STAGE_ADJUDICATE);
  for (int i = 0; i < n; i++) waitpid(reviewers[i], NULL, 0);

  /* Export every judgment and check it. */
  dealer_t *d = NULL;
  CHECK(dealer_new(&d, zctx, cluster.worker_endpoints[0], harness_curve(&cluster, 0, &curve)) == 0);
  labeler_count_t counts[CROWD] = {{0, 0}};
  int judgments = 0, self_audit = 0, self_verdict = 0, verdicts = 0, unattributed = 0;
  uint8_t after[512];
  size_t after_len = 0;
  for (int page = 0; page < 1000; page++) {
    Tally__Envelope req, *reply;
    Tally__ExportRequest ex = TALLY__EXPORT_REQUEST__INIT;
    wire_envelope_init(&req, 0);
    ex.project = "crowd";
    ex.after.data = after;
    ex.after.len = after_len;
    req.body_case = TALLY__ENVELOPE__BODY_EXPORT_REQUEST;
    req.export_request = &ex;
    reply = raw_call(d, &req);
    CHECK(reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_EXPORT_REPLY);
    if (reply == NULL || reply->body_case != TALLY__ENVELOPE__BODY_EXPORT_REPLY) break;
    for (size_t i = 0; i < reply->export_reply->n_judgments; i++) {
      Tally__Judgment *j = reply->export_reply->judgments[i];
      judgments++;
      CHECK(j->audit != NULL && j->n_labels == 1 && j->n_audited_labelers == 1);
      if (j->audit == NULL || j->n_labels == 0) continue;
      self_audit += strcmp(j->audit->labeler, j->labels[0]->labeler) == 0;
      if (j->adjudicator[0] != '\0') {
        verdicts++;
        self_verdict += strcmp(j->adjudicator, j->labels[0]->labeler) == 0 ||
                        strcmp(j->adjudicator, j->audit->labeler) == 0;
        unattributed += j->attribution == TALLY__ATTRIBUTION__ATTRIBUTION_NONE;
      } else {
        CHECK(strcmp(j->final_label, j->audit->label) == 0 &&
              strcmp(j->labels[0]->label, j->audit->label) == 0);
      }
      int who = atoi(j->labels[0]->labeler + 1);
      if (who >= 0 && who < CROWD) counts[who].sampled++;
    }
    int done = reply->export_reply->done;
    after_len = reply->export_reply->next.len;
    if (after_len > 0 && after_len <= sizeof after) memcpy(after, reply->export_reply->next.data, after_len);
    wire_envelope_free(&reply);
    if (done) break;
  }
  dealer_destroy(&d);
  CHECK(judgments > 1000);
  CHECK_EQ_U64(self_audit, 0);
  CHECK_EQ_U64(self_verdict, 0);
  CHECK_EQ_U64(unattributed, 0);
  CHECK(verdicts > 0);
  /* Every audit closed: nothing left in the audit or adjudication queues. */
  t = client();
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "crowd", &st) == 0);
  if (st) {
    CHECK_EQ_U64(st->total.labels, CROWD * TASKS_EACH);
    CHECK_EQ_U64(st->total.done, CROWD * TASKS_EACH);
    CHECK_EQ_U64(st->total.queued, 0);
  }
  tally_free(st);
  /* Realised audit rate per labeler within 3 standard deviations of the
   * configured rate. Sampling is an independent draw per label, so even a
   * perfect sampler leaves one labeler in ten outside 3 sd in 2.7% of runs:
   * the test allows that one and fails on two (a 0.04% chance), and on any
   * labeler beyond 4.5 sd, or a pooled rate beyond 3 sd. */
  int outside = 0, far = 0, pooled = 0;
  for (int i = 0; i < CROWD; i++) {
    double n_i = TASKS_EACH, expect = n_i * CROWD_RATE;
    double sd = sqrt(n_i * CROWD_RATE * (1 - CROWD_RATE));
    double z = (counts[i].sampled - expect) / sd;
    pooled += counts[i].sampled;
    fprintf(stderr, "L%d: %d of %d labels audited (z = %+.2f)\n", i, counts[i].sampled, TASKS_EACH, z);
    outside += fabs(z) > 3;
    far += fabs(z) > 4.5;
  }
  CHECK(outside <= 1);
  CHECK_EQ_U64(far, 0);
  double n_all = (double)CROWD * TASKS_EACH;
  CHECK(fabs(pooled - n_all * CROWD_RATE) <= 3 * sqrt(n_all * CROWD_RATE * (1 - CROWD_RATE)));
  /* Feedback: a labeler sees only their own closed audits. */
  d = NULL;
  CHECK(dealer_new(&d, zctx, cluster.worker_endpoints[0], harness_curve(&cluster, 0, &curve)) == 0);
  Tally__Envelope req, *reply;
  Tally__FeedbackRequest fb = TALLY__FEEDBACK_REQUEST__INIT;
  wire_envelope_init(&req, 0);
  fb.labeler = "L3";
  fb.project = "crowd";
  fb.limit = 10000;
  req.body_case = TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST;
  req.feedback_request = &fb;
  reply = raw_call(d, &req);
  CHECK(reply && reply->body_case == TALLY__ENVELOPE__BODY_FEEDBACK_REPLY);
  if (reply && reply->feedback_reply) {
    CHECK_EQ_U64(reply->feedback_reply->n_entries, counts[3].sampled);
    for (size_t i = 1; i < reply->feedback_reply->n_entries; i++)
      CHECK(reply->feedback_reply->entries[i - 1]->closed_ms >=
            reply->feedback_reply->entries[i]->closed_ms);
  }
  wire_envelope_free(&reply);
  dealer_destroy(&d);
  tally_close(&t);
}

int main(void) {
  harness_init(280);
  zctx = zmq_ctx_new();
  if (cluster_start(&cluster, 1) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  test_blindness();
  test_crowd();
  cluster_stop(&cluster);
  zmq_ctx_term(zctx);
  return check_summary();
}
