/* check: the smallest test runner that does what ours need.
 *
 * CHECK(cond) records a pass or a failure (with file:line and the
 * condition); check_summary() prints "N passed, M failed" as the last line
 * and returns the exit status. check_deadline(seconds) makes the process
 * fail (exit 124) if the test is still running then, after calling the
 * registered cleanup (which must kill any daemons the test started).
 */
#ifndef TALLY_TEST_CHECK_H
#define TALLY_TEST_CHECK_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int check_passed, check_failed;
static void (*check_cleanup)(void);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      check_passed++;                                                          \
    } else {                                                                   \
      check_failed++;                                                          \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
    }                                                                          \
  } while (0)

#define CHECK_EQ_U64(a, b)                                                     \
  do {                                                                         \
    unsigned long long check_a_ = (unsigned long long)(a);                     \
    unsigned long long check_b_ = (unsigned long long)(b);                     \
    if (check_a_ == check_b_) {                                                \
      check_passed++;                                                          \
    } else {                                                                   \
      check_failed++;                                                          \
      fprintf(stderr, "FAIL %s:%d: %s == %s (%llu != %llu)\n", __FILE__,       \
              __LINE__, #a, #b, check_a_, check_b_);                           \
    }                                                                          \
  } while (0)

static void check_on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: test deadline reached\n";
  if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
  if (check_cleanup) check_cleanup();
  _exit(124);
}

static inline void check_deadline(unsigned seconds, void (*cleanup)(void)) {
  check_cleanup = cleanup;
  signal(SIGALRM, check_on_alarm);
  alarm(seconds);
}

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

#endif
