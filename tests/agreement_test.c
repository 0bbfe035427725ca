/* agreement_test: the agreement module against published vectors, merge
 * exactness on random data, and malformed serialized input.
 *
 * Usage: agreement_test <agreement-vectors.json>
 *
 * Every coefficient in the vectors file is checked; an entry key this test
 * does not know fails the run, so new vectors cannot be skipped silently.
 * Prints one line per failed check and a final "N passed, M failed"
 * (tests/check.h); exits non-zero on any failure.
 */
#include "agreement.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tally_error.h"

#define K_MAX AGREEMENT_MAX_CATEGORIES
#define MAX_UNITS 1024
#define MAX_RATERS 16

static char *vectors_text; /* raw file, for the number of decimals given */

/* CHECK with a formatted message: the values compared, not just the
 * condition. Counts into tests/check.h's totals. */
static void check(int ok, const char *fmt, ...) {
  if (ok) {
    check_passed++;
    return;
  }
  check_failed++;
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- Tolerances -------------------------------------------------------------
 * Values with 6 or more decimals are compared within 1e-6. A value the file
 * gives with fewer decimals (0.8013, 0.430) is a rounded published figure:
 * it is compared within half a unit of its last decimal (0.00005, 0.0005).
 * Decimals are counted on the number as written in the file (trailing zeros
 * count, so 0.430 means +-0.0005), taking the fewest among tokens with the
 * same value. Whole numbers (1.0, 0.0, 7) are exact and use 1e-6. */

/* Fewest decimals among the number tokens of the file equal to v; -1 when
 * none is. Tokens inside strings are skipped. */
static int decimals_given(double v) {
  int best = -1, in_string = 0;
  for (const char *s = vectors_text; *s; s++) {
    if (in_string) {
      if (*s == '\\' && s[1])
        s++;
      else if (*s == '"')
        in_string = 0;
      continue;
    }
    if (*s == '"') {
      in_string = 1;
      continue;
    }
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) continue;
    char *end;
    double token = strtod(s, &end);
    const char *dot = memchr(s, '.', (size_t)(end - s));
    int decimals = 0;
    for (const char *d = dot ? dot + 1 : end; d < end && *d >= '0' && *d <= '9'; d++) decimals++;
    if (token == v && (best < 0 || decimals < best)) best = decimals;
    s = end - 1;
  }
  return best;
}

static double tolerance_for(double expected) {
  int decimals = decimals_given(expected);
  if (expected == floor(expected) || decimals < 0 || decimals >= 6) return 1e-6;
  return 0.5 * pow(10.0, -decimals);
}

static void check_close(const char *what, int rc, double got, double expected, double tol) {
  check(rc == 0 && fabs(got - expected) <= tol, "%s: rc %d got %.9f expected %.9f (tol %g)", what,
        rc, got, expected, tol);
}

/* A value from the vectors file, within the tolerance its decimals allow. */
static void check_vector_value(const char *what, int rc, double got, double expected) {
  check_close(what, rc, got, expected, tolerance_for(expected));
}

static void check_undefined(const char *what, int rc) {
  check(rc == AGREEMENT_UNDEFINED, "%s: rc %d, expected AGREEMENT_UNDEFINED", what, rc);
}

/* Checks a coefficient against a vectors entry: a number, or null meaning
 * undefined. */
static void check_entry(const char *what, int rc, double got, const json_t *expected) {
  if (json_is_null(expected))
    check_undefined(what, rc);
  else if (json_is_number(expected))
    check_vector_value(what, rc, got, json_number_value(expected));
  else
    check(0, "%s: expected value is neither a number nor null", what);
}

/* ---- Vectors: reliability data (coders x units, null = missing) ----------- */

typedef struct {
  uint32_t k;
  size_t unit_count;
  size_t raters[MAX_UNITS];
  uint32_t values[MAX_UNITS][MAX_RATERS]; /* category indices, value - 1 */
} units_t;

/* Reads coders_by_units into units (category = value - 1, K = largest
 * value). Returns 0 or -1 when the data is not as expected. */
static int units_from_coders(const json_t *coders, units_t *units) {
  memset(units, 0, sizeof *units);
  size_t coder_index;
  const json_t *row;
  json_array_foreach(coders, coder_index, row) {
    size_t unit_index;
    const json_t *cell;
    if (json_array_size(row) > MAX_UNITS || coder_index >= MAX_RATERS) return -1;
    json_array_foreach(row, unit_index, cell) {
      if (unit_index + 1 > units->unit_count) units->unit_count = unit_index + 1;
      if (json_is_null(cell)) continue;
      json_int_t v = json_integer_value(cell);
      if (!json_is_integer(cell) || v < 1 || v > (json_int_t)K_MAX) return -1;
      units->values[unit_index][units->raters[unit_index]++] = (uint32_t)(v - 1);
      if ((uint32_t)v > units->k) units->k = (uint32_t)v;
    }
  }
  return units->unit_count ? 0 : -1;
}

static void accumulate_units(const units_t *units, size_t from, size_t to,
                             agreement_coincidence_t *c, agreement_fleiss_t *f) {
  int rc = agreement_coincidence_init(c, units->k) | agreement_fleiss_init(f, units->k);
  for (size_t u = from; u < to; u++) {
    rc |= agreement_coincidence_add_unit(c, units->values[u], units->raters[u]);
    rc |= agreement_fleiss_add_unit(f, units->values[u], units->raters[u]);
  }
  check(rc == 0, "accumulating units %zu..%zu", from, to);
}

/* The value of a named reliability coefficient; returns its status. */
static int reliability_coefficient(const char *key, const agreement_coincidence_t *c,
                                   const agreement_fleiss_t *f, double *out) {
  if (!strcmp(key, "alpha_nominal")) return agreement_coincidence_alpha_nominal(c, out);
  if (!strcmp(key, "alpha_ordinal")) return agreement_coincidence_alpha_ordinal(c, out);
  if (!strcmp(key, "alpha_interval")) return agreement_coincidence_alpha_interval(c, NULL, out);
  if (!strcmp(key, "alpha_ratio")) return agreement_coincidence_alpha_ratio(c, NULL, out);
  if (!strcmp(key, "gwet_ac1")) return agreement_fleiss_gwet_ac1(f, out);
  return TALLY_E_NOT_FOUND;
}

static void check_coincidence_matrix(const char *name, const agreement_coincidence_t *c,
                                     const json_t *matrix) {
  check(json_array_size(matrix) == c->k, "%s: coincidence matrix has %zu rows, K %u", name,
        json_array_size(matrix), c->k);
  size_t a;
  const json_t *row;
  json_array_foreach(matrix, a, row) {
    size_t b;
    const json_t *cell;
    json_array_foreach(row, b, cell) {
      char what[256];
      snprintf(what, sizeof what, "%s coincidence[%zu][%zu]", name, a, b);
      int in_range = a < c->k && b < c->k;
      check_vector_value(what, in_range ? 0 : -1, in_range ? c->cells[a][b] : NAN,
                         json_number_value(cell));
    }
  }
}

/* Shards: units [0, split) and [split, n) accumulated separately,
 * serialized, deserialized and merged give the alphas and AC1 of the whole.
 * The sums hold fractions (1/(m-1)) in doubles, whose addition is exact only
 * up to rounding, so the comparison allows 1e-12; on the vectors the results
 * are in fact bitwise equal. */
static void check_shard_split(const char *name, const units_t *units, size_t split,
                              const agreement_coincidence_t *whole_c,
                              const agreement_fleiss_t *whole_f) {
  agreement_coincidence_t part_c[2], merged_c;
  agreement_fleiss_t part_f[2], merged_f;
  accumulate_units(units, 0, split, &part_c[0], &part_f[0]);
  accumulate_units(units, split, units->unit_count, &part_c[1], &part_f[1]);
  agreement_coincidence_init(&merged_c, units->k);
  agreement_fleiss_init(&merged_f, units->k);
  for (int i = 0; i < 2; i++) {
    uint8_t buf[8192];
    size_t len;
    agreement_coincidence_t c;
    agreement_fleiss_t f;
    check(agreement_coincidence_serialize(&part_c[i], buf, sizeof buf, &len) == 0 &&
              agreement_coincidence_deserialize(&c, buf, len) == 0 &&
              agreement_coincidence_merge(&merged_c, &c) == 0,
          "%s shard %d coincidence round trip", name, i);
    check(agreement_fleiss_serialize(&part_f[i], buf, sizeof buf, &len) == 0 &&
              agreement_fleiss_deserialize(&f, buf, len) == 0 &&
              agreement_fleiss_merge(&merged_f, &f) == 0,
          "%s shard %d fleiss round trip", name, i);
  }
  static const char *keys[] = {"alpha_nominal", "alpha_ordinal", "alpha_interval", "alpha_ratio",
                               "gwet_ac1"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    double whole = NAN, merged = NAN;
    int rc_whole = reliability_coefficient(keys[i], whole_c, whole_f, &whole);
    int rc_merged = reliability_coefficient(keys[i], &merged_c, &merged_f, &merged);
    check(rc_whole == 0 && rc_merged == 0 && fabs(whole - merged) <= 1e-12,
          "%s shard split %s: whole %.17g merged %.17g", name, keys[i], whole, merged);
  }
}

static void check_reliability_data(const char *name, const json_t *entry) {
  static units_t units;
  if (units_from_coders(json_object_get(entry, "coders_by_units"), &units) < 0) {
    check(0, "%s: unreadable coders_by_units", name);
    return;
  }
  agreement_coincidence_t c;
  agreement_fleiss_t f;
  accumulate_units(&units, 0, units.unit_count, &c, &f);
  const char *key;
  const json_t *expected;
  json_object_foreach((json_t *)entry, key, expected) {
    char what[256];
    snprintf(what, sizeof what, "%s %s", name, key);
    double got = NAN;
    int rc;
    if (!strcmp(key, "coders_by_units") || !strcmp(key, "note")) continue;
    if (!strncmp(key, "coincidence_matrix", strlen("coincidence_matrix"))) {
      check_coincidence_matrix(name, &c, expected);
    } else if ((rc = reliability_coefficient(key, &c, &f, &got)) != TALLY_E_NOT_FOUND) {
      check_entry(what, rc, got, expected);
    } else {
      check(0, "%s: key not checked by this test", what);
    }
  }
  /* The file's note: units 1-5 and 6-12 as two shards. */
  check_shard_split(name, &units, units.unit_count < 5 ? units.unit_count : 5, &c, &f);
}

/* ---- Vectors: Fleiss ------------------------------------------------------ */

static void check_fleiss_vectors(const char *name, const json_t *entry) {
  const json_t *subjects = json_object_get(entry, "subjects_by_category_counts");
  agreement_fleiss_t f;
  agreement_fleiss_init(&f, (uint32_t)json_array_size(json_array_get(subjects, 0)));
  size_t s;
  const json_t *counts;
  json_array_foreach(subjects, s, counts) {
    uint32_t values[256];
    size_t m = 0, j;
    const json_t *count;
    json_array_foreach(counts, j, count) {
      for (json_int_t r = 0; r < json_integer_value(count) && m < 256; r++)
        values[m++] = (uint32_t)j;
    }
    check(agreement_fleiss_add_unit(&f, values, m) == 0, "%s subject %zu", name, s);
  }
  const char *key;
  const json_t *expected;
  json_object_foreach((json_t *)entry, key, expected) {
    double got = NAN;
    char what[256];
    snprintf(what, sizeof what, "%s %s", name, key);
    if (!strcmp(key, "subjects_by_category_counts")) continue;
    if (!strcmp(key, "fleiss_kappa")) {
      int rc = agreement_fleiss_kappa(&f, &got);
      check_entry(what, rc, got, expected);
    } else {
      check(0, "%s: key not checked by this test", what);
    }
  }
  /* Constant raters: the generalised mean of P_i equals Fleiss' P. */
  double n = f.min_raters;
  check(f.min_raters == f.max_raters &&
            fabs(f.unit_agreement_sum / (double)f.units -
                 (double)f.pair_agreements / ((double)f.units * n * (n - 1))) < 1e-12,
        "%s: generalised P differs from Fleiss' P", name);
}

/* ---- Vectors: confusion matrices ------------------------------------------ */

static int pairs_from_json(const json_t *matrix, agreement_pairs_t *p) {
  if (agreement_pairs_init(p, (uint32_t)json_array_size(matrix)) < 0) return -1;
  size_t a;
  const json_t *row;
  json_array_foreach(matrix, a, row) {
    size_t b;
    const json_t *cell;
    if (json_array_size(row) != p->k) return -1;
    json_array_foreach(row, b, cell) {
      if (agreement_pairs_add(p, (uint32_t)a, (uint32_t)b, (uint64_t)json_integer_value(cell)) < 0)
        return -1;
    }
  }
  return 0;
}

/* The value of a named pair coefficient; returns its status. */
static int pair_coefficient(const char *key, const agreement_pairs_t *p, double *out) {
  if (!strcmp(key, "percent_agreement")) return agreement_pairs_percent(p, out);
  if (!strcmp(key, "kappa")) return agreement_pairs_cohen_kappa(p, out);
  if (!strcmp(key, "kappa_linear")) return agreement_pairs_cohen_kappa_linear(p, out);
  if (!strcmp(key, "kappa_quadratic")) return agreement_pairs_cohen_kappa_quadratic(p, out);
  if (!strcmp(key, "scott_pi")) return agreement_pairs_scott_pi(p, out);
  if (!strcmp(key, "gwet_ac1")) return agreement_pairs_gwet_ac1(p, out);
  if (!strcmp(key, "alpha_nominal")) return agreement_pairs_alpha_nominal(p, out);
  return TALLY_E_NOT_FOUND;
}

static void check_pairs_entry(const char *name, const json_t *entry) {
  agreement_pairs_t p;
  if (pairs_from_json(json_object_get(entry, "matrix"), &p) < 0) {
    check(0, "%s: unreadable matrix", name);
    return;
  }
  const char *key;
  const json_t *expected;
  json_object_foreach((json_t *)entry, key, expected) {
    char what[256];
    snprintf(what, sizeof what, "%s %s", name, key);
    double got = NAN;
    if (!strcmp(key, "matrix")) continue;
    int rc = pair_coefficient(key, &p, &got);
    if (rc == TALLY_E_NOT_FOUND)
      check(0, "%s: key not checked by this test", what);
    else
      check_entry(what, rc, got, expected);
  }
}

static void check_wilson_entry(const char *name, const json_t *entry) {
  double low = NAN, high = NAN;
  int rc = agreement_wilson((uint64_t)json_integer_value(json_object_get(entry, "correct")),
                            (uint64_t)json_integer_value(json_object_get(entry, "n")),
                            AGREEMENT_Z95, &low, &high);
  char what[256];
  snprintf(what, sizeof what, "%s low", name);
  check_entry(what, rc, low, json_object_get(entry, "low"));
  snprintf(what, sizeof what, "%s high", name);
  check_entry(what, rc, high, json_object_get(entry, "high"));
  check(json_object_size(entry) == 4, "%s: key not checked by this test", name);
}

static void test_vectors(const json_t *root) {
  const char *section;
  const json_t *value;
  json_object_foreach((json_t *)root, section, value) {
    char name[128];
    size_t i;
    const json_t *entry;
    const char *key;
    if (!strcmp(section, "about")) continue;
    if (!strncmp(section, "krippendorff_", strlen("krippendorff_"))) {
      check_reliability_data(section, value);
    } else if (!strncmp(section, "fleiss_", strlen("fleiss_"))) {
      check_fleiss_vectors(section, value);
    } else if (!strcmp(section, "cohen_confusion_matrices")) {
      json_array_foreach(value, i, entry) {
        snprintf(name, sizeof name, "%s[%zu]", section, i);
        check_pairs_entry(name, entry);
      }
    } else if (!strcmp(section, "undefined_cases")) {
      json_object_foreach((json_t *)value, key, entry) {
        snprintf(name, sizeof name, "%s.%s", section, key);
        check_pairs_entry(name, entry);
      }
    } else if (!strcmp(section, "wilson_95")) {
      json_array_foreach(value, i, entry) {
        snprintf(name, sizeof name, "%s[%zu]", section, i);
        check_wilson_entry(name, entry);
      }
    } else {
      check(0, "vectors section %s not checked by this test", section);
    }
  }
}

/* ---- Hand-computed cases ---------------------------------------------------- */

static void test_undefined_and_hand_computed(void) {
  agreement_coincidence_t c;
  agreement_fleiss_t f;
  agreement_pairs_t p;
  double v = NAN, low, high;
  int rc;

  /* Empty accumulators: everything undefined. */
  agreement_coincidence_init(&c, 3);
  agreement_fleiss_init(&f, 3);
  agreement_pairs_init(&p, 3);
  check_undefined("empty coincidence percent", agreement_coincidence_percent(&c, &v));
  check_undefined("empty alpha nominal", agreement_coincidence_alpha_nominal(&c, &v));
  check_undefined("empty alpha ordinal", agreement_coincidence_alpha_ordinal(&c, &v));
  check_undefined("empty alpha interval", agreement_coincidence_alpha_interval(&c, NULL, &v));
  check_undefined("empty alpha ratio", agreement_coincidence_alpha_ratio(&c, NULL, &v));
  check_undefined("empty fleiss kappa", agreement_fleiss_kappa(&f, &v));
  check_undefined("empty fleiss gwet", agreement_fleiss_gwet_ac1(&f, &v));
  for (const char *const *key =
           (const char *const[]){"percent_agreement", "kappa", "kappa_linear", "kappa_quadratic",
                                 "scott_pi", "gwet_ac1", "alpha_nominal", NULL};
       *key; key++) {
    char what[64];
    snprintf(what, sizeof what, "empty pairs %s", *key);
    check_undefined(what, pair_coefficient(*key, &p, &v));
  }
  check(isnan(v), "undefined results must not write the out value");

  /* A unit with one value is not pairable; one category only: alpha and
   * kappa undefined, percent agreement 1. */
  uint32_t one = 1, same[3] = {2, 2, 2};
  agreement_coincidence_add_unit(&c, &one, 1);
  agreement_fleiss_add_unit(&f, &one, 1);
  check(agreement_coincidence_total(&c) == 0.0 && f.units == 0 && f.rated_units == 1,
        "single-value unit is not pairable");
  agreement_coincidence_add_unit(&c, same, 3);
  agreement_fleiss_add_unit(&f, same, 3);
  rc = agreement_coincidence_percent(&c, &v);
  check_close("one category coincidence percent", rc, v, 1.0, 0.0);
  check_undefined("one category alpha nominal", agreement_coincidence_alpha_nominal(&c, &v));
  check_undefined("one category alpha ordinal", agreement_coincidence_alpha_ordinal(&c, &v));
  check_undefined("one category alpha interval",
                  agreement_coincidence_alpha_interval(&c, NULL, &v));
  check_undefined("one category fleiss kappa", agreement_fleiss_kappa(&f, &v));
  agreement_pairs_add(&p, 1, 1, 10);
  check_undefined("one category kappa linear", agreement_pairs_cohen_kappa_linear(&p, &v));
  check_undefined("one category kappa quadratic", agreement_pairs_cohen_kappa_quadratic(&p, &v));
  check_undefined("one category alpha nominal (pairs)", agreement_pairs_alpha_nominal(&p, &v));
  agreement_pairs_init(&p, 1);
  agreement_pairs_add(&p, 0, 0, 5);
  check_undefined("K=1 gwet ac1", agreement_pairs_gwet_ac1(&p, &v));
  agreement_fleiss_init(&f, 1);
  agreement_fleiss_add_unit(&f, (uint32_t[]){0, 0}, 2);
  check_undefined("K=1 fleiss gwet ac1", agreement_fleiss_gwet_ac1(&f, &v));

  /* Varying raters, by hand: units {0,0} and {0,1,1}. P = (1 + 1/3)/2,
   * p = (3/5, 2/5), Pe = 13/25, kappa = 11/36. Gwet: pi = (2/3, 1/3),
   * pe = 4/9, AC1 = 0.4. */
  agreement_fleiss_init(&f, 2);
  agreement_fleiss_add_unit(&f, (uint32_t[]){0, 0}, 2);
  agreement_fleiss_add_unit(&f, (uint32_t[]){0, 1, 1}, 3);
  check(f.min_raters == 2 && f.max_raters == 3, "fleiss min/max raters");
  rc = agreement_fleiss_kappa(&f, &v);
  check_close("varying raters fleiss kappa", rc, v, 11.0 / 36.0, 1e-12);
  rc = agreement_fleiss_gwet_ac1(&f, &v);
  check_close("varying raters gwet ac1", rc, v, 0.4, 1e-12);

  /* Ratio metric with supplied values, and interval invariant to shifts. */
  agreement_coincidence_init(&c, 3);
  agreement_coincidence_add_unit(&c, (uint32_t[]){0, 1}, 2);
  agreement_coincidence_add_unit(&c, (uint32_t[]){1, 1, 2}, 3);
  agreement_coincidence_add_unit(&c, (uint32_t[]){2, 2}, 2);
  double shifted[3] = {11, 12, 13}, a1 = NAN, a2 = NAN;
  check(agreement_coincidence_alpha_interval(&c, NULL, &a1) == 0 &&
            agreement_coincidence_alpha_interval(&c, shifted, &a2) == 0 && fabs(a1 - a2) < 1e-12,
        "interval alpha depends only on differences");
  check(agreement_coincidence_alpha_ratio(&c, (double[]){0, 0, 0}, &v) == AGREEMENT_UNDEFINED,
        "ratio alpha with all values 0 is undefined");

  /* Wilson: no trials is undefined. */
  check_undefined("wilson n=0", agreement_wilson(0, 0, AGREEMENT_Z95, &low, &high));
}

static void test_pairs_alpha_equals_coincidence(void) {
  /* Pairs as two-value units give the same coincidence matrix and alpha. */
  agreement_pairs_t p;
  agreement_coincidence_t c;
  agreement_pairs_init(&p, 4);
  agreement_coincidence_init(&c, 4);
  static const uint32_t data[][3] = {{0, 0, 7}, {0, 1, 2}, {1, 1, 5},
                                     {2, 3, 1}, {3, 3, 4}, {2, 0, 3}};
  for (size_t i = 0; i < sizeof data / sizeof *data; i++) {
    agreement_pairs_add(&p, data[i][0], data[i][1], data[i][2]);
    for (uint32_t r = 0; r < data[i][2]; r++)
      agreement_coincidence_add_unit(&c, (uint32_t[]){data[i][0], data[i][1]}, 2);
  }
  double a1 = NAN, a2 = NAN, p1 = NAN, p2 = NAN;
  int rc = agreement_pairs_alpha_nominal(&p, &a1) | agreement_coincidence_alpha_nominal(&c, &a2) |
           agreement_pairs_percent(&p, &p1) | agreement_coincidence_percent(&c, &p2);
  check(rc == 0 && fabs(a1 - a2) < 1e-12, "pairs alpha %.12f vs coincidence alpha %.12f", a1, a2);
  check(rc == 0 && fabs(p1 - p2) < 1e-12, "pairs percent %.12f vs coincidence percent %.12f", p1,
        p2);
  check(agreement_pairs_total(&p) == 22 && agreement_coincidence_total(&c) == 44.0,
        "pair total 22, pairable values 44");
}

static void test_invalid_arguments(void) {
  agreement_pairs_t p, q;
  agreement_coincidence_t c, d;
  agreement_fleiss_t f, g;
  double v, low, high;
  uint8_t buf[64];
  size_t len;

  check(agreement_pairs_init(&p, 0) == TALLY_E_INVALID_ARGUMENT, "pairs K=0");
  check(agreement_pairs_init(&p, K_MAX + 1) == TALLY_E_INVALID_ARGUMENT, "pairs K too big");
  check(agreement_coincidence_init(&c, 0) == TALLY_E_INVALID_ARGUMENT, "coincidence K=0");
  check(agreement_fleiss_init(&f, K_MAX + 1) == TALLY_E_INVALID_ARGUMENT, "fleiss K too big");
  check(agreement_pairs_init(&p, K_MAX) == 0, "pairs K=max");

  agreement_pairs_init(&p, 3);
  check(agreement_pairs_add(&p, 3, 0, 1) == TALLY_E_INVALID_ARGUMENT, "pairs add a out of range");
  check(agreement_pairs_add(&p, 0, 3, 1) == TALLY_E_INVALID_ARGUMENT, "pairs add b out of range");
  check(agreement_pairs_add(&p, 0, 0, UINT64_MAX) == 0 &&
            agreement_pairs_add(&p, 0, 0, 1) == TALLY_E_INVALID_ARGUMENT,
        "pairs add overflow");
  check(agreement_pairs_add(&p, 1, 2, 3) == 0 && agreement_pairs_total(&p) == UINT64_MAX,
        "pairs total saturates");
  agreement_pairs_init(&q, 3);
  agreement_pairs_add(&q, 1, 2, 1);
  agreement_pairs_add(&q, 0, 0, 1);
  check(agreement_pairs_merge(&p, &q) == TALLY_E_INVALID_ARGUMENT && p.counts[1][2] == 3,
        "pairs merge overflow leaves dst untouched");
  agreement_pairs_init(&q, 2);
  check(agreement_pairs_merge(&p, &q) == TALLY_E_INVALID_ARGUMENT, "pairs merge K mismatch");
  check(agreement_pairs_serialize(&p, buf, sizeof buf, &len) == TALLY_E_INVALID_ARGUMENT,
        "pairs serialize into small buffer");

  agreement_coincidence_init(&c, 3);
  check(agreement_coincidence_add_unit(&c, (uint32_t[]){0, 1, 3}, 3) == TALLY_E_INVALID_ARGUMENT &&
            agreement_coincidence_total(&c) == 0.0,
        "coincidence add out of range adds nothing");
  agreement_coincidence_init(&d, 4);
  check(agreement_coincidence_merge(&c, &d) == TALLY_E_INVALID_ARGUMENT,
        "coincidence merge K mismatch");
  check(agreement_coincidence_serialize(&c, buf, sizeof buf, &len) == TALLY_E_INVALID_ARGUMENT,
        "coincidence serialize into small buffer");
  agreement_coincidence_add_unit(&c, (uint32_t[]){0, 1, 2}, 3);
  check(agreement_coincidence_alpha_interval(&c, (double[]){0, NAN, 1}, &v) ==
            TALLY_E_INVALID_ARGUMENT,
        "interval alpha with a NaN value");
  check(agreement_coincidence_alpha_ratio(&c, (double[]){0, -1, 1}, &v) == TALLY_E_INVALID_ARGUMENT,
        "ratio alpha with a negative value");

  agreement_fleiss_init(&f, 3);
  check(agreement_fleiss_add_unit(&f, (uint32_t[]){0, 5}, 2) == TALLY_E_INVALID_ARGUMENT &&
            f.rated_units == 0,
        "fleiss add out of range adds nothing");
  agreement_fleiss_init(&g, 2);
  check(agreement_fleiss_merge(&f, &g) == TALLY_E_INVALID_ARGUMENT, "fleiss merge K mismatch");
  agreement_fleiss_init(&g, 3);
  g.units = UINT64_MAX;
  agreement_fleiss_add_unit(&f, (uint32_t[]){0, 1}, 2);
  check(agreement_fleiss_merge(&f, &g) == TALLY_E_INVALID_ARGUMENT && f.units == 1,
        "fleiss merge overflow leaves dst untouched");
  check(agreement_fleiss_serialize(&f, buf, 10, &len) == TALLY_E_INVALID_ARGUMENT,
        "fleiss serialize into small buffer");

  check(agreement_wilson(11, 10, AGREEMENT_Z95, &low, &high) == TALLY_E_INVALID_ARGUMENT,
        "wilson correct > n");
  check(agreement_wilson(1, 10, -1.0, &low, &high) == TALLY_E_INVALID_ARGUMENT,
        "wilson negative z");
  check(agreement_wilson(1, 10, INFINITY, &low, &high) == TALLY_E_INVALID_ARGUMENT,
        "wilson infinite z");
}

/* ---- Random data: merged parts equal the whole --------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void) { /* xorshift64*, fixed seed: reproducible */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint32_t rng_below(uint32_t n) { return (uint32_t)(rng_next() % n); }

typedef struct {
  agreement_pairs_t pairs;
  agreement_coincidence_t coincidence;
  agreement_fleiss_t fleiss;
} all_stats_t;

static void all_init(all_stats_t *s, uint32_t k) {
  agreement_pairs_init(&s->pairs, k);
  agreement_coincidence_init(&s->coincidence, k);
  agreement_fleiss_init(&s->fleiss, k);
}

static int all_add_unit(all_stats_t *s, const uint32_t *values, size_t m) {
  int rc = agreement_coincidence_add_unit(&s->coincidence, values, m);
  rc |= agreement_fleiss_add_unit(&s->fleiss, values, m);
  if (m >= 2) rc |= agreement_pairs_add(&s->pairs, values[0], values[1], 1);
  return rc;
}

/* Serializes every accumulator of src, deserializes and merges into dst. */
static int all_merge_through_bytes(all_stats_t *dst, const all_stats_t *src) {
  static uint8_t buf[4 + 8 * K_MAX * K_MAX];
  static all_stats_t decoded;
  size_t len;
  int rc = agreement_pairs_serialize(&src->pairs, buf, sizeof buf, &len);
  rc |= agreement_pairs_deserialize(&decoded.pairs, buf, len);
  rc |= agreement_pairs_merge(&dst->pairs, &decoded.pairs);
  rc |= agreement_coincidence_serialize(&src->coincidence, buf, sizeof buf, &len);
  rc |= agreement_coincidence_deserialize(&decoded.coincidence, buf, len);
  rc |= agreement_coincidence_merge(&dst->coincidence, &decoded.coincidence);
  rc |= agreement_fleiss_serialize(&src->fleiss, buf, sizeof buf, &len);
  rc |= agreement_fleiss_deserialize(&decoded.fleiss, buf, len);
  rc |= agreement_fleiss_merge(&dst->fleiss, &decoded.fleiss);
  return rc;
}

enum { COEFFICIENT_COUNT = 14 };

/* Every coefficient of s, with its status. */
static void all_coefficients(const all_stats_t *s, int *rc, double *v) {
  for (int i = 0; i < COEFFICIENT_COUNT; i++) v[i] = NAN;
  int i = 0;
  rc[i] = agreement_pairs_percent(&s->pairs, &v[i]), i++;
  rc[i] = agreement_pairs_cohen_kappa(&s->pairs, &v[i]), i++;
  rc[i] = agreement_pairs_cohen_kappa_linear(&s->pairs, &v[i]), i++;
  rc[i] = agreement_pairs_cohen_kappa_quadratic(&s->pairs, &v[i]), i++;
  rc[i] = agreement_pairs_scott_pi(&s->pairs, &v[i]), i++;
  rc[i] = agreement_pairs_gwet_ac1(&s->pairs, &v[i]), i++;
  rc[i] = agreement_pairs_alpha_nominal(&s->pairs, &v[i]), i++;
  rc[i] = agreement_coincidence_percent(&s->coincidence, &v[i]), i++;
  rc[i] = agreement_coincidence_alpha_nominal(&s->coincidence, &v[i]), i++;
  rc[i] = agreement_coincidence_alpha_ordinal(&s->coincidence, &v[i]), i++;
  rc[i] = agreement_coincidence_alpha_interval(&s->coincidence, NULL, &v[i]), i++;
  rc[i] = agreement_coincidence_alpha_ratio(&s->coincidence, NULL, &v[i]), i++;
  rc[i] = agreement_fleiss_kappa(&s->fleiss, &v[i]), i++;
  rc[i] = agreement_fleiss_gwet_ac1(&s->fleiss, &v[i]), i++;
}

static void test_random_merge(void) {
  static all_stats_t whole, parts[5], merged;
  for (int round = 0; round < 40; round++) {
    uint32_t k = round % 10 == 9 ? K_MAX : 2 + rng_below(7);
    uint32_t part_count = 2 + rng_below(4);
    uint32_t units = 300 + rng_below(400);
    /* Raters per unit: mode 0 constant (Fleiss' exact integer path), mode 1
     * random 0..6 per unit, mode 2 constant within a part but different
     * across parts (the merge must combine min and max raters). */
    int mode = round % 3;
    uint32_t raters = 2 + rng_below(5);
    all_init(&whole, k);
    all_init(&merged, k);
    for (uint32_t i = 0; i < part_count; i++) all_init(&parts[i], k);
    int rc = 0;
    for (uint32_t u = 0; u < units; u++) {
      uint32_t values[MAX_RATERS];
      uint32_t part = rng_below(part_count);
      size_t m = mode == 0 ? raters : mode == 1 ? rng_below(7) : 2 + part;
      uint32_t truth = rng_below(k);
      for (size_t r = 0; r < m; r++) values[r] = rng_below(4) ? truth : rng_below(k);
      rc |= all_add_unit(&whole, values, m);
      rc |= all_add_unit(&parts[part], values, m);
    }
    for (uint32_t i = 0; i < part_count; i++) rc |= all_merge_through_bytes(&merged, &parts[i]);
    check(rc == 0, "random round %d: accumulate and merge", round);
    check(!memcmp(whole.pairs.counts, merged.pairs.counts, sizeof whole.pairs.counts),
          "random round %d: pair counts merge exactly", round);
    check(whole.fleiss.pair_agreements == merged.fleiss.pair_agreements &&
              whole.fleiss.units == merged.fleiss.units &&
              whole.fleiss.min_raters == merged.fleiss.min_raters &&
              whole.fleiss.max_raters == merged.fleiss.max_raters &&
              !memcmp(whole.fleiss.category_totals, merged.fleiss.category_totals,
                      sizeof whole.fleiss.category_totals),
          "random round %d: fleiss integer sums merge exactly", round);
    int rc_whole[COEFFICIENT_COUNT], rc_merged[COEFFICIENT_COUNT];
    double v_whole[COEFFICIENT_COUNT], v_merged[COEFFICIENT_COUNT];
    all_coefficients(&whole, rc_whole, v_whole);
    all_coefficients(&merged, rc_merged, v_merged);
    for (int i = 0; i < COEFFICIENT_COUNT; i++)
      check(rc_whole[i] == 0 && rc_merged[i] == 0 && fabs(v_whole[i] - v_merged[i]) <= 1e-9,
            "random round %d (K %u, %u parts) coefficient %d: rc %d/%d whole %.15f merged %.15f",
            round, k, part_count, i, rc_whole[i], rc_merged[i], v_whole[i], v_merged[i]);
    if (mode == 0) {
      double kw = NAN, km = NAN;
      agreement_fleiss_kappa(&whole.fleiss, &kw);
      agreement_fleiss_kappa(&merged.fleiss, &km);
      check(kw == km, "random round %d: constant-rater Fleiss kappa is bitwise equal", round);
    }
  }
}

/* ---- Serialized form -------------------------------------------------------- */

static int hex_to_bytes(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (; hex[0] && hex[1]; hex += 2) {
    unsigned byte;
    if (n == cap || sscanf(hex, "%2x", &byte) != 1) return -1;
    out[n++] = (uint8_t)byte;
  }
  return (int)n;
}

/* Version-1 bytes pinned by hand from the format in agreement.h: a format
 * change that forgets the version bump fails here. */
static void test_golden_bytes(void) {
  uint8_t want[256], got[256];
  size_t len;
  int n;

  agreement_pairs_t p, p2;
  agreement_pairs_init(&p, 2);
  agreement_pairs_add(&p, 0, 0, 1);
  agreement_pairs_add(&p, 0, 1, 2);
  agreement_pairs_add(&p, 1, 0, 0x0102030405060708ull);
  n = hex_to_bytes(
      "50010200" /* 'P', version 1, K 2 */
      "0100000000000000"
      "0200000000000000"
      "0807060504030201"
      "0000000000000000",
      want, sizeof want);
  check(agreement_pairs_serialize(&p, got, sizeof got, &len) == 0 && (int)len == n &&
            !memcmp(got, want, len),
        "pairs version-1 bytes");
  check(agreement_pairs_deserialize(&p2, want, (size_t)n) == 0 && !memcmp(&p, &p2, sizeof p),
        "pairs version-1 bytes decode");

  agreement_coincidence_t c, c2;
  agreement_coincidence_init(&c, 2);
  agreement_coincidence_add_unit(&c, (uint32_t[]){0, 1, 1}, 3); /* cells 0 1 / 1 1 */
  n = hex_to_bytes(
      "43010200" /* 'C', version 1, K 2 */
      "0000000000000000"
      "000000000000F03F"
      "000000000000F03F"
      "000000000000F03F",
      want, sizeof want);
  check(c.cells[0][0] == 0.0 && c.cells[0][1] == 1.0 && c.cells[1][1] == 1.0,
        "coincidence of unit {0,1,1}");
  check(agreement_coincidence_serialize(&c, got, sizeof got, &len) == 0 && (int)len == n &&
            !memcmp(got, want, len),
        "coincidence version-1 bytes");
  check(agreement_coincidence_deserialize(&c2, want, (size_t)n) == 0 && !memcmp(&c, &c2, sizeof c),
        "coincidence version-1 bytes decode");

  agreement_fleiss_t f, f2;
  agreement_fleiss_init(&f, 2);
  agreement_fleiss_add_unit(&f, (uint32_t[]){0, 0, 1}, 3);
  n = hex_to_bytes(
      "46010200" /* 'F', version 1, K 2 */
      "03000000"
      "03000000"         /* min, max raters */
      "0100000000000000" /* units */
      "0300000000000000" /* ratings */
      "0200000000000000" /* pair agreements */
      "555555555555D53F" /* unit agreement sum 1/3 */
      "0100000000000000" /* rated units */
      "0200000000000000"
      "0100000000000000" /* category totals */
      "555555555555E53F"
      "555555555555D53F", /* share sums 2/3, 1/3 */
      want, sizeof want);
  check(agreement_fleiss_serialize(&f, got, sizeof got, &len) == 0 && (int)len == n &&
            !memcmp(got, want, len),
        "fleiss version-1 bytes");
  check(agreement_fleiss_deserialize(&f2, want, (size_t)n) == 0 && !memcmp(&f, &f2, sizeof f),
        "fleiss version-1 bytes decode");
}

typedef int (*deserialize_fn)(void *dst, const uint8_t *buf, size_t len);

static int pairs_decode(void *d, const uint8_t *b, size_t n) {
  return agreement_pairs_deserialize(d, b, n);
}
static int coincidence_decode(void *d, const uint8_t *b, size_t n) {
  return agreement_coincidence_deserialize(d, b, n);
}
static int fleiss_decode(void *d, const uint8_t *b, size_t n) {
  return agreement_fleiss_deserialize(d, b, n);
}

/* Every truncation, an extra byte, a wrong kind, an unknown version and a
 * bad K of a valid buffer are refused, and the target is left untouched. */
static void check_malformed(const char *name, deserialize_fn decode, const uint8_t *valid,
                            size_t len, void *target, size_t target_size) {
  static uint8_t buf[4 + 8 * K_MAX * K_MAX + 1];
  static union {
    agreement_pairs_t pairs;
    agreement_coincidence_t coincidence;
    agreement_fleiss_t fleiss;
  } before;
  memcpy(&before, target, target_size);
  int refused = 1;
  for (size_t cut = 0; cut < len; cut++) refused &= decode(target, valid, cut) < 0;
  check(refused, "%s: a truncated buffer is refused", name);
  memcpy(buf, valid, len);
  buf[len] = 0;
  check(decode(target, buf, len + 1) == TALLY_E_INVALID_ARGUMENT, "%s: trailing byte", name);
  buf[0] = 'X';
  check(decode(target, buf, len) == TALLY_E_INVALID_ARGUMENT, "%s: wrong kind", name);
  buf[0] = valid[0];
  buf[1] = AGREEMENT_FORMAT_VERSION + 1;
  check(decode(target, buf, len) == TALLY_E_UNSUPPORTED_VERSION, "%s: unknown version", name);
  buf[1] = valid[1];
  buf[2] = 0;
  buf[3] = 0;
  check(decode(target, buf, len) == TALLY_E_INVALID_ARGUMENT, "%s: K = 0", name);
  buf[2] = (uint8_t)(K_MAX + 1);
  check(decode(target, buf, len) == TALLY_E_INVALID_ARGUMENT, "%s: K too big", name);
  buf[2] = (uint8_t)(valid[2] + 1);
  check(decode(target, buf, len) == TALLY_E_INVALID_ARGUMENT, "%s: K disagrees with length", name);
  check(!memcmp(&before, target, target_size), "%s: refused input leaves the target untouched",
        name);
}

/* Decodes a corrupted buffer of kind 0 pairs, 1 coincidence, 2 fleiss: true
 * when it is refused, or decodes and its coefficients come back defined or
 * undefined. */
static int corrupted_is_clean(int kind, const uint8_t *buf, size_t len) {
  static agreement_pairs_t p;
  static agreement_coincidence_t c;
  static agreement_fleiss_t f;
  double v;
  int rc[2] = {0, 0};
  switch (kind) {
    case 0:
      if (agreement_pairs_deserialize(&p, buf, len) < 0) return 1;
      rc[0] = agreement_pairs_cohen_kappa(&p, &v);
      rc[1] = agreement_pairs_alpha_nominal(&p, &v);
      break;
    case 1:
      if (agreement_coincidence_deserialize(&c, buf, len) < 0) return 1;
      rc[0] = agreement_coincidence_alpha_ordinal(&c, &v);
      rc[1] = agreement_coincidence_alpha_interval(&c, NULL, &v);
      break;
    default:
      if (agreement_fleiss_deserialize(&f, buf, len) < 0) return 1;
      rc[0] = agreement_fleiss_kappa(&f, &v);
      rc[1] = agreement_fleiss_gwet_ac1(&f, &v);
  }
  return (rc[0] == 0 || rc[0] == AGREEMENT_UNDEFINED) &&
         (rc[1] == 0 || rc[1] == AGREEMENT_UNDEFINED);
}

static void test_malformed_bytes(void) {
  static agreement_pairs_t p;
  static agreement_coincidence_t c;
  static agreement_fleiss_t f;
  static uint8_t valid[3][4 + 8 * K_MAX * K_MAX];
  size_t len[3];
  agreement_pairs_init(&p, 3);
  agreement_pairs_add(&p, 0, 2, 9);
  agreement_coincidence_init(&c, 3);
  agreement_coincidence_add_unit(&c, (uint32_t[]){0, 2, 2}, 3);
  agreement_fleiss_init(&f, 3);
  agreement_fleiss_add_unit(&f, (uint32_t[]){0, 2, 2}, 3);
  agreement_pairs_serialize(&p, valid[0], sizeof valid[0], &len[0]);
  agreement_coincidence_serialize(&c, valid[1], sizeof valid[1], &len[1]);
  agreement_fleiss_serialize(&f, valid[2], sizeof valid[2], &len[2]);
  check_malformed("pairs", pairs_decode, valid[0], len[0], &p, sizeof p);
  check_malformed("coincidence", coincidence_decode, valid[1], len[1], &c, sizeof c);
  check_malformed("fleiss", fleiss_decode, valid[2], len[2], &f, sizeof f);

  /* Coincidence cells must be finite, non-negative and symmetric. */
  static uint8_t buf[4 + 8 * K_MAX * K_MAX];
  static const char *bad_cells[] = {"000000000000F8FF" /* NaN */, "000000000000F0FF" /* -inf */,
                                    "000000000000F0BF" /* -1 */, "0000000000000040" /* 2, asym */};
  for (size_t i = 0; i < sizeof bad_cells / sizeof *bad_cells; i++) {
    memcpy(buf, valid[1], len[1]);
    hex_to_bytes(bad_cells[i], buf + 4 + 8, 8); /* cell [0][1] */
    check(agreement_coincidence_deserialize(&c, buf, len[1]) == TALLY_E_INVALID_ARGUMENT,
          "coincidence bad cell %s refused", bad_cells[i]);
  }

  /* Fleiss sums must be consistent: each case breaks one invariant of the
   * valid sums (one unit {0,2,2}), is serialized as is and must be refused. */
  static const char *broken[] = {
      "min raters above max",
      "min raters below 2",
      "raters but no units",
      "ratings without units",
      "ratings disagree with totals",
      "ratings below units x min raters",
      "ratings above units x max raters",
      "P sum NaN",
      "fewer rated units than units",
      "negative share sum",
  };
  agreement_fleiss_t good = f;
  for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
    agreement_fleiss_t bad = good;
    switch (i) {
      case 0:
        bad.min_raters = 4;
        break;
      case 1:
        bad.min_raters = 1;
        break;
      case 2:
        bad.units = 0;
        break;
      case 3:
        bad = (agreement_fleiss_t){.k = 3, .ratings = 1, .category_totals = {1}};
        break;
      case 4:
        bad.ratings = 4;
        break;
      case 5:
        bad.ratings = 2, bad.category_totals[0] = 0;
        break;
      case 6:
        bad.ratings = 4, bad.category_totals[0] = 2;
        break;
      case 7:
        bad.unit_agreement_sum = NAN;
        break;
      case 8:
        bad.rated_units = 0;
        break;
      default:
        bad.category_share_sums[1] = -1.0;
    }
    size_t n;
    check(agreement_fleiss_serialize(&bad, buf, sizeof buf, &n) == 0 &&
              agreement_fleiss_deserialize(&f, buf, n) == TALLY_E_INVALID_ARGUMENT,
          "fleiss %s refused", broken[i]);
  }

  /* Random garbage of random lengths is refused; random single-byte
   * corruptions of valid buffers decode or are refused, never crash, and
   * what decodes still yields coefficients or a clean status. */
  int garbage_refused = 1, corrupt_ok = 1;
  for (int i = 0; i < 20000; i++) {
    size_t n = rng_below(700);
    for (size_t j = 0; j < n; j++) buf[j] = (uint8_t)rng_next();
    garbage_refused &= agreement_pairs_deserialize(&p, buf, n) < 0;
    garbage_refused &= agreement_coincidence_deserialize(&c, buf, n) < 0;
    garbage_refused &= agreement_fleiss_deserialize(&f, buf, n) < 0;
  }
  for (int i = 0; i < 20000; i++) {
    int kind = (int)rng_below(3);
    memcpy(buf, valid[kind], len[kind]);
    buf[rng_below((uint32_t)len[kind])] ^= (uint8_t)(1u << rng_below(8));
    corrupt_ok &= corrupted_is_clean(kind, buf, len[kind]);
  }
  check(garbage_refused, "random garbage is refused");
  check(corrupt_ok, "corrupted buffers decode cleanly or are refused");
}

/* ---- Main ------------------------------------------------------------------ */

static char *read_file(const char *path) {
  FILE *file = fopen(path, "rb");
  if (!file) return NULL;
  char *text = NULL;
  long size;
  if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0 &&
      (text = malloc((size_t)size + 1)) != NULL) {
    if (fread(text, 1, (size_t)size, file) != (size_t)size) {
      free(text);
      text = NULL;
    } else {
      text[size] = '\0';
    }
  }
  fclose(file);
  return text;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <agreement-vectors.json>\n", argv[0]);
    return 2;
  }
  check_deadline(50, NULL);
  vectors_text = read_file(argv[1]);
  json_error_t error;
  json_t *root = vectors_text ? json_loads(vectors_text, 0, &error) : NULL;
  check(root != NULL, "cannot read vectors %s: %s", argv[1],
        vectors_text ? error.text : "unreadable file");
  if (root) test_vectors(root);
  test_undefined_and_hand_computed();
  test_pairs_alpha_equals_coincidence();
  test_invalid_arguments();
  test_random_merge();
  test_golden_bytes();
  test_malformed_bytes();
  json_decref(root);
  free(vectors_text);
  return check_summary();
}
