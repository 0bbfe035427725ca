/* Guideline versions end to end (README, "Guideline versions"), two
 * workers: labeler "lab", auditor "aud" (every label audited), lead "boss".
 *
 *   version 1: g1 ok/ok, g2 spam/spam          2 audits, 2 agreed
 *   `tally project guideline set gl --name "v2 Nov" --url ...` (version 2)
 *   version 2: g3 ok/ok, g4 spam/ok -> boss: ok 2 audits, 1 agreed
 *
 * `report quality --by version` has one row per version with those counts;
 * every export line carries the version of each label, of the audit and of
 * the close; `report items --guideline` and `cases search --guideline` (by
 * number or by name) list only that version's audits and cases. The
 * version is durable (coordinator SIGKILL) and names are unique.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"

static cluster_t cluster;
static char out[65536];

typedef struct {
  const char *id, *label, *audit, *verdict;
} case_t;

static const case_t cases[] = {
    {"g1", "ok", "ok", NULL}, {"g2", "spam", "spam", NULL}, {"g3", "ok", "ok", NULL}, {"g4", "spam", "ok", "ok"}};

static const case_t *case_of(const char *id) {
  for (size_t i = 0; i < 4; i++)
    if (strcmp(cases[i].id, id) == 0) return &cases[i];
  return NULL;
}

static void cli_expect(int expect_rc, const char *needle, const char *args) {
  int rc = cluster_cli(&cluster, out, sizeof out, "%s", args);
  int ok = rc == expect_rc && (needle == NULL || strstr(out, needle) != NULL);
  if (!ok) fprintf(stderr, "FAIL: `%s` exited %d (wanted %d, output with '%s'): %s\n", args, rc, expect_rc,
                   needle ? needle : "", out);
  CHECK(ok);
}

/* Leases and answers `want` tasks of `stage` as `who`. */
static void work(tally_t *t, const char *who, tally_stage_t stage, int want) {
  int done = 0;
  for (int tries = 0; done < want && tries < 100; tries++) {
    tally_task_t *task = NULL;
    if (tally_lease(t, who, "gl", stage, 0, &task) != 0 || task == NULL) {
      usleep(100000);
      continue;
    }
    const case_t *c = case_of(task->item_id);
    const char *label = c == NULL ? NULL
                        : stage == TALLY_STAGE_LABEL ? c->label
                        : stage == TALLY_STAGE_AUDIT ? c->audit
                                                     : c->verdict;
    int rc = label ? tally_submit(t, who, task->slot, task->lease_id, label, 500) : -1;
    CHECK(rc == 0);
    done += rc == 0;
    tally_free(task);
  }
  if (done != want) fprintf(stderr, "FAIL: %s did %d of %d %s tasks\n", who, done, want, tally_stage_name(stage));
  CHECK(done == want);
}

static void ingest(tally_t *t, const char *a, const char *b) {
  tally_item_t items[2] = {{a, "es", TALLY_PRIORITY_NORMAL, "text of the item", NULL, NULL},
                           {b, "es", TALLY_PRIORITY_NORMAL, "text of the other", NULL, NULL}};
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "gl", items, 2, &res) == 0 && res && res->accepted == 2);
  tally_free(res);
}

static json_t *version_row(json_t *report, const char *key) {
  json_t *rows = json_object_get(report, "rows");
  for (size_t i = 0; i < json_array_size(rows); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(rows, i), "key")), key) == 0)
      return json_array_get(rows, i);
  return NULL;
}

static int row_is(json_t *row, int labels, int audits, int agreed) {
  int ok = row && json_integer_value(json_object_get(row, "labels")) == labels &&
           json_integer_value(json_object_get(row, "audits")) == audits &&
           json_integer_value(json_object_get(row, "audit_agreed")) == agreed;
  if (!ok) fprintf(stderr, "FAIL: version row is not %d labels, %d audits, %d agreed\n", labels, audits, agreed);
  return ok;
}

/* Counts the rows of `report items` with `filter`. */
static long items_count(const char *filter) {
  char args[256];
  snprintf(args, sizeof args, "--format json report items --project gl %s", filter);
  if (cluster_cli(&cluster, out, sizeof out, "%s", args) != 0) return -1;
  json_t *doc = json_loads(out, 0, NULL);
  long n = doc ? (long)json_integer_value(json_object_get(doc, "count")) : -1;
  json_decref(doc);
  return n;
}

int main(void) {
  harness_init(240);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) return 1;
  cli_expect(0, NULL, "project create gl --labels ok,spam --markets es --audit-rate 1");
  cli_expect(0, NULL, "labeler add lab --roles labeler --markets es");
  cli_expect(0, NULL, "labeler add aud --roles auditor --markets es");
  cli_expect(0, NULL, "labeler add boss --roles lead --markets es");

  /* Version 1. */
  ingest(t, "g1", "g2");
  work(t, "lab", TALLY_STAGE_LABEL, 2);
  work(t, "aud", TALLY_STAGE_AUDIT, 2);

  /* A new guideline version. */
  cli_expect(2, "--url", "project guideline set gl --name v2");
  cli_expect(0, "v2 Nov", "project guideline set gl --name 'v2 Nov' --url https://policy.example/v2");
  cli_expect(1, "ALREADY_EXISTS", "project guideline set gl --name 'v2 Nov' --text again");
  cli_expect(1, "UNKNOWN_PROJECT", "project guideline set nope --name v9 --text t");
  tally_project_t *p = NULL;
  CHECK(tally_project_show(t, "gl", &p) == 0 && p && p->policy_version == 2 && p->guideline_count == 1 &&
        p->guidelines[0].version == 2 && strcmp(p->guidelines[0].name, "v2 Nov") == 0 &&
        strcmp(p->guidelines[0].url, "https://policy.example/v2") == 0 &&
        strcmp(p->guidelines[0].set_by, "harness") == 0);
  tally_free(p);
  cli_expect(0, "guidelines:     v2 Nov (policy version 2)", "project show gl");
  cli_expect(0, "guideline_set", "admin-log --limit 5");

  /* Version 2. */
  ingest(t, "g3", "g4");
  work(t, "lab", TALLY_STAGE_LABEL, 2);
  work(t, "aud", TALLY_STAGE_AUDIT, 2);
  work(t, "boss", TALLY_STAGE_ADJUDICATE, 1);

  /* Quality per version. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json report quality --project gl --by version") == 0);
  json_t *doc = json_loads(out, 0, NULL);
  CHECK(doc && json_array_size(json_object_get(doc, "rows")) == 2);
  CHECK(row_is(version_row(doc, "1"), 2, 2, 2) && row_is(version_row(doc, "2"), 2, 2, 1));
  json_decref(doc);

  /* Every export line carries the versions. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "export judgments --project gl") == 0);
  int lines = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    json_t *j = json_loads(line, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "item_id")) : NULL;
    json_int_t want = id && (strcmp(id, "g3") == 0 || strcmp(id, "g4") == 0) ? 2 : 1;
    json_t *label = json_array_get(json_object_get(j, "labels"), 0);
    int ok = id && json_integer_value(json_object_get(j, "policy_version")) == want &&
             json_integer_value(json_object_get(label, "policy_version")) == want &&
             json_integer_value(json_object_get(json_object_get(j, "audit"), "policy_version")) == want;
    if (!ok) fprintf(stderr, "FAIL: export line without version %lld: %s\n", (long long)want, line);
    CHECK(ok);
    lines++;
    json_decref(j);
  }
  CHECK(lines == 4);
  CHECK(cluster_cli(&cluster, out, sizeof out, "export judgments --project gl --format csv") == 0 &&
        strstr(out, ",policy_version,audit_policy_version,label_policy_versions\r\n") != NULL &&
        strstr(out, ",2,2,lab:2\r\n") != NULL && strstr(out, ",1,1,lab:1\r\n") != NULL);

  /* Drill-downs by version, by number and by name. */
  CHECK(items_count("--guideline 1") == 2);
  CHECK(items_count("--guideline 'v2 Nov'") == 2);
  CHECK(items_count("--guideline 2 --pair spam:ok") == 1);
  CHECK(items_count("--guideline 3") == 0);
  cli_expect(2, "no guideline version named", "report items --project gl --guideline v7");
  cli_expect(0, "g4", "cases search --project gl --guideline 'v2 Nov'");
  cli_expect(0, "no cases", "cases search --project gl --guideline 1");
  cli_expect(2, NULL, "cases list --project gl --guideline 1");
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json cases search --project gl --guideline 2") == 0);
  doc = json_loads(out, 0, NULL);
  json_t *first = json_array_get(json_object_get(doc, "cases"), 0);
  CHECK(doc && json_array_size(json_object_get(doc, "cases")) == 1 &&
        json_integer_value(json_object_get(first, "policy_version")) == 2);
  json_decref(doc);

  /* Durable. */
  cluster_kill_coordinator(&cluster, SIGKILL);
  CHECK(cluster_start_coordinator(&cluster) == 0);
  cli_expect(0, "v2 Nov", "project guideline list gl");
  CHECK(strstr(out, "https://policy.example/v2") != NULL && strstr(out, "yes") != NULL);

  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
