/* report: sums of statistics rows and the coefficients of a quality report.
 * See report.h. */
#include "report.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "agreement.h"
#include "handling.h"
#include "tally_error.h"

typedef enum { GROUP_ALL, GROUP_LABELER, GROUP_MARKET, GROUP_DAY, GROUP_CATEGORY, GROUP_VERSION } grouping_t;

static const char *const grouping_names[] = {"", "labeler", "market", "day", "category", "version"};

/* The integer fields of a StatsRow that simply add. */
enum {
  COUNT_LABELS,
  COUNT_AUDITS,
  COUNT_AUDIT_AGREED,
  COUNT_GOLD_TOTAL,
  COUNT_GOLD_HITS,
  COUNT_ADJUDICATIONS,
  COUNT_ATTRIBUTED_LABELER,
  COUNT_ATTRIBUTED_AUDITOR,
  COUNT_ATTRIBUTED_BOTH,
  COUNT_ATTRIBUTED_POLICY,
  COUNT_FIELDS
};

/* The sums of one row of the report (or of the total). Matrices are k*k,
 * row-major, and allocated when the first row that has them arrives. */
typedef struct {
  char *key;    /* labeler or market; NULL for days, versions and the total */
  uint32_t day; /* GROUP_DAY: the day; GROUP_VERSION: the policy version */
  uint64_t counts[COUNT_FIELDS];
  uint64_t handling[HANDLING_BUCKETS];
  uint64_t *pairs;
  uint64_t *final;            /* labeler label x final label */
  uint64_t *auditor_final;    /* auditor label x final label */
  uint64_t *unclear;          /* the total only */
  double *coincidence;        /* groups with item-level statistics only */
  agreement_fleiss_t *fleiss; /* likewise */
} group_t;

/* One row, decoded and checked, before it is added. */
typedef struct {
  uint64_t counts[COUNT_FIELDS];
  uint64_t handling[HANDLING_BUCKETS];
  int has_pairs, has_unclear, has_coincidence, has_fleiss, has_final, has_auditor_final;
  agreement_pairs_t pairs, unclear, final, auditor_final;
  agreement_coincidence_t coincidence;
  agreement_fleiss_t fleiss;
} parsed_row_t;

struct report {
  char *project;
  char **labels;
  uint32_t k;
  int ordinal;
  grouping_t grouping;
  char *market; /* NULL: every market */
  uint32_t from_day, to_day;
  group_t total;
  group_t **groups; /* in arrival order */
  size_t group_count, group_capacity;
  uint32_t *index;  /* open addressing: group position + 1, 0 = empty */
  size_t index_size; /* a power of two, at least twice group_count */
  parsed_row_t *scratch;
  uint64_t added, rejected;
};

/* ---------------------------------------------------------------- groups */

static int grouping_of(const char *by, grouping_t *out) {
  for (size_t i = 0; i < sizeof grouping_names / sizeof grouping_names[0]; i++)
    if (strcmp(by, grouping_names[i]) == 0) {
      *out = (grouping_t)i;
      return 0;
    }
  return TALLY_E_INVALID_ARGUMENT;
}

int report_by_is_valid(const char *by) {
  grouping_t g;
  return by != NULL && grouping_of(by, &g) == 0;
}

/* Whether rows of this grouping carry item-level (overlap) statistics. */
static int grouping_has_overlap(grouping_t g) {
  return g == GROUP_ALL || g == GROUP_MARKET || g == GROUP_DAY || g == GROUP_VERSION;
}

/* Whether groups are keyed by a number (group_t.day), not a name. */
static int grouping_is_numeric(grouping_t g) { return g == GROUP_DAY || g == GROUP_VERSION; }

static void group_free_parts(group_t *g) {
  free(g->key);
  free(g->pairs);
  free(g->final);
  free(g->auditor_final);
  free(g->unclear);
  free(g->coincidence);
  free(g->fleiss);
}

static void group_destroy(group_t **g) {
  if (*g == NULL) return;
  group_free_parts(*g);
  free(*g);
  *g = NULL;
}

/* The group's key bytes for hashing and comparing. */
static const void *group_key_bytes(const group_t *g, size_t *len) {
  if (g->key == NULL) {
    *len = sizeof g->day;
    return &g->day;
  }
  *len = strlen(g->key);
  return g->key;
}

static uint64_t key_hash(const void *bytes, size_t len) { return XXH64(bytes, len, 0); }

/* The position of the group with this key in r->index (its slot, filled
 * or the empty one where it would go). */
static size_t index_slot(const report_t *r, const void *bytes, size_t len) {
  size_t mask = r->index_size - 1, at = (size_t)key_hash(bytes, len) & mask;
  for (;; at = (at + 1) & mask) {
    uint32_t entry = r->index[at];
    if (entry == 0) return at;
    size_t other_len;
    const void *other = group_key_bytes(r->groups[entry - 1], &other_len);
    if (other_len == len && memcmp(other, bytes, len) == 0) return at;
  }
}

/* Doubles the index (and rehashes). Returns 0 or TALLY_E_NOMEM. */
static int index_grow(report_t *r) {
  size_t size = r->index_size ? 2 * r->index_size : 64;
  uint32_t *index = calloc(size, sizeof *index);
  if (index == NULL) return TALLY_E_NOMEM;
  free(r->index);
  r->index = index;
  r->index_size = size;
  for (size_t i = 0; i < r->group_count; i++) {
    size_t len;
    const void *bytes = group_key_bytes(r->groups[i], &len);
    r->index[index_slot(r, bytes, len)] = (uint32_t)(i + 1);
  }
  return 0;
}

/* The group of `row` under the report's grouping: the existing one or a new
 * empty one. NULL when out of memory. */
static group_t *group_for(report_t *r, const Tally__StatsRow *row) {
  uint32_t day = r->grouping == GROUP_VERSION ? row->policy_version : row->day;
  const char *name = r->grouping == GROUP_LABELER ? row->labeler : row->market;
  int numeric = grouping_is_numeric(r->grouping);
  const void *bytes = numeric ? (const void *)&day : (const void *)name;
  size_t len = numeric ? sizeof day : strlen(name);
  if (2 * (r->group_count + 1) > r->index_size && index_grow(r) < 0) return NULL;
  size_t slot = index_slot(r, bytes, len);
  if (r->index[slot] != 0) return r->groups[r->index[slot] - 1];
  if (r->group_count == r->group_capacity) {
    size_t capacity = r->group_capacity ? 2 * r->group_capacity : 64;
    group_t **groups = realloc(r->groups, capacity * sizeof *groups);
    if (groups == NULL) return NULL;
    r->groups = groups;
    r->group_capacity = capacity;
  }
  group_t *g = calloc(1, sizeof *g);
  if (g == NULL) return NULL;
  g->day = day;
  if (!numeric && (g->key = strdup(name)) == NULL) {
    free(g);
    return NULL;
  }
  r->groups[r->group_count++] = g;
  r->index[slot] = (uint32_t)r->group_count;
  return g;
}

/* ---------------------------------------------------------------- new/destroy */

int report_new(report_t **out, const Tally__Project *project, const report_query_t *query) {
  *out = NULL;
  grouping_t grouping;
  if (query->by == NULL || grouping_of(query->by, &grouping) < 0) return TALLY_E_INVALID_ARGUMENT;
  if (project->n_labels == 0 || project->n_labels > AGREEMENT_MAX_CATEGORIES)
    return TALLY_E_INVALID_ARGUMENT;
  report_t *r = calloc(1, sizeof *r);
  if (r == NULL) return TALLY_E_NOMEM;
  r->k = (uint32_t)project->n_labels;
  r->ordinal = project->ordinal;
  r->grouping = grouping;
  r->from_day = query->from_day;
  r->to_day = query->to_day;
  r->project = strdup(project->name ? project->name : "");
  r->labels = calloc(r->k, sizeof *r->labels);
  r->scratch = malloc(sizeof *r->scratch);
  int ok = r->project && r->labels && r->scratch;
  for (uint32_t i = 0; ok && i < r->k; i++) ok = (r->labels[i] = strdup(project->labels[i])) != NULL;
  if (ok && query->market && query->market[0] != '\0') ok = (r->market = strdup(query->market)) != NULL;
  if (!ok) {
    report_destroy(&r);
    return TALLY_E_NOMEM;
  }
  *out = r;
  return 0;
}

void report_destroy(report_t **report) {
  if (report == NULL || *report == NULL) return;
  report_t *r = *report;
  *report = NULL;
  for (size_t i = 0; i < r->group_count; i++) group_destroy(&r->groups[i]);
  free(r->groups);
  free(r->index);
  group_free_parts(&r->total);
  for (uint32_t i = 0; r->labels && i < r->k; i++) free(r->labels[i]);
  free(r->labels);
  free(r->project);
  free(r->market);
  free(r->scratch);
  free(r);
}

uint64_t report_rows_added(const report_t *r) { return r->added; }

uint64_t report_rows_rejected(const report_t *r) { return r->rejected; }

/* ---------------------------------------------------------------- adding rows */

/* True when a + b does not overflow. */
static int fits(uint64_t a, uint64_t b) { return a <= UINT64_MAX - b; }

static int row_is_in_query(const report_t *r, const Tally__StatsRow *row) {
  if (r->market && strcmp(r->market, row->market) != 0) return 0;
  if (r->from_day && row->day < r->from_day) return 0;
  if (r->to_day && row->day > r->to_day) return 0;
  return 1;
}

/* Decodes the byte fields of `row` into p; *has is 0 for an empty field.
 * Returns 0 or TALLY_E_INVALID_ARGUMENT (malformed, unknown version or
 * another K). */
static int parse_pairs(const ProtobufCBinaryData *bytes, uint32_t k, agreement_pairs_t *p,
                       int *has) {
  *has = bytes->len > 0;
  if (!*has) return 0;
  if (agreement_pairs_deserialize(p, bytes->data, bytes->len) < 0 || p->k != k)
    return TALLY_E_INVALID_ARGUMENT;
  return 0;
}

/* Decodes and checks `row` into r->scratch. Returns 0 or
 * TALLY_E_INVALID_ARGUMENT. */
static int parse_row(report_t *r, const Tally__StatsRow *row) {
  parsed_row_t *p = r->scratch;
  const uint64_t counts[COUNT_FIELDS] = {
      [COUNT_LABELS] = row->labels,
      [COUNT_AUDITS] = row->audits,
      [COUNT_AUDIT_AGREED] = row->audit_agreed,
      [COUNT_GOLD_TOTAL] = row->gold_total,
      [COUNT_GOLD_HITS] = row->gold_hits,
      [COUNT_ADJUDICATIONS] = row->adjudications,
      [COUNT_ATTRIBUTED_LABELER] = row->attributed_labeler,
      [COUNT_ATTRIBUTED_AUDITOR] = row->attributed_auditor,
      [COUNT_ATTRIBUTED_BOTH] = row->attributed_both,
      [COUNT_ATTRIBUTED_POLICY] = row->attributed_policy,
  };
  memcpy(p->counts, counts, sizeof counts);
  if (row->audit_agreed > row->audits || row->gold_hits > row->gold_total)
    return TALLY_E_INVALID_ARGUMENT;
  /* Buckets appended by a newer build all lie above our last bound. */
  memset(p->handling, 0, sizeof p->handling);
  for (size_t i = 0; i < row->n_handling_histogram; i++) {
    size_t bucket = i < HANDLING_BUCKETS ? i : HANDLING_BUCKETS - 1;
    if (!fits(p->handling[bucket], row->handling_histogram[i])) return TALLY_E_INVALID_ARGUMENT;
    p->handling[bucket] += row->handling_histogram[i];
  }
  if (parse_pairs(&row->pairs, r->k, &p->pairs, &p->has_pairs) < 0 ||
      parse_pairs(&row->policy_unclear_pairs, r->k, &p->unclear, &p->has_unclear) < 0 ||
      parse_pairs(&row->final_pairs, r->k, &p->final, &p->has_final) < 0 ||
      parse_pairs(&row->auditor_final_pairs, r->k, &p->auditor_final, &p->has_auditor_final) < 0)
    return TALLY_E_INVALID_ARGUMENT;
  p->has_coincidence = row->coincidence.len > 0;
  if (p->has_coincidence &&
      (agreement_coincidence_deserialize(&p->coincidence, row->coincidence.data,
                                         row->coincidence.len) < 0 ||
       p->coincidence.k != r->k))
    return TALLY_E_INVALID_ARGUMENT;
  p->has_fleiss = row->fleiss.len > 0;
  if (p->has_fleiss &&
      (agreement_fleiss_deserialize(&p->fleiss, row->fleiss.data, row->fleiss.len) < 0 ||
       p->fleiss.k != r->k))
    return TALLY_E_INVALID_ARGUMENT;
  return 0;
}

static int cells_fit(const uint64_t *sums, const agreement_pairs_t *add, uint32_t k) {
  for (uint32_t a = 0; sums && a < k; a++)
    for (uint32_t b = 0; b < k; b++)
      if (!fits(sums[a * k + b], add->counts[a][b])) return 0;
  return 1;
}

/* True when adding the parsed row to the total overflows nothing. Every
 * group is a part of the total, so this holds for the row's group too. */
static int row_fits_total(const report_t *r) {
  const parsed_row_t *p = r->scratch;
  const group_t *t = &r->total;
  for (size_t i = 0; i < COUNT_FIELDS; i++)
    if (!fits(t->counts[i], p->counts[i])) return 0;
  for (size_t i = 0; i < HANDLING_BUCKETS; i++)
    if (!fits(t->handling[i], p->handling[i])) return 0;
  if (p->has_pairs && !cells_fit(t->pairs, &p->pairs, r->k)) return 0;
  if (p->has_unclear && !cells_fit(t->unclear, &p->unclear, r->k)) return 0;
  if (p->has_final && !cells_fit(t->final, &p->final, r->k)) return 0;
  if (p->has_auditor_final && !cells_fit(t->auditor_final, &p->auditor_final, r->k)) return 0;
  for (uint32_t a = 0; p->has_coincidence && t->coincidence && a < r->k; a++)
    for (uint32_t b = 0; b < r->k; b++)
      if (!isfinite(t->coincidence[a * r->k + b] + p->coincidence.cells[a][b])) return 0;
  if (p->has_fleiss && t->fleiss) {
    agreement_fleiss_t probe = *t->fleiss;
    if (agreement_fleiss_merge(&probe, &p->fleiss) < 0) return 0;
  }
  return 1;
}

/* Makes sure the matrices the parsed row needs exist in g. `overlap`: g
 * keeps item-level statistics; `unclear`: g keeps policy-unclear pairs.
 * Returns 0 or TALLY_E_NOMEM. */
static int group_prepare(group_t *g, const parsed_row_t *p, uint32_t k, int overlap, int unclear) {
  size_t cells = (size_t)k * k;
  if (p->has_pairs && g->pairs == NULL && (g->pairs = calloc(cells, sizeof *g->pairs)) == NULL)
    return TALLY_E_NOMEM;
  if (p->has_final && g->final == NULL && (g->final = calloc(cells, sizeof *g->final)) == NULL)
    return TALLY_E_NOMEM;
  if (p->has_auditor_final && g->auditor_final == NULL &&
      (g->auditor_final = calloc(cells, sizeof *g->auditor_final)) == NULL)
    return TALLY_E_NOMEM;
  if (unclear && p->has_unclear && g->unclear == NULL &&
      (g->unclear = calloc(cells, sizeof *g->unclear)) == NULL)
    return TALLY_E_NOMEM;
  if (overlap && p->has_coincidence && g->coincidence == NULL &&
      (g->coincidence = calloc(cells, sizeof *g->coincidence)) == NULL)
    return TALLY_E_NOMEM;
  if (overlap && p->has_fleiss && g->fleiss == NULL) {
    if ((g->fleiss = malloc(sizeof *g->fleiss)) == NULL) return TALLY_E_NOMEM;
    agreement_fleiss_init(g->fleiss, k);
  }
  return 0;
}

static void cells_add(uint64_t *sums, const agreement_pairs_t *add, uint32_t k) {
  for (uint32_t a = 0; a < k; a++)
    for (uint32_t b = 0; b < k; b++) sums[a * k + b] += add->counts[a][b];
}

/* Adds the parsed row to g (prepared by group_prepare, checked by
 * row_fits_total). */
static void group_add(group_t *g, const parsed_row_t *p, uint32_t k) {
  for (size_t i = 0; i < COUNT_FIELDS; i++) g->counts[i] += p->counts[i];
  for (size_t i = 0; i < HANDLING_BUCKETS; i++) g->handling[i] += p->handling[i];
  if (p->has_pairs) cells_add(g->pairs, &p->pairs, k);
  if (p->has_final) cells_add(g->final, &p->final, k);
  if (p->has_auditor_final) cells_add(g->auditor_final, &p->auditor_final, k);
  if (p->has_unclear && g->unclear) cells_add(g->unclear, &p->unclear, k);
  if (p->has_coincidence && g->coincidence)
    for (uint32_t a = 0; a < k; a++)
      for (uint32_t b = 0; b < k; b++) g->coincidence[a * k + b] += p->coincidence.cells[a][b];
  if (p->has_fleiss && g->fleiss) {
    /* Cannot fail: checked against the total, of which g is a part. */
    int rc = agreement_fleiss_merge(g->fleiss, &p->fleiss);
    assert(rc == 0);
    (void)rc;
  }
}

int report_add_row(report_t *r, const Tally__StatsRow *row) {
  if (!row_is_in_query(r, row)) return 0;
  if (parse_row(r, row) < 0 || !row_fits_total(r)) {
    r->rejected++;
    return TALLY_E_INVALID_ARGUMENT;
  }
  const parsed_row_t *p = r->scratch;
  group_t *g = NULL;
  int grouped = r->grouping == GROUP_LABELER ? row->labeler[0] != '\0'
                                             : r->grouping == GROUP_MARKET || grouping_is_numeric(r->grouping);
  if (grouped && (g = group_for(r, row)) == NULL) return TALLY_E_NOMEM;
  if (group_prepare(&r->total, p, r->k, 1, 1) < 0 ||
      (g && group_prepare(g, p, r->k, grouping_has_overlap(r->grouping), 0) < 0))
    return TALLY_E_NOMEM;
  group_add(&r->total, p, r->k);
  if (g) group_add(g, p, r->k);
  r->added++;
  return 1;
}

/* ---------------------------------------------------------------- building */

/* Scratch structures for computing coefficients from compact sums. */
typedef struct {
  agreement_pairs_t pairs;
  agreement_coincidence_t coincidence;
} build_scratch_t;

static void pairs_from_cells(agreement_pairs_t *p, const uint64_t *cells, uint32_t k) {
  agreement_pairs_init(p, k);
  for (uint32_t a = 0; cells && a < k; a++)
    for (uint32_t b = 0; b < k; b++) p->counts[a][b] = cells[a * k + b];
}

/* Appends coefficient `name` from a coefficient function's result. */
static int add_coefficient(Tally__ReportRow *row, const char *name, int rc, double value) {
  Tally__Coefficient *c = malloc(sizeof *c);
  if (c == NULL) return TALLY_E_NOMEM;
  tally__coefficient__init(c);
  c->name = (char *)name; /* static; report_reply_free knows */
  c->defined = rc == 0;
  c->value = rc == 0 ? value : 0.0;
  row->coefficients[row->n_coefficients++] = c;
  return 0;
}

#define MAX_COEFFICIENTS 13

/* The coefficients of a pairs matrix: percent agreement, Cohen's kappa
 * (weighted too when `weighted`), Scott's pi, Gwet's AC1, alpha nominal. */
static int add_pairs_coefficients(Tally__ReportRow *row, const agreement_pairs_t *p, int weighted) {
  double v = 0;
  int rc = 0, c;
  c = agreement_pairs_percent(p, &v);
  rc |= add_coefficient(row, REPORT_PERCENT_AGREEMENT, c, v);
  c = agreement_pairs_cohen_kappa(p, &v);
  rc |= add_coefficient(row, REPORT_COHEN_KAPPA, c, v);
  if (weighted) {
    c = agreement_pairs_cohen_kappa_linear(p, &v);
    rc |= add_coefficient(row, REPORT_COHEN_KAPPA_LINEAR, c, v);
    c = agreement_pairs_cohen_kappa_quadratic(p, &v);
    rc |= add_coefficient(row, REPORT_COHEN_KAPPA_QUADRATIC, c, v);
  }
  c = agreement_pairs_scott_pi(p, &v);
  rc |= add_coefficient(row, REPORT_SCOTT_PI, c, v);
  c = agreement_pairs_gwet_ac1(p, &v);
  rc |= add_coefficient(row, REPORT_GWET_AC1, c, v);
  c = agreement_pairs_alpha_nominal(p, &v);
  rc |= add_coefficient(row, REPORT_ALPHA_NOMINAL, c, v);
  return rc ? TALLY_E_NOMEM : 0;
}

/* The item-level coefficients of a group (empty sums: all undefined). */
static int add_overlap_coefficients(Tally__ReportRow *row, const group_t *g, uint32_t k,
                                    int ordinal, build_scratch_t *s) {
  agreement_fleiss_t fleiss;
  agreement_coincidence_init(&s->coincidence, k);
  for (uint32_t a = 0; g->coincidence && a < k; a++)
    for (uint32_t b = 0; b < k; b++) s->coincidence.cells[a][b] = g->coincidence[a * k + b];
  if (g->fleiss)
    fleiss = *g->fleiss;
  else
    agreement_fleiss_init(&fleiss, k);
  double v = 0;
  int rc = 0, c;
  c = agreement_coincidence_percent(&s->coincidence, &v);
  rc |= add_coefficient(row, REPORT_OVERLAP_PERCENT_AGREEMENT, c, v);
  c = agreement_coincidence_alpha_nominal(&s->coincidence, &v);
  rc |= add_coefficient(row, REPORT_OVERLAP_ALPHA_NOMINAL, c, v);
  if (ordinal) {
    c = agreement_coincidence_alpha_ordinal(&s->coincidence, &v);
    rc |= add_coefficient(row, REPORT_OVERLAP_ALPHA_ORDINAL, c, v);
    c = agreement_coincidence_alpha_interval(&s->coincidence, NULL, &v);
    rc |= add_coefficient(row, REPORT_OVERLAP_ALPHA_INTERVAL, c, v);
  }
  c = agreement_fleiss_kappa(&fleiss, &v);
  rc |= add_coefficient(row, REPORT_OVERLAP_FLEISS_KAPPA, c, v);
  c = agreement_fleiss_gwet_ac1(&fleiss, &v);
  rc |= add_coefficient(row, REPORT_OVERLAP_GWET_AC1, c, v);
  return rc ? TALLY_E_NOMEM : 0;
}

/* Fills accuracy and its Wilson interval from the row's audit counts. */
static void set_accuracy(Tally__ReportRow *row) {
  double low = 0, high = 0;
  row->accuracy_defined = 0;
  row->accuracy = row->wilson_low = row->wilson_high = 0.0;
  if (row->audits == 0 ||
      agreement_wilson(row->audit_agreed, row->audits, AGREEMENT_Z95, &low, &high) != 0)
    return;
  row->accuracy_defined = 1;
  row->accuracy = (double)row->audit_agreed / (double)row->audits;
  row->wilson_low = low;
  row->wilson_high = high;
}

/* A new Accuracy of `correct` out of `judged` with its 95% Wilson interval
 * (undefined when judged = 0). NULL when out of memory. */
static Tally__Accuracy *accuracy_new(uint64_t correct, uint64_t judged) {
  Tally__Accuracy *a = malloc(sizeof *a);
  if (a == NULL) return NULL;
  tally__accuracy__init(a);
  a->judged = judged;
  a->correct = correct;
  double low = 0, high = 0;
  if (judged > 0 && agreement_wilson(correct, judged, AGREEMENT_Z95, &low, &high) == 0) {
    a->defined = 1;
    a->value = (double)correct / (double)judged;
    a->wilson_low = low;
    a->wilson_high = high;
  }
  return a;
}

/* Accuracy from a person label x final label matrix (NULL: none judged),
 * restricted to the matrix row `only` unless it is UINT32_MAX: judged = the
 * cells, correct = the diagonal. */
static Tally__Accuracy *accuracy_from_cells(const uint64_t *cells, uint32_t k, uint32_t only) {
  uint64_t judged = 0, correct = 0;
  for (uint32_t a = 0; cells && a < k; a++) {
    if (only != UINT32_MAX && a != only) continue;
    for (uint32_t b = 0; b < k; b++) judged += cells[a * k + b];
    correct += cells[a * k + a];
  }
  return accuracy_new(correct, judged);
}

static uint64_t handling_at(const uint64_t *histogram, double q) {
  uint64_t ms = 0;
  return handling_quantile(histogram, HANDLING_BUCKETS, q, &ms) == 0 ? ms : 0;
}

/* A new row with `key` (copied) and room for every coefficient. */
static Tally__ReportRow *row_new(const char *key) {
  Tally__ReportRow *row = malloc(sizeof *row);
  if (row == NULL) return NULL;
  tally__report_row__init(row);
  row->key = strdup(key);
  row->coefficients = calloc(MAX_COEFFICIENTS, sizeof *row->coefficients);
  if (row->key == NULL || row->coefficients == NULL) {
    free(row->key);
    free(row->coefficients);
    free(row);
    return NULL;
  }
  return row;
}

static void row_free(Tally__ReportRow *row) {
  if (row == NULL) return;
  free(row->labeler_final);
  free(row->auditor_final);
  for (size_t i = 0; i < row->n_coefficients; i++) free(row->coefficients[i]);
  free(row->coefficients);
  free(row->key);
  free(row);
}

/* A report row from the sums of g. `overlap`: with item-level
 * coefficients. NULL when out of memory. */
static Tally__ReportRow *row_from_group(const report_t *r, const group_t *g, const char *key,
                                        int overlap, build_scratch_t *s) {
  Tally__ReportRow *row = row_new(key);
  if (row == NULL) return NULL;
  row->labels = g->counts[COUNT_LABELS];
  row->audits = g->counts[COUNT_AUDITS];
  row->audit_agreed = g->counts[COUNT_AUDIT_AGREED];
  row->gold_total = g->counts[COUNT_GOLD_TOTAL];
  row->gold_hits = g->counts[COUNT_GOLD_HITS];
  row->adjudications = g->counts[COUNT_ADJUDICATIONS];
  row->attributed_labeler = g->counts[COUNT_ATTRIBUTED_LABELER];
  row->attributed_auditor = g->counts[COUNT_ATTRIBUTED_AUDITOR];
  row->attributed_both = g->counts[COUNT_ATTRIBUTED_BOTH];
  row->attributed_policy = g->counts[COUNT_ATTRIBUTED_POLICY];
  row->handling_p50_ms = handling_at(g->handling, 0.5);
  row->handling_p90_ms = handling_at(g->handling, 0.9);
  set_accuracy(row);
  row->labeler_final = accuracy_from_cells(g->final, r->k, UINT32_MAX);
  row->auditor_final = accuracy_from_cells(g->auditor_final, r->k, UINT32_MAX);
  pairs_from_cells(&s->pairs, g->pairs, r->k);
  int rc = row->labeler_final && row->auditor_final ? 0 : TALLY_E_NOMEM;
  if (rc == 0) rc = add_pairs_coefficients(row, &s->pairs, r->ordinal);
  if (rc == 0 && overlap) rc = add_overlap_coefficients(row, g, r->k, r->ordinal, s);
  if (rc < 0) {
    row_free(row);
    return NULL;
  }
  return row;
}

/* The row of category c, grouped by the labeler's label (report.h):
 * counts and accuracies from row c of the total's matrices, coefficients
 * one-vs-rest over all of the total's pairs. */
static Tally__ReportRow *row_for_category(const report_t *r, uint32_t c, build_scratch_t *s) {
  Tally__ReportRow *row = row_new(r->labels[c]);
  if (row == NULL) return NULL;
  uint64_t both = 0, labeler_only = 0, auditor_only = 0, neither = 0;
  const uint64_t *cells = r->total.pairs;
  for (uint32_t a = 0; cells && a < r->k; a++)
    for (uint32_t b = 0; b < r->k; b++) {
      uint64_t n = cells[a * r->k + b];
      if (a == c && b == c)
        both += n;
      else if (a == c)
        labeler_only += n;
      else if (b == c)
        auditor_only += n;
      else
        neither += n;
    }
  row->labels = both + labeler_only;
  row->audits = both + labeler_only;
  row->audit_agreed = both;
  set_accuracy(row);
  row->labeler_final = accuracy_from_cells(r->total.final, r->k, c);
  row->auditor_final = accuracy_new(0, 0); /* not kept by the labeler's label */
  if (row->labeler_final == NULL || row->auditor_final == NULL) {
    row_free(row);
    return NULL;
  }
  agreement_pairs_init(&s->pairs, 2);
  s->pairs.counts[0][0] = both;
  s->pairs.counts[0][1] = labeler_only;
  s->pairs.counts[1][0] = auditor_only;
  s->pairs.counts[1][1] = neither;
  if (add_pairs_coefficients(row, &s->pairs, 0) < 0) {
    row_free(row);
    return NULL;
  }
  return row;
}

/* Civil date (proleptic Gregorian, UTC) of `day` days after 1970-01-01, as
 * YYYY-MM-DD (H. Hinnant's days-to-civil algorithm). */
static void format_day(uint32_t day, char *out, size_t size) {
  int64_t z = (int64_t)day + 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = yoe + era * 400 + (m <= 2);
  snprintf(out, size, "%04lld-%02lld-%02lld", (long long)y, (long long)m, (long long)d);
}

static int compare_groups_by_key(const void *a, const void *b) {
  const group_t *x = *(const group_t *const *)a, *y = *(const group_t *const *)b;
  return strcmp(x->key, y->key);
}

static int compare_groups_by_day(const void *a, const void *b) {
  const group_t *x = *(const group_t *const *)a, *y = *(const group_t *const *)b;
  return x->day < y->day ? -1 : x->day > y->day;
}

/* Copies k*k cells (or zeros) into a new array of *out. */
static int matrix_out(const uint64_t *cells, uint32_t k, uint64_t **out, size_t *n) {
  size_t count = (size_t)k * k;
  *out = calloc(count, sizeof **out);
  if (*out == NULL) return TALLY_E_NOMEM;
  if (cells) memcpy(*out, cells, count * sizeof **out);
  *n = count;
  return 0;
}

/* The rows of the grouping into reply->rows (allocated to `capacity`). */
static int build_rows(const report_t *r, Tally__ReportReply *reply, build_scratch_t *s) {
  if (r->grouping == GROUP_ALL) {
    reply->rows[0] = row_from_group(r, &r->total, REPORT_KEY_ALL, 1, s);
    if (reply->rows[0] == NULL) return TALLY_E_NOMEM;
    reply->n_rows = 1;
    return 0;
  }
  if (r->grouping == GROUP_CATEGORY) {
    for (uint32_t c = 0; c < r->k; c++) {
      if ((reply->rows[c] = row_for_category(r, c, s)) == NULL) return TALLY_E_NOMEM;
      reply->n_rows++;
    }
    return 0;
  }
  group_t **sorted = malloc((r->group_count ? r->group_count : 1) * sizeof *sorted);
  if (sorted == NULL) return TALLY_E_NOMEM;
  if (r->group_count) memcpy(sorted, r->groups, r->group_count * sizeof *sorted);
  qsort(sorted, r->group_count, sizeof *sorted,
        grouping_is_numeric(r->grouping) ? compare_groups_by_day : compare_groups_by_key);
  int overlap = grouping_has_overlap(r->grouping);
  for (size_t i = 0; i < r->group_count; i++) {
    char day[64]; /* room for any int64 fields: no truncation */
    const char *key = sorted[i]->key;
    if (r->grouping == GROUP_DAY) {
      format_day(sorted[i]->day, day, sizeof day);
      key = day;
    } else if (r->grouping == GROUP_VERSION) {
      snprintf(day, sizeof day, "%u", sorted[i]->day);
      key = day;
    }
    if ((reply->rows[i] = row_from_group(r, sorted[i], key, overlap, s)) == NULL) {
      free(sorted);
      return TALLY_E_NOMEM;
    }
    reply->n_rows++;
  }
  free(sorted);
  return 0;
}

int report_build(const report_t *r, Tally__ReportReply **out) {
  *out = NULL;
  build_scratch_t *s = malloc(sizeof *s);
  Tally__ReportReply *reply = calloc(1, sizeof *reply);
  if (s == NULL || reply == NULL) {
    free(s);
    free(reply);
    return TALLY_E_NOMEM;
  }
  tally__report_reply__init(reply);
  reply->project = NULL;
  size_t capacity = r->grouping == GROUP_ALL        ? 1
                    : r->grouping == GROUP_CATEGORY ? r->k
                                                    : r->group_count;
  int rc = TALLY_E_NOMEM;
  if ((reply->project = strdup(r->project)) != NULL &&
      (reply->labels = calloc(r->k, sizeof *reply->labels)) != NULL &&
      (reply->rows = calloc(capacity ? capacity : 1, sizeof *reply->rows)) != NULL) {
    rc = 0;
    for (uint32_t i = 0; rc == 0 && i < r->k; i++) {
      if ((reply->labels[i] = strdup(r->labels[i])) == NULL) rc = TALLY_E_NOMEM;
      reply->n_labels += rc == 0;
    }
  }
  if (rc == 0) rc = build_rows(r, reply, s);
  if (rc == 0 && (reply->total = row_from_group(r, &r->total, REPORT_KEY_ALL, 1, s)) == NULL)
    rc = TALLY_E_NOMEM;
  if (rc == 0) rc = matrix_out(r->total.pairs, r->k, &reply->confusion, &reply->n_confusion);
  if (rc == 0)
    rc = matrix_out(r->total.unclear, r->k, &reply->policy_unclear, &reply->n_policy_unclear);
  free(s);
  if (rc < 0) {
    report_reply_free(&reply);
    return rc;
  }
  *out = reply;
  return 0;
}

void report_reply_free(Tally__ReportReply **reply) {
  if (reply == NULL || *reply == NULL) return;
  Tally__ReportReply *r = *reply;
  *reply = NULL;
  free(r->project);
  for (size_t i = 0; i < r->n_labels; i++) free(r->labels[i]);
  free(r->labels);
  for (size_t i = 0; i < r->n_rows; i++) row_free(r->rows[i]);
  free(r->rows);
  row_free(r->total);
  free(r->confusion);
  free(r->policy_unclear);
  free(r);
}

const Tally__Coefficient *report_row_coefficient(const Tally__ReportRow *row, const char *name) {
  for (size_t i = 0; row && i < row->n_coefficients; i++)
    if (strcmp(row->coefficients[i]->name, name) == 0) return row->coefficients[i];
  return NULL;
}
