/* client_options_test: option parsing of `tally` commands and the exit
 * codes and messages of usage errors and --help (client/cli/cli.c, cmd_*.c).
 * No cluster is needed: nothing here connects. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "client_capture.h"

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

static void test_submit_adjudication(void) {
  capture_t c;
  capture_open(&c);
  lease_action_opts_t o;
  char **argv = ARGV("submit", "--as", "lead", "5.6", "ok", "--attribution", "policy-unclear", "--note", "see 4.2");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR && o.verdict && strcmp(o.note, "see 4.2") == 0 &&
        strcmp(o.label, "ok") == 0);
  argv = ARGV("submit", "--as", "lead", "5.6", "ok", "--policy-unclear");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR && o.verdict && o.note == NULL);
  /* Who was wrong is derived by the worker: an older script's guess is accepted, not sent. */
  argv = ARGV("submit", "--as", "lead", "5.6", "ok", "--attribution", "Both");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.attribution == TALLY_ATTRIBUTION_NONE && o.verdict && o.note == NULL);
  argv = ARGV("submit", "--as", "lead", "5.6", "ok", "--note", "x");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.attribution == TALLY_ATTRIBUTION_NONE && o.verdict && strcmp(o.note, "x") == 0);
  argv = ARGV("submit", "--as", "ana", "5.6", "ok");
  CHECK(lease_action_parse(&c.cli, "submit", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.attribution == TALLY_ATTRIBUTION_NONE && !o.verdict && o.note == NULL);
  const struct {
    const char *command;
    char **argv;
    const char *message;
  } bad[] = {
      {"submit", ARGV("submit", "--as", "lead", "5.6", "ok", "--attribution", "nobody"), "bad --attribution 'nobody'"},
      {"submit", ARGV("submit", "--as", "lead", "5.6", "ok", "--attribution", "none"), "bad --attribution 'none'"},
      {"skip", ARGV("skip", "--as", "lead", "5.6", "--policy-unclear"), "unknown option '--policy-unclear'"},
      {"skip", ARGV("skip", "--as", "lead", "5.6", "--attribution", "labeler"), "unknown option '--attribution'"},
      {"release", ARGV("release", "--as", "lead", "5.6", "--note", "x"), "unknown option '--note'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    capture_t e;
    capture_open(&e);
    int rc = lease_action_parse(&e.cli, bad[i].command, argc_of(bad[i].argv), bad[i].argv, &o);
    capture_flush(&e);
    CHECK(rc == CLI_USAGE && strstr(e.err, bad[i].message) != NULL);
    if (rc != CLI_USAGE || strstr(e.err, bad[i].message) == NULL)
      fprintf(stderr, "  submit case %zu: rc %d, stderr [%s]\n", i, rc, e.err);
    capture_close(&e);
  }
  capture_close(&c);
}

static void test_audit_policy_set(void) {
  capture_t c;
  capture_open(&c);
  audit_policy_set_opts_t o;
  char **argv = ARGV("set", "--project", "mod", "--rate", "0.2", "--market", "es=0.5", "--market", "ja=0.1",
                     "--market", "es=0.3", "--ramp-rate", "0.6", "--ramp-audits", "25", "--ramp-target", "0.92",
                     "--drop-market", "ko", "--gold-rate", "0.02");
  CHECK(audit_policy_set_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.project, "mod") == 0 && o.has_rate && o.rate == 0.2 && o.ramp_rate == 0.6 && o.ramp_audits == 25 &&
        o.ramp_target == 0.92 && !o.clear_markets && o.has_gold_rate && o.gold_rate == 0.02);
  /* The last rate of a market wins. */
  CHECK(o.market_count == 2 && strcmp(o.markets[0].market, "es") == 0 && o.markets[0].rate == 0.3 &&
        strcmp(o.markets[1].market, "ja") == 0);
  CHECK(o.drop_count == 1 && strcmp(o.drop_markets[0], "ko") == 0);

  /* Applied to a current policy: kept, replaced, dropped, added. */
  tally_market_rate_t current_rates[] = {{"ko", 0.9}, {"ja", 0.8}, {"pt", 0.7}};
  tally_audit_policy_t current = {0.1, current_rates, 3, 0.0, 5, 0.5, 0.0}, next;
  tally_market_rate_t *rates = NULL;
  CHECK(audit_policy_apply(&o, &current, &next, &rates) == 0);
  CHECK(next.rate == 0.2 && next.ramp_rate == 0.6 && next.ramp_audits == 25 && next.ramp_target == 0.92 &&
        next.gold_rate == 0.02);
  CHECK(next.market_rate_count == 3 && strcmp(next.market_rates[0].market, "ja") == 0 &&
        next.market_rates[0].rate == 0.1 && strcmp(next.market_rates[1].market, "pt") == 0 &&
        next.market_rates[1].rate == 0.7 && strcmp(next.market_rates[2].market, "es") == 0 &&
        next.market_rates[2].rate == 0.3);
  free(rates);
  audit_policy_set_opts_free(&o);
  CHECK(o.markets == NULL && o.drop_markets == NULL);

  /* Only what is given changes; --clear-markets drops the rest first. */
  argv = ARGV("set", "--project", "mod", "--clear-markets", "--market", "pt=0");
  CHECK(audit_policy_set_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(audit_policy_apply(&o, &current, &next, &rates) == 0);
  CHECK(next.rate == 0.1 && next.ramp_audits == 5 && next.market_rate_count == 1 && next.market_rates[0].rate == 0.0);
  free(rates);
  audit_policy_set_opts_free(&o);
  argv = ARGV("set", "--project", "mod", "--clear-markets");
  CHECK(audit_policy_set_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(audit_policy_apply(&o, &current, &next, &rates) == 0 && next.market_rate_count == 0 &&
        next.market_rates == NULL);
  free(rates);
  audit_policy_set_opts_free(&o);

  const struct {
    char **argv;
    const char *message;
  } bad[] = {
      {ARGV("set", "--rate", "0.1"), "missing --project"},
      {ARGV("set", "--project", "mod"), "nothing to change"},
      {ARGV("set", "--project", "mod", "--rate", "1.01"), "bad --rate '1.01'"},
      {ARGV("set", "--project", "mod", "--rate", "nan"), "bad --rate 'nan'"},
      {ARGV("set", "--project", "mod", "--market", "es"), "bad --market 'es' (MARKET=RATE"},
      {ARGV("set", "--project", "mod", "--market", "=0.1"), "bad --market '=0.1'"},
      {ARGV("set", "--project", "mod", "--market", "es=2"), "bad --market 'es=2'"},
      {ARGV("set", "--project", "mod", "--market", "es="), "bad --market 'es='"},
      {ARGV("set", "--project", "mod", "--ramp-audits", "-1"), "bad --ramp-audits"},
      {ARGV("set", "--project", "mod", "--ramp-target", "x"), "bad --ramp-target"},
      {ARGV("set", "--project", "mod", "--market", "es=0.1", "--drop-market", "es"), "both set"},
      {ARGV("set", "--project", "mod", "--rate", "0.1", "extra"), "unexpected argument 'extra'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    capture_t e;
    capture_open(&e);
    int rc = audit_policy_set_parse(&e.cli, argc_of(bad[i].argv), bad[i].argv, &o);
    capture_flush(&e);
    CHECK(rc == CLI_USAGE && strstr(e.err, bad[i].message) != NULL &&
          strstr(e.err, "Try 'tally audit-policy set --help'.") != NULL);
    if (rc != CLI_USAGE || strstr(e.err, bad[i].message) == NULL)
      fprintf(stderr, "  policy case %zu: rc %d, stderr [%s]\n", i, rc, e.err);
    CHECK(o.markets == NULL && o.drop_markets == NULL);
    capture_close(&e);
  }
  capture_close(&c);
}

static void test_report_options(void) {
  capture_t c;
  capture_open(&c);
  report_opts_t o;
  char **argv = ARGV("quality", "--project", "mod", "--market", "es", "--from", "2024-10-01", "--to", "2024-10-14",
                     "--by", "category", "--format", "csv");
  CHECK(report_parse(&c.cli, "quality", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(strcmp(o.project, "mod") == 0 && strcmp(o.query.market, "es") == 0 && o.query.from_day == 19997 &&
        o.query.to_day == 20010 && o.query.by == TALLY_REPORT_BY_CATEGORY && c.cli.format == OUTPUT_CSV);
  argv = ARGV("quality", "--project", "mod");
  CHECK(report_parse(&c.cli, "quality", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.query.market == NULL && o.query.from_day == 0 && o.query.to_day == 0 && o.query.by == TALLY_REPORT_BY_NONE);
  argv = ARGV("confusion", "--project", "mod", "--top", "0", "--to", "2024-10-01");
  CHECK(report_parse(&c.cli, "confusion", argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.top == 0 && o.query.to_day == 19997 && o.query.from_day == 0);
  argv = ARGV("confusion", "--project", "mod");
  CHECK(report_parse(&c.cli, "confusion", argc_of(argv), argv, &o) == CLI_PARSED && o.top == 10);
  const struct {
    const char *command;
    char **argv;
    const char *message;
  } bad[] = {
      {"quality", ARGV("quality", "--by", "labeler"), "missing --project"},
      {"quality", ARGV("quality", "--project", "p", "--by", "week"), "bad --by 'week'"},
      {"quality", ARGV("quality", "--project", "p", "--from", "2024-02-30"), "bad --from '2024-02-30' (a date"},
      {"quality", ARGV("quality", "--project", "p", "--to", "yesterday"), "bad --to 'yesterday'"},
      {"quality", ARGV("quality", "--project", "p", "--from", "2024-10-02", "--to", "2024-10-01"),
       "--from is after --to"},
      {"quality", ARGV("quality", "--project", "p", "--top", "3"), "unknown option '--top'"},
      {"confusion", ARGV("confusion", "--project", "p", "--by", "day"), "unknown option '--by'"},
      {"confusion", ARGV("confusion", "--project", "p", "--top", "-1"), "bad --top"},
      {"confusion", ARGV("confusion", "--project", "p", "x"), "unexpected argument 'x'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    capture_t e;
    capture_open(&e);
    int rc = report_parse(&e.cli, bad[i].command, argc_of(bad[i].argv), bad[i].argv, &o);
    capture_flush(&e);
    CHECK(rc == CLI_USAGE && strstr(e.err, bad[i].message) != NULL);
    if (rc != CLI_USAGE || strstr(e.err, bad[i].message) == NULL)
      fprintf(stderr, "  report case %zu: rc %d, stderr [%s]\n", i, rc, e.err);
    capture_close(&e);
  }
  capture_close(&c);
}

static void test_feedback_export_options(void) {
  capture_t c;
  capture_open(&c);
  feedback_opts_t f;
  char **argv = ARGV("feedback", "--as", "ana", "--project", "mod", "--limit", "5");
  CHECK(feedback_parse(&c.cli, argc_of(argv), argv, &f) == CLI_PARSED);
  CHECK(strcmp(f.labeler, "ana") == 0 && strcmp(f.project, "mod") == 0 && f.limit == 5);
  argv = ARGV("feedback", "--as", "ana");
  CHECK(feedback_parse(&c.cli, argc_of(argv), argv, &f) == CLI_PARSED && f.project == NULL && f.limit == 100);
  argv = ARGV("feedback", "--project", "mod");
  CHECK(feedback_parse(&c.cli, argc_of(argv), argv, &f) == CLI_USAGE);
  argv = ARGV("feedback", "--as", "ana", "--limit", "0");
  CHECK(feedback_parse(&c.cli, argc_of(argv), argv, &f) == CLI_USAGE);
  argv = ARGV("feedback", "--as", "ana", "--limit", "10001");
  CHECK(feedback_parse(&c.cli, argc_of(argv), argv, &f) == CLI_USAGE);

  export_opts_t e;
  argv = ARGV("judgments", "--project", "mod");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_PARSED && e.format == EXPORT_JSONL);
  argv = ARGV("judgments", "--project", "mod", "--format", "csv");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_PARSED && e.format == EXPORT_CSV);
  argv = ARGV("judgments", "--format", "jsonl", "--project", "mod");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_PARSED && e.format == EXPORT_JSONL);
  argv = ARGV("judgments", "--format", "json", "--project", "mod");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_PARSED && e.format == EXPORT_JSONL);
  argv = ARGV("judgments", "--project", "mod", "--format", "table");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_USAGE);
  argv = ARGV("judgments");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_USAGE);
  capture_flush(&c);
  CHECK(strstr(c.err, "tally feedback: missing --as LABELER") != NULL && strstr(c.err, "bad --limit '0'") != NULL);
  CHECK(strstr(c.err, "tally export judgments: unknown format 'table' (jsonl or csv)") != NULL);
  capture_close(&c);
  /* A global --format csv before the command is honoured. */
  capture_open(&c);
  c.cli.format = OUTPUT_CSV;
  argv = ARGV("judgments", "--project", "mod");
  CHECK(export_parse(&c.cli, argc_of(argv), argv, &e) == CLI_PARSED && e.format == EXPORT_CSV);
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
  CHECK(o.auditor_count == 0 && o.lead_count == 0 && o.auditor_accuracy == 0.95 && o.policy_unclear_share == 0.05);
  simulate_opts_free(&o);

  argv = ARGV("simulate", "--project", "mod", "--labelers", "2", "--auditors", "3", "--auditor-accuracy", "0.8",
              "--leads", "1", "--policy-unclear-share", "0.2");
  CHECK(simulate_parse(&c.cli, argc_of(argv), argv, &o) == CLI_PARSED);
  CHECK(o.labeler_count == 2 && o.auditor_count == 3 && strcmp(o.auditors[0], "sim-aud-001") == 0 &&
        strcmp(o.auditors[2], "sim-aud-003") == 0 && o.auditor_accuracy == 0.8);
  CHECK(o.lead_count == 1 && strcmp(o.leads[0], "sim-lead-001") == 0 && o.policy_unclear_share == 0.2);
  simulate_opts_free(&o);
  CHECK(o.auditors == NULL && o.leads == NULL);

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
      ARGV("simulate", "--project", "p", "--auditors", "-1"),
      ARGV("simulate", "--project", "p", "--auditor-accuracy", "1.5"),
      ARGV("simulate", "--project", "p", "--leads", "x"),
      ARGV("simulate", "--project", "p", "--policy-unclear-share", "2"),
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = simulate_parse(&c.cli, argc_of(bad[i]), bad[i], &o);
    CHECK(rc == CLI_USAGE && o.labelers == NULL && o.accuracies == NULL && o.auditors == NULL && o.leads == NULL);
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
                                         {"simulate", NULL, NULL},    {"project", "list", NULL}, {"project", "show", NULL},
                                         {"audit-policy", "show", NULL}, {"audit-policy", "set", NULL},
                                         {"report", "quality", NULL}, {"report", "confusion", NULL},
                                         {"feedback", NULL, NULL},    {"export", "judgments", NULL},
                                         {"audit-policy", NULL, NULL}, {"report", NULL, NULL},
                                         {"export", NULL, NULL}};
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
  test_submit_adjudication();
  test_audit_policy_set();
  test_report_options();
  test_feedback_export_options();
  test_ingest();
  test_simulate();
  test_main();
  return check_summary();
}
