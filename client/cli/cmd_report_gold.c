/* cmd_report_gold: `tally report gold` — each person's accuracy on gold
 * items (README, "Gold items"): gold tasks answered, those equal to the
 * gold label, the share with its 95% Wilson interval. From the quality
 * report by labeler (the coordinator's sums over every worker). Gold work
 * counts nowhere else: not in labels, agreement, audits or throughput. */
#include <stdlib.h>
#include <string.h>

#include "agreement.h"
#include "cli.h"

static const char gold_help[] =
    "Usage: tally report gold --project P [--market M] [--from DAY] [--to DAY]\n\n"
    "Gold accuracy of project P per person: GOLD is the gold tasks they\n"
    "answered, HITS those whose label was the gold label, ACCURACY = HITS /\n"
    "GOLD with its 95% Wilson interval (LOW, HIGH); the last row, \"total\",\n"
    "covers everyone. Gold items are ingested with a gold_label and served at\n"
    "the project's gold rate (`tally audit-policy set --gold-rate`) in place\n"
    "of label tasks, each at most once per person, never shown as gold. Only\n"
    "people with a gold answer are listed. An undefined accuracy prints\n"
    "\"undefined\" in the table, an empty cell in CSV, null in JSON; a warning\n"
    "on stderr (workers_failed in JSON) says when workers did not answer.\n\n"
    "Options:\n"
    "  --project P   the project (required)\n"
    "  --market M    only market M\n"
    "  --from DAY    first day, YYYY-MM-DD (UTC), inclusive\n"
    "  --to DAY      last day, YYYY-MM-DD (UTC), inclusive\n";

enum { OPT_PROJECT = CLI_OPT_COMMAND, OPT_MARKET, OPT_FROM, OPT_TO };

static int gold_parse(cli_t *cli, int argc, char **argv, report_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"from", required_argument, NULL, OPT_FROM},
                                          {"to", required_argument, NULL, OPT_TO},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "report gold";
  memset(o, 0, sizeof *o);
  o->query.by = TALLY_REPORT_BY_LABELER;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_MARKET: o->query.market = optarg[0] ? optarg : NULL; break;
      case OPT_FROM: rc = cli_parse_day(cli, cmd, "--from", optarg, &o->query.from_day); break;
      case OPT_TO: rc = cli_parse_day(cli, cmd, "--to", optarg, &o->query.to_day); break;
      default: rc = cli_common_option(cli, cmd, gold_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project");
  if (o->query.from_day && o->query.to_day && o->query.from_day > o->query.to_day)
    return cli_usage_error(cli, cmd, "--from is after --to");
  return CLI_PARSED;
}

typedef struct {
  int defined;
  double value, low, high;
} gold_accuracy_t;

static gold_accuracy_t gold_accuracy(const tally_report_row_t *row) {
  gold_accuracy_t a = {0};
  if (row->gold_total > 0 && row->gold_hits <= row->gold_total &&
      agreement_wilson(row->gold_hits, row->gold_total, AGREEMENT_Z95, &a.low, &a.high) == 0) {
    a.defined = 1;
    a.value = (double)row->gold_hits / (double)row->gold_total;
  }
  return a;
}

static json_t *gold_row_json(const char *key, const tally_report_row_t *row) {
  gold_accuracy_t a = gold_accuracy(row);
  return json_pack("{s:s, s:I, s:I, s:o, s:o, s:o}", "labeler", key, "gold", (json_int_t)row->gold_total, "hits",
                   (json_int_t)row->gold_hits, "accuracy", a.defined ? json_real(a.value) : json_null(),
                   "wilson_low", a.defined ? json_real(a.low) : json_null(), "wilson_high",
                   a.defined ? json_real(a.high) : json_null());
}

static void gold_row_cells(output_table_t *t, int csv, const char *key, const tally_report_row_t *row) {
  gold_accuracy_t a = gold_accuracy(row);
  output_table_cell(t, key);
  output_table_cellf(t, "%llu", (unsigned long long)row->gold_total);
  output_table_cellf(t, "%llu", (unsigned long long)row->gold_hits);
  if (a.defined) {
    output_table_cellf(t, "%.4f", a.value);
    output_table_cellf(t, "%.4f", a.low);
    output_table_cellf(t, "%.4f", a.high);
  } else {
    for (int i = 0; i < 3; i++) output_table_cell(t, csv ? "" : "undefined");
  }
}

int report_gold_print(cli_t *cli, const report_opts_t *o, const tally_report_t *rep) {
  if (rep->workers_failed)
    fprintf(cli->err, "tally: warning: %u worker%s did not answer; the figures miss their data\n",
            rep->workers_failed, rep->workers_failed == 1 ? "" : "s");
  if (cli->format == OUTPUT_JSON) {
    json_t *rows = json_array();
    for (size_t i = 0; i < rep->row_count; i++)
      if (rep->rows[i].gold_total > 0) json_array_append_new(rows, gold_row_json(rep->rows[i].key, &rep->rows[i]));
    return output_json(json_pack("{s:s, s:o, s:o, s:I}", "project", o->project, "rows", rows, "total",
                                 gold_row_json("total", &rep->total), "workers_failed",
                                 (json_int_t)rep->workers_failed),
                       cli->out);
  }
  static const char *const headers[] = {"LABELER", "GOLD", "HITS", "ACCURACY", "LOW", "HIGH"};
  static const char *const csv_headers[] = {"labeler", "gold", "hits", "accuracy", "wilson_low", "wilson_high"};
  int csv = cli->format == OUTPUT_CSV;
  output_table_t *t = output_table_new(6, csv ? csv_headers : headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < rep->row_count; i++)
    if (rep->rows[i].gold_total > 0) gold_row_cells(t, csv, rep->rows[i].key, &rep->rows[i]);
  gold_row_cells(t, csv, "total", &rep->total);
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

int cmd_report_gold(cli_t *cli, int argc, char **argv) {
  report_opts_t o;
  int rc = gold_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_report_t *rep = NULL;
  rc = tally_report_quality(cli->client, o.project, &o.query, &rep);
  if (rc < 0) return cli_fail(cli, "report gold", rc);
  rc = report_gold_print(cli, &o, rep);
  tally_free(rep);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
