/* client_retry_policy_test: libtally's one retry policy
 * (client/lib/retry_policy.c): which failures are retried for which kind of
 * request, how often, after what back-off, and what is mended in between. */
#include <string.h>

#include "check.h"
#include "retry_policy.h"
#include "tally_error.h"

/* Retries `code` until the policy gives up; returns how many it allowed and
 * the sum of their back-offs in *total_ms. */
static int retries_until_give_up(unsigned reasons, int code, int *total_ms) {
  retry_policy_t p;
  retry_policy_start(&p, reasons);
  int n = 0;
  *total_ms = 0;
  for (;;) {
    retry_step_t step = retry_policy_next(&p, code);
    if (!step.again) return n;
    n++;
    *total_ms += step.backoff_ms;
    if (n > 100) return -1; /* never: the policy must end */
  }
}

static void test_reasons(void) {
  CHECK(retry_reason_of(0) == RETRY_REASON_NONE);
  CHECK(retry_reason_of(TALLY_E_MOVED) == RETRY_REASON_MOVED);
  CHECK(retry_reason_of(TALLY_E_UNAVAILABLE) == RETRY_REASON_UNAVAILABLE);
  CHECK(retry_reason_of(TALLY_E_TIMEOUT) == RETRY_REASON_TIMEOUT);
  CHECK(retry_reason_of(TALLY_E_UNKNOWN_PROJECT) == RETRY_REASON_CONFIG_LAG);
  CHECK(retry_reason_of(TALLY_E_UNKNOWN_LABELER) == RETRY_REASON_CONFIG_LAG);
  /* Final answers are never retried. */
  static const int final[] = {TALLY_E_STALE_LEASE, TALLY_E_NOT_LEASE_OWNER, TALLY_E_INVALID_ARGUMENT,
                              TALLY_E_INTERNAL, TALLY_E_TRANSPORT, TALLY_E_NOMEM, TALLY_E_TOO_LARGE};
  for (size_t i = 0; i < sizeof final / sizeof final[0]; i++) {
    CHECK(retry_reason_of(final[i]) == RETRY_REASON_NONE);
    retry_policy_t p;
    retry_policy_start(&p, RETRY_FOR_SLOT);
    retry_step_t step = retry_policy_next(&p, final[i]);
    CHECK(!step.again && step.reason == RETRY_REASON_NONE && step.backoff_ms == 0 &&
          !step.refresh_map && !step.reset_connection);
  }
  /* The reasons agree with what libtally's public predicate calls retryable. */
  CHECK(tally_error_is_retryable(TALLY_E_MOVED) && tally_error_is_retryable(TALLY_E_UNAVAILABLE) &&
        tally_error_is_retryable(TALLY_E_TIMEOUT));
}

static void test_schedules(void) {
  int total = 0;
  /* MOVED: at once to the owner the error names, then 50 ms doubled. */
  CHECK(retries_until_give_up(RETRY_FOR_SLOT, TALLY_E_MOVED, &total) == 5 && total == 750);
  static const int moved[] = {0, 50, 100, 200, 400};
  static const int unavailable[] = {50, 100, 200, 400, 800};
  retry_policy_t p;
  retry_policy_start(&p, RETRY_FOR_SLOT);
  for (int n = 0; n < 5; n++) {
    retry_step_t step = retry_policy_next(&p, TALLY_E_MOVED);
    CHECK(step.again && step.backoff_ms == moved[n] && step.refresh_map && !step.reset_connection);
    CHECK(retry_policy_backoff_ms(RETRY_REASON_MOVED, n + 1) == moved[n]);
  }
  CHECK(!retry_policy_would_retry(&p, TALLY_E_MOVED));
  /* Each reason keeps its own count: MOVED spent, UNAVAILABLE still whole. */
  for (int n = 0; n < 5; n++) {
    CHECK(retry_policy_would_retry(&p, TALLY_E_UNAVAILABLE));
    retry_step_t step = retry_policy_next(&p, TALLY_E_UNAVAILABLE);
    CHECK(step.again && step.backoff_ms == unavailable[n] && step.refresh_map);
  }
  CHECK(!retry_policy_next(&p, TALLY_E_UNAVAILABLE).again);
  /* TIMEOUT: once, at once, on a fresh connection and a fresh map; the
   * connection is dropped also when it is not tried again. */
  retry_step_t step = retry_policy_next(&p, TALLY_E_TIMEOUT);
  CHECK(step.again && step.backoff_ms == 0 && step.reset_connection && step.refresh_map);
  step = retry_policy_next(&p, TALLY_E_TIMEOUT);
  CHECK(!step.again && step.reset_connection && step.reason == RETRY_REASON_TIMEOUT);
  /* Configuration lag: twice, 100 then 200 ms, nothing to mend. */
  CHECK(retries_until_give_up(RETRY_FOR_SLOT, TALLY_E_UNKNOWN_LABELER, &total) == 2 && total == 300);
  step = retry_policy_next(&p, TALLY_E_UNKNOWN_PROJECT);
  CHECK(step.again && step.backoff_ms == 100 && !step.refresh_map && !step.reset_connection);
  CHECK(retry_policy_max_tries(RETRY_REASON_UNAVAILABLE) == 5 && retry_policy_max_tries(RETRY_REASON_NONE) == 0);
  CHECK(retry_policy_backoff_ms(RETRY_REASON_NONE, 1) == 0 && retry_policy_backoff_ms(RETRY_REASON_MOVED, 0) == 0);
}

/* Which kind of request is retried for what. */
static void test_kinds(void) {
  int total = 0;
  /* The coordinator: only UNAVAILABLE; its UNKNOWN_PROJECT is the truth. */
  CHECK(retries_until_give_up(RETRY_FOR_COORDINATOR, TALLY_E_UNAVAILABLE, &total) == 5 && total == 1550);
  CHECK(retries_until_give_up(RETRY_FOR_COORDINATOR, TALLY_E_UNKNOWN_PROJECT, &total) == 0);
  CHECK(retries_until_give_up(RETRY_FOR_COORDINATOR, TALLY_E_TIMEOUT, &total) == 0);
  /* A request to a named worker: no MOVED. */
  CHECK(retries_until_give_up(RETRY_FOR_WORKER, TALLY_E_MOVED, &total) == 0);
  CHECK(retries_until_give_up(RETRY_FOR_WORKER, TALLY_E_TIMEOUT, &total) == 1);
  CHECK(retries_until_give_up(RETRY_FOR_WORKER, TALLY_E_UNKNOWN_PROJECT, &total) == 2);
  /* Async slot requests: MOVED and UNAVAILABLE; a timeout is the caller's. */
  CHECK(retries_until_give_up(RETRY_FOR_ASYNC_SLOT, TALLY_E_MOVED, &total) == 5);
  CHECK(retries_until_give_up(RETRY_FOR_ASYNC_SLOT, TALLY_E_UNAVAILABLE, &total) == 5);
  CHECK(retries_until_give_up(RETRY_FOR_ASYNC_SLOT, TALLY_E_TIMEOUT, &total) == 0);
  CHECK(retries_until_give_up(RETRY_FOR_ASYNC_SLOT, TALLY_E_UNKNOWN_LABELER, &total) == 0);
  /* A blocking lease: only configuration lag (it walks on otherwise). */
  CHECK(retries_until_give_up(RETRY_FOR_LEASE, TALLY_E_UNKNOWN_LABELER, &total) == 2);
  CHECK(retries_until_give_up(RETRY_FOR_LEASE, TALLY_E_UNAVAILABLE, &total) == 0);
  /* Nothing: a lease of the asynchronous interface. */
  CHECK(retries_until_give_up(0, TALLY_E_MOVED, &total) == 0);
  /* A request that gives up says why, with nothing to wait for. */
  retry_policy_t p;
  retry_policy_start(&p, RETRY_FOR_WORKER);
  retry_step_t step = retry_policy_next(&p, TALLY_E_MOVED);
  CHECK(!step.again && step.reason == RETRY_REASON_MOVED && step.backoff_ms == 0 && !step.refresh_map);
  /* Starting again forgets the counts. */
  retry_policy_start(&p, RETRY_FOR_SLOT);
  for (int n = 0; n < 5; n++) retry_policy_next(&p, TALLY_E_MOVED);
  retry_policy_start(&p, RETRY_FOR_SLOT);
  CHECK(retry_policy_would_retry(&p, TALLY_E_MOVED));
  /* Success is never "retried". */
  CHECK(!retry_policy_next(&p, 0).again && !retry_policy_would_retry(&p, 0));
}

int main(void) {
  check_deadline(30, NULL);
  test_reasons();
  test_schedules();
  test_kinds();
  return check_summary();
}
