/* retry_policy: see retry_policy.h. */
#include "retry_policy.h"

#include "tally_error.h"

/* The schedule of each reason: retries allowed, back-off before the first
 * retry and before the second (doubled from there on), and the repairs. */
typedef struct {
  int max_tries;
  int first_ms, second_ms;
  int refresh_map, reset_connection;
} retry_rule_t;

static const retry_rule_t rules[RETRY_REASONS] = {
    [RETRY_REASON_NONE] = {0, 0, 0, 0, 0},
    /* The error names the new owner: go there at once, then give the
     * coordinator's map time to catch up with the move. */
    [RETRY_REASON_MOVED] = {5, 0, 50, 1, 0},
    [RETRY_REASON_UNAVAILABLE] = {5, 50, 100, 1, 0},
    [RETRY_REASON_TIMEOUT] = {1, 0, 0, 1, 1},
    [RETRY_REASON_CONFIG_LAG] = {2, 100, 200, 0, 0},
};

void retry_policy_start(retry_policy_t *p, unsigned reasons) {
  p->reasons = (uint8_t)reasons;
  for (int i = 0; i < RETRY_REASONS; i++) p->tries[i] = 0;
}

retry_reason_t retry_reason_of(int code) {
  switch (code) {
    case TALLY_E_MOVED: return RETRY_REASON_MOVED;
    case TALLY_E_UNAVAILABLE: return RETRY_REASON_UNAVAILABLE;
    case TALLY_E_TIMEOUT: return RETRY_REASON_TIMEOUT;
    case TALLY_E_UNKNOWN_PROJECT:
    case TALLY_E_UNKNOWN_LABELER: return RETRY_REASON_CONFIG_LAG;
    default: return RETRY_REASON_NONE;
  }
}

int retry_policy_max_tries(retry_reason_t reason) {
  return reason > RETRY_REASON_NONE && reason < RETRY_REASONS ? rules[reason].max_tries : 0;
}

int retry_policy_backoff_ms(retry_reason_t reason, int n) {
  if (reason <= RETRY_REASON_NONE || reason >= RETRY_REASONS || n < 1) return 0;
  const retry_rule_t *r = &rules[reason];
  if (n == 1) return r->first_ms;
  int ms = r->second_ms;
  for (int i = 2; i < n && ms < (1 << 20); i++) ms *= 2;
  return ms;
}

int retry_policy_would_retry(const retry_policy_t *p, int code) {
  retry_reason_t reason = retry_reason_of(code);
  return reason != RETRY_REASON_NONE && (p->reasons & RETRY_ON(reason)) &&
         p->tries[reason] < rules[reason].max_tries;
}

retry_step_t retry_policy_next(retry_policy_t *p, int code) {
  retry_step_t step = {0, 0, 0, 0, retry_reason_of(code)};
  const retry_rule_t *r = &rules[step.reason];
  step.reset_connection = r->reset_connection;
  if (!retry_policy_would_retry(p, code)) return step;
  int n = ++p->tries[step.reason];
  step.again = 1;
  step.backoff_ms = retry_policy_backoff_ms(step.reason, n);
  step.refresh_map = r->refresh_map;
  return step;
}
