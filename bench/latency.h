/* latency: every latency sample of one operation, and exact percentiles.
 *
 * A benchmark run of a few minutes produces at most a few million samples
 * per operation, so the log keeps them all (8 bytes each) instead of a
 * bucketed histogram: percentiles are then exact (nearest rank), and logs of
 * several threads merge by concatenation. Samples are nanoseconds measured
 * with CLOCK_MONOTONIC from the moment a request is handed to the client
 * library to the moment its completion is seen.
 */
#ifndef BENCH_LATENCY_H
#define BENCH_LATENCY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t *samples; /* nanoseconds */
  size_t count, capacity;
  int sorted;
} latency_log_t;

/* Figures of a log, in nanoseconds (all 0 for an empty log). */
typedef struct {
  size_t count;
  uint64_t min, max, p50, p90, p99, p999;
  double mean;
} latency_summary_t;

/* Monotonic clock in nanoseconds. */
uint64_t latency_now_ns(void);

/* Wall clock (CLOCK_REALTIME) in nanoseconds since the epoch, as printed
 * by `date +%s%N`; for intervals that span processes. */
uint64_t latency_wall_ns(void);

/* An empty log (no allocation until the first sample). */
void latency_log_init(latency_log_t *log);

/* Frees the samples; the log is empty and usable again. */
void latency_log_reset(latency_log_t *log);

/* Appends one sample. Returns 0, or -1 when out of memory (the sample is
 * lost and the log stays valid). */
int latency_log_add(latency_log_t *log, uint64_t ns);

/* Appends every sample of `from` to `into`. Returns 0 or -1 (out of
 * memory; `into` is unchanged). */
int latency_log_merge(latency_log_t *into, const latency_log_t *from);

/* The sample at quantile q (0 < q <= 1) by nearest rank: the smallest
 * sample such that at least q of all samples are <= it. Sorts the log on
 * first use. 0 for an empty log. */
uint64_t latency_log_quantile(latency_log_t *log, double q);

/* Summary of the log (sorts it). */
latency_summary_t latency_log_summary(latency_log_t *log);

#endif
