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

#include "item_record.h"
#include "worker_internal.h"

/* How a lease ended without a label. */
typedef enum { OPS_LEASE_RELEASED, OPS_LEASE_SKIPPED, OPS_LEASE_EXPIRED } ops_lease_end_t;

/* An item was accepted. */
void ops_on_ingest(worker_t *w, uint32_t project_id, const char *market, uint64_t now);

/* A lease of `stage` was granted. */
void ops_on_lease(worker_t *w, uint32_t project_id, const char *market, uint32_t stage,
                  uint64_t now);

/* A submit of `stage` was applied to `rec` (already changed by it): when
 * rec is DONE now, this submit finished the item; a LABEL submit that left
 * one label gave the item its first label. */
void ops_on_submit(worker_t *w, const Tally__Project *p, const item_record_t *rec,
                   uint32_t stage, uint32_t handling_ms, uint64_t now);

/* A lease of `stage` ended without a label. */
void ops_on_lease_end(worker_t *w, uint32_t project_id, const char *market, uint32_t stage,
                      ops_lease_end_t why, uint64_t now);

/* Request handler: ops_request. */
void ops_handle_request(worker_t *w, const router_request_t *req);

/* Adds an operations row of another worker (a drained worker handing its
 * counters over) to this worker's row of the same key, in the open batch.
 * Returns 0 or TALLY_E_INVALID_ARGUMENT (not an OpsRow key and value). */
int ops_merge_row(worker_t *w, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t len);

#endif
