/* cluster_view: the map and configuration as sent. See cluster_view.h. */
#include "cluster_view.h"

#include <stdlib.h>

#include "coordinator_internal.h"
#include "replicas.h"
#include "tally_error.h"
#include "wire.h"

/* Fills `config` with borrowed pointers to the current configuration. */
void cluster_view_config(coordinator_t *c, Tally__ClusterConfig *config) {
  tally__cluster_config__init(config);
  config->version = c->config_version;
  config->n_projects = c->projects.count;
  config->projects = c->projects.items;
  config->n_labelers = c->labelers.count;
  config->labelers = c->labelers.items;
}

/* Fills `map` with borrowed pointers to the current cluster map; *workers
 * is an array the caller frees. Returns 0 or TALLY_E_NOMEM. */
int cluster_view_map(coordinator_t *c, Tally__ClusterMap *map, Tally__WorkerInfo ***workers) {
  size_t count = membership_count(c->members);
  *workers = malloc((count ? count : 1) * sizeof **workers);
  if (*workers == NULL) return TALLY_E_NOMEM;
  for (size_t i = 0; i < count; i++) {
    Tally__WorkerInfo *worker = membership_worker_at(c->members, i);
    worker->slots_owned = slot_map_count_owned(c->map, worker->id);
    worker->slots_moving = 0;
    for (size_t m = 0; m < c->n_moves; m++) worker->slots_moving += c->moves[m].source == worker->id;
    (*workers)[i] = worker;
  }
  tally__cluster_map__init(map);
  map->epoch = slot_map_epoch(c->map);
  map->slot_count = TALLY_SLOT_COUNT;
  map->n_workers = count;
  map->workers = *workers;
  map->n_slot_owner = TALLY_SLOT_COUNT;
  map->slot_owner = (uint32_t *)slot_map_owners(c->map);
  map->config_version = c->config_version;
  replicas_view(c, map);
  return 0;
}

void cluster_view_handle_config_request(coordinator_t *c, const Tally__Envelope *request,
                                        const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ClusterConfig config;
  wire_envelope_init(&env, request->request_id);
  cluster_view_config(c, &config);
  env.body_case = TALLY__ENVELOPE__BODY_CONFIG;
  env.config = &config;
  r->send(r->ctx, &env);
}

/* Roles that see the whole map: queue depths of every stage and every
 * worker's figures. Anyone else (labelers, auditors) sees only the backlog
 * hints of the stages they work, and no per-worker counts: the depth of the
 * AUDIT queue, or a worker's queued total, would tell a labeler whether the
 * label they just gave was sampled (DESIGN.md, double-blind invariant 1). */
#define MAP_FULL_VIEW_ROLES                                                          \
  (TALLY__ROLE__ROLE_LEAD | TALLY__ROLE__ROLE_MANAGER | TALLY__ROLE__ROLE_OPERATOR | \
   TALLY__ROLE__ROLE_GATEWAY | TALLY__ROLE__ROLE_WORKER | TALLY__ROLE__ROLE_COORDINATOR)

/* May a caller with `roles` see hints of `stage`? */
static int stage_visible(uint32_t roles, uint32_t stage) {
  switch (stage) {
    case TALLY__STAGE__STAGE_LABEL: return (roles & TALLY__ROLE__ROLE_LABELER) != 0;
    case TALLY__STAGE__STAGE_AUDIT: return (roles & TALLY__ROLE__ROLE_AUDITOR) != 0;
    default: return 0; /* adjudication: leads, who see the whole map */
  }
}

void cluster_view_handle_map_request(coordinator_t *c, const Tally__Envelope *request,
                                     const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  if (cluster_view_map(c, &map, &workers) < 0) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
    return;
  }
  Tally__WorkerInfo *copies = NULL;
  Tally__BacklogHint **hints = NULL;
  uint32_t roles = c->caller.roles;
  if (!(roles & MAP_FULL_VIEW_ROLES)) {
    size_t total = 0;
    for (size_t i = 0; i < map.n_workers; i++) total += workers[i]->n_backlog;
    copies = calloc(map.n_workers ? map.n_workers : 1, sizeof *copies);
    hints = calloc(total ? total : 1, sizeof *hints);
    if (copies == NULL || hints == NULL) {
      free(copies);
      free(hints);
      free(workers);
      coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster map");
      return;
    }
    size_t used = 0;
    for (size_t i = 0; i < map.n_workers; i++) {
      Tally__WorkerInfo *w = &copies[i];
      *w = *workers[i];
      w->queued = w->live_leases = w->items = 0;
      w->backlog = hints + used;
      w->n_backlog = 0;
      for (size_t h = 0; h < workers[i]->n_backlog; h++)
        if (stage_visible(roles, workers[i]->backlog[h]->stage))
          w->backlog[w->n_backlog++] = workers[i]->backlog[h];
      used += w->n_backlog;
      workers[i] = w;
    }
  }
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_MAP;
  env.map = &map;
  r->send(r->ctx, &env);
  free(workers);
  free(copies);
  free(hints);
}
