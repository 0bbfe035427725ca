/* Unit tests of the worker's in-memory structures and record rules:
 * queue ordering and sub-queue buffers (queue_index), the lease table, item records, key encoding,
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
  queue_add(q, 10, (queue_position_t){1, 5}, "a", 1);
  queue_add(q, 20, (queue_position_t){1, 3}, "b", 1);
  queue_add(q, 30, (queue_position_t){0, 1}, "c", 1);
  CHECK(queue_peek(q, &slot, &pos) && slot == 20 && pos.seq == 3);
  /* Emergency beats every older normal item. */
  queue_add(q, 40, (queue_position_t){3, 99}, "d", 1);
  CHECK(queue_peek(q, &slot, &pos) && slot == 40 && pos.priority == 3);
  CHECK_EQ_U64(queue_depth(q), 4);
  /* A later, worse entry in a slot does not move that slot's head. */
  queue_add(q, 20, (queue_position_t){1, 50}, "e", 1);
  CHECK(queue_slot_head(q, 20, &pos) && pos.seq == 3);
  /* Removing a non-head entry keeps the head; removing the head of a slot
   * whose entries the index does not know asks for more. */
  CHECK(queue_remove(q, 20, (queue_position_t){1, 50}) == 0);
  queue_set_head(q, 40, &(queue_position_t){3, 99});
  CHECK(queue_remove(q, 40, (queue_position_t){3, 99}) == 1);
  queue_set_head(q, 40, NULL);
  CHECK(queue_peek(q, &slot, &pos) && slot == 20);
  /* The index knows slot 20 holds one entry: removing it empties the slot. */
  CHECK(queue_remove(q, 20, (queue_position_t){1, 3}) == 0);
  CHECK(!queue_slot_head(q, 20, &pos));
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

/* Walks the slot's buffer and checks it is the start of `model` (n entries
 * in queue order, storage as the worker sees it), with the ids it keeps. */
static int buffer_matches(const queue_t *q, uint32_t slot, const queue_position_t *model,
                          char (*ids)[40], size_t n) {
  queue_position_t head, next;
  if (n == 0) return !queue_slot_head(q, slot, &head) && !queue_slot_is_buffered(q, slot);
  if (!queue_slot_head(q, slot, &head) || queue_position_compare(head, model[0]) != 0) return 0;
  if (!queue_slot_is_buffered(q, slot)) return queue_slot_next(q, slot, model[0], &next) == -1;
  size_t i = 0;
  for (;;) {
    const char *id;
    size_t len, want = strlen(ids[i]);
    int kept = queue_slot_item(q, slot, model[i], &id, &len);
    if (kept != (want <= QUEUE_ID_INLINE)) return 0;
    if (kept && (len != want || memcmp(id, ids[i], len) != 0)) return 0;
    int known = queue_slot_next(q, slot, model[i], &next);
    if (known < 0) break;
    if (known == 0) return i == n - 1;
    if (i + 1 >= n || queue_position_compare(next, model[i + 1]) != 0) return 0;
    i++;
  }
  /* Between two entries the buffer holds, the next is the later one. */
  if (i >= 1 && model[0].seq + 1 < model[1].seq &&
      (queue_slot_next(q, slot, (queue_position_t){model[0].priority, model[0].seq + 1}, &next) !=
           1 ||
       queue_position_compare(next, model[1]) != 0))
    return 0;
  return i < QUEUE_BUFFER_MAX;
}

/* Fills the slot from the model's first entries, as labeling.c reads them
 * from storage: up to QUEUE_BUFFER_MAX, complete only when the end was seen. */
static void fill_from_model(queue_t *q, uint32_t slot, const queue_position_t *model,
                            char (*ids)[40], size_t n) {
  queue_entry_t entries[QUEUE_BUFFER_MAX];
  size_t k = n < QUEUE_BUFFER_MAX ? n : QUEUE_BUFFER_MAX;
  for (size_t i = 0; i < k; i++) entries[i] = (queue_entry_t){model[i], ids[i], strlen(ids[i])};
  queue_slot_fill(q, slot, entries, k, k < QUEUE_BUFFER_MAX);
}

static void model_insert(queue_position_t *model, char (*ids)[40], size_t *n,
                         queue_position_t pos, const char *id) {
  size_t at = 0;
  while (at < *n && queue_position_compare(model[at], pos) < 0) at++;
  memmove(&model[at + 1], &model[at], (*n - at) * sizeof *model);
  memmove(&ids[at + 1], &ids[at], (*n - at) * sizeof *ids);
  model[at] = pos;
  snprintf(ids[at], sizeof ids[at], "%s", id);
  (*n)++;
}

static void model_erase(queue_position_t *model, char (*ids)[40], size_t *n, size_t at) {
  memmove(&model[at], &model[at + 1], (*n - at - 1) * sizeof *model);
  memmove(&ids[at], &ids[at + 1], (*n - at - 1) * sizeof *ids);
  (*n)--;
}

static void test_queue_buffer(void) {
  enum { MODEL_MAX = 4096 };
  queue_index_t *qi = queue_index_new();
  queue_t *q = queue_index_get(qi, 1, 0, "es", 1);
  queue_position_t *model = calloc(MODEL_MAX, sizeof *model);
  char(*ids)[40] = calloc(MODEL_MAX, sizeof *ids);
  size_t n = 0;
  const uint32_t s = 5;
  queue_position_t next;
  const char *id;
  size_t len;
  /* An empty sub-queue that gets entries is known whole. */
  const uint64_t seqs[] = {10, 20, 30};
  for (int i = 0; i < 3; i++) {
    char name[40];
    snprintf(name, sizeof name, "item-%d", (int)seqs[i]);
    queue_add(q, s, (queue_position_t){1, seqs[i]}, name, strlen(name));
    model_insert(model, ids, &n, (queue_position_t){1, seqs[i]}, name);
  }
  CHECK(queue_slot_is_buffered(q, s) && buffer_matches(q, s, model, ids, n));
  CHECK(queue_slot_next(q, s, (queue_position_t){1, 30}, &next) == 0);
  CHECK(queue_slot_item(q, s, (queue_position_t){1, 20}, &id, &len) && len == 7 &&
        memcmp(id, "item-20", 7) == 0);
  CHECK(!queue_slot_item(q, s, (queue_position_t){1, 21}, &id, &len));
  /* Inside the buffer, before its head (an emergency), after its end. */
  queue_add(q, s, (queue_position_t){1, 15}, "item-15", 7);
  model_insert(model, ids, &n, (queue_position_t){1, 15}, "item-15");
  queue_add(q, s, (queue_position_t){3, 99}, "item-e99", 8);
  model_insert(model, ids, &n, (queue_position_t){3, 99}, "item-e99");
  CHECK(queue_slot_head(q, s, &next) && next.priority == 3 && next.seq == 99);
  queue_add(q, s, (queue_position_t){1, 40}, "item-40", 7);
  model_insert(model, ids, &n, (queue_position_t){1, 40}, "item-40");
  CHECK(buffer_matches(q, s, model, ids, n) && n == 6);
  /* A long id keeps its place in the buffer, not its bytes. */
  const char *long_id = "an-item-id-longer-than-the-inline-room";
  queue_add(q, s, (queue_position_t){1, 25}, long_id, strlen(long_id));
  model_insert(model, ids, &n, (queue_position_t){1, 25}, long_id);
  CHECK(!queue_slot_item(q, s, (queue_position_t){1, 25}, &id, &len));
  CHECK(queue_slot_next(q, s, (queue_position_t){1, 20}, &next) == 1 && next.seq == 25);
  /* Full: an entry after the last is left to storage; one inside pushes the
   * last out. Either way what follows the buffer is unknown now. */
  queue_add(q, s, (queue_position_t){1, 50}, "item-50", 7);
  model_insert(model, ids, &n, (queue_position_t){1, 50}, "item-50");
  CHECK(n == QUEUE_BUFFER_MAX && buffer_matches(q, s, model, ids, n));
  CHECK(queue_slot_next(q, s, (queue_position_t){1, 50}, &next) == 0);
  queue_add(q, s, (queue_position_t){1, 60}, "item-60", 7);
  model_insert(model, ids, &n, (queue_position_t){1, 60}, "item-60");
  CHECK(queue_slot_next(q, s, (queue_position_t){1, 50}, &next) == -1);
  CHECK(!queue_slot_item(q, s, (queue_position_t){1, 60}, &id, &len));
  queue_add(q, s, (queue_position_t){1, 12}, "item-12", 7);
  model_insert(model, ids, &n, (queue_position_t){1, 12}, "item-12");
  CHECK(buffer_matches(q, s, model, ids, n));
  CHECK(queue_slot_next(q, s, (queue_position_t){1, 40}, &next) == -1);
  CHECK(!queue_slot_item(q, s, (queue_position_t){1, 50}, &id, &len));
  /* A non-head entry leaves the buffer; the head stays. */
  CHECK(queue_remove(q, s, (queue_position_t){1, 15}) == 0);
  CHECK(model[3].seq == 15);
  model_erase(model, ids, &n, 3);
  CHECK(buffer_matches(q, s, model, ids, n));
  /* Popping heads walks the buffer without asking; when it runs out the
   * caller reads on from storage. */
  int asked = 0, pops = 0;
  while (n > 0) {
    int ask = queue_remove(q, s, model[0]);
    model_erase(model, ids, &n, 0);
    pops++;
    if (ask) {
      asked++;
      fill_from_model(q, s, model, ids, n);
    }
    CHECK(buffer_matches(q, s, model, ids, n));
    CHECK_EQ_U64(queue_depth(q), n);
  }
  CHECK(pops == 9 && asked == 1);
  /* A reset head (slot reloaded) forgets the buffer; removing the head then
   * asks; a removal the buffer cannot know of drops it, keeping the head. */
  queue_add(q, s, (queue_position_t){1, 70}, "item-70", 7);
  queue_add(q, s, (queue_position_t){1, 80}, "item-80", 7);
  queue_set_head(q, s, &(queue_position_t){1, 70});
  CHECK(!queue_slot_is_buffered(q, s));
  CHECK(queue_slot_next(q, s, (queue_position_t){1, 70}, &next) == -1);
  CHECK(queue_remove(q, s, (queue_position_t){1, 70}) == 1);
  queue_entry_t rest = {{1, 80}, "item-80", 7};
  queue_slot_fill(q, s, &rest, 1, 1);
  queue_add(q, s, (queue_position_t){1, 90}, "item-90", 7);
  CHECK(queue_remove(q, s, (queue_position_t){1, 85}) == 0);
  CHECK(!queue_slot_is_buffered(q, s) && queue_slot_head(q, s, &next) && next.seq == 80);
  queue_set_head(q, s, NULL);
  queue_set_depth(q, 0);

  /* Random adds and removals against a model of storage, on two slots of
   * which one is reset now and then: the buffer is always its start. */
  srand(11);
  queue_position_t *model2 = calloc(MODEL_MAX, sizeof *model2);
  char(*ids2)[40] = calloc(MODEL_MAX, sizeof *ids2);
  size_t n2 = 0;
  uint64_t next_seq = 1;
  int ok = 1, ok2 = 1;
  asked = pops = 0;
  for (int round = 0; round < 200000 && ok && ok2; round++) {
    int other = rand() % 4 == 0;
    uint32_t slot = other ? 9 : s;
    queue_position_t *m = other ? model2 : model;
    char(*mi)[40] = other ? ids2 : ids;
    size_t *mn = other ? &n2 : &n;
    int op = rand() % 100;
    if (op < 45 && *mn < MODEL_MAX - 1) {
      /* Mostly appends, some older or more urgent entries. */
      queue_position_t p = {(uint32_t)(rand() % 8 == 0 ? 2 : 1), next_seq};
      if (rand() % 4 == 0 && next_seq > 50) p.seq = next_seq - 1 - (uint64_t)(rand() % 50);
      int clash = 0;
      for (size_t i = 0; i < *mn; i++) clash |= queue_position_compare(m[i], p) == 0;
      if (clash) continue;
      if (p.seq == next_seq) next_seq += 1 + (uint64_t)(rand() % 3);
      char name[40];
      if (rand() % 10 == 0)
        snprintf(name, sizeof name, "long-item-id-%020llu", (unsigned long long)p.seq);
      else
        snprintf(name, sizeof name, "i%llu", (unsigned long long)p.seq);
      queue_add(q, slot, p, name, strlen(name));
      model_insert(m, mi, mn, p, name);
    } else if (op < 85 && *mn > 0) {
      int ask = queue_remove(q, slot, m[0]);
      model_erase(m, mi, mn, 0);
      pops++;
      if (ask) {
        asked++;
        fill_from_model(q, slot, m, mi, *mn);
      }
    } else if (op < 97 && *mn > 1) {
      size_t at = 1 + (size_t)rand() % (*mn - 1);
      CHECK(queue_remove(q, slot, m[at]) == 0);
      model_erase(m, mi, mn, at);
    } else if (other) {
      /* Unloaded and loaded again: only the head is known, until a lookup
       * reads the buffer (as candidate_take does). */
      queue_set_head(q, slot, *mn ? &m[0] : NULL);
      if (*mn && rand() % 2) fill_from_model(q, slot, m, mi, *mn);
    }
    ok = buffer_matches(q, s, model, ids, n);
    ok2 = buffer_matches(q, 9, model2, ids2, n2);
  }
  CHECK(ok && ok2);
  CHECK_EQ_U64(queue_depth(q), n + n2);
  /* The buffer spares most reads: far fewer than one per popped head. */
  CHECK(pops > 10000 && asked * 3 < pops);
  free(model);
  free(ids);
  free(model2);
  free(ids2);
  queue_index_destroy(&qi);
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

/* The per-item index: holders of an item, its park state (kept while it
 * has a lease, gone with the last), and the leases of a slot. */
static void test_lease_table_items(void) {
  lease_table_t *t = lease_table_new();
  lease_t l = {0};
  l.slot = 7;
  l.project_id = 3;
  l.deadline_ms = 5000;
  const char *holders[] = {"ana", "ben", "cy"};
  for (uint64_t i = 0; i < 3; i++) {
    l.lease_id = 10 + i;
    l.item_id = "it";
    l.item_len = 2;
    snprintf(l.labeler, sizeof l.labeler, "%s", holders[i]);
    CHECK(lease_table_add(t, &l) == 0);
  }
  l.lease_id = 20;
  l.item_id = "other";
  l.item_len = 5;
  l.slot = 8;
  CHECK(lease_table_add(t, &l) == 0);
  const lease_t *out[4];
  CHECK(lease_table_of_item(t, 7, 3, "it", 2, out, 4) == 3);
  CHECK(lease_table_of_item(t, 7, 3, "it", 2, NULL, 0) == 3);
  CHECK(lease_table_of_item(t, 7, 4, "it", 2, out, 4) == 0); /* other project */
  CHECK(lease_table_of_item(t, 8, 3, "other", 5, out, 4) == 1 && out[0]->lease_id == 20);
  lease_park_t *park = lease_table_park(t, 7, 3, "it", 2);
  CHECK(park != NULL && park->parked == 0);
  if (park) park->parked = 1;
  CHECK(lease_table_park(t, 7, 3, "nope", 4) == NULL);
  uint64_t ids[4];
  CHECK(lease_table_of_slot(t, 7, ids, 4) == 3);
  CHECK(lease_table_of_slot(t, 8, ids, 4) == 1 && ids[0] == 20);
  lease_table_remove(t, 11);
  CHECK(lease_table_of_item(t, 7, 3, "it", 2, out, 4) == 2);
  park = lease_table_park(t, 7, 3, "it", 2);
  CHECK(park != NULL && park->parked == 1); /* kept while a lease lives */
  CHECK(lease_table_count_of(t, "ana") == 1 && lease_table_count_of(t, "ben") == 0);
  lease_table_remove(t, 10);
  lease_table_remove(t, 12);
  CHECK(lease_table_park(t, 7, 3, "it", 2) == NULL); /* gone with the last */
  CHECK(lease_table_count(t) == 1 && lease_table_at(t, 0)->lease_id == 20);
  CHECK(lease_table_at(t, 1) == NULL);
  lease_table_destroy(&t);
}

/* Parked entries: out of the index, counted apart, back or gone. */
static void test_queue_park(void) {
  queue_index_t *qi = queue_index_new();
  queue_t *q = queue_index_get(qi, 1, 0, "es", 1);
  CHECK(q != NULL);
  if (q == NULL) return;
  queue_add(q, 5, (queue_position_t){0, 1}, "a", 1);
  queue_add(q, 5, (queue_position_t){0, 2}, "b", 1);
  CHECK(queue_park(q, 5, (queue_position_t){0, 1}) == 0); /* the buffer knows b */
  CHECK(queue_depth(q) == 1 && queue_parked(q) == 1);
  uint32_t slot;
  queue_position_t pos;
  CHECK(queue_peek(q, &slot, &pos) && pos.seq == 2);
  queue_unpark(q, 5, (queue_position_t){0, 1}, "a", 1);
  CHECK(queue_depth(q) == 2 && queue_parked(q) == 0);
  CHECK(queue_peek(q, &slot, &pos) && pos.seq == 1);
  queue_park(q, 5, (queue_position_t){0, 2});
  queue_park_gone(q);
  CHECK(queue_depth(q) == 1 && queue_parked(q) == 0);
  queue_add_parked(q, 3);
  CHECK(queue_parked(q) == 3);
  queue_index_destroy(&qi);
}

static void test_item_record(void) {
  item_record_t *rec = item_record_new("es", 1, "hello", "", 2, 9, 1234);
  CHECK(rec != NULL && item_record_wants_work(rec));
  /* Stored state against live leases; submitted leases. */
  CHECK(item_record_wants_work_with(rec, 1) && !item_record_wants_work_with(rec, 2));
  CHECK(!item_record_lease_submitted(rec, 77));
  CHECK(item_record_add_submitted_lease(rec, 77) == 0 && item_record_lease_submitted(rec, 77));
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
  test_queue_buffer();
  test_lease_table();
  test_lease_table_items();
  test_queue_park();
  test_item_record();
  test_wire();
  test_errors();
  return check_summary();
}
