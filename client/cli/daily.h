/* daily: `tally report daily` — the daily quality inspection report of a
 * project, built in the client from tally_report_quality() calls: for the
 * whole project and per market, volume, audit coverage, labeler accuracy
 * with Wilson intervals, agreement coefficients, the most confused category
 * pairs, the pairs leads attributed to an unclear policy (candidate gaps in
 * the guidelines), error attributions, gold accuracy and the change against
 * the previous day.
 *
 * The writers work on a daily_report_t of borrowed tally_report_t's, so
 * tests can build one in memory. Undefined figures are "undefined" (table,
 * HTML, CSV value cells) or null (JSON); a change is "n/a" (null in JSON)
 * when either side is undefined.
 */
#ifndef TALLY_CLIENT_DAILY_H
#define TALLY_CLIENT_DAILY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "tally.h"

/* The report of one scope: the whole project (market NULL) or one market. */
typedef struct {
  const char *market;             /* NULL: the whole project */
  const tally_report_t *today;    /* ungrouped, the day */
  const tally_report_t *previous; /* ungrouped, the day before; NULL: none */
  const tally_report_t *labelers; /* by labeler, the day; NULL: none */
} daily_scope_t;

typedef struct {
  const char *project;
  uint32_t day;          /* days since 1970-01-01 */
  uint64_t generated_ms; /* unix ms */
  size_t top;            /* most confused pairs to list per scope (0 = all) */
  const daily_scope_t *scopes; /* whole project first, then the markets */
  size_t scope_count;
  uint32_t workers_failed; /* > 0: some figures miss data */
} daily_report_t;

/* A figure that may be undefined. */
typedef struct {
  int defined;
  double value;
} daily_value_t;

/* The day-over-day metrics. */
enum { DAILY_VOLUME = 0, DAILY_COVERAGE, DAILY_ACCURACY, DAILY_KAPPA, DAILY_METRIC_COUNT };

/* "volume", "coverage", "accuracy", "cohen_kappa". */
const char *daily_metric_name(int metric);

/* Metric `metric` of an ungrouped report (NULL: undefined). Coverage is
 * audits/labels (undefined without labels). */
daily_value_t daily_metric(const tally_report_t *rep, int metric);

/* The named coefficient of a row (undefined when absent or undefined). */
daily_value_t daily_coefficient(const tally_report_row_t *row, const char *name);

/* today - previous; undefined when either is. */
daily_value_t daily_change(daily_value_t today, daily_value_t previous);

/* One cell of a K*K matrix. */
typedef struct {
  size_t row, col; /* labeler's label, auditor's label */
  uint64_t count;
} daily_pair_t;

/* Non-zero cells of matrix m (K*K; off the diagonal only when
 * off_diagonal), largest first (ties: row, then column), into *out
 * (malloc'ed, caller frees). Returns the count or -1 (out of memory). */
long daily_pairs(const uint64_t *m, size_t k, int off_diagonal, daily_pair_t **out);

/* Writers. Return 0 or -1 (write error or out of memory). */
int daily_write_table(FILE *f, const daily_report_t *r);
/* section,market,key,metric,value,previous,change (RFC 4180, CRLF). */
int daily_write_csv(FILE *f, const daily_report_t *r);
/* One JSON document (new reference; NULL when out of memory). */
json_t *daily_json(const daily_report_t *r);
/* One self-contained HTML document: inline CSS and SVG, nothing external. */
int daily_write_html(FILE *f, const daily_report_t *r);

/* The `tally report daily` command (a subcommand of `tally report`). */
int cmd_report_daily(cli_t *cli, int argc, char **argv);

#endif
