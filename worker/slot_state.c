/* slot_state: load and unload one slot's in-memory state. See slot_state.h. */
#include "slot_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "item_record.h"
#include "keys.h"
#include "log.h"
#include "tally_error.h"
#include "tally_store.pb-c.h"
#include "worker_internal.h"

/* An iterator over the keys of `slot` in family `cf`, positioned at the
 * first one. Fatal when out of memory. */
static store_iter_t *slot_iter(worker_t *w, store_cf_t cf, uint32_t slot) {
  uint8_t prefix[2], upper[3];
  keys_put_u16(prefix, (uint16_t)slot);
  size_t upper_len = keys_prefix_end(upper, prefix, 2);
  store_iter_t *it = store_iter_new(w->store, cf, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory for an iterator");
  store_iter_seek(it, prefix, 2);
  return it;
}

static void market_copy(char *out, const keys_queue_entry_t *e) {
  memcpy(out, e->market, e->market_len);
  out[e->market_len] = '\0';
}

/* Queue heads (and, with count, depths): one pass over the slot's queue
 * keys; without count, one seek per sub-queue. `sign` +1 loads, -1 unloads.
 * Setting or clearing a head drops the sub-queue's buffer (queue_index.h),
 * so a slot that left and came back is never served from a stale one;
 * labeling.c reads the buffer again when the head is first looked up. */
static int slot_queues(worker_t *w, uint32_t slot, int count, int sign) {
  store_iter_t *it = slot_iter(w, STORE_CF_QUEUE, slot);
  int rc = 0;
  queue_t *q = NULL;
  uint8_t current[KEYS_MAX];
  size_t current_len = 0;
  uint64_t entries = 0, parked = 0;
  int head_set = 0;
  for (;;) {
    int valid = store_iter_valid(it);
    if (!valid && (rc = store_iter_error(it)) < 0) break;
    size_t len = 0;
    const uint8_t *key = valid ? store_iter_key(it, &len) : NULL;
    keys_queue_entry_t e;
    if (valid && keys_parse_queue_entry(key, len, &e) < 0) {
      log_error("malformed queue key of %zu bytes in slot %u", len, slot);
      rc = TALLY_E_STORAGE;
      break;
    }
    int same = valid && q != NULL && e.prefix_len == current_len &&
               memcmp(key, current, current_len) == 0;
    if (!same && q != NULL && count) {
      /* The sub-queue before this key is complete: settle its depth
       * (parked entries, held out by leases carried in, counted apart). */
      uint64_t depth = queue_depth(q);
      entries -= parked;
      queue_set_depth(q, sign > 0 ? depth + entries : (depth > entries ? depth - entries : 0));
      if (sign > 0) queue_add_parked(q, parked);
      w->batch_dirty = 1;
    }
    if (!valid) break;
    if (!same) {
      char market[KEYS_MARKET_MAX + 1];
      market_copy(market, &e);
      q = queue_index_get(w->queues, e.project_id, e.stage, market, 1);
      if (q == NULL) {
        rc = TALLY_E_NOMEM;
        break;
      }
      memcpy(current, key, e.prefix_len);
      current_len = e.prefix_len;
      entries = 0;
      parked = 0;
      head_set = 0;
      queue_set_head(q, slot, NULL);
    }
    entries++;
    if (sign > 0 && !head_set) {
      size_t id_len = 0;
      const uint8_t *id = store_iter_value(it, &id_len);
      const lease_park_t *park =
          lease_table_count(w->leases) == 0
              ? NULL
              : lease_table_park(w->leases, slot, e.project_id, (const char *)id, id_len);
      if (park != NULL && park->parked) {
        parked++;
      } else {
        queue_position_t pos = {e.priority, e.seq};
        queue_set_head(q, slot, &pos);
        head_set = 1;
      }
    } else if (sign > 0 && count) {
      size_t id_len = 0;
      const uint8_t *id = store_iter_value(it, &id_len);
      const lease_park_t *park =
          lease_table_count(w->leases) == 0
              ? NULL
              : lease_table_park(w->leases, slot, e.project_id, (const char *)id, id_len);
      parked += park != NULL && park->parked;
    }
    if (count || !head_set) {
      store_iter_next(it);
    } else {
      uint8_t next[KEYS_MAX];
      size_t next_len = keys_prefix_end(next, key, e.prefix_len);
      if (next_len == 0) break;
      store_iter_seek(it, next, next_len);
    }
  }
  store_iter_destroy(&it);
  return rc;
}

/* Parks the queue entry of the item a loaded lease holds when the item's
 * live leases cover what it still needs (labeling.c, queue_reconcile). */
static void slot_lease_park(worker_t *w, const lease_t *lease) {
  lease_park_t *park =
      lease_table_park(w->leases, lease->slot, lease->project_id, lease->item_id, lease->item_len);
  if (park == NULL || park->parked) return;
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_item(key, lease->slot, lease->project_id, lease->item_id, lease->item_len);
  char *value = NULL;
  size_t len = 0;
  if (store_get(w->store, STORE_CF_ITEMS, key, key_len, &value, &len) != 1) return;
  item_record_t *rec = item_record_decode((const uint8_t *)value, len);
  free(value);
  if (rec == NULL) return;
  size_t holders =
      lease_table_of_item(w->leases, lease->slot, lease->project_id, lease->item_id,
                          lease->item_len, NULL, 0);
  if (item_record_wants_work_with(rec, 0) && !item_record_wants_work_with(rec, holders)) {
    queue_t *q = queue_index_get(w->queues, lease->project_id, rec->stage, rec->market, 1);
    if (q == NULL) fatal_exit("out of memory for queues");
    park->parked = 1;
    park->queue = q;
    park->priority = rec->priority;
    park->seq = rec->seq;
  }
  item_record_free(&rec);
}

/* Before leases lived in memory only, a grant that filled an item's
 * overlap deleted its queue entry. Such a lease found at start-up is lost
 * with the restart: its item is queued again when it still wants work. */
static void slot_lease_requeue(worker_t *w, uint32_t slot, const Tally__Store__LeaseRecord *l) {
  size_t item_len = strlen(l->item_id);
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_item(key, slot, l->project_id, l->item_id, item_len);
  char *value = NULL;
  size_t len = 0;
  if (item_len == 0 || item_len > KEYS_ITEM_ID_MAX ||
      store_get(w->store, STORE_CF_ITEMS, key, key_len, &value, &len) != 1)
    return;
  item_record_t *rec = item_record_decode((const uint8_t *)value, len);
  free(value);
  if (rec == NULL) return;
  if (item_record_wants_work_with(rec, 0)) {
    uint8_t qkey[KEYS_MAX];
    size_t qkey_len =
        keys_queue_entry(qkey, slot, l->project_id, rec->stage, rec->market, rec->priority, rec->seq);
    char *existing = NULL;
    size_t existing_len = 0;
    int rc = store_get(w->store, STORE_CF_QUEUE, qkey, qkey_len, &existing, &existing_len);
    free(existing);
    if (rc == 0) {
      store_put(w->store, STORE_CF_QUEUE, qkey, qkey_len, l->item_id, item_len);
      queue_t *q = queue_index_get(w->queues, l->project_id, rec->stage, rec->market, 1);
      if (q == NULL) fatal_exit("out of memory for queues");
      queue_set_depth(q, queue_depth(q) + 1);
    }
  }
  item_record_free(&rec);
}

/* The slot's lease records (family "leases": carried in by a slot move, or
 * left by a version that stored leases) are consumed: deleted, and with
 * `live` (a slot taken over while running) loaded into the lease table;
 * at start-up, when leases are lost anyway, their items are queued again
 * if needed (slot_lease_requeue). */
static int slot_leases_load(worker_t *w, uint32_t slot, int live) {
  store_iter_t *it = slot_iter(w, STORE_CF_LEASES, slot);
  int rc = 0;
  for (; store_iter_valid(it); store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    const uint8_t *value = store_iter_value(it, &len);
    if (key_len != 10) {
      rc = TALLY_E_STORAGE;
      break;
    }
    uint64_t lease_id = keys_get_u64(key + 2);
    /* (Not while the disk is full: a rebuild then must not write; the
     * records are consumed once space is back.) */
    if (!w->no_space) {
      store_delete(w->store, STORE_CF_LEASES, key, key_len);
      w->batch_dirty = 1;
    }
    Tally__Store__LeaseRecord *rec = tally__store__lease_record__unpack(NULL, len, value);
    if (rec == NULL) {
      rc = TALLY_E_STORAGE;
      break;
    }
    if (!live) {
      if (!w->no_space) slot_lease_requeue(w, slot, rec);
      tally__store__lease_record__free_unpacked(rec, NULL);
      continue;
    }
    lease_t lease = {0};
    lease.lease_id = lease_id;
    lease.slot = slot;
    lease.deadline_ms = rec->deadline_ms;
    lease.project_id = rec->project_id;
    lease.stage = rec->stage;
    lease.exposure_counted = rec->exposure_counted;
    snprintf(lease.labeler, sizeof lease.labeler, "%s", rec->labeler);
    lease.item_id = rec->item_id;
    lease.item_len = strlen(rec->item_id);
    if (lease.item_len > 0 && lease_table_find(w->leases, lease_id) == NULL) {
      rc = lease_table_add(w->leases, &lease);
      if (rc == 0) {
        worker_project(w, lease.project_id)->live_leases++;
        slot_lease_park(w, &lease);
      }
    }
    tally__store__lease_record__free_unpacked(rec, NULL);
    if (rc < 0) break;
  }
  if (rc == TALLY_E_STORAGE) log_error("unreadable lease record in slot %u", slot);
  if (rc == 0) rc = store_iter_error(it); /* not the end but a read error? */
  store_iter_destroy(&it);
  return rc;
}

/* Drops the slot's live leases from memory; parked entries count as
 * queued again (the slot's stored entries are then subtracted as a whole). */
static void slot_leases_drop(worker_t *w, uint32_t slot) {
  size_t n = lease_table_of_slot(w->leases, slot, NULL, 0);
  if (n == 0) return;
  uint64_t *ids = malloc(n * sizeof *ids);
  if (ids == NULL) fatal_exit("out of memory");
  lease_table_of_slot(w->leases, slot, ids, n);
  for (size_t i = 0; i < n; i++) {
    const lease_t *l = lease_table_find(w->leases, ids[i]);
    if (l == NULL) continue;
    lease_park_t *park = lease_table_park(w->leases, slot, l->project_id, l->item_id, l->item_len);
    if (park != NULL && park->parked) {
      queue_t *q = park->queue;
      queue_park_gone(q);
      queue_set_depth(q, queue_depth(q) + 1);
      park->parked = 0;
    }
    project_counters_t *pc = worker_project(w, l->project_id);
    if (pc->live_leases > 0) pc->live_leases--;
    lease_table_remove(w->leases, ids[i]);
  }
  free(ids);
}

void slot_state_save_leases(worker_t *w, uint32_t slot) {
  size_t n = lease_table_of_slot(w->leases, slot, NULL, 0);
  if (n == 0) return;
  uint64_t *ids = malloc(n * sizeof *ids);
  if (ids == NULL) fatal_exit("out of memory");
  lease_table_of_slot(w->leases, slot, ids, n);
  for (size_t i = 0; i < n; i++) {
    const lease_t *l = lease_table_find(w->leases, ids[i]);
    if (l == NULL) continue;
    Tally__Store__LeaseRecord rec = TALLY__STORE__LEASE_RECORD__INIT;
    rec.format = 1;
    rec.project_id = l->project_id;
    rec.item_id = l->item_id;
    rec.labeler = (char *)l->labeler;
    rec.deadline_ms = l->deadline_ms;
    rec.stage = l->stage;
    rec.exposure_counted = l->exposure_counted != 0;
    uint8_t key[KEYS_MAX];
    size_t key_len = keys_lease(key, slot, l->lease_id);
    size_t len = tally__store__lease_record__get_packed_size(&rec);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) fatal_exit("out of memory");
    tally__store__lease_record__pack(&rec, buf);
    store_put(w->store, STORE_CF_LEASES, key, key_len, buf, len);
    free(buf);
  }
  free(ids);
  w->batch_dirty = 1;
}

/* Adds (sign +1) or subtracts (-1) the slot's items, labels and done items. */
static int slot_items(worker_t *w, uint32_t slot, int sign) {
  store_iter_t *it = slot_iter(w, STORE_CF_ITEMS, slot);
  int rc = 0;
  for (; store_iter_valid(it); store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    const uint8_t *value = store_iter_value(it, &len);
    item_record_t *rec = key_len > 6 ? item_record_decode(value, len) : NULL;
    if (rec == NULL) {
      log_error("unreadable item record in slot %u", slot);
      rc = TALLY_E_STORAGE;
      break;
    }
    project_counters_t *pc = worker_project(w, keys_get_u32(key + 2));
    uint64_t done = rec->state == TALLY__STORE__ITEM_STATE__ITEM_DONE;
    if (sign > 0) {
      pc->items++;
      pc->labels += rec->n_labels;
      pc->done += done;
    } else {
      pc->items -= pc->items > 0;
      pc->labels -= pc->labels >= rec->n_labels ? rec->n_labels : pc->labels;
      pc->done -= pc->done >= done ? done : pc->done;
    }
    item_record_free(&rec);
  }
  if (rc == 0) rc = store_iter_error(it); /* not the end but a read error? */
  store_iter_destroy(&it);
  w->batch_dirty = 1;
  return rc;
}

int slot_state_load(worker_t *w, uint32_t slot, int count) {
  /* Leases first: the entries they park are not heads. */
  int rc = slot_leases_load(w, slot, count);
  if (rc == 0) rc = slot_queues(w, slot, count, +1);
  if (rc == 0 && count) rc = slot_items(w, slot, +1);
  w->work_added = 1; /* the slot's work may suit parked lease requests */
  return rc;
}

void slot_state_unload(worker_t *w, uint32_t slot) {
  slot_leases_drop(w, slot);
  if (slot_queues(w, slot, 1, -1) < 0 || slot_items(w, slot, -1) < 0)
    fatal_exit("cannot read a slot's records to hand it over");
}
