/* client_items: data-plane calls to the workers — ingest, lease, submit,
 * skip, release, status, item get — routed by slot through the cached map.
 * See tally.h for the contracts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "client_internal.h"
#include "lease_order.h"
#include "result.h"
#include "retry_policy.h"
#include "wire.h"

/* Ingest batching: at most this many items or (estimated) bytes per
 * message, well under TALLY_MAX_MESSAGE_BYTES. */
#define INGEST_BATCH_ITEMS 1000u
#define INGEST_BATCH_BYTES (4u * 1024u * 1024u)
/* Rounds of (send all batches, collect replies, re-send what must be). */
#define INGEST_MAX_ROUNDS 8
/* Least time one pass of a waiting lease over the workers takes. */
#define LEASE_MIN_PASS_MS 50u
/* Longest long-poll a waiting lease holds on the best-hinted worker before
 * it checks the others again (and looks at fresher hints). */
#define LEASE_PARK_MS 1000

static void task_copy(result_t *r, tally_task_t *dst, const Tally__Task *src) {
  dst->slot = src->slot;
  dst->lease_id = src->lease_id;
  dst->project = result_strdup(r, src->project);
  dst->item_id = result_strdup(r, src->item_id);
  dst->market = result_strdup(r, src->market);
  dst->content = result_strdup(r, src->content);
  dst->labels = result_strv(r, src->labels, src->n_labels);
  dst->label_count = dst->labels ? src->n_labels : 0;
  dst->deadline_ms = src->deadline_ms;
  dst->stage = (tally_stage_t)src->stage;
  dst->priority = src->priority;
  dst->candidates = result_strv(r, src->candidates, src->n_candidates);
  dst->candidate_count = dst->candidates ? src->n_candidates : 0;
  dst->severity_hint = src->severity_hint;
}

/* ------------------------------------------------------------ ingest */

typedef struct {
  int peer;
  dealer_t *dealer;
  uint64_t request_id;
  size_t first, count; /* range of the round's `order` array */
  int answered;
} ingest_batch_t;

/* State of one tally_ingest() call. */
typedef struct {
  tally_t *t;
  const char *project;
  const tally_item_t *items;
  size_t count;
  tally_ingest_result_t *res;
  result_t *r;
  uint32_t *slots;
  size_t *pending, pending_count; /* items to send this round */
  size_t *next, next_count;       /* items to send next round */
  int moved, timed_out, unavailable; /* what happened this round */
  int config_lag;                    /* a worker did not know the project yet */
  retry_policy_t retry;              /* rounds are retried by it (RETRY_FOR_INGEST) */
  int retry_code;                    /* last retryable failure */
  char retry_message[256];
  int batch_code; /* first non-retryable batch failure */
  char batch_message[256];
} ingest_t;

static size_t item_wire_size(const tally_item_t *it) {
  return strlen(it->id) + strlen(it->market) + (it->content ? strlen(it->content) : 0) +
         (it->gold_label ? strlen(it->gold_label) : 0) +
         (it->category_hint ? strlen(it->category_hint) : 0) + 32;
}

static void ingest_reject(ingest_t *in, size_t item, int code, const char *message) {
  if (message == NULL || message[0] == '\0') message = tally_strerror(code);
  in->res->items[item].code = code;
  in->res->items[item].message = result_strdup(in->r, message);
}

/* Local checks before anything is sent. */
static void ingest_validate(ingest_t *in) {
  for (size_t i = 0; i < in->count; i++) {
    const tally_item_t *it = &in->items[i];
    if (it->id == NULL || it->id[0] == '\0')
      ingest_reject(in, i, TALLY_E_INVALID_ARGUMENT, "missing item id");
    else if (it->market == NULL || it->market[0] == '\0')
      ingest_reject(in, i, TALLY_E_INVALID_ARGUMENT, "missing market");
    else if (it->priority > TALLY_PRIORITY_EMERGENCY)
      ingest_reject(in, i, TALLY_E_INVALID_ARGUMENT, "priority out of range 0..3");
    else if (item_wire_size(it) > TALLY_MAX_MESSAGE_BYTES - 4096)
      ingest_reject(in, i, TALLY_E_TOO_LARGE, "item larger than the message size limit");
    else {
      in->slots[i] = slot_of_item(in->project, it->id, strlen(it->id));
      in->pending[in->pending_count++] = i;
    }
  }
}

static void ingest_retry(ingest_t *in, size_t item) { in->next[in->next_count++] = item; }

static void ingest_note_retry(ingest_t *in, int code) {
  in->retry_code = code;
  snprintf(in->retry_message, sizeof in->retry_message, "%s", tally_last_error(in->t));
}

/* Applies the reply (or error) of one batch. */
static void ingest_apply(ingest_t *in, const ingest_batch_t *b, const size_t *order,
                         const Tally__Envelope *reply) {
  if (reply->body_case == TALLY__ENVELOPE__BODY_INGEST_REPLY) {
    const Tally__IngestReply *ir = reply->ingest_reply;
    in->res->accepted += ir->accepted;
    in->res->duplicates += ir->duplicates;
    in->res->conflicts += ir->conflicts;
    for (size_t k = 0; k < ir->n_rejected; k++) {
      const Tally__Rejection *rej = ir->rejected[k];
      if (rej->index >= b->count) continue;
      size_t item = order[b->first + rej->index];
      int code = tally_error_from_wire((int)rej->code);
      if (code == TALLY_E_MOVED || code == TALLY_E_UNAVAILABLE) {
        in->moved |= code == TALLY_E_MOVED;
        in->unavailable |= code == TALLY_E_UNAVAILABLE;
        client_error(in->t, code, "%s", rej->message);
        ingest_note_retry(in, code);
        ingest_retry(in, item);
      } else {
        ingest_reject(in, item, code ? code : TALLY_E_INTERNAL, rej->message);
      }
    }
    return;
  }
  int code = reply->body_case == TALLY__ENVELOPE__BODY_ERROR
                 ? client_reply_error(in->t, reply)
                 : client_error(in->t, TALLY_E_INTERNAL, "unexpected reply '%s' to 'ingest'",
                                wire_body_name(reply));
  if (retry_policy_would_retry(&in->retry, code)) {
    in->config_lag |= retry_reason_of(code) == RETRY_REASON_CONFIG_LAG;
    in->moved |= code == TALLY_E_MOVED;
    in->unavailable |= code == TALLY_E_UNAVAILABLE;
    if (code == TALLY_E_MOVED && reply->error->owner_endpoint)
      client_route_override(in->t, reply->error->slot, reply->error->owner_endpoint);
    ingest_note_retry(in, code);
    for (size_t k = 0; k < b->count; k++) ingest_retry(in, order[b->first + k]);
    return;
  }
  if (in->batch_code == 0) {
    in->batch_code = code;
    snprintf(in->batch_message, sizeof in->batch_message, "%s", tally_last_error(in->t));
  }
  for (size_t k = 0; k < b->count; k++) ingest_reject(in, order[b->first + k], code, tally_last_error(in->t));
}

/* Groups this round's items by owner into batches (order[] holds item
 * indexes grouped by peer). Items without an owner, or whose owner is DOWN,
 * wait for the next round.
 * Returns the batch count or a negative error. */
static int ingest_plan(ingest_t *in, size_t *order, ingest_batch_t *batches) {
  tally_t *t = in->t;
  size_t n = 0, nbatches = 0;
  for (size_t p = 0; p < t->peer_count; p++) {
    size_t batch_bytes = 0;
    ingest_batch_t *cur = NULL;
    for (size_t k = 0; k < in->pending_count; k++) {
      size_t item = in->pending[k];
      uint32_t slot = in->slots[item];
      if (t->slot_peer[slot] != (int32_t)p || t->slot_down_owner[slot] != 0) continue;
      size_t bytes = item_wire_size(&in->items[item]);
      if (cur == NULL || cur->count == INGEST_BATCH_ITEMS || batch_bytes + bytes > INGEST_BATCH_BYTES) {
        cur = &batches[nbatches++];
        *cur = (ingest_batch_t){(int)p, NULL, 0, n, 0, 0};
        batch_bytes = 0;
      }
      order[n++] = item;
      cur->count++;
      batch_bytes += bytes;
    }
  }
  for (size_t k = 0; k < in->pending_count; k++) {
    size_t item = in->pending[k];
    if (client_slot_check(t, in->slots[item]) < 0) {
      in->unavailable = 1;
      ingest_note_retry(in, TALLY_E_UNAVAILABLE);
      ingest_retry(in, item);
    }
  }
  return (int)nbatches;
}

static int ingest_send(ingest_t *in, ingest_batch_t *b, const size_t *order, Tally__Item *wire_items,
                       Tally__Item **wire_ptrs) {
  for (size_t k = 0; k < b->count; k++) {
    const tally_item_t *it = &in->items[order[b->first + k]];
    Tally__Item *w = &wire_items[b->first + k];
    tally__item__init(w);
    w->id = (char *)it->id;
    w->market = (char *)it->market;
    w->priority = it->priority;
    if (it->content) w->content = (char *)it->content;
    if (it->gold_label) w->gold_label = (char *)it->gold_label;
    if (it->category_hint) w->category_hint = (char *)it->category_hint;
    wire_ptrs[b->first + k] = w;
  }
  Tally__Envelope req;
  Tally__IngestBatch body;
  tally__ingest_batch__init(&body);
  body.project = (char *)in->project;
  body.n_items = b->count;
  body.items = &wire_ptrs[b->first];
  int rc = client_peer_dealer(in->t, (size_t)b->peer, &b->dealer);
  if (rc < 0) return rc;
  b->request_id = dealer_next_request_id(b->dealer);
  wire_envelope_init(&req, b->request_id);
  req.body_case = TALLY__ENVELOPE__BODY_INGEST;
  req.ingest = &body;
  client_stamp(in->t, &req);
  rc = dealer_send(b->dealer, &req);
  if (rc < 0)
    return client_error(in->t, rc, "cannot send to %s: %s", dealer_endpoint(b->dealer), tally_strerror(rc));
  return 0;
}

/* The unanswered batches of peer `p` go to the next round; its connection
 * (and what is queued on it) is dropped. */
static void ingest_abandon(ingest_t *in, int p, ingest_batch_t *batches, size_t nbatches,
                           const size_t *order) {
  for (size_t i = 0; i < nbatches; i++) {
    ingest_batch_t *b = &batches[i];
    if (b->peer != p || b->answered) continue;
    b->answered = 1;
    for (size_t k = 0; k < b->count; k++) ingest_retry(in, order[b->first + k]);
  }
  client_peer_reset(in->t, (size_t)p);
}

/* Waits for the replies of every batch sent to peer `p` until `deadline`.
 * (It does not follow the map while it waits, unlike the slot requests:
 * a batch of a worker that died waits for the timeout, then its items go
 * to the new owners in the next round.) */
static void ingest_collect(ingest_t *in, int p, ingest_batch_t *batches, size_t nbatches,
                           const size_t *order, uint64_t deadline) {
  dealer_t *dealer = NULL;
  size_t outstanding = 0;
  for (size_t i = 0; i < nbatches; i++) {
    if (batches[i].peer != p || batches[i].answered) continue;
    dealer = batches[i].dealer;
    outstanding++;
  }
  while (outstanding > 0) {
    uint64_t now = clock_monotonic_ms();
    Tally__Envelope *reply = NULL;
    int rc = dealer_recv(dealer, now >= deadline ? 0 : (int)(deadline - now), &reply);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) break;
    for (size_t i = 0; i < nbatches; i++) {
      ingest_batch_t *b = &batches[i];
      if (b->peer != p || b->answered || b->request_id != reply->request_id) continue;
      b->answered = 1;
      outstanding--;
      ingest_apply(in, b, order, reply);
      break;
    }
    wire_envelope_free(&reply);
  }
  if (outstanding == 0) return;
  client_error(in->t, TALLY_E_TIMEOUT, "no reply from %s within %d ms", dealer_endpoint(dealer),
               in->t->timeout_ms);
  ingest_note_retry(in, TALLY_E_TIMEOUT);
  in->timed_out = 1;
  ingest_abandon(in, p, batches, nbatches, order);
}

/* One round: plan, send every batch, collect every reply. */
static int ingest_round(ingest_t *in) {
  size_t n = in->pending_count;
  size_t *order = malloc(n * sizeof *order);
  ingest_batch_t *batches = malloc(n * sizeof *batches);
  Tally__Item *wire_items = malloc(n * sizeof *wire_items);
  Tally__Item **wire_ptrs = malloc(n * sizeof *wire_ptrs);
  int rc = TALLY_E_NOMEM;
  if (!order || !batches || !wire_items || !wire_ptrs) {
    client_error(in->t, rc, "out of memory");
    goto done;
  }
  rc = ingest_plan(in, order, batches);
  if (rc < 0) goto done;
  size_t nbatches = (size_t)rc;
  for (size_t i = 0; i < nbatches; i++) {
    if (ingest_send(in, &batches[i], order, wire_items, wire_ptrs) == 0) continue;
    batches[i].answered = 1; /* never sent: retry next round */
    ingest_note_retry(in, TALLY_E_UNAVAILABLE);
    in->unavailable = 1;
    for (size_t k = 0; k < batches[i].count; k++) ingest_retry(in, order[batches[i].first + k]);
  }
  uint64_t deadline = clock_monotonic_ms() + (uint64_t)in->t->timeout_ms;
  for (size_t p = 0; p < in->t->peer_count; p++) ingest_collect(in, (int)p, batches, nbatches, order, deadline);
  rc = 0;
done:
  free(order);
  free(batches);
  free(wire_items);
  free(wire_ptrs);
  return rc;
}

/* Counts this round's failures (each reason once) with the retry policy:
 * returns 1 to go on with another round after the longest back-off and the
 * map refresh they call for, 0 to give up. */
static int ingest_next_round(ingest_t *in) {
  const int seen[] = {in->moved ? TALLY_E_MOVED : 0, in->unavailable ? TALLY_E_UNAVAILABLE : 0,
                      in->timed_out ? TALLY_E_TIMEOUT : 0, in->config_lag ? TALLY_E_UNKNOWN_PROJECT : 0};
  int backoff_ms = 0, refresh = 0;
  for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
    if (seen[i] == 0) continue;
    retry_step_t step = retry_policy_next(&in->retry, seen[i]);
    if (!step.again) return 0;
    if (step.backoff_ms > backoff_ms) backoff_ms = step.backoff_ms;
    refresh |= step.refresh_map;
  }
  client_sleep_ms(backoff_ms);
  if (refresh) client_refresh_map(in->t);
  return 1;
}

static int ingest_run(ingest_t *in) {
  retry_policy_start(&in->retry, RETRY_FOR_INGEST);
  for (int round = 0; in->pending_count > 0; round++) {
    int rc = client_ensure_map(in->t);
    if (rc < 0) {
      /* No map, no routing: what is pending fails with the reason. */
      in->retry_code = rc;
      snprintf(in->retry_message, sizeof in->retry_message, "%s", tally_last_error(in->t));
      break;
    }
    in->moved = in->timed_out = in->unavailable = in->config_lag = 0;
    in->next_count = 0;
    rc = ingest_round(in);
    if (rc < 0) return rc;
    size_t *swap = in->pending;
    in->pending = in->next;
    in->pending_count = in->next_count;
    in->next = swap;
    if (in->pending_count == 0) break;
    if (round + 1 >= INGEST_MAX_ROUNDS || !ingest_next_round(in)) break;
  }
  /* What is still pending failed for good. */
  for (size_t k = 0; k < in->pending_count; k++) ingest_reject(in, in->pending[k], in->retry_code, in->retry_message);
  if (in->pending_count > 0 && in->batch_code == 0) {
    in->batch_code = in->retry_code;
    snprintf(in->batch_message, sizeof in->batch_message, "%s", in->retry_message);
  }
  return 0;
}

int tally_ingest(tally_t *t, const char *project, const tally_item_t *items, size_t count,
                 tally_ingest_result_t **out) {
  *out = NULL;
  if (project == NULL || project[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "ingest needs a project");
  ingest_t in = {.t = t, .project = project, .items = items, .count = count};
  in.res = result_new(sizeof *in.res, &in.r);
  if (in.res == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  in.res->count = count;
  in.res->items = result_alloc(in.r, (count ? count : 1) * sizeof *in.res->items);
  in.slots = malloc((count ? count : 1) * sizeof *in.slots);
  in.pending = malloc((count ? count : 1) * sizeof *in.pending);
  in.next = malloc((count ? count : 1) * sizeof *in.next);
  int rc = TALLY_E_NOMEM;
  if (in.res->items == NULL || !in.slots || !in.pending || !in.next) {
    client_error(t, rc, "out of memory");
    goto done;
  }
  ingest_validate(&in);
  rc = ingest_run(&in);
  if (rc == 0 && result_failed(in.r)) rc = client_error(t, TALLY_E_NOMEM, "out of memory");
done:
  free(in.slots);
  free(in.pending);
  free(in.next);
  if (rc < 0) {
    result_free(in.res);
    return rc;
  }
  for (size_t i = 0; i < count; i++) in.res->rejected += in.res->items[i].code != 0;
  *out = in.res;
  if (in.batch_code) return client_error(t, in.batch_code, "%s", in.batch_message);
  return 0;
}

/* ------------------------------------------------------------ lease */

/* One lease request to one peer. */
static int lease_ask(tally_t *t, size_t peer, Tally__Envelope *req, int wait_ms, Tally__Envelope **reply) {
  dealer_t *dealer = NULL;
  int rc = client_peer_dealer(t, peer, &dealer);
  if (rc < 0) return rc;
  req->lease->wait_ms = (uint32_t)wait_ms; /* min_priority set by the caller */
  /* A worker the map declares down meanwhile is given up at once. */
  client_watch_t watch = {TALLY_SLOT_COUNT, peer, wait_ms > 0 ? wait_ms : 0};
  rc = client_roundtrip_watch(t, dealer, req, TALLY__ENVELOPE__BODY_LEASE_REPLY, t->timeout_ms + wait_ms, reply,
                              NULL, &watch);
  if (rc == TALLY_E_TIMEOUT) client_peer_reset(t, peer);
  return rc;
}

static int lease_result(tally_t *t, const Tally__Task *task, tally_task_t **out) {
  result_t *r;
  tally_task_t *copy = result_new(sizeof *copy, &r);
  if (copy == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  task_copy(r, copy, task);
  lease_memo_put(t->leases, task->lease_id, task->project, task->item_id, (uint32_t)task->stage);
  if (result_failed(r)) {
    result_free(copy);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = copy;
  return 0;
}

/* A blocking lease in progress. */
typedef struct {
  tally_t *t;
  Tally__Envelope *req;
  const char *labeler;
  uint32_t project_id; /* for the hints; 0 = any */
  uint32_t stage;
  uint64_t deadline; /* monotonic */
  int answered;      /* some worker answered, with or without a task */
  retry_policy_t retry; /* a worker's configuration lag (RETRY_FOR_LEASE) */
  int first_error; /* the first retryable failure, reported if none answered */
  char first_message[sizeof ((tally_t *)0)->last_error];
} lease_call_t;

static void lease_note_failure(lease_call_t *lc, int code) {
  if (lc->first_error != 0) return;
  lc->first_error = code;
  memcpy(lc->first_message, lc->t->last_error, sizeof lc->first_message);
}

/* Asks one worker, again after configuration lag. Returns 0 (with *out
 * set if it had a task; a retryable failure is noted) or a non-retryable
 * error. */
static int lease_try(lease_call_t *lc, size_t peer, int wait_ms, uint32_t min_priority, tally_task_t **out) {
  for (;;) {
    Tally__Envelope *reply = NULL;
    lc->req->lease->min_priority = min_priority;
    int rc = lease_ask(lc->t, peer, lc->req, wait_ms, &reply);
    if (rc == 0) {
      lc->answered = 1;
      const Tally__LeaseReply *lr = reply->lease_reply;
      const Tally__ClusterMap *map = lc->t->map_env ? lc->t->map_env->map : NULL;
      /* Learn the person's markets for the next lease order (an old worker
       * sends none: then nothing is learnt). */
      if (map && lr->n_markets > 0)
        person_markets_put(lc->t->people, lc->labeler, lr->markets, lr->n_markets, map->config_version);
      if (lr->has_task && lr->task) rc = lease_result(lc->t, lr->task, out);
      wire_envelope_free(&reply);
      return rc;
    }
    retry_step_t step = retry_policy_next(&lc->retry, rc);
    if (step.again) {
      client_sleep_ms(step.backoff_ms);
      continue;
    }
    if (!tally_error_is_retryable(rc) && rc != TALLY_E_TRANSPORT) return rc;
    lease_note_failure(lc, rc);
    return 0;
  }
}

/* How long the k-th of n workers in lease order may hold a waiting pass's
 * long-poll, `left` ms being left: a single worker all of it; with hints,
 * the best-hinted worker up to LEASE_PARK_MS and the others are only
 * checked; without, each an equal share of about a second (at least
 * 100 ms), as before hints existed. */
static int lease_wait_share(size_t k, size_t n, int hinted, int left) {
  int share;
  if (n == 1)
    share = left;
  else if (hinted)
    share = k == 0 ? LEASE_PARK_MS : 0;
  else
    share = 1000 / (int)n < 100 ? 100 : 1000 / (int)n;
  return left < share ? left : share;
}

/* One pass over the workers in lease order (client_lease_order): without
 * waiting on the first pass, long-polling after. Returns 0 (with *out set
 * when a worker had a task) or a non-retryable error. */
static int lease_pass(lease_call_t *lc, int pass, tally_task_t **out) {
  tally_t *t = lc->t;
  const Tally__ClusterMap *map = t->map_env->map;
  client_lease_choice_t *order = malloc((map->n_workers ? map->n_workers : 1) * sizeof *order);
  if (order == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  const char *const *markets = NULL;
  size_t market_count = 0;
  if (!person_markets_get(t->people, lc->labeler, map->config_version, &markets, &market_count)) markets = NULL;
  size_t n = client_lease_order(map, lc->project_id, lc->stage, markets, market_count, client_random(t), order);
  if (n == 0) lease_note_failure(lc, client_error(t, TALLY_E_UNAVAILABLE, "no worker is up"));
  int rc = 0;
  /* First the upper tiers, each worker only for work of its hinted top
   * priority (lease_order.h), then everyone for anything. */
  for (size_t k = 0; pass == 0 && k < n && rc == 0 && *out == NULL; k++) {
    uint32_t min = client_lease_min_priority(order, n, k);
    if (min == 0) break;
    rc = lease_try(lc, (size_t)t->worker_peer[order[k].worker], 0, min, out);
  }
  for (size_t k = 0; k < n && rc == 0 && *out == NULL; k++) {
    uint64_t now = clock_monotonic_ms();
    int left = now >= lc->deadline ? 0 : (int)(lc->deadline - now);
    int wait = pass == 0 ? 0 : lease_wait_share(k, n, order[0].depth > 0, left);
    rc = lease_try(lc, (size_t)t->worker_peer[order[k].worker], wait, 0, out);
  }
  free(order);
  return rc;
}

int tally_lease(tally_t *t, const char *labeler, const char *project, tally_stage_t stage,
                int wait_ms, tally_task_t **out) {
  *out = NULL;
  if (labeler == NULL || labeler[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "lease needs a labeler");
  if (wait_ms < 0) wait_ms = 0;
  if (wait_ms > TALLY_MAX_WAIT_MS) wait_ms = TALLY_MAX_WAIT_MS;
  int rc = client_ensure_map(t);
  if (rc < 0) return rc;
  Tally__Envelope req;
  Tally__LeaseRequest body;
  wire_envelope_init(&req, 0);
  tally__lease_request__init(&body);
  body.labeler = (char *)labeler;
  body.project = (char *)(project ? project : "");
  body.stage = (Tally__Stage)stage;
  req.body_case = TALLY__ENVELOPE__BODY_LEASE;
  req.lease = &body;
  lease_call_t lc = {.t = t, .req = &req, .labeler = labeler, .project_id = client_project_id(t, project), .stage = (uint32_t)stage,
                     .deadline = clock_monotonic_ms() + (uint64_t)wait_ms};
  retry_policy_start(&lc.retry, RETRY_FOR_LEASE);
  int refreshed = 0;
  for (int pass = 0;; pass++) {
    client_map_refresh_if_old(t, CLIENT_MAP_WAIT_MS); /* fresh hints, about every second */
    uint64_t pass_start = clock_monotonic_ms();
    rc = lease_pass(&lc, pass, out);
    if (rc < 0 || *out != NULL) return rc;
    if (!lc.answered && !refreshed) {
      refreshed = 1;
      if (client_refresh_map(t) == 0) continue;
    }
    if (!lc.answered) {
      memcpy(t->last_error, lc.first_message, sizeof lc.first_message);
      t->last_code = lc.first_error;
      return lc.first_error;
    }
    uint64_t now = clock_monotonic_ms();
    if (now >= lc.deadline) return 0;
    /* Workers that answer at once instead of holding the long-poll must not
     * be hammered: pace the passes. */
    if (now - pass_start < LEASE_MIN_PASS_MS) {
      uint64_t nap = LEASE_MIN_PASS_MS - (now - pass_start);
      client_sleep_ms((int)(nap < lc.deadline - now ? nap : lc.deadline - now));
    }
  }
}

/* ------------------------------------------------------------ submit, skip, release */

int tally_submit(tally_t *t, const char *labeler, uint32_t slot, uint64_t lease_id,
                 const char *label, uint32_t handling_ms) {
  Tally__Envelope req, *reply = NULL;
  Tally__SubmitRequest body;
  wire_envelope_init(&req, 0);
  client_submit_init(&body, labeler, slot, lease_id, label, handling_ms);
  client_lease_name(t, lease_id, &body.project, &body.item_id, &body.stage);
  req.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  req.submit = &body;
  int rc = client_call_slot(t, slot, &req, TALLY__ENVELOPE__BODY_ACK, 0, &reply);
  wire_envelope_free(&reply);
  return rc;
}

int tally_submit_adjudication(tally_t *t, const char *lead, uint32_t slot, uint64_t lease_id,
                              const char *label, tally_attribution_t attribution, const char *note,
                              uint32_t handling_ms) {
  if (!client_attribution_is_valid(attribution))
    return client_error(t, TALLY_E_INVALID_ARGUMENT,
                        "unknown attribution %d (none or policy-unclear)", (int)attribution);
  Tally__Envelope req, *reply = NULL;
  Tally__SubmitRequest body;
  wire_envelope_init(&req, 0);
  client_submit_init(&body, lead, slot, lease_id, label, handling_ms);
  client_lease_name(t, lease_id, &body.project, &body.item_id, &body.stage);
  body.attribution = (Tally__Attribution)attribution;
  body.note = (char *)(note ? note : "");
  req.body_case = TALLY__ENVELOPE__BODY_SUBMIT;
  req.submit = &body;
  int rc = client_call_slot(t, slot, &req, TALLY__ENVELOPE__BODY_ACK, 0, &reply);
  wire_envelope_free(&reply);
  return rc;
}

int tally_skip(tally_t *t, const char *labeler, uint32_t slot, uint64_t lease_id) {
  Tally__Envelope req, *reply = NULL;
  Tally__SkipRequest body;
  wire_envelope_init(&req, 0);
  tally__skip_request__init(&body);
  body.labeler = (char *)(labeler ? labeler : "");
  body.slot = slot;
  body.lease_id = lease_id;
  client_lease_name(t, lease_id, &body.project, &body.item_id, &body.stage);
  req.body_case = TALLY__ENVELOPE__BODY_SKIP;
  req.skip = &body;
  int rc = client_call_slot(t, slot, &req, TALLY__ENVELOPE__BODY_ACK, 0, &reply);
  wire_envelope_free(&reply);
  return rc;
}

int tally_release(tally_t *t, const char *labeler, uint32_t slot, uint64_t lease_id) {
  Tally__Envelope req, *reply = NULL;
  Tally__ReleaseRequest body;
  wire_envelope_init(&req, 0);
  tally__release_request__init(&body);
  body.labeler = (char *)(labeler ? labeler : "");
  body.slot = slot;
  body.lease_id = lease_id;
  req.body_case = TALLY__ENVELOPE__BODY_RELEASE;
  req.release = &body;
  int rc = client_call_slot(t, slot, &req, TALLY__ENVELOPE__BODY_ACK, 0, &reply);
  wire_envelope_free(&reply);
  return rc;
}

/* ------------------------------------------------------------ status */

static void status_fill(result_t *r, tally_worker_status_t *dst, const Tally__StatusReply *src) {
  dst->items = src->items;
  dst->labels = src->labels;
  dst->live_leases = src->live_leases;
  dst->queued = src->queued;
  dst->done = src->done;
  dst->expired_leases = src->expired_leases;
  dst->skips = src->skips;
  dst->epoch = src->epoch;
  if (src->n_queues == 0) return;
  dst->queues = result_alloc(r, src->n_queues * sizeof *dst->queues);
  if (dst->queues == NULL) return;
  dst->queue_count = src->n_queues;
  for (size_t i = 0; i < src->n_queues; i++) {
    const Tally__QueueStatus *q = src->queues[i];
    dst->queues[i] = (tally_queue_status_t){result_strdup(r, q->project), result_strdup(r, q->market),
                                            (tally_stage_t)q->stage, q->depth, q->top_priority};
  }
}

/* Adds a worker's counters and queues into the total. */
static void status_add(tally_worker_status_t *total, const tally_worker_status_t *w) {
  total->items += w->items;
  total->labels += w->labels;
  total->live_leases += w->live_leases;
  total->queued += w->queued;
  total->done += w->done;
  total->expired_leases += w->expired_leases;
  total->skips += w->skips;
  if (w->epoch > total->epoch) total->epoch = w->epoch;
  for (size_t i = 0; i < w->queue_count; i++) {
    const tally_queue_status_t *q = &w->queues[i];
    size_t j = 0;
    while (j < total->queue_count &&
           !(total->queues[j].stage == q->stage && strcmp(total->queues[j].project, q->project) == 0 &&
             strcmp(total->queues[j].market, q->market) == 0))
      j++;
    if (j == total->queue_count) {
      total->queues[j] = *q;
      total->queues[j].depth = 0;
      total->queues[j].top_priority = 0;
      total->queue_count++;
    }
    total->queues[j].depth += q->depth;
    if (q->top_priority > total->queues[j].top_priority) total->queues[j].top_priority = q->top_priority;
  }
}

int tally_status(tally_t *t, const char *project, tally_status_t **out) {
  *out = NULL;
  int rc = client_refresh_map(t);
  if (rc < 0) return rc;
  const Tally__ClusterMap *map = t->map_env->map;
  size_t n = map->n_workers;
  result_t *r;
  tally_status_t *st = result_new(sizeof *st, &r);
  uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
  int *peers = calloc(n ? n : 1, sizeof *peers);
  if (st == NULL || ids == NULL || peers == NULL) {
    result_free(st);
    free(ids);
    free(peers);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  st->workers = result_alloc(r, (n ? n : 1) * sizeof *st->workers);
  if (st->workers) st->worker_count = n;
  Tally__Envelope req;
  Tally__StatusRequest body;
  tally__status_request__init(&body);
  body.project = (char *)(project ? project : "");
  for (size_t w = 0; w < st->worker_count; w++) {
    const Tally__WorkerInfo *info = map->workers[w];
    tally_worker_status_t *ws = &st->workers[w];
    ws->worker_id = info->id;
    ws->endpoint = result_strdup(r, info->endpoint);
    peers[w] = -1;
    if (info->state == TALLY__WORKER_STATE__WORKER_DOWN || info->endpoint[0] == '\0') {
      ws->code = TALLY_E_UNAVAILABLE;
      ws->error = "worker is down";
      continue;
    }
    dealer_t *dealer = NULL;
    peers[w] = client_peer_add(t, info->endpoint);
    if (peers[w] >= 0 && (rc = client_peer_dealer(t, (size_t)peers[w], &dealer)) == 0) {
      ids[w] = dealer_next_request_id(dealer);
      wire_envelope_init(&req, ids[w]);
      req.body_case = TALLY__ENVELOPE__BODY_STATUS;
      req.status = &body;
      client_stamp(t, &req);
      rc = dealer_send(dealer, &req);
    }
    if (peers[w] < 0 || rc < 0) {
      ws->code = peers[w] < 0 ? peers[w] : rc;
      ws->error = result_strdup(r, tally_strerror(ws->code));
      peers[w] = -1;
    }
  }
  uint64_t deadline = clock_monotonic_ms() + (uint64_t)t->timeout_ms;
  size_t answered = 0, queue_total = 0;
  for (size_t w = 0; w < st->worker_count; w++) {
    if (peers[w] < 0) continue;
    tally_worker_status_t *ws = &st->workers[w];
    dealer_t *dealer = t->peers[peers[w]].dealer;
    for (;;) {
      uint64_t now = clock_monotonic_ms();
      Tally__Envelope *reply = NULL;
      rc = dealer_recv(dealer, now >= deadline ? 0 : (int)(deadline - now), &reply);
      if (rc == TALLY_E_BAD_REQUEST) continue;
      if (rc < 0) {
        ws->code = rc;
        ws->error = result_strdup(r, rc == TALLY_E_TIMEOUT ? "no reply" : tally_strerror(rc));
        if (rc == TALLY_E_TIMEOUT) client_peer_reset(t, (size_t)peers[w]);
        break;
      }
      if (reply->request_id != ids[w]) {
        wire_envelope_free(&reply);
        continue;
      }
      if (reply->body_case == TALLY__ENVELOPE__BODY_STATUS_REPLY) {
        status_fill(r, ws, reply->status_reply);
        queue_total += ws->queue_count;
        answered++;
      } else {
        ws->code = reply->body_case == TALLY__ENVELOPE__BODY_ERROR ? client_reply_error(t, reply)
                                                                   : TALLY_E_INTERNAL;
        ws->error = result_strdup(r, ws->code == TALLY_E_INTERNAL ? "unexpected reply" : t->last_error);
      }
      wire_envelope_free(&reply);
      break;
    }
  }
  free(ids);
  free(peers);
  st->total.queues = result_alloc(r, (queue_total ? queue_total : 1) * sizeof *st->total.queues);
  for (size_t w = 0; w < st->worker_count; w++) {
    if (st->workers[w].code != 0) {
      st->workers_failed++;
      continue;
    }
    if (st->total.queues) status_add(&st->total, &st->workers[w]);
  }
  if (result_failed(r)) {
    result_free(st);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  if (answered == 0 && st->worker_count > 0) {
    const tally_worker_status_t *first = &st->workers[0];
    rc = client_error(t, first->code, "no worker answered (worker %u at %s: %s)", first->worker_id,
                      first->endpoint, first->error);
    result_free(st);
    return rc;
  }
  *out = st;
  return 0;
}

/* ------------------------------------------------------------ item get */

int tally_item_get(tally_t *t, const char *project, const char *item_id, tally_item_state_t **out) {
  *out = NULL;
  if (project == NULL || item_id == NULL || project[0] == '\0' || item_id[0] == '\0')
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "item get needs a project and an item id");
  Tally__Envelope req, *reply = NULL;
  Tally__ItemGet body;
  wire_envelope_init(&req, 0);
  tally__item_get__init(&body);
  body.project = (char *)project;
  body.item_id = (char *)item_id;
  req.body_case = TALLY__ENVELOPE__BODY_ITEM_GET;
  req.item_get = &body;
  uint32_t slot = slot_of_item(project, item_id, strlen(item_id));
  int rc = client_call_slot(t, slot, &req, TALLY__ENVELOPE__BODY_ITEM_REPLY, 0, &reply);
  if (rc < 0) return rc;
  const Tally__ItemReply *src = reply->item_reply;
  result_t *r;
  tally_item_state_t *it = result_new(sizeof *it, &r);
  if (it == NULL) {
    wire_envelope_free(&reply);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  it->project = result_strdup(r, src->project);
  it->item_id = result_strdup(r, src->item_id);
  it->market = result_strdup(r, src->market);
  it->priority = src->priority;
  it->content = result_strdup(r, src->content);
  it->overlap = src->overlap;
  it->live_leases = src->live_leases;
  it->done = src->done ? 1 : 0;
  it->ingested_ms = src->ingested_ms;
  it->done_ms = src->done_ms;
  if (src->n_labels) {
    it->labels = result_alloc(r, src->n_labels * sizeof *it->labels);
    if (it->labels) {
      it->label_count = src->n_labels;
      for (size_t i = 0; i < src->n_labels; i++)
        it->labels[i] = (tally_stored_label_t){result_strdup(r, src->labels[i]->labeler),
                                               result_strdup(r, src->labels[i]->label),
                                               src->labels[i]->at_ms, src->labels[i]->handling_ms,
                                               src->labels[i]->policy_version ? src->labels[i]->policy_version : 1};
    }
  }
  wire_envelope_free(&reply);
  if (result_failed(r)) {
    result_free(it);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  *out = it;
  return 0;
}
