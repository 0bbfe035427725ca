/* quality as an object: built from a store, its statistics row cache and a
 * configuration only (no worker, no sockets). The sampling secret is made
 * once and kept across instances; sampling follows the project's rate;
 * a label's statistics go through the row cache into the batch. A real
 * RocksDB in a temporary directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_cache.h"
#include "keys.h"
#include "quality.h"
#include "row_cache.h"
#include "slot.h"
#include "store.h"
#include "tally_store.pb-c.h"

static char dir[] = "/tmp/tally-quality-XXXXXX";

static void cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* A configuration with project 7 "q" (labels ok/spam, market es) at `rate`. */
static config_cache_t *config_with_rate(double rate) {
  char *labels[] = {"ok", "spam"}, *markets[] = {"es"};
  Tally__Project project = TALLY__PROJECT__INIT;
  project.id = 7;
  project.name = "q";
  project.n_labels = 2;
  project.labels = labels;
  project.n_markets = 1;
  project.markets = markets;
  project.audit_rate = rate;
  project.overlap = 1;
  Tally__Project *projects[] = {&project};
  Tally__ClusterConfig config = TALLY__CLUSTER_CONFIG__INIT;
  config.version = 1;
  config.n_projects = 1;
  config.projects = projects;
  config_cache_t *c = config_cache_new();
  CHECK(c != NULL && config_cache_copy(c, &config) == 0);
  return c;
}

/* Items of `n` sampled for labeler "l" under `q`. */
static int sampled_of(quality_t *q, const Tally__Project *p, int n) {
  int sampled = 0;
  char id[32];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "item-%d", i);
    sampled += quality_is_sampled(q, p, "es", id, "l");
  }
  return sampled;
}

int main(void) {
  check_deadline(60, cleanup);
  if (mkdtemp(dir) == NULL) return 1;
  atexit(cleanup);
  char path[64];
  snprintf(path, sizeof path, "%s/db", dir);
  store_t *s = NULL;
  CHECK(store_open(&s, path) == 0);
  if (s == NULL) return check_summary();
  static const uint8_t owned[TALLY_SLOT_COUNT];
  row_cache_t *rows = row_cache_new(s, STORE_CF_STATS, &tally__stats_row__descriptor, 64);
  config_cache_t *config = config_with_rate(0.3);
  const Tally__Project *p = config_cache_project(config, "q");
  CHECK(rows != NULL && p != NULL);

  /* A fresh store: the secret is made and put into the open batch. */
  quality_t *q = quality_new(s, rows, config, owned);
  CHECK(q != NULL);
  CHECK(quality_recover(q) == 0);
  CHECK(store_pending(s) > 0);
  CHECK(store_commit(s, 1) == 0);
  int first = sampled_of(q, p, 10000);
  int swapped = 0;
  for (int i = 0; i < 64; i++) {
    char id[16];
    int len = snprintf(id, sizeof id, "i%d", i);
    swapped += quality_candidates_swapped(q, "l", id, (size_t)len) << (i % 16);
  }
  /* About 30% of 10,000 (sd 46). */
  printf("sampled %d of 10000 at rate 0.3\n", first);
  CHECK(abs(first - 3000) < 3 * 46 + 1);

  /* A second instance on the same store finds the same secret: the same
   * items are sampled, the same candidates swapped; nothing is written. */
  quality_t *again = quality_new(s, rows, config, owned);
  CHECK(quality_recover(again) == 0);
  CHECK(store_pending(s) == 0);
  CHECK(sampled_of(again, p, 10000) == first);
  int swapped_again = 0;
  for (int i = 0; i < 64; i++) {
    char id[16];
    int len = snprintf(id, sizeof id, "i%d", i);
    swapped_again += quality_candidates_swapped(again, "l", id, (size_t)len) << (i % 16);
  }
  CHECK(swapped_again == swapped);
  quality_destroy(&again);
  CHECK(again == NULL);
  quality_destroy(&again); /* safe twice */

  /* Rates 0 and 1. */
  config_cache_t *never = config_with_rate(0.0), *always = config_with_rate(1.0);
  CHECK(sampled_of(q, config_cache_project(never, "q"), 1000) == 0);
  CHECK(sampled_of(q, config_cache_project(always, "q"), 1000) == 1000);
  config_cache_destroy(&never);
  config_cache_destroy(&always);

  /* A label: its row is in the cache (a change the worker must write),
   * then in the batch after a flush, then in storage. */
  uint64_t now = 20000ull * 86400000ull + 5;
  item_record_t *rec = item_record_new("es", 0, "content", "spam", 1, 1, now);
  CHECK(rec != NULL);
  CHECK(row_cache_dirty_count(rows) == 0);
  quality_on_label(q, p, rec, "l", "spam", 1200, now);
  /* Gold counts only through quality_on_gold (a label does not). */
  quality_on_gold(q, p, rec, "l", "spam", now);
  quality_on_gold(q, p, rec, "l", "ham", now);
  CHECK(row_cache_dirty_count(rows) == 1);
  CHECK(row_cache_flush(rows) == 1);
  CHECK(row_cache_dirty_count(rows) == 0);
  CHECK(store_commit(s, 1) == 0);
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_stats(key, 7, 20000, 1, "es", "l");
  char *value = NULL;
  size_t len = 0;
  CHECK(store_get(s, STORE_CF_STATS, key, key_len, &value, &len) == 1);
  Tally__StatsRow *row = value ? tally__stats_row__unpack(NULL, len, (uint8_t *)value) : NULL;
  CHECK(row != NULL && row->labels == 1 && row->gold_total == 2 && row->gold_hits == 1);
  if (row) tally__stats_row__free_unpacked(row, NULL);
  free(value);
  item_record_free(&rec);

  quality_destroy(&q);
  row_cache_destroy(&rows);
  config_cache_destroy(&config);
  store_close(&s);
  return check_summary();
}
