/* wire: envelope encode/decode and error replies. See wire.h. */
#include "wire.h"

#include <stdlib.h>

#include "tally_error.h"

/* True when `m` or a message inside it holds an unknown field numbered 0.
 * protobuf-c 1.4 accepts one whose tag is written in more bytes than needed
 * (0x82 0x00) but writes it back in the short form (0x02), which it then
 * refuses; so a message holding one cannot be copied by pack + unpack, as
 * the daemons copy what they keep (the coordinator answered a heartbeat
 * with such a backlog hint "out of memory"). No valid message has a field
 * 0. Depth is bounded: tally.proto has no recursive message. */
static int message_has_field_zero(const ProtobufCMessage *m) {
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0) return 1;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + f->offset);
      for (size_t k = 0; k < n; k++)
        if (message_has_field_zero(items[k])) return 1;
      continue;
    }
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + f->quantifier_offset) != f->id)
      continue; /* another member of the oneof is set */
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
    if (sub != NULL && message_has_field_zero(sub)) return 1;
  }
  return 0;
}

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
  if (env->body_case == TALLY__ENVELOPE__BODY__NOT_SET || message_has_field_zero(&env->base)) {
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
