/* harness: see harness.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prlimit */
#endif
#include "harness.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
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

/* Picks n distinct free TCP ports of 127.0.0.1 (held together, then
 * released: the daemons bind them right after). 0 or -1. */
static int free_ports(int *ports, int n) {
  int fds[2 * HARNESS_MAX_COORDINATORS], rc = 0;
  for (int i = 0; i < n; i++) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fds[i], (struct sockaddr *)&addr, &len) != 0)
      rc = -1;
    ports[i] = ntohs(addr.sin_port);
  }
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
  return rc;
}

/* Chooses every replicated coordinator's ports and the --peers value. */
static int replicas_plan(cluster_t *c) {
  int ports[2 * HARNESS_MAX_COORDINATORS];
  if (c->coordinators > HARNESS_MAX_COORDINATORS || free_ports(ports, 2 * c->coordinators) < 0)
    return -1;
  size_t used = 0, listed = 0;
  for (int id = 1; id <= c->coordinators; id++) {
    snprintf(c->replica_endpoints[id], sizeof c->replica_endpoints[id], "tcp://127.0.0.1:%d",
             ports[id - 1]);
    used += (size_t)snprintf(c->peers + used, sizeof c->peers - used, "%s%d=127.0.0.1:%d=%s",
                             id > 1 ? "," : "", id, ports[c->coordinators + id - 1],
                             c->replica_endpoints[id]);
    listed += (size_t)snprintf(c->coordinator_endpoint + listed,
                               sizeof c->coordinator_endpoint - listed, "%s%s", id > 1 ? "," : "",
                               c->replica_endpoints[id]);
  }
  return 0;
}

/* Starts tally-coordinator with `own` (own_count arguments: what sets this
 * coordinator apart, its data directory, identity and endpoint file)
 * followed by what every coordinator of the cluster is given: the
 * heartbeat timeout, --expect-workers, the ramp period, the keys (or
 * --insecure), --replicas and the test's coordinator_args. Logs to `log`.
 * Returns the pid, or -1. */
static pid_t spawn_coordinator(const cluster_t *c, char *const own[], int own_count,
                               const char *log) {
  char expect[16], replicas[16], key[640], operator_pub[640];
  snprintf(expect, sizeof expect, "%d", c->n_workers > 0 ? c->n_workers : 1);
  snprintf(replicas, sizeof replicas, "%d", c->replicas > 0 ? c->replicas : 1);
  snprintf(key, sizeof key, "%s", harness_key_path(c, "coordinator.key"));
  snprintf(operator_pub, sizeof operator_pub, "%s", harness_key_path(c, "operator.pub"));
  char *argv[32];
  int argc = 0;
  argv[argc++] = (char *)harness_bin("tally-coordinator");
  for (int k = 0; k < own_count; k++) argv[argc++] = own[k];
  char *shared[] = {"--heartbeat-timeout-ms", "3000", "--expect-workers", expect,
                    "--ramp-period-ms", c->ramp_off ? "0" : "2000", "--replicas", replicas};
  for (size_t k = 0; k < sizeof shared / sizeof shared[0]; k++) argv[argc++] = shared[k];
  if (c->insecure) {
    argv[argc++] = "--insecure";
  } else {
    argv[argc++] = "--key";
    argv[argc++] = key;
    argv[argc++] = "--operator-key";
    argv[argc++] = operator_pub;
  }
  for (int k = 0; k < 4 && c->coordinator_args[k] != NULL; k++)
    argv[argc++] = (char *)c->coordinator_args[k];
  argv[argc] = NULL;
  return spawn(argv, log);
}

int cluster_start_replica(cluster_t *c, int id) {
  char dir[512], ep_file[512], log[512], raft_id[16], endpoint[256];
  snprintf(dir, sizeof dir, "%s/coordinator-%d", c->dir, id);
  snprintf(ep_file, sizeof ep_file, "%s/coordinator-%d.endpoint", c->dir, id);
  snprintf(log, sizeof log, "%s/coordinator-%d.log", c->dir, id);
  snprintf(raft_id, sizeof raft_id, "%d", id);
  unlink(ep_file);
  char *own[] = {"--dir", dir, "--raft-id", raft_id,
                 "--peers", c->peers, "--endpoint-file", ep_file};
  c->replica_pids[id] = spawn_coordinator(c, own, sizeof own / sizeof own[0], log);
  if (c->replica_pids[id] < 0) return -1;
  return wait_endpoint(ep_file, endpoint, sizeof endpoint, c->replica_pids[id]);
}

int cluster_start_coordinator(cluster_t *c) {
  if (c->coordinators > 1) {
    for (int id = 1; id <= c->coordinators; id++)
      if (cluster_start_replica(c, id) < 0) return -1;
    return 0;
  }
  char dir[512], ep_file[512], log[512];
  snprintf(dir, sizeof dir, "%s/coordinator", c->dir);
  snprintf(ep_file, sizeof ep_file, "%s/coordinator.endpoint", c->dir);
  snprintf(log, sizeof log, "%s/coordinator.log", c->dir);
  unlink(ep_file);
  /* A restarted coordinator must come back on the same endpoint, so the
   * workers (which keep their coordinator address) find it again. */
  char bind[sizeof c->coordinator_endpoint];
  snprintf(bind, sizeof bind, "%s", c->coordinator_endpoint[0] ? c->coordinator_endpoint : "tcp://127.0.0.1:0");
  char *own[] = {"--dir", dir, "--bind", bind, "--endpoint-file", ep_file};
  c->coordinator_pid = spawn_coordinator(c, own, sizeof own / sizeof own[0], log);
  if (c->coordinator_pid < 0) return -1;
  return wait_endpoint(ep_file, c->coordinator_endpoint, sizeof c->coordinator_endpoint,
                       c->coordinator_pid);
}

const char *harness_key_path(const cluster_t *c, const char *name) {
  static char path[600];
  snprintf(path, sizeof path, "%s/keys/%s", c->dir, name);
  return path;
}

int harness_keygen(const cluster_t *c, const char *name, char *path_out, size_t path_size,
                   char public_out[CURVE_Z85_LEN + 1]) {
  char key_file[600], pub_file[600];
  snprintf(key_file, sizeof key_file, "%s/keys/%s.key", c->dir, name);
  snprintf(pub_file, sizeof pub_file, "%s/keys/%s.pub", c->dir, name);
  curve_keypair_t pair;
  if (curve_keypair_generate(&pair) < 0 || curve_keypair_save(&pair, key_file, pub_file) < 0)
    return -1;
  if (path_out) snprintf(path_out, path_size, "%s", key_file);
  if (public_out) memcpy(public_out, pair.public_key, CURVE_Z85_LEN + 1);
  return 0;
}

/* The harness's credentials to a daemon whose public key is in file
 * DIR/keys/SERVER.pub. */
static const curve_client_t *curve_as(const cluster_t *c, const char *self, const char *server,
                                      curve_client_t *buf) {
  if (c->insecure) return NULL;
  memset(buf, 0, sizeof *buf);
  char name[64];
  snprintf(name, sizeof name, "%s.key", self);
  if (curve_keypair_load(&buf->self, harness_key_path(c, name)) < 0) return buf;
  snprintf(name, sizeof name, "%s.pub", server);
  curve_public_parse(buf->server_key, harness_key_path(c, name));
  return buf;
}

const curve_client_t *harness_curve(const cluster_t *c, int worker, curve_client_t *buf) {
  char server[32];
  if (worker < 0) snprintf(server, sizeof server, "coordinator");
  else snprintf(server, sizeof server, "worker-%d", worker);
  return curve_as(c, "harness", server, buf);
}

/* Asks a daemon for something and returns its reply (caller frees). For
 * the coordinator (endpoint = a comma-separated list when replicated),
 * asks each listed one until one answers other than NOT_LEADER. */
static Tally__Envelope *ask(void *ctx, const char *endpoint, const curve_client_t *curve,
                            Tally__Envelope *request) {
  char list[512];
  snprintf(list, sizeof list, "%s", endpoint);
  Tally__Envelope *reply = NULL;
  char *save = NULL;
  for (char *one = strtok_r(list, ",", &save); one != NULL; one = strtok_r(NULL, ",", &save)) {
    dealer_t *d = NULL;
    wire_envelope_free(&reply);
    if (dealer_new(&d, ctx, one, curve) == 0) dealer_call(d, request, 1000, &reply);
    dealer_destroy(&d);
    if (reply == NULL || reply->body_case != TALLY__ENVELOPE__BODY_ERROR ||
        reply->error->code != TALLY__ERROR_CODE__NOT_LEADER)
      break;
  }
  return reply;
}

int cluster_leader(const cluster_t *c, int wait_ms) {
  void *ctx = zmq_ctx_new();
  curve_client_t buf;
  const curve_client_t *curve = harness_curve(c, -1, &buf);
  int leader = 0;
  for (int waited = 0; leader == 0 && waited <= wait_ms; waited += 100) {
    for (int id = 1; id <= c->coordinators && leader == 0; id++) {
      if (c->replica_pids[id] <= 0) continue;
      Tally__Envelope request, *reply = NULL;
      Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
      wire_envelope_init(&request, 0);
      request.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
      request.map_request = &body;
      dealer_t *d = NULL;
      if (dealer_new(&d, ctx, c->replica_endpoints[id], curve) == 0)
        dealer_call(d, &request, 500, &reply);
      dealer_destroy(&d);
      if (reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_MAP) leader = id;
      wire_envelope_free(&reply);
    }
    if (leader == 0) sleep_ms(100);
  }
  zmq_ctx_term(ctx);
  return leader;
}

/* As the operator: sends `request` to the coordinator until it answers
 * with `expect` (the coordinator may still be starting). 0 or -1. */
static int operator_call(const cluster_t *c, Tally__Envelope *request,
                         Tally__Envelope__BodyCase expect) {
  void *ctx = zmq_ctx_new();
  curve_client_t buf;
  const curve_client_t *curve = curve_as(c, "operator", "coordinator", &buf);
  int ok = -1;
  for (int attempt = 0; attempt < 150 && ok != 0; attempt++) {
    Tally__Envelope *reply = ask(ctx, c->coordinator_endpoint, curve, request);
    if (reply && reply->body_case == expect) ok = 0;
    else if (reply && reply->body_case == TALLY__ENVELOPE__BODY_ERROR)
      fprintf(stderr, "harness: the coordinator refused %s: %s\n", wire_body_name(request),
              reply->error->message);
    wire_envelope_free(&reply);
    if (ok != 0) sleep_ms(100);
  }
  zmq_ctx_term(ctx);
  return ok;
}

/* Makes every key of the cluster and the harness identity's record. */
static int keys_make(cluster_t *c, int workers) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/keys", c->dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
  if (harness_keygen(c, "coordinator", NULL, 0, NULL) < 0 ||
      harness_keygen(c, "operator", NULL, 0, NULL) < 0 ||
      harness_keygen(c, "harness", NULL, 0, NULL) < 0)
    return -1;
  for (int i = 0; i < workers; i++) {
    char name[32];
    snprintf(name, sizeof name, "worker-%d", i);
    if (harness_keygen(c, name, NULL, 0, NULL) < 0) return -1;
  }
  setenv("TALLY_KEY", harness_key_path(c, "harness.key"), 1);
  setenv("TALLY_COORDINATOR_KEY", harness_key_path(c, "coordinator.pub"), 1);
  return 0;
}

/* The operator adds "harness" and admits the workers' keys. */
static int keys_register(cluster_t *c, int workers) {
  char harness_pub[CURVE_Z85_LEN + 1];
  if (curve_public_parse(harness_pub, harness_key_path(c, "harness.pub")) < 0) return -1;
  Tally__Envelope request;
  Tally__LabelerAdd add = TALLY__LABELER_ADD__INIT;
  Tally__Labeler person = TALLY__LABELER__INIT;
  person.id = "harness";
  person.roles = TALLY__ROLE__ROLE_LEAD | TALLY__ROLE__ROLE_MANAGER |
                 TALLY__ROLE__ROLE_OPERATOR | TALLY__ROLE__ROLE_GATEWAY;
  person.public_key = harness_pub;
  add.labeler = &person;
  wire_envelope_init(&request, 0);
  request.body_case = TALLY__ENVELOPE__BODY_LABELER_ADD;
  request.labeler_add = &add;
  if (operator_call(c, &request, TALLY__ENVELOPE__BODY_LABELER_REPLY) < 0) return -1;
  for (int i = 0; i < workers; i++) {
    char name[32], key[CURVE_Z85_LEN + 1];
    snprintf(name, sizeof name, "worker-%d.pub", i);
    if (curve_public_parse(key, harness_key_path(c, name)) < 0) return -1;
    Tally__ClusterAdmit admit = TALLY__CLUSTER_ADMIT__INIT;
    admit.public_key = key;
    wire_envelope_init(&request, 0);
    request.body_case = TALLY__ENVELOPE__BODY_CLUSTER_ADMIT;
    request.cluster_admit = &admit;
    if (operator_call(c, &request, TALLY__ENVELOPE__BODY_ACK) < 0) return -1;
  }
  return 0;
}

/* 1 when the coordinator's map lists a worker at `endpoint` as UP. */
/* The epoch of the coordinator's map when it lists the worker at
 * `endpoint` UP, else 0. */
static uint64_t coordinator_lists_up(void *ctx, const cluster_t *c, const char *endpoint) {
  curve_client_t buf;
  const curve_client_t *curve = harness_curve(c, -1, &buf);
  Tally__Envelope request;
  Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
  wire_envelope_init(&request, 0);
  request.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
  request.map_request = &body;
  Tally__Envelope *reply = ask(ctx, c->coordinator_endpoint, curve, &request);
  uint64_t up = 0;
  if (reply && reply->body_case == TALLY__ENVELOPE__BODY_MAP)
    for (size_t w = 0; w < reply->map->n_workers; w++) {
      const Tally__WorkerInfo *info = reply->map->workers[w];
      if (strcmp(info->endpoint, endpoint) == 0 && info->state == TALLY__WORKER_STATE__WORKER_UP)
        up = reply->map->epoch;
    }
  wire_envelope_free(&reply);
  return up;
}

/* Waits until the coordinator's map lists worker i UP at its endpoint and
 * the worker serves with that map or a newer one. A restarted worker
 * serves with the map it cached on disk before it has registered again:
 * until then clients are sent to its previous endpoint (seen under a
 * sanitizer's slowdown: a request right after a restart timed out), and
 * its writes are refused UNAVAILABLE (seen on a loaded machine: the
 * coordinator listed it UP before the worker had read its registration's
 * reply). */
static int wait_worker_serving(cluster_t *c, int i) {
  void *ctx = zmq_ctx_new();
  int ready = -1;
  curve_client_t buf;
  const curve_client_t *curve = harness_curve(c, i, &buf);
  uint64_t epoch = 0; /* the first map listing it UP: no chase of later ones */
  for (int attempt = 0; attempt < 150 && ready != 0; attempt++) {
    if (epoch == 0) epoch = coordinator_lists_up(ctx, c, c->worker_endpoints[i]);
    Tally__Envelope request;
    Tally__StatusRequest status = TALLY__STATUS_REQUEST__INIT;
    wire_envelope_init(&request, 0);
    request.body_case = TALLY__ENVELOPE__BODY_STATUS;
    request.status = &status;
    Tally__Envelope *reply = epoch ? ask(ctx, c->worker_endpoints[i], curve, &request) : NULL;
    if (reply && reply->body_case == TALLY__ENVELOPE__BODY_STATUS_REPLY &&
        reply->status_reply->epoch >= epoch)
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
  char key[600], coordinator_pub[600], name[32];
  snprintf(name, sizeof name, "worker-%d.key", i);
  snprintf(key, sizeof key, "%s", harness_key_path(c, name));
  snprintf(coordinator_pub, sizeof coordinator_pub, "%s", harness_key_path(c, "coordinator.pub"));
  char *argv[20] = {(char *)harness_bin("tally-worker"), "--dir", dir, "--coordinator",
                     c->coordinator_endpoint, "--endpoint-file", ep_file, "--heartbeat-ms", "200",
                     "--key", key, "--coordinator-key", coordinator_pub, NULL};
  int argc = 13;
  if (c->insecure) {
    argv[9] = "--insecure";
    argc = 10;
  }
  for (int k = 0; k < 4 && c->worker_args[k] != NULL; k++) argv[argc++] = (char *)c->worker_args[k];
  argv[argc] = NULL;
  c->worker_pids[i] = spawn(argv, log);
  if (c->worker_pids[i] < 0) return -1;
  if (wait_endpoint(ep_file, c->worker_endpoints[i], sizeof c->worker_endpoints[i],
                    c->worker_pids[i]) < 0)
    return -1;
  return wait_worker_serving(c, i);
}

int cluster_start(cluster_t *c, int workers) {
  int insecure = c->insecure, ramp_off = c->ramp_off, coordinators = c->coordinators;
  int replicas = c->replicas;
  const char *worker_args[5], *coordinator_args[5];
  memcpy(worker_args, c->worker_args, sizeof worker_args);
  memcpy(coordinator_args, c->coordinator_args, sizeof coordinator_args);
  memset(c, 0, sizeof *c);
  memcpy(c->worker_args, worker_args, sizeof worker_args);
  memcpy(c->coordinator_args, coordinator_args, sizeof coordinator_args);
  c->ramp_off = ramp_off;
  c->coordinators = coordinators > 1 ? coordinators : 0;
  c->replicas = replicas;
  c->insecure = insecure || getenv("TALLY_TEST_INSECURE") != NULL;
  snprintf(c->dir, sizeof c->dir, "%s/tally-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(c->dir) == NULL) return -1;
  if (c->insecure) {
    unsetenv("TALLY_KEY");
    unsetenv("TALLY_COORDINATOR_KEY");
  } else if (keys_make(c, HARNESS_MAX_WORKERS) < 0) {
    fprintf(stderr, "harness: cannot make the keys in %s/keys\n", c->dir);
    return -1;
  }
  c->n_workers = workers; /* the coordinator spreads the slots over all of them */
  if (c->coordinators > 1 && replicas_plan(c) < 0) {
    fprintf(stderr, "harness: no free ports for %d coordinators\n", c->coordinators);
    return -1;
  }
  if (cluster_start_coordinator(c) < 0) {
    fprintf(stderr, "harness: coordinator did not start (see %s/coordinator.log)\n", c->dir);
    return -1;
  }
  if (!c->insecure && keys_register(c, HARNESS_MAX_WORKERS) < 0) {
    fprintf(stderr, "harness: the operator could not set up the keys (see %s/coordinator.log)\n",
            c->dir);
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

void cluster_kill_coordinator(cluster_t *c, int sig) {
  stop_pid(&c->coordinator_pid, sig);
  for (int id = 1; id <= c->coordinators; id++) stop_pid(&c->replica_pids[id], sig);
}

void cluster_kill_replica(cluster_t *c, int id, int sig) { stop_pid(&c->replica_pids[id], sig); }

/* Sanitizer builds: ASan and LSan write their reports into
 * $TALLY_SANITIZER_REPORTS themselves (log_path, tests/CMakeLists.txt), but
 * GCC's UBSan runtime, loaded beside ASan's, writes to stderr, which for a
 * daemon is its log in `dir`. Copies each log holding a report there before
 * the directory goes, so the sanitizer_reports test fails on it. */
static void keep_sanitizer_logs(const char *dir) {
  const char *reports = getenv("TALLY_SANITIZER_REPORTS");
  if (reports == NULL || reports[0] == '\0' || dir[0] == '\0') return;
  char command[1600];
  snprintf(command, sizeof command,
           "grep -lE 'runtime error: |ERROR: [A-Za-z]*Sanitizer' '%s'/*.log 2>/dev/null | "
           "while read -r f; do cp \"$f\" '%s/log-%d-'\"${f##*/}\"; done",
           dir, reports, (int)getpid());
  if (system(command) == -1) fprintf(stderr, "harness: could not look for sanitizer reports\n");
}

void cluster_stop(cluster_t *c) {
  for (int i = 0; i < c->n_workers; i++) stop_pid(&c->worker_pids[i], SIGTERM);
  cluster_kill_coordinator(c, SIGTERM);
  keep_sanitizer_logs(c->dir);
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

struct Tally__ClusterMap *cluster_fetch_map(const cluster_t *c) {
  void *ctx = zmq_ctx_new();
  dealer_t *d = NULL;
  curve_client_t buf;
  Tally__ClusterMap *map = NULL;
  if (ctx != NULL &&
      dealer_new(&d, ctx, c->coordinator_endpoint, harness_curve(c, -1, &buf)) == 0) {
    Tally__Envelope request, *reply = NULL;
    Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
    wire_envelope_init(&request, 0);
    request.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
    request.map_request = &body;
    if (dealer_call(d, &request, 2000, &reply) == 0 &&
        reply->body_case == TALLY__ENVELOPE__BODY_MAP) {
      map = reply->map;
      reply->map = NULL;
      reply->body_case = TALLY__ENVELOPE__BODY__NOT_SET;
    }
    wire_envelope_free(&reply);
  }
  dealer_destroy(&d);
  if (ctx != NULL) zmq_ctx_term(ctx);
  return map;
}

uint32_t cluster_worker_id(const cluster_t *c, const Tally__ClusterMap *map, int index) {
  for (size_t i = 0; map != NULL && i < map->n_workers; i++)
    if (strcmp(map->workers[i]->endpoint, c->worker_endpoints[index]) == 0)
      return map->workers[i]->id;
  return 0;
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

long cluster_worker_wal_size(const cluster_t *c, int i) {
  char command[800];
  snprintf(command, sizeof command,
           "ls -S '%s/worker-%d/data' 2>/dev/null | grep '\\.log$' | head -n 1", c->dir, i);
  FILE *p = popen(command, "r");
  char name[256] = "";
  if (p == NULL) return 0;
  if (fgets(name, sizeof name, p) == NULL) name[0] = '\0';
  pclose(p);
  name[strcspn(name, "\n")] = '\0';
  if (name[0] == '\0') return 0;
  char path[1200];
  snprintf(path, sizeof path, "%s/worker-%d/data/%s", c->dir, i, name);
  return file_size(path);
}

int harness_set_file_limit(pid_t pid, rlim_t limit) {
  struct rlimit now;
  if (prlimit(pid, RLIMIT_FSIZE, NULL, &now) != 0) return -1;
  struct rlimit want = {limit, now.rlim_max};
  if (limit != RLIM_INFINITY && now.rlim_max != RLIM_INFINITY && limit > now.rlim_max) return -1;
  return prlimit(pid, RLIMIT_FSIZE, &want, NULL);
}
