/* identity: see identity.h. */
#include "identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "log.h"
#include "tally_error.h"
#include "zap.h"

typedef struct key_entry {
  char key[CURVE_Z85_LEN + 1];
  identity_t who;
  UT_hash_handle hh;
} key_entry_t;

struct worker_identity {
  int secure;
  curve_keypair_t self;
  char coordinator_key[CURVE_Z85_LEN + 1];
  zap_t *zap;
  key_entry_t *keys; /* uthash by key */
  uint32_t max_leases;
};

static void keys_free(key_entry_t **keys) {
  key_entry_t *e, *tmp;
  HASH_ITER(hh, *keys, e, tmp) {
    HASH_DEL(*keys, e);
    free(e);
  }
}

/* Adds key -> who to *keys (first holder wins). 0 or TALLY_E_NOMEM. */
static int keys_add(key_entry_t **keys, const char *key, const identity_t *who) {
  if (!curve_key_is_valid(key)) return 0;
  key_entry_t *e = NULL;
  HASH_FIND_STR(*keys, key, e);
  if (e != NULL) return 0;
  e = calloc(1, sizeof *e);
  if (e == NULL) return TALLY_E_NOMEM;
  memcpy(e->key, key, sizeof e->key);
  e->who = *who;
  HASH_ADD_STR(*keys, key, e);
  return 0;
}

int identity_new(worker_identity_t **out, const worker_options_t *o, void *zmq_ctx) {
  *out = NULL;
  worker_identity_t *id = calloc(1, sizeof *id);
  if (id == NULL) return TALLY_E_NOMEM;
  id->max_leases = o->max_leases ? o->max_leases : WORKER_DEFAULT_MAX_LEASES;
  if (o->insecure) {
    log_warn("--insecure: plain TCP, no keys; every request is trusted as it says who sends it");
    *out = id;
    return 0;
  }
  id->secure = 1;
  if (!curve_available()) {
    log_error("this libzmq has no CURVE support; run with --insecure");
    free(id);
    return TALLY_E_INTERNAL;
  }
  if (o->coordinator_key == NULL || curve_public_parse(id->coordinator_key, o->coordinator_key) < 0) {
    log_error("--coordinator-key is neither a CURVE public key nor a file holding one");
    free(id);
    return TALLY_E_INVALID_ARGUMENT;
  }
  char path[4096];
  if (o->key_file) snprintf(path, sizeof path, "%s", o->key_file);
  else snprintf(path, sizeof path, "%s/worker.key", o->dir);
  int rc = curve_keypair_load_or_create(&id->self, path);
  if (rc < 0) {
    log_error("cannot read or make the key pair %s: %s", path,
              rc == TALLY_E_IO ? strerror(errno) : "not a Tally key file");
    free(id);
    return rc;
  }
  rc = zap_new(&id->zap, zmq_ctx);
  if (rc < 0) {
    log_error("cannot start the ZAP handler: %s", tally_strerror(rc));
    free(id);
    return rc;
  }
  log_info("CURVE on: this worker's public key is %s (admit it: tally cluster admit KEY)",
           id->self.public_key);
  identity_refresh(id, NULL, NULL);
  *out = id;
  return 0;
}

void identity_destroy(worker_identity_t **identity) {
  if (identity == NULL || *identity == NULL) return;
  worker_identity_t *id = *identity;
  *identity = NULL;
  zap_destroy(&id->zap);
  keys_free(&id->keys);
  free(id);
}

const curve_keypair_t *identity_server_keys(const worker_identity_t *id) {
  return id->secure ? &id->self : NULL;
}

int identity_is_secure(const worker_identity_t *id) { return id->secure; }

uint32_t identity_max_leases(const worker_identity_t *id) { return id->max_leases; }

const curve_client_t *identity_client_to(const worker_identity_t *id, const Tally__ClusterMap *map,
                                         const char *endpoint, curve_client_t *out) {
  if (!id->secure) return NULL;
  memset(out, 0, sizeof *out);
  out->self = id->self;
  if (endpoint == NULL) {
    memcpy(out->server_key, id->coordinator_key, sizeof out->server_key);
    return out;
  }
  for (size_t i = 0; map != NULL && i < map->n_workers; i++) {
    const Tally__WorkerInfo *w = map->workers[i];
    if (strcmp(w->endpoint, endpoint) == 0 && curve_key_is_valid(w->public_key)) {
      memcpy(out->server_key, w->public_key, sizeof out->server_key);
      break;
    }
  }
  return out;
}

void identity_refresh(worker_identity_t *id, const Tally__ClusterConfig *config,
                      const Tally__ClusterMap *map) {
  if (!id->secure) return;
  key_entry_t *keys = NULL;
  identity_t who;
  int rc = 0;
  memset(&who, 0, sizeof who);
  snprintf(who.id, sizeof who.id, "coordinator");
  who.roles = TALLY__ROLE__ROLE_COORDINATOR;
  rc = keys_add(&keys, id->coordinator_key, &who);
  for (size_t i = 0; rc == 0 && config != NULL && i < config->n_labelers; i++) {
    const Tally__Labeler *l = config->labelers[i];
    memset(&who, 0, sizeof who);
    snprintf(who.id, sizeof who.id, "%s", l->id);
    who.roles = l->roles;
    who.is_person = 1;
    rc = keys_add(&keys, l->public_key, &who);
  }
  for (size_t i = 0; rc == 0 && map != NULL && i < map->n_workers; i++) {
    memset(&who, 0, sizeof who);
    snprintf(who.id, sizeof who.id, "worker %u", map->workers[i]->id);
    who.roles = TALLY__ROLE__ROLE_WORKER;
    rc = keys_add(&keys, map->workers[i]->public_key, &who);
  }
  size_t n = HASH_COUNT(keys), k = 0;
  const char **list = rc == 0 ? malloc((n ? n : 1) * sizeof *list) : NULL;
  if (list == NULL) {
    log_error("out of memory rebuilding the key index; the previous one stays");
    keys_free(&keys);
    return;
  }
  for (key_entry_t *e = keys; e != NULL; e = e->hh.next) list[k++] = e->key;
  if (zap_set_keys(id->zap, list, n) < 0) {
    log_error("out of memory updating the ZAP list; the previous one stays");
    free(list);
    keys_free(&keys);
    return;
  }
  free(list);
  keys_free(&id->keys);
  id->keys = keys;
}

int identity_authorize(worker_identity_t *id, const router_request_t *req,
                       access_find_person_fn find, void *user, identity_t *effective, char *why,
                       size_t why_size) {
  identity_t caller;
  if (!id->secure) {
    access_anonymous(&caller);
  } else {
    key_entry_t *e = NULL;
    if (req->user_id[0] != '\0') HASH_FIND_STR(id->keys, req->user_id, e);
    if (e == NULL) {
      snprintf(why, why_size, "this worker does not know your key (any more)");
      return TALLY_E_UNAUTHENTICATED;
    }
    caller = e->who;
  }
  return access_check(&caller, req->env, find, user, effective, why, why_size);
}
