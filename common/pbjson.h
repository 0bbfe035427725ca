/* pbjson: a protobuf-c message as JSON text, for logs people read (the
 * coordinator's administrative log records old and new values this way).
 *
 * Field names as in the .proto; enums by name; bytes as their length
 * ("<N bytes>"); fields at their default value (0, "", false, empty
 * repeated) are left out, as proto3 does; nested messages recurse.
 */
#ifndef TALLY_PBJSON_H
#define TALLY_PBJSON_H

#include <protobuf-c/protobuf-c.h>

/* Returns the JSON text (compact, keys in field order), malloc'ed, the
 * caller's to free; "" (also malloc'ed) for NULL; NULL when out of memory. */
char *pbjson_encode(const ProtobufCMessage *message);

#endif
