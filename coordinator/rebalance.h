/* rebalance: which slot moves bring the cluster closer to balance.
 *
 * Pure logic over the slot map and the workers' states, no I/O. Only slots
 * of live workers take part: a DOWN worker keeps its slots (their data is
 * only there) and is neither source nor target. Among the UP workers:
 *  - a draining worker hands every slot away, to the non-draining UP
 *    worker with the fewest slots;
 *  - otherwise a slot goes from the worker with the most slots to the one
 *    with the fewest while they differ by more than one.
 * A worker whose store is full (its last heartbeat said so) is never a
 * target: it would refuse the slot's chunks, and the move would only be
 * given up after its timeout, again and again. It may still be a source
 * (a move reads the slot there), and it counts as usual for the others.
 * Counts include the moves already under way (a source counts without its
 * outgoing slots, a target with its incoming ones). A worker is the source
 * of at most one move at a time, so each keeps serving its other slots
 * while one is copied; a slot moves at most once at a time.
 */
#ifndef TALLY_COORDINATOR_REBALANCE_H
#define TALLY_COORDINATOR_REBALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "slot_map.h"

typedef struct {
  uint32_t id;
  int up;        /* serving (state UP) */
  int draining;  /* hands its slots away */
  int full;      /* its store refuses writes for lack of space: takes no slot */
} rebalance_worker_t;

typedef struct {
  uint32_t slot;
  uint32_t source;
  uint32_t target;
} rebalance_move_t;

/* Plans up to `max` new moves into `out` given the `n` workers and the
 * `n_active` moves under way. Returns how many were planned. */
size_t rebalance_plan(const slot_map_t *map, const rebalance_worker_t *workers, size_t n,
                      const rebalance_move_t *active, size_t n_active, rebalance_move_t *out,
                      size_t max);

/* Ownership skew: the most slots any non-draining UP worker owns divided by
 * their mean (1.0 = perfectly even); 0 when there is no such worker. */
double rebalance_skew(const slot_map_t *map, const rebalance_worker_t *workers, size_t n);

#endif
