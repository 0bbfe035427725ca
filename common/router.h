/* router: a ZeroMQ ROUTER socket served from a libuv loop.
 *
 * Wraps the ZMQ_FD edge-trigger rules: the socket's fd only tells that
 * ZMQ_EVENTS must be read again, so the router calls the owner's drain
 * callback while ZMQ_EVENTS has POLLIN, re-checks after every drain (and
 * after router_kick(), for replies sent outside a drain), and never leaves a
 * message unread until an unrelated wake-up.
 *
 * Framing: a request is [peer identity][one envelope frame]. Anything else
 * (extra frames, an undecodable or oversized envelope, a wrong version) is
 * answered here with the matching error reply and never reaches the owner.
 */
#ifndef TALLY_ROUTER_H
#define TALLY_ROUTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "curve.h"
#include "tally.pb-c.h"

typedef struct router router_t;

/* A received request. `peer` is the ZeroMQ routing id; `env` is owned by the
 * request and freed by router_request_clear(). */
typedef struct {
  uint8_t peer[256];
  size_t peer_len;
  Tally__Envelope *env;
  uint64_t received_ms; /* monotonic */
  size_t size;          /* bytes of the envelope frame (metrics) */
  /* The client's CURVE public key (Z85) as the ZAP handler accepted it;
   * "" on a plain (--insecure) socket. Who is asking comes from here,
   * never from a field of the request (access.h). */
  char user_id[CURVE_Z85_LEN + 1];
} router_request_t;

/* Called when requests may be waiting: the owner calls router_recv() until it
 * returns 0, handles them, and sends replies. */
typedef void (*router_drain_cb)(router_t *router, void *user);

/* Binds a ROUTER socket on `endpoint` (e.g. "tcp://127.0.0.1:0") in ZeroMQ
 * context `zmq_ctx` and starts watching it on `loop`. With `curve` (not
 * NULL) the socket is a CURVE server with that key pair and every client
 * key goes through the context's ZAP handler (zap.h, which must already be
 * bound); NULL serves plain TCP. On success *out is the caller's, destroyed
 * with router_destroy(). Errors: TALLY_E_TRANSPORT (bind failed;
 * errno-style detail is logged). */
int router_new(router_t **out, uv_loop_t *loop, void *zmq_ctx, const char *endpoint,
               const curve_keypair_t *curve, router_drain_cb drain, void *user);

/* Limits each connection (peer) to `rate` requests a second with bursts of
 * `burst` (peer_rate.h); a request over it is answered RATE_LIMITED here and
 * never reaches the owner. rate 0: no limit (the default). Returns 0 or
 * TALLY_E_NOMEM. */
int router_set_rate_limit(router_t *router, double rate, double burst);

/* Closes the socket and the libuv handles; safe on NULL; sets *router NULL.
 * The loop must run once more for the close callbacks. */
void router_destroy(router_t **router);

/* The endpoint actually bound (port resolved when 0 was asked). Borrowed. */
const char *router_endpoint(const router_t *router);

/* Receives the next valid request without blocking. Returns 1 with *req
 * filled, 0 when nothing is waiting, negative on a socket error. Malformed
 * requests are answered with an error and skipped. */
int router_recv(router_t *router, router_request_t *req);

/* Sends `env` to the peer of `req` (or of any stored identity). Returns 0 or
 * TALLY_E_TOO_LARGE / TALLY_E_TRANSPORT. A peer that is gone is not an error
 * (ZeroMQ drops the message). */
int router_send(router_t *router, const uint8_t *peer, size_t peer_len, const Tally__Envelope *env);

/* Sends an already encoded envelope (from wire_encode) to `peer`. Same
 * results as router_send(). The buffer stays the caller's. */
int router_send_encoded(router_t *router, const uint8_t *peer, size_t peer_len,
                        const uint8_t *buf, size_t len);

/* Sends an error reply with `code` and `message` (NULL: the standard text). */
int router_send_error(router_t *router, const router_request_t *req, int code, const char *message);

/* Frees the request's envelope. Safe twice. */
void router_request_clear(router_request_t *req);

/* Re-checks the socket after sending outside a drain callback (timers). */
void router_kick(router_t *router);

/* Messages this router answered with an error before the owner saw them. */
uint64_t router_rejected_count(const router_t *router);

#endif
