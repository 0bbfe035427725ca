/* session: stateless signed session cookies and CSRF tokens of the gateway.
 *
 * A session is sealed into the cookie value itself, so any gateway of the
 * cluster can check it and none keeps state: base64url(payload) "."
 * base64url(MAC), the MAC being libsodium's crypto_auth (HMAC-SHA-512-256)
 * under the cluster's session key (32 bytes, kept by the coordinator and
 * fetched by every gateway at start). Payload, version 1, fields separated
 * by '\n' (a byte no person id, language or market may hold, ident.h):
 *
 *   "1" \n person \n roles (decimal) \n language \n expires_ms \n
 *   markets joined by '\t' \n nonce (16 random bytes, hex)
 *
 * Changing the format: add version "2" beside "1" and keep reading "1"
 * until every session of that version expired.
 *
 * The CSRF token of a session is base64url(crypto_auth(key, "csrf\n" ||
 * nonce)): derived, never stored, equal on every gateway, different for
 * every sign-in, and kept when the cookie is re-issued with the same nonce
 * (a language change).
 */
#ifndef TALLY_GATEWAY_SESSION_H
#define TALLY_GATEWAY_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define SESSION_KEY_BYTES 32
#define SESSION_PERSON_MAX 72
#define SESSION_MARKETS_MAX 1024 /* '\t'-joined; longer lists are not carried */
#define SESSION_COOKIE_MAX 2048
#define SESSION_CSRF_MAX 48 /* base64url of 32 bytes and the terminator */

typedef struct {
  char person[SESSION_PERSON_MAX];
  uint32_t roles;   /* Role bits when signed in */
  char language[8]; /* "" = not chosen */
  char markets[SESSION_MARKETS_MAX];
  uint64_t expires_ms; /* unix ms */
  char nonce[40];      /* 32 hex digits; "" before session_seal makes one */
} session_t;

/* Seals `s` into a cookie value written into out (size >=
 * SESSION_COOKIE_MAX), with a new random nonce unless s->nonce is set (it
 * is then kept: same session, same CSRF token). Returns 0 or
 * TALLY_E_INVALID_ARGUMENT (a field holds '\n', or does not fit). */
int session_seal(const uint8_t key[SESSION_KEY_BYTES], session_t *s, char *out, size_t size);

/* Checks and opens the cookie value `cookie` (len bytes). Returns 0 with
 * *out, or TALLY_E_UNAUTHENTICATED (malformed, forged, or expired at
 * now_ms). */
int session_open(const uint8_t key[SESSION_KEY_BYTES], const char *cookie, size_t len,
                 uint64_t now_ms, session_t *out);

/* Writes the CSRF token of the session with nonce `nonce`. */
void session_csrf(const uint8_t key[SESSION_KEY_BYTES], const char *nonce, char out[SESSION_CSRF_MAX]);

/* 1 when `token` (token_len bytes) is the CSRF token of the session with
 * nonce `nonce` (compared in constant time), else 0. */
int session_csrf_matches(const uint8_t key[SESSION_KEY_BYTES], const char *nonce, const char *token,
                         size_t token_len);

#endif
