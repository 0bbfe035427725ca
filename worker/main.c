/* tally-worker: serves labeling tasks for the slots it owns.
 * See docs/HACKING.md for the command line and README.md for the picture. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "metrics_http.h"
#include "tally_error.h"
#include "worker.h"

static const char usage[] =
    "usage: tally-worker --dir DIR --coordinator ENDPOINT [options]\n"
    "\n"
    "Serves the labeling tasks of the slots this worker owns. Every state change\n"
    "is written to RocksDB under DIR (WAL synced) before it is acknowledged.\n"
    "\n"
    "options:\n"
    "  --dir DIR               data directory (created if missing)\n"
    "  --coordinator ENDPOINT  coordinator to register with, e.g. tcp://127.0.0.1:7400;\n"
    "                          for replicated coordinators the comma-separated list of\n"
    "                          all of them: the worker follows the leader (NOT_LEADER\n"
    "                          names it; a silent one is left for the next after 1 s)\n"
    "  --bind ENDPOINT         where to serve (default tcp://127.0.0.1:0, a free port)\n"
    "  --advertise ENDPOINT    endpoint clients should use (default: the bound one)\n"
    "  --endpoint-file FILE    write the served endpoint to FILE once serving\n"
    "  --heartbeat-ms N        heartbeat interval (default 500)\n"
    "  --key FILE              this worker's CURVE key pair (default DIR/worker.key, made on\n"
    "                          first start, public half in DIR/worker.pub); an operator\n"
    "                          admits the public key: tally cluster admit KEY\n"
    "  --coordinator-key KEY   the coordinator's public key (40 Z85 characters, or a .pub\n"
    "                          file); required unless --insecure\n"
    "  --insecure              plain TCP, no keys: requests are trusted as they say who\n"
    "                          sends them (benchmarks, isolated test networks)\n"
    "  --max-leases N          live leases one person may hold on this worker (default 16)\n"
    "  --max-request-rate N    requests a second one connection may send (default 20000;\n"
    "                          more are answered RATE_LIMITED)\n"
    "  --metrics-listen HOST:PORT\n"
    "                          serve Prometheus metrics at http://HOST:PORT/metrics (e.g.\n"
    "                          127.0.0.1:9101, [::1]:9101; port 0 picks a free one, logged);\n"
    "                          off by default. Anyone who can connect may read them: listen\n"
    "                          on loopback or a monitoring network, never one labelers reach\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "  --config FILE           JSON object with any of the long options as keys;\n"
    "                          the command line wins\n"
    "  --help                  this text\n"
    "\n"
    "SIGTERM or SIGINT stops the worker cleanly.\n";

typedef struct {
  char *dir, *coordinator, *bind, *advertise, *endpoint_file, *log_level, *key_file;
  char *coordinator_key, *metrics_listen;
  long heartbeat_ms, max_leases, max_request_rate;
  int insecure;
} worker_args_t;

/* Frees the strings of `a` (safe on a zeroed or already freed one). */
static void worker_args_free(worker_args_t *a) {
  free(a->dir);
  free(a->coordinator);
  free(a->bind);
  free(a->advertise);
  free(a->endpoint_file);
  free(a->log_level);
  free(a->key_file);
  free(a->coordinator_key);
  free(a->metrics_listen);
  memset(a, 0, sizeof *a);
}

static int set_string(char **slot, const char *value, int overwrite) {
  if (*slot != NULL && !overwrite) return 0;
  free(*slot);
  *slot = strdup(value);
  return *slot ? 0 : -1;
}

static int apply_option(worker_args_t *a, const char *name, const char *value, int overwrite) {
  if (strcmp(name, "dir") == 0) return set_string(&a->dir, value, overwrite);
  if (strcmp(name, "coordinator") == 0) return set_string(&a->coordinator, value, overwrite);
  if (strcmp(name, "bind") == 0) return set_string(&a->bind, value, overwrite);
  if (strcmp(name, "advertise") == 0) return set_string(&a->advertise, value, overwrite);
  if (strcmp(name, "endpoint-file") == 0) return set_string(&a->endpoint_file, value, overwrite);
  if (strcmp(name, "log-level") == 0) return set_string(&a->log_level, value, overwrite);
  if (strcmp(name, "key") == 0) return set_string(&a->key_file, value, overwrite);
  if (strcmp(name, "metrics-listen") == 0) {
    struct sockaddr_storage addr;
    if (metrics_http_parse_address(value, &addr) < 0) {
      fprintf(stderr,
              "tally-worker: --metrics-listen wants HOST:PORT with a numeric address "
              "(127.0.0.1:9101, [::1]:9101), not '%s'\n",
              value);
      return -1;
    }
    return set_string(&a->metrics_listen, value, overwrite);
  }
  if (strcmp(name, "coordinator-key") == 0)
    return set_string(&a->coordinator_key, value, overwrite);
  if (strcmp(name, "insecure") == 0) {
    if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
      fprintf(stderr, "tally-worker: insecure must be true or false, got '%s'\n", value);
      return -1;
    }
    if (overwrite || !a->insecure) a->insecure = strcmp(value, "true") == 0;
    return 0;
  }
  if (strcmp(name, "max-request-rate") == 0) {
    if (a->max_request_rate != 0 && !overwrite) return 0;
    char *end;
    long v = strtol(value, &end, 10);
    if (*end != '\0' || v < 1 || v > 10000000) {
      fprintf(stderr, "tally-worker: --max-request-rate must be 1..10000000, got '%s'\n", value);
      return -1;
    }
    a->max_request_rate = v;
    return 0;
  }
  if (strcmp(name, "max-leases") == 0) {
    if (a->max_leases != 0 && !overwrite) return 0;
    char *end;
    long v = strtol(value, &end, 10);
    if (*end != '\0' || v < 1 || v > 100000) {
      fprintf(stderr, "tally-worker: --max-leases must be 1..100000, got '%s'\n", value);
      return -1;
    }
    a->max_leases = v;
    return 0;
  }
  if (strcmp(name, "heartbeat-ms") == 0) {
    if (a->heartbeat_ms != 0 && !overwrite) return 0;
    char *end;
    long v = strtol(value, &end, 10);
    if (*end != '\0' || v < 10 || v > 60000) {
      fprintf(stderr, "tally-worker: --heartbeat-ms must be 10..60000, got '%s'\n", value);
      return -1;
    }
    a->heartbeat_ms = v;
    return 0;
  }
  fprintf(stderr, "tally-worker: unknown option '%s'\n", name);
  return -1;
}

/* Fills options not given on the command line from a JSON config file. */
static int load_config_file(worker_args_t *a, const char *path) {
  json_error_t error;
  json_t *root = json_load_file(path, 0, &error);
  if (root == NULL || !json_is_object(root)) {
    fprintf(stderr, "tally-worker: %s:%d: %s\n", path, error.line,
            root ? "expected a JSON object" : error.text);
    json_decref(root);
    return -1;
  }
  const char *key;
  json_t *value;
  int rc = 0;
  json_object_foreach(root, key, value) {
    char text[64];
    const char *s = json_string_value(value);
    if (json_is_boolean(value)) s = json_is_true(value) ? "true" : "false";
    if (json_is_integer(value)) {
      snprintf(text, sizeof text, "%lld", (long long)json_integer_value(value));
      s = text;
    }
    if (s == NULL) {
      fprintf(stderr, "tally-worker: %s: value of '%s' must be a string or integer\n", path, key);
      rc = -1;
      break;
    }
    if (apply_option(a, key, s, 0) < 0) {
      rc = -1;
      break;
    }
  }
  json_decref(root);
  return rc;
}

static worker_t *running;

static void on_signal(uv_signal_t *handle, int signum) {
  log_info("signal %d: stopping", signum);
  worker_stop(running);
  uv_close((uv_handle_t *)handle, NULL);
  uv_signal_t *other = handle->data;
  if (!uv_is_closing((uv_handle_t *)other)) uv_close((uv_handle_t *)other, NULL);
}

int main(int argc, char **argv) {
  log_set_program("tally-worker");
  static const struct option long_options[] = {
      {"dir", required_argument, 0, 0},          {"coordinator", required_argument, 0, 0},
      {"bind", required_argument, 0, 0},         {"advertise", required_argument, 0, 0},
      {"endpoint-file", required_argument, 0, 0}, {"heartbeat-ms", required_argument, 0, 0},
      {"log-level", required_argument, 0, 0},    {"config", required_argument, 0, 0},
      {"key", required_argument, 0, 0},          {"coordinator-key", required_argument, 0, 0},
      {"insecure", no_argument, 0, 0},           {"max-leases", required_argument, 0, 0},
      {"max-request-rate", required_argument, 0, 0}, {"metrics-listen", required_argument, 0, 0},
      {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
  worker_args_t a = {0};
  const char *config_file = NULL;
  int index = 0, c, status = 2; /* every exit after this goes through `done` */
  while ((c = getopt_long(argc, argv, "h", long_options, &index)) != -1) {
    if (c == 'h') {
      fputs(usage, stdout);
      status = 0;
      goto done;
    }
    if (c != 0) {
      fputs(usage, stderr);
      goto done;
    }
    const char *name = long_options[index].name;
    if (strcmp(name, "config") == 0)
      config_file = optarg;
    else if (apply_option(&a, name, optarg ? optarg : "true", 1) < 0)
      goto done;
  }
  if (optind < argc) {
    fprintf(stderr, "tally-worker: unexpected argument '%s'\n%s", argv[optind], usage);
    goto done;
  }
  if (config_file && load_config_file(&a, config_file) < 0) goto done;
  if (a.dir == NULL || a.coordinator == NULL) {
    fprintf(stderr, "tally-worker: --dir and --coordinator are required\n%s", usage);
    goto done;
  }
  log_level_t level = LOG_INFO;
  if (a.log_level && log_parse_level(a.log_level, &level) < 0) {
    fprintf(stderr, "tally-worker: unknown log level '%s'\n", a.log_level);
    goto done;
  }
  log_set_level(level);
  if (!a.insecure && a.coordinator_key == NULL) {
    fprintf(stderr,
            "tally-worker: --coordinator-key is required (the coordinator's public key, e.g. "
            "its DIR/coordinator.pub), or --insecure for a cluster without keys\n");
    goto done;
  }

  /* A file size limit (ulimit -f) makes a write fail with EFBIG, which the
   * store treats as a full disk (worker.c, "disk full"), instead of killing
   * the worker with SIGXFSZ in the middle of a batch. */
  signal(SIGXFSZ, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  worker_options_t options = {a.dir, a.coordinator, a.bind ? a.bind : "tcp://127.0.0.1:0",
                              a.advertise, a.endpoint_file, (uint32_t)a.heartbeat_ms,
                              a.key_file, a.coordinator_key, a.insecure,
                              (uint32_t)a.max_leases, (uint32_t)a.max_request_rate,
                              a.metrics_listen};
  int rc = worker_new(&running, loop, &options);
  if (rc < 0) {
    log_error("cannot start: %s", tally_strerror(rc));
    worker_destroy(&running);
    status = 1;
    goto done;
  }
  uv_signal_t sigterm, sigint;
  uv_signal_init(loop, &sigterm);
  uv_signal_init(loop, &sigint);
  sigterm.data = &sigint;
  sigint.data = &sigterm;
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  worker_destroy(&running);
  uv_loop_close(loop);
  log_info("stopped");
  status = 0;
done:
  worker_args_free(&a);
  return status;
}
