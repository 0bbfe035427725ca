/* refresh_wait: parked requests come back once, oldest first, when the
 * fetch they wait for is over or at their deadline; the bounds hold; the
 * envelope moves with the request and is freed at destroy. */
#include <string.h>

#include "check.h"
#include "refresh_wait.h"
#include "tally_error.h"
#include "wire.h"

/* A request from `peer` with request id `id` and a heap envelope. */
static router_request_t request(const char *peer, uint64_t id) {
  router_request_t r;
  memset(&r, 0, sizeof r);
  r.peer_len = strlen(peer);
  memcpy(r.peer, peer, r.peer_len);
  Tally__Envelope env;
  Tally__StatusRequest status = TALLY__STATUS_REQUEST__INIT;
  wire_envelope_init(&env, id);
  status.project = "p";
  env.body_case = TALLY__ENVELOPE__BODY_STATUS;
  env.status = &status;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (wire_encode(&env, &buf, &len) == 0) wire_decode(buf, len, &r.env, NULL);
  free(buf);
  return r;
}

static void test_order_and_readiness(void) {
  refresh_wait_t *rw = refresh_wait_new(8, 8);
  CHECK(rw != NULL);
  router_request_t a = request("a", 1), b = request("a", 2), c = request("b", 3);
  CHECK(a.env != NULL && b.env != NULL && c.env != NULL);
  CHECK(refresh_wait_park(rw, &a, REFRESH_CONFIG, 1, 1000) == 0);
  CHECK(a.env == NULL); /* taken */
  CHECK(refresh_wait_park(rw, &b, REFRESH_MAP, 1, 1000) == 0);
  CHECK(refresh_wait_park(rw, &c, REFRESH_CONFIG, 2, 1000) == 0);
  CHECK(refresh_wait_count(rw) == 3);
  router_request_t out;
  CHECK(!refresh_wait_has_ready(rw, 10));
  CHECK(refresh_wait_take_ready(rw, 10, &out) == 0);
  /* Config fetch 1 over: only the request that waited for it. */
  refresh_wait_fetched(rw, REFRESH_CONFIG, 1);
  CHECK(refresh_wait_has_ready(rw, 10));
  CHECK(refresh_wait_take_ready(rw, 10, &out) == 1);
  CHECK(out.env != NULL && out.env->request_id == 1 && out.peer_len == 1 && out.peer[0] == 'a');
  router_request_clear(&out);
  CHECK(refresh_wait_take_ready(rw, 10, &out) == 0);
  /* A map fetch does not free config waiters; a later number frees earlier. */
  refresh_wait_fetched(rw, REFRESH_MAP, 5);
  CHECK(refresh_wait_take_ready(rw, 10, &out) == 1 && out.env->request_id == 2);
  router_request_clear(&out);
  CHECK(refresh_wait_take_ready(rw, 10, &out) == 0);
  /* A fetch number never goes back. */
  refresh_wait_fetched(rw, REFRESH_CONFIG, 0);
  CHECK(refresh_wait_take_ready(rw, 10, &out) == 0);
  /* The deadline frees it without its fetch. */
  CHECK(refresh_wait_take_ready(rw, 999, &out) == 0);
  CHECK(refresh_wait_take_ready(rw, 1000, &out) == 1 && out.env->request_id == 3);
  router_request_clear(&out);
  CHECK(refresh_wait_count(rw) == 0);
  refresh_wait_destroy(&rw);
  CHECK(rw == NULL);
  refresh_wait_destroy(&rw); /* safe twice */
}

static void test_bounds(void) {
  refresh_wait_t *rw = refresh_wait_new(5, 3);
  for (uint64_t i = 0; i < 3; i++) {
    router_request_t r = request("busy", i + 1);
    CHECK(refresh_wait_park(rw, &r, REFRESH_CONFIG, 1, 100) == 0);
  }
  /* The connection's share is taken; its next request stays the caller's. */
  CHECK(!refresh_wait_has_room(rw, (const uint8_t *)"busy", 4));
  router_request_t r = request("busy", 9);
  CHECK(refresh_wait_park(rw, &r, REFRESH_CONFIG, 1, 100) == TALLY_E_RATE_LIMITED);
  CHECK(r.env != NULL);
  router_request_clear(&r);
  /* Other connections until the total is reached ("bus" is not "busy"). */
  CHECK(refresh_wait_has_room(rw, (const uint8_t *)"bus", 3));
  router_request_t o1 = request("bus", 10), o2 = request("other", 11), o3 = request("third", 12);
  CHECK(refresh_wait_park(rw, &o1, REFRESH_MAP, 1, 100) == 0);
  CHECK(refresh_wait_park(rw, &o2, REFRESH_MAP, 1, 100) == 0);
  CHECK(refresh_wait_park(rw, &o3, REFRESH_MAP, 1, 100) == TALLY_E_RATE_LIMITED);
  router_request_clear(&o3);
  CHECK(refresh_wait_count(rw) == 5);
  /* Parked envelopes are freed at destroy (ASan's leak check sees it). */
  refresh_wait_destroy(&rw);
}

int main(void) {
  check_deadline(30, NULL);
  test_order_and_readiness();
  test_bounds();
  return check_summary();
}
