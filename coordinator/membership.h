/* membership: the workers of the cluster as the coordinator sees them.
 *
 * Each worker has a durable part (id, endpoint, state, draining), which the
 * coordinator persists through meta_store before installing it here with
 * membership_put(), and a volatile part kept in memory only: when it was
 * last heard from (monotonic, for failure detection; wall clock, for the
 * map) and the figures of its last heartbeat (queued, live leases, items,
 * backlog hints, replication lags, whether its store is full: store_full,
 * which keeps slot moves and new followers away from it). After a restart every worker counts as just seen, so a
 * worker that was UP gets a full timeout to heartbeat again.
 *
 * Workers are kept in ascending id order. Pure in-memory logic, no I/O.
 */
#ifndef TALLY_COORDINATOR_MEMBERSHIP_H
#define TALLY_COORDINATOR_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

/* Backlog hints kept per worker; the rest of a larger heartbeat is dropped
 * so that one worker cannot grow the cluster map without bound. */
#define MEMBERSHIP_MAX_BACKLOG_HINTS 1024u

/* Replication lags kept per worker: one per (slot it is primary of,
 * follower), so TALLY_SLOT_COUNT slots x 4 followers at R = 5; the rest of
 * a larger heartbeat is dropped. */
#define MEMBERSHIP_MAX_LAGS 4096u

typedef struct membership membership_t;

/* An empty membership; *out is the caller's (membership_destroy).
 * Errors: TALLY_E_NOMEM. */
int membership_new(membership_t **out);

/* Frees everything; safe on NULL; sets *membership NULL. */
void membership_destroy(membership_t **membership);

/* Number of known workers. */
size_t membership_count(const membership_t *membership);

/* The worker at `index` (< membership_count, ascending id), as the map
 * reports it; slots_owned is not maintained here (the caller fills it in
 * before sending). Borrowed: valid until the next change of membership. */
Tally__WorkerInfo *membership_worker_at(membership_t *membership, size_t index);

/* The worker with `id`, or NULL when unknown. Borrowed as above. */
const Tally__WorkerInfo *membership_find(const membership_t *membership, uint32_t id);

/* Inserts worker record->id or replaces its durable part (endpoint, state,
 * draining),
 * keeping its heartbeat figures, and counts it as seen at monotonic time
 * now_ms. `record` is copied. Errors: TALLY_E_NOMEM (nothing changed). */
int membership_put(membership_t *membership, const Tally__WorkerInfo *record, uint64_t now_ms);

/* Records the figures of `heartbeat` for its worker (at most
 * MEMBERSHIP_MAX_BACKLOG_HINTS backlog hints are kept, and its replication
 * lags: at most MEMBERSHIP_MAX_LAGS, those naming a slot >= TALLY_SLOT_COUNT
 * or follower 0 dropped; each heartbeat replaces the last; store_full as
 * reported, until the next heartbeat), sets its
 * last_heartbeat_ms to wall_ms and counts it as seen at monotonic now_ms.
 * Does not change its state. Errors: TALLY_E_NOT_FOUND (unknown worker),
 * TALLY_E_NOMEM (figures unchanged). */
int membership_note_heartbeat(membership_t *membership, const Tally__Heartbeat *heartbeat,
                              uint64_t wall_ms, uint64_t now_ms);

/* Counts worker `id` as seen at monotonic now_ms and sets its
 * last_heartbeat_ms to wall_ms (a registration is a sign of life).
 * Errors: TALLY_E_NOT_FOUND. */
int membership_touch(membership_t *membership, uint32_t id, uint64_t wall_ms, uint64_t now_ms);

/* The replication lags the worker at `index` (< membership_count) sent
 * with its last heartbeat (Heartbeat.lags, as kept above); sets *n (0
 * before a heartbeat with lags). Borrowed: valid until its next heartbeat
 * or the next change of membership. */
Tally__ReplicaLag **membership_lags_at(const membership_t *membership, size_t index, size_t *n);

/* True when every UP worker reported (in its last heartbeat) a
 * configuration version of at least `version`; true when none is UP. */
int membership_config_reached(const membership_t *membership, uint64_t version);

/* Writes the ids of the workers in state UP, ascending, into `ids` (room for
 * membership_count() entries); returns how many. */
size_t membership_up_ids(const membership_t *membership, uint32_t *ids);

/* How long before monotonic now_ms worker `id` was last seen (0 when
 * unknown or seen later). */
uint64_t membership_silence_ms(const membership_t *membership, uint32_t id, uint64_t now_ms);

/* Writes the ids of the UP workers last seen more than timeout_ms before
 * monotonic now_ms into `ids` (room for membership_count() entries);
 * returns how many. */
size_t membership_silent_ids(const membership_t *membership, uint64_t now_ms,
                             uint64_t timeout_ms, uint32_t *ids);

#endif
