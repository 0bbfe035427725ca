/* credentials: passwords, API tokens, the session key. See credentials.h. */
#include "credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "admin_log.h"
#include "catalog.h"
#include "clock.h"
#include "coordinator_internal.h"
#include "ident.h"
#include "log.h"
#include "tally_error.h"
#include "wire.h"

#define CREDENTIAL_HASH_MAX 256   /* an argon2id string is about 100 bytes */
#define CREDENTIAL_TOKEN_NAME_MAX 64
#define CREDENTIAL_SESSION_KEY_BYTES 32

static int is_hex_digest(const char *s) {
  if (s == NULL || strlen(s) != 64) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static int is_console_language(const char *s) {
  static const char *const known[] = {"en", "es", "ja", "ko"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(s, known[i]) == 0) return 1;
  return 0;
}

/* Reads the stored Credential of `person` into *out (NULL when none).
 * Returns 0 or the store's error. */
static int credential_load(coordinator_t *c, const char *person, Tally__Credential **out) {
  char key[ACCESS_ID_MAX + 16];
  snprintf(key, sizeof key, "person/%s", person);
  uint8_t *value = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = meta_store_get_credential(c->store, key, &value, &len);
  if (rc <= 0) return rc;
  *out = tally__credential__unpack(NULL, len, value);
  free(value);
  return *out ? 0 : TALLY_E_STORAGE;
}

typedef struct {
  meta_batch_t *batch;
  const char *person;
  uint32_t dropped;
} token_revoke_t;

static int token_revoke_one(void *user, const char *key, size_t key_len, const uint8_t *value,
                            size_t len) {
  token_revoke_t *t = user;
  Tally__ApiToken *token = tally__api_token__unpack(NULL, len, value);
  if (token == NULL) return 0; /* an unreadable entry names nobody */
  if (strcmp(token->person, t->person) == 0) {
    meta_batch_delete_credential(t->batch, key, key_len);
    t->dropped++;
  }
  tally__api_token__free_unpacked(token, NULL);
  return 0;
}

void credentials_handle_set(coordinator_t *c, const Tally__Envelope *request,
                            const coordinator_replier_t *r) {
  const Tally__CredentialSet *set = request->credential_set;
  const Tally__Labeler *person = catalog_labeler_find(c, set->person);
  if (person == NULL) {
    coordinator_reply_error(r, TALLY_E_UNKNOWN_LABELER, "no person '%s'", set->person);
    return;
  }
  uint32_t guarded = TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY;
  if ((person->roles & guarded) && !(c->caller.roles & TALLY__ROLE__ROLE_OPERATOR)) {
    coordinator_reply_error(r, TALLY_E_PERMISSION_DENIED,
                            "only an operator may set the credentials of an operator or gateway");
    return;
  }
  if (set->password_hash[0] != '\0' &&
      (strncmp(set->password_hash, "$argon2id$", 10) != 0 ||
       strlen(set->password_hash) > CREDENTIAL_HASH_MAX)) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "password_hash must be an argon2id string (crypto_pwhash_str), at most %d bytes",
                            CREDENTIAL_HASH_MAX);
    return;
  }
  if (set->language[0] != '\0' && !is_console_language(set->language)) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT, "language must be one of en, es, ja, ko");
    return;
  }
  if (set->token_hash[0] != '\0' && !is_hex_digest(set->token_hash)) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                            "token_hash must be 64 lowercase hex digits");
    return;
  }
  char why[MESSAGE_SIZE];
  if (set->token_hash[0] != '\0' &&
      ident_check("token name", set->token_name, CREDENTIAL_TOKEN_NAME_MAX, why, sizeof why) < 0) {
    coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT, "%s", why);
    return;
  }
  Tally__Credential *old = NULL;
  int rc = credential_load(c, person->id, &old);
  if (rc < 0) {
    coordinator_reply_storage_error(r, rc, "the credentials");
    return;
  }
  Tally__Credential next = TALLY__CREDENTIAL__INIT;
  if (old != NULL) next = *old;
  next.person = person->id;
  if (next.password_hash == NULL) next.password_hash = (char *)"";
  if (next.language == NULL) next.language = (char *)"";
  if (set->password_hash[0]) next.password_hash = set->password_hash;
  if (set->language[0]) next.language = set->language;
  next.changed_ms = clock_now_ms();
  meta_batch_t *batch = NULL;
  rc = meta_batch_new(c->store, &batch);
  token_revoke_t revoke = {batch, person->id, 0};
  if (rc == 0 && set->revoke_tokens) {
    rc = meta_store_scan_credentials(c->store, "token/", token_revoke_one, &revoke);
    next.token_count = 0;
  }
  char key[ACCESS_ID_MAX + 80];
  if (rc == 0 && set->token_hash[0]) {
    Tally__ApiToken token = TALLY__API_TOKEN__INIT;
    token.person = person->id;
    token.name = set->token_name;
    token.created_ms = next.changed_ms;
    snprintf(key, sizeof key, "token/%s", set->token_hash);
    meta_batch_put_credential_message(batch, key, &token.base);
    next.token_count++;
  }
  if (rc == 0) {
    snprintf(key, sizeof key, "person/%s", person->id);
    meta_batch_put_credential_message(batch, key, &next.base);
    /* The log says what changed, never a hash. */
    Tally__CredentialSet logged = TALLY__CREDENTIAL_SET__INIT;
    logged.person = person->id;
    logged.password_hash = (char *)(set->password_hash[0] ? "(changed)" : "");
    logged.language = set->language;
    logged.token_hash = (char *)(set->token_hash[0] ? "(new token)" : "");
    logged.token_name = set->token_hash[0] ? set->token_name : (char *)"";
    logged.revoke_tokens = set->revoke_tokens;
    admin_change_t change = {"credential_set", person->id, NULL, &logged.base};
    rc = admin_log_commit(c, &batch, &change);
  }
  meta_batch_destroy(&batch);
  if (old) tally__credential__free_unpacked(old, NULL);
  if (rc < 0) {
    coordinator_reply_storage_error(r, rc, "the credentials");
    return;
  }
  log_info("%s set credentials of '%s'%s%s%s", c->actor, person->id,
           set->password_hash[0] ? " (password)" : "", set->token_hash[0] ? " (new token)" : "",
           set->revoke_tokens ? " (tokens revoked)" : "");
  coordinator_send_ack(request, r);
}

/* The cluster's session key, made (and stored durably, logged without the
 * key) on first use. Returns 0 with key filled, or the store's error. */
static int session_key_get(coordinator_t *c, uint8_t key[CREDENTIAL_SESSION_KEY_BYTES]) {
  uint8_t *value = NULL;
  size_t len = 0;
  int rc = meta_store_get_credential(c->store, "session_key", &value, &len);
  if (rc < 0) return rc;
  if (rc == 1 && len == CREDENTIAL_SESSION_KEY_BYTES) {
    memcpy(key, value, len);
    free(value);
    return 0;
  }
  free(value);
  if (getrandom(key, CREDENTIAL_SESSION_KEY_BYTES, 0) != CREDENTIAL_SESSION_KEY_BYTES)
    return TALLY_E_INTERNAL;
  meta_batch_t *batch = NULL;
  rc = meta_batch_new(c->store, &batch);
  if (rc < 0) return rc;
  meta_batch_put_credential(batch, "session_key", key, CREDENTIAL_SESSION_KEY_BYTES);
  Tally__Ack made = TALLY__ACK__INIT;
  admin_change_t change = {"session_key_create", "gateway sessions", NULL, &made.base};
  return admin_log_commit(c, &batch, &change);
}

void credentials_handle_get(coordinator_t *c, const Tally__Envelope *request,
                            const coordinator_replier_t *r) {
  const Tally__CredentialGet *get = request->credential_get;
  Tally__ApiToken *token = NULL;
  Tally__Credential *cred = NULL;
  const char *person_id = get->person;
  int rc = 0;
  if (get->person[0] == '\0' && get->token_hash[0] == '\0') {
    /* the session key alone (a gateway starting) */
    uint8_t only_key[CREDENTIAL_SESSION_KEY_BYTES];
    rc = get->session_key ? session_key_get(c, only_key) : TALLY_E_INVALID_ARGUMENT;
    if (rc == TALLY_E_INVALID_ARGUMENT) {
      coordinator_reply_error(r, rc, "credential_get needs a person, a token_hash or session_key");
    } else if (rc < 0) {
      coordinator_reply_storage_error(r, rc, "the session key");
    } else {
      Tally__Envelope env;
      Tally__CredentialReply body = TALLY__CREDENTIAL_REPLY__INIT;
      wire_envelope_init(&env, request->request_id);
      body.session_key.data = only_key;
      body.session_key.len = sizeof only_key;
      env.body_case = TALLY__ENVELOPE__BODY_CREDENTIAL_REPLY;
      env.credential_reply = &body;
      r->send(r->ctx, &env);
    }
    return;
  }
  if (get->token_hash[0] != '\0') {
    if (!is_hex_digest(get->token_hash)) {
      coordinator_reply_error(r, TALLY_E_INVALID_ARGUMENT,
                              "token_hash must be 64 lowercase hex digits");
      return;
    }
    char key[80];
    snprintf(key, sizeof key, "token/%s", get->token_hash);
    uint8_t *value = NULL;
    size_t len = 0;
    rc = meta_store_get_credential(c->store, key, &value, &len);
    if (rc == 1) {
      token = tally__api_token__unpack(NULL, len, value);
      rc = token ? 0 : TALLY_E_STORAGE;
    } else if (rc == 0) {
      rc = TALLY_E_NOT_FOUND;
    }
    free(value);
    if (token) person_id = token->person;
  }
  const Tally__Labeler *person = rc == 0 ? catalog_labeler_find(c, person_id) : NULL;
  if (rc == 0 && person == NULL) rc = TALLY_E_NOT_FOUND;
  if (rc == 0) rc = credential_load(c, person->id, &cred);
  uint8_t session_key[CREDENTIAL_SESSION_KEY_BYTES];
  if (rc == 0 && get->session_key) rc = session_key_get(c, session_key);
  if (rc == TALLY_E_NOT_FOUND) {
    coordinator_reply_error(r, TALLY_E_NOT_FOUND, "%s",
                            get->token_hash[0] ? "no such token" : "no such person");
  } else if (rc < 0) {
    coordinator_reply_storage_error(r, rc, "the session key");
  } else {
    Tally__Envelope env;
    Tally__CredentialReply body = TALLY__CREDENTIAL_REPLY__INIT;
    wire_envelope_init(&env, request->request_id);
    body.person = person->id;
    body.roles = person->roles;
    body.n_markets = person->n_markets;
    body.markets = person->markets;
    body.password_hash = cred && cred->password_hash ? cred->password_hash : (char *)"";
    body.language = cred && cred->language ? cred->language : (char *)"";
    body.token_name = token ? token->name : (char *)"";
    if (get->session_key) {
      body.session_key.data = session_key;
      body.session_key.len = sizeof session_key;
    }
    env.body_case = TALLY__ENVELOPE__BODY_CREDENTIAL_REPLY;
    env.credential_reply = &body;
    r->send(r->ctx, &env);
  }
  if (cred) tally__credential__free_unpacked(cred, NULL);
  if (token) tally__api_token__free_unpacked(token, NULL);
}
