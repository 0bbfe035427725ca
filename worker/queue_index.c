/* queue_index: per-queue indexed heap of slot heads. See queue_index.h. */
#include "queue_index.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

struct queue {
  uint32_t project_id;
  uint32_t stage;
  char market[KEYS_MARKET_MAX + 1];
  uint64_t depth;
  queue_position_t head[TALLY_SLOT_COUNT];
  int16_t heap_pos[TALLY_SLOT_COUNT]; /* index in heap, -1 when the slot is empty */
  uint16_t heap[TALLY_SLOT_COUNT];
  uint32_t heap_len;
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
  for (size_t i = 0; i < (*qi)->count; i++) free((*qi)->queues[i]);
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

void queue_set_head(queue_t *q, uint32_t slot, const queue_position_t *pos) {
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

void queue_add(queue_t *q, uint32_t slot, queue_position_t pos) {
  q->depth++;
  queue_position_t head;
  if (!queue_slot_head(q, slot, &head) || queue_position_compare(pos, head) < 0)
    queue_set_head(q, slot, &pos);
}

int queue_remove(queue_t *q, uint32_t slot, queue_position_t pos) {
  if (q->depth > 0) q->depth--;
  queue_position_t head;
  return queue_slot_head(q, slot, &head) && queue_position_compare(pos, head) == 0;
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
