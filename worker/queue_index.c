/* queue_index: per-queue indexed heap of slot heads, and per slot a buffer
 * of its sub-queue's first entries. See queue_index.h. */
#include "queue_index.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* A buffered entry: 32 bytes. id_len 0: the id is longer than
 * QUEUE_ID_INLINE and not kept (ids are 1 to KEYS_ITEM_ID_MAX bytes). */
typedef struct {
  uint64_t seq;
  uint8_t priority;
  uint8_t id_len;
  char id[QUEUE_ID_INLINE];
} buffered_entry_t;

/* The first n (>= 1) entries of a sub-queue, entry[0] its head; complete:
 * the sub-queue has no entries after entry[n - 1]. Room for `capacity`
 * entries (up to QUEUE_BUFFER_MAX), grown as entries come, so that a short
 * sub-queue costs only what it holds. */
typedef struct {
  uint8_t n;
  uint8_t capacity;
  uint8_t complete;
  buffered_entry_t entry[];
} slot_buffer_t;

struct queue {
  uint32_t project_id;
  uint32_t stage;
  char market[KEYS_MARKET_MAX + 1];
  uint64_t depth;
  uint64_t parked; /* entries in storage, out of the index (queue_park) */
  queue_position_t head[TALLY_SLOT_COUNT];
  int16_t heap_pos[TALLY_SLOT_COUNT]; /* index in heap, -1 when the slot is empty */
  uint16_t heap[TALLY_SLOT_COUNT];
  uint32_t heap_len;
  slot_buffer_t *buffer[TALLY_SLOT_COUNT]; /* NULL: only the head is known */
};

struct queue_index {
  queue_t **queues;
  size_t count;
  size_t capacity;
};

int queue_position_compare(queue_position_t a, queue_position_t b) {
  if (a.priority != b.priority) return a.priority > b.priority ? -1 : 1;
  if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

queue_index_t *queue_index_new(void) { return calloc(1, sizeof(queue_index_t)); }

void queue_index_destroy(queue_index_t **qi) {
  if (qi == NULL || *qi == NULL) return;
  for (size_t i = 0; i < (*qi)->count; i++) {
    queue_t *q = (*qi)->queues[i];
    for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) free(q->buffer[s]);
    free(q);
  }
  free((*qi)->queues);
  free(*qi);
  *qi = NULL;
}

queue_t *queue_index_get(queue_index_t *qi, uint32_t project_id, uint32_t stage,
                         const char *market, int create) {
  for (size_t i = 0; i < qi->count; i++) {
    queue_t *q = qi->queues[i];
    if (q->project_id == project_id && q->stage == stage && strcmp(q->market, market) == 0)
      return q;
  }
  if (!create || strlen(market) > KEYS_MARKET_MAX) return NULL;
  if (qi->count == qi->capacity) {
    size_t capacity = qi->capacity ? qi->capacity * 2 : 16;
    queue_t **grown = realloc(qi->queues, capacity * sizeof *grown);
    if (grown == NULL) return NULL;
    qi->queues = grown;
    qi->capacity = capacity;
  }
  queue_t *q = calloc(1, sizeof *q);
  if (q == NULL) return NULL;
  q->project_id = project_id;
  q->stage = stage;
  strcpy(q->market, market);
  memset(q->heap_pos, 0xff, sizeof q->heap_pos);
  qi->queues[qi->count++] = q;
  return q;
}

size_t queue_index_count(const queue_index_t *qi) { return qi->count; }

queue_t *queue_index_at(const queue_index_t *qi, size_t i) {
  return i < qi->count ? qi->queues[i] : NULL;
}

uint32_t queue_project_id(const queue_t *q) { return q->project_id; }
uint32_t queue_stage(const queue_t *q) { return q->stage; }
const char *queue_market(const queue_t *q) { return q->market; }
uint64_t queue_depth(const queue_t *q) { return q->depth; }
void queue_set_depth(queue_t *q, uint64_t depth) { q->depth = depth; }
uint64_t queue_parked(const queue_t *q) { return q->parked; }

int queue_park(queue_t *q, uint32_t slot, queue_position_t pos) {
  q->parked++;
  return queue_remove(q, slot, pos);
}

void queue_unpark(queue_t *q, uint32_t slot, queue_position_t pos, const char *item_id,
                  size_t item_len) {
  if (q->parked > 0) q->parked--;
  queue_add(q, slot, pos, item_id, item_len);
}

void queue_add_parked(queue_t *q, uint64_t n) { q->parked += n; }

void queue_park_gone(queue_t *q) {
  if (q->parked > 0) q->parked--;
}

static int heap_less(const queue_t *q, uint32_t i, uint32_t j) {
  return queue_position_compare(q->head[q->heap[i]], q->head[q->heap[j]]) < 0;
}

static void heap_swap(queue_t *q, uint32_t i, uint32_t j) {
  uint16_t a = q->heap[i], b = q->heap[j];
  q->heap[i] = b;
  q->heap[j] = a;
  q->heap_pos[b] = (int16_t)i;
  q->heap_pos[a] = (int16_t)j;
}

static void heap_fix(queue_t *q, uint32_t i) {
  while (i > 0 && heap_less(q, i, (i - 1) / 2)) {
    heap_swap(q, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, best = i;
    if (l < q->heap_len && heap_less(q, l, best)) best = l;
    if (r < q->heap_len && heap_less(q, r, best)) best = r;
    if (best == i) return;
    heap_swap(q, i, best);
    i = best;
  }
}

/* Moves the slot's place in the heap to `pos`, or out of it (NULL). */
static void heap_set(queue_t *q, uint32_t slot, const queue_position_t *pos) {
  assert(slot < TALLY_SLOT_COUNT);
  int16_t at = q->heap_pos[slot];
  if (pos == NULL) {
    if (at < 0) return;
    uint32_t last = q->heap_len - 1;
    if ((uint32_t)at != last) heap_swap(q, (uint32_t)at, last);
    q->heap_len--;
    q->heap_pos[slot] = -1;
    if ((uint32_t)at < q->heap_len) heap_fix(q, (uint32_t)at);
    return;
  }
  q->head[slot] = *pos;
  if (at < 0) {
    at = (int16_t)q->heap_len++;
    q->heap[at] = (uint16_t)slot;
    q->heap_pos[slot] = at;
  }
  heap_fix(q, (uint32_t)at);
}

static void buffer_drop(queue_t *q, uint32_t slot) {
  free(q->buffer[slot]);
  q->buffer[slot] = NULL;
}

static queue_position_t entry_pos(const buffered_entry_t *e) {
  return (queue_position_t){e->priority, e->seq};
}

static void entry_set(buffered_entry_t *e, queue_position_t pos, const char *item_id,
                      size_t item_len) {
  assert(pos.priority <= UINT8_MAX);
  e->seq = pos.seq;
  e->priority = (uint8_t)pos.priority;
  e->id_len = item_len <= QUEUE_ID_INLINE ? (uint8_t)item_len : 0;
  memcpy(e->id, item_id, e->id_len);
}

/* Index of the first buffered entry not served before `pos` (b->n if none). */
static uint32_t buffer_lower_bound(const slot_buffer_t *b, queue_position_t pos) {
  uint32_t i = 0;
  while (i < b->n && queue_position_compare(entry_pos(&b->entry[i]), pos) < 0) i++;
  return i;
}

static slot_buffer_t *buffer_alloc(slot_buffer_t *b, uint32_t capacity) {
  slot_buffer_t *grown = realloc(b, sizeof *b + capacity * sizeof b->entry[0]);
  if (grown != NULL) grown->capacity = (uint8_t)capacity;
  return grown;
}

/* A new entry of a buffered sub-queue, in step with storage: kept when it
 * falls before the last entry (which falls out when the buffer is full) or
 * after it in a complete buffer with room; otherwise storage has it. */
static void buffer_add(queue_t *q, uint32_t slot, queue_position_t pos, const char *item_id,
                       size_t item_len) {
  slot_buffer_t *b = q->buffer[slot];
  uint32_t at = buffer_lower_bound(b, pos);
  if (at == b->n && !b->complete) return;
  if (b->n == b->capacity && b->capacity < QUEUE_BUFFER_MAX) {
    uint32_t capacity = 2u * b->capacity;
    if (capacity > QUEUE_BUFFER_MAX) capacity = QUEUE_BUFFER_MAX;
    slot_buffer_t *grown = buffer_alloc(b, capacity);
    if (grown != NULL) q->buffer[slot] = b = grown;
  }
  if (b->n == b->capacity) {
    b->complete = 0; /* the last entry (or the new one) is left to storage */
    if (at == b->n) return;
    b->n--;
  }
  memmove(&b->entry[at + 1], &b->entry[at], (b->n - at) * sizeof b->entry[0]);
  entry_set(&b->entry[at], pos, item_id, item_len);
  b->n++;
}

void queue_add(queue_t *q, uint32_t slot, queue_position_t pos, const char *item_id,
               size_t item_len) {
  assert(slot < TALLY_SLOT_COUNT);
  q->depth++;
  if (q->heap_pos[slot] < 0) {
    /* The sub-queue was empty: this entry is all of it. */
    queue_entry_t only = {pos, item_id, item_len};
    queue_slot_fill(q, slot, &only, 1, 1);
    return;
  }
  if (q->buffer[slot] != NULL) buffer_add(q, slot, pos, item_id, item_len);
  if (queue_position_compare(pos, q->head[slot]) < 0) heap_set(q, slot, &pos);
}

int queue_remove(queue_t *q, uint32_t slot, queue_position_t pos) {
  assert(slot < TALLY_SLOT_COUNT);
  if (q->depth > 0) q->depth--;
  if (q->heap_pos[slot] < 0) return 0;
  int was_head = queue_position_compare(pos, q->head[slot]) == 0;
  slot_buffer_t *b = q->buffer[slot];
  if (b == NULL) return was_head;
  uint32_t at = buffer_lower_bound(b, pos);
  if (at < b->n && queue_position_compare(entry_pos(&b->entry[at]), pos) == 0) {
    b->n--;
    memmove(&b->entry[at], &b->entry[at + 1], (b->n - at) * sizeof b->entry[0]);
  } else if (at < b->n || was_head) {
    /* Not an entry of the sub-queue as the buffer knows it: the buffer is
     * out of step with the caller; forget it (storage is the truth). */
    buffer_drop(q, slot);
    return was_head;
  }
  if (!was_head) return 0;
  if (b->n > 0) {
    queue_position_t next = entry_pos(&b->entry[0]);
    heap_set(q, slot, &next);
    return 0;
  }
  int complete = b->complete;
  buffer_drop(q, slot);
  if (!complete) return 1;
  heap_set(q, slot, NULL);
  return 0;
}

void queue_slot_fill(queue_t *q, uint32_t slot, const queue_entry_t *entries, size_t n,
                     int complete) {
  assert(slot < TALLY_SLOT_COUNT);
  buffer_drop(q, slot);
  if (n == 0) {
    heap_set(q, slot, NULL);
    return;
  }
  heap_set(q, slot, &entries[0].pos);
  if (n > QUEUE_BUFFER_MAX) {
    n = QUEUE_BUFFER_MAX;
    complete = 0;
  }
  slot_buffer_t *b = buffer_alloc(NULL, (uint32_t)n);
  if (b == NULL) return;
  for (size_t i = 0; i < n; i++)
    entry_set(&b->entry[i], entries[i].pos, entries[i].item_id, entries[i].item_len);
  b->n = (uint8_t)n;
  b->complete = complete != 0;
  q->buffer[slot] = b;
}

void queue_set_head(queue_t *q, uint32_t slot, const queue_position_t *pos) {
  assert(slot < TALLY_SLOT_COUNT);
  buffer_drop(q, slot);
  heap_set(q, slot, pos);
}

int queue_slot_is_buffered(const queue_t *q, uint32_t slot) {
  return slot < TALLY_SLOT_COUNT && q->buffer[slot] != NULL;
}

int queue_slot_item(const queue_t *q, uint32_t slot, queue_position_t pos, const char **item_id,
                    size_t *item_len) {
  if (!queue_slot_is_buffered(q, slot)) return 0;
  const slot_buffer_t *b = q->buffer[slot];
  uint32_t at = buffer_lower_bound(b, pos);
  if (at == b->n || queue_position_compare(entry_pos(&b->entry[at]), pos) != 0 ||
      b->entry[at].id_len == 0)
    return 0;
  *item_id = b->entry[at].id;
  *item_len = b->entry[at].id_len;
  return 1;
}

int queue_slot_next(const queue_t *q, uint32_t slot, queue_position_t after,
                    queue_position_t *next) {
  if (!queue_slot_is_buffered(q, slot)) return -1;
  const slot_buffer_t *b = q->buffer[slot];
  uint32_t at = buffer_lower_bound(b, after);
  if (at < b->n && queue_position_compare(entry_pos(&b->entry[at]), after) == 0) at++;
  if (at < b->n) {
    *next = entry_pos(&b->entry[at]);
    return 1;
  }
  return b->complete ? 0 : -1;
}

int queue_slot_head(const queue_t *q, uint32_t slot, queue_position_t *pos) {
  if (slot >= TALLY_SLOT_COUNT || q->heap_pos[slot] < 0) return 0;
  *pos = q->head[slot];
  return 1;
}

int queue_peek(const queue_t *q, uint32_t *slot, queue_position_t *pos) {
  if (q->heap_len == 0) return 0;
  *slot = q->heap[0];
  *pos = q->head[q->heap[0]];
  return 1;
}

size_t queue_nonempty_slots(const queue_t *q, uint32_t *slots) {
  for (uint32_t i = 0; i < q->heap_len; i++) slots[i] = q->heap[i];
  return q->heap_len;
}
