/* reply_queue: a worker's replies between their handler and the wire.
 *
 * A handler adds its reply to the group being processed. At the end of the
 * group, replies that acknowledge nothing durable (leases, releases) are
 * sent at once, in one burst, and the others are held behind the storage
 * batch that makes their group durable (group commit, worker.c): they are
 * sent once that batch is durable, oldest first, or answered NO_SPACE
 * instead when the batch is dropped for a full disk. Replies are encoded
 * when added, so nothing a handler borrowed needs to outlive it.
 */
#ifndef TALLY_WORKER_REPLY_QUEUE_H
#define TALLY_WORKER_REPLY_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "router.h"
#include "tally.pb-c.h"
#include "worker_metrics.h"

typedef struct reply_queue reply_queue_t;

/* New empty queue or NULL (out of memory); reply_queue_destroy(&q) frees
 * what it holds unsent (never acknowledged), safe twice. */
reply_queue_t *reply_queue_new(void);
void reply_queue_destroy(reply_queue_t **q);

/* Counts every reply in `metrics` (borrowed, may be NULL: none): tagged
 * when added (worker_metrics_tag_reply), counted when sent. */
void reply_queue_set_metrics(reply_queue_t *q, worker_metrics_t *metrics);

/* Encodes `env` (request id set) as the reply to `peer` in the current
 * group; `at_once`: it acknowledges nothing durable. An encoding failure
 * becomes an INTERNAL error reply. Returns 0 or TALLY_E_NOMEM (nothing
 * queued; the caller cannot answer). */
int reply_queue_add(reply_queue_t *q, const uint8_t *peer, size_t peer_len,
                    const Tally__Envelope *env, int at_once);

/* Ends the current group: sends its at-once replies through `router` (may
 * be NULL: dropped) and holds the others until batch `durable_at` is
 * durable; with `with_group`, at-once replies of a group that has others
 * are held with them (one burst after the sync) and sent now only when the
 * group has nothing else. Returns how many replies wait for durability
 * (at-once ones held along not counted), or TALLY_E_NOMEM. */
int reply_queue_end_group(reply_queue_t *q, router_t *router, uint64_t durable_at,
                          int with_group);

/* Marks the reply added last (in the current group) as local: it waits for
 * its batch to be durable here but never for replication (a follower's
 * replica_ack; replication.h), so two workers replicating to each other
 * never wait for one another's acknowledgements. */
void reply_queue_mark_local(reply_queue_t *q);

/* Sends the held replies whose batch is <= `durable` and, unless local,
 * also <= `replicated` (every in-sync follower has what the batch wrote:
 * replication.h); oldest first, a local reply passing others that wait for
 * replication. */
void reply_queue_release(reply_queue_t *q, router_t *router, uint64_t durable,
                         uint64_t replicated);

/* Answers every held reply (local ones excepted) of batch `from` or later
 * with error `code` and `message` instead, sent when their turn comes: this worker lost a slot's
 * primacy before its in-sync followers acknowledged those batches, so
 * their writes are not acknowledged (replication.h). Returns how many. */
size_t reply_queue_fail_from(reply_queue_t *q, uint64_t from, int code, const char *message);

/* Answers every held reply with NO_SPACE instead (its batch was dropped). */
void reply_queue_fail_held(reply_queue_t *q, router_t *router);

/* Replies held, waiting for durability. */
size_t reply_queue_held(const reply_queue_t *q);

/* Drops the current group's replies from the `keep`-th on, unsent (a
 * request parked to run again, worker.c, takes back what it answered). */
void reply_queue_group_truncate(reply_queue_t *q, size_t keep);

/* Replies of the current group so far, and the i-th one as encoded
 * (borrowed until the group ends; NULL when i is out of range): for tests
 * and the fuzz harness, which check one reply per request. */
size_t reply_queue_group_count(const reply_queue_t *q);
const uint8_t *reply_queue_group_reply(const reply_queue_t *q, size_t i, size_t *len);

#endif
