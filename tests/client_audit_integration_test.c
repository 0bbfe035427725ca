/* client_audit_integration_test: the audit cycle end to end through the
 * `tally` command, against the real tally-coordinator and two real
 * tally-worker processes (tests/harness.h).
 *
 * 1. `tally simulate` with labelers, auditors and leads works a project;
 *    what it says it did must be exactly what `report quality`, `report
 *    confusion`, `export judgments` and `feedback` then say: the same number
 *    of labels, audits and adjudications, the same attributions (the
 *    simulation predicts them, the workers derive them from the final
 *    labels), the
 *    confusion matrix summing to the audits, one exported judgment per
 *    audit, one feedback entry per audited label.
 * 2. One item by hand: label, blind audit with another label, a lead's
 *    adjudication task with both labels as candidates, a verdict whose
 *    attribution follows from the final label (a wrong guess given with
 *    --attribution is ignored), and the note in the export.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"

#define OUT_SIZE (1u << 20)

static cluster_t cluster;
static char out[OUT_SIZE];

/* Runs `tally ARGS` (printf-style) into `out`; on an unexpected exit code
 * prints what it said. */
static int vcli(int want, const char *fmt, va_list ap) {
  char args[2048];
  vsnprintf(args, sizeof args, fmt, ap);
  int rc = cluster_cli(&cluster, out, sizeof out, "%s", args);
  if (rc != want) fprintf(stderr, "  `tally %s` exited %d, wanted %d:\n%s\n", args, rc, want, out);
  return rc;
}

static int cli(int want, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(int want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vcli(want, fmt, ap);
  va_end(ap);
  return rc;
}

/* The JSON document the CLI printed (it may be preceded by warnings). */
static json_t *cli_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *cli_json(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vcli(0, fmt, ap);
  va_end(ap);
  if (rc != 0) return NULL;
  const char *start = strchr(out, '{');
  json_t *doc = start ? json_loads(start, 0, NULL) : NULL;
  CHECK(doc != NULL);
  return doc;
}

static json_int_t get_int(json_t *o, const char *path1, const char *path2) {
  json_t *v = json_object_get(o, path1);
  if (path2) v = json_object_get(v, path2);
  return json_integer_value(v);
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static void test_simulated_cycle(void) {
  char items[512];
  snprintf(items, sizeof items, "%s/items.jsonl", cluster.dir);
  CHECK(cli(0, "project create sim --labels ok,spam,hate,violence --markets es,ja --audit-rate 0.4") == 0);
  CHECK(cli(0, "audit-policy set --project sim --market ja=0.7") == 0);
  CHECK(cli(0, "simulate --generate 240 --project sim --seed 5 >%s", items) == 0);
  CHECK(cli(0, "ingest sim %s", items) == 0);
  json_t *sim = cli_json("simulate --project sim --create-labelers --labelers 3 --accuracies 0.95,0.8,0.6 "
                         "--auditors 2 --leads 2 --policy-unclear-share 0.1 --seed 9 --format json");
  if (sim == NULL) return;
  json_t *total = json_object_get(sim, "total");
  json_int_t labels = get_int(total, "tasks", NULL), audits = get_int(total, "audits", NULL),
             adjudications = get_int(total, "adjudications", NULL);
  json_t *attributed = json_object_get(total, "attributions");
  CHECK(labels == 240 && audits > 0 && adjudications > 0 && audits <= labels);
  CHECK(get_int(total, "errors", NULL) == 0 && get_int(attributed, "unattributable", NULL) == 0);
  fprintf(stderr, "  simulated: %lld labels, %lld audits, %lld adjudications\n", (long long)labels,
          (long long)audits, (long long)adjudications);

  json_t *rep = cli_json("report quality --project sim --by labeler --format json");
  if (rep) {
    json_t *t = json_object_get(rep, "total");
    CHECK(get_int(t, "labels", NULL) == labels && get_int(t, "audits", NULL) == audits &&
          get_int(t, "adjudications", NULL) == adjudications);
    CHECK(get_int(t, "attributed", "labeler") == get_int(attributed, "labeler", NULL) &&
          get_int(t, "attributed", "auditor") == get_int(attributed, "auditor", NULL) &&
          get_int(t, "attributed", "both") == get_int(attributed, "both", NULL) &&
          get_int(t, "attributed", "policy_unclear") == get_int(attributed, "policy_unclear", NULL));
    CHECK(get_int(rep, "workers_failed", NULL) == 0);
    json_t *rows = json_object_get(rep, "rows");
    json_int_t row_audits = 0, labeler_rows = 0;
    for (size_t i = 0; i < json_array_size(rows); i++) {
      row_audits += get_int(json_array_get(rows, i), "audits", NULL);
      labeler_rows += get_int(json_array_get(rows, i), "labels", NULL) > 0;
    }
    /* The three labelers, and the auditors' own rows (their accuracy). */
    CHECK(labeler_rows == 3 && json_array_size(rows) > 3 && row_audits == audits);
    /* Accuracy is defined with audits, and then within its interval. */
    json_t *acc = json_object_get(t, "accuracy"), *low = json_object_get(t, "wilson_low");
    CHECK(json_is_real(acc) && json_real_value(low) <= json_real_value(acc));
  }
  json_decref(rep);

  json_t *conf = cli_json("report confusion --project sim --format json");
  if (conf) {
    CHECK(get_int(conf, "audits", NULL) == audits);
    json_int_t unclear = 0;
    json_t *pairs = json_object_get(conf, "policy_unclear_pairs");
    for (size_t i = 0; i < json_array_size(pairs); i++) unclear += get_int(json_array_get(pairs, i), "count", NULL);
    CHECK(unclear == get_int(attributed, "policy_unclear", NULL));
  }
  json_decref(conf);

  /* One judgment per audit; the adjudicated ones carry the attributions. */
  CHECK(cli(0, "export judgments --project sim") == 0);
  CHECK((json_int_t)count_lines(out) == audits);
  json_int_t adjudicated = 0, by_labeler = 0;
  for (char *line = out; *line; line = strchr(line, '\n') + 1) {
    json_t *j = json_loadb(line, (size_t)(strchr(line, '\n') - line), 0, NULL);
    const char *adjudicator = json_string_value(json_object_get(j, "adjudicator"));
    adjudicated += adjudicator && adjudicator[0];
    by_labeler += strcmp(json_string_value(json_object_get(j, "attribution")), "labeler") == 0;
    json_decref(j);
  }
  CHECK(adjudicated == adjudications && by_labeler == get_int(attributed, "labeler", NULL));
  CHECK(cli(0, "export judgments --project sim --format csv") == 0);
  CHECK((json_int_t)count_lines(out) == audits + 1);

  /* Every audited label comes back to its labeler as closed feedback. */
  json_int_t entries = 0;
  const char *labelers[] = {"sim-001", "sim-002", "sim-003"};
  for (int i = 0; i < 3; i++) {
    json_t *fb = cli_json("feedback --as %s --project sim --limit 10000 --format json", labelers[i]);
    json_t *list = json_object_get(fb, "entries");
    entries += (json_int_t)json_array_size(list);
    int consistent = 1;
    for (size_t k = 0; k < json_array_size(list); k++) {
      json_t *e = json_array_get(list, k);
      int same = strcmp(json_string_value(json_object_get(e, "your_label")),
                        json_string_value(json_object_get(e, "final_label"))) == 0;
      consistent &= json_is_true(json_object_get(e, "correct")) == same;
      if (k > 0) consistent &= get_int(json_array_get(list, k - 1), "closed_ms", NULL) >= get_int(e, "closed_ms", NULL);
    }
    CHECK(consistent);
    json_decref(fb);
  }
  CHECK(entries == audits);
  json_decref(sim);
}

/* The token of the task `tally lease ... --format json` printed. */
static int leased_token(char *token, size_t size, json_t **task) {
  json_t *doc = json_loads(out, 0, NULL);
  *task = json_incref(json_object_get(doc, "task"));
  const char *t = json_string_value(json_object_get(*task, "token"));
  if (t) snprintf(token, size, "%s", t);
  json_decref(doc);
  return t ? 0 : -1;
}

static void test_by_hand(void) {
  char token[64];
  json_t *task = NULL;
  CHECK(cli(0, "project create hand --labels ok,spam,hate --markets es --audit-rate 1") == 0);
  CHECK(cli(0, "labeler add ana --markets es") == 0);
  CHECK(cli(0, "labeler add qa --roles auditor --markets es") == 0);
  CHECK(cli(0, "labeler add boss --roles lead --markets es") == 0);
  char items[512];
  snprintf(items, sizeof items, "%s/hand.jsonl", cluster.dir);
  FILE *f = fopen(items, "w");
  if (f == NULL) return;
  fputs("{\"id\": \"h1\", \"market\": \"es\", \"content\": \"buy cheap pills\"}\n", f);
  fclose(f);
  CHECK(cli(0, "ingest hand %s", items) == 0);
  CHECK(cli(0, "lease --as ana --project hand --wait 5 --format json") == 0);
  CHECK(leased_token(token, sizeof token, &task) == 0);
  json_decref(task);
  CHECK(cli(0, "submit --as ana %s ok", token) == 0);
  /* The audit is blind; the lead sees both labels as candidates. */
  CHECK(cli(0, "lease --as qa --project hand --stage audit --wait 5 --format json") == 0);
  CHECK(leased_token(token, sizeof token, &task) == 0);
  CHECK(task && strcmp(json_string_value(json_object_get(task, "stage")), "audit") == 0 &&
        json_array_size(json_object_get(task, "candidates")) == 0);
  json_decref(task);
  CHECK(cli(0, "submit --as qa %s spam", token) == 0);
  CHECK(cli(0, "lease --as boss --project hand --stage adjudicate --wait 5 --format json") == 0);
  CHECK(leased_token(token, sizeof token, &task) == 0);
  json_t *cands = json_object_get(task, "candidates");
  const char *a = json_string_value(json_array_get(cands, 0)), *b = json_string_value(json_array_get(cands, 1));
  CHECK(json_array_size(cands) == 2 && a && b &&
        ((strcmp(a, "ok") == 0 && strcmp(b, "spam") == 0) || (strcmp(a, "spam") == 0 && strcmp(b, "ok") == 0)));
  json_decref(task);
  CHECK(cli(2, "submit --as boss %s spam --attribution nobody", token) == 2);
  CHECK(cli(0, "submit --as boss %s spam --attribution auditor --note 'pills are spam, see 3.1'", token) == 0);
  CHECK(cli(0, "export judgments --project hand --format csv") == 0);
  CHECK(strstr(out, "\r\nhand,h1,es,ana:ok,qa,spam,") != NULL && strstr(out, ",spam,labeler,boss,\"pills are spam, see 3.1\",") != NULL);
  CHECK(cli(0, "feedback --as ana --format csv") == 0);
  CHECK(strstr(out, ",hand,h1,ok,spam,false,false\r\n") != NULL);
}

int main(void) {
  harness_init(170);
  if (cluster_start(&cluster, 2) != 0) {
    fprintf(stderr, "cannot start the cluster\n");
    return 1;
  }
  test_simulated_cycle();
  test_by_hand();
  cluster_stop(&cluster);
  return check_summary();
}
