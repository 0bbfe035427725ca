/* report_jobs: report, ops report and ramp-up jobs. See report_jobs.h. */
#include "report_jobs.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clock.h"
#include "coordinator_internal.h"
#include "log.h"
#include "ramp.h"
#include "tally_error.h"
#include "validate.h"

void coordinator_report_job_free(coordinator_report_job_t **job) {
  if (job == NULL || *job == NULL) return;
  coordinator_report_job_t *j = *job;
  *job = NULL;
  report_destroy(&j->report);
  free(j->stats.project);
  free(j->stats.market);
  ops_report_destroy(&j->ops);
  if (j->ops_request.project != protobuf_c_empty_string) free(j->ops_request.project);
  if (j->ops_request.market != protobuf_c_empty_string) free(j->ops_request.market);
  for (size_t i = 0; j->endpoints && i < j->n_workers; i++) free(j->endpoints[i]);
  for (size_t i = 0; j->server_keys && i < j->n_workers; i++) free(j->server_keys[i]);
  free(j->endpoints);
  free(j->server_keys);
  free(j->worker_ids);
  free(j);
}

/* The fan-out of a job: fills its worker_ids, endpoints and server_keys
 * with every worker of the map that is not DOWN, the workers it asks.
 * Returns 0, or TALLY_E_NOMEM (what was filled goes with the job,
 * coordinator_report_job_free). */
static int report_job_add_workers(coordinator_t *c, coordinator_report_job_t *job) {
  size_t count = membership_count(c->members);
  job->worker_ids = calloc(count ? count : 1, sizeof *job->worker_ids);
  job->endpoints = calloc(count ? count : 1, sizeof *job->endpoints);
  job->server_keys = calloc(count ? count : 1, sizeof *job->server_keys);
  if (job->worker_ids == NULL || job->endpoints == NULL || job->server_keys == NULL)
    return TALLY_E_NOMEM;
  for (size_t i = 0; i < count; i++) {
    const Tally__WorkerInfo *worker = membership_worker_at(c->members, i);
    if (worker->state == TALLY__WORKER_STATE__WORKER_DOWN) continue;
    size_t n = job->n_workers;
    job->worker_ids[n] = worker->id;
    job->endpoints[n] = strdup(worker->endpoint);
    job->server_keys[n] = strdup(worker->public_key);
    if (job->endpoints[n] == NULL || job->server_keys[n] == NULL) {
      free(job->endpoints[n]);
      free(job->server_keys[n]);
      job->endpoints[n] = job->server_keys[n] = NULL;
      return TALLY_E_NOMEM;
    }
    job->n_workers++;
  }
  return 0;
}

/* A job for a validated report request `body` on `project`: the engine
 * and the workers to ask. NULL when out of memory. */
static coordinator_report_job_t *report_job_build(coordinator_t *c, uint64_t request_id,
                                                  const Tally__ReportRequest *body,
                                                  const Tally__Project *project) {
  coordinator_report_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return NULL;
  job->request_id = request_id;
  tally__stats_request__init(&job->stats);
  job->stats.project = strdup(body->project);
  job->stats.market = strdup(body->market);
  job->stats.from_day = body->from_day;
  job->stats.to_day = body->to_day;
  report_query_t query = {body->by, body->market, body->from_day, body->to_day};
  int ok = job->stats.project && job->stats.market &&
           report_new(&job->report, project, &query) == 0 && report_job_add_workers(c, job) == 0;
  if (!ok) coordinator_report_job_free(&job);
  return job;
}

static coordinator_report_job_t *report_job_new(coordinator_t *c, const Tally__Envelope *request,
                                                const Tally__Project *project) {
  return report_job_build(c, request->request_id, request->report_request, project);
}

/* ------------------------------------------------------------ ramp-up (ramp.h) */

int coordinator_ramp_job(coordinator_t *c, size_t *cursor, coordinator_report_job_t **out) {
  *out = NULL;
  for (; *cursor < c->projects.count; (*cursor)++) {
    const Tally__Project *project = c->projects.items[*cursor];
    if (!ramp_project_has_ramp(project)) continue;
    Tally__ReportRequest body = TALLY__REPORT_REQUEST__INIT;
    body.project = project->name;
    body.by = "labeler";
    (*cursor)++;
    *out = report_job_build(c, 0, &body, project);
    return *out != NULL ? 1 : TALLY_E_NOMEM;
  }
  return 0;
}

int coordinator_ramp_apply(coordinator_t *c, const Tally__ReportReply *reply) {
  const Tally__Project *current = catalog_project_find(c, reply->project);
  if (current == NULL || !ramp_project_has_ramp(current)) return 0;
  char **names = NULL;
  size_t n = 0;
  int added = ramp_graduates(current->audit, current->ramped_up, current->n_ramped_up, reply, &names,
                             &n);
  if (added <= 0) return added;
  int found;
  size_t at = catalog_project_at(c, current->name, &found);
  Tally__Project project = *current;
  project.ramped_up = names;
  project.n_ramped_up = n;
  int rc = 0;
  char quoted[QUOTE_SIZE];
  validate_quote(current->name, quoted, sizeof quoted);
  const Tally__Project *stored = catalog_project_commit(c, at, &project, "the ramp-up set",
                                                        "ramp_up_left", &rc);
  free(names); /* strings were borrowed from the old project and the reply */
  if (stored == NULL) {
    log_warn("project '%s': could not record who left ramp-up: %s", quoted, tally_strerror(rc));
    return rc;
  }
  log_info("project '%s': %d people left ramp-up (%zu in all; config version %" PRIu64 ")", quoted,
           added, stored->n_ramped_up, c->config_version);
  return added;
}

static int project_has_market(const Tally__Project *project, const char *market) {
  for (size_t i = 0; i < project->n_markets; i++)
    if (strcmp(project->markets[i], market) == 0) return 1;
  return 0;
}

/* The project a report request names, or NULL once UNKNOWN_PROJECT is
 * answered. */
static const Tally__Project *report_project(coordinator_t *c, const char *name,
                                            const coordinator_replier_t *r) {
  const Tally__Project *project = catalog_project_find(c, name);
  if (project == NULL) {
    char quoted[QUOTE_SIZE];
    validate_quote(name, quoted, sizeof quoted);
    coordinator_reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
  }
  return project;
}

/* Whether a report request's scope is valid: `market` empty or one of the
 * project's, from_day not after to_day (0: open). Returns 1, or 0 once the
 * error is answered. */
static int report_scope_is_valid(const Tally__Project *project, const char *market,
                                 uint32_t from_day, uint32_t to_day,
                                 const coordinator_replier_t *r) {
  if (market[0] != '\0' && !project_has_market(project, market)) {
    char quoted[QUOTE_SIZE];
    validate_quote(market, quoted, sizeof quoted);
    coordinator_reply_error(r, TALLY_E_UNKNOWN_MARKET, "'%s' is not a market of project '%s'",
                            quoted, project->name);
    return 0;
  }
  if (from_day != 0 && to_day != 0 && from_day > to_day) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT, "from_day %u is after to_day %u",
                            from_day, to_day);
    return 0;
  }
  return 1;
}

/* Whether r can take a job (a connection that serves reports). Returns 1,
 * or 0 once UNAVAILABLE is answered. */
static int replier_takes_jobs(const coordinator_replier_t *r) {
  if (r->defer_report != NULL) return 1;
  coordinator_reply_error(r, TALLY_E_UNAVAILABLE, "reports are not served on this connection");
  return 0;
}

/* Hands `job` to r->defer_report, or answers INTERNAL when it is NULL (out
 * of memory building it). */
static void report_job_defer(const coordinator_replier_t *r, coordinator_report_job_t *job) {
  if (job == NULL) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory preparing the report");
    return;
  }
  r->defer_report(r->ctx, job);
}

void report_jobs_handle_report_request(coordinator_t *c, const Tally__Envelope *request,
                                       const coordinator_replier_t *r) {
  const Tally__ReportRequest *body = request->report_request;
  char quoted[QUOTE_SIZE];
  const Tally__Project *project = report_project(c, body->project, r);
  if (project == NULL) return;
  if (!report_by_is_valid(body->by)) {
    validate_quote(body->by, quoted, sizeof quoted);
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "by '%s' is not one of: \"\" (everything), labeler, market, category, day, version",
                            quoted);
    return;
  }
  if (!report_scope_is_valid(project, body->market, body->from_day, body->to_day, r)) return;
  if (!replier_takes_jobs(r)) return;
  coordinator_report_job_t *job = report_job_new(c, request, project);
  if (job != NULL)
    log_debug("report on '%s' by '%s': asking %zu workers", project->name, body->by,
              job->n_workers);
  report_job_defer(r, job);
}

/* A job for a validated ops report request: the engine and the workers to
 * ask (every worker that is not DOWN). NULL when out of memory. */
static coordinator_report_job_t *ops_job_new(coordinator_t *c, const Tally__Envelope *request,
                                             const Tally__Project *project) {
  const Tally__OpsReportRequest *body = request->ops_report_request;
  coordinator_report_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return NULL;
  job->request_id = request->request_id;
  tally__stats_request__init(&job->stats);
  job->stats.project = strdup(body->project); /* for the gather's logs */
  job->stats.market = strdup(body->market);
  tally__ops_request__init(&job->ops_request);
  job->ops_request.project = strdup(body->project);
  job->ops_request.market = strdup(body->market);
  job->ops_request.from_day = body->from_day;
  job->ops_request.to_day = body->to_day;
  ops_query_t query = {body->kind, body->by, body->market, body->from_day, body->to_day,
                       project->sla_seconds, body->shift_hours, clock_now_ms()};
  int ok = job->stats.project && job->stats.market && job->ops_request.project &&
           job->ops_request.market && ops_report_new(&job->ops, project->name, &query) == 0 &&
           report_job_add_workers(c, job) == 0;
  if (!ok) coordinator_report_job_free(&job);
  return job;
}

/* ops_report_request: validated here, answered later by the daemon once
 * the workers sent their ops_replies (replier->defer_report). */
void report_jobs_handle_ops_report_request(coordinator_t *c, const Tally__Envelope *request,
                                           const coordinator_replier_t *r) {
  const Tally__OpsReportRequest *body = request->ops_report_request;
  char quoted[QUOTE_SIZE];
  const Tally__Project *project = report_project(c, body->project, r);
  if (project == NULL) return;
  if (!ops_report_kind_is_valid(body->kind)) {
    validate_quote(body->kind, quoted, sizeof quoted);
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "kind '%s' is not one of: throughput, backlog, sla, capacity, ttfa",
                            quoted);
    return;
  }
  if (!ops_report_by_is_valid(body->kind, body->by)) {
    validate_quote(body->by, quoted, sizeof quoted);
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "by '%s' is not valid for a %s report: \"\" (everything), market, stage%s",
                            quoted, body->kind,
                            strcmp(body->kind, "backlog") == 0 ||
                                    strcmp(body->kind, "capacity") == 0
                                ? ""
                                : ", day");
    return;
  }
  if (!report_scope_is_valid(project, body->market, body->from_day, body->to_day, r)) return;
  if (!(body->shift_hours >= 0.0 && body->shift_hours <= 24.0)) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT, "shift_hours must be in 0..24 (0 = 8)");
    return;
  }
  if (!replier_takes_jobs(r)) return;
  report_job_defer(r, ops_job_new(c, request, project));
}
