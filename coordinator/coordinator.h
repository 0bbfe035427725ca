/* coordinator: the state and request handling of tally-coordinator.
 *
 * Owns the metadata store (meta_store), the slot map (slot_map), the worker
 * membership (membership) and the cluster configuration (projects and
 * labelers). coordinator_handle() answers one decoded request; it knows
 * nothing about sockets: replies go through a coordinator_replier_t, so the
 * daemon plugs in its router and tests call it directly. The modules that
 * apply the requests, and their apply points, are listed in
 * coordinator_internal.h.
 *
 * Durability: a request that changes state plans the change on copies,
 * writes it as one synced meta_batch, and only then installs it in memory
 * and replies. When the write fails the reply is STORAGE and nothing
 * changed. (Installing in memory after a durable write can only fail on
 * out-of-memory; the process then aborts, and a restart reloads the
 * complete state from disk.)
 *
 * Audit policies: every project has one (project_create fills the default:
 * rate = audit_rate, no market rates, no ramp-up; policy_version 1);
 * audit_policy_set replaces it whole, keeps audit_rate == audit.rate and
 * bumps the config version (workers pick it up through heartbeats), never
 * policy_version. guideline_set appends a GuidelineVersion and bumps
 * policy_version (and the config version): the only change of it.
 *
 * Calibration sessions (calibration.h) are answered here from the
 * coordinator's own store; no worker takes part.
 *
 * Ramp-up: coordinator_ramp_job / coordinator_ramp_apply (below) turn
 * gathered by-labeler sums into Project.ramped_up (common/ramp.h).
 *
 * Reports: a report_request is validated here and turned into a
 * coordinator_report_job_t (engine from common/report.h, the workers that
 * are not DOWN); the daemon gathers the workers' statistics asynchronously
 * (report_gather.h) and answers the client later.
 *
 * Cluster map rules: see slot_map.h for slot assignment. The epoch is bumped
 * (once per request) whenever the map changes: slots assigned, a worker
 * added, a worker's endpoint or state changed. Heartbeat figures are not
 * part of the epoch.
 */
#ifndef TALLY_COORDINATOR_COORDINATOR_H
#define TALLY_COORDINATOR_COORDINATOR_H

#include <stdint.h>

#include "meta_store.h"
#include "ops_report.h"
#include "report.h"
#include "tally.pb-c.h"

typedef struct coordinator coordinator_t;

/* A report_request that passed validation: what to ask which workers, and
 * the report engine (common/report.h) to feed their stats_replies to. */
typedef struct {
  uint64_t request_id;         /* of the client's report_request */
  report_t *report;            /* taxonomy and query set; owned */
  Tally__StatsRequest stats;   /* to send to every worker; strings owned */
  size_t n_workers;            /* every worker of the map that is not DOWN */
  uint32_t *worker_ids;        /* n_workers, owned */
  char **endpoints;            /* n_workers, owned */
  char **server_keys;          /* n_workers, owned: each worker's CURVE key ("" none) */
  /* Set for an ops_report_request (then `report` is NULL): the engine the
   * workers' ops_replies go to, and the ops_request to send them. */
  ops_report_t *ops;           /* owned */
  Tally__OpsRequest ops_request; /* strings owned */
} coordinator_report_job_t;

/* Frees a job and everything it owns; safe on NULL; sets *job NULL. */
void coordinator_report_job_free(coordinator_report_job_t **job);

/* Where coordinator_handle() sends its one reply to a request. */
typedef struct {
  /* A successful reply; `reply` carries the request's id and is borrowed. */
  void (*send)(void *ctx, const Tally__Envelope *reply);
  /* An error reply: negative TALLY_E_* code, message borrowed. */
  void (*send_error)(void *ctx, int code, const char *message);
  void *ctx;
  /* Optional. A valid report_request is answered later, after the workers
   * were asked: instead of send/send_error, the coordinator hands the job
   * over (ownership included) and the callee answers the client itself
   * (report_reply or an error). NULL: such requests get UNAVAILABLE. */
  void (*defer_report)(void *ctx, coordinator_report_job_t *job);
  /* Optional. The reply to a configuration change (labeler_update,
   * audit_policy_set) is handed here instead of to send:
   * the callee copies `reply` (borrowed) and sends it once every UP worker
   * runs configuration `version` or later (coordinator_config_reached), or
   * after a bound. NULL: sent at once. (labeler_add is not held: workers
   * fetch the configuration when a request names an unknown labeler.) */
  void (*defer_until_config)(void *ctx, const Tally__Envelope *reply, uint64_t version);
} coordinator_replier_t;

/* Opens the coordinator's state in directory `dir` (created if missing; the
 * store lives in DIR/meta) and loads everything. Workers that were UP count
 * as just seen. *out is the caller's (coordinator_close). Errors:
 * TALLY_E_IO (cannot create dir), TALLY_E_STORAGE (store cannot be opened or
 * is corrupt; logged), TALLY_E_NOMEM, TALLY_E_INVALID_ARGUMENT
 * (heartbeat_timeout_ms is 0). */
int coordinator_open(coordinator_t **out, const char *dir, uint64_t heartbeat_timeout_ms);

/* Like coordinator_open, on a store the caller opened and keeps (a
 * replicated coordinator's, shared with its raft_node): loads everything
 * from it; coordinator_close leaves it open. Same errors but IO. */
int coordinator_open_shared(coordinator_t **out, meta_store_t *store, uint64_t heartbeat_timeout_ms);

/* The coordinators of a replicated control plane, as cluster status shows
 * them: fills *infos (borrowed until the request is answered) and *n, the
 * leader's Raft id, the term and the commit index. */
typedef void (*coordinator_control_plane_fn)(void *ctx, Tally__CoordinatorInfo ***infos, size_t *n,
                                             uint64_t *leader_id, uint64_t *term,
                                             uint64_t *commit_index);

/* Set by a replicated coordinator's daemon (main.c, from its raft_node);
 * without it there is nothing to list (one coordinator alone). */
void coordinator_set_control_plane(coordinator_t *coordinator, coordinator_control_plane_fn fn,
                                   void *ctx);

/* Frees everything and closes the store (unless shared); safe on NULL;
 * sets *c NULL. */
void coordinator_close(coordinator_t **coordinator);

/* Answers `request` (an envelope that passed wire_decode) through
 * `replier`, exactly once (for a valid report_request: by handing the job
 * to replier->defer_report). `caller_key` is the sender's CURVE public key
 * as the ZAP handler accepted it (router_request_t.user_id): who is asking
 * comes from it alone (access.h). A secure coordinator refuses an unknown
 * or empty key (UNAUTHENTICATED); an insecure one ignores it and serves
 * everyone as "anonymous". The request may be rewritten (access_check). */
void coordinator_handle(coordinator_t *coordinator, Tally__Envelope *request,
                        const char *caller_key, const coordinator_replier_t *replier);

/* Ramp-up across the cluster (ramp.h). The next project after *cursor
 * (start at 0) that has a ramp-up, as a by-labeler report job over every
 * worker that is not DOWN (request_id 0), with *cursor moved past it.
 * Returns 1 with *out (the caller's), 0 when no project is left, or
 * TALLY_E_NOMEM. */
int coordinator_ramp_job(coordinator_t *coordinator, size_t *cursor, coordinator_report_job_t **out);

/* Adds the people of `reply` (a gathered ramp job's report) who now meet
 * their project's ramp-up policy to Project.ramped_up, persisted with a
 * new config version (workers get it with their next heartbeat reply) and
 * an admin log entry "ramp_up_left" by "coordinator". Returns how many
 * left ramp-up (0 also when the reply is partial or the project is gone),
 * or the store's error (nothing changed; the next gather retries). */
int coordinator_ramp_apply(coordinator_t *coordinator, const Tally__ReportReply *reply);

/* The person id that --operator-key registers with the operator role. */
#define COORDINATOR_OPERATOR_ID "operator"

/* Makes the coordinator secure: every request must come from a known key
 * (people's keys from their records, workers' keys once admitted with
 * cluster_admit). With `operator_key` (Z85, may be NULL), the person
 * COORDINATOR_OPERATOR_ID is created or re-keyed to hold it, with the
 * operator role, so a fresh cluster has someone to admit workers and add
 * people (recorded in the admin log). Returns 0, INVALID_ARGUMENT (not a
 * key), ALREADY_EXISTS (someone else's key) or the store's error. */
int coordinator_set_security(coordinator_t *coordinator, const char *operator_key);

/* Every slot on `replicas` workers (1..5, --replicas; replicas.h): a
 * primary and up to R - 1 followers. Until called, R is 1. Returns 0,
 * TALLY_E_INVALID_ARGUMENT or TALLY_E_NOMEM. */
int coordinator_set_replicas(coordinator_t *coordinator, uint32_t replicas);

/* 1 after coordinator_set_security. */
int coordinator_is_secure(const coordinator_t *coordinator);

/* Every key the ZAP handler should accept now (people with a key, admitted
 * workers): *keys is malloc'ed (caller frees the array; the strings are
 * borrowed until the next request). Returns 0 or TALLY_E_NOMEM. */
int coordinator_allowed_keys(const coordinator_t *coordinator, const char ***keys, size_t *n);

/* Bumped whenever the set of allowed keys may have changed. */
uint64_t coordinator_keys_version(const coordinator_t *coordinator);

/* Marks WORKER_DOWN (persisted, epoch bumped) every UP worker not heard
 * from for longer than the heartbeat timeout at monotonic time now_ms.
 * Their slots stay assigned to them. Returns how many went down, or
 * TALLY_E_STORAGE / TALLY_E_NOMEM (nothing changed; retry later). */
int coordinator_check_liveness(coordinator_t *coordinator, uint64_t now_ms);

/* Only the first part of coordinator_check_liveness: every UP worker silent
 * for longer than the heartbeat timeout written DOWN with the failover of
 * its slots (one batch); nothing else. Cheap when nobody is silent, so the
 * daemon calls it between the liveness checks to notice a dead worker
 * within a tick of its timeout. Returns how many went down, or
 * TALLY_E_STORAGE / TALLY_E_NOMEM / NOT_LEADER (nothing changed). */
int coordinator_check_silence(coordinator_t *coordinator, uint64_t now_ms);

/* A fresh cluster (no slot assigned yet) hands out its slots only once
 * `workers` workers are UP, or `settle_ms` after this call, whichever comes
 * first, so that a cluster started with N workers is balanced over all N.
 * Default: 1 worker (the first registration takes every slot). */
void coordinator_expect_workers(coordinator_t *coordinator, uint32_t workers, uint64_t settle_ms);

/* The current map epoch and configuration version (for logs and tests). */
uint64_t coordinator_epoch(const coordinator_t *coordinator);
uint64_t coordinator_config_version(const coordinator_t *coordinator);

/* True when every UP worker's last heartbeat reported configuration
 * version `version` or later (true when no worker is UP). */
int coordinator_config_reached(const coordinator_t *coordinator, uint64_t version);

/* What the metrics read at render time (coordinator_metrics.h). */
typedef struct {
  uint32_t workers_by_state[4]; /* indexed by Tally__WorkerState: UNKNOWN, UP, DOWN, DRAINING */
  uint32_t slots_unassigned;
  uint64_t epoch;
  uint64_t config_version;
  uint32_t slot_moves; /* under way */
  uint32_t projects, labelers;
} coordinator_figures_t;

/* Fills *out from the current state. */
void coordinator_figures(coordinator_t *coordinator, coordinator_figures_t *out);

/* The heartbeat timeout given at open. */
uint64_t coordinator_heartbeat_timeout_ms(const coordinator_t *coordinator);

/* The store, for fault injection in tests (meta_store_fail_commits). */
meta_store_t *coordinator_meta_store(coordinator_t *coordinator);

#endif
