/* raft_peers: the list of every coordinator of a replicated cluster, as
 * given with tally-coordinator --peers.
 *
 * Syntax: comma-separated entries ID=RAFT_HOST:PORT=CLIENT_ENDPOINT, e.g.
 *   1=10.0.0.1:7411=tcp://10.0.0.1:7400,2=10.0.0.2:7411=tcp://10.0.0.2:7400
 * ID is the Raft server id (1..RAFT_PEERS_MAX_ID, unique); RAFT_HOST:PORT
 * is where the others reach its Raft transport (an IPv4 address or host
 * name and a port); CLIENT_ENDPOINT is the ZeroMQ endpoint its clients and
 * workers use (its --bind), which followers name in NOT_LEADER replies.
 * Every coordinator of a cluster must be given the same list: it is the
 * Raft configuration they all bootstrap with on first start.
 */
#ifndef TALLY_COORDINATOR_RAFT_PEERS_H
#define TALLY_COORDINATOR_RAFT_PEERS_H

#include <stddef.h>
#include <stdint.h>

#define RAFT_PEERS_MAX 7
#define RAFT_PEERS_MAX_ID 1000000u
#define RAFT_PEERS_MAX_ADDRESS 255

typedef struct {
  uint64_t id;
  char raft_address[RAFT_PEERS_MAX_ADDRESS + 1];
  char client_endpoint[RAFT_PEERS_MAX_ADDRESS + 1];
} raft_peer_t;

typedef struct {
  raft_peer_t peers[RAFT_PEERS_MAX];
  size_t count;
} raft_peers_t;

/* Parses `text` into *out. Returns 0, or TALLY_E_INVALID_ARGUMENT with a
 * one-line reason in why[why_size] (an entry without both '=', an id that
 * is 0, too large or repeated, an address without a port, a repeated
 * address, more than RAFT_PEERS_MAX entries, a field that is too long). */
int raft_peers_parse(raft_peers_t *out, const char *text, char *why, size_t why_size);

/* The entry of server `id`, or NULL. */
const raft_peer_t *raft_peers_find(const raft_peers_t *peers, uint64_t id);

#endif
