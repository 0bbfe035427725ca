/* Unit test of coordinator/coordinator_options: flags, defaults, --config
 * files and their precedence, and the errors for bad usage. */
#include <stdarg.h>

#include "coordinator_options.h"
#include "coordinator_test.h"
#include "tally_error.h"

static char why[512];

/* Parses a NULL-terminated argument list (after the program name). */
static int parse(coordinator_options_t *o, ...) {
  char *argv[32] = {"tally-coordinator"};
  int argc = 1;
  va_list ap;
  va_start(ap, o);
  for (char *arg; (arg = va_arg(ap, char *)) != NULL && argc < 31;) argv[argc++] = arg;
  va_end(ap);
  why[0] = '\0';
  return coordinator_options_parse(o, argc, argv, why, sizeof why);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
}

static void test_flags(void) {
  coordinator_options_t o;
  CHECK_EQ(parse(&o, "--dir", "/tmp/x", NULL), 0);
  CHECK(o.dir && strcmp(o.dir, "/tmp/x") == 0);
  CHECK(o.bind && strcmp(o.bind, "tcp://127.0.0.1:7400") == 0);
  CHECK(o.endpoint_file == NULL);
  CHECK_EQ(o.heartbeat_timeout_ms, 2000);
  CHECK_EQ(o.replicas, 2);
  CHECK_EQ(o.ramp_period_ms, 2000);
  CHECK_EQ(o.log_level, LOG_INFO);
  CHECK_EQ(o.help, 0);
  coordinator_options_free(&o);
  coordinator_options_free(&o); /* safe twice */

  CHECK_EQ(parse(&o, "--dir=/d", "--bind", "tcp://127.0.0.1:0", "--endpoint-file", "/d/ep",
                 "--heartbeat-timeout-ms", "250", "--log-level", "debug", NULL),
           0);
  CHECK(o.bind && strcmp(o.bind, "tcp://127.0.0.1:0") == 0);
  CHECK(o.endpoint_file && strcmp(o.endpoint_file, "/d/ep") == 0);
  CHECK_EQ(o.heartbeat_timeout_ms, 250);
  CHECK_EQ(o.log_level, LOG_DEBUG);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "--ramp-period-ms", "0", NULL), 0);
  CHECK_EQ(o.ramp_period_ms, 0);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "--replicas", "3", NULL), 0);
  CHECK_EQ(o.replicas, 3);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "--replicas", "0", NULL), TALLY_E_INVALID_ARGUMENT);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "--replicas", "6", NULL), TALLY_E_INVALID_ARGUMENT);
  coordinator_options_free(&o);

  CHECK_EQ(parse(&o, "--help", NULL), 0);
  CHECK_EQ(o.help, 1);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "-h", "--bogus", NULL), 0);
  CHECK_EQ(o.help, 1);
  coordinator_options_free(&o);
}

static void test_bad_usage(void) {
  coordinator_options_t o;
  CHECK_EQ(parse(&o, NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(why, "--dir is required") == 0);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "--bogus", NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(why, "unknown option --bogus") == 0);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(why, "option --dir needs a value") == 0);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "extra", NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(why, "unexpected argument 'extra'") == 0);
  coordinator_options_free(&o);
  const char *bad_timeouts[] = {"0", "9", "abc", "-5", "12ms", "", "86400001"};
  for (size_t i = 0; i < sizeof bad_timeouts / sizeof *bad_timeouts; i++) {
    CHECK_EQ(parse(&o, "--dir", "/d", "--heartbeat-timeout-ms", bad_timeouts[i], NULL),
             TALLY_E_INVALID_ARGUMENT);
    coordinator_options_free(&o);
  }
  const char *bad_periods[] = {"-1", "2s", "", "3600001"};
  for (size_t i = 0; i < sizeof bad_periods / sizeof *bad_periods; i++) {
    CHECK_EQ(parse(&o, "--dir", "/d", "--ramp-period-ms", bad_periods[i], NULL), TALLY_E_INVALID_ARGUMENT);
    coordinator_options_free(&o);
  }
  CHECK_EQ(parse(&o, "--dir", "/d", "--log-level", "loud", NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "'loud'") != NULL);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "", NULL), TALLY_E_INVALID_ARGUMENT);
  coordinator_options_free(&o);
}

/* Replicated coordinators: --raft-id, --peers, --raft-listen, and what
 * each refuses. */
static void test_raft_options(void) {
  coordinator_options_t o;
  const char *peers = "1=127.0.0.1:7411=tcp://127.0.0.1:7401,2=10.0.0.2:7411=tcp://10.0.0.2:7400,"
                      "3=host-c:7411=tcp://host-c:7400";
  CHECK_EQ(parse(&o, "--dir", "/d", "--raft-id", "2", "--peers", peers, NULL), 0);
  CHECK_EQ(o.raft_id, 2);
  CHECK_EQ(o.peers.count, 3);
  CHECK_EQ(o.peers.peers[2].id, 3);
  CHECK(strcmp(o.peers.peers[1].raft_address, "10.0.0.2:7411") == 0);
  CHECK(strcmp(o.peers.peers[0].client_endpoint, "tcp://127.0.0.1:7401") == 0);
  CHECK(o.bind && strcmp(o.bind, "tcp://10.0.0.2:7400") == 0); /* its own client endpoint */
  CHECK(o.raft_listen == NULL);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", "--raft-id", "1", "--peers", peers, "--bind",
                 "tcp://0.0.0.0:7401", "--raft-listen", "0.0.0.0:7411", NULL),
           0);
  CHECK(o.bind && strcmp(o.bind, "tcp://0.0.0.0:7401") == 0);
  CHECK(o.raft_listen && strcmp(o.raft_listen, "0.0.0.0:7411") == 0);
  coordinator_options_free(&o);
  CHECK_EQ(parse(&o, "--dir", "/d", NULL), 0); /* alone, as before */
  CHECK_EQ(o.raft_id, 0);
  CHECK_EQ(o.peers.count, 0);
  coordinator_options_free(&o);

  struct {
    const char *raft_id, *peers, *listen, *reason;
  } bad[] = {
      {"4", peers, NULL, "--raft-id 4 is not in --peers"},
      {"1", NULL, NULL, "--raft-id needs --peers"},
      {NULL, peers, NULL, "--peers and --raft-listen need --raft-id"},
      {"0", peers, NULL, "--raft-id wants"},
      {"x", peers, NULL, "--raft-id wants"},
      {"1", "1=127.0.0.1:7411", NULL, "is not ID=RAFT_HOST:PORT=CLIENT_ENDPOINT"},
      {"1", "1=127.0.0.1=tcp://a:1", NULL, "needs a Raft address HOST:PORT"},
      {"1", "1=127.0.0.1:99999=tcp://a:1", NULL, "needs a Raft address HOST:PORT"},
      {"1", "1=h:1=tcp://a:1,1=h:2=tcp://b:1", NULL, "is given twice"},
      {"1", "1=h:1=tcp://a:1,2=h:1=tcp://b:1", NULL, "Raft address h:1 is given twice"},
      {"1", "0=h:1=tcp://a:1", NULL, "needs an id from 1 to 1000000"},
      {"1", "1=h:1=", NULL, "needs a client endpoint"},
      {"1", "", NULL, "the list is empty"},
      {"1", "1=h:1=a,2=h:2=a,3=h:3=a,4=h:4=a,5=h:5=a,6=h:6=a,7=h:7=a,8=h:8=a", NULL, "at most 7"},
      {"1", peers, "nocolon", "--raft-listen wants HOST:PORT"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *argv[12] = {"--dir", "/d"};
    int argc = 2;
    if (bad[i].raft_id) argv[argc++] = "--raft-id", argv[argc++] = (char *)bad[i].raft_id;
    if (bad[i].peers) argv[argc++] = "--peers", argv[argc++] = (char *)bad[i].peers;
    if (bad[i].listen) argv[argc++] = "--raft-listen", argv[argc++] = (char *)bad[i].listen;
    argv[argc] = NULL;
    int rc = parse(&o, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], NULL);
    CHECK_EQ(rc, TALLY_E_INVALID_ARGUMENT);
    if (strstr(why, bad[i].reason) == NULL)
      fprintf(stderr, "case %zu: '%s' does not say '%s'\n", i, why, bad[i].reason);
    CHECK(strstr(why, bad[i].reason) != NULL);
    coordinator_options_free(&o);
  }
}

static void test_config_file(const char *dir) {
  coordinator_options_t o;
  char path[4096];
  snprintf(path, sizeof path, "%s/coordinator.json", dir);
  write_file(path,
             "{\"dir\": \"/from/file\", \"bind\": \"tcp://127.0.0.1:7500\",\n"
             " \"heartbeat-timeout-ms\": 1500, \"log_level\": \"warn\",\n"
             " \"endpoint-file\": \"/from/file/ep\"}\n");
  CHECK_EQ(parse(&o, "--config", path, NULL), 0);
  CHECK(o.dir && strcmp(o.dir, "/from/file") == 0);
  CHECK(o.bind && strcmp(o.bind, "tcp://127.0.0.1:7500") == 0);
  CHECK(o.endpoint_file && strcmp(o.endpoint_file, "/from/file/ep") == 0);
  CHECK_EQ(o.heartbeat_timeout_ms, 1500);
  CHECK_EQ(o.log_level, LOG_WARN);
  coordinator_options_free(&o);

  /* The command line wins, before or after --config. */
  CHECK_EQ(parse(&o, "--dir", "/cli", "--config", path, "--heartbeat-timeout-ms", "700", NULL), 0);
  CHECK(o.dir && strcmp(o.dir, "/cli") == 0);
  CHECK_EQ(o.heartbeat_timeout_ms, 700);
  CHECK(o.bind && strcmp(o.bind, "tcp://127.0.0.1:7500") == 0);
  coordinator_options_free(&o);

  write_file(path, "{\"dir\": \"/d\", \"heartbeat-timeout-ms\": \"900\"}");
  CHECK_EQ(parse(&o, "--config", path, NULL), 0);
  CHECK_EQ(o.heartbeat_timeout_ms, 900);
  coordinator_options_free(&o);

  write_file(path, "{\"dir\": \"/d\", \"heartbeat-timeout\": 900}");
  CHECK_EQ(parse(&o, "--config", path, NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "unknown key 'heartbeat-timeout'") != NULL);
  coordinator_options_free(&o);

  write_file(path, "{\"dir\": 5}");
  CHECK_EQ(parse(&o, "--config", path, NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "wants a string") != NULL);
  coordinator_options_free(&o);

  write_file(path, "[\"dir\"]");
  CHECK_EQ(parse(&o, "--config", path, NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "JSON object") != NULL);
  coordinator_options_free(&o);

  write_file(path, "{\"dir\": ");
  CHECK_EQ(parse(&o, "--config", path, NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strstr(why, "cannot read config file") != NULL);
  coordinator_options_free(&o);

  write_file(path, "{\"bind\": \"tcp://127.0.0.1:1\"}");
  CHECK_EQ(parse(&o, "--config", path, NULL), TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(why, "--dir is required") == 0);
  coordinator_options_free(&o);

  snprintf(path, sizeof path, "%s/missing.json", dir);
  CHECK_EQ(parse(&o, "--dir", "/d", "--config", path, NULL), TALLY_E_INVALID_ARGUMENT);
  coordinator_options_free(&o);
}

int main(void) {
  test_deadline(20);
  char *dir = test_temp_dir("coordinator_options_test");
  test_flags();
  test_bad_usage();
  test_raft_options();
  test_config_file(dir);
  test_remove_tree(dir);
  free(dir);
  return test_report();
}
