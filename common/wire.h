/* wire: the versioned envelope of the Tally protocol (proto/tally.proto).
 *
 * One ZeroMQ frame carries one serialized tally.Envelope. This module
 * encodes and decodes envelopes with the size limit applied, and builds the
 * error replies every daemon sends. docs/PROTOCOL.md describes the format.
 */
#ifndef TALLY_WIRE_H
#define TALLY_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "tally.pb-c.h"

/* Protocol version spoken by this build. Daemons refuse other versions with
 * UNSUPPORTED_VERSION. */
#define TALLY_PROTOCOL_VERSION 1u

/* Largest envelope a daemon or client accepts: larger ones get TOO_LARGE. */
#define TALLY_MAX_MESSAGE_BYTES (8u * 1024u * 1024u)

/* ZMQ_MAXMSGSIZE set on every socket: ZeroMQ drops the connection of a peer
 * that sends more, before the message reaches the application. */
#define TALLY_HARD_MESSAGE_BYTES (4u * TALLY_MAX_MESSAGE_BYTES)

/* Decodes `len` bytes into *out (caller frees with wire_envelope_free).
 * Errors: TOO_LARGE (len over the limit), BAD_REQUEST (not an envelope, no
 * body, or a field numbered 0 anywhere: see wire.c), UNSUPPORTED_VERSION. On error *out is NULL and, when the bytes
 * could be parsed far enough, *request_id holds the sender's request id
 * (else 0). */
int wire_decode(const void *data, size_t len, Tally__Envelope **out, uint64_t *request_id);

/* Frees an envelope from wire_decode; safe on NULL; sets *env to NULL. */
void wire_envelope_free(Tally__Envelope **env);

/* Serializes `env` into a new malloc'ed buffer (*buf, caller frees).
 * Returns 0 or TALLY_E_NOMEM / TALLY_E_TOO_LARGE. */
int wire_encode(const Tally__Envelope *env, uint8_t **buf, size_t *len);

/* Fills caller-owned `env` and `err` as an error reply to `request_id`.
 * `message` is borrowed and must outlive the encode; NULL uses
 * tally_strerror(code). */
void wire_error_init(Tally__Envelope *env, Tally__ErrorReply *err, uint64_t request_id,
                     int code, const char *message);

/* Fills caller-owned `env` with version and request id and no body yet. */
void wire_envelope_init(Tally__Envelope *env, uint64_t request_id);

/* Name of the envelope's body case ("lease", "submit", ...), for logs. */
const char *wire_body_name(const Tally__Envelope *env);

#endif
