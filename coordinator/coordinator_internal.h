/* coordinator_internal: the state the coordinator's modules share.
 *
 * coordinator_t is one struct owned by coordinator.c (open, load, close);
 * the modules below apply the requests to it, each for its own part of the
 * state, and only coordinator modules include this header:
 *
 *   catalog.c        projects (audit policy, wellbeing, guidelines), labelers
 *   admission.c      security: admitted worker keys, who holds a key, whoami
 *   admin_log.c      the append-only log of administrative changes
 *   report_jobs.c    report, ops report and ramp-up jobs for the workers
 *   registration.c   workers: registration, heartbeats, liveness
 *   slot_moves.c     slot moves, drain, the slot map's commits
 *   credentials.c    console passwords, API tokens, the session key
 *   cluster_view.c   the cluster map and configuration as sent
 *   cluster_status.c `tally cluster status`: map, coordinators, lags
 *   replicas.c       slot replication: followers, in-sync sets, failover
 *   coordinator_dispatch.c  authorization and the dispatch table
 *
 * The rule every module keeps (its header lists its apply points): a
 * durable change is planned on copies, written as ONE synced meta_batch
 * (meta_batch_commit, directly or through admin_log_commit), and only then
 * installed in memory (coordinator_must_install: installing cannot fail
 * but on out-of-memory, which stops the process) and replied. State not in
 * a batch (heartbeat figures, moves under way, the caller) is volatile by
 * design and says so where it lives.
 *
 * Threading: none. coordinator_handle and the periodic calls run on the
 * daemon's one loop thread and are not reentrant.
 */
#ifndef TALLY_COORDINATOR_COORDINATOR_INTERNAL_H
#define TALLY_COORDINATOR_COORDINATOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "calibration.h"
#include "coordinator.h"
#include "membership.h"
#include "meta_store.h"
#include "replica_set.h"
#include "slot_map.h"
#include "slot_moves.h"
#include "tally.pb-c.h"

/* Room for an error message, and for a quoted name (validate_quote). */
#define MESSAGE_SIZE 512
#define QUOTE_SIZE 300

typedef struct {
  Tally__Project **items; /* ascending name; each owned (free_unpacked) */
  size_t count, capacity;
} project_list_t;

typedef struct {
  Tally__Labeler **items; /* ascending id; each owned (free_unpacked) */
  size_t count, capacity;
} labeler_list_t;

/* The coordinator's state. Which module changes which part (its header
 * lists the apply points); everything else only reads it. */
struct coordinator {
  meta_store_t *store;
  int store_borrowed; /* coordinator_open_shared: the caller closes it */
  coordinator_control_plane_fn control_plane; /* NULL: not replicated */
  void *control_plane_ctx;
  /* slot map and epoch: registration.c, slot_moves.c */
  slot_map_t *map;
  slot_map_t *plan; /* scratch copy on which map changes are planned */
  /* followers, in-sync sets, slot epochs: replicas.c (failover planned by
   * registration.c's liveness check, a move's flip by slot_moves.c) */
  replica_set_t *replicas;
  replica_set_t *rplan; /* scratch copy, as plan */
  /* workers: registration.c (durable part also slot_moves.c's drain) */
  membership_t *members;
  /* catalog.c (report_jobs.c's ramp-up and admission.c's operator go
   * through catalog_project_commit / catalog_labeler_persist) */
  project_list_t projects;
  labeler_list_t labelers;
  uint64_t config_version;
  uint32_t next_project_id;
  uint32_t next_worker_id;       /* registration.c */
  uint64_t heartbeat_timeout_ms;
  uint32_t expect_workers;       /* a fresh cluster waits for this many */
  uint64_t settle_deadline_ms;   /* monotonic; after it, assign to whoever is UP */
  /* slot_moves.c: slot moves under way (not persisted: after a restart the
   * sources report theirs in heartbeats and are told to give them up). */
  slot_move_t moves[COORDINATOR_MOVES_MAX];
  size_t n_moves;
  uint64_t next_move_id;
  int rebalance_paused;
  /* admission.c: security (coordinator_set_security; all zero: --insecure). */
  int secure;
  char **admitted;               /* admitted worker keys (Z85), ascending; owned */
  size_t n_admitted, cap_admitted;
  uint64_t keys_version;         /* bumped whenever the allowed keys change */
  /* admin_log.c */
  Tally__AdminLogEntry **admin_log; /* ascending seq; each owned (free_unpacked) */
  size_t n_admin_log, cap_admin_log;
  /* coordinator_dispatch.c: the request being handled (coordinator_handle
   * is not reentrant): who sent it, as access_check resolved it, and the
   * actor for the admin log. */
  identity_t caller;
  char actor[2 * ACCESS_ID_MAX + 2];
  calibration_t *calibration;    /* calibration sessions (calibration.h) */
};

/* A deep copy of `message` (pack + unpack); NULL when out of memory. The
 * copy is the caller's (protobuf_c_message_free_unpacked). */
ProtobufCMessage *coordinator_message_clone(const ProtobufCMessage *message);

/* After a durable write, installing the change in memory must not fail:
 * when rc < 0 (out of memory) memory and disk would disagree, so this logs
 * `what` and stops the process; a restart reloads the state from disk. */
void coordinator_must_install(int rc, const char *what);

/* New capacity for a full array of `capacity` entries. */
size_t coordinator_grown_capacity(size_t capacity);

/* Sends an error reply (negative TALLY_E_* `code`) with a formatted
 * message, sanitized (never echoes invalid UTF-8 or control characters of
 * a request). */
__attribute__((format(printf, 3, 4))) void coordinator_reply_error(const coordinator_replier_t *r,
                                                                   int code, const char *fmt, ...);

/* Reports a failed durable write of `what` (NOMEM: INTERNAL, else STORAGE;
 * both say nothing was changed). */
void coordinator_reply_storage_error(const coordinator_replier_t *r, int rc, const char *what);

/* Sends an Ack to `request`. */
void coordinator_send_ack(const Tally__Envelope *request, const coordinator_replier_t *r);

#endif
