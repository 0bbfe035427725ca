/* refresh_wait: requests parked until a newer configuration or slot map has
 * come from the coordinator, or until their wait has run out.
 *
 * A request that names a project or labeler the worker's configuration does
 * not know, or a slot its map does not give it, may only be ahead of the
 * worker: the coordinator may know more. Instead of a round trip on the
 * loop, the handler asks coordinator_link for a fetch (sent on the
 * coordinator DEALER, answered through the loop's poll of that socket) and
 * the request is parked here untouched, while the loop goes on with every
 * other request. The worker handles it again, once, when a fetch sent after
 * it was parked has been answered (or has failed), or at its deadline,
 * whichever comes first; it is then answered with what the worker knows
 * (UNKNOWN_PROJECT, MOVED, ...) and never parked twice (worker.c,
 * worker_await_refresh).
 *
 * Bounded: at most `max_parked` requests in all and `max_per_peer` of one
 * connection; beyond that a request is answered at once, as if no fetch
 * could be had. Not thread-safe (the loop thread only).
 */
#ifndef TALLY_REFRESH_WAIT_H
#define TALLY_REFRESH_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "router.h"

/* What a parked request waits for. */
typedef enum { REFRESH_CONFIG = 0, REFRESH_MAP = 1 } refresh_kind_t;
#define REFRESH_KINDS 2

typedef struct refresh_wait refresh_wait_t;

/* An empty set of parked requests; NULL when out of memory. Destroy with
 * refresh_wait_destroy(). */
refresh_wait_t *refresh_wait_new(size_t max_parked, size_t max_per_peer);

/* Frees the parked requests (never answered: the worker is going away);
 * safe on NULL; sets *rw NULL. */
void refresh_wait_destroy(refresh_wait_t **rw);

/* 1 when one more request of `peer` may be parked now, else 0. */
int refresh_wait_has_room(const refresh_wait_t *rw, const uint8_t *peer, size_t peer_len);

/* Parks `req` until fetch number `fetch` of `kind` has been answered or has
 * failed (refresh_wait_fetched), or until `deadline_ms` (monotonic). Takes
 * the request's envelope: req->env is NULL on return 0. Returns 0, or
 * TALLY_E_RATE_LIMITED when there is no room (refresh_wait_has_room), or
 * TALLY_E_NOMEM; then req is untouched. */
int refresh_wait_park(refresh_wait_t *rw, router_request_t *req, refresh_kind_t kind,
                      uint64_t fetch, uint64_t deadline_ms);

/* Every fetch of `kind` up to number `fetch` has been answered or failed:
 * the requests that waited for them are ready. */
void refresh_wait_fetched(refresh_wait_t *rw, refresh_kind_t kind, uint64_t fetch);

/* 1 when some parked request is ready at `now_ms` (its fetch answered or
 * its deadline reached), else 0. */
int refresh_wait_has_ready(const refresh_wait_t *rw, uint64_t now_ms);

/* Takes the oldest request that is ready at `now_ms` into *out (the
 * caller's: router_request_clear). Returns 1, or 0 when none is ready. */
int refresh_wait_take_ready(refresh_wait_t *rw, uint64_t now_ms, router_request_t *out);

/* Requests parked now. */
size_t refresh_wait_count(const refresh_wait_t *rw);

#endif
