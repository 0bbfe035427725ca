/* gateway-bench: the label cycle through tally-gateway's HTTP API, for
 * comparison with the same cycle on libtally directly (tally-bench cycle).
 *
 *   gateway-bench tokens --labelers N [--prefix bench-] --out FILE
 *       makes an API token for each of PREFIX0001..N (through libtally, as
 *       the identity of $TALLY_KEY / --insecure) and writes one per line
 *   gateway-bench cycle --url http://HOST:PORT --tokens FILE [--sessions N]
 *       [--duration S] [--warmup S] [--wait-ms N] [--think-ms A[-B]]
 *       [--project P] [--watch-pid PID] [--json FILE]
 *
 * A session is one labeler with its own keep-alive HTTP/1.1 connection and
 * API token, doing one task at a time: POST /api/v1/lease, think, POST
 * /api/v1/submit, again. All sessions run on one libuv loop (one thread).
 * A cycle is a lease that brought a task and a submit that succeeded;
 * throughput counts the cycles completed in the window after the warm-up.
 * Latency is per request, from the write to the last byte of the answer.
 * --watch-pid records the CPU time the gateway process used in the window
 * (and the bench's own), to give the gateway's CPU cost per cycle. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "latency.h"
#include "tally.h"

#define RESPONSE_MAX (64 * 1024)

typedef struct bench bench_t;

typedef struct {
  bench_t *b;
  int index;
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t think;
  char token[TALLY_TOKEN_MAX];
  char out[1024];
  char in[RESPONSE_MAX];
  size_t in_len;
  int submitting;
  uint64_t sent_ns;
  char lease[64], label[64];
} session_t;

struct bench {
  uv_loop_t *loop;
  struct sockaddr_in addr;
  char host[64];
  const char *project;
  int wait_ms, think_min, think_max;
  uint64_t window_start_ns, window_end_ns;
  uint64_t cycles, empty_leases, errors, requests;
  latency_log_t lease_latency, submit_latency;
  session_t *sessions;
  int sessions_count;
  uv_timer_t stop, window;
  uint64_t rng;
  int watch_pid;
  double watch_cpu_start, watch_cpu_s, self_cpu_start, self_cpu_s;
};

/* CPU seconds (user + system) of process pid (0: this one); -1 unknown. */
static double cpu_seconds(int pid) {
  if (pid == 0) {
    uv_rusage_t u;
    if (uv_getrusage(&u) != 0) return -1;
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
  }
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = '\0';
  const char *p = strrchr(line, ')');
  unsigned long utime = 0, stime = 0;
  /* fields after the command: state is 3rd, utime 14th, stime 15th */
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void on_window(uv_timer_t *t) {
  bench_t *b = t->data;
  b->watch_cpu_start = b->watch_pid ? cpu_seconds(b->watch_pid) : -1;
  b->self_cpu_start = cpu_seconds(0);
}

static uint64_t next_random(bench_t *b) {
  b->rng ^= b->rng << 13;
  b->rng ^= b->rng >> 7;
  b->rng ^= b->rng << 17;
  return b->rng;
}

static void on_written(uv_write_t *w, int status) {
  session_t *s = w->data;
  if (status != 0) s->b->errors++;
}

static void send_request(session_t *s, const char *path, const char *body) {
  int n = snprintf(s->out, sizeof s->out,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   path, s->b->host, s->token, strlen(body), body);
  uv_buf_t buf = uv_buf_init(s->out, (unsigned)n);
  s->in_len = 0;
  s->sent_ns = latency_now_ns();
  s->b->requests++;
  s->write.data = s;
  uv_write(&s->write, (uv_stream_t *)&s->tcp, &buf, 1, on_written);
}

static void send_lease(session_t *s) {
  char body[256];
  snprintf(body, sizeof body, "{\"project\":\"%s\",\"stage\":\"label\",\"wait_ms\":%d}", s->b->project,
           s->b->wait_ms);
  s->submitting = 0;
  send_request(s, "/api/v1/lease", body);
}

static void send_submit(session_t *s) {
  char body[256];
  snprintf(body, sizeof body, "{\"lease\":\"%s\",\"label\":\"%s\",\"handling_ms\":1000}", s->lease, s->label);
  s->submitting = 1;
  send_request(s, "/api/v1/submit", body);
}

static void on_think(uv_timer_t *t) { send_submit(t->data); }

static int in_window(const bench_t *b, uint64_t now) { return now >= b->window_start_ns && now < b->window_end_ns; }

/* A whole answer is in s->in: act on it. */
static void on_answer(session_t *s, int status, const char *body, size_t len) {
  bench_t *b = s->b;
  uint64_t now = latency_now_ns();
  if (in_window(b, now)) latency_log_add(s->submitting ? &b->submit_latency : &b->lease_latency, now - s->sent_ns);
  if (status != 200) {
    b->errors++;
    if (b->errors <= 5) fprintf(stderr, "gateway-bench: HTTP %d: %.*s\n", status, (int)len, body);
    send_lease(s);
    return;
  }
  if (s->submitting) {
    if (in_window(b, now)) b->cycles++;
    send_lease(s);
    return;
  }
  json_t *doc = json_loadb(body, len, 0, NULL);
  json_t *task = json_object_get(doc, "task");
  if (!json_is_object(task)) {
    b->empty_leases++;
    json_decref(doc);
    send_lease(s);
    return;
  }
  snprintf(s->lease, sizeof s->lease, "%s", json_string_value(json_object_get(task, "lease")));
  snprintf(s->label, sizeof s->label, "%s", json_string_value(json_array_get(json_object_get(task, "labels"), 0)));
  json_decref(doc);
  int think = b->think_min;
  if (b->think_max > b->think_min) think += (int)(next_random(b) % (uint64_t)(b->think_max - b->think_min + 1));
  if (think > 0) uv_timer_start(&s->think, on_think, (uint64_t)think, 0);
  else send_submit(s);
}

/* Parses what arrived; calls on_answer once the body is complete. */
static void parse_in(session_t *s) {
  s->in[s->in_len < RESPONSE_MAX ? s->in_len : RESPONSE_MAX - 1] = '\0';
  char *end = strstr(s->in, "\r\n\r\n");
  if (end == NULL) return;
  int status = atoi(s->in + 9);
  size_t length = 0;
  for (char *p = s->in; p < end; p = strstr(p, "\r\n") + 2) {
    if (strncasecmp(p, "content-length:", 15) == 0) length = strtoul(p + 15, NULL, 10);
    if (strstr(p, "\r\n") == NULL) break;
  }
  size_t head = (size_t)(end + 4 - s->in);
  if (s->in_len < head + length) return;
  on_answer(s, status, end + 4, length);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  session_t *s = h->data;
  buf->base = s->in + s->in_len;
  buf->len = RESPONSE_MAX - 1 - s->in_len;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  session_t *s = stream->data;
  if (n < 0) {
    s->b->errors++;
    fprintf(stderr, "gateway-bench: session %d: connection lost: %s\n", s->index, uv_strerror((int)n));
    uv_read_stop(stream);
    return;
  }
  s->in_len += (size_t)n;
  parse_in(s);
}

static void on_connect(uv_connect_t *c, int status) {
  session_t *s = c->data;
  if (status != 0) {
    s->b->errors++;
    fprintf(stderr, "gateway-bench: connect: %s\n", uv_strerror(status));
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  send_lease(s);
}

static void on_stop(uv_timer_t *t) {
  bench_t *b = t->data;
  if (b->watch_pid && b->watch_cpu_start >= 0) b->watch_cpu_s = cpu_seconds(b->watch_pid) - b->watch_cpu_start;
  b->self_cpu_s = cpu_seconds(0) - b->self_cpu_start;
  uv_stop(t->loop);
}

static json_t *summary_json(latency_log_t *log) {
  latency_summary_t s = latency_log_summary(log);
  return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "count", (json_int_t)s.count, "p50_ms", s.p50 / 1e6, "p90_ms",
                   s.p90 / 1e6, "p99_ms", s.p99 / 1e6, "p999_ms", s.p999 / 1e6, "max_ms", s.max / 1e6, "mean_ms",
                   s.mean / 1e6);
}

static int cycle(int argc, char **argv) {
  const char *url = NULL, *tokens_file = NULL, *json_out = NULL;
  double duration = 10, warmup = 2;
  bench_t b;
  memset(&b, 0, sizeof b);
  b.project = "bench";
  b.sessions_count = 256;
  b.rng = 0x9e3779b97f4a7c15ull;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--url") == 0) url = argv[i + 1];
    else if (strcmp(argv[i], "--tokens") == 0) tokens_file = argv[i + 1];
    else if (strcmp(argv[i], "--sessions") == 0) b.sessions_count = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--duration") == 0) duration = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--warmup") == 0) warmup = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--wait-ms") == 0) b.wait_ms = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--project") == 0) b.project = argv[i + 1];
    else if (strcmp(argv[i], "--json") == 0) json_out = argv[i + 1];
    else if (strcmp(argv[i], "--watch-pid") == 0) b.watch_pid = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--think-ms") == 0) {
      if (sscanf(argv[i + 1], "%d-%d", &b.think_min, &b.think_max) == 1) b.think_max = b.think_min;
    } else {
      fprintf(stderr, "gateway-bench cycle: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int port = 0;
  if (url == NULL || tokens_file == NULL || sscanf(url, "http://%63[^:]:%d", b.host, &port) != 2 ||
      uv_ip4_addr(b.host, port, &b.addr) != 0 || b.sessions_count < 1) {
    fprintf(stderr, "gateway-bench cycle: needs --url http://IPV4:PORT and --tokens FILE\n");
    return 2;
  }
  b.sessions = calloc((size_t)b.sessions_count, sizeof *b.sessions);
  FILE *f = fopen(tokens_file, "r");
  if (f == NULL || b.sessions == NULL) {
    fprintf(stderr, "gateway-bench cycle: cannot read %s\n", tokens_file);
    return 1;
  }
  for (int i = 0; i < b.sessions_count; i++) {
    if (fgets(b.sessions[i].token, sizeof b.sessions[i].token, f) == NULL) {
      fprintf(stderr, "gateway-bench cycle: %s has fewer than %d tokens\n", tokens_file, b.sessions_count);
      return 1;
    }
    b.sessions[i].token[strcspn(b.sessions[i].token, "\r\n")] = '\0';
  }
  fclose(f);
  b.loop = uv_default_loop();
  latency_log_init(&b.lease_latency);
  latency_log_init(&b.submit_latency);
  uint64_t start = latency_now_ns();
  b.window_start_ns = start + (uint64_t)(warmup * 1e9);
  b.window_end_ns = b.window_start_ns + (uint64_t)(duration * 1e9);
  for (int i = 0; i < b.sessions_count; i++) {
    session_t *s = &b.sessions[i];
    s->b = &b;
    s->index = i;
    uv_tcp_init(b.loop, &s->tcp);
    uv_timer_init(b.loop, &s->think);
    s->tcp.data = s->think.data = s->connect.data = s;
    uv_tcp_connect(&s->connect, &s->tcp, (const struct sockaddr *)&b.addr, on_connect);
  }
  uv_timer_init(b.loop, &b.stop);
  uv_timer_init(b.loop, &b.window);
  b.stop.data = b.window.data = &b;
  uv_timer_start(&b.window, on_window, (uint64_t)(warmup * 1000), 0);
  uv_timer_start(&b.stop, on_stop, (uint64_t)((warmup + duration) * 1000), 0);
  uv_run(b.loop, UV_RUN_DEFAULT);
  json_t *rec = json_pack("{s:s,s:i,s:i,s:f,s:f,s:I,s:f,s:I,s:I,s:I,s:o,s:o}", "system", "tally-gateway",
                          "sessions", b.sessions_count, "wait_ms", b.wait_ms, "duration_s", duration,
                          "warmup_s", warmup, "cycles",
                          (json_int_t)b.cycles, "cycles_per_s", b.cycles / duration, "empty_leases",
                          (json_int_t)b.empty_leases, "errors", (json_int_t)b.errors, "requests",
                          (json_int_t)b.requests, "lease_latency", summary_json(&b.lease_latency),
                          "submit_latency", summary_json(&b.submit_latency));
  json_object_set_new(rec, "think_ms", json_pack("[i,i]", b.think_min, b.think_max));
  json_object_set_new(rec, "bench_cpu_s", json_real(b.self_cpu_s));
  if (b.watch_pid) {
    json_object_set_new(rec, "gateway_cpu_s", json_real(b.watch_cpu_s));
    json_object_set_new(rec, "gateway_cpu_us_per_cycle",
                        b.cycles ? json_real(b.watch_cpu_s * 1e6 / (double)b.cycles) : json_null());
  }
  char *text = json_dumps(rec, JSON_INDENT(2));
  if (json_out && strcmp(json_out, "-") != 0) {
    FILE *o = fopen(json_out, "w");
    if (o) {
      fputs(text, o);
      fputc('\n', o);
      fclose(o);
    }
  }
  latency_summary_t ls = latency_log_summary(&b.lease_latency);
  printf("gateway: %d sessions, %.0f cycles/s, lease p50 %.2f ms p99 %.2f ms, %llu errors, %llu empty leases\n",
         b.sessions_count, b.cycles / duration, ls.p50 / 1e6, ls.p99 / 1e6, (unsigned long long)b.errors,
         (unsigned long long)b.empty_leases);
  if (json_out && strcmp(json_out, "-") == 0) puts(text);
  free(text);
  json_decref(rec);
  /* the process exits here: the connections close with it */
  return b.errors > 0 && b.cycles == 0 ? 1 : 0;
}

static int tokens(int argc, char **argv) {
  int labelers = 0;
  const char *prefix = "bench-", *out = NULL;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--labelers") == 0) labelers = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--prefix") == 0) prefix = argv[i + 1];
    else if (strcmp(argv[i], "--out") == 0) out = argv[i + 1];
  }
  if (labelers < 1 || out == NULL) {
    fprintf(stderr, "gateway-bench tokens: needs --labelers N and --out FILE\n");
    return 2;
  }
  tally_t *t = NULL;
  const char *ep = getenv("TALLY_COORDINATOR");
  int rc = tally_open(&t, ep, 10000);
  FILE *f = rc == 0 ? fopen(out, "w") : NULL;
  if (f == NULL) {
    fprintf(stderr, "gateway-bench tokens: cannot open the cluster or %s\n", out);
    return 1;
  }
  for (int i = 1; i <= labelers && rc == 0; i++) {
    char id[64], token[TALLY_TOKEN_MAX];
    snprintf(id, sizeof id, "%s%04d", prefix, i);
    rc = tally_token_create(t, id, "gateway-bench", 1, token, sizeof token);
    if (rc == 0) fprintf(f, "%s\n", token);
    else fprintf(stderr, "gateway-bench tokens: %s: %s\n", id, tally_last_error(t));
  }
  fclose(f);
  tally_close(&t);
  return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "cycle") == 0) return cycle(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "tokens") == 0) return tokens(argc, argv);
  fprintf(stderr, "usage: gateway-bench tokens|cycle ... (see bench/gateway_bench.c)\n");
  return argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) ? 0 : 2;
}
