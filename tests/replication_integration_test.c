/* Replication and failover (docs/REPLICATION.md), on three real workers
 * with --replicas 2:
 *  (a) a crowd ingests and labels; the worker that is primary of a third
 *      of the slots is killed with SIGKILL; its in-sync followers take its
 *      slots over and clients are served for those slots again (the time
 *      from the kill to the first acknowledgement on one of them is
 *      printed); every acknowledged ingest and label is there exactly once;
 *  (b) the old primary, restarted, is fenced: a write for a slot it lost
 *      is answered MOVED, with the new primary's endpoint; it becomes an
 *      in-sync follower again (after a full copy);
 *  (c) a follower killed leaves the in-sync sets and writes go on.
 * The load runs in a child process that reports each acknowledgement (with
 * its time) through a pipe, so the test knows what was acknowledged. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "dealer.h"
#include "harness.h"
#include "slot.h"
#include "tally.h"
#include "tally_error.h"
#include "wire.h"

#define MAX_ACKS 200000
#define PROJECT "rep"

static cluster_t cluster;

typedef struct {
  char kind; /* 'I' ingested, 'L' labeled */
  char item[32];
  char labeler[16];
  char label[16];
  uint64_t at_ms; /* monotonic */
} ack_t;

static ack_t *acks;
static int n_acks;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static tally_t *client(int timeout_ms) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, timeout_ms) != 0) exit(1);
  return t;
}

/* The coordinator's map, with the replication fields (caller frees). */
static int has(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

/* Waits until every slot has one follower, in sync, none of them `not`
 * (0: any). Returns the map (caller frees) or NULL after `seconds`. */
static Tally__ClusterMap *wait_all_in_sync(int seconds, uint32_t not) {
  uint64_t deadline = now_ms() + (uint64_t)seconds * 1000u;
  while (now_ms() < deadline) {
    Tally__ClusterMap *map = cluster_fetch_map(&cluster);
    int ok = map != NULL && map->replicas == 2 && map->n_slots == TALLY_SLOT_COUNT;
    for (size_t s = 0; ok && s < map->n_slots; s++) {
      const Tally__SlotReplicas *r = map->slots[s];
      ok = r->n_followers == 1 && r->n_in_sync == 1 && r->in_sync[0] == r->followers[0] &&
           r->in_sync[0] != not && map->slot_owner[s] != 0 && map->slot_owner[s] != not;
    }
    if (ok) return map;
    if (map) tally__cluster_map__free_unpacked(map, NULL);
    usleep(200 * 1000);
  }
  return NULL;
}

/* Ingests and labels until the parent closes `stop` (or LOAD_MAX_S pass),
 * writing a line per acknowledged write to `out`. */
#define LOAD_MAX_S 120
static int load_stopped(int stop) {
  struct pollfd p = {stop, POLLIN, 0};
  return poll(&p, 1, 0) > 0; /* readable: EOF, the parent closed it */
}

static void load_child(int out, int stop, int round) {
  tally_t *t = client(700);
  static const char *labels[] = {"ok", "spam", "hate"};
  FILE *f = fdopen(out, "w");
  setvbuf(f, NULL, _IOLBF, 0);
  uint64_t end = now_ms() + LOAD_MAX_S * 1000u;
  for (int batch = 0; now_ms() < end && !load_stopped(stop); batch++) {
    tally_item_t items[40];
    char ids[40][32];
    for (int i = 0; i < 40; i++) {
      snprintf(ids[i], sizeof ids[i], "r%d-b%d-%d", round, batch, i);
      items[i] = (tally_item_t){ids[i], i % 2 ? "es" : "ja", 0, "{}", NULL, NULL};
    }
    tally_ingest_result_t *res = NULL;
    if (tally_ingest(t, PROJECT, items, 40, &res) == 0 || res != NULL) {
      for (int i = 0; res != NULL && i < 40 && (size_t)i < res->count; i++)
        if (res->items[i].code == 0)
          fprintf(f, "I %s - - %llu\n", ids[i], (unsigned long long)now_ms());
    }
    tally_free(res);
    for (int k = 0; k < 16; k++) {
      char who[16];
      snprintf(who, sizeof who, "p%d", k % 4);
      tally_task_t *task = NULL;
      if (tally_lease(t, who, PROJECT, TALLY_STAGE_LABEL, 0, &task) != 0 || task == NULL) break;
      const char *label = labels[(batch + k) % 3];
      if (tally_submit(t, who, task->slot, task->lease_id, label, 10) == 0)
        fprintf(f, "L %s %s %s %llu\n", task->item_id, who, label,
                (unsigned long long)now_ms());
      tally_free(task);
    }
  }
  fclose(f);
  tally_close(&t);
  _exit(0);
}

/* Runs the load. Once `kill_after` ingests (and a fifth as many labels)
 * were acknowledged, or 10 s passed with some of each (a loaded machine),
 * kills worker `victim` with SIGKILL and records the time in *killed_ms;
 * the load goes on for `seconds` after the kill (or from the start without
 * a kill: kill_after 0). */
static void run_load(int round, int seconds, int kill_after, int victim, uint64_t *killed_ms) {
  int p[2], stop[2];
  CHECK(pipe(p) == 0 && pipe(stop) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(p[0]);
    close(stop[1]);
    load_child(p[1], stop[0], round);
  }
  close(p[1]);
  close(stop[0]);
  FILE *in = fdopen(p[0], "r");
  char line[256];
  int ingested = 0, labeled = 0, stopped = 0;
  uint64_t started = now_ms();
  if (killed_ms) *killed_ms = 0;
  while (fgets(line, sizeof line, in) != NULL) {
    uint64_t now = now_ms();
    uint64_t from = kill_after > 0 && killed_ms ? *killed_ms : started;
    if (!stopped && from != 0 && now >= from + (uint64_t)seconds * 1000u) {
      close(stop[1]); /* the child stops after its current round */
      stopped = 1;
    }
    if (n_acks >= MAX_ACKS) continue;
    ack_t *a = &acks[n_acks];
    unsigned long long at = 0;
    if (sscanf(line, "%c %31s %15s %15s %llu", &a->kind, a->item, a->labeler, a->label, &at) != 5)
      continue;
    a->at_ms = at;
    n_acks++;
    ingested += a->kind == 'I';
    labeled += a->kind == 'L';
    if (kill_after > 0 && killed_ms && *killed_ms == 0 &&
        ((ingested >= kill_after && labeled >= kill_after / 5) ||
         (now - started >= 10000 && ingested > 0 && labeled > 0))) {
      cluster_kill_worker(&cluster, victim, SIGKILL);
      *killed_ms = now_ms();
    }
  }
  if (!stopped) close(stop[1]);
  fclose(in);
  waitpid(child, NULL, 0);
}

/* Every acknowledged ingest and label is there, each label once. */
static void verify(tally_t *t) {
  int missing_items = 0, missing_labels = 0, doubled = 0;
  for (int i = 0; i < n_acks; i++) {
    ack_t *a = &acks[i];
    tally_item_state_t *item = NULL;
    int rc = -1;
    for (int attempt = 0; attempt < 20 && rc != 0; attempt++) {
      rc = tally_item_get(t, PROJECT, a->item, &item);
      if (rc != 0 && tally_error_is_retryable(rc)) usleep(250 * 1000);
      else if (rc != 0) break;
    }
    if (rc != 0) {
      if (missing_items < 5) fprintf(stderr, "missing item %s: %s\n", a->item, tally_strerror(rc));
      missing_items++;
      continue;
    }
    if (item->label_count > 1) doubled++;
    if (a->kind == 'L') {
      int found = 0;
      for (size_t j = 0; j < item->label_count; j++)
        found += strcmp(item->labels[j].labeler, a->labeler) == 0 &&
                 strcmp(item->labels[j].label, a->label) == 0;
      if (found != 1 && missing_labels < 5)
        fprintf(stderr, "label of %s by %s: found %d times\n", a->item, a->labeler, found);
      missing_labels += found != 1;
    }
    tally_free(item);
  }
  printf("verified %d acknowledgements: %d items missing, %d labels missing or doubled, %d items "
         "over their overlap\n",
         n_acks, missing_items, missing_labels, doubled);
  CHECK_EQ_U64(missing_items, 0);
  CHECK_EQ_U64(missing_labels, 0);
  CHECK_EQ_U64(doubled, 0);
}

/* A raw request to the worker at index `w`: an ingest of `item` (write)
 * or an item_get (read). Its error code (0: accepted), and the endpoint a
 * MOVED names. */
static int raw_request(int w, const char *item, int write, char *moved_to, size_t size) {
  void *ctx = zmq_ctx_new();
  dealer_t *d = NULL;
  curve_client_t buf;
  int code = -1;
  if (dealer_new(&d, ctx, cluster.worker_endpoints[w], harness_curve(&cluster, w, &buf)) == 0) {
    Tally__Envelope request, *reply = NULL;
    Tally__IngestBatch body = TALLY__INGEST_BATCH__INIT;
    Tally__Item one = TALLY__ITEM__INIT, *ptr = &one;
    Tally__ItemGet get = TALLY__ITEM_GET__INIT;
    wire_envelope_init(&request, 0);
    if (write) {
      one.id = (char *)item;
      one.market = "es";
      one.content = "{}";
      body.project = PROJECT;
      body.n_items = 1;
      body.items = &ptr;
      request.body_case = TALLY__ENVELOPE__BODY_INGEST;
      request.ingest = &body;
    } else {
      get.project = PROJECT;
      get.item_id = (char *)item;
      request.body_case = TALLY__ENVELOPE__BODY_ITEM_GET;
      request.item_get = &get;
    }
    int rc = dealer_call(d, &request, 3000, &reply);
    if (rc == 0 && reply->body_case == TALLY__ENVELOPE__BODY_INGEST_REPLY) {
      code = reply->ingest_reply->n_rejected == 1
                 ? tally_error_from_wire((int)reply->ingest_reply->rejected[0]->code)
                 : 0;
    } else if (reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_ERROR) {
      code = tally_error_from_wire((int)reply->error->code);
      if (reply->error->owner_endpoint) snprintf(moved_to, size, "%s", reply->error->owner_endpoint);
    } else {
      code = rc;
    }
    wire_envelope_free(&reply);
  }
  dealer_destroy(&d);
  zmq_ctx_term(ctx);
  return code;
}

int main(void) {
  harness_init(280);
  acks = calloc(MAX_ACKS, sizeof *acks);
  cluster.replicas = 2;
  /* The daemons' default timeout (2 s); a sanitizer build (its tests run
   * with ASAN_OPTIONS set) is slow enough on a loaded machine for a worker
   * to miss 2 s of heartbeats now and then, and each such miss is a
   * failover, so it gets 4 s. */
  cluster.coordinator_args[0] = "--heartbeat-timeout-ms";
  cluster.coordinator_args[1] = getenv("ASAN_OPTIONS") != NULL ? "4000" : "2000";
  if (cluster_start(&cluster, 3) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = client(3000);
  const char *labels[] = {"ok", "spam", "hate"}, *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = PROJECT;
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = 1;
  spec.lease_seconds = 30;
  tally_project_t *created = NULL;
  CHECK(tally_project_create(t, &spec, &created) == 0);
  tally_free(created);
  for (int i = 0; i < 4; i++) {
    char id[8];
    snprintf(id, sizeof id, "p%d", i);
    tally_labeler_t l = {id, TALLY_ROLE_LABELER, markets, 2, NULL};
    tally_labeler_t *out = NULL;
    CHECK(tally_labeler_add(t, &l, &out) == 0);
    tally_free(out);
  }
  tally_close(&t);

  uint64_t started = now_ms();
  Tally__ClusterMap *map = wait_all_in_sync(90, 0);
  CHECK(map != NULL);
  if (map == NULL) {
    cluster_stop(&cluster);
    return check_summary();
  }
  printf("every slot has an in-sync follower after %llu ms\n",
         (unsigned long long)(now_ms() - started));

  /* (a) kill -9 the primary of worker 0's slots under the load. */
  uint32_t victim = cluster_worker_id(&cluster, map, 0);
  static uint8_t victim_slot[TALLY_SLOT_COUNT];
  uint32_t victim_slots = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    victim_slot[s] = map->slot_owner[s] == victim;
    victim_slots += victim_slot[s];
  }
  tally__cluster_map__free_unpacked(map, NULL);
  CHECK(victim != 0 && victim_slots > 0);
  uint64_t killed_ms = 0;
  run_load(0, 10, 600, 0, &killed_ms);
  CHECK(killed_ms != 0);
  uint64_t first_after = 0;
  int acked_before = 0;
  for (int i = 0; i < n_acks; i++) {
    uint32_t slot = slot_of_item(PROJECT, acks[i].item, strlen(acks[i].item));
    if (!victim_slot[slot]) continue;
    if (acks[i].at_ms <= killed_ms) acked_before++;
    else if (first_after == 0 || acks[i].at_ms < first_after) first_after = acks[i].at_ms;
  }
  CHECK(acked_before > 0);
  CHECK(first_after != 0);
  if (first_after != 0)
    printf("FAILOVER: worker %u killed; its slots served again by the new primary after %llu ms\n",
           victim, (unsigned long long)(first_after - killed_ms));
  t = client(3000);
  verify(t);

  /* (b) The old primary returns: fenced (MOVED for a slot it lost), then an
   * in-sync follower again. */
  CHECK(cluster_start_worker(&cluster, 0) == 0);
  char lost_item[32] = "";
  for (int i = 0; i < 100000 && lost_item[0] == '\0'; i++) {
    char id[32];
    snprintf(id, sizeof id, "fence-%d", i);
    if (victim_slot[slot_of_item(PROJECT, id, strlen(id))]) snprintf(lost_item, sizeof lost_item, "%s", id);
  }
  char moved_to[256] = "";
  int code = raw_request(0, lost_item, 1, moved_to, sizeof moved_to);
  printf("a write to the old primary for slot %u: %s\n",
         slot_of_item(PROJECT, lost_item, strlen(lost_item)), tally_error_name(code));
  CHECK_EQ_U64((uint64_t)-code, (uint64_t)-TALLY_E_MOVED);
  code = raw_request(0, lost_item, 0, moved_to, sizeof moved_to);
  printf("a read there: %s, to %s\n", tally_error_name(code), moved_to);
  CHECK_EQ_U64((uint64_t)-code, (uint64_t)-TALLY_E_MOVED);
  CHECK(moved_to[0] != '\0' && strcmp(moved_to, cluster.worker_endpoints[0]) != 0);
  started = now_ms();
  map = wait_all_in_sync(90, 0);
  CHECK(map != NULL);
  if (map != NULL) {
    int follows = 0;
    for (size_t s = 0; s < map->n_slots; s++)
      follows += has(map->slots[s]->in_sync, map->slots[s]->n_in_sync, victim);
    printf("the old primary is an in-sync follower of %d slots after %llu ms\n", follows,
           (unsigned long long)(now_ms() - started));
    CHECK(follows > 0);
    tally__cluster_map__free_unpacked(map, NULL);
  }
  verify(t);

  /* (c) A follower killed: it leaves the in-sync sets; writes go on. */
  map = cluster_fetch_map(&cluster);
  uint32_t follower = map ? cluster_worker_id(&cluster, map, 1) : 0;
  if (map) tally__cluster_map__free_unpacked(map, NULL);
  int before = n_acks;
  uint64_t follower_killed = 0;
  run_load(1, 9, 200, 1, &follower_killed);
  CHECK(follower_killed != 0);
  int after_kill = 0;
  for (int i = before; i < n_acks; i++) after_kill += acks[i].at_ms > follower_killed + 5000;
  printf("with follower %u killed: %d acknowledgements more than 5 s after the kill\n", follower,
         after_kill);
  CHECK(after_kill > 0);
  map = cluster_fetch_map(&cluster);
  if (map != NULL) {
    int still = 0;
    for (size_t s = 0; s < map->n_slots; s++)
      still += has(map->slots[s]->in_sync, map->slots[s]->n_in_sync, follower) ||
               map->slot_owner[s] == follower;
    CHECK_EQ_U64(still, 0);
    tally__cluster_map__free_unpacked(map, NULL);
  }
  verify(t);
  tally_close(&t);
  cluster_stop(&cluster);
  free(acks);
  return check_summary();
}
