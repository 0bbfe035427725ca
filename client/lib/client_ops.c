/* client_ops: operations reports (throughput, backlog, SLA, capacity, time
 * to first action) —
 * one coordinator request that gathers the workers' counters. See tally.h. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "ops_report.h"
#include "result.h"
#include "wire.h"

/* A report waits for the coordinator to hear from every worker. */
#define OPS_TIMEOUT_FACTOR 3

static tally_figure_t figure(protobuf_c_boolean defined, double value) {
  return (tally_figure_t){defined ? 1 : 0, defined ? value : 0.0};
}

static void ops_row_copy(result_t *r, tally_ops_row_t *dst, const Tally__OpsReportRow *src) {
  if (src == NULL) {
    dst->key = result_strdup(r, "all");
    return;
  }
  dst->key = result_strdup(r, src->key);
  dst->ingested = src->ingested;
  dst->leases = src->leases;
  dst->completed = src->completed;
  dst->items_done = src->items_done;
  dst->expired = src->expired;
  dst->skips = src->skips;
  dst->releases = src->releases;
  dst->handling_ms_sum = src->handling_ms_sum;
  dst->sla_breaches = src->sla_breaches;
  dst->backlog = src->backlog;
  dst->top_priority = src->top_priority;
  dst->labeler_hours = src->labeler_hours;
  dst->handling_p50_ms = figure(src->handling_p50_defined, src->handling_p50_ms);
  dst->handling_p90_ms = figure(src->handling_p90_defined, src->handling_p90_ms);
  dst->completed_per_day = figure(src->completed_per_day_defined, src->completed_per_day);
  dst->abandonment_rate = figure(src->abandonment_defined, src->abandonment_rate);
  dst->skip_rate = figure(src->skip_rate_defined, src->skip_rate);
  dst->breach_rate = figure(src->breach_rate_defined, src->breach_rate);
  dst->turnaround_p50_hours = figure(src->turnaround_p50_defined, src->turnaround_p50_hours);
  dst->turnaround_p90_hours = figure(src->turnaround_p90_defined, src->turnaround_p90_hours);
  dst->oldest_age_ms = figure(src->oldest_age_defined, src->oldest_age_ms);
  dst->arrival_per_day = figure(src->arrival_defined, src->arrival_per_day);
  dst->throughput_per_labeler_hour =
      figure(src->throughput_defined, src->throughput_per_labeler_hour);
  dst->time_to_clear_days = figure(src->time_to_clear_defined, src->time_to_clear_days);
  dst->labelers_needed = figure(src->labelers_needed_defined, src->labelers_needed);
  if (src->n_ttfa == 0) return;
  dst->ttfa = result_alloc(r, src->n_ttfa * sizeof *dst->ttfa);
  if (dst->ttfa == NULL) return;
  dst->ttfa_count = src->n_ttfa;
  for (size_t i = 0; i < src->n_ttfa; i++) {
    const Tally__TtfaFigures *f = src->ttfa[i];
    tally_ttfa_t *t = &dst->ttfa[i];
    t->priority = f->priority;
    t->first_label_count = f->first_label_count;
    t->first_label_max_ms = f->first_label_max_ms;
    t->first_label_p50_ms = figure(f->first_label_defined, f->first_label_p50_ms);
    t->first_label_p95_ms = figure(f->first_label_defined, f->first_label_p95_ms);
    t->first_label_mean_ms = figure(f->first_label_defined, f->first_label_mean_ms);
    t->decision_count = f->decision_count;
    t->decision_max_ms = f->decision_max_ms;
    t->decision_p50_ms = figure(f->decision_defined, f->decision_p50_ms);
    t->decision_p95_ms = figure(f->decision_defined, f->decision_p95_ms);
    t->decision_mean_ms = figure(f->decision_defined, f->decision_mean_ms);
  }
}

int tally_report_ops(tally_t *t, const char *project, const char *kind,
                     const tally_ops_query_t *query, tally_ops_report_t **out) {
  *out = NULL;
  tally_ops_query_t all = {0};
  if (query == NULL) query = &all;
  const char *by = query->by ? query->by : "";
  if (project == NULL || project[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a report needs a project");
  if (!ops_report_kind_is_valid(kind))
    return client_error(t, TALLY_E_INVALID_ARGUMENT,
                        "unknown report kind (throughput, backlog, sla, capacity or ttfa)");
  if (!ops_report_by_is_valid(kind, by))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a %s report cannot be grouped by '%.32s'",
                        kind, by);
  if (query->from_day && query->to_day && query->from_day > query->to_day)
    return client_error(t, TALLY_E_INVALID_ARGUMENT,
                        "the report starts (day %u) after it ends (day %u)", query->from_day,
                        query->to_day);
  if (!(query->shift_hours >= 0.0 && query->shift_hours <= 24.0))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "shift hours must be within 0..24");
  Tally__Envelope req, *reply = NULL;
  Tally__OpsReportRequest body;
  wire_envelope_init(&req, 0);
  tally__ops_report_request__init(&body);
  body.project = (char *)project;
  body.market = (char *)(query->market ? query->market : "");
  body.from_day = query->from_day;
  body.to_day = query->to_day;
  body.kind = (char *)kind;
  body.by = (char *)by;
  body.shift_hours = query->shift_hours;
  req.body_case = TALLY__ENVELOPE__BODY_OPS_REPORT_REQUEST;
  req.ops_report_request = &body;
  int rc = client_call_coordinator_within(t, &req, TALLY__ENVELOPE__BODY_OPS_REPORT_REPLY,
                                          t->timeout_ms * OPS_TIMEOUT_FACTOR, &reply);
  if (rc < 0) return rc;
  const Tally__OpsReportReply *rep = reply->ops_report_reply;
  result_t *r;
  tally_ops_report_t *res = result_new(sizeof *res, &r);
  if (res == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  res->project = result_strdup(r, rep->project && rep->project[0] ? rep->project : project);
  res->kind = result_strdup(r, rep->kind && rep->kind[0] ? rep->kind : kind);
  res->by = result_strdup(r, rep->by ? rep->by : "");
  res->from_day = rep->from_day;
  res->to_day = rep->to_day;
  res->days = rep->days;
  res->sla_seconds = rep->sla_seconds;
  res->shift_hours = rep->shift_hours;
  res->generated_ms = rep->generated_ms;
  if (rep->n_rows) {
    res->rows = result_alloc(r, rep->n_rows * sizeof *res->rows);
    if (res->rows) {
      res->row_count = rep->n_rows;
      for (size_t i = 0; i < rep->n_rows; i++) ops_row_copy(r, &res->rows[i], rep->rows[i]);
    }
  }
  ops_row_copy(r, &res->total, rep->total);
  res->workers_answered = rep->workers_answered;
  res->workers_failed = rep->workers_failed;
  wire_envelope_free(&reply);
  if (result_failed(r)) {
    result_free(res);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = res;
  return 0;
}
