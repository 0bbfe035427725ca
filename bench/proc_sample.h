/* proc_sample: CPU time and memory of a process, read from /proc.
 *
 * The benchmarks run clients and servers on the same machine; the CPU each
 * process used during the measurement window shows who the machine was
 * busy for, and the worker's resident memory is a target of its own.
 */
#ifndef BENCH_PROC_SAMPLE_H
#define BENCH_PROC_SAMPLE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PROC_WATCH_MAX 8

/* User + system CPU seconds used so far by process `pid` (its threads
 * included). Returns the seconds, or -1 when the process cannot be read. */
double proc_cpu_seconds(pid_t pid);

/* VmRSS and VmHWM (peak) of `pid` in kB. Returns 0, or -1 when the
 * process cannot be read. */
int proc_memory_kb(pid_t pid, long *rss_kb, long *hwm_kb);

/* The CPU several processes (and this one) used between a start and a
 * stop: for the run record's "cpu" object. */
typedef struct {
  int count;
  pid_t pids[PROC_WATCH_MAX];
  char names[PROC_WATCH_MAX][32];
  double start[PROC_WATCH_MAX], stop[PROC_WATCH_MAX];
  double self_start, self_stop;
  double busy_start, busy_stop;   /* whole machine: CPU seconds not idle */
  double steal_start, steal_stop; /* whole machine: stolen by the hypervisor */
  uint64_t start_ns, stop_ns;     /* monotonic */
} proc_watch_t;

/* Adds a process given as "NAME=PID" or "PID". Returns 0, or -1 (bad
 * spec, or PROC_WATCH_MAX reached; message on stderr). */
int proc_watch_add(proc_watch_t *w, const char *spec);

/* Samples every watched process and this one. */
void proc_watch_start(proc_watch_t *w);
void proc_watch_stop(proc_watch_t *w);

/* {"span_s", "NAME": {"cpu_s", "cores"}, ..., "client": {...},
 * "machine": {...}, "others": {...}, "steal": {...}}: CPU seconds between
 * start and stop, and that divided by the time between them. "machine" is
 * every CPU of the machine that was not idle; "others" is that minus the
 * watched processes and this one (other load that competed with the run);
 * "steal" is time the hypervisor gave to other guests. New reference or
 * NULL. */
json_t *proc_watch_json(const proc_watch_t *w);

/* CPU microseconds per operation between start and stop, at `ops_per_s`
 * operations a second (the run's throughput over its window):
 * {"NAME": us, ... for every watched process, "generator": us (this
 * process), "servers": us (the watched processes together)}. A process
 * that could not be read is null. For the "cpu_us_per_cycle" of a cycle
 * record: the figure other load on a shared machine disturbs least. New
 * reference, or NULL when there is no rate (ops_per_s <= 0). */
json_t *proc_watch_per_op_json(const proc_watch_t *w, double ops_per_s);

/* One line: "  CPU per OP_NAME: NAME 12.3 us, ..., generator 4.5 us". */
void proc_watch_print_per_op(FILE *out, const proc_watch_t *w, double ops_per_s,
                             const char *op_name);

#endif
