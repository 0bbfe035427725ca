/* dealer: see dealer.h. */
#include "dealer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "tally_error.h"
#include "wire.h"

struct dealer {
  void *socket;
  uint64_t next_request_id;
  char endpoint[256];
};

int dealer_new(dealer_t **out, void *zmq_ctx, const char *endpoint, const curve_client_t *curve) {
  *out = NULL;
  if (strlen(endpoint) >= sizeof((dealer_t *)0)->endpoint) return TALLY_E_INVALID_ARGUMENT;
  dealer_t *d = calloc(1, sizeof *d);
  if (d == NULL) return TALLY_E_NOMEM;
  d->socket = zmq_socket(zmq_ctx, ZMQ_DEALER);
  if (d->socket == NULL) {
    free(d);
    return TALLY_E_TRANSPORT;
  }
  int linger = 0, hwm = 100000, reconnect_ms = 100;
  int64_t maxsize = TALLY_HARD_MESSAGE_BYTES;
  zmq_setsockopt(d->socket, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(d->socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(d->socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
  zmq_setsockopt(d->socket, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
  zmq_setsockopt(d->socket, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof reconnect_ms);
  if ((curve != NULL && curve_setup_client(d->socket, curve) < 0) || zmq_connect(d->socket, endpoint) != 0) {
    zmq_close(d->socket);
    free(d);
    return TALLY_E_TRANSPORT;
  }
  strcpy(d->endpoint, endpoint);
  /* Request ids start at a random-ish point so a reconnecting process does
   * not collide with replies meant for a previous incarnation. */
  d->next_request_id = (clock_now_ms() << 20) ^ (uint64_t)(uintptr_t)d;
  *out = d;
  return 0;
}

void dealer_destroy(dealer_t **dealer) {
  if (dealer == NULL || *dealer == NULL) return;
  zmq_close((*dealer)->socket);
  free(*dealer);
  *dealer = NULL;
}

int dealer_reconnect(dealer_t *d, const char *endpoint) {
  if (strlen(endpoint) >= sizeof d->endpoint) return TALLY_E_INVALID_ARGUMENT;
  if (strcmp(endpoint, d->endpoint) == 0) return 0;
  if (zmq_connect(d->socket, endpoint) != 0) return TALLY_E_TRANSPORT;
  zmq_disconnect(d->socket, d->endpoint);
  strcpy(d->endpoint, endpoint);
  return 0;
}

const char *dealer_endpoint(const dealer_t *d) { return d->endpoint; }

void *dealer_socket(dealer_t *d) { return d->socket; }

uint64_t dealer_next_request_id(dealer_t *d) { return ++d->next_request_id; }

int dealer_send(dealer_t *d, const Tally__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = wire_encode(env, &buf, &len);
  if (rc < 0) return rc;
  while (zmq_send(d->socket, buf, len, 0) < 0) {
    if (errno == EINTR) continue;
    free(buf);
    return TALLY_E_TRANSPORT;
  }
  free(buf);
  return 0;
}

int dealer_try_send(dealer_t *d, const Tally__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = wire_encode(env, &buf, &len);
  if (rc < 0) return rc;
  rc = zmq_send(d->socket, buf, len, ZMQ_DONTWAIT) < 0
           ? (errno == EAGAIN ? TALLY_E_UNAVAILABLE : TALLY_E_TRANSPORT)
           : 0;
  free(buf);
  return rc;
}

int dealer_recv(dealer_t *d, int timeout_ms, Tally__Envelope **out) {
  *out = NULL;
  zmq_pollitem_t item = {d->socket, 0, ZMQ_POLLIN, 0};
  uint64_t deadline = clock_monotonic_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    long wait = -1;
    if (timeout_ms >= 0) {
      uint64_t now = clock_monotonic_ms();
      wait = now >= deadline ? 0 : (long)(deadline - now);
    }
    int n = zmq_poll(&item, 1, wait);
    if (n < 0) {
      if (errno == EINTR) continue;
      return TALLY_E_TRANSPORT;
    }
    if (n == 0) return TALLY_E_TIMEOUT;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, d->socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&msg);
      if (errno == EAGAIN || errno == EINTR) continue;
      return TALLY_E_TRANSPORT;
    }
    int rc = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), out, NULL);
    zmq_msg_close(&msg);
    return rc < 0 ? TALLY_E_BAD_REQUEST : 0;
  }
}

int dealer_call(dealer_t *d, Tally__Envelope *request, int timeout_ms, Tally__Envelope **reply) {
  *reply = NULL;
  request->version = TALLY_PROTOCOL_VERSION;
  request->request_id = dealer_next_request_id(d);
  int rc = dealer_send(d, request);
  if (rc < 0) return rc;
  uint64_t deadline = clock_monotonic_ms() + (uint64_t)timeout_ms;
  for (;;) {
    uint64_t now = clock_monotonic_ms();
    int left = now >= deadline ? 0 : (int)(deadline - now);
    Tally__Envelope *env = NULL;
    rc = dealer_recv(d, timeout_ms < 0 ? -1 : left, &env);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) return rc;
    if (env->request_id != request->request_id) {
      wire_envelope_free(&env);
      continue;
    }
    *reply = env;
    if (env->body_case == TALLY__ENVELOPE__BODY_ERROR)
      return tally_error_from_wire((int)env->error->code);
    return 0;
  }
}
