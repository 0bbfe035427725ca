/* client_calibration: calibration sessions (tally.h, "calibration"): one
 * coordinator request per call, its reply copied into the plain structs of
 * tally.h. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "result.h"
#include "wire.h"

/* ------------------------------------------------------------ conversions */

static tally_accuracy_t accuracy_of(const Tally__Accuracy *src) {
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

static void summary_copy(result_t *r, tally_calibration_t *dst, const Tally__CalibrationSummary *src) {
  if (src == NULL) return;
  dst->name = result_strdup(r, src->name);
  dst->project = result_strdup(r, src->project);
  dst->created_ms = src->created_ms;
  dst->deadline_ms = src->deadline_ms;
  dst->closed_ms = src->closed_ms;
  dst->state = result_strdup(r, src->state);
  dst->items = src->items;
  dst->keyed_items = src->keyed_items;
  dst->markets = result_strv(r, src->markets, src->n_markets);
  dst->market_count = dst->markets ? src->n_markets : 0;
  dst->people = result_strv(r, src->people, src->n_people);
  dst->people_count = dst->people ? src->n_people : 0;
  dst->members = src->members;
  dst->labels = src->labels;
  dst->your_done = src->your_done;
  dst->created_by = result_strdup(r, src->created_by);
  dst->policy_version = src->policy_version;
}

static int finish(tally_t *t, result_t *r, void *root, void *out) {
  if (result_failed(r)) {
    result_free(root);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *(void **)out = root;
  return 0;
}

/* Sends `req` (body set) to the coordinator; on a calibration_reply fills
 * *out (if not NULL) with its session. */
static int call_for_session(tally_t *t, Tally__Envelope *req, tally_calibration_t **out) {
  if (out) *out = NULL;
  Tally__Envelope *reply = NULL;
  int rc = client_call_coordinator(t, req, TALLY__ENVELOPE__BODY_CALIBRATION_REPLY, &reply);
  if (rc == 0 && out) {
    result_t *r;
    tally_calibration_t *s = result_new(sizeof *s, &r);
    if (s == NULL) rc = client_error(t, TALLY_E_NOMEM, "out of memory");
    else {
      summary_copy(r, s, reply->calibration_reply->session);
      rc = finish(t, r, s, out);
    }
  }
  wire_envelope_free(&reply);
  return rc;
}

/* Wire items borrowing the caller's strings, in *wire / *ptrs (caller frees). */
static int items_wire(tally_t *t, const tally_calibration_item_t *items, size_t count,
                      Tally__CalibrationItem **wire, Tally__CalibrationItem ***ptrs) {
  *wire = calloc(count ? count : 1, sizeof **wire);
  *ptrs = calloc(count ? count : 1, sizeof **ptrs);
  if (*wire == NULL || *ptrs == NULL) {
    free(*wire), free(*ptrs);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < count; i++) {
    if (items[i].id == NULL || items[i].id[0] == '\0') {
      free(*wire), free(*ptrs);
      return client_error(t, TALLY_E_INVALID_ARGUMENT, "item %zu has no id", i + 1);
    }
    Tally__CalibrationItem *w = &(*wire)[i];
    tally__calibration_item__init(w);
    w->id = (char *)items[i].id;
    w->market = (char *)(items[i].market ? items[i].market : "");
    w->content = (char *)(items[i].content ? items[i].content : "");
    w->media_url = (char *)(items[i].media_url ? items[i].media_url : "");
    w->key = (char *)(items[i].key ? items[i].key : "");
    (*ptrs)[i] = w;
  }
  return 0;
}

static int need(tally_t *t, const char *value, const char *what) {
  if (value != NULL && value[0] != '\0') return 0;
  return client_error(t, TALLY_E_INVALID_ARGUMENT, "%s is missing", what);
}

/* ------------------------------------------------------------ lead calls */

int tally_calibration_create(tally_t *t, const tally_calibration_spec_t *spec,
                             tally_calibration_t **out) {
  if (out) *out = NULL;
  int rc = spec ? need(t, spec->name, "the session name") : need(t, NULL, "the session");
  if (rc == 0) rc = need(t, spec->project, "the project");
  if (rc < 0) return rc;
  Tally__CalibrationItem *wire = NULL, **ptrs = NULL;
  if ((rc = items_wire(t, spec->items, spec->item_count, &wire, &ptrs)) < 0) return rc;
  Tally__Envelope req;
  Tally__CalibrationCreate body;
  wire_envelope_init(&req, 0);
  tally__calibration_create__init(&body);
  body.name = (char *)spec->name;
  body.project = (char *)spec->project;
  body.deadline_ms = spec->deadline_ms;
  body.n_items = spec->item_count;
  body.items = ptrs;
  body.n_markets = spec->market_count;
  body.markets = (char **)spec->markets;
  body.n_people = spec->people_count;
  body.people = (char **)spec->people;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_CREATE;
  req.calibration_create = &body;
  rc = call_for_session(t, &req, out);
  free(wire);
  free(ptrs);
  return rc;
}

int tally_calibration_items_add(tally_t *t, const char *session,
                                const tally_calibration_item_t *items, size_t count,
                                tally_calibration_t **out) {
  if (out) *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc < 0) return rc;
  Tally__CalibrationItem *wire = NULL, **ptrs = NULL;
  if ((rc = items_wire(t, items, count, &wire, &ptrs)) < 0) return rc;
  Tally__Envelope req;
  Tally__CalibrationItemsAdd body;
  wire_envelope_init(&req, 0);
  tally__calibration_items_add__init(&body);
  body.session = (char *)session;
  body.n_items = count;
  body.items = ptrs;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_ITEMS_ADD;
  req.calibration_items_add = &body;
  rc = call_for_session(t, &req, out);
  free(wire);
  free(ptrs);
  return rc;
}

int tally_calibration_assign(tally_t *t, const char *session, const char **markets,
                             size_t market_count, const char **people, size_t people_count,
                             tally_calibration_t **out) {
  if (out) *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc < 0) return rc;
  Tally__Envelope req;
  Tally__CalibrationAssign body;
  wire_envelope_init(&req, 0);
  tally__calibration_assign__init(&body);
  body.session = (char *)session;
  body.n_markets = market_count;
  body.markets = (char **)markets;
  body.n_people = people_count;
  body.people = (char **)people;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_ASSIGN;
  req.calibration_assign = &body;
  return call_for_session(t, &req, out);
}

int tally_calibration_close(tally_t *t, const char *session, tally_calibration_t **out) {
  if (out) *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc < 0) return rc;
  Tally__Envelope req;
  Tally__CalibrationClose body;
  wire_envelope_init(&req, 0);
  tally__calibration_close__init(&body);
  body.session = (char *)session;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_CLOSE;
  req.calibration_close = &body;
  return call_for_session(t, &req, out);
}

int tally_calibration_key(tally_t *t, const char *session, const tally_calibration_key_t *keys,
                          size_t count, tally_calibration_t **out) {
  if (out) *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc < 0) return rc;
  Tally__CalibrationKeyEntry *entries = calloc(count ? count : 1, sizeof *entries);
  Tally__CalibrationKeyEntry **ptrs = calloc(count ? count : 1, sizeof *ptrs);
  if (entries == NULL || ptrs == NULL) {
    free(entries), free(ptrs);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  for (size_t i = 0; i < count; i++) {
    tally__calibration_key_entry__init(&entries[i]);
    entries[i].item_id = (char *)(keys[i].item_id ? keys[i].item_id : "");
    entries[i].label = (char *)(keys[i].label ? keys[i].label : "");
    ptrs[i] = &entries[i];
  }
  Tally__Envelope req;
  Tally__CalibrationKey body;
  wire_envelope_init(&req, 0);
  tally__calibration_key__init(&body);
  body.session = (char *)session;
  body.n_keys = count;
  body.keys = ptrs;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_KEY;
  req.calibration_key = &body;
  rc = call_for_session(t, &req, out);
  free(entries);
  free(ptrs);
  return rc;
}

int tally_calibration_list(tally_t *t, const char *project, tally_calibration_list_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__CalibrationList body;
  wire_envelope_init(&req, 0);
  tally__calibration_list__init(&body);
  body.project = (char *)(project ? project : "");
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_LIST;
  req.calibration_list = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CALIBRATION_LIST_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__CalibrationListReply *rep = reply->calibration_list_reply;
  result_t *r;
  tally_calibration_list_t *list = result_new(sizeof *list, &r);
  if (list == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  list->sessions = result_alloc(r, (rep->n_sessions ? rep->n_sessions : 1) * sizeof *list->sessions);
  for (size_t i = 0; list->sessions && i < rep->n_sessions; i++)
    summary_copy(r, &list->sessions[i], rep->sessions[i]);
  list->count = list->sessions ? rep->n_sessions : 0;
  wire_envelope_free(&reply);
  return finish(t, r, list, out);
}

/* ------------------------------------------------------------ member calls */

int tally_calibration_next(tally_t *t, const char *session, const char *person,
                           tally_calibration_task_t **out) {
  *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc < 0) return rc;
  Tally__Envelope req, *reply = NULL;
  Tally__CalibrationNext body;
  wire_envelope_init(&req, 0);
  tally__calibration_next__init(&body);
  body.session = (char *)session;
  body.labeler = (char *)(person ? person : "");
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_NEXT;
  req.calibration_next = &body;
  rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CALIBRATION_TASK, &reply);
  if (rc < 0) return rc;
  const Tally__CalibrationTask *src = reply->calibration_task;
  result_t *r;
  tally_calibration_task_t *task = result_new(sizeof *task, &r);
  if (task == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  task->has_task = src->has_task ? 1 : 0;
  task->session = result_strdup(r, src->session);
  task->project = result_strdup(r, src->project);
  task->item_id = result_strdup(r, src->item_id);
  task->market = result_strdup(r, src->market);
  task->content = result_strdup(r, src->content);
  task->media_url = result_strdup(r, src->media_url);
  task->labels = result_strv(r, src->labels, src->n_labels);
  task->label_count = task->labels ? src->n_labels : 0;
  task->deadline_ms = src->deadline_ms;
  task->done = src->done;
  task->total = src->total;
  wire_envelope_free(&reply);
  return finish(t, r, task, out);
}

int tally_calibration_submit(tally_t *t, const char *session, const char *person,
                             const char *item_id, const char *label, uint32_t handling_ms,
                             tally_calibration_ack_t **out) {
  if (out) *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc == 0) rc = need(t, item_id, "the item id");
  if (rc == 0) rc = need(t, label, "the label");
  if (rc < 0) return rc;
  Tally__Envelope req, *reply = NULL;
  Tally__CalibrationSubmit body;
  wire_envelope_init(&req, 0);
  tally__calibration_submit__init(&body);
  body.session = (char *)session;
  body.labeler = (char *)(person ? person : "");
  body.item_id = (char *)item_id;
  body.label = (char *)label;
  body.handling_ms = handling_ms;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT;
  req.calibration_submit = &body;
  rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT_REPLY, &reply);
  if (rc < 0 || out == NULL) {
    wire_envelope_free(&reply);
    return rc;
  }
  const Tally__CalibrationSubmitReply *src = reply->calibration_submit_reply;
  result_t *r;
  tally_calibration_ack_t *ack = result_new(sizeof *ack, &r);
  if (ack == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  ack->session = result_strdup(r, src->session);
  ack->item_id = result_strdup(r, src->item_id);
  ack->label = result_strdup(r, src->label);
  ack->at_ms = src->at_ms;
  ack->done = src->done;
  ack->total = src->total;
  wire_envelope_free(&reply);
  return finish(t, r, ack, out);
}

/* ------------------------------------------------------------ results */

int tally_calibration_results(tally_t *t, const char *session,
                              tally_calibration_results_t **out) {
  *out = NULL;
  int rc = need(t, session, "the session name");
  if (rc < 0) return rc;
  Tally__Envelope req, *reply = NULL;
  Tally__CalibrationResultsRequest body;
  wire_envelope_init(&req, 0);
  tally__calibration_results_request__init(&body);
  body.session = (char *)session;
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS_REQUEST;
  req.calibration_results_request = &body;
  rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS, &reply);
  if (rc < 0) return rc;
  const Tally__CalibrationResults *src = reply->calibration_results;
  result_t *r;
  tally_calibration_results_t *res = result_new(sizeof *res, &r);
  if (res == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  summary_copy(r, &res->session, src->session);
  res->live = src->live ? 1 : 0;
  res->labels = result_strv(r, src->labels, src->n_labels);
  res->label_count = res->labels ? src->n_labels : 0;
  res->group = accuracy_of(src->group);
  res->people = result_alloc(r, (src->n_people ? src->n_people : 1) * sizeof *res->people);
  for (size_t i = 0; res->people && i < src->n_people; i++)
    res->people[i] = (tally_calibration_person_t){result_strdup(r, src->people[i]->person),
                                                  src->people[i]->labeled,
                                                  accuracy_of(src->people[i]->accuracy)};
  res->people_count = res->people ? src->n_people : 0;
  res->coefficients = result_alloc(r, (src->n_coefficients ? src->n_coefficients : 1) * sizeof *res->coefficients);
  for (size_t i = 0; res->coefficients && i < src->n_coefficients; i++)
    res->coefficients[i] = (tally_coefficient_t){result_strdup(r, src->coefficients[i]->name),
                                                 src->coefficients[i]->defined ? 1 : 0,
                                                 src->coefficients[i]->defined ? src->coefficients[i]->value : 0.0};
  res->coefficient_count = res->coefficients ? src->n_coefficients : 0;
  res->items = result_alloc(r, (src->n_items ? src->n_items : 1) * sizeof *res->items);
  for (size_t i = 0; res->items && i < src->n_items; i++) {
    const Tally__CalibrationItemResult *it = src->items[i];
    uint64_t *dist = result_alloc(r, (res->label_count ? res->label_count : 1) * sizeof *dist);
    for (size_t j = 0; dist && j < it->n_distribution && j < res->label_count; j++)
      dist[j] = it->distribution[j];
    res->items[i] = (tally_calibration_item_result_t){
        result_strdup(r, it->item_id), result_strdup(r, it->market), result_strdup(r, it->key),
        it->labels, dist, it->disagreement_defined ? 1 : 0, it->disagreement,
        result_strdup(r, it->top_label)};
  }
  res->item_count = res->items ? src->n_items : 0;
  wire_envelope_free(&reply);
  return finish(t, r, res, out);
}

int tally_calibration_trend(tally_t *t, const char *project, const char *person,
                            tally_calibration_trend_t **out) {
  *out = NULL;
  int rc = need(t, project, "the project");
  if (rc < 0) return rc;
  Tally__Envelope req, *reply = NULL;
  Tally__CalibrationTrendRequest body;
  wire_envelope_init(&req, 0);
  tally__calibration_trend_request__init(&body);
  body.project = (char *)project;
  body.person = (char *)(person ? person : "");
  req.body_case = TALLY__ENVELOPE__BODY_CALIBRATION_TREND_REQUEST;
  req.calibration_trend_request = &body;
  rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CALIBRATION_TREND_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__CalibrationTrendReply *src = reply->calibration_trend_reply;
  result_t *r;
  tally_calibration_trend_t *trend = result_new(sizeof *trend, &r);
  if (trend == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  trend->points = result_alloc(r, (src->n_points ? src->n_points : 1) * sizeof *trend->points);
  for (size_t i = 0; trend->points && i < src->n_points; i++) {
    const Tally__CalibrationTrendPoint *p = src->points[i];
    trend->points[i] = (tally_calibration_trend_point_t){
        result_strdup(r, p->person), result_strdup(r, p->session), p->created_ms, p->closed_ms,
        accuracy_of(p->accuracy)};
  }
  trend->count = trend->points ? src->n_points : 0;
  wire_envelope_free(&reply);
  return finish(t, r, trend, out);
}
