/* admission: who may talk to a secure coordinator, and who a key is.
 *
 * A secure coordinator (coordinator_set_security) accepts a CURVE key when
 * it is a person's (their labeler record) or an admitted worker key.
 * In memory: c->admitted (Z85 keys, ascending, owned), c->keys_version
 * (bumped whenever the allowed keys may have changed, so the daemon's ZAP
 * handler refreshes its list), c->secure. Loaded from META_ADMITTED at
 * open (admission_load).
 *
 * Apply points (ONE synced meta_batch, then installed, then replied):
 *  - cluster_admit / revoke: the admitted key put or deleted, admin log
 *    "cluster_admit" / "cluster_revoke" (admin_log_commit). Admitting what
 *    is admitted already writes nothing.
 *  - coordinator_set_security with --operator-key: the person "operator"
 *    created or re-keyed with the operator role (catalog_labeler_persist:
 *    labeler record, config_version + 1, admin log), actor
 *    "coordinator --operator-key".
 * whoami and the key lookups change nothing.
 */
#ifndef TALLY_COORDINATOR_ADMISSION_H
#define TALLY_COORDINATOR_ADMISSION_H

#include <stdint.h>

#include "access.h"
#include "coordinator.h"
#include "tally.pb-c.h"

/* Loads the admitted worker keys into c (at open). Returns 0,
 * TALLY_E_STORAGE or TALLY_E_NOMEM. */
int admission_load(coordinator_t *c);

/* The worker whose record is bound to `key`, or NULL. Borrowed. */
const Tally__WorkerInfo *admission_worker_by_key(const coordinator_t *c, const char *key);

/* Who holds `key`: 1 with *out filled for a person or an admitted worker
 * (bound to an id or not yet), 0 for nobody. */
int admission_resolve_key(const coordinator_t *c, const char *key, identity_t *out);

/* access_check's person lookup (`user` is the coordinator_t): 1 with *out
 * filled when person `id` exists, else 0. */
int admission_find_person(void *user, const char *id, identity_t *out);

/* The id of the worker bound to the caller's key (0: none, or insecure). */
uint32_t admission_caller_worker_id(const coordinator_t *c, const char *key);

/* True when `key` belongs to a person other than `except_person` (NULL:
 * anyone) or is an admitted worker key. */
int admission_key_in_use(const coordinator_t *c, const char *key, const char *except_person);

/* cluster_admit (admit or revoke a worker key) and whoami. */
void admission_handle_cluster_admit(coordinator_t *c, const Tally__Envelope *request,
                                    const coordinator_replier_t *r);
void admission_handle_whoami(coordinator_t *c, const Tally__Envelope *request, const char *key,
                             const coordinator_replier_t *r);

#endif
