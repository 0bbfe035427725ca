/* replication: slot replication, primary and follower. See replication.h. */
#include "replication.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "slot_move.h"
#include "tally_error.h"
#include "wire.h"
#include "worker_internal.h"

#define REPL_MAX_FOLLOWERS 4
#define REPL_MAX_CONNS 64
/* A copy's appends stop at whichever comes first. */
#define REPL_CHUNK_ENTRIES 1024
#define REPL_CHUNK_BYTES (256u << 10)
/* isr_change is sent again while the map does not show it. */
#define REPL_ISR_RESEND_MS 1000
/* A copy that could not be sent (follower unreachable) is tried again. */
#define REPL_COPY_RETRY_MS 1000
/* A follower that answered NO_SPACE (its disk is full) is copied again
 * after this long, and said so in the log at most this often. */
#define REPL_FULL_RETRY_MS 5000
#define REPL_FULL_LOG_MS 10000
/* A follower that is not in sync yet has this long to acknowledge its
 * copy, while nothing at all comes back from it; a follower that answers
 * (it is busy with other copies) gets up to REPL_COPY_GIVE_UP_MS. Copying
 * again from scratch only adds work to a slow follower. */
#define REPL_COPY_ACK_TIMEOUT_MS 5000
#define REPL_COPY_GIVE_UP_MS 60000
/* Copies per follower not yet acknowledged: more wait, so a follower
 * taking over many slots (a restart, a failover) answers in time. */
#define REPL_COPIES_IN_FLIGHT 32
/* Appends of one message (ReplicaAppend.bundle): one per slot. */
#define REPL_BUNDLE_MAX TALLY_SLOT_COUNT
/* Copies started per tick (each reads one slot on the loop). */
#define REPL_COPIES_PER_TICK 64
/* Per-slot events of full copies and in-sync changes are logged as one
 * line per (event, peer) for up to REPL_SUMMARY_MS (a worker copying
 * hundreds of slots at once wrote a line per slot per step), naming the
 * first REPL_SUMMARY_SLOTS slots; the per-slot lines are debug level. */
#define REPL_SUMMARY_MS 1000
#define REPL_SUMMARY_MAX 16
#define REPL_SUMMARY_SLOTS 5

static const char APPLIED_PREFIX[] = "repl";
#define APPLIED_KEY_LEN (sizeof APPLIED_PREFIX - 1 + 2)

/* One follower's stream of one slot (primary side).
 * IDLE: nothing sent; a copy starts on the tick (or, while the map lists
 *   the follower in sync, an isr_change out is sent first: WAIT_OUT).
 * WAIT_OUT: out of sync reported; waits for a map without it in sync.
 * COPYING: full copy and appends sent; waits for the copy's ack.
 * WAIT_IN: caught up; in sync reported, waits for the map to list it.
 * IN_SYNC: streaming, listed in sync. */
typedef enum { ST_IDLE, ST_WAIT_OUT, ST_COPYING, ST_WAIT_IN, ST_IN_SYNC } stream_state_t;

typedef struct {
  uint64_t batch;   /* the batch whose changes the append carried */
  uint64_t sent_ms; /* monotonic */
  uint64_t sent_ns; /* uv_hrtime(), for the ack wait logged at the stop */
} unacked_t;

typedef struct {
  uint32_t follower;
  stream_state_t state;
  int in_sync;              /* the map lists it in sync: held replies wait for it */
  uint64_t sent_seq, acked_seq;
  uint64_t copy_seq;        /* seq of the current copy's reset append */
  uint64_t done_seq;        /* seq of its snapshot_done append */
  uint64_t copy_conn;       /* rconn_t.serial of the connection the copy went on */
  unacked_t *ring;          /* appends acked_seq + 1 .. sent_seq */
  size_t head, n, cap;
  uint64_t blocked_batch;   /* in sync by the map but not streaming since this batch */
  uint64_t isr_sent_ms;
  uint64_t next_copy_ms;
  Tally__ReplicaLag lag;    /* for the heartbeat */
} stream_t;

typedef struct {
  int primary;              /* this worker streams the slot to followers */
  uint64_t slot_epoch;
  stream_t s[REPL_MAX_FOLLOWERS];
  size_t n;
} rslot_t;

typedef struct {
  uv_poll_t poll;
  dealer_t *dealer;
  uint32_t worker;
  worker_t *w;
  int heard;          /* a reply came on it (its CURVE handshake succeeded) */
  uint64_t opened_ms; /* monotonic: when it was made */
  uint64_t reply_ms;  /* monotonic: the last reply on it (0: none) */
  uint64_t full_logged_ms; /* monotonic: last log line about its full disk */
  uint64_t follower_run;   /* ReplicaAck.follower_run last heard on it (0: none yet) */
  uint64_t serial;         /* this worker's count of connections made, at its making */
} rconn_t;

/* One change of the batch being sent. */
typedef struct {
  uint32_t slot;
  Tally__SlotEntry entry;
} change_t;

/* What a stream cost, logged once at a clean stop (replication_close):
 * the timeline of a group commit's replication, docs/PERFORMANCE.md. */
typedef struct {
  uint64_t batches;          /* primary: batches with changes of a streamed slot */
  uint64_t messages;         /* primary: append messages (bundles) sent */
  uint64_t appends, entries; /* primary: appends (one per slot) and changes sent */
  uint64_t acks;             /* primary: appends acknowledged */
  uint64_t ack_wait_ns, ack_wait_max_ns; /* primary: append sent to its ack */
  uint64_t acked_before_local; /* primary: acks that came before the batch was durable here */
  uint64_t applied_messages, applied_appends, applied_entries; /* follower */
} repl_stats_t;

/* The per-slot events gathered into summary lines. */
typedef enum {
  SUM_COPY_SENT,  /* primary: a full copy sent to follower `peer` */
  SUM_CAUGHT_UP,  /* primary: follower `peer` acknowledged its copy */
  SUM_IN_SYNC,    /* primary: the map lists follower `peer` in sync */
  SUM_COPY_TAKEN, /* follower: a full copy from primary `peer` begins */
  SUM_COPY_DONE,  /* follower: a full copy from primary `peer` complete */
  SUM_OUT,        /* primary: follower `peer`'s stream failed (`why`), reported out of sync */
  SUM_AGAIN       /* primary: follower `peer`'s stream failed (`why`), copied again later */
} summary_kind_t;

typedef struct {
  summary_kind_t kind;
  uint32_t peer;
  uint64_t first_ms; /* monotonic time of its first event */
  size_t slots;      /* events (one per slot) */
  uint64_t keys;     /* SUM_COPY_SENT: keys copied */
  char why[160];     /* SUM_OUT, SUM_AGAIN: what failed (cut) */
  uint32_t named[REPL_SUMMARY_SLOTS];
} summary_t;

typedef struct replication {
  rslot_t slots[TALLY_SLOT_COUNT];
  summary_t summaries[REPL_SUMMARY_MAX];
  size_t n_summaries;
  repl_stats_t stats;
  size_t n_streams; /* streams over all primary slots */
  /* Follower side: the applied (slot epoch, seq) per slot (0, 0: none). */
  uint64_t applied_epoch[TALLY_SLOT_COUNT];
  uint64_t applied_seq[TALLY_SLOT_COUNT];
  /* Move target: appends of slot epochs <= fence_epoch are refused until
   * fence_ms + REPLICATION_MOVE_FENCE_MS (fence_ms 0: no fence). */
  uint64_t fence_epoch[TALLY_SLOT_COUNT];
  uint64_t fence_ms[TALLY_SLOT_COUNT];
  rconn_t *conns[REPL_MAX_CONNS];
  size_t n_conns;
  uint64_t seq_base;
  uint64_t next_request;
  /* The last batch whose changes may have reached a follower (an append
   * of it, or a copy that read it through the open batch). */
  uint64_t sent_batch;
  /* isr_change reports waiting for the tick, which sends them as one
   * message (IsrChange.bundle). */
  Tally__IsrChange *isr;
  size_t n_isr, cap_isr;
  /* Scratch of replication_on_batch and replication_lags. */
  change_t *changes;
  size_t n_changes, cap_changes;
  Tally__ReplicaLag **lags;
  size_t cap_lags;
  /* Follower side: this process's ReplicaAck.follower_run (random, not 0). */
  uint64_t run;
  uint64_t conn_serial; /* connections made (rconn_t.serial) */
} replication_t;

/* ------------------------------------------------------------ helpers */

static const Tally__SlotReplicas *map_slot(const worker_t *w, uint32_t slot) {
  const Tally__ClusterMap *m = w->map;
  if (m == NULL || m->replicas <= 1 || slot >= m->n_slots) return NULL;
  const Tally__SlotReplicas *sr = m->slots[slot];
  return sr != NULL && sr->slot == slot ? sr : NULL;
}

static uint32_t map_owner(const worker_t *w, uint32_t slot) {
  if (w->map == NULL || slot >= w->map->n_slot_owner) return 0;
  return w->map->slot_owner[slot];
}

/* The map says worker `id` is UP (a copy to a down follower is not tried). */
static int worker_up(const worker_t *w, uint32_t id) {
  if (w->map == NULL) return 0;
  for (size_t i = 0; i < w->map->n_workers; i++)
    if (w->map->workers[i]->id == id)
      return w->map->workers[i]->state == TALLY__WORKER_STATE__WORKER_UP;
  return 0;
}

static const char *worker_endpoint(const worker_t *w, uint32_t id) {
  if (w->map == NULL) return NULL;
  for (size_t i = 0; i < w->map->n_workers; i++)
    if (w->map->workers[i]->id == id) return w->map->workers[i]->endpoint;
  return NULL;
}

static int id_in(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

static size_t applied_key(uint8_t *out, uint32_t slot) {
  memcpy(out, APPLIED_PREFIX, sizeof APPLIED_PREFIX - 1);
  keys_put_u16(out + sizeof APPLIED_PREFIX - 1, (uint16_t)slot);
  return APPLIED_KEY_LEN;
}

static void applied_put(worker_t *w, uint32_t slot) {
  replication_t *r = w->repl;
  uint8_t key[APPLIED_KEY_LEN], value[16];
  keys_put_u64(value, r->applied_epoch[slot]);
  keys_put_u64(value + 8, r->applied_seq[slot]);
  store_put(w->store, STORE_CF_DEFAULT, key, applied_key(key, slot), value, sizeof value);
}

static void ring_clear(stream_t *st) {
  st->head = st->n = 0;
  st->acked_seq = st->sent_seq;
}

static void ring_push(stream_t *st, uint64_t batch, uint64_t now) {
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 64;
    unacked_t *grown = malloc(cap * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory for replication");
    for (size_t i = 0; i < st->n; i++) grown[i] = st->ring[(st->head + i) % (st->cap ? st->cap : 1)];
    free(st->ring);
    st->ring = grown;
    st->cap = cap;
    st->head = 0;
  }
  st->ring[(st->head + st->n) % st->cap] = (unacked_t){batch, now, uv_hrtime()};
  st->n++;
}

static const unacked_t *ring_oldest(const stream_t *st) {
  return st->n > 0 ? &st->ring[st->head] : NULL;
}

static void ring_pop(stream_t *st) {
  st->head = (st->head + 1) % st->cap;
  st->n--;
}

static void stream_free(stream_t *st) {
  free(st->ring);
  memset(st, 0, sizeof *st);
}

/* ------------------------------------------------------------ connections */

static void conn_drain(rconn_t *c);

static void on_conn_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  conn_drain(poll->data);
}

static void on_conn_closed(uv_handle_t *handle) { free(handle->data); }

static void conn_close(rconn_t *c) {
  uv_poll_stop(&c->poll);
  dealer_destroy(&c->dealer);
  c->poll.data = c;
  uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

/* The connection to follower `id` at its map endpoint; NULL when it has
 * none or it cannot be made. */
static rconn_t *conn_get(worker_t *w, uint32_t id) {
  replication_t *r = w->repl;
  const char *endpoint = worker_endpoint(w, id);
  if (w->zmq_ctx == NULL || w->identity == NULL || w->stopping) return NULL;
  if (endpoint == NULL || endpoint[0] == '\0') return NULL;
  for (size_t i = 0; i < r->n_conns; i++) {
    rconn_t *c = r->conns[i];
    if (c->worker != id) continue;
    if (strcmp(dealer_endpoint(c->dealer), endpoint) == 0) return c;
    conn_close(c); /* moved: reconnect */
    r->conns[i] = r->conns[--r->n_conns];
    break;
  }
  if (r->n_conns == REPL_MAX_CONNS) return NULL;
  rconn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  int fd = -1;
  size_t fd_len = sizeof fd;
  curve_client_t keys;
  const curve_client_t *curve = identity_client_to(w->identity, w->map, endpoint, &keys);
  if (dealer_new(&c->dealer, w->zmq_ctx, endpoint, curve) < 0) {
    free(c);
    return NULL;
  }
  /* Sends to an unreachable follower fail at once (the stream is then
   * given up and copied again later) instead of queueing. */
  int immediate = 1, hwm = 100000;
  zmq_setsockopt(dealer_socket(c->dealer), ZMQ_IMMEDIATE, &immediate, sizeof immediate);
  zmq_setsockopt(dealer_socket(c->dealer), ZMQ_SNDHWM, &hwm, sizeof hwm);
  if (zmq_getsockopt(dealer_socket(c->dealer), ZMQ_FD, &fd, &fd_len) != 0 ||
      uv_poll_init(w->loop, &c->poll, fd) != 0) {
    dealer_destroy(&c->dealer);
    free(c);
    return NULL;
  }
  c->worker = id;
  c->w = w;
  c->opened_ms = clock_monotonic_ms();
  c->serial = ++r->conn_serial;
  c->poll.data = c;
  uv_poll_start(&c->poll, UV_READABLE, on_conn_poll);
  r->conns[r->n_conns++] = c;
  return c;
}

/* ------------------------------------------------------------ summary lines */

static void summary_log(const summary_t *sum) {
  char list[96];
  slot_list_format(list, sizeof list, sum->named, REPL_SUMMARY_SLOTS, sum->slots);
  switch (sum->kind) {
    case SUM_COPY_SENT:
      log_info("full copy sent to follower %u: %zu slots, %llu keys (%s)", sum->peer, sum->slots,
               (unsigned long long)sum->keys, list);
      break;
    case SUM_CAUGHT_UP:
      log_info("follower %u caught up on %zu slots (%s); reporting it in sync", sum->peer,
               sum->slots, list);
      break;
    case SUM_IN_SYNC:
      log_info("follower %u is in sync for %zu slots (%s)", sum->peer, sum->slots, list);
      break;
    case SUM_COPY_TAKEN:
      log_info("taking a full copy from primary %u: %zu slots (%s)", sum->peer, sum->slots, list);
      break;
    case SUM_COPY_DONE:
      log_info("full copy from primary %u complete: %zu slots (%s)", sum->peer, sum->slots, list);
      break;
    case SUM_OUT:
    case SUM_AGAIN:
      log_warn("follower %u %s: %zu slots (%s); %s", sum->peer, sum->why, sum->slots, list,
               sum->kind == SUM_OUT ? "reporting it out of sync" : "copying it again later");
      break;
  }
}

/* Logs and forgets the summaries gathered for REPL_SUMMARY_MS before
 * monotonic `now`, or all of them when `all`. */
static void summary_flush(replication_t *r, uint64_t now, int all) {
  size_t kept = 0;
  for (size_t i = 0; i < r->n_summaries; i++) {
    summary_t *sum = &r->summaries[i];
    if (all || now >= sum->first_ms + REPL_SUMMARY_MS)
      summary_log(sum);
    else
      r->summaries[kept++] = *sum;
  }
  r->n_summaries = kept;
}

/* Counts one slot's event of `kind` with `peer` (and `why`, which may be
 * NULL; copied) into its summary line. */
static void summary_note(replication_t *r, summary_kind_t kind, uint32_t peer, uint32_t slot,
                         uint64_t keys, const char *why) {
  summary_t *sum = NULL;
  char cut[sizeof sum->why];
  snprintf(cut, sizeof cut, "%s", why ? why : "");
  for (size_t i = 0; i < r->n_summaries && sum == NULL; i++)
    if (r->summaries[i].kind == kind && r->summaries[i].peer == peer &&
        strcmp(r->summaries[i].why, cut) == 0)
      sum = &r->summaries[i];
  if (sum == NULL) {
    if (r->n_summaries == REPL_SUMMARY_MAX) summary_flush(r, 0, 1);
    sum = &r->summaries[r->n_summaries++];
    *sum = (summary_t){.kind = kind, .peer = peer, .first_ms = clock_monotonic_ms()};
    memcpy(sum->why, cut, sizeof cut);
  }
  if (sum->slots < REPL_SUMMARY_SLOTS) sum->named[sum->slots] = slot;
  sum->slots++;
  sum->keys += keys;
}

/* ------------------------------------------------------------ open, close */

int replication_open(worker_t *w) {
  replication_t *r = calloc(1, sizeof *r);
  if (r == NULL) return TALLY_E_NOMEM;
  w->repl = r;
  if (getrandom(&r->run, sizeof r->run, 0) != (ssize_t)sizeof r->run)
    r->run = clock_now_ms() ^ ((uint64_t)getpid() << 40);
  if (r->run == 0) r->run = 1;
  uint8_t upper[sizeof APPLIED_PREFIX];
  size_t upper_len =
      keys_prefix_end(upper, (const uint8_t *)APPLIED_PREFIX, sizeof APPLIED_PREFIX - 1);
  store_iter_t *it = store_iter_new(w->store, STORE_CF_DEFAULT, upper, upper_len);
  if (it == NULL) return TALLY_E_NOMEM;
  for (store_iter_seek(it, APPLIED_PREFIX, sizeof APPLIED_PREFIX - 1); store_iter_valid(it);
       store_iter_next(it)) {
    size_t key_len, len;
    const uint8_t *key = store_iter_key(it, &key_len);
    const uint8_t *value = store_iter_value(it, &len);
    if (key_len != APPLIED_KEY_LEN || len != 16) continue;
    uint32_t slot = keys_get_u16(key + sizeof APPLIED_PREFIX - 1);
    if (slot >= TALLY_SLOT_COUNT) continue;
    r->applied_epoch[slot] = keys_get_u64(value);
    r->applied_seq[slot] = keys_get_u64(value + 8);
  }
  int rc = store_iter_error(it);
  store_iter_destroy(&it);
  return rc;
}

/* One line of what replication cost since the start (nothing without R > 1). */
static void stats_log(const worker_t *w, const repl_stats_t *st) {
  if (st->messages == 0 && st->applied_messages == 0) return;
  log_info("replication: %llu batches written here; as primary %llu batches streamed in %llu "
           "messages (%llu appends, %llu changes), %llu acks, ack wait mean %.2f ms max %.2f ms, "
           "%llu acks before the local sync; as follower %llu messages (%llu appends, %llu changes)",
           (unsigned long long)w->written, (unsigned long long)st->batches,
           (unsigned long long)st->messages, (unsigned long long)st->appends,
           (unsigned long long)st->entries, (unsigned long long)st->acks,
           st->acks ? (double)st->ack_wait_ns / (double)st->acks / 1e6 : 0.0,
           (double)st->ack_wait_max_ns / 1e6, (unsigned long long)st->acked_before_local,
           (unsigned long long)st->applied_messages, (unsigned long long)st->applied_appends,
           (unsigned long long)st->applied_entries);
}

void replication_close(worker_t *w) {
  replication_t *r = w->repl;
  if (r == NULL) return;
  summary_flush(r, 0, 1);
  stats_log(w, &r->stats);
  w->repl = NULL;
  for (size_t i = 0; i < r->n_conns; i++) conn_close(r->conns[i]);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    for (size_t i = 0; i < r->slots[s].n; i++) stream_free(&r->slots[s].s[i]);
  free(r->changes);
  free(r->lags);
  free(r->isr);
  free(r);
}

/* ------------------------------------------------------------ primary: sending */

/* Queues an isr_change about the stream's follower (sent by the tick,
 * isr_flush). `reason` must be a string constant. */
static void isr_send(worker_t *w, uint32_t slot, stream_t *st, int in_sync, const char *reason) {
  replication_t *r = w->repl;
  st->isr_sent_ms = clock_monotonic_ms();
  for (size_t i = 0; i < r->n_isr; i++)
    if (r->isr[i].slot == slot && r->isr[i].follower_id == st->follower) {
      r->isr[i].in_sync = in_sync;
      r->isr[i].reason = (char *)reason;
      return;
    }
  if (r->n_isr == r->cap_isr) {
    size_t cap = r->cap_isr ? r->cap_isr * 2 : 64;
    Tally__IsrChange *grown = realloc(r->isr, cap * sizeof *grown);
    if (grown == NULL) return; /* resent after REPL_ISR_RESEND_MS */
    r->isr = grown;
    r->cap_isr = cap;
  }
  Tally__IsrChange *change = &r->isr[r->n_isr++];
  tally__isr_change__init(change);
  change->slot = slot;
  change->slot_epoch = r->slots[slot].slot_epoch;
  change->follower_id = st->follower;
  change->in_sync = in_sync;
  change->reason = (char *)reason;
}

/* Sends the queued isr_change reports as one message. */
static void isr_flush(worker_t *w) {
  replication_t *r = w->repl;
  if (r->n_isr == 0 || w->coordinator == NULL) return;
  Tally__IsrChange **ptrs = malloc(r->n_isr * sizeof *ptrs);
  if (ptrs == NULL) return;
  for (size_t i = 0; i < r->n_isr; i++) ptrs[i] = &r->isr[i];
  Tally__Envelope env;
  wire_envelope_init(&env, dealer_next_request_id(w->coordinator));
  r->isr[0].n_bundle = r->n_isr - 1;
  r->isr[0].bundle = ptrs + 1;
  env.body_case = TALLY__ENVELOPE__BODY_ISR_CHANGE;
  env.isr_change = &r->isr[0];
  dealer_try_send(w->coordinator, &env);
  r->isr[0].n_bundle = 0;
  r->isr[0].bundle = NULL;
  free(ptrs);
  r->n_isr = 0;
}

/* The stream failed (no answer, refused, gap): out of the in-sync set,
 * by the coordinator's decision, then copied again. */
/* Closes the connection to follower `id` if nothing ever came back on it
 * in the REPL_COPY_RETRY_MS since it was made: its handshake may have been
 * refused (the follower did not know this worker's key yet, a new worker's
 * race with the map), and libzmq does not try a refused handshake again, so
 * every send on it would fail for ever. The next send makes a new one. A
 * younger connection is kept: its handshake may still be under way. */
static void conn_drop_if_silent(worker_t *w, uint32_t id) {
  replication_t *r = w->repl;
  uint64_t now = clock_monotonic_ms();
  for (size_t i = 0; i < r->n_conns; i++) {
    rconn_t *c = r->conns[i];
    if (c->worker != id || c->heard || now - c->opened_ms < REPL_COPY_RETRY_MS) continue;
    log_info("follower %u: no reply ever came on its connection; connecting again", id);
    conn_close(c);
    r->conns[i] = r->conns[--r->n_conns];
    return;
  }
}

/* The stream failed (no answer, refused, gap): out of the in-sync set,
 * by the coordinator's decision, then copied again. */
static void stream_fail(worker_t *w, uint32_t slot, stream_t *st, const char *why) {
  if (st->state == ST_IDLE || st->state == ST_WAIT_OUT) return;
  conn_drop_if_silent(w, st->follower);
  if (why != NULL) { /* NULL: the caller logged it for every slot at once */
    log_debug("slot %u: follower %u %s; %s", slot, st->follower, why,
              st->in_sync ? "reporting it out of sync" : "copying it again later");
    summary_note(w->repl, st->in_sync ? SUM_OUT : SUM_AGAIN, st->follower, slot, 0, why);
  }
  if (st->in_sync) {
    /* Unacknowledged appends keep their batches back; batches after now
     * are not sent to it and wait for the coordinator's answer. */
    if (st->state == ST_IN_SYNC) st->blocked_batch = w->written;
    st->state = ST_WAIT_OUT;
    isr_send(w, slot, st, 0, "lagging, refused or unreachable (see the primary's log)");
  } else {
    st->state = ST_IDLE;
    ring_clear(st);
    st->next_copy_ms = clock_monotonic_ms() + REPL_COPY_RETRY_MS;
  }
}

static int send_append(worker_t *w, uint32_t slot, stream_t *st, Tally__SlotEntry **entries,
                       size_t n, int reset, int done, uint64_t batch) {
  replication_t *r = w->repl;
  rconn_t *c = conn_get(w, st->follower);
  if (c == NULL) return TALLY_E_UNAVAILABLE;
  Tally__Envelope env;
  Tally__ReplicaAppend a = TALLY__REPLICA_APPEND__INIT;
  /* The slot rides in the request id, so an error reply names it. */
  uint64_t rid = ((uint64_t)(slot + 1) << 48) | (++r->next_request & 0xffffffffffffull);
  wire_envelope_init(&env, rid);
  a.slot = slot;
  a.slot_epoch = r->slots[slot].slot_epoch;
  a.primary_id = w->counters.worker_id;
  a.seq = st->sent_seq + 1;
  a.n_entries = n;
  a.entries = entries;
  a.reset = reset;
  a.snapshot_done = done;
  env.body_case = TALLY__ENVELOPE__BODY_REPLICA_APPEND;
  env.replica_append = &a;
  int rc = dealer_try_send(c->dealer, &env);
  if (rc < 0) return rc;
  st->sent_seq++;
  ring_push(st, batch, clock_monotonic_ms());
  return 0;
}

/* Entries of a copy: copied out of the iterator. */
typedef struct {
  Tally__SlotEntry *entries;
  Tally__SlotEntry **ptrs;
  size_t n, cap;
} copy_t;

static void copy_add(copy_t *c, uint32_t family, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t len) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    Tally__SlotEntry *grown = realloc(c->entries, cap * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory for a replica copy");
    c->entries = grown;
    c->cap = cap;
  }
  Tally__SlotEntry *e = &c->entries[c->n++];
  tally__slot_entry__init(e);
  e->family = family;
  e->key.data = malloc(key_len ? key_len : 1);
  e->value.data = malloc(len ? len : 1);
  if (e->key.data == NULL || e->value.data == NULL) fatal_exit("out of memory for a replica copy");
  memcpy(e->key.data, key, key_len);
  if (len) memcpy(e->value.data, value, len);
  e->key.len = key_len;
  e->value.len = len;
}

static void copy_free(copy_t *c) {
  for (size_t i = 0; i < c->n; i++) {
    free(c->entries[i].key.data);
    free(c->entries[i].value.data);
  }
  free(c->entries);
  free(c->ptrs);
}

static const store_cf_t copy_families[] = {STORE_CF_ITEMS, STORE_CF_QUEUE, STORE_CF_LEASES,
                                           STORE_CF_FEEDBACK, STORE_CF_CASES};

typedef struct {
  uint32_t slot;
  int found;
} slot_probe_t;

static void probe_change(void *user, uint32_t cf, const void *key, size_t key_len, int is_delete,
                         const void *value, size_t value_len) {
  slot_probe_t *p = user;
  (void)is_delete;
  (void)value;
  (void)value_len;
  if (cf < STORE_CF_COUNT && store_cf_is_slot_led((store_cf_t)cf) && key_len >= 2 &&
      keys_get_u16(key) == p->slot)
    p->found = 1;
}

/* True when a batch not yet known durable (open or sealed) changes `slot`:
 * a copy of it then carries changes that a failed write may drop. */
static int slot_has_unwritten(worker_t *w, uint32_t slot) {
  slot_probe_t p = {slot, 0};
  store_open_each(w->store, probe_change, &p);
  if (!p.found) store_sealed_each(w->store, probe_change, &p);
  return p.found;
}

/* Starts a full copy of `slot` to the stream's follower: reset, the slot's
 * keys as they are now (open and sealed batches included), snapshot_done;
 * every later batch's appends follow it. */
static void stream_copy(worker_t *w, uint32_t slot, stream_t *st) {
  replication_t *r = w->repl;
  copy_t c = {0};
  uint8_t prefix[2], upper[KEYS_MAX];
  keys_put_u16(prefix, (uint16_t)slot);
  size_t upper_len = keys_prefix_end(upper, prefix, 2);
  for (size_t f = 0; f < sizeof copy_families / sizeof copy_families[0]; f++) {
    store_iter_t *it = store_iter_new(w->store, copy_families[f], upper, upper_len);
    if (it == NULL) fatal_exit("out of memory for an iterator");
    for (store_iter_seek(it, prefix, 2); store_iter_valid(it); store_iter_next(it)) {
      size_t key_len, len;
      const uint8_t *key = store_iter_key(it, &key_len);
      const uint8_t *value = store_iter_value(it, &len);
      copy_add(&c, copy_families[f], key, key_len, value, len);
    }
    if (store_iter_error(it) < 0) fatal_exit("storage read failed copying a slot to a follower");
    store_iter_destroy(&it);
  }
  c.ptrs = calloc(c.n ? c.n : 1, sizeof *c.ptrs);
  if (c.ptrs == NULL) fatal_exit("out of memory for a replica copy");
  for (size_t i = 0; i < c.n; i++) c.ptrs[i] = &c.entries[i];
  /* A new stream: seqs above anything this process or an earlier one sent. */
  if (st->sent_seq < r->seq_base) st->sent_seq = r->seq_base;
  ring_clear(st);
  st->copy_seq = st->sent_seq + 1;
  size_t at = 0;
  int rc = 0, first = 1;
  while (rc == 0 && (first || at < c.n)) {
    size_t n = 0, bytes = 0;
    while (at + n < c.n && n < REPL_CHUNK_ENTRIES && bytes < REPL_CHUNK_BYTES) {
      bytes += c.entries[at + n].key.len + c.entries[at + n].value.len;
      n++;
    }
    int done = at + n == c.n;
    rc = send_append(w, slot, st, c.ptrs + at, n, first, done, w->written);
    at += n;
    first = 0;
  }
  size_t keys = c.n;
  copy_free(&c);
  if (rc < 0) {
    conn_drop_if_silent(w, st->follower);
    st->state = ST_IDLE;
    ring_clear(st);
    st->next_copy_ms = clock_monotonic_ms() + REPL_COPY_RETRY_MS;
    return;
  }
  st->done_seq = st->sent_seq;
  st->state = ST_COPYING;
  st->copy_conn = 0;
  for (size_t i = 0; i < r->n_conns; i++)
    if (r->conns[i]->worker == st->follower) st->copy_conn = r->conns[i]->serial;
  if (r->sent_batch < w->written + 1 && slot_has_unwritten(w, slot)) r->sent_batch = w->written + 1;
  log_debug("slot %u: full copy (%zu keys) sent to follower %u", slot, keys, st->follower);
  summary_note(r, SUM_COPY_SENT, st->follower, slot, keys, NULL);
}

static void collect_change(void *user, uint32_t cf, const void *key, size_t key_len,
                           int is_delete, const void *value, size_t value_len) {
  worker_t *w = user;
  replication_t *r = w->repl;
  if (cf >= STORE_CF_COUNT || !store_cf_is_slot_led((store_cf_t)cf) || key_len < 2) return;
  uint32_t slot = keys_get_u16(key);
  if (slot >= TALLY_SLOT_COUNT || !r->slots[slot].primary || r->slots[slot].n == 0) return;
  if (r->n_changes == r->cap_changes) {
    size_t cap = r->cap_changes ? r->cap_changes * 2 : 256;
    change_t *grown = realloc(r->changes, cap * sizeof *grown);
    if (grown == NULL) fatal_exit("out of memory for replication");
    r->changes = grown;
    r->cap_changes = cap;
  }
  change_t *c = &r->changes[r->n_changes++];
  c->slot = slot;
  tally__slot_entry__init(&c->entry);
  c->entry.family = cf;
  c->entry.key.data = (uint8_t *)key;
  c->entry.key.len = key_len;
  c->entry.value.data = (uint8_t *)value;
  c->entry.value.len = value_len;
  c->entry.deleted = is_delete;
}

static int change_cmp(const void *a, const void *b) {
  const change_t *x = a, *y = b;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int stream_live(const stream_t *st) {
  return st->state == ST_COPYING || st->state == ST_WAIT_IN || st->state == ST_IN_SYNC;
}

static stream_t *stream_of(rslot_t *rs, uint32_t follower);

/* Sends apps[0..n) (one per slot, each of a live stream to the same
 * follower) as one message: the first with the others in its bundle. */
static int send_bundle(worker_t *w, uint32_t follower, Tally__ReplicaAppend *apps,
                       Tally__ReplicaAppend **ptrs, size_t n) {
  replication_t *r = w->repl;
  rconn_t *c = conn_get(w, follower);
  if (c == NULL) return TALLY_E_UNAVAILABLE;
  Tally__Envelope env;
  uint64_t rid = ((uint64_t)(apps[0].slot + 1) << 48) | (++r->next_request & 0xffffffffffffull);
  wire_envelope_init(&env, rid);
  apps[0].n_bundle = n - 1;
  apps[0].bundle = ptrs + 1;
  env.body_case = TALLY__ENVELOPE__BODY_REPLICA_APPEND;
  env.replica_append = &apps[0];
  int rc = dealer_try_send(c->dealer, &env);
  apps[0].n_bundle = 0;
  apps[0].bundle = NULL;
  return rc;
}

/* A bundle stops at whichever comes first. */
#define REPL_BUNDLE_APPENDS 256
#define REPL_BUNDLE_ENTRIES 8192

void replication_on_batch(worker_t *w, uint64_t batch) {
  replication_t *r = w->repl;
  if (r == NULL || r->n_streams == 0) return;
  r->n_changes = 0;
  store_open_each(w->store, collect_change, w);
  if (r->n_changes == 0) return;
  r->stats.batches++;
  qsort(r->changes, r->n_changes, sizeof *r->changes, change_cmp);
  size_t n = r->n_changes;
  Tally__SlotEntry **entries = malloc(n * sizeof *entries);
  size_t *from = malloc((n + 1) * sizeof *from); /* start of each slot's run */
  Tally__ReplicaAppend *apps = malloc(n * sizeof *apps);
  Tally__ReplicaAppend **ptrs = malloc(n * sizeof *ptrs);
  stream_t **streams = malloc(n * sizeof *streams);
  uint32_t followers[REPL_MAX_CONNS];
  size_t n_followers = 0, runs = 0;
  if (!entries || !from || !apps || !ptrs || !streams) fatal_exit("out of memory for replication");
  for (size_t i = 0; i < n; i++) {
    entries[i] = &r->changes[i].entry;
    if (i == 0 || r->changes[i].slot != r->changes[i - 1].slot) from[runs++] = i;
  }
  from[runs] = n;
  /* The followers these slots stream to. */
  for (size_t k = 0; k < runs; k++) {
    const rslot_t *rs = &r->slots[r->changes[from[k]].slot];
    for (size_t f = 0; f < rs->n; f++) {
      int known = 0;
      for (size_t x = 0; x < n_followers; x++) known |= followers[x] == rs->s[f].follower;
      if (!known && n_followers < REPL_MAX_CONNS) followers[n_followers++] = rs->s[f].follower;
    }
  }
  uint64_t now = clock_monotonic_ms();
  for (size_t f = 0; f < n_followers; f++) {
    size_t m = 0, total = 0;
    for (size_t k = 0; k <= runs; k++) {
      stream_t *st = NULL;
      uint32_t slot = 0;
      if (k < runs) {
        slot = r->changes[from[k]].slot;
        st = w->owned[slot] ? stream_of(&r->slots[slot], followers[f]) : NULL;
        if (st != NULL && !stream_live(st)) st = NULL;
      }
      size_t count = k < runs ? from[k + 1] - from[k] : 0;
      /* Send what was gathered when the bundle is full or at the end. */
      if (m > 0 && (k == runs || m == REPL_BUNDLE_APPENDS ||
                    (st != NULL && total + count > REPL_BUNDLE_ENTRIES))) {
        int rc = send_bundle(w, followers[f], apps, ptrs, m);
        if (rc == 0) {
          r->stats.messages++;
          r->stats.appends += m;
          r->stats.entries += total;
        }
        for (size_t x = 0; x < m; x++) {
          if (rc < 0) {
            stream_fail(w, apps[x].slot, streams[x], "cannot be sent to");
            continue;
          }
          streams[x]->sent_seq++;
          ring_push(streams[x], batch, now);
          if (r->sent_batch < batch) r->sent_batch = batch;
        }
        m = total = 0;
      }
      if (st == NULL) continue;
      Tally__ReplicaAppend *a = &apps[m];
      tally__replica_append__init(a);
      a->slot = slot;
      a->slot_epoch = r->slots[slot].slot_epoch;
      a->primary_id = w->counters.worker_id;
      a->seq = st->sent_seq + 1;
      a->n_entries = count;
      a->entries = entries + from[k];
      ptrs[m] = a;
      streams[m] = st;
      total += count;
      m++;
    }
  }
  free(entries);
  free(from);
  free(apps);
  free(ptrs);
  free(streams);
  r->n_changes = 0;
}

uint64_t replication_acked(const worker_t *w) {
  const replication_t *r = w->repl;
  uint64_t mark = UINT64_MAX;
  if (r == NULL || r->n_streams == 0) return mark;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    const rslot_t *rs = &r->slots[s];
    if (!rs->primary) continue;
    for (size_t k = 0; k < rs->n; k++) {
      const stream_t *st = &rs->s[k];
      if (!st->in_sync) continue;
      const unacked_t *u = ring_oldest(st);
      if (u != NULL && u->batch - 1 < mark) mark = u->batch - 1;
      if (st->state != ST_IN_SYNC && st->blocked_batch < mark) mark = st->blocked_batch;
    }
  }
  return mark;
}

/* ------------------------------------------------------------ primary: acks */

static stream_t *stream_of(rslot_t *rs, uint32_t follower) {
  for (size_t k = 0; k < rs->n; k++)
    if (rs->s[k].follower == follower) return &rs->s[k];
  return NULL;
}

/* One ack of `follower` about slot ack->slot. */
static void on_ack(worker_t *w, uint32_t follower, const Tally__ReplicaAck *ack) {
  replication_t *r = w->repl;
  if (ack->slot >= TALLY_SLOT_COUNT) return;
  uint32_t slot = ack->slot;
  rslot_t *rs = &r->slots[slot];
  if (!rs->primary) return;
  stream_t *st = stream_of(rs, follower);
  if (st == NULL || !stream_live(st)) return;
  if (ack->fenced) {
    /* The follower knows of a newer primary; so may the map. */
    coordinator_link_fetch(w, REFRESH_MAP);
    stream_fail(w, slot, st, "refused an append (FENCED)");
    return;
  }
  if (ack->slot_epoch != rs->slot_epoch) return;
  /* A gap in an append of this copy's own stream (its seq at or past the
   * copy's first): the follower never got the copy's start, lost with a
   * process of it that died (the copy went into that connection). Waiting
   * for the copy's ack would take REPL_COPY_GIVE_UP_MS. */
  if (ack->need_snapshot && st->state == ST_COPYING && st->copy_seq > 0 &&
      ack->answers_seq >= st->copy_seq) {
    stream_fail(w, slot, st, "lost its copy (a gap in the copy's stream)");
    return;
  }
  if (ack->applied_seq < st->copy_seq) return; /* answers an earlier stream */
  if (ack->need_snapshot) {
    stream_fail(w, slot, st, "asked for a full copy");
    return;
  }
  if (ack->applied_seq > st->sent_seq) return;
  uint64_t now_ns = uv_hrtime();
  while (st->acked_seq < ack->applied_seq && st->n > 0) {
    const unacked_t *u = ring_oldest(st);
    uint64_t wait = now_ns - u->sent_ns;
    r->stats.acks++;
    r->stats.ack_wait_ns += wait;
    if (wait > r->stats.ack_wait_max_ns) r->stats.ack_wait_max_ns = wait;
    r->stats.acked_before_local += u->batch > w->durable;
    ring_pop(st);
    st->acked_seq++;
  }
  if (st->acked_seq < ack->applied_seq) st->acked_seq = ack->applied_seq;
  if (st->state == ST_COPYING && st->acked_seq >= st->done_seq) {
    log_debug("slot %u: follower %u caught up; reporting it in sync", slot, st->follower);
    summary_note(w->repl, SUM_CAUGHT_UP, st->follower, slot, 0, NULL);
    st->state = ST_WAIT_IN;
    isr_send(w, slot, st, 1, "caught up");
  }
}

/* The follower answers from a new process: copies sent to the old one and
 * not acknowledged may have died with it (written to its socket, never
 * read). Each is copied again rather than waited for until
 * REPL_COPY_GIVE_UP_MS while the new process answers other appends. (Its
 * in-sync streams fail by the ack timeout as ever.) */
static void follower_restarted(worker_t *w, uint32_t follower) {
  replication_t *r = w->repl;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    stream_t *st = r->slots[s].primary ? stream_of(&r->slots[s], follower) : NULL;
    if (st != NULL && st->state == ST_COPYING && st->n > 0)
      stream_fail(w, s, st, "answers from a new process: its copy may have died with the old one");
  }
}

static void on_reply(worker_t *w, rconn_t *c, const Tally__Envelope *env) {
  replication_t *r = w->repl;
  if (env->body_case == TALLY__ENVELOPE__BODY_REPLICA_ACK) {
    const Tally__ReplicaAck *ack = env->replica_ack;
    if (ack->follower_run != 0 && c->follower_run != 0 && ack->follower_run != c->follower_run)
      follower_restarted(w, c->worker);
    if (ack->follower_run != 0) c->follower_run = ack->follower_run;
    on_ack(w, c->worker, ack);
    for (size_t i = 0; i < ack->n_bundle; i++) on_ack(w, c->worker, ack->bundle[i]);
    worker_release_replies(w);
    return;
  }
  if (env->body_case != TALLY__ENVELOPE__BODY_ERROR) return;
  char why[300];
  snprintf(why, sizeof why, "refused an append (%s: %.200s)",
           tally_error_name(tally_error_from_wire((int)env->error->code)),
           env->error->message ? env->error->message : "");
  uint64_t tag = env->request_id >> 48;
  if (env->error->code == TALLY__ERROR_CODE__FENCED && tag > 0 && tag <= TALLY_SLOT_COUNT) {
    /* One append alone (a copy's): its slot is in the request id. */
    uint32_t slot = (uint32_t)(tag - 1);
    stream_t *st = r->slots[slot].primary ? stream_of(&r->slots[slot], c->worker) : NULL;
    coordinator_link_fetch(w, REFRESH_MAP);
    if (st != NULL) stream_fail(w, slot, st, why);
    return;
  }
  /* A refused bundle: every stream to the follower that waits for it. A
   * full follower (NO_SPACE) refuses everything until it has room, so all
   * its streams fail, also those with nothing unacknowledged (it leaves
   * every in-sync set, rather than one slot's at each slot's next write,
   * and is not promoted to a primary that could not write); one log line
   * for all of them, and copies to it are tried less often. */
  int full = env->error->code == TALLY__ERROR_CODE__NO_SPACE;
  uint64_t now = clock_monotonic_ms();
  size_t failed = 0, in_sync = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    stream_t *st = r->slots[s].primary ? stream_of(&r->slots[s], c->worker) : NULL;
    if (st == NULL || !stream_live(st) || (st->n == 0 && !full)) continue;
    failed++;
    in_sync += st->in_sync;
    stream_fail(w, s, st, full ? NULL : why);
    if (full && st->state == ST_IDLE) st->next_copy_ms = now + REPL_FULL_RETRY_MS;
  }
  if (full && failed > 0 && (c->full_logged_ms == 0 || now - c->full_logged_ms >= REPL_FULL_LOG_MS)) {
    c->full_logged_ms = now;
    log_warn("follower %u %s: %zu slots' streams failed, %zu of them reported out of sync "
             "(their replies wait for the coordinator's answer, then go on without it); "
             "copies to it are tried every %d s",
             c->worker, why, failed, in_sync, REPL_FULL_RETRY_MS / 1000);
  }
}

static void conn_drain(rconn_t *c) {
  worker_t *w = c->w;
  for (;;) {
    Tally__Envelope *env = NULL;
    int rc = dealer_recv(c->dealer, 0, &env);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) break;
    c->heard = 1;
    c->reply_ms = clock_monotonic_ms();
    if (w->repl != NULL) on_reply(w, c, env);
    wire_envelope_free(&env);
  }
}

static void slot_delete_in_batch(worker_t *w, uint32_t slot);
static int move_fenced(const worker_t *w, uint32_t slot, uint64_t slot_epoch);

/* ------------------------------------------------------------ map */

/* This worker lost slot `slot`'s primacy: held replies of batches its
 * in-sync followers had not acknowledged are not acknowledged. */
static void slot_lost(worker_t *w, uint32_t slot) {
  replication_t *r = w->repl;
  rslot_t *rs = &r->slots[slot];
  uint64_t from = UINT64_MAX;
  for (size_t k = 0; k < rs->n; k++) {
    stream_t *st = &rs->s[k];
    if (!st->in_sync) continue;
    const unacked_t *u = ring_oldest(st);
    if (u != NULL && u->batch < from) from = u->batch;
    if (st->state != ST_IN_SYNC && st->blocked_batch + 1 < from) from = st->blocked_batch + 1;
  }
  for (size_t k = 0; k < rs->n; k++) stream_free(&rs->s[k]);
  r->n_streams -= rs->n;
  rs->n = 0;
  rs->primary = 0;
  if (from == UINT64_MAX) return;
  char message[160];
  snprintf(message, sizeof message,
           "worker %u is no longer the primary of slot %u: this write was not acknowledged by "
           "its followers; retry",
           w->counters.worker_id, slot);
  size_t n = reply_queue_fail_from(w->replies, from, TALLY_E_UNAVAILABLE, message);
  if (n > 0) log_warn("slot %u: lost its primacy; %zu replies answered UNAVAILABLE", slot, n);
}

/* A follower's copy of a slot it holds no more (not its follower, not its
 * owner by the map): dropped. */
static void follower_forget(worker_t *w, uint32_t slot) {
  replication_t *r = w->repl;
  slot_delete_in_batch(w, slot);
  item_cache_clear(w->items);
  r->applied_epoch[slot] = r->applied_seq[slot] = 0;
  uint8_t key[APPLIED_KEY_LEN];
  store_delete(w->store, STORE_CF_DEFAULT, key, applied_key(key, slot));
  w->batch_dirty = 1;
}

void replication_on_map(worker_t *w) {
  replication_t *r = w->repl;
  if (r == NULL) return;
  uint32_t me = w->counters.worker_id;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    rslot_t *rs = &r->slots[s];
    const Tally__SlotReplicas *sr = map_slot(w, s);
    int primary = w->owned[s] && sr != NULL && sr->n_followers > 0;
    uint64_t epoch = sr != NULL ? sr->slot_epoch : 0;
    if (rs->primary && (!primary || epoch != rs->slot_epoch)) slot_lost(w, s);
    if (r->fence_ms[s] != 0 && (epoch > r->fence_epoch[s] || !move_fenced(w, s, r->fence_epoch[s])))
      r->fence_ms[s] = 0; /* the move flipped (a newer slot epoch) or was given up */
    if (!primary) {
      /* A copy held as a follower that the map no longer gives here (not
       * data a move brought that the map does not show here yet). */
      if (r->applied_epoch[s] != 0 && map_owner(w, s) != me && !slot_move_frozen(w, s) &&
          r->fence_ms[s] == 0 &&
          !(sr != NULL && id_in(sr->followers, sr->n_followers, me)) && w->map != NULL &&
          w->map->replicas > 1)
        follower_forget(w, s);
      continue;
    }
    if (!rs->primary) {
      rs->primary = 1;
      rs->slot_epoch = epoch;
      rs->n = 0;
    }
    /* The followers the map names, streams kept where they were. */
    stream_t kept[REPL_MAX_FOLLOWERS];
    size_t n = 0;
    for (size_t i = 0; i < sr->n_followers && n < REPL_MAX_FOLLOWERS; i++) {
      uint32_t f = sr->followers[i];
      if (f == 0 || f == me) continue;
      int dup = 0;
      for (size_t k = 0; k < n; k++) dup |= kept[k].follower == f;
      if (dup) continue;
      stream_t *old = stream_of(rs, f);
      if (old != NULL) {
        kept[n] = *old;
        old->follower = 0; /* taken */
      } else {
        memset(&kept[n], 0, sizeof kept[n]);
        kept[n].follower = f;
        kept[n].state = ST_IDLE;
        kept[n].blocked_batch = w->written;
      }
      n++;
    }
    for (size_t k = 0; k < rs->n; k++)
      if (rs->s[k].follower != 0) stream_free(&rs->s[k]);
    r->n_streams -= rs->n;
    memcpy(rs->s, kept, n * sizeof kept[0]);
    rs->n = n;
    r->n_streams += n;
    for (size_t k = 0; k < n; k++) {
      stream_t *st = &rs->s[k];
      int in = id_in(sr->in_sync, sr->n_in_sync, st->follower);
      if (in && !st->in_sync) {
        if (st->state == ST_WAIT_IN) {
          st->state = ST_IN_SYNC;
          log_debug("slot %u: follower %u is in sync", s, st->follower);
          summary_note(r, SUM_IN_SYNC, st->follower, s, 0, NULL);
        } else if (st->state != ST_IN_SYNC) {
          st->blocked_batch = w->written;
        }
      } else if (!in && st->in_sync) {
        if (st->state == ST_IN_SYNC || st->state == ST_WAIT_OUT) {
          st->state = ST_IDLE;
          ring_clear(st);
          st->next_copy_ms = 0;
        }
      }
      st->in_sync = in;
      (void)conn_get(w, st->follower); /* connect ahead of the first append */
    }
  }
  worker_release_replies(w);
}

void replication_resync_all(worker_t *w, const char *why) {
  replication_t *r = w->repl;
  /* Nothing of the dropped batches (after w->durable) was sent: the
   * followers hold nothing to take back (a full primary whose map writes
   * fail would otherwise copy its followers again at every map change,
   * each copy changing the map again). */
  if (r == NULL || r->sent_batch <= w->durable) return;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    for (size_t k = 0; r->slots[s].primary && k < r->slots[s].n; k++)
      stream_fail(w, s, &r->slots[s].s[k], why);
  r->sent_batch = w->durable;
}

/* ------------------------------------------------------------ tick */

/* Copies not yet acknowledged, per follower. */
typedef struct {
  uint32_t follower[REPL_MAX_CONNS];
  int count[REPL_MAX_CONNS];
  size_t n;
} copying_t;

static int *copying_slot(copying_t *c, uint32_t follower) {
  for (size_t i = 0; i < c->n; i++)
    if (c->follower[i] == follower) return &c->count[i];
  if (c->n == REPL_MAX_CONNS) return NULL;
  c->follower[c->n] = follower;
  c->count[c->n] = 0;
  return &c->count[c->n++];
}

static void copying_add(copying_t *c, uint32_t follower, int delta) {
  int *count = copying_slot(c, follower);
  if (count != NULL) *count += delta;
}

static int copying_of(copying_t *c, uint32_t follower) {
  int *count = copying_slot(c, follower);
  return count != NULL ? *count : REPL_COPIES_IN_FLIGHT;
}

static void copying_count(const worker_t *w, copying_t *c) {
  const replication_t *r = w->repl;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    for (size_t k = 0; r->slots[s].primary && k < r->slots[s].n; k++)
      if (r->slots[s].s[k].state == ST_COPYING) copying_add(c, r->slots[s].s[k].follower, 1);
}

/* The stream's oldest unacknowledged append `u` waited too long: 1 s for a
 * follower in sync; for a copy, REPL_COPY_ACK_TIMEOUT_MS with nothing at
 * all from the follower since, or REPL_COPY_GIVE_UP_MS. */
static int stream_overdue(const worker_t *w, const stream_t *st, const unacked_t *u, uint64_t now) {
  uint64_t waited = now - u->sent_ms;
  if (st->in_sync) return waited > REPLICATION_ACK_TIMEOUT_MS;
  if (waited > REPL_COPY_GIVE_UP_MS) return 1;
  const replication_t *r = w->repl;
  const rconn_t *c = NULL;
  for (size_t i = 0; i < r->n_conns && c == NULL; i++)
    if (r->conns[i]->worker == st->follower) c = r->conns[i];
  /* The connection the copy went on is gone (the follower moved to a new
   * endpoint, a restart): so is the copy. */
  if (st->state == ST_COPYING && (c == NULL || c->serial != st->copy_conn)) return 1;
  if (waited <= REPL_COPY_ACK_TIMEOUT_MS) return 0;
  if (c == NULL) return 1;
  return c->reply_ms < u->sent_ms || now - c->reply_ms > REPL_COPY_ACK_TIMEOUT_MS;
}

void replication_tick(worker_t *w, uint64_t now) {
  replication_t *r = w->repl;
  if (r == NULL) return;
  for (size_t i = 0; i < r->n_conns; i++) conn_drain(r->conns[i]);
  summary_flush(r, now, 0);
  if (r->n_streams == 0) return;
  if (r->seq_base == 0) r->seq_base = w->counters.incarnation << 32;
  size_t copies = 0;
  copying_t copying = {0};
  copying_count(w, &copying);
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    rslot_t *rs = &r->slots[s];
    if (!rs->primary || !w->owned[s]) continue;
    for (size_t k = 0; k < rs->n; k++) {
      stream_t *st = &rs->s[k];
      const unacked_t *u = ring_oldest(st);
      if (stream_live(st) && u != NULL && stream_overdue(w, st, u, now)) {
        if (st->state == ST_COPYING) copying_add(&copying, st->follower, -1);
        stream_fail(w, s, st, st->in_sync ? "did not acknowledge an append within 1 s"
                                          : "did not acknowledge its copy in time");
        continue;
      }
      switch (st->state) {
        case ST_IDLE:
          if (st->in_sync) {
            st->state = ST_WAIT_OUT;
            isr_send(w, s, st, 0, "primary restarted or stream lost: copying it again");
          } else if (now >= st->next_copy_ms && copies < REPL_COPIES_PER_TICK && w->registered &&
                     worker_up(w, st->follower) &&
                     copying_of(&copying, st->follower) < REPL_COPIES_IN_FLIGHT) {
            stream_copy(w, s, st);
            copies++;
            if (st->state == ST_COPYING) copying_add(&copying, st->follower, 1);
          }
          break;
        case ST_WAIT_OUT:
          if (now - st->isr_sent_ms >= REPL_ISR_RESEND_MS) isr_send(w, s, st, 0, "still out of sync");
          break;
        case ST_WAIT_IN:
          if (now - st->isr_sent_ms >= REPL_ISR_RESEND_MS) isr_send(w, s, st, 1, "caught up");
          break;
        default:
          break;
      }
    }
  }
  for (size_t i = 0; i < r->n_conns; i++) conn_drain(r->conns[i]);
  isr_flush(w);
  worker_release_replies(w);
}

size_t replication_lags(worker_t *w, Tally__ReplicaLag ***out) {
  replication_t *r = w->repl;
  *out = NULL;
  if (r == NULL || r->n_streams == 0) return 0;
  if (r->cap_lags < r->n_streams) {
    Tally__ReplicaLag **grown = realloc(r->lags, r->n_streams * sizeof *grown);
    if (grown == NULL) return 0;
    r->lags = grown;
    r->cap_lags = r->n_streams;
  }
  uint64_t now = clock_monotonic_ms();
  size_t n = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT && n < r->n_streams; s++) {
    rslot_t *rs = &r->slots[s];
    if (!rs->primary) continue;
    for (size_t k = 0; k < rs->n && n < r->n_streams; k++) {
      stream_t *st = &rs->s[k];
      tally__replica_lag__init(&st->lag);
      st->lag.slot = s;
      st->lag.follower_id = st->follower;
      st->lag.sent_seq = st->sent_seq;
      st->lag.acked_seq = st->acked_seq;
      const unacked_t *u = ring_oldest(st);
      st->lag.lag_ms = u != NULL ? now - u->sent_ms : 0;
      r->lags[n++] = &st->lag;
    }
  }
  *out = r->lags;
  return n;
}

/* ------------------------------------------------------------ follower */

/* Deletes every key of `slot` in the slot-led families through the open
 * batch (reads see the batches, so earlier appends of this group too). */
static void slot_delete_in_batch(worker_t *w, uint32_t slot) {
  uint8_t prefix[2], upper[KEYS_MAX];
  keys_put_u16(prefix, (uint16_t)slot);
  size_t upper_len = keys_prefix_end(upper, prefix, 2);
  for (size_t f = 0; f < sizeof copy_families / sizeof copy_families[0]; f++) {
    store_iter_t *it = store_iter_new(w->store, copy_families[f], upper, upper_len);
    if (it == NULL) fatal_exit("out of memory for an iterator");
    copy_t keys = {0};
    for (store_iter_seek(it, prefix, 2); store_iter_valid(it); store_iter_next(it)) {
      size_t key_len;
      const uint8_t *key = store_iter_key(it, &key_len);
      copy_add(&keys, copy_families[f], key, key_len, NULL, 0);
    }
    if (store_iter_error(it) < 0) fatal_exit("storage read failed dropping a replica's slot");
    store_iter_destroy(&it);
    for (size_t i = 0; i < keys.n; i++)
      store_delete(w->store, copy_families[f], keys.entries[i].key.data, keys.entries[i].key.len);
    copy_free(&keys);
  }
  w->batch_dirty = 1;
}

static void reply_refused(worker_t *w, const router_request_t *req, int code, const char *why,
                          uint32_t slot) {
  worker_reply_error(w, req->peer, req->peer_len, req->env->request_id, code, "slot %u: %s", slot,
                     why);
  reply_queue_mark_local(w->replies);
}

/* Checks one append's entries. NULL, or why it is refused. */
static const char *append_invalid(const Tally__ReplicaAppend *a, char *why, size_t size) {
  if (a->slot >= TALLY_SLOT_COUNT) return "slot out of range";
  for (size_t i = 0; i < a->n_entries; i++) {
    const Tally__SlotEntry *e = a->entries[i];
    if (e->family >= STORE_CF_COUNT || !store_cf_is_slot_led((store_cf_t)e->family) ||
        e->key.len < 2 || e->key.len > KEYS_MAX || keys_get_u16(e->key.data) != a->slot ||
        (e->deleted && e->value.len != 0)) {
      snprintf(why, size, "entry %zu of the append is not a key of the slot", i);
      return why;
    }
  }
  return NULL;
}

/* 1 when a move into this worker fences appends of `slot_epoch`. */
static int move_fenced(const worker_t *w, uint32_t slot, uint64_t slot_epoch) {
  const replication_t *r = w->repl;
  return r->fence_ms[slot] != 0 && slot_epoch <= r->fence_epoch[slot] &&
         clock_monotonic_ms() - r->fence_ms[slot] < REPLICATION_MOVE_FENCE_MS;
}

void replication_on_move_in(worker_t *w, uint32_t slot) {
  replication_t *r = w->repl;
  if (r == NULL || slot >= TALLY_SLOT_COUNT) return;
  const Tally__SlotReplicas *sr = map_slot(w, slot);
  uint64_t epoch = sr != NULL ? sr->slot_epoch : 0;
  if (r->applied_epoch[slot] > epoch) epoch = r->applied_epoch[slot];
  r->fence_epoch[slot] = epoch;
  r->fence_ms[slot] = clock_monotonic_ms();
}

/* Why this worker refuses `a` as FENCED, or NULL. */
static const char *append_fenced(const worker_t *w, const Tally__ReplicaAppend *a) {
  const replication_t *r = w->repl;
  uint32_t slot = a->slot, me = w->counters.worker_id;
  const Tally__SlotReplicas *sr = map_slot(w, slot);
  uint64_t map_epoch = sr != NULL ? sr->slot_epoch : 0;
  if (w->owned[slot] || map_owner(w, slot) == me) return "this worker is the slot's primary";
  if (move_fenced(w, slot, a->slot_epoch))
    return "the slot's newer data came here by a slot move; this append is older";
  if (a->primary_id == me) return "an append from this worker itself";
  if (a->slot_epoch < map_epoch || a->slot_epoch < r->applied_epoch[slot])
    return "the sender's slot epoch is older than this worker's";
  if (a->slot_epoch == map_epoch && map_owner(w, slot) != a->primary_id)
    return "the sender is not the slot's primary in this slot epoch";
  return NULL;
}

/* Applies one append (checked) into the open batch and fills its ack. */
static void append_apply(worker_t *w, const Tally__ReplicaAppend *a, Tally__ReplicaAck *ack) {
  replication_t *r = w->repl;
  uint32_t slot = a->slot;
  uint64_t *epoch = &r->applied_epoch[slot], *seq = &r->applied_seq[slot];
  ack->slot = slot;
  if (append_fenced(w, a) != NULL || slot_move_frozen(w, slot)) {
    ack->slot_epoch = a->slot_epoch;
    ack->fenced = 1;
    return;
  }
  if (a->reset) {
    if (a->slot_epoch == *epoch && a->seq <= *seq) {
      ack->slot_epoch = *epoch; /* a copy already taken over */
      ack->applied_seq = *seq;
      return;
    }
    /* A fresh copy: what is held of the slot is deleted in this batch,
     * with the copy's first entries (no write of its own: a follower
     * taking many copies at once stays responsive). */
    slot_delete_in_batch(w, slot);
    item_cache_clear(w->items); /* items deleted around the cache */
    if (*epoch != a->slot_epoch) {
      log_debug("slot %u: taking a full copy from primary %u (slot epoch %llu)", slot,
                a->primary_id, (unsigned long long)a->slot_epoch);
      summary_note(w->repl, SUM_COPY_TAKEN, a->primary_id, slot, 0, NULL);
    }
  } else if (a->slot_epoch != *epoch || a->seq > *seq + 1) {
    ack->slot_epoch = a->slot_epoch;
    ack->applied_seq = a->slot_epoch == *epoch ? *seq : 0;
    ack->need_snapshot = 1;
    ack->answers_seq = a->seq;
    return;
  } else if (a->seq <= *seq) {
    ack->slot_epoch = *epoch; /* a repeat */
    ack->applied_seq = *seq;
    return;
  }
  for (size_t i = 0; i < a->n_entries; i++) {
    const Tally__SlotEntry *e = a->entries[i];
    /* Written around the cache: that key only (clearing the whole cache
     * here, once per append message, emptied the cache of the slots this
     * worker serves as a primary, docs/PERFORMANCE.md). */
    if (e->family == STORE_CF_ITEMS) item_cache_forget(w->items, e->key.data, e->key.len);
    if (e->deleted)
      store_delete(w->store, (store_cf_t)e->family, e->key.data, e->key.len);
    else
      store_put(w->store, (store_cf_t)e->family, e->key.data, e->key.len, e->value.data,
                e->value.len);
  }
  *epoch = a->slot_epoch;
  *seq = a->seq;
  applied_put(w, slot);
  w->batch_dirty = 1;
  ack->slot_epoch = *epoch;
  ack->applied_seq = *seq;
  if (a->snapshot_done) {
    log_debug("slot %u: full copy from primary %u complete", slot, a->primary_id);
    summary_note(w->repl, SUM_COPY_DONE, a->primary_id, slot, 0, NULL);
  }
}

void replication_handle_append(worker_t *w, const router_request_t *req) {
  replication_t *r = w->repl;
  const Tally__ReplicaAppend *a = req->env->replica_append;
  size_t n = 1 + a->n_bundle;
  char why[96];
  if (r == NULL || n > REPL_BUNDLE_MAX) {
    reply_refused(w, req, TALLY_E_INVALID_ARGUMENT, "too many appends in one message", a->slot);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const Tally__ReplicaAppend *one = i == 0 ? a : a->bundle[i - 1];
    const char *bad = append_invalid(one, why, sizeof why);
    if (bad == NULL && i > 0 && one->n_bundle > 0) bad = "a bundled append holds a bundle";
    if (bad != NULL) {
      reply_refused(w, req, TALLY_E_INVALID_ARGUMENT, bad, one->slot);
      return;
    }
  }
  if (w->map == NULL) {
    reply_refused(w, req, TALLY_E_UNAVAILABLE, "this worker has not joined the cluster yet", a->slot);
    return;
  }
  /* The primary may know a newer map than ours. */
  for (size_t i = 0; i < n; i++) {
    const Tally__ReplicaAppend *one = i == 0 ? a : a->bundle[i - 1];
    const Tally__SlotReplicas *sr = map_slot(w, one->slot);
    if (one->slot_epoch > (sr != NULL ? sr->slot_epoch : 0) && worker_await_refresh(w, REFRESH_MAP))
      return;
  }
  /* One append alone, refused: the contract's FENCED error. */
  const char *fenced = n == 1 ? append_fenced(w, a) : NULL;
  if (fenced != NULL) {
    reply_refused(w, req, TALLY_E_FENCED, fenced, a->slot);
    return;
  }
  Tally__ReplicaAck *acks = calloc(n, sizeof *acks);
  Tally__ReplicaAck **ptrs = calloc(n, sizeof *ptrs);
  if (acks == NULL || ptrs == NULL) fatal_exit("out of memory for replica acks");
  for (size_t i = 0; i < n; i++) {
    const Tally__ReplicaAppend *one = i == 0 ? a : a->bundle[i - 1];
    tally__replica_ack__init(&acks[i]);
    append_apply(w, one, &acks[i]);
    r->stats.applied_entries += one->n_entries;
    ptrs[i] = &acks[i];
  }
  r->stats.applied_messages++;
  r->stats.applied_appends += n;
  Tally__Envelope env;
  wire_envelope_init(&env, req->env->request_id);
  acks[0].n_bundle = n - 1;
  acks[0].bundle = ptrs + 1;
  acks[0].follower_run = r->run;
  env.body_case = TALLY__ENVELOPE__BODY_REPLICA_ACK;
  env.replica_ack = &acks[0];
  worker_reply(w, req->peer, req->peer_len, &env);
  reply_queue_mark_local(w->replies);
  free(acks);
  free(ptrs);
}
