/* Integration tests of the wellbeing exposure budget on the real daemons:
 *  - the budget is never exceeded under concurrency: 20 processes leasing
 *    as the same labeler get exactly `budget` high-severity items, then only
 *    ordinary work, then none; the same with several labelers; the exposure
 *    report shows the budget;
 *  - a discovery (a high-severity label on an unhinted item) counts, a lease
 *    counted at grant is not counted again at submit, and the counts and the
 *    "counted" mark of a live lease survive a SIGKILL of the worker; raising
 *    the budget lets the person go on;
 *  - auditors are counted and capped too (an item labeled high-severity is
 *    known to be so at the audit lease);
 *  - bad settings and bad category hints are refused;
 *  - the CLI: project create and wellbeing set/show flags, ingest of a
 *    "category_hint", report exposure as json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"

static cluster_t cluster;
static const char *labels[] = {"ok", "spam", "hate", "violence"};
static const char *high[] = {"violence", "hate"};

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) exit(1);
  return t;
}

static uint64_t shift_now(uint32_t hours) { return clock_now_ms() / (hours * 3600000ull); }

/* Creates a project with the wellbeing settings; returns tally's code. */
static int make_project(tally_t *t, const char *name, const char **high_labels, size_t n_high,
                        uint32_t budget, uint32_t shift_hours) {
  const char *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = name;
  spec.labels = labels;
  spec.label_count = 4;
  spec.markets = markets;
  spec.market_count = 1;
  spec.lease_seconds = 120;
  spec.high_severity = high_labels;
  spec.high_severity_count = n_high;
  spec.exposure_budget = budget;
  spec.shift_hours = shift_hours;
  tally_project_t *out = NULL;
  int rc = tally_project_create(t, &spec, &out);
  if (rc == 0) {
    CHECK(out->high_severity_count == n_high && out->exposure_budget == budget);
    CHECK(out->shift_hours == (shift_hours ? shift_hours : 8));
  }
  tally_free(out);
  return rc;
}

static void make_person(tally_t *t, const char *id) {
  const char *markets[] = {"es"};
  tally_labeler_t spec = {id, TALLY_ROLE_LABELER, markets, 1, NULL};
  tally_labeler_t *out = NULL;
  CHECK(tally_labeler_add(t, &spec, &out) == 0);
  tally_free(out);
}

/* Ingests `n` items "<prefix>-i" with the hint `hint` (NULL: none). */
static void ingest(tally_t *t, const char *project, const char *prefix, int n, const char *hint) {
  tally_item_t *items = calloc((size_t)n, sizeof *items);
  char (*ids)[32] = calloc((size_t)n, sizeof *ids);
  for (int i = 0; i < n; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%03d", prefix, i);
    items[i] = (tally_item_t){ids[i], "es", 1, "content", NULL, hint};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, project, items, (size_t)n, &res) == 0 && res->accepted == (uint32_t)n);
  tally_free(res);
  free(items);
  free(ids);
}

/* Exposure of `labeler` in the current shift (8 h), summed over workers. */
static uint64_t exposure_of(tally_t *t, const char *project, const char *labeler) {
  uint64_t shift = shift_now(8);
  tally_exposure_t *ex = NULL;
  if (tally_exposure(t, project, shift, shift, &ex) != 0) {
    fprintf(stderr, "exposure of %s in %s: %s\n", labeler, project, tally_last_error(t));
    return UINT64_MAX;
  }
  uint64_t count = 0;
  for (size_t i = 0; i < ex->count; i++)
    if (strcmp(ex->rows[i].labeler, labeler) == 0) count += ex->rows[i].count;
  tally_free(ex);
  return count;
}

/* A child: leases as `labeler` until there is nothing, submitting a label
 * each time (the hint's label on hinted items, "spam" on the others), and
 * writes how many high-severity and ordinary items it got to `fd`. */
static void leaser(const char *labeler, const char *project, int fd) {
  tally_t *t = client();
  int counts[2] = {0, 0}, errors = 0;
  for (;;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, labeler, project, TALLY_STAGE_LABEL, 0, &task) != 0) {
      if (++errors > 20) break;
      continue;
    }
    if (task == NULL) break;
    int is_high = task->item_id[0] == 'h';
    counts[is_high ? 0 : 1]++;
    if (tally_submit(t, labeler, task->slot, task->lease_id, is_high ? "violence" : "spam", 10) != 0)
      errors++;
    tally_free(task);
  }
  if (write(fd, counts, sizeof counts) != (ssize_t)sizeof counts) _exit(2);
  tally_close(&t);
  _exit(errors > 20 ? 1 : 0);
}

#define PROCESSES 20
#define HINTED 40
#define ORDINARY 40
#define BUDGET 5

/* PROCESSES processes lease as the `n_people` labelers people[]. */
static void run_concurrent(const char *project, const char **people, int n_people) {
  tally_t *t = client();
  CHECK(make_project(t, project, high, 2, BUDGET, 8) == 0);
  for (int i = 0; i < n_people; i++) make_person(t, people[i]);
  ingest(t, project, "h", HINTED, "violence");
  ingest(t, project, "o", ORDINARY, NULL);
  int fds[PROCESSES][2];
  pid_t kids[PROCESSES];
  for (int i = 0; i < PROCESSES; i++) {
    CHECK(pipe(fds[i]) == 0);
    if ((kids[i] = fork()) == 0) leaser(people[i % n_people], project, fds[i][1]);
    close(fds[i][1]);
  }
  int high_of[8] = {0}, ordinary = 0;
  for (int i = 0; i < PROCESSES; i++) {
    int counts[2] = {0, 0}, status = 0;
    CHECK(read(fds[i][0], counts, sizeof counts) == (ssize_t)sizeof counts);
    close(fds[i][0]);
    waitpid(kids[i], &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    high_of[i % n_people] += counts[0];
    ordinary += counts[1];
  }
  CHECK_EQ_U64(ordinary, ORDINARY);
  for (int p = 0; p < n_people; p++) {
    CHECK_EQ_U64(high_of[p], BUDGET);
    tally_task_t *task = NULL;
    CHECK(tally_lease(t, people[p], project, TALLY_STAGE_LABEL, 0, &task) == 0 && task == NULL);
    tally_free(task);
    CHECK_EQ_U64(exposure_of(t, project, people[p]), BUDGET);
  }
  tally_close(&t);
}

static void test_same_labeler(void) {
  const char *people[] = {"solo"};
  run_concurrent("wb-solo", people, 1);
}

static void test_several_labelers(void) {
  const char *people[] = {"p0", "p1", "p2", "p3"};
  run_concurrent("wb-crowd", people, 4);
}

/* Leases one task as `who`; returns it (NULL when none). */
static tally_task_t *lease_one(tally_t *t, const char *who, const char *project) {
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, who, project, TALLY_STAGE_LABEL, 0, &task) == 0);
  return task;
}

static void test_discovery_and_restart(void) {
  tally_t *t = client();
  const char *violence[] = {"violence"};
  CHECK(make_project(t, "wb-disc", violence, 1, 3, 0) == 0);
  make_person(t, "d");
  ingest(t, "wb-disc", "u", 1, NULL); /* unhinted: discovered at submit */
  tally_task_t *task = lease_one(t, "d", "wb-disc");
  CHECK(task != NULL);
  if (task) CHECK(tally_submit(t, "d", task->slot, task->lease_id, "violence", 10) == 0);
  tally_free(task);
  CHECK_EQ_U64(exposure_of(t, "wb-disc", "d"), 1);

  ingest(t, "wb-disc", "h", 2, "violence");
  task = lease_one(t, "d", "wb-disc"); /* counted at grant */
  CHECK(task != NULL);
  if (task) CHECK(tally_submit(t, "d", task->slot, task->lease_id, "violence", 10) == 0);
  tally_free(task);
  CHECK_EQ_U64(exposure_of(t, "wb-disc", "d"), 2);
  task = lease_one(t, "d", "wb-disc"); /* counted; held over the restart */
  CHECK(task != NULL);
  CHECK_EQ_U64(exposure_of(t, "wb-disc", "d"), 3);

  cluster_kill_worker(&cluster, 0, SIGKILL);
  CHECK(cluster_start_worker(&cluster, 0) == 0);
  CHECK_EQ_U64(exposure_of(t, "wb-disc", "d"), 3);
  if (task) CHECK(tally_submit(t, "d", task->slot, task->lease_id, "violence", 10) == 0);
  tally_free(task);
  CHECK_EQ_U64(exposure_of(t, "wb-disc", "d"), 3); /* not counted twice */

  ingest(t, "wb-disc", "x", 1, "violence");
  task = lease_one(t, "d", "wb-disc"); /* 3 of 3: nothing */
  CHECK(task == NULL);
  tally_free(task);
  tally_project_t *p = NULL;
  CHECK(tally_wellbeing_set(t, "wb-disc", violence, 1, 4, 8, &p) == 0);
  if (p) CHECK(p->exposure_budget == 4 && p->shift_hours == 8);
  tally_free(p);
  task = lease_one(t, "d", "wb-disc");
  CHECK(task != NULL && strcmp(task->item_id, "x-000") == 0);
  tally_free(task);
  CHECK_EQ_U64(exposure_of(t, "wb-disc", "d"), 4);
  tally_close(&t);
}

/* Auditors see content too: an item a labeler called high-severity counts
 * for the auditor at the audit lease, and an auditor at the budget gets no
 * more such audits. */
static void test_audit_stage(void) {
  tally_t *t = client();
  const char *markets[] = {"es"};
  const char *violence[] = {"violence"};
  tally_project_t spec = {0};
  spec.name = "wb-audit";
  spec.labels = labels;
  spec.label_count = 4;
  spec.markets = markets;
  spec.market_count = 1;
  spec.audit_rate = 1.0;
  spec.high_severity = violence;
  spec.high_severity_count = 1;
  spec.exposure_budget = 1;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  make_person(t, "al");
  tally_labeler_t auditor = {"aa", TALLY_ROLE_AUDITOR, markets, 1, NULL};
  CHECK(tally_labeler_add(t, &auditor, NULL) == 0);
  ingest(t, "wb-audit", "u", 2, NULL);
  for (int i = 0; i < 2; i++) { /* unhinted, so never blocked; discoveries go past the budget */
    tally_task_t *task = lease_one(t, "al", "wb-audit");
    CHECK(task != NULL);
    if (task) CHECK(tally_submit(t, "al", task->slot, task->lease_id, "violence", 10) == 0);
    tally_free(task);
  }
  CHECK_EQ_U64(exposure_of(t, "wb-audit", "al"), 2);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "aa", "wb-audit", TALLY_STAGE_AUDIT, 0, &task) == 0 && task != NULL);
  if (task) CHECK(tally_submit(t, "aa", task->slot, task->lease_id, "violence", 10) == 0);
  tally_free(task);
  CHECK_EQ_U64(exposure_of(t, "wb-audit", "aa"), 1);
  task = NULL;
  CHECK(tally_lease(t, "aa", "wb-audit", TALLY_STAGE_AUDIT, 0, &task) == 0 && task == NULL);
  tally_free(task);
  tally_close(&t);
}

static void test_validation(void) {
  tally_t *t = client();
  const char *unknown[] = {"gore"};
  const char *twice[] = {"hate", "hate"};
  CHECK(make_project(t, "wb-bad1", unknown, 1, 5, 8) == TALLY_E_LABEL_NOT_IN_TAXONOMY);
  CHECK(make_project(t, "wb-bad2", twice, 2, 5, 8) == TALLY_E_INVALID_ARGUMENT);
  CHECK(make_project(t, "wb-bad3", high, 2, 100001, 8) == TALLY_E_INVALID_ARGUMENT);
  CHECK(make_project(t, "wb-bad4", high, 2, 5, 25) == TALLY_E_INVALID_ARGUMENT);
  CHECK(make_project(t, "wb-bad5", high, 2, 5, 5) == TALLY_E_INVALID_ARGUMENT);
  CHECK(make_project(t, "wb-ok", high, 2, 100000, 24) == 0);
  CHECK(make_project(t, "wb-nolimit", NULL, 0, 0, 0) == 0);
  CHECK(tally_wellbeing_set(t, "no-such-project", high, 2, 5, 8, NULL) ==
        TALLY_E_UNKNOWN_PROJECT);
  CHECK(tally_wellbeing_set(t, "wb-ok", unknown, 1, 5, 8, NULL) == TALLY_E_LABEL_NOT_IN_TAXONOMY);
  CHECK(tally_wellbeing_set(t, "wb-ok", high, 2, 5, 7, NULL) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_wellbeing_set(t, "wb-ok", high, 2, 200000, 8, NULL) == TALLY_E_INVALID_ARGUMENT);
  tally_project_t *p = NULL;
  CHECK(tally_project_show(t, "wb-ok", &p) == 0);
  if (p) CHECK(p->exposure_budget == 100000 && p->shift_hours == 24 && p->high_severity_count == 2);
  tally_free(p);
  /* A category hint must be a taxonomy label. */
  tally_item_t items[2] = {{"i-1", "es", 1, "c", NULL, "gore"}, {"i-2", "es", 1, "c", NULL, "hate"}};
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "wb-ok", items, 2, &res) == 0);
  if (res) {
    CHECK(res->accepted == 1 && res->rejected == 1);
    CHECK(res->items[0].code == TALLY_E_LABEL_NOT_IN_TAXONOMY && res->items[1].code == 0);
  }
  tally_free(res);
  tally_exposure_t *ex = NULL;
  CHECK(tally_exposure(t, "no-such-project", 0, 1, &ex) == TALLY_E_UNKNOWN_PROJECT && ex == NULL);
  CHECK(tally_exposure(t, "wb-ok", 2, 1, &ex) == TALLY_E_INVALID_ARGUMENT);
  tally_close(&t);
}

static void test_cli(void) {
  static char out[16384];
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "project create wb-cli --labels ok,hate,violence --markets es "
                    "--high-severity violence --exposure-budget 1 --shift-hours 12") == 0);
  CHECK(strstr(out, "violence") != NULL && strstr(out, "1 per person per 12 h shift") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "project create wb-cli2 --labels ok --markets es "
                                               "--shift-hours 5") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "wellbeing set --project wb-cli") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "wellbeing set --project wb-cli --high-severity gore") == 1);
  CHECK(strstr(out, "LABEL_NOT_IN_TAXONOMY") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "wellbeing set --project wb-cli --high-severity hate,violence") == 0);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json wellbeing show --project wb-cli") == 0);
  CHECK(strstr(out, "\"hate\"") != NULL && strstr(out, "\"exposure_budget\": 1") != NULL &&
        strstr(out, "\"shift_hours\": 12") != NULL);
  tally_t *t = client();
  make_person(t, "cli-person");
  tally_close(&t);
  char path[512];
  snprintf(path, sizeof path, "%s/wb-items.jsonl", cluster.dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs("{\"id\": \"a\", \"market\": \"es\", \"category_hint\": \"hate\"}\n"
        "{\"id\": \"b\", \"market\": \"es\", \"category_hint\": \"violence\"}\n",
        f);
  fclose(f);
  CHECK(cluster_cli(&cluster, out, sizeof out, "ingest wb-cli %s", path) == 0);
  CHECK(cluster_cli(&cluster, out, sizeof out, "lease --as cli-person --project wb-cli") == 0);
  CHECK(cluster_cli(&cluster, out, sizeof out, "lease --as cli-person --project wb-cli") == 3);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json report exposure --project wb-cli") == 0);
  CHECK(strstr(out, "\"labeler\": \"cli-person\"") != NULL && strstr(out, "\"exposed\": 1") != NULL &&
        strstr(out, "\"remaining\": 0") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report exposure --project wb-cli --day 2020-01-01") == 0);
  CHECK(strstr(out, "cli-person") == NULL);
}

int main(void) {
  harness_init(240);
  if (cluster_start(&cluster, 1) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  test_validation();
  test_same_labeler();
  test_several_labelers();
  test_discovery_and_restart();
  test_audit_stage();
  test_cli();
  cluster_stop(&cluster);
  return check_summary();
}
