/* slow_sync: an LD_PRELOAD shim for tests. It makes every fsync() and
 * fdatasync() of one program take TALLY_TEST_SYNC_DELAY_MS longer, so a
 * test can tell a reply sent after the WAL sync from one sent before it
 * (kill -9 cannot: unsynced writes survive in the page cache).
 *
 *   TALLY_TEST_SYNC_DELAY_MS       added to each call (0 or unset: none)
 *   TALLY_TEST_SYNC_DELAY_PROGRAM  only in this program (short name);
 *                                  unset: in every program
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void slow_sync_pause(void) {
  const char *only = getenv("TALLY_TEST_SYNC_DELAY_PROGRAM");
  if (only != NULL && strcmp(only, program_invocation_short_name) != 0) return;
  const char *v = getenv("TALLY_TEST_SYNC_DELAY_MS");
  long ms = v ? strtol(v, NULL, 10) : 0;
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int fdatasync(int fd) {
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  slow_sync_pause();
  return real(fd);
}

int fsync(int fd) {
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  slow_sync_pause();
  return real(fd);
}
