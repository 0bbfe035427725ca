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
  if (it == NULL) worker_fatal("out of memory for an iterator");
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
  uint64_t entries = 0;
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
      /* The sub-queue before this key is complete: settle its depth. */
      uint64_t depth = queue_depth(q);
      queue_set_depth(q, sign > 0 ? depth + entries : (depth > entries ? depth - entries : 0));
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
      if (sign > 0) {
        queue_position_t pos = {e.priority, e.seq};
        queue_set_head(q, slot, &pos);
      } else {
        queue_set_head(q, slot, NULL);
      }
    }
    entries++;
    if (count) {
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

static int slot_leases(worker_t *w, uint32_t slot, int sign) {
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
    if (sign < 0) {
      const lease_t *held = lease_table_find(w->leases, lease_id);
      if (held != NULL) {
        project_counters_t *pc = worker_project(w, held->project_id);
        if (pc->live_leases > 0) pc->live_leases--;
        lease_table_remove(w->leases, lease_id);
      }
      continue;
    }
    Tally__Store__LeaseRecord *rec = tally__store__lease_record__unpack(NULL, len, value);
    if (rec == NULL) {
      rc = TALLY_E_STORAGE;
      break;
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
    if (lease_table_find(w->leases, lease_id) == NULL) {
      rc = lease_table_add(w->leases, &lease);
      if (rc == 0) worker_project(w, lease.project_id)->live_leases++;
    }
    tally__store__lease_record__free_unpacked(rec, NULL);
    if (rc < 0) break;
  }
  if (rc == TALLY_E_STORAGE) log_error("unreadable lease record in slot %u", slot);
  if (rc == 0) rc = store_iter_error(it); /* not the end but a read error? */
  store_iter_destroy(&it);
  return rc;
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
  int rc = slot_queues(w, slot, count, +1);
  if (rc == 0) rc = slot_leases(w, slot, +1);
  if (rc == 0 && count) rc = slot_items(w, slot, +1);
  w->work_added = 1; /* the slot's work may suit parked lease requests */
  return rc;
}

void slot_state_unload(worker_t *w, uint32_t slot) {
  if (slot_queues(w, slot, 1, -1) < 0 || slot_leases(w, slot, -1) < 0 ||
      slot_items(w, slot, -1) < 0)
    worker_fatal("cannot read a slot's records to hand it over");
}
