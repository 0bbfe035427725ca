/* Labeler allocation and the case database, end to end on the real
 * daemons (two workers):
 *
 *  - `labeler assign` / `unassign` / `roles` hold from the very next lease:
 *    a labeler assigned to market ja gets a (higher priority) ja task at
 *    once, never again after unassign; an auditor role works at once and
 *    is refused at once after it is taken away; bad updates are refused.
 *  - the case database holds exactly the adjudicated items with the
 *    lead's verdicts and notes, newest first, merged over both workers;
 *    category, market, since and limit filter; `cases show` shows one case
 *    with its content and refuses items without one. Through libtally and
 *    the CLI (table, json, csv). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"

#define OUT_SIZE 65536
#define CASE_ITEMS 8

static cluster_t cluster;
static char out[OUT_SIZE];
static const char *labels[] = {"ok", "spam", "hate"};
static const char *markets[] = {"es", "ja"};

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) exit(1);
  return t;
}

static void create_project(tally_t *t, const char *name) {
  tally_project_t spec = {0};
  spec.name = name;
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 120;
  spec.audit_rate = 1.0;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
}

static void add_person(tally_t *t, const char *id, uint32_t roles, const char **m, size_t n) {
  tally_labeler_t l = {id, roles, m, n, NULL};
  CHECK(tally_labeler_add(t, &l, NULL) == 0);
}

static void ingest(tally_t *t, const char *project, const char *prefix, const char *market,
                   uint32_t priority, int count) {
  tally_item_t items[16];
  char ids[16][32], contents[16][64];
  for (int i = 0; i < count; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%d", prefix, i);
    snprintf(contents[i], sizeof contents[i], "content of %s-%d", prefix, i);
    items[i] = (tally_item_t){ids[i], market, priority, contents[i], NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, project, items, (size_t)count, &res) == 0 && res->accepted == (uint32_t)count);
  tally_free(res);
}

/* Leases one task and submits `label`; returns the task's market in
 * market[8] ("" when there was no task). */
static void lease_and_label(tally_t *t, const char *who, const char *project, char market[8]) {
  tally_task_t *task = NULL;
  market[0] = '\0';
  if (tally_lease(t, who, project, TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) return;
  snprintf(market, 8, "%s", task->market);
  CHECK(tally_submit(t, who, task->slot, task->lease_id, "ok", 1000) == 0);
  tally_free(task);
}

static void test_allocation(void) {
  tally_t *t = client();
  create_project(t, "alloc");
  add_person(t, "amy", TALLY_ROLE_LABELER, markets, 1); /* es only */
  add_person(t, "bob", TALLY_ROLE_LABELER, markets, 2);
  ingest(t, "alloc", "es", "es", TALLY_PRIORITY_NORMAL, 6);
  ingest(t, "alloc", "ja", "ja", TALLY_PRIORITY_HIGH, 6);
  char market[8];

  /* Before: es only, although ja work has the higher priority. */
  lease_and_label(t, "amy", "alloc", market);
  CHECK(strcmp(market, "es") == 0);

  /* Assign ja through the CLI: the very next lease is a ja task. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler assign amy --market ja") == 0);
  CHECK(strstr(out, "es,ja") != NULL);
  lease_and_label(t, "amy", "alloc", market);
  CHECK(strcmp(market, "ja") == 0);

  /* Unassign ja through libtally: never a ja task again. */
  const char *ja[] = {"ja"};
  tally_labeler_update_t u = {"amy", 0, NULL, 0, ja, 1, NULL};
  tally_labeler_t *updated = NULL;
  CHECK(tally_labeler_update(t, &u, &updated) == 0);
  CHECK(updated != NULL && updated->market_count == 1 && strcmp(updated->markets[0], "es") == 0);
  tally_free(updated);
  int ja_tasks = 0, es_tasks = 0;
  for (int i = 0; i < 6; i++) {
    lease_and_label(t, "amy", "alloc", market);
    ja_tasks += strcmp(market, "ja") == 0;
    es_tasks += strcmp(market, "es") == 0;
  }
  CHECK_EQ_U64(ja_tasks, 0);
  CHECK_EQ_U64(es_tasks, 5); /* the rest of the es items, then nothing */

  /* Roles: bob labels a ja item, amy may audit it from her next lease. */
  lease_and_label(t, "bob", "alloc", market);
  CHECK(strcmp(market, "ja") == 0);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "amy", "alloc", TALLY_STAGE_AUDIT, 0, &task) == TALLY_E_NOT_QUALIFIED);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler roles amy --roles labeler,auditor") == 0);
  CHECK(strstr(out, "labeler,auditor") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler assign amy --market ja") == 0);
  CHECK(tally_lease(t, "amy", "alloc", TALLY_STAGE_AUDIT, 0, &task) == 0 && task != NULL);
  if (task) {
    CHECK(strcmp(task->market, "ja") == 0);
    CHECK(tally_release(t, "amy", task->slot, task->lease_id) == 0);
    tally_free(task);
    task = NULL;
  }
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler roles amy --roles labeler") == 0);
  CHECK(tally_lease(t, "amy", "alloc", TALLY_STAGE_AUDIT, 0, &task) == TALLY_E_NOT_QUALIFIED);
  tally_free(task);

  /* Refusals. */
  const char *es_ja[] = {"es", "ja"};
  tally_labeler_update_t all = {"amy", 0, NULL, 0, es_ja, 2, NULL};
  CHECK(tally_labeler_update(t, &all, NULL) == TALLY_E_INVALID_ARGUMENT);
  tally_labeler_update_t nobody = {"nobody", 0, es_ja, 1, NULL, 0, NULL};
  CHECK(tally_labeler_update(t, &nobody, NULL) == TALLY_E_UNKNOWN_LABELER);
  tally_labeler_update_t badroles = {"amy", 256, NULL, 0, NULL, 0, NULL};
  CHECK(tally_labeler_update(t, &badroles, NULL) == TALLY_E_INVALID_ARGUMENT);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler unassign amy --market es --market ja") == 1);
  CHECK(strstr(out, "INVALID_ARGUMENT") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler assign ghost --market es") == 1);
  CHECK(strstr(out, "UNKNOWN_LABELER") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler assign amy") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler roles amy --help") == 0);
  CHECK(strstr(out, "Usage: tally labeler roles") != NULL);
  tally_close(&t);
}

/* What the lead decided for item c-i (i < 4); items 4.. are agreed. */
typedef struct {
  const char *final_label;
  tally_attribution_t attribution;
  char note[32];
  char a[8], b[8];   /* candidates as the lead saw them */
  uint64_t order;    /* verdict order, 1-based */
} verdict_t;

static verdict_t verdicts[CASE_ITEMS];

static void run_reviews(tally_t *t) {
  char market[8];
  for (int i = 0; i < CASE_ITEMS; i++) lease_and_label(t, "carl", "cases", market);
  for (int i = 0; i < CASE_ITEMS; i++) {
    tally_task_t *task = NULL;
    CHECK(tally_lease(t, "dora", "cases", TALLY_STAGE_AUDIT, 0, &task) == 0 && task != NULL);
    if (task == NULL) continue;
    int n = atoi(task->item_id + 2);
    CHECK(tally_submit(t, "dora", task->slot, task->lease_id, n < 4 ? "spam" : "ok", 900) == 0);
    tally_free(task);
  }
  /* carl said ok, dora spam: the final label decides who was wrong (c-2:
   * a third label, both); the lead only says "policy unclear" (c-3). */
  static const char *finals[4] = {"spam", "ok", "hate", "hate"};
  static const tally_attribution_t attributions[4] = {TALLY_ATTRIBUTION_LABELER, TALLY_ATTRIBUTION_AUDITOR,
                                                      TALLY_ATTRIBUTION_BOTH, TALLY_ATTRIBUTION_POLICY_UNCLEAR};
  for (uint64_t k = 1; k <= 4; k++) {
    tally_task_t *task = NULL;
    CHECK(tally_lease(t, "eve", "cases", TALLY_STAGE_ADJUDICATE, 0, &task) == 0 && task != NULL);
    if (task == NULL) continue;
    int n = atoi(task->item_id + 2);
    verdict_t *v = &verdicts[n];
    v->final_label = finals[n];
    v->attribution = attributions[n];
    snprintf(v->note, sizeof v->note, "note for c-%d", n);
    CHECK(task->candidate_count == 2);
    if (task->candidate_count == 2) {
      snprintf(v->a, sizeof v->a, "%s", task->candidates[0]);
      snprintf(v->b, sizeof v->b, "%s", task->candidates[1]);
    }
    v->order = k;
    tally_attribution_t said = n == 3 ? TALLY_ATTRIBUTION_POLICY_UNCLEAR : TALLY_ATTRIBUTION_NONE;
    CHECK(tally_submit_adjudication(t, "eve", task->slot, task->lease_id, v->final_label, said, v->note, 1200) == 0);
    tally_free(task);
    usleep(20000); /* distinct closing times: a well-defined newest first */
  }
}

/* Checks a listing against the verdicts: exactly the items in `expect`
 * (c-N numbers), newest verdict first. */
static void check_list(const tally_case_list_t *list, const int *expect, size_t n) {
  CHECK_EQ_U64(list->count, n);
  CHECK_EQ_U64(list->workers_failed, 0);
  for (size_t i = 0; i < list->count && i < n; i++) {
    const tally_case_t *k = &list->cases[i];
    char id[16];
    snprintf(id, sizeof id, "c-%d", expect[i]);
    CHECK(strcmp(k->item_id, id) == 0);
    const verdict_t *v = &verdicts[expect[i]];
    CHECK(strcmp(k->project, "cases") == 0);
    CHECK(strcmp(k->market, expect[i] % 2 ? "ja" : "es") == 0);
    CHECK(v->final_label && strcmp(k->final_label, v->final_label) == 0);
    CHECK(k->attribution == v->attribution);
    CHECK(strcmp(k->note, v->note) == 0);
    CHECK(strcmp(k->lead, "eve") == 0);
    CHECK(strcmp(k->label_a, v->a) == 0 && strcmp(k->label_b, v->b) == 0);
    if (i > 0) CHECK(list->cases[i - 1].closed_ms >= k->closed_ms);
  }
}

/* The c-N numbers of adjudicated items matching a filter, newest first. */
static size_t expected(int *expect, const char *category, const char *market) {
  size_t n = 0;
  for (uint64_t order = 4; order >= 1; order--)
    for (int i = 0; i < 4; i++)
      if (verdicts[i].order == order && (!category || strcmp(verdicts[i].final_label, category) == 0) &&
          (!market || strcmp(i % 2 ? "ja" : "es", market) == 0))
        expect[n++] = i;
  return n;
}

static void test_cases(void) {
  tally_t *t = client();
  create_project(t, "cases");
  add_person(t, "carl", TALLY_ROLE_LABELER, markets, 2);
  add_person(t, "dora", TALLY_ROLE_AUDITOR, markets, 2);
  add_person(t, "eve", TALLY_ROLE_LEAD, markets, 2);
  tally_item_t items[CASE_ITEMS];
  char ids[CASE_ITEMS][16], contents[CASE_ITEMS][32];
  for (int i = 0; i < CASE_ITEMS; i++) {
    snprintf(ids[i], sizeof ids[i], "c-%d", i);
    snprintf(contents[i], sizeof contents[i], "content of c-%d", i);
    items[i] = (tally_item_t){ids[i], markets[i % 2], TALLY_PRIORITY_NORMAL, contents[i], NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "cases", items, CASE_ITEMS, &res) == 0);
  tally_free(res);
  run_reviews(t);

  int expect[8];
  tally_case_list_t *list = NULL;
  tally_cases_query_t all = {0};
  CHECK(tally_cases_list(t, "cases", &all, &list) == 0);
  if (list) check_list(list, expect, expected(expect, NULL, NULL));
  tally_free(list);

  tally_cases_query_t spam = {.category = "spam"};
  CHECK(tally_cases_list(t, "cases", &spam, &list) == 0);
  if (list) check_list(list, expect, expected(expect, "spam", NULL));
  tally_free(list);

  tally_cases_query_t ja = {.market = "ja"};
  CHECK(tally_cases_list(t, "cases", &ja, &list) == 0);
  if (list) check_list(list, expect, expected(expect, NULL, "ja"));
  tally_free(list);

  tally_cases_query_t two = {.limit = 2};
  CHECK(tally_cases_list(t, "cases", &two, &list) == 0);
  if (list) check_list(list, expect, 2 < expected(expect, NULL, NULL) ? 2 : 0);
  tally_free(list);

  uint32_t today = (uint32_t)(time(NULL) / 86400);
  tally_cases_query_t tomorrow = {.since_day = today + 1};
  CHECK(tally_cases_list(t, "cases", &tomorrow, &list) == 0);
  if (list) CHECK_EQ_U64(list->count, 0);
  tally_free(list);
  tally_cases_query_t since_today = {.since_day = today};
  CHECK(tally_cases_list(t, "cases", &since_today, &list) == 0);
  if (list) CHECK_EQ_U64(list->count, 4);
  tally_free(list);

  /* The allocation project had no adjudications: no cases. */
  CHECK(tally_cases_list(t, "alloc", &all, &list) == 0);
  if (list) CHECK_EQ_U64(list->count, 0);
  tally_free(list);
  CHECK(tally_cases_list(t, "nope", &all, &list) == TALLY_E_UNKNOWN_PROJECT);

  /* One case with its content; agreed and unknown items have none. */
  tally_case_t *k = NULL;
  CHECK(tally_case_get(t, "cases", "c-3", &k) == 0);
  if (k) {
    CHECK(strcmp(k->content, "content of c-3") == 0);
    CHECK(strcmp(k->final_label, "hate") == 0);
    CHECK(k->attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR);
    CHECK(strcmp(k->note, "note for c-3") == 0);
    CHECK(strcmp(k->label_a, verdicts[3].a) == 0 && strcmp(k->label_b, verdicts[3].b) == 0);
    CHECK(k->closed_ms > 0);
  }
  tally_free(k);
  k = NULL;
  CHECK(tally_case_get(t, "cases", "c-5", &k) == TALLY_E_NOT_FOUND);
  CHECK(tally_case_get(t, "cases", "missing", &k) == TALLY_E_NOT_FOUND);
  tally_close(&t);

  /* The CLI. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list --project cases") == 0);
  CHECK(strstr(out, "note for c-0") && strstr(out, "note for c-3") && !strstr(out, "c-4"));
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list --project cases --format json --market es") == 0);
  CHECK(strstr(out, "\"c-0\"") && strstr(out, "\"c-2\"") && !strstr(out, "\"c-1\""));
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list --project cases --format csv --category hate") == 0);
  CHECK(strstr(out, "closed_ms,item_id") == out && strstr(out, "c-3") && !strstr(out, "c-0"));
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list --project cases --since 2999-01-01") == 0);
  CHECK(strstr(out, "no cases") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list --project cases --since yesterday") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases show cases c-1") == 0);
  CHECK(strstr(out, "content of c-1") && strstr(out, "note for c-1") && strstr(out, "auditor"));
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases show cases c-1 --format json") == 0);
  CHECK(strstr(out, "\"content\"") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases show cases c-6") == 1);
  CHECK(strstr(out, "NOT_FOUND") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases --help") == 0);
  CHECK(strstr(out, "show") != NULL);
}

int main(void) {
  harness_init(150);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  test_allocation();
  test_cases();
  cluster_stop(&cluster);
  return check_summary();
}
