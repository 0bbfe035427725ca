/* queue_index: the in-memory heads of the worker's queues.
 *
 * The queue entries themselves live in RocksDB (common/keys.h, "queue"); a
 * queue (project, stage, market) is split into one sub-queue per slot. This
 * index keeps, per queue, the head position of each non-empty slot
 * sub-queue in an indexed binary heap, plus the queue's depth. The best task
 * of a queue is the heap's top: highest priority first, then lowest sequence
 * (oldest first).
 *
 * Per sub-queue it may also keep a buffer of its first few entries
 * (position and, for short ids, the item id), so that leasing the head
 * needs no read of the queue entry and popping it no seek: the next head is
 * the buffer's next entry, and storage is read again (one seek, up to
 * QUEUE_BUFFER_MAX entries) only when the buffer runs out. Invariant: a
 * buffer's entries are exactly the entries of the sub-queue (as seen
 * through the open batch) up to its last one, the first being the head; a
 * "complete" buffer also knows there is nothing after its last entry. Adds
 * before the last entry go into the buffer (pushing its last entry out when
 * full), adds after it are left to storage; removals leave the buffer.
 * Memory is O(queues x slots x QUEUE_BUFFER_MAX), never O(items).
 *
 * The heads are rebuilt at start from storage (one seek per sub-queue), the
 * buffers when a head is first looked up, and both are kept in step by the
 * worker on every add and remove.
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

/* Parked entries: in storage, but out of the index while live leases cover
 * what their items still need (lease_table.h). queue_depth() counts the
 * entries offered; stored depths (WorkerMeta) add the parked ones, which a
 * restart offers again. queue_park() is queue_remove() (same return) that
 * counts the entry parked; queue_unpark() is queue_add() back from parked;
 * queue_park_gone(): a parked entry left storage. */
uint64_t queue_parked(const queue_t *q);
int queue_park(queue_t *q, uint32_t slot, queue_position_t pos);
void queue_unpark(queue_t *q, uint32_t slot, queue_position_t pos, const char *item_id,
                  size_t item_len);
void queue_park_gone(queue_t *q);
/* n stored entries found parked when a slot is loaded (slot_state.c). */
void queue_add_parked(queue_t *q, uint64_t n);

/* Most entries a sub-queue's buffer holds, and the longest item id it keeps
 * (longer ids are read from storage when needed). */
#define QUEUE_BUFFER_MAX 8
#define QUEUE_ID_INLINE 22

/* One entry of a sub-queue as read from storage; item_id is borrowed. */
typedef struct {
  queue_position_t pos;
  const char *item_id;
  size_t item_len;
} queue_entry_t;

/* A new entry at (slot, pos) for `item_id`: depth + 1; the slot's head moves
 * if pos is served earlier, and the buffer takes the entry if it falls
 * before the buffer's last one (or the buffer holds the whole sub-queue). */
void queue_add(queue_t *q, uint32_t slot, queue_position_t pos, const char *item_id,
               size_t item_len);

/* An entry at (slot, pos) left the queue: depth - 1, and it leaves the
 * slot's buffer; when it was the head, the buffer's next entry becomes the
 * head. Returns 1 when the head left and the index does not know what comes
 * next: the caller must then read the sub-queue's first entries (after pos)
 * from storage and call queue_slot_fill(). Returns 0 otherwise. */
int queue_remove(queue_t *q, uint32_t slot, queue_position_t pos);

/* The first n entries of a slot's sub-queue as read from storage, in
 * queue order; `complete`: there are no more. Sets the head (clears it when
 * n is 0) and keeps up to QUEUE_BUFFER_MAX of them in the slot's buffer
 * (none when out of memory: the buffer is only a cache). */
void queue_slot_fill(queue_t *q, uint32_t slot, const queue_entry_t *entries, size_t n,
                     int complete);

/* Sets the head of a slot's sub-queue, or clears it (pos NULL: empty), and
 * drops the slot's buffer: what follows the head is not known any more. */
void queue_set_head(queue_t *q, uint32_t slot, const queue_position_t *pos);

/* 1 when the slot's sub-queue has a buffer (queue_slot_fill() since its
 * head was last set), 0 when its entries must be read from storage. */
int queue_slot_is_buffered(const queue_t *q, uint32_t slot);

/* The item id of the entry at (slot, pos) when the buffer holds it: 1 with
 * *item_id (borrowed, valid until the queue next changes) and *item_len; 0
 * when it must be read from storage (not buffered, or a long id). */
int queue_slot_item(const queue_t *q, uint32_t slot, queue_position_t pos, const char **item_id,
                    size_t *item_len);

/* The first entry of a slot's sub-queue after `after`: 1 and *next when the
 * buffer knows it, 0 when the buffer knows there is none, -1 when it must
 * be read from storage. */
int queue_slot_next(const queue_t *q, uint32_t slot, queue_position_t after,
                    queue_position_t *next);

/* Head of one slot's sub-queue: 1 and *pos, or 0 when empty. */
int queue_slot_head(const queue_t *q, uint32_t slot, queue_position_t *pos);

/* Best head of the queue: 1 with *slot and *pos, or 0 when empty. */
int queue_peek(const queue_t *q, uint32_t *slot, queue_position_t *pos);

/* Writes the slots whose sub-queue is non-empty into `slots` (room for
 * TALLY_SLOT_COUNT) and returns how many. */
size_t queue_nonempty_slots(const queue_t *q, uint32_t *slots);

#endif
