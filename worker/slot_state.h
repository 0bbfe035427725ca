/* slot_state: what a worker keeps in memory about one slot it serves, and
 * how that state is built from storage or taken away again.
 *
 * A worker serves a slot when its map says it owns the slot and no move of
 * the slot is under way (worker_t.owned). Exactly the served slots have
 * their sub-queue heads in the queue index and their live leases in the
 * lease table; data of other slots may lie in storage (a slot being moved
 * away, or arriving from another worker) but is never offered, expired or
 * counted.
 *
 * The per-project counters (items, labels, done) and the queue depths are
 * persisted with every batch and describe the served slots. Loading a slot
 * with `count` set adds its contribution, computed from its records;
 * unloading subtracts the same, so counters follow slots across moves.
 * live_leases is not persisted and is always adjusted. Leases live in
 * memory only; a restart forgets them and offers their items again.
 */
#ifndef TALLY_WORKER_SLOT_STATE_H
#define TALLY_WORKER_SLOT_STATE_H

#include <stdint.h>

#include "worker.h"

/* Builds the in-memory state of `slot` from storage: sub-queue heads, and
 * with `count` (a slot taken over while running) the live leases a slot
 * move carried in (family "leases", consumed: slot_state_save_leases);
 * with `count`, also adds the slot's items, labels, done items
 * and queue entries to the counters (which start-up recovery, reading the
 * persisted counters, must not do). Returns 0 or TALLY_E_NOMEM /
 * TALLY_E_STORAGE (malformed records). */
int slot_state_load(worker_t *w, uint32_t slot, int count);

/* The inverse of slot_state_load(w, slot, 1): drops the slot's heads and
 * leases from memory and subtracts its contribution from the counters.
 * Storage is left as it is. Fatal on storage errors. */
void slot_state_unload(worker_t *w, uint32_t slot);

/* Writes the slot's live leases into the open batch (family "leases"), so
 * that a slot move's chunk stream carries them to the target, which loads
 * them with the slot (slot_move.c, at the freeze). */
void slot_state_save_leases(worker_t *w, uint32_t slot);

#endif
