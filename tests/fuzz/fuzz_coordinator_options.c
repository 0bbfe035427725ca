/* fuzz_coordinator_options: tally-coordinator's command line and --config
 * file (coordinator/coordinator_options.c).
 *
 * Input: the config file's bytes, then optionally a NUL byte and further
 * command-line arguments separated by NUL bytes. The harness writes the file
 * to a scratch path and parses
 *   tally-coordinator --config PATH ARG...
 * Checks coordinator_options.h's contract: 0 with help set, or with dir and
 * bind set, the heartbeat timeout and expected workers in range; otherwise
 * TALLY_E_INVALID_ARGUMENT with a non-empty reason; free is safe twice.
 */
#include "coordinator_options.h"
#include "fuzz_support.h"
#include "tally_error.h"

#define MAX_ARGS 16

static char *config_dir, *config_path;

static void remove_config_dir(void) { fuzz_remove_tree(config_dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  config_dir = fuzz_temp_dir("tally-fuzz-coordinator-options");
  size_t size = strlen(config_dir) + 32;
  config_path = malloc(size);
  if (config_path == NULL) abort();
  snprintf(config_path, size, "%s/config.json", config_dir);
  atexit(remove_config_dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, '\0', size);
  size_t file_len = nul ? (size_t)(nul - data) : size;
  fuzz_write_file(config_path, data, file_len);

  char *argv[3 + MAX_ARGS + 1] = {"tally-coordinator", "--config", config_path};
  int argc = 3;
  if (nul) argc = fuzz_split_args(nul + 1, size - file_len - 1, argv, 3, MAX_ARGS);

  coordinator_options_t options;
  char why[256];
  memset(why, 'x', sizeof why);
  int rc = coordinator_options_parse(&options, argc, argv, why, sizeof why);
  if (rc == 0 && !options.help) {
    fuzz_check(options.dir != NULL && options.dir[0] != '\0');
    fuzz_check(options.bind != NULL && options.bind[0] != '\0');
    fuzz_check(options.heartbeat_timeout_ms >= COORDINATOR_MIN_HEARTBEAT_TIMEOUT_MS &&
               options.heartbeat_timeout_ms <= COORDINATOR_MAX_HEARTBEAT_TIMEOUT_MS);
    fuzz_check(options.expect_workers >= 1 && options.expect_workers <= 1024);
    fuzz_check(options.log_level >= LOG_ERROR && options.log_level <= LOG_DEBUG);
  } else if (rc != 0) {
    fuzz_check(rc == TALLY_E_INVALID_ARGUMENT);
    fuzz_check(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
  }
  coordinator_options_free(&options);
  coordinator_options_free(&options);
  fuzz_check(options.dir == NULL && options.config_file == NULL);
  fuzz_free_args(argv, 3, argc);
  return 0;
}
