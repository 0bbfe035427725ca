/* result: the allocation arena behind every object libtally returns.
 *
 * A reply is copied out of its protobuf message into plain C structs (see
 * tally.h). All of one answer — the root struct, its arrays and strings —
 * lives in one arena, so the caller frees it with one tally_free(root).
 * Allocation failures are sticky: after one, result_failed() is true and the
 * builder gives up with TALLY_E_NOMEM.
 */
#ifndef TALLY_CLIENT_RESULT_H
#define TALLY_CLIENT_RESULT_H

#include <stddef.h>

typedef struct result result_t;

/* Starts an arena whose first object (the root, zeroed) has root_size
 * bytes. Returns the root and sets *out; NULL on out of memory. */
void *result_new(size_t root_size, result_t **out);

/* Zeroed memory inside the arena; NULL (and result_failed()) when out of
 * memory. */
void *result_alloc(result_t *r, size_t size);

/* Copy of `s` inside the arena ("" for NULL); NULL when out of memory. */
char *result_strdup(result_t *r, const char *s);

/* Array of n copies of strings inside the arena (NULL when n == 0). */
const char **result_strv(result_t *r, char *const *v, size_t n);

/* True after any allocation failed. */
int result_failed(const result_t *r);

/* Frees the arena of `root` (a pointer returned by result_new); safe on
 * NULL. */
void result_free(void *root);

#endif
