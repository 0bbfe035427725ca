/* meta_store: coordinator metadata in RocksDB. See meta_store.h. */
#include "meta_store.h"

#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tally_error.h"

enum {
  CF_DEFAULT = 0,
  CF_PROJECTS,
  CF_LABELERS,
  CF_WORKERS,
  CF_ADMITTED,
  CF_ADMIN_LOG,
  CF_CALIBRATION,
  CF_CREDENTIALS,
  CF_COUNT
};

static const char *const cf_names[CF_COUNT] = {"default",  "projects",  "labelers",   "workers",
                                               "admitted", "admin_log", "calibration",
                                               "credentials"};

#define KEY_FORMAT "format"
#define KEY_EPOCH "epoch"
#define KEY_CONFIG_VERSION "config_version"
#define KEY_NEXT_PROJECT_ID "next_project_id"
#define KEY_NEXT_WORKER_ID "next_worker_id"
#define KEY_SLOT_OWNER "slot_owner"
#define KEY_SLOT_REPLICAS "slot_replicas"

struct meta_store {
  rocksdb_t *db;
  meta_replicate_fn replicate; /* NULL: commits are written here at once */
  void *replicate_ctx;
  rocksdb_options_t *options;
  rocksdb_column_family_handle_t *cf[CF_COUNT];
  rocksdb_readoptions_t *read;
  rocksdb_writeoptions_t *write_sync;
  char *path;
  int fail_commits;
};

/* A batch is kept in its encoded form (META_ENCODING_BATCH below): that is
 * what a replicated coordinator proposes to Raft, and what
 * meta_store_apply() writes, so one path serves both. */
struct meta_batch {
  meta_store_t *store;
  uint8_t *data;
  size_t len, cap;
  uint32_t ops;
  int error;
};

/* The encoding of batches and dumps, version 1 (META_ENCODING_VERSION):
 *   u8 kind (META_ENCODING_BATCH or META_ENCODING_DUMP), u8 version,
 *   u32 number of operations, then that many operations:
 *     u8 op (OP_PUT, OP_DELETE), u8 column family (the CF_* index below:
 *     never renumber, add new families at the end), u32 key length, key,
 *     and for OP_PUT u32 value length, value (numbers big-endian),
 *   then at most 7 zero bytes: raft_node pads what it hands to libraft
 *   to a multiple of 8 bytes (libraft 0.15 reads entries of other sizes
 *   back from its log at shifted offsets after a restart).
 * A dump holds only OP_PUT and stands for the whole store: restoring it
 * removes every key it does not hold. Changing the encoding: bump
 * META_ENCODING_VERSION and keep decoding the old one, since Raft logs and
 * snapshots written by the previous build are replayed by the next. */
#define META_ENCODING_BATCH 1u
#define META_ENCODING_DUMP 2u
#define META_ENCODING_VERSION 1u
#define OP_PUT 1u
#define OP_DELETE 2u

/* ---------------------------------------------------------------- encoding */

static void put_be32(uint8_t *out, uint32_t v) {
  out[0] = (uint8_t)(v >> 24), out[1] = (uint8_t)(v >> 16);
  out[2] = (uint8_t)(v >> 8), out[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *in) {
  return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

static void put_be64(uint8_t *out, uint64_t v) {
  put_be32(out, (uint32_t)(v >> 32));
  put_be32(out + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *in) {
  return (uint64_t)get_be32(in) << 32 | get_be32(in + 4);
}

/* ---------------------------------------------------------------- open */

/* Logs a RocksDB error, frees it and returns TALLY_E_STORAGE. */
static int storage_error(const char *what, const char *path, char *err) {
  log_error("metadata store %s: %s failed: %s", path, what, err ? err : "unknown error");
  rocksdb_free(err);
  return TALLY_E_STORAGE;
}

/* Reads the default-CF value at `key`. Returns 1 with *value (rocksdb_free)
 * and *len, 0 when absent, or TALLY_E_STORAGE. */
static int meta_store_get(meta_store_t *s, const char *key, char **value, size_t *len) {
  char *err = NULL;
  *value = rocksdb_get_cf(s->db, s->read, s->cf[CF_DEFAULT], key, strlen(key), len, &err);
  if (err != NULL) return storage_error("read", s->path, err);
  return *value != NULL;
}

/* Writes the format version of a fresh store, or checks that of an old one. */
static int meta_store_check_format(meta_store_t *s) {
  char *value = NULL;
  size_t len = 0;
  int rc = meta_store_get(s, KEY_FORMAT, &value, &len);
  if (rc < 0) return rc;
  if (rc == 1) {
    uint32_t format = len == 4 ? get_be32((const uint8_t *)value) : 0;
    rocksdb_free(value);
    if (format == META_FORMAT_VERSION) return 0;
    log_error("metadata store %s has format version %u; this build reads version %u", s->path,
              format, META_FORMAT_VERSION);
    return TALLY_E_STORAGE;
  }
  uint8_t buf[4];
  char *err = NULL;
  put_be32(buf, META_FORMAT_VERSION);
  rocksdb_put_cf(s->db, s->write_sync, s->cf[CF_DEFAULT], KEY_FORMAT, strlen(KEY_FORMAT),
                 (const char *)buf, sizeof buf, &err);
  if (err != NULL) return storage_error("write of the format version", s->path, err);
  return 0;
}

int meta_store_open(meta_store_t **out, const char *path) {
  *out = NULL;
  meta_store_t *s = calloc(1, sizeof *s);
  if (s == NULL || (s->path = strdup(path)) == NULL) {
    free(s);
    return TALLY_E_NOMEM;
  }
  s->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(s->options, 1);
  rocksdb_options_set_create_missing_column_families(s->options, 1);
  rocksdb_options_set_keep_log_file_num(s->options, 4);
  s->read = rocksdb_readoptions_create();
  s->write_sync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_sync, 1);

  const rocksdb_options_t *cf_options[CF_COUNT];
  for (int i = 0; i < CF_COUNT; i++) cf_options[i] = s->options;
  char *err = NULL;
  s->db = rocksdb_open_column_families(s->options, path, CF_COUNT, cf_names, cf_options, s->cf,
                                       &err);
  int rc = err ? storage_error("open", path, err) : meta_store_check_format(s);
  if (rc < 0) {
    meta_store_close(&s);
    return rc;
  }
  *out = s;
  return 0;
}

void meta_store_close(meta_store_t **store) {
  if (store == NULL || *store == NULL) return;
  meta_store_t *s = *store;
  *store = NULL;
  if (s->db != NULL) {
    for (int i = 0; i < CF_COUNT; i++)
      if (s->cf[i] != NULL) rocksdb_column_family_handle_destroy(s->cf[i]);
    rocksdb_close(s->db);
  }
  rocksdb_writeoptions_destroy(s->write_sync);
  rocksdb_readoptions_destroy(s->read);
  rocksdb_options_destroy(s->options);
  free(s->path);
  free(s);
}

void meta_store_fail_commits(meta_store_t *store, int count) { store->fail_commits = count; }

/* ---------------------------------------------------------------- load */

/* Reads one fixed-size counter into `out` (size bytes); absent leaves it. */
static int meta_store_load_value(meta_store_t *s, const char *key, uint8_t *out, size_t size) {
  char *value = NULL;
  size_t len = 0;
  int rc = meta_store_get(s, key, &value, &len);
  if (rc <= 0) return rc;
  if (len != size) {
    log_error("metadata store %s: key '%s' holds %zu bytes, expected %zu", s->path, key, len,
              size);
    rocksdb_free(value);
    return TALLY_E_STORAGE;
  }
  memcpy(out, value, size);
  rocksdb_free(value);
  return 1;
}

static int meta_store_load_u64(meta_store_t *s, const char *key, uint64_t *out) {
  uint8_t buf[8];
  int rc = meta_store_load_value(s, key, buf, sizeof buf);
  if (rc == 1) *out = get_be64(buf);
  return rc < 0 ? rc : 0;
}

static int meta_store_load_u32(meta_store_t *s, const char *key, uint32_t *out) {
  uint8_t buf[4];
  int rc = meta_store_load_value(s, key, buf, sizeof buf);
  if (rc == 1) *out = get_be32(buf);
  return rc < 0 ? rc : 0;
}

int meta_store_load_counters(meta_store_t *s, meta_counters_t *c) {
  uint8_t owners[TALLY_SLOT_COUNT * 4];
  memset(c, 0, sizeof *c);
  c->next_project_id = 1;
  c->next_worker_id = 1;
  int rc = meta_store_load_u64(s, KEY_EPOCH, &c->epoch);
  if (rc == 0) rc = meta_store_load_u64(s, KEY_CONFIG_VERSION, &c->config_version);
  if (rc == 0) rc = meta_store_load_u32(s, KEY_NEXT_PROJECT_ID, &c->next_project_id);
  if (rc == 0) rc = meta_store_load_u32(s, KEY_NEXT_WORKER_ID, &c->next_worker_id);
  if (rc < 0) return rc;
  rc = meta_store_load_value(s, KEY_SLOT_OWNER, owners, sizeof owners);
  if (rc < 0) return rc;
  if (rc == 1)
    for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++)
      c->slot_owner[slot] = get_be32(owners + 4 * slot);
  return 0;
}

static const ProtobufCMessageDescriptor *const kind_descriptor[] = {
    [META_PROJECTS] = &tally__project__descriptor,
    [META_LABELERS] = &tally__labeler__descriptor,
    [META_WORKERS] = &tally__worker_info__descriptor,
    [META_ADMITTED] = &tally__cluster_admit__descriptor,
    [META_ADMIN_LOG] = &tally__admin_log_entry__descriptor,
};

/* True when the record's identity matches the key it is stored under. */
static int record_matches_key(meta_kind_t kind, const ProtobufCMessage *record, const char *key,
                              size_t key_len) {
  const char *name = NULL;
  if (kind == META_ADMIN_LOG)
    return key_len == 8 &&
           get_be64((const uint8_t *)key) == ((const Tally__AdminLogEntry *)record)->seq;
  if (kind == META_ADMITTED) {
    const char *public_key = ((const Tally__ClusterAdmit *)record)->public_key;
    return strlen(public_key) == key_len && memcmp(public_key, key, key_len) == 0;
  }
  if (kind == META_WORKERS)
    return key_len == 4 &&
           get_be32((const uint8_t *)key) == ((const Tally__WorkerInfo *)record)->id;
  name = kind == META_PROJECTS ? ((const Tally__Project *)record)->name
                               : ((const Tally__Labeler *)record)->id;
  return strlen(name) == key_len && memcmp(name, key, key_len) == 0;
}

int meta_store_load(meta_store_t *s, meta_kind_t kind, meta_record_fn fn, void *user) {
  rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->read, s->cf[CF_PROJECTS + kind]);
  int rc = 0;
  for (rocksdb_iter_seek_to_first(it); rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t key_len = 0, len = 0;
    const char *key = rocksdb_iter_key(it, &key_len);
    const char *value = rocksdb_iter_value(it, &len);
    ProtobufCMessage *record =
        protobuf_c_message_unpack(kind_descriptor[kind], NULL, len, (const uint8_t *)value);
    if (record == NULL || !record_matches_key(kind, record, key, key_len)) {
      log_error("metadata store %s: corrupt %s record (%zu byte key)", s->path,
                cf_names[CF_PROJECTS + kind], key_len);
      if (record) protobuf_c_message_free_unpacked(record, NULL);
      rc = TALLY_E_STORAGE;
      break;
    }
    rc = fn(user, record);
  }
  char *err = NULL;
  rocksdb_iter_get_error(it, &err);
  rocksdb_iter_destroy(it);
  if (err != NULL) return storage_error("scan", s->path, err);
  return rc;
}

/* Hands every record of the calibration family whose key starts with
 * `prefix` to fn, decoded as `descriptor`. */
static int calibration_scan(meta_store_t *s, char prefix, const ProtobufCMessageDescriptor *descriptor,
                            meta_record_fn fn, void *user) {
  char lower[1] = {prefix}, upper[1] = {(char)(prefix + 1)};
  rocksdb_readoptions_t *read = rocksdb_readoptions_create();
  rocksdb_readoptions_set_iterate_upper_bound(read, upper, sizeof upper);
  rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, read, s->cf[CF_CALIBRATION]);
  int rc = 0;
  for (rocksdb_iter_seek(it, lower, sizeof lower); rc == 0 && rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t len = 0;
    const char *value = rocksdb_iter_value(it, &len);
    ProtobufCMessage *record = protobuf_c_message_unpack(descriptor, NULL, len, (const uint8_t *)value);
    if (record == NULL) {
      log_error("metadata store %s: corrupt calibration record", s->path);
      rc = TALLY_E_STORAGE;
      break;
    }
    rc = fn(user, record);
  }
  char *err = NULL;
  rocksdb_iter_get_error(it, &err);
  rocksdb_iter_destroy(it);
  rocksdb_readoptions_destroy(read);
  if (err != NULL) return storage_error("scan", s->path, err);
  return rc;
}

int meta_store_load_calibration(meta_store_t *s, meta_record_fn session, meta_record_fn label,
                                void *user) {
  int rc = calibration_scan(s, 's', &tally__calibration_session__descriptor, session, user);
  if (rc == 0) rc = calibration_scan(s, 'l', &tally__calibration_label__descriptor, label, user);
  return rc;
}

/* ---------------------------------------------------------------- batches */

/* Appends `len` bytes to the encoding; remembers an allocation failure. */
static void batch_append(meta_batch_t *b, const void *bytes, size_t len) {
  if (b->error < 0) return;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len) cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL) {
      b->error = TALLY_E_NOMEM;
      return;
    }
    b->data = data, b->cap = cap;
  }
  memcpy(b->data + b->len, bytes, len);
  b->len += len;
}

static void batch_append_bytes(meta_batch_t *b, const void *bytes, size_t len) {
  uint8_t size[4];
  put_be32(size, (uint32_t)len);
  batch_append(b, size, sizeof size);
  batch_append(b, bytes, len);
}

static void batch_append_op(meta_batch_t *b, uint8_t op, int cf, const void *key, size_t key_len,
                            const void *value, size_t len) {
  uint8_t head[2] = {op, (uint8_t)cf};
  batch_append(b, head, sizeof head);
  batch_append_bytes(b, key, key_len);
  if (op == OP_PUT) batch_append_bytes(b, value, len);
  if (b->error == 0) put_be32(b->data + 2, ++b->ops);
}

static int batch_start(meta_store_t *store, meta_batch_t **out, uint8_t kind) {
  *out = calloc(1, sizeof **out);
  if (*out == NULL) return TALLY_E_NOMEM;
  (*out)->store = store;
  uint8_t head[6] = {kind, META_ENCODING_VERSION, 0, 0, 0, 0};
  batch_append(*out, head, sizeof head);
  return (*out)->error;
}

int meta_batch_new(meta_store_t *store, meta_batch_t **out) {
  int rc = batch_start(store, out, META_ENCODING_BATCH);
  if (rc < 0) meta_batch_destroy(out);
  return rc;
}

void meta_batch_destroy(meta_batch_t **batch) {
  if (batch == NULL || *batch == NULL) return;
  free((*batch)->data);
  free(*batch);
  *batch = NULL;
}

static void meta_batch_put(meta_batch_t *b, int cf, const void *key, size_t key_len,
                           const void *value, size_t len) {
  batch_append_op(b, OP_PUT, cf, key, key_len, value, len);
}

static void meta_batch_delete(meta_batch_t *b, int cf, const void *key, size_t key_len) {
  batch_append_op(b, OP_DELETE, cf, key, key_len, NULL, 0);
}

/* Serializes `message` into the batch under `key` of column family `cf`. */
static void meta_batch_put_message(meta_batch_t *b, int cf, const void *key, size_t key_len,
                                   const ProtobufCMessage *message) {
  size_t size = protobuf_c_message_get_packed_size(message);
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    b->error = TALLY_E_NOMEM;
    return;
  }
  size_t len = protobuf_c_message_pack(message, buf);
  meta_batch_put(b, cf, key, key_len, buf, len);
  free(buf);
}

void meta_batch_put_project(meta_batch_t *b, const Tally__Project *project) {
  meta_batch_put_message(b, CF_PROJECTS, project->name, strlen(project->name), &project->base);
}

void meta_batch_put_labeler(meta_batch_t *b, const Tally__Labeler *labeler) {
  meta_batch_put_message(b, CF_LABELERS, labeler->id, strlen(labeler->id), &labeler->base);
}

void meta_batch_put_worker(meta_batch_t *b, const Tally__WorkerInfo *worker) {
  Tally__WorkerInfo stored = TALLY__WORKER_INFO__INIT;
  uint8_t key[4];
  stored.id = worker->id;
  stored.endpoint = worker->endpoint;
  stored.state = worker->state;
  stored.draining = worker->draining;
  stored.public_key = worker->public_key;
  put_be32(key, worker->id);
  meta_batch_put_message(b, CF_WORKERS, key, sizeof key, &stored.base);
}

void meta_batch_put_admitted(meta_batch_t *b, const char *public_key, int admitted) {
  if (admitted) {
    Tally__ClusterAdmit record = TALLY__CLUSTER_ADMIT__INIT;
    record.public_key = (char *)public_key;
    meta_batch_put_message(b, CF_ADMITTED, public_key, strlen(public_key), &record.base);
  } else {
    meta_batch_delete(b, CF_ADMITTED, public_key, strlen(public_key));
  }
}

void meta_batch_put_admin_entry(meta_batch_t *b, const Tally__AdminLogEntry *entry) {
  uint8_t key[8];
  put_be64(key, entry->seq);
  meta_batch_put_message(b, CF_ADMIN_LOG, key, sizeof key, &entry->base);
}

void meta_batch_put_calibration_session(meta_batch_t *b, const Tally__CalibrationSession *session) {
  size_t n = strlen(session->name);
  char *key = malloc(n + 1);
  if (key == NULL) {
    b->error = TALLY_E_NOMEM;
    return;
  }
  key[0] = 's';
  memcpy(key + 1, session->name, n);
  meta_batch_put_message(b, CF_CALIBRATION, key, n + 1, &session->base);
  free(key);
}

void meta_batch_put_calibration_label(meta_batch_t *b, const Tally__CalibrationLabel *label) {
  size_t a = strlen(label->session), p = strlen(label->person), i = strlen(label->item_id);
  char *key = malloc(a + p + i + 3);
  if (key == NULL) {
    b->error = TALLY_E_NOMEM;
    return;
  }
  key[0] = 'l';
  memcpy(key + 1, label->session, a);
  key[1 + a] = '\0';
  memcpy(key + 2 + a, label->person, p);
  key[2 + a + p] = '\0';
  memcpy(key + 3 + a + p, label->item_id, i);
  meta_batch_put_message(b, CF_CALIBRATION, key, a + p + i + 3, &label->base);
  free(key);
}

static void meta_batch_put_u64(meta_batch_t *b, const char *key, uint64_t v) {
  uint8_t buf[8];
  put_be64(buf, v);
  meta_batch_put(b, CF_DEFAULT, key, strlen(key), buf, sizeof buf);
}

static void meta_batch_put_u32(meta_batch_t *b, const char *key, uint32_t v) {
  uint8_t buf[4];
  put_be32(buf, v);
  meta_batch_put(b, CF_DEFAULT, key, strlen(key), buf, sizeof buf);
}

void meta_batch_put_epoch(meta_batch_t *b, uint64_t epoch) {
  meta_batch_put_u64(b, KEY_EPOCH, epoch);
}

void meta_batch_put_config_version(meta_batch_t *b, uint64_t version) {
  meta_batch_put_u64(b, KEY_CONFIG_VERSION, version);
}

void meta_batch_put_next_project_id(meta_batch_t *b, uint32_t id) {
  meta_batch_put_u32(b, KEY_NEXT_PROJECT_ID, id);
}

void meta_batch_put_next_worker_id(meta_batch_t *b, uint32_t id) {
  meta_batch_put_u32(b, KEY_NEXT_WORKER_ID, id);
}

void meta_batch_put_slot_owners(meta_batch_t *b, const uint32_t *owners) {
  uint8_t buf[TALLY_SLOT_COUNT * 4];
  for (uint32_t slot = 0; slot < TALLY_SLOT_COUNT; slot++) put_be32(buf + 4 * slot, owners[slot]);
  meta_batch_put(b, CF_DEFAULT, KEY_SLOT_OWNER, strlen(KEY_SLOT_OWNER), buf, sizeof buf);
}

void meta_batch_put_slot_replicas(meta_batch_t *b, const uint8_t *blob, size_t len) {
  if (blob == NULL) {
    b->error = TALLY_E_NOMEM; /* the caller could not encode it: fail the commit */
    return;
  }
  meta_batch_put(b, CF_DEFAULT, KEY_SLOT_REPLICAS, strlen(KEY_SLOT_REPLICAS), blob, len);
}

int meta_store_load_slot_replicas(meta_store_t *s, uint8_t **blob, size_t *len) {
  char *value = NULL;
  size_t n = 0;
  *blob = NULL;
  *len = 0;
  int rc = meta_store_get(s, KEY_SLOT_REPLICAS, &value, &n);
  if (rc <= 0) return rc;
  *blob = malloc(n ? n : 1);
  if (*blob == NULL) {
    rocksdb_free(value);
    return TALLY_E_NOMEM;
  }
  memcpy(*blob, value, n);
  *len = n;
  rocksdb_free(value);
  return 1;
}

int meta_store_get_credential(meta_store_t *s, const char *key, uint8_t **value, size_t *len) {
  char *err = NULL;
  *value = NULL;
  *len = 0;
  char *got = rocksdb_get_cf(s->db, s->read, s->cf[CF_CREDENTIALS], key, strlen(key), len, &err);
  if (err != NULL) return storage_error("read of a credential", s->path, err);
  if (got == NULL) return 0;
  *value = malloc(*len ? *len : 1);
  if (*value == NULL) {
    rocksdb_free(got);
    return TALLY_E_NOMEM;
  }
  memcpy(*value, got, *len);
  rocksdb_free(got);
  return 1;
}

int meta_store_scan_credentials(meta_store_t *s, const char *prefix, meta_credential_fn fn,
                                void *user) {
  rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->read, s->cf[CF_CREDENTIALS]);
  size_t prefix_len = strlen(prefix);
  int rc = 0;
  for (rocksdb_iter_seek(it, prefix, prefix_len); rc == 0 && rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t key_len = 0, len = 0;
    const char *key = rocksdb_iter_key(it, &key_len);
    if (key_len < prefix_len || memcmp(key, prefix, prefix_len) != 0) break;
    const char *value = rocksdb_iter_value(it, &len);
    rc = fn(user, key, key_len, (const uint8_t *)value, len);
  }
  char *err = NULL;
  rocksdb_iter_get_error(it, &err);
  rocksdb_iter_destroy(it);
  if (err != NULL) return storage_error("scan of credentials", s->path, err);
  return rc;
}

void meta_batch_put_credential(meta_batch_t *b, const char *key, const void *value, size_t len) {
  meta_batch_put(b, CF_CREDENTIALS, key, strlen(key), value, len);
}

void meta_batch_put_credential_message(meta_batch_t *b, const char *key,
                                       const ProtobufCMessage *message) {
  meta_batch_put_message(b, CF_CREDENTIALS, key, strlen(key), message);
}

void meta_batch_delete_credential(meta_batch_t *b, const char *key, size_t key_len) {
  meta_batch_delete(b, CF_CREDENTIALS, key, key_len);
}

int meta_batch_commit(meta_batch_t *b) {
  meta_store_t *s = b->store;
  if (b->error < 0) return b->error;
  if (s->fail_commits > 0) {
    s->fail_commits--;
    log_error("metadata store %s: write failed (injected failure)", s->path);
    return TALLY_E_STORAGE;
  }
  if (s->replicate != NULL) return s->replicate(s->replicate_ctx, b->data, b->len);
  return meta_store_apply(s, b->data, b->len);
}

int meta_batch_encoding(const meta_batch_t *b, const uint8_t **data, size_t *len) {
  if (b->error < 0) return b->error;
  *data = b->data;
  *len = b->len;
  return 0;
}

void meta_store_set_replicator(meta_store_t *store, meta_replicate_fn fn, void *ctx) {
  store->replicate = fn;
  store->replicate_ctx = ctx;
}

/* ---------------------------------------------------------------- apply, dump, restore */

/* Reads a u32-prefixed byte string at *at of data[len]; 0 or -1. */
static int take_bytes(const uint8_t *data, size_t len, size_t *at, const uint8_t **out,
                      size_t *out_len) {
  if (len - *at < 4) return -1;
  uint32_t n = get_be32(data + *at);
  *at += 4;
  if (len - *at < n) return -1;
  *out = data + *at;
  *out_len = n;
  *at += n;
  return 0;
}

/* Decodes an encoding of `kind` into `wb`. Returns 0 or
 * TALLY_E_INVALID_ARGUMENT (malformed; nothing usable). */
static int decode_into(meta_store_t *s, const uint8_t *data, size_t len, uint8_t kind,
                       rocksdb_writebatch_t *wb) {
  if (len < 6 || data[0] != kind || data[1] != META_ENCODING_VERSION)
    return TALLY_E_INVALID_ARGUMENT;
  uint32_t ops = get_be32(data + 2);
  size_t at = 6;
  for (uint32_t n = 0; n < ops; n++) {
    if (len - at < 2) return TALLY_E_INVALID_ARGUMENT;
    uint8_t op = data[at], cf = data[at + 1];
    at += 2;
    const uint8_t *key = NULL, *value = NULL;
    size_t key_len = 0, value_len = 0;
    if (cf >= CF_COUNT || (op != OP_PUT && op != OP_DELETE) ||
        (op == OP_DELETE && kind == META_ENCODING_DUMP) ||
        take_bytes(data, len, &at, &key, &key_len) < 0 ||
        (op == OP_PUT && take_bytes(data, len, &at, &value, &value_len) < 0))
      return TALLY_E_INVALID_ARGUMENT;
    if (op == OP_PUT)
      rocksdb_writebatch_put_cf(wb, s->cf[cf], (const char *)key, key_len, (const char *)value,
                                value_len);
    else
      rocksdb_writebatch_delete_cf(wb, s->cf[cf], (const char *)key, key_len);
  }
  if (len - at > 7) return TALLY_E_INVALID_ARGUMENT;
  for (; at < len; at++)
    if (data[at] != 0) return TALLY_E_INVALID_ARGUMENT;
  return 0;
}

/* Writes `wb` with sync=true. Returns 0 or TALLY_E_STORAGE (logged). */
static int write_synced(meta_store_t *s, rocksdb_writebatch_t *wb) {
  char *err = NULL;
  rocksdb_write(s->db, s->write_sync, wb, &err);
  if (err != NULL) return storage_error("synced write", s->path, err);
  return 0;
}

int meta_store_apply(meta_store_t *s, const uint8_t *data, size_t len) {
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  int rc = decode_into(s, data, len, META_ENCODING_BATCH, wb);
  if (rc < 0) log_error("metadata store %s: a malformed batch (%zu bytes) was refused", s->path, len);
  else rc = write_synced(s, wb);
  rocksdb_writebatch_destroy(wb);
  return rc;
}

/* Adds every key of column family `cf` to the encoding of `b` (dump) or
 * a delete of it to `wb` (restore), reading through `read`. */
static int scan_family(meta_store_t *s, rocksdb_readoptions_t *read, int cf, meta_batch_t *b,
                       rocksdb_writebatch_t *wb) {
  rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, read, s->cf[cf]);
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t key_len = 0, len = 0;
    const char *key = rocksdb_iter_key(it, &key_len);
    if (wb != NULL) {
      rocksdb_writebatch_delete_cf(wb, s->cf[cf], key, key_len);
      continue;
    }
    const char *value = rocksdb_iter_value(it, &len);
    meta_batch_put(b, cf, key, key_len, value, len);
  }
  char *err = NULL;
  rocksdb_iter_get_error(it, &err);
  rocksdb_iter_destroy(it);
  if (err != NULL) return storage_error("scan", s->path, err);
  return 0;
}

int meta_store_dump(meta_store_t *s, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  meta_batch_t *b = NULL;
  int rc = batch_start(s, &b, META_ENCODING_DUMP);
  const rocksdb_snapshot_t *snapshot = rocksdb_create_snapshot(s->db);
  rocksdb_readoptions_t *read = rocksdb_readoptions_create();
  rocksdb_readoptions_set_snapshot(read, snapshot); /* one consistent view of every family */
  for (int cf = 0; rc == 0 && cf < CF_COUNT; cf++) {
    rc = scan_family(s, read, cf, b, NULL);
    if (rc == 0 && b->error < 0) rc = b->error;
  }
  rocksdb_readoptions_destroy(read);
  rocksdb_release_snapshot(s->db, snapshot);
  if (rc == 0) {
    *data = b->data, *len = b->len;
    b->data = NULL;
  }
  meta_batch_destroy(&b);
  return rc;
}

int meta_store_restore(meta_store_t *s, const uint8_t *data, size_t len) {
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  int rc = 0;
  /* Deletes of every key there is now, then the dump's puts: in one batch
   * the later put of a key wins over its delete. */
  for (int cf = 0; rc == 0 && cf < CF_COUNT; cf++) rc = scan_family(s, s->read, cf, NULL, wb);
  if (rc == 0) {
    rc = decode_into(s, data, len, META_ENCODING_DUMP, wb);
    if (rc < 0) log_error("metadata store %s: a malformed dump (%zu bytes) was refused", s->path, len);
  }
  if (rc == 0) rc = write_synced(s, wb);
  rocksdb_writebatch_destroy(wb);
  return rc;
}
