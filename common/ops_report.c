/* ops_report: sums of operations counters and the figures computed from
 * them. See ops_report.h. */
#include "ops_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handling.h"
#include "tally_error.h"
#include "ttfa.h"

#define OPS_MS_PER_DAY 86400000ull
#define OPS_MS_PER_HOUR 3600000.0
#define OPS_KEY_MAX 40
#define OPS_PRIORITIES 4 /* tally.Priority: LOW 0 .. EMERGENCY 3 */

static const uint32_t turnaround_bounds_hours[OPS_TURNAROUND_BUCKETS - 1] = {
    1, 2, 4, 8, 12, 24, 48, 72, 120, 168};

uint32_t ops_turnaround_bucket_hours(size_t i) {
  return i < OPS_TURNAROUND_BUCKETS - 1 ? turnaround_bounds_hours[i] : 0;
}

size_t ops_turnaround_bucket_of(uint64_t ms) {
  for (size_t i = 0; i < OPS_TURNAROUND_BUCKETS - 1; i++)
    if (ms <= (uint64_t)turnaround_bounds_hours[i] * 3600000ull) return i;
  return OPS_TURNAROUND_BUCKETS - 1;
}

int ops_turnaround_quantile(const uint64_t *histogram, size_t n, double q, double *hours) {
  uint64_t total = 0;
  if (n > OPS_TURNAROUND_BUCKETS) n = OPS_TURNAROUND_BUCKETS;
  for (size_t i = 0; i < n; i++) total += histogram[i];
  if (total == 0 || q <= 0.0 || q > 1.0) return 1;
  double want = q * (double)total, seen = 0;
  size_t i = 0;
  for (; i < n; i++) {
    seen += (double)histogram[i];
    if (seen >= want) break;
  }
  if (i >= OPS_TURNAROUND_BUCKETS - 1) i = OPS_TURNAROUND_BUCKETS - 2;
  *hours = turnaround_bounds_hours[i];
  return 0;
}

int ops_report_kind_is_valid(const char *kind) {
  return kind != NULL && (strcmp(kind, "throughput") == 0 || strcmp(kind, "backlog") == 0 ||
                          strcmp(kind, "sla") == 0 || strcmp(kind, "capacity") == 0 ||
                          strcmp(kind, "ttfa") == 0);
}

int ops_report_by_is_valid(const char *kind, const char *by) {
  if (by == NULL || !ops_report_kind_is_valid(kind)) return 0;
  if (strcmp(by, "day") == 0)
    return strcmp(kind, "backlog") != 0 && strcmp(kind, "capacity") != 0;
  return by[0] == '\0' || strcmp(by, "market") == 0 || strcmp(by, "stage") == 0;
}

/* ------------------------------------------------------------ groups */

typedef struct {
  char key[OPS_KEY_MAX];
  uint64_t ingested, leases, completed, handling_ms_sum, items_done, sla_breaches;
  uint64_t expired, skips, releases, backlog;
  uint64_t handling[HANDLING_BUCKETS];
  uint64_t turnaround[OPS_TURNAROUND_BUCKETS];
  uint32_t top_priority;
  uint64_t oldest_ms; /* 0 = none */
  ttfa_histogram_t first_label[OPS_PRIORITIES], decision[OPS_PRIORITIES];
} group_t;

struct ops_report {
  char *project, *kind, *by, *market;
  uint32_t from_day, to_day, sla_seconds;
  double shift_hours;
  uint64_t now_ms;
  uint32_t first_day; /* smallest day of an added row; UINT32_MAX = none */
  group_t total;
  group_t *groups;
  size_t n_groups, cap_groups;
};

static const char *stage_name(uint32_t stage) {
  switch (stage) {
    case TALLY__STAGE__STAGE_LABEL: return "label";
    case TALLY__STAGE__STAGE_AUDIT: return "audit";
    case TALLY__STAGE__STAGE_ADJUDICATE: return "adjudicate";
    default: return "unknown";
  }
}

static void day_name(uint32_t day, char *out, size_t size) {
  time_t t = (time_t)day * 86400;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, size, "%Y-%m-%d", &tm);
}

/* The group of `key`, created when missing. NULL when out of memory. */
static group_t *group_get(ops_report_t *r, const char *key) {
  for (size_t i = 0; i < r->n_groups; i++)
    if (strcmp(r->groups[i].key, key) == 0) return &r->groups[i];
  if (r->n_groups == r->cap_groups) {
    size_t cap = r->cap_groups ? r->cap_groups * 2 : 16;
    group_t *grown = realloc(r->groups, cap * sizeof *grown);
    if (grown == NULL) return NULL;
    r->groups = grown;
    r->cap_groups = cap;
  }
  group_t *g = &r->groups[r->n_groups++];
  memset(g, 0, sizeof *g);
  snprintf(g->key, sizeof g->key, "%s", key);
  return g;
}

/* Writes the key of (market, stage, day) under r->by; 0 when the report
 * is not grouped (only the total). */
static int group_key(const ops_report_t *r, const char *market, uint32_t stage, uint32_t day,
                     int has_day, char *key) {
  int by_market_default = strcmp(r->kind, "capacity") == 0 || strcmp(r->kind, "ttfa") == 0;
  if (strcmp(r->by, "market") == 0 || (by_market_default && r->by[0] == '\0')) {
    snprintf(key, OPS_KEY_MAX, "%s", market);
  } else if (strcmp(r->by, "stage") == 0) {
    snprintf(key, OPS_KEY_MAX, "%s", stage_name(stage));
  } else if (strcmp(r->by, "day") == 0) {
    if (!has_day) return 0;
    day_name(day, key, OPS_KEY_MAX);
  } else {
    return 0;
  }
  return 1;
}

int ops_report_new(ops_report_t **out, const char *project, const ops_query_t *q) {
  *out = NULL;
  if (!ops_report_kind_is_valid(q->kind) || !ops_report_by_is_valid(q->kind, q->by ? q->by : ""))
    return TALLY_E_INVALID_ARGUMENT;
  if (q->from_day && q->to_day && q->from_day > q->to_day) return TALLY_E_INVALID_ARGUMENT;
  ops_report_t *r = calloc(1, sizeof *r);
  if (r == NULL) return TALLY_E_NOMEM;
  r->project = strdup(project);
  r->kind = strdup(q->kind);
  r->by = strdup(q->by ? q->by : "");
  r->market = strdup(q->market ? q->market : "");
  if (!r->project || !r->kind || !r->by || !r->market) {
    ops_report_destroy(&r);
    return TALLY_E_NOMEM;
  }
  r->from_day = q->from_day;
  r->to_day = q->to_day;
  r->sla_seconds = q->sla_seconds;
  r->shift_hours = q->shift_hours > 0 ? q->shift_hours : OPS_DEFAULT_SHIFT_HOURS;
  r->now_ms = q->now_ms;
  r->first_day = UINT32_MAX;
  snprintf(r->total.key, sizeof r->total.key, "all");
  *out = r;
  return 0;
}

void ops_report_destroy(ops_report_t **report) {
  if (report == NULL || *report == NULL) return;
  ops_report_t *r = *report;
  *report = NULL;
  free(r->project);
  free(r->kind);
  free(r->by);
  free(r->market);
  free(r->groups);
  free(r);
}

static void group_add_row(group_t *g, const Tally__OpsRow *row) {
  g->ingested += row->ingested;
  g->leases += row->leases;
  g->completed += row->completed;
  g->handling_ms_sum += row->handling_ms_sum;
  g->items_done += row->items_done;
  g->sla_breaches += row->sla_breaches;
  g->expired += row->expired;
  g->skips += row->skips;
  g->releases += row->releases;
  for (size_t i = 0; i < row->n_handling_histogram && i < HANDLING_BUCKETS; i++)
    g->handling[i] += row->handling_histogram[i];
  for (size_t i = 0; i < row->n_turnaround_histogram && i < OPS_TURNAROUND_BUCKETS; i++)
    g->turnaround[i] += row->turnaround_histogram[i];
  for (size_t i = 0; i < row->n_ttfa; i++) {
    const Tally__TtfaRow *t = row->ttfa[i];
    if (t->priority >= OPS_PRIORITIES) continue; /* not a priority this build knows */
    ttfa_histogram_add_message(&g->first_label[t->priority], t->first_label);
    ttfa_histogram_add_message(&g->decision[t->priority], t->decision);
  }
}

static void group_add_queue(group_t *g, const Tally__QueueAge *q) {
  g->backlog += q->depth;
  if (q->depth > 0 && q->top_priority > g->top_priority) g->top_priority = q->top_priority;
  if (q->depth > 0 && q->oldest_ingested_ms != 0 &&
      (g->oldest_ms == 0 || q->oldest_ingested_ms < g->oldest_ms))
    g->oldest_ms = q->oldest_ingested_ms;
}

static int market_matches(const ops_report_t *r, const char *market) {
  return r->market[0] == '\0' || strcmp(r->market, market) == 0;
}

int ops_report_add_row(ops_report_t *r, const Tally__OpsRow *row) {
  if (!market_matches(r, row->market)) return 0;
  if ((r->from_day && row->day < r->from_day) || (r->to_day && row->day > r->to_day)) return 0;
  if (row->day < r->first_day) r->first_day = row->day;
  group_add_row(&r->total, row);
  char key[OPS_KEY_MAX];
  if (!group_key(r, row->market, row->stage, row->day, 1, key)) return 0;
  group_t *g = group_get(r, key);
  if (g == NULL) return TALLY_E_NOMEM;
  group_add_row(g, row);
  return 0;
}

int ops_report_add_queue(ops_report_t *r, const Tally__QueueAge *q) {
  if (!market_matches(r, q->market)) return 0;
  group_add_queue(&r->total, q);
  char key[OPS_KEY_MAX];
  if (!group_key(r, q->market, q->stage, 0, 0, key)) return 0;
  group_t *g = group_get(r, key);
  if (g == NULL) return TALLY_E_NOMEM;
  group_add_queue(g, q);
  return 0;
}

int ops_report_add_reply(ops_report_t *r, const Tally__OpsReply *reply) {
  for (size_t i = 0; i < reply->n_rows; i++)
    if (ops_report_add_row(r, reply->rows[i]) < 0) return TALLY_E_NOMEM;
  for (size_t i = 0; i < reply->n_queues; i++)
    if (ops_report_add_queue(r, reply->queues[i]) < 0) return TALLY_E_NOMEM;
  return 0;
}

/* ------------------------------------------------------------ figures */

/* Sets *defined and *value to a / b; undefined when b is 0. */
static void ratio(protobuf_c_boolean *defined, double *value, double a, double b) {
  *defined = b != 0.0;
  *value = b != 0.0 ? a / b : 0.0;
}

/* Fills p50, p95, max and mean of `h`; *defined false when it is empty. */
static void ttfa_figures(const ttfa_histogram_t *h, uint64_t *count, protobuf_c_boolean *defined,
                         double *p50, double *p95, uint64_t *max, double *mean) {
  *count = h->count;
  *defined = ttfa_histogram_quantile(h, 500, p50) == 0;
  if (!*defined) return;
  ttfa_histogram_quantile(h, 950, p95);
  *max = h->max_ms;
  *mean = (double)h->sum_ms / (double)h->count;
}

/* One TtfaFigures per priority with a first label or a decision. */
static int ttfa_fill(const group_t *g, Tally__OpsReportRow *row) {
  size_t n = 0;
  for (size_t p = 0; p < OPS_PRIORITIES; p++)
    if (g->first_label[p].count > 0 || g->decision[p].count > 0) n++;
  if (n == 0) return 0;
  row->ttfa = calloc(n, sizeof *row->ttfa);
  if (row->ttfa == NULL) return TALLY_E_NOMEM;
  for (size_t p = 0; p < OPS_PRIORITIES; p++) {
    if (g->first_label[p].count == 0 && g->decision[p].count == 0) continue;
    Tally__TtfaFigures *f = malloc(sizeof *f);
    if (f == NULL) return TALLY_E_NOMEM;
    tally__ttfa_figures__init(f);
    f->priority = (uint32_t)p;
    ttfa_figures(&g->first_label[p], &f->first_label_count, &f->first_label_defined,
                 &f->first_label_p50_ms, &f->first_label_p95_ms, &f->first_label_max_ms,
                 &f->first_label_mean_ms);
    ttfa_figures(&g->decision[p], &f->decision_count, &f->decision_defined, &f->decision_p50_ms,
                 &f->decision_p95_ms, &f->decision_max_ms, &f->decision_mean_ms);
    row->ttfa[row->n_ttfa++] = f;
  }
  return 0;
}

static int row_fill(const ops_report_t *r, const group_t *g, double days,
                    Tally__OpsReportRow *row) {
  tally__ops_report_row__init(row);
  row->key = strdup(g->key);
  if (row->key == NULL) return TALLY_E_NOMEM;
  row->ingested = g->ingested;
  row->leases = g->leases;
  row->completed = g->completed;
  row->items_done = g->items_done;
  row->expired = g->expired;
  row->skips = g->skips;
  row->releases = g->releases;
  row->handling_ms_sum = g->handling_ms_sum;
  row->sla_breaches = g->sla_breaches;
  row->backlog = g->backlog;
  row->top_priority = g->top_priority;
  uint64_t ms;
  row->handling_p50_defined = handling_quantile(g->handling, HANDLING_BUCKETS, 0.5, &ms) == 0;
  row->handling_p50_ms = row->handling_p50_defined ? (double)ms : 0;
  row->handling_p90_defined = handling_quantile(g->handling, HANDLING_BUCKETS, 0.9, &ms) == 0;
  row->handling_p90_ms = row->handling_p90_defined ? (double)ms : 0;
  row->turnaround_p50_defined =
      ops_turnaround_quantile(g->turnaround, OPS_TURNAROUND_BUCKETS, 0.5, &row->turnaround_p50_hours) == 0;
  row->turnaround_p90_defined =
      ops_turnaround_quantile(g->turnaround, OPS_TURNAROUND_BUCKETS, 0.9, &row->turnaround_p90_hours) == 0;
  ratio(&row->completed_per_day_defined, &row->completed_per_day, (double)g->completed, days);
  ratio(&row->abandonment_defined, &row->abandonment_rate, (double)g->expired, (double)g->leases);
  ratio(&row->skip_rate_defined, &row->skip_rate, (double)g->skips, (double)g->leases);
  ratio(&row->breach_rate_defined, &row->breach_rate, (double)g->sla_breaches,
        (double)g->items_done);
  row->oldest_age_defined = g->oldest_ms != 0;
  row->oldest_age_ms =
      g->oldest_ms != 0 && r->now_ms > g->oldest_ms ? (double)(r->now_ms - g->oldest_ms) : 0;
  ratio(&row->arrival_defined, &row->arrival_per_day, (double)g->ingested, days);
  row->labeler_hours = (double)g->handling_ms_sum / OPS_MS_PER_HOUR;
  ratio(&row->throughput_defined, &row->throughput_per_labeler_hour, (double)g->completed,
        row->labeler_hours);
  if (row->completed_per_day_defined)
    ratio(&row->time_to_clear_defined, &row->time_to_clear_days, (double)g->backlog,
          row->completed_per_day);
  double sla_days = (double)r->sla_seconds / 86400.0;
  if (row->throughput_defined && row->arrival_defined && sla_days > 0) {
    double need = (double)g->backlog + row->arrival_per_day * sla_days;
    double per_labeler = row->throughput_per_labeler_hour * r->shift_hours * sla_days;
    ratio(&row->labelers_needed_defined, &row->labelers_needed, need, per_labeler);
    /* ceil, tolerant of the rounding of an exact quotient (e.g. 3.0000000001) */
    if (row->labelers_needed_defined)
      row->labelers_needed = need <= 0 ? 0.0 : ceil(row->labelers_needed - 1e-9);
  }
  return ttfa_fill(g, row);
}

static int group_order(const void *a, const void *b) {
  return strcmp(((const group_t *)a)->key, ((const group_t *)b)->key);
}

static uint32_t day_of_ms(uint64_t ms) { return (uint32_t)(ms / OPS_MS_PER_DAY); }

int ops_report_build(const ops_report_t *r, Tally__OpsReportReply **out) {
  *out = NULL;
  Tally__OpsReportReply *reply = calloc(1, sizeof *reply);
  if (reply == NULL) return TALLY_E_NOMEM;
  tally__ops_report_reply__init(reply);
  reply->project = strdup(r->project);
  reply->kind = strdup(r->kind);
  reply->by = strdup(r->by);
  reply->to_day = r->to_day ? r->to_day : day_of_ms(r->now_ms);
  reply->from_day = r->from_day ? r->from_day
                    : r->first_day <= reply->to_day ? r->first_day
                                                    : reply->to_day;
  if (reply->from_day > reply->to_day) reply->to_day = reply->from_day;
  reply->days = reply->to_day - reply->from_day + 1;
  reply->sla_seconds = r->sla_seconds;
  reply->shift_hours = r->shift_hours;
  reply->generated_ms = r->now_ms;
  reply->total = calloc(1, sizeof *reply->total);
  int rc = reply->project && reply->kind && reply->by && reply->total ? 0 : TALLY_E_NOMEM;
  if (rc == 0) rc = row_fill(r, &r->total, reply->days, reply->total);
  group_t *sorted = NULL;
  if (rc == 0 && r->n_groups > 0) {
    sorted = malloc(r->n_groups * sizeof *sorted);
    reply->rows = calloc(r->n_groups, sizeof *reply->rows);
    if (sorted == NULL || reply->rows == NULL) rc = TALLY_E_NOMEM;
  }
  if (rc == 0 && r->n_groups > 0) {
    memcpy(sorted, r->groups, r->n_groups * sizeof *sorted);
    qsort(sorted, r->n_groups, sizeof *sorted, group_order);
    double days = strcmp(r->by, "day") == 0 ? 1.0 : reply->days;
    for (size_t i = 0; i < r->n_groups && rc == 0; i++) {
      reply->rows[i] = calloc(1, sizeof *reply->rows[i]);
      if (reply->rows[i] == NULL) {
        rc = TALLY_E_NOMEM;
        break;
      }
      reply->n_rows++;
      rc = row_fill(r, &sorted[i], days, reply->rows[i]);
    }
  }
  free(sorted);
  if (rc < 0) {
    ops_report_reply_free(&reply);
    return rc;
  }
  *out = reply;
  return 0;
}

static void row_free(Tally__OpsReportRow *row) {
  if (row == NULL) return;
  free(row->key);
  for (size_t i = 0; i < row->n_ttfa; i++) free(row->ttfa[i]);
  free(row->ttfa);
  free(row);
}

void ops_report_reply_free(Tally__OpsReportReply **reply) {
  if (reply == NULL || *reply == NULL) return;
  Tally__OpsReportReply *r = *reply;
  *reply = NULL;
  free(r->project);
  free(r->kind);
  free(r->by);
  for (size_t i = 0; i < r->n_rows; i++) row_free(r->rows[i]);
  free(r->rows);
  row_free(r->total);
  free(r);
}
