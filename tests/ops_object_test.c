/* ops as an object: built from a store, its operations row cache, a
 * configuration and a queue index only (no worker, no sockets). One
 * counted event (a lease granted) goes through the row cache into the
 * batch and lands in its (project, day, market, stage) row; a second one
 * the same day adds to the same row. A real RocksDB in a temporary
 * directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_cache.h"
#include "keys.h"
#include "ops.h"
#include "queue_index.h"
#include "row_cache.h"
#include "store.h"

static char dir[] = "/tmp/tally-ops-XXXXXX";

static void cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* The stored OpsRow of `key`, or NULL when there is none. */
static Tally__OpsRow *stored_row(store_t *s, const uint8_t *key, size_t key_len) {
  char *value = NULL;
  size_t len = 0;
  Tally__OpsRow *row = NULL;
  if (store_get(s, STORE_CF_OPS, key, key_len, &value, &len) == 1)
    row = tally__ops_row__unpack(NULL, len, (uint8_t *)value);
  free(value);
  return row;
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
  row_cache_t *rows = row_cache_new(s, STORE_CF_OPS, &tally__ops_row__descriptor, 64);
  config_cache_t *config = config_cache_new();
  queue_index_t *queues = queue_index_new();
  CHECK(rows != NULL && config != NULL && queues != NULL);

  ops_t *o = ops_new(s, rows, config, queues);
  CHECK(o != NULL);

  /* A lease of stage LABEL in market "es" of project 7 on day 20000: a
   * dirty row in the cache (a change the worker must write), nothing in
   * storage until the flush and the commit. */
  uint64_t now = 20000ull * 86400000ull + 5;
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_ops(key, 7, 20000, "es", TALLY__STAGE__STAGE_LABEL);
  CHECK(row_cache_dirty_count(rows) == 0);
  ops_on_lease(o, 7, "es", TALLY__STAGE__STAGE_LABEL, now);
  CHECK(row_cache_dirty_count(rows) == 1);
  CHECK(stored_row(s, key, key_len) == NULL);
  CHECK(row_cache_flush(rows) == 1);
  CHECK(store_commit(s, 1) == 0);
  Tally__OpsRow *row = stored_row(s, key, key_len);
  CHECK(row != NULL && row->leases == 1 && row->ingested == 0 && row->completed == 0 &&
        row->day == 20000 && row->stage == TALLY__STAGE__STAGE_LABEL && row->market != NULL &&
        strcmp(row->market, "es") == 0);
  if (row) tally__ops_row__free_unpacked(row, NULL);

  /* The same day again, through a new instance on the same cache: the same
   * row, counted twice; another market's row is left alone. */
  ops_destroy(&o);
  CHECK(o == NULL);
  ops_destroy(&o); /* safe twice */
  o = ops_new(s, rows, config, queues);
  CHECK(o != NULL);
  ops_on_lease(o, 7, "es", TALLY__STAGE__STAGE_LABEL, now + 1000);
  CHECK(row_cache_flush(rows) == 1);
  CHECK(store_commit(s, 1) == 0);
  row = stored_row(s, key, key_len);
  CHECK(row != NULL && row->leases == 2);
  if (row) tally__ops_row__free_unpacked(row, NULL);
  key_len = keys_ops(key, 7, 20000, "fr", TALLY__STAGE__STAGE_LABEL);
  CHECK(stored_row(s, key, key_len) == NULL);

  ops_destroy(&o);
  queue_index_destroy(&queues);
  config_cache_destroy(&config);
  row_cache_destroy(&rows);
  store_close(&s);
  return check_summary();
}
