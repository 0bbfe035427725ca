/* Drill-downs (`tally report items`) count what the reports count, end to
 * end on two workers through the CLI: two labelers label every one of
 * ITEMS items (overlap 2, markets es and ja), an auditor audits them all
 * (rate 1), a lead settles every disagreement (some as "policy unclear").
 * The labels come from fixed formulas, so every (labeler label, auditor
 * label) pair, every attribution and both markets occur.
 *
 * While the disagreements wait for the lead, the drill-down lists only the
 * closed audits (the agreed items), never one still in adjudication. Once
 * all are closed: for each labeler, the rows for --labeler X equal X's
 * audits in `report quality --by labeler`, and with --attribution W its
 * attributed_W; for each of the K*K pairs, --pair A:B equals the confusion
 * cell; --market M equals the market's audits; a day range that holds
 * today lists everything and one after it nothing. Counts are also checked
 * against what the test itself computes from the formulas.
 *
 * `tally cases search` on the same cases: text in the content or the note
 * with case ignored, attribution, label pair for any audited labeler and
 * for one, each against the formulas; filters combined through the CLI.
 *
 * The daily HTML report of the day: every table row's drill-down command
 * (the day-over-day audit rows, the coefficients, each labeler, each
 * confused and policy-unclear pair, per scope), run as shown, lists as many
 * audits as the row counts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"

#define ITEMS 30
#define K 3
#define OUT_SIZE (512 * 1024)

static cluster_t cluster;
static const char *labels[K] = {"ok", "spam", "hate"};
static const char *labelers[2] = {"l1", "l2"};
static char out[OUT_SIZE];

static const char *label_of(int item, const char *who) {
  if (strcmp(who, "l1") == 0) return labels[item % K];
  if (strcmp(who, "l2") == 0) return labels[(item / 2) % K];
  return labels[(item / 3) % K]; /* the auditor */
}
static const char *verdict_of(int item) { return labels[(item * 7 / 5) % K]; }
static int unclear(int item) { return item % 7 == 0; }
static const char *note_of(int item) { return item % 5 == 0 ? "see the RED FLAG policy" : "plain"; }
static int disagreed(int item) {
  return strcmp(label_of(item, "l1"), label_of(item, "aud")) != 0 ||
         strcmp(label_of(item, "l2"), label_of(item, "aud")) != 0;
}

/* Leases every task of `stage` for `who` and answers from the formulas;
 * returns how many were submitted (stops at `want` or when none come). */
static int work(tally_t *t, const char *who, tally_stage_t stage, int want) {
  int done = 0;
  for (int empty = 0; empty < 30 && done < want;) {
    tally_task_t *task = NULL;
    if (tally_lease(t, who, "dd", stage, 0, &task) != 0 || task == NULL) {
      empty++;
      usleep(100000);
      continue;
    }
    int item = atoi(task->item_id + 1), rc;
    if (stage == TALLY_STAGE_ADJUDICATE)
      rc = tally_submit_adjudication(t, who, task->slot, task->lease_id, verdict_of(item),
                                     unclear(item) ? TALLY_ATTRIBUTION_POLICY_UNCLEAR : TALLY_ATTRIBUTION_NONE,
                                     note_of(item), 1000);
    else
      rc = tally_submit(t, who, task->slot, task->lease_id, label_of(item, who), 1000);
    CHECK(rc == 0);
    done += rc == 0;
    tally_free(task);
  }
  return done;
}

/* Runs `tally --format json report items --project dd ARGS` and returns
 * its "count" (the length of its "items"), or a negative number when it
 * failed or a row's labels or market are not the formulas'. */
/* The rows `report items ARGS` lists (JSON), each checked against the
 * formulas; -1 when it failed, -2 on a row the formulas do not give. */
static long items_count_raw(const char *args) {
  int rc = cluster_cli(&cluster, out, sizeof out, "--format json report items %s", args);
  if (rc != 0) {
    fprintf(stderr, "report items %s: exit %d: %.500s\n", args, rc, out);
    return -1;
  }
  json_error_t error;
  json_t *doc = json_loads(out, 0, &error);
  json_t *count = json_object_get(doc, "count"), *items = json_object_get(doc, "items");
  long n = json_is_integer(count) && json_is_array(items) &&
                   (size_t)json_integer_value(count) == json_array_size(items)
               ? (long)json_integer_value(count)
               : -1;
  size_t i;
  json_t *row;
  json_array_foreach(items, i, row) {
    int item = atoi(json_string_value(json_object_get(row, "item_id")) + 1);
    const char *labeler = json_string_value(json_object_get(row, "labeler"));
    /* Every row says what the formulas say. */
    if (labeler == NULL || strcmp(json_string_value(json_object_get(row, "labeler_label")), label_of(item, labeler)) ||
        strcmp(json_string_value(json_object_get(row, "auditor_label")), label_of(item, "aud")) ||
        strcmp(json_string_value(json_object_get(row, "market")), item % 2 ? "ja" : "es"))
      n = -2;
  }
  json_decref(doc);
  if (n < 0) fprintf(stderr, "report items %s: bad output: %.500s\n", args, out);
  return n;
}

static long items_count(const char *args) {
  char all[1024];
  snprintf(all, sizeof all, "--project dd %s", args);
  return items_count_raw(all);
}

/* HTML entities html_escape writes, back to text, in place. */
static void html_unescape(char *s) {
  static const struct {
    const char *entity;
    char c;
  } map[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
  char *w = s;
  for (const char *r = s; *r;) {
    size_t i = 0;
    while (i < 5 && strncmp(r, map[i].entity, strlen(map[i].entity)) != 0) i++;
    if (i < 5) {
      *w++ = map[i].c;
      r += strlen(map[i].entity);
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* The daily HTML report of `day`: each drill-down command run as shown
 * lists the row's count (data-count). Returns the number of commands. */
static int check_daily_html(const char *day) {
  char path[512];
  snprintf(path, sizeof path, "%s/daily.html", cluster.dir);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report daily --project dd --day %s --format html --out '%s'", day,
                    path) == 0);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (f == NULL) return 0;
  static char html[OUT_SIZE];
  size_t len = fread(html, 1, sizeof html - 1, f);
  html[len] = '\0';
  fclose(f);
  int commands = 0;
  const char *open = "<td class=\"drill\"><code data-count=\"";
  for (const char *p = strstr(html, open); p != NULL; p = strstr(p, open)) {
    p += strlen(open);
    long want = strtol(p, NULL, 10);
    const char *start = strchr(p, '>'), *end = strstr(p, "</code>");
    CHECK(start != NULL && end != NULL && end > start);
    if (start == NULL || end == NULL || end <= start) break;
    char command[2048];
    snprintf(command, sizeof command, "%.*s", (int)(end - start - 1), start + 1);
    html_unescape(command);
    CHECK(strncmp(command, "tally report items ", 19) == 0);
    long got = items_count_raw(command + strlen("tally report items "));
    if (got != want) fprintf(stderr, "daily drill-down %s: %ld listed, row says %ld\n", command, got, want);
    CHECK(got == want);
    commands++;
  }
  return commands;
}

/* The items `tally_cases_list` finds for `q`, as a bit set; also checks
 * that the list is the unfiltered list restricted to `want`. */
static void check_cases(tally_t *t, const char *what, tally_cases_query_t q, const int *want) {
  tally_case_list_t *list = NULL;
  q.limit = 1000;
  CHECK(tally_cases_list(t, "dd", &q, &list) == 0 && list != NULL && list->workers_failed == 0);
  if (list == NULL) return;
  int found[ITEMS] = {0}, wrong = 0;
  for (size_t i = 0; i < list->count; i++) {
    int item = atoi(list->cases[i].item_id + 1);
    if (item < 0 || item >= ITEMS || found[item]) wrong++;
    else found[item] = 1;
  }
  for (int i = 0; i < ITEMS; i++) wrong += found[i] != want[i];
  if (wrong) fprintf(stderr, "cases search %s: %d items wrong (of %zu listed)\n", what, wrong, list->count);
  CHECK(wrong == 0);
  tally_free(list);
}

/* `tally cases search`: text in the content or the note (case ignored),
 * attribution, labeler and label pair, each against the formulas. */
static void check_search(tally_t *t) {
  int want[ITEMS], any = 0;
  tally_cases_query_t q = {0};
  for (int i = 0; i < ITEMS; i++) want[i] = disagreed(i);
  check_cases(t, "everything", q, want);
  q.text = "red flag"; /* content "Red Flag" (i % 4 == 0) or note "RED FLAG" (i % 5 == 0) */
  for (int i = 0; i < ITEMS; i++) any += want[i] = disagreed(i) && (i % 4 == 0 || i % 5 == 0);
  CHECK(any > 0);
  check_cases(t, "text", q, want);
  q = (tally_cases_query_t){0};
  q.text = "NO SUCH TEXT";
  for (int i = 0; i < ITEMS; i++) want[i] = 0;
  check_cases(t, "absent text", q, want);
  /* Attribution: the case's, as the plain list says. */
  tally_case_list_t *all = NULL;
  CHECK(tally_cases_list(t, "dd", &(tally_cases_query_t){.limit = 1000}, &all) == 0 && all != NULL);
  for (tally_attribution_t a = TALLY_ATTRIBUTION_LABELER; all && a <= TALLY_ATTRIBUTION_POLICY_UNCLEAR; a++) {
    for (int i = 0; i < ITEMS; i++) want[i] = 0;
    for (size_t i = 0; i < all->count; i++) want[atoi(all->cases[i].item_id + 1)] = all->cases[i].attribution == a;
    q = (tally_cases_query_t){0};
    q.attribution = a;
    check_cases(t, tally_attribution_name(a), q, want);
  }
  tally_free(all);
  /* Label pairs, for either audited labeler and for l1 alone. */
  for (int a = 0; a < K; a++)
    for (int b = 0; b < K; b++) {
      q = (tally_cases_query_t){0};
      q.labeler_label = labels[a];
      q.auditor_label = labels[b];
      for (int i = 0; i < ITEMS; i++)
        want[i] = disagreed(i) && strcmp(label_of(i, "aud"), labels[b]) == 0 &&
                  (strcmp(label_of(i, "l1"), labels[a]) == 0 || strcmp(label_of(i, "l2"), labels[a]) == 0);
      check_cases(t, "pair", q, want);
      q.labeler = "l1";
      for (int i = 0; i < ITEMS; i++)
        want[i] = disagreed(i) && strcmp(label_of(i, "aud"), labels[b]) == 0 &&
                  strcmp(label_of(i, "l1"), labels[a]) == 0;
      check_cases(t, "l1 pair", q, want);
    }
  q = (tally_cases_query_t){0};
  q.labeler = "nobody";
  for (int i = 0; i < ITEMS; i++) want[i] = 0;
  check_cases(t, "unknown labeler", q, want);
  /* Through the CLI, filters combined. */
  long n = 0;
  for (int i = 0; i < ITEMS; i++)
    n += disagreed(i) && (i % 4 == 0 || i % 5 == 0) && strcmp(label_of(i, "l2"), "spam") == 0 && i % 2 == 1;
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "--format json cases search --project dd 'Red flag' --labeler l2 --pair spam: --market ja") == 0);
  json_t *doc = json_loads(out, 0, NULL);
  json_t *cases = json_object_get(doc, "cases");
  CHECK(json_is_array(cases) && (long)json_array_size(cases) == n);
  json_decref(doc);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases search --project dd --attribution maybe") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cases list --project dd --labeler l1") == 2);
}

static const tally_report_row_t *row_named(const tally_report_t *rep, const char *key) {
  for (size_t i = 0; rep && i < rep->row_count; i++)
    if (strcmp(rep->rows[i].key, key) == 0) return &rep->rows[i];
  return NULL;
}

static tally_report_t *report(tally_t *t, tally_report_by_t by) {
  tally_report_query_t q = {.by = by};
  tally_report_t *rep = NULL;
  CHECK(tally_report_quality(t, "dd", &q, &rep) == 0 && rep && rep->workers_failed == 0);
  return rep;
}

static void check_equal(const char *what, long drilled, uint64_t reported) {
  if (drilled != (long)reported)
    fprintf(stderr, "%s: drill-down %ld, report %llu\n", what, drilled, (unsigned long long)reported);
  CHECK(drilled == (long)reported);
}

int main(void) {
  harness_init(240);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) return 1;
  const char *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = "dd";
  spec.labels = labels;
  spec.label_count = K;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 2;
  spec.lease_seconds = 60;
  spec.audit_rate = 1.0;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  tally_labeler_t people[] = {{"l1", TALLY_ROLE_LABELER, markets, 2, NULL},
                              {"l2", TALLY_ROLE_LABELER, markets, 2, NULL},
                              {"aud", TALLY_ROLE_AUDITOR, markets, 2, NULL},
                              {"boss", TALLY_ROLE_LEAD, markets, 2, NULL}};
  for (size_t i = 0; i < 4; i++) CHECK(tally_labeler_add(t, &people[i], NULL) == 0);
  tally_item_t items[ITEMS];
  char ids[ITEMS][8], contents[ITEMS][48];
  int disputes = 0;
  for (int i = 0; i < ITEMS; i++) {
    snprintf(ids[i], sizeof ids[i], "d%02d", i);
    snprintf(contents[i], sizeof contents[i], "item %d%s", i, i % 4 == 0 ? " shows a Red Flag" : "");
    items[i] = (tally_item_t){ids[i], i % 2 ? "ja" : "es", 1, contents[i], NULL, NULL};
    disputes += disagreed(i);
  }
  tally_ingest_result_t *ingested = NULL;
  CHECK(tally_ingest(t, "dd", items, ITEMS, &ingested) == 0 && ingested->accepted == ITEMS);
  tally_free(ingested);

  for (int i = 0; i < 2; i++) CHECK(work(t, labelers[i], TALLY_STAGE_LABEL, ITEMS) == ITEMS);
  CHECK(work(t, "aud", TALLY_STAGE_AUDIT, ITEMS) == ITEMS);

  /* Double-blind: the audits in adjudication are not listed yet. */
  CHECK(disputes > 0 && disputes < ITEMS);
  check_equal("before the verdicts", items_count(""), 2 * (uint64_t)(ITEMS - disputes));

  CHECK(work(t, "boss", TALLY_STAGE_ADJUDICATE, disputes) == disputes);

  tally_report_t *rep = report(t, TALLY_REPORT_BY_LABELER);
  char args[128], what[128];
  static const struct {
    const char *name;
    tally_attribution_t a;
  } attributions[] = {{"labeler", TALLY_ATTRIBUTION_LABELER},
                      {"auditor", TALLY_ATTRIBUTION_AUDITOR},
                      {"both", TALLY_ATTRIBUTION_BOTH},
                      {"policy-unclear", TALLY_ATTRIBUTION_POLICY_UNCLEAR}};
  for (int i = 0; i < 2; i++) {
    const tally_report_row_t *row = row_named(rep, labelers[i]);
    CHECK(row != NULL && row->audits == ITEMS);
    if (row == NULL) continue;
    snprintf(args, sizeof args, "--labeler %s", labelers[i]);
    check_equal(args, items_count(args), row->audits);
    uint64_t attributed[4] = {row->attributed_labeler, row->attributed_auditor, row->attributed_both,
                              row->attributed_policy};
    uint64_t sum = 0;
    for (int a = 0; a < 4; a++) {
      snprintf(args, sizeof args, "--labeler %s --attribution %s", labelers[i], attributions[a].name);
      check_equal(args, items_count(args), attributed[a]);
      sum += attributed[a];
    }
    snprintf(args, sizeof args, "--labeler %s --attribution none", labelers[i]);
    check_equal(args, items_count(args), row->audit_agreed);
    CHECK(sum + row->audit_agreed == row->audits && row->attributed_policy > 0 && row->attributed_both > 0);
  }
  /* Every cell of the confusion matrix, the empty ones included. */
  uint64_t cells = 0;
  for (int a = 0; rep && a < K; a++)
    for (int b = 0; b < K; b++) {
      snprintf(args, sizeof args, "--pair %s:%s", labels[a], labels[b]);
      check_equal(args, items_count(args), rep->confusion[a * K + b]);
      cells += rep->confusion[a * K + b];
    }
  CHECK(cells == 2 * ITEMS);
  snprintf(args, sizeof args, "--pair spam:ok --labeler l1");
  long both_filters = items_count(args);
  long expected = 0;
  for (int i = 0; i < ITEMS; i++)
    expected += strcmp(label_of(i, "l1"), "spam") == 0 && strcmp(label_of(i, "aud"), "ok") == 0;
  check_equal(args, both_filters, (uint64_t)expected);
  tally_free(rep);

  rep = report(t, TALLY_REPORT_BY_MARKET);
  for (int m = 0; m < 2; m++) {
    const tally_report_row_t *row = row_named(rep, markets[m]);
    CHECK(row != NULL && row->audits == ITEMS);
    snprintf(args, sizeof args, "--market %s", markets[m]);
    snprintf(what, sizeof what, "market %s", markets[m]);
    if (row) check_equal(what, items_count(args), row->audits);
  }
  tally_free(rep);

  /* By policy version, end to end: every audit was counted under version 1. */
  rep = report(t, TALLY_REPORT_BY_VERSION);
  CHECK(rep && rep->row_count == 1 && row_named(rep, "1") && row_named(rep, "1")->audits == 2 * ITEMS);
  tally_free(rep);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report quality --project dd --by version") == 0);

  /* Days: today holds everything, the day after nothing. */
  char today[16], tomorrow[16];
  uint32_t day = (uint32_t)(time(NULL) / 86400);
  CHECK(tally_day_format(day, today, sizeof today) == 0 && tally_day_format(day + 1, tomorrow, sizeof tomorrow) == 0);
  snprintf(args, sizeof args, "--from %s --to %s", today, today);
  check_equal(args, items_count(args), 2 * ITEMS);
  snprintf(args, sizeof args, "--from %s", tomorrow);
  check_equal(args, items_count(args), 0);

  check_search(t);

  /* The daily HTML report's drill-downs: 3 scopes (project, es, ja) of 3
   * audit rows and 5 coefficients, 2 labelers, and the pairs. */
  int commands = check_daily_html(today);
  printf("# %d drill-down commands in the daily HTML report\n", commands);
  CHECK(commands >= 3 * (3 + 5) + 2 + 1);

  /* Bad filters are usage errors. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "report items --project dd --pair spam") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report items --project dd --attribution maybe") == 2);
  CHECK(cluster_cli(&cluster, out, sizeof out, "report items --pair spam:ok") == 2);
  /* Table and CSV print the same rows. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "report items --project dd --labeler l1") == 0 &&
        strstr(out, "30 audits") != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format csv report items --project dd --labeler l2") == 0 &&
        strncmp(out, "item_id,market,day,labeler,labeler_label,auditor_label,final_label,attribution", 78) == 0);

  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
