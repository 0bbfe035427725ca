/* fuzz_worker_request: any envelope, decoded and served by a worker
 * in-process: the request path of worker/worker.c without its sockets'
 * traffic. The worker is a real one (worker_new on a scratch directory,
 * RocksDB and all; its ROUTER and coordinator DEALER use inproc endpoints
 * that nobody talks to); each input is decoded with wire_decode, handed to
 * dispatch_request() as the router would hand it, and the group is finished
 * with worker_run_group() (expiry, parked leases, the synced commit, the
 * replies).
 *
 * Covers every request a worker serves and the checks it makes before
 * acting: ingest, lease (fast path and merge, long-poll parking), submit for
 * each stage, skip, release, status, item get, stats, feedback, export, ops,
 * cases, case get, exposure, and a slot move's incoming chunks; plus what
 * they write (items, queues, leases, statistics, operations and exposure
 * rows, cases) and read back through the open batch. Every few hundred
 * inputs every live lease is expired, so expiry and re-offer run too.
 *
 * State: the worker is worker 1, owns all 1024 slots, and knows project "p"
 * (labels spam, ok; markets es, jp; overlap 1, audit rate 0.5) and "q"
 * (overlap 2, ordinal, spam high-severity with an exposure budget of 3) and
 * the labelers lab1, lab2 (labelers, es), aud1 (auditor, es), lead1 (lead,
 * es jp) and mgr1 (manager): the names the seeds use. It is rebuilt from
 * scratch every RESET_EVERY inputs (see fuzz_coordinator_request.c for what
 * that means for reproducing a finding).
 *
 * Checks: every request gets exactly one reply, or none while its lease
 * request is parked; each reply decodes and carries the request's id.
 */
#include <uv.h>

#include "clock.h"
#include "dispatch.h"
#include "fuzz_support.h"
#include "log.h"
#include "tally_error.h"
#include "wire.h"
#include "worker_internal.h"

#define RESET_EVERY 2000
#define EXPIRE_EVERY 256
#define WORKER_ID 1u

static uv_loop_t loop;
static worker_t *worker;
static char *worker_dir;
static unsigned long inputs_since_reset;

static char *labels[] = {"spam", "ok"};
static char *markets[] = {"es", "jp"};
static char *high_severity[] = {"spam"};

static void labeler_init(Tally__Labeler *l, const char *id, uint32_t roles, size_t n_markets) {
  tally__labeler__init(l);
  l->id = (char *)id;
  l->roles = roles;
  l->n_markets = n_markets, l->markets = markets;
}

/* Gives the worker the configuration and map a coordinator would send. */
static void worker_prepare(worker_t *w) {
  Tally__Project p = TALLY__PROJECT__INIT, q = TALLY__PROJECT__INIT;
  Tally__AuditPolicy p_audit = TALLY__AUDIT_POLICY__INIT, q_audit = TALLY__AUDIT_POLICY__INIT;
  Tally__MarketRate jp_rate = TALLY__MARKET_RATE__INIT;
  Tally__MarketRate *q_rates[] = {&jp_rate};
  p.id = 1, p.name = "p";
  p.n_labels = 2, p.labels = labels;
  p.n_markets = 2, p.markets = markets;
  p.lease_seconds = 300, p.audit_rate = 0.5, p.overlap = 1, p.sla_seconds = 86400;
  p.created_ms = 1, p.policy_version = 1, p.shift_hours = 8;
  p_audit.rate = 0.5;
  p.audit = &p_audit;
  q = p;
  q.id = 2, q.name = "q", q.overlap = 2, q.ordinal = 1;
  q.n_high_severity = 1, q.high_severity = high_severity, q.exposure_budget = 3;
  q_audit.rate = 0.2, q_audit.ramp_rate = 1.0, q_audit.ramp_audits = 2, q_audit.ramp_target = 0.1;
  jp_rate.market = "jp", jp_rate.rate = 1.0;
  q_audit.n_market_rates = 1, q_audit.market_rates = q_rates;
  q.audit = &q_audit;
  Tally__Project *projects[] = {&p, &q};

  Tally__Labeler lab1, lab2, aud1, lead1, mgr1;
  labeler_init(&lab1, "lab1", TALLY__ROLE__ROLE_LABELER, 1);
  labeler_init(&lab2, "lab2", TALLY__ROLE__ROLE_LABELER, 1);
  labeler_init(&aud1, "aud1", TALLY__ROLE__ROLE_AUDITOR, 1);
  labeler_init(&lead1, "lead1", TALLY__ROLE__ROLE_LEAD, 2);
  labeler_init(&mgr1, "mgr1", TALLY__ROLE__ROLE_MANAGER, 0);
  Tally__Labeler *labelers[] = {&lab1, &lab2, &aud1, &lead1, &mgr1};

  Tally__ClusterConfig config = TALLY__CLUSTER_CONFIG__INIT;
  config.version = 1;
  config.n_projects = 2, config.projects = projects;
  config.n_labelers = 5, config.labelers = labelers;
  fuzz_check(config_cache_copy(w->config, &config) == 0);

  static uint32_t owners[TALLY_SLOT_COUNT];
  for (size_t s = 0; s < TALLY_SLOT_COUNT; s++) owners[s] = WORKER_ID;
  Tally__WorkerInfo self = TALLY__WORKER_INFO__INIT;
  Tally__WorkerInfo *workers[] = {&self};
  self.id = WORKER_ID, self.endpoint = "inproc://tally-fuzz-worker";
  self.state = TALLY__WORKER_STATE__WORKER_UP, self.slots_owned = TALLY_SLOT_COUNT;
  Tally__ClusterMap map = TALLY__CLUSTER_MAP__INIT;
  map.epoch = 1, map.slot_count = TALLY_SLOT_COUNT, map.config_version = 1;
  map.n_workers = 1, map.workers = workers;
  map.n_slot_owner = TALLY_SLOT_COUNT, map.slot_owner = owners;
  w->counters.worker_id = WORKER_ID;
  coordinator_link_apply_map(w, &map);
  worker_commit_now(w);
  for (size_t s = 0; s < TALLY_SLOT_COUNT; s++) fuzz_check(w->owned[s]);
}

static void worker_start(void) {
  worker_dir = fuzz_temp_dir("tally-fuzz-worker");
  /* Insecure: every request is served as the anonymous caller with every
   * role, so the fuzzer reaches every handler (access.c has its own tests). */
  worker_options_t options = {.dir = worker_dir,
                              .coordinator = "inproc://tally-fuzz-no-coordinator",
                              .bind = "inproc://tally-fuzz-worker",
                              .heartbeat_ms = 1000,
                              .insecure = 1};
  if (worker_new(&worker, &loop, &options) < 0) {
    fprintf(stderr, "fuzz: cannot start a worker in %s\n", worker_dir);
    abort();
  }
  worker_prepare(worker);
  inputs_since_reset = 0;
}

static void worker_end(void) {
  worker_stop(worker);
  uv_run(&loop, UV_RUN_NOWAIT); /* close callbacks */
  worker_destroy(&worker);
  fuzz_remove_tree(worker_dir);
  free(worker_dir);
  worker_dir = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  log_set_level(LOG_ERROR);
  if (uv_loop_init(&loop) != 0) abort();
  worker_start();
  atexit(worker_end);
  return 0;
}

/* Checks the replies the request queued: one, for `request_id`. */
static void check_replies(const worker_t *w, size_t before, uint64_t request_id) {
  for (size_t i = before; i < reply_queue_group_count(w->replies); i++) {
    Tally__Envelope *reply = NULL;
    size_t len = 0;
    const uint8_t *buf = reply_queue_group_reply(w->replies, i, &len);
    fuzz_check(buf != NULL && wire_decode(buf, len, &reply, NULL) == 0);
    fuzz_check(reply->request_id == request_id);
    wire_envelope_free(&reply);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (++inputs_since_reset > RESET_EVERY) {
    worker_end();
    worker_start();
  }
  router_request_t req;
  memset(&req, 0, sizeof req);
  if (wire_decode(data, size, &req.env, NULL) < 0) return 0;
  static const char peer[] = "fuzz-client";
  memcpy(req.peer, peer, sizeof peer - 1);
  req.peer_len = sizeof peer - 1;
  req.received_ms = clock_monotonic_ms();

  size_t replies = reply_queue_group_count(worker->replies), waiters = worker->n_waiters;
  dispatch_request(worker, &req);
  int parked = req.env->body_case == TALLY__ENVELOPE__BODY_LEASE &&
               worker->n_waiters == waiters + 1 &&
               reply_queue_group_count(worker->replies) == replies;
  fuzz_check(parked || reply_queue_group_count(worker->replies) == replies + 1);
  check_replies(worker, replies, req.env->request_id);
  router_request_clear(&req);

  if (inputs_since_reset % EXPIRE_EVERY == 0)
    labeling_expire_leases(worker, clock_now_ms() + 7u * 86400u * 1000u);
  worker_run_group(worker);
  return 0;
}
