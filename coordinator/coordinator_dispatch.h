/* coordinator_dispatch: how coordinator_handle (declared in coordinator.h)
 * answers one request.
 *
 * 1. A data-plane request (ingest, lease, submit, ...) is refused with
 *    UNKNOWN_TYPE: workers serve those.
 * 2. The caller is resolved from the CURVE key alone (admission.h; an
 *    insecure coordinator serves everyone as "anonymous") and access_check
 *    (common/access.h) applies the role table; c->caller and c->actor (the
 *    admin log's actor) are set for the request and cleared after it.
 * 3. The dispatch table hands the request to the module that owns the
 *    state it reads or changes (catalog, admission, admin_log,
 *    report_jobs, registration, slot_moves, credentials, cluster_view,
 *    calibration). Every state change happens inside those modules'
 *    apply points (their headers); dispatch itself changes nothing.
 *
 * Exactly one reply per request, through the replier.
 */
#ifndef TALLY_COORDINATOR_COORDINATOR_DISPATCH_H
#define TALLY_COORDINATOR_COORDINATOR_DISPATCH_H

#include "coordinator.h"

#endif
