/* cmd_audit: `tally audit-policy show|set` — how a project samples labels
 * for blind audit. `set` reads the current policy, applies the options and
 * sends the whole policy back (the protocol replaces policies whole); two
 * managers setting at the same moment can overwrite each other's change. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char show_help[] =
    "Usage: tally audit-policy show --project P\n\n"
    "Shows the audit policy of project P: the base audit rate, the rate of each\n"
    "market that has its own, the ramp-up of new labelers, and the policy\n"
    "version (bumped on every change; statistics are kept per version).\n"
    "CSV has one row per market rate (policy columns repeated; market empty\n"
    "when there is none).\n\n"
    "Options:\n"
    "  --project P   the project (required)\n";

static const char set_help[] =
    "Usage: tally audit-policy set --project P [--rate R] [--market M=R]...\n"
    "                              [--clear-markets] [--drop-market M]...\n"
    "                              [--ramp-rate R] [--ramp-audits N] [--ramp-target A]\n"
    "                              [--gold-rate G]\n\n"
    "Changes the audit policy of project P: reads the current policy, applies\n"
    "the options, sends the whole policy and prints the result. Every change\n"
    "starts a new policy version. Rates and the target are numbers from 0 to 1.\n\n"
    "Options:\n"
    "  --project P        the project (required)\n"
    "  --rate R           base audit rate: share of labels sampled for audit\n"
    "  --market M=R       audit rate of market M, overriding the base rate\n"
    "                     (repeatable; the last one for a market wins)\n"
    "  --clear-markets    drop every market rate first (then --market applies)\n"
    "  --drop-market M    drop market M's rate (it falls back to the base rate)\n"
    "  --ramp-rate R      rate for labelers still ramping up (0 = no ramp-up)\n"
    "  --ramp-audits N    audits a labeler needs to finish ramping up\n"
    "  --ramp-target A    audited accuracy a labeler needs to finish ramping up\n"
    "  --gold-rate G      share of each person's label tasks that are gold items\n"
    "                     (ingested with a gold_label), 0 to 0.5; 0 = none. Spread\n"
    "                     over their work at random gaps, each gold item at most\n"
    "                     once per person, never shown as gold (README, \"Gold items\")\n";

enum {
  OPT_PROJECT = CLI_OPT_COMMAND,
  OPT_RATE,
  OPT_MARKET,
  OPT_CLEAR,
  OPT_DROP,
  OPT_RAMP_RATE,
  OPT_RAMP_AUDITS,
  OPT_RAMP_TARGET,
  OPT_GOLD_RATE
};

/* ------------------------------------------------------------ parsing */

void audit_policy_set_opts_free(audit_policy_set_opts_t *o) {
  for (size_t i = 0; i < o->market_count; i++) free((char *)o->markets[i].market);
  free(o->markets);
  o->markets = NULL;
  o->market_count = 0;
  cli_list_free(&o->drop_markets, &o->drop_count);
}

/* Adds or replaces the rate of a market from "M=R". Returns 0, -1 (bad
 * text) or -2 (out of memory). */
static int add_market_rate(audit_policy_set_opts_t *o, const char *text) {
  const char *eq = strrchr(text, '=');
  double rate = 0;
  if (eq == NULL || eq == text || cli_parse_double(eq + 1, 0.0, 1.0, &rate) < 0) return -1;
  size_t len = (size_t)(eq - text);
  for (size_t i = 0; i < o->market_count; i++) {
    if (strlen(o->markets[i].market) == len && strncmp(o->markets[i].market, text, len) == 0) {
      o->markets[i].rate = rate;
      return 0;
    }
  }
  tally_market_rate_t *m = realloc(o->markets, (o->market_count + 1) * sizeof *m);
  if (m == NULL) return -2;
  o->markets = m;
  char *name = strndup(text, len);
  if (name == NULL) return -2;
  m[o->market_count++] = (tally_market_rate_t){name, rate};
  return 0;
}

static int add_drop(audit_policy_set_opts_t *o, const char *market) {
  char **d = realloc(o->drop_markets, (o->drop_count + 1) * sizeof *d);
  if (d == NULL) return -1;
  o->drop_markets = d;
  if ((d[o->drop_count] = strdup(market)) == NULL) return -1;
  o->drop_count++;
  return 0;
}

int audit_policy_set_parse(cli_t *cli, int argc, char **argv, audit_policy_set_opts_t *o) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"rate", required_argument, NULL, OPT_RATE},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"clear-markets", no_argument, NULL, OPT_CLEAR},
                                          {"drop-market", required_argument, NULL, OPT_DROP},
                                          {"ramp-rate", required_argument, NULL, OPT_RAMP_RATE},
                                          {"ramp-audits", required_argument, NULL, OPT_RAMP_AUDITS},
                                          {"ramp-target", required_argument, NULL, OPT_RAMP_TARGET},
                                          {"gold-rate", required_argument, NULL, OPT_GOLD_RATE},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "audit-policy set";
  memset(o, 0, sizeof *o);
  cli_getopt_reset();
  int c, rc = CLI_PARSED, added;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_RATE:
        o->has_rate = 1;
        if (cli_parse_double(optarg, 0.0, 1.0, &o->rate) < 0)
          rc = cli_usage_error(cli, cmd, "bad --rate '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_MARKET:
        added = add_market_rate(o, optarg);
        if (added == -1)
          rc = cli_usage_error(cli, cmd, "bad --market '%s' (MARKET=RATE, the rate from 0 to 1)", optarg);
        else if (added < 0)
          rc = cli_usage_error(cli, cmd, "out of memory");
        break;
      case OPT_CLEAR: o->clear_markets = 1; break;
      case OPT_DROP:
        if (optarg[0] == '\0')
          rc = cli_usage_error(cli, cmd, "empty --drop-market");
        else if (add_drop(o, optarg) < 0)
          rc = cli_usage_error(cli, cmd, "out of memory");
        break;
      case OPT_RAMP_RATE:
        o->has_ramp_rate = 1;
        if (cli_parse_double(optarg, 0.0, 1.0, &o->ramp_rate) < 0)
          rc = cli_usage_error(cli, cmd, "bad --ramp-rate '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_RAMP_AUDITS:
        o->has_ramp_audits = 1;
        if (cli_parse_u64(optarg, 0, UINT32_MAX, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --ramp-audits '%s' (a non-negative integer)", optarg);
        o->ramp_audits = (uint32_t)n;
        break;
      case OPT_RAMP_TARGET:
        o->has_ramp_target = 1;
        if (cli_parse_double(optarg, 0.0, 1.0, &o->ramp_target) < 0)
          rc = cli_usage_error(cli, cmd, "bad --ramp-target '%s' (a number from 0 to 1)", optarg);
        break;
      case OPT_GOLD_RATE:
        o->has_gold_rate = 1;
        if (cli_parse_double(optarg, 0.0, 0.5, &o->gold_rate) < 0)
          rc = cli_usage_error(cli, cmd, "bad --gold-rate '%s' (a number from 0 to 0.5)", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, set_help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc == CLI_PARSED && o->project == NULL) rc = cli_usage_error(cli, cmd, "missing --project");
  for (size_t i = 0; rc == CLI_PARSED && i < o->drop_count; i++)
    for (size_t j = 0; rc == CLI_PARSED && j < o->market_count; j++)
      if (strcmp(o->drop_markets[i], o->markets[j].market) == 0)
        rc = cli_usage_error(cli, cmd, "market '%s' is both set (--market) and dropped (--drop-market)",
                             o->drop_markets[i]);
  if (rc == CLI_PARSED && !o->has_rate && !o->has_ramp_rate && !o->has_ramp_audits && !o->has_ramp_target &&
      !o->has_gold_rate &&
      !o->clear_markets && o->market_count == 0 && o->drop_count == 0)
    rc = cli_usage_error(cli, cmd, "nothing to change (give --rate, --market, --ramp-rate, ...)");
  if (rc != CLI_PARSED) audit_policy_set_opts_free(o);
  return rc;
}

static int is_dropped(const audit_policy_set_opts_t *o, const char *market) {
  for (size_t i = 0; i < o->drop_count; i++)
    if (strcmp(o->drop_markets[i], market) == 0) return 1;
  return 0;
}

int audit_policy_apply(const audit_policy_set_opts_t *o, const tally_audit_policy_t *current,
                       tally_audit_policy_t *out, tally_market_rate_t **rates) {
  *out = *current;
  size_t cap = current->market_rate_count + o->market_count;
  tally_market_rate_t *list = malloc((cap ? cap : 1) * sizeof *list);
  if (list == NULL) return -1;
  size_t n = 0;
  for (size_t i = 0; !o->clear_markets && i < current->market_rate_count; i++)
    if (!is_dropped(o, current->market_rates[i].market)) list[n++] = current->market_rates[i];
  for (size_t i = 0; i < o->market_count; i++) {
    size_t j = 0;
    while (j < n && strcmp(list[j].market, o->markets[i].market) != 0) j++;
    list[j] = o->markets[i];
    if (j == n) n++;
  }
  if (o->has_rate) out->rate = o->rate;
  if (o->has_ramp_rate) out->ramp_rate = o->ramp_rate;
  if (o->has_ramp_audits) out->ramp_audits = o->ramp_audits;
  if (o->has_ramp_target) out->ramp_target = o->ramp_target;
  if (o->has_gold_rate) out->gold_rate = o->gold_rate;
  out->market_rates = n ? list : NULL;
  out->market_rate_count = n;
  *rates = list;
  return 0;
}

/* ------------------------------------------------------------ output */

static json_t *policy_json(const tally_project_t *p) {
  const tally_audit_policy_t *a = &p->audit;
  json_t *markets = json_array();
  for (size_t i = 0; i < a->market_rate_count; i++)
    json_array_append_new(markets, json_pack("{s:s, s:f}", "market", a->market_rates[i].market, "rate",
                                             a->market_rates[i].rate));
  return json_pack("{s:s, s:I, s:{s:f, s:o, s:f, s:I, s:f, s:f}}", "project", p->name, "policy_version",
                   (json_int_t)p->policy_version, "audit", "rate", a->rate, "market_rates", markets, "ramp_rate",
                   a->ramp_rate, "ramp_audits", (json_int_t)a->ramp_audits, "ramp_target", a->ramp_target,
                   "gold_rate", a->gold_rate);
}

static int policy_csv(cli_t *cli, const tally_project_t *p) {
  static const char *const headers[] = {"project",     "policy_version", "rate",      "ramp_rate", "ramp_audits",
                                        "ramp_target", "gold_rate",      "market", "market_rate"};
  const tally_audit_policy_t *a = &p->audit;
  output_table_t *t = output_table_new(9, headers);
  if (t == NULL) return -1;
  size_t rows = a->market_rate_count ? a->market_rate_count : 1;
  for (size_t i = 0; i < rows; i++) {
    output_table_cell(t, p->name);
    output_table_cellf(t, "%u", p->policy_version);
    output_table_cellf(t, "%g", a->rate);
    output_table_cellf(t, "%g", a->ramp_rate);
    output_table_cellf(t, "%u", a->ramp_audits);
    output_table_cellf(t, "%g", a->ramp_target);
    output_table_cellf(t, "%g", a->gold_rate);
    output_table_cell(t, a->market_rate_count ? a->market_rates[i].market : "");
    if (a->market_rate_count)
      output_table_cellf(t, "%g", a->market_rates[i].rate);
    else
      output_table_cell(t, "");
  }
  int rc = output_table_print(t, OUTPUT_CSV, cli->out);
  output_table_free(&t);
  return rc;
}

int audit_policy_print(cli_t *cli, const tally_project_t *p) {
  if (cli->format == OUTPUT_JSON) return output_json(policy_json(p), cli->out);
  if (cli->format == OUTPUT_CSV) return policy_csv(cli, p);
  const tally_audit_policy_t *a = &p->audit;
  FILE *f = cli->out;
  output_field(f, "project:", "%s", p->name);
  output_field(f, "policy version:", "%u", p->policy_version);
  output_field(f, "audit rate:", "%g", a->rate);
  if (a->ramp_rate > 0)
    output_field(f, "ramp-up:", "rate %g until %u audits at accuracy >= %g", a->ramp_rate, a->ramp_audits,
                 a->ramp_target);
  else
    output_field(f, "ramp-up:", "off");
  if (a->gold_rate > 0)
    output_field(f, "gold rate:", "%g of each person's label tasks", a->gold_rate);
  else
    output_field(f, "gold rate:", "off");
  if (a->market_rate_count == 0) {
    output_field(f, "market rates:", "none (every market at the base rate)");
    return 0;
  }
  output_field(f, "market rates:", "%zu", a->market_rate_count);
  static const char *const headers[] = {"MARKET", "RATE"};
  output_table_t *t = output_table_new(2, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < a->market_rate_count; i++) {
    output_table_cell(t, a->market_rates[i].market);
    output_table_cellf(t, "%g", a->market_rates[i].rate);
  }
  fputc('\n', f);
  int rc = output_table_print(t, OUTPUT_TABLE, f);
  output_table_free(&t);
  return rc;
}

/* ------------------------------------------------------------ commands */

static int show_parse(cli_t *cli, int argc, char **argv, const char **project) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT}, CLI_GLOBAL_OPTIONS};
  *project = NULL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_PROJECT)
      *project = optarg[0] ? optarg : NULL;
    else
      rc = cli_common_option(cli, "audit-policy show", show_help, c, argv);
  }
  if (rc == CLI_PARSED && optind < argc)
    rc = cli_usage_error(cli, "audit-policy show", "unexpected argument '%s'", argv[optind]);
  if (rc == CLI_PARSED && *project == NULL) rc = cli_usage_error(cli, "audit-policy show", "missing --project");
  return rc;
}

static int policy_show(cli_t *cli, int argc, char **argv) {
  const char *project = NULL;
  int rc = show_parse(cli, argc, argv, &project);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_t *p = NULL;
  rc = tally_project_show(cli->client, project, &p);
  if (rc < 0) return cli_fail(cli, "audit-policy show", rc);
  rc = audit_policy_print(cli, p);
  tally_free(p);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* Market rates only make sense for the project's markets: say so before
 * the coordinator does, naming them. */
static int check_markets(cli_t *cli, const audit_policy_set_opts_t *o, const tally_project_t *p) {
  for (size_t i = 0; i < o->market_count; i++) {
    size_t j = 0;
    while (j < p->market_count && strcmp(p->markets[j], o->markets[i].market) != 0) j++;
    if (j < p->market_count) continue;
    char *markets = output_join(p->markets, p->market_count, ", ");
    fprintf(cli->err, "tally: audit-policy set: '%s' is not a market of project '%s' (markets: %s) (%s)\n",
            o->markets[i].market, p->name, markets ? markets : "?", tally_error_name(TALLY_E_UNKNOWN_MARKET));
    free(markets);
    return CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}

static int policy_set(cli_t *cli, int argc, char **argv) {
  audit_policy_set_opts_t o;
  int rc = audit_policy_set_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  tally_project_t *current = NULL, *updated = NULL;
  tally_market_rate_t *rates = NULL;
  int exit_code = cli_connect(cli);
  if (exit_code != CLI_EXIT_OK) goto done;
  rc = tally_project_show(cli->client, o.project, &current);
  if (rc < 0) {
    exit_code = cli_fail(cli, "audit-policy set", rc);
    goto done;
  }
  if ((exit_code = check_markets(cli, &o, current)) != CLI_EXIT_OK) goto done;
  tally_audit_policy_t policy;
  if (audit_policy_apply(&o, &current->audit, &policy, &rates) < 0) {
    fputs("tally: audit-policy set: out of memory (NOMEM)\n", cli->err);
    exit_code = CLI_EXIT_FAILURE;
    goto done;
  }
  rc = tally_audit_policy_set(cli->client, o.project, &policy, &updated);
  if (rc < 0) {
    exit_code = cli_fail(cli, "audit-policy set", rc);
    goto done;
  }
  exit_code = audit_policy_print(cli, updated) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
done:
  free(rates);
  tally_free(current);
  tally_free(updated);
  audit_policy_set_opts_free(&o);
  return exit_code;
}

int cmd_audit_policy(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"show", "show a project's audit policy", policy_show},
      {"set", "change a project's audit policy", policy_set},
  };
  return cli_group(cli, "audit-policy", subs, sizeof subs / sizeof subs[0], argc, argv);
}
