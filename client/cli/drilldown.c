/* drilldown: report cells down to their audits. See drilldown.h. */
#include "drilldown.h"

#include <string.h>

#include "attribution.h"

#define DRILLDOWN_MS_PER_DAY 86400000ull

void drilldown_filter_init(drilldown_filter_t *f) {
  memset(f, 0, sizeof *f);
  f->attribution = DRILLDOWN_ANY_ATTRIBUTION;
}

/* The label `labeler` gave in `j`, or NULL. */
static const char *label_of(const tally_judgment_t *j, const char *labeler) {
  for (size_t i = 0; i < j->label_count; i++)
    if (strcmp(j->labels[i].labeler, labeler) == 0) return j->labels[i].label;
  return NULL;
}

static int matches(const char *wanted, const char *value) { return wanted == NULL || strcmp(wanted, value) == 0; }

static int row_passes(const drilldown_row_t *r, const drilldown_filter_t *f) {
  return matches(f->labeler, r->labeler) && matches(f->labeler_label, r->labeler_label) &&
         matches(f->auditor_label, r->auditor_label) && matches(f->market, r->market) &&
         (f->attribution == DRILLDOWN_ANY_ATTRIBUTION || f->attribution == (int)r->attribution) &&
         (f->from_day == 0 || r->day >= f->from_day) && (f->to_day == 0 || r->day <= f->to_day) &&
         (f->policy_version == 0 || f->policy_version == r->policy_version);
}

int drilldown_rows(const tally_judgment_t *j, const drilldown_filter_t *f,
                   int (*fn)(void *arg, const drilldown_row_t *row), void *arg) {
  if (j->audit.labeler[0] == '\0') return 0;
  int unclear = j->attribution == TALLY_ATTRIBUTION_POLICY_UNCLEAR;
  for (size_t i = 0; i < j->audited_labeler_count; i++) {
    drilldown_row_t r = {.item_id = j->item_id,
                         .market = j->market,
                         .day = (uint32_t)(j->audit.at_ms / DRILLDOWN_MS_PER_DAY),
                         .labeler = j->audited_labelers[i],
                         .labeler_label = label_of(j, j->audited_labelers[i]),
                         .auditor_label = j->audit.label,
                         .final_label = j->final_label,
                         .closed_ms = j->closed_ms,
                         .policy_version = j->audit.policy_version ? j->audit.policy_version : 1};
    if (r.labeler_label == NULL) continue;
    r.attribution = strcmp(r.labeler_label, r.auditor_label) == 0
                        ? TALLY_ATTRIBUTION_NONE
                        : (tally_attribution_t)attribution_derive(r.labeler_label, r.auditor_label,
                                                                  r.final_label, unclear);
    if (!row_passes(&r, f)) continue;
    int rc = fn(arg, &r);
    if (rc != 0) return rc;
  }
  return 0;
}
