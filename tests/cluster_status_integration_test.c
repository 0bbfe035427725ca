/* `tally cluster status` through the real CLI against a real two-worker
 * cluster (tests/harness.h): the coordinator's cluster_status reply as the
 * CLI prints it in the table, CSV (--rows workers, slots, coordinators) and
 * JSON forms.
 *
 * What is asserted is what the coordinator reports, read independently
 * through libtally (tally_cluster_status): the replication factor as given
 * (1 when the coordinator gives none), one slot group per distinct
 * (primary, followers, in-sync, waiting) whose ranges expand to exactly
 * those slots, every slot in one group, the coordinators listed (none
 * without Raft), the lags. Without replication (R = 1, as the coordinator
 * runs today) each group is one worker's slots with no followers, nothing
 * in sync, not waiting and no lag. Also: --help names every column, a bad
 * --rows is a usage error, and a labeler may not ask (access.c's row).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"
#include "tally.h"

static cluster_t cluster;
static char out[1 << 20];

/* The replicas of slot s as the coordinator gave them (the owner alone
 * without replication). */
static tally_slot_replicas_t slot_of(const tally_cluster_status_t *st, uint32_t s) {
  if (st->slots != NULL && s < st->slot_replica_count) return st->slots[s];
  tally_slot_replicas_t r = {0};
  r.slot = s;
  r.primary = st->map.slot_owner[s];
  return r;
}

static int has_id(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

static int same_ids(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (!has_id(b, nb, a[i])) return 0;
  return 1;
}

static int same_replicas(const tally_slot_replicas_t *x, const tally_slot_replicas_t *y) {
  return x->primary == y->primary && !x->waiting == !y->waiting &&
         same_ids(x->followers, x->follower_count, y->followers, y->follower_count) &&
         same_ids(x->in_sync, x->in_sync_count, y->in_sync, y->in_sync_count);
}

/* How many distinct (primary, followers, in-sync, waiting) the slots have. */
static size_t distinct_groups(const tally_cluster_status_t *st) {
  size_t n = 0;
  for (uint32_t s = 0; s < st->map.slot_count; s++) {
    tally_slot_replicas_t mine = slot_of(st, s);
    uint32_t earlier = 0;
    while (earlier < s) {
      tally_slot_replicas_t theirs = slot_of(st, earlier);
      if (same_replicas(&mine, &theirs)) break;
      earlier++;
    }
    n += earlier == s;
  }
  return n;
}

/* Marks the slots of "0-3,7" in seen[]; returns how many, or -1 when the
 * text is not ranges of slots of the map or names a slot twice. */
static long expand_ranges(const char *text, uint32_t slot_count, unsigned char *seen) {
  long n = 0;
  const char *p = text;
  while (*p) {
    char *end;
    unsigned long first = strtoul(p, &end, 10), last = first;
    if (end == p) return -1;
    if (*end == '-') {
      p = end + 1;
      last = strtoul(p, &end, 10);
      if (end == p) return -1;
    }
    if (last < first || last >= slot_count) return -1;
    for (unsigned long s = first; s <= last; s++) {
      if (seen[s]) return -1;
      seen[s] = 1;
      n++;
    }
    p = end;
    if (*p == ',') p++;
    else if (*p != '\0') return -1;
  }
  return n;
}

/* The ids of a JSON array as a C array (room for 8). */
static size_t json_ids(json_t *array, uint32_t *ids) {
  size_t n = 0;
  for (size_t i = 0; i < json_array_size(array) && n < 8; i++)
    ids[n++] = (uint32_t)json_integer_value(json_array_get(array, i));
  return n;
}

/* Splits one CSV record (RFC 4180: quoted fields, "" inside quotes) at
 * *cursor into fields[] (each malloc'ed); moves *cursor past its CRLF.
 * Returns the number of fields (0 at the end). */
static size_t csv_record(const char **cursor, char **fields, size_t max) {
  const char *p = *cursor;
  if (*p == '\0') return 0;
  size_t n = 0;
  for (;;) {
    size_t cap = strlen(p) + 1, len = 0;
    char *field = malloc(cap);
    if (*p == '"') {
      for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
        if (*p == '"') p++;
        field[len++] = *p;
      }
      if (*p == '"') p++;
    } else {
      while (*p && *p != ',' && *p != '\r' && *p != '\n') field[len++] = *p++;
    }
    field[len] = '\0';
    if (n < max) fields[n++] = field;
    else free(field);
    if (*p != ',') break;
    p++;
  }
  if (*p == '\r') p++;
  if (*p == '\n') p++;
  *cursor = p;
  return n;
}

static void free_fields(char **fields, size_t n) {
  for (size_t i = 0; i < n; i++) free(fields[i]);
}

/* The CSV header of `text` joined back with commas equals `want`. */
static int csv_header_is(const char *text, const char *want) {
  char *fields[32];
  const char *p = text;
  size_t n = csv_record(&p, fields, 32);
  char joined[1024] = "";
  for (size_t i = 0; i < n; i++) {
    strncat(joined, i ? "," : "", sizeof joined - strlen(joined) - 1);
    strncat(joined, fields[i], sizeof joined - strlen(joined) - 1);
  }
  free_fields(fields, n);
  if (strcmp(joined, want) != 0) fprintf(stderr, "FAIL: CSV header '%s', wanted '%s'\n", joined, want);
  return strcmp(joined, want) == 0;
}

static void check_table(const tally_cluster_status_t *st, uint32_t replicas, size_t groups) {
  CHECK(cluster_cli(&cluster, out, sizeof out, "cluster status") == 0);
  char want[128];
  snprintf(want, sizeof want, "replication factor %u", replicas);
  CHECK(strstr(out, want) != NULL);
  CHECK(strstr(out, "epoch ") != NULL && strstr(out, "ID  STATE") != NULL); /* what it printed before */
  if (st->coordinator_count == 0) {
    CHECK(strstr(out, "coordinators: one, without Raft") != NULL);
  } else {
    snprintf(want, sizeof want, "coordinators: %zu, leader %llu", st->coordinator_count,
             (unsigned long long)st->leader_id);
    CHECK(strstr(out, want) != NULL);
  }
  /* The slot table alone: a header and one row per group. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "cluster status --rows slots") == 0);
  const char *header = strstr(out, "SLOTS ");
  CHECK(header != NULL && strstr(out, "ID  STATE") == NULL);
  if (header == NULL) return;
  CHECK(strstr(header, "SLOT_COUNT") && strstr(header, "PRIMARY") && strstr(header, "FOLLOWERS") &&
        strstr(header, "IN_SYNC") && strstr(header, "WAITING") && strstr(header, "MAX_LAG_MS"));
  size_t rows = 0;
  uint32_t slots = 0;
  for (const char *line = strchr(header, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    char ranges[128], primary[16], followers[64], in_sync[64], waiting[8], lag[32];
    unsigned count = 0;
    if (sscanf(line + 1, "%127s %u %15s %63s %63s %7s %31s", ranges, &count, primary, followers, in_sync, waiting,
               lag) != 7)
      break;
    rows++;
    slots += count;
    if (st->slots == NULL) /* not replicated: a worker's slots, nothing else */
      CHECK(strcmp(followers, "-") == 0 && strcmp(in_sync, "-") == 0 && strcmp(waiting, "no") == 0 &&
            strcmp(lag, "-") == 0 && strcmp(primary, "-") != 0);
  }
  CHECK_EQ_U64(rows, groups);
  CHECK_EQ_U64(slots, st->map.slot_count);
}

static void check_csv(const tally_cluster_status_t *st, uint32_t replicas, size_t groups) {
  char *fields[32];
  /* Workers (the default): as before, plus the replicas and store_full columns. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format csv cluster status") == 0);
  CHECK(csv_header_is(out, "id,state,endpoint,slots_owned,queued,live_leases,items,last_heartbeat_ms,epoch,skew,"
                           "unavailable_slots,unassigned_slots,replicas,store_full"));
  const char *p = out;
  free_fields(fields, csv_record(&p, fields, 32));
  size_t rows = 0, n;
  while ((n = csv_record(&p, fields, 32)) > 0) {
    rows++;
    CHECK_EQ_U64(n, 14);
    if (n == 14) {
      CHECK_EQ_U64(strtoul(fields[12], NULL, 10), replicas);
      CHECK(strcmp(fields[13], "no") == 0); /* no store is full here */
    }
    free_fields(fields, n);
  }
  CHECK_EQ_U64(rows, st->map.worker_count);

  /* Slot groups: every slot once, each group's primary as the map says. */
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format csv cluster status --rows slots") == 0);
  CHECK(csv_header_is(out, "slots,slot_count,primary,followers,in_sync,waiting,max_lag_ms,replicas,epoch"));
  unsigned char *seen = calloc(st->map.slot_count, 1);
  p = out;
  free_fields(fields, csv_record(&p, fields, 32));
  rows = 0;
  while ((n = csv_record(&p, fields, 32)) > 0) {
    rows++;
    CHECK_EQ_U64(n, 9);
    if (n == 9) {
      char *first_end;
      uint32_t first = (uint32_t)strtoul(fields[0], &first_end, 10);
      long count = expand_ranges(fields[0], st->map.slot_count, seen);
      CHECK(count > 0 && (unsigned long)count == strtoul(fields[1], NULL, 10));
      if (first < st->map.slot_count) {
        tally_slot_replicas_t r = slot_of(st, first);
        CHECK_EQ_U64(strtoul(fields[2], NULL, 10), r.primary);
        CHECK(strcmp(fields[5], r.waiting ? "yes" : "no") == 0);
        if (st->slots == NULL) CHECK(fields[3][0] == '\0' && fields[4][0] == '\0' && fields[6][0] == '\0');
      }
      CHECK_EQ_U64(strtoul(fields[7], NULL, 10), replicas);
      CHECK_EQ_U64(strtoull(fields[8], NULL, 10), st->map.epoch);
    }
    free_fields(fields, n);
  }
  CHECK_EQ_U64(rows, groups);
  size_t covered = 0;
  for (uint32_t s = 0; s < st->map.slot_count; s++) covered += seen[s];
  CHECK_EQ_U64(covered, st->map.slot_count);
  free(seen);

  /* Coordinators: a header and one row each (none without Raft). */
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format csv cluster status --rows coordinators") == 0);
  CHECK(csv_header_is(out, "raft_id,endpoint,raft_address,leader,leader_id,raft_term,raft_commit_index"));
  p = out;
  free_fields(fields, csv_record(&p, fields, 32));
  rows = 0;
  while ((n = csv_record(&p, fields, 32)) > 0) {
    rows++;
    CHECK_EQ_U64(n, 7);
    free_fields(fields, n);
  }
  CHECK_EQ_U64(rows, st->coordinator_count);
}

static void check_json(const tally_cluster_status_t *st, uint32_t replicas, size_t groups) {
  CHECK(cluster_cli(&cluster, out, sizeof out, "--format json cluster status") == 0);
  json_error_t error;
  json_t *doc = json_loads(out, 0, &error);
  CHECK(doc != NULL);
  if (doc == NULL) {
    fprintf(stderr, "not JSON (%s): %.300s\n", error.text, out);
    return;
  }
  CHECK_EQ_U64(json_integer_value(json_object_get(doc, "epoch")), st->map.epoch);
  CHECK_EQ_U64(json_array_size(json_object_get(doc, "workers")), st->map.worker_count);
  CHECK_EQ_U64(json_integer_value(json_object_get(doc, "replicas")), replicas);
  CHECK_EQ_U64(json_array_size(json_object_get(doc, "coordinators")), st->coordinator_count);
  CHECK_EQ_U64(json_array_size(json_object_get(doc, "lags")), st->lag_count);
  CHECK(json_is_integer(json_object_get(doc, "leader_id")) && json_is_integer(json_object_get(doc, "raft_term")) &&
        json_is_integer(json_object_get(doc, "raft_commit_index")));
  json_t *slot_groups = json_object_get(doc, "slot_groups");
  CHECK_EQ_U64(json_array_size(slot_groups), groups);
  unsigned char *seen = calloc(st->map.slot_count, 1);
  for (size_t g = 0; g < json_array_size(slot_groups); g++) {
    json_t *o = json_array_get(slot_groups, g);
    const char *ranges = json_string_value(json_object_get(o, "slots"));
    unsigned char *mine = calloc(st->map.slot_count, 1);
    long count = ranges ? expand_ranges(ranges, st->map.slot_count, mine) : -1;
    CHECK(count > 0 && (json_int_t)count == json_integer_value(json_object_get(o, "slot_count")));
    uint32_t followers[8], in_sync[8];
    tally_slot_replicas_t shown = {0};
    json_t *primary = json_object_get(o, "primary");
    shown.primary = json_is_null(primary) ? 0 : (uint32_t)json_integer_value(primary);
    shown.follower_count = json_ids(json_object_get(o, "followers"), followers);
    shown.followers = followers;
    shown.in_sync_count = json_ids(json_object_get(o, "in_sync"), in_sync);
    shown.in_sync = in_sync;
    shown.waiting = json_is_true(json_object_get(o, "waiting"));
    /* Exactly the slots with these replicas, each in one group only. */
    for (uint32_t s = 0; s < st->map.slot_count; s++) {
      tally_slot_replicas_t r = slot_of(st, s);
      int belongs = same_replicas(&r, &shown);
      if (belongs != (mine[s] != 0)) {
        fprintf(stderr, "FAIL: slot %u %s group %zu\n", s, belongs ? "missing from" : "wrongly in", g);
        CHECK(0);
        break;
      }
      if (mine[s]) {
        CHECK(!seen[s]);
        seen[s] = 1;
      }
    }
    if (st->slots == NULL) CHECK(json_is_null(json_object_get(o, "max_lag_ms")) && shown.primary != 0);
    free(mine);
  }
  free(seen);
  json_decref(doc);
}

int main(void) {
  harness_init(180);
  if (cluster_start(&cluster, 2) != 0) {
    cluster_stop(&cluster);
    return 1;
  }
  tally_t *t = NULL;
  CHECK(tally_open(&t, cluster.coordinator_endpoint, 5000) == 0);
  tally_cluster_status_t *st = NULL;
  CHECK(t != NULL && tally_cluster_status(t, &st) == 0 && st != NULL);
  if (st != NULL) {
    CHECK_EQ_U64(st->map.slot_count, 1024);
    CHECK_EQ_U64(st->map.worker_count, 2);
    CHECK_EQ_U64(st->map.unassigned_slots, 0);
    uint32_t replicas = st->replicas ? st->replicas : 1; /* as given */
    size_t groups = distinct_groups(st);
    CHECK(groups >= 2); /* two workers own slots */
    check_table(st, replicas, groups);
    check_csv(st, replicas, groups);
    check_json(st, replicas, groups);
  }
  tally_free(st);
  tally_close(&t);

  CHECK(cluster_cli(&cluster, out, sizeof out, "cluster status --help") == 0);
  const char *columns[] = {"SLOTS", "SLOT_COUNT", "PRIMARY", "FOLLOWERS", "IN_SYNC", "WAITING", "MAX_LAG_MS",
                           "RAFT_ID", "ENDPOINT", "RAFT_ADDRESS", "LEADER", "--rows"};
  for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) CHECK(strstr(out, columns[i]) != NULL);
  CHECK(cluster_cli(&cluster, out, sizeof out, "cluster status --rows nope") == 2);
  CHECK(strstr(out, "bad --rows 'nope'") != NULL);

  /* A labeler may not read the cluster's status. */
  char key[512], pub[CURVE_Z85_LEN + 1];
  CHECK(harness_keygen(&cluster, "lab", key, sizeof key, pub) == 0);
  CHECK(cluster_cli(&cluster, out, sizeof out, "labeler add lab --roles labeler --markets es --public-key '%s'",
                    harness_key_path(&cluster, "lab.pub")) == 0);
  int rc = cluster_cli(&cluster, out, sizeof out, "--key '%s' cluster status", key);
  CHECK(rc == 1 && strstr(out, "PERMISSION_DENIED") != NULL);
  if (rc != 1) fprintf(stderr, "labeler's cluster status: %d: %.300s\n", rc, out);

  cluster_stop(&cluster);
  return check_summary();
}
