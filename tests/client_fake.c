/* client_fake: fake daemons for client tests. See client_fake.h. */
#include "client_fake.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "slot.h"
#include "wire.h"

struct fake {
  pthread_mutex_t mu;
  pthread_t thread;
  void *ctx;
  int count;
  void *sockets[FAKE_MAX_SOCKETS];
  char endpoints[FAKE_MAX_SOCKETS][64];
  fake_handler_t handler;
  void *arg;
  int stop;
};

void fake_reply(void *socket, zmq_msg_t *identity, Tally__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  if (wire_encode(env, &buf, &len) != 0) return;
  zmq_send(socket, zmq_msg_data(identity), zmq_msg_size(identity), ZMQ_SNDMORE);
  zmq_send(socket, buf, len, 0);
  free(buf);
}

void fake_reply_error(void *socket, zmq_msg_t *identity, uint64_t request_id, int code, const char *message) {
  Tally__Envelope env;
  Tally__ErrorReply err;
  wire_error_init(&env, &err, request_id, code, message);
  fake_reply(socket, identity, &env);
}

void fake_reply_map(void *socket, zmq_msg_t *identity, uint64_t request_id, uint64_t epoch,
                    const fake_map_worker_t *workers, size_t n, uint32_t *slot_owner) {
  Tally__ClusterMap map;
  Tally__WorkerInfo info[FAKE_MAX_SOCKETS], *infos[FAKE_MAX_SOCKETS];
  tally__cluster_map__init(&map);
  for (size_t i = 0; i < n && i < FAKE_MAX_SOCKETS; i++) {
    tally__worker_info__init(&info[i]);
    info[i].id = workers[i].id;
    info[i].endpoint = (char *)workers[i].endpoint;
    info[i].state = workers[i].down ? TALLY__WORKER_STATE__WORKER_DOWN : TALLY__WORKER_STATE__WORKER_UP;
    info[i].slots_owned = workers[i].slots_owned;
    infos[i] = &info[i];
  }
  map.epoch = epoch;
  map.slot_count = TALLY_SLOT_COUNT;
  map.n_workers = n;
  map.workers = infos;
  map.n_slot_owner = TALLY_SLOT_COUNT;
  map.slot_owner = slot_owner;
  Tally__Envelope env;
  wire_envelope_init(&env, request_id);
  env.body_case = TALLY__ENVELOPE__BODY_MAP;
  env.map = &map;
  fake_reply(socket, identity, &env);
}

static void serve_one(fake_t *f, int index) {
  void *socket = f->sockets[index];
  zmq_msg_t identity, payload;
  zmq_msg_init(&identity);
  zmq_msg_init(&payload);
  if (zmq_msg_recv(&identity, socket, ZMQ_DONTWAIT) < 0 || zmq_msg_recv(&payload, socket, 0) < 0) goto done;
  Tally__Envelope *req = NULL;
  if (wire_decode(zmq_msg_data(&payload), zmq_msg_size(&payload), &req, NULL) != 0) goto done;
  pthread_mutex_lock(&f->mu);
  f->handler(f->arg, index, socket, &identity, req);
  pthread_mutex_unlock(&f->mu);
  wire_envelope_free(&req);
done:
  zmq_msg_close(&identity);
  zmq_msg_close(&payload);
}

static void *serve(void *arg) {
  fake_t *f = arg;
  zmq_pollitem_t items[FAKE_MAX_SOCKETS];
  for (int i = 0; i < f->count; i++) items[i] = (zmq_pollitem_t){f->sockets[i], 0, ZMQ_POLLIN, 0};
  for (;;) {
    pthread_mutex_lock(&f->mu);
    int stop = f->stop;
    pthread_mutex_unlock(&f->mu);
    if (stop) return NULL;
    if (zmq_poll(items, f->count, 20) <= 0) continue;
    for (int i = 0; i < f->count; i++)
      if (items[i].revents & ZMQ_POLLIN) serve_one(f, i);
  }
}

fake_t *fake_start(int workers, fake_handler_t handler, void *arg) {
  if (workers + 1 > FAKE_MAX_SOCKETS) return NULL;
  fake_t *f = calloc(1, sizeof *f);
  if (f == NULL) return NULL;
  pthread_mutex_init(&f->mu, NULL);
  f->ctx = zmq_ctx_new();
  f->count = workers + 1;
  f->handler = handler;
  f->arg = arg;
  for (int i = 0; i < f->count; i++) {
    void *s = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) return NULL;
    size_t len = sizeof f->endpoints[i];
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, f->endpoints[i], &len);
    f->sockets[i] = s;
  }
  pthread_create(&f->thread, NULL, serve, f);
  return f;
}

void fake_stop(fake_t **fp) {
  if (fp == NULL || *fp == NULL) return;
  fake_t *f = *fp;
  pthread_mutex_lock(&f->mu);
  f->stop = 1;
  pthread_mutex_unlock(&f->mu);
  pthread_join(f->thread, NULL);
  for (int i = 0; i < f->count; i++) zmq_close(f->sockets[i]);
  zmq_ctx_term(f->ctx);
  pthread_mutex_destroy(&f->mu);
  free(f);
  *fp = NULL;
}

const char *fake_endpoint(const fake_t *f, int index) { return f->endpoints[index]; }

void fake_lock(fake_t *f) { pthread_mutex_lock(&f->mu); }
void fake_unlock(fake_t *f) { pthread_mutex_unlock(&f->mu); }
