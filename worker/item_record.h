/* item_record: one item's stored state (tally.store.ItemRecord) and the rules
 * that decide whether it wants more work.
 *
 * Records are protobuf-c messages whose every string and array is heap
 * memory from the system allocator, so tally__store__item_record__free_unpacked
 * frees both records read from storage and records built here.
 */
#ifndef TALLY_ITEM_RECORD_H
#define TALLY_ITEM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "tally_store.pb-c.h"

typedef Tally__Store__ItemRecord item_record_t;

/* The stage value (ItemRecord.stage, queue keys, lease_t.stage) of a gold
 * item: one ingested with a gold_label. It is not a tally.Stage and never
 * goes on the wire: gold items sit in a pool of their own, are served in
 * place of label tasks at the project's gold rate (gold_mix.h) as a task of
 * stage LABEL, to each person at most once, and are never audited nor done. */
#define ITEM_RECORD_STAGE_GOLD 3u

/* True for the gold pool's stage (see above). */
static inline int item_record_stage_is_gold(uint32_t stage) { return stage == ITEM_RECORD_STAGE_GOLD; }

/* New record in state LABELING for stage LABEL; strings are copied. NULL
 * when out of memory. Free with item_record_free(). */
item_record_t *item_record_new(const char *market, uint32_t priority, const char *content,
                               const char *gold_label, uint32_t overlap, uint64_t seq,
                               uint64_t now_ms);

/* Decodes a stored record; NULL when the bytes are not a format-1 record. */
item_record_t *item_record_decode(const uint8_t *data, size_t len);

/* Serializes into a new malloc'ed buffer (*len set), NULL when out of memory. */
uint8_t *item_record_encode(const item_record_t *rec, size_t *len);

/* Frees a record; safe on NULL; sets *rec NULL. */
void item_record_free(item_record_t **rec);

/* True while the item should sit in its stage's queue: in LABEL, labels
 * plus live leases are fewer than its overlap; in AUDIT, no audit label and
 * no live lease; in ADJUDICATE, no verdict and no live lease; a gold item
 * always (each person takes it once: item_record_excludes). */
int item_record_wants_work(const item_record_t *rec);

/* The same rule with `holders` live leases instead of the record's holder
 * list: with 0, whether the stored state keeps the item in its stage's
 * queue (its queue entry stays in storage exactly while this is true). */
int item_record_wants_work_with(const item_record_t *rec, size_t holders);

/* Lease ids whose submit the record stores (idempotent submits). */
int item_record_lease_submitted(const item_record_t *rec, uint64_t lease_id);
int item_record_add_submitted_lease(item_record_t *rec, uint64_t lease_id);

/* Forgets the holder list (holders live in the worker's lease table; a
 * record read from storage may carry an old list, which means nothing). */
void item_record_clear_holders(item_record_t *rec);

/* True when `labeler` may not receive this item: they labeled or audited
 * it, hold a lease on it, or skipped it in this stage. */
int item_record_excludes(const item_record_t *rec, const char *labeler);

/* Changes; each returns 0 or TALLY_E_NOMEM (record unchanged then). */
int item_record_add_holder(item_record_t *rec, const char *labeler);
/* Returns 1 when removed, 0 when the labeler held no lease. */
int item_record_remove_holder(item_record_t *rec, const char *labeler);
int item_record_add_skipper(item_record_t *rec, const char *labeler);
/* A gold item was served to `labeler` without a label (skip, release,
 * expiry): they are never offered it again. As add_skipper without its
 * cap: a gold item's list grows with the people served. */
int item_record_add_seen(item_record_t *rec, const char *labeler);
int item_record_add_label(item_record_t *rec, const char *labeler, const char *label,
                          uint64_t at_ms);

/* The label `labeler` gave, or NULL. Borrowed from the record. */
const char *item_record_label_of(const item_record_t *rec, const char *labeler);
int item_record_add_sampled(item_record_t *rec, const char *labeler);
int item_record_set_audit(item_record_t *rec, const char *auditor, const char *label,
                          uint64_t at_ms, uint32_t handling_ms);
/* Replaces a string field of the record with a copy of `value`. */
int item_record_set_string(char **field, const char *value);
/* Forgets who skipped the item (a new stage has new people). */
void item_record_clear_skippers(item_record_t *rec);

#endif
