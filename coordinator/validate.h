/* validate: the rules for names and records the coordinator accepts.
 *
 * Everything here checks input that came from outside the process (a
 * request, a flag), so failures are answers, never asserts. Each function
 * returns 0 or TALLY_E_INVALID_ARGUMENT and then writes a one-line reason
 * into why[why_size] that names the offending value, quoted and made safe by
 * validate_quote(). The rules:
 *
 *   project name   1-64 characters of [A-Za-z0-9_.-]
 *   label          1-64 characters (UTF-8 code points), valid UTF-8, no
 *                  control characters, no leading or trailing space
 *   market         1-32 characters of [A-Za-z0-9_-]
 *   labeler id     1-64 characters of [A-Za-z0-9_.@-]
 *   endpoint       1-255 printable ASCII characters containing "://"
 */
#ifndef TALLY_COORDINATOR_VALIDATE_H
#define TALLY_COORDINATOR_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

#define VALIDATE_MAX_NAME 64u      /* project names, labels, labeler ids */
#define VALIDATE_MAX_MARKET 32u
#define VALIDATE_MAX_LIST 64u      /* labels or markets of one record */
#define VALIDATE_MAX_ENDPOINT 255u

#define PROJECT_DEFAULT_LEASE_SECONDS 300u
#define PROJECT_MAX_LEASE_SECONDS 86400u
#define PROJECT_DEFAULT_OVERLAP 1u
#define PROJECT_MAX_OVERLAP 16u
#define PROJECT_DEFAULT_SLA_SECONDS 86400u

#define LABELER_ALL_ROLES                                                        \
  (TALLY__ROLE__ROLE_LABELER | TALLY__ROLE__ROLE_AUDITOR | TALLY__ROLE__ROLE_LEAD | \
   TALLY__ROLE__ROLE_MANAGER | TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY)
/* Roles a person needs no market for (they do not take tasks). */
#define LABELER_MARKETLESS_ROLES \
  (TALLY__ROLE__ROLE_MANAGER | TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY)

int validate_project_name(const char *name, char *why, size_t why_size);
int validate_label(const char *label, char *why, size_t why_size);
int validate_market(const char *market, char *why, size_t why_size);
int validate_labeler_id(const char *id, char *why, size_t why_size);
int validate_endpoint(const char *endpoint, char *why, size_t why_size);

/* Checks a project as sent in project_create and applies the defaults in
 * place (lease_seconds 0 -> 300, overlap 0 -> 1, sla_seconds 0 -> 86400).
 * Also checks: labels non-empty, unique, at most 64; markets non-empty,
 * unique, at most 64; lease_seconds <= 86400; audit_rate in [0, 1];
 * overlap <= 16. Does not look at id or created_ms (the coordinator sets
 * them). */
int validate_project(Tally__Project *project, char *why, size_t why_size);

/* Wellbeing settings (worker/wellbeing.h). */
#define WELLBEING_MAX_BUDGET 100000u
#define WELLBEING_DEFAULT_SHIFT_HOURS 8u

/* Checks the wellbeing settings of a project with the taxonomy `labels`:
 * every high-severity label is in the taxonomy, at most once; budget at
 * most WELLBEING_MAX_BUDGET; shift_hours 0 (-> 8, applied in place) or a
 * divisor of 24 (1, 2, 3, 4, 6, 8, 12, 24), so that shifts tile UTC days.
 * Returns 0, TALLY_E_LABEL_NOT_IN_TAXONOMY or TALLY_E_INVALID_ARGUMENT. */
int validate_wellbeing(char *const *labels, size_t n_labels, char *const *high, size_t n_high,
                       uint32_t budget, uint32_t *shift_hours, char *why, size_t why_size);

/* Limits of an audit policy (besides rates in [0, 1]). */
#define AUDIT_MAX_RAMP_AUDITS 1000000u
/* The largest gold rate (worker/gold_mix.h, GOLD_MIX_RATE_MAX). */
#define AUDIT_MAX_GOLD_RATE 0.5

/* Checks an audit policy for a project with the n_markets `markets`: rate,
 * ramp_rate and ramp_target in [0, 1] (NaN refused), ramp_audits at most
 * AUDIT_MAX_RAMP_AUDITS, gold_rate in [0, AUDIT_MAX_GOLD_RATE], and every
 * market rate in [0, 1] for a market of the
 * project, each market at most once. Returns 0, TALLY_E_UNKNOWN_MARKET (a
 * market rate names a market the project does not have) or
 * TALLY_E_INVALID_ARGUMENT; `why` names the field ("audit.ramp_rate"). */
int validate_audit_policy(const Tally__AuditPolicy *policy, char *const *markets,
                          size_t n_markets, char *why, size_t why_size);

/* Checks a labeler as sent in labeler_add: id, roles a non-zero subset of
 * LABELER_ALL_ROLES, public_key empty or a valid Z85 CURVE key, markets
 * valid and unique, at most 64, and non-empty unless the person has one of
 * LABELER_MARKETLESS_ROLES (manager, operator, gateway). */
int validate_labeler(const Tally__Labeler *labeler, char *why, size_t why_size);

/* Applies labeler_update `update` to `current` and writes the result into
 * *out (id borrowed from current; roles; markets in *out point into
 * `markets`, room for VALIDATE_MAX_LIST entries, borrowed from current and
 * update): set_roles 0 keeps the roles; current markets minus
 * remove_markets, then add_markets not yet present, in order. Checks every
 * named market, no market both added and removed, and the result with
 * validate_labeler (so a non-manager keeps at least one market, at most
 * VALIDATE_MAX_LIST); set_public_key "" keeps the key. Returns 0 or TALLY_E_INVALID_ARGUMENT with `why`. */
int validate_labeler_update(const Tally__Labeler *current, const Tally__LabelerUpdate *update,
                            char **markets, Tally__Labeler *out, char *why, size_t why_size);

/* Copies at most 64 bytes of `text` into out[out_size] for use inside an
 * error message: printable ASCII is kept, every other byte becomes \xNN, and
 * "..." marks a cut. The result is always valid UTF-8 and NUL-terminated. */
void validate_quote(const char *text, char *out, size_t out_size);

#endif
