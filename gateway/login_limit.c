/* login_limit: see login_limit.h. A uthash table in insertion order: the
 * head is the oldest entry, forgotten first when the table is full. */
#include "login_limit.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "tally_error.h"

typedef struct {
  char *key;
  uint32_t failures;
  uint64_t window_start_ms;
  UT_hash_handle hh;
} limit_entry_t;

struct login_limit {
  limit_entry_t *entries;
  uint32_t max_failures;
  uint64_t window_ms;
  size_t max_keys;
};

int login_limit_new(login_limit_t **out, uint32_t max_failures, uint64_t window_ms, size_t max_keys) {
  *out = calloc(1, sizeof **out);
  if (*out == NULL) return TALLY_E_NOMEM;
  (*out)->max_failures = max_failures ? max_failures : 1;
  (*out)->window_ms = window_ms;
  (*out)->max_keys = max_keys ? max_keys : 1;
  return 0;
}

static void entry_remove(login_limit_t *l, limit_entry_t *e) {
  HASH_DEL(l->entries, e);
  free(e->key);
  free(e);
}

void login_limit_destroy(login_limit_t **lp) {
  if (lp == NULL || *lp == NULL) return;
  login_limit_t *l = *lp;
  limit_entry_t *e, *tmp;
  HASH_ITER(hh, l->entries, e, tmp) entry_remove(l, e);
  free(l);
  *lp = NULL;
}

static limit_entry_t *entry_find(login_limit_t *l, const char *key) {
  limit_entry_t *e = NULL;
  HASH_FIND_STR(l->entries, key, e);
  return e;
}

int login_limit_is_blocked(login_limit_t *l, const char *key, uint64_t now_ms, uint64_t *retry_ms) {
  limit_entry_t *e = entry_find(l, key);
  *retry_ms = 0;
  if (e == NULL) return 0;
  uint64_t ends = e->window_start_ms + l->window_ms;
  if (now_ms >= ends) {
    entry_remove(l, e);
    return 0;
  }
  if (e->failures < l->max_failures) return 0;
  *retry_ms = ends - now_ms;
  return 1;
}

void login_limit_fail(login_limit_t *l, const char *key, uint64_t now_ms) {
  limit_entry_t *e = entry_find(l, key);
  if (e != NULL && now_ms >= e->window_start_ms + l->window_ms) {
    entry_remove(l, e);
    e = NULL;
  }
  if (e == NULL) {
    if (HASH_COUNT(l->entries) >= l->max_keys) entry_remove(l, l->entries); /* the oldest */
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->key = strdup(key)) == NULL) {
      free(e);
      return; /* out of memory: this failure goes uncounted */
    }
    e->window_start_ms = now_ms;
    HASH_ADD_KEYPTR(hh, l->entries, e->key, strlen(e->key), e);
  }
  e->failures++;
}

void login_limit_clear(login_limit_t *l, const char *key) {
  limit_entry_t *e = entry_find(l, key);
  if (e != NULL) entry_remove(l, e);
}
