/* metrics: a small registry of counters, gauges and histograms, rendered
 * in the Prometheus text exposition format 0.0.4.
 *
 * A registry holds families (one metric name, its help text, its type and
 * its label names), and each family holds series (one value per set of
 * label values). Families are rendered in the order they were added,
 * series in the order they were first used:
 *
 *   # HELP tally_worker_requests_total Requests answered, by type and code.
 *   # TYPE tally_worker_requests_total counter
 *   tally_worker_requests_total{type="lease",code="OK"} 12
 *
 * A histogram has fixed upper bounds given when it is added; it renders
 * cumulative `_bucket{le="..."}` lines (the last one le="+Inf"), `_sum`
 * and `_count`. Label values are escaped as the format asks (backslash,
 * double quote and newline); help text escapes backslash and newline.
 *
 * Threading contract: a registry has no locks. Every call on a registry,
 * its families and series (adding, updating, rendering) must come from one
 * thread, the daemon's libuv loop thread. A figure measured on another
 * thread (e.g. a WAL sync timed on a uv_queue_work pool thread) is handed
 * back to the loop first (uv_queue_work's after-work callback runs on the
 * loop) and recorded there.
 *
 * Figures read from the daemon's state at render time (queue depths, live
 * leases) come from collectors (metrics_add_collector): each one runs at
 * the start of metrics_render(), on the loop thread, and typically clears
 * a gauge family and refills it, so a series whose object is gone (a queue
 * of a slot that moved away) disappears from the output.
 *
 * Errors: functions that return int return 0 or a negative TALLY_E_*
 * (tally_error.h). A name or label name that breaks the format's rules is
 * a programming error and answered TALLY_E_INVALID_ARGUMENT.
 */
#ifndef TALLY_METRICS_H
#define TALLY_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics_t;
typedef struct metric_family metric_family_t;
typedef struct metric_series metric_series_t;

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

/* Most label names one family may have. */
#define METRICS_MAX_LABELS 4

/* Bucket bounds (seconds) for request latencies on loopback and LAN:
 * 50 us .. 10 s. METRICS_LATENCY_BUCKETS_N of them. */
extern const double METRICS_LATENCY_BUCKETS[];
#define METRICS_LATENCY_BUCKETS_N 18

/* Makes an empty registry; *out is the caller's (metrics_destroy).
 * Returns 0 or TALLY_E_NOMEM. */
int metrics_new(metrics_t **out);

/* Frees the registry, its families and series; safe on NULL; sets *m NULL. */
void metrics_destroy(metrics_t **metrics);

/* Adds a family. `name` follows [a-zA-Z_:][a-zA-Z0-9_:]*; `labels` is NULL
 * or a comma-separated list of at most METRICS_MAX_LABELS label names
 * ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", "le" refused for
 * histograms), e.g. "type,code". `bounds` (histograms only, else NULL/0):
 * n_bounds finite upper bounds in increasing order; +Inf is implied. A
 * family without labels has its one series from the start (rendered as 0
 * until updated). *out is borrowed from the registry. Errors:
 * TALLY_E_INVALID_ARGUMENT (bad name, labels or bounds, or a name already
 * added), TALLY_E_NOMEM. */
int metrics_add(metrics_t *m, metric_type_t type, const char *name, const char *help,
                const char *labels, const double *bounds, size_t n_bounds,
                metric_family_t **out);

/* One family to add, as a row of a table (metrics_add_families): the
 * arguments of metrics_add, with `out` where the family goes. */
typedef struct {
  metric_type_t type;
  const char *name, *help, *labels;
  const double *bounds;
  size_t n_bounds;
  metric_family_t **out;
} metric_family_spec_t;

/* Adds the n families of `specs` in order (metrics_add for each, *out
 * set). Returns 0, or the first error of metrics_add (the families before
 * it stay added). */
int metrics_add_families(metrics_t *m, const metric_family_spec_t *specs, size_t n);

/* The series of `f` for the label values `values` (as many as the family
 * has labels; NULL for a family without labels), created at zero on first
 * use. Values are any bytes up to a NUL; they are escaped when rendered.
 * Borrowed (valid until metric_family_clear or metrics_destroy), so hot
 * paths may keep it. Returns NULL only when out of memory. */
metric_series_t *metric_family_series(metric_family_t *f, const char *const *values);

/* Removes every series of `f` (a family without labels keeps its one
 * series, reset to zero). For collectors that refill a gauge family. */
void metric_family_clear(metric_family_t *f);

/* Counter: adds n. */
void metric_series_add(metric_series_t *s, uint64_t n);

/* Gauge: sets the value. Also for a counter that mirrors a count kept
 * elsewhere (read by a collector), which must never go down. */
void metric_series_set(metric_series_t *s, double value);

/* Histogram: records one observation (NaN is ignored). */
void metric_series_observe(metric_series_t *s, double value);

/* The current value of a counter or gauge (tests, collectors); of a
 * histogram, its count. */
double metric_series_value(const metric_series_t *s);

/* Called at the start of every metrics_render(), on the loop thread. */
typedef void (*metrics_collect_cb)(void *user);

/* Registers a collector; collectors run in the order added. Returns 0 or
 * TALLY_E_NOMEM. */
int metrics_add_collector(metrics_t *m, metrics_collect_cb collect, void *user);

/* Runs the collectors and renders every family. *out (NUL-terminated,
 * *len bytes without the NUL) is malloc'ed, the caller frees it. Returns
 * 0 or TALLY_E_NOMEM. */
int metrics_render(metrics_t *m, char **out, size_t *len);

/* Adds the families every Tally daemon exposes: tally_build_info{program,
 * version} 1 (version: the CMake project version) and
 * tally_process_start_time_seconds (Unix time, taken now). Returns 0 or an
 * error of metrics_add. */
int metrics_add_process(metrics_t *m, const char *program);

/* The content type of what metrics_render() makes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
