/* person_markets: which markets the people leasing through one handle are
 * qualified for, as the workers last said (LeaseReply.markets), so that the
 * lease order (lease_order.h) looks only at the backlog hints of queues the
 * person may take.
 *
 * A small cache of PERSON_MARKETS_SLOTS people, replaced oldest first. An
 * entry holds the configuration version of the map it was learnt under and
 * is not used once the map's version differs (someone's markets may have
 * changed): until the person's next lease reply, their hints are not
 * filtered. Filtering only saves round trips; the workers enforce the
 * qualifications and LeaseRequest.min_priority keeps emergencies first, so
 * an unknown or stale entry is never wrong, only slower. Not thread-safe
 * (one per handle). */
#ifndef TALLY_CLIENT_PERSON_MARKETS_H
#define TALLY_CLIENT_PERSON_MARKETS_H

#include <stddef.h>
#include <stdint.h>

#define PERSON_MARKETS_SLOTS 64

typedef struct person_markets person_markets_t;

/* A new, empty cache; NULL when out of memory. */
person_markets_t *person_markets_new(void);

/* Frees the cache; safe on NULL; sets *cache NULL. */
void person_markets_destroy(person_markets_t **cache);

/* Records `person`'s markets (copied) under configuration `version`.
 * Returns 0 or TALLY_E_NOMEM (the entry is then dropped). */
int person_markets_put(person_markets_t *cache, const char *person, char *const *markets, size_t count,
                       uint64_t version);

/* 1 with *markets / *count (borrowed until the next put) when `person`'s
 * markets are known under configuration `version`, else 0. */
int person_markets_get(const person_markets_t *cache, const char *person, uint64_t version,
                       const char *const **markets, size_t *count);

#endif
