/* ttfa: log-scale duration histograms. See ttfa.h. */
#include "ttfa.h"

#include <math.h>
#include <stdlib.h>

#include "tally_error.h"

/* round(1000 * 10^(i/5)) for i = 0..4; later bounds are these times 10^k. */
static const uint64_t mantissa_ms[5] = {1000, 1585, 2512, 3981, 6310};

uint64_t ttfa_bucket_upper_ms(size_t i) {
  if (i >= TTFA_BUCKETS - 1) return 0;
  uint64_t bound = mantissa_ms[i % 5];
  for (size_t d = 0; d < i / 5; d++) bound *= 10;
  return bound;
}

size_t ttfa_bucket_of(uint64_t ms) {
  for (size_t i = 0; i < TTFA_BUCKETS - 1; i++)
    if (ms <= ttfa_bucket_upper_ms(i)) return i;
  return TTFA_BUCKETS - 1;
}

void ttfa_histogram_add(ttfa_histogram_t *h, uint64_t ms) {
  h->count++;
  h->sum_ms += ms;
  if (ms > h->max_ms) h->max_ms = ms;
  h->buckets[ttfa_bucket_of(ms)]++;
}

void ttfa_histogram_add_message(ttfa_histogram_t *h, const Tally__DurationHistogram *m) {
  if (m == NULL) return;
  h->count += m->count;
  h->sum_ms += m->sum_ms;
  if (m->max_ms > h->max_ms) h->max_ms = m->max_ms;
  for (size_t i = 0; i < m->n_buckets && i < TTFA_BUCKETS; i++) h->buckets[i] += m->buckets[i];
}

int ttfa_histogram_quantile(const ttfa_histogram_t *h, unsigned permille, double *ms) {
  if (h->count == 0 || permille == 0 || permille > 1000) return 1;
  uint64_t rank = (h->count * permille + 999) / 1000, seen = 0;
  size_t i = 0;
  for (; i < TTFA_BUCKETS - 1; i++) {
    seen += h->buckets[i];
    if (seen >= rank) break;
  }
  double estimate;
  if (i == 0)
    estimate = 1000.0;
  else if (i >= TTFA_BUCKETS - 1)
    estimate = (double)h->max_ms;
  else
    estimate = sqrt((double)ttfa_bucket_upper_ms(i - 1) * (double)ttfa_bucket_upper_ms(i));
  *ms = estimate < (double)h->max_ms ? estimate : (double)h->max_ms;
  return 0;
}

/* Grows m->buckets to TTFA_BUCKETS (zeroed). */
static int buckets_grow(Tally__DurationHistogram *m, size_t n) {
  if (m->n_buckets >= n) return 0;
  uint64_t *grown = realloc(m->buckets, n * sizeof *grown);
  if (grown == NULL) return TALLY_E_NOMEM;
  for (size_t i = m->n_buckets; i < n; i++) grown[i] = 0;
  m->buckets = grown;
  m->n_buckets = n;
  return 0;
}

int ttfa_message_add(Tally__DurationHistogram *m, uint64_t ms) {
  if (buckets_grow(m, TTFA_BUCKETS) < 0) return TALLY_E_NOMEM;
  m->count++;
  m->sum_ms += ms;
  if (ms > m->max_ms) m->max_ms = ms;
  m->buckets[ttfa_bucket_of(ms)]++;
  return 0;
}

int ttfa_message_sum_into(Tally__DurationHistogram *dst, const Tally__DurationHistogram *src) {
  if (src == NULL) return 0;
  if (buckets_grow(dst, src->n_buckets) < 0) return TALLY_E_NOMEM;
  dst->count += src->count;
  dst->sum_ms += src->sum_ms;
  if (src->max_ms > dst->max_ms) dst->max_ms = src->max_ms;
  for (size_t i = 0; i < src->n_buckets; i++) dst->buckets[i] += src->buckets[i];
  return 0;
}

static Tally__DurationHistogram *histogram_new(void) {
  Tally__DurationHistogram *m = malloc(sizeof *m);
  if (m != NULL) tally__duration_histogram__init(m);
  return m;
}

Tally__TtfaRow *ttfa_row_of(Tally__OpsRow *row, uint32_t priority) {
  for (size_t i = 0; i < row->n_ttfa; i++)
    if (row->ttfa[i]->priority == priority) return row->ttfa[i];
  Tally__TtfaRow **grown = realloc(row->ttfa, (row->n_ttfa + 1) * sizeof *grown);
  if (grown == NULL) return NULL;
  row->ttfa = grown;
  Tally__TtfaRow *t = malloc(sizeof *t);
  if (t == NULL) return NULL;
  tally__ttfa_row__init(t);
  t->priority = priority;
  t->first_label = histogram_new();
  t->decision = histogram_new();
  if (t->first_label == NULL || t->decision == NULL) {
    free(t->first_label);
    free(t->decision);
    free(t);
    return NULL;
  }
  row->ttfa[row->n_ttfa++] = t;
  return t;
}
