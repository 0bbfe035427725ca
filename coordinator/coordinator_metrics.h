/* coordinator_metrics: what tally-coordinator exposes on --metrics-listen
 * (docs/OPERATIONS.md lists every metric): requests by type and result
 * code and report gather times, counted by calls from main.c's reply
 * paths; workers by state, unassigned slots, map epoch and configuration
 * version, read from the coordinator at render time.
 *
 * Every call accepts a NULL coordinator_metrics_t and does nothing then
 * (metrics off). Threading: the loop thread only (metrics.h).
 */
#ifndef TALLY_COORDINATOR_METRICS_H
#define TALLY_COORDINATOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator.h"
#include "metrics.h"

typedef struct coordinator_metrics coordinator_metrics_t;

/* What a report gather was for (the `kind` label). */
typedef enum { GATHER_QUALITY, GATHER_OPS, GATHER_RAMP } coordinator_gather_kind_t;

/* Registers the families and a collector reading `coordinator` (borrowed;
 * it must outlive the metrics). *out is the caller's. Returns 0 or
 * TALLY_E_NOMEM. */
int coordinator_metrics_new(coordinator_metrics_t **out, coordinator_t *coordinator);

/* Frees; safe on NULL; sets *m NULL. */
void coordinator_metrics_destroy(coordinator_metrics_t **m);

/* Reads `coordinator` from now on (NULL: the state figures are left out,
 * as on a replicated coordinator that is not the leader). */
void coordinator_metrics_set_coordinator(coordinator_metrics_t *m, coordinator_t *coordinator);

/* The registry to serve (metrics_http.h). Borrowed. */
metrics_t *coordinator_metrics_registry(coordinator_metrics_t *m);

/* A request of `bytes` arrived. */
void coordinator_metrics_received(coordinator_metrics_t *m, size_t bytes);

/* A request of type `body_case` (Tally__Envelope__BodyCase) was answered
 * with `code` (0 or a negative TALLY_E_*). */
void coordinator_metrics_answered(coordinator_metrics_t *m, uint32_t body_case, int code);

/* A report gather that started at `started_ns` (uv_hrtime) has ended. */
void coordinator_metrics_gathered(coordinator_metrics_t *m, coordinator_gather_kind_t kind,
                                  uint64_t started_ns);

#endif
