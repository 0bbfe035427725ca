/* fatal: fatal_exit() ends the process with FATAL_EXIT_CODE (70) at once,
 * logs what failed, and runs no atexit handler (which could send or flush
 * something after a failure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fatal.h"

static void must_not_run(void) { fputs("atexit handler ran\n", stderr); }

int main(void) {
  check_deadline(30, NULL);
  int err[2];
  CHECK(pipe(err) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    close(err[0]);
    atexit(must_not_run);
    fatal_exit("the test's failure");
  }
  close(err[1]);
  char out[1024] = "";
  size_t used = 0;
  ssize_t n;
  while (used < sizeof out - 1 && (n = read(err[0], out + used, sizeof out - 1 - used)) > 0)
    used += (size_t)n;
  out[used] = '\0';
  close(err[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == FATAL_EXIT_CODE);
  CHECK(FATAL_EXIT_CODE == 70);
  CHECK(strstr(out, "fatal: the test's failure") != NULL);
  CHECK(strstr(out, "atexit handler ran") == NULL);
  return check_summary();
}
