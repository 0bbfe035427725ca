/* zap: the ZeroMQ authentication (ZAP, RFC 27) handler of one process.
 *
 * Every CURVE server socket of a ZeroMQ context asks the context's ZAP
 * handler about each connecting client key. This module runs that handler
 * on a thread of its own (so handshakes never wait for the daemon's loop)
 * with an allow-list of public keys: a key on the list is accepted and its
 * Z85 text becomes the connection's User-Id, which the daemon reads on every
 * message (router_request_t.user_id) and resolves to a person, worker or
 * coordinator; any other key is refused before a single request arrives.
 *
 * The owner replaces the list whenever the set of known keys changes
 * (people added or re-keyed, workers admitted); the list is guarded by a
 * mutex, so zap_set_keys may be called from any thread.
 */
#ifndef TALLY_ZAP_H
#define TALLY_ZAP_H

#include <stddef.h>
#include <stdint.h>

#include "curve.h"

typedef struct zap zap_t;

/* Binds the handler in `zmq_ctx` and starts its thread. Must be called
 * before the context's first CURVE server socket binds (a context without
 * a handler would accept every key). *out is the caller's (zap_destroy).
 * Errors: TALLY_E_TRANSPORT (another handler is bound), TALLY_E_NOMEM,
 * TALLY_E_INTERNAL (thread). */
int zap_new(zap_t **out, void *zmq_ctx);

/* Stops the thread and closes its socket; call before zmq_ctx_term. Safe
 * on NULL; sets *zap NULL. */
void zap_destroy(zap_t **zap);

/* Replaces the allow-list with `keys` (n Z85 strings, copied; invalid ones
 * are skipped). Returns 0 or TALLY_E_NOMEM (the old list stays). */
int zap_set_keys(zap_t *zap, const char *const *keys, size_t n);

/* With `on`, every valid CURVE key completes the handshake (the key is
 * still the connection's user id), whatever the list says; off again, the
 * list rules. For a replicated coordinator that is not the leader: it
 * answers every request NOT_LEADER and nothing else, and cannot know the
 * current keys (they are the leader's memory). Requests are still checked
 * against the caller's key once it serves (access.h). */
void zap_allow_any(zap_t *zap, int on);

/* True when `z85` is on the allow-list now. */
int zap_allows(zap_t *zap, const char *z85);

/* Handshakes accepted and refused since start. */
uint64_t zap_accepted(zap_t *zap);
uint64_t zap_refused(zap_t *zap);

#endif
