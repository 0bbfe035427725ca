/* raft_node: this coordinator's member of the Raft group that replicates
 * the metadata store (meta_store.h) between 3 or 5 coordinators, on
 * canonical/raft (libraft) with its libuv I/O backend and TCP transport.
 *
 * The command of the log is an encoded meta_batch (meta_store.h). The
 * leader proposes every batch a request commits (raft_node_replicate is a
 * meta_replicate_fn); the state machine of every coordinator writes each
 * committed batch to its own RocksDB (meta_store_apply). A snapshot is a
 * dump of the store; restoring it replaces the store. The Raft log and
 * snapshots live in DIR/raft.
 *
 * Threads: Raft runs on a thread of its own with its own libuv loop, so
 * that the coordinator's request handlers, which commit synchronously and
 * then change memory and reply, can wait for a commit without stalling
 * Raft. raft_node_replicate blocks the calling thread until the batch is
 * committed and applied here, or refuses it. Everything else is safe from
 * any thread.
 *
 * Leadership: only the leader serves. When this node becomes leader it
 * first waits for a barrier (every entry of earlier terms applied), then
 * raises the generation in raft_node_status and calls the notify callback:
 * the daemon then reloads the coordinator's memory from the store. It
 * does the same after a commit whose outcome is unknown (a timeout), so
 * memory never differs from the applied state.
 */
#ifndef TALLY_COORDINATOR_RAFT_NODE_H
#define TALLY_COORDINATOR_RAFT_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "meta_store.h"
#include "raft_peers.h"
#include "tally.pb-c.h"

/* How long raft_node_replicate waits for a commit. */
#define RAFT_NODE_COMMIT_TIMEOUT_MS 5000u

typedef struct raft_node raft_node_t;

/* Called from the Raft thread whenever the status changed (leadership,
 * generation); it must only wake the caller's loop (uv_async_send). */
typedef void (*raft_node_notify_fn)(void *ctx);

typedef struct {
  uint64_t self_id;           /* this coordinator's id in peers */
  const char *dir;            /* the coordinator's --dir; the log goes to DIR/raft */
  const char *listen;         /* HOST:PORT to bind the Raft transport; NULL: own address */
  const raft_peers_t *peers;  /* every coordinator (copied) */
  meta_store_t *store;        /* borrowed; must outlive the node */
  unsigned election_timeout_ms; /* 0: 1000 */
  unsigned snapshot_threshold;  /* entries between snapshots; 0: 1024 */
  raft_node_notify_fn notify;
  void *notify_ctx;
} raft_node_config_t;

typedef struct {
  int is_leader;          /* leader and ready (barrier applied) */
  uint64_t generation;    /* raised each time the leader's memory must be (re)loaded */
  uint64_t leader_id;     /* 0 while unknown */
  char leader_endpoint[RAFT_PEERS_MAX_ADDRESS + 1]; /* client endpoint; "" while unknown */
  uint64_t term;
  uint64_t commit_index;
  uint64_t last_applied;
  int state;              /* 0 unavailable, 1 follower, 2 candidate, 3 leader */
} raft_node_status_t;

/* Starts the node: makes DIR/raft, bootstraps the configuration `peers`
 * when the log is empty, starts the Raft thread. *out is the caller's
 * (raft_node_destroy). Errors: TALLY_E_INVALID_ARGUMENT (self_id not in
 * peers), TALLY_E_IO (cannot make DIR/raft, cannot listen; logged),
 * TALLY_E_NOMEM, TALLY_E_INTERNAL (libraft refused; logged). */
int raft_node_new(raft_node_t **out, const raft_node_config_t *config);

/* Stops Raft (closes its connections and files) and joins its thread;
 * commits still waiting get UNAVAILABLE. Safe on NULL; sets *node NULL. */
void raft_node_destroy(raft_node_t **node);

/* A meta_replicate_fn (ctx = the node): proposes the encoded batch and
 * waits until it is committed and applied to this coordinator's store.
 * Returns 0, TALLY_E_NOT_LEADER (this node is not the ready leader, or lost
 * leadership before the commit: nothing acknowledged), TALLY_E_UNAVAILABLE
 * (no commit within RAFT_NODE_COMMIT_TIMEOUT_MS: it may still commit
 * later, so the generation is raised once it is settled), TALLY_E_NOMEM.
 * Never call it on the Raft thread. */
int raft_node_replicate(void *node, const uint8_t *data, size_t len);

/* Fills *out with the current status. */
void raft_node_status(raft_node_t *node, raft_node_status_t *out);

/* Describes the group for ClusterStatus: fills infos[0..n) and ptrs[0..n)
 * (n = the number of coordinators, at most `cap`) with each one's Raft id,
 * client endpoint, Raft address and whether it leads (strings borrowed
 * from the node), and *status. Returns n. */
size_t raft_node_describe(raft_node_t *node, Tally__CoordinatorInfo *infos,
                          Tally__CoordinatorInfo **ptrs, size_t cap, raft_node_status_t *status);

/* The configuration the node was started with (borrowed). */
const raft_peers_t *raft_node_peers(const raft_node_t *node);

/* Commits so far through raft_node_replicate, and their summed latency
 * (propose to applied) in microseconds, for the metrics and docs. */
void raft_node_commit_figures(raft_node_t *node, uint64_t *commits, uint64_t *total_us);

#endif
