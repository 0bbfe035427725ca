/* tally-coordinator: the daemon around coordinator.h.
 *
 * One libuv loop runs everything: the ROUTER socket (common/router.h) whose
 * requests go to coordinator_handle(), the reports in progress
 * (report_gather.h: report_requests are answered once the workers sent
 * their statistics, while everything else keeps being served), a timer for
 * failure detection, a timer that gathers the ramp-up sums (common/ramp.h)
 * every --ramp-period-ms, and SIGTERM/SIGINT handlers that close all
 * handles so
 * the loop ends, after which the metadata store is closed and the process
 * exits 0.
 * Exit status: 0 clean stop or --help, 1 runtime failure (store, bind,
 * endpoint file), 2 bad usage.
 *
 * Replicated (--raft-id): the daemon opens the metadata store itself and
 * starts a raft_node on it (raft_node.h), which applies the group's log to
 * the store on its own thread. The coordinator's memory (coordinator_t)
 * exists only while this member is the ready leader: leadership_sync()
 * loads it from the applied store when the node's generation moves, and
 * drops it when leadership is lost. Without it every request is answered
 * NOT_LEADER with the leader's client endpoint, the ZAP handler accepts any
 * key (zap_allow_any) and the timers do nothing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "clock.h"
#include "config_wait.h"
#include "coordinator.h"
#include "coordinator_metrics.h"
#include "coordinator_options.h"
#include "log.h"
#include "meta_store.h"
#include "metrics_http.h"
#include "raft_node.h"
#include "ramp.h"
#include "report_gather.h"
#include "router.h"
#include "tally_error.h"
#include "wire.h"
#include "zap.h"

/* Requests handled per drain callback before the loop gets a turn (timers,
 * signals); the router resumes draining from an idle callback. */
#define REQUESTS_PER_DRAIN 1024

/* Requests a second one connection may send to the coordinator. */
#define COORDINATOR_REQUEST_RATE 20000

typedef struct {
  uv_loop_t loop;
  void *zmq_context;
  router_t *router;
  coordinator_t *coordinator;
  report_gather_t *gather;
  config_wait_t *config_wait; /* replies to config changes, until workers run them */
  uv_timer_t liveness;
  uint64_t liveness_period_ms; /* of the full liveness check */
  uint64_t detect_period_ms;   /* of the timer: silent workers are looked for at each tick */
  uint64_t last_liveness_ms;   /* monotonic time of the previous tick */
  uint64_t last_full_ms;       /* monotonic time of the previous full check */
  uv_timer_t ramp;
  size_t ramp_pending;       /* ramp-up gathers in progress; a tick starts none while > 0 */
  uv_signal_t sigterm, sigint;
  zap_t *zap;                 /* NULL: --insecure */
  uint64_t zap_keys_version;  /* coordinator_keys_version the ZAP list was made from */
  coordinator_metrics_t *metrics; /* NULL: no --metrics-listen */
  metrics_http_t *metrics_http;
  uint64_t ramp_started_ns;   /* uv_hrtime of the ramp round in progress */
  /* Replicated (--raft-id); all NULL/0 otherwise. */
  const coordinator_options_t *options;
  meta_store_t *store;        /* the daemon's; the coordinator borrows it */
  raft_node_t *raft;
  uv_async_t raft_changed;    /* woken by the Raft thread (raft_node_notify_fn) */
  uint64_t loaded_generation; /* raft_node_status().generation the memory was loaded at */
  Tally__CoordinatorInfo control_infos[RAFT_PEERS_MAX]; /* for cluster status */
  Tally__CoordinatorInfo *control_ptrs[RAFT_PEERS_MAX];
} daemon_t;

/* Where coordinator replies of one request go. */
typedef struct {
  daemon_t *daemon;
  router_t *router;
  const router_request_t *request;
} reply_target_t;

/* Where the reply of a report in progress goes: the client's routing id
 * and request id, kept until the workers have answered. */
typedef struct {
  daemon_t *daemon;
  uint8_t peer[sizeof ((router_request_t *)0)->peer];
  size_t peer_len;
  uint64_t request_id;
  uint32_t body_case;  /* of the request (metrics) */
  uint64_t started_ns; /* uv_hrtime when the gather started (metrics) */
} report_reply_to_t;

/* Sends `reply` (an INTERNAL error instead when it is too large); returns
 * the code the client got. */
static int reply_deliver(reply_target_t *target, const Tally__Envelope *reply) {
  int rc = router_send(target->router, target->request->peer, target->request->peer_len, reply);
  if (rc != TALLY_E_TOO_LARGE) return 0;
  router_send_error(target->router, target->request, TALLY_E_INTERNAL,
                    "the reply would exceed the 8 MiB message limit");
  return TALLY_E_INTERNAL;
}

static void reply_send(void *ctx, const Tally__Envelope *reply) {
  reply_target_t *target = ctx;
  int code = reply_deliver(target, reply);
  coordinator_metrics_answered(target->daemon->metrics, target->request->env->body_case, code);
}

static void reply_send_error(void *ctx, int code, const char *message) {
  reply_target_t *target = ctx;
  router_send_error(target->router, target->request, code, message);
  coordinator_metrics_answered(target->daemon->metrics, target->request->env->body_case, code);
}

/* Answers a deferred report: `env` (the built reply, or NULL when there is
 * none) or, when code < 0 or the reply is too large, an error; frees `to`. */
static void report_answer(report_reply_to_t *to, const Tally__Envelope *env, int code) {
  router_t *router = to->daemon->router;
  coordinator_metrics_t *metrics = to->daemon->metrics;
  coordinator_metrics_gathered(metrics,
                               to->body_case == TALLY__ENVELOPE__BODY_OPS_REPORT_REQUEST ? GATHER_OPS
                                                                                      : GATHER_QUALITY,
                               to->started_ns);
  if (router != NULL) {
    const char *message = code == TALLY_E_UNAVAILABLE ? "the coordinator is stopping" : NULL;
    if (env != NULL && router_send(router, to->peer, to->peer_len, env) == TALLY_E_TOO_LARGE) {
      code = TALLY_E_INTERNAL;
      message = "the report would exceed the 8 MiB message limit; narrow it (market, days)";
    }
    if (code < 0) {
      Tally__Envelope error_env;
      Tally__ErrorReply error;
      wire_error_init(&error_env, &error, to->request_id, code, message);
      router_send(router, to->peer, to->peer_len, &error_env);
    }
    coordinator_metrics_answered(metrics, to->body_case, code < 0 ? code : 0);
    router_kick(router); /* sent outside a drain: check the socket again */
  }
  free(to);
}

static void on_report_done(void *user, const Tally__ReportReply *reply, int code) {
  report_reply_to_t *to = user;
  Tally__Envelope env;
  wire_envelope_init(&env, to->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_REPORT_REPLY;
  env.report_reply = (Tally__ReportReply *)reply;
  report_answer(to, reply != NULL ? &env : NULL, code);
}

static void on_ops_report_done(void *user, const Tally__OpsReportReply *reply, int code) {
  report_reply_to_t *to = user;
  Tally__Envelope env;
  wire_envelope_init(&env, to->request_id);
  env.body_case = TALLY__ENVELOPE__BODY_OPS_REPORT_REPLY;
  env.ops_report_reply = (Tally__OpsReportReply *)reply;
  report_answer(to, reply != NULL ? &env : NULL, code);
}

static void reply_defer_report(void *ctx, coordinator_report_job_t *job) {
  reply_target_t *target = ctx;
  report_reply_to_t *to = malloc(sizeof *to);
  if (to == NULL) {
    coordinator_report_job_free(&job);
    reply_send_error(ctx, TALLY_E_INTERNAL, "out of memory starting the report");
    return;
  }
  to->daemon = target->daemon;
  memcpy(to->peer, target->request->peer, target->request->peer_len);
  to->peer_len = target->request->peer_len;
  to->request_id = target->request->env->request_id;
  to->body_case = target->request->env->body_case;
  to->started_ns = uv_hrtime();
  int rc = job->ops != NULL
               ? report_gather_start_ops(target->daemon->gather, job, on_ops_report_done, to)
               : report_gather_start(target->daemon->gather, job, on_report_done, to);
  if (rc < 0) {
    free(to);
    reply_send_error(ctx, rc,
                     rc == TALLY_E_UNAVAILABLE ? "too many reports in progress; retry shortly"
                                               : "out of memory starting the report");
  }
}

static void reply_defer_until_config(void *ctx, const Tally__Envelope *reply, uint64_t version) {
  reply_target_t *target = ctx;
  /* Counted now: the reply is this success, sent when the workers run the
   * version or at the bound. */
  coordinator_metrics_answered(target->daemon->metrics, target->request->env->body_case, 0);
  if (config_wait_add(target->daemon->config_wait, target->request->peer,
                      target->request->peer_len, reply, version) < 0)
    reply_deliver(target, reply); /* cannot hold it: answer now rather than never */
}

static int config_wait_reached(void *user, uint64_t version) {
  daemon_t *d = user;
  if (d->coordinator == NULL) return 1; /* leadership lost: the change was committed */
  return coordinator_config_reached(d->coordinator, version);
}

static void config_wait_send(void *user, const uint8_t *peer, size_t peer_len,
                             const uint8_t *data, size_t len) {
  daemon_t *d = user;
  if (d->router == NULL) return;
  router_send_encoded(d->router, peer, peer_len, data, len);
  router_kick(d->router); /* possibly sent outside a drain: check the socket again */
}

/* Gives the ZAP handler the keys the coordinator knows now, when they
 * changed (people added or re-keyed, workers admitted or revoked). */
static void zap_refresh(daemon_t *d) {
  if (d->zap == NULL || d->coordinator == NULL) return;
  uint64_t version = coordinator_keys_version(d->coordinator);
  if (version == d->zap_keys_version) return;
  const char **keys = NULL;
  size_t n = 0;
  if (coordinator_allowed_keys(d->coordinator, &keys, &n) == 0 &&
      zap_set_keys(d->zap, keys, n) == 0)
    d->zap_keys_version = version;
  else
    log_error("out of memory updating the allowed keys; retrying with the next request");
  free(keys);
}

/* coordinator_control_plane_fn: the group as this member sees it now. */
static void control_plane(void *ctx, Tally__CoordinatorInfo ***infos, size_t *n,
                          uint64_t *leader_id, uint64_t *term, uint64_t *commit_index) {
  daemon_t *d = ctx;
  raft_node_status_t status;
  *n = raft_node_describe(d->raft, d->control_infos, d->control_ptrs, RAFT_PEERS_MAX, &status);
  *infos = d->control_ptrs;
  *leader_id = status.leader_id;
  *term = status.term;
  *commit_index = status.commit_index;
}

/* Makes the coordinator's memory the leader's, freshly loaded from the
 * applied store: the workers it knows get a full heartbeat timeout from
 * now (coordinator_open), the operator key is registered, ZAP gets the
 * keys. Returns 0 or negative (logged; leadership_sync tries again). */
static int leadership_take(daemon_t *d, uint64_t generation) {
  const coordinator_options_t *o = d->options;
  int rc = coordinator_open_shared(&d->coordinator, d->store, o->heartbeat_timeout_ms);
  if (rc == 0) coordinator_expect_workers(d->coordinator, o->expect_workers, 10000);
  if (rc == 0) rc = coordinator_set_replicas(d->coordinator, o->replicas);
  if (rc == 0 && !o->insecure) rc = coordinator_set_security(d->coordinator, o->operator_key);
  if (rc < 0) {
    log_error("cannot take over as leader: %s; retrying", tally_strerror(rc));
    coordinator_close(&d->coordinator);
    return rc;
  }
  d->loaded_generation = generation;
  coordinator_set_control_plane(d->coordinator, control_plane, d);
  coordinator_metrics_set_coordinator(d->metrics, d->coordinator);
  d->last_liveness_ms = d->last_full_ms = clock_monotonic_ms();
  if (d->zap != NULL) {
    d->zap_keys_version = 0;
    zap_refresh(d);
    zap_allow_any(d->zap, 0);
  }
  log_info("leader: serving (state loaded at generation %llu)", (unsigned long long)generation);
  return 0;
}

/* Replicated: brings the coordinator's memory in line with the Raft
 * status. Returns 1 when this daemon serves requests now (always when not
 * replicated), 0 when it answers NOT_LEADER. */
static int leadership_sync(daemon_t *d) {
  if (d->raft == NULL) return 1;
  raft_node_status_t status;
  raft_node_status(d->raft, &status);
  if (status.is_leader && d->coordinator != NULL && status.generation == d->loaded_generation)
    return 1;
  if (d->coordinator != NULL) {
    coordinator_metrics_set_coordinator(d->metrics, NULL);
    coordinator_close(&d->coordinator);
    if (d->zap != NULL) zap_allow_any(d->zap, 1);
    log_info("no longer serving as leader (leader now: %s)",
             status.leader_endpoint[0] ? status.leader_endpoint : "unknown");
  }
  if (!status.is_leader) return 0;
  return leadership_take(d, status.generation) == 0;
}

static void on_raft_changed(uv_async_t *async) {
  daemon_t *d = async->data;
  leadership_sync(d);
}

/* The Raft thread's notification: wakes the loop (raft_node_notify_fn). */
static void raft_notify(void *ctx) {
  daemon_t *d = ctx;
  uv_async_send(&d->raft_changed);
}

/* The answer of a member that does not serve: NOT_LEADER, naming the
 * leader's client endpoint when one is known. */
static void reply_not_leader(daemon_t *d, router_t *router, const router_request_t *request) {
  raft_node_status_t status;
  raft_node_status(d->raft, &status);
  Tally__Envelope env;
  Tally__ErrorReply error;
  wire_error_init(&env, &error, request->env->request_id, TALLY_E_NOT_LEADER,
                  status.leader_endpoint[0] ? "this coordinator is not the leader; ask the leader"
                                            : "no leader coordinator yet (an election is under way); retry");
  error.leader_endpoint = status.leader_endpoint;
  router_send(router, request->peer, request->peer_len, &env);
  coordinator_metrics_answered(d->metrics, request->env->body_case, TALLY_E_NOT_LEADER);
}

static void on_drain(router_t *router, void *user) {
  daemon_t *d = user;
  int serving = leadership_sync(d);
  for (int handled = 0; handled < REQUESTS_PER_DRAIN; handled++) {
    router_request_t request;
    int rc = router_recv(router, &request);
    if (rc < 0) log_warn("receive failed: %s", tally_strerror(rc));
    if (rc <= 0) return;
    coordinator_metrics_received(d->metrics, request.size);
    if (!serving) {
      reply_not_leader(d, router, &request);
      router_request_clear(&request);
      continue;
    }
    reply_target_t target = {d, router, &request};
    coordinator_replier_t replier = {reply_send, reply_send_error, &target, reply_defer_report,
                                     reply_defer_until_config};
    coordinator_handle(d->coordinator, request.env, request.user_id, &replier);
    router_request_clear(&request);
    if (d->zap != NULL) zap_refresh(d);
  }
}

/* Every detect_period_ms: the silent workers (a dead one is noticed within
 * a tick of its heartbeat timeout, not of the liveness period); every
 * liveness_period_ms, the full check (settling, followers, rebalancing). */
static void on_liveness_timer(uv_timer_t *timer) {
  daemon_t *d = timer->data;
  uint64_t now = clock_monotonic_ms(), gap = now - d->last_liveness_ms;
  d->last_liveness_ms = now;
  if (now - d->last_full_ms >= d->liveness_period_ms) {
    uint64_t full_gap = now - d->last_full_ms;
    d->last_full_ms = now;
    /* A late check means this loop itself stalled (slow disk, stopped
     * process): heartbeats may wait unread in the socket, and libuv runs
     * timers before polling. Skip one check so they are read before anyone
     * is judged. */
    if (full_gap > 2 * d->liveness_period_ms) {
      log_warn("event loop stalled for %llu ms; liveness check postponed",
               (unsigned long long)full_gap);
      return;
    }
    if (!leadership_sync(d)) return;
    int rc = coordinator_check_liveness(d->coordinator, now);
    if (rc < 0) log_error("cannot record workers going down (%s); will retry", tally_strerror(rc));
    return;
  }
  /* Between full checks only while the loop keeps up: after a late tick the
   * full check (with the guard above) decides. */
  if (gap > 2 * d->detect_period_ms || !leadership_sync(d)) return;
  int rc = coordinator_check_silence(d->coordinator, now);
  if (rc < 0) log_error("cannot record workers going down (%s); will retry", tally_strerror(rc));
}

static void on_ramp_gathered(void *user, const Tally__ReportReply *reply, int code) {
  daemon_t *d = user;
  d->ramp_pending--;
  coordinator_metrics_gathered(d->metrics, GATHER_RAMP, d->ramp_started_ns);
  if (code < 0 || reply == NULL || d->coordinator == NULL) return;
  int rc = coordinator_ramp_apply(d->coordinator, reply);
  if (rc > 0 && d->router != NULL) router_kick(d->router);
}

/* Gathers the by-labeler sums of every project with a ramp-up, one round
 * at a time, each report counting against the gather's limit (it leaves
 * room for clients' reports: a round stops at half of it). */
static void on_ramp_timer(uv_timer_t *timer) {
  daemon_t *d = timer->data;
  if (d->ramp_pending > 0 || d->gather == NULL || d->coordinator == NULL) return;
  size_t cursor = 0;
  coordinator_report_job_t *job = NULL;
  d->ramp_started_ns = uv_hrtime();
  while (report_gather_pending(d->gather) < REPORT_GATHER_DEFAULT_MAX_PENDING / 2 &&
         coordinator_ramp_job(d->coordinator, &cursor, &job) > 0) {
    if (job->n_workers == 0) {
      coordinator_report_job_free(&job);
      continue;
    }
    if (report_gather_start(d->gather, job, on_ramp_gathered, d) < 0) return;
    d->ramp_pending++;
  }
}

static void on_signal(uv_signal_t *signal_handle, int signum) {
  daemon_t *d = signal_handle->data;
  log_info("signal %d: stopping", signum);
  raft_node_destroy(&d->raft); /* no more notifications after this */
  report_gather_destroy(&d->gather); /* answers the reports in progress */
  config_wait_destroy(&d->config_wait); /* answers the held replies */
  router_destroy(&d->router);
  metrics_http_destroy(&d->metrics_http);
  uv_close((uv_handle_t *)&d->liveness, NULL);
  uv_close((uv_handle_t *)&d->ramp, NULL);
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  if (d->options != NULL && d->options->raft_id != 0) uv_close((uv_handle_t *)&d->raft_changed, NULL);
}

/* Writes `endpoint` and a newline to `path` atomically (temporary file,
 * fsync, rename). Returns 0 or TALLY_E_IO (logged). */
static int write_endpoint_file(const char *path, const char *endpoint) {
  size_t size = strlen(path) + sizeof ".tmp";
  char *tmp = malloc(size);
  if (tmp == NULL) return TALLY_E_NOMEM;
  snprintf(tmp, size, "%s.tmp", path);
  int rc = TALLY_E_IO;
  FILE *f = fopen(tmp, "w");
  if (f != NULL) {
    int ok = fprintf(f, "%s\n", endpoint) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0) rc = 0;
  }
  if (rc < 0) {
    log_error("cannot write endpoint file %s: %s", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

/* Full liveness check: a few per timeout, within [10 ms, 1 s]. */
static uint64_t liveness_period_ms(uint64_t timeout_ms) {
  uint64_t period = timeout_ms / 4;
  return period < 10 ? 10 : period > 1000 ? 1000 : period;
}

/* Silent workers are looked for 20 times per timeout, within [10, 100]
 * ms (and at least as often as the full check): a worker is declared at
 * most a tick after its timeout. The look is a scan of the workers. */
static uint64_t detect_period_ms(uint64_t timeout_ms) {
  uint64_t period = timeout_ms / 20, full = liveness_period_ms(timeout_ms);
  period = period < 10 ? 10 : period > 100 ? 100 : period;
  return period < full ? period : full;
}

/* Loads (or makes) the coordinator's key pair, starts the ZAP handler and
 * makes the coordinator secure. Returns 0 or negative (logged). */
static int security_start(daemon_t *d, const coordinator_options_t *o, curve_keypair_t *self) {
  if (!curve_available()) {
    log_error("this libzmq has no CURVE support; run with --insecure or install a libzmq with it");
    return TALLY_E_INTERNAL;
  }
  char path[4096];
  if (o->key_file) snprintf(path, sizeof path, "%s", o->key_file);
  else snprintf(path, sizeof path, "%s/coordinator.key", o->dir);
  int rc = curve_keypair_load_or_create(self, path);
  if (rc < 0) {
    log_error("cannot read or make the key pair %s: %s", path,
              rc == TALLY_E_IO ? strerror(errno) : "not a Tally key file");
    return rc;
  }
  if (d->raft == NULL) { /* replicated: the leader registers it (leadership_take) */
    rc = coordinator_set_security(d->coordinator, o->operator_key);
    if (rc < 0) {
      log_error("cannot register the operator key: %s", tally_strerror(rc));
      return rc;
    }
  }
  rc = zap_new(&d->zap, d->zmq_context);
  if (rc < 0) {
    log_error("cannot start the ZAP handler: %s", tally_strerror(rc));
    return rc;
  }
  zap_refresh(d);
  if (d->raft != NULL) zap_allow_any(d->zap, 1); /* until this member leads */
  log_info("CURVE on: public key %s", self->public_key);
  return 0;
}

/* Replicated: opens DIR/meta and starts the Raft member on it. The
 * coordinator's memory waits for leadership (leadership_sync). */
static int replication_start(daemon_t *d, const coordinator_options_t *o) {
  char path[4096];
  if (mkdir(o->dir, 0755) < 0 && errno != EEXIST) {
    log_error("cannot create directory %s: %s", o->dir, strerror(errno));
    return TALLY_E_IO;
  }
  snprintf(path, sizeof path, "%s/raft", o->dir);
  struct stat raft_dir;
  int first_start = stat(path, &raft_dir) != 0;
  snprintf(path, sizeof path, "%s/meta", o->dir);
  int rc = meta_store_open(&d->store, path);
  if (rc < 0) return rc;
  meta_counters_t *counters = malloc(sizeof *counters);
  if (counters == NULL) return TALLY_E_NOMEM;
  rc = first_start ? meta_store_load_counters(d->store, counters) : 0;
  int has_state = rc == 0 && first_start && (counters->epoch > 0 || counters->config_version > 0);
  free(counters);
  if (rc < 0) return rc;
  if (has_state) {
    /* The group's state is its log: a store written without it would
     * differ from the other members' for ever. */
    log_error("%s holds the state of a coordinator that ran alone; a replicated coordinator "
              "starts from an empty --dir (the group bootstraps from nothing)", path);
    return TALLY_E_INVALID_ARGUMENT;
  }
  uv_async_init(&d->loop, &d->raft_changed, on_raft_changed);
  d->raft_changed.data = d;
  raft_node_config_t config = {.self_id = o->raft_id,
                               .dir = o->dir,
                               .listen = o->raft_listen,
                               .peers = &o->peers,
                               .store = d->store,
                               .notify = raft_notify,
                               .notify_ctx = d};
  return raft_node_new(&d->raft, &config);
}

/* Opens the state, binds, and starts the handles. Returns 0 or negative. */
static int daemon_start(daemon_t *d, const coordinator_options_t *o) {
  int rc = 0;
  d->options = o;
  if (o->raft_id != 0) {
    rc = replication_start(d, o);
  } else {
    rc = coordinator_open(&d->coordinator, o->dir, o->heartbeat_timeout_ms);
    if (rc == 0) coordinator_expect_workers(d->coordinator, o->expect_workers, 10000);
    if (rc == 0) rc = coordinator_set_replicas(d->coordinator, o->replicas);
  }
  if (rc < 0) {
    log_error("cannot open the coordinator state in %s: %s", o->dir, tally_strerror(rc));
    return rc;
  }
  curve_keypair_t self;
  if (!o->insecure) {
    rc = security_start(d, o, &self);
    if (rc < 0) return rc;
  } else {
    log_warn("--insecure: plain TCP, no keys; every request is trusted as it says who sends it");
  }
  rc = router_new(&d->router, &d->loop, d->zmq_context, o->bind, o->insecure ? NULL : &self,
                  on_drain, d);
  if (rc < 0) {
    log_error("cannot serve on %s: %s", o->bind, tally_strerror(rc));
    return rc;
  }
  /* One connection may not take the coordinator from the others: the same
   * per-connection rate as a worker's default (worker.h). */
  rc = router_set_rate_limit(d->router, COORDINATOR_REQUEST_RATE, COORDINATOR_REQUEST_RATE / 4.0);
  if (rc < 0) return rc;
  rc = report_gather_new(&d->gather, &d->loop, d->zmq_context, REPORT_GATHER_DEFAULT_DEADLINE_MS,
                         REPORT_GATHER_DEFAULT_MAX_PENDING);
  if (rc < 0) return rc;
  if (!o->insecure) report_gather_set_curve(d->gather, &self);
  rc = config_wait_new(&d->config_wait, &d->loop, CONFIG_WAIT_DEFAULT_DEADLINE_MS,
                       config_wait_reached, config_wait_send, d);
  if (rc < 0) return rc;
  uv_timer_init(&d->loop, &d->liveness);
  d->liveness.data = d;
  d->liveness_period_ms = liveness_period_ms(o->heartbeat_timeout_ms);
  d->detect_period_ms = detect_period_ms(o->heartbeat_timeout_ms);
  d->last_liveness_ms = d->last_full_ms = clock_monotonic_ms();
  uv_timer_start(&d->liveness, on_liveness_timer, d->detect_period_ms, d->detect_period_ms);
  uv_timer_init(&d->loop, &d->ramp);
  d->ramp.data = d;
  if (o->ramp_period_ms > 0) uv_timer_start(&d->ramp, on_ramp_timer, o->ramp_period_ms, o->ramp_period_ms);
  uv_signal_init(&d->loop, &d->sigterm);
  uv_signal_init(&d->loop, &d->sigint);
  d->sigterm.data = d->sigint.data = d;
  uv_signal_start(&d->sigterm, on_signal, SIGTERM);
  uv_signal_start(&d->sigint, on_signal, SIGINT);
  if (o->metrics_listen) {
    rc = coordinator_metrics_new(&d->metrics, d->coordinator);
    if (rc == 0)
      rc = metrics_http_new(&d->metrics_http, &d->loop, o->metrics_listen,
                            coordinator_metrics_registry(d->metrics));
    if (rc < 0) return rc;
    log_info("metrics on http://%s/metrics", metrics_http_address(d->metrics_http));
  }
  if (o->endpoint_file && (rc = write_endpoint_file(o->endpoint_file,
                                                    router_endpoint(d->router))) < 0)
    return rc;
  log_info("serving on %s (heartbeat timeout %llu ms)", router_endpoint(d->router),
           (unsigned long long)o->heartbeat_timeout_ms);
  return 0;
}

static void close_handle(uv_handle_t *handle, void *arg) {
  (void)arg;
  if (!uv_is_closing(handle)) uv_close(handle, NULL);
}

/* Closes whatever daemon_start opened (a no-op after a signal closed it
 * all); the caller runs the loop once more for the close callbacks. */
static void daemon_stop(daemon_t *d) {
  raft_node_destroy(&d->raft);
  report_gather_destroy(&d->gather);
  config_wait_destroy(&d->config_wait);
  router_destroy(&d->router);
  metrics_http_destroy(&d->metrics_http);
  uv_walk(&d->loop, close_handle, NULL);
}

int main(int argc, char **argv) {
  coordinator_options_t options;
  char why[512];
  log_set_program("tally-coordinator");
  if (coordinator_options_parse(&options, argc, argv, why, sizeof why) < 0) {
    fprintf(stderr, "tally-coordinator: %s (try --help)\n", why);
    coordinator_options_free(&options);
    return 2;
  }
  if (options.help) {
    coordinator_options_usage(stdout);
    coordinator_options_free(&options);
    return 0;
  }
  log_set_level(options.log_level);
  signal(SIGPIPE, SIG_IGN);

  daemon_t d;
  memset(&d, 0, sizeof d);
  uv_loop_init(&d.loop);
  d.zmq_context = zmq_ctx_new();
  int rc = d.zmq_context ? daemon_start(&d, &options) : TALLY_E_TRANSPORT;
  if (rc == 0) uv_run(&d.loop, UV_RUN_DEFAULT);
  daemon_stop(&d);
  uv_run(&d.loop, UV_RUN_DEFAULT);
  uv_loop_close(&d.loop);
  coordinator_metrics_destroy(&d.metrics);
  coordinator_close(&d.coordinator);
  meta_store_close(&d.store);
  zap_destroy(&d.zap);
  if (d.zmq_context) zmq_ctx_term(d.zmq_context);
  coordinator_options_free(&options);
  if (rc == 0) log_info("stopped");
  return rc == 0 ? 0 : 1;
}
