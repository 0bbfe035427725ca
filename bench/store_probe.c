/* store-probe: what the storage engine and the memory of this machine cost,
 * measured without Tally around them, as the floor under the worker's
 * figures (docs/PERFORMANCE.md, "What stands in the way").
 *
 *   store-probe [--dir DIR] [--seconds S] [--items N] [--json FILE]
 *
 * 1. "cycle-writes": the RocksDB writes of one label cycle (overlap 1) as
 *    the worker makes them (column families items 64 MB, queue and leases
 *    16 MB write buffers, LZ4, bloom filters; WAL on, not synced), keys led
 *    by a 2-byte slot, 75 cycles per batch (the batch size the worker forms
 *    at 4 x 64 requests in flight), on one thread, after ingesting N items:
 *     - now (leases in memory, issue 18): the submit's put of the 250-byte
 *       item record and the delete of its queue entry (the item leaves its
 *       queue), 2 changes a cycle, plus once per batch the worker's meta
 *       record and one statistics and one operations row;
 *     - before (for comparison): the item record put at lease and at
 *       submit, a lease record put and its delete, the queue delete, 5
 *       changes a cycle.
 *    Reports changes and microseconds of write per cycle and the cycles/s
 *    one writer thread could carry at most.
 * 2. "memory": dependent random loads over 1, 8 and 64 MB: nanoseconds
 *    per load (why a skiplist insert costs microseconds here).
 *
 * Prints a table; with --json, one run record per figure (run_record.h) in
 * FILE.N.json. Removes its database directory when done.
 */
#include <errno.h>
#include <getopt.h>
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run_record.h"

#define CYCLES_PER_BATCH 75
#define RECORD_BYTES 250

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* slot (2 bytes) | project (4) | item id, like the worker's keys. */
static size_t item_key(char *out, const char *tag, uint32_t id) {
  uint32_t slot = (id * 2654435761u) >> 22;
  out[0] = (char)(slot >> 8);
  out[1] = (char)slot;
  memcpy(out + 2, "\0\0\0\1", 4);
  return 6 + (size_t)sprintf(out + 6, "%sitem-%08u", tag, id);
}

static int die_on(char *err, const char *what) {
  if (err == NULL) return 0;
  fprintf(stderr, "store-probe: %s: %s\n", what, err);
  free(err);
  exit(1);
}

typedef struct {
  double us_per_cycle;
  double cycles;
  double changes_per_cycle;
} cycle_result_t;

/* before: the cycle of the design with stored leases (5 changes). */
static cycle_result_t probe_cycle_writes(const char *dir, double seconds, uint32_t items,
                                         int before) {
  rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom(10));
  rocksdb_block_based_options_set_block_cache(table, rocksdb_cache_create_lru(64u << 20));
  const char *names[] = {"default", "items", "queue", "leases"};
  rocksdb_options_t *cf_opts[4];
  for (int i = 0; i < 4; i++) {
    cf_opts[i] = rocksdb_options_create();
    rocksdb_options_set_block_based_table_factory(cf_opts[i], table);
    rocksdb_options_set_compression(cf_opts[i], rocksdb_lz4_compression);
    rocksdb_options_set_write_buffer_size(cf_opts[i], i == 1 ? 64u << 20 : 16u << 20);
  }
  rocksdb_options_set_create_if_missing(cf_opts[0], 1);
  rocksdb_options_set_create_missing_column_families(cf_opts[0], 1);
  rocksdb_options_set_max_background_jobs(cf_opts[0], 2);
  rocksdb_column_family_handle_t *cf[4];
  char *err = NULL;
  rocksdb_t *db = rocksdb_open_column_families(cf_opts[0], dir, 4, names,
                                               (const rocksdb_options_t *const *)cf_opts, cf, &err);
  die_on(err, "open");
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_writebatch_t *b = rocksdb_writebatch_create();
  char key[64], value[RECORD_BYTES];
  memset(value, 'r', sizeof value);

  /* Ingest: item record and queue entry per item. */
  for (uint32_t id = 0; id < items; id++) {
    size_t n = item_key(key, "", id);
    rocksdb_writebatch_put_cf(b, cf[1], key, n, value, sizeof value);
    rocksdb_writebatch_put_cf(b, cf[2], key, n, key + 6, n - 6);
    if (id % 1000 == 999 || id + 1 == items) {
      rocksdb_write(db, wo, b, &err);
      die_on(err, "ingest");
      rocksdb_writebatch_clear(b);
    }
  }

  uint64_t x = 88172645463325252ull;
  uint32_t pending[CYCLES_PER_BATCH];
  int n_pending = 0;
  double spent = 0, cycles = 0, changes = 0, start = now_s();
  char row[200];
  memset(row, 's', sizeof row);
  while (!before && now_s() - start < seconds) {
    /* One batch: the submits of 75 cycles whose leases took nothing. */
    for (int i = 0; i < CYCLES_PER_BATCH; i++) {
      uint32_t id = (uint32_t)(xorshift(&x) % items);
      size_t n = item_key(key, "", id);
      rocksdb_writebatch_put_cf(b, cf[1], key, n, value, sizeof value);
      rocksdb_writebatch_delete_cf(b, cf[2], key, n);
    }
    rocksdb_writebatch_put_cf(b, cf[0], "meta", 4, row, sizeof row);
    rocksdb_writebatch_put_cf(b, cf[0], "stats-row", 9, row, sizeof row);
    rocksdb_writebatch_put_cf(b, cf[0], "ops-row", 7, row, sizeof row);
    cycles += CYCLES_PER_BATCH;
    changes += 2 * CYCLES_PER_BATCH + 3;
    double a = now_s();
    rocksdb_write(db, wo, b, &err);
    spent += now_s() - a;
    die_on(err, "write");
    rocksdb_writebatch_clear(b);
  }
  while (before && now_s() - start < seconds) {
    /* The submits of the previous batch's leases, then new leases. */
    for (int i = 0; i < n_pending; i++) {
      size_t n = item_key(key, "", pending[i]);
      rocksdb_writebatch_put_cf(b, cf[1], key, n, value, sizeof value);
      rocksdb_writebatch_delete_cf(b, cf[3], key, n);
    }
    cycles += n_pending;
    changes += 5.0 * n_pending;
    n_pending = 0;
    for (int i = 0; i < CYCLES_PER_BATCH; i++) {
      uint32_t id = (uint32_t)(xorshift(&x) % items);
      size_t n = item_key(key, "", id);
      rocksdb_writebatch_put_cf(b, cf[1], key, n, value, sizeof value);
      rocksdb_writebatch_delete_cf(b, cf[2], key, n);
      rocksdb_writebatch_put_cf(b, cf[3], key, n, "lease-record-40-bytes-of-lease-state....", 40);
      pending[n_pending++] = id;
    }
    double a = now_s();
    rocksdb_write(db, wo, b, &err);
    spent += now_s() - a;
    die_on(err, "write");
    rocksdb_writebatch_clear(b);
  }
  rocksdb_writebatch_destroy(b);
  rocksdb_writeoptions_destroy(wo);
  for (int i = 0; i < 4; i++) rocksdb_column_family_handle_destroy(cf[i]);
  rocksdb_close(db);
  for (int i = 0; i < 4; i++) rocksdb_options_destroy(cf_opts[i]);
  cycle_result_t r = {spent / cycles * 1e6, cycles, changes / cycles};
  return r;
}

/* Nanoseconds per dependent load over a random cycle through `mb` MB. */
static double probe_memory(size_t mb) {
  size_t n = (mb << 20) / sizeof(size_t);
  size_t *next = malloc(n * sizeof *next);
  if (next == NULL) return -1;
  for (size_t i = 0; i < n; i++) next[i] = i;
  uint64_t x = 2463534242u;
  /* Sattolo's shuffle: one cycle through every element. */
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(xorshift(&x) % i);
    size_t t = next[i];
    next[i] = next[j];
    next[j] = t;
  }
  size_t p = 0, loads = 5000000;
  double a = now_s();
  for (size_t k = 0; k < loads; k++) p = next[p];
  double ns = (now_s() - a) / (double)loads * 1e9;
  free(next);
  return p == SIZE_MAX ? -1 : ns;
}

static void write_record(const char *json, int *seq, const char *system, const char *phase,
                         double rate, const char *unit, const char *extra_name, double extra) {
  if (json == NULL) return;
  json_t *r = run_record_new("store-probe", system, "probe", phase, "none");
  if (r == NULL) return;
  json_object_set_new(r, "rate_per_s", json_real(rate));
  json_object_set_new(r, "unit", json_string(unit));
  json_object_set_new(r, extra_name, json_real(extra));
  char path[4096];
  snprintf(path, sizeof path, "%s.%d.json", json, (*seq)++);
  run_record_write(r, path);
  json_decref(r);
}

static void usage(FILE *f) {
  fprintf(f, "usage: store-probe [--dir DIR] [--seconds S] [--items N] [--json FILE]\n"
             "  Measures the RocksDB writes of one label cycle on one thread and the\n"
             "  memory latency of this machine (see the comment in bench/store_probe.c).\n"
             "  --dir DIR      scratch database directory (default: a new one in $TMPDIR)\n"
             "  --seconds S    length of the write measurement (default 5)\n"
             "  --items N      items ingested first (default 250000)\n"
             "  --json FILE    also write run records FILE.0.json, FILE.1.json, ...\n");
}

int main(int argc, char **argv) {
  const char *dir = NULL, *json = NULL;
  double seconds = 5;
  long items = 250000;
  static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                       {"seconds", required_argument, 0, 's'},
                                       {"items", required_argument, 0, 'n'},
                                       {"json", required_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'd': dir = optarg; break;
      case 's': seconds = atof(optarg); break;
      case 'n': items = atol(optarg); break;
      case 'j': json = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (seconds <= 0 || seconds > 600 || items < 1000 || items > 100000000) {
    fprintf(stderr, "store-probe: --seconds must be in (0, 600], --items in [1000, 1e8]\n");
    return 2;
  }
  char made[4096] = "";
  if (dir == NULL) {
    const char *tmp = getenv("TMPDIR");
    snprintf(made, sizeof made, "%s/store-probe.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(made) == NULL) {
      perror("store-probe: mkdtemp");
      return 1;
    }
    dir = made;
  } else if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "store-probe: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  char db[4200];
  snprintf(db, sizeof db, "%s/db", dir);
  fprintf(stderr, "store-probe: ingesting %ld items, then %.0f s of label-cycle writes\n", items,
          seconds);
  char db_before[4300];
  snprintf(db_before, sizeof db_before, "%s-before", db);
  cycle_result_t w = probe_cycle_writes(db, seconds, (uint32_t)items, 0);
  cycle_result_t old = probe_cycle_writes(db_before, seconds, (uint32_t)items, 1);
  printf("%-20s %-34s %10s\n", "probe", "what", "figure");
  int seq = 0;
  for (int i = 0; i < 2; i++) {
    const cycle_result_t *r = i == 0 ? &w : &old;
    double bound = 1e6 / r->us_per_cycle;
    printf("%-20s %-34s %7.2f us, %.2f changes (%.0f cycles/s at most on one thread; %.0f "
           "cycles)\n",
           i == 0 ? "cycle-writes" : "cycle-writes-before",
           i == 0 ? "RocksDB write of one label cycle" : "the same, leases stored (before)",
           r->us_per_cycle, r->changes_per_cycle, bound, r->cycles);
    write_record(json, &seq, "rocksdb", i == 0 ? "cycle-writes" : "cycle-writes-before", bound,
                 "cycles/s (one writer thread)", "us_per_cycle", r->us_per_cycle);
  }
  static const size_t sizes[] = {1, 8, 64};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    double ns = probe_memory(sizes[i]);
    printf("%-14s dependent random load over %2zu MB    %7.1f ns\n", "memory", sizes[i], ns);
    char phase[32];
    snprintf(phase, sizeof phase, "load-%zuMB", sizes[i]);
    write_record(json, &seq, "memory", phase, 1e9 / ns, "dependent loads/s", "ns_per_load", ns);
  }
  char cmd[8800];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", made[0] ? made : db, db_before);
  if (system(cmd) != 0) fprintf(stderr, "store-probe: could not remove %s\n", made[0] ? made : db);
  return 0;
}
