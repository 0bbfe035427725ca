/* store and batch_log: reads through the open batch, the sealed batch (being
 * written by another thread) and the database, checked against a model over
 * random steps; then the same state after a reopen. A real RocksDB in a
 * temporary directory. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_log.h"
#include "check.h"
#include "store.h"
#include "tally_error.h"

#define KEYS 48
#define STEPS 20000

static char dir[] = "/tmp/tally-store-XXXXXX";

static void cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* What a key holds: value number, or 0 for absent. */
static unsigned model[KEYS];

static size_t key_of(int k, char *out) { return (size_t)sprintf(out, "key-%03d", k); }

static size_t value_of(unsigned v, char *out) {
  /* Lengths vary (and reach past a few hundred bytes) so copies are checked. */
  size_t len = (size_t)sprintf(out, "value-%u-", v);
  size_t pad = v % 300;
  memset(out + len, 'a' + (int)(v % 26), pad);
  return len + pad;
}

static int get_matches(store_t *s, int k) {
  char key[16], want[512];
  size_t key_len = key_of(k, key);
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(s, STORE_CF_ITEMS, key, key_len, &value, &len);
  int ok;
  if (model[k] == 0) {
    ok = rc == 0;
  } else {
    size_t want_len = value_of(model[k], want);
    ok = rc == 1 && len == want_len && memcmp(value, want, len) == 0;
  }
  free(value);
  return ok;
}

/* Every key from key-010 up to (not including) key-040, in order. */
static int scan_matches(store_t *s) {
  char upper[16], from[16], want[512];
  size_t upper_len = key_of(40, upper);
  size_t from_len = key_of(10, from);
  store_iter_t *it = store_iter_new(s, STORE_CF_ITEMS, upper, upper_len);
  if (it == NULL) return 0;
  int ok = 1, k = 10;
  for (store_iter_seek(it, from, from_len); store_iter_valid(it); store_iter_next(it)) {
    while (k < 40 && model[k] == 0) k++;
    size_t len, vlen;
    const uint8_t *key = store_iter_key(it, &len);
    const uint8_t *value = store_iter_value(it, &vlen);
    char expect_key[16];
    if (k >= 40 || len != key_of(k, expect_key) || memcmp(key, expect_key, len) != 0) {
      ok = 0;
      break;
    }
    size_t want_len = value_of(model[k], want);
    if (vlen != want_len || memcmp(value, want, vlen) != 0) ok = 0;
    k++;
  }
  while (ok && k < 40 && model[k] == 0) k++;
  if (k < 40) ok = 0;
  if (store_iter_error(it) < 0) ok = 0;
  store_iter_destroy(&it);
  return ok;
}

/* ------------------------------------------------------------ scan errors
 *
 * A read error in the middle of a scan is an error, not the end of the
 * range: a data block of the table file is overwritten on disk, and the
 * scan across it must end with TALLY_E_STORAGE after fewer keys than were
 * written. */

#define SCAN_KEYS 4000
#define SCAN_VALUE 200

/* Scans every "scan-" key; returns store_iter_error's answer when the scan
 * stopped and the number of keys seen in *seen. */
static int scan_all(store_t *s, int *seen) {
  store_iter_t *it = store_iter_new(s, STORE_CF_ITEMS, "scan.", 5);
  *seen = 0;
  if (it == NULL) return -1000;
  for (store_iter_seek(it, "scan-", 5); store_iter_valid(it); store_iter_next(it)) (*seen)++;
  int rc = store_iter_error(it);
  CHECK(store_iter_error(it) == rc && !store_iter_valid(it)); /* it stays what it was */
  store_iter_destroy(&it);
  return rc;
}

/* The largest table file in `db`, into path_out; its size, or 0. */
static long largest_table(const char *db, char *path_out, size_t size) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ls -S '%s' | grep '\\.sst$' | head -n 1", db);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return 0;
  char name[256] = "";
  if (fgets(name, sizeof name, p) == NULL) name[0] = '\0';
  pclose(p);
  name[strcspn(name, "\n")] = '\0';
  if (name[0] == '\0') return 0;
  snprintf(path_out, size, "%s/%s", db, name);
  FILE *f = fopen(path_out, "rb");
  if (f == NULL) return 0;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fclose(f);
  return len;
}

static void scan_error_checks(void) {
  char path[64];
  snprintf(path, sizeof path, "%s/scan", dir);
  store_t *s = NULL;
  CHECK(store_open(&s, path) == 0);
  if (s == NULL) return;
  /* Values that do not compress, so the table has many data blocks. */
  uint32_t x = 12345;
  for (int i = 0; i < SCAN_KEYS; i++) {
    char key[16], value[SCAN_VALUE];
    int key_len = snprintf(key, sizeof key, "scan-%05d", i);
    for (size_t b = 0; b < sizeof value; b++) {
      x = x * 1103515245u + 12345u;
      value[b] = (char)(x >> 16);
    }
    store_put(s, STORE_CF_ITEMS, key, (size_t)key_len, value, sizeof value);
  }
  CHECK(store_commit(s, 1) == 0);
  int seen = 0;
  CHECK(scan_all(s, &seen) == 0 && seen == SCAN_KEYS);
  store_close(&s);
  /* A reopen replays the WAL into a table file (flush during recovery). */
  CHECK(store_open(&s, path) == 0);
  store_close(&s);
  char table[512];
  long len = largest_table(path, table, sizeof table);
  CHECK(len > 256 * 1024);
  if (len <= 256 * 1024) return;
  /* Overwrite 4 KiB at 40%: data blocks come first in a table file, its
   * index and footer last. */
  FILE *f = fopen(table, "r+b");
  CHECK(f != NULL);
  if (f == NULL) return;
  char junk[4096];
  memset(junk, 0x5a, sizeof junk);
  fseek(f, len * 4 / 10, SEEK_SET);
  CHECK(fwrite(junk, 1, sizeof junk, f) == sizeof junk);
  fclose(f);
  CHECK(store_open(&s, path) == 0);
  if (s == NULL) return;
  int rc = scan_all(s, &seen);
  printf("scan over a damaged table: %d keys of %d, then %d\n", seen, SCAN_KEYS, rc);
  CHECK(rc == TALLY_E_STORAGE);
  CHECK(seen > 0 && seen < SCAN_KEYS);
  store_close(&s);
}

static void *write_sealed(void *s) { return (void *)(intptr_t)store_write_sealed(s); }

static void batch_log_checks(void) {
  batch_log_t *log = batch_log_new();
  CHECK(log != NULL);
  const void *v;
  size_t n;
  CHECK(batch_log_find(log, 1, "a", 1, &v, &n) == BATCH_LOG_ABSENT);
  CHECK(batch_log_add(log, 1, "a", 1, 0, "x", 1) == 0);
  CHECK(batch_log_add(log, 2, "a", 1, 1, NULL, 0) == 0);
  CHECK(batch_log_find(log, 1, "a", 1, &v, &n) == BATCH_LOG_PUT && n == 1 && memcmp(v, "x", 1) == 0);
  CHECK(batch_log_find(log, 2, "a", 1, &v, &n) == BATCH_LOG_DELETED); /* same key, other family */
  CHECK(batch_log_find(log, 1, "ab", 2, &v, &n) == BATCH_LOG_ABSENT);
  CHECK(batch_log_add(log, 1, "a", 1, 1, NULL, 0) == 0); /* the last change wins */
  CHECK(batch_log_find(log, 1, "a", 1, &v, &n) == BATCH_LOG_DELETED);
  CHECK(batch_log_add(log, 1, "a", 1, 0, "", 0) == 0); /* an empty value is a value */
  CHECK(batch_log_find(log, 1, "a", 1, &v, &n) == BATCH_LOG_PUT && n == 0);
  CHECK_EQ_U64(batch_log_count(log), 4);
  /* Many keys: the index grows and every key keeps its last value. */
  char key[32];
  for (unsigned i = 0; i < 50000; i++) {
    int len = sprintf(key, "k%u", i % 20000);
    CHECK(batch_log_add(log, 3, key, (size_t)len, 0, &i, sizeof i) == 0);
  }
  int all = 1;
  for (unsigned i = 0; i < 20000; i++) {
    int len = sprintf(key, "k%u", i);
    unsigned want = i + 40000 < 50000 ? i + 40000 : i + 20000;
    if (batch_log_find(log, 3, key, (size_t)len, &v, &n) != BATCH_LOG_PUT || n != sizeof want ||
        memcmp(v, &want, n) != 0)
      all = 0;
  }
  CHECK(all);
  batch_log_clear(log);
  CHECK_EQ_U64(batch_log_count(log), 0);
  CHECK(batch_log_find(log, 3, "k5", 2, &v, &n) == BATCH_LOG_ABSENT);
  CHECK(batch_log_find(log, 1, "a", 1, &v, &n) == BATCH_LOG_ABSENT);
  batch_log_destroy(&log);
  batch_log_destroy(&log); /* safe twice */
  CHECK(log == NULL);
}

int main(void) {
  check_deadline(60, cleanup);
  batch_log_checks();
  if (mkdtemp(dir) == NULL) return 1;
  atexit(cleanup);
  scan_error_checks();
  char path[64];
  snprintf(path, sizeof path, "%s/db", dir);
  store_t *s = NULL;
  CHECK(store_open(&s, path) == 0);
  if (s == NULL) return check_summary();

  srand(7);
  int sealed = 0, writing = 0, gets_ok = 1, scans_ok = 1, scans = 0, seals = 0;
  pthread_t writer;
  unsigned next_value = 1;
  for (int step = 0; step < STEPS; step++) {
    int k = rand() % KEYS, what = rand() % 100;
    char key[16], value[512];
    size_t key_len = key_of(k, key);
    if (what < 35) {
      unsigned v = next_value++;
      store_put(s, STORE_CF_ITEMS, key, key_len, value, value_of(v, value));
      model[k] = v;
    } else if (what < 50) {
      store_delete(s, STORE_CF_ITEMS, key, key_len);
      model[k] = 0;
    } else if (what < 80) {
      if (!get_matches(s, k)) {
        if (gets_ok) fprintf(stderr, "step %d: get of key %d (model %u, sealed %d) is wrong\n", step, k, model[k], sealed);
        gets_ok = 0;
      }
    } else if (what < 85) {
      scans++;
      if (!scan_matches(s)) scans_ok = 0;
    } else if (what < 91) {
      if (!sealed && store_seal(s) == 1) {
        /* The write runs while the following steps read and change. */
        sealed = 1;
        seals++;
        writing = pthread_create(&writer, NULL, write_sealed, s) == 0;
        CHECK(writing);
      }
    } else if (what < 97) {
      if (sealed) {
        void *rc = NULL;
        if (writing) pthread_join(writer, &rc);
        CHECK(rc == NULL);
        writing = 0;
        store_release_sealed(s);
        sealed = 0;
      }
    } else {
      /* Written behind the sealed batch, which it waits for. */
      CHECK(store_commit(s, rand() % 2) == 0);
    }
  }
  CHECK(gets_ok);
  CHECK(scans_ok);
  CHECK(scans > 100);
  CHECK(seals > 100);
  if (sealed) CHECK(store_seal(s) == 0); /* one sealed batch at most */
  if (writing) pthread_join(writer, NULL);
  store_release_sealed(s);
  CHECK(store_commit(s, 1) == 0);
  store_close(&s);

  /* Reopened: the database alone holds the model's state. */
  CHECK(store_open(&s, path) == 0);
  if (s == NULL) return check_summary();
  int all = 1;
  for (int k = 0; k < KEYS; k++)
    if (!get_matches(s, k)) all = 0;
  CHECK(all);
  CHECK(scan_matches(s));
  store_close(&s);
  return check_summary();
}
