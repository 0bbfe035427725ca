/* gateway_metrics: see gateway_metrics.h; the list with meanings is in
 * docs/OPERATIONS.md. */
#include "gateway_metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "gateway.h"
#include "metrics.h"
#include "metrics_http.h"
#include "tally_error.h"

/* Series kept per route (the table's, then static and unmatched), so the
 * reply path finds them without building label strings. */
typedef struct {
  const char *method, *route;
  metric_series_t *in_flight, *duration;
} route_series_t;

struct gateway_metrics {
  gateway_t *gw;
  metrics_t *registry;
  metrics_http_t *http;
  metric_family_t *requests, *duration, *in_flight, *sign_ins, *cluster, *cluster_in_flight;
  metric_series_t *sign_in[3];
  route_series_t *routes; /* route_count + 2 */
  size_t n_routes;
};

static void collect(void *user) {
  gateway_metrics_t *m = user;
  if (m->gw->link != NULL)
    metric_series_set(metric_family_series(m->cluster_in_flight, NULL),
                      (double)cluster_link_in_flight(m->gw->link));
}

static int add_families(gateway_metrics_t *m) {
  const metric_family_spec_t specs[] = {
      {METRIC_COUNTER, "tally_gateway_http_requests_total",
       "HTTP requests answered, by method, route (the route table's pattern, \"static\" or "
       "\"unmatched\") and status (0: the client went away before its answer).",
       "method,route,status", NULL, 0, &m->requests},
      {METRIC_HISTOGRAM, "tally_gateway_http_request_duration_seconds",
       "Time from a request's arrival at the route table to its answer, by method and route; a "
       "lease includes its long-poll wait.",
       "method,route", METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N, &m->duration},
      {METRIC_GAUGE, "tally_gateway_http_requests_in_flight",
       "HTTP requests received and not yet answered (long-polled leases among them), by method "
       "and route.",
       "method,route", NULL, 0, &m->in_flight},
      {METRIC_COUNTER, "tally_gateway_sign_ins_total",
       "Password sign-ins, by result: ok, failed (wrong person or password) or rate_limited "
       "(refused with 429 before the password was checked).",
       "result", NULL, 0, &m->sign_ins},
      {METRIC_COUNTER, "tally_gateway_cluster_requests_total",
       "Requests to the cluster completed, by kind (lease, submit, skip, release: one request on "
       "the asynchronous link; pool: one blocking call in the thread pool) and result (OK or the "
       "error code).",
       "kind,result", NULL, 0, &m->cluster},
      {METRIC_GAUGE, "tally_gateway_cluster_requests_in_flight",
       "Requests on the asynchronous link awaiting the cluster's reply.", NULL, NULL, 0,
       &m->cluster_in_flight},
  };
  int rc = metrics_add_families(m->registry, specs, sizeof specs / sizeof specs[0]);
  if (rc < 0) return rc;
  static const char *const results[] = {"ok", "failed", "rate_limited"};
  for (size_t i = 0; i < 3; i++) {
    const char *values[] = {results[i]};
    if ((m->sign_in[i] = metric_family_series(m->sign_ins, values)) == NULL) return TALLY_E_NOMEM;
  }
  /* The table's routes, then static and unmatched. */
  m->n_routes = m->gw->route_count + 2;
  m->routes = calloc(m->n_routes, sizeof *m->routes);
  if (m->routes == NULL) return TALLY_E_NOMEM;
  for (size_t i = 0; i < m->n_routes; i++) {
    route_series_t *r = &m->routes[i];
    if (i < m->gw->route_count) {
      r->method = m->gw->routes[i].method;
      r->route = m->gw->routes[i].path;
    } else {
      r->method = i == m->gw->route_count ? "GET" : "other";
      r->route = i == m->gw->route_count ? "static" : "unmatched";
    }
    const char *values[] = {r->method, r->route};
    r->in_flight = metric_family_series(m->in_flight, values);
    r->duration = metric_family_series(m->duration, values);
    if (r->in_flight == NULL || r->duration == NULL) return TALLY_E_NOMEM;
  }
  return 0;
}

int gateway_metrics_new(gateway_metrics_t **out, uv_loop_t *loop, const char *listen, gateway_t *gw) {
  *out = NULL;
  gateway_metrics_t *m = calloc(1, sizeof *m);
  if (m == NULL) return TALLY_E_NOMEM;
  m->gw = gw;
  int rc = metrics_new(&m->registry);
  if (rc == 0) rc = metrics_add_process(m->registry, "tally-gateway");
  if (rc == 0) rc = add_families(m);
  if (rc == 0) rc = metrics_add_collector(m->registry, collect, m);
  if (rc == 0) rc = metrics_http_new(&m->http, loop, listen, m->registry);
  if (rc < 0) {
    gateway_metrics_destroy(&m);
    return rc;
  }
  *out = m;
  return 0;
}

void gateway_metrics_destroy(gateway_metrics_t **mp) {
  if (mp == NULL || *mp == NULL) return;
  gateway_metrics_t *m = *mp;
  *mp = NULL;
  metrics_http_destroy(&m->http); /* closes every connection: no render after this */
  metrics_destroy(&m->registry);
  free(m->routes);
  free(m);
}

const char *gateway_metrics_address(const gateway_metrics_t *m) {
  return m && m->http ? metrics_http_address(m->http) : "";
}

static route_series_t *route_of(gateway_metrics_t *m, size_t route) {
  if (route == GATEWAY_ROUTE_STATIC) return &m->routes[m->n_routes - 2];
  if (route >= m->n_routes - 2) return &m->routes[m->n_routes - 1];
  return &m->routes[route];
}

uint64_t gateway_metrics_request_begin(gateway_metrics_t *m, size_t route) {
  if (m == NULL) return 0;
  metric_series_t *s = route_of(m, route)->in_flight;
  metric_series_set(s, metric_series_value(s) + 1);
  return uv_hrtime();
}

void gateway_metrics_request_end(gateway_metrics_t *m, size_t route, int status, uint64_t started) {
  if (m == NULL) return;
  metric_series_t *live = route_of(m, route)->in_flight;
  double n = metric_series_value(live);
  metric_series_set(live, n > 0 ? n - 1 : 0);
  gateway_metrics_request_answered(m, route, status, started);
}

void gateway_metrics_request_answered(gateway_metrics_t *m, size_t route, int status,
                                      uint64_t started) {
  if (m == NULL) return;
  route_series_t *r = route_of(m, route);
  metric_series_observe(r->duration, (double)(uv_hrtime() - started) / 1e9);
  char code[16];
  snprintf(code, sizeof code, "%d", status);
  const char *values[] = {r->method, r->route, code};
  metric_series_t *s = metric_family_series(m->requests, values);
  if (s != NULL) metric_series_add(s, 1);
}

void gateway_metrics_sign_in(gateway_metrics_t *m, gw_sign_in_t result) {
  if (m == NULL || (unsigned)result > GW_SIGN_IN_RATE_LIMITED) return;
  metric_series_add(m->sign_in[result], 1);
}

void gateway_metrics_cluster(gateway_metrics_t *m, const char *kind, const char *result) {
  if (m == NULL) return;
  const char *values[] = {kind, result};
  metric_series_t *s = metric_family_series(m->cluster, values);
  if (s != NULL) metric_series_add(s, 1);
}

const char *gateway_metrics_op_name(tally_op_t op) {
  switch (op) {
    case TALLY_OP_LEASE: return "lease";
    case TALLY_OP_SUBMIT: return "submit";
    case TALLY_OP_SKIP: return "skip";
    case TALLY_OP_RELEASE: return "release";
    default: return "other";
  }
}
