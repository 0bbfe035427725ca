/* slot_move: live slot migration on the worker. See slot_move.h. */
#include "slot_move.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "ops.h"
#include "quality.h"
#include "replication.h"
#include "slot_state.h"
#include "tally_error.h"
#include "wellbeing.h"
#include "wire.h"
#include "worker_internal.h"

#define MOVE_JOBS_MAX 16
/* A chunk stops at whichever comes first. Small enough that one round trip
 * (the target's synced write included) keeps the source's loop responsive. */
#define MOVE_CHUNK_ENTRIES 2048
#define MOVE_CHUNK_BYTES (256u << 10)
/* A target that does not answer a chunk within this ends the attempt. Move
 * chunks are answered on the loop (the source keeps serving meanwhile);
 * hand-over chunks are waited for, so theirs stays well below the
 * coordinator's heartbeat timeout. */
#define MOVE_CHUNK_TIMEOUT_MS 5000
#define HANDOFF_CHUNK_TIMEOUT_MS 1500
#define MOVE_DONE_RESEND_MS 2000

static const char MOVE_KEY_PREFIX[] = "move";
#define MOVE_KEY_LEN (sizeof MOVE_KEY_PREFIX - 1 + 2)

/* The slot-led families in the order they are copied. */
static const store_cf_t move_families[] = {STORE_CF_ITEMS, STORE_CF_QUEUE, STORE_CF_LEASES,
                                           STORE_CF_FEEDBACK, STORE_CF_CASES};
#define MOVE_FAMILIES (sizeof move_families / sizeof move_families[0])

/* QUEUED -> FREEZING (freeze record in the open batch) -> STREAMING (once a
 * synced write carried it) -> WAIT_FLIP (done reported). */
typedef enum { JOB_QUEUED, JOB_FREEZING, JOB_STREAMING, JOB_WAIT_FLIP } job_state_t;

typedef struct {
  Tally__SlotMove *move; /* owned copy */
  job_state_t state;
  size_t family;         /* index into move_families */
  uint8_t resume[KEYS_MAX + 1];
  size_t resume_len;
  uint32_t seq;
  uint64_t entries, bytes;
  uint64_t done_sent_ms;
  uint64_t freeze_commit; /* the batch (w->written) holding the freeze */
  char error[256];       /* set when the copy failed */
} move_job_t;

struct slot_moves {
  uint64_t frozen[TALLY_SLOT_COUNT];
  uint32_t frozen_target[TALLY_SLOT_COUNT];
  move_job_t jobs[MOVE_JOBS_MAX];
  size_t n_jobs;
  uv_idle_t idle;
  int idle_on, idle_open;
  dealer_t *peer;             /* hand-over chunks (blocking, rare) */
  struct peer_conn *conn;     /* move chunks: replies read from the loop */
  uint64_t await_id;          /* request id of the chunk in flight; 0 = none */
  uint64_t await_move_id;
  uint64_t await_deadline_ms; /* monotonic */
  size_t await_n, await_bytes;
  int await_last;
  /* Target side: slots fully received whose flip this worker has not seen
   * yet (monotonic ms of the last chunk; 0 = none). The map is fetched
   * every tick meanwhile, so the slot is served moments after the flip,
   * not a heartbeat later. */
  uint64_t received_ms[TALLY_SLOT_COUNT];
  size_t n_received;
  /* Handing the per-worker sums over (a drained worker); 0 = not doing so. */
  uint32_t handoff_target;
  uint32_t handoff_seq;
  char handoff_endpoint[256];
};

/* ------------------------------------------------------------ helpers */

static Tally__SlotMove *move_copy(const Tally__SlotMove *m) {
  size_t len = tally__slot_move__get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) fatal_exit("out of memory");
  tally__slot_move__pack(m, buf);
  Tally__SlotMove *copy = tally__slot_move__unpack(NULL, len, buf);
  free(buf);
  if (copy == NULL) fatal_exit("out of memory");
  return copy;
}

static size_t move_key(uint8_t *out, uint32_t slot) {
  memcpy(out, MOVE_KEY_PREFIX, sizeof MOVE_KEY_PREFIX - 1);
  keys_put_u16(out + sizeof MOVE_KEY_PREFIX - 1, (uint16_t)slot);
  return MOVE_KEY_LEN;
}

static void freeze_record_put(worker_t *w, const Tally__SlotMove *m) {
  uint8_t key[MOVE_KEY_LEN];
  size_t len = tally__slot_move__get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) fatal_exit("out of memory");
  tally__slot_move__pack(m, buf);
  store_put(w->store, STORE_CF_DEFAULT, key, move_key(key, m->slot), buf, len);
  free(buf);
}

static uint32_t map_owner(const worker_t *w, uint32_t slot) {
  if (w->map == NULL || slot >= w->map->n_slot_owner) return 0;
  return w->map->slot_owner[slot];
}

static void job_remove(struct slot_moves *m, size_t i) {
  if (m->await_id != 0 && m->await_move_id == m->jobs[i].move->move_id)
    m->await_id = 0; /* a late reply finds no request */
  tally__slot_move__free_unpacked(m->jobs[i].move, NULL);
  memmove(&m->jobs[i], &m->jobs[i + 1], (m->n_jobs - i - 1) * sizeof m->jobs[0]);
  m->n_jobs--;
}

static move_job_t *job_of_slot(struct slot_moves *m, uint32_t slot) {
  for (size_t i = 0; i < m->n_jobs; i++)
    if (m->jobs[i].move->slot == slot) return &m->jobs[i];
  return NULL;
}

static void job_reset(move_job_t *job) {
  job->state = JOB_QUEUED;
  job->family = 0;
  keys_put_u16(job->resume, (uint16_t)job->move->slot);
  job->resume_len = 2;
  job->seq = 0;
  job->entries = job->bytes = 0;
  job->done_sent_ms = 0;
  job->freeze_commit = 0;
  job->error[0] = '\0';
}

static void idle_wake(worker_t *w);
static void conn_drop(worker_t *w);

/* ------------------------------------------------------------ freeze */

/* Ends the freeze of `slot` (record deleted in the open batch). `reload`:
 * the slot stays here, so it is served again. */
static void unfreeze(worker_t *w, uint32_t slot, int reload) {
  struct slot_moves *m = w->moves;
  uint8_t key[MOVE_KEY_LEN];
  store_delete(w->store, STORE_CF_DEFAULT, key, move_key(key, slot));
  m->frozen[slot] = 0;
  m->frozen_target[slot] = 0;
  if (reload && map_owner(w, slot) == w->counters.worker_id && w->counters.worker_id != 0) {
    w->owned[slot] = 1;
    if (slot_state_load(w, slot, 1) < 0) fatal_exit("cannot reload a slot whose move was given up");
  }
  w->batch_dirty = 1;
}

/* The target owns the slot now: drop our copy of it. */
static void finish(worker_t *w, uint32_t slot) {
  struct slot_moves *m = w->moves;
  log_info("slot %u now belongs to worker %u: dropping it here (move %llu)", slot,
           m->frozen_target[slot], (unsigned long long)m->frozen[slot]);
  /* No sync of its own: the delete and the freeze record's removal become
   * durable with the next group's synced write. A crash before that finds
   * the freeze record and the flipped map again, and drops again. */
  if (store_drop_slot(w->store, slot, 0) < 0) fatal_exit("cannot drop a moved slot");
  item_cache_clear(w->items); /* items deleted around the cache */
  unfreeze(w, slot, 0);
  move_job_t *job = job_of_slot(m, slot);
  if (job != NULL) job_remove(m, (size_t)(job - m->jobs));
}

/* ------------------------------------------------------------ open, close */

int slot_move_open(worker_t *w) {
  struct slot_moves *m = calloc(1, sizeof *m);
  if (m == NULL) return TALLY_E_NOMEM;
  w->moves = m;
  uint8_t upper[sizeof MOVE_KEY_PREFIX];
  size_t upper_len = keys_prefix_end(upper, (const uint8_t *)MOVE_KEY_PREFIX, sizeof MOVE_KEY_PREFIX - 1);
  store_iter_t *it = store_iter_new(w->store, STORE_CF_DEFAULT, upper, upper_len);
  if (it == NULL) return TALLY_E_NOMEM;
  int rc = 0;
  for (store_iter_seek(it, MOVE_KEY_PREFIX, sizeof MOVE_KEY_PREFIX - 1); store_iter_valid(it);
       store_iter_next(it)) {
    size_t len;
    const uint8_t *value = store_iter_value(it, &len);
    Tally__SlotMove *move = tally__slot_move__unpack(NULL, len, value);
    if (move == NULL || move->slot >= TALLY_SLOT_COUNT || m->n_jobs == MOVE_JOBS_MAX) {
      if (move) tally__slot_move__free_unpacked(move, NULL);
      log_error("unreadable slot move record in storage");
      rc = TALLY_E_STORAGE;
      break;
    }
    m->frozen[move->slot] = move->move_id;
    m->frozen_target[move->slot] = move->target_id;
    move_job_t *job = &m->jobs[m->n_jobs++];
    memset(job, 0, sizeof *job);
    job->move = move;
    job_reset(job);
    log_info("slot %u was being moved to worker %u (move %llu): it stays frozen", move->slot,
             move->target_id, (unsigned long long)move->move_id);
  }
  if (rc == 0) rc = store_iter_error(it); /* not the end but a read error? */
  store_iter_destroy(&it);
  if (rc == 0) {
    uv_idle_init(w->loop, &m->idle);
    m->idle.data = w;
    m->idle_open = 1;
  }
  return rc;
}

static void on_idle_closed(uv_handle_t *handle) { free(handle->data); }

void slot_move_close(worker_t *w) {
  struct slot_moves *m = w->moves;
  if (m == NULL) return;
  w->moves = NULL;
  for (size_t i = 0; i < m->n_jobs; i++) tally__slot_move__free_unpacked(m->jobs[i].move, NULL);
  m->n_jobs = 0;
  w->moves = m; /* conn_drop reads it */
  conn_drop(w);
  w->moves = NULL;
  dealer_destroy(&m->peer);
  if (m->idle_open) {
    m->idle.data = m;
    uv_close((uv_handle_t *)&m->idle, on_idle_closed);
  } else {
    free(m);
  }
}

uint64_t slot_move_frozen(const worker_t *w, uint32_t slot) {
  return w->moves != NULL && slot < TALLY_SLOT_COUNT ? w->moves->frozen[slot] : 0;
}

size_t slot_move_list(worker_t *w, Tally__SlotMove **out, size_t max) {
  size_t n = 0;
  if (w->moves == NULL) return 0;
  for (size_t i = 0; i < w->moves->n_jobs && n < max; i++) out[n++] = w->moves->jobs[i].move;
  return n;
}

/* ------------------------------------------------------------ coordinator's word */

void slot_move_start(worker_t *w, const Tally__SlotMove *move) {
  struct slot_moves *m = w->moves;
  if (m == NULL || w->stopping) return;
  if (move->slot >= TALLY_SLOT_COUNT || move->source_id != w->counters.worker_id ||
      move->target_id == 0 || move->target_id == w->counters.worker_id ||
      move->target_endpoint == NULL || move->target_endpoint[0] == '\0') {
    log_warn("ignoring a malformed slot move from the coordinator");
    return;
  }
  move_job_t *job = job_of_slot(m, move->slot);
  if (job != NULL) {
    if (job->move->move_id == move->move_id) return;
    /* A newer move of the same slot replaces the old one (which the
     * coordinator gave up); copying starts again from the first key. */
    tally__slot_move__free_unpacked(job->move, NULL);
    job->move = move_copy(move);
    job_reset(job);
  } else {
    if (m->n_jobs == MOVE_JOBS_MAX) return; /* offered again with the next heartbeat */
    job = &m->jobs[m->n_jobs++];
    memset(job, 0, sizeof *job);
    job->move = move_copy(move);
    job_reset(job);
  }
  log_info("moving slot %u to worker %u at %s (move %llu)", move->slot, move->target_id,
           move->target_endpoint, (unsigned long long)move->move_id);
  idle_wake(w);
}

void slot_move_abort(worker_t *w, uint64_t move_id) {
  struct slot_moves *m = w->moves;
  if (m == NULL || move_id == 0) return;
  for (size_t i = 0; i < m->n_jobs; i++) {
    if (m->jobs[i].move->move_id != move_id) continue;
    uint32_t slot = m->jobs[i].move->slot;
    log_info("move %llu of slot %u given up: the slot stays here", (unsigned long long)move_id,
             slot);
    job_remove(m, i);
    if (m->frozen[slot] == move_id) {
      unfreeze(w, slot, 1);
      worker_commit_now(w);
    }
    return;
  }
}

void slot_move_on_done_reply(worker_t *w, const Tally__SlotMoveDoneReply *reply) {
  struct slot_moves *m = w->moves;
  if (m == NULL) return;
  if (!reply->flipped) {
    slot_move_abort(w, reply->move_id);
  } else {
    /* The map that came with the reply finished the move (slot_move_on_map);
     * if it did not (an older map), the job waits for the next one. */
  }
  for (size_t i = 0; i < reply->n_moves; i++) slot_move_start(w, reply->moves[i]);
}

void slot_move_on_map(worker_t *w, const uint8_t *was_owned) {
  struct slot_moves *m = w->moves;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    if (m != NULL && m->frozen[s] != 0) {
      uint32_t owner = map_owner(w, s);
      if (owner == m->frozen_target[s] && owner != 0) finish(w, s);
      continue;
    }
    if (w->owned[s] && !was_owned[s]) {
      if (slot_state_load(w, s, 1) < 0) fatal_exit("cannot load a slot given to this worker");
    } else if (!w->owned[s] && was_owned[s]) {
      /* Taken away without a move: a failover promoted a follower
       * (replication.h). Stop serving it but keep its data until the new
       * primary's full copy replaces it. */
      log_warn("slot %u is no longer this worker's (owner %u) but was not moved away; its data"
               " stays in storage until the new primary copies it again",
               s, map_owner(w, s));
      slot_state_unload(w, s);
    }
  }
}

/* ------------------------------------------------------------ source: copying */

static void send_done(worker_t *w, move_job_t *job) {
  Tally__Envelope env;
  Tally__SlotMoveDone done = TALLY__SLOT_MOVE_DONE__INIT;
  wire_envelope_init(&env, dealer_next_request_id(w->coordinator));
  done.move = job->move;
  done.entries = job->entries;
  done.bytes = job->bytes;
  done.error = job->error;
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE;
  env.slot_move_done = &done;
  dealer_try_send(w->coordinator, &env);
  job->state = JOB_WAIT_FLIP;
  job->done_sent_ms = clock_monotonic_ms();
}

static void job_fail(worker_t *w, move_job_t *job, const char *fmt, const char *detail) {
  snprintf(job->error, sizeof job->error, fmt, detail ? detail : "");
  log_warn("move %llu of slot %u failed: %s", (unsigned long long)job->move->move_id,
           job->move->slot, job->error);
  send_done(w, job);
}

/* Freezes the job's slot (durably) unless already frozen for it. Returns 0,
 * or -1 when this worker does not serve the slot (the job then failed). */
static int job_freeze(worker_t *w, move_job_t *job) {
  struct slot_moves *m = w->moves;
  uint32_t slot = job->move->slot;
  if (m->frozen[slot] == 0) {
    if (!w->owned[slot]) {
      job_fail(w, job, "worker does not serve the slot%s", NULL);
      return -1;
    }
    /* The live leases travel with the slot's keys (and come back if the
     * move is given up). */
    slot_state_save_leases(w, slot);
    slot_state_unload(w, slot);
    w->owned[slot] = 0;
  }
  m->frozen[slot] = job->move->move_id;
  m->frozen_target[slot] = job->move->target_id;
  freeze_record_put(w, job->move);
  w->batch_dirty = 1;
  /* Durable before the first key leaves: the freeze is in the open batch,
   * so it is written as batch w->written + 1; the group commit's sync, or
   * (not yet synced) the next step itself, makes it durable. */
  job->freeze_commit = w->written + 1;
  return 0;
}

/* Entries read for one chunk. An iterator's key and value are only valid
 * until it moves, so every entry is copied into `arena`. */
typedef struct {
  Tally__SlotEntry entries[MOVE_CHUNK_ENTRIES];
  Tally__SlotEntry *ptrs[MOVE_CHUNK_ENTRIES];
  size_t offsets[2 * MOVE_CHUNK_ENTRIES];
  size_t n, bytes;
  uint8_t *arena;
  size_t arena_len, arena_cap;
} chunk_t;

static void chunk_append(chunk_t *c, uint32_t family, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t len) {
  if (c->arena_len + key_len + len > c->arena_cap) {
    size_t cap = c->arena_cap ? c->arena_cap : MOVE_CHUNK_BYTES + 4096;
    while (cap < c->arena_len + key_len + len) cap *= 2;
    uint8_t *grown = realloc(c->arena, cap);
    if (grown == NULL) fatal_exit("out of memory");
    c->arena = grown;
    c->arena_cap = cap;
  }
  size_t i = c->n++;
  c->offsets[2 * i] = c->arena_len;
  memcpy(c->arena + c->arena_len, key, key_len);
  c->arena_len += key_len;
  c->offsets[2 * i + 1] = c->arena_len;
  memcpy(c->arena + c->arena_len, value, len);
  c->arena_len += len;
  tally__slot_entry__init(&c->entries[i]);
  c->entries[i].family = family;
  c->entries[i].key.len = key_len;
  c->entries[i].value.len = len;
  c->ptrs[i] = &c->entries[i];
  c->bytes += key_len + len;
}

/* Points the entries into the arena (which may have moved while growing). */
static void chunk_seal(chunk_t *c) {
  for (size_t i = 0; i < c->n; i++) {
    c->entries[i].key.data = c->arena + c->offsets[2 * i];
    c->entries[i].value.data = c->arena + c->offsets[2 * i + 1];
  }
}

/* Reads the next entries of a cursor over `families` (index *family, from
 * key `resume`), keys limited to those starting with `prefix` (prefix_len
 * 0: whole families), family after family until the chunk is full (every
 * entry is copied, so one chunk may hold several families). Advances the
 * cursor; *family == n_families means everything was read. */
static void chunk_collect(worker_t *w, chunk_t *c, const store_cf_t *families, size_t n_families,
                          size_t *family, uint8_t *resume, size_t *resume_len,
                          const uint8_t *prefix, size_t prefix_len) {
  uint8_t upper[KEYS_MAX];
  size_t upper_len = prefix_len ? keys_prefix_end(upper, prefix, prefix_len) : 0;
  while (*family < n_families && c->n < MOVE_CHUNK_ENTRIES && c->bytes < MOVE_CHUNK_BYTES) {
    store_iter_t *it = store_iter_new(w->store, families[*family], prefix_len ? upper : NULL,
                                      upper_len);
    if (it == NULL) fatal_exit("out of memory for an iterator");
    store_iter_seek(it, resume, *resume_len);
    while (store_iter_valid(it) && c->n < MOVE_CHUNK_ENTRIES && c->bytes < MOVE_CHUNK_BYTES) {
      size_t key_len, len;
      const uint8_t *key = store_iter_key(it, &key_len);
      const uint8_t *value = store_iter_value(it, &len);
      chunk_append(c, families[*family], key, key_len, value, len);
      if (key_len <= KEYS_MAX) {
        memcpy(resume, key, key_len);
        resume[key_len] = 0; /* the smallest key after this one */
        *resume_len = key_len + 1;
      }
      store_iter_next(it);
    }
    /* A chunk that stopped short would lose the rest on the target. */
    if (store_iter_error(it) < 0) fatal_exit("storage read failed copying a slot");
    if (!store_iter_valid(it)) {
      (*family)++;
      if (prefix_len > 0) memcpy(resume, prefix, prefix_len);
      *resume_len = prefix_len;
    }
    store_iter_destroy(&it);
  }
  chunk_seal(c);
}

/* Sends `chunk` to the target at `endpoint` and waits for its
 * acknowledgement. Returns 0, or a negative code with a reason in `why`. */
static int chunk_send(worker_t *w, const char *endpoint, Tally__SlotChunk *chunk, char *why,
                      size_t why_size) {
  struct slot_moves *m = w->moves;
  if (m->peer == NULL || strcmp(dealer_endpoint(m->peer), endpoint) != 0) {
    dealer_destroy(&m->peer);
    curve_client_t keys;
    const curve_client_t *curve = identity_client_to(w->identity, w->map, endpoint, &keys);
    if (dealer_new(&m->peer, w->zmq_ctx, endpoint, curve) < 0) {
      snprintf(why, why_size, "cannot connect to %.150s", endpoint);
      return TALLY_E_TRANSPORT;
    }
  }
  Tally__Envelope env, *reply = NULL;
  wire_envelope_init(&env, 0);
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_CHUNK;
  env.slot_chunk = chunk;
  int rc = dealer_call(m->peer, &env, HANDOFF_CHUNK_TIMEOUT_MS, &reply);
  if (rc == 0 && (reply->body_case != TALLY__ENVELOPE__BODY_SLOT_CHUNK_REPLY ||
                  reply->slot_chunk_reply->move_id != chunk->move_id ||
                  reply->slot_chunk_reply->seq != chunk->seq))
    rc = TALLY_E_INTERNAL;
  if (rc < 0) {
    snprintf(why, why_size, "target refused or did not answer a chunk: %s",
             reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_ERROR
                 ? reply->error->message
                 : tally_strerror(rc));
    dealer_destroy(&m->peer); /* drop whatever is still queued to the target */
  }
  wire_envelope_free(&reply);
  return rc;
}

/* The connection move chunks go over: a DEALER whose ZMQ_FD the loop
 * watches (edge-triggered, so it is drained after every send and on every
 * tick as well). */
typedef struct peer_conn {
  uv_poll_t poll;
  dealer_t *dealer;
} peer_conn_t;

static void on_conn_closed(uv_handle_t *handle) { free(handle->data); }

static void conn_drop(worker_t *w) {
  struct slot_moves *m = w->moves;
  peer_conn_t *conn = m->conn;
  if (conn == NULL) return;
  m->conn = NULL;
  m->await_id = 0;
  uv_poll_stop(&conn->poll);
  dealer_destroy(&conn->dealer);
  conn->poll.data = conn;
  uv_close((uv_handle_t *)&conn->poll, on_conn_closed);
}

static void conn_drain(worker_t *w);

static void on_conn_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  conn_drain(poll->data);
}

/* The connection to `endpoint`, opened if needed; NULL when it cannot be. */
static peer_conn_t *conn_get(worker_t *w, const char *endpoint) {
  struct slot_moves *m = w->moves;
  if (m->conn != NULL && strcmp(dealer_endpoint(m->conn->dealer), endpoint) == 0) return m->conn;
  conn_drop(w);
  peer_conn_t *conn = calloc(1, sizeof *conn);
  if (conn == NULL) return NULL;
  int fd = -1;
  size_t fd_len = sizeof fd;
  curve_client_t keys;
  const curve_client_t *curve = identity_client_to(w->identity, w->map, endpoint, &keys);
  if (dealer_new(&conn->dealer, w->zmq_ctx, endpoint, curve) < 0 ||
      zmq_getsockopt(dealer_socket(conn->dealer), ZMQ_FD, &fd, &fd_len) != 0 ||
      uv_poll_init(w->loop, &conn->poll, fd) != 0) {
    dealer_destroy(&conn->dealer);
    free(conn);
    return NULL;
  }
  conn->poll.data = w;
  uv_poll_start(&conn->poll, UV_READABLE, on_conn_poll);
  m->conn = conn;
  return conn;
}

static move_job_t *job_of_move(struct slot_moves *m, uint64_t move_id) {
  for (size_t i = 0; i < m->n_jobs; i++)
    if (m->jobs[i].move->move_id == move_id) return &m->jobs[i];
  return NULL;
}

/* The target answered the chunk in flight. */
static void on_chunk_reply(worker_t *w, const Tally__Envelope *reply) {
  struct slot_moves *m = w->moves;
  move_job_t *job = job_of_move(m, m->await_move_id);
  m->await_id = 0;
  if (job == NULL || job->state != JOB_STREAMING) return; /* given up meanwhile */
  if (reply->body_case != TALLY__ENVELOPE__BODY_SLOT_CHUNK_REPLY ||
      reply->slot_chunk_reply->move_id != job->move->move_id ||
      reply->slot_chunk_reply->seq != job->seq) {
    char why[200];
    snprintf(why, sizeof why, "target refused a chunk: %s",
             reply->body_case == TALLY__ENVELOPE__BODY_ERROR ? reply->error->message
                                                             : "unexpected reply");
    conn_drop(w);
    job_fail(w, job, "%s", why);
    return;
  }
  job->seq++;
  job->entries += m->await_n;
  job->bytes += m->await_bytes;
  if (m->await_last) {
    log_info("slot %u copied to worker %u: %llu keys, %llu bytes in %u chunks", job->move->slot,
             job->move->target_id, (unsigned long long)job->entries,
             (unsigned long long)job->bytes, job->seq);
    send_done(w, job);
  }
  idle_wake(w);
}

static void conn_drain(worker_t *w) {
  struct slot_moves *m = w->moves;
  if (m == NULL || m->conn == NULL) return;
  for (;;) {
    Tally__Envelope *env = NULL;
    int rc = dealer_recv(m->conn->dealer, 0, &env);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) break;
    if (m->await_id != 0 && env->request_id == m->await_id) on_chunk_reply(w, env);
    wire_envelope_free(&env);
    if (m->conn == NULL) break; /* dropped by a refusal */
  }
}

/* Sends the next chunk of a slot move; its reply is read from the loop. */
static void job_send_chunk(worker_t *w, move_job_t *job) {
  struct slot_moves *m = w->moves;
  uint32_t slot = job->move->slot;
  peer_conn_t *conn = conn_get(w, job->move->target_endpoint);
  if (conn == NULL) {
    job_fail(w, job, "cannot connect to the target%s", NULL);
    return;
  }
  uint8_t prefix[2];
  keys_put_u16(prefix, (uint16_t)slot);
  chunk_t *c = calloc(1, sizeof *c);
  if (c == NULL) fatal_exit("out of memory");
  chunk_collect(w, c, move_families, MOVE_FAMILIES, &job->family, job->resume, &job->resume_len,
                prefix, 2);
  Tally__SlotChunk chunk = TALLY__SLOT_CHUNK__INIT;
  chunk.move_id = job->move->move_id;
  chunk.slot = slot;
  chunk.seq = job->seq;
  chunk.n_entries = c->n;
  chunk.entries = c->ptrs;
  chunk.last = job->family == MOVE_FAMILIES;
  Tally__Envelope env;
  wire_envelope_init(&env, dealer_next_request_id(conn->dealer));
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_CHUNK;
  env.slot_chunk = &chunk;
  int rc = dealer_send(conn->dealer, &env); /* zmq copies the message */
  m->await_n = c->n;
  m->await_bytes = c->bytes;
  m->await_last = chunk.last;
  free(c->arena);
  free(c);
  if (rc < 0) {
    conn_drop(w);
    job_fail(w, job, "cannot send a chunk to the target: %s", tally_strerror(rc));
    return;
  }
  m->await_id = env.request_id;
  m->await_move_id = job->move->move_id;
  m->await_deadline_ms = clock_monotonic_ms() + MOVE_CHUNK_TIMEOUT_MS;
  conn_drain(w); /* edge-triggered: a reply may already wait */
}

/* ------------------------------------------------------------ source: handing sums over */

/* The per-worker sums a drained worker hands over. */
static const store_cf_t handoff_families[] = {STORE_CF_STATS, STORE_CF_OPS, STORE_CF_EXPOSURE};
#define HANDOFF_FAMILIES (sizeof handoff_families / sizeof handoff_families[0])
static const char HANDOFF_GENERATION_KEY[] = "handoff-generation";
static const char HANDOFF_COUNTERS_PREFIX[] = "counters";
static const char MERGED_KEY_PREFIX[] = "merged";

static uint64_t handoff_generation(worker_t *w) {
  char *value = NULL;
  size_t len = 0;
  uint64_t generation = 0;
  if (store_get(w->store, STORE_CF_DEFAULT, HANDOFF_GENERATION_KEY,
                sizeof HANDOFF_GENERATION_KEY - 1, &value, &len) == 1 &&
      len == 8)
    generation = keys_get_u64((const uint8_t *)value);
  free(value);
  return generation;
}

int slot_move_has_aggregates(worker_t *w) {
  worker_rows_flush(w, 1);
  for (size_t i = 0; i < w->n_projects; i++)
    if (w->projects[i].expired_leases || w->projects[i].skips || w->projects[i].releases) return 1;
  for (size_t f = 0; f < HANDOFF_FAMILIES; f++) {
    store_iter_t *it = store_iter_new(w->store, handoff_families[f], NULL, 0);
    if (it == NULL) return 0;
    store_iter_seek(it, "", 0);
    int any = store_iter_valid(it);
    if (store_iter_error(it) < 0) fatal_exit("storage read failed looking for sums to hand over");
    store_iter_destroy(&it);
    if (any) return 1;
  }
  return 0;
}

/* Deletes the rows of the chunk just acknowledged (they are the target's
 * now) and, for its "counters" entries, zeroes the event counters. */
static void handoff_forget(worker_t *w, const chunk_t *c) {
  for (size_t i = 0; i < c->n; i++) {
    const Tally__SlotEntry *e = &c->entries[i];
    if (e->family == STORE_CF_DEFAULT) continue;
    store_delete(w->store, (store_cf_t)e->family, e->key.data, e->key.len);
  }
  w->batch_dirty = 1;
}

static void handoff_step(worker_t *w) {
  struct slot_moves *m = w->moves;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++)
    if (w->owned[s] || m->frozen[s]) {
      m->handoff_target = 0; /* serving slots again: the sums stay here */
      return;
    }
  /* The rows are read from storage and deleted around the caches. */
  worker_rows_flush(w, 1);
  chunk_t *c = calloc(1, sizeof *c);
  if (c == NULL) fatal_exit("out of memory");
  uint8_t resume[KEYS_MAX + 1];
  size_t resume_len = 0, family = 0;
  /* Sent rows are deleted once acknowledged, so each chunk starts over. */
  chunk_collect(w, c, handoff_families, HANDOFF_FAMILIES, &family, resume, &resume_len, NULL, 0);
  int last = family == HANDOFF_FAMILIES;
  if (last) {
    /* The event counters travel in the last chunk as "counters" entries. */
    for (size_t i = 0; i < w->n_projects; i++) {
      const project_counters_t *pc = &w->projects[i];
      if (!pc->expired_leases && !pc->skips && !pc->releases) continue;
      uint8_t key[sizeof HANDOFF_COUNTERS_PREFIX - 1 + 4], value[24];
      memcpy(key, HANDOFF_COUNTERS_PREFIX, sizeof HANDOFF_COUNTERS_PREFIX - 1);
      keys_put_u32(key + sizeof HANDOFF_COUNTERS_PREFIX - 1, pc->project_id);
      keys_put_u64(value, pc->expired_leases);
      keys_put_u64(value + 8, pc->skips);
      keys_put_u64(value + 16, pc->releases);
      chunk_append(c, STORE_CF_DEFAULT, key, sizeof key, value, sizeof value);
    }
    chunk_seal(c);
  }
  uint64_t generation = handoff_generation(w);
  Tally__SlotChunk chunk = TALLY__SLOT_CHUNK__INIT;
  chunk.move_id = generation;
  chunk.seq = m->handoff_seq;
  chunk.n_entries = c->n;
  chunk.entries = c->ptrs;
  chunk.last = last;
  chunk.merge = 1;
  chunk.source_id = w->counters.worker_id;
  chunk.generation = generation;
  char why[200];
  int rc = chunk_send(w, m->handoff_endpoint, &chunk, why, sizeof why);
  if (rc < 0) {
    log_warn("handing the sums over to worker %u failed: %s; retried later", m->handoff_target,
             why);
    m->handoff_target = 0; /* the coordinator offers it again */
  } else {
    m->handoff_seq++;
    handoff_forget(w, c);
    if (last) {
      for (size_t i = 0; i < w->n_projects; i++) {
        w->projects[i].expired_leases = 0;
        w->projects[i].skips = 0;
        w->projects[i].releases = 0;
      }
      uint8_t next[8];
      keys_put_u64(next, generation + 1);
      store_put(w->store, STORE_CF_DEFAULT, HANDOFF_GENERATION_KEY,
                sizeof HANDOFF_GENERATION_KEY - 1, next, sizeof next);
      log_info("statistics, operations and exposure sums handed over to worker %u (%u chunks)",
               m->handoff_target, m->handoff_seq);
      m->handoff_target = 0;
    }
    worker_commit_now(w);
  }
  free(c->arena);
  free(c);
}

void slot_move_handoff(worker_t *w, const Tally__SlotMove *to) {
  struct slot_moves *m = w->moves;
  if (m == NULL || w->stopping || to->target_id == 0 || to->target_id == w->counters.worker_id ||
      to->target_endpoint == NULL || to->target_endpoint[0] == '\0')
    return;
  if (m->handoff_target != 0) return; /* one at a time, to one target */
  m->handoff_target = to->target_id;
  m->handoff_seq = 0;
  snprintf(m->handoff_endpoint, sizeof m->handoff_endpoint, "%s", to->target_endpoint);
  log_info("drained: handing the statistics, operations and exposure sums over to worker %u",
           to->target_id);
  idle_wake(w);
}

/* One step of the first job that can make progress. */
static int step(worker_t *w) {
  struct slot_moves *m = w->moves;
  if (m == NULL || !w->registered || w->stopping) return 0;
  for (size_t i = 0; i < m->n_jobs; i++) {
    move_job_t *job = &m->jobs[i];
    if (job->state == JOB_WAIT_FLIP) continue;
    if (job->state == JOB_QUEUED) {
      if (job_freeze(w, job) < 0) return 1;
      job->state = JOB_FREEZING;
      return 1; /* the loop turns once: a group may commit the freeze */
    }
    if (job->state == JOB_FREEZING) {
      if (w->durable < job->freeze_commit) worker_commit_now(w);
      job->state = JOB_STREAMING;
    }
    if (m->await_id != 0) return 0; /* the reply wakes the next step */
    job_send_chunk(w, job);
    return 1;
  }
  if (m->handoff_target != 0) {
    handoff_step(w);
    return 1;
  }
  return 0;
}

static void on_idle(uv_idle_t *idle) {
  worker_t *w = idle->data;
  if (!step(w)) {
    uv_idle_stop(idle);
    w->moves->idle_on = 0;
  }
}

static void idle_wake(worker_t *w) {
  struct slot_moves *m = w->moves;
  if (m == NULL || !m->idle_open || m->idle_on || w->stopping) return;
  m->idle_on = 1;
  uv_idle_start(&m->idle, on_idle);
}

void slot_move_tick(worker_t *w, uint64_t now_ms) {
  struct slot_moves *m = w->moves;
  if (m == NULL) return;
  conn_drain(w);
  if (m->await_id != 0 && now_ms > m->await_deadline_ms) {
    move_job_t *job = job_of_move(m, m->await_move_id);
    conn_drop(w);
    if (job != NULL && job->state == JOB_STREAMING)
      job_fail(w, job, "the target did not answer a chunk in time%s", NULL);
  }
  if (!w->registered) return;
  for (size_t i = 0; i < m->n_jobs; i++) {
    move_job_t *job = &m->jobs[i];
    if (job->state == JOB_WAIT_FLIP && now_ms - job->done_sent_ms >= MOVE_DONE_RESEND_MS)
      send_done(w, job);
    else if (job->state != JOB_WAIT_FLIP)
      idle_wake(w);
  }
  if (m->handoff_target != 0) idle_wake(w);
  if (m->n_received > 0) {
    /* Received slots: forget those served now or never flipped (5 s). */
    for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
      if (m->received_ms[s] == 0) continue;
      if (w->owned[s] || now_ms - m->received_ms[s] > 5000) {
        m->received_ms[s] = 0;
        m->n_received--;
      }
    }
    if (m->n_received > 0) coordinator_link_fetch(w, REFRESH_MAP);
  }
}

/* ------------------------------------------------------------ target */

/* Where the merge of (source, generation, family) got to: the last key
 * added, kept in the default family in the same batch as the merges. */
static size_t merged_key(uint8_t *out, uint32_t source, uint64_t generation, uint32_t family) {
  size_t n = sizeof MERGED_KEY_PREFIX - 1;
  memcpy(out, MERGED_KEY_PREFIX, n);
  keys_put_u32(out + n, source);
  keys_put_u64(out + n + 4, generation);
  out[n + 12] = (uint8_t)family;
  return n + 13;
}

static void handle_merge(worker_t *w, const router_request_t *req) {
  const Tally__SlotChunk *c = req->env->slot_chunk;
  uint64_t rid = req->env->request_id;
  if (c->source_id == 0 || c->source_id == w->counters.worker_id) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_INVALID_ARGUMENT,
                       "a merge chunk needs the id of another worker");
    return;
  }
  size_t done = 0;
  int rc = 0;
  for (size_t i = 0; i < c->n_entries && rc == 0; i++) {
    const Tally__SlotEntry *e = c->entries[i];
    uint8_t mk[64];
    size_t mk_len = merged_key(mk, c->source_id, c->generation, e->family);
    char *last = NULL;
    size_t last_len = 0;
    if (store_get(w->store, STORE_CF_DEFAULT, mk, mk_len, &last, &last_len) < 0)
      fatal_exit("storage read failed");
    if (last != NULL) {
      size_t common = last_len < e->key.len ? last_len : e->key.len;
      int cmp = memcmp(e->key.data, last, common);
      int seen = cmp < 0 || (cmp == 0 && e->key.len <= last_len);
      free(last);
      if (seen) continue; /* added by an earlier attempt */
    }
    switch (e->family) {
      case STORE_CF_STATS: rc = quality_merge_row(w->quality, e->key.data, e->key.len, e->value.data, e->value.len); break;
      case STORE_CF_OPS: rc = ops_merge_row(w->ops, e->key.data, e->key.len, e->value.data, e->value.len); break;
      case STORE_CF_EXPOSURE:
        rc = wellbeing_merge_row(w->wellbeing, e->key.data, e->key.len, e->value.data, e->value.len);
        break;
      case STORE_CF_DEFAULT:
        if (e->key.len == sizeof HANDOFF_COUNTERS_PREFIX - 1 + 4 && e->value.len == 24 &&
            memcmp(e->key.data, HANDOFF_COUNTERS_PREFIX, sizeof HANDOFF_COUNTERS_PREFIX - 1) == 0) {
          project_counters_t *pc =
              worker_project(w, keys_get_u32(e->key.data + sizeof HANDOFF_COUNTERS_PREFIX - 1));
          pc->expired_leases += keys_get_u64(e->value.data);
          pc->skips += keys_get_u64(e->value.data + 8);
          pc->releases += keys_get_u64(e->value.data + 16);
          w->batch_dirty = 1;
        } else {
          rc = TALLY_E_INVALID_ARGUMENT;
        }
        break;
      default: rc = TALLY_E_INVALID_ARGUMENT; break;
    }
    if (rc == 0) {
      store_put(w->store, STORE_CF_DEFAULT, mk, mk_len, e->key.data, e->key.len);
      done++;
    }
  }
  if (rc < 0) {
    worker_reply_error(w, req->peer, req->peer_len, rid, TALLY_E_INVALID_ARGUMENT,
                       "entry %zu of the merge chunk is not a per-worker sum this worker can add",
                       done);
    return;
  }
  Tally__Envelope env;
  Tally__SlotChunkReply body = TALLY__SLOT_CHUNK_REPLY__INIT;
  wire_envelope_init(&env, rid);
  body.move_id = c->move_id;
  body.seq = c->seq;
  body.entries = done;
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_CHUNK_REPLY;
  env.slot_chunk_reply = &body;
  worker_reply(w, req->peer, req->peer_len, &env);
  if (c->last)
    log_info("worker %u handed its statistics, operations and exposure sums over to this worker",
             c->source_id);
}

void slot_move_handle_chunk(worker_t *w, const router_request_t *req) {
  const Tally__SlotChunk *c = req->env->slot_chunk;
  const uint8_t *peer = req->peer;
  size_t peer_len = req->peer_len;
  uint64_t rid = req->env->request_id;
  if (c->merge) {
    handle_merge(w, req);
    return;
  }
  if (c->slot >= TALLY_SLOT_COUNT) {
    worker_reply_error(w, peer, peer_len, rid, TALLY_E_INVALID_ARGUMENT, "slot %u out of range",
                       c->slot);
    return;
  }
  if (w->owned[c->slot] || slot_move_frozen(w, c->slot)) {
    worker_reply_error(w, peer, peer_len, rid, TALLY_E_INVALID_ARGUMENT,
                       "slot %u is served or being moved by this worker", c->slot);
    return;
  }
  for (size_t i = 0; i < c->n_entries; i++) {
    const Tally__SlotEntry *e = c->entries[i];
    if (e->family >= STORE_CF_COUNT || !store_cf_is_slot_led((store_cf_t)e->family) ||
        e->key.len < 2 || e->key.len > KEYS_MAX || keys_get_u16(e->key.data) != c->slot) {
      worker_reply_error(w, peer, peer_len, rid, TALLY_E_INVALID_ARGUMENT,
                         "entry %zu of the chunk is not a key of slot %u", i, c->slot);
      return;
    }
  }
  replication_on_move_in(w, c->slot); /* older appends of the source: refused */
  if (c->seq == 0) {
    /* A fresh copy: nothing of an earlier attempt may remain, also not in
     * the open batch. */
    if (store_pending(w->store) > 0 || w->batch_dirty) worker_commit_now(w);
    if (store_drop_slot(w->store, c->slot, 1) < 0) fatal_exit("storage write failed");
    item_cache_clear(w->items); /* items deleted around the cache */
  }
  for (size_t i = 0; i < c->n_entries; i++) {
    const Tally__SlotEntry *e = c->entries[i];
    store_put(w->store, (store_cf_t)e->family, e->key.data, e->key.len, e->value.data,
              e->value.len);
  }
  item_cache_clear(w->items); /* items written around the cache */
  w->batch_dirty = 1;
  Tally__Envelope env;
  Tally__SlotChunkReply body = TALLY__SLOT_CHUNK_REPLY__INIT;
  wire_envelope_init(&env, rid);
  body.move_id = c->move_id;
  body.seq = c->seq;
  body.entries = c->n_entries;
  env.body_case = TALLY__ENVELOPE__BODY_SLOT_CHUNK_REPLY;
  env.slot_chunk_reply = &body;
  worker_reply(w, peer, peer_len, &env);
  if (c->last) {
    log_info("slot %u received (move %llu, %u chunks); served once the map gives it here",
             c->slot, (unsigned long long)c->move_id, c->seq + 1);
    if (w->moves->received_ms[c->slot] == 0) w->moves->n_received++;
    w->moves->received_ms[c->slot] = clock_monotonic_ms();
  }
}
