/* rebalance: planning slot moves. See rebalance.h. */
#include "rebalance.h"

#include <stdlib.h>

/* Per-worker planning figures. */
typedef struct {
  const rebalance_worker_t *info;
  long count;   /* slots owned, minus outgoing, plus incoming moves */
  int sending;  /* already the source of a move */
} plan_t;

static plan_t *plan_find(plan_t *plans, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (plans[i].info->id == id) return &plans[i];
  return NULL;
}

/* The lowest slot `source` owns that is not moving, or TALLY_SLOT_COUNT. */
static uint32_t pick_slot(const slot_map_t *map, uint32_t source, const uint8_t *moving) {
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    if (!moving[s] && slot_map_owner(map, s) == source) return s;
  return TALLY_SLOT_COUNT;
}

size_t rebalance_plan(const slot_map_t *map, const rebalance_worker_t *workers, size_t n,
                      const rebalance_move_t *active, size_t n_active, rebalance_move_t *out,
                      size_t max) {
  if (n == 0 || max == 0) return 0;
  plan_t *plans = calloc(n, sizeof *plans);
  uint8_t *moving = calloc(TALLY_SLOT_COUNT, 1);
  size_t planned = 0;
  if (plans == NULL || moving == NULL) goto done;
  for (size_t i = 0; i < n; i++) {
    plans[i].info = &workers[i];
    plans[i].count = workers[i].id ? (long)slot_map_count_owned(map, workers[i].id) : 0;
  }
  for (size_t i = 0; i < n_active; i++) {
    if (active[i].slot < TALLY_SLOT_COUNT) moving[active[i].slot] = 1;
    plan_t *src = plan_find(plans, n, active[i].source);
    plan_t *dst = plan_find(plans, n, active[i].target);
    if (src) {
      src->count--;
      src->sending = 1;
    }
    if (dst) dst->count++;
  }
  while (planned < max) {
    /* Target: the non-draining UP worker with room with the fewest slots. */
    plan_t *target = NULL;
    for (size_t i = 0; i < n; i++) {
      plan_t *p = &plans[i];
      if (!p->info->up || p->info->draining || p->info->full) continue;
      if (target == NULL || p->count < target->count) target = p;
    }
    if (target == NULL) break;
    /* Source: a draining UP worker with slots left, else the UP worker with
     * the most slots if that is more than one above the target. */
    plan_t *source = NULL;
    for (size_t i = 0; i < n && source == NULL; i++) {
      plan_t *p = &plans[i];
      if (p->info->up && p->info->draining && !p->sending && p->count > 0) source = p;
    }
    if (source == NULL) {
      for (size_t i = 0; i < n; i++) {
        plan_t *p = &plans[i];
        if (!p->info->up || p->info->draining || p->sending || p == target) continue;
        if (source == NULL || p->count > source->count) source = p;
      }
      if (source != NULL && source->count - target->count <= 1) source = NULL;
    }
    if (source == NULL) break;
    uint32_t slot = pick_slot(map, source->info->id, moving);
    if (slot == TALLY_SLOT_COUNT) {
      source->sending = 1; /* nothing movable there: leave it out */
      continue;
    }
    out[planned++] = (rebalance_move_t){slot, source->info->id, target->info->id};
    moving[slot] = 1;
    source->count--;
    source->sending = 1;
    target->count++;
  }
done:
  free(plans);
  free(moving);
  return planned;
}

double rebalance_skew(const slot_map_t *map, const rebalance_worker_t *workers, size_t n) {
  uint64_t total = 0, most = 0;
  size_t counted = 0;
  for (size_t i = 0; i < n; i++) {
    if (!workers[i].up || workers[i].draining) continue;
    uint64_t owned = slot_map_count_owned(map, workers[i].id);
    total += owned;
    if (owned > most) most = owned;
    counted++;
  }
  if (counted == 0 || total == 0) return 0.0;
  return (double)most / ((double)total / (double)counted);
}
