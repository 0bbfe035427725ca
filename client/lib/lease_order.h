/* lease_order: which workers a lease asks, and in which order, from the
 * backlog hints that come with the cluster map.
 *
 * Every worker reports, about once a second in its heartbeat, a hint per
 * non-empty queue (project, market, stage): its depth and the highest
 * priority waiting. The coordinator hands the last hints out with the map.
 * A lease goes first to the workers with a hint for the requested stage (and
 * project), highest top priority first, so that emergency items anywhere in
 * the cluster are served before normal ones; among workers of the same top
 * priority the order is drawn at random, weighted by depth, so that clients
 * spread over the workers instead of all asking the deepest one. Workers
 * without a matching hint follow in random order.
 *
 * The hints only guide: the first worker may have nothing this person may
 * take (overlap, a stale hint, markets not yet known), so callers fall back
 * along the order, first asking each hinted worker only for work of its
 * hinted top priority (LeaseRequest.min_priority), so that a stale
 * emergency hint never hands out a normal item while another worker still
 * has an emergency one for the person. Market qualifications and roles are
 * enforced by the workers.
 */
#ifndef TALLY_CLIENT_LEASE_ORDER_H
#define TALLY_CLIENT_LEASE_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

/* One worker to ask, with what its hints say about the request. */
typedef struct {
  size_t worker;         /* index into map->workers */
  uint32_t top_priority; /* highest top priority of its matching hints */
  uint64_t depth;        /* summed depth of its matching hints; 0 = no matching hint */
} client_lease_choice_t;

/* Fills order[] (room for map->n_workers entries) with the workers a lease
 * for `stage` in project `project_id` (0: any project) should ask, in the
 * order to ask them, and returns how many. Only hints of the person's
 * `markets` count (market_count of them; markets NULL: every market, when
 * the person's markets are not known), so another market's emergency never
 * ranks a worker that has nothing for this person. The ones with a matching hint
 * (depth > 0) come first. Left out: workers that are DOWN or have no
 * endpoint, and workers that own no slots and have no matching hint (they
 * hold no queues) unless no worker owns a slot. `seed` drives the random
 * draws: the same map, request and seed give the same order. */
size_t client_lease_order(const Tally__ClusterMap *map, uint32_t project_id, uint32_t stage,
                          const char *const *markets, size_t market_count, uint64_t seed,
                          client_lease_choice_t *order);

/* The LeaseRequest.min_priority for asking order[k] (of n) first: its
 * hinted top priority when that is above the lowest hinted tier of the
 * order or above NORMAL, else 0 (any). Asking every such worker so, before
 * the whole order with 0, takes an emergency item wherever one waits for
 * the person, also when a hint is stale or counts markets the person does
 * not have (their markets not known yet); when only normal work is hinted
 * it costs nothing extra. */
uint32_t client_lease_min_priority(const client_lease_choice_t *order, size_t n, size_t k);

/* The next value of a splitmix64 generator with state *state. */
uint64_t client_lease_random(uint64_t *state);

#endif
