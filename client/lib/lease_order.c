/* lease_order: the order in which a lease asks the workers. See
 * lease_order.h. */
#include "lease_order.h"

#include <string.h>

uint64_t client_lease_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint32_t client_lease_min_priority(const client_lease_choice_t *order, size_t n, size_t k) {
  size_t hinted = 0;
  while (hinted < n && order[hinted].depth > 0) hinted++;
  if (k >= hinted) return 0;
  uint32_t top = order[k].top_priority;
  return top > order[hinted - 1].top_priority || top > TALLY__PRIORITY__PRIORITY_NORMAL ? top : 0;
}

static int worker_is_live(const Tally__WorkerInfo *w) {
  return w->state != TALLY__WORKER_STATE__WORKER_DOWN && w->endpoint != NULL && w->endpoint[0] != '\0';
}

static int market_is_listed(const char *market, const char *const *markets, size_t count) {
  if (markets == NULL) return 1;
  for (size_t i = 0; i < count; i++)
    if (strcmp(markets[i], market) == 0) return 1;
  return 0;
}

/* What w's hints say about the request: best top priority, summed depth. */
static client_lease_choice_t worker_choice(const Tally__ClusterMap *map, size_t index, uint32_t project_id,
                                           uint32_t stage, const char *const *markets, size_t market_count) {
  const Tally__WorkerInfo *w = map->workers[index];
  client_lease_choice_t c = {index, 0, 0};
  for (size_t i = 0; i < w->n_backlog; i++) {
    const Tally__BacklogHint *h = w->backlog[i];
    if (h->stage != stage || h->depth == 0 || (project_id != 0 && h->project_id != project_id) ||
        !market_is_listed(h->market, markets, market_count))
      continue;
    if (h->top_priority > c.top_priority) c.top_priority = h->top_priority;
    c.depth += h->depth;
  }
  return c;
}

static void choice_swap(client_lease_choice_t *a, client_lease_choice_t *b) {
  client_lease_choice_t tmp = *a;
  *a = *b;
  *b = tmp;
}

/* Orders order[first, end) (one priority tier) by drawing without
 * replacement, each draw weighted by depth. */
static void tier_draw(client_lease_choice_t *order, size_t first, size_t end, uint64_t *rng) {
  for (size_t i = first; i + 1 < end; i++) {
    uint64_t total = 0;
    for (size_t j = i; j < end; j++) total += order[j].depth;
    uint64_t r = client_lease_random(rng) % total;
    size_t pick = i;
    while (r >= order[pick].depth) r -= order[pick++].depth;
    choice_swap(&order[i], &order[pick]);
  }
}

size_t client_lease_order(const Tally__ClusterMap *map, uint32_t project_id, uint32_t stage,
                          const char *const *markets, size_t market_count, uint64_t seed,
                          client_lease_choice_t *order) {
  uint64_t rng = seed;
  int any_owner = 0;
  for (size_t w = 0; w < map->n_workers; w++)
    any_owner |= worker_is_live(map->workers[w]) && map->workers[w]->slots_owned > 0;
  /* The workers with a matching hint first, then the others. */
  size_t n = 0, hinted = 0;
  for (size_t w = 0; w < map->n_workers; w++) {
    const Tally__WorkerInfo *info = map->workers[w];
    if (!worker_is_live(info)) continue;
    client_lease_choice_t c = worker_choice(map, w, project_id, stage, markets, market_count);
    if (c.depth == 0 && any_owner && info->slots_owned == 0) continue;
    order[n] = c;
    if (c.depth > 0) choice_swap(&order[hinted++], &order[n]);
    n++;
  }
  /* Hinted: highest top priority first (insertion sort, stable), then each
   * tier drawn by depth. */
  for (size_t i = 1; i < hinted; i++)
    for (size_t j = i; j > 0 && order[j].top_priority > order[j - 1].top_priority; j--)
      choice_swap(&order[j], &order[j - 1]);
  for (size_t first = 0, end; first < hinted; first = end) {
    for (end = first + 1; end < hinted && order[end].top_priority == order[first].top_priority;) end++;
    tier_draw(order, first, end, &rng);
  }
  /* The rest: shuffled (Fisher-Yates). */
  for (size_t i = n; i > hinted + 1; i--) {
    size_t j = hinted + (size_t)(client_lease_random(&rng) % (i - hinted));
    choice_swap(&order[i - 1], &order[j]);
  }
  return n;
}
