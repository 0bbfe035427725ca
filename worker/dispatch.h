/* dispatch: which handler serves which request body on a worker, and what
 * every request passes first (the caller's identity and role, the disk-full
 * refusal of writes). The table in dispatch.c is the one list of the bodies
 * a worker serves.
 */
#ifndef TALLY_WORKER_DISPATCH_H
#define TALLY_WORKER_DISPATCH_H

#include "router.h"
#include "worker.h"

/* Serves one request of a group: authorizes the caller (identity.h; sets
 * w->caller), refuses a write while the disk is full (NO_SPACE), and hands
 * it to its body's handler; a body a worker does not serve is answered
 * UNKNOWN_TYPE. Every request gets exactly one reply, now or (a parked
 * lease) later. */
void dispatch_request(worker_t *w, const router_request_t *req);

#endif
