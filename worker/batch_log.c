/* batch_log: changes of one batch with a hash index. See batch_log.h. */
#include "batch_log.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tally_error.h"

/* One key's last change; its key (then value) bytes are at `off` in bytes. */
typedef struct {
  uint32_t cf;
  uint32_t is_delete;
  size_t off;
  size_t key_len;
  size_t value_len;
  uint64_t hash;
} batch_change_t;

struct batch_log {
  batch_change_t *changes; /* one per distinct key, in first-touch order */
  size_t n_changes, cap_changes;
  char *bytes;
  size_t n_bytes, cap_bytes;
  uint32_t *index; /* open addressing: change number + 1, 0 = empty */
  size_t index_cap; /* a power of two, at least twice n_changes */
  size_t count;     /* every add since the last clear */
};

/* The key's hash, seeded with its family (xxHash, as elsewhere here). */
static uint64_t batch_hash(uint32_t cf, const void *key, size_t key_len) {
  return XXH64(key, key_len, cf);
}

batch_log_t *batch_log_new(void) {
  batch_log_t *log = calloc(1, sizeof *log);
  if (log == NULL) return NULL;
  log->index_cap = 1024;
  log->index = calloc(log->index_cap, sizeof *log->index);
  if (log->index == NULL) {
    free(log);
    return NULL;
  }
  return log;
}

void batch_log_destroy(batch_log_t **log) {
  if (log == NULL || *log == NULL) return;
  free((*log)->changes);
  free((*log)->bytes);
  free((*log)->index);
  free(*log);
  *log = NULL;
}

/* The index position holding (cf, key), or the empty one where it would go. */
static size_t batch_probe(const batch_log_t *log, uint64_t hash, uint32_t cf, const void *key,
                          size_t key_len) {
  size_t mask = log->index_cap - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    uint32_t at = log->index[i];
    if (at == 0) return i;
    const batch_change_t *c = &log->changes[at - 1];
    if (c->hash == hash && c->cf == cf && c->key_len == key_len &&
        memcmp(log->bytes + c->off, key, key_len) == 0)
      return i;
  }
}

static int batch_grow_index(batch_log_t *log) {
  size_t cap = log->index_cap * 2;
  uint32_t *index = calloc(cap, sizeof *index);
  if (index == NULL) return TALLY_E_NOMEM;
  for (size_t n = 0; n < log->n_changes; n++) {
    size_t i = log->changes[n].hash & (cap - 1);
    while (index[i] != 0) i = (i + 1) & (cap - 1);
    index[i] = (uint32_t)(n + 1);
  }
  free(log->index);
  log->index = index;
  log->index_cap = cap;
  return 0;
}

static int batch_reserve(batch_log_t *log, size_t n_bytes) {
  if (log->n_changes == log->cap_changes) {
    size_t cap = log->cap_changes ? log->cap_changes * 2 : 256;
    batch_change_t *grown = realloc(log->changes, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    log->changes = grown;
    log->cap_changes = cap;
  }
  if (log->n_bytes + n_bytes > log->cap_bytes) {
    size_t cap = log->cap_bytes ? log->cap_bytes : 1u << 16;
    while (cap < log->n_bytes + n_bytes) cap *= 2;
    char *grown = realloc(log->bytes, cap);
    if (grown == NULL) return TALLY_E_NOMEM;
    log->bytes = grown;
    log->cap_bytes = cap;
  }
  if ((log->n_changes + 1) * 2 > log->index_cap) return batch_grow_index(log);
  return 0;
}

int batch_log_add(batch_log_t *log, uint32_t cf, const void *key, size_t key_len, int is_delete,
                  const void *value, size_t value_len) {
  if (is_delete) value_len = 0;
  if (batch_reserve(log, key_len + value_len) < 0) return TALLY_E_NOMEM;
  uint64_t hash = batch_hash(cf, key, key_len);
  size_t i = batch_probe(log, hash, cf, key, key_len);
  batch_change_t *c;
  if (log->index[i] == 0) {
    log->index[i] = (uint32_t)(log->n_changes + 1);
    c = &log->changes[log->n_changes++];
    c->cf = cf;
    c->key_len = key_len;
    c->hash = hash;
  } else {
    c = &log->changes[log->index[i] - 1];
  }
  /* A key changed again gets fresh bytes; the old ones stay until clear. */
  c->off = log->n_bytes;
  c->is_delete = is_delete != 0;
  c->value_len = value_len;
  memcpy(log->bytes + log->n_bytes, key, key_len);
  if (value_len > 0) memcpy(log->bytes + log->n_bytes + key_len, value, value_len);
  log->n_bytes += key_len + value_len;
  log->count++;
  return 0;
}

batch_log_state_t batch_log_find(const batch_log_t *log, uint32_t cf, const void *key,
                                 size_t key_len, const void **value, size_t *value_len) {
  if (log->n_changes == 0) return BATCH_LOG_ABSENT;
  size_t i = batch_probe(log, batch_hash(cf, key, key_len), cf, key, key_len);
  if (log->index[i] == 0) return BATCH_LOG_ABSENT;
  const batch_change_t *c = &log->changes[log->index[i] - 1];
  if (c->is_delete) return BATCH_LOG_DELETED;
  *value = log->bytes + c->off + c->key_len;
  *value_len = c->value_len;
  return BATCH_LOG_PUT;
}

void batch_log_each(const batch_log_t *log, batch_log_fn fn, void *user) {
  for (size_t i = 0; i < log->n_changes; i++) {
    const batch_change_t *c = &log->changes[i];
    const char *key = log->bytes + c->off;
    fn(user, c->cf, key, c->key_len, (int)c->is_delete, c->is_delete ? NULL : key + c->key_len,
       c->value_len);
  }
}

size_t batch_log_count(const batch_log_t *log) { return log->count; }

void batch_log_clear(batch_log_t *log) {
  if (log->n_changes > 0) memset(log->index, 0, log->index_cap * sizeof *log->index);
  log->n_changes = 0;
  log->n_bytes = 0;
  log->count = 0;
}
