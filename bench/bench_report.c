/* bench-report: turns a directory of run records (run_record.h) into the
 * benchmark's result: the median of each (scenario, system, phase, variant,
 * transport) over its runs, Tally's ratio to each peer, what CURVE costs
 * against plain TCP where both ran, the verdict on each performance target,
 * a table on stdout and one JSON result file (docs/PERFORMANCE.md, "Result
 * file").
 *
 *   bench-report --runs DIR --out FILE [--command TEXT] [--quick]
 *                [--peer-version TEXT]
 */
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "run_record.h"

/* Performance targets (the issue "benchmarks and performance targets"). */
#define TARGET_CYCLE_RATIO 2.0        /* x beanstalkd without binlog */
#define TARGET_LEASE_P99_MS 5.0       /* with 1,000 sessions */
#define TARGET_SESSIONS 1000
#define TARGET_RSS_MB 300.0           /* with 10M queued items */
#define TARGET_RSS_ITEMS 10000000.0
#define TARGET_RESTART_S 5.0          /* with 1M queued items */
#define TARGET_RESTART_ITEMS 1000000.0
#define TARGET_REPORT_MS 100.0        /* over 10M judgments */
#define TARGET_REPORT_JUDGMENTS 10000000.0
#define TARGET_CURVE_COST_PCT 15.0    /* issue 15: CURVE against --insecure */

typedef struct {
  char key[256];
  const char *scenario, *system, *phase, *variant;
  const char *transport; /* "curve", "tcp", "none"; "" in records older than the field */
  json_t *runs; /* array of records (borrowed from the all-runs array) */
  json_t *summary;
} group_t;

typedef struct {
  group_t *items;
  size_t count, cap;
} groups_t;

/* ------------------------------------------------------------ helpers */

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of n values (sorted in place); NAN when n == 0. */
static double median(double *v, size_t n) {
  if (n == 0) return NAN;
  qsort(v, n, sizeof *v, compare_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *string_at(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

/* Number at a dotted path ("ops.lease.latency_ms.p99"); NAN if absent. */
static double number_at(json_t *o, const char *path) {
  char part[64];
  while (o != NULL && *path) {
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    snprintf(part, sizeof part, "%.*s", (int)len, path);
    o = json_object_get(o, part);
    path += len + (dot ? 1 : 0);
  }
  return json_is_number(o) ? json_number_value(o) : NAN;
}

/* The median over a group's runs of the number at `path`. */
static double group_median(const group_t *g, const char *path) {
  size_t n = json_array_size(g->runs), k = 0;
  double *v = calloc(n ? n : 1, sizeof *v);
  if (v == NULL) return NAN;
  for (size_t i = 0; i < n; i++) {
    double x = number_at(json_array_get(g->runs, i), path);
    if (!isnan(x)) v[k++] = x;
  }
  double m = median(v, k);
  free(v);
  return m;
}

static json_t *number_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

/* ------------------------------------------------------------ loading */

static group_t *group_for(groups_t *gs, json_t *record) {
  json_t *meta = json_object_get(record, "meta");
  const char *variant = json_string_value(json_object_get(meta, "variant"));
  char key[256];
  snprintf(key, sizeof key, "%s|%s|%s|%s|%s", string_at(record, "scenario"),
           string_at(record, "system"), string_at(record, "phase"), variant ? variant : "",
           string_at(record, "transport"));
  for (size_t i = 0; i < gs->count; i++)
    if (strcmp(gs->items[i].key, key) == 0) return &gs->items[i];
  if (gs->count == gs->cap) {
    size_t cap = gs->cap ? gs->cap * 2 : 16;
    group_t *grown = realloc(gs->items, cap * sizeof *grown);
    if (grown == NULL) return NULL;
    gs->items = grown;
    gs->cap = cap;
  }
  group_t *g = &gs->items[gs->count++];
  memset(g, 0, sizeof *g);
  snprintf(g->key, sizeof g->key, "%s", key);
  g->scenario = string_at(record, "scenario");
  g->system = string_at(record, "system");
  g->phase = string_at(record, "phase");
  g->variant = variant;
  g->transport = string_at(record, "transport");
  g->runs = json_array();
  return g;
}

static int name_is_json(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* Loads every DIR/ *.json (in name order) into `all` and the groups. */
static int load_runs(const char *dir, json_t *all, groups_t *gs) {
  struct dirent **names = NULL;
  int n = scandir(dir, &names, name_is_json, alphasort);
  if (n < 0) {
    perror(dir);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    free(names[i]);
    json_error_t error;
    json_t *record = json_load_file(path, 0, &error);
    if (!json_is_object(record)) {
      fprintf(stderr, "bench-report: skipping %s: %s\n", path, error.text);
      json_decref(record);
      continue;
    }
    json_object_set_new(record, "file", json_string(path));
    json_array_append_new(all, record);
    group_t *g = group_for(gs, record);
    if (g == NULL) return -1;
    json_array_append(g->runs, record);
  }
  free(names);
  return 0;
}

/* ------------------------------------------------------------ summaries */

/* The headline figure of a record kind: rate, seconds or memory. */
static const char *headline_path(const group_t *g, const char **unit) {
  json_t *first = json_array_get(g->runs, 0);
  if (json_object_get(first, "rate_per_s")) {
    *unit = string_at(first, "unit");
    return "rate_per_s";
  }
  if (json_object_get(first, "seconds")) {
    *unit = "s";
    return "seconds";
  }
  if (json_object_get(first, "rss_mb")) {
    *unit = "MB RSS";
    return "rss_mb";
  }
  if (json_object_get(first, "latency_ms")) {
    *unit = string_at(first, "unit");
    return "latency_ms";
  }
  *unit = "";
  return NULL;
}

static void summarize(group_t *g) {
  json_t *first = json_array_get(g->runs, 0);
  json_t *s = json_pack("{s:s, s:s, s:s, s:I}", "scenario", g->scenario, "system", g->system,
                        "phase", g->phase, "runs", (json_int_t)json_array_size(g->runs));
  if (g->variant) json_object_set_new(s, "variant", json_string(g->variant));
  if (g->transport[0]) json_object_set_new(s, "transport", json_string(g->transport));
  if (strcmp(g->phase, "skipped") == 0) {
    json_object_set_new(s, "status", json_string("skipped"));
    json_object_set_new(s, "reason", json_string(string_at(first, "reason")));
    g->summary = s;
    return;
  }
  json_object_set_new(s, "status", json_string("ran"));
  const char *unit;
  const char *path = headline_path(g, &unit);
  if (path) {
    json_t *values = json_array();
    for (size_t i = 0; i < json_array_size(g->runs); i++)
      json_array_append_new(values, number_or_null(number_at(json_array_get(g->runs, i), path)));
    json_object_set_new(s, "unit", json_string(unit));
    json_object_set_new(s, "median", number_or_null(group_median(g, path)));
    json_object_set_new(s, "values", values);
  }
  json_object_set(s, "config", json_object_get(first, "config"));
  /* CPU of other processes during the runs: how disturbed they were. */
  json_object_set_new(s, "others_cores", number_or_null(group_median(g, "cpu.others.cores")));
  json_t *ops = json_object();
  const char *name;
  json_t *op;
  json_object_foreach(json_object_get(first, "ops"), name, op) {
    char p50[128], p99[128], p999[128], rate[128];
    snprintf(p50, sizeof p50, "ops.%s.latency_ms.p50", name);
    snprintf(p99, sizeof p99, "ops.%s.latency_ms.p99", name);
    snprintf(p999, sizeof p999, "ops.%s.latency_ms.p999", name);
    snprintf(rate, sizeof rate, "ops.%s.rate_per_s", name);
    json_object_set_new(ops, name,
                        json_pack("{s:o, s:o, s:o, s:o}", "rate_per_s",
                                  number_or_null(group_median(g, rate)), "p50_ms",
                                  number_or_null(group_median(g, p50)), "p99_ms",
                                  number_or_null(group_median(g, p99)), "p999_ms",
                                  number_or_null(group_median(g, p999))));
  }
  json_object_set_new(s, "ops", ops);
  /* CPU microseconds per cycle of each process (cycle records). */
  json_t *per_cycle = json_object_get(first, "cpu_us_per_cycle");
  if (json_is_object(per_cycle)) {
    json_t *medians = json_object();
    const char *process;
    json_t *v;
    json_object_foreach(per_cycle, process, v) {
      char path[128];
      snprintf(path, sizeof path, "cpu_us_per_cycle.%s", process);
      json_object_set_new(medians, process, number_or_null(group_median(g, path)));
    }
    json_object_set_new(s, "cpu_us_per_cycle", medians);
  }
  g->summary = s;
}

/* The group of (scenario, system, phase[, variant]) measured over
 * `transport` (NULL: any transport). */
static const group_t *find_group_over(const groups_t *gs, const char *scenario,
                                      const char *system, const char *phase, const char *variant,
                                      const char *transport) {
  for (size_t i = 0; i < gs->count; i++) {
    const group_t *g = &gs->items[i];
    if (strcmp(g->scenario, scenario) || strcmp(g->system, system) || strcmp(g->phase, phase))
      continue;
    if (variant && (g->variant == NULL || strcmp(g->variant, variant) != 0)) continue;
    if (transport && strcmp(g->transport, transport) != 0) continue;
    return g;
  }
  return NULL;
}

/* The same, preferring CURVE (how Tally is deployed) when a run measured
 * both transports: the targets are judged on it. */
static const group_t *find_group(const groups_t *gs, const char *scenario, const char *system,
                                 const char *phase, const char *variant) {
  const group_t *g = find_group_over(gs, scenario, system, phase, variant, "curve");
  return g ? g : find_group_over(gs, scenario, system, phase, variant, NULL);
}

static double summary_number(const group_t *g, const char *path) {
  return g ? number_at(g->summary, path) : NAN;
}

/* Tally over each peer, per scenario: cycle vs cycle, ingest vs fill. */
static json_t *ratios(const groups_t *gs) {
  json_t *out = json_array();
  for (size_t i = 0; i < gs->count; i++) {
    const group_t *t = &gs->items[i];
    if (strcmp(t->system, "tally") != 0) continue;
    const char *peer_phase = strcmp(t->phase, "cycle") == 0    ? "cycle"
                             : strcmp(t->phase, "ingest") == 0 ? "fill"
                                                               : NULL;
    if (peer_phase == NULL) continue;
    for (size_t j = 0; j < gs->count; j++) {
      const group_t *p = &gs->items[j];
      if (strcmp(p->system, "tally") == 0 || strcmp(p->scenario, t->scenario) != 0 ||
          strcmp(p->phase, peer_phase) != 0)
        continue;
      double a = summary_number(t, "median"), b = summary_number(p, "median");
      char phase[128];
      snprintf(phase, sizeof phase, "%s%s%s%s%s", t->phase, t->variant ? " " : "",
               t->variant ? t->variant : "", t->transport[0] ? " " : "", t->transport);
      json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "scenario",
                                           t->scenario, "tally_phase", phase, "peer", p->system,
                                           "peer_phase", p->phase, "tally", number_or_null(a),
                                           "peer_value", number_or_null(b), "ratio",
                                           number_or_null(b > 0 ? a / b : NAN)));
    }
  }
  /* The cycle with audits over the plain cycle of the same run. */
  const group_t *audit = find_group(gs, "cycle-audit", "tally", "cycle", "audit-10pct");
  const group_t *plain =
      audit ? find_group_over(gs, "cycle-audit", "tally", "cycle", "plain", audit->transport)
            : NULL;
  if (audit && plain) {
    double a = summary_number(audit, "median"), b = summary_number(plain, "median");
    json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "scenario",
                                         "cycle-audit", "tally_phase", "cycle audit-10pct", "peer",
                                         "tally", "peer_phase", "cycle plain", "tally",
                                         number_or_null(a), "peer_value", number_or_null(b),
                                         "ratio", number_or_null(b > 0 ? a / b : NAN)));
  }
  return out;
}

/* ------------------------------------------------------------ transports */

enum { CPU_DAEMONS = 1, CPU_CLIENT = 2 };

/* A figure compared between CURVE and plain TCP. */
typedef struct {
  const char *name;     /* as printed and in the result */
  const char *path;     /* number in a run record; NULL: CPU per unit (below) */
  int cpu_of;           /* path NULL: CPU_DAEMONS, CPU_CLIENT or both */
  int higher_is_better; /* rates; latencies and CPU are lower-is-better */
} figure_t;

static const figure_t transport_figures[] = {
    {"headline", NULL, 0, 0}, /* placeholder: the group's headline (see figure_value) */
    {"lease p50 ms", "ops.lease.latency_ms.p50", 0, 0},
    {"lease p99 ms", "ops.lease.latency_ms.p99", 0, 0},
    {"daemons' CPU us per op", NULL, CPU_DAEMONS, 0},
    {"generator's CPU us per op", NULL, CPU_CLIENT, 0},
    {"Tally's CPU us per op (both)", NULL, CPU_DAEMONS | CPU_CLIENT, 0},
};

/* CPU microseconds per headline operation of a rate record: the daemons'
 * (every watched process), the generator's, or both (`which`). On a shared
 * machine this is the figure that other load disturbs least: throughput
 * follows the CPU the other processes leave. NAN without CPU figures. */
static double cpu_us_per_op(json_t *record, int which) {
  json_t *cpu = json_object_get(record, "cpu");
  double rate = number_at(record, "rate_per_s");
  if (!json_is_object(cpu) || !(rate > 0)) return NAN;
  double cores = 0;
  if (which & CPU_CLIENT) cores += number_at(cpu, "client.cores");
  if (which & CPU_DAEMONS) {
    static const char *const not_daemons[] = {"client", "machine", "steal", "others", "span_s"};
    const char *name;
    json_t *v;
    json_object_foreach(cpu, name, v) {
      int skip = 0;
      for (size_t i = 0; i < sizeof not_daemons / sizeof not_daemons[0]; i++)
        skip |= strcmp(name, not_daemons[i]) == 0;
      if (!skip) cores += number_at(v, "cores");
    }
  }
  return isnan(cores) ? NAN : cores / rate * 1e6;
}

/* The value of figure k in one run record of group g. */
static double figure_value(const group_t *g, size_t k, json_t *record) {
  const figure_t *f = &transport_figures[k];
  if (k == 0) {
    const char *unit;
    const char *path = headline_path(g, &unit);
    return path ? number_at(record, path) : NAN;
  }
  if (f->path) return number_at(record, f->path);
  return cpu_us_per_op(record, f->cpu_of);
}

static double figure_median(const group_t *g, size_t k) {
  size_t n = json_array_size(g->runs), m = 0;
  double *v = calloc(n ? n : 1, sizeof *v);
  if (v == NULL) return NAN;
  for (size_t i = 0; i < n; i++) {
    double x = figure_value(g, k, json_array_get(g->runs, i));
    if (!isnan(x)) v[m++] = x;
  }
  double r = median(v, m);
  free(v);
  return r;
}

/* How much worse CURVE is, in %: lower throughput, or higher latency and
 * CPU. Negative when CURVE measured better. */
static double cost_pct(double curve, double tcp, int higher_is_better) {
  if (!(curve > 0) || !(tcp > 0)) return NAN;
  return higher_is_better ? (1 - curve / tcp) * 100 : (curve / tcp - 1) * 100;
}

/* The median over the runs paired by meta.run (bench/run runs the two
 * transports of one run back to back) of each pair's cost. */
static double paired_cost_pct(const group_t *curve, const group_t *tcp, size_t k, int higher) {
  size_t n = json_array_size(curve->runs), m = 0;
  double *v = calloc(n ? n : 1, sizeof *v);
  if (v == NULL) return NAN;
  for (size_t i = 0; i < n; i++) {
    json_t *a = json_array_get(curve->runs, i);
    double run = number_at(a, "meta.run");
    if (isnan(run)) continue;
    for (size_t j = 0; j < json_array_size(tcp->runs); j++) {
      json_t *b = json_array_get(tcp->runs, j);
      if (number_at(b, "meta.run") != run) continue;
      double c = cost_pct(figure_value(curve, k, a), figure_value(tcp, k, b), higher);
      if (!isnan(c)) v[m++] = c;
      break;
    }
  }
  double r = median(v, m);
  free(v);
  return r;
}

static int same_variant(const group_t *a, const group_t *b) {
  if (a->variant == NULL || b->variant == NULL) return a->variant == b->variant;
  return strcmp(a->variant, b->variant) == 0;
}

/* CURVE against plain TCP for every Tally measurement that ran over both:
 * per figure the two medians, their ratio, the cost in % and the median of
 * the per-run costs. */
static json_t *transport_costs(const groups_t *gs) {
  json_t *out = json_array();
  for (size_t i = 0; i < gs->count; i++) {
    const group_t *c = &gs->items[i];
    if (strcmp(c->system, "tally") || strcmp(c->transport, "curve") || c->summary == NULL ||
        strcmp(c->phase, "skipped") == 0)
      continue;
    const group_t *t = NULL;
    for (size_t j = 0; j < gs->count && t == NULL; j++) {
      const group_t *x = &gs->items[j];
      if (strcmp(x->transport, "tcp") == 0 && strcmp(x->system, c->system) == 0 &&
          strcmp(x->scenario, c->scenario) == 0 && strcmp(x->phase, c->phase) == 0 &&
          same_variant(x, c))
        t = x;
    }
    if (t == NULL) continue;
    const char *unit;
    headline_path(c, &unit);
    json_t *figures = json_array();
    for (size_t k = 0; k < sizeof transport_figures / sizeof transport_figures[0]; k++) {
      int higher = k == 0 ? json_object_get(json_array_get(c->runs, 0), "rate_per_s") != NULL
                          : transport_figures[k].higher_is_better;
      double a = figure_median(c, k), b = figure_median(t, k);
      if (isnan(a) || isnan(b)) continue;
      json_array_append_new(
          figures, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "figure",
                             k == 0 ? unit : transport_figures[k].name, "curve", json_real(a),
                             "tcp", json_real(b), "ratio", number_or_null(b > 0 ? a / b : NAN),
                             "cost_pct", number_or_null(cost_pct(a, b, higher)),
                             "paired_cost_pct",
                             number_or_null(paired_cost_pct(c, t, k, higher)),
                             "higher_is_better", higher));
    }
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "scenario", c->scenario, "phase",
                          c->phase, "runs_curve", (json_int_t)json_array_size(c->runs),
                          "runs_tcp", (json_int_t)json_array_size(t->runs), "others_cores_curve",
                          number_or_null(summary_number(c, "others_cores")), "others_cores_tcp",
                          number_or_null(summary_number(t, "others_cores")), "figures", figures);
    if (c->variant) json_object_set_new(o, "variant", json_string(c->variant));
    json_array_append_new(out, o);
  }
  return out;
}

/* The cost of figure `name` in the comparison of (scenario, phase); NAN
 * when not measured. */
static double transport_cost_of(json_t *costs, const char *scenario, const char *figure) {
  size_t i, k;
  json_t *c, *f;
  json_array_foreach(costs, i, c) {
    if (strcmp(string_at(c, "scenario"), scenario) != 0 || json_object_get(c, "variant")) continue;
    json_array_foreach(json_object_get(c, "figures"), k, f) {
      if (strcmp(string_at(f, "figure"), figure) == 0) return number_at(f, "cost_pct");
    }
  }
  return NAN;
}

/* ------------------------------------------------------------ targets */

static json_t *target(const char *name, const char *required, const char *status,
                      const char *measured, const char *note) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s}", "target", name, "required", required, "status",
                   status, "measured", measured, "note", note);
}

static const char *verdict(int met) { return met ? "met" : "not met"; }

static json_t *target_cycles(const groups_t *gs) {
  const char *name = "durable label cycles/s";
  const char *required = ">= 2x beanstalkd without binlog";
  const group_t *t = find_group(gs, "cycle", "tally", "cycle", NULL);
  const group_t *b = find_group(gs, "cycle", "beanstalkd", "cycle", NULL);
  if (t == NULL || b == NULL)
    return target(name, required, "not run", "", "run: bench/run cycle");
  double a = summary_number(t, "median"), p = summary_number(b, "median");
  char measured[160];
  snprintf(measured, sizeof measured, "%.2fx (%.0f vs %.0f cycles/s, median of %zu runs)",
           p > 0 ? a / p : 0, a, p, json_array_size(t->runs));
  /* The probe's bound says whether the target fits under RocksDB's write
   * cost for one cycle on this machine at all (one writer thread). */
  char note[320] = "";
  const group_t *w = find_group(gs, "probe", "rocksdb", "cycle-writes", NULL);
  if (w != NULL && p > 0) {
    double bound = summary_number(w, "median");
    snprintf(note, sizeof note,
             "RocksDB's writes of one cycle alone allow at most %.0f cycles/s on one thread "
             "(probe) = %.2fx beanstalkd",
             bound, bound / p);
  }
  /* Beside it, Tally against Redis with the AOF fsynced before every
   * reply: the durable peer. */
  const group_t *redis = find_group(gs, "cycle", "redis-aof-always", "cycle", NULL);
  double r = summary_number(redis, "median");
  if (redis != NULL && r > 0) {
    size_t used = strlen(note);
    snprintf(note + used, sizeof note - used, "%s%.2fx Redis with AOF appendfsync always (%.0f cycles/s)",
             used ? "; " : "", a / r, r);
  }
  return target(name, required, verdict(p > 0 && a / p >= TARGET_CYCLE_RATIO), measured, note);
}

static json_t *target_lease_p99(const groups_t *gs) {
  const char *name = "p99 lease latency, 1,000 concurrent sessions";
  const char *required = "<= 5 ms";
  const group_t *t = find_group(gs, "sessions", "tally", "cycle", NULL);
  if (t == NULL) return target(name, required, "not run", "", "run: bench/run sessions");
  double p99 = summary_number(t, "ops.lease.p99_ms");
  double sessions = summary_number(t, "config.sessions");
  char measured[160], note[160] = "";
  snprintf(measured, sizeof measured, "%.2f ms with %.0f sessions (median of %zu runs)", p99,
           sessions, json_array_size(t->runs));
  if (sessions < TARGET_SESSIONS) {
    snprintf(note, sizeof note, "measured with fewer than %d sessions", TARGET_SESSIONS);
    return target(name, required, "partial", measured, note);
  }
  return target(name, required, verdict(p99 <= TARGET_LEASE_P99_MS), measured, note);
}

static json_t *target_memory(const groups_t *gs) {
  const char *name = "worker RSS with 10M queued items";
  const char *required = "<= 300 MB";
  const group_t *t = find_group(gs, "memory", "tally", "memory", NULL);
  if (t == NULL) return target(name, required, "not run", "", "run: bench/run memory");
  double rss = summary_number(t, "median");
  double queued = group_median(t, "queued");
  double peak = group_median(t, "processes.worker.peak_rss_mb");
  char measured[160], note[200] = "";
  snprintf(measured, sizeof measured, "%.0f MB RSS (peak %.0f MB) with %.0f queued", rss, peak,
           queued);
  if (queued < TARGET_RSS_ITEMS) {
    snprintf(note, sizeof note,
             "ran with fewer than 10M queued; for 10M: bench/run memory --memory-items 10000000");
    return target(name, required, rss <= TARGET_RSS_MB ? "partial (met at this size)"
                                                       : "not met (at this size already)",
                  measured, note);
  }
  return target(name, required, verdict(rss <= TARGET_RSS_MB), measured, note);
}

static json_t *target_restart(const groups_t *gs) {
  const char *name = "restart to serving with 1M queued";
  const char *required = "<= 5 s";
  const group_t *t = find_group(gs, "restart", "tally", "lease-probe", "SIGKILL");
  if (t == NULL) t = find_group(gs, "restart", "tally", "lease-probe", NULL);
  if (t == NULL) return target(name, required, "not run", "", "run: bench/run restart");
  double s = summary_number(t, "median");
  double queued = group_median(t, "meta.queued");
  char measured[160], note[200] = "";
  snprintf(measured, sizeof measured, "%.2f s after %s with %.0f queued (median of %zu)", s,
           t->variant ? t->variant : "a kill", queued, json_array_size(t->runs));
  if (isnan(queued) || queued < TARGET_RESTART_ITEMS) {
    snprintf(note, sizeof note, "ran with fewer than 1M queued; bench/run restart without --quick");
    return target(name, required, s <= TARGET_RESTART_S ? "partial (met at this size)"
                                                        : "not met (at this size already)",
                  measured, note);
  }
  return target(name, required, verdict(s <= TARGET_RESTART_S), measured, note);
}

/* The largest report run: p99 of its slowest grouping. */
static json_t *target_report(const groups_t *gs) {
  const char *name = "report over 10M judgments";
  const char *required = "<= 100 ms";
  const group_t *t = NULL;
  double judgments = -1;
  for (size_t i = 0; i < gs->count; i++) {
    const group_t *g = &gs->items[i];
    if (strcmp(g->scenario, "report") || strcmp(g->system, "tally") || strcmp(g->phase, "report"))
      continue;
    double j = group_median(g, "judgments");
    if (!isnan(j) && j > judgments) judgments = j, t = g;
  }
  if (t == NULL) return target(name, required, "not run", "", "run: bench/run report");
  double p99 = summary_number(t, "median");
  char measured[200], note[240] = "";
  snprintf(measured, sizeof measured,
           "p99 %.1f ms (slowest grouping, 20 calls each) over %.0f judgments (median of %zu)",
           p99, judgments, json_array_size(t->runs));
  if (judgments < TARGET_REPORT_JUDGMENTS) {
    snprintf(note, sizeof note,
             "ran with fewer than 10M judgments; the cost follows statistics rows, not judgments; "
             "for 10M: bench/run report --report-items 10000000");
    return target(name, required, p99 <= TARGET_REPORT_MS ? "partial (met at this size)"
                                                          : "not met (at this size already)",
                  measured, note);
  }
  return target(name, required, verdict(p99 <= TARGET_REPORT_MS), measured, note);
}

/* Issue 15: CURVE costs under 15% in label cycles/s (cycle) and p99 lease
 * latency (sessions), each against --insecure in the same run. */
static json_t *target_curve_cost(json_t *costs) {
  const char *name = "CURVE cost against --insecure";
  const char *required = "< 15% (cycles/s, sessions lease p99)";
  double cycle = transport_cost_of(costs, "cycle", "label cycles/s");
  double p99 = transport_cost_of(costs, "sessions", "lease p99 ms");
  if (isnan(cycle) && isnan(p99))
    return target(name, required, "not run", "",
                  "run: bench/run cycle --transport both; bench/run sessions --transport both");
  char measured[200], note[160] = "", a[48] = "not run", b[48] = "not run";
  if (!isnan(cycle)) snprintf(a, sizeof a, "%.1f%% of label cycles/s", cycle);
  if (!isnan(p99)) snprintf(b, sizeof b, "%.1f%% of lease p99", p99);
  snprintf(measured, sizeof measured, "cycle: %s; sessions: %s (medians)", a, b);
  int met = (isnan(cycle) || cycle < TARGET_CURVE_COST_PCT) &&
            (isnan(p99) || p99 < TARGET_CURVE_COST_PCT);
  if (isnan(cycle) || isnan(p99)) {
    snprintf(note, sizeof note, "only one of the two scenarios ran over both transports");
    return target(name, required, met ? "partial (met where measured)" : "not met", measured,
                  note);
  }
  return target(name, required, verdict(met), measured, note);
}

static json_t *targets(const groups_t *gs, json_t *costs) {
  json_t *out = json_array();
  json_array_append_new(out, target_cycles(gs));
  json_array_append_new(out, target_lease_p99(gs));
  json_array_append_new(out, target_memory(gs));
  json_array_append_new(out, target_restart(gs));
  json_array_append_new(out, target_report(gs));
  json_array_append_new(out, target_curve_cost(costs));
  return out;
}

/* ------------------------------------------------------------ machine */

static json_t *machine(void) {
  char model[256] = "unknown", line[512];
  long mem_kb = 0;
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) == 0 && colon) {
      snprintf(model, sizeof model, "%s", colon + 2);
      model[strcspn(model, "\n")] = '\0';
      break;
    }
  }
  if (f) fclose(f);
  f = fopen("/proc/meminfo", "r");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemTotal: %ld kB", &mem_kb) == 1) break;
  if (f) fclose(f);
  struct utsname u;
  uname(&u);
  return json_pack("{s:i, s:s, s:I, s:s}", "nproc", (int)sysconf(_SC_NPROCESSORS_ONLN),
                   "cpu_model", model, "memory_mb", (json_int_t)(mem_kb / 1024), "kernel",
                   u.release);
}

/* ------------------------------------------------------------ printing */

static void print_groups(const groups_t *gs) {
  printf("%-12s %-22s %-12s %4s %12s  %-24s %6s  %s\n", "scenario", "system", "phase", "runs",
         "median", "unit", "others", "latency ms p50 / p99 / p99.9 (medians)");
  for (size_t i = 0; i < gs->count; i++) {
    const group_t *g = &gs->items[i];
    char system[96];
    int tally = strcmp(g->system, "tally") == 0;
    snprintf(system, sizeof system, "%s%s%s%s%s", g->system, g->variant ? " " : "",
             g->variant ? g->variant : "", tally && g->transport[0] ? " " : "",
             tally ? g->transport : "");
    if (strcmp(g->phase, "skipped") == 0) {
      printf("%-12s %-22s %-12s %4s %12s  %s\n", g->scenario, system, "-", "-", "skipped",
             string_at(g->summary, "reason"));
      continue;
    }
    double others = summary_number(g, "others_cores");
    char others_text[16] = "-";
    if (!isnan(others)) snprintf(others_text, sizeof others_text, "%.2f", others);
    printf("%-12s %-22s %-12s %4zu %12.1f  %-24s %6s ", g->scenario, system, g->phase,
           json_array_size(g->runs), summary_number(g, "median"), string_at(g->summary, "unit"),
           others_text);
    const char *name;
    json_t *op;
    json_object_foreach(json_object_get(g->summary, "ops"), name, op) {
      printf(" %s %.2f/%.2f/%.2f", name, number_at(op, "p50_ms"), number_at(op, "p99_ms"),
             number_at(op, "p999_ms"));
    }
    printf("\n");
  }
}

/* CPU per cycle of every cycle measurement: the servers' (each watched
 * process, and together) and the generator's, medians in microseconds. */
static void print_cpu_per_cycle(const groups_t *gs) {
  int header = 0;
  for (size_t i = 0; i < gs->count; i++) {
    const group_t *g = &gs->items[i];
    json_t *per_cycle = g->summary ? json_object_get(g->summary, "cpu_us_per_cycle") : NULL;
    if (!json_is_object(per_cycle)) continue;
    if (!header) {
      printf("\nCPU per cycle (microseconds, medians; servers = the daemons together):\n");
      header = 1;
    }
    char system[128];
    snprintf(system, sizeof system, "%s%s%s%s%s", g->system, g->variant ? " " : "",
             g->variant ? g->variant : "", g->transport[0] ? " " : "", g->transport);
    printf("  %-12s %-34s servers %7.1f  generator %7.1f ", g->scenario, system,
           number_at(per_cycle, "servers"), number_at(per_cycle, "generator"));
    const char *process;
    json_t *v;
    json_object_foreach(per_cycle, process, v) {
      if (strcmp(process, "servers") == 0 || strcmp(process, "generator") == 0) continue;
      printf(" %s %.1f", process, json_is_number(v) ? json_number_value(v) : NAN);
    }
    printf("\n");
  }
}

static void print_ratios(json_t *rs) {
  size_t i;
  json_t *r;
  if (json_array_size(rs) == 0) return;
  printf("\nTally / peer (medians):\n");
  json_array_foreach(rs, i, r) {
    printf("  %-10s tally %-7s %10.0f  vs %-22s %-6s %10.0f  = %.2fx\n",
           string_at(r, "scenario"), string_at(r, "tally_phase"), number_at(r, "tally"),
           string_at(r, "peer"), string_at(r, "peer_phase"), number_at(r, "peer_value"),
           number_at(r, "ratio"));
  }
}

static void print_costs(json_t *costs) {
  size_t i, k;
  json_t *c, *f;
  if (json_array_size(costs) == 0) return;
  printf("\nCURVE against --insecure (tcp), same run; cost = how much worse CURVE is\n"
         "(medians; 'pairs': median of the cost within each run's back-to-back pair):\n");
  json_array_foreach(costs, i, c) {
    printf("  %s %s%s%s (%lld + %lld runs; others %.2f / %.2f cores)\n", string_at(c, "scenario"),
           string_at(c, "phase"), json_object_get(c, "variant") ? " " : "",
           json_object_get(c, "variant") ? string_at(c, "variant") : "",
           (long long)number_at(c, "runs_curve"), (long long)number_at(c, "runs_tcp"),
           number_at(c, "others_cores_curve"), number_at(c, "others_cores_tcp"));
    json_array_foreach(json_object_get(c, "figures"), k, f) {
      printf("    %-28s curve %10.2f  tcp %10.2f  = %.3fx  cost %+6.1f%%  pairs %+6.1f%%\n",
             string_at(f, "figure"), number_at(f, "curve"), number_at(f, "tcp"),
             number_at(f, "ratio"), number_at(f, "cost_pct"), number_at(f, "paired_cost_pct"));
    }
  }
}

static void print_targets(json_t *ts) {
  size_t i;
  json_t *t;
  printf("\nTargets:\n");
  json_array_foreach(ts, i, t) {
    printf("  %-46s %-32s %s\n", string_at(t, "target"), string_at(t, "required"),
           string_at(t, "status"));
    if (string_at(t, "measured")[0]) printf("  %-46s measured: %s\n", "", string_at(t, "measured"));
    if (string_at(t, "note")[0]) printf("  %-46s %s\n", "", string_at(t, "note"));
  }
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  static const struct option options[] = {{"runs", required_argument, 0, 'r'},
                                          {"out", required_argument, 0, 'o'},
                                          {"command", required_argument, 0, 'c'},
                                          {"peer-version", required_argument, 0, 'p'},
                                          {"quick", no_argument, 0, 'q'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
  const char *runs_dir = NULL, *out = NULL, *command = "", *peer_version = "";
  int quick = 0, c;
  while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
    switch (c) {
      case 'r': runs_dir = optarg; break;
      case 'o': out = optarg; break;
      case 'c': command = optarg; break;
      case 'p': peer_version = optarg; break;
      case 'q': quick = 1; break;
      case 'h':
        printf("usage: bench-report --runs DIR --out FILE [--command TEXT] [--quick] "
               "[--peer-version TEXT]\n");
        return 0;
      default: return 2;
    }
  }
  if (runs_dir == NULL) {
    fprintf(stderr, "bench-report: --runs DIR is required\n");
    return 2;
  }
  json_t *all = json_array();
  groups_t gs = {0};
  if (load_runs(runs_dir, all, &gs) < 0) {
    json_decref(all);
    for (size_t i = 0; i < gs.count; i++) json_decref(gs.items[i].runs);
    free(gs.items);
    return 1;
  }
  json_t *summaries = json_array();
  for (size_t i = 0; i < gs.count; i++) {
    summarize(&gs.items[i]);
    json_array_append(summaries, gs.items[i].summary);
  }
  json_t *rs = ratios(&gs);
  json_t *costs = transport_costs(&gs);
  json_t *ts = targets(&gs, costs);
  time_t now = time(NULL);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  json_t *m = machine();
  printf("Tally benchmarks, %s: %s, %lld cores, %lld MB%s\n\n", date,
         string_at(m, "cpu_model"), (long long)number_at(m, "nproc"),
         (long long)number_at(m, "memory_mb"), quick ? " (--quick: smoke sizes)" : "");
  print_groups(&gs);
  printf("(others: CPU cores used by other processes of the machine during the window, median)\n");
  print_cpu_per_cycle(&gs);
  print_ratios(rs);
  print_costs(costs);
  print_targets(ts);
  json_t *result = json_pack("{s:s, s:s, s:b, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "date",
                             date, "command", command, "quick", quick, "machine", m,
                             "peer_version", peer_version, "results", summaries, "ratios", rs,
                             "transport_costs", costs, "targets", ts, "runs", all);
  int rc = 0;
  if (out) {
    rc = run_record_write(result, out) < 0;
    if (!rc) printf("\nresult file: %s\n", out);
  }
  json_decref(result);
  for (size_t i = 0; i < gs.count; i++) {
    json_decref(gs.items[i].runs);
    json_decref(gs.items[i].summary);
  }
  free(gs.items);
  return rc;
}
