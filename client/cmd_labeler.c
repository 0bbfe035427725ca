/* cmd_labeler: `tally labeler add|list`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char add_help[] =
    "Usage: tally labeler add ID [--roles labeler,auditor,lead,manager] [--markets es,ja]\n\n"
    "Adds a person. Roles decide which stages they may work (labeler: label,\n"
    "auditor: audit, lead: adjudicate, manager: reports); markets decide which\n"
    "items they may see.\n\n"
    "Options:\n"
    "  --roles LIST     comma-separated roles (default labeler)\n"
    "  --markets LIST   comma-separated markets the person is qualified for\n";

static const char list_help[] = "Usage: tally labeler list\n\nLists all labelers (table, json or csv).\n";

enum { OPT_ROLES = CLI_OPT_COMMAND, OPT_MARKETS };

void labeler_add_opts_free(labeler_add_opts_t *o) { cli_list_free(&o->markets, &o->market_count); }

int labeler_add_parse(cli_t *cli, int argc, char **argv, labeler_add_opts_t *o) {
  static const struct option options[] = {{"roles", required_argument, NULL, OPT_ROLES},
                                          {"markets", required_argument, NULL, OPT_MARKETS},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "labeler add";
  memset(o, 0, sizeof *o);
  o->roles = TALLY_ROLE_LABELER;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_ROLES:
        if (tally_roles_parse(optarg, &o->roles) < 0)
          rc = cli_usage_error(cli, cmd, "bad --roles '%s' (labeler, auditor, lead, manager)", optarg);
        break;
      case OPT_MARKETS:
        cli_list_free(&o->markets, &o->market_count);
        if (cli_split_list(optarg, &o->markets, &o->market_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --markets '%s' (comma-separated, no empty names)", optarg);
        break;
      default:
        rc = cli_common_option(cli, cmd, add_help, c, argv);
    }
  }
  if (rc == CLI_PARSED) {
    if (optind >= argc)
      rc = cli_usage_error(cli, cmd, "missing labeler ID");
    else if (optind + 1 < argc)
      rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
    else if (argv[optind][0] == '\0')
      rc = cli_usage_error(cli, cmd, "the labeler ID is empty");
    else
      o->id = argv[optind];
  }
  if (rc != CLI_PARSED) labeler_add_opts_free(o);
  return rc;
}

static json_t *labeler_json(const tally_labeler_t *l) {
  json_t *roles = json_array();
  for (uint32_t bit = 1; bit <= TALLY_ROLE_MANAGER; bit <<= 1)
    if ((l->roles & bit) && tally_role_name((tally_role_t)bit))
      json_array_append_new(roles, json_string(tally_role_name((tally_role_t)bit)));
  return json_pack("{s:s, s:o, s:o}", "id", l->id, "roles", roles, "markets",
                   output_json_strings(l->markets, l->market_count));
}

static const char *const labeler_headers[] = {"ID", "ROLES", "MARKETS"};

static int print_labelers(cli_t *cli, const tally_labeler_t *labelers, size_t count) {
  if (cli->format == OUTPUT_JSON) {
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) json_array_append_new(list, labeler_json(&labelers[i]));
    return output_json(json_pack("{s:o}", "labelers", list), cli->out);
  }
  output_table_t *t = output_table_new(3, labeler_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < count; i++) {
    char roles[64];
    tally_roles_format(labelers[i].roles, roles, sizeof roles);
    char *markets = output_join(labelers[i].markets, labelers[i].market_count, ",");
    output_table_cell(t, labelers[i].id);
    output_table_cell(t, roles);
    output_table_cell(t, markets);
    free(markets);
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static int labeler_add(cli_t *cli, int argc, char **argv) {
  labeler_add_opts_t o;
  int rc = labeler_add_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) {
    labeler_add_opts_free(&o);
    return rc;
  }
  tally_labeler_t spec = {o.id, o.roles, (const char **)o.markets, o.market_count};
  tally_labeler_t *added = NULL;
  rc = tally_labeler_add(cli->client, &spec, &added);
  labeler_add_opts_free(&o);
  if (rc < 0) return cli_fail(cli, "labeler add", rc);
  if (cli->format == OUTPUT_JSON)
    rc = output_json(labeler_json(added), cli->out);
  else
    rc = print_labelers(cli, added, 1);
  tally_free(added);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int labeler_list(cli_t *cli, int argc, char **argv) {
  int rc = cli_parse_positionals(cli, "labeler list", list_help, argc, argv, 0, "", NULL);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_labeler_list_t *list = NULL;
  rc = tally_labeler_list(cli->client, &list);
  if (rc < 0) return cli_fail(cli, "labeler list", rc);
  rc = print_labelers(cli, list->labelers, list->count);
  tally_free(list);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_labeler(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"add", "add a labeler (or auditor, lead, manager)", labeler_add},
      {"list", "list labelers", labeler_list},
  };
  return cli_group(cli, "labeler", subs, sizeof subs / sizeof subs[0], argc, argv);
}
