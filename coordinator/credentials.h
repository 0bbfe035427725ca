/* credentials: what the gateway's console and API need to sign people in:
 * each person's password hash (argon2id, made by the gateway) and console
 * language, API tokens (stored by the SHA-256 of the token, never the
 * token), and the cluster's session key. Kept in the meta store's
 * credentials column family only (read on request, not held in memory).
 *
 * Apply points (each ONE synced meta_batch before the reply):
 *  - credential_set: the person's Credential record (password hash and
 *    language when given, changed_ms, token_count), a new token's record,
 *    every token of the person deleted with revoke_tokens, and admin log
 *    "credential_set" that says what changed but never a hash.
 *  - credential_get with session_key, the first time: the session key
 *    (32 random bytes) and admin log "session_key_create" (without the
 *    key).
 * Only an operator may set the credentials of an operator or gateway.
 */
#ifndef TALLY_COORDINATOR_CREDENTIALS_H
#define TALLY_COORDINATOR_CREDENTIALS_H

#include "coordinator.h"
#include "tally.pb-c.h"

/* credential_set (answered with an Ack) and credential_get (a person by id
 * or by token hash, and/or the session key). */
void credentials_handle_set(coordinator_t *c, const Tally__Envelope *request,
                            const coordinator_replier_t *r);
void credentials_handle_get(coordinator_t *c, const Tally__Envelope *request,
                            const coordinator_replier_t *r);

#endif
