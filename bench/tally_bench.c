/* tally-bench: the load generator for Tally (docs/PERFORMANCE.md).
 *
 *   tally-bench setup       project "bench" and labelers bench-0001..N
 *   tally-bench ingest      items in batches from several threads
 *   tally-bench cycle       N labeler sessions: lease, (think), submit, ...
 *   tally-bench lease-probe time until a lease succeeds (restart scenario)
 *   tally-bench memory      queued items (worker status) and RSS of --watch'ed
 *                           processes (memory scenario)
 *   tally-bench cycle-audit the label cycle plus auditor and lead sessions
 *   tally-bench report      latency of tally_report_quality() by all, labeler, market
 *
 * Every measuring subcommand prints a table and, with --json FILE, writes a
 * run record (run_record.h) for bench-report. bench/run drives them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_project.h"
#include "bench_transport.h"
#include "latency.h"
#include "op_stats.h"
#include "proc_sample.h"
#include "run_record.h"
#include "tally.h"
#include "tally_cycle.h"
#include "tally_ingest_load.h"

static const char usage[] =
    "usage: tally-bench COMMAND --coordinator ENDPOINT [options]\n"
    "\n"
    "commands:\n"
    "  setup        create project 'bench' and labelers bench-0001..N (existing ones are kept)\n"
    "  ingest       ingest --items N items in batches of --batch from --threads threads\n"
    "  cycle        run --sessions labeler sessions over --connections connections\n"
    "  lease-probe  lease (and release) one task, retrying until it works; prints the time\n"
    "               since --since-ns (wall clock ns, as `date +%s%N`)\n"
    "  memory       queued items of the cluster and RSS / peak RSS of each --watch process\n"
    "  cycle-audit  cycle plus --auditors sessions (AUDIT tasks) and --leads sessions (verdicts)\n"
    "  report       --calls quality reports per grouping (all, labeler, market): latency\n"
    "\n"
    "options (defaults in brackets):\n"
    "  --coordinator EP     coordinator endpoint [$TALLY_COORDINATOR or tcp://127.0.0.1:7400]\n"
    "  --key FILE           CURVE key pair of a gateway (or of the one person acting) [$TALLY_KEY]\n"
    "  --coordinator-key K  the coordinator's public key or .pub file [$TALLY_COORDINATOR_KEY]\n"
    "  --insecure           plain TCP, no key: only for a cluster started with --insecure\n"
    "                       (one of a key or --insecure is required; records say which)\n"
    "  --project NAME       [bench]\n"
    "  --json FILE          write the run record to FILE ('-': stdout)\n"
    "  --scenario NAME      scenario name recorded in the run record [the command]\n"
    "  --timeout-ms N       reply timeout of the client handle [10000]\n"
    "  --watch NAME=PID     record the CPU time of PID during the run (repeatable)\n"
    "  --meta KEY=VALUE     add KEY to the run record's \"meta\" object (repeatable)\n"
    "setup:\n"
    "  --labelers N         [1000]\n"
    "  --lease-seconds N    lease length of the project [300]\n"
    "  --audit-rate R       audit rate of the project, 0..1 [0]\n"
    "  --auditors N         also auditors bench-aud-0001..N [0]\n"
    "  --leads N            also leads bench-lead-0001..N [0]\n"
    "ingest:\n"
    "  --items N            [100000]    --first N     index of the first item [0]\n"
    "  --prefix TEXT        item id prefix [i]\n"
    "  --batch N            items per call [1000]    --threads N   [4]\n"
    "  --content-bytes N    content of each item [100]\n"
    "cycle:\n"
    "  --sessions N         [256]       --connections N  [4]\n"
    "  --duration S         measurement window in seconds [10]\n"
    "  --warmup S           unmeasured start [1]\n"
    "  --wait-ms N          long-poll of each lease [0]\n"
    "  --think-ms A[-B]     a session holds each task A..B ms before submitting [0]\n"
    "  --contexts shared|each  the connections share one ZeroMQ context (one I/O\n"
    "                       thread, as a gateway process) or open one each [shared]\n"
    "cycle-audit (and cycle):\n"
    "  --auditors N         auditor sessions [cycle-audit: 1 per 10 sessions; cycle: 0]\n"
    "  --leads N            lead sessions [cycle-audit: 3; cycle: 0]\n"
    "  --disagree-pct N     % of items the auditors label differently [cycle-audit: 20; cycle: 0]\n"
    "                       (labelers label by a hash of the item id, so auditors know it)\n"
    "report:\n"
    "  --calls N            reports per grouping [20]\n"
    "lease-probe:\n"
    "  --labeler ID         [bench-0001]\n"
    "  --since-ns N         start of the interval [now]\n"
    "  --deadline S         give up after S seconds [60]\n";

typedef struct {
  const char *command;
  const char *coordinator, *project, *json, *scenario, *prefix, *labeler;
  const char *key_file, *coordinator_key;
  int insecure;
  bench_transport_t transport; /* chosen once the options are read */
  int timeout_ms, labelers, lease_seconds, batch, threads, content_bytes;
  int sessions, connections, wait_ms, think_min_ms, think_max_ms;
  int auditors, leads, disagree_pct, calls; /* -1: the command's default */
  int context_per_connection;
  double audit_rate;
  double duration_s, warmup_s, deadline_s;
  uint64_t items, first, since_ns;
  proc_watch_t watch;
  json_t *meta;
} bench_args_t;

static int parse_long(const char *name, const char *text, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || *text == '\0' || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "tally-bench: --%s must be an integer in %ld..%ld, got '%s'\n", name, min, max,
            text);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_int(const char *name, const char *text, long min, long max, int *out) {
  long v;
  if (parse_long(name, text, min, max, &v) < 0) return -1;
  *out = (int)v;
  return 0;
}

static int parse_u64(const char *name, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || *text == '\0' || *end != '\0' || text[0] == '-') {
    fprintf(stderr, "tally-bench: --%s must be a non-negative integer, got '%s'\n", name, text);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_seconds(const char *name, const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || *text == '\0' || *end != '\0' || !(v >= 0) || v > 86400) {
    fprintf(stderr, "tally-bench: --%s must be seconds in 0..86400, got '%s'\n", name, text);
    return -1;
  }
  *out = v;
  return 0;
}

/* "A" or "A-B" milliseconds. */
static int parse_think(const char *text, int *min, int *max) {
  char a[32], b[32];
  const char *dash = strchr(text, '-');
  if (dash == NULL) {
    if (parse_int("think-ms", text, 0, 600000, min) < 0) return -1;
    *max = *min;
    return 0;
  }
  snprintf(a, sizeof a, "%.*s", (int)(dash - text), text);
  snprintf(b, sizeof b, "%s", dash + 1);
  if (parse_int("think-ms", a, 0, 600000, min) < 0 || parse_int("think-ms", b, 0, 600000, max) < 0)
    return -1;
  if (*max < *min) {
    fprintf(stderr, "tally-bench: --think-ms A-B needs A <= B\n");
    return -1;
  }
  return 0;
}

enum {
  OPT_COORDINATOR = 1000, OPT_PROJECT, OPT_JSON, OPT_SCENARIO, OPT_TIMEOUT, OPT_WATCH,
  OPT_LABELERS, OPT_LEASE_SECONDS, OPT_ITEMS, OPT_FIRST, OPT_PREFIX, OPT_BATCH, OPT_THREADS,
  OPT_CONTENT, OPT_SESSIONS, OPT_CONNECTIONS, OPT_DURATION, OPT_WARMUP, OPT_WAIT, OPT_THINK,
  OPT_LABELER, OPT_SINCE, OPT_DEADLINE, OPT_META, OPT_AUDIT_RATE, OPT_AUDITORS, OPT_LEADS,
  OPT_DISAGREE, OPT_CALLS, OPT_CONTEXTS, OPT_KEY, OPT_COORDINATOR_KEY, OPT_INSECURE
};

/* "KEY=VALUE": VALUE is stored as a number when it is one. */
static int add_meta(json_t *meta, const char *spec) {
  const char *eq = strchr(spec, '=');
  if (eq == NULL || eq == spec) {
    fprintf(stderr, "tally-bench: --meta wants KEY=VALUE, got '%s'\n", spec);
    return -1;
  }
  char key[64];
  snprintf(key, sizeof key, "%.*s", (int)(eq - spec), spec);
  char *end;
  double v = strtod(eq + 1, &end);
  json_t *value = eq[1] != '\0' && *end == '\0' ? json_real(v) : json_string(eq + 1);
  if (value != NULL && json_is_real(value) && v == (double)(json_int_t)v) {
    json_decref(value);
    value = json_integer((json_int_t)v);
  }
  return json_object_set_new(meta, key, value) == 0 ? 0 : -1;
}

static int apply_option(bench_args_t *a, int opt, const char *v) {
  switch (opt) {
    case OPT_COORDINATOR: a->coordinator = v; return 0;
    case OPT_KEY: a->key_file = v; return 0;
    case OPT_COORDINATOR_KEY: a->coordinator_key = v; return 0;
    case OPT_INSECURE: a->insecure = 1; return 0;
    case OPT_PROJECT: a->project = v; return 0;
    case OPT_JSON: a->json = v; return 0;
    case OPT_SCENARIO: a->scenario = v; return 0;
    case OPT_PREFIX: a->prefix = v; return 0;
    case OPT_LABELER: a->labeler = v; return 0;
    case OPT_WATCH: return proc_watch_add(&a->watch, v);
    case OPT_META: return add_meta(a->meta, v);
    case OPT_TIMEOUT: return parse_int("timeout-ms", v, 1, 600000, &a->timeout_ms);
    case OPT_LABELERS: return parse_int("labelers", v, 1, 9999, &a->labelers);
    case OPT_LEASE_SECONDS: return parse_int("lease-seconds", v, 1, 86400, &a->lease_seconds);
    case OPT_ITEMS: return parse_u64("items", v, &a->items);
    case OPT_FIRST: return parse_u64("first", v, &a->first);
    case OPT_BATCH: return parse_int("batch", v, 1, 10000, &a->batch);
    case OPT_THREADS: return parse_int("threads", v, 1, 256, &a->threads);
    case OPT_CONTENT: return parse_int("content-bytes", v, 0, 1 << 20, &a->content_bytes);
    case OPT_SESSIONS: return parse_int("sessions", v, 1, 9999, &a->sessions);
    case OPT_CONNECTIONS: return parse_int("connections", v, 1, 256, &a->connections);
    case OPT_DURATION: return parse_seconds("duration", v, &a->duration_s);
    case OPT_WARMUP: return parse_seconds("warmup", v, &a->warmup_s);
    case OPT_DEADLINE: return parse_seconds("deadline", v, &a->deadline_s);
    case OPT_WAIT: return parse_int("wait-ms", v, 0, TALLY_MAX_WAIT_MS, &a->wait_ms);
    case OPT_THINK: return parse_think(v, &a->think_min_ms, &a->think_max_ms);
    case OPT_SINCE: return parse_u64("since-ns", v, &a->since_ns);
    case OPT_AUDITORS: return parse_int("auditors", v, 0, 9999, &a->auditors);
    case OPT_LEADS: return parse_int("leads", v, 0, 9999, &a->leads);
    case OPT_DISAGREE: return parse_int("disagree-pct", v, 0, 100, &a->disagree_pct);
    case OPT_CALLS: return parse_int("calls", v, 1, 100000, &a->calls);
    case OPT_CONTEXTS:
      if (strcmp(v, "shared") == 0 || strcmp(v, "each") == 0) {
        a->context_per_connection = strcmp(v, "each") == 0;
        return 0;
      }
      fprintf(stderr, "tally-bench: --contexts must be 'shared' or 'each', got '%s'\n", v);
      return -1;
    case OPT_AUDIT_RATE: {
      char *end;
      double r = strtod(v, &end);
      if (*v == '\0' || *end != '\0' || !(r >= 0 && r <= 1)) {
        fprintf(stderr, "tally-bench: --audit-rate must be in 0..1, got '%s'\n", v);
        return -1;
      }
      a->audit_rate = r;
      return 0;
    }
    default: return -1;
  }
}

static int parse_args(int argc, char **argv, bench_args_t *a) {
  static const struct option options[] = {
      {"coordinator", required_argument, 0, OPT_COORDINATOR},
      {"project", required_argument, 0, OPT_PROJECT},
      {"json", required_argument, 0, OPT_JSON},
      {"scenario", required_argument, 0, OPT_SCENARIO},
      {"timeout-ms", required_argument, 0, OPT_TIMEOUT},
      {"watch", required_argument, 0, OPT_WATCH},
      {"labelers", required_argument, 0, OPT_LABELERS},
      {"lease-seconds", required_argument, 0, OPT_LEASE_SECONDS},
      {"items", required_argument, 0, OPT_ITEMS},
      {"first", required_argument, 0, OPT_FIRST},
      {"prefix", required_argument, 0, OPT_PREFIX},
      {"batch", required_argument, 0, OPT_BATCH},
      {"threads", required_argument, 0, OPT_THREADS},
      {"content-bytes", required_argument, 0, OPT_CONTENT},
      {"sessions", required_argument, 0, OPT_SESSIONS},
      {"connections", required_argument, 0, OPT_CONNECTIONS},
      {"duration", required_argument, 0, OPT_DURATION},
      {"warmup", required_argument, 0, OPT_WARMUP},
      {"wait-ms", required_argument, 0, OPT_WAIT},
      {"think-ms", required_argument, 0, OPT_THINK},
      {"labeler", required_argument, 0, OPT_LABELER},
      {"since-ns", required_argument, 0, OPT_SINCE},
      {"deadline", required_argument, 0, OPT_DEADLINE},
      {"meta", required_argument, 0, OPT_META},
      {"audit-rate", required_argument, 0, OPT_AUDIT_RATE},
      {"auditors", required_argument, 0, OPT_AUDITORS},
      {"leads", required_argument, 0, OPT_LEADS},
      {"disagree-pct", required_argument, 0, OPT_DISAGREE},
      {"calls", required_argument, 0, OPT_CALLS},
      {"contexts", required_argument, 0, OPT_CONTEXTS},
      {"key", required_argument, 0, OPT_KEY},
      {"coordinator-key", required_argument, 0, OPT_COORDINATOR_KEY},
      {"insecure", no_argument, 0, OPT_INSECURE},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  memset(a, 0, sizeof *a);
  a->meta = json_object();
  a->coordinator = getenv("TALLY_COORDINATOR");
  a->project = BENCH_PROJECT_NAME;
  a->prefix = "i";
  a->labeler = BENCH_LABELER_PREFIX "0001";
  a->timeout_ms = 10000;
  a->labelers = 1000;
  a->lease_seconds = 300;
  a->items = 100000;
  a->batch = 1000;
  a->threads = 4;
  a->content_bytes = 100;
  a->sessions = 256;
  a->connections = 4;
  a->duration_s = 10;
  a->warmup_s = 1;
  a->deadline_s = 60;
  a->auditors = a->leads = a->disagree_pct = -1;
  a->calls = 20;
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 1;
  }
  a->command = argv[1];
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
    if (c == 'h') {
      fputs(usage, stdout);
      return 1;
    }
    if (c == '?' || apply_option(a, c, optarg) < 0) return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "tally-bench: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (a->scenario == NULL) a->scenario = a->command;
  return 0;
}

/* ------------------------------------------------------------ setup */

static int setup_project(tally_t *t, const bench_args_t *a) {
  tally_project_t spec;
  memset(&spec, 0, sizeof spec);
  spec.name = a->project;
  spec.labels = (const char **)bench_labels;
  spec.label_count = BENCH_LABEL_COUNT;
  spec.markets = (const char **)bench_markets;
  spec.market_count = BENCH_MARKET_COUNT;
  spec.lease_seconds = (uint32_t)a->lease_seconds;
  spec.overlap = 1;
  spec.audit_rate = a->audit_rate;
  int rc = tally_project_create(t, &spec, NULL);
  if (rc < 0 && rc != TALLY_E_ALREADY_EXISTS) {
    fprintf(stderr, "tally-bench: cannot create project %s: %s\n", a->project, tally_last_error(t));
    return -1;
  }
  return 0;
}

/* Waits until the workers know the last labeler (the configuration reaches
 * them with their heartbeats): a lease for it stops failing. */
static int setup_wait_config(tally_t *t, const bench_args_t *a, const char *labeler) {
  uint64_t deadline = latency_now_ns() + 20000000000ull;
  for (;;) {
    tally_task_t *task = NULL;
    int rc = tally_lease(t, labeler, a->project, TALLY_STAGE_LABEL, 0, &task);
    if (rc == 0) {
      if (task) tally_release(t, labeler, task->slot, task->lease_id);
      tally_free(task);
      return 0;
    }
    if (latency_now_ns() > deadline) {
      fprintf(stderr, "tally-bench: workers still refuse %s after 20 s: %s\n", labeler,
              tally_last_error(t));
      return -1;
    }
    struct timespec ts = {0, 100000000L};
    nanosleep(&ts, NULL);
  }
}

static int command_setup(bench_args_t *a) {
  if (a->auditors < 0) a->auditors = 0;
  if (a->leads < 0) a->leads = 0;
  tally_t *t = NULL;
  if (bench_transport_open(&a->transport, &t, a->coordinator, a->timeout_ms) < 0) return 1;
  int rc = setup_project(t, a);
  int created = 0;
  char last[32] = "";
  /* Auditors and leads first: the last labeler tells when the workers
   * have the configuration. */
  for (int i = 1; rc == 0 && i <= a->auditors + a->leads; i++) {
    int lead = i > a->auditors;
    snprintf(last, sizeof last, "%s%04d", lead ? BENCH_LEAD_PREFIX : BENCH_AUDITOR_PREFIX,
             lead ? i - a->auditors : i);
    tally_labeler_t spec = {last, lead ? TALLY_ROLE_LEAD : TALLY_ROLE_LABELER | TALLY_ROLE_AUDITOR,
                            (const char **)bench_markets, BENCH_MARKET_COUNT, NULL};
    int r = tally_labeler_add(t, &spec, NULL);
    if (r == 0) created++;
    if (r < 0 && r != TALLY_E_ALREADY_EXISTS) {
      fprintf(stderr, "tally-bench: cannot add %s: %s\n", last, tally_last_error(t));
      rc = -1;
    }
  }
  for (int i = 1; rc == 0 && i <= a->labelers; i++) {
    snprintf(last, sizeof last, "%s%04d", BENCH_LABELER_PREFIX, i);
    tally_labeler_t spec = {last, TALLY_ROLE_LABELER, (const char **)bench_markets,
                            BENCH_MARKET_COUNT, NULL};
    int r = tally_labeler_add(t, &spec, NULL);
    if (r == 0) created++;
    if (r < 0 && r != TALLY_E_ALREADY_EXISTS) {
      fprintf(stderr, "tally-bench: cannot add labeler %s: %s\n", last, tally_last_error(t));
      rc = -1;
    }
  }
  if (rc == 0) rc = setup_wait_config(t, a, last);
  if (rc == 0)
    printf("tally-bench: project %s ready (audit rate %.2f); %d people created, %d labelers, %d "
           "auditors, %d leads\n",
           a->project, a->audit_rate, created, a->labelers, a->auditors, a->leads);
  tally_close(&t);
  return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ measuring */

static int finish(json_t *record, const bench_args_t *a) {
  json_object_set(record, "meta", a->meta);
  int rc = run_record_write(record, a->json);
  json_decref(record);
  return rc == 0 ? 0 : 1;
}

static int command_ingest(bench_args_t *a) {
  tally_ingest_options_t o = {a->coordinator, &a->transport, a->project, a->scenario, a->prefix, a->first,
                              a->items, a->batch, a->threads, a->content_bytes, a->timeout_ms,
                              a->watch.count ? &a->watch : NULL};
  json_t *record = NULL;
  if (tally_ingest_run(&o, &record) < 0) return 1;
  return finish(record, a);
}

static int command_cycle(bench_args_t *a) {
  int audit = strcmp(a->command, "cycle-audit") == 0;
  int auditors = a->auditors >= 0 ? a->auditors : audit ? (a->sessions + 9) / 10 : 0;
  int leads = a->leads >= 0 ? a->leads : audit ? 3 : 0;
  int disagree = a->disagree_pct >= 0 ? a->disagree_pct : audit ? 20 : 0;
  tally_cycle_options_t o = {a->coordinator, &a->transport, a->project, BENCH_LABELER_PREFIX, a->scenario,
                             a->connections, a->sessions, a->wait_ms, a->timeout_ms,
                             a->think_min_ms, a->think_max_ms, a->duration_s, a->warmup_s,
                             a->watch.count ? &a->watch : NULL, auditors, BENCH_AUDITOR_PREFIX,
                             leads, BENCH_LEAD_PREFIX, disagree, a->context_per_connection};
  json_t *record = NULL;
  if (tally_cycle_run(&o, &record) < 0) return 1;
  return finish(record, a);
}

static int command_lease_probe(const bench_args_t *a) {
  uint64_t since = a->since_ns ? a->since_ns : latency_wall_ns();
  uint64_t deadline = latency_now_ns() + (uint64_t)(a->deadline_s * 1e9);
  tally_t *t = NULL;
  if (bench_transport_open(&a->transport, &t, a->coordinator, a->timeout_ms) < 0) return 1;
  int attempts = 0, rc = 0;
  char first_error[256] = "";
  tally_task_t *task = NULL;
  for (;;) {
    attempts++;
    rc = tally_lease(t, a->labeler, a->project, TALLY_STAGE_LABEL, 0, &task);
    if (rc == 0 && task != NULL) break;
    if (rc < 0 && first_error[0] == '\0')
      snprintf(first_error, sizeof first_error, "%s: %s", tally_error_name(rc), tally_last_error(t));
    if (latency_now_ns() > deadline) break;
    tally_map_t *map = NULL;
    if (rc < 0 && tally_cluster_map(t, &map) == 0) tally_free(map);
    struct timespec ts = {0, 10000000L};
    nanosleep(&ts, NULL);
  }
  uint64_t at = latency_wall_ns();
  double seconds = (double)(at - since) / 1e9;
  int ok = task != NULL;
  if (ok) tally_release(t, a->labeler, task->slot, task->lease_id);
  tally_free(task);
  tally_close(&t);
  if (ok)
    printf("tally-bench: lease succeeded %.3f s after the start mark (%d attempts)\n", seconds,
           attempts);
  else
    fprintf(stderr, "tally-bench: no lease within %.0f s (%d attempts; first error: %s)\n",
            a->deadline_s, attempts, first_error[0] ? first_error : "none, queues empty");
  json_t *record = run_record_new("tally-bench", "tally", a->scenario, "lease-probe", a->transport.name);
  if (record == NULL) return 1;
  json_object_set_new(record, "config", json_pack("{s:s, s:s, s:f}", "project", a->project,
                                                  "labeler", a->labeler, "deadline_s",
                                                  a->deadline_s));
  json_object_set_new(record, "ok", json_boolean(ok));
  json_object_set_new(record, "seconds", ok ? json_real(seconds) : json_null());
  json_object_set_new(record, "attempts", json_integer(attempts));
  json_object_set_new(record, "first_error", json_string(first_error));
  int wrote = finish(record, a);
  return ok ? wrote : 1;
}

/* Queued items (the workers' status) and the memory of each watched
 * process: the memory scenario. */
static int command_memory(const bench_args_t *a) {
  tally_t *t = NULL;
  tally_status_t *status = NULL;
  if (bench_transport_open(&a->transport, &t, a->coordinator, a->timeout_ms) < 0) return 1;
  if (tally_status(t, a->project, &status) < 0) {
    fprintf(stderr, "tally-bench: status failed: %s\n", tally_last_error(t));
    tally_close(&t);
    return 1;
  }
  json_t *record = run_record_new("tally-bench", "tally", a->scenario, "memory", a->transport.name);
  if (record == NULL) return 1;
  json_t *processes = json_object();
  json_object_set_new(record, "queued", json_integer((json_int_t)status->total.queued));
  json_object_set_new(record, "items", json_integer((json_int_t)status->total.items));
  json_object_set_new(record, "workers", json_integer((json_int_t)status->worker_count));
  printf("tally memory: %llu items, %llu queued on %zu worker(s)\n",
         (unsigned long long)status->total.items, (unsigned long long)status->total.queued,
         status->worker_count);
  long max_rss = -1;
  for (int i = 0; i < a->watch.count; i++) {
    long rss = -1, hwm = -1;
    proc_memory_kb(a->watch.pids[i], &rss, &hwm);
    printf("  %-16s RSS %8.1f MB   peak %8.1f MB\n", a->watch.names[i], rss / 1024.0, hwm / 1024.0);
    json_object_set_new(processes, a->watch.names[i],
                        json_pack("{s:i, s:f, s:f}", "pid", (int)a->watch.pids[i], "rss_mb",
                                  rss / 1024.0, "peak_rss_mb", hwm / 1024.0));
    if (rss > max_rss) max_rss = rss;
  }
  json_object_set_new(record, "processes", processes);
  json_object_set_new(record, "rss_mb", max_rss >= 0 ? json_real(max_rss / 1024.0) : json_null());
  tally_free(status);
  tally_close(&t);
  return finish(record, a);
}

/* The report scenario: --calls quality reports per grouping (everything,
 * by labeler, by market), one at a time, each timed from the call to its
 * return (the coordinator asks every worker and merges). The headline is
 * the slowest grouping's p99. */
static int command_report(const bench_args_t *a) {
  static const tally_report_by_t bys[] = {TALLY_REPORT_BY_NONE, TALLY_REPORT_BY_LABELER,
                                          TALLY_REPORT_BY_MARKET};
  static const char *const names[] = {"report_all", "report_by_labeler", "report_by_market"};
  tally_t *t = NULL;
  if (bench_transport_open(&a->transport, &t, a->coordinator, a->timeout_ms) < 0) return 1;
  json_t *record = run_record_new("tally-bench", "tally", a->scenario, "report", a->transport.name);
  if (record == NULL) {
    tally_close(&t);
    return 1;
  }
  json_object_set_new(record, "config", json_pack("{s:s, s:i}", "project", a->project, "calls",
                                                  a->calls));
  json_t *rows = json_object();
  uint64_t judgments = 0, labels = 0;
  double worst_p99 = 0;
  int rc = 0;
  printf("tally %s: %d quality reports per grouping, one at a time\n", a->scenario, a->calls);
  op_stats_print_header(stdout);
  for (size_t g = 0; g < sizeof bys / sizeof bys[0] && rc == 0; g++) {
    op_stats_t op;
    op_stats_init(&op, names[g]);
    tally_report_query_t q;
    memset(&q, 0, sizeof q);
    q.by = bys[g];
    size_t row_count = 0;
    uint64_t began = latency_now_ns();
    for (int i = 0; i < a->calls; i++) {
      tally_report_t *r = NULL;
      uint64_t t0 = latency_now_ns();
      int x = tally_report_quality(t, a->project, &q, &r);
      uint64_t ns = latency_now_ns() - t0;
      if (x < 0) {
        op_stats_outcome(&op, tally_error_name(x), tally_last_error(t));
        fprintf(stderr, "tally-bench: report (%s) failed: %s\n", names[g], tally_last_error(t));
        rc = -1;
      } else {
        op_stats_ok(&op, ns);
        row_count = r->row_count;
        judgments = r->total.audits;
        labels = r->total.labels;
        if (r->workers_failed > 0) op_stats_outcome(&op, "WORKERS_FAILED", "a worker missed");
      }
      tally_free(r);
      if (rc < 0) break;
    }
    double span_s = (double)(latency_now_ns() - began) / 1e9;
    op_stats_print(stdout, &op, span_s);
    json_t *j = op_stats_json(&op, span_s);
    double p99 = json_number_value(json_object_get(json_object_get(j, "latency_ms"), "p99"));
    if (p99 > worst_p99) worst_p99 = p99;
    json_object_set_new(run_record_ops(record), names[g], j);
    json_object_set_new(rows, names[g], json_integer((json_int_t)row_count));
    op_stats_reset(&op);
  }
  printf("  over %llu judgments (closed audits), %llu labels; rows: all %lld, by labeler %lld, by "
         "market %lld\n",
         (unsigned long long)judgments, (unsigned long long)labels,
         (long long)json_integer_value(json_object_get(rows, "report_all")),
         (long long)json_integer_value(json_object_get(rows, "report_by_labeler")),
         (long long)json_integer_value(json_object_get(rows, "report_by_market")));
  json_object_set_new(record, "judgments", json_integer((json_int_t)judgments));
  json_object_set_new(record, "labels", json_integer((json_int_t)labels));
  json_object_set_new(record, "rows", rows);
  json_object_set_new(record, "latency_ms", json_real(worst_p99));
  json_object_set_new(record, "unit", json_string("ms, p99 of the slowest grouping"));
  tally_close(&t);
  if (rc < 0) {
    json_decref(record);
    return 1;
  }
  return finish(record, a);
}

static int run_command(bench_args_t *a) {
  static const char *const commands[] = {"setup", "ingest", "cycle", "cycle-audit",
                                         "report", "lease-probe", "memory"};
  size_t k = 0;
  while (k < sizeof commands / sizeof commands[0] && strcmp(a->command, commands[k]) != 0) k++;
  if (k == sizeof commands / sizeof commands[0]) {
    fprintf(stderr, "tally-bench: unknown command '%s'\n%s", a->command, usage);
    return 2;
  }
  if (a->coordinator == NULL) a->coordinator = TALLY_DEFAULT_COORDINATOR;
  if (bench_transport_choose(&a->transport, a->insecure, a->key_file, a->coordinator_key) < 0)
    return 2;
  if (strcmp(a->command, "setup") == 0) return command_setup(a);
  if (strcmp(a->command, "ingest") == 0) return command_ingest(a);
  if (strcmp(a->command, "cycle") == 0 || strcmp(a->command, "cycle-audit") == 0)
    return command_cycle(a);
  if (strcmp(a->command, "report") == 0) return command_report(a);
  if (strcmp(a->command, "lease-probe") == 0) return command_lease_probe(a);
  return command_memory(a);
}

int main(int argc, char **argv) {
  bench_args_t a;
  int rc = parse_args(argc, argv, &a);
  if (rc == 0) rc = run_command(&a);
  else if (rc == 1) rc = 0; /* --help */
  json_decref(a.meta);
  return rc;
}
