/* replication: every slot on R workers, the worker's two ends
 * (docs/REPLICATION.md; wire contract in proto/tally.proto, "replication").
 *
 * Primary. For each slot it serves whose map entry (ClusterMap.slots) names
 * followers, the worker keeps one stream per follower. Each batch the group
 * commit writes is offered here first (replication_on_batch, with the
 * batch's number): the changes of the slot-led families of each replicated
 * slot go to every streaming follower as one replica_append, numbered by a
 * per-stream seq. A stream starts with a full copy: an append with `reset`
 * (the follower drops what it held of the slot), the slot's keys read
 * through the open and sealed batches in further appends, the last one
 * with `snapshot_done`; the batches' appends follow on the same
 * connection, so the follower applies them after the copy (re-applying a
 * change the copy already held is harmless: each entry is a key's last
 * state). Seqs of a stream start at the worker's incarnation << 32, so no
 * append of an earlier process or copy is ever taken for a current one.
 *
 * Held replies (reply_queue.h) of batch B leave only once B is durable here
 * and replication_acked() >= B: every follower the map lists as in sync
 * has acknowledged each append of batches <= B it was sent, and a follower
 * the map lists as in sync but that is not streaming (after a restart, a
 * copy not finished, a follower that timed out) holds back every batch
 * after the moment it stopped streaming. A follower that does not
 * acknowledge within REPLICATION_ACK_TIMEOUT_MS, refuses, or asks for a
 * snapshot is reported to the coordinator (isr_change, in_sync = false,
 * resent every second) and only counts no more once a map without it in
 * the in-sync set is applied; it then gets a new full copy, and once that
 * and the appends after it are acknowledged, the primary reports it in
 * sync again (isr_change, in_sync = true). When a map makes this worker
 * lose a slot (a failover promoted a follower, the slot epoch changed)
 * while in-sync followers had not acknowledged some batches, the held
 * replies of those batches are answered UNAVAILABLE instead: never an
 * acknowledgement of a write that a successor may lack.
 *
 * Follower. replica_append is applied in the group's batch with the
 * slot's applied (slot epoch, seq) (key "repl" + slot in the default
 * family), and acknowledged (replica_ack) once that batch is durable here,
 * never waiting for this worker's own replication (reply_queue_mark_local).
 * Refused with FENCED: a slot this worker serves, an append of an older
 * slot epoch than the map's or the applied one, or of the map's slot epoch
 * from a worker that is not the slot's primary in the map. An append that
 * does not follow the applied seq is answered need_snapshot. A follower
 * serves nothing of the slot (requests get MOVED to the primary); when a map
 * makes it the primary, the slot is loaded as after a slot move
 * (slot_state_load).
 *
 * Slot moves. A move's chunks reach the target on another connection than
 * the source's appends, so an append the source sent before it froze the
 * slot may arrive after the move's newer data. From the first chunk until
 * the map gives the slot a newer slot epoch (the move's flip; or
 * REPLICATION_MOVE_FENCE_MS, after which the coordinator has given the move
 * up), the target refuses (FENCED) every append of that slot epoch and
 * keeps the moved data (replication_on_move_in).
 */
#ifndef TALLY_WORKER_REPLICATION_H
#define TALLY_WORKER_REPLICATION_H

#include <stddef.h>
#include <stdint.h>

#include "router.h"
#include "tally.pb-c.h"
#include "worker.h"

/* A follower that leaves an append unacknowledged this long is reported
 * out of sync. */
#define REPLICATION_ACK_TIMEOUT_MS 1000

/* How long a move's target keeps refusing the source's appends of the
 * slot epoch the move started in (beyond COORDINATOR_MOVE_TIMEOUT_MS). */
#define REPLICATION_MOVE_FENCE_MS 90000

/* Sets up the state and reads the applied seqs from storage (before the
 * cached map is applied). Returns 0, TALLY_E_NOMEM or TALLY_E_STORAGE. */
int replication_open(worker_t *w);

/* Closes the follower connections and frees the state; safe twice. */
void replication_close(worker_t *w);

/* Primary: the open batch, complete, is about to be sealed or committed as
 * batch number `batch`: sends its changes of each replicated slot. */
void replication_on_batch(worker_t *w, uint64_t batch);

/* The highest batch number whose held replies replication lets go
 * (UINT64_MAX when nothing waits for a follower). */
uint64_t replication_acked(const worker_t *w);

/* After a map was applied (worker_t.owned already recomputed). */
void replication_on_map(worker_t *w);

/* Every stream of a primary slot starts over with a full copy (the
 * primary dropped the batches after w->durable, which its followers may
 * have applied); nothing when none of them was sent to a follower. */
void replication_resync_all(worker_t *w, const char *why);

/* From the tick: copies to start, timeouts, isr_change resends. */
void replication_tick(worker_t *w, uint64_t now_ms);

/* The streams of the slots this worker is primary of, for the heartbeat:
 * *out is an array of borrowed pointers valid until the next call. */
size_t replication_lags(worker_t *w, Tally__ReplicaLag ***out);

/* A move's chunk of `slot` arrived here (this worker is its target). */
void replication_on_move_in(worker_t *w, uint32_t slot);

/* Follower: serves a replica_append request. */
void replication_handle_append(worker_t *w, const router_request_t *req);

#endif
