/* fatal: see fatal.h. */
#include "fatal.h"

#include <unistd.h>

#include "log.h"

void fatal_exit(const char *what) {
  log_error("fatal: %s; exiting without acknowledging anything more", what);
  _exit(FATAL_EXIT_CODE);
}
