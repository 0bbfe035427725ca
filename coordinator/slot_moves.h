/* slot_moves: moving slots between workers: the moves under way, their
 * completion, draining a worker, and the slot map's commits for them.
 *
 * Which moves to make is rebalance.h's (pure); this module keeps the table
 * of moves under way (c->moves, at most COORDINATOR_MOVES_MAX; NOT
 * persisted: after a restart the sources report theirs in heartbeats and
 * are told to give them up), tells each source its moves, and gives up a
 * move that ran too long or lost its source or target.
 *
 * Apply points (each ONE synced meta_batch, then installed, then replied):
 *  - slot_move_done of a move under way, reported by its source, whose
 *    source still owns the slot and whose target is UP: the slot owners
 *    with the slot on the target and the epoch + 1 (commit_map).
 *  - worker_drain / undrain that changes the flag: the worker record with
 *    `draining`, the epoch + 1 and admin log "worker_drain" /
 *    "worker_undrain" (admin_log_commit); then moves are planned and the
 *    reply is the map.
 */
#ifndef TALLY_COORDINATOR_SLOT_MOVES_H
#define TALLY_COORDINATOR_SLOT_MOVES_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator.h"
#include "tally.pb-c.h"

/* At most this many slot moves at once (each source sends one at a time). */
#define COORDINATOR_MOVES_MAX 8
/* A move not reported done within this is given up (its source is told in
 * its next heartbeat, and unfreezes the slot). */
#define COORDINATOR_MOVE_TIMEOUT_MS 60000

typedef struct {
  uint64_t move_id;
  uint32_t slot, source, target;
  uint64_t started_ms; /* monotonic */
} slot_move_t;

/* The move `move_id` under way, or NULL. Borrowed until the next change
 * of the table. */
slot_move_t *slot_moves_find(coordinator_t *c, uint64_t move_id);

/* Fills `bodies`/`ptrs` (room for COORDINATOR_MOVES_MAX) with the moves
 * `source` is to carry out; endpoints are borrowed. Returns how many. */
size_t slot_moves_for_source(coordinator_t *c, uint32_t source, Tally__SlotMove *bodies,
                             Tally__SlotMove **ptrs);

/* Gives up moves that ran too long or lost their source or target, then
 * plans new ones (rebalance.h) unless a fresh cluster is still settling or
 * slots are unassigned. In memory only. */
void slot_moves_rebalance(coordinator_t *c, uint64_t now_ms);

/* slot_move_done (`caller_key`: only the move's source may report it) and
 * worker_drain. */
void slot_moves_handle_done(coordinator_t *c, const Tally__Envelope *request,
                            const char *caller_key, const coordinator_replier_t *r);
void slot_moves_handle_drain(coordinator_t *c, const Tally__Envelope *request,
                             const coordinator_replier_t *r);

#endif
