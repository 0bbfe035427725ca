/* Integration tests of the labeling cycle: the real tally-coordinator and
 * tally-worker on loopback in a temporary directory, driven through libtally
 * and the protocol itself. Covers: the full cycle with priorities and market
 * qualification, overlap k=2 with distinct labelers, lease expiry and
 * re-offer, 50 concurrent clients, and every kind of bad input: item ids
 * that are not UTF-8, carry control characters or are too long, ingest
 * conflicts, error messages that must not echo bad bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"
#include "dealer.h"
#include "harness.h"
#include "ident.h"
#include "tally.h"
#include "tally_error.h"
#include "wire.h"

static cluster_t cluster;

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) {
    fprintf(stderr, "cannot open client\n");
    exit(1);
  }
  return t;
}

static void make_project(tally_t *t, const char *name, uint32_t overlap, uint32_t lease_seconds) {
  const char *labels[] = {"ok", "spam", "hate"};
  const char *markets[] = {"es", "ja"};
  tally_project_t spec = {0};
  spec.name = name;
  spec.labels = labels;
  spec.label_count = 3;
  spec.markets = markets;
  spec.market_count = 2;
  spec.overlap = overlap;
  spec.lease_seconds = lease_seconds;
  tally_project_t *out = NULL;
  int rc = tally_project_create(t, &spec, &out);
  CHECK(rc == 0);
  if (rc != 0) fprintf(stderr, "project create: %s\n", tally_last_error(t));
  tally_free(out);
}

static void make_labeler(tally_t *t, const char *id, uint32_t roles, const char *m1, const char *m2) {
  const char *markets[] = {m1, m2};
  tally_labeler_t spec = {id, roles, markets, m2 ? 2u : 1u, NULL};
  tally_labeler_t *out = NULL;
  int rc = tally_labeler_add(t, &spec, &out);
  CHECK(rc == 0 || rc == TALLY_E_ALREADY_EXISTS);
  tally_free(out);
}

static int ingest_range(tally_t *t, const char *project, const char *market, int from, int to,
                        uint32_t priority, tally_ingest_result_t **res) {
  int n = to - from;
  tally_item_t *items = calloc((size_t)n, sizeof *items);
  char (*ids)[32] = calloc((size_t)n, sizeof *ids);
  for (int i = 0; i < n; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%d", market, from + i);
    items[i].id = ids[i];
    items[i].market = market;
    items[i].priority = priority;
    items[i].content = "{\"text\":\"hola\"}";
  }
  int rc = tally_ingest(t, project, items, (size_t)n, res);
  free(items);
  free(ids);
  return rc;
}

/* Full cycle: ingest, idempotent re-ingest, emergency first then oldest,
 * market qualification and role checks, submit, counts. */
static void test_cycle(void) {
  tally_t *t = client();
  make_project(t, "cycle", 1, 300);
  make_labeler(t, "ana", TALLY_ROLE_LABELER, "es", NULL);
  make_labeler(t, "ben", TALLY_ROLE_LABELER, "es", "ja");
  make_labeler(t, "cy", TALLY_ROLE_AUDITOR, "ja", NULL);
  tally_ingest_result_t *res = NULL;
  CHECK(ingest_range(t, "cycle", "es", 0, 10, TALLY_PRIORITY_NORMAL, &res) == 0);
  CHECK(res && res->accepted == 10 && res->rejected == 0);
  tally_free(res);
  CHECK(ingest_range(t, "cycle", "ja", 0, 10, TALLY_PRIORITY_NORMAL, &res) == 0);
  tally_free(res);
  CHECK(ingest_range(t, "cycle", "es", 100, 101, TALLY_PRIORITY_EMERGENCY, &res) == 0);
  tally_free(res);
  /* Idempotent: the same ids again are duplicates, nothing new. */
  CHECK(ingest_range(t, "cycle", "es", 0, 10, TALLY_PRIORITY_NORMAL, &res) == 0);
  CHECK(res && res->accepted == 0 && res->duplicates == 10);
  tally_free(res);

  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "ana", "cycle", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
  CHECK(task && strcmp(task->item_id, "es-100") == 0 && task->priority == TALLY_PRIORITY_EMERGENCY);
  CHECK(task && task->label_count == 3 && strcmp(task->market, "es") == 0);
  if (task) CHECK(tally_submit(t, "ana", task->slot, task->lease_id, "spam", 1500) == 0);
  tally_free(task);
  /* Then oldest first within a priority, only es for ana. */
  for (int i = 0; i < 10; i++) {
    task = NULL;
    CHECK(tally_lease(t, "ana", "cycle", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
    if (task == NULL) break;
    char expect[32];
    snprintf(expect, sizeof expect, "es-%d", i);
    CHECK(strcmp(task->item_id, expect) == 0);
    CHECK(tally_submit(t, "ana", task->slot, task->lease_id, "ok", 900) == 0);
    tally_free(task);
  }
  task = NULL;
  CHECK(tally_lease(t, "ana", "cycle", TALLY_STAGE_LABEL, 0, &task) == 0 && task == NULL);
  /* ben is qualified for ja: gets ja items. */
  CHECK(tally_lease(t, "ben", "cycle", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
  CHECK(task && strcmp(task->market, "ja") == 0);
  if (task) CHECK(tally_release(t, "ben", task->slot, task->lease_id) == 0);
  tally_free(task);
  /* cy has only the auditor role: no label tasks. */
  task = NULL;
  CHECK(tally_lease(t, "cy", "cycle", TALLY_STAGE_LABEL, 0, &task) == TALLY_E_NOT_QUALIFIED);
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "cycle", &st) == 0);
  if (st) {
    CHECK_EQ_U64(st->total.items, 21);
    CHECK_EQ_U64(st->total.labels, 11);
    CHECK_EQ_U64(st->total.done, 11);
    CHECK_EQ_U64(st->total.live_leases, 0);
    CHECK_EQ_U64(st->total.queued, 10);
  }
  tally_free(st);
  tally_item_state_t *item = NULL;
  CHECK(tally_item_get(t, "cycle", "es-100", &item) == 0);
  CHECK(item && item->done && item->label_count == 1 && strcmp(item->labels[0].label, "spam") == 0);
  tally_free(item);
  tally_close(&t);
}

/* Overlap k=2: every item gets exactly two labels from two labelers. */
static void test_overlap(void) {
  tally_t *t = client();
  make_project(t, "overlap", 2, 300);
  make_labeler(t, "ov1", TALLY_ROLE_LABELER, "es", NULL);
  make_labeler(t, "ov2", TALLY_ROLE_LABELER, "es", NULL);
  make_labeler(t, "ov3", TALLY_ROLE_LABELER, "es", NULL);
  tally_ingest_result_t *res = NULL;
  CHECK(ingest_range(t, "overlap", "es", 0, 5, TALLY_PRIORITY_NORMAL, &res) == 0);
  tally_free(res);
  tally_task_t *held[5] = {0};
  for (int i = 0; i < 5; i++) CHECK(tally_lease(t, "ov1", "overlap", 0, 0, &held[i]) == 0 && held[i]);
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      if (held[i] && held[j]) CHECK(strcmp(held[i]->item_id, held[j]->item_id) != 0);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "ov1", "overlap", 0, 0, &task) == 0 && task == NULL);
  for (int i = 0; i < 5; i++) {
    tally_task_t *other = NULL;
    CHECK(tally_lease(t, "ov2", "overlap", 0, 0, &other) == 0 && other != NULL);
    if (other) CHECK(tally_submit(t, "ov2", other->slot, other->lease_id, "ok", 10) == 0);
    tally_free(other);
  }
  for (int i = 0; i < 5; i++) {
    if (held[i]) CHECK(tally_submit(t, "ov1", held[i]->slot, held[i]->lease_id, "spam", 10) == 0);
    tally_free(held[i]);
  }
  /* Both labels in: a third labeler gets nothing. */
  task = NULL;
  CHECK(tally_lease(t, "ov3", "overlap", 0, 0, &task) == 0 && task == NULL);
  for (int i = 0; i < 5; i++) {
    char id[16];
    snprintf(id, sizeof id, "es-%d", i);
    tally_item_state_t *item = NULL;
    CHECK(tally_item_get(t, "overlap", id, &item) == 0);
    CHECK(item && item->label_count == 2 && item->done);
    if (item && item->label_count == 2)
      CHECK(strcmp(item->labels[0].labeler, item->labels[1].labeler) != 0);
    tally_free(item);
  }
  tally_close(&t);
}

/* A lease past its deadline is refused and the task is offered again. */
static void test_expiry(void) {
  tally_t *t = client();
  make_project(t, "expiry", 1, 1);
  make_labeler(t, "ex1", TALLY_ROLE_LABELER, "ja", NULL);
  make_labeler(t, "ex2", TALLY_ROLE_LABELER, "ja", NULL);
  tally_ingest_result_t *res = NULL;
  CHECK(ingest_range(t, "expiry", "ja", 0, 1, TALLY_PRIORITY_NORMAL, &res) == 0);
  tally_free(res);
  tally_task_t *first = NULL, *second = NULL, *none = NULL;
  CHECK(tally_lease(t, "ex1", "expiry", 0, 0, &first) == 0 && first != NULL);
  CHECK(tally_lease(t, "ex2", "expiry", 0, 0, &none) == 0 && none == NULL);
  usleep(1600 * 1000);
  if (first) CHECK(tally_submit(t, "ex1", first->slot, first->lease_id, "ok", 1) == TALLY_E_STALE_LEASE);
  CHECK(tally_lease(t, "ex2", "expiry", 0, 0, &second) == 0 && second != NULL);
  if (first && second) {
    CHECK(strcmp(first->item_id, second->item_id) == 0);
    CHECK(second->lease_id != first->lease_id); /* a new fencing token */
  }
  /* Long poll: nothing now; an ingest during the wait is handed out. */
  if (second) CHECK(tally_submit(t, "ex2", second->slot, second->lease_id, "ok", 1) == 0);
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "expiry", &st) == 0 && st && st->total.expired_leases >= 1);
  tally_free(st);
  tally_free(first);
  tally_free(second);
  tally_close(&t);
}

/* Long poll: a lease with wait_ms is answered as soon as work arrives. */
static void test_long_poll(void) {
  tally_t *t = client();
  make_project(t, "poll", 1, 60);
  make_labeler(t, "lp1", TALLY_ROLE_LABELER, "es", NULL);
  pid_t child = fork();
  if (child == 0) {
    usleep(400 * 1000);
    tally_t *c = client();
    tally_ingest_result_t *res = NULL;
    ingest_range(c, "poll", "es", 0, 1, TALLY_PRIORITY_NORMAL, &res);
    tally_free(res);
    tally_close(&c);
    _exit(0);
  }
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "lp1", "poll", 0, 5000, &task) == 0 && task != NULL);
  tally_free(task);
  waitpid(child, NULL, 0);
  tally_close(&t);
}

/* 50 concurrent clients: no double lease, no extra label. */
static void test_concurrency(void) {
  enum { CLIENTS = 50, ITEMS = 300, OVERLAP = 2 };
  tally_t *t = client();
  make_project(t, "crowd", OVERLAP, 60);
  char id[16];
  for (int i = 0; i < CLIENTS; i++) {
    snprintf(id, sizeof id, "c%02d", i);
    make_labeler(t, id, TALLY_ROLE_LABELER, "es", "ja");
  }
  tally_ingest_result_t *res = NULL;
  CHECK(ingest_range(t, "crowd", "es", 0, ITEMS / 2, TALLY_PRIORITY_NORMAL, &res) == 0);
  tally_free(res);
  CHECK(ingest_range(t, "crowd", "ja", 0, ITEMS / 2, TALLY_PRIORITY_HIGH, &res) == 0);
  tally_free(res);
  tally_close(&t);
  int pipes[2];
  CHECK(pipe(pipes) == 0);
  pid_t kids[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      close(pipes[0]);
      tally_t *c = client();
      char me[16];
      snprintf(me, sizeof me, "c%02d", i);
      int submitted = 0, errors = 0, empty = 0;
      while (empty < 3 && errors < 20) {
        tally_task_t *task = NULL;
        if (tally_lease(c, me, "crowd", 0, 0, &task) != 0) {
          errors++;
          continue;
        }
        if (task == NULL) {
          empty++;
          usleep(50 * 1000);
          continue;
        }
        /* Now and then give a task back, to mix releases into the race. */
        if ((task->lease_id + (uint64_t)i) % 7 == 0)
          tally_release(c, me, task->slot, task->lease_id);
        else if (tally_submit(c, me, task->slot, task->lease_id, "ok", 5) == 0)
          submitted++;
        else
          errors++;
        tally_free(task);
      }
      char line[64];
      int n = snprintf(line, sizeof line, "%d %d\n", submitted, errors);
      if (write(pipes[1], line, (size_t)n) != n) _exit(2);
      tally_close(&c);
      _exit(0);
    }
  }
  close(pipes[1]);
  int total = 0, total_errors = 0;
  FILE *in = fdopen(pipes[0], "r");
  int s, e;
  while (fscanf(in, "%d %d", &s, &e) == 2) {
    total += s;
    total_errors += e;
  }
  fclose(in);
  for (int i = 0; i < CLIENTS; i++) waitpid(kids[i], NULL, 0);
  CHECK_EQ_U64(total, ITEMS * OVERLAP);
  CHECK_EQ_U64(total_errors, 0);
  t = client();
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "crowd", &st) == 0);
  if (st) {
    CHECK_EQ_U64(st->total.labels, ITEMS * OVERLAP);
    CHECK_EQ_U64(st->total.done, ITEMS);
    CHECK_EQ_U64(st->total.live_leases, 0);
    CHECK_EQ_U64(st->total.queued, 0);
  }
  tally_free(st);
  int bad = 0;
  for (int m = 0; m < 2; m++)
    for (int i = 0; i < ITEMS / 2; i++) {
      snprintf(id, sizeof id, "%s-%d", m ? "ja" : "es", i);
      tally_item_state_t *item = NULL;
      if (tally_item_get(t, "crowd", id, &item) != 0 || item->label_count != OVERLAP ||
          strcmp(item->labels[0].labeler, item->labels[1].labeler) == 0)
        bad++;
      tally_free(item);
    }
  CHECK_EQ_U64(bad, 0);
  tally_close(&t);
}

/* Sends raw bytes to a worker and returns the error code of its reply. */
static int raw_error(const char *endpoint, const void *data, size_t len, int frames) {
  void *ctx = zmq_ctx_new();
  void *s = zmq_socket(ctx, ZMQ_DEALER);
  int linger = 0, timeout = 3000;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  curve_client_t keys; /* the harness's key, to worker 0 */
  const curve_client_t *curve = harness_curve(&cluster, 0, &keys);
  if (curve != NULL) curve_setup_client(s, curve);
  zmq_connect(s, endpoint);
  if (frames == 2) zmq_send(s, "x", 1, ZMQ_SNDMORE);
  zmq_send(s, data, len, 0);
  char buf[4096];
  int n = zmq_recv(s, buf, sizeof buf, 0);
  int code = 0;
  if (n > 0) {
    Tally__Envelope *env = NULL;
    if (wire_decode(buf, (size_t)n, &env, NULL) == 0 && env->body_case == TALLY__ENVELOPE__BODY_ERROR)
      code = tally_error_from_wire((int)env->error->code);
    wire_envelope_free(&env);
  }
  zmq_close(s);
  zmq_ctx_term(ctx);
  return code;
}

static void test_bad_input(void) {
  tally_t *t = client();
  make_project(t, "bad", 1, 300);
  make_labeler(t, "bd1", TALLY_ROLE_LABELER, "es", NULL);
  make_labeler(t, "bd2", TALLY_ROLE_LABELER, "es", NULL);
  tally_ingest_result_t *res = NULL;
  CHECK(ingest_range(t, "bad", "es", 0, 3, TALLY_PRIORITY_NORMAL, &res) == 0);
  tally_free(res);
  tally_status_t *before = NULL;
  CHECK(tally_status(t, "bad", &before) == 0);

  /* Unknown project, market, labeler; priority out of range. */
  CHECK(ingest_range(t, "no-such-project", "es", 0, 1, 1, &res) == TALLY_E_UNKNOWN_PROJECT);
  tally_free(res);
  CHECK(ingest_range(t, "bad", "xx", 0, 2, 1, &res) == 0);
  CHECK(res && res->rejected == 2 && res->items[0].code == TALLY_E_UNKNOWN_MARKET);
  tally_free(res);
  CHECK(ingest_range(t, "bad", "es", 50, 51, 9, &res) == 0);
  CHECK(res && res->rejected == 1 && res->items[0].code == TALLY_E_INVALID_ARGUMENT);
  tally_free(res);
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "nobody", "bad", 0, 0, &task) == TALLY_E_UNKNOWN_LABELER);
  CHECK(tally_lease(t, "bd1", "no-such-project", 0, 0, &task) == TALLY_E_UNKNOWN_PROJECT);

  /* Label outside the taxonomy: refused, and the lease stays usable. */
  CHECK(tally_lease(t, "bd1", "bad", 0, 0, &task) == 0 && task != NULL);
  if (task) {
    CHECK(tally_submit(t, "bd1", task->slot, task->lease_id, "not-a-label", 1) ==
          TALLY_E_LABEL_NOT_IN_TAXONOMY);
    CHECK(strstr(tally_last_error(t), "not-a-label") != NULL);
    /* Someone else's lease; a stale lease id; a slot out of range. */
    CHECK(tally_submit(t, "bd2", task->slot, task->lease_id, "ok", 1) == TALLY_E_NOT_LEASE_OWNER);
    CHECK(strstr(tally_last_error(t), "bd1") == NULL); /* never names the holder */
    CHECK(tally_submit(t, "bd1", task->slot, task->lease_id + 1000, "ok", 1) == TALLY_E_STALE_LEASE);
    CHECK(tally_submit(t, "bd1", 5000, task->lease_id, "ok", 1) == TALLY_E_INVALID_ARGUMENT);
    CHECK(tally_submit(t, "bd1", task->slot, task->lease_id, "ok", 1) == 0);
    /* The same submit again (a retry whose first reply was lost) is
     * answered as the first was; the lease is used, so a skip is not. */
    CHECK(tally_submit(t, "bd1", task->slot, task->lease_id, "ok", 1) == 0);
    CHECK(tally_release(t, "bd1", task->slot, task->lease_id) == TALLY_E_STALE_LEASE);
  }
  tally_free(task);

  /* Raw protocol abuse against the worker. */
  const char *worker = cluster.worker_endpoints[0];
  CHECK(raw_error(worker, "\x0a\xff\xff\xff", 4, 1) == TALLY_E_BAD_REQUEST);
  CHECK(raw_error(worker, "hello", 5, 2) == TALLY_E_BAD_REQUEST);
  Tally__Envelope env;
  Tally__ProjectList list = TALLY__PROJECT_LIST__INIT;
  wire_envelope_init(&env, 9);
  env.body_case = TALLY__ENVELOPE__BODY_PROJECT_LIST;
  env.project_list = &list;
  uint8_t *buf;
  size_t len;
  CHECK(wire_encode(&env, &buf, &len) == 0);
  CHECK(raw_error(worker, buf, len, 1) == TALLY_E_UNKNOWN_TYPE);
  free(buf);
  env.version = 7;
  CHECK(wire_encode(&env, &buf, &len) == 0);
  CHECK(raw_error(worker, buf, len, 1) == TALLY_E_UNSUPPORTED_VERSION);
  free(buf);
  size_t big = 9u << 20;
  char *huge = calloc(1, big);
  CHECK(raw_error(worker, huge, big, 1) == TALLY_E_TOO_LARGE);
  free(huge);

  /* Still serving, and nothing stored was harmed. */
  tally_status_t *after = NULL;
  CHECK(tally_status(t, "bad", &after) == 0);
  if (before && after) {
    CHECK_EQ_U64(after->total.items, before->total.items);
    CHECK_EQ_U64(after->total.labels, before->total.labels + 1);
    CHECK_EQ_U64(after->total.queued, before->total.queued - 1);
  }
  tally_free(before);
  tally_free(after);
  tally_close(&t);
}

/* True when an error message is safe to show: valid UTF-8, no control
 * characters (common/ident.h). */
static int message_is_clean(const char *m) {
  return m != NULL && (m[0] == '\0' || ident_check("message", m, strlen(m), NULL, 0) == 0);
}

/* Item ids are validated at ingest (UTF-8, no control characters, at most
 * 256 bytes); a re-ingest with other fields is a conflict, the same item a
 * duplicate; error messages never echo bad bytes. */
static void test_ids_and_conflicts(void) {
  tally_t *t = client();
  make_project(t, "ids", 1, 300);
  char long_id[300];
  memset(long_id, 'k', 257);
  long_id[257] = '\0';
  const char *bad_ids[] = {"esc\x1b[31m", "bad\xff", "tab\tid", "c1\xc2\x85", "nl\n", long_id};
  size_t n_bad = sizeof bad_ids / sizeof bad_ids[0];
  tally_item_t items[8];
  for (size_t i = 0; i < n_bad; i++) items[i] = (tally_item_t){bad_ids[i], "es", 1, "c", NULL, NULL};
  items[n_bad] = (tally_item_t){"caf\xc3\xa9-\xe6\x97\xa5", "es", 1, "c", NULL, NULL};
  tally_ingest_result_t *res = NULL;
  CHECK(tally_ingest(t, "ids", items, n_bad + 1, &res) == 0);
  CHECK(res && res->accepted == 1 && res->rejected == n_bad && res->conflicts == 0);
  for (size_t i = 0; res && i < n_bad; i++) {
    CHECK(res->items[i].code == TALLY_E_INVALID_ARGUMENT);
    CHECK(message_is_clean(res->items[i].message));
    CHECK(res->items[i].message && strstr(res->items[i].message, "item id") != NULL);
  }
  CHECK(res && res->items[n_bad].code == 0);
  tally_free(res);

  /* Conflicts and duplicates. */
  tally_item_t first = {"c-1", "es", 1, "original", NULL, NULL};
  CHECK(tally_ingest(t, "ids", &first, 1, &res) == 0 && res && res->accepted == 1);
  tally_free(res);
  CHECK(tally_ingest(t, "ids", &first, 1, &res) == 0);
  CHECK(res && res->accepted == 0 && res->duplicates == 1 && res->rejected == 0 && res->conflicts == 0);
  tally_free(res);
  tally_item_t changed[3] = {{"c-1", "es", 1, "changed", NULL, NULL},
                             {"c-1", "ja", 1, "original", NULL, NULL},
                             {"c-1", "es", 3, "original", NULL, NULL}};
  CHECK(tally_ingest(t, "ids", changed, 3, &res) == 0);
  CHECK(res && res->accepted == 0 && res->duplicates == 0 && res->rejected == 3 && res->conflicts == 3);
  for (size_t i = 0; res && i < 3; i++) {
    CHECK(res->items[i].code == TALLY_E_ALREADY_EXISTS);
    CHECK(res->items[i].message && strstr(res->items[i].message, "already exists") != NULL);
  }
  tally_free(res);
  tally_item_state_t *item = NULL;
  CHECK(tally_item_get(t, "ids", "c-1", &item) == 0);
  CHECK(item && strcmp(item->content, "original") == 0 && strcmp(item->market, "es") == 0 &&
        item->priority == 1);
  tally_free(item);
  tally_status_t *st = NULL;
  CHECK(tally_status(t, "ids", &st) == 0);
  CHECK(st && st->total.items == 2);
  tally_free(st);

  /* Names that are not UTF-8 or carry escapes come back sanitized. */
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "nob\xffody\x1b[2J", "ids", 0, 0, &task) == TALLY_E_UNKNOWN_LABELER);
  CHECK(message_is_clean(tally_last_error(t)));
  CHECK(tally_ingest(t, "pro\xc3j\x07", &first, 1, &res) == TALLY_E_UNKNOWN_PROJECT);
  CHECK(message_is_clean(tally_last_error(t)));
  tally_free(res);
  tally_close(&t);
}

int main(void) {
  harness_init(240);
  if (cluster_start(&cluster, 1) != 0) {
    fprintf(stderr, "cluster did not start\n");
    cluster_stop(&cluster);
    return 1;
  }
  test_cycle();
  test_overlap();
  test_expiry();
  test_long_poll();
  test_concurrency();
  test_bad_input();
  test_ids_and_conflicts();
  cluster_stop(&cluster);
  return check_summary();
}
