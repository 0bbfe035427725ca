/* cmd_wellbeing: `tally wellbeing set|show` (a project's high-severity
 * labels, exposure budget and shift length) and `tally report exposure`
 * (high-severity items seen per person and shift, against the budget). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"

#define WELLBEING_MS_PER_HOUR 3600000ull
#define WELLBEING_DEFAULT_SHIFT_HOURS 8u

static const char set_help[] =
    "Usage: tally wellbeing set --project P [--high-severity a,b] [--exposure-budget N]\n"
    "                           [--shift-hours H]\n\n"
    "Changes how much harmful content one person may be shown per shift. Items\n"
    "whose category hint (given at ingest) or an earlier label is a high-severity\n"
    "label are not offered to a person who has seen N such items this shift;\n"
    "they get other work, or none. Leasing such an item counts at once (no\n"
    "refund on skip, release or expiry). Labelling an unhinted item with a\n"
    "high-severity label counts too and may go past the budget: the budget caps\n"
    "what is known when work is handed out. Options not given keep their value.\n"
    "The reply comes once every worker applies the change (at most 3 s).\n\n"
    "Options:\n"
    "  --project P          the project (required)\n"
    "  --high-severity a,b  labels harmful to see ('' for none)\n"
    "  --exposure-budget N  0..100000; 0 = no limit\n"
    "  --shift-hours H      1, 2, 3, 4, 6, 8, 12 or 24; shifts are UTC-aligned\n"
    "                       (shift = unix time / H hours)\n\n"
    "Counts are kept per worker: with W workers a person may see up to W x N.\n";

static const char show_help[] =
    "Usage: tally wellbeing show --project P\n\nShows a project's wellbeing settings.\n";

static const char exposure_help[] =
    "Usage: tally report exposure --project P [--day YYYY-MM-DD]\n\n"
    "High-severity items each person was shown, per shift: in the current shift,\n"
    "or in every shift of --day (UTC), with the budget and what remains. Every\n"
    "worker is asked and the counts are added.\n";

enum { OPT_PROJECT = CLI_OPT_COMMAND, OPT_HIGH, OPT_BUDGET, OPT_SHIFT, OPT_DAY };

void wellbeing_print_fields(cli_t *cli, const tally_project_t *p) {
  char *high = output_join(p->high_severity, p->high_severity_count, ", ");
  output_field(cli->out, "high severity:", "%s", high && high[0] ? high : "(none)");
  if (p->exposure_budget == 0)
    output_field(cli->out, "exposure budget:", "no limit");
  else
    output_field(cli->out, "exposure budget:", "%u per person per %u h shift", p->exposure_budget,
                 p->shift_hours ? p->shift_hours : WELLBEING_DEFAULT_SHIFT_HOURS);
  free(high);
}

static int print_settings(cli_t *cli, const tally_project_t *p) {
  if (cli->format == OUTPUT_JSON)
    return output_json(json_pack("{s:s, s:o, s:I, s:I}", "project", p->name, "high_severity",
                                 output_json_strings(p->high_severity, p->high_severity_count),
                                 "exposure_budget", (json_int_t)p->exposure_budget, "shift_hours",
                                 (json_int_t)p->shift_hours),
                       cli->out);
  if (cli->format == OUTPUT_CSV) {
    static const char *const headers[] = {"PROJECT", "HIGH_SEVERITY", "EXPOSURE_BUDGET", "SHIFT_HOURS"};
    output_table_t *t = output_table_new(4, headers);
    if (t == NULL) return -1;
    char *high = output_join(p->high_severity, p->high_severity_count, ",");
    output_table_cell(t, p->name);
    output_table_cell(t, high ? high : "");
    output_table_cellf(t, "%u", p->exposure_budget);
    output_table_cellf(t, "%u", p->shift_hours);
    free(high);
    int rc = output_table_print(t, cli->format, cli->out);
    output_table_free(&t);
    return rc;
  }
  output_field(cli->out, "project:", "%s", p->name);
  wellbeing_print_fields(cli, p);
  return 0;
}

typedef struct {
  const char *project;
  int set_high, set_budget, set_shift;
  char **high;
  size_t high_count;
  uint32_t budget, shift_hours;
  uint32_t day; /* report: 0 = the current shift */
  int has_day;
} wellbeing_opts_t;

static int parse(cli_t *cli, const char *cmd, const char *help, int which, int argc, char **argv,
                 wellbeing_opts_t *o) {
  static const struct option set_options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                              {"high-severity", required_argument, NULL, OPT_HIGH},
                                              {"exposure-budget", required_argument, NULL, OPT_BUDGET},
                                              {"shift-hours", required_argument, NULL, OPT_SHIFT},
                                              CLI_GLOBAL_OPTIONS};
  static const struct option show_options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                               CLI_GLOBAL_OPTIONS};
  static const struct option report_options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                                 {"day", required_argument, NULL, OPT_DAY},
                                                 CLI_GLOBAL_OPTIONS};
  const struct option *options = which == 0 ? set_options : which == 1 ? show_options : report_options;
  memset(o, 0, sizeof *o);
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_HIGH:
        cli_list_free(&o->high, &o->high_count);
        o->set_high = 1;
        if (optarg[0] != '\0' && cli_split_list(optarg, &o->high, &o->high_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --high-severity '%s' (comma-separated labels)", optarg);
        break;
      case OPT_BUDGET:
        o->set_budget = 1;
        if (cli_parse_u64(optarg, 0, 100000, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --exposure-budget '%s' (an integer from 0 to 100000)", optarg);
        o->budget = (uint32_t)n;
        break;
      case OPT_SHIFT:
        o->set_shift = 1;
        if (cli_parse_u64(optarg, 1, 24, &n) < 0 || 24 % n != 0)
          rc = cli_usage_error(cli, cmd, "bad --shift-hours '%s' (1, 2, 3, 4, 6, 8, 12 or 24)", optarg);
        o->shift_hours = (uint32_t)n;
        break;
      case OPT_DAY:
        o->has_day = 1;
        rc = cli_parse_day(cli, cmd, "--day", optarg, &o->day);
        break;
      default: rc = cli_common_option(cli, cmd, help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc == CLI_PARSED && o->project == NULL) rc = cli_usage_error(cli, cmd, "missing --project P");
  if (rc == CLI_PARSED && which == 0 && !o->set_high && !o->set_budget && !o->set_shift)
    rc = cli_usage_error(cli, cmd, "nothing to change: give --high-severity, --exposure-budget or --shift-hours");
  if (rc != CLI_PARSED) cli_list_free(&o->high, &o->high_count);
  return rc;
}

static int wellbeing_set(cli_t *cli, int argc, char **argv) {
  wellbeing_opts_t o;
  int rc = parse(cli, "wellbeing set", set_help, 0, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  tally_project_t *current = NULL, *updated = NULL;
  if ((rc = cli_connect(cli)) == 0) {
    rc = tally_project_show(cli->client, o.project, &current);
    if (rc == 0)
      rc = tally_wellbeing_set(cli->client, o.project,
                               o.set_high ? (const char **)o.high : current->high_severity,
                               o.set_high ? o.high_count : current->high_severity_count,
                               o.set_budget ? o.budget : current->exposure_budget,
                               o.set_shift ? o.shift_hours : current->shift_hours, &updated);
    rc = rc < 0 ? cli_fail(cli, "wellbeing set", rc) : print_settings(cli, updated) < 0 ? CLI_EXIT_FAILURE : 0;
  }
  tally_free(current);
  tally_free(updated);
  cli_list_free(&o.high, &o.high_count);
  return rc;
}

static int wellbeing_show(cli_t *cli, int argc, char **argv) {
  wellbeing_opts_t o;
  int rc = parse(cli, "wellbeing show", show_help, 1, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_t *p = NULL;
  rc = tally_project_show(cli->client, o.project, &p);
  if (rc < 0) return cli_fail(cli, "wellbeing show", rc);
  rc = print_settings(cli, p);
  tally_free(p);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_wellbeing(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"set", "change high-severity labels, exposure budget, shift length", wellbeing_set},
      {"show", "show a project's wellbeing settings", wellbeing_show},
  };
  return cli_group(cli, "wellbeing", subs, sizeof subs / sizeof subs[0], argc, argv);
}

/* ------------------------------------------------------------ report */

static int print_exposure(cli_t *cli, const tally_project_t *p, uint32_t hours, const tally_exposure_t *ex) {
  if (cli->format == OUTPUT_JSON) {
    json_t *rows = json_array();
    for (size_t i = 0; i < ex->count; i++) {
      const tally_exposure_row_t *r = &ex->rows[i];
      char start[32];
      output_time(r->shift * hours * WELLBEING_MS_PER_HOUR, start, sizeof start);
      json_t *row = json_pack("{s:s, s:I, s:s, s:I}", "labeler", r->labeler, "shift", (json_int_t)r->shift,
                              "shift_start", start, "exposed", (json_int_t)r->count);
      if (p->exposure_budget)
        json_object_set_new(row, "remaining",
                            json_integer(r->count >= p->exposure_budget ? 0 : p->exposure_budget - r->count));
      json_array_append_new(rows, row);
    }
    return output_json(json_pack("{s:s, s:I, s:I, s:o, s:I, s:I}", "project", p->name, "exposure_budget",
                                 (json_int_t)p->exposure_budget, "shift_hours", (json_int_t)hours, "rows", rows,
                                 "workers_answered", (json_int_t)ex->workers_answered, "workers_failed",
                                 (json_int_t)ex->workers_failed),
                       cli->out);
  }
  static const char *const headers[] = {"LABELER", "SHIFT_START", "EXPOSED", "BUDGET", "REMAINING"};
  output_table_t *t = output_table_new(5, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < ex->count; i++) {
    const tally_exposure_row_t *r = &ex->rows[i];
    char start[32];
    output_time(r->shift * hours * WELLBEING_MS_PER_HOUR, start, sizeof start);
    output_table_cell(t, r->labeler);
    output_table_cell(t, start);
    output_table_cellf(t, "%llu", (unsigned long long)r->count);
    if (p->exposure_budget) {
      output_table_cellf(t, "%u", p->exposure_budget);
      output_table_cellf(t, "%llu", (unsigned long long)(r->count >= p->exposure_budget ? 0
                                                                                         : p->exposure_budget - r->count));
    } else { /* no budget: no figure ("-"; an empty cell in CSV) */
      output_table_cell(t, cli->format == OUTPUT_CSV ? "" : "-");
      output_table_cell(t, cli->format == OUTPUT_CSV ? "" : "-");
    }
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  if (rc == 0 && ex->workers_failed > 0)
    fprintf(cli->err, "tally: warning: %u worker(s) did not answer; counts may be low\n", ex->workers_failed);
  return rc;
}

int cmd_report_exposure(cli_t *cli, int argc, char **argv) {
  wellbeing_opts_t o;
  int rc = parse(cli, "report exposure", exposure_help, 2, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_t *p = NULL;
  rc = tally_project_show(cli->client, o.project, &p);
  if (rc < 0) return cli_fail(cli, "report exposure", rc);
  uint32_t hours = p->shift_hours ? p->shift_hours : WELLBEING_DEFAULT_SHIFT_HOURS;
  uint64_t per_day = 24 / hours, from, to;
  if (o.has_day) {
    from = (uint64_t)o.day * per_day;
    to = from + per_day - 1;
  } else {
    from = to = clock_now_ms() / (hours * WELLBEING_MS_PER_HOUR);
  }
  tally_exposure_t *ex = NULL;
  rc = tally_exposure(cli->client, o.project, from, to, &ex);
  if (rc < 0) {
    tally_free(p);
    return cli_fail(cli, "report exposure", rc);
  }
  rc = print_exposure(cli, p, hours, ex);
  tally_free(ex);
  tally_free(p);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
