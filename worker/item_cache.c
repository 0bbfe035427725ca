/* item_cache: direct-mapped by an FNV-1a hash of the key. See item_cache.h. */
#include "item_cache.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"

typedef struct {
  uint8_t key[KEYS_MAX];
  size_t key_len; /* 0: empty */
  uint8_t *value;
  size_t len;
} item_place_t;

struct item_cache {
  item_place_t *places;
  size_t mask;
};

static size_t item_cache_place(const item_cache_t *c, const uint8_t *key, size_t key_len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < key_len; i++) h = (h ^ key[i]) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29)) & c->mask;
}

item_cache_t *item_cache_new(unsigned bits) {
  item_cache_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->places = calloc((size_t)1 << bits, sizeof *c->places);
  if (c->places == NULL) {
    free(c);
    return NULL;
  }
  c->mask = ((size_t)1 << bits) - 1;
  return c;
}

void item_cache_clear(item_cache_t *c) {
  for (size_t i = 0; i <= c->mask; i++) {
    free(c->places[i].value);
    c->places[i].value = NULL;
    c->places[i].key_len = 0;
  }
}

void item_cache_forget(item_cache_t *c, const uint8_t *key, size_t key_len) {
  item_place_t *p = &c->places[item_cache_place(c, key, key_len)];
  if (p->key_len != key_len || key_len == 0 || memcmp(p->key, key, key_len) != 0) return;
  free(p->value);
  p->value = NULL;
  p->key_len = 0;
}

void item_cache_destroy(item_cache_t **c) {
  if (c == NULL || *c == NULL) return;
  item_cache_clear(*c);
  free((*c)->places);
  free(*c);
  *c = NULL;
}

int item_cache_get(const item_cache_t *c, const uint8_t *key, size_t key_len,
                   const uint8_t **value, size_t *len) {
  const item_place_t *p = &c->places[item_cache_place(c, key, key_len)];
  if (p->key_len != key_len || key_len == 0 || memcmp(p->key, key, key_len) != 0) return 0;
  *value = p->value;
  *len = p->len;
  return 1;
}

void item_cache_put(item_cache_t *c, const uint8_t *key, size_t key_len, uint8_t *value,
                    size_t len) {
  item_place_t *p = &c->places[item_cache_place(c, key, key_len)];
  free(p->value);
  p->value = NULL;
  p->key_len = 0;
  if (key_len == 0 || key_len > sizeof p->key) {
    free(value);
    return;
  }
  memcpy(p->key, key, key_len);
  p->key_len = key_len;
  p->value = value;
  p->len = len;
}
