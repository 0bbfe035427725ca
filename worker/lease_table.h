/* lease_table: the live leases of one worker, in memory.
 *
 * Leases are persisted in the "leases" column family; this table mirrors the
 * live ones (rebuilt at start) for O(1) lookup by lease id and O(log n)
 * access to the earliest deadline, so the expiry timer never scans. Its size
 * is bounded by the number of tasks out at once, not by items.
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

/* Live leases held by `labeler` (for the per-person cap). */
size_t lease_table_count_of(const lease_table_t *table, const char *labeler);

#endif
