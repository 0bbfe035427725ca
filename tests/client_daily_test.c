/* client_daily_test: `tally report daily` without a cluster — the table,
 * CSV, JSON and HTML writers on a report built in memory: escaping of
 * hostile strings, undefined figures, the day-over-day changes, an HTML
 * file without external references, and the command's option errors. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client_capture.h"
#include "daily.h"

static const char *labels[] = {"ok", "spam", "<script>alert(1)</script>"};
static const char *const hostile_labeler = "ana \"the\", <script>x</script> & co";

static tally_coefficient_t today_c[] = {{"percent_agreement", 1, 0.8},
                                        {"cohen_kappa", 1, 0.6},
                                        {"scott_pi", 0, 0},
                                        {"gwet_ac1", 1, 0.7},
                                        {"alpha_nominal", 1, 0.55}};
static tally_coefficient_t prev_c[] = {{"percent_agreement", 1, 0.75}, {"cohen_kappa", 1, 0.5}};
static tally_coefficient_t none_c[] = {{"percent_agreement", 0, 0}, {"cohen_kappa", 0, 0}};
static uint64_t confusion[9] = {40, 3, 0, 5, 20, 1, 0, 7, 8};
static uint64_t unclear[9] = {0, 1, 0, 2, 0, 0, 0, 0, 0};
static uint64_t zero9[9];

static tally_report_row_t labeler_rows[2];
static tally_report_t today, previous, by_labeler, m_today, m_prev;
static daily_scope_t scopes[2];
static daily_report_t report;

static void build(void) {
  today = (tally_report_t){.project = "mod", .labels = labels, .label_count = 3, .confusion = confusion,
                           .policy_unclear = unclear, .workers_answered = 1};
  today.total = (tally_report_row_t){.key = "all", .labels = 120, .audits = 84, .audit_agreed = 68,
                                     .accuracy_defined = 1, .accuracy = 68.0 / 84.0, .wilson_low = 0.71,
                                     .wilson_high = 0.88, .coefficients = today_c, .coefficient_count = 5,
                                     .gold_total = 10, .gold_hits = 9, .adjudications = 16,
                                     .attributed_labeler = 9, .attributed_auditor = 2, .attributed_both = 2,
                                     .attributed_policy = 3, .handling_p50_ms = 4000, .handling_p90_ms = 16000};
  previous = (tally_report_t){.project = "mod", .labels = labels, .label_count = 3, .confusion = zero9,
                              .policy_unclear = zero9};
  previous.total = (tally_report_row_t){.key = "all", .labels = 100, .audits = 50, .audit_agreed = 40,
                                        .accuracy_defined = 1, .accuracy = 0.8, .wilson_low = 0.67,
                                        .wilson_high = 0.89, .coefficients = prev_c, .coefficient_count = 2};
  labeler_rows[0] = (tally_report_row_t){.key = hostile_labeler, .labels = 70, .audits = 50, .audit_agreed = 45,
                                         .accuracy_defined = 1, .accuracy = 0.9, .wilson_low = 0.79,
                                         .wilson_high = 0.96};
  labeler_rows[1] = (tally_report_row_t){.key = "bo,b", .labels = 50};
  by_labeler = (tally_report_t){.project = "mod", .labels = labels, .label_count = 3, .rows = labeler_rows,
                                .row_count = 2, .confusion = confusion, .policy_unclear = unclear};
  /* A market with labels but no audits today, and nothing the day before. */
  m_today = (tally_report_t){.project = "mod", .labels = labels, .label_count = 3, .confusion = zero9,
                             .policy_unclear = zero9};
  m_today.total = (tally_report_row_t){.key = "all", .labels = 5, .coefficients = none_c, .coefficient_count = 2};
  m_prev = (tally_report_t){.project = "mod", .labels = labels, .label_count = 3, .confusion = zero9,
                            .policy_unclear = zero9};
  m_prev.total = (tally_report_row_t){.key = "all"};
  scopes[0] = (daily_scope_t){NULL, &today, &previous, &by_labeler};
  scopes[1] = (daily_scope_t){"es\"<i>,x", &m_today, &m_prev, NULL};
  uint32_t day = 0;
  tally_day_parse("2026-11-23", &day);
  report = (daily_report_t){.project = "mod<&>", .day = day, .generated_ms = 1795000000000ull, .top = 10,
                            .scopes = scopes, .scope_count = 2};
}

typedef int (*writer_t)(FILE *, const daily_report_t *);

static char *render(writer_t w, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  *rc = w(f, &report);
  fclose(f);
  return buf;
}

static int write_json(FILE *f, const daily_report_t *r) { return output_json(daily_json(r), f); }

static void test_figures(void) {
  daily_value_t u = {0, 0}, a = {1, 0.9}, b = {1, 0.85};
  CHECK(!daily_change(u, a).defined && !daily_change(a, u).defined && !daily_change(u, u).defined);
  daily_value_t c = daily_change(a, b);
  CHECK(c.defined && c.value > 0.0499 && c.value < 0.0501);
  CHECK(daily_metric(&today, DAILY_VOLUME).value == 120 && daily_metric(&previous, DAILY_VOLUME).value == 100);
  CHECK(daily_change(daily_metric(&today, DAILY_VOLUME), daily_metric(&previous, DAILY_VOLUME)).value == 20);
  CHECK(daily_metric(&today, DAILY_COVERAGE).value == 0.7 && daily_metric(&previous, DAILY_COVERAGE).value == 0.5);
  CHECK(daily_metric(&today, DAILY_KAPPA).defined && daily_metric(&today, DAILY_KAPPA).value == 0.6);
  CHECK(!daily_metric(&m_prev, DAILY_COVERAGE).defined); /* no labels */
  CHECK(!daily_metric(&m_today, DAILY_ACCURACY).defined);
  CHECK(!daily_metric(&m_today, DAILY_KAPPA).defined);
  CHECK(!daily_metric(NULL, DAILY_VOLUME).defined);
  CHECK(!daily_coefficient(&today.total, "scott_pi").defined);
  CHECK(!daily_coefficient(&today.total, "nonexistent").defined);
  daily_pair_t *p = NULL;
  long n = daily_pairs(confusion, 3, 1, &p);
  CHECK(n == 4 && p[0].count == 7 && p[0].row == 2 && p[0].col == 1 && p[1].count == 5 && p[3].count == 1);
  free(p);
  n = daily_pairs(confusion, 3, 0, &p);
  CHECK(n == 7 && p[0].count == 40);
  free(p);
  n = daily_pairs(zero9, 3, 1, &p);
  CHECK(n == 0);
  free(p);
}

static void test_csv(void) {
  int rc;
  char *s = render(daily_write_csv, &rc);
  CHECK(rc == 0 && s);
  CHECK(strncmp(s, "section,market,key,metric,value,previous,change\r\n", 49) == 0);
  CHECK(strstr(s, "\r\nchange,all,2026-11-23,volume,120,100,20\r\n") != NULL);
  CHECK(strstr(s, "\r\nchange,all,2026-11-23,coverage,0.7,0.5,0.2\r\n") != NULL);
  CHECK(strstr(s, "\r\nchange,all,2026-11-23,cohen_kappa,0.6,0.5,0.1\r\n") != NULL);
  /* market quoted; undefined accuracy today, undefined coverage D-1 */
  CHECK(strstr(s, "\r\nchange,\"es\"\"<i>,x\",2026-11-23,accuracy,,,\r\n") != NULL);
  CHECK(strstr(s, "\r\nchange,\"es\"\"<i>,x\",2026-11-23,coverage,0,,\r\n") != NULL);
  CHECK(strstr(s, "\r\nchange,\"es\"\"<i>,x\",2026-11-23,volume,5,0,5\r\n") != NULL);
  CHECK(strstr(s, "\r\nagreement,all,,scott_pi,,,\r\n") != NULL);
  CHECK(strstr(s, "\r\nlabeler,all,\"ana \"\"the\"\", <script>x</script> & co\",accuracy,0.9,,\r\n") != NULL);
  CHECK(strstr(s, "\r\nlabeler,all,\"bo,b\",accuracy,,,\r\n") != NULL);
  CHECK(strstr(s, "\r\npolicy_unclear,all,spam -> ok,count,2,,\r\n") != NULL);
  CHECK(strstr(s, "\r\nconfused,all,<script>alert(1)</script> -> spam,count,7,,\r\n") != NULL);
  CHECK(strstr(s, "\r\ngold,all,,accuracy,0.9,,\r\n") != NULL);
  CHECK(strstr(s, "\r\nattribution,all,,policy_unclear,3,,\r\n") != NULL);
  /* README: an undefined value is an empty cell in CSV, never a word */
  CHECK(strstr(s, "undefined") == NULL && strstr(s, "n/a") == NULL);
  /* every record ends with CRLF, no bare LF */
  size_t lf = 0, crlf = 0;
  for (char *p = s; *p; p++)
    if (*p == '\n') {
      lf++;
      crlf += p > s && p[-1] == '\r';
    }
  CHECK(lf > 30 && lf == crlf);
  free(s);
}

static void test_json(void) {
  int rc;
  char *s = render(write_json, &rc);
  CHECK(rc == 0 && s);
  json_error_t err;
  json_t *doc = s ? json_loads(s, 0, &err) : NULL;
  CHECK(doc != NULL);
  if (doc) {
    CHECK(strcmp(json_string_value(json_object_get(doc, "project")), "mod<&>") == 0);
    CHECK(strcmp(json_string_value(json_object_get(doc, "day")), "2026-11-23") == 0);
    CHECK(strcmp(json_string_value(json_object_get(doc, "previous_day")), "2026-11-22") == 0);
    json_t *scopes_j = json_object_get(doc, "scopes");
    CHECK(json_array_size(scopes_j) == 2);
    json_t *all = json_array_get(scopes_j, 0), *es = json_array_get(scopes_j, 1);
    CHECK(json_is_null(json_object_get(all, "market")));
    CHECK(strcmp(json_string_value(json_object_get(es, "market")), "es\"<i>,x") == 0);
    json_t *vol = json_object_get(json_object_get(all, "change"), "volume");
    CHECK(json_number_value(json_object_get(vol, "change")) == 20.0);
    json_t *acc = json_object_get(json_object_get(es, "change"), "accuracy");
    CHECK(json_is_null(json_object_get(acc, "value")) && json_is_null(json_object_get(acc, "change")));
    json_t *kap = json_object_get(json_object_get(es, "change"), "cohen_kappa");
    CHECK(json_is_null(json_object_get(kap, "change")));
    CHECK(json_is_null(json_object_get(json_object_get(all, "coefficients"), "scott_pi")));
    CHECK(json_number_value(json_object_get(json_object_get(all, "coefficients"), "gwet_ac1")) == 0.7);
    json_t *lab = json_array_get(json_object_get(all, "labelers"), 0);
    CHECK(strcmp(json_string_value(json_object_get(lab, "labeler")), hostile_labeler) == 0);
    CHECK(json_is_null(json_object_get(json_array_get(json_object_get(all, "labelers"), 1), "accuracy")));
    CHECK(json_array_size(json_object_get(all, "policy_unclear_pairs")) == 2);
    CHECK(json_integer_value(json_object_get(json_object_get(all, "gold"), "hits")) == 9);
    CHECK(json_is_null(json_object_get(json_object_get(es, "gold"), "accuracy")));
    json_decref(doc);
  }
  free(s);
}

static void test_html(void) {
  int rc;
  char *s = render(daily_write_html, &rc);
  CHECK(rc == 0 && s);
  if (s == NULL) return;
  CHECK(strncmp(s, "<!DOCTYPE html>", 15) == 0);
  /* self-contained */
  CHECK(strstr(s, "http") == NULL);
  CHECK(strstr(s, "src=") == NULL);
  CHECK(strstr(s, "<link") == NULL);
  CHECK(strstr(s, "@import") == NULL);
  CHECK(strstr(s, "url(") == NULL);
  CHECK(strstr(s, "<script") == NULL); /* hostile strings escaped, and no script of ours */
  CHECK(strstr(s, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
  CHECK(strstr(s, "ana &quot;the&quot;, &lt;script&gt;x&lt;/script&gt; &amp; co") != NULL);
  CHECK(strstr(s, "es&quot;&lt;i&gt;,x") != NULL && strstr(s, "<i>,x") == NULL);
  CHECK(strstr(s, "mod&lt;&amp;&gt;") != NULL && strstr(s, "mod<&>") == NULL);
  /* print rules, charts, sections */
  CHECK(strstr(s, "@media print") != NULL && strstr(s, "page-break-before") != NULL);
  CHECK(strstr(s, "<svg") != NULL && strstr(s, "class=\"whisker\"") != NULL);
  CHECK(strstr(s, "Policy unclear") != NULL && strstr(s, "How to read the intervals") != NULL);
  CHECK(strstr(s, "n/a") != NULL && strstr(s, "undefined") != NULL);
  CHECK(strstr(s, "&#9650; +20") != NULL); /* volume up by 20 */
  CHECK(strstr(s, "2026-11-22") != NULL && strstr(s, "generated 2026-") != NULL);
  size_t svgs = 0;
  for (const char *p = s; (p = strstr(p, "<svg")) != NULL; p++) svgs++;
  /* whole project: attributions, labelers, heat map; market: attributions */
  CHECK(svgs == 4);
  CHECK(strstr(s, "</html>\n") != NULL);
  /* Drill-downs: every row's command, shell-quoted, then HTML-escaped. */
  CHECK(strstr(s, "<td class=\"drill\"><code data-count=\"84\">tally report items --project "
                  "&#39;mod&lt;&amp;&gt;&#39; --from 2026-11-23 --to 2026-11-23</code></td>") != NULL);
  CHECK(strstr(s, "<code data-count=\"50\">tally report items --project &#39;mod&lt;&amp;&gt;&#39; --from "
                  "2026-11-23 --to 2026-11-23 --labeler &#39;ana &quot;the&quot;") != NULL);
  CHECK(strstr(s, "--labeler bo,b</code>") != NULL);
  CHECK(strstr(s, "--market &#39;es&quot;&lt;i&gt;,x&#39;</code>") != NULL);
  CHECK(strstr(s, "--attribution policy-unclear --pair ") != NULL);
  size_t drills = 0;
  for (const char *p = s; (p = strstr(p, "class=\"drill\"")) != NULL; p++) drills++;
  /* per scope: 3 day-over-day rows and 5 coefficients; whole project: 2
   * labelers and its pairs (policy unclear and confused) */
  CHECK(drills >= 2 * (3 + 5) + 2 + 2);
  free(s);
}

static void test_table(void) {
  int rc;
  char *s = render(daily_write_table, &rc);
  CHECK(rc == 0 && s);
  if (s == NULL) return;
  CHECK(strstr(s, "POLICY UNCLEAR") != NULL);
  CHECK(strstr(s, "==== market es\"<i>,x ====") != NULL);
  CHECK(strstr(s, "+20") != NULL && strstr(s, "+20.0 pp") != NULL && strstr(s, "+0.100") != NULL);
  CHECK(strstr(s, "n/a") != NULL && strstr(s, "undefined") != NULL);
  CHECK(strstr(s, hostile_labeler) != NULL);
  free(s);
}

static int run_cli(const char *const *args, int argc, char **out, char **err) {
  capture_t c;
  capture_open(&c);
  char *argv[16];
  for (int i = 0; i < argc; i++) argv[i] = (char *)args[i];
  argv[argc] = NULL;
  int rc = cli_main(&c.cli, argc, argv);
  capture_flush(&c);
  *out = strdup(c.out ? c.out : "");
  *err = strdup(c.err ? c.err : "");
  capture_close(&c);
  return rc;
}

static void test_cli(void) {
  char *out, *err;
  const char *help[] = {"tally", "report", "daily", "--help"};
  CHECK(run_cli(help, 4, &out, &err) == 0 && strstr(out, "section,market,key,metric") != NULL);
  free(out), free(err);
  const char *nop[] = {"tally", "report", "daily", "--day", "2026-11-23"};
  CHECK(run_cli(nop, 5, &out, &err) == 2 && strstr(err, "missing --project") != NULL);
  free(out), free(err);
  const char *badf[] = {"tally", "report", "daily", "--project", "p", "--format", "pdf"};
  CHECK(run_cli(badf, 7, &out, &err) == 2 && strstr(err, "unknown format 'pdf'") != NULL);
  free(out), free(err);
  const char *badd[] = {"tally", "report", "daily", "--project", "p", "--day", "2026-02-30"};
  CHECK(run_cli(badd, 7, &out, &err) == 2 && strstr(err, "--day") != NULL);
  free(out), free(err);
  const char *list[] = {"tally", "report", "--help"};
  CHECK(run_cli(list, 3, &out, &err) == 0 && strstr(out, "daily") != NULL);
  free(out), free(err);
}

int main(void) {
  check_deadline(30, NULL);
  build();
  test_figures();
  test_csv();
  test_json();
  test_html();
  test_table();
  test_cli();
  return check_summary();
}
