/* raft_node: the coordinator's Raft member on libraft. See raft_node.h.
 *
 * Shared between the Raft thread and callers (under `mutex`): the queue of
 * proposals, the published status, the reload request, the figures.
 * Everything of libraft and libuv is touched by the Raft thread only, once
 * raft_node_new has started it.
 */
#include "raft_node.h"

#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "fatal.h"
#include "log.h"
#include "tally_error.h"

/* How often the Raft thread publishes its status: a change of leader is
 * seen within this (plus the barrier's round trip). */
#define STATUS_PERIOD_MS 20

/* One batch on its way through Raft. Freed by the caller once done, or by
 * the Raft thread when the caller gave up waiting (abandoned). */
typedef struct proposal {
  struct raft_apply req; /* req.data = this */
  struct raft_buffer buf; /* raft_malloc'ed; Raft's once raft_apply took it */
  struct raft_node *node;
  struct proposal *next;
  uint64_t started_ns;
  int done, abandoned, rc;
} proposal_t;

struct raft_node {
  raft_peers_t peers;
  uint64_t self_id;
  meta_store_t *store;
  raft_node_notify_fn notify;
  void *notify_ctx;
  char *raft_dir;

  pthread_t thread;
  int thread_started;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick;
  struct raft_uv_transport transport;
  struct raft_io io;
  struct raft_fsm fsm;
  struct raft raft;
  int transport_ready, io_ready, raft_ready;

  /* Raft thread only. */
  struct raft_barrier barrier;
  int barrier_pending;
  uint64_t barrier_term; /* the term a barrier was issued (or settled) for; 0: none */

  pthread_mutex_t mutex;
  pthread_cond_t cond;
  proposal_t *queue, *queue_tail; /* waiting for the Raft thread */
  int stopping;
  int reload_wanted; /* a commit's outcome is unknown: reload before serving again */
  raft_node_status_t status;
  uint64_t commits, commit_total_us;
};

/* ---------------------------------------------------------------- state machine */

/* What is handed to libraft is zero-padded to a multiple of 8 bytes:
 * libraft 0.15's log reads entries of other sizes back at shifted offsets
 * after a restart (seen here: every entry after the first odd-sized one
 * came back misaligned). The encoding allows the padding (meta_store.c). */
static size_t raft_padded(size_t len) { return len == 0 ? 8 : (len + 7) & ~(size_t)7; }

/* Every coordinator writes each committed batch to its own store. A store
 * that cannot write leaves this coordinator behind its log: it exits (a
 * restart replays the log), as a failed write does without Raft. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
  raft_node_t *node = fsm->data;
  int rc = meta_store_apply(node->store, buf->base, buf->len);
  if (rc == TALLY_E_STORAGE) fatal_exit("cannot write a committed Raft entry to the metadata store");
  if (rc < 0) log_error("raft: a committed entry is not a batch this build reads; skipped");
  *result = (void *)(intptr_t)rc;
  return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  raft_node_t *node = fsm->data;
  uint8_t *dump = NULL;
  size_t len = 0;
  if (meta_store_dump(node->store, &dump, &len) < 0) return RAFT_IOERR;
  *bufs = raft_malloc(sizeof **bufs);
  size_t padded = raft_padded(len);
  void *base = raft_malloc(padded);
  if (*bufs == NULL || base == NULL) {
    raft_free(*bufs);
    raft_free(base);
    free(dump);
    return RAFT_NOMEM;
  }
  memcpy(base, dump, len);
  memset((uint8_t *)base + len, 0, padded - len);
  free(dump);
  (*bufs)[0].base = base;
  (*bufs)[0].len = padded;
  *n_bufs = 1;
  return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
  raft_node_t *node = fsm->data;
  int rc = meta_store_restore(node->store, buf->base, buf->len);
  if (rc < 0) {
    log_error("raft: cannot restore a snapshot (%s)", tally_strerror(rc));
    return rc == TALLY_E_INVALID_ARGUMENT ? RAFT_MALFORMED : RAFT_IOERR;
  }
  raft_free(buf->base);
  log_info("raft: store restored from a snapshot (%zu bytes)", buf->len);
  return 0;
}

/* ---------------------------------------------------------------- proposals */

/* Settles a proposal (Raft thread). */
static void proposal_finish(raft_node_t *node, proposal_t *p, int rc) {
  uint64_t took_us = (uv_hrtime() - p->started_ns) / 1000;
  pthread_mutex_lock(&node->mutex);
  if (rc == 0) {
    node->commits++;
    node->commit_total_us += took_us;
  }
  if (p->abandoned) {
    free(p);
  } else {
    p->done = 1;
    p->rc = rc;
    pthread_cond_broadcast(&node->cond);
  }
  pthread_mutex_unlock(&node->mutex);
}

static int from_raft_error(int status) {
  if (status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST) return TALLY_E_NOT_LEADER;
  if (status == RAFT_NOMEM) return TALLY_E_NOMEM;
  return TALLY_E_UNAVAILABLE;
}

static void on_applied(struct raft_apply *req, int status, void *result) {
  proposal_t *p = req->data;
  proposal_finish(p->node, p, status == 0 ? (int)(intptr_t)result : from_raft_error(status));
}

/* Hands the queued proposals to Raft (Raft thread). */
static void proposals_submit(raft_node_t *node, proposal_t *list, int is_leader) {
  while (list != NULL) {
    proposal_t *p = list;
    list = p->next;
    p->next = NULL;
    if (!is_leader || raft_state(&node->raft) != RAFT_LEADER) {
      raft_free(p->buf.base);
      proposal_finish(node, p, TALLY_E_NOT_LEADER);
      continue;
    }
    p->req.data = p;
    int rv = raft_apply(&node->raft, &p->req, &p->buf, 1, on_applied);
    if (rv != 0) {
      raft_free(p->buf.base);
      proposal_finish(node, p, from_raft_error(rv));
    }
  }
}

int raft_node_replicate(void *ctx, const uint8_t *data, size_t len) {
  raft_node_t *node = ctx;
  proposal_t *p = calloc(1, sizeof *p);
  size_t padded = raft_padded(len);
  void *base = raft_malloc(padded);
  if (p == NULL || base == NULL) {
    free(p);
    raft_free(base);
    return TALLY_E_NOMEM;
  }
  memcpy(base, data, len);
  memset((uint8_t *)base + len, 0, padded - len);
  p->buf.base = base;
  p->buf.len = padded;
  p->node = node;
  p->started_ns = uv_hrtime();

  pthread_mutex_lock(&node->mutex);
  if (!node->status.is_leader || node->stopping) {
    pthread_mutex_unlock(&node->mutex);
    raft_free(base);
    free(p);
    return TALLY_E_NOT_LEADER;
  }
  if (node->queue_tail) node->queue_tail->next = p;
  else node->queue = p;
  node->queue_tail = p;
  pthread_mutex_unlock(&node->mutex);
  uv_async_send(&node->wake);

  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += RAFT_NODE_COMMIT_TIMEOUT_MS / 1000;
  deadline.tv_nsec += (long)(RAFT_NODE_COMMIT_TIMEOUT_MS % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
  int rc;
  pthread_mutex_lock(&node->mutex);
  while (!p->done)
    if (pthread_cond_timedwait(&node->cond, &node->mutex, &deadline) == ETIMEDOUT) break;
  if (p->done) {
    rc = p->rc;
    free(p);
  } else {
    /* It may still commit: stop serving until a barrier settled it and
     * memory was reloaded from the applied state. */
    p->abandoned = 1;
    node->reload_wanted = 1;
    rc = TALLY_E_UNAVAILABLE;
  }
  pthread_mutex_unlock(&node->mutex);
  if (rc == TALLY_E_UNAVAILABLE) {
    log_warn("raft: a commit took longer than %u ms; reloading before serving again",
             RAFT_NODE_COMMIT_TIMEOUT_MS);
    uv_async_send(&node->wake);
  }
  return rc;
}

/* ---------------------------------------------------------------- leadership */

static void status_notify(raft_node_t *node) {
  if (node->notify) node->notify(node->notify_ctx);
}

static void on_barrier(struct raft_barrier *req, int status) {
  raft_node_t *node = req->data;
  node->barrier_pending = 0;
  int ready = status == 0 && raft_state(&node->raft) == RAFT_LEADER &&
              node->raft.current_term == node->barrier_term;
  if (!ready) {
    node->barrier_term = 0; /* the next tick tries again while still leader */
    return;
  }
  pthread_mutex_lock(&node->mutex);
  node->status.is_leader = 1;
  node->status.generation++;
  pthread_mutex_unlock(&node->mutex);
  log_info("raft: leader of term %llu, every earlier entry applied",
           (unsigned long long)node->raft.current_term);
  status_notify(node);
}

/* Publishes Raft's state; starts the barrier of a new leadership; drops
 * readiness when leadership is lost or a reload was asked for. */
static void status_update(raft_node_t *node) {
  struct raft *r = &node->raft;
  raft_id leader_id = 0;
  const char *leader_address = NULL;
  raft_leader(r, &leader_id, &leader_address);
  const raft_peer_t *leader = leader_id ? raft_peers_find(&node->peers, leader_id) : NULL;
  int state = raft_state(r), changed = 0;

  pthread_mutex_lock(&node->mutex);
  if (node->reload_wanted && node->status.is_leader && !node->barrier_pending) {
    node->reload_wanted = 0;
    node->status.is_leader = 0;
    node->barrier_term = 0;
    changed = 1;
  }
  if (state != RAFT_LEADER && node->status.is_leader) {
    node->status.is_leader = 0;
    changed = 1;
  }
  if (node->status.leader_id != leader_id) changed = 1;
  node->status.leader_id = leader_id;
  snprintf(node->status.leader_endpoint, sizeof node->status.leader_endpoint, "%s",
           leader ? leader->client_endpoint : "");
  node->status.state = state;
  node->status.term = r->current_term;
  node->status.commit_index = r->commit_index;
  node->status.last_applied = raft_last_applied(r);
  pthread_mutex_unlock(&node->mutex);

  if (state != RAFT_LEADER) node->barrier_term = 0;
  if (state == RAFT_LEADER && !node->barrier_pending && node->barrier_term != r->current_term) {
    node->barrier_term = r->current_term;
    node->barrier.data = node;
    if (raft_barrier(r, &node->barrier, on_barrier) == 0) node->barrier_pending = 1;
    else node->barrier_term = 0;
  }
  if (changed) status_notify(node);
}

static void on_tick(uv_timer_t *timer) { status_update(timer->data); }

/* ---------------------------------------------------------------- thread */

static void on_raft_closed(struct raft *raft) { (void)raft; }

static void on_wake(uv_async_t *async) {
  raft_node_t *node = async->data;
  pthread_mutex_lock(&node->mutex);
  proposal_t *list = node->queue;
  node->queue = node->queue_tail = NULL;
  int stopping = node->stopping, is_leader = node->status.is_leader;
  pthread_mutex_unlock(&node->mutex);
  if (!stopping) {
    proposals_submit(node, list, is_leader);
    status_update(node);
    return;
  }
  proposals_submit(node, list, 0);
  uv_close((uv_handle_t *)&node->tick, NULL);
  uv_close((uv_handle_t *)&node->wake, NULL);
  raft_close(&node->raft, on_raft_closed); /* fails what Raft still holds */
}

static void *raft_thread(void *arg) {
  raft_node_t *node = arg;
  uv_run(&node->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

static int start_error(raft_node_t *node, const char *what, int rv) {
  log_error("raft: %s: %s (%s)", what, raft_strerror(rv),
            node->raft_ready ? raft_errmsg(&node->raft) : "");
  return rv == RAFT_NOMEM ? TALLY_E_NOMEM : rv == RAFT_IOERR ? TALLY_E_IO : TALLY_E_INTERNAL;
}

/* Bootstraps `peers` as the first configuration, when the log is empty. */
static int bootstrap(raft_node_t *node) {
  struct raft_configuration configuration;
  raft_configuration_init(&configuration);
  int rv = 0;
  for (size_t i = 0; rv == 0 && i < node->peers.count; i++)
    rv = raft_configuration_add(&configuration, node->peers.peers[i].id,
                                node->peers.peers[i].raft_address, RAFT_VOTER);
  if (rv == 0) rv = raft_bootstrap(&node->raft, &configuration);
  raft_configuration_close(&configuration);
  if (rv == RAFT_CANTBOOTSTRAP) return 0; /* not the first start */
  if (rv != 0) return start_error(node, "bootstrap", rv);
  log_info("raft: bootstrapped a group of %zu coordinators", node->peers.count);
  return 0;
}

static int node_start(raft_node_t *node, const raft_node_config_t *config) {
  const raft_peer_t *self = raft_peers_find(&node->peers, node->self_id);
  if (self == NULL) {
    log_error("raft: --raft-id %llu is not in --peers", (unsigned long long)node->self_id);
    return TALLY_E_INVALID_ARGUMENT;
  }
  if (mkdir(node->raft_dir, 0700) < 0 && errno != EEXIST) {
    log_error("raft: cannot make %s: %s", node->raft_dir, strerror(errno));
    return TALLY_E_IO;
  }
  if (uv_loop_init(&node->loop) != 0) return TALLY_E_INTERNAL;
  int rv = raft_uv_tcp_init(&node->transport, &node->loop);
  if (rv != 0) return start_error(node, "transport", rv);
  node->transport_ready = 1;
  if (config->listen != NULL &&
      (rv = raft_uv_tcp_set_bind_address(&node->transport, config->listen)) != 0)
    return start_error(node, "--raft-listen", rv);
  rv = raft_uv_init(&node->io, &node->loop, node->raft_dir, &node->transport);
  if (rv != 0) return start_error(node, "log directory", rv);
  node->io_ready = 1;
  raft_uv_set_connect_retry_delay(&node->io, 200);
  node->fsm.version = 1;
  node->fsm.data = node;
  node->fsm.apply = fsm_apply;
  node->fsm.snapshot = fsm_snapshot;
  node->fsm.restore = fsm_restore;
  rv = raft_init(&node->raft, &node->io, &node->fsm, node->self_id, self->raft_address);
  if (rv != 0) return start_error(node, "init", rv);
  node->raft_ready = 1;
  raft_set_election_timeout(&node->raft, config->election_timeout_ms ? config->election_timeout_ms : 1000);
  raft_set_heartbeat_timeout(&node->raft, 100);
  raft_set_snapshot_threshold(&node->raft, config->snapshot_threshold ? config->snapshot_threshold : 1024);
  raft_set_pre_vote(&node->raft, true); /* a returning coordinator does not unseat the leader */
  rv = bootstrap(node);
  if (rv < 0) return rv;
  rv = raft_start(&node->raft);
  if (rv != 0) return start_error(node, "start", rv);
  uv_async_init(&node->loop, &node->wake, on_wake);
  node->wake.data = node;
  uv_timer_init(&node->loop, &node->tick);
  node->tick.data = node;
  uv_timer_start(&node->tick, on_tick, STATUS_PERIOD_MS, STATUS_PERIOD_MS);
  if (pthread_create(&node->thread, NULL, raft_thread, node) != 0) {
    uv_close((uv_handle_t *)&node->tick, NULL);
    uv_close((uv_handle_t *)&node->wake, NULL);
    raft_close(&node->raft, on_raft_closed);
    uv_run(&node->loop, UV_RUN_DEFAULT);
    node->raft_ready = 0;
    return TALLY_E_INTERNAL;
  }
  node->thread_started = 1;
  log_info("raft: coordinator %llu of %zu, Raft on %s, log in %s",
           (unsigned long long)node->self_id, node->peers.count, self->raft_address, node->raft_dir);
  return 0;
}

int raft_node_new(raft_node_t **out, const raft_node_config_t *config) {
  *out = NULL;
  raft_node_t *node = calloc(1, sizeof *node);
  if (node == NULL) return TALLY_E_NOMEM;
  node->peers = *config->peers;
  node->self_id = config->self_id;
  node->store = config->store;
  node->notify = config->notify;
  node->notify_ctx = config->notify_ctx;
  size_t size = strlen(config->dir) + sizeof "/raft";
  node->raft_dir = malloc(size);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&node->cond, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&node->mutex, NULL);
  if (node->raft_dir == NULL) {
    raft_node_destroy(&node);
    return TALLY_E_NOMEM;
  }
  snprintf(node->raft_dir, size, "%s/raft", config->dir);
  int rc = node_start(node, config);
  if (rc < 0) {
    raft_node_destroy(&node);
    return rc;
  }
  meta_store_set_replicator(node->store, raft_node_replicate, node);
  *out = node;
  return 0;
}

void raft_node_destroy(raft_node_t **node_ptr) {
  if (node_ptr == NULL || *node_ptr == NULL) return;
  raft_node_t *node = *node_ptr;
  *node_ptr = NULL;
  if (node->store != NULL) meta_store_set_replicator(node->store, NULL, NULL);
  if (node->thread_started) {
    pthread_mutex_lock(&node->mutex);
    node->stopping = 1;
    pthread_mutex_unlock(&node->mutex);
    uv_async_send(&node->wake);
    pthread_join(node->thread, NULL);
  } else if (node->raft_ready) {
    raft_close(&node->raft, on_raft_closed);
    uv_run(&node->loop, UV_RUN_DEFAULT);
  }
  if (node->io_ready) raft_uv_close(&node->io);
  if (node->transport_ready) raft_uv_tcp_close(&node->transport);
  if (node->transport_ready) {
    uv_run(&node->loop, UV_RUN_DEFAULT);
    uv_loop_close(&node->loop);
  }
  pthread_mutex_lock(&node->mutex); /* proposals nobody submitted: none after stopping */
  while (node->queue != NULL) {
    proposal_t *p = node->queue;
    node->queue = p->next;
    raft_free(p->buf.base);
    free(p);
  }
  pthread_mutex_unlock(&node->mutex);
  if (node->commits > 0) /* the Raft thread has ended: no lock needed */
    log_info("raft: %llu commits through this coordinator, mean %.2f ms from proposal to applied",
             (unsigned long long)node->commits,
             (double)node->commit_total_us / 1000.0 / (double)node->commits);
  pthread_cond_destroy(&node->cond);
  pthread_mutex_destroy(&node->mutex);
  free(node->raft_dir);
  free(node);
}

void raft_node_status(raft_node_t *node, raft_node_status_t *out) {
  pthread_mutex_lock(&node->mutex);
  *out = node->status;
  pthread_mutex_unlock(&node->mutex);
}

const raft_peers_t *raft_node_peers(const raft_node_t *node) { return &node->peers; }

size_t raft_node_describe(raft_node_t *node, Tally__CoordinatorInfo *infos,
                          Tally__CoordinatorInfo **ptrs, size_t cap, raft_node_status_t *status) {
  raft_node_status(node, status);
  size_t n = node->peers.count < cap ? node->peers.count : cap;
  for (size_t i = 0; i < n; i++) {
    const raft_peer_t *peer = &node->peers.peers[i];
    tally__coordinator_info__init(&infos[i]);
    infos[i].raft_id = peer->id;
    infos[i].endpoint = (char *)peer->client_endpoint;
    infos[i].raft_address = (char *)peer->raft_address;
    infos[i].leader = peer->id == status->leader_id;
    ptrs[i] = &infos[i];
  }
  return n;
}

void raft_node_commit_figures(raft_node_t *node, uint64_t *commits, uint64_t *total_us) {
  pthread_mutex_lock(&node->mutex);
  *commits = node->commits;
  *total_us = node->commit_total_us;
  pthread_mutex_unlock(&node->mutex);
}
