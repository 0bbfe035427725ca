/* The emergency lane across markets and workers, end to end with the real
 * daemons (README, "Which worker a lease asks").
 *
 * Three workers, markets es, ja and ko. Normal items of every market on
 * every worker; emergency items placed by slot: es on workers 0 and 2, ja
 * on worker 1, ko on worker 2. So every worker hints an emergency, most of
 * them of a market a given person does not have. Once the backlog hints
 * carry every emergency item, people of different markets (one of them in
 * two) lease and submit in turn, quickly, so hints go stale under them:
 * every lease of a person must bring an emergency item while one of their
 * markets still has one waiting anywhere, and an item of their markets
 * always. Before, the client ranked workers by the top priority of all
 * markets, and an es labeler sent to the ja emergency's worker got a
 * normal es item there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "slot.h"
#include "tally.h"

#define WORKERS 3
#define NORMAL_EACH 20 /* normal items per market */

static cluster_t cluster;
static tally_map_t *map;

static const char *market_names[] = {"es", "ja", "ko"};
#define MARKETS 3

/* Writes to id the first "<prefix>-N" (N >= *next) on the worker at map
 * index `w`. */
static void id_on(size_t w, const char *prefix, int *next, char *id, size_t size) {
  for (;; (*next)++) {
    snprintf(id, size, "%s-%d", prefix, *next);
    if (map->slot_owner[slot_of_item("lane", id, strlen(id))] == map->workers[w].id) break;
  }
  (*next)++;
}

/* Waits (up to 15 s) until the map shows, for each emergency placement,
 * an EMERGENCY label hint of that market on that worker. */
static int wait_hints(tally_t *t, const size_t *workers, const int *markets, size_t n) {
  for (int i = 0; i < 150; i++) {
    tally_map_t *m = NULL;
    size_t seen = 0;
    if (tally_cluster_map(t, &m) == 0)
      for (size_t e = 0; e < n; e++) {
        int found = 0;
        for (size_t w = 0; w < m->worker_count; w++)
          for (size_t h = 0; m->workers[w].id == map->workers[workers[e]].id && h < m->workers[w].backlog_count; h++) {
            const tally_backlog_t *b = &m->workers[w].backlog[h];
            found |= b->stage == TALLY_STAGE_LABEL && strcmp(b->market, market_names[markets[e]]) == 0 &&
                     b->top_priority == TALLY_PRIORITY_EMERGENCY;
          }
        seen += found;
      }
    tally_free(m);
    if (seen == n) return 0;
    usleep(100 * 1000);
  }
  return -1;
}

typedef struct {
  const char *id;
  int markets[MARKETS]; /* 1 = qualified */
} person_t;

int main(void) {
  harness_init(180);
  if (cluster_start(&cluster, WORKERS) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 3000) != 0) return 1;
  int spread = 0;
  for (int attempt = 0; attempt < 100 && !spread; attempt++) {
    tally_free(map);
    map = NULL;
    if (attempt > 0) usleep(100 * 1000);
    if (tally_cluster_map(t, &map) != 0 || map->worker_count != WORKERS || map->unassigned_slots != 0) continue;
    spread = 1;
    for (size_t w = 0; w < WORKERS; w++) spread &= map->workers[w].state == TALLY_WORKER_UP && map->workers[w].slots_owned > 0;
  }
  CHECK(spread);
  if (!spread) {
    cluster_stop(&cluster);
    return check_summary();
  }

  const char *labels[] = {"ok", "spam"};
  tally_project_t spec = {0};
  spec.name = "lane";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = market_names;
  spec.market_count = MARKETS;
  spec.overlap = 1;
  spec.lease_seconds = 60;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  static const person_t people[] = {
      {"es1", {1, 0, 0}}, {"ja1", {0, 1, 0}}, {"ko1", {0, 0, 1}}, {"esja", {1, 1, 0}}, {"es2", {1, 0, 0}}};
  const size_t n_people = sizeof people / sizeof people[0];
  for (size_t p = 0; p < n_people; p++) {
    const char *mine[MARKETS];
    size_t n = 0;
    for (int m = 0; m < MARKETS; m++)
      if (people[p].markets[m]) mine[n++] = market_names[m];
    tally_labeler_t l = {people[p].id, TALLY_ROLE_LABELER, mine, n, NULL};
    CHECK(tally_labeler_add(t, &l, NULL) == 0);
  }

  /* Normal items of every market (spread by their ids), emergencies placed. */
  static const size_t em_worker[] = {0, 0, 2, 1, 1, 2, 2};
  static const int em_market[] = {0, 0, 0, 1, 1, 2, 2};
  const size_t n_em = sizeof em_worker / sizeof em_worker[0];
  static char normal_ids[MARKETS * NORMAL_EACH][16], em_ids[16][16];
  tally_item_t items[MARKETS * NORMAL_EACH + 16];
  size_t n_items = 0;
  for (int m = 0; m < MARKETS; m++)
    for (int i = 0; i < NORMAL_EACH; i++) {
      snprintf(normal_ids[n_items], sizeof normal_ids[0], "n-%s-%d", market_names[m], i);
      items[n_items] = (tally_item_t){normal_ids[n_items], market_names[m], TALLY_PRIORITY_NORMAL, "{}", NULL, NULL};
      n_items++;
    }
  int next = 0;
  int waiting[MARKETS] = {0};
  for (size_t e = 0; e < n_em; e++) {
    id_on(em_worker[e], "e", &next, em_ids[e], sizeof em_ids[e]);
    items[n_items++] = (tally_item_t){em_ids[e], market_names[em_market[e]], TALLY_PRIORITY_EMERGENCY, "{}", NULL, NULL};
    waiting[em_market[e]]++;
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "lane", items, n_items, &res) == 0 && res && res->accepted == n_items);
  tally_free(res);
  CHECK(wait_hints(t, em_worker, em_market, n_em) == 0);
  usleep(1100 * 1000); /* the lease handle's map is over a second old: it fetches the hints */

  /* People in turn; each lease submitted at once. */
  int leases = 0, emergency_due = 0, emergency_got = 0, wrong_market = 0;
  for (int round = 0; round < 4; round++)
    for (size_t p = 0; p < n_people; p++) {
      const person_t *who = &people[p];
      int due = 0;
      for (int m = 0; m < MARKETS; m++) due |= who->markets[m] && waiting[m] > 0;
      tally_task_t *task = NULL;
      CHECK(tally_lease(t, who->id, "lane", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
      if (task == NULL) continue;
      leases++;
      int m = 0;
      while (m < MARKETS && strcmp(task->market, market_names[m]) != 0) m++;
      wrong_market += m == MARKETS || !who->markets[m];
      int urgent = task->priority == TALLY_PRIORITY_EMERGENCY;
      if (urgent && m < MARKETS) waiting[m]--;
      emergency_due += due;
      emergency_got += due && urgent;
      if (due && !urgent)
        fprintf(stderr, "  %s got %s (%s, priority %u) while an emergency of theirs waited\n", who->id, task->item_id,
                task->market, task->priority);
      CHECK(tally_submit(t, who->id, task->slot, task->lease_id, "ok", 500) == 0);
      tally_free(task);
    }
  fprintf(stderr, "  %d leases, %d while an emergency waited for the person, %d of them emergencies\n", leases,
          emergency_due, emergency_got);
  CHECK_EQ_U64(leases, 4 * n_people);
  CHECK_EQ_U64(wrong_market, 0);
  CHECK(emergency_due >= (int)n_em); /* the test saw every emergency item due */
  CHECK_EQ_U64(emergency_got, emergency_due);
  for (int m = 0; m < MARKETS; m++) CHECK_EQ_U64(waiting[m], 0);

  tally_free(map);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
