/* Leases held in memory (issue 18, DESIGN.md "Leases"), against real
 * daemons:
 *
 *  1. kill -9 of a worker with 200 leases out: every held item is offered
 *     again at once (well before the leases' deadline); a submit of a lost
 *     lease is accepted when it is still valid and refused LEASE_LOST when
 *     the item was labeled or leased again meanwhile (overlap 1 counting
 *     live leases); no item ends with two labels, none is lost; the lease
 *     ids of the new incarnation are new; a repeated submit answers as the
 *     first did.
 *  2. A slot move (a worker drained) with live leases: the leases travel
 *     with their slots (the items are not offered to anyone else) and the
 *     submits after the move land, each item labeled once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"

#define HOLDERS 20
#define PER_HOLDER 10
#define HELD (HOLDERS * PER_HOLDER)
#define ITEMS 400

typedef struct {
  char item[32];
  char labeler[16];
  uint32_t slot;
  uint64_t lease_id;
} held_t;

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

static tally_t *client(const cluster_t *c) {
  tally_t *t = NULL;
  if (tally_open(&t, c->coordinator_endpoint, 3000) != 0) exit(1);
  return t;
}

static void make_project(tally_t *t, const char *name) {
  const char *labels[] = {"ok", "spam"}, *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = name;
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  spec.lease_seconds = 300; /* far beyond the test: nothing expires */
  spec.audit_rate = 0.0;
  tally_project_t *out = NULL;
  CHECK(tally_project_create(t, &spec, &out) == 0);
  tally_free(out);
}

static void make_labeler(tally_t *t, const char *id) {
  const char *markets[] = {"es"};
  tally_labeler_t spec = {id, TALLY_ROLE_LABELER, markets, 1, NULL};
  tally_labeler_t *out = NULL;
  CHECK(tally_labeler_add(t, &spec, &out) == 0);
  tally_free(out);
}

static void ingest(tally_t *t, const char *project, int count) {
  tally_item_t *items = calloc((size_t)count, sizeof *items);
  char (*ids)[32] = calloc((size_t)count, sizeof *ids);
  CHECK(items != NULL && ids != NULL);
  for (int i = 0; i < count; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%03d", project, i);
    items[i] = (tally_item_t){ids[i], "es", 0, "{}", NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, project, items, (size_t)count, &res) == 0);
  CHECK(res != NULL && res->accepted == (size_t)count);
  tally_free(res);
  free(items);
  free(ids);
}

/* Leases PER_HOLDER tasks for each of `holders` people into held[]. */
static int lease_all(tally_t *t, const char *project, const char *prefix, int holders,
                     held_t *held) {
  int n = 0;
  for (int h = 0; h < holders; h++)
    for (int k = 0; k < PER_HOLDER; k++) {
      held_t *x = &held[n];
      snprintf(x->labeler, sizeof x->labeler, "%s%02d", prefix, h);
      tally_task_t *task = NULL;
      if (tally_lease(t, x->labeler, project, TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) {
        tally_free(task);
        continue;
      }
      snprintf(x->item, sizeof x->item, "%s", task->item_id);
      x->slot = task->slot;
      x->lease_id = task->lease_id;
      tally_free(task);
      n++;
    }
  return n;
}

static tally_status_t *status(tally_t *t, const char *project) {
  tally_status_t *st = NULL;
  CHECK(tally_status(t, project, &st) == 0 && st != NULL);
  return st;
}

/* The labels of `item`: their count, and the labeler of the first. */
static size_t labels_of(tally_t *t, const char *project, const char *item, char *who,
                        size_t who_size) {
  tally_item_state_t *s = NULL;
  if (tally_item_get(t, project, item, &s) != 0 || s == NULL) return 0;
  size_t n = s->label_count;
  if (n > 0 && who) snprintf(who, who_size, "%s", s->labels[0].labeler);
  tally_free(s);
  return n;
}

static int in_list(char (*list)[32], int n, const char *item) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i], item) == 0) return 1;
  return 0;
}

static void test_kill_with_leases_out(void) {
  cluster_t cluster;
  memset(&cluster, 0, sizeof cluster);
  CHECK(cluster_start(&cluster, 1) == 0);
  tally_t *t = client(&cluster);
  make_project(t, "lm");
  for (int h = 0; h < HOLDERS; h++) {
    char id[16];
    snprintf(id, sizeof id, "l%02d", h);
    make_labeler(t, id);
  }
  make_labeler(t, "z");
  ingest(t, "lm", ITEMS);

  static held_t held[HELD];
  CHECK_EQ_U64(lease_all(t, "lm", "l", HOLDERS, held), HELD);
  tally_status_t *st = status(t, "lm");
  CHECK_EQ_U64(st->total.live_leases, HELD);
  CHECK_EQ_U64(st->total.queued, ITEMS - HELD);
  tally_free(st);

  cluster_kill_worker(&cluster, 0, SIGKILL);
  CHECK(cluster_start_worker(&cluster, 0) == 0);

  /* At once (the deadline is 300 s away): every held item is queued again. */
  st = status(t, "lm");
  CHECK_EQ_U64(st->total.live_leases, 0);
  CHECK_EQ_U64(st->total.queued, ITEMS);
  CHECK_EQ_U64(st->total.labels, 0);
  tally_free(st);

  /* Someone else takes 20 of them and labels them, and holds 10 more. */
  static char z_labeled[20][32], z_holds[10][32];
  tally_task_t *z_tasks[10] = {0};
  int new_id_reused = 0;
  for (int i = 0; i < 30; i++) {
    tally_task_t *task = NULL;
    CHECK(tally_lease(t, "z", "lm", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
    if (task == NULL) break;
    for (int k = 0; k < HELD; k++) new_id_reused += held[k].lease_id == task->lease_id;
    if (i < 20) {
      snprintf(z_labeled[i], sizeof z_labeled[i], "%s", task->item_id);
      CHECK(tally_submit(t, "z", task->slot, task->lease_id, "spam", 5) == 0);
      tally_free(task);
    } else {
      snprintf(z_holds[i - 20], sizeof z_holds[i - 20], "%s", task->item_id);
      z_tasks[i - 20] = task;
    }
  }
  CHECK_EQ_U64(new_id_reused, 0); /* the incarnation fences old ids */

  /* The lost leases' submits: accepted when still valid, else LEASE_LOST. */
  int accepted = 0, lost = 0, wrong = 0;
  int expect_ok[HELD];
  for (int k = 0; k < HELD; k++) {
    int taken = in_list(z_labeled, 20, held[k].item) || in_list(z_holds, 10, held[k].item);
    int rc = tally_submit(t, held[k].labeler, held[k].slot, held[k].lease_id, "ok", 7);
    expect_ok[k] = !taken;
    if (taken) {
      lost += rc == TALLY_E_LEASE_LOST;
      wrong += rc != TALLY_E_LEASE_LOST;
    } else {
      accepted += rc == 0;
      wrong += rc != 0;
    }
  }
  printf("lost-lease submits: %d accepted, %d refused LEASE_LOST, %d otherwise\n", accepted, lost,
         wrong);
  CHECK(lost > 0 && accepted > 0);
  CHECK_EQ_U64(wrong, 0);
  CHECK_EQ_U64(accepted + lost, HELD);

  /* A repeated submit answers as the first did. */
  int differs = 0;
  for (int k = 0; k < HELD; k++) {
    int rc = tally_submit(t, held[k].labeler, held[k].slot, held[k].lease_id, "ok", 7);
    differs += expect_ok[k] ? rc != 0 : rc != TALLY_E_LEASE_LOST;
  }
  CHECK_EQ_U64(differs, 0);

  /* z's live leases are untouched by the refused submits and land. */
  for (int i = 0; i < 10; i++) {
    if (z_tasks[i] == NULL) continue;
    CHECK(tally_submit(t, "z", z_tasks[i]->slot, z_tasks[i]->lease_id, "spam", 5) == 0);
    tally_free(z_tasks[i]);
  }

  /* Each held item has exactly one label, by whoever's submit was taken. */
  int doubled = 0, missing = 0, misattributed = 0;
  for (int k = 0; k < HELD; k++) {
    char who[64] = "";
    size_t n = labels_of(t, "lm", held[k].item, who, sizeof who);
    doubled += n > 1;
    missing += n == 0;
    misattributed += n == 1 && strcmp(who, expect_ok[k] ? held[k].labeler : "z") != 0;
  }
  CHECK_EQ_U64(doubled, 0);
  CHECK_EQ_U64(missing, 0);
  CHECK_EQ_U64(misattributed, 0);
  st = status(t, "lm");
  CHECK_EQ_U64(st->total.labels, HELD);
  CHECK_EQ_U64(st->total.queued, ITEMS - HELD);
  CHECK_EQ_U64(st->total.live_leases, 0);
  tally_free(st);
  tally_close(&t);
  cluster_stop(&cluster);
}

/* ------------------------------------------------------------ slot move */

static const tally_worker_info_t *find_worker(const tally_map_t *map, uint32_t id) {
  for (size_t i = 0; i < map->worker_count; i++)
    if (map->workers[i].id == id) return &map->workers[i];
  return NULL;
}

static int drained(tally_t *t, uint32_t id) {
  tally_map_t *map = NULL;
  int done = 0;
  if (tally_cluster_map(t, &map) == 0) {
    const tally_worker_info_t *w = find_worker(map, id);
    done = w != NULL && w->slots_owned == 0 && w->slots_moving == 0;
  }
  tally_free(map);
  return done;
}

static uint32_t worker_id_of(tally_t *t, const cluster_t *c, int i) {
  tally_map_t *map = NULL;
  uint32_t id = 0;
  if (tally_cluster_map(t, &map) == 0)
    for (size_t k = 0; k < map->worker_count; k++)
      if (strcmp(map->workers[k].endpoint, c->worker_endpoints[i]) == 0) id = map->workers[k].id;
  tally_free(map);
  return id;
}

#define MOVE_HOLDERS 6
#define MOVE_ITEMS 200

static void test_move_with_leases(void) {
  cluster_t cluster;
  memset(&cluster, 0, sizeof cluster);
  CHECK(cluster_start(&cluster, 2) == 0);
  tally_t *t = client(&cluster);
  make_project(t, "mv");
  for (int h = 0; h < MOVE_HOLDERS; h++) {
    char id[16];
    snprintf(id, sizeof id, "m%02d", h);
    make_labeler(t, id);
  }
  make_labeler(t, "o");
  ingest(t, "mv", MOVE_ITEMS);
  static held_t held[MOVE_HOLDERS * PER_HOLDER];
  int n = lease_all(t, "mv", "m", MOVE_HOLDERS, held);
  CHECK_EQ_U64(n, MOVE_HOLDERS * PER_HOLDER);

  /* Worker 1 hands every slot to worker 0, leases and all. */
  uint32_t leaving = worker_id_of(t, &cluster, 1);
  CHECK(leaving != 0);
  tally_map_t *after = NULL;
  CHECK(tally_worker_drain(t, leaving, 0, &after) == 0);
  tally_free(after);
  int done = 0;
  for (int i = 0; i < 600 && !done; i++) {
    done = drained(t, leaving);
    if (!done) sleep_ms(200);
  }
  CHECK(done);
  /* The coordinator's map says drained before the receiving worker has
   * applied it (it learns the map at its next heartbeat) and counts the
   * slots' leases and queues as its own: wait for the counts to settle. */
  uint64_t live = 0, queued = 0;
  for (int i = 0; i < 100; i++) {
    tally_status_t *st = status(t, "mv");
    live = st ? st->total.live_leases : 0;
    queued = st ? st->total.queued : 0;
    tally_free(st);
    if (live == (uint64_t)n && queued == MOVE_ITEMS - (uint64_t)n) break;
    sleep_ms(100);
  }
  CHECK_EQ_U64(live, (uint64_t)n);
  CHECK_EQ_U64(queued, MOVE_ITEMS - (uint64_t)n);

  /* The held items are not offered to anyone else. */
  int others = 0, offered_held = 0;
  for (int guard = 0; guard < MOVE_ITEMS; guard++) {
    tally_task_t *task = NULL;
    if (tally_lease(t, "o", "mv", TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) {
      tally_free(task);
      break;
    }
    for (int k = 0; k < n; k++) offered_held += strcmp(held[k].item, task->item_id) == 0;
    CHECK(tally_submit(t, "o", task->slot, task->lease_id, "spam", 3) == 0);
    others++;
    tally_free(task);
  }
  CHECK_EQ_U64(offered_held, 0);
  CHECK_EQ_U64(others, MOVE_ITEMS - n);

  /* The submits after the move land, once each. */
  int landed = 0, doubled = 0;
  for (int k = 0; k < n; k++) {
    landed += tally_submit(t, held[k].labeler, held[k].slot, held[k].lease_id, "ok", 4) == 0;
    char who[64] = "";
    size_t labels = labels_of(t, "mv", held[k].item, who, sizeof who);
    doubled += labels != 1 || strcmp(who, held[k].labeler) != 0;
  }
  CHECK_EQ_U64(landed, n);
  CHECK_EQ_U64(doubled, 0);
  tally_status_t *st = status(t, "mv");
  CHECK_EQ_U64(st->total.labels, MOVE_ITEMS);
  CHECK_EQ_U64(st->total.queued, 0);
  CHECK_EQ_U64(st->total.live_leases, 0);
  tally_free(st);
  tally_close(&t);
  cluster_stop(&cluster);
}

int main(void) {
  harness_init(280);
  test_kill_with_leases_out();
  test_move_with_leases();
  return check_summary();
}
