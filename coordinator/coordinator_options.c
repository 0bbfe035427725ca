/* coordinator_options: command line and config file. See coordinator_options.h. */
#include "coordinator_options.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "curve.h"
#include "metrics_http.h"
#include "ramp.h"
#include "raft_peers.h"
#include "tally_error.h"

/* Long option ids (getopt_long's val; non-zero and above any short option
 * letter). The first OPTION_KEY_COUNT take a value and are also the keys of
 * the config file; they come first in long_options[], in this order. */
typedef enum {
  OPTION_DIR = 256,
  OPTION_BIND,
  OPTION_ENDPOINT_FILE,
  OPTION_HEARTBEAT_TIMEOUT_MS,
  OPTION_EXPECT_WORKERS,
  OPTION_RAMP_PERIOD_MS,
  OPTION_KEY,
  OPTION_OPERATOR_KEY,
  OPTION_INSECURE,
  OPTION_METRICS_LISTEN,
  OPTION_RAFT_ID,
  OPTION_RAFT_LISTEN,
  OPTION_PEERS,
  OPTION_REPLICAS,
  OPTION_LOG_LEVEL,
  OPTION_CONFIG,
  OPTION_HELP
} option_id_t;

#define OPTION_KEY_COUNT (OPTION_LOG_LEVEL - OPTION_DIR + 1)

static const struct option long_options[] = {
    {"dir", required_argument, NULL, OPTION_DIR},
    {"bind", required_argument, NULL, OPTION_BIND},
    {"endpoint-file", required_argument, NULL, OPTION_ENDPOINT_FILE},
    {"heartbeat-timeout-ms", required_argument, NULL, OPTION_HEARTBEAT_TIMEOUT_MS},
    {"expect-workers", required_argument, NULL, OPTION_EXPECT_WORKERS},
    {"ramp-period-ms", required_argument, NULL, OPTION_RAMP_PERIOD_MS},
    {"key", required_argument, NULL, OPTION_KEY},
    {"operator-key", required_argument, NULL, OPTION_OPERATOR_KEY},
    {"insecure", no_argument, NULL, OPTION_INSECURE},
    {"metrics-listen", required_argument, NULL, OPTION_METRICS_LISTEN},
    {"raft-id", required_argument, NULL, OPTION_RAFT_ID},
    {"raft-listen", required_argument, NULL, OPTION_RAFT_LISTEN},
    {"peers", required_argument, NULL, OPTION_PEERS},
    {"replicas", required_argument, NULL, OPTION_REPLICAS},
    {"log-level", required_argument, NULL, OPTION_LOG_LEVEL},
    {"config", required_argument, NULL, OPTION_CONFIG},
    {"help", no_argument, NULL, OPTION_HELP},
    {NULL, 0, NULL, 0},
};

void coordinator_options_usage(FILE *out) {
  fprintf(out,
          "usage: tally-coordinator --dir DIR [options]\n"
          "\n"
          "Runs the Tally coordinator: slot map, worker membership, projects and labelers.\n"
          "\n"
          "  --dir DIR                  data directory (metadata store in DIR/meta); required\n"
          "  --bind ENDPOINT            ZeroMQ endpoint to serve (default %s;\n"
          "                             port 0 picks a free port)\n"
          "  --endpoint-file FILE       write the bound endpoint to FILE once serving\n"
          "  --heartbeat-timeout-ms MS  declare a worker DOWN after MS without a heartbeat\n"
          "                             (default %u, %u..%u)\n"
          "  --expect-workers N         a fresh cluster waits (up to 10 s) for N workers before\n"
          "                             it hands out the slots, so they are balanced over all\n"
          "                             N (default 1, 1..1024)\n"
          "  --ramp-period-ms MS        gather every worker's ramp-up sums every MS and take\n"
          "                             who qualifies out of ramp-up (default %u, 0 = never:\n"
          "                             nobody leaves ramp-up; 0..3600000)\n"
          "  --key FILE                 this coordinator's CURVE key pair (default DIR/coordinator.key,\n"
          "                             made on first start; its public half beside it, .pub)\n"
          "  --operator-key KEY|FILE    the public key of the first operator: the person\n"
          "                             'operator' is created (or re-keyed) with the operator\n"
          "                             role, to admit workers and add people\n"
          "  --insecure                 plain TCP, no keys: every caller is trusted as the\n"
          "                             request says (benchmarks and isolated test networks)\n"
          "  --metrics-listen HOST:PORT serve Prometheus metrics at http://HOST:PORT/metrics\n"
          "                             (e.g. 127.0.0.1:9100, [::1]:9100; port 0 picks a free\n"
          "                             one, logged); off by default. Anyone who can connect\n"
          "                             may read them: listen on loopback or a monitoring\n"
          "                             network, never one labelers reach\n"
          "  --raft-id N                run as coordinator N of a replicated group (Raft):\n"
          "                             needs --peers, which must list N. Without it the\n"
          "                             coordinator runs alone\n"
          "  --peers LIST               every coordinator of the group, the same list on\n"
          "                             each: ID=RAFT_HOST:PORT=CLIENT_ENDPOINT,... e.g.\n"
          "                             1=10.0.0.1:7411=tcp://10.0.0.1:7400,2=...,3=...\n"
          "                             (3 or 5 coordinators; 1..7 accepted). RAFT_HOST:PORT\n"
          "                             is where the others reach its Raft log (unauthenticated\n"
          "                             TCP: keep it on a private network, docs/SECURITY.md);\n"
          "                             CLIENT_ENDPOINT is its --bind (the default --bind),\n"
          "                             named to clients that ask a follower (NOT_LEADER).\n"
          "                             All share one key pair (--key): the cluster's\n"
          "                             coordinator key. Start every member with an empty\n"
          "                             --dir: the group bootstraps on first start; the\n"
          "                             Raft log lives in DIR/raft\n"
          "  --raft-listen HOST:PORT    address to bind the Raft transport (IPv4; the port\n"
          "                             must be this member's port in --peers; default its\n"
          "                             RAFT_HOST:PORT, e.g. 0.0.0.0:7411 inside a container)\n"
          "  --replicas R               copies of every slot: its primary and R-1 followers\n"
          "                             on other workers; a reply waits until every in-sync\n"
          "                             follower holds the write, and a follower takes over\n"
          "                             when the primary misses its heartbeats (default %u,\n"
          "                             1..%u; 1: no followers; docs/REPLICATION.md)\n"
          "  --log-level LEVEL          error, warn, info (default) or debug\n"
          "  --config FILE              JSON object with the same keys as the long options\n"
          "                             (e.g. {\"dir\": \"/var/lib/tally\"});\n"
          "                             the command line wins\n"
          "  --help                     print this text and exit\n"
          "\n"
          "SIGTERM or SIGINT stops the daemon cleanly (exit 0). Exit status 2: bad usage.\n",
          COORDINATOR_DEFAULT_BIND, COORDINATOR_DEFAULT_HEARTBEAT_TIMEOUT_MS,
          COORDINATOR_MIN_HEARTBEAT_TIMEOUT_MS, COORDINATOR_MAX_HEARTBEAT_TIMEOUT_MS,
          RAMP_GATHER_PERIOD_MS, COORDINATOR_DEFAULT_REPLICAS, COORDINATOR_MAX_REPLICAS);
}

__attribute__((format(printf, 3, 4))) static int usage_error(char *why, size_t why_size,
                                                             const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_size, fmt, ap);
  va_end(ap);
  return TALLY_E_INVALID_ARGUMENT;
}

/* Replaces the string *field with a copy of value. */
static int set_string(char **field, const char *value, char *why, size_t why_size) {
  char *copy = strdup(value);
  if (copy == NULL) return usage_error(why, why_size, "out of memory");
  free(*field);
  *field = copy;
  return 0;
}

static int parse_timeout(const char *value, uint64_t *out, char *why, size_t why_size) {
  char *end = NULL;
  unsigned long long n = 0;
  if (value[0] >= '0' && value[0] <= '9') n = strtoull(value, &end, 10);
  if (end == NULL || *end != '\0' || n < COORDINATOR_MIN_HEARTBEAT_TIMEOUT_MS ||
      n > COORDINATOR_MAX_HEARTBEAT_TIMEOUT_MS)
    return usage_error(why, why_size,
                       "--heartbeat-timeout-ms wants milliseconds in %u..%u, not '%s'",
                       COORDINATOR_MIN_HEARTBEAT_TIMEOUT_MS, COORDINATOR_MAX_HEARTBEAT_TIMEOUT_MS,
                       value);
  *out = n;
  return 0;
}

/* Applies option `id` with `value` (from argv or the config file). */
static int apply_option(coordinator_options_t *o, option_id_t id, const char *value, char *why,
                        size_t why_size) {
  switch (id) {
    case OPTION_DIR:
      if (value[0] == '\0') return usage_error(why, why_size, "--dir is empty");
      return set_string(&o->dir, value, why, why_size);
    case OPTION_BIND:
      if (value[0] == '\0') return usage_error(why, why_size, "--bind is empty");
      return set_string(&o->bind, value, why, why_size);
    case OPTION_ENDPOINT_FILE:
      if (value[0] == '\0') return usage_error(why, why_size, "--endpoint-file is empty");
      return set_string(&o->endpoint_file, value, why, why_size);
    case OPTION_HEARTBEAT_TIMEOUT_MS:
      return parse_timeout(value, &o->heartbeat_timeout_ms, why, why_size);
    case OPTION_EXPECT_WORKERS: {
      char *end = NULL;
      unsigned long n = strtoul(value, &end, 10);
      if (value[0] < '0' || value[0] > '9' || *end != '\0' || n < 1 || n > 1024)
        return usage_error(why, why_size, "--expect-workers wants a number in 1..1024, not '%s'",
                           value);
      o->expect_workers = (uint32_t)n;
      return 0;
    }
    case OPTION_RAMP_PERIOD_MS: {
      char *end = NULL;
      unsigned long long n = strtoull(value, &end, 10);
      if (value[0] < '0' || value[0] > '9' || *end != '\0' || n > 3600000)
        return usage_error(why, why_size, "--ramp-period-ms wants milliseconds in 0..3600000, not '%s'",
                           value);
      o->ramp_period_ms = n;
      return 0;
    }
    case OPTION_KEY:
      if (value[0] == '\0') return usage_error(why, why_size, "--key is empty");
      return set_string(&o->key_file, value, why, why_size);
    case OPTION_OPERATOR_KEY:
      if (curve_public_parse(o->operator_key, value) < 0)
        return usage_error(why, why_size,
                           "--operator-key wants a CURVE public key (40 Z85 characters) or a "
                           ".pub/.key file holding one, not '%s'",
                           value);
      return 0;
    case OPTION_INSECURE:
      if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return usage_error(why, why_size, "insecure wants true or false");
      o->insecure = strcmp(value, "true") == 0;
      return 0;
    case OPTION_METRICS_LISTEN: {
      struct sockaddr_storage addr;
      if (metrics_http_parse_address(value, &addr) < 0)
        return usage_error(why, why_size,
                           "--metrics-listen wants HOST:PORT with a numeric address (127.0.0.1:9100, "
                           "[::1]:9100), not '%s'",
                           value);
      return set_string(&o->metrics_listen, value, why, why_size);
    }
    case OPTION_RAFT_ID: {
      char *end = NULL;
      unsigned long long n = strtoull(value, &end, 10);
      if (value[0] < '1' || value[0] > '9' || *end != '\0' || n > RAFT_PEERS_MAX_ID)
        return usage_error(why, why_size, "--raft-id wants a number in 1..%u, not '%s'",
                           RAFT_PEERS_MAX_ID, value);
      o->raft_id = n;
      return 0;
    }
    case OPTION_RAFT_LISTEN:
      if (value[0] == '\0' || strchr(value, ':') == NULL)
        return usage_error(why, why_size, "--raft-listen wants HOST:PORT, not '%s'", value);
      return set_string(&o->raft_listen, value, why, why_size);
    case OPTION_PEERS:
      return raft_peers_parse(&o->peers, value, why, why_size);
    case OPTION_REPLICAS: {
      char *end = NULL;
      unsigned long n = strtoul(value, &end, 10);
      if (value[0] < '0' || value[0] > '9' || *end != '\0' || n < 1 ||
          n > COORDINATOR_MAX_REPLICAS)
        return usage_error(why, why_size, "--replicas wants a number in 1..%u, not '%s'",
                           COORDINATOR_MAX_REPLICAS, value);
      o->replicas = (uint32_t)n;
      return 0;
    }
    case OPTION_LOG_LEVEL:
      if (log_parse_level(value, &o->log_level) < 0)
        return usage_error(why, why_size,
                           "--log-level wants error, warn, info or debug, not '%s'", value);
      return 0;
    default:
      return usage_error(why, why_size, "option %d takes no value", (int)id);
  }
}

/* The option whose long name is `key` ('_' standing for '-'), or -1. */
static int option_by_key(const char *key) {
  char name[64];
  size_t len = strlen(key);
  if (len >= sizeof name) return -1;
  for (size_t i = 0; i <= len; i++) name[i] = key[i] == '_' ? '-' : key[i];
  for (int i = 0; i < OPTION_KEY_COUNT; i++)
    if (strcmp(long_options[i].name, name) == 0) return long_options[i].val;
  return -1;
}

/* Applies the keys of the JSON config file not already given on the
 * command line (given[id - OPTION_DIR] set). */
static int apply_config_file(coordinator_options_t *o, const int *given, char *why,
                             size_t why_size) {
  json_error_t error;
  json_t *root = json_load_file(o->config_file, JSON_REJECT_DUPLICATES, &error);
  if (root == NULL)
    return usage_error(why, why_size, "cannot read config file %s: line %d: %s", o->config_file,
                       error.line, error.text);
  int rc = 0;
  const char *key;
  json_t *value;
  if (!json_is_object(root)) {
    rc = usage_error(why, why_size, "config file %s must hold a JSON object", o->config_file);
    goto done;
  }
  json_object_foreach(root, key, value) {
    int id = option_by_key(key);
    char number[32];
    const char *text = NULL;
    if (id < 0) {
      rc = usage_error(why, why_size, "config file %s: unknown key '%s'", o->config_file, key);
      goto done;
    }
    if (json_is_string(value)) {
      text = json_string_value(value);
    } else if (json_is_boolean(value) && id == OPTION_INSECURE) {
      text = json_is_true(value) ? "true" : "false";
    } else if (json_is_integer(value) && (id == OPTION_HEARTBEAT_TIMEOUT_MS || id == OPTION_RAFT_ID ||
                                          id == OPTION_REPLICAS)) {
      snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
      text = number;
    } else {
      rc = usage_error(why, why_size, "config file %s: key '%s' wants a %s", o->config_file, key,
                       id == OPTION_HEARTBEAT_TIMEOUT_MS || id == OPTION_RAFT_ID || id == OPTION_REPLICAS
                           ? "number"
                       : id == OPTION_INSECURE            ? "boolean"
                                                          : "string");
      goto done;
    }
    if (given[id - OPTION_DIR]) continue;
    rc = apply_option(o, (option_id_t)id, text, why, why_size);
    if (rc < 0) goto done;
  }
done:
  json_decref(root);
  return rc;
}

int coordinator_options_parse(coordinator_options_t *o, int argc, char **argv, char *why,
                              size_t why_size) {
  int given[OPTION_KEY_COUNT] = {0};
  memset(o, 0, sizeof *o);
  o->heartbeat_timeout_ms = COORDINATOR_DEFAULT_HEARTBEAT_TIMEOUT_MS;
  o->expect_workers = 1;
  o->replicas = COORDINATOR_DEFAULT_REPLICAS;
  o->ramp_period_ms = RAMP_GATHER_PERIOD_MS;
  o->log_level = LOG_INFO;
  optind = 0; /* glibc: full reset, so parse can run more than once */
  opterr = 0;
  int c, rc;
  while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
    switch (c) {
      case 'h':
      case OPTION_HELP:
        o->help = 1;
        return 0;
      case OPTION_CONFIG:
        rc = set_string(&o->config_file, optarg, why, why_size);
        break;
      case OPTION_INSECURE:
        given[c - OPTION_DIR] = 1;
        rc = apply_option(o, (option_id_t)c, "true", why, why_size);
        break;
      case ':':
        return usage_error(why, why_size, "option %s needs a value", argv[optind - 1]);
      case '?':
        return usage_error(why, why_size, "unknown option %s", argv[optind - 1]);
      default:
        given[c - OPTION_DIR] = 1;
        rc = apply_option(o, (option_id_t)c, optarg, why, why_size);
        break;
    }
    if (rc < 0) return rc;
  }
  if (optind < argc) return usage_error(why, why_size, "unexpected argument '%s'", argv[optind]);
  if (o->config_file != NULL && (rc = apply_config_file(o, given, why, why_size)) < 0) return rc;
  if (o->dir == NULL) return usage_error(why, why_size, "--dir is required");
  if (o->raft_id == 0 && (o->peers.count > 0 || o->raft_listen != NULL))
    return usage_error(why, why_size, "--peers and --raft-listen need --raft-id");
  if (o->raft_id != 0) {
    if (o->peers.count == 0) return usage_error(why, why_size, "--raft-id needs --peers");
    const raft_peer_t *self = raft_peers_find(&o->peers, o->raft_id);
    if (self == NULL)
      return usage_error(why, why_size, "--raft-id %llu is not in --peers",
                         (unsigned long long)o->raft_id);
    if (o->bind == NULL) return set_string(&o->bind, self->client_endpoint, why, why_size);
  }
  if (o->bind == NULL) return set_string(&o->bind, COORDINATOR_DEFAULT_BIND, why, why_size);
  return 0;
}

void coordinator_options_free(coordinator_options_t *o) {
  free(o->dir);
  free(o->bind);
  free(o->endpoint_file);
  free(o->metrics_listen);
  free(o->config_file);
  free(o->key_file);
  free(o->raft_listen);
  memset(o, 0, sizeof *o);
}
