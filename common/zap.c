/* zap: see zap.h. */
#include "zap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "tally_error.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct {
  char z85[CURVE_Z85_LEN + 1];
} zap_key_t;

struct zap {
  void *socket;
  pthread_t thread;
  atomic_int stop;
  pthread_mutex_t lock;
  zap_key_t *keys; /* sorted */
  size_t n_keys;
  _Atomic uint64_t accepted, refused;
  atomic_int allow_any; /* zap_allow_any */
};

static int key_compare(const void *a, const void *b) {
  return strcmp(((const zap_key_t *)a)->z85, ((const zap_key_t *)b)->z85);
}

int zap_allows(zap_t *z, const char *z85) {
  if (z85 == NULL || strlen(z85) != CURVE_Z85_LEN) return 0;
  zap_key_t probe;
  memcpy(probe.z85, z85, sizeof probe.z85);
  pthread_mutex_lock(&z->lock);
  int found = z->n_keys > 0 && bsearch(&probe, z->keys, z->n_keys, sizeof probe, key_compare) != NULL;
  pthread_mutex_unlock(&z->lock);
  return found;
}

int zap_set_keys(zap_t *z, const char *const *keys, size_t n) {
  zap_key_t *list = n ? malloc(n * sizeof *list) : NULL;
  if (n && list == NULL) return TALLY_E_NOMEM;
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    if (curve_key_is_valid(keys[i])) memcpy(list[kept++].z85, keys[i], CURVE_Z85_LEN + 1);
  if (kept) qsort(list, kept, sizeof *list, key_compare);
  pthread_mutex_lock(&z->lock);
  zap_key_t *old = z->keys;
  z->keys = list;
  z->n_keys = kept;
  pthread_mutex_unlock(&z->lock);
  free(old);
  return 0;
}

void zap_allow_any(zap_t *z, int on) { atomic_store(&z->allow_any, on ? 1 : 0); }

/* Receives one frame into buf (truncated); returns its size or -1. */
static int recv_frame(void *s, char *buf, size_t size, int *more) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  if (zmq_msg_recv(&m, s, 0) < 0) {
    zmq_msg_close(&m);
    return -1;
  }
  size_t n = zmq_msg_size(&m);
  memcpy(buf, zmq_msg_data(&m), n < size ? n : size);
  *more = zmq_msg_more(&m);
  zmq_msg_close(&m);
  return (int)n;
}

/* Answers one ZAP request (RFC 27 frames). */
static void zap_answer(zap_t *z) {
  char frames[7][256];
  int sizes[7] = {0}, more = 1, count = 0;
  while (more && count < 7) {
    sizes[count] = recv_frame(z->socket, frames[count], sizeof frames[count], &more);
    if (sizes[count] < 0) return;
    count++;
  }
  while (more) { /* more frames than a ZAP request has: drain them */
    char skip[8];
    if (recv_frame(z->socket, skip, sizeof skip, &more) < 0) return;
  }
  /* version, request id, domain, address, routing id, mechanism, credentials */
  const char *status = "400", *text = "unknown key";
  char user[CURVE_Z85_LEN + 1] = "";
  if (count == 7 && sizes[5] == 5 && memcmp(frames[5], "CURVE", 5) == 0 && sizes[6] == 32) {
    zmq_z85_encode(user, (const uint8_t *)frames[6], 32);
    if (atomic_load(&z->allow_any) || zap_allows(z, user)) {
      status = "200";
      text = "OK";
    }
  } else {
    text = "only CURVE is accepted";
  }
  int ok = strcmp(status, "200") == 0;
  if (ok) {
    atomic_fetch_add(&z->accepted, 1);
  } else {
    atomic_fetch_add(&z->refused, 1);
    log_warn("refused a connection from %.*s: %s%s%s", sizes[3] > 0 && sizes[3] < 256 ? sizes[3] : 0,
             frames[3], text, user[0] ? " " : "", user);
    user[0] = '\0';
  }
  int request_id_len = count > 1 && sizes[1] >= 0 && sizes[1] <= 255 ? sizes[1] : 0;
  zmq_send(z->socket, "1.0", 3, ZMQ_SNDMORE);
  zmq_send(z->socket, frames[1], (size_t)request_id_len, ZMQ_SNDMORE);
  zmq_send(z->socket, status, 3, ZMQ_SNDMORE);
  zmq_send(z->socket, text, strlen(text), ZMQ_SNDMORE);
  zmq_send(z->socket, user, strlen(user), ZMQ_SNDMORE);
  zmq_send(z->socket, "", 0, 0);
}

static void *zap_main(void *arg) {
  zap_t *z = arg;
  while (!atomic_load(&z->stop)) {
    zmq_pollitem_t item = {z->socket, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&item, 1, 100);
    if (n > 0 && (item.revents & ZMQ_POLLIN)) zap_answer(z);
    if (n < 0 && zmq_errno() == ETERM) break;
  }
  return NULL;
}

int zap_new(zap_t **out, void *zmq_ctx) {
  *out = NULL;
  zap_t *z = calloc(1, sizeof *z);
  if (z == NULL) return TALLY_E_NOMEM;
  pthread_mutex_init(&z->lock, NULL);
  z->socket = zmq_socket(zmq_ctx, ZMQ_REP);
  int linger = 0;
  if (z->socket == NULL) goto err;
  zmq_setsockopt(z->socket, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(z->socket, ZAP_ENDPOINT) != 0) goto err;
  if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
    zmq_close(z->socket);
    pthread_mutex_destroy(&z->lock);
    free(z);
    return TALLY_E_INTERNAL;
  }
  *out = z;
  return 0;
err:
  if (z->socket) zmq_close(z->socket);
  pthread_mutex_destroy(&z->lock);
  free(z);
  return TALLY_E_TRANSPORT;
}

void zap_destroy(zap_t **zp) {
  if (zp == NULL || *zp == NULL) return;
  zap_t *z = *zp;
  *zp = NULL;
  atomic_store(&z->stop, 1);
  pthread_join(z->thread, NULL);
  zmq_close(z->socket);
  pthread_mutex_destroy(&z->lock);
  free(z->keys);
  free(z);
}

uint64_t zap_accepted(zap_t *z) { return atomic_load(&z->accepted); }
uint64_t zap_refused(zap_t *z) { return atomic_load(&z->refused); }
