/* Unit test of coordinator/coordinator without sockets: requests go straight
 * to coordinator_handle() and replies are captured. Covers validation
 * errors, durability (injected storage failures change nothing), worker
 * registration and liveness, a reopen from the same directory, audit
 * policies (defaults, validation, replacement, persistence), the
 * validation and hand-over of report requests, and cluster status (the
 * map and the replication lags of the workers' last heartbeats). */
#include <math.h>

#include "clock.h"
#include "coordinator.h"
#include "coordinator_test.h"
#include "tally_error.h"
#include "wire.h"

#define TIMEOUT_MS 500

typedef struct {
  int calls;
  int code; /* 0 or the error code */
  char message[512];
  Tally__Envelope *reply; /* owned copy of a successful reply */
  uint64_t request_id;
  coordinator_report_job_t *job; /* a deferred report request (owned) */
} capture_t;

static void capture_send(void *ctx, const Tally__Envelope *env) {
  capture_t *cap = ctx;
  uint8_t *buf = NULL;
  size_t len = 0;
  cap->calls++;
  cap->request_id = env->request_id;
  if (wire_encode(env, &buf, &len) == 0) wire_decode(buf, len, &cap->reply, NULL);
  free(buf);
}

static void capture_error(void *ctx, int code, const char *message) {
  capture_t *cap = ctx;
  cap->calls++;
  cap->code = code;
  snprintf(cap->message, sizeof cap->message, "%s", message);
}

static void capture_defer(void *ctx, coordinator_report_job_t *job) {
  capture_t *cap = ctx;
  cap->calls++;
  cap->job = job;
  cap->request_id = job->request_id;
}

static capture_t cap;
static uint64_t next_request_id = 100;
static int defer_reports; /* give the replier a defer_report hook */

/* Sends `request` to the coordinator; returns the reply code (0 or error). */
static int call(coordinator_t *c, Tally__Envelope *request) {
  wire_envelope_free(&cap.reply);
  coordinator_report_job_free(&cap.job);
  memset(&cap, 0, sizeof cap);
  request->version = TALLY_PROTOCOL_VERSION;
  request->request_id = ++next_request_id;
  coordinator_replier_t replier = {capture_send, capture_error, &cap,
                                   defer_reports ? capture_defer : NULL, NULL};
  coordinator_handle(c, request, "", &replier);
  CHECK_EQ(cap.calls, 1);
  if (cap.code == 0) CHECK((cap.reply != NULL || cap.job != NULL) && cap.request_id == request->request_id);
  return cap.code;
}

static char *default_labels[] = {"spam", "ok"};
static char *default_markets[] = {"es", "jp"};

static int create_project(coordinator_t *c, const char *name) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectCreate body = TALLY__PROJECT_CREATE__INIT;
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = (char *)name;
  project.n_labels = 2, project.labels = default_labels;
  project.n_markets = 2, project.markets = default_markets;
  body.project = &project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  env.project_create = &body;
  return call(c, &env);
}

static int add_labeler(coordinator_t *c, const char *id, uint32_t roles) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__LabelerAdd body = TALLY__LABELER_ADD__INIT;
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  labeler.id = (char *)id;
  labeler.roles = roles;
  labeler.n_markets = 1, labeler.markets = default_markets;
  body.labeler = &labeler;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_ADD;
  env.labeler_add = &body;
  return call(c, &env);
}

static int register_worker(coordinator_t *c, uint32_t id, const char *endpoint) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__WorkerRegister body = TALLY__WORKER_REGISTER__INIT;
  body.worker_id = id;
  body.endpoint = (char *)endpoint;
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER;
  env.worker_register = &body;
  return call(c, &env);
}

static int heartbeat(coordinator_t *c, uint32_t id, uint64_t epoch, uint64_t config_version) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__Heartbeat body = TALLY__HEARTBEAT__INIT;
  body.worker_id = id, body.epoch = epoch, body.config_version = config_version;
  body.queued = 5, body.live_leases = 2, body.items = 40;
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &body;
  return call(c, &env);
}

/* Sends a request whose body is an empty message of case `body_case`. */
static int simple_request(coordinator_t *c, Tally__Envelope__BodyCase body_case) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectList list = TALLY__PROJECT_LIST__INIT;
  Tally__LabelerList labelers = TALLY__LABELER_LIST__INIT;
  Tally__ConfigRequest config = TALLY__CONFIG_REQUEST__INIT;
  Tally__MapRequest map = TALLY__MAP_REQUEST__INIT;
  Tally__LeaseRequest lease = TALLY__LEASE_REQUEST__INIT;
  Tally__Ack ack = TALLY__ACK__INIT;
  env.body_case = body_case;
  switch (body_case) {
    case TALLY__ENVELOPE__BODY_PROJECT_LIST: env.project_list = &list; break;
    case TALLY__ENVELOPE__BODY_LABELER_LIST: env.labeler_list = &labelers; break;
    case TALLY__ENVELOPE__BODY_CONFIG_REQUEST: env.config_request = &config; break;
    case TALLY__ENVELOPE__BODY_MAP_REQUEST: env.map_request = &map; break;
    case TALLY__ENVELOPE__BODY_LEASE: env.lease = &lease; break;
    default: env.body_case = TALLY__ENVELOPE__BODY_ACK, env.ack = &ack; break;
  }
  return call(c, &env);
}

static const Tally__WorkerInfo *map_worker(const Tally__ClusterMap *map, uint32_t id) {
  for (size_t i = 0; map && i < map->n_workers; i++)
    if (map->workers[i]->id == id) return map->workers[i];
  return NULL;
}

static void test_projects(coordinator_t *c) {
  CHECK_EQ(create_project(c, "moderation"), 0);
  const Tally__Project *p = cap.reply ? cap.reply->project_reply->project : NULL;
  CHECK(p != NULL && p->id == 1 && p->lease_seconds == 300 && p->overlap == 1 &&
        p->sla_seconds == 86400 && p->created_ms > 0);
  CHECK_EQ(coordinator_config_version(c), 1);

  CHECK_EQ(create_project(c, "moderation"), TALLY_E_ALREADY_EXISTS);
  CHECK(strcmp(cap.message, "project 'moderation' already exists") == 0);
  CHECK_EQ(create_project(c, "bad name"), TALLY_E_INVALID_ARGUMENT);

  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectCreate body = TALLY__PROJECT_CREATE__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  env.project_create = &body;
  CHECK_EQ(call(c, &env), TALLY_E_BAD_REQUEST); /* no project at all */
  Tally__Project empty = TALLY__PROJECT__INIT;
  empty.name = "empty";
  empty.n_markets = 1, empty.markets = default_markets;
  body.project = &empty;
  CHECK_EQ(call(c, &env), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(cap.message, "label list is empty") == 0);

  /* A failed durable write acknowledges nothing and changes nothing. */
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(create_project(c, "beta"), TALLY_E_STORAGE);
  CHECK_EQ(coordinator_config_version(c), 1);
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_PROJECT_LIST), 0);
  CHECK(cap.reply && cap.reply->project_list_reply->n_projects == 1);
  CHECK_EQ(create_project(c, "beta"), 0);
  CHECK(cap.reply && cap.reply->project_reply->project->id == 2);
  CHECK_EQ(create_project(c, "Zed"), 0);
  CHECK_EQ(create_project(c, "alpha"), 0);
  CHECK_EQ(coordinator_config_version(c), 4);

  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_PROJECT_LIST), 0);
  const Tally__ProjectListReply *list = cap.reply ? cap.reply->project_list_reply : NULL;
  CHECK(list && list->n_projects == 4);
  for (size_t i = 1; list && i < list->n_projects; i++)
    CHECK(strcmp(list->projects[i - 1]->name, list->projects[i]->name) < 0);

  Tally__ProjectShow show = TALLY__PROJECT_SHOW__INIT;
  Tally__Envelope show_env = TALLY__ENVELOPE__INIT;
  show_env.body_case = TALLY__ENVELOPE__BODY_PROJECT_SHOW;
  show_env.project_show = &show;
  show.name = "beta";
  CHECK_EQ(call(c, &show_env), 0);
  CHECK(cap.reply && strcmp(cap.reply->project_reply->project->name, "beta") == 0);
  show.name = "nope";
  CHECK_EQ(call(c, &show_env), TALLY_E_UNKNOWN_PROJECT);
  CHECK(strcmp(cap.message, "unknown project 'nope'") == 0);
}

static void test_labelers(coordinator_t *c) {
  CHECK_EQ(add_labeler(c, "zoe", TALLY__ROLE__ROLE_AUDITOR), 0);
  CHECK(cap.reply && strcmp(cap.reply->labeler_reply->labeler->id, "zoe") == 0);
  CHECK_EQ(add_labeler(c, "ana", TALLY__ROLE__ROLE_LABELER), 0);
  CHECK_EQ(add_labeler(c, "ana", TALLY__ROLE__ROLE_LABELER), TALLY_E_ALREADY_EXISTS);
  CHECK(strcmp(cap.message, "labeler 'ana' already exists") == 0);
  CHECK_EQ(add_labeler(c, "bob", 0), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(add_labeler(c, "bob", TALLY__ROLE__ROLE_WORKER), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(add_labeler(c, "b b", 1), TALLY_E_INVALID_ARGUMENT);
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(add_labeler(c, "bob", 1), TALLY_E_STORAGE);
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_LABELER_LIST), 0);
  const Tally__LabelerListReply *list = cap.reply ? cap.reply->labeler_list_reply : NULL;
  CHECK(list && list->n_labelers == 2 && strcmp(list->labelers[0]->id, "ana") == 0 &&
        strcmp(list->labelers[1]->id, "zoe") == 0);
  CHECK_EQ(coordinator_config_version(c), 6);

  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_CONFIG_REQUEST), 0);
  const Tally__ClusterConfig *config = cap.reply ? cap.reply->config : NULL;
  CHECK(config && config->version == 6 && config->n_projects == 4 && config->n_labelers == 2);
}

static void test_workers(coordinator_t *c) {
  CHECK_EQ(heartbeat(c, 1, 0, 0), TALLY_E_NOT_FOUND);
  CHECK(strcmp(cap.message, "unknown worker, register first") == 0);
  CHECK_EQ(register_worker(c, 0, "not an endpoint"), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(register_worker(c, 42, "tcp://127.0.0.1:5001"), TALLY_E_NOT_FOUND);

  /* The first worker gets every slot. */
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5001"), 0);
  const Tally__WorkerRegisterReply *reg = cap.reply ? cap.reply->worker_register_reply : NULL;
  CHECK(reg && reg->worker_id == 1 && reg->map && reg->config);
  CHECK(reg && reg->map->epoch == 1 && reg->map->slot_count == TALLY_SLOT_COUNT &&
        reg->map->n_slot_owner == TALLY_SLOT_COUNT && reg->config->version == 6);
  const Tally__WorkerInfo *w1 = reg ? map_worker(reg->map, 1) : NULL;
  CHECK(w1 && w1->slots_owned == TALLY_SLOT_COUNT && w1->state == TALLY__WORKER_STATE__WORKER_UP);
  CHECK(reg && reg->map->slot_owner[0] == 1 && reg->map->slot_owner[TALLY_SLOT_COUNT - 1] == 1);

  /* A storage failure neither adds the worker nor consumes its id. */
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5002"), TALLY_E_STORAGE);
  CHECK_EQ(coordinator_epoch(c), 1);
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5002"), 0);
  reg = cap.reply ? cap.reply->worker_register_reply : NULL;
  CHECK(reg && reg->worker_id == 2 && reg->map->epoch == 2 && reg->map->n_workers == 2);
  const Tally__WorkerInfo *w2 = reg ? map_worker(reg->map, 2) : NULL;
  CHECK(w2 && w2->slots_owned == 0);

  /* Re-registering unchanged keeps the epoch; a new endpoint bumps it. */
  CHECK_EQ(register_worker(c, 1, "tcp://127.0.0.1:5001"), 0);
  CHECK_EQ(coordinator_epoch(c), 2);
  CHECK_EQ(register_worker(c, 1, "tcp://127.0.0.1:6001"), 0);
  CHECK_EQ(coordinator_epoch(c), 3);
  reg = cap.reply ? cap.reply->worker_register_reply : NULL;
  w1 = reg ? map_worker(reg->map, 1) : NULL;
  CHECK(w1 && strcmp(w1->endpoint, "tcp://127.0.0.1:6001") == 0 &&
        w1->slots_owned == TALLY_SLOT_COUNT);

  /* Heartbeats: map and config only when the worker's copy is stale. */
  CHECK_EQ(heartbeat(c, 1, 3, 6), 0);
  const Tally__HeartbeatReply *hb = cap.reply ? cap.reply->heartbeat_reply : NULL;
  CHECK(hb && hb->epoch == 3 && hb->config_version == 6 && hb->map == NULL && hb->config == NULL);
  CHECK_EQ(heartbeat(c, 1, 2, 5), 0);
  hb = cap.reply ? cap.reply->heartbeat_reply : NULL;
  CHECK(hb && hb->map != NULL && hb->config != NULL);
  w1 = hb ? map_worker(hb->map, 1) : NULL;
  CHECK(w1 && w1->queued == 5 && w1->live_leases == 2 && w1->items == 40 &&
        w1->last_heartbeat_ms > 0);

  /* Silence: a failed write changes nothing, then both go DOWN at once. */
  uint64_t later = clock_monotonic_ms() + TIMEOUT_MS + 1000;
  CHECK_EQ(coordinator_check_liveness(c, clock_monotonic_ms()), 0);
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(coordinator_check_liveness(c, later), TALLY_E_STORAGE);
  CHECK_EQ(coordinator_epoch(c), 3);
  CHECK_EQ(coordinator_check_liveness(c, later), 2);
  CHECK_EQ(coordinator_epoch(c), 4);
  CHECK_EQ(coordinator_check_liveness(c, later), 0); /* already DOWN */
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_MAP_REQUEST), 0);
  const Tally__ClusterMap *map = cap.reply ? cap.reply->map : NULL;
  w1 = map_worker(map, 1);
  CHECK(w1 && w1->state == TALLY__WORKER_STATE__WORKER_DOWN &&
        w1->slots_owned == TALLY_SLOT_COUNT); /* slots stay with a DOWN worker */

  /* A heartbeat brings worker 1 back UP. */
  CHECK_EQ(heartbeat(c, 1, 3, 6), 0);
  hb = cap.reply ? cap.reply->heartbeat_reply : NULL;
  CHECK(hb && hb->epoch == 5 && hb->map != NULL);
  w1 = hb ? map_worker(hb->map, 1) : NULL;
  CHECK(w1 && w1->state == TALLY__WORKER_STATE__WORKER_UP);
}

/* cluster_status_request: the map, no coordinators without Raft, and the
 * lags of each worker's last heartbeat (a lag naming no slot dropped). */
static void test_cluster_status(coordinator_t *c) {
  Tally__ReplicaLag lag = TALLY__REPLICA_LAG__INIT, bad = TALLY__REPLICA_LAG__INIT;
  Tally__ReplicaLag *lags[] = {&lag, &bad};
  lag.slot = 3, lag.follower_id = 2, lag.sent_seq = 9, lag.acked_seq = 7, lag.lag_ms = 40;
  bad.slot = TALLY_SLOT_COUNT, bad.follower_id = 2;
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__Heartbeat beat = TALLY__HEARTBEAT__INIT;
  beat.worker_id = 1, beat.epoch = coordinator_epoch(c), beat.config_version = 6;
  beat.n_lags = 2, beat.lags = lags;
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &beat;
  CHECK_EQ(call(c, &env), 0);

  Tally__Envelope request = TALLY__ENVELOPE__INIT;
  Tally__ClusterStatusRequest body = TALLY__CLUSTER_STATUS_REQUEST__INIT;
  request.body_case = TALLY__ENVELOPE__BODY_CLUSTER_STATUS_REQUEST;
  request.cluster_status_request = &body;
  CHECK_EQ(call(c, &request), 0);
  const Tally__ClusterStatus *st = cap.reply ? cap.reply->cluster_status : NULL;
  CHECK(st && st->map && st->map->epoch == coordinator_epoch(c) && st->map->n_workers == 2 &&
        st->map->n_slot_owner == TALLY_SLOT_COUNT);
  CHECK(st && st->n_coordinators == 0 && st->leader_id == 0);
  CHECK(st && st->n_lags == 1 && st->lags[0]->slot == 3 && st->lags[0]->follower_id == 2 &&
        st->lags[0]->sent_seq == 9 && st->lags[0]->acked_seq == 7 && st->lags[0]->lag_ms == 40);

  beat.n_lags = 0; /* the next heartbeat replaces them */
  CHECK_EQ(call(c, &env), 0);
  CHECK_EQ(call(c, &request), 0);
  st = cap.reply ? cap.reply->cluster_status : NULL;
  CHECK(st && st->n_lags == 0);
}

static void test_unknown_types(coordinator_t *c) {
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_LEASE), TALLY_E_UNKNOWN_TYPE);
  CHECK(strcmp(cap.message, "the coordinator does not serve 'lease'; send it to a worker") == 0);
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_ACK), TALLY_E_UNKNOWN_TYPE);
  CHECK(strstr(cap.message, "'ack'") != NULL);
}

static void test_reopen(const char *dir) {
  coordinator_t *c = NULL;
  CHECK_EQ(coordinator_open(&c, dir, TIMEOUT_MS), 0);
  if (c == NULL) return;
  CHECK_EQ(coordinator_epoch(c), 5);
  CHECK_EQ(coordinator_config_version(c), 6);
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_CONFIG_REQUEST), 0);
  const Tally__ClusterConfig *config = cap.reply ? cap.reply->config : NULL;
  CHECK(config && config->n_projects == 4 && config->n_labelers == 2);
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_MAP_REQUEST), 0);
  const Tally__ClusterMap *map = cap.reply ? cap.reply->map : NULL;
  const Tally__WorkerInfo *w1 = map_worker(map, 1), *w2 = map_worker(map, 2);
  CHECK(w1 && w1->state == TALLY__WORKER_STATE__WORKER_UP &&
        strcmp(w1->endpoint, "tcp://127.0.0.1:6001") == 0 && w1->slots_owned == TALLY_SLOT_COUNT);
  CHECK(w2 && w2->state == TALLY__WORKER_STATE__WORKER_DOWN);
  /* Ids continue where they stopped. */
  CHECK_EQ(create_project(c, "gamma"), 0);
  CHECK(cap.reply && cap.reply->project_reply->project->id == 5);
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5003"), 0);
  CHECK(cap.reply && cap.reply->worker_register_reply->worker_id == 3);
  CHECK_EQ(coordinator_epoch(c), 6);
  coordinator_close(&c);
  CHECK(c == NULL);
}

/* ---------------------------------------------------------------- audit policies */

static char *three_markets[] = {"es", "jp", "kr"};

/* project_create of `name` (labels spam/ok, markets es/jp/kr) with
 * `audit_rate` and, when not NULL, `audit`. */
static int create_with_policy(coordinator_t *c, const char *name, double audit_rate,
                              Tally__AuditPolicy *audit) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectCreate body = TALLY__PROJECT_CREATE__INIT;
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = (char *)name;
  project.n_labels = 2, project.labels = default_labels;
  project.n_markets = 3, project.markets = three_markets;
  project.audit_rate = audit_rate;
  project.audit = audit;
  project.policy_version = 7; /* not the client's to set */
  body.project = &project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  env.project_create = &body;
  return call(c, &env);
}

static int set_policy(coordinator_t *c, const char *project, Tally__AuditPolicy *policy) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__AuditPolicySet body = TALLY__AUDIT_POLICY_SET__INIT;
  body.project = (char *)project;
  body.policy = policy;
  env.body_case = TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET;
  env.audit_policy_set = &body;
  return call(c, &env);
}

static const Tally__Project *replied_project(void) {
  return cap.reply && cap.reply->body_case == TALLY__ENVELOPE__BODY_PROJECT_REPLY
             ? cap.reply->project_reply->project
             : NULL;
}

/* A policy with up to 4 market rates (names borrowed). */
typedef struct {
  Tally__AuditPolicy policy;
  Tally__MarketRate rates[4];
  Tally__MarketRate *pointers[4];
} policy_t;

static void policy_init(policy_t *p, double rate, double ramp_rate, uint32_t ramp_audits,
                        double ramp_target) {
  tally__audit_policy__init(&p->policy);
  p->policy.rate = rate;
  p->policy.ramp_rate = ramp_rate;
  p->policy.ramp_audits = ramp_audits;
  p->policy.ramp_target = ramp_target;
  p->policy.market_rates = p->pointers;
}

static void policy_add_market(policy_t *p, const char *market, double rate) {
  size_t i = p->policy.n_market_rates++;
  tally__market_rate__init(&p->rates[i]);
  p->rates[i].market = (char *)market;
  p->rates[i].rate = rate;
  p->pointers[i] = &p->rates[i];
}

static void test_policy_on_create(coordinator_t *c) {
  CHECK_EQ(create_with_policy(c, "plain", 0.25, NULL), 0);
  const Tally__Project *p = replied_project();
  CHECK(p && p->audit && p->audit->rate == 0.25 && p->audit->n_market_rates == 0 &&
        p->audit->ramp_rate == 0 && p->audit->ramp_audits == 0 && p->audit->ramp_target == 0 &&
        p->audit_rate == 0.25 && p->policy_version == 1);

  policy_t policy;
  policy_init(&policy, 0.1, 0.5, 50, 0.9);
  policy_add_market(&policy, "jp", 0.3);
  CHECK_EQ(create_with_policy(c, "sampled", 0, &policy.policy), 0);
  p = replied_project();
  CHECK(p && p->audit_rate == 0.1 && p->audit && p->audit->rate == 0.1 &&
        p->audit->ramp_rate == 0.5 && p->audit->ramp_audits == 50 &&
        p->audit->ramp_target == 0.9 && p->audit->n_market_rates == 1 &&
        strcmp(p->audit->market_rates[0]->market, "jp") == 0 &&
        p->audit->market_rates[0]->rate == 0.3 && p->policy_version == 1);
  CHECK_EQ(create_with_policy(c, "same-rate", 0.1, &policy.policy), 0);

  uint64_t version = coordinator_config_version(c);
  CHECK_EQ(create_with_policy(c, "conflict", 0.2, &policy.policy), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(cap.message, "audit_rate") && strstr(cap.message, "audit.rate"));
  policy_add_market(&policy, "fr", 0.3);
  CHECK_EQ(create_with_policy(c, "bad-market", 0, &policy.policy), TALLY_E_UNKNOWN_MARKET);
  CHECK(strstr(cap.message, "'fr'") != NULL);
  policy_init(&policy, 1.5, 0, 0, 0);
  CHECK_EQ(create_with_policy(c, "bad-rate", 0, &policy.policy), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(cap.message, "audit.rate") != NULL);
  CHECK_EQ(coordinator_config_version(c), version); /* nothing was created */
}

static void test_policy_set(coordinator_t *c) {
  policy_t policy;
  policy_init(&policy, 0.05, 0.8, 20, 0.95);
  policy_add_market(&policy, "es", 0.5);
  policy_add_market(&policy, "kr", 0);
  CHECK_EQ(set_policy(c, "nope", &policy.policy), TALLY_E_UNKNOWN_PROJECT);
  CHECK(strcmp(cap.message, "unknown project 'nope'") == 0);
  CHECK_EQ(set_policy(c, "plain", NULL), TALLY_E_BAD_REQUEST);

  /* Every field is checked, and the message names it. */
  struct {
    double rate, ramp_rate, ramp_target, market_rate;
    uint32_t ramp_audits;
    const char *market, *second_market;
    int code;
    const char *field;
  } bad[] = {
      {-0.1, 0, 0, 0, 0, NULL, NULL, TALLY_E_INVALID_ARGUMENT, "audit.rate"},
      {NAN, 0, 0, 0, 0, NULL, NULL, TALLY_E_INVALID_ARGUMENT, "audit.rate"},
      {0.1, 1.01, 0, 0, 0, NULL, NULL, TALLY_E_INVALID_ARGUMENT, "audit.ramp_rate"},
      {0.1, 0, -1, 0, 0, NULL, NULL, TALLY_E_INVALID_ARGUMENT, "audit.ramp_target"},
      {0.1, 0, 0, 0, 1000001, NULL, NULL, TALLY_E_INVALID_ARGUMENT, "audit.ramp_audits"},
      {0.1, 0, 0, 2, 0, "es", NULL, TALLY_E_INVALID_ARGUMENT, "audit.market_rates"},
      {0.1, 0, 0, 0.5, 0, "de", NULL, TALLY_E_UNKNOWN_MARKET, "'de'"},
      {0.1, 0, 0, 0.5, 0, "es", "es", TALLY_E_INVALID_ARGUMENT, "duplicate market 'es'"},
  };
  uint64_t version = coordinator_config_version(c);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    policy_t p;
    policy_init(&p, bad[i].rate, bad[i].ramp_rate, bad[i].ramp_audits, bad[i].ramp_target);
    if (bad[i].market) policy_add_market(&p, bad[i].market, bad[i].market_rate);
    if (bad[i].second_market) policy_add_market(&p, bad[i].second_market, 0.1);
    CHECK_EQ(set_policy(c, "plain", &p.policy), bad[i].code);
    if (strstr(cap.message, bad[i].field) == NULL)
      fprintf(stderr, "case %zu: message '%s' does not name %s\n", i, cap.message, bad[i].field);
    CHECK(strstr(cap.message, bad[i].field) != NULL);
  }
  policy_t edge;
  policy_init(&edge, 1, 1, 1000000, 1); /* the bounds themselves are fine */
  CHECK_EQ(set_policy(c, "sampled", &edge.policy), 0);
  CHECK_EQ(coordinator_config_version(c), version + 1);

  /* A failed write changes nothing. */
  meta_store_fail_commits(coordinator_meta_store(c), 1);
  CHECK_EQ(set_policy(c, "plain", &policy.policy), TALLY_E_STORAGE);
  CHECK_EQ(coordinator_config_version(c), version + 1);

  CHECK_EQ(set_policy(c, "plain", &policy.policy), 0);
  const Tally__Project *p = replied_project();
  CHECK(p && p->audit_rate == 0.05 && p->audit->rate == 0.05 && p->audit->ramp_rate == 0.8 &&
        p->audit->ramp_audits == 20 && p->audit->ramp_target == 0.95 &&
        p->audit->n_market_rates == 2 && p->policy_version == 1 && p->id == 1);
  CHECK_EQ(coordinator_config_version(c), version + 2);

  /* Workers see the new policy through the configuration. */
  CHECK_EQ(simple_request(c, TALLY__ENVELOPE__BODY_CONFIG_REQUEST), 0);
  const Tally__ClusterConfig *config = cap.reply ? cap.reply->config : NULL;
  CHECK(config && config->version == version + 2 && config->n_projects == 3);
  for (size_t i = 0; config && i < config->n_projects; i++)
    if (strcmp(config->projects[i]->name, "plain") == 0)
      CHECK(config->projects[i]->audit && config->projects[i]->audit->n_market_rates == 2 &&
            config->projects[i]->audit_rate == 0.05);

  /* The whole policy is replaced: no market rates left. */
  policy_t plain;
  policy_init(&plain, 0.2, 0, 0, 0);
  CHECK_EQ(set_policy(c, "plain", &plain.policy), 0);
  p = replied_project();
  CHECK(p && p->audit->n_market_rates == 0 && p->audit->ramp_rate == 0 && p->audit_rate == 0.2);
  CHECK_EQ(set_policy(c, "plain", &policy.policy), 0); /* back, for the reopen */
}

/* Stores a project as a build without audit policies did (no policy, no
 * policy_version) straight into the metadata store of `dir`. */
static void store_legacy_project(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/meta", dir);
  meta_store_t *store = NULL;
  meta_batch_t *batch = NULL;
  CHECK_EQ(meta_store_open(&store, path), 0);
  Tally__Project project = TALLY__PROJECT__INIT;
  project.id = 99, project.name = "legacy", project.audit_rate = 0.3;
  project.n_labels = 2, project.labels = default_labels;
  project.n_markets = 1, project.markets = default_markets;
  if (store && meta_batch_new(store, &batch) == 0) {
    meta_batch_put_project(batch, &project);
    CHECK_EQ(meta_batch_commit(batch), 0);
  }
  meta_batch_destroy(&batch);
  meta_store_close(&store);
}

static const Tally__Project *show_project(coordinator_t *c, const char *name) {
  Tally__ProjectShow show = TALLY__PROJECT_SHOW__INIT;
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_SHOW;
  env.project_show = &show;
  show.name = (char *)name;
  CHECK_EQ(call(c, &env), 0);
  return replied_project();
}

static void test_policy_after_reopen(const char *dir) {
  store_legacy_project(dir);
  coordinator_t *c = NULL;
  CHECK_EQ(coordinator_open(&c, dir, TIMEOUT_MS), 0);
  if (c == NULL) return;
  const Tally__Project *p = show_project(c, "plain");
  CHECK(p && p->audit && p->audit->rate == 0.05 && p->audit->n_market_rates == 2 &&
        strcmp(p->audit->market_rates[0]->market, "es") == 0 &&
        p->audit->market_rates[0]->rate == 0.5 && p->audit_rate == 0.05 &&
        p->policy_version == 1);
  /* An old project gets the defaults of project_create. */
  p = show_project(c, "legacy");
  CHECK(p && p->audit && p->audit->rate == 0.3 && p->audit->n_market_rates == 0 &&
        p->policy_version == 1);
  policy_t policy;
  policy_init(&policy, 0.4, 0, 0, 0);
  CHECK_EQ(set_policy(c, "legacy", &policy.policy), 0);
  p = replied_project();
  CHECK(p && p->audit_rate == 0.4 && p->policy_version == 1 && p->id == 99);
  coordinator_close(&c);
}

/* ---------------------------------------------------------------- reports */

static int report_request(coordinator_t *c, const char *project, const char *market,
                          const char *by, uint32_t from_day, uint32_t to_day) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ReportRequest body = TALLY__REPORT_REQUEST__INIT;
  body.project = (char *)project;
  body.market = (char *)market;
  body.by = (char *)by;
  body.from_day = from_day, body.to_day = to_day;
  env.body_case = TALLY__ENVELOPE__BODY_REPORT_REQUEST;
  env.report_request = &body;
  return call(c, &env);
}

static void test_report_requests(coordinator_t *c) {
  /* Without a gather (no defer_report) valid requests are UNAVAILABLE. */
  defer_reports = 0;
  CHECK_EQ(report_request(c, "plain", "", "", 0, 0), TALLY_E_UNAVAILABLE);
  defer_reports = 1;
  CHECK_EQ(report_request(c, "nope", "", "", 0, 0), TALLY_E_UNKNOWN_PROJECT);
  CHECK(strcmp(cap.message, "unknown project 'nope'") == 0);
  CHECK_EQ(report_request(c, "plain", "", "team", 0, 0), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(cap.message, "'team'") != NULL);
  CHECK_EQ(report_request(c, "plain", "fr", "", 0, 0), TALLY_E_UNKNOWN_MARKET);
  CHECK(strstr(cap.message, "'fr'") != NULL);
  CHECK_EQ(report_request(c, "plain", "", "day", 20, 10), TALLY_E_INVALID_ARGUMENT);
  CHECK(cap.job == NULL);

  /* Workers: 1 and 2 UP, 3 DOWN (silent); only the first two are asked. */
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5101"), 0);
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5102"), 0);
  CHECK_EQ(register_worker(c, 0, "tcp://127.0.0.1:5103"), 0);
  CHECK_EQ(coordinator_check_liveness(c, clock_monotonic_ms() + TIMEOUT_MS + 1000), 3);
  CHECK_EQ(heartbeat(c, 1, 0, 0), 0);
  CHECK_EQ(heartbeat(c, 2, 0, 0), 0);

  static const char *groupings[] = {"", "labeler", "market", "category", "day"};
  for (size_t i = 0; i < sizeof groupings / sizeof *groupings; i++)
    CHECK_EQ(report_request(c, "plain", "", groupings[i], 0, 0), 0);
  CHECK_EQ(report_request(c, "plain", "jp", "labeler", 19000, 19030), 0);
  const coordinator_report_job_t *job = cap.job;
  CHECK(job && job->request_id == next_request_id && job->report != NULL);
  CHECK(job && strcmp(job->stats.project, "plain") == 0 && strcmp(job->stats.market, "jp") == 0 &&
        job->stats.from_day == 19000 && job->stats.to_day == 19030);
  CHECK(job && job->n_workers == 2 && job->worker_ids[0] == 1 && job->worker_ids[1] == 2 &&
        strcmp(job->endpoints[0], "tcp://127.0.0.1:5101") == 0 &&
        strcmp(job->endpoints[1], "tcp://127.0.0.1:5102") == 0);

  /* The job's engine has the project's taxonomy and the query. */
  if (job) {
    Tally__StatsRow row = TALLY__STATS_ROW__INIT;
    row.market = "jp", row.labeler = "ana", row.day = 19010, row.labels = 4;
    CHECK_EQ(report_add_row(job->report, &row), 1);
    row.market = "es";
    CHECK_EQ(report_add_row(job->report, &row), 0); /* another market */
    Tally__ReportReply *reply = NULL;
    CHECK_EQ(report_build(job->report, &reply), 0);
    CHECK(reply && strcmp(reply->project, "plain") == 0 && reply->n_labels == 2 &&
          strcmp(reply->labels[0], "spam") == 0 && reply->n_rows == 1 &&
          strcmp(reply->rows[0]->key, "ana") == 0 && reply->rows[0]->labels == 4);
    report_reply_free(&reply);
  }
  coordinator_report_job_free(&cap.job);
  coordinator_report_job_free(&cap.job); /* safe twice */
}

static void test_audit_and_reports(void) {
  char *dir = test_temp_dir("coordinator_core_test_audit");
  coordinator_t *c = NULL;
  CHECK_EQ(coordinator_open(&c, dir, TIMEOUT_MS), 0);
  if (c != NULL) {
    test_policy_on_create(c);
    test_policy_set(c);
    test_report_requests(c);
    coordinator_close(&c);
    test_policy_after_reopen(dir);
  }
  test_remove_tree(dir);
  free(dir);
}

int main(void) {
  test_deadline(60);
  char *dir = test_temp_dir("coordinator_core_test");
  coordinator_t *c = NULL;
  CHECK_EQ(coordinator_open(&c, dir, 0), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(coordinator_open(&c, dir, TIMEOUT_MS), 0);
  if (c != NULL) {
    CHECK_EQ(coordinator_epoch(c), 0);
    test_projects(c);
    test_labelers(c);
    test_workers(c);
    test_cluster_status(c);
    test_unknown_types(c);
    coordinator_close(&c);
    test_reopen(dir);
  }
  test_audit_and_reports();
  wire_envelope_free(&cap.reply);
  coordinator_report_job_free(&cap.job);
  test_remove_tree(dir);
  free(dir);
  return test_report();
}
