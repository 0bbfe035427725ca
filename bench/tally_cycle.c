/* tally_cycle: see tally_cycle.h.
 *
 * Each connection thread runs a small loop: issue what is due (leases of
 * idle sessions, submits of sessions whose think time is over), then wait
 * in tally_async_poll() for completions and advance the sessions they name
 * (the completion's tag is the session). Threads start together (two
 * barriers around the main thread fixing the start time) and merge their
 * op_stats_t when they end.
 */
#include "tally_cycle.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_project.h"
#include "latency.h"
#include "op_stats.h"
#include "run_record.h"
#include "tally.h"

#define CYCLE_POLL_MAX 512        /* completions taken per poll */
#define CYCLE_IDLE_POLL_MS 20     /* poll wait when nothing is due sooner */
#define CYCLE_EMPTY_BACKOFF_NS 2000000u  /* after "no task" without long-poll */
#define CYCLE_ERROR_BACKOFF_NS 20000000u /* after an error */
#define CYCLE_ERRORS_MAX 500      /* consecutive errors that end a session */
#define TIMELINE_MAX 3600         /* one-second buckets kept (from the window's start) */
#define TIMELINE_SLOW_NS 5000000u /* leases slower than this are counted per second */
#define AUX_WAIT_MS 500           /* long-poll of auditor and lead leases */
#define AUX_EMPTY_BACKOFF_NS 50000000u /* after an empty auditor/lead lease */
#define AUX_DRAIN_EMPTIES 3       /* empty polls that end an auditor/lead once upstream is done */

/* What a session does: label, audit or adjudicate (tally_stage_t order). */
enum { KIND_LABEL = 0, KIND_AUDIT = 1, KIND_ADJUDICATE = 2, KINDS = 3 };

/* Per second of the window: cycles, slowest lease, leases over 5 ms; shows
 * whether latency is spread evenly or comes from stalls. */
typedef struct {
  uint32_t cycles[TIMELINE_MAX];
  uint32_t slow_leases[TIMELINE_MAX];
  uint64_t lease_max_ns[TIMELINE_MAX];
  size_t seconds; /* buckets in use */
} timeline_t;

typedef enum {
  SESSION_IDLE,       /* wants a task from due_ns on */
  SESSION_LEASING,    /* lease in flight */
  SESSION_HOLDING,    /* has a task; submits at due_ns */
  SESSION_SUBMITTING, /* submit in flight */
  SESSION_RELEASING,  /* release in flight (end of run) */
  SESSION_DONE
} session_state_t;

typedef struct {
  char labeler[80];
  int kind;      /* KIND_* */
  int label_idx; /* label to submit (bench_labels index) */
  session_state_t state;
  uint64_t due_ns;
  uint64_t sent_ns;
  uint64_t leased_ns; /* when the current task arrived */
  uint32_t slot;
  uint64_t lease_id;
  int empties; /* consecutive leases without a task */
  int errors;  /* consecutive failed requests */
} session_t;

/* What the main thread and the connection threads share. */
typedef struct {
  const tally_cycle_options_t *o;
  pthread_barrier_t ready, go;
  uint64_t start_ns, window_start_ns, window_end_ns;
  int live[KINDS]; /* sessions of each kind not DONE (atomic) */
  tally_t *root;   /* the connections' shared context (NULL: one each) */
} cycle_shared_t;

typedef struct {
  cycle_shared_t *shared;
  pthread_t thread;
  int index;
  session_t *sessions;
  int n_sessions;
  op_stats_t lease[KINDS], submit[KINDS];
  uint64_t cycles;        /* label submits completed inside the window */
  uint64_t audits, verdicts; /* audit and adjudication submits inside the window */
  uint64_t last_cycle_ns; /* completion time of the last counted cycle */
  uint64_t end_ns;        /* when this thread's sessions were all done */
  timeline_t *timeline;
  session_t **heap; /* sessions waiting for their due time (IDLE, HOLDING), min-heap */
  int heap_count;
  int live;         /* sessions not DONE */
  uint64_t rng;
  int drain_limit; /* consecutive empty leases that mean "queues drained" */
  int failed;
  char error[512];
} cycle_thread_t;

static uint64_t rng_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t think_ns(cycle_thread_t *c) {
  const tally_cycle_options_t *o = c->shared->o;
  if (o->think_max_ms <= 0) return 0;
  uint64_t span = (uint64_t)(o->think_max_ms - o->think_min_ms) + 1;
  uint64_t ms = (uint64_t)o->think_min_ms + rng_next(&c->rng) % span;
  return ms * 1000000u;
}

static uint64_t item_hash(const char *id) {
  uint64_t h = 1469598103934665603ull;
  for (; id && *id; id++) h = (h ^ (unsigned char)*id) * 1099511628211ull;
  return h;
}

static const char *const op_names[KINDS][2] = {
    {"lease", "submit"}, {"audit_lease", "audit_submit"}, {"adjudicate_lease", "verdict"}};

/* A request of `s` failed: count it, back off, and give the session up
 * after too many failures in a row. */
static void session_failed(session_t *s, op_stats_t *op, int code, const char *message,
                           uint64_t now) {
  op_stats_outcome(op, tally_error_name(code), message);
  s->state = SESSION_IDLE;
  s->due_ns = now + CYCLE_ERROR_BACKOFF_NS;
  if (++s->errors >= CYCLE_ERRORS_MAX) s->state = SESSION_DONE;
}

static void heap_swap(session_t **heap, int i, int j) {
  session_t *x = heap[i];
  heap[i] = heap[j];
  heap[j] = x;
}

static void heap_push(cycle_thread_t *c, session_t *s) {
  session_t **h = c->heap;
  int i = c->heap_count++;
  h[i] = s;
  while (i > 0 && h[i]->due_ns < h[(i - 1) / 2]->due_ns) {
    heap_swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static session_t *heap_pop(cycle_thread_t *c) {
  session_t **h = c->heap;
  session_t *top = h[0];
  h[0] = h[--c->heap_count];
  for (int i = 0;;) {
    int l = 2 * i + 1, r = l + 1, least = i;
    if (l < c->heap_count && h[l]->due_ns < h[least]->due_ns) least = l;
    if (r < c->heap_count && h[r]->due_ns < h[least]->due_ns) least = r;
    if (least == i) break;
    heap_swap(h, i, least);
    i = least;
  }
  return top;
}

/* Puts a session whose state just changed where it belongs: in the heap
 * when it waits for its due time, counted out when it is done; sessions
 * with a request in flight come back through their completion. */
static void session_schedule(cycle_thread_t *c, session_t *s) {
  if (s->state == SESSION_IDLE || s->state == SESSION_HOLDING) heap_push(c, s);
  if (s->state == SESSION_DONE) {
    c->live--;
    __atomic_sub_fetch(&c->shared->live[s->kind], 1, __ATOMIC_SEQ_CST);
  }
}

/* Issues what session `s` (just taken from the heap, due) has to do. */
static void session_step(cycle_thread_t *c, tally_t *t, tally_async_t *a, session_t *s,
                         uint64_t now, int stopping) {
  const tally_cycle_options_t *o = c->shared->o;
  s->sent_ns = latency_now_ns();
  if (stopping) {
    /* End of the window: idle sessions stop, held tasks go back. */
    if (s->state == SESSION_HOLDING &&
        tally_async_release(a, s->labeler, s->slot, s->lease_id, s) == 0)
      s->state = SESSION_RELEASING;
    else
      s->state = SESSION_DONE;
  } else if (s->state == SESSION_IDLE) {
    int rc = tally_async_lease(a, s->labeler, o->project, (tally_stage_t)s->kind,
                               s->kind == KIND_LABEL ? o->wait_ms : AUX_WAIT_MS, s);
    if (rc < 0)
      session_failed(s, &c->lease[s->kind], rc, tally_last_error(t), now);
    else
      s->state = SESSION_LEASING;
  } else {
    const char *label = bench_labels[s->label_idx];
    uint32_t handling_ms = (uint32_t)((now - s->leased_ns) / 1000000u);
    int rc = s->kind == KIND_ADJUDICATE
                 ? tally_async_submit_adjudication(a, s->labeler, s->slot, s->lease_id, label,
                                                   TALLY_ATTRIBUTION_NONE, "bench", handling_ms, s)
                 : tally_async_submit(a, s->labeler, s->slot, s->lease_id, label, handling_ms, s);
    if (rc < 0)
      session_failed(s, &c->submit[s->kind], rc, tally_last_error(t), now);
    else
      s->state = SESSION_SUBMITTING;
  }
  session_schedule(c, s);
}

static void on_lease(cycle_thread_t *c, session_t *s, const tally_completion_t *done,
                     uint64_t now) {
  const cycle_shared_t *sh = c->shared;
  int measured = s->sent_ns >= sh->window_start_ns;
  op_stats_t *op = &c->lease[s->kind];
  if (done->status != 0) {
    session_failed(s, op, done->status, done->error, now);
    return;
  }
  s->errors = 0;
  if (!done->has_task) {
    if (measured) op_stats_outcome(op, "NO_TASK", "no task on the worker asked");
    s->state = SESSION_IDLE;
    ++s->empties;
    if (s->kind == KIND_LABEL) {
      s->due_ns = now + (sh->o->wait_ms > 0 ? 0 : CYCLE_EMPTY_BACKOFF_NS);
      if (s->empties >= c->drain_limit) s->state = SESSION_DONE;
    } else {
      /* Auditors stop once the labelers are done, leads once the auditors
       * are too, and only after the queue stayed empty for a while. */
      s->due_ns = now + AUX_EMPTY_BACKOFF_NS;
      int upstream = __atomic_load_n(&sh->live[KIND_LABEL], __ATOMIC_SEQ_CST);
      if (s->kind == KIND_ADJUDICATE)
        upstream += __atomic_load_n(&sh->live[KIND_AUDIT], __ATOMIC_SEQ_CST);
      if (upstream == 0 && s->empties >= AUX_DRAIN_EMPTIES) s->state = SESSION_DONE;
    }
    return;
  }
  const tally_task_t *task = &done->task;
  if (s->kind == KIND_LABEL && sh->o->auditors == 0) {
    s->label_idx = (int)(task->lease_id % BENCH_LABEL_COUNT);
  } else if (s->kind == KIND_ADJUDICATE) {
    /* The verdict: candidate A. */
    s->label_idx = 0;
    for (size_t k = 0; task->candidate_count > 0 && k < BENCH_LABEL_COUNT; k++)
      if (strcmp(bench_labels[k], task->candidates[0]) == 0) s->label_idx = (int)k;
  } else {
    uint64_t h = item_hash(task->item_id);
    s->label_idx = (int)(h % BENCH_LABEL_COUNT);
    if (s->kind == KIND_AUDIT && (int)((h >> 32) % 100) < sh->o->disagree_pct)
      s->label_idx = (s->label_idx + 1) % (int)BENCH_LABEL_COUNT;
  }
  if (measured) {
    uint64_t ns = now - s->sent_ns;
    op_stats_ok(op, ns);
    size_t second = (size_t)((now - sh->window_start_ns) / 1000000000u);
    if (s->kind == KIND_LABEL && second < TIMELINE_MAX) {
      if (ns > c->timeline->lease_max_ns[second]) c->timeline->lease_max_ns[second] = ns;
      if (ns > TIMELINE_SLOW_NS) c->timeline->slow_leases[second]++;
      if (second >= c->timeline->seconds) c->timeline->seconds = second + 1;
    }
  }
  s->empties = 0;
  s->slot = done->task.slot;
  s->lease_id = done->task.lease_id;
  s->leased_ns = now;
  s->state = SESSION_HOLDING;
  s->due_ns = now + think_ns(c);
}

static void on_submit(cycle_thread_t *c, session_t *s, const tally_completion_t *done,
                      uint64_t now) {
  const cycle_shared_t *sh = c->shared;
  if (done->status != 0) {
    session_failed(s, &c->submit[s->kind], done->status, done->error, now);
    return;
  }
  s->errors = 0;
  if (s->sent_ns >= sh->window_start_ns) op_stats_ok(&c->submit[s->kind], now - s->sent_ns);
  if (s->kind != KIND_LABEL) {
    if (now >= sh->window_start_ns && now <= sh->window_end_ns) {
      if (s->kind == KIND_AUDIT) c->audits++;
      else c->verdicts++;
      c->last_cycle_ns = now;
    }
  } else if (now >= sh->window_start_ns && now <= sh->window_end_ns) {
    size_t second = (size_t)((now - sh->window_start_ns) / 1000000000u);
    if (second < TIMELINE_MAX) {
      c->timeline->cycles[second]++;
      if (second >= c->timeline->seconds) c->timeline->seconds = second + 1;
    }
    c->cycles++;
    c->last_cycle_ns = now;
  }
  s->state = SESSION_IDLE;
  s->due_ns = now;
}

static void on_completion(cycle_thread_t *c, const tally_completion_t *done, uint64_t now) {
  session_t *s = done->tag;
  switch (done->op) {
    case TALLY_OP_LEASE: on_lease(c, s, done, now); break;
    case TALLY_OP_SUBMIT: on_submit(c, s, done, now); break;
    default: s->state = SESSION_DONE; break;
  }
  session_schedule(c, s);
}

/* The loop of one connection, from the common start to the end. */
static void cycle_loop(cycle_thread_t *c, tally_t *t, tally_async_t *a) {
  const cycle_shared_t *sh = c->shared;
  tally_completion_t done[CYCLE_POLL_MAX];
  c->live = c->n_sessions;
  for (int i = 0; i < c->n_sessions; i++) {
    c->sessions[i].due_ns = sh->start_ns;
    heap_push(c, &c->sessions[i]);
  }
  for (;;) {
    uint64_t now = latency_now_ns();
    int stopping = now >= sh->window_end_ns;
    while (c->heap_count > 0 && (stopping || c->heap[0]->due_ns <= now))
      session_step(c, t, a, heap_pop(c), now, stopping);
    uint64_t next_due = c->heap_count > 0 ? c->heap[0]->due_ns : UINT64_MAX;
    if (c->live == 0 && tally_async_in_flight(a) == 0) break;
    int wait_ms = CYCLE_IDLE_POLL_MS;
    if (next_due != UINT64_MAX) {
      uint64_t until = next_due > now ? next_due - now : 0;
      wait_ms = (int)((until + 999999u) / 1000000u);
      if (wait_ms > CYCLE_IDLE_POLL_MS) wait_ms = CYCLE_IDLE_POLL_MS;
    }
    if (!stopping && sh->window_end_ns > now) {
      uint64_t to_end_ms = (sh->window_end_ns - now + 999999u) / 1000000u;
      if ((uint64_t)wait_ms > to_end_ms) wait_ms = (int)to_end_ms;
    }
    int n = tally_async_poll(a, tally_async_in_flight(a) ? wait_ms : 0, done, CYCLE_POLL_MAX);
    if (n < 0) {
      c->failed = 1;
      snprintf(c->error, sizeof c->error, "poll failed: %s", tally_last_error(t));
      break;
    }
    if (n == 0 && tally_async_in_flight(a) == 0 && next_due != UINT64_MAX && wait_ms > 0) {
      /* Nothing in flight: poll returned at once; sleep until something is due. */
      struct timespec ts = {0, (long)wait_ms * 1000000L};
      nanosleep(&ts, NULL);
    }
    now = latency_now_ns();
    for (int i = 0; i < n; i++) on_completion(c, &done[i], now);
  }
  c->end_ns = latency_now_ns();
}

static void *cycle_thread_main(void *arg) {
  cycle_thread_t *c = arg;
  cycle_shared_t *sh = c->shared;
  const tally_cycle_options_t *o = sh->o;
  tally_t *t = NULL;
  tally_async_t *a = NULL;
  tally_map_t *map = NULL;
  int rc = sh->root ? tally_open_sibling(&t, sh->root)
                     : bench_transport_open(o->transport, &t, o->coordinator, o->timeout_ms);
  if (rc == 0) rc = tally_cluster_map(t, &map);
  if (rc == 0) rc = tally_async_new(&a, t);
  if (rc < 0) {
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "connection %d: %s", c->index,
             t ? tally_last_error(t) : tally_strerror(rc));
  } else {
    size_t workers = map->worker_count ? map->worker_count : 1;
    /* With long-poll every empty answer already waited; without, a session
     * gives up after every worker said "empty" several times in a row. */
    c->drain_limit = o->wait_ms > 0 ? 3 : (int)(4 * workers);
  }
  tally_free(map);
  pthread_barrier_wait(&sh->ready);
  pthread_barrier_wait(&sh->go);
  if (!c->failed) cycle_loop(c, t, a);
  tally_async_destroy(&a);
  tally_close(&t);
  return NULL;
}

static void sleep_until(uint64_t when_ns) {
  uint64_t now = latency_now_ns();
  if (when_ns <= now) return;
  uint64_t left = when_ns - now;
  struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static json_t *cycle_config_json(const tally_cycle_options_t *o) {
  return json_pack("{s:s, s:i, s:s, s:i, s:f, s:i, s:i, s:i, s:f, s:f, s:i, s:i, s:i, s:i}",
                   "project", o->project, "connections", o->connections, "zmq_contexts",
                   o->context_per_connection ? "one per connection" : "one shared", "sessions", o->sessions,
                   "in_flight_per_connection", (double)o->sessions / o->connections, "wait_ms",
                   o->wait_ms, "think_min_ms", o->think_min_ms, "think_max_ms", o->think_max_ms,
                   "duration_s", o->duration_s, "warmup_s", o->warmup_s, "timeout_ms",
                   o->timeout_ms, "auditors", o->auditors, "leads", o->leads, "disagree_pct",
                   o->disagree_pct);
}

static json_t *timeline_json(cycle_thread_t *threads, int n) {
  size_t seconds = 0;
  for (int i = 0; i < n; i++)
    if (threads[i].timeline->seconds > seconds) seconds = threads[i].timeline->seconds;
  json_t *cycles = json_array(), *slow = json_array(), *max = json_array();
  for (size_t k = 0; k < seconds; k++) {
    uint64_t c = 0, sl = 0, mx = 0;
    for (int i = 0; i < n; i++) {
      c += threads[i].timeline->cycles[k];
      sl += threads[i].timeline->slow_leases[k];
      if (threads[i].timeline->lease_max_ns[k] > mx) mx = threads[i].timeline->lease_max_ns[k];
    }
    json_array_append_new(cycles, json_integer((json_int_t)c));
    json_array_append_new(slow, json_integer((json_int_t)sl));
    json_array_append_new(max, json_real((double)mx / 1e6));
  }
  return json_pack("{s:i, s:o, s:o, s:o}", "bucket_s", 1, "cycles", cycles, "leases_over_5ms",
                   slow, "lease_max_ms", max);
}

/* Merges the threads' figures, prints them and builds the record. */
static json_t *cycle_report(cycle_shared_t *sh, cycle_thread_t *threads, int n) {
  const tally_cycle_options_t *o = sh->o;
  op_stats_t lease[KINDS], submit[KINDS];
  int kinds = o->leads > 0 ? 3 : o->auditors > 0 ? 2 : 1;
  for (int k = 0; k < KINDS; k++) {
    op_stats_init(&lease[k], op_names[k][0]);
    op_stats_init(&submit[k], op_names[k][1]);
  }
  uint64_t cycles = 0, audits = 0, verdicts = 0, last_cycle = 0, last_end = 0;
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < KINDS; k++) {
      op_stats_merge(&lease[k], &threads[i].lease[k]);
      op_stats_merge(&submit[k], &threads[i].submit[k]);
    }
    cycles += threads[i].cycles;
    audits += threads[i].audits;
    verdicts += threads[i].verdicts;
    if (threads[i].last_cycle_ns > last_cycle) last_cycle = threads[i].last_cycle_ns;
    if (threads[i].end_ns > last_end) last_end = threads[i].end_ns;
  }
  /* Drained: every session ran out of work before the window ended; the
   * window then ends with the last cycle. */
  int drained = last_end < sh->window_end_ns;
  uint64_t end = drained ? last_cycle : sh->window_end_ns;
  double window_s = end > sh->window_start_ns ? (double)(end - sh->window_start_ns) / 1e9 : 0;
  double rate = window_s > 0 ? (double)cycles / window_s : 0;
  double audit_rate = window_s > 0 ? (double)audits / window_s : 0;
  double verdict_rate = window_s > 0 ? (double)verdicts / window_s : 0;

  printf("tally %s (%s): %d sessions over %d connections (%.0f in flight each), wait %d ms, "
         "think %d-%d ms\n",
         o->scenario, o->transport->name, o->sessions, o->connections, (double)o->sessions / o->connections,
         o->wait_ms, o->think_min_ms, o->think_max_ms);
  printf("  window %.2f s%s: %llu label cycles, %.0f cycles/s\n", window_s,
         drained ? " (queues drained early)" : "", (unsigned long long)cycles, rate);
  if (kinds > 1)
    printf("  %d auditors, %d leads, auditors disagree on %d%% of items: %llu audits (%.0f/s), "
           "%llu verdicts (%.0f/s)\n",
           o->auditors, o->leads, o->disagree_pct, (unsigned long long)audits, audit_rate,
           (unsigned long long)verdicts, verdict_rate);
  if (o->watch) proc_watch_print_per_op(stdout, o->watch, rate, "label cycle");
  op_stats_print_header(stdout);
  for (int k = 0; k < kinds; k++) {
    op_stats_print(stdout, &lease[k], window_s);
    op_stats_print(stdout, &submit[k], window_s);
  }

  json_t *record = run_record_new("tally-bench", "tally", o->scenario, "cycle", o->transport->name);
  if (record != NULL) {
    json_object_set_new(record, "config", cycle_config_json(o));
    json_object_set_new(record, "window_s", json_real(window_s));
    json_object_set_new(record, "cycles", json_integer((json_int_t)cycles));
    json_object_set_new(record, "rate_per_s", json_real(rate));
    json_object_set_new(record, "unit", json_string("label cycles/s"));
    json_object_set_new(record, "drained", json_boolean(drained));
    if (kinds > 1) {
      json_object_set_new(record, "audits", json_integer((json_int_t)audits));
      json_object_set_new(record, "audits_per_s", json_real(audit_rate));
      json_object_set_new(record, "verdicts", json_integer((json_int_t)verdicts));
      json_object_set_new(record, "verdicts_per_s", json_real(verdict_rate));
    }
    for (int k = 0; k < kinds; k++) {
      json_object_set_new(run_record_ops(record), op_names[k][0], op_stats_json(&lease[k], window_s));
      json_object_set_new(run_record_ops(record), op_names[k][1], op_stats_json(&submit[k], window_s));
    }
    json_object_set_new(record, "timeline", timeline_json(threads, n));
    if (o->watch) json_object_set_new(record, "cpu", proc_watch_json(o->watch));
    json_t *per_cycle = o->watch ? proc_watch_per_op_json(o->watch, rate) : NULL;
    if (per_cycle) json_object_set_new(record, "cpu_us_per_cycle", per_cycle);
  }
  for (int k = 0; k < KINDS; k++) {
    op_stats_reset(&lease[k]);
    op_stats_reset(&submit[k]);
  }
  return record;
}

int tally_cycle_run(const tally_cycle_options_t *o, json_t **record) {
  *record = NULL;
  if (o->connections < 1 || o->sessions < o->connections) {
    fprintf(stderr, "need at least one connection and one session per connection\n");
    return -1;
  }
  cycle_shared_t sh;
  memset(&sh, 0, sizeof sh);
  sh.o = o;
  if (!o->context_per_connection) {
    int rc = bench_transport_open(o->transport, &sh.root, o->coordinator, o->timeout_ms);
    if (rc < 0) {
      fprintf(stderr, "cannot open a client: %s\n", tally_strerror(rc));
      return -1;
    }
  }
  int n = o->connections;
  int total = o->sessions + o->auditors + o->leads;
  cycle_thread_t *threads = calloc((size_t)n, sizeof *threads);
  session_t *sessions = calloc((size_t)total, sizeof *sessions);
  timeline_t *timelines = calloc((size_t)n, sizeof *timelines);
  session_t **heap_space = calloc((size_t)total, sizeof *heap_space);
  if (threads == NULL || sessions == NULL || timelines == NULL || heap_space == NULL) {
    free(threads);
    free(sessions);
    free(timelines);
    free(heap_space);
    tally_close(&sh.root);
    fprintf(stderr, "out of memory\n");
    return -1;
  }
  for (int i = 0; i < total; i++) {
    session_t *s = &sessions[i];
    if (i < o->sessions) {
      s->kind = KIND_LABEL;
      snprintf(s->labeler, sizeof s->labeler, "%s%04d", o->labeler_prefix, i + 1);
    } else if (i < o->sessions + o->auditors) {
      s->kind = KIND_AUDIT;
      snprintf(s->labeler, sizeof s->labeler, "%s%04d", o->auditor_prefix, i - o->sessions + 1);
    } else {
      s->kind = KIND_ADJUDICATE;
      snprintf(s->labeler, sizeof s->labeler, "%s%04d", o->lead_prefix,
               i - o->sessions - o->auditors + 1);
    }
    s->state = SESSION_IDLE;
    sh.live[s->kind]++;
  }
  /* Spread auditors and leads over the connections (fixed shuffle). */
  uint64_t seed = 0x243F6A8885A308D3ull;
  for (int i = total - 1; i > 0 && total > o->sessions; i--) {
    int j = (int)(rng_next(&seed) % (uint64_t)(i + 1));
    session_t x = sessions[i];
    sessions[i] = sessions[j];
    sessions[j] = x;
  }
  pthread_barrier_init(&sh.ready, NULL, (unsigned)n + 1);
  pthread_barrier_init(&sh.go, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    cycle_thread_t *c = &threads[i];
    int first = (int)((long)total * i / n), last = (int)((long)total * (i + 1) / n);
    c->shared = &sh;
    c->index = i;
    c->sessions = sessions + first;
    c->n_sessions = last - first;
    c->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    for (int k = 0; k < KINDS; k++) {
      op_stats_init(&c->lease[k], op_names[k][0]);
      op_stats_init(&c->submit[k], op_names[k][1]);
    }
    c->timeline = &timelines[i];
    c->heap = heap_space + first;
    pthread_create(&c->thread, NULL, cycle_thread_main, c);
  }
  pthread_barrier_wait(&sh.ready);
  sh.start_ns = latency_now_ns();
  sh.window_start_ns = sh.start_ns + (uint64_t)(o->warmup_s * 1e9);
  sh.window_end_ns = sh.window_start_ns + (uint64_t)(o->duration_s * 1e9);
  pthread_barrier_wait(&sh.go);
  if (o->watch) {
    sleep_until(sh.window_start_ns);
    proc_watch_start(o->watch);
  }
  int failed = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i].thread, NULL);
    if (threads[i].failed) {
      fprintf(stderr, "tally-bench: %s\n", threads[i].error);
      failed = 1;
    }
  }
  /* The threads end at the window's end, or earlier when the queues ran
   * dry: the CPU figures cover the same span. */
  if (o->watch) proc_watch_stop(o->watch);
  if (!failed) *record = cycle_report(&sh, threads, n);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < KINDS; k++) {
      op_stats_reset(&threads[i].lease[k]);
      op_stats_reset(&threads[i].submit[k]);
    }
  }
  free(timelines);
  free(heap_space);
  pthread_barrier_destroy(&sh.ready);
  pthread_barrier_destroy(&sh.go);
  free(threads);
  free(sessions);
  tally_close(&sh.root);
  if (failed) return -1;
  if (*record == NULL) {
    fprintf(stderr, "out of memory\n");
    return -1;
  }
  return 0;
}
