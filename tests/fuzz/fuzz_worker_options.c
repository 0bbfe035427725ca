/* fuzz_worker_options: tally-worker's --config file (worker/main.c).
 *
 * The worker's option parsing is file-local to worker/main.c, so this
 * harness compiles that file into itself with its main() renamed, and calls
 * load_config_file() (and through it apply_option()) on a scratch file that
 * holds the input. Checks: 0 or -1; on 0 every value it kept is a string and
 * heartbeat_ms is 0 (not given) or within the 10..60000 the option allows.
 * (Were the parsing moved into a worker_options module like
 * coordinator/coordinator_options.c, this harness would call that instead.)
 */
#include "fuzz_support.h"

#define main tally_worker_main
#include "../../worker/main.c"
#undef main

static char *config_dir, *config_path;

static void remove_config_dir(void) { fuzz_remove_tree(config_dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  config_dir = fuzz_temp_dir("tally-fuzz-worker-options");
  size_t size = strlen(config_dir) + 32;
  config_path = malloc(size);
  if (config_path == NULL) abort();
  snprintf(config_path, size, "%s/config.json", config_dir);
  atexit(remove_config_dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write_file(config_path, data, size);
  worker_args_t a = {0};
  int rc = load_config_file(&a, config_path);
  fuzz_check(rc == 0 || rc == -1);
  if (rc == 0) fuzz_check(a.heartbeat_ms == 0 || (a.heartbeat_ms >= 10 && a.heartbeat_ms <= 60000));
  if (rc == 0) fuzz_check(a.max_leases == 0 || (a.max_leases >= 1 && a.max_leases <= 100000));
  worker_args_free(&a);
  return 0;
}
