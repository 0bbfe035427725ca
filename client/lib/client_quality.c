/* client_quality: the audit side of libtally for people who read it —
 * quality reports (one coordinator request that gathers the workers'
 * statistics), a labeler's feedback (asked of every worker, merged) and the
 * export of closed audits (paged through every worker, streamed to a
 * callback). See tally.h for the contracts. */
#include <stdlib.h>
#include <string.h>

#include "agreement.h"
#include "client_internal.h"
#include "result.h"
#include "wire.h"

/* A report waits for the coordinator to hear from every worker: allow it
 * this many times the handle's timeout. */
#define REPORT_TIMEOUT_FACTOR 3
/* Feedback entries per labeler when the caller gives no limit (the
 * worker's default too). */
#define FEEDBACK_DEFAULT_LIMIT 100u

/* ------------------------------------------------------------ report */

static const char *const report_by_wire[] = {"", "labeler", "market", "category", "day", "version"};

static tally_accuracy_t accuracy_copy(const Tally__Accuracy *src) {
  tally_accuracy_t a = {0};
  if (src == NULL) return a;
  a.judged = src->judged;
  a.correct = src->correct;
  if (src->defined && src->judged > 0) {
    a.defined = 1;
    a.value = src->value;
    a.wilson_low = src->wilson_low;
    a.wilson_high = src->wilson_high;
  }
  return a;
}

static void report_row_copy(result_t *r, tally_report_row_t *dst, const Tally__ReportRow *src) {
  if (src == NULL) {
    dst->key = result_strdup(r, "all");
    return;
  }
  dst->key = result_strdup(r, src->key);
  dst->labels = src->labels;
  dst->audits = src->audits;
  dst->audit_agreed = src->audit_agreed;
  dst->accuracy_defined = src->accuracy_defined ? 1 : 0;
  dst->accuracy = src->accuracy_defined ? src->accuracy : 0.0;
  dst->wilson_low = src->accuracy_defined ? src->wilson_low : 0.0;
  dst->wilson_high = src->accuracy_defined ? src->wilson_high : 0.0;
  dst->labeler_final = accuracy_copy(src->labeler_final);
  dst->auditor_final = accuracy_copy(src->auditor_final);
  dst->gold_total = src->gold_total;
  dst->gold_hits = src->gold_hits;
  dst->adjudications = src->adjudications;
  dst->attributed_labeler = src->attributed_labeler;
  dst->attributed_auditor = src->attributed_auditor;
  dst->attributed_both = src->attributed_both;
  dst->attributed_policy = src->attributed_policy;
  dst->handling_p50_ms = src->handling_p50_ms;
  dst->handling_p90_ms = src->handling_p90_ms;
  if (src->n_coefficients == 0) return;
  dst->coefficients = result_alloc(r, src->n_coefficients * sizeof *dst->coefficients);
  if (dst->coefficients == NULL) return;
  dst->coefficient_count = src->n_coefficients;
  for (size_t i = 0; i < src->n_coefficients; i++) {
    const Tally__Coefficient *c = src->coefficients[i];
    dst->coefficients[i] = (tally_coefficient_t){result_strdup(r, c->name), c->defined ? 1 : 0,
                                                 c->defined ? c->value : 0.0};
  }
}

/* A K*K matrix of the reply: n cells (0: none, all zero). */
static uint64_t *matrix_copy(result_t *r, const uint64_t *cells, size_t n, size_t k) {
  if (k == 0) return NULL;
  uint64_t *m = result_alloc(r, k * k * sizeof *m);
  if (m && n) memcpy(m, cells, n * sizeof *m);
  return m;
}

/* Checks what a reply promises before it is copied. */
static int report_check(tally_t *t, const Tally__ReportReply *rep) {
  size_t k = rep->n_labels;
  size_t cells = k * k;
  if (k > 0 && cells / k != k) return client_error(t, TALLY_E_INTERNAL, "report with %zu labels", k);
  if (rep->n_confusion != 0 && rep->n_confusion != cells)
    return client_error(t, TALLY_E_INTERNAL, "malformed report: %zu confusion cells for %zu labels",
                        rep->n_confusion, k);
  if (rep->n_policy_unclear != 0 && rep->n_policy_unclear != cells)
    return client_error(t, TALLY_E_INTERNAL, "malformed report: %zu policy-unclear cells for %zu labels",
                        rep->n_policy_unclear, k);
  return 0;
}

int tally_report_quality(tally_t *t, const char *project, const tally_report_query_t *query,
                         tally_report_t **out) {
  *out = NULL;
  tally_report_query_t all = {0};
  if (query == NULL) query = &all;
  if (project == NULL || project[0] == '\0') return client_error(t, TALLY_E_INVALID_ARGUMENT, "a report needs a project");
  if ((int)query->by < 0 || query->by > TALLY_REPORT_BY_VERSION)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "unknown report grouping %d", (int)query->by);
  if (query->from_day && query->to_day && query->from_day > query->to_day)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "the report starts (day %u) after it ends (day %u)",
                        query->from_day, query->to_day);
  Tally__Envelope req, *reply = NULL;
  Tally__ReportRequest body;
  wire_envelope_init(&req, 0);
  tally__report_request__init(&body);
  body.project = (char *)project;
  body.market = (char *)(query->market ? query->market : "");
  body.from_day = query->from_day;
  body.to_day = query->to_day;
  body.by = (char *)report_by_wire[query->by];
  req.body_case = TALLY__ENVELOPE__BODY_REPORT_REQUEST;
  req.report_request = &body;
  int rc = client_call_coordinator_within(t, &req, TALLY__ENVELOPE__BODY_REPORT_REPLY,
                                          t->timeout_ms * REPORT_TIMEOUT_FACTOR, &reply);
  if (rc < 0) return rc;
  const Tally__ReportReply *rep = reply->report_reply;
  if ((rc = report_check(t, rep)) < 0) {
    wire_envelope_free(&reply);
    return rc;
  }
  result_t *r;
  tally_report_t *res = result_new(sizeof *res, &r);
  if (res == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  res->project = result_strdup(r, rep->project && rep->project[0] ? rep->project : project);
  res->labels = result_strv(r, rep->labels, rep->n_labels);
  res->label_count = res->labels ? rep->n_labels : 0;
  if (rep->n_rows) {
    res->rows = result_alloc(r, rep->n_rows * sizeof *res->rows);
    if (res->rows) {
      res->row_count = rep->n_rows;
      for (size_t i = 0; i < rep->n_rows; i++) report_row_copy(r, &res->rows[i], rep->rows[i]);
    }
  }
  report_row_copy(r, &res->total, rep->total);
  res->confusion = matrix_copy(r, rep->confusion, rep->n_confusion, res->label_count);
  res->policy_unclear = matrix_copy(r, rep->policy_unclear, rep->n_policy_unclear, res->label_count);
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

/* ------------------------------------------------------------ feedback */

/* Newest first; ties in (project, item) order so the merge is stable. */
static int feedback_order(const void *pa, const void *pb) {
  const Tally__FeedbackEntry *a = *(const Tally__FeedbackEntry *const *)pa;
  const Tally__FeedbackEntry *b = *(const Tally__FeedbackEntry *const *)pb;
  if (a->closed_ms != b->closed_ms) return a->closed_ms > b->closed_ms ? -1 : 1;
  int c = strcmp(a->project, b->project);
  return c ? c : strcmp(a->item_id, b->item_id);
}

static int feedback_same(const Tally__FeedbackEntry *a, const Tally__FeedbackEntry *b) {
  return a->closed_ms == b->closed_ms && strcmp(a->project, b->project) == 0 && strcmp(a->item_id, b->item_id) == 0;
}

static int standing_by_project(const void *pa, const void *pb) {
  return strcmp(((const tally_standing_t *)pa)->project, ((const tally_standing_t *)pb)->project);
}

/* Adds the workers' standings per project into fb->standing (sorted by
 * project) with the accuracy and its interval from the sums. */
static void standing_merge(result_t *r, const client_answer_t *answers, size_t count, tally_feedback_t *fb) {
  size_t total = 0;
  for (size_t w = 0; w < count; w++)
    if (answers[w].reply) total += answers[w].reply->feedback_reply->n_standing;
  if (total == 0) return;
  tally_standing_t *list = result_alloc(r, total * sizeof *list);
  if (list == NULL) return;
  size_t n = 0;
  for (size_t w = 0; w < count; w++) {
    if (answers[w].reply == NULL) continue;
    const Tally__FeedbackReply *rep = answers[w].reply->feedback_reply;
    for (size_t i = 0; i < rep->n_standing; i++) {
      const Tally__FeedbackStanding *s = rep->standing[i];
      size_t j = 0;
      while (j < n && strcmp(list[j].project, s->project) != 0) j++;
      if (j == n) {
        list[n++] = (tally_standing_t){.project = result_strdup(r, s->project),
                                       .has_ramp = s->has_ramp,
                                       .ramping = s->ramping,
                                       .ramp_audits = s->ramp_audits,
                                       .ramp_target = s->ramp_target};
        if (list[j].project == NULL) return;
      }
      list[j].closed += s->closed;
      list[j].judged += s->judged;
      list[j].correct += s->correct;
      /* Workers follow the coordinator's list within a heartbeat: one
       * that has the person out of ramp-up is the newer. */
      if (!s->ramping) list[j].ramping = 0;
    }
  }
  for (size_t i = 0; i < n; i++) {
    tally_standing_t *s = &list[i];
    s->accuracy_defined = s->judged > 0 && s->correct <= s->judged &&
                          agreement_wilson(s->correct, s->judged, AGREEMENT_Z95, &s->wilson_low, &s->wilson_high) == 0;
    if (s->accuracy_defined) s->accuracy = (double)s->correct / (double)s->judged;
  }
  qsort(list, n, sizeof *list, standing_by_project);
  fb->standing = list;
  fb->standing_count = n;
}

/* Merges the workers' entries into *out: sorted, duplicates (an item seen
 * by two workers while its slot moved) dropped, at most `limit`. */
static int feedback_merge(tally_t *t, const client_answer_t *answers, size_t count, uint32_t limit,
                          tally_feedback_t **out) {
  size_t total = 0;
  for (size_t w = 0; w < count; w++)
    if (answers[w].reply) total += answers[w].reply->feedback_reply->n_entries;
  const Tally__FeedbackEntry **all = malloc((total ? total : 1) * sizeof *all);
  result_t *r;
  tally_feedback_t *fb = result_new(sizeof *fb, &r);
  if (all == NULL || fb == NULL) {
    free(all);
    result_free(fb);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  size_t n = 0;
  for (size_t w = 0; w < count; w++) {
    if (answers[w].skipped) continue;
    if (answers[w].reply == NULL) {
      fb->workers_failed++;
      continue;
    }
    const Tally__FeedbackReply *rep = answers[w].reply->feedback_reply;
    for (size_t i = 0; i < rep->n_entries; i++) all[n++] = rep->entries[i];
  }
  qsort(all, n, sizeof *all, feedback_order);
  size_t kept = 0;
  fb->entries = result_alloc(r, (n < limit ? (n ? n : 1) : limit) * sizeof *fb->entries);
  for (size_t i = 0; fb->entries && i < n && kept < limit; i++) {
    if (i > 0 && feedback_same(all[i - 1], all[i])) continue;
    const Tally__FeedbackEntry *e = all[i];
    fb->entries[kept++] = (tally_feedback_entry_t){.project = result_strdup(r, e->project),
                                                   .item_id = result_strdup(r, e->item_id),
                                                   .your_label = result_strdup(r, e->your_label),
                                                   .final_label = result_strdup(r, e->final_label),
                                                   .correct = e->correct ? 1 : 0,
                                                   .policy_unclear = e->policy_unclear ? 1 : 0,
                                                   .closed_ms = e->closed_ms};
  }
  fb->count = kept;
  free(all);
  standing_merge(r, answers, count, fb);
  if (result_failed(r)) {
    result_free(fb);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = fb;
  return 0;
}

int tally_feedback(tally_t *t, const char *labeler, const char *project, uint32_t limit,
                   tally_feedback_t **out) {
  *out = NULL;
  if (labeler == NULL || labeler[0] == '\0') return client_error(t, TALLY_E_INVALID_ARGUMENT, "feedback needs a labeler");
  if (limit == 0) limit = FEEDBACK_DEFAULT_LIMIT;
  Tally__Envelope req;
  Tally__FeedbackRequest body;
  wire_envelope_init(&req, 0);
  tally__feedback_request__init(&body);
  body.labeler = (char *)labeler;
  body.project = (char *)(project ? project : "");
  body.limit = limit;
  req.body_case = TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST;
  req.feedback_request = &body;
  client_answer_t *answers = NULL;
  size_t count = 0;
  int rc = client_scatter(t, &req, TALLY__ENVELOPE__BODY_FEEDBACK_REPLY, &answers, &count);
  if (rc < 0) return rc;
  const client_answer_t *first_failure = NULL;
  size_t answered = 0;
  for (size_t w = 0; w < count; w++) {
    answered += answers[w].reply != NULL;
    if (first_failure == NULL && !answers[w].skipped && answers[w].reply == NULL) first_failure = &answers[w];
  }
  if (answered == 0 && first_failure)
    rc = client_error(t, first_failure->code, "no worker answered (worker %u at %s: %s)", first_failure->worker_id,
                      first_failure->endpoint ? first_failure->endpoint : "?",
                      first_failure->error ? first_failure->error : tally_strerror(first_failure->code));
  else
    rc = feedback_merge(t, answers, count, limit, out);
  client_answers_free(&answers, count);
  return rc;
}

/* ------------------------------------------------------------ export */

/* A worker to export from, copied out of the map (the callback may use the
 * handle, and a map refresh would free the map). */
typedef struct {
  uint32_t id;
  uint32_t slots_owned;
  int peer; /* -1: down */
} export_worker_t;

/* State of one tally_export_judgments() call. */
typedef struct {
  tally_t *t;
  const char *project;
  uint32_t page_size;
  tally_judgment_fn fn;
  void *arg;
  tally_export_summary_t *summary;
  int stopped;                  /* the callback's non-zero value */
  tally_stored_label_t *labels; /* reused for every judgment */
  size_t label_cap;
} export_t;

static tally_stored_label_t stored_label(const Tally__StoredLabel *src) {
  if (src == NULL) return (tally_stored_label_t){"", "", 0, 0, 1};
  return (tally_stored_label_t){src->labeler, src->label, src->at_ms, src->handling_ms,
                                src->policy_version ? src->policy_version : 1};
}

/* Hands one judgment to the callback. Returns 0 or NOMEM; a non-zero
 * callback value lands in ex->stopped. */
static int export_deliver(export_t *ex, const Tally__Judgment *src) {
  if (src->n_labels > ex->label_cap) {
    tally_stored_label_t *l = realloc(ex->labels, src->n_labels * sizeof *l);
    if (l == NULL) return client_error(ex->t, TALLY_E_NOMEM, "out of memory");
    ex->labels = l;
    ex->label_cap = src->n_labels;
  }
  for (size_t i = 0; i < src->n_labels; i++) ex->labels[i] = stored_label(src->labels[i]);
  tally_judgment_t j = {.project = src->project,
                        .item_id = src->item_id,
                        .market = src->market,
                        .labels = src->n_labels ? ex->labels : NULL,
                        .label_count = src->n_labels,
                        .audit = stored_label(src->audit),
                        .final_label = src->final_label,
                        .attribution = (tally_attribution_t)src->attribution,
                        .adjudicator = src->adjudicator,
                        .note = src->note,
                        .closed_ms = src->closed_ms,
                        .content = src->content,
                        .audited_labelers = src->n_audited_labelers ? (const char **)src->audited_labelers : NULL,
                        .audited_labeler_count = src->n_audited_labelers,
                        .policy_version = src->policy_version ? src->policy_version : 1};
  ex->summary->judgments++;
  ex->stopped = ex->fn(ex->arg, &j);
  return 0;
}

/* True when a page that is not the last one does not move the cursor: a
 * worker bug that would otherwise loop for ever. */
static int export_page_is_stuck(const Tally__ExportReply *page, const ProtobufCBinaryData *after) {
  if (page->done) return 0;
  if (page->next.len == 0) return 1;
  return page->n_judgments == 0 && page->next.len == after->len &&
         memcmp(page->next.data, after->data, after->len) == 0;
}

/* Pages through one worker until it is done or the callback stops.
 * Returns 0 or a negative error (recorded, naming the worker). */
static int export_worker(export_t *ex, const export_worker_t *w) {
  tally_t *t = ex->t;
  const char *endpoint = t->peers[w->peer].endpoint;
  Tally__ExportRequest body;
  tally__export_request__init(&body);
  body.project = (char *)ex->project;
  body.limit = ex->page_size;
  uint8_t *after = NULL; /* the cursor: a copy of the last page's `next` */
  int rc = 0, done = 0;
  while (rc == 0 && !done && !ex->stopped) {
    Tally__Envelope req, *reply = NULL;
    wire_envelope_init(&req, 0);
    req.body_case = TALLY__ENVELOPE__BODY_EXPORT_REQUEST;
    req.export_request = &body;
    rc = client_call_peer(t, (size_t)w->peer, &req, TALLY__ENVELOPE__BODY_EXPORT_REPLY, &reply);
    if (rc < 0) {
      char message[sizeof t->last_error];
      memcpy(message, t->last_error, sizeof message);
      client_error(t, rc, "worker %u at %s: %s", w->id, endpoint, message);
      break;
    }
    const Tally__ExportReply *page = reply->export_reply;
    for (size_t i = 0; i < page->n_judgments && rc == 0 && !ex->stopped; i++) rc = export_deliver(ex, page->judgments[i]);
    done = page->done;
    if (rc == 0 && export_page_is_stuck(page, &body.after))
      rc = client_error(t, TALLY_E_INTERNAL, "worker %u at %s: export page without progress", w->id, endpoint);
    if (rc == 0 && !done) {
      uint8_t *next = malloc(page->next.len);
      if (next == NULL) {
        rc = client_error(t, TALLY_E_NOMEM, "out of memory");
      } else {
        memcpy(next, page->next.data, page->next.len);
        free(after);
        after = next;
        body.after = (ProtobufCBinaryData){page->next.len, after};
      }
    }
    wire_envelope_free(&reply);
  }
  free(after);
  return rc;
}

/* The workers to export from, in map order (a fresh map). */
static int export_targets(tally_t *t, export_worker_t **out, size_t *count) {
  *out = NULL;
  *count = 0;
  int rc = client_refresh_map(t);
  if (rc < 0) return rc;
  const Tally__ClusterMap *map = t->map_env->map;
  export_worker_t *list = calloc(map->n_workers ? map->n_workers : 1, sizeof *list);
  if (list == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < map->n_workers; i++) {
    const Tally__WorkerInfo *info = map->workers[i];
    if (!client_worker_is_needed(info)) continue;
    export_worker_t *w = &list[n++];
    *w = (export_worker_t){info->id, info->slots_owned, -1};
    if (info->state == TALLY__WORKER_STATE__WORKER_DOWN || info->endpoint[0] == '\0') continue;
    if ((w->peer = client_peer_add(t, info->endpoint)) < 0) {
      free(list);
      return client_error(t, TALLY_E_NOMEM, "out of memory");
    }
  }
  *out = list;
  *count = n;
  return 0;
}

int tally_export_judgments(tally_t *t, const char *project, uint32_t page_size, tally_judgment_fn fn,
                           void *arg, tally_export_summary_t *summary) {
  tally_export_summary_t local;
  if (summary == NULL) summary = &local;
  memset(summary, 0, sizeof *summary);
  if (project == NULL || project[0] == '\0') return client_error(t, TALLY_E_INVALID_ARGUMENT, "export needs a project");
  if (fn == NULL) return client_error(t, TALLY_E_INVALID_ARGUMENT, "export needs a callback");
  export_worker_t *workers = NULL;
  size_t count = 0;
  int rc = export_targets(t, &workers, &count);
  if (rc < 0) return rc;
  export_t ex = {.t = t, .project = project, .page_size = page_size, .fn = fn, .arg = arg, .summary = summary};
  int first_error = 0;
  char first_message[sizeof t->last_error] = "";
  for (size_t i = 0; i < count && !ex.stopped; i++) {
    const export_worker_t *w = &workers[i];
    if (w->peer < 0)
      rc = client_error(t, TALLY_E_UNAVAILABLE, "worker %u is down and owns %u slots", w->id, w->slots_owned);
    else
      rc = export_worker(&ex, w);
    if (rc == 0 && !ex.stopped) summary->workers_answered++;
    if (rc == 0) continue;
    summary->workers_failed++;
    if (first_error == 0) {
      first_error = rc;
      memcpy(first_message, t->last_error, sizeof first_message);
    }
    if (rc == TALLY_E_NOMEM) break;
  }
  free(ex.labels);
  free(workers);
  if (ex.stopped) return ex.stopped;
  if (first_error) {
    memcpy(t->last_error, first_message, sizeof first_message);
    t->last_code = first_error;
    return first_error;
  }
  return 0;
}
