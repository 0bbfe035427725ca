/* fatal: the one way a Tally daemon ends itself on a failure it cannot
 * answer.
 *
 * For failures after which going on could acknowledge something that is not
 * durable, or leave memory and storage disagreeing: a failed storage write
 * (other than a full disk, which the worker survives: worker.c, "Disk
 * full"), a read error in the middle of a change, out of memory while a
 * change is half made.
 *
 * Exit code contract: fatal_exit() logs "fatal: WHAT; exiting without
 * acknowledging anything more" at error level and ends the process at once
 * with FATAL_EXIT_CODE (70, EX_SOFTWARE of sysexits.h) through _exit(): no
 * atexit handler runs, no queued reply is sent, storage is not closed. What
 * was acknowledged before is durable, so a restart recovers from storage
 * (the worker from its last durable batch, the coordinator from its last
 * synced change). Exit 70 therefore means "restart me"; a daemon's other
 * exit codes are 0 (stopped by SIGTERM or SIGINT, or --help), 1 (could not
 * start, e.g. storage that cannot be opened) and 2 (bad usage), which a
 * restart does not mend.
 */
#ifndef TALLY_FATAL_H
#define TALLY_FATAL_H

#define FATAL_EXIT_CODE 70

/* Logs `what` (a constant description, no request data) and exits with
 * FATAL_EXIT_CODE. Async-signal-safe apart from the log line. Never
 * returns. */
void fatal_exit(const char *what) __attribute__((noreturn));

#endif
