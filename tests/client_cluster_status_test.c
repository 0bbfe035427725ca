/* `tally cluster status` against a fake coordinator (tests/client_fake.c)
 * that answers what a replicated cluster will: R = 2, followers and in-sync
 * sets that differ between slots, a slot waiting for its primary, lags
 * (one of them stale: its follower no longer holds the slot), and three
 * coordinators with a leader. Checks the slot groups, their ranges and max
 * lag, and the coordinators in the table, CSV and JSON forms. Then the
 * fake plays a coordinator older than cluster_status (BAD_REQUEST): the
 * command falls back to the map alone, as it printed before.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client_capture.h"
#include "client_fake.h"
#include "slot.h"
#include "tally_error.h"
#include "wire.h"

#define EPOCH 9

static fake_t *fake;
static int old_coordinator; /* answer cluster_status_request like an older coordinator */

static uint32_t owner[TALLY_SLOT_COUNT];
static uint32_t one[] = {1}, two[] = {2}, three[] = {3};

/* The replicas of slot s: worker 1 owns 0-511 (follower 2 in sync, but
 * 100-199 follower 3 out of sync), worker 2 owns 512-1023 (follower 1 in
 * sync, but slot 1000 waits: its follower is out of sync). */
static void slot_replicas(uint32_t s, Tally__SlotReplicas *r) {
  tally__slot_replicas__init(r);
  r->slot = s;
  r->slot_epoch = 4;
  if (s < 512 && (s < 100 || s >= 200)) {
    r->n_followers = 1, r->followers = two;
    r->n_in_sync = 1, r->in_sync = two;
  } else if (s < 512) {
    r->n_followers = 1, r->followers = three;
  } else if (s != 1000) {
    r->n_followers = 1, r->followers = one;
    r->n_in_sync = 1, r->in_sync = one;
  } else {
    r->n_followers = 1, r->followers = one;
    r->waiting = 1;
  }
}

static void fill_map(Tally__ClusterMap *map, Tally__WorkerInfo *infos, Tally__WorkerInfo **workers) {
  static const char *const endpoints[] = {"tcp://127.0.0.1:7401", "tcp://127.0.0.1:7402", "tcp://127.0.0.1:7403"};
  for (int i = 0; i < 3; i++) {
    tally__worker_info__init(&infos[i]);
    infos[i].id = (uint32_t)i + 1;
    infos[i].endpoint = (char *)endpoints[i];
    infos[i].state = TALLY__WORKER_STATE__WORKER_UP;
    infos[i].slots_owned = i < 2 ? 512 : 0;
    infos[i].store_full = i == 2; /* worker 3's store refuses writes */
    workers[i] = &infos[i];
  }
  tally__cluster_map__init(map);
  map->epoch = EPOCH;
  map->slot_count = TALLY_SLOT_COUNT;
  map->n_workers = 3;
  map->workers = workers;
  map->n_slot_owner = TALLY_SLOT_COUNT;
  map->slot_owner = owner;
  map->config_version = 5;
}

static void reply_status(void *socket, zmq_msg_t *identity, uint64_t request_id) {
  static Tally__SlotReplicas replicas[TALLY_SLOT_COUNT];
  static Tally__SlotReplicas *replica_ptrs[TALLY_SLOT_COUNT];
  Tally__WorkerInfo infos[3], *workers[3];
  Tally__ClusterMap map;
  fill_map(&map, infos, workers);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    slot_replicas(s, &replicas[s]);
    replica_ptrs[s] = &replicas[s];
  }
  map.replicas = 2;
  map.n_slots = TALLY_SLOT_COUNT;
  map.slots = replica_ptrs;

  Tally__CoordinatorInfo coordinators[3], *coordinator_ptrs[3];
  static const char *const endpoints[] = {"tcp://127.0.0.1:7400", "tcp://127.0.0.1:7410", "tcp://127.0.0.1:7420"};
  static const char *const raft[] = {"127.0.0.1:7500", "127.0.0.1:7510", "127.0.0.1:7520"};
  for (int i = 0; i < 3; i++) {
    tally__coordinator_info__init(&coordinators[i]);
    coordinators[i].raft_id = (uint64_t)i + 1;
    coordinators[i].endpoint = (char *)endpoints[i];
    coordinators[i].raft_address = (char *)raft[i];
    coordinators[i].leader = i == 1;
    coordinator_ptrs[i] = &coordinators[i];
  }
  /* slot, follower, lag: two in the first group (max 30), the out-of-sync
   * follower far behind, a caught-up one, and a stale one (follower 3 no
   * longer holds slot 7) that must not count. */
  static const uint32_t lag_values[][3] = {{5, 2, 12}, {6, 2, 30}, {150, 3, 5000}, {600, 1, 0}, {7, 3, 99999}};
  Tally__ReplicaLag lags[5], *lag_ptrs[5];
  for (int i = 0; i < 5; i++) {
    tally__replica_lag__init(&lags[i]);
    lags[i].slot = lag_values[i][0];
    lags[i].follower_id = lag_values[i][1];
    lags[i].lag_ms = lag_values[i][2];
    lags[i].sent_seq = 100;
    lags[i].acked_seq = 90;
    lag_ptrs[i] = &lags[i];
  }
  Tally__ClusterStatus status = TALLY__CLUSTER_STATUS__INIT;
  status.map = &map;
  status.n_coordinators = 3;
  status.coordinators = coordinator_ptrs;
  status.leader_id = 2;
  status.raft_term = 7;
  status.raft_commit_index = 1234;
  status.n_lags = 5;
  status.lags = lag_ptrs;
  Tally__Envelope env;
  wire_envelope_init(&env, request_id);
  env.body_case = TALLY__ENVELOPE__BODY_CLUSTER_STATUS;
  env.cluster_status = &status;
  fake_reply(socket, identity, &env);
}

static void serve(void *arg, int index, void *socket, zmq_msg_t *identity, const Tally__Envelope *req) {
  (void)arg;
  if (index == 0 && req->body_case == TALLY__ENVELOPE__BODY_CLUSTER_STATUS_REQUEST && !old_coordinator) {
    reply_status(socket, identity, req->request_id);
  } else if (index == 0 && req->body_case == TALLY__ENVELOPE__BODY_CLUSTER_STATUS_REQUEST) {
    /* what a coordinator without this body in its proto answers */
    fake_reply_error(socket, identity, req->request_id, TALLY_E_BAD_REQUEST, "malformed request");
  } else if (index == 0 && req->body_case == TALLY__ENVELOPE__BODY_MAP_REQUEST) {
    fake_map_worker_t workers[3] = {{1, "tcp://127.0.0.1:7401", 0, 512},
                                    {2, "tcp://127.0.0.1:7402", 0, 512},
                                    {3, "tcp://127.0.0.1:7403", 0, 0}};
    fake_reply_map(socket, identity, req->request_id, EPOCH, workers, 3, owner);
  } else {
    fake_reply_error(socket, identity, req->request_id, TALLY_E_UNKNOWN_TYPE, NULL);
  }
}

/* `text` with every run of spaces made one space (table columns are
 * padded to the widest cell). malloc'ed. */
static char *squeeze(const char *text) {
  char *out = malloc(strlen(text ? text : "") + 1);
  size_t n = 0;
  for (const char *p = text ? text : ""; *p; p++)
    if (!(*p == ' ' && n > 0 && out[n - 1] == ' ')) out[n++] = *p;
  out[n] = '\0';
  return out;
}

static int has(const char *text, const char *needle) {
  int found = text != NULL && strstr(text, needle) != NULL;
  if (!found) fprintf(stderr, "FAIL: no '%s' in:\n%s\n", needle, text ? text : "(null)");
  return found;
}

static void test_table(const char *ep) {
  capture_t c;
  CHECK(capture_run(&c, ep, ARGV("tally", "cluster", "status")) == CLI_EXIT_OK);
  char *out = squeeze(c.out);
  CHECK(has(out, "epoch 9, 1024 slots, 0 unassigned"));
  CHECK(has(out, "\n3 full tcp://127.0.0.1:7403 0 "));
  CHECK(has(out, "replication factor 2"));
  CHECK(has(out, "SLOTS SLOT_COUNT PRIMARY FOLLOWERS IN_SYNC WAITING MAX_LAG_MS\n"));
  /* One row per group, in order of first slot; the max lag leaves the
   * stale report (slot 7, follower 3) out. */
  CHECK(has(out, "\n0-99,200-511 412 1 2 2 no 30\n100-199 100 1 3 - no 5000\n"
                 "512-999,1001-1023 511 2 1 1 no 0\n1000 1 2 1 - yes -\n"));
  CHECK(has(out, "coordinators: 3, leader 2, raft term 7, commit index 1234"));
  CHECK(has(out, "RAFT_ID ENDPOINT RAFT_ADDRESS LEADER\n1 tcp://127.0.0.1:7400 127.0.0.1:7500 no\n"
                 "2 tcp://127.0.0.1:7410 127.0.0.1:7510 yes\n"));
  free(out);
  capture_close(&c);
  /* --rows slots: that table alone. */
  CHECK(capture_run(&c, ep, ARGV("tally", "cluster", "status", "--rows", "slots")) == CLI_EXIT_OK);
  CHECK(has(c.out, "SLOTS") && c.out && strstr(c.out, "ID  STATE") == NULL && strstr(c.out, "RAFT_ID") == NULL);
  capture_close(&c);
}

static void test_csv(const char *ep) {
  capture_t c;
  CHECK(capture_run(&c, ep, ARGV("tally", "--format", "csv", "cluster", "status", "--rows", "slots")) ==
        CLI_EXIT_OK);
  CHECK(has(c.out, "slots,slot_count,primary,followers,in_sync,waiting,max_lag_ms,replicas,epoch\r\n"
                   "\"0-99,200-511\",412,1,2,2,no,30,2,9\r\n"
                   "100-199,100,1,3,,no,5000,2,9\r\n"
                   "\"512-999,1001-1023\",511,2,1,1,no,0,2,9\r\n"
                   "1000,1,2,1,,yes,,2,9\r\n"));
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "--format", "csv", "cluster", "status", "--rows", "coordinators")) ==
        CLI_EXIT_OK);
  CHECK(has(c.out, "raft_id,endpoint,raft_address,leader,leader_id,raft_term,raft_commit_index\r\n"
                   "1,tcp://127.0.0.1:7400,127.0.0.1:7500,no,2,7,1234\r\n"
                   "2,tcp://127.0.0.1:7410,127.0.0.1:7510,yes,2,7,1234\r\n"
                   "3,tcp://127.0.0.1:7420,127.0.0.1:7520,no,2,7,1234\r\n"));
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "--format", "csv", "cluster", "status")) == CLI_EXIT_OK);
  CHECK(has(c.out, ",unassigned_slots,replicas,store_full\r\n1,up,tcp://127.0.0.1:7401,512,"));
  CHECK(has(c.out, ",0,0,2,no\r\n3,up,"));  /* CSV keeps the state; the last column says full */
  CHECK(has(c.out, ",0,0,2,yes\r\n"));
  capture_close(&c);
}

static void test_json(const char *ep) {
  capture_t c;
  CHECK(capture_run(&c, ep, ARGV("tally", "--format", "json", "cluster", "status")) == CLI_EXIT_OK);
  json_t *doc = json_loads(c.out ? c.out : "", 0, NULL);
  CHECK(doc != NULL);
  json_t *groups = json_object_get(doc, "slot_groups");
  CHECK(json_integer_value(json_object_get(doc, "replicas")) == 2);
  CHECK(json_array_size(groups) == 4);
  json_t *g0 = json_array_get(groups, 0), *g3 = json_array_get(groups, 3), *g1 = json_array_get(groups, 1);
  CHECK(g0 && strcmp(json_string_value(json_object_get(g0, "slots")), "0-99,200-511") == 0 &&
        json_integer_value(json_object_get(g0, "max_lag_ms")) == 30 &&
        json_integer_value(json_array_get(json_object_get(g0, "in_sync"), 0)) == 2);
  CHECK(g1 && json_array_size(json_object_get(g1, "in_sync")) == 0 &&
        json_integer_value(json_array_get(json_object_get(g1, "followers"), 0)) == 3);
  CHECK(g3 && json_is_true(json_object_get(g3, "waiting")) && json_is_null(json_object_get(g3, "max_lag_ms")) &&
        json_integer_value(json_object_get(g3, "primary")) == 2);
  json_t *coordinators = json_object_get(doc, "coordinators");
  CHECK(json_array_size(coordinators) == 3 &&
        json_is_true(json_object_get(json_array_get(coordinators, 1), "leader")) &&
        json_is_false(json_object_get(json_array_get(coordinators, 0), "leader")));
  CHECK(json_integer_value(json_object_get(doc, "leader_id")) == 2 &&
        json_integer_value(json_object_get(doc, "raft_term")) == 7 &&
        json_integer_value(json_object_get(doc, "raft_commit_index")) == 1234);
  CHECK(json_array_size(json_object_get(doc, "lags")) == 5); /* as reported, the stale one too */
  CHECK(json_array_size(json_object_get(doc, "workers")) == 3);
  json_t *workers = json_object_get(doc, "workers");
  CHECK(json_is_false(json_object_get(json_array_get(workers, 0), "store_full")) &&
        json_is_true(json_object_get(json_array_get(workers, 2), "store_full")));
  json_decref(doc);
  capture_close(&c);
}

/* A coordinator older than cluster_status: the map as before, a note. */
static void test_old_coordinator(const char *ep) {
  fake_lock(fake);
  old_coordinator = 1;
  fake_unlock(fake);
  capture_t c;
  CHECK(capture_run(&c, ep, ARGV("tally", "cluster", "status")) == CLI_EXIT_OK);
  CHECK(has(c.out, "epoch 9, 1024 slots, 0 unassigned"));
  CHECK(has(c.out, "ID  STATE"));
  CHECK(c.out && strstr(c.out, "replication factor") == NULL && strstr(c.out, "coordinators") == NULL);
  CHECK(has(c.err, "older version"));
  capture_close(&c);
  CHECK(capture_run(&c, ep, ARGV("tally", "--format", "csv", "cluster", "status")) == CLI_EXIT_OK);
  CHECK(has(c.out, ",unavailable_slots,unassigned_slots\r\n")); /* no replicas column */
  capture_close(&c);
  fake_lock(fake);
  old_coordinator = 0;
  fake_unlock(fake);
}

static void kill_nothing(void) {}

int main(void) {
  check_deadline(50, kill_nothing);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) owner[s] = s < 512 ? 1 : 2;
  fake = fake_start(0, serve, NULL);
  if (fake == NULL) {
    fprintf(stderr, "cannot start the fake coordinator\n");
    return 1;
  }
  const char *ep = fake_endpoint(fake, 0);
  test_table(ep);
  test_csv(ep);
  test_json(ep);
  test_old_coordinator(ep);
  fake_stop(&fake);
  return check_summary();
}
