/* gold_mix: the per-person schedule of gold tasks (see gold_mix.h). */
#include "gold_mix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "fatal.h"

#define GOLD_MIX_BUCKETS 1024u

typedef struct gold_entry {
  struct gold_entry *next;
  uint32_t project_id;
  uint64_t countdown; /* production label leases before the next gold one */
  char person[];
} gold_entry_t;

struct gold_mix {
  gold_entry_t *buckets[GOLD_MIX_BUCKETS];
  uint64_t rng; /* splitmix64 state */
};

gold_mix_t *gold_mix_new(uint64_t seed) {
  gold_mix_t *g = calloc(1, sizeof *g);
  if (g != NULL) g->rng = seed;
  return g;
}

void gold_mix_destroy(gold_mix_t **g) {
  if (g == NULL || *g == NULL) return;
  for (size_t i = 0; i < GOLD_MIX_BUCKETS; i++) {
    gold_entry_t *e = (*g)->buckets[i];
    while (e != NULL) {
      gold_entry_t *next = e->next;
      free(e);
      e = next;
    }
  }
  free(*g);
  *g = NULL;
}

/* splitmix64: a uniform 64-bit value. */
static uint64_t next_random(gold_mix_t *g) {
  uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double next_unit(gold_mix_t *g) { return (double)(next_random(g) >> 11) * 0x1.0p-53; }

static int rate_is_on(double rate) { return rate > 0.0 && rate <= 1.0; }

/* A cycle of floor(m U + V) label leases, m = 1/rate (gold_mix.h): the
 * gap before the gold one is one less. Its mean is m, so one lease in m is
 * gold. With rate <= GOLD_MIX_RATE_MAX, m U >= 1 and the gap is >= 0. */
static uint64_t draw_gap(gold_mix_t *g, double rate) {
  double m = 1.0 / rate;
  double cycle = floor(m * (0.5 + next_unit(g)) + next_unit(g));
  return cycle < 1.0 ? 0 : (uint64_t)cycle - 1;
}

static gold_entry_t *entry_of(gold_mix_t *g, const char *person, uint32_t project_id, double rate) {
  size_t len = strlen(person);
  uint64_t h = XXH64(person, len, project_id) % GOLD_MIX_BUCKETS;
  for (gold_entry_t *e = g->buckets[h]; e != NULL; e = e->next)
    if (e->project_id == project_id && strcmp(e->person, person) == 0) return e;
  gold_entry_t *e = malloc(sizeof *e + len + 1);
  if (e == NULL) fatal_exit("out of memory");
  memcpy(e->person, person, len + 1);
  e->project_id = project_id;
  e->countdown = draw_gap(g, rate);
  e->next = g->buckets[h];
  g->buckets[h] = e;
  return e;
}

int gold_mix_is_due(gold_mix_t *g, const char *person, uint32_t project_id, double rate) {
  if (!rate_is_on(rate)) return 0;
  return entry_of(g, person, project_id, rate)->countdown == 0;
}

void gold_mix_on_lease(gold_mix_t *g, const char *person, uint32_t project_id, double rate,
                       int gold) {
  if (!rate_is_on(rate)) return;
  gold_entry_t *e = entry_of(g, person, project_id, rate);
  if (gold)
    e->countdown = draw_gap(g, rate);
  else if (e->countdown > 0)
    e->countdown--;
}
