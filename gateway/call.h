/* call: one HTTP API request in progress at the gateway, from h2o's
 * handler to the reply, whether the answer comes at once, from the
 * asynchronous cluster link (on the loop), or from a blocking libtally call
 * in the thread pool (call_run_blocking).
 *
 * A call outlives its request when the client goes away first (a long-poll
 * abandoned, a closed tab): h2o then frees the request's memory pool, whose
 * guard sets call->req to NULL, and the reply is dropped. Whoever finishes
 * the call (call_reply_* do) frees it; nothing may touch it after.
 */
#ifndef TALLY_GATEWAY_CALL_H
#define TALLY_GATEWAY_CALL_H

#include <h2o.h>
#include <jansson.h>
#include <stdint.h>

#include "session.h"
#include "tally.h"

typedef struct gateway gateway_t;
typedef struct gw_call gw_call_t;
typedef struct call_guard call_guard_t;

/* Who the call is for: the signed-in person. */
typedef struct {
  char person[SESSION_PERSON_MAX];
  uint32_t roles;
  char language[8];
  char markets[SESSION_MARKETS_MAX]; /* '\t'-joined */
  int via_token;                     /* API token (no cookie, no CSRF) */
} principal_t;

typedef void (*call_work_fn)(gw_call_t *c, tally_t *t);

struct gw_call {
  gateway_t *gw;
  h2o_req_t *req; /* NULL once the client went away */
  call_guard_t *guard;
  principal_t who;
  int signed_in;
  char cookie[SESSION_COOKIE_MAX]; /* the session cookie's value ("" with a token) */
  char session_nonce[40];          /* its nonce: what the CSRF token is bound to */
  char address[64];                /* the client's address */
  int is_write;                    /* POST, PUT, DELETE */
  json_t *body;                    /* the request's JSON object, NULL without one */
  char *query;                     /* the query string (after '?'), malloc'ed, "" none */
  char *tail;                      /* the path after a route's prefix, malloc'ed */
  const struct route *route;
  uint64_t started_ns;             /* uv_hrtime() at arrival, for metrics */
  int answered; /* the status a handler sent itself (healthz, a streamed export), then
                 * setting req NULL before call_reply_json; for metrics */
  char bearer[128];                /* an API token being looked up */
  /* blocking work (call_run_blocking) */
  uv_work_t work;
  call_work_fn work_fn;
  int act_for; /* the blocking handle acts for who.person */
  /* the answer */
  int status;
  json_t *result;
  char error_code[32];
  char error_message[512];
  char *set_cookie; /* Set-Cookie header value to send, malloc'ed */
  void *extra;      /* a handler's own state (freed with free() unless NULL'ed) */
  void (*after)(gw_call_t *c); /* on the loop after the work, instead of the plain reply */
};

/* Replies `status` with the JSON `body` (stolen; NULL: no body), then
 * frees the call. */
void call_reply_json(gw_call_t *c, int status, json_t *body);

/* Replies an error {"error":{"code","message"}} and frees the call. */
void call_reply_error(gw_call_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Replies with the HTTP status and code for libtally error `rc` and the
 * message `message` (the cluster's words), and frees the call. */
void call_reply_tally_error(gw_call_t *c, int rc, const char *message);

/* Sets c->status/error_* from a libtally error (in the pool thread). */
void call_set_tally_error(gw_call_t *c, int rc, const char *message);

/* Sets c->status/error_* (in the pool thread). */
void call_set_error(gw_call_t *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Runs fn(c, t) in the thread pool on a blocking handle (acting for the
 * signed-in person when act_for), then on the loop c->after(c) if set, or
 * replies c->status with c->result (or the error set). Returns 0, or
 * replies 503 itself when the work cannot be queued. */
void call_run_blocking(gw_call_t *c, call_work_fn fn, int act_for);

/* The value of query parameter `name`, percent-decoded into buf. Returns 1
 * found, 0 absent, -1 too long or malformed. */
int call_query(const gw_call_t *c, const char *name, char *buf, size_t size);

/* The string member `name` of the request body (NULL when absent or not
 * a string). */
const char *call_body_string(const gw_call_t *c, const char *name);

/* True when the person holds one of `roles` (TALLY_ROLE_* bits). */
int call_has_role(const gw_call_t *c, uint32_t roles);

/* The gateway's HTTP status and error code for a libtally error. */
int call_status_of(int rc, const char **code);

/* JSON array of the role names in `roles`. */
json_t *call_roles_json(uint32_t roles);

#endif
