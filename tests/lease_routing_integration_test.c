/* Leasing across the cluster, end to end with the real daemons: three
 * workers, each owning a third of the slots.
 *
 * Project "route" has markets es (A) and ja (B). Normal-priority es items
 * are spread over every worker; a few ja items sit on one worker only (their
 * ids are chosen by slot). bea is qualified for ja only:
 *   1. each of her leases (with a 10 s wait) brings a ja item long before the
 *      wait ends: the client finds the worker that has work for her instead
 *      of holding the long-poll on workers that have none;
 *   2. an EMERGENCY ja item on another worker than the normal ja item is
 *      leased first, once the backlog hints carry it;
 *   3. after kill -9 of the worker holding the first ja items, their lookups
 *      fail with UNAVAILABLE naming the slot and the worker (also through
 *      the CLI, which exits 1; `cluster status` counts the slots as
 *      unavailable), while leases and submits on the other workers go on;
 *      restarted, the worker serves its items again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "harness.h"
#include "slot.h"
#include "tally.h"

#define WORKERS 3
#define A_ITEMS 300
#define B_ITEMS 5
#define WAIT_MS 10000
#define PROMPT_MS 2000 /* generous: a lease that finds work returns in milliseconds */

static cluster_t cluster;
static tally_map_t *map; /* as of the start */

/* Harness index of the worker with map id `id`, or -1. */
static int harness_index(uint32_t id) {
  for (size_t w = 0; w < map->worker_count; w++) {
    if (map->workers[w].id != id) continue;
    for (int i = 0; i < WORKERS; i++)
      if (strcmp(map->workers[w].endpoint, cluster.worker_endpoints[i]) == 0) return i;
  }
  return -1;
}

/* Writes to id the first "<prefix>-N" (N >= *next) whose slot worker `owner` owns. */
static void id_on(uint32_t owner, const char *prefix, int *next, char *id, size_t size) {
  for (;; (*next)++) {
    snprintf(id, size, "%s-%d", prefix, *next);
    if (map->slot_owner[slot_of_item("route", id, strlen(id))] == owner) break;
  }
  (*next)++;
}

static int ingest_one(tally_t *t, const char *id, const char *market, uint32_t priority) {
  tally_item_t item = {id, market, priority, "{}", NULL, NULL};
  tally_ingest_result_t *res = NULL;
  int rc = tally_ingest(t, "route", &item, 1, &res);
  int ok = rc == 0 && res && res->accepted == 1;
  tally_free(res);
  return ok ? 0 : -1;
}

/* Leases as `who` with a wait and submits "ok". Returns the task's item id
 * (static buffer; "" when none) and the time the lease took in *took. */
static const char *lease_submit(tally_t *t, const char *who, int wait_ms, uint64_t *took, const char **market) {
  static char id[64], mkt[16];
  id[0] = mkt[0] = '\0';
  tally_task_t *task = NULL;
  uint64_t start = clock_monotonic_ms();
  int rc = tally_lease(t, who, "route", TALLY_STAGE_LABEL, wait_ms, &task);
  *took = clock_monotonic_ms() - start;
  if (rc != 0) fprintf(stderr, "  lease as %s: %s\n", who, tally_last_error(t));
  if (rc != 0 || task == NULL) return id;
  snprintf(id, sizeof id, "%s", task->item_id);
  snprintf(mkt, sizeof mkt, "%s", task->market);
  CHECK(tally_submit(t, who, task->slot, task->lease_id, "ok", 100) == 0);
  tally_free(task);
  if (market) *market = mkt;
  return id;
}

/* Waits (up to 20 s) until the map says worker `id` is in `state`. */
static int wait_state(tally_t *t, uint32_t id, tally_worker_state_t state) {
  for (int i = 0; i < 200; i++) {
    tally_map_t *m = NULL;
    int seen = 0;
    if (tally_cluster_map(t, &m) == 0)
      for (size_t w = 0; w < m->worker_count; w++) seen |= m->workers[w].id == id && m->workers[w].state == state;
    tally_free(m);
    if (seen) return 0;
    usleep(100 * 1000);
  }
  return -1;
}

/* Waits (up to 10 s) until the map carries a hint of worker `id` for ja
 * label work of `project_id` with top priority `priority`. */
static int wait_hint(tally_t *t, uint32_t id, uint32_t project_id, uint32_t priority) {
  for (int i = 0; i < 100; i++) {
    tally_map_t *m = NULL;
    int seen = 0;
    if (tally_cluster_map(t, &m) == 0)
      for (size_t w = 0; w < m->worker_count; w++)
        for (size_t h = 0; m->workers[w].id == id && h < m->workers[w].backlog_count; h++) {
          const tally_backlog_t *b = &m->workers[w].backlog[h];
          seen |= b->project_id == project_id && b->stage == TALLY_STAGE_LABEL && strcmp(b->market, "ja") == 0 &&
                  b->top_priority == priority;
        }
    tally_free(m);
    if (seen) return 0;
    usleep(100 * 1000);
  }
  return -1;
}

int main(void) {
  harness_init(240);
  if (cluster_start(&cluster, WORKERS) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL, *watch = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 2000) != 0 || tally_open(&watch, cluster.coordinator_endpoint, 2000) != 0)
    return 1;
  /* The slots are spread over the three workers (which ids land where is
   * read from this map). */
  int spread = 0;
  for (int attempt = 0; attempt < 100 && !spread; attempt++) {
    tally_free(map);
    map = NULL;
    if (attempt > 0) usleep(100 * 1000);
    if (tally_cluster_map(t, &map) != 0 || map->worker_count != WORKERS || map->unassigned_slots != 0) continue;
    spread = 1;
    for (size_t w = 0; w < WORKERS; w++)
      spread &= map->workers[w].state == TALLY_WORKER_UP && map->workers[w].slots_owned > 0 &&
                harness_index(map->workers[w].id) >= 0;
  }
  CHECK(spread);
  if (!spread) {
    for (size_t w = 0; map && w < map->worker_count; w++)
      fprintf(stderr, "  worker %u at %s owns %u slots\n", map->workers[w].id, map->workers[w].endpoint,
              map->workers[w].slots_owned);
    cluster_stop(&cluster);
    return check_summary();
  }
  uint32_t wb = map->workers[0].id, we = map->workers[1].id; /* ja items here; the emergency one there */

  const char *labels[] = {"ok", "spam"}, *markets[] = {"es", "ja"}, *ja[] = {"ja"}, *es[] = {"es"};
  tally_project_t spec = {0}, *project = NULL;
  spec.name = "route";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 60;
  CHECK(tally_project_create(t, &spec, &project) == 0 && project);
  uint32_t project_id = project ? project->id : 0;
  tally_free(project);
  tally_labeler_t bea = {"bea", TALLY_ROLE_LABELER, ja, 1, NULL}, al = {"al", TALLY_ROLE_LABELER, es, 1, NULL};
  CHECK(tally_labeler_add(t, &bea, NULL) == 0 && tally_labeler_add(t, &al, NULL) == 0);

  /* es items everywhere, ja items only on worker wb. */
  static char a_ids[A_ITEMS][16], b_ids[B_ITEMS][16];
  tally_item_t items[A_ITEMS + B_ITEMS];
  for (int i = 0; i < A_ITEMS; i++) {
    snprintf(a_ids[i], sizeof a_ids[i], "a-%d", i);
    items[i] = (tally_item_t){a_ids[i], "es", TALLY_PRIORITY_NORMAL, "{}", NULL, NULL};
  }
  int next = 0;
  for (int i = 0; i < B_ITEMS; i++) {
    id_on(wb, "b", &next, b_ids[i], sizeof b_ids[i]);
    items[A_ITEMS + i] = (tally_item_t){b_ids[i], "ja", TALLY_PRIORITY_NORMAL, "{}", NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "route", items, A_ITEMS + B_ITEMS, &res) == 0 && res && res->accepted == A_ITEMS + B_ITEMS);
  tally_free(res);

  /* 1. bea gets every ja item promptly, never an es one. */
  for (int i = 0; i < B_ITEMS; i++) {
    uint64_t took = 0;
    const char *market = "";
    const char *id = lease_submit(t, "bea", WAIT_MS, &took, &market);
    CHECK(strncmp(id, "b-", 2) == 0 && strcmp(market, "ja") == 0);
    CHECK(took < PROMPT_MS);
    if (took >= PROMPT_MS) fprintf(stderr, "  ja lease %d took %llu ms\n", i, (unsigned long long)took);
  }

  /* 2. A normal ja item on wb, an EMERGENCY one on we: once the hints say
   * so (and bea's map is over a second old, so her next lease fetches
   * them), the emergency one comes first. */
  char normal_id[16], urgent_id[16];
  int next_n = 0, next_e = 0;
  id_on(wb, "bn", &next_n, normal_id, sizeof normal_id);
  id_on(we, "e", &next_e, urgent_id, sizeof urgent_id);
  CHECK(ingest_one(t, normal_id, "ja", TALLY_PRIORITY_NORMAL) == 0);
  CHECK(ingest_one(t, urgent_id, "ja", TALLY_PRIORITY_EMERGENCY) == 0);
  CHECK(wait_hint(watch, we, project_id, TALLY_PRIORITY_EMERGENCY) == 0);
  CHECK(wait_hint(watch, wb, project_id, TALLY_PRIORITY_NORMAL) == 0);
  usleep(1100 * 1000);
  uint64_t took = 0;
  CHECK(strcmp(lease_submit(t, "bea", WAIT_MS, &took, NULL), urgent_id) == 0);
  CHECK(strcmp(lease_submit(t, "bea", WAIT_MS, &took, NULL), normal_id) == 0 && took < PROMPT_MS);

  /* 3. Two more ja items on we, then kill -9 wb. */
  char c_ids[2][16];
  for (int i = 0; i < 2; i++) {
    id_on(we, "c", &next_e, c_ids[i], sizeof c_ids[i]);
    CHECK(ingest_one(t, c_ids[i], "ja", TALLY_PRIORITY_NORMAL) == 0);
  }
  int victim = harness_index(wb);
  uint32_t victim_slots = map->workers[0].slots_owned;
  cluster_kill_worker(&cluster, victim, 9);
  CHECK(wait_state(t, wb, TALLY_WORKER_DOWN) == 0);
  uint32_t slot = slot_of_item("route", b_ids[0], strlen(b_ids[0]));
  char want[96];
  snprintf(want, sizeof want, "slot %u is owned by worker %u, which is down", slot, wb);
  tally_item_state_t *it = NULL;
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_item_get(t, "route", b_ids[0], &it) == TALLY_E_UNAVAILABLE && it == NULL);
  CHECK(clock_monotonic_ms() - start < 10000);
  CHECK(strstr(tally_last_error(t), want) != NULL && strstr(tally_last_error(t), "retry") != NULL);
  if (strstr(tally_last_error(t), want) == NULL) fprintf(stderr, "  item get: %s\n", tally_last_error(t));
  char out[8192];
  CHECK(cluster_cli(&cluster, out, sizeof out, "item show route %s", b_ids[0]) == 1);
  CHECK(strstr(out, want) != NULL && strstr(out, "(UNAVAILABLE)") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json cluster status") == 0);
  json_t *status = json_loads(out, 0, NULL);
  CHECK(status && json_integer_value(json_object_get(status, "unavailable_slots")) == victim_slots);
  CHECK(status && json_is_real(json_object_get(status, "skew")));
  json_decref(status);
  /* The other workers go on: bea's ja items and al's es items there. */
  for (int i = 0; i < 2; i++) {
    const char *id = lease_submit(t, "bea", WAIT_MS, &took, NULL);
    CHECK(strcmp(id, c_ids[0]) == 0 || strcmp(id, c_ids[1]) == 0);
  }
  for (int i = 0; i < 3; i++) {
    const char *market = "";
    const char *id = lease_submit(t, "al", WAIT_MS, &took, &market);
    CHECK(strncmp(id, "a-", 2) == 0 && strcmp(market, "es") == 0);
    CHECK(map->slot_owner[slot_of_item("route", id, strlen(id))] != wb);
  }

  /* Restarted, wb serves its items again (on a fresh port). */
  CHECK(cluster_start_worker(&cluster, victim) == 0);
  CHECK(wait_state(t, wb, TALLY_WORKER_UP) == 0);
  int back = 0;
  for (int i = 0; i < 100 && !back; i++) {
    it = NULL;
    back = tally_item_get(t, "route", b_ids[0], &it) == 0 && it && it->done && it->label_count == 1;
    tally_free(it);
    if (!back) usleep(100 * 1000);
  }
  CHECK(back);
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "route", &st) == 0 && st && st->workers_failed == 0);
  if (st) CHECK_EQ_U64(st->total.items, A_ITEMS + B_ITEMS + 4);
  tally_free(st);

  tally_free(map);
  tally_close(&watch);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
