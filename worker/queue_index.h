/* queue_index: the in-memory heads of the worker's queues.
 *
 * The queue entries themselves live in RocksDB (common/keys.h, "queue"); a
 * queue (project, stage, market) is split into one sub-queue per slot. This
 * index keeps, per queue, only the head position of each non-empty slot
 * sub-queue in an indexed binary heap, plus the queue's depth. Memory is
 * O(queues x slots), never O(items), and the best task of a queue is the
 * heap's top: highest priority first, then lowest sequence (oldest first).
 *
 * The index is rebuilt at start from storage (one seek per sub-queue) and
 * kept in step by the worker on every add and remove.
 */
#ifndef TALLY_QUEUE_INDEX_H
#define TALLY_QUEUE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"

typedef struct queue_index queue_index_t;
typedef struct queue queue_t;

typedef struct {
  uint32_t priority;
  uint64_t seq;
} queue_position_t;

/* Returns <0 when a is served before b, >0 after, 0 when equal. */
int queue_position_compare(queue_position_t a, queue_position_t b);

/* New empty index, or NULL when out of memory. Destroy with
 * queue_index_destroy(&qi) (safe twice). */
queue_index_t *queue_index_new(void);
void queue_index_destroy(queue_index_t **qi);

/* The queue (project, stage, market); created empty when `create` is set.
 * Returns NULL when absent (or out of memory). The pointer stays valid until
 * the index is destroyed. */
queue_t *queue_index_get(queue_index_t *qi, uint32_t project_id, uint32_t stage,
                         const char *market, int create);

/* Number of queues, and the i-th one (0 <= i < count), for iteration. */
size_t queue_index_count(const queue_index_t *qi);
queue_t *queue_index_at(const queue_index_t *qi, size_t i);

uint32_t queue_project_id(const queue_t *q);
uint32_t queue_stage(const queue_t *q);
const char *queue_market(const queue_t *q);
uint64_t queue_depth(const queue_t *q);
void queue_set_depth(queue_t *q, uint64_t depth);

/* A new entry at (slot, pos): depth + 1; the slot's head moves if pos is
 * served earlier. */
void queue_add(queue_t *q, uint32_t slot, queue_position_t pos);

/* An entry at (slot, pos) left the queue: depth - 1. Returns 1 when it was
 * the slot's head; the caller must then look up the slot's next entry in
 * storage and call queue_set_head(). Returns 0 otherwise. */
int queue_remove(queue_t *q, uint32_t slot, queue_position_t pos);

/* Sets the head of a slot's sub-queue, or clears it (pos NULL: empty). */
void queue_set_head(queue_t *q, uint32_t slot, const queue_position_t *pos);

/* Head of one slot's sub-queue: 1 and *pos, or 0 when empty. */
int queue_slot_head(const queue_t *q, uint32_t slot, queue_position_t *pos);

/* Best head of the queue: 1 with *slot and *pos, or 0 when empty. */
int queue_peek(const queue_t *q, uint32_t *slot, queue_position_t *pos);

/* Writes the slots whose sub-queue is non-empty into `slots` (room for
 * TALLY_SLOT_COUNT) and returns how many. */
size_t queue_nonempty_slots(const queue_t *q, uint32_t *slots);

#endif
