/* client_cases: the case database (tally_cases_list, tally_case_get). A
 * listing asks every worker for its newest cases and merges them newest
 * first; a single case goes to the worker owning the item's slot. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "result.h"
#include "tally_error.h"
#include "wire.h"

#define CASES_DEFAULT_LIMIT 100u
#define CASES_MAX_LIMIT 1000u

static void case_copy(result_t *r, tally_case_t *dst, const Tally__CaseEntry *src) {
  *dst = (tally_case_t){result_strdup(r, src->project),     result_strdup(r, src->item_id),
                        result_strdup(r, src->market),      result_strdup(r, src->final_label),
                        (tally_attribution_t)src->attribution,
                        result_strdup(r, src->lead),        result_strdup(r, src->note),
                        result_strdup(r, src->label_a),     result_strdup(r, src->label_b),
                        src->closed_ms,                     result_strdup(r, src->content),
                        src->policy_version ? src->policy_version : 1};
}

/* Newest first, then item id: the workers' own order. */
static int case_order(const void *pa, const void *pb) {
  const Tally__CaseEntry *a = *(const Tally__CaseEntry *const *)pa;
  const Tally__CaseEntry *b = *(const Tally__CaseEntry *const *)pb;
  if (a->closed_ms != b->closed_ms) return a->closed_ms > b->closed_ms ? -1 : 1;
  return strcmp(a->item_id, b->item_id);
}

/* Merges the workers' cases into *out: sorted, duplicates (an item seen by
 * two workers while its slot moved) dropped, at most `limit`. */
static int cases_merge(tally_t *t, const client_answer_t *answers, size_t count, uint32_t limit,
                       tally_case_list_t **out) {
  size_t total = 0;
  for (size_t w = 0; w < count; w++)
    if (answers[w].reply) total += answers[w].reply->cases_reply->n_cases;
  const Tally__CaseEntry **all = malloc((total ? total : 1) * sizeof *all);
  result_t *r;
  tally_case_list_t *list = result_new(sizeof *list, &r);
  if (all == NULL || list == NULL) {
    free(all);
    result_free(list);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  size_t n = 0;
  for (size_t w = 0; w < count; w++) {
    if (answers[w].skipped) continue;
    if (answers[w].reply == NULL) {
      list->workers_failed++;
      continue;
    }
    const Tally__CasesReply *rep = answers[w].reply->cases_reply;
    for (size_t i = 0; i < rep->n_cases; i++) all[n++] = rep->cases[i];
  }
  qsort(all, n, sizeof *all, case_order);
  size_t kept = 0;
  list->cases = result_alloc(r, (n < limit ? (n ? n : 1) : limit) * sizeof *list->cases);
  for (size_t i = 0; list->cases && i < n && kept < limit; i++) {
    if (i > 0 && case_order(&all[i - 1], &all[i]) == 0) continue;
    case_copy(r, &list->cases[kept++], all[i]);
  }
  list->count = kept;
  free(all);
  if (result_failed(r)) {
    result_free(list);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = list;
  return 0;
}

int tally_cases_list(tally_t *t, const char *project, const tally_cases_query_t *query,
                     tally_case_list_t **out) {
  *out = NULL;
  if (project == NULL || project[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "cases list needs a project");
  uint32_t limit = query && query->limit ? query->limit : CASES_DEFAULT_LIMIT;
  if (limit > CASES_MAX_LIMIT)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "limit %u is over %u", limit, CASES_MAX_LIMIT);
  Tally__Envelope req;
  Tally__CasesRequest body;
  wire_envelope_init(&req, 0);
  tally__cases_request__init(&body);
  body.project = (char *)project;
  body.category = (char *)(query && query->category ? query->category : "");
  body.market = (char *)(query && query->market ? query->market : "");
  body.since_day = query ? query->since_day : 0;
  body.text = (char *)(query && query->text ? query->text : "");
  body.attribution = query ? (Tally__Attribution)query->attribution : TALLY__ATTRIBUTION__ATTRIBUTION_NONE;
  body.labeler = (char *)(query && query->labeler ? query->labeler : "");
  body.labeler_label = (char *)(query && query->labeler_label ? query->labeler_label : "");
  body.auditor_label = (char *)(query && query->auditor_label ? query->auditor_label : "");
  body.policy_version = query ? query->policy_version : 0;
  body.limit = limit;
  req.body_case = TALLY__ENVELOPE__BODY_CASES_REQUEST;
  req.cases_request = &body;
  client_answer_t *answers = NULL;
  size_t count = 0;
  int rc = client_scatter(t, &req, TALLY__ENVELOPE__BODY_CASES_REPLY, &answers, &count);
  if (rc < 0) return rc;
  const client_answer_t *first_failure = NULL;
  size_t answered = 0;
  for (size_t w = 0; w < count; w++) {
    answered += answers[w].reply != NULL;
    if (first_failure == NULL && !answers[w].skipped && answers[w].reply == NULL)
      first_failure = &answers[w];
  }
  if (answered == 0 && first_failure)
    rc = client_error(t, first_failure->code, "%s",
                      first_failure->error ? first_failure->error : tally_strerror(first_failure->code));
  else
    rc = cases_merge(t, answers, count, limit, out);
  client_answers_free(&answers, count);
  return rc;
}

int tally_case_get(tally_t *t, const char *project, const char *item_id, tally_case_t **out) {
  *out = NULL;
  if (project == NULL || item_id == NULL || project[0] == '\0' || item_id[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a case needs a project and an item id");
  Tally__Envelope req, *reply = NULL;
  Tally__CaseGet body;
  wire_envelope_init(&req, 0);
  tally__case_get__init(&body);
  body.project = (char *)project;
  body.item_id = (char *)item_id;
  req.body_case = TALLY__ENVELOPE__BODY_CASE_GET;
  req.case_get = &body;
  uint32_t slot = slot_of_item(project, item_id, strlen(item_id));
  int rc = client_call_slot(t, slot, &req, TALLY__ENVELOPE__BODY_CASE_REPLY, 0, &reply);
  if (rc < 0) return rc;
  const Tally__CaseEntry *src = reply->case_reply->entry;
  if (src == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_INTERNAL, "case reply without a case");
  }
  result_t *r;
  tally_case_t *c = result_new(sizeof *c, &r);
  if (c != NULL) case_copy(r, c, src);
  wire_envelope_free(&reply);
  if (c == NULL || result_failed(r)) {
    result_free(c);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = c;
  return 0;
}
