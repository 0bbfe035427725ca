/* The exposure budget on a cluster of three workers that each hold a third
 * of the slots: every worker enforces its share of the budget, so one
 * person, leasing from many processes at once, gets exactly `budget` known
 * high-severity items per shift from the whole cluster, never more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"

#define WORKERS 3
#define BUDGET 5
#define HIGH_ITEMS 60
#define PROCESSES 12

static cluster_t cluster;

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) exit(1);
  return t;
}

/* Leases as "eve" until nothing comes; writes how many high-severity leases
 * it got to `out`. */
static void leaser(int out) {
  tally_t *t = client();
  int high = 0;
  for (int empty = 0; empty < 3;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, "eve", "care", TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(50000);
      continue;
    }
    high += strncmp(task->item_id, "hi-", 3) == 0;
    tally_submit(t, "eve", task->slot, task->lease_id, "ok", 100);
    tally_free(task);
  }
  char line[32];
  int n = snprintf(line, sizeof line, "%d\n", high);
  if (write(out, line, (size_t)n) != n) _exit(2);
  tally_close(&t);
  _exit(0);
}

int main(void) {
  harness_init(200);
  if (cluster_start(&cluster, WORKERS) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = client();
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t, &map) == 0);
  int owning = 0;
  for (size_t i = 0; map && i < map->worker_count; i++) owning += map->workers[i].slots_owned > 0;
  CHECK_EQ_U64(owning, WORKERS); /* the slots are spread over all three */
  tally_free(map);
  const char *labels[] = {"ok", "violence"}, *markets[] = {"es"}, *high[] = {"violence"};
  tally_project_t spec = {0};
  spec.name = "care";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  spec.lease_seconds = 60;
  spec.high_severity = high;
  spec.high_severity_count = 1;
  spec.exposure_budget = BUDGET;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  tally_labeler_t eve = {"eve", TALLY_ROLE_LABELER, markets, 1, NULL};
  CHECK(tally_labeler_add(t, &eve, NULL) == 0);
  tally_item_t items[HIGH_ITEMS * 2];
  char ids[HIGH_ITEMS * 2][16];
  for (int i = 0; i < HIGH_ITEMS * 2; i++) {
    int is_high = i < HIGH_ITEMS;
    snprintf(ids[i], sizeof ids[i], "%s-%d", is_high ? "hi" : "ok", i);
    memset(&items[i], 0, sizeof items[i]);
    items[i].id = ids[i];
    items[i].market = "es";
    items[i].priority = is_high ? TALLY_PRIORITY_HIGH : TALLY_PRIORITY_NORMAL;
    items[i].content = "{}";
    items[i].category_hint = is_high ? "violence" : NULL;
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "care", items, HIGH_ITEMS * 2, &res) == 0 && res &&
        res->accepted == HIGH_ITEMS * 2);
  tally_free(res);
  tally_close(&t);

  int p[2];
  CHECK(pipe(p) == 0);
  pid_t kids[PROCESSES];
  for (int i = 0; i < PROCESSES; i++)
    if ((kids[i] = fork()) == 0) {
      close(p[0]);
      leaser(p[1]);
    }
  close(p[1]);
  FILE *in = fdopen(p[0], "r");
  int got = 0, n;
  while (fscanf(in, "%d", &n) == 1) got += n;
  fclose(in);
  for (int i = 0; i < PROCESSES; i++) waitpid(kids[i], NULL, 0);
  /* The shares (2, 2, 1) add up to the budget; each worker has 20 known
   * high-severity items, so every share is used up. */
  CHECK_EQ_U64(got, BUDGET);
  t = client();
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "care", &st) == 0);
  if (st) CHECK_EQ_U64(st->total.labels, HIGH_ITEMS + BUDGET); /* all ordinary work was done */
  tally_free(st);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
