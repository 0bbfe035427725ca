/* cluster_link: see cluster_link.h. */
#include "cluster_link.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define LINK_SCAN_MS 20   /* deadlines and re-sends of tally_async_poll */
#define LINK_MAX_FDS 64   /* workers watched (one DEALER each) */
#define LINK_POLL_BATCH 64
/* A lease first asks LINK_QUICK_TRIES workers (along the hints' order)
 * without waiting, then long-polls in turns of at most LINK_POLL_TURN_MS,
 * each on the next worker, so work that arrives anywhere is found. */
#define LINK_QUICK_TRIES 3
#define LINK_POLL_TURN_MS 1000
#define LINK_RELEASE_TAG ((void *)&link_release_tag)

static const char link_release_tag = 0;

/* One asynchronous request: whom to tell, and for a lease its walk. */
typedef struct link_op {
  cluster_link_t *link;
  cluster_done_fn fn;
  cluster_wanted_fn wanted;
  void *arg;
  /* leases: re-issued (to the next worker of the order) until a task
   * comes or the wait is over */
  char person[80];
  char project[128];
  tally_stage_t stage;
  uint64_t deadline_ms; /* monotonic */
  int tries;
  struct link_op *prev, *next; /* the link's ops in flight (freed at destroy) */
} link_op_t;

struct cluster_link {
  uv_loop_t *loop;
  tally_t *async_handle;
  tally_async_t *async;
  uv_poll_t polls[LINK_MAX_FDS];
  int poll_count;
  uv_timer_t scan;  /* every LINK_SCAN_MS while in flight */
  uv_timer_t kick;  /* 0 ms after a send: a send may take the fd's wake-up */
  int closed;
  int closing; /* uv handles still closing; the last frees the link */
  /* blocking pool */
  uv_mutex_t mutex;
  uv_cond_t cond;
  tally_t **pool;
  int pool_size, pool_free;
  char last_error[256];
  cluster_observe_fn observe;
  void *observe_user;
  link_op_t *ops; /* in flight: answered, or freed unanswered at destroy */
};

static void link_drain(cluster_link_t *link);

/* Unlinks and frees an op (answered, or never sent). */
static void op_free(link_op_t *op) {
  cluster_link_t *link = op->link;
  if (op->prev) op->prev->next = op->next;
  else link->ops = op->next;
  if (op->next) op->next->prev = op->prev;
  free(op);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  link_drain(p->data);
}

static void on_timer(uv_timer_t *t) { link_drain(t->data); }

/* Watches the sockets libtally opened since the last look. */
static void link_watch_fds(cluster_link_t *link) {
  int fds[LINK_MAX_FDS];
  int n = tally_async_fds(link->async, fds, LINK_MAX_FDS);
  if (n > LINK_MAX_FDS) n = LINK_MAX_FDS; /* the scan timer still serves the others */
  for (int i = link->poll_count; i < n; i++) {
    if (uv_poll_init_socket(link->loop, &link->polls[i], fds[i]) != 0) break;
    link->polls[i].data = link;
    uv_poll_start(&link->polls[i], UV_READABLE, on_poll);
    link->poll_count = i + 1;
  }
}

/* After a send: watch new sockets, read soon, keep the scan running. */
static void link_after_send(cluster_link_t *link) {
  link_watch_fds(link);
  uv_timer_start(&link->kick, on_timer, 0, 0);
  if (!uv_is_active((uv_handle_t *)&link->scan))
    uv_timer_start(&link->scan, on_timer, LINK_SCAN_MS, LINK_SCAN_MS);
}

static int link_fail(cluster_link_t *link, int rc) {
  snprintf(link->last_error, sizeof link->last_error, "%s", tally_last_error(link->async_handle));
  return rc;
}

static int lease_issue(link_op_t *op) {
  cluster_link_t *link = op->link;
  uint64_t now = clock_monotonic_ms();
  int wait = op->deadline_ms > now ? (int)(op->deadline_ms - now) : 0;
  if (op->tries++ < LINK_QUICK_TRIES) wait = 0;
  else if (wait > LINK_POLL_TURN_MS) wait = LINK_POLL_TURN_MS;
  int rc = tally_async_lease(link->async, op->person, op->project, op->stage, wait, op);
  if (rc == 0) link_after_send(link);
  return rc;
}

static void link_complete(cluster_link_t *link, const tally_completion_t *c) {
  if (link->observe != NULL) link->observe(link->observe_user, c->op, c->status);
  if (c->tag == LINK_RELEASE_TAG) return; /* a release of an abandoned lease */
  link_op_t *op = c->tag;
  if (c->op == TALLY_OP_LEASE && c->status == 0 && !c->has_task &&
      (op->tries <= LINK_QUICK_TRIES || clock_monotonic_ms() + 20 < op->deadline_ms) &&
      (op->wanted == NULL || op->wanted(op->arg)) && lease_issue(op) == 0)
    return; /* nothing at that worker: the next one, for the rest of the wait */
  op->fn(op->arg, c);
  op_free(op);
}

static void link_drain(cluster_link_t *link) {
  if (link->closed) return;
  tally_completion_t done[LINK_POLL_BATCH];
  for (;;) {
    int n = tally_async_poll(link->async, 0, done, LINK_POLL_BATCH);
    if (n < 0) {
      log_error("gateway: polling the cluster failed: %s", tally_last_error(link->async_handle));
      break;
    }
    for (int i = 0; i < n; i++) link_complete(link, &done[i]);
    if (n < LINK_POLL_BATCH) break;
  }
  link_watch_fds(link);
  if (tally_async_in_flight(link->async) == 0) uv_timer_stop(&link->scan);
}

static int link_open(const cluster_link_options_t *o, tally_t **out) {
  if (o->key_file == NULL) return tally_open_with(out, o->coordinator, o->timeout_ms, NULL);
  tally_credentials_t cred;
  int rc = tally_credentials_load(&cred, o->key_file, o->coordinator_key);
  if (rc < 0) {
    log_error("gateway: cannot read the key %s or the coordinator key: %s", o->key_file,
              tally_strerror(rc));
    return rc;
  }
  return tally_open_with(out, o->coordinator, o->timeout_ms, &cred);
}

int cluster_link_new(cluster_link_t **out, uv_loop_t *loop, const cluster_link_options_t *o) {
  *out = NULL;
  cluster_link_t *link = calloc(1, sizeof *link);
  if (link == NULL) return TALLY_E_NOMEM;
  link->loop = loop;
  link->pool_size = o->pool_size > 0 ? o->pool_size : 1;
  link->pool = calloc((size_t)link->pool_size, sizeof *link->pool);
  uv_mutex_init(&link->mutex);
  uv_cond_init(&link->cond);
  uv_timer_init(loop, &link->scan);
  uv_timer_init(loop, &link->kick);
  link->scan.data = link->kick.data = link;
  int rc = link->pool ? link_open(o, &link->async_handle) : TALLY_E_NOMEM;
  if (rc == 0) rc = tally_async_new(&link->async, link->async_handle);
  if (rc < 0 && link->async_handle)
    log_error("gateway: cannot reach the cluster at %s: %s", o->coordinator,
              tally_last_error(link->async_handle));
  if (rc == 0) tally_async_act_for_labeler(link->async, 1);
  for (int i = 0; rc == 0 && i < link->pool_size; i++) {
    rc = tally_open_sibling(&link->pool[i], link->async_handle);
    if (rc == 0) link->pool_free++;
  }
  if (rc < 0) {
    cluster_link_destroy(&link);
    return rc;
  }
  *out = link;
  return 0;
}

static void on_closed(uv_handle_t *h) {
  cluster_link_t *link = h->data;
  if (--link->closing == 0) free(link);
}

void cluster_link_destroy(cluster_link_t **lp) {
  if (lp == NULL || *lp == NULL) return;
  cluster_link_t *link = *lp;
  *lp = NULL;
  link->closed = 1;
  /* Stop watching the sockets before libtally closes them. */
  link->closing = link->poll_count + 2;
  for (int i = 0; i < link->poll_count; i++) uv_close((uv_handle_t *)&link->polls[i], on_closed);
  uv_close((uv_handle_t *)&link->scan, on_closed);
  uv_close((uv_handle_t *)&link->kick, on_closed);
  tally_async_destroy(&link->async);
  /* Ops still in flight are never answered: the gateway is stopping. */
  while (link->ops) op_free(link->ops);
  if (link->pool)
    for (int i = 0; i < link->pool_size; i++) tally_close(&link->pool[i]);
  tally_close(&link->async_handle);
  free(link->pool);
  link->pool = NULL;
  uv_cond_destroy(&link->cond);
  uv_mutex_destroy(&link->mutex);
  /* `link` itself is freed by the last close callback (run the loop). */
}

tally_t *cluster_link_take(cluster_link_t *link) {
  uv_mutex_lock(&link->mutex);
  while (link->pool_free == 0) uv_cond_wait(&link->cond, &link->mutex);
  tally_t *t = link->pool[--link->pool_free];
  link->pool[link->pool_free] = NULL;
  uv_mutex_unlock(&link->mutex);
  return t;
}

void cluster_link_put(cluster_link_t *link, tally_t *t) {
  tally_act_for(t, NULL);
  uv_mutex_lock(&link->mutex);
  link->pool[link->pool_free++] = t;
  uv_cond_signal(&link->cond);
  uv_mutex_unlock(&link->mutex);
}

static link_op_t *op_new(cluster_link_t *link, const char *person, cluster_done_fn fn, void *arg) {
  link_op_t *op = calloc(1, sizeof *op);
  if (op == NULL) return NULL;
  op->link = link;
  op->fn = fn;
  op->arg = arg;
  snprintf(op->person, sizeof op->person, "%s", person);
  op->next = link->ops;
  if (link->ops) link->ops->prev = op;
  link->ops = op;
  return op;
}

int cluster_link_lease(cluster_link_t *link, const char *person, const char *project,
                       tally_stage_t stage, int wait_ms, cluster_wanted_fn wanted, cluster_done_fn fn,
                       void *arg) {
  link_op_t *op = op_new(link, person, fn, arg);
  if (op == NULL) return TALLY_E_NOMEM;
  op->wanted = wanted;
  snprintf(op->project, sizeof op->project, "%s", project ? project : "");
  op->stage = stage;
  op->deadline_ms = clock_monotonic_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
  int rc = lease_issue(op);
  if (rc < 0) {
    op_free(op);
    return link_fail(link, rc);
  }
  return 0;
}

static int parse_token(cluster_link_t *link, const char *token, uint32_t *slot, uint64_t *lease_id) {
  if (token == NULL || tally_lease_token_parse(token, slot, lease_id) < 0) {
    snprintf(link->last_error, sizeof link->last_error, "not a lease token");
    return TALLY_E_INVALID_ARGUMENT;
  }
  return 0;
}

int cluster_link_submit(cluster_link_t *link, const char *person, const char *token, const char *label,
                        int adjudication, tally_attribution_t attribution, const char *note,
                        uint32_t handling_ms, cluster_done_fn fn, void *arg) {
  uint32_t slot;
  uint64_t lease_id;
  int rc = parse_token(link, token, &slot, &lease_id);
  if (rc < 0) return rc;
  link_op_t *op = op_new(link, person, fn, arg);
  if (op == NULL) return TALLY_E_NOMEM;
  rc = adjudication ? tally_async_submit_adjudication(link->async, person, slot, lease_id, label,
                                                      attribution, note, handling_ms, op)
                    : tally_async_submit(link->async, person, slot, lease_id, label, handling_ms, op);
  if (rc < 0) {
    op_free(op);
    return link_fail(link, rc);
  }
  link_after_send(link);
  return 0;
}

static int give_back(cluster_link_t *link, const char *person, const char *token, int skip,
                     cluster_done_fn fn, void *arg) {
  uint32_t slot;
  uint64_t lease_id;
  int rc = parse_token(link, token, &slot, &lease_id);
  if (rc < 0) return rc;
  void *tag = LINK_RELEASE_TAG;
  link_op_t *op = NULL;
  if (fn != NULL) {
    if ((op = op_new(link, person, fn, arg)) == NULL) return TALLY_E_NOMEM;
    tag = op;
  }
  rc = skip ? tally_async_skip(link->async, person, slot, lease_id, tag)
            : tally_async_release(link->async, person, slot, lease_id, tag);
  if (rc < 0) {
    op_free(op);
    return link_fail(link, rc);
  }
  link_after_send(link);
  return 0;
}

int cluster_link_skip(cluster_link_t *link, const char *person, const char *token, cluster_done_fn fn,
                      void *arg) {
  return give_back(link, person, token, 1, fn, arg);
}

int cluster_link_release(cluster_link_t *link, const char *person, const char *token,
                         cluster_done_fn fn, void *arg) {
  return give_back(link, person, token, 0, fn, arg);
}

void cluster_link_observe(cluster_link_t *link, cluster_observe_fn fn, void *user) {
  link->observe = fn;
  link->observe_user = user;
}

size_t cluster_link_in_flight(const cluster_link_t *link) { return tally_async_in_flight(link->async); }

const char *cluster_link_last_error(const cluster_link_t *link) { return link->last_error; }
