/* Unit test of coordinator/slot_map: balanced assignment of unassigned
 * slots only, and epoch bumps. */
#include "coordinator_test.h"
#include "slot_map.h"
#include "tally_error.h"

static void test_fresh_map(void) {
  slot_map_t *map = NULL;
  CHECK_EQ(slot_map_new(&map), 0);
  CHECK_EQ(slot_map_epoch(map), 0);
  CHECK_EQ(slot_map_count_owned(map, 0), TALLY_SLOT_COUNT);
  CHECK_EQ(slot_map_assign_unassigned(map, NULL, 0), 0);
  CHECK_EQ(slot_map_epoch(map), 0);
  slot_map_destroy(&map);
  CHECK(map == NULL);
  slot_map_destroy(&map); /* safe twice */
}

static void test_first_worker_gets_everything(void) {
  slot_map_t *map = NULL;
  uint32_t first = 7, both[] = {7, 9};
  slot_map_new(&map);
  CHECK_EQ(slot_map_assign_unassigned(map, &first, 1), TALLY_SLOT_COUNT);
  CHECK_EQ(slot_map_epoch(map), 1);
  CHECK_EQ(slot_map_count_owned(map, 7), TALLY_SLOT_COUNT);
  /* A second worker joining later gets nothing: owned slots never move. */
  CHECK_EQ(slot_map_assign_unassigned(map, both, 2), 0);
  CHECK_EQ(slot_map_epoch(map), 1);
  CHECK_EQ(slot_map_count_owned(map, 9), 0);
  slot_map_destroy(&map);
}

static void test_balanced_across_workers(void) {
  slot_map_t *map = NULL;
  uint32_t workers[] = {3, 1, 2};
  slot_map_new(&map);
  CHECK_EQ(slot_map_assign_unassigned(map, workers, 3), TALLY_SLOT_COUNT);
  CHECK_EQ(slot_map_epoch(map), 1);
  uint32_t a = slot_map_count_owned(map, 1), b = slot_map_count_owned(map, 2),
           c = slot_map_count_owned(map, 3);
  CHECK_EQ(a + b + c, TALLY_SLOT_COUNT);
  CHECK_EQ(a, 342); /* ties go to the lowest id */
  CHECK_EQ(b, 341);
  CHECK_EQ(c, 341);
  CHECK_EQ(slot_map_count_owned(map, 0), 0);
  slot_map_destroy(&map);
}

static void test_only_unassigned_slots_move(void) {
  slot_map_t *map = NULL, *before = NULL;
  slot_map_new(&map);
  slot_map_new(&before);
  slot_map_set_epoch(map, 41);
  for (uint32_t slot = 0; slot < 100; slot++) slot_map_set_owner(map, slot, 5);
  /* Worker 8 owns slots but is not a candidate (e.g. DOWN): they stay its. */
  for (uint32_t slot = 500; slot < 510; slot++) slot_map_set_owner(map, slot, 8);
  slot_map_copy(before, map);
  uint32_t workers[] = {5, 6};
  CHECK_EQ(slot_map_assign_unassigned(map, workers, 2), TALLY_SLOT_COUNT - 110);
  CHECK_EQ(slot_map_epoch(map), 42);
  int kept = 1;
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++)
    if (slot_map_owner(before, slot) != 0 &&
        slot_map_owner(map, slot) != slot_map_owner(before, slot))
      kept = 0;
  CHECK(kept);
  CHECK_EQ(slot_map_count_owned(map, 8), 10);
  /* 914 new slots balance 5 (had 100) and 6 (had 0): 507 each. */
  CHECK_EQ(slot_map_count_owned(map, 5), 507);
  CHECK_EQ(slot_map_count_owned(map, 6), 507);
  CHECK_EQ(slot_map_count_owned(map, 0), 0);
  /* The copy was not touched by the assignment. */
  CHECK_EQ(slot_map_epoch(before), 41);
  CHECK_EQ(slot_map_count_owned(before, 0), TALLY_SLOT_COUNT - 110);
  slot_map_destroy(&map);
  slot_map_destroy(&before);
}

static void test_freed_slots_go_to_least_loaded(void) {
  slot_map_t *map = NULL;
  uint32_t workers[] = {1, 2};
  slot_map_new(&map);
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++)
    slot_map_set_owner(map, slot, slot < 600 ? 1 : 2);
  for (uint32_t slot = 10; slot < 20; slot++) slot_map_set_owner(map, slot, 0);
  CHECK_EQ(slot_map_assign_unassigned(map, workers, 2), 10);
  CHECK_EQ(slot_map_count_owned(map, 1), 590);
  CHECK_EQ(slot_map_count_owned(map, 2), 434);
  CHECK_EQ(slot_map_owner(map, 15), 2);
  CHECK_EQ(slot_map_epoch(map), 1);
  CHECK_EQ(slot_map_bump_epoch(map), 2);
  CHECK_EQ(slot_map_owners(map)[0], 1);
  slot_map_destroy(&map);
}

int main(void) {
  test_deadline(20);
  test_fresh_map();
  test_first_worker_gets_everything();
  test_balanced_across_workers();
  test_only_unassigned_slots_move();
  test_freed_slots_go_to_least_loaded();
  return test_report();
}
