/* report: a quality report computed from the workers' sufficient statistics.
 *
 * Workers keep, per (project, market, day, policy version, labeler), one
 * tally.StatsRow of mergeable statistics (DESIGN.md, "Statistics"). A report
 * adds up the rows that every worker sends, in any order and split in any
 * way, and computes every coefficient once from the sums; coefficients are
 * never averaged. The cost depends on the number of rows only: nothing here
 * looks at judgments. Pure computation, no I/O.
 *
 * Use: report_new() with the project's taxonomy and the query, then
 * report_add_row() for every row of every stats_reply (replies may be freed
 * as soon as their rows are added), then report_build() for the
 * tally.ReportReply.
 *
 * Summing. Integer fields add. `pairs` and `policy_unclear_pairs` are
 * agreement_pairs serializations (labeler label x auditor label), as are
 * `final_pairs` and `auditor_final_pairs` (a person's label x the final
 * label; with --by labeler, a person's row holds both roles),
 * `coincidence` and `fleiss` agreement_coincidence / agreement_fleiss ones
 * (item-level agreement, on rows with labeler ""); an empty byte field means
 * "none". `handling_histogram` adds bucket by bucket; a shorter array is
 * zero-padded, a longer one (buckets appended by a newer build) is folded
 * into the last, unbounded bucket, which holds exactly those times here.
 * A row is rejected (skipped as a whole, and counted) when a byte field does
 * not deserialize, its K is not the taxonomy's, audit_agreed > audits,
 * gold_hits > gold_total, or adding it would overflow a sum. Rows outside
 * the query's market or day range are ignored (not counted as rejected), so
 * the report is right even if a worker does not filter.
 *
 * Grouping (report_query_t.by), rows of the reply in this order:
 *   ""          one row, key "all"
 *   "labeler"   one row per labeler (rows with labeler ""; the item-level
 *               rows, count only in the total), ascending by id (bytes)
 *   "market"    one row per market, ascending
 *   "day"       one row per day, key YYYY-MM-DD (UTC), ascending by day
 *   "category"  one row per taxonomy label c, in taxonomy order, grouped
 *               by ONE definition, the labeler's label: labels = audits =
 *               audited labels whose labeler label is c (row c of the
 *               summed pairs), audit_agreed = those the auditor also
 *               labeled c, labeler_final = those judged against the final
 *               label (row c of final_pairs) and right. The coefficients
 *               are those of the one-vs-rest 2 x 2 matrix (c / not c) over
 *               all pairs, which treats both sides alike. auditor_final is
 *               undefined and the other counts 0 (not kept per category).
 * `total` (key "all") always holds everything summed.
 *
 * Each row: the counts; accuracy = audit_agreed / audits (agreement with
 * the auditor) with its 95% Wilson interval (accuracy_defined false, and
 * 0s, when audits = 0); labeler_final and auditor_final, the accuracy
 * against the final label of the group's labelers and auditors (judged =
 * the cells of the summed final_pairs / auditor_final_pairs, correct = their
 * diagonal, 95% Wilson interval; undefined when nothing was judged); handling
 * p50/p90 (0 when there are no times); and `coefficients`, in this order,
 * each {name, defined, value}; an undefined coefficient has defined false
 * and value 0 (never a made-up 0 or 1):
 *   from the pairs:   percent_agreement, cohen_kappa,
 *                     cohen_kappa_linear, cohen_kappa_quadratic (ordinal
 *                     projects only, never on category rows), scott_pi,
 *                     gwet_ac1, alpha_nominal
 *   from the item-level statistics, on rows of by "", "market", "day" and
 *   on the total (never on labeler or category rows):
 *                     overlap_percent_agreement, overlap_alpha_nominal,
 *                     overlap_alpha_ordinal, overlap_alpha_interval
 *                     (these two for ordinal projects only; interval values
 *                     are the category indices + 1), overlap_fleiss_kappa,
 *                     overlap_gwet_ac1
 * `confusion` and `policy_unclear` are the K x K sums of `pairs` and
 * `policy_unclear_pairs`, row-major (labeler label row, auditor label
 * column). workers_answered / workers_failed are left 0 for the caller.
 */
#ifndef TALLY_REPORT_H
#define TALLY_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

/* Coefficient names, as they appear in ReportRow.coefficients. */
#define REPORT_PERCENT_AGREEMENT "percent_agreement"
#define REPORT_COHEN_KAPPA "cohen_kappa"
#define REPORT_COHEN_KAPPA_LINEAR "cohen_kappa_linear"
#define REPORT_COHEN_KAPPA_QUADRATIC "cohen_kappa_quadratic"
#define REPORT_SCOTT_PI "scott_pi"
#define REPORT_GWET_AC1 "gwet_ac1"
#define REPORT_ALPHA_NOMINAL "alpha_nominal"
#define REPORT_OVERLAP_PERCENT_AGREEMENT "overlap_percent_agreement"
#define REPORT_OVERLAP_ALPHA_NOMINAL "overlap_alpha_nominal"
#define REPORT_OVERLAP_ALPHA_ORDINAL "overlap_alpha_ordinal"
#define REPORT_OVERLAP_ALPHA_INTERVAL "overlap_alpha_interval"
#define REPORT_OVERLAP_FLEISS_KAPPA "overlap_fleiss_kappa"
#define REPORT_OVERLAP_GWET_AC1 "overlap_gwet_ac1"

/* Key of the single row of by "" and of the total. */
#define REPORT_KEY_ALL "all"

typedef struct report report_t;

/* What a report covers and how it groups. Strings are borrowed for the
 * duration of report_new() only. */
typedef struct {
  const char *by;     /* "", "labeler", "market", "day", "category" or "version" (policy) */
  const char *market; /* NULL or "": every market */
  uint32_t from_day;  /* inclusive; 0 = no bound */
  uint32_t to_day;    /* inclusive; 0 = no bound */
} report_query_t;

/* True when `by` is one of the groupings above. */
int report_by_is_valid(const char *by);

/* A new, empty report over the taxonomy of `project` (name, labels in
 * order, ordinal; copied). *out is the caller's (report_destroy). Errors:
 * TALLY_E_INVALID_ARGUMENT (unknown `by`, no labels or more than
 * AGREEMENT_MAX_CATEGORIES), TALLY_E_NOMEM. */
int report_new(report_t **out, const Tally__Project *project, const report_query_t *query);

/* Frees the report; safe on NULL; sets *report NULL. */
void report_destroy(report_t **report);

/* Adds one row (borrowed; nothing of it is kept). Returns 1 when added, 0
 * when it lies outside the query's market or days (ignored),
 * TALLY_E_INVALID_ARGUMENT when it was rejected (see above; counted by
 * report_rows_rejected), or TALLY_E_NOMEM (nothing added, not counted). */
int report_add_row(report_t *report, const Tally__StatsRow *row);

/* Rows added, and rows rejected, so far. */
uint64_t report_rows_added(const report_t *report);
uint64_t report_rows_rejected(const report_t *report);

/* Builds the reply for what has been added so far (the report stays usable).
 * On success *out is the caller's, freed with report_reply_free() (not with
 * protobuf-c's free_unpacked). Errors: TALLY_E_NOMEM (*out NULL). */
int report_build(const report_t *report, Tally__ReportReply **out);

/* Frees a reply from report_build(); safe on NULL; sets *reply NULL. */
void report_reply_free(Tally__ReportReply **reply);

/* The coefficient called `name` in `row`, or NULL. Borrowed. */
const Tally__Coefficient *report_row_coefficient(const Tally__ReportRow *row, const char *name);

#endif
