/* cluster_view: the cluster map and the configuration as the coordinator
 * sends them (map_request, config_request, and inside register, heartbeat,
 * slot-move and drain replies).
 *
 * Read-only: nothing here changes state. The views borrow the coordinator's
 * records (valid until the next change; build and send them within one
 * request). Who sees what: leads, managers, operators, gateways, workers
 * and coordinators see the whole map; anyone else only the backlog hints
 * of the stages they work and no per-worker counts (DESIGN.md,
 * double-blind invariant 1).
 */
#ifndef TALLY_COORDINATOR_CLUSTER_VIEW_H
#define TALLY_COORDINATOR_CLUSTER_VIEW_H

#include "coordinator.h"
#include "tally.pb-c.h"

/* Fills `config` with borrowed pointers to the current configuration. */
void cluster_view_config(coordinator_t *c, Tally__ClusterConfig *config);

/* Fills `map` with borrowed pointers to the current cluster map (each
 * worker's slots_owned and slots_moving brought up to date); *workers is
 * an array the caller frees. Returns 0 or TALLY_E_NOMEM. */
int cluster_view_map(coordinator_t *c, Tally__ClusterMap *map, Tally__WorkerInfo ***workers);

/* config_request and map_request (the map filtered by the caller's roles). */
void cluster_view_handle_config_request(coordinator_t *c, const Tally__Envelope *request,
                                        const coordinator_replier_t *r);
void cluster_view_handle_map_request(coordinator_t *c, const Tally__Envelope *request,
                                     const coordinator_replier_t *r);

#endif
