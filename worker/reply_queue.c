/* reply_queue: the group's replies and the held FIFO. See reply_queue.h. */
#include "reply_queue.h"

#include <stdlib.h>
#include <string.h>

#include "tally_error.h"
#include "wire.h"

typedef struct {
  uint8_t peer[256];
  size_t peer_len;
  uint8_t *buf;
  size_t len;
  uint64_t durable_at; /* held: sent once this batch is durable */
  uint64_t request_id; /* to answer NO_SPACE instead when its batch fails */
  int at_once;
  int local; /* waits for local durability only (reply_queue_mark_local) */
  worker_metrics_tag_t tag; /* its request's type, code and arrival */
} pending_reply_t;

struct reply_queue {
  pending_reply_t *group; /* of the group being processed */
  size_t n_group, cap_group;
  pending_reply_t *held; /* FIFO, durable_at non-decreasing */
  size_t n_held, cap_held;
  worker_metrics_t *metrics; /* borrowed, may be NULL */
};

reply_queue_t *reply_queue_new(void) { return calloc(1, sizeof(reply_queue_t)); }

void reply_queue_destroy(reply_queue_t **queue) {
  if (queue == NULL || *queue == NULL) return;
  reply_queue_t *q = *queue;
  for (size_t i = 0; i < q->n_group; i++) free(q->group[i].buf);
  for (size_t i = 0; i < q->n_held; i++) free(q->held[i].buf);
  free(q->group);
  free(q->held);
  free(q);
  *queue = NULL;
}

void reply_queue_set_metrics(reply_queue_t *q, worker_metrics_t *metrics) { q->metrics = metrics; }

static int grow(pending_reply_t **array, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 256;
  while (n < need) n *= 2;
  pending_reply_t *grown = realloc(*array, n * sizeof *grown);
  if (grown == NULL) return TALLY_E_NOMEM;
  *array = grown;
  *cap = n;
  return 0;
}

int reply_queue_add(reply_queue_t *q, const uint8_t *peer, size_t peer_len,
                    const Tally__Envelope *env, int at_once) {
  if (grow(&q->group, &q->cap_group, q->n_group + 1) < 0) return TALLY_E_NOMEM;
  pending_reply_t *r = &q->group[q->n_group];
  if (peer_len > sizeof r->peer) return 0; /* no such peer: nobody to answer */
  memcpy(r->peer, peer, peer_len);
  r->peer_len = peer_len;
  r->request_id = env->request_id;
  r->at_once = at_once;
  r->local = 0;
  worker_metrics_tag_reply(q->metrics, env, &r->tag);
  if (wire_encode(env, &r->buf, &r->len) < 0) {
    Tally__Envelope err_env;
    Tally__ErrorReply err;
    wire_error_init(&err_env, &err, env->request_id, TALLY_E_INTERNAL, "reply too large");
    if (wire_encode(&err_env, &r->buf, &r->len) < 0) return 0;
  }
  q->n_group++;
  return 0;
}

int reply_queue_end_group(reply_queue_t *q, router_t *router, uint64_t durable_at,
                          int with_group) {
  size_t kept = 0, sent = 0, durable = 0;
  for (size_t i = 0; i < q->n_group; i++) durable += !q->group[i].at_once;
  for (size_t i = 0; i < q->n_group; i++) {
    pending_reply_t *r = &q->group[i];
    if (!r->at_once || (with_group && durable > 0)) {
      q->group[kept++] = *r;
      continue;
    }
    if (router && r->len > 0) router_send_encoded(router, r->peer, r->peer_len, r->buf, r->len);
    worker_metrics_reply_sent(q->metrics, &r->tag, r->len);
    free(r->buf);
    sent++;
  }
  q->n_group = kept;
  if (sent > 0 && router) router_kick(router);
  if (kept == 0) return 0;
  kept = durable; /* what waits for durability (the others ride along) */
  size_t n = q->n_group;
  if (grow(&q->held, &q->cap_held, q->n_held + n) < 0) return TALLY_E_NOMEM;
  for (size_t i = 0; i < n; i++) {
    q->group[i].durable_at = durable_at;
    q->held[q->n_held++] = q->group[i];
  }
  q->n_group = 0;
  return (int)kept;
}

void reply_queue_mark_local(reply_queue_t *q) {
  if (q->n_group > 0) q->group[q->n_group - 1].local = 1;
}

void reply_queue_release(reply_queue_t *q, router_t *router, uint64_t durable,
                         uint64_t replicated) {
  size_t n = 0, kept = 0, sent = 0;
  /* held is ordered by durable_at: only its durable prefix is looked at. */
  while (n < q->n_held && q->held[n].durable_at <= durable) {
    pending_reply_t *r = &q->held[n++];
    if (!r->local && r->durable_at > replicated) {
      q->held[kept++] = *r;
      continue;
    }
    if (router && r->len > 0) router_send_encoded(router, r->peer, r->peer_len, r->buf, r->len);
    worker_metrics_reply_sent(q->metrics, &r->tag, r->len);
    free(r->buf);
    sent++;
  }
  if (sent == 0) return;
  memmove(q->held + kept, q->held + n, (q->n_held - n) * sizeof *q->held);
  q->n_held -= sent;
  if (router) router_kick(router);
}

size_t reply_queue_fail_from(reply_queue_t *q, uint64_t from, int code, const char *message) {
  size_t failed = 0;
  for (size_t i = 0; i < q->n_held; i++) {
    pending_reply_t *r = &q->held[i];
    if (r->local || r->durable_at < from) continue;
    free(r->buf);
    r->buf = NULL;
    r->len = 0;
    Tally__Envelope env;
    Tally__ErrorReply err;
    wire_error_init(&env, &err, r->request_id, code, message);
    /* Sent when its turn comes, like the reply it replaces. */
    if (wire_encode(&env, &r->buf, &r->len) < 0) r->len = 0;
    r->tag.code = code;
    r->local = 1;
    failed++;
  }
  return failed;
}

void reply_queue_fail_held(reply_queue_t *q, router_t *router) {
  for (size_t i = 0; i < q->n_held; i++) {
    pending_reply_t *r = &q->held[i];
    free(r->buf);
    Tally__Envelope env;
    Tally__ErrorReply err;
    wire_error_init(&env, &err, r->request_id, TALLY_E_NO_SPACE,
                    "the worker's disk is full: nothing of this request was written; retry "
                    "once space has been freed");
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(&env, &buf, &len) == 0 && router)
      router_send_encoded(router, r->peer, r->peer_len, buf, len);
    r->tag.code = TALLY_E_NO_SPACE;
    worker_metrics_reply_sent(q->metrics, &r->tag, len);
    free(buf);
  }
  q->n_held = 0;
  if (router) router_kick(router);
}

size_t reply_queue_held(const reply_queue_t *q) { return q->n_held; }

void reply_queue_group_truncate(reply_queue_t *q, size_t keep) {
  for (size_t i = keep; i < q->n_group; i++) free(q->group[i].buf);
  if (keep < q->n_group) q->n_group = keep;
}

size_t reply_queue_group_count(const reply_queue_t *q) { return q->n_group; }

const uint8_t *reply_queue_group_reply(const reply_queue_t *q, size_t i, size_t *len) {
  if (i >= q->n_group) return NULL;
  *len = q->group[i].len;
  return q->group[i].buf;
}
