/* log: see log.h. */
#define _POSIX_C_SOURCE 200809L
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ident.h"
#include "tally_error.h"

static const char *log_program = "tally";
static log_level_t log_threshold = LOG_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_set_program(const char *program) { log_program = program; }

void log_set_level(log_level_t level) { log_threshold = level; }

int log_parse_level(const char *name, log_level_t *level) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, log_names[i]) == 0) {
      *level = (log_level_t)i;
      return 0;
    }
  }
  return TALLY_E_INVALID_ARGUMENT;
}

void log_write(log_level_t level, const char *fmt, ...) {
  if (level > log_threshold) return;
  char stamp[32];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* Lines carry names from requests: never invalid UTF-8 or control
   * characters (a forged id must not forge log lines or drive a terminal). */
  char safe[sizeof line + 64];
  ident_sanitize(line, 0, safe, sizeof safe);
  fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_program,
          log_names[level], safe);
}
