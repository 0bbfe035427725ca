/* client: the tally_t handle — connections, the cached cluster map, routing
 * by slot, and the blocking calls, retried as retry_policy.h says. See
 * tally.h and client_internal.h. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client_internal.h"
#include "clock.h"
#include "lease_order.h"
#include "result.h"
#include "retry_policy.h"
#include "wire.h"

void client_sleep_ms(int ms) {
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

void client_lease_name(tally_t *t, uint64_t lease_id, char **project, char **item_id,
                       Tally__Stage *stage) {
  const char *p = NULL, *item = NULL;
  uint32_t s = 0;
  if (!lease_memo_get(t->leases, lease_id, &p, &item, &s)) return;
  *project = (char *)p;
  *item_id = (char *)item;
  *stage = (Tally__Stage)s;
}

void client_submit_init(Tally__SubmitRequest *body, const char *labeler, uint32_t slot, uint64_t lease_id,
                        const char *label, uint32_t handling_ms) {
  tally__submit_request__init(body);
  body->labeler = (char *)(labeler ? labeler : "");
  body->slot = slot;
  body->lease_id = lease_id;
  body->label = (char *)(label ? label : "");
  body->handling_ms = handling_ms;
}

int client_attribution_is_valid(tally_attribution_t attribution) {
  return attribution >= TALLY_ATTRIBUTION_NONE && attribution <= TALLY_ATTRIBUTION_POLICY_UNCLEAR;
}

int client_error(tally_t *t, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->last_error, sizeof t->last_error, fmt, ap);
  va_end(ap);
  t->last_code = code;
  return code;
}

int client_reply_error(tally_t *t, const Tally__Envelope *reply) {
  int code = tally_error_from_wire((int)reply->error->code);
  const char *message = reply->error->message;
  if (message == NULL || message[0] == '\0') message = tally_strerror(code);
  return client_error(t, code, "%s", message);
}

/* Makes the handle around `io` (whose reference it takes over). */
static int client_open_with(tally_t **out, client_io_t *io, const char *coordinator_endpoint,
                            int timeout_ms) {
  tally_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    client_io_release(io);
    return TALLY_E_NOMEM;
  }
  t->io = io;
  t->zmq = io->zmq;
  t->timeout_ms = timeout_ms > 0 ? timeout_ms : TALLY_DEFAULT_TIMEOUT_MS;
  for (size_t i = 0; i < TALLY_SLOT_COUNT; i++) t->slot_peer[i] = -1;
  /* Clients of one cluster must not all draw the same "random" worker. */
  t->rng = clock_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)t;
  t->coordinator_endpoint = strdup(coordinator_endpoint);
  int rc = TALLY_E_NOMEM;
  if (t->coordinator_endpoint == NULL) goto err;
  rc = endpoint_list_parse(&t->coordinators, coordinator_endpoint);
  if (rc < 0) goto err;
  curve_client_t keys;
  rc = dealer_new(&t->coordinator, t->zmq, endpoint_list_current(&t->coordinators),
                  client_curve_to(t, io->coordinator_key, &keys));
  if (rc < 0) goto err;
  rc = TALLY_E_NOMEM;
  if ((t->people = person_markets_new()) == NULL) goto err;
  if ((t->leases = lease_memo_new()) == NULL) goto err;
  *out = t;
  return 0;
err:
  tally_close(&t);
  return rc;
}

const curve_client_t *client_curve_to(const tally_t *t, const char *server_key,
                                      curve_client_t *buf) {
  if (!t->io->secure) return NULL;
  memset(buf, 0, sizeof *buf);
  buf->self = t->io->self;
  snprintf(buf->server_key, sizeof buf->server_key, "%s", server_key ? server_key : "");
  return buf;
}

int tally_credentials_load(tally_credentials_t *out, const char *key_file,
                           const char *coordinator_key) {
  memset(out, 0, sizeof *out);
  curve_keypair_t pair;
  int rc = curve_keypair_load(&pair, key_file);
  if (rc < 0) return rc == TALLY_E_IO ? TALLY_E_IO : TALLY_E_INVALID_ARGUMENT;
  if (curve_public_parse(out->coordinator_key, coordinator_key) < 0) return TALLY_E_INVALID_ARGUMENT;
  memcpy(out->public_key, pair.public_key, sizeof out->public_key);
  memcpy(out->secret_key, pair.secret_key, sizeof out->secret_key);
  return 0;
}

int tally_credentials_from_env(tally_credentials_t *out) {
  memset(out, 0, sizeof *out);
  const char *key = getenv("TALLY_KEY");
  if (key == NULL || key[0] == '\0') return 0;
  const char *server = getenv("TALLY_COORDINATOR_KEY");
  if (server == NULL || server[0] == '\0') return TALLY_E_INVALID_ARGUMENT;
  int rc = tally_credentials_load(out, key, server);
  return rc < 0 ? rc : 1;
}

int tally_open_with(tally_t **out, const char *coordinator_endpoint, int timeout_ms,
                    const tally_credentials_t *credentials) {
  *out = NULL;
  if (coordinator_endpoint == NULL || coordinator_endpoint[0] == '\0')
    coordinator_endpoint = TALLY_DEFAULT_COORDINATOR;
  if (credentials != NULL &&
      (!curve_key_is_valid(credentials->public_key) || !curve_key_is_valid(credentials->secret_key) ||
       !curve_key_is_valid(credentials->coordinator_key)))
    return TALLY_E_INVALID_ARGUMENT;
  client_io_t *io = calloc(1, sizeof *io);
  if (io == NULL) return TALLY_E_NOMEM;
  io->zmq = zmq_ctx_new();
  if (io->zmq == NULL) {
    free(io);
    return TALLY_E_TRANSPORT;
  }
  if (credentials != NULL) {
    io->secure = 1;
    memcpy(io->self.public_key, credentials->public_key, sizeof io->self.public_key);
    memcpy(io->self.secret_key, credentials->secret_key, sizeof io->self.secret_key);
    memcpy(io->coordinator_key, credentials->coordinator_key, sizeof io->coordinator_key);
  }
  atomic_init(&io->refs, 1);
  return client_open_with(out, io, coordinator_endpoint, timeout_ms);
}

int tally_open(tally_t **out, const char *coordinator_endpoint, int timeout_ms) {
  *out = NULL;
  tally_credentials_t credentials;
  int rc = tally_credentials_from_env(&credentials);
  if (rc < 0) return rc;
  return tally_open_with(out, coordinator_endpoint, timeout_ms, rc == 1 ? &credentials : NULL);
}

int tally_open_sibling(tally_t **out, tally_t *sibling) {
  *out = NULL;
  if (sibling == NULL) return TALLY_E_INVALID_ARGUMENT;
  atomic_fetch_add(&sibling->io->refs, 1);
  return client_open_with(out, sibling->io, sibling->coordinator_endpoint, sibling->timeout_ms);
}

void client_io_release(client_io_t *io) {
  if (io == NULL || atomic_fetch_sub(&io->refs, 1) != 1) return;
  zmq_ctx_term(io->zmq);
  free(io);
}

void tally_close(tally_t **tp) {
  if (tp == NULL || *tp == NULL) return;
  tally_t *t = *tp;
  assert(t->async_count == 0 && "destroy every tally_async_t before tally_close");
  dealer_destroy(&t->coordinator);
  dealer_destroy(&t->map_dealer);
  for (size_t i = 0; i < CLIENT_PROJECT_CACHE; i++) free(t->projects[i].name);
  person_markets_destroy(&t->people);
  lease_memo_destroy(&t->leases);
  for (size_t i = 0; i < t->peer_count; i++) {
    dealer_destroy(&t->peers[i].dealer);
    free(t->peers[i].endpoint);
  }
  free(t->peers);
  free(t->worker_peer);
  wire_envelope_free(&t->map_env);
  client_io_release(t->io);
  free(t->coordinator_endpoint);
  free(t);
  *tp = NULL;
}

const char *tally_last_error(const tally_t *t) { return t->last_error; }

int tally_last_error_code(const tally_t *t) { return t->last_code; }

void tally_free(void *result) { result_free(result); }

/* ------------------------------------------------------------ peers */

/* The key the map `map` gives the worker at `endpoint` ("" none). */
static const char *map_key_of(const Tally__ClusterMap *map, const char *endpoint) {
  for (size_t w = 0; map != NULL && w < map->n_workers; w++)
    if (strcmp(map->workers[w]->endpoint, endpoint) == 0) return map->workers[w]->public_key;
  return "";
}

/* client_peer_add with the worker's key known (NULL: from the handle's map). */
static int client_peer_add_keyed(tally_t *t, const char *endpoint, const char *key) {
  if (key == NULL) key = map_key_of(t->map_env ? t->map_env->map : NULL, endpoint);
  for (size_t i = 0; i < t->peer_count; i++) {
    client_peer_t *p = &t->peers[i];
    if (strcmp(p->endpoint, endpoint) != 0) continue;
    if (key[0] != '\0' && strcmp(p->server_key, key) != 0) {
      snprintf(p->server_key, sizeof p->server_key, "%s", key); /* re-keyed: reconnect */
      dealer_destroy(&p->dealer);
    }
    return (int)i;
  }
  if (t->peer_count == t->peer_cap) {
    size_t cap = t->peer_cap ? t->peer_cap * 2 : 8;
    client_peer_t *peers = realloc(t->peers, cap * sizeof *peers);
    if (peers == NULL) return TALLY_E_NOMEM;
    t->peers = peers;
    t->peer_cap = cap;
  }
  char *copy = strdup(endpoint);
  if (copy == NULL) return TALLY_E_NOMEM;
  t->peers[t->peer_count] = (client_peer_t){copy, "", NULL};
  snprintf(t->peers[t->peer_count].server_key, sizeof t->peers[t->peer_count].server_key, "%s", key);
  return (int)t->peer_count++;
}

int client_peer_add(tally_t *t, const char *endpoint) {
  return client_peer_add_keyed(t, endpoint, NULL);
}

int client_peer_dealer(tally_t *t, size_t peer, dealer_t **out) {
  client_peer_t *p = &t->peers[peer];
  if (p->dealer == NULL) {
    curve_client_t keys;
    int rc = dealer_new(&p->dealer, t->zmq, p->endpoint, client_curve_to(t, p->server_key, &keys));
    if (rc < 0) return client_error(t, rc, "cannot connect to worker %s", p->endpoint);
  }
  *out = p->dealer;
  return 0;
}

void client_peer_reset(tally_t *t, size_t peer) { dealer_destroy(&t->peers[peer].dealer); }

void client_route_override(tally_t *t, uint32_t slot, const char *endpoint) {
  if (slot >= TALLY_SLOT_COUNT || endpoint == NULL || endpoint[0] == '\0') return;
  int p = client_peer_add(t, endpoint);
  if (p < 0) return;
  t->slot_peer[slot] = p;
  t->slot_down_owner[slot] = 0; /* a live worker said who owns it now */
}

uint64_t client_random(tally_t *t) { return client_lease_random(&t->rng); }

/* ------------------------------------------------------------ map */

/* Rebuilds slot routing and the worker -> peer table from `map`. */
static int routing_rebuild(tally_t *t, const Tally__ClusterMap *map) {
  int32_t *worker_peer = calloc(map->n_workers ? map->n_workers : 1, sizeof *worker_peer);
  if (worker_peer == NULL) return client_error(t, TALLY_E_NOMEM, "out of memory");
  for (size_t w = 0; w < map->n_workers; w++) {
    const Tally__WorkerInfo *info = map->workers[w];
    worker_peer[w] = -1;
    if (info->endpoint == NULL || info->endpoint[0] == '\0') continue;
    int p = client_peer_add_keyed(t, info->endpoint, info->public_key);
    if (p < 0) {
      free(worker_peer);
      return client_error(t, p, "out of memory");
    }
    worker_peer[w] = p;
  }
  for (size_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    t->slot_peer[s] = -1;
    t->slot_down_owner[s] = 0;
    if (s >= map->n_slot_owner || map->slot_owner[s] == 0) continue;
    for (size_t w = 0; w < map->n_workers; w++) {
      const Tally__WorkerInfo *info = map->workers[w];
      if (info->id != map->slot_owner[s]) continue;
      t->slot_peer[s] = worker_peer[w];
      if (info->state == TALLY__WORKER_STATE__WORKER_DOWN) t->slot_down_owner[s] = info->id;
      break;
    }
  }
  free(t->worker_peer);
  t->worker_peer = worker_peer;
  t->epoch = map->epoch;
  return 0;
}

/* Makes the map of `reply` (taken over, also on failure) the handle's. */
static int map_apply(tally_t *t, Tally__Envelope *reply) {
  int rc = routing_rebuild(t, reply->map);
  if (rc < 0) {
    wire_envelope_free(&reply);
    return rc;
  }
  wire_envelope_free(&t->map_env);
  t->map_env = reply;
  t->map_ms = clock_monotonic_ms();
  t->map_serial++;
  return 0;
}

int client_refresh_map(tally_t *t) {
  Tally__Envelope req;
  Tally__MapRequest body;
  wire_envelope_init(&req, 0);
  tally__map_request__init(&body);
  req.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
  req.map_request = &body;
  Tally__Envelope *reply = NULL;
  int rc = client_call_coordinator(t, &req, TALLY__ENVELOPE__BODY_MAP, &reply);
  if (rc < 0) return rc;
  return map_apply(t, reply);
}

int client_ensure_map(tally_t *t) { return t->map_env ? 0 : client_refresh_map(t); }

/* Takes the reply to the outstanding background request if it comes within
 * wait_ms; one older than the handle's map (a blocking refresh came in
 * between) is dropped. */
static void map_background_collect(tally_t *t, int wait_ms) {
  if (t->map_request_id == 0) return;
  uint64_t end = clock_monotonic_ms() + (uint64_t)wait_ms;
  for (;;) {
    uint64_t now = clock_monotonic_ms();
    Tally__Envelope *reply = NULL;
    int rc = dealer_recv(t->map_dealer, now >= end ? 0 : (int)(end - now), &reply);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) return;
    if (reply->request_id != t->map_request_id) {
      wire_envelope_free(&reply);
      continue;
    }
    t->map_request_id = 0;
    if (reply->body_case == TALLY__ENVELOPE__BODY_MAP && t->map_ms <= t->map_request_ms)
      map_apply(t, reply);
    else
      wire_envelope_free(&reply);
    return;
  }
}

/* Sends a background map request when the map is older than max_age_ms
 * and none went out in the last max_age_ms (one unanswered for the
 * handle's timeout is dropped first). Returns 1 when it sent one. */
static int map_background_send(tally_t *t, int max_age_ms) {
  uint64_t now = clock_monotonic_ms(), age = (uint64_t)max_age_ms;
  if (now - t->map_ms < age || now - t->map_request_ms < age) return 0;
  if (t->map_request_id != 0) {
    if (now - t->map_request_ms < (uint64_t)t->timeout_ms) return 0;
    dealer_destroy(&t->map_dealer); /* unanswered: drop it and what is queued */
    t->map_request_id = 0;
  }
  curve_client_t keys;
  if (t->map_dealer == NULL &&
      dealer_new(&t->map_dealer, t->zmq, endpoint_list_current(&t->coordinators),
                 client_curve_to(t, t->io->coordinator_key, &keys)) < 0)
    return 0;
  Tally__Envelope req;
  Tally__MapRequest body;
  uint64_t id = dealer_next_request_id(t->map_dealer);
  wire_envelope_init(&req, id);
  tally__map_request__init(&body);
  req.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
  req.map_request = &body;
  t->map_request_ms = now;
  if (dealer_send(t->map_dealer, &req) < 0) return 0;
  t->map_request_id = id;
  return 1;
}

void client_map_refresh_if_old(tally_t *t, int wait_ms) {
  if (t->map_env == NULL) return;
  map_background_collect(t, 0);
  if (map_background_send(t, CLIENT_MAP_MAX_AGE_MS)) map_background_collect(t, wait_ms);
}

int client_recv_watching(tally_t *t, dealer_t *dealer, uint64_t sent_ms, uint64_t deadline,
                         Tally__Envelope **out) {
  *out = NULL;
  uint64_t serial = t->map_serial;
  for (;;) {
    uint64_t now = clock_monotonic_ms();
    int watching = t->map_env != NULL && now >= sent_ms + CLIENT_WATCH_AFTER_MS;
    if (watching) {
      map_background_collect(t, 0);
      if (t->map_serial != serial) return CLIENT_MAP_CHANGED;
      map_background_send(t, CLIENT_WATCH_EVERY_MS);
    }
    uint64_t until = deadline;
    if (t->map_env != NULL && !watching && sent_ms + CLIENT_WATCH_AFTER_MS < until)
      until = sent_ms + CLIENT_WATCH_AFTER_MS;
    if (watching && now + CLIENT_WATCH_EVERY_MS < until) until = now + CLIENT_WATCH_EVERY_MS;
    zmq_pollitem_t items[2] = {{dealer_socket(dealer), 0, ZMQ_POLLIN, 0},
                               {NULL, 0, ZMQ_POLLIN, 0}};
    int n_items = 1;
    if (watching && t->map_request_id != 0 && t->map_dealer != NULL)
      items[n_items++].socket = dealer_socket(t->map_dealer);
    int n = zmq_poll(items, n_items, until > now ? (long)(until - now) : 0);
    if (n < 0 && errno != EINTR) return TALLY_E_TRANSPORT;
    if (n > 0 && (items[0].revents & ZMQ_POLLIN)) {
      int rc = dealer_recv(dealer, 0, out);
      if (rc == TALLY_E_BAD_REQUEST || rc == TALLY_E_TIMEOUT) continue;
      return rc;
    }
    if (n == 0 && clock_monotonic_ms() >= deadline) return TALLY_E_TIMEOUT;
  }
}

int client_peer_down(const tally_t *t, size_t peer) {
  const Tally__ClusterMap *map = t->map_env ? t->map_env->map : NULL;
  for (size_t w = 0; map != NULL && t->worker_peer != NULL && w < map->n_workers; w++)
    if (t->worker_peer[w] == (int32_t)peer && map->workers[w]->state == TALLY__WORKER_STATE__WORKER_DOWN)
      return 1;
  return 0;
}

int client_slot_check(tally_t *t, uint32_t slot) {
  if (t->slot_peer[slot] < 0)
    return client_error(t, TALLY_E_UNAVAILABLE, "slot %u has no owner in map epoch %llu; retry once it is assigned",
                        slot, (unsigned long long)t->epoch);
  if (t->slot_down_owner[slot] != 0)
    return client_error(t, TALLY_E_UNAVAILABLE, "slot %u is owned by worker %u, which is down; retry when it is back",
                        slot, t->slot_down_owner[slot]);
  return 0;
}

/* Asks the coordinator for the id of project `name`; 0 when that fails. */
static uint32_t project_lookup(tally_t *t, const char *name) {
  Tally__Envelope req, *reply = NULL;
  Tally__ProjectShow body;
  wire_envelope_init(&req, 0);
  tally__project_show__init(&body);
  body.name = (char *)name;
  req.body_case = TALLY__ENVELOPE__BODY_PROJECT_SHOW;
  req.project_show = &body;
  int timeout = t->timeout_ms < CLIENT_PROJECT_LOOKUP_MS ? t->timeout_ms : CLIENT_PROJECT_LOOKUP_MS;
  uint32_t id = 0;
  if (client_call_coordinator_within(t, &req, TALLY__ENVELOPE__BODY_PROJECT_REPLY, timeout, &reply) == 0 &&
      reply->project_reply->project)
    id = reply->project_reply->project->id;
  wire_envelope_free(&reply);
  return id;
}

uint32_t client_project_id(tally_t *t, const char *name) {
  if (name == NULL || name[0] == '\0') return 0;
  size_t i = 0;
  while (i < CLIENT_PROJECT_CACHE && !(t->projects[i].name && strcmp(t->projects[i].name, name) == 0)) i++;
  uint64_t now = clock_monotonic_ms();
  if (i < CLIENT_PROJECT_CACHE && (t->projects[i].id != 0 || now < t->projects[i].retry_ms))
    return t->projects[i].id;
  if (i == CLIENT_PROJECT_CACHE) {
    char *copy = strdup(name);
    if (copy == NULL) return 0;
    i = t->project_next++ % CLIENT_PROJECT_CACHE;
    free(t->projects[i].name);
    t->projects[i].name = copy;
  }
  int saved_code = t->last_code;
  char saved[sizeof t->last_error];
  memcpy(saved, t->last_error, sizeof saved);
  t->projects[i].id = project_lookup(t, name);
  t->projects[i].retry_ms = now + CLIENT_PROJECT_RETRY_MS;
  memcpy(t->last_error, saved, sizeof saved);
  t->last_code = saved_code;
  return t->projects[i].id;
}

/* ------------------------------------------------------------ calls */

void client_stamp(const tally_t *t, Tally__Envelope *req) {
  if (t->acting_for[0] != '\0') req->acting_for = (char *)t->acting_for;
}

int tally_act_for(tally_t *t, const char *person) {
  if (person == NULL) person = "";
  size_t len = strlen(person);
  if (len >= sizeof t->acting_for)
    return client_error(t, TALLY_E_INVALID_ARGUMENT, "person id longer than %zu bytes",
                        sizeof t->acting_for - 1);
  memcpy(t->acting_for, person, len + 1);
  return 0;
}

/* The worker's id and endpoint behind `peer` in the handle's map ("?"). */
static const char *peer_name(const tally_t *t, size_t peer, uint32_t *id) {
  const Tally__ClusterMap *map = t->map_env ? t->map_env->map : NULL;
  *id = 0;
  for (size_t w = 0; map != NULL && t->worker_peer != NULL && w < map->n_workers; w++)
    if (t->worker_peer[w] == (int32_t)peer) *id = map->workers[w]->id;
  return peer < t->peer_count ? t->peers[peer].endpoint : "?";
}

int client_roundtrip_watch(tally_t *t, dealer_t *dealer, Tally__Envelope *req,
                           Tally__Envelope__BodyCase expect, int timeout_ms, Tally__Envelope **reply,
                           Tally__Envelope **moved, const client_watch_t *watch) {
  *reply = NULL;
  if (moved) *moved = NULL;
  Tally__Envelope *env = NULL;
  client_stamp(t, req);
  int rc;
  if (watch == NULL) {
    rc = dealer_call(dealer, req, timeout_ms, &env);
  } else {
    req->version = TALLY_PROTOCOL_VERSION;
    req->request_id = dealer_next_request_id(dealer);
    rc = dealer_send(dealer, req);
    uint64_t sent = clock_monotonic_ms(), deadline = sent + (uint64_t)timeout_ms;
    while (rc == 0) {
      rc = client_recv_watching(t, dealer, sent + (uint64_t)watch->quiet_ms, deadline, &env);
      if (rc == CLIENT_MAP_CHANGED) {
        rc = 0;
        /* Only a worker the map declares DOWN is given up: a live one
         * answers (MOVED, if its slot moved meanwhile), and a request it
         * may already have carried out is not sent twice for nothing. */
        if (!client_peer_down(t, watch->peer)) continue;
        /* A failover took the slot from the dead worker we wait for (the
         * coordinator declares it DOWN in the same map), or nobody could
         * be promoted: it will not answer. Drop what is queued for it;
         * the caller sends again. */
        uint32_t old_id = 0;
        const char *old = peer_name(t, watch->peer, &old_id);
        char was[160];
        snprintf(was, sizeof was, "worker %u (%s)", old_id, old);
        client_peer_reset(t, watch->peer);
        if (watch->slot >= TALLY_SLOT_COUNT)
          return client_error(t, TALLY_E_UNAVAILABLE,
                              "%s is down in map epoch %llu; it did not answer", was,
                              (unsigned long long)t->epoch);
        if (client_slot_check(t, watch->slot) < 0) return t->last_code;
        uint32_t new_id = 0;
        const char *now_at = peer_name(t, (size_t)t->slot_peer[watch->slot], &new_id);
        return client_error(t, TALLY_E_MOVED,
                            "slot %u went to worker %u (%s) in map epoch %llu while %s, now down, "
                            "had not answered (a failover)",
                            watch->slot, new_id, now_at, (unsigned long long)t->epoch, was);
      }
      if (rc < 0) break;
      if (env->request_id != req->request_id) {
        wire_envelope_free(&env);
        continue;
      }
      if (env->body_case == TALLY__ENVELOPE__BODY_ERROR) rc = tally_error_from_wire((int)env->error->code);
      break;
    }
  }
  if (rc == 0 && env->body_case != expect) {
    rc = client_error(t, TALLY_E_INTERNAL, "unexpected reply '%s' from %s to '%s'",
                      wire_body_name(env), dealer_endpoint(dealer), wire_body_name(req));
  } else if (rc < 0 && env != NULL) {
    client_reply_error(t, env);
    if ((rc == TALLY_E_MOVED || rc == TALLY_E_NOT_LEADER) && moved) {
      *moved = env;
      env = NULL;
    }
  } else if (rc == TALLY_E_TIMEOUT) {
    client_error(t, rc, "no reply from %s within %d ms", dealer_endpoint(dealer), timeout_ms);
  } else if (rc < 0) {
    client_error(t, rc, "cannot send to %s: %s", dealer_endpoint(dealer), tally_strerror(rc));
  }
  if (rc < 0) {
    wire_envelope_free(&env);
    return rc;
  }
  *reply = env;
  return 0;
}

int client_roundtrip(tally_t *t, dealer_t *dealer, Tally__Envelope *req,
                     Tally__Envelope__BodyCase expect, int timeout_ms, Tally__Envelope **reply,
                     Tally__Envelope **moved) {
  return client_roundtrip_watch(t, dealer, req, expect, timeout_ms, reply, moved, NULL);
}

/* Talks to another coordinator from now on: `leader` (named by NOT_LEADER)
 * or, when NULL, the next of the list. What is queued on the old
 * connections is dropped with them. */
static int coordinator_switch(tally_t *t, const char *leader) {
  if (leader == NULL || endpoint_list_use(&t->coordinators, leader) < 0)
    endpoint_list_next(&t->coordinators);
  dealer_destroy(&t->coordinator);
  dealer_destroy(&t->map_dealer);
  t->map_request_id = 0;
  curve_client_t keys;
  return dealer_new(&t->coordinator, t->zmq, endpoint_list_current(&t->coordinators),
                    client_curve_to(t, t->io->coordinator_key, &keys));
}

int client_call_coordinator_within(tally_t *t, Tally__Envelope *req, Tally__Envelope__BodyCase expect,
                                   int timeout_ms, Tally__Envelope **reply) {
  retry_policy_t retry;
  retry_policy_start(&retry, RETRY_FOR_COORDINATOR);
  int search_ms = timeout_ms > CLIENT_LEADER_SEARCH_MS ? timeout_ms : CLIENT_LEADER_SEARCH_MS;
  uint64_t search_end = clock_monotonic_ms() + (uint64_t)search_ms;
  for (;;) {
    Tally__Envelope *refusal = NULL;
    int rc = client_roundtrip(t, t->coordinator, req, expect, timeout_ms, reply, &refusal);
    if (rc == TALLY_E_TIMEOUT) {
      /* Drop what is queued so a late coordinator does not see it twice. */
      dealer_destroy(&t->coordinator);
      curve_client_t keys;
      int again = dealer_new(&t->coordinator, t->zmq, endpoint_list_current(&t->coordinators),
                             client_curve_to(t, t->io->coordinator_key, &keys));
      if (again < 0) return client_error(t, again, "cannot reconnect to the coordinator");
      client_error(t, rc, "no reply from the coordinator at %s within %d ms",
                   endpoint_list_current(&t->coordinators), timeout_ms);
    }
    if (rc == TALLY_E_NOT_LEADER || (rc == TALLY_E_TIMEOUT && t->coordinators.count > 1)) {
      const char *leader = refusal != NULL ? refusal->error->leader_endpoint : NULL;
      if (leader != NULL && (leader[0] == '\0' ||
                             strcmp(leader, endpoint_list_current(&t->coordinators)) == 0))
        leader = NULL; /* none yet, or this one is not ready: pause, then the next */
      if (clock_monotonic_ms() >= search_end) {
        char last[sizeof t->last_error];
        snprintf(last, sizeof last, "%s", t->last_error);
        wire_envelope_free(&refusal);
        return client_error(t, TALLY_E_UNAVAILABLE,
                            "no leader coordinator answered within %d ms (coordinators: %s; "
                            "last: %s)",
                            search_ms, t->coordinator_endpoint, last);
      }
      if (leader == NULL) client_sleep_ms(CLIENT_LEADER_PAUSE_MS);
      int again = coordinator_switch(t, leader);
      wire_envelope_free(&refusal);
      if (again < 0) return client_error(t, again, "cannot connect to the next coordinator");
      continue;
    }
    wire_envelope_free(&refusal);
    retry_step_t step = retry_policy_next(&retry, rc);
    if (!step.again) return rc;
    client_sleep_ms(step.backoff_ms);
  }
}

int client_call_coordinator(tally_t *t, Tally__Envelope *req, Tally__Envelope__BodyCase expect,
                            Tally__Envelope **reply) {
  return client_call_coordinator_within(t, req, expect, t->timeout_ms, reply);
}

int client_call_peer(tally_t *t, size_t peer, Tally__Envelope *req, Tally__Envelope__BodyCase expect,
                     Tally__Envelope **reply) {
  retry_policy_t retry;
  retry_policy_start(&retry, RETRY_FOR_WORKER);
  for (;;) {
    dealer_t *dealer = NULL;
    int rc = client_peer_dealer(t, peer, &dealer);
    if (rc == 0) rc = client_roundtrip(t, dealer, req, expect, t->timeout_ms, reply, NULL);
    if (rc == 0) return 0;
    retry_step_t step = retry_policy_next(&retry, rc);
    if (step.reset_connection) client_peer_reset(t, peer);
    if (!step.again) return rc;
    client_sleep_ms(step.backoff_ms); /* no map to mend: the request names its worker */
  }
}

/* ------------------------------------------------------------ scatter */

int client_worker_is_needed(const Tally__WorkerInfo *info) {
  if (info->state != TALLY__WORKER_STATE__WORKER_DOWN && info->endpoint && info->endpoint[0]) return 1;
  return info->slots_owned > 0;
}

void client_answers_free(client_answer_t **answers, size_t count) {
  if (*answers == NULL) return;
  for (size_t i = 0; i < count; i++) {
    free((*answers)[i].endpoint);
    free((*answers)[i].error);
    wire_envelope_free(&(*answers)[i].reply);
  }
  free(*answers);
  *answers = NULL;
}

static void answer_fail(client_answer_t *a, int code, const char *message) {
  a->code = code;
  free(a->error);
  a->error = strdup(message && message[0] ? message : tally_strerror(code));
}

/* Waits until `deadline` for the reply to answers[w] on its peer's dealer. */
static void scatter_collect(tally_t *t, client_answer_t *a, size_t peer, uint64_t request_id,
                            Tally__Envelope__BodyCase expect, uint64_t deadline) {
  dealer_t *dealer = t->peers[peer].dealer;
  for (;;) {
    uint64_t now = clock_monotonic_ms();
    Tally__Envelope *reply = NULL;
    int rc = dealer_recv(dealer, now >= deadline ? 0 : (int)(deadline - now), &reply);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) {
      answer_fail(a, rc, rc == TALLY_E_TIMEOUT ? "no reply" : tally_strerror(rc));
      if (rc == TALLY_E_TIMEOUT) client_peer_reset(t, peer);
      return;
    }
    if (reply->request_id != request_id) {
      wire_envelope_free(&reply);
      continue;
    }
    if (reply->body_case == expect) {
      a->reply = reply;
      return;
    }
    if (reply->body_case == TALLY__ENVELOPE__BODY_ERROR)
      answer_fail(a, client_reply_error(t, reply), t->last_error);
    else
      answer_fail(a, TALLY_E_INTERNAL, "unexpected reply");
    wire_envelope_free(&reply);
    return;
  }
}

int client_scatter(tally_t *t, Tally__Envelope *req, Tally__Envelope__BodyCase expect, client_answer_t **answers,
                   size_t *count) {
  *answers = NULL;
  *count = 0;
  int rc = client_refresh_map(t);
  if (rc < 0) return rc;
  const Tally__ClusterMap *map = t->map_env->map;
  size_t n = map->n_workers;
  client_answer_t *list = calloc(n ? n : 1, sizeof *list);
  int *peers = calloc(n ? n : 1, sizeof *peers);
  uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
  if (list == NULL || peers == NULL || ids == NULL) {
    free(list);
    free(peers);
    free(ids);
    return client_error(t, TALLY_E_NOMEM, "out of memory");
  }
  for (size_t w = 0; w < n; w++) {
    const Tally__WorkerInfo *info = map->workers[w];
    client_answer_t *a = &list[w];
    a->worker_id = info->id;
    a->endpoint = strdup(info->endpoint ? info->endpoint : "");
    peers[w] = -1;
    if (!client_worker_is_needed(info)) {
      a->skipped = 1;
      continue;
    }
    if (info->state == TALLY__WORKER_STATE__WORKER_DOWN || info->endpoint[0] == '\0') {
      answer_fail(a, TALLY_E_UNAVAILABLE, "worker is down");
      continue;
    }
    dealer_t *dealer = NULL;
    int p = client_peer_add(t, info->endpoint);
    rc = p < 0 ? p : client_peer_dealer(t, (size_t)p, &dealer);
    if (rc == 0) {
      ids[w] = dealer_next_request_id(dealer);
      req->version = TALLY_PROTOCOL_VERSION;
      req->request_id = ids[w];
      client_stamp(t, req);
      rc = dealer_send(dealer, req);
    }
    if (rc < 0) {
      answer_fail(a, rc, tally_strerror(rc));
      continue;
    }
    peers[w] = p;
  }
  uint64_t deadline = clock_monotonic_ms() + (uint64_t)t->timeout_ms;
  for (size_t w = 0; w < n; w++)
    if (peers[w] >= 0) scatter_collect(t, &list[w], (size_t)peers[w], ids[w], expect, deadline);
  free(peers);
  free(ids);
  *answers = list;
  *count = n;
  return 0;
}

void client_timeout_explain(tally_t *t, uint32_t slot, int peer) {
  if (slot >= TALLY_SLOT_COUNT || t->map_env == NULL) return;
  const Tally__ClusterMap *map = t->map_env->map;
  char base[sizeof t->last_error];
  snprintf(base, sizeof base, "%s", t->last_error);
  uint32_t id = 0;
  peer_name(t, (size_t)peer, &id);
  if (t->slot_peer[slot] != peer || t->slot_down_owner[slot] != 0) {
    client_error(t, TALLY_E_TIMEOUT, "%s; slot %u has changed hands since (map epoch %llu): retry", base,
                 slot, (unsigned long long)t->epoch);
    return;
  }
  const Tally__SlotReplicas *r = map->replicas > 1 && slot < map->n_slots ? map->slots[slot] : NULL;
  char why[256];
  if (r != NULL && r->n_in_sync > 0)
    snprintf(why, sizeof why,
             "if it died, the coordinator promotes the slot's in-sync follower (worker %u) once it "
             "has missed its heartbeats for the heartbeat timeout (2 s by default), and this handle "
             "follows the new map",
             r->in_sync[0]);
  else if (map->replicas > 1)
    snprintf(why, sizeof why, "no in-sync follower could take the slot over: it waits for that worker");
  else
    snprintf(why, sizeof why, "one copy per slot: the slot is served again when that worker is");
  client_error(t, TALLY_E_TIMEOUT, "%s, and the map (epoch %llu) still lists worker %u UP as the owner of slot %u (%s): retry",
               base, (unsigned long long)t->epoch, id, slot, why);
}

int client_call_slot(tally_t *t, uint32_t slot, Tally__Envelope *req,
                     Tally__Envelope__BodyCase expect, int timeout_ms, Tally__Envelope **reply) {
  retry_policy_t retry;
  retry_policy_start(&retry, RETRY_FOR_SLOT);
  if (timeout_ms <= 0) timeout_ms = t->timeout_ms;
  *reply = NULL;
  if (slot >= TALLY_SLOT_COUNT) return client_error(t, TALLY_E_INVALID_ARGUMENT, "slot %u out of range", slot);
  for (;;) {
    int rc = client_ensure_map(t);
    if (rc < 0) return rc;
    int peer = t->slot_peer[slot];
    Tally__Envelope *moved = NULL;
    dealer_t *dealer = NULL;
    int routable = (rc = client_slot_check(t, slot)) == 0;
    uint64_t serial = t->map_serial;
    client_watch_t watch = {slot, (size_t)peer, 0};
    if (routable && (rc = client_peer_dealer(t, (size_t)peer, &dealer)) == 0)
      rc = client_roundtrip_watch(t, dealer, req, expect, timeout_ms, reply, &moved, &watch);
    if (rc == 0) return 0;
    /* The map that came while it waited already routes the slot anew. */
    int rerouted = t->map_serial != serial && (rc == TALLY_E_MOVED || rc == TALLY_E_UNAVAILABLE) && moved == NULL;
    /* MOVED names the new owner: the coordinator may not know it yet. */
    char hint[256] = "";
    if (moved && moved->error->owner_endpoint) snprintf(hint, sizeof hint, "%s", moved->error->owner_endpoint);
    wire_envelope_free(&moved);
    retry_step_t step = retry_policy_next(&retry, rc);
    if (step.reset_connection && routable) client_peer_reset(t, (size_t)peer);
    if (!step.again) {
      if (rc == TALLY_E_TIMEOUT && routable) client_timeout_explain(t, slot, peer);
      return rc;
    }
    client_sleep_ms(step.backoff_ms);
    if (step.refresh_map && !(rerouted && step.reason == RETRY_REASON_MOVED)) {
      char saved[sizeof t->last_error];
      memcpy(saved, t->last_error, sizeof saved);
      if (client_refresh_map(t) < 0 && step.reason == RETRY_REASON_TIMEOUT) {
        /* Neither the worker nor the coordinator answers: say so now. */
        memcpy(t->last_error, saved, sizeof saved);
        t->last_code = TALLY_E_TIMEOUT;
        return TALLY_E_TIMEOUT;
      }
    }
    if (step.reason == RETRY_REASON_MOVED && (t->slot_peer[slot] == peer || t->slot_peer[slot] < 0))
      client_route_override(t, slot, hint);
  }
}
