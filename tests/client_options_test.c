/* client_options_test: option parsing of `tally` commands and the exit
 * codes and messages of usage errors and --help (client/cli.c, cmd_*.c).
 * No cluster is needed: nothing here connects. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"

/* A cli_t whose stdout and stderr go to memory. */
typedef struct {
  cli_t cli;
  char *out, *err;
  size_t out_len, err_len;
} capture_t;

static void capture_open(capture_t *c) {
  memset(c, 0, sizeof *c);
  cli_init(&c->cli);
  c->cli.coordinator = "tcp://127.0.0.1:1"; /* never used: nothing connects */
  c->cli.out = open_memstream(&c->out, &c->out_len);
  c->cli.err = open_memstream(&c->err, &c->err_len);
}

static void capture_close(capture_t *c) {
  fclose(c->cli.out);
  fclose(c->cli.err);
  cli_finish(&c->cli);
  free(c->out);
  free(c->err);
}

static void capture_flush(capture_t *c) {
  fflush(c->cli.out);
  fflush(c->cli.err);
}

/* Builds argv from a NULL-terminated list (getopt permutes it, so copy). */
#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
static int argc_of(char **argv) {
  int n = 0;
  while (argv[n]) n++;
  return n;
}

static void test_project_create(void) {
  capture_t c;
  capture_open(&c);
  project_create_opts_t o;
  char **argv = ARGV("create", "mod", "--labels", "ok, spam,abuse", "--markets=es,ja", "--lease-seconds", "60",
                     "--audit-rate", "0.25", "--overlap", "3", "--sla-seconds", "7200", "--ordinal", "--format",
                     "json");
  CHECK(project_create_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.name && strcmp(o.name, "mod") == 0);
  CHECK(o.label_count == 3 && strcmp(o.labels[1], "spam") == 0 && strcmp(o.labels[2], "abuse") == 0);
  CHECK(o.market_count == 2 && strcmp(o.markets[0], "es") == 0);
  CHECK(o.lease_seconds == 60 && o.audit_rate == 0.25 && o.overlap == 3 && o.sla_seconds == 7200 && o.ordinal);
  CHECK(c.cli.format == OUTPUT_JSON); /* global options work after the command too */
  project_create_opts_free(&o);
  CHECK(o.labels == NULL && o.label_count == 0);

  /* Defaults. */
  argv = ARGV("create", "--labels", "a,b", "--markets", "es", "p2");
  CHECK(project_create_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.name, "p2") == 0 && o.overlap == 1 && o.lease_seconds == 300 && o.audit_rate == 0.1 && !o.ordinal);
  project_create_opts_free(&o);

  /* Usage errors. */
  const struct {
    char **argv;
    const char *message;
  } bad[] = {
      {ARGV("create", "--labels", "a,b", "--markets", "es"), "missing project NAME"},
      {ARGV("create", "p", "--markets", "es"), "missing --labels"},
      {ARGV("create", "p", "--labels", "a,b"), "missing --markets"},
      {ARGV("create", "p", "--labels", "a,,b", "--markets", "es"), "bad --labels"},
      {ARGV("create", "p", "--labels", "a", "--markets", "es", "--audit-rate", "1.5"), "bad --audit-rate"},
      {ARGV("create", "p", "--labels", "a", "--markets", "es", "--overlap", "0"), "bad --overlap"},
      {ARGV("create", "p", "--labels", "a", "--markets", "es", "--lease-seconds", "-5"), "bad --lease-seconds"},
      {ARGV("create", "p", "q", "--labels", "a", "--markets", "es"), "unexpected argument 'q'"},
      {ARGV("create", "p", "--labels", "a", "--markets", "es", "--bogus"), "unknown option '--bogus'"},
      {ARGV("create", "p", "--labels"), "option '--labels' needs a value"},
      {ARGV("create", "p", "--labels", "a", "--markets", "es", "--format", "xml"), "unknown format 'xml'"},
      {ARGV("create", "p", "--labels", "a", "--markets", "es", "--timeout", "0"), "bad --timeout"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    capture_t e;
    capture_open(&e);
    int rc = project_create_parse(&e.cli, argc_of(bad[i].argv), bad[i].argv, &o);
    capture_flush(&e);
    CHECK(rc == CLI_USAGE);
    CHECK(strstr(e.err, bad[i].message) != NULL && strstr(e.err, "Try 'tally project create --help'.") != NULL);
    if (rc != CLI_USAGE || strstr(e.err, bad[i].message) == NULL)
      fprintf(stderr, "  case %zu: rc %d, stderr [%s], wanted [%s]\n", i, rc, e.err, bad[i].message);
    CHECK(o.labels == NULL && o.markets == NULL); /* freed on error */
    capture_close(&e);
  }

  /* --help prints the usage on stdout and asks for exit 0. */
  capture_t h;
  capture_open(&h);
  argv = ARGV("create", "--help");
  CHECK(project_create_parse(&h.cli, argc_of(argv), argv, &o) == CLI_HELP);
  capture_flush(&h);
  CHECK(strstr(h.out, "Usage: tally project create NAME") != NULL && strstr(h.out, "--coordinator") != NULL);
  CHECK(h.err_len == 0);
  capture_close(&h);
  capture_close(&c);
}

static void test_labeler_add(void) {
  capture_t c;
  capture_open(&c);
  labeler_add_opts_t o;
  char **argv = ARGV("add", "ana", "--roles", "labeler,auditor", "--markets", "es,ja");
  CHECK(labeler_add_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.id, "ana") == 0 && o.roles == (TALLY_ROLE_LABELER | TALLY_ROLE_AUDITOR) && o.market_count == 2);
  labeler_add_opts_free(&o);
  argv = ARGV("add", "ben");
  CHECK(labeler_add_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.roles == TALLY_ROLE_LABELER && o.market_count == 0);
  labeler_add_opts_free(&o);
  argv = ARGV("add", "cy", "--roles", "labeler,boss");
  CHECK(labeler_add_parse(&c.cli, argc_of(argv), argv, &o) == CLI_USAGE);
  capture_close(&c);
}

static void test_lease(void) {
  capture_t c;
  capture_open(&c);
  lease_opts_t o;
  char **argv = ARGV("lease", "--as", "ana", "--project", "mod", "--stage", "audit", "--wait", "2.5");
  CHECK(lease_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.labeler, "ana") == 0 && strcmp(o.project, "mod") == 0 && o.stage == TALLY_STAGE_AUDIT &&
        o.wait_ms == 2500);
  argv = ARGV("lease", "--as", "ana");
  CHECK(lease_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.project == NULL && o.stage == TALLY_STAGE_LABEL && o.wait_ms == 0);
  argv = ARGV("lease", "--project", "mod");
  CHECK(lease_parse(&c.cli, argc_of(argv), argv, &o) == CLI_USAGE);
  argv = ARGV("lease", "--as", "ana", "--wait", "31");
  CHECK(lease_parse(&c.cli, argc_of(argv), argv, &o) == CLI_USAGE);
  argv = ARGV("lease", "--as", "ana", "--stage", "review");
  CHECK(lease_parse(&c.cli, argc_of(argv), argv, &o) == CLI_USAGE);
  capture_flush(&c);
  CHECK(strstr(c.err, "missing --as LABELER") != NULL && strstr(c.err, "bad --stage 'review'") != NULL);
  capture_close(&c);
}

static void test_lease_actions(void) {
  capture_t c;
  capture_open(&c);
  lease_action_opts_t o;
  char **argv = ARGV("submit", "--as", "ana", "17.4398046511105", "spam", "--handling-ms", "1500");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.labeler, "ana") == 0 && o.slot == 17 && o.lease_id == 4398046511105ull);
  CHECK(strcmp(o.label, "spam") == 0 && o.handling_ms == 1500 && strcmp(o.token, "17.4398046511105") == 0);
  argv = ARGV("skip", "3.9", "--as", "ben");
  CHECK(lease_action_parse(&c.cli, "skip", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.slot == 3 && o.lease_id == 9 && o.label == NULL);
  argv = ARGV("release", "--as", "ben", "3.9", "extra");
  CHECK(lease_action_parse(&c.cli, "release", argc_of(argv), argv, &o) == CLI_USAGE);
  argv = ARGV("submit", "--as", "ana", "17.4398046511105");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_USAGE);
  argv = ARGV("submit", "--as", "ana", "2000.1", "ok");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_USAGE);
  argv = ARGV("skip", "1.1");
  CHECK(lease_action_parse(&c.cli, "skip", argc_of(argv), argv, &o) == CLI_USAGE);
  argv = ARGV("skip", "--as", "a", "1.1", "--handling-ms", "5");
  CHECK(lease_action_parse(&c.cli, "skip", argc_of(argv), argv, &o) == CLI_USAGE);
  capture_flush(&c);
  CHECK(strstr(c.err, "bad lease token '2000.1'") != NULL);
  CHECK(strstr(c.err, "missing LEASE_TOKEN and LABEL") != NULL);
  capture_close(&c);
}

static void test_ingest(void) {
  capture_t c;
  capture_open(&c);
  ingest_opts_t o;
  char **argv = ARGV("ingest", "mod", "-");
  CHECK(ingest_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.project, "mod") == 0 && strcmp(o.file, "-") == 0);
  argv = ARGV("ingest", "mod");
  CHECK(ingest_parse(&c.cli, argc_of(argv), argv, &o) == CLI_USAGE);
  capture_close(&c);
}

static void test_simulate(void) {
  capture_t c;
  capture_open(&c);
  simulate_opts_t o;
  char **argv = ARGV("simulate", "--project", "mod", "--labelers", "3", "--accuracies", "0.9,0.8,0.5", "--tasks",
                     "100", "--duration", "2.5", "--seed", "42", "--create-labelers");
  CHECK(simulate_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.labeler_count == 3 && strcmp(o.labelers[0], "sim-001") == 0 && strcmp(o.labelers[2], "sim-003") == 0);
  CHECK(o.accuracies[0] == 0.9 && o.accuracies[1] == 0.8 && o.accuracies[2] == 0.5);
  CHECK(o.tasks == 100 && o.duration_s == 2.5 && o.seed == 42 && o.create_labelers && !o.generate);
  simulate_opts_free(&o);

  argv = ARGV("simulate", "--project", "mod", "--labeler", "ana", "--labeler", "ben", "--accuracy", "0.7");
  CHECK(simulate_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.labeler_count == 2 && strcmp(o.labelers[1], "ben") == 0 && o.accuracies[0] == 0.7 &&
        o.accuracies[1] == 0.7);
  simulate_opts_free(&o);

  argv = ARGV("simulate", "--project", "mod");
  CHECK(simulate_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.labeler_count == 5 && o.accuracies[4] == 0.9 && o.tasks == 0 && o.seed == 1);
  simulate_opts_free(&o);

  argv = ARGV("simulate", "--generate", "1000", "--project", "mod", "--markets", "es,ja", "--emergency-share",
              "0.05", "--labels", "ok,spam");
  CHECK(simulate_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.generate && o.generate_count == 1000 && o.market_count == 2 && o.emergency_share == 0.05 &&
        o.label_count == 2);
  simulate_opts_free(&o);

  char **bad[] = {
      ARGV("simulate", "--labelers", "2"),
      ARGV("simulate", "--project", "p", "--labelers", "2", "--labeler", "x"),
      ARGV("simulate", "--project", "p", "--labelers", "3", "--accuracies", "0.9,0.8"),
      ARGV("simulate", "--project", "p", "--accuracy", "1.2"),
      ARGV("simulate", "--project", "p", "--accuracy", "0.5", "--accuracies", "0.5"),
      ARGV("simulate", "--project", "p", "--tasks", "0"),
      ARGV("simulate", "--project", "p", "--labelers", "0"),
      ARGV("simulate", "--project", "p", "stray"),
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = simulate_parse(&c.cli, argc_of(bad[i]), bad[i], &o);
    CHECK(rc == CLI_USAGE && o.labelers == NULL && o.accuracies == NULL);
    if (rc != CLI_USAGE) fprintf(stderr, "  simulate case %zu accepted\n", i);
  }
  capture_close(&c);
}

/* The whole program: exit codes and where messages go. */
static int run_main(capture_t *c, char **argv) {
  capture_open(c);
  int rc = cli_main(&c->cli, argc_of(argv), argv);
  capture_flush(c);
  return rc;
}

static void test_main(void) {
  capture_t c;
  CHECK(run_main(&c, ARGV("tally", "--help")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "Usage: tally") != NULL && strstr(c.out, "simulate") != NULL && c.err_len == 0);
  CHECK(strstr(c.out, "Exit status") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "project", "--help")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "Usage: tally project COMMAND") != NULL && strstr(c.out, "create") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "project", "create", "--help")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "--audit-rate") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "--format", "csv", "ingest", "--help")) == CLI_EXIT_OK);
  CHECK(strstr(c.out, "Exit status: 0 if no line was rejected") != NULL);
  capture_close(&c);
  static const char *const helps[][3] = {{"cluster", "status", NULL}, {"labeler", "add", NULL}, {"labeler", "list", NULL},
                                         {"lease", NULL, NULL},       {"submit", NULL, NULL},  {"skip", NULL, NULL},
                                         {"release", NULL, NULL},     {"status", NULL, NULL},  {"item", "show", NULL},
                                         {"simulate", NULL, NULL},    {"project", "list", NULL}, {"project", "show", NULL}};
  for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
    char *argv[5] = {"tally", (char *)helps[i][0], NULL, NULL, NULL};
    argv[2] = helps[i][1] ? (char *)helps[i][1] : "--help";
    argv[3] = helps[i][1] ? "--help" : NULL;
    int rc = run_main(&c, argv);
    CHECK(rc == CLI_EXIT_OK && strstr(c.out, "Usage: tally ") != NULL);
    if (rc != CLI_EXIT_OK) fprintf(stderr, "  help of %s %s: %d\n", helps[i][0], argv[2], rc);
    capture_close(&c);
  }
  CHECK(run_main(&c, ARGV("tally")) == CLI_EXIT_USAGE);
  CHECK(strstr(c.err, "missing command") != NULL && c.out_len == 0);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "frobnicate")) == CLI_EXIT_USAGE);
  CHECK(strstr(c.err, "tally: unknown command 'frobnicate'") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "--bogus", "status")) == CLI_EXIT_USAGE);
  CHECK(strstr(c.err, "unknown option '--bogus'") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "project", "rename")) == CLI_EXIT_USAGE);
  CHECK(strstr(c.err, "tally project: unknown command 'rename'") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "project")) == CLI_EXIT_USAGE);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "status", "--bogus")) == CLI_EXIT_USAGE);
  CHECK(strstr(c.err, "tally status: unknown option '--bogus'") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "lease", "-x", "--as", "a")) == CLI_EXIT_USAGE);
  CHECK(strstr(c.err, "unknown option '-x'") != NULL);
  capture_close(&c);
  CHECK(run_main(&c, ARGV("tally", "ingest", "mod", "/nonexistent/file.jsonl")) == CLI_EXIT_FAILURE);
  CHECK(strstr(c.err, "tally: ingest: cannot open /nonexistent/file.jsonl") != NULL);
  capture_close(&c);
}

int main(void) {
  check_deadline(30, NULL);
  test_project_create();
  test_labeler_add();
  test_lease();
  test_lease_actions();
  test_ingest();
  test_simulate();
  test_main();
  return check_summary();
}
