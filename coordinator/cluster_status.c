/* cluster_status: the view of `tally cluster status`. See cluster_status.h. */
#include "cluster_status.h"

#include <stdlib.h>
#include <string.h>

#include "cluster_view.h"
#include "coordinator_internal.h"
#include "tally_error.h"
#include "wire.h"

void cluster_status_coordinators(coordinator_t *c, cluster_status_coordinators_t *out) {
  memset(out, 0, sizeof *out);
  if (c->control_plane == NULL) return; /* one coordinator without Raft: nothing to list */
  c->control_plane(c->control_plane_ctx, &out->coordinators, &out->n_coordinators, &out->leader_id,
                   &out->raft_term, &out->raft_commit_index);
}

/* Every worker's last reported lags as one array of borrowed pointers
 * (*lags, malloc'ed: the caller frees the array; *n of them). Returns 0 or
 * TALLY_E_NOMEM. */
static int lags_view(coordinator_t *c, Tally__ReplicaLag ***lags, size_t *n) {
  size_t total = 0, count;
  for (size_t i = 0; i < membership_count(c->members); i++) {
    membership_lags_at(c->members, i, &count);
    total += count;
  }
  *n = 0;
  *lags = malloc((total ? total : 1) * sizeof **lags);
  if (*lags == NULL) return TALLY_E_NOMEM;
  for (size_t i = 0; i < membership_count(c->members); i++) {
    Tally__ReplicaLag **worker_lags = membership_lags_at(c->members, i, &count);
    if (count > 0) memcpy(*lags + *n, worker_lags, count * sizeof **lags);
    *n += count;
  }
  return 0;
}

void cluster_status_handle(coordinator_t *c, const Tally__Envelope *request,
                           const coordinator_replier_t *r) {
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  Tally__ReplicaLag **lags = NULL;
  size_t n_lags = 0;
  int rc = cluster_view_map(c, &map, &workers);
  if (rc == 0) rc = lags_view(c, &lags, &n_lags);
  if (rc < 0) {
    free(workers);
    free(lags);
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory building the cluster status");
    return;
  }
  cluster_status_coordinators_t control;
  cluster_status_coordinators(c, &control);
  Tally__ClusterStatus body = TALLY__CLUSTER_STATUS__INIT;
  body.map = &map;
  body.n_coordinators = control.n_coordinators;
  body.coordinators = control.coordinators;
  body.leader_id = control.leader_id;
  body.raft_term = control.raft_term;
  body.raft_commit_index = control.raft_commit_index;
  body.n_lags = n_lags;
  body.lags = lags;
  Tally__Envelope env;
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_CLUSTER_STATUS;
  env.cluster_status = &body;
  r->send(r->ctx, &env);
  free(workers);
  free(lags);
}
