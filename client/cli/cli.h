/* cli: what every command of the `tally` program shares — global options,
 * the connection, exit codes, error messages, option-parsing helpers — and
 * the entry points and option structs of the commands (cmd_*.c).
 *
 * Exit codes (also in `tally --help`):
 *   0  success
 *   1  the operation failed (server refused, unreachable, ingest rejected lines)
 *   2  usage error (unknown command or option, bad or missing argument)
 *   3  `tally lease`: no task available
 *
 * Errors print `tally: <what failed>: <message> (<ERROR_NAME>)` on stderr.
 *
 * Each command has a parse function (argv[0] is the command's own name) that
 * fills an options struct and returns CLI_PARSED, CLI_HELP (usage printed on
 * stdout) or CLI_USAGE (message printed on stderr), and a cmd_* function that
 * parses, runs and returns the exit code. The parse functions are separate
 * so tests can check them without a cluster.
 */
#ifndef TALLY_CLIENT_CLI_H
#define TALLY_CLIENT_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"
#include "tally.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_NO_TASK = 3 };

enum { CLI_PARSED = 0, CLI_HELP = 1, CLI_USAGE = -1 };

typedef struct {
  const char *coordinator; /* --coordinator, $TALLY_COORDINATOR, or the default */
  output_format_t format;  /* --format */
  int timeout_ms;          /* --timeout */
  const char *key_file;    /* --key, $TALLY_KEY: who this command acts as */
  const char *coordinator_key; /* --coordinator-key, $TALLY_COORDINATOR_KEY */
  int insecure;            /* --insecure: plain TCP, for clusters started --insecure */
  tally_t *client;         /* opened by cli_connect() */
  FILE *out;               /* results (stdout) */
  FILE *err;               /* errors and progress (stderr) */
} cli_t;

/* getopt_long ids of the global options, accepted by every command too. */
enum {
  CLI_OPT_COORDINATOR = 0x100,
  CLI_OPT_FORMAT,
  CLI_OPT_TIMEOUT,
  CLI_OPT_KEY,
  CLI_OPT_COORDINATOR_KEY,
  CLI_OPT_INSECURE,
  CLI_OPT_COMMAND = 0x200
};

#define CLI_GLOBAL_OPTIONS                                                 \
  {"coordinator", required_argument, NULL, CLI_OPT_COORDINATOR},           \
      {"format", required_argument, NULL, CLI_OPT_FORMAT},                 \
      {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},               \
      {"key", required_argument, NULL, CLI_OPT_KEY},                       \
      {"coordinator-key", required_argument, NULL, CLI_OPT_COORDINATOR_KEY}, \
      {"insecure", no_argument, NULL, CLI_OPT_INSECURE},                   \
      {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}

/* Defaults: coordinator from $TALLY_COORDINATOR or TALLY_DEFAULT_COORDINATOR,
 * table format, TALLY_DEFAULT_TIMEOUT_MS, stdout/stderr. */
void cli_init(cli_t *cli);

/* Closes the connection, if any. */
void cli_finish(cli_t *cli);

/* The whole program: global options, then the command. Returns the exit
 * code. */
int cli_main(cli_t *cli, int argc, char **argv);

/* Opens cli->client if not yet open. Returns 0, or prints the error and
 * returns CLI_EXIT_FAILURE. */
int cli_connect(cli_t *cli);

/* Prints `tally: <what>: <last error> (<NAME of code>)` and returns
 * CLI_EXIT_FAILURE. */
int cli_fail(cli_t *cli, const char *what, int code);

/* Prints `tally <command>: <message>` and a hint to use --help on stderr;
 * returns CLI_USAGE. */
int cli_usage_error(cli_t *cli, const char *command, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Handles what getopt_long returned for an option that is not the
 * command's own: a global option, -h/--help (prints `help` plus the global
 * options on stdout), or an unknown option / missing argument. Returns
 * CLI_PARSED, CLI_HELP or CLI_USAGE. */
int cli_common_option(cli_t *cli, const char *command, const char *help, int c, char **argv);

/* Parses a command that takes only the global options and exactly
 * `count` positional arguments (stored in args[]; `what` names them in the
 * error message). Returns CLI_PARSED, CLI_HELP or CLI_USAGE. */
int cli_parse_positionals(cli_t *cli, const char *command, const char *help, int argc, char **argv, int count,
                          const char *what, const char **args);

/* Exit code for a parse result other than CLI_PARSED. */
int cli_parse_exit(int parse_result);

/* Resets getopt for a new argument vector (tests parse several). */
void cli_getopt_reset(void);

/* Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a finite number in [min, max]. Returns 0 or -1. */
int cli_parse_double(const char *s, double min, double max, double *out);

/* Splits "a,b, c" into trimmed items (malloc'ed, free with cli_list_free).
 * Returns 0, or -1 when the list or an item is empty. */
int cli_split_list(const char *s, char ***out, size_t *count);
void cli_list_free(char ***list, size_t *count);

/* A command (or group) of the program. */
typedef struct {
  const char *name;
  const char *summary;
  int (*run)(cli_t *cli, int argc, char **argv);
} cli_command_t;

/* Runs a command group ("project", "labeler", ...): accepts global options
 * and --help before the subcommand, then runs subs[i]. */
int cli_group(cli_t *cli, const char *group, const cli_command_t *subs, size_t count, int argc, char **argv);

/* ------------------------------------------------------------ commands */

int cmd_cluster(cli_t *cli, int argc, char **argv);
int cmd_status(cli_t *cli, int argc, char **argv);
int cmd_project(cli_t *cli, int argc, char **argv);
int cmd_project_guideline(cli_t *cli, int argc, char **argv); /* cmd_guideline.c */
int cmd_calibration(cli_t *cli, int argc, char **argv);       /* cmd_calibration.c */
int cmd_labeler(cli_t *cli, int argc, char **argv);
int cmd_ingest(cli_t *cli, int argc, char **argv);
int cmd_lease(cli_t *cli, int argc, char **argv);
int cmd_submit(cli_t *cli, int argc, char **argv);
int cmd_skip(cli_t *cli, int argc, char **argv);
int cmd_release(cli_t *cli, int argc, char **argv);
int cmd_item(cli_t *cli, int argc, char **argv);
int cmd_simulate(cli_t *cli, int argc, char **argv);
int cmd_audit_policy(cli_t *cli, int argc, char **argv);
int cmd_report(cli_t *cli, int argc, char **argv);
/* `tally report throughput|backlog|sla|capacity|ttfa` (cmd_ops.c) */
int cmd_report_throughput(cli_t *cli, int argc, char **argv);
int cmd_report_backlog(cli_t *cli, int argc, char **argv);
int cmd_report_sla(cli_t *cli, int argc, char **argv);
int cmd_report_capacity(cli_t *cli, int argc, char **argv);
int cmd_report_ttfa(cli_t *cli, int argc, char **argv);
int cmd_report_daily(cli_t *cli, int argc, char **argv); /* `report daily`, cmd_daily.c */
int cmd_feedback(cli_t *cli, int argc, char **argv);
int cmd_keys(cli_t *cli, int argc, char **argv);      /* cmd_security.c */
int cmd_admin_log(cli_t *cli, int argc, char **argv); /* cmd_security.c */
int cmd_whoami(cli_t *cli, int argc, char **argv);    /* cmd_security.c */
/* web console sign-in (cmd_signin.c) */
int cmd_token(cli_t *cli, int argc, char **argv);
int cmd_labeler_password(cli_t *cli, int argc, char **argv);
int cmd_labeler_language(cli_t *cli, int argc, char **argv);
int cmd_export(cli_t *cli, int argc, char **argv);
int cmd_cases(cli_t *cli, int argc, char **argv);
/* `tally wellbeing set|show` and `tally report exposure` (cmd_wellbeing.c) */
int cmd_wellbeing(cli_t *cli, int argc, char **argv);
int cmd_report_exposure(cli_t *cli, int argc, char **argv);
/* `report items`, cmd_report_items.c: the closed audits behind a report cell */
int cmd_report_items(cli_t *cli, int argc, char **argv);
/* Prints a project's wellbeing settings as "key: value" lines. */
void wellbeing_print_fields(cli_t *cli, const tally_project_t *p);

/* `--guideline V` of `command`: V is a policy version number or the name
 * of one of `project`'s guideline versions (asked from the coordinator;
 * cli_connect first). Returns 0 with *version, or the exit code after
 * printing why (CLI_EXIT_USAGE: no such name). */
int guideline_resolve(cli_t *cli, const char *command, const char *project, const char *text,
                      uint32_t *version);

/* Parses a day "YYYY-MM-DD" for option `option` of `command` into days
 * since 1970-01-01. Returns CLI_PARSED or CLI_USAGE (message printed). */
int cli_parse_day(cli_t *cli, const char *command, const char *option, const char *text, uint32_t *day);

/* `tally project create` */
typedef struct {
  const char *name;
  char **labels;
  size_t label_count;
  char **markets;
  size_t market_count;
  uint32_t lease_seconds;
  double audit_rate;
  uint32_t overlap;
  uint32_t sla_seconds;
  int ordinal;
  char **high_severity; /* wellbeing (cmd_wellbeing.c) */
  size_t high_severity_count;
  uint32_t exposure_budget;
  uint32_t shift_hours;
} project_create_opts_t;
int project_create_parse(cli_t *cli, int argc, char **argv, project_create_opts_t *o);
void project_create_opts_free(project_create_opts_t *o);

/* `tally labeler add` */
typedef struct {
  const char *id;
  uint32_t roles;
  char **markets;
  size_t market_count;
  char public_key[41]; /* --key, "" none */
} labeler_add_opts_t;
int labeler_add_parse(cli_t *cli, int argc, char **argv, labeler_add_opts_t *o);
void labeler_add_opts_free(labeler_add_opts_t *o);

/* `tally ingest` */
typedef struct {
  const char *project;
  const char *file; /* "-" = stdin */
} ingest_opts_t;
int ingest_parse(cli_t *cli, int argc, char **argv, ingest_opts_t *o);

/* `tally lease` */
typedef struct {
  const char *labeler;
  const char *project; /* NULL = any */
  tally_stage_t stage;
  int wait_ms;
} lease_opts_t;
int lease_parse(cli_t *cli, int argc, char **argv, lease_opts_t *o);

/* `tally submit` / `skip` / `release` (label, policy-unclear and note only
 * for submit; --policy-unclear, --attribution or --note make it a lead's
 * adjudication verdict, which a plain submit of an adjudication task is too) */
typedef struct {
  const char *labeler;
  const char *token;
  uint32_t slot;
  uint64_t lease_id;
  const char *label;
  uint32_t handling_ms;
  tally_attribution_t attribution; /* NONE or POLICY_UNCLEAR (the rest is derived by the worker) */
  int verdict;                     /* sent as an adjudication (tally_submit_adjudication) */
  const char *note;                /* NULL: none */
} lease_action_opts_t;
int lease_action_parse(cli_t *cli, const char *command, int argc, char **argv, lease_action_opts_t *o);

/* `tally simulate` */
typedef struct {
  const char *project;
  char **labelers; /* ids: --labeler, or sim-001.. from --labelers */
  size_t labeler_count;
  double *accuracies; /* one per labeler */
  char **auditors;    /* sim-aud-001.. from --auditors */
  size_t auditor_count;
  double auditor_accuracy;
  char **leads; /* sim-lead-001.. from --leads */
  size_t lead_count;
  double policy_unclear_share;
  uint64_t tasks;     /* 0 = no limit */
  double duration_s;  /* 0 = no limit */
  uint64_t seed;
  int create_labelers;
  char **markets;
  size_t market_count;
  /* --generate */
  int generate;
  uint64_t generate_count;
  double emergency_share;
  double hint_share; /* share of items whose category_hint is their truth */
  char **labels;
  size_t label_count;
  const char *id_prefix;
} simulate_opts_t;
int simulate_parse(cli_t *cli, int argc, char **argv, simulate_opts_t *o);
void simulate_opts_free(simulate_opts_t *o);


/* ------------------------------------------------------------ audit and quality */

/* `tally audit-policy set`: what to change in the current policy. */
typedef struct {
  const char *project;
  int has_rate, has_ramp_rate, has_ramp_audits, has_ramp_target, has_gold_rate;
  double rate, ramp_rate, ramp_target, gold_rate;
  uint32_t ramp_audits;
  int clear_markets;
  tally_market_rate_t *markets; /* --market M=R, one per market (the last wins); markets malloc'ed */
  size_t market_count;
  char **drop_markets; /* --drop-market M */
  size_t drop_count;
} audit_policy_set_opts_t;
int audit_policy_set_parse(cli_t *cli, int argc, char **argv, audit_policy_set_opts_t *o);
void audit_policy_set_opts_free(audit_policy_set_opts_t *o);

/* The policy `current` changed as `o` says, into *out; its market rates
 * (the current ones in order, cleared or dropped as asked, then new markets
 * in option order) are malloc'ed into *rates (caller frees; strings stay
 * borrowed from `current` and `o`). Returns 0 or -1 (out of memory). */
int audit_policy_apply(const audit_policy_set_opts_t *o, const tally_audit_policy_t *current,
                       tally_audit_policy_t *out, tally_market_rate_t **rates);

/* Prints a project's audit policy in cli->format. Returns 0 or -1. */
int audit_policy_print(cli_t *cli, const tally_project_t *p);

/* `tally report quality` / `tally report confusion` */
typedef struct {
  const char *project;
  tally_report_query_t query;
  size_t top; /* confusion: most confused pairs to list, 0 = all */
} report_opts_t;
int report_parse(cli_t *cli, const char *command, int argc, char **argv, report_opts_t *o);

/* Print a report in cli->format (on cli->out; warnings on cli->err).
 * Return 0 or -1. */
int report_quality_print(cli_t *cli, const report_opts_t *o, const tally_report_t *rep);
int report_confusion_print(cli_t *cli, const report_opts_t *o, const tally_report_t *rep);

/* `tally report gold` (cmd_report_gold.c): per person gold answers, hits
 * and accuracy with its Wilson interval, from a by-labeler report. */
int cmd_report_gold(cli_t *cli, int argc, char **argv);
int report_gold_print(cli_t *cli, const report_opts_t *o, const tally_report_t *rep);

/* `tally feedback` */
typedef struct {
  const char *labeler;
  const char *project; /* NULL = all */
  uint32_t limit;
  int standing; /* --standing: only where they stand per project */
} feedback_opts_t;
int feedback_parse(cli_t *cli, int argc, char **argv, feedback_opts_t *o);
int feedback_print(cli_t *cli, const feedback_opts_t *o, const tally_feedback_t *fb);
/* One project's standing as JSON (new reference): shared with the gateway's shape. */
json_t *feedback_standing_json(const tally_standing_t *s);

/* `tally export judgments` */
typedef enum { EXPORT_JSONL = 0, EXPORT_CSV = 1 } export_format_t;
typedef struct {
  const char *project;
  export_format_t format;
} export_opts_t;
int export_parse(cli_t *cli, int argc, char **argv, export_opts_t *o);

/* One judgment as one line of JSON Lines / one CSV record (the header is
 * export_csv_header()). Return 0 or -1 (write error). */
int export_judgment_jsonl(FILE *f, const tally_judgment_t *j);
int export_judgment_csv(FILE *f, const tally_judgment_t *j);
void export_csv_header(FILE *f);

#endif
