/* catalog: projects and labelers. See catalog.h. */
#include "catalog.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "clock.h"
#include "coordinator_internal.h"
#include "ident.h"
#include "log.h"
#include "tally_error.h"
#include "validate.h"
#include "wire.h"

/* Both catalog lists are arrays of pointers kept in ascending order of a
 * string key (a project's name, a labeler's id). The two functions below
 * serve both: `items` is the array, each element `size` bytes (one
 * pointer), and key_of reads the key of the element at `element` (a
 * pointer into the array, as bsearch hands its comparator). */
typedef const char *(*sorted_key_fn)(const void *element);

/* Position of `key` in the array, or where it would be inserted; *found
 * says which. */
static size_t sorted_position(const void *items, size_t count, size_t size, sorted_key_fn key_of,
                              const char *key, int *found) {
  const char *base = items;
  size_t low = 0, high = count;
  while (low < high) {
    size_t mid = low + (high - low) / 2;
    if (strcmp(key_of(base + mid * size), key) < 0)
      low = mid + 1;
    else
      high = mid;
  }
  *found = low < count && strcmp(key_of(base + low * size), key) == 0;
  return low;
}

/* Inserts the element at `element` (copied: one pointer) at its sorted
 * place in the array of *count elements (its key must be new), growing
 * it when *count reaches *capacity. Returns the array, which may have
 * moved, or NULL when out of memory (the array unchanged). */
static void *sorted_insert(void *items, size_t *count, size_t *capacity, size_t size,
                           sorted_key_fn key_of, const void *element) {
  int found;
  size_t at = sorted_position(items, *count, size, key_of, key_of(element), &found);
  if (*count == *capacity) {
    size_t grown = coordinator_grown_capacity(*capacity);
    void *bigger = realloc(items, grown * size);
    if (bigger == NULL) return NULL;
    items = bigger;
    *capacity = grown;
  }
  char *base = items;
  memmove(base + (at + 1) * size, base + at * size, (*count - at) * size);
  memcpy(base + at * size, element, size);
  (*count)++;
  return items;
}

static const char *project_name_of(const void *element) {
  return (*(Tally__Project *const *)element)->name;
}

static const char *labeler_id_of(const void *element) {
  return (*(Tally__Labeler *const *)element)->id;
}

/* Position of `name` in the list, or where it would be inserted. */
static size_t project_position(const project_list_t *list, const char *name, int *found) {
  return sorted_position(list->items, list->count, sizeof *list->items, project_name_of, name,
                         found);
}

static size_t labeler_position(const labeler_list_t *list, const char *id, int *found) {
  return sorted_position(list->items, list->count, sizeof *list->items, labeler_id_of, id, found);
}

/* Inserts `project` at its sorted place (its name must be new). Returns 0 or
 * TALLY_E_NOMEM (list unchanged). */
static int project_list_insert(project_list_t *list, Tally__Project *project) {
  void *items = sorted_insert(list->items, &list->count, &list->capacity, sizeof project,
                              project_name_of, &project);
  if (items != NULL) list->items = items;
  return items != NULL ? 0 : TALLY_E_NOMEM;
}

/* Inserts `labeler` at its sorted place (its id must be new). Returns 0 or
 * TALLY_E_NOMEM (list unchanged). */
static int labeler_list_insert(labeler_list_t *list, Tally__Labeler *labeler) {
  void *items = sorted_insert(list->items, &list->count, &list->capacity, sizeof labeler,
                              labeler_id_of, &labeler);
  if (items != NULL) list->items = items;
  return items != NULL ? 0 : TALLY_E_NOMEM;
}

/* An audit policy made of borrowed pointers: only the known fields of a
 * policy from a request, for storing (unknown fields are dropped). */
typedef struct {
  Tally__AuditPolicy policy;
  Tally__MarketRate rates[VALIDATE_MAX_LIST];
  Tally__MarketRate *rate_pointers[VALIDATE_MAX_LIST];
} policy_view_t;

/* Fills `view` from `sent`, which passed validate_audit_policy (so it has
 * at most one rate per market of the project: at most VALIDATE_MAX_LIST). */
static void policy_view(policy_view_t *view, const Tally__AuditPolicy *sent) {
  tally__audit_policy__init(&view->policy);
  view->policy.rate = sent->rate;
  view->policy.ramp_rate = sent->ramp_rate;
  view->policy.ramp_audits = sent->ramp_audits;
  view->policy.ramp_target = sent->ramp_target;
  view->policy.gold_rate = sent->gold_rate;
  for (size_t i = 0; i < sent->n_market_rates && i < VALIDATE_MAX_LIST; i++) {
    tally__market_rate__init(&view->rates[i]);
    view->rates[i].market = sent->market_rates[i]->market;
    view->rates[i].rate = sent->market_rates[i]->rate;
    view->rate_pointers[i] = &view->rates[i];
  }
  view->policy.n_market_rates = sent->n_market_rates;
  view->policy.market_rates = view->rate_pointers;
}

/* The policy of a project created without one: its audit_rate, no market
 * rates, no ramp-up. */
static void policy_default(policy_view_t *view, double audit_rate) {
  tally__audit_policy__init(&view->policy);
  view->policy.rate = audit_rate;
}

/* ---------------------------------------------------------------- loading */

static int load_project(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  Tally__Project *project = (Tally__Project *)record;
  /* Projects stored before audit policies existed: the same defaults as
   * project_create (in memory; written when the project next changes). */
  if (project->audit == NULL) {
    project->audit = malloc(sizeof *project->audit);
    if (project->audit == NULL) {
      protobuf_c_message_free_unpacked(record, NULL);
      return TALLY_E_NOMEM;
    }
    tally__audit_policy__init(project->audit);
    project->audit->rate = project->audit_rate;
  }
  if (project->policy_version == 0) project->policy_version = 1;
  if (project_list_insert(&c->projects, project) < 0) {
    protobuf_c_message_free_unpacked(record, NULL);
    return TALLY_E_NOMEM;
  }
  if (project->id >= c->next_project_id) c->next_project_id = project->id + 1;
  return 0;
}

static int load_labeler(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  if (labeler_list_insert(&c->labelers, (Tally__Labeler *)record) < 0) {
    protobuf_c_message_free_unpacked(record, NULL);
    return TALLY_E_NOMEM;
  }
  return 0;
}

int catalog_load(coordinator_t *c) {
  int rc = meta_store_load(c->store, META_PROJECTS, load_project, c);
  if (rc == 0) rc = meta_store_load(c->store, META_LABELERS, load_labeler, c);
  return rc;
}

Tally__Project *catalog_project_find(const coordinator_t *c, const char *name) {
  int found;
  size_t at = project_position(&c->projects, name, &found);
  return found ? c->projects.items[at] : NULL;
}

Tally__Labeler *catalog_labeler_find(const coordinator_t *c, const char *id) {
  int found;
  size_t at = labeler_position(&c->labelers, id, &found);
  return found ? c->labelers.items[at] : NULL;
}

size_t catalog_project_at(const coordinator_t *c, const char *name, int *found) {
  return project_position(&c->projects, name, found);
}

size_t catalog_labeler_at(const coordinator_t *c, const char *id, int *found) {
  return labeler_position(&c->labelers, id, found);
}

int catalog_labeler_insert(coordinator_t *c, Tally__Labeler *labeler) {
  return labeler_list_insert(&c->labelers, labeler);
}

/* ---------------------------------------------------------------- projects */

/* Sends the reply to a configuration change: through defer_until_config
 * when the daemon supports it (answered once the workers run this
 * configuration), else at once. */
static void send_after_config(const coordinator_t *c, const coordinator_replier_t *r,
                              const Tally__Envelope *reply) {
  if (r->defer_until_config != NULL)
    r->defer_until_config(r->ctx, reply, c->config_version);
  else
    r->send(r->ctx, reply);
}

/* Roles that see a project whole: its audit policy (rates, gold share) and
 * who has left ramp-up. Everyone else (labelers, auditors, and a gateway
 * acting for one: the caller is then that person) gets the project without
 * them: the policy is audit state a labeler is not to see, and ramp-up
 * standing is other people's data. */
#define PROJECT_FULL_VIEW_ROLES                                                       \
  (TALLY__ROLE__ROLE_LEAD | TALLY__ROLE__ROLE_MANAGER | TALLY__ROLE__ROLE_OPERATOR |  \
   TALLY__ROLE__ROLE_GATEWAY | TALLY__ROLE__ROLE_WORKER | TALLY__ROLE__ROLE_COORDINATOR)

/* The project as `roles` may see it: `project` itself, or `*scratch` (a
 * shallow copy sharing its strings) without the audit policy and ramp-up. */
static Tally__Project *project_view(Tally__Project *project, uint32_t roles,
                                    Tally__Project *scratch) {
  if (roles & PROJECT_FULL_VIEW_ROLES) return project;
  *scratch = *project;
  scratch->audit = NULL;
  scratch->audit_rate = 0;
  scratch->n_ramped_up = 0;
  scratch->ramped_up = NULL;
  return scratch;
}

static void send_project(const Tally__Envelope *request, const coordinator_replier_t *r,
                         Tally__Project *project) {
  Tally__Envelope env;
  Tally__ProjectReply body = TALLY__PROJECT_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.project = project;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_REPLY;
  env.project_reply = &body;
  r->send(r->ctx, &env);
}

void catalog_handle_project_create(coordinator_t *c, const Tally__Envelope *request,
                                   const coordinator_replier_t *r) {
  const Tally__Project *sent = request->project_create->project;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  if (sent == NULL) {
    coordinator_reply_error(r, TALLY_E_BAD_REQUEST, "project_create carries no project");
    return;
  }
  /* Only the known fields of the request are stored (unknown ones dropped). */
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = sent->name;
  project.n_labels = sent->n_labels, project.labels = sent->labels;
  project.n_markets = sent->n_markets, project.markets = sent->markets;
  project.lease_seconds = sent->lease_seconds;
  project.audit_rate = sent->audit_rate;
  project.overlap = sent->overlap;
  project.sla_seconds = sent->sla_seconds;
  project.ordinal = sent->ordinal;
  project.policy_version = 1;
  project.n_high_severity = sent->n_high_severity, project.high_severity = sent->high_severity;
  project.exposure_budget = sent->exposure_budget;
  project.shift_hours = sent->shift_hours;
  if (validate_project(&project, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  int wellbeing_rc = validate_wellbeing(project.labels, project.n_labels, project.high_severity,
                                        project.n_high_severity, project.exposure_budget,
                                        &project.shift_hours, why, sizeof why);
  if (wellbeing_rc < 0) {
    r->send_error(r->ctx, wellbeing_rc, why);
    return;
  }
  policy_view_t policy;
  if (sent->audit == NULL) {
    policy_default(&policy, project.audit_rate);
  } else {
    int rc = validate_audit_policy(sent->audit, project.markets, project.n_markets, why,
                                   sizeof why);
    if (rc < 0) {
      r->send_error(r->ctx, rc, why);
      return;
    }
    /* audit_rate mirrors audit.rate: either may be given, not two values. */
    if (project.audit_rate != 0.0 && project.audit_rate != sent->audit->rate) {
      coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                              "audit_rate %g and audit.rate %g disagree (audit_rate mirrors audit.rate)",
                              project.audit_rate, sent->audit->rate);
      return;
    }
    policy_view(&policy, sent->audit);
    project.audit_rate = policy.policy.rate;
  }
  project.audit = &policy.policy;
  validate_quote(project.name, quoted, sizeof quoted);
  if (catalog_project_find(c, project.name) != NULL) {
    coordinator_reply_error(r, TALLY_E_ALREADY_EXISTS, "project '%s' already exists", quoted);
    return;
  }
  if (c->next_project_id == UINT32_MAX) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "project ids are exhausted");
    return;
  }
  project.id = c->next_project_id;
  project.created_ms = clock_now_ms();

  meta_batch_t *batch = NULL;
  admin_change_t change = {"project_create", project.name, NULL, &project.base};
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_project(batch, &project);
    meta_batch_put_next_project_id(batch, project.id + 1);
    meta_batch_put_config_version(batch, c->config_version + 1);
    rc = admin_log_commit(c, &batch, &change);
  }
  if (rc < 0) {
    coordinator_reply_storage_error(r, rc, "the project");
    return;
  }
  Tally__Project *stored = (Tally__Project *)coordinator_message_clone(&project.base);
  coordinator_must_install(stored ? project_list_insert(&c->projects, stored) : TALLY_E_NOMEM,
                           "a project");
  c->next_project_id++;
  c->config_version++;
  log_info("project '%s' created: id %u, %zu labels, %zu markets (config version %" PRIu64 ")",
           quoted, stored->id, stored->n_labels, stored->n_markets, c->config_version);
  send_project(request, r, stored);
}

void catalog_handle_project_show(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r) {
  const char *name = request->project_show->name;
  Tally__Project *project = catalog_project_find(c, name);
  if (project == NULL) {
    char quoted[QUOTE_SIZE];
    validate_quote(name, quoted, sizeof quoted);
    coordinator_reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
    return;
  }
  Tally__Project scratch;
  send_project(request, r, project_view(project, c->caller.roles, &scratch));
}

void catalog_handle_project_list(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__ProjectListReply body = TALLY__PROJECT_LIST_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.n_projects = c->projects.count;
  body.projects = c->projects.items;
  Tally__Project *scratch = NULL, **views = NULL;
  if (!(c->caller.roles & PROJECT_FULL_VIEW_ROLES) && c->projects.count > 0) {
    scratch = calloc(c->projects.count, sizeof *scratch);
    views = calloc(c->projects.count, sizeof *views);
    if (scratch == NULL || views == NULL) {
      free(scratch);
      free(views);
      coordinator_reply_error(r, TALLY_E_NOMEM, "out of memory");
      return;
    }
    for (size_t i = 0; i < c->projects.count; i++)
      views[i] = project_view(c->projects.items[i], c->caller.roles, &scratch[i]);
    body.projects = views;
  }
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_LIST_REPLY;
  env.project_list_reply = &body;
  r->send(r->ctx, &env);
  free(views);
  free(scratch);
}

/* Writes `project` (borrowed) in place of project `at`, with the next
 * config version and an admin log entry for `action`, then installs it.
 * Returns the stored project, or NULL with *code (the store's error;
 * nothing changed). */
const Tally__Project *catalog_project_commit(coordinator_t *c, size_t at,
                                             const Tally__Project *project, const char *what,
                                             const char *action, int *code) {
  meta_batch_t *batch = NULL;
  admin_change_t change = {action, project->name, &c->projects.items[at]->base, &project->base};
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_project(batch, project);
    meta_batch_put_config_version(batch, c->config_version + 1);
    rc = admin_log_commit(c, &batch, &change);
  }
  *code = rc;
  if (rc < 0) return NULL;
  Tally__Project *stored = (Tally__Project *)coordinator_message_clone(&project->base);
  coordinator_must_install(stored ? 0 : TALLY_E_NOMEM, what);
  tally__project__free_unpacked(c->projects.items[at], NULL);
  c->projects.items[at] = stored;
  c->config_version++;
  return stored;
}

/* catalog_project_commit for a request: a storage error is answered through r. */
static const Tally__Project *project_replace(coordinator_t *c, size_t at,
                                             const Tally__Project *project,
                                             const coordinator_replier_t *r, const char *what,
                                             const char *action) {
  int rc = 0;
  const Tally__Project *stored = catalog_project_commit(c, at, project, what, action, &rc);
  if (stored == NULL) coordinator_reply_storage_error(r, rc, what);
  return stored;
}

/* Answers a project change with the stored project, once every UP worker
 * runs the new configuration (send_after_config). */
static void reply_project_after_config(coordinator_t *c, const Tally__Envelope *request,
                                       const coordinator_replier_t *r,
                                       const Tally__Project *stored) {
  Tally__Envelope env;
  Tally__ProjectReply reply = TALLY__PROJECT_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  reply.project = (Tally__Project *)stored;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_REPLY;
  env.project_reply = &reply;
  send_after_config(c, r, &env);
}

/* Sets *at to the position of project `name` and returns 1, or replies
 * UNKNOWN_PROJECT (naming it as `quoted`, validate_quote) and returns 0. */
static int project_at_or_reply(coordinator_t *c, const char *name, const char *quoted,
                               const coordinator_replier_t *r, size_t *at) {
  int found;
  *at = project_position(&c->projects, name, &found);
  if (!found) coordinator_reply_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%s'", quoted);
  return found;
}

void catalog_handle_audit_policy_set(coordinator_t *c, const Tally__Envelope *request,
                                     const coordinator_replier_t *r) {
  const Tally__AuditPolicySet *body = request->audit_policy_set;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(body->project, quoted, sizeof quoted);
  size_t at;
  if (!project_at_or_reply(c, body->project, quoted, r, &at)) return;
  if (body->policy == NULL) {
    coordinator_reply_error(r, TALLY_E_BAD_REQUEST, "audit_policy_set carries no policy");
    return;
  }
  Tally__Project *current = c->projects.items[at];
  int rc = validate_audit_policy(body->policy, current->markets, current->n_markets, why,
                                 sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  /* The whole policy is replaced; policy_version stays (it tracks the
   * taxonomy and guidelines, not sampling rates). */
  policy_view_t policy;
  policy_view(&policy, body->policy);
  Tally__Project project = *current;
  project.audit = &policy.policy;
  project.audit_rate = policy.policy.rate;

  const Tally__Project *stored = project_replace(c, at, &project, r, "the audit policy",
                                                  "audit_policy_set");
  if (stored == NULL) return;
  log_info("project '%s': audit policy set (rate %g, %zu market rates, ramp %g until %u audits "
           "at %g; config version %" PRIu64 ")",
           quoted, stored->audit->rate, stored->audit->n_market_rates, stored->audit->ramp_rate,
           stored->audit->ramp_audits, stored->audit->ramp_target, c->config_version);
  reply_project_after_config(c, request, r, stored);
}

void catalog_handle_wellbeing_set(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__WellbeingSet *body = request->wellbeing_set;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(body->project, quoted, sizeof quoted);
  size_t at;
  if (!project_at_or_reply(c, body->project, quoted, r, &at)) return;
  Tally__Project *current = c->projects.items[at];
  uint32_t shift_hours = body->shift_hours;
  int rc = validate_wellbeing(current->labels, current->n_labels, body->high_severity,
                              body->n_high_severity, body->exposure_budget, &shift_hours, why,
                              sizeof why);
  if (rc < 0) {
    r->send_error(r->ctx, rc, why);
    return;
  }
  /* All three settings are replaced; counts already made stay. */
  Tally__Project project = *current;
  project.n_high_severity = body->n_high_severity;
  project.high_severity = body->high_severity;
  project.exposure_budget = body->exposure_budget;
  project.shift_hours = shift_hours;

  const Tally__Project *stored = project_replace(c, at, &project, r, "the wellbeing settings",
                                                  "wellbeing_set");
  if (stored == NULL) return;
  log_info("project '%s': wellbeing set (%zu high-severity labels, budget %u per %u h shift; "
           "config version %" PRIu64 ")",
           quoted, stored->n_high_severity, stored->exposure_budget, stored->shift_hours,
           c->config_version);
  reply_project_after_config(c, request, r, stored);
}

/* Largest guideline text kept in a project record, and URL; versions kept
 * per project (each bumps policy_version). Every worker receives every
 * project with the configuration, so these stay small: a long text belongs
 * behind the url. */
#define GUIDELINE_TEXT_MAX 4096u
#define GUIDELINE_URL_MAX 2048u
#define GUIDELINE_VERSIONS_MAX 100u

/* guideline_set: a new guideline version. policy_version is bumped and the
 * version appended to Project.guidelines in one synced write with its admin
 * log entry; answered once the workers run it, so from then on every label,
 * audit and verdict records the new version. */
void catalog_handle_guideline_set(coordinator_t *c, const Tally__Envelope *request,
                                  const coordinator_replier_t *r) {
  const Tally__GuidelineSet *body = request->guideline_set;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(body->project, quoted, sizeof quoted);
  size_t at;
  if (!project_at_or_reply(c, body->project, quoted, r, &at)) return;
  if (ident_check("guideline name", body->name, IDENT_NAME_MAX, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  if (body->url[0] == '\0' && body->text[0] == '\0') {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "a guideline version needs a url or a text");
    return;
  }
  if (strlen(body->url) > GUIDELINE_URL_MAX || strlen(body->text) > GUIDELINE_TEXT_MAX ||
      (body->url[0] != '\0' && ident_check("guideline url", body->url, GUIDELINE_URL_MAX, NULL, 0) < 0) ||
      !ident_utf8_is_valid(body->text, strlen(body->text))) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "the url is at most %u bytes of UTF-8 without control characters, "
                            "the text at most %u bytes of UTF-8",
                            GUIDELINE_URL_MAX, GUIDELINE_TEXT_MAX);
    return;
  }
  Tally__Project *current = c->projects.items[at];
  if (current->n_guidelines >= GUIDELINE_VERSIONS_MAX) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "a project keeps at most %u guideline versions",
                            GUIDELINE_VERSIONS_MAX);
    return;
  }
  for (size_t i = 0; i < current->n_guidelines; i++)
    if (strcmp(current->guidelines[i]->name, body->name) == 0) {
      char name[QUOTE_SIZE];
      validate_quote(body->name, name, sizeof name);
      coordinator_reply_error(r, TALLY_E_ALREADY_EXISTS,
                              "project '%s' has a guideline version named '%s' already (version %u)",
                              quoted, name, current->guidelines[i]->version);
      return;
    }
  Tally__GuidelineVersion version = TALLY__GUIDELINE_VERSION__INIT;
  version.version = (current->policy_version ? current->policy_version : 1) + 1;
  version.name = body->name;
  version.url = body->url;
  version.text = body->text;
  version.set_ms = clock_now_ms();
  version.set_by = c->caller.id;
  Tally__GuidelineVersion **versions = malloc((current->n_guidelines + 1) * sizeof *versions);
  if (versions == NULL) {
    coordinator_reply_error(r, TALLY_E_INTERNAL, "out of memory");
    return;
  }
  if (current->n_guidelines > 0)
    memcpy(versions, current->guidelines, current->n_guidelines * sizeof *versions);
  versions[current->n_guidelines] = &version;
  Tally__Project project = *current;
  project.policy_version = version.version;
  project.guidelines = versions;
  project.n_guidelines = current->n_guidelines + 1;
  const Tally__Project *stored = project_replace(c, at, &project, r, "the guideline version",
                                                  "guideline_set");
  free(versions);
  if (stored == NULL) return;
  log_info("project '%s': guideline version %u set (config version %" PRIu64 ")", quoted,
           stored->policy_version, c->config_version);
  reply_project_after_config(c, request, r, stored);
}

/* ---------------------------------------------------------------- labelers */

/* Writes `labeler`, a new config version and the log entry of `change` in
 * one synced batch. Returns 0, or the storage error after replying it when
 * the replier can (nothing changed then). */
int catalog_labeler_persist(coordinator_t *c, const Tally__Labeler *labeler,
                            const coordinator_replier_t *r, const admin_change_t *change) {
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_labeler(batch, labeler);
    meta_batch_put_config_version(batch, c->config_version + 1);
    rc = admin_log_commit(c, &batch, change);
  }
  if (rc == 0) c->keys_version++;
  else if (r->send_error) coordinator_reply_storage_error(r, rc, "the labeler");
  return rc;
}

/* Roles only an operator may give or take: they reach the cluster itself. */
#define OPERATOR_ONLY_ROLES (TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY)

/* May the caller give `labeler` (now `current`, NULL when new) its roles
 * and key? Replies PERMISSION_DENIED / ALREADY_EXISTS and returns -1 when
 * not. */
static int labeler_change_allowed(coordinator_t *c, const Tally__Labeler *current,
                                  const Tally__Labeler *labeler, const coordinator_replier_t *r) {
  uint32_t touched = labeler->roles | (current ? current->roles : 0);
  if ((touched & OPERATOR_ONLY_ROLES) && !(c->caller.roles & TALLY__ROLE__ROLE_OPERATOR)) {
    coordinator_reply_error(r, TALLY_E_PERMISSION_DENIED,
                            "only an operator may give, take or change a person with the "
                            "operator or gateway role");
    return -1;
  }
  if (labeler->public_key != NULL && labeler->public_key[0] != '\0' &&
      admission_key_in_use(c, labeler->public_key, labeler->id)) {
    coordinator_reply_error(r, TALLY_E_ALREADY_EXISTS,
                            "that public key already belongs to someone else");
    return -1;
  }
  return 0;
}

void catalog_handle_labeler_add(coordinator_t *c, const Tally__Envelope *request,
                                const coordinator_replier_t *r) {
  const Tally__Labeler *sent = request->labeler_add->labeler;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  if (sent == NULL) {
    coordinator_reply_error(r, TALLY_E_BAD_REQUEST, "labeler_add carries no labeler");
    return;
  }
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  labeler.id = sent->id;
  labeler.roles = sent->roles;
  labeler.n_markets = sent->n_markets, labeler.markets = sent->markets;
  labeler.public_key = sent->public_key;
  if (validate_labeler(&labeler, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  validate_quote(labeler.id, quoted, sizeof quoted);
  if (catalog_labeler_find(c, labeler.id) != NULL) {
    coordinator_reply_error(r, TALLY_E_ALREADY_EXISTS, "labeler '%s' already exists", quoted);
    return;
  }
  if (labeler_change_allowed(c, NULL, &labeler, r) < 0) return;
  admin_change_t change = {"labeler_add", labeler.id, NULL, &labeler.base};
  if (catalog_labeler_persist(c, &labeler, r, &change) < 0) return;
  Tally__Labeler *stored = (Tally__Labeler *)coordinator_message_clone(&labeler.base);
  coordinator_must_install(stored ? labeler_list_insert(&c->labelers, stored) : TALLY_E_NOMEM,
                           "a labeler");
  c->config_version++;
  log_info("labeler '%s' added: roles %u, %zu markets (config version %" PRIu64 ")", quoted,
           stored->roles, stored->n_markets, c->config_version);

  Tally__Envelope env;
  Tally__LabelerReply body = TALLY__LABELER_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.labeler = stored;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_REPLY;
  env.labeler_reply = &body;
  /* Not held for the workers: a worker fetches the configuration at once
   * when a request names a labeler it does not know, and holding every add
   * would slow bulk set-ups down to one heartbeat per person. A person with
   * a key is held: workers refuse a key at the handshake until their
   * configuration has it, and there is no request to fetch it by. */
  if (stored->public_key[0] != '\0') send_after_config(c, r, &env);
  else r->send(r->ctx, &env);
}

/* labeler_update: new roles and markets for a known person, persisted with
 * a new config version in one synced batch; answered once the workers run
 * it (send_after_config), so it holds from the person's next lease. */
void catalog_handle_labeler_update(coordinator_t *c, const Tally__Envelope *request,
                                   const coordinator_replier_t *r) {
  const Tally__LabelerUpdate *update = request->labeler_update;
  char why[MESSAGE_SIZE], quoted[QUOTE_SIZE];
  validate_quote(update->id, quoted, sizeof quoted);
  int found;
  size_t at = labeler_position(&c->labelers, update->id, &found);
  if (!found) {
    coordinator_reply_error(r, TALLY_E_UNKNOWN_LABELER, "unknown labeler '%s'", quoted);
    return;
  }
  Tally__Labeler *current = c->labelers.items[at];
  char *markets[VALIDATE_MAX_LIST];
  Tally__Labeler labeler;
  if (validate_labeler_update(current, update, markets, &labeler, why, sizeof why) < 0 ||
      validate_labeler(&labeler, why, sizeof why) < 0) {
    r->send_error(r->ctx, TALLY_E_INVALID_ARGUMENT, why);
    return;
  }
  if (labeler_change_allowed(c, current, &labeler, r) < 0) return;
  admin_change_t change = {"labeler_update", labeler.id, &current->base, &labeler.base};
  if (catalog_labeler_persist(c, &labeler, r, &change) < 0) return;
  Tally__Labeler *stored = (Tally__Labeler *)coordinator_message_clone(&labeler.base);
  coordinator_must_install(stored ? 0 : TALLY_E_NOMEM, "a labeler");
  tally__labeler__free_unpacked(current, NULL);
  c->labelers.items[at] = stored;
  c->config_version++;
  log_info("labeler '%s' updated: roles %u, %zu markets (config version %" PRIu64 ")", quoted,
           stored->roles, stored->n_markets, c->config_version);

  Tally__Envelope env;
  Tally__LabelerReply body = TALLY__LABELER_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.labeler = stored;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_REPLY;
  env.labeler_reply = &body;
  send_after_config(c, r, &env);
}

void catalog_handle_labeler_list(coordinator_t *c, const Tally__Envelope *request,
                                 const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__LabelerListReply body = TALLY__LABELER_LIST_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.n_labelers = c->labelers.count;
  body.labelers = c->labelers.items;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_LIST_REPLY;
  env.labeler_list_reply = &body;
  r->send(r->ctx, &env);
}
