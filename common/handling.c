/* handling: see handling.h. */
#include "handling.h"

#include <stdlib.h>

#include "tally_error.h"

static const uint64_t handling_bounds_ms[HANDLING_BUCKETS - 1] = {
    1000, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 45000, 60000, 90000, 120000, 300000, 600000};

uint64_t handling_bucket_upper_ms(size_t i) {
  return i < HANDLING_BUCKETS - 1 ? handling_bounds_ms[i] : UINT64_MAX;
}

size_t handling_bucket_of(uint64_t ms) {
  for (size_t i = 0; i < HANDLING_BUCKETS - 1; i++)
    if (ms <= handling_bounds_ms[i]) return i;
  return HANDLING_BUCKETS - 1;
}

int handling_quantile(const uint64_t *histogram, size_t n, double q, uint64_t *ms) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total += histogram[i];
  if (total == 0 || q <= 0.0 || q > 1.0) return 1;
  double want = q * (double)total, seen = 0;
  for (size_t i = 0; i < n; i++) {
    seen += (double)histogram[i];
    if (seen >= want) {
      *ms = i < HANDLING_BUCKETS - 1 ? handling_bounds_ms[i] : handling_bounds_ms[HANDLING_BUCKETS - 2];
      return 0;
    }
  }
  *ms = handling_bounds_ms[HANDLING_BUCKETS - 2];
  return 0;
}

int histogram_sum_into(uint64_t **dst, size_t *n_dst, const uint64_t *src, size_t n_src) {
  if (*n_dst < n_src) {
    uint64_t *grown = realloc(*dst, n_src * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    for (size_t i = *n_dst; i < n_src; i++) grown[i] = 0;
    *dst = grown;
    *n_dst = n_src;
  }
  for (size_t i = 0; i < n_src; i++) (*dst)[i] += src[i];
  return 0;
}
