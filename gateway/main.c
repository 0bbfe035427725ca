/* tally-gateway: the web console and JSON HTTP API of a Tally cluster
 * (docs/GATEWAY.md). Exit codes: 0 stopped by SIGINT/SIGTERM, 1 could not
 * start, 2 bad usage. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "log.h"
#include "metrics_http.h"

static const char usage[] =
    "Usage: tally-gateway [options]\n\n"
    "Serves the web console and the JSON HTTP API (docs/openapi.yaml) of a Tally\n"
    "cluster. People sign in with the password or API token the cluster keeps\n"
    "for them (tally labeler password, tally token create); the gateway acts\n"
    "for them with its own key, which must belong to a person with the gateway\n"
    "role (tally labeler add gw --roles gateway --public-key gw.pub). Several\n"
    "gateways may serve one cluster side by side: they share nothing but it.\n\n"
    "Options:\n"
    "  --listen HOST:PORT      address to serve (default 127.0.0.1:8080; port 0: any free)\n"
    "  --port-file FILE        write the port served to FILE once listening\n"
    "  --coordinator ENDPOINT  the cluster (default $TALLY_COORDINATOR, else " TALLY_DEFAULT_COORDINATOR ");\n"
    "                          replicated coordinators: a comma-separated list of all\n"
    "                          of them (the leader is found and followed)\n"
    "  --key FILE              the gateway's key pair (default $TALLY_KEY)\n"
    "  --coordinator-key KEY   the coordinator's public key or .pub file\n"
    "                          (default $TALLY_COORDINATOR_KEY)\n"
    "  --insecure              plain TCP to an --insecure cluster (tests, benchmarks)\n"
    "  --console-dir DIR       the console's files (default: `console` beside the program)\n"
    "  --tls-cert FILE         PEM certificate chain: serve HTTPS (with --tls-key)\n"
    "  --tls-key FILE          PEM private key of --tls-cert\n"
    "  --session-hours N       sign-in lifetime (default 12)\n"
    "  --login-failures N      failed sign-ins per person in the window before 429\n"
    "                          (default 5; per client address 4 times as many)\n"
    "  --login-window S        the window, seconds (default 300)\n"
    "  --metrics-listen HOST:PORT\n"
    "                          serve Prometheus metrics at http://HOST:PORT/metrics (e.g.\n"
    "                          127.0.0.1:9102; port 0 picks a free one, logged); off by\n"
    "                          default. Never the --listen address: anyone who can connect\n"
    "                          may read them, so listen on loopback or a monitoring network\n"
    "                          that labelers cannot reach (docs/OPERATIONS.md)\n"
    "  --pool N                blocking cluster handles and worker threads (default 4)\n"
    "  --timeout MS            reply timeout per cluster request (default 5000)\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "  -h, --help              this help\n";

enum {
  OPT_LISTEN = 1000, OPT_PORT_FILE, OPT_COORDINATOR, OPT_KEY, OPT_COORDINATOR_KEY, OPT_INSECURE,
  OPT_CONSOLE_DIR, OPT_TLS_CERT, OPT_TLS_KEY, OPT_SESSION_HOURS, OPT_LOGIN_FAILURES, OPT_LOGIN_WINDOW,
  OPT_POOL, OPT_TIMEOUT, OPT_LOG_LEVEL, OPT_METRICS_LISTEN
};

static int parse_number(const char *s, long min, long max, long *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (s[0] == '\0' || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static uv_loop_t loop;
static gateway_t gateway;
static uv_signal_t sigint_handle, sigterm_handle;

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  log_info("gateway: signal %d, stopping", signum);
  uv_stop(&loop);
}

/* `console` beside the program (build/bin/console, or the installed one). */
static void default_console_dir(char *out, size_t size) {
  char exe[PATH_MAX - 16];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(out, size, "console");
    return;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(out, size, "%s/console", exe);
}

int main(int argc, char **argv) {
  static const struct option options[] = {
      {"listen", required_argument, NULL, OPT_LISTEN},
      {"port-file", required_argument, NULL, OPT_PORT_FILE},
      {"coordinator", required_argument, NULL, OPT_COORDINATOR},
      {"key", required_argument, NULL, OPT_KEY},
      {"coordinator-key", required_argument, NULL, OPT_COORDINATOR_KEY},
      {"insecure", no_argument, NULL, OPT_INSECURE},
      {"console-dir", required_argument, NULL, OPT_CONSOLE_DIR},
      {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
      {"tls-key", required_argument, NULL, OPT_TLS_KEY},
      {"session-hours", required_argument, NULL, OPT_SESSION_HOURS},
      {"login-failures", required_argument, NULL, OPT_LOGIN_FAILURES},
      {"login-window", required_argument, NULL, OPT_LOGIN_WINDOW},
      {"pool", required_argument, NULL, OPT_POOL},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  log_set_program("tally-gateway");
  gateway_options_t o;
  memset(&o, 0, sizeof o);
  o.listen = "127.0.0.1:8080";
  o.session_hours = 12;
  o.login_failures = 5;
  o.login_window_s = 300;
  o.cluster.coordinator = getenv("TALLY_COORDINATOR") ? getenv("TALLY_COORDINATOR") : TALLY_DEFAULT_COORDINATOR;
  o.cluster.key_file = getenv("TALLY_KEY");
  o.cluster.coordinator_key = getenv("TALLY_COORDINATOR_KEY");
  o.cluster.pool_size = 4;
  const char *port_file = NULL;
  char console_dir[PATH_MAX];
  default_console_dir(console_dir, sizeof console_dir);
  o.console_dir = console_dir;
  int insecure = 0, c;
  long v = 0;
  while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
    int bad = 0;
    switch (c) {
      case OPT_LISTEN: o.listen = optarg; break;
      case OPT_PORT_FILE: port_file = optarg; break;
      case OPT_COORDINATOR: o.cluster.coordinator = optarg; break;
      case OPT_KEY: o.cluster.key_file = optarg; break;
      case OPT_COORDINATOR_KEY: o.cluster.coordinator_key = optarg; break;
      case OPT_INSECURE: insecure = 1; break;
      case OPT_CONSOLE_DIR: o.console_dir = optarg; break;
      case OPT_TLS_CERT: o.tls_cert = optarg; break;
      case OPT_TLS_KEY: o.tls_key = optarg; break;
      case OPT_SESSION_HOURS: bad = parse_number(optarg, 1, 720, &v); o.session_hours = (uint32_t)v; break;
      case OPT_LOGIN_FAILURES: bad = parse_number(optarg, 1, 1000, &v); o.login_failures = (uint32_t)v; break;
      case OPT_LOGIN_WINDOW: bad = parse_number(optarg, 1, 86400, &v); o.login_window_s = (uint32_t)v; break;
      case OPT_POOL: bad = parse_number(optarg, 1, 64, &v); o.cluster.pool_size = (int)v; break;
      case OPT_TIMEOUT: bad = parse_number(optarg, 1, 600000, &v); o.cluster.timeout_ms = (int)v; break;
      case OPT_METRICS_LISTEN: {
        struct sockaddr_storage addr;
        bad = metrics_http_parse_address(optarg, &addr);
        o.metrics_listen = optarg;
        break;
      }
      case OPT_LOG_LEVEL: {
        log_level_t level;
        bad = log_parse_level(optarg, &level);
        if (!bad) log_set_level(level);
        break;
      }
      case 'h': fputs(usage, stdout); return 0;
      default: fputs(usage, stderr); return 2;
    }
    if (bad) {
      fprintf(stderr, "tally-gateway: bad value for --%s: %s\n", options[c - OPT_LISTEN].name, optarg);
      return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "tally-gateway: unexpected argument %s (try --help)\n", argv[optind]);
    return 2;
  }
  if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
    fprintf(stderr, "tally-gateway: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (insecure) {
    o.cluster.key_file = NULL;
    log_warn("gateway: --insecure: plain TCP to the cluster");
  } else if (o.cluster.key_file == NULL || o.cluster.coordinator_key == NULL) {
    fprintf(stderr, "tally-gateway: give --key and --coordinator-key (or TALLY_KEY and "
                    "TALLY_COORDINATOR_KEY), or --insecure\n");
    return 2;
  }
  /* Blocking cluster calls and password checks run in libuv's pool. */
  char threads[16];
  snprintf(threads, sizeof threads, "%d", o.cluster.pool_size);
  setenv("UV_THREADPOOL_SIZE", threads, 1);
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  if (gateway_start(&gateway, &loop, &o) < 0) {
    gateway_stop(&gateway);
    uv_run(&loop, UV_RUN_NOWAIT);
    return 1;
  }
  struct sockaddr_storage addr;
  int len = sizeof addr;
  int port = 0;
  if (uv_tcp_getsockname(&gateway.listener, (struct sockaddr *)&addr, &len) == 0)
    port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
  if (port_file != NULL) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
      log_error("gateway: cannot write --port-file %s", port_file);
      return 1;
    }
  }
  log_info("gateway: listening on port %d", port);
  uv_signal_init(&loop, &sigint_handle);
  uv_signal_init(&loop, &sigterm_handle);
  uv_signal_start(&sigint_handle, on_signal, SIGINT);
  uv_signal_start(&sigterm_handle, on_signal, SIGTERM);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&sigint_handle, NULL);
  uv_close((uv_handle_t *)&sigterm_handle, NULL);
  gateway_stop(&gateway);
  uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
