/* person_markets: a person's markets for the lease order. See
 * person_markets.h. */
#include "person_markets.h"

#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

typedef struct {
  char *person; /* NULL: free */
  char **markets;
  size_t count;
  uint64_t version;
} entry_t;

struct person_markets {
  entry_t entries[PERSON_MARKETS_SLOTS];
  size_t next; /* the entry replaced next */
};

person_markets_t *person_markets_new(void) { return calloc(1, sizeof(person_markets_t)); }

static void entry_clear(entry_t *e) {
  for (size_t i = 0; i < e->count; i++) free(e->markets[i]);
  free(e->markets);
  free(e->person);
  memset(e, 0, sizeof *e);
}

void person_markets_destroy(person_markets_t **cache) {
  if (cache == NULL || *cache == NULL) return;
  for (size_t i = 0; i < PERSON_MARKETS_SLOTS; i++) entry_clear(&(*cache)->entries[i]);
  free(*cache);
  *cache = NULL;
}

static entry_t *entry_find(const person_markets_t *cache, const char *person) {
  for (size_t i = 0; i < PERSON_MARKETS_SLOTS; i++)
    if (cache->entries[i].person && strcmp(cache->entries[i].person, person) == 0)
      return (entry_t *)&cache->entries[i];
  return NULL;
}

int person_markets_put(person_markets_t *cache, const char *person, char *const *markets, size_t count,
                       uint64_t version) {
  entry_t *e = entry_find(cache, person);
  if (e == NULL) e = &cache->entries[cache->next++ % PERSON_MARKETS_SLOTS];
  entry_clear(e);
  e->person = strdup(person);
  e->markets = calloc(count ? count : 1, sizeof *e->markets);
  int ok = e->person && e->markets;
  for (size_t i = 0; ok && i < count; i++) {
    ok = (e->markets[i] = strdup(markets[i])) != NULL;
    e->count += ok;
  }
  if (!ok) {
    entry_clear(e);
    return TALLY_E_NOMEM;
  }
  e->version = version;
  return 0;
}

int person_markets_get(const person_markets_t *cache, const char *person, uint64_t version,
                       const char *const **markets, size_t *count) {
  const entry_t *e = entry_find(cache, person);
  if (e == NULL || e->version != version) return 0;
  *markets = (const char *const *)e->markets;
  *count = e->count;
  return 1;
}
