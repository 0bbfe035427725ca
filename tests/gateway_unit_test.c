/* Unit tests of the gateway's session cookies, CSRF tokens and sign-in
 * limits (gateway/session.c, gateway/login_limit.c). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "login_limit.h"
#include "session.h"
#include "tally_error.h"

static void test_session_round_trip(void) {
  uint8_t key[SESSION_KEY_BYTES], other[SESSION_KEY_BYTES];
  randombytes_buf(key, sizeof key);
  randombytes_buf(other, sizeof other);
  session_t s = {0}, back;
  snprintf(s.person, sizeof s.person, "ana");
  s.roles = 3;
  snprintf(s.language, sizeof s.language, "ja");
  snprintf(s.markets, sizeof s.markets, "es\tja");
  s.expires_ms = 2000;
  char cookie[SESSION_COOKIE_MAX];
  CHECK(session_seal(key, &s, cookie, sizeof cookie) == 0);
  CHECK(strchr(cookie, ';') == NULL && strchr(cookie, ' ') == NULL && strchr(cookie, '=') == NULL);
  CHECK(session_open(key, cookie, strlen(cookie), 1000, &back) == 0);
  CHECK(strcmp(back.person, "ana") == 0 && back.roles == 3 && strcmp(back.language, "ja") == 0);
  CHECK(strcmp(back.markets, "es\tja") == 0 && back.expires_ms == 2000);
  /* expired, another key, a changed byte, truncated: all refused */
  CHECK(session_open(key, cookie, strlen(cookie), 2000, &back) == TALLY_E_UNAUTHENTICATED);
  CHECK(session_open(other, cookie, strlen(cookie), 1000, &back) == TALLY_E_UNAUTHENTICATED);
  char forged[SESSION_COOKIE_MAX];
  snprintf(forged, sizeof forged, "%s", cookie);
  forged[3] = forged[3] == 'A' ? 'B' : 'A';
  CHECK(session_open(key, forged, strlen(forged), 1000, &back) == TALLY_E_UNAUTHENTICATED);
  CHECK(session_open(key, cookie, strlen(cookie) - 2, 1000, &back) == TALLY_E_UNAUTHENTICATED);
  CHECK(session_open(key, "garbage", 7, 1000, &back) == TALLY_E_UNAUTHENTICATED);
  /* a person id carrying the separator cannot be sealed */
  snprintf(s.person, sizeof s.person, "a\nb");
  CHECK(session_seal(key, &s, cookie, sizeof cookie) == TALLY_E_INVALID_ARGUMENT);
}

static void test_csrf(void) {
  uint8_t key[SESSION_KEY_BYTES];
  randombytes_buf(key, sizeof key);
  session_t s = {0};
  snprintf(s.person, sizeof s.person, "ana");
  s.expires_ms = 5000;
  char a[SESSION_COOKIE_MAX], b[SESSION_COOKIE_MAX], token[SESSION_CSRF_MAX], token_b[SESSION_CSRF_MAX];
  CHECK(session_seal(key, &s, a, sizeof a) == 0);
  s.nonce[0] = '\0';
  CHECK(session_seal(key, &s, b, sizeof b) == 0);
  CHECK(strcmp(a, b) != 0); /* the nonce: two sign-ins, two sessions */
  session_t sa, sb;
  CHECK(session_open(key, a, strlen(a), 1, &sa) == 0 && session_open(key, b, strlen(b), 1, &sb) == 0);
  session_csrf(key, sa.nonce, token);
  session_csrf(key, sb.nonce, token_b);
  CHECK(session_csrf_matches(key, sa.nonce, token, strlen(token)));
  CHECK(!session_csrf_matches(key, sa.nonce, token_b, strlen(token_b)));
  CHECK(!session_csrf_matches(key, sa.nonce, "", 0));
  CHECK(!session_csrf_matches(key, sa.nonce, token, strlen(token) - 1));
  CHECK(!session_csrf_matches(key, "", token, strlen(token)));
  /* re-sealed with the same nonce (a language change): same CSRF token */
  snprintf(sa.language, sizeof sa.language, "ko");
  char c2[SESSION_COOKIE_MAX];
  CHECK(session_seal(key, &sa, c2, sizeof c2) == 0 && strcmp(c2, a) != 0);
  session_t sc;
  CHECK(session_open(key, c2, strlen(c2), 1, &sc) == 0 && strcmp(sc.nonce, sa.nonce) == 0);
}

static void test_login_limit(void) {
  login_limit_t *l = NULL;
  uint64_t retry = 0;
  CHECK(login_limit_new(&l, 3, 1000, 2) == 0);
  CHECK(!login_limit_is_blocked(l, "p:ana", 0, &retry));
  for (int i = 0; i < 3; i++) login_limit_fail(l, "p:ana", 10);
  CHECK(login_limit_is_blocked(l, "p:ana", 20, &retry) && retry == 990);
  CHECK(!login_limit_is_blocked(l, "p:ana", 1010, &retry)); /* the window ran out */
  for (int i = 0; i < 3; i++) login_limit_fail(l, "p:bob", 0);
  login_limit_clear(l, "p:bob");
  CHECK(!login_limit_is_blocked(l, "p:bob", 1, &retry));
  /* at most 2 keys: the oldest is forgotten */
  for (int i = 0; i < 3; i++) login_limit_fail(l, "a:1", 0);
  for (int i = 0; i < 3; i++) login_limit_fail(l, "a:2", 0);
  for (int i = 0; i < 3; i++) login_limit_fail(l, "a:3", 0);
  CHECK(!login_limit_is_blocked(l, "a:1", 1, &retry));
  CHECK(login_limit_is_blocked(l, "a:3", 1, &retry));
  login_limit_destroy(&l);
  login_limit_destroy(&l);
  CHECK(l == NULL);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  test_session_round_trip();
  test_csrf();
  test_login_limit();
  return check_summary();
}
