/* admission: security, admitted keys, whoami. See admission.h. */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_log.h"
#include "catalog.h"
#include "coordinator_internal.h"
#include "curve.h"
#include "log.h"
#include "tally_error.h"
#include "wire.h"

/* ---------------------------------------------------------------- admitted keys */

/* Position of `key` in the sorted admitted list (sets *found). */
static size_t admitted_position(const coordinator_t *c, const char *key, int *found) {
  size_t lo = 0, hi = c->n_admitted;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(c->admitted[mid], key);
    if (cmp == 0) {
      *found = 1;
      return mid;
    }
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = 0;
  return lo;
}

static int admitted_insert(coordinator_t *c, const char *key) {
  int found;
  size_t at = admitted_position(c, key, &found);
  if (found) return 0;
  if (c->n_admitted == c->cap_admitted) {
    size_t cap = coordinator_grown_capacity(c->cap_admitted);
    char **grown = realloc(c->admitted, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    c->admitted = grown;
    c->cap_admitted = cap;
  }
  char *copy = strdup(key);
  if (copy == NULL) return TALLY_E_NOMEM;
  memmove(c->admitted + at + 1, c->admitted + at, (c->n_admitted - at) * sizeof *c->admitted);
  c->admitted[at] = copy;
  c->n_admitted++;
  c->keys_version++;
  return 0;
}

static void admitted_remove(coordinator_t *c, const char *key) {
  int found;
  size_t at = admitted_position(c, key, &found);
  if (!found) return;
  free(c->admitted[at]);
  memmove(c->admitted + at, c->admitted + at + 1, (c->n_admitted - at - 1) * sizeof *c->admitted);
  c->n_admitted--;
  c->keys_version++;
}

static int is_admitted(const coordinator_t *c, const char *key) {
  int found;
  admitted_position(c, key, &found);
  return found;
}

static int load_admitted(void *user, ProtobufCMessage *record) {
  coordinator_t *c = user;
  int rc = admitted_insert(c, ((Tally__ClusterAdmit *)record)->public_key);
  protobuf_c_message_free_unpacked(record, NULL);
  return rc;
}

int admission_load(coordinator_t *c) {
  return meta_store_load(c->store, META_ADMITTED, load_admitted, c);
}

/* ---------------------------------------------------------------- who holds a key */

static const Tally__Labeler *person_by_key(const coordinator_t *c, const char *key) {
  for (size_t i = 0; i < c->labelers.count; i++) {
    const Tally__Labeler *l = c->labelers.items[i];
    if (l->public_key != NULL && strcmp(l->public_key, key) == 0) return l;
  }
  return NULL;
}

const Tally__WorkerInfo *admission_worker_by_key(const coordinator_t *c, const char *key) {
  for (size_t i = 0; i < membership_count(c->members); i++) {
    const Tally__WorkerInfo *w = membership_worker_at(c->members, i);
    if (w->public_key != NULL && strcmp(w->public_key, key) == 0) return w;
  }
  return NULL;
}

static void person_identity(const Tally__Labeler *l, identity_t *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", l->id);
  out->roles = l->roles;
  out->is_person = 1;
}

int admission_find_person(void *user, const char *id, identity_t *out) {
  const Tally__Labeler *l = catalog_labeler_find(user, id);
  if (l == NULL) return 0;
  person_identity(l, out);
  return 1;
}

/* Who holds `key`: a person, an admitted worker (bound or not yet), or
 * nobody (0). */
int admission_resolve_key(const coordinator_t *c, const char *key, identity_t *out) {
  memset(out, 0, sizeof *out);
  const Tally__Labeler *l = person_by_key(c, key);
  if (l != NULL) {
    person_identity(l, out);
    return 1;
  }
  if (!is_admitted(c, key)) return 0;
  const Tally__WorkerInfo *w = admission_worker_by_key(c, key);
  if (w != NULL) snprintf(out->id, sizeof out->id, "worker %u", w->id);
  else snprintf(out->id, sizeof out->id, "worker (not registered yet)");
  out->roles = TALLY__ROLE__ROLE_WORKER;
  return 1;
}

/* The id of the worker bound to the caller's key (0: none, or insecure). */
uint32_t admission_caller_worker_id(const coordinator_t *c, const char *key) {
  if (!c->secure || key == NULL || key[0] == '\0') return 0;
  const Tally__WorkerInfo *w = admission_worker_by_key(c, key);
  return w ? w->id : 0;
}

int admission_key_in_use(const coordinator_t *c, const char *key, const char *except_person) {
  const Tally__Labeler *l = person_by_key(c, key);
  if (l != NULL && (except_person == NULL || strcmp(l->id, except_person) != 0)) return 1;
  return is_admitted(c, key);
}

/* ---------------------------------------------------------------- security */

int coordinator_set_security(coordinator_t *c, const char *operator_key) {
  c->secure = 1;
  c->keys_version++;
  if (operator_key == NULL || operator_key[0] == '\0') return 0;
  if (!curve_key_is_valid(operator_key)) return TALLY_E_INVALID_ARGUMENT;
  const Tally__Labeler *other = person_by_key(c, operator_key);
  if (other != NULL && strcmp(other->id, COORDINATOR_OPERATOR_ID) != 0) {
    log_error("--operator-key is the key of '%s' already", other->id);
    return TALLY_E_ALREADY_EXISTS;
  }
  int found;
  size_t at = catalog_labeler_at(c, COORDINATOR_OPERATOR_ID, &found);
  const Tally__Labeler *current = found ? c->labelers.items[at] : NULL;
  if (current != NULL && strcmp(current->public_key, operator_key) == 0 &&
      (current->roles & TALLY__ROLE__ROLE_OPERATOR))
    return 0;
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  if (current != NULL) labeler = *current;
  labeler.id = (char *)COORDINATOR_OPERATOR_ID;
  labeler.roles |= TALLY__ROLE__ROLE_OPERATOR;
  labeler.public_key = (char *)operator_key;
  snprintf(c->actor, sizeof c->actor, "coordinator --operator-key");
  admin_change_t change = {current ? "labeler_update" : "labeler_add", COORDINATOR_OPERATOR_ID,
                           current ? &current->base : NULL, &labeler.base};
  coordinator_replier_t none = {0};
  int rc = catalog_labeler_persist(c, &labeler, &none, &change);
  c->actor[0] = '\0';
  if (rc < 0) return rc;
  Tally__Labeler *stored = (Tally__Labeler *)coordinator_message_clone(&labeler.base);
  if (stored == NULL) return TALLY_E_NOMEM;
  if (current != NULL) {
    tally__labeler__free_unpacked(c->labelers.items[at], NULL);
    c->labelers.items[at] = stored;
  } else {
    coordinator_must_install(catalog_labeler_insert(c, stored), "a labeler");
  }
  c->config_version++;
  log_info("person '%s' holds the operator key given with --operator-key", COORDINATOR_OPERATOR_ID);
  return 0;
}

int coordinator_is_secure(const coordinator_t *c) { return c->secure; }

uint64_t coordinator_keys_version(const coordinator_t *c) { return c->keys_version; }

int coordinator_allowed_keys(const coordinator_t *c, const char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  const char **keys = malloc((c->labelers.count + c->n_admitted + 1) * sizeof *keys);
  if (keys == NULL) return TALLY_E_NOMEM;
  size_t count = 0;
  for (size_t i = 0; i < c->labelers.count; i++)
    if (c->labelers.items[i]->public_key && c->labelers.items[i]->public_key[0])
      keys[count++] = c->labelers.items[i]->public_key;
  for (size_t i = 0; i < c->n_admitted; i++) keys[count++] = c->admitted[i];
  *out = keys;
  *n = count;
  return 0;
}

void admission_handle_cluster_admit(coordinator_t *c, const Tally__Envelope *request,
                                    const coordinator_replier_t *r) {
  const Tally__ClusterAdmit *admit = request->cluster_admit;
  if (!curve_key_is_valid(admit->public_key)) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "not a CURVE public key (40 Z85 characters, as in a worker's .pub file)");
    return;
  }
  if (!admit->revoke && person_by_key(c, admit->public_key) != NULL) {
    coordinator_reply_error(r, TALLY_E_ALREADY_EXISTS,
                            "this key belongs to a person, not to a worker");
    return;
  }
  if (is_admitted(c, admit->public_key) == !admit->revoke) {
    coordinator_send_ack(request, r); /* already so: nothing to record */
    return;
  }
  Tally__ClusterAdmit value = TALLY__CLUSTER_ADMIT__INIT;
  value.public_key = admit->public_key;
  const Tally__WorkerInfo *bound = admission_worker_by_key(c, admit->public_key);
  char target[64];
  if (bound) snprintf(target, sizeof target, "worker %u", bound->id);
  else snprintf(target, sizeof target, "worker key %.8s...", admit->public_key);
  admin_change_t change = {admit->revoke ? "cluster_revoke" : "cluster_admit", target,
                           admit->revoke ? &value.base : NULL, admit->revoke ? NULL : &value.base};
  meta_batch_t *batch = NULL;
  int rc = meta_batch_new(c->store, &batch);
  if (rc == 0) {
    meta_batch_put_admitted(batch, admit->public_key, !admit->revoke);
    rc = admin_log_commit(c, &batch, &change);
  }
  if (rc < 0) {
    coordinator_reply_storage_error(r, rc, "the admission");
    return;
  }
  if (admit->revoke) admitted_remove(c, admit->public_key);
  else coordinator_must_install(admitted_insert(c, admit->public_key), "an admitted key");
  log_info("%s %s: worker key %s", c->actor, admit->revoke ? "revoked" : "admitted",
           admit->public_key);
  coordinator_send_ack(request, r);
}

void admission_handle_whoami(coordinator_t *c, const Tally__Envelope *request, const char *key,
                             const coordinator_replier_t *r) {
  Tally__Envelope env;
  Tally__WhoamiReply body = TALLY__WHOAMI_REPLY__INIT;
  wire_envelope_init(&env, request->request_id);
  body.id = c->caller.id;
  body.roles = c->caller.roles;
  body.public_key = (char *)(key ? key : "");
  body.secure = c->secure;
  env.body_case = TALLY__ENVELOPE__BODY_WHOAMI_REPLY;
  env.whoami_reply = &body;
  r->send(r->ctx, &env);
}
