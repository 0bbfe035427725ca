/* admin_log: the append-only log of administrative changes (who changed
 * what, the old and the new value), for `tally admin log`.
 *
 * In memory: c->admin_log, ascending seq, each entry owned. Loaded from
 * META_ADMIN_LOG at open (admin_log_load). Entries are never changed or
 * removed.
 *
 * Apply point: admin_log_commit writes a module's change (the meta_batch
 * the caller filled) together with its log entry as ONE synced write, so a
 * change is never durable without its record nor a record without its
 * change; only after that write does the entry join the log in memory.
 * The actor is c->actor (the caller, as coordinator_dispatch set it) or
 * "coordinator" for the coordinator's own changes.
 */
#ifndef TALLY_COORDINATOR_ADMIN_LOG_H
#define TALLY_COORDINATOR_ADMIN_LOG_H

#include "coordinator.h"
#include "meta_store.h"
#include "tally.pb-c.h"

/* One administrative change, for the append-only log. */
typedef struct {
  const char *action;                 /* "project_create", ... */
  const char *target;                 /* project, person, worker or key */
  const ProtobufCMessage *old_value;  /* NULL: did not exist */
  const ProtobufCMessage *new_value;  /* NULL: removed */
} admin_change_t;

/* Loads the stored log into c (at open). Returns 0, TALLY_E_STORAGE or
 * TALLY_E_NOMEM. */
int admin_log_load(coordinator_t *c);

/* Commits *batch (the change, as the caller filled it) with the log entry
 * of `change` as one synced write, and destroys the batch. On success the
 * entry joins the log in memory. Returns 0 or the store's error (nothing
 * was written then). */
int admin_log_commit(coordinator_t *c, meta_batch_t **batch, const admin_change_t *change);

/* admin_log_request: the newest entries (before before_seq when given),
 * newest first, at most `limit` (0: 100; capped at 10,000). */
void admin_log_handle_request(coordinator_t *c, const Tally__Envelope *request,
                              const coordinator_replier_t *r);

#endif
