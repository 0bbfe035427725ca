/* session: see session.h. */
#include "session.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

#define PAYLOAD_MAX 1400

static int has_separator(const char *s) { return strpbrk(s, "\n") != NULL; }

int session_seal(const uint8_t key[SESSION_KEY_BYTES], session_t *s, char *out, size_t size) {
  if (size < SESSION_COOKIE_MAX || has_separator(s->person) || has_separator(s->language) ||
      has_separator(s->markets) || has_separator(s->nonce) || s->person[0] == '\0')
    return TALLY_E_INVALID_ARGUMENT;
  if (s->nonce[0] == '\0') {
    uint8_t nonce[16];
    randombytes_buf(nonce, sizeof nonce);
    sodium_bin2hex(s->nonce, sizeof s->nonce, nonce, sizeof nonce);
  }
  const char *nonce_hex = s->nonce;
  char payload[PAYLOAD_MAX];
  int n = snprintf(payload, sizeof payload, "1\n%s\n%" PRIu32 "\n%s\n%" PRIu64 "\n%s\n%s", s->person,
                   s->roles, s->language, s->expires_ms, s->markets, nonce_hex);
  if (n < 0 || (size_t)n >= sizeof payload) return TALLY_E_INVALID_ARGUMENT;
  uint8_t mac[crypto_auth_BYTES];
  crypto_auth(mac, (const uint8_t *)payload, (size_t)n, key);
  sodium_bin2base64(out, size, (const uint8_t *)payload, (size_t)n,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  size_t used = strlen(out);
  if (used + 2 + sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > size)
    return TALLY_E_INVALID_ARGUMENT;
  out[used++] = '.';
  sodium_bin2base64(out + used, size - used, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 0;
}

/* Copies the next '\n'-separated field of *p (up to end) into dst. */
static int next_field(const char **p, const char *end, char *dst, size_t size) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
  if (len >= size) return -1;
  memcpy(dst, *p, len);
  dst[len] = '\0';
  *p = nl ? nl + 1 : end;
  return nl ? 0 : 1; /* 1: that was the last field */
}

int session_open(const uint8_t key[SESSION_KEY_BYTES], const char *cookie, size_t len,
                 uint64_t now_ms, session_t *out) {
  const char *dot = memchr(cookie, '.', len);
  if (dot == NULL || len > SESSION_COOKIE_MAX) return TALLY_E_UNAUTHENTICATED;
  uint8_t payload[PAYLOAD_MAX], mac[crypto_auth_BYTES];
  size_t payload_len = 0, mac_len = 0;
  if (sodium_base642bin(payload, sizeof payload - 1, cookie, (size_t)(dot - cookie), NULL, &payload_len,
                        NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      sodium_base642bin(mac, sizeof mac, dot + 1, len - (size_t)(dot + 1 - cookie), NULL, &mac_len, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      mac_len != sizeof mac || crypto_auth_verify(mac, payload, payload_len, key) != 0)
    return TALLY_E_UNAUTHENTICATED;
  const char *p = (const char *)payload, *end = p + payload_len;
  char version[4], roles[16], expires[24];
  memset(out, 0, sizeof *out);
  if (next_field(&p, end, version, sizeof version) != 0 || strcmp(version, "1") != 0 ||
      next_field(&p, end, out->person, sizeof out->person) != 0 ||
      next_field(&p, end, roles, sizeof roles) != 0 ||
      next_field(&p, end, out->language, sizeof out->language) != 0 ||
      next_field(&p, end, expires, sizeof expires) != 0 ||
      next_field(&p, end, out->markets, sizeof out->markets) != 0 ||
      next_field(&p, end, out->nonce, sizeof out->nonce) != 1 || out->nonce[0] == '\0')
    return TALLY_E_UNAUTHENTICATED;
  out->roles = (uint32_t)strtoul(roles, NULL, 10);
  out->expires_ms = strtoull(expires, NULL, 10);
  if (out->expires_ms <= now_ms) return TALLY_E_UNAUTHENTICATED;
  return 0;
}

void session_csrf(const uint8_t key[SESSION_KEY_BYTES], const char *nonce, char out[SESSION_CSRF_MAX]) {
  crypto_auth_hmacsha512256_state st;
  uint8_t mac[crypto_auth_BYTES];
  crypto_auth_hmacsha512256_init(&st, key, SESSION_KEY_BYTES);
  crypto_auth_hmacsha512256_update(&st, (const uint8_t *)"csrf\n", 5);
  crypto_auth_hmacsha512256_update(&st, (const uint8_t *)nonce, strlen(nonce));
  crypto_auth_hmacsha512256_final(&st, mac);
  sodium_bin2base64(out, SESSION_CSRF_MAX, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int session_csrf_matches(const uint8_t key[SESSION_KEY_BYTES], const char *nonce, const char *token,
                         size_t token_len) {
  char want[SESSION_CSRF_MAX];
  if (nonce == NULL || nonce[0] == '\0') return 0;
  session_csrf(key, nonce, want);
  return token_len == strlen(want) && sodium_memcmp(want, token, token_len) == 0;
}
