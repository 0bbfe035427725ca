/* bench_transport: how Tally's load generator reaches a cluster, CURVE or
 * plain TCP, and the name every run record carries for it.
 *
 * Secure is the default, as for the `tally` CLI: a generator needs a key
 * (--key FILE / TALLY_KEY and --coordinator-key KEY / TALLY_COORDINATOR_KEY;
 * `deploy/local-cluster env --dir DIR` prints them for the cluster's
 * "admin", a gateway that may act for every bench labeler) or an explicit
 * --insecure for a cluster started with --insecure. A generator never falls
 * back to plain TCP by itself: a measurement must not change transport
 * without saying so.
 */
#ifndef BENCH_TRANSPORT_H
#define BENCH_TRANSPORT_H

#include "tally.h"

/* The names run records use ("transport" field). */
#define BENCH_TRANSPORT_CURVE "curve"
#define BENCH_TRANSPORT_TCP "tcp"  /* plain TCP: a cluster started --insecure */
#define BENCH_TRANSPORT_NONE "none" /* no network (store-probe) */

typedef struct {
  const char *name;                /* BENCH_TRANSPORT_CURVE or BENCH_TRANSPORT_TCP */
  int secure;                      /* 1: credentials hold the key pair */
  tally_credentials_t credentials; /* only when secure */
} bench_transport_t;

/* Chooses the transport: plain TCP when `insecure`, else CURVE with the key
 * file `key_file` and the coordinator's key `coordinator_key` (40 Z85
 * characters or a .pub file); NULL or "" for either means the environment
 * (TALLY_KEY, TALLY_COORDINATOR_KEY). Returns 0, or -1 with a message on
 * stderr (no key given, or a key that cannot be read). */
int bench_transport_choose(bench_transport_t *out, int insecure, const char *key_file,
                           const char *coordinator_key);

/* tally_open_with() on the chosen transport; same results. */
int bench_transport_open(const bench_transport_t *t, tally_t **out, const char *coordinator,
                         int timeout_ms);

#endif
