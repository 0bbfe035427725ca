/* Unit test of coordinator/rebalance: which slot moves are planned for a
 * join, a drain, moves under way and DOWN workers, and that applying the
 * plans repeatedly ends balanced. */
#include <string.h>

#include "coordinator_test.h"
#include "rebalance.h"
#include "slot_map.h"

/* Gives slot s to ids[s % n]. */
static slot_map_t *map_spread(const uint32_t *ids, size_t n) {
  slot_map_t *map = NULL;
  slot_map_new(&map);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) slot_map_set_owner(map, s, ids[s % n]);
  return map;
}

/* Plans and applies moves (as if each completed at once) until none is
 * planned; returns the number of moves, or -1 after too many rounds. */
static int run_to_balance(slot_map_t *map, const rebalance_worker_t *w, size_t n) {
  int moves = 0;
  for (int round = 0; round < 5000; round++) {
    rebalance_move_t out[8];
    size_t k = rebalance_plan(map, w, n, NULL, 0, out, 8);
    if (k == 0) return moves;
    for (size_t i = 0; i < k; i++) {
      CHECK_EQ(slot_map_owner(map, out[i].slot), out[i].source);
      slot_map_set_owner(map, out[i].slot, out[i].target);
      moves++;
    }
  }
  return -1;
}

static void test_balanced_plans_nothing(void) {
  uint32_t ids[] = {1, 2, 3};
  slot_map_t *map = map_spread(ids, 3);
  rebalance_worker_t w[] = {{1, 1, 0, 0}, {2, 1, 0, 0}, {3, 1, 0, 0}};
  rebalance_move_t out[8];
  CHECK_EQ(rebalance_plan(map, w, 3, NULL, 0, out, 8), 0);
  double skew = rebalance_skew(map, w, 3);
  CHECK(skew > 1.0 && skew < 1.003); /* 342 / 341.33 */
  slot_map_destroy(&map);
}

static void test_join_gets_a_quarter(void) {
  uint32_t ids[] = {1, 2, 3};
  slot_map_t *map = map_spread(ids, 3);
  rebalance_worker_t w[] = {{1, 1, 0, 0}, {2, 1, 0, 0}, {3, 1, 0, 0}, {4, 1, 0, 0}};
  rebalance_move_t out[8];
  /* One move per source at a time, all to the newcomer. */
  size_t k = rebalance_plan(map, w, 4, NULL, 0, out, 8);
  CHECK_EQ(k, 3);
  for (size_t i = 0; i < k; i++) CHECK_EQ(out[i].target, 4);
  CHECK(out[0].source != out[1].source && out[1].source != out[2].source &&
        out[0].source != out[2].source);
  /* The same moves under way: nothing new for their sources. */
  CHECK_EQ(rebalance_plan(map, w, 4, out, k, out + k, 8 - k), 0);
  int moves = run_to_balance(map, w, 4);
  CHECK_EQ(moves, 256);
  CHECK_EQ(slot_map_count_owned(map, 4), 256);
  for (uint32_t id = 1; id <= 3; id++) CHECK_EQ(slot_map_count_owned(map, id), 256);
  slot_map_destroy(&map);
}

static void test_drain_empties_the_worker(void) {
  uint32_t ids[] = {1, 2, 3};
  slot_map_t *map = map_spread(ids, 3);
  rebalance_worker_t w[] = {{1, 1, 0, 0}, {2, 1, 1, 0}, {3, 1, 0, 0}};
  rebalance_move_t out[8];
  size_t k = rebalance_plan(map, w, 3, NULL, 0, out, 8);
  CHECK(k >= 1);
  CHECK_EQ(out[0].source, 2);
  CHECK(out[0].target == 1 || out[0].target == 3);
  CHECK(run_to_balance(map, w, 3) > 0);
  CHECK_EQ(slot_map_count_owned(map, 2), 0);
  uint32_t a = slot_map_count_owned(map, 1), b = slot_map_count_owned(map, 3);
  CHECK_EQ(a + b, TALLY_SLOT_COUNT);
  CHECK((a > b ? a - b : b - a) <= 1); /* within one */
  /* The skew leaves the draining worker out. */
  CHECK(rebalance_skew(map, w, 3) < 1.001);
  slot_map_destroy(&map);
}

static void test_down_workers_keep_their_slots(void) {
  uint32_t ids[] = {1, 2};
  slot_map_t *map = map_spread(ids, 2);
  /* Worker 2 is DOWN, worker 3 just joined: only worker 1's slots move. */
  rebalance_worker_t w[] = {{1, 1, 0, 0}, {2, 0, 0, 0}, {3, 1, 0, 0}};
  CHECK(run_to_balance(map, w, 3) > 0);
  CHECK_EQ(slot_map_count_owned(map, 2), 512);
  CHECK_EQ(slot_map_count_owned(map, 1), 256);
  CHECK_EQ(slot_map_count_owned(map, 3), 256);
  /* A DOWN worker is never a target either, and a drain with no one to
   * take the slots plans nothing. */
  rebalance_worker_t alone[] = {{1, 1, 1, 0}, {2, 0, 0, 0}, {3, 0, 0, 0}};
  rebalance_move_t out[8];
  CHECK_EQ(rebalance_plan(map, alone, 3, NULL, 0, out, 8), 0);
  slot_map_destroy(&map);
}

static void test_moving_slots_are_not_planned_twice(void) {
  uint32_t one[] = {1};
  slot_map_t *map = map_spread(one, 1);
  rebalance_worker_t w[] = {{1, 1, 0, 0}, {2, 1, 0, 0}};
  rebalance_move_t active = {0, 1, 2}; /* slot 0 moving from 1 to 2 */
  rebalance_move_t out[8];
  /* Worker 1 already sends: nothing more from it. */
  CHECK_EQ(rebalance_plan(map, w, 2, &active, 1, out, 8), 0);
  CHECK_EQ(rebalance_plan(map, w, 2, NULL, 0, out, 1), 1);
  CHECK_EQ(out[0].slot, 0);
  CHECK_EQ(out[0].source, 1);
  CHECK_EQ(out[0].target, 2);
  slot_map_destroy(&map);
}

/* A worker whose store is full takes no slot: neither the newcomer's
 * share nor a draining worker's slots; once it has room it does. */
static void test_full_worker_is_no_target(void) {
  uint32_t ids[] = {1, 2, 3};
  slot_map_t *map = map_spread(ids, 3);
  rebalance_worker_t w[] = {{1, 1, 0, 0}, {2, 1, 0, 0}, {3, 1, 0, 0}, {4, 1, 0, 1}};
  rebalance_move_t out[8];
  CHECK_EQ(rebalance_plan(map, w, 4, NULL, 0, out, 8), 0);
  CHECK_EQ(run_to_balance(map, w, 4), 0);
  CHECK_EQ(slot_map_count_owned(map, 4), 0);
  /* Worker 1 drains: its slots go to 2 and 3 only. */
  w[0].draining = 1;
  CHECK(run_to_balance(map, w, 4) > 0);
  CHECK_EQ(slot_map_count_owned(map, 1), 0);
  CHECK_EQ(slot_map_count_owned(map, 4), 0);
  CHECK_EQ(slot_map_count_owned(map, 2) + slot_map_count_owned(map, 3), TALLY_SLOT_COUNT);
  /* Every other worker full as well: the drain waits, nothing planned. */
  slot_map_set_owner(map, 0, 1);
  w[1].full = w[2].full = 1;
  CHECK_EQ(rebalance_plan(map, w, 4, NULL, 0, out, 8), 0);
  /* Worker 4 has room again: it gets the drained slot and a third. */
  w[3].full = 0;
  CHECK(run_to_balance(map, w, 4) > 0);
  CHECK_EQ(slot_map_count_owned(map, 1), 0);
  uint32_t got = slot_map_count_owned(map, 4);
  CHECK(got >= 341 && got <= 342);
  /* A full worker may still be a source: the most loaded one gives. */
  slot_map_destroy(&map);
  uint32_t two[] = {1, 2};
  map = map_spread(two, 2);
  rebalance_worker_t v[] = {{1, 1, 0, 1}, {2, 1, 0, 0}, {3, 1, 0, 0}};
  size_t k = rebalance_plan(map, v, 3, NULL, 0, out, 8);
  CHECK_EQ(k, 2);
  for (size_t i = 0; i < k; i++) CHECK_EQ(out[i].target, 3);
  slot_map_destroy(&map);
}

int main(void) {
  test_deadline(20);
  test_balanced_plans_nothing();
  test_join_gets_a_quarter();
  test_drain_empties_the_worker();
  test_down_workers_keep_their_slots();
  test_moving_slots_are_not_planned_twice();
  test_full_worker_is_no_target();
  return test_report();
}
