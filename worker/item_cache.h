/* item_cache: the encoded item records written last, by key, so the
 * submit that follows a lease (or a second labeler's lease of the same
 * item) decodes the record from memory instead of reading RocksDB.
 *
 * Direct-mapped: each key has one place, a newer key there replaces the
 * older one, so memory is bounded by the number of places (records are a
 * few hundred bytes). The cache is write-through: it holds exactly what
 * the worker last put for a key (in the open batch or the database), never
 * anything else. Contract for the owner: every write of the items family
 * goes through item_cache_put(), and every write around it is followed by
 * item_cache_forget() of its key (a follower's applied replica appends) or
 * by item_cache_clear() (slot moves: copied chunks, dropped slots).
 */
#ifndef TALLY_ITEM_CACHE_H
#define TALLY_ITEM_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct item_cache item_cache_t;

/* A cache of 2^bits places; NULL when out of memory. Destroy with
 * item_cache_destroy(&c), safe on NULL. */
item_cache_t *item_cache_new(unsigned bits);
void item_cache_destroy(item_cache_t **c);

/* The cached record of `key`: 1 with *value (borrowed, valid until the
 * next put or clear) and *len, or 0 when not cached. */
int item_cache_get(const item_cache_t *c, const uint8_t *key, size_t key_len,
                   const uint8_t **value, size_t *len);

/* Records that `key` now holds `value`, which the cache takes (malloc'ed;
 * freed by the cache). A key longer than the cache keeps is not cached,
 * and its value is freed. */
void item_cache_put(item_cache_t *c, const uint8_t *key, size_t key_len, uint8_t *value,
                    size_t len);

/* Forgets `key` (a write went around the cache); other keys stay. */
void item_cache_forget(item_cache_t *c, const uint8_t *key, size_t key_len);

/* Forgets everything. */
void item_cache_clear(item_cache_t *c);

#endif
