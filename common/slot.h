/* slot: the fixed shard space of Tally.
 *
 * slot = XXH64(project name, NUL, item id; seed 0) mod TALLY_SLOT_COUNT.
 * The function is part of the on-disk and wire contract: every key of an
 * item starts with its slot, and clients route by it. Changing the hash or
 * the count is a data-format change (see docs/PROTOCOL.md, "Versions").
 */
#ifndef TALLY_SLOT_H
#define TALLY_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_SLOT_COUNT 1024u

/* Slot of item `item_id` (length item_len) in project `project`. */
uint32_t slot_of_item(const char *project, const char *item_id, size_t item_len);

/* Writes a log line's list of `total` slots, of which the first `n_named`
 * are in `named`: "slot 7", or "slots 1, 2, 3, ..." (", ..." when total >
 * n_named), cut to fit `size` (> 0; always terminated). */
void slot_list_format(char *out, size_t size, const uint32_t *named, size_t n_named,
                      size_t total);

#endif
