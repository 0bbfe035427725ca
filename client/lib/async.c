/* async: tally_async_t, many requests in flight over one DEALER per worker.
 *
 * Each request takes an entry of the `pending` table; its request id is
 * (sequence << 32 | entry index), so a reply finds its entry in O(1) and a
 * late reply to a recycled entry (other sequence) is recognised and dropped.
 * Small requests are packed on the stack and copied by zmq_send, so a call
 * allocates nothing; replies are decoded by protobuf-c and kept until the
 * next poll, which lets completions point into them without copying.
 *
 * A lease goes to one worker, chosen along the lease order of the backlog
 * hints (lease_order.h). To fall back along that order without knowing the
 * caller's sessions, a small table remembers per (labeler, project, stage)
 * how far the walk got: each lease takes the next worker of the order
 * (drawn with a seed of that key and the map, so it stays the same while the
 * map does), a lease that brings a task starts the walk over, and so does a
 * fresher map. Concurrent leases of one key thus spread over the workers.
 * See tally.h for the contract.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zmq.h>

#include "clock.h"
#include "client_internal.h"
#include "lease_order.h"
#include "retry_policy.h"
#include "wire.h"

#define ASYNC_SCAN_MS 20          /* how often in-flight deadlines are checked */
#define ASYNC_REFRESH_MIN_MS 500  /* least time between two map refreshes */
#define ASYNC_REFRESH_FAILED_MS 5000 /* ... after one that failed */
#define ASYNC_STACK_PACK 2048     /* requests up to this size are packed on the stack */
#define ASYNC_WALKS 256           /* lease walks remembered (a direct-mapped table) */
#define ASYNC_INLINE_REQUEST 160  /* slot requests up to this size are kept inline */

typedef struct {
  uint64_t request_id; /* 0 = free */
  void *tag;
  uint64_t deadline_ms; /* monotonic */
  uint64_t lease_key;   /* TALLY_OP_LEASE: its walk's key */
  uint8_t op;
  /* Requests about a slot (submit, skip, release) keep their packed bytes,
   * so that MOVED (a slot moved to another worker) and UNAVAILABLE (a slot
   * being moved right now) are re-sent to the slot's owner instead of being
   * reported, as the retry policy says (RETRY_FOR_ASYNC_SLOT): the caller
   * does not notice a live migration. */
  retry_policy_t retry;
  uint32_t slot;
  uint64_t resend_ms;   /* monotonic; 0 = not waiting to be re-sent */
  size_t len;          /* 0: nothing kept (leases) */
  uint8_t *heap_bytes; /* the bytes when len > ASYNC_INLINE_REQUEST, malloc'ed */
  uint8_t inline_bytes[ASYNC_INLINE_REQUEST];
} async_pending_t;

/* The connection to one peer. */
typedef struct {
  dealer_t *dealer; /* NULL until first use */
  int ready;        /* to read on the next pass: its fd woke up, or it was sent on */
} async_link_t;

/* How far the leases of one (labeler, project, stage) went along the lease
 * order of one map. */
typedef struct {
  uint64_t key; /* 0 = free */
  uint64_t map_serial;
  uint32_t next; /* position in the order of the next lease */
} async_walk_t;

struct tally_async {
  tally_t *t;
  /* By peer index. A wait is one poll() on the sockets' ZMQ_FDs, which
   * become readable when a socket has news (replies arrived); zmq_poll()
   * would add two system calls per socket before and after the wait (the
   * ZMQ_EVENTS checks). After a wait only the sockets whose fd woke up are
   * read: the others were read up to EAGAIN before and have nothing new. */
  async_link_t *links;
  struct pollfd *link_fds; /* each link's ZMQ_FD; -1 (ignored by poll) until it has a dealer */
  size_t link_cap;
  async_pending_t *pending;
  uint32_t *free_slots;
  uint32_t cap, free_count;
  size_t in_flight;
  uint32_t seq;
  Tally__Envelope **held; /* replies the last completions point into */
  size_t held_count, held_cap;
  async_walk_t walks[ASYNC_WALKS];
  int map_stale;
  int acting; /* tally_async_act_for_labeler(): acting_for = the request's person */
  uint64_t next_refresh_ms, next_scan_ms;
};

void tally_async_act_for_labeler(tally_async_t *a, int on) { a->acting = on != 0; }

int tally_async_fds(const tally_async_t *a, int *fds, int max) {
  int n = 0;
  for (size_t i = 0; i < a->link_cap; i++) {
    if (a->links[i].dealer == NULL) continue;
    if (n < max) fds[n] = a->link_fds[i].fd;
    n++;
  }
  return n;
}

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
  for (size_t i = 0; i < a->link_cap; i++) dealer_destroy(&a->links[i].dealer);
  async_release_held(a);
  free(a->held);
  free(a->links);
  free(a->link_fds);
  free(a->pending);
  free(a->free_slots);
  a->t->async_count--;
  free(a);
  *ap = NULL;
}

size_t tally_async_in_flight(const tally_async_t *a) { return a->in_flight; }

static int async_dealer(tally_async_t *a, size_t peer, dealer_t **out) {
  if (peer >= a->link_cap) {
    size_t cap = a->t->peer_cap > peer ? a->t->peer_cap : peer + 1;
    async_link_t *l = realloc(a->links, cap * sizeof *l);
    if (l == NULL) return client_error(a->t, TALLY_E_NOMEM, "out of memory");
    a->links = l;
    struct pollfd *f = realloc(a->link_fds, cap * sizeof *f);
    if (f == NULL) return client_error(a->t, TALLY_E_NOMEM, "out of memory");
    a->link_fds = f;
    for (size_t i = a->link_cap; i < cap; i++) {
      l[i] = (async_link_t){NULL, 0};
      f[i] = (struct pollfd){-1, POLLIN, 0};
    }
    a->link_cap = cap;
  }
  async_link_t *link = &a->links[peer];
  if (link->dealer == NULL) {
    int fd = -1;
    size_t size = sizeof fd;
    curve_client_t keys;
    int rc = dealer_new(&link->dealer, a->t->zmq, a->t->peers[peer].endpoint,
                        client_curve_to(a->t, a->t->peers[peer].server_key, &keys));
    if (rc == 0 && zmq_getsockopt(dealer_socket(link->dealer), ZMQ_FD, &fd, &size) != 0) {
      dealer_destroy(&link->dealer);
      rc = TALLY_E_TRANSPORT;
    }
    if (rc < 0) return client_error(a->t, rc, "cannot connect to %s", a->t->peers[peer].endpoint);
    a->link_fds[peer].fd = fd;
  }
  link->ready = 1; /* a send may process the command that would wake the fd */
  *out = link->dealer;
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
      p[i - 1].heap_bytes = NULL;
      p[i - 1].len = 0;
      f[a->free_count++] = i - 1;
    }
    a->cap = cap;
  }
  return a->free_slots[--a->free_count];
}

/* The kept bytes of a slot request (p->len of them). */
static const uint8_t *pending_bytes(const async_pending_t *p) {
  return p->len <= ASYNC_INLINE_REQUEST ? p->inline_bytes : p->heap_bytes;
}

static void async_put_entry(tally_async_t *a, uint32_t index) {
  async_pending_t *p = &a->pending[index];
  free(p->heap_bytes);
  p->heap_bytes = NULL;
  p->len = 0;
  p->request_id = 0;
  a->free_slots[a->free_count++] = index;
  a->in_flight--;
}

/* Packs and sends `env` to `peer` and registers it as pending; a request
 * about a slot (slot >= 0) keeps its bytes for re-sending. */
static int async_send(tally_async_t *a, size_t peer, Tally__Envelope *env, const char *person,
                      tally_op_t op, int extra_ms, uint64_t lease_key, int64_t slot, void *tag) {
  dealer_t *dealer = NULL;
  int rc = async_dealer(a, peer, &dealer);
  if (rc < 0) return rc;
  int64_t index = async_take_entry(a);
  if (index < 0) return client_error(a->t, TALLY_E_NOMEM, "out of memory");
  if (++a->seq == 0) a->seq = 1;
  uint64_t request_id = ((uint64_t)a->seq << 32) | (uint64_t)index;
  env->version = TALLY_PROTOCOL_VERSION;
  env->request_id = request_id;
  if (a->acting && person != NULL && person[0] != '\0') env->acting_for = (char *)person;
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
  async_pending_t *p = &a->pending[index];
  p->heap_bytes = NULL;
  p->len = 0;
  if (rc == 0 && slot >= 0) {
    if (size <= ASYNC_INLINE_REQUEST) {
      memcpy(p->inline_bytes, buf, size);
      p->len = size;
    } else if (buf != stack) {
      p->heap_bytes = buf; /* kept: freed with the entry */
      buf = stack;
      p->len = size;
    } else if ((p->heap_bytes = malloc(size)) != NULL) {
      memcpy(p->heap_bytes, buf, size);
      p->len = size;
    }
  }
  if (buf != stack) free(buf);
  if (rc < 0) {
    a->free_slots[a->free_count++] = (uint32_t)index;
    return rc;
  }
  p->slot = slot >= 0 ? (uint32_t)slot : 0;
  retry_policy_start(&p->retry, p->len > 0 ? RETRY_FOR_ASYNC_SLOT : 0);
  p->resend_ms = 0;
  p->request_id = request_id;
  p->tag = tag;
  p->op = (uint8_t)op;
  p->lease_key = lease_key;
  p->deadline_ms = clock_monotonic_ms() + (uint64_t)(a->t->timeout_ms + extra_ms);
  a->in_flight++;
  return 0;
}

/* The walk key of a lease: never 0. */
static uint64_t lease_key(const char *labeler, const char *project, tally_stage_t stage) {
  uint64_t key = XXH64(project, strlen(project), XXH64(labeler, strlen(labeler), (uint64_t)stage));
  return key ? key : 1;
}

/* The peer the next lease of `key` by `labeler` goes to, and the
 * min_priority to ask it for: on the walk's first round, the upper tiers
 * only for their hinted top priority (client_lease_min_priority), so an
 * emergency the person may take comes before a normal item; later rounds
 * any. Returns 0, or UNAVAILABLE (no worker is up) or NOMEM. */
static int lease_peer(tally_async_t *a, uint64_t key, const char *labeler, uint32_t project_id, tally_stage_t stage,
                      size_t *peer, uint32_t *min_priority) {
  tally_t *t = a->t;
  const Tally__ClusterMap *map = t->map_env->map;
  client_lease_choice_t *order = malloc((map->n_workers ? map->n_workers : 1) * sizeof *order);
  if (order == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  uint64_t seed = key ^ (t->map_serial * 0x9e3779b97f4a7c15ull);
  const char *const *markets = NULL;
  size_t market_count = 0;
  if (!person_markets_get(t->people, labeler, map->config_version, &markets, &market_count)) markets = NULL;
  size_t n = client_lease_order(map, project_id, (uint32_t)stage, markets, market_count, seed, order);
  async_walk_t *walk = &a->walks[key % ASYNC_WALKS];
  if (walk->key != key || walk->map_serial != t->map_serial) *walk = (async_walk_t){key, t->map_serial, 0};
  *min_priority = 0;
  if (n > 0) {
    size_t k = walk->next++;
    if (k < n) *min_priority = client_lease_min_priority(order, n, k);
    *peer = (size_t)t->worker_peer[order[k % n].worker];
  }
  free(order);
  if (n > 0) return 0;
  a->map_stale = 1;
  return client_error(t, TALLY_E_UNAVAILABLE, "no worker is up");
}

int tally_async_lease(tally_async_t *a, const char *labeler, const char *project, tally_stage_t stage,
                      int wait_ms, void *tag) {
  tally_t *t = a->t;
  if (labeler == NULL) labeler = "";
  if (project == NULL) project = "";
  if (wait_ms < 0) wait_ms = 0;
  if (wait_ms > TALLY_MAX_WAIT_MS) wait_ms = TALLY_MAX_WAIT_MS;
  client_map_refresh_if_old(t, 0);
  uint64_t key = lease_key(labeler, project, stage);
  size_t peer = 0;
  uint32_t min_priority = 0;
  int rc = lease_peer(a, key, labeler, client_project_id(t, project), stage, &peer, &min_priority);
  if (rc < 0) return rc;
  Tally__Envelope env;
  Tally__LeaseRequest body;
  tally__envelope__init(&env);
  tally__lease_request__init(&body);
  body.labeler = (char *)labeler;
  body.project = (char *)project;
  body.stage = (Tally__Stage)stage;
  body.wait_ms = (uint32_t)wait_ms;
  body.min_priority = min_priority; /* > 0: the worker answers at once */
  env.body_case = TALLY__ENVELOPE__BODY_LEASE;
  env.lease = &body;
  return async_send(a, peer, &env, labeler, TALLY_OP_LEASE, wait_ms, key, -1, tag);
}

/* The peer owning `slot`, or UNAVAILABLE. */
static int async_slot_peer(tally_async_t *a, uint32_t slot, size_t *peer) {
  if (slot >= TALLY_SLOT_COUNT) return client_error(a->t, TALLY_E_INVALID_ARGUMENT, "slot %u out of range", slot);
  int rc = client_slot_check(a->t, slot);
  if (rc < 0) {
    a->map_stale = 1;
    return rc;
  }
  *peer = (size_t)a->t->slot_peer[slot];
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
  client_lease_name(a->t, lease_id, &body.project, &body.item_id, &body.stage);
  env.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  env.submit = &body;
  return async_send(a, peer, &env, labeler, TALLY_OP_SUBMIT, 0, 0, slot, tag);
}

int tally_async_submit_adjudication(tally_async_t *a, const char *lead, uint32_t slot, uint64_t lease_id,
                                    const char *label, tally_attribution_t attribution, const char *note,
                                    uint32_t handling_ms, void *tag) {
  if (!client_attribution_is_valid(attribution))
    return client_error(a->t, TALLY_E_INVALID_ARGUMENT, "unknown attribution %d (none or policy-unclear)",
                        (int)attribution);
  size_t peer = 0;
  int rc = async_slot_peer(a, slot, &peer);
  if (rc < 0) return rc;
  Tally__Envelope env;
  Tally__SubmitRequest body;
  tally__envelope__init(&env);
  client_submit_init(&body, lead, slot, lease_id, label, handling_ms);
  client_lease_name(a->t, lease_id, &body.project, &body.item_id, &body.stage);
  body.attribution = (Tally__Attribution)attribution;
  body.note = (char *)(note ? note : "");
  env.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  env.submit = &body;
  return async_send(a, peer, &env, lead, TALLY_OP_SUBMIT, 0, 0, slot, tag);
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
  client_lease_name(a->t, lease_id, &body.project, &body.item_id, &body.stage);
  env.body_case = TALLY__ENVELOPE__BODY_SKIP;
  env.skip = &body;
  return async_send(a, peer, &env, labeler, TALLY_OP_SKIP, 0, 0, slot, tag);
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
  return async_send(a, peer, &env, labeler, TALLY_OP_RELEASE, 0, 0, slot, tag);
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
  dst->severity_hint = src->severity_hint;
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
  if (env->body_case == TALLY__ENVELOPE__BODY_ERROR) {
    retry_step_t step = retry_policy_next(&p->retry, tally_error_from_wire((int)env->error->code));
    if (step.again) {
      if (step.reason == RETRY_REASON_MOVED)
        client_route_override(a->t, env->error->slot, env->error->owner_endpoint);
      if (step.refresh_map) a->map_stale = 1;
      p->resend_ms = clock_monotonic_ms() + (uint64_t)step.backoff_ms;
      p->deadline_ms = p->resend_ms + (uint64_t)a->t->timeout_ms;
      wire_envelope_free(&env);
      return 0; /* not reported: re-sent by async_resend_due */
    }
  }
  memset(c, 0, sizeof *c);
  c->tag = p->tag;
  c->op = (tally_op_t)p->op;
  uint64_t key = p->lease_key;
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
    if (env->lease_reply->has_task && env->lease_reply->task) {
      completion_task(c, env->lease_reply->task);
      const Tally__Task *task = env->lease_reply->task;
      lease_memo_put(a->t->leases, task->lease_id, task->project, task->item_id,
                     (uint32_t)task->stage);
      async_walk_t *walk = &a->walks[key % ASYNC_WALKS];
      if (walk->key == key) walk->next = 0; /* found work: the next lease starts at the best again */
    }
  } else if (c->op == TALLY_OP_LEASE || env->body_case != TALLY__ENVELOPE__BODY_ACK) {
    c->status = TALLY_E_INTERNAL;
    c->error = "unexpected reply type";
  }
  return 1;
}

/* Reads every reply waiting on every link (all) or on the ready ones, up
 * to `max` completions. A link read up to EAGAIN is no longer ready: its
 * fd wakes up when something new comes. */
static int async_drain(tally_async_t *a, tally_completion_t *out, int max, int all) {
  int count = 0;
  for (size_t d = 0; d < a->link_cap && count < max; d++) {
    async_link_t *link = &a->links[d];
    if (link->dealer == NULL || !(all || link->ready)) continue;
    link->ready = 0;
    void *socket = dealer_socket(link->dealer);
    while (count < max) {
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        if (errno == EINTR) continue;
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

static void async_refresh(tally_async_t *a);

/* Re-sends the slot requests whose back-off after MOVED or UNAVAILABLE
 * ended, to the slot's owner by the (refreshed) map; a request that cannot
 * be sent is completed with the reason. */
static int async_resend_due(tally_async_t *a, tally_completion_t *out, int max, uint64_t now) {
  int count = 0;
  for (uint32_t i = 0; i < a->cap && count < max && a->in_flight > 0; i++) {
    async_pending_t *p = &a->pending[i];
    if (p->request_id == 0 || p->resend_ms == 0 || p->resend_ms > now) continue;
    p->resend_ms = 0;
    async_refresh(a);
    size_t peer = 0;
    dealer_t *dealer = NULL;
    int rc = async_slot_peer(a, p->slot, &peer);
    if (rc == 0) rc = async_dealer(a, peer, &dealer);
    while (rc == 0 && zmq_send(dealer_socket(dealer), pending_bytes(p), p->len, 0) < 0)
      if (errno != EINTR) rc = TALLY_E_TRANSPORT;
    if (rc == 0) {
      p->deadline_ms = now + (uint64_t)a->t->timeout_ms;
      continue;
    }
    tally_completion_t *c = &out[count++];
    memset(c, 0, sizeof *c);
    c->tag = p->tag;
    c->op = (tally_op_t)p->op;
    c->status = rc;
    c->error = tally_strerror(rc);
    async_put_entry(a, i);
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
  client_map_refresh_if_old(a->t, 0); /* fresh backlog hints for the leases */
  if (a->in_flight == 0 || max <= 0) return 0;
  uint64_t start = clock_monotonic_ms();
  /* The first pass reads every link: the caller's sends may have processed
   * a wake-up. So does a pass after a wait that saw nothing, so a wake-up
   * taken by some other use of a socket delays a reply by one wait at
   * most, never loses it. */
  for (int all = 1;;) {
    int count = async_drain(a, out, max, all);
    uint64_t now = clock_monotonic_ms();
    if (now >= a->next_scan_ms) {
      a->next_scan_ms = now + ASYNC_SCAN_MS;
      count += async_expire(a, out + count, max - count, now);
      count += async_resend_due(a, out + count, max - count, now);
    }
    if (count > 0) return count;
    if (a->in_flight == 0) return 0;
    long wait = ASYNC_SCAN_MS;
    if (timeout_ms >= 0) {
      uint64_t end = start + (uint64_t)timeout_ms;
      if (now >= end) return 0;
      if ((long)(end - now) < wait) wait = (long)(end - now);
    }
    for (size_t d = 0; d < a->link_cap; d++)
      if (a->links[d].ready) wait = 0; /* re-sent on: read it at once */
    int n = poll(a->link_fds, (nfds_t)a->link_cap, (int)wait);
    if (n < 0 && errno != EINTR)
      return client_error(a->t, TALLY_E_TRANSPORT, "poll failed: %s", strerror(errno));
    for (size_t d = 0; d < a->link_cap && n > 0; d++)
      if (a->link_fds[d].revents != 0) a->links[d].ready = 1;
    all = n <= 0;
  }
}
