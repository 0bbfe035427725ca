/* gateway_metrics: tally-gateway's Prometheus metrics (common/metrics.h),
 * served by common/metrics_http on --metrics-listen, never on the port
 * people reach (docs/OPERATIONS.md lists every metric and says why).
 *
 * Routes are named by the route table's pattern (api.c), never by the raw
 * path, so a path cannot add series: "static" for the console's files and
 * "unmatched" (method "other") for any request the table does not hold.
 *
 * Every function but gateway_metrics_new accepts m == NULL (metrics off)
 * and then does nothing. Threading: the loop thread only (metrics.h).
 */
#ifndef TALLY_GATEWAY_GATEWAY_METRICS_H
#define TALLY_GATEWAY_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tally.h"

typedef struct gateway_metrics gateway_metrics_t;
typedef struct gateway gateway_t;

/* Route indexes beyond the table's (gateway_metrics_request_*). */
#define GATEWAY_ROUTE_STATIC ((size_t)-1)
#define GATEWAY_ROUTE_UNMATCHED ((size_t)-2)

/* The result of a password sign-in. */
typedef enum { GW_SIGN_IN_OK, GW_SIGN_IN_FAILED, GW_SIGN_IN_RATE_LIMITED } gw_sign_in_t;

/* Makes the registry for `gw` (its route table, link and connections are
 * read at render time) and serves it on `listen` (HOST:PORT). *out is the
 * caller's (gateway_metrics_destroy). Errors: those of metrics_http_new
 * (TALLY_E_INVALID_ARGUMENT, TALLY_E_IO, logged) and TALLY_E_NOMEM. */
int gateway_metrics_new(gateway_metrics_t **out, uv_loop_t *loop, const char *listen, gateway_t *gw);

/* Stops serving and frees the registry (run the loop once more for the
 * endpoint's handles). Safe on NULL; sets *m NULL. */
void gateway_metrics_destroy(gateway_metrics_t **m);

/* The address served ("127.0.0.1:9102"). Borrowed. */
const char *gateway_metrics_address(const gateway_metrics_t *m);

/* A request of route `route` (an index into the route table, or
 * GATEWAY_ROUTE_*) began: counts it in flight. Returns the start time to
 * give to gateway_metrics_request_end (0 when m is NULL). */
uint64_t gateway_metrics_request_begin(gateway_metrics_t *m, size_t route);

/* The request began at `started` ended: `status` is the HTTP status sent,
 * or 0 when the client went away before its answer. */
void gateway_metrics_request_end(gateway_metrics_t *m, size_t route, int status, uint64_t started);

/* A request answered at once, outside a call (static files, unmatched
 * paths): counted and timed from `started` (uv_hrtime), never in flight. */
void gateway_metrics_request_answered(gateway_metrics_t *m, size_t route, int status,
                                      uint64_t started);

/* A password sign-in ended with `result`. */
void gateway_metrics_sign_in(gateway_metrics_t *m, gw_sign_in_t result);

/* A request to the cluster completed: `kind` a static name ("lease",
 * "submit", "skip", "release" on the asynchronous link, "pool" for a
 * blocking call), `result` "OK" or an error code (static). */
void gateway_metrics_cluster(gateway_metrics_t *m, const char *kind, const char *result);

/* The name of an asynchronous operation, for gateway_metrics_cluster. */
const char *gateway_metrics_op_name(tally_op_t op);

#endif
