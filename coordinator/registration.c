/* registration: worker registration, heartbeats, liveness. See
 * registration.h. */
#include "registration.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "clock.h"
#include "cluster_view.h"
#include "coordinator_internal.h"
#include "replicas.h"
#include "log.h"
#include "tally_error.h"
#include "validate.h"
#include "wire.h"

static int declare_down(coordinator_t *c, const uint32_t *ids, const uint64_t *silence, size_t n,
                        uint64_t now_ms);

static int load_worker(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  Tally__WorkerInfo *worker = (Tally__WorkerInfo *)record;
  int rc = membership_put(c->members, worker, clock_monotonic_ms());
  if (worker->id >= c->next_worker_id) c->next_worker_id = worker->id + 1;
  protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

int registration_load(coordinator_t *c) {
  return meta_store_load(c->store, META_WORKERS, load_worker, c);
}

/* Persists and installs a new durable record for worker `id` (state
 * `state`, endpoint `endpoint`) together with the planned slot map in
 * c->plan, whose epoch the caller has already advanced. `new_worker` also
 * advances next_worker_id. `public_key` binds the id to a key (NULL: keep
 * the bound one). Returns 0 or the store's error (nothing changed). */
static int commit_worker_change(coordinator_t *c, uint32_t id, const char *endpoint,
                                Tally__WorkerState state, int new_worker, int slots_changed,
                                const char *public_key) {
  Tally__WorkerInfo record = TALLY__WORKER_INFO__INIT;
  const Tally__WorkerInfo *known = membership_find(c->members, id);
  record.id = id;
  record.endpoint = (char *)endpoint;
  record.state = state;
  record.draining = known != NULL && known->draining;
  record.public_key = (char *)(public_key ? public_key : known ? known->public_key : "");
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_worker(batch, &record);
    if (new_worker) meta_batch_put_next_worker_id(batch, id + 1);
    if (slots_changed) meta_batch_put_slot_owners(batch, slot_map_owners(c->plan));
    meta_batch_put_epoch(batch, slot_map_epoch(c->plan));
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc < 0) return rc;
  coordinator_must_install(membership_put(c->members, &record, clock_monotonic_ms()), "a worker");
  slot_map_copy(c->map, c->plan);
  if (new_worker) c->next_worker_id++;
  return 0;
}

void coordinator_expect_workers(coordinator_t *c, uint32_t workers, uint64_t settle_ms) {
  c->expect_workers = workers ? workers : 1;
  c->settle_deadline_ms = clock_monotonic_ms() + settle_ms;
}

/* True while a fresh cluster should still wait for more workers before it
 * hands out slots (see coordinator_expect_workers). */
static int still_settling(const coordinator_t *c, size_t up) {
  return up < c->expect_workers && clock_monotonic_ms() < c->settle_deadline_ms &&
         slot_map_count_owned(c->map, 0) == TALLY_SLOT_COUNT;
}

/* Plans the registration of worker `id` on c->plan: every unassigned slot
 * goes to the UP workers, this one included (unless a fresh cluster is
 * still waiting for the workers it expects). Returns the number of slots
 * assigned or TALLY_E_NOMEM. */
static int plan_registration(coordinator_t *c, uint32_t id) {
  size_t count = membership_count(c->members);
  uint32_t *candidates = malloc((count + 1) * sizeof *candidates);
  if (candidates == NULL) return TALLY_E_NOMEM;
  size_t up = membership_up_ids(c->members, candidates);
  size_t i = 0;
  while (i < up && candidates[i] != id) i++;
  if (i == up) candidates[up++] = id;
  slot_map_copy(c->plan, c->map);
  if (still_settling(c, up)) {
    free(candidates);
    return 0;
  }
  int assigned = slot_map_assign_unassigned(c->plan, candidates, up);
  free(candidates);
  return assigned;
}

static void send_register_reply(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r, uint32_t id) {
  Tally__Envelope env;
  Tally__WorkerRegisterReply body = TALLY__WORKER_REGISTER_REPLY__INIT;
  Tally__ClusterMap map;
  Tally__ClusterConfig config;
  Tally__WorkerInfo **workers = NULL;
  if (cluster_view_map(c, &map, &workers) < 0) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  cluster_view_config(c, &config);
  wire_envelope_init(&env, request->request_id);
  body.worker_id = id;
  body.map = &map;
  body.config = &config;
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER_REPLY;
  env.worker_register_reply = &body;
  r->send(r->ctx, &env);
  free(workers);
}

void registration_handle_worker_register(coordinator_t *c, const Tally__Envelope *request,
                                         const char *caller_key, const coordinator_replier_t *r) {
  const Tally__WorkerRegister *body = request->worker_register;
  char why[MESSAGE_SIZE];
  if (validate_endpoint(body->endpoint, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  const Tally__WorkerInfo *known = NULL;
  const char *key = c->secure ? caller_key : NULL;
  const Tally__WorkerInfo *bound = key ? admission_worker_by_key(c, key) : NULL;
  if (bound != NULL && body->worker_id != 0 && body->worker_id != bound->id) {
    coordinator_reply_error(r, TALLY_E_PERMISSION_DENIED,
                            "this key is bound to worker %u, not to worker %u", bound->id,
                            body->worker_id);
    return;
  }
  uint32_t asked = bound ? bound->id : body->worker_id;
  if (asked != 0 && (known = membership_find(c->members, asked)) == NULL) {
    coordinator_reply_error(r, TALLY_E_NOT_FOUND,
                            "unknown worker id %u; register with worker_id 0 to join as a new worker",
                            asked);
    return;
  }
  if (key != NULL && known != NULL && known->public_key[0] != '\0' &&
      strcmp(known->public_key, key) != 0) {
    coordinator_reply_error(r, TALLY_E_PERMISSION_DENIED,
                            "worker id %u is bound to another key; a worker keeps its key for life",
                            asked);
    return;
  }
  if (known == NULL && c->next_worker_id == UINT32_MAX) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "worker ids are exhausted");
    return;
  }
  /* A worker keeps its id in its store, durable before it serves or holds
   * anything (worker/coordinator_link.c). One whose key is bound to an id
   * but who asks with worker_id 0 therefore started on an empty store: what
   * its old one held is gone. Still UP, it is written DOWN first, as if it
   * had died: its slots go to their in-sync followers and it leaves every
   * in-sync set. Then it registers as a returning worker, a follower to be
   * copied. (Registering it UP with its slots would serve them empty.) */
  if (bound != NULL && body->worker_id == 0) {
    uint32_t lost = bound->id;
    int was_up = known->state == TALLY__WORKER_STATE__WORKER_UP;
    if (was_up) {
      int rc = declare_down(c, &lost, NULL, 1, clock_monotonic_ms());
      if (rc < 0) {
        coordinator_reply_storage_error(r, rc, "the worker's state");
        return;
      }
      known = membership_find(c->members, lost);
    }
    log_warn("worker %u registered with an empty store (its key is bound to it; it did not know "
             "its id)%s",
             lost, was_up ? ": written DOWN first, its slots went to their in-sync followers" : "");
    uint32_t left = slot_map_count_owned(c->map, lost);
    if (left > 0)
      log_warn("worker %u: %u of its slots had no in-sync follower and start empty on it; what "
               "they held was only in its lost store",
               lost, left);
  }
  uint32_t id = known ? known->id : c->next_worker_id;
  int worker_changed = known == NULL || strcmp(known->endpoint, body->endpoint) != 0 ||
                       known->state != TALLY__WORKER_STATE__WORKER_UP ||
                       (key != NULL && strcmp(known->public_key, key) != 0);
  int assigned = plan_registration(c, id);
  if (assigned < 0) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory planning the slot map");
    return;
  }
  if (worker_changed || assigned > 0) {
    if (assigned == 0) slot_map_bump_epoch(c->plan);
    int rc = commit_worker_change(c, id, body->endpoint, TALLY__WORKER_STATE__WORKER_UP,
                                  known == NULL, assigned > 0, key);
    if (rc < 0) {
      coordinator_reply_storage_error(r, rc, "the worker registration");
      return;
    }
    log_info("worker %u %s at %s; %d unassigned slots given out; epoch %" PRIu64, id,
             known ? "re-registered" : "registered", body->endpoint, assigned,
             slot_map_epoch(c->map));
  }
  membership_touch(c->members, id, clock_now_ms(), clock_monotonic_ms());
  send_register_reply(c, request, r, id);
}

void registration_handle_heartbeat(coordinator_t *c, const Tally__Envelope *request,
                                   const char *caller_key, const coordinator_replier_t *r) {
  const Tally__Heartbeat *heartbeat = request->heartbeat;
  if (c->secure && admission_caller_worker_id(c, caller_key) != heartbeat->worker_id) {
    coordinator_reply_error(r, TALLY_E_PERMISSION_DENIED,
                            "a worker may only send its own heartbeat");
    return;
  }
  const Tally__WorkerInfo *worker = membership_find(c->members, heartbeat->worker_id);
  if (worker == NULL) {
    coordinator_reply_error(r, TALLY_E_NOT_FOUND, "unknown worker, register first");
    return;
  }
  if (worker->state != TALLY__WORKER_STATE__WORKER_UP) {
    slot_map_copy(c->plan, c->map);
    slot_map_bump_epoch(c->plan);
    int rc = commit_worker_change(c, worker->id, worker->endpoint, TALLY__WORKER_STATE__WORKER_UP,
                                  0, 0, NULL);
    if (rc < 0) {
      coordinator_reply_storage_error(r, rc, "the worker's state");
      return;
    }
    log_info("worker %u is UP again; epoch %" PRIu64, heartbeat->worker_id,
             slot_map_epoch(c->map));
  }
  if (membership_note_heartbeat(c->members, heartbeat, clock_now_ms(), clock_monotonic_ms()) <
      0) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory recording the heartbeat");
    return;
  }
  Tally__Envelope env;
  Tally__HeartbeatReply body = TALLY__HEARTBEAT_REPLY__INIT;
  Tally__ClusterMap map;
  Tally__ClusterConfig config;
  Tally__WorkerInfo **workers = NULL;
  body.epoch = slot_map_epoch(c->map);
  body.config_version = c->config_version;
  /* Moves the worker reported: unknown ones are given up, unless the map
   * shows they happened (then the map tells the worker to finish). */
  uint64_t aborts[COORDINATOR_MOVES_MAX * 2];
  int finished_reported = 0;
  for (size_t i = 0; i < heartbeat->n_moving; i++) {
    const Tally__SlotMove *m = heartbeat->moving[i];
    if (m->slot >= TALLY_SLOT_COUNT || slot_moves_find(c, m->move_id) != NULL) continue;
    if (m->target_id != 0 && slot_map_owner(c->map, m->slot) == m->target_id)
      finished_reported = 1;
    else if (body.n_abort_moves < sizeof aborts / sizeof aborts[0])
      aborts[body.n_abort_moves++] = m->move_id;
  }
  body.abort_moves = aborts;
  Tally__SlotMove move_bodies[COORDINATOR_MOVES_MAX], *move_ptrs[COORDINATOR_MOVES_MAX];
  body.n_moves = slot_moves_for_source(c, heartbeat->worker_id, move_bodies, move_ptrs);
  body.moves = move_ptrs;
  /* A drained worker hands its per-worker sums to a worker that stays. */
  Tally__SlotMove handoff = TALLY__SLOT_MOVE__INIT;
  const Tally__WorkerInfo *self = membership_find(c->members, heartbeat->worker_id);
  if (self != NULL && self->draining && heartbeat->has_aggregates && body.n_moves == 0 &&
      slot_map_count_owned(c->map, heartbeat->worker_id) == 0) {
    for (size_t i = 0; i < membership_count(c->members); i++) {
      const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
      if (w->id == heartbeat->worker_id || w->draining ||
          w->state != TALLY__WORKER_STATE__WORKER_UP)
        continue;
      handoff.source_id = heartbeat->worker_id;
      handoff.target_id = w->id;
      handoff.target_endpoint = w->endpoint;
      body.handoff = &handoff;
      break;
    }
  }
  if (heartbeat->epoch != body.epoch || finished_reported) {
    if (cluster_view_map(c, &map, &workers) < 0) {
      coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
      return;
    }
    body.map = &map;
  }
  if (heartbeat->config_version != body.config_version) {
    cluster_view_config(c, &config);
    body.config = &config;
  }
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT_REPLY;
  env.heartbeat_reply = &body;
  r->send(r->ctx, &env);
  free(workers);
}

/* Hands out unassigned slots to the UP workers once a fresh cluster has
 * stopped waiting for more (registration does it otherwise). */
static int assign_after_settling(coordinator_t *c) {
  size_t count = membership_count(c->members);
  if (count == 0 || slot_map_count_owned(c->map, 0) == 0) return 0;
  uint32_t *up_ids = malloc(count * sizeof *up_ids);
  if (up_ids == NULL) return TALLY_E_NOMEM;
  size_t up = membership_up_ids(c->members, up_ids);
  int rc = 0;
  if (up > 0 && !still_settling(c, up)) {
    slot_map_copy(c->plan, c->map);
    int assigned = slot_map_assign_unassigned(c->plan, up_ids, up);
    const Tally__WorkerInfo *first = membership_find(c->members, up_ids[0]);
    if (assigned > 0 && first != NULL) {
      rc = commit_worker_change(c, first->id, first->endpoint, TALLY__WORKER_STATE__WORKER_UP, 0,
                                1, NULL);
      if (rc == 0)
        log_info("%d unassigned slots given out to %zu workers; epoch %" PRIu64, assigned, up,
                 slot_map_epoch(c->map));
    }
  }
  free(up_ids);
  return rc;
}

/* Writes the UP workers `ids` (n of them) DOWN in one batch, with the
 * failover of their slots to in-sync followers (replicas.h) and the epoch
 * + 1; `silence` (NULL: none) is each one's silence in ms, for the log.
 * Returns 0 or the store's error (nothing changed). */
static int declare_down(coordinator_t *c, const uint32_t *ids, const uint64_t *silence, size_t n,
                        uint64_t now_ms) {
  if (n == 0) return 0;
  meta_batch_t *batch = NULL;
  uint32_t promoted = 0;
  uint64_t started = clock_monotonic_ms();
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      Tally__WorkerInfo record = *membership_find(c->members, ids[i]);
      record.state = TALLY__WORKER_STATE__WORKER_DOWN;
      meta_batch_put_worker(batch, &record);
    }
    /* Failover (replicas.h): in-sync followers take the dead primaries'
     * slots, in the same batch as the DOWN records. */
    slot_map_copy(c->plan, c->map);
    slot_map_bump_epoch(c->plan);
    promoted = replicas_plan_failover(c, ids, n);
    if (promoted > 0) meta_batch_put_slot_owners(batch, slot_map_owners(c->plan));
    replicas_stage(c, batch);
    meta_batch_put_epoch(batch, slot_map_epoch(c->plan));
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc < 0) return rc;
  uint64_t recorded_ms = clock_monotonic_ms() - started;
  for (size_t i = 0; i < n; i++) {
    Tally__WorkerInfo record = *membership_find(c->members, ids[i]);
    record.state = TALLY__WORKER_STATE__WORKER_DOWN;
    coordinator_must_install(membership_put(c->members, &record, now_ms), "a worker state");
  }
  slot_map_copy(c->map, c->plan);
  replicas_install(c);
  if (promoted > 0)
    log_warn("failover: %u slots promoted to in-sync followers; epoch %" PRIu64, promoted,
             slot_map_epoch(c->map));
  /* The silence and the time the decision took to record (the meta store,
   * or the Raft log of a majority) are what bench/failover-phases reads. */
  for (size_t i = 0; silence != NULL && i < n; i++)
    log_warn("worker %u sent no heartbeat for %" PRIu64 " ms (timeout %" PRIu64
             " ms): DOWN (keeps its %u slots); epoch %" PRIu64 "; recorded in %" PRIu64 " ms",
             ids[i], silence[i], c->heartbeat_timeout_ms, slot_map_count_owned(c->map, ids[i]),
             slot_map_epoch(c->map), recorded_ms);
  return 0;
}

int coordinator_check_silence(coordinator_t *c, uint64_t now_ms) {
  size_t count = membership_count(c->members);
  uint32_t *silent = malloc((count ? count : 1) * sizeof *silent);
  uint64_t *silence = malloc((count ? count : 1) * sizeof *silence);
  if (silent == NULL || silence == NULL) {
    free(silent);
    free(silence);
    return TALLY_E_NOMEM;
  }
  size_t n = membership_silent_ids(c->members, now_ms, c->heartbeat_timeout_ms, silent);
  for (size_t i = 0; i < n; i++) silence[i] = membership_silence_ms(c->members, silent[i], now_ms);
  int rc = declare_down(c, silent, silence, n, now_ms);
  free(silent);
  free(silence);
  return rc < 0 ? rc : (int)n;
}

int coordinator_check_liveness(coordinator_t *c, uint64_t now_ms) {
  int settled = assign_after_settling(c);
  if (settled < 0) return settled;
  int n = coordinator_check_silence(c, now_ms);
  int rc = n < 0 ? n : 0;
  if (rc == 0) {
    int refreshed = replicas_refresh(c);
    if (refreshed < 0) rc = refreshed;
  }
  slot_moves_rebalance(c, now_ms);
  return rc < 0 ? rc : n;
}
