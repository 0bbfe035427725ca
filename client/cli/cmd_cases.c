/* cmd_cases: `tally cases list|search|show` — the case database: disagreements a
 * QA lead decided, with the final label, who was held responsible and the
 * lead's note. Leads use it to align policy across teams. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char list_help[] =
    "Usage: tally cases list --project P [--category C] [--market M]\n"
    "                        [--since YYYY-MM-DD] [--limit N]\n\n"
    "Lists adjudicated cases, newest first: when the verdict was given, the\n"
    "item (show it with `tally cases show P ITEM`), market, the two disputed\n"
    "labels as A and B, the final label, the attribution, the lead and the note.\n"
    "Every worker is asked; when some do not answer, a warning says the list\n"
    "may be incomplete.\n\n"
    "Options:\n"
    "  --project P         project (required)\n"
    "  --category C        only cases whose final label is C\n"
    "  --market M          only cases of market M\n"
    "  --since YYYY-MM-DD  only cases closed on or after this day (UTC)\n"
    "  --limit N           at most N cases, 1..1000 (default 100)\n";

static const char search_help[] =
    "Usage: tally cases search --project P [TEXT] [--attribution W] [--labeler X]\n"
    "                          [--pair A:B] [--category C] [--market M]\n"
    "                          [--since YYYY-MM-DD] [--limit N] [--guideline V]\n\n"
    "Searches the case database, newest first, printed as `cases list` does.\n"
    "TEXT matches a case whose content or note contains it, ignoring case\n"
    "(ASCII letters; other characters as they are). The filters combine:\n\n"
    "Options:\n"
    "  --project P         project (required)\n"
    "  --attribution W     labeler, auditor, both or policy-unclear\n"
    "  --labeler X         X was an audited labeler of the item\n"
    "  --pair A:B          an audited labeler (X with --labeler) said A and the\n"
    "                      auditor B; A: or :B leaves one side open\n"
    "  --category C        only cases whose final label is C\n"
    "  --market M          only cases of market M\n"
    "  --since YYYY-MM-DD  only cases closed on or after this day (UTC)\n"
    "  --limit N           at most N cases, 1..1000 (default 100)\n"
    "  --guideline V       only verdicts given under guideline version V: a policy\n"
    "                      version number or a version's name (`tally project\n"
    "                      guideline list`); cases from before versions were\n"
    "                      recorded count as version 1\n";

static const char show_help[] =
    "Usage: tally cases show PROJECT ITEM_ID\n\n"
    "Shows one case: the content, the disputed labels A and B, the final\n"
    "label, the attribution, the lead, the note and when it was closed.\n";

#define CASES_DEFAULT_LIMIT 100u
#define CASES_MAX_LIMIT 1000u

enum {
  OPT_PROJECT = CLI_OPT_COMMAND,
  OPT_CATEGORY,
  OPT_MARKET,
  OPT_SINCE,
  OPT_LIMIT,
  OPT_ATTRIBUTION,
  OPT_LABELER,
  OPT_PAIR,
  OPT_GUIDELINE
};

typedef struct {
  const char *project;
  tally_cases_query_t query;
  char pair[2 * 257]; /* --pair A:B, split at the last ':' in place */
  const char *guideline; /* --guideline V, resolved after connecting */
} cases_list_opts_t;

/* "A:B" into the query's pair; either side may be empty, not both. */
static int parse_pair(cases_list_opts_t *o, const char *text) {
  if (strlen(text) >= sizeof o->pair) return -1;
  strcpy(o->pair, text);
  char *colon = strrchr(o->pair, ':');
  if (colon == NULL || (colon == o->pair && colon[1] == '\0')) return -1;
  *colon = '\0';
  o->query.labeler_label = o->pair;
  o->query.auditor_label = colon + 1;
  return 0;
}

/* `cases list` (search = 0) or `cases search` (search = 1, with TEXT and
 * the search filters). */
static int cases_list_parse(cli_t *cli, int argc, char **argv, cases_list_opts_t *o, int search) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT},
                                          {"category", required_argument, NULL, OPT_CATEGORY},
                                          {"market", required_argument, NULL, OPT_MARKET},
                                          {"since", required_argument, NULL, OPT_SINCE},
                                          {"limit", required_argument, NULL, OPT_LIMIT},
                                          {"attribution", required_argument, NULL, OPT_ATTRIBUTION},
                                          {"labeler", required_argument, NULL, OPT_LABELER},
                                          {"pair", required_argument, NULL, OPT_PAIR},
                                          {"guideline", required_argument, NULL, OPT_GUIDELINE},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = search ? "cases search" : "cases list";
  memset(o, 0, sizeof *o);
  o->query.limit = CASES_DEFAULT_LIMIT;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_CATEGORY: o->query.category = optarg; break;
      case OPT_MARKET: o->query.market = optarg; break;
      case OPT_SINCE: rc = cli_parse_day(cli, cmd, "--since", optarg, &o->query.since_day); break;
      case OPT_LIMIT:
        if (cli_parse_u64(optarg, 1, CASES_MAX_LIMIT, &n) < 0)
          rc = cli_usage_error(cli, cmd, "bad --limit '%s' (1..%u)", optarg, CASES_MAX_LIMIT);
        o->query.limit = (uint32_t)n;
        break;
      case OPT_ATTRIBUTION:
      case OPT_LABELER:
      case OPT_PAIR:
      case OPT_GUIDELINE:
        if (!search)
          rc = cli_usage_error(cli, cmd, "--attribution, --labeler, --pair and --guideline are for `tally cases search`");
        else if (c == OPT_GUIDELINE)
          o->guideline = optarg;
        else if (c == OPT_LABELER)
          o->query.labeler = optarg;
        else if (c == OPT_PAIR && parse_pair(o, optarg) < 0)
          rc = cli_usage_error(cli, cmd, "bad --pair '%s' (LABELER_LABEL:AUDITOR_LABEL)", optarg);
        else if (c == OPT_ATTRIBUTION && tally_attribution_parse(optarg, &o->query.attribution) < 0)
          rc = cli_usage_error(cli, cmd, "bad --attribution '%s' (labeler, auditor, both or policy-unclear)",
                               optarg);
        break;
      default: rc = cli_common_option(cli, cmd, search ? search_help : list_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (search && optind < argc) o->query.text = argv[optind++];
  if (optind < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (o->project == NULL) return cli_usage_error(cli, cmd, "missing --project P");
  return CLI_PARSED;
}

static json_t *case_json(const tally_case_t *k, int with_content) {
  json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "project", k->project,
                          "item_id", k->item_id, "market", k->market, "label_a", k->label_a, "label_b",
                          k->label_b, "final_label", k->final_label, "attribution",
                          tally_attribution_name(k->attribution), "lead", k->lead, "note", k->note,
                          "closed_ms", (json_int_t)k->closed_ms);
  if (doc) json_object_set_new(doc, "policy_version", json_integer(k->policy_version));
  if (doc && with_content) json_object_set_new(doc, "content", json_string(k->content));
  return doc;
}

static int print_cases(cli_t *cli, const cases_list_opts_t *o, const tally_case_list_t *list) {
  if (list->workers_failed)
    fprintf(cli->err, "tally: warning: %zu worker%s did not answer; cases may be missing\n",
            list->workers_failed, list->workers_failed == 1 ? "" : "s");
  if (cli->format == OUTPUT_JSON) {
    json_t *cases = json_array();
    for (size_t i = 0; i < list->count; i++) json_array_append_new(cases, case_json(&list->cases[i], 0));
    return output_json(json_pack("{s:s, s:o, s:I}", "project", o->project, "cases", cases, "workers_failed",
                                 (json_int_t)list->workers_failed),
                       cli->out);
  }
  static const char *const headers[] = {"CLOSED", "ITEM", "MARKET", "A", "B", "FINAL", "ATTRIBUTION", "LEAD", "NOTE"};
  static const char *const csv_headers[] = {"closed_ms", "item_id", "market", "label_a", "label_b",
                                            "final_label", "attribution", "lead", "note"};
  int csv = cli->format == OUTPUT_CSV;
  if (!csv && list->count == 0) {
    fprintf(cli->out, "no cases in %s\n", o->project);
    return 0;
  }
  output_table_t *t = output_table_new(9, csv ? csv_headers : headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < list->count; i++) {
    const tally_case_t *k = &list->cases[i];
    char closed[32];
    output_time(k->closed_ms, closed, sizeof closed);
    if (csv)
      output_table_cellf(t, "%llu", (unsigned long long)k->closed_ms);
    else
      output_table_cell(t, closed);
    output_table_cell(t, k->item_id);
    output_table_cell(t, k->market);
    output_table_cell(t, k->label_a);
    output_table_cell(t, k->label_b);
    output_table_cell(t, k->final_label);
    output_table_cell(t, tally_attribution_name(k->attribution));
    output_table_cell(t, k->lead);
    output_table_cell(t, k->note);
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static int cases_run(cli_t *cli, int argc, char **argv, int search) {
  cases_list_opts_t o;
  int rc = cases_list_parse(cli, argc, argv, &o, search);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  if (o.guideline != NULL &&
      (rc = guideline_resolve(cli, "cases search", o.project, o.guideline, &o.query.policy_version)) != 0)
    return rc;
  tally_case_list_t *list = NULL;
  rc = tally_cases_list(cli->client, o.project, &o.query, &list);
  if (rc < 0) return cli_fail(cli, search ? "cases search" : "cases list", rc);
  rc = print_cases(cli, &o, list);
  tally_free(list);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int cases_list(cli_t *cli, int argc, char **argv) { return cases_run(cli, argc, argv, 0); }
static int cases_search(cli_t *cli, int argc, char **argv) { return cases_run(cli, argc, argv, 1); }

static int print_case(cli_t *cli, const tally_case_t *k) {
  if (cli->format == OUTPUT_JSON) return output_json(case_json(k, 1), cli->out);
  if (cli->format == OUTPUT_CSV) {
    static const char *const headers[] = {"project", "item_id", "market", "label_a", "label_b", "final_label",
                                          "attribution", "lead", "note", "closed_ms", "content"};
    output_table_t *t = output_table_new(11, headers);
    if (t == NULL) return -1;
    const char *cells[] = {k->project, k->item_id, k->market, k->label_a, k->label_b, k->final_label,
                           tally_attribution_name(k->attribution), k->lead, k->note};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) output_table_cell(t, cells[i]);
    output_table_cellf(t, "%llu", (unsigned long long)k->closed_ms);
    output_table_cell(t, k->content);
    int rc = output_table_print(t, OUTPUT_CSV, cli->out);
    output_table_free(&t);
    return rc;
  }
  char closed[32];
  output_time(k->closed_ms, closed, sizeof closed);
  output_field(cli->out, "case", "%s/%s", k->project, k->item_id);
  output_field(cli->out, "market", "%s", k->market);
  output_field(cli->out, "closed", "%s", closed);
  output_field(cli->out, "policy version", "%u", k->policy_version);
  output_field(cli->out, "label A", "%s", k->label_a);
  output_field(cli->out, "label B", "%s", k->label_b);
  output_field(cli->out, "final label", "%s", k->final_label);
  output_field(cli->out, "attribution", "%s", tally_attribution_name(k->attribution));
  output_field(cli->out, "lead", "%s", k->lead);
  output_field(cli->out, "note", "%s", k->note);
  output_field(cli->out, "content", "%s", k->content);
  return 0;
}

static int cases_show(cli_t *cli, int argc, char **argv) {
  const char *args[2];
  int rc = cli_parse_positionals(cli, "cases show", show_help, argc, argv, 2, "PROJECT ITEM_ID", args);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_case_t *k = NULL;
  rc = tally_case_get(cli->client, args[0], args[1], &k);
  if (rc < 0) return cli_fail(cli, "cases show", rc);
  rc = print_case(cli, k);
  tally_free(k);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_cases(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"list", "adjudicated cases, newest first, with filters", cases_list},
      {"search", "text in the content or note, attribution, labeler, label pair", cases_search},
      {"show", "one case with its content", cases_show},
  };
  return cli_group(cli, "cases", subs, sizeof subs / sizeof subs[0], argc, argv);
}
