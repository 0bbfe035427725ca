/* curve: CurveZMQ key material (Z85 text) and the socket options that use it.
 *
 * Every daemon and client of a secure cluster holds a key pair; the public
 * half is who it is (DESIGN.md, "Identity and roles"). Keys travel and are
 * stored as Z85 text, 40 characters (zmq_z85_encode of 32 bytes).
 *
 * Key files (written by `tally keys generate`, read by every program):
 *   NAME.key  mode 0600, two lines:  "public Z85\n" "secret Z85\n"
 *   NAME.pub  one line:              "Z85\n"
 * Lines starting with '#' and blank lines are ignored. A program that is
 * given a public key accepts either the 40 characters themselves or the
 * path of a file whose first key line holds them (a .pub or a .key file);
 * an existing file wins over 40 characters that happen to be valid Z85.
 */
#ifndef TALLY_CURVE_H
#define TALLY_CURVE_H

#include <stddef.h>

#define CURVE_Z85_LEN 40

typedef struct {
  char public_key[CURVE_Z85_LEN + 1];
  char secret_key[CURVE_Z85_LEN + 1];
} curve_keypair_t;

/* What a connecting socket needs: its own pair and the server's public key. */
typedef struct {
  curve_keypair_t self;
  char server_key[CURVE_Z85_LEN + 1];
} curve_client_t;

/* True when libzmq was built with CURVE (Debian's is). */
int curve_available(void);

/* True when `z85` is exactly 40 Z85 characters that decode to 32 bytes. */
int curve_key_is_valid(const char *z85);

/* Makes a fresh key pair. Returns 0 or TALLY_E_INTERNAL (no CURVE). */
int curve_keypair_generate(curve_keypair_t *out);

/* Reads a .key file. Returns 0, TALLY_E_IO (cannot read; errno kept),
 * TALLY_E_INVALID_ARGUMENT (not a key file, or the two halves do not
 * belong together). */
int curve_keypair_load(curve_keypair_t *out, const char *path);

/* Writes `kp` to key_path (0600, replaced atomically) and, when pub_path is
 * not NULL, its public half to pub_path (0644). Returns 0 or TALLY_E_IO. */
int curve_keypair_save(const curve_keypair_t *kp, const char *key_path, const char *pub_path);

/* Loads key_path, or when it does not exist generates a pair and saves it
 * there (and its public half beside it, same name with ".pub" for ".key").
 * For daemons that make their own key on first start. Errors as above. */
int curve_keypair_load_or_create(curve_keypair_t *out, const char *key_path);

/* Parses a public key given as 40 Z85 characters or as the path of a .pub
 * or .key file. Writes the 40 characters and a NUL to out. Returns 0 or
 * TALLY_E_INVALID_ARGUMENT (neither a key nor a readable key file). */
int curve_public_parse(char out[CURVE_Z85_LEN + 1], const char *key_or_path);

/* Socket options. A server socket (ROUTER) answers CURVE handshakes with
 * `self` and asks the process's ZAP handler (zap.h) about every client key;
 * a client socket (DEALER) authenticates with client->self to
 * client->server_key. Both return 0 or TALLY_E_TRANSPORT. */
int curve_setup_server(void *socket, const curve_keypair_t *self);
int curve_setup_client(void *socket, const curve_client_t *client);

#endif
