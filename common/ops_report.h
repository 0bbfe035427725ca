/* ops_report: operations reports (throughput, backlog, SLA, capacity) from
 * the workers' operations counters.
 *
 * The coordinator adds every OpsRow and QueueAge the workers sent into one
 * group per report key (market, stage, day, or "all") and computes every
 * rate once from the sums (formulas in proto/tally.proto, OpsReportRow, and
 * README.md). Sums are exact; rates of sums are never averaged. A figure
 * that would divide by zero is reported as undefined (its _defined flag
 * false), never as 0.
 *
 * Turnaround (ingest to done) is kept in a histogram with fixed hour
 * buckets so that histograms of any worker, day or market add up exactly.
 * Changing a bound changes stored statistics: append buckets only.
 *
 * Time to first action (ingest to the first label, and to the final
 * decision) is summed per group and priority in the log-scale histograms
 * of common/ttfa.h; p50/p95 come from the summed histogram, max is exact.
 *
 * Pure logic: no I/O, no clock (the caller passes now_ms).
 */
#ifndef TALLY_OPS_REPORT_H
#define TALLY_OPS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

#define OPS_TURNAROUND_BUCKETS 11
#define OPS_DEFAULT_SHIFT_HOURS 8.0

/* Upper bound of turnaround bucket i in hours (0 for the last, unbounded
 * one), and the bucket of a turnaround in ms. */
uint32_t ops_turnaround_bucket_hours(size_t i);
size_t ops_turnaround_bucket_of(uint64_t ms);

/* Estimated q-quantile (0 < q <= 1) of a turnaround histogram of `n`
 * buckets as the upper bound (hours) of the bucket holding it (the last
 * bucket reports the previous bound). Returns 0 with *hours, or 1
 * (undefined) when the histogram is empty. */
int ops_turnaround_quantile(const uint64_t *histogram, size_t n, double q, double *hours);

/* 1 when `kind` is throughput, backlog, sla, capacity or ttfa (time to
 * first action per priority, common/ttfa.h; with by "" grouped by market). */
int ops_report_kind_is_valid(const char *kind);

/* 1 when `by` is "", market, stage or day and allowed for `kind` (day is
 * not for backlog and capacity). */
int ops_report_by_is_valid(const char *kind, const char *by);

typedef struct {
  const char *kind;    /* ops_report_kind_is_valid */
  const char *by;      /* ops_report_by_is_valid */
  const char *market;  /* "" or NULL = all */
  uint32_t from_day;   /* 0 = first day with data */
  uint32_t to_day;     /* 0 = the day of now_ms */
  uint32_t sla_seconds;
  double shift_hours;  /* <= 0: OPS_DEFAULT_SHIFT_HOURS */
  uint64_t now_ms;     /* unix ms; ages are measured from it */
} ops_query_t;

typedef struct ops_report ops_report_t;

/* A report of `project` (name copied) for `query` (strings copied). *out is
 * the caller's (ops_report_destroy). Errors: TALLY_E_INVALID_ARGUMENT (bad
 * kind or by, from_day after to_day), TALLY_E_NOMEM. */
int ops_report_new(ops_report_t **out, const char *project, const ops_query_t *query);

/* Frees the report; safe on NULL; sets *report NULL. */
void ops_report_destroy(ops_report_t **report);

/* Adds one worker's row / queue, or a whole reply. Rows outside the
 * market or day range are ignored (returns 0). Returns 0 or TALLY_E_NOMEM. */
int ops_report_add_row(ops_report_t *report, const Tally__OpsRow *row);
int ops_report_add_queue(ops_report_t *report, const Tally__QueueAge *queue);
int ops_report_add_reply(ops_report_t *report, const Tally__OpsReply *reply);

/* Builds the reply: rows ordered by key, the total, the resolved range.
 * *out is the caller's (ops_report_reply_free). workers_answered/failed
 * are left 0 for the caller. Returns 0 or TALLY_E_NOMEM. */
int ops_report_build(const ops_report_t *report, Tally__OpsReportReply **out);

/* Frees a reply made by ops_report_build; safe on NULL; sets *reply NULL. */
void ops_report_reply_free(Tally__OpsReportReply **reply);

#endif
