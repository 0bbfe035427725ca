/* cluster_status: the view of `tally cluster status`. See cluster_status.h. */
#include "cluster_status.h"

#include <stdlib.h>
#include <string.h>

#include "cluster_view.h"
#include "coordinator_internal.h"
#include "tally_error.h"
#include "wire.h"

void cluster_status_coordinators(coordinator_t *c, cluster_status_coordinators_t *out) {
  (void)c; /* one coordinator without Raft: nothing to list */
  memset(out, 0, sizeof *out);
}

/* Every worker's last reported lags as one array of borrowed pointers
 * (*lags, the caller frees the array); returns how many, or -1 when out of
 * memory. */
static long lags_view(coordinator_t *c, Tally__ReplicaLag ***lags) {
  size_t total = 0, n;
  for (size_t i = 0; i < membership_count(c->members); i++) {
    membership_lags_at(c->members, i, &n);
    total += n;
  }
  *lags = malloc((total ? total : 1) * sizeof **lags);
  if (*lags == NULL) return -1;
  size_t used = 0;
  for (size_t i = 0; i < membership_count(c->members); i++) {
    Tally__ReplicaLag **worker_lags = membership_lags_at(c->members, i, &n);
    if (n > 0) memcpy(*lags + used, worker_lags, n * sizeof **lags);
    used += n;
  }
  return (long)used;
}

void cluster_status_handle(coordinator_t *c, const Tally__Envelope *request,
                           const coordinator_replier_t *r) {
  Tally__ClusterMap map;
  Tally__WorkerInfo **workers = NULL;
  Tally__ReplicaLag **lags = NULL;
  long n_lags = -1;
  if (cluster_view_map(c, &map, &workers) == 0) n_lags = lags_view(c, &lags);
  if (n_lags < 0) {
    free(workers);
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
  body.n_lags = (size_t)n_lags;
  body.lags = lags;
  Tally__Envelope env;
  wire_envelope_init(&env, request->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_CLUSTER_STATUS;
  env.cluster_status = &body;
  r->send(r->ctx, &env);
  free(workers);
  free(lags);
}
