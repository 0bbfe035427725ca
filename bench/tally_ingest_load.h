/* tally_ingest_load: ingests generated items into a Tally cluster from
 * several threads, as a batch producer does, and measures it.
 *
 * libtally's asynchronous interface carries lease/submit/skip/release only,
 * so ingest goes through the blocking tally_ingest(): each of `threads`
 * threads owns a tally_t (one connection per worker) and ingests batches of
 * `batch` items one call at a time; a call splits its batch by owning
 * worker and keeps those parts in flight together. Latency is per call.
 *
 * Item i (from `first`) has id PREFIX%010llu, market bench_markets[i % n],
 * normal priority and `content_bytes` of content.
 */
#ifndef BENCH_TALLY_INGEST_LOAD_H
#define BENCH_TALLY_INGEST_LOAD_H

#include <jansson.h>
#include <stdint.h>

#include "bench_transport.h"
#include "proc_sample.h"

typedef struct {
  const char *coordinator;
  const bench_transport_t *transport;
  const char *project;
  const char *scenario; /* recorded in the run record */
  const char *prefix;   /* item id prefix */
  uint64_t first;       /* index of the first item */
  uint64_t items;       /* how many */
  int batch;            /* items per tally_ingest() call */
  int threads;
  int content_bytes;
  int timeout_ms;
  proc_watch_t *watch; /* may be NULL */
} tally_ingest_options_t;

/* Ingests, prints a table (and progress on stderr for long runs) and
 * returns 0 with *record (the caller's), or -1 (message on stderr) when it
 * could not start. Rejected items and failed calls are counted in the
 * record, not fatal; the return is still 0. */
int tally_ingest_run(const tally_ingest_options_t *o, json_t **record);

#endif
