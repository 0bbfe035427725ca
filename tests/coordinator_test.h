/* coordinator_test: checks, a deadline and temporary directories for the
 * coordinator's test programs (tests/coordinator_*.c).
 *
 * CHECK() counts a pass or prints the failed condition with its line;
 * test_report() prints "N passed, M failed" as the last line and returns the
 * exit status. test_deadline(seconds) kills the program (SIGALRM, default
 * action) when a test hangs. test_temp_dir() makes a fresh directory that
 * test_remove_tree() deletes again.
 */
#ifndef TALLY_TESTS_COORDINATOR_TEST_H
#define TALLY_TESTS_COORDINATOR_TEST_H

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_passed, test_failed;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (cond) {                                                             \
      test_passed++;                                                        \
    } else {                                                                \
      test_failed++;                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                       \
  } while (0)

/* Like CHECK for two integers, printing both values on failure. */
#define CHECK_EQ(a, b)                                                            \
  do {                                                                            \
    long long a_ = (long long)(a), b_ = (long long)(b);                           \
    if (a_ == b_) {                                                               \
      test_passed++;                                                              \
    } else {                                                                      \
      test_failed++;                                                              \
      fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, \
              __LINE__, #a, #b, a_, b_);                                          \
    }                                                                             \
  } while (0)

static inline int test_report(void) {
  fflush(stderr);
  printf("%d passed, %d failed\n", test_passed, test_failed);
  return test_failed == 0 && test_passed > 0 ? 0 : 1;
}

static inline void test_deadline(unsigned seconds) { alarm(seconds); }

/* A new directory under $TMPDIR (or /tmp); the caller frees the string. */
static inline char *test_temp_dir(const char *name) {
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  size_t size = strlen(base) + strlen(name) + 16;
  char *path = malloc(size);
  if (path == NULL) abort();
  snprintf(path, size, "%s/%s.XXXXXX", base, name);
  if (mkdtemp(path) == NULL) {
    perror("mkdtemp");
    abort();
  }
  return path;
}

static inline int test_remove_entry(const char *path, const struct stat *st, int type,
                                    struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(path);
}

/* Removes `path` and everything below it. */
static inline void test_remove_tree(const char *path) {
  nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
