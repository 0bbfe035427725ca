/* fuzz_coordinator_request: any envelope, decoded and served by the
 * coordinator in-process (coordinator_handle, coordinator/
 * coordinator_dispatch.c), as tests/coordinator_core_test.c drives it: no
 * sockets, replies captured.
 *
 * Covers wire_decode, the coordinator's dispatch on every body type, the
 * validation it applies before acting (coordinator/validate.c: projects,
 * labels, markets, labelers and their updates, audit policies, wellbeing
 * settings, endpoints), and what it then does: project and labeler changes
 * written to the metadata store, worker registration and heartbeats (slot
 * assignment, rebalancing, slot-move reports), drains, map and config
 * requests, report and ops-report requests turned into jobs. Every reply is
 * encoded as the daemon would send it.
 *
 * State: one coordinator on a scratch directory, prepared with project "p"
 * (labels spam, ok; markets es, jp), labelers lab1 (labeler, es), aud1
 * (auditor, es), lead1 (lead, es jp), mgr1 (manager), worker 1 UP and the
 * calibration session "cal1" of "p" (items c1 keyed spam, c2 without a key;
 * group market es; deadline a day after the start), the names the seeds in
 * tests/fuzz/corpus/ use. Inputs change that state, so
 * it is rebuilt from scratch every RESET_EVERY inputs: a finding is then
 * reproducible from the inputs run since the last reset (libFuzzer keeps
 * only the last; most findings reproduce from it alone).
 *
 * Checks coordinator.h's contract: exactly one reply per request (send,
 * send_error or a deferred report job), a reply that carries the request's
 * id and encodes, an error code from the table with a message, and never
 * NOMEM (nothing runs out of memory here).
 */
#include "clock.h"
#include "coordinator.h"
#include "fuzz_support.h"
#include "log.h"
#include "tally_error.h"
#include "wire.h"

#define RESET_EVERY 2000

static coordinator_t *coordinator;
static char *coordinator_dir;
static unsigned long inputs_since_reset;

typedef struct {
  int replies;
  uint64_t request_id;
  int code; /* of an error reply, else 0 */
} capture_t;

static void capture_send(void *ctx, const Tally__Envelope *reply) {
  capture_t *cap = ctx;
  uint8_t *buf = NULL;
  size_t len = 0;
  cap->replies++;
  fuzz_check(reply->request_id == cap->request_id);
  fuzz_check(reply->version == TALLY_PROTOCOL_VERSION);
  int rc = wire_encode(reply, &buf, &len);
  fuzz_check(rc == 0 || rc == TALLY_E_TOO_LARGE);
  free(buf);
}

static void capture_error(void *ctx, int code, const char *message) {
  capture_t *cap = ctx;
  cap->replies++;
  cap->code = code;
  /* Allocations do not fail under the fuzzer: NOMEM would be a misreport
   * (as a heartbeat holding a field 0 once was; see wire.c). */
  fuzz_check(code != TALLY_E_NOMEM);
  fuzz_check(code < 0 && strcmp(tally_error_name(code), "UNKNOWN") != 0);
  fuzz_check(message != NULL);
  Tally__Envelope reply;
  Tally__ErrorReply error;
  uint8_t *buf = NULL;
  size_t len = 0;
  wire_error_init(&reply, &error, cap->request_id, code, message);
  fuzz_check(wire_encode(&reply, &buf, &len) == 0);
  free(buf);
}

static void capture_defer(void *ctx, coordinator_report_job_t *job) {
  capture_t *cap = ctx;
  cap->replies++;
  fuzz_check(job != NULL && job->request_id == cap->request_id);
  fuzz_check((job->report != NULL) != (job->ops != NULL));
  coordinator_report_job_free(&job);
}

/* Serves `request` and checks the one reply. Returns 0 or its error code. */
static int serve(Tally__Envelope *request) {
  capture_t cap = {0, request->request_id, 0};
  coordinator_replier_t replier = {capture_send, capture_error, &cap, capture_defer, NULL};
  coordinator_handle(coordinator, request, "", &replier); /* insecure: anonymous, every role */
  fuzz_check(cap.replies == 1);
  return cap.code;
}

/* Sends a prepared request; aborts unless it is answered without error. */
static void prepare(Tally__Envelope *env) {
  env->version = TALLY_PROTOCOL_VERSION;
  env->request_id = 1;
  fuzz_check(serve(env) == 0);
}

static char *labels[] = {"spam", "ok"};
static char *markets[] = {"es", "jp"};

static void prepare_labeler(const char *id, uint32_t roles, size_t n_markets) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__LabelerAdd body = TALLY__LABELER_ADD__INIT;
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  labeler.id = (char *)id;
  labeler.roles = roles;
  labeler.n_markets = n_markets, labeler.markets = markets;
  body.labeler = &labeler;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_ADD;
  env.labeler_add = &body;
  prepare(&env);
}

static void coordinator_start(void) {
  coordinator_dir = fuzz_temp_dir("tally-fuzz-coordinator");
  if (coordinator_open(&coordinator, coordinator_dir, 86400000u) < 0) {
    fprintf(stderr, "fuzz: cannot open a coordinator in %s\n", coordinator_dir);
    abort();
  }
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectCreate create = TALLY__PROJECT_CREATE__INIT;
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = "p";
  project.n_labels = 2, project.labels = labels;
  project.n_markets = 2, project.markets = markets;
  project.audit_rate = 0.5;
  create.project = &project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  env.project_create = &create;
  prepare(&env);
  prepare_labeler("lab1", TALLY__ROLE__ROLE_LABELER, 1);
  prepare_labeler("aud1", TALLY__ROLE__ROLE_AUDITOR, 1);
  prepare_labeler("lead1", TALLY__ROLE__ROLE_LEAD, 2);
  prepare_labeler("mgr1", TALLY__ROLE__ROLE_MANAGER, 0);

  Tally__Envelope reg_env = TALLY__ENVELOPE__INIT;
  Tally__WorkerRegister reg = TALLY__WORKER_REGISTER__INIT;
  reg.endpoint = "tcp://127.0.0.1:7501";
  reg_env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER;
  reg_env.worker_register = &reg;
  prepare(&reg_env);

  Tally__Envelope cal_env = TALLY__ENVELOPE__INIT;
  Tally__CalibrationCreate cal = TALLY__CALIBRATION_CREATE__INIT;
  Tally__CalibrationItem c1 = TALLY__CALIBRATION_ITEM__INIT, c2 = TALLY__CALIBRATION_ITEM__INIT;
  Tally__CalibrationItem *items[] = {&c1, &c2};
  c1.id = "c1", c1.content = "buy now", c1.market = "es", c1.key = "spam";
  c2.id = "c2", c2.media_url = "https://media.example/2.jpg";
  cal.name = "cal1", cal.project = "p", cal.deadline_ms = clock_now_ms() + 86400000u;
  cal.n_items = 2, cal.items = items, cal.n_markets = 1, cal.markets = markets;
  cal_env.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_CREATE;
  cal_env.calibration_create = &cal;
  prepare(&cal_env);
  inputs_since_reset = 0;
}

static void coordinator_stop(void) {
  coordinator_close(&coordinator);
  fuzz_remove_tree(coordinator_dir);
  free(coordinator_dir);
  coordinator_dir = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  log_set_level(LOG_ERROR);
  coordinator_start();
  atexit(coordinator_stop);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (++inputs_since_reset > RESET_EVERY) {
    coordinator_stop();
    coordinator_start();
  }
  Tally__Envelope *request = NULL;
  if (wire_decode(data, size, &request, NULL) < 0) return 0;
  serve(request);
  wire_envelope_free(&request);
  /* Time does not pass between inputs; liveness still runs its checks. */
  if (inputs_since_reset % 64 == 0)
    fuzz_check(coordinator_check_liveness(coordinator, clock_monotonic_ms()) >= 0);
  return 0;
}
