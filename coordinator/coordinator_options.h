/* coordinator_options: the command line and --config file of
 * tally-coordinator.
 *
 *   tally-coordinator --dir DIR [--bind tcp://127.0.0.1:7400]
 *                     [--endpoint-file FILE] [--heartbeat-timeout-ms 2000]
 *                     [--key FILE] [--operator-key KEY] [--insecure]
 *                     [--metrics-listen HOST:PORT] [--replicas 2]
 *                     [--raft-id N --peers LIST [--raft-listen HOST:PORT]]
 *                     [--log-level info] [--config FILE]
 *
 * --config FILE names a JSON object whose keys are the long options without
 * dashes in front ("dir", "bind", "endpoint-file", "heartbeat-timeout-ms",
 * "log-level", "key", "operator-key", "insecure", "metrics-listen", "replicas",
 * "raft-id", "raft-listen", "peers"; '_' may stand for '-');
 * values are strings, an integer for heartbeat-timeout-ms, replicas or raft-id, a boolean for
 * insecure. An option given on the command line wins over the
 * file. Unknown keys are refused, so a typo does not go unnoticed.
 */
#ifndef TALLY_COORDINATOR_OPTIONS_H
#define TALLY_COORDINATOR_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "raft_peers.h"

#define COORDINATOR_DEFAULT_BIND "tcp://127.0.0.1:7400"
#define COORDINATOR_DEFAULT_HEARTBEAT_TIMEOUT_MS 2000u
#define COORDINATOR_MIN_HEARTBEAT_TIMEOUT_MS 10u
#define COORDINATOR_MAX_HEARTBEAT_TIMEOUT_MS 86400000u
#define COORDINATOR_DEFAULT_REPLICAS 2u
#define COORDINATOR_MAX_REPLICAS 5u

typedef struct {
  char *dir;           /* required */
  char *bind;          /* default COORDINATOR_DEFAULT_BIND */
  char *endpoint_file; /* NULL: none */
  char *config_file;   /* NULL: none */
  uint64_t heartbeat_timeout_ms;
  uint32_t expect_workers; /* a fresh cluster waits for this many (default 1) */
  uint64_t ramp_period_ms; /* ramp-up gathers (common/ramp.h); 0 = none */
  char *key_file;          /* NULL: DIR/coordinator.key */
  char operator_key[41];   /* Z85 or "" */
  int insecure;            /* --insecure: plain TCP, no identities */
  char *metrics_listen;    /* HOST:PORT for GET /metrics; NULL: off */
  uint64_t raft_id;        /* --raft-id; 0: not replicated (runs alone) */
  char *raft_listen;       /* --raft-listen; NULL: own address in peers */
  raft_peers_t peers;      /* --peers (raft_peers.h); count 0 without */
  uint32_t replicas;       /* copies per slot, 1..COORDINATOR_MAX_REPLICAS (replica_set.h) */
  log_level_t log_level;
  int help; /* --help was given: print usage, exit 0 */
} coordinator_options_t;

/* Parses argv (and the --config file it names) into *options, which the
 * caller frees with coordinator_options_free() whatever the result.
 * Returns 0 (options complete, or options->help set) or
 * TALLY_E_INVALID_ARGUMENT with a one-line reason in why[why_size].
 * Reentrant with respect to getopt state (resets optind). */
int coordinator_options_parse(coordinator_options_t *options, int argc, char **argv, char *why,
                              size_t why_size);

/* Frees the strings of *options and zeroes it; safe twice. */
void coordinator_options_free(coordinator_options_t *options);

/* Prints the usage text to `out`. */
void coordinator_options_usage(FILE *out);

#endif
