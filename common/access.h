/* access: who may send which request, and for whom.
 *
 * Identity comes from the CURVE key the ZAP handler accepted (zap.h,
 * router_request_t.user_id), resolved by the daemon to an identity_t: a
 * person (roles from their Labeler record), a worker, or the coordinator.
 * Never from a field of the request. access_check() then applies, on every
 * request of every daemon:
 *
 *  1. acting_for. A gateway (ROLE_GATEWAY) may name, in the envelope's
 *     acting_for, a person it signed in; the request is then checked as that
 *     person's. Anyone else may only name themselves there.
 *  2. The role table (access_roles_for; docs/SECURITY.md prints it): the
 *     effective identity must hold one of the roles the request needs.
 *  3. Person fields. A request that names the person it is for (lease,
 *     submit, skip, release, calibration_next, calibration_submit:
 *     `labeler`; feedback) is filled with the
 *     effective person when empty and refused when it names someone else,
 *     unless the caller is a gateway (acting for the named person) or, for
 *     feedback, a lead or manager (reading a labeler's closed audits).
 *
 * A daemon started --insecure has no keys: the caller is "anonymous" with
 * every role and request fields are trusted (benchmarks and isolated test
 * networks only).
 */
#ifndef TALLY_ACCESS_H
#define TALLY_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

#define ACCESS_ID_MAX 72

#define ACCESS_ALL_PERSON_ROLES                                                         \
  (TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_AUDITOR | TALLY__ROLE__ROLE_LEAD |      \
   TALLY__ROLE__ROLE_MANAGER | TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY)
#define ACCESS_ALL_ROLES \
  (ACCESS_ALL_PERSON_ROLES | TALLY__ROLE__ROLE_WORKER | TALLY__ROLE__ROLE_COORDINATOR)

typedef struct {
  char id[ACCESS_ID_MAX];  /* person id, "worker N", "coordinator", "anonymous" */
  uint32_t roles;          /* Role bit set */
  int is_person;           /* a Labeler record: person fields may name it */
} identity_t;

/* Looks up person `id`; 1 with *out filled (is_person set), 0 when unknown. */
typedef int (*access_find_person_fn)(void *user, const char *id, identity_t *out);

/* The roles of which a caller must hold one to send `body` (0: nobody,
 * e.g. a reply type). */
uint32_t access_roles_for(Tally__Envelope__BodyCase body);

/* The anonymous identity of an --insecure daemon: every role. */
void access_anonymous(identity_t *out);

/* Applies rules 1-3 above to `env` sent by `caller`. May rewrite the
 * request's person field (filled with the effective person; the old
 * string is freed, the new one malloc'ed, as protobuf-c frees it). Returns
 * 0 with *effective set, or PERMISSION_DENIED / UNKNOWN_LABELER with a
 * message in why that names only the caller's own data. */
int access_check(const identity_t *caller, Tally__Envelope *env, access_find_person_fn find,
                 void *user, identity_t *effective, char *why, size_t why_size);

/* "labeler,auditor" for a role set ("none" for 0). Returns buf. */
const char *access_roles_text(uint32_t roles, char *buf, size_t size);

/* Parses "labeler,auditor,..." into a role set; -1 on an unknown name. */
int access_roles_parse(const char *text, uint32_t *out);

#endif
