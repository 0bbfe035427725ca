/* Integration test of tally-gateway on the real daemons: a secure cluster
 * (tests/harness.h), the real gateway with its own key (role gateway), and
 * the HTTP API driven by a real HTTP client (tests/gateway_api_test.py,
 * Python's standard library only). This program sets the cluster up
 * (project, people with passwords, items carrying <script>), starts the
 * gateway and a second one serving HTTPS (a self-signed certificate made
 * with openssl), runs the client and stops everything; each child dies with it
 * (PR_SET_PDEATHSIG), and the harness deadline bounds the whole. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "harness.h"
#include "tally.h"

static cluster_t cluster;

#define CHECK_EQ(a, b) CHECK_EQ_U64((long long)(a), (long long)(b))

static void make_person(tally_t *t, const char *id, uint32_t roles, const char *public_key,
                        const char *password) {
  const char *markets[] = {"es"};
  tally_labeler_t spec = {id, roles, markets, 1, public_key};
  tally_labeler_t *out = NULL;
  CHECK_EQ(tally_labeler_add(t, &spec, &out), 0);
  tally_free(out);
  if (password != NULL) CHECK_EQ(tally_password_set(t, id, password), 0);
}

static pid_t spawn(char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

/* Waits for `pid` up to `seconds`; its exit code, or -1 (then killed). */
static int wait_for(pid_t pid, int seconds) {
  uint64_t end = clock_monotonic_ms() + (uint64_t)seconds * 1000u;
  for (;;) {
    int status = 0;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (clock_monotonic_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(20000);
  }
}

/* A free loopback port (bound and released), or -1. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* The port a gateway wrote to `file` once listening (up to 30 s), or 0. */
static int wait_port(const char *file) {
  int port = 0;
  for (uint64_t end = clock_monotonic_ms() + 30000; port == 0 && clock_monotonic_ms() < end;) {
    FILE *pf = fopen(file, "r");
    if (pf != NULL) {
      if (fscanf(pf, "%d", &port) != 1) port = 0;
      fclose(pf);
    }
    if (port == 0) usleep(50000);
  }
  return port;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gateway_integration_test TESTS_SOURCE_DIR\n");
    return 2;
  }
  harness_init(400);
  CHECK_EQ(cluster_start(&cluster, 2), 0);
  tally_t *t = NULL;
  CHECK_EQ(tally_open(&t, cluster.coordinator_endpoint, 5000), 0);

  /* the project: every label audited, "hate" is high-severity */
  const char *labels[] = {"ok", "spam", "hate"}, *markets[] = {"es"}, *high[] = {"hate"};
  tally_project_t spec = {0};
  spec.name = "web";
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 1;
  spec.lease_seconds = 120;
  spec.audit_rate = 1.0;
  spec.overlap = 1;
  spec.high_severity = high;
  spec.high_severity_count = 1;
  spec.exposure_budget = 100;
  tally_project_t *project = NULL;
  CHECK_EQ(tally_project_create(t, &spec, &project), 0);
  tally_free(project);

  /* the gateway's key and the people, one per role */
  char gw_key[512], gw_public[CURVE_Z85_LEN + 1];
  CHECK_EQ(harness_keygen(&cluster, "gw", gw_key, sizeof gw_key, gw_public), 0);
  make_person(t, "gw", TALLY_ROLE_GATEWAY, gw_public, NULL);
  make_person(t, "ana", TALLY_ROLE_LABELER, NULL, "ana-password-1");
  make_person(t, "aud", TALLY_ROLE_AUDITOR, NULL, "aud-password-1");
  make_person(t, "lea", TALLY_ROLE_LEAD, NULL, "lea-password-1");
  make_person(t, "man", TALLY_ROLE_MANAGER, NULL, "man-password-1");
  make_person(t, "bob", TALLY_ROLE_LABELER, NULL, "bob-password-1");
  /* a password that is too short is refused before anything is sent */
  CHECK_EQ(tally_password_set(t, "bob", "short"), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(tally_password_set(t, "nobody", "long-enough-1"), TALLY_E_UNKNOWN_LABELER);

  /* 12 items: two carry markup, one is hinted high-severity */
  tally_item_t items[12];
  char ids[12][16];
  for (int i = 0; i < 12; i++) {
    snprintf(ids[i], sizeof ids[i], "item-%02d", i);
    items[i] = (tally_item_t){ids[i], "es", 1, "plain text", NULL, NULL};
  }
  items[0].content = "<script>alert('x')</script>";
  items[1].content = "\"><img src=x onerror=alert(1)>";
  items[2].category_hint = "hate";
  tally_ingest_result_t *res = NULL;
  CHECK_EQ(tally_ingest(t, "web", items, 12, &res), 0);
  CHECK_EQ(res->accepted, 12);
  tally_free(res);
  tally_close(&t);

  /* a console page to check the HTML headers on */
  char console[512], page[600], port_file[512];
  snprintf(console, sizeof console, "%s/console", cluster.dir);
  mkdir(console, 0700);
  snprintf(page, sizeof page, "%s/index.html", console);
  FILE *f = fopen(page, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("<!doctype html><title>Tally</title>\n", f);
    fclose(f);
  }
  snprintf(port_file, sizeof port_file, "%s/gateway.port", cluster.dir);

  char coordinator_pub[600];
  snprintf(coordinator_pub, sizeof coordinator_pub, "%s", harness_key_path(&cluster, "coordinator.pub"));
  /* metrics on their own loopback port (a free one, bound and released:
   * another process could take it first, then the gateway fails to start) */
  char metrics_listen[64], metrics_base[64];
  int metrics_port = free_port();
  CHECK(metrics_port > 0);
  snprintf(metrics_listen, sizeof metrics_listen, "127.0.0.1:%d", metrics_port);
  snprintf(metrics_base, sizeof metrics_base, "http://127.0.0.1:%d", metrics_port);
  char *gw_argv[] = {(char *)harness_bin("tally-gateway"), "--listen", "127.0.0.1:0", "--port-file", port_file,
                     "--coordinator", cluster.coordinator_endpoint, "--key", gw_key, "--coordinator-key",
                     coordinator_pub, "--console-dir", console, "--login-failures", "3",
                     "--metrics-listen", metrics_listen, NULL};
  pid_t gateway = spawn(gw_argv);
  int port = wait_port(port_file);
  CHECK(port > 0);
  /* a second gateway beside it, serving HTTPS with a self-signed certificate */
  char cert[600], key[600], tls_port_file[600], openssl_cmd[2048];
  snprintf(cert, sizeof cert, "%s/tls.crt", cluster.dir);
  snprintf(key, sizeof key, "%s/tls.key", cluster.dir);
  snprintf(tls_port_file, sizeof tls_port_file, "%s/gateway-tls.port", cluster.dir);
  snprintf(openssl_cmd, sizeof openssl_cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 1 -subj /CN=127.0.0.1 "
           ">/dev/null 2>&1",
           key, cert);
  CHECK_EQ(system(openssl_cmd), 0);
  char *tls_argv[] = {(char *)harness_bin("tally-gateway"), "--listen", "127.0.0.1:0", "--port-file",
                      tls_port_file, "--coordinator", cluster.coordinator_endpoint, "--key", gw_key,
                      "--coordinator-key", coordinator_pub, "--console-dir", console, "--tls-cert", cert,
                      "--tls-key", key, NULL};
  pid_t tls_gateway = spawn(tls_argv);
  int tls_port = wait_port(tls_port_file);
  CHECK(tls_port > 0);
  if (port > 0) {
    /* the CLI: an API token for bob, shown once; a language for aud */
    char token[256] = "", out[256] = "";
    CHECK_EQ(cluster_cli(&cluster, token, sizeof token, "token create bob --name ci-script"), 0);
    token[strcspn(token, "\r\n")] = '\0';
    CHECK(strncmp(token, "tly_", 4) == 0);
    CHECK_EQ(cluster_cli(&cluster, out, sizeof out, "labeler language aud ko"), 0);
    CHECK(cluster_cli(&cluster, out, sizeof out, "labeler language aud xx") != 0);
    char base[64], tls_base[64], script[600];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(tls_base, sizeof tls_base, "https://127.0.0.1:%d", tls_port);
    snprintf(script, sizeof script, "%s/gateway_api_test.py", argv[1]);
    char *py_argv[] = {"/usr/bin/python3", script, base, token, tls_base, metrics_base, NULL};
    int rc = wait_for(spawn(py_argv), 300);
    CHECK_EQ(rc, 0);
  }
  kill(gateway, SIGTERM);
  kill(tls_gateway, SIGTERM);
  CHECK_EQ(wait_for(gateway, 15), 0); /* stops cleanly on SIGTERM */
  CHECK_EQ(wait_for(tls_gateway, 15), 0);
  cluster_stop(&cluster);
  return check_summary();
}
