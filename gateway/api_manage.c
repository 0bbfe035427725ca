/* api_manage: what leads and managers read and steer: the case database,
 * the quality and operations reports, the cluster status, allocation,
 * audit policies and wellbeing budgets, ingest and the streamed export.
 * Every call is a blocking libtally call in the thread pool, acting for
 * the signed-in person, so the cluster checks their roles again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gateway.h"

#define QUERY_MAX 512
#define INGEST_ITEMS_MAX 10000

static json_t *strings_json(const char **v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i] ? v[i] : ""));
  return a;
}

/* A number, or null when undefined. */
static json_t *figure_json(int defined, double value) { return defined ? json_real(value) : json_null(); }

/* The project of the query (?project=), required. 0 or an error was set. */
static int query_project(gw_call_t *c, char *project, size_t size) {
  if (call_query(c, "project", project, size) != 1 || project[0] == '\0') {
    call_set_error(c, 400, "BAD_REQUEST", "which project? (?project=...)");
    return -1;
  }
  return 0;
}

static int query_day(gw_call_t *c, const char *name, uint32_t *day) {
  char text[32];
  int found = call_query(c, name, text, sizeof text);
  if (found == 1 && text[0] != '\0' && tally_day_parse(text, day) < 0) {
    call_set_error(c, 400, "BAD_REQUEST", "%s must be a date YYYY-MM-DD", name);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ cases */

static json_t *case_json(const tally_case_t *k) {
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "project", k->project, "item_id",
                   k->item_id, "market", k->market, "final_label", k->final_label, "attribution",
                   tally_attribution_name(k->attribution), "lead", k->lead, "note", k->note, "label_a",
                   k->label_a, "label_b", k->label_b, "closed_ms", (json_int_t)k->closed_ms, "content",
                   k->content ? k->content : "");
}

static void cases_work(gw_call_t *c, tally_t *t) {
  char project[256], q[QUERY_MAX] = "", attribution[32] = "", labeler[128] = "", pair[256] = "",
                     limit[16] = "", category[128] = "", market[128] = "";
  if (query_project(c, project, sizeof project) < 0) return;
  tally_cases_query_t query;
  memset(&query, 0, sizeof query);
  if (call_query(c, "q", q, sizeof q) < 0 || call_query(c, "attribution", attribution, sizeof attribution) < 0 ||
      call_query(c, "labeler", labeler, sizeof labeler) < 0 || call_query(c, "pair", pair, sizeof pair) < 0 ||
      call_query(c, "limit", limit, sizeof limit) < 0 || call_query(c, "category", category, sizeof category) < 0 ||
      call_query(c, "market", market, sizeof market) < 0) {
    call_set_error(c, 400, "BAD_REQUEST", "a query parameter is malformed or too long");
    return;
  }
  query.text = q;
  query.labeler = labeler;
  query.category = category;
  query.market = market;
  if (attribution[0] && tally_attribution_parse(attribution, &query.attribution) < 0) {
    call_set_error(c, 400, "BAD_REQUEST", "attribution must be labeler, auditor, both or policy_unclear");
    return;
  }
  if (pair[0]) {
    char *gt = strchr(pair, '>');
    if (gt == NULL) {
      call_set_error(c, 400, "BAD_REQUEST", "pair must be LABELER_LABEL>AUDITOR_LABEL");
      return;
    }
    *gt = '\0';
    query.labeler_label = pair;
    query.auditor_label = gt + 1;
  }
  query.limit = limit[0] ? (uint32_t)strtoul(limit, NULL, 10) : 100;
  if (query.limit == 0 || query.limit > 1000) query.limit = 100;
  tally_case_list_t *list = NULL;
  int rc = tally_cases_list(t, project, &query, &list);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  json_t *a = json_array();
  for (size_t i = 0; i < list->count; i++) json_array_append_new(a, case_json(&list->cases[i]));
  c->result = json_pack("{s:o,s:i}", "cases", a, "workers_failed", (int)list->workers_failed);
  tally_free(list);
}

void api_cases(gw_call_t *c) { call_run_blocking(c, cases_work, 1); }

static void case_work(gw_call_t *c, tally_t *t) {
  char *slash = strchr(c->tail, '/');
  if (slash == NULL || slash == c->tail || slash[1] == '\0') {
    call_set_error(c, 400, "BAD_REQUEST", "the path is /api/v1/cases/PROJECT/ITEM_ID");
    return;
  }
  *slash = '\0';
  tally_case_t *k = NULL;
  int rc = tally_case_get(t, c->tail, slash + 1, &k);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  c->result = case_json(k);
  tally_free(k);
}

void api_case(gw_call_t *c) { call_run_blocking(c, case_work, 1); }

/* ------------------------------------------------------------ quality */

static json_t *accuracy_json(const tally_accuracy_t *a) {
  return json_pack("{s:I,s:I,s:o,s:o,s:o}", "judged", (json_int_t)a->judged, "correct", (json_int_t)a->correct,
                   "value", figure_json(a->defined, a->value), "low", figure_json(a->defined, a->wilson_low),
                   "high", figure_json(a->defined, a->wilson_high));
}

static json_t *coefficient(const tally_report_row_t *r, const char *name) {
  for (size_t i = 0; i < r->coefficient_count; i++)
    if (strcmp(r->coefficients[i].name, name) == 0)
      return figure_json(r->coefficients[i].defined, r->coefficients[i].value);
  return json_null();
}

static json_t *quality_row_json(const tally_report_row_t *r) {
  json_t *o = json_pack(
      "{s:s,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "group", r->key, "labels",
      (json_int_t)r->labels, "audits", (json_int_t)r->audits, "agreed", (json_int_t)r->audit_agreed, "accuracy",
      figure_json(r->accuracy_defined, r->accuracy), "accuracy_low", figure_json(r->accuracy_defined, r->wilson_low),
      "accuracy_high", figure_json(r->accuracy_defined, r->wilson_high), "kappa", coefficient(r, "cohen_kappa"),
      "alpha", coefficient(r, "krippendorff_alpha"), "labeler_final", accuracy_json(&r->labeler_final),
      "auditor_final", accuracy_json(&r->auditor_final), "adjudications", (json_int_t)r->adjudications,
      "attributed_labeler", (json_int_t)r->attributed_labeler, "attributed_auditor",
      (json_int_t)r->attributed_auditor, "attributed_policy", (json_int_t)r->attributed_policy, "handling_p50_ms",
      (json_int_t)r->handling_p50_ms, "handling_p90_ms", (json_int_t)r->handling_p90_ms);
  json_t *coefs = json_object();
  for (size_t i = 0; i < r->coefficient_count; i++)
    json_object_set_new(coefs, r->coefficients[i].name,
                        figure_json(r->coefficients[i].defined, r->coefficients[i].value));
  json_object_set_new(o, "coefficients", coefs);
  return o;
}

static json_t *matrix_json(const uint64_t *cells, size_t k) {
  json_t *rows = json_array();
  for (size_t i = 0; i < k; i++) {
    json_t *row = json_array();
    for (size_t j = 0; j < k; j++) json_array_append_new(row, json_integer((json_int_t)(cells ? cells[i * k + j] : 0)));
    json_array_append_new(rows, row);
  }
  return rows;
}

/* kind: 0 quality, 1 confusion, 2 policy gaps */
static void report_work(gw_call_t *c, tally_t *t, int kind) {
  char project[256], by[32] = "", market[128] = "";
  if (query_project(c, project, sizeof project) < 0) return;
  tally_report_query_t q;
  memset(&q, 0, sizeof q);
  call_query(c, "by", by, sizeof by);
  call_query(c, "market", market, sizeof market);
  q.market = market;
  if (query_day(c, "day_from", &q.from_day) < 0 || query_day(c, "day_to", &q.to_day) < 0) return;
  if (kind == 0 && tally_report_by_parse(by, &q.by) < 0) {
    call_set_error(c, 400, "BAD_REQUEST", "by must be labeler, market, category, day or version");
    return;
  }
  tally_report_t *r = NULL;
  int rc = tally_report_quality(t, project, &q, &r);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  if (kind == 0) {
    json_t *rows = json_array();
    for (size_t i = 0; i < r->row_count; i++) json_array_append_new(rows, quality_row_json(&r->rows[i]));
    c->result = json_pack("{s:s,s:s,s:o,s:o,s:i}", "project", project, "by", tally_report_by_name(q.by), "rows",
                          rows, "total", quality_row_json(&r->total), "workers_failed", (int)r->workers_failed);
  } else {
    c->result = json_pack("{s:s,s:o,s:o,s:i}", "project", project, "labels", strings_json(r->labels, r->label_count),
                          "matrix", matrix_json(kind == 1 ? r->confusion : r->policy_unclear, r->label_count),
                          "workers_failed", (int)r->workers_failed);
    json_object_set_new(c->result, "axes", json_pack("{s:s,s:s}", "rows", "labeler", "columns", "auditor"));
  }
  tally_free(r);
}

static void quality_work(gw_call_t *c, tally_t *t) { report_work(c, t, 0); }
static void confusion_work(gw_call_t *c, tally_t *t) { report_work(c, t, 1); }
static void gaps_work(gw_call_t *c, tally_t *t) { report_work(c, t, 2); }

void api_report_quality(gw_call_t *c) { call_run_blocking(c, quality_work, 1); }
void api_report_confusion(gw_call_t *c) { call_run_blocking(c, confusion_work, 1); }
void api_report_policy_gaps(gw_call_t *c) { call_run_blocking(c, gaps_work, 1); }

/* ------------------------------------------------------------ operations */

static json_t *ops_row_json(const tally_ops_row_t *r) {
  return json_pack(
      "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "key",
      r->key, "ingested", (json_int_t)r->ingested, "leases", (json_int_t)r->leases, "completed",
      (json_int_t)r->completed, "items_done", (json_int_t)r->items_done, "expired", (json_int_t)r->expired, "skips",
      (json_int_t)r->skips, "releases", (json_int_t)r->releases, "sla_breaches", (json_int_t)r->sla_breaches,
      "backlog", (json_int_t)r->backlog, "labeler_hours", r->labeler_hours, "handling_p50_ms",
      figure_json(r->handling_p50_ms.defined, r->handling_p50_ms.value), "handling_p90_ms",
      figure_json(r->handling_p90_ms.defined, r->handling_p90_ms.value), "completed_per_day",
      figure_json(r->completed_per_day.defined, r->completed_per_day.value), "skip_rate",
      figure_json(r->skip_rate.defined, r->skip_rate.value), "breach_rate",
      figure_json(r->breach_rate.defined, r->breach_rate.value), "turnaround_p50_hours",
      figure_json(r->turnaround_p50_hours.defined, r->turnaround_p50_hours.value), "turnaround_p90_hours",
      figure_json(r->turnaround_p90_hours.defined, r->turnaround_p90_hours.value), "oldest_age_ms",
      figure_json(r->oldest_age_ms.defined, r->oldest_age_ms.value), "arrival_per_day",
      figure_json(r->arrival_per_day.defined, r->arrival_per_day.value), "throughput_per_labeler_hour",
      figure_json(r->throughput_per_labeler_hour.defined, r->throughput_per_labeler_hour.value),
      "time_to_clear_days", figure_json(r->time_to_clear_days.defined, r->time_to_clear_days.value),
      "labelers_needed", figure_json(r->labelers_needed.defined, r->labelers_needed.value));
}

static int ops_rows(gw_call_t *c, tally_t *t, const char *project, const char *kind, const char *by, json_t **out) {
  tally_ops_query_t q;
  memset(&q, 0, sizeof q);
  q.by = by;
  tally_ops_report_t *r = NULL;
  int rc = tally_report_ops(t, project, kind, &q, &r);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return rc;
  }
  json_t *rows = json_array();
  for (size_t i = 0; i < r->row_count; i++) json_array_append_new(rows, ops_row_json(&r->rows[i]));
  json_array_append_new(rows, ops_row_json(&r->total));
  tally_free(r);
  *out = rows;
  return 0;
}

static void ops_work(gw_call_t *c, tally_t *t) {
  char project[256];
  if (query_project(c, project, sizeof project) < 0) return;
  tally_status_t *st = NULL;
  int rc = tally_status(t, project, &st);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  json_t *queues = json_array();
  for (size_t i = 0; i < st->total.queue_count; i++) {
    const tally_queue_status_t *q = &st->total.queues[i];
    json_array_append_new(queues, json_pack("{s:s,s:s,s:I,s:i}", "market", q->market, "stage",
                                            tally_stage_name(q->stage), "depth", (json_int_t)q->depth,
                                            "top_priority", (int)q->top_priority));
  }
  tally_free(st);
  json_t *backlog = NULL, *throughput = NULL, *sla = NULL, *capacity = NULL;
  if (ops_rows(c, t, project, "backlog", "market", &backlog) < 0 ||
      ops_rows(c, t, project, "throughput", "market", &throughput) < 0 ||
      ops_rows(c, t, project, "sla", "market", &sla) < 0 || ops_rows(c, t, project, "capacity", "", &capacity) < 0) {
    json_decref(queues);
    json_decref(backlog);
    json_decref(throughput);
    json_decref(sla);
    return;
  }
  /* oldest_ms per market from the backlog report, beside each queue */
  size_t i;
  json_t *q;
  json_array_foreach(queues, i, q) {
    size_t j;
    json_t *row;
    json_object_set_new(q, "oldest_ms", json_null());
    json_array_foreach(backlog, j, row) {
      if (strcmp(json_string_value(json_object_get(row, "key")), json_string_value(json_object_get(q, "market"))) == 0)
        json_object_set(q, "oldest_ms", json_object_get(row, "oldest_age_ms"));
    }
  }
  c->result = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "project", project, "queues", queues, "backlog", backlog,
                        "throughput", throughput, "sla", sla, "capacity", capacity);
}

void api_report_ops(gw_call_t *c) { call_run_blocking(c, ops_work, 1); }

static void status_work(gw_call_t *c, tally_t *t) {
  char project[256] = "";
  call_query(c, "project", project, sizeof project);
  tally_status_t *st = NULL;
  int rc = tally_status(t, project, &st);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  json_t *queues = json_array();
  for (size_t i = 0; i < st->total.queue_count; i++) {
    const tally_queue_status_t *q = &st->total.queues[i];
    json_array_append_new(queues, json_pack("{s:s,s:s,s:s,s:I,s:i}", "project", q->project, "market", q->market,
                                            "stage", tally_stage_name(q->stage), "depth", (json_int_t)q->depth,
                                            "top_priority", (int)q->top_priority));
  }
  const tally_worker_status_t *w = &st->total;
  c->result = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:i,s:i}", "items", (json_int_t)w->items, "labels",
                        (json_int_t)w->labels, "live_leases", (json_int_t)w->live_leases, "queued",
                        (json_int_t)w->queued, "done", (json_int_t)w->done, "expired_leases",
                        (json_int_t)w->expired_leases, "skips", (json_int_t)w->skips, "queues", queues, "workers",
                        (int)st->worker_count, "workers_failed", (int)st->workers_failed);
  tally_free(st);
}

void api_status(gw_call_t *c) { call_run_blocking(c, status_work, 1); }

/* ------------------------------------------------------------ allocation */

static json_t *labeler_json(const tally_labeler_t *l) {
  return json_pack("{s:s,s:o,s:o,s:b}", "id", l->id, "roles", call_roles_json(l->roles), "markets",
                   strings_json(l->markets, l->market_count), "has_key", l->public_key && l->public_key[0]);
}

static void labelers_work(gw_call_t *c, tally_t *t) {
  tally_labeler_list_t *list = NULL;
  int rc = tally_labeler_list(t, &list);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  json_t *a = json_array();
  for (size_t i = 0; i < list->count; i++) json_array_append_new(a, labeler_json(&list->labelers[i]));
  tally_free(list);
  c->result = json_pack("{s:o}", "labelers", a);
}

void api_labelers(gw_call_t *c) { call_run_blocking(c, labelers_work, 1); }

/* Borrowed strings of a JSON array of strings (NULL member: absent). */
static int string_list(json_t *array, const char ***out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (array == NULL) return 0;
  if (!json_is_array(array) || json_array_size(array) > 1000) return -1;
  const char **v = calloc(json_array_size(array) + 1, sizeof *v);
  if (v == NULL) return -1;
  size_t i;
  json_t *s;
  json_array_foreach(array, i, s) {
    if (!json_is_string(s)) {
      free(v);
      return -1;
    }
    v[i] = json_string_value(s);
  }
  *out = v;
  *count = json_array_size(array);
  return 0;
}

static void labeler_update_work(gw_call_t *c, tally_t *t) {
  tally_labeler_update_t u;
  memset(&u, 0, sizeof u);
  u.id = c->tail;
  const char **roles = NULL;
  size_t role_count = 0;
  if (string_list(json_object_get(c->body, "roles"), &roles, &role_count) < 0 ||
      string_list(json_object_get(c->body, "add_markets"), &u.add_markets, &u.add_count) < 0 ||
      string_list(json_object_get(c->body, "remove_markets"), &u.remove_markets, &u.remove_count) < 0) {
    call_set_error(c, 400, "BAD_REQUEST", "roles, add_markets and remove_markets are lists of strings");
  } else {
    int rc = 0;
    for (size_t i = 0; i < role_count && rc == 0; i++) {
      uint32_t bit = 0;
      rc = tally_roles_parse(roles[i], &bit);
      u.set_roles |= bit;
    }
    tally_labeler_t *out = NULL;
    if (rc < 0) call_set_error(c, 400, "BAD_REQUEST", "unknown role");
    else if ((rc = tally_labeler_update(t, &u, &out)) < 0) call_set_tally_error(c, rc, tally_last_error(t));
    else c->result = json_pack("{s:o}", "labeler", labeler_json(out));
    tally_free(out);
  }
  free(roles);
  free((void *)u.add_markets);
  free((void *)u.remove_markets);
}

void api_labeler_update(gw_call_t *c) {
  if (c->body == NULL || strchr(c->tail, '/') != NULL) {
    call_reply_error(c, 400, "BAD_REQUEST", "PUT /api/v1/labelers/ID with a JSON body");
    return;
  }
  call_run_blocking(c, labeler_update_work, 1);
}

/* ------------------------------------------------------------ project settings */

static double number_or(json_t *o, const char *name, double fallback) {
  json_t *v = json_object_get(o, name);
  return json_is_number(v) ? json_number_value(v) : fallback;
}

static void audit_policy_work(gw_call_t *c, tally_t *t, const char *project) {
  tally_project_t *p = NULL;
  int rc = tally_project_show(t, project, &p);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  tally_audit_policy_t policy = p->audit;
  policy.rate = number_or(c->body, "rate", p->audit.rate);
  policy.ramp_rate = number_or(c->body, "ramp_rate", p->audit.ramp_rate);
  policy.ramp_audits = (uint32_t)number_or(c->body, "ramp_audits", p->audit.ramp_audits);
  policy.ramp_target = number_or(c->body, "ramp_target", p->audit.ramp_target);
  policy.gold_rate = number_or(c->body, "gold_rate", p->audit.gold_rate);
  json_t *rates = json_object_get(c->body, "market_rates");
  tally_market_rate_t *mr = NULL;
  if (json_is_object(rates)) {
    mr = calloc(json_object_size(rates) + 1, sizeof *mr);
    size_t n = 0;
    const char *market;
    json_t *v;
    json_object_foreach(rates, market, v) {
      mr[n].market = market;
      mr[n].rate = json_is_number(v) ? json_number_value(v) : -1;
      n++;
    }
    policy.market_rates = mr;
    policy.market_rate_count = n;
  }
  tally_project_t *out = NULL;
  rc = tally_audit_policy_set(t, project, &policy, &out);
  if (rc < 0) call_set_tally_error(c, rc, tally_last_error(t));
  else c->result = json_pack("{s:b}", "ok", 1);
  tally_free(out);
  tally_free(p);
  free(mr);
}

static void wellbeing_set_work(gw_call_t *c, tally_t *t, const char *project) {
  tally_project_t *p = NULL;
  int rc = tally_project_show(t, project, &p);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  const char **labels = NULL;
  size_t count = 0;
  json_t *list = json_object_get(c->body, "high_severity");
  if (list != NULL && string_list(list, &labels, &count) < 0) {
    call_set_error(c, 400, "BAD_REQUEST", "high_severity is a list of labels");
  } else {
    tally_project_t *out = NULL;
    rc = tally_wellbeing_set(t, project, list ? labels : p->high_severity, list ? count : p->high_severity_count,
                             (uint32_t)number_or(c->body, "exposure_budget", p->exposure_budget),
                             (uint32_t)number_or(c->body, "shift_hours", p->shift_hours), &out);
    if (rc < 0) call_set_tally_error(c, rc, tally_last_error(t));
    else c->result = json_pack("{s:b}", "ok", 1);
    tally_free(out);
  }
  free(labels);
  tally_free(p);
}

static void project_settings_work(gw_call_t *c, tally_t *t) {
  char *slash = strchr(c->tail, '/');
  *slash = '\0';
  if (strcmp(slash + 1, "audit-policy") == 0) audit_policy_work(c, t, c->tail);
  else wellbeing_set_work(c, t, c->tail);
}

void api_project_settings(gw_call_t *c) {
  char *slash = strchr(c->tail, '/');
  if (slash == NULL || slash == c->tail || c->body == NULL ||
      (strcmp(slash + 1, "audit-policy") != 0 && strcmp(slash + 1, "wellbeing") != 0)) {
    call_reply_error(c, 404, "NOT_FOUND", "PUT /api/v1/projects/NAME/audit-policy or .../wellbeing");
    return;
  }
  if (strcmp(slash + 1, "wellbeing") == 0 && !call_has_role(c, TALLY_ROLE_MANAGER)) {
    call_reply_error(c, 403, "PERMISSION_DENIED", "wellbeing budgets need the manager role");
    return;
  }
  call_run_blocking(c, project_settings_work, 1);
}

/* ------------------------------------------------------------ ingest */

/* The stored content of an item: its text, or with media the JSON object
 * {"text","media_url","media_type"} (api_work.c reads it back). */
static char *item_content(json_t *item) {
  json_t *text = json_object_get(item, "text"), *url = json_object_get(item, "media_url");
  json_t *type = json_object_get(item, "media_type");
  const char *t = json_is_string(text) ? json_string_value(text) : "";
  if (!json_is_string(url) || json_string_length(url) == 0) return strdup(t);
  json_t *o = json_pack("{s:s,s:O,s:s}", "text", t, "media_url", url, "media_type",
                        json_is_string(type) ? json_string_value(type) : "image");
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  return s;
}

static void ingest_work(gw_call_t *c, tally_t *t) {
  const char *project = call_body_string(c, "project");
  json_t *items = json_object_get(c->body, "items");
  if (project == NULL || !json_is_array(items) || json_array_size(items) == 0 ||
      json_array_size(items) > INGEST_ITEMS_MAX) {
    call_set_error(c, 400, "BAD_REQUEST", "send {\"project\", \"items\": [1..%d items]}", INGEST_ITEMS_MAX);
    return;
  }
  size_t n = json_array_size(items);
  tally_item_t *v = calloc(n, sizeof *v);
  char **contents = calloc(n, sizeof *contents);
  if (v == NULL || contents == NULL) {
    call_set_error(c, 500, "INTERNAL", "out of memory");
    free(v);
    free(contents);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *it = json_array_get(items, i);
    json_t *id = json_object_get(it, "id"), *market = json_object_get(it, "market");
    json_t *priority = json_object_get(it, "priority"), *hint = json_object_get(it, "category_hint");
    v[i].id = json_is_string(id) ? json_string_value(id) : "";
    v[i].market = json_is_string(market) ? json_string_value(market) : "";
    v[i].category_hint = json_is_string(hint) ? json_string_value(hint) : NULL;
    v[i].priority = TALLY_PRIORITY_NORMAL;
    if (json_is_string(priority)) tally_priority_parse(json_string_value(priority), &v[i].priority);
    contents[i] = json_is_object(it) ? item_content(it) : strdup("");
    v[i].content = contents[i] ? contents[i] : "";
  }
  tally_ingest_result_t *r = NULL;
  int rc = tally_ingest(t, project, v, n, &r);
  if (r != NULL) {
    json_t *rejected = json_array();
    for (size_t i = 0; i < r->count; i++)
      if (r->items[i].code != 0)
        json_array_append_new(rejected, json_pack("{s:i,s:s,s:s,s:s}", "index", (int)i, "id", v[i].id, "code",
                                                  tally_error_name(r->items[i].code), "message",
                                                  r->items[i].message ? r->items[i].message : ""));
    c->result = json_pack("{s:i,s:i,s:o}", "accepted", (int)r->accepted, "duplicates", (int)r->duplicates,
                          "rejected", rejected);
  }
  if (rc < 0 && r == NULL) call_set_tally_error(c, rc, tally_last_error(t));
  tally_free(r);
  for (size_t i = 0; i < n; i++) free(contents[i]);
  free(contents);
  free(v);
}

void api_ingest(gw_call_t *c) { call_run_blocking(c, ingest_work, 1); }
