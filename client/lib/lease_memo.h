/* lease_memo: the tasks this handle leased lately, by lease id.
 *
 * A submit or skip names its lease by (slot, lease id). When the worker
 * lost the lease (it restarted, or the slot moved), it can still take the
 * submit if it knows the task's project, item and stage (docs/PROTOCOL.md,
 * "Lost leases"), and a repeated submit of a stored one is answered as the
 * first was. The public calls take only (slot, lease id), so the library
 * remembers each leased task here and adds them to the request. It is a
 * cache: a lease it forgot (replaced by newer ones, or
 * leased by another process) is sent without them, as before.
 */
#ifndef TALLY_LEASE_MEMO_H
#define TALLY_LEASE_MEMO_H

#include <stddef.h>
#include <stdint.h>

#define LEASE_MEMO_SIZE 2048 /* open addressing; the oldest in reach is replaced */

typedef struct lease_memo lease_memo_t;

/* New empty memo or NULL (out of memory); lease_memo_destroy(&m), safe twice. */
lease_memo_t *lease_memo_new(void);
void lease_memo_destroy(lease_memo_t **memo);

/* Remembers a leased task (strings copied; over-long ones are not kept). */
void lease_memo_put(lease_memo_t *memo, uint64_t lease_id, const char *project,
                    const char *item_id, uint32_t stage);

/* The task of `lease_id`: 1 with *project and *item_id (borrowed until the
 * next put) and *stage, or 0 when not remembered. */
int lease_memo_get(const lease_memo_t *memo, uint64_t lease_id, const char **project,
                   const char **item_id, uint32_t *stage);

#endif
