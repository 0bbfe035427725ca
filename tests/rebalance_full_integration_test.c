/* A worker whose store is full takes no slot moves and no new follower
 * entries (docs/REPLICATION.md, "Operations", Full), on three real workers
 * with two copies of each slot (--replicas 2):
 *  1. worker 2's disk fills (a small RLIMIT_FSIZE set on the running
 *     process with prlimit(2), so its writes fail with EFBIG, then items of
 *     64 KiB until one of its batches fails); its heartbeat says so: the
 *     map's store_full, `tally cluster status` ("full" in the table, yes in
 *     the CSV's last column);
 *  2. worker 0 is drained: all its slots go to worker 1; no move targets
 *     worker 2 (its source's log names none, its slot count stays), and
 *     the slots worker 0 followed, or that worker 1 now owns, get no
 *     follower entry for worker 2 (the slots it follows do not grow);
 *  3. the limit lifted: worker 2 reopens its store ("space has returned"),
 *     reports room, and the rebalance gives it slots of worker 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "tally.pb-c.h"

#define PROJECT "full"

static cluster_t cluster;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Occurrences of `text` in worker i's log. */
static int worker_log_count(int i, const char *text) {
  char path[700];
  snprintf(path, sizeof path, "%s/worker-%d.log", cluster.dir, i);
  FILE *f = fopen(path, "r");
  if (f == NULL) return 0;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL) n += strstr(line, text) != NULL;
  fclose(f);
  return n;
}

/* What the map says of worker `id`: its slots (-1: no map) and whether
 * its store is full. */
static long worker_slots(uint32_t id, int *full) {
  Tally__ClusterMap *m = cluster_fetch_map(&cluster);
  if (m == NULL) return -1;
  long n = 0;
  for (size_t s = 0; s < m->n_slot_owner; s++) n += m->slot_owner[s] == id;
  for (size_t i = 0; full != NULL && i < m->n_workers; i++)
    if (m->workers[i]->id == id) *full = m->workers[i]->store_full;
  tally__cluster_map__free_unpacked(m, NULL);
  return n;
}

/* The slots whose followers in the map include worker `id` (-1: no map). */
static long worker_follows(uint32_t id) {
  Tally__ClusterMap *m = cluster_fetch_map(&cluster);
  if (m == NULL) return -1;
  long n = 0;
  for (size_t s = 0; s < m->n_slots; s++)
    for (size_t k = 0; k < m->slots[s]->n_followers; k++) n += m->slots[s]->followers[k] == id;
  tally__cluster_map__free_unpacked(m, NULL);
  return n;
}

/* Waits up to `seconds` for worker `id`'s store_full to be `want`; 0 or -1. */
static int wait_full(uint32_t id, int want, int seconds) {
  uint64_t deadline = now_ms() + (uint64_t)seconds * 1000u;
  while (now_ms() < deadline) {
    int full = -1;
    if (worker_slots(id, &full) >= 0 && full == want) return 0;
    sleep_ms(200);
  }
  return -1;
}

/* Ingests one item with `bytes` of content; 0 when acknowledged. */
static int ingest_big(tally_t *t, int n, const char *content) {
  char id[32];
  snprintf(id, sizeof id, "big-%d", n);
  tally_item_t item = {id, "es", 0, content, NULL, NULL};
  tally_ingest_result_t *res = NULL;
  int rc = tally_ingest(t, PROJECT, &item, 1, &res);
  int ok = rc == 0 && res != NULL && res->accepted == 1;
  tally_free(res);
  return ok ? 0 : -1;
}

/* The CSV row of worker `id` in `tally --format csv cluster status` ends
 * with `,suffix`. */
static int csv_row_ends(uint32_t id, const char *suffix) {
  static char out[65536];
  if (cluster_cli(&cluster, out, sizeof out, "--format csv cluster status") != 0) return 0;
  char start[32], end[32];
  snprintf(start, sizeof start, "%u,", id);
  snprintf(end, sizeof end, ",%s", suffix);
  for (char *line = strtok(out, "\r\n"); line != NULL; line = strtok(NULL, "\r\n"))
    if (strncmp(line, start, strlen(start)) == 0) {
      size_t len = strlen(line), elen = strlen(end);
      return len >= elen && strcmp(line + len - elen, end) == 0;
    }
  return 0;
}

/* The STATE cell of worker `id` in `tally cluster status --rows workers`. */
static int table_state_is(uint32_t id, const char *state) {
  static char out[65536];
  if (cluster_cli(&cluster, out, sizeof out, "cluster status --rows workers") != 0) return 0;
  for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    unsigned row_id = 0;
    char cell[32];
    if (sscanf(line, "%u %31s", &row_id, cell) == 2 && row_id == id) return strcmp(cell, state) == 0;
  }
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  harness_init(200);
  cluster.replicas = 2;
  if (cluster_start(&cluster, 3) != 0) {
    fprintf(stderr, "cluster did not start\n");
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  CHECK(tally_open(&t, cluster.coordinator_endpoint, 3000) == 0);
  const char *labels[] = {"ok", "spam"}, *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = PROJECT;
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  spec.lease_seconds = 30;
  tally_project_t *created = NULL;
  CHECK(t != NULL && tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  Tally__ClusterMap *map = cluster_fetch_map(&cluster);
  uint32_t id[3] = {0, 0, 0};
  for (int i = 0; i < 3 && map != NULL; i++) id[i] = cluster_worker_id(&cluster, map, i);
  if (map) tally__cluster_map__free_unpacked(map, NULL);
  CHECK(id[0] != 0 && id[1] != 0 && id[2] != 0);
  if (t == NULL || id[2] == 0) {
    if (t) tally_close(&t);
    cluster_stop(&cluster);
    return check_summary();
  }
  CHECK(wait_full(id[2], 0, 5) == 0);
  CHECK(csv_row_ends(id[2], "no"));

  /* 1. Worker 2's disk fills: a file size limit above the size its log and
   * WAL have now (room for its log lines), then big items until its
   * heartbeat reports the store full. */
  char log2[700];
  snprintf(log2, sizeof log2, "%s/worker-2.log", cluster.dir);
  long limit = file_size(log2);
  if (cluster_worker_wal_size(&cluster, 2) > limit) limit = cluster_worker_wal_size(&cluster, 2);
  limit += 2 * 1024 * 1024;
  CHECK(harness_set_file_limit(cluster.worker_pids[2], (rlim_t)limit) == 0);
  char *content = malloc(64 * 1024 + 1);
  memset(content, 'x', 64 * 1024);
  content[64 * 1024] = '\0';
  int full = 0, big = 0;
  for (; big < 600 && !full; big++) {
    ingest_big(t, big, content);
    if (big % 8 == 7) full = wait_full(id[2], 1, 1) == 0;
  }
  free(content);
  printf("worker 2 reported its store full after %d items of 64 KiB (limit %ld bytes)\n", big, limit);
  CHECK(full);
  CHECK(worker_log_count(2, "disk full") > 0);
  CHECK(csv_row_ends(id[2], "yes"));
  CHECK(table_state_is(id[2], "full"));
  long slots2 = worker_slots(id[2], NULL), follows2 = worker_follows(id[2]);
  CHECK(slots2 > 0);
  CHECK(follows2 > 0);

  /* 2. Worker 0 drained while worker 2 is full: its slots go to worker 1
   * only. */
  long slots1 = worker_slots(id[1], NULL);
  tally_map_t *after = NULL;
  CHECK(tally_worker_drain(t, id[0], 0, &after) == 0);
  tally_free(after);
  char to_full[64];
  snprintf(to_full, sizeof to_full, "to worker %u at", id[2]);
  uint64_t start = now_ms();
  long left = -1;
  while (now_ms() < start + 60000u && left != 0) {
    sleep_ms(250);
    left = worker_slots(id[0], NULL);
    long n2 = worker_slots(id[2], NULL), f2 = worker_follows(id[2]);
    CHECK(n2 < 0 || n2 == slots2);    /* no slot came to the full worker */
    CHECK(f2 < 0 || f2 <= follows2); /* nor a follower entry */
  }
  long gained = worker_slots(id[1], NULL) - slots1;
  int moves_to_full = worker_log_count(0, to_full);
  printf("drain while full: %ld slots left on worker 0 after %llu ms, worker 1 gained %ld; "
         "%d moves to the full worker; it follows %ld slots (%ld before)\n",
         left, (unsigned long long)(now_ms() - start), gained, moves_to_full,
         worker_follows(id[2]), follows2);
  CHECK(left == 0);
  CHECK(moves_to_full == 0);
  CHECK(wait_full(id[2], 1, 1) == 0); /* still full */

  /* 3. Space back: worker 2 reopens its store, reports room, and the drain
   * gives it slots again. */
  CHECK(harness_set_file_limit(cluster.worker_pids[2], RLIM_INFINITY) == 0);
  CHECK(wait_full(id[2], 0, 30) == 0);
  CHECK(worker_log_count(2, "space has returned") > 0);
  CHECK(csv_row_ends(id[2], "no"));
  start = now_ms();
  long now2 = slots2;
  while (now_ms() < start + 60000u && now2 <= slots2) {
    sleep_ms(250);
    now2 = worker_slots(id[2], NULL);
  }
  printf("room again: worker 2 owns %ld slots (%ld while full) after %llu ms\n", now2, slots2,
         (unsigned long long)(now_ms() - start));
  CHECK(now2 > slots2);
  CHECK(worker_log_count(0, to_full) + worker_log_count(1, to_full) > 0);

  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
