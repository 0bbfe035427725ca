/* tally_cycle: N labeler sessions doing the label cycle against a Tally
 * cluster through libtally's asynchronous interface.
 *
 * A session is one labeler (PREFIX0001, PREFIX0002, ...) who does one task
 * at a time, as a person does: lease, think (optional), submit, lease
 * again. The sessions are spread over `connections` threads; each thread
 * owns one tally_t and one tally_async_t (one DEALER per worker; the
 * handles share one ZeroMQ context unless context_per_connection) and keeps
 * every one of its sessions' requests in flight at once, so a run with 4
 * connections and 256 sessions has 4 x 64 requests in flight.
 *
 * A cycle is a lease and a submit that both succeeded; both are durable
 * writes on the worker. Throughput is cycles completed inside the
 * measurement window (after the warm-up) divided by the window; latency is
 * per request from tally_async_*() to its completion.
 *
 * With auditors (and leads) the same loop also runs auditor sessions that
 * lease AUDIT tasks and answer the item's label (or, for disagree_pct % of
 * items, another one), and lead sessions that lease ADJUDICATE tasks and
 * submit a verdict attributed to the labeler. Auditors and leads long-poll
 * (500 ms); once every labeler session has found the queues drained, an
 * auditor stops after 3 empty polls in a row, and a lead once the auditors
 * have stopped too: a run until "drained" closes every audit.
 */
#ifndef BENCH_TALLY_CYCLE_H
#define BENCH_TALLY_CYCLE_H

#include <jansson.h>

#include "bench_transport.h"
#include "proc_sample.h"

typedef struct {
  const char *coordinator;
  const bench_transport_t *transport; /* CURVE (a gateway key acting for every session) or TCP */
  const char *project;
  const char *labeler_prefix; /* session i is labeler PREFIX%04d, i from 1 */
  const char *scenario;       /* recorded in the run record */
  int connections;
  int sessions;
  int wait_ms;       /* long-poll of each lease (0: none) */
  int timeout_ms;    /* reply timeout of the handle */
  int think_min_ms;  /* time a session holds a task before submitting: */
  int think_max_ms;  /*   uniform in [min, max] */
  double duration_s; /* measurement window */
  double warmup_s;   /* before the window; not measured */
  proc_watch_t *watch; /* processes whose CPU the window records (may be NULL) */
  /* Audits (cycle-audit, and the report scenario's generator). With
   * auditors > 0 labelers label by item (a hash of the item id picks the
   * label), so the generator knows every item's label without asking. */
  int auditors;               /* sessions leasing STAGE_AUDIT: AUDITOR_PREFIX%04d */
  const char *auditor_prefix;
  int leads;                  /* sessions leasing STAGE_ADJUDICATE: LEAD_PREFIX%04d */
  const char *lead_prefix;
  int disagree_pct;           /* % of items (by hash) the auditor labels differently */
  /* 0: the connections share one ZeroMQ context, so one I/O thread serves
   * them (tally_open_sibling), as in a gateway process; 1: each connection
   * opens its own (tally_open), one I/O thread per connection. */
  int context_per_connection;
} tally_cycle_options_t;

/* Runs the sessions, prints a table on stdout and returns 0 with *record
 * (the caller's), or -1 (message on stderr) when the run could not start.
 * Stops at the end of the window, or earlier when every session finds the
 * queues empty (the record then says "drained": true). Leases still held
 * at the end are released. */
int tally_cycle_run(const tally_cycle_options_t *o, json_t **record);

#endif
