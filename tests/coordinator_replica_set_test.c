/* Unit test of coordinator/replica_set: follower assignment (spread, kept
 * while eligible), in-sync changes from the slot's primary only, failover
 * (an in-sync follower promoted in a new slot epoch, or the slot waits),
 * slot moves, and the stored form. */
#include <stdlib.h>

#include "coordinator_test.h"
#include "replica_set.h"
#include "tally_error.h"

static uint32_t owners[TALLY_SLOT_COUNT];

static void own_round_robin(const uint32_t *ids, size_t n) {
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) owners[s] = ids[s % n];
}

static void test_assign_spreads_and_keeps(void) {
  replica_set_t *rs = NULL;
  CHECK_EQ(replica_set_new(&rs, 0), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(replica_set_new(&rs, 6), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(replica_set_new(&rs, 2), 0);
  uint32_t ids[] = {1, 2, 3};
  own_round_robin(ids, 3);
  CHECK_EQ(replica_set_assign(rs, owners, ids, 3, ids, 3), TALLY_SLOT_COUNT);
  uint32_t follows[4] = {0};
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    CHECK_EQ(replica_set_slot_epoch(rs, s), 1);
    CHECK(!replica_set_is_follower(rs, s, owners[s]));
    int n = 0;
    for (uint32_t w = 1; w <= 3; w++)
      if (replica_set_is_follower(rs, s, w)) {
        follows[w]++;
        n++;
      }
    CHECK_EQ(n, 1);
    CHECK(!replica_set_is_in_sync(rs, s, 1) && !replica_set_is_in_sync(rs, s, 2));
  }
  /* Even: each worker follows a third of the slots, give or take one. */
  for (uint32_t w = 1; w <= 3; w++) CHECK(follows[w] >= 340 && follows[w] <= 343);
  /* Stable: nothing changes when asked again. */
  CHECK_EQ(replica_set_assign(rs, owners, ids, 3, ids, 3), 0);
  /* Worker 3 drained: it leaves as follower, its slots' followers change. */
  uint32_t keep[] = {1, 2};
  CHECK(replica_set_assign(rs, owners, keep, 2, keep, 2) > 0);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) CHECK(!replica_set_is_follower(rs, s, 3));
  replica_set_destroy(&rs);
  CHECK(rs == NULL);
}

static void test_isr_and_failover(void) {
  replica_set_t *rs = NULL;
  replica_set_new(&rs, 3);
  uint32_t ids[] = {1, 2, 3};
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) owners[s] = 1;
  replica_set_assign(rs, owners, ids, 3, ids, 3);
  CHECK(replica_set_is_follower(rs, 0, 2) && replica_set_is_follower(rs, 0, 3));
  /* Only the slot's own epoch and followers count. */
  CHECK_EQ(replica_set_isr(rs, 0, 7, 2, 1), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(replica_set_isr(rs, 0, 1, 1, 1), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(replica_set_isr(rs, 0, 1, 3, 1), 1);
  CHECK_EQ(replica_set_isr(rs, 0, 1, 3, 1), 0);
  CHECK(replica_set_is_in_sync(rs, 0, 3));
  /* Worker 1 dies: slot 0 goes to 3 (in sync) in epoch 2; slot 1 waits. */
  uint32_t up[] = {2, 3}, waiting = 0;
  CHECK_EQ(replica_set_failover(rs, owners, 1, up, 2, &waiting), 1);
  CHECK_EQ(waiting, TALLY_SLOT_COUNT - 1);
  CHECK_EQ(owners[0], 3);
  CHECK_EQ(replica_set_slot_epoch(rs, 0), 2);
  CHECK(replica_set_is_follower(rs, 0, 1) && replica_set_is_follower(rs, 0, 2));
  CHECK(!replica_set_is_follower(rs, 0, 3));
  CHECK(!replica_set_is_in_sync(rs, 0, 1) && !replica_set_is_in_sync(rs, 0, 2));
  CHECK_EQ(owners[1], 1);
  CHECK(replica_set_waiting(rs, 1));
  CHECK_EQ(replica_set_count_waiting(rs), TALLY_SLOT_COUNT - 1);
  /* The old primary's report in the old epoch is ignored. */
  CHECK_EQ(replica_set_isr(rs, 0, 1, 2, 0), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(replica_set_owner_back(rs, owners, 1), TALLY_SLOT_COUNT - 1);
  CHECK_EQ(replica_set_count_waiting(rs), 0);
  /* A dead follower leaves every in-sync set. */
  CHECK_EQ(replica_set_isr(rs, 0, 2, 2, 1), 1);
  replica_set_failover(rs, owners, 2, up + 1, 1, NULL);
  CHECK(!replica_set_is_in_sync(rs, 0, 2));
  CHECK_EQ(owners[0], 3);
  /* A move: new epoch, target no longer a follower, nothing in sync. */
  CHECK_EQ(replica_set_isr(rs, 0, 2, 1, 1), 1);
  replica_set_moved(rs, 0, 1);
  CHECK_EQ(replica_set_slot_epoch(rs, 0), 3);
  CHECK(!replica_set_is_follower(rs, 0, 1) && !replica_set_is_in_sync(rs, 0, 1));
  replica_set_destroy(&rs);
}

static void test_stored_form_and_view(void) {
  replica_set_t *rs = NULL, *back = NULL;
  replica_set_new(&rs, 2);
  replica_set_new(&back, 2);
  uint32_t ids[] = {4, 9};
  own_round_robin(ids, 2);
  replica_set_assign(rs, owners, ids, 2, ids, 2);
  replica_set_isr(rs, 5, 1, owners[5] == 4 ? 9 : 4, 1);
  uint8_t *blob = NULL;
  size_t len = 0;
  CHECK_EQ(replica_set_encode(rs, &blob, &len), 0);
  CHECK_EQ(replica_set_decode(back, blob, len), 0);
  CHECK_EQ(replica_set_decode(back, blob, len - 1), TALLY_E_STORAGE);
  CHECK_EQ(replica_set_decode(back, blob, 3), TALLY_E_STORAGE);
  free(blob);
  Tally__ClusterMap map = TALLY__CLUSTER_MAP__INIT;
  replica_set_view(back, &map);
  CHECK_EQ(map.replicas, 2);
  CHECK_EQ(map.n_slots, TALLY_SLOT_COUNT);
  CHECK_EQ(map.slots[5]->slot, 5);
  CHECK_EQ(map.slots[5]->n_followers, 1);
  CHECK_EQ(map.slots[5]->n_in_sync, 1);
  CHECK_EQ(map.slots[6]->n_in_sync, 0);
  CHECK_EQ(map.slots[5]->slot_epoch, 1);
  replica_set_t *one = NULL;
  replica_set_new(&one, 1);
  replica_set_view(one, &map);
  CHECK_EQ(map.replicas, 1);
  CHECK_EQ(map.n_slots, 0);
  replica_set_destroy(&one);
  replica_set_destroy(&rs);
  replica_set_destroy(&back);
}

int main(void) {
  test_deadline(20);
  test_assign_spreads_and_keeps();
  test_isr_and_failover();
  test_stored_form_and_view();
  return test_report();
}
