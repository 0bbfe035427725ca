/* lease_table: uthash by lease id + binary min-heap by deadline. */
#include "lease_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "tally_error.h"

/* The live leases of one item and its park state; key: slot, project id
 * (host order) and the item id's bytes. */
typedef struct item_hold {
  uint8_t *key;
  size_t key_len;
  struct lease_entry *first; /* its leases, linked by next_of_item */
  size_t count;
  lease_park_t park;
  UT_hash_handle hh;
} item_hold_t;

typedef struct lease_entry {
  lease_t lease;
  size_t heap_index;
  item_hold_t *item;
  struct lease_entry *next_of_item;
  UT_hash_handle hh;
} lease_entry_t;

/* Live leases per holder, for the per-person cap. */
typedef struct holder_count {
  char labeler[LEASE_LABELER_MAX + 1];
  size_t count;
  UT_hash_handle hh;
} holder_count_t;

struct lease_table {
  lease_entry_t *by_id; /* uthash head */
  item_hold_t *items;   /* uthash head: items with at least one lease */
  holder_count_t *holders; /* uthash head: holders with at least one lease */
  lease_entry_t **heap;
  size_t count;
  size_t capacity;
};

lease_table_t *lease_table_new(void) { return calloc(1, sizeof(lease_table_t)); }

static void lease_entry_free(lease_entry_t *e) {
  free(e->lease.item_id);
  free(e);
}

void lease_table_destroy(lease_table_t **table) {
  if (table == NULL || *table == NULL) return;
  lease_table_t *t = *table;
  lease_entry_t *e, *tmp;
  HASH_ITER(hh, t->by_id, e, tmp) {
    HASH_DEL(t->by_id, e);
    lease_entry_free(e);
  }
  item_hold_t *ih, *ihtmp;
  HASH_ITER(hh, t->items, ih, ihtmp) {
    HASH_DEL(t->items, ih);
    free(ih->key);
    free(ih);
  }
  holder_count_t *h, *htmp;
  HASH_ITER(hh, t->holders, h, htmp) {
    HASH_DEL(t->holders, h);
    free(h);
  }
  free(t->heap);
  free(t);
  *table = NULL;
}

/* The hold key of an item into out (room for 8 + item_len). */
static size_t item_key(uint8_t *out, uint32_t slot, uint32_t project_id, const char *item_id,
                       size_t item_len) {
  memcpy(out, &slot, 4);
  memcpy(out + 4, &project_id, 4);
  memcpy(out + 8, item_id, item_len);
  return 8 + item_len;
}

static item_hold_t *item_find(const lease_table_t *t, uint32_t slot, uint32_t project_id,
                              const char *item_id, size_t item_len) {
  uint8_t stack[8 + 256];
  uint8_t *key = item_len <= 256 ? stack : malloc(8 + item_len);
  if (key == NULL) return NULL;
  size_t key_len = item_key(key, slot, project_id, item_id, item_len);
  item_hold_t *h = NULL;
  HASH_FIND(hh, t->items, key, key_len, h);
  if (key != stack) free(key);
  return h;
}

lease_park_t *lease_table_park(lease_table_t *t, uint32_t slot, uint32_t project_id,
                               const char *item_id, size_t item_len) {
  item_hold_t *h = item_find(t, slot, project_id, item_id, item_len);
  return h ? &h->park : NULL;
}

size_t lease_table_of_item(const lease_table_t *t, uint32_t slot, uint32_t project_id,
                           const char *item_id, size_t item_len, const lease_t **out,
                           size_t max) {
  item_hold_t *h = item_find(t, slot, project_id, item_id, item_len);
  if (h == NULL) return 0;
  size_t n = 0;
  for (lease_entry_t *e = h->first; e != NULL; e = e->next_of_item, n++)
    if (n < max) out[n] = &e->lease;
  return n;
}

size_t lease_table_of_slot(const lease_table_t *t, uint32_t slot, uint64_t *out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < t->count; i++)
    if (t->heap[i]->lease.slot == slot) {
      if (n < max) out[n] = t->heap[i]->lease.lease_id;
      n++;
    }
  return n;
}

static holder_count_t *holder_find(const lease_table_t *t, const char *labeler) {
  holder_count_t *h = NULL;
  HASH_FIND_STR(t->holders, labeler, h);
  return h;
}

size_t lease_table_count_of(const lease_table_t *t, const char *labeler) {
  const holder_count_t *h = holder_find(t, labeler);
  return h ? h->count : 0;
}

static int heap_less(const lease_table_t *t, size_t i, size_t j) {
  return t->heap[i]->lease.deadline_ms < t->heap[j]->lease.deadline_ms;
}

static void heap_swap(lease_table_t *t, size_t i, size_t j) {
  lease_entry_t *a = t->heap[i];
  t->heap[i] = t->heap[j];
  t->heap[j] = a;
  t->heap[i]->heap_index = i;
  t->heap[j]->heap_index = j;
}

static void heap_fix(lease_table_t *t, size_t i) {
  while (i > 0 && heap_less(t, i, (i - 1) / 2)) {
    heap_swap(t, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, best = i;
    if (l < t->count && heap_less(t, l, best)) best = l;
    if (r < t->count && heap_less(t, r, best)) best = r;
    if (best == i) return;
    heap_swap(t, i, best);
    i = best;
  }
}

int lease_table_add(lease_table_t *t, const lease_t *lease) {
  if (strlen(lease->labeler) > LEASE_LABELER_MAX) return TALLY_E_INVALID_ARGUMENT;
  if (lease_table_find(t, lease->lease_id) != NULL) return TALLY_E_ALREADY_EXISTS;
  if (t->count == t->capacity) {
    size_t capacity = t->capacity ? t->capacity * 2 : 64;
    lease_entry_t **grown = realloc(t->heap, capacity * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    t->heap = grown;
    t->capacity = capacity;
  }
  holder_count_t *h = holder_find(t, lease->labeler);
  if (h == NULL) {
    h = calloc(1, sizeof *h);
    if (h == NULL) return TALLY_E_NOMEM;
    snprintf(h->labeler, sizeof h->labeler, "%s", lease->labeler);
    HASH_ADD_STR(t->holders, labeler, h);
  }
  lease_entry_t *e = calloc(1, sizeof *e);
  if (e == NULL) {
    if (h->count == 0) {
      HASH_DEL(t->holders, h);
      free(h);
    }
    return TALLY_E_NOMEM;
  }
  e->lease = *lease;
  e->lease.item_id = malloc(lease->item_len + 1);
  if (e->lease.item_id == NULL) {
    free(e);
    return TALLY_E_NOMEM;
  }
  memcpy(e->lease.item_id, lease->item_id, lease->item_len);
  e->lease.item_id[lease->item_len] = '\0';
  item_hold_t *ih = item_find(t, lease->slot, lease->project_id, lease->item_id, lease->item_len);
  if (ih == NULL) {
    ih = calloc(1, sizeof *ih);
    uint8_t *key = malloc(8 + lease->item_len);
    if (ih == NULL || key == NULL) {
      free(ih);
      free(key);
      free(e->lease.item_id);
      free(e);
      if (h->count == 0) {
        HASH_DEL(t->holders, h);
        free(h);
      }
      return TALLY_E_NOMEM;
    }
    ih->key = key;
    ih->key_len = item_key(key, lease->slot, lease->project_id, lease->item_id, lease->item_len);
    HASH_ADD_KEYPTR(hh, t->items, ih->key, ih->key_len, ih);
  }
  e->item = ih;
  e->next_of_item = ih->first;
  ih->first = e;
  ih->count++;
  h->count++;
  HASH_ADD(hh, t->by_id, lease.lease_id, sizeof(uint64_t), e);
  e->heap_index = t->count;
  t->heap[t->count++] = e;
  heap_fix(t, e->heap_index);
  return 0;
}

const lease_t *lease_table_find(const lease_table_t *t, uint64_t lease_id) {
  lease_entry_t *e = NULL;
  HASH_FIND(hh, t->by_id, &lease_id, sizeof lease_id, e);
  return e ? &e->lease : NULL;
}

void lease_table_remove(lease_table_t *t, uint64_t lease_id) {
  lease_entry_t *e = NULL;
  HASH_FIND(hh, t->by_id, &lease_id, sizeof lease_id, e);
  if (e == NULL) return;
  size_t at = e->heap_index, last = t->count - 1;
  if (at != last) heap_swap(t, at, last);
  t->count--;
  if (at < t->count) heap_fix(t, at);
  HASH_DEL(t->by_id, e);
  item_hold_t *ih = e->item;
  for (lease_entry_t **p = &ih->first; *p != NULL; p = &(*p)->next_of_item)
    if (*p == e) {
      *p = e->next_of_item;
      break;
    }
  if (--ih->count == 0) {
    HASH_DEL(t->items, ih);
    free(ih->key);
    free(ih);
  }
  holder_count_t *h = holder_find(t, e->lease.labeler);
  if (h != NULL && --h->count == 0) {
    HASH_DEL(t->holders, h);
    free(h);
  }
  lease_entry_free(e);
}

const lease_t *lease_table_next_expired(const lease_table_t *t, uint64_t now_ms) {
  if (t->count == 0 || t->heap[0]->lease.deadline_ms > now_ms) return NULL;
  return &t->heap[0]->lease;
}

size_t lease_table_count(const lease_table_t *t) { return t->count; }

const lease_t *lease_table_at(const lease_table_t *t, size_t i) {
  return i < t->count ? &t->heap[i]->lease : NULL;
}
