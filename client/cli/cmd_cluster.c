/* cmd_cluster: `tally cluster status` (the map and worker health, from the
 * coordinator) and `tally status` (counts summed over the workers). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "curve.h"

static const char cluster_status_help[] =
    "Usage: tally cluster status [--rows workers|slots|coordinators]\n\n"
    "Shows the cluster map: epoch, each worker (id, state, endpoint, slots owned,\n"
    "queued, live leases, items, time since its last heartbeat), how many slots\n"
    "have no owner, how many are unavailable (owned by a worker that is down),\n"
    "and the ownership skew: the most slots an UP worker owns over the mean of\n"
    "the UP workers, draining ones left out (1.00 = even; undefined without UP\n"
    "workers owning slots). A draining worker shows as state \"draining\" until\n"
    "it owns no slot, and a worker whose store refuses writes for lack of space\n"
    "(disk full, a quota or file size limit: it takes no slot moves and no new\n"
    "followers until it has room) as \"full\"; JSON adds draining, slots_moving,\n"
    "holds_sums and store_full (true or false).\n\n"
    "Then replication: the replication factor (copies of each slot the cluster\n"
    "aims for; 1 when the coordinator does not replicate slots) and one row per\n"
    "group of slots that share primary, followers, in-sync set and waiting:\n"
    "  SLOTS       the slots of the group as ranges (0-255,300); the table cuts\n"
    "              a long list with \"...\", CSV and JSON give it whole\n"
    "  SLOT_COUNT  how many slots the group has\n"
    "  PRIMARY     the worker serving them (the map's owner; - unassigned)\n"
    "  FOLLOWERS   workers holding a copy (- none)\n"
    "  IN_SYNC     the followers every acknowledged write waits for (- none)\n"
    "  WAITING     yes: the primary is down and no follower is in sync, so\n"
    "              nothing was promoted and the slots wait for it\n"
    "  MAX_LAG_MS  the largest lag a primary reported for a follower of these\n"
    "              slots: the age of its oldest unacknowledged write (- none\n"
    "              reported; 0 caught up)\n"
    "Last, the coordinators of a replicated control plane (Raft): RAFT_ID,\n"
    "ENDPOINT (client endpoint), RAFT_ADDRESS and LEADER (yes for the leader),\n"
    "with the Raft term and commit index; \"one, without Raft\" otherwise.\n\n"
    "CSV holds one table: --rows picks it (default workers: the worker rows\n"
    "with the cluster figures epoch, skew, unavailable and unassigned slots and\n"
    "replicas repeated on every row, then store_full (yes or no); slots: slots,\n"
    "slot_count, primary, followers, in_sync, waiting, max_lag_ms, replicas,\n"
    "epoch; coordinators:\n"
    "raft_id, endpoint, raft_address, leader, leader_id, raft_term,\n"
    "raft_commit_index). Lists in a cell are comma-separated, as in the table.\n"
    "With the table format --rows shows only that part. JSON is one document:\n"
    "the map's fields and workers as above, replicas, slot_groups (slots,\n"
    "slot_count, primary, followers, in_sync, waiting, max_lag_ms; null where\n"
    "the table shows -), coordinators, leader_id, raft_term, raft_commit_index\n"
    "and lags (slot, follower_id, sent_seq, acked_seq, lag_ms as the primaries\n"
    "reported them).\n\n"
    "A coordinator older than this command is shown as before (the map only).\n\n"
    "Options:\n"
    "  --rows R   workers, slots or coordinators (see above)\n";

static const char status_help[] =
    "Usage: tally status [--project P]\n\n"
    "Cluster-wide counts (items, labels, done, queued, live and expired leases,\n"
    "skips) summed over the workers, the depth of every (project, market, stage)\n"
    "queue, and each worker's share. Workers that are down or do not answer are\n"
    "listed and reported on stderr; the command still exits 0 with the sums of\n"
    "the others, or 1 if no worker answered.\n\n"
    "Options:\n"
    "  --project P   only this project\n";

static void heartbeat_age(uint64_t last_ms, uint64_t now_ms, char *buf, size_t size) {
  if (last_ms == 0) {
    snprintf(buf, size, "never");
    return;
  }
  char d[32];
  output_duration(now_ms > last_ms ? now_ms - last_ms : 0, d, sizeof d);
  snprintf(buf, size, "%s ago", d);
}

/* Slots owned by a DOWN worker: nobody serves them until it is back. */
static uint32_t map_unavailable_slots(const tally_map_t *map) {
  uint32_t n = 0;
  for (size_t s = 0; map->slot_owner && s < map->slot_count; s++)
    for (size_t i = 0; map->slot_owner[s] != 0 && i < map->worker_count; i++)
      if (map->workers[i].id == map->slot_owner[s]) {
        n += map->workers[i].state == TALLY_WORKER_DOWN;
        break;
      }
  return n;
}

/* Ownership skew: the most slots an UP worker owns over the mean of the UP
 * workers (draining workers left out: they are emptied on purpose). Returns 0 (undefined) when no UP worker owns a slot, else 1. */
static int map_skew(const tally_map_t *map, double *skew) {
  uint64_t total = 0, most = 0, up = 0;
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    if (w->state != TALLY_WORKER_UP || w->draining) continue;
    up++;
    total += w->slots_owned;
    if (w->slots_owned > most) most = w->slots_owned;
  }
  *skew = 0;
  if (total == 0) return 0;
  *skew = (double)most * (double)up / (double)total;
  return 1;
}

static json_t *map_json(const tally_map_t *map, uint64_t now) {
  json_t *workers = json_array();
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    json_t *age = w->last_heartbeat_ms ? json_integer((json_int_t)(now > w->last_heartbeat_ms ? now - w->last_heartbeat_ms : 0))
                                       : json_null();
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)w->id, "state",
                          tally_worker_state_name(w->state), "endpoint", w->endpoint, "slots_owned",
                          (json_int_t)w->slots_owned, "queued", (json_int_t)w->queued, "live_leases",
                          (json_int_t)w->live_leases, "items", (json_int_t)w->items, "last_heartbeat_ms",
                          (json_int_t)w->last_heartbeat_ms, "heartbeat_age_ms", age);
    json_object_set_new(o, "draining", json_boolean(w->draining));
    json_object_set_new(o, "slots_moving", json_integer((json_int_t)w->slots_moving));
    json_object_set_new(o, "holds_sums", json_boolean(w->holds_sums));
    json_object_set_new(o, "store_full", json_boolean(w->store_full));
    json_array_append_new(workers, o);
  }
  double skew;
  json_t *skew_json = map_skew(map, &skew) ? json_real(skew) : json_null();
  return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "epoch", (json_int_t)map->epoch, "slot_count",
                   (json_int_t)map->slot_count, "unassigned_slots", (json_int_t)map->unassigned_slots,
                   "unavailable_slots", (json_int_t)map_unavailable_slots(map), "skew", skew_json,
                   "config_version", (json_int_t)map->config_version, "workers", workers);
}

static const char *const worker_headers[] = {"ID",          "STATE", "ENDPOINT", "SLOTS",    "QUEUED",
                                             "LIVE_LEASES", "ITEMS", "HEARTBEAT"};
static const char *const worker_csv_headers[] = {"id",          "state",       "endpoint",          "slots_owned",
                                                 "queued",      "live_leases", "items",             "last_heartbeat_ms",
                                                 "epoch",       "skew",        "unavailable_slots", "unassigned_slots",
                                                 "replicas",    "store_full"};

/* Prints the map in cli->format; `replicas` > 0 adds that column to the
 * CSV rows (tally cluster status), 0 leaves the rows as drain prints them. */
static int print_map(cli_t *cli, const tally_map_t *map, uint32_t replicas) {
  uint64_t now = clock_now_ms();
  if (cli->format == OUTPUT_JSON) return output_json(map_json(map, now), cli->out);
  int csv = cli->format == OUTPUT_CSV;
  double skew;
  int skew_defined = map_skew(map, &skew);
  uint32_t unavailable = map_unavailable_slots(map);
  output_table_t *t = output_table_new(csv ? (replicas ? 14 : 12) : 8, csv ? worker_csv_headers : worker_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < map->worker_count; i++) {
    const tally_worker_info_t *w = &map->workers[i];
    char age[48];
    heartbeat_age(w->last_heartbeat_ms, now, age, sizeof age);
    output_table_cellf(t, "%u", w->id);
    /* The table's STATE says "full" for an UP worker whose store refuses
     * writes; CSV keeps the state and adds the store_full column. */
    output_table_cell(t, w->draining && w->state == TALLY_WORKER_UP ? "draining"
                         : !csv && w->store_full && w->state == TALLY_WORKER_UP ? "full"
                                                                             : tally_worker_state_name(w->state));
    output_table_cell(t, w->endpoint);
    output_table_cellf(t, "%u", w->slots_owned);
    output_table_cellf(t, "%llu", (unsigned long long)w->queued);
    output_table_cellf(t, "%llu", (unsigned long long)w->live_leases);
    output_table_cellf(t, "%llu", (unsigned long long)w->items);
    if (!csv) {
      output_table_cell(t, age);
      continue;
    }
    output_table_cellf(t, "%llu", (unsigned long long)w->last_heartbeat_ms);
    output_table_cellf(t, "%llu", (unsigned long long)map->epoch);
    if (skew_defined)
      output_table_cellf(t, "%.4f", skew);
    else
      output_table_cell(t, "");
    output_table_cellf(t, "%u", unavailable);
    output_table_cellf(t, "%u", map->unassigned_slots);
    if (replicas) {
      output_table_cellf(t, "%u", replicas);
      output_table_cell(t, w->store_full ? "yes" : "no");
    }
  }
  if (!csv) {
    char skew_text[32] = "undefined";
    if (skew_defined) snprintf(skew_text, sizeof skew_text, "%.2f", skew);
    fprintf(cli->out,
            "epoch %llu, %u slots, %u unassigned, %u unavailable (owner down), skew %s, %zu workers, "
            "config version %llu\n\n",
            (unsigned long long)map->epoch, map->slot_count, map->unassigned_slots, unavailable, skew_text,
            map->worker_count, (unsigned long long)map->config_version);
  }
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

/* ------------------------------------------------------------ replication */

/* Which part of `tally cluster status` (--rows). */
typedef enum { ROWS_ALL, ROWS_WORKERS, ROWS_SLOTS, ROWS_COORDINATORS } status_rows_t;

/* Slots that share primary, followers, in-sync set and waiting. */
typedef struct {
  uint32_t first_slot; /* its replicas describe the whole group */
  uint32_t slot_count;
  int has_lag;         /* a primary reported a lag for a follower of these slots */
  uint64_t max_lag_ms;
} slot_group_t;

/* The replicas of slot `s`: as the coordinator gave them, or (no
 * replication) the map's owner alone. */
static tally_slot_replicas_t slot_view(const tally_cluster_status_t *st, uint32_t s) {
  if (st->slots != NULL && s < st->slot_replica_count) return st->slots[s];
  tally_slot_replicas_t none = {0};
  none.slot = s;
  none.primary = st->map.slot_owner && s < st->map.slot_count ? st->map.slot_owner[s] : 0;
  return none;
}

static int ids_contain(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

/* Same set of ids (the order may differ). */
static int ids_same(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (!ids_contain(b, nb, a[i])) return 0;
  return 1;
}

static int replicas_same(const tally_slot_replicas_t *x, const tally_slot_replicas_t *y) {
  return x->primary == y->primary && !x->waiting == !y->waiting &&
         ids_same(x->followers, x->follower_count, y->followers, y->follower_count) &&
         ids_same(x->in_sync, x->in_sync_count, y->in_sync, y->in_sync_count);
}

/* Groups the slots of st (in order of their first slot) into *groups (*n
 * entries, malloc'ed: the caller frees them) and sets group_of[slot] (room
 * for slot_count). Returns 0, or -1 when out of memory. */
static int slot_groups(const tally_cluster_status_t *st, uint32_t *group_of, slot_group_t **groups, size_t *n_out) {
  uint32_t count = st->map.slot_count;
  slot_group_t *g = calloc(count ? count : 1, sizeof *g);
  if (g == NULL) return -1;
  size_t n = 0;
  for (uint32_t s = 0; s < count; s++) {
    tally_slot_replicas_t mine = slot_view(st, s);
    size_t i = 0;
    for (; i < n; i++) {
      tally_slot_replicas_t theirs = slot_view(st, g[i].first_slot);
      if (replicas_same(&mine, &theirs)) break;
    }
    if (i == n) g[n++].first_slot = s;
    g[i].slot_count++;
    group_of[s] = (uint32_t)i;
  }
  for (size_t l = 0; l < st->lag_count; l++) {
    const tally_replica_lag_t *lag = &st->lags[l];
    if (lag->slot >= count) continue;
    tally_slot_replicas_t r = slot_view(st, lag->slot);
    if (!ids_contain(r.followers, r.follower_count, lag->follower_id)) continue; /* stale */
    slot_group_t *owner = &g[group_of[lag->slot]];
    if (!owner->has_lag || lag->lag_ms > owner->max_lag_ms) owner->max_lag_ms = lag->lag_ms;
    owner->has_lag = 1;
  }
  *groups = g;
  *n_out = n;
  return 0;
}

/* The slots of group `g` as ranges ("0-255,300"), malloc'ed; NULL when out
 * of memory. */
static char *slot_ranges(const uint32_t *group_of, uint32_t count, uint32_t g) {
  size_t size = 16, len = 0;
  char *text = malloc(size);
  if (text == NULL) return NULL;
  text[0] = '\0';
  for (uint32_t s = 0; s < count; s++) {
    if (group_of[s] != g) continue;
    uint32_t last = s;
    while (last + 1 < count && group_of[last + 1] == g) last++;
    char range[32];
    int n = last == s ? snprintf(range, sizeof range, "%s%u", len ? "," : "", s)
                      : snprintf(range, sizeof range, "%s%u-%u", len ? "," : "", s, last);
    if (len + (size_t)n + 1 > size) {
      size = 2 * (len + (size_t)n + 1);
      char *grown = realloc(text, size);
      if (grown == NULL) {
        free(text);
        return NULL;
      }
      text = grown;
    }
    memcpy(text + len, range, (size_t)n + 1);
    len += (size_t)n;
    s = last;
  }
  return text;
}

/* ids as "2,3" into buf, or `none` when there are none. */
static const char *ids_text(const uint32_t *ids, size_t n, const char *none, char *buf, size_t size) {
  if (n == 0) return none;
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && len < size; i++)
    len += (size_t)snprintf(buf + len, size - len, "%s%u", i ? "," : "", ids[i]);
  return buf;
}

static json_t *ids_json(const uint32_t *ids, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((json_int_t)ids[i]));
  return a;
}

/* The replicas the cluster aims for: 1 when the coordinator gives none. */
static uint32_t status_replicas(const tally_cluster_status_t *st) { return st->replicas ? st->replicas : 1; }

/* Table cell of a long slot list: its start, cut with "..." (CSV and JSON
 * carry it whole). */
#define SLOTS_CELL_MAX 40

static json_t *slot_groups_json(const tally_cluster_status_t *st, const uint32_t *group_of,
                                const slot_group_t *groups, size_t n) {
  json_t *a = json_array();
  for (size_t g = 0; g < n; g++) {
    tally_slot_replicas_t r = slot_view(st, groups[g].first_slot);
    char *ranges = slot_ranges(group_of, st->map.slot_count, (uint32_t)g);
    json_t *o = json_pack("{s:s?, s:I}", "slots", ranges, "slot_count", (json_int_t)groups[g].slot_count);
    free(ranges);
    if (o == NULL) continue;
    json_object_set_new(o, "primary", r.primary ? json_integer((json_int_t)r.primary) : json_null());
    json_object_set_new(o, "followers", ids_json(r.followers, r.follower_count));
    json_object_set_new(o, "in_sync", ids_json(r.in_sync, r.in_sync_count));
    json_object_set_new(o, "waiting", json_boolean(r.waiting));
    json_object_set_new(o, "max_lag_ms",
                        groups[g].has_lag ? json_integer((json_int_t)groups[g].max_lag_ms) : json_null());
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *cluster_status_json(const tally_cluster_status_t *st, const uint32_t *group_of,
                                   const slot_group_t *groups, size_t n) {
  json_t *doc = map_json(&st->map, clock_now_ms());
  json_t *coordinators = json_array(), *lags = json_array();
  for (size_t i = 0; i < st->coordinator_count; i++) {
    const tally_coordinator_info_t *c = &st->coordinators[i];
    json_array_append_new(coordinators, json_pack("{s:I, s:s, s:s, s:b}", "raft_id", (json_int_t)c->raft_id,
                                                  "endpoint", c->endpoint, "raft_address", c->raft_address,
                                                  "leader", c->leader));
  }
  for (size_t i = 0; i < st->lag_count; i++) {
    const tally_replica_lag_t *l = &st->lags[i];
    json_array_append_new(lags, json_pack("{s:I, s:I, s:I, s:I, s:I}", "slot", (json_int_t)l->slot, "follower_id",
                                          (json_int_t)l->follower_id, "sent_seq", (json_int_t)l->sent_seq,
                                          "acked_seq", (json_int_t)l->acked_seq, "lag_ms", (json_int_t)l->lag_ms));
  }
  json_object_set_new(doc, "replicas", json_integer((json_int_t)status_replicas(st)));
  json_object_set_new(doc, "slot_groups", slot_groups_json(st, group_of, groups, n));
  json_object_set_new(doc, "coordinators", coordinators);
  json_object_set_new(doc, "leader_id", json_integer((json_int_t)st->leader_id));
  json_object_set_new(doc, "raft_term", json_integer((json_int_t)st->raft_term));
  json_object_set_new(doc, "raft_commit_index", json_integer((json_int_t)st->raft_commit_index));
  json_object_set_new(doc, "lags", lags);
  return doc;
}

static const char *const slot_headers[] = {"SLOTS",   "SLOT_COUNT", "PRIMARY",   "FOLLOWERS",
                                           "IN_SYNC", "WAITING",    "MAX_LAG_MS"};
static const char *const slot_csv_headers[] = {"slots",   "slot_count", "primary",    "followers", "in_sync",
                                               "waiting", "max_lag_ms", "replicas",   "epoch"};

static int print_slot_groups(cli_t *cli, const tally_cluster_status_t *st, const uint32_t *group_of,
                             const slot_group_t *groups, size_t n) {
  int csv = cli->format == OUTPUT_CSV;
  const char *none = csv ? "" : "-";
  output_table_t *t = output_table_new(csv ? 9 : 7, csv ? slot_csv_headers : slot_headers);
  if (t == NULL) return -1;
  for (size_t g = 0; g < n; g++) {
    tally_slot_replicas_t r = slot_view(st, groups[g].first_slot);
    char *ranges = slot_ranges(group_of, st->map.slot_count, (uint32_t)g);
    if (ranges != NULL && !csv && strlen(ranges) > SLOTS_CELL_MAX) {
      char *cut = ranges + SLOTS_CELL_MAX - 3;
      while (cut > ranges && cut[-1] != ',') cut--; /* whole ranges only */
      strcpy(cut > ranges ? cut : ranges + SLOTS_CELL_MAX - 3, "...");
    }
    output_table_cell(t, ranges);
    free(ranges);
    output_table_cellf(t, "%u", groups[g].slot_count);
    if (r.primary)
      output_table_cellf(t, "%u", r.primary);
    else
      output_table_cell(t, none);
    char followers[64], in_sync[64];
    output_table_cell(t, ids_text(r.followers, r.follower_count, none, followers, sizeof followers));
    output_table_cell(t, ids_text(r.in_sync, r.in_sync_count, none, in_sync, sizeof in_sync));
    output_table_cell(t, r.waiting ? "yes" : "no");
    if (groups[g].has_lag)
      output_table_cellf(t, "%llu", (unsigned long long)groups[g].max_lag_ms);
    else
      output_table_cell(t, none);
    if (!csv) continue;
    output_table_cellf(t, "%u", status_replicas(st));
    output_table_cellf(t, "%llu", (unsigned long long)st->map.epoch);
  }
  if (!csv)
    fprintf(cli->out, "replication factor %u (copies of each slot the cluster aims for)\n\n",
            status_replicas(st));
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static const char *const coordinator_headers[] = {"RAFT_ID", "ENDPOINT", "RAFT_ADDRESS", "LEADER"};
static const char *const coordinator_csv_headers[] = {"raft_id",   "endpoint",  "raft_address",     "leader",
                                                      "leader_id", "raft_term", "raft_commit_index"};

static int print_coordinators(cli_t *cli, const tally_cluster_status_t *st) {
  int csv = cli->format == OUTPUT_CSV;
  if (!csv && st->coordinator_count == 0) {
    fprintf(cli->out, "coordinators: one, without Raft\n");
    return ferror(cli->out) ? -1 : 0;
  }
  output_table_t *t = output_table_new(csv ? 7 : 4, csv ? coordinator_csv_headers : coordinator_headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < st->coordinator_count; i++) {
    const tally_coordinator_info_t *c = &st->coordinators[i];
    output_table_cellf(t, "%llu", (unsigned long long)c->raft_id);
    output_table_cell(t, c->endpoint);
    output_table_cell(t, c->raft_address);
    output_table_cell(t, c->leader ? "yes" : "no");
    if (!csv) continue;
    output_table_cellf(t, "%llu", (unsigned long long)st->leader_id);
    output_table_cellf(t, "%llu", (unsigned long long)st->raft_term);
    output_table_cellf(t, "%llu", (unsigned long long)st->raft_commit_index);
  }
  if (!csv)
    fprintf(cli->out, "coordinators: %zu, leader %llu, raft term %llu, commit index %llu\n\n",
            st->coordinator_count, (unsigned long long)st->leader_id, (unsigned long long)st->raft_term,
            (unsigned long long)st->raft_commit_index);
  int rc = output_table_print(t, cli->format, cli->out);
  output_table_free(&t);
  return rc;
}

static int print_status(cli_t *cli, const tally_cluster_status_t *st, status_rows_t rows) {
  uint32_t count = st->map.slot_count;
  uint32_t *group_of = calloc(count ? count : 1, sizeof *group_of);
  slot_group_t *groups = NULL;
  size_t n = 0;
  int rc = group_of ? slot_groups(st, group_of, &groups, &n) : -1;
  if (rc < 0) {
    fprintf(cli->err, "tally: cluster status: out of memory\n");
  } else if (cli->format == OUTPUT_JSON) {
    rc = output_json(cluster_status_json(st, group_of, groups, n), cli->out);
  } else if (cli->format == OUTPUT_CSV) {
    if (rows == ROWS_SLOTS) rc = print_slot_groups(cli, st, group_of, groups, n);
    else if (rows == ROWS_COORDINATORS) rc = print_coordinators(cli, st);
    else rc = print_map(cli, &st->map, status_replicas(st));
  } else {
    if (rows == ROWS_ALL || rows == ROWS_WORKERS) rc = print_map(cli, &st->map, 0);
    if (rows == ROWS_ALL) fputc('\n', cli->out);
    if (rc == 0 && (rows == ROWS_ALL || rows == ROWS_SLOTS)) rc = print_slot_groups(cli, st, group_of, groups, n);
    if (rows == ROWS_ALL) fputc('\n', cli->out);
    if (rc == 0 && (rows == ROWS_ALL || rows == ROWS_COORDINATORS)) rc = print_coordinators(cli, st);
  }
  free(group_of);
  free(groups);
  return rc;
}

enum { OPT_ROWS = CLI_OPT_COMMAND };

static int cluster_status(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"rows", required_argument, NULL, OPT_ROWS}, CLI_GLOBAL_OPTIONS};
  const char *cmd = "cluster status";
  status_rows_t rows = ROWS_ALL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c != OPT_ROWS) {
      rc = cli_common_option(cli, cmd, cluster_status_help, c, argv);
    } else if (strcmp(optarg, "workers") == 0) {
      rows = ROWS_WORKERS;
    } else if (strcmp(optarg, "slots") == 0) {
      rows = ROWS_SLOTS;
    } else if (strcmp(optarg, "coordinators") == 0) {
      rows = ROWS_COORDINATORS;
    } else {
      rc = cli_usage_error(cli, cmd, "bad --rows '%s' (workers, slots or coordinators)", optarg);
    }
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_cluster_status_t *st = NULL;
  rc = tally_cluster_status(cli->client, &st);
  if (rc == TALLY_E_UNKNOWN_TYPE || rc == TALLY_E_BAD_REQUEST) {
    /* A coordinator older than cluster_status: the map, as before. */
    fprintf(cli->err, "tally: cluster status: the coordinator does not report replication or "
                      "coordinators (older version); showing the map only\n");
    tally_map_t *map = NULL;
    rc = tally_cluster_map(cli->client, &map);
    if (rc < 0) return cli_fail(cli, cmd, rc);
    rc = print_map(cli, map, 0);
    tally_free(map);
    return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  }
  if (rc < 0) return cli_fail(cli, cmd, rc);
  rc = print_status(cli, st, rows);
  tally_free(st);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static const char cluster_drain_help[] =
    "Usage: tally cluster drain WORKER_ID [--wait] [--timeout SECONDS] [--undrain]\n\n"
    "Drains a worker: the coordinator moves its slots, live and one at a time,\n"
    "to the other UP workers (requests for a slot being moved get a retryable\n"
    "UNAVAILABLE for the moment it is copied; nothing is lost), and then has it\n"
    "hand its statistics, operations and exposure sums to a worker that stays,\n"
    "so reports keep them. Once it owns no slot it can be stopped. Workers that\n"
    "join later receive slots the same way, automatically.\n\n"
    "Options:\n"
    "  --wait            wait until the worker owns no slot and holds no sums,\n"
    "                    printing progress on stderr\n"
    "  --timeout S       give up waiting after S seconds (default 600); exit 1\n"
    "  --undrain         take the worker back into the balance instead\n";

enum { OPT_WAIT = CLI_OPT_COMMAND, OPT_TIMEOUT, OPT_UNDRAIN, OPT_REVOKE };

/* The worker's entry in `map`, or NULL. */
static const tally_worker_info_t *map_worker(const tally_map_t *map, uint32_t id) {
  for (size_t i = 0; i < map->worker_count; i++)
    if (map->workers[i].id == id) return &map->workers[i];
  return NULL;
}

static int cluster_drain(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"wait", no_argument, NULL, OPT_WAIT},
                                          {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                          {"undrain", no_argument, NULL, OPT_UNDRAIN},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = "cluster drain";
  int wait = 0, undrain = 0;
  uint64_t timeout_s = 600, id = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    switch (c) {
      case OPT_WAIT: wait = 1; break;
      case OPT_UNDRAIN: undrain = 1; break;
      case OPT_TIMEOUT:
        if (cli_parse_u64(optarg, 1, 86400, &timeout_s) < 0)
          rc = cli_usage_error(cli, cmd, "bad --timeout '%s' (1..86400 seconds)", optarg);
        break;
      default: rc = cli_common_option(cli, cmd, cluster_drain_help, c, argv);
    }
  }
  if (rc == CLI_PARSED && optind >= argc) rc = cli_usage_error(cli, cmd, "missing WORKER_ID");
  if (rc == CLI_PARSED && optind + 1 < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
  if (rc == CLI_PARSED && cli_parse_u64(argv[optind], 1, UINT32_MAX, &id) < 0)
    rc = cli_usage_error(cli, cmd, "bad WORKER_ID '%s' (see tally cluster status)", argv[optind]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_map_t *map = NULL;
  rc = tally_worker_drain(cli->client, (uint32_t)id, undrain, &map);
  if (rc < 0) return cli_fail(cli, cmd, rc);
  uint64_t deadline = clock_monotonic_ms() + timeout_s * 1000u;
  uint32_t last_reported = UINT32_MAX;
  while (wait && !undrain) {
    const tally_worker_info_t *w = map_worker(map, (uint32_t)id);
    int has_sums = w != NULL && (w->holds_sums || w->items > 0);
    if (w == NULL || (w->slots_owned == 0 && w->slots_moving == 0 && !has_sums)) break;
    if (w->slots_owned != last_reported) {
      fprintf(stderr, "tally cluster drain: worker %u owns %u slots (%u moving)\n", w->id,
              w->slots_owned, w->slots_moving);
      last_reported = w->slots_owned;
    }
    if (clock_monotonic_ms() >= deadline) {
      fprintf(stderr, "tally cluster drain: worker %u still owns %u slots after %llu s\n",
              (unsigned)id, w->slots_owned, (unsigned long long)timeout_s);
      tally_free(map);
      return CLI_EXIT_FAILURE;
    }
    usleep(500 * 1000);
    tally_free(map);
    map = NULL;
    if ((rc = tally_cluster_map(cli->client, &map)) < 0) return cli_fail(cli, cmd, rc);
  }
  if (wait && !undrain) fprintf(stderr, "tally cluster drain: worker %u is drained\n", (unsigned)id);
  rc = print_map(cli, map, 0);
  tally_free(map);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static const char cluster_admit_help[] =
    "Usage: tally cluster admit KEY [--revoke]\n\n"
    "Admits a worker's CURVE public key (40 Z85 characters, or the worker's\n"
    "worker.pub file): a worker holding the secret half may then register.\n"
    "Its worker id is bound to the key at its first registration, so no\n"
    "other process can take that id or its slots. Operators only; recorded\n"
    "in the admin log.\n\n"
    "Options:\n"
    "  --revoke   withdraw the admission: the worker is refused from its next request\n";

static int cluster_admit(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"revoke", no_argument, NULL, OPT_REVOKE},
                                          CLI_GLOBAL_OPTIONS};
  const char *cmd = "cluster admit";
  int revoke = 0;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_REVOKE) revoke = 1;
    else rc = cli_common_option(cli, cmd, cluster_admit_help, c, argv);
  }
  if (rc == CLI_PARSED && optind >= argc) rc = cli_usage_error(cli, cmd, "missing KEY");
  if (rc == CLI_PARSED && optind + 1 < argc)
    rc = cli_usage_error(cli, cmd, "unexpected argument '%s'", argv[optind + 1]);
  char key[41];
  if (rc == CLI_PARSED && curve_public_parse(key, argv[optind]) < 0)
    rc = cli_usage_error(cli, cmd, "KEY must be a CURVE public key (40 Z85 characters) or a .pub file");
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  rc = tally_cluster_admit(cli->client, key, revoke);
  if (rc < 0) return cli_fail(cli, cmd, rc);
  fprintf(cli->out, "%s %s\n", revoke ? "revoked" : "admitted", key);
  return CLI_EXIT_OK;
}

int cmd_cluster(cli_t *cli, int argc, char **argv) {
  static const cli_command_t subs[] = {
      {"status", "epoch, workers, slot ownership, replication and coordinators", cluster_status},
      {"drain", "move a worker's slots to the others (before stopping it)", cluster_drain},
      {"admit", "admit a worker's public key (operators)", cluster_admit},
  };
  return cli_group(cli, "cluster", subs, sizeof subs / sizeof subs[0], argc, argv);
}

/* ------------------------------------------------------------ status */

static json_t *counts_json(const tally_worker_status_t *s) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "items", (json_int_t)s->items, "labels",
                   (json_int_t)s->labels, "done", (json_int_t)s->done, "queued", (json_int_t)s->queued,
                   "live_leases", (json_int_t)s->live_leases, "expired_leases", (json_int_t)s->expired_leases,
                   "skips", (json_int_t)s->skips);
}

static json_t *status_json(const tally_status_t *st, const char *project) {
  json_t *queues = json_array();
  for (size_t i = 0; i < st->total.queue_count; i++) {
    const tally_queue_status_t *q = &st->total.queues[i];
    json_array_append_new(queues, json_pack("{s:s, s:s, s:s, s:I, s:s}", "project", q->project, "market", q->market,
                                            "stage", tally_stage_name(q->stage), "depth", (json_int_t)q->depth,
                                            "top_priority", tally_priority_name(q->top_priority)));
  }
  json_t *workers = json_array();
  for (size_t i = 0; i < st->worker_count; i++) {
    const tally_worker_status_t *w = &st->workers[i];
    json_t *o = json_pack("{s:I, s:s}", "id", (json_int_t)w->worker_id, "endpoint", w->endpoint);
    if (w->code == 0) {
      json_t *counts = counts_json(w);
      json_object_update(o, counts);
      json_decref(counts);
    }
    json_object_set_new(o, "error", w->code ? json_pack("{s:s, s:s}", "code", tally_error_name(w->code), "message",
                                                        w->error ? w->error : "")
                                            : json_null());
    json_array_append_new(workers, o);
  }
  return json_pack("{s:o, s:o, s:o, s:o, s:I}", "project", project ? json_string(project) : json_null(), "total",
                   counts_json(&st->total), "queues", queues, "workers", workers, "workers_failed",
                   (json_int_t)st->workers_failed);
}

static void status_text(cli_t *cli, const tally_status_t *st, const char *project) {
  FILE *f = cli->out;
  const tally_worker_status_t *s = &st->total;
  output_field(f, "scope:", "%s%s", project ? "project " : "all projects", project ? project : "");
  output_field(f, "workers:", "%zu answered, %zu failed", st->worker_count - st->workers_failed, st->workers_failed);
  output_field(f, "items:", "%llu", (unsigned long long)s->items);
  output_field(f, "labels:", "%llu", (unsigned long long)s->labels);
  output_field(f, "done:", "%llu", (unsigned long long)s->done);
  output_field(f, "queued:", "%llu", (unsigned long long)s->queued);
  output_field(f, "live leases:", "%llu", (unsigned long long)s->live_leases);
  output_field(f, "expired leases:", "%llu", (unsigned long long)s->expired_leases);
  output_field(f, "skips:", "%llu", (unsigned long long)s->skips);
  static const char *const queue_headers[] = {"PROJECT", "MARKET", "STAGE", "DEPTH", "TOP_PRIORITY"};
  output_table_t *t = output_table_new(5, queue_headers);
  if (t && s->queue_count) {
    for (size_t i = 0; i < s->queue_count; i++) {
      const tally_queue_status_t *q = &s->queues[i];
      output_table_cell(t, q->project);
      output_table_cell(t, q->market);
      output_table_cell(t, tally_stage_name(q->stage));
      output_table_cellf(t, "%llu", (unsigned long long)q->depth);
      output_table_cell(t, q->depth ? tally_priority_name(q->top_priority) : "-");
    }
    fputc('\n', f);
    output_table_print(t, OUTPUT_TABLE, f);
  }
  output_table_free(&t);
  static const char *const worker_headers[] = {"WORKER", "ENDPOINT", "ITEMS", "LABELS", "DONE", "QUEUED", "LIVE_LEASES",
                                               "STATUS"};
  t = output_table_new(8, worker_headers);
  if (t == NULL) return;
  for (size_t i = 0; i < st->worker_count; i++) {
    const tally_worker_status_t *w = &st->workers[i];
    output_table_cellf(t, "%u", w->worker_id);
    output_table_cell(t, w->endpoint);
    output_table_cellf(t, "%llu", (unsigned long long)w->items);
    output_table_cellf(t, "%llu", (unsigned long long)w->labels);
    output_table_cellf(t, "%llu", (unsigned long long)w->done);
    output_table_cellf(t, "%llu", (unsigned long long)w->queued);
    output_table_cellf(t, "%llu", (unsigned long long)w->live_leases);
    if (w->code)
      output_table_cellf(t, "%s: %s", tally_error_name(w->code), w->error ? w->error : "");
    else
      output_table_cell(t, "ok");
  }
  fputc('\n', f);
  output_table_print(t, OUTPUT_TABLE, f);
  output_table_free(&t);
}

static void status_csv_row(output_table_t *t, const char *scope, const tally_worker_status_t *w) {
  output_table_cell(t, scope);
  output_table_cell(t, w->endpoint);
  output_table_cellf(t, "%llu", (unsigned long long)w->items);
  output_table_cellf(t, "%llu", (unsigned long long)w->labels);
  output_table_cellf(t, "%llu", (unsigned long long)w->done);
  output_table_cellf(t, "%llu", (unsigned long long)w->queued);
  output_table_cellf(t, "%llu", (unsigned long long)w->live_leases);
  output_table_cellf(t, "%llu", (unsigned long long)w->expired_leases);
  output_table_cellf(t, "%llu", (unsigned long long)w->skips);
  output_table_cell(t, w->code ? tally_error_name(w->code) : "");
}

static int status_csv(cli_t *cli, const tally_status_t *st) {
  static const char *const headers[] = {"worker", "endpoint", "items",          "labels", "done",
                                        "queued", "live_leases", "expired_leases", "skips",  "error"};
  output_table_t *t = output_table_new(10, headers);
  if (t == NULL) return -1;
  for (size_t i = 0; i < st->worker_count; i++) {
    char id[16];
    snprintf(id, sizeof id, "%u", st->workers[i].worker_id);
    status_csv_row(t, id, &st->workers[i]);
  }
  status_csv_row(t, "total", &st->total);
  int rc = output_table_print(t, OUTPUT_CSV, cli->out);
  output_table_free(&t);
  return rc;
}

enum { OPT_PROJECT = CLI_OPT_COMMAND };

int cmd_status(cli_t *cli, int argc, char **argv) {
  static const struct option options[] = {{"project", required_argument, NULL, OPT_PROJECT}, CLI_GLOBAL_OPTIONS};
  const char *project = NULL;
  cli_getopt_reset();
  int c, rc = CLI_PARSED;
  while (rc == CLI_PARSED && (c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (c == OPT_PROJECT)
      project = optarg[0] ? optarg : NULL;
    else
      rc = cli_common_option(cli, "status", status_help, c, argv);
  }
  if (rc == CLI_PARSED && optind < argc) rc = cli_usage_error(cli, "status", "unexpected argument '%s'", argv[optind]);
  if (rc != CLI_PARSED) return cli_parse_exit(rc);
  if ((rc = cli_connect(cli)) != 0) return rc;
  tally_status_t *st = NULL;
  rc = tally_status(cli->client, project, &st);
  if (rc < 0) return cli_fail(cli, "status", rc);
  for (size_t i = 0; i < st->worker_count; i++) {
    const tally_worker_status_t *w = &st->workers[i];
    if (w->code)
      fprintf(cli->err, "tally: status: worker %u (%s) not counted: %s (%s)\n", w->worker_id, w->endpoint,
              w->error ? w->error : "", tally_error_name(w->code));
  }
  if (cli->format == OUTPUT_JSON)
    rc = output_json(status_json(st, project), cli->out);
  else if (cli->format == OUTPUT_CSV)
    rc = status_csv(cli, st);
  else
    status_text(cli, st, project), rc = 0;
  tally_free(st);
  return rc < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
