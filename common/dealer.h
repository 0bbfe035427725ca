/* dealer: a client's ZeroMQ DEALER connection to one daemon.
 *
 * Two ways to use it: dealer_call() for one blocking round trip, or
 * dealer_send()/dealer_recv() to keep many requests in flight on one
 * connection and match replies by request id (the envelope echoes it).
 * Not thread-safe: one thread per dealer, as with any ZeroMQ socket.
 */
#ifndef TALLY_DEALER_H
#define TALLY_DEALER_H

#include <stdint.h>

#include "curve.h"
#include "tally.pb-c.h"

typedef struct dealer dealer_t;

/* Connects to `endpoint` (ZeroMQ connects lazily and reconnects by itself),
 * authenticated and encrypted with `curve` when not NULL (plain TCP when
 * NULL; a CURVE server then never answers). *out is the caller's, freed
 * with dealer_destroy(). Errors: TRANSPORT, INVALID_ARGUMENT. */
int dealer_new(dealer_t **out, void *zmq_ctx, const char *endpoint, const curve_client_t *curve);

/* Closes the socket; safe on NULL; sets *dealer NULL. */
void dealer_destroy(dealer_t **dealer);

/* Points the connection at `endpoint` instead, on the same socket (so its
 * ZMQ_FD, polled by a loop, stays valid): disconnects from the old
 * endpoint, dropping what is queued for it, and connects to the new one
 * with the same CURVE settings (replicated coordinators share one key).
 * Returns 0, INVALID_ARGUMENT (too long) or TRANSPORT (the old endpoint
 * stays). */
int dealer_reconnect(dealer_t *dealer, const char *endpoint);

/* The endpoint given to dealer_new or dealer_reconnect (borrowed). */
const char *dealer_endpoint(const dealer_t *dealer);

/* The underlying ZeroMQ socket, for zmq_poll() over several dealers. */
void *dealer_socket(dealer_t *dealer);

/* A fresh request id, unique on this dealer. */
uint64_t dealer_next_request_id(dealer_t *dealer);

/* Sends `env` as is (the caller sets version and request id). Returns 0,
 * TALLY_E_TOO_LARGE, or TALLY_E_TRANSPORT. */
int dealer_send(dealer_t *dealer, const Tally__Envelope *env);

/* Like dealer_send() but never blocks: TALLY_E_UNAVAILABLE when the
 * message cannot be queued now (peer unreachable with ZMQ_IMMEDIATE, or the
 * queue is full). For daemons that must not stall their loop. */
int dealer_try_send(dealer_t *dealer, const Tally__Envelope *env);

/* Receives one reply, waiting up to timeout_ms (-1: forever, 0: poll).
 * Returns 0 with *out (caller frees with wire_envelope_free), TIMEOUT,
 * BAD_REQUEST (undecodable reply, dropped), or TRANSPORT. */
int dealer_recv(dealer_t *dealer, int timeout_ms, Tally__Envelope **out);

/* One round trip: sets request->version and request->request_id, sends, and
 * waits up to timeout_ms for the reply with that id (replies to earlier,
 * timed-out calls are discarded). Returns 0 with *reply; when the daemon
 * answered with an ErrorReply, returns its (negative) code and still sets
 * *reply so the caller can read the message. TIMEOUT when nothing came.
 * *reply is the caller's (wire_envelope_free). */
int dealer_call(dealer_t *dealer, Tally__Envelope *request, int timeout_ms,
                Tally__Envelope **reply);

#endif
