/* latency: see latency.h. */
#include "latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t latency_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

uint64_t latency_wall_ns(void) { return clock_ns(CLOCK_REALTIME); }

void latency_log_init(latency_log_t *log) { memset(log, 0, sizeof *log); }

void latency_log_reset(latency_log_t *log) {
  free(log->samples);
  latency_log_init(log);
}

static int latency_log_reserve(latency_log_t *log, size_t need) {
  if (need <= log->capacity) return 0;
  size_t capacity = log->capacity ? log->capacity : 4096;
  while (capacity < need) capacity *= 2;
  uint64_t *grown = realloc(log->samples, capacity * sizeof *grown);
  if (grown == NULL) return -1;
  log->samples = grown;
  log->capacity = capacity;
  return 0;
}

int latency_log_add(latency_log_t *log, uint64_t ns) {
  if (latency_log_reserve(log, log->count + 1) < 0) return -1;
  log->samples[log->count++] = ns;
  log->sorted = 0;
  return 0;
}

int latency_log_merge(latency_log_t *into, const latency_log_t *from) {
  if (from->count == 0) return 0;
  if (latency_log_reserve(into, into->count + from->count) < 0) return -1;
  memcpy(into->samples + into->count, from->samples, from->count * sizeof *from->samples);
  into->count += from->count;
  into->sorted = 0;
  return 0;
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void latency_log_sort(latency_log_t *log) {
  if (log->sorted) return;
  qsort(log->samples, log->count, sizeof *log->samples, compare_u64);
  log->sorted = 1;
}

uint64_t latency_log_quantile(latency_log_t *log, double q) {
  if (log->count == 0) return 0;
  latency_log_sort(log);
  if (q <= 0) return log->samples[0];
  /* Nearest rank: ceil(q * n), 1-based. */
  double rank = ceil(q * (double)log->count);
  size_t index = rank < 1 ? 0 : (size_t)rank - 1;
  if (index >= log->count) index = log->count - 1;
  return log->samples[index];
}

latency_summary_t latency_log_summary(latency_log_t *log) {
  latency_summary_t s;
  memset(&s, 0, sizeof s);
  if (log->count == 0) return s;
  latency_log_sort(log);
  double sum = 0;
  for (size_t i = 0; i < log->count; i++) sum += (double)log->samples[i];
  s.count = log->count;
  s.min = log->samples[0];
  s.max = log->samples[log->count - 1];
  s.mean = sum / (double)log->count;
  s.p50 = latency_log_quantile(log, 0.50);
  s.p90 = latency_log_quantile(log, 0.90);
  s.p99 = latency_log_quantile(log, 0.99);
  s.p999 = latency_log_quantile(log, 0.999);
  return s;
}
