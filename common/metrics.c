/* metrics: counters, gauges and histograms in the Prometheus text format.
 * See metrics.h (threading contract: one thread, no locks). */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "tally_error.h"

#ifndef TALLY_VERSION
#define TALLY_VERSION "unknown"
#endif

const double METRICS_LATENCY_BUCKETS[METRICS_LATENCY_BUCKETS_N] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};

struct metric_series {
  char **values;     /* one per label name, owned */
  double value;      /* counter (whole numbers) or gauge */
  double sum;        /* histogram */
  uint64_t count;    /* histogram */
  uint64_t *buckets; /* histogram: n_bounds + 1 (the last is +Inf), not cumulative */
  const struct metric_family *family;
  struct metric_series *next;
};

struct metric_family {
  metric_type_t type;
  char *name;
  char *help;
  size_t n_labels;
  char *label_names[METRICS_MAX_LABELS];
  double *bounds;
  size_t n_bounds;
  metric_series_t *first, *last;
  struct metric_family *next;
};

typedef struct collector {
  metrics_collect_cb collect;
  void *user;
  struct collector *next;
} collector_t;

struct metrics {
  metric_family_t *first, *last;
  collector_t *collectors, *last_collector;
};

int metrics_new(metrics_t **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : TALLY_E_NOMEM;
}

static void series_free(metric_series_t *s, size_t n_labels) {
  for (size_t i = 0; i < n_labels; i++) free(s->values[i]);
  free(s->values);
  free(s->buckets);
  free(s);
}

static void family_free(metric_family_t *f) {
  metric_series_t *s = f->first;
  while (s != NULL) {
    metric_series_t *next = s->next;
    series_free(s, f->n_labels);
    s = next;
  }
  for (size_t i = 0; i < f->n_labels; i++) free(f->label_names[i]);
  free(f->name);
  free(f->help);
  free(f->bounds);
  free(f);
}

void metrics_destroy(metrics_t **metrics) {
  if (metrics == NULL || *metrics == NULL) return;
  metrics_t *m = *metrics;
  metric_family_t *f = m->first;
  while (f != NULL) {
    metric_family_t *next = f->next;
    family_free(f);
    f = next;
  }
  collector_t *c = m->collectors;
  while (c != NULL) {
    collector_t *next = c->next;
    free(c);
    c = next;
  }
  free(m);
  *metrics = NULL;
}

static int is_name_char(char ch, int first, int colon) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') return 1;
  if (colon && ch == ':') return 1;
  return !first && ch >= '0' && ch <= '9';
}

/* 1 when s[0..len) is a metric name (colon) or label name (no colon). */
static int name_is_valid(const char *s, size_t len, int colon) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++)
    if (!is_name_char(s[i], i == 0, colon)) return 0;
  return 1;
}

static metric_family_t *family_find(const metrics_t *m, const char *name) {
  for (metric_family_t *f = m->first; f != NULL; f = f->next)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

/* Splits the comma-separated `labels` into f->label_names. */
static int family_set_labels(metric_family_t *f, const char *labels) {
  if (labels == NULL || labels[0] == '\0') return 0;
  const char *p = labels;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (f->n_labels == METRICS_MAX_LABELS || !name_is_valid(p, len, 0) ||
        (len >= 2 && p[0] == '_' && p[1] == '_') ||
        (f->type == METRIC_HISTOGRAM && len == 2 && memcmp(p, "le", 2) == 0))
      return TALLY_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < f->n_labels; i++)
      if (strlen(f->label_names[i]) == len && memcmp(f->label_names[i], p, len) == 0)
        return TALLY_E_INVALID_ARGUMENT;
    f->label_names[f->n_labels] = strndup(p, len);
    if (f->label_names[f->n_labels] == NULL) return TALLY_E_NOMEM;
    f->n_labels++;
    if (end == NULL) return 0;
    p = end + 1;
  }
}

static int bounds_are_valid(metric_type_t type, const double *bounds, size_t n) {
  if (type != METRIC_HISTOGRAM) return bounds == NULL && n == 0;
  if (bounds == NULL || n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(bounds[i])) return 0;
    if (i > 0 && !(bounds[i] > bounds[i - 1])) return 0;
  }
  return 1;
}

int metrics_add(metrics_t *m, metric_type_t type, const char *name, const char *help,
                const char *labels, const double *bounds, size_t n_bounds,
                metric_family_t **out) {
  *out = NULL;
  if (name == NULL || !name_is_valid(name, strlen(name), 1) || family_find(m, name) != NULL ||
      !bounds_are_valid(type, bounds, n_bounds))
    return TALLY_E_INVALID_ARGUMENT;
  metric_family_t *f = calloc(1, sizeof *f);
  if (f == NULL) return TALLY_E_NOMEM;
  f->type = type;
  f->name = strdup(name);
  f->help = strdup(help ? help : "");
  int rc = f->name && f->help ? family_set_labels(f, labels) : TALLY_E_NOMEM;
  if (rc == 0 && n_bounds > 0) {
    f->bounds = malloc(n_bounds * sizeof *f->bounds);
    if (f->bounds == NULL) rc = TALLY_E_NOMEM;
    else memcpy(f->bounds, bounds, n_bounds * sizeof *f->bounds);
    f->n_bounds = n_bounds;
  }
  if (rc == 0 && f->n_labels == 0 && metric_family_series(f, NULL) == NULL) rc = TALLY_E_NOMEM;
  if (rc < 0) {
    family_free(f);
    return rc;
  }
  if (m->last) m->last->next = f;
  else m->first = f;
  m->last = f;
  *out = f;
  return 0;
}

int metrics_add_families(metrics_t *m, const metric_family_spec_t *specs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const metric_family_spec_t *s = &specs[i];
    int rc = metrics_add(m, s->type, s->name, s->help, s->labels, s->bounds, s->n_bounds, s->out);
    if (rc < 0) return rc;
  }
  return 0;
}

static int series_matches(const metric_series_t *s, size_t n, const char *const *values) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s->values[i], values[i]) != 0) return 0;
  return 1;
}

metric_series_t *metric_family_series(metric_family_t *f, const char *const *values) {
  for (metric_series_t *s = f->first; s != NULL; s = s->next)
    if (series_matches(s, f->n_labels, values)) return s;
  metric_series_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->family = f;
  s->values = calloc(f->n_labels ? f->n_labels : 1, sizeof *s->values);
  int ok = s->values != NULL;
  for (size_t i = 0; ok && i < f->n_labels; i++) ok = (s->values[i] = strdup(values[i])) != NULL;
  if (ok && f->type == METRIC_HISTOGRAM)
    ok = (s->buckets = calloc(f->n_bounds + 1, sizeof *s->buckets)) != NULL;
  if (!ok) {
    series_free(s, f->n_labels);
    return NULL;
  }
  if (f->last) f->last->next = s;
  else f->first = s;
  f->last = s;
  return s;
}

void metric_family_clear(metric_family_t *f) {
  if (f->n_labels == 0) {
    metric_series_t *s = f->first;
    s->value = s->sum = 0;
    s->count = 0;
    if (s->buckets) memset(s->buckets, 0, (f->n_bounds + 1) * sizeof *s->buckets);
    return;
  }
  metric_series_t *s = f->first;
  while (s != NULL) {
    metric_series_t *next = s->next;
    series_free(s, f->n_labels);
    s = next;
  }
  f->first = f->last = NULL;
}

void metric_series_add(metric_series_t *s, uint64_t n) { s->value += (double)n; }

void metric_series_set(metric_series_t *s, double value) { s->value = value; }

/* The bucket index of `value`: the first bound >= value, or n (+Inf). */
static size_t bucket_of(const double *bounds, size_t n, double value) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (value <= bounds[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

void metric_series_observe(metric_series_t *s, double value) {
  if (s->buckets == NULL || isnan(value)) return;
  s->buckets[bucket_of(s->family->bounds, s->family->n_bounds, value)]++;
  s->sum += value;
  s->count++;
}

double metric_series_value(const metric_series_t *s) {
  return s->buckets ? (double)s->count : s->value;
}

int metrics_add_collector(metrics_t *m, metrics_collect_cb collect, void *user) {
  collector_t *c = calloc(1, sizeof *c);
  if (c == NULL) return TALLY_E_NOMEM;
  c->collect = collect;
  c->user = user;
  if (m->last_collector) m->last_collector->next = c;
  else m->collectors = c;
  m->last_collector = c;
  return 0;
}

/* ------------------------------------------------------------ rendering */

typedef struct {
  char *buf;
  size_t len, cap;
  int failed;
} text_t;

static void text_reserve(text_t *t, size_t more) {
  if (t->failed || t->len + more + 1 <= t->cap) return;
  size_t cap = t->cap ? t->cap : 4096;
  while (cap < t->len + more + 1) cap *= 2;
  char *grown = realloc(t->buf, cap);
  if (grown == NULL) {
    t->failed = 1;
    return;
  }
  t->buf = grown;
  t->cap = cap;
}

static void text_append(text_t *t, const char *s, size_t n) {
  text_reserve(t, n);
  if (t->failed) return;
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

static void text_puts(text_t *t, const char *s) { text_append(t, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void text_printf(text_t *t, const char *fmt, ...) {
  char small[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    t->failed = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    text_append(t, small, (size_t)n);
    return;
  }
  text_reserve(t, (size_t)n);
  if (t->failed) return;
  va_start(ap, fmt);
  vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

/* Appends `s` escaped: backslash and newline always, the double quote
 * too inside a label value. */
static void text_escaped(text_t *t, const char *s, int quote) {
  for (const char *p = s; *p; p++) {
    if (*p == '\\') text_append(t, "\\\\", 2);
    else if (*p == '\n') text_append(t, "\\n", 2);
    else if (quote && *p == '"') text_append(t, "\\\"", 2);
    else text_append(t, p, 1);
  }
}

/* A float as the format writes it: +Inf, -Inf, NaN, else the shortest of
 * %.15g / %.17g that reads back as the same double. */
static void format_double(char *out, size_t size, double v) {
  if (isnan(v)) snprintf(out, size, "NaN");
  else if (isinf(v)) snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
  else {
    snprintf(out, size, "%.15g", v);
    if (strtod(out, NULL) != v) snprintf(out, size, "%.17g", v);
  }
}

/* Appends {a="x",b="y"[,le="bound"]} (nothing when there are no labels). */
static void text_labels(text_t *t, const metric_family_t *f, const metric_series_t *s,
                        const char *le) {
  if (f->n_labels == 0 && le == NULL) return;
  text_puts(t, "{");
  for (size_t i = 0; i < f->n_labels; i++) {
    if (i > 0) text_puts(t, ",");
    text_puts(t, f->label_names[i]);
    text_puts(t, "=\"");
    text_escaped(t, s->values[i], 1);
    text_puts(t, "\"");
  }
  if (le != NULL) {
    if (f->n_labels > 0) text_puts(t, ",");
    text_printf(t, "le=\"%s\"", le);
  }
  text_puts(t, "}");
}

static void render_histogram(text_t *t, const metric_family_t *f, const metric_series_t *s) {
  uint64_t cumulative = 0;
  char le[64], number[64];
  for (size_t i = 0; i <= f->n_bounds; i++) {
    cumulative += s->buckets[i];
    if (i < f->n_bounds) format_double(le, sizeof le, f->bounds[i]);
    else snprintf(le, sizeof le, "+Inf");
    text_printf(t, "%s_bucket", f->name);
    text_labels(t, f, s, le);
    text_printf(t, " %llu\n", (unsigned long long)cumulative);
  }
  format_double(number, sizeof number, s->sum);
  text_printf(t, "%s_sum", f->name);
  text_labels(t, f, s, NULL);
  text_printf(t, " %s\n", number);
  text_printf(t, "%s_count", f->name);
  text_labels(t, f, s, NULL);
  text_printf(t, " %llu\n", (unsigned long long)s->count);
}

static void render_family(text_t *t, const metric_family_t *f) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  text_printf(t, "# HELP %s ", f->name);
  text_escaped(t, f->help, 0);
  text_printf(t, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
  for (const metric_series_t *s = f->first; s != NULL; s = s->next) {
    if (f->type == METRIC_HISTOGRAM) {
      render_histogram(t, f, s);
      continue;
    }
    char number[64];
    format_double(number, sizeof number, s->value);
    text_puts(t, f->name);
    text_labels(t, f, s, NULL);
    text_printf(t, " %s\n", number);
  }
}

int metrics_render(metrics_t *m, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  for (collector_t *c = m->collectors; c != NULL; c = c->next) c->collect(c->user);
  text_t t = {0};
  text_reserve(&t, 0);
  for (const metric_family_t *f = m->first; f != NULL; f = f->next) render_family(&t, f);
  if (t.failed) {
    free(t.buf);
    return TALLY_E_NOMEM;
  }
  *out = t.buf;
  *len = t.len;
  return 0;
}

int metrics_add_process(metrics_t *m, const char *program) {
  metric_family_t *info, *start;
  int rc = metrics_add(m, METRIC_GAUGE, "tally_build_info",
                       "Always 1; the labels say which program and version runs.",
                       "program,version", NULL, 0, &info);
  if (rc < 0) return rc;
  const char *values[] = {program, TALLY_VERSION};
  metric_series_t *s = metric_family_series(info, values);
  if (s == NULL) return TALLY_E_NOMEM;
  metric_series_set(s, 1);
  rc = metrics_add(m, METRIC_GAUGE, "tally_process_start_time_seconds",
                   "Start time of the process since the Unix epoch, in seconds.", NULL, NULL, 0,
                   &start);
  if (rc < 0) return rc;
  struct timeval now;
  gettimeofday(&now, NULL);
  metric_series_set(start->first, (double)now.tv_sec + now.tv_usec / 1e6);
  return 0;
}
