/* responder: how a request handler outside the worker's core answers the
 * request in hand without seeing the worker.
 *
 * The worker's dispatcher (labeling_handle) hands handler objects (cases,
 * quality, ...) a responder for the request it is serving; through it a
 * handler reads the request and queues its reply, which the worker sends
 * once the group's batch is durable (worker.c). Valid for the one request:
 * a handler never keeps it.
 */
#ifndef TALLY_RESPONDER_H
#define TALLY_RESPONDER_H

#include <stdint.h>

#include "config_cache.h"
#include "router.h"
#include "tally.pb-c.h"

typedef struct responder responder_t;

/* The request being answered (borrowed). */
const router_request_t *responder_request(const responder_t *r);

/* This worker's id, for replies that carry it (0 before registration). */
uint32_t responder_worker_id(const responder_t *r);

/* Queues `env` (its request id already set) as the reply. */
void responder_reply(responder_t *r, const Tally__Envelope *env);

/* Queues `env`, or a STORAGE error when the scan behind it failed
 * (`scan_rc` < 0 from store_iter_error: what it read is incomplete). */
void responder_reply_scan(responder_t *r, const Tally__Envelope *env, int scan_rc);

/* Queues an error reply with `code`; `fmt` (printf) explains what was
 * wrong and is passed through ident_sanitize. */
void responder_error(responder_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The one lookup of a project named in a request: the project, or NULL
 * after replying UNKNOWN_PROJECT. A name the configuration does not know
 * may only be new: the request then waits for a newer configuration and is
 * handled again (worker_await_refresh, refresh_wait.h), and the reply is
 * dropped. The project is borrowed until the configuration changes (never
 * during the handler). */
const Tally__Project *responder_project(responder_t *r, const config_cache_t *config,
                                        const char *name);

/* The same for a labeler named in a request: NULL after replying
 * UNKNOWN_LABELER (or after setting the request to wait). */
const Tally__Labeler *responder_labeler(responder_t *r, const config_cache_t *config,
                                        const char *id);

/* 1 when this worker serves `slot`; else 0 after replying UNAVAILABLE or
 * MOVED (labeling_slot_check), or after setting the request to wait for a
 * newer map. */
int responder_slot_check(responder_t *r, uint32_t slot);

#endif
