/* Unit test of coordinator/calibration.c and guideline_set through
 * coordinator_handle() (no sockets; an insecure coordinator, so the caller
 * has every role and member requests name their person): a failed synced
 * write changes nothing, limits (items, record size, text), labels of
 * several people stored out of order come back sorted after a reopen,
 * results and next continue from there, and guideline versions bump
 * policy_version durably. */
#include <math.h>

#include "calibration.h"
#include "clock.h"
#include "coordinator.h"
#include "coordinator_test.h"
#include "tally_error.h"
#include "wire.h"

typedef struct {
  int calls;
  int code;
  char message[512];
  Tally__Envelope *reply;
} capture_t;

static capture_t cap;
static uint64_t next_request_id = 1;

static void capture_send(void *ctx, const Tally__Envelope *env) {
  capture_t *c = ctx;
  uint8_t *buf = NULL;
  size_t len = 0;
  c->calls++;
  if (wire_encode(env, &buf, &len) == 0) wire_decode(buf, len, &c->reply, NULL);
  free(buf);
}

static void capture_error(void *ctx, int code, const char *message) {
  capture_t *c = ctx;
  c->calls++;
  c->code = code;
  snprintf(c->message, sizeof c->message, "%s", message);
}

static int call(coordinator_t *c, Tally__Envelope *request) {
  wire_envelope_free(&cap.reply);
  memset(&cap, 0, sizeof cap);
  request->version = TALLY_PROTOCOL_VERSION;
  request->request_id = ++next_request_id;
  coordinator_replier_t replier = {capture_send, capture_error, &cap, NULL, NULL};
  coordinator_handle(c, request, "", &replier);
  CHECK_EQ(cap.calls, 1);
  if (cap.code != 0) fprintf(stderr, "  (reply %d: %s)\n", cap.code, cap.message);
  return cap.code;
}

static char *labels[] = {"spam", "ok", "hate"};
static char *markets[] = {"es", "jp"};

static void setup(coordinator_t *c) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectCreate create = TALLY__PROJECT_CREATE__INIT;
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = "p";
  project.n_labels = 3, project.labels = labels;
  project.n_markets = 2, project.markets = markets;
  create.project = &project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  env.project_create = &create;
  CHECK_EQ(call(c, &env), 0);
  const char *people[] = {"zoe", "amy", "max"};
  for (int i = 0; i < 3; i++) {
    Tally__Labeler l = TALLY__LABELER__INIT;
    Tally__LabelerAdd add = TALLY__LABELER_ADD__INIT;
    l.id = (char *)people[i];
    l.roles = TALLY__ROLE__ROLE_LABELER;
    l.n_markets = 1, l.markets = markets;
    add.labeler = &l;
    env.body_case = TALLY__ENVELOPE__BODY_LABELER_ADD;
    env.labeler_add = &add;
    CHECK_EQ(call(c, &env), 0);
  }
}

static int create(coordinator_t *c, const char *name, size_t n_items, size_t content_bytes) {
  Tally__CalibrationItem *items = calloc(n_items + 1, sizeof *items);
  Tally__CalibrationItem **ptrs = calloc(n_items + 1, sizeof *ptrs);
  char (*ids)[16] = calloc(n_items + 1, sizeof *ids);
  char *content = malloc(content_bytes + 1);
  memset(content, 'x', content_bytes);
  content[content_bytes] = '\0';
  for (size_t i = 0; i < n_items; i++) {
    tally__calibration_item__init(&items[i]);
    snprintf(ids[i], sizeof ids[i], "i%02zu", i);
    items[i].id = ids[i];
    items[i].content = content;
    items[i].key = i % 2 ? "ok" : "spam";
    ptrs[i] = &items[i];
  }
  char *group[] = {"es"};
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__CalibrationCreate body = TALLY__CALIBRATION_CREATE__INIT;
  body.name = (char *)name;
  body.project = "p";
  body.deadline_ms = clock_now_ms() + 3600000;
  body.n_items = n_items, body.items = ptrs;
  body.n_markets = 1, body.markets = group;
  env.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_CREATE;
  env.calibration_create = &body;
  int rc = call(c, &env);
  free(items), free(ptrs), free(ids), free(content);
  return rc;
}

static int submit(coordinator_t *c, const char *who, const char *item, const char *label) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__CalibrationSubmit body = TALLY__CALIBRATION_SUBMIT__INIT;
  body.session = "s", body.labeler = (char *)who, body.item_id = (char *)item, body.label = (char *)label;
  env.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT;
  env.calibration_submit = &body;
  return call(c, &env);
}

/* The item id `who` gets next ("" when none), or NULL on error. */
static const char *next_item(coordinator_t *c, const char *who) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__CalibrationNext body = TALLY__CALIBRATION_NEXT__INIT;
  body.session = "s", body.labeler = (char *)who;
  env.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_NEXT;
  env.calibration_next = &body;
  if (call(c, &env) != 0 || cap.reply == NULL) return NULL;
  return cap.reply->calibration_task->has_task ? cap.reply->calibration_task->item_id : "";
}

static const Tally__CalibrationPersonResult *person(const Tally__CalibrationResults *r, const char *id) {
  for (size_t i = 0; i < r->n_people; i++)
    if (strcmp(r->people[i]->person, id) == 0) return r->people[i];
  return NULL;
}

static void check_results(coordinator_t *c) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__CalibrationResultsRequest body = TALLY__CALIBRATION_RESULTS_REQUEST__INIT;
  body.session = "s";
  env.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS_REQUEST;
  env.calibration_results_request = &body;
  CHECK_EQ(call(c, &env), 0);
  const Tally__CalibrationResults *r = cap.reply ? cap.reply->calibration_results : NULL;
  CHECK(r != NULL && r->n_people == 3 && r->n_items == 4);
  if (r == NULL || r->n_people != 3) return;
  /* People in id order; zoe 3 of 3, amy 1 of 2, max 0 of 1. */
  CHECK(strcmp(r->people[0]->person, "amy") == 0 && strcmp(r->people[2]->person, "zoe") == 0);
  const Tally__CalibrationPersonResult *zoe = person(r, "zoe"), *amy = person(r, "amy"), *max = person(r, "max");
  CHECK(zoe && zoe->labeled == 3 && zoe->accuracy->judged == 3 && zoe->accuracy->correct == 3);
  CHECK(amy && amy->labeled == 2 && amy->accuracy->judged == 2 && amy->accuracy->correct == 1);
  CHECK(max && max->labeled == 1 && max->accuracy->correct == 0 && max->accuracy->defined);
  CHECK(r->group->judged == 6 && r->group->correct == 4);
  /* i00: spam, spam, hate -> 1 - 2/6; i01: ok, spam -> 1; i02: ok -> undefined (last). */
  CHECK(strcmp(r->items[0]->item_id, "i01") == 0 && r->items[0]->disagreement == 1.0);
  CHECK(strcmp(r->items[1]->item_id, "i00") == 0 && fabs(r->items[1]->disagreement - 2.0 / 3.0) < 1e-12);
  CHECK(!r->items[3]->disagreement_defined && r->items[3]->labels == 0);
}

int main(void) {
  test_deadline(60);
  char *dir = test_temp_dir("coordinator-calibration");
  coordinator_t *c = NULL;
  CHECK_EQ(coordinator_open(&c, dir, 3000), 0);
  setup(c);

  /* Limits. */
  CHECK_EQ(create(c, "big", CALIBRATION_ITEMS_MAX + 1, 1), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(create(c, "huge", 80, 65536), TALLY_E_TOO_LARGE);
  CHECK_EQ(create(c, "wide", 1, 65537), TALLY_E_INVALID_ARGUMENT);
  /* A failed write creates nothing; then the same request succeeds. */
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(create(c, "s", 4, 10), TALLY_E_STORAGE);
  CHECK(next_item(c, "zoe") == NULL && cap.code == TALLY_E_NOT_FOUND);
  CHECK_EQ(create(c, "s", 4, 10), 0);
  CHECK_EQ(create(c, "s", 4, 10), TALLY_E_ALREADY_EXISTS);

  /* Labels in an order unlike the store's (zoe > max > amy by id). */
  CHECK_EQ(submit(c, "zoe", "i00", "spam"), 0);
  CHECK_EQ(submit(c, "zoe", "i02", "spam"), 0);
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(submit(c, "max", "i00", "hate"), TALLY_E_STORAGE);
  CHECK(next_item(c, "max") && strcmp(cap.reply->calibration_task->item_id, "i00") == 0);
  CHECK_EQ(submit(c, "max", "i00", "hate"), 0);
  CHECK_EQ(submit(c, "amy", "i01", "spam"), 0);
  CHECK_EQ(submit(c, "zoe", "i01", "ok"), 0);
  CHECK_EQ(submit(c, "amy", "i00", "spam"), 0);
  CHECK_EQ(submit(c, "amy", "i00", "ok"), TALLY_E_ALREADY_EXISTS);
  CHECK_EQ(submit(c, "nobody", "i00", "ok"), TALLY_E_NOT_FOUND);
  check_results(c);

  /* Guideline versions. */
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__GuidelineSet g = TALLY__GUIDELINE_SET__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_GUIDELINE_SET;
  env.guideline_set = &g;
  g.project = "p", g.name = "v2";
  CHECK_EQ(call(c, &env), TALLY_E_INVALID_ARGUMENT); /* no url, no text */
  char *long_text = malloc(5000);
  memset(long_text, 'a', 4999);
  long_text[4999] = '\0';
  g.text = long_text;
  CHECK_EQ(call(c, &env), TALLY_E_INVALID_ARGUMENT);
  g.text = "\xff\xfe not UTF-8";
  CHECK_EQ(call(c, &env), TALLY_E_INVALID_ARGUMENT);
  g.text = "Hate: slurs aimed at a group.\nSpam: bulk offers.";
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(call(c, &env), TALLY_E_STORAGE);
  CHECK_EQ(call(c, &env), 0);
  CHECK(cap.reply && cap.reply->project_reply->project->policy_version == 2 &&
        cap.reply->project_reply->project->n_guidelines == 1);
  CHECK_EQ(call(c, &env), TALLY_E_ALREADY_EXISTS);
  g.name = "v3", g.text = "", g.url = "https://policy.example/v3";
  CHECK_EQ(call(c, &env), 0);
  CHECK(cap.reply && cap.reply->project_reply->project->policy_version == 3);
  free(long_text);

  /* Reopen: sessions, labels (sorted again) and versions are back. */
  coordinator_close(&c);
  CHECK_EQ(coordinator_open(&c, dir, 3000), 0);
  check_results(c);
  const char *next = next_item(c, "amy");
  CHECK(next && strcmp(next, "i02") == 0);
  next = next_item(c, "zoe");
  CHECK(next && strcmp(next, "i03") == 0);
  CHECK_EQ(submit(c, "zoe", "i00", "spam"), 0); /* a repeat answers as the first did */
  CHECK(cap.reply && strcmp(cap.reply->calibration_submit_reply->label, "spam") == 0 &&
        cap.reply->calibration_submit_reply->done == 3);
  Tally__ProjectShow show = TALLY__PROJECT_SHOW__INIT;
  show.name = "p";
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_SHOW;
  env.project_show = &show;
  CHECK_EQ(call(c, &env), 0);
  const Tally__Project *p = cap.reply ? cap.reply->project_reply->project : NULL;
  CHECK(p && p->policy_version == 3 && p->n_guidelines == 2 && strcmp(p->guidelines[0]->name, "v2") == 0 &&
        p->guidelines[0]->version == 2 && strcmp(p->guidelines[1]->url, "https://policy.example/v3") == 0);

  wire_envelope_free(&cap.reply);
  coordinator_close(&c);
  test_remove_tree(dir);
  free(dir);
  return test_report();
}
