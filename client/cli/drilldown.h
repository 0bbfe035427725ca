/* drilldown: the closed audits behind a cell of the quality and confusion
 * reports (`tally report items`, issue 16 item 5), computed in the client
 * from what `tally export judgments` streams.
 *
 * A report counts one audit per audited labeler of an item (the worker's
 * quality_on_audit): the pair (that labeler's label, the auditor's label),
 * in the item's market, on the UTC day the auditor submitted. A drill-down
 * row is that same unit: one per (closed item, audited labeler with a
 * label). Its attribution is the one the statistics counted for that
 * labeler: NONE when their label equals the auditor's, otherwise derived
 * from the final label as the worker derives it (common/attribution.h),
 * POLICY_UNCLEAR when the lead said the policy was unclear.
 *
 * Only closed audits are exported, so an audit waiting for the lead's
 * verdict is in the report's audits and confusion but not here until it
 * closes. Pure functions: no I/O, no allocation.
 */
#ifndef TALLY_CLIENT_DRILLDOWN_H
#define TALLY_CLIENT_DRILLDOWN_H
#include <stdint.h>

#include "tally.h"

#define DRILLDOWN_ANY_ATTRIBUTION (-1)

/* Filters; NULL / 0 / DRILLDOWN_ANY_ATTRIBUTION = any. Strings borrowed. */
typedef struct {
  const char *labeler;
  const char *labeler_label; /* --pair A:B, A */
  const char *auditor_label; /* --pair A:B, B */
  int attribution;           /* a tally_attribution_t, NONE = agreed */
  const char *market;
  uint32_t from_day; /* inclusive, days since 1970-01-01 (UTC) */
  uint32_t to_day;   /* inclusive */
  uint32_t policy_version; /* the audit's guideline version (as `--by version` counts it); 0 = any */
} drilldown_filter_t;

/* One audit of one labeler. Every string is borrowed from the judgment. */
typedef struct {
  const char *item_id;
  const char *market;
  uint32_t day; /* UTC day of the audit */
  const char *labeler;
  const char *labeler_label;
  const char *auditor_label;
  const char *final_label;
  tally_attribution_t attribution;
  uint64_t closed_ms;
  uint32_t policy_version; /* of the audit: the version the report's audits count under */
} drilldown_row_t;

/* The filter that takes everything. */
void drilldown_filter_init(drilldown_filter_t *f);

/* Calls fn(arg, row) for every audit of judgment `j` that passes `f`, in
 * the order of j->audited_labelers; stops at fn's first non-zero value and
 * returns it. Returns 0 otherwise (also for a judgment without an audit
 * label, which no report counts). */
int drilldown_rows(const tally_judgment_t *j, const drilldown_filter_t *f,
                   int (*fn)(void *arg, const drilldown_row_t *row), void *arg);

#endif
