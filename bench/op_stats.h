/* op_stats: what happened to one kind of request during a benchmark run —
 * the latency of every success, and a count per kind of other outcome
 * (error names such as "TIMEOUT", or "NO_TASK" for an empty lease).
 *
 * One op_stats_t per operation per thread; threads merge theirs at the end.
 * op_stats_json() gives the figures of a run record (docs/PERFORMANCE.md,
 * "Result file"): count, rate, outcomes and latency percentiles in ms.
 */
#ifndef BENCH_OP_STATS_H
#define BENCH_OP_STATS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "latency.h"

#define OP_STATS_OUTCOMES 16
#define OP_STATS_NAME_MAX 32

typedef struct {
  char name[OP_STATS_NAME_MAX];
  uint64_t count;
  char example[160]; /* first message seen for this outcome */
} op_outcome_t;

typedef struct {
  char name[OP_STATS_NAME_MAX];
  latency_log_t latency; /* successes only */
  op_outcome_t outcomes[OP_STATS_OUTCOMES];
  size_t n_outcomes;
  uint64_t outcomes_dropped; /* outcome kinds beyond OP_STATS_OUTCOMES */
} op_stats_t;

/* An empty record for operation `name` (e.g. "lease"). */
void op_stats_init(op_stats_t *s, const char *name);

/* Frees the samples. */
void op_stats_reset(op_stats_t *s);

/* Records a success that took `ns`. Returns 0 or -1 (out of memory). */
int op_stats_ok(op_stats_t *s, uint64_t ns);

/* Counts one outcome other than success; `message` (may be NULL) is kept
 * as the example of the first one of its kind. */
void op_stats_outcome(op_stats_t *s, const char *kind, const char *message);

/* Number of successes. */
uint64_t op_stats_count(const op_stats_t *s);

/* Number of other outcomes (all kinds). */
uint64_t op_stats_other(const op_stats_t *s);

/* Adds `from` to `into` (same operation). Returns 0 or -1 (out of memory). */
int op_stats_merge(op_stats_t *into, const op_stats_t *from);

/* The figures as a new JSON object (caller's reference): count,
 * rate_per_s (successes / window_s), outcomes, latency_ms {min, mean, p50,
 * p90, p99, p999, max}. NULL when out of memory. */
json_t *op_stats_json(op_stats_t *s, double window_s);

/* One line of a human table: name, count, rate, p50, p99, p99.9, max. */
void op_stats_print(FILE *out, op_stats_t *s, double window_s);

/* Header line matching op_stats_print(). */
void op_stats_print_header(FILE *out);

#endif
