/* names: text forms of stages, priorities, roles, worker states, lease
 * tokens, attributions, report groupings and report days, shared by the
 * library and the CLI. See tally.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slot.h"
#include "tally.h"

static const char *const stage_names[] = {"label", "audit", "adjudicate"};
static const char *const priority_names[] = {"low", "normal", "high", "emergency"};
static const struct {
  tally_role_t role;
  const char *name;
} role_names[] = {{TALLY_ROLE_LABELER, "labeler"},
                  {TALLY_ROLE_AUDITOR, "auditor"},
                  {TALLY_ROLE_LEAD, "lead"},
                  {TALLY_ROLE_MANAGER, "manager"},
                  {TALLY_ROLE_OPERATOR, "operator"},
                  {TALLY_ROLE_GATEWAY, "gateway"}};

const char *tally_stage_name(int stage) {
  return stage >= 0 && stage < 3 ? stage_names[stage] : "unknown";
}

int tally_stage_parse(const char *name, tally_stage_t *out) {
  for (int i = 0; i < 3; i++) {
    if (strcasecmp(name, stage_names[i]) == 0) {
      *out = (tally_stage_t)i;
      return 0;
    }
  }
  return TALLY_E_INVALID_ARGUMENT;
}

const char *tally_priority_name(uint32_t priority) {
  return priority < 4 ? priority_names[priority] : "unknown";
}

int tally_priority_parse(const char *text, uint32_t *out) {
  if (text[0] >= '0' && text[0] <= '3' && text[1] == '\0') {
    *out = (uint32_t)(text[0] - '0');
    return 0;
  }
  for (uint32_t i = 0; i < 4; i++) {
    if (strcasecmp(text, priority_names[i]) == 0) {
      *out = i;
      return 0;
    }
  }
  return TALLY_E_INVALID_ARGUMENT;
}

const char *tally_role_name(tally_role_t role) {
  for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
    if (role_names[i].role == role) return role_names[i].name;
  return NULL;
}

int tally_roles_parse(const char *list, uint32_t *out) {
  uint32_t roles = 0;
  const char *p = list;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len > 0 && (*p == ' ' || *p == '\t')) p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    int found = 0;
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
      if (strlen(role_names[i].name) == len && strncasecmp(p, role_names[i].name, len) == 0) {
        roles |= (uint32_t)role_names[i].role;
        found = 1;
      }
    }
    if (!found) return TALLY_E_INVALID_ARGUMENT;
    if (end == NULL) break;
    p = end + 1;
  }
  *out = roles;
  return 0;
}

int tally_roles_format(uint32_t roles, char *buf, size_t size) {
  size_t used = 0;
  if (size > 0) buf[0] = '\0';
  for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
    if (!(roles & (uint32_t)role_names[i].role)) continue;
    int n = snprintf(used < size ? buf + used : NULL, used < size ? size - used : 0, "%s%s",
                     used ? "," : "", role_names[i].name);
    used += (size_t)n;
  }
  return (int)used;
}

const char *tally_worker_state_name(int state) {
  switch (state) {
    case TALLY_WORKER_UP: return "up";
    case TALLY_WORKER_DOWN: return "down";
    case TALLY_WORKER_DRAINING: return "draining";
    default: return "unknown";
  }
}

int tally_lease_token_format(uint32_t slot, uint64_t lease_id, char *buf, size_t size) {
  int n = snprintf(buf, size, "%u.%llu", slot, (unsigned long long)lease_id);
  return n < 0 || (size_t)n >= size ? TALLY_E_INVALID_ARGUMENT : 0;
}

/* Parses a run of decimal digits at *p that fits `max`; advances *p. */
static int parse_decimal(const char **p, uint64_t max, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (*s < '0' || *s > '9') return -1;
  for (; *s >= '0' && *s <= '9'; s++) {
    uint64_t digit = (uint64_t)(*s - '0');
    if (v > (max - digit) / 10) return -1;
    v = v * 10 + digit;
  }
  *p = s;
  *out = v;
  return 0;
}

int tally_lease_token_parse(const char *token, uint32_t *slot, uint64_t *lease_id) {
  const char *p = token;
  uint64_t s = 0, id = 0;
  if (parse_decimal(&p, TALLY_SLOT_COUNT - 1, &s) < 0 || *p++ != '.') return TALLY_E_INVALID_ARGUMENT;
  if (parse_decimal(&p, UINT64_MAX, &id) < 0 || *p != '\0') return TALLY_E_INVALID_ARGUMENT;
  *slot = (uint32_t)s;
  *lease_id = id;
  return 0;
}

/* ------------------------------------------------------------ attributions, groupings */

static const char *const attribution_names[] = {"none", "labeler", "auditor", "both", "policy-unclear"};
static const char *const report_by_names[] = {"none", "labeler", "market", "category", "day", "version"};

const char *tally_attribution_name(int attribution) {
  return attribution >= 0 && attribution < 5 ? attribution_names[attribution] : "unknown";
}

int tally_attribution_parse(const char *name, tally_attribution_t *out) {
  for (int i = TALLY_ATTRIBUTION_LABELER; i <= TALLY_ATTRIBUTION_POLICY_UNCLEAR; i++) {
    if (strcasecmp(name, attribution_names[i]) == 0) {
      *out = (tally_attribution_t)i;
      return 0;
    }
  }
  if (strcasecmp(name, "policy_unclear") == 0 || strcasecmp(name, "policy") == 0) {
    *out = TALLY_ATTRIBUTION_POLICY_UNCLEAR;
    return 0;
  }
  return TALLY_E_INVALID_ARGUMENT;
}

const char *tally_report_by_name(int by) { return by >= 0 && by < 6 ? report_by_names[by] : "unknown"; }

int tally_report_by_parse(const char *name, tally_report_by_t *out) {
  if (name[0] == '\0') {
    *out = TALLY_REPORT_BY_NONE;
    return 0;
  }
  for (int i = 0; i < 6; i++) {
    if (strcasecmp(name, report_by_names[i]) == 0) {
      *out = (tally_report_by_t)i;
      return 0;
    }
  }
  return TALLY_E_INVALID_ARGUMENT;
}

/* ------------------------------------------------------------ days */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil), for y >= 1970. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = y / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Reads exactly n decimal digits. */
static int parse_digits(const char *s, int n, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return 0;
}

#define DAY_MAX 2932896u /* 9999-12-31 */

int tally_day_parse(const char *text, uint32_t *day) {
  static const unsigned month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned y, m, d;
  if (text == NULL || strlen(text) != 10 || text[4] != '-' || text[7] != '-') return TALLY_E_INVALID_ARGUMENT;
  if (parse_digits(text, 4, &y) < 0 || parse_digits(text + 5, 2, &m) < 0 || parse_digits(text + 8, 2, &d) < 0)
    return TALLY_E_INVALID_ARGUMENT;
  if (y < 1970 || m < 1 || m > 12 || d < 1) return TALLY_E_INVALID_ARGUMENT;
  if (d > month_days[m - 1] + (m == 2 && is_leap(y))) return TALLY_E_INVALID_ARGUMENT;
  *day = (uint32_t)days_from_civil(y, m, d);
  return 0;
}

int tally_day_format(uint32_t day, char *buf, size_t size) {
  if (day > DAY_MAX) return TALLY_E_INVALID_ARGUMENT;
  /* H. Hinnant's civil_from_days. */
  int64_t z = (int64_t)day + 719468;
  int64_t era = z / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
  int n = snprintf(buf, size, "%04lld-%02u-%02u", (long long)y, m, d);
  return n < 0 || (size_t)n >= size ? TALLY_E_INVALID_ARGUMENT : 0;
}
