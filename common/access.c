/* access: see access.h. */
#include "access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

#define LABELER TALLY__ROLE__ROLE_LABELER
#define AUDITOR TALLY__ROLE__ROLE_AUDITOR
#define LEAD TALLY__ROLE__ROLE_LEAD
#define MANAGER TALLY__ROLE__ROLE_MANAGER
#define OPERATOR TALLY__ROLE__ROLE_OPERATOR
#define GATEWAY TALLY__ROLE__ROLE_GATEWAY
#define WORKER TALLY__ROLE__ROLE_WORKER
#define COORDINATOR TALLY__ROLE__ROLE_COORDINATOR
#define ANYONE ACCESS_ALL_ROLES

/* The role table. docs/SECURITY.md prints it, and tests/access_test.c
 * checks that the two agree. Replies and unknown bodies need role 0. */
uint32_t access_roles_for(Tally__Envelope__BodyCase body) {
  switch (body) {
    /* anyone who is known */
    case TALLY__ENVELOPE__BODY_MAP_REQUEST: /* figures filtered by role, coordinator.c */
    case TALLY__ENVELOPE__BODY_PROJECT_LIST:
    case TALLY__ENVELOPE__BODY_PROJECT_SHOW:
    case TALLY__ENVELOPE__BODY_WHOAMI_REQUEST:
      return ANYONE;
    /* the labeling cycle: the person named (or a gateway acting for them) */
    case TALLY__ENVELOPE__BODY_LEASE:
    case TALLY__ENVELOPE__BODY_SUBMIT:
    case TALLY__ENVELOPE__BODY_SKIP:
    case TALLY__ENVELOPE__BODY_RELEASE:
      return LABELER | AUDITOR | LEAD | GATEWAY;
    case TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST:
      return LABELER | AUDITOR | LEAD | MANAGER | GATEWAY;
    /* calibration: members fetch and label (the person named), anyone
     * known lists the sessions they may see (calibration.c filters) */
    case TALLY__ENVELOPE__BODY_CALIBRATION_NEXT:
    case TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT:
      return LABELER | AUDITOR | LEAD | GATEWAY;
    case TALLY__ENVELOPE__BODY_CALIBRATION_LIST:
      return LABELER | AUDITOR | LEAD | MANAGER | GATEWAY;
    /* calibration sessions and guideline versions: leads and managers */
    case TALLY__ENVELOPE__BODY_CALIBRATION_CREATE:
    case TALLY__ENVELOPE__BODY_CALIBRATION_ITEMS_ADD:
    case TALLY__ENVELOPE__BODY_CALIBRATION_ASSIGN:
    case TALLY__ENVELOPE__BODY_CALIBRATION_CLOSE:
    case TALLY__ENVELOPE__BODY_CALIBRATION_KEY:
    case TALLY__ENVELOPE__BODY_CALIBRATION_RESULTS_REQUEST:
    case TALLY__ENVELOPE__BODY_CALIBRATION_TREND_REQUEST:
    case TALLY__ENVELOPE__BODY_GUIDELINE_SET:
      return LEAD | MANAGER;
    /* quality work: leads and managers */
    case TALLY__ENVELOPE__BODY_REPORT_REQUEST:
    case TALLY__ENVELOPE__BODY_EXPORT_REQUEST:
    case TALLY__ENVELOPE__BODY_CASES_REQUEST:
    case TALLY__ENVELOPE__BODY_CASE_GET:
    case TALLY__ENVELOPE__BODY_AUDIT_POLICY_SET:
      return LEAD | MANAGER;
    /* operations */
    case TALLY__ENVELOPE__BODY_STATUS:
    case TALLY__ENVELOPE__BODY_CLUSTER_STATUS_REQUEST:
    case TALLY__ENVELOPE__BODY_OPS_REPORT_REQUEST:
    case TALLY__ENVELOPE__BODY_LABELER_LIST:
      return LEAD | MANAGER | OPERATOR;
    /* the gateway shows each person their own count (and only that) */
    case TALLY__ENVELOPE__BODY_EXPOSURE_REQUEST:
      return LEAD | MANAGER | OPERATOR | GATEWAY;
    case TALLY__ENVELOPE__BODY_ITEM_GET:
    case TALLY__ENVELOPE__BODY_INGEST:
    case TALLY__ENVELOPE__BODY_PROJECT_CREATE:
    case TALLY__ENVELOPE__BODY_LABELER_ADD:
    case TALLY__ENVELOPE__BODY_LABELER_UPDATE:
      return MANAGER | OPERATOR;
    case TALLY__ENVELOPE__BODY_WELLBEING_SET:
      return MANAGER;
    /* sign-in credentials (the gateway's passwords and tokens): hashes only */
    case TALLY__ENVELOPE__BODY_CREDENTIAL_SET:
      return MANAGER | OPERATOR | GATEWAY;
    case TALLY__ENVELOPE__BODY_CREDENTIAL_GET:
      return GATEWAY;
    case TALLY__ENVELOPE__BODY_WORKER_DRAIN:
    case TALLY__ENVELOPE__BODY_CLUSTER_ADMIT:
    case TALLY__ENVELOPE__BODY_ADMIN_LOG_REQUEST:
      return OPERATOR;
    /* the whole configuration: every person's roles, markets and key */
    case TALLY__ENVELOPE__BODY_CONFIG_REQUEST:
      return WORKER | OPERATOR;
    /* daemons among themselves */
    case TALLY__ENVELOPE__BODY_WORKER_REGISTER:
    case TALLY__ENVELOPE__BODY_HEARTBEAT:
    case TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE:
    case TALLY__ENVELOPE__BODY_SLOT_CHUNK:
    case TALLY__ENVELOPE__BODY_REPLICA_APPEND:
    case TALLY__ENVELOPE__BODY_ISR_CHANGE:
      return WORKER;
    case TALLY__ENVELOPE__BODY_STATS_REQUEST:
    case TALLY__ENVELOPE__BODY_OPS_REQUEST:
      return COORDINATOR;
    default:
      return 0;
  }
}

void access_anonymous(identity_t *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "anonymous");
  out->roles = ACCESS_ALL_ROLES;
}

static const struct {
  uint32_t role;
  const char *name;
} role_names[] = {{LABELER, "labeler"},   {AUDITOR, "auditor"}, {LEAD, "lead"},
                  {MANAGER, "manager"},   {OPERATOR, "operator"}, {GATEWAY, "gateway"},
                  {WORKER, "worker"},     {COORDINATOR, "coordinator"}};

const char *access_roles_text(uint32_t roles, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
    if (!(roles & role_names[i].role)) continue;
    int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", role_names[i].name);
    if (n < 0 || (size_t)n >= size - used) break;
    used += (size_t)n;
  }
  if (used == 0) snprintf(buf, size, "none");
  return buf;
}

int access_roles_parse(const char *text, uint32_t *out) {
  *out = 0;
  const char *p = text;
  while (p != NULL && *p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t i = 0, n = sizeof role_names / sizeof role_names[0];
    while (i < n && !(strlen(role_names[i].name) == len && strncmp(role_names[i].name, p, len) == 0))
      i++;
    if (i == n) return -1;
    *out |= role_names[i].role;
    p = end ? end + 1 : NULL;
  }
  return 0;
}

/* The request's person field, or NULL when it names nobody. */
static char **person_field(Tally__Envelope *env) {
  switch (env->body_case) {
    case TALLY__ENVELOPE__BODY_LEASE: return env->lease ? &env->lease->labeler : NULL;
    case TALLY__ENVELOPE__BODY_SUBMIT: return env->submit ? &env->submit->labeler : NULL;
    case TALLY__ENVELOPE__BODY_SKIP: return env->skip ? &env->skip->labeler : NULL;
    case TALLY__ENVELOPE__BODY_RELEASE: return env->release ? &env->release->labeler : NULL;
    case TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST:
      return env->feedback_request ? &env->feedback_request->labeler : NULL;
    case TALLY__ENVELOPE__BODY_CALIBRATION_NEXT:
      return env->calibration_next ? &env->calibration_next->labeler : NULL;
    case TALLY__ENVELOPE__BODY_CALIBRATION_SUBMIT:
      return env->calibration_submit ? &env->calibration_submit->labeler : NULL;
    default: return NULL;
  }
}

/* The body's name for messages ("lease", "submit", ...). */
static const char *body_name(const Tally__Envelope *env) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field(&tally__envelope__descriptor, (unsigned)env->body_case);
  return f ? f->name : "request";
}

int access_check(const identity_t *caller, Tally__Envelope *env, access_find_person_fn find,
                 void *user, identity_t *effective, char *why, size_t why_size) {
  char have[128], need[128];
  *effective = *caller;
  /* 1. acting_for */
  const char *acting = env->acting_for;
  if (acting != NULL && acting[0] != '\0' && strcmp(acting, caller->id) != 0) {
    if (!(caller->roles & GATEWAY)) {
      snprintf(why, why_size, "only a gateway may act for another person (you are '%s')",
               caller->id);
      return TALLY_E_PERMISSION_DENIED;
    }
    if (!find(user, acting, effective)) {
      snprintf(why, why_size, "the person this gateway acts for is not known here");
      return TALLY_E_UNKNOWN_LABELER;
    }
  }
  /* 2. the role table */
  uint32_t need_roles = access_roles_for(env->body_case);
  if (need_roles == 0) { /* a reply or unknown body: nobody sends it */
    snprintf(why, why_size, "'%s' is not a request", body_name(env));
    return TALLY_E_UNKNOWN_TYPE;
  }
  if (!(effective->roles & need_roles)) {
    snprintf(why, why_size, "'%s' needs one of the roles %s; '%s' has %s", body_name(env),
             access_roles_text(need_roles, need, sizeof need), effective->id,
             access_roles_text(effective->roles, have, sizeof have));
    return TALLY_E_PERMISSION_DENIED;
  }
  /* 3. person fields */
  char **field = person_field(env);
  if (field == NULL) return 0;
  if (*field == NULL || (*field)[0] == '\0') {
    if (!effective->is_person) {
      snprintf(why, why_size, "'%s' must name the person it is for", body_name(env));
      return TALLY_E_INVALID_ARGUMENT;
    }
    char *self = strdup(effective->id);
    if (self == NULL) {
      snprintf(why, why_size, "out of memory");
      return TALLY_E_NOMEM;
    }
    if (*field != NULL && *field != protobuf_c_empty_string) free(*field);
    *field = self;
    return 0;
  }
  if (effective->is_person && strcmp(*field, effective->id) == 0) return 0;
  uint32_t may_name_others = GATEWAY;
  if (env->body_case == TALLY__ENVELOPE__BODY_FEEDBACK_REQUEST) may_name_others |= LEAD | MANAGER;
  if (effective->roles & may_name_others) return 0;
  snprintf(why, why_size, "'%s' may only be sent for yourself ('%s')", body_name(env),
           effective->id);
  return TALLY_E_PERMISSION_DENIED;
}
