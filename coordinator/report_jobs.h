/* report_jobs: what the workers are asked for a report, an ops report or
 * the ramp-up sums, as a coordinator_report_job_t (coordinator.h).
 *
 * A report_request or ops_report_request is validated here against the
 * catalog (project, market, kind, by, day range) and turned into a job over
 * every worker of the map that is not DOWN; the daemon gathers the workers'
 * replies asynchronously (report_gather.h) and answers the client. These
 * change no state.
 *
 * Apply point: coordinator_ramp_apply (declared in coordinator.h) adds the
 * people who now meet their project's ramp-up policy to Project.ramped_up
 * through catalog_project_commit: the project record, config_version + 1
 * and admin log "ramp_up_left" by "coordinator" in ONE synced meta_batch,
 * then installed. coordinator_ramp_job and coordinator_report_job_free are
 * also defined here.
 */
#ifndef TALLY_COORDINATOR_REPORT_JOBS_H
#define TALLY_COORDINATOR_REPORT_JOBS_H

#include "coordinator.h"
#include "tally.pb-c.h"

/* report_request / ops_report_request: a valid one is handed over to
 * r->defer_report as a job (UNAVAILABLE when r has none); an invalid one
 * is answered with the error. */
void report_jobs_handle_report_request(coordinator_t *c, const Tally__Envelope *request,
                                       const coordinator_replier_t *r);
void report_jobs_handle_ops_report_request(coordinator_t *c, const Tally__Envelope *request,
                                           const coordinator_replier_t *r);

#endif
