/* slot_map: which worker owns each of the TALLY_SLOT_COUNT slots, and the
 * epoch that names one version of the cluster map.
 *
 * Pure in-memory logic (no I/O), so the coordinator can plan a change on a
 * copy, persist it, and only then install it. Worker id 0 means "unassigned".
 *
 * Assignment policy (slot_map_assign_unassigned): only unassigned slots are
 * ever given out here; a slot that has an owner keeps it, even when that
 * owner is down, because moving an owned slot needs live migration of its
 * data. Unassigned slots go, in slot order, to whichever candidate worker
 * owns the fewest slots at that moment (ties: lowest id). So the first
 * worker of a fresh cluster receives all slots, and workers that register
 * later receive none until slots are moved by migration.
 *
 * The epoch only grows. slot_map_assign_unassigned() bumps it when it
 * changed something; the coordinator also bumps it (slot_map_bump_epoch) for
 * map changes outside the slot table (a worker joining, changing endpoint or
 * state).
 */
#ifndef TALLY_COORDINATOR_SLOT_MAP_H
#define TALLY_COORDINATOR_SLOT_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"

typedef struct slot_map slot_map_t;

/* A map with every slot unassigned and epoch 0. *out is the caller's
 * (slot_map_destroy). Errors: TALLY_E_NOMEM. */
int slot_map_new(slot_map_t **out);

/* Frees the map; safe on NULL; sets *map NULL. */
void slot_map_destroy(slot_map_t **map);

/* Makes `dst` an exact copy of `src` (owners and epoch). */
void slot_map_copy(slot_map_t *dst, const slot_map_t *src);

uint64_t slot_map_epoch(const slot_map_t *map);

/* Sets the epoch as loaded from storage. */
void slot_map_set_epoch(slot_map_t *map, uint64_t epoch);

/* Increments the epoch; returns the new value. */
uint64_t slot_map_bump_epoch(slot_map_t *map);

/* Owner of `slot` (0 = unassigned). `slot` must be < TALLY_SLOT_COUNT. */
uint32_t slot_map_owner(const slot_map_t *map, uint32_t slot);

/* Sets the owner of `slot` as loaded from storage; does not bump the epoch. */
void slot_map_set_owner(slot_map_t *map, uint32_t slot, uint32_t worker_id);

/* The TALLY_SLOT_COUNT owners, indexed by slot. Borrowed. */
const uint32_t *slot_map_owners(const slot_map_t *map);

/* How many slots `worker_id` owns (worker 0: how many are unassigned). */
uint32_t slot_map_count_owned(const slot_map_t *map, uint32_t worker_id);

/* Gives every unassigned slot to one of the `count` candidate workers
 * (non-zero ids, no duplicates), balancing by slots owned as described
 * above. Returns the number of slots assigned; when that is > 0 the epoch
 * was bumped once. Returns 0 and changes nothing when count is 0 or no slot
 * is unassigned; TALLY_E_NOMEM (map unchanged) when out of memory. */
int slot_map_assign_unassigned(slot_map_t *map, const uint32_t *workers, size_t count);

#endif
