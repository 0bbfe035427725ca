/* dispatch: request body -> handler. See dispatch.h. */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>

#include "cases.h"
#include "ops.h"
#include "quality.h"
#include "replication.h"
#include "slot_move.h"
#include "tally_error.h"
#include "wellbeing.h"
#include "wire.h"
#include "worker_internal.h"

typedef void (*dispatch_handler_fn)(worker_t *w, const router_request_t *req);

typedef struct {
  Tally__Envelope__BodyCase body;
  dispatch_handler_fn handle;
  /* Refused while the disk is full: the requests that write, and a release
   * (it changes counters only, but a full worker keeps its leases as they
   * are; a lease that finds a task is refused by labeling.c itself). */
  int refused_when_full;
} dispatch_entry_t;

/* The handler objects (quality, cases, ops, wellbeing) answer through a
 * responder. */
static void handle_stats(worker_t *w, const router_request_t *req) {
  quality_handle_stats(w->quality, worker_responder(w, req));
}
static void handle_feedback(worker_t *w, const router_request_t *req) {
  quality_handle_feedback(w->quality, worker_responder(w, req));
}
static void handle_export(worker_t *w, const router_request_t *req) {
  quality_handle_export(w->quality, worker_responder(w, req));
}
static void handle_cases(worker_t *w, const router_request_t *req) {
  cases_handle_list(w->cases, worker_responder(w, req));
}
static void handle_case_get(worker_t *w, const router_request_t *req) {
  cases_handle_get(w->cases, worker_responder(w, req));
}

static void handle_ops(worker_t *w, const router_request_t *req) {
  ops_handle_request(w->ops, worker_responder(w, req));
}
static void handle_exposure(worker_t *w, const router_request_t *req) {
  wellbeing_handle_exposure(w->wellbeing, worker_responder(w, req));
}

static const dispatch_entry_t dispatch_table[] = {
    {TALLY__ENVELOPE__BODY_INGEST, labeling_handle_ingest, 1},
    {TALLY__ENVELOPE__BODY_LEASE, labeling_handle_lease, 0},
    {TALLY__ENVELOPE__BODY_SUBMIT, labeling_handle_submit, 1},
    {TALLY__ENVELOPE__BODY_SKIP, labeling_handle_skip, 1},
    {TALLY__ENVELOPE__BODY_RELEASE, labeling_handle_release, 1},
    {TALLY__ENVELOPE__BODY_STATUS, labeling_handle_status, 0},
    {TALLY__ENVELOPE__BODY_ITEM_GET, labeling_handle_item_get, 0},
    {TALLY__ENVELOPE__BODY_STATS_REQUEST, handle_stats, 0},
    {TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST, handle_feedback, 0},
    {TALLY__ENVELOPE__BODY_EXPORT_REQUEST, handle_export, 0},
    {TALLY__ENVELOPE__BODY_OPS_REQUEST, handle_ops, 0},
    {TALLY__ENVELOPE__BODY_CASES_REQUEST, handle_cases, 0},
    {TALLY__ENVELOPE__BODY_CASE_GET, handle_case_get, 0},
    {TALLY__ENVELOPE__BODY_SLOT_CHUNK, slot_move_handle_chunk, 1},
    {TALLY__ENVELOPE__BODY_EXPOSURE_REQUEST, handle_exposure, 0},
    {TALLY__ENVELOPE__BODY_REPLICA_APPEND, replication_handle_append, 1},
};

static const dispatch_entry_t *dispatch_find(Tally__Envelope__BodyCase body) {
  for (size_t i = 0; i < sizeof dispatch_table / sizeof *dispatch_table; i++)
    if (dispatch_table[i].body == body) return &dispatch_table[i];
  return NULL;
}

/* access_find_person_fn over the worker's configuration. */
static int find_person(void *user, const char *id, identity_t *out) {
  worker_t *w = user;
  const Tally__Labeler *l = config_cache_labeler(w->config, id);
  if (l == NULL) return 0;
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", l->id);
  out->roles = l->roles;
  out->is_person = 1;
  return 1;
}

void dispatch_request(worker_t *w, const router_request_t *req) {
  char why[512];
  int rc = identity_authorize(w->identity, req, find_person, w, &w->caller, why, sizeof why);
  if (rc < 0) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, rc, "%s", why);
    return;
  }
  const dispatch_entry_t *e = dispatch_find(req->env->body_case);
  if (e == NULL) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_UNKNOWN_TYPE,
                       "a worker does not serve '%s'", wire_body_name(req->env));
    return;
  }
  if (w->no_space && e->refused_when_full) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_NO_SPACE,
                       "the worker's disk is full: '%s' is refused until space is freed "
                       "(reads go on)",
                       wire_body_name(req->env));
    return;
  }
  e->handle(w, req);
}
