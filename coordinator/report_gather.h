/* report_gather: quality reports in progress, scattered to the workers and
 * gathered on the coordinator's libuv loop.
 *
 * For each report (a coordinator_report_job_t), one stats_request (or, for
 * an operations report, one ops_request) goes to
 * every worker of the job, each with its own request id, over one ZeroMQ
 * DEALER per worker endpoint (shared by the reports in progress, closed
 * when none waits on it any more). The DEALERs' ZMQ_FDs are watched with
 * uv_poll under the edge-trigger rules of common/router.h: drained while
 * ZMQ_EVENTS has POLLIN, and checked again on the next loop turn after
 * sending. Replies are matched to their report by request id; the rows of a
 * stats_reply are added to the report's engine at once and the reply freed,
 * so memory depends on the report's groups, not on the workers' rows.
 *
 * A worker counts as answered when its stats_reply arrives (with its own
 * worker id) before the deadline, and as failed otherwise: an error reply
 * (UNKNOWN_TYPE from a worker that does not serve statistics, ...), a reply
 * that cannot be decoded or is not a stats_reply, a send that cannot be
 * queued, or no answer by the deadline. A report is completed when every
 * worker answered or failed, or at the deadline; late replies are dropped.
 * The coordinator keeps serving everything else meanwhile.
 */
#ifndef TALLY_COORDINATOR_REPORT_GATHER_H
#define TALLY_COORDINATOR_REPORT_GATHER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "coordinator.h"
#include "curve.h"
#include "tally.pb-c.h"

/* Default time a report waits for the workers. */
#define REPORT_GATHER_DEFAULT_DEADLINE_MS 2000u

/* Default limit of reports in progress at once. */
#define REPORT_GATHER_DEFAULT_MAX_PENDING 16u

typedef struct report_gather report_gather_t;

/* Called exactly once per started report, from the loop (never from inside
 * report_gather_start): with the reply (borrowed, valid during the call;
 * workers_answered and workers_failed set) and code 0, or with NULL and a
 * negative code: TALLY_E_NOMEM (the reply could not be built) or
 * TALLY_E_UNAVAILABLE (the gather was destroyed first). */
typedef void (*report_gather_done_cb)(void *user, const Tally__ReportReply *reply, int code);

/* The same for an ops report (job->ops set): with the OpsReportReply. */
typedef void (*report_gather_ops_done_cb)(void *user, const Tally__OpsReportReply *reply,
                                          int code);

/* A gather on `loop` using ZeroMQ context `zmq_ctx`; each report waits at
 * most deadline_ms, and at most max_pending run at once. *out is the
 * caller's (report_gather_destroy). Errors: TALLY_E_INVALID_ARGUMENT
 * (deadline_ms or max_pending 0), TALLY_E_NOMEM. */
int report_gather_new(report_gather_t **out, uv_loop_t *loop, void *zmq_ctx,
                      uint64_t deadline_ms, size_t max_pending);

/* Connects to the workers with CURVE as `self` (copied), each worker
 * authenticated by its key in the job (server_keys). Without this call
 * the connections are plain TCP (an --insecure cluster). */
void report_gather_set_curve(report_gather_t *gather, const curve_keypair_t *self);

/* Completes every report in progress with TALLY_E_UNAVAILABLE, closes the
 * sockets and handles; safe on NULL; sets *gather NULL. The loop must run
 * once more for the close callbacks (memory is freed there). */
void report_gather_destroy(report_gather_t **gather);

/* Starts the report of `job`, taking ownership of it (also on failure).
 * Returns 0 (`done` will run once, later), or TALLY_E_UNAVAILABLE (too many
 * reports in progress) / TALLY_E_NOMEM; then `done` never runs. A worker
 * whose connection cannot be opened or whose request cannot be queued
 * counts as failed. */
int report_gather_start(report_gather_t *gather, coordinator_report_job_t *job,
                        report_gather_done_cb done, void *user);

/* The same for a job with `ops` set (an ops_report_request): asks every
 * worker with an ops_request, adds their ops_replies to job->ops, and
 * calls `done` with the built OpsReportReply. A job without `ops` must go
 * to report_gather_start, and one with `ops` here: otherwise the job is
 * freed and TALLY_E_INVALID_ARGUMENT returned. */
int report_gather_start_ops(report_gather_t *gather, coordinator_report_job_t *job,
                            report_gather_ops_done_cb done, void *user);

/* Reports in progress, and DEALER connections open (for tests and logs). */
size_t report_gather_pending(const report_gather_t *gather);
size_t report_gather_connections(const report_gather_t *gather);

#endif
