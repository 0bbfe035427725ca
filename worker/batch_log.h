/* batch_log: the changes of one storage batch (puts and deletes by column
 * family and key), with a hash index that answers "what did this batch do
 * to this key?" in constant time.
 *
 * RocksDB's batch with index cannot tell a key the batch deleted from one
 * it never touched (both read as NotFound through the C API), and the store
 * must know that difference to read through two batches (the open one and
 * the one being written by another thread) before the database. Values and
 * keys are copied into the log; the last change of a key wins.
 */
#ifndef TALLY_BATCH_LOG_H
#define TALLY_BATCH_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct batch_log batch_log_t;

typedef enum {
  BATCH_LOG_ABSENT = 0, /* the batch did not touch the key */
  BATCH_LOG_PUT = 1,    /* its last change put a value */
  BATCH_LOG_DELETED = 2 /* its last change deleted the key */
} batch_log_state_t;

/* An empty log; NULL when out of memory. Destroy with batch_log_destroy(&l),
 * safe on NULL. */
batch_log_t *batch_log_new(void);
void batch_log_destroy(batch_log_t **log);

/* Records a put of `value` (copied; may be NULL when value_len is 0), or a
 * delete when `is_delete`. Returns 0, or TALLY_E_NOMEM (the log is
 * unchanged). */
int batch_log_add(batch_log_t *log, uint32_t cf, const void *key, size_t key_len, int is_delete,
                  const void *value, size_t value_len);

/* The last change of (cf, key). For BATCH_LOG_PUT, *value (borrowed, valid
 * until the next add or clear) and *value_len are set. */
batch_log_state_t batch_log_find(const batch_log_t *log, uint32_t cf, const void *key,
                                 size_t key_len, const void **value, size_t *value_len);

/* Receives one key's last change (borrowed for the call; value NULL and
 * value_len 0 for a delete). */
typedef void (*batch_log_fn)(void *user, uint32_t cf, const void *key, size_t key_len,
                             int is_delete, const void *value, size_t value_len);

/* Hands each changed key's last change to `fn`, in first-touch order. */
void batch_log_each(const batch_log_t *log, batch_log_fn fn, void *user);

/* Changes recorded since the last clear (every add counts). */
size_t batch_log_count(const batch_log_t *log);

/* Forgets every change, keeping the memory for the next batch. */
void batch_log_clear(batch_log_t *log);

#endif
