/* agreement: mergeable agreement statistics and their coefficients. See
 * agreement.h for the model, the result convention and the byte format. */
#include "agreement.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "tally_error.h"

enum {
  KIND_PAIRS = 'P',
  KIND_COINCIDENCE = 'C',
  KIND_FLEISS = 'F',
  HEADER_BYTES = 4,
  FLEISS_FIXED_BYTES = 4 + 4 + 8 + 8 + 8 + 8 + 8,
};

/* ---- Little-endian helpers ---------------------------------------------- */

static void put_u16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_u64(b, bits);
}

static uint16_t get_u16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }

static uint32_t get_u32(const uint8_t *b) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | b[i];
  return v;
}

static uint64_t get_u64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
  return v;
}

static double get_f64(const uint8_t *b) {
  uint64_t bits = get_u64(b);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static int is_valid_k(uint32_t k) { return k >= 1 && k <= AGREEMENT_MAX_CATEGORIES; }

static void put_header(uint8_t *b, uint8_t kind, uint32_t k) {
  b[0] = kind;
  b[1] = (uint8_t)AGREEMENT_FORMAT_VERSION;
  put_u16(b + 2, (uint16_t)k);
}

/* Checks the header of a serialized `kind` and that len matches the size
 * size_for(K); sets *k. */
static int check_header(const uint8_t *buf, size_t len, uint8_t kind, size_t (*size_for)(uint32_t),
                        uint32_t *k) {
  if (len < HEADER_BYTES || buf[0] != kind) return TALLY_E_INVALID_ARGUMENT;
  if (buf[1] != AGREEMENT_FORMAT_VERSION) return TALLY_E_UNSUPPORTED_VERSION;
  *k = get_u16(buf + 2);
  if (!is_valid_k(*k) || len != size_for(*k)) return TALLY_E_INVALID_ARGUMENT;
  return 0;
}

/* True when a + b does not overflow. */
static int fits(uint64_t a, uint64_t b) { return a <= UINT64_MAX - b; }

static int is_nonnegative_finite(double v) { return isfinite(v) && v >= 0.0; }

/* ---- Pairs -------------------------------------------------------------- */

int agreement_pairs_init(agreement_pairs_t *p, uint32_t k) {
  assert(p);
  if (!is_valid_k(k)) return TALLY_E_INVALID_ARGUMENT;
  memset(p, 0, sizeof *p);
  p->k = k;
  return 0;
}

int agreement_pairs_add(agreement_pairs_t *p, uint32_t a, uint32_t b, uint64_t count) {
  assert(p);
  if (a >= p->k || b >= p->k) return TALLY_E_INVALID_ARGUMENT;
  if (!fits(p->counts[a][b], count)) return TALLY_E_INVALID_ARGUMENT;
  p->counts[a][b] += count;
  return 0;
}

int agreement_pairs_merge(agreement_pairs_t *dst, const agreement_pairs_t *src) {
  assert(dst && src);
  if (dst->k != src->k) return TALLY_E_INVALID_ARGUMENT;
  for (uint32_t a = 0; a < dst->k; a++)
    for (uint32_t b = 0; b < dst->k; b++)
      if (!fits(dst->counts[a][b], src->counts[a][b])) return TALLY_E_INVALID_ARGUMENT;
  for (uint32_t a = 0; a < dst->k; a++)
    for (uint32_t b = 0; b < dst->k; b++) dst->counts[a][b] += src->counts[a][b];
  return 0;
}

uint64_t agreement_pairs_total(const agreement_pairs_t *p) {
  assert(p);
  uint64_t total = 0;
  for (uint32_t a = 0; a < p->k; a++)
    for (uint32_t b = 0; b < p->k; b++) {
      if (!fits(total, p->counts[a][b])) return UINT64_MAX;
      total += p->counts[a][b];
    }
  return total;
}

static size_t matrix_size_for(uint32_t k) { return HEADER_BYTES + 8u * (size_t)k * k; }

size_t agreement_pairs_serialized_size(const agreement_pairs_t *p) {
  assert(p);
  return matrix_size_for(p->k);
}

int agreement_pairs_serialize(const agreement_pairs_t *p, uint8_t *buf, size_t cap, size_t *len) {
  assert(p && buf && len);
  size_t need = matrix_size_for(p->k);
  if (cap < need) return TALLY_E_INVALID_ARGUMENT;
  put_header(buf, KIND_PAIRS, p->k);
  uint8_t *at = buf + HEADER_BYTES;
  for (uint32_t a = 0; a < p->k; a++)
    for (uint32_t b = 0; b < p->k; b++, at += 8) put_u64(at, p->counts[a][b]);
  *len = need;
  return 0;
}

int agreement_pairs_deserialize(agreement_pairs_t *p, const uint8_t *buf, size_t len) {
  assert(p && buf);
  uint32_t k;
  int rc = check_header(buf, len, KIND_PAIRS, matrix_size_for, &k);
  if (rc < 0) return rc;
  agreement_pairs_init(p, k);
  const uint8_t *at = buf + HEADER_BYTES;
  for (uint32_t a = 0; a < k; a++)
    for (uint32_t b = 0; b < k; b++, at += 8) p->counts[a][b] = get_u64(at);
  return 0;
}

/* Row sums (rater A) and column sums (rater B) as doubles; returns the
 * number of pairs. */
static double pairs_marginals(const agreement_pairs_t *p, double *rows, double *cols) {
  double n = 0.0;
  for (uint32_t i = 0; i < p->k; i++) rows[i] = cols[i] = 0.0;
  for (uint32_t a = 0; a < p->k; a++)
    for (uint32_t b = 0; b < p->k; b++) {
      double v = (double)p->counts[a][b];
      rows[a] += v;
      cols[b] += v;
      n += v;
    }
  return n;
}

/* (observed - expected) / (1 - expected), or AGREEMENT_UNDEFINED when the
 * expected agreement is 1. */
static int chance_corrected(double observed, double expected, double *out) {
  if (expected >= 1.0) return AGREEMENT_UNDEFINED;
  *out = (observed - expected) / (1.0 - expected);
  return 0;
}

int agreement_pairs_percent(const agreement_pairs_t *p, double *out) {
  assert(p && out);
  double rows[AGREEMENT_MAX_CATEGORIES], cols[AGREEMENT_MAX_CATEGORIES];
  double n = pairs_marginals(p, rows, cols);
  if (n == 0.0) return AGREEMENT_UNDEFINED;
  double diagonal = 0.0;
  for (uint32_t i = 0; i < p->k; i++) diagonal += (double)p->counts[i][i];
  *out = diagonal / n;
  return 0;
}

typedef enum { WEIGHTS_NONE, WEIGHTS_LINEAR, WEIGHTS_QUADRATIC } weights_t;

static double kappa_weight(weights_t weights, uint32_t i, uint32_t j, uint32_t k) {
  if (i == j) return 1.0;
  double distance = fabs((double)i - (double)j) / (double)(k - 1);
  switch (weights) {
    case WEIGHTS_LINEAR:
      return 1.0 - distance;
    case WEIGHTS_QUADRATIC:
      return 1.0 - distance * distance;
    default:
      return 0.0;
  }
}

static int pairs_weighted_kappa(const agreement_pairs_t *p, weights_t weights, double *out) {
  assert(p && out);
  double rows[AGREEMENT_MAX_CATEGORIES], cols[AGREEMENT_MAX_CATEGORIES];
  double n = pairs_marginals(p, rows, cols);
  if (n == 0.0) return AGREEMENT_UNDEFINED;
  double observed = 0.0, expected = 0.0;
  for (uint32_t a = 0; a < p->k; a++)
    for (uint32_t b = 0; b < p->k; b++) {
      double w = kappa_weight(weights, a, b, p->k);
      observed += w * (double)p->counts[a][b] / n;
      expected += w * (rows[a] / n) * (cols[b] / n);
    }
  return chance_corrected(observed, expected, out);
}

int agreement_pairs_cohen_kappa(const agreement_pairs_t *p, double *out) {
  return pairs_weighted_kappa(p, WEIGHTS_NONE, out);
}

int agreement_pairs_cohen_kappa_linear(const agreement_pairs_t *p, double *out) {
  return pairs_weighted_kappa(p, WEIGHTS_LINEAR, out);
}

int agreement_pairs_cohen_kappa_quadratic(const agreement_pairs_t *p, double *out) {
  return pairs_weighted_kappa(p, WEIGHTS_QUADRATIC, out);
}

/* Observed agreement and pooled marginal shares (rows + cols) / 2n. */
static int pairs_pooled(const agreement_pairs_t *p, double *observed, double *shares) {
  double rows[AGREEMENT_MAX_CATEGORIES], cols[AGREEMENT_MAX_CATEGORIES];
  double n = pairs_marginals(p, rows, cols);
  if (n == 0.0) return AGREEMENT_UNDEFINED;
  double diagonal = 0.0;
  for (uint32_t i = 0; i < p->k; i++) {
    diagonal += (double)p->counts[i][i];
    shares[i] = (rows[i] + cols[i]) / (2.0 * n);
  }
  *observed = diagonal / n;
  return 0;
}

int agreement_pairs_scott_pi(const agreement_pairs_t *p, double *out) {
  assert(p && out);
  double observed, shares[AGREEMENT_MAX_CATEGORIES];
  if (pairs_pooled(p, &observed, shares) != 0) return AGREEMENT_UNDEFINED;
  double expected = 0.0;
  for (uint32_t i = 0; i < p->k; i++) expected += shares[i] * shares[i];
  return chance_corrected(observed, expected, out);
}

/* Gwet's chance agreement sum_k pi_k (1 - pi_k) / (q - 1); at most 1/q, so
 * never 1 once q >= 2. */
static double gwet_expected(const double *shares, uint32_t k) {
  double sum = 0.0;
  for (uint32_t i = 0; i < k; i++) sum += shares[i] * (1.0 - shares[i]);
  return sum / (double)(k - 1);
}

int agreement_pairs_gwet_ac1(const agreement_pairs_t *p, double *out) {
  assert(p && out);
  double observed, shares[AGREEMENT_MAX_CATEGORIES];
  if (p->k < 2 || pairs_pooled(p, &observed, shares) != 0) return AGREEMENT_UNDEFINED;
  return chance_corrected(observed, gwet_expected(shares, p->k), out);
}

/* ---- Krippendorff's alpha from a coincidence matrix ---------------------- */

typedef enum { METRIC_NOMINAL, METRIC_ORDINAL, METRIC_INTERVAL, METRIC_RATIO } metric_t;

/* Squared difference delta^2(c, k) of the metric; `margins` are the n_g,
 * `values` the numeric category values. */
static double metric_delta(metric_t metric, uint32_t c, uint32_t k, const double *margins,
                           const double *values) {
  if (c == k) return 0.0;
  switch (metric) {
    case METRIC_NOMINAL:
      return 1.0;
    case METRIC_ORDINAL: {
      uint32_t lo = c < k ? c : k, hi = c < k ? k : c;
      double sum = 0.0;
      for (uint32_t g = lo; g <= hi; g++) sum += margins[g];
      double d = sum - (margins[c] + margins[k]) / 2.0;
      return d * d;
    }
    case METRIC_INTERVAL: {
      double d = values[c] - values[k];
      return d * d;
    }
    case METRIC_RATIO: {
      double s = values[c] + values[k];
      double d = s == 0.0 ? 0.0 : (values[c] - values[k]) / s;
      return d * d;
    }
  }
  return 0.0;
}

/* alpha = 1 - (n - 1) D_o / D_e over a k x k coincidence matrix. */
static int alpha_of(const double cells[][AGREEMENT_MAX_CATEGORIES], uint32_t k, metric_t metric,
                    const double *values, double *out) {
  double margins[AGREEMENT_MAX_CATEGORIES], n = 0.0;
  for (uint32_t c = 0; c < k; c++) {
    margins[c] = 0.0;
    for (uint32_t j = 0; j < k; j++) margins[c] += cells[c][j];
    n += margins[c];
  }
  double observed = 0.0, expected = 0.0;
  for (uint32_t c = 0; c < k; c++)
    for (uint32_t j = 0; j < k; j++) {
      double delta = metric_delta(metric, c, j, margins, values);
      observed += cells[c][j] * delta;
      expected += margins[c] * margins[j] * delta;
    }
  if (n <= 1.0 || !(expected > 0.0)) return AGREEMENT_UNDEFINED;
  *out = 1.0 - (n - 1.0) * observed / expected;
  return 0;
}

int agreement_pairs_alpha_nominal(const agreement_pairs_t *p, double *out) {
  assert(p && out);
  double cells[AGREEMENT_MAX_CATEGORIES][AGREEMENT_MAX_CATEGORIES];
  for (uint32_t a = 0; a < p->k; a++)
    for (uint32_t b = 0; b < p->k; b++)
      cells[a][b] = (double)p->counts[a][b] + (double)p->counts[b][a];
  return alpha_of((const double(*)[AGREEMENT_MAX_CATEGORIES])cells, p->k, METRIC_NOMINAL, NULL,
                  out);
}

/* ---- Coincidence ---------------------------------------------------------- */

int agreement_coincidence_init(agreement_coincidence_t *c, uint32_t k) {
  assert(c);
  if (!is_valid_k(k)) return TALLY_E_INVALID_ARGUMENT;
  memset(c, 0, sizeof *c);
  c->k = k;
  return 0;
}

/* Per-category counts of the m values; TALLY_E_INVALID_ARGUMENT when one is
 * not below k. */
static int count_values(const uint32_t *values, size_t m, uint32_t k, uint64_t *counts) {
  for (uint32_t i = 0; i < k; i++) counts[i] = 0;
  for (size_t i = 0; i < m; i++) {
    if (values[i] >= k) return TALLY_E_INVALID_ARGUMENT;
    counts[values[i]]++;
  }
  return 0;
}

int agreement_coincidence_add_unit(agreement_coincidence_t *c, const uint32_t *values, size_t m) {
  assert(c && (values || m == 0));
  uint64_t counts[AGREEMENT_MAX_CATEGORIES];
  if (count_values(values, m, c->k, counts) < 0) return TALLY_E_INVALID_ARGUMENT;
  if (m < 2) return 0;
  double pairs_per_value = (double)(m - 1);
  for (uint32_t a = 0; a < c->k; a++) {
    if (counts[a] == 0) continue;
    for (uint32_t b = 0; b < c->k; b++) {
      uint64_t partners = a == b ? counts[a] - 1 : counts[b];
      if (partners) c->cells[a][b] += (double)counts[a] * (double)partners / pairs_per_value;
    }
  }
  return 0;
}

int agreement_coincidence_merge(agreement_coincidence_t *dst, const agreement_coincidence_t *src) {
  assert(dst && src);
  if (dst->k != src->k) return TALLY_E_INVALID_ARGUMENT;
  for (uint32_t a = 0; a < dst->k; a++)
    for (uint32_t b = 0; b < dst->k; b++) dst->cells[a][b] += src->cells[a][b];
  return 0;
}

double agreement_coincidence_total(const agreement_coincidence_t *c) {
  assert(c);
  double n = 0.0;
  for (uint32_t a = 0; a < c->k; a++)
    for (uint32_t b = 0; b < c->k; b++) n += c->cells[a][b];
  return n;
}

size_t agreement_coincidence_serialized_size(const agreement_coincidence_t *c) {
  assert(c);
  return matrix_size_for(c->k);
}

int agreement_coincidence_serialize(const agreement_coincidence_t *c, uint8_t *buf, size_t cap,
                                    size_t *len) {
  assert(c && buf && len);
  size_t need = matrix_size_for(c->k);
  if (cap < need) return TALLY_E_INVALID_ARGUMENT;
  put_header(buf, KIND_COINCIDENCE, c->k);
  uint8_t *at = buf + HEADER_BYTES;
  for (uint32_t a = 0; a < c->k; a++)
    for (uint32_t b = 0; b < c->k; b++, at += 8) put_f64(at, c->cells[a][b]);
  *len = need;
  return 0;
}

int agreement_coincidence_deserialize(agreement_coincidence_t *c, const uint8_t *buf, size_t len) {
  assert(c && buf);
  uint32_t k;
  int rc = check_header(buf, len, KIND_COINCIDENCE, matrix_size_for, &k);
  if (rc < 0) return rc;
  const uint8_t *cells = buf + HEADER_BYTES;
  for (uint32_t a = 0; a < k; a++)
    for (uint32_t b = 0; b < k; b++) {
      double v = get_f64(cells + 8u * ((size_t)a * k + b));
      double mirror = get_f64(cells + 8u * ((size_t)b * k + a));
      if (!is_nonnegative_finite(v) || v != mirror) return TALLY_E_INVALID_ARGUMENT;
    }
  agreement_coincidence_init(c, k);
  for (uint32_t a = 0; a < k; a++)
    for (uint32_t b = 0; b < k; b++) c->cells[a][b] = get_f64(cells + 8u * ((size_t)a * k + b));
  return 0;
}

int agreement_coincidence_percent(const agreement_coincidence_t *c, double *out) {
  assert(c && out);
  double n = agreement_coincidence_total(c);
  if (n <= 0.0) return AGREEMENT_UNDEFINED;
  double diagonal = 0.0;
  for (uint32_t a = 0; a < c->k; a++) diagonal += c->cells[a][a];
  *out = diagonal / n;
  return 0;
}

int agreement_coincidence_alpha_nominal(const agreement_coincidence_t *c, double *out) {
  assert(c && out);
  return alpha_of((const double(*)[AGREEMENT_MAX_CATEGORIES])c->cells, c->k, METRIC_NOMINAL, NULL,
                  out);
}

int agreement_coincidence_alpha_ordinal(const agreement_coincidence_t *c, double *out) {
  assert(c && out);
  return alpha_of((const double(*)[AGREEMENT_MAX_CATEGORIES])c->cells, c->k, METRIC_ORDINAL, NULL,
                  out);
}

/* Copies `values` (or index + 1 when NULL) into `into`; checks each is
 * finite and, when nonnegative is set, >= 0. */
static int category_values(const double *values, uint32_t k, int nonnegative, double *into) {
  for (uint32_t i = 0; i < k; i++) {
    into[i] = values ? values[i] : (double)i + 1.0;
    if (!isfinite(into[i]) || (nonnegative && into[i] < 0.0)) return TALLY_E_INVALID_ARGUMENT;
  }
  return 0;
}

int agreement_coincidence_alpha_interval(const agreement_coincidence_t *c, const double *values,
                                         double *out) {
  assert(c && out);
  double v[AGREEMENT_MAX_CATEGORIES];
  if (category_values(values, c->k, 0, v) < 0) return TALLY_E_INVALID_ARGUMENT;
  return alpha_of((const double(*)[AGREEMENT_MAX_CATEGORIES])c->cells, c->k, METRIC_INTERVAL, v,
                  out);
}

int agreement_coincidence_alpha_ratio(const agreement_coincidence_t *c, const double *values,
                                      double *out) {
  assert(c && out);
  double v[AGREEMENT_MAX_CATEGORIES];
  if (category_values(values, c->k, 1, v) < 0) return TALLY_E_INVALID_ARGUMENT;
  return alpha_of((const double(*)[AGREEMENT_MAX_CATEGORIES])c->cells, c->k, METRIC_RATIO, v, out);
}

/* ---- Fleiss --------------------------------------------------------------- */

int agreement_fleiss_init(agreement_fleiss_t *f, uint32_t k) {
  assert(f);
  if (!is_valid_k(k)) return TALLY_E_INVALID_ARGUMENT;
  memset(f, 0, sizeof *f);
  f->k = k;
  return 0;
}

int agreement_fleiss_add_unit(agreement_fleiss_t *f, const uint32_t *values, size_t m) {
  assert(f && (values || m == 0));
  uint64_t counts[AGREEMENT_MAX_CATEGORIES];
  if (m > UINT32_MAX || count_values(values, m, f->k, counts) < 0) return TALLY_E_INVALID_ARGUMENT;
  if (m == 0) return 0;
  f->rated_units++;
  for (uint32_t j = 0; j < f->k; j++)
    if (counts[j]) f->category_share_sums[j] += (double)counts[j] / (double)m;
  if (m < 2) return 0;
  uint64_t agreements = 0;
  for (uint32_t j = 0; j < f->k; j++) {
    if (counts[j] > 1) agreements += counts[j] * (counts[j] - 1);
    f->category_totals[j] += counts[j];
  }
  f->min_raters = f->units == 0 || m < f->min_raters ? (uint32_t)m : f->min_raters;
  f->max_raters = m > f->max_raters ? (uint32_t)m : f->max_raters;
  f->units++;
  f->ratings += m;
  f->pair_agreements += agreements;
  f->unit_agreement_sum += (double)agreements / ((double)m * (double)(m - 1));
  return 0;
}

int agreement_fleiss_merge(agreement_fleiss_t *dst, const agreement_fleiss_t *src) {
  assert(dst && src);
  if (dst->k != src->k || !fits(dst->units, src->units) || !fits(dst->ratings, src->ratings) ||
      !fits(dst->pair_agreements, src->pair_agreements) ||
      !fits(dst->rated_units, src->rated_units))
    return TALLY_E_INVALID_ARGUMENT;
  for (uint32_t j = 0; j < dst->k; j++)
    if (!fits(dst->category_totals[j], src->category_totals[j])) return TALLY_E_INVALID_ARGUMENT;
  if (src->units) {
    dst->min_raters =
        dst->units == 0 || src->min_raters < dst->min_raters ? src->min_raters : dst->min_raters;
    dst->max_raters = src->max_raters > dst->max_raters ? src->max_raters : dst->max_raters;
  }
  dst->units += src->units;
  dst->ratings += src->ratings;
  dst->pair_agreements += src->pair_agreements;
  dst->unit_agreement_sum += src->unit_agreement_sum;
  dst->rated_units += src->rated_units;
  for (uint32_t j = 0; j < dst->k; j++) {
    dst->category_totals[j] += src->category_totals[j];
    dst->category_share_sums[j] += src->category_share_sums[j];
  }
  return 0;
}

static size_t fleiss_size_for(uint32_t k) { return HEADER_BYTES + FLEISS_FIXED_BYTES + 16u * k; }

size_t agreement_fleiss_serialized_size(const agreement_fleiss_t *f) {
  assert(f);
  return fleiss_size_for(f->k);
}

int agreement_fleiss_serialize(const agreement_fleiss_t *f, uint8_t *buf, size_t cap, size_t *len) {
  assert(f && buf && len);
  size_t need = fleiss_size_for(f->k);
  if (cap < need) return TALLY_E_INVALID_ARGUMENT;
  put_header(buf, KIND_FLEISS, f->k);
  uint8_t *at = buf + HEADER_BYTES;
  put_u32(at, f->min_raters);
  put_u32(at + 4, f->max_raters);
  put_u64(at + 8, f->units);
  put_u64(at + 16, f->ratings);
  put_u64(at + 24, f->pair_agreements);
  put_f64(at + 32, f->unit_agreement_sum);
  put_u64(at + 40, f->rated_units);
  at += FLEISS_FIXED_BYTES;
  for (uint32_t j = 0; j < f->k; j++, at += 8) put_u64(at, f->category_totals[j]);
  for (uint32_t j = 0; j < f->k; j++, at += 8) put_f64(at, f->category_share_sums[j]);
  *len = need;
  return 0;
}

/* Checks the invariants add_unit and merge keep, so that coefficients
 * computed from deserialized sums are meaningful. */
static int fleiss_is_consistent(const agreement_fleiss_t *f) {
  if (f->units == 0 && (f->min_raters || f->max_raters || f->ratings || f->pair_agreements))
    return 0;
  if (f->units && (f->min_raters < 2 || f->min_raters > f->max_raters ||
                   f->ratings / f->min_raters < f->units ||
                   f->ratings / f->max_raters + (f->ratings % f->max_raters != 0) > f->units))
    return 0; /* outside [units * min_raters, units * max_raters] */
  if (f->rated_units < f->units || !is_nonnegative_finite(f->unit_agreement_sum)) return 0;
  uint64_t total = 0;
  for (uint32_t j = 0; j < f->k; j++) {
    if (!fits(total, f->category_totals[j])) return 0;
    total += f->category_totals[j];
    if (!is_nonnegative_finite(f->category_share_sums[j])) return 0;
  }
  return total == f->ratings;
}

int agreement_fleiss_deserialize(agreement_fleiss_t *f, const uint8_t *buf, size_t len) {
  assert(f && buf);
  uint32_t k;
  int rc = check_header(buf, len, KIND_FLEISS, fleiss_size_for, &k);
  if (rc < 0) return rc;
  agreement_fleiss_t decoded;
  agreement_fleiss_init(&decoded, k);
  const uint8_t *at = buf + HEADER_BYTES;
  decoded.min_raters = get_u32(at);
  decoded.max_raters = get_u32(at + 4);
  decoded.units = get_u64(at + 8);
  decoded.ratings = get_u64(at + 16);
  decoded.pair_agreements = get_u64(at + 24);
  decoded.unit_agreement_sum = get_f64(at + 32);
  decoded.rated_units = get_u64(at + 40);
  at += FLEISS_FIXED_BYTES;
  for (uint32_t j = 0; j < k; j++, at += 8) decoded.category_totals[j] = get_u64(at);
  for (uint32_t j = 0; j < k; j++, at += 8) decoded.category_share_sums[j] = get_f64(at);
  if (!fleiss_is_consistent(&decoded)) return TALLY_E_INVALID_ARGUMENT;
  *f = decoded;
  return 0;
}

/* Mean observed agreement P over units rated at least twice: exact integer
 * sums when every unit had the same number of raters. */
static double fleiss_observed(const agreement_fleiss_t *f) {
  if (f->min_raters == f->max_raters) {
    double n = (double)f->min_raters;
    return (double)f->pair_agreements / ((double)f->units * n * (n - 1.0));
  }
  return f->unit_agreement_sum / (double)f->units;
}

int agreement_fleiss_kappa(const agreement_fleiss_t *f, double *out) {
  assert(f && out);
  if (f->units == 0) return AGREEMENT_UNDEFINED;
  double expected = 0.0;
  for (uint32_t j = 0; j < f->k; j++) {
    double share = (double)f->category_totals[j] / (double)f->ratings;
    expected += share * share;
  }
  return chance_corrected(fleiss_observed(f), expected, out);
}

int agreement_fleiss_gwet_ac1(const agreement_fleiss_t *f, double *out) {
  assert(f && out);
  if (f->units == 0 || f->k < 2) return AGREEMENT_UNDEFINED;
  double shares[AGREEMENT_MAX_CATEGORIES];
  for (uint32_t j = 0; j < f->k; j++)
    shares[j] = f->category_share_sums[j] / (double)f->rated_units;
  return chance_corrected(fleiss_observed(f), gwet_expected(shares, f->k), out);
}

/* ---- Wilson ---------------------------------------------------------------- */

int agreement_wilson(uint64_t correct, uint64_t n, double z, double *low, double *high) {
  assert(low && high);
  if (correct > n || !isfinite(z) || z < 0.0) return TALLY_E_INVALID_ARGUMENT;
  if (n == 0) return AGREEMENT_UNDEFINED;
  double nn = (double)n, p = (double)correct / nn, z2 = z * z;
  double scale = 1.0 + z2 / nn;
  double center = (p + z2 / (2.0 * nn)) / scale;
  double half = z / scale * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  *low = fmax(0.0, center - half);
  *high = fmin(1.0, center + half);
  return 0;
}
