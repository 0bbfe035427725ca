/* client_credentials: sign-in credentials kept by the coordinator for the
 * gateway (tally.h, "sign-in"). Secrets are hashed here, before anything
 * is sent: passwords with argon2id (libsodium crypto_pwhash_str), API
 * tokens with BLAKE2b-256 (crypto_generichash; a token carries 256 random
 * bits, so a fast hash is enough). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "client_internal.h"
#include "result.h"
#include "wire.h"

#define TOKEN_PREFIX "tly_"
#define TOKEN_RANDOM_BYTES 32

static int sodium_ready(tally_t *t) {
  if (sodium_init() < 0) return client_error(t, TALLY_E_INTERNAL, "libsodium failed to start");
  return 0;
}

int tally_token_hash(const char *token, char hex[TALLY_TOKEN_HASH_HEX]) {
  if (token == NULL || sodium_init() < 0) return TALLY_E_INVALID_ARGUMENT;
  uint8_t digest[32];
  crypto_generichash(digest, sizeof digest, (const uint8_t *)token, strlen(token), NULL, 0);
  sodium_bin2hex(hex, TALLY_TOKEN_HASH_HEX, digest, sizeof digest);
  return 0;
}

static int credential_send(tally_t *t, const Tally__CredentialSet *body) {
  Tally__Envelope req, *reply = NULL;
  wire_envelope_init(&req, 0);
  req.body_case = TALLY__ENVELOPE__BODY_CREDENTIAL_SET;
  req.credential_set = (Tally__CredentialSet *)body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_ACK, &reply);
  wire_envelope_free(&reply);
  return rc;
}

int tally_password_set(tally_t *t, const char *person, const char *password) {
  if (person == NULL || person[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "which person?");
  size_t len = password ? strlen(password) : 0;
  if (len < TALLY_PASSWORD_MIN || len > TALLY_PASSWORD_MAX)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a password has %d to %d bytes",
                        TALLY_PASSWORD_MIN, TALLY_PASSWORD_MAX);
  int rc = sodium_ready(t);
  if (rc < 0) return rc;
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return client_error(t, TALLY_E_NOMEM, "out of memory while hashing the password");
  Tally__CredentialSet body = TALLY__CREDENTIAL_SET__INIT;
  body.person = (char *)person;
  body.password_hash = hash;
  rc = credential_send(t, &body);
  sodium_memzero(hash, sizeof hash);
  return rc;
}

int tally_language_set(tally_t *t, const char *person, const char *language) {
  if (person == NULL || person[0] == '\0' || language == NULL || language[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "language set needs a person and a language");
  Tally__CredentialSet body = TALLY__CREDENTIAL_SET__INIT;
  body.person = (char *)person;
  body.language = (char *)language;
  return credential_send(t, &body);
}

int tally_token_create(tally_t *t, const char *person, const char *name, int revoke_others,
                       char *token, size_t size) {
  if (person == NULL || person[0] == '\0' || name == NULL || name[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "a token needs a person and a name");
  if (size < TALLY_TOKEN_MAX)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "token buffer smaller than TALLY_TOKEN_MAX");
  int rc = sodium_ready(t);
  if (rc < 0) return rc;
  uint8_t random[TOKEN_RANDOM_BYTES];
  randombytes_buf(random, sizeof random);
  memcpy(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX);
  sodium_bin2base64(token + strlen(TOKEN_PREFIX), size - strlen(TOKEN_PREFIX), random, sizeof random,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(random, sizeof random);
  char hex[TALLY_TOKEN_HASH_HEX];
  tally_token_hash(token, hex);
  Tally__CredentialSet body = TALLY__CREDENTIAL_SET__INIT;
  body.person = (char *)person;
  body.token_hash = hex;
  body.token_name = (char *)name;
  body.revoke_tokens = revoke_others != 0;
  rc = credential_send(t, &body);
  if (rc < 0) sodium_memzero(token, size);
  return rc;
}

int tally_tokens_revoke(tally_t *t, const char *person) {
  if (person == NULL || person[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "which person?");
  Tally__CredentialSet body = TALLY__CREDENTIAL_SET__INIT;
  body.person = (char *)person;
  body.revoke_tokens = 1;
  return credential_send(t, &body);
}

int tally_credential_get(tally_t *t, const char *person, const char *token, int session_key,
                         tally_credential_t **out) {
  *out = NULL;
  char hex[TALLY_TOKEN_HASH_HEX] = "";
  int by_person = person != NULL && person[0] != '\0', by_token = token != NULL && token[0] != '\0';
  if ((by_person && by_token) || (!by_person && !by_token && !session_key))
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "credential get needs a person or a token");
  if (token != NULL && token[0] != '\0' && tally_token_hash(token, hex) < 0)
    return client_error(t, TALLY_E_INTERNAL, "libsodium failed to start");
  Tally__Envelope req, *reply = NULL;
  Tally__CredentialGet body = TALLY__CREDENTIAL_GET__INIT;
  wire_envelope_init(&req, 0);
  body.person = (char *)(person ? person : "");
  body.token_hash = hex;
  body.session_key = session_key != 0;
  req.body_case = TALLY__ENVELOPE__BODY_CREDENTIAL_GET;
  req.credential_get = &body;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_CREDENTIAL_REPLY, &reply);
  if (rc < 0) return rc;
  const Tally__CredentialReply *r = reply->credential_reply;
  result_t *arena = NULL;
  tally_credential_t *c = result_new(sizeof *c, &arena);
  if (c != NULL) {
    c->person = result_strdup(arena, r->person);
    c->roles = r->roles;
    c->markets = result_strv(arena, r->markets, r->n_markets);
    c->market_count = r->n_markets;
    c->password_hash = result_strdup(arena, r->password_hash);
    c->language = result_strdup(arena, r->language);
    c->token_name = result_strdup(arena, r->token_name);
    if (r->session_key.len == sizeof c->session_key) {
      memcpy(c->session_key, r->session_key.data, sizeof c->session_key);
      c->has_session_key = 1;
    }
  }
  wire_envelope_free(&reply);
  if (c == NULL || result_failed(arena)) {
    result_free(c);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = c;
  return 0;
}
