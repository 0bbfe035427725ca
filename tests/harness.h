/* harness: real daemons on loopback for integration tests.
 *
 * cluster_start() makes a fresh temporary directory, starts the real
 * tally-coordinator and N tally-worker processes from the build's bin
 * directory on free loopback ports, and waits until every slot is assigned
 * and every worker serves. Every process it starts is recorded, and
 * harness_kill_all() (registered with atexit and called by the test deadline)
 * kills them, so no test leaves a process behind, even when it fails.
 */
#ifndef TALLY_TEST_HARNESS_H
#define TALLY_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "curve.h"

#define HARNESS_MAX_WORKERS 8
#define HARNESS_MAX_COORDINATORS 5

typedef struct {
  int insecure; /* set before cluster_start: --insecure daemons, no keys */
  /* Set before cluster_start: extra worker options, e.g. {"--max-request-rate",
   * "1000", NULL}; at most 4, NULL-terminated. */
  const char *worker_args[5];
  /* Likewise for the coordinator, e.g. {"--metrics-listen", "127.0.0.1:9100", NULL}. */
  const char *coordinator_args[5];
  int ramp_off; /* set before cluster_start: --ramp-period-ms 0 (no ramp-up gathers) */
  /* Set before cluster_start: 3 or 5 runs that many coordinators replicated
   * with Raft (--raft-id, --peers; coordinator i in DIR/coordinator-i, log
   * coordinator-i.log, i from 1); 0 or 1: one coordinator alone. Then
   * coordinator_endpoint is the comma-separated list of all of them (what
   * workers and clients are given) and coordinator_pid is unused. */
  int coordinators;
  char replica_endpoints[HARNESS_MAX_COORDINATORS + 1][64]; /* by id (1..); [0] unused */
  pid_t replica_pids[HARNESS_MAX_COORDINATORS + 1];
  char peers[1024]; /* the --peers value */
  int replicas; /* set before cluster_start: the coordinator's --replicas (0: 1, no followers) */
  char dir[256];
  char coordinator_endpoint[512];
  pid_t coordinator_pid;
  int n_workers;
  pid_t worker_pids[HARNESS_MAX_WORKERS];
  char worker_endpoints[HARNESS_MAX_WORKERS][256];
} cluster_t;

/* Sets the test deadline (seconds): on expiry every started process is
 * killed and the test exits 124. Also registers harness_kill_all at exit. */
void harness_init(unsigned deadline_seconds);

/* Starts a coordinator and `workers` workers; 0 when the cluster serves.
 *
 * Security: unless c->insecure was set, the cluster runs CURVE as in
 * production. Keys are made in DIR/keys: coordinator, operator (given to
 * the coordinator with --operator-key), one per worker (admitted by the
 * operator before the worker starts), and "harness", a person with the
 * roles lead, manager, operator and gateway (so it may act for any person
 * named in a request, as the web gateway does). TALLY_KEY and
 * TALLY_COORDINATOR_KEY are set to the harness's key, so tally_open() and
 * cluster_cli() in the test act as "harness". harness_keygen() makes more
 * keys for tests of other identities. */
int cluster_start(cluster_t *c, int workers);

/* (Re)starts worker i on its data directory and waits until it serves and
 * has its slots again. 0 or -1. */
int cluster_start_worker(cluster_t *c, int i);

/* Sends `sig` to worker i and waits for it to exit. */
void cluster_kill_worker(cluster_t *c, int i, int sig);

/* Same for the coordinator, and its restart on the same directory
 * (replicated: every coordinator). */
void cluster_kill_coordinator(cluster_t *c, int sig);
int cluster_start_coordinator(cluster_t *c);

/* Replicated coordinators: sends `sig` to coordinator `id` (1..) and
 * waits for it to exit; starts it again on its directory and endpoints
 * (0 once it serves its endpoint, or -1). */
void cluster_kill_replica(cluster_t *c, int id, int sig);
int cluster_start_replica(cluster_t *c, int id);

/* Replicated coordinators: the id of the leader as the coordinators say
 * (a follower's NOT_LEADER names it), waiting up to `wait_ms` for one;
 * 0 when none. */
int cluster_leader(const cluster_t *c, int wait_ms);

/* Stops every process (SIGTERM, then SIGKILL after 5 s) and removes the
 * directory. */
void cluster_stop(cluster_t *c);

/* Runs the tally CLI against the cluster: `args` is appended to
 * "tally --coordinator EP". Output (stdout and stderr) goes to `out` (may be
 * NULL). Returns the exit code, or -1 if it could not run. */
int cluster_cli(const cluster_t *c, char *out, size_t out_len, const char *args_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The CURVE settings for a raw dealer_new() from the test to the
 * coordinator (worker < 0) or worker `worker`, as the harness identity;
 * NULL for an insecure cluster. `buf` is filled and returned. */
const curve_client_t *harness_curve(const cluster_t *c, int worker, curve_client_t *buf);

struct Tally__ClusterMap;

/* The coordinator's current map, asked with the harness person's key and a
 * 2 s timeout; NULL when no map came. The caller frees it with
 * tally__cluster_map__free_unpacked(map, NULL). */
struct Tally__ClusterMap *cluster_fetch_map(const cluster_t *c);

/* The id `map` gives worker `index` of the cluster (found by its
 * endpoint); 0 when the map does not list it. */
uint32_t cluster_worker_id(const cluster_t *c, const struct Tally__ClusterMap *map, int index);

/* The size in bytes of the largest RocksDB log (WAL) file in worker i's
 * store (DIR/worker-i/data); 0 when there is none. */
long cluster_worker_wal_size(const cluster_t *c, int i);

/* Sets the soft file size limit (RLIMIT_FSIZE) of the running process
 * `pid` to `limit` (RLIM_INFINITY: none), the hard one unchanged: writes
 * past it fail with EFBIG, as on a full disk. 0, or -1 (the limit is
 * above the hard one, or prlimit(2) failed). */
int harness_set_file_limit(pid_t pid, rlim_t limit);

/* Makes a key pair DIR/keys/NAME.key (and .pub); writes the path of the
 * .key file to path_out and the public key to public_out (may be NULL).
 * 0 or -1. */
int harness_keygen(const cluster_t *c, const char *name, char *path_out, size_t path_size,
                   char public_out[CURVE_Z85_LEN + 1]);

/* Path of DIR/keys/NAME (static buffer). */
const char *harness_key_path(const cluster_t *c, const char *name);

/* Path of a program in the build's bin directory (static buffer). */
const char *harness_bin(const char *program);

/* Kills every process this harness started. Async-signal-safe. */
void harness_kill_all(void);

#endif
