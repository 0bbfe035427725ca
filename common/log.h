/* log: one-line timestamped messages on stderr for the daemons.
 * Level names: error, warn, info, debug. The threshold comes from
 * log_set_level() (daemons take --log-level). */
#ifndef TALLY_LOG_H
#define TALLY_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level_t;

/* Sets the program name printed on each line (borrowed, must outlive use). */
void log_set_program(const char *program);
void log_set_level(log_level_t level);
/* Parses "error|warn|info|debug"; returns 0 or TALLY_E_INVALID_ARGUMENT. */
int log_parse_level(const char *name, log_level_t *level);
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif
