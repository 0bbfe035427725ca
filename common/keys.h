/* keys: how a worker lays out its RocksDB keys (format 1).
 *
 * Every key that belongs to an item starts with its 2-byte big-endian slot,
 * so one slot is one contiguous key range in every column family and can be
 * copied, moved or dropped as a range. Integers are big-endian so that byte
 * order is numeric order.
 *
 *   items  : slot u16 | project_id u32 | item id bytes
 *   queue  : slot u16 | project_id u32 | stage u8 | market_len u8 | market |
 *            (255 - priority) u8 | seq u64            -> value: item id
 *   leases : slot u16 | lease_id u64                  -> value: LeaseRecord
 *   feedback: slot u16 | project_id u32 | labeler_len u8 | labeler |
 *            (UINT64_MAX - closed_ms) u64 | item id     -> value: FeedbackRecord
 *   cases  : slot u16 | project_id u32 | (UINT64_MAX - closed_ms) u64 |
 *            item id                                   -> value: CaseRecord
 *   stats  : project_id u32 | day u32 | policy_version u32 | market_len u8 |
 *            market | labeler                           -> value: StatsRow
 *   ops    : project_id u32 | day u32 | market_len u8 | market | stage u8
 *                                                      -> value: OpsRow
 *   exposure: project_id u32 | shift u64 | labeler      -> value: count u64
 *            (worker/wellbeing.h; per worker, not led by a slot)
 *
 * "stats" (like "ops" and "exposure") is not led by a slot: it is a
 * per-worker sum of what the judgments this worker served produced, so a
 * report reads a few rows per (day, market, labeler) however many judgments
 * there are. Sums are exact when added across workers, so they stay where
 * they were made when a slot moves (reports add every worker's rows); a
 * drained worker hands its rows to a worker that stays, which adds them to
 * its own (worker/slot_move.h).
 *
 * A queue "prefix" is everything up to and including the market: one
 * (slot, project, stage, market) sub-queue, ordered by priority (highest
 * first) then sequence (oldest first).
 *
 * Changing a layout is a data-format change: bump KEYS_FORMAT, and ship a
 * start-up migration that rewrites old keys before the worker serves.
 */
#ifndef TALLY_KEYS_H
#define TALLY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_FORMAT 1
#define KEYS_ITEM_ID_MAX 256
#define KEYS_MARKET_MAX 32
#define KEYS_LABELER_MAX 64
/* Large enough for any key above. */
#define KEYS_MAX (2 + 4 + 1 + KEYS_LABELER_MAX + 8 + KEYS_ITEM_ID_MAX + 64)

void keys_put_u16(uint8_t *out, uint16_t v);
void keys_put_u32(uint8_t *out, uint32_t v);
void keys_put_u64(uint8_t *out, uint64_t v);
uint16_t keys_get_u16(const uint8_t *in);
uint32_t keys_get_u32(const uint8_t *in);
uint64_t keys_get_u64(const uint8_t *in);

/* Each encoder writes into `out` (at least KEYS_MAX bytes) and returns the
 * key length. Item ids over KEYS_ITEM_ID_MAX and markets over KEYS_MARKET_MAX
 * must be refused before encoding (asserted). */
size_t keys_item(uint8_t *out, uint32_t slot, uint32_t project_id, const char *item_id,
                 size_t item_len);
size_t keys_queue_prefix(uint8_t *out, uint32_t slot, uint32_t project_id, uint32_t stage,
                         const char *market);
size_t keys_queue_entry(uint8_t *out, uint32_t slot, uint32_t project_id, uint32_t stage,
                        const char *market, uint32_t priority, uint64_t seq);
size_t keys_lease(uint8_t *out, uint32_t slot, uint64_t lease_id);

size_t keys_feedback_prefix(uint8_t *out, uint32_t slot, uint32_t project_id, const char *labeler);
size_t keys_feedback(uint8_t *out, uint32_t slot, uint32_t project_id, const char *labeler,
                     uint64_t closed_ms, const char *item_id, size_t item_len);
size_t keys_case(uint8_t *out, uint32_t slot, uint32_t project_id, uint64_t closed_ms,
                 const char *item_id, size_t item_len);
size_t keys_stats(uint8_t *out, uint32_t project_id, uint32_t day, uint32_t policy_version,
                  const char *market, const char *labeler);

/* Parsed stats key; market and labeler point into the key. */
typedef struct {
  uint32_t project_id, day, policy_version;
  const char *market;
  size_t market_len;
  const char *labeler;
  size_t labeler_len;
} keys_stats_t;
int keys_parse_stats(const uint8_t *key, size_t len, keys_stats_t *out);

/* Operations counters (worker/ops.h): like "stats", a per-worker sum, not
 * led by a slot. */
size_t keys_ops(uint8_t *out, uint32_t project_id, uint32_t day, const char *market,
                uint32_t stage);

/* Parsed ops key; market points into the key. Returns 0 or
 * TALLY_E_BAD_REQUEST when malformed. */
typedef struct {
  uint32_t project_id, day, stage;
  const char *market;
  size_t market_len;
} keys_ops_t;
int keys_parse_ops(const uint8_t *key, size_t len, keys_ops_t *out);

/* Parsed feedback key; item id points into the key. */
typedef struct {
  uint64_t closed_ms;
  const char *item_id;
  size_t item_len;
} keys_feedback_t;
int keys_parse_feedback(const uint8_t *key, size_t len, size_t prefix_len, keys_feedback_t *out);

/* The key range of one project's days [from_day, to_day] in a family keyed
 * `project_id u32 | day u32 | ...` ("stats", "ops"): writes the 8-byte seek
 * key to `from` and the exclusive upper bound to `upper` (room for 8
 * bytes), and returns the bound's length. to_day 0 or UINT32_MAX = no end. */
size_t keys_day_range(uint32_t project_id, uint32_t from_day, uint32_t to_day, uint8_t *from,
                      uint8_t *upper);

/* First key after every key that starts with `prefix` (prefix_len bytes):
 * writes it to `out` and returns its length (0 when no such key exists,
 * i.e. the prefix is all 0xff). Used as an iterator upper bound. */
size_t keys_prefix_end(uint8_t *out, const uint8_t *prefix, size_t prefix_len);

/* Parsed queue entry key. `market` points into the key (not terminated). */
typedef struct {
  uint32_t slot;
  uint32_t project_id;
  uint32_t stage;
  const char *market;
  size_t market_len;
  uint32_t priority;
  uint64_t seq;
  size_t prefix_len; /* length of the sub-queue prefix inside the key */
} keys_queue_entry_t;

/* Parses a queue key. Returns 0 or TALLY_E_BAD_REQUEST when malformed. */
int keys_parse_queue_entry(const uint8_t *key, size_t len, keys_queue_entry_t *out);

#endif
