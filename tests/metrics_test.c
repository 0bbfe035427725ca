/* metrics_test: the registry (common/metrics.c) rendered byte for byte:
 * HELP/TYPE lines, label value and help escaping, cumulative histogram
 * buckets with +Inf, _sum and _count, collectors that clear and refill a
 * gauge family, the names and bounds the registry refuses, and a table
 * of families added at once (metrics_add_families). When
 * promtool is installed (Debian `prometheus`), the rendered text also
 * passes `promtool check metrics`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"
#include "tally_error.h"

static int contains(const char *text, const char *line) { return strstr(text, line) != NULL; }

static void test_counter_and_escaping(void) {
  metrics_t *m = NULL;
  CHECK(metrics_new(&m) == 0);
  metric_family_t *requests = NULL;
  CHECK(metrics_add(m, METRIC_COUNTER, "t_requests_total", "Requests by type.\nSecond \\ line",
                    "type,code", NULL, 0, &requests) == 0);
  const char *plain[] = {"lease", "OK"};
  const char *odd[] = {"a\"b\\c\nd", "E"};
  metric_series_t *s = metric_family_series(requests, plain);
  CHECK(s != NULL);
  CHECK(metric_family_series(requests, plain) == s); /* same labels, same series */
  metric_series_add(s, 3);
  metric_series_add(s, 2);
  metric_series_add(metric_family_series(requests, odd), 1);
  CHECK(metric_series_value(s) == 5);
  char *text = NULL;
  size_t len = 0;
  CHECK(metrics_render(m, &text, &len) == 0);
  const char *want =
      "# HELP t_requests_total Requests by type.\\nSecond \\\\ line\n"
      "# TYPE t_requests_total counter\n"
      "t_requests_total{type=\"lease\",code=\"OK\"} 5\n"
      "t_requests_total{type=\"a\\\"b\\\\c\\nd\",code=\"E\"} 1\n";
  CHECK(text != NULL && strcmp(text, want) == 0);
  CHECK(len == strlen(want));
  if (text && strcmp(text, want) != 0) fprintf(stderr, "got:\n%s\nwant:\n%s\n", text, want);
  free(text);
  metrics_destroy(&m);
  CHECK(m == NULL);
  metrics_destroy(&m); /* safe twice */
}

static void test_histogram(void) {
  metrics_t *m = NULL;
  CHECK(metrics_new(&m) == 0);
  static const double bounds[] = {0.001, 0.01, 0.1};
  metric_family_t *h = NULL, *unlabeled = NULL;
  CHECK(metrics_add(m, METRIC_HISTOGRAM, "t_latency_seconds", "Latency.", "stage", bounds, 3,
                    &h) == 0);
  CHECK(metrics_add(m, METRIC_HISTOGRAM, "t_size", "Size.", NULL, bounds, 3, &unlabeled) == 0);
  const char *label[] = {"label"};
  metric_series_t *s = metric_family_series(h, label);
  metric_series_observe(s, 0.0005); /* bucket 0.001 */
  metric_series_observe(s, 0.001);  /* on the bound: bucket 0.001 (le is <=) */
  metric_series_observe(s, 0.05);   /* bucket 0.1 */
  metric_series_observe(s, 7);      /* only +Inf */
  metric_series_observe(s, 0.0 / 0.0); /* NaN: ignored */
  CHECK(metric_series_value(s) == 4);
  char *text = NULL;
  size_t len = 0;
  CHECK(metrics_render(m, &text, &len) == 0);
  const char *want =
      "# HELP t_latency_seconds Latency.\n"
      "# TYPE t_latency_seconds histogram\n"
      "t_latency_seconds_bucket{stage=\"label\",le=\"0.001\"} 2\n"
      "t_latency_seconds_bucket{stage=\"label\",le=\"0.01\"} 2\n"
      "t_latency_seconds_bucket{stage=\"label\",le=\"0.1\"} 3\n"
      "t_latency_seconds_bucket{stage=\"label\",le=\"+Inf\"} 4\n"
      "t_latency_seconds_sum{stage=\"label\"} 7.0515\n"
      "t_latency_seconds_count{stage=\"label\"} 4\n"
      "# HELP t_size Size.\n"
      "# TYPE t_size histogram\n"
      "t_size_bucket{le=\"0.001\"} 0\n"
      "t_size_bucket{le=\"0.01\"} 0\n"
      "t_size_bucket{le=\"0.1\"} 0\n"
      "t_size_bucket{le=\"+Inf\"} 0\n"
      "t_size_sum 0\n"
      "t_size_count 0\n";
  CHECK(text != NULL && strcmp(text, want) == 0);
  if (text && strcmp(text, want) != 0) fprintf(stderr, "got:\n%s\nwant:\n%s\n", text, want);
  free(text);
  metrics_destroy(&m);
}

typedef struct {
  metric_family_t *depth;
  int round;
} collect_state_t;

/* First render: two queues; second: one (the other moved away). */
static void collect_depths(void *user) {
  collect_state_t *st = user;
  metric_family_clear(st->depth);
  const char *es[] = {"es"}, *ja[] = {"ja"};
  metric_series_set(metric_family_series(st->depth, es), 10);
  if (st->round++ == 0) metric_series_set(metric_family_series(st->depth, ja), 2.5);
}

static void test_collector(void) {
  metrics_t *m = NULL;
  CHECK(metrics_new(&m) == 0);
  collect_state_t st = {NULL, 0};
  CHECK(metrics_add(m, METRIC_GAUGE, "t_depth", "Depth.", "market", NULL, 0, &st.depth) == 0);
  CHECK(metrics_add_collector(m, collect_depths, &st) == 0);
  char *text = NULL;
  size_t len = 0;
  CHECK(metrics_render(m, &text, &len) == 0);
  CHECK(contains(text, "t_depth{market=\"es\"} 10\n") && contains(text, "t_depth{market=\"ja\"} 2.5\n"));
  free(text);
  CHECK(metrics_render(m, &text, &len) == 0);
  CHECK(contains(text, "t_depth{market=\"es\"} 10\n") && !contains(text, "market=\"ja\""));
  free(text);
  metrics_destroy(&m);
}

static void test_refusals(void) {
  metrics_t *m = NULL;
  CHECK(metrics_new(&m) == 0);
  metric_family_t *f = NULL;
  static const double good[] = {1, 2}, unordered[] = {2, 1};
  CHECK(metrics_add(m, METRIC_COUNTER, "9lives", "", NULL, NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "a-b", "", NULL, NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "", "", NULL, NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "ok", "", "a,a", NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "ok", "", "__a", NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "ok", "", "a:b", NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "ok", "", "a,b,c,d,e", NULL, 0, &f) ==
        TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_COUNTER, "ok", "", NULL, good, 2, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_HISTOGRAM, "h", "", "le", good, 2, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_HISTOGRAM, "h", "", NULL, unordered, 2, &f) ==
        TALLY_E_INVALID_ARGUMENT);
  CHECK(metrics_add(m, METRIC_HISTOGRAM, "h", "", NULL, NULL, 0, &f) == TALLY_E_INVALID_ARGUMENT);
  CHECK(f == NULL);
  CHECK(metrics_add(m, METRIC_COUNTER, "ns:ok_total", "", "a,b,c,d", NULL, 0, &f) == 0);
  CHECK(metrics_add(m, METRIC_GAUGE, "ns:ok_total", "", NULL, NULL, 0, &f) ==
        TALLY_E_INVALID_ARGUMENT); /* twice */
  metrics_destroy(&m);
}

/* A table of families: added in order, each *out set; the first error
 * stops it, and the families before it stay. */
static void test_families(void) {
  metrics_t *m = NULL;
  CHECK(metrics_new(&m) == 0);
  metric_family_t *requests = NULL, *latency = NULL, *bad = NULL, *after = NULL;
  static const double bounds[] = {0.1, 1};
  const metric_family_spec_t specs[] = {
      {METRIC_COUNTER, "t_requests_total", "Requests.", "type", NULL, 0, &requests},
      {METRIC_HISTOGRAM, "t_latency_seconds", "Latency.", NULL, bounds, 2, &latency},
  };
  CHECK(metrics_add_families(m, specs, 2) == 0);
  CHECK(requests != NULL && latency != NULL);
  const char *v[] = {"lease"};
  metric_series_add(metric_family_series(requests, v), 2);
  metric_series_observe(metric_family_series(latency, NULL), 0.5);
  char *text = NULL;
  size_t len = 0;
  CHECK(metrics_render(m, &text, &len) == 0);
  CHECK(text != NULL && contains(text, "t_requests_total{type=\"lease\"} 2\n"));
  CHECK(text != NULL && contains(text, "t_latency_seconds_bucket{le=\"1\"} 1\n"));
  CHECK(text != NULL && strstr(text, "# TYPE t_requests_total") < strstr(text, "# TYPE t_latency"));
  free(text);
  const metric_family_spec_t broken[] = {
      {METRIC_GAUGE, "t_requests_total", "Twice.", NULL, NULL, 0, &bad},
      {METRIC_GAUGE, "t_after", "Never added.", NULL, NULL, 0, &after},
  };
  CHECK(metrics_add_families(m, broken, 2) == TALLY_E_INVALID_ARGUMENT);
  CHECK(bad == NULL && after == NULL);
  CHECK(metrics_add_families(m, broken + 1, 1) == 0 && after != NULL); /* not added before */
  metrics_destroy(&m);
}

/* A realistic page (process families, every type) through promtool. */
static void test_promtool(void) {
  const char *promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) != 0) {
    fprintf(stderr, "promtool not installed: skipping its check\n");
    return;
  }
  metrics_t *m = NULL;
  CHECK(metrics_new(&m) == 0);
  CHECK(metrics_add_process(m, "metrics_test") == 0);
  metric_family_t *c = NULL, *g = NULL, *h = NULL;
  CHECK(metrics_add(m, METRIC_COUNTER, "tally_test_requests_total", "Requests \"quoted\".",
                    "type,code", NULL, 0, &c) == 0);
  CHECK(metrics_add(m, METRIC_GAUGE, "tally_test_queue_depth", "Depth.", "market", NULL, 0, &g) ==
        0);
  CHECK(metrics_add(m, METRIC_HISTOGRAM, "tally_test_latency_seconds", "Latency.", "type",
                    METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N, &h) == 0);
  const char *v[] = {"lease", "OK"}, *mk[] = {"e\"s\\\n"}, *t[] = {"submit"};
  metric_series_add(metric_family_series(c, v), 7);
  metric_series_set(metric_family_series(g, mk), 3);
  metric_series_observe(metric_family_series(h, t), 0.0003);
  char *text = NULL;
  size_t len = 0;
  CHECK(metrics_render(m, &text, &len) == 0);
  char path[] = "/tmp/tally-metrics-test-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd >= 0) {
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s check metrics < %s", promtool, path);
    CHECK(system(cmd) == 0);
    unlink(path);
  }
  free(text);
  metrics_destroy(&m);
}

int main(void) {
  check_deadline(30, NULL);
  test_counter_and_escaping();
  test_histogram();
  test_collector();
  test_refusals();
  test_families();
  test_promtool();
  return check_summary();
}
