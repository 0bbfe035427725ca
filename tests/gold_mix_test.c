/* gold_mix_test: the per-person gold schedule (worker/gold_mix.h) without
 * a cluster: the share equals the rate over many leases, gaps stay within
 * [m/2 - 1, 3m/2] so gold is spread (no bursts), people and projects have
 * schedules of their own, a turn with no gold to give is spent, rate 0 (or
 * NaN, or out of range) is never due, and destroy is safe twice. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "gold_mix.h"

/* Leases of `person` in project 1 at `rate`, each gold when due: the gold
 * count, and the shortest and longest run of production leases between
 * two gold ones. */
static int run(gold_mix_t *g, const char *person, double rate, int leases, int *shortest, int *longest) {
  int gold = 0, since = -1;
  *shortest = leases, *longest = 0;
  for (int i = 0; i < leases; i++) {
    int due = gold_mix_is_due(g, person, 1, rate);
    gold_mix_on_lease(g, person, 1, rate, due);
    if (!due) {
      if (since >= 0) since++;
      continue;
    }
    gold++;
    if (since >= 0) {
      if (since < *shortest) *shortest = since;
      if (since > *longest) *longest = since;
    }
    since = 0;
  }
  return gold;
}

int main(void) {
  gold_mix_t *g = gold_mix_new(42);
  CHECK(g != NULL);
  int shortest, longest;
  /* 2%: m = 50, cycles of 25..75 leases, gaps 24..74 */
  int gold = run(g, "ana", 0.02, 200000, &shortest, &longest);
  printf("# 0.02: %d gold of 200000, gaps %d..%d\n", gold, shortest, longest);
  /* Renewal count: variance ~ N var(cycle) / m^3 = 200000 * 208 / 125000,
   * sd ~18; within 4 sd. */
  CHECK(fabs(gold - 4000.0) <= 4 * 18.3);
  CHECK(shortest >= 24 && longest <= 74);
  /* 10% and the largest rate */
  gold = run(g, "bo", 0.1, 100000, &shortest, &longest);
  CHECK(fabs(gold - 10000.0) <= 200 && shortest >= 4 && longest <= 14);
  gold = run(g, "cy", GOLD_MIX_RATE_MAX, 100000, &shortest, &longest);
  CHECK(fabs(gold - 50000.0) <= 1000 && shortest >= 0 && longest <= 2);
  /* Off: never due, nothing counted. */
  CHECK(run(g, "dee", 0.0, 1000, &shortest, &longest) == 0);
  CHECK(run(g, "dee", NAN, 1000, &shortest, &longest) == 0);
  CHECK(run(g, "dee", -0.1, 1000, &shortest, &longest) == 0);
  CHECK(!gold_mix_is_due(g, "dee", 1, 1.5));
  /* Own schedules: another project of ana's, counted apart. */
  int due_p2 = 0;
  for (int i = 0; i < 1000; i++) {
    int due = gold_mix_is_due(g, "ana", 2, 0.1);
    gold_mix_on_lease(g, "ana", 2, 0.1, due);
    due_p2 += due;
  }
  CHECK(due_p2 >= 80 && due_p2 <= 120);
  /* A due turn stays due until a lease spends it. */
  gold_mix_t *h = gold_mix_new(7);
  int leases = 0;
  while (!gold_mix_is_due(h, "eve", 1, 0.25) && leases < 100) gold_mix_on_lease(h, "eve", 1, 0.25, 0), leases++;
  CHECK(leases < 100 && gold_mix_is_due(h, "eve", 1, 0.25) && gold_mix_is_due(h, "eve", 1, 0.25));
  gold_mix_on_lease(h, "eve", 1, 0.25, 1);
  /* the next cycle is at least m/2 = 2 leases: the gap at least 1 */
  CHECK(!gold_mix_is_due(h, "eve", 1, 0.25));
  gold_mix_destroy(&h);
  gold_mix_destroy(&h);
  CHECK(h == NULL);
  gold_mix_destroy(&g);
  return check_summary();
}
