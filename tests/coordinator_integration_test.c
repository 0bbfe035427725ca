/* Integration test of tally-coordinator: runs the real daemon from
 * TALLY_BIN_DIR on loopback in a temporary directory and speaks the protocol
 * to it through common/dealer.h (the test also plays a worker).
 *
 * Covers: --help and bad flags; projects and labelers with their error
 * codes; malformed, wrong-version, oversized and multi-frame messages
 * (answered, and the daemon keeps serving); requests the coordinator does
 * not serve; a second daemon on the same directory; worker registration,
 * failure detection (DOWN) and recovery (UP); kill -9 right after
 * acknowledged writes and a restart (from a --config file) that finds all
 * of them with ids and epoch continuing; SIGTERM exits 0.
 *
 * Every daemon started is killed on exit, also on failure or when the
 * deadline (SIGALRM) passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zmq.h>

#include "clock.h"
#include "coordinator_test.h"
#include "dealer.h"
#include "slot.h"
#include "tally_error.h"
#include "wire.h"

#ifndef TALLY_BIN_DIR
#error "TALLY_BIN_DIR must name the directory holding tally-coordinator"
#endif

#define COORDINATOR_BIN TALLY_BIN_DIR "/tally-coordinator"
#define DEADLINE_SECONDS 90
#define CALL_TIMEOUT_MS 5000
#define HEARTBEAT_TIMEOUT "1000"

static pid_t daemon_pid = -1;
static char *test_dir;
static char data_dir[4096], endpoint_file[4096], log_file[4096], config_file[4096];
static void *zmq_context;
static dealer_t *dealer;

/* ---------------------------------------------------------------- processes */

static void kill_daemon(void) {
  if (daemon_pid > 0) {
    kill(daemon_pid, SIGKILL);
    waitpid(daemon_pid, NULL, 0);
    daemon_pid = -1;
  }
}

/* Appends the decimal digits of n to buf at *used (async-signal-safe). */
static void append_number(char *buf, size_t *used, int n) {
  char digits[16];
  int count = 0;
  do {
    digits[count++] = (char)('0' + n % 10);
    n /= 10;
  } while (n > 0 && count < 16);
  while (count > 0) buf[(*used)++] = digits[--count];
}

static void append_text(char *buf, size_t *used, const char *text) {
  while (*text) buf[(*used)++] = *text++;
}

/* SIGALRM: the test hangs. Kill the daemon, report, and exit failed (only
 * async-signal-safe calls: no stdio, no exit handlers). */
static void on_deadline(int signum) {
  (void)signum;
  char line[128];
  size_t used = 0;
  if (daemon_pid > 0) kill(daemon_pid, SIGKILL);
  append_text(line, &used, "coordinator_integration_test: deadline passed\n");
  append_number(line, &used, test_passed);
  append_text(line, &used, " passed, ");
  append_number(line, &used, test_failed + 1);
  append_text(line, &used, " failed\n");
  if (write(STDOUT_FILENO, line, used) < 0) _exit(1);
  _exit(1);
}

/* Runs the coordinator with `args` (NULL-terminated, after the program
 * name), stdout and stderr appended to log_file. Returns the child's pid. */
static pid_t spawn(char *const *args) {
  char *argv[32] = {COORDINATOR_BIN};
  int argc = 1;
  while (args[argc - 1] != NULL && argc < 31) {
    argv[argc] = args[argc - 1];
    argc++;
  }
  argv[argc] = NULL;
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(COORDINATOR_BIN, argv);
    perror("execv " COORDINATOR_BIN);
    _exit(127);
  }
  return pid;
}

/* Waits up to timeout_ms for `pid` to exit; returns its exit status, 128 +
 * signal when killed, or -1 when it is still running. */
static int wait_exit(pid_t pid, uint64_t timeout_ms) {
  uint64_t deadline = clock_monotonic_ms() + timeout_ms;
  for (;;) {
    int status;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (clock_monotonic_ms() >= deadline) return -1;
    usleep(10 * 1000);
  }
}

/* Reads the endpoint file once the daemon wrote it; NULL on timeout or if
 * the daemon died. The caller frees the result. */
static char *wait_endpoint(pid_t pid, uint64_t timeout_ms) {
  uint64_t deadline = clock_monotonic_ms() + timeout_ms;
  while (clock_monotonic_ms() < deadline) {
    FILE *f = fopen(endpoint_file, "r");
    if (f != NULL) {
      char line[512];
      char *got = fgets(line, sizeof line, f);
      fclose(f);
      if (got != NULL) {
        line[strcspn(line, "\n")] = '\0';
        return strdup(line);
      }
    }
    if (waitpid(pid, NULL, WNOHANG) == pid) return NULL;
    usleep(10 * 1000);
  }
  return NULL;
}

/* Starts the daemon on data_dir (by flags, or from config_file when
 * `from_config`) and connects the dealer to it. Returns 0 or -1. One copy
 * of every slot: with followers (--replicas 2) the coordinator would give
 * the registered worker's slots their follower entries on a later tick, one
 * more epoch at a moment this test does not control; replication has its own
 * tests. */
static int start_daemon(int from_config) {
  char *flags[] = {"--dir", data_dir, "--bind", "tcp://127.0.0.1:0", "--endpoint-file",
                   endpoint_file, "--heartbeat-timeout-ms", HEARTBEAT_TIMEOUT, "--replicas", "1",
                   "--insecure", NULL};
  char *config[] = {"--config", config_file, NULL};
  unlink(endpoint_file);
  daemon_pid = spawn(from_config ? config : flags);
  char *endpoint = wait_endpoint(daemon_pid, 15000);
  CHECK(endpoint != NULL);
  if (endpoint == NULL) return -1;
  dealer_destroy(&dealer);
  int rc = dealer_new(&dealer, zmq_context, endpoint, NULL);
  CHECK_EQ(rc, 0);
  free(endpoint);
  return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- requests */

static Tally__Envelope *reply;
static char last_message[512];

/* One round trip; returns 0 or the error code (message in last_message). */
static int call(Tally__Envelope *request) {
  wire_envelope_free(&reply);
  last_message[0] = '\0';
  int rc = dealer_call(dealer, request, CALL_TIMEOUT_MS, &reply);
  if (rc < 0 && reply != NULL && reply->body_case == TALLY__ENVELOPE__BODY_ERROR)
    snprintf(last_message, sizeof last_message, "%s", reply->error->message);
  return rc;
}

typedef struct {
  const char *name;
  char **labels;
  size_t n_labels;
  char **markets;
  size_t n_markets;
  uint32_t lease_seconds, overlap;
  double audit_rate;
} project_spec_t;

static char *labels[] = {"spam", "ok", "hate"};
static char *markets[] = {"es-LIVE", "jp", "kr"};

static project_spec_t spec(const char *name) {
  project_spec_t s = {name, labels, 3, markets, 3, 0, 0, 0.1};
  return s;
}

static void fill_project_create(Tally__Envelope *env, Tally__ProjectCreate *body,
                                Tally__Project *project, const project_spec_t *s) {
  tally__envelope__init(env);
  tally__project_create__init(body);
  tally__project__init(project);
  project->name = (char *)s->name;
  project->labels = s->labels, project->n_labels = s->n_labels;
  project->markets = s->markets, project->n_markets = s->n_markets;
  project->lease_seconds = s->lease_seconds;
  project->overlap = s->overlap;
  project->audit_rate = s->audit_rate;
  body->project = project;
  env->body_case = TALLY__ENVELOPE__BODY_PROJECT_CREATE;
  env->project_create = body;
}

static int create(const project_spec_t *s) {
  Tally__Envelope env;
  Tally__ProjectCreate body;
  Tally__Project project;
  fill_project_create(&env, &body, &project, s);
  return call(&env);
}

static int add_labeler(const char *id, uint32_t roles, char **labeler_markets, size_t n) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__LabelerAdd body = TALLY__LABELER_ADD__INIT;
  Tally__Labeler labeler = TALLY__LABELER__INIT;
  labeler.id = (char *)id, labeler.roles = roles;
  labeler.markets = labeler_markets, labeler.n_markets = n;
  body.labeler = &labeler;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_ADD;
  env.labeler_add = &body;
  return call(&env);
}

static int show(const char *name) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectShow body = TALLY__PROJECT_SHOW__INIT;
  body.name = (char *)name;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_SHOW;
  env.project_show = &body;
  return call(&env);
}

static int list_projects(void) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ProjectList body = TALLY__PROJECT_LIST__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_LIST;
  env.project_list = &body;
  return call(&env);
}

static int list_labelers(void) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__LabelerList body = TALLY__LABELER_LIST__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_LABELER_LIST;
  env.labeler_list = &body;
  return call(&env);
}

static int get_map(void) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__MapRequest body = TALLY__MAP_REQUEST__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
  env.map_request = &body;
  return call(&env);
}

static int get_config(void) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__ConfigRequest body = TALLY__CONFIG_REQUEST__INIT;
  env.body_case = TALLY__ENVELOPE__BODY_CONFIG_REQUEST;
  env.config_request = &body;
  return call(&env);
}

static int register_worker(uint32_t id, const char *endpoint) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__WorkerRegister body = TALLY__WORKER_REGISTER__INIT;
  body.worker_id = id, body.endpoint = (char *)endpoint;
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER;
  env.worker_register = &body;
  return call(&env);
}

static int heartbeat(uint32_t id, uint64_t epoch, uint64_t config_version) {
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__Heartbeat body = TALLY__HEARTBEAT__INIT;
  body.worker_id = id, body.epoch = epoch, body.config_version = config_version;
  body.queued = 12, body.live_leases = 3, body.items = 99;
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &body;
  return call(&env);
}

static const Tally__WorkerInfo *find_worker(const Tally__ClusterMap *map, uint32_t id) {
  for (size_t i = 0; map != NULL && i < map->n_workers; i++)
    if (map->workers[i]->id == id) return map->workers[i];
  return NULL;
}

/* Sends raw frames on the dealer's socket and returns the error code of the
 * reply (0 when the reply is not an error, TIMEOUT when none came). */
static int send_raw(const void *data, size_t len, const void *extra_frame, uint64_t *reply_id) {
  void *socket = dealer_socket(dealer);
  int flags = extra_frame ? ZMQ_SNDMORE : 0;
  if (zmq_send(socket, data, len, flags) < 0) return TALLY_E_TRANSPORT;
  if (extra_frame && zmq_send(socket, extra_frame, strlen(extra_frame), 0) < 0)
    return TALLY_E_TRANSPORT;
  wire_envelope_free(&reply);
  int rc = dealer_recv(dealer, CALL_TIMEOUT_MS, &reply);
  if (rc < 0) return rc;
  if (reply_id) *reply_id = reply->request_id;
  if (reply->body_case != TALLY__ENVELOPE__BODY_ERROR) return 0;
  snprintf(last_message, sizeof last_message, "%s", reply->error->message);
  return tally_error_from_wire((int)reply->error->code);
}

/* ---------------------------------------------------------------- tests */

static void test_command_line(void) {
  char *help[] = {"--help", NULL};
  CHECK_EQ(wait_exit(spawn(help), 10000), 0);
  char *bad[] = {"--dir", data_dir, "--no-such-flag", NULL};
  CHECK_EQ(wait_exit(spawn(bad), 10000), 2);
  char *no_dir[] = {"--bind", "tcp://127.0.0.1:0", NULL};
  CHECK_EQ(wait_exit(spawn(no_dir), 10000), 2);
  char *bad_timeout[] = {"--dir", data_dir, "--heartbeat-timeout-ms", "soon", NULL};
  CHECK_EQ(wait_exit(spawn(bad_timeout), 10000), 2);
}

static void test_projects(void) {
  project_spec_t s = spec("moderation");
  CHECK_EQ(create(&s), 0);
  const Tally__Project *p = reply ? reply->project_reply->project : NULL;
  CHECK(p && p->id == 1 && strcmp(p->name, "moderation") == 0 && p->n_labels == 3 &&
        p->lease_seconds == 300 && p->overlap == 1 && p->sla_seconds == 86400 &&
        p->created_ms > 0 && p->audit_rate == 0.1);
  s = spec("audit.jp_2");
  s.lease_seconds = 60, s.overlap = 3;
  CHECK_EQ(create(&s), 0);
  p = reply ? reply->project_reply->project : NULL;
  CHECK(p && p->id == 2 && p->lease_seconds == 60 && p->overlap == 3);

  s = spec("moderation");
  CHECK_EQ(create(&s), TALLY_E_ALREADY_EXISTS);
  CHECK(strcmp(last_message, "project 'moderation' already exists") == 0);

  s = spec("empty-labels");
  s.n_labels = 0;
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(last_message, "label list is empty") == 0);
  char *duplicate_labels[] = {"spam", "ok", "spam"};
  s = spec("dup-labels");
  s.labels = duplicate_labels;
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(last_message, "duplicate label 'spam'") == 0);
  s = spec("no markets");
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(last_message, "project name 'no markets'") != NULL);
  s = spec("no-markets");
  s.n_markets = 0;
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(last_message, "market list is empty") == 0);
  s = spec("rate");
  s.audit_rate = 1.5;
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(last_message, "audit_rate") != NULL);
  s = spec("overlap");
  s.overlap = 17;
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(last_message, "overlap") != NULL);
  s = spec("lease");
  s.lease_seconds = 86401;
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(last_message, "lease_seconds") != NULL);
  s = spec("");
  CHECK_EQ(create(&s), TALLY_E_INVALID_ARGUMENT);

  CHECK_EQ(show("audit.jp_2"), 0);
  CHECK(reply && reply->project_reply->project->id == 2);
  CHECK_EQ(show("absent"), TALLY_E_UNKNOWN_PROJECT);
  CHECK(strcmp(last_message, "unknown project 'absent'") == 0);

  CHECK_EQ(list_projects(), 0);
  const Tally__ProjectListReply *list = reply ? reply->project_list_reply : NULL;
  CHECK(list && list->n_projects == 2 && strcmp(list->projects[0]->name, "audit.jp_2") == 0 &&
        strcmp(list->projects[1]->name, "moderation") == 0);
}

static void test_labelers(void) {
  char *es[] = {"es-LIVE"}, *dup[] = {"jp", "jp"};
  CHECK_EQ(add_labeler("maria@es", TALLY__ROLE__ROLE_LABELER, es, 1), 0);
  CHECK(reply && strcmp(reply->labeler_reply->labeler->id, "maria@es") == 0 &&
        reply->labeler_reply->labeler->roles == TALLY__ROLE__ROLE_LABELER);
  CHECK_EQ(add_labeler("boss", TALLY__ROLE__ROLE_MANAGER, NULL, 0), 0);
  CHECK_EQ(add_labeler("maria@es", TALLY__ROLE__ROLE_AUDITOR, es, 1), TALLY_E_ALREADY_EXISTS);
  CHECK(strcmp(last_message, "labeler 'maria@es' already exists") == 0);
  CHECK_EQ(add_labeler("kenji", 0, es, 1), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(add_labeler("kenji", 64, es, 1), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(add_labeler("kenji", TALLY__ROLE__ROLE_LABELER, NULL, 0), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(add_labeler("kenji", TALLY__ROLE__ROLE_LABELER, dup, 2), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(last_message, "duplicate market 'jp'") == 0);
  CHECK_EQ(add_labeler("ken ji", TALLY__ROLE__ROLE_LABELER, es, 1), TALLY_E_INVALID_ARGUMENT);

  CHECK_EQ(list_labelers(), 0);
  const Tally__LabelerListReply *list = reply ? reply->labeler_list_reply : NULL;
  CHECK(list && list->n_labelers == 2 && strcmp(list->labelers[0]->id, "boss") == 0 &&
        strcmp(list->labelers[1]->id, "maria@es") == 0);

  CHECK_EQ(get_config(), 0);
  const Tally__ClusterConfig *config = reply ? reply->config : NULL;
  CHECK(config && config->version == 4 && config->n_projects == 2 && config->n_labelers == 2);
}

static void test_bad_messages(void) {
  uint64_t reply_id = 99;
  static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};
  CHECK_EQ(send_raw(garbage, sizeof garbage, NULL, &reply_id), TALLY_E_BAD_REQUEST);
  CHECK_EQ(reply_id, 0);

  /* A version-1 envelope without a body. */
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  uint8_t *buf = NULL;
  size_t len = 0;
  env.version = 1, env.request_id = 555;
  CHECK_EQ(wire_encode(&env, &buf, &len), 0);
  CHECK_EQ(send_raw(buf, len, NULL, &reply_id), TALLY_E_BAD_REQUEST);
  CHECK_EQ(reply_id, 555);
  free(buf);

  /* An envelope of version 2 (otherwise valid). */
  Tally__ProjectList body = TALLY__PROJECT_LIST__INIT;
  env.version = 2, env.request_id = 777;
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_LIST, env.project_list = &body;
  CHECK_EQ(wire_encode(&env, &buf, &len), 0);
  CHECK_EQ(send_raw(buf, len, NULL, &reply_id), TALLY_E_UNSUPPORTED_VERSION);
  CHECK_EQ(reply_id, 777);

  /* The same envelope with version 1 but a second frame. */
  env.version = 1;
  free(buf);
  wire_encode(&env, &buf, &len);
  CHECK_EQ(send_raw(buf, len, "extra", NULL), TALLY_E_BAD_REQUEST);
  free(buf);

  /* 9 MiB: over the 8 MiB limit, under ZeroMQ's hard limit. */
  size_t big = 9u * 1024u * 1024u;
  uint8_t *huge = calloc(1, big);
  CHECK(huge != NULL);
  if (huge) CHECK_EQ(send_raw(huge, big, NULL, NULL), TALLY_E_TOO_LARGE);
  CHECK(strstr(last_message, "8 MiB") != NULL);
  free(huge);

  /* Still serving. */
  CHECK_EQ(list_projects(), 0);
  CHECK(reply && reply->project_list_reply->n_projects == 2);

  /* A request of the data plane. */
  Tally__Envelope lease_env = TALLY__ENVELOPE__INIT;
  Tally__LeaseRequest lease = TALLY__LEASE_REQUEST__INIT;
  lease_env.body_case = TALLY__ENVELOPE__BODY_LEASE, lease_env.lease = &lease;
  CHECK_EQ(call(&lease_env), TALLY_E_UNKNOWN_TYPE);
  CHECK(strcmp(last_message, "the coordinator does not serve 'lease'; send it to a worker") == 0);
}

static void test_second_daemon_is_refused(void) {
  char *args[] = {"--dir", data_dir, "--bind", "tcp://127.0.0.1:0", NULL};
  CHECK_EQ(wait_exit(spawn(args), 15000), 1); /* the store is locked by the first */
  CHECK_EQ(list_projects(), 0);              /* and the first is unharmed */
}

/* Returns the worker id given by the coordinator (0 on failure). */
static uint32_t test_worker_liveness(uint64_t *epoch_out) {
  CHECK_EQ(heartbeat(7, 0, 0), TALLY_E_NOT_FOUND);
  CHECK(strcmp(last_message, "unknown worker, register first") == 0);
  CHECK_EQ(register_worker(0, "tcp://127.0.0.1:1"), 0);
  const Tally__WorkerRegisterReply *reg = reply ? reply->worker_register_reply : NULL;
  uint32_t id = reg ? reg->worker_id : 0;
  CHECK(id >= 1);
  CHECK(reg && reg->map && reg->map->epoch > 0 && reg->map->slot_count == TALLY_SLOT_COUNT);
  CHECK(reg && reg->config && reg->config->version == 4 && reg->config->n_projects == 2);
  const Tally__WorkerInfo *me = reg ? find_worker(reg->map, id) : NULL;
  CHECK(me && me->slots_owned == TALLY_SLOT_COUNT && me->state == TALLY__WORKER_STATE__WORKER_UP &&
        strcmp(me->endpoint, "tcp://127.0.0.1:1") == 0);
  size_t owned = 0;
  for (size_t slot = 0; reg && slot < reg->map->n_slot_owner; slot++)
    owned += reg->map->slot_owner[slot] == id;
  CHECK_EQ(owned, TALLY_SLOT_COUNT);
  uint64_t epoch = reg && reg->map ? reg->map->epoch : 0;

  CHECK_EQ(heartbeat(id, epoch, 4), 0);
  CHECK(reply && reply->heartbeat_reply->epoch == epoch && reply->heartbeat_reply->map == NULL &&
        reply->heartbeat_reply->config == NULL);

  /* A coordinator stalled for longer than the timeout (here: stopped) must
   * read the heartbeat waiting in its socket before judging the worker: no
   * DOWN and UP again, so the epoch stays. */
  CHECK_EQ(kill(daemon_pid, SIGSTOP), 0);
  usleep(800 * 1000);
  Tally__Envelope env = TALLY__ENVELOPE__INIT;
  Tally__Heartbeat body = TALLY__HEARTBEAT__INIT;
  body.worker_id = id, body.epoch = epoch, body.config_version = 4;
  body.queued = 12, body.live_leases = 3, body.items = 99;
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT, env.heartbeat = &body;
  env.version = TALLY_PROTOCOL_VERSION;
  env.request_id = dealer_next_request_id(dealer);
  CHECK_EQ(dealer_send(dealer, &env), 0);
  usleep(800 * 1000);
  CHECK_EQ(kill(daemon_pid, SIGCONT), 0);
  wire_envelope_free(&reply);
  CHECK_EQ(dealer_recv(dealer, CALL_TIMEOUT_MS, &reply), 0);
  CHECK(reply && reply->request_id == env.request_id &&
        reply->body_case == TALLY__ENVELOPE__BODY_HEARTBEAT_REPLY &&
        reply->heartbeat_reply->epoch == epoch);

  /* Silence: within a few timeouts the worker is DOWN and keeps its slots. */
  const Tally__WorkerInfo *w = NULL;
  uint64_t deadline = clock_monotonic_ms() + 10000;
  while (clock_monotonic_ms() < deadline) {
    if (get_map() == 0 && (w = find_worker(reply->map, id)) != NULL &&
        w->state == TALLY__WORKER_STATE__WORKER_DOWN)
      break;
    w = NULL;
    usleep(50 * 1000);
  }
  CHECK(w != NULL);
  CHECK(w && w->slots_owned == TALLY_SLOT_COUNT && w->queued == 12 && w->items == 99);
  CHECK(reply && reply->map->epoch > epoch);

  /* A heartbeat brings it back, with the newer map. */
  CHECK_EQ(heartbeat(id, epoch, 4), 0);
  const Tally__HeartbeatReply *hb = reply ? reply->heartbeat_reply : NULL;
  CHECK(hb && hb->epoch > epoch && hb->map != NULL);
  w = hb ? find_worker(hb->map, id) : NULL;
  CHECK(w && w->state == TALLY__WORKER_STATE__WORKER_UP);
  *epoch_out = hb ? hb->epoch : 0;
  return id;
}

#define PIPELINED 20

/* Creates PIPELINED projects with requests in flight together; returns the
 * highest id acknowledged. */
static uint32_t create_pipelined(void) {
  char names[PIPELINED][16];
  uint64_t ids[PIPELINED];
  uint32_t highest = 0;
  for (int i = 0; i < PIPELINED; i++) {
    snprintf(names[i], sizeof names[i], "bulk-%02d", i);
    project_spec_t s = spec(names[i]);
    Tally__Envelope env;
    Tally__ProjectCreate body;
    Tally__Project project;
    fill_project_create(&env, &body, &project, &s);
    env.version = TALLY_PROTOCOL_VERSION;
    env.request_id = ids[i] = dealer_next_request_id(dealer);
    CHECK_EQ(dealer_send(dealer, &env), 0);
  }
  int acknowledged = 0;
  for (int i = 0; i < PIPELINED; i++) {
    wire_envelope_free(&reply);
    if (dealer_recv(dealer, CALL_TIMEOUT_MS, &reply) < 0) break;
    if (reply->body_case == TALLY__ENVELOPE__BODY_PROJECT_REPLY &&
        reply->request_id >= ids[0] && reply->request_id <= ids[PIPELINED - 1]) {
      acknowledged++;
      if (reply->project_reply->project->id > highest) highest = reply->project_reply->project->id;
    }
  }
  CHECK_EQ(acknowledged, PIPELINED);
  return highest;
}

static void test_kill_and_restart(uint32_t worker_id, uint64_t epoch) {
  uint32_t highest = create_pipelined();
  CHECK_EQ(highest, 2 + PIPELINED);
  kill(daemon_pid, SIGKILL); /* right after the last acknowledgement */
  CHECK_EQ(wait_exit(daemon_pid, 10000), 128 + SIGKILL);
  daemon_pid = -1;

  FILE *f = fopen(config_file, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fprintf(f,
          "{\"dir\": \"%s\", \"bind\": \"tcp://127.0.0.1:0\", \"endpoint-file\": \"%s\",\n"
          " \"heartbeat-timeout-ms\": %s, \"replicas\": 1, \"log-level\": \"debug\",\n"
          " \"insecure\": true}\n",
          data_dir, endpoint_file, HEARTBEAT_TIMEOUT);
  fclose(f);
  if (start_daemon(1) < 0) return;

  CHECK_EQ(list_projects(), 0);
  const Tally__ProjectListReply *list = reply ? reply->project_list_reply : NULL;
  CHECK(list && list->n_projects == 2 + PIPELINED);
  CHECK_EQ(show("bulk-19"), 0);
  CHECK(reply && reply->project_reply->project->id >= 3 &&
        reply->project_reply->project->id <= highest);
  CHECK_EQ(list_labelers(), 0);
  CHECK(reply && reply->labeler_list_reply->n_labelers == 2);

  CHECK_EQ(get_map(), 0);
  const Tally__ClusterMap *map = reply ? reply->map : NULL;
  CHECK(map && map->epoch >= epoch && map->config_version == 4 + PIPELINED);
  const Tally__WorkerInfo *w = find_worker(map, worker_id);
  CHECK(w && w->slots_owned == TALLY_SLOT_COUNT);

  /* Ids and epoch continue: nothing is reused. */
  project_spec_t s = spec("after-restart");
  CHECK_EQ(create(&s), 0);
  CHECK(reply && reply->project_reply->project->id == highest + 1);
  CHECK_EQ(register_worker(0, "tcp://127.0.0.1:2"), 0);
  const Tally__WorkerRegisterReply *reg = reply ? reply->worker_register_reply : NULL;
  CHECK(reg && reg->worker_id == worker_id + 1 && reg->map->epoch > epoch);
  w = reg ? find_worker(reg->map, worker_id + 1) : NULL;
  CHECK(w && w->slots_owned == 0); /* all slots already have an owner */
  CHECK_EQ(register_worker(worker_id, "tcp://127.0.0.1:3"), 0); /* restart keeps its slots */
  reg = reply ? reply->worker_register_reply : NULL;
  w = reg ? find_worker(reg->map, worker_id) : NULL;
  CHECK(w && w->slots_owned == TALLY_SLOT_COUNT && strcmp(w->endpoint, "tcp://127.0.0.1:3") == 0);
}

static void test_sigterm(void) {
  CHECK_EQ(kill(daemon_pid, SIGTERM), 0);
  CHECK_EQ(wait_exit(daemon_pid, 10000), 0);
  daemon_pid = -1;
}

static void print_log_on_failure(void) {
  if (test_failed == 0) return;
  FILE *f = fopen(log_file, "r");
  if (f == NULL) return;
  char line[1024];
  fprintf(stderr, "---- daemon log (%s)\n", log_file);
  while (fgets(line, sizeof line, f)) fputs(line, stderr);
  fclose(f);
}

int main(void) {
  signal(SIGALRM, on_deadline);
  test_deadline(DEADLINE_SECONDS);
  atexit(kill_daemon);
  test_dir = test_temp_dir("coordinator_integration_test");
  snprintf(data_dir, sizeof data_dir, "%s/data", test_dir);
  snprintf(endpoint_file, sizeof endpoint_file, "%s/coordinator.endpoint", test_dir);
  snprintf(log_file, sizeof log_file, "%s/coordinator.log", test_dir);
  snprintf(config_file, sizeof config_file, "%s/coordinator.json", test_dir);
  zmq_context = zmq_ctx_new();

  test_command_line();
  if (start_daemon(0) == 0) {
    test_projects();
    test_labelers();
    test_bad_messages();
    test_second_daemon_is_refused();
    uint64_t epoch = 0;
    uint32_t worker_id = test_worker_liveness(&epoch);
    test_kill_and_restart(worker_id, epoch);
    if (daemon_pid > 0) test_sigterm();
  }

  kill_daemon();
  wire_envelope_free(&reply);
  dealer_destroy(&dealer);
  zmq_ctx_term(zmq_context);
  print_log_on_failure();
  test_remove_tree(test_dir);
  free(test_dir);
  return test_report();
}
