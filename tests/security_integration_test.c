/* security_integration_test: identity, roles and the blind on the real
 * daemons (issue 15; docs/SECURITY.md).
 *
 *  - no key, or a key nobody admitted: every request to every daemon goes
 *    unanswered (refused at the CURVE handshake);
 *  - a rogue worker: an unadmitted key cannot register; an admitted new key
 *    cannot take worker 1's id, send its heartbeats or move its endpoint;
 *  - impersonation: a labeler's key cannot lease, skip or read feedback as
 *    someone else; whoami names the key's person;
 *  - the role matrix: every request type, sent by every role, is refused
 *    (PERMISSION_DENIED) exactly when docs/SECURITY.md's table says so;
 *  - the blind: for a sampled and an unsampled item of the same labeler,
 *    every request the labeler may send answers alike (code and size); the
 *    map a labeler gets shows no AUDIT depth and no per-worker counts; an
 *    auditor holding the audit task cannot read the item's labels;
 *  - the per-person lease cap (--max-leases, default 16), while another
 *    person still gets a lease at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "access.h"
#include "check.h"
#include "curve.h"
#include "dealer.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"
#include "wire.h"

#define WORKER_CAP 16 /* WORKER_DEFAULT_MAX_LEASES */

static cluster_t cluster;
static void *zctx;

/* ------------------------------------------------------------ people */

typedef struct {
  const char *id;
  uint32_t roles;
  char key_file[640];
  curve_keypair_t pair;
} person_t;

static person_t people[] = {
    {"sec-lab", TALLY__ROLE__ROLE_LABELER, "", {"", ""}},
    {"sec-aud", TALLY__ROLE__ROLE_AUDITOR, "", {"", ""}},
    {"sec-lead", TALLY__ROLE__ROLE_LEAD, "", {"", ""}},
    {"sec-man", TALLY__ROLE__ROLE_MANAGER, "", {"", ""}},
    {"sec-ops", TALLY__ROLE__ROLE_OPERATOR, "", {"", ""}},
    {"sec-gw", TALLY__ROLE__ROLE_GATEWAY, "", {"", ""}},
    {"sec-lab2", TALLY__ROLE__ROLE_LABELER, "", {"", ""}},
};
#define PEOPLE (sizeof people / sizeof people[0])

static person_t *person(const char *id) {
  for (size_t i = 0; i < PEOPLE; i++)
    if (strcmp(people[i].id, id) == 0) return &people[i];
  return NULL;
}

/* Makes every person's key and adds them (as the harness identity). */
static void people_add(void) {
  for (size_t i = 0; i < PEOPLE; i++) {
    person_t *p = &people[i];
    char pub[CURVE_Z85_LEN + 1];
    CHECK(harness_keygen(&cluster, p->id, p->key_file, sizeof p->key_file, pub) == 0);
    CHECK(curve_keypair_load(&p->pair, p->key_file) == 0);
    char roles[128], out[2048], pub_file[64];
    access_roles_text(p->roles, roles, sizeof roles);
    snprintf(pub_file, sizeof pub_file, "%s.pub", p->id);
    int rc = cluster_cli(&cluster, out, sizeof out,
                         "labeler add %s --roles %s --markets es,ja --public-key '%s'", p->id, roles,
                         harness_key_path(&cluster, pub_file));
    if (rc != 0) fprintf(stderr, "labeler add %s: %s\n", p->id, out);
    CHECK(rc == 0);
  }
}

/* A libtally handle as `p`. */
static tally_t *open_as(const person_t *p) {
  tally_credentials_t c;
  tally_t *t = NULL;
  CHECK(tally_credentials_load(&c, p->key_file, harness_key_path(&cluster, "coordinator.pub")) == 0);
  CHECK(tally_open_with(&t, cluster.coordinator_endpoint, 5000, &c) == 0);
  return t;
}

/* CURVE settings for a raw socket as key pair `self` to daemon `server`
 * ("coordinator" or "worker-0"). */
static curve_client_t *curve_to(const curve_keypair_t *self, const char *server, curve_client_t *buf) {
  memset(buf, 0, sizeof *buf);
  buf->self = *self;
  char name[64];
  snprintf(name, sizeof name, "%s.pub", server);
  CHECK(curve_public_parse(buf->server_key, harness_key_path(&cluster, name)) == 0);
  return buf;
}

/* ------------------------------------------------------------ raw requests */

/* An envelope whose body is `field`'s message type, empty. The body is
 * allocated; free it with body_free. */
static void *body_new(Tally__Envelope *env, const ProtobufCFieldDescriptor *field) {
  tally__envelope__init(env);
  env->version = TALLY_PROTOCOL_VERSION;
  const ProtobufCMessageDescriptor *d = field->descriptor;
  ProtobufCMessage *m = calloc(1, d->sizeof_message);
  protobuf_c_message_init(d, m);
  env->body_case = (Tally__Envelope__BodyCase)field->id;
  *(ProtobufCMessage **)((char *)env + field->offset) = m;
  return m;
}

/* One round trip on `d`; the reply's code (0 for a non-error reply),
 * TALLY_E_TIMEOUT when nothing came. *len gets the encoded reply size. */
static int ask(dealer_t *d, Tally__Envelope *env, int timeout_ms, size_t *len) {
  Tally__Envelope *reply = NULL;
  int rc = dealer_call(d, env, timeout_ms, &reply);
  if (len) *len = reply ? tally__envelope__get_packed_size(reply) : 0;
  wire_envelope_free(&reply);
  return rc;
}

/* ------------------------------------------------------------ no key */

/* Sends one request of every type on a connection made with `curve`
 * (NULL: plain) and returns how many replies came within a second. */
static int replies_to_everything(const char *endpoint, const curve_client_t *curve) {
  dealer_t *d = NULL;
  CHECK(dealer_new(&d, zctx, endpoint, curve) == 0);
  if (d == NULL) return -1;
  const ProtobufCMessageDescriptor *ed = &tally__envelope__descriptor;
  int sent = 0;
  for (unsigned i = 0; i < ed->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &ed->fields[i];
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
    if (access_roles_for((Tally__Envelope__BodyCase)f->id) == 0) continue;
    Tally__Envelope env;
    ProtobufCMessage *m = body_new(&env, f);
    env.request_id = dealer_next_request_id(d);
    if (dealer_send(d, &env) == 0) sent++;
    free(m);
  }
  CHECK(sent > 30);
  int replies = 0;
  Tally__Envelope *reply = NULL;
  while (dealer_recv(d, 1000, &reply) == 0) {
    replies++;
    wire_envelope_free(&reply);
  }
  dealer_destroy(&d);
  return replies;
}

static void test_no_key(void) {
  curve_keypair_t stranger;
  CHECK(curve_keypair_generate(&stranger) == 0);
  curve_client_t buf;
  const char *eps[] = {cluster.coordinator_endpoint, cluster.worker_endpoints[0]};
  const char *servers[] = {"coordinator", "worker-0"};
  for (int i = 0; i < 2; i++) {
    CHECK(replies_to_everything(eps[i], NULL) == 0);
    CHECK(replies_to_everything(eps[i], curve_to(&stranger, servers[i], &buf)) == 0);
  }
  /* A known key gets answers on the same daemons (the check can fail). */
  CHECK(replies_to_everything(eps[0], harness_curve(&cluster, -1, &buf)) > 0);
  /* The CLI without a key says so and never reaches the cluster. */
  char out[2048];
  int rc = cluster_cli(&cluster, out, sizeof out, "--key /nonexistent/key status");
  CHECK(rc == 1 && strstr(out, "cannot read the key file") != NULL);
}

/* ------------------------------------------------------------ rogue worker */

static void test_rogue_worker(void) {
  curve_keypair_t rogue;
  CHECK(curve_keypair_generate(&rogue) == 0);
  curve_client_t buf;
  dealer_t *d = NULL;
  Tally__Envelope env;
  Tally__WorkerRegister reg = TALLY__WORKER_REGISTER__INIT;
  reg.worker_id = 1;
  reg.endpoint = "tcp://127.0.0.1:9";
  wire_envelope_init(&env, 0);
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER;
  env.worker_register = &reg;
  /* Not admitted: no answer at all. */
  CHECK(dealer_new(&d, zctx, cluster.coordinator_endpoint, curve_to(&rogue, "coordinator", &buf)) == 0);
  CHECK(ask(d, &env, 1000, NULL) == TALLY_E_TIMEOUT);
  dealer_destroy(&d);
  /* Admitted (an operator admits a new machine): still not worker 1. */
  tally_t *t = NULL;
  CHECK(tally_open(&t, cluster.coordinator_endpoint, 5000) == 0);
  CHECK(tally_cluster_admit(t, rogue.public_key, 0) == 0);
  CHECK(dealer_new(&d, zctx, cluster.coordinator_endpoint, curve_to(&rogue, "coordinator", &buf)) == 0);
  int rc = TALLY_E_TIMEOUT;
  for (int i = 0; i < 20 && rc == TALLY_E_TIMEOUT; i++) rc = ask(d, &env, 500, NULL);
  CHECK(rc == TALLY_E_PERMISSION_DENIED);
  Tally__Heartbeat hb = TALLY__HEARTBEAT__INIT;
  hb.worker_id = 1;
  wire_envelope_init(&env, 0);
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  CHECK(ask(d, &env, 3000, NULL) == TALLY_E_PERMISSION_DENIED);
  dealer_destroy(&d);
  /* A person's key is no worker either. */
  CHECK(dealer_new(&d, zctx, cluster.coordinator_endpoint,
                   curve_to(&person("sec-ops")->pair, "coordinator", &buf)) == 0);
  wire_envelope_init(&env, 0);
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER;
  env.worker_register = &reg;
  CHECK(ask(d, &env, 3000, NULL) == TALLY_E_PERMISSION_DENIED);
  dealer_destroy(&d);
  /* The map still sends clients to the real worker 1. */
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t, &map) == 0);
  int found = 0;
  for (size_t i = 0; map && i < map->worker_count; i++)
    if (map->workers[i].id == 1) found = strcmp(map->workers[i].endpoint, "tcp://127.0.0.1:9") != 0;
  CHECK(found);
  tally_free(map);
  /* The admission is in the admin log, with who made it. */
  tally_admin_log_t *log = NULL;
  CHECK(tally_admin_log(t, 10, 0, &log) == 0);
  CHECK(log && log->count > 0 && strcmp(log->entries[0].action, "cluster_admit") == 0 &&
        strcmp(log->entries[0].actor, "harness") == 0);
  tally_free(log);
  CHECK(tally_cluster_admit(t, rogue.public_key, 1) == 0);
  tally_close(&t);
}

/* ------------------------------------------------------------ impersonation */

static void test_impersonation(void) {
  tally_t *t = open_as(person("sec-lab"));
  tally_whoami_t *me = NULL;
  CHECK(tally_whoami(t, &me) == 0);
  CHECK(me && strcmp(me->id, "sec-lab") == 0 && me->secure && me->roles == TALLY_ROLE_LABELER);
  tally_free(me);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "sec-lab2", "sec", TALLY_STAGE_LABEL, 0, &task) == TALLY_E_PERMISSION_DENIED);
  tally_free(task);
  tally_feedback_t *fb = NULL;
  CHECK(tally_feedback(t, "sec-lab2", "sec", 10, &fb) == TALLY_E_PERMISSION_DENIED);
  tally_free(fb);
  /* A labeler is not a manager: no project, no people, no drain. */
  tally_labeler_t spec = {"sneaky", TALLY_ROLE_MANAGER | TALLY_ROLE_OPERATOR, NULL, 0, NULL};
  CHECK(tally_labeler_add(t, &spec, NULL) == TALLY_E_PERMISSION_DENIED);
  tally_close(&t);
  /* A manager may add people but not operators or gateways. */
  t = open_as(person("sec-man"));
  CHECK(tally_labeler_add(t, &spec, NULL) == TALLY_E_PERMISSION_DENIED);
  tally_close(&t);
}

/* ------------------------------------------------------------ role matrix */

/* Requests the coordinator serves; the others go to a worker. */
static int served_by_coordinator(Tally__Envelope__BodyCase body) {
  switch (body) {
    case TALLY__ENVELOPE__BODY_INGEST:
    case TALLY__ENVELOPE__BODY_LEASE:
    case TALLY__ENVELOPE__BODY_SUBMIT:
    case TALLY__ENVELOPE__BODY_SKIP:
    case TALLY__ENVELOPE__BODY_RELEASE:
    case TALLY__ENVELOPE__BODY_STATUS:
    case TALLY__ENVELOPE__BODY_ITEM_GET:
    case TALLY__ENVELOPE__BODY_STATS_REQUEST:
    case TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST:
    case TALLY__ENVELOPE__BODY_EXPORT_REQUEST:
    case TALLY__ENVELOPE__BODY_OPS_REQUEST:
    case TALLY__ENVELOPE__BODY_CASES_REQUEST:
    case TALLY__ENVELOPE__BODY_CASE_GET:
    case TALLY__ENVELOPE__BODY_SLOT_CHUNK:
    case TALLY__ENVELOPE__BODY_EXPOSURE_REQUEST:
      return 0;
    default:
      return 1;
  }
}

static void test_role_matrix(void) {
  const ProtobufCMessageDescriptor *ed = &tally__envelope__descriptor;
  int checked = 0;
  for (size_t p = 0; p < PEOPLE; p++) {
    curve_client_t to_coordinator, to_worker;
    dealer_t *dc = NULL, *dw = NULL;
    CHECK(dealer_new(&dc, zctx, cluster.coordinator_endpoint,
                     curve_to(&people[p].pair, "coordinator", &to_coordinator)) == 0);
    CHECK(dealer_new(&dw, zctx, cluster.worker_endpoints[0],
                     curve_to(&people[p].pair, "worker-0", &to_worker)) == 0);
    for (unsigned i = 0; i < ed->n_fields; i++) {
      const ProtobufCFieldDescriptor *f = &ed->fields[i];
      if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
      Tally__Envelope__BodyCase body = (Tally__Envelope__BodyCase)f->id;
      uint32_t allowed = access_roles_for(body);
      if (allowed == 0) continue;
      /* Drains and admissions of nothing are harmless; skip none. */
      Tally__Envelope env;
      ProtobufCMessage *m = body_new(&env, f);
      int rc = ask(served_by_coordinator(body) ? dc : dw, &env, 5000, NULL);
      free(m);
      int may = (allowed & people[p].roles) != 0;
      if (may ? (rc == TALLY_E_PERMISSION_DENIED || rc == TALLY_E_UNAUTHENTICATED ||
                 rc == TALLY_E_TIMEOUT)
              : rc != TALLY_E_PERMISSION_DENIED) {
        fprintf(stderr, "FAIL: %s sending %s: %s (%d), expected %s\n", people[p].id, f->name,
                tally_error_name(rc), rc, may ? "an answer" : "PERMISSION_DENIED");
        check_failed++;
      } else {
        check_passed++;
      }
      checked++;
    }
    dealer_destroy(&dc);
    dealer_destroy(&dw);
  }
  CHECK(checked >= 30 * (int)PEOPLE);
}

/* ------------------------------------------------------------ the blind */

/* Leases the next label task of `who` on project "sec"; 0 or error. */
static int lease_one(tally_t *t, const char *who, tally_stage_t stage, tally_task_t **task) {
  return tally_lease(t, who, "sec", stage, 0, task);
}

static void test_blind(void) {
  /* es items are always sampled, ja items never (per-market rates). */
  char out[4096];
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "project create sec --labels ok,spam --markets es,ja --audit-rate 0.5 "
                    "--lease-seconds 300") == 0);
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "audit-policy set --project sec --market es=1 --market ja=0") == 0);
  char path[700];
  snprintf(path, sizeof path, "%s/sec-items.jsonl", cluster.dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fprintf(f, "{\"id\": \"item-es\", \"market\": \"es\", \"content\": \"same text\"}\n");
  fprintf(f, "{\"id\": \"item-ja\", \"market\": \"ja\", \"content\": \"same text\"}\n");
  fclose(f);
  CHECK(cluster_cli(&cluster, out, sizeof out, "ingest sec %s", path) == 0);

  tally_t *lab = open_as(person("sec-lab"));
  tally_task_t *a = NULL, *b = NULL;
  CHECK(lease_one(lab, "sec-lab", TALLY_STAGE_LABEL, &a) == 0);
  CHECK(lease_one(lab, "sec-lab", TALLY_STAGE_LABEL, &b) == 0);
  if (a == NULL || b == NULL) {
    tally_free(a);
    tally_free(b);
    tally_close(&lab);
    return;
  }
  CHECK(tally_submit(lab, "sec-lab", a->slot, a->lease_id, "spam", 500) == 0);
  CHECK(tally_submit(lab, "sec-lab", b->slot, b->lease_id, "spam", 500) == 0);
  const char *sampled = strcmp(a->market, "es") == 0 ? a->item_id : b->item_id;
  const char *unsampled = strcmp(a->market, "es") == 0 ? b->item_id : a->item_id;
  CHECK(strcmp(sampled, "item-es") == 0 && strcmp(unsampled, "item-ja") == 0);

  /* Every request the labeler may send about either item answers alike. */
  tally_item_state_t *item = NULL;
  int rs = tally_item_get(lab, "sec", sampled, &item);
  tally_free(item);
  item = NULL;
  int ru = tally_item_get(lab, "sec", unsampled, &item);
  tally_free(item);
  CHECK(rs == TALLY_E_PERMISSION_DENIED && ru == rs);
  tally_feedback_t *fb = NULL;
  CHECK(tally_feedback(lab, "sec-lab", "sec", 10, &fb) == 0);
  CHECK(fb && fb->count == 0); /* the sampled audit is still open */
  tally_free(fb);
  tally_status_t *st = NULL;
  CHECK(tally_status(lab, "sec", &st) == TALLY_E_PERMISSION_DENIED);
  tally_free(st);
  /* Once the heartbeats carry it, a manager (the harness) sees the sampled
   * item in the AUDIT queue, so the labeler's view below can fail. */
  tally_map_t *map = NULL;
  tally_t *boss = NULL;
  CHECK(tally_open(&boss, cluster.coordinator_endpoint, 5000) == 0);
  int seen = 0;
  for (int tries = 0; tries < 40 && !seen; tries++) {
    CHECK(tally_cluster_map(boss, &map) == 0);
    for (size_t w = 0; map && w < map->worker_count; w++)
      for (size_t h = 0; h < map->workers[w].backlog_count; h++)
        seen |= map->workers[w].backlog[h].stage == TALLY_STAGE_AUDIT &&
                map->workers[w].backlog[h].depth > 0;
    tally_free(map);
    map = NULL;
    if (!seen) usleep(100 * 1000);
  }
  CHECK(seen);
  tally_close(&boss);

  /* The map the labeler gets at the same time: no AUDIT depth, no counts. */
  CHECK(tally_cluster_map(lab, &map) == 0);
  int audit_hints = 0, counts = 0;
  for (size_t w = 0; map && w < map->worker_count; w++) {
    counts += map->workers[w].queued > 0 || map->workers[w].items > 0;
    for (size_t h = 0; h < map->workers[w].backlog_count; h++)
      audit_hints += map->workers[w].backlog[h].stage != TALLY_STAGE_LABEL;
  }
  CHECK(audit_hints == 0 && counts == 0);
  tally_free(map);
  /* The auditor holding the audit task: no labels, no labeler, anywhere. */
  tally_t *aud = open_as(person("sec-aud"));
  tally_task_t *task = NULL;
  CHECK(lease_one(aud, "sec-aud", TALLY_STAGE_AUDIT, &task) == 0);
  CHECK(task && strcmp(task->item_id, sampled) == 0 && task->candidate_count == 0);
  CHECK(tally_item_get(aud, "sec", sampled, &item) == TALLY_E_PERMISSION_DENIED);
  tally_free(item);
  tally_feedback_t *theirs = NULL;
  CHECK(tally_feedback(aud, "sec-lab", "sec", 10, &theirs) == TALLY_E_PERMISSION_DENIED);
  tally_free(theirs);
  tally_case_list_t *cases = NULL;
  CHECK(tally_cases_list(aud, "sec", NULL, &cases) == TALLY_E_PERMISSION_DENIED);
  tally_free(cases);
  tally_free(task);
  tally_close(&aud);
  tally_free(a);
  tally_free(b);
  tally_close(&lab);
}

/* ------------------------------------------------------------ lease cap */

static void test_lease_cap(void) {
  char path[700], out[2048];
  snprintf(path, sizeof path, "%s/cap-items.jsonl", cluster.dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  for (int i = 0; i < 200; i++) fprintf(f, "{\"id\": \"cap-%03d\", \"market\": \"ja\", \"content\": \"c\"}\n", i);
  fclose(f);
  CHECK(cluster_cli(&cluster, out, sizeof out, "ingest sec %s", path) == 0);
  /* One worker: every lease of the flood goes to it, so its cap binds. */
  tally_t *lab = open_as(person("sec-lab"));
  int granted = 0, limited = 0;
  for (int i = 0; i < 40; i++) {
    tally_task_t *task = NULL;
    int rc = lease_one(lab, "sec-lab", TALLY_STAGE_LABEL, &task);
    if (rc == 0 && task != NULL) granted++;
    if (rc == TALLY_E_RATE_LIMITED) limited++;
    tally_free(task);
  }
  CHECK(granted == WORKER_CAP);
  CHECK(limited == 40 - WORKER_CAP);
  /* Another person is served at once. */
  tally_t *other = open_as(person("sec-lab2"));
  tally_task_t *task = NULL;
  CHECK(lease_one(other, "sec-lab2", TALLY_STAGE_LABEL, &task) == 0 && task != NULL);
  tally_free(task);
  tally_close(&other);
  tally_close(&lab);
}

/* ------------------------------------------------------------ flood */

/* One connection sends far more than its rate allows; the surplus is
 * answered RATE_LIMITED (every request gets an answer), and another person
 * is served meanwhile. */
#define FLOOD 12000
#define FLOOD_RATE "1000" /* the worker's --max-request-rate: bursts of 250 */
static void test_flood(void) {
  curve_client_t buf;
  dealer_t *d = NULL;
  CHECK(dealer_new(&d, zctx, cluster.worker_endpoints[0], harness_curve(&cluster, 0, &buf)) == 0);
  if (d == NULL) return;
  Tally__Envelope env;
  Tally__StatusRequest status = TALLY__STATUS_REQUEST__INIT;
  wire_envelope_init(&env, 0);
  env.body_case = TALLY__ENVELOPE__BODY_STATUS;
  env.status = &status;
  int sent = 0;
  for (int i = 0; i < FLOOD; i++) {
    env.request_id = dealer_next_request_id(d);
    sent += dealer_send(d, &env) == 0;
  }
  CHECK(sent == FLOOD);
  tally_t *other = open_as(person("sec-lab2"));
  tally_task_t *task = NULL;
  CHECK(lease_one(other, "sec-lab2", TALLY_STAGE_LABEL, &task) == 0);
  if (task) CHECK(tally_release(other, "sec-lab2", task->slot, task->lease_id) == 0);
  tally_free(task);
  tally_close(&other);
  int answered = 0, limited = 0;
  Tally__Envelope *reply = NULL;
  while (answered < FLOOD && dealer_recv(d, 5000, &reply) == 0) {
    answered++;
    if (reply->body_case == TALLY__ENVELOPE__BODY_ERROR &&
        tally_error_from_wire((int)reply->error->code) == TALLY_E_RATE_LIMITED)
      limited++;
    wire_envelope_free(&reply);
  }
  CHECK(answered == FLOOD);
  /* At most 250 + 1000 a second pass: a quarter is refused unless the
   * worker took over 8 s to read the flood. */
  CHECK(limited > FLOOD / 4 && limited < FLOOD);
  dealer_destroy(&d);
}

/* ------------------------------------------------------------ waiters */

/* One connection parks at most 4,096 long-polls on a worker; the rest are
 * answered RATE_LIMITED at once. Paced under the connection's rate; should
 * a slow worker read a burst late, the rate refuses some too, and the 600
 * beyond the cap leave room for that: exactly 4,096 stay parked. */
#define WAITERS_CAP 4096
#define WAITERS_SENT (WAITERS_CAP + 600)
static int count_replies(dealer_t *d, int timeout_ms, int *limited) {
  int n = 0;
  Tally__Envelope *reply = NULL;
  while (dealer_recv(d, timeout_ms, &reply) == 0) {
    n++;
    *limited += reply->body_case == TALLY__ENVELOPE__BODY_ERROR &&
                tally_error_from_wire((int)reply->error->code) == TALLY_E_RATE_LIMITED;
    wire_envelope_free(&reply);
    if (timeout_ms > 0) timeout_ms = 1000; /* after the first: until quiet */
  }
  return n;
}

static void test_waiter_cap(void) {
  char out[2048];
  CHECK(cluster_cli(&cluster, out, sizeof out,
                    "project create quiet --labels ok,spam --markets es") == 0);
  curve_client_t buf;
  dealer_t *d = NULL;
  CHECK(dealer_new(&d, zctx, cluster.worker_endpoints[0], harness_curve(&cluster, 0, &buf)) == 0);
  if (d == NULL) return;
  Tally__Envelope env;
  Tally__LeaseRequest lease = TALLY__LEASE_REQUEST__INIT;
  lease.labeler = "sec-lab2";
  lease.project = "quiet";
  lease.wait_ms = 30000;
  wire_envelope_init(&env, 0);
  env.body_case = TALLY__ENVELOPE__BODY_LEASE;
  env.lease = &lease;
  int replies = 0, limited = 0;
  for (int i = 0; i < WAITERS_SENT; i++) {
    env.request_id = dealer_next_request_id(d);
    dealer_send(d, &env);
    if (i % 200 == 199) {
      usleep(250 * 1000); /* 800 a second: under the rate */
      replies += count_replies(d, 0, &limited);
    }
  }
  replies += count_replies(d, 3000, &limited);
  CHECK(limited == replies);                    /* every answer so far: refused */
  CHECK(WAITERS_SENT - replies == WAITERS_CAP); /* the rest wait, parked */
  dealer_destroy(&d);
}

int main(void) {
  harness_init(240);
  zctx = zmq_ctx_new();
  /* A rate no test step but the flood comes near (the role matrix sends
   * about 35 requests per connection at once), so the flood is limited
   * however slow the machine is. */
  cluster.worker_args[0] = "--max-request-rate";
  cluster.worker_args[1] = FLOOD_RATE;
  if (cluster_start(&cluster, 1) != 0) {
    fprintf(stderr, "cluster did not start\n");
    return 1;
  }
  people_add();
  test_no_key();
  test_rogue_worker();
  test_impersonation();
  test_role_matrix();
  test_blind();
  test_lease_cap();
  test_flood();
  test_waiter_cap();
  cluster_stop(&cluster);
  zmq_ctx_term(zctx);
  return check_summary();
}
