/* tally_ingest_load: see tally_ingest_load.h. */
#include "tally_ingest_load.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_project.h"
#include "latency.h"
#include "op_stats.h"
#include "run_record.h"
#include "tally.h"

#define INGEST_ID_MAX 48
#define INGEST_PROGRESS_NS 10000000000ull /* progress line every 10 s */

typedef struct {
  const tally_ingest_options_t *o;
  atomic_uint_fast64_t next;     /* next item index to hand out (relative) */
  atomic_uint_fast64_t accepted; /* newly stored */
  atomic_uint_fast64_t duplicates;
  atomic_uint_fast64_t rejected;
  atomic_int running;
  char *content; /* content_bytes of text, shared */
} ingest_shared_t;

typedef struct {
  ingest_shared_t *shared;
  pthread_t thread;
  int index;
  op_stats_t calls;
  int failed;
  char error[512];
} ingest_thread_t;

/* Fills items[] for indexes [from, from + count) of the run. */
static void ingest_fill(const ingest_shared_t *sh, uint64_t from, size_t count, tally_item_t *items,
                        char (*ids)[INGEST_ID_MAX]) {
  const tally_ingest_options_t *o = sh->o;
  for (size_t k = 0; k < count; k++) {
    uint64_t i = o->first + from + k;
    snprintf(ids[k], INGEST_ID_MAX, "%s%010llu", o->prefix, (unsigned long long)i);
    items[k] = (tally_item_t){ids[k], bench_markets[i % BENCH_MARKET_COUNT],
                              TALLY_PRIORITY_NORMAL, sh->content, NULL, NULL};
  }
}

/* Counts one call's outcome. */
static void ingest_account(ingest_thread_t *c, tally_t *t, int rc,
                           const tally_ingest_result_t *res, uint64_t ns) {
  ingest_shared_t *sh = c->shared;
  if (res != NULL) {
    atomic_fetch_add(&sh->accepted, res->accepted);
    atomic_fetch_add(&sh->duplicates, res->duplicates);
    atomic_fetch_add(&sh->rejected, res->rejected);
  }
  if (rc == 0 && res != NULL && res->rejected == 0) {
    op_stats_ok(&c->calls, ns);
  } else if (rc == 0 && res != NULL) {
    const char *why = "";
    for (size_t k = 0; k < res->count; k++)
      if (res->items[k].code != 0 && res->items[k].message) why = res->items[k].message;
    op_stats_outcome(&c->calls, "REJECTED_ITEMS", why);
  } else {
    op_stats_outcome(&c->calls, tally_error_name(rc), tally_last_error(t));
  }
}

static void *ingest_thread_main(void *arg) {
  ingest_thread_t *c = arg;
  ingest_shared_t *sh = c->shared;
  const tally_ingest_options_t *o = sh->o;
  size_t batch = (size_t)o->batch;
  tally_item_t *items = calloc(batch, sizeof *items);
  char(*ids)[INGEST_ID_MAX] = calloc(batch, sizeof *ids);
  tally_t *t = NULL;
  int rc = items && ids ? bench_transport_open(o->transport, &t, o->coordinator, o->timeout_ms) : TALLY_E_NOMEM;
  if (rc < 0) {
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "ingest thread %d: %s", c->index, tally_strerror(rc));
  }
  while (!c->failed) {
    uint64_t from = atomic_fetch_add(&sh->next, batch);
    if (from >= o->items) break;
    size_t count = o->items - from < batch ? (size_t)(o->items - from) : batch;
    ingest_fill(sh, from, count, items, ids);
    tally_ingest_result_t *res = NULL;
    uint64_t t0 = latency_now_ns();
    rc = tally_ingest(t, o->project, items, count, &res);
    ingest_account(c, t, rc, res, latency_now_ns() - t0);
    tally_free(res);
  }
  tally_close(&t);
  free(items);
  free(ids);
  atomic_fetch_sub(&sh->running, 1);
  return NULL;
}

/* Waits for the threads, printing progress every INGEST_PROGRESS_NS. */
static void ingest_wait(ingest_shared_t *sh, uint64_t start) {
  uint64_t next_report = start + INGEST_PROGRESS_NS;
  while (atomic_load(&sh->running) > 0) {
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);
    uint64_t now = latency_now_ns();
    if (now < next_report) continue;
    next_report += INGEST_PROGRESS_NS;
    uint64_t done = atomic_load(&sh->accepted) + atomic_load(&sh->duplicates);
    fprintf(stderr, "tally-bench: ingest %llu / %llu items after %.0f s (%.0f items/s)\n",
            (unsigned long long)done, (unsigned long long)sh->o->items, (double)(now - start) / 1e9,
            (double)done / ((double)(now - start) / 1e9));
  }
}

static json_t *ingest_record(const tally_ingest_options_t *o, ingest_shared_t *sh,
                             op_stats_t *calls, double window_s) {
  uint64_t stored = atomic_load(&sh->accepted) + atomic_load(&sh->duplicates);
  double rate = window_s > 0 ? (double)stored / window_s : 0;
  printf("tally ingest: %llu items in batches of %d from %d threads\n",
         (unsigned long long)o->items, o->batch, o->threads);
  printf("  %.2f s: %llu accepted, %llu duplicates, %llu rejected; %.0f items/s\n", window_s,
         (unsigned long long)atomic_load(&sh->accepted),
         (unsigned long long)atomic_load(&sh->duplicates),
         (unsigned long long)atomic_load(&sh->rejected), rate);
  op_stats_print_header(stdout);
  op_stats_print(stdout, calls, window_s);
  json_t *record = run_record_new("tally-bench", "tally", o->scenario, "ingest", o->transport->name);
  if (record == NULL) return NULL;
  json_object_set_new(record, "config",
                      json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "project", o->project,
                                "prefix", o->prefix, "first", (json_int_t)o->first, "items",
                                (json_int_t)o->items, "batch", o->batch, "threads", o->threads,
                                "content_bytes", o->content_bytes));
  json_object_set_new(record, "window_s", json_real(window_s));
  json_object_set_new(record, "accepted", json_integer((json_int_t)atomic_load(&sh->accepted)));
  json_object_set_new(record, "duplicates",
                      json_integer((json_int_t)atomic_load(&sh->duplicates)));
  json_object_set_new(record, "rejected", json_integer((json_int_t)atomic_load(&sh->rejected)));
  json_object_set_new(record, "rate_per_s", json_real(rate));
  json_object_set_new(record, "unit", json_string("items/s"));
  json_object_set_new(run_record_ops(record), "ingest_call", op_stats_json(calls, window_s));
  if (o->watch) json_object_set_new(record, "cpu", proc_watch_json(o->watch));
  return record;
}

int tally_ingest_run(const tally_ingest_options_t *o, json_t **record) {
  *record = NULL;
  if (o->threads < 1 || o->batch < 1) {
    fprintf(stderr, "need at least one thread and one item per batch\n");
    return -1;
  }
  ingest_shared_t sh;
  memset(&sh, 0, sizeof sh);
  sh.o = o;
  sh.content = malloc((size_t)o->content_bytes + 1);
  ingest_thread_t *threads = calloc((size_t)o->threads, sizeof *threads);
  if (sh.content == NULL || threads == NULL) {
    free(sh.content);
    free(threads);
    fprintf(stderr, "out of memory\n");
    return -1;
  }
  for (int i = 0; i < o->content_bytes; i++) sh.content[i] = (char)('a' + i % 26);
  sh.content[o->content_bytes] = '\0';
  atomic_store(&sh.running, o->threads);
  if (o->watch) proc_watch_start(o->watch);
  uint64_t start = latency_now_ns();
  for (int i = 0; i < o->threads; i++) {
    threads[i].shared = &sh;
    threads[i].index = i;
    op_stats_init(&threads[i].calls, "ingest_call");
    pthread_create(&threads[i].thread, NULL, ingest_thread_main, &threads[i]);
  }
  ingest_wait(&sh, start);
  op_stats_t calls;
  op_stats_init(&calls, "ingest_call");
  int failed = 0;
  for (int i = 0; i < o->threads; i++) {
    pthread_join(threads[i].thread, NULL);
    if (threads[i].failed) {
      fprintf(stderr, "tally-bench: %s\n", threads[i].error);
      failed = 1;
    }
    op_stats_merge(&calls, &threads[i].calls);
    op_stats_reset(&threads[i].calls);
  }
  double window_s = (double)(latency_now_ns() - start) / 1e9;
  if (o->watch) proc_watch_stop(o->watch);
  if (!failed) *record = ingest_record(o, &sh, &calls, window_s);
  op_stats_reset(&calls);
  free(threads);
  free(sh.content);
  if (failed) return -1;
  if (*record == NULL) {
    fprintf(stderr, "out of memory\n");
    return -1;
  }
  return 0;
}
