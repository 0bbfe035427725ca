/* row_cache: a write-back cache of the hot protobuf rows of one column
 * family (the statistics rows of worker/quality.c, the operations rows of
 * worker/ops.c).
 *
 * Every label, lease and submit adds to a few shared rows (a market's
 * operations row is touched by every request in it). Reading, decoding,
 * encoding and writing such a row per request cost more than the request's
 * own records; with the cache a row is read from storage once, updated in
 * memory, and written into the open batch once per group, by
 * row_cache_flush(), which the worker calls before each batch is written.
 * The batch then holds the rows as they are after the group, so what is
 * durable is exactly what the acknowledged requests did.
 *
 * Contract for the owner of the family: call row_cache_flush() before
 * anything reads the family from storage (reports, hand-over, recovery), and
 * row_cache_clear() before writing it around the cache (the drained
 * worker's hand-over deletes its rows). Merges go through the cache. Memory:
 * the rows touched since the last flush, plus at most `capacity` kept
 * afterwards.
 */
#ifndef TALLY_ROW_CACHE_H
#define TALLY_ROW_CACHE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "store.h"

typedef struct row_cache row_cache_t;

/* A cache of rows of type `desc` in family `cf` of `store` (borrowed). NULL
 * when out of memory. Destroy with row_cache_destroy(&c), safe on NULL;
 * dirty rows are dropped (flush first to keep them). */
row_cache_t *row_cache_new(store_t *store, store_cf_t cf, const ProtobufCMessageDescriptor *desc,
                           size_t capacity);
void row_cache_destroy(row_cache_t **c);

/* The row of `key` for changing in place, from the cache or read through
 * the open batch (and kept); marked dirty. NULL when storage has no such
 * row: the caller then builds one and hands it over with row_cache_insert().
 * A key the cache cannot hold (longer than KEYS_MAX) or an unreadable
 * stored row is fatal (fatal_exit, common/fatal.h), as other storage errors are. The
 * row stays valid until the next row_cache_flush() or row_cache_clear(). */
ProtobufCMessage *row_cache_update(row_cache_t *c, const void *key, size_t key_len);

/* Adds `row` (taken; freed with protobuf_c_message_free_unpacked) as the
 * dirty row of `key`, which must not be cached. */
void row_cache_insert(row_cache_t *c, const void *key, size_t key_len, ProtobufCMessage *row);

/* Puts every dirty row into the open batch; when more than `capacity` rows
 * are cached, forgets them all. Returns the number of rows written. */
size_t row_cache_flush(row_cache_t *c);

/* Rows changed since the last flush (0 for NULL): they make the open batch
 * worth writing even when nothing else was put into it. */
size_t row_cache_dirty_count(const row_cache_t *c);

/* Flushes, then forgets every cached row. */
void row_cache_clear(row_cache_t *c);

#endif
