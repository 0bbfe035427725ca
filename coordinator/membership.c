/* membership: workers, their state and last heartbeat. See membership.h. */
#include "membership.h"

#include <stdlib.h>
#include <string.h>

#include "slot.h"
#include "tally_error.h"

typedef struct {
  Tally__WorkerInfo info;     /* endpoint owned here; backlog borrowed from `figures` */
  Tally__Heartbeat *figures;  /* owned copy of the last heartbeat's backlog and lags, or NULL */
  uint64_t seen_ms;           /* monotonic time of the last sign of life */
  uint64_t config_version;    /* as reported by the last heartbeat; 0 before one */
} member_t;

struct membership {
  member_t **members; /* ascending id */
  size_t count, capacity;
};

int membership_new(membership_t **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : TALLY_E_NOMEM;
}

static void member_free(member_t *member) {
  if (member->figures) tally__heartbeat__free_unpacked(member->figures, NULL);
  free(member->info.endpoint);
  if (member->info.public_key != protobuf_c_empty_string) free(member->info.public_key);
  free(member);
}

void membership_destroy(membership_t **membership) {
  if (membership == NULL || *membership == NULL) return;
  membership_t *m = *membership;
  for (size_t i = 0; i < m->count; i++) member_free(m->members[i]);
  free(m->members);
  free(m);
  *membership = NULL;
}

size_t membership_count(const membership_t *m) { return m->count; }

Tally__WorkerInfo *membership_worker_at(membership_t *m, size_t index) {
  return &m->members[index]->info;
}

/* Position of `id`, or where it would be inserted (*found says which). */
static size_t membership_position(const membership_t *m, uint32_t id, int *found) {
  size_t low = 0, high = m->count;
  while (low < high) {
    size_t mid = low + (high - low) / 2;
    if (m->members[mid]->info.id < id)
      low = mid + 1;
    else
      high = mid;
  }
  *found = low < m->count && m->members[low]->info.id == id;
  return low;
}

static member_t *membership_member(const membership_t *m, uint32_t id) {
  int found;
  size_t at = membership_position(m, id, &found);
  return found ? m->members[at] : NULL;
}

const Tally__WorkerInfo *membership_find(const membership_t *m, uint32_t id) {
  member_t *member = membership_member(m, id);
  return member ? &member->info : NULL;
}

/* Inserts a new member for `id` at its place; returns it or NULL (NOMEM). */
static member_t *membership_insert(membership_t *m, uint32_t id, size_t at) {
  if (m->count == m->capacity) {
    size_t capacity = m->capacity ? 2 * m->capacity : 8;
    member_t **grown = realloc(m->members, capacity * sizeof *grown);
    if (grown == NULL) return NULL;
    m->members = grown;
    m->capacity = capacity;
  }
  member_t *member = calloc(1, sizeof *member);
  if (member == NULL) return NULL;
  tally__worker_info__init(&member->info);
  member->info.id = id;
  member->info.endpoint = NULL; /* not the static empty string: membership_put frees it */
  member->info.public_key = NULL;
  memmove(m->members + at + 1, m->members + at, (m->count - at) * sizeof *m->members);
  m->members[at] = member;
  m->count++;
  return member;
}

int membership_put(membership_t *m, const Tally__WorkerInfo *record, uint64_t now_ms) {
  char *endpoint = strdup(record->endpoint);
  char *key = strdup(record->public_key ? record->public_key : "");
  if (endpoint == NULL || key == NULL) {
    free(endpoint);
    free(key);
    return TALLY_E_NOMEM;
  }
  int found;
  size_t at = membership_position(m, record->id, &found);
  member_t *member = found ? m->members[at] : membership_insert(m, record->id, at);
  if (member == NULL) {
    free(endpoint);
    free(key);
    return TALLY_E_NOMEM;
  }
  free(member->info.endpoint);
  member->info.endpoint = endpoint;
  if (member->info.public_key != protobuf_c_empty_string) free(member->info.public_key);
  member->info.public_key = key;
  member->info.state = record->state;
  member->info.draining = record->draining;
  member->seen_ms = now_ms;
  return 0;
}

/* True for a lag a worker may report: a slot of the map and a follower. */
static int lag_is_valid(const Tally__ReplicaLag *lag) {
  return lag != NULL && lag->slot < TALLY_SLOT_COUNT && lag->follower_id != 0;
}

/* A deep copy of the first MEMBERSHIP_MAX_BACKLOG_HINTS backlog hints and
 * the first MEMBERSHIP_MAX_LAGS valid lags of `heartbeat`, as a Heartbeat
 * holding nothing else; NULL when out of memory. */
static Tally__Heartbeat *heartbeat_copy_figures(const Tally__Heartbeat *heartbeat) {
  Tally__Heartbeat only = TALLY__HEARTBEAT__INIT;
  only.n_backlog = heartbeat->n_backlog < MEMBERSHIP_MAX_BACKLOG_HINTS
                       ? heartbeat->n_backlog
                       : MEMBERSHIP_MAX_BACKLOG_HINTS;
  only.backlog = heartbeat->backlog;
  Tally__ReplicaLag **lags = NULL;
  if (heartbeat->n_lags > 0) {
    size_t room = heartbeat->n_lags < MEMBERSHIP_MAX_LAGS ? heartbeat->n_lags : MEMBERSHIP_MAX_LAGS;
    lags = malloc(room * sizeof *lags);
    if (lags == NULL) return NULL;
    for (size_t i = 0; i < heartbeat->n_lags && only.n_lags < room; i++)
      if (lag_is_valid(heartbeat->lags[i])) lags[only.n_lags++] = heartbeat->lags[i];
    only.lags = lags;
  }
  size_t size = tally__heartbeat__get_packed_size(&only);
  uint8_t *buf = malloc(size ? size : 1);
  Tally__Heartbeat *copy = NULL;
  if (buf != NULL) {
    size_t len = tally__heartbeat__pack(&only, buf);
    copy = tally__heartbeat__unpack(NULL, len, buf);
  }
  free(buf);
  free(lags);
  return copy;
}

int membership_note_heartbeat(membership_t *m, const Tally__Heartbeat *heartbeat,
                              uint64_t wall_ms, uint64_t now_ms) {
  member_t *member = membership_member(m, heartbeat->worker_id);
  if (member == NULL) return TALLY_E_NOT_FOUND;
  Tally__Heartbeat *figures = heartbeat_copy_figures(heartbeat);
  if (figures == NULL) return TALLY_E_NOMEM;
  if (member->figures) tally__heartbeat__free_unpacked(member->figures, NULL);
  member->figures = figures;
  member->info.n_backlog = figures->n_backlog;
  member->info.backlog = figures->backlog;
  member->info.queued = heartbeat->queued;
  member->info.live_leases = heartbeat->live_leases;
  member->info.items = heartbeat->items;
  member->info.holds_sums = heartbeat->has_aggregates;
  member->info.store_full = heartbeat->store_full;
  member->info.last_heartbeat_ms = wall_ms;
  member->seen_ms = now_ms;
  member->config_version = heartbeat->config_version;
  return 0;
}

Tally__ReplicaLag **membership_lags_at(const membership_t *m, size_t index, size_t *n) {
  const Tally__Heartbeat *figures = m->members[index]->figures;
  *n = figures ? figures->n_lags : 0;
  return figures ? figures->lags : NULL;
}

int membership_config_reached(const membership_t *m, uint64_t version) {
  for (size_t i = 0; i < m->count; i++)
    if (m->members[i]->info.state == TALLY__WORKER_STATE__WORKER_UP &&
        m->members[i]->config_version < version)
      return 0;
  return 1;
}

int membership_touch(membership_t *m, uint32_t id, uint64_t wall_ms, uint64_t now_ms) {
  member_t *member = membership_member(m, id);
  if (member == NULL) return TALLY_E_NOT_FOUND;
  member->info.last_heartbeat_ms = wall_ms;
  member->seen_ms = now_ms;
  return 0;
}

size_t membership_up_ids(const membership_t *m, uint32_t *ids) {
  size_t n = 0;
  for (size_t i = 0; i < m->count; i++)
    if (m->members[i]->info.state == TALLY__WORKER_STATE__WORKER_UP)
      ids[n++] = m->members[i]->info.id;
  return n;
}

uint64_t membership_silence_ms(const membership_t *m, uint32_t id, uint64_t now_ms) {
  int found = 0;
  size_t at = membership_position(m, id, &found);
  if (!found || now_ms <= m->members[at]->seen_ms) return 0;
  return now_ms - m->members[at]->seen_ms;
}

size_t membership_silent_ids(const membership_t *m, uint64_t now_ms, uint64_t timeout_ms,
                             uint32_t *ids) {
  size_t n = 0;
  for (size_t i = 0; i < m->count; i++) {
    const member_t *member = m->members[i];
    if (member->info.state == TALLY__WORKER_STATE__WORKER_UP && now_ms > member->seen_ms &&
        now_ms - member->seen_ms > timeout_ms)
      ids[n++] = member->info.id;
  }
  return n;
}
