/* metrics_integration: both daemons' /metrics endpoints (--metrics-listen)
 * on a real cluster (a coordinator and one worker, CURVE as in
 * production), read over HTTP as Prometheus would.
 *
 *  - Both pages pass `promtool check metrics` (Debian `prometheus`), before
 *    and after work (skipped with 77 when promtool is not installed).
 *  - Worker, project "m" (market es, overlap 1, no audits): 10 items
 *    ingested -> tally_worker_queue_depth{project="m",market="es",
 *    stage="label"} 10; 4 leased and 3 of them submitted -> depth 6, live
 *    leases 1; requests_total counts submit OK 3, submit STALE_LEASE 1 (a
 *    submit of an unknown lease), ingest OK 1; the submit duration
 *    histogram counts 4; WAL syncs and groups were observed; slots owned
 *    1024.
 *  - Coordinator: one worker up, no slot unassigned, project_create OK 1
 *    and ALREADY_EXISTS 1, an ops report counted and its gather timed.
 *  - HTTP: 404 for another path, 405 for POST, 431 for a head over 8 KiB,
 *    two pipelined GETs on one connection, an idle connection closed by
 *    the server, and SIGTERM stops the worker with a connection open.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"

#define PAGE_MAX (1 << 20)

static cluster_t cluster;

/* A free loopback port (bound and released; another process could take it
 * before the daemon does, which would fail the start, not pass wrongly). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int connect_to(int port, int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends `request` and reads until the server closes (or the timeout);
 * returns the bytes read into out (NUL-terminated), or -1. */
static ssize_t http_exchange(int port, const char *request, size_t request_len, char *out,
                             size_t size) {
  int fd = connect_to(port, 15);
  if (fd < 0) return -1;
  ssize_t total = 0;
  if (send(fd, request, request_len, MSG_NOSIGNAL) == (ssize_t)request_len) {
    ssize_t n;
    while ((size_t)total < size - 1 && (n = recv(fd, out + total, size - 1 - total, 0)) > 0)
      total += n;
  } else {
    total = -1;
  }
  close(fd);
  if (total >= 0) out[total] = '\0';
  return total;
}

/* GET /metrics; returns the body (static buffer) or NULL. */
static const char *scrape(int port) {
  static char page[PAGE_MAX];
  const char *req = "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
  if (http_exchange(port, req, strlen(req), page, sizeof page) <= 0) return NULL;
  if (strncmp(page, "HTTP/1.1 200 OK\r\n", 17) != 0) return NULL;
  if (strstr(page, "Content-Type: text/plain; version=0.0.4") == NULL) return NULL;
  char *body = strstr(page, "\r\n\r\n");
  return body ? body + 4 : NULL;
}

/* The value of the sample `series` (name and labels exactly as rendered),
 * or NAN when absent. */
static double value_of(const char *page, const char *series) {
  if (page == NULL) return NAN;
  size_t len = strlen(series);
  for (const char *p = page; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, series, len) == 0 && p[len] == ' ') return strtod(p + len + 1, NULL);
  return NAN;
}

static int promtool_ok(const char *page) {
  char path[] = "/tmp/tally-metrics-page-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 0;
  size_t len = strlen(page);
  int ok = write(fd, page, len) == (ssize_t)len;
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
  ok = ok && system(cmd) == 0;
  unlink(path);
  return ok;
}

static void check_http_errors(int port) {
  static char out[16384];
  const char *other = "GET /other HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK(http_exchange(port, other, strlen(other), out, sizeof out) > 0 &&
        strncmp(out, "HTTP/1.1 404 ", 13) == 0);
  const char *post = "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
  CHECK(http_exchange(port, post, strlen(post), out, sizeof out) > 0 &&
        strncmp(out, "HTTP/1.1 405 ", 13) == 0 && strstr(out, "Allow: GET, HEAD\r\n") != NULL);
  char big[10000];
  int n = snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\nX-Big: ");
  memset(big + n, 'a', sizeof big - n - 1);
  big[sizeof big - 1] = '\0';
  CHECK(http_exchange(port, big, strlen(big), out, sizeof out) > 0 &&
        strncmp(out, "HTTP/1.1 431 ", 13) == 0);
  const char *junk = "HELLO\r\n\r\n";
  CHECK(http_exchange(port, junk, strlen(junk), out, sizeof out) > 0 &&
        strncmp(out, "HTTP/1.1 400 ", 13) == 0);
  /* keep-alive: two pipelined requests, the second asking to close */
  static char page[PAGE_MAX];
  const char *two = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
                    "HEAD /metrics?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  CHECK(http_exchange(port, two, strlen(two), page, sizeof page) > 0);
  const char *second = strstr(page + 1, "HTTP/1.1 200 OK\r\n");
  CHECK(strncmp(page, "HTTP/1.1 200 OK\r\n", 17) == 0 && second != NULL &&
        strstr(second + 1, "HTTP/1.1") == NULL);
}

int main(void) {
  harness_init(240);
  if (access("/usr/bin/promtool", X_OK) != 0) {
    fprintf(stderr, "promtool not installed (Debian package prometheus): skipped\n");
    return 77;
  }
  int worker_port = free_port(), coordinator_port = free_port();
  char worker_listen[64], coordinator_listen[64];
  snprintf(worker_listen, sizeof worker_listen, "127.0.0.1:%d", worker_port);
  snprintf(coordinator_listen, sizeof coordinator_listen, "127.0.0.1:%d", coordinator_port);
  cluster.worker_args[0] = "--metrics-listen";
  cluster.worker_args[1] = worker_listen;
  cluster.coordinator_args[0] = "--metrics-listen";
  cluster.coordinator_args[1] = coordinator_listen;
  cluster.ramp_off = 1;
  if (cluster_start(&cluster, 1) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  /* An idle connection, opened first: the server closes it after 10 s. */
  int idle = connect_to(worker_port, 20);
  CHECK(idle >= 0);

  const char *page = scrape(worker_port);
  CHECK(page != NULL && promtool_ok(page));
  CHECK(value_of(page, "tally_worker_slots_owned") == 1024);
  CHECK(value_of(page, "tally_build_info{program=\"tally-worker\",version=\"" TALLY_VERSION "\"}") == 1);
  CHECK(value_of(page, "tally_process_start_time_seconds") > 1.7e9);
  page = scrape(coordinator_port);
  CHECK(page != NULL && promtool_ok(page));

  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) return 1;
  const char *labels[] = {"ok", "spam"};
  const char *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = "m";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.overlap = 1;
  spec.lease_seconds = 600;
  spec.audit_rate = 0.0;
  CHECK(tally_project_create(t, &spec, NULL) == 0);
  CHECK(tally_project_create(t, &spec, NULL) == TALLY_E_ALREADY_EXISTS);
  tally_labeler_t lab = {"lab", TALLY_ROLE_LABELER, markets, 1, NULL};
  CHECK(tally_labeler_add(t, &lab, NULL) == 0);

  tally_item_t items[10];
  char ids[10][8];
  for (int i = 0; i < 10; i++) {
    snprintf(ids[i], sizeof ids[i], "i-%d", i);
    items[i] = (tally_item_t){ids[i], "es", 1u, "content", NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "m", items, 10, &res) == 0 && res && res->accepted == 10);
  tally_free(res);
  page = scrape(worker_port);
  CHECK(value_of(page, "tally_worker_queue_depth{project=\"m\",market=\"es\",stage=\"label\"}") ==
        10);

  tally_task_t *tasks[4] = {0};
  for (int i = 0; i < 4; i++) CHECK(tally_lease(t, "lab", "m", TALLY_STAGE_LABEL, 0, &tasks[i]) == 0 && tasks[i]);
  for (int i = 0; i < 3; i++)
    if (tasks[i]) CHECK(tally_submit(t, "lab", tasks[i]->slot, tasks[i]->lease_id, "ok", 1000) == 0);
  if (tasks[3])
    CHECK(tally_submit(t, "lab", tasks[3]->slot, tasks[3]->lease_id + 100000, "ok", 1000) ==
          TALLY_E_STALE_LEASE);
  for (int i = 0; i < 4; i++) tally_free(tasks[i]);

  page = scrape(worker_port);
  CHECK(page != NULL && promtool_ok(page));
  CHECK(value_of(page, "tally_worker_queue_depth{project=\"m\",market=\"es\",stage=\"label\"}") ==
        6);
  CHECK(value_of(page, "tally_worker_live_leases{project=\"m\"}") == 1);
  CHECK(value_of(page, "tally_worker_requests_total{type=\"submit\",code=\"OK\"}") == 3);
  CHECK(value_of(page, "tally_worker_requests_total{type=\"submit\",code=\"STALE_LEASE\"}") == 1);
  CHECK(value_of(page, "tally_worker_requests_total{type=\"ingest\",code=\"OK\"}") == 1);
  CHECK(value_of(page, "tally_worker_requests_total{type=\"lease\",code=\"OK\"}") >= 4);
  CHECK(value_of(page, "tally_worker_request_duration_seconds_count{type=\"submit\"}") == 4);
  CHECK(value_of(page, "tally_worker_request_duration_seconds_bucket{type=\"submit\",le=\"+Inf\"}") ==
        4);
  CHECK(value_of(page, "tally_worker_wal_sync_seconds_count") >= 4);
  CHECK(value_of(page, "tally_worker_batches_written_total{thread=\"loop\"}") +
            value_of(page, "tally_worker_batches_written_total{thread=\"pool\"}") ==
        value_of(page, "tally_worker_wal_sync_seconds_count"));
  CHECK(value_of(page, "tally_worker_group_requests_sum") >= 9);
  CHECK(value_of(page, "tally_worker_received_bytes_total") > 0);
  CHECK(value_of(page, "tally_worker_sent_bytes_total") > 0);
  CHECK(value_of(page, "tally_worker_disk_full") == 0);

  tally_ops_report_t *rep = NULL;
  CHECK(tally_report_ops(t, "m", "backlog", NULL, &rep) == 0);
  tally_free(rep);
  page = scrape(coordinator_port);
  CHECK(page != NULL && promtool_ok(page));
  CHECK(value_of(page, "tally_coordinator_workers{state=\"up\"}") == 1);
  CHECK(value_of(page, "tally_coordinator_slots_unassigned") == 0);
  CHECK(value_of(page, "tally_coordinator_map_epoch") >= 1);
  CHECK(value_of(page, "tally_coordinator_projects") == 1);
  CHECK(value_of(page, "tally_coordinator_requests_total{type=\"project_create\",code=\"OK\"}") == 1);
  CHECK(value_of(page,
                 "tally_coordinator_requests_total{type=\"project_create\",code=\"ALREADY_EXISTS\"}") ==
        1);
  CHECK(value_of(page, "tally_coordinator_requests_total{type=\"ops_report_request\",code=\"OK\"}") ==
        1);
  CHECK(value_of(page, "tally_coordinator_report_gather_seconds_count{kind=\"ops\"}") == 1);
  CHECK(value_of(page, "tally_coordinator_requests_total{type=\"heartbeat\",code=\"OK\"}") >= 1);
  CHECK(value_of(page, "tally_build_info{program=\"tally-coordinator\",version=\"" TALLY_VERSION "\"}") == 1);

  check_http_errors(worker_port);
  check_http_errors(coordinator_port);

  /* The idle connection was closed by the server (EOF, not our timeout). */
  char byte;
  CHECK(idle >= 0 && recv(idle, &byte, 1, 0) == 0);
  if (idle >= 0) close(idle);

  /* SIGTERM with a connection open still stops the worker (the test's
   * deadline fails it otherwise). */
  int open_fd = connect_to(worker_port, 5);
  CHECK(open_fd >= 0);
  cluster_kill_worker(&cluster, 0, SIGTERM);
  if (open_fd >= 0) {
    CHECK(recv(open_fd, &byte, 1, 0) == 0);
    close(open_fd);
  }

  tally_close(&t);
  cluster_stop(&cluster);
  return check_summary();
}
