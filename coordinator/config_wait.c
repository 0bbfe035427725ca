/* config_wait: replies held until the workers run a configuration. See
 * config_wait.h. */
#include "config_wait.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "tally_error.h"
#include "wire.h"

typedef struct held {
  struct held *next;
  uint8_t peer[256];
  size_t peer_len;
  uint8_t *data; /* encoded envelope, owned */
  size_t len;
  uint64_t version;
  uint64_t deadline_ms; /* monotonic */
} held_t;

struct config_wait {
  uv_timer_t timer;
  uint64_t deadline_ms;
  config_wait_reached_fn reached;
  config_wait_send_fn send;
  void *user;
  held_t *first;
  size_t count;
};

/* Sends held replies whose version is reached or whose deadline passed
 * (`all`: every one). */
static void flush(config_wait_t *w, int all) {
  uint64_t now = clock_monotonic_ms();
  held_t **link = &w->first;
  while (*link != NULL) {
    held_t *h = *link;
    int reached = w->reached(w->user, h->version);
    if (!all && !reached && now < h->deadline_ms) {
      link = &h->next;
      continue;
    }
    if (!reached)
      log_warn("configuration version %llu not confirmed by every UP worker within %llu ms; "
               "answering anyway",
               (unsigned long long)h->version, (unsigned long long)w->deadline_ms);
    w->send(w->user, h->peer, h->peer_len, h->data, h->len);
    *link = h->next;
    free(h->data);
    free(h);
    w->count--;
  }
  if (w->count == 0 && !uv_is_closing((uv_handle_t *)&w->timer)) uv_timer_stop(&w->timer);
}

static void on_tick(uv_timer_t *timer) { flush(timer->data, 0); }

int config_wait_new(config_wait_t **out, uv_loop_t *loop, uint64_t deadline_ms,
                    config_wait_reached_fn reached, config_wait_send_fn send, void *user) {
  config_wait_t *w = calloc(1, sizeof *w);
  *out = w;
  if (w == NULL) return TALLY_E_NOMEM;
  w->deadline_ms = deadline_ms;
  w->reached = reached;
  w->send = send;
  w->user = user;
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  return 0;
}

static void on_closed(uv_handle_t *handle) { free(handle->data); }

void config_wait_destroy(config_wait_t **wait) {
  if (wait == NULL || *wait == NULL) return;
  config_wait_t *w = *wait;
  *wait = NULL;
  flush(w, 1);
  uv_close((uv_handle_t *)&w->timer, on_closed);
}

int config_wait_add(config_wait_t *w, const uint8_t *peer, size_t peer_len,
                    const Tally__Envelope *reply, uint64_t version) {
  if (peer_len > sizeof ((held_t *)0)->peer) return TALLY_E_INVALID_ARGUMENT;
  held_t *h = calloc(1, sizeof *h);
  if (h == NULL) return TALLY_E_NOMEM;
  int rc = wire_encode(reply, &h->data, &h->len);
  if (rc < 0) {
    free(h);
    return rc;
  }
  memcpy(h->peer, peer, peer_len);
  h->peer_len = peer_len;
  h->version = version;
  h->deadline_ms = clock_monotonic_ms() + w->deadline_ms;
  h->next = w->first;
  w->first = h;
  w->count++;
  if (w->reached(w->user, version)) {
    flush(w, 0);
    return 0;
  }
  if (!uv_is_active((uv_handle_t *)&w->timer))
    uv_timer_start(&w->timer, on_tick, CONFIG_WAIT_TICK_MS, CONFIG_WAIT_TICK_MS);
  return 0;
}

size_t config_wait_pending(const config_wait_t *w) { return w->count; }
