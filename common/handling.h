/* handling: histogram of handling times (how long a person spent on a task).
 *
 * Fixed buckets so that histograms from any slot, worker or day add up
 * exactly. Bucket i counts times <= handling_bucket_upper_ms(i); the last
 * bucket is unbounded. Changing the bucket bounds changes stored statistics:
 * append buckets only, never move a bound.
 */
#ifndef TALLY_HANDLING_H
#define TALLY_HANDLING_H

#include <stddef.h>
#include <stdint.h>

#define HANDLING_BUCKETS 16

/* Upper bound of bucket i in ms (UINT64_MAX for the last one). */
uint64_t handling_bucket_upper_ms(size_t i);

/* Bucket of a handling time. */
size_t handling_bucket_of(uint64_t ms);

/* Estimated q-quantile (0 < q <= 1) of a histogram with `n` buckets, as the
 * upper bound of the bucket that holds it (the last bucket reports the
 * previous bound). Returns 0 with *ms, or 1 (undefined) when it is empty. */
int handling_quantile(const uint64_t *histogram, size_t n, double q, uint64_t *ms);

/* Adds histogram `src` (n_src buckets) into *dst (*n_dst buckets, a
 * malloc'ed array grown with zeroes to n_src when shorter): how rows of
 * per-worker sums are added (handling and turnaround histograms alike).
 * Returns 0 or TALLY_E_NOMEM (*dst unchanged). */
int histogram_sum_into(uint64_t **dst, size_t *n_dst, const uint64_t *src, size_t n_src);

#endif
