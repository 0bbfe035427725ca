/* Cluster: three workers under a crowd of labelers, with failures.
 *
 * a) 100,000 items ingested through libtally in batches over four markets
 *    spread over the three workers as the slot map says: each worker holds
 *    exactly the items whose slots it owns (computed here from the slot
 *    hash), about a third each, the sum is exactly what was ingested, the
 *    slots are split 342/341/341, and the heartbeat figures in the map
 *    agree with the workers' own counts.
 * b) While eight labeler threads lease and submit (overlap 2), one worker
 *    is killed with SIGKILL: requests for its slots fail with a retryable
 *    error, the coordinator marks it DOWN (it keeps its slots) and from then
 *    on the client answers UNAVAILABLE for them, the other two keep
 *    acknowledging labels. Restarted (on a new port), it rejoins with its
 *    slots and data: its item count is unchanged, and the crowd's handles,
 *    opened before the kill, lease and label on it again.
 * c) While the crowd runs, the coordinator is killed with SIGKILL: leases
 *    and submits keep being acknowledged on all three workers; restarted,
 *    it has the same slot map, an epoch that did not go backwards, and
 *    every worker UP with a fresh heartbeat.
 * After each of b) and c): every acknowledged label is on its item, no item
 * has more labels than its overlap or a label nobody submitted, and the
 * workers' label and done counters equal what the items hold.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
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

#define WORKERS 3
#define ITEMS 100000
#define INGEST_THREADS 4
#define INGEST_CALL_ITEMS 5000
#define CROWD 8
#define VERIFIERS 4
#define OVERLAP 2
#define PHASES 4
#define CROWD_TIMEOUT_MS 1000
#define PROJECT "crowd"

/* Phases of a crowd run: the failure is injected between 0 and 1 and
 * repaired between 2 and 3; phase 1 starts once the process is gone. */
enum { BEFORE = 0, OUTAGE = 1, RESTARTING = 2, AFTER = 3 };

static const char *markets[] = {"es", "ja", "ko", "pt"};
static const char *labels[] = {"ok", "spam", "hate"};
#define MARKETS (sizeof markets / sizeof *markets)

static cluster_t cluster;
static char (*item_ids)[16];              /* ITEMS ids */
static uint32_t worker_id_of[WORKERS];    /* harness index -> worker id */
static int slot_index[TALLY_SLOT_COUNT];  /* slot -> harness index of its owner */
static uint32_t slot_owner0[TALLY_SLOT_COUNT];
static uint64_t items_per_worker0[WORKERS]; /* by harness index, after ingest */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000u); }

static tally_t *client(int timeout_ms) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, timeout_ms) != 0) {
    fprintf(stderr, "cannot open a client\n");
    exit(1);
  }
  return t;
}

static int index_of_worker_id(uint32_t id) {
  for (int i = 0; i < WORKERS; i++)
    if (worker_id_of[i] == id) return i;
  return -1;
}

static const tally_worker_info_t *map_worker(const tally_map_t *map, uint32_t id) {
  for (size_t w = 0; map && w < map->worker_count; w++)
    if (map->workers[w].id == id) return &map->workers[w];
  return NULL;
}

/* The label labeler `who` gives item `item`: fixed, so the check knows it. */
static int label_for(const char *item, int who) {
  unsigned h = (unsigned)who * 7u;
  for (const char *p = item; *p; p++) h = h * 31u + (unsigned char)*p;
  return (int)(h % 3u);
}

/* ------------------------------------------------------------ setup */

static void setup_project(tally_t *t) {
  tally_project_t spec = {0};
  spec.name = PROJECT;
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = MARKETS;
  spec.overlap = OVERLAP;
  spec.lease_seconds = 60;
  int rc = tally_project_create(t, &spec, NULL);
  CHECK(rc == 0);
  if (rc != 0) fprintf(stderr, "project create: %s\n", tally_last_error(t));
  for (int i = 0; i <= CROWD; i++) { /* lab0..lab7 for the crowd, lab8 for probes */
    char id[16];
    snprintf(id, sizeof id, "lab%d", i);
    tally_labeler_t l = {id, TALLY_ROLE_LABELER, markets, MARKETS, NULL};
    CHECK(tally_labeler_add(t, &l, NULL) == 0);
  }
}

/* Learns which worker id each harness index is, and who owns each slot. */
static void learn_map(tally_t *t) {
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t, &map) == 0);
  if (map == NULL) exit(1);
  for (int i = 0; i < WORKERS; i++)
    for (size_t w = 0; w < map->worker_count; w++)
      if (strcmp(map->workers[w].endpoint, cluster.worker_endpoints[i]) == 0)
        worker_id_of[i] = map->workers[w].id;
  for (int i = 0; i < WORKERS; i++) CHECK(worker_id_of[i] != 0);
  CHECK_EQ_U64(map->worker_count, WORKERS);
  CHECK_EQ_U64(map->slot_count, TALLY_SLOT_COUNT);
  CHECK_EQ_U64(map->unassigned_slots, 0);
  uint32_t owned[WORKERS] = {0};
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT && s < map->slot_count; s++) {
    slot_owner0[s] = map->slot_owner[s];
    slot_index[s] = index_of_worker_id(map->slot_owner[s]);
    CHECK(slot_index[s] >= 0);
    if (slot_index[s] >= 0) owned[slot_index[s]]++;
  }
  uint32_t most = 0, least = UINT32_MAX;
  for (int i = 0; i < WORKERS; i++) {
    const tally_worker_info_t *info = map_worker(map, worker_id_of[i]);
    CHECK(info && info->state == TALLY_WORKER_UP);
    if (info) CHECK_EQ_U64(info->slots_owned, owned[i]);
    if (owned[i] > most) most = owned[i];
    if (owned[i] < least) least = owned[i];
  }
  /* 1024 = 342 + 341 + 341. */
  CHECK_EQ_U64(owned[0] + owned[1] + owned[2], TALLY_SLOT_COUNT);
  CHECK_EQ_U64(most, 342);
  CHECK_EQ_U64(least, 341);
  printf("slots: worker %u owns %u, worker %u owns %u, worker %u owns %u (epoch %llu)\n",
         worker_id_of[0], owned[0], worker_id_of[1], owned[1], worker_id_of[2], owned[2],
         (unsigned long long)map->epoch);
  tally_free(map);
}

/* ------------------------------------------------------------ a) ingest and spread */

typedef struct {
  int first, count;
  uint64_t accepted, duplicates, rejected;
  int failed_calls;
} ingest_job_t;

static void *ingest_thread(void *arg) {
  ingest_job_t *job = arg;
  tally_t *t = client(5000);
  tally_item_t *items = calloc(INGEST_CALL_ITEMS, sizeof *items);
  for (int from = job->first; from < job->first + job->count; from += INGEST_CALL_ITEMS) {
    int n = job->first + job->count - from;
    if (n > INGEST_CALL_ITEMS) n = INGEST_CALL_ITEMS;
    for (int k = 0; k < n; k++) {
      int i = from + k;
      items[k] = (tally_item_t){item_ids[i], markets[i % MARKETS],
                                i % 10 == 0 ? TALLY_PRIORITY_HIGH : TALLY_PRIORITY_NORMAL,
                                "{\"text\":\"a post to moderate\"}", NULL, NULL};
    }
    tally_ingest_result_t *res = NULL;
    int rc = tally_ingest(t, PROJECT, items, (size_t)n, &res);
    if (rc != 0) {
      job->failed_calls++;
      fprintf(stderr, "ingest: %s (%s)\n", tally_last_error(t), tally_error_name(rc));
    }
    if (res) {
      job->accepted += res->accepted;
      job->duplicates += res->duplicates;
      job->rejected += res->rejected;
    }
    tally_free(res);
  }
  free(items);
  tally_close(&t);
  return NULL;
}

/* Per-worker item counts from the workers themselves (by harness index);
 * returns the number of workers that answered. */
static int worker_items(tally_t *t, uint64_t items[WORKERS]) {
  tally_status_t *st = NULL;
  for (int i = 0; i < WORKERS; i++) items[i] = 0;
  if (tally_status(t, PROJECT, &st) != 0) return 0;
  int answered = 0;
  for (size_t w = 0; w < st->worker_count; w++) {
    int i = index_of_worker_id(st->workers[w].worker_id);
    if (i < 0) continue;
    items[i] = st->workers[w].items;
    answered += st->workers[w].code == 0;
  }
  tally_free(st);
  return answered;
}

static void test_ingest_spread(tally_t *t) {
  uint64_t start = now_ms();
  pthread_t threads[INGEST_THREADS];
  ingest_job_t jobs[INGEST_THREADS];
  for (int k = 0; k < INGEST_THREADS; k++) {
    jobs[k] = (ingest_job_t){k * (ITEMS / INGEST_THREADS), ITEMS / INGEST_THREADS, 0, 0, 0, 0};
    pthread_create(&threads[k], NULL, ingest_thread, &jobs[k]);
  }
  uint64_t accepted = 0, duplicates = 0, rejected = 0;
  int failed = 0;
  for (int k = 0; k < INGEST_THREADS; k++) {
    pthread_join(threads[k], NULL);
    accepted += jobs[k].accepted;
    duplicates += jobs[k].duplicates;
    rejected += jobs[k].rejected;
    failed += jobs[k].failed_calls;
  }
  uint64_t took = now_ms() - start;
  printf("ingest: %d items in %llu ms (%.0f items/s), %d threads, %d items per call\n", ITEMS,
         (unsigned long long)took, ITEMS * 1000.0 / (double)(took ? took : 1), INGEST_THREADS,
         INGEST_CALL_ITEMS);
  CHECK_EQ_U64(failed, 0);
  CHECK_EQ_U64(accepted, ITEMS);
  CHECK_EQ_U64(duplicates, 0);
  CHECK_EQ_U64(rejected, 0);

  /* Idempotent: a sample again, the same items, adds nothing. */
  tally_item_t again[100];
  for (int k = 0; k < 100; k++) {
    int i = k * 997;
    again[k] = (tally_item_t){item_ids[i], markets[i % MARKETS],
                              i % 10 == 0 ? TALLY_PRIORITY_HIGH : TALLY_PRIORITY_NORMAL,
                              "{\"text\":\"a post to moderate\"}", NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, PROJECT, again, 100, &res) == 0);
  CHECK(res && res->accepted == 0 && res->duplicates == 100 && res->rejected == 0);
  tally_free(res);
  /* The same ids with other content are conflicts, on every worker. */
  for (int k = 0; k < 100; k++) again[k].content = "{}";
  res = NULL;
  tally_ingest(t, PROJECT, again, 100, &res);
  CHECK(res && res->accepted == 0 && res->duplicates == 0 && res->rejected == 100 &&
        res->conflicts == 100);
  CHECK(res && res->items[0].code == TALLY_E_ALREADY_EXISTS);
  tally_free(res);

  /* Where each item must be: its slot's owner. */
  uint64_t expected[WORKERS] = {0};
  for (int i = 0; i < ITEMS; i++) {
    int owner = slot_index[slot_of_item(PROJECT, item_ids[i], strlen(item_ids[i]))];
    if (owner >= 0) expected[owner]++;
  }
  CHECK_EQ_U64(worker_items(t, items_per_worker0), WORKERS);
  uint64_t sum = 0, most = 0, least = UINT64_MAX;
  for (int i = 0; i < WORKERS; i++) {
    CHECK_EQ_U64(items_per_worker0[i], expected[i]);
    sum += items_per_worker0[i];
    double share = (double)items_per_worker0[i] / ITEMS;
    CHECK(share > 1.0 / 3 - 0.01 && share < 1.0 / 3 + 0.01);
    if (items_per_worker0[i] > most) most = items_per_worker0[i];
    if (items_per_worker0[i] < least) least = items_per_worker0[i];
  }
  CHECK_EQ_U64(sum, ITEMS);
  double mean = (double)ITEMS / WORKERS;
  printf("spread: worker %u %llu (%.2f%%), worker %u %llu (%.2f%%), worker %u %llu (%.2f%%); "
         "max/min %.4f, max over mean %+.2f%%\n",
         worker_id_of[0], (unsigned long long)items_per_worker0[0], 100.0 * items_per_worker0[0] / ITEMS,
         worker_id_of[1], (unsigned long long)items_per_worker0[1], 100.0 * items_per_worker0[1] / ITEMS,
         worker_id_of[2], (unsigned long long)items_per_worker0[2], 100.0 * items_per_worker0[2] / ITEMS,
         least ? (double)most / (double)least : 0.0, 100.0 * ((double)most - mean) / mean);

  /* The map's per-worker figures come with the heartbeats (every 200 ms):
   * they reach the workers' own counts. */
  int agree = 0;
  for (uint64_t until = now_ms() + 5000; !agree && now_ms() < until; sleep_ms(100)) {
    tally_map_t *map = NULL;
    if (tally_cluster_map(t, &map) != 0) continue;
    agree = 1;
    for (int i = 0; i < WORKERS; i++) {
      const tally_worker_info_t *info = map_worker(map, worker_id_of[i]);
      agree &= info != NULL && info->items == items_per_worker0[i] && info->queued == items_per_worker0[i];
    }
    tally_free(map);
  }
  CHECK(agree);
}

/* ------------------------------------------------------------ the crowd */

/* One submit a crowd thread made: acknowledged (acked) or not. */
typedef struct {
  char item[16];
  uint16_t slot;
  uint8_t labeler;
  uint8_t label;
  uint8_t acked;
  uint8_t lease_phase, done_phase;
} attempt_t;

typedef struct {
  int who;
  attempt_t *attempts;
  size_t count, cap;
  /* by phase and harness index of the worker owning the task's slot */
  uint64_t leases[PHASES][WORKERS];
  uint64_t acks[PHASES][WORKERS]; /* leased and acknowledged within the phase */
  uint64_t lease_errors[PHASES], submit_errors[PHASES];
  int last_lease_error, last_submit_error;
} labeler_t;

static atomic_int phase;
static atomic_int crowd_stopping;
/* The same as labeler_t.acks, summed over the crowd while it runs. */
static atomic_ullong live_acks[PHASES][WORKERS];
static uint64_t phase_began[PHASES + 1]; /* monotonic ms; [PHASES] = crowd stopped */

static void phase_set(int p) {
  phase_began[p] = now_ms();
  atomic_store(&phase, p);
}
static labeler_t crowd[CROWD];
static pthread_t crowd_threads[CROWD];
/* Every attempt of every run, and the probes of the main thread. */
static attempt_t *history;
static size_t history_count, history_cap;

static void attempt_add(attempt_t **list, size_t *count, size_t *cap, const attempt_t *a) {
  if (*count == *cap) {
    *cap = *cap ? *cap * 2 : 4096;
    *list = realloc(*list, *cap * sizeof **list);
    if (*list == NULL) exit(1);
  }
  (*list)[(*count)++] = *a;
}

static void *labeler_thread(void *arg) {
  labeler_t *me = arg;
  char name[16];
  snprintf(name, sizeof name, "lab%d", me->who);
  tally_t *t = client(CROWD_TIMEOUT_MS);
  while (!atomic_load(&crowd_stopping)) {
    int lease_phase = atomic_load(&phase);
    tally_task_t *task = NULL;
    int rc = tally_lease(t, name, PROJECT, TALLY_STAGE_LABEL, 0, &task);
    if (rc != 0) {
      me->lease_errors[lease_phase]++;
      me->last_lease_error = rc;
      sleep_ms(20);
      continue;
    }
    if (task == NULL) {
      sleep_ms(20);
      continue;
    }
    int owner = slot_index[task->slot % TALLY_SLOT_COUNT];
    if (owner >= 0) me->leases[lease_phase][owner]++;
    attempt_t a = {0};
    snprintf(a.item, sizeof a.item, "%s", task->item_id);
    a.slot = (uint16_t)task->slot;
    a.labeler = (uint8_t)me->who;
    a.label = (uint8_t)label_for(task->item_id, me->who);
    a.lease_phase = (uint8_t)lease_phase;
    rc = tally_submit(t, name, task->slot, task->lease_id, labels[a.label], 50);
    a.done_phase = (uint8_t)atomic_load(&phase);
    a.acked = rc == 0;
    if (rc != 0) {
      me->submit_errors[a.done_phase]++;
      me->last_submit_error = rc;
    } else if (a.done_phase == a.lease_phase && owner >= 0) {
      me->acks[a.lease_phase][owner]++;
      atomic_fetch_add(&live_acks[a.lease_phase][owner], 1);
    }
    attempt_add(&me->attempts, &me->count, &me->cap, &a);
    tally_free(task);
  }
  tally_close(&t);
  return NULL;
}

static void crowd_start(void) {
  phase_set(BEFORE);
  atomic_store(&crowd_stopping, 0);
  for (int p = 0; p < PHASES; p++)
    for (int w = 0; w < WORKERS; w++) atomic_store(&live_acks[p][w], 0);
  for (int i = 0; i < CROWD; i++) {
    memset(&crowd[i], 0, sizeof crowd[i]);
    crowd[i].who = i;
    pthread_create(&crowd_threads[i], NULL, labeler_thread, &crowd[i]);
  }
}

/* Stops the crowd and sums its figures into `sum`; the attempts go to the
 * history. */
static void crowd_stop(labeler_t *sum) {
  atomic_store(&crowd_stopping, 1);
  phase_began[PHASES] = now_ms();
  memset(sum, 0, sizeof *sum);
  for (int i = 0; i < CROWD; i++) {
    pthread_join(crowd_threads[i], NULL);
    for (int p = 0; p < PHASES; p++) {
      for (int w = 0; w < WORKERS; w++) {
        sum->leases[p][w] += crowd[i].leases[p][w];
        sum->acks[p][w] += crowd[i].acks[p][w];
      }
      sum->lease_errors[p] += crowd[i].lease_errors[p];
      sum->submit_errors[p] += crowd[i].submit_errors[p];
    }
    if (crowd[i].last_lease_error) sum->last_lease_error = crowd[i].last_lease_error;
    if (crowd[i].last_submit_error) sum->last_submit_error = crowd[i].last_submit_error;
    for (size_t k = 0; k < crowd[i].count; k++)
      attempt_add(&history, &history_count, &history_cap, &crowd[i].attempts[k]);
    free(crowd[i].attempts);
  }
}

/* Acknowledged labels of the crowd so far in `phase` (leased and acked in
 * it) on worker `index`. */
static uint64_t crowd_acks(int in_phase, int index) { return atomic_load(&live_acks[in_phase][index]); }

/* Waits (up to `ms`) until the crowd acknowledged at least `want` labels
 * in phase `in_phase` on every worker whose bit is set in `mask`. */
static void wait_crowd_acks(int in_phase, unsigned mask, uint64_t want, int ms) {
  for (uint64_t until = now_ms() + (uint64_t)ms; now_ms() < until; sleep_ms(50)) {
    int enough = 1;
    for (int w = 0; w < WORKERS; w++)
      if (mask & (1u << w)) enough &= crowd_acks(in_phase, w) >= want;
    if (enough) return;
  }
}

static void print_crowd(const char *what, const labeler_t *sum) {
  static const char *names[PHASES] = {"before", "outage", "restarting", "after"};
  for (int p = 0; p < PHASES; p++)
    printf("%s %-10s %5llu ms  leases %5llu %5llu %5llu  acks %5llu %5llu %5llu  lease errors %llu, "
           "submit errors %llu\n",
           what, names[p], (unsigned long long)(phase_began[p + 1] - phase_began[p]),
           (unsigned long long)sum->leases[p][0], (unsigned long long)sum->leases[p][1],
           (unsigned long long)sum->leases[p][2], (unsigned long long)sum->acks[p][0],
           (unsigned long long)sum->acks[p][1], (unsigned long long)sum->acks[p][2],
           (unsigned long long)sum->lease_errors[p], (unsigned long long)sum->submit_errors[p]);
  if (sum->last_lease_error || sum->last_submit_error)
    printf("%s last errors: lease %s, submit %s\n", what, tally_error_name(sum->last_lease_error),
           tally_error_name(sum->last_submit_error));
}

/* ------------------------------------------------------------ verification */

static int attempt_by_item(const void *a, const void *b) {
  return strcmp(((const attempt_t *)a)->item, ((const attempt_t *)b)->item);
}

typedef struct {
  size_t from, to; /* range of the sorted history, on item boundaries */
  uint64_t items, labels, acked, missing, over_overlap, same_labeler_twice, unknown_label, errors;
  uint64_t done, done_wrong; /* items done; items whose done flag disagrees with their labels */
} verify_job_t;

static void *verify_thread(void *arg) {
  verify_job_t *job = arg;
  tally_t *t = client(5000);
  for (size_t k = job->from; k < job->to;) {
    size_t end = k;
    while (end < job->to && strcmp(history[end].item, history[k].item) == 0) end++;
    tally_item_state_t *item = NULL;
    int rc = tally_item_get(t, PROJECT, history[k].item, &item);
    if (rc != 0) {
      job->errors++;
      fprintf(stderr, "item get %s: %s (%s)\n", history[k].item, tally_last_error(t), tally_error_name(rc));
      k = end;
      continue;
    }
    job->items++;
    job->labels += item->label_count;
    if (item->label_count > OVERLAP || item->label_count > item->overlap) job->over_overlap++;
    /* No audits in this project: an item is done once it has its labels. */
    job->done += item->done != 0;
    job->done_wrong += (item->done != 0) != (item->label_count == OVERLAP);
    for (size_t i = 0; i < item->label_count; i++) {
      for (size_t j = i + 1; j < item->label_count; j++)
        if (strcmp(item->labels[i].labeler, item->labels[j].labeler) == 0) job->same_labeler_twice++;
      /* Every stored label is one somebody submitted (acknowledged or not). */
      int submitted = 0;
      for (size_t a = k; a < end; a++) {
        char name[16];
        snprintf(name, sizeof name, "lab%d", history[a].labeler);
        submitted |= strcmp(item->labels[i].labeler, name) == 0 &&
                     strcmp(item->labels[i].label, labels[history[a].label]) == 0;
      }
      job->unknown_label += !submitted;
    }
    /* Every acknowledged label is there. */
    for (size_t a = k; a < end; a++) {
      if (!history[a].acked) continue;
      job->acked++;
      char name[16];
      snprintf(name, sizeof name, "lab%d", history[a].labeler);
      int found = 0;
      for (size_t i = 0; i < item->label_count; i++)
        found |= strcmp(item->labels[i].labeler, name) == 0 &&
                 strcmp(item->labels[i].label, labels[history[a].label]) == 0;
      if (!found) {
        job->missing++;
        fprintf(stderr, "acknowledged label %s by %s missing on %s (slot %u, worker %u)\n",
                labels[history[a].label], name, history[a].item, history[a].slot,
                slot_owner0[history[a].slot]);
      }
    }
    tally_free(item);
    k = end;
  }
  tally_close(&t);
  return NULL;
}

/* Reads every item ever submitted to: each acknowledged label is there, no
 * item has more labels than its overlap, two from one labeler, or one
 * nobody submitted; and the workers count exactly the labels the items
 * hold (items never submitted to have none). */
static void verify_labels(const char *when) {
  uint64_t start = now_ms();
  qsort(history, history_count, sizeof *history, attempt_by_item);
  verify_job_t jobs[VERIFIERS];
  pthread_t threads[VERIFIERS];
  size_t from = 0;
  for (int v = 0; v < VERIFIERS; v++) {
    size_t to = v == VERIFIERS - 1 ? history_count : history_count * (size_t)(v + 1) / VERIFIERS;
    while (to > from && to < history_count && strcmp(history[to].item, history[to - 1].item) == 0) to++;
    if (to < from) to = from;
    memset(&jobs[v], 0, sizeof jobs[v]);
    jobs[v].from = from;
    jobs[v].to = to;
    from = to;
    pthread_create(&threads[v], NULL, verify_thread, &jobs[v]);
  }
  verify_job_t sum = {0};
  for (int v = 0; v < VERIFIERS; v++) {
    pthread_join(threads[v], NULL);
    sum.items += jobs[v].items;
    sum.labels += jobs[v].labels;
    sum.acked += jobs[v].acked;
    sum.missing += jobs[v].missing;
    sum.over_overlap += jobs[v].over_overlap;
    sum.same_labeler_twice += jobs[v].same_labeler_twice;
    sum.unknown_label += jobs[v].unknown_label;
    sum.errors += jobs[v].errors;
    sum.done += jobs[v].done;
    sum.done_wrong += jobs[v].done_wrong;
  }
  uint64_t acked = 0;
  for (size_t k = 0; k < history_count; k++) acked += history[k].acked;
  CHECK_EQ_U64(sum.errors, 0);
  CHECK_EQ_U64(sum.acked, acked);
  CHECK_EQ_U64(sum.missing, 0);
  CHECK_EQ_U64(sum.over_overlap, 0);
  CHECK_EQ_U64(sum.same_labeler_twice, 0);
  CHECK_EQ_U64(sum.unknown_label, 0);
  CHECK_EQ_U64(sum.done_wrong, 0);
  /* Acknowledged labels are all stored; unacknowledged submits may or may
   * not have landed (the reply was lost, or a retry met its own lease
   * gone), never more. */
  CHECK(sum.labels >= acked);
  CHECK(sum.labels <= history_count);
  tally_t *t = client(5000);
  tally_status_t *st = NULL;
  CHECK(tally_status(t, PROJECT, &st) == 0);
  if (st) {
    CHECK_EQ_U64(st->workers_failed, 0);
    CHECK_EQ_U64(st->total.items, ITEMS);
    CHECK_EQ_U64(st->total.labels, sum.labels);
    CHECK_EQ_U64(st->total.done, sum.done);
  }
  tally_free(st);
  tally_close(&t);
  printf("%s: %llu submits (%llu acknowledged) on %llu items hold %llu labels, %llu items done; "
         "checked in %llu ms\n",
         when, (unsigned long long)history_count, (unsigned long long)acked,
         (unsigned long long)sum.items, (unsigned long long)sum.labels, (unsigned long long)sum.done,
         (unsigned long long)(now_ms() - start));
}

/* ------------------------------------------------------------ b) a worker dies */

/* The first ingested item whose slot worker `index` owns. */
static const char *item_on(int index) {
  for (int i = 0; i < ITEMS; i++)
    if (slot_index[slot_of_item(PROJECT, item_ids[i], strlen(item_ids[i]))] == index) return item_ids[i];
  return NULL;
}

/* Leases with a fresh handle as lab8 until it holds a task of worker
 * `index` (others are released); submits it. Returns 1 if acknowledged. */
static int probe_label_on(int index) {
  tally_t *t = client(2000);
  int acked = 0;
  for (int tries = 0; tries < 40 && !acked; tries++) {
    tally_task_t *task = NULL;
    if (tally_lease(t, "lab8", PROJECT, TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) {
      sleep_ms(20);
      continue;
    }
    if (slot_index[task->slot % TALLY_SLOT_COUNT] != index) {
      CHECK(tally_release(t, "lab8", task->slot, task->lease_id) == 0);
    } else {
      attempt_t a = {0};
      snprintf(a.item, sizeof a.item, "%s", task->item_id);
      a.slot = (uint16_t)task->slot;
      a.labeler = CROWD;
      a.label = (uint8_t)label_for(task->item_id, CROWD);
      a.acked = tally_submit(t, "lab8", task->slot, task->lease_id, labels[a.label], 50) == 0;
      attempt_add(&history, &history_count, &history_cap, &a);
      acked = a.acked;
    }
    tally_free(task);
  }
  tally_close(&t);
  return acked;
}

static void test_worker_kill(void) {
  const int victim = 1;
  const uint32_t victim_id = worker_id_of[victim];
  const char *victim_item = item_on(victim), *live_item = item_on(0);
  CHECK(victim_item != NULL && live_item != NULL);
  tally_t *probe = client(CROWD_TIMEOUT_MS);
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(probe, &map) == 0);
  uint64_t epoch_before = map ? map->epoch : 0;
  tally_free(map);

  crowd_start();
  wait_crowd_acks(BEFORE, 7u, 200, 10000);
  cluster_kill_worker(&cluster, victim, SIGKILL);
  uint64_t killed_at = now_ms();
  phase_set(OUTAGE);

  /* Its slots: a retryable failure, in bounded time; the others answer. */
  uint64_t t0 = now_ms();
  tally_item_state_t *item = NULL;
  int rc = tally_item_get(probe, PROJECT, victim_item, &item);
  uint64_t took = now_ms() - t0;
  tally_free(item);
  printf("outage: item get on the dead worker's slot: %s after %llu ms\n", tally_error_name(rc),
         (unsigned long long)took);
  CHECK(rc != 0 && tally_error_is_retryable(rc));
  CHECK(took < 4u * CROWD_TIMEOUT_MS + 1000u);
  item = NULL;
  CHECK(tally_item_get(probe, PROJECT, live_item, &item) == 0 && item != NULL);
  tally_free(item);

  /* The coordinator marks it DOWN after its heartbeat timeout (3 s); it
   * keeps its slots. */
  int down = 0;
  uint64_t down_after = 0;
  for (uint64_t until = now_ms() + 10000; !down && now_ms() < until;) {
    map = NULL;
    if (tally_cluster_map(probe, &map) == 0) {
      const tally_worker_info_t *info = map_worker(map, victim_id);
      down = info != NULL && info->state == TALLY_WORKER_DOWN;
      if (down) {
        down_after = now_ms() - killed_at;
        CHECK(map->epoch > epoch_before);
        CHECK_EQ_U64(map->unassigned_slots, 0);
        int same = 1;
        for (uint32_t s = 0; s < TALLY_SLOT_COUNT && s < map->slot_count; s++)
          same &= map->slot_owner[s] == slot_owner0[s];
        CHECK(same);
        for (int i = 0; i < WORKERS; i++) {
          const tally_worker_info_t *w = map_worker(map, worker_id_of[i]);
          if (i != victim) CHECK(w && w->state == TALLY_WORKER_UP);
        }
      }
    }
    tally_free(map);
    if (!down) sleep_ms(100);
  }
  CHECK(down);
  printf("outage: worker %u DOWN in the map %llu ms after the kill\n", victim_id,
         (unsigned long long)down_after);
  /* Now the client knows: that worker is UNAVAILABLE, the others count. */
  tally_status_t *st = NULL;
  CHECK(tally_status(probe, PROJECT, &st) == 0);
  for (size_t w = 0; st && w < st->worker_count; w++) {
    int i = index_of_worker_id(st->workers[w].worker_id);
    if (i == victim) {
      CHECK_EQ_U64(-st->workers[w].code, -TALLY_E_UNAVAILABLE);
    } else if (i >= 0) {
      CHECK_EQ_U64(-st->workers[w].code, 0);
      CHECK_EQ_U64(st->workers[w].items, items_per_worker0[i]);
    }
  }
  if (st) CHECK_EQ_U64(st->workers_failed, 1);
  tally_free(st);
  t0 = now_ms();
  rc = tally_item_get(probe, PROJECT, victim_item, &item);
  took = now_ms() - t0;
  tally_free(item);
  printf("outage: item get on the DOWN worker's slot: %s after %llu ms\n", tally_error_name(rc),
         (unsigned long long)took);
  /* The handle's map (just refreshed) says DOWN: UNAVAILABLE, not a wait
   * for a timeout. */
  CHECK_EQ_U64(-rc, -TALLY_E_UNAVAILABLE);
  CHECK(took < 4u * CROWD_TIMEOUT_MS + 1000u);

  /* The other two keep acknowledging labels. */
  wait_crowd_acks(OUTAGE, 7u & ~(1u << victim), 50, 10000);
  phase_set(RESTARTING);
  uint64_t restart_at = now_ms();
  CHECK(cluster_start_worker(&cluster, victim) == 0);
  printf("outage: worker %u was gone %llu ms; restart took %llu ms\n", victim_id,
         (unsigned long long)(restart_at - killed_at), (unsigned long long)(now_ms() - restart_at));
  phase_set(AFTER);
  /* The crowd's handles (opened before the kill) find it at its new
   * endpoint. */
  wait_crowd_acks(AFTER, 7u, 10, 8000);
  labeler_t sum;
  crowd_stop(&sum);
  print_crowd("kill-worker", &sum);
  for (int w = 0; w < WORKERS; w++) {
    CHECK(sum.acks[BEFORE][w] > 0);
    if (w == victim) {
      /* Nobody served its slots while it was dead. */
      CHECK_EQ_U64(sum.leases[OUTAGE][w], 0);
      CHECK_EQ_U64(sum.acks[OUTAGE][w], 0);
    } else {
      CHECK(sum.acks[OUTAGE][w] > 0);
    }
    CHECK(sum.acks[AFTER][w] > 0);
  }

  /* It rejoined: same id, its new endpoint, UP, the same slots. */
  map = NULL;
  CHECK(tally_cluster_map(probe, &map) == 0);
  const tally_worker_info_t *info = map_worker(map, victim_id);
  CHECK(info && info->state == TALLY_WORKER_UP);
  CHECK(info && strcmp(info->endpoint, cluster.worker_endpoints[victim]) == 0);
  if (map) {
    CHECK_EQ_U64(map->worker_count, WORKERS);
    int same = 1;
    for (uint32_t s = 0; s < TALLY_SLOT_COUNT && s < map->slot_count; s++) same &= map->slot_owner[s] == slot_owner0[s];
    CHECK(same);
  }
  tally_free(map);
  /* With its data: every worker holds the items it held before. */
  uint64_t items[WORKERS];
  CHECK_EQ_U64(worker_items(probe, items), WORKERS);
  for (int i = 0; i < WORKERS; i++) CHECK_EQ_U64(items[i], items_per_worker0[i]);
  item = NULL;
  CHECK(tally_item_get(probe, PROJECT, victim_item, &item) == 0 && item != NULL);
  tally_free(item);
  /* And it serves leases and labels again. */
  CHECK(probe_label_on(victim));
  tally_close(&probe);
  verify_labels("after the worker kill");
}

/* ------------------------------------------------------------ c) the coordinator dies */

static void test_coordinator_kill(void) {
  tally_t *probe = client(CROWD_TIMEOUT_MS);
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(probe, &map) == 0);
  uint64_t epoch_before = map ? map->epoch : 0;
  tally_free(map);
  crowd_start();
  wait_crowd_acks(BEFORE, 7u, 200, 10000);
  cluster_kill_coordinator(&cluster, SIGKILL);
  uint64_t killed_at = now_ms();
  phase_set(OUTAGE);

  /* The control plane is gone (a retryable error)... */
  map = NULL;
  int rc = tally_cluster_map(probe, &map);
  tally_free(map);
  printf("coordinator outage: cluster map: %s\n", tally_error_name(rc));
  CHECK(rc != 0 && tally_error_is_retryable(rc));
  /* ... the data plane is not: past the heartbeat timeout (3 s) every
   * worker still leases and acknowledges labels on the last map. */
  sleep_ms(3500);
  wait_crowd_acks(OUTAGE, 7u, 50, 10000);
  phase_set(RESTARTING);
  uint64_t restart_wall = wall_ms();
  CHECK(cluster_start_coordinator(&cluster) == 0);
  printf("coordinator outage: %llu ms\n", (unsigned long long)(now_ms() - killed_at));
  phase_set(AFTER);

  /* Back: the same map, an epoch that did not go backwards, every worker UP
   * and heartbeating to the new process. */
  int ready = 0;
  uint64_t epoch_after = 0;
  for (uint64_t until = now_ms() + 10000; !ready && now_ms() < until;) {
    map = NULL;
    if (tally_cluster_map(probe, &map) == 0) {
      epoch_after = map->epoch;
      ready = map->worker_count == WORKERS;
      for (int i = 0; i < WORKERS; i++) {
        const tally_worker_info_t *w = map_worker(map, worker_id_of[i]);
        ready &= w != NULL && w->state == TALLY_WORKER_UP && w->last_heartbeat_ms >= restart_wall &&
                 strcmp(w->endpoint, cluster.worker_endpoints[i]) == 0;
      }
      if (ready) {
        CHECK_EQ_U64(map->unassigned_slots, 0);
        int same = 1;
        for (uint32_t s = 0; s < TALLY_SLOT_COUNT && s < map->slot_count; s++)
          same &= map->slot_owner[s] == slot_owner0[s];
        CHECK(same);
      }
    }
    tally_free(map);
    if (!ready) sleep_ms(100);
  }
  CHECK(ready);
  CHECK(epoch_after >= epoch_before);
  printf("coordinator back: epoch %llu (was %llu)\n", (unsigned long long)epoch_after,
         (unsigned long long)epoch_before);
  wait_crowd_acks(AFTER, 7u, 50, 10000);
  labeler_t sum;
  crowd_stop(&sum);
  print_crowd("kill-coordinator", &sum);
  for (int w = 0; w < WORKERS; w++) {
    CHECK(sum.leases[OUTAGE][w] > 0);
    CHECK(sum.acks[OUTAGE][w] > 0);
    CHECK(sum.acks[AFTER][w] > 0);
  }
  uint64_t items[WORKERS];
  CHECK_EQ_U64(worker_items(probe, items), WORKERS);
  for (int i = 0; i < WORKERS; i++) CHECK_EQ_U64(items[i], items_per_worker0[i]);
  tally_close(&probe);
  verify_labels("after the coordinator kill");
}

int main(void) {
  harness_init(170);
  setvbuf(stdout, NULL, _IOLBF, 0);
  uint64_t start = now_ms();
  if (cluster_start(&cluster, WORKERS) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  item_ids = calloc(ITEMS, sizeof *item_ids);
  for (int i = 0; i < ITEMS; i++) snprintf(item_ids[i], sizeof item_ids[i], "%s-%06d", markets[i % MARKETS], i);
  tally_t *t = client(5000);
  setup_project(t);
  learn_map(t);
  test_ingest_spread(t);
  tally_close(&t);
  printf("a) done at %llu ms\n", (unsigned long long)(now_ms() - start));
  test_worker_kill();
  printf("b) done at %llu ms\n", (unsigned long long)(now_ms() - start));
  test_coordinator_kill();
  printf("c) done at %llu ms\n", (unsigned long long)(now_ms() - start));
  cluster_stop(&cluster);
  free(history);
  free(item_ids);
  return check_summary();
}
