/* ident: the one rule for identifiers that enter Tally from outside, and
 * the one way to make untrusted text safe to show.
 *
 * An identifier (item id, project name, labeler id, market, label) is
 * checked where it enters the system (worker ingest, coordinator project
 * and labeler create/update) with ident_check():
 *
 *   - 1 to max_bytes bytes (IDENT_ITEM_ID_MAX for item ids, which is the
 *     key encoding's limit; IDENT_NAME_MAX for names and labels);
 *   - valid UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF,
 *     no truncated sequence;
 *   - no control characters: C0 (U+0000-U+001F), DEL (U+007F) and C1
 *     (U+0080-U+009F).
 *
 * The coordinator adds stricter rules on top (coordinator/validate.h):
 * project names, labeler ids and markets are ASCII tokens, so 64 characters
 * are 64 bytes; labels use the UTF-8 and control-character rule here with a
 * cap of 64 code points (at most 256 bytes). The rule here is the floor
 * every daemon applies; the worker applies it to item ids at ingest.
 *
 * Text that came from outside (a request field, a stored value, a server's
 * reply) is passed through ident_sanitize() before it goes into an error
 * message, a log line or a terminal: the result is always valid UTF-8 with
 * no control characters, so it can neither break a protobuf string's
 * promise nor drive a terminal.
 */
#ifndef TALLY_COMMON_IDENT_H
#define TALLY_COMMON_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define IDENT_ITEM_ID_MAX 256u /* bytes; equals KEYS_ITEM_ID_MAX (keys.h) */
#define IDENT_NAME_MAX 64u     /* bytes; project names, labeler ids, markets, labels */

/* Decodes one UTF-8 sequence of at most `avail` bytes at s. Returns its
 * length (1-4) and *code_point, or 0 when the bytes are not valid UTF-8
 * (overlong, surrogate, above U+10FFFF, truncated or a stray continuation
 * byte). */
size_t ident_utf8_decode(const unsigned char *s, size_t avail, uint32_t *code_point);

/* True when the `len` bytes at s are valid UTF-8 (control characters
 * allowed: for free text such as content and notes). */
int ident_utf8_is_valid(const char *s, size_t len);

/* True for the control characters: C0, DEL and C1. */
int ident_is_control(uint32_t code_point);

/* Checks `value` (NUL-terminated) against the rules above. Returns 0, or
 * TALLY_E_INVALID_ARGUMENT with a one-line reason in why[why_size] that
 * names `what` ("item id") and quotes the value sanitized. `why` may be
 * NULL. */
int ident_check(const char *what, const char *value, size_t max_bytes, char *why,
                size_t why_size);

/* Copies at most `max_bytes` bytes' worth of `text` into out[out_size],
 * made safe to show: every invalid UTF-8 byte becomes U+FFFD, every control
 * character becomes the visible text "\xNN" (a C1 character U+0080-U+009F
 * also \xNN with NN its code point), and when something was cut "..." ends
 * the result. Cuts fall between characters. The result is always
 * NUL-terminated valid UTF-8 without control characters; out_size must be
 * at least 4. `max_bytes` counts input bytes; 0 means no limit but
 * out_size. Returns the length written (without the NUL). */
size_t ident_sanitize(const char *text, size_t max_bytes, char *out, size_t out_size);

/* Like ident_sanitize() on the first `len` bytes of `text` (which may hold
 * NULs; a NUL is a control character and is shown as \x00), with no input
 * limit: the result is malloc'ed and the caller's to free. NULL when out of
 * memory. */
char *ident_sanitize_dup(const char *text, size_t len);

#endif
