/* beanstalk_client: a minimal pipelining client of beanstalkd's text
 * protocol (https://github.com/beanstalkd/beanstalkd/blob/master/doc/protocol.txt),
 * for the peer comparison of the benchmarks.
 *
 * Only what the benchmark does: put, reserve-with-timeout and delete, on
 * the default tube, over one TCP connection. Commands are appended to a
 * write buffer with the caller's tag and sent by beanstalk_flush(); the
 * server answers the commands of one connection in order, so replies are
 * matched to their tags by a FIFO. Many commands may be in flight at once.
 *
 * Errors: functions return 0 (or a count) or -1 with a message available
 * from beanstalk_error(); after a -1 from a read or write the connection is
 * unusable (close it).
 */
#ifndef BENCH_BEANSTALK_CLIENT_H
#define BENCH_BEANSTALK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct beanstalk_conn beanstalk_conn_t;

typedef enum {
  BEANSTALK_PUT = 1,
  BEANSTALK_RESERVE = 2,
  BEANSTALK_DELETE = 3
} beanstalk_command_t;

/* Server replies (the first word of the reply line). */
typedef enum {
  BEANSTALK_INSERTED = 1,  /* put: id */
  BEANSTALK_BURIED,        /* put: id (server out of memory for the ready queue) */
  BEANSTALK_RESERVED,      /* reserve: id and body */
  BEANSTALK_DELETED,       /* delete */
  BEANSTALK_TIMED_OUT,     /* reserve: nothing ready within the timeout */
  BEANSTALK_DEADLINE_SOON, /* reserve: a job this connection holds is about to time out */
  BEANSTALK_NOT_FOUND,     /* delete: no such job reserved by this connection */
  BEANSTALK_ERROR          /* OUT_OF_MEMORY, INTERNAL_ERROR, BAD_FORMAT, JOB_TOO_BIG, ... */
} beanstalk_reply_kind_t;

typedef struct {
  beanstalk_command_t command; /* the command this answers */
  void *tag;                   /* as given with the command */
  beanstalk_reply_kind_t kind;
  uint64_t id;      /* INSERTED, BURIED, RESERVED */
  const char *body; /* RESERVED: the job's data (not NUL-terminated) */
  size_t body_len;
  char line[64];    /* the reply line, for messages */
} beanstalk_reply_t;

/* Connects to host:port (numeric IPv4 or a name) with TCP_NODELAY.
 * Returns 0 with *out, or -1 (message on stderr). */
int beanstalk_connect(beanstalk_conn_t **out, const char *host, int port);

/* Closes and frees; safe on NULL; sets *conn to NULL. */
void beanstalk_close(beanstalk_conn_t **conn);

/* Message of the last failure on `conn` (borrowed). */
const char *beanstalk_error(const beanstalk_conn_t *conn);

/* Queue a command (sent by the next beanstalk_flush()). Return 0 or -1
 * (out of memory). */
int beanstalk_put(beanstalk_conn_t *conn, uint32_t priority, uint32_t delay_s, uint32_t ttr_s,
                  const void *data, size_t len, void *tag);
int beanstalk_reserve_with_timeout(beanstalk_conn_t *conn, uint32_t timeout_s, void *tag);
int beanstalk_delete(beanstalk_conn_t *conn, uint64_t id, void *tag);

/* Writes every queued command (blocking). Returns 0 or -1. */
int beanstalk_flush(beanstalk_conn_t *conn);

/* Commands sent or queued whose replies have not been returned yet. */
size_t beanstalk_in_flight(const beanstalk_conn_t *conn);

/* Reads what the server sent; with `block`, waits until at least one byte
 * arrives. Returns the number of bytes read (0: nothing without block), or
 * -1 (connection closed or failed). */
int beanstalk_read(beanstalk_conn_t *conn, int block);

/* Parses the next complete reply from what was read. Returns 1 with *reply
 * (its body is valid until the next beanstalk_read()), 0 when more data is
 * needed, or -1 (a reply nobody asked for, or one that does not parse). */
int beanstalk_next_reply(beanstalk_conn_t *conn, beanstalk_reply_t *reply);

#endif
