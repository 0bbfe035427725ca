/* replica_set: the coordinator's view of slot replication (R copies per
 * slot, docs/REPLICATION.md): per slot its followers (worker ids holding a
 * copy, the primary excluded), the in-sync set (the followers every
 * acknowledged write waits for), the slot epoch (raised whenever the slot's
 * primary changes) and whether the slot waits (its primary is down and no
 * follower was in sync).
 *
 * Pure in-memory logic (no I/O), planned on a copy and installed once
 * persisted, like slot_map.h. The owners themselves live in the slot map;
 * functions that change them take its owner array.
 *
 * Stored form (replica_set_encode, the meta store's "slot_replicas"):
 * u32 R, then per slot in slot order: u64 slot epoch, u8 waiting, u8 number
 * of followers, the followers (u32 each), u8 number in sync, the in-sync
 * ids (u32 each); all big-endian.
 */
#ifndef TALLY_COORDINATOR_REPLICA_SET_H
#define TALLY_COORDINATOR_REPLICA_SET_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"
#include "tally.pb-c.h"

#define REPLICA_SET_MAX_REPLICAS 5u

typedef struct replica_set replica_set_t;

/* A set for R = `replicas` (1..REPLICA_SET_MAX_REPLICAS) with no followers
 * and every slot epoch 0. Errors: TALLY_E_INVALID_ARGUMENT, TALLY_E_NOMEM. */
int replica_set_new(replica_set_t **out, uint32_t replicas);
void replica_set_destroy(replica_set_t **rs);

/* dst becomes a copy of src (same R). */
void replica_set_copy(replica_set_t *dst, const replica_set_t *src);

uint32_t replica_set_replicas(const replica_set_t *rs);
uint64_t replica_set_slot_epoch(const replica_set_t *rs, uint32_t slot);
int replica_set_is_follower(const replica_set_t *rs, uint32_t slot, uint32_t worker);
int replica_set_is_in_sync(const replica_set_t *rs, uint32_t slot, uint32_t worker);
int replica_set_waiting(const replica_set_t *rs, uint32_t slot);
/* Slots that wait (primary down, nothing in sync). */
uint32_t replica_set_count_waiting(const replica_set_t *rs);

/* Gives every owned slot (owners[slot] != 0) up to R - 1 followers:
 * followers that are still in `keep` (known workers, not draining) stay;
 * the others leave; missing ones are the `eligible` workers (UP, not
 * draining) other than the owner that follow the fewest slots so far (ties:
 * the first after the owner in id order), so followers spread evenly and a
 * slot's followers change only when one leaves. New followers start out of
 * sync. An owned slot whose epoch is 0 gets epoch 1. Returns how many slots
 * changed. */
uint32_t replica_set_assign(replica_set_t *rs, const uint32_t *owners, const uint32_t *eligible,
                            size_t n_eligible, const uint32_t *keep, size_t n_keep);

/* Records that `follower` of `slot` joins (in_sync) or leaves the in-sync
 * set, as reported by the slot's primary in `slot_epoch`. Returns 1 when
 * the set changed, 0 when it already was so, TALLY_E_INVALID_ARGUMENT when
 * `follower` is not a follower of the slot or `slot_epoch` is not the
 * slot's (a report from an old primary: ignored). */
int replica_set_isr(replica_set_t *rs, uint32_t slot, uint64_t slot_epoch, uint32_t follower,
                    int in_sync);

/* Worker `dead` was declared down. It leaves every in-sync set; each slot
 * it owns goes to its first in-sync follower that is in `up` (owners[]
 * changed, slot epoch raised, the dead owner becomes an out-of-sync
 * follower, every follower out of sync: the new primary copies them
 * again); a slot with no such follower waits (owner unchanged). Returns
 * how many slots changed owner; *waiting (may be NULL) gets how many wait. */
uint32_t replica_set_failover(replica_set_t *rs, uint32_t *owners, uint32_t dead,
                              const uint32_t *up, size_t n_up, uint32_t *waiting);

/* Worker `worker` is UP again: its waiting slots wait no more. Returns how
 * many. */
uint32_t replica_set_owner_back(replica_set_t *rs, const uint32_t *owners, uint32_t worker);

/* `slot` was moved to `target` (a slot move's flip): a new slot epoch, the
 * target leaves the followers, every follower out of sync (the new primary
 * copies them). */
void replica_set_moved(replica_set_t *rs, uint32_t slot, uint32_t target);

/* Sets map->replicas and, when R > 1, map->slots to borrowed views valid
 * until the next change of `rs` (n_slots = TALLY_SLOT_COUNT). */
void replica_set_view(replica_set_t *rs, Tally__ClusterMap *map);

/* The stored form; *out malloc'ed (caller frees). Errors: TALLY_E_NOMEM. */
int replica_set_encode(const replica_set_t *rs, uint8_t **out, size_t *len);
/* Loads the stored form (keeping this set's R, which is the option's);
 * followers beyond R - 1 are kept (they leave at the next assign).
 * Errors: TALLY_E_STORAGE (malformed). */
int replica_set_decode(replica_set_t *rs, const uint8_t *in, size_t len);

#endif
