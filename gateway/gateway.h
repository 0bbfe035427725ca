/* gateway: tally-gateway's HTTP server (h2o on a libuv loop): the route
 * table, sign-in checks on every call, the console's static files, and
 * the reply helpers of call.h.
 *
 * Threads: everything here runs on the loop thread, except the work
 * functions of call_run_blocking (libuv's thread pool), which only touch
 * their call and a blocking libtally handle.
 */
#ifndef TALLY_GATEWAY_GATEWAY_H
#define TALLY_GATEWAY_GATEWAY_H

#include <h2o.h>
#include <stdint.h>
#include <uv.h>

#include "call.h"
#include "cluster_link.h"
#include "gateway_metrics.h"
#include "login_limit.h"
#include "session.h"

#define GATEWAY_BODY_MAX (8u << 20)      /* request bodies (ingest batches) */
#define GATEWAY_TOKEN_CACHE_MS 30000     /* an API token is asked again after this */
#define GATEWAY_TOKEN_CACHE_MAX 10000

typedef enum { ROUTE_OPEN = 0, ROUTE_SIGNED_IN = 1 } route_auth_t;

/* One entry of the route table (api.c). */
typedef struct route {
  const char *method; /* "GET", "POST", "PUT", "DELETE" */
  const char *path;   /* exact, or a prefix when it ends with '/' (the rest is call->tail) */
  route_auth_t auth;
  uint32_t roles;     /* signed in: one of these TALLY_ROLE_* bits; 0 = any person */
  void (*handle)(gw_call_t *c);
} route_t;

typedef struct {
  const char *listen;       /* HOST:PORT */
  const char *console_dir;  /* the console's files */
  const char *tls_cert;     /* PEM files: HTTPS when both are set */
  const char *tls_key;
  uint32_t session_hours;   /* cookie lifetime */
  uint32_t login_failures;  /* per person and per address, in login_window_s */
  uint32_t login_window_s;
  cluster_link_options_t cluster;
  const char *metrics_listen; /* HOST:PORT for Prometheus metrics; NULL: none */
} gateway_options_t;

typedef struct token_entry token_entry_t;
typedef struct gw_conn gw_conn_t;

struct gateway {
  uv_loop_t *loop;
  gateway_options_t options;
  h2o_globalconf_t config;
  h2o_context_t context;
  h2o_accept_ctx_t accept;
  uv_tcp_t listener;
  int tls;
  cluster_link_t *link;
  uint8_t session_key[SESSION_KEY_BYTES];
  login_limit_t *person_limit, *address_limit;
  token_entry_t *tokens; /* API token cache */
  gw_conn_t *conns;      /* open client connections, by h2o socket */
  char dummy_hash[128];  /* verified for unknown people, so timing says nothing */
  const route_t *routes;
  size_t route_count;
  gateway_metrics_t *metrics; /* NULL without --metrics-listen */
};

/* `body` as compact ASCII JSON with '<', '>' and '&' escaped (\u003c ...);
 * malloc'ed, NULL when out of memory. */
char *gateway_json_text(const json_t *body);

/* Starts listening. Returns 0, or a libtally/libuv error (logged). */
int gateway_start(gateway_t *gw, uv_loop_t *loop, const gateway_options_t *options);

/* Stops listening and closes the cluster link (run the loop after). */
void gateway_stop(gateway_t *gw);

/* The route table (api.c). */
const route_t *api_routes(size_t *count);

/* Issues the session cookie of `who` on the call's reply and writes its
 * CSRF token into csrf. Returns 0 or INVALID_ARGUMENT. */
int gateway_issue_session(gw_call_t *c, const principal_t *who, char csrf[SESSION_CSRF_MAX]);

/* Sets the reply's cookie to clear the session. */
void gateway_clear_session(gw_call_t *c);

/* 1 when the call's client went away (its request is gone, or its
 * connection was closed or reset while the request waited), else 0. */
int gateway_client_is_gone(const gw_call_t *c);

/* Remembers an API token's owner (loop thread). */
void gateway_token_remember(gateway_t *gw, const char *token, const principal_t *who);

#endif
