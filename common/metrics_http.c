/* metrics_http: GET /metrics over HTTP/1.1 on a libuv loop. See
 * metrics_http.h for what it answers and why it is this small. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "tally_error.h"

typedef struct connection {
  uv_tcp_t tcp; /* first: the handle's address is the connection's */
  uv_timer_t idle;
  struct metrics_http *server;
  struct connection *prev, *next;
  char head[METRICS_HTTP_MAX_REQUEST];
  size_t len;
  int pending_writes;
  int reading; /* uv_read_start is in effect */
  int close_after_write; /* the last reply said Connection: close */
  int closing;
  int open_handles; /* freed when both handles have closed */
} connection_t;

struct metrics_http {
  uv_tcp_t listener;
  metrics_t *registry;
  connection_t *connections;
  size_t n_connections;
  int listener_open;
  int destroyed;
  char address[80];
};

typedef struct {
  uv_write_t req;
  connection_t *conn;
  char *data;
} write_t;

static void connection_process(connection_t *c);
static void connection_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void connection_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

int metrics_http_parse_address(const char *host_port, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof *addr);
  if (host_port == NULL) return TALLY_E_INVALID_ARGUMENT;
  char host[64];
  const char *port_text;
  int v6 = host_port[0] == '[';
  if (v6) {
    const char *end = strchr(host_port, ']');
    if (end == NULL || end[1] != ':' || (size_t)(end - host_port - 1) >= sizeof host)
      return TALLY_E_INVALID_ARGUMENT;
    memcpy(host, host_port + 1, (size_t)(end - host_port - 1));
    host[end - host_port - 1] = '\0';
    port_text = end + 2;
  } else {
    const char *colon = strrchr(host_port, ':');
    if (colon == NULL || (size_t)(colon - host_port) >= sizeof host) return TALLY_E_INVALID_ARGUMENT;
    memcpy(host, host_port, (size_t)(colon - host_port));
    host[colon - host_port] = '\0';
    port_text = colon + 1;
  }
  char *end;
  long port = strtol(port_text, &end, 10);
  if (port_text[0] < '0' || port_text[0] > '9' || *end != '\0' || port < 0 || port > 65535)
    return TALLY_E_INVALID_ARGUMENT;
  int rc = v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr)
              : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr);
  return rc == 0 ? 0 : TALLY_E_INVALID_ARGUMENT;
}

/* Frees the server once the listener and every connection have closed. */
static void server_maybe_free(struct metrics_http *s) {
  if (s->destroyed && !s->listener_open && s->connections == NULL) free(s);
}

static void connection_on_handle_closed(uv_handle_t *handle) {
  connection_t *c = handle->data;
  if (--c->open_handles > 0) return;
  struct metrics_http *s = c->server;
  if (c->prev) c->prev->next = c->next;
  else s->connections = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_connections--;
  free(c);
  server_maybe_free(s);
}

static void connection_close(connection_t *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, connection_on_handle_closed);
  uv_close((uv_handle_t *)&c->idle, connection_on_handle_closed);
}

static void connection_on_written(uv_write_t *req, int status) {
  write_t *w = req->data;
  connection_t *c = w->conn;
  free(w->data);
  free(w);
  c->pending_writes--;
  if (status < 0 || (c->close_after_write && c->pending_writes == 0)) {
    connection_close(c);
    return;
  }
  if (c->pending_writes == 0 && !c->closing) connection_process(c); /* the next request */
}

/* Queues `data` (malloc'ed, taken) for writing. */
static void connection_write(connection_t *c, char *data, size_t len) {
  write_t *w = malloc(sizeof *w);
  if (w == NULL) {
    free(data);
    connection_close(c);
    return;
  }
  w->conn = c;
  w->data = data;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, connection_on_written) != 0) {
    free(data);
    free(w);
    connection_close(c);
    return;
  }
  c->pending_writes++;
}

/* Sends a reply: head for `status`, then `body` (len bytes, borrowed) unless
 * head_only. With keep_alive 0 the connection closes after it. */
static void connection_reply(connection_t *c, int status, const char *reason, const char *extra,
                             const char *content_type, const char *body, size_t body_len,
                             int head_only, int keep_alive) {
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: %s\r\n\r\n",
                   status, reason, content_type, body_len, extra ? extra : "",
                   keep_alive ? "keep-alive" : "close");
  size_t total = (size_t)n + (head_only ? 0 : body_len);
  char *data = malloc(total);
  if (data == NULL) {
    connection_close(c);
    return;
  }
  memcpy(data, head, (size_t)n);
  if (!head_only) memcpy(data + n, body, body_len);
  if (!keep_alive) {
    c->close_after_write = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
  connection_write(c, data, total);
}

static void connection_error(connection_t *c, int status, const char *reason, const char *extra,
                             const char *message) {
  connection_reply(c, status, reason, extra, "text/plain; charset=utf-8", message, strlen(message),
                   0, 0);
}

/* The value of header `name` in the head's header lines (between `lines`
 * and the blank line), trimmed, in out[size]; 1 when present. */
static int header_value(const char *lines, const char *name, char *out, size_t size) {
  size_t name_len = strlen(name);
  for (const char *p = lines; *p != '\0' && !(p[0] == '\r' && p[1] == '\n');) {
    const char *eol = strstr(p, "\r\n");
    if (eol == NULL) return 0;
    if ((size_t)(eol - p) > name_len && p[name_len] == ':' && strncasecmp(p, name, name_len) == 0) {
      const char *v = p + name_len + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *e = eol;
      while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
      snprintf(out, size, "%.*s", (int)(e - v), v);
      return 1;
    }
    p = eol + 2;
  }
  return 0;
}

/* Answers one complete request head (NUL-terminated, ending in CRLF CRLF). */
static void connection_serve(connection_t *c, const char *head) {
  char method[16], target[1024], version[16];
  if (sscanf(head, "%15[A-Z] %1023[^ \r\n] %15[^ \r\n]", method, target, version) != 3 ||
      (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)) {
    connection_error(c, 400, "Bad Request", NULL, "not an HTTP/1.x request\n");
    return;
  }
  const char *lines = strstr(head, "\r\n") + 2;
  char value[64];
  if (header_value(lines, "Transfer-Encoding", value, sizeof value) ||
      (header_value(lines, "Content-Length", value, sizeof value) && strcmp(value, "0") != 0)) {
    connection_error(c, 400, "Bad Request", NULL, "a request body is not accepted here\n");
    return;
  }
  size_t path_len = strcspn(target, "?");
  if (path_len != strlen("/metrics") || strncmp(target, "/metrics", path_len) != 0) {
    connection_error(c, 404, "Not Found", NULL, "not found; the metrics are at /metrics\n");
    return;
  }
  int head_only = strcmp(method, "HEAD") == 0;
  if (!head_only && strcmp(method, "GET") != 0) {
    connection_error(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
                     "only GET and HEAD are served at /metrics\n");
    return;
  }
  int keep_alive = strcmp(version, "HTTP/1.1") == 0;
  if (header_value(lines, "Connection", value, sizeof value))
    keep_alive = strcasecmp(value, "close") == 0 ? 0 : strcasecmp(value, "keep-alive") == 0 ? 1 : keep_alive;
  char *text = NULL;
  size_t len = 0;
  if (metrics_render(c->server->registry, &text, &len) < 0) {
    connection_error(c, 500, "Internal Server Error", NULL, "out of memory rendering metrics\n");
    return;
  }
  connection_reply(c, 200, "OK", NULL, METRICS_CONTENT_TYPE, text, len, head_only, keep_alive);
  free(text);
}

/* Serves the complete request heads in the buffer (pipelining), keeping
 * the bytes of an incomplete one; one at a time: the next only once the
 * reply before it is written, and reading pauses meanwhile. So a client
 * that sends requests without reading the replies holds at most one page
 * here, and is closed by the idle timer. */
static void connection_process(connection_t *c) {
  while (!c->closing && !c->close_after_write && c->pending_writes == 0) {
    char *end = memmem(c->head, c->len, "\r\n\r\n", 4);
    if (end == NULL) break;
    size_t used = (size_t)(end - c->head) + 4;
    char request[METRICS_HTTP_MAX_REQUEST + 1];
    memcpy(request, c->head, used);
    request[used] = '\0';
    memmove(c->head, c->head + used, c->len - used);
    c->len -= used;
    uv_timer_again(&c->idle); /* a complete head restarts the idle clock */
    connection_serve(c, request);
  }
  if (c->closing || c->close_after_write) return;
  if (c->pending_writes > 0) {
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  } else if (c->len == sizeof c->head) {
    connection_error(c, 431, "Request Header Fields Too Large", NULL,
                     "the request head exceeds 8192 bytes\n");
  } else if (!c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, connection_alloc, connection_on_read) != 0)
      connection_close(c);
    else
      c->reading = 1;
  }
}

static void connection_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  connection_t *c = handle->data;
  *buf = uv_buf_init(c->head + c->len, (unsigned)(sizeof c->head - c->len));
}

static void connection_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  connection_t *c = stream->data;
  if (nread < 0) {
    connection_close(c);
    return;
  }
  c->len += (size_t)nread;
  connection_process(c);
}

static void connection_on_idle(uv_timer_t *timer) { connection_close(timer->data); }

static void server_on_listener_closed(uv_handle_t *handle) {
  struct metrics_http *s = handle->data;
  s->listener_open = 0;
  server_maybe_free(s);
}

static void server_on_connection(uv_stream_t *listener, int status) {
  struct metrics_http *s = listener->data;
  if (status < 0) return;
  connection_t *c = calloc(1, sizeof *c);
  if (c == NULL) return; /* the kernel keeps it queued; retried on the next accept */
  c->server = s;
  uv_tcp_init(listener->loop, &c->tcp);
  uv_timer_init(listener->loop, &c->idle);
  c->tcp.data = c->idle.data = c;
  c->open_handles = 2;
  c->next = s->connections;
  if (s->connections) s->connections->prev = c;
  s->connections = c;
  s->n_connections++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
      s->n_connections > METRICS_HTTP_MAX_CONNECTIONS ||
      uv_read_start((uv_stream_t *)&c->tcp, connection_alloc, connection_on_read) != 0) {
    connection_close(c);
    return;
  }
  c->reading = 1;
  uv_timer_start(&c->idle, connection_on_idle, METRICS_HTTP_IDLE_MS, METRICS_HTTP_IDLE_MS);
}

static void format_address(const struct sockaddr_storage *addr, char *out, size_t size) {
  char host[INET6_ADDRSTRLEN] = "";
  if (addr->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
    uv_ip6_name(a, host, sizeof host);
    snprintf(out, size, "[%s]:%u", host, ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
    uv_ip4_name(a, host, sizeof host);
    snprintf(out, size, "%s:%u", host, ntohs(a->sin_port));
  }
}

int metrics_http_new(metrics_http_t **out, uv_loop_t *loop, const char *host_port,
                     metrics_t *registry) {
  *out = NULL;
  struct sockaddr_storage addr;
  if (metrics_http_parse_address(host_port, &addr) < 0) return TALLY_E_INVALID_ARGUMENT;
  struct metrics_http *s = calloc(1, sizeof *s);
  if (s == NULL) return TALLY_E_NOMEM;
  s->registry = registry;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->listener_open = 1;
  int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 16, server_on_connection);
  if (rc != 0) {
    log_error("cannot serve metrics on %s: %s", host_port, uv_strerror(rc));
    s->destroyed = 1;
    uv_close((uv_handle_t *)&s->listener, server_on_listener_closed);
    return TALLY_E_IO;
  }
  struct sockaddr_storage bound;
  int bound_len = sizeof bound;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bound_len);
  format_address(&bound, s->address, sizeof s->address);
  *out = s;
  return 0;
}

const char *metrics_http_address(const metrics_http_t *http) { return http->address; }

void metrics_http_destroy(metrics_http_t **http) {
  if (http == NULL || *http == NULL) return;
  struct metrics_http *s = *http;
  *http = NULL;
  s->destroyed = 1;
  for (connection_t *c = s->connections; c != NULL; c = c->next) connection_close(c);
  uv_close((uv_handle_t *)&s->listener, server_on_listener_closed);
}
