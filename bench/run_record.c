/* run_record: see run_record.h. */
#include "run_record.h"

#include <stdio.h>
#include <string.h>

#include "latency.h"

json_t *run_record_new(const char *tool, const char *system, const char *scenario,
                       const char *phase, const char *transport) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:{}, s:{}}", "tool", tool, "system", system,
                   "scenario", scenario, "phase", phase, "transport", transport, "wall_ms",
                   (json_int_t)(latency_wall_ns() / 1000000u), "config", "ops");
}

json_t *run_record_config(json_t *record) { return json_object_get(record, "config"); }

json_t *run_record_ops(json_t *record) { return json_object_get(record, "ops"); }

int run_record_write(json_t *record, const char *path) {
  if (path == NULL) return 0;
  int rc;
  if (strcmp(path, "-") == 0) {
    rc = json_dumpf(record, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    fflush(stdout);
  } else {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
      perror(path);
      return -1;
    }
    rc = json_dumpf(record, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    fputc('\n', f);
    if (fclose(f) != 0) rc = -1;
  }
  if (rc != 0) fprintf(stderr, "cannot write the run record to %s\n", path);
  return rc == 0 ? 0 : -1;
}
