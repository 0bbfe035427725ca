/* login_limit: how many failed sign-ins a key (a person, or a client
 * address) may have in a window before further attempts are refused.
 *
 * A key is blocked once it has `max_failures` failures within `window_ms`
 * of its first one; the window then runs out and the count starts over. A
 * successful sign-in clears the person's count (not the address's). At
 * most `max_keys` keys are remembered: the oldest is forgotten first, so a
 * flood of addresses cannot grow the table. Per gateway (several gateways
 * each count their own); loop thread only.
 */
#ifndef TALLY_GATEWAY_LOGIN_LIMIT_H
#define TALLY_GATEWAY_LOGIN_LIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct login_limit login_limit_t;

/* Returns 0 with *out, or TALLY_E_NOMEM. */
int login_limit_new(login_limit_t **out, uint32_t max_failures, uint64_t window_ms, size_t max_keys);

/* Frees the table; safe on NULL and twice; sets *l NULL. */
void login_limit_destroy(login_limit_t **l);

/* 1 when `key` may not try now (then *retry_ms says for how long), else 0. */
int login_limit_is_blocked(login_limit_t *l, const char *key, uint64_t now_ms, uint64_t *retry_ms);

/* Counts a failure of `key`. */
void login_limit_fail(login_limit_t *l, const char *key, uint64_t now_ms);

/* Forgets `key` (a successful sign-in). */
void login_limit_clear(login_limit_t *l, const char *key);

#endif
