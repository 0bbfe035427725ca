/* peer_rate_test: token buckets per connection (common/peer_rate.h). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "peer_rate.h"

static int allow(peer_rate_t *p, const char *peer, uint64_t now) {
  return peer_rate_allow(p, (const uint8_t *)peer, strlen(peer), now);
}

int main(void) {
  /* 100 a second, bursts of 10. */
  peer_rate_t *p = peer_rate_new(100, 10, 4);
  CHECK(p != NULL);
  int ok = 0;
  for (int i = 0; i < 50; i++) ok += allow(p, "flood", 1000);
  CHECK(ok == 10); /* the burst, then refused */
  CHECK(allow(p, "quiet", 1000) == 1); /* others are not touched */
  CHECK(allow(p, "flood", 1005) == 0); /* half a token */
  CHECK(allow(p, "flood", 1010) == 1); /* one token after 10 ms */
  ok = 0;
  for (uint64_t t = 2000; t < 3000; t++) ok += allow(p, "flood", t); /* one call a ms for 1 s */
  CHECK(ok >= 100 && ok <= 111); /* the rate plus at most the burst */
  /* Bounded memory: never more than 4 buckets, however many peers. */
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "peer-%d", i);
    allow(p, name, 4000 + (uint64_t)i);
  }
  CHECK(peer_rate_count(p) <= 4);
  peer_rate_destroy(&p);
  peer_rate_destroy(&p);
  /* Rate 0: no limit. */
  p = peer_rate_new(0, 1, 1);
  ok = 0;
  for (int i = 0; i < 1000; i++) ok += allow(p, "x", 1);
  CHECK(ok == 1000);
  peer_rate_destroy(&p);
  return check_summary();
}
