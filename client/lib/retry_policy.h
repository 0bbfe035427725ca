/* retry_policy: libtally's one answer to "this request failed: send it
 * again, and when?", for the blocking calls and the asynchronous interface
 * alike.
 *
 * Four failures are worth another attempt, each for its own reason and on
 * its own schedule (attempts counted per reason, from the first failure):
 *
 *   reason        what happened                         retries  back-off before retry n
 *   MOVED         the slot lives on another worker now  5        0, then 50 ms doubled
 *                 (refresh the map; the error names                (0, 50, 100, 200, 400)
 *                 the new owner)
 *   UNAVAILABLE   the slot has no owner, its owner is   5        50 ms doubled
 *                 down, or the slot is being moved                (50, 100, ..., 800)
 *                 (refresh the map to see it back)
 *   TIMEOUT       no reply in time (drop the connection 1        none
 *                 so a late reply never meets the next
 *                 request; refresh the map)
 *   CONFIG_LAG    a worker does not know the project or 2        100 ms doubled
 *                 labeler yet (UNKNOWN_PROJECT,                   (100, 200)
 *                 UNKNOWN_LABELER): it learns the
 *                 coordinator's configuration a moment
 *                 after the coordinator does
 *
 * Every other error is final, among them STALE_LEASE, NOT_LEASE_OWNER and
 * LEASE_LOST: the caller hears it at once.
 *
 * A blocking slot request that follows the map while it waits
 * (client_roundtrip_watch) and sees its worker declared DOWN counts that
 * as a MOVED when a follower was promoted (sent at once to the new owner,
 * whose map is already the handle's: no refresh), or as UNAVAILABLE when
 * nobody was.
 *
 * Not every request may be retried for every reason; the caller says which
 * reasons apply when it starts (RETRY_FOR_*): a coordinator's UNKNOWN_PROJECT
 * is the truth, not lag, and the asynchronous interface reports a timeout to
 * its caller (whose own loop decides) instead of re-sending on a connection
 * that carries other requests. A worst case is thus bounded: at most
 * 5 + 5 + 1 + 2 retries, at most 750 + 1550 + 300 ms of back-off.
 *
 * Usage:
 *   retry_policy_t retry;
 *   retry_policy_start(&retry, RETRY_FOR_SLOT);
 *   for (;;) {
 *     int rc = send_and_wait(...);
 *     retry_step_t step = retry_policy_next(&retry, rc);
 *     if (step.reset_connection) ...;
 *     if (!step.again) return rc;
 *     client_sleep_ms(step.backoff_ms);
 *     if (step.refresh_map) ...;
 *   }
 */
#ifndef TALLY_CLIENT_RETRY_POLICY_H
#define TALLY_CLIENT_RETRY_POLICY_H

#include <stdint.h>

/* Why a request may be tried again (a failure's reason). */
typedef enum {
  RETRY_REASON_NONE = 0, /* success, or a final error */
  RETRY_REASON_MOVED,
  RETRY_REASON_UNAVAILABLE,
  RETRY_REASON_TIMEOUT,
  RETRY_REASON_CONFIG_LAG,
  RETRY_REASONS /* count */
} retry_reason_t;

/* The reasons a kind of request is retried for (bit (1 << reason)). */
#define RETRY_ON(reason) (1u << (reason))
/* A request about a slot, sent to its owner (submit, skip, item get, ...). */
#define RETRY_FOR_SLOT                                                                      \
  (RETRY_ON(RETRY_REASON_MOVED) | RETRY_ON(RETRY_REASON_UNAVAILABLE) |                      \
   RETRY_ON(RETRY_REASON_TIMEOUT) | RETRY_ON(RETRY_REASON_CONFIG_LAG))
/* A request to one given worker, not about a slot (MOVED does not apply). */
#define RETRY_FOR_WORKER                                                                    \
  (RETRY_ON(RETRY_REASON_UNAVAILABLE) | RETRY_ON(RETRY_REASON_TIMEOUT) |                    \
   RETRY_ON(RETRY_REASON_CONFIG_LAG))
/* A request to the coordinator: only its UNAVAILABLE (no leader yet). */
#define RETRY_FOR_COORDINATOR RETRY_ON(RETRY_REASON_UNAVAILABLE)
/* A slot request of the asynchronous interface, re-sent from its kept bytes. */
#define RETRY_FOR_ASYNC_SLOT (RETRY_ON(RETRY_REASON_MOVED) | RETRY_ON(RETRY_REASON_UNAVAILABLE))
/* One round of a blocking ingest (the round re-sends what failed). */
#define RETRY_FOR_INGEST RETRY_FOR_SLOT
/* A blocking lease: only the asked worker's configuration lag; the lease
 * walks on to the next worker after other failures. */
#define RETRY_FOR_LEASE RETRY_ON(RETRY_REASON_CONFIG_LAG)

/* Per request; small enough to keep in every in-flight entry. */
typedef struct {
  uint8_t reasons;                /* RETRY_ON bits this request may be retried for */
  uint8_t tries[RETRY_REASONS];   /* retries made so far, per reason */
} retry_policy_t;

/* What to do about one failure. */
typedef struct {
  int again;            /* 1: send it again (after the below); 0: report the error */
  int backoff_ms;       /* wait this long first */
  int refresh_map;      /* again: ask the coordinator for the map first (callers
                           that route by slot; others have no map to mend) */
  int reset_connection; /* drop the connection the request went on, and what is
                           queued on it, whether or not it is tried again: a late
                           reply must not meet the next request (TIMEOUT) */
  retry_reason_t reason;
} retry_step_t;

/* Starts the count for one request that may be retried for `reasons`
 * (RETRY_FOR_* or RETRY_ON bits). */
void retry_policy_start(retry_policy_t *p, unsigned reasons);

/* The reason error `code` (0 or a negative TALLY_E_*) may be retried for,
 * whatever the request: RETRY_REASON_NONE for 0 and final errors. */
retry_reason_t retry_reason_of(int code);

/* Counts failure `code` and says what to do: again (with the back-off and
 * the repairs), or give up (again = 0) when the code is final, its reason
 * does not apply to this request, or that reason's retries are spent. The
 * step's reason is set in both cases. */
retry_step_t retry_policy_next(retry_policy_t *p, int code);

/* True when a failure `code` now would be retried (retry_policy_next would
 * say again), without counting it: for a caller that decides per item
 * whether to keep it for the next round. */
int retry_policy_would_retry(const retry_policy_t *p, int code);

/* Retries of `reason` allowed, and the back-off before retry n (1-based)
 * in ms: the table above, for callers that report or test it. */
int retry_policy_max_tries(retry_reason_t reason);
int retry_policy_backoff_ms(retry_reason_t reason, int n);

#endif
