/* report_gather: scatter stats_request, gather stats_reply on the loop.
 * See report_gather.h. */
#include "report_gather.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "ops_report.h"
#include "report.h"
#include "tally_error.h"
#include "wire.h"

/* One DEALER connected to one worker endpoint. */
typedef struct connection {
  struct report_gather *gather;
  struct connection *next;
  char *endpoint;
  char server_key[CURVE_Z85_LEN + 1]; /* the worker's key ("" plain) */
  void *socket;
  uv_poll_t poll;
  size_t waiting; /* targets waiting for a reply over it */
} connection_t;

typedef enum { TARGET_WAITING, TARGET_ANSWERED, TARGET_FAILED } target_state_t;

/* One worker asked for one report. */
typedef struct {
  uint64_t request_id;
  uint32_t worker_id;
  connection_t *connection; /* NULL when none could be opened */
  target_state_t state;
} target_t;

/* One report in progress. */
typedef struct pending {
  struct report_gather *gather;
  struct pending *next;
  coordinator_report_job_t *job;
  target_t *targets; /* job->n_workers */
  size_t waiting;
  uint32_t answered, failed;
  int error; /* TALLY_E_NOMEM when a row could not be added */
  int completed;
  uv_timer_t timer; /* the deadline */
  report_gather_done_cb done;         /* quality reports */
  report_gather_ops_done_cb ops_done; /* ops reports (job->ops) */
  void *user;
} pending_t;

struct report_gather {
  uv_loop_t *loop;
  void *zmq_ctx;
  uint64_t deadline_ms;
  size_t max_pending;
  pending_t *pending; /* reports in progress, and completed ones until swept */
  size_t pending_count; /* not yet completed */
  connection_t *connections;
  size_t connection_count;
  uint64_t next_request_id;
  uv_idle_t kick; /* a drain on the next loop turn, after sends */
  int secure;            /* report_gather_set_curve was called */
  curve_keypair_t self;
};

void report_gather_set_curve(report_gather_t *g, const curve_keypair_t *self) {
  g->secure = 1;
  g->self = *self;
}

/* ---------------------------------------------------------------- connections */

static void on_poll(uv_poll_t *poll, int status, int events);

static void on_connection_closed(uv_handle_t *handle) {
  connection_t *conn = handle->data;
  zmq_close(conn->socket);
  free(conn->endpoint);
  free(conn);
}

/* The connection to `endpoint`: an open one, or a new one. NULL when no
 * socket could be made (logged). */
static connection_t *connection_get(report_gather_t *g, const char *endpoint,
                                    const char *server_key) {
  for (connection_t *conn = g->connections; conn; conn = conn->next)
    if (strcmp(conn->endpoint, endpoint) == 0 && strcmp(conn->server_key, server_key) == 0)
      return conn;
  connection_t *conn = calloc(1, sizeof *conn);
  if (conn == NULL || (conn->endpoint = strdup(endpoint)) == NULL) goto err;
  conn->socket = zmq_socket(g->zmq_ctx, ZMQ_DEALER);
  if (conn->socket == NULL) goto err;
  snprintf(conn->server_key, sizeof conn->server_key, "%s", server_key);
  if (g->secure) {
    curve_client_t client;
    client.self = g->self;
    snprintf(client.server_key, sizeof client.server_key, "%s", server_key);
    if (!curve_key_is_valid(server_key) || curve_setup_client(conn->socket, &client) < 0) goto err;
  }
  int linger = 0, reconnect_ms = 100, fd;
  int64_t maxsize = TALLY_HARD_MESSAGE_BYTES;
  size_t fd_len = sizeof fd;
  zmq_setsockopt(conn->socket, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(conn->socket, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
  zmq_setsockopt(conn->socket, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof reconnect_ms);
  if (zmq_connect(conn->socket, endpoint) != 0 ||
      zmq_getsockopt(conn->socket, ZMQ_FD, &fd, &fd_len) != 0 ||
      uv_poll_init(g->loop, &conn->poll, fd) != 0)
    goto err;
  conn->gather = g;
  conn->poll.data = conn;
  uv_poll_start(&conn->poll, UV_READABLE, on_poll);
  conn->next = g->connections;
  g->connections = conn;
  g->connection_count++;
  return conn;
err:
  log_warn("cannot open a connection to worker %s for a report: %s", endpoint,
           zmq_strerror(errno));
  if (conn && conn->socket) zmq_close(conn->socket);
  if (conn) free(conn->endpoint);
  free(conn);
  return NULL;
}

static void connection_close(connection_t *conn) {
  uv_close((uv_handle_t *)&conn->poll, on_connection_closed);
}

/* ---------------------------------------------------------------- pending reports */

static void on_pending_closed(uv_handle_t *handle) {
  pending_t *p = handle->data;
  coordinator_report_job_free(&p->job);
  free(p->targets);
  free(p);
}

static void target_resolve(pending_t *p, target_t *t, target_state_t state) {
  if (t->state != TARGET_WAITING) return;
  t->state = state;
  if (t->connection) t->connection->waiting--;
  p->waiting--;
  if (state == TARGET_ANSWERED)
    p->answered++;
  else
    p->failed++;
}

/* Completes `p` once: every worker still waited for counts as failed; the
 * reply (code 0) or the error goes to the done callback. */
static void pending_complete(report_gather_t *g, pending_t *p, int code) {
  if (p->completed) return;
  p->completed = 1;
  g->pending_count--;
  uv_timer_stop(&p->timer);
  for (size_t i = 0; i < p->job->n_workers; i++)
    target_resolve(p, &p->targets[i], TARGET_FAILED);
  if (p->job->ops != NULL) {
    if (code == 0) code = p->error;
    Tally__OpsReportReply *ops = NULL;
    if (code == 0) code = ops_report_build(p->job->ops, &ops);
    if (code == 0) {
      ops->workers_answered = p->answered;
      ops->workers_failed = p->failed;
      log_info("ops report on '%s': %u workers, %u failed", p->job->stats.project, p->answered,
               p->failed);
    }
    p->ops_done(p->user, ops, code);
    ops_report_reply_free(&ops);
    return;
  }
  report_t *report = p->job->report;
  if (report_rows_rejected(report) > 0)
    log_warn("report on '%s': %" PRIu64 " statistics rows rejected (malformed, or of another "
             "taxonomy)",
             p->job->stats.project, report_rows_rejected(report));
  if (code == 0) code = p->error;
  Tally__ReportReply *reply = NULL;
  if (code == 0) code = report_build(report, &reply);
  if (code == 0) {
    reply->workers_answered = p->answered;
    reply->workers_failed = p->failed;
    log_info("report on '%s': %" PRIu64 " rows from %u workers, %u failed", p->job->stats.project,
             report_rows_added(report), p->answered, p->failed);
  }
  p->done(p->user, reply, code);
  report_reply_free(&reply);
}

/* Finds the waiting target with `request_id`. */
static target_t *target_find(report_gather_t *g, uint64_t request_id, pending_t **owner) {
  for (pending_t *p = g->pending; p; p = p->next) {
    if (p->completed) continue;
    for (size_t i = 0; i < p->job->n_workers; i++)
      if (p->targets[i].request_id == request_id && p->targets[i].state == TARGET_WAITING) {
        *owner = p;
        return &p->targets[i];
      }
  }
  return NULL;
}

/* Handles one message received on `conn`. */
static void handle_reply(report_gather_t *g, connection_t *conn, const void *data, size_t len) {
  Tally__Envelope *env = NULL;
  uint64_t request_id = 0;
  int rc = wire_decode(data, len, &env, &request_id);
  pending_t *p = NULL;
  target_t *t = target_find(g, env ? env->request_id : request_id, &p);
  if (t == NULL || t->connection != conn) {
    log_debug("late or unknown reply on %s dropped", conn->endpoint);
    wire_envelope_free(&env);
    return;
  }
  if (rc < 0) {
    log_warn("report: worker %u sent an undecodable reply (%s)", t->worker_id, tally_strerror(rc));
    target_resolve(p, t, TARGET_FAILED);
  } else if (env->body_case == TALLY__ENVELOPE__BODY_STATS_REPLY &&
             env->stats_reply->worker_id == t->worker_id) {
    const Tally__StatsReply *reply = env->stats_reply;
    for (size_t i = 0; i < reply->n_rows && p->error == 0; i++)
      if (report_add_row(p->job->report, reply->rows[i]) == TALLY_E_NOMEM) p->error = TALLY_E_NOMEM;
    target_resolve(p, t, TARGET_ANSWERED);
  } else if (p->job->ops != NULL && env->body_case == TALLY__ENVELOPE__BODY_OPS_REPLY &&
             env->ops_reply->worker_id == t->worker_id) {
    if (ops_report_add_reply(p->job->ops, env->ops_reply) == TALLY_E_NOMEM) p->error = TALLY_E_NOMEM;
    target_resolve(p, t, TARGET_ANSWERED);
  } else if (env->body_case == TALLY__ENVELOPE__BODY_ERROR) {
    log_info("report: worker %u answered %s: %s", t->worker_id,
             tally_error_name(tally_error_from_wire((int)env->error->code)), env->error->message);
    target_resolve(p, t, TARGET_FAILED);
  } else {
    log_warn("report: worker %u at %s answered with '%s' (worker id %u)", t->worker_id,
             conn->endpoint, wire_body_name(env),
             env->body_case == TALLY__ENVELOPE__BODY_STATS_REPLY ? env->stats_reply->worker_id : 0);
    target_resolve(p, t, TARGET_FAILED);
  }
  wire_envelope_free(&env);
  if (p->waiting == 0) pending_complete(g, p, 0);
}

/* Receives everything waiting on `conn` (the edge-triggered ZMQ_FD only
 * signals again once ZMQ_EVENTS was read with nothing left). */
static void connection_drain(report_gather_t *g, connection_t *conn) {
  for (;;) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, conn->socket, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&msg);
      if (errno == EINTR) continue;
      break;
    }
    int more = zmq_msg_more(&msg);
    if (!more) handle_reply(g, conn, zmq_msg_data(&msg), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    while (more) { /* a worker never sends several frames: drop them all */
      zmq_msg_init(&msg);
      more = zmq_msg_recv(&msg, conn->socket, 0) >= 0 && zmq_msg_more(&msg);
      zmq_msg_close(&msg);
    }
  }
  int events = 0;
  size_t size = sizeof events;
  zmq_getsockopt(conn->socket, ZMQ_EVENTS, &events, &size);
}

/* Frees what is finished: completed reports (after their timer closes) and
 * connections nobody waits on. Runs at the end of every loop callback, so
 * that nothing is freed while a drain still looks at it. */
static void gather_sweep(report_gather_t *g) {
  for (pending_t **at = &g->pending; *at;) {
    pending_t *p = *at;
    if (!p->completed) {
      at = &p->next;
      continue;
    }
    *at = p->next;
    uv_close((uv_handle_t *)&p->timer, on_pending_closed);
  }
  for (connection_t **at = &g->connections; *at;) {
    connection_t *conn = *at;
    if (conn->waiting > 0) {
      at = &conn->next;
      continue;
    }
    *at = conn->next;
    g->connection_count--;
    connection_close(conn);
  }
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  (void)status, (void)events;
  connection_t *conn = poll->data;
  report_gather_t *g = conn->gather;
  connection_drain(g, conn);
  gather_sweep(g);
}

static void on_kick(uv_idle_t *idle) {
  report_gather_t *g = idle->data;
  uv_idle_stop(idle);
  for (connection_t *conn = g->connections; conn; conn = conn->next) connection_drain(g, conn);
  for (pending_t *p = g->pending; p; p = p->next)
    if (!p->completed && p->waiting == 0) pending_complete(g, p, 0);
  gather_sweep(g);
}

static void on_deadline(uv_timer_t *timer) {
  pending_t *p = timer->data;
  report_gather_t *g = p->gather;
  for (size_t i = 0; i < p->job->n_workers; i++)
    if (p->targets[i].state == TARGET_WAITING)
      log_warn("report on '%s': worker %u at %s did not answer within %" PRIu64 " ms",
               p->job->stats.project, p->targets[i].worker_id, p->job->endpoints[i],
               g->deadline_ms);
  pending_complete(g, p, 0);
  gather_sweep(g);
}

/* ---------------------------------------------------------------- public */

int report_gather_new(report_gather_t **out, uv_loop_t *loop, void *zmq_ctx,
                      uint64_t deadline_ms, size_t max_pending) {
  *out = NULL;
  if (deadline_ms == 0 || max_pending == 0) return TALLY_E_INVALID_ARGUMENT;
  report_gather_t *g = calloc(1, sizeof *g);
  if (g == NULL) return TALLY_E_NOMEM;
  g->loop = loop;
  g->zmq_ctx = zmq_ctx;
  g->deadline_ms = deadline_ms;
  g->max_pending = max_pending;
  g->next_request_id = clock_now_ms() << 20;
  uv_idle_init(loop, &g->kick);
  g->kick.data = g;
  *out = g;
  return 0;
}

static void on_gather_closed(uv_handle_t *handle) { free(handle->data); }

void report_gather_destroy(report_gather_t **gather) {
  if (gather == NULL || *gather == NULL) return;
  report_gather_t *g = *gather;
  *gather = NULL;
  for (pending_t *p = g->pending; p; p = p->next) pending_complete(g, p, TALLY_E_UNAVAILABLE);
  gather_sweep(g); /* every report is completed, so every connection is idle */
  uv_close((uv_handle_t *)&g->kick, on_gather_closed);
}

size_t report_gather_pending(const report_gather_t *g) { return g->pending_count; }

size_t report_gather_connections(const report_gather_t *g) { return g->connection_count; }

/* Sends the job's stats_request to target t over its connection. */
static int target_send(const coordinator_report_job_t *job, const target_t *t) {
  Tally__Envelope env;
  wire_envelope_init(&env, t->request_id);
  if (job->ops != NULL) {
    env.body_case = TALLY__ENVELOPE__BODY_OPS_REQUEST;
    env.ops_request = (Tally__OpsRequest *)&job->ops_request;
  } else {
    env.body_case = TALLY__ENVELOPE__BODY_STATS_REQUEST;
    env.stats_request = (Tally__StatsRequest *)&job->stats;
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = wire_encode(&env, &buf, &len);
  if (rc == 0 && zmq_send(t->connection->socket, buf, len, ZMQ_DONTWAIT) < 0)
    rc = TALLY_E_UNAVAILABLE;
  free(buf);
  return rc;
}

static int gather_start(report_gather_t *g, coordinator_report_job_t *job,
                        report_gather_done_cb done, report_gather_ops_done_cb ops_done,
                        void *user);

int report_gather_start(report_gather_t *g, coordinator_report_job_t *job,
                        report_gather_done_cb done, void *user) {
  if (job->ops != NULL) {
    coordinator_report_job_free(&job);
    return TALLY_E_INVALID_ARGUMENT;
  }
  return gather_start(g, job, done, NULL, user);
}

int report_gather_start_ops(report_gather_t *g, coordinator_report_job_t *job,
                            report_gather_ops_done_cb done, void *user) {
  if (job->ops == NULL) {
    coordinator_report_job_free(&job);
    return TALLY_E_INVALID_ARGUMENT;
  }
  return gather_start(g, job, NULL, done, user);
}

static int gather_start(report_gather_t *g, coordinator_report_job_t *job,
                        report_gather_done_cb done, report_gather_ops_done_cb ops_done,
                        void *user) {
  if (g->pending_count >= g->max_pending) {
    coordinator_report_job_free(&job);
    return TALLY_E_UNAVAILABLE;
  }
  pending_t *p = calloc(1, sizeof *p);
  target_t *targets = calloc(job->n_workers ? job->n_workers : 1, sizeof *targets);
  if (p == NULL || targets == NULL) {
    free(p);
    free(targets);
    coordinator_report_job_free(&job);
    return TALLY_E_NOMEM;
  }
  p->gather = g;
  p->job = job;
  p->targets = targets;
  p->done = done;
  p->ops_done = ops_done;
  p->user = user;
  uv_timer_init(g->loop, &p->timer);
  p->timer.data = p;
  p->next = g->pending;
  g->pending = p;
  g->pending_count++;
  for (size_t i = 0; i < job->n_workers; i++) {
    target_t *t = &p->targets[i];
    t->request_id = ++g->next_request_id;
    t->worker_id = job->worker_ids[i];
    t->state = TARGET_WAITING;
    p->waiting++;
    if ((t->connection = connection_get(g, job->endpoints[i], job->server_keys[i])) != NULL) t->connection->waiting++;
    if (t->connection == NULL || target_send(job, t) < 0) {
      log_warn("report: cannot send the statistics request to worker %u at %s", t->worker_id,
               job->endpoints[i]);
      target_resolve(p, t, TARGET_FAILED);
    }
  }
  uv_timer_start(&p->timer, on_deadline, g->deadline_ms, 0);
  uv_idle_start(&g->kick, on_kick);
  return 0;
}
