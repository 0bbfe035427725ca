/* coordinator_link: the worker's side of membership. It registers with the
 * coordinator (retrying every second until answered), sends heartbeats with
 * its counters and backlog hints, applies the map and configuration that come
 * back, and caches both in storage so a restarted worker serves on the last
 * map it had while the coordinator is away. Nothing here blocks the loop:
 * the fetches of the configuration and map that requests wait for
 * (coordinator_link_fetch, refresh_wait.h) go out on the same DEALER and
 * their answers come back through the loop's poll of it.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "fatal.h"
#include "item_record.h"
#include "log.h"
#include "replication.h"
#include "slot_move.h"
#include "tally_error.h"
#include "wire.h"
#include "worker_internal.h"

#define LINK_REGISTER_RETRY_MS 1000
/* Replicated coordinators: after a NOT_LEADER that names no (other)
 * leader, the next coordinator of the list is tried this much later; one
 * that has not answered for LINK_SILENCE_MS (or 2 heartbeats, if longer)
 * is left for the next, so a worker finds a new leader well within the
 * coordinators' heartbeat timeout (default 3 s). Until it has, it answers
 * a request naming a project or labeler it does not know yet at once
 * (UNKNOWN_PROJECT), as when the coordinator is away. */
#define LINK_NEXT_PAUSE_MS 200
#define LINK_SILENCE_MS 600
/* A fetch not answered by then counts as failed: whoever waits for it is
 * answered with what the worker knows, and the next fetch may go out. */
#define LINK_FETCH_TIMEOUT_MS 300
static const char LINK_MAP_KEY[] = "map";
static const char LINK_CONFIG_KEY[] = "config";

static void link_persist(worker_t *w, const char *key, size_t key_len, const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) fatal_exit("out of memory");
  protobuf_c_message_pack(m, buf);
  store_put(w->store, STORE_CF_DEFAULT, key, key_len, buf, len);
  free(buf);
  w->batch_dirty = 1;
}

void coordinator_link_apply_map(worker_t *w, const Tally__ClusterMap *map) {
  if (w->map != NULL && map->epoch < w->map->epoch) return; /* a late, older map */
  size_t len = tally__cluster_map__get_packed_size(map);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) fatal_exit("out of memory");
  tally__cluster_map__pack(map, buf);
  Tally__ClusterMap *copy = tally__cluster_map__unpack(NULL, len, buf);
  free(buf);
  if (copy == NULL) return;
  if (w->map) tally__cluster_map__free_unpacked(w->map, NULL);
  w->map = copy;
  uint8_t was_owned[TALLY_SLOT_COUNT];
  memcpy(was_owned, w->owned, sizeof was_owned);
  uint32_t owned = 0, gained = 0, lost = 0;
  for (uint32_t s = 0; s < TALLY_SLOT_COUNT; s++) {
    w->owned[s] = s < copy->n_slot_owner && copy->slot_owner[s] == w->counters.worker_id &&
                  w->counters.worker_id != 0 && slot_move_frozen(w, s) == 0;
    owned += w->owned[s];
    gained += w->owned[s] && !was_owned[s];
    lost += !w->owned[s] && was_owned[s];
  }
  uint64_t started = clock_monotonic_ms();
  link_persist(w, LINK_MAP_KEY, sizeof LINK_MAP_KEY - 1, &copy->base);
  if (w->identity) identity_refresh(w->identity, config_cache_config(w->config), copy);
  if (w->slots_loaded) slot_move_on_map(w, was_owned);
  if (w->slots_loaded) replication_on_map(w);
  w->work_added = 1; /* newly owned slots may hold work for waiters */
  /* The slots gained and the time their loading took (a failover's
   * promoted worker: bench/failover-phases reads this line). */
  if (gained + lost > 0 || !w->slots_loaded)
    log_info("map epoch %llu: this worker serves %u slots (+%u, -%u; applied in %llu ms)",
             (unsigned long long)copy->epoch, owned, gained, lost,
             (unsigned long long)(clock_monotonic_ms() - started));
}

static void link_apply_config(worker_t *w, const Tally__ClusterConfig *config) {
  if (config->version == config_cache_version(w->config) && config_cache_config(w->config)) return;
  if (config_cache_copy(w->config, config) < 0) return;
  link_persist(w, LINK_CONFIG_KEY, sizeof LINK_CONFIG_KEY - 1,
               &config_cache_config(w->config)->base);
  if (w->identity) identity_refresh(w->identity, config_cache_config(w->config), w->map);
  log_info("configuration version %llu: %zu projects, %zu labelers",
           (unsigned long long)config->version, config->n_projects, config->n_labelers);
}

void coordinator_link_load_cached(worker_t *w) {
  char *value = NULL;
  size_t len = 0;
  if (store_get(w->store, STORE_CF_DEFAULT, LINK_CONFIG_KEY, sizeof LINK_CONFIG_KEY - 1, &value,
                &len) == 1) {
    config_cache_load(w->config, (uint8_t *)value, len);
    free(value);
  }
  if (store_get(w->store, STORE_CF_DEFAULT, LINK_MAP_KEY, sizeof LINK_MAP_KEY - 1, &value, &len) ==
      1) {
    Tally__ClusterMap *map = tally__cluster_map__unpack(NULL, len, (uint8_t *)value);
    free(value);
    if (map != NULL) {
      coordinator_link_apply_map(w, map);
      tally__cluster_map__free_unpacked(map, NULL);
    }
  }
}

static void link_send_register(worker_t *w, uint64_t now) {
  Tally__Envelope env;
  Tally__WorkerRegister reg = TALLY__WORKER_REGISTER__INIT;
  wire_envelope_init(&env, dealer_next_request_id(w->coordinator));
  reg.worker_id = w->counters.worker_id;
  reg.endpoint = w->endpoint;
  env.body_case = TALLY__ENVELOPE__BODY_WORKER_REGISTER;
  env.worker_register = &reg;
  /* Not sent (the connection to a coordinator just switched to is not up
   * yet): tried again at the next tick, not a retry period later, which
   * could be when link_check_leader gives up on this coordinator for its
   * silence and switches again, for ever. */
  if (dealer_try_send(w->coordinator, &env) == 0) w->last_register_ms = now;
}

static void link_send_heartbeat(worker_t *w, uint64_t now) {
  Tally__Envelope env;
  Tally__Heartbeat hb = TALLY__HEARTBEAT__INIT;
  wire_envelope_init(&env, dealer_next_request_id(w->coordinator));
  hb.worker_id = w->counters.worker_id;
  project_counters_t total;
  worker_project_total(w, &total);
  hb.live_leases = lease_table_count(w->leases);
  hb.items = total.items;
  hb.config_version = config_cache_version(w->config);
  hb.epoch = w->map ? w->map->epoch : 0;
  size_t nq = queue_index_count(w->queues);
  Tally__BacklogHint *hints = calloc(nq ? nq : 1, sizeof *hints);
  Tally__BacklogHint **ptrs = calloc(nq ? nq : 1, sizeof *ptrs);
  if (hints == NULL || ptrs == NULL) fatal_exit("out of memory");
  for (size_t i = 0; i < nq; i++) {
    queue_t *q = queue_index_at(w->queues, i);
    /* The gold pool is no backlog: nobody leases it directly. */
    if (item_record_stage_is_gold(queue_stage(q))) continue;
    hb.queued += queue_depth(q);
    if (queue_depth(q) == 0) continue;
    Tally__BacklogHint *h = &hints[hb.n_backlog];
    tally__backlog_hint__init(h);
    h->project_id = queue_project_id(q);
    h->market = (char *)queue_market(q);
    h->stage = queue_stage(q);
    h->depth = queue_depth(q);
    uint32_t slot;
    queue_position_t pos;
    if (queue_peek(q, &slot, &pos)) h->top_priority = pos.priority;
    ptrs[hb.n_backlog++] = h;
  }
  hb.backlog = ptrs;
  Tally__SlotMove *moving[16];
  hb.n_moving = slot_move_list(w, moving, sizeof moving / sizeof moving[0]);
  hb.moving = moving;
  hb.has_aggregates = slot_move_has_aggregates(w);
  hb.n_lags = replication_lags(w, &hb.lags);
  hb.store_full = w->no_space != 0; /* the coordinator moves no slot to it meanwhile */
  env.body_case = TALLY__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  dealer_try_send(w->coordinator, &env);
  free(hints);
  free(ptrs);
  w->last_heartbeat_ms = now;
}

/* Registered, and the coordinator answered within 3 heartbeats + 1 s:
 * fetches are worth sending, and worth waiting for. */
static int link_coordinator_alive(const worker_t *w, uint64_t now) {
  return w->coordinator != NULL && w->registered &&
         now - w->last_coordinator_reply_ms < 3u * w->heartbeat_ms + 1000u;
}

static void link_drain(worker_t *w);

static void link_on_kick(uv_timer_t *timer) {
  worker_t *w = timer->data;
  link_drain(w);
  if (!w->stopping && (w->batch_dirty || refresh_wait_has_ready(w->parked, clock_monotonic_ms())))
    worker_run_group(w);
}

/* Sends fetch number fetch[kind].sent + 1. 0 or a negative error (nothing
 * sent). */
static int link_send_fetch(worker_t *w, refresh_kind_t kind, uint64_t now) {
  if (!link_coordinator_alive(w, now)) return TALLY_E_UNAVAILABLE;
  Tally__Envelope request;
  Tally__ConfigRequest config = TALLY__CONFIG_REQUEST__INIT;
  Tally__MapRequest map = TALLY__MAP_REQUEST__INIT;
  uint64_t id = dealer_next_request_id(w->coordinator);
  wire_envelope_init(&request, id);
  if (kind == REFRESH_CONFIG) {
    request.body_case = TALLY__ENVELOPE__BODY_CONFIG_REQUEST;
    request.config_request = &config;
  } else {
    request.body_case = TALLY__ENVELOPE__BODY_MAP_REQUEST;
    request.map_request = &map;
  }
  int rc = dealer_try_send(w->coordinator, &request);
  if (rc < 0) return rc;
  link_fetch_t *f = &w->fetch[kind];
  f->sent++;
  f->request_id = id;
  f->sent_ms = now;
  /* A send may take the socket's edge-triggered wake-up for a reply that
   * came meanwhile: look again on the next loop turn, outside any request. */
  if (w->fetch_kick.loop != NULL) uv_timer_start(&w->fetch_kick, link_on_kick, 0, 0);
  return 0;
}

/* The fetch in flight of `kind` was answered, refused or timed out: those
 * waiting for it are ready, and the next one goes out if someone waits for
 * it. */
static void link_fetch_over(worker_t *w, refresh_kind_t kind, uint64_t now) {
  link_fetch_t *f = &w->fetch[kind];
  f->answered = f->sent;
  if (f->wanted > f->sent && link_send_fetch(w, kind, now) < 0) {
    f->sent = f->wanted; /* cannot be asked now: whoever waits for it goes on */
    f->answered = f->sent;
  }
  if (w->parked) refresh_wait_fetched(w->parked, kind, f->answered);
}

/* A reply with `request_id` came: when it answers a fetch in flight, that
 * fetch is over. */
static void link_fetch_reply(worker_t *w, uint64_t request_id, uint64_t now) {
  for (int kind = 0; kind < REFRESH_KINDS; kind++) {
    link_fetch_t *f = &w->fetch[kind];
    if (f->sent > f->answered && f->request_id == request_id) link_fetch_over(w, kind, now);
  }
}

/* Ends fetches that have waited LINK_FETCH_TIMEOUT_MS for their answer. */
static void link_fetch_timeouts(worker_t *w, uint64_t now) {
  for (int kind = 0; kind < REFRESH_KINDS; kind++) {
    link_fetch_t *f = &w->fetch[kind];
    if (f->sent > f->answered && now - f->sent_ms >= LINK_FETCH_TIMEOUT_MS)
      link_fetch_over(w, kind, now);
  }
}

uint64_t coordinator_link_fetch(worker_t *w, refresh_kind_t kind) {
  uint64_t now = clock_monotonic_ms();
  if (!link_coordinator_alive(w, now)) return 0;
  link_fetch_t *f = &w->fetch[kind];
  if (f->sent > f->answered) {
    /* One in flight, asked before this caller's question: the next one,
     * sent when it is over, answers this caller and everyone after. */
    f->wanted = f->sent + 1;
    return f->wanted;
  }
  if (link_send_fetch(w, kind, now) < 0) return 0;
  return f->sent;
}

/* Points the link at `endpoint` (NULL: the next of the list). Registration
 * state stays: the new leader knows this worker from the replicated store
 * and answers NOT_FOUND (then we register again) if not. */
static void link_switch(worker_t *w, const char *endpoint, uint64_t now) {
  if (endpoint == NULL || endpoint_list_use(&w->coordinators, endpoint) < 0)
    endpoint_list_next(&w->coordinators);
  const char *target = endpoint_list_current(&w->coordinators);
  if (dealer_reconnect(w->coordinator, target) < 0) log_warn("cannot connect to coordinator %s", target);
  w->coordinator_since_ms = now;
  w->coordinator_next_ms = 0;
  w->last_heartbeat_ms = 0; /* heartbeat (or register) at the next tick */
  w->last_register_ms = 0;
  log_info("talking to coordinator %s", target);
}

/* A NOT_LEADER reply: go to the leader it names, or to the next a moment later. */
static void link_not_leader(worker_t *w, const Tally__ErrorReply *error, uint64_t now) {
  const char *leader = error->leader_endpoint;
  if (leader != NULL && leader[0] != '\0' &&
      strcmp(leader, endpoint_list_current(&w->coordinators)) != 0) {
    link_switch(w, leader, now);
    return;
  }
  if (w->coordinator_next_ms == 0) w->coordinator_next_ms = now + LINK_NEXT_PAUSE_MS;
}

static void link_handle(worker_t *w, Tally__Envelope *env, uint64_t now) {
  if (env->body_case == TALLY__ENVELOPE__BODY_ERROR &&
      env->error->code == TALLY__ERROR_CODE__NOT_LEADER) {
    link_not_leader(w, env->error, now);
    link_fetch_reply(w, env->request_id, now);
    return;
  }
  w->last_coordinator_reply_ms = now;
  switch (env->body_case) {
    case TALLY__ENVELOPE__BODY_WORKER_REGISTER_REPLY: {
      Tally__WorkerRegisterReply *r = env->worker_register_reply;
      if (w->counters.worker_id != r->worker_id) {
        if (w->counters.worker_id != 0)
          log_warn("coordinator renamed this worker from %u to %u", w->counters.worker_id,
                   r->worker_id);
        w->counters.worker_id = r->worker_id;
      }
      if (r->config) link_apply_config(w, r->config);
      if (r->map) coordinator_link_apply_map(w, r->map);
      worker_commit_now(w); /* the id must be durable before any lease uses it */
      w->registered = 1;
      log_info("registered with the coordinator as worker %u", w->counters.worker_id);
      break;
    }
    case TALLY__ENVELOPE__BODY_HEARTBEAT_REPLY: {
      Tally__HeartbeatReply *r = env->heartbeat_reply;
      if (r->config) link_apply_config(w, r->config);
      if (r->map) coordinator_link_apply_map(w, r->map);
      for (size_t i = 0; i < r->n_abort_moves; i++) slot_move_abort(w, r->abort_moves[i]);
      for (size_t i = 0; i < r->n_moves; i++) slot_move_start(w, r->moves[i]);
      if (r->handoff) slot_move_handoff(w, r->handoff);
      break;
    }
    case TALLY__ENVELOPE__BODY_SLOT_MOVE_DONE_REPLY: {
      Tally__SlotMoveDoneReply *r = env->slot_move_done_reply;
      if (r->map) coordinator_link_apply_map(w, r->map);
      slot_move_on_done_reply(w, r);
      break;
    }
    case TALLY__ENVELOPE__BODY_CONFIG:
      link_apply_config(w, env->config);
      link_fetch_reply(w, env->request_id, now);
      break;
    case TALLY__ENVELOPE__BODY_MAP:
      if (w->map == NULL || env->map->epoch > w->map->epoch) coordinator_link_apply_map(w, env->map);
      link_fetch_reply(w, env->request_id, now);
      break;
    case TALLY__ENVELOPE__BODY_ERROR:
      log_warn("coordinator: %s (%s)", env->error->message,
               tally_error_name(tally_error_from_wire((int)env->error->code)));
      if (env->error->code == TALLY__ERROR_CODE__NOT_FOUND) w->registered = 0;
      link_fetch_reply(w, env->request_id, now);
      break;
    default:
      break;
  }
}

static void link_drain(worker_t *w) {
  Tally__Envelope *env = NULL;
  uint64_t now = clock_monotonic_ms();
  /* Maps that arrive together (answers to fetches and to isr_change, each a
   * new epoch while followers join) are applied once, the newest: each
   * application is persisted and walks every slot. */
  Tally__Envelope *newest = NULL;
  uint64_t answered[64];
  size_t n_answered = 0;
  for (;;) {
    int rc = dealer_recv(w->coordinator, 0, &env);
    if (rc == TALLY_E_BAD_REQUEST) continue;
    if (rc < 0) break;
    if (env->body_case == TALLY__ENVELOPE__BODY_MAP && n_answered < 64) {
      w->last_coordinator_reply_ms = now;
      answered[n_answered++] = env->request_id;
      if (newest == NULL || env->map->epoch > newest->map->epoch) {
        wire_envelope_free(&newest);
        newest = env;
        env = NULL;
      }
      wire_envelope_free(&env);
      continue;
    }
    link_handle(w, env, now);
    wire_envelope_free(&env);
  }
  if (newest != NULL) {
    link_handle(w, newest, now);
    wire_envelope_free(&newest);
    for (size_t i = 0; i < n_answered; i++) link_fetch_reply(w, answered[i], now);
  }
  link_fetch_timeouts(w, now);
}

static void link_on_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  worker_t *w = poll->data;
  link_drain(w);
  /* A new config or map was persisted, or requests may go on. */
  if (!w->stopping && (w->batch_dirty || refresh_wait_has_ready(w->parked, clock_monotonic_ms())))
    worker_run_group(w);
}

int coordinator_link_start(worker_t *w) {
  curve_client_t keys;
  const curve_client_t *curve = identity_client_to(w->identity, NULL, NULL, &keys);
  if (endpoint_list_parse(&w->coordinators, w->coordinator_endpoint) < 0) {
    log_error("--coordinator %s: not an endpoint or a comma-separated list of at most %d",
              w->coordinator_endpoint, ENDPOINT_LIST_MAX);
    return TALLY_E_INVALID_ARGUMENT;
  }
  w->coordinator_since_ms = clock_monotonic_ms();
  if (dealer_new(&w->coordinator, w->zmq_ctx, endpoint_list_current(&w->coordinators), curve) < 0) {
    log_error("cannot connect to coordinator %s", w->coordinator_endpoint);
    return TALLY_E_TRANSPORT;
  }
  int immediate = 1, hwm = 64;
  zmq_setsockopt(dealer_socket(w->coordinator), ZMQ_IMMEDIATE, &immediate, sizeof immediate);
  zmq_setsockopt(dealer_socket(w->coordinator), ZMQ_SNDHWM, &hwm, sizeof hwm);
  int fd;
  size_t fd_len = sizeof fd;
  zmq_getsockopt(dealer_socket(w->coordinator), ZMQ_FD, &fd, &fd_len);
  uv_poll_init(w->loop, &w->coordinator_poll, fd);
  w->coordinator_poll.data = w;
  uv_poll_start(&w->coordinator_poll, UV_READABLE, link_on_poll);
  uv_timer_init(w->loop, &w->fetch_kick);
  w->fetch_kick.data = w;
  link_send_register(w, clock_monotonic_ms());
  return 0;
}

void coordinator_link_stop(worker_t *w) {
  if (w->coordinator_poll.loop) uv_close((uv_handle_t *)&w->coordinator_poll, NULL);
  if (w->fetch_kick.loop) uv_close((uv_handle_t *)&w->fetch_kick, NULL);
}

/* Replicated coordinators: moves on when the one in use refused (no leader
 * named) or has been silent too long. */
static void link_check_leader(worker_t *w, uint64_t now) {
  if (w->coordinators.count < 2) return;
  if (w->coordinator_next_ms != 0 && now >= w->coordinator_next_ms) {
    link_switch(w, NULL, now);
    return;
  }
  uint64_t silence = 2u * w->heartbeat_ms > LINK_SILENCE_MS ? 2u * w->heartbeat_ms : LINK_SILENCE_MS;
  uint64_t heard = w->last_coordinator_reply_ms > w->coordinator_since_ms ? w->last_coordinator_reply_ms
                                                                          : w->coordinator_since_ms;
  if (now - heard > silence) link_switch(w, NULL, now);
}

void coordinator_link_tick(worker_t *w, uint64_t now) {
  link_drain(w);
  link_check_leader(w, now);
  if (!w->registered) {
    /* With replicated coordinators a retry comes well within the silence
     * after which the link moves on (link_check_leader). */
    uint64_t retry = w->coordinators.count < 2 ? LINK_REGISTER_RETRY_MS : LINK_SILENCE_MS / 2;
    if (now - w->last_register_ms >= retry) link_send_register(w, now);
  } else if (now - w->last_heartbeat_ms >= w->heartbeat_ms) {
    link_send_heartbeat(w, now);
  }
  slot_move_tick(w, now);
  replication_tick(w, now);
}
