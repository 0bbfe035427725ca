/* labeling: the labeling cycle on one worker: ingest, lease, submit, skip,
 * release, lease expiry, long-poll waiters, status, and recovery of the
 * in-memory indexes from storage. Requests reach the handlers through
 * dispatch.c.
 *
 * Invariants kept here (DESIGN.md, "Item lifecycle", "Leases"):
 *  - an item has a stored queue entry exactly while its stored state wants
 *    work at its stage (item_record_wants_work_with(rec, 0)), and is offered
 *    (in the queue index, not parked) exactly while item_record_wants_work()
 *    counting its live leases is true (queue_reconcile): it is offered until
 *    labels + live leases reach its overlap and never beyond, so an item
 *    never gets more labels than its overlap;
 *  - leases live in memory only (lease_table.h): granting, releasing and
 *    expiring one stores nothing; a restart forgets them and so offers
 *    their items again; a submit of a lost lease is taken only when still
 *    valid (lease_lost_resolve);
 *  - a labeler never holds two leases on one item nor labels it twice;
 *  - every change of a request goes into the group's one batch; replies of
 *    writes are sent by worker.c only after that batch is durable, replies
 *    of leases and releases with their group (worker_reply_at_once).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attribution.h"
#include "cases.h"
#include "clock.h"
#include "gold_mix.h"
#include "ident.h"
#include "item_record.h"
#include "keys.h"
#include "log.h"
#include "ops.h"
#include "quality.h"
#include "slot_move.h"
#include "slot_state.h"
#include "tally_error.h"
#include "tally_store.pb-c.h"
#include "wellbeing.h"
#include "wire.h"
#include "worker_internal.h"

#define LABELING_ITEM_CONTENT_MAX (1u << 20)
#define LABELING_INGEST_BATCH_MAX 10000
#define LABELING_WAIT_MAX_MS 30000
#define LABELING_WAITERS_MAX 100000
/* Long-polls one connection may have parked at once (requests in flight
 * that hold memory here). A gateway or bench process multiplexes many
 * sessions on a few connections (1,000 sessions on 4 in bench/run
 * sessions), so the cap is generous; it stops one connection from taking
 * the whole LABELING_WAITERS_MAX. */
#define LABELING_WAITERS_PER_CONNECTION 4096
/* How many queue entries one lease may inspect before giving up (entries the
 * labeler may not take: own labels, own leases, own skips). */
#define LABELING_SCAN_MAX 512

typedef enum { RETURN_RELEASE, RETURN_SKIP, RETURN_EXPIRE } lease_return_t;

/* ------------------------------------------------------------ lookups */

/* The project named `name`, or NULL after replying UNKNOWN_PROJECT (or
 * setting the request to wait for a newer configuration): the one lookup,
 * responder_project(). */
static const Tally__Project *project_find(worker_t *w, const router_request_t *req,
                                          const char *name) {
  return responder_project(worker_responder(w, req), w->config, name);
}

static uint32_t stage_role(uint32_t stage) {
  switch (stage) {
    case TALLY__STAGE__STAGE_LABEL:
    case ITEM_RECORD_STAGE_GOLD: return TALLY__ROLE__ROLE_LABELER;
    case TALLY__STAGE__STAGE_AUDIT: return TALLY__ROLE__ROLE_AUDITOR;
    default: return TALLY__ROLE__ROLE_LEAD;
  }
}

int labeling_slot_check(worker_t *w, const router_request_t *req, uint32_t slot) {
  if (slot_move_frozen(w, slot)) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_UNAVAILABLE,
                       "slot %u is being moved to another worker; retry shortly", slot);
    return 0;
  }
  /* Our map may be behind the client's (slots just assigned or moved). */
  if (w->map != NULL && !w->owned[slot] && worker_await_refresh(w, REFRESH_MAP)) return 0;
  if (w->map == NULL) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_UNAVAILABLE,
                       "worker has not joined the cluster yet");
    return 0;
  }
  if (w->owned[slot]) return 1;
  Tally__Envelope env;
  Tally__ErrorReply err;
  wire_error_init(&env, &err, req->env->request_id, TALLY_E_MOVED, NULL);
  char message[128];
  snprintf(message, sizeof message, "slot %u is owned by another worker", slot);
  err.message = message;
  err.slot = slot;
  err.epoch = w->map->epoch;
  uint32_t owner = slot < w->map->n_slot_owner ? w->map->slot_owner[slot] : 0;
  for (size_t i = 0; i < w->map->n_workers; i++)
    if (w->map->workers[i]->id == owner) err.owner_endpoint = w->map->workers[i]->endpoint;
  if (owner == 0) {
    err.code = (Tally__ErrorCode)tally_error_to_wire(TALLY_E_UNAVAILABLE);
    err.message = "slot is not assigned to any worker";
  }
  worker_reply(w, req->peer, req->peer_len, &env);
  return 0;
}

/* ------------------------------------------------------------ storage */

/* Sets the record's holder list to the item's live leases (lease_table.h):
 * holders live in memory only. */
static void item_holders_fill(worker_t *w, uint32_t slot, uint32_t project_id,
                              const char *item_id, size_t item_len, item_record_t *rec) {
  item_record_clear_holders(rec);
  const lease_t *stack[8];
  size_t n = lease_table_of_item(w->leases, slot, project_id, item_id, item_len, stack, 8);
  if (n == 0) return;
  const lease_t **held = stack;
  if (n > 8) {
    held = malloc(n * sizeof *held);
    if (held == NULL) fatal_exit("out of memory");
    lease_table_of_item(w->leases, slot, project_id, item_id, item_len, held, n);
  }
  for (size_t i = 0; i < n; i++)
    if (item_record_add_holder(rec, held[i]->labeler) < 0) fatal_exit("out of memory");
  if (held != stack) free(held);
}

/* The item's record as stored, with its live leases as holders; NULL when
 * there is none. */
static item_record_t *item_load(worker_t *w, uint32_t slot, uint32_t project_id,
                                const char *item_id, size_t item_len) {
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_item(key, slot, project_id, item_id, item_len);
  const uint8_t *cached = NULL;
  size_t len = 0;
  item_record_t *rec = NULL;
  if (item_cache_get(w->items, key, key_len, &cached, &len)) {
    rec = item_record_decode(cached, len);
  } else {
    char *value = NULL;
    int rc = store_get(w->store, STORE_CF_ITEMS, key, key_len, &value, &len);
    if (rc < 0) fatal_exit("storage read failed");
    if (rc == 0) return NULL;
    rec = item_record_decode((uint8_t *)value, len);
    free(value);
  }
  if (rec == NULL) log_error("item record in slot %u is unreadable", slot);
  else item_holders_fill(w, slot, project_id, item_id, item_len, rec);
  return rec;
}

static void item_save(worker_t *w, uint32_t slot, uint32_t project_id, const char *item_id,
                      size_t item_len, const item_record_t *rec) {
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_item(key, slot, project_id, item_id, item_len);
  size_t len = 0;
  /* Holders are not stored (lease_table.h). */
  item_record_t *unheld = (item_record_t *)rec;
  size_t n_holders = unheld->n_lease_holders;
  unheld->n_lease_holders = 0;
  uint8_t *buf = item_record_encode(unheld, &len);
  unheld->n_lease_holders = n_holders;
  if (buf == NULL) fatal_exit("out of memory encoding an item");
  store_put(w->store, STORE_CF_ITEMS, key, key_len, buf, len);
  item_cache_put(w->items, key, key_len, buf, len); /* takes buf */
}

static void queue_push(worker_t *w, uint32_t project_id, uint32_t stage, const char *market,
                       uint32_t slot, uint32_t priority, uint64_t seq, const char *item_id,
                       size_t item_len) {
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_queue_entry(key, slot, project_id, stage, market, priority, seq);
  store_put(w->store, STORE_CF_QUEUE, key, key_len, item_id, item_len);
  queue_t *q = queue_index_get(w->queues, project_id, stage, market, 1);
  if (q == NULL) fatal_exit("out of memory for queues");
  queue_add(q, slot, (queue_position_t){priority, seq}, item_id, item_len);
  w->work_added = 1;
  w->batch_dirty = 1;
}

/* True when the queue entry of item `id` is parked: in storage, but held
 * out of the index by live leases (lease_table.h). */
static int entry_parked(worker_t *w, uint32_t slot, uint32_t project_id, const uint8_t *id,
                        size_t id_len) {
  if (lease_table_count(w->leases) == 0) return 0;
  const lease_park_t *park =
      lease_table_park(w->leases, slot, project_id, (const char *)id, id_len);
  return park != NULL && park->parked;
}

/* The first entry at or after `from` in the sub-queue `prefix` that is not
 * parked: 1 and *pos,
 * or 0 when the sub-queue has nothing there. */
static int subqueue_first(worker_t *w, const uint8_t *prefix, size_t prefix_len,
                          const uint8_t *from, size_t from_len, queue_position_t *pos) {
  uint8_t upper[KEYS_MAX];
  size_t upper_len = keys_prefix_end(upper, prefix, prefix_len);
  store_iter_t *it = store_iter_new(w->store, STORE_CF_QUEUE, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory for an iterator");
  store_iter_seek(it, from, from_len);
  int found = 0;
  for (; store_iter_valid(it); store_iter_next(it)) {
    size_t len, id_len;
    const uint8_t *key = store_iter_key(it, &len);
    const uint8_t *id = store_iter_value(it, &id_len);
    keys_queue_entry_t parsed;
    if (keys_parse_queue_entry(key, len, &parsed) < 0) break;
    if (entry_parked(w, parsed.slot, parsed.project_id, id, id_len)) continue;
    pos->priority = parsed.priority;
    pos->seq = parsed.seq;
    found = 1;
    break;
  }
  if (store_iter_error(it) < 0) fatal_exit("storage read failed in a queue");
  store_iter_destroy(&it);
  return found;
}

/* Reads the first entries of slot's sub-queue of `q` at or after `from`
 * (one seek, up to QUEUE_BUFFER_MAX entries) into the index: its head and
 * buffer. Every entry before `from` must have left the sub-queue. */
static void subqueue_load(worker_t *w, queue_t *q, uint32_t slot, const uint8_t *from,
                          size_t from_len) {
  uint8_t prefix[KEYS_MAX], upper[KEYS_MAX];
  size_t prefix_len =
      keys_queue_prefix(prefix, slot, queue_project_id(q), queue_stage(q), queue_market(q));
  size_t upper_len = keys_prefix_end(upper, prefix, prefix_len);
  store_iter_t *it = store_iter_new(w->store, STORE_CF_QUEUE, upper, upper_len);
  if (it == NULL) fatal_exit("out of memory for an iterator");
  char ids[QUEUE_BUFFER_MAX][QUEUE_ID_INLINE];
  queue_entry_t entries[QUEUE_BUFFER_MAX];
  size_t n = 0;
  int complete = 0;
  for (store_iter_seek(it, from, from_len);; store_iter_next(it)) {
    if (!store_iter_valid(it)) {
      complete = 1;
      break;
    }
    size_t key_len, id_len;
    const uint8_t *key = store_iter_key(it, &key_len);
    const uint8_t *value = store_iter_value(it, &id_len);
    keys_queue_entry_t parsed;
    if (keys_parse_queue_entry(key, key_len, &parsed) < 0) {
      log_error("malformed queue key of %zu bytes in slot %u", key_len, slot);
      break;
    }
    if (entry_parked(w, slot, parsed.project_id, value, id_len)) continue;
    entries[n].pos = (queue_position_t){parsed.priority, parsed.seq};
    entries[n].item_id = ids[n];
    entries[n].item_len = id_len; /* a longer id is not kept: read when needed */
    if (id_len <= QUEUE_ID_INLINE) memcpy(ids[n], value, id_len);
    if (++n == QUEUE_BUFFER_MAX) break;
  }
  if (store_iter_error(it) < 0) fatal_exit("storage read failed in a queue");
  store_iter_destroy(&it);
  queue_slot_fill(q, slot, entries, n, complete);
}

/* Buffers the sub-queue whose head is at `pos` when the index has only its
 * head (after a start or a slot load). */
static void subqueue_buffer(worker_t *w, queue_t *q, uint32_t slot, queue_position_t pos) {
  queue_position_t head;
  if (queue_slot_is_buffered(q, slot) || !queue_slot_head(q, slot, &head) ||
      queue_position_compare(head, pos) != 0)
    return;
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_queue_entry(key, slot, queue_project_id(q), queue_stage(q),
                                    queue_market(q), pos.priority, pos.seq);
  subqueue_load(w, q, slot, key, key_len);
}

/* Where an item's queue entry is before a change: its stage, and whether
 * the stored state keeps it queued (item_record_wants_work_with(rec, 0)). */
typedef struct {
  uint32_t stage;
  int stored;
} queue_where_t;

static queue_where_t item_where(const item_record_t *rec) {
  return (queue_where_t){rec->stage, item_record_wants_work_with(rec, 0)};
}

/* Brings the item's queue entry in line with `rec` after a change (lease
 * granted or ended, label, skip; `before` as item_where() said before it):
 *  - an entry stays in storage exactly while the stored state keeps the
 *    item in that stage's queue; it is deleted once the item leaves the
 *    stage for good (an entry of a new stage is pushed by item_advance);
 *  - while it is stored, it is in the in-memory index exactly while the
 *    item wants more work counting its live leases, else parked (held out
 *    by the leases; a restart, which forgets leases, offers it again).
 * The caller holds at least one live lease of the item in the table while
 * it parks one (the park state lives with the item's leases). */
static void queue_reconcile(worker_t *w, uint32_t slot, uint32_t project_id, const char *item_id,
                            size_t item_len, queue_where_t before, const item_record_t *rec) {
  if (!before.stored) return;
  queue_t *q = queue_index_get(w->queues, project_id, before.stage, rec->market, 1);
  if (q == NULL) fatal_exit("out of memory for queues");
  queue_position_t pos = {rec->priority, rec->seq};
  lease_park_t *park = lease_table_park(w->leases, slot, project_id, item_id, item_len);
  int parked = park != NULL && park->parked;
  uint8_t key[KEYS_MAX];
  size_t key_len =
      keys_queue_entry(key, slot, project_id, before.stage, rec->market, rec->priority, rec->seq);
  int stored = rec->stage == before.stage && item_record_wants_work_with(rec, 0);
  if (!stored) {
    /* The item leaves the stage's queue for good. */
    store_delete(w->store, STORE_CF_QUEUE, key, key_len);
    w->batch_dirty = 1;
    if (parked) {
      queue_park_gone(q);
      park->parked = 0;
    } else if (queue_remove(q, slot, pos)) {
      /* The head left and the index does not know the next one: read on
       * from the deleted key (never from the sub-queue start, to skip old
       * tombstones). */
      subqueue_load(w, q, slot, key, key_len);
    }
    return;
  }
  int offered = item_record_wants_work(rec);
  if (parked && offered) {
    park->parked = 0;
    queue_unpark(q, slot, pos, item_id, item_len);
    w->work_added = 1;
  } else if (!parked && !offered) {
    if (park == NULL) fatal_exit("an item is held without a live lease");
    park->parked = 1;
    park->queue = q;
    park->priority = pos.priority;
    park->seq = pos.seq;
    /* Parked first: reading on from storage skips the entry itself. */
    if (queue_park(q, slot, pos)) subqueue_load(w, q, slot, key, key_len);
  }
}

/* Removes a live lease from memory. Nothing is stored about leases. */
static void lease_drop(worker_t *w, uint32_t project_id, uint64_t lease_id) {
  lease_table_remove(w->leases, lease_id);
  project_counters_t *pc = worker_project(w, project_id);
  if (pc->live_leases > 0) pc->live_leases--;
}

/* Ends a live lease without a label: the item is offered again (same
 * priority and age) if it now wants work. Only a skip writes (the skipper,
 * never offered the item again in this stage); a release or expiry changes
 * no stored key (counters and operations rows follow with the group). */
static void lease_return(worker_t *w, const lease_t *lease, lease_return_t why) {
  uint32_t slot = lease->slot, project_id = lease->project_id;
  uint64_t lease_id = lease->lease_id;
  char labeler[LEASE_LABELER_MAX + 1];
  snprintf(labeler, sizeof labeler, "%s", lease->labeler);
  size_t item_len = lease->item_len;
  char *item_id = strdup(lease->item_id);
  if (item_id == NULL) fatal_exit("out of memory");
  item_record_t *rec = item_load(w, slot, project_id, item_id, item_len);
  int gold = item_record_stage_is_gold(lease->stage);
  if (rec != NULL && gold) {
    /* A gold item is served to a person once, taken or not (gold_mix.h);
     * stored with the group, like a skip, but nothing waits for it. */
    item_record_remove_holder(rec, labeler);
    if (item_record_add_seen(rec, labeler) < 0) fatal_exit("out of memory");
    item_save(w, slot, project_id, item_id, item_len, rec);
    item_record_free(&rec);
  }
  if (rec != NULL) {
    queue_where_t before = item_where(rec);
    item_record_remove_holder(rec, labeler);
    if (why == RETURN_SKIP && item_record_add_skipper(rec, labeler) < 0)
      fatal_exit("out of memory");
    queue_reconcile(w, slot, project_id, item_id, item_len, before, rec);
    ops_on_lease_end(w->ops, project_id, rec->market, lease->stage,
                     why == RETURN_EXPIRE ? OPS_LEASE_EXPIRED
                     : why == RETURN_SKIP ? OPS_LEASE_SKIPPED
                                          : OPS_LEASE_RELEASED,
                     clock_now_ms());
    if (why == RETURN_SKIP) item_save(w, slot, project_id, item_id, item_len, rec);
    item_record_free(&rec);
  }
  lease_drop(w, project_id, lease_id);
  project_counters_t *pc = worker_project(w, project_id);
  if (why == RETURN_EXPIRE && !gold) pc->expired_leases++;
  if (why == RETURN_SKIP && !gold) pc->skips++;
  if (why == RETURN_RELEASE && !gold) pc->releases++;
  w->batch_dirty = 1;
  free(item_id);
}

/* ------------------------------------------------------------ leasing */

typedef struct {
  queue_t *queue;
  const Tally__Project *project;
  uint32_t slot;
  queue_position_t pos;
} candidate_t;

typedef struct {
  candidate_t *items;
  size_t count, capacity;
} candidate_heap_t;

static int candidate_less(const candidate_t *a, const candidate_t *b) {
  return queue_position_compare(a->pos, b->pos) < 0;
}

static void candidate_push(candidate_heap_t *h, candidate_t c) {
  if (h->count == h->capacity) {
    size_t capacity = h->capacity ? h->capacity * 2 : 64;
    candidate_t *grown = realloc(h->items, capacity * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory");
    h->items = grown;
    h->capacity = capacity;
  }
  size_t i = h->count++;
  h->items[i] = c;
  while (i > 0 && candidate_less(&h->items[i], &h->items[(i - 1) / 2])) {
    candidate_t t = h->items[i];
    h->items[i] = h->items[(i - 1) / 2];
    h->items[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static candidate_t candidate_pop(candidate_heap_t *h) {
  candidate_t top = h->items[0];
  h->items[0] = h->items[--h->count];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, best = i;
    if (l < h->count && candidate_less(&h->items[l], &h->items[best])) best = l;
    if (r < h->count && candidate_less(&h->items[r], &h->items[best])) best = r;
    if (best == i) break;
    candidate_t t = h->items[i];
    h->items[i] = h->items[best];
    h->items[best] = t;
    i = best;
  }
  return top;
}

/* May `labeler` take work from queue `q`? Sets *project when yes. */
static int queue_serves(worker_t *w, queue_t *q, const Tally__Labeler *labeler,
                        const Tally__Project *only, uint32_t stage,
                        const Tally__Project **project) {
  if (queue_stage(q) != stage || queue_depth(q) == 0) return 0;
  if (only != NULL && queue_project_id(q) != only->id) return 0;
  const Tally__Project *p = config_cache_project_by_id(w->config, queue_project_id(q));
  if (p == NULL || !config_project_has_market(p, queue_market(q)) ||
      !config_labeler_has_market(labeler, queue_market(q)))
    return 0;
  *project = p;
  return 1;
}

/* The item id of the queue entry at `c`: 1 with *item_id (the caller's,
 * NUL-terminated) and *item_len, or 0 when there is no such entry. From the
 * sub-queue's buffer when it holds the id; otherwise one read. */
static int candidate_item_id(worker_t *w, const candidate_t *c, char **item_id,
                             size_t *item_len) {
  subqueue_buffer(w, c->queue, c->slot, c->pos);
  const char *id;
  size_t len;
  if (queue_slot_item(c->queue, c->slot, c->pos, &id, &len)) {
    *item_id = malloc(len + 1);
    if (*item_id == NULL) fatal_exit("out of memory");
    memcpy(*item_id, id, len);
    (*item_id)[len] = '\0';
    *item_len = len;
    return 1;
  }
  uint8_t key[KEYS_MAX];
  size_t key_len = keys_queue_entry(key, c->slot, queue_project_id(c->queue),
                                    queue_stage(c->queue), queue_market(c->queue),
                                    c->pos.priority, c->pos.seq);
  char *value = NULL;
  int rc = store_get(w->store, STORE_CF_QUEUE, key, key_len, &value, item_len);
  if (rc < 0) fatal_exit("storage read failed");
  if (rc == 0) return 0;
  *item_id = realloc(value, *item_len + 1);
  if (*item_id == NULL) fatal_exit("out of memory");
  (*item_id)[*item_len] = '\0';
  return 1;
}

/* Reads the entry at `c`; when `labeler` may take it, returns its record and
 * item id (both the caller's). Otherwise returns NULL. */
static item_record_t *candidate_take(worker_t *w, const candidate_t *c, const char *labeler,
                                     uint32_t stage, char **item_id, size_t *item_len) {
  if (!w->owned[c->slot]) return NULL;
  char *value = NULL;
  size_t len = 0;
  if (!candidate_item_id(w, c, &value, &len)) return NULL;
  if (len == 0 || len > KEYS_ITEM_ID_MAX) {
    free(value);
    return NULL;
  }
  item_record_t *rec = item_load(w, c->slot, c->project->id, value, len);
  if (rec == NULL || !item_record_wants_work(rec) || rec->stage != stage ||
      item_record_excludes(rec, labeler) ||
      !wellbeing_may_see(w->wellbeing, c->project, rec, labeler, clock_now_ms())) {
    item_record_free(&rec);
    free(value);
    return NULL;
  }
  *item_id = value;
  *item_len = len;
  return rec;
}

/* Advances a candidate to the next entry of its sub-queue; 0 when none.
 * From the sub-queue's buffer while it reaches; otherwise one seek. */
static int candidate_advance(worker_t *w, candidate_t *c, uint32_t stage) {
  subqueue_buffer(w, c->queue, c->slot, c->pos);
  int known = queue_slot_next(c->queue, c->slot, c->pos, &c->pos);
  if (known >= 0) return known;
  uint8_t prefix[KEYS_MAX], from[KEYS_MAX];
  size_t prefix_len = keys_queue_prefix(prefix, c->slot, c->project->id, stage,
                                        queue_market(c->queue));
  size_t from_len = keys_queue_entry(from, c->slot, c->project->id, stage, queue_market(c->queue),
                                     c->pos.priority, c->pos.seq + 1);
  if (c->pos.seq == UINT64_MAX) return 0;
  return subqueue_first(w, prefix, prefix_len, from, from_len, &c->pos);
}

/* The next lease id: worker id | incarnation | counter (worker_internal.h). */
static uint64_t lease_id_next(worker_t *w) {
  if (w->counters.next_lease > UINT32_MAX) worker_new_incarnation(w);
  return ((uint64_t)(w->counters.worker_id & 0xffffu) << 48) |
         ((w->counters.incarnation & 0xffffu) << 32) | w->counters.next_lease++;
}

/* Grants the lease in memory: nothing is stored (the wellbeing exposure of
 * a high-severity item aside, which is why that grant's reply waits for
 * the group's sync: *wrote set). The item's queue entry stays in storage
 * and is parked when the item wants no more work while the lease lives. */
static void lease_grant(worker_t *w, const candidate_t *c, const char *labeler, uint32_t stage,
                        item_record_t *rec, const char *item_id, size_t item_len,
                        Tally__Task *task, int *wrote) {
  uint64_t now = clock_now_ms();
  lease_t lease = {0};
  lease.lease_id = lease_id_next(w);
  lease.deadline_ms = now + (uint64_t)(c->project->lease_seconds ? c->project->lease_seconds : 300) * 1000u;
  lease.slot = c->slot;
  lease.project_id = c->project->id;
  lease.stage = stage;
  snprintf(lease.labeler, sizeof lease.labeler, "%s", labeler);
  lease.item_id = (char *)item_id;
  lease.item_len = item_len;
  lease.exposure_counted = wellbeing_on_lease(w->wellbeing, c->project, rec, labeler, now);
  *wrote = lease.exposure_counted;
  queue_where_t before = item_where(rec);
  if (lease_table_add(w->leases, &lease) < 0) fatal_exit("out of memory for leases");
  if (item_record_add_holder(rec, labeler) < 0) fatal_exit("out of memory");
  queue_reconcile(w, c->slot, c->project->id, item_id, item_len, before, rec);
  worker_project(w, lease.project_id)->live_leases++;
  int gold = item_record_stage_is_gold(stage);
  if (!gold) ops_on_lease(w->ops, lease.project_id, rec->market, stage, now);
  w->batch_dirty = 1;
  task->slot = c->slot;
  task->lease_id = lease.lease_id;
  task->deadline_ms = lease.deadline_ms;
  /* A gold task is a label task to the person (double-blind). */
  task->stage = gold ? TALLY__STAGE__STAGE_LABEL : (Tally__Stage)stage;
  task->priority = rec->priority;
}

/* The project's gold rate (AuditPolicy.gold_rate; 0 = none). */
static double gold_rate_of(const Tally__Project *p) {
  return p->audit != NULL ? p->audit->gold_rate : 0.0;
}

/* The first gold item of queue `q` (oldest first) that `labeler` may take:
 * its record, with *chosen, *item_id (the caller's) and *item_len; NULL
 * when there is none within LABELING_SCAN_MAX entries. */
static item_record_t *gold_scan(worker_t *w, queue_t *q, const Tally__Project *p,
                                const char *labeler, candidate_t *chosen, char **item_id,
                                size_t *item_len) {
  candidate_heap_t heap = {0};
  uint32_t *slots = malloc(TALLY_SLOT_COUNT * sizeof *slots);
  if (slots == NULL) fatal_exit("out of memory");
  size_t n = queue_nonempty_slots(q, slots);
  for (size_t s = 0; s < n; s++) {
    candidate_t c = {q, p, slots[s], {0, 0}};
    if (queue_slot_head(q, slots[s], &c.pos) && w->owned[slots[s]]) candidate_push(&heap, c);
  }
  free(slots);
  item_record_t *rec = NULL;
  for (int scanned = 0; heap.count > 0 && scanned < LABELING_SCAN_MAX; scanned++) {
    candidate_t c = candidate_pop(&heap);
    rec = candidate_take(w, &c, labeler, ITEM_RECORD_STAGE_GOLD, item_id, item_len);
    if (rec != NULL) {
      *chosen = c;
      break;
    }
    if (candidate_advance(w, &c, ITEM_RECORD_STAGE_GOLD)) candidate_push(&heap, c);
  }
  free(heap.items);
  return rec;
}

/* A gold item of project `p` that `labeler` may take, to stand in for a
 * production task of `market`: that market's pool first, then the pools of
 * the person's other markets of the project. NULL when none. */
static item_record_t *gold_find(worker_t *w, const Tally__Labeler *labeler,
                                const Tally__Project *p, const char *market, candidate_t *chosen,
                                char **item_id, size_t *item_len) {
  queue_t *first = queue_index_get(w->queues, p->id, ITEM_RECORD_STAGE_GOLD, market, 0);
  item_record_t *rec = NULL;
  if (first != NULL && queue_depth(first) > 0)
    rec = gold_scan(w, first, p, labeler->id, chosen, item_id, item_len);
  size_t nq = queue_index_count(w->queues);
  for (size_t i = 0; i < nq && rec == NULL; i++) {
    queue_t *q = queue_index_at(w->queues, i);
    if (q == first || queue_project_id(q) != p->id || queue_stage(q) != ITEM_RECORD_STAGE_GOLD ||
        queue_depth(q) == 0 || !config_project_has_market(p, queue_market(q)) ||
        !config_labeler_has_market(labeler, queue_market(q)))
      continue;
    rec = gold_scan(w, q, p, labeler->id, chosen, item_id, item_len);
  }
  return rec;
}

/* Finds the best task `labeler` may take and leases it. Returns 1 with the
 * task filled (its strings point into *rec_out and *item_id_out, which the
 * caller frees after replying), 0 when there is none, or -1 when there is
 * one but the disk is full (w->no_space), so it cannot be leased. */
static int lease_find(worker_t *w, const Tally__Labeler *labeler, const Tally__Project *only,
                      uint32_t stage, uint32_t min_priority, Tally__Task *task,
                      item_record_t **rec_out, char **item_id_out, int *wrote) {
  candidate_heap_t heap = {0};
  size_t nq = queue_index_count(w->queues);
  candidate_t best = {0};
  int have_best = 0;
  for (size_t i = 0; i < nq; i++) {
    queue_t *q = queue_index_at(w->queues, i);
    const Tally__Project *p;
    if (!queue_serves(w, q, labeler, only, stage, &p)) continue;
    candidate_t c = {q, p, 0, {0, 0}};
    if (!queue_peek(q, &c.slot, &c.pos)) continue;
    if (!have_best || candidate_less(&c, &best)) best = c;
    have_best = 1;
  }
  /* Every head is below min_priority: so is everything behind them. */
  if (!have_best || best.pos.priority < min_priority) return 0;
  /* Fast path: the best head is usually takeable. */
  size_t item_len = 0;
  item_record_t *rec = candidate_take(w, &best, labeler->id, stage, item_id_out, &item_len);
  candidate_t chosen = best;
  if (rec == NULL) {
    /* Merge every sub-queue of every serving queue in order until an entry
     * this labeler may take turns up, inspecting at most LABELING_SCAN_MAX. */
    uint32_t *slots = malloc(TALLY_SLOT_COUNT * sizeof *slots);
    if (slots == NULL) fatal_exit("out of memory");
    for (size_t i = 0; i < nq; i++) {
      queue_t *q = queue_index_at(w->queues, i);
      const Tally__Project *p;
      if (!queue_serves(w, q, labeler, only, stage, &p)) continue;
      size_t n = queue_nonempty_slots(q, slots);
      for (size_t s = 0; s < n; s++) {
        candidate_t c = {q, p, slots[s], {0, 0}};
        if (queue_slot_head(q, slots[s], &c.pos) && w->owned[slots[s]]) candidate_push(&heap, c);
      }
    }
    free(slots);
    for (int scanned = 0; heap.count > 0 && scanned < LABELING_SCAN_MAX; scanned++) {
      candidate_t c = candidate_pop(&heap);
      if (c.pos.priority < min_priority) break; /* the heap is in priority order */
      rec = candidate_take(w, &c, labeler->id, stage, item_id_out, &item_len);
      if (rec != NULL) {
        chosen = c;
        break;
      }
      if (candidate_advance(w, &c, stage)) candidate_push(&heap, c);
    }
    free(heap.items);
    if (rec == NULL) return 0;
  }
  if (w->no_space) {
    /* No task is handed out that could not be submitted (worker.c). */
    item_record_free(&rec);
    free(*item_id_out);
    *item_id_out = NULL;
    return -1;
  }
  /* Gold mix-in: when the person's gold turn in the project is due, a gold
   * item stands in for the production task found (which stays queued),
   * with that task's priority, so neither its place nor its fields tell
   * it apart. Never in place of an emergency task (the lane never waits). */
  uint32_t grant_stage = stage;
  uint32_t shown_priority = rec->priority;
  double gold_rate = gold_rate_of(chosen.project);
  if (stage == TALLY__STAGE__STAGE_LABEL && gold_rate > 0.0) {
    int due = chosen.pos.priority < TALLY__PRIORITY__PRIORITY_EMERGENCY &&
              gold_mix_is_due(w->gold, labeler->id, chosen.project->id, gold_rate);
    candidate_t gold_at;
    char *gold_id = NULL;
    size_t gold_len = 0;
    item_record_t *gold = due ? gold_find(w, labeler, chosen.project, rec->market, &gold_at,
                                          &gold_id, &gold_len)
                              : NULL;
    /* A due turn is spent even when no gold item was left to give. */
    gold_mix_on_lease(w->gold, labeler->id, chosen.project->id, gold_rate, due);
    if (gold != NULL) {
      item_record_free(&rec);
      free(*item_id_out);
      rec = gold;
      *item_id_out = gold_id;
      item_len = gold_len;
      chosen = gold_at;
      grant_stage = ITEM_RECORD_STAGE_GOLD;
    }
  }
  lease_grant(w, &chosen, labeler->id, grant_stage, rec, *item_id_out, item_len, task, wrote);
  task->priority = shown_priority;
  task->project = chosen.project->name;
  task->item_id = *item_id_out;
  task->market = rec->market;
  task->content = rec->content;
  task->n_labels = chosen.project->n_labels;
  task->labels = chosen.project->labels;
  task->severity_hint = wellbeing_label_is_high(chosen.project, rec->category_hint);
  if (stage == TALLY__STAGE__STAGE_ADJUDICATE && rec->audit != NULL) {
    const char *disputed = item_record_label_of(rec, rec->disputed_labeler);
    task->candidates = malloc(2 * sizeof *task->candidates);
    if (task->candidates == NULL) fatal_exit("out of memory");
    int swap = rec->candidates_swapped;
    task->candidates[swap] = (char *)(disputed ? disputed : "");
    task->candidates[!swap] = rec->audit->label;
    task->n_candidates = 2;
  }
  *rec_out = rec;
  return 1;
}

/* Tries to lease for `labeler` (a task of at least `min_priority`) and
 * replies with the task and the labeler's markets. When there is none,
 * replies "no task" only if `reply_when_empty`. Returns 1 if granted or
 * answered NO_SPACE (there was a task, but the disk is full). */
static int reply_lease(worker_t *w, const uint8_t *peer, size_t peer_len, uint64_t request_id,
                       const Tally__Labeler *labeler, const Tally__Project *only, uint32_t stage,
                       uint32_t min_priority, int reply_when_empty) {
  Tally__Envelope env;
  Tally__LeaseReply reply = TALLY__LEASE_REPLY__INIT;
  Tally__Task task = TALLY__TASK__INIT;
  item_record_t *rec = NULL;
  char *item_id = NULL;
  wire_envelope_init(&env, request_id);
  env.body_case = TALLY__ENVELOPE__BODY_LEASE_REPLY;
  env.lease_reply = &reply;
  reply.n_markets = labeler->n_markets;
  reply.markets = labeler->markets;
  int wrote = 0;
  int granted = lease_find(w, labeler, only, stage, min_priority, &task, &rec, &item_id, &wrote);
  if (granted < 0) {
    worker_reply_error(w, peer, peer_len, request_id, TALLY_E_NO_SPACE,
                       "the worker's disk is full: no lease can be written until space is freed");
    return 1;
  }
  if (granted) {
    reply.has_task = 1;
    reply.task = &task;
  }
  /* A lease is not a write: its reply leaves with the group's burst, not
   * after the sync, unless the grant counted exposure (stored). */
  if (granted || reply_when_empty) {
    if (wrote)
      worker_reply(w, peer, peer_len, &env);
    else
      worker_reply_at_once(w, peer, peer_len, &env);
  }
  free(task.candidates);
  item_record_free(&rec);
  free(item_id);
  return granted;
}

/* ------------------------------------------------------------ handlers */

/* Formats a rejection's reason into out[size], made safe (ident.h): it may
 * quote the item's fields. */
__attribute__((format(printf, 3, 4))) static void ingest_message(char *out, size_t size,
                                                                 const char *fmt, ...) {
  char raw[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  ident_sanitize(raw, 0, out, size);
}

/* Appends the rejection of item `index` to the reply (arrays sized for the
 * batch; `message` must outlive the reply). */
static void ingest_reject(Tally__IngestReply *reply, Tally__Rejection *rejections,
                          Tally__Rejection **rejected, size_t index, int code,
                          const char *message) {
  Tally__Rejection *r = &rejections[reply->n_rejected];
  tally__rejection__init(r);
  r->index = (uint32_t)index;
  r->code = (Tally__ErrorCode)tally_error_to_wire(code);
  r->message = (char *)message;
  rejected[reply->n_rejected++] = r;
}

static int text_equal(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/* True when `item` is what `rec` was ingested as: market, priority,
 * content, gold label and category hint all equal. */
static int ingest_is_same_item(const item_record_t *rec, const Tally__Item *item) {
  return rec->priority == item->priority && text_equal(rec->market, item->market) &&
         text_equal(rec->content, item->content) && text_equal(rec->gold_label, item->gold_label) &&
         text_equal(rec->category_hint, item->category_hint);
}

void labeling_handle_ingest(worker_t *w, const router_request_t *req) {
  const Tally__IngestBatch *batch = req->env->ingest;
  uint64_t rid = req->env->request_id;
  const Tally__Project *p = project_find(w, req, batch->project);
  if (p == NULL) return;
  if (batch->n_items > LABELING_INGEST_BATCH_MAX) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_INVALID_ARGUMENT,
                       "batch of %zu items exceeds the limit of %d", batch->n_items,
                       LABELING_INGEST_BATCH_MAX);
    return;
  }
  if (w->map == NULL) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_UNAVAILABLE,
                       "worker has not joined the cluster yet");
    return;
  }
  Tally__IngestReply reply = TALLY__INGEST_REPLY__INIT;
  Tally__Rejection *rejections = calloc(batch->n_items ? batch->n_items : 1, sizeof *rejections);
  Tally__Rejection **rejected = calloc(batch->n_items ? batch->n_items : 1, sizeof *rejected);
  char (*messages)[256] = calloc(batch->n_items ? batch->n_items : 1, sizeof *messages);
  if (rejections == NULL || rejected == NULL || messages == NULL) fatal_exit("out of memory");
  uint64_t now = clock_now_ms();
  for (size_t i = 0; i < batch->n_items; i++) {
    const Tally__Item *item = batch->items[i];
    size_t id_len = strlen(item->id);
    int code = 0;
    if (ident_check("item id", item->id, IDENT_ITEM_ID_MAX, messages[i], sizeof messages[i]) < 0) {
      code = TALLY_E_INVALID_ARGUMENT;
    } else if (!config_project_has_market(p, item->market)) {
      code = TALLY_E_UNKNOWN_MARKET;
      ingest_message(messages[i], sizeof messages[i], "market '%.32s' is not a market of project '%s'",
               item->market, p->name);
    } else if (item->priority > TALLY__PRIORITY__PRIORITY_EMERGENCY) {
      code = TALLY_E_INVALID_ARGUMENT;
      ingest_message(messages[i], sizeof messages[i], "priority %u is out of range 0..3",
               item->priority);
    } else if (strlen(item->content) > LABELING_ITEM_CONTENT_MAX) {
      code = TALLY_E_TOO_LARGE;
      ingest_message(messages[i], sizeof messages[i], "content exceeds %u bytes",
               LABELING_ITEM_CONTENT_MAX);
    } else if (item->gold_label[0] != '\0' && config_project_label_index(p, item->gold_label) < 0) {
      code = TALLY_E_LABEL_NOT_IN_TAXONOMY;
      ingest_message(messages[i], sizeof messages[i], "gold label '%.64s' is not in the taxonomy",
               item->gold_label);
    } else if (item->category_hint[0] != '\0' &&
               config_project_label_index(p, item->category_hint) < 0) {
      code = TALLY_E_LABEL_NOT_IN_TAXONOMY;
      ingest_message(messages[i], sizeof messages[i], "category hint '%.64s' is not in the taxonomy",
               item->category_hint);
    }
    uint32_t slot = code ? 0 : slot_of_item(p->name, item->id, id_len);
    /* Our map may be behind (waits only while nothing was written yet). */
    if (code == 0 && !w->owned[slot] && worker_await_refresh(w, REFRESH_MAP)) break;
    if (code == 0 && !w->owned[slot]) {
      code = TALLY_E_MOVED;
      ingest_message(messages[i], sizeof messages[i], "slot %u is owned by another worker", slot);
    }
    if (code != 0) {
      ingest_reject(&reply, rejections, rejected, i, code, messages[i]);
      continue;
    }
    item_record_t *existing = item_load(w, slot, p->id, item->id, id_len);
    if (existing != NULL) {
      /* The same item again is harmless; other content under its id is a
       * conflict the sender must hear of (nothing is changed). */
      int same = ingest_is_same_item(existing, item);
      item_record_free(&existing);
      if (same) {
        reply.duplicates++;
      } else {
        ingest_message(messages[i], sizeof messages[i],
                       "item '%.64s' already exists with other content, market, priority, "
                       "gold label or hint; left unchanged",
                       item->id);
        ingest_reject(&reply, rejections, rejected, i, TALLY_E_ALREADY_EXISTS, messages[i]);
        reply.conflicts++;
      }
      continue;
    }
    item_record_t *rec = item_record_new(item->market, item->priority, item->content,
                                         item->gold_label, p->overlap ? p->overlap : 1,
                                         w->counters.next_seq++, now);
    if (rec == NULL || item_record_set_string(&rec->category_hint, item->category_hint) < 0)
      fatal_exit("out of memory");
    /* A gold item goes to the gold pool, out of the production queues and
     * counts (item_record.h). */
    int gold = item->gold_label[0] != '\0';
    if (gold) rec->stage = ITEM_RECORD_STAGE_GOLD;
    item_save(w, slot, p->id, item->id, id_len, rec);
    queue_push(w, p->id, rec->stage, item->market, slot, item->priority, rec->seq, item->id,
               id_len);
    item_record_free(&rec);
    if (!gold) {
      worker_project(w, p->id)->items++;
      ops_on_ingest(w->ops, p->id, item->market, now);
    }
    reply.accepted++;
  }
  reply.rejected = rejected;
  Tally__Envelope env;
  wire_envelope_init(&env, rid);
  env.body_case = TALLY__ENVELOPE__BODY_INGEST_REPLY;
  env.ingest_reply = &reply;
  worker_reply(w, req->peer, req->peer_len, &env);
  free(rejections);
  free(rejected);
  free(messages);
}

/* Validates who asks for what; on error replies and returns NULL. */
static const Tally__Labeler *lease_validate(worker_t *w, const uint8_t *peer, size_t peer_len,
                                           uint64_t rid, const char *labeler_id,
                                           const char *project, uint32_t stage,
                                           const Tally__Project **only) {
  *only = NULL;
  /* Unknown here may only be new: wait for a newer configuration once. */
  if ((config_cache_labeler(w->config, labeler_id) == NULL ||
       (project[0] != '\0' && config_cache_project(w->config, project) == NULL)) &&
      worker_await_refresh(w, REFRESH_CONFIG))
    return NULL;
  const Tally__Labeler *l = config_cache_labeler(w->config, labeler_id);
  if (l == NULL) {
    worker_reply_error(w, peer, peer_len, rid, TALLY_E_UNKNOWN_LABELER, "unknown labeler '%.64s'",
                       labeler_id);
    return NULL;
  }
  if (stage > TALLY__STAGE__STAGE_ADJUDICATE) {
    worker_reply_error(w, peer, peer_len, rid, TALLY_E_INVALID_ARGUMENT, "unknown stage %u", stage);
    return NULL;
  }
  if (!config_labeler_has_role(l, stage_role(stage))) {
    worker_reply_error(w, peer, peer_len, rid, TALLY_E_NOT_QUALIFIED,
                       "labeler '%s' does not have the role for %s tasks", l->id,
                       stage == 0 ? "label" : stage == 1 ? "audit" : "adjudication");
    return NULL;
  }
  if (project[0] != '\0') {
    *only = config_cache_project(w->config, project);
    if (*only == NULL) {
      worker_reply_error(w, peer, peer_len, rid, TALLY_E_UNKNOWN_PROJECT, "unknown project '%.64s'",
                         project);
      return NULL;
    }
    int shared = 0;
    for (size_t i = 0; i < (*only)->n_markets; i++)
      shared |= config_labeler_has_market(l, (*only)->markets[i]);
    if (!shared) {
      worker_reply_error(w, peer, peer_len, rid, TALLY_E_NOT_QUALIFIED,
                         "labeler '%s' is not qualified for any market of project '%s'", l->id,
                         (*only)->name);
      return NULL;
    }
  }
  if (w->map == NULL) {
    worker_reply_error(w, peer, peer_len, rid, TALLY_E_UNAVAILABLE,
                       "worker has not joined the cluster yet");
    return NULL;
  }
  return l;
}

/* Long-polls parked for connection `peer`. */
static size_t waiters_of(const worker_t *w, const uint8_t *peer, size_t peer_len) {
  size_t n = 0;
  for (size_t i = 0; i < w->n_waiters; i++)
    n += w->waiters[i].peer_len == peer_len && memcmp(w->waiters[i].peer, peer, peer_len) == 0;
  return n;
}

void labeling_handle_lease(worker_t *w, const router_request_t *req) {
  const Tally__LeaseRequest *r = req->env->lease;
  uint64_t rid = req->env->request_id;
  const Tally__Project *only;
  const Tally__Labeler *l =
      lease_validate(w, req->peer, req->peer_len, rid, r->labeler, r->project, r->stage, &only);
  if (l == NULL) return;
  uint32_t cap = identity_max_leases(w->identity);
  if (lease_table_count_of(w->leases, l->id) >= cap) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_RATE_LIMITED,
                       "'%s' holds %u live leases on this worker, the most one person may; "
                       "submit, skip or release one first",
                       l->id, cap);
    return;
  }
  int park = r->wait_ms > 0 && r->min_priority == 0 && w->n_waiters < LABELING_WAITERS_MAX;
  if (park && waiters_of(w, req->peer, req->peer_len) >= LABELING_WAITERS_PER_CONNECTION) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_RATE_LIMITED,
                       "this connection has %d lease requests waiting already; wait for them",
                       LABELING_WAITERS_PER_CONNECTION);
    return;
  }
  if (reply_lease(w, req->peer, req->peer_len, rid, l, only, r->stage, r->min_priority, !park) ||
      !park)
    return;
  if (w->n_waiters == w->cap_waiters) {
    size_t cap = w->cap_waiters ? w->cap_waiters * 2 : 64;
    waiter_t *grown = realloc(w->waiters, cap * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory");
    w->waiters = grown;
    w->cap_waiters = cap;
  }
  waiter_t *wt = &w->waiters[w->n_waiters++];
  memcpy(wt->peer, req->peer, req->peer_len);
  wt->peer_len = req->peer_len;
  wt->request_id = rid;
  uint32_t wait = r->wait_ms > LABELING_WAIT_MAX_MS ? LABELING_WAIT_MAX_MS : r->wait_ms;
  wt->deadline_ms = req->received_ms + wait;
  snprintf(wt->labeler, sizeof wt->labeler, "%s", r->labeler);
  snprintf(wt->project, sizeof wt->project, "%s", r->project);
  wt->stage = r->stage;
}

/* False when `lease_id` may have been lost by a restart or a slot move: it
 * names an earlier incarnation of this worker, or another worker. True
 * when it is this incarnation's (if it is not live, it ended here:
 * expired, released, used) or could not have been handed out at all. */
static int lease_is_ours(const worker_t *w, uint64_t lease_id) {
  uint32_t worker = WORKER_LEASE_WORKER(lease_id);
  if (worker == 0) return 1;
  return worker == (w->counters.worker_id & 0xffffu) &&
         WORKER_LEASE_INCARNATION(lease_id) == (w->counters.incarnation & 0xffffu);
}

/* Finds the live lease named by a submit/skip/release. Returns it, or NULL
 * after replying when the request is not usable by `labeler`, or NULL with
 * *gone set (nothing replied) when the lease is not live. */
static const lease_t *lease_check(worker_t *w, const router_request_t *req, const char *labeler,
                                  uint32_t slot, uint64_t lease_id, int *gone) {
  uint64_t rid = req->env->request_id;
  *gone = 0;
  if (slot >= TALLY_SLOT_COUNT) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_INVALID_ARGUMENT,
                       "slot %u is out of range 0..%u", slot, TALLY_SLOT_COUNT - 1);
    return NULL;
  }
  if (!labeling_slot_check(w, req, slot)) return NULL;
  const lease_t *lease = lease_table_find(w->leases, lease_id);
  if (lease == NULL || lease->slot != slot) {
    *gone = 1;
    return NULL;
  }
  if (strcmp(lease->labeler, labeler) != 0) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_NOT_LEASE_OWNER,
                       "lease %u.%llu is not held by '%.64s'", slot, (unsigned long long)lease_id,
                       labeler);
    return NULL;
  }
  if (lease->deadline_ms < clock_now_ms()) {
    lease_return(w, lease, RETURN_EXPIRE);
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_STALE_LEASE,
                       "lease %u.%llu expired", slot, (unsigned long long)lease_id);
    return NULL;
  }
  return lease;
}

/* Replies why lease `lease_id` is not live: STALE_LEASE when it ended on
 * this incarnation, LEASE_LOST when a restart (or a slot move) lost it. */
static void reply_lease_gone(worker_t *w, const router_request_t *req, uint32_t slot,
                             uint64_t lease_id, const char *why) {
  if (lease_is_ours(w, lease_id))
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_STALE_LEASE,
                       "lease %u.%llu is not live: it expired, was released, or was already used",
                       slot, (unsigned long long)lease_id);
  else
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_LEASE_LOST,
                       "lease %u.%llu was lost when the worker restarted; the task was offered "
                       "again%s",
                       slot, (unsigned long long)lease_id, why);
}

/* A submit or skip whose lease is not live but which names its item:
 * the item's record (holders filled) and a lease rebuilt from the request,
 * when the request is still valid (DESIGN.md, "Leases"): the lease is from
 * an earlier incarnation or another worker, the item still wants this
 * person's work at that stage (they may take it: qualification, role,
 * they have not labeled, audited or skipped it), and one more label stays
 * within the overlap counting live leases. *stored is set when the lease's
 * submit is already in the record (a repeat: answer as the first did).
 * Otherwise replies and returns NULL. */
static item_record_t *lease_lost_resolve(worker_t *w, const router_request_t *req,
                                         const char *labeler, uint32_t slot, uint64_t lease_id,
                                         const char *project, const char *item_id,
                                         uint32_t stage, lease_t *out, int *stored) {
  *stored = 0;
  size_t item_len = strlen(item_id);
  const Tally__Project *p = project[0] ? config_cache_project(w->config, project) : NULL;
  if (p == NULL || item_len == 0 || item_len > KEYS_ITEM_ID_MAX ||
      slot_of_item(p->name, item_id, item_len) != slot) {
    reply_lease_gone(w, req, slot, lease_id, "");
    return NULL;
  }
  item_record_t *rec = item_load(w, slot, p->id, item_id, item_len);
  if (rec == NULL) {
    reply_lease_gone(w, req, slot, lease_id, "");
    return NULL;
  }
  if (item_record_lease_submitted(rec, lease_id)) {
    *stored = 1;
    return rec;
  }
  if (lease_is_ours(w, lease_id)) {
    item_record_free(&rec);
    reply_lease_gone(w, req, slot, lease_id, "");
    return NULL;
  }
  const Tally__Labeler *l = config_cache_labeler(w->config, labeler);
  /* Their own live lease on the item (leased again after the restart) is
   * what this submit completes: it does not count against them. */
  const lease_t *mine = NULL;
  const lease_t *held[16];
  size_t n = lease_table_of_item(w->leases, slot, p->id, item_id, item_len, held, 16);
  for (size_t i = 0; i < n && i < 16; i++)
    if (strcmp(held[i]->labeler, labeler) == 0) mine = held[i];
  if (mine != NULL) item_record_remove_holder(rec, labeler);
  /* A gold task was a label task to the person. */
  if (stage == TALLY__STAGE__STAGE_LABEL && item_record_stage_is_gold(rec->stage))
    stage = ITEM_RECORD_STAGE_GOLD;
  int valid = l != NULL && (stage <= TALLY__STAGE__STAGE_ADJUDICATE || item_record_stage_is_gold(stage)) &&
              config_labeler_has_role(l, stage_role(stage)) &&
              config_labeler_has_market(l, rec->market) && rec->stage == stage &&
              !item_record_excludes(rec, labeler) && item_record_wants_work(rec);
  if (mine != NULL && item_record_add_holder(rec, labeler) < 0) fatal_exit("out of memory");
  if (!valid) {
    item_record_free(&rec);
    reply_lease_gone(w, req, slot, lease_id, " and can no longer take this submit; lease a new task");
    return NULL;
  }
  memset(out, 0, sizeof *out);
  out->lease_id = mine != NULL ? mine->lease_id : 0;
  out->slot = slot;
  out->project_id = p->id;
  out->stage = stage;
  /* The lost grant counted the exposure if the item was high-severity
   * then; as far as the record tells, it was if it is now. */
  out->exposure_counted = mine != NULL ? mine->exposure_counted : wellbeing_item_is_high(p, rec);
  snprintf(out->labeler, sizeof out->labeler, "%s", labeler);
  out->item_id = (char *)item_id;
  out->item_len = item_len;
  return rec;
}

static void reply_ack(worker_t *w, const router_request_t *req) {
  Tally__Envelope env;
  Tally__Ack ack = TALLY__ACK__INIT;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  worker_reply(w, req->peer, req->peer_len, &env);
}

static void reply_ack_at_once(worker_t *w, const router_request_t *req) {
  Tally__Envelope env;
  Tally__Ack ack = TALLY__ACK__INIT;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  worker_reply_at_once(w, req->peer, req->peer_len, &env);
}

/* Moves an item to the queue of `stage` (same priority and age). */
static void item_advance(worker_t *w, const lease_t *lease, item_record_t *rec, uint32_t stage) {
  rec->stage = stage;
  item_record_clear_skippers(rec);
  queue_push(w, lease->project_id, stage, rec->market, lease->slot, rec->priority, rec->seq,
             lease->item_id, lease->item_len);
}

/* Closes an item's audit with `final_label`: done, accuracy against the
 * final label counted (quality_on_close), and every audited labeler learns
 * the outcome in their feedback. rec->attribution is the verdict's (NONE
 * on agreement). */
static void item_close(worker_t *w, const Tally__Project *p, const lease_t *lease,
                       item_record_t *rec, const char *final_label, uint64_t now) {
  if (item_record_set_string(&rec->final_label, final_label) < 0) fatal_exit("out of memory");
  rec->state = TALLY__STORE__ITEM_STATE__ITEM_DONE;
  rec->done_ms = now;
  rec->closed_ms = now;
  rec->closed_policy_version = p->policy_version; /* the guideline version of the verdict */
  quality_on_close(w->quality, p, rec, final_label, now);
  int unclear = rec->attribution == TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR;
  for (size_t i = 0; i < rec->n_sampled; i++) {
    const char *theirs = item_record_label_of(rec, rec->sampled[i]);
    if (theirs != NULL)
      quality_feedback_put(w->quality, lease->slot, lease->project_id, rec->sampled[i], lease->item_id,
                           lease->item_len, theirs, final_label, unclear, now);
  }
  worker_project(w, lease->project_id)->done++;
}

static void submit_label(worker_t *w, const Tally__Project *p, const lease_t *lease,
                         item_record_t *rec, const Tally__SubmitRequest *s, uint64_t now) {
  if (item_record_add_label(rec, lease->labeler, s->label, now) < 0) fatal_exit("out of memory");
  rec->labels[rec->n_labels - 1]->handling_ms = s->handling_ms;
  rec->labels[rec->n_labels - 1]->policy_version = p->policy_version;
  if (quality_is_sampled(w->quality, p, rec->market, lease->item_id, lease->labeler) &&
      item_record_add_sampled(rec, lease->labeler) < 0)
    fatal_exit("out of memory");
  quality_on_label(w->quality, p, rec, lease->labeler, s->label, s->handling_ms, now);
  worker_project(w, lease->project_id)->labels++;
  if (rec->n_labels < rec->overlap) return;
  quality_on_labels_complete(w->quality, p, rec, now);
  if (rec->n_sampled > 0) {
    item_advance(w, lease, rec, TALLY__STAGE__STAGE_AUDIT);
  } else {
    rec->state = TALLY__STORE__ITEM_STATE__ITEM_DONE;
    rec->done_ms = now;
    worker_project(w, lease->project_id)->done++;
  }
}

/* A label of a gold item: kept (the person is never offered it again) and
 * counted against the gold label only; the item stays in the gold pool. */
static void submit_gold(worker_t *w, const Tally__Project *p, const lease_t *lease,
                        item_record_t *rec, const Tally__SubmitRequest *s, uint64_t now) {
  if (item_record_add_label(rec, lease->labeler, s->label, now) < 0) fatal_exit("out of memory");
  rec->labels[rec->n_labels - 1]->handling_ms = s->handling_ms;
  rec->labels[rec->n_labels - 1]->policy_version = p->policy_version;
  quality_on_gold(w->quality, p, rec, lease->labeler, s->label, now);
}

static void submit_audit(worker_t *w, const Tally__Project *p, const lease_t *lease,
                         item_record_t *rec, const Tally__SubmitRequest *s, uint64_t now) {
  if (item_record_set_audit(rec, lease->labeler, s->label, now, s->handling_ms) < 0)
    fatal_exit("out of memory");
  rec->audit->policy_version = p->policy_version;
  const char *disputed = NULL;
  for (size_t i = 0; i < rec->n_sampled; i++) {
    const char *theirs = item_record_label_of(rec, rec->sampled[i]);
    if (theirs == NULL) continue;
    quality_on_audit(w->quality, p, rec->market, rec->sampled[i], theirs, s->label, now);
    if (disputed == NULL && strcmp(theirs, s->label) != 0) disputed = rec->sampled[i];
  }
  if (disputed == NULL) {
    item_close(w, p, lease, rec, s->label, now);
    return;
  }
  if (item_record_set_string(&rec->disputed_labeler, disputed) < 0) fatal_exit("out of memory");
  /* A and B in an order that says nothing about who gave which. */
  rec->candidates_swapped =
      quality_candidates_swapped(w->quality, lease->labeler, lease->item_id, lease->item_len);
  item_advance(w, lease, rec, TALLY__STAGE__STAGE_ADJUDICATE);
}

/* A lead's verdict. The attribution follows from the final label
 * (common/attribution.h): whoever gave a different label was wrong, per
 * audited labeler for the statistics, and for the disputed labeler on the
 * item (the case database and export). Of the request's attribution only
 * POLICY_UNCLEAR counts: it is what the labels cannot say. */
static void submit_verdict(worker_t *w, const Tally__Project *p, const lease_t *lease,
                           item_record_t *rec, const Tally__SubmitRequest *s, uint64_t now) {
  int unclear = s->attribution == TALLY__ATTRIBUTION__ATTRIBUTION_POLICY_UNCLEAR;
  const char *auditor_label = rec->audit ? rec->audit->label : "";
  const char *disputed = rec->disputed_labeler ? item_record_label_of(rec, rec->disputed_labeler) : NULL;
  rec->attribution = (Tally__Attribution)attribution_derive(disputed, auditor_label, s->label, unclear);
  if (item_record_set_string(&rec->adjudicator, lease->labeler) < 0 ||
      item_record_set_string(&rec->note, s->note) < 0)
    fatal_exit("out of memory");
  for (size_t i = 0; i < rec->n_sampled; i++) {
    const char *theirs = item_record_label_of(rec, rec->sampled[i]);
    if (theirs != NULL && strcmp(theirs, auditor_label) != 0)
      quality_on_adjudication(w->quality, p, rec->market, rec->sampled[i], theirs, auditor_label,
                              (uint32_t)attribution_derive(theirs, auditor_label, s->label, unclear),
                              now);
  }
  item_close(w, p, lease, rec, s->label, now);
  cases_on_verdict(w->cases, lease->slot, lease->project_id, lease->item_id, lease->item_len, rec);
}

/* The label `person` submitted at `stage` as stored in `rec`, or NULL. */
static const char *submitted_label(const item_record_t *rec, const char *person, uint32_t stage) {
  switch (stage) {
    case TALLY__STAGE__STAGE_LABEL: return item_record_label_of(rec, person);
    case TALLY__STAGE__STAGE_AUDIT:
      return rec->audit != NULL && strcmp(rec->audit->labeler, person) == 0 ? rec->audit->label
                                                                             : NULL;
    case TALLY__STAGE__STAGE_ADJUDICATE: return rec->final_label;
    default: return NULL;
  }
}

void labeling_handle_submit(worker_t *w, const router_request_t *req) {
  const Tally__SubmitRequest *s = req->env->submit;
  uint64_t rid = req->env->request_id;
  int gone = 0, stored = 0;
  lease_t lost;
  item_record_t *rec = NULL;
  const lease_t *lease = lease_check(w, req, s->labeler, s->slot, s->lease_id, &gone);
  if (lease == NULL && !gone) return;
  if (lease == NULL) {
    if (s->item_id[0] == '\0') {
      reply_lease_gone(w, req, s->slot, s->lease_id, "");
      return;
    }
    rec = lease_lost_resolve(w, req, s->labeler, s->slot, s->lease_id, s->project, s->item_id,
                             (uint32_t)s->stage, &lost, &stored);
    if (rec == NULL) return;
    if (stored) {
      /* A repeat of a stored submit: the first one's answer. With another
       * label it is not the same submit: the stored label stays. */
      const char *kept = submitted_label(rec, s->labeler, (uint32_t)s->stage);
      int same = kept != NULL && strcmp(kept, s->label) == 0;
      item_record_free(&rec);
      if (same) reply_ack(w, req);
      else
        worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_STALE_LEASE,
                           "this lease's submit is already stored, with another label; "
                           "it was kept");
      return;
    }
    lease = &lost;
  }
  const Tally__Project *p = config_cache_project_by_id(w->config, lease->project_id);
  const char *invalid = NULL;
  int code = 0;
  char message[256];
  if (p == NULL) {
    code = TALLY_E_UNKNOWN_PROJECT;
    invalid = "the lease's project no longer exists";
  } else if (config_project_label_index(p, s->label) < 0) {
    code = TALLY_E_LABEL_NOT_IN_TAXONOMY;
    snprintf(message, sizeof message,
             "label '%.64s' is not in the taxonomy of project '%s'; the lease stays live", s->label,
             p->name);
    invalid = message;
  } else if (lease->stage == TALLY__STAGE__STAGE_ADJUDICATE &&
             !attribution_request_is_valid((unsigned)s->attribution)) {
    code = TALLY_E_INVALID_ARGUMENT;
    snprintf(message, sizeof message,
             "unknown attribution %d: a verdict carries none (derived from the final label) "
             "or policy unclear; the lease stays live",
             (int)s->attribution);
    invalid = message;
  } else if (strlen(s->note) > 4096) {
    code = TALLY_E_TOO_LARGE;
    invalid = "note exceeds 4096 bytes; the lease stays live";
  }
  if (invalid != NULL) {
    item_record_free(&rec);
    worker_reply_error(w, req->peer, req->peer_len, rid, code, "%s", invalid);
    return;
  }
  if (rec == NULL) rec = item_load(w, lease->slot, lease->project_id, lease->item_id, lease->item_len);
  if (rec == NULL) fatal_exit("leased item is missing from storage");
  uint64_t now = clock_now_ms();
  uint64_t lease_id = lease->lease_id; /* 0: a lost lease, none of theirs live */
  queue_where_t before = item_where(rec);
  item_record_remove_holder(rec, lease->labeler);
  if (item_record_add_submitted_lease(rec, s->lease_id) < 0 ||
      (lease_id != 0 && lease_id != s->lease_id &&
       item_record_add_submitted_lease(rec, lease_id) < 0))
    fatal_exit("out of memory");
  int gold = item_record_stage_is_gold(lease->stage);
  if (gold)
    submit_gold(w, p, lease, rec, s, now);
  else if (lease->stage == TALLY__STAGE__STAGE_LABEL)
    submit_label(w, p, lease, rec, s, now);
  else if (lease->stage == TALLY__STAGE__STAGE_AUDIT)
    submit_audit(w, p, lease, rec, s, now);
  else
    submit_verdict(w, p, lease, rec, s, now);
  queue_reconcile(w, lease->slot, lease->project_id, lease->item_id, lease->item_len, before, rec);
  if (!gold) ops_on_submit(w->ops, p, rec, lease->stage, s->handling_ms, now);
  wellbeing_on_submit(w->wellbeing, p, lease->labeler, s->label, lease->exposure_counted, now);
  item_save(w, lease->slot, lease->project_id, lease->item_id, lease->item_len, rec);
  item_record_free(&rec);
  if (lease_id != 0) lease_drop(w, lease->project_id, lease_id);
  w->batch_dirty = 1;
  reply_ack(w, req);
}

static void skip_or_release(worker_t *w, const router_request_t *req, int skip) {
  const char *labeler = skip ? req->env->skip->labeler : req->env->release->labeler;
  uint32_t slot = skip ? req->env->skip->slot : req->env->release->slot;
  uint64_t lease_id = skip ? req->env->skip->lease_id : req->env->release->lease_id;
  int gone = 0;
  const lease_t *lease = lease_check(w, req, labeler, slot, lease_id, &gone);
  if (lease != NULL) {
    lease_return(w, lease, skip ? RETURN_SKIP : RETURN_RELEASE);
    if (skip)
      reply_ack(w, req);
    else
      reply_ack_at_once(w, req); /* a release stores nothing */
    return;
  }
  if (!gone) return;
  const Tally__SkipRequest *k = skip ? req->env->skip : NULL;
  if (k == NULL || k->item_id[0] == '\0') {
    reply_lease_gone(w, req, slot, lease_id, "");
    return;
  }
  /* A skip of a lost lease: the never-again rule still holds when valid. */
  lease_t lost;
  int stored = 0;
  item_record_t *rec = lease_lost_resolve(w, req, labeler, slot, lease_id, k->project, k->item_id,
                                          (uint32_t)k->stage, &lost, &stored);
  if (rec == NULL) return;
  if (!stored) {
    queue_where_t before = item_where(rec);
    if (lost.lease_id != 0) {
      /* Their live lease on the item ends with the skip. */
      item_record_free(&rec);
      const lease_t *live = lease_table_find(w->leases, lost.lease_id);
      if (live != NULL) lease_return(w, live, RETURN_SKIP);
    } else {
      int gold = item_record_stage_is_gold(lost.stage);
      if ((gold ? item_record_add_seen(rec, labeler) : item_record_add_skipper(rec, labeler)) < 0)
        fatal_exit("out of memory");
      queue_reconcile(w, slot, lost.project_id, lost.item_id, lost.item_len, before, rec);
      item_save(w, slot, lost.project_id, lost.item_id, lost.item_len, rec);
      if (!gold) worker_project(w, lost.project_id)->skips++;
      w->batch_dirty = 1;
    }
  }
  item_record_free(&rec);
  reply_ack(w, req);
}

void labeling_handle_skip(worker_t *w, const router_request_t *req) { skip_or_release(w, req, 1); }

void labeling_handle_release(worker_t *w, const router_request_t *req) {
  skip_or_release(w, req, 0);
}

void labeling_handle_status(worker_t *w, const router_request_t *req) {
  const char *project = req->env->status->project;
  const Tally__Project *only = NULL;
  if (project[0] != '\0' && (only = project_find(w, req, project)) == NULL) return;
  Tally__StatusReply reply = TALLY__STATUS_REPLY__INIT;
  project_counters_t counts;
  if (only != NULL)
    counts = *worker_project(w, only->id);
  else
    worker_project_total(w, &counts);
  reply.worker_id = w->counters.worker_id;
  reply.items = counts.items;
  reply.labels = counts.labels;
  reply.live_leases = counts.live_leases;
  reply.done = counts.done;
  reply.expired_leases = counts.expired_leases;
  reply.skips = counts.skips;
  reply.epoch = w->map ? w->map->epoch : 0;
  size_t nq = queue_index_count(w->queues);
  Tally__QueueStatus *queues = calloc(nq ? nq : 1, sizeof *queues);
  Tally__QueueStatus **ptrs = calloc(nq ? nq : 1, sizeof *ptrs);
  if (queues == NULL || ptrs == NULL) fatal_exit("out of memory");
  for (size_t i = 0; i < nq; i++) {
    queue_t *q = queue_index_at(w->queues, i);
    const Tally__Project *p = config_cache_project_by_id(w->config, queue_project_id(q));
    if (p == NULL || (only != NULL && only != p) || item_record_stage_is_gold(queue_stage(q)))
      continue;
    reply.queued += queue_depth(q);
    Tally__QueueStatus *qs = &queues[reply.n_queues];
    tally__queue_status__init(qs);
    qs->project = p->name;
    qs->market = (char *)queue_market(q);
    qs->stage = (Tally__Stage)queue_stage(q);
    qs->depth = queue_depth(q);
    uint32_t slot;
    queue_position_t pos;
    if (queue_peek(q, &slot, &pos)) qs->top_priority = pos.priority;
    ptrs[reply.n_queues++] = qs;
  }
  reply.queues = ptrs;
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_STATUS_REPLY;
  env.status_reply = &reply;
  worker_reply(w, req->peer, req->peer_len, &env);
  free(queues);
  free(ptrs);
}

void labeling_handle_item_get(worker_t *w, const router_request_t *req) {
  const Tally__ItemGet *g = req->env->item_get;
  const Tally__Project *p = project_find(w, req, g->project);
  if (p == NULL) return;
  size_t id_len = strlen(g->item_id);
  if (id_len == 0 || id_len > KEYS_ITEM_ID_MAX) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id,
                       TALLY_E_INVALID_ARGUMENT, "item id must be 1 to %d bytes", KEYS_ITEM_ID_MAX);
    return;
  }
  uint32_t slot = slot_of_item(p->name, g->item_id, id_len);
  if (!labeling_slot_check(w, req, slot)) return;
  item_record_t *rec = item_load(w, slot, p->id, g->item_id, id_len);
  /* Someone who works on the item (holds a lease on it, labeled, audited
   * or skipped it) may not read its labels: the blind would break. */
  if (rec != NULL && w->caller.is_person &&
      (item_record_excludes(rec, w->caller.id) ||
       (rec->audit != NULL && strcmp(rec->audit->labeler, w->caller.id) == 0))) {
    item_record_free(&rec);
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id,
                       TALLY_E_PERMISSION_DENIED,
                       "you work on this item: its labels stay hidden from you");
    return;
  }
  if (rec == NULL) {
    worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, TALLY_E_NOT_FOUND,
                       "no item '%.64s' in project '%s'", g->item_id, p->name);
    return;
  }
  Tally__ItemReply reply = TALLY__ITEM_REPLY__INIT;
  reply.project = p->name;
  reply.item_id = g->item_id;
  reply.market = rec->market;
  reply.priority = rec->priority;
  reply.content = rec->content;
  reply.overlap = rec->overlap;
  reply.n_labels = rec->n_labels;
  reply.labels = rec->labels;
  reply.live_leases = (uint32_t)rec->n_lease_holders;
  reply.done = rec->state == TALLY__STORE__ITEM_STATE__ITEM_DONE;
  reply.ingested_ms = rec->ingested_ms;
  reply.done_ms = reply.done ? rec->done_ms : 0;
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_ITEM_REPLY;
  env.item_reply = &reply;
  worker_reply(w, req->peer, req->peer_len, &env);
  item_record_free(&rec);
}

void labeling_expire_leases(worker_t *w, uint64_t now_ms) {
  /* While the disk is full, expired leases are kept (a submit is refused
   * anyway) and returned once space is back. */
  if (w->no_space) return;
  const lease_t *lease;
  while ((lease = lease_table_next_expired(w->leases, now_ms)) != NULL)
    lease_return(w, lease, RETURN_EXPIRE);
}

void labeling_serve_waiters(worker_t *w, uint64_t now) {
  if (w->n_waiters == 0) return;
  int try_lease = w->work_added;
  w->work_added = 0;
  size_t kept = 0;
  for (size_t i = 0; i < w->n_waiters; i++) {
    waiter_t *wt = &w->waiters[i];
    int expired = wt->deadline_ms <= now;
    const Tally__Labeler *l = config_cache_labeler(w->config, wt->labeler);
    const Tally__Project *only =
        wt->project[0] != '\0' ? config_cache_project(w->config, wt->project) : NULL;
    if (l == NULL || (wt->project[0] != '\0' && only == NULL)) {
      /* The configuration changed under the waiter: answer "no task". */
      Tally__Envelope env;
      Tally__LeaseReply empty = TALLY__LEASE_REPLY__INIT;
      wire_envelope_init(&env, wt->request_id);
      env.body_case = TALLY__ENVELOPE__BODY_LEASE_REPLY;
      env.lease_reply = &empty;
      worker_reply(w, wt->peer, wt->peer_len, &env);
      continue;
    }
    int granted = 0;
    if (try_lease || expired)
      granted = reply_lease(w, wt->peer, wt->peer_len, wt->request_id, l, only, wt->stage, 0, expired);
    if (!granted && !expired) w->waiters[kept++] = *wt;
  }
  w->n_waiters = kept;
}

/* ------------------------------------------------------------ recovery */

void labeling_adopt_leases(worker_t *w, const lease_table_t *old) {
  for (size_t i = 0; i < lease_table_count(old); i++) {
    const lease_t *l = lease_table_at(old, i);
    if (!w->owned[l->slot] || lease_table_find(w->leases, l->lease_id) != NULL) continue;
    item_record_t *rec = item_load(w, l->slot, l->project_id, l->item_id, l->item_len);
    if (rec == NULL) continue; /* its item was not durable: the lease goes */
    queue_where_t before = item_where(rec);
    if (lease_table_add(w->leases, l) < 0) fatal_exit("out of memory for leases");
    if (item_record_add_holder(rec, l->labeler) < 0) fatal_exit("out of memory");
    queue_reconcile(w, l->slot, l->project_id, l->item_id, l->item_len, before, rec);
    worker_project(w, l->project_id)->live_leases++;
    item_record_free(&rec);
  }
}

int labeling_recover(worker_t *w) {
  uint32_t served = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    if (!w->owned[s]) continue;
    int rc = slot_state_load(w, s, 0);
    if (rc < 0) return rc;
    served++;
  }
  log_info("recovered the queues and leases of %u served slots", served);
  return 0;
}
