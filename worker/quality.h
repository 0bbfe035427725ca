/* quality: blind-audit sampling and the worker's sufficient statistics.
 *
 * Sampling is decided here, on the worker, when a label is submitted: a
 * keyed hash of (worker secret, project, item, labeler) compared with the
 * labeler's audit rate (market override, ramp-up for new labelers until the
 * coordinator lists them in Project.ramped_up, common/ramp.h). The
 * decision is stored only in the item record; nothing a labeler receives
 * depends on it.
 *
 * Statistics are kept per (project, day, policy version, market, labeler)
 * in the "stats" column family (common/keys.h) and updated in the same
 * write batch as the judgment that produces them: labels and handling
 * times, gold hits, labeler x auditor pairs, adjudication attributions, and
 * (labeler "") the agreement among the k labels of overlapping items. Reports
 * add rows and compute coefficients once (common/report.h at the
 * coordinator); nothing here ever scans judgments for a report.
 */
#ifndef TALLY_QUALITY_H
#define TALLY_QUALITY_H

#include <stdint.h>

#include "config_cache.h"
#include "item_record.h"
#include "responder.h"
#include "row_cache.h"
#include "store.h"

typedef struct quality quality_t;

/* Sampling and statistics over `store` (families stats, feedback, items,
 * default for the secret), its statistics rows through `stats_rows` (the
 * write-back cache of STORE_CF_STATS: the worker flushes it into each batch
 * and counts its dirty rows as changes), the worker's configuration and
 * `owned` (TALLY_SLOT_COUNT flags: the served slots), all borrowed for the
 * object's life. NULL when out of memory. quality_destroy(&q), safe on NULL
 * and twice. quality_recover() before use. */
quality_t *quality_new(store_t *store, row_cache_t *stats_rows, const config_cache_t *config,
                       const uint8_t *owned);
void quality_destroy(quality_t **quality);

/* Loads the sampling secret, or creates it (put into the open batch).
 * Returns 0, a store_get error, or TALLY_E_IO (no random bytes). */
int quality_recover(quality_t *q);

/* 1 when this label of `labeler` on the item is to be audited. */
int quality_is_sampled(quality_t *q, const Tally__Project *p, const char *market,
                       const char *item_id, const char *labeler);

/* A label came in (stage LABEL): counts and handling time. */
void quality_on_label(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                      const char *labeler, const char *label, uint32_t handling_ms, uint64_t now);

/* A label of a gold item (item_record.h) came in: only the person's gold
 * count and hits (label == gold label); gold work stays out of every other
 * statistic (labels, handling time, agreement, audits). */
void quality_on_gold(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                     const char *labeler, const char *label, uint64_t now);

/* All k labels of an item are in: item-level agreement (k >= 2). */
void quality_on_labels_complete(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                                uint64_t now);

/* The auditor labeled an item; `labeler`'s sampled label is compared. */
void quality_on_audit(quality_t *q, const Tally__Project *p, const char *market,
                      const char *labeler, const char *labeler_label, const char *auditor_label,
                      uint64_t now);

/* A lead decided a disagreement of `labeler` with the auditor. */
void quality_on_adjudication(quality_t *q, const Tally__Project *p, const char *market,
                             const char *labeler, const char *labeler_label,
                             const char *auditor_label, uint32_t attribution, uint64_t now);

/* An item's audit closed with `final_label` (the auditor's label on
 * agreement, the lead's on a verdict; rec->attribution says which verdict,
 * NONE on agreement): accuracy against the final label, in the closing
 * batch. Each sampled labeler with a label adds (their label, final) to
 * their row's final_pairs; the auditor adds (audit label, final) to their
 * own row's auditor_final_pairs. A verdict attributed to an unclear policy
 * judges nobody and adds nothing. Labels outside the taxonomy are left out.
 * The same rule decides FeedbackEntry.correct / policy_unclear, so feedback
 * and reports agree. */
void quality_on_close(quality_t *q, const Tally__Project *p, const item_record_t *rec,
                      const char *final_label, uint64_t now);

/* Records a closed audit in `labeler`'s feedback; `policy_unclear`: the
 * verdict was attributed to an unclear policy (not judged). */
void quality_feedback_put(quality_t *q, uint32_t slot, uint32_t project_id, const char *labeler,
                          const char *item_id, size_t item_len, const char *your_label,
                          const char *final_label, int policy_unclear, uint64_t closed_ms);

/* Adds a statistics row of another worker (a drained worker handing its
 * sums over) to this worker's row of the same key, in the open batch.
 * Returns 0, or TALLY_E_INVALID_ARGUMENT when the value is not a StatsRow
 * or its matrices do not fit ours (nothing changed). */
int quality_merge_row(quality_t *q, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t len);

/* 0 or 1, keyed by the secret: whether an adjudication shows the disputed
 * labels swapped (A and B in an order that says nothing about who gave
 * which). */
int quality_candidates_swapped(const quality_t *q, const char *labeler, const char *item_id,
                               size_t item_len);

/* Request handlers: stats_request, feedback_request, export_request. */
void quality_handle_stats(quality_t *q, responder_t *r);
void quality_handle_feedback(quality_t *q, responder_t *r);
void quality_handle_export(quality_t *q, responder_t *r);

#endif
