/* client_admin: control-plane calls to the coordinator — projects and
 * their audit policy, labelers, the cluster map — and their conversion to
 * the plain structs of tally.h. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "ramp.h"
#include "result.h"
#include "wire.h"

/* ------------------------------------------------------------ conversions */

static void audit_policy_copy(result_t *r, tally_audit_policy_t *dst, const Tally__AuditPolicy *src) {
  if (src == NULL) return;
  dst->rate = src->rate;
  dst->ramp_rate = src->ramp_rate;
  dst->ramp_audits = src->ramp_audits;
  dst->ramp_target = src->ramp_target;
  dst->gold_rate = src->gold_rate;
  if (src->n_market_rates == 0) return;
  tally_market_rate_t *rates = result_alloc(r, src->n_market_rates * sizeof *rates);
  if (rates == NULL) return;
  for (size_t i = 0; i < src->n_market_rates; i++)
    rates[i] = (tally_market_rate_t){result_strdup(r, src->market_rates[i]->market), src->market_rates[i]->rate};
  dst->market_rates = rates;
  dst->market_rate_count = src->n_market_rates;
}

int tally_project_is_ramping(const tally_project_t *project, const char *person) {
  if (project->audit.ramp_rate <= 0.0) return 0;
  return !ramp_contains((char *const *)project->ramped_up, project->ramped_up_count, person);
}

static void project_copy(result_t *r, tally_project_t *dst, const Tally__Project *src) {
  dst->id = src->id;
  dst->name = result_strdup(r, src->name);
  dst->labels = result_strv(r, src->labels, src->n_labels);
  dst->label_count = dst->labels ? src->n_labels : 0;
  dst->markets = result_strv(r, src->markets, src->n_markets);
  dst->market_count = dst->markets ? src->n_markets : 0;
  dst->lease_seconds = src->lease_seconds;
  dst->audit_rate = src->audit_rate;
  dst->overlap = src->overlap;
  dst->sla_seconds = src->sla_seconds;
  dst->ordinal = src->ordinal ? 1 : 0;
  dst->created_ms = src->created_ms;
  dst->policy_version = src->policy_version;
  dst->high_severity = result_strv(r, src->high_severity, src->n_high_severity);
  dst->high_severity_count = dst->high_severity ? src->n_high_severity : 0;
  dst->exposure_budget = src->exposure_budget;
  dst->shift_hours = src->shift_hours;
  dst->ramped_up = result_strv(r, src->ramped_up, src->n_ramped_up);
  dst->ramped_up_count = dst->ramped_up ? src->n_ramped_up : 0;
  audit_policy_copy(r, &dst->audit, src->audit);
  if (src->n_guidelines > 0) {
    tally_guideline_t *g = result_alloc(r, src->n_guidelines * sizeof *g);
    for (size_t i = 0; g != NULL && i < src->n_guidelines; i++) {
      const Tally__GuidelineVersion *v = src->guidelines[i];
      g[i] = (tally_guideline_t){v->version,           result_strdup(r, v->name),
                                 result_strdup(r, v->url), result_strdup(r, v->text),
                                 v->set_ms,            result_strdup(r, v->set_by)};
    }
    dst->guidelines = g;
    dst->guideline_count = g ? src->n_guidelines : 0;
  }
  /* A coordinator that predates audit policies has only audit_rate. */
  if (src->audit == NULL) dst->audit.rate = src->audit_rate;
}

static void labeler_copy(result_t *r, tally_labeler_t *dst, const Tally__Labeler *src) {
  dst->id = result_strdup(r, src->id);
  dst->roles = src->roles;
  dst->markets = result_strv(r, src->markets, src->n_markets);
  dst->market_count = dst->markets ? src->n_markets : 0;
  dst->public_key = result_strdup(r, src->public_key ? src->public_key : "");
}

static void worker_info_copy(result_t *r, tally_worker_info_t *dst, const Tally__WorkerInfo *src) {
  dst->id = src->id;
  dst->endpoint = result_strdup(r, src->endpoint);
  dst->state = (tally_worker_state_t)src->state;
  dst->last_heartbeat_ms = src->last_heartbeat_ms;
  dst->slots_owned = src->slots_owned;
  dst->queued = src->queued;
  dst->live_leases = src->live_leases;
  dst->items = src->items;
  dst->draining = src->draining;
  dst->slots_moving = src->slots_moving;
  dst->holds_sums = src->holds_sums;
  dst->store_full = src->store_full;
  if (src->n_backlog == 0) return;
  dst->backlog = result_alloc(r, src->n_backlog * sizeof *dst->backlog);
  if (dst->backlog == NULL) return;
  dst->backlog_count = src->n_backlog;
  for (size_t i = 0; i < src->n_backlog; i++) {
    const Tally__BacklogHint *h = src->backlog[i];
    dst->backlog[i] = (tally_backlog_t){h->project_id, result_strdup(r, h->market),
                                        (tally_stage_t)h->stage, h->depth, h->top_priority};
  }
}

/* Finishes a result: NOMEM if the arena ran out, else hands it out. */
static int result_finish(tally_t *t, result_t *r, void *root, void *out) {
  if (result_failed(r)) {
    result_free(root);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *(void **)out = root;
  return 0;
}

static int project_result(tally_t *t, const Tally__Project *p, tally_project_t **out) {
  if (p == NULL) return client_error(t, TALLY_E_INTERNAL, "reply without a project");
  result_t *r;
  tally_project_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  project_copy(r, copy, p);
  return result_finish(t, r, copy, out);
}

static int labeler_result(tally_t *t, const Tally__Labeler *l, tally_labeler_t **out) {
  if (l == NULL) return client_error(t, TALLY_E_INTERNAL, "reply without a labeler");
  result_t *r;
  tally_labeler_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  labeler_copy(r, copy, l);
  return result_finish(t, r, copy, out);
}

/* ------------------------------------------------------------ projects */

/* Points `wire` (and its market rates, in the caller's arrays of `count`
 * entries) at `policy`; the strings stay borrowed. */
static void audit_policy_wire(Tally__AuditPolicy *wire, Tally__MarketRate *rates, Tally__MarketRate **rate_ptrs,
                              const tally_audit_policy_t *policy) {
  tally__audit_policy__init(wire);
  wire->rate = policy->rate;
  wire->ramp_rate = policy->ramp_rate;
  wire->ramp_audits = policy->ramp_audits;
  wire->ramp_target = policy->ramp_target;
  wire->gold_rate = policy->gold_rate;
  for (size_t i = 0; i < policy->market_rate_count; i++) {
    tally__market_rate__init(&rates[i]);
    rates[i].market = (char *)policy->market_rates[i].market;
    rates[i].rate = policy->market_rates[i].rate;
    rate_ptrs[i] = &rates[i];
  }
  wire->n_market_rates = policy->market_rate_count;
  wire->market_rates = policy->market_rate_count ? rate_ptrs : NULL;
}

static int rate_is_valid(double rate) { return rate >= 0.0 && rate <= 1.0; } /* false for NaN */

/* Checks a policy before it is sent. Returns 0 or INVALID_ARGUMENT
 * (recorded). */
static int audit_policy_check(tally_t *t, const tally_audit_policy_t *p) {
  if (!rate_is_valid(p->rate)) return client_error(t, TALLY_E_INVALID_ARGUMENT, "audit rate %g is not within 0..1", p->rate);
  if (!rate_is_valid(p->ramp_rate))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "ramp-up rate %g is not within 0..1", p->ramp_rate);
  if (!rate_is_valid(p->ramp_target))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "ramp-up target %g is not within 0..1", p->ramp_target);
  if (!(p->gold_rate >= 0.0 && p->gold_rate <= 0.5))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "gold rate %g is not within 0..0.5", p->gold_rate);
  if (p->market_rate_count > 0 && p->market_rates == NULL)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "market rates missing");
  for (size_t i = 0; i < p->market_rate_count; i++) {
    const tally_market_rate_t *m = &p->market_rates[i];
    if (m->market == NULL || m->market[0] == '\0')
      return client_error(t, TALLY_E_INVALID_ARGUMENT, "a market rate without a market");
    if (!rate_is_valid(m->rate))
      return client_error(t, TALLY_E_INVALID_ARGUMENT, "audit rate %g of market '%s' is not within 0..1", m->rate,
                          m->market);
    for (size_t j = 0; j < i; j++)
      if (strcmp(p->market_rates[j].market, m->market) == 0)
        return client_error(t, TALLY_E_INVALID_ARGUMENT, "market '%s' has two audit rates", m->market);
  }
  return 0;
}

int tally_audit_policy_set(tally_t *t, const char *project, const tally_audit_policy_t *policy,
                           tally_project_t **out) {
  if (out) *out = NULL;
  if (project == NULL || project[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "audit policy set needs a project");
  if (policy == NULL) return client_error(t, TALLY_E_INVALID_ARGUMENT, "audit policy set needs a policy");
  int rc = audit_policy_check(t, policy);
  if (rc < 0) return rc;
  size_t n = policy->market_rate_count;
  Tally__MarketRate *rates = calloc(n ? n : 1, sizeof *rates);
  Tally__MarketRate **rate_ptrs = calloc(n ? n : 1, sizeof *rate_ptrs);
  if (rates == NULL || rate_ptrs == NULL) {
    free(rates);
    free(rate_ptrs);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  Tally__Envelope req, *reply = NULL;
  Tally__AuditPolicySet body;
  Tally__AuditPolicy wire;
  wire_envelope_init(&req, 0);
  tally__audit_policy_set__init(&body);
  audit_policy_wire(&wire, rates, rate_ptrs, policy);
  body.project = (char *)project;
  body.policy = &wire;
  req.body_case = TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET;
  req.audit_policy_set = &body;
  rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_PROJECT_REPLY, &reply);
  if (rc == 0 && out) rc = project_result(t, reply->project_reply->project, out);
  wire_envelope_free(&reply);
  free(rates);
  free(rate_ptrs);
  return rc;
}

int tally_wellbeing_set(tally_t *t, const char *project, const char **high_severity,
                        size_t high_severity_count, uint32_t exposure_budget,
                        uint32_t shift_hours, tally_project_t **out) {
  if (out) *out = NULL;
  if (project == NULL || project[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "wellbeing set needs a project");
  if (high_severity_count > 0 && high_severity == NULL)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "high-severity labels missing");
  Tally__Envelope req, *reply = NULL;
  Tally__WellbeingSet body;
  wire_envelope_init(&req, 0);
  tally__wellbeing_set__init(&body);
  body.project = (char *)project;
  body.n_high_severity = high_severity_count;
  body.high_severity = (char **)high_severity;
  body.exposure_budget = exposure_budget;
  body.shift_hours = shift_hours;
  req.body_case = TALLY__ENVELOPE__BODY_WELLBEING_SET;
  req.wellbeing_set = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_PROJECT_REPLY, &reply);
  if (rc == 0 && out) rc = project_result(t, reply->project_reply->project, out);
  wire_envelope_free(&reply);
  return rc;
}

int tally_guideline_set(tally_t *t, const char *project, const char *name, const char *url,
                        const char *text, tally_project_t **out) {
  if (out) *out = NULL;
  if (project == NULL || project[0] == '\0' || name == NULL || name[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "guideline set needs a project and a name");
  if ((url == NULL || url[0] == '\0') && (text == NULL || text[0] == '\0'))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a guideline version needs a url or a text");
  Tally__Envelope req, *reply = NULL;
  Tally__GuidelineSet body;
  wire_envelope_init(&req, 0);
  tally__guideline_set__init(&body);
  body.project = (char *)project;
  body.name = (char *)name;
  body.url = (char *)(url ? url : "");
  body.text = (char *)(text ? text : "");
  req.body_case = TALLY__ENVELOPE__BODY_GUIDELINE_SET;
  req.guideline_set = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_PROJECT_REPLY, &reply);
  if (rc == 0 && out) rc = project_result(t, reply->project_reply->project, out);
  wire_envelope_free(&reply);
  return rc;
}

int tally_project_create(tally_t *t, const tally_project_t *spec, tally_project_t **out) {
  if (out) *out = NULL;
  if (spec == NULL || spec->name == NULL || spec->name[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a project needs a name");
  Tally__Envelope req, *reply = NULL;
  Tally__ProjectCreate body;
  Tally__Project project;
  wire_envelope_init(&req, 0);
  tally__project_create__init(&body);
  tally__project__init(&project);
  project.name = (char *)spec->name;
  project.n_labels = spec->label_count;
  project.labels = (char **)spec->labels;
  project.n_markets = spec->market_count;
  project.markets = (char **)spec->markets;
  project.lease_seconds = spec->lease_seconds;
  project.audit_rate = spec->audit_rate;
  project.overlap = spec->overlap;
  project.sla_seconds = spec->sla_seconds;
  project.ordinal = spec->ordinal != 0;
  project.n_high_severity = spec->high_severity_count;
  project.high_severity = (char **)spec->high_severity;
  project.exposure_budget = spec->exposure_budget;
  project.shift_hours = spec->shift_hours;
  /* The policy travels only when it says more than the base rate. */
  const tally_audit_policy_t *audit = &spec->audit;
  size_t n = audit->market_rate_count;
  Tally__AuditPolicy policy;
  Tally__MarketRate *rates = NULL, **rate_ptrs = NULL;
  if (n > 0 || audit->ramp_rate > 0 || audit->ramp_audits > 0 || audit->ramp_target > 0 ||
      audit->gold_rate != 0) {
    tally_audit_policy_t full = *audit;
    full.rate = spec->audit_rate;
    int rc = audit_policy_check(t, &full);
    if (rc < 0) return rc;
    rates = calloc(n ? n : 1, sizeof *rates);
    rate_ptrs = calloc(n ? n : 1, sizeof *rate_ptrs);
    if (rates == NULL || rate_ptrs == NULL) {
      free(rates);
      free(rate_ptrs);
      return client_error(t, TALLY_E_NOMEM, "out of memory");
    }
    audit_policy_wire(&policy, rates, rate_ptrs, &full);
    project.audit = &policy;
  }
  body.project = &project;
  req.body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  req.project_create = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_PROJECT_REPLY, &reply);
  if (rc == 0 && out) rc = project_result(t, reply->project_reply->project, out);
  wire_envelope_free(&reply);
  free(rates);
  free(rate_ptrs);
  return rc;
}

int tally_project_list(tally_t *t, tally_project_list_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__ProjectList body;
  wire_envelope_init(&req, 0);
  tally__project_list__init(&body);
  req.body_case = TALLY__ENVELOPE__BODY_PROJECT_LIST;
  req.project_list = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_PROJECT_LIST_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__ProjectListReply *list = reply->project_list_reply;
  result_t *r;
  tally_project_list_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  if (list->n_projects) {
    copy->projects = result_alloc(r, list->n_projects * sizeof *copy->projects);
    if (copy->projects) {
      copy->count = list->n_projects;
      for (size_t i = 0; i < list->n_projects; i++) project_copy(r, &copy->projects[i], list->projects[i]);
    }
  }
  wire_envelope_free(&reply);
  return result_finish(t, r, copy, out);
}

int tally_project_show(tally_t *t, const char *name, tally_project_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__ProjectShow body;
  wire_envelope_init(&req, 0);
  tally__project_show__init(&body);
  body.name = (char *)(name ? name : "");
  req.body_case = TALLY__ENVELOPE__BODY_PROJECT_SHOW;
  req.project_show = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_PROJECT_REPLY, &reply);
  if (rc == 0) rc = project_result(t, reply->project_reply->project, out);
  wire_envelope_free(&reply);
  return rc;
}

/* ------------------------------------------------------------ labelers */

int tally_labeler_add(tally_t *t, const tally_labeler_t *spec, tally_labeler_t **out) {
  if (out) *out = NULL;
  if (spec == NULL || spec->id == NULL || spec->id[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a labeler needs an id");
  Tally__Envelope req, *reply = NULL;
  Tally__LabelerAdd body;
  Tally__Labeler labeler;
  wire_envelope_init(&req, 0);
  tally__labeler_add__init(&body);
  tally__labeler__init(&labeler);
  labeler.id = (char *)spec->id;
  labeler.roles = spec->roles;
  labeler.n_markets = spec->market_count;
  labeler.markets = (char **)spec->markets;
  if (spec->public_key != NULL) labeler.public_key = (char *)spec->public_key;
  body.labeler = &labeler;
  req.body_case = TALLY__ENVELOPE__BODY_LABELER_ADD;
  req.labeler_add = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_LABELER_REPLY, &reply);
  if (rc == 0 && out) rc = labeler_result(t, reply->labeler_reply->labeler, out);
  wire_envelope_free(&reply);
  return rc;
}

int tally_labeler_update(tally_t *t, const tally_labeler_update_t *update, tally_labeler_t **out) {
  if (out) *out = NULL;
  if (update == NULL || update->id == NULL || update->id[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a labeler update needs an id");
  Tally__Envelope req, *reply = NULL;
  Tally__LabelerUpdate body;
  wire_envelope_init(&req, 0);
  tally__labeler_update__init(&body);
  body.id = (char *)update->id;
  body.set_roles = update->set_roles;
  body.n_add_markets = update->add_count;
  body.add_markets = (char **)update->add_markets;
  body.n_remove_markets = update->remove_count;
  body.remove_markets = (char **)update->remove_markets;
  if (update->set_public_key != NULL) body.set_public_key = (char *)update->set_public_key;
  req.body_case = TALLY__ENVELOPE__BODY_LABELER_UPDATE;
  req.labeler_update = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_LABELER_REPLY, &reply);
  if (rc == 0 && out) rc = labeler_result(t, reply->labeler_reply->labeler, out);
  wire_envelope_free(&reply);
  return rc;
}

int tally_labeler_list(tally_t *t, tally_labeler_list_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__LabelerList body;
  wire_envelope_init(&req, 0);
  tally__labeler_list__init(&body);
  req.body_case = TALLY__ENVELOPE__BODY_LABELER_LIST;
  req.labeler_list = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_LABELER_LIST_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__LabelerListReply *list = reply->labeler_list_reply;
  result_t *r;
  tally_labeler_list_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  if (list->n_labelers) {
    copy->labelers = result_alloc(r, list->n_labelers * sizeof *copy->labelers);
    if (copy->labelers) {
      copy->count = list->n_labelers;
      for (size_t i = 0; i < list->n_labelers; i++) labeler_copy(r, &copy->labelers[i], list->labelers[i]);
    }
  }
  wire_envelope_free(&reply);
  return result_finish(t, r, copy, out);
}

/* ------------------------------------------------------------ map */

/* Copies `map` into *copy inside the arena r. */
static void map_copy(result_t *r, tally_map_t *copy, const Tally__ClusterMap *map) {
  copy->epoch = map->epoch;
  copy->slot_count = map->slot_count;
  copy->config_version = map->config_version;
  if (map->n_workers) {
    copy->workers = result_alloc(r, map->n_workers * sizeof *copy->workers);
    if (copy->workers) {
      copy->worker_count = map->n_workers;
      for (size_t i = 0; i < map->n_workers; i++) worker_info_copy(r, &copy->workers[i], map->workers[i]);
    }
  }
  if (map->slot_count) {
    copy->slot_owner = result_alloc(r, map->slot_count * sizeof *copy->slot_owner);
    if (copy->slot_owner) {
      for (size_t s = 0; s < map->slot_count; s++) {
        copy->slot_owner[s] = s < map->n_slot_owner ? map->slot_owner[s] : 0;
        if (copy->slot_owner[s] == 0) copy->unassigned_slots++;
      }
    }
  }
}

int tally_cluster_map(tally_t *t, tally_map_t **out) {
  *out = NULL;
  int rc = client_refresh_map(t);
  if (rc < 0) return rc;
  result_t *r;
  tally_map_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  map_copy(r, copy, t->map_env->map);
  return result_finish(t, r, copy, out);
}

/* A copy of n ids inside the arena (NULL when n is 0). */
static const uint32_t *ids_copy(result_t *r, const uint32_t *ids, size_t n) {
  if (n == 0) return NULL;
  uint32_t *copy = result_alloc(r, n * sizeof *copy);
  if (copy) memcpy(copy, ids, n * sizeof *copy);
  return copy;
}

/* The replicas of every slot of `map`, by slot; a slot the map does not
 * describe (or a map without replication) has none. */
static void slot_replicas_copy(result_t *r, tally_cluster_status_t *st, const Tally__ClusterMap *map) {
  if (map->n_slots == 0 || map->slot_count == 0) return;
  st->slots = result_alloc(r, map->slot_count * sizeof *st->slots);
  if (st->slots == NULL) return;
  st->slot_replica_count = map->slot_count;
  for (uint32_t s = 0; s < map->slot_count; s++) {
    st->slots[s].slot = s;
    st->slots[s].primary = st->map.slot_owner ? st->map.slot_owner[s] : 0;
  }
  for (size_t i = 0; i < map->n_slots; i++) {
    const Tally__SlotReplicas *src = map->slots[i];
    if (src->slot >= map->slot_count) continue; /* not a slot of this map */
    tally_slot_replicas_t *dst = &st->slots[src->slot];
    dst->followers = ids_copy(r, src->followers, src->n_followers);
    dst->follower_count = src->n_followers;
    dst->in_sync = ids_copy(r, src->in_sync, src->n_in_sync);
    dst->in_sync_count = src->n_in_sync;
    dst->slot_epoch = src->slot_epoch;
    dst->waiting = src->waiting;
  }
}

int tally_cluster_status(tally_t *t, tally_cluster_status_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__ClusterStatusRequest body = TALLY__CLUSTER_STATUS_REQUEST__INIT;
  wire_envelope_init(&req, 0);
  req.body_case = TALLY__ENVELOPE__BODY_CLUSTER_STATUS_REQUEST;
  req.cluster_status_request = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CLUSTER_STATUS, &reply);
  if (rc < 0) return rc;
  const Tally__ClusterStatus *status = reply->cluster_status;
  if (status->map == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_BAD_REQUEST, "the coordinator's cluster status carries no map");
  }
  result_t *r;
  tally_cluster_status_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  map_copy(r, &copy->map, status->map);
  copy->replicas = status->map->replicas;
  slot_replicas_copy(r, copy, status->map);
  if (status->n_coordinators) {
    copy->coordinators = result_alloc(r, status->n_coordinators * sizeof *copy->coordinators);
    if (copy->coordinators) {
      copy->coordinator_count = status->n_coordinators;
      for (size_t i = 0; i < status->n_coordinators; i++) {
        const Tally__CoordinatorInfo *c = status->coordinators[i];
        copy->coordinators[i] = (tally_coordinator_info_t){c->raft_id, result_strdup(r, c->endpoint),
                                                           result_strdup(r, c->raft_address), c->leader};
      }
    }
  }
  copy->leader_id = status->leader_id;
  copy->raft_term = status->raft_term;
  copy->raft_commit_index = status->raft_commit_index;
  if (status->n_lags) {
    copy->lags = result_alloc(r, status->n_lags * sizeof *copy->lags);
    if (copy->lags) {
      copy->lag_count = status->n_lags;
      for (size_t i = 0; i < status->n_lags; i++) {
        const Tally__ReplicaLag *l = status->lags[i];
        copy->lags[i] = (tally_replica_lag_t){l->slot, l->follower_id, l->sent_seq, l->acked_seq, l->lag_ms};
      }
    }
  }
  wire_envelope_free(&reply);
  return result_finish(t, r, copy, out);
}

int tally_worker_drain(tally_t *t, uint32_t worker_id, int undrain, tally_map_t **out) {
  if (out) *out = NULL;
  if (worker_id == 0) return client_error(t, TALLY_E_INVALID_ARGUMENT, "a worker id is >= 1");
  Tally__Envelope req, *reply = NULL;
  Tally__WorkerDrain body = TALLY__WORKER_DRAIN__INIT;
  wire_envelope_init(&req, 0);
  body.worker_id = worker_id;
  body.undrain = undrain != 0;
  req.body_case = TALLY__ENVELOPE__BODY_WORKER_DRAIN;
  req.worker_drain = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_MAP, &reply);
  wire_envelope_free(&reply);
  if (rc < 0 || out == NULL) return rc;
  return tally_cluster_map(t, out);
}

/* ------------------------------------------------------------ security */

int tally_cluster_admit(tally_t *t, const char *public_key, int revoke) {
  if (public_key == NULL || public_key[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "admit needs a worker's public key");
  Tally__Envelope req, *reply = NULL;
  Tally__ClusterAdmit body = TALLY__CLUSTER_ADMIT__INIT;
  wire_envelope_init(&req, 0);
  body.public_key = (char *)public_key;
  body.revoke = revoke != 0;
  req.body_case = TALLY__ENVELOPE__BODY_CLUSTER_ADMIT;
  req.cluster_admit = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_ACK, &reply);
  wire_envelope_free(&reply);
  return rc;
}

int tally_admin_log(tally_t *t, uint32_t limit, uint64_t before_seq, tally_admin_log_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__AdminLogRequest body = TALLY__ADMIN_LOG_REQUEST__INIT;
  wire_envelope_init(&req, 0);
  body.limit = limit;
  body.before_seq = before_seq;
  req.body_case = TALLY__ENVELOPE__BODY_ADMIN_LOG_REQUEST;
  req.admin_log_request = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_ADMIN_LOG_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__AdminLogReply *log = reply->admin_log_reply;
  result_t *r;
  tally_admin_log_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  copy->entries = log->n_entries ? result_alloc(r, log->n_entries * sizeof *copy->entries) : NULL;
  for (size_t i = 0; copy->entries != NULL && i < log->n_entries; i++) {
    const Tally__AdminLogEntry *e = log->entries[i];
    copy->entries[i] = (tally_admin_entry_t){e->seq,
                                             e->at_ms,
                                             result_strdup(r, e->actor),
                                             result_strdup(r, e->action),
                                             result_strdup(r, e->target),
                                             result_strdup(r, e->old_value),
                                             result_strdup(r, e->new_value)};
    copy->count++;
  }
  wire_envelope_free(&reply);
  return result_finish(t, r, copy, out);
}

int tally_whoami(tally_t *t, tally_whoami_t **out) {
  *out = NULL;
  Tally__Envelope req, *reply = NULL;
  Tally__WhoamiRequest body = TALLY__WHOAMI_REQUEST__INIT;
  wire_envelope_init(&req, 0);
  req.body_case = TALLY__ENVELOPE__BODY_WHOAMI_REQUEST;
  req.whoami_request = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_WHOAMI_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__WhoamiReply *w = reply->whoami_reply;
  result_t *r;
  tally_whoami_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  copy->id = result_strdup(r, w->id);
  copy->roles = w->roles;
  copy->public_key = result_strdup(r, w->public_key);
  copy->secure = w->secure;
  wire_envelope_free(&reply);
  return result_finish(t, r, copy, out);
}
