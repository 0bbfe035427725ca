/* Quality figures end to end: a simulated crowd whose labelers have known
 * accuracies labels items whose truth the test knows; every label is
 * audited (rate 1) by an auditor of known accuracy (AUDITOR_ACCURACY), and a
 * lead who answers the truth settles every disagreement. A wrong labeler
 * answers truth + 1, a wrong auditor truth + 2, so the two never agree on a
 * wrong label and the final label is always the truth: each person's
 * accuracy against the final label is their true accuracy. The report the
 * coordinator computes from the workers' sufficient statistics must then
 * give, for at least 90% of the labelers (all have 100+ judgments) and for
 * the auditor, a 95% Wilson interval of accuracy against the final label
 * that contains the true accuracy; its counts must match what the crowd
 * did, every labeler's feedback must count exactly what the report counts,
 * and the confusion matrix must add up to the audits. Fixed seeds, so it is
 * repeatable (each person's right/wrong sequence depends on their seed only). */
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

#define LABELERS 24
#define TASKS_EACH 110
#define K 4
#define AUDITOR_ACCURACY 0.85

static cluster_t cluster;
static const char *labels[K] = {"ok", "spam", "hate", "violence"};

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) exit(1);
  return t;
}

static double accuracy_of(int i) { return 0.55 + 0.43 * (double)i / (LABELERS - 1); }

/* The truth of an item is in its content: "truth=N". */
static int truth_of(const char *content) { return atoi(strstr(content, "truth=") + 6); }

static void labeler_process(int i) {
  tally_t *t = client();
  char me[16];
  snprintf(me, sizeof me, "q%02d", i);
  unsigned seed = 1000u + (unsigned)i;
  int correct = 0, done = 0;
  for (int empty = 0; done < TASKS_EACH && empty < 50;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, me, "quality", TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(20000);
      continue;
    }
    int truth = truth_of(task->content), answer = truth;
    if ((double)rand_r(&seed) / RAND_MAX >= accuracy_of(i)) answer = (truth + 1) % K;
    if (tally_submit(t, me, task->slot, task->lease_id, labels[answer], 4000) == 0) {
      done++;
      correct += answer == truth;
    }
    tally_free(task);
  }
  tally_close(&t);
  /* Report what this labeler really did through the exit status: the count
   * of correct labels does not fit, so write it to a file. */
  char path[512];
  snprintf(path, sizeof path, "%s/q%02d.truth", cluster.dir, i);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%d %d\n", done, correct);
    fclose(f);
  }
  _exit(0);
}

static void reviewer_process(const char *me, int stage) {
  tally_t *t = client();
  unsigned seed = 777;
  int done = 0, correct = 0;
  for (int empty = 0; empty < 20;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, me, "quality", (tally_stage_t)stage, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(100000);
      continue;
    }
    empty = 0;
    const char *truth = labels[truth_of(task->content)];
    if (stage == TALLY_STAGE_AUDIT) {
      int right = (double)rand_r(&seed) / RAND_MAX < AUDITOR_ACCURACY;
      const char *answer = right ? truth : labels[(truth_of(task->content) + 2) % K];
      if (tally_submit(t, me, task->slot, task->lease_id, answer, 2000) == 0) {
        done++;
        correct += right;
      }
    } else {
      tally_submit_adjudication(t, me, task->slot, task->lease_id, truth, TALLY_ATTRIBUTION_NONE, "", 1500);
    }
    tally_free(task);
  }
  tally_close(&t);
  char path[512];
  snprintf(path, sizeof path, "%s/%s.truth", cluster.dir, me);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%d %d\n", done, correct);
    fclose(f);
  }
  _exit(0);
}

/* What a person really did, from their .truth file: *done, *correct. */
static void truth_read(const char *who, int *done, int *correct) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.truth", cluster.dir, who);
  *done = *correct = -1;
  FILE *f = fopen(path, "r");
  if (f) {
    if (fscanf(f, "%d %d", done, correct) != 2) *done = *correct = -1;
    fclose(f);
  }
}

/* The labeler's feedback, counted by the report's rule: judged (not
 * policy-unclear) and right. */
static void feedback_count(const char *who, uint64_t *judged, uint64_t *correct) {
  tally_t *t = client();
  tally_feedback_t *fb = NULL;
  *judged = *correct = UINT64_MAX;
  if (tally_feedback(t, who, "quality", 10000, &fb) == 0 && fb->workers_failed == 0) {
    *judged = *correct = 0;
    for (size_t i = 0; i < fb->count; i++) {
      *judged += !fb->entries[i].policy_unclear;
      *correct += !fb->entries[i].policy_unclear && fb->entries[i].correct;
    }
  }
  tally_free(fb);
  tally_close(&t);
}

static Tally__Envelope *report(void *ctx, const char *by) {
  dealer_t *d = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__ReportRequest r = TALLY__REPORT_REQUEST__INIT;
  wire_envelope_init(&req, 0);
  r.project = "quality";
  r.by = (char *)by;
  req.body_case = TALLY__ENVELOPE__BODY_REPORT_REQUEST;
  req.report_request = &r;
  curve_client_t curve;
  if (dealer_new(&d, ctx, cluster.coordinator_endpoint, harness_curve(&cluster, -1, &curve)) == 0) dealer_call(d, &req, 10000, &reply);
  dealer_destroy(&d);
  return reply;
}

int main(void) {
  harness_init(280);
  if (cluster_start(&cluster, 1) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = client();
  const char *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = "quality";
  spec.labels = labels;
  spec.label_count = K;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 120;
  spec.audit_rate = 1.0;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  char id[16];
  for (int i = 0; i < LABELERS; i++) {
    snprintf(id, sizeof id, "q%02d", i);
    tally_labeler_t l = {id, TALLY_ROLE_LABELER, markets, 2, NULL};
    CHECK(tally_labeler_add(t, &l, NULL) == 0);
  }
  tally_labeler_t auditor = {"qa-auditor", TALLY_ROLE_AUDITOR, markets, 2, NULL};
  tally_labeler_t lead = {"qa-lead", TALLY_ROLE_LEAD, markets, 2, NULL};
  CHECK(tally_labeler_add(t, &auditor, NULL) == 0);
  CHECK(tally_labeler_add(t, &lead, NULL) == 0);
  int n_items = LABELERS * TASKS_EACH;
  tally_item_t *items = calloc((size_t)n_items, sizeof *items);
  char (*ids)[16] = calloc((size_t)n_items, sizeof *ids);
  char (*contents)[32] = calloc((size_t)n_items, sizeof *contents);
  unsigned seed = 42;
  for (int i = 0; i < n_items; i++) {
    snprintf(ids[i], sizeof ids[i], "q-%05d", i);
    snprintf(contents[i], sizeof contents[i], "truth=%d", rand_r(&seed) % K);
    items[i] = (tally_item_t){ids[i], i % 2 ? "es" : "ja", 1, contents[i], NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "quality", items, (size_t)n_items, &res) == 0 && res->accepted == (uint32_t)n_items);
  tally_free(res);
  free(items);
  free(ids);
  free(contents);
  tally_close(&t);

  pid_t kids[LABELERS];
  for (int i = 0; i < LABELERS; i++)
    if ((kids[i] = fork()) == 0) labeler_process(i);
  for (int i = 0; i < LABELERS; i++) waitpid(kids[i], NULL, 0);
  pid_t reviewer = fork();
  if (reviewer == 0) reviewer_process("qa-auditor", TALLY_STAGE_AUDIT);
  waitpid(reviewer, NULL, 0);
  reviewer = fork();
  if (reviewer == 0) reviewer_process("qa-lead", TALLY_STAGE_ADJUDICATE);
  waitpid(reviewer, NULL, 0);

  void *ctx = zmq_ctx_new();
  Tally__Envelope *env = report(ctx, "labeler");
  CHECK(env != NULL && env->body_case == TALLY__ENVELOPE__BODY_REPORT_REPLY);
  if (env && env->body_case == TALLY__ENVELOPE__BODY_ERROR)
    fprintf(stderr, "report: %s\n", env->error->message);
  if (env && env->body_case == TALLY__ENVELOPE__BODY_REPORT_REPLY) {
    Tally__ReportReply *r = env->report_reply;
    CHECK_EQ_U64(r->workers_failed, 0);
    CHECK_EQ_U64(r->n_rows, LABELERS + 1); /* the auditor has a row of their own */
    int covered = 0, counted_right = 0, feedback_agrees = 0, total_audits = 0, auditor_rows = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
      Tally__ReportRow *row = r->rows[i];
      const Tally__Accuracy *acc = row->labeler_final;
      int done = 0, correct = 0;
      truth_read(row->key, &done, &correct);
      if (strcmp(row->key, "qa-auditor") == 0) {
        /* The auditor: judged on every audit, right when it gave the truth. */
        auditor_rows++;
        const Tally__Accuracy *a = row->auditor_final;
        CHECK(a && a->judged == (uint64_t)done && a->correct == (uint64_t)correct && row->labels == 0);
        CHECK(a && a->defined && a->wilson_low <= AUDITOR_ACCURACY && AUDITOR_ACCURACY <= a->wilson_high);
        if (a)
          fprintf(stderr, "auditor: %llu/%llu right, [%.3f, %.3f]\n", (unsigned long long)a->correct,
                  (unsigned long long)a->judged, a->wilson_low, a->wilson_high);
        continue;
      }
      int who = atoi(row->key + 1);
      /* Final label = truth: accuracy against it = correct labels. */
      counted_right += row->audits == (uint64_t)done && row->labels == (uint64_t)done && acc &&
                       acc->judged == (uint64_t)done && acc->correct == (uint64_t)correct &&
                       row->auditor_final && row->auditor_final->judged == 0;
      uint64_t fb_judged, fb_correct;
      feedback_count(row->key, &fb_judged, &fb_correct);
      int same = acc && fb_judged == acc->judged && fb_correct == acc->correct;
      feedback_agrees += same;
      if (!same)
        fprintf(stderr, "%s: feedback %llu/%llu, report %llu/%llu\n", row->key, (unsigned long long)fb_correct,
                (unsigned long long)fb_judged, acc ? (unsigned long long)acc->correct : 0ull,
                acc ? (unsigned long long)acc->judged : 0ull);
      total_audits += (int)row->audits;
      double truth = accuracy_of(who);
      int inside = acc && acc->defined && acc->wilson_low <= truth && truth <= acc->wilson_high;
      covered += inside;
      if (!inside && acc)
        fprintf(stderr, "%s: true accuracy %.3f outside [%.3f, %.3f] (%llu/%llu)\n", row->key, truth,
                acc->wilson_low, acc->wilson_high, (unsigned long long)acc->correct,
                (unsigned long long)acc->judged);
      CHECK(row->audits >= 100);
    }
    CHECK_EQ_U64(auditor_rows, 1);
    CHECK_EQ_U64(counted_right, LABELERS);
    CHECK_EQ_U64(feedback_agrees, LABELERS);
    CHECK(covered * 10 >= LABELERS * 9);
    uint64_t confusion_sum = 0, diagonal = 0;
    CHECK_EQ_U64(r->n_confusion, K * K);
    for (size_t i = 0; i < r->n_confusion; i++) confusion_sum += r->confusion[i];
    for (size_t i = 0; i < K && r->n_confusion == K * K; i++) diagonal += r->confusion[i * K + i];
    CHECK_EQ_U64(confusion_sum, total_audits);
    CHECK(r->total != NULL && r->total->audit_agreed == diagonal);
    CHECK(r->total != NULL && r->total->adjudications == r->total->audits - r->total->audit_agreed);
    /* The workers derive who was wrong from the final label (the truth): a
     * wrong labeler's label always goes to a verdict, and so does a wrong
     * auditor's, so the attributions count exactly the wrong judgments. */
    const Tally__ReportRow *all = r->total;
    CHECK(all != NULL && all->labeler_final && all->auditor_final && all->attributed_policy == 0 &&
          all->attributed_labeler + all->attributed_auditor + all->attributed_both == all->adjudications);
    CHECK(all != NULL && all->labeler_final &&
          all->attributed_labeler + all->attributed_both == all->labeler_final->judged - all->labeler_final->correct);
    CHECK(all != NULL && all->auditor_final &&
          all->attributed_auditor + all->attributed_both == all->auditor_final->judged - all->auditor_final->correct);
  }
  wire_envelope_free(&env);
  zmq_ctx_term(ctx);
  cluster_stop(&cluster);
  return check_summary();
}
