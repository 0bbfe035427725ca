/* replicas: slot replication as the coordinator records it (R copies per
 * slot, docs/REPLICATION.md): followers, in-sync sets, slot epochs and
 * failover. The decisions are replica_set.h's (pure); this module plans
 * them on c->rplan, writes them in the same synced meta_batch as the map
 * change they belong to (meta store key "slot_replicas"), installs them,
 * and puts them in the map (ClusterMap.replicas and .slots).
 *
 * Apply points (each ONE synced meta_batch, then installed, then replied):
 *  - isr_change from a slot's primary in the slot's current epoch about one
 *    of its followers: the slot replicas and the epoch + 1; the reply is
 *    the map (also when nothing changed or the report was ignored: an old
 *    primary learns from it that it is one no more).
 *  - replicas_refresh (after the liveness check): followers assigned to
 *    slots short of R - 1 (UP, not draining workers whose last heartbeat
 *    did not report a full store), followers that
 *    left (drained, removed) dropped, waiting slots whose primary is UP
 *    again released: the slot replicas and the epoch + 1.
 *  - the liveness check's DOWN records (registration.c) carry the failover
 *    (replicas_plan_failover): every slot of a dead primary with an UP
 *    in-sync follower goes to it in a new slot epoch (slot owners too),
 *    the others wait; the dead worker leaves every in-sync set.
 *  - a slot move's flip (slot_moves.c) raises the slot epoch and takes the
 *    target out of the followers (replicas_plan_move): every follower is
 *    copied again by the new primary.
 */
#ifndef TALLY_COORDINATOR_REPLICAS_H
#define TALLY_COORDINATOR_REPLICAS_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator.h"
#include "meta_store.h"
#include "tally.pb-c.h"

/* Loads the stored replicas (at open, R = 1 until coordinator_set_replicas).
 * Returns 0, TALLY_E_STORAGE or TALLY_E_NOMEM. */
int replicas_load(coordinator_t *c);

/* Frees both sets; safe twice. */
void replicas_close(coordinator_t *c);

/* Sets map->replicas and map->slots (borrowed until the next change). */
void replicas_view(coordinator_t *c, Tally__ClusterMap *map);

/* Plans on c->rplan (a copy of the installed set) the failover of the
 * `n` workers in `dead`, on the planned owners of c->plan (changed in
 * place). Returns how many slots changed owner. */
uint32_t replicas_plan_failover(coordinator_t *c, const uint32_t *dead, size_t n);

/* Plans on c->rplan (a copy of the installed set) the flip of a move of
 * `slot` to `target`. */
void replicas_plan_move(coordinator_t *c, uint32_t slot, uint32_t target);

/* Puts c->rplan into `batch`; replicas_install() after it was committed. */
void replicas_stage(coordinator_t *c, meta_batch_t *batch);
void replicas_install(coordinator_t *c);

/* See the apply points. Returns how many slots changed, or the store's
 * error (nothing changed). */
int replicas_refresh(coordinator_t *c);

/* isr_change (`caller_key`: only the slot's primary may report). */
void replicas_handle_isr_change(coordinator_t *c, const Tally__Envelope *request,
                                const char *caller_key, const coordinator_replier_t *r);

#endif
