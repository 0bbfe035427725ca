/* meta_store: the coordinator's durable metadata, one RocksDB at DIR/meta.
 *
 * Records are protobuf-serialized messages of proto/tally.proto. Every
 * change of one request goes into one meta_batch_t, written atomically with
 * a synced WAL (meta_batch_commit) before the request is acknowledged.
 *
 * On-disk format, version 1 (META_FORMAT_VERSION)
 * -----------------------------------------------
 * Column family "default": cluster counters under fixed ASCII keys, values
 * big-endian:
 *   "format"           u32  META_FORMAT_VERSION, written when the store is created
 *   "epoch"            u64  cluster map epoch
 *   "config_version"   u64  bumped by every project or labeler change
 *   "next_project_id"  u32  next project id to hand out (ids start at 1, never reused)
 *   "next_worker_id"   u32  next worker id to hand out (ids start at 1, never reused)
 *   "slot_owner"       TALLY_SLOT_COUNT x u32, the owning worker id per slot
 *                      in slot order (0 = unassigned)
 *   "slot_replicas"    (added with replication; absent in older stores,
 *                      which reads as no followers, every slot epoch 0)
 *                      the followers, in-sync set, slot epoch and waiting
 *                      flag of every slot, encoded by replica_set_encode()
 *                      (coordinator/replica_set.h, which describes it)
 * A counter key that is absent reads as its initial value (0, 0, 1, 1, all
 * slots unassigned).
 * Column family "projects": key = project name (its bytes, no terminator),
 *   value = tally.Project as stored (id, defaults and created_ms filled in).
 * Column family "labelers": key = labeler id, value = tally.Labeler.
 * Column family "workers":  key = worker id as u32 big-endian, value =
 *   tally.WorkerInfo with only id, endpoint, state, draining and public_key
 *   set (heartbeat figures live in memory; draining and public_key are
 *   newer fields: false and "" in records written before them, which is
 *   what they meant then: not draining, no key bound yet).
 * Column family "admitted" (added with CURVE; created when missing, so a
 *   store of the version before opens unchanged): key = a worker's public
 *   key (Z85), value = tally.ClusterAdmit with that key.
 * Column family "admin_log" (same): key = sequence number as u64
 *   big-endian, value = tally.AdminLogEntry. Append-only: entries are
 *   never changed or deleted.
 * Column family "credentials" (added with the gateway; created when
 *   missing, so an older store opens unchanged): the sign-in records of
 *   the gateway, read on demand and never held in memory:
 *     "person/<id>"       tally.Credential (argon2id password hash, language)
 *     "token/<64 hex>"    tally.ApiToken: the BLAKE2b-256 hash of an API
 *                         token (the token itself is never stored)
 *     "session_key"       32 random bytes: the key gateways sign session
 *                         cookies with (crypto_auth), made on first request
 *
 * Column family "calibration" (added with calibration sessions; created
 *   when missing, like "admitted"): key "s" + session name, value =
 *   tally.CalibrationSession; key "l" + session name + NUL + person + NUL +
 *   item id, value = tally.CalibrationLabel (names and ids hold no NUL:
 *   ident.h). coordinator/calibration.h.
 *
 * Changing the format: never change the meaning of an existing key or
 * value in place. Bump META_FORMAT_VERSION, describe the new layout here and
 * keep the old one below it, and make meta_store_open() upgrade a store of
 * the previous version in one atomic batch that also rewrites "format". A
 * store whose format this build does not know is refused at open (STORAGE),
 * so an old binary never misreads a newer store.
 */
#ifndef TALLY_COORDINATOR_META_STORE_H
#define TALLY_COORDINATOR_META_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"
#include "tally.pb-c.h"

#define META_FORMAT_VERSION 1u

typedef struct meta_store meta_store_t;
typedef struct meta_batch meta_batch_t;

/* The counters of the "default" column family. */
typedef struct {
  uint64_t epoch;
  uint64_t config_version;
  uint32_t next_project_id;
  uint32_t next_worker_id;
  uint32_t slot_owner[TALLY_SLOT_COUNT];
} meta_counters_t;

/* Which record column family to read. */
typedef enum {
  META_PROJECTS = 0,
  META_LABELERS = 1,
  META_WORKERS = 2,
  META_ADMITTED = 3,
  META_ADMIN_LOG = 4
} meta_kind_t;

/* Receives one stored record, in key order, and takes ownership of it (free
 * with protobuf_c_message_free_unpacked). The record is a Tally__Project,
 * Tally__Labeler or Tally__WorkerInfo according to the kind. A negative
 * return stops the load and is returned by meta_store_load(). */
typedef int (*meta_record_fn)(void *user, ProtobufCMessage *record);

/* Opens (creating when missing) the store in directory `path`; the parent
 * directory must exist. *out is the caller's (meta_store_close). Errors:
 * TALLY_E_STORAGE (RocksDB refused: locked by another process, corrupt, or
 * an unknown format version; the reason is logged), TALLY_E_NOMEM. */
int meta_store_open(meta_store_t **out, const char *path);

/* Closes the database; safe on NULL; sets *store NULL. */
void meta_store_close(meta_store_t **store);

/* Reads the counters. Errors: TALLY_E_STORAGE (read failed or a value has
 * the wrong size; logged). */
int meta_store_load_counters(meta_store_t *store, meta_counters_t *counters);

/* Hands every record of `kind` to `fn` in key order (projects and labelers:
 * by name; workers: by id). Returns 0, fn's negative result, or
 * TALLY_E_STORAGE when a record does not decode or does not match its key
 * (logged). */
int meta_store_load(meta_store_t *store, meta_kind_t kind, meta_record_fn fn, void *user);

/* Hands every calibration session (Tally__CalibrationSession) to
 * `session`, then every calibration label (Tally__CalibrationLabel) to
 * `label`, each in key order; ownership as for meta_store_load. Returns 0,
 * a callback's negative result or TALLY_E_STORAGE. */
int meta_store_load_calibration(meta_store_t *store, meta_record_fn session, meta_record_fn label,
                                void *user);

/* Fault injection for tests: the next `count` commits fail with
 * TALLY_E_STORAGE and write nothing. */
void meta_store_fail_commits(meta_store_t *store, int count);

/* A new empty batch on `store`. Errors: TALLY_E_NOMEM. */
int meta_batch_new(meta_store_t *store, meta_batch_t **out);

/* Frees the batch (unwritten changes are dropped); safe on NULL. */
void meta_batch_destroy(meta_batch_t **batch);

/* Adds a change to the batch. Nothing is written before meta_batch_commit();
 * an allocation failure here is remembered and returned by the commit. */
void meta_batch_put_project(meta_batch_t *batch, const Tally__Project *project);
void meta_batch_put_labeler(meta_batch_t *batch, const Tally__Labeler *labeler);
void meta_batch_put_worker(meta_batch_t *batch, const Tally__WorkerInfo *worker);
void meta_batch_put_epoch(meta_batch_t *batch, uint64_t epoch);
void meta_batch_put_config_version(meta_batch_t *batch, uint64_t version);
void meta_batch_put_next_project_id(meta_batch_t *batch, uint32_t id);
void meta_batch_put_next_worker_id(meta_batch_t *batch, uint32_t id);
void meta_batch_put_slot_owners(meta_batch_t *batch, const uint32_t *owners);
/* The "slot_replicas" record (replica_set_encode); blob NULL (it could
 * not be encoded) makes the commit fail with TALLY_E_NOMEM. */
void meta_batch_put_slot_replicas(meta_batch_t *batch, const uint8_t *blob, size_t len);
/* Reads it: 1 with *blob (malloc'ed, caller frees) and *len, 0 when absent,
 * TALLY_E_STORAGE or TALLY_E_NOMEM. */
int meta_store_load_slot_replicas(meta_store_t *store, uint8_t **blob, size_t *len);
/* Admits (admitted = 1) or revokes (0) a worker key. */
void meta_batch_put_admitted(meta_batch_t *batch, const char *public_key, int admitted);
/* Appends one entry to the administrative log (its seq is the key). */
void meta_batch_put_admin_entry(meta_batch_t *batch, const Tally__AdminLogEntry *entry);

/* A calibration session record, or one member's label (calibration.h). */
void meta_batch_put_calibration_session(meta_batch_t *batch, const Tally__CalibrationSession *session);
void meta_batch_put_calibration_label(meta_batch_t *batch, const Tally__CalibrationLabel *label);
/* Reads the "credentials" value at `key`. Returns 1 with *value (malloc'ed,
 * caller frees) and *len, 0 when absent, TALLY_E_NOMEM or TALLY_E_STORAGE. */
int meta_store_get_credential(meta_store_t *store, const char *key, uint8_t **value, size_t *len);

/* Receives one "credentials" entry (borrowed for the call); a non-zero
 * return stops the scan and is returned by it. */
typedef int (*meta_credential_fn)(void *user, const char *key, size_t key_len,
                                  const uint8_t *value, size_t len);

/* Hands every "credentials" entry whose key starts with `prefix` to fn, in
 * key order. Returns 0, fn's result, or TALLY_E_STORAGE. */
int meta_store_scan_credentials(meta_store_t *store, const char *prefix, meta_credential_fn fn,
                                void *user);

/* Puts / deletes a "credentials" entry (raw bytes, or a serialized message). */
void meta_batch_put_credential(meta_batch_t *batch, const char *key, const void *value, size_t len);
void meta_batch_put_credential_message(meta_batch_t *batch, const char *key,
                                       const ProtobufCMessage *message);
void meta_batch_delete_credential(meta_batch_t *batch, const char *key, size_t key_len);

/* Writes the batch atomically with sync=true. Returns 0 once it is durable,
 * TALLY_E_NOMEM (a put failed; nothing written) or TALLY_E_STORAGE (RocksDB
 * failed; logged; nothing acknowledged). The batch may be destroyed after.
 * With a replicator set (meta_store_set_replicator), the batch's encoding
 * goes to it instead and its result is returned: for a replicated
 * coordinator, 0 once the batch is committed in the Raft log and applied
 * here (raft_node.h), or NOT_LEADER / UNAVAILABLE. */
int meta_batch_commit(meta_batch_t *batch);

/* Replication of the store (coordinator/raft_node.h)
 * -------------------------------------------------
 * A batch has an encoding (described in meta_store.c, with its version)
 * that lists its changes as (column family, key, value or delete). A
 * replicated coordinator makes this encoding its Raft command: the leader
 * proposes it, and every coordinator writes it with meta_store_apply()
 * once it is committed. A dump (the whole store in the same encoding) is
 * the Raft snapshot. */

/* Borrows the batch's encoding (valid until the next change or destroy).
 * Returns 0 or TALLY_E_NOMEM (a put failed). */
int meta_batch_encoding(const meta_batch_t *batch, const uint8_t **data, size_t *len);

/* Where meta_batch_commit() sends batches from now on (NULL: written here
 * at once, the default). fn returns 0 once the encoding is durable, or a
 * negative TALLY_E_*. It is called on the committing thread. */
typedef int (*meta_replicate_fn)(void *ctx, const uint8_t *data, size_t len);
void meta_store_set_replicator(meta_store_t *store, meta_replicate_fn fn, void *ctx);

/* Writes an encoded batch atomically with sync=true. Safe from a thread
 * other than the one that reads (RocksDB is). Returns 0, TALLY_E_INVALID_ARGUMENT
 * (not a batch of a known encoding version; nothing written) or
 * TALLY_E_STORAGE (logged). */
int meta_store_apply(meta_store_t *store, const uint8_t *data, size_t len);

/* The whole store (every column family, one consistent view) as a dump:
 * *data is malloc'ed, the caller's. Returns 0, TALLY_E_NOMEM or
 * TALLY_E_STORAGE. */
int meta_store_dump(meta_store_t *store, uint8_t **data, size_t *len);

/* Replaces the whole store by a dump, atomically (synced). Returns 0,
 * TALLY_E_INVALID_ARGUMENT (not a dump; nothing changed) or
 * TALLY_E_STORAGE. */
int meta_store_restore(meta_store_t *store, const uint8_t *data, size_t len);

#endif
