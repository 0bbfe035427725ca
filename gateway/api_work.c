/* api_work: the labeling cycle (lease long-poll, submit, skip, release) on
 * the asynchronous cluster link, and what a person working needs besides:
 * the projects they may see, their closed-audit feedback and their
 * exposure against the wellbeing budget.
 *
 * The blind holds here as on the wire: a task is rendered from the lease
 * reply alone, which carries no first label and no labeler (audit) and the
 * candidates in hidden order (adjudication); nothing is added. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "gateway.h"

#define LEASE_WAIT_DEFAULT_MS 25000

static int stage_role(tally_stage_t stage) {
  return stage == TALLY_STAGE_LABEL   ? TALLY_ROLE_LABELER
         : stage == TALLY_STAGE_AUDIT ? TALLY_ROLE_AUDITOR
                                      : TALLY_ROLE_LEAD;
}

/* Only http(s) URLs are handed to the page as media. */
static int is_web_url(const char *s) {
  return s != NULL && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0) &&
         strpbrk(s, "\"'<> \t\r\n") == NULL;
}

/* An item's content as the console shows it: the gateway's ingest stores
 * {"text","media_url","media_type"} as a JSON object string when there is
 * media. Any JSON object with a string "text" shows that text only (and
 * its media when a web URL): its other members are for machines (the
 * simulator's items carry their true label there) and never reach a
 * person. Anything else is plain text. */
static json_t *content_json(const char *content) {
  const char *text = content ? content : "", *media_url = "", *media_type = "";
  json_t *parsed = NULL;
  if (content && content[0] == '{') {
    parsed = json_loads(content, JSON_REJECT_DUPLICATES, NULL);
    json_t *u = json_object_get(parsed, "media_url");
    json_t *only_text = json_object_get(parsed, "text");
    if (json_is_object(parsed) && json_is_string(only_text)) text = json_string_value(only_text);
    if (json_is_object(parsed) && json_is_string(u) && is_web_url(json_string_value(u))) {
      json_t *t = json_object_get(parsed, "text"), *m = json_object_get(parsed, "media_type");
      text = json_is_string(t) ? json_string_value(t) : "";
      media_url = json_string_value(u);
      const char *type = json_is_string(m) ? json_string_value(m) : "";
      media_type = strcmp(type, "image") == 0 || strcmp(type, "video") == 0 ? type : "";
    }
  }
  json_t *o = json_pack("{s:s,s:s,s:s}", "text", text, "media_url", media_url, "media_type", media_type);
  json_decref(parsed);
  return o;
}

static json_t *strings_json(const char **v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i] ? v[i] : ""));
  return a;
}

static json_t *task_json(const tally_task_t *t) {
  char token[TALLY_LEASE_TOKEN_MAX];
  tally_lease_token_format(t->slot, t->lease_id, token, sizeof token);
  uint32_t p = t->priority;
  const char *priority = p >= TALLY_PRIORITY_EMERGENCY ? "emergency" : p == TALLY_PRIORITY_HIGH ? "high" : "normal";
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:b,s:I,s:o}", "lease", token, "project", t->project,
                        "item_id", t->item_id, "market", t->market, "stage", tally_stage_name(t->stage),
                        "priority", priority, "content", content_json(t->content), "severity_hint",
                        t->severity_hint, "deadline_ms", (json_int_t)t->deadline_ms, "labels",
                        strings_json(t->labels, t->label_count));
  if (t->stage == TALLY_STAGE_ADJUDICATE)
    json_object_set_new(o, "candidates", strings_json(t->candidates, t->candidate_count));
  return o;
}

/* ------------------------------------------------------------ lease */

static int lease_wanted(void *arg) { return !gateway_client_is_gone(arg); }

static void lease_done(void *arg, const tally_completion_t *done) {
  gw_call_t *c = arg;
  if (done->status < 0) {
    call_reply_tally_error(c, done->status, done->error);
    return;
  }
  if (!done->has_task) {
    call_reply_json(c, 200, json_pack("{s:n}", "task"));
    return;
  }
  if (gateway_client_is_gone(c)) { /* the person left while waiting: give the task back */
    char token[TALLY_LEASE_TOKEN_MAX];
    tally_lease_token_format(done->task.slot, done->task.lease_id, token, sizeof token);
    cluster_link_release(c->gw->link, c->who.person, token, NULL, NULL);
    call_reply_json(c, 200, json_pack("{s:n}", "task")); /* lets h2o finish the request */
    return;
  }
  call_reply_json(c, 200, json_pack("{s:o}", "task", task_json(&done->task)));
}

void api_lease(gw_call_t *c) {
  const char *project = call_body_string(c, "project"), *stage_name = call_body_string(c, "stage");
  tally_stage_t stage = TALLY_STAGE_LABEL;
  if (stage_name != NULL && tally_stage_parse(stage_name, &stage) < 0) {
    call_reply_error(c, 400, "BAD_REQUEST", "stage must be label, audit or adjudicate");
    return;
  }
  if (!call_has_role(c, (uint32_t)stage_role(stage))) {
    call_reply_error(c, 403, "PERMISSION_DENIED", "the %s stage needs the %s role", tally_stage_name(stage),
                     tally_role_name((tally_role_t)stage_role(stage)));
    return;
  }
  json_t *w = c->body ? json_object_get(c->body, "wait_ms") : NULL;
  json_int_t wait = json_is_integer(w) ? json_integer_value(w) : LEASE_WAIT_DEFAULT_MS;
  if (wait < 0 || wait > TALLY_MAX_WAIT_MS) {
    call_reply_error(c, 400, "BAD_REQUEST", "wait_ms must be within 0..%d", TALLY_MAX_WAIT_MS);
    return;
  }
  int rc = cluster_link_lease(c->gw->link, c->who.person, project ? project : "", stage, (int)wait,
                              lease_wanted, lease_done, c);
  if (rc < 0) call_reply_tally_error(c, rc, cluster_link_last_error(c->gw->link));
}

/* ------------------------------------------------------------ submit, skip, release */

static void ack_done(void *arg, const tally_completion_t *done) {
  gw_call_t *c = arg;
  if (done->status < 0) call_reply_tally_error(c, done->status, done->error);
  else call_reply_json(c, 200, json_pack("{s:b}", "ok", 1));
}

void api_submit(gw_call_t *c) {
  const char *lease = call_body_string(c, "lease"), *label = call_body_string(c, "label");
  const char *attribution_name = call_body_string(c, "attribution"), *note = call_body_string(c, "note");
  if (lease == NULL || label == NULL || label[0] == '\0') {
    call_reply_error(c, 400, "BAD_REQUEST", "send {\"lease\": ..., \"label\": ...}");
    return;
  }
  tally_attribution_t attribution = TALLY_ATTRIBUTION_NONE;
  if (attribution_name != NULL && attribution_name[0] != '\0' &&
      tally_attribution_parse(attribution_name, &attribution) < 0) {
    call_reply_error(c, 400, "BAD_REQUEST", "attribution must be policy_unclear (or left out)");
    return;
  }
  if (note != NULL && strlen(note) > 4096) {
    call_reply_error(c, 400, "BAD_REQUEST", "note longer than 4096 bytes");
    return;
  }
  json_t *h = json_object_get(c->body, "handling_ms");
  json_int_t handling = json_is_integer(h) ? json_integer_value(h) : 0;
  if (handling < 0 || handling > 86400000) handling = 0;
  int adjudication = attribution_name != NULL || note != NULL;
  int rc = cluster_link_submit(c->gw->link, c->who.person, lease, label, adjudication, attribution,
                               note ? note : "", (uint32_t)handling, ack_done, c);
  if (rc < 0) call_reply_tally_error(c, rc, cluster_link_last_error(c->gw->link));
}

static void give_back(gw_call_t *c, int skip) {
  const char *lease = call_body_string(c, "lease");
  if (lease == NULL) {
    call_reply_error(c, 400, "BAD_REQUEST", "send {\"lease\": ...}");
    return;
  }
  int rc = skip ? cluster_link_skip(c->gw->link, c->who.person, lease, ack_done, c)
                : cluster_link_release(c->gw->link, c->who.person, lease, ack_done, c);
  if (rc < 0) call_reply_tally_error(c, rc, cluster_link_last_error(c->gw->link));
}

void api_skip(gw_call_t *c) { give_back(c, 1); }
void api_release(gw_call_t *c) { give_back(c, 0); }

void api_healthz(gw_call_t *c) {
  if (c->req) {
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = c->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_iovec_t body = h2o_iovec_init(H2O_STRLIT("ok\n"));
    h2o_start_response(req, &generator);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    c->answered = 200;
  }
  c->req = NULL;
  call_reply_json(c, 200, NULL);
}

/* ------------------------------------------------------------ projects */

static int shares_market(const char *mine, const tally_project_t *p) {
  for (size_t i = 0; i < p->market_count; i++) {
    size_t len = strlen(p->markets[i]);
    for (const char *q = mine; q && *q;) {
      const char *tab = strchr(q, '\t');
      size_t n = tab ? (size_t)(tab - q) : strlen(q);
      if (n == len && memcmp(q, p->markets[i], n) == 0) return 1;
      q = tab ? tab + 1 : NULL;
    }
  }
  return 0;
}

static json_t *project_json(const tally_project_t *p, int manager) {
  json_t *o = json_pack("{s:s,s:o,s:o,s:i,s:b,s:n}", "name", p->name, "labels",
                        strings_json(p->labels, p->label_count), "markets",
                        strings_json(p->markets, p->market_count), "lease_seconds", (int)p->lease_seconds,
                        "ordinal", p->ordinal, "guideline");
  json_object_set_new(o, "high_severity", strings_json(p->high_severity, p->high_severity_count));
  if (manager) {
    json_t *rates = json_object();
    for (size_t i = 0; i < p->audit.market_rate_count; i++)
      json_object_set_new(rates, p->audit.market_rates[i].market, json_real(p->audit.market_rates[i].rate));
    json_object_set_new(o, "audit_policy",
                        json_pack("{s:f,s:o,s:f,s:i,s:f,s:f}", "rate", p->audit.rate, "market_rates", rates,
                                  "ramp_rate", p->audit.ramp_rate, "ramp_audits", (int)p->audit.ramp_audits,
                                  "ramp_target", p->audit.ramp_target, "gold_rate", p->audit.gold_rate));
    json_object_set_new(o, "wellbeing",
                        json_pack("{s:o,s:i,s:i}", "high_severity",
                                  strings_json(p->high_severity, p->high_severity_count), "exposure_budget",
                                  (int)p->exposure_budget, "shift_hours", (int)p->shift_hours));
    json_object_set_new(o, "overlap", json_integer(p->overlap));
    json_object_set_new(o, "sla_seconds", json_integer(p->sla_seconds));
    json_object_set_new(o, "policy_version", json_integer(p->policy_version));
  }
  return o;
}

static void projects_work(gw_call_t *c, tally_t *t) {
  tally_project_list_t *list = NULL;
  int rc = tally_project_list(t, &list);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  int sees_all = call_has_role(c, TALLY_ROLE_MANAGER | TALLY_ROLE_OPERATOR);
  json_t *a = json_array();
  for (size_t i = 0; i < list->count; i++)
    if (sees_all || shares_market(c->who.markets, &list->projects[i]))
      json_array_append_new(a, project_json(&list->projects[i], call_has_role(c, TALLY_ROLE_MANAGER)));
  tally_free(list);
  c->result = json_pack("{s:o}", "projects", a);
}

void api_projects(gw_call_t *c) { call_run_blocking(c, projects_work, 1); }

/* ------------------------------------------------------------ feedback */

static void feedback_work(gw_call_t *c, tally_t *t) {
  char project[256] = "", limit_text[16] = "";
  call_query(c, "project", project, sizeof project);
  call_query(c, "limit", limit_text, sizeof limit_text);
  long limit = limit_text[0] ? strtol(limit_text, NULL, 10) : 50;
  if (limit <= 0 || limit > 1000) limit = 50;
  tally_feedback_t *fb = NULL;
  int rc = tally_feedback(t, c->who.person, project, (uint32_t)limit, &fb);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  json_t *a = json_array();
  for (size_t i = 0; i < fb->count; i++) {
    const tally_feedback_entry_t *e = &fb->entries[i];
    json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:s,s:I}", "project", e->project, "item_id",
                                       e->item_id, "your_label", e->your_label, "final_label", e->final_label,
                                       "correct", e->correct, "policy_unclear", e->policy_unclear, "note", "",
                                       "closed_ms", (json_int_t)e->closed_ms));
  }
  /* Where the person stands (closed audits only: nothing pending shows). */
  json_t *standing = json_array();
  for (size_t i = 0; i < fb->standing_count; i++) {
    const tally_standing_t *s = &fb->standing[i];
    int d = s->accuracy_defined;
    json_array_append_new(
        standing, json_pack("{s:s,s:I,s:I,s:I,s:o,s:o,s:o,s:s,s:I,s:f}", "project", s->project, "closed",
                            (json_int_t)s->closed, "judged", (json_int_t)s->judged, "correct", (json_int_t)s->correct,
                            "accuracy", d ? json_real(s->accuracy) : json_null(), "wilson_low",
                            d ? json_real(s->wilson_low) : json_null(), "wilson_high",
                            d ? json_real(s->wilson_high) : json_null(), "ramp",
                            !s->has_ramp ? "-" : s->ramping ? "ramping" : "done", "ramp_audits",
                            (json_int_t)s->ramp_audits, "ramp_target", s->ramp_target));
  }
  c->result = json_pack("{s:o,s:o,s:i}", "feedback", a, "standing", standing, "workers_failed",
                        (int)fb->workers_failed);
  tally_free(fb);
}

void api_feedback(gw_call_t *c) { call_run_blocking(c, feedback_work, 1); }

/* ------------------------------------------------------------ wellbeing */

static void wellbeing_work(gw_call_t *c, tally_t *t) {
  char project[256] = "";
  if (call_query(c, "project", project, sizeof project) != 1 || project[0] == '\0') {
    call_set_error(c, 400, "BAD_REQUEST", "which project? (?project=...)");
    return;
  }
  tally_project_t *p = NULL;
  int rc = tally_project_show(t, project, &p);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  uint64_t shift_ms = (uint64_t)(p->shift_hours ? p->shift_hours : 8) * 3600000u;
  uint64_t shift = clock_now_ms() / shift_ms, count = 0;
  uint32_t budget = p->exposure_budget;
  tally_free(p);
  /* The counts of everyone come from the cluster; only the caller's leave. */
  tally_act_for(t, NULL);
  tally_exposure_t *ex = NULL;
  if (budget > 0) {
    rc = tally_exposure(t, project, shift, shift, &ex);
    if (rc < 0) {
      call_set_tally_error(c, rc, tally_last_error(t));
      return;
    }
    for (size_t i = 0; i < ex->count; i++)
      if (strcmp(ex->rows[i].labeler, c->who.person) == 0) count += ex->rows[i].count;
    tally_free(ex);
  }
  c->result = json_pack("{s:I,s:I,s:I,s:b}", "exposure", (json_int_t)count, "budget", (json_int_t)budget,
                        "shift_ends_ms", (json_int_t)((shift + 1) * shift_ms), "break_suggested",
                        budget > 0 && count * 5 >= (uint64_t)budget * 4);
}

void api_wellbeing(gw_call_t *c) { call_run_blocking(c, wellbeing_work, 1); }
