/* ramp: who leaves ramp-up, decided once for the whole cluster.
 *
 * A new joiner is sampled for audit at the policy's ramp_rate until they
 * have at least ramp_audits closed, judged audits (0 counts as 1) and an accuracy against
 * the final label (README, "Accuracy against the final label") of at least
 * ramp_target, both summed over every worker. The coordinator gathers a
 * project's statistics by labeler (report_gather.h) every
 * RAMP_GATHER_PERIOD_MS, picks the people who now qualify with
 * ramp_graduates(), and adds them to Project.ramped_up (sorted, never
 * removed), which reaches every worker with the configuration in the next
 * heartbeat reply. So a person leaves ramp-up on every worker at once,
 * within period + gather deadline + heartbeat interval of qualifying. The
 * worker asks ramp_contains() when it samples a label (quality.c).
 * Pure functions; no I/O.
 */
#ifndef TALLY_COORDINATOR_RAMP_H
#define TALLY_COORDINATOR_RAMP_H

#include <stddef.h>

#include "tally.pb-c.h"

/* Default time between two gathers of the ramp-up sums. */
#define RAMP_GATHER_PERIOD_MS 2000u

/* True when `project` has a ramp-up (ramp_rate > 0): its sums are worth
 * gathering. */
int ramp_project_has_ramp(const Tally__Project *project);

/* True when the summed row of one person (a by-labeler report row) meets
 * the project's ramp-up policy: labeler_final defined, with judged >=
 * max(ramp_audits, 1) and value >= ramp_target. Judged audits are closed
 * ones (an audit waiting for a verdict counts for nobody), so a person can
 * be shown their own standing (FeedbackStanding) without learning of a
 * pending audit. */
int ramp_row_qualifies(const Tally__AuditPolicy *policy, const Tally__ReportRow *row);

/* True when `person` is in the sorted list `names` (bytewise order, as
 * ramp_graduates keeps it): binary search. */
int ramp_contains(char *const *names, size_t n, const char *person);

/* The new sorted list of people who left ramp-up: `current` (sorted, n)
 * plus every row of `reply` (a complete by-labeler report of the project)
 * that qualifies and is not there yet. *out is malloc'ed, its strings
 * borrowed from `current` and `reply` (free only the array). Returns the
 * number of people added (0: *out is NULL, nothing changes) or
 * TALLY_E_NOMEM. A reply with workers_failed > 0 adds nobody: partial
 * sums decide nothing. */
int ramp_graduates(const Tally__AuditPolicy *policy, char *const *current, size_t n,
                   const Tally__ReportReply *reply, char ***out, size_t *out_n);

#endif
