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

#include "config_cache.h"
#include "item_record.h"
#include "responder.h"
#include "store.h"

#define CASES_DEFAULT_LIMIT 100u
#define CASES_MAX_LIMIT 1000u

typedef struct cases cases_t;

/* The case database over `store` (its "cases" and "items" families), with
 * the worker's configuration and `owned` (TALLY_SLOT_COUNT flags: the slots
 * this worker serves), all borrowed for the object's life. NULL when out of
 * memory. cases_destroy(&c), safe on NULL and twice. */
cases_t *cases_new(store_t *store, const config_cache_t *config, const uint8_t *owned);
void cases_destroy(cases_t **cases);

/* Records the case of `rec`, just closed by a verdict (final_label,
 * attribution, adjudicator, note and closed_ms set), in the open batch. */
void cases_on_verdict(cases_t *cases, uint32_t slot, uint32_t project_id, const char *item_id,
                      size_t item_len, const item_record_t *rec);

/* Request handlers: cases_request and case_get. A cases_request with
 * search filters (text, attribution, labeler, label pair) is answered from
 * the same newest-first scan: the text is looked for in the case's note,
 * then in the item's content, both with ASCII case folded; filters on
 * labelers and labels read the item's record (closed items only: a case
 * exists only once its audit closed). Bad search bounds: INVALID_ARGUMENT. */
void cases_handle_list(cases_t *cases, responder_t *r);
void cases_handle_get(cases_t *cases, responder_t *r);

#endif
