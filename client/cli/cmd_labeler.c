/* cmd_labeler: `tally labeler add|list|show|assign|unassign|roles|key`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "curve.h"

static const char add_help[] =
    "Usage: tally labeler add ID [--roles labeler,auditor,lead,manager] [--markets es,ja]\n"
    "                            [--public-key KEY]\n\n"
    "Adds a person. Roles decide which stages they may work (labeler: label,\n"
    "auditor: audit, lead: adjudicate, manager: reports, operator: runs the\n"
    "cluster, gateway: a service acting for people it signed in); markets decide\n"
    "which items they may see. Only an operator may give operator or gateway.\n\n"
    "Options:\n"
    "  --roles LIST     comma-separated roles (default labeler)\n"
    "  --markets LIST   comma-separated markets the person is qualified for\n"
    "  --public-key KEY the person's CURVE public key (40 Z85 characters or their .pub\n"
    "                   file, from `tally keys generate`): the only way they can sign in\n"
    "                   to the cluster; the command returns once every worker knows it\n";

static const char list_help[] = "Usage: tally labeler list\n\nLists all labelers (table, json or csv).\n";

static const char assign_help[] =
    "Usage: tally labeler assign LABELER --market M [--market M2 ...]\n\n"
    "Qualifies LABELER for more markets. The change holds from their next\n"
    "lease: the command returns once every live worker runs it.\n\n"
    "Options:\n"
    "  --market M   a market to add (repeat for several)\n";

static const char unassign_help[] =
    "Usage: tally labeler unassign LABELER --market M [--market M2 ...]\n\n"
    "Takes markets away from LABELER; they get no task of them from their next\n"
    "lease on. A labeler who is not a manager keeps at least one market.\n\n"
    "Options:\n"
    "  --market M   a market to remove (repeat for several)\n";

static const char key_help[] =
    "Usage: tally labeler key LABELER KEY\n\n"
    "Gives LABELER a new CURVE public key (40 Z85 characters or a .pub file):\n"
    "their old key stops working from their next request. Returns once every\n"
    "live worker knows the new key.\n";

static const char roles_help[] =
    "Usage: tally labeler roles LABELER --roles labeler,auditor,lead,manager\n\n"
    "Replaces LABELER's roles (labeler: label, auditor: audit, lead:\n"
    "adjudicate, manager: reports). Holds from their next lease.\n\n"
    "Options:\n"
    "  --roles LIST   comma-separated roles (required)\n";

static const char show_help[] =
    "Usage: tally labeler show ID [--project P]\n\n"
    "Shows a person's roles and markets and, per project (or only P), where\n"
    "they stand: their audited labels and accuracy against the final label\n"
    "(with its 95% Wilson interval) summed over every worker, and whether they\n"
    "are ramping up. A person ramps up (sampled at the policy's ramp-up rate)\n"
    "until they have the policy's audits at its target accuracy; the\n"
    "coordinator decides it from every worker's sums, once, and every worker\n"
    "follows within a few seconds. RAMP is \"ramping\", \"done\" (left ramp-up)\n"
    "or \"-\" (the project has no ramp-up). Needs the lead or manager role.\n\n"
    "Options:\n"
    "  --project P   only this project\n";

enum { OPT_ROLES = CLI_OPT_COMMAND, OPT_MARKETS, OPT_MARKET, OPT_PUBLIC_KEY, OPT_PROJECT };

void labeler_add_opts_free(labeler_add_opts_t *o) { cli_list_free(&o->markets, &o->market_count); }

int labeler_add_parse(cli_t *cli, int argc, char **argv, labeler_add_opts_t *o) {
  static const struct option options[] = {{"roles", required_argument, NULL, OPT_ROLES},
                                          {"markets", required_argument, NULL, OPT_MARKETS},
                                          {"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
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
          rc = cli_usage_error(cli, cmd, "bad --roles '%s' (labeler, auditor, lead, manager, operator, gateway)", optarg);
        break;
      case OPT_MARKETS:
        cli_list_free(&o->markets, &o->market_count);
        if (cli_split_list(optarg, &o->markets, &o->market_count) < 0)
          rc = cli_usage_error(cli, cmd, "bad --markets '%s' (comma-separated, no empty names)", optarg);
        break;
      case OPT_PUBLIC_KEY:
        if (curve_public_parse(o->public_key, optarg) < 0)
          rc = cli_usage_error(cli, cmd, "bad --public-key: a CURVE public key (40 Z85 characters) or .pub file");
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
  for (uint32_t bit = 1; bit <= TALLY_ROLE_GATEWAY; bit <<= 1)
    if ((l->roles & bit) && tally_role_name((tally_role_t)bit))
      json_array_append_new(roles, json_string(tally_role_name((tally_role_t)bit)));
  return json_pack("{s:s, s:o, s:o, s:s}", "id", l->id, "roles", roles, "markets",
                   output_json_strings(l->markets, l->market_count), "public_key",
                   l->public_key ? l->public_key : "");
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
  tally_labeler_t spec = {o.id, o.roles, (const char **)o.markets, o.market_count, o.public_key};
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

/* ------------------------------------------------------------ show */

/* One project's line of `labeler show`: the person's by-labeler report row
 * (NULL: no statistics yet) and their ramp-up state. */
static const char *ramp_state(const tally_project_t *p, const char *id) {
  if (p->audit.ramp_rate <= 0.0) return "-";
  return tally_project_is_ramping(p, id) ? "ramping" : "done";
}

static const tally_report_row_t *row_of(const tally_report_t *rep, const char *id) {
  for (size_t i = 0; rep && i < rep->row_count; i++)
    if (strcmp(rep->rows[i].key, id) == 0) return &rep->rows[i];
  return NULL;
}

static json_t *standing_json(const tally_project_t *p, const tally_report_row_t *row, const char *id) {
  const tally_accuracy_t *a = row ? &row->labeler_final : NULL;
  int defined = a && a->defined;
  return json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:s, s:I, s:f}", "project", p->name, "audits",
                   (json_int_t)(row ? row->audits : 0), "judged", (json_int_t)(a ? a->judged : 0), "correct",
                   (json_int_t)(a ? a->correct : 0), "accuracy", defined ? json_real(a->value) : json_null(),
                   "wilson_low", defined ? json_real(a->wilson_low) : json_null(), "wilson_high",
                   defined ? json_real(a->wilson_high) : json_null(), "ramp", ramp_state(p, id), "ramp_audits",
                   (json_int_t)p->audit.ramp_audits, "ramp_target", p->audit.ramp_target);
}

static void standing_cells(output_table_t *t, const tally_project_t *p, const tally_report_row_t *row,
                           const char *id) {
  const tally_accuracy_t *a = row ? &row->labeler_final : NULL;
  output_table_cell(t, p->name);
  output_table_cellf(t, "%llu", (unsigned long long)(row ? row->audits : 0));
  output_table_cellf(t, "%llu/%llu", (unsigned long long)(a ? a->correct : 0),
                     (unsigned long long)(a ? a->judged : 0));
  if (a && a->defined) {
    output_table_cellf(t, "%.3f", a->value);
    output_table_cellf(t, "[%.3f, %.3f]", a->wilson_low, a->wilson_high);
  } else {
    output_table_cell(t, NULL);
    output_table_cell(t, NULL);
  }
  output_table_cell(t, ramp_state(p, id));
  if (p->audit.ramp_rate > 0.0)
    output_table_cellf(t, "%u audits at %.2f", p->audit.ramp_audits ? p->audit.ramp_audits : 1,
                       p->audit.ramp_target);
  else
    output_table_cell(t, NULL);
}

static const tally_labeler_t *person_find(const tally_labeler_list_t *list, const char *id) {
  for (size_t i = 0; i < list->count; i++)
    if (strcmp(list->labelers[i].id, id) == 0) return &list->labelers[i];
  return NULL;
}

static int labeler_show(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT}, CLI_GLOBAL_OPTIONS};
  static const char *cmd = "labeler show";
  const char *only = NULL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1)
    rc = c == OPT_PROJECT ? (only = optarg, CLI_PARSED) : cli_common_option(cli, cmd, show_help, c, argv);
  if (rc == CLI_PARSED && argc - optind != 1)
    rc = cli_usage_error(cli, cmd, argc - optind < 1 ? "missing ID" : "unexpected argument '%s'",
                         argv[optind + 1]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  const char *id = argv[optind];
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_labeler_list_t *people = NULL;
  tally_project_list_t *projects = NULL;
  tally_project_t *one = NULL;
  rc = tally_labeler_list(cli->client, &people);
  if (rc == 0) rc = only ? tally_project_show(cli->client, only, &one) : tally_project_list(cli->client, &projects);
  const tally_labeler_t *person = rc == 0 ? person_find(people, id) : NULL;
  if (rc == 0 && person == NULL) {
    fprintf(cli->err, "tally labeler show: no person '%s' (NOT_FOUND)\n", id);
    rc = TALLY_E_NOT_FOUND;
  } else if (rc < 0) {
    cli_fail(cli, cmd, rc);
  }
  size_t n = rc < 0 ? 0 : one ? 1 : projects->count;
  tally_report_t **reports = calloc(n ? n : 1, sizeof *reports);
  if (reports == NULL && rc == 0) {
    rc = TALLY_E_NOMEM;
    cli_fail(cli, cmd, rc);
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const tally_project_t *p = one ? one : &projects->projects[i];
    tally_report_query_t q = {.by = TALLY_REPORT_BY_LABELER};
    if ((rc = tally_report_quality(cli->client, p->name, &q, &reports[i])) < 0) cli_fail(cli, cmd, rc);
  }
  if (rc == 0 && cli->format == OUTPUT_JSON) {
    json_t *doc = labeler_json(person), *list = json_array();
    for (size_t i = 0; i < n; i++) {
      const tally_project_t *p = one ? one : &projects->projects[i];
      json_array_append_new(list, standing_json(p, row_of(reports[i], id), id));
    }
    json_object_set_new(doc, "projects", list);
    rc = output_json(doc, cli->out);
  } else if (rc == 0) {
    char roles[64];
    tally_roles_format(person->roles, roles, sizeof roles);
    char *markets = output_join(person->markets, person->market_count, ",");
    if (cli->format == OUTPUT_TABLE) {
      output_field(cli->out, "id", "%s", person->id);
      output_field(cli->out, "roles", "%s", roles);
      output_field(cli->out, "markets", "%s", markets ? markets : "");
      fputc('\n', cli->out);
    }
    free(markets);
    static const char *const headers[] = {"PROJECT", "AUDITS", "RIGHT/JUDGED", "ACCURACY", "95% INTERVAL",
                                          "RAMP", "TO LEAVE RAMP-UP"};
    output_table_t *t = output_table_new(7, headers);
    for (size_t i = 0; t && i < n; i++) {
      const tally_project_t *p = one ? one : &projects->projects[i];
      standing_cells(t, p, row_of(reports[i], id), id);
    }
    rc = t ? output_table_print(t, cli->format, cli->out) : -1;
    output_table_free(&t);
  }
  for (size_t i = 0; reports && i < n; i++) tally_free(reports[i]);
  free(reports);
  tally_free(one);
  tally_free(projects);
  tally_free(people);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* What an allocation command changes. */
typedef enum { UPDATE_ASSIGN, UPDATE_UNASSIGN, UPDATE_ROLES } update_kind_t;

/* Parses `labeler assign|unassign|roles`; fills *u (markets point into
 * argv; *markets is the caller's to free). Returns CLI_PARSED, CLI_HELP or
 * CLI_USAGE. */
static int labeler_update_parse(cli_t *cli, update_kind_t kind, int argc, char **argv,
                                tally_labeler_update_t *u, const char ***markets) {
  static const struct option options[] = {{"market", required_argument, NULL, OPT_MARKET},
                                          {"roles", required_argument, NULL, OPT_ROLES},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = kind == UPDATE_ASSIGN     ? "labeler assign"
                    : kind == UPDATE_UNASSIGN ? "labeler unassign"
                                              : "labeler roles";
  const char *help = kind == UPDATE_ASSIGN ? assign_help : kind == UPDATE_UNASSIGN ? unassign_help : roles_help;
  memset(u, 0, sizeof *u);
  *markets = calloc((size_t)argc + 1, sizeof **markets);
  if (*markets == NULL) return cli_usage_error(cli, cmd, "out of memory");
  size_t n = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_MARKET:
        if (kind == UPDATE_ROLES)
          rc = cli_usage_error(cli, cmd, "--market is for labeler assign and unassign");
        else if (optarg[0] == '\0')
          rc = cli_usage_error(cli, cmd, "empty --market");
        else
          (*markets)[n++] = optarg;
        break;
      case OPT_ROLES:
        if (kind != UPDATE_ROLES)
          rc = cli_usage_error(cli, cmd, "--roles is for labeler roles");
        else if (tally_roles_parse(optarg, &u->set_roles) < 0 || u->set_roles == 0)
          rc = cli_usage_error(cli, cmd, "bad --roles '%s' (labeler, auditor, lead, manager, operator, gateway)", optarg);
        break;
      default:
        rc = cli_common_option(cli, cmd, help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind >= argc) return cli_usage_error(cli, cmd, "missing labeler ID");
  if (optind + 1 < argc) return cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
  u->id = argv[optind];
  if (kind == UPDATE_ROLES && u->set_roles == 0) return cli_usage_error(cli, cmd, "missing --roles");
  if (kind != UPDATE_ROLES && n == 0) return cli_usage_error(cli, cmd, "missing --market");
  if (kind == UPDATE_ASSIGN) u->add_markets = *markets, u->add_count = n;
  if (kind == UPDATE_UNASSIGN) u->remove_markets = *markets, u->remove_count = n;
  return CLI_PARSED;
}

static int labeler_update(cli_t *cli, update_kind_t kind, int argc, char **argv) {
  tally_labeler_update_t u;
  const char **markets = NULL;
  int rc = labeler_update_parse(cli, kind, argc, argv, &u, &markets);
  if (rc != CLI_PARSED) {
    free(markets);
    return cli_parse_exit(rc);
  }
  if ((rc = cli_connect(cli)) != 0) {
    free(markets);
    return rc;
  }
  tally_labeler_t *updated = NULL;
  rc = tally_labeler_update(cli->client, &u, &updated);
  free(markets);
  if (rc < 0) return cli_fail(cli, kind == UPDATE_ROLES ? "labeler roles" : kind == UPDATE_ASSIGN ? "labeler assign" : "labeler unassign", rc);
  if (cli->format == OUTPUT_JSON)
    rc = output_json(labeler_json(updated), cli->out);
  else
    rc = print_labelers(cli, updated, 1);
  tally_free(updated);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int labeler_assign(cli_t *cli, int argc, char **argv) {
  return labeler_update(cli, UPDATE_ASSIGN, argc, argv);
}
static int labeler_unassign(cli_t *cli, int argc, char **argv) {
  return labeler_update(cli, UPDATE_UNASSIGN, argc, argv);
}
static int labeler_roles(cli_t *cli, int argc, char **argv) {
  return labeler_update(cli, UPDATE_ROLES, argc, argv);
}

static int labeler_key(cli_t *cli, int argc, char **argv) {
  const char *args[2];
  int rc = cli_parse_positionals(cli, "labeler key", key_help, argc, argv, 2, "LABELER and KEY", args);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  char key[41];
  if (curve_public_parse(key, args[1]) < 0)
    return cli_parse_exit(cli_usage_error(cli, "labeler key",
                                          "KEY must be a CURVE public key (40 Z85 characters) or a .pub file"));
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_labeler_update_t u;
  memset(&u, 0, sizeof u);
  u.id = args[0];
  u.set_public_key = key;
  tally_labeler_t *updated = NULL;
  rc = tally_labeler_update(cli->client, &u, &updated);
  if (rc < 0) return cli_fail(cli, "labeler key", rc);
  rc = cli->format == OUTPUT_JSON ? output_json(labeler_json(updated), cli->out)
                                  : print_labelers(cli, updated, 1);
  tally_free(updated);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_labeler(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"add", "add a labeler (or auditor, lead, manager)", labeler_add},
      {"list", "list labelers", labeler_list},
      {"show", "a person's audits, accuracy and ramp-up per project", labeler_show},
      {"assign", "qualify a labeler for more markets (next lease)", labeler_assign},
      {"unassign", "take markets away from a labeler (next lease)", labeler_unassign},
      {"roles", "replace a labeler's roles (next lease)", labeler_roles},
      {"key", "give a person a new CURVE public key", labeler_key},
      {"password", "set a person's web console password (read from stdin)", cmd_labeler_password},
      {"language", "set the language the web console speaks to a person", cmd_labeler_language},
  };
  return cli_group(cli, "labeler", subs, sizeof subs / sizeof subs[0], argc, argv);
}
