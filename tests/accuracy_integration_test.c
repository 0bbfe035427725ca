/* Accuracy against the final label on hand-computed cases (README,
 * "Accuracy against the final label"), end to end on one worker: labeler
 * "lab" labels five items, auditor "aud" audits them all (rate 1), lead
 * "boss" settles the four disagreements. The lead only gives the final
 * label (and says when the policy was unclear); who was wrong follows from
 * it (common/attribution.h):
 *
 *   item  lab   aud   verdict (lead says)  attribution      lab     aud
 *   a1    ok    ok    - (agreement)        none             right   right
 *   a2    spam  ok    ok    (plain submit) labeler          wrong   right
 *   a3    spam  ok    spam  (none)         auditor          right   wrong
 *   a4    spam  ok    hate  ("labeler")    both             wrong   wrong
 *   a5    spam  ok    ok    (policy)       policy unclear   not judged
 *
 * a4's lead sends "labeler" as an older client would: ignored, the labels
 * decide. The case database carries the derived attribution.
 *
 * So lab: 2 of 4 right, aud: 2 of 4 right. Before the verdicts only a1
 * counts (an audit waiting for adjudication judges nobody). --by category
 * groups by the labeler's label: ok: 1 audit, agreed 1, 1 of 1 right;
 * spam: 4 audits, agreed 0, 1 of 3 right (a5 not judged); hate: nothing.
 * The labeler's feedback lists all five, a5 as policy unclear, and counts
 * what the report counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"

static cluster_t cluster;
static const char *labels[] = {"ok", "spam", "hate"};

typedef struct {
  const char *id, *labeler_label, *auditor_label, *verdict;
  int plain;                   /* the verdict is a plain tally_submit */
  tally_attribution_t said;    /* what the lead sends */
  tally_attribution_t attribution; /* what the worker derives */
} case_t;

static const case_t cases[] = {
    {"a1", "ok", "ok", NULL, 0, TALLY_ATTRIBUTION_NONE, TALLY_ATTRIBUTION_NONE},
    {"a2", "spam", "ok", "ok", 1, TALLY_ATTRIBUTION_NONE, TALLY_ATTRIBUTION_LABELER},
    {"a3", "spam", "ok", "spam", 0, TALLY_ATTRIBUTION_NONE, TALLY_ATTRIBUTION_AUDITOR},
    {"a4", "spam", "ok", "hate", 0, TALLY_ATTRIBUTION_LABELER, TALLY_ATTRIBUTION_BOTH},
    {"a5", "spam", "ok", "ok", 0, TALLY_ATTRIBUTION_POLICY_UNCLEAR, TALLY_ATTRIBUTION_POLICY_UNCLEAR},
};
#define CASES (sizeof cases / sizeof cases[0])

static const case_t *case_of(const char *item_id) {
  for (size_t i = 0; i < CASES; i++)
    if (strcmp(cases[i].id, item_id) == 0) return &cases[i];
  return NULL;
}

/* Leases every task of `stage` for `who` and answers from the table. */
static int work(tally_t *t, const char *who, tally_stage_t stage) {
  int done = 0;
  for (int empty = 0; empty < 30;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, who, "acc", stage, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(100000);
      continue;
    }
    const case_t *c = case_of(task->item_id);
    int rc = -1;
    if (c && stage == TALLY_STAGE_LABEL) rc = tally_submit(t, who, task->slot, task->lease_id, c->labeler_label, 1000);
    if (c && stage == TALLY_STAGE_AUDIT) rc = tally_submit(t, who, task->slot, task->lease_id, c->auditor_label, 1000);
    if (c && stage == TALLY_STAGE_ADJUDICATE && c->plain)
      rc = tally_submit(t, who, task->slot, task->lease_id, c->verdict, 1000);
    else if (c && stage == TALLY_STAGE_ADJUDICATE)
      rc = tally_submit_adjudication(t, who, task->slot, task->lease_id, c->verdict, c->said, "", 1000);
    CHECK(rc == 0);
    done += rc == 0;
    tally_free(task);
    if ((stage == TALLY_STAGE_ADJUDICATE && done == 4) || done == (int)CASES) break;
  }
  return done;
}

static const tally_report_row_t *row_named(const tally_report_t *rep, const char *key) {
  for (size_t i = 0; i < rep->row_count; i++)
    if (strcmp(rep->rows[i].key, key) == 0) return &rep->rows[i];
  return NULL;
}

static tally_report_t *report(tally_t *t, tally_report_by_t by) {
  tally_report_query_t q = {.by = by};
  tally_report_t *rep = NULL;
  CHECK(tally_report_quality(t, "acc", &q, &rep) == 0 && rep && rep->workers_failed == 0);
  return rep;
}

static int accuracy_is(const tally_accuracy_t *a, uint64_t judged, uint64_t correct) {
  int ok = a->judged == judged && a->correct == correct && a->defined == (judged > 0);
  if (ok && judged > 0) ok = a->value == (double)correct / (double)judged && a->wilson_low <= a->value &&
                             a->value <= a->wilson_high;
  if (!ok)
    fprintf(stderr, "accuracy %llu/%llu (defined %d), wanted %llu/%llu\n", (unsigned long long)a->correct,
            (unsigned long long)a->judged, a->defined, (unsigned long long)correct, (unsigned long long)judged);
  return ok;
}

int main(void) {
  harness_init(120);
  if (cluster_start(&cluster, 1) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) return 1;
  const char *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = "acc";
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  spec.lease_seconds = 60;
  spec.audit_rate = 1.0;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  tally_labeler_t people[] = {{"lab", TALLY_ROLE_LABELER, markets, 1, NULL},
                              {"aud", TALLY_ROLE_AUDITOR, markets, 1, NULL},
                              {"boss", TALLY_ROLE_LEAD, markets, 1, NULL}};
  for (size_t i = 0; i < 3; i++) CHECK(tally_labeler_add(t, &people[i], NULL) == 0);
  tally_item_t items[CASES];
  for (size_t i = 0; i < CASES; i++) items[i] = (tally_item_t){cases[i].id, "es", 1, "content", NULL, NULL};
  tally_ingest_result_t *ingested = NULL;
  CHECK(tally_ingest(t, "acc", items, CASES, &ingested) == 0 && ingested->accepted == CASES);
  tally_free(ingested);

  CHECK(work(t, "lab", TALLY_STAGE_LABEL) == (int)CASES);
  CHECK(work(t, "aud", TALLY_STAGE_AUDIT) == (int)CASES);

  /* Four audits wait for a verdict: only a1 has judged anyone. */
  tally_report_t *rep = report(t, TALLY_REPORT_BY_LABELER);
  const tally_report_row_t *lab = rep ? row_named(rep, "lab") : NULL, *aud = rep ? row_named(rep, "aud") : NULL;
  CHECK(lab && lab->audits == 5 && lab->audit_agreed == 1 && accuracy_is(&lab->labeler_final, 1, 1));
  CHECK(aud && accuracy_is(&aud->auditor_final, 1, 1) && accuracy_is(&aud->labeler_final, 0, 0));
  tally_free(rep);

  CHECK(work(t, "boss", TALLY_STAGE_ADJUDICATE) == 4);

  rep = report(t, TALLY_REPORT_BY_LABELER);
  lab = rep ? row_named(rep, "lab") : NULL;
  aud = rep ? row_named(rep, "aud") : NULL;
  CHECK(lab && accuracy_is(&lab->labeler_final, 4, 2) && accuracy_is(&lab->auditor_final, 0, 0));
  CHECK(aud && accuracy_is(&aud->auditor_final, 4, 2) && aud->labels == 0);
  /* Agreement with the auditor stays as it was: 1 of 5. */
  CHECK(lab && lab->audits == 5 && lab->audit_agreed == 1 && lab->adjudications == 4 &&
        lab->attributed_labeler == 1 && lab->attributed_auditor == 1 && lab->attributed_both == 1 &&
        lab->attributed_policy == 1);
  CHECK(rep && accuracy_is(&rep->total.labeler_final, 4, 2) && accuracy_is(&rep->total.auditor_final, 4, 2));
  tally_free(rep);

  /* The case database holds the derived attribution of every verdict. */
  for (size_t i = 1; i < CASES; i++) {
    tally_case_t *k = NULL;
    CHECK(tally_case_get(t, "acc", cases[i].id, &k) == 0 && k != NULL);
    if (k == NULL) continue;
    if (k->attribution != cases[i].attribution)
      fprintf(stderr, "%s: attribution %s, wanted %s\n", cases[i].id, tally_attribution_name(k->attribution),
              tally_attribution_name(cases[i].attribution));
    CHECK(k->attribution == cases[i].attribution && strcmp(k->final_label, cases[i].verdict) == 0);
    tally_free(k);
  }

  rep = report(t, TALLY_REPORT_BY_CATEGORY);
  const tally_report_row_t *ok = rep ? row_named(rep, "ok") : NULL, *spam = rep ? row_named(rep, "spam") : NULL,
                           *hate = rep ? row_named(rep, "hate") : NULL;
  CHECK(ok && ok->labels == 1 && ok->audits == 1 && ok->audit_agreed == 1 && accuracy_is(&ok->labeler_final, 1, 1));
  CHECK(spam && spam->labels == 4 && spam->audits == 4 && spam->audit_agreed == 0 && spam->accuracy_defined &&
        spam->accuracy == 0.0 && accuracy_is(&spam->labeler_final, 3, 1));
  CHECK(hate && hate->labels == 0 && hate->audits == 0 && !hate->accuracy_defined &&
        accuracy_is(&hate->labeler_final, 0, 0));
  CHECK(ok && !ok->auditor_final.defined);
  tally_free(rep);

  /* Feedback: all five closed audits, and the report's counts. */
  tally_feedback_t *fb = NULL;
  CHECK(tally_feedback(t, "lab", "acc", 100, &fb) == 0 && fb && fb->count == CASES);
  uint64_t judged = 0, correct = 0;
  for (size_t i = 0; fb && i < fb->count; i++) {
    const tally_feedback_entry_t *e = &fb->entries[i];
    const case_t *c = case_of(e->item_id);
    CHECK(c != NULL);
    if (c == NULL) continue;
    const char *final = c->verdict ? c->verdict : c->auditor_label;
    CHECK(strcmp(e->final_label, final) == 0 && strcmp(e->your_label, c->labeler_label) == 0);
    CHECK(e->policy_unclear == (c->attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR));
    judged += !e->policy_unclear;
    correct += !e->policy_unclear && e->correct;
  }
  CHECK(judged == 4 && correct == 2);
  tally_free(fb);

  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
