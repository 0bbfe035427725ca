/* refresh_wait: requests parked until a newer configuration or map has
 * come. See refresh_wait.h. A plain array in arrival order: the bounds are
 * small (hundreds), so a scan costs less than keeping an index. */
#include "refresh_wait.h"

#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

typedef struct {
  router_request_t req; /* owns req.env */
  refresh_kind_t kind;
  uint64_t fetch;       /* ready once answered[kind] >= fetch */
  uint64_t deadline_ms; /* monotonic; ready then at the latest */
} parked_t;

struct refresh_wait {
  parked_t *parked; /* oldest first */
  size_t n, cap, max_parked, max_per_peer;
  uint64_t answered[REFRESH_KINDS]; /* fetches answered or failed, by kind */
};

refresh_wait_t *refresh_wait_new(size_t max_parked, size_t max_per_peer) {
  refresh_wait_t *rw = calloc(1, sizeof *rw);
  if (rw == NULL) return NULL;
  rw->max_parked = max_parked;
  rw->max_per_peer = max_per_peer;
  return rw;
}

void refresh_wait_destroy(refresh_wait_t **rw) {
  if (rw == NULL || *rw == NULL) return;
  for (size_t i = 0; i < (*rw)->n; i++) router_request_clear(&(*rw)->parked[i].req);
  free((*rw)->parked);
  free(*rw);
  *rw = NULL;
}

int refresh_wait_has_room(const refresh_wait_t *rw, const uint8_t *peer, size_t peer_len) {
  if (rw->n >= rw->max_parked) return 0;
  size_t of_peer = 0;
  for (size_t i = 0; i < rw->n; i++) {
    const router_request_t *r = &rw->parked[i].req;
    of_peer += r->peer_len == peer_len && memcmp(r->peer, peer, peer_len) == 0;
  }
  return of_peer < rw->max_per_peer;
}

int refresh_wait_park(refresh_wait_t *rw, router_request_t *req, refresh_kind_t kind,
                      uint64_t fetch, uint64_t deadline_ms) {
  if (!refresh_wait_has_room(rw, req->peer, req->peer_len)) return TALLY_E_RATE_LIMITED;
  if (rw->n == rw->cap) {
    size_t cap = rw->cap ? rw->cap * 2 : 16;
    parked_t *grown = realloc(rw->parked, cap * sizeof *grown);
    if (grown == NULL) return TALLY_E_NOMEM;
    rw->parked = grown;
    rw->cap = cap;
  }
  parked_t *p = &rw->parked[rw->n++];
  p->req = *req;
  p->kind = kind;
  p->fetch = fetch;
  p->deadline_ms = deadline_ms;
  req->env = NULL;
  return 0;
}

void refresh_wait_fetched(refresh_wait_t *rw, refresh_kind_t kind, uint64_t fetch) {
  if (fetch > rw->answered[kind]) rw->answered[kind] = fetch;
}

static int parked_is_ready(const refresh_wait_t *rw, const parked_t *p, uint64_t now_ms) {
  return rw->answered[p->kind] >= p->fetch || now_ms >= p->deadline_ms;
}

int refresh_wait_has_ready(const refresh_wait_t *rw, uint64_t now_ms) {
  for (size_t i = 0; i < rw->n; i++)
    if (parked_is_ready(rw, &rw->parked[i], now_ms)) return 1;
  return 0;
}

int refresh_wait_take_ready(refresh_wait_t *rw, uint64_t now_ms, router_request_t *out) {
  for (size_t i = 0; i < rw->n; i++) {
    if (!parked_is_ready(rw, &rw->parked[i], now_ms)) continue;
    *out = rw->parked[i].req;
    memmove(&rw->parked[i], &rw->parked[i + 1], (rw->n - i - 1) * sizeof *rw->parked);
    rw->n--;
    return 1;
  }
  return 0;
}

size_t refresh_wait_count(const refresh_wait_t *rw) { return rw->n; }
