/* wire: envelope encode/decode and error replies. See wire.h. */
#include "wire.h"

#include <stdlib.h>

#include "tally_error.h"

int wire_decode(const void *data, size_t len, Tally__Envelope **out, uint64_t *request_id) {
  *out = NULL;
  if (request_id) *request_id = 0;
  if (len > TALLY_MAX_MESSAGE_BYTES) return TALLY_E_TOO_LARGE;
  Tally__Envelope *env = tally__envelope__unpack(NULL, len, data);
  if (env == NULL) return TALLY_E_BAD_REQUEST;
  if (request_id) *request_id = env->request_id;
  if (env->version != TALLY_PROTOCOL_VERSION) {
    tally__envelope__free_unpacked(env, NULL);
    return TALLY_E_UNSUPPORTED_VERSION;
  }
  if (env->body_case == TALLY__ENVELOPE__BODY__NOT_SET) {
    tally__envelope__free_unpacked(env, NULL);
    return TALLY_E_BAD_REQUEST;
  }
  *out = env;
  return 0;
}

void wire_envelope_free(Tally__Envelope **env) {
  if (env == NULL || *env == NULL) return;
  tally__envelope__free_unpacked(*env, NULL);
  *env = NULL;
}

int wire_encode(const Tally__Envelope *env, uint8_t **buf, size_t *len) {
  size_t size = tally__envelope__get_packed_size(env);
  if (size > TALLY_MAX_MESSAGE_BYTES) return TALLY_E_TOO_LARGE;
  uint8_t *out = malloc(size ? size : 1);
  if (out == NULL) return TALLY_E_NOMEM;
  *len = tally__envelope__pack(env, out);
  *buf = out;
  return 0;
}

void wire_envelope_init(Tally__Envelope *env, uint64_t request_id) {
  tally__envelope__init(env);
  env->version = TALLY_PROTOCOL_VERSION;
  env->request_id = request_id;
}

void wire_error_init(Tally__Envelope *env, Tally__ErrorReply *err, uint64_t request_id,
                     int code, const char *message) {
  wire_envelope_init(env, request_id);
  tally__error_reply__init(err);
  err->code = (Tally__ErrorCode)tally_error_to_wire(code);
  err->message = (char *)(message ? message : tally_strerror(code));
  env->body_case = TALLY__ENVELOPE__BODY_ERROR;
  env->error = err;
}

const char *wire_body_name(const Tally__Envelope *env) {
  const ProtobufCFieldDescriptor *field =
      protobuf_c_message_descriptor_get_field(&tally__envelope__descriptor, env->body_case);
  return field ? field->name : "none";
}
