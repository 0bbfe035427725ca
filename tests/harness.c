/* harness: see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "dealer.h"
#include "tally_error.h"
#include "wire.h"

#define HARNESS_MAX_PIDS 64
static volatile pid_t started[HARNESS_MAX_PIDS];

static void track(pid_t pid) {
  for (int i = 0; i < HARNESS_MAX_PIDS; i++)
    if (started[i] == 0) {
      started[i] = pid;
      return;
    }
}

static void untrack(pid_t pid) {
  for (int i = 0; i < HARNESS_MAX_PIDS; i++)
    if (started[i] == pid) started[i] = 0;
}

void harness_kill_all(void) {
  for (int i = 0; i < HARNESS_MAX_PIDS; i++)
    if (started[i] > 0) {
      kill(started[i], SIGKILL);
      waitpid(started[i], NULL, 0);
      started[i] = 0;
    }
}

static void on_deadline(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: test deadline reached; killing daemons\n";
  if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
  harness_kill_all();
  _exit(124);
}

static void on_terminate(int sig) {
  harness_kill_all();
  signal(sig, SIG_DFL);
  raise(sig);
}

void harness_init(unsigned deadline_seconds) {
  signal(SIGALRM, on_deadline);
  /* ctest or a person may stop the test: take the daemons along. */
  signal(SIGTERM, on_terminate);
  signal(SIGINT, on_terminate);
  signal(SIGHUP, on_terminate);
  signal(SIGPIPE, SIG_IGN);
  alarm(deadline_seconds);
  atexit(harness_kill_all);
}

const char *harness_bin(const char *program) {
  static char path[1024];
  const char *dir = getenv("TALLY_BIN_DIR");
  snprintf(path, sizeof path, "%s/%s", dir ? dir : TALLY_BIN_DIR, program);
  return path;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[], const char *log_path) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  if (pid > 0) track(pid);
  return pid;
}

/* Waits for an endpoint file to appear; reads it into `endpoint`. */
/* Up to 30 s: a worker under tests/slow_sync.c (250 ms per fsync) needs
 * about 9.5 s to open its store, and more in a sanitizer build. */
static int wait_endpoint(const char *path, char *endpoint, size_t size, pid_t pid) {
  for (int i = 0; i < 600; i++) {
    FILE *f = fopen(path, "r");
    if (f != NULL) {
      int ok = fgets(endpoint, (int)size, f) != NULL;
      fclose(f);
      if (ok) {
        endpoint[strcspn(endpoint, "\n")] = '\0';
        return 0;
      }
    }
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      untrack(pid);
      return -1;
    }
    sleep_ms(50);
  }
  return -1;
}

int cluster_start_coordinator(cluster_t *c) {
  char dir[512], ep_file[512], log[512];
  snprintf(dir, sizeof dir, "%s/coordinator", c->dir);
  snprintf(ep_file, sizeof ep_file, "%s/coordinator.endpoint", c->dir);
  snprintf(log, sizeof log, "%s/coordinator.log", c->dir);
  unlink(ep_file);
  /* A restarted coordinator must come back on the same endpoint, so the
   * workers (which keep their coordinator address) find it again. */
  char bind[256];
  snprintf(bind, sizeof bind, "%s", c->coordinator_endpoint[0] ? c->coordinator_endpoint : "tcp://127.0.0.1:0");
  char expect[16];
  snprintf(expect, sizeof expect, "%d", c->n_workers > 0 ? c->n_workers : 1);
  char *argv[] = {(char *)harness_bin("tally-coordinator"), "--dir", dir, "--bind", bind,
                  "--endpoint-file", ep_file, "--heartbeat-timeout-ms", "3000",
                  "--expect-workers", expect, NULL};
  c->coordinator_pid = spawn(argv, log);
  if (c->coordinator_pid < 0) return -1;
  return wait_endpoint(ep_file, c->coordinator_endpoint, sizeof c->coordinator_endpoint,
                       c->coordinator_pid);
}

/* Asks a daemon for something and returns its reply (caller frees). */
static Tally__Envelope *ask(void *ctx, const char *endpoint, Tally__Envelope *request) {
  dealer_t *d = NULL;
  Tally__Envelope *reply = NULL;
  if (dealer_new(&d, ctx, endpoint) == 0) dealer_call(d, request, 1000, &reply);
  dealer_destroy(&d);
  return reply;
}

/* Waits until worker i serves with a map in which it owns slots. */
static int wait_worker_serving(cluster_t *c, int i) {
  void *ctx = zmq_ctx_new();
  int ready = -1;
  for (int attempt = 0; attempt < 150 && ready != 0; attempt++) {
    Tally__Envelope request;
    Tally__StatusRequest status = TALLY__STATUS_REQUEST__INIT;
    wire_envelope_init(&request, 0);
    request.body_case = TALLY__ENVELOPE__BODY_STATUS;
    request.status = &status;
    Tally__Envelope *reply = ask(ctx, c->worker_endpoints[i], &request);
    if (reply && reply->body_case == TALLY__ENVELOPE__BODY_STATUS_REPLY &&
        reply->status_reply->epoch > 0)
      ready = 0;
    wire_envelope_free(&reply);
    if (ready != 0) sleep_ms(100);
  }
  zmq_ctx_term(ctx);
  return ready;
}

int cluster_start_worker(cluster_t *c, int i) {
  char dir[512], ep_file[512], log[512];
  snprintf(dir, sizeof dir, "%s/worker-%d", c->dir, i);
  snprintf(ep_file, sizeof ep_file, "%s/worker-%d.endpoint", c->dir, i);
  snprintf(log, sizeof log, "%s/worker-%d.log", c->dir, i);
  unlink(ep_file);
  char *argv[] = {(char *)harness_bin("tally-worker"), "--dir", dir, "--coordinator",
                  c->coordinator_endpoint, "--endpoint-file", ep_file, "--heartbeat-ms", "200",
                  NULL};
  c->worker_pids[i] = spawn(argv, log);
  if (c->worker_pids[i] < 0) return -1;
  if (wait_endpoint(ep_file, c->worker_endpoints[i], sizeof c->worker_endpoints[i],
                    c->worker_pids[i]) < 0)
    return -1;
  return wait_worker_serving(c, i);
}

int cluster_start(cluster_t *c, int workers) {
  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "%s/tally-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(c->dir) == NULL) return -1;
  c->n_workers = workers; /* the coordinator spreads the slots over all of them */
  if (cluster_start_coordinator(c) < 0) {
    fprintf(stderr, "harness: coordinator did not start (see %s/coordinator.log)\n", c->dir);
    return -1;
  }
  c->n_workers = workers;
  for (int i = 0; i < workers; i++)
    if (cluster_start_worker(c, i) < 0) {
      fprintf(stderr, "harness: worker %d did not start (see %s/worker-%d.log)\n", i, c->dir, i);
      return -1;
    }
  return 0;
}

static void stop_pid(pid_t *pid, int sig) {
  if (*pid <= 0) return;
  kill(*pid, sig);
  for (int i = 0; i < 100; i++) {
    if (waitpid(*pid, NULL, WNOHANG) == *pid) {
      untrack(*pid);
      *pid = 0;
      return;
    }
    sleep_ms(50);
  }
  kill(*pid, SIGKILL);
  waitpid(*pid, NULL, 0);
  untrack(*pid);
  *pid = 0;
}

void cluster_kill_worker(cluster_t *c, int i, int sig) { stop_pid(&c->worker_pids[i], sig); }

void cluster_kill_coordinator(cluster_t *c, int sig) { stop_pid(&c->coordinator_pid, sig); }

void cluster_stop(cluster_t *c) {
  for (int i = 0; i < c->n_workers; i++) stop_pid(&c->worker_pids[i], SIGTERM);
  stop_pid(&c->coordinator_pid, SIGTERM);
  if (c->dir[0] != '\0' && getenv("TALLY_KEEP_TEST_DIR") == NULL) {
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", c->dir);
    if (system(command) != 0) fprintf(stderr, "harness: could not remove %s\n", c->dir);
  }
}

int cluster_cli(const cluster_t *c, char *out, size_t out_len, const char *fmt, ...) {
  char args[4096], command[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(command, sizeof command, "'%s' --coordinator '%s' %s 2>&1", harness_bin("tally"),
           c->coordinator_endpoint, args);
  FILE *p = popen(command, "r");
  if (p == NULL) return -1;
  size_t used = 0;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) {
    if (out != NULL && used + 1 < out_len) {
      size_t take = n < out_len - 1 - used ? n : out_len - 1 - used;
      memcpy(out + used, chunk, take);
      used += take;
    }
  }
  if (out != NULL && out_len > 0) out[used] = '\0';
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
