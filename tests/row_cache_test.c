/* row_cache: rows read once, changed in memory, written into the open
 * batch by flush, forgotten past capacity or on clear; a real RocksDB in a
 * temporary directory underneath. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "row_cache.h"
#include "store.h"
#include "tally.pb-c.h"

static char dir[] = "/tmp/tally-row-cache-XXXXXX";

static void cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* The stored row of `key` through the open batch, or NULL. */
static Tally__OpsRow *stored(store_t *s, const char *key) {
  char *value = NULL;
  size_t len = 0;
  if (store_get(s, STORE_CF_OPS, key, strlen(key), &value, &len) != 1) return NULL;
  Tally__OpsRow *row = tally__ops_row__unpack(NULL, len, (uint8_t *)value);
  free(value);
  return row;
}

static Tally__OpsRow *new_row(uint64_t leases) {
  Tally__OpsRow *row = malloc(sizeof *row);
  tally__ops_row__init(row);
  row->market = strdup("es");
  row->leases = leases;
  return row;
}

static uint64_t stored_leases(store_t *s, const char *key) {
  Tally__OpsRow *row = stored(s, key);
  uint64_t n = row ? row->leases : UINT64_MAX;
  if (row) tally__ops_row__free_unpacked(row, NULL);
  return n;
}

int main(void) {
  check_deadline(30, cleanup);
  if (mkdtemp(dir) == NULL) return 1;
  atexit(cleanup);
  char path[64];
  snprintf(path, sizeof path, "%s/db", dir);
  store_t *s = NULL;
  CHECK(store_open(&s, path) == 0);
  row_cache_t *c = row_cache_new(s, STORE_CF_OPS, &tally__ops_row__descriptor, 2);
  CHECK(c != NULL);

  /* Absent: the caller inserts; nothing reaches storage before a flush. */
  CHECK(row_cache_update(c, "a", 1) == NULL);
  row_cache_insert(c, "a", 1, &new_row(1)->base);
  Tally__OpsRow *a = (Tally__OpsRow *)row_cache_update(c, "a", 1);
  CHECK(a != NULL && a->leases == 1);
  a->leases += 10;
  CHECK(stored(s, "a") == NULL);
  CHECK(row_cache_flush(c) == 1);
  CHECK_EQ_U64(stored_leases(s, "a"), 11);
  CHECK(row_cache_flush(c) == 0); /* clean rows are not written again */

  /* Changed again in memory, flushed again: the batch holds the latest. */
  a = (Tally__OpsRow *)row_cache_update(c, "a", 1);
  a->leases++;
  CHECK(row_cache_flush(c) == 1);
  CHECK_EQ_U64(stored_leases(s, "a"), 12);
  CHECK(store_commit(s, 1) == 0);

  /* A row stored before the cache knew it is read once, then kept. */
  Tally__OpsRow *b = new_row(5);
  size_t len = tally__ops_row__get_packed_size(b);
  uint8_t *buf = malloc(len);
  tally__ops_row__pack(b, buf);
  store_put(s, STORE_CF_OPS, "b", 1, buf, len);
  free(buf);
  tally__ops_row__free_unpacked(b, NULL);
  b = (Tally__OpsRow *)row_cache_update(c, "b", 1);
  CHECK(b != NULL && b->leases == 5);
  b->leases = 6;
  CHECK(row_cache_update(c, "b", 1) == &b->base);

  /* Past capacity (2) a flush writes the dirty rows, then forgets all:
   * the next update reads storage again and sees the flushed value. */
  row_cache_insert(c, "c", 1, &new_row(7)->base);
  CHECK(row_cache_flush(c) == 2); /* b and c; a is clean */
  CHECK_EQ_U64(stored_leases(s, "b"), 6);
  CHECK_EQ_U64(stored_leases(s, "c"), 7);
  b = (Tally__OpsRow *)row_cache_update(c, "b", 1);
  CHECK(b != NULL && b->leases == 6);

  /* Clear: flushed first, then a write around the cache is seen. */
  b->leases = 8;
  row_cache_clear(c);
  CHECK_EQ_U64(stored_leases(s, "b"), 8);
  Tally__OpsRow *around = new_row(100);
  len = tally__ops_row__get_packed_size(around);
  buf = malloc(len);
  tally__ops_row__pack(around, buf);
  store_put(s, STORE_CF_OPS, "b", 1, buf, len);
  free(buf);
  tally__ops_row__free_unpacked(around, NULL);
  b = (Tally__OpsRow *)row_cache_update(c, "b", 1);
  CHECK(b != NULL && b->leases == 100);

  /* Durable after the batch is written: reopened storage has the rows. */
  CHECK(row_cache_flush(c) == 1);
  CHECK(store_commit(s, 1) == 0);
  row_cache_destroy(&c);
  store_close(&s);
  CHECK(store_open(&s, path) == 0);
  CHECK_EQ_U64(stored_leases(s, "a"), 12);
  CHECK_EQ_U64(stored_leases(s, "b"), 100);
  CHECK_EQ_U64(stored_leases(s, "c"), 7);
  store_close(&s);
  return check_summary();
}
