/* store: RocksDB with column families, an open batch, and at most one
 * sealed batch being written by another thread. See store.h. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "batch_log.h"
#include "fatal.h"
#include "keys.h"
#include "log.h"
#include "tally_error.h"

/* Free space below which store_open() refuses to open (start-up writes a
 * MANIFEST, an OPTIONS file and the first WAL records), and the margin
 * store_has_room() wants on top of the live WAL before a reopen (which
 * flushes the WAL's memtables to table files). */
#define STORE_OPEN_FREE_MIN (8ull << 20)
#define STORE_REOPEN_MARGIN (16ull << 20)
/* RocksDB's info log level: HEADER (5) writes nothing after the header.
 * Debian 12's librocksdb 7.8 is built with assertions, and its info logger
 * asserts (SIGABRT) when it writes again after a failed write: on a full
 * disk the LOG file, not the data, would end the process. So RocksDB
 * keeps no diagnostic log; our own log says what failed. */
#define STORE_INFO_LOG_LEVEL 5
/* A file size limit (RLIMIT_FSIZE, `ulimit -f`, systemd's LimitFSIZE=)
 * below this is no room: a WAL grows to max_total_wal_size (128 MiB) and a
 * flush writes table files of up to a write buffer (64 MiB). */
#define STORE_FILE_SIZE_MIN (256ull << 20)
/* A store found damaged (at open or on a read) gets this file, and is never
 * opened again until the operator has moved the directory aside
 * (docs/REPLICATION.md, "Operations"). */
#define STORE_CORRUPT_MARKER "CORRUPT"
#define STORE_REMEDY                                                                        \
  "this worker will not serve from it. Move the directory aside (never delete it: it is " \
  "the evidence) and start the worker again: it starts empty and, with --replicas 2 or "  \
  "more, takes a full copy of every slot it follows from the slot's primary "            \
  "(docs/REPLICATION.md, \"Operations\")"

static const char *const store_cf_names[STORE_CF_COUNT] = {"default", "items", "queue", "leases", "stats", "feedback", "ops",
                                                           "cases", "exposure"};

/* A batch: RocksDB's batch with index (written, and read by iterators)
 * and the same changes in a log (read by point lookups, batch_log.h). */
typedef struct {
  rocksdb_writebatch_wi_t *wbwi;
  batch_log_t *log;
} store_batch_t;

struct store {
  char *path;
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_options_t *cf_options[STORE_CF_COUNT];
  rocksdb_column_family_handle_t *cf[STORE_CF_COUNT];
  store_batch_t open;
  /* The sealed batch: from store_seal() to store_release_sealed(), read
   * between the open batch and the database. `writing` (under `lock`) is
   * set from store_seal() until store_write_sealed() has returned. */
  store_batch_t sealed;
  int has_sealed;
  pthread_mutex_t lock;
  pthread_cond_t written;
  int writing;
  int sealed_rc; /* store_write_sealed()'s result, under `lock` */
  int locks_made;
  rocksdb_readoptions_t *read_options;
  rocksdb_writeoptions_t *sync_write;
  rocksdb_writeoptions_t *async_write;
  rocksdb_cache_t *cache;
  rocksdb_block_based_table_options_t *table_options;
};

struct store_iter {
  store_t *store;
  rocksdb_iterator_t *it;
  rocksdb_readoptions_t *options;
  uint8_t upper[KEYS_MAX];
  size_t upper_len;
  int failed; /* a read failed (logged): every later store_iter_valid says so */
};

static rocksdb_options_t *store_make_options(store_t *s, store_cf_t cf) {
  rocksdb_options_t *o = rocksdb_options_create();
  rocksdb_options_set_block_based_table_factory(o, s->table_options);
  rocksdb_options_set_write_buffer_size(o, cf == STORE_CF_ITEMS ? 64u << 20 : 16u << 20);
  rocksdb_options_set_compression(o, rocksdb_lz4_compression);
  if (cf == STORE_CF_QUEUE || cf == STORE_CF_LEASES) {
    /* Consumed queue heads leave tombstones: compact files that collect many. */
    rocksdb_options_add_compact_on_deletion_collector_factory(o, 10000, 5000);
  }
  return o;
}

/* Free bytes for unprivileged use on the file system of `path` (or of its
 * parent directory while `path` does not exist yet). Returns 0 or
 * TALLY_E_IO. */
static int store_free_bytes(const char *path, uint64_t *free_bytes) {
  struct statvfs vfs;
  if (statvfs(path, &vfs) != 0) {
    if (errno != ENOENT) return TALLY_E_IO;
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) slash[1] = '\0';
    else *slash = '\0';
    if (statvfs(parent, &vfs) != 0) return TALLY_E_IO;
  }
  *free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
  return 0;
}

/* RocksDB's error text as our error: a full file system (ENOSPC), a quota
 * (EDQUOT) or a file size limit (EFBIG: RLIMIT_FSIZE; the worker ignores
 * SIGXFSZ so it is an error, not a death) is TALLY_E_NO_SPACE: the worker
 * refuses writes until there is room again. Anything else is
 * TALLY_E_STORAGE. */
static int store_error_code(const char *err) {
  return strstr(err, "No space left on device") || strstr(err, "NoSpace") ||
                 strstr(err, "Disk quota exceeded") || strstr(err, "File too large")
             ? TALLY_E_NO_SPACE
             : TALLY_E_STORAGE;
}

/* RocksDB found the store damaged: a checksum or format error, or a file
 * the store needs (a MANIFEST, a table file) is gone. */
static int store_error_is_damage(const char *err) {
  return strstr(err, "Corruption") != NULL || strstr(err, "No such file or directory") != NULL;
}

/* Marks the store at `path` as damaged (best effort: the directory may be
 * unwritable; the message is logged anyway). */
static void store_mark_corrupt(const char *path, const char *err) {
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/" STORE_CORRUPT_MARKER, path);
  FILE *f = fopen(marker, "w");
  if (f == NULL) return;
  fprintf(f, "%s\n", err);
  fclose(f);
}

/* A store that was damaged, or that RocksDB would take for a new one
 * although it holds data: CURRENT (the pointer to the live MANIFEST) is
 * gone but table, log or MANIFEST files are there (RocksDB, told to create
 * a missing database, would start an empty one over them). Returns NULL
 * (fine, or no store yet) or why not, in `why`. */
static const char *store_damage(const char *path, char *why, size_t size) {
  char file[4096];
  snprintf(file, sizeof file, "%s/" STORE_CORRUPT_MARKER, path);
  FILE *f = fopen(file, "r");
  if (f != NULL) {
    char line[512] = "";
    if (fgets(line, sizeof line, f) == NULL) line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    snprintf(why, size, "it was found damaged before (its " STORE_CORRUPT_MARKER " file says: %.400s)",
             line);
    return why;
  }
  snprintf(file, sizeof file, "%s/CURRENT", path);
  if (access(file, F_OK) == 0) return NULL;
  DIR *dir = opendir(path);
  if (dir == NULL) return NULL;
  struct dirent *e;
  const char *found = NULL;
  while (found == NULL && (e = readdir(dir)) != NULL) {
    size_t n = strlen(e->d_name);
    if (strncmp(e->d_name, "MANIFEST-", 9) == 0 || (n > 4 && strcmp(e->d_name + n - 4, ".sst") == 0) ||
        (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0))
      found = e->d_name;
    if (found != NULL)
      snprintf(why, size, "its CURRENT file is missing although it holds %.200s", found);
  }
  closedir(dir);
  return found != NULL ? why : NULL;
}

/* Opens the database at s->path with s->options; on failure logs why and
 * returns TALLY_E_NO_SPACE or TALLY_E_STORAGE, with s->db NULL. */
static int store_open_db(store_t *s) {
  char *err = NULL;
  s->db = rocksdb_open_column_families(s->options, s->path, STORE_CF_COUNT, store_cf_names,
                                       (const rocksdb_options_t *const *)s->cf_options, s->cf,
                                       &err);
  if (err == NULL) return 0;
  int rc = store_error_code(err);
  if (store_error_is_damage(err)) {
    log_error("cannot open storage at %s: it is damaged (%s): " STORE_REMEDY, s->path, err);
  } else {
    log_error("cannot open storage at %s: %s", s->path, err);
  }
  free(err);
  s->db = NULL;
  for (int i = 0; i < STORE_CF_COUNT; i++) s->cf[i] = NULL;
  return rc;
}

int store_open(store_t **out, const char *path) {
  *out = NULL;
  uint64_t free_bytes = 0;
  if (store_free_bytes(path, &free_bytes) < 0) {
    log_error("cannot open storage at %s: %s", path, strerror(errno));
    return TALLY_E_STORAGE;
  }
  if (free_bytes < STORE_OPEN_FREE_MIN) {
    log_error("cannot open storage at %s: only %llu KiB free on its file system, at least %llu "
              "MiB needed; free some space and start again",
              path, (unsigned long long)(free_bytes >> 10),
              (unsigned long long)(STORE_OPEN_FREE_MIN >> 20));
    return TALLY_E_NO_SPACE;
  }
  char why[1024];
  if (store_damage(path, why, sizeof why) != NULL) {
    log_error("cannot open storage at %s: %s: " STORE_REMEDY, path, why);
    return TALLY_E_STORAGE;
  }
  store_t *s = calloc(1, sizeof *s);
  if (s == NULL) return TALLY_E_NOMEM;
  s->path = strdup(path);
  if (s->path == NULL) {
    free(s);
    return TALLY_E_NOMEM;
  }
  s->cache = rocksdb_cache_create_lru(64u << 20);
  s->table_options = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(s->table_options, s->cache);
  rocksdb_block_based_options_set_filter_policy(s->table_options,
                                                rocksdb_filterpolicy_create_bloom(10));
  s->options = store_make_options(s, STORE_CF_DEFAULT);
  rocksdb_options_set_create_if_missing(s->options, 1);
  rocksdb_options_set_create_missing_column_families(s->options, 1);
  rocksdb_options_set_max_background_jobs(s->options, 2);
  rocksdb_options_set_keep_log_file_num(s->options, 3);
  rocksdb_options_set_info_log_level(s->options, STORE_INFO_LOG_LEVEL);
  /* Small, rarely flushed families (meta, leases) would otherwise pin every
   * WAL file since their last flush, and restart time is WAL replay: cap
   * the live WAL so RocksDB flushes them early. */
  rocksdb_options_set_max_total_wal_size(s->options, 128u << 20);
  for (int i = 0; i < STORE_CF_COUNT; i++) s->cf_options[i] = store_make_options(s, (store_cf_t)i);
  int rc = store_open_db(s);
  if (rc < 0) {
    store_close(&s);
    return rc;
  }
  s->open.wbwi = rocksdb_writebatch_wi_create(0, 1);
  s->sealed.wbwi = rocksdb_writebatch_wi_create(0, 1);
  s->open.log = batch_log_new();
  s->sealed.log = batch_log_new();
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->written, NULL);
  s->locks_made = 1;
  s->read_options = rocksdb_readoptions_create();
  s->sync_write = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->sync_write, 1);
  s->async_write = rocksdb_writeoptions_create();
  if (s->open.log == NULL || s->sealed.log == NULL) {
    store_close(&s);
    return TALLY_E_NOMEM;
  }
  *out = s;
  return 0;
}

static void store_batch_clear(store_batch_t *b) {
  rocksdb_writebatch_wi_clear(b->wbwi);
  batch_log_clear(b->log);
}

/* Waits until the sealed batch, if any, is written, then drops it: its
 * changes are in the database, in WAL order before anything written after,
 * and reads must not prefer them to what is written after. Returns the
 * write's result: 0, or TALLY_E_STORAGE when it failed. */
static int store_settle_sealed(store_t *s) {
  if (!s->has_sealed) return 0;
  pthread_mutex_lock(&s->lock);
  while (s->writing) pthread_cond_wait(&s->written, &s->lock);
  int rc = s->sealed_rc;
  pthread_mutex_unlock(&s->lock);
  store_batch_clear(&s->sealed);
  s->has_sealed = 0;
  return rc;
}

static void store_batch_destroy(store_batch_t *b) {
  if (b->wbwi) rocksdb_writebatch_wi_destroy(b->wbwi);
  batch_log_destroy(&b->log);
}

void store_close(store_t **store) {
  if (store == NULL || *store == NULL) return;
  store_t *s = *store;
  if (s->locks_made) (void)store_settle_sealed(s);
  if (s->db) {
    /* A clean stop flushes the memtables, so the next start replays no WAL. */
    rocksdb_flushoptions_t *flush = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(flush, 1);
    for (int i = 0; i < STORE_CF_COUNT; i++) {
      char *err = NULL;
      if (s->cf[i]) rocksdb_flush_cf(s->db, flush, s->cf[i], &err);
      if (err != NULL) {
        log_warn("flush at close failed: %s", err);
        free(err);
      }
    }
    rocksdb_flushoptions_destroy(flush);
  }
  store_batch_destroy(&s->open);
  store_batch_destroy(&s->sealed);
  if (s->locks_made) {
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->written);
  }
  for (int i = 0; i < STORE_CF_COUNT; i++)
    if (s->cf[i]) rocksdb_column_family_handle_destroy(s->cf[i]);
  if (s->db) rocksdb_close(s->db);
  for (int i = 0; i < STORE_CF_COUNT; i++)
    if (s->cf_options[i]) rocksdb_options_destroy(s->cf_options[i]);
  if (s->options) rocksdb_options_destroy(s->options);
  if (s->read_options) rocksdb_readoptions_destroy(s->read_options);
  if (s->sync_write) rocksdb_writeoptions_destroy(s->sync_write);
  if (s->async_write) rocksdb_writeoptions_destroy(s->async_write);
  if (s->table_options) rocksdb_block_based_options_destroy(s->table_options);
  if (s->cache) rocksdb_cache_destroy(s->cache);
  free(s->path);
  free(s);
  *store = NULL;
}

/* The batch could not be recorded whole: nothing of it may be written or
 * acknowledged, so the process ends (as on a failed write). */
static void store_log_failed(void) { fatal_exit("out of memory recording a storage change"); }

void store_put(store_t *s, store_cf_t cf, const void *key, size_t key_len, const void *value,
               size_t value_len) {
  if (batch_log_add(s->open.log, (uint32_t)cf, key, key_len, 0, value, value_len) < 0)
    store_log_failed();
  rocksdb_writebatch_wi_put_cf(s->open.wbwi, s->cf[cf], key, key_len, value, value_len);
}

void store_delete(store_t *s, store_cf_t cf, const void *key, size_t key_len) {
  if (batch_log_add(s->open.log, (uint32_t)cf, key, key_len, 1, NULL, 0) < 0) store_log_failed();
  rocksdb_writebatch_wi_delete_cf(s->open.wbwi, s->cf[cf], key, key_len);
}

/* Logs a failed read; a damaged store is marked so that it is not opened
 * again (the caller ends the process: fatal_exit). */
static void store_read_failed(store_t *s, const char *err) {
  if (!store_error_is_damage(err)) {
    log_error("storage read failed: %s", err);
    return;
  }
  log_error("storage read failed: the store at %s is damaged (%s): " STORE_REMEDY, s->path, err);
  store_mark_corrupt(s->path, err);
}

/* What `log` says of the key: -1 when it does not know, else store_get's
 * answer. */
static int store_get_logged(const batch_log_t *log, store_cf_t cf, const void *key,
                            size_t key_len, char **value, size_t *value_len) {
  const void *found;
  size_t found_len;
  switch (batch_log_find(log, (uint32_t)cf, key, key_len, &found, &found_len)) {
    case BATCH_LOG_ABSENT: return -1;
    case BATCH_LOG_DELETED: *value = NULL; *value_len = 0; return 0;
    case BATCH_LOG_PUT: break;
  }
  *value = malloc(found_len ? found_len : 1);
  if (*value == NULL) return TALLY_E_NOMEM;
  if (found_len > 0) memcpy(*value, found, found_len);
  *value_len = found_len;
  return 1;
}

int store_get(store_t *s, store_cf_t cf, const void *key, size_t key_len, char **value,
              size_t *value_len) {
  int rc = store_get_logged(s->open.log, cf, key, key_len, value, value_len);
  if (rc == -1 && s->has_sealed) rc = store_get_logged(s->sealed.log, cf, key, key_len, value, value_len);
  if (rc != -1) return rc;
  /* Not in a batch: the database has it or not, whether or not the sealed
   * batch's write has happened yet (that write touches only its own keys). */
  char *err = NULL;
  *value = rocksdb_get_cf(s->db, s->read_options, s->cf[cf], key, key_len, value_len, &err);
  if (err != NULL) {
    store_read_failed(s, err);
    free(err);
    return TALLY_E_STORAGE;
  }
  return *value != NULL;
}

int store_cf_is_slot_led(store_cf_t cf) {
  return cf == STORE_CF_ITEMS || cf == STORE_CF_QUEUE || cf == STORE_CF_LEASES ||
         cf == STORE_CF_FEEDBACK || cf == STORE_CF_CASES;
}

int store_drop_slot(store_t *s, uint32_t slot, int sync) {
  /* The sealed batch's keys must not land after the range delete. */
  if (store_settle_sealed(s) < 0) return TALLY_E_STORAGE;
  uint8_t from[2], to[3];
  keys_put_u16(from, (uint16_t)slot);
  size_t to_len = keys_prefix_end(to, from, 2);
  for (int cf = 0; cf < STORE_CF_COUNT; cf++) {
    if (!store_cf_is_slot_led((store_cf_t)cf)) continue;
    char *err = NULL;
    rocksdb_delete_range_cf(s->db, sync ? s->sync_write : s->async_write, s->cf[cf], (const char *)from, 2,
                            (const char *)to, to_len, &err);
    if (err != NULL) {
      log_error("cannot drop slot %u from %s: %s", slot, store_cf_names[cf], err);
      free(err);
      return TALLY_E_STORAGE;
    }
  }
  return 0;
}

void store_sealed_each(const store_t *s, batch_log_fn fn, void *user) {
  if (s->has_sealed) batch_log_each(s->sealed.log, fn, user);
}

void store_open_each(const store_t *s, batch_log_fn fn, void *user) {
  batch_log_each(s->open.log, fn, user);
}

int store_pending(const store_t *s) { return (int)batch_log_count(s->open.log); }

/* Benchmarks only (docs/PERFORMANCE.md, replication, "where the cost of
 * R = 2 goes"): built with -DSTORE_WRITE_TWICE=1, a worker writes every
 * synced batch twice, each time WAL synced (the same puts and deletes, so
 * nothing changes but the work): the memtable inserts, WAL bytes and syncs
 * of R = 2, where each worker also writes its peer's changes, without any
 * of the replication. Never in a build that serves. */
#ifndef STORE_WRITE_TWICE
#define STORE_WRITE_TWICE 0
#endif

/* Writes `b` atomically, the WAL synced when `sync`. */
static int store_write(store_t *s, store_batch_t *b, int sync) {
  char *err = NULL;
  if (STORE_WRITE_TWICE && sync)
    rocksdb_write_writebatch_wi(s->db, s->sync_write, b->wbwi, &err);
  if (err == NULL)
    rocksdb_write_writebatch_wi(s->db, sync ? s->sync_write : s->async_write, b->wbwi, &err);
  if (err != NULL) {
    /* RocksDB reports ENOSPC as "IO error: No space left on device: ...",
     * also later, as its background error, until the database is reopened. */
    int rc = store_error_code(err);
    log_error("storage write failed: %s", err);
    free(err);
    return rc;
  }
  return 0;
}

int store_commit(store_t *s, int sync) {
  /* WAL order: the sealed batch first; and a caller that counts on every
   * earlier batch being durable must hear of its failure. */
  int settled = store_settle_sealed(s);
  if (settled < 0) return settled;
  if (store_pending(s) == 0) return 0;
  int rc = store_write(s, &s->open, sync);
  store_batch_clear(&s->open);
  return rc;
}

int store_seal(store_t *s) {
  if (s->has_sealed || store_pending(s) == 0) return 0;
  store_batch_t b = s->sealed;
  s->sealed = s->open;
  s->open = b;
  pthread_mutex_lock(&s->lock);
  s->writing = 1;
  s->sealed_rc = 0;
  pthread_mutex_unlock(&s->lock);
  s->has_sealed = 1;
  return 1;
}

int store_write_sealed(store_t *s) {
  int rc = store_write(s, &s->sealed, 1);
  pthread_mutex_lock(&s->lock);
  s->writing = 0;
  s->sealed_rc = rc;
  pthread_cond_broadcast(&s->written);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

void store_release_sealed(store_t *s) { (void)store_settle_sealed(s); }

void store_discard(store_t *s) {
  (void)store_settle_sealed(s);
  store_batch_clear(&s->open);
}

int store_has_room(const store_t *s) {
  uint64_t free_bytes = 0, wal_bytes = 0;
  if (store_free_bytes(s->path, &free_bytes) < 0) return 0;
  DIR *dir = opendir(s->path);
  if (dir == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 4 || strcmp(e->d_name + n - 4, ".log") != 0) continue;
    char file[4096];
    struct stat st;
    snprintf(file, sizeof file, "%s/%s", s->path, e->d_name);
    if (stat(file, &st) == 0) wal_bytes += (uint64_t)st.st_size;
  }
  closedir(dir);
  struct rlimit limit;
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      (uint64_t)limit.rlim_cur < STORE_FILE_SIZE_MIN)
    return 0;
  return free_bytes >= wal_bytes + STORE_REOPEN_MARGIN;
}

int store_reopen(store_t *s) {
  store_discard(s);
  for (int i = 0; i < STORE_CF_COUNT; i++) {
    if (s->cf[i]) rocksdb_column_family_handle_destroy(s->cf[i]);
    s->cf[i] = NULL;
  }
  if (s->db) rocksdb_close(s->db);
  s->db = NULL;
  return store_open_db(s);
}

store_iter_t *store_iter_new(store_t *s, store_cf_t cf, const void *upper, size_t upper_len) {
  store_iter_t *it = calloc(1, sizeof *it);
  if (it == NULL || upper_len > sizeof it->upper) {
    free(it);
    return NULL;
  }
  it->store = s;
  if (upper_len > 0) memcpy(it->upper, upper, upper_len);
  it->upper_len = upper_len;
  it->options = rocksdb_readoptions_create();
  if (upper_len > 0)
    rocksdb_readoptions_set_iterate_upper_bound(it->options, (const char *)it->upper, upper_len);
  rocksdb_iterator_t *base = rocksdb_create_iterator_cf(s->db, it->options, s->cf[cf]);
  /* The sealed batch over the database (whether or not its write has
   * happened), the open batch over both. */
  if (s->has_sealed)
    base = rocksdb_writebatch_wi_create_iterator_with_base_cf(s->sealed.wbwi, base, s->cf[cf]);
  it->it = rocksdb_writebatch_wi_create_iterator_with_base_cf(s->open.wbwi, base, s->cf[cf]);
  return it;
}

void store_iter_seek(store_iter_t *it, const void *key, size_t key_len) {
  rocksdb_iter_seek(it->it, key, key_len);
}

int store_iter_error(store_iter_t *it) {
  if (it->failed) return TALLY_E_STORAGE;
  char *err = NULL;
  rocksdb_iter_get_error(it->it, &err);
  if (err == NULL) return 0;
  if (store_error_is_damage(err)) store_read_failed(it->store, err);
  else log_error("storage read failed during a scan: %s", err);
  rocksdb_free(err);
  it->failed = 1;
  return TALLY_E_STORAGE;
}

int store_iter_valid(store_iter_t *it) {
  /* After a failed read the iterator over the batches may still show the
   * batches' own entries: an error ends the scan, whatever follows. */
  if (store_iter_error(it) < 0 || !rocksdb_iter_valid(it->it)) return 0;
  if (it->upper_len == 0) return 1;
  /* The batch's own entries are not bounded by RocksDB: check here. */
  size_t len;
  const char *key = rocksdb_iter_key(it->it, &len);
  size_t n = len < it->upper_len ? len : it->upper_len;
  int c = memcmp(key, it->upper, n);
  return c < 0 || (c == 0 && len < it->upper_len);
}

void store_iter_next(store_iter_t *it) { rocksdb_iter_next(it->it); }

const uint8_t *store_iter_key(const store_iter_t *it, size_t *len) {
  return (const uint8_t *)rocksdb_iter_key(it->it, len);
}

const uint8_t *store_iter_value(const store_iter_t *it, size_t *len) {
  return (const uint8_t *)rocksdb_iter_value(it->it, len);
}

void store_iter_destroy(store_iter_t **it) {
  if (it == NULL || *it == NULL) return;
  rocksdb_iter_destroy((*it)->it);
  rocksdb_readoptions_destroy((*it)->options);
  free(*it);
  *it = NULL;
}
