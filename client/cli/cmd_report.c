/* cmd_report: `tally report quality|confusion` — the quality figures of a
 * project as the coordinator computes them from the workers' statistics.
 *
 * An undefined figure (no audits, or a coefficient whose expected agreement
 * is 1) is never shown as a number: "undefined" in tables, an empty cell in
 * CSV, null in JSON. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char quality_help[] =
    "Usage: tally report quality --project P [--market M] [--from DAY] [--to DAY]\n"
    "                            [--by labeler|market|category|day|version]\n\n"
    "Quality of project P from the blind audits: per group (or for everything)\n"
    "labels, audits, audits agreed, agreement with the auditor (CSV and JSON:\n"
    "accuracy) with its Wilson interval; accuracy against the final label of\n"
    "the labelers (judged, accuracy, 95% Wilson interval) and of the auditors;\n"
    "gold hits/total, adjudications, who the leads attributed errors\n"
    "to (labeler/auditor/both/policy-unclear), median and 90th percentile\n"
    "handling time, then every agreement coefficient the coordinator computes\n"
    "(percent agreement, Cohen's kappa, Scott's pi, Krippendorff's alpha, ...),\n"
    "one column each. The last row, \"total\", covers every group.\n"
    "An undefined figure prints \"undefined\" in the table, an empty cell in CSV,\n"
    "null in JSON; a coefficient that does not apply to a row (sent for others\n"
    "only) prints \"-\" in the table, empty in CSV, and is absent in JSON.\n"
    "Accuracy against the final label: an audit judges the labeler and the\n"
    "auditor when it closes. On agreement both are right; after a verdict,\n"
    "whoever's label is not the lead's final label was wrong (\"both\": the lead\n"
    "chose a third label). A verdict attributed to an unclear policy judges\n"
    "nobody. An audit waiting for a verdict is not counted. `tally feedback`\n"
    "uses the same rule. With --by labeler, a person's row shows their accuracy\n"
    "as labeler and as auditor.\n"
    "--by category groups every column by the labeler's label: labels =\n"
    "audits = audited labels the labeler gave that category, agreed = those the\n"
    "auditor also gave it, accuracy = those judged right; the coefficients are\n"
    "one category against the rest over all audits. Auditor accuracy, gold,\n"
    "attributions and handling time are not kept per category (undefined, 0).\n"
    "Krippendorff's alpha is undefined (not 1) for a group whose pairs all\n"
    "use one category: with no variation to explain, agreement beyond chance\n"
    "cannot be measured (nltk would print 1.0).\n"
    "When workers did not answer, the figures miss their data:\n"
    "a warning says so on stderr (and workers_failed in JSON).\n\n"
    "Options:\n"
    "  --project P   the project (required)\n"
    "  --market M    only market M\n"
    "  --from DAY    first day, YYYY-MM-DD (UTC), inclusive\n"
    "  --to DAY      last day, YYYY-MM-DD (UTC), inclusive\n"
    "  --by G        one row per labeler, market, category (the labeler's\n"
    "                label), day, or policy version (the project's\n"
    "                policy_version when the statistic was counted: labels at\n"
    "                submit, audits when audited, accuracy when the audit\n"
    "                closed; `tally project guideline set` bumps it, audit\n"
    "                rates do not), to compare quality before and after a\n"
    "                guideline change\n";

static const char confusion_help[] =
    "Usage: tally report confusion --project P [--market M] [--from DAY] [--to DAY]\n"
    "                              [--top N]\n\n"
    "The confusion matrix of project P's audits: rows are the labeler's label,\n"
    "columns the auditor's label. Then the most confused pairs (off-diagonal\n"
    "cells, largest first, with their share of all audits) and the pairs the\n"
    "leads attributed to an unclear policy.\n"
    "CSV is one long table: section,labeler_label,auditor_label,count,share with\n"
    "section \"confusion\" (every cell), \"top\" (the confused pairs, largest\n"
    "first) and \"policy_unclear\" (its non-zero cells); share is empty when\n"
    "there are no audits.\n\n"
    "Options:\n"
    "  --project P   the project (required)\n"
    "  --market M    only market M\n"
    "  --from DAY    first day, YYYY-MM-DD (UTC), inclusive\n"
    "  --to DAY      last day, YYYY-MM-DD (UTC), inclusive\n"
    "  --top N       list the N most confused pairs (default 10, 0 = all)\n";

#define REPORT_DEFAULT_TOP 10u

enum { OPT_PROJECT = CLI_OPT_COMMAND, OPT_MARKET, OPT_FROM, OPT_TO, OPT_BY, OPT_TOP };

int report_parse(cli_t *cli, const char *command, int argc, char **argv, report_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"from", required_argument, NULL, OPT_FROM},
                                          {"to", required_argument, NULL, OPT_TO},
                                          {"by", required_argument, NULL, OPT_BY},
                                          {"top", required_argument, NULL, OPT_TOP},
                                          CLI_GLOBAL_OPTIONS};
  int quality = strcmp(command, "quality") == 0;
  const char *cmd = quality ? "report quality" : "report confusion";
  memset(o, 0, sizeof *o);
  o->top = REPORT_DEFAULT_TOP;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_MARKET: o->query.market = optarg[0] ? optarg : NULL; break;
      case OPT_FROM: rc = cli_parse_day(cli, cmd, "--from", optarg, &o->query.from_day); break;
      case OPT_TO: rc = cli_parse_day(cli, cmd, "--to", optarg, &o->query.to_day); break;
      case OPT_BY:
        if (!quality)
          rc = cli_usage_error(cli, cmd, "unknown option '--by'");
        else if (tally_report_by_parse(optarg, &o->query.by) < 0)
          rc = cli_usage_error(cli, cmd, "bad --by '%s' (labeler, market, category, day or version)", optarg);
        break;
      case OPT_TOP:
        if (quality)
          rc = cli_usage_error(cli, cmd, "unknown option '--top'");
        else if (cli_parse_u64(optarg, 0, 1000000, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --top '%s' (a number of pairs, 0 = all)", optarg);
        o->top = (size_t)n;
        break;
      default: rc = cli_common_option(cli, cmd, quality ? quality_help : confusion_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  if (o->query.from_day && o->query.to_day && o->query.from_day > o->query.to_day)
    return cli_usage_error(cli, cmd, "--from is after --to");
  return CLI_PARSED;
}

/* ------------------------------------------------------------ shared */

static void day_text(uint32_t day, char *buf, size_t size) {
  if (tally_day_format(day, buf, size) < 0) snprintf(buf, size, "day %u", day);
}

/* "all markets, all days" / "market es, 2026-11-01 to 2026-11-23" ... */
static void scope_text(const report_opts_t *o, char *buf, size_t size) {
  char from[32] = "", to[32] = "", days[80];
  if (o->query.from_day) day_text(o->query.from_day, from, sizeof from);
  if (o->query.to_day) day_text(o->query.to_day, to, sizeof to);
  if (o->query.from_day && o->query.to_day)
    snprintf(days, sizeof days, "%s to %s", from, to);
  else if (o->query.from_day)
    snprintf(days, sizeof days, "from %s", from);
  else if (o->query.to_day)
    snprintf(days, sizeof days, "until %s", to);
  else
    snprintf(days, sizeof days, "all days");
  if (o->query.market)
    snprintf(buf, size, "market %s, %s", o->query.market, days);
  else
    snprintf(buf, size, "all markets, %s", days);
}

static json_t *day_json(uint32_t day) {
  char buf[32];
  if (day == 0 || tally_day_format(day, buf, sizeof buf) < 0) return json_null();
  return json_string(buf);
}

/* The scope of the report as JSON members (project, market, from, to). */
static json_t *scope_json(const report_opts_t *o, const tally_report_t *rep) {
  return json_pack("{s:s, s:o, s:o, s:o, s:I, s:I}", "project", rep->project, "market",
                   o->query.market ? json_string(o->query.market) : json_null(), "from", day_json(o->query.from_day),
                   "to", day_json(o->query.to_day), "workers_answered", (json_int_t)rep->workers_answered,
                   "workers_failed", (json_int_t)rep->workers_failed);
}

static void warn_failed(cli_t *cli, const tally_report_t *rep) {
  if (rep->workers_failed == 0) return;
  fprintf(cli->err, "tally: warning: %u of %u workers did not answer; the report misses their data\n",
          rep->workers_failed, rep->workers_failed + rep->workers_answered);
}

/* A row key for people: days (with --by day) as dates when the coordinator
 * sends them as day numbers. */
static void key_text(const report_opts_t *o, const char *key, char *buf, size_t size) {
  uint64_t day = 0;
  if (o->query.by == TALLY_REPORT_BY_DAY && cli_parse_u64(key, 0, UINT32_MAX, &day) == 0 &&
      tally_day_format((uint32_t)day, buf, size) == 0)
    return;
  snprintf(buf, size, "%s", key);
}

/* ------------------------------------------------------------ quality */

/* Every coefficient name of the report, in order of first appearance. */
typedef struct {
  const char **names;
  char **headers; /* upper-case names for the table */
  size_t count;
} coefficient_columns_t;

static void columns_add_row(coefficient_columns_t *cols, const tally_report_row_t *row) {
  for (size_t i = 0; i < row->coefficient_count; i++) {
    size_t j = 0;
    while (j < cols->count && strcmp(cols->names[j], row->coefficients[i].name) != 0) j++;
    if (j == cols->count) cols->names[cols->count++] = row->coefficients[i].name;
  }
}

static int columns_collect(coefficient_columns_t *cols, const tally_report_t *rep) {
  size_t cap = rep->total.coefficient_count;
  for (size_t i = 0; i < rep->row_count; i++) cap += rep->rows[i].coefficient_count;
  memset(cols, 0, sizeof *cols);
  cols->names = calloc(cap ? cap : 1, sizeof *cols->names);
  if (cols->names == NULL) return -1;
  for (size_t i = 0; i < rep->row_count; i++) columns_add_row(cols, &rep->rows[i]);
  columns_add_row(cols, &rep->total);
  cols->headers = calloc(cols->count ? cols->count : 1, sizeof *cols->headers);
  if (cols->headers == NULL) return -1;
  for (size_t i = 0; i < cols->count; i++) {
    if ((cols->headers[i] = strdup(cols->names[i])) == NULL) return -1;
    for (char *p = cols->headers[i]; *p; p++)
      if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
  }
  return 0;
}

static void columns_free(coefficient_columns_t *cols) {
  for (size_t i = 0; cols->headers && i < cols->count; i++) free(cols->headers[i]);
  free(cols->headers);
  free(cols->names);
  memset(cols, 0, sizeof *cols);
}

static const tally_coefficient_t *row_coefficient(const tally_report_row_t *row, const char *name) {
  for (size_t i = 0; i < row->coefficient_count; i++)
    if (strcmp(row->coefficients[i].name, name) == 0) return &row->coefficients[i];
  return NULL;
}

/* AGREEMENT (CSV and JSON: accuracy, kept for compatibility) is agreement
 * with the auditor; ACCURACY and AUDITOR_ACCURACY are against the final
 * label (README, "Accuracy against the final label"). */
static const char *const quality_headers[] = {"KEY",          "LABELS",       "AUDITS",   "AGREED",
                                              "AGREEMENT",    "AGREE_LOW",    "AGREE_HIGH", "JUDGED",
                                              "ACCURACY",     "ACC_LOW",      "ACC_HIGH", "AUDITOR_JUDGED",
                                              "AUDITOR_ACCURACY", "AUD_LOW",  "AUD_HIGH", "GOLD",
                                              "ADJ",          "ATTR_L/A/B/P", "HANDLING_P50", "HANDLING_P90"};
static const char *const quality_csv_headers[] = {
    "key",           "labels",           "audits",           "audit_agreed",       "accuracy",
    "wilson_low",    "wilson_high",      "labeler_judged",   "labeler_correct",    "labeler_accuracy",
    "labeler_wilson_low", "labeler_wilson_high", "auditor_judged", "auditor_correct", "auditor_accuracy",
    "auditor_wilson_low", "auditor_wilson_high", "gold_hits",   "gold_total",         "adjudications",
    "attributed_labeler", "attributed_auditor", "attributed_both", "attributed_policy", "handling_p50_ms",
    "handling_p90_ms"};
#define QUALITY_TABLE_FIXED (sizeof quality_headers / sizeof quality_headers[0])
#define QUALITY_CSV_FIXED (sizeof quality_csv_headers / sizeof quality_csv_headers[0])

/* A number that may be undefined: table "0.912" / "undefined", CSV full
 * precision / empty. */
static void cell_number(output_table_t *t, int csv, int defined, double value) {
  if (!defined)
    output_table_cell(t, csv ? "" : "undefined");
  else
    output_table_cellf(t, csv ? "%.6g" : "%.3f", value);
}

/* Judged, (correct in CSV,) accuracy and its interval. */
static void cells_accuracy(output_table_t *t, int csv, const tally_accuracy_t *a) {
  output_table_cellf(t, "%llu", (unsigned long long)a->judged);
  if (csv) output_table_cellf(t, "%llu", (unsigned long long)a->correct);
  cell_number(t, csv, a->defined, a->value);
  cell_number(t, csv, a->defined, a->wilson_low);
  cell_number(t, csv, a->defined, a->wilson_high);
}

static void quality_row(output_table_t *t, int csv, const report_opts_t *o, const coefficient_columns_t *cols,
                        const tally_report_row_t *row, const char *key) {
  char text[256];
  if (key == NULL) key_text(o, row->key, text, sizeof text);
  output_table_cell(t, key ? key : text);
  output_table_cellf(t, "%llu", (unsigned long long)row->labels);
  output_table_cellf(t, "%llu", (unsigned long long)row->audits);
  output_table_cellf(t, "%llu", (unsigned long long)row->audit_agreed);
  cell_number(t, csv, row->accuracy_defined, row->accuracy);
  cell_number(t, csv, row->accuracy_defined, row->wilson_low);
  cell_number(t, csv, row->accuracy_defined, row->wilson_high);
  cells_accuracy(t, csv, &row->labeler_final);
  cells_accuracy(t, csv, &row->auditor_final);
  if (csv) {
    output_table_cellf(t, "%llu", (unsigned long long)row->gold_hits);
    output_table_cellf(t, "%llu", (unsigned long long)row->gold_total);
  } else {
    output_table_cellf(t, "%llu/%llu", (unsigned long long)row->gold_hits, (unsigned long long)row->gold_total);
  }
  output_table_cellf(t, "%llu", (unsigned long long)row->adjudications);
  if (csv) {
    output_table_cellf(t, "%llu", (unsigned long long)row->attributed_labeler);
    output_table_cellf(t, "%llu", (unsigned long long)row->attributed_auditor);
    output_table_cellf(t, "%llu", (unsigned long long)row->attributed_both);
    output_table_cellf(t, "%llu", (unsigned long long)row->attributed_policy);
    output_table_cellf(t, "%llu", (unsigned long long)row->handling_p50_ms);
    output_table_cellf(t, "%llu", (unsigned long long)row->handling_p90_ms);
  } else {
    char p50[32], p90[32];
    output_duration(row->handling_p50_ms, p50, sizeof p50);
    output_duration(row->handling_p90_ms, p90, sizeof p90);
    output_table_cellf(t, "%llu/%llu/%llu/%llu", (unsigned long long)row->attributed_labeler,
                       (unsigned long long)row->attributed_auditor, (unsigned long long)row->attributed_both,
                       (unsigned long long)row->attributed_policy);
    output_table_cell(t, p50);
    output_table_cell(t, p90);
  }
  for (size_t i = 0; i < cols->count; i++) {
    const tally_coefficient_t *c = row_coefficient(row, cols->names[i]);
    if (c == NULL)
      output_table_cell(t, csv ? "" : "-"); /* not computed for this row */
    else
      cell_number(t, csv, c->defined, c->value);
  }
}

static json_t *number_or_null(int defined, double value) { return defined ? json_real(value) : json_null(); }

static json_t *accuracy_json(const tally_accuracy_t *a) {
  return json_pack("{s:I, s:I, s:o, s:o, s:o}", "judged", (json_int_t)a->judged, "correct", (json_int_t)a->correct,
                   "accuracy", number_or_null(a->defined, a->value), "wilson_low",
                   number_or_null(a->defined, a->wilson_low), "wilson_high",
                   number_or_null(a->defined, a->wilson_high));
}

static json_t *quality_row_json(const report_opts_t *o, const tally_report_row_t *row, const char *key) {
  char text[256];
  if (key == NULL) key_text(o, row->key, text, sizeof text);
  json_t *coefficients = json_object();
  for (size_t i = 0; i < row->coefficient_count; i++)
    json_object_set_new(coefficients, row->coefficients[i].name,
                        number_or_null(row->coefficients[i].defined, row->coefficients[i].value));
  return json_pack(
      "{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:o}", "key",
      key ? key : text, "labels", (json_int_t)row->labels, "audits", (json_int_t)row->audits, "audit_agreed",
      (json_int_t)row->audit_agreed, "accuracy", number_or_null(row->accuracy_defined, row->accuracy), "wilson_low",
      number_or_null(row->accuracy_defined, row->wilson_low), "wilson_high",
      number_or_null(row->accuracy_defined, row->wilson_high), "labeler_final", accuracy_json(&row->labeler_final),
      "auditor_final", accuracy_json(&row->auditor_final), "gold_hits", (json_int_t)row->gold_hits,
      "gold_total", (json_int_t)row->gold_total, "adjudications", (json_int_t)row->adjudications, "attributed",
      "labeler", (json_int_t)row->attributed_labeler, "auditor", (json_int_t)row->attributed_auditor, "both",
      (json_int_t)row->attributed_both, "policy_unclear", (json_int_t)row->attributed_policy, "handling_p50_ms",
      (json_int_t)row->handling_p50_ms, "handling_p90_ms", (json_int_t)row->handling_p90_ms, "coefficients",
      coefficients);
}

/* Ungrouped, the rows repeat the total: show the total only. */
static size_t shown_rows(const report_opts_t *o, const tally_report_t *rep) {
  return o->query.by == TALLY_REPORT_BY_NONE ? 0 : rep->row_count;
}

static int quality_json(cli_t *cli, const report_opts_t *o, const tally_report_t *rep) {
  json_t *doc = scope_json(o, rep);
  json_t *rows = json_array();
  for (size_t i = 0; i < shown_rows(o, rep); i++) json_array_append_new(rows, quality_row_json(o, &rep->rows[i], NULL));
  json_object_set_new(doc, "by", json_string(tally_report_by_name(o->query.by)));
  json_object_set_new(doc, "labels", output_json_strings(rep->labels, rep->label_count));
  json_object_set_new(doc, "rows", rows);
  json_object_set_new(doc, "total", quality_row_json(o, &rep->total, "total"));
  return output_json(doc, cli->out);
}

int report_quality_print(cli_t *cli, const report_opts_t *o, const tally_report_t *rep) {
  warn_failed(cli, rep);
  if (cli->format == OUTPUT_JSON) return quality_json(cli, o, rep);
  int csv = cli->format == OUTPUT_CSV;
  coefficient_columns_t cols;
  const char **headers = NULL;
  output_table_t *t = NULL;
  int rc = -1;
  if (columns_collect(&cols, rep) < 0) goto done;
  size_t fixed = csv ? QUALITY_CSV_FIXED : QUALITY_TABLE_FIXED;
  headers = calloc(fixed + cols.count, sizeof *headers);
  if (headers == NULL) goto done;
  for (size_t i = 0; i < fixed; i++) headers[i] = csv ? quality_csv_headers[i] : quality_headers[i];
  for (size_t i = 0; i < cols.count; i++) headers[fixed + i] = csv ? cols.names[i] : cols.headers[i];
  if ((t = output_table_new(fixed + cols.count, headers)) == NULL) goto done;
  for (size_t i = 0; i < shown_rows(o, rep); i++) quality_row(t, csv, o, &cols, &rep->rows[i], NULL);
  quality_row(t, csv, o, &cols, &rep->total, "total");
  if (!csv) {
    char scope[160];
    scope_text(o, scope, sizeof scope);
    fprintf(cli->out, "quality of %s (%s)%s%s\n\n", rep->project, scope,
            o->query.by ? ", by " : "", o->query.by ? tally_report_by_name(o->query.by) : "");
  }
  rc = output_table_print(t, cli->format, cli->out);
done:
  output_table_free(&t);
  free(headers);
  columns_free(&cols);
  return rc;
}

/* ------------------------------------------------------------ confusion */

typedef struct {
  size_t labeler, auditor;
  uint64_t count;
} cell_t;

/* Largest first; ties in matrix order, so the listing is stable. */
static int cell_order(const void *pa, const void *pb) {
  const cell_t *a = pa, *b = pb;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  if (a->labeler != b->labeler) return a->labeler < b->labeler ? -1 : 1;
  return a->auditor < b->auditor ? -1 : a->auditor > b->auditor;
}

/* The non-zero cells of a K*K matrix (off-diagonal only if asked), sorted
 * largest first when `sort`. Returns the count or -1; *out malloc'ed. */
static long matrix_cells(const uint64_t *m, size_t k, int off_diagonal, int sort, cell_t **out) {
  *out = malloc((k ? k * k : 1) * sizeof **out);
  if (*out == NULL) return -1;
  size_t n = 0;
  for (size_t i = 0; m && i < k; i++)
    for (size_t j = 0; j < k; j++)
      if (m[i * k + j] && !(off_diagonal && i == j)) (*out)[n++] = (cell_t){i, j, m[i * k + j]};
  if (sort) qsort(*out, n, sizeof **out, cell_order);
  return (long)n;
}

static uint64_t matrix_sum(const uint64_t *m, size_t k) {
  uint64_t sum = 0;
  for (size_t i = 0; m && i < k * k; i++) sum += m[i];
  return sum;
}

static json_t *matrix_json(const uint64_t *m, size_t k) {
  json_t *rows = json_array();
  for (size_t i = 0; i < k; i++) {
    json_t *row = json_array();
    for (size_t j = 0; j < k; j++) json_array_append_new(row, json_integer((json_int_t)(m ? m[i * k + j] : 0)));
    json_array_append_new(rows, row);
  }
  return rows;
}

static json_t *pairs_json(const tally_report_t *rep, const cell_t *cells, size_t n, uint64_t audits) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:o}", "labeler_label", rep->labels[cells[i].labeler],
                                          "auditor_label", rep->labels[cells[i].auditor], "count",
                                          (json_int_t)cells[i].count, "share",
                                          audits ? json_real((double)cells[i].count / (double)audits) : json_null()));
  return list;
}

static void csv_cells(output_table_t *t, const char *section, const tally_report_t *rep, const cell_t *cells,
                      size_t n, uint64_t audits) {
  for (size_t i = 0; i < n; i++) {
    output_table_cell(t, section);
    output_table_cell(t, rep->labels[cells[i].labeler]);
    output_table_cell(t, rep->labels[cells[i].auditor]);
    output_table_cellf(t, "%llu", (unsigned long long)cells[i].count);
    if (audits)
      output_table_cellf(t, "%.6g", (double)cells[i].count / (double)audits);
    else
      output_table_cell(t, "");
  }
}

static int confusion_csv(cli_t *cli, const tally_report_t *rep, const cell_t *top, size_t ntop,
                         const cell_t *unclear, size_t nunclear, uint64_t audits) {
  static const char *const headers[] = {"section", "labeler_label", "auditor_label", "count", "share"};
  size_t k = rep->label_count;
  cell_t *all = malloc((k ? k * k : 1) * sizeof *all);
  output_table_t *t = output_table_new(5, headers);
  int rc = -1;
  if (all && t) {
    for (size_t i = 0; i < k; i++)
      for (size_t j = 0; j < k; j++) all[i * k + j] = (cell_t){i, j, rep->confusion ? rep->confusion[i * k + j] : 0};
    csv_cells(t, "confusion", rep, all, k * k, audits);
    csv_cells(t, "top", rep, top, ntop, audits);
    csv_cells(t, "policy_unclear", rep, unclear, nunclear, audits);
    rc = output_table_print(t, OUTPUT_CSV, cli->out);
  }
  output_table_free(&t);
  free(all);
  return rc;
}

/* The matrix as an aligned table with label names. */
static int matrix_table(cli_t *cli, const tally_report_t *rep) {
  size_t k = rep->label_count;
  const char **headers = calloc(k + 1, sizeof *headers);
  if (headers == NULL) return -1;
  headers[0] = "LABELER\\AUDITOR";
  for (size_t j = 0; j < k; j++) headers[j + 1] = rep->labels[j];
  output_table_t *t = output_table_new(k + 1, headers);
  int rc = -1;
  if (t) {
    for (size_t i = 0; i < k; i++) {
      output_table_cell(t, rep->labels[i]);
      for (size_t j = 0; j < k; j++) output_table_cellf(t, "%llu", (unsigned long long)rep->confusion[i * k + j]);
    }
    rc = output_table_print(t, OUTPUT_TABLE, cli->out);
  }
  output_table_free(&t);
  free(headers);
  return rc;
}

static int pairs_table(cli_t *cli, const tally_report_t *rep, const cell_t *cells, size_t n, uint64_t audits) {
  static const char *const headers[] = {"LABELER_LABEL", "AUDITOR_LABEL", "COUNT", "SHARE"};
  output_table_t *t = output_table_new(4, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < n; i++) {
    output_table_cell(t, rep->labels[cells[i].labeler]);
    output_table_cell(t, rep->labels[cells[i].auditor]);
    output_table_cellf(t, "%llu", (unsigned long long)cells[i].count);
    output_table_cellf(t, "%.1f%%", audits ? 100.0 * (double)cells[i].count / (double)audits : 0.0);
  }
  int rc = output_table_print(t, OUTPUT_TABLE, cli->out);
  output_table_free(&t);
  return rc;
}

static int confusion_text(cli_t *cli, const report_opts_t *o, const tally_report_t *rep, const cell_t *top,
                          size_t ntop, size_t nconfused, const cell_t *unclear, size_t nunclear, uint64_t audits) {
  FILE *f = cli->out;
  char scope[160];
  scope_text(o, scope, sizeof scope);
  fprintf(f, "confusion of %s (%s): %llu audits\n", rep->project, scope, (unsigned long long)audits);
  if (rep->label_count == 0) {
    fputs("the project has no labels\n", f);
    return 0;
  }
  fputs("rows: the labeler's label; columns: the auditor's label\n\n", f);
  if (matrix_table(cli, rep) < 0) return -1;
  if (ntop == nconfused)
    fprintf(f, "\nconfused pairs (%zu)\n", nconfused);
  else
    fprintf(f, "\nmost confused pairs (%zu of %zu)\n", ntop, nconfused);
  if (ntop == 0)
    fputs("none\n", f);
  else if (pairs_table(cli, rep, top, ntop, audits) < 0)
    return -1;
  fputs("\npolicy unclear (disagreements the leads attributed to the policy)\n", f);
  if (nunclear == 0) {
    fputs("none\n", f);
    return 0;
  }
  return pairs_table(cli, rep, unclear, nunclear, audits);
}

int report_confusion_print(cli_t *cli, const report_opts_t *o, const tally_report_t *rep) {
  warn_failed(cli, rep);
  size_t k = rep->label_count;
  uint64_t audits = matrix_sum(rep->confusion, k);
  cell_t *confused = NULL, *unclear = NULL;
  long nconfused = matrix_cells(rep->confusion, k, 1, 1, &confused);
  long nunclear = matrix_cells(rep->policy_unclear, k, 0, 1, &unclear);
  int rc = -1;
  if (nconfused < 0 || nunclear < 0) goto done;
  size_t ntop = o->top && (size_t)nconfused > o->top ? o->top : (size_t)nconfused;
  if (cli->format == OUTPUT_JSON) {
    json_t *doc = scope_json(o, rep);
    json_object_set_new(doc, "labels", output_json_strings(rep->labels, k));
    json_object_set_new(doc, "audits", json_integer((json_int_t)audits));
    json_object_set_new(doc, "confusion", matrix_json(rep->confusion, k));
    json_object_set_new(doc, "top_confused", pairs_json(rep, confused, ntop, audits));
    json_object_set_new(doc, "policy_unclear", matrix_json(rep->policy_unclear, k));
    json_object_set_new(doc, "policy_unclear_pairs", pairs_json(rep, unclear, (size_t)nunclear, audits));
    rc = output_json(doc, cli->out);
  } else if (cli->format == OUTPUT_CSV) {
    rc = confusion_csv(cli, rep, confused, ntop, unclear, (size_t)nunclear, audits);
  } else {
    rc = confusion_text(cli, o, rep, confused, ntop, (size_t)nconfused, unclear, (size_t)nunclear, audits);
  }
done:
  free(confused);
  free(unclear);
  return rc;
}

/* ------------------------------------------------------------ commands */

static int report_run(cli_t *cli, const char *command, int argc, char **argv) {
  report_opts_t o;
  int rc = report_parse(cli, command, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_report_t *rep = NULL;
  rc = tally_report_quality(cli->client, o.project, &o.query, &rep);
  char what[64];
  snprintf(what, sizeof what, "report %s", command);
  if (rc < 0) return cli_fail(cli, what, rc);
  if (strcmp(command, "quality") == 0)
    rc = report_quality_print(cli, &o, rep);
  else
    rc = report_confusion_print(cli, &o, rep);
  tally_free(rep);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int report_quality(cli_t *cli, int argc, char **argv) { return report_run(cli, "quality", argc, argv); }
static int report_confusion(cli_t *cli, int argc, char **argv) { return report_run(cli, "confusion", argc, argv); }

int cmd_report(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"quality", "accuracy, agreement coefficients, gold, attributions", report_quality},
      {"confusion", "labeler x auditor confusion matrix, confused pairs", report_confusion},
      {"gold", "each person's accuracy on gold items, with intervals", cmd_report_gold},
      {"items", "the closed audits behind a quality or confusion cell", cmd_report_items},
      {"throughput", "ingested, completed, handling time, abandonment, skips", cmd_report_throughput},
      {"backlog", "queue depth, top priority, oldest waiting item", cmd_report_backlog},
      {"sla", "items done, SLA breaches, turnaround", cmd_report_sla},
      {"capacity", "arrival, throughput per labeler-hour, labelers needed", cmd_report_capacity},
      {"ttfa", "time to first label and to decision per market and priority", cmd_report_ttfa},
      {"daily", "daily quality inspection report (table, csv, json, html)", cmd_report_daily},
      {"exposure", "high-severity items seen per person and shift, against the budget", cmd_report_exposure},
  };
  return cli_group(cli, "report", subs, sizeof subs / sizeof subs[0], argc, argv);
}
