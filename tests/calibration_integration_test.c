/* Calibration sessions end to end through the `tally` CLI (README,
 * "Calibration sessions"), on a real coordinator and two workers.
 *
 * Session s1 (with a key), group = market es (ana, ben: labelers; cy:
 * auditor), dee (ja) is not in it:
 *
 *   item  key   ana   ben   cy     distribution        disagreement
 *   c1    ok    ok    ok    ok     ok 3                0
 *   c2    spam  spam  ok    spam   spam 2, ok 1        1 - 2/6
 *   c3    hate  hate  hate  spam   hate 2, spam 1      1 - 2/6
 *   c4    spam  spam  hate  ok     one each            1
 *
 * ana 4/4, ben 2/4, cy 2/4, group 8/12; Fleiss' kappa and Krippendorff's
 * alpha equal common/agreement's on the same units; items ranked c4, c2,
 * c3, c1. Blindness: a member's next reply is the same before and after
 * others labeled, submit replies carry only their own label, members'
 * list shows no key count or group, a labeler cannot read results, a
 * non-member is told the session is not theirs. Deadline and close:
 * CLOSED. Session s2 without a key: keyed by the lead after close. Trend
 * across s1 and s2. None of it reaches production: no label, item, export
 * line or task. A coordinator SIGKILL keeps every label.
 */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement.h"
#include "check.h"
#include "harness.h"
#include "tally.h"

static cluster_t cluster;
static char out[65536];

static json_t *cli_json(int expect_rc, const char *fmt, const char *arg) {
  char args[1024];
  snprintf(args, sizeof args, fmt, arg);
  int rc = cluster_cli(&cluster, out, sizeof out, "--format json %s", args);
  if (rc != expect_rc) fprintf(stderr, "FAIL: `%s` exited %d, wanted %d: %s\n", args, rc, expect_rc, out);
  CHECK(rc == expect_rc);
  json_error_t error;
  json_t *doc = json_loads(out, 0, &error);
  if (expect_rc == 0 && doc == NULL) fprintf(stderr, "FAIL: `%s` printed no JSON: %s\n", args, out);
  return doc;
}

/* Runs the CLI, checks its exit code and that the output contains `needle`. */
static void cli_expect(int expect_rc, const char *needle, const char *args) {
  int rc = cluster_cli(&cluster, out, sizeof out, "%s", args);
  int ok = rc == expect_rc && (needle == NULL || strstr(out, needle) != NULL);
  if (!ok) fprintf(stderr, "FAIL: `%s` exited %d (wanted %d, output with '%s'): %s\n", args, rc, expect_rc,
                   needle ? needle : "", out);
  CHECK(ok);
}

static void submit(const char *session, const char *who, const char *item, const char *label) {
  char args[256];
  snprintf(args, sizeof args, "calibration submit %s %s %s --as %s", session, item, label, who);
  cli_expect(0, "labeled", args);
}

static json_t *person_result(json_t *results, const char *person) {
  json_t *people = json_object_get(results, "people");
  for (size_t i = 0; i < json_array_size(people); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(people, i), "person")), person) == 0)
      return json_array_get(people, i);
  return NULL;
}

static int person_is(json_t *results, const char *person, int judged, int correct) {
  json_t *p = person_result(results, person);
  int ok = p && json_integer_value(json_object_get(p, "judged")) == judged &&
           json_integer_value(json_object_get(p, "correct")) == correct;
  if (ok && judged > 0) {
    double low = json_real_value(json_object_get(p, "wilson_low"));
    double high = json_real_value(json_object_get(p, "wilson_high"));
    double want_low = 0, want_high = 0;
    agreement_wilson((uint64_t)correct, (uint64_t)judged, AGREEMENT_Z95, &want_low, &want_high);
    ok = fabs(json_real_value(json_object_get(p, "accuracy")) - (double)correct / judged) < 1e-12 &&
         fabs(low - want_low) < 1e-9 && fabs(high - want_high) < 1e-9;
  }
  if (ok && judged == 0) ok = json_is_null(json_object_get(p, "accuracy"));
  if (!ok) fprintf(stderr, "FAIL: %s is not %d of %d\n", person, correct, judged);
  return ok;
}

/* The label table of s1 (ana, ben, cy per item), as taxonomy indices. */
static const char *const taxonomy[] = {"ok", "spam", "hate"};
static const char *const s1_labels[4][3] = {
    {"ok", "ok", "ok"}, {"spam", "ok", "spam"}, {"hate", "hate", "spam"}, {"spam", "hate", "ok"}};

static uint32_t index_of(const char *label) {
  for (uint32_t i = 0; i < 3; i++)
    if (strcmp(taxonomy[i], label) == 0) return i;
  return 99;
}

static void check_coefficients(json_t *results) {
  agreement_fleiss_t f;
  agreement_coincidence_t c;
  agreement_fleiss_init(&f, 3);
  agreement_coincidence_init(&c, 3);
  for (int item = 0; item < 4; item++) {
    uint32_t values[3];
    for (int p = 0; p < 3; p++) values[p] = index_of(s1_labels[item][p]);
    agreement_fleiss_add_unit(&f, values, 3);
    agreement_coincidence_add_unit(&c, values, 3);
  }
  double kappa = 0, alpha = 0, percent = 0;
  CHECK(agreement_fleiss_kappa(&f, &kappa) == 0 && agreement_coincidence_alpha_nominal(&c, &alpha) == 0 &&
        agreement_coincidence_percent(&c, &percent) == 0);
  json_t *co = json_object_get(results, "coefficients");
  double got_kappa = json_real_value(json_object_get(co, "fleiss_kappa"));
  double got_alpha = json_real_value(json_object_get(co, "krippendorff_alpha_nominal"));
  double got_percent = json_real_value(json_object_get(co, "percent_agreement"));
  if (fabs(got_kappa - kappa) > 1e-12 || fabs(got_alpha - alpha) > 1e-12 || fabs(got_percent - percent) > 1e-12)
    fprintf(stderr, "FAIL: kappa %.17g alpha %.17g percent %.17g, agreement.c says %.17g %.17g %.17g\n", got_kappa,
            got_alpha, got_percent, kappa, alpha, percent);
  CHECK(fabs(got_kappa - kappa) <= 1e-12 && fabs(got_alpha - alpha) <= 1e-12 && fabs(got_percent - percent) <= 1e-12);
  CHECK(kappa > -1.0 && kappa < 1.0); /* the data is neither perfect nor undefined */
}

static void check_items(json_t *results) {
  static const char *const order[] = {"c4", "c2", "c3", "c1"};
  static const double disagreement[] = {1.0, 1.0 - 2.0 / 6.0, 1.0 - 2.0 / 6.0, 0.0};
  json_t *items = json_object_get(results, "items");
  CHECK(json_array_size(items) == 4);
  for (size_t i = 0; i < 4 && i < json_array_size(items); i++) {
    json_t *it = json_array_get(items, i);
    const char *id = json_string_value(json_object_get(it, "item_id"));
    double d = json_real_value(json_object_get(it, "disagreement"));
    if (id == NULL || strcmp(id, order[i]) != 0 || fabs(d - disagreement[i]) > 1e-12)
      fprintf(stderr, "FAIL: item %zu is %s (%.3f), wanted %s (%.3f)\n", i, id ? id : "?", d, order[i],
              disagreement[i]);
    CHECK(id && strcmp(id, order[i]) == 0 && fabs(d - disagreement[i]) < 1e-12);
    CHECK(json_integer_value(json_object_get(it, "labels")) == 3);
  }
  json_t *first = json_array_get(items, 0), *dist = json_object_get(first, "distribution");
  CHECK(json_integer_value(json_object_get(dist, "ok")) == 1 && json_integer_value(json_object_get(dist, "spam")) == 1 &&
        json_integer_value(json_object_get(dist, "hate")) == 1 &&
        strcmp(json_string_value(json_object_get(first, "key")), "spam") == 0);
  json_t *c2 = json_array_get(items, 1);
  dist = json_object_get(c2, "distribution");
  CHECK(json_integer_value(json_object_get(dist, "spam")) == 2 && json_integer_value(json_object_get(dist, "ok")) == 1 &&
        strcmp(json_string_value(json_object_get(c2, "top_label")), "spam") == 0);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
}

/* `who`'s whole next reply (JSON), to compare two moments of one person's view. */
static char *next_reply(const char *session, const char *who) {
  char args[256];
  snprintf(args, sizeof args, "--format json calibration next %s --as %s", session, who);
  int rc = cluster_cli(&cluster, out, sizeof out, "%s", args);
  CHECK(rc == 0);
  return strdup(out);
}

int main(void) {
  harness_init(400);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  char path[512], args[1024], ana_key[512];
  cli_expect(0, NULL, "project create cal --labels ok,spam,hate --markets es,ja --audit-rate 1");
  cli_expect(0, NULL, "labeler add ben --roles labeler --markets es");
  cli_expect(0, NULL, "labeler add cy --roles auditor --markets es");
  cli_expect(0, NULL, "labeler add dee --roles labeler --markets ja");
  char ana_pub[CURVE_Z85_LEN + 1];
  CHECK(harness_keygen(&cluster, "ana", ana_key, sizeof ana_key, ana_pub) == 0);
  snprintf(args, sizeof args, "labeler add ana --roles labeler --markets es --public-key '%s'", ana_pub);
  cli_expect(0, NULL, args);

  /* Bad sessions are refused. */
  snprintf(path, sizeof path, "%s/s1.jsonl", cluster.dir);
  write_file(path,
             "{\"id\": \"c1\", \"content\": \"buy now\", \"market\": \"es\", \"key\": \"ok\"}\n"
             "{\"id\": \"c2\", \"content\": {\"text\": \"cheap pills\"}, \"key\": \"spam\"}\n"
             "\n"
             "{\"id\": \"c3\", \"media_url\": \"https://media.example/3.jpg\", \"key\": \"hate\"}\n"
             "{\"id\": \"c4\", \"content\": \"win a prize\", \"key\": \"spam\"}\n");
  snprintf(args, sizeof args, "calibration create s0 --project cal --items %s --deadline 2001-01-01T00:00Z", path);
  cli_expect(1, "INVALID_ARGUMENT", args);
  snprintf(args, sizeof args, "calibration create s0 --project nope --items %s", path);
  cli_expect(1, "UNKNOWN_PROJECT", args);
  cli_expect(2, NULL, "calibration create s0 --deadline soon --project cal");
  snprintf(path, sizeof path, "%s/bad.jsonl", cluster.dir);
  write_file(path, "{\"id\": \"x1\", \"content\": \"a\", \"key\": \"meh\"}\n");
  snprintf(args, sizeof args, "calibration create s0 --project cal --items %s", path);
  cli_expect(1, "LABEL_NOT_IN_TAXONOMY", args);
  write_file(path, "{\"content\": \"no id\"}\n");
  snprintf(args, sizeof args, "calibration create s0 --project cal --items %s", path);
  cli_expect(2, "line 1", args);

  /* s1: keyed, group = market es. */
  snprintf(path, sizeof path, "%s/s1.jsonl", cluster.dir);
  snprintf(args, sizeof args, "calibration create s1 --project cal --items %s --deadline +1h --market es", path);
  json_t *doc = cli_json(0, "%s", args);
  json_t *s = json_array_get(json_object_get(doc, "sessions"), 0);
  CHECK(s && json_integer_value(json_object_get(s, "items")) == 4 &&
        json_integer_value(json_object_get(s, "keyed_items")) == 4 &&
        json_integer_value(json_object_get(s, "members")) == 3 &&
        strcmp(json_string_value(json_object_get(s, "state")), "open") == 0);
  json_decref(doc);
  snprintf(args, sizeof args, "calibration create s1 --project cal --items %s", path);
  cli_expect(1, "ALREADY_EXISTS", args);

  /* Blindness: ben's next item is c1, and his view of it is the same
   * before and after ana labeled it. */
  char *before = next_reply("s1", "ben");
  doc = json_loads(before, 0, NULL);
  CHECK(doc && json_is_true(json_object_get(doc, "has_task")) &&
        strcmp(json_string_value(json_object_get(doc, "item_id")), "c1") == 0 &&
        strcmp(json_string_value(json_object_get(doc, "content")), "buy now") == 0 &&
        json_object_get(doc, "key") == NULL && json_object_size(doc) == 11);
  json_decref(doc);
  submit("s1", "ana", "c1", "ok");
  char *after = next_reply("s1", "ben");
  if (strcmp(before, after) != 0) fprintf(stderr, "FAIL: ben's view moved:\n%s\n%s\n", before, after);
  CHECK(strcmp(before, after) == 0);
  free(before);
  free(after);
  /* A submit's reply carries the submitter's own label only. */
  doc = cli_json(0, "calibration submit s1 c1 ok --as %s", "ben");
  CHECK(doc && strcmp(json_string_value(json_object_get(doc, "label")), "ok") == 0 &&
        json_integer_value(json_object_get(doc, "done")) == 1 && json_integer_value(json_object_get(doc, "total")) == 4 &&
        json_object_size(doc) == 6);
  json_decref(doc);
  /* Once per (person, item): the same label again answers as the first
   * did, another is refused. */
  submit("s1", "ben", "c1", "ok");
  cli_expect(1, "ALREADY_EXISTS", "calibration submit s1 c1 spam --as ben");
  cli_expect(1, "LABEL_NOT_IN_TAXONOMY", "calibration submit s1 c2 maybe --as ben");
  cli_expect(1, "NOT_FOUND", "calibration submit s1 c9 ok --as ben");
  /* Not a member, or no such session: the same answer. */
  cli_expect(1, "NOT_FOUND", "calibration next s1 --as dee");
  cli_expect(1, "NOT_FOUND", "calibration next nosuch --as ben");
  /* With ana's own key: she may label, not read results or name others. */
  snprintf(args, sizeof args, "--key %s calibration next s1", ana_key);
  cli_expect(0, "c2", args);
  snprintf(args, sizeof args, "--key %s calibration results s1", ana_key);
  cli_expect(1, "PERMISSION_DENIED", args);
  snprintf(args, sizeof args, "--key %s calibration trend --project cal", ana_key);
  cli_expect(1, "PERMISSION_DENIED", args);
  snprintf(args, sizeof args, "--key %s calibration next s1 --as ben", ana_key);
  cli_expect(1, "PERMISSION_DENIED", args);
  snprintf(args, sizeof args, "--key %s calibration close s1", ana_key);
  cli_expect(1, "PERMISSION_DENIED", args);
  /* Her list: her sessions, her progress, no key count, group or labels. */
  snprintf(args, sizeof args, "--key %s --format json calibration list", ana_key);
  CHECK(cluster_cli(&cluster, out, sizeof out, "%s", args) == 0);
  doc = json_loads(out, 0, NULL);
  s = json_array_get(json_object_get(doc, "sessions"), 0);
  CHECK(doc && json_array_size(json_object_get(doc, "sessions")) == 1 && s &&
        json_integer_value(json_object_get(s, "your_done")) == 1 &&
        json_integer_value(json_object_get(s, "keyed_items")) == 0 &&
        json_integer_value(json_object_get(s, "labels")) == 0 &&
        json_array_size(json_object_get(s, "markets")) == 0);
  json_decref(doc);
  snprintf(args, sizeof args, "--key %s calibration submit s1 c2 spam", ana_key);
  cli_expect(0, "labeled c2: spam (2 of 4)", args);

  /* The rest of the table. */
  submit("s1", "ana", "c3", "hate");
  submit("s1", "ana", "c4", "spam");
  submit("s1", "ben", "c2", "ok");
  submit("s1", "ben", "c3", "hate");
  submit("s1", "ben", "c4", "hate");
  submit("s1", "cy", "c1", "ok");
  submit("s1", "cy", "c2", "spam");
  submit("s1", "cy", "c3", "spam");
  cli_expect(3, "every item", "calibration next s1 --as ana");

  /* Live results for the lead, before cy is done. */
  doc = cli_json(0, "calibration results %s", "s1");
  CHECK(doc && json_is_true(json_object_get(doc, "live")) && person_is(doc, "ana", 4, 4) &&
        person_is(doc, "cy", 3, 2));
  json_decref(doc);
  submit("s1", "cy", "c4", "ok");

  /* Close: no more labels, no next. */
  cli_expect(0, "closed", "calibration close s1");
  cli_expect(0, "closed", "calibration close s1");
  cli_expect(1, "CLOSED", "calibration next s1 --as cy");
  cli_expect(1, "NOT_FOUND", "calibration submit s1 c1 ok --as dee"); /* dee: not a member */
  cli_expect(0, "labeled", "calibration submit s1 c4 ok --as cy"); /* a repeat still answers */
  cli_expect(1, "CLOSED", "calibration items add s1 /dev/null");

  /* Results against hand-computed values and common/agreement. */
  doc = cli_json(0, "calibration results %s", "s1");
  CHECK(doc && json_is_false(json_object_get(doc, "live")));
  CHECK(person_is(doc, "ana", 4, 4) && person_is(doc, "ben", 4, 2) && person_is(doc, "cy", 4, 2));
  json_t *group = json_object_get(doc, "group");
  CHECK(json_integer_value(json_object_get(group, "judged")) == 12 &&
        json_integer_value(json_object_get(group, "correct")) == 8);
  check_coefficients(doc);
  check_items(doc);
  json_decref(doc);
  cli_expect(0, "section,name,labeled", "--format csv calibration results s1");
  CHECK(strstr(out, "person,ben,4,4,2,0.5,") != NULL && strstr(out, "item,c4,3,") != NULL &&
        strstr(out, "coefficient,fleiss_kappa,") != NULL);
  cli_expect(0, "c4", "calibration results s1 --top 1");
  CHECK(strstr(out, "c1") == NULL);

  /* s2 without a key, for named people; keyed by the lead after close. */
  snprintf(path, sizeof path, "%s/s2.jsonl", cluster.dir);
  write_file(path, "{\"id\": \"k1\", \"content\": \"one\"}\n{\"id\": \"k2\", \"content\": \"two\"}\n");
  snprintf(args, sizeof args, "calibration create s2 --project cal --items %s --deadline +2h", path);
  cli_expect(0, "s2", args);
  cli_expect(1, "NOT_FOUND", "calibration next s2 --as ana");
  cli_expect(1, "UNKNOWN_LABELER", "calibration assign s2 --person zed");
  cli_expect(0, "s2", "calibration assign s2 --person ana,ben");
  submit("s2", "ana", "k1", "ok");
  submit("s2", "ana", "k2", "spam");
  submit("s2", "ben", "k1", "ok");
  submit("s2", "ben", "k2", "ok");
  doc = cli_json(0, "calibration results %s", "s2");
  CHECK(doc && person_is(doc, "ana", 0, 0) && person_is(doc, "ben", 0, 0));
  json_decref(doc);
  cli_expect(1, "close the session first", "calibration key s2 k1 ok");
  cli_expect(0, NULL, "calibration close s2");
  cli_expect(1, "NOT_FOUND", "calibration key s2 k9 ok");
  cli_expect(2, NULL, "calibration key s2 k1");
  cli_expect(0, NULL, "calibration key s2 k1 ok k2 spam");
  doc = cli_json(0, "calibration results %s", "s2");
  CHECK(doc && person_is(doc, "ana", 2, 2) && person_is(doc, "ben", 2, 1));
  json_decref(doc);

  /* s3: the deadline passes. */
  snprintf(path, sizeof path, "%s/s3.jsonl", cluster.dir);
  write_file(path, "{\"id\": \"d1\", \"content\": \"late\", \"key\": \"ok\"}\n");
  snprintf(args, sizeof args, "calibration create s3 --project cal --items %s --deadline +2s --person ben", path);
  cli_expect(0, "s3", args);
  sleep(3);
  cli_expect(1, "CLOSED", "calibration submit s3 d1 ok --as ben");
  cli_expect(1, "CLOSED", "calibration next s3 --as ben");
  cli_expect(0, "past deadline", "calibration list --project cal");

  /* Trends: ben in s1 then s2 (s3 is not closed). */
  doc = cli_json(0, "calibration trend --project cal --person %s", "ben");
  json_t *points = json_object_get(doc, "points");
  CHECK(doc && json_array_size(points) == 2 &&
        strcmp(json_string_value(json_object_get(json_array_get(points, 0), "session")), "s1") == 0 &&
        strcmp(json_string_value(json_object_get(json_array_get(points, 1), "session")), "s2") == 0 &&
        json_integer_value(json_object_get(json_array_get(points, 1), "correct")) == 1);
  json_decref(doc);
  cli_expect(0, "person,session,created_ms", "--format csv calibration trend --project cal");

  /* Durable: a SIGKILLed coordinator restarts with every session and label. */
  cluster_kill_coordinator(&cluster, SIGKILL);
  CHECK(cluster_start_coordinator(&cluster) == 0);
  doc = cli_json(0, "calibration results %s", "s1");
  CHECK(doc && person_is(doc, "ana", 4, 4) && person_is(doc, "ben", 4, 2) && person_is(doc, "cy", 4, 2));
  json_decref(doc);
  doc = cli_json(0, "calibration results %s", "s2");
  CHECK(doc && person_is(doc, "ben", 2, 1));
  json_decref(doc);

  /* Outside production: no item, label, export line, statistic or task. */
  tally_t *t = NULL;
  tally_status_t *st = NULL;
  CHECK(tally_open(&t, cluster.coordinator_endpoint, 5000) == 0 && tally_status(t, "cal", &st) == 0 && st &&
        st->total.items == 0 && st->total.labels == 0 && st->workers_failed == 0);
  tally_free(st);
  tally_close(&t);
  cli_expect(0, NULL, "export judgments --project cal");
  CHECK(out[0] == '\0');
  doc = cli_json(0, "report quality --project %s", "cal");
  CHECK(doc && json_integer_value(json_object_get(json_object_get(doc, "total"), "labels")) == 0);
  json_decref(doc);
  cli_expect(3, NULL, "lease --as ana --project cal");
  cli_expect(0, "calibration_create", "admin-log --limit 50");
  CHECK(strstr(out, "calibration_close") != NULL && strstr(out, "calibration_key") != NULL &&
        strstr(out, "buy now") == NULL); /* summaries, not items */

  cluster_stop(&cluster);
  return check_summary();
}
