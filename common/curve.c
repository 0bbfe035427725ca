/* curve: see curve.h. */
#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "tally_error.h"

int curve_available(void) { return zmq_has("curve") != 0; }

int curve_key_is_valid(const char *z85) {
  if (z85 == NULL || strlen(z85) != CURVE_Z85_LEN) return 0;
  uint8_t raw[32];
  return zmq_z85_decode(raw, z85) != NULL;
}

int curve_keypair_generate(curve_keypair_t *out) {
  memset(out, 0, sizeof *out);
  if (!curve_available() || zmq_curve_keypair(out->public_key, out->secret_key) != 0)
    return TALLY_E_INTERNAL;
  return 0;
}

/* Copies the next key line of `f` (skipping blanks and comments) into
 * line; returns 1, or 0 at the end. */
static int next_key_line(FILE *f, char *line, size_t size) {
  while (fgets(line, (int)size, f) != NULL) {
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0' || *p == '#') continue;
    memmove(line, p, strlen(p) + 1);
    return 1;
  }
  return 0;
}

/* "WORD Z85" or "Z85": the key part, validated, into out. */
static int key_of_line(const char *line, const char *word, char out[CURVE_Z85_LEN + 1]) {
  const char *key = line;
  if (word != NULL) {
    size_t n = strlen(word);
    if (strncmp(line, word, n) != 0 || (line[n] != ' ' && line[n] != '\t')) return -1;
    key = line + n;
    while (*key == ' ' || *key == '\t') key++;
  } else {
    const char *space = strpbrk(line, " \t");
    if (space != NULL) { /* "public Z85" in a .key file */
      key = space;
      while (*key == ' ' || *key == '\t') key++;
    }
  }
  if (!curve_key_is_valid(key)) return -1;
  memcpy(out, key, CURVE_Z85_LEN + 1);
  return 0;
}

int curve_keypair_load(curve_keypair_t *out, const char *path) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "r");
  if (f == NULL) return TALLY_E_IO;
  char line[256];
  int rc = TALLY_E_INVALID_ARGUMENT;
  if (next_key_line(f, line, sizeof line) && key_of_line(line, "public", out->public_key) == 0 &&
      next_key_line(f, line, sizeof line) && key_of_line(line, "secret", out->secret_key) == 0) {
    char derived[CURVE_Z85_LEN + 1];
    if (zmq_curve_public(derived, out->secret_key) == 0 &&
        strcmp(derived, out->public_key) == 0)
      rc = 0;
  }
  fclose(f);
  if (rc < 0) memset(out, 0, sizeof *out);
  return rc;
}

/* Writes `text` to path via a temporary file with `mode`. */
static int write_file(const char *path, const char *text, mode_t mode) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return TALLY_E_IO;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return TALLY_E_IO;
  size_t len = strlen(text);
  int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return TALLY_E_IO;
  }
  return 0;
}

int curve_keypair_save(const curve_keypair_t *kp, const char *key_path, const char *pub_path) {
  char text[256];
  snprintf(text, sizeof text,
           "# Tally CURVE key pair: keep this file secret (mode 0600)\n"
           "public %s\nsecret %s\n",
           kp->public_key, kp->secret_key);
  int rc = write_file(key_path, text, 0600);
  if (rc == 0 && pub_path != NULL) {
    snprintf(text, sizeof text, "%s\n", kp->public_key);
    rc = write_file(pub_path, text, 0644);
  }
  return rc;
}

int curve_keypair_load_or_create(curve_keypair_t *out, const char *key_path) {
  if (access(key_path, F_OK) == 0) return curve_keypair_load(out, key_path);
  int rc = curve_keypair_generate(out);
  if (rc < 0) return rc;
  char pub[4096];
  size_t n = strlen(key_path);
  if (n > 4 && strcmp(key_path + n - 4, ".key") == 0 && n < sizeof pub)
    snprintf(pub, sizeof pub, "%.*s.pub", (int)(n - 4), key_path);
  else if (snprintf(pub, sizeof pub, "%s.pub", key_path) >= (int)sizeof pub)
    return TALLY_E_IO;
  return curve_keypair_save(out, key_path, pub);
}

int curve_public_parse(char out[CURVE_Z85_LEN + 1], const char *key_or_path) {
  memset(out, 0, CURVE_Z85_LEN + 1);
  if (key_or_path == NULL) return TALLY_E_INVALID_ARGUMENT;
  /* A file first: a 40-character path can be valid Z85 too. */
  if (curve_key_is_valid(key_or_path) && access(key_or_path, F_OK) != 0) {
    memcpy(out, key_or_path, CURVE_Z85_LEN + 1);
    return 0;
  }
  FILE *f = fopen(key_or_path, "r");
  if (f == NULL) return TALLY_E_INVALID_ARGUMENT;
  char line[256];
  int rc = TALLY_E_INVALID_ARGUMENT;
  if (next_key_line(f, line, sizeof line) && key_of_line(line, NULL, out) == 0) rc = 0;
  fclose(f);
  return rc;
}

int curve_setup_server(void *socket, const curve_keypair_t *self) {
  int on = 1;
  const char *domain = "tally";
  if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &on, sizeof on) != 0 ||
      zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, self->secret_key, CURVE_Z85_LEN + 1) != 0 ||
      zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0)
    return TALLY_E_TRANSPORT;
  return 0;
}

int curve_setup_client(void *socket, const curve_client_t *c) {
  if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, c->server_key, CURVE_Z85_LEN + 1) != 0 ||
      zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, c->self.public_key, CURVE_Z85_LEN + 1) != 0 ||
      zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, c->self.secret_key, CURVE_Z85_LEN + 1) != 0)
    return TALLY_E_TRANSPORT;
  return 0;
}
