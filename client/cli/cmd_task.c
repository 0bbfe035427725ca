/* cmd_task: a labeler's loop from the command line — `tally lease`,
 * `tally submit`, `tally skip`, `tally release`. A lease is named by its
 * token "SLOT.LEASE_ID" (tally_lease_token_format). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cli.h"

static const char lease_help[] =
    "Usage: tally lease --as LABELER [--project P] [--stage label|audit|adjudicate]\n"
    "                   [--wait SECONDS]\n\n"
    "Leases the next task LABELER may work on and prints it: the lease token\n"
    "(SLOT.LEASE_ID, for submit/skip/release), project, item, market, priority,\n"
    "deadline, the labels to choose from, and the content.\n"
    "Stage audit gives an auditor a blind re-review (no first label, no\n"
    "labeler). Stage adjudicate gives a lead a disagreement: the two disputed\n"
    "labels as candidates A and B, in an order that does not say who gave\n"
    "which; answer with `tally submit` and the final label.\n"
    "When no task is available it prints \"no task available\" (json: {\"task\": null};\n"
    "csv: the header only) and exits with status 3.\n\n"
    "Options:\n"
    "  --as LABELER      who leases (required): yourself, unless your key is a\n"
    "                    gateway's (docs/SECURITY.md)\n"
    "  --project P       only this project (default: any)\n"
    "  --stage S         label (default), audit or adjudicate\n"
    "  --wait SECONDS    wait up to this long for a task (default 0, max 30)\n";

static const char submit_help[] =
    "Usage: tally submit --as LABELER LEASE_TOKEN LABEL [--handling-ms N]\n"
    "       tally submit --as LEAD LEASE_TOKEN LABEL [--policy-unclear] [--note TEXT]\n\n"
    "Submits LABEL for the leased task LEASE_TOKEN (as printed by `tally lease`):\n"
    "a label, an audit verdict, or a lead's final label for an adjudication task\n"
    "(any label of the taxonomy, not only the candidates).\n\n"
    "Who was wrong follows from a lead's final label: whoever gave a different\n"
    "label, the labeler, the auditor, or both when the final label is a third\n"
    "one. The lead adds only what the labels cannot say: --policy-unclear (the\n"
    "policy did not decide the case; nobody is judged).\n\n"
    "Leases live in the worker's memory: if the worker restarted since the\n"
    "lease, the submit is refused with LEASE_LOST (the task was offered again;\n"
    "lease a new one). Programs using libtally keep their label in that case\n"
    "whenever it is still valid.\n\n"
    "Options:\n"
    "  --as LABELER        who submits (required; must hold the lease): yourself,\n"
    "                      unless your key is a gateway's\n"
    "  --handling-ms N     time spent on the task, for statistics (default 0)\n"
    "  --policy-unclear    adjudication: the policy was unclear (nobody is judged)\n"
    "  --note TEXT         adjudication: a note for the case database\n"
    "  --attribution WHO   as before: policy-unclear is --policy-unclear; labeler,\n"
    "                      auditor and both are accepted and ignored (derived)\n";

static const char skip_help[] =
    "Usage: tally skip --as LABELER LEASE_TOKEN\n\n"
    "Skips the leased task: it goes back to the queue for someone else.\n\n"
    "Options:\n"
    "  --as LABELER   who skips (required; must hold the lease)\n";

static const char release_help[] =
    "Usage: tally release --as LABELER LEASE_TOKEN\n\n"
    "Gives the leased task back untouched (e.g. when logging off).\n\n"
    "Options:\n"
    "  --as LABELER   who releases (required; must hold the lease)\n";

enum {
  OPT_AS = CLI_OPT_COMMAND,
  OPT_PROJECT,
  OPT_STAGE,
  OPT_WAIT,
  OPT_HANDLING,
  OPT_ATTRIBUTION,
  OPT_POLICY_UNCLEAR,
  OPT_NOTE
};

int lease_parse(cli_t *cli, int argc, char **argv, lease_opts_t *o) {
  static const struct option options[] = {{"as", required_argument, NULL, OPT_AS},
                                          {"project", required_argument, NULL, OPT_PROJECT},
                                          {"stage", required_argument, NULL, OPT_STAGE},
                                          {"wait", required_argument, NULL, OPT_WAIT},
                                          CLI_GLOBAL_OPTIONS};
  memset(o, 0, sizeof *o);
  o->stage = TALLY_STAGE_LABEL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  double wait = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_AS: o->labeler = optarg; break;
      case OPT_PROJECT: o->project = optarg[0] ? optarg : NULL; break;
      case OPT_STAGE:
        if (tally_stage_parse(optarg, &o->stage) < 0)
          rc = cli_usage_error(cli, "lease", "bad --stage '%s' (label, audit or adjudicate)", optarg);
        break;
      case OPT_WAIT:
        if (cli_parse_double(optarg, 0, TALLY_MAX_WAIT_MS / 1000.0, &wait) < 0)
          rc = cli_usage_error(cli, "lease", "bad --wait '%s' (seconds, 0 to 30)", optarg);
        o->wait_ms = (int)lround(wait * 1000.0);
        break;
      default: rc = cli_common_option(cli, "lease", lease_help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  if (optind < argc) return cli_usage_error(cli, "lease", "unexpected argument '%s'", argv[optind]);
  if (o->labeler == NULL || o->labeler[0] == '\0') return cli_usage_error(cli, "lease", "missing --as LABELER");
  return CLI_PARSED;
}

int lease_action_parse(cli_t *cli, const char *command, int argc, char **argv, lease_action_opts_t *o) {
  static const struct option options[] = {{"as", required_argument, NULL, OPT_AS},
                                          {"handling-ms", required_argument, NULL, OPT_HANDLING},
                                          {"attribution", required_argument, NULL, OPT_ATTRIBUTION},
                                          {"policy-unclear", no_argument, NULL, OPT_POLICY_UNCLEAR},
                                          {"note", required_argument, NULL, OPT_NOTE},
                                          CLI_GLOBAL_OPTIONS};
  int submit = strcmp(command, "submit") == 0;
  const char *help = submit ? submit_help : strcmp(command, "skip") == 0 ? skip_help : release_help;
  memset(o, 0, sizeof *o);
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  uint64_t n = 0;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_AS: o->labeler = optarg; break;
      case OPT_HANDLING:
        if (!submit) {
          rc = cli_usage_error(cli, command, "unknown option '--handling-ms'");
        } else if (cli_parse_u64(optarg, 0, UINT32_MAX, &n) < 0) {
          rc = cli_usage_error(cli, command, "bad --handling-ms '%s'", optarg);
        }
        o->handling_ms = (uint32_t)n;
        break;
      case OPT_ATTRIBUTION: {
        tally_attribution_t given = TALLY_ATTRIBUTION_NONE;
        if (!submit)
          rc = cli_usage_error(cli, command, "unknown option '--attribution'");
        else if (tally_attribution_parse(optarg, &given) < 0)
          rc = cli_usage_error(cli, command, "bad --attribution '%s' (labeler, auditor, both or policy-unclear)",
                               optarg);
        o->verdict = 1;
        if (given == TALLY_ATTRIBUTION_POLICY_UNCLEAR) o->attribution = given;
        break;
      }
      case OPT_POLICY_UNCLEAR:
        if (!submit) rc = cli_usage_error(cli, command, "unknown option '--policy-unclear'");
        o->verdict = 1;
        o->attribution = TALLY_ATTRIBUTION_POLICY_UNCLEAR;
        break;
      case OPT_NOTE:
        if (!submit)
          rc = cli_usage_error(cli, command, "unknown option '--note'");
        o->note = optarg;
        o->verdict = 1;
        break;
      default: rc = cli_common_option(cli, command, help, c, argv);
    }
  }
  if (rc != CLI_PARSED) return rc;
  int want = submit ? 2 : 1;
  if (argc - optind < want)
    return cli_usage_error(cli, command, "missing %s", submit ? "LEASE_TOKEN and LABEL" : "LEASE_TOKEN");
  if (argc - optind > want) return cli_usage_error(cli, command, "unexpected argument '%s'", argv[optind + want]);
  if (o->labeler == NULL || o->labeler[0] == '\0') return cli_usage_error(cli, command, "missing --as LABELER");
  o->token = argv[optind];
  if (tally_lease_token_parse(o->token, &o->slot, &o->lease_id) < 0)
    return cli_usage_error(cli, command, "bad lease token '%s' (expected SLOT.LEASE_ID, e.g. 17.4398046511105)",
                           o->token);
  if (submit) {
    o->label = argv[optind + 1];
    if (o->label[0] == '\0') return cli_usage_error(cli, command, "the LABEL is empty");
  }
  return CLI_PARSED;
}

/* ------------------------------------------------------------ lease */

static json_t *task_json(const tally_task_t *task, const char *token) {
  return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:s}", "token", token, "slot",
                   (json_int_t)task->slot, "lease_id", (json_int_t)task->lease_id, "project", task->project,
                   "item_id", task->item_id, "market", task->market, "priority", tally_priority_name(task->priority),
                   "stage", tally_stage_name(task->stage), "deadline_ms", (json_int_t)task->deadline_ms, "labels",
                   output_json_strings(task->labels, task->label_count), "candidates",
                   output_json_strings(task->candidates, task->candidate_count), "content", task->content);
}

/* Candidates are named A, B, ... in the order the worker gave them. */
static char candidate_name(size_t i) { return (char)('A' + (i < 26 ? i : 25)); }

static int print_task(cli_t *cli, const tally_task_t *task) {
  static const char *const headers[] = {"token",       "project", "item_id",    "market", "priority",
                                        "stage",       "deadline_ms", "labels", "candidates", "content"};
  char token[TALLY_LEASE_TOKEN_MAX] = "";
  if (task) tally_lease_token_format(task->slot, task->lease_id, token, sizeof token);
  if (cli->format == OUTPUT_JSON)
    return output_json(json_pack("{s:o}", "task", task ? task_json(task, token) : json_null()), cli->out);
  if (cli->format == OUTPUT_TABLE && task == NULL) {
    fputs("no task available\n", cli->out);
    return 0;
  }
  char *labels = task ? output_join(task->labels, task->label_count, cli->format == OUTPUT_CSV ? "," : ", ") : NULL;
  if (cli->format == OUTPUT_CSV) {
    char *candidates = task ? output_join(task->candidates, task->candidate_count, ",") : NULL;
    output_table_t *t = output_table_new(10, headers);
    if (t == NULL) return -1;
    if (task) {
      output_table_cell(t, token);
      output_table_cell(t, task->project);
      output_table_cell(t, task->item_id);
      output_table_cell(t, task->market);
      output_table_cell(t, tally_priority_name(task->priority));
      output_table_cell(t, tally_stage_name(task->stage));
      output_table_cellf(t, "%llu", (unsigned long long)task->deadline_ms);
      output_table_cell(t, labels);
      output_table_cell(t, candidates);
      output_table_cell(t, task->content);
    }
    int rc = output_table_print(t, OUTPUT_CSV, cli->out);
    output_table_free(&t);
    free(labels);
    free(candidates);
    return rc;
  }
  char deadline[32], left[32];
  uint64_t now = clock_now_ms();
  output_time(task->deadline_ms, deadline, sizeof deadline);
  output_duration(task->deadline_ms > now ? task->deadline_ms - now : 0, left, sizeof left);
  FILE *f = cli->out;
  output_field(f, "token:", "%s", token);
  output_field(f, "project:", "%s", task->project);
  output_field(f, "item:", "%s", task->item_id);
  output_field(f, "market:", "%s", task->market);
  output_field(f, "priority:", "%s", tally_priority_name(task->priority));
  output_field(f, "stage:", "%s", tally_stage_name(task->stage));
  output_field(f, "deadline:", "%s (in %s)", deadline, left);
  output_field(f, "labels:", "%s", labels ? labels : "");
  for (size_t i = 0; i < task->candidate_count; i++) {
    char key[32];
    snprintf(key, sizeof key, "candidate %c:", candidate_name(i));
    output_field(f, key, "%s", task->candidates[i]);
  }
  output_field(f, "content:", "%s", task->content);
  free(labels);
  return 0;
}

int cmd_lease(cli_t *cli, int argc, char **argv) {
  lease_opts_t o;
  int rc = lease_parse(cli, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_task_t *task = NULL;
  rc = tally_lease(cli->client, o.labeler, o.project, o.stage, o.wait_ms, &task);
  if (rc < 0) return cli_fail(cli, "lease", rc);
  rc = print_task(cli, task);
  int found = task != NULL;
  tally_free(task);
  if (rc < 0) return CLI_EXIT_FAILURE;
  return found ? CLI_EXIT_OK : CLI_EXIT_NO_TASK;
}

/* ------------------------------------------------------------ submit, skip, release */

static int print_action(cli_t *cli, const char *result, const lease_action_opts_t *o) {
  const char *attribution = o->attribution ? tally_attribution_name(o->attribution) : NULL;
  if (cli->format == OUTPUT_JSON)
    return output_json(json_pack("{s:s, s:s, s:o, s:o, s:o}", "result", result, "token", o->token, "label",
                                 o->label ? json_string(o->label) : json_null(), "attribution",
                                 attribution ? json_string(attribution) : json_null(), "note",
                                 o->note ? json_string(o->note) : json_null()),
                       cli->out);
  if (cli->format == OUTPUT_CSV) {
    static const char *const headers[] = {"result", "token", "label", "attribution", "note"};
    output_table_t *t = output_table_new(5, headers);
    if (t == NULL) return -1;
    output_table_cell(t, result);
    output_table_cell(t, o->token);
    output_table_cell(t, o->label);
    output_table_cell(t, attribution);
    output_table_cell(t, o->note);
    int rc = output_table_print(t, OUTPUT_CSV, cli->out);
    output_table_free(&t);
    return rc;
  }
  if (attribution)
    fprintf(cli->out, "%s %s: %s (policy unclear)\n", result, o->token, o->label);
  else if (o->label)
    fprintf(cli->out, "%s %s: %s\n", result, o->token, o->label);
  else
    fprintf(cli->out, "%s %s\n", result, o->token);
  return 0;
}

static int lease_action(cli_t *cli, const char *command, int argc, char **argv) {
  lease_action_opts_t o;
  int rc = lease_action_parse(cli, command, argc, argv, &o);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  const char *result;
  if (strcmp(command, "submit") == 0 && o.verdict) {
    rc = tally_submit_adjudication(cli->client, o.labeler, o.slot, o.lease_id, o.label, o.attribution, o.note,
                                   o.handling_ms);
    result = "adjudicated";
  } else if (strcmp(command, "submit") == 0) {
    rc = tally_submit(cli->client, o.labeler, o.slot, o.lease_id, o.label, o.handling_ms);
    result = "submitted";
  } else if (strcmp(command, "skip") == 0) {
    rc = tally_skip(cli->client, o.labeler, o.slot, o.lease_id);
    result = "skipped";
  } else {
    rc = tally_release(cli->client, o.labeler, o.slot, o.lease_id);
    result = "released";
  }
  if (rc < 0) return cli_fail(cli, command, rc);
  return print_action(cli, result, &o) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cmd_submit(cli_t *cli, int argc, char **argv) { return lease_action(cli, "submit", argc, argv); }
int cmd_skip(cli_t *cli, int argc, char **argv) { return lease_action(cli, "skip", argc, argv); }
int cmd_release(cli_t *cli, int argc, char **argv) { return lease_action(cli, "release", argc, argv); }
