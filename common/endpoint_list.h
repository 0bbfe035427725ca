/* endpoint_list: a comma-separated list of coordinator endpoints, as every
 * program that talks to the coordinator accepts it (worker --coordinator,
 * libtally, the CLI's --coordinator / TALLY_COORDINATOR, the gateway):
 * "tcp://10.0.0.1:7400,tcp://10.0.0.2:7400,tcp://10.0.0.3:7400".
 *
 * With replicated coordinators (tally-coordinator --raft-id) only the
 * leader serves; the others answer NOT_LEADER naming the leader's endpoint.
 * The list is where a caller starts, and what it goes through when nobody
 * names a leader: endpoint_list_next() after a pause.
 */
#ifndef TALLY_ENDPOINT_LIST_H
#define TALLY_ENDPOINT_LIST_H

#include <stddef.h>

#define ENDPOINT_LIST_MAX 7
#define ENDPOINT_LIST_MAX_LEN 255

typedef struct {
  char items[ENDPOINT_LIST_MAX][ENDPOINT_LIST_MAX_LEN + 1];
  size_t count;
  size_t current; /* index of the endpoint in use */
} endpoint_list_t;

/* Parses `text` (entries separated by commas; spaces around them are
 * dropped). Returns 0, or TALLY_E_INVALID_ARGUMENT: empty, an empty entry,
 * more than ENDPOINT_LIST_MAX entries, one longer than
 * ENDPOINT_LIST_MAX_LEN. */
int endpoint_list_parse(endpoint_list_t *out, const char *text);

/* The endpoint in use (borrowed). */
const char *endpoint_list_current(const endpoint_list_t *list);

/* Moves to the next endpoint (round robin); returns it. */
const char *endpoint_list_next(endpoint_list_t *list);

/* Makes `endpoint` the one in use: its index when listed, else it
 * replaces the current entry's text for now (a leader named by NOT_LEADER
 * that the list does not hold). Returns 0, or TALLY_E_INVALID_ARGUMENT
 * (empty or too long: nothing changes). */
int endpoint_list_use(endpoint_list_t *list, const char *endpoint);

#endif
