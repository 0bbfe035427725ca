/* coordinator_dispatch: authorization and the dispatch table. See
 * coordinator_dispatch.h. */
#include "coordinator_dispatch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin_log.h"
#include "admission.h"
#include "catalog.h"
#include "clock.h"
#include "cluster_status.h"
#include "cluster_view.h"
#include "coordinator_internal.h"
#include "credentials.h"
#include "log.h"
#include "registration.h"
#include "replicas.h"
#include "report_jobs.h"
#include "slot_moves.h"
#include "tally_error.h"
#include "wire.h"

/* ---------------------------------------------------------------- calibration */

/* What a calibration request borrows (calibration.h): the projects, the
 * people, the caller, and admin_log_commit for its changes. */

static const Tally__Project *calibration_project(void *ctx, const char *name) {
  return catalog_project_find(ctx, name);
}

static int calibration_commit(void *ctx, meta_batch_t **batch, const char *action,
                              const char *target, const ProtobufCMessage *old_value,
                              const ProtobufCMessage *new_value) {
  admin_change_t change = {action, target, old_value, new_value};
  return admin_log_commit(ctx, batch, &change);
}

static void handle_calibration(coordinator_t *c, const Tally__Envelope *request,
                               const coordinator_replier_t *r) {
  calibration_env_t env = {c,
                           calibration_project,
                           c->labelers.items,
                           c->labelers.count,
                           &c->caller,
                           clock_now_ms(),
                           c->store,
                           calibration_commit};
  calibration_handle(c->calibration, &env, request, r);
}

/* ---------------------------------------------------------------- dispatch */

/* True for requests of the data plane, which workers serve. */
static int is_worker_request(Tally__Envelope__BodyCase body) {
  switch (body) {
    case TALLY__ENVELOPE__BODY_INGEST:
    case TALLY__ENVELOPE__BODY_LEASE:
    case TALLY__ENVELOPE__BODY_SUBMIT:
    case TALLY__ENVELOPE__BODY_SKIP:
    case TALLY__ENVELOPE__BODY_RELEASE:
    case TALLY__ENVELOPE__BODY_STATUS:
    case TALLY__ENVELOPE__BODY_ITEM_GET:
    case TALLY__ENVELOPE__BODY_STATS_REQUEST:
    case TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST:
    case TALLY__ENVELOPE__BODY_EXPORT_REQUEST:
    case TALLY__ENVELOPE__BODY_CASES_REQUEST:
    case TALLY__ENVELOPE__BODY_CASE_GET:
    case TALLY__ENVELOPE__BODY_SLOT_CHUNK:
      return 1;
    default:
      return 0;
  }
}

static void coordinator_dispatch(coordinator_t *c, const Tally__Envelope *request,
                                 const char *caller_key, const coordinator_replier_t *r) {
  switch (request->body_case) {
    case TALLY__ENVELOPE__BODY_PROJECT_CREATE:
      catalog_handle_project_create(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_PROJECT_LIST:
      catalog_handle_project_list(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_PROJECT_SHOW:
      catalog_handle_project_show(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET:
      catalog_handle_audit_policy_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_WELLBEING_SET:
      catalog_handle_wellbeing_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_REPORT_REQUEST:
      report_jobs_handle_report_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_OPS_REPORT_REQUEST:
      report_jobs_handle_ops_report_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_LABELER_ADD:
      catalog_handle_labeler_add(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_LABELER_LIST:
      catalog_handle_labeler_list(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_LABELER_UPDATE:
      catalog_handle_labeler_update(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CONFIG_REQUEST:
      cluster_view_handle_config_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_MAP_REQUEST:
      cluster_view_handle_map_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_WORKER_REGISTER:
      registration_handle_worker_register(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_HEARTBEAT:
      registration_handle_heartbeat(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE:
      slot_moves_handle_done(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_ISR_CHANGE:
      replicas_handle_isr_change(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_WORKER_DRAIN:
      slot_moves_handle_drain(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CLUSTER_ADMIT:
      admission_handle_cluster_admit(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_ADMIN_LOG_REQUEST:
      admin_log_handle_request(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_WHOAMI_REQUEST:
      admission_handle_whoami(c, request, caller_key, r);
      break;
    case TALLY__ENVELOPE__BODY_GUIDELINE_SET:
      catalog_handle_guideline_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CREDENTIAL_SET:
      credentials_handle_set(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CREDENTIAL_GET:
      credentials_handle_get(c, request, r);
      break;
    case TALLY__ENVELOPE__BODY_CLUSTER_STATUS_REQUEST:
      cluster_status_handle(c, request, r);
      break;
    default:
      if (calibration_handles(request->body_case)) {
        handle_calibration(c, request, r);
        break;
      }
      if (is_worker_request(request->body_case))
        coordinator_reply_error(r, TALLY_E_UNKNOWN_TYPE,
                                "the coordinator does not serve '%s'; send it to a worker",
                                wire_body_name(request));
      else
        coordinator_reply_error(r, TALLY_E_UNKNOWN_TYPE,
                                "'%s' is not a request the coordinator serves",
                                wire_body_name(request));
      break;
  }
}

/* Resolves the caller and applies access.h's rules; 0 when the request
 * may go on (c->caller and c->actor set), else the error was replied. */
static int coordinator_authorize(coordinator_t *c, Tally__Envelope *request, const char *key,
                                 const coordinator_replier_t *r) {
  identity_t caller;
  char why[MESSAGE_SIZE];
  if (!c->secure) {
    access_anonymous(&caller);
  } else if (key == NULL || key[0] == '\0' || !admission_resolve_key(c, key, &caller)) {
    coordinator_reply_error(r, TALLY_E_UNAUTHENTICATED,
                            "this coordinator does not know your key (ask an operator to add it)");
    return -1;
  }
  int rc = access_check(&caller, request, admission_find_person, c, &c->caller, why, sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return -1;
  }
  if (strcmp(c->caller.id, caller.id) != 0)
    snprintf(c->actor, sizeof c->actor, "%s/%s", caller.id, c->caller.id);
  else
    snprintf(c->actor, sizeof c->actor, "%s", caller.id);
  return 0;
}

void coordinator_handle(coordinator_t *c, Tally__Envelope *request, const char *caller_key,
                        const coordinator_replier_t *r) {
  log_debug("request %" PRIu64 ": %s", request->request_id, wire_body_name(request));
  if (is_worker_request(request->body_case)) {
    coordinator_reply_error(r, TALLY_E_UNKNOWN_TYPE,
                            "the coordinator does not serve '%s'; send it to a worker",
                            wire_body_name(request));
    return;
  }
  if (coordinator_authorize(c, request, caller_key, r) < 0) return;
  coordinator_dispatch(c, request, caller_key, r);
  c->actor[0] = '\0';
}
