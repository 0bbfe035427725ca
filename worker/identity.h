/* identity: who is asking this worker, and may they.
 *
 * A secure worker (the default) serves CURVE only. Its ZAP handler accepts
 * the keys it knows: the people of the configuration that have a key, the
 * workers of the map, and the coordinator (--coordinator-key); everything
 * else is refused at the handshake. For every request, identity_authorize
 * resolves the key the ZAP handler accepted to a person, worker or the
 * coordinator and applies the rules of common/access.h (role table,
 * acting_for, person fields), and the worker's own rules:
 *  - item_get is refused to a person who holds a lease on the item (an
 *    auditor or lead must not see the first label of what they judge);
 *  - at most max_leases live leases per person on this worker.
 * The key index and the ZAP list are rebuilt whenever the configuration
 * or the map changes (identity_refresh).
 */
#ifndef TALLY_WORKER_IDENTITY_H
#define TALLY_WORKER_IDENTITY_H

#include "access.h"
#include "curve.h"
#include "router.h"
#include "worker.h"

typedef struct worker_identity worker_identity_t;

/* Loads (or makes) the worker's key pair, starts the ZAP handler in
 * `zmq_ctx` (before any socket of it binds) and builds the key index.
 * With o->insecure: nothing but the lease cap. *out is the caller's.
 * Errors: TALLY_E_INVALID_ARGUMENT (coordinator key), TALLY_E_IO (key
 * file), TALLY_E_TRANSPORT / TALLY_E_INTERNAL (ZAP), TALLY_E_NOMEM. */
int identity_new(worker_identity_t **out, const worker_options_t *o, void *zmq_ctx);

/* Stops the ZAP thread and frees; call before zmq_ctx_term. Safe on NULL. */
void identity_destroy(worker_identity_t **identity);

/* The server key pair for the worker's ROUTER, NULL when insecure. */
const curve_keypair_t *identity_server_keys(const worker_identity_t *identity);

/* Fills *out for a connection to the coordinator or to the worker serving
 * at `endpoint` (its key from `map`); returns out, or NULL when insecure.
 * When secure and the endpoint's key is unknown, out->server_key is ""
 * (the connection will not authenticate). */
const curve_client_t *identity_client_to(const worker_identity_t *identity,
                                         const Tally__ClusterMap *map, const char *endpoint,
                                         curve_client_t *out);

/* Rebuilds the key index and the ZAP list from `config` and `map` (either
 * may be NULL). Out of memory keeps the previous ones (logged). */
void identity_refresh(worker_identity_t *identity, const Tally__ClusterConfig *config,
                      const Tally__ClusterMap *map);

/* Resolves the sender of `req` and checks it (access_check); may rewrite
 * the request's person field. Returns 0 with *effective set, or a negative
 * code with a message in why. */
int identity_authorize(worker_identity_t *identity, const router_request_t *req,
                       access_find_person_fn find, void *user, identity_t *effective, char *why,
                       size_t why_size);

/* The per-person live-lease cap. */
uint32_t identity_max_leases(const worker_identity_t *identity);

int identity_is_secure(const worker_identity_t *identity);

#endif
