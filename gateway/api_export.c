/* api_export: GET /api/v1/export?project=P, every closed audit of P as
 * JSON Lines, streamed: a thread-pool thread runs the blocking
 * tally_export_judgments (page by page from each worker) and hands lines
 * to the loop, which writes them as the client reads. The producer waits
 * while EXPORT_BUFFER bytes are unsent, so a slow client holds one pool
 * thread but no more memory than that. An export that fails part-way ends
 * with a last line {"error": {...}}; one that fails before any line is an
 * ordinary JSON error reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gateway.h"

#define EXPORT_BUFFER (256u << 10)

typedef struct {
  h2o_generator_t generator; /* first: h2o hands it back */
  gw_call_t *call;
  uv_async_t wake;
  uv_mutex_t mutex;
  uv_cond_t cond;
  char project[256];
  /* under mutex */
  char *pending;
  size_t pending_len, pending_cap;
  int stopped;       /* the client went away */
  /* loop thread */
  char *sending;     /* in h2o's hands until proceed */
  int sending_active;
  int started, finished, producer_done;
  int rc;
  char error[512];
} export_stream_t;

static void stream_flush(export_stream_t *s);

static void stream_closed(uv_handle_t *h) {
  export_stream_t *s = h->data;
  free(s->pending);
  free(s->sending);
  uv_cond_destroy(&s->cond);
  uv_mutex_destroy(&s->mutex);
  free(s);
}

/* Loop: both sides are done; free everything. */
static void stream_end(export_stream_t *s) {
  gw_call_t *c = s->call;
  s->call = NULL;
  if (c != NULL) {
    c->req = NULL; /* the response is complete (or abandoned) */
    call_reply_json(c, 200, NULL);
  }
  uv_close((uv_handle_t *)&s->wake, stream_closed);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req) {
  (void)req;
  export_stream_t *s = (export_stream_t *)g;
  s->sending_active = 0;
  free(s->sending);
  s->sending = NULL;
  stream_flush(s);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req) {
  (void)req;
  export_stream_t *s = (export_stream_t *)g;
  uv_mutex_lock(&s->mutex);
  s->stopped = 1;
  uv_cond_signal(&s->cond);
  uv_mutex_unlock(&s->mutex);
  s->sending_active = 0;
  s->finished = 1;
  if (s->call) s->call->req = NULL;
  if (s->producer_done) stream_end(s);
}

static void start_response(export_stream_t *s) {
  h2o_req_t *req = s->call->req;
  req->res.status = 200;
  req->res.reason = "OK";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/x-ndjson"));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
  h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                        H2O_STRLIT("nosniff"));
  s->generator.proceed = on_proceed;
  s->generator.stop = on_stop;
  h2o_start_response(req, &s->generator);
  s->started = 1;
  s->call->answered = 200;
}

static void stream_flush(export_stream_t *s) {
  if (s->finished) {
    if (s->producer_done) stream_end(s);
    return;
  }
  if (s->call == NULL || s->call->req == NULL) { /* gone without a stop */
    uv_mutex_lock(&s->mutex);
    s->stopped = 1;
    uv_cond_signal(&s->cond);
    uv_mutex_unlock(&s->mutex);
    s->finished = 1;
    if (s->producer_done) stream_end(s);
    return;
  }
  if (s->sending_active) return;
  uv_mutex_lock(&s->mutex);
  char *chunk = s->pending;
  size_t len = s->pending_len;
  if (len > 0) {
    s->pending = NULL;
    s->pending_len = s->pending_cap = 0;
    uv_cond_signal(&s->cond);
  }
  uv_mutex_unlock(&s->mutex);
  if (len == 0 && !s->producer_done) return;
  if (len == 0 && !s->started && s->rc < 0) { /* failed before any line: a plain error */
    gw_call_t *c = s->call;
    s->call = NULL;
    s->finished = 1;
    call_reply_tally_error(c, s->rc, s->error);
    uv_close((uv_handle_t *)&s->wake, stream_closed);
    return;
  }
  if (!s->started) start_response(s);
  if (len > 0) {
    s->sending = chunk;
    s->sending_active = 1;
    h2o_iovec_t buf = h2o_iovec_init(chunk, len);
    h2o_send(s->call->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
    return;
  }
  /* producer done, nothing pending: the end */
  h2o_iovec_t tail = h2o_iovec_init(NULL, 0);
  if (s->rc < 0) {
    const char *code;
    call_status_of(s->rc, &code);
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", s->error);
    char *line = gateway_json_text(e);
    json_decref(e);
    if (line) {
      size_t n = strlen(line);
      tail.base = h2o_mem_alloc_pool(&s->call->req->pool, n + 1);
      memcpy(tail.base, line, n);
      tail.base[n] = '\n';
      tail.len = n + 1;
      free(line);
    }
  }
  s->finished = 1;
  h2o_send(s->call->req, &tail, tail.len ? 1 : 0, H2O_SEND_STATE_FINAL);
  stream_end(s);
}

static void on_wake(uv_async_t *a) { stream_flush(a->data); }

static json_t *stored_label_json(const tally_stored_label_t *l) {
  return json_pack("{s:s,s:s,s:I,s:i}", "labeler", l->labeler, "label", l->label, "at_ms", (json_int_t)l->at_ms,
                   "handling_ms", (int)l->handling_ms);
}

/* Producer (pool thread): one judgment, one line. */
static int on_judgment(void *arg, const tally_judgment_t *j) {
  export_stream_t *s = arg;
  json_t *labels = json_array();
  for (size_t i = 0; i < j->label_count; i++) json_array_append_new(labels, stored_label_json(&j->labels[i]));
  json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:I,s:s}", "project", j->project, "item_id",
                        j->item_id, "market", j->market, "labels", labels, "audit", stored_label_json(&j->audit),
                        "final_label", j->final_label, "attribution", tally_attribution_name(j->attribution),
                        "adjudicator", j->adjudicator, "note", j->note, "closed_ms", (json_int_t)j->closed_ms,
                        "content", j->content);
  char *line = gateway_json_text(o);
  json_decref(o);
  if (line == NULL) return TALLY_E_NOMEM;
  size_t n = strlen(line);
  uv_mutex_lock(&s->mutex);
  while (!s->stopped && s->pending_len >= EXPORT_BUFFER) uv_cond_wait(&s->cond, &s->mutex);
  int stopped = s->stopped;
  if (!stopped && s->pending_len + n + 1 > s->pending_cap) {
    size_t cap = (s->pending_len + n + 1) * 2;
    char *grown = realloc(s->pending, cap);
    if (grown == NULL) stopped = 1;
    else s->pending = grown, s->pending_cap = cap;
  }
  if (!stopped) {
    memcpy(s->pending + s->pending_len, line, n);
    s->pending[s->pending_len + n] = '\n';
    s->pending_len += n + 1;
  }
  int wake = s->pending_len >= EXPORT_BUFFER / 4;
  uv_mutex_unlock(&s->mutex);
  free(line);
  if (wake) uv_async_send(&s->wake);
  return stopped ? 1 : 0;
}

static void export_work(gw_call_t *c, tally_t *t) {
  export_stream_t *s = c->extra;
  tally_export_summary_t summary;
  int rc = tally_export_judgments(t, s->project, 0, on_judgment, s, &summary);
  if (rc < 0) {
    s->rc = rc;
    snprintf(s->error, sizeof s->error, "%s", tally_last_error(t));
  }
}

static void export_done(gw_call_t *c) {
  export_stream_t *s = c->extra;
  c->extra = NULL; /* the stream owns itself from here */
  s->producer_done = 1;
  stream_flush(s);
}

void api_export(gw_call_t *c) {
  export_stream_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    call_reply_error(c, 500, "INTERNAL", "out of memory");
    return;
  }
  if (call_query(c, "project", s->project, sizeof s->project) != 1 || s->project[0] == '\0') {
    free(s);
    call_reply_error(c, 400, "BAD_REQUEST", "which project? (?project=...)");
    return;
  }
  s->call = c;
  uv_mutex_init(&s->mutex);
  uv_cond_init(&s->cond);
  uv_async_init(c->gw->loop, &s->wake, on_wake);
  s->wake.data = s;
  c->extra = s;
  c->after = export_done;
  call_run_blocking(c, export_work, 1);
}
