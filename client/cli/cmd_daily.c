/* cmd_daily: `tally report daily` — the daily quality inspection report.
 * See daily.h. Everything comes from tally_project_show() and
 * tally_report_quality(): per scope (the whole project, then each market)
 * the day ungrouped, the day by labeler and the previous day ungrouped. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agreement.h"
#include "daily.h"
#include "html_report.h"

/* ------------------------------------------------------------ figures */

static const char *const metric_names[DAILY_METRIC_COUNT] = {"volume", "coverage", "accuracy", "cohen_kappa"};

const char *daily_metric_name(int metric) {
  return metric >= 0 && metric < DAILY_METRIC_COUNT ? metric_names[metric] : "unknown";
}

daily_value_t daily_coefficient(const tally_report_row_t *row, const char *name) {
  for (size_t i = 0; row && i < row->coefficient_count; i++)
    if (row->coefficients[i].name && strcmp(row->coefficients[i].name, name) == 0 && row->coefficients[i].defined &&
        isfinite(row->coefficients[i].value))
      return (daily_value_t){1, row->coefficients[i].value};
  return (daily_value_t){0, 0};
}

daily_value_t daily_metric(const tally_report_t *rep, int metric) {
  if (rep == NULL) return (daily_value_t){0, 0};
  const tally_report_row_t *t = &rep->total;
  switch (metric) {
    case DAILY_VOLUME: return (daily_value_t){1, (double)t->labels};
    case DAILY_COVERAGE:
      if (t->labels == 0) return (daily_value_t){0, 0};
      return (daily_value_t){1, (double)t->audits / (double)t->labels};
    case DAILY_ACCURACY:
      if (!t->accuracy_defined) return (daily_value_t){0, 0};
      return (daily_value_t){1, t->accuracy};
    case DAILY_KAPPA: return daily_coefficient(t, "cohen_kappa");
    default: return (daily_value_t){0, 0};
  }
}

daily_value_t daily_change(daily_value_t today, daily_value_t previous) {
  if (!today.defined || !previous.defined) return (daily_value_t){0, 0};
  return (daily_value_t){1, today.value - previous.value};
}

static int pair_order(const void *pa, const void *pb) {
  const daily_pair_t *a = pa, *b = pb;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  if (a->row != b->row) return a->row < b->row ? -1 : 1;
  return a->col < b->col ? -1 : a->col > b->col;
}

long daily_pairs(const uint64_t *m, size_t k, int off_diagonal, daily_pair_t **out) {
  *out = NULL;
  size_t n = 0;
  for (size_t i = 0; m && i < k * k; i++) n += m[i] && !(off_diagonal && i / k == i % k);
  daily_pair_t *p = calloc(n ? n : 1, sizeof *p);
  if (p == NULL) return -1;
  size_t w = 0;
  for (size_t i = 0; m && i < k * k; i++)
    if (m[i] && !(off_diagonal && i / k == i % k)) p[w++] = (daily_pair_t){i / k, i % k, m[i]};
  qsort(p, n, sizeof *p, pair_order);
  *out = p;
  return (long)n;
}

/* The coefficients the report shows, with names for people. */
static const struct {
  const char *name, *title;
} coefficients[] = {
    {"percent_agreement", "percent agreement"}, {"cohen_kappa", "Cohen's kappa"}, {"scott_pi", "Scott's pi"},
    {"gwet_ac1", "Gwet's AC1"},                 {"alpha_nominal", "Krippendorff's alpha"},
};
#define COEFFICIENT_COUNT (sizeof coefficients / sizeof coefficients[0])

static const char *const attribution_keys[] = {"labeler", "auditor", "both", "policy_unclear"};

static uint64_t attribution_count(const tally_report_row_t *t, int i) {
  switch (i) {
    case 0: return t->attributed_labeler;
    case 1: return t->attributed_auditor;
    case 2: return t->attributed_both;
    default: return t->attributed_policy;
  }
}

typedef struct {
  int defined;
  double accuracy, low, high;
} proportion_t;

static proportion_t gold_of(const tally_report_row_t *t) {
  proportion_t p = {0, 0, 0, 0};
  if (t->gold_total == 0 || t->gold_hits > t->gold_total) return p;
  p.accuracy = (double)t->gold_hits / (double)t->gold_total;
  if (agreement_wilson(t->gold_hits, t->gold_total, AGREEMENT_Z95, &p.low, &p.high) != 0) return p;
  p.defined = 1;
  return p;
}

static const char *scope_key(const daily_scope_t *s) { return s->market ? s->market : "all"; }

static const char *label_of(const tally_report_t *rep, size_t i) {
  return i < rep->label_count && rep->labels[i] ? rep->labels[i] : "?";
}

static size_t shown_pairs(const daily_report_t *r, size_t n) { return r->top && n > r->top ? r->top : n; }

static uint64_t matrix_sum(const tally_report_t *rep) {
  uint64_t s = 0;
  for (size_t i = 0; rep->confusion && i < rep->label_count * rep->label_count; i++) s += rep->confusion[i];
  return s;
}

/* ------------------------------------------------------------ text helpers */

static void day_text(uint32_t day, char *buf, size_t size) {
  if (tally_day_format(day, buf, size) < 0) snprintf(buf, size, "day %u", day);
}

static void pct_text(daily_value_t v, char *buf, size_t size) {
  if (v.defined)
    snprintf(buf, size, "%.1f%%", 100.0 * v.value);
  else
    snprintf(buf, size, "undefined");
}

static void interval_text(int defined, double low, double high, char *buf, size_t size) {
  if (defined)
    snprintf(buf, size, "[%.1f%%, %.1f%%]", 100.0 * low, 100.0 * high);
  else
    snprintf(buf, size, "undefined");
}

/* A metric for people: volume as a count, coverage and accuracy as
 * percentages, kappa as a number. */
static void metric_text(int metric, daily_value_t v, char *buf, size_t size) {
  if (!v.defined)
    snprintf(buf, size, "undefined");
  else if (metric == DAILY_VOLUME)
    snprintf(buf, size, "%.0f", v.value);
  else if (metric == DAILY_KAPPA)
    snprintf(buf, size, "%.3f", v.value);
  else
    pct_text(v, buf, size);
}

/* A change for people: "+12", "-3.4 pp", "+0.012", "n/a". */
static void change_text(int metric, daily_value_t c, char *buf, size_t size) {
  if (!c.defined)
    snprintf(buf, size, "n/a");
  else if (metric == DAILY_VOLUME)
    snprintf(buf, size, "%+.0f", c.value);
  else if (metric == DAILY_KAPPA)
    snprintf(buf, size, "%+.3f", c.value == 0 ? 0.0 : c.value);
  else
    snprintf(buf, size, "%+.1f pp", 100.0 * c.value == 0 ? 0.0 : 100.0 * c.value);
}

static void coef_text(daily_value_t v, char *buf, size_t size) {
  if (v.defined)
    snprintf(buf, size, "%.3f", v.value);
  else
    snprintf(buf, size, "undefined");
}

/* ------------------------------------------------------------ table */

static int table_flush(output_table_t *t, FILE *f) {
  int rc = output_table_print(t, OUTPUT_TABLE, f);
  output_table_free(&t);
  return rc;
}

static int table_scope(FILE *f, const daily_report_t *r, const daily_scope_t *s) {
  const tally_report_t *rep = s->today;
  const tally_report_row_t *t = &rep->total;
  char a[64], b[64], c[64];
  int rc = 0;
  if (s->market)
    fprintf(f, "\n==== market %s ====\n\n", s->market);
  else
    fprintf(f, "\n==== whole project ====\n\n");

  static const char *const change_h[] = {"METRIC", "TODAY", "D-1", "CHANGE"};
  output_table_t *tab = output_table_new(4, change_h);
  for (int m = 0; m < DAILY_METRIC_COUNT; m++) {
    daily_value_t now = daily_metric(rep, m), prev = daily_metric(s->previous, m);
    metric_text(m, now, a, sizeof a);
    metric_text(m, prev, b, sizeof b);
    change_text(m, daily_change(now, prev), c, sizeof c);
    output_table_cell(tab, m == DAILY_KAPPA ? "cohen's kappa" : metric_names[m]);
    output_table_cell(tab, a);
    output_table_cell(tab, b);
    output_table_cell(tab, c);
  }
  rc |= table_flush(tab, f);
  interval_text(t->accuracy_defined, t->wilson_low, t->wilson_high, a, sizeof a);
  fprintf(f, "audits: %llu of %llu labels; accuracy 95%% Wilson interval %s\n", (unsigned long long)t->audits,
          (unsigned long long)t->labels, a);
  proportion_t g = gold_of(t);
  pct_text((daily_value_t){g.defined, g.accuracy}, b, sizeof b);
  interval_text(g.defined, g.low, g.high, c, sizeof c);
  fprintf(f, "gold: %llu of %llu correct, accuracy %s%s%s\n", (unsigned long long)t->gold_hits,
          (unsigned long long)t->gold_total, b, g.defined ? " " : "", g.defined ? c : "");
  if (t->labels) {
    output_duration(t->handling_p50_ms, a, sizeof a);
    output_duration(t->handling_p90_ms, b, sizeof b);
    fprintf(f, "handling time: median %s, 90th percentile %s\n", a, b);
  } else {
    fprintf(f, "handling time: undefined (no labels)\n");
  }

  /* The policy-unclear pairs come first: they are what to act on. */
  daily_pair_t *pairs = NULL;
  long n = daily_pairs(rep->policy_unclear, rep->label_count, 0, &pairs);
  if (n < 0) return -1;
  fprintf(f,
          "\n!!! POLICY UNCLEAR: candidate gaps in the guidelines (%llu disagreements a lead attributed to an "
          "unclear policy)\n",
          (unsigned long long)t->attributed_policy);
  if (n == 0) {
    fprintf(f, "none\n");
  } else {
    static const char *const h[] = {"LABELER_LABEL", "AUDITOR_LABEL", "COUNT"};
    tab = output_table_new(3, h);
    for (long i = 0; i < n; i++) {
      output_table_cell(tab, label_of(rep, pairs[i].row));
      output_table_cell(tab, label_of(rep, pairs[i].col));
      output_table_cellf(tab, "%llu", (unsigned long long)pairs[i].count);
    }
    rc |= table_flush(tab, f);
  }
  free(pairs);

  fprintf(f, "\nagreement (labeler vs auditor)\n");
  static const char *const coef_h[] = {"COEFFICIENT", "VALUE"};
  tab = output_table_new(2, coef_h);
  for (size_t i = 0; i < COEFFICIENT_COUNT; i++) {
    coef_text(daily_coefficient(t, coefficients[i].name), a, sizeof a);
    output_table_cell(tab, coefficients[i].title);
    output_table_cell(tab, a);
  }
  rc |= table_flush(tab, f);

  fprintf(f, "\naccuracy per labeler (audited agreement, 95%% Wilson interval)\n");
  if (s->labelers == NULL || s->labelers->row_count == 0) {
    fprintf(f, "no labels\n");
  } else {
    static const char *const h[] = {"LABELER", "LABELS", "AUDITS", "AGREED", "ACCURACY", "WILSON_95"};
    tab = output_table_new(6, h);
    for (size_t i = 0; i < s->labelers->row_count; i++) {
      const tally_report_row_t *row = &s->labelers->rows[i];
      pct_text((daily_value_t){row->accuracy_defined, row->accuracy}, a, sizeof a);
      interval_text(row->accuracy_defined, row->wilson_low, row->wilson_high, b, sizeof b);
      output_table_cell(tab, row->key);
      output_table_cellf(tab, "%llu", (unsigned long long)row->labels);
      output_table_cellf(tab, "%llu", (unsigned long long)row->audits);
      output_table_cellf(tab, "%llu", (unsigned long long)row->audit_agreed);
      output_table_cell(tab, a);
      output_table_cell(tab, b);
    }
    rc |= table_flush(tab, f);
  }

  n = daily_pairs(rep->confusion, rep->label_count, 1, &pairs);
  if (n < 0) return -1;
  uint64_t audits = matrix_sum(rep);
  size_t shown = shown_pairs(r, (size_t)n);
  fprintf(f, "\nmost confused pairs (%zu of %ld, share of %llu audits)\n", shown, n, (unsigned long long)audits);
  if (n == 0) {
    fprintf(f, "none\n");
  } else {
    static const char *const h[] = {"LABELER_LABEL", "AUDITOR_LABEL", "COUNT", "SHARE"};
    tab = output_table_new(4, h);
    for (size_t i = 0; i < shown; i++) {
      output_table_cell(tab, label_of(rep, pairs[i].row));
      output_table_cell(tab, label_of(rep, pairs[i].col));
      output_table_cellf(tab, "%llu", (unsigned long long)pairs[i].count);
      output_table_cellf(tab, "%.1f%%", audits ? 100.0 * (double)pairs[i].count / (double)audits : 0.0);
    }
    rc |= table_flush(tab, f);
  }
  free(pairs);

  fprintf(f, "\nerror attributions (%llu adjudications)\n", (unsigned long long)t->adjudications);
  static const char *const att_h[] = {"ATTRIBUTION", "COUNT"};
  tab = output_table_new(2, att_h);
  for (int i = 0; i < 4; i++) {
    output_table_cell(tab, i == 3 ? "policy-unclear" : attribution_keys[i]);
    output_table_cellf(tab, "%llu", (unsigned long long)attribution_count(t, i));
  }
  rc |= table_flush(tab, f);
  return rc ? -1 : 0;
}

int daily_write_table(FILE *f, const daily_report_t *r) {
  char day[32], prev[32], gen[40];
  day_text(r->day, day, sizeof day);
  day_text(r->day - 1, prev, sizeof prev);
  output_time(r->generated_ms, gen, sizeof gen);
  fprintf(f, "Daily quality report: project %s, %s (changes against %s)\ngenerated %s\n", r->project, day, prev,
          gen);
  if (r->workers_failed)
    fprintf(f, "WARNING: %u workers did not answer; the figures miss their data\n", r->workers_failed);
  int rc = 0;
  for (size_t i = 0; i < r->scope_count; i++) rc |= table_scope(f, r, &r->scopes[i]);
  return rc || ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------ CSV */

/* Numbers for spreadsheets: shortest exact-enough decimal. */
static void csv_num(FILE *f, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.10g", v == 0 ? 0.0 : v);
  output_csv_field(f, buf);
}

/* An undefined value is an empty cell (README: "empty in CSV"). */
static void csv_value(FILE *f, daily_value_t v) {
  if (v.defined) csv_num(f, v.value);
}

static void csv_begin(FILE *f, const char *section, const daily_scope_t *s, const char *key, const char *metric) {
  output_csv_field(f, section);
  fputc(',', f);
  output_csv_field(f, scope_key(s));
  fputc(',', f);
  output_csv_field(f, key);
  fputc(',', f);
  output_csv_field(f, metric);
  fputc(',', f);
}

/* A record with a value only (previous and change empty). */
static void csv_row(FILE *f, const char *section, const daily_scope_t *s, const char *key, const char *metric,
                    daily_value_t v) {
  csv_begin(f, section, s, key, metric);
  csv_value(f, v);
  fputs(",,", f);
  output_csv_end(f);
}

static daily_value_t defined_u64(uint64_t v) { return (daily_value_t){1, (double)v}; }

static int csv_pairs(FILE *f, const char *section, const daily_scope_t *s, const uint64_t *m, size_t limit,
                     int off_diagonal) {
  const tally_report_t *rep = s->today;
  daily_pair_t *pairs = NULL;
  long n = daily_pairs(m, rep->label_count, off_diagonal, &pairs);
  if (n < 0) return -1;
  size_t shown = limit && (size_t)n > limit ? limit : (size_t)n;
  for (size_t i = 0; i < shown; i++) {
    size_t len = strlen(label_of(rep, pairs[i].row)) + strlen(label_of(rep, pairs[i].col)) + 8;
    char *key = malloc(len);
    if (key == NULL) {
      free(pairs);
      return -1;
    }
    snprintf(key, len, "%s -> %s", label_of(rep, pairs[i].row), label_of(rep, pairs[i].col));
    csv_row(f, section, s, key, "count", defined_u64(pairs[i].count));
    free(key);
  }
  free(pairs);
  return 0;
}

int daily_write_csv(FILE *f, const daily_report_t *r) {
  static const char *const header[] = {"section", "market", "key", "metric", "value", "previous", "change"};
  for (size_t i = 0; i < 7; i++) {
    if (i) fputc(',', f);
    output_csv_field(f, header[i]);
  }
  output_csv_end(f);
  char day[32];
  day_text(r->day, day, sizeof day);
  for (size_t si = 0; si < r->scope_count; si++) {
    const daily_scope_t *s = &r->scopes[si];
    const tally_report_row_t *t = &s->today->total;
    for (int m = 0; m < DAILY_METRIC_COUNT; m++) {
      daily_value_t now = daily_metric(s->today, m), prev = daily_metric(s->previous, m);
      daily_value_t ch = daily_change(now, prev);
      csv_begin(f, "change", s, day, metric_names[m]);
      csv_value(f, now);
      fputc(',', f);
      csv_value(f, prev);
      fputc(',', f);
      if (ch.defined) csv_num(f, ch.value); /* undefined: empty, like every value */
      output_csv_end(f);
    }
    csv_row(f, "overview", s, "", "labels", defined_u64(t->labels));
    csv_row(f, "overview", s, "", "audits", defined_u64(t->audits));
    csv_row(f, "overview", s, "", "audit_agreed", defined_u64(t->audit_agreed));
    csv_row(f, "overview", s, "", "wilson_low", (daily_value_t){t->accuracy_defined, t->wilson_low});
    csv_row(f, "overview", s, "", "wilson_high", (daily_value_t){t->accuracy_defined, t->wilson_high});
    csv_row(f, "overview", s, "", "handling_p50_ms", defined_u64(t->handling_p50_ms));
    csv_row(f, "overview", s, "", "handling_p90_ms", defined_u64(t->handling_p90_ms));
    proportion_t g = gold_of(t);
    csv_row(f, "gold", s, "", "gold_hits", defined_u64(t->gold_hits));
    csv_row(f, "gold", s, "", "gold_total", defined_u64(t->gold_total));
    csv_row(f, "gold", s, "", "accuracy", (daily_value_t){g.defined, g.accuracy});
    csv_row(f, "gold", s, "", "wilson_low", (daily_value_t){g.defined, g.low});
    csv_row(f, "gold", s, "", "wilson_high", (daily_value_t){g.defined, g.high});
    for (size_t i = 0; i < COEFFICIENT_COUNT; i++)
      csv_row(f, "agreement", s, "", coefficients[i].name, daily_coefficient(t, coefficients[i].name));
    if (csv_pairs(f, "policy_unclear", s, s->today->policy_unclear, 0, 0) < 0) return -1;
    if (csv_pairs(f, "confused", s, s->today->confusion, r->top, 1) < 0) return -1;
    csv_row(f, "attribution", s, "", "adjudications", defined_u64(t->adjudications));
    for (int i = 0; i < 4; i++) csv_row(f, "attribution", s, "", attribution_keys[i], defined_u64(attribution_count(t, i)));
    for (size_t i = 0; s->labelers && i < s->labelers->row_count; i++) {
      const tally_report_row_t *row = &s->labelers->rows[i];
      csv_row(f, "labeler", s, row->key, "labels", defined_u64(row->labels));
      csv_row(f, "labeler", s, row->key, "audits", defined_u64(row->audits));
      csv_row(f, "labeler", s, row->key, "audit_agreed", defined_u64(row->audit_agreed));
      csv_row(f, "labeler", s, row->key, "accuracy", (daily_value_t){row->accuracy_defined, row->accuracy});
      csv_row(f, "labeler", s, row->key, "wilson_low", (daily_value_t){row->accuracy_defined, row->wilson_low});
      csv_row(f, "labeler", s, row->key, "wilson_high", (daily_value_t){row->accuracy_defined, row->wilson_high});
    }
  }
  return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------ JSON */

static json_t *jvalue(daily_value_t v) { return v.defined ? json_real(v.value) : json_null(); }

static json_t *jday(uint32_t day) {
  char buf[32];
  if (tally_day_format(day, buf, sizeof buf) < 0) return json_null();
  return json_string(buf);
}

static json_t *jpairs(const tally_report_t *rep, const uint64_t *m, size_t limit, int off_diagonal) {
  daily_pair_t *pairs = NULL;
  long n = daily_pairs(m, rep->label_count, off_diagonal, &pairs);
  if (n < 0) return NULL;
  size_t shown = limit && (size_t)n > limit ? limit : (size_t)n;
  json_t *a = json_array();
  for (size_t i = 0; a && i < shown; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "labeler_label", label_of(rep, pairs[i].row),
                                       "auditor_label", label_of(rep, pairs[i].col), "count",
                                       (json_int_t)pairs[i].count));
  free(pairs);
  return a;
}

static json_t *jmatrix(const uint64_t *m, size_t k) {
  json_t *rows = json_array();
  for (size_t i = 0; rows && i < k; i++) {
    json_t *row = json_array();
    for (size_t j = 0; row && j < k; j++) json_array_append_new(row, json_integer((json_int_t)(m ? m[i * k + j] : 0)));
    json_array_append_new(rows, row);
  }
  return rows;
}

static json_t *jscope(const daily_report_t *r, const daily_scope_t *s) {
  const tally_report_t *rep = s->today;
  const tally_report_row_t *t = &rep->total;
  json_t *o = json_object();
  if (o == NULL) return NULL;
  json_object_set_new(o, "market", s->market ? json_string(s->market) : json_null());
  json_t *change = json_object();
  for (int m = 0; m < DAILY_METRIC_COUNT; m++) {
    daily_value_t now = daily_metric(rep, m), prev = daily_metric(s->previous, m);
    json_object_set_new(change, metric_names[m],
                        json_pack("{s:o, s:o, s:o}", "value", jvalue(now), "previous", jvalue(prev), "change",
                                  jvalue(daily_change(now, prev))));
  }
  json_object_set_new(o, "change", change);
  json_object_set_new(o, "labels", json_integer((json_int_t)t->labels));
  json_object_set_new(o, "audits", json_integer((json_int_t)t->audits));
  json_object_set_new(o, "audit_agreed", json_integer((json_int_t)t->audit_agreed));
  json_object_set_new(o, "coverage", jvalue(daily_metric(rep, DAILY_COVERAGE)));
  json_object_set_new(o, "accuracy", jvalue(daily_metric(rep, DAILY_ACCURACY)));
  json_object_set_new(o, "wilson_low", jvalue((daily_value_t){t->accuracy_defined, t->wilson_low}));
  json_object_set_new(o, "wilson_high", jvalue((daily_value_t){t->accuracy_defined, t->wilson_high}));
  json_object_set_new(o, "handling_p50_ms", json_integer((json_int_t)t->handling_p50_ms));
  json_object_set_new(o, "handling_p90_ms", json_integer((json_int_t)t->handling_p90_ms));
  json_t *coef = json_object();
  for (size_t i = 0; i < COEFFICIENT_COUNT; i++)
    json_object_set_new(coef, coefficients[i].name, jvalue(daily_coefficient(t, coefficients[i].name)));
  json_object_set_new(o, "coefficients", coef);
  proportion_t g = gold_of(t);
  json_object_set_new(o, "gold",
                      json_pack("{s:I, s:I, s:o, s:o, s:o}", "hits", (json_int_t)t->gold_hits, "total",
                                (json_int_t)t->gold_total, "accuracy", jvalue((daily_value_t){g.defined, g.accuracy}),
                                "wilson_low", jvalue((daily_value_t){g.defined, g.low}), "wilson_high",
                                jvalue((daily_value_t){g.defined, g.high})));
  json_object_set_new(o, "policy_unclear_pairs", jpairs(rep, rep->policy_unclear, 0, 0));
  json_object_set_new(o, "confused_pairs", jpairs(rep, rep->confusion, r->top, 1));
  json_object_set_new(o, "labels_taxonomy", output_json_strings(rep->labels, rep->label_count));
  json_object_set_new(o, "confusion", jmatrix(rep->confusion, rep->label_count));
  json_t *att = json_object();
  json_object_set_new(att, "adjudications", json_integer((json_int_t)t->adjudications));
  for (int i = 0; i < 4; i++) json_object_set_new(att, attribution_keys[i], json_integer((json_int_t)attribution_count(t, i)));
  json_object_set_new(o, "attributions", att);
  json_t *labelers = json_array();
  for (size_t i = 0; s->labelers && i < s->labelers->row_count; i++) {
    const tally_report_row_t *row = &s->labelers->rows[i];
    json_array_append_new(
        labelers, json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "labeler", row->key ? row->key : "", "labels",
                            (json_int_t)row->labels, "audits", (json_int_t)row->audits, "audit_agreed",
                            (json_int_t)row->audit_agreed, "accuracy",
                            jvalue((daily_value_t){row->accuracy_defined, row->accuracy}), "wilson_low",
                            jvalue((daily_value_t){row->accuracy_defined, row->wilson_low}), "wilson_high",
                            jvalue((daily_value_t){row->accuracy_defined, row->wilson_high})));
  }
  json_object_set_new(o, "labelers", labelers);
  return o;
}

json_t *daily_json(const daily_report_t *r) {
  char gen[40];
  output_time(r->generated_ms, gen, sizeof gen);
  json_t *doc = json_pack("{s:s, s:o, s:o, s:s, s:I}", "project", r->project, "day", jday(r->day), "previous_day",
                          jday(r->day - 1), "generated", gen, "workers_failed", (json_int_t)r->workers_failed);
  if (doc == NULL) return NULL;
  json_t *scopes = json_array();
  for (size_t i = 0; scopes && i < r->scope_count; i++) json_array_append_new(scopes, jscope(r, &r->scopes[i]));
  if (json_object_set_new(doc, "scopes", scopes) < 0) {
    json_decref(doc);
    return NULL;
  }
  return doc;
}

/* ------------------------------------------------------------ HTML */

static const char html_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#111;margin:24px auto;"
    "max-width:1100px;padding:0 16px;line-height:1.4}\n"
    "h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.35em;border-bottom:2px solid #111;padding-bottom:4px;"
    "margin-top:40px}h3{font-size:1.05em;margin:22px 0 6px}\n"
    ".meta{color:#444;margin:0 0 12px}.howto{border:1px solid #999;padding:8px 12px;background:#f6f6f6;"
    "font-size:.92em}\n"
    "table{border-collapse:collapse;margin:4px 0 8px;font-size:.93em}th,td{border:1px solid #bbb;padding:3px 9px;"
    "text-align:left}th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".undef{color:#666;font-style:italic}.up{font-weight:bold}.down{font-weight:bold;text-decoration:underline}\n"
    ".policy{border:3px double #000;background:#fff4d6;padding:8px 14px;margin:14px 0}\n"
    ".policy h3{margin-top:4px}.policy h3::before{content:'\\26A0  '}\n"
    ".grid2{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}\n"
    ".warn{border:2px solid #000;padding:6px 10px;font-weight:bold}\n"
    "nav ul{margin:4px 0;padding-left:20px}\n"
    "svg.chart{display:block;font-size:12px;margin:4px 0 10px}svg .grid{stroke:#ccc;stroke-width:1}\n"
    "svg .bar{fill:#5b7fb5}svg .whisker{stroke:#000;stroke-width:1.6}svg .tick,svg .note{fill:#444}\n"
    "svg .nodata{fill:#666;font-style:italic}svg .cell{stroke:#fff;stroke-width:1}"
    "svg .cell.diag{stroke:#000;stroke-width:1.5}svg .axis{font-weight:bold}\n"
    "@media print{body{margin:0;max-width:none;color:#000;font-size:11pt}nav{display:none}"
    ".scope{break-before:page;page-break-before:always}"
    "th,.howto,.policy{background:none}svg .bar{fill:#888}svg .grid{stroke:#ddd}"
    "svg,table,.policy{break-inside:avoid;page-break-inside:avoid}h2,h3{break-after:avoid;page-break-after:avoid}"
    "a{color:#000;text-decoration:none}}\n"
    "td.drill code{font-size:.82em;white-space:pre-wrap;word-break:break-all;user-select:all}\n";

static void h_text(FILE *f, const char *s) { html_escape(f, s); }

static void h_cell(FILE *f, const char *text, int num) {
  int undef = strcmp(text, "undefined") == 0 || strcmp(text, "n/a") == 0;
  fprintf(f, "<td class=\"%s%s\">", num ? "num" : "", undef ? " undef" : "");
  html_escape(f, text);
  fputs("</td>", f);
}

/* One shell word: as is when it needs no quoting, else in single quotes
 * (a quote inside as '\''), into buf. */
static void shell_word(const char *s, char *buf, size_t size) {
  int plain = s[0] != '\0';
  for (const char *c = s; *c && plain; c++)
    plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("._-:/@%+=,", *c) != NULL;
  if (plain) {
    snprintf(buf, size, "%s", s);
    return;
  }
  size_t n = 0;
  if (n + 1 < size) buf[n++] = '\'';
  for (const char *c = s; *c; c++) {
    const char *piece = *c == '\'' ? "'\\''" : NULL;
    if (piece != NULL) {
      for (; *piece && n + 1 < size; piece++) buf[n++] = *piece;
    } else if (n + 1 < size) {
      buf[n++] = *c;
    }
  }
  if (n + 1 < size) buf[n++] = '\'';
  buf[n < size ? n : size - 1] = '\0';
}

/* The drill-down cell of a table row: the `tally report items` command
 * with the row's filters (the scope's day and market, plus `filter`:
 * options whose values the caller passes through shell_word), selectable
 * in one click, and the row's count in data-count (what the command lists
 * once every audit of the day is closed; tests run it). */
static void h_drill(FILE *f, const daily_report_t *r, const daily_scope_t *s, const char *filter, uint64_t count) {
  char day[16], project[600], market[600], cmd[4096];
  day_text(r->day, day, sizeof day);
  shell_word(r->project, project, sizeof project);
  market[0] = '\0';
  if (s->market) shell_word(s->market, market, sizeof market);
  snprintf(cmd, sizeof cmd, "tally report items --project %s --from %s --to %s%s%s%s%s", project, day, day,
           s->market ? " --market " : "", market, filter[0] ? " " : "", filter);
  fprintf(f, "<td class=\"drill\"><code data-count=\"%llu\">", (unsigned long long)count);
  html_escape(f, cmd);
  fputs("</code></td>", f);
}

/* `--pair A:B` (with `prefix` options before it) for cell (row, col). */
static void pair_filter(const tally_report_t *rep, const daily_pair_t *p, const char *prefix, char *buf, size_t size) {
  char pair[1200], word[1300];
  snprintf(pair, sizeof pair, "%s:%s", label_of(rep, p->row), label_of(rep, p->col));
  shell_word(pair, word, sizeof word);
  snprintf(buf, size, "%s--pair %s", prefix, word);
}

static void h_pairs_table(FILE *f, const daily_report_t *r, const daily_scope_t *s, const daily_pair_t *p, size_t n,
                          uint64_t audits, const char *prefix) {
  const tally_report_t *rep = s->today;
  fputs("<table><tr><th>labeler's label</th><th>auditor's label</th><th>count</th><th>share of audits</th>"
        "<th>drill-down</th></tr>\n",
        f);
  for (size_t i = 0; i < n; i++) {
    char c[32], sh[32];
    snprintf(c, sizeof c, "%llu", (unsigned long long)p[i].count);
    if (audits)
      snprintf(sh, sizeof sh, "%.1f%%", 100.0 * (double)p[i].count / (double)audits);
    else
      snprintf(sh, sizeof sh, "undefined");
    fputs("<tr>", f);
    h_cell(f, label_of(rep, p[i].row), 0);
    h_cell(f, label_of(rep, p[i].col), 0);
    h_cell(f, c, 1);
    h_cell(f, sh, 1);
    char filter[1400];
    pair_filter(rep, &p[i], prefix, filter, sizeof filter);
    h_drill(f, r, s, filter, p[i].count);
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
}

static int html_scope(FILE *f, const daily_report_t *r, const daily_scope_t *s, size_t index) {
  const tally_report_t *rep = s->today;
  const tally_report_row_t *t = &rep->total;
  char a[64], b[64], c[64];
  fprintf(f, "<section class=\"scope\" id=\"scope-%zu\">\n<h2>", index);
  if (s->market) {
    fputs("Market ", f);
    h_text(f, s->market);
  } else {
    fputs("Whole project", f);
  }
  fputs("</h2>\n", f);

  /* day over day */
  fputs("<h3>Today against the previous day</h3>\n<table><tr><th>metric</th><th>today</th><th>previous day</th>"
        "<th>change</th><th>drill-down (today's audits)</th></tr>\n",
        f);
  static const char *const titles[] = {"volume (labels)", "audit coverage (audits / labels)", "accuracy (audited)",
                                       "Cohen's kappa"};
  for (int m = 0; m < DAILY_METRIC_COUNT; m++) {
    daily_value_t now = daily_metric(rep, m), prev = daily_metric(s->previous, m), ch = daily_change(now, prev);
    metric_text(m, now, a, sizeof a);
    metric_text(m, prev, b, sizeof b);
    change_text(m, ch, c, sizeof c);
    fprintf(f, "<tr><td>%s</td>", titles[m]);
    h_cell(f, a, 1);
    h_cell(f, b, 1);
    int undef = !ch.defined;
    const char *cls = undef ? "num undef" : ch.value > 0 ? "num up" : ch.value < 0 ? "num down" : "num";
    fprintf(f, "<td class=\"%s\">%s", cls, ch.defined && ch.value > 0 ? "&#9650; " : ch.defined && ch.value < 0 ? "&#9660; " : "");
    html_escape(f, c);
    fputs("</td>", f);
    if (m == DAILY_VOLUME)
      fputs("<td class=\"undef\">labels are counted, not listed (tally report throughput)</td>", f);
    else
      h_drill(f, r, s, "", t->audits);
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
  interval_text(t->accuracy_defined, t->wilson_low, t->wilson_high, a, sizeof a);
  proportion_t g = gold_of(t);
  pct_text((daily_value_t){g.defined, g.accuracy}, b, sizeof b);
  interval_text(g.defined, g.low, g.high, c, sizeof c);
  fprintf(f,
          "<p>%llu audits of %llu labels; accuracy 95%% interval <b>%s</b>.<br>Gold items: %llu of %llu "
          "correct, gold accuracy <b>%s</b>%s%s.<br>",
          (unsigned long long)t->audits, (unsigned long long)t->labels, a, (unsigned long long)t->gold_hits,
          (unsigned long long)t->gold_total, b, g.defined ? ", 95% interval " : "", g.defined ? c : "");
  if (t->labels) {
    output_duration(t->handling_p50_ms, a, sizeof a);
    output_duration(t->handling_p90_ms, b, sizeof b);
    fprintf(f, "Handling time: median %s, 90th percentile %s.</p>\n", a, b);
  } else {
    fputs("Handling time: undefined (no labels).</p>\n", f);
  }

  /* policy unclear: prominent */
  daily_pair_t *pairs = NULL;
  long n = daily_pairs(rep->policy_unclear, rep->label_count, 0, &pairs);
  if (n < 0) return -1;
  fprintf(f,
          "<div class=\"policy\"><h3>Policy unclear: candidate gaps in the guidelines</h3>\n"
          "<p>%llu disagreement%s a lead attributed to an unclear policy. The pairs below are where the "
          "guidelines likely need a clarification or an example.</p>\n",
          (unsigned long long)t->attributed_policy, t->attributed_policy == 1 ? "" : "s");
  if (n == 0)
    fputs("<p><i>None today.</i></p>\n", f);
  else
    h_pairs_table(f, r, s, pairs, (size_t)n, matrix_sum(rep), "--attribution policy-unclear ");
  fputs("</div>\n", f);
  free(pairs);

  /* agreement */
  fputs("<div class=\"grid2\"><div><h3>Agreement, labeler vs auditor</h3>\n<table><tr><th>coefficient</th>"
        "<th>value</th><th>drill-down (the audits it is computed from)</th></tr>\n",
        f);
  for (size_t i = 0; i < COEFFICIENT_COUNT; i++) {
    coef_text(daily_coefficient(t, coefficients[i].name), a, sizeof a);
    fprintf(f, "<tr><td>%s</td>", coefficients[i].title);
    h_cell(f, a, 1);
    h_drill(f, r, s, "", t->audits);
    fputs("</tr>\n", f);
  }
  fputs("</table></div>\n", f);

  /* attributions */
  fprintf(f, "<div><h3>Error attributions (%llu adjudications)</h3>\n", (unsigned long long)t->adjudications);
  html_bar_t bars[4];
  char notes[4][32];
  static const char *const att_titles[] = {"labeler", "auditor", "both", "policy unclear"};
  for (int i = 0; i < 4; i++) {
    snprintf(notes[i], sizeof notes[i], "%llu", (unsigned long long)attribution_count(t, i));
    bars[i] = (html_bar_t){att_titles[i], 1, (double)attribution_count(t, i), 0, 0, 0, notes[i]};
  }
  html_svg_bars(f, "Error attributions", bars, 4, 0, 0);
  fputs("</div></div>\n", f);

  /* labelers */
  fputs("<h3>Accuracy per labeler (bar: audited accuracy; whisker: 95% Wilson interval)</h3>\n", f);
  size_t nl = s->labelers ? s->labelers->row_count : 0;
  if (nl == 0) {
    fputs("<p><i>No labels this day.</i></p>\n", f);
  } else {
    html_bar_t *lb = calloc(nl, sizeof *lb);
    char(*ln)[48] = calloc(nl, sizeof *ln);
    if (lb == NULL || ln == NULL) {
      free(lb);
      free(ln);
      return -1;
    }
    for (size_t i = 0; i < nl; i++) {
      const tally_report_row_t *row = &s->labelers->rows[i];
      snprintf(ln[i], sizeof ln[i], "%llu/%llu audits", (unsigned long long)row->audit_agreed,
               (unsigned long long)row->audits);
      lb[i] = (html_bar_t){row->key, row->accuracy_defined, row->accuracy, row->accuracy_defined, row->wilson_low,
                           row->wilson_high, ln[i]};
    }
    html_svg_bars(f, "Accuracy per labeler with 95% Wilson intervals", lb, nl, 1.0, 1);
    free(lb);
    free(ln);
    fputs("<table><tr><th>labeler</th><th>labels</th><th>audits</th><th>agreed</th><th>accuracy</th>"
          "<th>95% Wilson interval</th><th>drill-down (their audits)</th></tr>\n",
          f);
    for (size_t i = 0; i < nl; i++) {
      const tally_report_row_t *row = &s->labelers->rows[i];
      fputs("<tr>", f);
      h_cell(f, row->key ? row->key : "", 0);
      snprintf(a, sizeof a, "%llu", (unsigned long long)row->labels);
      h_cell(f, a, 1);
      snprintf(a, sizeof a, "%llu", (unsigned long long)row->audits);
      h_cell(f, a, 1);
      snprintf(a, sizeof a, "%llu", (unsigned long long)row->audit_agreed);
      h_cell(f, a, 1);
      pct_text((daily_value_t){row->accuracy_defined, row->accuracy}, a, sizeof a);
      h_cell(f, a, 1);
      interval_text(row->accuracy_defined, row->wilson_low, row->wilson_high, a, sizeof a);
      h_cell(f, a, 1);
      char who[600], filter[700];
      shell_word(row->key ? row->key : "", who, sizeof who);
      snprintf(filter, sizeof filter, "--labeler %s", who);
      h_drill(f, r, s, filter, row->audits);
      fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
  }

  /* confusion */
  uint64_t audits = matrix_sum(rep);
  fputs("<div class=\"grid2\"><div><h3>Confusion matrix</h3>\n", f);
  if (rep->label_count == 0 || audits == 0)
    fputs("<p><i>No audits this day.</i></p>\n", f);
  else
    html_svg_heatmap(f, "Confusion matrix: labeler's label by auditor's label", (const char *const *)rep->labels,
                     rep->label_count, rep->confusion, "labeler", "auditor");
  fputs("</div><div>\n", f);
  n = daily_pairs(rep->confusion, rep->label_count, 1, &pairs);
  if (n < 0) return -1;
  size_t shown = shown_pairs(r, (size_t)n);
  fprintf(f, "<h3>Most confused pairs (%zu of %ld)</h3>\n", shown, n);
  if (n == 0)
    fputs("<p><i>None.</i></p>\n", f);
  else
    h_pairs_table(f, r, s, pairs, shown, audits, "");
  free(pairs);
  fputs("</div></div>\n</section>\n", f);
  return 0;
}

int daily_write_html(FILE *f, const daily_report_t *r) {
  char day[32], prev[32], gen[40];
  day_text(r->day, day, sizeof day);
  day_text(r->day - 1, prev, sizeof prev);
  output_time(r->generated_ms, gen, sizeof gen);
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Daily quality report: ", f);
  html_escape(f, r->project);
  fprintf(f, ", %s</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>Daily quality inspection report</h1>\n",
          day, html_css);
  fputs("<p class=\"meta\">Project <b>", f);
  html_escape(f, r->project);
  fprintf(f, "</b> &middot; day <b>%s</b> (UTC; changes against %s) &middot; generated %s</p>\n", day, prev, gen);
  if (r->workers_failed)
    fprintf(f, "<p class=\"warn\">%u workers did not answer: the figures miss their data.</p>\n", r->workers_failed);
  fputs("<div class=\"howto\"><b>How to read the intervals.</b> Accuracy is the share of audited labels the "
        "blind auditor agreed with. The whisker around each bar is the 95% Wilson score interval: with few "
        "audits it is wide, and the true accuracy lies inside it in about 19 cases out of 20. Two labelers "
        "whose intervals overlap cannot be told apart on this day's audits alone. &ldquo;undefined&rdquo; "
        "means there was nothing to compute from (no audits, or an agreement coefficient whose chance "
        "agreement is 1); a change is &ldquo;n/a&rdquo; when either day is undefined. Coverage and accuracy "
        "changes are in percentage points (pp).<br><b>Drill-downs.</b> Each table row ends with the "
        "<code>tally report items</code> command that lists the audits behind it (click selects it; run it "
        "as a lead or manager): it lists as many as the row counts once the day's audits are closed (an audit "
        "waiting for a lead's verdict is counted here but listed when it closes; a policy-unclear pair is "
        "counted on the verdict's day, listed under its audit's day).</div>\n",
        f);
  fputs("<nav><ul>\n", f);
  for (size_t i = 0; i < r->scope_count; i++) {
    fprintf(f, "<li><a href=\"#scope-%zu\">", i);
    if (r->scopes[i].market) {
      fputs("Market ", f);
      html_escape(f, r->scopes[i].market);
    } else {
      fputs("Whole project", f);
    }
    fputs("</a></li>\n", f);
  }
  fputs("</ul></nav>\n</header>\n", f);
  int rc = 0;
  for (size_t i = 0; i < r->scope_count; i++) rc |= html_scope(f, r, &r->scopes[i], i);
  fputs("</body>\n</html>\n", f);
  return rc || ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------ command */

static const char daily_help[] =
    "Usage: tally report daily --project P [--day YYYY-MM-DD] [--format table|csv|json|html]\n"
    "                          [--out FILE] [--top N]\n\n"
    "The daily quality inspection report of project P, for the whole project and\n"
    "for each of its markets: volume (labels), audit coverage (audits / labels),\n"
    "accuracy per labeler with 95% Wilson intervals, agreement coefficients\n"
    "(percent agreement, Cohen's kappa, Scott's pi, Gwet's AC1, Krippendorff's\n"
    "alpha), the pairs leads attributed to an unclear policy (candidate gaps in\n"
    "the guidelines), the most confused category pairs, error attributions, gold\n"
    "accuracy, and the change against the previous day for volume, coverage,\n"
    "accuracy and kappa (\"n/a\" when either day is undefined).\n"
    "CSV is one long table: section,market,key,metric,value,previous,change\n"
    "(market \"all\" is the whole project); an undefined value or change is an\n"
    "empty cell. HTML is one self-contained file with\n"
    "inline CSS (also for print) and SVG charts; every table row ends with its\n"
    "drill-down, the `tally report items` command (day, market, and the row's\n"
    "labeler or label pair) that lists the audits behind it, as many as the\n"
    "row counts once they are closed.\n\n"
    "Options:\n"
    "  --project P     the project (required)\n"
    "  --day DAY       the day, YYYY-MM-DD (UTC; default today)\n"
    "  --format F      table (default), csv, json or html\n"
    "  --out FILE      write to FILE instead of standard output\n"
    "  --top N         most confused pairs to list per scope (default 10, 0 = all)\n";

enum { OPT_PROJECT = CLI_OPT_COMMAND, OPT_DAY, OPT_DFORMAT, OPT_OUT, OPT_TOP };
typedef enum { DAILY_TABLE, DAILY_CSV, DAILY_JSON, DAILY_HTML } daily_format_t;

int cmd_report_daily(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"day", required_argument, NULL, OPT_DAY},
                                          {"format", required_argument, NULL, OPT_DFORMAT},
                                          {"out", required_argument, NULL, OPT_OUT},
                                          {"top", required_argument, NULL, OPT_TOP},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "report daily";
  const char *project = NULL, *out = NULL;
  uint32_t day = (uint32_t)(time(NULL) / 86400);
  daily_format_t format = cli->format == OUTPUT_JSON ? DAILY_JSON : cli->format == OUTPUT_CSV ? DAILY_CSV : DAILY_TABLE;
  uint64_t top = 10;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: project = optarg[0] ? optarg : NULL; break;
      case OPT_DAY: rc = cli_parse_day(cli, cmd, "--day", optarg, &day); break;
      case OPT_OUT: out = optarg[0] ? optarg : NULL; break;
      case OPT_TOP:
        if (cli_parse_u64(optarg, 0, 1000000, &top) < 0)
          rc = cli_usage_error(cli, cmd, "bad --top '%s' (a number of pairs, 0 = all)", optarg);
        break;
      case OPT_DFORMAT:
        if (strcmp(optarg, "table") == 0)
          format = DAILY_TABLE;
        else if (strcmp(optarg, "csv") == 0)
          format = DAILY_CSV;
        else if (strcmp(optarg, "json") == 0)
          format = DAILY_JSON;
        else if (strcmp(optarg, "html") == 0)
          format = DAILY_HTML;
        else
          rc = cli_usage_error(cli, cmd, "unknown format '%s' (table, csv, json or html)", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, daily_help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc == CLI_PARSED && project == NULL) rc = cli_usage_error(cli, cmd, "missing --project");
  /* Day 0 is "no bound" in a report query: the day and the day before
   * must both be real bounds. */
  if (rc == CLI_PARSED && day < 2) rc = cli_usage_error(cli, cmd, "--day must be after 1970-01-02");
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;

  tally_project_t *proj = NULL;
  rc = tally_project_show(cli->client, project, &proj);
  if (rc < 0) return cli_fail(cli, "report daily: project show", rc);
  size_t nscopes = 1 + proj->market_count;
  daily_scope_t *scopes = calloc(nscopes, sizeof *scopes);
  tally_report_t **owned = calloc(nscopes * 3, sizeof *owned);
  int exit_code = CLI_EXIT_OK;
  uint32_t failed = 0;
  if (scopes == NULL || owned == NULL) {
    fprintf(cli->err, "tally: report daily: out of memory\n");
    exit_code = CLI_EXIT_FAILURE;
    goto done;
  }
  for (size_t i = 0; i < nscopes; i++) {
    const char *market = i == 0 ? NULL : proj->markets[i - 1];
    tally_report_query_t q = {.market = market, .from_day = day, .to_day = day, .by = TALLY_REPORT_BY_NONE};
    tally_report_query_t ql = q, qp = q;
    ql.by = TALLY_REPORT_BY_LABELER;
    qp.from_day = qp.to_day = day - 1;
    if ((rc = tally_report_quality(cli->client, project, &q, &owned[3 * i])) < 0 ||
        (rc = tally_report_quality(cli->client, project, &ql, &owned[3 * i + 1])) < 0 ||
        (rc = tally_report_quality(cli->client, project, &qp, &owned[3 * i + 2])) < 0) {
      exit_code = cli_fail(cli, "report daily", rc);
      goto done;
    }
    for (int j = 0; j < 3; j++)
      if (owned[3 * i + j]->workers_failed > failed) failed = owned[3 * i + j]->workers_failed;
    /* The labeler section lists labelers: a person's row there without
     * labels holds only their figures as auditor (accuracy against the
     * final label), which this report does not show. */
    tally_report_t *by_person = owned[3 * i + 1];
    size_t kept = 0;
    for (size_t r = 0; r < by_person->row_count; r++)
      if (by_person->rows[r].labels > 0 || by_person->rows[r].audits > 0) by_person->rows[kept++] = by_person->rows[r];
    by_person->row_count = kept;
    scopes[i] = (daily_scope_t){market, owned[3 * i], owned[3 * i + 2], owned[3 * i + 1]};
  }
  if (failed)
    fprintf(cli->err, "tally: warning: %u workers did not answer; the report misses their data\n", failed);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  daily_report_t report = {.project = proj->name,
                           .day = day,
                           .generated_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u,
                           .top = (size_t)top,
                           .scopes = scopes,
                           .scope_count = nscopes,
                           .workers_failed = failed};
  FILE *f = cli->out;
  if (out && (f = fopen(out, "w")) == NULL) {
    fprintf(cli->err, "tally: report daily: cannot write %s: %s\n", out, strerror(errno));
    exit_code = CLI_EXIT_FAILURE;
    goto done;
  }
  switch (format) {
    case DAILY_CSV: rc = daily_write_csv(f, &report); break;
    case DAILY_JSON: rc = output_json(daily_json(&report), f); break;
    case DAILY_HTML: rc = daily_write_html(f, &report); break;
    default: rc = daily_write_table(f, &report);
  }
  if (fflush(f) != 0) rc = -1;
  if (out && fclose(f) != 0) rc = -1;
  if (rc < 0) {
    fprintf(cli->err, "tally: report daily: cannot write the report%s%s\n", out ? " to " : "", out ? out : "");
    exit_code = CLI_EXIT_FAILURE;
  } else if (out) {
    fprintf(cli->err, "report written to %s\n", out);
  }
done:
  for (size_t i = 0; owned && i < nscopes * 3; i++) tally_free(owned[i]);
  free(owned);
  free(scopes);
  tally_free(proj);
  return exit_code;
}
