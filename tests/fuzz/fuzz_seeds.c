/* fuzz-seeds: writes the generated seeds of the fuzz harnesses.
 *
 *   fuzz-seeds DIR     (DIR is tests/fuzz/corpus; writes DIR/<harness>/gen-*)
 *
 * Envelope seeds are real requests encoded with wire_encode, naming the
 * projects, labelers and worker the request harnesses prepare (see the
 * comments of fuzz_coordinator_request.c and fuzz_worker_request.c), so
 * that mutation starts from requests that get past validation. The text
 * seeds (ingest lines, config files) are typical and edge-case inputs.
 * Regression seeds (regress-*) are written by hand, never by this program.
 * Returns 0, or 1 when a file cannot be written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"
#include "slot.h"
#include "wire.h"

static const char *root;
static int failures;
static uint64_t next_request_id = 1;

static void write_seed(const char *harness, const char *name, const void *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, harness);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) failures++;
  snprintf(path, sizeof path, "%s/%s/gen-%s", root, harness, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "fuzz-seeds: cannot write %s\n", path);
    failures++;
  }
}

static void write_text(const char *harness, const char *name, const char *text) {
  write_seed(harness, name, text, strlen(text));
}

/* Encodes `env` as a request and writes it for `harness` and, when
 * `also_wire`, as a seed of the envelope decoder too. */
static void write_envelope(const char *harness, const char *name, Tally__Envelope *env,
                           int also_wire) {
  env->version = TALLY_PROTOCOL_VERSION;
  env->request_id = next_request_id++;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (wire_encode(env, &buf, &len) != 0) {
    fprintf(stderr, "fuzz-seeds: cannot encode %s\n", name);
    failures++;
    return;
  }
  write_seed(harness, name, buf, len);
  if (also_wire) write_seed("fuzz_wire", name, buf, len);
  free(buf);
}

#define ENVELOPE(var, field, body_enum) \
  Tally__Envelope var = TALLY__ENVELOPE__INIT; \
  var.body_case = TALLY__ENVELOPE__BODY_##body_enum; \
  var.field = &body

static char *labels[] = {"spam", "ok"};
static char *markets[] = {"es", "jp"};

/* --- coordinator ------------------------------------------------------- */

static void coordinator_seeds(void) {
  const char *h = "fuzz_coordinator_request";
  {
    Tally__Project project = TALLY__PROJECT__INIT;
    Tally__ProjectCreate body = TALLY__PROJECT_CREATE__INIT;
    project.name = "moderation";
    project.n_labels = 2, project.labels = labels;
    project.n_markets = 2, project.markets = markets;
    project.audit_rate = 0.1, project.overlap = 2, project.lease_seconds = 60;
    body.project = &project;
    ENVELOPE(env, project_create, PROJECT_CREATE);
    write_envelope(h, "project-create", &env, 1);
    char *high[] = {"spam"};
    project.name = "severity";
    project.ordinal = 1, project.n_high_severity = 1, project.high_severity = high;
    project.exposure_budget = 5, project.shift_hours = 6;
    write_envelope(h, "project-create-wellbeing", &env, 0);
    project.name = "bad name";
    write_envelope(h, "project-create-bad-name", &env, 0);
  }
  {
    Tally__ProjectList body = TALLY__PROJECT_LIST__INIT;
    ENVELOPE(env, project_list, PROJECT_LIST);
    write_envelope(h, "project-list", &env, 0);
  }
  {
    Tally__ProjectShow body = TALLY__PROJECT_SHOW__INIT;
    body.name = "p";
    ENVELOPE(env, project_show, PROJECT_SHOW);
    write_envelope(h, "project-show", &env, 0);
  }
  {
    Tally__Labeler labeler = TALLY__LABELER__INIT;
    Tally__LabelerAdd body = TALLY__LABELER_ADD__INIT;
    labeler.id = "lab9";
    labeler.roles = TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_AUDITOR;
    labeler.n_markets = 2, labeler.markets = markets;
    body.labeler = &labeler;
    ENVELOPE(env, labeler_add, LABELER_ADD);
    write_envelope(h, "labeler-add", &env, 1);
  }
  {
    Tally__LabelerList body = TALLY__LABELER_LIST__INIT;
    ENVELOPE(env, labeler_list, LABELER_LIST);
    write_envelope(h, "labeler-list", &env, 0);
  }
  {
    Tally__LabelerUpdate body = TALLY__LABELER_UPDATE__INIT;
    char *add[] = {"jp"};
    char *remove[] = {"es"};
    body.id = "lab1";
    body.set_roles = TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_LEAD;
    body.n_add_markets = 1, body.add_markets = add;
    body.n_remove_markets = 1, body.remove_markets = remove;
    ENVELOPE(env, labeler_update, LABELER_UPDATE);
    write_envelope(h, "labeler-update", &env, 1);
  }
  {
    Tally__MarketRate rate = TALLY__MARKET_RATE__INIT;
    Tally__MarketRate *rates[] = {&rate};
    Tally__AuditPolicy policy = TALLY__AUDIT_POLICY__INIT;
    Tally__AuditPolicySet body = TALLY__AUDIT_POLICY_SET__INIT;
    rate.market = "jp", rate.rate = 0.9;
    policy.rate = 0.2, policy.n_market_rates = 1, policy.market_rates = rates;
    policy.ramp_rate = 1.0, policy.ramp_audits = 20, policy.ramp_target = 0.3;
    body.project = "p", body.policy = &policy;
    ENVELOPE(env, audit_policy_set, AUDIT_POLICY_SET);
    write_envelope(h, "audit-policy-set", &env, 1);
  }
  {
    char *high[] = {"spam"};
    Tally__WellbeingSet body = TALLY__WELLBEING_SET__INIT;
    body.project = "p", body.n_high_severity = 1, body.high_severity = high;
    body.exposure_budget = 10, body.shift_hours = 8;
    ENVELOPE(env, wellbeing_set, WELLBEING_SET);
    write_envelope(h, "wellbeing-set", &env, 0);
  }
  {
    Tally__WorkerRegister body = TALLY__WORKER_REGISTER__INIT;
    body.endpoint = "tcp://127.0.0.1:7502";
    ENVELOPE(env, worker_register, WORKER_REGISTER);
    write_envelope(h, "worker-register-new", &env, 1);
    body.worker_id = 1, body.endpoint = "tcp://127.0.0.1:7501";
    write_envelope(h, "worker-register-again", &env, 0);
  }
  {
    Tally__BacklogHint hint = TALLY__BACKLOG_HINT__INIT;
    Tally__BacklogHint *hints[] = {&hint};
    Tally__SlotMove move = TALLY__SLOT_MOVE__INIT;
    Tally__SlotMove *moving[] = {&move};
    Tally__Heartbeat body = TALLY__HEARTBEAT__INIT;
    hint.project_id = 1, hint.market = "es", hint.depth = 7, hint.top_priority = 2;
    body.worker_id = 1, body.queued = 7, body.live_leases = 1, body.items = 9;
    body.config_version = 6, body.epoch = 1;
    body.n_backlog = 1, body.backlog = hints;
    ENVELOPE(env, heartbeat, HEARTBEAT);
    write_envelope(h, "heartbeat", &env, 1);
    move.move_id = 1, move.slot = 3, move.source_id = 1, move.target_id = 2;
    move.target_endpoint = "tcp://127.0.0.1:7502";
    body.n_moving = 1, body.moving = moving, body.has_aggregates = 1;
    write_envelope(h, "heartbeat-moving", &env, 0);
  }
  {
    Tally__ConfigRequest body = TALLY__CONFIG_REQUEST__INIT;
    ENVELOPE(env, config_request, CONFIG_REQUEST);
    write_envelope(h, "config-request", &env, 0);
  }
  {
    Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
    ENVELOPE(env, map_request, MAP_REQUEST);
    write_envelope(h, "map-request", &env, 1);
  }
  {
    Tally__ReportRequest body = TALLY__REPORT_REQUEST__INIT;
    body.project = "p", body.by = "labeler", body.from_day = 19000, body.to_day = 30000;
    ENVELOPE(env, report_request, REPORT_REQUEST);
    write_envelope(h, "report-by-labeler", &env, 1);
    body.by = "category", body.market = "es";
    write_envelope(h, "report-by-category", &env, 0);
  }
  {
    Tally__OpsReportRequest body = TALLY__OPS_REPORT_REQUEST__INIT;
    body.project = "p", body.kind = "throughput", body.by = "market";
    ENVELOPE(env, ops_report_request, OPS_REPORT_REQUEST);
    write_envelope(h, "ops-report-throughput", &env, 0);
    body.kind = "capacity", body.by = "", body.shift_hours = 6;
    write_envelope(h, "ops-report-capacity", &env, 0);
  }
  {
    Tally__WorkerDrain body = TALLY__WORKER_DRAIN__INIT;
    body.worker_id = 1;
    ENVELOPE(env, worker_drain, WORKER_DRAIN);
    write_envelope(h, "worker-drain", &env, 0);
    body.undrain = 1;
    write_envelope(h, "worker-undrain", &env, 0);
  }
  {
    Tally__SlotMove move = TALLY__SLOT_MOVE__INIT;
    Tally__SlotMoveDone body = TALLY__SLOT_MOVE_DONE__INIT;
    move.move_id = 1, move.slot = 3, move.source_id = 1, move.target_id = 2;
    move.target_endpoint = "tcp://127.0.0.1:7502";
    body.move = &move, body.entries = 10, body.bytes = 1000;
    ENVELOPE(env, slot_move_done, SLOT_MOVE_DONE);
    write_envelope(h, "slot-move-done", &env, 0);
  }
  {
    Tally__GuidelineSet body = TALLY__GUIDELINE_SET__INIT;
    body.project = "p", body.name = "v2 Nov", body.url = "https://policy.example/v2";
    ENVELOPE(env, guideline_set, GUIDELINE_SET);
    write_envelope(h, "guideline-set", &env, 0);
  }
  {
    Tally__CalibrationItem a = TALLY__CALIBRATION_ITEM__INIT, b = TALLY__CALIBRATION_ITEM__INIT;
    Tally__CalibrationItem *items[] = {&a, &b};
    char *group[] = {"es"};
    Tally__CalibrationCreate body = TALLY__CALIBRATION_CREATE__INIT;
    a.id = "c1", a.content = "buy now", a.market = "es", a.key = "spam";
    b.id = "c2", b.media_url = "https://media.example/2.jpg";
    /* "cal1" exists already (the harness makes it); "cal2" is refused
     * for its deadline (more than a year ahead) unless mutated. */
    body.name = "cal2", body.project = "p", body.deadline_ms = 4102444800000ull; /* 2100 */
    body.n_items = 2, body.items = items, body.n_markets = 1, body.markets = group;
    ENVELOPE(env, calibration_create, CALIBRATION_CREATE);
    write_envelope(h, "calibration-create", &env, 0);
  }
  {
    Tally__CalibrationNext body = TALLY__CALIBRATION_NEXT__INIT;
    body.session = "cal1", body.labeler = "lab1";
    ENVELOPE(env, calibration_next, CALIBRATION_NEXT);
    write_envelope(h, "calibration-next", &env, 0);
  }
  {
    Tally__CalibrationSubmit body = TALLY__CALIBRATION_SUBMIT__INIT;
    body.session = "cal1", body.labeler = "lab1", body.item_id = "c1", body.label = "spam";
    ENVELOPE(env, calibration_submit, CALIBRATION_SUBMIT);
    write_envelope(h, "calibration-submit", &env, 0);
  }
  {
    Tally__CalibrationKeyEntry key = TALLY__CALIBRATION_KEY_ENTRY__INIT;
    Tally__CalibrationKeyEntry *keys[] = {&key};
    Tally__CalibrationKey body = TALLY__CALIBRATION_KEY__INIT;
    key.item_id = "c2", key.label = "ok";
    body.session = "cal1", body.n_keys = 1, body.keys = keys;
    ENVELOPE(env, calibration_key, CALIBRATION_KEY);
    write_envelope(h, "calibration-key", &env, 0);
  }
  {
    Tally__CalibrationResultsRequest body = TALLY__CALIBRATION_RESULTS_REQUEST__INIT;
    body.session = "cal1";
    ENVELOPE(env, calibration_results_request, CALIBRATION_RESULTS_REQUEST);
    write_envelope(h, "calibration-results", &env, 0);
  }
}

/* --- worker ------------------------------------------------------------ */

static void worker_seeds(void) {
  const char *h = "fuzz_worker_request";
  {
    Tally__Item items[3];
    Tally__Item *ptrs[3];
    static const char *ids[] = {"item-1", "item-2", "item-3"};
    for (int i = 0; i < 3; i++) {
      tally__item__init(&items[i]);
      items[i].id = (char *)ids[i];
      items[i].market = i == 2 ? "jp" : "es";
      items[i].priority = (uint32_t)i + 1;
      items[i].content = "{\"text\":\"buy now\"}";
      ptrs[i] = &items[i];
    }
    items[0].gold_label = "spam";
    items[1].category_hint = "spam";
    Tally__IngestBatch body = TALLY__INGEST_BATCH__INIT;
    body.project = "p", body.n_items = 3, body.items = ptrs;
    ENVELOPE(env, ingest, INGEST);
    write_envelope(h, "ingest-p", &env, 1);
    body.project = "q";
    write_envelope(h, "ingest-q", &env, 0);
    items[0].market = "xx", items[1].id = "", items[2].priority = 9;
    body.project = "p";
    write_envelope(h, "ingest-rejects", &env, 0);
  }
  {
    Tally__LeaseRequest body = TALLY__LEASE_REQUEST__INIT;
    body.labeler = "lab1", body.project = "p";
    ENVELOPE(env, lease, LEASE);
    write_envelope(h, "lease-label", &env, 1);
    body.labeler = "lab2", body.project = "q";
    write_envelope(h, "lease-label-q", &env, 0);
    body.labeler = "aud1", body.project = "p", body.stage = TALLY__STAGE__STAGE_AUDIT;
    write_envelope(h, "lease-audit", &env, 0);
    body.labeler = "lead1", body.stage = TALLY__STAGE__STAGE_ADJUDICATE;
    write_envelope(h, "lease-adjudicate", &env, 0);
    body.labeler = "lab1", body.stage = TALLY__STAGE__STAGE_LABEL, body.wait_ms = 20;
    write_envelope(h, "lease-wait", &env, 0);
  }
  {
    Tally__SubmitRequest body = TALLY__SUBMIT_REQUEST__INIT;
    body.labeler = "lab1", body.slot = slot_of_item("p", "item-1", 6);
    body.lease_id = 1, body.label = "spam", body.handling_ms = 4200;
    ENVELOPE(env, submit, SUBMIT);
    write_envelope(h, "submit-label", &env, 1);
    body.labeler = "aud1", body.lease_id = 2, body.label = "ok";
    write_envelope(h, "submit-audit", &env, 0);
    body.labeler = "lead1", body.lease_id = 3, body.label = "spam";
    body.attribution = TALLY__ATTRIBUTION__ATTRIBUTION_LABELER, body.note = "clear spam";
    write_envelope(h, "submit-adjudicate", &env, 0);
  }
  {
    Tally__SkipRequest body = TALLY__SKIP_REQUEST__INIT;
    body.labeler = "lab1", body.slot = slot_of_item("p", "item-2", 6), body.lease_id = 1;
    ENVELOPE(env, skip, SKIP);
    write_envelope(h, "skip", &env, 0);
  }
  {
    Tally__ReleaseRequest body = TALLY__RELEASE_REQUEST__INIT;
    body.labeler = "lab1", body.slot = slot_of_item("p", "item-1", 6), body.lease_id = 1;
    ENVELOPE(env, release, RELEASE);
    write_envelope(h, "release", &env, 0);
  }
  {
    Tally__StatusRequest body = TALLY__STATUS_REQUEST__INIT;
    body.project = "p";
    ENVELOPE(env, status, STATUS);
    write_envelope(h, "status", &env, 1);
  }
  {
    Tally__ItemGet body = TALLY__ITEM_GET__INIT;
    body.project = "p", body.item_id = "item-1";
    ENVELOPE(env, item_get, ITEM_GET);
    write_envelope(h, "item-get", &env, 0);
  }
  {
    Tally__StatsRequest body = TALLY__STATS_REQUEST__INIT;
    body.project = "p", body.market = "es";
    ENVELOPE(env, stats_request, STATS_REQUEST);
    write_envelope(h, "stats", &env, 0);
  }
  {
    Tally__FeedbackRequest body = TALLY__FEEDBACK_REQUEST__INIT;
    body.labeler = "lab1", body.project = "p", body.limit = 10;
    ENVELOPE(env, feedback_request, FEEDBACK_REQUEST);
    write_envelope(h, "feedback", &env, 0);
  }
  {
    Tally__ExportRequest body = TALLY__EXPORT_REQUEST__INIT;
    body.project = "p", body.limit = 5;
    ENVELOPE(env, export_request, EXPORT_REQUEST);
    write_envelope(h, "export", &env, 1);
  }
  {
    Tally__OpsRequest body = TALLY__OPS_REQUEST__INIT;
    body.project = "p", body.from_day = 1;
    ENVELOPE(env, ops_request, OPS_REQUEST);
    write_envelope(h, "ops", &env, 0);
  }
  {
    Tally__CasesRequest body = TALLY__CASES_REQUEST__INIT;
    body.project = "p", body.category = "spam", body.limit = 3;
    ENVELOPE(env, cases_request, CASES_REQUEST);
    write_envelope(h, "cases", &env, 0);
  }
  {
    Tally__CasesRequest body = TALLY__CASES_REQUEST__INIT;
    body.project = "p", body.text = "Red flag", body.attribution = TALLY__ATTRIBUTION__ATTRIBUTION_BOTH;
    body.labeler = "lab1", body.labeler_label = "spam", body.auditor_label = "ok";
    ENVELOPE(env, cases_request, CASES_REQUEST);
    write_envelope(h, "cases-search", &env, 0);
  }
  {
    Tally__CaseGet body = TALLY__CASE_GET__INIT;
    body.project = "p", body.item_id = "item-1";
    ENVELOPE(env, case_get, CASE_GET);
    write_envelope(h, "case-get", &env, 0);
  }
  {
    Tally__ExposureRequest body = TALLY__EXPOSURE_REQUEST__INIT;
    body.project = "q", body.from_shift = 0, body.to_shift = UINT64_MAX;
    ENVELOPE(env, exposure_request, EXPOSURE_REQUEST);
    write_envelope(h, "exposure", &env, 0);
  }
  {
    uint8_t key[KEYS_MAX];
    uint32_t slot = slot_of_item("p", "item-9", 6);
    size_t key_len = keys_item(key, slot, 1, "item-9", 6);
    static const uint8_t value[] = {0x0a, 0x06, 'i', 't', 'e', 'm', '-', '9'};
    Tally__SlotEntry entry = TALLY__SLOT_ENTRY__INIT;
    Tally__SlotEntry *entries[] = {&entry};
    entry.family = 1; /* STORE_CF_ITEMS */
    entry.key.data = key, entry.key.len = key_len;
    entry.value.data = (uint8_t *)value, entry.value.len = sizeof value;
    Tally__SlotChunk body = TALLY__SLOT_CHUNK__INIT;
    body.move_id = 7, body.slot = slot, body.seq = 0, body.source_id = 2, body.generation = 1;
    body.n_entries = 1, body.entries = entries, body.last = 1;
    ENVELOPE(env, slot_chunk, SLOT_CHUNK);
    write_envelope(h, "slot-chunk", &env, 0);
  }
}

/* --- envelope decoder: what is not a valid request --------------------- */

static void wire_seeds(void) {
  Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
  ENVELOPE(env, map_request, MAP_REQUEST);
  env.version = 2;
  env.request_id = 9;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (wire_encode(&env, &buf, &len) == 0) write_seed("fuzz_wire", "version-2", buf, len);
  free(buf);
  Tally__Envelope empty = TALLY__ENVELOPE__INIT;
  empty.version = TALLY_PROTOCOL_VERSION, empty.request_id = 10;
  if (wire_encode(&empty, &buf, &len) == 0) write_seed("fuzz_wire", "no-body", buf, len);
  free(buf);
  static const uint8_t truncated[] = {0x08, 0x01, 0x10, 0x05, 0xa2, 0x01, 0x05, 0x0a};
  write_seed("fuzz_wire", "truncated", truncated, sizeof truncated);
}

/* --- text inputs ------------------------------------------------------- */

static void text_seeds(void) {
  const char *h = "fuzz_jsonl";
  write_text(h, "minimal", "{\"id\": \"a1\", \"market\": \"es\"}\n");
  write_text(h, "full",
             "{\"id\": \"a2\", \"market\": \"jp\", \"priority\": \"emergency\", \"content\": "
             "\"text\", \"gold_label\": \"spam\", \"category_hint\": \"ok\"}\r\n");
  write_text(h, "content-object",
             "{\"id\": \"a3\", \"market\": \"es\", \"priority\": 2, \"content\": {\"url\": "
             "\"http://x\", \"n\": [1, 2.5, null, true]}}");
  write_text(h, "missing-market", "{\"id\": \"a4\"}");
  write_text(h, "bad-priority", "{\"id\": \"a5\", \"market\": \"es\", \"priority\": 7}");
  write_text(h, "duplicate-key", "{\"id\": \"a6\", \"id\": \"a7\", \"market\": \"es\"}");
  write_text(h, "unicode", "{\"id\": \"\\u00e9t\\u00e9\", \"market\": \"es\", \"content\": \"\\ud83d\\ude00\"}");
  write_text(h, "not-object", "[1, 2, 3]");
  write_text(h, "blank", " \t \r\n");

  h = "fuzz_coordinator_options";
  write_text(h, "full",
             "{\"dir\": \"data\", \"bind\": \"tcp://127.0.0.1:0\", \"endpoint-file\": \"ep\", "
             "\"heartbeat-timeout-ms\": 3000, \"expect_workers\": \"3\", \"log-level\": \"debug\"}");
  write_text(h, "unknown-key", "{\"dir\": \"d\", \"color\": \"blue\"}");
  write_text(h, "bad-type", "{\"dir\": 7}");
  write_text(h, "not-object", "[\"dir\"]");
  write_text(h, "duplicate", "{\"dir\": \"a\", \"dir\": \"b\"}");
  static const char with_args[] = "{\"bind\": \"tcp://127.0.0.1:0\"}\0--dir\0d\0--heartbeat-timeout-ms\0"
                                  "50\0--log-level\0warn";
  write_seed(h, "with-args", with_args, sizeof with_args - 1);
  static const char bad_args[] = "{}\0--dir\0--expect-workers\0" "0\0extra";
  write_seed(h, "bad-args", bad_args, sizeof bad_args - 1);
  static const char help[] = "{}\0-h";
  write_seed(h, "help", help, sizeof help - 1);

  h = "fuzz_worker_options";
  write_text(h, "full",
             "{\"dir\": \"data\", \"coordinator\": \"tcp://127.0.0.1:7400\", \"bind\": "
             "\"tcp://127.0.0.1:0\", \"advertise\": \"tcp://10.0.0.1:7401\", \"endpoint-file\": "
             "\"ep\", \"heartbeat-ms\": 500, \"log-level\": \"info\"}");
  write_text(h, "heartbeat-string", "{\"heartbeat-ms\": \"250\"}");
  write_text(h, "heartbeat-out-of-range", "{\"heartbeat-ms\": 5}");
  write_text(h, "unknown-key", "{\"colour\": \"red\"}");
  write_text(h, "bad-type", "{\"dir\": [1]}");
  write_text(h, "not-object", "\"dir\"");
  write_text(h, "malformed", "{\"dir\": ");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz-seeds DIR   (DIR: tests/fuzz/corpus)\n");
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0755) != 0 && errno != EEXIST) {
    perror(root);
    return 1;
  }
  coordinator_seeds();
  worker_seeds();
  wire_seeds();
  text_seeds();
  return failures ? 1 : 0;
}
