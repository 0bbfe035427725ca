/* Unit test of coordinator/membership: ordering, durable vs. heartbeat
 * fields, replication lags, and silence detection. */
#include "coordinator_test.h"
#include "membership.h"
#include "slot.h"
#include "tally_error.h"

static void put(membership_t *m, uint32_t id, const char *endpoint, Tally__WorkerState state,
                uint64_t now) {
  Tally__WorkerInfo record = TALLY__WORKER_INFO__INIT;
  record.id = id;
  record.endpoint = (char *)endpoint;
  record.state = state;
  CHECK_EQ(membership_put(m, &record, now), 0);
}

static void test_order_and_replace(void) {
  membership_t *m = NULL;
  CHECK_EQ(membership_new(&m), 0);
  CHECK_EQ(membership_count(m), 0);
  CHECK(membership_find(m, 1) == NULL);
  put(m, 5, "tcp://a:5", TALLY__WORKER_STATE__WORKER_UP, 100);
  put(m, 2, "tcp://a:2", TALLY__WORKER_STATE__WORKER_UP, 100);
  put(m, 9, "tcp://a:9", TALLY__WORKER_STATE__WORKER_DOWN, 100);
  CHECK_EQ(membership_count(m), 3);
  CHECK_EQ(membership_worker_at(m, 0)->id, 2);
  CHECK_EQ(membership_worker_at(m, 1)->id, 5);
  CHECK_EQ(membership_worker_at(m, 2)->id, 9);

  /* Heartbeat figures survive a change of the durable part. */
  Tally__BacklogHint hint = TALLY__BACKLOG_HINT__INIT, *hints[] = {&hint};
  hint.project_id = 4, hint.market = "es", hint.depth = 77;
  Tally__Heartbeat hb = TALLY__HEARTBEAT__INIT;
  hb.worker_id = 5, hb.queued = 10, hb.live_leases = 3, hb.items = 1000;
  hb.n_backlog = 1, hb.backlog = hints;
  CHECK_EQ(membership_note_heartbeat(m, &hb, 123456, 200), 0);
  hint.depth = 1; /* the membership holds its own copy */
  put(m, 5, "tcp://b:5", TALLY__WORKER_STATE__WORKER_UP, 300);
  const Tally__WorkerInfo *w = membership_find(m, 5);
  CHECK(w != NULL && strcmp(w->endpoint, "tcp://b:5") == 0);
  CHECK(w != NULL && w->queued == 10 && w->live_leases == 3 && w->items == 1000);
  CHECK(w != NULL && w->last_heartbeat_ms == 123456);
  CHECK(w != NULL && w->n_backlog == 1 && w->backlog[0]->depth == 77 &&
        strcmp(w->backlog[0]->market, "es") == 0);
  CHECK_EQ(membership_count(m), 3);

  hb.worker_id = 4;
  CHECK_EQ(membership_note_heartbeat(m, &hb, 1, 1), TALLY_E_NOT_FOUND);
  CHECK_EQ(membership_touch(m, 4, 1, 1), TALLY_E_NOT_FOUND);
  membership_destroy(&m);
  CHECK(m == NULL);
  membership_destroy(&m);
}

static void test_backlog_is_capped(void) {
  membership_t *m = NULL;
  membership_new(&m);
  put(m, 1, "tcp://a:1", TALLY__WORKER_STATE__WORKER_UP, 0);
  size_t n = MEMBERSHIP_MAX_BACKLOG_HINTS + 10;
  Tally__BacklogHint *storage = calloc(n, sizeof *storage);
  Tally__BacklogHint **hints = calloc(n, sizeof *hints);
  for (size_t i = 0; i < n; i++) {
    tally__backlog_hint__init(&storage[i]);
    storage[i].depth = i;
    hints[i] = &storage[i];
  }
  Tally__Heartbeat hb = TALLY__HEARTBEAT__INIT;
  hb.worker_id = 1, hb.n_backlog = n, hb.backlog = hints;
  CHECK_EQ(membership_note_heartbeat(m, &hb, 1, 1), 0);
  CHECK_EQ(membership_find(m, 1)->n_backlog, MEMBERSHIP_MAX_BACKLOG_HINTS);
  hb.n_backlog = 0; /* a later heartbeat without hints clears them */
  CHECK_EQ(membership_note_heartbeat(m, &hb, 2, 2), 0);
  CHECK_EQ(membership_find(m, 1)->n_backlog, 0);
  free(hints);
  free(storage);
  membership_destroy(&m);
}

/* The lags of the last heartbeat are kept (copied), invalid ones dropped,
 * at most MEMBERSHIP_MAX_LAGS, and each heartbeat replaces the last. */
static void test_lags(void) {
  membership_t *m = NULL;
  membership_new(&m);
  put(m, 1, "tcp://a:1", TALLY__WORKER_STATE__WORKER_UP, 0);
  size_t n = 0;
  CHECK(membership_lags_at(m, 0, &n) == NULL && n == 0); /* before a heartbeat */
  Tally__ReplicaLag lag[3], *lags[3];
  for (size_t i = 0; i < 3; i++) {
    tally__replica_lag__init(&lag[i]);
    lags[i] = &lag[i];
  }
  lag[0].slot = 7, lag[0].follower_id = 2, lag[0].sent_seq = 10, lag[0].acked_seq = 8;
  lag[0].lag_ms = 35;
  lag[1].slot = TALLY_SLOT_COUNT, lag[1].follower_id = 2; /* no such slot: dropped */
  lag[2].slot = 9, lag[2].follower_id = 0;                /* no follower: dropped */
  Tally__Heartbeat hb = TALLY__HEARTBEAT__INIT;
  hb.worker_id = 1, hb.n_lags = 3, hb.lags = lags;
  CHECK_EQ(membership_note_heartbeat(m, &hb, 1, 1), 0);
  lag[0].lag_ms = 1; /* the membership holds its own copy */
  Tally__ReplicaLag **kept = membership_lags_at(m, 0, &n);
  CHECK_EQ(n, 1);
  CHECK(n == 1 && kept[0]->slot == 7 && kept[0]->follower_id == 2 && kept[0]->sent_seq == 10 &&
        kept[0]->acked_seq == 8 && kept[0]->lag_ms == 35);

  size_t many = MEMBERSHIP_MAX_LAGS + 5;
  Tally__ReplicaLag *storage = calloc(many, sizeof *storage);
  Tally__ReplicaLag **pointers = calloc(many, sizeof *pointers);
  for (size_t i = 0; i < many; i++) {
    tally__replica_lag__init(&storage[i]);
    storage[i].slot = (uint32_t)(i % TALLY_SLOT_COUNT);
    storage[i].follower_id = 2 + (uint32_t)(i / TALLY_SLOT_COUNT);
    pointers[i] = &storage[i];
  }
  hb.n_lags = many, hb.lags = pointers;
  CHECK_EQ(membership_note_heartbeat(m, &hb, 2, 2), 0);
  membership_lags_at(m, 0, &n);
  CHECK_EQ(n, MEMBERSHIP_MAX_LAGS);
  hb.n_lags = 0; /* a heartbeat without lags clears them */
  CHECK_EQ(membership_note_heartbeat(m, &hb, 3, 3), 0);
  membership_lags_at(m, 0, &n);
  CHECK_EQ(n, 0);
  free(pointers);
  free(storage);
  membership_destroy(&m);
}

static void test_liveness(void) {
  membership_t *m = NULL;
  uint32_t ids[8];
  membership_new(&m);
  put(m, 1, "tcp://a:1", TALLY__WORKER_STATE__WORKER_UP, 1000);
  put(m, 2, "tcp://a:2", TALLY__WORKER_STATE__WORKER_UP, 1000);
  put(m, 3, "tcp://a:3", TALLY__WORKER_STATE__WORKER_DOWN, 0);
  CHECK_EQ(membership_up_ids(m, ids), 2);
  CHECK(ids[0] == 1 && ids[1] == 2);
  CHECK_EQ(membership_silent_ids(m, 1500, 500, ids), 0); /* exactly the timeout: not yet */
  CHECK_EQ(membership_touch(m, 2, 99, 1400), 0);
  CHECK_EQ(membership_find(m, 2)->last_heartbeat_ms, 99);
  CHECK_EQ(membership_silent_ids(m, 1501, 500, ids), 1);
  CHECK_EQ(ids[0], 1);
  CHECK_EQ(membership_silent_ids(m, 5000, 500, ids), 2); /* DOWN workers are never listed */
  CHECK_EQ(membership_silent_ids(m, 10, 500, ids), 0);   /* clock before last sight */
  membership_destroy(&m);
}

int main(void) {
  test_deadline(20);
  test_order_and_replace();
  test_backlog_is_capped();
  test_lags();
  test_liveness();
  return test_report();
}
