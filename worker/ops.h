/* ops: the worker's operations counters and queue ages, for the
 * throughput, backlog, SLA and capacity reports.
 *
 * Counters are kept per (project, day, market, stage) in the "ops" column
 * family (common/keys.h) as an OpsRow (proto/tally.proto) and updated in
 * the same write batch as the event that changes them, by read-modify-write
 * through the batch (so later requests of a group see earlier ones):
 *   ingest accepted -> ingested (stage LABEL); lease granted -> leases;
 *   submit -> completed, handling time (sum and histogram); the submit that
 *   makes an item DONE -> items_done, ingest-to-done turnaround histogram,
 *   sla_breaches when done_ms - ingested_ms > sla_seconds * 1000;
 *   the submit of an item's first label -> ttfa first_label of the item's
 *   priority (ingest to that label), the submit that makes it DONE -> ttfa
 *   decision (ingest to done): log-scale histograms, common/ttfa.h;
 *   lease ended without a label -> expired, skips or releases.
 * `day` is the UTC day of the event. Like "stats", the family is a
 * per-worker sum, not led by a slot.
 *
 * An ops_request is answered with the rows of the project (market and day
 * range filtered) and the worker's queues of the project now, each with its
 * depth, top priority and the oldest ingested_ms among its sub-queue heads.
 */
#ifndef TALLY_OPS_H
#define TALLY_OPS_H

#include <stdint.h>

#include "config_cache.h"
#include "item_record.h"
#include "queue_index.h"
#include "responder.h"
#include "row_cache.h"
#include "store.h"

typedef struct ops ops_t;

/* How a lease ended without a label. */
typedef enum { OPS_LEASE_RELEASED, OPS_LEASE_SKIPPED, OPS_LEASE_EXPIRED } ops_lease_end_t;

/* Counters over `store` (families ops, queue and items), their rows
 * through `ops_rows` (the write-back cache of STORE_CF_OPS: the worker
 * flushes it into each batch and counts its dirty rows as changes), the
 * worker's configuration and its queues (read for queue ages), all
 * borrowed for the object's life. NULL when out of memory.
 * ops_destroy(&ops), safe on NULL and twice. */
ops_t *ops_new(store_t *store, row_cache_t *ops_rows, const config_cache_t *config,
               const queue_index_t *queues);
void ops_destroy(ops_t **ops);

/* An item was accepted. */
void ops_on_ingest(ops_t *o, uint32_t project_id, const char *market, uint64_t now);

/* A lease of `stage` was granted. */
void ops_on_lease(ops_t *o, uint32_t project_id, const char *market, uint32_t stage,
                  uint64_t now);

/* A submit of `stage` was applied to `rec` (already changed by it): when
 * rec is DONE now, this submit finished the item; a LABEL submit that left
 * one label gave the item its first label. */
void ops_on_submit(ops_t *o, const Tally__Project *p, const item_record_t *rec,
                   uint32_t stage, uint32_t handling_ms, uint64_t now);

/* A lease of `stage` ended without a label. */
void ops_on_lease_end(ops_t *o, uint32_t project_id, const char *market, uint32_t stage,
                      ops_lease_end_t why, uint64_t now);

/* Request handler: ops_request. Flushes the row cache into the open batch
 * first, so the reply counts everything done so far. */
void ops_handle_request(ops_t *o, responder_t *r);

/* Adds an operations row of another worker (a drained worker handing its
 * counters over) to this worker's row of the same key, in the open batch.
 * Returns 0 or TALLY_E_INVALID_ARGUMENT (not an OpsRow key and value). */
int ops_merge_row(ops_t *o, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t len);

#endif
