/* bench_transport: see bench_transport.h. */
#include "bench_transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *given_or_env(const char *given, const char *variable) {
  if (given != NULL && given[0] != '\0') return given;
  const char *v = getenv(variable);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

int bench_transport_choose(bench_transport_t *out, int insecure, const char *key_file,
                           const char *coordinator_key) {
  memset(out, 0, sizeof *out);
  if (insecure) {
    out->name = BENCH_TRANSPORT_TCP;
    return 0;
  }
  key_file = given_or_env(key_file, "TALLY_KEY");
  coordinator_key = given_or_env(coordinator_key, "TALLY_COORDINATOR_KEY");
  if (key_file == NULL || coordinator_key == NULL) {
    fprintf(stderr,
            "tally-bench: no %s: give --key FILE (or TALLY_KEY) and --coordinator-key KEY (or "
            "TALLY_COORDINATOR_KEY), e.g. eval \"$(deploy/local-cluster env --dir DIR)\"; "
            "--insecure only for a cluster started with --insecure\n",
            key_file == NULL ? "key" : "coordinator key");
    return -1;
  }
  int rc = tally_credentials_load(&out->credentials, key_file, coordinator_key);
  if (rc < 0) {
    fprintf(stderr, "tally-bench: %s\n",
            rc == TALLY_E_IO ? "cannot read the key file (--key / TALLY_KEY)"
                             : "--key must name a key file made by `tally keys generate`, and "
                               "--coordinator-key a public key or .pub file");
    return -1;
  }
  out->name = BENCH_TRANSPORT_CURVE;
  out->secure = 1;
  return 0;
}

int bench_transport_open(const bench_transport_t *t, tally_t **out, const char *coordinator,
                         int timeout_ms) {
  return tally_open_with(out, coordinator, timeout_ms, t->secure ? &t->credentials : NULL);
}
