/* peer_args: the command line shared by the peer load generators
 * (beanstalk-bench, redis-bench): `PROGRAM COMMAND [options]` with the same
 * options, defaults and checks, so the peers are driven alike by bench/run.
 */
#ifndef TALLY_BENCH_PEER_ARGS_H
#define TALLY_BENCH_PEER_ARGS_H

#include <stdint.h>

#include "proc_sample.h"

typedef struct {
  const char *command, *host, *system, *scenario, *json;
  int port, connections, sessions, content_bytes;
  long jobs;
  double duration_s, warmup_s;
  proc_watch_t watch;
} peer_args_t;

/* Parses argv[2..] into *a (argv[1] is the command), with `system` as the
 * default --system; `program` prefixes error messages and `usage` is
 * printed for --help. Returns 0, 1 after --help (exit 0), or 2 after a
 * usage error was printed (exit 2). */
int peer_args_parse(int argc, char **argv, const char *program, const char *system,
                    const char *usage, peer_args_t *a);

/* Sleeps until latency_now_ns() reaches `when_ns` (at once when past). */
void peer_sleep_until(uint64_t when_ns);

#endif
