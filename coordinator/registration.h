/* registration: the workers' life cycle as the coordinator records it:
 * registration, heartbeats, liveness, and the first hand-out of slots.
 *
 * Durable per worker (META_WORKERS, loaded at open by registration_load):
 * id, endpoint, state, draining, bound public key. Volatile (membership.h):
 * when it was last heard from and its last heartbeat's figures.
 *
 * Apply points (each ONE synced meta_batch, then installed in membership
 * and the slot map, then replied):
 *  - worker_register of a new worker, or of a known one whose endpoint,
 *    state or key changed, or that receives unassigned slots: the worker
 *    record (state UP, key bound for life), next_worker_id + 1 for a new
 *    one, the slot owners when slots were assigned, the epoch + 1.
 *    A worker whose key is bound to an id but who registers with
 *    worker_id 0 started on an empty store: when still UP it is first
 *    written DOWN as coordinator_check_silence would (its slots to in-sync
 *    followers, out of every in-sync set), a batch of its own.
 *  - heartbeat of a worker that is not UP: its record with state UP, the
 *    epoch + 1. (Other heartbeats change only volatile figures.)
 *  - coordinator_check_liveness (its first part alone:
 *    coordinator_check_silence): every UP worker silent for longer than
 *    the heartbeat timeout written DOWN (keeping its slots, or with their
 *    failover to in-sync followers), the epoch + 1;
 *    and, once a fresh cluster stops waiting for the workers it expects
 *    (coordinator_expect_workers), the unassigned slots handed out with the
 *    epoch + 1. Then slot_moves_rebalance plans moves (volatile).
 * A fresh cluster hands out slots only after `expect_workers` are UP or
 * the settle time passed. Replies to registration carry the map and the
 * configuration; heartbeat replies carry them when the worker is behind,
 * plus its moves to make, moves to give up and a drained worker's
 * aggregate hand-off.
 */
#ifndef TALLY_COORDINATOR_REGISTRATION_H
#define TALLY_COORDINATOR_REGISTRATION_H

#include "coordinator.h"
#include "tally.pb-c.h"

/* Loads the stored workers into membership (at open; each counts as just
 * seen). Returns 0, TALLY_E_STORAGE or TALLY_E_NOMEM. */
int registration_load(coordinator_t *c);

/* worker_register and heartbeat; `caller_key` is the sender's CURVE key (a
 * secure coordinator binds a worker id to it, and accepts a heartbeat only
 * from the worker's own key). */
void registration_handle_worker_register(coordinator_t *c, const Tally__Envelope *request,
                                         const char *caller_key, const coordinator_replier_t *r);
void registration_handle_heartbeat(coordinator_t *c, const Tally__Envelope *request,
                                   const char *caller_key, const coordinator_replier_t *r);

#endif
