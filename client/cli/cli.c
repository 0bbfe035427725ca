/* cli: global options, dispatch, errors and parsing helpers of the `tally`
 * program. See cli.h. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const cli_command_t cli_commands[] = {
    {"cluster", "cluster map and worker health (cluster status)", cmd_cluster},
    {"project", "create, list and show projects", cmd_project},
    {"labeler", "add, list and allocate labelers", cmd_labeler},
    {"ingest", "load items from a JSON Lines file", cmd_ingest},
    {"lease", "lease the next task for a labeler", cmd_lease},
    {"submit", "submit a label for a leased task", cmd_submit},
    {"skip", "skip a leased task", cmd_skip},
    {"release", "give a leased task back untouched", cmd_release},
    {"status", "cluster-wide item, label, lease and queue counts", cmd_status},
    {"item", "show an item's stored state (item show)", cmd_item},
    {"simulate", "simulated labelers, auditors and leads; test items", cmd_simulate},
    {"audit-policy", "show or change a project's audit sampling", cmd_audit_policy},
    {"report", "quality, confusion, throughput, backlog, sla, capacity reports", cmd_report},
    {"feedback", "a labeler's closed audits", cmd_feedback},
    {"export", "export closed audits (export judgments)", cmd_export},
    {"cases", "the case database of adjudicated disagreements", cmd_cases},
    {"calibration", "calibration sessions: same items for a group, blind, scored against a key", cmd_calibration},
    {"wellbeing", "show or change a project's exposure budget (wellbeing set|show)", cmd_wellbeing},
    {"keys", "make CURVE key pairs for people, workers and coordinators (keys generate)", cmd_keys},
    {"admin-log", "the coordinator's log of administrative changes (operators)", cmd_admin_log},
    {"whoami", "who the cluster takes you for: your id, roles and key", cmd_whoami},
    {"token", "API tokens for the web gateway's HTTP API (token create|revoke)", cmd_token},
};

static const char cli_global_help[] =
    "Global options (accepted before or after the command):\n"
    "  --coordinator ENDPOINT  coordinator to talk to (default: $TALLY_COORDINATOR,\n"
    "                          else " TALLY_DEFAULT_COORDINATOR "); for replicated\n"
    "                          coordinators a comma-separated list of all of them: the\n"
    "                          leader is found (NOT_LEADER names it; otherwise the next\n"
    "                          is tried), up to 15 s\n"
    "  --format table|json|csv output format (default table)\n"
    "  --timeout MS            reply timeout per request attempt (default 5000)\n"
    "  --key FILE              your key pair (`tally keys generate`); default $TALLY_KEY.\n"
    "                          Who you are comes from this key alone\n"
    "  --coordinator-key KEY   the coordinator's public key or .pub file; default\n"
    "                          $TALLY_COORDINATOR_KEY\n"
    "  --insecure              plain TCP, no key: only for a cluster started --insecure\n"
    "  -h, --help              show help and exit\n";

static const char cli_exit_help[] =
    "Exit status: 0 success; 1 the operation failed (errors print\n"
    "`tally: <what>: <message> (<ERROR_NAME>)`); 2 usage error; 3 `tally lease`\n"
    "found no task.\n"
    "Errors of replication: NOT_LEADER, a coordinator that is not the leader (the\n"
    "CLI follows it to the leader; seen only when none was found in time: give\n"
    "every coordinator in --coordinator); FENCED, a worker that is no longer a\n"
    "slot's primary refused a write (retry: the map names the new one).\n";

void cli_init(cli_t *cli) {
  memset(cli, 0, sizeof *cli);
  const char *env = getenv("TALLY_COORDINATOR");
  cli->coordinator = env && env[0] ? env : TALLY_DEFAULT_COORDINATOR;
  env = getenv("TALLY_KEY");
  cli->key_file = env && env[0] ? env : NULL;
  env = getenv("TALLY_COORDINATOR_KEY");
  cli->coordinator_key = env && env[0] ? env : NULL;
  cli->format = OUTPUT_TABLE;
  cli->timeout_ms = TALLY_DEFAULT_TIMEOUT_MS;
  cli->out = stdout;
  cli->err = stderr;
}

void cli_finish(cli_t *cli) { tally_close(&cli->client); }

void cli_getopt_reset(void) {
  optind = 0; /* glibc: full re-initialisation */
  opterr = 0;
}

int cli_connect(cli_t *cli) {
  if (cli->client) return 0;
  tally_credentials_t credentials;
  int rc = 0;
  if (!cli->insecure) {
    if (cli->key_file == NULL || cli->coordinator_key == NULL) {
      fprintf(cli->err,
              "tally: no %s: give --key FILE (or set TALLY_KEY) and --coordinator-key KEY "
              "(or set TALLY_COORDINATOR_KEY); `tally keys generate NAME` makes a key, an "
              "operator adds it (labeler add --public-key); --insecure only for a cluster started "
              "without keys\n",
              cli->key_file == NULL ? "key" : "coordinator key");
      return CLI_EXIT_FAILURE;
    }
    rc = tally_credentials_load(&credentials, cli->key_file, cli->coordinator_key);
    if (rc < 0) {
      fprintf(cli->err, "tally: %s\n",
              rc == TALLY_E_IO ? "cannot read the key file given with --key / TALLY_KEY"
                               : "--key must name a key file made by `tally keys generate`, "
                                 "and --coordinator-key a public key or .pub file");
      return CLI_EXIT_FAILURE;
    }
  }
  rc = tally_open_with(&cli->client, cli->coordinator, cli->timeout_ms,
                       cli->insecure ? NULL : &credentials);
  if (rc == 0) return 0;
  fprintf(cli->err, "tally: cannot use coordinator %s: %s (%s)\n", cli->coordinator, tally_strerror(rc),
          tally_error_name(rc));
  return CLI_EXIT_FAILURE;
}

int cli_fail(cli_t *cli, const char *what, int code) {
  const char *message = cli->client ? tally_last_error(cli->client) : "";
  if (message == NULL || message[0] == '\0') message = tally_strerror(code);
  char safe[1024]; /* the server's words: never raw control characters on a terminal */
  fprintf(cli->err, "tally: %s: %s (%s)\n", what, output_safe(message, safe, sizeof safe),
          tally_error_name(code));
  return CLI_EXIT_FAILURE;
}

int cli_usage_error(cli_t *cli, const char *command, const char *fmt, ...) {
  va_list ap;
  fprintf(cli->err, "tally%s%s: ", command[0] ? " " : "", command);
  va_start(ap, fmt);
  vfprintf(cli->err, fmt, ap);
  va_end(ap);
  fprintf(cli->err, "\nTry 'tally%s%s --help'.\n", command[0] ? " " : "", command);
  return CLI_USAGE;
}

int cli_parse_exit(int parse_result) { return parse_result == CLI_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE; }

int cli_common_option(cli_t *cli, const char *command, const char *help, int c, char **argv) {
  uint64_t ms = 0;
  switch (c) {
    case CLI_OPT_COORDINATOR:
      if (optarg[0] == '\0') return cli_usage_error(cli, command, "--coordinator needs an endpoint");
      cli->coordinator = optarg;
      return CLI_PARSED;
    case CLI_OPT_FORMAT:
      if (output_format_parse(optarg, &cli->format) < 0)
        return cli_usage_error(cli, command, "unknown format '%s' (table, json or csv)", optarg);
      return CLI_PARSED;
    case CLI_OPT_TIMEOUT:
      if (cli_parse_u64(optarg, 1, 3600000, &ms) < 0)
        return cli_usage_error(cli, command, "bad --timeout '%s' (milliseconds, 1..3600000)", optarg);
      cli->timeout_ms = (int)ms;
      return CLI_PARSED;
    case CLI_OPT_KEY:
      if (optarg[0] == '\0') return cli_usage_error(cli, command, "--key needs a key file");
      cli->key_file = optarg;
      return CLI_PARSED;
    case CLI_OPT_COORDINATOR_KEY:
      if (optarg[0] == '\0') return cli_usage_error(cli, command, "--coordinator-key needs a key");
      cli->coordinator_key = optarg;
      return CLI_PARSED;
    case CLI_OPT_INSECURE:
      cli->insecure = 1;
      return CLI_PARSED;
    case 'h':
      fputs(help, cli->out);
      fputc('\n', cli->out);
      fputs(cli_global_help, cli->out);
      return CLI_HELP;
    case ':':
      return cli_usage_error(cli, command, "option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt && optopt < 0x100 && c == '?')
        return cli_usage_error(cli, command, "unknown option '-%c'", optopt);
      return cli_usage_error(cli, command, "unknown option '%s'", argv[optind - 1]);
  }
}

int cli_parse_positionals(cli_t *cli, const char *command, const char *help, int argc, char **argv, int count,
                          const char *what, const char **args) {
  static const struct option options[] = {CLI_GLOBAL_OPTIONS};
  cli_getopt_reset();
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    int rc = cli_common_option(cli, command, help, c, argv);
    if (rc != CLI_PARSED) return rc;
  }
  if (argc - optind < count) return cli_usage_error(cli, command, "missing %s", what);
  if (argc - optind > count) return cli_usage_error(cli, command, "unexpected argument '%s'", argv[optind + count]);
  for (int i = 0; i < count; i++) {
    if (argv[optind + i][0] == '\0') return cli_usage_error(cli, command, "empty argument");
    args[i] = argv[optind + i];
  }
  return CLI_PARSED;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (s == NULL || s[0] < '0' || s[0] > '9') return -1;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

int cli_parse_day(cli_t *cli, const char *command, const char *option, const char *text, uint32_t *day) {
  if (tally_day_parse(text, day) == 0) return CLI_PARSED;
  return cli_usage_error(cli, command, "bad %s '%s' (a date YYYY-MM-DD, UTC)", option, text);
}

int cli_parse_double(const char *s, double min, double max, double *out) {
  if (s == NULL || s[0] == '\0') return -1;
  errno = 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (errno || *end != '\0' || !isfinite(v) || v < min || v > max) return -1;
  *out = v;
  return 0;
}

int cli_split_list(const char *s, char ***out, size_t *count) {
  *out = NULL;
  *count = 0;
  size_t n = 1;
  for (const char *p = s; *p; p++) n += *p == ',';
  char **items = calloc(n, sizeof *items);
  if (items == NULL) return -1;
  size_t k = 0;
  const char *p = s;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len > 0 && (*p == ' ' || *p == '\t')) p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == 0 || (items[k] = strndup(p, len)) == NULL) {
      *count = k;
      cli_list_free(&items, count);
      return -1;
    }
    k++;
    if (end == NULL) break;
    p = end + 1;
  }
  *out = items;
  *count = k;
  return 0;
}

void cli_list_free(char ***list, size_t *count) {
  if (*list) {
    for (size_t i = 0; i < *count; i++) free((*list)[i]);
    free(*list);
  }
  *list = NULL;
  *count = 0;
}

/* Usage of a group or of the program: its commands and summaries. */
static void print_commands(FILE *f, const char *prefix, const cli_command_t *cmds, size_t count) {
  for (size_t i = 0; i < count; i++) fprintf(f, "  %s%-12s %s\n", prefix, cmds[i].name, cmds[i].summary);
}

static const cli_command_t *find_command(const cli_command_t *cmds, size_t count, const char *name) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(cmds[i].name, name) == 0) return &cmds[i];
  return NULL;
}

int cli_group(cli_t *cli, const char *group, const cli_command_t *subs, size_t count, int argc, char **argv) {
  static const struct option options[] = {CLI_GLOBAL_OPTIONS};
  char help[2048];
  int used = snprintf(help, sizeof help, "Usage: tally %s COMMAND [options]\n\nCommands:\n", group);
  for (size_t i = 0; i < count && used > 0 && (size_t)used < sizeof help; i++)
    used += snprintf(help + used, sizeof help - (size_t)used, "  %-12s %s\n", subs[i].name, subs[i].summary);
  if (used > 0 && (size_t)used < sizeof help)
    snprintf(help + used, sizeof help - (size_t)used, "\nRun 'tally %s COMMAND --help' for a command's options.\n",
             group);
  cli_getopt_reset();
  int c;
  while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
    int rc = cli_common_option(cli, group, help, c, argv);
    if (rc != CLI_PARSED) return cli_parse_exit(rc);
  }
  if (optind >= argc) {
    fprintf(cli->err, "tally %s: missing command\n", group);
    print_commands(cli->err, "", subs, count);
    fprintf(cli->err, "Try 'tally %s --help'.\n", group);
    return CLI_EXIT_USAGE;
  }
  const cli_command_t *sub = find_command(subs, count, argv[optind]);
  if (sub == NULL) {
    cli_usage_error(cli, group, "unknown command '%s'", argv[optind]);
    return CLI_EXIT_USAGE;
  }
  return sub->run(cli, argc - optind, argv + optind);
}

int cli_main(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {CLI_GLOBAL_OPTIONS};
  static const char help[] =
      "Usage: tally [--coordinator ENDPOINT] [--format table|json|csv] [--timeout MS]\n"
      "             COMMAND [options]\n\n"
      "Client of a Tally labeling-and-audit cluster.\n\nCommands:\n";
  size_t count = sizeof cli_commands / sizeof cli_commands[0];
  cli_getopt_reset();
  int c;
  while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
    if (c == 'h') {
      fputs(help, cli->out);
      print_commands(cli->out, "", cli_commands, count);
      fputs("\nRun 'tally COMMAND --help' for a command's options.\n\n", cli->out);
      fputs(cli_global_help, cli->out);
      fputc('\n', cli->out);
      fputs(cli_exit_help, cli->out);
      return CLI_EXIT_OK;
    }
    int rc = cli_common_option(cli, "", help, c, argv);
    if (rc != CLI_PARSED) return cli_parse_exit(rc);
  }
  if (optind >= argc) {
    fputs("tally: missing command\nTry 'tally --help'.\n", cli->err);
    return CLI_EXIT_USAGE;
  }
  const char *name = argv[optind];
  if (strcmp(name, "help") == 0) {
    char *help_argv[] = {argv[0], "--help", NULL};
    return cli_main(cli, 2, help_argv);
  }
  const cli_command_t *cmd = find_command(cli_commands, count, name);
  if (cmd == NULL) {
    fprintf(cli->err, "tally: unknown command '%s'\nTry 'tally --help'.\n", name);
    return CLI_EXIT_USAGE;
  }
  return cmd->run(cli, argc - optind, argv + optind);
}
