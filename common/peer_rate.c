/* peer_rate: see peer_rate.h. uthash by routing id, LRU order kept by the
 * hash's insertion order (a used bucket moves to the end). */
#include "peer_rate.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define PEER_ID_MAX 256

typedef struct bucket {
  uint8_t id[PEER_ID_MAX];
  size_t id_len;
  double tokens;
  uint64_t at_ms; /* last refill */
  UT_hash_handle hh;
} bucket_t;

struct peer_rate {
  double rate, burst;
  size_t max_peers;
  bucket_t *buckets;
};

peer_rate_t *peer_rate_new(double rate, double burst, size_t max_peers) {
  peer_rate_t *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->rate = rate > 0 ? rate : 0;
  p->burst = burst >= 1 ? burst : 1;
  p->max_peers = max_peers ? max_peers : 1;
  return p;
}

void peer_rate_destroy(peer_rate_t **pp) {
  if (pp == NULL || *pp == NULL) return;
  peer_rate_t *p = *pp;
  bucket_t *b, *tmp;
  HASH_ITER(hh, p->buckets, b, tmp) {
    HASH_DEL(p->buckets, b);
    free(b);
  }
  free(p);
  *pp = NULL;
}

size_t peer_rate_count(const peer_rate_t *p) { return HASH_COUNT(p->buckets); }

/* Makes room for one bucket: drops those that would be full again by now,
 * else the least recently used. */
static void make_room(peer_rate_t *p, uint64_t now_ms) {
  uint64_t refill_ms = (uint64_t)(p->burst / p->rate * 1000.0) + 1;
  bucket_t *b, *tmp;
  HASH_ITER(hh, p->buckets, b, tmp) {
    if (now_ms - b->at_ms > refill_ms) {
      HASH_DEL(p->buckets, b);
      free(b);
    }
  }
  if (HASH_COUNT(p->buckets) >= p->max_peers && p->buckets != NULL) {
    b = p->buckets; /* the oldest in use order */
    HASH_DEL(p->buckets, b);
    free(b);
  }
}

int peer_rate_allow(peer_rate_t *p, const uint8_t *peer, size_t peer_len, uint64_t now_ms) {
  if (p->rate <= 0) return 1;
  if (peer_len > PEER_ID_MAX) peer_len = PEER_ID_MAX;
  bucket_t *b = NULL;
  HASH_FIND(hh, p->buckets, peer, peer_len, b);
  if (b == NULL) {
    if (HASH_COUNT(p->buckets) >= p->max_peers) make_room(p, now_ms);
    b = calloc(1, sizeof *b);
    if (b == NULL) return 1;
    memcpy(b->id, peer, peer_len);
    b->id_len = peer_len;
    b->tokens = p->burst;
    b->at_ms = now_ms;
    HASH_ADD(hh, p->buckets, id, peer_len, b);
  } else {
    /* Move to the end: the hash's order is the use order. */
    HASH_DEL(p->buckets, b);
    HASH_ADD(hh, p->buckets, id, b->id_len, b);
    if (now_ms > b->at_ms) {
      b->tokens += (double)(now_ms - b->at_ms) * p->rate / 1000.0;
      if (b->tokens > p->burst) b->tokens = p->burst;
      b->at_ms = now_ms;
    }
  }
  if (b->tokens < 1.0) return 0;
  b->tokens -= 1.0;
  return 1;
}
