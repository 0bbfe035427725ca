/* router: ZeroMQ ROUTER + libuv. See router.h. */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "peer_rate.h"
#include "tally_error.h"
#include "wire.h"

struct router {
  void *socket;
  uv_poll_t poll;
  uv_idle_t idle;
  router_drain_cb drain;
  void *user;
  char endpoint[256];
  int closing;
  int handles_open;
  uint64_t rejected;
  peer_rate_t *rate;   /* NULL: no limit */
  double rate_per_s;
};

/* Peers remembered by the rate limit: more than any daemon serves at once. */
#define ROUTER_RATE_PEERS 65536

int router_set_rate_limit(router_t *r, double rate, double burst) {
  peer_rate_destroy(&r->rate);
  r->rate_per_s = rate;
  if (rate <= 0) return 0;
  r->rate = peer_rate_new(rate, burst, ROUTER_RATE_PEERS);
  return r->rate ? 0 : TALLY_E_NOMEM;
}

static int router_has_input(router_t *r) {
  int events = 0;
  size_t size = sizeof events;
  if (zmq_getsockopt(r->socket, ZMQ_EVENTS, &events, &size) != 0) return 0;
  return (events & ZMQ_POLLIN) != 0;
}

static void router_on_idle(uv_idle_t *idle);

static void router_run(router_t *r) {
  if (r->closing) return;
  r->drain(r, r->user);
  if (r->closing) return;
  if (router_has_input(r))
    uv_idle_start(&r->idle, router_on_idle);
  else
    uv_idle_stop(&r->idle);
}

static void router_on_idle(uv_idle_t *idle) { router_run(idle->data); }

static void router_on_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  router_run(poll->data);
}

void router_kick(router_t *r) {
  if (!r->closing && router_has_input(r)) uv_idle_start(&r->idle, router_on_idle);
}

int router_new(router_t **out, uv_loop_t *loop, void *zmq_ctx, const char *endpoint,
               const curve_keypair_t *curve, router_drain_cb drain, void *user) {
  *out = NULL;
  router_t *r = calloc(1, sizeof *r);
  if (r == NULL) return TALLY_E_NOMEM;
  r->drain = drain;
  r->user = user;
  r->socket = zmq_socket(zmq_ctx, ZMQ_ROUTER);
  if (r->socket == NULL) goto err;
  int64_t maxsize = TALLY_HARD_MESSAGE_BYTES;
  int linger = 0, hwm = 100000, mandatory = 0;
  zmq_setsockopt(r->socket, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
  zmq_setsockopt(r->socket, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(r->socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(r->socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
  zmq_setsockopt(r->socket, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
  if (curve != NULL && curve_setup_server(r->socket, curve) < 0) {
    log_error("cannot make %s a CURVE server: %s", endpoint, zmq_strerror(errno));
    goto err;
  }
  if (zmq_bind(r->socket, endpoint) != 0) {
    log_error("cannot bind %s: %s", endpoint, zmq_strerror(errno));
    goto err;
  }
  size_t len = sizeof r->endpoint;
  zmq_getsockopt(r->socket, ZMQ_LAST_ENDPOINT, r->endpoint, &len);
  int fd;
  size_t fd_len = sizeof fd;
  if (zmq_getsockopt(r->socket, ZMQ_FD, &fd, &fd_len) != 0) goto err;
  uv_poll_init(loop, &r->poll, fd);
  uv_idle_init(loop, &r->idle);
  r->poll.data = r;
  r->idle.data = r;
  r->handles_open = 2;
  uv_poll_start(&r->poll, UV_READABLE, router_on_poll);
  uv_idle_start(&r->idle, router_on_idle); /* first check: messages may already wait */
  *out = r;
  return 0;
err:
  if (r->socket) zmq_close(r->socket);
  free(r);
  return TALLY_E_TRANSPORT;
}

static void router_free(router_t *r) {
  peer_rate_destroy(&r->rate);
  free(r);
}

static void router_on_close(uv_handle_t *handle) {
  router_t *r = handle->data;
  if (--r->handles_open == 0) router_free(r);
}

void router_destroy(router_t **router) {
  if (router == NULL || *router == NULL) return;
  router_t *r = *router;
  *router = NULL;
  r->closing = 1;
  zmq_close(r->socket);
  r->socket = NULL;
  if (r->handles_open == 0) {
    router_free(r);
    return;
  }
  uv_close((uv_handle_t *)&r->poll, router_on_close);
  uv_close((uv_handle_t *)&r->idle, router_on_close);
}

const char *router_endpoint(const router_t *r) { return r->endpoint; }

uint64_t router_rejected_count(const router_t *r) { return r->rejected; }

void router_request_clear(router_request_t *req) { wire_envelope_free(&req->env); }

int router_send_encoded(router_t *r, const uint8_t *peer, size_t peer_len, const uint8_t *buf,
                        size_t len) {
  if (zmq_send(r->socket, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
      zmq_send(r->socket, buf, len, ZMQ_DONTWAIT) < 0) {
    if (errno == EHOSTUNREACH) return 0;
    log_warn("reply dropped: %s", zmq_strerror(errno));
    return TALLY_E_TRANSPORT;
  }
  return 0;
}

int router_send(router_t *r, const uint8_t *peer, size_t peer_len, const Tally__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = wire_encode(env, &buf, &len);
  if (rc < 0) return rc;
  rc = router_send_encoded(r, peer, peer_len, buf, len);
  free(buf);
  return rc;
}

static int router_send_error_to(router_t *r, const uint8_t *peer, size_t peer_len,
                                uint64_t request_id, int code, const char *message) {
  Tally__Envelope env;
  Tally__ErrorReply err;
  wire_error_init(&env, &err, request_id, code, message);
  return router_send(r, peer, peer_len, &env);
}

int router_send_error(router_t *r, const router_request_t *req, int code, const char *message) {
  return router_send_error_to(r, req->peer, req->peer_len, req->env ? req->env->request_id : 0,
                              code, message);
}

/* Discards the remaining frames of a multipart message; returns how many. */
static int router_discard_rest(router_t *r) {
  int more = 0, count = 0;
  size_t size = sizeof more;
  zmq_getsockopt(r->socket, ZMQ_RCVMORE, &more, &size);
  while (more) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    zmq_msg_recv(&part, r->socket, 0);
    zmq_msg_close(&part);
    count++;
    zmq_getsockopt(r->socket, ZMQ_RCVMORE, &more, &size);
  }
  return count;
}

int router_recv(router_t *r, router_request_t *req) {
  for (;;) {
    memset(req, 0, sizeof *req);
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, r->socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&id);
      if (errno == EAGAIN) return 0;
      if (errno == EINTR) continue;
      return TALLY_E_TRANSPORT;
    }
    size_t id_len = zmq_msg_size(&id);
    if (id_len > sizeof req->peer || !zmq_msg_more(&id)) {
      zmq_msg_close(&id);
      router_discard_rest(r);
      r->rejected++;
      continue;
    }
    memcpy(req->peer, zmq_msg_data(&id), id_len);
    req->peer_len = id_len;
    zmq_msg_close(&id);
    zmq_msg_init(&body);
    zmq_msg_recv(&body, r->socket, 0);
    const char *user_id = zmq_msg_gets(&body, "User-Id");
    if (user_id != NULL && strlen(user_id) == CURVE_Z85_LEN)
      memcpy(req->user_id, user_id, CURVE_Z85_LEN + 1);
    int extra = router_discard_rest(r);
    uint64_t request_id = 0;
    req->size = zmq_msg_size(&body);
    int rc = wire_decode(zmq_msg_data(&body), req->size, &req->env, &request_id);
    zmq_msg_close(&body);
    if (rc == 0 && extra > 0) {
      wire_envelope_free(&req->env);
      rc = TALLY_E_BAD_REQUEST;
    }
    if (rc < 0) {
      r->rejected++;
      const char *why = rc == TALLY_E_TOO_LARGE ? "message exceeds the 8 MiB limit"
                        : rc == TALLY_E_UNSUPPORTED_VERSION
                            ? "protocol version not supported (this daemon speaks 1)"
                        : extra > 0 ? "expected exactly one envelope frame"
                                    : "frame is not a valid tally envelope";
      router_send_error_to(r, req->peer, req->peer_len, request_id, rc, why);
      continue;
    }
    req->received_ms = clock_monotonic_ms();
    if (r->rate != NULL && !peer_rate_allow(r->rate, req->peer, req->peer_len, req->received_ms)) {
      r->rejected++;
      char why[128];
      snprintf(why, sizeof why, "more than %.0f requests a second on this connection; slow down",
               r->rate_per_s);
      router_send_error_to(r, req->peer, req->peer_len, req->env->request_id,
                           TALLY_E_RATE_LIMITED, why);
      wire_envelope_free(&req->env);
      continue;
    }
    return 1;
  }
}
