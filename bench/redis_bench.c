/* redis-bench: the label cycle built on Redis 7 the way teams who would
 * not adopt Tally build a job queue (BullMQ's shape: job state moved by
 * server-side Lua), driven by the same generator design as tally-bench and
 * beanstalk-bench, so the three can be compared in one run.
 *
 *   redis-bench fill   load the two functions, then queue --jobs items
 *                      (ids in a list, 100-byte contents in a hash)
 *   redis-bench cycle  sessions doing lease + submit through the functions
 *
 * The cycle as two Redis functions (library "tallybench", FUNCTION LOAD):
 *   tally_lease(queue, content, deadlines, holders; labeler, deadline_ms)
 *     pops the next item id from the market's queue, records its holder
 *     (hash) and lease deadline (sorted set), returns {id, content}, or nil
 *     when the queue is empty;
 *   tally_submit(deadlines, holders, labels, stats; id, labeler, label)
 *     refuses NOT_LEASE_OWNER unless `labeler` holds the lease, drops the
 *     lease, stores the label (labels hash: id -> "labeler<TAB>label") and
 *     bumps the labeler's counter (stats hash).
 * A function runs atomically; with `appendonly yes` and `appendfsync
 * always` its writes reach the AOF, fsynced, before the reply is sent
 * (Redis fsyncs once per event-loop pass, so it group-commits too).
 *
 * As in beanstalk-bench: --connections threads, one TCP connection each
 * (hiredis, blocking context), carrying --sessions / --connections
 * sessions, each with one command in flight; the commands of a connection
 * are pipelined (appended together, written in one go, replies read in
 * order). Latency is per command from appending it to parsing its reply
 * (CLOCK_MONOTONIC).
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "latency.h"
#include "op_stats.h"
#include "peer_args.h"
#include "proc_sample.h"
#include "run_record.h"

#define LEASE_TTL_MS 300000     /* like Tally's default lease */
#define DRAIN_EMPTIES 3         /* consecutive empty leases that end a session */
#define FILL_BATCH 500          /* ids per RPUSH / HSET of the fill */
#define FILL_IN_FLIGHT 16       /* fill batches pipelined */
#define ITEM_ID_MAX 32
#define CONNECT_TIMEOUT_S 5

/* Keys share one hash tag, so the scripts would also run on a cluster. */
#define KEY_QUEUE "{bench}:queue:m1"
#define KEY_CONTENT "{bench}:content"
#define KEY_DEADLINES "{bench}:lease_deadlines"
#define KEY_HOLDERS "{bench}:lease_holders"
#define KEY_LABELS "{bench}:labels"
#define KEY_STATS "{bench}:stats"

static const char library[] =
    "#!lua name=tallybench\n"
    "redis.register_function('tally_lease', function(keys, args)\n"
    "  local id = redis.call('LPOP', keys[1])\n"
    "  if not id then return nil end\n"
    "  redis.call('ZADD', keys[3], args[2], id)\n"
    "  redis.call('HSET', keys[4], id, args[1])\n"
    "  return {id, redis.call('HGET', keys[2], id)}\n"
    "end)\n"
    "redis.register_function('tally_submit', function(keys, args)\n"
    "  if redis.call('HGET', keys[2], args[1]) ~= args[2] then\n"
    "    return redis.error_reply('NOT_LEASE_OWNER no lease of this labeler on this item')\n"
    "  end\n"
    "  redis.call('ZREM', keys[1], args[1])\n"
    "  redis.call('HDEL', keys[2], args[1])\n"
    "  redis.call('HSET', keys[3], args[1], args[2] .. '\\t' .. args[3])\n"
    "  redis.call('HINCRBY', keys[4], args[2], 1)\n"
    "  return 1\n"
    "end)\n";

static const char *const labels[] = {"cat", "dog", "bird", "other"};

static const char usage[] =
    "usage: redis-bench fill|cycle --port PORT [options]\n"
    "\n"
    "options (defaults in brackets):\n"
    "  --host HOST          [127.0.0.1]\n"
    "  --port PORT          redis-server's port\n"
    "  --system NAME        name recorded for this server setup [redis]\n"
    "  --scenario NAME      scenario recorded in the run record [the command]\n"
    "  --json FILE          write the run record to FILE ('-': stdout)\n"
    "  --connections N      cycle: [4]\n"
    "  --sessions N         cycle: sessions over all connections [256]\n"
    "  --jobs N             fill: items to queue [100000]\n"
    "  --content-bytes N    fill: item content size [100]\n"
    "  --duration S         cycle: measurement window [10]\n"
    "  --warmup S           cycle: unmeasured start [1]\n"
    "  --watch NAME=PID     record the CPU time of PID during the window (repeatable)\n";

typedef peer_args_t args_t;

typedef enum { SESSION_LEASING, SESSION_SUBMITTING, SESSION_DONE } session_state_t;

typedef struct {
  char labeler[24];
  char item[ITEM_ID_MAX];
  size_t item_len;
  session_state_t state;
  uint64_t sent_ns;
  int empties; /* consecutive empty leases */
  unsigned label_idx;
} session_t;

typedef struct {
  const args_t *a;
  pthread_barrier_t ready, go;
  uint64_t start_ns, window_start_ns, window_end_ns;
} shared_t;

typedef struct {
  shared_t *sh;
  pthread_t thread;
  int index, n_sessions;
  session_t *sessions;
  session_t **fifo; /* sessions in the order of their commands in flight */
  int fifo_head, fifo_count;
  op_stats_t lease, submit;
  uint64_t cycles;   /* submits completed inside the window */
  uint64_t last_cycle_ns, end_ns;
  int failed;
  char error[512];
} conn_thread_t;

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Connects with a timeout; returns the context or NULL (message on stderr). */
static redisContext *connect_to(const args_t *a) {
  struct timeval tv = {CONNECT_TIMEOUT_S, 0};
  redisContext *ctx = redisConnectWithTimeout(a->host, a->port, tv);
  if (ctx == NULL || ctx->err) {
    fprintf(stderr, "redis-bench: cannot connect to %s:%d: %s\n", a->host, a->port,
            ctx ? ctx->errstr : "out of memory");
    redisFree(ctx);
    return NULL;
  }
  return ctx;
}

/* Runs one command and checks its reply type; returns the reply (caller
 * frees) or NULL (message on stderr). */
static redisReply *command_expect(redisContext *ctx, int type, const char *what, const char *fmt,
                                  ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(ctx, fmt, ap);
  va_end(ap);
  if (r == NULL) {
    fprintf(stderr, "redis-bench: %s: %s\n", what, ctx->errstr);
    return NULL;
  }
  if ((int)r->type != type) {
    fprintf(stderr, "redis-bench: %s: unexpected reply%s%s\n", what,
            r->type == REDIS_REPLY_ERROR ? ": " : "", r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

/* ------------------------------------------------------------ fill */

/* Appends one batch of the fill: the ids to the queue, their contents to
 * the content hash. */
static int fill_append(redisContext *ctx, long first, long count, const char *body,
                       size_t body_len) {
  size_t n = 2 + (size_t)count, m = 2 + 2 * (size_t)count;
  const char **argv = malloc(m * sizeof *argv);
  size_t *argl = malloc(m * sizeof *argl);
  char (*ids)[ITEM_ID_MAX] = malloc((size_t)count * sizeof *ids);
  int rc = -1;
  if (argv == NULL || argl == NULL || ids == NULL) goto done;
  for (long i = 0; i < count; i++) snprintf(ids[i], sizeof ids[i], "item-%09ld", first + i);
  argv[0] = "RPUSH", argl[0] = 5, argv[1] = KEY_QUEUE, argl[1] = strlen(KEY_QUEUE);
  for (long i = 0; i < count; i++) argv[2 + i] = ids[i], argl[2 + i] = strlen(ids[i]);
  if (redisAppendCommandArgv(ctx, (int)n, argv, argl) != REDIS_OK) goto done;
  argv[0] = "HSET", argl[0] = 4, argv[1] = KEY_CONTENT, argl[1] = strlen(KEY_CONTENT);
  for (long i = 0; i < count; i++) {
    argv[2 + 2 * i] = ids[i], argl[2 + 2 * i] = strlen(ids[i]);
    argv[3 + 2 * i] = body, argl[3 + 2 * i] = body_len;
  }
  if (redisAppendCommandArgv(ctx, (int)m, argv, argl) != REDIS_OK) goto done;
  rc = 0;
done:
  free(argv);
  free(argl);
  free(ids);
  return rc;
}

/* Reads one reply of the fill and checks it is not an error. */
static int fill_reply(redisContext *ctx) {
  redisReply *r = NULL;
  if (redisGetReply(ctx, (void **)&r) != REDIS_OK) {
    fprintf(stderr, "redis-bench: fill: %s\n", ctx->errstr);
    return -1;
  }
  int bad = r->type == REDIS_REPLY_ERROR;
  if (bad) fprintf(stderr, "redis-bench: fill: %s\n", r->str);
  freeReplyObject(r);
  return bad ? -1 : 0;
}

static int fill(const args_t *a) {
  redisContext *ctx = connect_to(a);
  if (ctx == NULL) return 1;
  int rc = 1;
  char *body = malloc((size_t)a->content_bytes + 1);
  redisReply *r = command_expect(ctx, REDIS_REPLY_STRING, "FUNCTION LOAD", "FUNCTION LOAD REPLACE %s",
                                 library);
  if (r == NULL || body == NULL) goto done;
  freeReplyObject(r);
  for (int i = 0; i < a->content_bytes; i++) body[i] = (char)('a' + i % 26);
  uint64_t start = latency_now_ns();
  long sent = 0, in_flight = 0; /* replies outstanding (two per batch) */
  while (sent < a->jobs || in_flight > 0) {
    while (sent < a->jobs && in_flight < 2 * FILL_IN_FLIGHT) {
      long count = a->jobs - sent < FILL_BATCH ? a->jobs - sent : FILL_BATCH;
      if (fill_append(ctx, sent, count, body, (size_t)a->content_bytes) < 0) {
        fprintf(stderr, "redis-bench: fill: out of memory\n");
        goto done;
      }
      sent += count;
      in_flight += 2;
    }
    if (fill_reply(ctx) < 0) goto done;
    in_flight--;
  }
  double s = (double)(latency_now_ns() - start) / 1e9;
  printf("%s fill: %ld items queued in %.2f s (%.0f/s), batches of %d\n", a->system, a->jobs, s,
         s > 0 ? (double)a->jobs / s : 0, FILL_BATCH);
  rc = 0;
done:
  free(body);
  redisFree(ctx);
  return rc;
}

/* ------------------------------------------------------------ cycle */

static void fifo_push(conn_thread_t *c, session_t *s) {
  c->fifo[(c->fifo_head + c->fifo_count++) % c->n_sessions] = s;
}

static session_t *fifo_pop(conn_thread_t *c) {
  session_t *s = c->fifo[c->fifo_head];
  c->fifo_head = (c->fifo_head + 1) % c->n_sessions;
  c->fifo_count--;
  return s;
}

/* Appends the next lease of `s` unless its run is over. */
static int lease_next(conn_thread_t *c, redisContext *ctx, session_t *s) {
  if (latency_now_ns() >= c->sh->window_end_ns || s->empties >= DRAIN_EMPTIES) {
    s->state = SESSION_DONE;
    return 0;
  }
  char deadline[32];
  snprintf(deadline, sizeof deadline, "%llu", (unsigned long long)(wall_ms() + LEASE_TTL_MS));
  s->state = SESSION_LEASING;
  s->sent_ns = latency_now_ns();
  if (redisAppendCommand(ctx, "FCALL tally_lease 4 %s %s %s %s %s %s", KEY_QUEUE, KEY_CONTENT,
                         KEY_DEADLINES, KEY_HOLDERS, s->labeler, deadline) != REDIS_OK)
    return -1;
  fifo_push(c, s);
  return 0;
}

static int submit_next(conn_thread_t *c, redisContext *ctx, session_t *s) {
  s->state = SESSION_SUBMITTING;
  s->sent_ns = latency_now_ns();
  if (redisAppendCommand(ctx, "FCALL tally_submit 4 %s %s %s %s %b %s %s", KEY_DEADLINES,
                         KEY_HOLDERS, KEY_LABELS, KEY_STATS, s->item, s->item_len, s->labeler,
                         labels[s->label_idx % (sizeof labels / sizeof labels[0])]) != REDIS_OK)
    return -1;
  fifo_push(c, s);
  return 0;
}

/* Outcome name of an error reply: its first word ("NOT_LEASE_OWNER", "ERR"). */
static void error_kind(const redisReply *r, char *out, size_t size) {
  size_t n = strcspn(r->str, " ");
  snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), r->str);
}

static int on_reply(conn_thread_t *c, redisContext *ctx, session_t *s, redisReply *r,
                    uint64_t now) {
  const shared_t *sh = c->sh;
  int measured = s->sent_ns >= sh->window_start_ns;
  char kind[32];
  if (s->state == SESSION_LEASING) {
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < ITEM_ID_MAX) {
      if (measured) op_stats_ok(&c->lease, now - s->sent_ns);
      memcpy(s->item, r->element[0]->str, r->element[0]->len);
      s->item_len = r->element[0]->len;
      s->empties = 0;
      s->label_idx++;
      return submit_next(c, ctx, s);
    }
    if (r->type == REDIS_REPLY_NIL) {
      if (measured) op_stats_outcome(&c->lease, "NO_TASK", "the queue is empty");
      s->empties++;
    } else if (r->type == REDIS_REPLY_ERROR) {
      error_kind(r, kind, sizeof kind);
      op_stats_outcome(&c->lease, kind, r->str);
    } else {
      op_stats_outcome(&c->lease, "UNEXPECTED", "reply of an unexpected type to tally_lease");
    }
    return lease_next(c, ctx, s);
  }
  if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
    if (measured) op_stats_ok(&c->submit, now - s->sent_ns);
    if (now >= sh->window_start_ns && now <= sh->window_end_ns) {
      c->cycles++;
      c->last_cycle_ns = now;
    }
  } else if (r->type == REDIS_REPLY_ERROR) {
    error_kind(r, kind, sizeof kind);
    op_stats_outcome(&c->submit, kind, r->str);
  } else {
    op_stats_outcome(&c->submit, "UNEXPECTED", "reply of an unexpected type to tally_submit");
  }
  return lease_next(c, ctx, s);
}

/* The loop of one connection: every session's lease appended, then one
 * reply at a time; redisGetReply writes everything appended before it
 * waits, so the commands issued while handling a burst of replies leave
 * together. */
static int conn_loop(conn_thread_t *c, redisContext *ctx) {
  for (int i = 0; i < c->n_sessions; i++)
    if (lease_next(c, ctx, &c->sessions[i]) < 0) return -1;
  while (c->fifo_count > 0) {
    redisReply *r = NULL;
    if (redisGetReply(ctx, (void **)&r) != REDIS_OK || r == NULL) return -1;
    session_t *s = fifo_pop(c);
    int rc = on_reply(c, ctx, s, r, latency_now_ns());
    freeReplyObject(r);
    if (rc < 0) return -1;
  }
  return 0;
}

static void *conn_thread_main(void *arg) {
  conn_thread_t *c = arg;
  shared_t *sh = c->sh;
  redisContext *ctx = connect_to(sh->a);
  if (ctx == NULL) {
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "connection %d: cannot connect", c->index);
  }
  pthread_barrier_wait(&sh->ready);
  pthread_barrier_wait(&sh->go);
  if (!c->failed && conn_loop(c, ctx) < 0) {
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "connection %d: %s", c->index,
             ctx->err ? ctx->errstr : "out of memory");
  }
  c->end_ns = latency_now_ns();
  redisFree(ctx);
  return NULL;
}

/* The server's persistence settings as it reports them (CONFIG GET), so
 * the record proves what was measured. */
static json_t *server_settings(const args_t *a) {
  redisContext *ctx = connect_to(a);
  if (ctx == NULL) return json_null();
  json_t *o = json_object();
  static const char *const names[] = {"appendonly", "appendfsync", "save"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    redisReply *r = command_expect(ctx, REDIS_REPLY_ARRAY, "CONFIG GET", "CONFIG GET %s", names[i]);
    if (r && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
      json_object_set_new(o, names[i], json_string(r->element[1]->str));
    freeReplyObject(r);
  }
  redisReply *v = command_expect(ctx, REDIS_REPLY_STRING, "INFO", "INFO server");
  const char *version = v ? strstr(v->str, "redis_version:") : NULL;
  if (version) {
    version += strlen("redis_version:");
    json_object_set_new(o, "version", json_stringn(version, strcspn(version, "\r\n")));
  }
  freeReplyObject(v);
  redisFree(ctx);
  return o;
}

static json_t *report(shared_t *sh, conn_thread_t *threads, int n, json_t *settings) {
  const args_t *a = sh->a;
  op_stats_t lease, submit;
  op_stats_init(&lease, "lease");
  op_stats_init(&submit, "submit");
  uint64_t cycles = 0, last_cycle = 0, last_end = 0;
  for (int i = 0; i < n; i++) {
    op_stats_merge(&lease, &threads[i].lease);
    op_stats_merge(&submit, &threads[i].submit);
    cycles += threads[i].cycles;
    if (threads[i].last_cycle_ns > last_cycle) last_cycle = threads[i].last_cycle_ns;
    if (threads[i].end_ns > last_end) last_end = threads[i].end_ns;
  }
  int drained = last_end < sh->window_end_ns;
  uint64_t end = drained ? last_cycle : sh->window_end_ns;
  double window_s = end > sh->window_start_ns ? (double)(end - sh->window_start_ns) / 1e9 : 0;
  double rate = window_s > 0 ? (double)cycles / window_s : 0;
  printf("%s %s: %d sessions over %d connections (%.0f in flight each)\n", a->system, a->scenario,
         a->sessions, a->connections, (double)a->sessions / a->connections);
  printf("  window %.2f s%s: %llu lease+submit cycles, %.0f/s\n", window_s,
         drained ? " (queue drained early)" : "", (unsigned long long)cycles, rate);
  if (a->watch.count) proc_watch_print_per_op(stdout, &a->watch, rate, "cycle");
  op_stats_print_header(stdout);
  op_stats_print(stdout, &lease, window_s);
  op_stats_print(stdout, &submit, window_s);
  json_t *record = run_record_new("redis-bench", a->system, a->scenario, "cycle", "tcp");
  if (record != NULL) {
    json_object_set_new(record, "config",
                        json_pack("{s:i, s:i, s:f, s:f, s:f, s:o}", "connections", a->connections,
                                  "sessions", a->sessions, "in_flight_per_connection",
                                  (double)a->sessions / a->connections, "duration_s",
                                  a->duration_s, "warmup_s", a->warmup_s, "server", settings));
    settings = NULL;
    json_object_set_new(record, "window_s", json_real(window_s));
    json_object_set_new(record, "cycles", json_integer((json_int_t)cycles));
    json_object_set_new(record, "rate_per_s", json_real(rate));
    json_object_set_new(record, "unit", json_string("lease+submit cycles/s"));
    json_object_set_new(record, "drained", json_boolean(drained));
    json_object_set_new(run_record_ops(record), "lease", op_stats_json(&lease, window_s));
    json_object_set_new(run_record_ops(record), "submit", op_stats_json(&submit, window_s));
    if (a->watch.count) {
      json_object_set_new(record, "cpu", proc_watch_json(&a->watch));
      json_t *per_cycle = proc_watch_per_op_json(&a->watch, rate);
      if (per_cycle) json_object_set_new(record, "cpu_us_per_cycle", per_cycle);
    }
  }
  json_decref(settings);
  op_stats_reset(&lease);
  op_stats_reset(&submit);
  return record;
}

static int cycle(args_t *a) {
  int n = a->connections;
  shared_t sh;
  memset(&sh, 0, sizeof sh);
  sh.a = a;
  json_t *settings = server_settings(a);
  conn_thread_t *threads = calloc((size_t)n, sizeof *threads);
  session_t *sessions = calloc((size_t)a->sessions, sizeof *sessions);
  session_t **fifo = calloc((size_t)a->sessions, sizeof *fifo);
  if (threads == NULL || sessions == NULL || fifo == NULL) {
    fprintf(stderr, "redis-bench: out of memory\n");
    free(threads);
    free(sessions);
    free(fifo);
    json_decref(settings);
    return 1;
  }
  for (int i = 0; i < a->sessions; i++) {
    snprintf(sessions[i].labeler, sizeof sessions[i].labeler, "bench-%04d", i + 1);
    sessions[i].label_idx = (unsigned)i;
  }
  pthread_barrier_init(&sh.ready, NULL, (unsigned)n + 1);
  pthread_barrier_init(&sh.go, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    conn_thread_t *c = &threads[i];
    int first = (int)((long)a->sessions * i / n), last = (int)((long)a->sessions * (i + 1) / n);
    c->sh = &sh;
    c->index = i;
    c->sessions = sessions + first;
    c->fifo = fifo + first;
    c->n_sessions = last - first;
    op_stats_init(&c->lease, "lease");
    op_stats_init(&c->submit, "submit");
    pthread_create(&c->thread, NULL, conn_thread_main, c);
  }
  pthread_barrier_wait(&sh.ready);
  sh.start_ns = latency_now_ns();
  sh.window_start_ns = sh.start_ns + (uint64_t)(a->warmup_s * 1e9);
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
      fprintf(stderr, "redis-bench: %s\n", threads[i].error);
      failed = 1;
    }
  }
  if (a->watch.count) proc_watch_stop(&a->watch);
  json_t *record = NULL;
  if (failed)
    json_decref(settings);
  else
    record = report(&sh, threads, n, settings);
  int rc = failed || record == NULL || run_record_write(record, a->json) < 0;
  json_decref(record);
  for (int i = 0; i < n; i++) {
    op_stats_reset(&threads[i].lease);
    op_stats_reset(&threads[i].submit);
  }
  pthread_barrier_destroy(&sh.ready);
  pthread_barrier_destroy(&sh.go);
  free(threads);
  free(sessions);
  free(fifo);
  return rc;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "fill") != 0 && strcmp(argv[1], "cycle") != 0) {
    fprintf(stderr, "redis-bench: unknown command '%s'\n%s", argv[1], usage);
    return 2;
  }
  args_t a;
  int rc = peer_args_parse(argc, argv, "redis-bench", "redis", usage, &a);
  if (rc != 0) return rc == 1 ? 0 : rc;
  return strcmp(a.command, "fill") == 0 ? fill(&a) : cycle(&a);
}
