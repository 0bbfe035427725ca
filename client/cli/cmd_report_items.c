/* cmd_report_items: `tally report items` — the closed audits behind a cell
 * of the quality or confusion report (client/cli/drilldown.h).
 *
 * Filtering happens here, in the client, on the stream of `tally export
 * judgments`: the rows need the per-labeler attribution and the audit day,
 * which the client derives with the same rule as the workers' statistics,
 * so the protocol, the workers and the role table stay as they are (export
 * is already LEAD | MANAGER, and lists closed audits only). The cost is
 * that every closed audit of the project crosses the network once per
 * drill-down, page by page; nothing beyond one page and the matching rows
 * is held.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "drilldown.h"

static const char items_help[] =
    "Usage: tally report items --project P [--labeler X] [--pair A:B]\n"
    "                          [--attribution labeler|auditor|both|policy-unclear|none]\n"
    "                          [--market M] [--from DAY] [--to DAY] [--guideline V]\n\n"
    "The closed audits behind a cell of `tally report quality` or `tally report\n"
    "confusion`: one row per audited labeler of a closed item (the unit those\n"
    "reports count), with the item, market, day of the audit, labeler, the\n"
    "labeler's label, the auditor's label, the final label and the attribution\n"
    "counted for that labeler (none when they agreed with the auditor). The\n"
    "number of rows for --labeler X equals X's audits in the quality report,\n"
    "and for --pair A:B the confusion cell (labeler's label A, auditor's B),\n"
    "once every audit in scope is closed: an audit waiting for a lead's verdict\n"
    "is counted by the reports but listed here only when it closes.\n"
    "Read from the closed audits as `tally export judgments` (lead or manager).\n\n"
    "Options:\n"
    "  --project P        the project (required)\n"
    "  --labeler X        only audits of labeler X's labels\n"
    "  --pair A:B         only labeler's label A with auditor's label B\n"
    "  --attribution W    only audits attributed to W (none = agreed)\n"
    "  --market M         only market M\n"
    "  --from DAY         first day of the audit, YYYY-MM-DD (UTC), inclusive\n"
    "  --to DAY           last day of the audit, YYYY-MM-DD (UTC), inclusive\n"
    "  --guideline V      only audits submitted under guideline version V (a\n"
    "                     policy version number or a version's name): the row\n"
    "                     of `report quality --by version` they count in\n";

enum {
  OPT_PROJECT = CLI_OPT_COMMAND,
  OPT_LABELER,
  OPT_PAIR,
  OPT_ATTRIBUTION,
  OPT_MARKET,
  OPT_FROM,
  OPT_TO,
  OPT_GUIDELINE
};

typedef struct {
  const char *project;
  drilldown_filter_t filter;
  char *pair; /* strdup of --pair, split at ':' in place */
  const char *guideline; /* --guideline V: a version number or name, resolved after connecting */
} items_opts_t;

static int parse_attribution(const char *text, int *out) {
  if (strcasecmp(text, "none") == 0) {
    *out = TALLY_ATTRIBUTION_NONE;
    return 0;
  }
  tally_attribution_t a;
  if (tally_attribution_parse(text, &a) < 0) return -1;
  *out = (int)a;
  return 0;
}

/* "A:B" into the filter's pair (the last ':' splits, so A may hold one). */
static int parse_pair(items_opts_t *o, const char *text) {
  free(o->pair);
  o->pair = strdup(text);
  if (o->pair == NULL) return -1;
  char *colon = strrchr(o->pair, ':');
  if (colon == NULL || colon == o->pair || colon[1] == '\0') return -1;
  *colon = '\0';
  o->filter.labeler_label = o->pair;
  o->filter.auditor_label = colon + 1;
  return 0;
}

static int items_parse(cli_t *cli, int argc, char **argv, items_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"labeler", required_argument, NULL, OPT_LABELER},
                                          {"pair", required_argument, NULL, OPT_PAIR},
                                          {"attribution", required_argument, NULL, OPT_ATTRIBUTION},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"from", required_argument, NULL, OPT_FROM},
                                          {"to", required_argument, NULL, OPT_TO},
                                          {"guideline", required_argument, NULL, OPT_GUIDELINE},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "report items";
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_LABELER: o->filter.labeler = optarg[0] ? optarg : NULL; break;
      case OPT_PAIR:
        if (parse_pair(o, optarg) < 0) rc = cli_usage_error(cli, cmd, "bad --pair '%s' (LABELER_LABEL:AUDITOR_LABEL)", optarg);
        break;
      case OPT_ATTRIBUTION:
        if (parse_attribution(optarg, &o->filter.attribution) < 0)
          rc = cli_usage_error(cli, cmd, "bad --attribution '%s' (labeler, auditor, both, policy-unclear or none)",
                               optarg);
        break;
      case OPT_MARKET: o->filter.market = optarg[0] ? optarg : NULL; break;
      case OPT_FROM: rc = cli_parse_day(cli, cmd, "--from", optarg, &o->filter.from_day); break;
      case OPT_TO: rc = cli_parse_day(cli, cmd, "--to", optarg, &o->filter.to_day); break;
      case OPT_GUIDELINE: o->guideline = optarg; break;
      default: rc = cli_common_option(cli, cmd, items_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  if (o->filter.from_day && o->filter.to_day && o->filter.from_day > o->filter.to_day)
    return cli_usage_error(cli, cmd, "--from is after --to");
  return CLI_PARSED;
}

/* ------------------------------------------------------------ output */

static const char *const items_headers[] = {"item_id", "market", "day", "labeler", "labeler_label", "auditor_label",
                                            "final_label", "attribution"};
#define ITEMS_COLUMNS (sizeof items_headers / sizeof items_headers[0])

typedef struct {
  output_format_t format;
  output_table_t *table; /* table and csv */
  json_t *rows;          /* json */
  uint64_t count;
  int failed; /* out of memory */
} items_sink_t;

static int items_add(void *arg, const drilldown_row_t *r) {
  items_sink_t *sink = arg;
  char day[16];
  if (tally_day_format(r->day, day, sizeof day) < 0) snprintf(day, sizeof day, "%u", r->day);
  const char *attribution = tally_attribution_name((int)r->attribution);
  sink->count++;
  if (sink->format == OUTPUT_JSON) {
    json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "item_id", r->item_id, "market",
                            r->market, "day", day, "labeler", r->labeler, "labeler_label", r->labeler_label,
                            "auditor_label", r->auditor_label, "final_label", r->final_label, "attribution",
                            attribution, "closed_ms", (json_int_t)r->closed_ms);
    if (row == NULL || json_array_append_new(sink->rows, row) < 0) sink->failed = 1;
  } else {
    const char *cells[ITEMS_COLUMNS] = {r->item_id,       r->market,        day,           r->labeler,
                                        r->labeler_label, r->auditor_label, r->final_label, attribution};
    for (size_t i = 0; i < ITEMS_COLUMNS; i++)
      if (output_table_cell(sink->table, cells[i]) < 0) sink->failed = 1;
  }
  return sink->failed;
}

/* What the export callback needs: the filters and where rows go. */
typedef struct {
  const drilldown_filter_t *filter;
  items_sink_t *sink;
} items_run_t;

static int items_one_judgment(void *arg, const tally_judgment_t *j) {
  items_run_t *run = arg;
  return drilldown_rows(j, run->filter, items_add, run->sink);
}

static int items_print(cli_t *cli, const items_opts_t *o, items_sink_t *sink) {
  if (sink->format == OUTPUT_JSON) {
    const drilldown_filter_t *f = &o->filter;
    char from[16] = "", to[16] = "";
    if (f->from_day) tally_day_format(f->from_day, from, sizeof from);
    if (f->to_day) tally_day_format(f->to_day, to, sizeof to);
    json_t *filters = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "labeler", f->labeler ? json_string(f->labeler) : json_null(),
        "labeler_label", f->labeler_label ? json_string(f->labeler_label) : json_null(), "auditor_label",
        f->auditor_label ? json_string(f->auditor_label) : json_null(), "attribution",
        f->attribution == DRILLDOWN_ANY_ATTRIBUTION ? json_null() : json_string(tally_attribution_name(f->attribution)),
        "market", f->market ? json_string(f->market) : json_null(), "from", f->from_day ? json_string(from) : json_null(),
        "to", f->to_day ? json_string(to) : json_null());
    json_t *doc = json_pack("{s:s, s:o, s:I, s:O}", "project", o->project, "filters", filters, "count",
                            (json_int_t)sink->count, "items", sink->rows);
    return output_json(doc, cli->out);
  }
  if (output_table_print(sink->table, sink->format, cli->out) < 0) return -1;
  if (sink->format == OUTPUT_TABLE)
    fprintf(cli->out, "%llu audit%s\n", (unsigned long long)sink->count, sink->count == 1 ? "" : "s");
  return ferror(cli->out) ? -1 : 0;
}

int cmd_report_items(cli_t *cli, int argc, char **argv) {
  items_opts_t o;
  memset(&o, 0, sizeof o);
  drilldown_filter_init(&o.filter);
  int rc = items_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) {
    free(o.pair);
    return cli_parse_exit(rc);
  }
  if ((rc = cli_connect(cli)) != 0 ||
      (o.guideline != NULL &&
       (rc = guideline_resolve(cli, "report items", o.project, o.guideline, &o.filter.policy_version)) != 0)) {
    free(o.pair);
    return rc;
  }
  items_sink_t sink = {.format = cli->format};
  sink.table = output_table_new(ITEMS_COLUMNS, items_headers);
  sink.rows = json_array();
  if (sink.table == NULL || sink.rows == NULL) {
    fprintf(cli->err, "tally: report items: out of memory\n");
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  items_run_t run = {&o.filter, &sink};
  tally_export_summary_t summary;
  rc = tally_export_judgments(cli->client, o.project, 0, items_one_judgment, &run, &summary);
  if (rc > 0) {
    fprintf(cli->err, "tally: report items: out of memory\n");
    rc = CLI_EXIT_FAILURE;
  } else if (rc < 0) {
    rc = cli_fail(cli, "report items", rc);
  } else {
    rc = items_print(cli, &o, &sink) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  }
done:
  output_table_free(&sink.table);
  json_decref(sink.rows);
  free(o.pair);
  return rc;
}

