/* Unit tests of the worker's in-memory structures and record rules:
 * queue ordering (queue_index), the lease table, item records, key encoding,
 * slot hashing, the error table and protobuf round trips. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "item_record.h"
#include "keys.h"
#include "lease_table.h"
#include "queue_index.h"
#include "slot.h"
#include "tally_error.h"
#include "wire.h"

static void test_keys(void) {
  uint8_t a[KEYS_MAX], b[KEYS_MAX];
  /* Byte order is queue order: higher priority first, then older first. */
  size_t la = keys_queue_entry(a, 7, 3, 0, "es", 3, 100);
  size_t lb = keys_queue_entry(b, 7, 3, 0, "es", 1, 5);
  CHECK(la == lb && memcmp(a, b, la) < 0);
  la = keys_queue_entry(a, 7, 3, 0, "es", 1, 5);
  lb = keys_queue_entry(b, 7, 3, 0, "es", 1, 6);
  CHECK(memcmp(a, b, la) < 0);
  /* Slot first: every key of slot 7 sorts before every key of slot 8. */
  la = keys_item(a, 7, 0xffffffff, "zzz", 3);
  lb = keys_item(b, 8, 0, "a", 1);
  CHECK(memcmp(a, b, 2) < 0);
  keys_queue_entry_t e;
  la = keys_queue_entry(a, 1023, 42, 1, "ja", 2, 0x0102030405060708ull);
  CHECK(keys_parse_queue_entry(a, la, &e) == 0);
  CHECK(e.slot == 1023 && e.project_id == 42 && e.stage == 1 && e.priority == 2);
  CHECK(e.seq == 0x0102030405060708ull && e.market_len == 2 && memcmp(e.market, "ja", 2) == 0);
  CHECK(keys_parse_queue_entry(a, la - 1, &e) == TALLY_E_BAD_REQUEST);
  uint8_t prefix[] = {1, 2, 0xff}, end[8];
  CHECK(keys_prefix_end(end, prefix, 3) == 2 && end[0] == 1 && end[1] == 3);
  uint8_t all_ff[] = {0xff, 0xff};
  CHECK(keys_prefix_end(end, all_ff, 2) == 0);
}

static void test_slot(void) {
  uint32_t counts[TALLY_SLOT_COUNT] = {0};
  char id[32];
  int out_of_range = 0;
  for (int i = 0; i < 102400; i++) {
    int n = snprintf(id, sizeof id, "item-%d", i);
    uint32_t s = slot_of_item("moderation", id, (size_t)n);
    if (s >= TALLY_SLOT_COUNT) {
      out_of_range++;
      continue;
    }
    counts[s]++;
  }
  CHECK(out_of_range == 0);
  uint32_t lo = UINT32_MAX, hi = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    if (counts[s] < lo) lo = counts[s];
    if (counts[s] > hi) hi = counts[s];
  }
  /* 100 per slot on average; a fair hash keeps every slot within +-50%. */
  CHECK(lo > 50 && hi < 150);
  /* Stable: part of the wire and storage contract. */
  CHECK(slot_of_item("p", "a", 1) == slot_of_item("p", "a", 1));
  CHECK(slot_of_item("p", "a", 1) != slot_of_item("q", "a", 1) ||
        slot_of_item("p", "b", 1) != slot_of_item("q", "b", 1));
}

static void test_queue_order(void) {
  queue_index_t *qi = queue_index_new();
  queue_t *q = queue_index_get(qi, 1, 0, "es", 1);
  CHECK(q != NULL && queue_index_get(qi, 1, 0, "es", 0) == q);
  CHECK(queue_index_get(qi, 1, 0, "ja", 0) == NULL);
  uint32_t slot;
  queue_position_t pos;
  CHECK(!queue_peek(q, &slot, &pos));
  queue_add(q, 10, (queue_position_t){1, 5});
  queue_add(q, 20, (queue_position_t){1, 3});
  queue_add(q, 30, (queue_position_t){0, 1});
  CHECK(queue_peek(q, &slot, &pos) && slot == 20 && pos.seq == 3);
  /* Emergency beats every older normal item. */
  queue_add(q, 40, (queue_position_t){3, 99});
  CHECK(queue_peek(q, &slot, &pos) && slot == 40 && pos.priority == 3);
  CHECK_EQ_U64(queue_depth(q), 4);
  /* A later, worse entry in a slot does not move that slot's head. */
  queue_add(q, 20, (queue_position_t){1, 50});
  CHECK(queue_slot_head(q, 20, &pos) && pos.seq == 3);
  /* Removing a non-head entry keeps the head; removing the head asks for more. */
  CHECK(queue_remove(q, 20, (queue_position_t){1, 50}) == 0);
  CHECK(queue_remove(q, 40, (queue_position_t){3, 99}) == 1);
  queue_set_head(q, 40, NULL);
  CHECK(queue_peek(q, &slot, &pos) && slot == 20);
  CHECK(queue_remove(q, 20, (queue_position_t){1, 3}) == 1);
  queue_set_head(q, 20, NULL);
  CHECK(queue_peek(q, &slot, &pos) && slot == 10 && pos.seq == 5);
  CHECK_EQ_U64(queue_depth(q), 2);
  uint32_t slots[TALLY_SLOT_COUNT];
  CHECK(queue_nonempty_slots(q, slots) == 2);
  /* Random heads: the peek is always the minimum. */
  srand(7);
  queue_t *r = queue_index_get(qi, 2, 0, "ko", 1);
  queue_position_t heads[TALLY_SLOT_COUNT];
  int present[TALLY_SLOT_COUNT] = {0};
  for (int round = 0; round < 20000; round++) {
    uint32_t s = (uint32_t)rand() % TALLY_SLOT_COUNT;
    if (rand() % 3 == 0) {
      queue_set_head(r, s, NULL);
      present[s] = 0;
    } else {
      heads[s] = (queue_position_t){(uint32_t)rand() % 4, (uint64_t)rand() % 1000};
      queue_set_head(r, s, &heads[s]);
      present[s] = 1;
    }
    int any = 0;
    queue_position_t best = {0, 0};
    for (uint32_t i = 0; i < TALLY_SLOT_COUNT; i++)
      if (present[i] && (!any || queue_position_compare(heads[i], best) < 0)) best = heads[i], any = 1;
    if (round % 97 == 0) {
      int ok = queue_peek(r, &slot, &pos);
      CHECK(ok == any && (!any || queue_position_compare(pos, best) == 0));
    }
  }
  queue_index_destroy(&qi);
  CHECK(qi == NULL);
  queue_index_destroy(&qi); /* safe twice */
}

static void test_lease_table(void) {
  lease_table_t *t = lease_table_new();
  lease_t l = {0};
  l.item_id = "item-1";
  l.item_len = 6;
  strcpy(l.labeler, "ana");
  for (uint64_t i = 1; i <= 100; i++) {
    l.lease_id = i;
    l.deadline_ms = 1000 + (i * 7919) % 100; /* shuffled deadlines */
    CHECK(lease_table_add(t, &l) == 0);
  }
  CHECK(lease_table_add(t, &l) == TALLY_E_ALREADY_EXISTS);
  CHECK(lease_table_count(t) == 100);
  CHECK(lease_table_find(t, 50) != NULL && strcmp(lease_table_find(t, 50)->item_id, "item-1") == 0);
  CHECK(lease_table_next_expired(t, 999) == NULL);
  uint64_t last = 0;
  int expired = 0;
  const lease_t *e;
  while ((e = lease_table_next_expired(t, 1049)) != NULL) {
    CHECK(e->deadline_ms >= last && e->deadline_ms <= 1049);
    last = e->deadline_ms;
    lease_table_remove(t, e->lease_id);
    expired++;
  }
  CHECK(expired == 50);
  lease_table_remove(t, 12345); /* absent: no-op */
  CHECK(lease_table_count(t) == 50);
  lease_table_destroy(&t);
  lease_table_destroy(&t);
  CHECK(t == NULL);
}

static void test_item_record(void) {
  item_record_t *rec = item_record_new("es", 1, "hello", "", 2, 9, 1234);
  CHECK(rec != NULL && item_record_wants_work(rec));
  CHECK(item_record_add_holder(rec, "ana") == 0);
  CHECK(item_record_wants_work(rec) && item_record_excludes(rec, "ana"));
  CHECK(item_record_add_holder(rec, "ben") == 0);
  CHECK(!item_record_wants_work(rec)); /* overlap 2: two leases out */
  CHECK(item_record_remove_holder(rec, "ana") == 1 && item_record_remove_holder(rec, "ana") == 0);
  CHECK(item_record_add_label(rec, "ana", "spam", 5) == 0);
  CHECK(!item_record_wants_work(rec) && item_record_excludes(rec, "ana"));
  CHECK(item_record_remove_holder(rec, "ben") == 1 && item_record_wants_work(rec));
  CHECK(item_record_add_skipper(rec, "ben") == 0 && item_record_excludes(rec, "ben"));
  CHECK(!item_record_excludes(rec, "cy"));
  size_t len;
  uint8_t *buf = item_record_encode(rec, &len);
  item_record_t *back = item_record_decode(buf, len);
  CHECK(back != NULL && back->n_labels == 1 && strcmp(back->labels[0]->label, "spam") == 0);
  CHECK(back && strcmp(back->market, "es") == 0 && back->seq == 9 && back->overlap == 2);
  CHECK(item_record_decode((const uint8_t *)"\xff\xff\xff", 3) == NULL);
  free(buf);
  item_record_free(&back);
  item_record_free(&rec);
  item_record_free(&rec);
}

static void test_wire(void) {
  Tally__Envelope env;
  Tally__SubmitRequest submit = TALLY__SUBMIT_REQUEST__INIT;
  wire_envelope_init(&env, 77);
  submit.labeler = "ana";
  submit.slot = 12;
  submit.lease_id = 1ull << 41;
  submit.label = "spam";
  env.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  env.submit = &submit;
  uint8_t *buf;
  size_t len;
  CHECK(wire_encode(&env, &buf, &len) == 0);
  Tally__Envelope *back = NULL;
  uint64_t rid;
  CHECK(wire_decode(buf, len, &back, &rid) == 0 && rid == 77);
  CHECK(back && back->body_case == TALLY__ENVELOPE__BODY_SUBMIT &&
        back->submit->lease_id == (1ull << 41) && strcmp(back->submit->label, "spam") == 0);
  CHECK(back && strcmp(wire_body_name(back), "submit") == 0);
  wire_envelope_free(&back);
  free(buf);
  /* Garbage, a missing body, a wrong version, an oversized frame. */
  CHECK(wire_decode("\x0a\xff\xff", 3, &back, &rid) == TALLY_E_BAD_REQUEST && back == NULL);
  wire_envelope_init(&env, 5);
  CHECK(wire_encode(&env, &buf, &len) == 0);
  CHECK(wire_decode(buf, len, &back, &rid) == TALLY_E_BAD_REQUEST);
  free(buf);
  env.version = 2;
  env.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  env.submit = &submit;
  CHECK(wire_encode(&env, &buf, &len) == 0);
  CHECK(wire_decode(buf, len, &back, &rid) == TALLY_E_UNSUPPORTED_VERSION && rid == 5);
  free(buf);
  CHECK(wire_decode("", TALLY_MAX_MESSAGE_BYTES + 1, &back, &rid) == TALLY_E_TOO_LARGE);
}

static void test_errors(void) {
  CHECK(strcmp(tally_strerror(TALLY_E_STALE_LEASE), "lease expired or unknown") == 0);
  CHECK(strcmp(tally_error_name(TALLY_E_MOVED), "MOVED") == 0);
  CHECK(tally_error_to_wire(TALLY_E_LABEL_NOT_IN_TAXONOMY) ==
        TALLY__ERROR_CODE__LABEL_NOT_IN_TAXONOMY);
  CHECK(tally_error_from_wire(TALLY__ERROR_CODE__NOT_LEASE_OWNER) == TALLY_E_NOT_LEASE_OWNER);
  CHECK(tally_error_to_wire(TALLY_E_TIMEOUT) == TALLY__ERROR_CODE__UNAVAILABLE);
  CHECK(tally_error_from_wire(9999) == TALLY_E_INTERNAL);
  CHECK(tally_error_is_retryable(TALLY_E_MOVED) && !tally_error_is_retryable(TALLY_E_STALE_LEASE));
  CHECK(strcmp(tally_strerror(-424242), "unknown error") == 0);
}

int main(void) {
  check_deadline(60, NULL);
  test_keys();
  test_slot();
  test_queue_order();
  test_lease_table();
  test_item_record();
  test_wire();
  test_errors();
  return check_summary();
}
