/* Group commit: no reply before the WAL sync that makes its write durable,
 * and no wait for one where nothing is written: a lease is a reservation in
 * memory (DESIGN.md, "Leases"), answered with its group's burst.
 *
 * kill -9 cannot show a reply sent too early (the page cache keeps an
 * unsynced write alive), so the worker runs with the slow_sync shim
 * (LD_PRELOAD): every fsync/fdatasync of tally-worker takes SYNC_MS longer.
 * Then every acknowledged write must have taken at least SYNC_MS, and a
 * request that arrives while another's sync runs must wait for a sync of
 * its own: its reply comes at least SYNC_MS after the other's. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"

#define SYNC_MS 250
#define WAVE 40 /* requests sent at once: groups large enough to sync on the pool */

static cluster_t cluster;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) exit(1);
  return t;
}

typedef struct {
  const char *labeler;
  tally_task_t *task;
  int rc;
  double done_ms;
} submit_job_t;

static void *submit_thread(void *arg) {
  submit_job_t *job = arg;
  tally_t *t = client();
  job->rc = tally_submit(t, job->labeler, job->task->slot, job->task->lease_id, "ok", 5);
  job->done_ms = now_ms();
  tally_close(&t);
  return NULL;
}

static tally_task_t *lease_one(tally_t *t, const char *labeler, double *took_ms) {
  tally_task_t *task = NULL;
  double start = now_ms();
  CHECK(tally_lease(t, labeler, "gc", TALLY_STAGE_LABEL, 0, &task) == 0);
  *took_ms = now_ms() - start;
  CHECK(task != NULL);
  return task;
}

int main(void) {
  harness_init(120);
  setenv("LD_PRELOAD", SLOW_SYNC_PATH, 1);
  setenv("TALLY_TEST_SYNC_DELAY_PROGRAM", "tally-worker", 1);
  setenv("TALLY_TEST_SYNC_DELAY_MS", "250", 1);
  /* A sanitizer runtime wants to come first; the shim does not care. Added
   * to the options the sanitizer build's tests run with (a report file). */
  const char *asan_options = getenv("ASAN_OPTIONS");
  char options[1024];
  snprintf(options, sizeof options, "%s%sverify_asan_link_order=0",
           asan_options ? asan_options : "", asan_options && asan_options[0] ? ":" : "");
  setenv("ASAN_OPTIONS", options, 1);
  if (cluster_start(&cluster, 1) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  unsetenv("LD_PRELOAD");

  tally_t *t = client();
  const char *labels[] = {"ok", "spam"}, *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = "gc";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  char people[2 + 2 * WAVE][16];
  for (int i = 0; i < 2 + 2 * WAVE; i++) {
    snprintf(people[i], sizeof people[i], i < 2 ? "gc-%c" : "gc-%03d", i < 2 ? 'a' + i : i);
    tally_labeler_t l = {people[i], TALLY_ROLE_LABELER, markets, 1, NULL};
    tally_labeler_t *out = NULL;
    CHECK(tally_labeler_add(t, &l, &out) == 0);
    tally_free(out);
  }

  /* Ingest: acknowledged only after a sync. */
  enum { N_ITEMS = 8 + 2 * WAVE };
  tally_item_t items[N_ITEMS];
  char ids[N_ITEMS][16];
  for (int i = 0; i < N_ITEMS; i++) {
    snprintf(ids[i], sizeof ids[i], "gc-%d", i);
    items[i] = (tally_item_t){ids[i], "es", 0, "{}", NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  double start = now_ms();
  CHECK(tally_ingest(t, "gc", items, N_ITEMS, &res) == 0);
  double took = now_ms() - start;
  CHECK(res != NULL && res->count == N_ITEMS && res->accepted == N_ITEMS);
  tally_free(res);
  printf("ingest acknowledged after %.0f ms (sync %d ms)\n", took, SYNC_MS);
  CHECK(took >= SYNC_MS);

  /* A lease is not a write: it does not wait for a sync. */
  double lease_a_ms, lease_b_ms;
  tally_task_t *a = lease_one(t, "gc-a", &lease_a_ms);
  tally_task_t *b = lease_one(t, "gc-b", &lease_b_ms);
  printf("leases answered after %.0f and %.0f ms\n", lease_a_ms, lease_b_ms);
  CHECK(lease_a_ms < SYNC_MS);
  CHECK(lease_b_ms < SYNC_MS);
  /* The leases' counters go out with the tick's write (worker.c): let it
   * end, so that A's sync is A's own. */
  struct timespec settle = {0, (2 * SYNC_MS + 100) * 1000000L};
  nanosleep(&settle, NULL);

  /* Submit A; while A's sync runs, submit B. B's write is not in A's sync,
   * so its reply must wait for the next one. */
  submit_job_t ja = {"gc-a", a, -1, 0}, jb = {"gc-b", b, -1, 0};
  pthread_t th;
  double t0 = now_ms();
  CHECK(pthread_create(&th, NULL, submit_thread, &ja) == 0);
  struct timespec gap = {0, (SYNC_MS / 3) * 1000000L};
  nanosleep(&gap, NULL);
  submit_thread(&jb);
  pthread_join(th, NULL);
  CHECK(ja.rc == 0);
  CHECK(jb.rc == 0);
  printf("submit A acknowledged after %.0f ms, B (sent %d ms later) after %.0f ms\n",
         ja.done_ms - t0, SYNC_MS / 3, jb.done_ms - t0);
  CHECK(ja.done_ms - t0 >= SYNC_MS);
  CHECK(jb.done_ms - ja.done_ms >= SYNC_MS * 0.8);

  /* Both labels are there. */
  for (int i = 0; i < 2; i++) {
    tally_task_t *task = i == 0 ? a : b;
    tally_item_state_t *item = NULL;
    CHECK(tally_item_get(t, "gc", task->item_id, &item) == 0);
    CHECK(item != NULL && item->label_count == 1);
    tally_free(item);
  }
  tally_free(a);
  tally_free(b);

  /* Leases through the asynchronous interface come back without a sync;
   * then two waves of WAVE submits, the second sent while the first one's
   * sync runs: the worker gets groups large enough to sync on its thread
   * pool and keeps collecting the second wave meanwhile; still no
   * acknowledgement before the sync of its batch. */
  tally_async_t *as = NULL;
  CHECK(tally_async_new(&as, t) == 0);
  double sent[2 * WAVE], done[2 * WAVE];
  tally_task_t tasks[2 * WAVE];
  int have[2 * WAVE];
  memset(have, 0, sizeof have);
  int granted = 0, completed = 0;
  for (int i = 0; i < 2 * WAVE; i++) {
    sent[i] = now_ms();
    CHECK(tally_async_lease(as, people[2 + i], "gc", TALLY_STAGE_LABEL, 0, (void *)(intptr_t)i) == 0);
  }
  double deadline = now_ms() + 10000, soonest_lease = 1e300, slowest_lease = 0;
  while (completed < 2 * WAVE && now_ms() < deadline) {
    tally_completion_t out[16];
    int n = tally_async_poll(as, 100, out, 16);
    CHECK(n >= 0);
    for (int k = 0; k < n; k++) {
      int i = (int)(intptr_t)out[k].tag;
      double took_ms = now_ms() - sent[i];
      if (took_ms < soonest_lease) soonest_lease = took_ms;
      if (took_ms > slowest_lease) slowest_lease = took_ms;
      completed++;
      if (out[k].status == 0 && out[k].has_task) {
        granted++;
        tasks[i] = out[k].task; /* slot and lease id are all the submit needs */
        have[i] = 1;
      }
    }
  }
  CHECK(completed == 2 * WAVE);
  CHECK(granted == 2 * WAVE);
  printf("async leases answered after %.0f to %.0f ms\n", soonest_lease, slowest_lease);
  CHECK(soonest_lease < SYNC_MS);
  nanosleep(&settle, NULL); /* the tick's write of the leases' counters */
  completed = 0;
  for (int wave = 0; wave < 2; wave++) {
    if (wave == 1) nanosleep(&gap, NULL);
    for (int i = wave * WAVE; i < (wave + 1) * WAVE; i++) {
      sent[i] = now_ms();
      if (!have[i]) continue;
      CHECK(tally_async_submit(as, people[2 + i], tasks[i].slot, tasks[i].lease_id, "ok", 1,
                               (void *)(intptr_t)i) == 0);
    }
  }
  int acked = 0;
  deadline = now_ms() + 10000;
  while (completed < granted && now_ms() < deadline) {
    tally_completion_t out[16];
    int n = tally_async_poll(as, 100, out, 16);
    CHECK(n >= 0);
    for (int k = 0; k < n; k++) {
      int i = (int)(intptr_t)out[k].tag;
      done[i] = now_ms();
      completed++;
      acked += out[k].status == 0;
    }
  }
  CHECK(acked == 2 * WAVE);
  double first_done = 1e300, first_second_wave = 1e300, soonest = 1e300;
  for (int i = 0; i < 2 * WAVE; i++) {
    if (!have[i]) continue;
    if (done[i] - sent[i] < soonest) soonest = done[i] - sent[i];
    if (done[i] < first_done) first_done = done[i];
    if (i >= WAVE && done[i] < first_second_wave) first_second_wave = done[i];
  }
  printf("async submit waves: fastest acknowledged after %.0f ms; second wave's first reply %.0f ms "
         "after the first reply\n", soonest, first_second_wave - first_done);
  CHECK(soonest >= SYNC_MS);
  CHECK(first_second_wave - first_done >= SYNC_MS * 0.8);
  tally_async_destroy(&as);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
