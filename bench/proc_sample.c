/* proc_sample: see proc_sample.h. */
#include "proc_sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double proc_cpu_seconds(pid_t pid) {
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = '\0';
  /* The command name (field 2) may hold spaces: parse after its ')'. */
  const char *p = strrchr(line, ')');
  if (p == NULL) return -1;
  unsigned long utime = 0, stime = 0;
  /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15). */
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return -1;
  long ticks = sysconf(_SC_CLK_TCK);
  return (double)(utime + stime) / (double)(ticks > 0 ? ticks : 100);
}

int proc_memory_kb(pid_t pid, long *rss_kb, long *hwm_kb) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  *rss_kb = *hwm_kb = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) sscanf(line + 6, "%ld", rss_kb);
    if (strncmp(line, "VmHWM:", 6) == 0) sscanf(line + 6, "%ld", hwm_kb);
  }
  fclose(f);
  return *rss_kb >= 0 ? 0 : -1;
}

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu_seconds(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int proc_watch_add(proc_watch_t *w, const char *spec) {
  if (w->count == PROC_WATCH_MAX) {
    fprintf(stderr, "at most %d processes can be watched\n", PROC_WATCH_MAX);
    return -1;
  }
  const char *eq = strchr(spec, '=');
  const char *number = eq ? eq + 1 : spec;
  char *end;
  long pid = strtol(number, &end, 10);
  if (*number == '\0' || *end != '\0' || pid <= 0) {
    fprintf(stderr, "bad process '%s': want NAME=PID or PID\n", spec);
    return -1;
  }
  int i = w->count++;
  w->pids[i] = (pid_t)pid;
  if (eq)
    snprintf(w->names[i], sizeof w->names[i], "%.*s", (int)(eq - spec), spec);
  else
    snprintf(w->names[i], sizeof w->names[i], "pid-%ld", pid);
  return 0;
}

/* Busy (not idle or iowait) and steal seconds of the whole machine. */
static void machine_cpu_seconds(double *busy, double *steal) {
  *busy = *steal = -1;
  FILE *f = fopen("/proc/stat", "r");
  if (f == NULL) return;
  unsigned long long v[8] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n < 8) return;
  long ticks = sysconf(_SC_CLK_TCK);
  double hz = (double)(ticks > 0 ? ticks : 100);
  /* user nice system idle iowait irq softirq steal */
  *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
  *steal = (double)v[7] / hz;
}

void proc_watch_start(proc_watch_t *w) {
  for (int i = 0; i < w->count; i++) w->start[i] = proc_cpu_seconds(w->pids[i]);
  w->self_start = self_cpu_seconds();
  machine_cpu_seconds(&w->busy_start, &w->steal_start);
  w->start_ns = monotonic_ns();
}

void proc_watch_stop(proc_watch_t *w) {
  for (int i = 0; i < w->count; i++) w->stop[i] = proc_cpu_seconds(w->pids[i]);
  w->self_stop = self_cpu_seconds();
  machine_cpu_seconds(&w->busy_stop, &w->steal_stop);
  w->stop_ns = monotonic_ns();
}

static json_t *cpu_json(double start, double stop, double window_s) {
  if (start < 0 || stop < 0) return json_null();
  double used = stop - start;
  return json_pack("{s:f, s:f}", "cpu_s", used, "cores", window_s > 0 ? used / window_s : 0.0);
}

json_t *proc_watch_json(const proc_watch_t *w) {
  double window_s = (double)(w->stop_ns - w->start_ns) / 1e9;
  json_t *o = json_pack("{s:f}", "span_s", window_s);
  if (o == NULL) return NULL;
  for (int i = 0; i < w->count; i++)
    json_object_set_new(o, w->names[i], cpu_json(w->start[i], w->stop[i], window_s));
  json_object_set_new(o, "client", cpu_json(w->self_start, w->self_stop, window_s));
  json_object_set_new(o, "machine", cpu_json(w->busy_start, w->busy_stop, window_s));
  json_object_set_new(o, "steal", cpu_json(w->steal_start, w->steal_stop, window_s));
  /* Others: machine busy minus what the watched processes and we used. */
  double ours = w->self_stop - w->self_start;
  for (int i = 0; i < w->count; i++)
    if (w->start[i] >= 0 && w->stop[i] >= 0) ours += w->stop[i] - w->start[i];
  double others = w->busy_stop - w->busy_start - ours;
  json_object_set_new(o, "others", w->busy_start < 0 ? json_null()
                                                     : cpu_json(0, others > 0 ? others : 0, window_s));
  return o;
}

/* Microseconds of CPU per operation for `used` CPU seconds over the span. */
static json_t *per_op_json(double used, double span_s, double ops_per_s) {
  if (used < 0 || !(span_s > 0)) return json_null();
  return json_real(used / span_s / ops_per_s * 1e6);
}

json_t *proc_watch_per_op_json(const proc_watch_t *w, double ops_per_s) {
  if (!(ops_per_s > 0)) return NULL;
  double span_s = (double)(w->stop_ns - w->start_ns) / 1e9;
  json_t *o = json_object();
  if (o == NULL) return NULL;
  double servers = 0;
  int servers_known = 1;
  for (int i = 0; i < w->count; i++) {
    int known = w->start[i] >= 0 && w->stop[i] >= 0;
    double used = known ? w->stop[i] - w->start[i] : -1;
    json_object_set_new(o, w->names[i], per_op_json(used, span_s, ops_per_s));
    if (known)
      servers += used;
    else
      servers_known = 0;
  }
  int self_known = w->self_start >= 0 && w->self_stop >= 0;
  json_object_set_new(o, "generator",
                      per_op_json(self_known ? w->self_stop - w->self_start : -1, span_s, ops_per_s));
  json_object_set_new(o, "servers",
                      per_op_json(servers_known && w->count > 0 ? servers : -1, span_s, ops_per_s));
  return o;
}

void proc_watch_print_per_op(FILE *out, const proc_watch_t *w, double ops_per_s,
                             const char *op_name) {
  json_t *per_op = proc_watch_per_op_json(w, ops_per_s);
  if (per_op == NULL) return;
  fprintf(out, "  CPU per %s:", op_name);
  const char *name;
  json_t *v;
  int first = 1;
  json_object_foreach(per_op, name, v) {
    if (json_is_number(v))
      fprintf(out, "%s %s %.1f us", first ? "" : ",", name, json_number_value(v));
    else
      fprintf(out, "%s %s -", first ? "" : ",", name);
    first = 0;
  }
  fputc('\n', out);
  json_decref(per_op);
}
