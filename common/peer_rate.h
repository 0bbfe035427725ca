/* peer_rate: per-connection request rate limits (token buckets).
 *
 * A daemon keeps one bucket per peer (a ZeroMQ routing id, i.e. one client
 * connection): it holds up to `burst` tokens and refills at `rate` tokens a
 * second; every request takes one. A request that finds its bucket empty is
 * refused (RATE_LIMITED), so one connection cannot take the daemon's whole
 * capacity from the others. Memory is bounded: at most `max_peers` buckets;
 * when full, buckets idle for longer than it takes to refill are dropped
 * first (a full bucket is the same as no bucket), and if none is, the
 * least recently used one is.
 *
 * Not thread-safe: one per daemon loop.
 */
#ifndef TALLY_PEER_RATE_H
#define TALLY_PEER_RATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct peer_rate peer_rate_t;

/* rate: tokens per second (0: no limit, every call allows); burst: bucket
 * size (>= 1); max_peers: buckets kept (>= 1). NULL when out of memory.
 * peer_rate_destroy(&p) is safe on NULL and twice. */
peer_rate_t *peer_rate_new(double rate, double burst, size_t max_peers);
void peer_rate_destroy(peer_rate_t **p);

/* Takes a token for `peer` at monotonic time now_ms: 1 allowed, 0 refused.
 * Out of memory allows (a limit must never refuse good traffic for that). */
int peer_rate_allow(peer_rate_t *p, const uint8_t *peer, size_t peer_len, uint64_t now_ms);

/* Buckets held now (for tests). */
size_t peer_rate_count(const peer_rate_t *p);

#endif
