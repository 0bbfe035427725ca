/* chaos_check: compares the chaos ledger (chaos_ledger.h) with what the
 * cluster holds, and measures failover times from it.
 *
 * Order, so that a write in flight is never miscounted: T0 is taken, then
 * the cluster is read (status counts, `export judgments` of every closed
 * audit, tally_item_get of each item with an acknowledged write that is not
 * closed yet), then the ledger is read. Writes acknowledged before T0 must
 * be in the cluster; later ones wait for the next check. Every stored label
 * must have a lease recorded before it (the lease line is written before
 * the submit is sent), else it is a phantom.
 *
 * What counts as what:
 *   lost         an acknowledged write is not there (a label, audit or
 *                verdict of its person on its item; an ingested item: the
 *                cluster counts fewer items than were acknowledged)
 *   duplicated   an acknowledged write is there more than once (the same
 *                person twice on one item; more items counted than were
 *                ever sent)
 *   overlap      an item with more labels than its overlap, or with one
 *                labeler twice (every item read is checked, not only the
 *                ledger's)
 *   double lease two leases on one item at one stage held at the same time
 *                beyond what the stage allows (overlap for labels, one for
 *                audit and verdict), certain from the client's clocks (the
 *                second granted before the first's submit was sent), with
 *                no kill, restart or partition between them (a lease lost
 *                with a worker is offered again by design)
 *   split brain  an acknowledged write is there with another value (another
 *                label, another auditor or lead in its place), or two
 *                different copies of one item in the export, or a stored
 *                label no lease explains (phantom): the marks of two
 *                primaries accepting writes for one slot
 *   pending      audits acknowledged on items still open (in adjudication):
 *                checked once the item closes; at the final check they
 *                are a violation; likewise audits and verdicts of items
 *                the export missed while slots moved
 *
 * Slot moves: an item count or an export taken while a slot moves can miss
 * items that are there, so the cluster is read again (up to
 * stable_wait_ms) until the map's epoch held still and no slot moved from
 * before the first read to after the last; if it never does, the item
 * count is not checked, an audit or verdict whose item is done but not in
 * the export is counted as unverified (not a violation), and the line says
 * so.
 */
#ifndef TALLY_BENCH_CHAOS_CHECK_H
#define TALLY_BENCH_CHAOS_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *coordinator;
  const char *project;
  const char *ledger_dir;
  const char *events_file;  /* NULL or missing: no events */
  int overlap;
  int timeout_ms;
  int final;                /* the crowd has drained: nothing may be pending */
  int stable_wait_ms;       /* how long to read again while slots move */
} chaos_check_options_t;

/* A kill or a partition from the events file and the first write served
 * after it for an item of the slots its worker owned. */
typedef struct {
  uint64_t at_ms;
  char what[16];    /* kill, partition */
  char target[32];  /* worker-I, coordinator-I */
  int64_t failover_ms; /* -1: no write on those slots after it (yet) */
} chaos_failover_t;

typedef struct {
  uint64_t acked;        /* distinct acknowledged writes checked (before T0) */
  uint64_t ingests, labels, audits, verdicts;
  uint64_t unknown;      /* writes of unknown outcome in the ledger */
  uint64_t refused;      /* refused writes (LEASE_LOST, ...) */
  uint64_t lost, duplicated, overlap, double_leases, split_brain, pending;
  uint64_t unreachable;  /* items that could not be read this time */
  uint64_t unverified;   /* audits and verdicts on items done but missing from an
                          * export taken while slots kept moving (not checked) */
  uint64_t items_counted; /* the cluster's item count (0 when not all workers answered) */
  uint64_t judgments;    /* closed audits exported */
  int counts_checked;    /* every worker answered the status, no slot moved */
  int stable;            /* no slot moved while the cluster was read */
  chaos_failover_t *failovers; /* malloc'ed, caller frees */
  size_t failover_count;
} chaos_check_result_t;

/* Runs one check. 0 with *out filled (violations are in the counters), or
 * a negative error when the cluster or the ledger could not be read at all
 * (message on stderr). */
int chaos_check_run(const chaos_check_options_t *o, chaos_check_result_t *out);

/* The violations of a result: lost + duplicated + overlap + double leases +
 * split brain (+ pending and unreachable items at a final check). */
uint64_t chaos_check_violations(const chaos_check_result_t *r, int final);

#endif
