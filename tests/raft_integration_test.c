/* Replicated coordinators end to end: three real tally-coordinators in a
 * Raft group (--raft-id, --peers) and two real workers, from
 * tests/harness.h, secure (CURVE) as in production.
 *
 *  - The followers answer NOT_LEADER naming the leader's endpoint.
 *  - A client given only a follower's endpoint creates a project and a
 *    labeler (it follows the redirect).
 *  - kill -9 of the leader: another is elected, and the same client (given
 *    all three endpoints) creates another project and labels an item in
 *    it; the time from the kill to that first successful write is printed
 *    (docs/PERFORMANCE.md), never asserted.
 *  - The workers heartbeat to the new leader: both stay UP past its
 *    heartbeat timeout.
 *  - The killed coordinator, restarted, catches up: its own store (opened
 *    after it was stopped) holds both projects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "dealer.h"
#include "harness.h"
#include "meta_store.h"
#include "tally.h"
#include "tally_error.h"
#include "wire.h"

static cluster_t cluster;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int make_project(tally_t *t, const char *name) {
  const char *labels[] = {"ok", "spam"};
  const char *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = name;
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  spec.lease_seconds = 300;
  tally_project_t *out = NULL;
  int rc = tally_project_create(t, &spec, &out);
  if (rc != 0) fprintf(stderr, "project create %s: %s\n", name, tally_last_error(t));
  tally_free(out);
  return rc;
}

static int make_labeler(tally_t *t, const char *id) {
  const char *markets[] = {"es"};
  tally_labeler_t spec = {id, TALLY_ROLE_LABELER, markets, 1, NULL};
  tally_labeler_t *out = NULL;
  int rc = tally_labeler_add(t, &spec, &out);
  if (rc != 0) fprintf(stderr, "labeler add %s: %s\n", id, tally_last_error(t));
  tally_free(out);
  return rc;
}

/* Ingests one item into `project` and has `labeler` label it. 0 or the error. */
static int label_one(tally_t *t, const char *project, const char *labeler) {
  tally_item_t item = {0};
  item.id = "item-1";
  item.market = "es";
  item.priority = TALLY_PRIORITY_NORMAL;
  item.content = "{\"text\":\"hola\"}";
  tally_ingest_result_t *res = NULL;
  int rc = tally_ingest(t, project, &item, 1, &res);
  if (rc == 0 && (res == NULL || res->accepted + res->duplicates != 1)) rc = TALLY_E_INTERNAL;
  tally_free(res);
  tally_task_t *task = NULL;
  if (rc == 0) rc = tally_lease(t, labeler, project, TALLY_STAGE_LABEL, 0, &task);
  if (rc == 0 && task == NULL) rc = TALLY_E_NOT_FOUND;
  if (rc == 0) rc = tally_submit(t, labeler, task->slot, task->lease_id, "spam", 700);
  tally_free(task);
  if (rc != 0) fprintf(stderr, "label in %s: %s\n", project, tally_last_error(t));
  return rc;
}

/* A follower's answer to any request: NOT_LEADER with the leader's endpoint. */
static void check_follower_redirects(int follower, int leader) {
  void *ctx = zmq_ctx_new();
  curve_client_t buf;
  dealer_t *d = NULL;
  CHECK(dealer_new(&d, ctx, cluster.replica_endpoints[follower], harness_curve(&cluster, -1, &buf)) == 0);
  Tally__Envelope request, *reply = NULL;
  Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
  wire_envelope_init(&request, 0);
  request.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
  request.map_request = &body;
  int rc = TALLY_E_TRANSPORT;
  /* A follower learns who leads from the leader's first heartbeat (100 ms;
   * longer under a sanitizer on a loaded machine): until then it names none. */
  for (int attempt = 0; attempt < 50 && d != NULL; attempt++) {
    wire_envelope_free(&reply);
    rc = dealer_call(d, &request, 3000, &reply);
    if (rc != TALLY_E_NOT_LEADER || reply == NULL || reply->error->leader_endpoint[0] != '\0') break;
    sleep_ms(100);
  }
  CHECK(rc == TALLY_E_NOT_LEADER);
  CHECK(reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_ERROR &&
        strcmp(reply->error->leader_endpoint, cluster.replica_endpoints[leader]) == 0);
  wire_envelope_free(&reply);
  dealer_destroy(&d);
  zmq_ctx_term(ctx);
}

/* The workers as the leader's map shows them: how many are UP. */
static int workers_up(tally_t *t) {
  tally_map_t *map = NULL;
  int up = 0;
  if (tally_cluster_map(t, &map) == 0 && map != NULL)
    for (size_t i = 0; i < map->worker_count; i++) up += map->workers[i].state == TALLY_WORKER_UP;
  tally_free(map);
  return up;
}

typedef struct {
  int alpha, beta;
} seen_t;

static int note_project(void *user, ProtobufCMessage *record) {
  seen_t *seen = user;
  const Tally__Project *project = (const Tally__Project *)record;
  seen->alpha |= strcmp(project->name, "alpha") == 0;
  seen->beta |= strcmp(project->name, "beta") == 0;
  protobuf_c_message_free_unpacked(record, NULL);
  return 0;
}

/* Stops coordinator `id` and reads its own store: 1 when it holds both
 * projects. */
static int replica_holds_both(int id) {
  cluster_kill_replica(&cluster, id, SIGTERM);
  char path[600];
  snprintf(path, sizeof path, "%s/coordinator-%d/meta", cluster.dir, id);
  meta_store_t *store = NULL;
  seen_t seen = {0, 0};
  if (meta_store_open(&store, path) == 0) meta_store_load(store, META_PROJECTS, note_project, &seen);
  meta_store_close(&store);
  return seen.alpha && seen.beta;
}

int main(void) {
  harness_init(300);
  cluster.coordinators = 3;
  if (cluster_start(&cluster, 2) != 0) {
    fprintf(stderr, "cannot start the cluster (see %s)\n", cluster.dir);
    harness_kill_all();
    return 1;
  }
  int leader = cluster_leader(&cluster, 10000);
  CHECK(leader >= 1 && leader <= 3);
  if (leader == 0) {
    cluster_stop(&cluster);
    return check_summary();
  }
  int follower = leader % 3 + 1;
  check_follower_redirects(follower, leader);

  /* A client that knows only a follower is sent to the leader. */
  tally_t *via_follower = NULL;
  CHECK(tally_open(&via_follower, cluster.replica_endpoints[follower], 3000) == 0);
  uint64_t started = now_ms();
  CHECK(make_project(via_follower, "alpha") == 0);
  uint64_t first_write_ms = now_ms() - started;
  CHECK(make_labeler(via_follower, "ana") == 0);
  /* Commit latency as a client sees it (round trip + Raft commit + apply). */
  started = now_ms();
  int latency_n = 0;
  for (int i = 0; i < 10; i++) {
    char id[16];
    snprintf(id, sizeof id, "lab-%d", i);
    if (make_labeler(via_follower, id) == 0) latency_n++;
  }
  CHECK(latency_n == 10);
  uint64_t latency_ms = latency_n ? (now_ms() - started) / (uint64_t)latency_n : 0;
  tally_close(&via_follower);
  fprintf(stderr, "raft: first write through a follower %llu ms; labeler_add %llu ms each (mean of 10)\n",
          (unsigned long long)first_write_ms, (unsigned long long)latency_ms);

  tally_t *t = NULL;
  CHECK(tally_open(&t, cluster.coordinator_endpoint, 2000) == 0);
  CHECK(label_one(t, "alpha", "ana") == 0);

  /* kill -9 the leader; the same client writes again as soon as it can. */
  cluster_kill_replica(&cluster, leader, SIGKILL);
  uint64_t killed = now_ms();
  int rc = make_project(t, "beta");
  uint64_t failover_ms = now_ms() - killed;
  CHECK(rc == 0);
  /* A worker that has not found the new leader yet does not know "beta"
   * (UNKNOWN_PROJECT) for a moment: retried as a client would, 5 s at most. */
  for (int attempt = 0; attempt < 25; attempt++) {
    rc = label_one(t, "beta", "ana");
    if (rc != TALLY_E_UNKNOWN_PROJECT) break;
    sleep_ms(200);
  }
  uint64_t labeled_ms = now_ms() - killed;
  CHECK(rc == 0);
  int new_leader = cluster_leader(&cluster, 10000);
  CHECK(new_leader != 0 && new_leader != leader);
  fprintf(stderr,
          "raft: leader %d killed (SIGKILL); coordinator %d leads; first write %llu ms after the "
          "kill, an item labeled in the new project %llu ms after it\n",
          leader, new_leader, (unsigned long long)failover_ms, (unsigned long long)labeled_ms);

  /* The workers heartbeat to the new leader: both UP (a worker slower to
   * find it than the new leader's 3 s heartbeat timeout, possible under a
   * sanitizer on a loaded machine, is UP again with its next heartbeat),
   * and still UP after more than that timeout. */
  int up = 0;
  for (int attempt = 0; attempt < 50 && (up = workers_up(t)) != 2; attempt++) sleep_ms(200);
  CHECK(up == 2);
  sleep_ms(4500);
  CHECK(workers_up(t) == 2);

  /* Cluster status lists the three coordinators, the new leader marked. */
  tally_cluster_status_t *status = NULL;
  CHECK(tally_cluster_status(t, &status) == 0);
  if (status != NULL) {
    CHECK(status->coordinator_count == 3);
    CHECK(status->leader_id == (uint64_t)new_leader);
    size_t leaders = 0;
    for (size_t i = 0; i < status->coordinator_count; i++) {
      if (!status->coordinators[i].leader) continue;
      leaders++;
      CHECK(status->coordinators[i].raft_id == (uint64_t)new_leader);
    }
    CHECK(leaders == 1);
    CHECK(status->raft_term >= 2);
    tally_free(status);
  }

  /* The killed coordinator comes back and catches up. */
  CHECK(cluster_start_replica(&cluster, leader) == 0);
  int caught_up = 0;
  for (int attempt = 0; attempt < 10 && !caught_up; attempt++) {
    sleep_ms(1500);
    caught_up = replica_holds_both(leader);
    if (!caught_up) CHECK(cluster_start_replica(&cluster, leader) == 0);
  }
  CHECK(caught_up);
  /* And the group still serves, with all three members again. */
  if (caught_up) CHECK(cluster_start_replica(&cluster, leader) == 0);
  CHECK(make_labeler(t, "ben") == 0);
  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
