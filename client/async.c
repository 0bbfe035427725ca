/* async: tally_async_t, many requests in flight over one DEALER per worker.
 *
 * Each request takes an entry of the `pending` table; its request id is
 * (sequence << 32 | entry index), so a reply finds its entry in O(1) and a
 * late reply to a recycled entry (other sequence) is recognised and dropped.
 * Small requests are packed on the stack and copied by zmq_send, so a call
 * allocates nothing; replies are decoded by protobuf-c and kept until the
 * next poll, which lets completions point into them without copying.
 * See tally.h for the contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "client_internal.h"
#include "wire.h"

#define ASYNC_SCAN_MS 20          /* how often in-flight deadlines are checked */
#define ASYNC_REFRESH_MIN_MS 500  /* least time between two map refreshes */
#define ASYNC_REFRESH_FAILED_MS 5000 /* ... after one that failed */
#define ASYNC_STACK_PACK 2048     /* requests up to this size are packed on the stack */

typedef struct {
  uint64_t request_id; /* 0 = free */
  void *tag;
  uint64_t deadline_ms; /* monotonic */
  uint8_t op;
} async_pending_t;

struct tally_async {
  tally_t *t;
  dealer_t **dealers; /* by peer index; NULL until first use */
  size_t dealer_cap;
  async_pending_t *pending;
  uint32_t *free_slots;
  uint32_t cap, free_count;
  size_t in_flight;
  uint32_t seq;
  Tally__Envelope **held; /* replies the last completions point into */
  size_t held_count, held_cap;
  size_t lease_cursor;
  int map_stale;
  uint64_t next_refresh_ms, next_scan_ms;
};

int tally_async_new(tally_async_t **out, tally_t *t) {
  *out = NULL;
  int rc = client_ensure_map(t);
  if (rc < 0) return rc;
  tally_async_t *a = calloc(1, sizeof *a);
  if (a == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  a->t = t;
  a->seq = 1;
  t->async_count++;
  *out = a;
  return 0;
}

static void async_release_held(tally_async_t *a) {
  for (size_t i = 0; i < a->held_count; i++) wire_envelope_free(&a->held[i]);
  a->held_count = 0;
}

void tally_async_destroy(tally_async_t **ap) {
  if (ap == NULL || *ap == NULL) return;
  tally_async_t *a = *ap;
  for (size_t i = 0; i < a->dealer_cap; i++) dealer_destroy(&a->dealers[i]);
  async_release_held(a);
  free(a->held);
  free(a->dealers);
  free(a->pending);
  free(a->free_slots);
  a->t->async_count--;
  free(a);
  *ap = NULL;
}

size_t tally_async_in_flight(const tally_async_t *a) { return a->in_flight; }

static int async_dealer(tally_async_t *a, size_t peer, dealer_t **out) {
  if (peer >= a->dealer_cap) {
    size_t cap = a->t->peer_cap > peer ? a->t->peer_cap : peer + 1;
    dealer_t **d = realloc(a->dealers, cap * sizeof *d);
    if (d == NULL) return client_error(a->t, TALLY_E_NOMEM, "out of memory");
    memset(d + a->dealer_cap, 0, (cap - a->dealer_cap) * sizeof *d);
    a->dealers = d;
    a->dealer_cap = cap;
  }
  if (a->dealers[peer] == NULL) {
    int rc = dealer_new(&a->dealers[peer], a->t->zmq, a->t->peers[peer].endpoint);
    if (rc < 0) return client_error(a->t, rc, "cannot connect to %s", a->t->peers[peer].endpoint);
  }
  *out = a->dealers[peer];
  return 0;
}

/* Takes a free pending entry; returns its index or -1 (out of memory). */
static int64_t async_take_entry(tally_async_t *a) {
  if (a->free_count == 0) {
    uint32_t cap = a->cap ? a->cap * 2 : 64;
    async_pending_t *p = realloc(a->pending, cap * sizeof *p);
    if (p == NULL) return -1;
    a->pending = p;
    uint32_t *f = realloc(a->free_slots, cap * sizeof *f);
    if (f == NULL) return -1;
    a->free_slots = f;
    for (uint32_t i = cap; i > a->cap; i--) {
      p[i - 1].request_id = 0;
      f[a->free_count++] = i - 1;
    }
    a->cap = cap;
  }
  return a->free_slots[--a->free_count];
}

static void async_put_entry(tally_async_t *a, uint32_t index) {
  a->pending[index].request_id = 0;
  a->free_slots[a->free_count++] = index;
  a->in_flight--;
}

/* Packs and sends `env` to `peer` and registers it as pending. */
static int async_send(tally_async_t *a, size_t peer, Tally__Envelope *env, tally_op_t op, int extra_ms,
                      void *tag) {
  dealer_t *dealer = NULL;
  int rc = async_dealer(a, peer, &dealer);
  if (rc < 0) return rc;
  int64_t index = async_take_entry(a);
  if (index < 0) return client_error(a->t, TALLY_E_NOMEM, "out of memory");
  if (++a->seq == 0) a->seq = 1;
  uint64_t request_id = ((uint64_t)a->seq << 32) | (uint64_t)index;
  env->version = TALLY_PROTOCOL_VERSION;
  env->request_id = request_id;
  size_t size = tally__envelope__get_packed_size(env);
  if (size > TALLY_MAX_MESSAGE_BYTES) {
    a->free_slots[a->free_count++] = (uint32_t)index;
    return client_error(a->t, TALLY_E_TOO_LARGE, "request larger than the message size limit");
  }
  uint8_t stack[ASYNC_STACK_PACK];
  uint8_t *buf = size <= sizeof stack ? stack : malloc(size);
  if (buf == NULL) {
    a->free_slots[a->free_count++] = (uint32_t)index;
    return client_error(a->t, TALLY_E_NOMEM, "out of memory");
  }
  tally__envelope__pack(env, buf);
  rc = 0;
  while (zmq_send(dealer_socket(dealer), buf, size, 0) < 0) {
    if (errno == EINTR) continue;
    rc = client_error(a->t, TALLY_E_TRANSPORT, "cannot send to %s: %s", dealer_endpoint(dealer),
                      zmq_strerror(errno));
    break;
  }
  if (buf != stack) free(buf);
  if (rc < 0) {
    a->free_slots[a->free_count++] = (uint32_t)index;
    return rc;
  }
  async_pending_t *p = &a->pending[index];
  p->request_id = request_id;
  p->tag = tag;
  p->op = (uint8_t)op;
  p->deadline_ms = clock_monotonic_ms() + (uint64_t)(a->t->timeout_ms + extra_ms);
  a->in_flight++;
  return 0;
}

int tally_async_lease(tally_async_t *a, const char *labeler, const char *project, tally_stage_t stage,
                      int wait_ms, void *tag) {
  tally_t *t = a->t;
  if (t->live_peer_count == 0) return client_error(t, TALLY_E_UNAVAILABLE, "no worker is up");
  if (wait_ms < 0) wait_ms = 0;
  if (wait_ms > TALLY_MAX_WAIT_MS) wait_ms = TALLY_MAX_WAIT_MS;
  size_t peer = (size_t)t->live_peers[a->lease_cursor++ % t->live_peer_count];
  Tally__Envelope env;
  Tally__LeaseRequest body;
  tally__envelope__init(&env);
  tally__lease_request__init(&body);
  body.labeler = (char *)(labeler ? labeler : "");
  body.project = (char *)(project ? project : "");
  body.stage = (Tally__Stage)stage;
  body.wait_ms = (uint32_t)wait_ms;
  env.body_case = TALLY__ENVELOPE__BODY_LEASE;
  env.lease = &body;
  return async_send(a, peer, &env, TALLY_OP_LEASE, wait_ms, tag);
}

/* The peer owning `slot`, or UNAVAILABLE. */
static int async_slot_peer(tally_async_t *a, uint32_t slot, size_t *peer) {
  if (slot >= TALLY_SLOT_COUNT) return client_error(a->t, TALLY_E_INVALID_ARGUMENT, "slot %u out of range", slot);
  int32_t p = a->t->slot_peer[slot];
  if (p < 0) {
    a->map_stale = 1;
    return client_error(a->t, TALLY_E_UNAVAILABLE, "slot %u has no owner", slot);
  }
  *peer = (size_t)p;
  return 0;
}

int tally_async_submit(tally_async_t *a, const char *labeler, uint32_t slot, uint64_t lease_id,
                       const char *label, uint32_t handling_ms, void *tag) {
  size_t peer = 0;
  int rc = async_slot_peer(a, slot, &peer);
  if (rc < 0) return rc;
  Tally__Envelope env;
  Tally__SubmitRequest body;
  tally__envelope__init(&env);
  client_submit_init(&body, labeler, slot, lease_id, label, handling_ms);
  env.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  env.submit = &body;
  return async_send(a, peer, &env, TALLY_OP_SUBMIT, 0, tag);
}

int tally_async_submit_adjudication(tally_async_t *a, const char *lead, uint32_t slot, uint64_t lease_id,
                                    const char *label, tally_attribution_t attribution, const char *note,
                                    uint32_t handling_ms, void *tag) {
  if (!client_attribution_is_valid(attribution))
    return client_error(a->t, TALLY_E_INVALID_ARGUMENT, "an adjudication needs an attribution");
  size_t peer = 0;
  int rc = async_slot_peer(a, slot, &peer);
  if (rc < 0) return rc;
  Tally__Envelope env;
  Tally__SubmitRequest body;
  tally__envelope__init(&env);
  client_submit_init(&body, lead, slot, lease_id, label, handling_ms);
  body.attribution = (Tally__Attribution)attribution;
  body.note = (char *)(note ? note : "");
  env.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  env.submit = &body;
  return async_send(a, peer, &env, TALLY_OP_SUBMIT, 0, tag);
}

int tally_async_skip(tally_async_t *a, const char *labeler, uint32_t slot, uint64_t lease_id, void *tag) {
  size_t peer = 0;
  int rc = async_slot_peer(a, slot, &peer);
  if (rc < 0) return rc;
  Tally__Envelope env;
  Tally__SkipRequest body;
  tally__envelope__init(&env);
  tally__skip_request__init(&body);
  body.labeler = (char *)(labeler ? labeler : "");
  body.slot = slot;
  body.lease_id = lease_id;
  env.body_case = TALLY__ENVELOPE__BODY_SKIP;
  env.skip = &body;
  return async_send(a, peer, &env, TALLY_OP_SKIP, 0, tag);
}

int tally_async_release(tally_async_t *a, const char *labeler, uint32_t slot, uint64_t lease_id,
                        void *tag) {
  size_t peer = 0;
  int rc = async_slot_peer(a, slot, &peer);
  if (rc < 0) return rc;
  Tally__Envelope env;
  Tally__ReleaseRequest body;
  tally__envelope__init(&env);
  tally__release_request__init(&body);
  body.labeler = (char *)(labeler ? labeler : "");
  body.slot = slot;
  body.lease_id = lease_id;
  env.body_case = TALLY__ENVELOPE__BODY_RELEASE;
  env.release = &body;
  return async_send(a, peer, &env, TALLY_OP_RELEASE, 0, tag);
}

/* ------------------------------------------------------------ completions */

static int async_hold(tally_async_t *a, Tally__Envelope *env) {
  if (a->held_count == a->held_cap) {
    size_t cap = a->held_cap ? a->held_cap * 2 : 64;
    Tally__Envelope **h = realloc(a->held, cap * sizeof *h);
    if (h == NULL) return -1;
    a->held = h;
    a->held_cap = cap;
  }
  a->held[a->held_count++] = env;
  return 0;
}

static void completion_task(tally_completion_t *c, const Tally__Task *src) {
  tally_task_t *dst = &c->task;
  c->has_task = 1;
  dst->slot = src->slot;
  dst->lease_id = src->lease_id;
  dst->project = src->project;
  dst->item_id = src->item_id;
  dst->market = src->market;
  dst->content = src->content;
  dst->labels = (const char **)src->labels;
  dst->label_count = src->n_labels;
  dst->deadline_ms = src->deadline_ms;
  dst->stage = (tally_stage_t)src->stage;
  dst->priority = src->priority;
  dst->candidates = src->n_candidates ? (const char **)src->candidates : NULL;
  dst->candidate_count = src->n_candidates;
}

/* Turns a reply into a completion. Returns 1 if it matched a pending
 * request (and `env` is now held or freed), 0 if it was dropped. */
static int async_complete(tally_async_t *a, Tally__Envelope *env, tally_completion_t *c) {
  uint64_t id = env->request_id;
  uint32_t index = (uint32_t)(id & 0xffffffffu);
  if (index >= a->cap || a->pending[index].request_id != id || id == 0) {
    wire_envelope_free(&env);
    return 0;
  }
  async_pending_t *p = &a->pending[index];
  memset(c, 0, sizeof *c);
  c->tag = p->tag;
  c->op = (tally_op_t)p->op;
  async_put_entry(a, index);
  if (async_hold(a, env) < 0) {
    wire_envelope_free(&env);
    c->status = TALLY_E_NOMEM;
    c->error = tally_strerror(TALLY_E_NOMEM);
    return 1;
  }
  if (env->body_case == TALLY__ENVELOPE__BODY_ERROR) {
    const Tally__ErrorReply *err = env->error;
    c->status = tally_error_from_wire((int)err->code);
    c->error = err->message && err->message[0] ? err->message : tally_strerror(c->status);
    if (c->status == TALLY_E_MOVED) {
      client_route_override(a->t, err->slot, err->owner_endpoint);
      a->map_stale = 1;
    }
  } else if (c->op == TALLY_OP_LEASE && env->body_case == TALLY__ENVELOPE__BODY_LEASE_REPLY) {
    if (env->lease_reply->has_task && env->lease_reply->task) completion_task(c, env->lease_reply->task);
  } else if (c->op == TALLY_OP_LEASE || env->body_case != TALLY__ENVELOPE__BODY_ACK) {
    c->status = TALLY_E_INTERNAL;
    c->error = "unexpected reply type";
  }
  return 1;
}

/* Reads every reply waiting on any dealer, up to `max` completions. */
static int async_drain(tally_async_t *a, tally_completion_t *out, int max) {
  int count = 0;
  for (size_t d = 0; d < a->dealer_cap && count < max; d++) {
    if (a->dealers[d] == NULL) continue;
    void *socket = dealer_socket(a->dealers[d]);
    while (count < max) {
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        break;
      }
      Tally__Envelope *env = NULL;
      int rc = wire_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &env, NULL);
      zmq_msg_close(&msg);
      if (rc < 0) continue;
      count += async_complete(a, env, &out[count]);
    }
  }
  return count;
}

/* Completes requests whose deadline passed with TIMEOUT. */
static int async_expire(tally_async_t *a, tally_completion_t *out, int max, uint64_t now) {
  int count = 0;
  for (uint32_t i = 0; i < a->cap && count < max && a->in_flight > 0; i++) {
    async_pending_t *p = &a->pending[i];
    if (p->request_id == 0 || p->deadline_ms > now) continue;
    tally_completion_t *c = &out[count++];
    memset(c, 0, sizeof *c);
    c->tag = p->tag;
    c->op = (tally_op_t)p->op;
    c->status = TALLY_E_TIMEOUT;
    c->error = "no reply from the worker in time";
    async_put_entry(a, i);
    a->map_stale = 1;
  }
  return count;
}

/* Refreshes a stale map, at most every ASYNC_REFRESH_MIN_MS, and after a
 * failed refresh (coordinator away: it blocks up to the timeout) only after
 * ASYNC_REFRESH_FAILED_MS, so a gateway keeps serving with the map it has. */
static void async_refresh(tally_async_t *a) {
  if (!a->map_stale || clock_monotonic_ms() < a->next_refresh_ms) return;
  int rc = client_refresh_map(a->t);
  if (rc == 0) a->map_stale = 0;
  a->next_refresh_ms = clock_monotonic_ms() + (rc == 0 ? ASYNC_REFRESH_MIN_MS : ASYNC_REFRESH_FAILED_MS);
}

int tally_async_poll(tally_async_t *a, int timeout_ms, tally_completion_t *out, int max) {
  async_release_held(a);
  async_refresh(a);
  if (a->in_flight == 0 || max <= 0) return 0;
  uint64_t start = clock_monotonic_ms();
  zmq_pollitem_t items[64];
  for (;;) {
    int count = async_drain(a, out, max);
    uint64_t now = clock_monotonic_ms();
    if (now >= a->next_scan_ms) {
      a->next_scan_ms = now + ASYNC_SCAN_MS;
      count += async_expire(a, out + count, max - count, now);
    }
    if (count > 0) return count;
    if (a->in_flight == 0) return 0;
    long wait = ASYNC_SCAN_MS;
    if (timeout_ms >= 0) {
      uint64_t end = start + (uint64_t)timeout_ms;
      if (now >= end) return 0;
      if ((long)(end - now) < wait) wait = (long)(end - now);
    }
    int n = 0;
    for (size_t d = 0; d < a->dealer_cap && n < 64; d++) {
      if (a->dealers[d] == NULL) continue;
      items[n++] = (zmq_pollitem_t){dealer_socket(a->dealers[d]), 0, ZMQ_POLLIN, 0};
    }
    if (zmq_poll(items, n, wait) < 0 && errno != EINTR)
      return client_error(a->t, TALLY_E_TRANSPORT, "poll failed: %s", zmq_strerror(errno));
  }
}
