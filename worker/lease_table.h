/* lease_table: the live leases of one worker, in memory only.
 *
 * A lease is a reservation, not a write (DESIGN.md, "Leases"): granting,
 * releasing and expiring one changes no stored key, and a crash forgets
 * them all (the items they held are offered again at once; lease ids carry
 * the worker's incarnation, so none is handed out twice). The table gives
 * O(1) lookup by lease id, O(log n) access to the earliest deadline (the
 * expiry timer never scans), the live leases of each item (its holders),
 * and per item whether its queue entry is "parked": still in storage but
 * out of the in-memory queue index because live leases cover what the item
 * still needs (labeling.c). Its size is bounded by the tasks out at once.
 */
#ifndef TALLY_LEASE_TABLE_H
#define TALLY_LEASE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LEASE_LABELER_MAX 64

typedef struct {
  uint64_t lease_id;
  uint64_t deadline_ms; /* unix ms */
  uint32_t slot;
  uint32_t project_id;
  uint32_t stage;
  char labeler[LEASE_LABELER_MAX + 1];
  char *item_id; /* owned by the table */
  size_t item_len;
  int exposure_counted; /* high-severity: counted against the budget at grant */
} lease_t;

typedef struct lease_table lease_table_t;

/* New empty table or NULL (out of memory); lease_table_destroy(&t), safe twice. */
lease_table_t *lease_table_new(void);
void lease_table_destroy(lease_table_t **table);

/* Adds a copy of `lease` (its item id is copied too). Returns 0,
 * TALLY_E_ALREADY_EXISTS for a lease id already present, TALLY_E_NOMEM, or
 * TALLY_E_INVALID_ARGUMENT for an over-long labeler id. */
int lease_table_add(lease_table_t *table, const lease_t *lease);

/* The lease with this id, or NULL. Borrowed until it is removed. */
const lease_t *lease_table_find(const lease_table_t *table, uint64_t lease_id);

/* Removes the lease (no-op when absent). */
void lease_table_remove(lease_table_t *table, uint64_t lease_id);

/* The lease with the earliest deadline if that deadline is <= now_ms, else
 * NULL. Borrowed; the caller removes it once handled. */
const lease_t *lease_table_next_expired(const lease_table_t *table, uint64_t now_ms);

size_t lease_table_count(const lease_table_t *table);

/* The i-th live lease (0 <= i < count), in no particular order; borrowed
 * until the table changes. */
const lease_t *lease_table_at(const lease_table_t *table, size_t i);

/* Where an item's queue entry is while it is parked (see above): the
 * queue (an opaque queue_t *), and its position. */
typedef struct {
  int parked;
  void *queue;
  uint32_t priority;
  uint64_t seq;
} lease_park_t;

/* The park state of item (slot, project_id, item_id) while it has at least
 * one live lease, else NULL. Borrowed until its last lease is removed. */
lease_park_t *lease_table_park(lease_table_t *table, uint32_t slot, uint32_t project_id,
                               const char *item_id, size_t item_len);

/* Up to `max` live leases of the item into out[]; returns how many there
 * are (may exceed max). Borrowed until removed. */
size_t lease_table_of_item(const lease_table_t *table, uint32_t slot, uint32_t project_id,
                           const char *item_id, size_t item_len, const lease_t **out, size_t max);

/* Up to `max` lease ids of `slot` into out[]; returns how many there are. */
size_t lease_table_of_slot(const lease_table_t *table, uint32_t slot, uint64_t *out, size_t max);

/* Live leases held by `labeler` (for the per-person cap). */
size_t lease_table_count_of(const lease_table_t *table, const char *labeler);

#endif
