/* wellbeing: the high-severity exposure budget of the people on a project.
 *
 * A project names taxonomy labels whose content is harmful to see
 * (Project.high_severity) and a budget: at most exposure_budget such items
 * per person per shift (0 = no limit). Shifts are fixed UTC-aligned
 * windows: shift = unix_ms / (shift_hours * 3600000), shift_hours 0 = 8.
 *
 * An item is known to be high-severity when its category_hint (given at
 * ingest) or a label already stored on it (labels, audit) is a
 * high-severity label. Such an item is not offered to a person whose
 * exposure this shift has reached the budget (any stage: labelers,
 * auditors and leads all see the content). Granting the lease counts it at
 * once (no refund on release, skip or expiry: the person saw it). A submit
 * that gives a high-severity label on a lease that was not counted (the
 * item was not known to be high-severity) counts too: a discovery, which
 * may take a person past the budget. The budget caps what is known at
 * lease time.
 *
 * Counts are per worker: each worker counts the items of its slots and
 * enforces its share of the budget (wellbeing_share: the budget split over
 * the workers that own slots), so the shares add up to the budget and a
 * person never sees more known high-severity items per shift across the
 * cluster. Reports add the workers' counts.
 *
 * Storage: the "exposure" column family, written in the batch of the lease
 * or submit and read through it (so a group sees its own increments):
 *   key   : project_id u32 | shift u64 | labeler bytes   (big-endian)
 *   value : count u64 (big-endian)
 * Format 1. Changing it needs a start-up migration (common/keys.h).
 */
#ifndef TALLY_WELLBEING_H
#define TALLY_WELLBEING_H

#include <stdint.h>

#include "config_cache.h"
#include "item_record.h"
#include "responder.h"
#include "store.h"
#include "tally.pb-c.h"

typedef struct wellbeing wellbeing_t;

/* Exposure counts over `store` (family exposure, read and written through
 * the open batch), with the worker's configuration, `map` (where the
 * worker keeps its current slot map, NULL before one arrives) and
 * `worker_id` (where it keeps its id, 0 before registration): the map and
 * the id are read at each use, since both change; all borrowed for the
 * object's life. NULL when out of memory. wellbeing_destroy(&wb), safe on
 * NULL and twice. */
wellbeing_t *wellbeing_new(store_t *store, const config_cache_t *config,
                           Tally__ClusterMap *const *map, const uint32_t *worker_id);
void wellbeing_destroy(wellbeing_t **wb);

/* The shift of `now_ms` (unix ms) under the project's shift length. */
uint64_t wellbeing_shift_of(const Tally__Project *p, uint64_t now_ms);

/* True when `label` is one of the project's high-severity labels. */
int wellbeing_label_is_high(const Tally__Project *p, const char *label);

/* True when the item is known to be high-severity (hint or stored labels). */
int wellbeing_item_is_high(const Tally__Project *p, const item_record_t *rec);

/* This worker's share of a per-person budget: the budget split over the
 * workers that own slots, so that the shares add up to the budget. */
uint32_t wellbeing_share(const wellbeing_t *wb, uint32_t budget);

/* True when `labeler` may be offered `rec` now: the item is not known to
 * be high-severity, the project has no budget, or the person's exposure
 * this shift is below this worker's share of it. */
int wellbeing_may_see(wellbeing_t *wb, const Tally__Project *p, const item_record_t *rec,
                      const char *labeler, uint64_t now_ms);

/* A lease of `rec` was granted to `labeler`: counts it when the item is
 * known to be high-severity. Returns 1 when counted, else 0. */
int wellbeing_on_lease(wellbeing_t *wb, const Tally__Project *p, const item_record_t *rec,
                       const char *labeler, uint64_t now_ms);

/* A submit of `label` on a lease: counts a discovery when the label is
 * high-severity and the lease was not counted at grant. */
void wellbeing_on_submit(wellbeing_t *wb, const Tally__Project *p, const char *labeler,
                         const char *label, int lease_counted, uint64_t now_ms);

/* Request handler: exposure_request. */
void wellbeing_handle_exposure(wellbeing_t *wb, responder_t *r);

/* Adds an exposure count of another worker (a drained worker handing its
 * counts over) to this worker's count of the same key, in the open batch.
 * Returns 0 or TALLY_E_INVALID_ARGUMENT (not an 8-byte count). */
int wellbeing_merge_row(wellbeing_t *wb, const uint8_t *key, size_t key_len, const uint8_t *value,
                        size_t len);

#endif
