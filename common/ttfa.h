/* ttfa: time to first action as a distribution that adds up exactly.
 *
 * A duration in ms falls into one of TTFA_BUCKETS fixed log-scale buckets:
 * bucket 0 holds 0..1000 ms; bucket i (1..29) holds (bound(i-1), bound(i)]
 * with bound(i) = round(1000 * 10^(i/5)) ms, five per decade (1, 1.585,
 * 2.512, 3.981, 6.31 s, 10 s, ...); bucket 29 ends at 631,000,000 ms (7.3
 * days); bucket 30 holds everything longer. A histogram also keeps the
 * count, the sum and the exact maximum, so histograms of any worker, day,
 * market or stage add up to the histogram of their union.
 *
 * Quantiles are estimates at bucket resolution: the q-quantile (nearest
 * rank, ceil(q * count)) is reported as the geometric middle of its
 * bucket, sqrt(lower * upper), capped at the maximum. From 1 s up the
 * estimate is within a factor 10^(1/10) (-21% / +26%) of the true
 * quantile; in bucket 0 it is min(1000 ms, max) (within 1 s); in the last,
 * unbounded bucket it is the maximum.
 *
 * Changing a bound changes stored statistics: append buckets only.
 * Pure logic: no I/O.
 */
#ifndef TALLY_TTFA_H
#define TALLY_TTFA_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

#define TTFA_BUCKETS 31

/* Upper bound (ms) of bucket i, 0 for the last, unbounded one. */
uint64_t ttfa_bucket_upper_ms(size_t i);

/* The bucket of a duration. */
size_t ttfa_bucket_of(uint64_t ms);

/* A histogram in plain memory (what reports add into). */
typedef struct {
  uint64_t count, sum_ms, max_ms;
  uint64_t buckets[TTFA_BUCKETS];
} ttfa_histogram_t;

/* Adds one duration. */
void ttfa_histogram_add(ttfa_histogram_t *h, uint64_t ms);

/* Adds a stored histogram (NULL: nothing); buckets past TTFA_BUCKETS are
 * ignored. */
void ttfa_histogram_add_message(ttfa_histogram_t *h, const Tally__DurationHistogram *m);

/* Estimated quantile of `permille`/1000 (1..1000) as described above.
 * Returns 0 with *ms, or 1 (undefined) when the histogram is empty. */
int ttfa_histogram_quantile(const ttfa_histogram_t *h, unsigned permille, double *ms);

/* The same changes on a stored histogram (heap arrays of the system
 * allocator, as protobuf-c frees them). Return 0 or TALLY_E_NOMEM. */
int ttfa_message_add(Tally__DurationHistogram *m, uint64_t ms);
int ttfa_message_sum_into(Tally__DurationHistogram *dst, const Tally__DurationHistogram *src);

/* The TtfaRow of `priority` in `row`, appended (empty, both histograms
 * allocated) when missing. NULL when out of memory. */
Tally__TtfaRow *ttfa_row_of(Tally__OpsRow *row, uint32_t priority);

#endif
