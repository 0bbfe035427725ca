/* worker_metrics: what a tally-worker exposes on --metrics-listen
 * (docs/OPERATIONS.md lists every metric).
 *
 * Two kinds of figures:
 *  - events, counted by a few calls from worker.c's group loop and reply
 *    path: requests by type and result code, request duration from arrival
 *    to reply sent, group sizes, synced batch writes and their time, bytes;
 *  - state, read from the worker at render time by a collector (queue
 *    depths, live leases, slots owned, parked lease requests, replies
 *    waiting for their sync, disk full), so nothing has to keep them.
 *
 * Every call accepts a NULL worker_metrics_t and then does nothing: a
 * worker started without --metrics-listen has none and pays nothing but
 * the NULL checks.
 *
 * Threading: loop thread only (metrics.h). The synced write that runs on a
 * pool thread is timed there into the worker's state and handed to
 * worker_metrics_batch_written() from the after-work callback, on the loop.
 */
#ifndef TALLY_WORKER_METRICS_H
#define TALLY_WORKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "router.h"
#include "tally.pb-c.h"

typedef struct worker_metrics worker_metrics_t;
struct worker;

/* What a reply remembers of its request until it is sent. */
typedef struct {
  uint32_t request_type; /* Tally__Envelope__BodyCase of the request; 0: none */
  int code;              /* 0, or the negative TALLY_E_* the reply carries */
  uint64_t arrived_ns;   /* uv_hrtime() when the request was taken; 0: not timed */
} worker_metrics_tag_t;

/* Registers the worker's families and its state collector (which reads
 * `worker` at render time; it must outlive the metrics). *out is the
 * caller's. Returns 0 or TALLY_E_NOMEM. */
int worker_metrics_new(worker_metrics_t **out, struct worker *worker);

/* Frees; safe on NULL; sets *m NULL. */
void worker_metrics_destroy(worker_metrics_t **m);

/* The registry to serve (metrics_http.h). Borrowed. */
metrics_t *worker_metrics_registry(worker_metrics_t *m);

/* The request the group handles next: replies made until the next call
 * are tagged with its type and arrival time; counts its bytes. */
void worker_metrics_request_begin(worker_metrics_t *m, const router_request_t *req);

/* Replies made from now on answer parked (long-poll) lease requests: they
 * count as leases but are not timed (their time is the wait asked for). */
void worker_metrics_parked_begin(worker_metrics_t *m);

/* Replies made from now on belong to no request being handled. */
void worker_metrics_request_end(worker_metrics_t *m);

/* Tags a reply being queued (`reply` is what will be sent). */
void worker_metrics_tag_reply(worker_metrics_t *m, const Tally__Envelope *reply,
                              worker_metrics_tag_t *tag);

/* A reply of `bytes` went out: counts the request by type and code, and
 * its duration from arrival to now when it was timed. */
void worker_metrics_reply_sent(worker_metrics_t *m, const worker_metrics_tag_t *tag, size_t bytes);

/* A group handled `requests` requests (not called for empty groups). */
void worker_metrics_group(worker_metrics_t *m, size_t requests);

/* A batch was written with the WAL synced in `ns` nanoseconds, on the loop
 * thread (on_pool 0) or on the thread pool (1). */
void worker_metrics_batch_written(worker_metrics_t *m, uint64_t ns, int on_pool);

#endif
