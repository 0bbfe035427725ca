/* slot_moves: moves under way, drain, map commits. See slot_moves.h. */
#include "slot_moves.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_log.h"
#include "admission.h"
#include "clock.h"
#include "cluster_view.h"
#include "coordinator_internal.h"
#include "replicas.h"
#include "log.h"
#include "rebalance.h"
#include "tally_error.h"
#include "wire.h"

slot_move_t *slot_moves_find(coordinator_t *c, uint64_t move_id) {
  for (size_t i = 0; i < c->n_moves; i++)
    if (c->moves[i].move_id == move_id) return &c->moves[i];
  return NULL;
}

static void move_remove(coordinator_t *c, slot_move_t *m) {
  size_t i = (size_t)(m - c->moves);
  memmove(&c->moves[i], &c->moves[i + 1], (c->n_moves - i - 1) * sizeof c->moves[0]);
  c->n_moves--;
}

static int worker_is_up(const coordinator_t *c, uint32_t id) {
  const Tally__WorkerInfo *w = membership_find(c->members, id);
  return w != NULL && w->state == TALLY__WORKER_STATE__WORKER_UP;
}

/* Fills `bodies`/`ptrs` (room for COORDINATOR_MOVES_MAX) with the moves
 * `source` is to carry out; endpoints are borrowed. Returns how many. */
size_t slot_moves_for_source(coordinator_t *c, uint32_t source, Tally__SlotMove *bodies,
                             Tally__SlotMove **ptrs) {
  size_t n = 0;
  for (size_t i = 0; i < c->n_moves; i++) {
    const slot_move_t *m = &c->moves[i];
    const Tally__WorkerInfo *target = membership_find(c->members, m->target);
    if (m->source != source || target == NULL) continue;
    tally__slot_move__init(&bodies[n]);
    bodies[n].move_id = m->move_id;
    bodies[n].slot = m->slot;
    bodies[n].source_id = m->source;
    bodies[n].target_id = m->target;
    bodies[n].target_endpoint = target->endpoint;
    ptrs[n] = &bodies[n];
    n++;
  }
  return n;
}

/* Gives up moves that ran too long or lost their source or target, then
 * plans new ones (rebalance.h) unless a fresh cluster is still settling. */
void slot_moves_rebalance(coordinator_t *c, uint64_t now_ms) {
  for (size_t i = 0; i < c->n_moves;) {
    slot_move_t *m = &c->moves[i];
    int late = now_ms - m->started_ms > COORDINATOR_MOVE_TIMEOUT_MS;
    if (late || !worker_is_up(c, m->source) || !worker_is_up(c, m->target)) {
      log_warn("move %" PRIu64 " of slot %u from worker %u to %u given up (%s)", m->move_id,
               m->slot, m->source, m->target, late ? "took too long" : "a worker is not UP");
      move_remove(c, m);
      continue;
    }
    i++;
  }
  if (c->rebalance_paused || slot_map_count_owned(c->map, 0) > 0) return;
  size_t count = membership_count(c->members);
  if (count < 2 || c->n_moves == COORDINATOR_MOVES_MAX) return;
  rebalance_worker_t *workers = malloc(count * sizeof *workers);
  if (workers == NULL) return;
  for (size_t i = 0; i < count; i++) {
    const Tally__WorkerInfo *info = membership_worker_at(c->members, i);
    workers[i] = (rebalance_worker_t){info->id, info->state == TALLY__WORKER_STATE__WORKER_UP,
                                      info->draining, info->store_full};
  }
  rebalance_move_t active[COORDINATOR_MOVES_MAX], planned[COORDINATOR_MOVES_MAX];
  for (size_t i = 0; i < c->n_moves; i++)
    active[i] = (rebalance_move_t){c->moves[i].slot, c->moves[i].source, c->moves[i].target};
  size_t n = rebalance_plan(c->map, workers, count, active, c->n_moves, planned,
                            COORDINATOR_MOVES_MAX - c->n_moves);
  free(workers);
  for (size_t i = 0; i < n; i++) {
    slot_move_t *m = &c->moves[c->n_moves++];
    *m = (slot_move_t){c->next_move_id++, planned[i].slot, planned[i].source, planned[i].target,
                       now_ms};
    log_debug("move %" PRIu64 ": slot %u from worker %u to %u", m->move_id, m->slot, m->source,
              m->target);
  }
}

/* Persists the slot owners and epoch of c->plan and installs it. */
static int commit_map(coordinator_t *c) {
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_slot_owners(batch, slot_map_owners(c->plan));
    meta_batch_put_epoch(batch, slot_map_epoch(c->plan));
    replicas_stage(c, batch);
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc == 0) {
    slot_map_copy(c->map, c->plan);
    replicas_install(c);
  }
  return rc;
}

void slot_moves_handle_done(coordinator_t *c, const Tally__Envelope *request,
                            const char *caller_key, const coordinator_replier_t *r) {
  const Tally__SlotMoveDone *done = request->slot_move_done;
  const Tally__SlotMove *m = done->move;
  if (m == NULL || m->slot >= TALLY_SLOT_COUNT) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "slot_move_done needs the move and a valid slot");
    return;
  }
  if (c->secure && admission_caller_worker_id(c, caller_key) != m->source_id) {
    coordinator_reply_error(r, TALLY_E_PERMISSION_DENIED,
                            "only a move's source may report it done");
    return;
  }
  slot_move_t *active = slot_moves_find(c, m->move_id);
  int flipped = 0;
  if (active != NULL && active->source == m->source_id && active->slot == m->slot) {
    if (done->error != NULL && done->error[0] != '\0') {
      log_warn("move %" PRIu64 " of slot %u from worker %u to %u failed: %s", active->move_id,
               active->slot, active->source, active->target, done->error);
      move_remove(c, active);
    } else if (slot_map_owner(c->map, m->slot) != active->source || !worker_is_up(c, active->target)) {
      log_warn("move %" PRIu64 " of slot %u given up: owner or target changed", active->move_id,
               active->slot);
      move_remove(c, active);
    } else {
      slot_map_copy(c->plan, c->map);
      slot_map_set_owner(c->plan, active->slot, active->target);
      slot_map_bump_epoch(c->plan);
      /* A new slot epoch; the target's followers are copied again. */
      replicas_plan_move(c, active->slot, active->target);
      int rc = commit_map(c);
      if (rc < 0) {
        coordinator_reply_storage_error(r, rc, "the slot's new owner"); /* the source asks again */
        return;
      }
      log_info("slot %u moved from worker %u to worker %u (%" PRIu64 " keys, %" PRIu64
               " bytes); epoch %" PRIu64,
               active->slot, active->source, active->target, done->entries, done->bytes,
               slot_map_epoch(c->map));
      move_remove(c, active);
      flipped = 1;
    }
  } else {
    /* Not under way (any more): the map says whether it happened. */
    flipped = m->target_id != 0 && slot_map_owner(c->map, m->slot) == m->target_id;
  }
  slot_moves_rebalance(c, clock_monotonic_ms());
  Tally__Envelope env;
  Tally__SlotMoveDoneReply body = TALLY__SLOT_MOVE_DONE_REPLY__INIT;
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  Tally__SlotMove bodies[COORDINATOR_MOVES_MAX], *ptrs[COORDINATOR_MOVES_MAX];
  if (cluster_view_map(c, &map, &workers) < 0) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  body.flipped = flipped;
  body.map = &map;
  body.move_id = m->move_id;
  body.n_moves = slot_moves_for_source(c, m->source_id, bodies, ptrs);
  body.moves = ptrs;
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE_REPLY;
  env.slot_move_done_reply = &body;
  r->send(r->ctx, &env);
  free(workers);
}

void slot_moves_handle_drain(coordinator_t *c, const Tally__Envelope *request,
                             const coordinator_replier_t *r) {
  const Tally__WorkerDrain *d = request->worker_drain;
  const Tally__WorkerInfo *known = membership_find(c->members, d->worker_id);
  if (known == NULL) {
    coordinator_reply_error(r, TALLY_E_NOT_FOUND, "no worker %u in this cluster", d->worker_id);
    return;
  }
  if (!d->undrain) {
    size_t others = 0;
    for (size_t i = 0; i < membership_count(c->members); i++) {
      const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
      others += w->id != known->id && w->state == TALLY__WORKER_STATE__WORKER_UP && !w->draining;
    }
    if (others == 0) {
      coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                              "worker %u cannot be drained: no other UP worker could take its slots",
                              known->id);
      return;
    }
  }
  if (known->draining != !d->undrain) {
    Tally__WorkerInfo record = TALLY__WORKER_INFO__INIT;
    record.id = known->id;
    record.endpoint = known->endpoint;
    record.state = known->state;
    record.draining = !d->undrain;
    record.public_key = known->public_key;
    meta_batch_t *batch = NULL;
    char target[32];
    snprintf(target, sizeof target, "worker %u", known->id);
    Tally__WorkerDrain before = TALLY__WORKER_DRAIN__INIT, after = TALLY__WORKER_DRAIN__INIT;
    before.worker_id = after.worker_id = known->id;
    before.undrain = !known->draining;
    after.undrain = d->undrain;
    admin_change_t change = {d->undrain ? "worker_undrain" : "worker_drain", target, &before.base,
                             &after.base};
    int rc = meta_batch_new(c->store, &batch);
    if (rc == 0) {
      meta_batch_put_worker(batch, &record);
      meta_batch_put_epoch(batch, slot_map_epoch(c->map) + 1);
      rc = admin_log_commit(c, &batch, &change);
    }
    if (rc < 0) {
      coordinator_reply_storage_error(r, rc, "the worker's drain state");
      return;
    }
    coordinator_must_install(membership_put(c->members, &record, clock_monotonic_ms()), "a worker");
    slot_map_bump_epoch(c->map);
    log_info("worker %u %s; epoch %" PRIu64, record.id,
             record.draining ? "is draining: its slots move to the other workers"
                             : "takes part in the balance again",
             slot_map_epoch(c->map));
    slot_moves_rebalance(c, clock_monotonic_ms());
  }
  cluster_view_handle_map_request(c, request, r);
}
