/* run_record: the JSON record one benchmark run leaves behind.
 *
 * Every program of bench/ describes each run it made as one JSON object:
 *   {"tool", "system", "scenario", "phase", "transport", "config": {...},
 *    "window_s", "rate_per_s", "unit", "ops": {"lease": {...}, ...}, ...}
 * bench-report reads a directory of them and computes medians, ratios and
 * target verdicts (docs/PERFORMANCE.md, "Result file").
 */
#ifndef BENCH_RUN_RECORD_H
#define BENCH_RUN_RECORD_H

#include <jansson.h>

/* A new record with its identifying fields and an empty "config" and
 * "ops". `transport` says how the generator reached the system: "curve"
 * (CurveZMQ), "tcp" (plain TCP: Tally started --insecure, or the peer's
 * protocol) or "none" (no network); bench-report keeps the transports
 * apart and compares them. NULL when out of memory. */
json_t *run_record_new(const char *tool, const char *system, const char *scenario,
                       const char *phase, const char *transport);

/* The record's "config" object (borrowed). */
json_t *run_record_config(json_t *record);

/* The record's "ops" object (borrowed). */
json_t *run_record_ops(json_t *record);

/* Writes the record to `path` ("-": stdout; NULL: nowhere), indented, with
 * a final newline. Returns 0 or -1 (message on stderr). */
int run_record_write(json_t *record, const char *path);

#endif
