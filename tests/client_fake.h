/* client_fake: the plumbing of fake Tally daemons for client tests.
 *
 * One thread serves ZeroMQ ROUTER sockets on loopback: index 0 is the fake
 * coordinator, 1..workers the fake workers. Every request is decoded and
 * handed to the test's handler with the fake's lock held (tests take the
 * same lock with fake_lock() to read or change what the handler uses). The
 * reply helpers send an envelope back to the requester.
 */
#ifndef TALLY_TEST_CLIENT_FAKE_H
#define TALLY_TEST_CLIENT_FAKE_H

#include <stdint.h>
#include <zmq.h>

#include "tally.pb-c.h"

#define FAKE_MAX_SOCKETS 8

typedef struct fake fake_t;

/* Called for each decoded request on socket `index` (0 = coordinator). */
typedef void (*fake_handler_t)(void *arg, int index, void *socket, zmq_msg_t *identity, const Tally__Envelope *req);

/* Binds 1 + workers sockets and starts serving. NULL on failure. */
fake_t *fake_start(int workers, fake_handler_t handler, void *arg);

/* Stops the thread and closes everything; safe on NULL; sets *f NULL. */
void fake_stop(fake_t **f);

/* tcp://127.0.0.1:PORT of socket `index`. */
const char *fake_endpoint(const fake_t *f, int index);

void fake_lock(fake_t *f);
void fake_unlock(fake_t *f);

/* Replies with `env` (request id as set in it). */
void fake_reply(void *socket, zmq_msg_t *identity, Tally__Envelope *env);

/* Replies with an ErrorReply of `code` (negative TALLY_E_*). */
void fake_reply_error(void *socket, zmq_msg_t *identity, uint64_t request_id, int code, const char *message);

/* One worker as the fake coordinator's map describes it. */
typedef struct {
  uint32_t id;
  const char *endpoint;
  int down;
  uint32_t slots_owned; /* reported; slot_owner below decides routing */
} fake_map_worker_t;

/* Replies with a ClusterMap of `n` workers; slot_owner has
 * TALLY_SLOT_COUNT entries (worker ids, 0 = unassigned). */
void fake_reply_map(void *socket, zmq_msg_t *identity, uint64_t request_id, uint64_t epoch,
                    const fake_map_worker_t *workers, size_t n, uint32_t *slot_owner);

#endif
