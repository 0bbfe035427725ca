/* slot_move: live migration of slots, the worker's side (both ends).
 *
 * Source. The coordinator hands a move (slot, target) to the slot's owner.
 * The owner freezes the slot: it unloads the slot's in-memory state
 * (slot_state_unload), records the freeze durably (key "move" + slot in the
 * default family) and from then on answers requests for the slot with
 * UNAVAILABLE ("being moved", retryable), so nothing of the slot changes
 * while it is copied. It then streams every key of the slot's slot-led
 * families to the target in slot_chunk requests (one per loop turn, each
 * bounded in entries and bytes, each acknowledged only once durable at the
 * target; the first tells the target to drop whatever it held of the slot),
 * and reports slot_move_done to the coordinator. The coordinator flips the
 * owner (a new, persisted epoch) and answers with the new map; only when
 * the source applies a map in which the target owns the slot does it delete
 * the slot's range and the freeze record. If the coordinator gives the move
 * up instead (error, timeout, coordinator restart: the move is not in its
 * table), the source unfreezes and reloads the slot.
 *
 * A freeze survives a crash: a restarted source keeps the slot frozen and,
 * once registered (so it holds the current map), either finds the flip in
 * the map or copies the slot again from the start.
 *
 * Target. slot_chunk requests are refused for a slot the worker serves or
 * is moving away; otherwise their entries go into the group's batch like
 * any write, so the reply means durable. The slot is loaded into memory
 * (slot_state_load) only when a map makes this worker its owner.
 *
 * The chunk stream (SlotChunk: family, key, value) is independent of why a
 * slot is copied, so replication can reuse it.
 */
#ifndef TALLY_WORKER_SLOT_MOVE_H
#define TALLY_WORKER_SLOT_MOVE_H

#include <stddef.h>
#include <stdint.h>

#include "router.h"
#include "tally.pb-c.h"
#include "worker.h"

/* Sets up the move state and reads freeze records from storage (before the
 * cached map is applied). Returns 0 or TALLY_E_NOMEM / TALLY_E_STORAGE. */
int slot_move_open(worker_t *w);

/* Stops the stepping handle (uv_close) and frees the state; safe twice. */
void slot_move_close(worker_t *w);

/* Id of the move freezing `slot`, 0 when none. */
uint64_t slot_move_frozen(const worker_t *w, uint32_t slot);

/* The coordinator asks this worker to move a slot away (idempotent by move
 * id; a new id for a slot already queued replaces the old move). */
void slot_move_start(worker_t *w, const Tally__SlotMove *move);

/* The coordinator has no such move: unfreeze and reload the slot if this
 * worker still owns it by its map. Unknown ids are ignored. */
void slot_move_abort(worker_t *w, uint64_t move_id);

/* The coordinator's answer to slot_move_done (its map already applied). */
void slot_move_on_done_reply(worker_t *w, const Tally__SlotMoveDoneReply *reply);

/* After a map was applied: loads newly served slots, unloads slots no
 * longer served, and completes moves whose target now owns the slot.
 * `was_owned` is worker_t.owned as it was before the map. */
void slot_move_on_map(worker_t *w, const uint8_t *was_owned);

/* From the tick: re-sends slot_move_done when the coordinator did not
 * answer, and resumes moves once registered. */
void slot_move_tick(worker_t *w, uint64_t now_ms);

/* The moves this worker knows (for its heartbeat): up to `max` borrowed
 * pointers into *out; returns how many. */
size_t slot_move_list(worker_t *w, Tally__SlotMove **out, size_t max);

/* True when this worker holds per-worker sums (statistics, operations,
 * exposure rows, event counters): a drained worker hands them over to
 * another worker before it is stopped, so reports keep them. */
int slot_move_has_aggregates(worker_t *w);

/* The coordinator asks this drained worker to hand its sums over to
 * to->target_id: chunks of rows (merge = true) that the target adds to its
 * own at most once per key (it records how far each source's generation
 * got), each deleted here once acknowledged; the event counters go in the
 * last chunk. Stops if the worker serves a slot again. */
void slot_move_handoff(worker_t *w, const Tally__SlotMove *to);

/* Serves a slot_chunk request (target side; merge chunks too). */
void slot_move_handle_chunk(worker_t *w, const router_request_t *req);

#endif
