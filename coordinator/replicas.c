/* replicas: slot replication's decisions, recorded. See replicas.h. */
#include "replicas.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "cluster_view.h"
#include "coordinator_internal.h"
#include "log.h"
#include "replica_set.h"
#include "slot.h"
#include "tally_error.h"
#include "wire.h"

int replicas_load(coordinator_t *c) {
  int rc = replica_set_new(&c->replicas, 1);
  if (rc == 0) rc = replica_set_new(&c->rplan, 1);
  if (rc < 0) return rc;
  uint8_t *blob = NULL;
  size_t len = 0;
  rc = meta_store_load_slot_replicas(c->store, &blob, &len);
  if (rc == 1) {
    rc = replica_set_decode(c->replicas, blob, len);
    if (rc < 0) log_error("the stored slot replicas are unreadable");
  }
  free(blob);
  return rc < 0 ? rc : 0;
}

void replicas_close(coordinator_t *c) {
  replica_set_destroy(&c->replicas);
  replica_set_destroy(&c->rplan);
}

int coordinator_set_replicas(coordinator_t *c, uint32_t replicas) {
  replica_set_t *set = NULL, *plan = NULL;
  int rc = replica_set_new(&set, replicas);
  if (rc == 0) rc = replica_set_new(&plan, replicas);
  if (rc < 0) {
    replica_set_destroy(&set);
    return rc;
  }
  /* The stored followers and epochs stay (the option only says R). */
  uint8_t *blob = NULL;
  size_t len = 0;
  if (replica_set_encode(c->replicas, &blob, &len) == 0) (void)replica_set_decode(set, blob, len);
  free(blob);
  replicas_close(c);
  c->replicas = set;
  c->rplan = plan;
  log_info("every slot on %u workers (--replicas)", replicas);
  return 0;
}

void replicas_view(coordinator_t *c, Tally__ClusterMap *map) {
  if (c->replicas == NULL) return;
  replica_set_view(c->replicas, map);
}

uint32_t replicas_plan_failover(coordinator_t *c, const uint32_t *dead, size_t n) {
  replica_set_copy(c->rplan, c->replicas);
  if (replica_set_replicas(c->replicas) <= 1) return 0;
  size_t count = membership_count(c->members);
  uint32_t *up = malloc((count ? count : 1) * sizeof *up);
  uint32_t *owners = malloc(TALLY_SLOT_COUNT * sizeof *owners);
  if (up == NULL || owners == NULL) {
    free(up);
    free(owners);
    return 0; /* no failover now; the slots wait for their primary */
  }
  size_t n_up = 0, all = membership_up_ids(c->members, up);
  for (size_t i = 0; i < all; i++) {
    int is_dead = 0;
    for (size_t k = 0; k < n; k++) is_dead |= up[i] == dead[k];
    if (!is_dead) up[n_up++] = up[i];
  }
  memcpy(owners, slot_map_owners(c->plan), TALLY_SLOT_COUNT * sizeof *owners);
  uint32_t promoted = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t waiting = 0;
    uint32_t p = replica_set_failover(c->rplan, owners, dead[k], up, n_up, &waiting);
    if (p > 0 || waiting > 0)
      log_warn("worker %u is down: %u of its slots go to in-sync followers, %u wait (no "
               "follower in sync)",
               dead[k], p, waiting);
    promoted += p;
  }
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    if (owners[s] != slot_map_owner(c->plan, s)) slot_map_set_owner(c->plan, s, owners[s]);
  free(up);
  free(owners);
  return promoted;
}

void replicas_plan_move(coordinator_t *c, uint32_t slot, uint32_t target) {
  replica_set_copy(c->rplan, c->replicas);
  replica_set_moved(c->rplan, slot, target);
}

void replicas_stage(coordinator_t *c, meta_batch_t *batch) {
  uint8_t *blob = NULL;
  size_t len = 0;
  if (replica_set_encode(c->rplan, &blob, &len) < 0) {
    meta_batch_put_slot_replicas(batch, NULL, 0); /* the commit fails */
    return;
  }
  meta_batch_put_slot_replicas(batch, blob, len);
  free(blob);
}

void replicas_install(coordinator_t *c) { replica_set_copy(c->replicas, c->rplan); }

/* Commits c->rplan with the epoch + 1 and installs both. */
static int commit_replicas(coordinator_t *c) {
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    replicas_stage(c, batch);
    meta_batch_put_epoch(batch, slot_map_epoch(c->map) + 1);
    rc = meta_batch_commit(batch);
  }
  meta_batch_destroy(&batch);
  if (rc < 0) return rc;
  replicas_install(c);
  slot_map_bump_epoch(c->map);
  return 0;
}

int replicas_refresh(coordinator_t *c) {
  if (c->replicas == NULL || replica_set_replicas(c->replicas) <= 1) return 0;
  size_t count = membership_count(c->members);
  uint32_t *eligible = malloc((count ? count : 1) * sizeof *eligible);
  uint32_t *keep = malloc((count ? count : 1) * sizeof *keep);
  uint32_t *roomy = malloc((count ? count : 1) * sizeof *roomy);
  if (eligible == NULL || keep == NULL || roomy == NULL) {
    free(eligible);
    free(keep);
    free(roomy);
    return TALLY_E_NOMEM;
  }
  /* New followers only on UP workers with room: a full store refuses
   * every append (a follower it already is stays, out of sync). */
  size_t n_eligible = 0, n_keep = 0, n_roomy = 0;
  for (size_t i = 0; i < count; i++) {
    const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
    if (w->draining) continue;
    keep[n_keep++] = w->id;
    if (w->state != TALLY__WORKER_STATE__WORKER_UP) continue;
    eligible[n_eligible++] = w->id;
    if (!w->store_full) roomy[n_roomy++] = w->id;
  }
  replica_set_copy(c->rplan, c->replicas);
  const uint32_t *owners = slot_map_owners(c->map);
  uint32_t changed = replica_set_assign(c->rplan, owners, roomy, n_roomy, keep, n_keep);
  for (size_t i = 0; i < n_eligible; i++)
    changed += replica_set_owner_back(c->rplan, owners, eligible[i]);
  free(eligible);
  free(keep);
  free(roomy);
  if (changed == 0) return 0;
  int rc = commit_replicas(c);
  if (rc < 0) return rc;
  log_info("followers of %u slots changed; epoch %" PRIu64, changed, slot_map_epoch(c->map));
  return (int)changed;
}

static void send_map(coordinator_t *c, const Tally__Envelope *request,
                     const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  if (cluster_view_map(c, &map, &workers) < 0) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_MAP;
  env.map = &map;
  r->send(r->ctx, &env);
  free(workers);
}

/* The changes of one isr_change request by (follower, joins or leaves),
 * for one log line (a primary reports hundreds of slots at once after
 * its copies; a line per slot filled the log). */
#define ISR_LOG_GROUPS 8
#define ISR_LOG_SLOTS 5

typedef struct {
  uint32_t follower;
  int in_sync;
  const char *reason; /* the first one's; borrowed from the request */
  uint32_t count;
  uint32_t slots[ISR_LOG_SLOTS];
} isr_log_group_t;

static void isr_log_note(isr_log_group_t *groups, size_t *n, uint32_t *others,
                         const Tally__IsrChange *ch) {
  isr_log_group_t *g = NULL;
  for (size_t i = 0; i < *n && g == NULL; i++)
    if (groups[i].follower == ch->follower_id && groups[i].in_sync == (ch->in_sync != 0))
      g = &groups[i];
  if (g == NULL) {
    if (*n == ISR_LOG_GROUPS) {
      (*others)++;
      return;
    }
    g = &groups[(*n)++];
    *g = (isr_log_group_t){.follower = ch->follower_id,
                           .in_sync = ch->in_sync != 0,
                           .reason = ch->reason && ch->reason[0] ? ch->reason : "no reason given"};
  }
  if (g->count < ISR_LOG_SLOTS) g->slots[g->count] = ch->slot;
  g->count++;
}

static void isr_log(const isr_log_group_t *groups, size_t n, uint32_t others, uint32_t changed,
                    uint64_t epoch) {
  char text[1024];
  size_t len = 0;
  for (size_t i = 0; i < n && len < sizeof text; i++) {
    const isr_log_group_t *g = &groups[i];
    char list[96];
    slot_list_format(list, sizeof list, g->slots, ISR_LOG_SLOTS, g->count);
    len += (size_t)snprintf(text + len, sizeof text - len, "%sfollower %u %s %u slots (%s: %s)",
                            i ? "; " : "", g->follower, g->in_sync ? "joins" : "leaves", g->count,
                            list, g->reason);
  }
  if (others > 0 && len < sizeof text)
    snprintf(text + len, sizeof text - len, "; %u more", others);
  log_info("%u in-sync changes recorded; epoch %" PRIu64 ": %s", changed, epoch, text);
}

void replicas_handle_isr_change(coordinator_t *c, const Tally__Envelope *request,
                                const char *caller_key, const coordinator_replier_t *r) {
  const Tally__IsrChange *first = request->isr_change;
  size_t n = 1 + first->n_bundle;
  if (n > TALLY_SLOT_COUNT * REPLICA_SET_MAX_REPLICAS) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT, "too many in-sync changes in one request");
    return;
  }
  uint32_t caller = c->secure ? admission_caller_worker_id(c, caller_key) : 0;
  replica_set_copy(c->rplan, c->replicas);
  uint32_t changed = 0, ignored = 0, others = 0;
  isr_log_group_t groups[ISR_LOG_GROUPS];
  size_t n_groups = 0;
  for (size_t i = 0; i < n; i++) {
    const Tally__IsrChange *ch = i == 0 ? first : first->bundle[i - 1];
    /* Only the slot's primary speaks for its followers; a report of an old
     * primary or an old slot epoch is ignored (the map it gets back tells
     * it why). */
    if (ch->slot >= TALLY_SLOT_COUNT || (c->secure && caller != slot_map_owner(c->map, ch->slot))) {
      ignored++;
      continue;
    }
    int rc = replica_set_isr(c->rplan, ch->slot, ch->slot_epoch, ch->follower_id, ch->in_sync);
    if (rc == 1) {
      changed++;
      log_debug("slot %u: follower %u %s the in-sync set (%s)", ch->slot, ch->follower_id,
                ch->in_sync ? "joins" : "leaves",
                ch->reason && ch->reason[0] ? ch->reason : "no reason given");
      isr_log_note(groups, &n_groups, &others, ch);
    } else if (rc < 0) {
      ignored++;
    }
  }
  if (changed > 0) {
    int rc = commit_replicas(c);
    if (rc < 0) {
      coordinator_reply_storage_error(r, rc, "the in-sync sets");
      return;
    }
    isr_log(groups, n_groups, others, changed, slot_map_epoch(c->map));
  }
  if (ignored > 0)
    log_debug("%u in-sync changes ignored: not from the slot's primary, or not the slot's "
              "current epoch or follower",
              ignored);
  send_map(c, request, r);
}
