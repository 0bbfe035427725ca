/* Unit test of coordinator/meta_store: a round trip of every record kind and
 * counter through a real RocksDB in a temporary directory, injected commit
 * failures, refusal of an unknown format version and of corrupt records. */
#include <rocksdb/c.h>

#include "coordinator_test.h"
#include "meta_store.h"
#include "tally_error.h"

typedef struct {
  ProtobufCMessage *records[16];
  size_t count;
} loaded_t;

static int collect(void *user, ProtobufCMessage *record) {
  loaded_t *loaded = user;
  if (loaded->count == 16) {
    protobuf_c_message_free_unpacked(record, NULL);
    return TALLY_E_INTERNAL;
  }
  loaded->records[loaded->count++] = record;
  return 0;
}

static void loaded_free(loaded_t *loaded) {
  for (size_t i = 0; i < loaded->count; i++)
    protobuf_c_message_free_unpacked(loaded->records[i], NULL);
  loaded->count = 0;
}

static void write_records(meta_store_t *store) {
  char *labels[] = {"spam", "ok"};
  char *markets[] = {"es", "jp"};
  Tally__Project zeta = TALLY__PROJECT__INIT, alpha = TALLY__PROJECT__INIT;
  zeta.id = 2, zeta.name = "zeta", zeta.n_labels = 2, zeta.labels = labels;
  zeta.n_markets = 2, zeta.markets = markets, zeta.audit_rate = 0.25, zeta.created_ms = 1234;
  alpha.id = 1, alpha.name = "alpha", alpha.n_labels = 1, alpha.labels = labels;
  alpha.n_markets = 1, alpha.markets = markets, alpha.ordinal = 1;
  Tally__Labeler ana = TALLY__LABELER__INIT;
  ana.id = "ana", ana.roles = 3, ana.n_markets = 2, ana.markets = markets;
  Tally__WorkerInfo w1 = TALLY__WORKER_INFO__INIT, w300 = TALLY__WORKER_INFO__INIT;
  w1.id = 1, w1.endpoint = "tcp://127.0.0.1:1", w1.state = TALLY__WORKER_STATE__WORKER_UP;
  w1.queued = 99; /* volatile: must not be stored */
  w300.id = 300, w300.endpoint = "tcp://127.0.0.1:300";
  w300.state = TALLY__WORKER_STATE__WORKER_DOWN;
  w300.draining = 1; /* durable: a drain survives a coordinator restart */
  uint32_t owners[TALLY_SLOT_COUNT];
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++) owners[slot] = slot % 2 ? 1 : 300;

  meta_batch_t *batch = NULL;
  CHECK_EQ(meta_batch_new(store, &batch), 0);
  meta_batch_put_project(batch, &zeta);
  meta_batch_put_project(batch, &alpha);
  meta_batch_put_labeler(batch, &ana);
  meta_batch_put_worker(batch, &w300);
  meta_batch_put_worker(batch, &w1);
  meta_batch_put_epoch(batch, 0x1122334455667788ull);
  meta_batch_put_config_version(batch, 5);
  meta_batch_put_next_project_id(batch, 3);
  meta_batch_put_next_worker_id(batch, 301);
  meta_batch_put_slot_owners(batch, owners);
  CHECK_EQ(meta_batch_commit(batch), 0);
  meta_batch_destroy(&batch);
  CHECK(batch == NULL);
}

static void check_records(meta_store_t *store) {
  meta_counters_t counters;
  CHECK_EQ(meta_store_load_counters(store, &counters), 0);
  CHECK(counters.epoch == 0x1122334455667788ull);
  CHECK_EQ(counters.config_version, 5);
  CHECK_EQ(counters.next_project_id, 3);
  CHECK_EQ(counters.next_worker_id, 301);
  CHECK_EQ(counters.slot_owner[0], 300);
  CHECK_EQ(counters.slot_owner[1], 1);
  CHECK_EQ(counters.slot_owner[TALLY_SLOT_COUNT - 1], 1);

  loaded_t loaded = {0};
  CHECK_EQ(meta_store_load(store, META_PROJECTS, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 2);
  if (loaded.count == 2) {
    const Tally__Project *first = (const Tally__Project *)loaded.records[0];
    const Tally__Project *second = (const Tally__Project *)loaded.records[1];
    CHECK(strcmp(first->name, "alpha") == 0); /* key order = name order */
    CHECK_EQ(first->id, 1);
    CHECK(first->ordinal);
    CHECK(strcmp(second->name, "zeta") == 0);
    CHECK_EQ(second->n_labels, 2);
    CHECK(strcmp(second->labels[1], "ok") == 0);
    CHECK(strcmp(second->markets[1], "jp") == 0);
    CHECK(second->audit_rate == 0.25);
    CHECK_EQ(second->created_ms, 1234);
  }
  loaded_free(&loaded);

  CHECK_EQ(meta_store_load(store, META_LABELERS, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 1);
  if (loaded.count == 1) {
    const Tally__Labeler *ana = (const Tally__Labeler *)loaded.records[0];
    CHECK(strcmp(ana->id, "ana") == 0);
    CHECK_EQ(ana->roles, 3);
    CHECK_EQ(ana->n_markets, 2);
  }
  loaded_free(&loaded);

  CHECK_EQ(meta_store_load(store, META_WORKERS, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 2);
  if (loaded.count == 2) {
    const Tally__WorkerInfo *w1 = (const Tally__WorkerInfo *)loaded.records[0];
    const Tally__WorkerInfo *w300 = (const Tally__WorkerInfo *)loaded.records[1];
    CHECK_EQ(w1->id, 1); /* big-endian keys sort numerically */
    CHECK(strcmp(w1->endpoint, "tcp://127.0.0.1:1") == 0);
    CHECK_EQ(w1->state, TALLY__WORKER_STATE__WORKER_UP);
    CHECK_EQ(w1->queued, 0);
    CHECK_EQ(w300->id, 300);
    CHECK_EQ(w300->state, TALLY__WORKER_STATE__WORKER_DOWN);
    CHECK(w300->draining);
    CHECK(!w1->draining);
  }
  loaded_free(&loaded);
}

static void test_round_trip(const char *path) {
  meta_store_t *store = NULL;
  CHECK_EQ(meta_store_open(&store, path), 0);
  meta_counters_t counters;
  CHECK_EQ(meta_store_load_counters(store, &counters), 0);
  CHECK_EQ(counters.epoch, 0);
  CHECK_EQ(counters.config_version, 0);
  CHECK_EQ(counters.next_project_id, 1);
  CHECK_EQ(counters.next_worker_id, 1);
  CHECK_EQ(counters.slot_owner[17], 0);
  write_records(store);
  check_records(store);
  meta_store_close(&store);
  CHECK(store == NULL);
  meta_store_close(&store); /* safe twice */

  CHECK_EQ(meta_store_open(&store, path), 0); /* everything survives a reopen */
  check_records(store);

  /* A failed commit writes nothing. */
  meta_batch_t *batch = NULL;
  meta_store_fail_commits(store, 1);
  meta_batch_new(store, &batch);
  meta_batch_put_config_version(batch, 6);
  CHECK_EQ(meta_batch_commit(batch), TALLY_E_STORAGE);
  meta_batch_destroy(&batch);
  CHECK_EQ(meta_store_load_counters(store, &counters), 0);
  CHECK_EQ(counters.config_version, 5);
  meta_batch_new(store, &batch);
  meta_batch_put_config_version(batch, 6);
  CHECK_EQ(meta_batch_commit(batch), 0); /* only one failure was injected */
  meta_batch_destroy(&batch);
  CHECK_EQ(meta_store_load_counters(store, &counters), 0);
  CHECK_EQ(counters.config_version, 6);

  /* A second process (or open) cannot take the same store. */
  meta_store_t *second = NULL;
  CHECK_EQ(meta_store_open(&second, path), TALLY_E_STORAGE);
  CHECK(second == NULL);
  meta_store_close(&store);
}

/* Writes raw key/value pairs into column family `cf` of the store at path,
 * bypassing meta_store, to fake a newer or damaged store. */
static void raw_put(const char *path, int cf, const char *key, size_t key_len, const char *value,
                    size_t len) {
  const char *names[] = {"default",  "projects",  "labelers",   "workers",
                         "admitted", "admin_log", "calibration", "credentials"};
  rocksdb_options_t *options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(options, 1);
  rocksdb_options_set_create_missing_column_families(options, 1);
  const rocksdb_options_t *cf_options[8] = {options, options, options, options,
                                            options, options, options, options};
  rocksdb_column_family_handle_t *handles[8];
  char *err = NULL;
  rocksdb_t *db = rocksdb_open_column_families(options, path, 8, names, cf_options, handles, &err);
  CHECK(err == NULL);
  if (err != NULL) {
    rocksdb_free(err);
    rocksdb_options_destroy(options);
    return;
  }
  rocksdb_writeoptions_t *write = rocksdb_writeoptions_create();
  rocksdb_put_cf(db, write, handles[cf], key, key_len, value, len, &err);
  CHECK(err == NULL);
  rocksdb_writeoptions_destroy(write);
  for (int i = 0; i < 8; i++) rocksdb_column_family_handle_destroy(handles[i]);
  rocksdb_close(db);
  rocksdb_options_destroy(options);
}

static void test_unknown_format_is_refused(const char *path) {
  meta_store_t *store = NULL;
  CHECK_EQ(meta_store_open(&store, path), 0); /* creates it with format 1 */
  meta_store_close(&store);
  raw_put(path, 0, "format", 6, "\0\0\0\2", 4);
  CHECK_EQ(meta_store_open(&store, path), TALLY_E_STORAGE);
  CHECK(store == NULL);
}

static void test_corrupt_records_are_refused(const char *path) {
  meta_store_t *store = NULL;
  loaded_t loaded = {0};
  CHECK_EQ(meta_store_open(&store, path), 0);
  meta_store_close(&store);
  /* A project stored under a key that is not its name. */
  Tally__Project project = TALLY__PROJECT__INIT;
  project.name = "real";
  uint8_t buf[64];
  size_t len = tally__project__pack(&project, buf);
  raw_put(path, 1, "other", 5, (const char *)buf, len);
  /* A counter of the wrong size. */
  raw_put(path, 0, "epoch", 5, "abc", 3);
  CHECK_EQ(meta_store_open(&store, path), 0);
  meta_counters_t counters;
  CHECK_EQ(meta_store_load_counters(store, &counters), TALLY_E_STORAGE);
  CHECK_EQ(meta_store_load(store, META_PROJECTS, collect, &loaded), TALLY_E_STORAGE);
  CHECK_EQ(loaded.count, 0);
  /* A worker record that is not protobuf at all. */
  meta_store_close(&store);
  raw_put(path, 3, "\0\0\0\1", 4, "\xff\xff\xff", 3);
  CHECK_EQ(meta_store_open(&store, path), 0);
  CHECK_EQ(meta_store_load(store, META_WORKERS, collect, &loaded), TALLY_E_STORAGE);
  meta_store_close(&store);
}

/* A replicator that keeps the encoding (as the Raft log would) and writes
 * nothing. */
typedef struct {
  uint8_t *data;
  size_t len;
  int calls;
  int result;
} captured_t;

static int capture(void *ctx, const uint8_t *data, size_t len) {
  captured_t *captured = ctx;
  free(captured->data);
  captured->data = malloc(len);
  memcpy(captured->data, data, len);
  captured->len = len;
  captured->calls++;
  return captured->result;
}

/* The batch encoding (the Raft command of a replicated coordinator): a
 * batch committed through a replicator reaches the store only when the
 * encoding is applied, applied on another store gives the same records,
 * damaged encodings are refused whole, and a dump restores a store
 * exactly (keys not in it are gone). */
static void test_replication_encoding(const char *dir) {
  char leader_path[4096], follower_path[4096], third_path[4096];
  snprintf(leader_path, sizeof leader_path, "%s/leader", dir);
  snprintf(follower_path, sizeof follower_path, "%s/follower", dir);
  snprintf(third_path, sizeof third_path, "%s/third", dir);
  meta_store_t *leader = NULL, *follower = NULL, *third = NULL;
  CHECK_EQ(meta_store_open(&leader, leader_path), 0);
  CHECK_EQ(meta_store_open(&follower, follower_path), 0);
  CHECK_EQ(meta_store_open(&third, third_path), 0);
  if (leader == NULL || follower == NULL || third == NULL) return;

  captured_t captured = {0};
  meta_store_set_replicator(leader, capture, &captured);
  write_records(leader); /* commits through the replicator */
  CHECK_EQ(captured.calls, 1);
  loaded_t loaded = {0};
  CHECK_EQ(meta_store_load(leader, META_PROJECTS, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 0); /* not applied yet: nothing written */
  loaded_free(&loaded);

  /* Applied on both, as every coordinator's FSM does. */
  CHECK_EQ(meta_store_apply(leader, captured.data, captured.len), 0);
  CHECK_EQ(meta_store_apply(follower, captured.data, captured.len), 0);
  check_records(leader);
  check_records(follower);

  /* A delete travels too (revoking an admitted key, a credential). */
  meta_batch_t *batch = NULL;
  CHECK_EQ(meta_batch_new(leader, &batch), 0);
  meta_batch_put_admitted(batch, "key-one", 1);
  meta_batch_put_admitted(batch, "key-two", 1);
  meta_batch_put_credential(batch, "person/ana", "hash", 4);
  CHECK_EQ(meta_batch_commit(batch), 0);
  meta_batch_destroy(&batch);
  CHECK_EQ(meta_store_apply(follower, captured.data, captured.len), 0);
  CHECK_EQ(meta_batch_new(leader, &batch), 0);
  meta_batch_put_admitted(batch, "key-one", 0);
  meta_batch_delete_credential(batch, "person/ana", 10);
  const uint8_t *data = NULL;
  size_t len = 0;
  CHECK_EQ(meta_batch_encoding(batch, &data, &len), 0);
  CHECK(len > 2);
  CHECK_EQ(meta_batch_commit(batch), 0);
  meta_batch_destroy(&batch);
  CHECK_EQ(meta_store_apply(follower, captured.data, captured.len), 0);
  CHECK_EQ(meta_store_load(follower, META_ADMITTED, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 1);
  if (loaded.count == 1)
    CHECK(strcmp(((Tally__ClusterAdmit *)loaded.records[0])->public_key, "key-two") == 0);
  loaded_free(&loaded);
  uint8_t *value = NULL;
  size_t value_len = 0;
  CHECK_EQ(meta_store_get_credential(follower, "person/ana", &value, &value_len), 0);
  free(value);

  /* Damaged encodings: every truncation, a wrong kind or version, an
   * unknown column family or operation. Nothing of them is written. */
  uint8_t *copy = malloc(captured.len);
  memcpy(copy, captured.data, captured.len);
  for (size_t cut = 0; cut < captured.len; cut++)
    CHECK_EQ(meta_store_apply(third, copy, cut), TALLY_E_INVALID_ARGUMENT);
  /* Zero padding to a multiple of 8, as libraft hands entries back after
   * a restart, is fine; anything else after the operations is not. */
  uint8_t *padded = calloc(1, captured.len + 7);
  memcpy(padded, captured.data, captured.len);
  CHECK_EQ(meta_store_apply(third, padded, captured.len + 7), 0); /* deletes: nothing there */
  padded[captured.len + 3] = 1;
  CHECK_EQ(meta_store_apply(third, padded, captured.len + 7), TALLY_E_INVALID_ARGUMENT);
  memset(padded + captured.len, 0, 7);
  CHECK_EQ(meta_store_apply(third, padded, captured.len + 8), TALLY_E_INVALID_ARGUMENT);
  free(padded);
  copy[0] = 2; /* a dump is not a batch */
  CHECK_EQ(meta_store_apply(third, copy, captured.len), TALLY_E_INVALID_ARGUMENT);
  copy[0] = 1, copy[1] = 9; /* unknown version */
  CHECK_EQ(meta_store_apply(third, copy, captured.len), TALLY_E_INVALID_ARGUMENT);
  copy[1] = 1, copy[7] = 200; /* column family 200 */
  CHECK_EQ(meta_store_apply(third, copy, captured.len), TALLY_E_INVALID_ARGUMENT);
  copy[7] = captured.data[7], copy[6] = 7; /* operation 7 */
  CHECK_EQ(meta_store_apply(third, copy, captured.len), TALLY_E_INVALID_ARGUMENT);
  copy[6] = captured.data[6], copy[5]++; /* one operation more than there is */
  CHECK_EQ(meta_store_apply(third, copy, captured.len), TALLY_E_INVALID_ARGUMENT);
  free(copy);
  CHECK_EQ(meta_store_load(third, META_ADMITTED, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 0);
  loaded_free(&loaded);

  /* Snapshot: the follower's dump restores the third store exactly, even
   * over keys of its own that the dump does not hold. */
  CHECK_EQ(meta_batch_new(third, &batch), 0);
  meta_batch_put_admitted(batch, "stale-key", 1);
  CHECK_EQ(meta_batch_commit(batch), 0);
  meta_batch_destroy(&batch);
  uint8_t *dump = NULL;
  size_t dump_len = 0;
  CHECK_EQ(meta_store_dump(follower, &dump, &dump_len), 0);
  CHECK_EQ(meta_store_restore(third, dump, dump_len), 0);
  check_records(third);
  CHECK_EQ(meta_store_load(third, META_ADMITTED, collect, &loaded), 0);
  CHECK_EQ(loaded.count, 1);
  if (loaded.count == 1)
    CHECK(strcmp(((Tally__ClusterAdmit *)loaded.records[0])->public_key, "key-two") == 0);
  loaded_free(&loaded);
  /* A batch is not a dump; a truncated dump changes nothing. */
  CHECK_EQ(meta_store_restore(third, captured.data, captured.len), TALLY_E_INVALID_ARGUMENT);
  CHECK_EQ(meta_store_restore(third, dump, dump_len - 1), TALLY_E_INVALID_ARGUMENT);
  check_records(third);
  free(dump);

  /* The replicator's refusal is the commit's result. */
  captured.result = TALLY_E_NOT_LEADER;
  CHECK_EQ(meta_batch_new(leader, &batch), 0);
  meta_batch_put_config_version(batch, 77);
  CHECK_EQ(meta_batch_commit(batch), TALLY_E_NOT_LEADER);
  meta_batch_destroy(&batch);
  free(captured.data);
  meta_store_close(&leader);
  meta_store_close(&follower);
  meta_store_close(&third);
}

int main(void) {
  test_deadline(60);
  char *dir = test_temp_dir("coordinator_meta_store_test");
  char path[4096];
  snprintf(path, sizeof path, "%s/round-trip", dir);
  test_round_trip(path);
  snprintf(path, sizeof path, "%s/format", dir);
  test_unknown_format_is_refused(path);
  snprintf(path, sizeof path, "%s/corrupt", dir);
  test_corrupt_records_are_refused(path);
  test_replication_encoding(dir);
  test_remove_tree(dir);
  free(dir);
  return test_report();
}
