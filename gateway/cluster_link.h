/* cluster_link: the gateway's connections to the cluster, all through
 * libtally with the gateway's own CURVE key (role gateway), acting for the
 * signed-in person through the envelope's acting_for.
 *
 *  - The labeling cycle (lease long-polls, submit, skip, release) runs on
 *    the event loop over ONE tally_async_t: a DEALER per worker carries
 *    every session's requests at once, and the replies wake the loop
 *    through uv_poll on the sockets' ZMQ_FDs (tally_async_fds), with a
 *    20 ms timer while requests are in flight for deadlines and re-sends.
 *  - Everything else (reports, cases, allocation, sign-in look-ups) is a
 *    blocking libtally call, run in libuv's thread pool (uv_queue_work) on
 *    one of `pool_size` handles (siblings sharing one ZeroMQ context), never
 *    on the loop.
 */
#ifndef TALLY_GATEWAY_CLUSTER_LINK_H
#define TALLY_GATEWAY_CLUSTER_LINK_H

#include <uv.h>

#include "tally.h"

typedef struct cluster_link cluster_link_t;

typedef struct {
  const char *coordinator;     /* endpoint */
  const char *key_file;        /* the gateway's key pair; NULL: --insecure cluster */
  const char *coordinator_key; /* the coordinator's public key (or .pub file) */
  int timeout_ms;              /* per request attempt; <= 0: libtally's default */
  int pool_size;               /* blocking handles (>= 1) */
} cluster_link_options_t;

/* Called on the loop with the completion of an asynchronous request; `c`
 * and its strings are valid for the call only. */
typedef void (*cluster_done_fn)(void *arg, const tally_completion_t *c);

/* Asked before each further turn of a lease's long-poll: 0 when whoever
 * waits for it is gone (the lease then completes without a task). */
typedef int (*cluster_wanted_fn)(void *arg);

/* Connects (the cluster map is fetched now, blocking: call before the loop
 * runs). Returns 0 with *out, or the libtally error (message logged). */
int cluster_link_new(cluster_link_t **out, uv_loop_t *loop, const cluster_link_options_t *options);

/* Closes the handles; requests in flight get no completion. Loop handles
 * are closed with uv_close (run the loop once more to finish). Safe on
 * NULL; sets *link NULL. */
void cluster_link_destroy(cluster_link_t **link);

/* A blocking handle for the calling (thread-pool) thread, waiting while all
 * are taken; give it back with cluster_link_put. acting_for is cleared. */
tally_t *cluster_link_take(cluster_link_t *link);
void cluster_link_put(cluster_link_t *link, tally_t *t);

/* Loop thread: the asynchronous cycle, acting for `person`. Each returns 0
 * (exactly one call of fn follows) or the error of tally_async_* (no call).
 * A lease with no task within wait_ms completes with status 0 and
 * has_task 0; the walk over the workers is done here. */
int cluster_link_lease(cluster_link_t *link, const char *person, const char *project,
                       tally_stage_t stage, int wait_ms, cluster_wanted_fn wanted, cluster_done_fn fn,
                       void *arg);
int cluster_link_submit(cluster_link_t *link, const char *person, const char *lease_token,
                        const char *label, int adjudication, tally_attribution_t attribution,
                        const char *note, uint32_t handling_ms, cluster_done_fn fn, void *arg);
int cluster_link_skip(cluster_link_t *link, const char *person, const char *lease_token,
                      cluster_done_fn fn, void *arg);
int cluster_link_release(cluster_link_t *link, const char *person, const char *lease_token,
                         cluster_done_fn fn, void *arg);

/* Called on the loop with every completion of the asynchronous link (each
 * turn of a lease's walk, and releases nobody waits for), before it is
 * handled: `status` is 0 or the TALLY_E_* it ended with. */
typedef void (*cluster_observe_fn)(void *user, tally_op_t op, int status);

/* Sets (or with NULL clears) the observer of completions (metrics). */
void cluster_link_observe(cluster_link_t *link, cluster_observe_fn fn, void *user);

/* Requests in flight on the asynchronous link. */
size_t cluster_link_in_flight(const cluster_link_t *link);

/* The message of the last failed asynchronous call (loop thread). */
const char *cluster_link_last_error(const cluster_link_t *link);

#endif
