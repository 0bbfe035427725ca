/* Live rebalancing under load: a 3-worker cluster serves a crowd of
 * labeler threads while a 4th worker joins (slots move to it, live; one of
 * the sources is killed with SIGKILL mid-way and restarted) and then one of
 * the first three is drained (its slots move away, the coordinator is
 * killed with SIGKILL mid-way and restarted, its statistics are handed
 * over) and stopped. Afterwards every acknowledged
 * label is readable exactly once, no item has more labels than its overlap
 * (a doubled lease would show as a second label), the cluster's counts
 * match what was acknowledged, the quality report still counts every label
 * after the drained worker is gone, and a client whose map went stale
 * during the moves is redirected without noticing. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "slot.h"
#include "tally.h"
#include "tally_error.h"

#define ITEMS 30000
#define CROWD 6
#define MAX_ACKS (ITEMS + 16)

static cluster_t cluster;

typedef struct {
  char item[24];
  char labeler[16];
  char label[8];
} ack_t;

/* Submits whose outcome the client cannot know, at most this many per
 * thread; more fails the test (they could not be accounted for). */
#define MAX_UNKNOWN 512

typedef struct {
  int index;
  ack_t *acks;
  int n_acks;
  /* Submits whose outcome is unknown to the client: it got no reply
   * (timeout, transport or retryable failure: the request may have been
   * applied and its reply lost, e.g. under a sanitizer's slowdown or when
   * the worker was killed between its durable write and the reply), or
   * STALE_LEASE after a retry (the first attempt may have been stored).
   * Each is looked up at the end: its label is there exactly once or not
   * at all, and the counts must include exactly those that landed. */
  ack_t unknown[MAX_UNKNOWN];
  int n_unknown;
  int unknown_overflow; /* unknown submits that did not fit: must be 0 */
  int stale_after_retry; /* of the unknown, STALE_LEASE after a retry */
  int lease_lost;       /* LEASE_LOST: the lease died with the SIGKILLed worker
                         * and its item was taken since (nothing stored) */
  int refused;          /* submits refused otherwise: must not happen */
  int lease_failures;   /* leases that failed with a retryable error */
} crowd_t;

static atomic_int stop_crowd;

static int acked_so_far(crowd_t *crowd) {
  int n = 0;
  for (int i = 0; i < CROWD; i++) n += __atomic_load_n(&crowd[i].n_acks, __ATOMIC_RELAXED);
  return n;
}

/* 1 when some thread of the crowd had a submit on `item` acknowledged. */
static int was_acked(crowd_t *crowd, const char *item) {
  for (int i = 0; i < CROWD; i++)
    for (int k = 0; k < crowd[i].n_acks; k++)
      if (strcmp(crowd[i].acks[k].item, item) == 0) return 1;
  return 0;
}

static tally_t *client(int timeout_ms) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, timeout_ms) != 0) exit(1);
  return t;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *crowd_run(void *arg) {
  crowd_t *me = arg;
  static const char *labels[] = {"ok", "spam", "hate"};
  char who[16];
  snprintf(who, sizeof who, "c%d", me->index);
  tally_t *t = client(2000);
  while (!atomic_load(&stop_crowd) && me->n_acks < MAX_ACKS) {
    tally_task_t *task = NULL;
    int rc = tally_lease(t, who, "reb", TALLY_STAGE_LABEL, 200, &task);
    if (rc != 0) {
      me->lease_failures += tally_error_is_retryable(rc) || rc == TALLY_E_TRANSPORT;
      continue;
    }
    if (task == NULL) continue;
    const char *label = labels[(unsigned)(me->n_acks + me->index) % 3];
    rc = tally_submit(t, who, task->slot, task->lease_id, label, 10);
    ack_t *a = NULL;
    if (rc == 0) {
      a = &me->acks[me->n_acks];
    } else if (tally_error_is_retryable(rc) || rc == TALLY_E_TIMEOUT || rc == TALLY_E_TRANSPORT ||
               rc == TALLY_E_STALE_LEASE) {
      me->stale_after_retry += rc == TALLY_E_STALE_LEASE;
      if (me->n_unknown < MAX_UNKNOWN)
        a = &me->unknown[me->n_unknown++];
      else
        me->unknown_overflow++;
    } else if (rc == TALLY_E_LEASE_LOST) {
      me->lease_lost++;
    } else {
      fprintf(stderr, "crowd %d: submit refused: %s\n", me->index, tally_last_error(t));
      me->refused++;
    }
    if (a != NULL) {
      snprintf(a->item, sizeof a->item, "%s", task->item_id);
      snprintf(a->labeler, sizeof a->labeler, "%s", who);
      snprintf(a->label, sizeof a->label, "%s", label);
    }
    if (rc == 0) __atomic_store_n(&me->n_acks, me->n_acks + 1, __ATOMIC_RELAXED);
    tally_free(task);
  }
  tally_close(&t);
  return NULL;
}

static const tally_worker_info_t *find_worker(const tally_map_t *map, uint32_t id) {
  for (size_t i = 0; i < map->worker_count; i++)
    if (map->workers[i].id == id) return &map->workers[i];
  return NULL;
}

/* Polls the map until `done` holds for it or `seconds` pass; 1 when it held. */
static int wait_map(tally_t *t, int seconds, int (*done)(const tally_map_t *, uint32_t),
                    uint32_t arg) {
  for (int i = 0; i < seconds * 5; i++) {
    tally_map_t *map = NULL;
    int ok = tally_cluster_map(t, &map) == 0 && done(map, arg);
    tally_free(map);
    if (ok) return 1;
    sleep_ms(200);
  }
  return 0;
}

/* Balanced: every UP, non-draining worker owns 1024/n (+-1) slots and no
 * slot is moving. */
static int balanced(const tally_map_t *map, uint32_t workers) {
  uint32_t n = 0, low = UINT32_MAX, high = 0, moving = 0;
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    moving += w->slots_moving;
    if (w->state != TALLY_WORKER_UP || w->draining) continue;
    n++;
    if (w->slots_owned < low) low = w->slots_owned;
    if (w->slots_owned > high) high = w->slots_owned;
  }
  return n == workers && moving == 0 && high - low <= 1;
}

static int drained(const tally_map_t *map, uint32_t id) {
  const tally_worker_info_t *w = find_worker(map, id);
  return w != NULL && w->slots_owned == 0 && w->slots_moving == 0 && !w->holds_sums &&
         w->items == 0;
}

static int is_down(const tally_map_t *map, uint32_t id) {
  const tally_worker_info_t *w = find_worker(map, id);
  return w != NULL && w->state == TALLY_WORKER_DOWN;
}

/* The id of the worker serving at harness index i. */
static uint32_t worker_id_of(tally_t *t, int i) {
  tally_map_t *map = NULL;
  uint32_t id = 0;
  if (tally_cluster_map(t, &map) == 0)
    for (size_t k = 0; k < map->worker_count; k++)
      if (strcmp(map->workers[k].endpoint, cluster.worker_endpoints[i]) == 0) id = map->workers[k].id;
  tally_free(map);
  return id;
}

static void setup(tally_t *t) {
  const char *labels[] = {"ok", "spam", "hate"}, *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = "reb";
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 30;
  spec.audit_rate = 0.0;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  for (int i = 0; i < CROWD; i++) {
    char id[16];
    snprintf(id, sizeof id, "c%d", i);
    tally_labeler_t l = {id, TALLY_ROLE_LABELER, markets, 2, NULL};
    tally_labeler_t *out = NULL;
    CHECK(tally_labeler_add(t, &l, &out) == 0);
    tally_free(out);
  }
  for (int batch = 0; batch < ITEMS / 500; batch++) { /* ITEMS is a multiple of 500 */
    tally_item_t items[500];
    char ids[500][24];
    for (int i = 0; i < 500; i++) {
      snprintf(ids[i], sizeof ids[i], "it-%d", batch * 500 + i);
      items[i] = (tally_item_t){ids[i], i % 2 ? "es" : "ja", 0, "{}", NULL, NULL};
    }
    tally_ingest_result_t *res = NULL;
    CHECK(tally_ingest(t, "reb", items, 500, &res) == 0);
    if (res) CHECK_EQ_U64(res->accepted, 500);
    tally_free(res);
  }
}

int main(void) {
  harness_init(280);
  if (cluster_start(&cluster, 3) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = client(3000);
  setup(t);

  /* A client that learns the map now and keeps it through every move. */
  tally_t *stale = client(3000);
  tally_item_state_t *probe = NULL;
  CHECK(tally_item_get(stale, "reb", "it-0", &probe) == 0);
  tally_free(probe);

  crowd_t crowd[CROWD];
  pthread_t threads[CROWD];
  for (int i = 0; i < CROWD; i++) {
    memset(&crowd[i], 0, sizeof crowd[i]);
    crowd[i].index = i;
    crowd[i].acks = calloc(MAX_ACKS, sizeof(ack_t));
    CHECK(pthread_create(&threads[i], NULL, crowd_run, &crowd[i]) == 0);
  }
  sleep_ms(1000);

  /* A 4th worker joins: slots move to it while the crowd works. */
  cluster.n_workers = 4;
  CHECK(cluster_start_worker(&cluster, 3) == 0);
  /* A source dies in the middle of the moves (kill -9) and comes back:
   * its frozen slot is copied again or given up, nothing is lost. */
  sleep_ms(800);
  cluster_kill_worker(&cluster, 1, SIGKILL);
  sleep_ms(1000);
  CHECK(cluster_start_worker(&cluster, 1) == 0);
  CHECK(wait_map(t, 90, balanced, 4));
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t, &map) == 0);
  uint32_t joined = worker_id_of(t, 3);
  const tally_worker_info_t *w4 = map ? find_worker(map, joined) : NULL;
  CHECK(w4 != NULL && w4->slots_owned >= 255);
  printf("after the join: epoch %llu, worker %u owns %u slots\n",
         map ? (unsigned long long)map->epoch : 0ull, joined, w4 ? w4->slots_owned : 0);
  tally_free(map);

  /* Drain the first worker while the crowd goes on. */
  int before_drain = acked_so_far(crowd);
  uint32_t leaving = worker_id_of(t, 0);
  CHECK(leaving != 0);
  tally_map_t *after = NULL;
  CHECK(tally_worker_drain(t, leaving, 0, &after) == 0);
  const tally_worker_info_t *lw = after ? find_worker(after, leaving) : NULL;
  CHECK(lw != NULL && lw->draining);
  tally_free(after);
  /* The coordinator dies in the middle of the drain (kill -9) and comes
   * back: the moves it had are given up by their sources, the drain (which
   * is persisted) goes on. */
  sleep_ms(1500);
  cluster_kill_coordinator(&cluster, SIGKILL);
  sleep_ms(1000);
  CHECK(cluster_start_coordinator(&cluster) == 0);
  CHECK(wait_map(t, 120, drained, leaving));
  int after_drain = acked_so_far(crowd);
  printf("labels acknowledged while worker %u was drained: %d\n", leaving,
         after_drain - before_drain);
  CHECK(after_drain > before_drain); /* the crowd worked through the drain */
  CHECK(wait_map(t, 60, balanced, 3));

  atomic_store(&stop_crowd, 1);
  int acked = 0, refused = 0, lease_failures = 0, unknown = 0, stale_after_retry = 0, overflow = 0;
  int lease_lost = 0;
  for (int i = 0; i < CROWD; i++) {
    pthread_join(threads[i], NULL);
    acked += crowd[i].n_acks;
    refused += crowd[i].refused;
    lease_lost += crowd[i].lease_lost;
    lease_failures += crowd[i].lease_failures;
    unknown += crowd[i].n_unknown;
    stale_after_retry += crowd[i].stale_after_retry;
    overflow += crowd[i].unknown_overflow;
  }
  printf("crowd: %d labels acknowledged, %d refused, %d submits of unknown outcome (%d stale"
         " after a retry), %d failed leases\n",
         acked, refused, unknown, stale_after_retry, lease_failures);
  CHECK(stale_after_retry <= 2 * CROWD); /* only around the SIGKILL of a worker */
  /* Each of the crowd held at most one lease when the worker was killed;
   * slot moves carry leases, so only that kill can lose one. */
  printf("crowd: %d submits refused LEASE_LOST\n", lease_lost);
  CHECK(lease_lost <= CROWD);
  CHECK_EQ_U64(overflow, 0);
  CHECK(acked > 500);
  CHECK_EQ_U64(refused, 0);

  /* The drained worker stops; the cluster does not miss it. */
  cluster_kill_worker(&cluster, 0, SIGTERM);
  CHECK(wait_map(t, 30, is_down, leaving));

  /* Every acknowledged label is there, once; no item over its overlap. */
  int missing = 0, over = 0;
  for (int i = 0; i < CROWD; i++)
    for (int k = 0; k < crowd[i].n_acks; k++) {
      const ack_t *a = &crowd[i].acks[k];
      tally_item_state_t *item = NULL;
      if (tally_item_get(t, "reb", a->item, &item) != 0) {
        missing++;
        continue;
      }
      int found = 0;
      for (size_t j = 0; j < item->label_count; j++)
        found += strcmp(item->labels[j].labeler, a->labeler) == 0 &&
                 strcmp(item->labels[j].label, a->label) == 0;
      missing += found != 1;
      over += item->label_count > 1;
      tally_free(item);
    }
  CHECK_EQ_U64(missing, 0);
  CHECK_EQ_U64(over, 0);
  /* A submit of unknown outcome either landed (its label is there, exactly
   * once: `over` above would see a second one) or did not. The counts below
   * must account for exactly those that landed, so acknowledged <= stored
   * <= acknowledged + unknown, and nothing acknowledged is missing (above).
   * An item whose unknown submit did not land may have been leased and
   * acknowledged again later: that label is counted with the acknowledged. */
  int landed = 0;
  for (int i = 0; i < CROWD; i++)
    for (int k = 0; k < crowd[i].n_unknown; k++) {
      const ack_t *u = &crowd[i].unknown[k];
      if (was_acked(crowd, u->item)) continue;
      tally_item_state_t *item = NULL;
      if (tally_item_get(t, "reb", u->item, &item) != 0) continue;
      for (size_t j = 0; j < item->label_count; j++)
        landed += strcmp(item->labels[j].labeler, u->labeler) == 0 &&
                  strcmp(item->labels[j].label, u->label) == 0;
      tally_free(item);
    }
  printf("of %d submits of unknown outcome, %d landed\n", unknown, landed);
  CHECK(landed <= unknown);
  int stored = acked + landed;

  /* Counts: items, labels and leases match what was acknowledged. */
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "reb", &st) == 0);
  if (st != NULL) {
    CHECK_EQ_U64(st->total.items, ITEMS);
    CHECK_EQ_U64(st->total.labels, (uint64_t)stored);
    CHECK_EQ_U64(st->total.done, (uint64_t)stored);
    CHECK_EQ_U64(st->total.queued + st->total.live_leases, (uint64_t)(ITEMS - stored));
    printf("status: items %llu labels %llu queued %llu live leases %llu (workers failed %zu)\n",
           (unsigned long long)st->total.items, (unsigned long long)st->total.labels,
           (unsigned long long)st->total.queued, (unsigned long long)st->total.live_leases,
           st->workers_failed);
  }
  tally_free(st);

  /* The statistics of the drained worker were handed over. */
  tally_report_t *report = NULL;
  tally_report_query_t q = {0};
  CHECK(tally_report_quality(t, "reb", &q, &report) == 0);
  if (report != NULL) CHECK_EQ_U64(report->total.labels, (uint64_t)stored);
  tally_free(report);

  /* The stale client still finds every item (MOVED, map refresh, retry). */
  int stale_missing = 0;
  for (int i = 0; i < ITEMS; i += 37) {
    char id[24];
    snprintf(id, sizeof id, "it-%d", i);
    tally_item_state_t *item = NULL;
    if (tally_item_get(stale, "reb", id, &item) != 0) stale_missing++;
    tally_free(item);
  }
  CHECK_EQ_U64(stale_missing, 0);

  for (int i = 0; i < CROWD; i++) free(crowd[i].acks);
  tally_close(&stale);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
