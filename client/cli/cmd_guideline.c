/* cmd_guideline: `tally project guideline set|list` — a project's guideline
 * versions. Setting one bumps the project's policy version, which every
 * label, audit and verdict records from then on (`report quality --by
 * version`, `cases search --guideline`, `report items --guideline`). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char set_help[] =
    "Usage: tally project guideline set PROJECT --name NAME (--url URL | --text TEXT)\n\n"
    "Sets a new version of the project's labeling guidelines (lead or manager):\n"
    "a name (e.g. \"v2 Nov\") and where the guidelines are (--url) or their text\n"
    "(--text, at most 4096 bytes; a longer text belongs behind a URL). The\n"
    "project's policy version goes up by one; the command returns once every\n"
    "worker runs it (at most 3 s), and from then on every label, audit and\n"
    "verdict records the new version. Compare quality before and after with\n"
    "`tally report quality --by version`. Names are unique per project.\n\n"
    "Options:\n"
    "  --name NAME   the version's name (required; 1-64 bytes)\n"
    "  --url URL     where the guidelines are (at most 2048 bytes)\n"
    "  --text TEXT   or the guidelines themselves\n";

static const char list_help[] =
    "Usage: tally project guideline list PROJECT\n\n"
    "Lists the project's guideline versions, oldest first: policy version,\n"
    "name, URL or text, when and by whom it was set. Policy version 1 is the\n"
    "project's guidelines before the first version was named.\n";

enum { OPT_NAME = CLI_OPT_COMMAND, OPT_URL, OPT_TEXT };

static int guideline_print(cli_t *cli, const tally_project_t *p) {
  if (cli->format == OUTPUT_JSON) {
    json_t *versions = json_array();
    for (size_t i = 0; i < p->guideline_count; i++) {
      const tally_guideline_t *g = &p->guidelines[i];
      json_array_append_new(versions, json_pack("{s:I, s:s, s:s, s:s, s:I, s:s}", "version",
                                                (json_int_t)g->version, "name", g->name, "url", g->url,
                                                "text", g->text, "set_ms", (json_int_t)g->set_ms,
                                                "set_by", g->set_by));
    }
    return output_json(json_pack("{s:s, s:I, s:o}", "project", p->name, "policy_version",
                                 (json_int_t)p->policy_version, "guidelines", versions),
                       cli->out);
  }
  static const char *const headers[] = {"VERSION", "NAME", "URL", "TEXT", "SET", "BY", "IN_EFFECT"};
  output_table_t *t = output_table_new(7, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < p->guideline_count; i++) {
    const tally_guideline_t *g = &p->guidelines[i];
    char when[32];
    output_time(g->set_ms, when, sizeof when);
    output_table_cellf(t, "%u", g->version);
    output_table_cell(t, g->name);
    output_table_cell(t, g->url);
    output_table_cell(t, g->text);
    output_table_cell(t, when);
    output_table_cell(t, g->set_by);
    output_table_cell(t, g->version == p->policy_version ? "yes" : "no");
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

int guideline_resolve(cli_t *cli, const char *command, const char *project, const char *text,
                      uint32_t *version) {
  uint64_t n = 0;
  if (cli_parse_u64(text, 1, UINT32_MAX, &n) == 0) {
    *version = (uint32_t)n;
    return 0;
  }
  tally_project_t *p = NULL;
  int rc = tally_project_show(cli->client, project, &p);
  if (rc < 0) return cli_fail(cli, command, rc);
  *version = 0;
  for (size_t i = 0; i < p->guideline_count; i++)
    if (strcmp(p->guidelines[i].name, text) == 0) *version = p->guidelines[i].version;
  tally_free(p);
  if (*version != 0) return 0;
  char safe[128];
  fprintf(cli->err, "tally %s: project has no guideline version named '%s' (see `tally project guideline list`)\n",
          command, output_safe(text, safe, sizeof safe));
  return CLI_EXIT_USAGE;
}

static int guideline_set(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"name", required_argument, NULL, OPT_NAME},
                                          {"url", required_argument, NULL, OPT_URL},
                                          {"text", required_argument, NULL, OPT_TEXT},
                                          CLI_GLOBAL_OPTIONS};
  static const char *cmd = "project guideline set";
  const char *name = NULL, *url = NULL, *text = NULL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_NAME: name = optarg; break;
      case OPT_URL: url = optarg; break;
      case OPT_TEXT: text = optarg; break;
      default: rc = cli_common_option(cli, cmd, set_help, c, argv);
    }
  }
  const char *project = NULL;
  if (rc == CLI_PARSED && optind < argc) project = argv[optind++];
  if (rc == CLI_PARSED && optind < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc == CLI_PARSED && (project == NULL || project[0] == '\0'))
    rc = cli_usage_error(cli, cmd, "missing PROJECT");
  if (rc == CLI_PARSED && (name == NULL || name[0] == '\0'))
    rc = cli_usage_error(cli, cmd, "missing --name NAME");
  if (rc == CLI_PARSED && (url == NULL || url[0] == '\0') && (text == NULL || text[0] == '\0'))
    rc = cli_usage_error(cli, cmd, "give --url URL or --text TEXT");
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_t *p = NULL;
  rc = tally_guideline_set(cli->client, project, name, url, text, &p);
  if (rc < 0) return cli_fail(cli, "project guideline set", rc);
  rc = guideline_print(cli, p);
  tally_free(p);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int guideline_list(cli_t *cli, int argc, char **argv) {
  const char *project = NULL;
  int rc = cli_parse_positionals(cli, "project guideline list", list_help, argc, argv, 1, "PROJECT",
                                 &project);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_project_t *p = NULL;
  rc = tally_project_show(cli->client, project, &p);
  if (rc < 0) return cli_fail(cli, "project guideline list", rc);
  rc = guideline_print(cli, p);
  tally_free(p);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_project_guideline(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"set", "set a new guideline version (bumps the policy version)", guideline_set},
      {"list", "list the guideline versions", guideline_list},
  };
  return cli_group(cli, "project guideline", subs, sizeof subs / sizeof subs[0], argc, argv);
}
