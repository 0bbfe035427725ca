/* raft_peers: parsing of --peers. See raft_peers.h. */
#include "raft_peers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

static int refuse(char *why, size_t why_size, const char *format, const char *entry) {
  snprintf(why, why_size, format, entry);
  return TALLY_E_INVALID_ARGUMENT;
}

/* Copies text[0..len) into out (size RAFT_PEERS_MAX_ADDRESS + 1); -1 when too long or empty. */
static int copy_field(char *out, const char *text, size_t len) {
  if (len == 0 || len > RAFT_PEERS_MAX_ADDRESS) return -1;
  memcpy(out, text, len);
  out[len] = '\0';
  return 0;
}

/* True for HOST:PORT with a port in 1..65535 and no spaces. */
static int is_host_port(const char *address) {
  const char *colon = strrchr(address, ':');
  if (colon == NULL || colon == address || strchr(address, ' ') != NULL) return 0;
  char *end = NULL;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  return errno == 0 && *end == '\0' && end != colon + 1 && port >= 1 && port <= 65535;
}

/* Parses one entry text[0..len) into *peer. */
static int parse_entry(raft_peer_t *peer, const char *text, size_t len, char *why, size_t why_size) {
  char entry[3 * RAFT_PEERS_MAX_ADDRESS];
  if (len >= sizeof entry) return refuse(why, why_size, "--peers: an entry is too long%s", "");
  memcpy(entry, text, len);
  entry[len] = '\0';
  char *first = strchr(entry, '='), *second = first ? strchr(first + 1, '=') : NULL;
  if (first == NULL || second == NULL)
    return refuse(why, why_size, "--peers: '%s' is not ID=RAFT_HOST:PORT=CLIENT_ENDPOINT", entry);
  char *end = NULL;
  errno = 0;
  unsigned long long id = strtoull(entry, &end, 10);
  if (errno != 0 || end != first || entry[0] < '0' || entry[0] > '9' || id == 0 ||
      id > RAFT_PEERS_MAX_ID)
    return refuse(why, why_size, "--peers: '%s' needs an id from 1 to 1000000", entry);
  peer->id = id;
  if (copy_field(peer->raft_address, first + 1, (size_t)(second - first - 1)) < 0 ||
      !is_host_port(peer->raft_address))
    return refuse(why, why_size, "--peers: '%s' needs a Raft address HOST:PORT", entry);
  if (copy_field(peer->client_endpoint, second + 1, strlen(second + 1)) < 0 ||
      strchr(peer->client_endpoint, ',') != NULL)
    return refuse(why, why_size, "--peers: '%s' needs a client endpoint", entry);
  return 0;
}

int raft_peers_parse(raft_peers_t *out, const char *text, char *why, size_t why_size) {
  memset(out, 0, sizeof *out);
  const char *at = text;
  while (*at != '\0') {
    const char *comma = strchr(at, ',');
    size_t len = comma ? (size_t)(comma - at) : strlen(at);
    if (out->count == RAFT_PEERS_MAX)
      return refuse(why, why_size, "--peers: at most 7 coordinators%s", "");
    raft_peer_t *peer = &out->peers[out->count];
    int rc = parse_entry(peer, at, len, why, why_size);
    if (rc < 0) return rc;
    for (size_t i = 0; i < out->count; i++) {
      if (out->peers[i].id == peer->id)
        return refuse(why, why_size, "--peers: id of '%s' is given twice", peer->raft_address);
      if (strcmp(out->peers[i].raft_address, peer->raft_address) == 0)
        return refuse(why, why_size, "--peers: Raft address %s is given twice", peer->raft_address);
    }
    out->count++;
    at += len;
    if (*at == ',') at++;
  }
  if (out->count == 0) return refuse(why, why_size, "--peers: the list is empty%s", "");
  return 0;
}

const raft_peer_t *raft_peers_find(const raft_peers_t *peers, uint64_t id) {
  for (size_t i = 0; i < peers->count; i++)
    if (peers->peers[i].id == id) return &peers->peers[i];
  return NULL;
}
