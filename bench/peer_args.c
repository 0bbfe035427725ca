/* peer_args: the peers' shared command line. See peer_args.h. */
#include "peer_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latency.h"

static int number(const char *program, const char *name, const char *text, double min, double max,
                  double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || *text == '\0' || *end != '\0' || !(v >= min && v <= max)) {
    fprintf(stderr, "%s: --%s must be a number in %g..%g, got '%s'\n", program, name, min, max,
            text);
    return -1;
  }
  *out = v;
  return 0;
}

int peer_args_parse(int argc, char **argv, const char *program, const char *system,
                    const char *usage, peer_args_t *a) {
  static const struct option options[] = {
      {"host", required_argument, 0, 'H'},     {"port", required_argument, 0, 'p'},
      {"system", required_argument, 0, 'S'},   {"scenario", required_argument, 0, 's'},
      {"json", required_argument, 0, 'j'},     {"connections", required_argument, 0, 'c'},
      {"sessions", required_argument, 0, 'n'}, {"jobs", required_argument, 0, 'J'},
      {"content-bytes", required_argument, 0, 'b'}, {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},   {"watch", required_argument, 0, 'W'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  memset(a, 0, sizeof *a);
  a->host = "127.0.0.1";
  a->system = system;
  a->connections = 4;
  a->sessions = 256;
  a->jobs = 100000;
  a->content_bytes = 100;
  a->duration_s = 10;
  a->warmup_s = 1;
  a->command = argv[1];
  optind = 2;
  int c;
  double v;
  while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
    int rc = 0;
    switch (c) {
      case 'H': a->host = optarg; break;
      case 'S': a->system = optarg; break;
      case 's': a->scenario = optarg; break;
      case 'j': a->json = optarg; break;
      case 'W': rc = proc_watch_add(&a->watch, optarg); break;
      case 'p': rc = number(program, "port", optarg, 1, 65535, &v); a->port = (int)v; break;
      case 'c': rc = number(program, "connections", optarg, 1, 256, &v); a->connections = (int)v; break;
      case 'n': rc = number(program, "sessions", optarg, 1, 100000, &v); a->sessions = (int)v; break;
      case 'J': rc = number(program, "jobs", optarg, 1, 1e9, &v); a->jobs = (long)v; break;
      case 'b':
        rc = number(program, "content-bytes", optarg, 0, 65000, &v);
        a->content_bytes = (int)v;
        break;
      case 'd': rc = number(program, "duration", optarg, 0, 86400, &a->duration_s); break;
      case 'w': rc = number(program, "warmup", optarg, 0, 86400, &a->warmup_s); break;
      case 'h': fputs(usage, stdout); return 1;
      default: return 2;
    }
    if (rc < 0) return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s'\n", program, argv[optind]);
    return 2;
  }
  if (a->port == 0) {
    fprintf(stderr, "%s: --port is required\n", program);
    return 2;
  }
  if (a->sessions < a->connections) {
    fprintf(stderr, "%s: need at least one session per connection\n", program);
    return 2;
  }
  if (a->scenario == NULL) a->scenario = a->command;
  return 0;
}

void peer_sleep_until(uint64_t when_ns) {
  uint64_t now = latency_now_ns();
  if (when_ns <= now) return;
  uint64_t left = when_ns - now;
  struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}
