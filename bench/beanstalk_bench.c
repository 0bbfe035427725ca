/* beanstalk-bench: the peer of tally-bench — the same generator design
 * driving beanstalkd, so the two can be compared in one run.
 *
 *   beanstalk-bench fill   put --jobs jobs (or until --duration), the
 *                          equivalent of Tally's ingest
 *   beanstalk-bench cycle  sessions doing reserve-with-timeout 0 + delete,
 *                          the equivalent of Tally's lease + submit
 *   beanstalk-bench free-port   print a free loopback TCP port
 *
 * As in tally-bench: --connections threads, one TCP connection each,
 * carrying --sessions / --connections sessions, each with one command in
 * flight; the commands of a connection are pipelined (written together,
 * replies read in order). Latency is per command from queueing it to
 * parsing its reply (CLOCK_MONOTONIC).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "beanstalk_client.h"
#include "latency.h"
#include "op_stats.h"
#include "peer_args.h"
#include "proc_sample.h"
#include "run_record.h"

#define JOB_PRIORITY 1024
#define JOB_TTR_S 300   /* like Tally's default lease */
#define DRAIN_EMPTIES 3 /* consecutive TIMED_OUT that end a session */

static const char usage[] =
    "usage: beanstalk-bench fill|cycle --port PORT [options]\n"
    "       beanstalk-bench free-port\n"
    "\n"
    "options (defaults in brackets):\n"
    "  --host HOST          [127.0.0.1]\n"
    "  --port PORT          beanstalkd's port\n"
    "  --system NAME        name recorded for this server setup [beanstalkd]\n"
    "  --scenario NAME      scenario recorded in the run record [the command]\n"
    "  --json FILE          write the run record to FILE ('-': stdout)\n"
    "  --connections N      [4]\n"
    "  --sessions N         commands in flight in all (fill) / sessions (cycle) [256]\n"
    "  --jobs N             fill: jobs to put [100000]\n"
    "  --content-bytes N    fill: job body size [100]\n"
    "  --duration S         fill: stop after S s; cycle: measurement window [10]\n"
    "  --warmup S           cycle: unmeasured start [1]\n"
    "  --watch NAME=PID     record the CPU time of PID during the run (repeatable)\n";

typedef peer_args_t args_t;

typedef struct {
  uint64_t sent_ns;
  int empties; /* cycle: consecutive TIMED_OUT */
} session_t;

typedef struct {
  const args_t *a;
  pthread_barrier_t ready, go;
  uint64_t start_ns, window_start_ns, window_end_ns;
  atomic_long jobs_left; /* fill */
  char *body;
} shared_t;

typedef struct {
  shared_t *sh;
  pthread_t thread;
  int index, n_sessions;
  session_t *sessions;
  op_stats_t put, reserve, del;
  uint64_t done_count; /* puts (fill) or cycles (cycle) inside the window */
  uint64_t last_done_ns, end_ns;
  int failed;
  char error[512];
} conn_thread_t;

/* ------------------------------------------------------------ fill */

/* Queues the next put for `s` unless the fill is over. */
static int fill_next(conn_thread_t *c, beanstalk_conn_t *b, session_t *s) {
  shared_t *sh = c->sh;
  if (latency_now_ns() >= sh->window_end_ns || atomic_fetch_sub(&sh->jobs_left, 1) <= 0) return 0;
  s->sent_ns = latency_now_ns();
  return beanstalk_put(b, JOB_PRIORITY, 0, JOB_TTR_S, sh->body, (size_t)sh->a->content_bytes, s);
}

static int fill_on_reply(conn_thread_t *c, beanstalk_conn_t *b, const beanstalk_reply_t *r,
                         uint64_t now) {
  session_t *s = r->tag;
  if (r->kind == BEANSTALK_INSERTED) {
    op_stats_ok(&c->put, now - s->sent_ns);
    c->done_count++;
    c->last_done_ns = now;
  } else {
    op_stats_outcome(&c->put, r->line, r->line);
  }
  return fill_next(c, b, s);
}

/* ------------------------------------------------------------ cycle */

static int cycle_next(conn_thread_t *c, beanstalk_conn_t *b, session_t *s) {
  if (latency_now_ns() >= c->sh->window_end_ns || s->empties >= DRAIN_EMPTIES) return 0;
  s->sent_ns = latency_now_ns();
  return beanstalk_reserve_with_timeout(b, 0, s);
}

static int cycle_on_reply(conn_thread_t *c, beanstalk_conn_t *b, const beanstalk_reply_t *r,
                          uint64_t now) {
  shared_t *sh = c->sh;
  session_t *s = r->tag;
  int measured = s->sent_ns >= sh->window_start_ns;
  if (r->command == BEANSTALK_RESERVE) {
    if (r->kind == BEANSTALK_RESERVED) {
      if (measured) op_stats_ok(&c->reserve, now - s->sent_ns);
      s->empties = 0;
      s->sent_ns = latency_now_ns();
      return beanstalk_delete(b, r->id, s);
    }
    if (measured) op_stats_outcome(&c->reserve, r->kind == BEANSTALK_TIMED_OUT ? "NO_JOB" : r->line,
                                   r->line);
    if (r->kind == BEANSTALK_TIMED_OUT) s->empties++;
    return cycle_next(c, b, s);
  }
  if (r->kind == BEANSTALK_DELETED) {
    if (measured) op_stats_ok(&c->del, now - s->sent_ns);
    if (now >= sh->window_start_ns && now <= sh->window_end_ns) {
      c->done_count++;
      c->last_done_ns = now;
    }
  } else {
    op_stats_outcome(&c->del, r->line, r->line);
  }
  return cycle_next(c, b, s);
}

/* ------------------------------------------------------------ threads */

static int conn_loop(conn_thread_t *c, beanstalk_conn_t *b, int fill) {
  for (int i = 0; i < c->n_sessions; i++) {
    int rc = fill ? fill_next(c, b, &c->sessions[i]) : cycle_next(c, b, &c->sessions[i]);
    if (rc < 0) return -1;
  }
  if (beanstalk_flush(b) < 0) return -1;
  while (beanstalk_in_flight(b) > 0) {
    if (beanstalk_read(b, 1) < 0) return -1;
    beanstalk_reply_t r;
    int got;
    while ((got = beanstalk_next_reply(b, &r)) == 1) {
      uint64_t now = latency_now_ns();
      int rc = fill ? fill_on_reply(c, b, &r, now) : cycle_on_reply(c, b, &r, now);
      if (rc < 0) return -1;
    }
    if (got < 0 || beanstalk_flush(b) < 0) return -1;
  }
  return 0;
}

static void *conn_thread_main(void *arg) {
  conn_thread_t *c = arg;
  shared_t *sh = c->sh;
  beanstalk_conn_t *b = NULL;
  if (beanstalk_connect(&b, sh->a->host, sh->a->port) < 0) {
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "connection %d: cannot connect", c->index);
  }
  pthread_barrier_wait(&sh->ready);
  pthread_barrier_wait(&sh->go);
  if (!c->failed && conn_loop(c, b, strcmp(sh->a->command, "fill") == 0) < 0) {
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "connection %d: %s", c->index, beanstalk_error(b));
  }
  c->end_ns = latency_now_ns();
  beanstalk_close(&b);
  return NULL;
}

/* ------------------------------------------------------------ report */

static json_t *report(shared_t *sh, conn_thread_t *threads, int n) {
  const args_t *a = sh->a;
  int fill = strcmp(a->command, "fill") == 0;
  op_stats_t put, reserve, del;
  op_stats_init(&put, "put");
  op_stats_init(&reserve, "reserve");
  op_stats_init(&del, "delete");
  uint64_t done = 0, last_done = 0, last_end = 0;
  for (int i = 0; i < n; i++) {
    op_stats_merge(&put, &threads[i].put);
    op_stats_merge(&reserve, &threads[i].reserve);
    op_stats_merge(&del, &threads[i].del);
    done += threads[i].done_count;
    if (threads[i].last_done_ns > last_done) last_done = threads[i].last_done_ns;
    if (threads[i].end_ns > last_end) last_end = threads[i].end_ns;
  }
  int drained = last_end < sh->window_end_ns;
  uint64_t end = drained ? last_done : sh->window_end_ns;
  double window_s = end > sh->window_start_ns ? (double)(end - sh->window_start_ns) / 1e9 : 0;
  double rate = window_s > 0 ? (double)done / window_s : 0;
  printf("%s %s: %d %s over %d connections (%.0f in flight each)\n", a->system, a->scenario,
         a->sessions, fill ? "puts in flight" : "sessions", a->connections,
         (double)a->sessions / a->connections);
  printf("  window %.2f s%s: %llu %s, %.0f/s\n", window_s,
         drained ? (fill ? " (all jobs put)" : " (queue drained early)") : "",
         (unsigned long long)done, fill ? "jobs put" : "reserve+delete cycles", rate);
  if (!fill && a->watch.count) proc_watch_print_per_op(stdout, &a->watch, rate, "cycle");
  op_stats_print_header(stdout);
  if (fill) op_stats_print(stdout, &put, window_s);
  if (!fill) op_stats_print(stdout, &reserve, window_s);
  if (!fill) op_stats_print(stdout, &del, window_s);
  json_t *record = run_record_new("beanstalk-bench", a->system, a->scenario, a->command, "tcp");
  if (record != NULL) {
    json_object_set_new(record, "config",
                        json_pack("{s:i, s:i, s:f, s:I, s:i, s:f, s:f}", "connections",
                                  a->connections, "sessions", a->sessions,
                                  "in_flight_per_connection", (double)a->sessions / a->connections,
                                  "jobs", (json_int_t)a->jobs, "content_bytes", a->content_bytes,
                                  "duration_s", a->duration_s, "warmup_s", fill ? 0 : a->warmup_s));
    json_object_set_new(record, "window_s", json_real(window_s));
    json_object_set_new(record, fill ? "jobs_put" : "cycles", json_integer((json_int_t)done));
    json_object_set_new(record, "rate_per_s", json_real(rate));
    json_object_set_new(record, "unit", json_string(fill ? "jobs/s" : "reserve+delete cycles/s"));
    json_object_set_new(record, "drained", json_boolean(drained));
    json_t *ops = run_record_ops(record);
    if (fill) json_object_set_new(ops, "put", op_stats_json(&put, window_s));
    if (!fill) json_object_set_new(ops, "reserve", op_stats_json(&reserve, window_s));
    if (!fill) json_object_set_new(ops, "delete", op_stats_json(&del, window_s));
    if (a->watch.count) json_object_set_new(record, "cpu", proc_watch_json(&a->watch));
    json_t *per_cycle = !fill && a->watch.count ? proc_watch_per_op_json(&a->watch, rate) : NULL;
    if (per_cycle) json_object_set_new(record, "cpu_us_per_cycle", per_cycle);
  }
  op_stats_reset(&put);
  op_stats_reset(&reserve);
  op_stats_reset(&del);
  return record;
}

static int run(args_t *a) {
  int fill = strcmp(a->command, "fill") == 0;
  int n = a->connections;
  shared_t sh;
  memset(&sh, 0, sizeof sh);
  sh.a = a;
  atomic_store(&sh.jobs_left, a->jobs);
  sh.body = malloc((size_t)a->content_bytes + 1);
  conn_thread_t *threads = calloc((size_t)n, sizeof *threads);
  session_t *sessions = calloc((size_t)a->sessions, sizeof *sessions);
  if (sh.body == NULL || threads == NULL || sessions == NULL) {
    fprintf(stderr, "beanstalk-bench: out of memory\n");
    free(sh.body);
    free(threads);
    free(sessions);
    return 1;
  }
  for (int i = 0; i < a->content_bytes; i++) sh.body[i] = (char)('a' + i % 26);
  pthread_barrier_init(&sh.ready, NULL, (unsigned)n + 1);
  pthread_barrier_init(&sh.go, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    conn_thread_t *c = &threads[i];
    int first = (int)((long)a->sessions * i / n), last = (int)((long)a->sessions * (i + 1) / n);
    c->sh = &sh;
    c->index = i;
    c->sessions = sessions + first;
    c->n_sessions = last - first;
    op_stats_init(&c->put, "put");
    op_stats_init(&c->reserve, "reserve");
    op_stats_init(&c->del, "delete");
    pthread_create(&c->thread, NULL, conn_thread_main, c);
  }
  pthread_barrier_wait(&sh.ready);
  sh.start_ns = latency_now_ns();
  sh.window_start_ns = sh.start_ns + (fill ? 0 : (uint64_t)(a->warmup_s * 1e9));
  sh.window_end_ns = sh.window_start_ns + (uint64_t)(a->duration_s * 1e9);
  pthread_barrier_wait(&sh.go);
  if (a->watch.count) {
    peer_sleep_until(sh.window_start_ns);
    proc_watch_start(&a->watch);
  }
  int failed = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i].thread, NULL);
    if (threads[i].failed) {
      fprintf(stderr, "beanstalk-bench: %s\n", threads[i].error);
      failed = 1;
    }
  }
  /* A fill usually ends before its time limit: stop the CPU watch then. */
  if (a->watch.count) proc_watch_stop(&a->watch);
  json_t *record = failed ? NULL : report(&sh, threads, n);
  int rc = failed || record == NULL || run_record_write(record, a->json) < 0;
  json_decref(record);
  for (int i = 0; i < n; i++) {
    op_stats_reset(&threads[i].put);
    op_stats_reset(&threads[i].reserve);
    op_stats_reset(&threads[i].del);
  }
  pthread_barrier_destroy(&sh.ready);
  pthread_barrier_destroy(&sh.go);
  free(threads);
  free(sessions);
  free(sh.body);
  return rc;
}

/* ------------------------------------------------------------ main */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    fprintf(stderr, "beanstalk-bench: cannot find a free port: %s\n", strerror(errno));
    if (fd >= 0) close(fd);
    return 1;
  }
  printf("%d\n", ntohs(addr.sin_port));
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "free-port") == 0) return free_port();
  if (strcmp(argv[1], "fill") != 0 && strcmp(argv[1], "cycle") != 0) {
    fprintf(stderr, "beanstalk-bench: unknown command '%s'\n%s", argv[1], usage);
    return 2;
  }
  args_t a;
  int rc = peer_args_parse(argc, argv, "beanstalk-bench", "beanstalkd", usage, &a);
  if (rc != 0) return rc == 1 ? 0 : rc;
  return run(&a);
}
