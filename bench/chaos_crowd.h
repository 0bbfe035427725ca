/* chaos_crowd: the simulated people of the chaos suite. One thread ingests
 * items, labeler, auditor and lead threads lease and submit, each through
 * its own libtally handle and its own ledger file (chaos_ledger.h): a
 * write goes into the ledger only once the cluster acknowledged it, and it
 * is synced there before the thread goes on. Failures never stop a thread:
 * the cluster is being killed under it; each outcome is recorded as
 * acknowledged, unknown (timeout, transport, a retried STALE_LEASE) or
 * refused.
 *
 * People: chaos-l1..N (labeler), chaos-a1..N (auditor), chaos-d1..N (lead),
 * all in markets es and ja (chaos_crowd_setup creates them and the project).
 */
#ifndef TALLY_BENCH_CHAOS_CROWD_H
#define TALLY_BENCH_CHAOS_CROWD_H

#include <signal.h>

typedef struct {
  const char *coordinator; /* endpoint (list) for tally_open */
  const char *project;
  const char *ledger_dir;
  const char *run;         /* item id prefix: items are RUN-N */
  int labelers, auditors, leads;
  int overlap;             /* the project's, for the backlog estimate */
  int backlog;             /* at most this many items ingested and not yet fully labeled */
  int batch;               /* items per ingest call */
  int timeout_ms;          /* reply timeout of each handle */
  unsigned seed;
} chaos_crowd_options_t;

/* Creates the project (overlap o->overlap, audit rate 1, lease 30 s,
 * labels ok/spam/hate, markets es/ja) and the people; existing ones are
 * kept. 0, or the first error (message on stderr). */
int chaos_crowd_setup(const chaos_crowd_options_t *o);

/* Runs the crowd until *stop is set (every thread ends after its current
 * call) or, once *drain is set, until ingest has stopped, the cluster
 * reports nothing queued and no live lease for the project, and no thread
 * got a task for 3 s. Prints a summary on stderr.
 * 0, or -1 when it could not start (a handle or ledger file). */
int chaos_crowd_run(const chaos_crowd_options_t *o, volatile sig_atomic_t *stop,
                    volatile sig_atomic_t *drain);

#endif
