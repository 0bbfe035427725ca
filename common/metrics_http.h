/* metrics_http: a minimal HTTP/1.1 endpoint on a daemon's libuv loop that
 * answers `GET /metrics` (and HEAD) with a metrics registry rendered in the
 * Prometheus text format (metrics.h).
 *
 * What it answers:
 *   GET or HEAD /metrics (a query string is ignored)  200, text/plain; version=0.0.4
 *   any other path                                    404
 *   /metrics with another method                      405 (Allow: GET, HEAD)
 *   a request head over METRICS_HTTP_MAX_REQUEST      431, then closed
 *   a request head that is not HTTP/1.x               400, then closed
 * Keep-alive as HTTP/1.1 says (HTTP/1.0 and "Connection: close" close after
 * the reply); error replies always close. A request body is never read:
 * requests that announce one (Content-Length other than 0, or
 * Transfer-Encoding) are answered 400 and closed. A connection that sends
 * no complete request head for METRICS_HTTP_IDLE_MS is closed, as is any
 * connection beyond METRICS_HTTP_MAX_CONNECTIONS.
 *
 * Why not h2o: see docs/OPERATIONS.md, "The /metrics endpoint".
 *
 * Threading: everything runs on the loop thread that created the endpoint
 * (the registry's contract, metrics.h).
 */
#ifndef TALLY_METRICS_HTTP_H
#define TALLY_METRICS_HTTP_H

#include <uv.h>

#include "metrics.h"

#define METRICS_HTTP_MAX_REQUEST 8192
#define METRICS_HTTP_IDLE_MS 10000
#define METRICS_HTTP_MAX_CONNECTIONS 32

typedef struct metrics_http metrics_http_t;

/* Parses "HOST:PORT" (IPv4 "127.0.0.1:9101", IPv6 "[::1]:9101"; a numeric
 * address, port 0..65535, 0 picking a free one) into *addr. Returns 0 or
 * TALLY_E_INVALID_ARGUMENT. */
int metrics_http_parse_address(const char *host_port, struct sockaddr_storage *addr);

/* Listens on `host_port` on `loop` and serves `registry` (borrowed; it must
 * outlive the endpoint). *out is the caller's (metrics_http_destroy).
 * Errors: TALLY_E_INVALID_ARGUMENT (bad address), TALLY_E_IO (cannot bind
 * or listen, e.g. the port is taken; logged), TALLY_E_NOMEM. */
int metrics_http_new(metrics_http_t **out, uv_loop_t *loop, const char *host_port,
                     metrics_t *registry);

/* The address listened on, port resolved ("127.0.0.1:40123", "[::1]:9101").
 * Borrowed. */
const char *metrics_http_address(const metrics_http_t *http);

/* Closes the listener and every connection; the memory is freed by the
 * close callbacks, so the loop must run once more. Safe on NULL; sets
 * *http NULL. */
void metrics_http_destroy(metrics_http_t **http);

#endif
