/* cases: the case database of adjudicated disagreements.
 *
 * When a lead's verdict closes an item, a CaseRecord (market, final label,
 * attribution, lead, note, the two disputed labels as A and B in the order
 * the lead saw them, closed time) goes into the "cases" column family in
 * the verdict's own batch, keyed slot first and newest first
 * (common/keys.h), so a slot's cases move with it. Leads read them to align
 * policy across teams: cases_request lists this worker's cases of a project
 * newest first (filters: final label, market, first day; paged by `after`),
 * and case_get shows one case with its content, read from the item record.
 */
#ifndef TALLY_WORKER_CASES_H
#define TALLY_WORKER_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "item_record.h"
#include "worker_internal.h"

#define CASES_DEFAULT_LIMIT 100u
#define CASES_MAX_LIMIT 1000u

/* Records the case of `rec`, just closed by a verdict (final_label,
 * attribution, adjudicator, note and closed_ms set), in the open batch. */
void cases_on_verdict(worker_t *w, uint32_t slot, uint32_t project_id, const char *item_id,
                      size_t item_len, const item_record_t *rec);

/* Request handlers: cases_request and case_get. A cases_request with
 * search filters (text, attribution, labeler, label pair) is answered from
 * the same newest-first scan: the text is looked for in the case's note,
 * then in the item's content, both with ASCII case folded; filters on
 * labelers and labels read the item's record (closed items only: a case
 * exists only once its audit closed). Bad search bounds: INVALID_ARGUMENT. */
void cases_handle_list(worker_t *w, const router_request_t *req);
void cases_handle_get(worker_t *w, const router_request_t *req);

#endif
