/* cmd_ops: `tally report throughput|backlog|sla|capacity|ttfa` — the operations
 * reports of a project as the coordinator computes them from every
 * worker's counters and queues.
 *
 * An undefined figure (a division by zero) is never shown as a number:
 * "undefined" in tables, an empty cell in CSV, null in JSON. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OPS_COMMON_OPTIONS                                                          \
  "Options:\n"                                                                      \
  "  --project P   the project (required)\n"                                        \
  "  --market M    only market M\n"                                                 \
  "  --from DAY    first day, YYYY-MM-DD (UTC), inclusive (default: first day\n"    \
  "                with data)\n"                                                    \
  "  --to DAY      last day, YYYY-MM-DD (UTC), inclusive (default: today)\n"

static const char throughput_help[] =
    "Usage: tally report throughput --project P [--market M] [--from DAY] [--to DAY]\n"
    "                               [--by market|stage|day]\n\n"
    "Work done in project P over the days D of the range: items ingested, leases\n"
    "granted, tasks completed (labels, audits and verdicts) and completed per day\n"
    "(completed / D), items done, median and 90th percentile handling time,\n"
    "labeler hours (handling time summed), leases expired and the abandonment\n"
    "rate (expired / leases), skips and the skip rate (skips / leases).\n"
    "The last row, \"total\", covers every group.\n\n" OPS_COMMON_OPTIONS
    "  --by G        one row per market, stage or day\n";

static const char backlog_help[] =
    "Usage: tally report backlog --project P [--market M] [--by market|stage]\n\n"
    "What waits now in project P's queues: depth (every stage), the highest\n"
    "priority waiting and the age of the oldest waiting item (the oldest among\n"
    "the heads of each queue's per-slot sub-queues: the oldest item of the\n"
    "highest priority of each slot).\n\n" OPS_COMMON_OPTIONS
    "  --by G        one row per market or stage\n";

static const char sla_help[] =
    "Usage: tally report sla --project P [--market M] [--from DAY] [--to DAY]\n"
    "                        [--by market|stage|day]\n\n"
    "Items of project P done in the range against the project's SLA (time from\n"
    "ingest to done): items done, SLA breaches (done later than sla_seconds\n"
    "after ingest), breach rate (breaches / items done), median and 90th\n"
    "percentile turnaround in hours (upper bound of the hour bucket:\n"
    "1,2,4,8,12,24,48,72,120,168 h). by stage: the stage of the item's last step.\n\n"
    OPS_COMMON_OPTIONS
    "  --by G        one row per market, stage or day\n";

static const char capacity_help[] =
    "Usage: tally report capacity --project P [--market M] [--from DAY] [--to DAY]\n"
    "                             [--by market|stage] [--shift-hours H]\n\n"
    "Staffing per market (default grouping) over the days D of the range:\n"
    "  backlog          queue depth now\n"
    "  arrival/day      ingested / D\n"
    "  completed/day    completed / D\n"
    "  per labeler-hour completed / (handling ms summed / 3,600,000)\n"
    "  days to clear    backlog / (completed / D), at the current staffing\n"
    "  labelers needed  ceil((backlog + arrival/day * SLA days) /\n"
    "                        (per labeler-hour * H * SLA days)),\n"
    "                   SLA days = the project's sla_seconds / 86400\n\n"
    OPS_COMMON_OPTIONS
    "  --by G        one row per market (default) or stage\n"
    "  --shift-hours H  hours a labeler works per shift (default 8)\n";

static const char ttfa_help[] =
    "Usage: tally report ttfa --project P [--market M] [--from DAY] [--to DAY]\n"
    "                         [--by market|stage|day]\n\n"
    "Time to first action in project P, one row per group (market by default)\n"
    "and item priority (low, normal, high, emergency):\n"
    "  labeled     items whose first label was submitted in the range\n"
    "  first label p50, p95, max   time from ingest to that first label\n"
    "  decided     items whose final decision fell in the range (done without\n"
    "              audit, on the auditor's agreement, or by a lead's verdict)\n"
    "  decision p50, p95, max      time from ingest to that decision\n"
    "A duration counts on the day (and in the stage) of its action. Every\n"
    "worker keeps a histogram per market, priority and day with fixed log-scale\n"
    "buckets (up to 1 s, then five per decade to 7.3 days); the coordinator\n"
    "adds them and reads p50 and p95 from the sum. p50 and p95 are therefore\n"
    "estimates at bucket resolution: from 1 s up within -21%/+26% of the true\n"
    "value, below 1 s within 1 s. max is exact (ms). A group with no first label\n"
    "or no decision shows \"-\" (an empty cell in CSV, null in JSON).\n"
    "The last rows, \"total\", cover every group, per priority. CSV durations\n"
    "are in ms.\n\n" OPS_COMMON_OPTIONS
    "  --by G        one row per market (default), stage or day, and priority\n";

enum { OPT_PROJECT = CLI_OPT_COMMAND, OPT_MARKET, OPT_FROM, OPT_TO, OPT_BY, OPT_SHIFT };

typedef struct {
  const char *kind;
  const char *project;
  tally_ops_query_t query;
} ops_opts_t;

static const char *ops_help(const char *kind) {
  if (strcmp(kind, "throughput") == 0) return throughput_help;
  if (strcmp(kind, "backlog") == 0) return backlog_help;
  if (strcmp(kind, "sla") == 0) return sla_help;
  if (strcmp(kind, "ttfa") == 0) return ttfa_help;
  return capacity_help;
}

static int ops_parse(cli_t *cli, const char *kind, int argc, char **argv, ops_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"from", required_argument, NULL, OPT_FROM},
                                          {"to", required_argument, NULL, OPT_TO},
                                          {"by", required_argument, NULL, OPT_BY},
                                          {"shift-hours", required_argument, NULL, OPT_SHIFT},
                                          CLI_GLOBAL_OPTIONS};
  char cmd[32];
  snprintf(cmd, sizeof cmd, "report %s", kind);
  int day_ok = strcmp(kind, "backlog") != 0 && strcmp(kind, "capacity") != 0;
  memset(o, 0, sizeof *o);
  o->kind = kind;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_MARKET: o->query.market = optarg[0] ? optarg : NULL; break;
      case OPT_FROM: rc = cli_parse_day(cli, cmd, "--from", optarg, &o->query.from_day); break;
      case OPT_TO: rc = cli_parse_day(cli, cmd, "--to", optarg, &o->query.to_day); break;
      case OPT_BY:
        if (strcmp(optarg, "market") == 0 || strcmp(optarg, "stage") == 0 ||
            (day_ok && strcmp(optarg, "day") == 0))
          o->query.by = optarg;
        else
          rc = cli_usage_error(cli, cmd, "bad --by '%s' (market, stage%s)", optarg,
                               day_ok ? " or day" : "");
        break;
      case OPT_SHIFT:
        if (strcmp(kind, "capacity") != 0)
          rc = cli_usage_error(cli, cmd, "unknown option '--shift-hours'");
        else if (cli_parse_double(optarg, 0.1, 24.0, &o->query.shift_hours) < 0)
          rc = cli_usage_error(cli, cmd, "bad --shift-hours '%s' (hours, 0.1 to 24)", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, ops_help(kind), c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  if (o->query.from_day && o->query.to_day && o->query.from_day > o->query.to_day)
    return cli_usage_error(cli, cmd, "--from is after --to");
  return CLI_PARSED;
}

/* ------------------------------------------------------------ columns */

typedef enum {
  COL_KEY, COL_INGESTED, COL_LEASES, COL_COMPLETED, COL_PER_DAY, COL_DONE, COL_P50, COL_P90,
  COL_HOURS, COL_EXPIRED, COL_ABANDON, COL_SKIPS, COL_SKIP_RATE, COL_BACKLOG, COL_TOP,
  COL_OLDEST, COL_BREACHES, COL_BREACH_RATE, COL_TURN50, COL_TURN90, COL_ARRIVAL,
  COL_THROUGHPUT, COL_CLEAR, COL_NEEDED
} column_t;

static const char *const column_names[] = {
    "group", "ingested", "leases", "completed", "completed/day", "done", "handling p50",
    "handling p90", "labeler hours", "expired", "abandonment", "skips", "skip rate", "backlog",
    "top priority", "oldest age", "breaches", "breach rate", "turnaround p50 h",
    "turnaround p90 h", "arrival/day", "per labeler-hour", "days to clear", "labelers needed"};

static const column_t throughput_columns[] = {COL_KEY,   COL_INGESTED, COL_LEASES,  COL_COMPLETED,
                                              COL_PER_DAY, COL_DONE,   COL_P50,     COL_P90,
                                              COL_HOURS, COL_EXPIRED,  COL_ABANDON, COL_SKIPS,
                                              COL_SKIP_RATE};
static const column_t backlog_columns[] = {COL_KEY, COL_BACKLOG, COL_TOP, COL_OLDEST};
static const column_t sla_columns[] = {COL_KEY,         COL_DONE,   COL_BREACHES,
                                       COL_BREACH_RATE, COL_TURN50, COL_TURN90};
static const column_t capacity_columns[] = {COL_KEY,     COL_BACKLOG,    COL_ARRIVAL,
                                            COL_PER_DAY, COL_THROUGHPUT, COL_CLEAR,
                                            COL_NEEDED};

static void columns_of(const char *kind, const column_t **cols, size_t *n) {
#define PICK(a) (*cols = (a), *n = sizeof(a) / sizeof(a)[0])
  if (strcmp(kind, "throughput") == 0)
    PICK(throughput_columns);
  else if (strcmp(kind, "backlog") == 0)
    PICK(backlog_columns);
  else if (strcmp(kind, "sla") == 0)
    PICK(sla_columns);
  else
    PICK(capacity_columns);
#undef PICK
}

/* Text of a figure: "undefined" (table) or "" (CSV) when undefined. */
static void figure_text(tally_figure_t f, const char *fmt, int csv, char *buf, size_t size) {
  if (!f.defined)
    snprintf(buf, size, "%s", csv ? "" : "undefined");
  else
    snprintf(buf, size, fmt, f.value);
}

static void cell_text(const tally_ops_row_t *r, column_t col, int csv, char *buf, size_t size) {
  switch (col) {
    case COL_KEY: snprintf(buf, size, "%s", r->key); break;
    case COL_INGESTED: snprintf(buf, size, "%llu", (unsigned long long)r->ingested); break;
    case COL_LEASES: snprintf(buf, size, "%llu", (unsigned long long)r->leases); break;
    case COL_COMPLETED: snprintf(buf, size, "%llu", (unsigned long long)r->completed); break;
    case COL_PER_DAY: figure_text(r->completed_per_day, "%.2f", csv, buf, size); break;
    case COL_DONE: snprintf(buf, size, "%llu", (unsigned long long)r->items_done); break;
    case COL_P50: figure_text(r->handling_p50_ms, "%.0fms", csv, buf, size); break;
    case COL_P90: figure_text(r->handling_p90_ms, "%.0fms", csv, buf, size); break;
    case COL_HOURS: snprintf(buf, size, "%.3f", r->labeler_hours); break;
    case COL_EXPIRED: snprintf(buf, size, "%llu", (unsigned long long)r->expired); break;
    case COL_ABANDON: figure_text(r->abandonment_rate, "%.4f", csv, buf, size); break;
    case COL_SKIPS: snprintf(buf, size, "%llu", (unsigned long long)r->skips); break;
    case COL_SKIP_RATE: figure_text(r->skip_rate, "%.4f", csv, buf, size); break;
    case COL_BACKLOG: snprintf(buf, size, "%llu", (unsigned long long)r->backlog); break;
    case COL_TOP: snprintf(buf, size, "%u", r->top_priority); break;
    case COL_OLDEST:
      if (!r->oldest_age_ms.defined)
        snprintf(buf, size, "%s", csv ? "" : "-");
      else if (csv)
        snprintf(buf, size, "%.0f", r->oldest_age_ms.value);
      else
        output_duration((uint64_t)r->oldest_age_ms.value, buf, size);
      break;
    case COL_BREACHES: snprintf(buf, size, "%llu", (unsigned long long)r->sla_breaches); break;
    case COL_BREACH_RATE: figure_text(r->breach_rate, "%.4f", csv, buf, size); break;
    case COL_TURN50: figure_text(r->turnaround_p50_hours, "%.0f", csv, buf, size); break;
    case COL_TURN90: figure_text(r->turnaround_p90_hours, "%.0f", csv, buf, size); break;
    case COL_ARRIVAL: figure_text(r->arrival_per_day, "%.2f", csv, buf, size); break;
    case COL_THROUGHPUT: figure_text(r->throughput_per_labeler_hour, "%.2f", csv, buf, size); break;
    case COL_CLEAR: figure_text(r->time_to_clear_days, "%.2f", csv, buf, size); break;
    case COL_NEEDED: figure_text(r->labelers_needed, "%.0f", csv, buf, size); break;
  }
}

/* ------------------------------------------------------------ JSON */

static json_t *figure_json(tally_figure_t f) { return f.defined ? json_real(f.value) : json_null(); }

static json_t *ttfa_json(const tally_ops_row_t *r) {
  json_t *list = json_array();
  for (size_t i = 0; list && i < r->ttfa_count; i++) {
    const tally_ttfa_t *t = &r->ttfa[i];
    json_array_append_new(
        list,
        json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "priority",
                  tally_priority_name(t->priority), "first_label_count",
                  (json_int_t)t->first_label_count, "first_label_p50_ms",
                  figure_json(t->first_label_p50_ms), "first_label_p95_ms",
                  figure_json(t->first_label_p95_ms), "first_label_max_ms",
                  t->first_label_count ? json_integer((json_int_t)t->first_label_max_ms)
                                       : json_null(),
                  "first_label_mean_ms", figure_json(t->first_label_mean_ms), "decision_count",
                  (json_int_t)t->decision_count, "decision_p50_ms",
                  figure_json(t->decision_p50_ms), "decision_p95_ms",
                  figure_json(t->decision_p95_ms), "decision_max_ms",
                  t->decision_count ? json_integer((json_int_t)t->decision_max_ms) : json_null(),
                  "decision_mean_ms", figure_json(t->decision_mean_ms)));
  }
  return list;
}

static json_t *row_json(const tally_ops_row_t *r) {
  json_t *doc = json_pack(
      "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:f, s:o, s:o, s:o, s:o, s:o, "
      "s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
      "key", r->key, "ingested", (json_int_t)r->ingested, "leases", (json_int_t)r->leases,
      "completed", (json_int_t)r->completed, "items_done", (json_int_t)r->items_done, "expired",
      (json_int_t)r->expired, "skips", (json_int_t)r->skips, "releases", (json_int_t)r->releases,
      "handling_ms_sum", (json_int_t)r->handling_ms_sum, "sla_breaches",
      (json_int_t)r->sla_breaches, "backlog", (json_int_t)r->backlog, "top_priority",
      (int)r->top_priority, "labeler_hours", r->labeler_hours, "handling_p50_ms",
      figure_json(r->handling_p50_ms), "handling_p90_ms", figure_json(r->handling_p90_ms),
      "completed_per_day", figure_json(r->completed_per_day), "abandonment_rate",
      figure_json(r->abandonment_rate), "skip_rate", figure_json(r->skip_rate), "breach_rate",
      figure_json(r->breach_rate), "turnaround_p50_hours", figure_json(r->turnaround_p50_hours),
      "turnaround_p90_hours", figure_json(r->turnaround_p90_hours), "oldest_age_ms",
      figure_json(r->oldest_age_ms), "arrival_per_day", figure_json(r->arrival_per_day),
      "throughput_per_labeler_hour", figure_json(r->throughput_per_labeler_hour),
      "time_to_clear_days", figure_json(r->time_to_clear_days), "labelers_needed",
      figure_json(r->labelers_needed));
  if (doc != NULL) json_object_set_new(doc, "ttfa", ttfa_json(r));
  return doc;
}

static json_t *day_json(uint32_t day) {
  char buf[16];
  if (tally_day_format(day, buf, sizeof buf) < 0) return json_null();
  return json_string(buf);
}

static int ops_json(cli_t *cli, const tally_ops_report_t *rep) {
  json_t *rows = json_array();
  for (size_t i = 0; rows && i < rep->row_count; i++) json_array_append_new(rows, row_json(&rep->rows[i]));
  json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:f, s:I, s:o, s:o, s:i, s:i}",
                          "project", rep->project, "kind", rep->kind, "by", rep->by, "from",
                          day_json(rep->from_day), "to", day_json(rep->to_day), "days",
                          (int)rep->days, "sla_seconds", (int)rep->sla_seconds, "shift_hours",
                          rep->shift_hours, "generated_ms", (json_int_t)rep->generated_ms,
                          "rows", rows, "total", row_json(&rep->total), "workers_answered",
                          (int)rep->workers_answered, "workers_failed", (int)rep->workers_failed);
  return output_json(doc, cli->out);
}

/* ------------------------------------------------------------ printing */

/* A duration cell of a ttfa row: "-" (table) or "" (CSV) when undefined;
 * ms in CSV; a readable duration in tables. */
static void ttfa_duration(tally_figure_t f, int csv, char *buf, size_t size) {
  if (!f.defined)
    snprintf(buf, size, "%s", csv ? "" : "-");
  else if (csv)
    snprintf(buf, size, "%.0f", f.value);
  else
    output_duration((uint64_t)(f.value + 0.5), buf, size);
}

static void ttfa_table_row(output_table_t *t, const char *key, const tally_ttfa_t *r, int csv) {
  char buf[64];
  output_table_cell(t, key);
  output_table_cell(t, tally_priority_name(r->priority));
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->first_label_count);
  output_table_cell(t, buf);
  ttfa_duration(r->first_label_p50_ms, csv, buf, sizeof buf);
  output_table_cell(t, buf);
  ttfa_duration(r->first_label_p95_ms, csv, buf, sizeof buf);
  output_table_cell(t, buf);
  ttfa_duration((tally_figure_t){r->first_label_count > 0, (double)r->first_label_max_ms}, csv,
                buf, sizeof buf);
  output_table_cell(t, buf);
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)r->decision_count);
  output_table_cell(t, buf);
  ttfa_duration(r->decision_p50_ms, csv, buf, sizeof buf);
  output_table_cell(t, buf);
  ttfa_duration(r->decision_p95_ms, csv, buf, sizeof buf);
  output_table_cell(t, buf);
  ttfa_duration((tally_figure_t){r->decision_count > 0, (double)r->decision_max_ms}, csv, buf,
                sizeof buf);
  output_table_cell(t, buf);
}

/* The ttfa table: one line per (group, priority), then the totals. */
static output_table_t *ttfa_table(const tally_ops_report_t *rep, int csv) {
  static const char *const headers[] = {"group",          "priority",       "labeled",
                                        "first label p50", "first label p95", "first label max",
                                        "decided",         "decision p50",   "decision p95",
                                        "decision max"};
  output_table_t *t = output_table_new(sizeof headers / sizeof headers[0], headers);
  if (t == NULL) return NULL;
  for (size_t r = 0; r < rep->row_count; r++)
    for (size_t i = 0; i < rep->rows[r].ttfa_count; i++)
      ttfa_table_row(t, rep->rows[r].key, &rep->rows[r].ttfa[i], csv);
  for (size_t i = 0; i < rep->total.ttfa_count; i++)
    ttfa_table_row(t, "total", &rep->total.ttfa[i], csv);
  return t;
}

static int ops_print(cli_t *cli, const tally_ops_report_t *rep) {
  if (rep->workers_failed > 0)
    fprintf(cli->err, "tally: warning: %u worker(s) did not answer; the figures miss their data\n",
            rep->workers_failed);
  if (cli->format == OUTPUT_JSON) return ops_json(cli, rep);
  int csv = cli->format == OUTPUT_CSV;
  int ttfa = strcmp(rep->kind, "ttfa") == 0;
  const column_t *cols;
  size_t n;
  columns_of(rep->kind, &cols, &n);
  const char *headers[32];
  for (size_t i = 0; i < n; i++) headers[i] = column_names[cols[i]];
  output_table_t *t = ttfa ? ttfa_table(rep, csv) : output_table_new(n, headers);
  if (t == NULL) return -1;
  char buf[64];
  for (size_t r = 0; !ttfa && r <= rep->row_count; r++) {
    const tally_ops_row_t *row = r < rep->row_count ? &rep->rows[r] : &rep->total;
    for (size_t i = 0; i < n; i++) {
      if (r == rep->row_count && cols[i] == COL_KEY)
        snprintf(buf, sizeof buf, "total");
      else
        cell_text(row, cols[i], csv, buf, sizeof buf);
      output_table_cell(t, buf);
    }
  }
  if (!csv) {
    char from[16] = "-", to[16] = "-";
    tally_day_format(rep->from_day, from, sizeof from);
    tally_day_format(rep->to_day, to, sizeof to);
    fprintf(cli->out, "%s report of %s, %s to %s (%u day%s)", rep->kind, rep->project, from, to,
            rep->days, rep->days == 1 ? "" : "s");
    if (strcmp(rep->kind, "capacity") == 0 || strcmp(rep->kind, "sla") == 0)
      fprintf(cli->out, ", SLA %us", rep->sla_seconds);
    if (strcmp(rep->kind, "capacity") == 0) fprintf(cli->out, ", %.1f h shifts", rep->shift_hours);
    fprintf(cli->out, "\n");
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static int ops_run(cli_t *cli, const char *kind, int argc, char **argv) {
  ops_opts_t o;
  int rc = ops_parse(cli, kind, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_ops_report_t *rep = NULL;
  rc = tally_report_ops(cli->client, o.project, kind, &o.query, &rep);
  char what[64];
  snprintf(what, sizeof what, "report %s", kind);
  if (rc < 0) return cli_fail(cli, what, rc);
  rc = ops_print(cli, rep);
  tally_free(rep);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_report_throughput(cli_t *cli, int argc, char **argv) { return ops_run(cli, "throughput", argc, argv); }
int cmd_report_backlog(cli_t *cli, int argc, char **argv) { return ops_run(cli, "backlog", argc, argv); }
int cmd_report_sla(cli_t *cli, int argc, char **argv) { return ops_run(cli, "sla", argc, argv); }
int cmd_report_capacity(cli_t *cli, int argc, char **argv) { return ops_run(cli, "capacity", argc, argv); }
int cmd_report_ttfa(cli_t *cli, int argc, char **argv) { return ops_run(cli, "ttfa", argc, argv); }
