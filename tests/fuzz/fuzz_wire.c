/* fuzz_wire: the envelope decoder (common/wire.c) on arbitrary bytes.
 *
 * Covers wire_decode's size, version and body checks and protobuf-c's
 * unpacking of every message type reachable from tally.Envelope. For every
 * envelope that decodes, it checks wire.h's contracts: on error *out is
 * NULL; a decoded envelope has the protocol version and a body; it encodes
 * again (wire_encode) and that encoding is a fixed point (decode + encode
 * gives the same bytes), so nothing decoded is lost or invented on the way
 * back out; wire_body_name names it; an error reply to its request id
 * encodes.
 */
#include "fuzz_support.h"
#include "tally_error.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Tally__Envelope *env = NULL;
  uint64_t request_id = 1;
  int rc = wire_decode(data, size, &env, &request_id);
  if (rc < 0) {
    fuzz_check(env == NULL);
    fuzz_check(rc == TALLY_E_BAD_REQUEST || rc == TALLY_E_UNSUPPORTED_VERSION ||
               rc == TALLY_E_TOO_LARGE);
  } else {
    fuzz_check(rc == 0 && env != NULL);
    fuzz_check(env->version == TALLY_PROTOCOL_VERSION);
    fuzz_check(env->body_case != TALLY__ENVELOPE__BODY__NOT_SET);
    fuzz_check(request_id == env->request_id);
    fuzz_check(strcmp(wire_body_name(env), "none") != 0);

    uint8_t *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0;
    Tally__Envelope *again = NULL;
    fuzz_check(wire_encode(env, &first, &first_len) == 0);
    fuzz_check(wire_decode(first, first_len, &again, NULL) == 0);
    fuzz_check(wire_encode(again, &second, &second_len) == 0);
    fuzz_check(first_len == second_len && memcmp(first, second, first_len) == 0);
    free(first);
    free(second);
    wire_envelope_free(&again);
    wire_envelope_free(&env);
    fuzz_check(env == NULL);
  }

  /* The reply a daemon sends to whatever could not be served. */
  Tally__Envelope reply;
  Tally__ErrorReply error;
  uint8_t *buf = NULL;
  size_t len = 0;
  wire_error_init(&reply, &error, request_id, rc < 0 ? rc : TALLY_E_INTERNAL, NULL);
  fuzz_check(wire_encode(&reply, &buf, &len) == 0);
  free(buf);
  return 0;
}
