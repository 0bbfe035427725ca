/* calibration: calibration sessions, a quality workflow outside production.
 *
 * A lead (or manager) gives a group of people the same items to label: a
 * named session of a project (its taxonomy), with items that may carry an
 * answer key, a group (the people of some markets who label or audit, and
 * named people) and a deadline. Every member fetches the next item they
 * have not labeled and submits one label per item, blind: no reply to a
 * member ever carries the key or anyone else's label. Submits after the
 * deadline or after the lead closed the session are refused (CLOSED). A
 * session without a key is keyed by the lead after closing it (the lead's
 * verdict per item). Results (leads and managers; live while open): each
 * person's accuracy against the key with a 95% Wilson interval, the group's
 * Fleiss kappa, Krippendorff's alpha and percent agreement (common/
 * agreement.h, computed once over every item), the items ranked by
 * disagreement with their label distribution, and per person the accuracy
 * of each closed session of the project in date order (trend).
 *
 * Sessions live only on the coordinator: no worker, queue, statistic,
 * export or report of production ever sees them.
 *
 * Storage (meta_store.h, column family "calibration"): the session record
 * under "s" + name, each label under "l" + name + NUL + person + NUL + item
 * id. Every change is one synced batch before its reply; create, items
 * add, assign, close and key also append an admin log entry (with the
 * session's summary, not its items) in the same batch.
 *
 * Limits: CALIBRATION_ITEMS_MAX items per session, content and media URL
 * sizes below, a session record of at most CALIBRATION_RECORD_MAX bytes,
 * CALIBRATION_SESSIONS_MAX sessions in all.
 */
#ifndef TALLY_COORDINATOR_CALIBRATION_H
#define TALLY_COORDINATOR_CALIBRATION_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "coordinator.h"
#include "meta_store.h"
#include "tally.pb-c.h"

#define CALIBRATION_ITEMS_MAX 1000u
#define CALIBRATION_PEOPLE_MAX 1000u
#define CALIBRATION_CONTENT_MAX 65536u
#define CALIBRATION_URL_MAX 2048u
#define CALIBRATION_RECORD_MAX (4u << 20)
#define CALIBRATION_SESSIONS_MAX 10000u
#define CALIBRATION_DEADLINE_MAX_MS (366ull * 86400000ull)

typedef struct calibration calibration_t;

/* What the coordinator lends to one request. */
typedef struct {
  void *ctx;
  /* The project named `name`, or NULL. */
  const Tally__Project *(*project)(void *ctx, const char *name);
  /* Everyone known, sorted by id (borrowed for the request). */
  Tally__Labeler *const *people;
  size_t n_people;
  const identity_t *caller; /* the effective identity (access_check) */
  uint64_t now_ms;          /* unix ms */
  meta_store_t *store;
  /* Writes *batch with an admin log entry (action, target, old and new
   * value) as one synced write and destroys the batch. Returns 0 or the
   * store's error (nothing written). */
  int (*commit_logged)(void *ctx, meta_batch_t **batch, const char *action, const char *target,
                       const ProtobufCMessage *old_value, const ProtobufCMessage *new_value);
} calibration_env_t;

/* A new empty set of sessions. Errors: TALLY_E_NOMEM. */
int calibration_new(calibration_t **out);

/* Frees everything; safe on NULL; sets *cal NULL. */
void calibration_destroy(calibration_t **cal);

/* Loads every stored session and label. Returns 0, TALLY_E_STORAGE (a
 * record does not decode; logged) or TALLY_E_NOMEM. */
int calibration_load(calibration_t *cal, meta_store_t *store);

/* True for the requests calibration_handle answers. */
int calibration_handles(Tally__Envelope__BodyCase body);

/* Answers one calibration request (access_check passed) through r,
 * exactly once. */
void calibration_handle(calibration_t *cal, const calibration_env_t *env,
                        const Tally__Envelope *request, const coordinator_replier_t *r);

/* Number of sessions (for logs). */
size_t calibration_count(const calibration_t *cal);

#endif
