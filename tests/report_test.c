/* report_test: the report engine (common/report.c) on published vectors,
 * split and shuffled rows, undefined cases, grouping keys, Wilson intervals
 * and malformed rows.
 *
 * Usage: report_test <agreement-vectors.json>
 *
 * Rows are built the way workers build them: agreement_* accumulators
 * serialized into tally.StatsRow byte fields. Prints one line per failed
 * check and "N passed, M failed" last (tests/check.h).
 */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agreement.h"
#include "check.h"
#include "handling.h"
#include "tally_error.h"

#define MAX_K 8
#define SPLIT_ROUNDS 40

static json_t *vectors;

static void check_msg(int ok, const char *fmt, ...) {
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

/* ---------------------------------------------------------------- random */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Uniform in [0, n) (n > 0). */
static uint64_t rng_below(uint64_t n) { return rng_next() % n; }

/* ---------------------------------------------------------------- rows */

/* A StatsRow owned by the test (every pointer malloc'ed): free with
 * row_free. */
static Tally__StatsRow *row_new(const char *market, uint32_t day, const char *labeler) {
  Tally__StatsRow *row = malloc(sizeof *row);
  if (row == NULL) abort();
  tally__stats_row__init(row);
  row->market = strdup(market);
  row->labeler = strdup(labeler);
  row->day = day;
  row->policy_version = 1;
  return row;
}

static void row_free(Tally__StatsRow *row) {
  if (row == NULL) return;
  free(row->market);
  free(row->labeler);
  free(row->pairs.data);
  free(row->policy_unclear_pairs.data);
  free(row->final_pairs.data);
  free(row->auditor_final_pairs.data);
  free(row->coincidence.data);
  free(row->fleiss.data);
  free(row->handling_histogram);
  free(row);
}

static void bytes_set(ProtobufCBinaryData *bytes, const uint8_t *data, size_t len) {
  free(bytes->data);
  bytes->data = malloc(len ? len : 1);
  if (bytes->data == NULL) abort();
  memcpy(bytes->data, data, len);
  bytes->len = len;
}

static void row_set_pairs(ProtobufCBinaryData *bytes, const agreement_pairs_t *p) {
  static uint8_t buf[70000];
  size_t len = 0;
  if (agreement_pairs_serialize(p, buf, sizeof buf, &len) != 0) abort();
  bytes_set(bytes, buf, len);
}

static void row_set_units(Tally__StatsRow *row, const agreement_coincidence_t *c,
                          const agreement_fleiss_t *f) {
  static uint8_t buf[70000];
  size_t len = 0;
  if (agreement_coincidence_serialize(c, buf, sizeof buf, &len) != 0) abort();
  bytes_set(&row->coincidence, buf, len);
  if (agreement_fleiss_serialize(f, buf, sizeof buf, &len) != 0) abort();
  bytes_set(&row->fleiss, buf, len);
}

static void row_set_histogram(Tally__StatsRow *row, const uint64_t *histogram, size_t n) {
  free(row->handling_histogram);
  row->handling_histogram = malloc((n ? n : 1) * sizeof *row->handling_histogram);
  if (row->handling_histogram == NULL) abort();
  memcpy(row->handling_histogram, histogram, n * sizeof *histogram);
  row->n_handling_histogram = n;
}

/* Sets audits, audit_agreed and the pairs bytes of `row` from p. */
static void row_set_audits(Tally__StatsRow *row, const agreement_pairs_t *p) {
  row->audits = row->audit_agreed = 0;
  for (uint32_t a = 0; a < p->k; a++)
    for (uint32_t b = 0; b < p->k; b++) {
      row->audits += p->counts[a][b];
      if (a == b) row->audit_agreed += p->counts[a][b];
    }
  row_set_pairs(&row->pairs, p);
}

/* ---------------------------------------------------------------- projects */

static char *label_names[MAX_K] = {"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7"};

static Tally__Project project_of(uint32_t k, int ordinal) {
  Tally__Project p = TALLY__PROJECT__INIT;
  p.name = "proj";
  p.n_labels = k;
  p.labels = label_names;
  p.ordinal = ordinal;
  return p;
}

/* A report over `rows`, built; NULL on failure (counted). */
static Tally__ReportReply *run_report(uint32_t k, int ordinal, const char *by,
                                      Tally__StatsRow *const *rows, size_t n) {
  Tally__Project project = project_of(k, ordinal);
  report_query_t query = {by, NULL, 0, 0};
  report_t *r = NULL;
  CHECK(report_new(&r, &project, &query) == 0);
  if (r == NULL) return NULL;
  for (size_t i = 0; i < n; i++) check_msg(report_add_row(r, rows[i]) == 1, "row %zu added", i);
  Tally__ReportReply *reply = NULL;
  CHECK(report_build(r, &reply) == 0);
  report_destroy(&r);
  CHECK(r == NULL);
  return reply;
}

/* ---------------------------------------------------------------- tolerances */

/* Half a unit in the last decimal of a published figure (0.43 -> 0.005),
 * at least 1e-6. */
static double tolerance_of(double expected) {
  for (int d = 0; d <= 6; d++) {
    double scale = pow(10.0, d);
    if (fabs(round(expected * scale) / scale - expected) < 1e-12)
      return d >= 6 ? 1e-6 : 0.5 / scale;
  }
  return 1e-6;
}

static void check_coefficient(const Tally__ReportRow *row, const char *name, const json_t *want,
                              const char *what) {
  const Tally__Coefficient *c = report_row_coefficient(row, name);
  if (c == NULL) {
    check_msg(0, "%s: no coefficient %s", what, name);
    return;
  }
  if (json_is_null(want)) {
    check_msg(!c->defined && c->value == 0.0, "%s %s: expected undefined, got %d %.9f", what,
              name, c->defined, c->value);
    return;
  }
  double expected = json_number_value(want);
  check_msg(c->defined && fabs(c->value - expected) <= tolerance_of(expected),
            "%s %s: got %d %.9f expected %.9f", what, name, c->defined, c->value, expected);
}

/* ---------------------------------------------------------------- vectors */

static int pairs_from_json(const json_t *matrix, agreement_pairs_t *p) {
  if (agreement_pairs_init(p, (uint32_t)json_array_size(matrix)) < 0) return -1;
  size_t a, b;
  const json_t *line, *cell;
  json_array_foreach(matrix, a, line) {
    json_array_foreach(line, b, cell) {
      if (agreement_pairs_add(p, (uint32_t)a, (uint32_t)b, (uint64_t)json_integer_value(cell)) < 0)
        return -1;
    }
  }
  return 0;
}

static const char *report_name_of(const char *vector_key) {
  if (!strcmp(vector_key, "kappa")) return REPORT_COHEN_KAPPA;
  if (!strcmp(vector_key, "kappa_linear")) return REPORT_COHEN_KAPPA_LINEAR;
  if (!strcmp(vector_key, "kappa_quadratic")) return REPORT_COHEN_KAPPA_QUADRATIC;
  if (!strcmp(vector_key, "scott_pi")) return REPORT_SCOTT_PI;
  if (!strcmp(vector_key, "gwet_ac1")) return REPORT_GWET_AC1;
  if (!strcmp(vector_key, "percent_agreement")) return REPORT_PERCENT_AGREEMENT;
  if (!strcmp(vector_key, "alpha_nominal")) return REPORT_ALPHA_NOMINAL;
  return NULL;
}

/* One row per matrix (ordinal project): every published coefficient. */
static void check_pairs_vector(const char *what, const json_t *entry) {
  agreement_pairs_t *p = malloc(sizeof *p);
  if (p == NULL || pairs_from_json(json_object_get(entry, "matrix"), p) < 0) {
    check_msg(0, "%s: unreadable matrix", what);
    free(p);
    return;
  }
  Tally__StatsRow *row = row_new("es", 20000, "ana");
  row_set_audits(row, p);
  Tally__ReportReply *reply = run_report(p->k, 1, "", &row, 1);
  if (reply != NULL && reply->n_rows == 1) {
    const char *key;
    const json_t *want;
    json_object_foreach((json_t *)entry, key, want) {
      if (!strcmp(key, "matrix")) continue;
      const char *name = report_name_of(key);
      check_msg(name != NULL, "%s: vector key %s not checked", what, key);
      if (name == NULL) continue;
      check_coefficient(reply->rows[0], name, want, what);
      check_coefficient(reply->total, name, want, what);
    }
    CHECK_EQ_U64(reply->n_confusion, (uint64_t)p->k * p->k);
    for (uint32_t a = 0; a < p->k && reply->n_confusion == (size_t)p->k * p->k; a++)
      for (uint32_t b = 0; b < p->k; b++)
        CHECK_EQ_U64(reply->confusion[a * p->k + b], p->counts[a][b]);
  } else {
    CHECK(0);
  }
  report_reply_free(&reply);
  CHECK(reply == NULL);
  row_free(row);
  free(p);
}

/* Units of an items-by-raters matrix (coders x units, null = missing). */
typedef struct {
  uint32_t k;
  size_t count;
  size_t raters[64];
  uint32_t values[64][16];
} units_t;

static int units_from_coders(const json_t *coders, units_t *u) {
  memset(u, 0, sizeof *u);
  size_t coder, unit;
  const json_t *line, *cell;
  json_array_foreach(coders, coder, line) {
    json_array_foreach(line, unit, cell) {
      if (unit >= 64 || coder >= 16) return -1;
      if (unit + 1 > u->count) u->count = unit + 1;
      if (json_is_null(cell)) continue;
      json_int_t v = json_integer_value(cell);
      u->values[unit][u->raters[unit]++] = (uint32_t)(v - 1);
      if ((uint32_t)v > u->k) u->k = (uint32_t)v;
    }
  }
  return 0;
}

/* Item-level rows: the units dealt at random to `parts` rows (labeler "")
 * over two markets and days. Returns the number of rows written. */
static size_t rows_from_units(const units_t *u, size_t parts, Tally__StatsRow **rows) {
  agreement_coincidence_t *c = calloc(parts, sizeof *c);
  agreement_fleiss_t *f = calloc(parts, sizeof *f);
  if (c == NULL || f == NULL) abort();
  for (size_t i = 0; i < parts; i++) {
    agreement_coincidence_init(&c[i], u->k);
    agreement_fleiss_init(&f[i], u->k);
  }
  for (size_t unit = 0; unit < u->count; unit++) {
    size_t i = (size_t)rng_below(parts);
    agreement_coincidence_add_unit(&c[i], u->values[unit], u->raters[unit]);
    agreement_fleiss_add_unit(&f[i], u->values[unit], u->raters[unit]);
  }
  for (size_t i = 0; i < parts; i++) {
    rows[i] = row_new(i % 2 ? "jp" : "es", 20000 + (uint32_t)(i % 3), "");
    row_set_units(rows[i], &c[i], &f[i]);
  }
  free(c);
  free(f);
  return parts;
}

static void check_reliability_vector(void) {
  const json_t *entry = json_object_get(vectors, "krippendorff_4x12");
  static units_t u;
  CHECK(entry != NULL && units_from_coders(json_object_get(entry, "coders_by_units"), &u) == 0);
  static const char *keys[][2] = {
      {"alpha_nominal", REPORT_OVERLAP_ALPHA_NOMINAL},
      {"alpha_ordinal", REPORT_OVERLAP_ALPHA_ORDINAL},
      {"alpha_interval", REPORT_OVERLAP_ALPHA_INTERVAL},
      {"gwet_ac1", REPORT_OVERLAP_GWET_AC1},
  };
  for (size_t parts = 1; parts <= 6; parts++) {
    Tally__StatsRow *rows[8];
    size_t n = rows_from_units(&u, parts, rows);
    Tally__ReportReply *reply = run_report(u.k, 1, "", rows, n);
    char what[64];
    snprintf(what, sizeof what, "krippendorff_4x12 in %zu parts", parts);
    for (size_t i = 0; reply && i < sizeof keys / sizeof keys[0]; i++)
      check_coefficient(reply->rows[0], keys[i][1], json_object_get(entry, keys[i][0]), what);
    /* Labeler and category rows carry no item-level coefficients; the total does. */
    Tally__ReportReply *by_labeler = run_report(u.k, 1, "labeler", rows, n);
    CHECK(by_labeler && by_labeler->n_rows == 0);
    for (size_t i = 0; by_labeler && i < sizeof keys / sizeof keys[0]; i++)
      check_coefficient(by_labeler->total, keys[i][1], json_object_get(entry, keys[i][0]), what);
    report_reply_free(&reply);
    report_reply_free(&by_labeler);
    for (size_t i = 0; i < n; i++) row_free(rows[i]);
  }
}

static void check_fleiss_vector(void) {
  const json_t *entry = json_object_get(vectors, "fleiss_wikipedia_10x14");
  const json_t *subjects = json_object_get(entry, "subjects_by_category_counts");
  uint32_t k = (uint32_t)json_array_size(json_array_get(subjects, 0));
  agreement_fleiss_t f[2];
  agreement_coincidence_t *c = calloc(2, sizeof *c);
  if (c == NULL) abort();
  for (int i = 0; i < 2; i++) {
    agreement_fleiss_init(&f[i], k);
    agreement_coincidence_init(&c[i], k);
  }
  size_t s, j;
  const json_t *counts, *count;
  json_array_foreach(subjects, s, counts) {
    uint32_t values[256];
    size_t m = 0;
    json_array_foreach(counts, j, count) {
      for (json_int_t n = 0; n < json_integer_value(count) && m < 256; n++) values[m++] = (uint32_t)j;
    }
    agreement_fleiss_add_unit(&f[s % 2], values, m);
    agreement_coincidence_add_unit(&c[s % 2], values, m);
  }
  Tally__StatsRow *rows[2];
  for (int i = 0; i < 2; i++) {
    rows[i] = row_new("es", 20000, "");
    row_set_units(rows[i], &c[i], &f[i]);
  }
  Tally__ReportReply *reply = run_report(k, 0, "market", rows, 2);
  CHECK(reply && reply->n_rows == 1 && strcmp(reply->rows[0]->key, "es") == 0);
  if (reply && reply->n_rows == 1)
    check_coefficient(reply->rows[0], REPORT_OVERLAP_FLEISS_KAPPA,
                      json_object_get(entry, "fleiss_kappa"), "fleiss_wikipedia");
  /* Not ordinal: no ordinal or interval alpha. */
  CHECK(reply && report_row_coefficient(reply->total, REPORT_OVERLAP_ALPHA_ORDINAL) == NULL &&
        report_row_coefficient(reply->total, REPORT_OVERLAP_ALPHA_INTERVAL) == NULL &&
        report_row_coefficient(reply->total, REPORT_COHEN_KAPPA_LINEAR) == NULL);
  report_reply_free(&reply);
  for (int i = 0; i < 2; i++) row_free(rows[i]);
  free(c);
}

static void check_wilson_vectors(void) {
  size_t i;
  const json_t *entry;
  json_array_foreach(json_object_get(vectors, "wilson_95"), i, entry) {
    Tally__StatsRow *row = row_new("es", 1, "ana");
    row->audits = (uint64_t)json_integer_value(json_object_get(entry, "n"));
    row->audit_agreed = (uint64_t)json_integer_value(json_object_get(entry, "correct"));
    Tally__ReportReply *reply = run_report(2, 0, "labeler", &row, 1);
    const Tally__ReportRow *r = reply && reply->n_rows == 1 ? reply->rows[0] : NULL;
    double low = json_number_value(json_object_get(entry, "low"));
    double high = json_number_value(json_object_get(entry, "high"));
    check_msg(r && r->accuracy_defined && fabs(r->wilson_low - low) <= 1e-6 &&
                  fabs(r->wilson_high - high) <= 1e-6 &&
                  r->accuracy == (double)row->audit_agreed / (double)row->audits,
              "wilson %zu: got %.6f..%.6f expected %.6f..%.6f", i, r ? r->wilson_low : NAN,
              r ? r->wilson_high : NAN, low, high);
    report_reply_free(&reply);
    row_free(row);
  }
}

static void check_undefined_vectors(void) {
  const json_t *cases = json_object_get(vectors, "undefined_cases");
  const char *name;
  const json_t *entry;
  json_object_foreach((json_t *)cases, name, entry) check_pairs_vector(name, entry);

  /* Nothing at all: every coefficient undefined, accuracy undefined. */
  Tally__ReportReply *reply = run_report(3, 1, "", NULL, 0);
  CHECK(reply && reply->n_rows == 1 && reply->total);
  for (size_t i = 0; reply && i < reply->total->n_coefficients; i++)
    check_msg(!reply->total->coefficients[i]->defined && reply->total->coefficients[i]->value == 0,
              "empty report: %s defined", reply->total->coefficients[i]->name);
  CHECK(reply && !reply->total->accuracy_defined && reply->total->accuracy == 0 &&
        reply->total->handling_p50_ms == 0 && reply->total->handling_p90_ms == 0);
  CHECK(reply && reply->n_confusion == 9 && reply->n_policy_unclear == 9);
  report_reply_free(&reply);
}

/* ---------------------------------------------------------------- names and order */

static void check_coefficient_order(void) {
  static const char *ordinal_all[] = {
      REPORT_PERCENT_AGREEMENT, REPORT_COHEN_KAPPA, REPORT_COHEN_KAPPA_LINEAR,
      REPORT_COHEN_KAPPA_QUADRATIC, REPORT_SCOTT_PI, REPORT_GWET_AC1, REPORT_ALPHA_NOMINAL,
      REPORT_OVERLAP_PERCENT_AGREEMENT, REPORT_OVERLAP_ALPHA_NOMINAL,
      REPORT_OVERLAP_ALPHA_ORDINAL, REPORT_OVERLAP_ALPHA_INTERVAL, REPORT_OVERLAP_FLEISS_KAPPA,
      REPORT_OVERLAP_GWET_AC1};
  static const char *nominal_labeler[] = {REPORT_PERCENT_AGREEMENT, REPORT_COHEN_KAPPA,
                                          REPORT_SCOTT_PI, REPORT_GWET_AC1, REPORT_ALPHA_NOMINAL};
  static const char *nominal_all[] = {
      REPORT_PERCENT_AGREEMENT,         REPORT_COHEN_KAPPA,           REPORT_SCOTT_PI,
      REPORT_GWET_AC1,                  REPORT_ALPHA_NOMINAL,         REPORT_OVERLAP_PERCENT_AGREEMENT,
      REPORT_OVERLAP_ALPHA_NOMINAL,     REPORT_OVERLAP_FLEISS_KAPPA,  REPORT_OVERLAP_GWET_AC1};
  CHECK(strcmp(REPORT_COHEN_KAPPA, "cohen_kappa") == 0 &&
        strcmp(REPORT_OVERLAP_GWET_AC1, "overlap_gwet_ac1") == 0);
  Tally__StatsRow *row = row_new("es", 5, "ana");
  struct {
    int ordinal;
    const char *by;
    int total;
    const char **names;
    size_t n;
  } cases[] = {
      {1, "", 0, ordinal_all, 13},           {1, "day", 0, ordinal_all, 13},
      {0, "market", 0, nominal_all, 9},      {0, "labeler", 0, nominal_labeler, 5},
      {1, "category", 0, nominal_labeler, 5}, {0, "category", 1, nominal_all, 9},
      {1, "labeler", 1, ordinal_all, 13},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Tally__ReportReply *reply = run_report(3, cases[i].ordinal, cases[i].by, &row, 1);
    const Tally__ReportRow *r =
        reply == NULL ? NULL : cases[i].total ? reply->total : reply->n_rows ? reply->rows[0] : NULL;
    check_msg(r && r->n_coefficients == cases[i].n, "case %zu: %zu coefficients", i,
              r ? r->n_coefficients : 0);
    for (size_t j = 0; r && j < r->n_coefficients && j < cases[i].n; j++)
      check_msg(strcmp(r->coefficients[j]->name, cases[i].names[j]) == 0,
                "case %zu coefficient %zu is %s, expected %s", i, j, r->coefficients[j]->name,
                cases[i].names[j]);
    report_reply_free(&reply);
  }
  row_free(row);
}

/* ---------------------------------------------------------------- split and shuffle */

/* The statistics of one (market, day, labeler), as one worker would keep
 * them if it had seen everything. */
typedef struct {
  const char *market, *labeler;
  uint32_t day;
  uint64_t labels, gold_total, gold_hits, adjudications, attributed[4];
  uint64_t handling[HANDLING_BUCKETS];
  agreement_pairs_t pairs, unclear;
  units_t units; /* labeler "" only */
} truth_t;

#define TRUTHS 12

static truth_t truths[TRUTHS];

static void make_truths(uint32_t k) {
  static const char *markets[] = {"es", "jp", "kr"};
  static const char *labelers[] = {"ana", "bo", "chen", ""};
  for (size_t i = 0; i < TRUTHS; i++) {
    truth_t *t = &truths[i];
    memset(t, 0, sizeof *t);
    t->market = markets[i % 3];
    t->labeler = labelers[i % 4];
    t->day = 19000 + (uint32_t)(i % 5);
    agreement_pairs_init(&t->pairs, k);
    agreement_pairs_init(&t->unclear, k);
    if (t->labeler[0] == '\0') {
      t->units.k = k;
      t->units.count = 20 + rng_below(40);
      for (size_t u = 0; u < t->units.count; u++) {
        t->units.raters[u] = 1 + rng_below(4);
        uint32_t base = (uint32_t)rng_below(k);
        for (size_t m = 0; m < t->units.raters[u]; m++)
          t->units.values[u][m] = rng_below(3) ? base : (uint32_t)rng_below(k);
      }
      continue;
    }
    for (uint32_t a = 0; a < k; a++)
      for (uint32_t b = 0; b < k; b++) {
        t->pairs.counts[a][b] = a == b ? 5 + rng_below(40) : rng_below(8);
        t->unclear.counts[a][b] = a == b ? 0 : rng_below(2);
      }
    t->labels = 200 + rng_below(100);
    t->gold_total = 10 + rng_below(20);
    t->gold_hits = rng_below(t->gold_total + 1);
    for (int j = 0; j < 4; j++) t->attributed[j] = rng_below(5);
    t->adjudications = t->attributed[0] + t->attributed[1] + t->attributed[2] + t->attributed[3];
    for (size_t j = 0; j < HANDLING_BUCKETS; j++) t->handling[j] = rng_below(30);
  }
}

/* A random split of n into `parts` non-negative pieces. */
static void split_count(uint64_t n, size_t parts, uint64_t *pieces) {
  for (size_t i = 0; i < parts; i++) pieces[i] = 0;
  for (uint64_t left = n; left > 0;) {
    uint64_t take = 1 + rng_below(left < 7 ? left : 7);
    pieces[rng_below(parts)] += take;
    left -= take;
  }
}

#define MAX_PARTS 6

/* Rows for truth t split into `parts` pieces (as if kept by several
 * workers or slots), appended to rows[*n]. */
static void split_truth(const truth_t *t, size_t parts, Tally__StatsRow **rows, size_t *n) {
  Tally__StatsRow *out[MAX_PARTS];
  uint64_t pieces[MAX_PARTS];
  if (t->labeler[0] == '\0') {
    rows_from_units(&t->units, parts, out);
    for (size_t i = 0; i < parts; i++) {
      free(out[i]->market);
      out[i]->market = strdup(t->market);
      out[i]->day = t->day;
    }
  } else {
    for (size_t i = 0; i < parts; i++) out[i] = row_new(t->market, t->day, t->labeler);
    agreement_pairs_t *p = malloc(parts * sizeof *p), *q = malloc(parts * sizeof *q);
    if (p == NULL || q == NULL) abort();
    for (size_t i = 0; i < parts; i++) {
      agreement_pairs_init(&p[i], t->pairs.k);
      agreement_pairs_init(&q[i], t->pairs.k);
    }
    for (uint32_t a = 0; a < t->pairs.k; a++)
      for (uint32_t b = 0; b < t->pairs.k; b++) {
        split_count(t->pairs.counts[a][b], parts, pieces);
        for (size_t i = 0; i < parts; i++) p[i].counts[a][b] = pieces[i];
        split_count(t->unclear.counts[a][b], parts, pieces);
        for (size_t i = 0; i < parts; i++) q[i].counts[a][b] = pieces[i];
      }
    for (size_t i = 0; i < parts; i++) {
      row_set_audits(out[i], &p[i]);
      row_set_pairs(&out[i]->policy_unclear_pairs, &q[i]);
    }
    free(p);
    free(q);
#define SPLIT_FIELD(value, field)                                 \
  split_count(value, parts, pieces);                              \
  for (size_t i = 0; i < parts; i++) out[i]->field = pieces[i];
    SPLIT_FIELD(t->labels, labels)
    SPLIT_FIELD(t->gold_hits, gold_hits)
    SPLIT_FIELD(t->gold_total - t->gold_hits, gold_total)
    for (size_t i = 0; i < parts; i++) out[i]->gold_total += out[i]->gold_hits;
    SPLIT_FIELD(t->attributed[0], attributed_labeler)
    SPLIT_FIELD(t->attributed[1], attributed_auditor)
    SPLIT_FIELD(t->attributed[2], attributed_both)
    SPLIT_FIELD(t->attributed[3], attributed_policy)
#undef SPLIT_FIELD
    for (size_t i = 0; i < parts; i++)
      out[i]->adjudications = out[i]->attributed_labeler + out[i]->attributed_auditor +
                              out[i]->attributed_both + out[i]->attributed_policy;
    uint64_t histograms[MAX_PARTS][HANDLING_BUCKETS];
    for (size_t j = 0; j < HANDLING_BUCKETS; j++) {
      split_count(t->handling[j], parts, pieces);
      for (size_t i = 0; i < parts; i++) histograms[i][j] = pieces[i];
    }
    for (size_t i = 0; i < parts; i++) {
      /* Trailing empty buckets may be left out (older or sparse writers). */
      size_t len = HANDLING_BUCKETS;
      while (len > 0 && histograms[i][len - 1] == 0 && rng_below(2)) len--;
      row_set_histogram(out[i], histograms[i], len);
    }
  }
  for (size_t i = 0; i < parts; i++) rows[(*n)++] = out[i];
}

static void shuffle(Tally__StatsRow **rows, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(i);
    Tally__StatsRow *tmp = rows[i - 1];
    rows[i - 1] = rows[j];
    rows[j] = tmp;
  }
}

static int close_enough(double a, double b) { return fabs(a - b) <= 1e-9; }

static void compare_rows(const Tally__ReportRow *a, const Tally__ReportRow *b, const char *what) {
  if (a == NULL || b == NULL) {
    check_msg(0, "%s: missing row", what);
    return;
  }
  int same = strcmp(a->key, b->key) == 0 && a->labels == b->labels && a->audits == b->audits &&
             a->audit_agreed == b->audit_agreed && a->accuracy_defined == b->accuracy_defined &&
             a->accuracy == b->accuracy && a->wilson_low == b->wilson_low &&
             a->wilson_high == b->wilson_high && a->gold_total == b->gold_total &&
             a->gold_hits == b->gold_hits && a->adjudications == b->adjudications &&
             a->attributed_labeler == b->attributed_labeler &&
             a->attributed_auditor == b->attributed_auditor &&
             a->attributed_both == b->attributed_both &&
             a->attributed_policy == b->attributed_policy &&
             a->handling_p50_ms == b->handling_p50_ms && a->handling_p90_ms == b->handling_p90_ms &&
             a->n_coefficients == b->n_coefficients;
  check_msg(same, "%s row %s/%s: counts differ", what, a->key, b->key);
  for (size_t i = 0; same && i < a->n_coefficients; i++) {
    const Tally__Coefficient *x = a->coefficients[i], *y = b->coefficients[i];
    check_msg(strcmp(x->name, y->name) == 0 && x->defined == y->defined &&
                  close_enough(x->value, y->value),
              "%s row %s %s: %d %.17g vs %d %.17g", what, a->key, x->name, x->defined, x->value,
              y->defined, y->value);
  }
}

static void compare_replies(const Tally__ReportReply *a, const Tally__ReportReply *b,
                            const char *what) {
  if (a == NULL || b == NULL) {
    check_msg(0, "%s: missing reply", what);
    return;
  }
  check_msg(a->n_rows == b->n_rows, "%s: %zu rows vs %zu", what, a->n_rows, b->n_rows);
  for (size_t i = 0; i < a->n_rows && i < b->n_rows; i++) compare_rows(a->rows[i], b->rows[i], what);
  compare_rows(a->total, b->total, what);
  int same = a->n_confusion == b->n_confusion && a->n_policy_unclear == b->n_policy_unclear &&
             memcmp(a->confusion, b->confusion, a->n_confusion * sizeof *a->confusion) == 0 &&
             memcmp(a->policy_unclear, b->policy_unclear,
                    a->n_policy_unclear * sizeof *a->policy_unclear) == 0;
  check_msg(same, "%s: matrices differ", what);
}

static void check_split_and_shuffle(void) {
  static const char *groupings[] = {"", "labeler", "market", "day", "category"};
  for (int round = 0; round < SPLIT_ROUNDS; round++) {
    uint32_t k = 2 + (uint32_t)rng_below(MAX_K - 1);
    int ordinal = round % 2;
    make_truths(k);
    Tally__StatsRow *whole[TRUTHS], *split[TRUTHS * MAX_PARTS];
    size_t n_whole = 0, n_split = 0;
    for (size_t i = 0; i < TRUTHS; i++) {
      split_truth(&truths[i], 1, whole, &n_whole);
      split_truth(&truths[i], 1 + rng_below(MAX_PARTS), split, &n_split);
    }
    shuffle(split, n_split);
    for (size_t g = 0; g < sizeof groupings / sizeof *groupings; g++) {
      Tally__ReportReply *a = run_report(k, ordinal, groupings[g], whole, n_whole);
      /* The split rows arrive in random order, from "workers" that each
       * send a random share of them. */
      Tally__ReportReply *b = run_report(k, ordinal, groupings[g], split, n_split);
      char what[64];
      snprintf(what, sizeof what, "round %d by '%s' (K %u)", round, groupings[g], k);
      compare_replies(a, b, what);
      report_reply_free(&a);
      report_reply_free(&b);
    }
    for (size_t i = 0; i < n_whole; i++) row_free(whole[i]);
    for (size_t i = 0; i < n_split; i++) row_free(split[i]);
  }
}

/* ---------------------------------------------------------------- grouping */

static const Tally__ReportRow *row_with_key(const Tally__ReportReply *reply, const char *key) {
  for (size_t i = 0; reply && i < reply->n_rows; i++)
    if (strcmp(reply->rows[i]->key, key) == 0) return reply->rows[i];
  return NULL;
}

static void check_grouping_keys(void) {
  Tally__StatsRow *rows[6];
  rows[0] = row_new("jp", 0, "zoe");
  rows[1] = row_new("es", 11016, "ana");      /* 2000-02-29 */
  rows[2] = row_new("es", 19723, "ana");      /* 2024-01-01 */
  rows[3] = row_new("kr", 20088, "");         /* 2024-12-31, item level */
  rows[4] = row_new("es", 19723, "maria@es"); /* same day as rows[2] */
  rows[5] = row_new("jp", 2932896, "bo");     /* 9999-12-31 */
  for (int i = 0; i < 6; i++) rows[i]->labels = (uint64_t)(i + 1);

  Tally__ReportReply *reply = run_report(2, 0, "day", rows, 6);
  static const char *days[] = {"1970-01-01", "2000-02-29", "2024-01-01", "2024-12-31",
                               "9999-12-31"};
  CHECK(reply && reply->n_rows == 5);
  for (size_t i = 0; reply && i < reply->n_rows && i < 5; i++)
    check_msg(strcmp(reply->rows[i]->key, days[i]) == 0, "day row %zu is %s, expected %s", i,
              reply->rows[i]->key, days[i]);
  const Tally__ReportRow *r = row_with_key(reply, "2024-01-01");
  CHECK(r && r->labels == 3 + 5);
  CHECK(reply && reply->total->labels == 21 && strcmp(reply->total->key, REPORT_KEY_ALL) == 0);
  report_reply_free(&reply);

  reply = run_report(2, 0, "labeler", rows, 6);
  static const char *labelers[] = {"ana", "bo", "maria@es", "zoe"};
  CHECK(reply && reply->n_rows == 4);
  for (size_t i = 0; reply && i < reply->n_rows && i < 4; i++)
    check_msg(strcmp(reply->rows[i]->key, labelers[i]) == 0, "labeler row %zu is %s", i,
              reply->rows[i]->key);
  r = row_with_key(reply, "ana");
  CHECK(r && r->labels == 2 + 3);
  CHECK(reply && reply->total->labels == 21); /* the item-level row counts in the total */
  report_reply_free(&reply);

  reply = run_report(2, 0, "market", rows, 6);
  CHECK(reply && reply->n_rows == 3 && strcmp(reply->rows[0]->key, "es") == 0 &&
        strcmp(reply->rows[1]->key, "jp") == 0 && strcmp(reply->rows[2]->key, "kr") == 0);
  CHECK(reply && reply->n_rows == 3 && reply->rows[0]->labels == 2 + 3 + 5 &&
        reply->rows[1]->labels == 1 + 6 && reply->rows[2]->labels == 4);
  report_reply_free(&reply);

  /* By policy version: keyed by the rows' policy_version, in numeric order
   * ("10" after "2"), item-level rows included. */
  static const uint32_t versions[6] = {1, 2, 10, 2, 1, 10};
  for (int i = 0; i < 6; i++) rows[i]->policy_version = versions[i];
  reply = run_report(2, 0, "version", rows, 6);
  CHECK(reply && reply->n_rows == 3 && strcmp(reply->rows[0]->key, "1") == 0 &&
        strcmp(reply->rows[1]->key, "2") == 0 && strcmp(reply->rows[2]->key, "10") == 0);
  CHECK(reply && reply->n_rows == 3 && reply->rows[0]->labels == 1 + 5 && reply->rows[1]->labels == 2 + 4 &&
        reply->rows[2]->labels == 3 + 6 && reply->total->labels == 21);
  report_reply_free(&reply);

  reply = run_report(2, 0, "", rows, 6);
  CHECK(reply && reply->n_rows == 1 && strcmp(reply->rows[0]->key, "all") == 0 &&
        reply->rows[0]->labels == 21);
  report_reply_free(&reply);
  for (int i = 0; i < 6; i++) row_free(rows[i]);
}

static void check_categories(void) {
  /* labeler label (row) x auditor label (column), K = 3. */
  static const uint64_t m[3][3] = {{50, 5, 0}, {10, 30, 5}, {0, 0, 0}};
  agreement_pairs_t *p = malloc(sizeof *p);
  if (p == NULL) abort();
  agreement_pairs_init(p, 3);
  for (uint32_t a = 0; a < 3; a++)
    for (uint32_t b = 0; b < 3; b++) p->counts[a][b] = m[a][b];
  Tally__StatsRow *row = row_new("es", 1, "ana");
  row_set_audits(row, p);
  row->gold_total = 4;
  /* labeler label (row) x final label (column): of the 55 l0 labels, 52
   * were judged (3 await a verdict or were policy-unclear), 49 right. */
  static const uint64_t f[3][3] = {{49, 3, 0}, {12, 30, 3}, {0, 0, 0}};
  for (uint32_t a = 0; a < 3; a++)
    for (uint32_t b = 0; b < 3; b++) p->counts[a][b] = f[a][b];
  row_set_pairs(&row->final_pairs, p);
  /* An auditor's row: its own accuracy is not kept per labeler label. */
  Tally__StatsRow *auditor = row_new("es", 1, "qa");
  agreement_pairs_init(p, 3);
  p->counts[0][0] = 7;
  row_set_pairs(&auditor->auditor_final_pairs, p);
  Tally__StatsRow *both[2] = {row, auditor};
  Tally__ReportReply *reply = run_report(3, 1, "category", both, 2);
  CHECK(reply && reply->n_rows == 3);
  if (reply && reply->n_rows == 3) {
    const Tally__ReportRow *c0 = reply->rows[0], *c1 = reply->rows[1], *c2 = reply->rows[2];
    CHECK(strcmp(c0->key, "l0") == 0 && strcmp(c1->key, "l1") == 0 && strcmp(c2->key, "l2") == 0);
    /* Every column by the labeler's label (hand-computed from m and f). */
    CHECK(c0->audits == 55 && c0->audit_agreed == 50 && c0->labels == 55 && c0->gold_total == 0);
    CHECK(c1->audits == 45 && c1->audit_agreed == 30 && c1->labels == 45);
    CHECK(c2->audits == 0 && c2->audit_agreed == 0 && c2->labels == 0 && !c2->accuracy_defined);
    CHECK(c0->accuracy_defined && fabs(c0->accuracy - 50.0 / 55.0) < 1e-12);
    CHECK(c1->accuracy_defined && fabs(c1->accuracy - 30.0 / 45.0) < 1e-12);
    CHECK(c0->labeler_final && c0->labeler_final->judged == 52 && c0->labeler_final->correct == 49 &&
          c0->labeler_final->defined && fabs(c0->labeler_final->value - 49.0 / 52.0) < 1e-12);
    CHECK(c1->labeler_final && c1->labeler_final->judged == 45 && c1->labeler_final->correct == 30);
    CHECK(c2->labeler_final && c2->labeler_final->judged == 0 && !c2->labeler_final->defined);
    CHECK(c0->auditor_final && !c0->auditor_final->defined && c0->auditor_final->judged == 0);
    /* The total still has everything, the auditor's judgments too. */
    CHECK(reply->total->labeler_final && reply->total->labeler_final->judged == 97 &&
          reply->total->labeler_final->correct == 79);
    CHECK(reply->total->auditor_final && reply->total->auditor_final->judged == 7 &&
          reply->total->auditor_final->correct == 7);
    /* One-vs-rest for l0: [[50, 5], [10, 35]]: po = .85, pe = .55*.6 + .45*.4 = .51. */
    const Tally__Coefficient *kappa = report_row_coefficient(c0, REPORT_COHEN_KAPPA);
    CHECK(kappa && kappa->defined && fabs(kappa->value - (0.85 - 0.51) / (1 - 0.51)) < 1e-12);
    /* l2: never chosen by a labeler: kappa = (0.95 - 0.95) / (1 - 0.95) = 0. */
    kappa = report_row_coefficient(c2, REPORT_COHEN_KAPPA);
    CHECK(kappa && kappa->defined && fabs(kappa->value) < 1e-12);
    CHECK(reply->total->audits == 100 && reply->total->gold_total == 4);
  }
  report_reply_free(&reply);
  row_free(auditor);
  /* No audits at all: categories present, everything undefined. */
  reply = run_report(3, 0, "category", NULL, 0);
  CHECK(reply && reply->n_rows == 3 && !reply->rows[1]->accuracy_defined &&
        !report_row_coefficient(reply->rows[1], REPORT_COHEN_KAPPA)->defined);
  report_reply_free(&reply);
  row_free(row);
  free(p);
}

/* ---------------------------------------------------------------- accuracy */

/* Uniform in [0, 1). */
static double rng_unit(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

#define COVERAGE_PEOPLE 2000
#define COVERAGE_K 4

/* Reference check of accuracy against the final label: generated people
 * with known true accuracies p (0.5 .. 0.99) are judged n times (10 ..
 * 200), each judgment right with probability p; their final_pairs (as
 * labelers) or auditor_final_pairs (as auditors) are split over two rows,
 * as two workers would send them. The report's 95% Wilson intervals must
 * cover the true accuracies of about 95% of the people: with 2000 people
 * the coverage's standard error is 0.5 point, so [93%, 97%] passes every
 * correct implementation (Wilson's actual coverage over this range is
 * close to 95%) and fails a 90% interval, a Wald interval near p = 1, or
 * agreement with the auditor in place of the final label. Fixed seed. */
static void check_final_coverage(int as_auditor) {
  rng_state = as_auditor ? 0x5DEECE66Dull : 0x2545F4914F6CDD1Dull;
  static char names[COVERAGE_PEOPLE][16];
  static double truth[COVERAGE_PEOPLE];
  static uint64_t judged[COVERAGE_PEOPLE], correct[COVERAGE_PEOPLE];
  Tally__StatsRow **rows = calloc(2 * COVERAGE_PEOPLE, sizeof *rows);
  agreement_pairs_t *half = malloc(2 * sizeof *half);
  if (rows == NULL || half == NULL) abort();
  for (int i = 0; i < COVERAGE_PEOPLE; i++) {
    snprintf(names[i], sizeof names[i], "p%04d", i);
    truth[i] = 0.5 + 0.49 * rng_unit();
    uint64_t n = 10 + rng_below(191);
    agreement_pairs_init(&half[0], COVERAGE_K);
    agreement_pairs_init(&half[1], COVERAGE_K);
    judged[i] = n;
    correct[i] = 0;
    for (uint64_t j = 0; j < n; j++) {
      uint32_t final = (uint32_t)rng_below(COVERAGE_K), mine = final;
      if (rng_unit() >= truth[i]) mine = (final + 1 + (uint32_t)rng_below(COVERAGE_K - 1)) % COVERAGE_K;
      correct[i] += mine == final;
      agreement_pairs_add(&half[j & 1], mine, final, 1);
    }
    for (int h = 0; h < 2; h++) {
      Tally__StatsRow *row = rows[2 * i + h] = row_new(h ? "ja" : "es", 20000 + (uint32_t)h, names[i]);
      row_set_pairs(as_auditor ? &row->auditor_final_pairs : &row->final_pairs, &half[h]);
    }
  }
  Tally__ReportReply *reply = run_report(COVERAGE_K, 0, "labeler", rows, 2 * COVERAGE_PEOPLE);
  int covered = 0, exact = 0;
  uint64_t all_judged = 0;
  CHECK(reply && reply->n_rows == COVERAGE_PEOPLE);
  for (size_t r = 0; reply && r < reply->n_rows; r++) {
    int i = atoi(reply->rows[r]->key + 1);
    const Tally__Accuracy *a = as_auditor ? reply->rows[r]->auditor_final : reply->rows[r]->labeler_final;
    const Tally__Accuracy *other = as_auditor ? reply->rows[r]->labeler_final : reply->rows[r]->auditor_final;
    if (a == NULL || other == NULL) continue;
    exact += a->judged == judged[i] && a->correct == correct[i] && a->defined && other->judged == 0 &&
             !other->defined && fabs(a->value - (double)correct[i] / (double)judged[i]) < 1e-12;
    covered += a->defined && a->wilson_low <= truth[i] && truth[i] <= a->wilson_high;
    all_judged += judged[i];
  }
  double coverage = (double)covered / COVERAGE_PEOPLE;
  fprintf(stderr, "%s: Wilson coverage %.2f%%\n", as_auditor ? "auditors" : "labelers", 100.0 * coverage);
  check_msg(exact == COVERAGE_PEOPLE, "%s: %d of %d rows with the exact counts", as_auditor ? "auditors" : "labelers",
            exact, COVERAGE_PEOPLE);
  check_msg(coverage >= 0.93 && coverage <= 0.97, "%s: 95%% Wilson intervals cover %.2f%% of the true accuracies",
            as_auditor ? "auditors" : "labelers", 100.0 * coverage);
  const Tally__Accuracy *total = reply ? (as_auditor ? reply->total->auditor_final : reply->total->labeler_final) : NULL;
  CHECK(total && total->judged == all_judged);
  report_reply_free(&reply);
  for (int i = 0; i < 2 * COVERAGE_PEOPLE; i++) row_free(rows[i]);
  free(rows);
  free(half);
}

/* ---------------------------------------------------------------- handling */

static void check_handling(void) {
  uint64_t long_histogram[HANDLING_BUCKETS + 3] = {0};
  long_histogram[0] = 4;                    /* <= 1 s */
  long_histogram[HANDLING_BUCKETS + 2] = 6; /* a bucket a newer build appended */
  uint64_t short_histogram[3] = {0, 0, 10}; /* <= 3 s */
  Tally__StatsRow *rows[2] = {row_new("es", 1, "ana"), row_new("es", 1, "ana")};
  row_set_histogram(rows[0], long_histogram, HANDLING_BUCKETS + 3);
  row_set_histogram(rows[1], short_histogram, 3);
  Tally__ReportReply *reply = run_report(2, 0, "labeler", rows, 2);
  /* 20 times: 4 at <= 1 s, 10 at <= 3 s, 6 in the last bucket. */
  CHECK(reply && reply->n_rows == 1 && reply->rows[0]->handling_p50_ms == 3000 &&
        reply->rows[0]->handling_p90_ms == handling_bucket_upper_ms(HANDLING_BUCKETS - 2));
  report_reply_free(&reply);
  row_free(rows[0]);
  row_free(rows[1]);
}

/* ---------------------------------------------------------------- malformed */

static void check_malformed(void) {
  Tally__Project project = project_of(2, 1);
  report_query_t query = {"market", NULL, 0, 0};
  report_t *r = NULL, *clean = NULL;
  CHECK(report_new(&r, &project, &query) == 0 && report_new(&clean, &project, &query) == 0);
  if (r == NULL || clean == NULL) return;

  agreement_pairs_t *p2 = malloc(sizeof *p2), *p3 = malloc(sizeof *p3);
  if (p2 == NULL || p3 == NULL) abort();
  agreement_pairs_init(p2, 2);
  agreement_pairs_init(p3, 3);
  p2->counts[0][0] = 7, p2->counts[1][0] = 3;
  p3->counts[0][0] = 1;
  Tally__StatsRow *good = row_new("es", 1, "ana");
  row_set_audits(good, p2);
  good->labels = 12;
  CHECK_EQ_U64(report_add_row(r, good), 1);
  CHECK_EQ_U64(report_add_row(clean, good), 1);

  Tally__StatsRow *bad[10];
  for (int i = 0; i < 10; i++) bad[i] = row_new("es", 1, "ana");
  static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0x00};
  bytes_set(&bad[0]->pairs, garbage, sizeof garbage);
  row_set_pairs(&bad[1]->pairs, p3); /* K differs from the taxonomy */
  row_set_pairs(&bad[2]->pairs, p2);
  bad[2]->pairs.len -= 8; /* truncated */
  row_set_pairs(&bad[3]->policy_unclear_pairs, p2);
  bad[3]->policy_unclear_pairs.data[1] = 99; /* unknown format version */
  bytes_set(&bad[4]->coincidence, garbage, sizeof garbage);
  bytes_set(&bad[5]->fleiss, garbage, 3);
  bad[6]->audits = 1, bad[6]->audit_agreed = 2;
  bad[7]->gold_total = 1, bad[7]->gold_hits = 2;
  bad[8]->labels = UINT64_MAX; /* overflows the sum with good's 12 */
  {
    agreement_coincidence_t *c = malloc(sizeof *c);
    agreement_fleiss_t f;
    uint32_t values[2] = {0, 1};
    if (c == NULL) abort();
    agreement_coincidence_init(c, 2);
    agreement_fleiss_init(&f, 2);
    agreement_coincidence_add_unit(c, values, 2);
    agreement_fleiss_add_unit(&f, values, 2);
    row_set_units(bad[9], c, &f);
    bad[9]->coincidence.data[4 + 8] ^= 0x01; /* cell [0][1] no longer equals [1][0] */
    free(c);
  }
  for (int i = 0; i < 10; i++)
    check_msg(report_add_row(r, bad[i]) == TALLY_E_INVALID_ARGUMENT, "bad row %d rejected", i);
  CHECK_EQ_U64(report_rows_rejected(r), 10);
  CHECK_EQ_U64(report_rows_added(r), 1);

  /* Outside the query: ignored, not rejected. */
  report_query_t narrow = {"", "es", 10, 20};
  report_t *filtered = NULL;
  CHECK(report_new(&filtered, &project, &narrow) == 0);
  Tally__StatsRow *other_market = row_new("jp", 15, "ana"), *early = row_new("es", 9, "ana"),
                  *late = row_new("es", 21, "ana"), *inside = row_new("es", 20, "ana");
  if (filtered) {
    CHECK_EQ_U64(report_add_row(filtered, other_market), 0);
    CHECK_EQ_U64(report_add_row(filtered, early), 0);
    CHECK_EQ_U64(report_add_row(filtered, late), 0);
    CHECK_EQ_U64(report_add_row(filtered, inside), 1);
    CHECK(report_rows_rejected(filtered) == 0 && report_rows_added(filtered) == 1);
  }
  report_destroy(&filtered);

  /* The rejected rows changed nothing. */
  Tally__ReportReply *a = NULL, *b = NULL;
  CHECK(report_build(r, &a) == 0 && report_build(clean, &b) == 0);
  compare_replies(a, b, "after malformed rows");
  CHECK(a && a->total->labels == 12 && a->total->audits == 10 && a->total->audit_agreed == 7);
  report_reply_free(&a);
  report_reply_free(&b);

  /* Bad queries and projects. */
  report_t *none = NULL;
  report_query_t bad_by = {"team", NULL, 0, 0};
  CHECK(report_new(&none, &project, &bad_by) == TALLY_E_INVALID_ARGUMENT && none == NULL);
  report_query_t no_by = {NULL, NULL, 0, 0};
  CHECK(report_new(&none, &project, &no_by) == TALLY_E_INVALID_ARGUMENT);
  Tally__Project empty = project_of(0, 0);
  CHECK(report_new(&none, &empty, &query) == TALLY_E_INVALID_ARGUMENT);
  CHECK(report_by_is_valid("") && report_by_is_valid("labeler") && report_by_is_valid("market") &&
        report_by_is_valid("day") && report_by_is_valid("category") && report_by_is_valid("version"));
  CHECK(!report_by_is_valid("Labeler") && !report_by_is_valid("days") && !report_by_is_valid(NULL));
  report_destroy(&none);

  for (int i = 0; i < 10; i++) row_free(bad[i]);
  row_free(good);
  row_free(other_market);
  row_free(early);
  row_free(late);
  row_free(inside);
  free(p2);
  free(p3);
  report_destroy(&r);
  report_destroy(&clean);
  report_destroy(&r); /* safe twice */
  report_reply_free(&a);
}

int main(int argc, char **argv) {
  check_deadline(60, NULL);
  if (argc != 2) {
    fprintf(stderr, "usage: report_test <agreement-vectors.json>\n");
    return 2;
  }
  json_error_t error;
  vectors = json_load_file(argv[1], 0, &error);
  if (vectors == NULL) {
    fprintf(stderr, "%s:%d: %s\n", argv[1], error.line, error.text);
    return 1;
  }
  size_t i;
  const json_t *entry;
  json_array_foreach(json_object_get(vectors, "cohen_confusion_matrices"), i, entry) {
    char what[64];
    snprintf(what, sizeof what, "cohen_confusion_matrices[%zu]", i);
    check_pairs_vector(what, entry);
  }
  check_reliability_vector();
  check_fleiss_vector();
  check_wilson_vectors();
  check_undefined_vectors();
  check_coefficient_order();
  check_split_and_shuffle();
  check_grouping_keys();
  check_categories();
  check_final_coverage(0);
  check_final_coverage(1);
  check_handling();
  check_malformed();
  json_decref(vectors);
  return check_summary();
}
