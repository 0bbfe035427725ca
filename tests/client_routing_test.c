/* client_routing_test: libtally against a fake cluster.
 *
 * A thread serves a fake coordinator and two fake workers on loopback ROUTER
 * sockets. The fake workers own slots according to `owner` (the truth) and
 * answer MOVED for the others, as real workers do; the fake coordinator hands
 * out `map_owner`, which tests can make stale. This checks what a real
 * cluster cannot easily be made to do on demand: misrouted requests, a
 * coordinator that lags behind, silent workers, unowned slots, backlog hints
 * that steer leases, a worker the map says is down. client_lease_order()
 * (the lease order from the hints) is tested on its own first.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "check.h"
#include "client_fake.h"
#include "clock.h"
#include "lease_order.h"
#include "slot.h"
#include "tally.h"
#include "wire.h"

#define FAKE_WORKERS 2

typedef struct {
  void *socket;
  char endpoint[64];
  uint32_t id;
  int silent;     /* drop every request */
  uint32_t tasks; /* leases it can still hand out */
  uint64_t items, batches, max_batch, submits, moved, leases;
  uint32_t max_wait; /* longest wait_ms a lease asked for */
  /* What the map says: down, and one backlog hint (project 1 = "p", "es",
   * label) when hint_depth > 0. */
  int down;
  uint32_t hint_priority;
  uint64_t hint_depth;
} fake_worker_t;

static struct {
  fake_t *fake;
  char coordinator_endpoint[64];
  fake_worker_t workers[FAKE_WORKERS];
  uint32_t owner[TALLY_SLOT_COUNT];     /* the truth: worker id */
  uint32_t map_owner[TALLY_SLOT_COUNT]; /* what the coordinator says */
  uint64_t epoch, map_requests;
  /* A failover the coordinator makes at this monotonic time (0: none):
   * worker 1 DOWN, its slots given to worker 2 (fake_failover). */
  uint64_t failover_at_ms;
} F;

static fake_worker_t *worker_by_id(uint32_t id) {
  for (int i = 0; i < FAKE_WORKERS; i++)
    if (F.workers[i].id == id) return &F.workers[i];
  return NULL;
}

static void reply_moved(void *socket, zmq_msg_t *identity, uint64_t rid, uint32_t slot) {
  Tally__Envelope env;
  Tally__ErrorReply err;
  wire_error_init(&env, &err, rid, TALLY_E_MOVED, "slot moved");
  fake_worker_t *owner = worker_by_id(F.owner[slot]);
  err.slot = slot;
  err.epoch = F.epoch;
  err.owner_endpoint = owner ? owner->endpoint : "";
  fake_reply(socket, identity, &env);
}

/* The map, with the workers' states and backlog hints. */
static void reply_map(void *socket, zmq_msg_t *identity, uint64_t request_id) {
  Tally__ClusterMap map;
  Tally__WorkerInfo info[FAKE_WORKERS], *infos[FAKE_WORKERS];
  Tally__BacklogHint hint[FAKE_WORKERS], *hints[FAKE_WORKERS];
  tally__cluster_map__init(&map);
  for (int i = 0; i < FAKE_WORKERS; i++) {
    const fake_worker_t *w = &F.workers[i];
    tally__worker_info__init(&info[i]);
    info[i].id = w->id;
    info[i].endpoint = (char *)w->endpoint;
    info[i].state = w->down ? TALLY__WORKER_STATE__WORKER_DOWN : TALLY__WORKER_STATE__WORKER_UP;
    for (size_t s = 0; s < TALLY_SLOT_COUNT; s++) info[i].slots_owned += F.map_owner[s] == w->id;
    tally__backlog_hint__init(&hint[i]);
    hint[i].project_id = 1;
    hint[i].market = "es";
    hint[i].stage = TALLY__STAGE__STAGE_LABEL;
    hint[i].depth = w->hint_depth;
    hint[i].top_priority = w->hint_priority;
    hints[i] = &hint[i];
    info[i].n_backlog = w->hint_depth > 0;
    info[i].backlog = &hints[i];
    infos[i] = &info[i];
  }
  map.epoch = F.epoch;
  map.slot_count = TALLY_SLOT_COUNT;
  map.n_workers = FAKE_WORKERS;
  map.workers = infos;
  map.n_slot_owner = TALLY_SLOT_COUNT;
  map.slot_owner = F.map_owner;
  Tally__Envelope env;
  wire_envelope_init(&env, request_id);
  env.body_case = TALLY__ENVELOPE__BODY_MAP;
  env.map = &map;
  fake_reply(socket, identity, &env);
}

/* Projects "p" (id 1) and "q" (id 2). */
static void reply_project(void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  const char *name = req->project_show->name;
  if (strcmp(name, "p") != 0 && strcmp(name, "q") != 0) {
    fake_reply_error(socket, identity, req->request_id, TALLY_E_UNKNOWN_PROJECT, "unknown project");
    return;
  }
  Tally__Project project;
  Tally__ProjectReply reply;
  tally__project__init(&project);
  tally__project_reply__init(&reply);
  project.id = name[0] == 'p' ? 1 : 2;
  project.name = (char *)name;
  reply.project = &project;
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_REPLY;
  env.project_reply = &reply;
  fake_reply(socket, identity, &env);
}

static void serve_coordinator(void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  if (req->body_case == TALLY__ENVELOPE__BODY_PROJECT_SHOW) {
    reply_project(socket, identity, req);
    return;
  }
  if (req->body_case != TALLY__ENVELOPE__BODY_MAP_REQUEST) {
    fake_reply_error(socket, identity, req->request_id, TALLY_E_UNKNOWN_TYPE, NULL);
    return;
  }
  F.map_requests++;
  if (F.failover_at_ms != 0 && clock_monotonic_ms() >= F.failover_at_ms) {
    F.failover_at_ms = 0;
    F.workers[0].down = 1;
    for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
      if (F.owner[s] == 1) F.owner[s] = F.map_owner[s] = 2;
    F.epoch++;
  }
  reply_map(socket, identity, req->request_id);
}

static void serve_ingest(fake_worker_t *w, zmq_msg_t *identity, const Tally__Envelope *req) {
  const Tally__IngestBatch *b = req->ingest;
  Tally__Rejection *rej = calloc(b->n_items + 1, sizeof *rej);
  Tally__Rejection **rejp = calloc(b->n_items + 1, sizeof *rejp);
  Tally__IngestReply reply;
  tally__ingest_reply__init(&reply);
  for (size_t i = 0; i < b->n_items; i++) {
    uint32_t slot = slot_of_item(b->project, b->items[i]->id, strlen(b->items[i]->id));
    if (F.owner[slot] == w->id) {
      reply.accepted++;
      continue;
    }
    tally__rejection__init(&rej[reply.n_rejected]);
    rej[reply.n_rejected].index = (uint32_t)i;
    rej[reply.n_rejected].code = TALLY__ERROR_CODE__MOVED;
    rej[reply.n_rejected].message = "moved";
    rejp[reply.n_rejected] = &rej[reply.n_rejected];
    reply.n_rejected++;
    w->moved++;
  }
  w->items += reply.accepted;
  w->batches++;
  if (b->n_items > w->max_batch) w->max_batch = b->n_items;
  reply.rejected = rejp;
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_INGEST_REPLY;
  env.ingest_reply = &reply;
  fake_reply(w->socket, identity, &env);
  free(rej);
  free(rejp);
}

static void serve_lease(fake_worker_t *w, zmq_msg_t *identity, const Tally__Envelope *req) {
  static char *labels[] = {"ok", "spam"};
  Tally__LeaseReply reply;
  Tally__Task task;
  tally__lease_reply__init(&reply);
  tally__task__init(&task);
  w->leases++;
  if (req->lease->wait_ms > w->max_wait) w->max_wait = req->lease->wait_ms;
  if (w->tasks > 0) {
    w->tasks--;
    uint32_t slot = 0;
    while (slot < TALLY_SLOT_COUNT - 1 && F.owner[slot] != w->id) slot++;
    task.slot = slot;
    task.lease_id = 1000 + w->leases;
    task.project = "p";
    task.item_id = w->id == 1 ? "from-1" : "from-2";
    task.market = "es";
    task.content = "{\"sim_truth\":\"spam\"}";
    task.n_labels = 2;
    task.labels = labels;
    task.deadline_ms = clock_now_ms() + 60000;
    task.priority = 2;
    reply.has_task = 1;
    reply.task = &task;
  }
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_LEASE_REPLY;
  env.lease_reply = &reply;
  fake_reply(w->socket, identity, &env);
}

static void serve_status(fake_worker_t *w, zmq_msg_t *identity, const Tally__Envelope *req) {
  Tally__StatusReply reply;
  Tally__QueueStatus q[2], *qp[2] = {&q[0], &q[1]};
  tally__status_reply__init(&reply);
  for (int i = 0; i < 2; i++) tally__queue_status__init(&q[i]);
  reply.worker_id = w->id;
  reply.items = w->items;
  reply.labels = w->submits;
  reply.queued = 10 * w->id;
  q[0].project = "p";
  q[0].market = "es";
  q[0].depth = 10 * w->id;
  q[0].top_priority = w->id;
  q[1].project = "p";
  q[1].market = "ja";
  q[1].depth = 7;
  reply.n_queues = w->id == 2 ? 2 : 1;
  reply.queues = qp;
  Tally__Envelope env;
  wire_envelope_init(&env, req->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_STATUS_REPLY;
  env.status_reply = &reply;
  fake_reply(w->socket, identity, &env);
}

static void serve_worker(fake_worker_t *w, zmq_msg_t *identity, const Tally__Envelope *req) {
  if (w->silent) return;
  Tally__Envelope env;
  uint32_t slot = TALLY_SLOT_COUNT;
  switch (req->body_case) {
    case TALLY__ENVELOPE__BODY_INGEST: serve_ingest(w, identity, req); return;
    case TALLY__ENVELOPE__BODY_LEASE: serve_lease(w, identity, req); return;
    case TALLY__ENVELOPE__BODY_STATUS: serve_status(w, identity, req); return;
    case TALLY__ENVELOPE__BODY_SUBMIT: slot = req->submit->slot; break;
    case TALLY__ENVELOPE__BODY_SKIP: slot = req->skip->slot; break;
    case TALLY__ENVELOPE__BODY_RELEASE: slot = req->release->slot; break;
    case TALLY__ENVELOPE__BODY_ITEM_GET:
      slot = slot_of_item(req->item_get->project, req->item_get->item_id, strlen(req->item_get->item_id));
      break;
    default: break;
  }
  if (slot >= TALLY_SLOT_COUNT || F.owner[slot] != w->id) {
    w->moved++;
    reply_moved(w->socket, identity, req->request_id, slot < TALLY_SLOT_COUNT ? slot : 0);
    return;
  }
  wire_envelope_init(&env, req->request_id);
  Tally__Ack ack;
  Tally__ItemReply item;
  if (req->body_case == TALLY__ENVELOPE__BODY_ITEM_GET) {
    tally__item_reply__init(&item);
    item.project = req->item_get->project;
    item.item_id = req->item_get->item_id;
    item.market = "es";
    item.overlap = 1;
    env.body_case = TALLY__ENVELOPE__BODY_ITEM_REPLY;
    env.item_reply = &item;
  } else {
    w->submits++;
    tally__ack__init(&ack);
    env.body_case = TALLY__ENVELOPE__BODY_ACK;
    env.ack = &ack;
  }
  fake_reply(w->socket, identity, &env);
}

static void serve(void *arg, int index, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  (void)arg;
  if (index == 0) {
    serve_coordinator(socket, identity, req);
    return;
  }
  F.workers[index - 1].socket = socket;
  serve_worker(&F.workers[index - 1], identity, req);
}

/* Slots alternate between the workers; the coordinator knows it. */
static void fake_cluster_start(void) {
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) F.owner[s] = F.map_owner[s] = s % 2 ? 2 : 1;
  F.epoch = 1;
  for (int i = 0; i < FAKE_WORKERS; i++) F.workers[i].id = (uint32_t)i + 1;
  F.fake = fake_start(FAKE_WORKERS, serve, NULL);
  if (F.fake == NULL) {
    fprintf(stderr, "cannot start the fake cluster\n");
    exit(1);
  }
  fake_lock(F.fake);
  snprintf(F.coordinator_endpoint, sizeof F.coordinator_endpoint, "%s", fake_endpoint(F.fake, 0));
  for (int i = 0; i < FAKE_WORKERS; i++)
    snprintf(F.workers[i].endpoint, sizeof F.workers[i].endpoint, "%s", fake_endpoint(F.fake, i + 1));
  fake_unlock(F.fake);
}

static void lock(void) { fake_lock(F.fake); }
static void unlock(void) { fake_unlock(F.fake); }

/* ------------------------------------------------------------ tests */

static tally_item_t *make_items(const char *prefix, size_t n, char ***ids_out) {
  tally_item_t *items = calloc(n, sizeof *items);
  char **ids = calloc(n, sizeof *ids);
  for (size_t i = 0; i < n; i++) {
    ids[i] = malloc(32);
    snprintf(ids[i], 32, "%s-%zu", prefix, i);
    items[i] = (tally_item_t){ids[i], "es", 1, "content", NULL, NULL};
  }
  *ids_out = ids;
  return items;
}

static void free_items(tally_item_t *items, char **ids, size_t n) {
  for (size_t i = 0; i < n; i++) free(ids[i]);
  free(ids);
  free(items);
}

static void test_ingest_split(tally_t *t) {
  char **ids;
  size_t n = 2500;
  tally_item_t *items = make_items("a", n, &ids);
  items[7].market = ""; /* rejected locally, never sent */
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "p", items, n, &res) == 0);
  CHECK(res && res->count == n && res->accepted == n - 1 && res->rejected == 1 && res->duplicates == 0);
  if (res) CHECK(res->items[7].code == TALLY_E_INVALID_ARGUMENT && res->items[0].code == 0);
  uint64_t owned1 = 0;
  for (size_t i = 0; i < n; i++)
    if (i != 7) owned1 += slot_of_item("p", ids[i], strlen(ids[i])) % 2 == 0;
  lock();
  CHECK_EQ_U64(F.workers[0].items, owned1);
  CHECK_EQ_U64(F.workers[1].items, n - 1 - owned1);
  CHECK(F.workers[0].max_batch <= 1000 && F.workers[1].max_batch <= 1000);
  CHECK(F.workers[0].batches >= 2 && F.workers[1].batches >= 2);
  CHECK(F.workers[0].moved == 0 && F.workers[1].moved == 0);
  unlock();
  tally_free(res);
  free_items(items, ids, n);
}

static void test_ingest_moved(tally_t *t) {
  /* Half the slots change hands; the coordinator knows, the client's map
   * is stale: misrouted items come back MOVED and are re-sent. */
  lock();
  for (uint32_t s = 0; s < 512; s++) F.owner[s] = F.map_owner[s] = 2;
  F.epoch++;
  uint64_t maps = F.map_requests, items_before = F.workers[0].items + F.workers[1].items;
  unlock();
  char **ids;
  size_t n = 1200;
  tally_item_t *items = make_items("b", n, &ids);
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "p", items, n, &res) == 0);
  CHECK(res && res->accepted == n && res->rejected == 0);
  lock();
  CHECK(F.map_requests > maps);
  CHECK(F.workers[0].moved > 0);
  CHECK_EQ_U64(F.workers[0].items + F.workers[1].items - items_before, n);
  unlock();
  tally_free(res);
  free_items(items, ids, n);
}

static void test_submit_moved(tally_t *t) {
  /* The coordinator lags: only the worker's hint knows the new owner. */
  lock();
  F.owner[601] = 2; /* map still says 1 */
  uint64_t submits2 = F.workers[1].submits;
  unlock();
  CHECK(tally_submit(t, "ana", 601, 42, "ok", 10) == 0);
  lock();
  CHECK_EQ_U64(F.workers[1].submits, submits2 + 1);
  F.map_owner[601] = 2;
  F.epoch++;
  unlock();
  CHECK(tally_skip(t, "ana", 601, 43) == 0);
  CHECK(tally_release(t, "ana", 601, 44) == 0);
  tally_item_state_t *it = NULL;
  CHECK(tally_item_get(t, "p", "some-item", &it) == 0);
  CHECK(it && strcmp(it->item_id, "some-item") == 0 && strcmp(it->market, "es") == 0 && it->overlap == 1);
  tally_free(it);
  CHECK(tally_submit(t, "ana", 5000, 1, "ok", 0) == TALLY_E_INVALID_ARGUMENT);
}

static void test_lease(tally_t *t) {
  lock();
  F.workers[0].tasks = 0;
  F.workers[1].tasks = 1;
  unlock();
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 0, &task) == 0);
  CHECK(task && strcmp(task->item_id, "from-2") == 0 && task->label_count == 2 &&
        strcmp(task->labels[1], "spam") == 0 && task->priority == 2);
  tally_free(task);
  task = NULL;
  CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 0, &task) == 0 && task == NULL);
  /* A wait keeps asking until it runs out, without hammering the workers. */
  lock();
  uint64_t before = F.workers[0].leases + F.workers[1].leases;
  unlock();
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 400, &task) == 0 && task == NULL);
  uint64_t took = clock_monotonic_ms() - start;
  CHECK(took >= 350 && took < 2000);
  lock();
  uint64_t asked = F.workers[0].leases + F.workers[1].leases - before;
  unlock();
  CHECK(asked >= 2 && asked < 60);
  if (asked >= 60) fprintf(stderr, "  %llu lease requests in one wait\n", (unsigned long long)asked);
}

/* client_lease_order on a map of five workers: 1 has normal label work of
 * project 1 (depth 10); 2 has normal label work of project 1 (depth 30) and
 * emergency label work of project 2 (depth 5); 3 only emergency audit work;
 * 4 is down with emergency label work; 5 is up but owns no slots. */
static void test_lease_order(void) {
  enum { N = 5, HINTS = 5 };
  static char *endpoints[N] = {"tcp://w1:1", "tcp://w2:1", "tcp://w3:1", "tcp://w4:1", "tcp://w5:1"};
  Tally__ClusterMap map;
  Tally__WorkerInfo info[N], *infos[N];
  Tally__BacklogHint h[HINTS], *hp[HINTS];
  tally__cluster_map__init(&map);
  for (int i = 0; i < N; i++) {
    tally__worker_info__init(&info[i]);
    info[i].id = (uint32_t)i + 1;
    info[i].endpoint = endpoints[i];
    info[i].state = TALLY__WORKER_STATE__WORKER_UP;
    info[i].slots_owned = i == 4 ? 0 : 256;
    infos[i] = &info[i];
  }
  const struct { uint32_t project, stage; uint64_t depth; uint32_t top; } spec[HINTS] = {
      {1, 0, 10, 1}, {1, 0, 30, 1}, {2, 0, 5, 3}, {1, 1, 100, 3}, {1, 0, 50, 3}};
  for (int j = 0; j < HINTS; j++) {
    tally__backlog_hint__init(&h[j]);
    h[j].project_id = spec[j].project;
    h[j].market = "es";
    h[j].stage = spec[j].stage;
    h[j].depth = spec[j].depth;
    h[j].top_priority = spec[j].top;
    hp[j] = &h[j];
  }
  info[0].backlog = &hp[0], info[0].n_backlog = 1;
  info[1].backlog = &hp[1], info[1].n_backlog = 2;
  info[2].backlog = &hp[3], info[2].n_backlog = 1;
  info[3].backlog = &hp[4], info[3].n_backlog = 1;
  info[3].state = TALLY__WORKER_STATE__WORKER_DOWN;
  map.n_workers = N;
  map.workers = infos;
  client_lease_choice_t order[N], again[N];

  /* Project 1, label: 1 and 2 (same priority, drawn by depth 10:30), then 3
   * (no hint for it); 4 is down, 5 holds nothing. */
  int shape_ok = 1, first_is_2 = 0;
  for (uint64_t seed = 0; seed < 4000; seed++) {
    size_t n = client_lease_order(&map, 1, 0, NULL, 0, seed, order);
    shape_ok &= n == 3 && order[0].worker + order[1].worker == 1 && order[0].depth > 0 && order[1].depth > 0 &&
                order[2].worker == 2 && order[2].depth == 0;
    first_is_2 += order[0].worker == 1;
  }
  CHECK(shape_ok);
  CHECK(first_is_2 > 2700 && first_is_2 < 3300); /* 3000 expected */
  size_t n = client_lease_order(&map, 1, 0, NULL, 0, 42, order);
  int same = client_lease_order(&map, 1, 0, NULL, 0, 42, again) == n;
  for (size_t i = 0; same && i < n; i++) same = order[i].worker == again[i].worker;
  CHECK(same); /* same seed, same order */

  /* Any project: 2's emergency work of project 2 comes first, always. */
  for (uint64_t seed = 0; seed < 50; seed++) {
    n = client_lease_order(&map, 0, 0, NULL, 0, seed, order);
    CHECK(n == 3 && order[0].worker == 1 && order[0].top_priority == 3 && order[0].depth == 35 &&
          order[1].worker == 0 && order[1].depth == 10 && order[2].worker == 2 && order[2].depth == 0);
  }
  /* Audits of project 1: 3 first, the others after it without hints. */
  n = client_lease_order(&map, 1, 1, NULL, 0, 7, order);
  CHECK(n == 3 && order[0].worker == 2 && order[0].depth == 100 && order[1].depth == 0 && order[2].depth == 0);

  /* Only the person's markets count: 2's emergency is in "ja". An "es"
   * person sees 1 and 2 as equals (normal work), a "ja" person 2 first. */
  h[2].market = "ja";
  static const char *const es[] = {"es"}, *const ja[] = {"ja"}, *const both[] = {"es", "ja"};
  int es_ok = 1;
  for (uint64_t seed = 0; seed < 50; seed++) {
    n = client_lease_order(&map, 0, 0, es, 1, seed, order);
    es_ok &= n == 3 && order[0].top_priority == 1 && order[1].top_priority == 1 && order[0].depth + order[1].depth == 40 &&
             order[2].depth == 0 && client_lease_min_priority(order, n, 0) == 0;
  }
  CHECK(es_ok);
  n = client_lease_order(&map, 0, 0, ja, 1, 3, order);
  CHECK(n == 3 && order[0].worker == 1 && order[0].top_priority == 3 && order[0].depth == 5 && order[1].depth == 0);
  CHECK(client_lease_min_priority(order, n, 0) == 3); /* emergencies: always asked for first */
  n = client_lease_order(&map, 0, 0, both, 2, 3, order);
  CHECK(n == 3 && order[0].worker == 1 && order[0].top_priority == 3 && order[1].worker == 0);
  /* Two tiers: the emergency worker is asked for emergencies first, the
   * lower tier and the unhinted worker for anything. */
  CHECK(client_lease_min_priority(order, n, 0) == 3 && client_lease_min_priority(order, n, 1) == 0 &&
        client_lease_min_priority(order, n, 2) == 0);
  h[2].market = "es";

  /* No hints for the request: every worker with slots, in spread order. */
  int first[N] = {0}, all_three = 1;
  for (uint64_t seed = 0; seed < 3000; seed++) {
    n = client_lease_order(&map, 3, 0, NULL, 0, seed, order);
    all_three &= n == 3;
    first[order[0].worker]++;
  }
  CHECK(all_three);
  CHECK(first[0] > 800 && first[1] > 800 && first[2] > 800 && first[3] == 0 && first[4] == 0);

  /* Nobody owns a slot yet: everyone not down is asked. */
  for (int i = 0; i < N; i++) info[i].slots_owned = 0;
  CHECK(client_lease_order(&map, 3, 0, NULL, 0, 1, order) == 4);
  for (int i = 0; i < N; i++) info[i].state = TALLY__WORKER_STATE__WORKER_DOWN;
  CHECK(client_lease_order(&map, 1, 0, NULL, 0, 1, order) == 0);
}

/* Leases through the fake cluster with backlog hints in the map. */
static void test_lease_hints(tally_t *t) {
  lock();
  F.workers[0].tasks = F.workers[1].tasks = 5;
  F.workers[0].hint_priority = 1, F.workers[0].hint_depth = 100; /* deep, normal */
  F.workers[1].hint_priority = 3, F.workers[1].hint_depth = 1;   /* one emergency item */
  uint64_t maps = F.map_requests;
  unlock();
  /* The map is over a second old: the next lease fetches a fresh one (with
   * the hints) before it chooses, and the leases after it do not. */
  usleep(1100 * 1000);
  int from2 = 0;
  for (int i = 0; i < 4; i++) {
    tally_task_t *task = NULL;
    CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
    from2 += task && strcmp(task->item_id, "from-2") == 0;
    tally_free(task);
  }
  CHECK(from2 == 4);
  lock();
  CHECK_EQ_U64(F.map_requests - maps, 1);
  /* The emergency worker has nothing this person may take: asked first
   * for emergencies (min_priority), then the whole order for anything: it
   * again, then the next one serves. */
  F.workers[1].tasks = 0;
  uint64_t asked2 = F.workers[1].leases;
  unlock();
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 0, &task) == 0 && task && strcmp(task->item_id, "from-1") == 0);
  tally_free(task);
  lock();
  CHECK_EQ_U64(F.workers[1].leases, asked2 + 2);
  /* The hints are of project "p": leases of "q" spread over both. */
  F.workers[0].tasks = F.workers[1].tasks = 100;
  unlock();
  int got[2] = {0, 0};
  for (int i = 0; i < 30; i++) {
    task = NULL;
    CHECK(tally_lease(t, "ana", "q", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
    if (task) got[strcmp(task->item_id, "from-2") == 0]++;
    tally_free(task);
  }
  CHECK(got[0] > 0 && got[1] > 0);
  /* A wait parks the long-poll on the best-hinted worker; the other one is
   * only checked, never held. */
  lock();
  F.workers[0].tasks = F.workers[1].tasks = 0;
  F.workers[0].max_wait = F.workers[1].max_wait = 0;
  unlock();
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 400, &task) == 0 && task == NULL);
  CHECK(clock_monotonic_ms() - start >= 350);
  lock();
  CHECK(F.workers[1].max_wait > 0 && F.workers[0].max_wait == 0);
  F.workers[0].tasks = 5;
  uint64_t before[2] = {F.workers[0].leases, F.workers[1].leases};
  unlock();

  /* Async: the first lease of a key goes to the best-hinted worker, the
   * next one further along the order; after a task it starts over. */
  tally_t *t2 = NULL;
  CHECK(tally_open(&t2, F.coordinator_endpoint, 2000) == 0);
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t2, &map) == 0); /* fresh: no refresh in between */
  tally_free(map);
  tally_async_t *a = NULL;
  CHECK(tally_async_new(&a, t2) == 0);
  int expect_task[3] = {0, 1, 0}, expect_worker[3] = {1, 0, 1};
  for (int i = 0; a && i < 3; i++) {
    int tag = i;
    CHECK(tally_async_lease(a, "ana", "p", TALLY_STAGE_LABEL, 0, &tag) == 0);
    tally_completion_t done[2];
    int got_n = 0;
    uint64_t deadline = clock_monotonic_ms() + 3000;
    while (got_n == 0 && clock_monotonic_ms() < deadline) got_n = tally_async_poll(a, 100, done, 2);
    CHECK(got_n == 1 && done[0].status == 0 && done[0].has_task == expect_task[i]);
    lock();
    CHECK_EQ_U64(F.workers[expect_worker[i]].leases, before[expect_worker[i]] + 1);
    before[expect_worker[i]]++;
    unlock();
  }
  tally_async_destroy(&a);
  tally_close(&t2);
  lock();
  F.workers[0].hint_depth = F.workers[1].hint_depth = 0;
  F.workers[0].tasks = F.workers[1].tasks = 0;
  unlock();
}

/* The map says worker 1 is down: requests for its slots fail at once with
 * a retryable UNAVAILABLE naming the slot and the worker; nothing is sent
 * to it, leases leave it out. */
static void test_down_owner(tally_t *t) {
  lock();
  F.workers[0].down = 1;
  F.epoch++;
  uint32_t slot = 0;
  while (F.owner[slot] != 1) slot++;
  uint64_t submits = F.workers[0].submits, leases = F.workers[0].leases;
  F.workers[0].tasks = 3;
  unlock();
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t, &map) == 0);
  tally_free(map);
  char want[64];
  snprintf(want, sizeof want, "slot %u is owned by worker 1", slot);
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_submit(t, "ana", slot, 1, "ok", 0) == TALLY_E_UNAVAILABLE);
  CHECK(clock_monotonic_ms() - start < 5000);
  CHECK(strstr(tally_last_error(t), want) != NULL && strstr(tally_last_error(t), "retry") != NULL);
  CHECK(tally_last_error_code(t) == TALLY_E_UNAVAILABLE && tally_error_is_retryable(TALLY_E_UNAVAILABLE));
  char id[32];
  for (int i = 0;; i++) {
    snprintf(id, sizeof id, "down-%d", i);
    if (F.owner[slot_of_item("p", id, strlen(id))] == 1) break;
  }
  tally_item_state_t *it = NULL;
  CHECK(tally_item_get(t, "p", id, &it) == TALLY_E_UNAVAILABLE && it == NULL);
  CHECK(strstr(tally_last_error(t), "is owned by worker 1, which is down") != NULL);
  tally_async_t *a = NULL;
  CHECK(tally_async_new(&a, t) == 0);
  int tag = 0;
  CHECK(a && tally_async_submit(a, "ana", slot, 1, "ok", 0, &tag) == TALLY_E_UNAVAILABLE);
  CHECK(strstr(tally_last_error(t), want) != NULL);
  tally_async_destroy(&a);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "ana", "p", TALLY_STAGE_LABEL, 0, &task) == 0 && task == NULL);
  lock();
  CHECK_EQ_U64(F.workers[0].submits, submits);
  CHECK_EQ_U64(F.workers[0].leases, leases);
  F.workers[0].down = 0;
  F.workers[0].tasks = 0;
  F.epoch++;
  unlock();
  CHECK(tally_cluster_map(t, &map) == 0);
  tally_free(map);
  CHECK(tally_submit(t, "ana", slot, 1, "ok", 0) == 0);
}

static void test_status(tally_t *t) {
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "p", &st) == 0);
  if (st == NULL) return;
  lock();
  CHECK_EQ_U64(st->total.items, F.workers[0].items + F.workers[1].items);
  unlock();
  CHECK(st->worker_count == 2 && st->workers_failed == 0);
  CHECK_EQ_U64(st->total.queued, 30);
  CHECK(st->total.queue_count == 2);
  for (size_t i = 0; i < st->total.queue_count; i++) {
    const tally_queue_status_t *q = &st->total.queues[i];
    if (strcmp(q->market, "es") == 0)
      CHECK(q->depth == 30 && q->top_priority == 2);
    else
      CHECK(strcmp(q->market, "ja") == 0 && q->depth == 7);
  }
  tally_free(st);
}

static void test_async(tally_t *shared) {
  (void)shared;
  /* Its own handle with a generous per-request timeout: 1000 requests in
   * flight against a fake worker thread must not time out on a loaded
   * machine (the short timeout of the shared handle is for the tests of
   * silent workers). */
  tally_t *t = NULL;
  CHECK(tally_open(&t, F.coordinator_endpoint, 10000) == 0);
  if (t == NULL) return;
  tally_async_t *a = NULL;
  CHECK(tally_async_new(&a, t) == 0);
  if (a == NULL) {
    tally_close(&t);
    return;
  }
  enum { N = 1000 };
  static int seen[N];
  memset(seen, 0, sizeof seen);
  lock();
  uint64_t before = F.workers[0].submits + F.workers[1].submits;
  unlock();
  for (int i = 0; i < N; i++) CHECK(tally_async_submit(a, "ana", (uint32_t)(i * 7) % 1024, (uint64_t)i, "ok", 1, &seen[i]) == 0);
  CHECK(tally_async_in_flight(a) == N);
  tally_completion_t done[64];
  int completed = 0, failed = 0;
  uint64_t deadline = clock_monotonic_ms() + 10000;
  while (tally_async_in_flight(a) > 0 && clock_monotonic_ms() < deadline) {
    int n = tally_async_poll(a, 100, done, 64);
    CHECK(n >= 0);
    for (int i = 0; i < n; i++) {
      int *tag = done[i].tag;
      (*tag)++;
      completed++;
      failed += done[i].status != 0 || done[i].op != TALLY_OP_SUBMIT;
    }
  }
  CHECK(completed == N && failed == 0);
  int twice = 0;
  for (int i = 0; i < N; i++) twice += seen[i] != 1;
  CHECK(twice == 0);
  lock();
  CHECK_EQ_U64(F.workers[0].submits + F.workers[1].submits - before, N);
  /* A slot moves: the old owner answers MOVED, the request is re-sent to
   * the new owner (from the hint and a map refresh) and completes once,
   * successfully: the caller does not notice the move. */
  F.owner[1001] = F.map_owner[1001] = 1; /* was 2's */
  F.epoch++;
  uint64_t submits_before = F.workers[0].submits;
  unlock();
  int tag = 0;
  CHECK(tally_async_submit(a, "ana", 1001, 1, "ok", 1, &tag) == 0);
  int n = 0;
  while (n == 0 && clock_monotonic_ms() < deadline) n = tally_async_poll(a, 100, done, 64);
  CHECK(n == 1 && done[0].tag == &tag && done[0].status == 0);
  CHECK(tally_async_in_flight(a) == 0);
  lock();
  CHECK_EQ_U64(F.workers[0].submits - submits_before, 1);
  unlock();
  CHECK(tally_async_submit(a, "ana", 1001, 1, "ok", 1, &tag) == 0);
  n = 0;
  while (n == 0 && clock_monotonic_ms() < deadline) n = tally_async_poll(a, 100, done, 64);
  CHECK(n == 1 && done[0].status == 0);
  /* Leases go round the workers: one has tasks, one has none. */
  lock();
  F.workers[0].tasks = 0;
  F.workers[1].tasks = 5;
  unlock();
  int lease_tags[4] = {0};
  for (int i = 0; i < 4; i++) CHECK(tally_async_lease(a, "ana", "p", TALLY_STAGE_LABEL, 0, &lease_tags[i]) == 0);
  int with_task = 0, empty = 0;
  while (tally_async_in_flight(a) > 0 && clock_monotonic_ms() < deadline) {
    n = tally_async_poll(a, 100, done, 2); /* small max: the rest waits for the next poll */
    for (int i = 0; i < n; i++) {
      CHECK(done[i].op == TALLY_OP_LEASE && done[i].status == 0);
      if (done[i].has_task) {
        with_task++;
        CHECK(strcmp(done[i].task.item_id, "from-2") == 0 && done[i].task.label_count == 2 &&
              strcmp(done[i].task.labels[0], "ok") == 0);
      } else {
        empty++;
      }
    }
  }
  CHECK(with_task == 2 && empty == 2);
  CHECK(tally_async_poll(a, 0, done, 64) == 0); /* nothing in flight */
  tally_async_destroy(&a);
  tally_async_destroy(&a);
  CHECK(a == NULL);
  tally_close(&t);
}

static void test_silent_worker(tally_t *t) {
  lock();
  F.workers[0].silent = 1;
  uint32_t slot = 0;
  while (F.owner[slot] != 1) slot++;
  unlock();
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_submit(t, "ana", slot, 1, "ok", 0) == TALLY_E_TIMEOUT);
  uint64_t took = clock_monotonic_ms() - start;
  CHECK(took >= 300 && took < 2500);
  CHECK(strstr(tally_last_error(t), "no reply") != NULL && tally_last_error_code(t) == TALLY_E_TIMEOUT);
  /* Status still sums what the other worker says. */
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "p", &st) == 0);
  CHECK(st && st->workers_failed == 1 && st->workers[0].code == TALLY_E_TIMEOUT && st->workers[1].code == 0);
  tally_free(st);
  /* Async: a completion with TIMEOUT, after the handle's timeout. */
  tally_async_t *a = NULL;
  CHECK(tally_async_new(&a, t) == 0);
  int tag = 0;
  CHECK(tally_async_submit(a, "ana", slot, 1, "ok", 0, &tag) == 0);
  tally_completion_t done[4];
  int n = 0;
  start = clock_monotonic_ms();
  while (n == 0 && clock_monotonic_ms() < start + 3000) n = tally_async_poll(a, -1, done, 4);
  took = clock_monotonic_ms() - start;
  CHECK(n == 1 && done[0].status == TALLY_E_TIMEOUT && done[0].tag == &tag && took >= 250 && took < 1500);
  tally_async_destroy(&a);
  lock();
  F.workers[0].silent = 0;
  unlock();
}

/* Undoes the fake failover: worker 1 back, UP, with its even slots. */
static void failover_undo(void) {
  lock();
  F.failover_at_ms = 0;
  F.workers[0].silent = 0;
  F.workers[0].down = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s += 2) F.owner[s] = F.map_owner[s] = 1;
  F.epoch++;
  unlock();
}

/* Worker 1 dies (it answers nothing) and 1.5 s later the coordinator's map
 * gives its slots to worker 2, as a failover does. A call waiting for
 * worker 1 follows the new map and is answered by worker 2 long before its
 * 20 s reply timeout (without that it would time out first). A call whose
 * short timeouts run out before the failover is refused with TIMEOUT,
 * saying that the map still gives the slot to the silent worker. */
static void test_failover_while_waiting(void) {
  tally_t *t = NULL;
  CHECK(tally_open(&t, F.coordinator_endpoint, 20000) == 0);
  if (t == NULL) return;
  tally_map_t *map = NULL;
  CHECK(tally_cluster_map(t, &map) == 0);
  tally_free(map);
  uint32_t slot = 0;
  while (F.owner[slot] != 1) slot++;
  lock();
  uint64_t submits = F.workers[1].submits;
  F.workers[0].silent = 1;
  F.failover_at_ms = clock_monotonic_ms() + 1500;
  unlock();
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_submit(t, "ana", slot, 1, "ok", 0) == 0);
  CHECK(clock_monotonic_ms() - start < 20000);
  lock();
  CHECK_EQ_U64(F.workers[1].submits, submits + 1);
  unlock();
  failover_undo();
  tally_close(&t);

  /* Short timeouts, no failover yet: TIMEOUT, and why. */
  CHECK(tally_open(&t, F.coordinator_endpoint, 300) == 0);
  if (t == NULL) return;
  CHECK(tally_cluster_map(t, &map) == 0);
  tally_free(map);
  lock();
  F.workers[0].silent = 1;
  unlock();
  CHECK(tally_submit(t, "ana", slot, 1, "ok", 0) == TALLY_E_TIMEOUT);
  CHECK(strstr(tally_last_error(t), "no reply") != NULL);
  CHECK(strstr(tally_last_error(t), "still lists worker 1 UP") != NULL);
  failover_undo();
  tally_close(&t);
}

static void test_unowned_slot(tally_t *t) {
  lock();
  F.owner[900] = F.map_owner[900] = 0;
  F.epoch++;
  unlock();
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_submit(t, "ana", 900, 1, "ok", 0) == TALLY_E_UNAVAILABLE);
  CHECK(strstr(tally_last_error(t), "no owner") != NULL);
  CHECK(clock_monotonic_ms() - start < 5000);
}

static void test_no_coordinator(void) {
  tally_t *t = NULL;
  CHECK(tally_open(&t, "tcp://127.0.0.1:1", 200) == 0);
  tally_project_list_t *list = NULL;
  uint64_t start = clock_monotonic_ms();
  CHECK(tally_project_list(t, &list) == TALLY_E_TIMEOUT && list == NULL);
  CHECK(clock_monotonic_ms() - start < 1500);
  CHECK(strstr(tally_last_error(t), "coordinator") != NULL);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "ana", NULL, TALLY_STAGE_LABEL, 0, &task) == TALLY_E_TIMEOUT && task == NULL);
  /* Ingest still says what became of every item. */
  tally_item_t items[2] = {{"x1", "es", 1, NULL, NULL, NULL}, {"x2", "", 1, NULL, NULL, NULL}};
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "p", items, 2, &res) == TALLY_E_TIMEOUT);
  CHECK(res && res->count == 2 && res->rejected == 2 && res->accepted == 0);
  if (res) CHECK(res->items[0].code == TALLY_E_TIMEOUT && res->items[1].code == TALLY_E_INVALID_ARGUMENT);
  tally_free(res);
  CHECK(tally_ingest(t, "", items, 2, &res) == TALLY_E_INVALID_ARGUMENT && res == NULL);
  tally_close(&t);
  tally_close(&t);
  CHECK(t == NULL);
}

static void kill_nothing(void) {}

int main(void) {
  check_deadline(50, kill_nothing);
  test_lease_order();
  fake_cluster_start();
  tally_t *t = NULL;
  CHECK(tally_open(&t, F.coordinator_endpoint, 400) == 0);
  if (t) {
    test_ingest_split(t);
    test_ingest_moved(t);
    test_submit_moved(t);
    test_lease(t);
    test_status(t);
    test_async(t);
    test_lease_hints(t);
    test_down_owner(t);
    test_silent_worker(t);
    test_unowned_slot(t);
    tally_close(&t);
  }
  test_failover_while_waiting();
  test_no_coordinator();
  fake_stop(&F.fake);
  return check_summary();
}
