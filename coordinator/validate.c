/* validate: name and record rules. See validate.h. */
#include "validate.h"

#include "curve.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ident.h"
#include "tally_error.h"

#define QUOTE_BYTES 64u
#define QUOTE_SIZE (QUOTE_BYTES * 4u + 8u)

/* Writes the formatted reason and returns TALLY_E_INVALID_ARGUMENT. */
__attribute__((format(printf, 3, 4))) static int invalid(char *why, size_t why_size,
                                                         const char *fmt, ...) {
  if (why != NULL && why_size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
  }
  return TALLY_E_INVALID_ARGUMENT;
}

void validate_quote(const char *text, char *out, size_t out_size) {
  static const char hex[] = "0123456789abcdef";
  size_t used = 0, i = 0;
  if (out_size == 0) return;
  for (; text[i] != '\0' && i < QUOTE_BYTES; i++) {
    unsigned char c = (unsigned char)text[i];
    int plain = c >= 0x20 && c < 0x7f;
    size_t need = plain ? 1 : 4;
    if (used + need + 4 > out_size) break;
    if (plain) {
      out[used++] = (char)c;
    } else {
      out[used++] = '\\';
      out[used++] = 'x';
      out[used++] = hex[c >> 4];
      out[used++] = hex[c & 15];
    }
  }
  if (text[i] != '\0' && used + 4 <= out_size) {
    memcpy(out + used, "...", 3);
    used += 3;
  }
  out[used] = '\0';
}

/* Checks a name made of [A-Za-z0-9] plus the characters in `extra`. */
static int validate_token(const char *what, const char *value, size_t max, const char *extra,
                          const char *allowed_text, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  size_t len = strlen(value);
  if (len == 0) return invalid(why, why_size, "%s is empty", what);
  validate_quote(value, quoted, sizeof quoted);
  if (len > max)
    return invalid(why, why_size, "%s '%s' is longer than %zu characters", what, quoted, max);
  for (size_t i = 0; i < len; i++) {
    char c = value[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             strchr(extra, c) != NULL;
    if (!ok)
      return invalid(why, why_size, "%s '%s' may only contain %s", what, quoted, allowed_text);
  }
  return 0;
}

int validate_project_name(const char *name, char *why, size_t why_size) {
  return validate_token("project name", name, VALIDATE_MAX_NAME, "_.-",
                        "letters, digits, '_', '.' and '-'", why, why_size);
}

int validate_market(const char *market, char *why, size_t why_size) {
  return validate_token("market", market, VALIDATE_MAX_MARKET, "_-",
                        "letters, digits, '_' and '-'", why, why_size);
}

int validate_labeler_id(const char *id, char *why, size_t why_size) {
  return validate_token("labeler id", id, VALIDATE_MAX_NAME, "_.@-",
                        "letters, digits, '_', '.', '@' and '-'", why, why_size);
}

int validate_label(const char *label, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  const unsigned char *s = (const unsigned char *)label;
  size_t len = strlen(label), characters = 0;
  if (len == 0) return invalid(why, why_size, "label is empty");
  validate_quote(label, quoted, sizeof quoted);
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = ident_utf8_decode(s + i, len - i, &cp);
    if (n == 0) return invalid(why, why_size, "label '%s' is not valid UTF-8", quoted);
    if (ident_is_control(cp))
      return invalid(why, why_size, "label '%s' contains a control character", quoted);
    i += n;
    characters++;
  }
  if (characters > VALIDATE_MAX_NAME)
    return invalid(why, why_size, "label '%s' is longer than %u characters", quoted,
                   VALIDATE_MAX_NAME);
  if (label[0] == ' ' || label[len - 1] == ' ')
    return invalid(why, why_size, "label '%s' starts or ends with a space", quoted);
  return 0;
}

int validate_endpoint(const char *endpoint, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  size_t len = strlen(endpoint);
  if (len == 0) return invalid(why, why_size, "endpoint is empty");
  validate_quote(endpoint, quoted, sizeof quoted);
  if (len > VALIDATE_MAX_ENDPOINT)
    return invalid(why, why_size, "endpoint '%s' is longer than %u characters", quoted,
                   VALIDATE_MAX_ENDPOINT);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)endpoint[i];
    if (c <= 0x20 || c >= 0x7f)
      return invalid(why, why_size, "endpoint '%s' contains a space or non-ASCII byte", quoted);
  }
  if (strstr(endpoint, "://") == NULL)
    return invalid(why, why_size, "endpoint '%s' is not of the form transport://address",
                   quoted);
  return 0;
}

typedef int (*item_check_fn)(const char *value, char *why, size_t why_size);

/* Checks a list of names: each valid, unique, at most VALIDATE_MAX_LIST.
 * `what` is the singular noun ("label"), used in messages. */
static int validate_list(const char *what, char *const *items, size_t count, int may_be_empty,
                         item_check_fn check, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  if (count == 0 && !may_be_empty) return invalid(why, why_size, "%s list is empty", what);
  if (count > VALIDATE_MAX_LIST)
    return invalid(why, why_size, "too many %ss: %zu (at most %u)", what, count,
                   VALIDATE_MAX_LIST);
  for (size_t i = 0; i < count; i++) {
    int rc = check(items[i], why, why_size);
    if (rc < 0) return rc;
    for (size_t j = 0; j < i; j++) {
      if (strcmp(items[i], items[j]) == 0) {
        validate_quote(items[i], quoted, sizeof quoted);
        return invalid(why, why_size, "duplicate %s '%s'", what, quoted);
      }
    }
  }
  return 0;
}

int validate_project(Tally__Project *project, char *why, size_t why_size) {
  int rc = validate_project_name(project->name, why, why_size);
  if (rc == 0)
    rc = validate_list("label", project->labels, project->n_labels, 0, validate_label, why,
                       why_size);
  if (rc == 0)
    rc = validate_list("market", project->markets, project->n_markets, 0, validate_market, why,
                       why_size);
  if (rc < 0) return rc;
  if (project->lease_seconds > PROJECT_MAX_LEASE_SECONDS)
    return invalid(why, why_size, "lease_seconds %u is out of range (1..%u, 0 for %u)",
                   project->lease_seconds, PROJECT_MAX_LEASE_SECONDS,
                   PROJECT_DEFAULT_LEASE_SECONDS);
  if (!(project->audit_rate >= 0.0 && project->audit_rate <= 1.0))
    return invalid(why, why_size, "audit_rate %g is out of range (0..1)", project->audit_rate);
  if (project->overlap > PROJECT_MAX_OVERLAP)
    return invalid(why, why_size, "overlap %u is out of range (1..%u)", project->overlap,
                   PROJECT_MAX_OVERLAP);
  if (project->lease_seconds == 0) project->lease_seconds = PROJECT_DEFAULT_LEASE_SECONDS;
  if (project->overlap == 0) project->overlap = PROJECT_DEFAULT_OVERLAP;
  if (project->sla_seconds == 0) project->sla_seconds = PROJECT_DEFAULT_SLA_SECONDS;
  return 0;
}

int validate_labeler(const Tally__Labeler *labeler, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  int rc = validate_labeler_id(labeler->id, why, why_size);
  if (rc < 0) return rc;
  validate_quote(labeler->id, quoted, sizeof quoted);
  if (labeler->roles == 0 || (labeler->roles & ~(uint32_t)LABELER_ALL_ROLES) != 0)
    return invalid(why, why_size,
                   "labeler '%s' has roles %u; roles must be a non-empty set of LABELER(1), "
                   "AUDITOR(2), LEAD(4), MANAGER(8), OPERATOR(16), GATEWAY(32)",
                   quoted, labeler->roles);
  if (labeler->public_key != NULL && labeler->public_key[0] != '\0' &&
      !curve_key_is_valid(labeler->public_key))
    return invalid(why, why_size,
                   "the public key of '%s' is not a CURVE key (40 Z85 characters, as made by "
                   "`tally keys generate`)",
                   quoted);
  int manager = (labeler->roles & LABELER_MARKETLESS_ROLES) != 0;
  if (labeler->n_markets == 0 && !manager)
    return invalid(why, why_size, "labeler '%s' has no markets (only managers may have none)",
                   quoted);
  return validate_list("market", labeler->markets, labeler->n_markets, 1, validate_market, why,
                       why_size);
}

static int has_market(char *const *markets, size_t n_markets, const char *market);

int validate_labeler_update(const Tally__Labeler *current, const Tally__LabelerUpdate *update,
                            char **markets, Tally__Labeler *out, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  tally__labeler__init(out);
  out->id = current->id;
  out->roles = update->set_roles ? update->set_roles : current->roles;
  out->public_key = update->set_public_key != NULL && update->set_public_key[0] != '\0'
                        ? update->set_public_key
                        : current->public_key;
  out->markets = markets;
  int rc = validate_list("market", update->add_markets, update->n_add_markets, 1,
                         validate_market, why, why_size);
  if (rc == 0)
    rc = validate_list("market", update->remove_markets, update->n_remove_markets, 1,
                       validate_market, why, why_size);
  if (rc < 0) return rc;
  for (size_t i = 0; i < update->n_add_markets; i++) {
    if (has_market(update->remove_markets, update->n_remove_markets, update->add_markets[i])) {
      validate_quote(update->add_markets[i], quoted, sizeof quoted);
      return invalid(why, why_size, "market '%s' is both added and removed", quoted);
    }
  }
  size_t n = 0;
  for (size_t i = 0; i < current->n_markets && n < VALIDATE_MAX_LIST; i++)
    if (!has_market(update->remove_markets, update->n_remove_markets, current->markets[i]))
      markets[n++] = current->markets[i];
  for (size_t i = 0; i < update->n_add_markets; i++) {
    if (has_market(markets, n, update->add_markets[i])) continue;
    if (n == VALIDATE_MAX_LIST)
      return invalid(why, why_size, "too many markets (at most %u)", VALIDATE_MAX_LIST);
    markets[n++] = update->add_markets[i];
  }
  out->n_markets = n;
  return validate_labeler(out, why, why_size);
}

/* True when v is a share: 0 <= v <= 1 (false for NaN). */
static int is_share(double v) { return v >= 0.0 && v <= 1.0; }

static int has_market(char *const *markets, size_t n_markets, const char *market) {
  for (size_t i = 0; i < n_markets; i++)
    if (strcmp(markets[i], market) == 0) return 1;
  return 0;
}

int validate_audit_policy(const Tally__AuditPolicy *policy, char *const *markets,
                          size_t n_markets, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  if (!is_share(policy->rate))
    return invalid(why, why_size, "audit.rate %g is out of range (0..1)", policy->rate);
  if (!is_share(policy->ramp_rate))
    return invalid(why, why_size, "audit.ramp_rate %g is out of range (0..1)", policy->ramp_rate);
  if (!is_share(policy->ramp_target))
    return invalid(why, why_size, "audit.ramp_target %g is out of range (0..1)",
                   policy->ramp_target);
  if (!(policy->gold_rate >= 0.0 && policy->gold_rate <= AUDIT_MAX_GOLD_RATE))
    return invalid(why, why_size, "audit.gold_rate %g is out of range (0..%g)", policy->gold_rate,
                   AUDIT_MAX_GOLD_RATE);
  if (policy->ramp_audits > AUDIT_MAX_RAMP_AUDITS)
    return invalid(why, why_size, "audit.ramp_audits %u is out of range (at most %u)",
                   policy->ramp_audits, AUDIT_MAX_RAMP_AUDITS);
  for (size_t i = 0; i < policy->n_market_rates; i++) {
    const Tally__MarketRate *rate = policy->market_rates[i];
    validate_quote(rate->market, quoted, sizeof quoted);
    if (!has_market(markets, n_markets, rate->market)) {
      invalid(why, why_size, "audit.market_rates: '%s' is not a market of the project", quoted);
      return TALLY_E_UNKNOWN_MARKET;
    }
    if (!is_share(rate->rate))
      return invalid(why, why_size, "audit.market_rates: rate %g of market '%s' is out of range (0..1)",
                     rate->rate, quoted);
    for (size_t j = 0; j < i; j++)
      if (strcmp(policy->market_rates[j]->market, rate->market) == 0)
        return invalid(why, why_size, "audit.market_rates: duplicate market '%s'", quoted);
  }
  return 0;
}

int validate_wellbeing(char *const *labels, size_t n_labels, char *const *high, size_t n_high,
                       uint32_t budget, uint32_t *shift_hours, char *why, size_t why_size) {
  char quoted[QUOTE_SIZE];
  for (size_t i = 0; i < n_high; i++) {
    validate_quote(high[i], quoted, sizeof quoted);
    int known = 0;
    for (size_t j = 0; j < n_labels && !known; j++) known = strcmp(labels[j], high[i]) == 0;
    if (!known) {
      invalid(why, why_size, "high-severity label '%s' is not in the taxonomy", quoted);
      return TALLY_E_LABEL_NOT_IN_TAXONOMY;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(high[j], high[i]) == 0)
        return invalid(why, why_size, "high-severity label '%s' is given twice", quoted);
  }
  if (budget > WELLBEING_MAX_BUDGET)
    return invalid(why, why_size, "exposure_budget %u is out of range (0..%u, 0 = no limit)",
                   budget, WELLBEING_MAX_BUDGET);
  if (*shift_hours == 0) *shift_hours = WELLBEING_DEFAULT_SHIFT_HOURS;
  if (*shift_hours > 24 || 24 % *shift_hours != 0)
    return invalid(why, why_size,
                   "shift_hours %u must divide a day: 1, 2, 3, 4, 6, 8, 12 or 24 (0 for %u)",
                   *shift_hours, WELLBEING_DEFAULT_SHIFT_HOURS);
  return 0;
}
