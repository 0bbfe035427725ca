/* slot_map: slot ownership and epoch. See slot_map.h. */
#include "slot_map.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

struct slot_map {
  uint64_t epoch;
  uint32_t owner[TALLY_SLOT_COUNT];
};

int slot_map_new(slot_map_t **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : TALLY_E_NOMEM;
}

void slot_map_destroy(slot_map_t **map) {
  if (map == NULL) return;
  free(*map);
  *map = NULL;
}

void slot_map_copy(slot_map_t *dst, const slot_map_t *src) { memcpy(dst, src, sizeof *dst); }

uint64_t slot_map_epoch(const slot_map_t *map) { return map->epoch; }

void slot_map_set_epoch(slot_map_t *map, uint64_t epoch) { map->epoch = epoch; }

uint64_t slot_map_bump_epoch(slot_map_t *map) { return ++map->epoch; }

uint32_t slot_map_owner(const slot_map_t *map, uint32_t slot) {
  assert(slot < TALLY_SLOT_COUNT);
  return map->owner[slot];
}

void slot_map_set_owner(slot_map_t *map, uint32_t slot, uint32_t worker_id) {
  assert(slot < TALLY_SLOT_COUNT);
  map->owner[slot] = worker_id;
}

const uint32_t *slot_map_owners(const slot_map_t *map) { return map->owner; }

uint32_t slot_map_count_owned(const slot_map_t *map, uint32_t worker_id) {
  uint32_t count = 0;
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++)
    if (map->owner[slot] == worker_id) count++;
  return count;
}

/* Index of the candidate owning the fewest slots (ties: lowest id). */
static size_t slot_map_least_loaded(const uint32_t *workers, const uint32_t *owned,
                                    size_t count) {
  size_t best = 0;
  for (size_t i = 1; i < count; i++)
    if (owned[i] < owned[best] || (owned[i] == owned[best] && workers[i] < workers[best]))
      best = i;
  return best;
}

int slot_map_assign_unassigned(slot_map_t *map, const uint32_t *workers, size_t count) {
  if (count == 0) return 0;
  uint32_t *owned = calloc(count, sizeof *owned);
  if (owned == NULL) return TALLY_E_NOMEM;
  for (size_t i = 0; i < count; i++) {
    assert(workers[i] != 0);
    owned[i] = slot_map_count_owned(map, workers[i]);
  }
  uint32_t assigned = 0;
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++) {
    if (map->owner[slot] != 0) continue;
    size_t pick = slot_map_least_loaded(workers, owned, count);
    map->owner[slot] = workers[pick];
    owned[pick]++;
    assigned++;
  }
  free(owned);
  if (assigned > 0) map->epoch++;
  return (int)assigned;
}
