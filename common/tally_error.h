/* tally_error: the one error model of Tally.
 *
 * Every public function of every layer returns 0 (or a non-negative count)
 * on success and a negative TALLY_E* code on failure. The codes are the
 * negated wire ErrorCode values of proto/tally.proto, so an error crosses the
 * network unchanged: tally_error_to_wire() and tally_error_from_wire() convert.
 * tally_strerror() gives the message for any code; it never returns NULL.
 */
#ifndef TALLY_ERROR_H
#define TALLY_ERROR_H

#define TALLY_ERROR_MAP(X)                                                   \
  X(BAD_REQUEST, 1, "malformed request")                                     \
  X(UNSUPPORTED_VERSION, 2, "unsupported protocol version")                  \
  X(TOO_LARGE, 3, "message too large")                                       \
  X(UNKNOWN_TYPE, 4, "unknown message type")                                 \
  X(UNKNOWN_PROJECT, 5, "unknown project")                                   \
  X(UNKNOWN_MARKET, 6, "unknown market")                                     \
  X(UNKNOWN_LABELER, 7, "unknown labeler")                                   \
  X(NOT_QUALIFIED, 8, "labeler not qualified for this work")                 \
  X(LABEL_NOT_IN_TAXONOMY, 9, "label not in the project's taxonomy")         \
  X(STALE_LEASE, 10, "lease expired or unknown")                             \
  X(NOT_LEASE_OWNER, 11, "lease belongs to someone else")                    \
  X(MOVED, 12, "slot moved to another worker")                               \
  X(UNAVAILABLE, 13, "temporarily unavailable, retry")                       \
  X(ALREADY_EXISTS, 14, "already exists")                                    \
  X(INTERNAL, 15, "internal error")                                          \
  X(STORAGE, 16, "storage error")                                            \
  X(INVALID_ARGUMENT, 17, "invalid argument")                                \
  X(NOT_FOUND, 18, "not found")                                              \
  X(NO_SPACE, 19, "no space left on the worker's disk; writes refused")    \
  X(PERMISSION_DENIED, 20, "permission denied")                              \
  X(UNAUTHENTICATED, 21, "not authenticated")                                \
  X(RATE_LIMITED, 22, "rate limited, retry later")                           \
  X(LEASE_LOST, 23, "lease lost when the worker restarted; the task was offered again") \
  X(CLOSED, 26, "closed: past its deadline or closed by a lead")             \
  X(NOT_LEADER, 27, "not the leader coordinator; retry at the leader")        \
  X(FENCED, 28, "fenced: the sender is no longer the slot's primary")        \
  X(TIMEOUT, 100, "timed out waiting for a reply")                           \
  X(NOMEM, 101, "out of memory")                                             \
  X(IO, 102, "input/output error")                                           \
  X(TRANSPORT, 103, "transport error")

#define TALLY_ERROR_ENUM_(name, num, msg) TALLY_E_##name = -(num),
typedef enum { TALLY_OK = 0, TALLY_ERROR_MAP(TALLY_ERROR_ENUM_) } tally_error_t;
#undef TALLY_ERROR_ENUM_

/* Message for `code` (0 or negative). Unknown codes yield "unknown error". */
const char *tally_strerror(int code);

/* Symbolic name ("STALE_LEASE") for `code`; "OK" for 0. */
const char *tally_error_name(int code);

/* Wire ErrorCode (positive) for a negative code; codes >= 100 map to INTERNAL
 * except TIMEOUT/TRANSPORT which never cross the wire (mapped to UNAVAILABLE). */
int tally_error_to_wire(int code);

/* Negative code for a wire ErrorCode; unknown wire codes map to TALLY_E_INTERNAL. */
int tally_error_from_wire(int wire_code);

/* True when a client may retry the same request (MOVED, UNAVAILABLE, TIMEOUT). */
int tally_error_is_retryable(int code);

#endif
