/* ident: identifier rules and safe text. See ident.h. */
#include "ident.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_error.h"

size_t ident_utf8_decode(const unsigned char *s, size_t avail, uint32_t *code_point) {
  size_t len;
  uint32_t cp, min;
  if (avail == 0) return 0;
  if (s[0] < 0x80) {
    *code_point = s[0];
    return 1;
  } else if ((s[0] & 0xe0) == 0xc0) {
    len = 2, cp = s[0] & 0x1f, min = 0x80;
  } else if ((s[0] & 0xf0) == 0xe0) {
    len = 3, cp = s[0] & 0x0f, min = 0x800;
  } else if ((s[0] & 0xf8) == 0xf0) {
    len = 4, cp = s[0] & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (len > avail) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  *code_point = cp;
  return len;
}

int ident_is_control(uint32_t cp) { return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0); }

/* The safe form of the character at s (at most `avail` bytes) into
 * piece[4]: returns the input bytes used and sets *piece_len. */
static size_t sanitize_piece(const unsigned char *s, size_t avail, char piece[4],
                             size_t *piece_len) {
  static const char hex[] = "0123456789abcdef";
  uint32_t cp;
  size_t n = ident_utf8_decode(s, avail, &cp);
  if (n == 0) {
    memcpy(piece, "\xEF\xBF\xBD", 3); /* U+FFFD for the one bad byte */
    *piece_len = 3;
    return 1;
  }
  if (ident_is_control(cp)) {
    piece[0] = '\\', piece[1] = 'x', piece[2] = hex[(cp >> 4) & 15], piece[3] = hex[cp & 15];
    *piece_len = 4;
    return n;
  }
  memcpy(piece, s, n);
  *piece_len = n;
  return n;
}

/* The safe form of the first `len` bytes of s into out[out_size]
 * (out_size >= 4), reading at most `max_bytes` of them when non-zero. When
 * everything fits it is written whole; otherwise as much as fits with
 * room for "..." and the NUL. */
static size_t sanitize(const unsigned char *s, size_t len, size_t max_bytes, char *out,
                       size_t out_size) {
  size_t limit = max_bytes != 0 && max_bytes < len ? max_bytes : len;
  size_t total = 0, i = 0;
  char piece[4];
  size_t piece_len;
  while (i < limit) {
    i += sanitize_piece(s + i, len - i, piece, &piece_len);
    total += piece_len;
  }
  int cut = i < len || total + 1 > out_size;
  size_t room = cut ? out_size - 4 : out_size - 1, used = 0;
  for (i = 0; i < limit;) {
    size_t n = sanitize_piece(s + i, len - i, piece, &piece_len);
    if (used + piece_len > room) break;
    memcpy(out + used, piece, piece_len);
    used += piece_len;
    i += n;
  }
  if (cut) {
    memcpy(out + used, "...", 3);
    used += 3;
  }
  out[used] = '\0';
  return used;
}

size_t ident_sanitize(const char *text, size_t max_bytes, char *out, size_t out_size) {
  if (out_size < 4) {
    if (out_size > 0) out[0] = '\0';
    return 0;
  }
  if (text == NULL) text = "";
  return sanitize((const unsigned char *)text, strlen(text), max_bytes, out, out_size);
}

char *ident_sanitize_dup(const char *text, size_t len) {
  size_t size = len * 4 + 4; /* at most 4 bytes out per byte in, never cut */
  char *out = malloc(size);
  if (out == NULL) return NULL;
  sanitize((const unsigned char *)(text ? text : ""), text ? len : 0, 0, out, size);
  return out;
}

/* Writes the formatted reason and returns TALLY_E_INVALID_ARGUMENT. */
__attribute__((format(printf, 3, 4))) static int invalid(char *why, size_t why_size,
                                                         const char *fmt, ...) {
  if (why != NULL && why_size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
  }
  return TALLY_E_INVALID_ARGUMENT;
}

int ident_check(const char *what, const char *value, size_t max_bytes, char *why,
                size_t why_size) {
  char quoted[64 * 4 + 8];
  const unsigned char *s = (const unsigned char *)(value ? value : "");
  size_t len = strlen((const char *)s);
  if (len == 0) return invalid(why, why_size, "%s is empty", what);
  ident_sanitize((const char *)s, 64, quoted, sizeof quoted);
  if (len > max_bytes)
    return invalid(why, why_size, "%s '%s' is %zu bytes long, more than %zu", what, quoted, len,
                   max_bytes);
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = ident_utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      return invalid(why, why_size, "%s '%s' is not valid UTF-8 (byte %zu)", what, quoted, i);
    if (ident_is_control(cp))
      return invalid(why, why_size, "%s '%s' contains a control character (U+%04X)", what,
                     quoted, (unsigned)cp);
    i += n;
  }
  return 0;
}

int ident_utf8_is_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t at = 0;
  while (at < len) {
    uint32_t code_point;
    size_t n = ident_utf8_decode(p + at, len - at, &code_point);
    if (n == 0) return 0;
    at += n;
  }
  return 1;
}
