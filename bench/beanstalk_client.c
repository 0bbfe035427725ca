/* beanstalk_client: see beanstalk_client.h.
 *
 * Buffers: `out` holds commands not yet written; `in` holds bytes read but
 * not yet parsed ([in_start, in_len)). Pending commands form a ring of
 * (command, tag) in the order they were queued, which is the order of the
 * replies.
 */
#include "beanstalk_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BEANSTALK_READ_CHUNK 65536

typedef struct {
  beanstalk_command_t command;
  void *tag;
} pending_t;

struct beanstalk_conn {
  int fd;
  char *out;
  size_t out_len, out_cap;
  char *in;
  size_t in_start, in_len, in_cap;
  pending_t *ring;
  size_t ring_head, ring_count, ring_cap;
  char error[256];
};

static int conn_fail(beanstalk_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int conn_fail(beanstalk_conn_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
  return -1;
}

int beanstalk_connect(beanstalk_conn_t **out, const char *host, int port) {
  *out = NULL;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "beanstalk: cannot resolve %s: %s\n", host, gai_strerror(rc));
    return -1;
  }
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    fprintf(stderr, "beanstalk: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  beanstalk_conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    close(fd);
    fprintf(stderr, "beanstalk: out of memory\n");
    return -1;
  }
  c->fd = fd;
  *out = c;
  return 0;
}

void beanstalk_close(beanstalk_conn_t **conn) {
  if (conn == NULL || *conn == NULL) return;
  beanstalk_conn_t *c = *conn;
  if (c->fd >= 0) close(c->fd);
  free(c->out);
  free(c->in);
  free(c->ring);
  free(c);
  *conn = NULL;
}

const char *beanstalk_error(const beanstalk_conn_t *conn) { return conn->error; }

size_t beanstalk_in_flight(const beanstalk_conn_t *conn) { return conn->ring_count; }

/* ------------------------------------------------------------ commands */

static int out_reserve(beanstalk_conn_t *c, size_t more) {
  if (c->out_len + more <= c->out_cap) return 0;
  size_t cap = c->out_cap ? c->out_cap : 65536;
  while (cap < c->out_len + more) cap *= 2;
  char *grown = realloc(c->out, cap);
  if (grown == NULL) return conn_fail(c, "out of memory");
  c->out = grown;
  c->out_cap = cap;
  return 0;
}

static int ring_push(beanstalk_conn_t *c, beanstalk_command_t command, void *tag) {
  if (c->ring_count == c->ring_cap) {
    size_t cap = c->ring_cap ? c->ring_cap * 2 : 256;
    pending_t *grown = malloc(cap * sizeof *grown);
    if (grown == NULL) return conn_fail(c, "out of memory");
    for (size_t i = 0; i < c->ring_count; i++) grown[i] = c->ring[(c->ring_head + i) % c->ring_cap];
    free(c->ring);
    c->ring = grown;
    c->ring_head = 0;
    c->ring_cap = cap;
  }
  c->ring[(c->ring_head + c->ring_count++) % c->ring_cap] = (pending_t){command, tag};
  return 0;
}

/* Appends a command line (and optional data + CRLF) and its ring entry. */
static int queue_command(beanstalk_conn_t *c, beanstalk_command_t command, void *tag,
                         const char *line, size_t line_len, const void *data, size_t data_len) {
  size_t need = line_len + (data ? data_len + 2 : 0);
  if (out_reserve(c, need) < 0 || ring_push(c, command, tag) < 0) return -1;
  memcpy(c->out + c->out_len, line, line_len);
  c->out_len += line_len;
  if (data) {
    memcpy(c->out + c->out_len, data, data_len);
    memcpy(c->out + c->out_len + data_len, "\r\n", 2);
    c->out_len += data_len + 2;
  }
  return 0;
}

int beanstalk_put(beanstalk_conn_t *conn, uint32_t priority, uint32_t delay_s, uint32_t ttr_s,
                  const void *data, size_t len, void *tag) {
  char line[96];
  int n = snprintf(line, sizeof line, "put %u %u %u %zu\r\n", priority, delay_s, ttr_s, len);
  return queue_command(conn, BEANSTALK_PUT, tag, line, (size_t)n, data ? data : "", len);
}

int beanstalk_reserve_with_timeout(beanstalk_conn_t *conn, uint32_t timeout_s, void *tag) {
  char line[48];
  int n = snprintf(line, sizeof line, "reserve-with-timeout %u\r\n", timeout_s);
  return queue_command(conn, BEANSTALK_RESERVE, tag, line, (size_t)n, NULL, 0);
}

int beanstalk_delete(beanstalk_conn_t *conn, uint64_t id, void *tag) {
  char line[48];
  int n = snprintf(line, sizeof line, "delete %llu\r\n", (unsigned long long)id);
  return queue_command(conn, BEANSTALK_DELETE, tag, line, (size_t)n, NULL, 0);
}

int beanstalk_flush(beanstalk_conn_t *c) {
  size_t sent = 0;
  while (sent < c->out_len) {
    ssize_t n = send(c->fd, c->out + sent, c->out_len - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return conn_fail(c, "write failed: %s", strerror(errno));
    sent += (size_t)n;
  }
  c->out_len = 0;
  return 0;
}

/* ------------------------------------------------------------ replies */

int beanstalk_read(beanstalk_conn_t *c, int block) {
  if (c->in_start > 0 && c->in_start == c->in_len) c->in_start = c->in_len = 0;
  if (c->in_start > c->in_cap / 2) {
    memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
    c->in_len -= c->in_start;
    c->in_start = 0;
  }
  if (c->in_cap - c->in_len < BEANSTALK_READ_CHUNK) {
    size_t cap = c->in_cap ? c->in_cap * 2 : 2 * BEANSTALK_READ_CHUNK;
    char *grown = realloc(c->in, cap);
    if (grown == NULL) return conn_fail(c, "out of memory");
    c->in = grown;
    c->in_cap = cap;
  }
  for (;;) {
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, block ? 0 : MSG_DONTWAIT);
    if (n > 0) {
      c->in_len += (size_t)n;
      return (int)n;
    }
    if (n == 0) return conn_fail(c, "server closed the connection");
    if (errno == EINTR) continue;
    if (!block && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return conn_fail(c, "read failed: %s", strerror(errno));
  }
}

static const struct {
  const char *word;
  beanstalk_reply_kind_t kind;
  int has_id;
} reply_words[] = {
    {"INSERTED", BEANSTALK_INSERTED, 1},   {"BURIED", BEANSTALK_BURIED, 1},
    {"RESERVED", BEANSTALK_RESERVED, 1},   {"DELETED", BEANSTALK_DELETED, 0},
    {"TIMED_OUT", BEANSTALK_TIMED_OUT, 0}, {"DEADLINE_SOON", BEANSTALK_DEADLINE_SOON, 0},
    {"NOT_FOUND", BEANSTALK_NOT_FOUND, 0},
};

int beanstalk_next_reply(beanstalk_conn_t *c, beanstalk_reply_t *reply) {
  const char *start = c->in + c->in_start;
  size_t avail = c->in_len - c->in_start;
  const char *eol = avail >= 2 ? memmem(start, avail, "\r\n", 2) : NULL;
  if (eol == NULL) return 0;
  size_t line_len = (size_t)(eol - start);
  memset(reply, 0, sizeof *reply);
  snprintf(reply->line, sizeof reply->line, "%.*s", (int)line_len, start);
  reply->kind = BEANSTALK_ERROR;
  unsigned long long id = 0, bytes = 0;
  for (size_t i = 0; i < sizeof reply_words / sizeof reply_words[0]; i++) {
    size_t w = strlen(reply_words[i].word);
    if (line_len < w || memcmp(start, reply_words[i].word, w) != 0) continue;
    if (line_len > w && start[w] != ' ') continue;
    reply->kind = reply_words[i].kind;
    if (reply_words[i].has_id && sscanf(reply->line + w, " %llu", &id) != 1)
      return conn_fail(c, "reply '%s' without a job id", reply->line);
    break;
  }
  size_t consumed = line_len + 2;
  if (reply->kind == BEANSTALK_RESERVED) {
    if (sscanf(reply->line, "RESERVED %*u %llu", &bytes) != 1)
      return conn_fail(c, "reply '%s' without a size", reply->line);
    if (avail < consumed + bytes + 2) return 0; /* the body is not all here yet */
    reply->body = start + consumed;
    reply->body_len = (size_t)bytes;
    consumed += (size_t)bytes + 2;
  }
  if (c->ring_count == 0) return conn_fail(c, "unexpected reply '%s'", reply->line);
  pending_t p = c->ring[c->ring_head];
  c->ring_head = (c->ring_head + 1) % c->ring_cap;
  c->ring_count--;
  reply->command = p.command;
  reply->tag = p.tag;
  reply->id = id;
  c->in_start += consumed;
  return 1;
}
