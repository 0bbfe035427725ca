/* gateway: see gateway.h. */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#include "clock.h"
#include "h2o/socket/uv-binding.h"
#include "log.h"

#define STATIC_FILE_MAX (4u << 20)
#define SESSION_COOKIE_NAME "tally_session"

static const char content_security_policy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
    "media-src 'self' https: http:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

struct call_guard {
  gw_call_t *call;
};

struct token_entry {
  char hash[TALLY_TOKEN_HASH_HEX];
  principal_t who;
  uint64_t expires_ms;
  UT_hash_handle hh;
};

/* ------------------------------------------------------------ calls */

static void guard_dispose(void *p) {
  call_guard_t *g = p;
  if (g->call != NULL) {
    g->call->req = NULL;
    g->call->guard = NULL;
  }
}

static gw_call_t *call_new(gateway_t *gw, h2o_req_t *req) {
  gw_call_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->gw = gw;
  c->req = req;
  c->guard = h2o_mem_alloc_shared(&req->pool, sizeof *c->guard, guard_dispose);
  c->guard->call = c;
  return c;
}

static void call_free(gw_call_t *c) {
  if (c->guard != NULL) c->guard->call = NULL;
  json_decref(c->body);
  json_decref(c->result);
  free(c->query);
  free(c->tail);
  free(c->set_cookie);
  free(c->extra);
  sodium_memzero(c->bearer, sizeof c->bearer);
  free(c);
}

static const char *reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

static void add_header(h2o_req_t *req, const char *name, const char *value) {
  h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value,
                        strlen(value));
}

/* Headers every answer carries. */
static void add_common_headers(h2o_req_t *req) {
  add_header(req, "x-content-type-options", "nosniff");
  add_header(req, "x-frame-options", "DENY");
  add_header(req, "referrer-policy", "no-referrer");
}

/* Sends `len` bytes (copied into the request's pool) as the whole body. */
static void send_body(h2o_req_t *req, int status, const char *type, const char *body, size_t len) {
  static h2o_generator_t generator = {NULL, NULL};
  req->res.status = status;
  req->res.reason = reason_of(status);
  req->res.content_length = len;
  if (type != NULL) add_header(req, "content-type", type);
  add_common_headers(req);
  h2o_iovec_t buf = h2o_iovec_init(NULL, 0);
  if (len > 0) {
    buf.base = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(buf.base, body, len);
    buf.len = len;
  }
  h2o_start_response(req, &generator);
  h2o_send(req, &buf, len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

char *gateway_json_text(const json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
  if (text == NULL) return NULL;
  size_t n = 0;
  for (const char *p = text; *p; p++) n += (*p == '<' || *p == '>' || *p == '&');
  if (n == 0) return text;
  /* Markup characters occur only inside strings: write them as \u escapes,
   * so no byte of a reply can open a tag even if a browser sniffed it. */
  char *out = malloc(strlen(text) + 5 * n + 1), *o = out;
  if (out == NULL) {
    free(text);
    return NULL;
  }
  for (const char *p = text; *p; p++) {
    if (*p == '<' || *p == '>' || *p == '&') o += sprintf(o, "\\u%04x", (unsigned)*p);
    else *o++ = *p;
  }
  *o = '\0';
  free(text);
  return out;
}

/* The route's index for metrics. */
static size_t route_index(const gw_call_t *c) {
  return c->route ? (size_t)(c->route - c->gw->routes) : GATEWAY_ROUTE_UNMATCHED;
}

void call_reply_json(gw_call_t *c, int status, json_t *body) {
  int sent = c->answered; /* the status sent; 0: the client went away */
  if (c->req != NULL) {
    h2o_req_t *req = c->req;
    add_header(req, "cache-control", "no-store");
    if (c->set_cookie) add_header(req, "set-cookie", c->set_cookie);
    char *text = body ? gateway_json_text(body) : NULL;
    if (body != NULL && text == NULL) {
      status = 500;
      text = strdup("{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}");
    }
    send_body(req, status, text ? "application/json; charset=utf-8" : NULL, text,
              text ? strlen(text) : 0);
    free(text);
    sent = status;
  }
  gateway_metrics_request_end(c->gw->metrics, route_index(c), sent, c->started_ns);
  json_decref(body);
  call_free(c);
}

static json_t *error_json(const char *code, const char *message) {
  return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

void call_reply_error(gw_call_t *c, int status, const char *code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  call_reply_json(c, status, error_json(code, message));
}

int call_status_of(int rc, const char **code) {
  *code = tally_error_name(rc);
  switch (rc) {
    case TALLY_E_INVALID_ARGUMENT:
    case TALLY_E_LABEL_NOT_IN_TAXONOMY:
    case TALLY_E_UNKNOWN_MARKET:
    case TALLY_E_TOO_LARGE:
    case TALLY_E_NOT_QUALIFIED:
      return 400;
    case TALLY_E_UNAUTHENTICATED: return 401;
    case TALLY_E_PERMISSION_DENIED: return 403;
    case TALLY_E_NOT_FOUND:
    case TALLY_E_UNKNOWN_PROJECT:
    case TALLY_E_UNKNOWN_LABELER:
      return 404;
    case TALLY_E_STALE_LEASE:
    case TALLY_E_NOT_LEASE_OWNER:
    case TALLY_E_ALREADY_EXISTS:
      return 409;
    case TALLY_E_RATE_LIMITED: return 429;
    case TALLY_E_UNAVAILABLE:
    case TALLY_E_TIMEOUT:
    case TALLY_E_TRANSPORT:
    case TALLY_E_NO_SPACE:
    case TALLY_E_MOVED:
      return 503;
    default: return 500;
  }
}

void call_set_tally_error(gw_call_t *c, int rc, const char *message) {
  const char *code;
  c->status = call_status_of(rc, &code);
  snprintf(c->error_code, sizeof c->error_code, "%s", code);
  snprintf(c->error_message, sizeof c->error_message, "%s",
           message && message[0] ? message : tally_strerror(rc));
}

void call_set_error(gw_call_t *c, int status, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error_message, sizeof c->error_message, fmt, ap);
  va_end(ap);
  c->status = status;
  snprintf(c->error_code, sizeof c->error_code, "%s", code);
}

void call_reply_tally_error(gw_call_t *c, int rc, const char *message) {
  call_set_tally_error(c, rc, message);
  call_reply_json(c, c->status, error_json(c->error_code, c->error_message));
}

/* ------------------------------------------------------------ blocking work */

static void work_run(uv_work_t *w) {
  gw_call_t *c = w->data;
  tally_t *t = cluster_link_take(c->gw->link);
  if (c->act_for) tally_act_for(t, c->who.person);
  c->work_fn(c, t);
  cluster_link_put(c->gw->link, t);
}

static void work_done(uv_work_t *w, int status) {
  gw_call_t *c = w->data;
  gateway_metrics_cluster(c->gw->metrics, "pool",
                          status != 0 ? "CANCELLED" : c->error_code[0] ? c->error_code : "OK");
  if (status != 0) {
    call_reply_error(c, 503, "UNAVAILABLE", "the request was cancelled");
    return;
  }
  if (c->after != NULL) {
    c->after(c);
    return;
  }
  if (c->error_code[0] != '\0') {
    call_reply_json(c, c->status, error_json(c->error_code, c->error_message));
    return;
  }
  json_t *result = c->result;
  c->result = NULL;
  call_reply_json(c, c->status ? c->status : 200, result);
}

void call_run_blocking(gw_call_t *c, call_work_fn fn, int act_for) {
  c->work_fn = fn;
  c->act_for = act_for;
  c->work.data = c;
  if (uv_queue_work(c->gw->loop, &c->work, work_run, work_done) != 0)
    call_reply_error(c, 503, "UNAVAILABLE", "cannot queue the request");
}

/* ------------------------------------------------------------ helpers */

static int hex_value(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes (and '+' as space) `len` bytes into buf. -1 when it does
 * not fit or is malformed. */
static int url_decode(const char *s, size_t len, char *buf, size_t size) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (o + 1 >= size) return -1;
    if (s[i] == '%') {
      if (i + 2 >= len) return -1;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      char ch = (char)(hi * 16 + lo);
      if (ch == '\0') return -1;
      buf[o++] = ch;
      i += 2;
    } else {
      buf[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  buf[o] = '\0';
  return 0;
}

int call_query(const gw_call_t *c, const char *name, char *buf, size_t size) {
  size_t name_len = strlen(name);
  const char *p = c->query ? c->query : "";
  while (*p != '\0') {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    size_t key_len = eq ? (size_t)(eq - p) : len;
    if (key_len == name_len && memcmp(p, name, name_len) == 0) {
      const char *v = eq ? eq + 1 : p + len;
      return url_decode(v, (size_t)(p + len - v), buf, size) < 0 ? -1 : 1;
    }
    p = amp ? amp + 1 : p + len;
  }
  return 0;
}

const char *call_body_string(const gw_call_t *c, const char *name) {
  json_t *v = c->body ? json_object_get(c->body, name) : NULL;
  return json_is_string(v) ? json_string_value(v) : NULL;
}

int call_has_role(const gw_call_t *c, uint32_t roles) { return (c->who.roles & roles) != 0; }

json_t *call_roles_json(uint32_t roles) {
  json_t *a = json_array();
  static const uint32_t bits[] = {TALLY_ROLE_LABELER, TALLY_ROLE_AUDITOR, TALLY_ROLE_LEAD,
                                  TALLY_ROLE_MANAGER, TALLY_ROLE_OPERATOR, TALLY_ROLE_GATEWAY};
  for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
    if (roles & bits[i]) json_array_append_new(a, json_string(tally_role_name((tally_role_t)bits[i])));
  return a;
}

/* The value of cookie `name` in the request's Cookie headers. */
static int find_cookie(h2o_req_t *req, const char *name, char *out, size_t size) {
  size_t name_len = strlen(name);
  for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
    h2o_iovec_t v = req->headers.entries[i].value;
    const char *p = v.base, *end = v.base + v.len;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == ';')) p++;
      const char *semi = memchr(p, ';', (size_t)(end - p));
      const char *stop = semi ? semi : end;
      if ((size_t)(stop - p) > name_len && memcmp(p, name, name_len) == 0 && p[name_len] == '=') {
        size_t len = (size_t)(stop - p) - name_len - 1;
        if (len >= size) return 0;
        memcpy(out, p + name_len + 1, len);
        out[len] = '\0';
        return 1;
      }
      p = stop;
    }
  }
  return 0;
}

static int find_header(h2o_req_t *req, const char *name, char *out, size_t size) {
  ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
  if (i < 0) return 0;
  h2o_iovec_t v = req->headers.entries[i].value;
  if (v.len >= size) return 0;
  memcpy(out, v.base, v.len);
  out[v.len] = '\0';
  return 1;
}

static void client_address(h2o_req_t *req, char *out, size_t size) {
  struct sockaddr_storage ss;
  snprintf(out, size, "unknown");
  socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
  if (len == 0) return;
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)size);
}

/* ------------------------------------------------------------ sessions */

int gateway_issue_session(gw_call_t *c, const principal_t *who, char csrf[SESSION_CSRF_MAX]) {
  session_t s;
  memset(&s, 0, sizeof s);
  snprintf(s.person, sizeof s.person, "%s", who->person);
  s.roles = who->roles;
  snprintf(s.language, sizeof s.language, "%s", who->language);
  snprintf(s.markets, sizeof s.markets, "%s", who->markets);
  uint32_t hours = c->gw->options.session_hours ? c->gw->options.session_hours : 12;
  s.expires_ms = clock_now_ms() + (uint64_t)hours * 3600000u;
  snprintf(s.nonce, sizeof s.nonce, "%s", c->session_nonce); /* kept when re-issued */
  char value[SESSION_COOKIE_MAX];
  int rc = session_seal(c->gw->session_key, &s, value, sizeof value);
  if (rc < 0) return rc;
  snprintf(c->session_nonce, sizeof c->session_nonce, "%s", s.nonce);
  session_csrf(c->gw->session_key, s.nonce, csrf);
  char header[SESSION_COOKIE_MAX + 128];
  snprintf(header, sizeof header, "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict%s",
           SESSION_COOKIE_NAME, value, hours * 3600u, c->gw->tls ? "; Secure" : "");
  free(c->set_cookie);
  c->set_cookie = strdup(header);
  snprintf(c->cookie, sizeof c->cookie, "%s", value);
  return 0;
}

void gateway_clear_session(gw_call_t *c) {
  char header[160];
  snprintf(header, sizeof header, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
           SESSION_COOKIE_NAME, c->gw->tls ? "; Secure" : "");
  free(c->set_cookie);
  c->set_cookie = strdup(header);
}

static void token_cache_trim(gateway_t *gw, uint64_t now) {
  token_entry_t *e, *tmp;
  HASH_ITER(hh, gw->tokens, e, tmp) {
    if (e->expires_ms > now && HASH_COUNT(gw->tokens) < GATEWAY_TOKEN_CACHE_MAX) break;
    HASH_DEL(gw->tokens, e);
    free(e);
  }
}

void gateway_token_remember(gateway_t *gw, const char *token, const principal_t *who) {
  uint64_t now = clock_monotonic_ms();
  token_cache_trim(gw, now);
  token_entry_t *e = calloc(1, sizeof *e);
  if (e == NULL) return;
  tally_token_hash(token, e->hash);
  token_entry_t *old = NULL;
  HASH_FIND_STR(gw->tokens, e->hash, old);
  if (old) {
    HASH_DEL(gw->tokens, old);
    free(old);
  }
  e->who = *who;
  e->who.via_token = 1;
  e->expires_ms = now + GATEWAY_TOKEN_CACHE_MS;
  HASH_ADD_STR(gw->tokens, hash, e);
}

static const token_entry_t *token_cached(gateway_t *gw, const char *token) {
  char hash[TALLY_TOKEN_HASH_HEX];
  if (tally_token_hash(token, hash) < 0) return NULL;
  token_entry_t *e = NULL;
  HASH_FIND_STR(gw->tokens, hash, e);
  if (e == NULL || e->expires_ms <= clock_monotonic_ms()) return NULL;
  return e;
}

/* ------------------------------------------------------------ dispatch */

/* Checks the route's roles and CSRF, then runs its handler. */
static void call_proceed(gw_call_t *c) {
  const route_t *r = c->route;
  if (r->auth == ROUTE_SIGNED_IN) {
    if (!c->signed_in) {
      call_reply_error(c, 401, "UNAUTHENTICATED", "sign in first");
      return;
    }
    if (c->is_write && !c->who.via_token) {
      char token[SESSION_CSRF_MAX + 8];
      if (!c->req || !find_header(c->req, "x-csrf-token", token, sizeof token) ||
          !session_csrf_matches(c->gw->session_key, c->session_nonce, token, strlen(token))) {
        call_reply_error(c, 403, "CSRF", "missing or wrong X-CSRF-Token header");
        return;
      }
    }
    if (r->roles != 0 && !call_has_role(c, r->roles)) {
      char need[128];
      tally_roles_format(r->roles, need, sizeof need);
      call_reply_error(c, 403, "PERMISSION_DENIED", "this needs one of the roles %s", need);
      return;
    }
  }
  r->handle(c);
}

static void token_lookup_work(gw_call_t *c, tally_t *t) {
  tally_credential_t *cred = NULL;
  int rc = tally_credential_get(t, NULL, c->bearer, 0, &cred);
  if (rc < 0) {
    call_set_tally_error(c, rc == TALLY_E_NOT_FOUND ? TALLY_E_UNAUTHENTICATED : rc,
                         rc == TALLY_E_NOT_FOUND ? "unknown API token" : tally_last_error(t));
    return;
  }
  snprintf(c->who.person, sizeof c->who.person, "%s", cred->person);
  c->who.roles = cred->roles;
  snprintf(c->who.language, sizeof c->who.language, "%s", cred->language);
  size_t used = 0;
  for (size_t i = 0; i < cred->market_count; i++) {
    int n = snprintf(c->who.markets + used, sizeof c->who.markets - used, "%s%s", i ? "\t" : "",
                     cred->markets[i]);
    if (n < 0 || (size_t)n >= sizeof c->who.markets - used) break;
    used += (size_t)n;
  }
  c->who.via_token = 1;
  tally_free(cred);
}

static void token_lookup_done(gw_call_t *c) {
  if (c->error_code[0] != '\0') {
    if (c->status == 401) call_reply_error(c, 401, "UNAUTHENTICATED", "%s", c->error_message);
    else call_reply_json(c, c->status, error_json(c->error_code, c->error_message));
    return;
  }
  c->signed_in = 1;
  c->after = NULL;
  gateway_token_remember(c->gw, c->bearer, &c->who);
  call_proceed(c);
}

/* Who is asking: the session cookie, or an API token (looked up in the
 * cluster when not cached). Then call_proceed. */
static void call_authenticate(gw_call_t *c) {
  char auth[sizeof c->bearer + 8];
  if (find_header(c->req, "authorization", auth, sizeof auth) && strncmp(auth, "Bearer ", 7) == 0) {
    snprintf(c->bearer, sizeof c->bearer, "%.*s", (int)sizeof c->bearer - 1, auth + 7);
    sodium_memzero(auth, sizeof auth);
    const token_entry_t *e = token_cached(c->gw, c->bearer);
    if (e != NULL) {
      c->who = e->who;
      c->signed_in = 1;
      call_proceed(c);
      return;
    }
    c->after = token_lookup_done;
    call_run_blocking(c, token_lookup_work, 0);
    return;
  }
  if (find_cookie(c->req, SESSION_COOKIE_NAME, c->cookie, sizeof c->cookie)) {
    session_t s;
    if (session_open(c->gw->session_key, c->cookie, strlen(c->cookie), clock_now_ms(), &s) == 0) {
      snprintf(c->who.person, sizeof c->who.person, "%s", s.person);
      c->who.roles = s.roles;
      snprintf(c->who.language, sizeof c->who.language, "%s", s.language);
      snprintf(c->who.markets, sizeof c->who.markets, "%s", s.markets);
      snprintf(c->session_nonce, sizeof c->session_nonce, "%s", s.nonce);
      c->signed_in = 1;
    } else {
      c->cookie[0] = '\0';
    }
  }
  call_proceed(c);
}

static const route_t *route_find(gateway_t *gw, h2o_iovec_t method, h2o_iovec_t path, int *path_known) {
  *path_known = 0;
  for (size_t i = 0; i < gw->route_count; i++) {
    const route_t *r = &gw->routes[i];
    size_t len = strlen(r->path);
    int prefix = r->path[len - 1] == '/';
    int match = prefix ? path.len > len && memcmp(path.base, r->path, len) == 0
                       : path.len == len && memcmp(path.base, r->path, len) == 0;
    if (!match) continue;
    *path_known = 1;
    if (method.len == strlen(r->method) && memcmp(method.base, r->method, method.len) == 0) return r;
  }
  return NULL;
}

/* ------------------------------------------------------------ static files */

static const char *content_type_of(const char *path) {
  const char *dot = strrchr(path, '.');
  if (dot == NULL) return "application/octet-stream";
  if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
  if (strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
  if (strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
  if (strcmp(dot, ".json") == 0) return "application/json; charset=utf-8";
  if (strcmp(dot, ".svg") == 0) return "image/svg+xml";
  if (strcmp(dot, ".png") == 0) return "image/png";
  if (strcmp(dot, ".ico") == 0) return "image/x-icon";
  if (strcmp(dot, ".woff2") == 0) return "font/woff2";
  return "application/octet-stream";
}

/* Serves a file of the console directory: "/" is index.html; only plain
 * names (no "..", no hidden files). Small files, read whole. */
static int serve_static(gateway_t *gw, h2o_req_t *req) {
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
    return -1;
  h2o_iovec_t p = req->path_normalized;
  char rel[512];
  if (p.len == 1) snprintf(rel, sizeof rel, "index.html");
  else if (p.len < sizeof rel && p.len > 1) snprintf(rel, sizeof rel, "%.*s", (int)p.len - 1, p.base + 1);
  else return -1;
  if (strstr(rel, "..") || strstr(rel, "/.") || rel[0] == '.' || strchr(rel, '\\')) return -1;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", gw->options.console_dir, rel);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)STATIC_FILE_MAX) {
    close(fd);
    return -1;
  }
  char *buf = h2o_mem_alloc_pool(&req->pool, (size_t)st.st_size + 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  const char *type = content_type_of(rel);
  if (strncmp(type, "text/html", 9) == 0) {
    add_header(req, "content-security-policy", content_security_policy);
    add_header(req, "cache-control", "no-cache");
  }
  send_body(req, 200, type, buf, got);
  return 0;
}

/* ------------------------------------------------------------ h2o */

typedef struct {
  h2o_handler_t super;
  gateway_t *gw;
} gateway_handler_t;

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  gateway_t *gw = ((gateway_handler_t *)self)->gw;
  int known = 0;
  h2o_iovec_t path = req->path_normalized;
  const route_t *r = route_find(gw, req->method, path, &known);
  if (r == NULL) {
    int api = path.len >= 5 && memcmp(path.base, "/api/", 5) == 0;
    uint64_t started = gw->metrics ? uv_hrtime() : 0;
    if (!api && serve_static(gw, req) == 0) {
      gateway_metrics_request_answered(gw->metrics, GATEWAY_ROUTE_STATIC, 200, started);
      return 0;
    }
    static const char not_found[] = "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such path\"}}";
    static const char no_method[] =
        "{\"error\":{\"code\":\"BAD_REQUEST\",\"message\":\"method not allowed here\"}}";
    add_header(req, "cache-control", "no-store");
    if (known) send_body(req, 405, "application/json; charset=utf-8", no_method, sizeof no_method - 1);
    else send_body(req, 404, "application/json; charset=utf-8", not_found, sizeof not_found - 1);
    gateway_metrics_request_answered(gw->metrics, GATEWAY_ROUTE_UNMATCHED, known ? 405 : 404, started);
    return 0;
  }
  gw_call_t *c = call_new(gw, req);
  if (c == NULL) return -1;
  c->route = r;
  c->started_ns = gateway_metrics_request_begin(gw->metrics, (size_t)(r - gw->routes));
  c->is_write = !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
                !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
  client_address(req, c->address, sizeof c->address);
  size_t len = strlen(r->path);
  if (r->path[len - 1] == '/') {
    char decoded[1024];
    if (url_decode(path.base + len, path.len - len, decoded, sizeof decoded) < 0) {
      call_reply_error(c, 400, "BAD_REQUEST", "malformed path");
      return 0;
    }
    c->tail = strdup(decoded);
  }
  c->query = req->query_at != SIZE_MAX ? strndup(req->path.base + req->query_at + 1,
                                                  req->path.len - req->query_at - 1)
                                       : strdup("");
  if (c->query == NULL || (r->path[len - 1] == '/' && c->tail == NULL)) {
    call_reply_error(c, 500, "INTERNAL", "out of memory");
    return 0;
  }
  if (c->is_write && req->entity.base != NULL && req->entity.len > 0) {
    char type[128] = "";
    find_header(req, "content-type", type, sizeof type);
    if (strncmp(type, "application/json", 16) != 0) {
      call_reply_error(c, 415, "BAD_REQUEST", "send JSON (Content-Type: application/json)");
      return 0;
    }
    json_error_t err;
    c->body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(c->body)) {
      call_reply_error(c, 400, "BAD_REQUEST", "the body must be a JSON object (%s)",
                       c->body ? "not an object" : err.text);
      return 0;
    }
  }
  call_authenticate(c);
  return 0;
}

/* A client connection: its libuv handle (first, so the close callback
 * finds the rest) and the h2o socket made on it, remembered so that a long
 * wait can check whether the client is still there (gateway_client_is_gone). */
struct gw_conn {
  uv_tcp_t tcp;
  gateway_t *gw;
  h2o_socket_t *sock;
  UT_hash_handle hh; /* gw->conns, by sock */
};

static void on_conn_closed(uv_handle_t *h) {
  gw_conn_t *conn = (gw_conn_t *)h;
  if (conn->sock != NULL) HASH_DEL(conn->gw->conns, conn);
  free(conn);
}

static void on_accept(uv_stream_t *listener, int status) {
  gateway_t *gw = listener->data;
  if (status != 0) return;
  gw_conn_t *conn = h2o_mem_alloc(sizeof *conn);
  memset(conn, 0, sizeof *conn);
  conn->gw = gw;
  uv_tcp_init(listener->loop, &conn->tcp);
  if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  conn->sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_closed);
  HASH_ADD_PTR(gw->conns, sock, conn);
  h2o_accept(&gw->accept, conn->sock);
}

int gateway_client_is_gone(const gw_call_t *c) {
  if (c->req == NULL) return 1;
  h2o_conn_t *hc = c->req->conn;
  if (hc->callbacks->get_socket == NULL) return 0;
  h2o_socket_t *sock = hc->callbacks->get_socket(hc);
  gw_conn_t *conn = NULL;
  if (sock != NULL) HASH_FIND_PTR(c->gw->conns, &sock, conn);
  uv_os_fd_t fd;
  if (conn == NULL || uv_fileno((uv_handle_t *)&conn->tcp, &fd) != 0) return 0;
  /* h2o stops reading an HTTP/1 connection while it serves a request, so a
   * client that left shows only as end-of-file (or a reset) waiting here. */
  char byte;
  ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int tls_setup(gateway_t *gw) {
  SSL_load_error_strings();
  SSL_library_init();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) return TALLY_E_INTERNAL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, gw->options.tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, gw->options.tls_key, SSL_FILETYPE_PEM) != 1) {
    log_error("gateway: cannot load the TLS certificate %s or key %s", gw->options.tls_cert,
              gw->options.tls_key);
    SSL_CTX_free(ctx);
    return TALLY_E_INVALID_ARGUMENT;
  }
  h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols); /* h2, http/1.1 */
  gw->accept.ssl_ctx = ctx;
  gw->tls = 1;
  return 0;
}

static int split_listen(const char *listen, char *host, size_t size, int *port) {
  const char *colon = strrchr(listen, ':');
  if (colon == NULL || (size_t)(colon - listen) >= size) return -1;
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  char *end = NULL;
  long p = strtol(colon + 1, &end, 10);
  if (*end != '\0' || p < 0 || p > 65535) return -1;
  *port = (int)p;
  return 0;
}

static void on_cluster_completion(void *user, tally_op_t op, int status) {
  gateway_t *gw = user;
  gateway_metrics_cluster(gw->metrics, gateway_metrics_op_name(op), tally_error_name(status));
}

int gateway_start(gateway_t *gw, uv_loop_t *loop, const gateway_options_t *options) {
  gw->loop = loop;
  gw->options = *options;
  gw->routes = api_routes(&gw->route_count);
  if (sodium_init() < 0) return TALLY_E_INTERNAL;
  /* A hash to verify when the person is unknown, so the answer takes as long. */
  if (crypto_pwhash_str(gw->dummy_hash, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return TALLY_E_NOMEM;
  int rc = login_limit_new(&gw->person_limit, options->login_failures, options->login_window_s * 1000ull,
                           100000);
  if (rc == 0)
    rc = login_limit_new(&gw->address_limit, options->login_failures * 4,
                         options->login_window_s * 1000ull, 100000);
  if (rc < 0) return rc;
  rc = cluster_link_new(&gw->link, loop, &options->cluster);
  if (rc < 0) return rc;
  /* The cluster's session key, before any request is served. */
  tally_t *t = cluster_link_take(gw->link);
  tally_credential_t *cred = NULL;
  rc = tally_credential_get(t, NULL, NULL, 1, &cred);
  if (rc < 0) log_error("gateway: cannot get the session key from the coordinator: %s", tally_last_error(t));
  cluster_link_put(gw->link, t);
  if (rc < 0) return rc;
  memcpy(gw->session_key, cred->session_key, sizeof gw->session_key);
  tally_free(cred);

  h2o_config_init(&gw->config);
  gw->config.max_request_entity_size = GATEWAY_BODY_MAX;
  gw->config.http1.req_timeout = 60 * 1000;
  gw->config.server_name = h2o_iovec_init(H2O_STRLIT("tally-gateway"));
  h2o_hostconf_t *host = h2o_config_register_host(&gw->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
  gateway_handler_t *handler = (gateway_handler_t *)h2o_create_handler(pathconf, sizeof *handler);
  handler->super.on_req = on_req;
  handler->gw = gw;
  h2o_context_init(&gw->context, loop, &gw->config);
  gw->accept.ctx = &gw->context;
  gw->accept.hosts = gw->config.hosts;
  if (options->tls_cert && options->tls_key && (rc = tls_setup(gw)) < 0) return rc;

  char host_name[256];
  int port = 0;
  struct sockaddr_storage addr;
  if (split_listen(options->listen, host_name, sizeof host_name, &port) < 0 ||
      (uv_ip4_addr(host_name, port, (struct sockaddr_in *)&addr) != 0 &&
       uv_ip6_addr(host_name, port, (struct sockaddr_in6 *)&addr) != 0)) {
    log_error("gateway: --listen %s is not HOST:PORT with a numeric address", options->listen);
    return TALLY_E_INVALID_ARGUMENT;
  }
  uv_tcp_init(loop, &gw->listener);
  gw->listener.data = gw;
  int r = uv_tcp_bind(&gw->listener, (struct sockaddr *)&addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&gw->listener, 1024, on_accept);
  if (r != 0) {
    log_error("gateway: cannot listen on %s: %s", options->listen, uv_strerror(r));
    return TALLY_E_IO;
  }
  log_info("gateway: serving %s://%s (console %s)", gw->tls ? "https" : "http", options->listen,
           options->console_dir);
  if (options->metrics_listen != NULL) {
    rc = gateway_metrics_new(&gw->metrics, loop, options->metrics_listen, gw);
    if (rc == TALLY_E_INVALID_ARGUMENT)
      log_error("gateway: --metrics-listen %s is not HOST:PORT", options->metrics_listen);
    if (rc < 0) return rc;
    log_info("gateway: metrics on http://%s/metrics", gateway_metrics_address(gw->metrics));
    cluster_link_observe(gw->link, on_cluster_completion, gw);
  }
  return 0;
}

void gateway_stop(gateway_t *gw) {
  if (uv_is_active((uv_handle_t *)&gw->listener) || gw->listener.loop != NULL)
    if (!uv_is_closing((uv_handle_t *)&gw->listener)) uv_close((uv_handle_t *)&gw->listener, NULL);
  if (gw->link != NULL) cluster_link_observe(gw->link, NULL, NULL);
  gateway_metrics_destroy(&gw->metrics);
  cluster_link_destroy(&gw->link);
  login_limit_destroy(&gw->person_limit);
  login_limit_destroy(&gw->address_limit);
  token_entry_t *e, *tmp;
  HASH_ITER(hh, gw->tokens, e, tmp) {
    HASH_DEL(gw->tokens, e);
    free(e);
  }
  sodium_memzero(gw->session_key, sizeof gw->session_key);
}
