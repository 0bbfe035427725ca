/* api_auth: sign-in, sign-out and the person's own settings. Passwords are
 * checked here (argon2id, in the thread pool) against the hash the
 * coordinator keeps; the gateway itself keeps nothing but its rate-limit
 * counts (docs/GATEWAY.md). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "gateway.h"
#include "log.h"

#define PERSON_MAX 64

json_t *api_markets_json(const char *markets) {
  json_t *a = json_array();
  const char *p = markets;
  while (p && *p) {
    const char *tab = strchr(p, '\t');
    size_t len = tab ? (size_t)(tab - p) : strlen(p);
    json_array_append_new(a, json_stringn(p, len));
    p = tab ? tab + 1 : NULL;
  }
  return a;
}

static json_t *me_json(const principal_t *who, const char *csrf) {
  json_t *o = json_pack("{s:s,s:o,s:o,s:s}", "person", who->person, "roles", call_roles_json(who->roles),
                        "markets", api_markets_json(who->markets), "language",
                        who->language[0] ? who->language : "en");
  if (csrf != NULL) json_object_set_new(o, "csrf_token", json_string(csrf));
  return o;
}

/* ------------------------------------------------------------ login */

typedef struct {
  char password[TALLY_PASSWORD_MAX + 1];
  int ok;
} login_state_t;

static void fill_principal(principal_t *who, const tally_credential_t *cred) {
  memset(who, 0, sizeof *who);
  snprintf(who->person, sizeof who->person, "%s", cred->person);
  who->roles = cred->roles;
  snprintf(who->language, sizeof who->language, "%s", cred->language);
  size_t used = 0;
  for (size_t i = 0; i < cred->market_count; i++) {
    int n = snprintf(who->markets + used, sizeof who->markets - used, "%s%s", i ? "\t" : "",
                     cred->markets[i]);
    if (n < 0 || (size_t)n >= sizeof who->markets - used) {
      who->markets[used] = '\0';
      break;
    }
    used += (size_t)n;
  }
}

static void login_work(gw_call_t *c, tally_t *t) {
  login_state_t *st = c->extra;
  tally_credential_t *cred = NULL;
  int rc = tally_credential_get(t, c->who.person, NULL, 0, &cred);
  const char *hash = c->gw->dummy_hash;
  if (rc == 0 && cred->password_hash[0] != '\0') hash = cred->password_hash;
  int match = crypto_pwhash_str_verify(hash, st->password, strlen(st->password)) == 0;
  sodium_memzero(st->password, sizeof st->password);
  if (rc < 0 && rc != TALLY_E_NOT_FOUND) {
    call_set_tally_error(c, rc, tally_last_error(t));
  } else if (rc == 0 && match && hash != c->gw->dummy_hash) {
    fill_principal(&c->who, cred);
    st->ok = 1;
  }
  tally_free(cred);
}

static void login_done(gw_call_t *c) {
  login_state_t *st = c->extra;
  char person_key[SESSION_PERSON_MAX + 4], address_key[80];
  snprintf(person_key, sizeof person_key, "p:%s", c->who.person);
  snprintf(address_key, sizeof address_key, "a:%s", c->address);
  if (c->error_code[0] != '\0') {
    call_reply_error(c, c->status, c->error_code, "%s", c->error_message);
    return;
  }
  if (!st->ok) {
    uint64_t now = clock_monotonic_ms();
    login_limit_fail(c->gw->person_limit, person_key, now);
    login_limit_fail(c->gw->address_limit, address_key, now);
    log_info("gateway: failed sign-in for '%s' from %s", c->who.person, c->address);
    gateway_metrics_sign_in(c->gw->metrics, GW_SIGN_IN_FAILED);
    call_reply_error(c, 401, "UNAUTHENTICATED", "wrong person or password");
    return;
  }
  login_limit_clear(c->gw->person_limit, person_key);
  char csrf[SESSION_CSRF_MAX];
  if (gateway_issue_session(c, &c->who, csrf) < 0) {
    call_reply_error(c, 500, "INTERNAL", "cannot issue a session");
    return;
  }
  log_info("gateway: '%s' signed in from %s", c->who.person, c->address);
  gateway_metrics_sign_in(c->gw->metrics, GW_SIGN_IN_OK);
  call_reply_json(c, 200, me_json(&c->who, csrf));
}

void api_login(gw_call_t *c) {
  const char *person = call_body_string(c, "person");
  const char *password = call_body_string(c, "password");
  if (person == NULL || password == NULL || person[0] == '\0' || strlen(person) > PERSON_MAX ||
      strlen(password) > TALLY_PASSWORD_MAX) {
    call_reply_error(c, 400, "BAD_REQUEST", "send {\"person\": ..., \"password\": ...}");
    return;
  }
  char person_key[SESSION_PERSON_MAX + 4], address_key[80];
  snprintf(person_key, sizeof person_key, "p:%s", person);
  snprintf(address_key, sizeof address_key, "a:%s", c->address);
  uint64_t now = clock_monotonic_ms(), retry_person = 0, retry_address = 0;
  int blocked = login_limit_is_blocked(c->gw->person_limit, person_key, now, &retry_person);
  blocked |= login_limit_is_blocked(c->gw->address_limit, address_key, now, &retry_address);
  if (blocked) {
    uint64_t retry = retry_person > retry_address ? retry_person : retry_address;
    char seconds[24];
    snprintf(seconds, sizeof seconds, "%llu", (unsigned long long)(retry / 1000 + 1));
    if (c->req) h2o_add_header(&c->req->pool, &c->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                               h2o_strdup(&c->req->pool, seconds, SIZE_MAX).base, strlen(seconds));
    gateway_metrics_sign_in(c->gw->metrics, GW_SIGN_IN_RATE_LIMITED);
    call_reply_error(c, 429, "RATE_LIMITED", "too many failed sign-ins; try again in %s s", seconds);
    return;
  }
  login_state_t *st = calloc(1, sizeof *st);
  if (st == NULL) {
    call_reply_error(c, 500, "INTERNAL", "out of memory");
    return;
  }
  snprintf(st->password, sizeof st->password, "%s", password);
  snprintf(c->who.person, sizeof c->who.person, "%s", person);
  c->extra = st;
  c->after = login_done;
  call_run_blocking(c, login_work, 0);
}

void api_logout(gw_call_t *c) {
  gateway_clear_session(c);
  call_reply_json(c, 204, NULL);
}

void api_me(gw_call_t *c) {
  char csrf[SESSION_CSRF_MAX] = "";
  if (!c->who.via_token) session_csrf(c->gw->session_key, c->session_nonce, csrf);
  call_reply_json(c, 200, me_json(&c->who, c->who.via_token ? NULL : csrf));
}

/* ------------------------------------------------------------ own settings */

static void language_work(gw_call_t *c, tally_t *t) {
  const char *language = call_body_string(c, "language");
  int rc = tally_language_set(t, c->who.person, language);
  if (rc < 0) call_set_tally_error(c, rc, tally_last_error(t));
}

static void language_done(gw_call_t *c) {
  if (c->error_code[0] != '\0') {
    call_reply_error(c, c->status, c->error_code, "%s", c->error_message);
    return;
  }
  snprintf(c->who.language, sizeof c->who.language, "%s", call_body_string(c, "language"));
  char csrf[SESSION_CSRF_MAX] = "";
  if (!c->who.via_token && gateway_issue_session(c, &c->who, csrf) < 0) {
    call_reply_error(c, 500, "INTERNAL", "cannot issue a session");
    return;
  }
  call_reply_json(c, 200, me_json(&c->who, c->who.via_token ? NULL : csrf));
}

void api_me_language(gw_call_t *c) {
  const char *language = call_body_string(c, "language");
  static const char *const known[] = {"en", "es", "ja", "ko"};
  int ok = 0;
  for (size_t i = 0; language && i < sizeof known / sizeof known[0]; i++) ok |= strcmp(language, known[i]) == 0;
  if (!ok) {
    call_reply_error(c, 400, "BAD_REQUEST", "language must be one of en, es, ja, ko");
    return;
  }
  c->after = language_done;
  call_run_blocking(c, language_work, 0); /* as the gateway: people cannot set credentials */
}

static void token_work(gw_call_t *c, tally_t *t) {
  char token[TALLY_TOKEN_MAX];
  int rc = tally_token_create(t, c->who.person, call_body_string(c, "name"), 0, token, sizeof token);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  c->status = 201;
  c->result = json_pack("{s:s}", "token", token);
  sodium_memzero(token, sizeof token);
}

void api_token_create(gw_call_t *c) {
  const char *name = call_body_string(c, "name");
  if (name == NULL || name[0] == '\0' || strlen(name) > 64) {
    call_reply_error(c, 400, "BAD_REQUEST", "send {\"name\": ...} (at most 64 bytes)");
    return;
  }
  call_run_blocking(c, token_work, 0);
}

static void password_work(gw_call_t *c, tally_t *t) {
  const char *old = call_body_string(c, "old"), *new_password = call_body_string(c, "new");
  tally_credential_t *cred = NULL;
  int rc = tally_credential_get(t, c->who.person, NULL, 0, &cred);
  if (rc < 0) {
    call_set_tally_error(c, rc, tally_last_error(t));
    return;
  }
  int match = cred->password_hash[0] != '\0' &&
              crypto_pwhash_str_verify(cred->password_hash, old, strlen(old)) == 0;
  tally_free(cred);
  if (!match) {
    call_set_error(c, 403, "PERMISSION_DENIED", "the old password is wrong");
    return;
  }
  rc = tally_password_set(t, c->who.person, new_password);
  if (rc < 0) call_set_tally_error(c, rc, tally_last_error(t));
  else c->status = 204;
}

void api_password_change(gw_call_t *c) {
  const char *old = call_body_string(c, "old"), *new_password = call_body_string(c, "new");
  if (old == NULL || new_password == NULL || strlen(old) > TALLY_PASSWORD_MAX) {
    call_reply_error(c, 400, "BAD_REQUEST", "send {\"old\": ..., \"new\": ...}");
    return;
  }
  call_run_blocking(c, password_work, 0);
}
