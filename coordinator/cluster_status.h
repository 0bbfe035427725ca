/* cluster_status: the coordinator's view for `tally cluster status`
 * (cluster_status_request, answered with ClusterStatus).
 *
 * Read-only: nothing here changes state, and nothing is written. The reply
 * carries
 *  - the whole cluster map (cluster_view.h), with ClusterMap.replicas and
 *    .slots when the coordinator replicates slots;
 *  - the coordinators of a replicated control plane with the leader, the
 *    Raft term and commit index, from cluster_status_coordinators() (none
 *    without Raft);
 *  - the replication lags each worker sent with its last heartbeat
 *    (Heartbeat.lags, kept in memory by membership.h; volatile: none until
 *    the workers heartbeat again after a restart).
 * Who may ask: access.c's row (lead, manager, operator).
 */
#ifndef TALLY_COORDINATOR_CLUSTER_STATUS_H
#define TALLY_COORDINATOR_CLUSTER_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator.h"
#include "tally.pb-c.h"

/* The control plane as cluster status shows it. */
typedef struct {
  Tally__CoordinatorInfo **coordinators; /* borrowed for the request; NULL when none */
  size_t n_coordinators;
  uint64_t leader_id;                    /* raft id of the leader; 0: unknown or no Raft */
  uint64_t raft_term;
  uint64_t raft_commit_index;
} cluster_status_coordinators_t;

/* Fills *out with every coordinator
 * of the cluster (raft id, client endpoint, raft address, which one leads)
 * and the Raft term and commit index, borrowed until the request is
 * answered, from the control-plane function a replicated daemon set
 * (coordinator_set_control_plane). A coordinator without Raft (no
 * --raft-id) has none: *out is all zero and ClusterStatus.coordinators
 * stays empty. */
void cluster_status_coordinators(coordinator_t *c, cluster_status_coordinators_t *out);

/* cluster_status_request: answers ClusterStatus (INTERNAL when out of
 * memory). */
void cluster_status_handle(coordinator_t *c, const Tally__Envelope *request,
                           const coordinator_replier_t *r);

#endif
