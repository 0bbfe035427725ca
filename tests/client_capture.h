/* client_capture: run `tally` commands in-process with stdout and stderr
 * going to memory, for the CLI tests. Header-only. */
#ifndef TALLY_TEST_CLIENT_CAPTURE_H
#define TALLY_TEST_CLIENT_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A cli_t whose stdout and stderr go to memory. */
typedef struct {
  cli_t cli;
  char *out, *err;
  size_t out_len, err_len;
} capture_t;

/* coordinator NULL: an endpoint nothing listens on (for tests that never
 * connect). */
static inline void capture_open_at(capture_t *c, const char *coordinator) {
  memset(c, 0, sizeof *c);
  cli_init(&c->cli);
  c->cli.coordinator = coordinator ? coordinator : "tcp://127.0.0.1:1";
  /* The fake servers speak plain ZeroMQ; a harness cluster sets TALLY_KEY. */
  c->cli.insecure = c->cli.key_file == NULL;
  c->cli.out = open_memstream(&c->out, &c->out_len);
  c->cli.err = open_memstream(&c->err, &c->err_len);
}

static inline void capture_open(capture_t *c) { capture_open_at(c, NULL); }

static inline void capture_close(capture_t *c) {
  fclose(c->cli.out);
  fclose(c->cli.err);
  cli_finish(&c->cli);
  free(c->out);
  free(c->err);
}

static inline void capture_flush(capture_t *c) {
  fflush(c->cli.out);
  fflush(c->cli.err);
}

/* Builds argv from a NULL-terminated list (getopt permutes it, so copy). */
#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
static inline int argc_of(char **argv) {
  int n = 0;
  while (argv[n]) n++;
  return n;
}

/* The whole program on `argv` (argv[0] "tally"); output captured. The
 * caller closes the capture. */
static inline int capture_run(capture_t *c, const char *coordinator, char **argv) {
  capture_open_at(c, coordinator);
  int rc = cli_main(&c->cli, argc_of(argv), argv);
  capture_flush(c);
  return rc;
}

#endif
