/* client_report_test: how the audit commands print — quality reports and
 * confusion matrices in table, CSV and JSON with undefined figures, the
 * audit policy, feedback, exported judgments (CSV quoting and flattening,
 * JSON Lines) — and the pure helpers behind them: report days, attribution
 * and grouping names, the simulator's ledger and attribution rule. No
 * cluster: every report here is built by hand. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client_capture.h"
#include "sim_ledger.h"

static const char *labels3[] = {"ok", "spam", "abuse"};

/* A report with one labeler row, a row without audits, and the total. */
static tally_coefficient_t row0_c[] = {{"percent_agreement", 1, 0.8}, {"cohen_kappa", 0, 0.0}};
static tally_coefficient_t row1_c[] = {{"percent_agreement", 0, 0.0}, {"cohen_kappa", 0, 0.0}};
static tally_coefficient_t total_c[] = {{"percent_agreement", 1, 0.75}, {"cohen_kappa", 1, -0.125}, {"scott_pi", 0, 0}};
static uint64_t confusion[9] = {40, 3, 0, 5, 20, 1, 0, 3, 8};
static uint64_t unclear[9] = {0, 1, 0, 2, 0, 0, 0, 0, 0};

static tally_report_t sample_report(void) {
  static tally_report_row_t rows[2];
  rows[0] = (tally_report_row_t){.key = "ana", .labels = 10, .audits = 5, .audit_agreed = 4, .accuracy_defined = 1,
                                 .accuracy = 0.8, .wilson_low = 0.3755, .wilson_high = 0.9638,
                                 .labeler_final = {4, 3, 1, 0.75, 0.3006, 0.9544},
                                 .coefficients = row0_c, .coefficient_count = 2, .gold_total = 3, .gold_hits = 2,
                                 .adjudications = 1, .attributed_auditor = 1, .handling_p50_ms = 4000,
                                 .handling_p90_ms = 16000};
  rows[1] = (tally_report_row_t){.key = "b,en", .labels = 2, .coefficients = row1_c, .coefficient_count = 2};
  tally_report_row_t total = {.key = "all", .labels = 12, .audits = 5, .audit_agreed = 4, .accuracy_defined = 1,
                              .accuracy = 0.8, .wilson_low = 0.3755, .wilson_high = 0.9638,
                              .labeler_final = {4, 3, 1, 0.75, 0.3006, 0.9544},
                              .auditor_final = {2, 2, 1, 1.0, 0.3424, 1.0},
                              .coefficients = total_c, .coefficient_count = 3, .gold_total = 3, .gold_hits = 2,
                              .adjudications = 1, .attributed_auditor = 1, .handling_p50_ms = 4000,
                              .handling_p90_ms = 16000};
  return (tally_report_t){.project = "mod", .labels = labels3, .label_count = 3, .rows = rows, .row_count = 2,
                          .total = total, .confusion = confusion, .policy_unclear = unclear,
                          .workers_answered = 2, .workers_failed = 0};
}

/* Prints the sample report with `print` in `fmt`; returns stdout (caller
 * frees) and stderr in *err (caller frees). */
typedef int (*report_print_fn)(cli_t *, const report_opts_t *, const tally_report_t *);

static char *render(report_print_fn print, output_format_t fmt, const report_opts_t *o, const tally_report_t *rep,
                    char **err) {
  capture_t c;
  capture_open(&c);
  c.cli.format = fmt;
  CHECK(print(&c.cli, o, rep) == 0);
  capture_flush(&c);
  char *out = strdup(c.out);
  if (err) *err = strdup(c.err);
  capture_close(&c);
  return out;
}

static void expect_text(const char *what, const char *got, const char *want) {
  int same = strcmp(got, want) == 0;
  CHECK(same);
  if (!same) fprintf(stderr, "  %s: got\n[%s]\n  wanted\n[%s]\n", what, got, want);
}

static void test_quality_table(void) {
  tally_report_t rep = sample_report();
  report_opts_t o = {.project = "mod", .query = {.by = TALLY_REPORT_BY_LABELER}, .top = 10};
  char *err = NULL;
  char *out = render(report_quality_print, OUTPUT_TABLE, &o, &rep, &err);
  expect_text("quality table", out,
              "quality of mod (all markets, all days), by labeler\n\n"
              "KEY    LABELS  AUDITS  AGREED  AGREEMENT  AGREE_LOW  AGREE_HIGH  JUDGED  ACCURACY   ACC_LOW    "
              "ACC_HIGH   AUDITOR_JUDGED  AUDITOR_ACCURACY  AUD_LOW    AUD_HIGH   GOLD  ADJ  ATTR_L/A/B/P  "
              "HANDLING_P50  HANDLING_P90  PERCENT_AGREEMENT  COHEN_KAPPA  SCOTT_PI\n"
              "ana    10      5       4       0.800      0.376      0.964       4       0.750      0.301      "
              "0.954      0               undefined         undefined  undefined  2/3   1    0/1/0/0       "
              "4.0s          16.0s         0.800              undefined    -\n"
              "b,en   2       0       0       undefined  undefined  undefined   0       undefined  undefined  "
              "undefined  0               undefined         undefined  undefined  0/0   0    0/0/0/0       "
              "0ms           0ms           undefined          undefined    -\n"
              "total  12      5       4       0.800      0.376      0.964       4       0.750      0.301      "
              "0.954      2               1.000             0.342      1.000      2/3   1    0/1/0/0       "
              "4.0s          16.0s         0.750              -0.125       undefined\n");
  CHECK(err[0] == '\0');
  free(out);
  free(err);

  /* Ungrouped: the total only; a scope line with market and days. */
  o.query = (tally_report_query_t){"es", 19997, 20010, TALLY_REPORT_BY_NONE};
  rep.workers_failed = 1;
  out = render(report_quality_print, OUTPUT_TABLE, &o, &rep, &err);
  CHECK(strncmp(out, "quality of mod (market es, 2024-10-01 to 2024-10-14)\n\nKEY ", 58) == 0);
  CHECK(strstr(out, "\nana ") == NULL && strstr(out, "\ntotal ") != NULL);
  expect_text("warning", err, "tally: warning: 1 of 3 workers did not answer; the report misses their data\n");
  free(out);
  free(err);

  /* --by day: day numbers as dates. */
  tally_report_row_t day_row = {.key = "20780", .labels = 1};
  rep.rows = &day_row;
  rep.row_count = 1;
  o.query = (tally_report_query_t){.by = TALLY_REPORT_BY_DAY};
  out = render(report_quality_print, OUTPUT_CSV, &o, &rep, NULL);
  CHECK(strstr(out, "\r\n2026-11-23,1,0,0,,,,") != NULL);
  free(out);
}

static void test_quality_csv_json(void) {
  tally_report_t rep = sample_report();
  report_opts_t o = {.project = "mod", .query = {.by = TALLY_REPORT_BY_LABELER}, .top = 10};
  char *out = render(report_quality_print, OUTPUT_CSV, &o, &rep, NULL);
  expect_text("quality csv", out,
              "key,labels,audits,audit_agreed,accuracy,wilson_low,wilson_high,labeler_judged,labeler_correct,"
              "labeler_accuracy,labeler_wilson_low,labeler_wilson_high,auditor_judged,auditor_correct,"
              "auditor_accuracy,auditor_wilson_low,auditor_wilson_high,gold_hits,gold_total,adjudications,"
              "attributed_labeler,attributed_auditor,attributed_both,attributed_policy,handling_p50_ms,"
              "handling_p90_ms,percent_agreement,cohen_kappa,scott_pi\r\n"
              "ana,10,5,4,0.8,0.3755,0.9638,4,3,0.75,0.3006,0.9544,0,0,,,,2,3,1,0,1,0,0,4000,16000,0.8,,\r\n"
              "\"b,en\",2,0,0,,,,0,0,,,,0,0,,,,0,0,0,0,0,0,0,0,0,,,\r\n"
              "total,12,5,4,0.8,0.3755,0.9638,4,3,0.75,0.3006,0.9544,2,2,1,0.3424,1,2,3,1,0,1,0,0,4000,16000,0.75,"
              "-0.125,\r\n");
  free(out);

  rep.workers_failed = 2;
  char *err = NULL;
  out = render(report_quality_print, OUTPUT_JSON, &o, &rep, &err);
  json_t *doc = json_loads(out, 0, NULL);
  CHECK(doc != NULL);
  json_t *rows = json_object_get(doc, "rows"), *total = json_object_get(doc, "total");
  json_t *b = json_array_get(rows, 1);
  CHECK(json_array_size(rows) == 2 && strcmp(json_string_value(json_object_get(b, "key")), "b,en") == 0);
  /* Undefined is null, never 0. */
  CHECK(json_is_null(json_object_get(b, "accuracy")) && json_is_null(json_object_get(b, "wilson_low")));
  json_t *bl = json_object_get(b, "labeler_final"), *ta = json_object_get(total, "auditor_final");
  CHECK(json_integer_value(json_object_get(bl, "judged")) == 0 && json_is_null(json_object_get(bl, "accuracy")) &&
        json_is_null(json_object_get(bl, "wilson_high")));
  CHECK(json_integer_value(json_object_get(ta, "judged")) == 2 && json_integer_value(json_object_get(ta, "correct")) == 2 &&
        json_real_value(json_object_get(ta, "accuracy")) == 1.0 &&
        json_real_value(json_object_get(ta, "wilson_low")) == 0.3424);
  CHECK(json_is_null(json_object_get(json_object_get(b, "coefficients"), "percent_agreement")));
  json_t *tc = json_object_get(total, "coefficients");
  CHECK(json_real_value(json_object_get(tc, "cohen_kappa")) == -0.125 && json_is_null(json_object_get(tc, "scott_pi")));
  CHECK(json_object_size(tc) == 3 && strcmp(json_object_iter_key(json_object_iter(tc)), "percent_agreement") == 0);
  CHECK(json_integer_value(json_object_get(json_object_get(total, "attributed"), "auditor")) == 1);
  CHECK(json_integer_value(json_object_get(doc, "workers_failed")) == 2 &&
        strcmp(json_string_value(json_object_get(doc, "by")), "labeler") == 0 &&
        json_is_null(json_object_get(doc, "market")));
  CHECK(strstr(err, "2 of 4 workers did not answer") != NULL); /* and on stderr */
  json_decref(doc);
  free(out);
  free(err);
}

static void test_confusion(void) {
  tally_report_t rep = sample_report();
  report_opts_t o = {.project = "mod", .top = 2};
  char *out = render(report_confusion_print, OUTPUT_TABLE, &o, &rep, NULL);
  expect_text("confusion table", out,
              "confusion of mod (all markets, all days): 80 audits\n"
              "rows: the labeler's label; columns: the auditor's label\n\n"
              "LABELER\\AUDITOR  ok  spam  abuse\n"
              "ok               40  3     0\n"
              "spam             5   20    1\n"
              "abuse            0   3     8\n\n"
              "most confused pairs (2 of 4)\n"
              "LABELER_LABEL  AUDITOR_LABEL  COUNT  SHARE\n"
              "spam           ok             5      6.2%\n"
              "ok             spam           3      3.8%\n\n"
              "policy unclear (disagreements the leads attributed to the policy)\n"
              "LABELER_LABEL  AUDITOR_LABEL  COUNT  SHARE\n"
              "spam           ok             2      2.5%\n"
              "ok             spam           1      1.2%\n");
  free(out);

  out = render(report_confusion_print, OUTPUT_CSV, &o, &rep, NULL);
  CHECK(strncmp(out, "section,labeler_label,auditor_label,count,share\r\nconfusion,ok,ok,40,0.5\r\n", 72) == 0);
  size_t cells = 0, top = 0, unclear_rows = 0;
  for (char *p = out; (p = strstr(p, "\r\n")) != NULL; p += 2) {
    cells += strncmp(p + 2, "confusion,", 10) == 0;
    top += strncmp(p + 2, "top,", 4) == 0;
    unclear_rows += strncmp(p + 2, "policy_unclear,", 15) == 0;
  }
  CHECK(cells == 9 && top == 2 && unclear_rows == 2);
  CHECK(strstr(out, "\r\ntop,spam,ok,5,0.0625\r\ntop,ok,spam,3,0.0375\r\npolicy_unclear,spam,ok,2,0.025\r\n") != NULL);
  free(out);

  o.top = 0; /* all */
  out = render(report_confusion_print, OUTPUT_JSON, &o, &rep, NULL);
  json_t *doc = json_loads(out, 0, NULL);
  json_t *m = json_object_get(doc, "confusion");
  CHECK(json_array_size(m) == 3 && json_integer_value(json_array_get(json_array_get(m, 1), 0)) == 5);
  CHECK(json_integer_value(json_object_get(doc, "audits")) == 80);
  json_t *topl = json_object_get(doc, "top_confused");
  CHECK(json_array_size(topl) == 4 &&
        strcmp(json_string_value(json_object_get(json_array_get(topl, 2), "labeler_label")), "abuse") == 0);
  CHECK(json_array_size(json_object_get(doc, "policy_unclear_pairs")) == 2 &&
        json_integer_value(json_array_get(json_array_get(json_object_get(doc, "policy_unclear"), 0), 1)) == 1);
  json_decref(doc);
  free(out);

  /* No audits at all: zero matrix, nothing confused, shares undefined. */
  static uint64_t zeros[9];
  rep.confusion = rep.policy_unclear = zeros;
  out = render(report_confusion_print, OUTPUT_TABLE, &o, &rep, NULL);
  CHECK(strstr(out, ": 0 audits\n") != NULL && strstr(out, "confused pairs (0)\nnone\n") != NULL &&
        strstr(out, "policy)\nnone\n") != NULL);
  free(out);
  out = render(report_confusion_print, OUTPUT_CSV, &o, &rep, NULL);
  CHECK(strstr(out, "confusion,ok,ok,0,\r\n") != NULL && strstr(out, "top,") == NULL);
  free(out);
  out = render(report_confusion_print, OUTPUT_JSON, &o, &rep, NULL);
  doc = json_loads(out, 0, NULL);
  CHECK(doc && json_array_size(json_object_get(doc, "top_confused")) == 0);
  json_decref(doc);
  free(out);
}

/* ------------------------------------------------------------ policy, feedback */

static void test_policy_print(void) {
  tally_market_rate_t rates[] = {{"es", 0.2}, {"ja", 0.05}};
  tally_project_t p = {.name = "mod", .audit_rate = 0.1, .policy_version = 4,
                       .audit = {0.1, rates, 2, 0.5, 20, 0.9, 0.02}};
  capture_t c;
  capture_open(&c);
  CHECK(audit_policy_print(&c.cli, &p) == 0);
  capture_flush(&c);
  expect_text("policy table", c.out,
              "project:        mod\n"
              "policy version: 4\n"
              "audit rate:     0.1\n"
              "ramp-up:        rate 0.5 until 20 audits at accuracy >= 0.9\n"
              "gold rate:      0.02 of each person's label tasks\n"
              "market rates:   2\n\n"
              "MARKET  RATE\n"
              "es      0.2\n"
              "ja      0.05\n");
  capture_close(&c);
  capture_open(&c);
  c.cli.format = OUTPUT_CSV;
  CHECK(audit_policy_print(&c.cli, &p) == 0);
  capture_flush(&c);
  expect_text("policy csv", c.out,
              "project,policy_version,rate,ramp_rate,ramp_audits,ramp_target,gold_rate,market,market_rate\r\n"
              "mod,4,0.1,0.5,20,0.9,0.02,es,0.2\r\nmod,4,0.1,0.5,20,0.9,0.02,ja,0.05\r\n");
  capture_close(&c);
  capture_open(&c);
  c.cli.format = OUTPUT_JSON;
  CHECK(audit_policy_print(&c.cli, &p) == 0);
  capture_flush(&c);
  json_t *doc = json_loads(c.out, 0, NULL);
  json_t *audit = json_object_get(doc, "audit");
  CHECK(json_integer_value(json_object_get(doc, "policy_version")) == 4 &&
        json_real_value(json_object_get(audit, "ramp_target")) == 0.9 &&
        json_array_size(json_object_get(audit, "market_rates")) == 2);
  json_decref(doc);
  capture_close(&c);
}

static void test_feedback_print(void) {
  tally_feedback_entry_t entries[] = {{"mod", "item-2", "spam", "spam", 1, 1700000060000ull, 0},
                                      {"mod", "it,em", "ok", "abuse", 0, 1700000000000ull, 0},
                                      {"mod", "i3", "ok", "spam", 0, 1699999940000ull, 1}};
  tally_feedback_t fb = {.entries = entries, .count = 3};
  feedback_opts_t o = {.labeler = "ana", .limit = 100};
  capture_t c;
  capture_open(&c);
  CHECK(feedback_print(&c.cli, &o, &fb) == 0);
  capture_flush(&c);
  expect_text("feedback table", c.out,
              "CLOSED                PROJECT  ITEM    YOUR_LABEL  FINAL_LABEL  RESULT\n"
              "2023-11-14T22:14:20Z  mod      item-2  spam        spam         correct\n"
              "2023-11-14T22:13:20Z  mod      it,em   ok          abuse        wrong\n"
              "2023-11-14T22:12:20Z  mod      i3      ok          spam         not counted (policy unclear)\n\n"
              "1 of 2 judged correct (50.0%)\n");
  CHECK(c.err_len == 0);
  capture_close(&c);
  capture_open(&c);
  c.cli.format = OUTPUT_CSV;
  fb.workers_failed = 2;
  CHECK(feedback_print(&c.cli, &o, &fb) == 0);
  capture_flush(&c);
  expect_text("feedback csv", c.out,
              "closed_ms,project,item_id,your_label,final_label,correct,policy_unclear\r\n"
              "1700000060000,mod,item-2,spam,spam,true,false\r\n1700000000000,mod,\"it,em\",ok,abuse,false,false\r\n"
              "1699999940000,mod,i3,ok,spam,false,true\r\n");
  CHECK(strstr(c.err, "warning: 2 workers did not answer; feedback may be incomplete") != NULL);
  capture_close(&c);
  capture_open(&c);
  c.cli.format = OUTPUT_JSON;
  CHECK(feedback_print(&c.cli, &o, &fb) == 0);
  capture_flush(&c);
  json_t *doc = json_loads(c.out, 0, NULL);
  json_t *e1 = json_array_get(json_object_get(doc, "entries"), 1);
  CHECK(json_is_false(json_object_get(e1, "correct")) && json_integer_value(json_object_get(doc, "workers_failed")) == 2 &&
        json_is_null(json_object_get(doc, "project")));
  json_decref(doc);
  capture_close(&c);
  capture_open(&c);
  fb.count = 0;
  CHECK(feedback_print(&c.cli, &(feedback_opts_t){.labeler = "ana", .project = "mod", .limit = 5}, &fb) == 0);
  capture_flush(&c);
  CHECK(strcmp(c.out, "no closed audits for ana in mod\n") == 0);
  capture_close(&c);

  /* The standing: below the list, alone with --standing (table, CSV with
   * empty cells for an undefined accuracy, JSON with nulls). */
  tally_standing_t standing[] = {{.project = "mod", .closed = 3, .judged = 2, .correct = 1, .accuracy_defined = 1,
                                  .accuracy = 0.5, .wilson_low = 0.0945, .wilson_high = 0.9055, .has_ramp = 1,
                                  .ramping = 1, .ramp_audits = 6, .ramp_target = 0.8},
                                 {.project = "new", .has_ramp = 1, .ramping = 1, .ramp_audits = 4, .ramp_target = 0.9}};
  fb.standing = standing;
  fb.standing_count = 2;
  fb.workers_failed = 0;
  capture_open(&c);
  CHECK(feedback_print(&c.cli, &(feedback_opts_t){.labeler = "ana", .limit = 5, .standing = 1}, &fb) == 0);
  capture_flush(&c);
  expect_text("standing table", c.out,
              "PROJECT  CLOSED  JUDGED  CORRECT  ACCURACY   LOW        HIGH       RAMP     TO_LEAVE\n"
              "mod      3       2       1        0.5000     0.0945     0.9055     ramping  6 judged at 0.80\n"
              "new      0       0       0        undefined  undefined  undefined  ramping  4 judged at 0.90\n");
  capture_close(&c);
  capture_open(&c);
  c.cli.format = OUTPUT_CSV;
  CHECK(feedback_print(&c.cli, &(feedback_opts_t){.labeler = "ana", .limit = 5, .standing = 1}, &fb) == 0);
  capture_flush(&c);
  expect_text("standing csv", c.out,
              "project,closed,judged,correct,accuracy,wilson_low,wilson_high,ramp,ramp_audits,ramp_target\r\n"
              "mod,3,2,1,0.5000,0.0945,0.9055,ramping,6,0.8\r\nnew,0,0,0,,,,ramping,4,0.9\r\n");
  capture_close(&c);
  capture_open(&c);
  c.cli.format = OUTPUT_JSON;
  CHECK(feedback_print(&c.cli, &o, &fb) == 0);
  capture_flush(&c);
  doc = json_loads(c.out, 0, NULL);
  json_t *st = json_object_get(doc, "standing");
  CHECK(json_array_size(st) == 2 && json_integer_value(json_object_get(json_array_get(st, 0), "judged")) == 2 &&
        strcmp(json_string_value(json_object_get(json_array_get(st, 0), "ramp")), "ramping") == 0 &&
        json_is_null(json_object_get(json_array_get(st, 1), "accuracy")));
  json_decref(doc);
  capture_close(&c);
}

/* ------------------------------------------------------------ export records */

static char *record(int csv, const tally_judgment_t *j) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK((csv ? export_judgment_csv(f, j) : export_judgment_jsonl(f, j)) == 0);
  fclose(f);
  return buf;
}

static void test_export_records(void) {
  tally_stored_label_t labels[] = {{"ana", "spam", 1000, 2500, 1}, {"b:e;n\\", "o,k", 1001, 0, 2}};
  const char *audited[] = {"ana", "x;y"};
  tally_judgment_t j = {.project = "mod", .item_id = "it \"1\"", .market = "es", .labels = labels, .label_count = 2,
                        .audit = {"aud", "ok", 2000, 700, 2}, .final_label = "ok",
                        .attribution = TALLY_ATTRIBUTION_POLICY_UNCLEAR, .adjudicator = "lead",
                        .note = "two\nlines", .closed_ms = 3000, .content = "{\"t\":\"a,b\"}",
                        .audited_labelers = audited, .audited_labeler_count = 2, .policy_version = 3};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  export_csv_header(f);
  fclose(f);
  expect_text("csv header", buf,
              "project,item_id,market,labels,audit_labeler,audit_label,audit_at_ms,audit_handling_ms,final_label,"
              "attribution,adjudicator,note,closed_ms,content,audited_labelers,policy_version,audit_policy_version,"
              "label_policy_versions\r\n");
  free(buf);
  char *line = record(1, &j);
  expect_text("csv record", line,
              "mod,\"it \"\"1\"\"\",es,\"ana:spam;b\\:e\\;n\\\\:o,k\",aud,ok,2000,700,ok,policy-unclear,lead,"
              "\"two\nlines\",3000,\"{\"\"t\"\":\"\"a,b\"\"}\",ana;x\\;y,3,2,ana:1;b\\:e\\;n\\\\:2\r\n");
  free(line);
  /* Agreed, never adjudicated, no audit label: empty cells. */
  tally_judgment_t plain = {.project = "mod", .item_id = "i2", .market = "ja", .audit = {"", "", 0, 0, 0},
                            .final_label = "ok", .attribution = TALLY_ATTRIBUTION_NONE, .adjudicator = "",
                            .note = "", .closed_ms = 5, .content = ""};
  line = record(1, &plain);
  expect_text("csv plain", line, "mod,i2,ja,,,,,,ok,none,,,5,,,1,,\r\n");
  free(line);
  line = record(0, &j);
  CHECK(strchr(line, '\n') == line + strlen(line) - 1); /* one line */
  json_t *doc = json_loads(line, 0, NULL);
  CHECK(doc && strcmp(json_string_value(json_object_get(doc, "item_id")), "it \"1\"") == 0 &&
        strcmp(json_string_value(json_object_get(doc, "attribution")), "policy-unclear") == 0 &&
        strcmp(json_string_value(json_object_get(doc, "note")), "two\nlines") == 0);
  json_t *l1 = json_array_get(json_object_get(doc, "labels"), 1);
  CHECK(strcmp(json_string_value(json_object_get(l1, "labeler")), "b:e;n\\") == 0 &&
        json_integer_value(json_object_get(l1, "at_ms")) == 1001);
  CHECK(json_integer_value(json_object_get(doc, "policy_version")) == 3 &&
        json_integer_value(json_object_get(l1, "policy_version")) == 2 &&
        json_integer_value(json_object_get(json_object_get(doc, "audit"), "policy_version")) == 2);
  CHECK(json_integer_value(json_object_get(json_object_get(doc, "audit"), "handling_ms")) == 700 &&
        json_array_size(json_object_get(doc, "audited_labelers")) == 2);
  json_decref(doc);
  free(line);
  line = record(0, &plain);
  doc = json_loads(line, 0, NULL);
  CHECK(doc && json_is_null(json_object_get(doc, "audit")) && json_array_size(json_object_get(doc, "labels")) == 0);
  json_decref(doc);
  free(line);
}

/* ------------------------------------------------------------ helpers */

static void test_days_and_names(void) {
  uint32_t day = 7;
  CHECK(tally_day_parse("1970-01-01", &day) == 0 && day == 0);
  CHECK(tally_day_parse("2024-10-01", &day) == 0 && day == 19997);
  CHECK(tally_day_parse("2024-02-29", &day) == 0);
  CHECK(tally_day_parse("9999-12-31", &day) == 0 && day == 2932896);
  const char *bad[] = {"2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "1969-12-31",
                       "2024-1-01",  "2024/10/01", "20241001",   "2024-10-01x", "",          "2024-10-0a"};
  day = 7;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = tally_day_parse(bad[i], &day);
    CHECK(rc == TALLY_E_INVALID_ARGUMENT);
    if (rc == 0) fprintf(stderr, "  accepted day '%s'\n", bad[i]);
  }
  CHECK(day == 7);
  char buf[16];
  CHECK(tally_day_format(0, buf, sizeof buf) == 0 && strcmp(buf, "1970-01-01") == 0);
  CHECK(tally_day_format(19997, buf, sizeof buf) == 0 && strcmp(buf, "2024-10-01") == 0);
  CHECK(tally_day_format(2932897, buf, sizeof buf) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_day_format(0, buf, 10) == TALLY_E_INVALID_ARGUMENT);
  /* Every day round-trips (1970 .. 2100). */
  int round_trips = 1;
  for (uint32_t d = 0; d < 47482 && round_trips; d++) {
    uint32_t back = 0;
    round_trips = tally_day_format(d, buf, sizeof buf) == 0 && tally_day_parse(buf, &back) == 0 && back == d;
  }
  CHECK(round_trips);

  tally_attribution_t a;
  CHECK(tally_attribution_parse("labeler", &a) == 0 && a == TALLY_ATTRIBUTION_LABELER);
  CHECK(tally_attribution_parse("AUDITOR", &a) == 0 && a == TALLY_ATTRIBUTION_AUDITOR);
  CHECK(tally_attribution_parse("policy-unclear", &a) == 0 && a == TALLY_ATTRIBUTION_POLICY_UNCLEAR);
  CHECK(tally_attribution_parse("policy_unclear", &a) == 0 && tally_attribution_parse("policy", &a) == 0);
  CHECK(tally_attribution_parse("none", &a) == TALLY_E_INVALID_ARGUMENT);
  CHECK(tally_attribution_parse("lead", &a) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(tally_attribution_name(TALLY_ATTRIBUTION_BOTH), "both") == 0 &&
        strcmp(tally_attribution_name(9), "unknown") == 0);
  tally_report_by_t by;
  CHECK(tally_report_by_parse("category", &by) == 0 && by == TALLY_REPORT_BY_CATEGORY);
  CHECK(tally_report_by_parse("", &by) == 0 && by == TALLY_REPORT_BY_NONE);
  CHECK(tally_report_by_parse("week", &by) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(tally_report_by_name(TALLY_REPORT_BY_DAY), "day") == 0);
}

/* ------------------------------------------------------------ simulator */

static void test_ledger(void) {
  sim_ledger_t *l = sim_ledger_new();
  CHECK(l != NULL);
  if (l == NULL) return;
  sim_provenance_t p;
  CHECK(sim_ledger_get(l, "nothing", &p) == 0);
  /* Enough items to grow the table a few times. */
  char id[32];
  int ok = 1;
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "item-%d", i);
    ok &= sim_ledger_add_label(l, id, i % 3) == 0;
    if (i % 2) ok &= sim_ledger_set_audit(l, id, (i + 1) % 3) == 0;
  }
  CHECK(ok && sim_ledger_count(l) == 5000);
  CHECK(sim_ledger_get(l, "item-4321", &p) == 1 && p.label_count == 1 && p.labels[0] == 4321 % 3 && p.audit == 4322 % 3);
  CHECK(sim_ledger_get(l, "item-4320", &p) == 1 && p.audit == -1);
  for (int k = 0; k < 6; k++) CHECK(sim_ledger_add_label(l, "busy", k) == 0);
  CHECK(sim_ledger_get(l, "busy", &p) == 1 && p.label_count == SIM_LEDGER_LABELS && p.labels[3] == 3);
  sim_ledger_destroy(&l);
  sim_ledger_destroy(&l);
  CHECK(l == NULL);
}

static void test_sim_attribute(void) {
  int known = -1;
  const int truth = 0, wrong = 1, other = 2;
  sim_provenance_t labeler_wrong = {{wrong}, 1, truth}, auditor_wrong = {{truth}, 1, wrong};
  sim_provenance_t only_labels = {{wrong}, 1, -1}, only_audit = {{0}, 0, truth};
  /* The policy-unclear draw comes first. */
  CHECK(sim_attribute(&labeler_wrong, truth, truth, wrong, 0.01, 0.05, &known) == TALLY_ATTRIBUTION_POLICY_UNCLEAR &&
        known);
  /* Neither candidate is the truth. */
  CHECK(sim_attribute(NULL, truth, wrong, other, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_BOTH && known);
  /* One is: the side that gave the other, whatever the candidates' order. */
  CHECK(sim_attribute(&labeler_wrong, truth, truth, wrong, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_LABELER && known);
  CHECK(sim_attribute(&labeler_wrong, truth, wrong, truth, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_LABELER);
  CHECK(sim_attribute(&auditor_wrong, truth, wrong, truth, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_AUDITOR);
  CHECK(sim_attribute(&only_labels, truth, truth, wrong, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_LABELER && known);
  CHECK(sim_attribute(&only_audit, truth, truth, wrong, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_LABELER && known);
  /* Unknown item: cannot tell. */
  CHECK(sim_attribute(NULL, truth, truth, wrong, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_POLICY_UNCLEAR && !known);
  /* No candidates on the task: by each side's own label. */
  sim_provenance_t both_wrong = {{wrong}, 1, other};
  CHECK(sim_attribute(&both_wrong, truth, -1, -1, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_BOTH && known);
  CHECK(sim_attribute(&auditor_wrong, truth, -1, -1, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_AUDITOR);
  CHECK(sim_attribute(&only_labels, truth, -1, -1, 0.5, 0.05, &known) == TALLY_ATTRIBUTION_POLICY_UNCLEAR && !known);
  /* Share 0: never policy-unclear by choice; share 1: always. */
  CHECK(sim_attribute(&labeler_wrong, truth, truth, wrong, 0.0, 0.0, &known) == TALLY_ATTRIBUTION_LABELER);
  CHECK(sim_attribute(&labeler_wrong, truth, truth, wrong, 0.999, 1.0, &known) == TALLY_ATTRIBUTION_POLICY_UNCLEAR);
}

int main(void) {
  check_deadline(30, NULL);
  test_quality_table();
  test_quality_csv_json();
  test_confusion();
  test_policy_print();
  test_feedback_print();
  test_export_records();
  test_days_and_names();
  test_ledger();
  test_sim_attribute();
  return check_summary();
}
