/* store: the worker's RocksDB, its column families, its open batch and at
 * most one sealed batch.
 *
 * All changes of a group of requests go into the open batch (so later
 * requests of the group read what earlier ones wrote). store_commit() writes
 * it atomically on the calling thread, with the WAL synced when asked. For
 * the pipelined group commit, store_seal() turns the open batch into the
 * sealed one and starts an empty open batch; store_write_sealed(), on another
 * thread, writes and syncs it while the loop goes on filling the open batch;
 * store_release_sealed() drops it once written. Reads (store_get, iterators)
 * see the open batch on top of the sealed one on top of the database, so
 * they never depend on how far the sealed batch's write has got.
 *
 * Every function but store_write_sealed() is for the loop thread only.
 */
#ifndef TALLY_STORE_H
#define TALLY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "batch_log.h"

typedef enum {
  STORE_CF_DEFAULT = 0, /* worker meta, cached config and map */
  STORE_CF_ITEMS,
  STORE_CF_QUEUE,
  STORE_CF_LEASES,
  STORE_CF_STATS,    /* per-worker sufficient statistics (worker/quality.h) */
  STORE_CF_FEEDBACK, /* closed audits per labeler, slot first */
  STORE_CF_OPS,      /* per-worker operations counters (worker/ops.h) */
  STORE_CF_CASES,    /* adjudicated cases, slot first, newest first (worker/cases.h) */
  STORE_CF_EXPOSURE, /* high-severity exposure per (project, shift, person) (worker/wellbeing.h) */
  STORE_CF_COUNT
} store_cf_t;

typedef struct store store_t;
typedef struct store_iter store_iter_t;

/* Opens (creating if missing) the database at `path`. *out is the caller's,
 * closed with store_close(). Errors (message logged): TALLY_E_NO_SPACE when
 * the file system has less than 8 MiB free (checked first, so a full disk
 * gives a clear message rather than a failure half-way through RocksDB's
 * start-up writes), TALLY_E_STORAGE otherwise (e.g. a read-only file
 * system: RocksDB cannot take its LOCK file). A damaged store is refused
 * with TALLY_E_STORAGE and a message naming the remedy: one RocksDB
 * reports damaged (a checksum or format error, a file it needs missing),
 * one holding data without its CURRENT file, and one marked damaged by an
 * earlier read (store_get or an iterator that met a damaged block writes
 * the file CORRUPT into the directory before the caller ends the
 * process). */
int store_open(store_t **out, const char *path);

/* Closes the database, dropping an uncommitted batch; safe on NULL. */
void store_close(store_t **store);

/* Adds a put or delete to the open batch. */
void store_put(store_t *store, store_cf_t cf, const void *key, size_t key_len, const void *value,
               size_t value_len);
void store_delete(store_t *store, store_cf_t cf, const void *key, size_t key_len);

/* Reads `key` through the open batch, the sealed batch, then the database.
 * Returns 1 with *value (malloc'ed, caller frees) and *value_len, 0 when
 * absent, TALLY_E_STORAGE on a read error or TALLY_E_NOMEM when the copy
 * cannot be made. */
int store_get(store_t *store, store_cf_t cf, const void *key, size_t key_len, char **value,
              size_t *value_len);

/* True for the families whose keys start with the 2-byte slot (items,
 * queue, leases, feedback, cases): the ones a slot move copies. */
int store_cf_is_slot_led(store_cf_t cf);

/* Deletes every key of `slot` in every slot-led family, directly in the
 * database (RocksDB DeleteRange), not through the open batch: the caller
 * makes sure the open batch holds nothing of the slot (a sealed batch's
 * write is waited for first). `sync`: the WAL is
 * synced before returning; otherwise the delete becomes durable with the
 * next synced write (WAL order). Returns 0 or TALLY_E_STORAGE. */
int store_drop_slot(store_t *store, uint32_t slot, int sync);

/* Disk full. A write that fails because the file system is full (ENOSPC),
 * a quota is reached (EDQUOT) or a file size limit is (EFBIG: RLIMIT_FSIZE,
 * with SIGXFSZ ignored) returns TALLY_E_NO_SPACE (store_commit,
 * store_write_sealed); RocksDB then keeps
 * that error and fails every later write with it, while reads go on
 * working. The C API of RocksDB 7.8 has no rocksdb_resume(), so the way
 * back is store_reopen() once store_has_room() says space has returned. */

/* Drops the open batch and the sealed one (after waiting for its write):
 * nothing of either is written. For the loop thread after a failed write. */
void store_discard(store_t *store);

/* True when the file system has room for a reopen: free space at least the
 * live WAL files' size (flushed to table files by the reopen) plus 16 MiB,
 * and no file size limit (RLIMIT_FSIZE) under 256 MiB. */
int store_has_room(const store_t *store);

/* Closes and opens the database again (both batches discarded, no write
 * running), which clears a kept write error. Returns 0, or
 * TALLY_E_NO_SPACE / TALLY_E_STORAGE when it cannot be opened again: then
 * the store has no database and only store_close() may follow. Iterators
 * must not outlive this call. */
int store_reopen(store_t *store);

/* Hands each key the open batch changes, with its last change, to `fn`
 * (batch_log.h): what the batch will write. */
void store_open_each(const store_t *store, batch_log_fn fn, void *user);

/* The same for the sealed batch, when there is one (being written, or
 * written and not released yet). */
void store_sealed_each(const store_t *store, batch_log_fn fn, void *user);

/* Number of operations in the open batch. */
int store_pending(const store_t *store);

/* Writes the open batch atomically (WAL fsync'ed when `sync`) and starts a
 * new one; first waits for the sealed batch's write, if one runs, so WAL
 * order is batch order, and releases it. Returns 0, or TALLY_E_NO_SPACE
 * (file system full) or TALLY_E_STORAGE: then nothing of the batch is
 * durable and the caller must not acknowledge it (when the sealed batch's
 * write failed, the open batch is left unwritten; store_discard() drops
 * it). */
int store_commit(store_t *store, int sync);

/* Seals the open batch for store_write_sealed() and starts an empty open
 * batch. Returns 1, or 0 (nothing sealed) when the open batch is empty or a
 * sealed batch is still there (release it first). */
int store_seal(store_t *store);

/* Writes the sealed batch atomically with the WAL synced: when it returns 0,
 * it and every batch written before it are durable. May run on another
 * thread than the loop's, concurrently with anything but store_close() and
 * store_release_sealed(). Returns 0, TALLY_E_NO_SPACE or TALLY_E_STORAGE
 * (nothing of the batch is durable then). */
int store_write_sealed(store_t *store);

/* Drops the sealed batch after store_write_sealed() has returned (waits for
 * it otherwise); reads then go to the database for its keys. No-op without
 * a sealed batch (also when store_commit() or store_drop_slot() already
 * released it). */
void store_release_sealed(store_t *store);

/* An iterator over keys in [seek target, upper) of one column family, seeing
 * both batches. `upper` is copied. Valid until the next commit, seal or
 * release. NULL when
 * out of memory. */
store_iter_t *store_iter_new(store_t *store, store_cf_t cf, const void *upper, size_t upper_len);
void store_iter_seek(store_iter_t *it, const void *key, size_t key_len);
/* 1 at an entry (key and value may be read), else 0: past the last key in
 * range, or a read failed. A scan that stops because this said 0 must ask
 * store_iter_error() which it was before it uses what it saw as the whole
 * range. */
int store_iter_valid(store_iter_t *it);
/* 0, or TALLY_E_STORAGE when a read of this iterator failed (RocksDB's
 * iterator status, logged once): what the scan saw is then incomplete, and
 * store_iter_valid() stays 0. */
int store_iter_error(store_iter_t *it);
void store_iter_next(store_iter_t *it);
const uint8_t *store_iter_key(const store_iter_t *it, size_t *len);
const uint8_t *store_iter_value(const store_iter_t *it, size_t *len);
void store_iter_destroy(store_iter_t **it);

#endif
