/* row_cache: uthash of decoded rows with a dirty flag. See row_cache.h. */
#include "row_cache.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "fatal.h"
#include "keys.h"

typedef struct row_entry {
  uint8_t key[KEYS_MAX];
  size_t key_len;
  ProtobufCMessage *row;
  int dirty;
  UT_hash_handle hh;
} row_entry_t;

struct row_cache {
  store_t *store;
  store_cf_t cf;
  const ProtobufCMessageDescriptor *desc;
  size_t capacity;
  row_entry_t *rows; /* uthash head, keyed by key[0..key_len) */
  row_entry_t **dirty; /* the dirty rows, so a flush costs what changed */
  size_t n_dirty, cap_dirty;
};

row_cache_t *row_cache_new(store_t *store, store_cf_t cf, const ProtobufCMessageDescriptor *desc,
                           size_t capacity) {
  row_cache_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->store = store;
  c->cf = cf;
  c->desc = desc;
  c->capacity = capacity;
  return c;
}

static void row_cache_mark(row_cache_t *c, row_entry_t *e) {
  if (e->dirty) return;
  if (c->n_dirty == c->cap_dirty) {
    size_t cap = c->cap_dirty ? c->cap_dirty * 2 : 64;
    row_entry_t **grown = realloc(c->dirty, cap * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory for cached rows");
    c->dirty = grown;
    c->cap_dirty = cap;
  }
  c->dirty[c->n_dirty++] = e;
  e->dirty = 1;
}

static void row_cache_forget(row_cache_t *c) {
  c->n_dirty = 0;
  row_entry_t *e, *tmp;
  HASH_ITER(hh, c->rows, e, tmp) {
    HASH_DEL(c->rows, e);
    protobuf_c_message_free_unpacked(e->row, NULL);
    free(e);
  }
}

void row_cache_destroy(row_cache_t **c) {
  if (c == NULL || *c == NULL) return;
  row_cache_forget(*c);
  free((*c)->dirty);
  free(*c);
  *c = NULL;
}

static row_entry_t *row_cache_add(row_cache_t *c, const void *key, size_t key_len,
                                  ProtobufCMessage *row) {
  row_entry_t *e = calloc(1, sizeof *e);
  if (e == NULL) fatal_exit("out of memory for cached rows");
  memcpy(e->key, key, key_len);
  e->key_len = key_len;
  e->row = row;
  HASH_ADD(hh, c->rows, key, key_len, e);
  row_cache_mark(c, e);
  return e;
}

ProtobufCMessage *row_cache_update(row_cache_t *c, const void *key, size_t key_len) {
  if (key_len > KEYS_MAX) fatal_exit("row key too long");
  row_entry_t *e = NULL;
  HASH_FIND(hh, c->rows, key, key_len, e);
  if (e != NULL) {
    row_cache_mark(c, e);
    return e->row;
  }
  char *value = NULL;
  size_t len = 0;
  int rc = store_get(c->store, c->cf, key, key_len, &value, &len);
  if (rc < 0) fatal_exit("storage read failed");
  if (rc == 0) return NULL;
  ProtobufCMessage *row = protobuf_c_message_unpack(c->desc, NULL, len, (uint8_t *)value);
  free(value);
  if (row == NULL) fatal_exit("stored row is unreadable");
  return row_cache_add(c, key, key_len, row)->row;
}

void row_cache_insert(row_cache_t *c, const void *key, size_t key_len, ProtobufCMessage *row) {
  if (key_len > KEYS_MAX) fatal_exit("row key too long");
  row_cache_add(c, key, key_len, row);
}

size_t row_cache_dirty_count(const row_cache_t *c) { return c ? c->n_dirty : 0; }

size_t row_cache_flush(row_cache_t *c) {
  size_t written = 0;
  uint8_t *buf = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < c->n_dirty; i++) {
    row_entry_t *e = c->dirty[i];
    size_t len = protobuf_c_message_get_packed_size(e->row);
    if (len > cap || buf == NULL) {
      free(buf);
      cap = len > 256 ? len : 256;
      buf = malloc(cap);
      if (buf == NULL) fatal_exit("out of memory for cached rows");
    }
    protobuf_c_message_pack(e->row, buf);
    store_put(c->store, c->cf, e->key, e->key_len, buf, len);
    e->dirty = 0;
    written++;
  }
  c->n_dirty = 0;
  free(buf);
  if (HASH_COUNT(c->rows) > c->capacity) row_cache_forget(c);
  return written;
}

void row_cache_clear(row_cache_t *c) {
  row_cache_flush(c);
  row_cache_forget(c);
}
