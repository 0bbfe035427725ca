/* replica_set: followers, in-sync sets and slot epochs. See replica_set.h. */
#include "replica_set.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "tally_error.h"

#define MAX_FOLLOWERS (REPLICA_SET_MAX_REPLICAS - 1)
/* Room for what a store of a larger R held. */
#define ROOM 8

typedef struct {
  uint64_t epoch;
  uint32_t followers[ROOM];
  uint32_t in_sync[ROOM];
  uint8_t n_followers, n_in_sync, waiting;
} entry_t;

struct replica_set {
  uint32_t replicas;
  entry_t e[TALLY_SLOT_COUNT];
  Tally__SlotReplicas view[TALLY_SLOT_COUNT];
  Tally__SlotReplicas *ptrs[TALLY_SLOT_COUNT];
};

int replica_set_new(replica_set_t **out, uint32_t replicas) {
  *out = NULL;
  if (replicas < 1 || replicas > REPLICA_SET_MAX_REPLICAS) return TALLY_E_INVALID_ARGUMENT;
  replica_set_t *rs = calloc(1, sizeof *rs);
  if (rs == NULL) return TALLY_E_NOMEM;
  rs->replicas = replicas;
  *out = rs;
  return 0;
}

void replica_set_destroy(replica_set_t **rs) {
  if (rs == NULL || *rs == NULL) return;
  free(*rs);
  *rs = NULL;
}

void replica_set_copy(replica_set_t *dst, const replica_set_t *src) {
  dst->replicas = src->replicas;
  memcpy(dst->e, src->e, sizeof dst->e);
}

uint32_t replica_set_replicas(const replica_set_t *rs) { return rs->replicas; }

uint64_t replica_set_slot_epoch(const replica_set_t *rs, uint32_t slot) {
  return slot < TALLY_SLOT_COUNT ? rs->e[slot].epoch : 0;
}

static int has(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

static void drop(uint32_t *ids, uint8_t *n, uint32_t id) {
  for (size_t i = 0; i < *n; i++)
    if (ids[i] == id) {
      memmove(&ids[i], &ids[i + 1], (*n - i - 1) * sizeof *ids);
      (*n)--;
      return;
    }
}

int replica_set_is_follower(const replica_set_t *rs, uint32_t slot, uint32_t worker) {
  return slot < TALLY_SLOT_COUNT && has(rs->e[slot].followers, rs->e[slot].n_followers, worker);
}

int replica_set_is_in_sync(const replica_set_t *rs, uint32_t slot, uint32_t worker) {
  return slot < TALLY_SLOT_COUNT && has(rs->e[slot].in_sync, rs->e[slot].n_in_sync, worker);
}

int replica_set_waiting(const replica_set_t *rs, uint32_t slot) {
  return slot < TALLY_SLOT_COUNT && rs->e[slot].waiting;
}

uint32_t replica_set_count_waiting(const replica_set_t *rs) {
  uint32_t n = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) n += rs->e[s].waiting;
  return n;
}

uint32_t replica_set_assign(replica_set_t *rs, const uint32_t *owners, const uint32_t *eligible,
                            size_t n_eligible, const uint32_t *keep, size_t n_keep) {
  uint32_t changed = 0;
  uint32_t want = rs->replicas - 1;
  /* How many slots each eligible worker follows (after the removals). */
  uint32_t *load = calloc(n_eligible ? n_eligible : 1, sizeof *load);
  uint8_t *touched_slot = calloc(TALLY_SLOT_COUNT, 1);
  if (load == NULL || touched_slot == NULL) {
    free(load);
    free(touched_slot);
    return 0;
  }
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    entry_t *e = &rs->e[s];
    int touched = 0;
    if (owners[s] == 0) {
      if (e->n_followers > 0) touched = 1;
      e->n_followers = e->n_in_sync = 0;
      touched_slot[s] |= touched;
      continue;
    }
    if (e->epoch == 0) {
      e->epoch = 1;
      touched = 1;
    }
    for (size_t i = 0; i < e->n_followers;) {
      uint32_t f = e->followers[i];
      if (f == owners[s] || !has(keep, n_keep, f) || i >= want) {
        drop(e->followers, &e->n_followers, f);
        drop(e->in_sync, &e->n_in_sync, f);
        touched = 1;
        continue;
      }
      i++;
    }
    for (size_t i = 0; i < e->n_followers; i++)
      for (size_t k = 0; k < n_eligible; k++)
        if (eligible[k] == e->followers[i]) load[k]++;
    touched_slot[s] |= touched;
  }
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT && n_eligible > 0; s++) {
    entry_t *e = &rs->e[s];
    if (owners[s] == 0) continue;
    int touched = 0;
    while (e->n_followers < want) {
      /* The least loaded eligible worker, starting after the owner. */
      size_t start = 0;
      while (start < n_eligible && eligible[start] <= owners[s]) start++;
      size_t best = n_eligible;
      for (size_t j = 0; j < n_eligible; j++) {
        size_t k = (start + j) % n_eligible;
        uint32_t cand = eligible[k];
        if (cand == owners[s] || has(e->followers, e->n_followers, cand)) continue;
        if (best == n_eligible || load[k] < load[best]) best = k;
      }
      if (best == n_eligible) break;
      e->followers[e->n_followers++] = eligible[best];
      load[best]++;
      touched = 1;
    }
    touched_slot[s] |= touched;
  }
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) changed += touched_slot[s];
  free(load);
  free(touched_slot);
  return changed;
}

int replica_set_isr(replica_set_t *rs, uint32_t slot, uint64_t slot_epoch, uint32_t follower,
                    int in_sync) {
  if (slot >= TALLY_SLOT_COUNT) return TALLY_E_INVALID_ARGUMENT;
  entry_t *e = &rs->e[slot];
  if (slot_epoch != e->epoch || !has(e->followers, e->n_followers, follower))
    return TALLY_E_INVALID_ARGUMENT;
  int now = has(e->in_sync, e->n_in_sync, follower);
  if (now == (in_sync != 0)) return 0;
  if (in_sync) {
    if (e->n_in_sync >= ROOM) return TALLY_E_INVALID_ARGUMENT;
    e->in_sync[e->n_in_sync++] = follower;
    e->waiting = 0;
  } else {
    drop(e->in_sync, &e->n_in_sync, follower);
  }
  return 1;
}

uint32_t replica_set_failover(replica_set_t *rs, uint32_t *owners, uint32_t dead,
                              const uint32_t *up, size_t n_up, uint32_t *waiting) {
  uint32_t promoted = 0, waits = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    entry_t *e = &rs->e[s];
    drop(e->in_sync, &e->n_in_sync, dead);
    if (owners[s] != dead || dead == 0) continue;
    uint32_t next = 0;
    for (size_t i = 0; i < e->n_in_sync && next == 0; i++)
      if (has(up, n_up, e->in_sync[i]) && e->in_sync[i] != dead) next = e->in_sync[i];
    if (next == 0) {
      if (e->n_followers > 0 || rs->replicas > 1) {
        e->waiting = 1;
        waits++;
      }
      continue;
    }
    owners[s] = next;
    drop(e->followers, &e->n_followers, next);
    if (e->n_followers < ROOM) e->followers[e->n_followers++] = dead;
    e->n_in_sync = 0;
    e->epoch++;
    e->waiting = 0;
    promoted++;
  }
  if (waiting) *waiting = waits;
  return promoted;
}

uint32_t replica_set_owner_back(replica_set_t *rs, const uint32_t *owners, uint32_t worker) {
  uint32_t n = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    if (owners[s] == worker && rs->e[s].waiting) {
      rs->e[s].waiting = 0;
      n++;
    }
  return n;
}

void replica_set_moved(replica_set_t *rs, uint32_t slot, uint32_t target) {
  if (slot >= TALLY_SLOT_COUNT) return;
  entry_t *e = &rs->e[slot];
  drop(e->followers, &e->n_followers, target);
  e->n_in_sync = 0;
  e->epoch++;
  e->waiting = 0;
}

void replica_set_view(replica_set_t *rs, Tally__ClusterMap *map) {
  map->replicas = rs->replicas;
  map->n_slots = 0;
  map->slots = NULL;
  if (rs->replicas <= 1) return;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    Tally__SlotReplicas *v = &rs->view[s];
    entry_t *e = &rs->e[s];
    tally__slot_replicas__init(v);
    v->slot = s;
    v->n_followers = e->n_followers;
    v->followers = e->followers;
    v->n_in_sync = e->n_in_sync;
    v->in_sync = e->in_sync;
    v->slot_epoch = e->epoch;
    v->waiting = e->waiting;
    rs->ptrs[s] = v;
  }
  map->n_slots = TALLY_SLOT_COUNT;
  map->slots = rs->ptrs;
}

int replica_set_encode(const replica_set_t *rs, uint8_t **out, size_t *len) {
  size_t cap = 4 + (size_t)TALLY_SLOT_COUNT * (8 + 3 + 2 * ROOM * 4);
  uint8_t *buf = malloc(cap);
  if (buf == NULL) return TALLY_E_NOMEM;
  size_t n = 0;
  keys_put_u32(buf, rs->replicas);
  n += 4;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    const entry_t *e = &rs->e[s];
    keys_put_u64(buf + n, e->epoch);
    n += 8;
    buf[n++] = e->waiting;
    buf[n++] = e->n_followers;
    for (size_t i = 0; i < e->n_followers; i++, n += 4) keys_put_u32(buf + n, e->followers[i]);
    buf[n++] = e->n_in_sync;
    for (size_t i = 0; i < e->n_in_sync; i++, n += 4) keys_put_u32(buf + n, e->in_sync[i]);
  }
  *out = buf;
  *len = n;
  return 0;
}

int replica_set_decode(replica_set_t *rs, const uint8_t *in, size_t len) {
  entry_t *e = calloc(TALLY_SLOT_COUNT, sizeof *e);
  if (e == NULL) return TALLY_E_NOMEM;
  size_t n = 4;
  int ok = len >= 4;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT && ok; s++) {
    if (n + 10 > len) {
      ok = 0;
      break;
    }
    e[s].epoch = keys_get_u64(in + n);
    n += 8;
    e[s].waiting = in[n++] != 0;
    e[s].n_followers = in[n++];
    if (e[s].n_followers > ROOM || n + 4u * e[s].n_followers + 1 > len) {
      ok = 0;
      break;
    }
    for (size_t i = 0; i < e[s].n_followers; i++, n += 4) e[s].followers[i] = keys_get_u32(in + n);
    e[s].n_in_sync = in[n++];
    if (e[s].n_in_sync > ROOM || n + 4u * e[s].n_in_sync > len) {
      ok = 0;
      break;
    }
    for (size_t i = 0; i < e[s].n_in_sync; i++, n += 4) e[s].in_sync[i] = keys_get_u32(in + n);
  }
  if (ok && n == len) memcpy(rs->e, e, sizeof rs->e);
  free(e);
  return ok && n == len ? 0 : TALLY_E_STORAGE;
}
