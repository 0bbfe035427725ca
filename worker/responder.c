/* responder: the worker's side of responder.h. */
#include "responder.h"

#include <stdarg.h>
#include <stdio.h>

#include "tally_error.h"
#include "worker_internal.h"

responder_t *worker_responder(worker_t *w, const router_request_t *req) {
  w->responder.w = w;
  w->responder.req = req;
  return &w->responder;
}

const router_request_t *responder_request(const responder_t *r) { return r->req; }

uint32_t responder_worker_id(const responder_t *r) { return r->w->counters.worker_id; }

void responder_reply(responder_t *r, const Tally__Envelope *env) {
  worker_reply(r->w, r->req->peer, r->req->peer_len, env);
}

void responder_reply_scan(responder_t *r, const Tally__Envelope *env, int scan_rc) {
  worker_reply_scan(r->w, r->req, env, scan_rc);
}

void responder_error(responder_t *r, int code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  worker_reply_error(r->w, r->req->peer, r->req->peer_len, r->req->env->request_id, code, "%s",
                     message);
}

const Tally__Project *responder_project(responder_t *r, const config_cache_t *config,
                                        const char *name) {
  const Tally__Project *p = config_cache_project(config, name);
  if (p != NULL) return p;
  worker_await_refresh(r->w, REFRESH_CONFIG); /* may wait: the reply is then dropped */
  responder_error(r, TALLY_E_UNKNOWN_PROJECT, "unknown project '%.64s'", name);
  return NULL;
}

const Tally__Labeler *responder_labeler(responder_t *r, const config_cache_t *config,
                                        const char *id) {
  const Tally__Labeler *l = config_cache_labeler(config, id);
  if (l != NULL) return l;
  worker_await_refresh(r->w, REFRESH_CONFIG); /* may wait: the reply is then dropped */
  responder_error(r, TALLY_E_UNKNOWN_LABELER, "unknown labeler '%.64s'", id);
  return NULL;
}

int responder_slot_check(responder_t *r, uint32_t slot) {
  return labeling_slot_check(r->w, r->req, slot);
}
