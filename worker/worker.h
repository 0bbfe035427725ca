/* worker: one tally-worker process: its loop, storage, queues and leases.
 *
 * Requests are served in groups: every request that is ready is applied to
 * one write batch, and the batch is written when the group ends. Its
 * replies are sent only once a WAL sync that started after that write has
 * finished ("durable before acknowledged"). The sync runs on the thread
 * pool, one at a time, so the loop keeps serving (and writing) the next
 * groups while the disk syncs: one sync covers every batch written before
 * it started (pipelined group commit). A small group (light load) syncs on
 * the loop thread instead, which answers sooner when nothing else waits.
 */
#ifndef TALLY_WORKER_H
#define TALLY_WORKER_H

#include <stdint.h>
#include <uv.h>

typedef struct {
  const char *dir;              /* data directory (created if missing) */
  const char *coordinator;      /* coordinator endpoint */
  const char *bind;             /* e.g. tcp://127.0.0.1:0 */
  const char *advertise;        /* endpoint given to clients; NULL = bound one */
  const char *endpoint_file;    /* written once serving; NULL = none */
  uint32_t heartbeat_ms;        /* default 500 */
  const char *key_file;         /* CURVE key pair; NULL = DIR/worker.key (made if missing) */
  const char *coordinator_key;  /* the coordinator's public key or a file holding it */
  int insecure;                 /* plain TCP, no identities (access.h) */
  uint32_t max_leases;          /* per person on this worker; 0 = WORKER_DEFAULT_MAX_LEASES */
  uint32_t max_request_rate;    /* per connection, requests/s; 0 = WORKER_DEFAULT_REQUEST_RATE */
  const char *metrics_listen;   /* HOST:PORT for GET /metrics; NULL = no metrics */
} worker_options_t;

#define WORKER_DEFAULT_MAX_LEASES 16
/* Requests a second one connection may send (bursts of a quarter second's
 * worth): above what one client process drives in the benchmarks
 * (docs/PERFORMANCE.md), below what would take the worker from the rest. */
#define WORKER_DEFAULT_REQUEST_RATE 20000

typedef struct worker worker_t;

/* Opens storage, rebuilds the in-memory indexes, binds, and starts the
 * timers on `loop`. *out is the caller's (worker_destroy). Errors:
 * TALLY_E_STORAGE, TALLY_E_TRANSPORT, TALLY_E_IO, TALLY_E_NOMEM. */
int worker_new(worker_t **out, uv_loop_t *loop, const worker_options_t *options);

/* Stops serving: closes sockets and handles (run the loop once more to let
 * them close). Storage stays open until worker_destroy(). */
void worker_stop(worker_t *worker);

/* Frees everything, closing storage; safe on NULL; sets *worker NULL. */
void worker_destroy(worker_t **worker);

#endif
