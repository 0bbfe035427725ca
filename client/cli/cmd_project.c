/* cmd_project: `tally project create|list|show`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PROJECT_DEFAULT_LEASE_SECONDS 300u
#define PROJECT_DEFAULT_AUDIT_RATE 0.1
#define PROJECT_DEFAULT_OVERLAP 1u
#define PROJECT_DEFAULT_SLA_SECONDS 86400u

static const char create_help[] =
    "Usage: tally project create NAME --labels a,b,c --markets es,ja [options]\n\n"
    "Creates a project: its policy taxonomy (labels, in order), the markets it\n"
    "serves, and how work is leased, overlapped and audited.\n\n"
    "Options:\n"
    "  --labels a,b,c       taxonomy (required)\n"
    "  --markets es,ja      markets (required)\n"
    "  --lease-seconds N    lease duration (default 300)\n"
    "  --audit-rate R       share of labeled items sampled for audit, 0..1 (default 0.1)\n"
    "  --overlap K          labels per item from distinct labelers, >= 1 (default 1)\n"
    "  --sla-seconds N      target time from ingest to done (default 86400)\n"
    "  --ordinal            the taxonomy order is meaningful (severity scale)\n"
    "  --high-severity a,b  labels harmful to see (wellbeing; must be in --labels)\n"
    "  --exposure-budget N  at most N high-severity items per person per shift\n"
    "                       (0 = no limit, the default; at most 100000)\n"
    "  --shift-hours H      shift length, a divisor of 24 (default 8); shifts are\n"
    "                       UTC-aligned (see `tally wellbeing`)\n";

static const char list_help[] =
    "Usage: tally project list\n\nLists all projects (table, json or csv).\n";

static const char show_help[] =
    "Usage: tally project show NAME\n\nShows one project, with its audit policy\n"
    "(see `tally audit-policy` to change it).\n";

enum {
  OPT_LABELS = CLI_OPT_COMMAND,
  OPT_MARKETS,
  OPT_LEASE,
  OPT_AUDIT,
  OPT_OVERLAP,
  OPT_SLA,
  OPT_ORDINAL,
  OPT_HIGH,
  OPT_BUDGET,
  OPT_SHIFT
};

void project_create_opts_free(project_create_opts_t *o) {
  cli_list_free(&o->labels, &o->label_count);
  cli_list_free(&o->markets, &o->market_count);
  cli_list_free(&o->high_severity, &o->high_severity_count);
}

int project_create_parse(cli_t *cli, int argc, char **argv, project_create_opts_t *o) {
  static const struct option options[] = {{"labels", required_argument, NULL, OPT_LABELS},
                                          {"markets", required_argument, NULL, OPT_MARKETS},
                                          {"lease-seconds", required_argument, NULL, OPT_LEASE},
                                          {"audit-rate", required_argument, NULL, OPT_AUDIT},
                                          {"overlap", required_argument, NULL, OPT_OVERLAP},
                                          {"sla-seconds", required_argument, NULL, OPT_SLA},
                                          {"ordinal", no_argument, NULL, OPT_ORDINAL},
                                          {"high-severity", required_argument, NULL, OPT_HIGH},
                                          {"exposure-budget", required_argument, NULL, OPT_BUDGET},
                                          {"shift-hours", required_argument, NULL, OPT_SHIFT},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "project create";
  memset(o, 0, sizeof *o);
  o->lease_seconds = PROJECT_DEFAULT_LEASE_SECONDS;
  o->audit_rate = PROJECT_DEFAULT_AUDIT_RATE;
  o->overlap = PROJECT_DEFAULT_OVERLAP;
  o->sla_seconds = PROJECT_DEFAULT_SLA_SECONDS;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_LABELS:
        cli_list_free(&o->labels, &o->label_count);
        if (cli_split_list(optarg, &o->labels, &o->label_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --labels '%s' (comma-separated, no empty names)", optarg);
        break;
      case OPT_MARKETS:
        cli_list_free(&o->markets, &o->market_count);
        if (cli_split_list(optarg, &o->markets, &o->market_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --markets '%s' (comma-separated, no empty names)", optarg);
        break;
      case OPT_LEASE:
        if (cli_parse_u64(optarg, 1, UINT32_MAX, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --lease-seconds '%s' (a positive integer)", optarg);
        o->lease_seconds = (uint32_t)n;
        break;
      case OPT_AUDIT:
        if (cli_parse_double(optarg, 0.0, 1.0, &o->audit_rate) < 0)
          rc = cli_usage_error(cli, cmd, "bad --audit-rate '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_OVERLAP:
        if (cli_parse_u64(optarg, 1, 1000, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --overlap '%s' (an integer from 1 to 1000)", optarg);
        o->overlap = (uint32_t)n;
        break;
      case OPT_SLA:
        if (cli_parse_u64(optarg, 1, UINT32_MAX, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --sla-seconds '%s' (a positive integer)", optarg);
        o->sla_seconds = (uint32_t)n;
        break;
      case OPT_ORDINAL:
        o->ordinal = 1;
        break;
      case OPT_HIGH:
        cli_list_free(&o->high_severity, &o->high_severity_count);
        if (cli_split_list(optarg, &o->high_severity, &o->high_severity_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --high-severity '%s' (comma-separated labels)", optarg);
        break;
      case OPT_BUDGET:
        if (cli_parse_u64(optarg, 0, 100000, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --exposure-budget '%s' (an integer from 0 to 100000)", optarg);
        o->exposure_budget = (uint32_t)n;
        break;
      case OPT_SHIFT:
        if (cli_parse_u64(optarg, 1, 24, &n) < 0 || 24 % n != 0)
          rc = cli_usage_error(cli, cmd, "bad --shift-hours '%s' (1, 2, 3, 4, 6, 8, 12 or 24)", optarg);
        o->shift_hours = (uint32_t)n;
        break;
      default:
        rc = cli_common_option(cli, cmd, create_help, c, argv);
    }
  }
  if (rc == CLI_PARSED) {
    if (optind >= argc)
      rc = cli_usage_error(cli, cmd, "missing project NAME");
    else if (optind + 1 < argc)
      rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
    else if (argv[optind][0] == '\0')
      rc = cli_usage_error(cli, cmd, "the project NAME is empty");
    else if (o->label_count == 0)
      rc = cli_usage_error(cli, cmd, "missing --labels");
    else if (o->market_count == 0)
      rc = cli_usage_error(cli, cmd, "missing --markets");
    else
      o->name = argv[optind];
  }
  if (rc != CLI_PARSED) project_create_opts_free(o);
  return rc;
}

/* ------------------------------------------------------------ output */

static json_t *audit_json(const tally_audit_policy_t *a) {
  json_t *markets = json_array();
  for (size_t i = 0; i < a->market_rate_count; i++)
    json_array_append_new(markets, json_pack("{s:s, s:f}", "market", a->market_rates[i].market, "rate",
                                             a->market_rates[i].rate));
  return json_pack("{s:f, s:o, s:f, s:I, s:f, s:f}", "rate", a->rate, "market_rates", markets, "ramp_rate",
                   a->ramp_rate, "ramp_audits", (json_int_t)a->ramp_audits, "ramp_target", a->ramp_target, "gold_rate",
                   a->gold_rate);
}

static json_t *project_json(const tally_project_t *p) {
  json_t *doc = json_pack("{s:I, s:s, s:o, s:o, s:I, s:f, s:I, s:I, s:b, s:I, s:I, s:o}", "id", (json_int_t)p->id, "name",
                   p->name, "labels", output_json_strings(p->labels, p->label_count), "markets",
                   output_json_strings(p->markets, p->market_count), "lease_seconds",
                   (json_int_t)p->lease_seconds, "audit_rate", p->audit_rate, "overlap", (json_int_t)p->overlap,
                   "sla_seconds", (json_int_t)p->sla_seconds, "ordinal", p->ordinal, "created_ms",
                   (json_int_t)p->created_ms, "policy_version", (json_int_t)p->policy_version, "audit",
                   audit_json(&p->audit));
  json_object_set_new(doc, "high_severity", output_json_strings(p->high_severity, p->high_severity_count));
  json_object_set_new(doc, "exposure_budget", json_integer(p->exposure_budget));
  json_object_set_new(doc, "shift_hours", json_integer(p->shift_hours));
  const tally_guideline_t *g = p->guideline_count ? &p->guidelines[p->guideline_count - 1] : NULL;
  json_object_set_new(doc, "guideline", g ? json_pack("{s:I, s:s, s:s}", "version", (json_int_t)g->version,
                                                      "name", g->name, "url", g->url)
                                          : json_null());
  return doc;
}

static const char *const project_headers[] = {"ID",     "NAME",       "LABELS",  "MARKETS", "LEASE_S",
                                              "AUDIT_RATE", "OVERLAP", "SLA_S",   "ORDINAL", "CREATED"};

static void project_row(output_table_t *t, const tally_project_t *p) {
  char *labels = output_join(p->labels, p->label_count, ",");
  char *markets = output_join(p->markets, p->market_count, ",");
  char created[32];
  output_time(p->created_ms, created, sizeof created);
  output_table_cellf(t, "%u", p->id);
  output_table_cell(t, p->name);
  output_table_cell(t, labels);
  output_table_cell(t, markets);
  output_table_cellf(t, "%u", p->lease_seconds);
  output_table_cellf(t, "%g", p->audit_rate);
  output_table_cellf(t, "%u", p->overlap);
  output_table_cellf(t, "%u", p->sla_seconds);
  output_table_cell(t, p->ordinal ? "yes" : "no");
  output_table_cell(t, created);
  free(labels);
  free(markets);
}

static int print_projects(cli_t *cli, const tally_project_t *projects, size_t count) {
  output_table_t *t = output_table_new(10, project_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < count; i++) project_row(t, &projects[i]);
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static int print_project(cli_t *cli, const tally_project_t *p) {
  if (cli->format == OUTPUT_JSON) return output_json(project_json(p), cli->out);
  if (cli->format == OUTPUT_CSV) return print_projects(cli, p, 1);
  char *labels = output_join(p->labels, p->label_count, ", ");
  char *markets = output_join(p->markets, p->market_count, ", ");
  char created[32];
  output_time(p->created_ms, created, sizeof created);
  output_field(cli->out, "name:", "%s", p->name);
  output_field(cli->out, "id:", "%u", p->id);
  output_field(cli->out, "labels:", "%s%s", labels ? labels : "", p->ordinal ? " (ordinal)" : "");
  output_field(cli->out, "markets:", "%s", markets ? markets : "");
  output_field(cli->out, "lease seconds:", "%u", p->lease_seconds);
  output_field(cli->out, "audit rate:", "%g (policy version %u)", p->audit_rate, p->policy_version);
  if (p->guideline_count > 0) {
    const tally_guideline_t *g = &p->guidelines[p->guideline_count - 1];
    output_field(cli->out, "guidelines:", "%s (policy version %u)%s%s", g->name, g->version,
                 g->url[0] ? ": " : "", g->url);
  }
  if (p->audit.market_rate_count > 0) {
    fprintf(cli->out, "%-16s", "market rates:");
    for (size_t i = 0; i < p->audit.market_rate_count; i++)
      fprintf(cli->out, "%s%s %g", i ? ", " : "", p->audit.market_rates[i].market, p->audit.market_rates[i].rate);
    fputc('\n', cli->out);
  }
  if (p->audit.ramp_rate > 0)
    output_field(cli->out, "ramp-up:", "rate %g until %u audits at accuracy >= %g", p->audit.ramp_rate,
                 p->audit.ramp_audits, p->audit.ramp_target);
  if (p->audit.gold_rate > 0) output_field(cli->out, "gold rate:", "%g", p->audit.gold_rate);
  output_field(cli->out, "overlap:", "%u", p->overlap);
  output_field(cli->out, "sla seconds:", "%u", p->sla_seconds);
  wellbeing_print_fields(cli, p);
  output_field(cli->out, "created:", "%s", created);
  free(labels);
  free(markets);
  return 0;
}

/* ------------------------------------------------------------ commands */

static int project_create(cli_t *cli, int argc, char **argv) {
  project_create_opts_t o;
  int rc = project_create_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) {
    project_create_opts_free(&o);
    return rc;
  }
  tally_project_t spec = {.name = o.name,
                          .labels = (const char **)o.labels,
                          .label_count = o.label_count,
                          .markets = (const char **)o.markets,
                          .market_count = o.market_count,
                          .lease_seconds = o.lease_seconds,
                          .audit_rate = o.audit_rate,
                          .overlap = o.overlap,
                          .sla_seconds = o.sla_seconds,
                          .ordinal = o.ordinal,
                          .high_severity = (const char **)o.high_severity,
                          .high_severity_count = o.high_severity_count,
                          .exposure_budget = o.exposure_budget,
                          .shift_hours = o.shift_hours};
  tally_project_t *created = NULL;
  rc = tally_project_create(cli->client, &spec, &created);
  project_create_opts_free(&o);
  if (rc < 0) return cli_fail(cli, "project create", rc);
  rc = print_project(cli, created);
  tally_free(created);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int project_list(cli_t *cli, int argc, char **argv) {
  int rc = cli_parse_positionals(cli, "project list", list_help, argc, argv, 0, "", NULL);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_list_t *list = NULL;
  rc = tally_project_list(cli->client, &list);
  if (rc < 0) return cli_fail(cli, "project list", rc);
  if (cli->format == OUTPUT_JSON) {
    json_t *projects = json_array();
    for (size_t i = 0; i < list->count; i++) json_array_append_new(projects, project_json(&list->projects[i]));
    rc = output_json(json_pack("{s:o}", "projects", projects), cli->out);
  } else {
    rc = print_projects(cli, list->projects, list->count);
  }
  tally_free(list);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int project_show(cli_t *cli, int argc, char **argv) {
  const char *name = NULL;
  int rc = cli_parse_positionals(cli, "project show", show_help, argc, argv, 1, "project NAME", &name);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_t *p = NULL;
  rc = tally_project_show(cli->client, name, &p);
  if (rc < 0) return cli_fail(cli, "project show", rc);
  rc = print_project(cli, p);
  tally_free(p);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_project(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"create", "create a project", project_create},
      {"list", "list projects", project_list},
      {"show", "show one project", project_show},
      {"guideline", "guideline versions: set, list", cmd_project_guideline},
  };
  return cli_group(cli, "project", subs, sizeof subs / sizeof subs[0], argc, argv);
}
