/* op_stats: see op_stats.h. */
#include "op_stats.h"

#include <string.h>

void op_stats_init(op_stats_t *s, const char *name) {
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", name);
  latency_log_init(&s->latency);
}

void op_stats_reset(op_stats_t *s) { latency_log_reset(&s->latency); }

int op_stats_ok(op_stats_t *s, uint64_t ns) { return latency_log_add(&s->latency, ns); }

static void op_stats_add_outcome(op_stats_t *s, const char *kind, uint64_t count,
                                 const char *message) {
  for (size_t i = 0; i < s->n_outcomes; i++) {
    if (strcmp(s->outcomes[i].name, kind) == 0) {
      s->outcomes[i].count += count;
      return;
    }
  }
  if (s->n_outcomes == OP_STATS_OUTCOMES) {
    s->outcomes_dropped += count;
    return;
  }
  op_outcome_t *o = &s->outcomes[s->n_outcomes++];
  snprintf(o->name, sizeof o->name, "%s", kind);
  snprintf(o->example, sizeof o->example, "%s", message ? message : "");
  o->count = count;
}

void op_stats_outcome(op_stats_t *s, const char *kind, const char *message) {
  op_stats_add_outcome(s, kind, 1, message);
}

uint64_t op_stats_count(const op_stats_t *s) { return s->latency.count; }

uint64_t op_stats_other(const op_stats_t *s) {
  uint64_t n = s->outcomes_dropped;
  for (size_t i = 0; i < s->n_outcomes; i++) n += s->outcomes[i].count;
  return n;
}

int op_stats_merge(op_stats_t *into, const op_stats_t *from) {
  if (latency_log_merge(&into->latency, &from->latency) < 0) return -1;
  for (size_t i = 0; i < from->n_outcomes; i++)
    op_stats_add_outcome(into, from->outcomes[i].name, from->outcomes[i].count,
                         from->outcomes[i].example);
  into->outcomes_dropped += from->outcomes_dropped;
  return 0;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

json_t *op_stats_json(op_stats_t *s, double window_s) {
  latency_summary_t sum = latency_log_summary(&s->latency);
  json_t *outcomes = json_object();
  for (size_t i = 0; i < s->n_outcomes; i++) {
    json_object_set_new(outcomes, s->outcomes[i].name,
                        json_pack("{s:I, s:s}", "count", (json_int_t)s->outcomes[i].count,
                                  "example", s->outcomes[i].example));
  }
  if (s->outcomes_dropped)
    json_object_set_new(outcomes, "other",
                        json_pack("{s:I}", "count", (json_int_t)s->outcomes_dropped));
  return json_pack("{s:I, s:f, s:o, s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f}}", "count",
                   (json_int_t)sum.count, "rate_per_s",
                   window_s > 0 ? (double)sum.count / window_s : 0.0, "outcomes", outcomes,
                   "latency_ms", "min", ms(sum.min), "mean", sum.mean / 1e6, "p50", ms(sum.p50),
                   "p90", ms(sum.p90), "p99", ms(sum.p99), "p999", ms(sum.p999), "max",
                   ms(sum.max));
}

void op_stats_print_header(FILE *out) {
  fprintf(out, "  %-14s %10s %11s %9s %9s %9s %9s %9s\n", "operation", "count", "per second",
          "p50 ms", "p99 ms", "p99.9 ms", "max ms", "not ok");
}

void op_stats_print(FILE *out, op_stats_t *s, double window_s) {
  latency_summary_t sum = latency_log_summary(&s->latency);
  fprintf(out, "  %-14s %10zu %11.0f %9.3f %9.3f %9.3f %9.3f %9llu\n", s->name, sum.count,
          window_s > 0 ? (double)sum.count / window_s : 0.0, ms(sum.p50), ms(sum.p99),
          ms(sum.p999), ms(sum.max), (unsigned long long)op_stats_other(s));
}
