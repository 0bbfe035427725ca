/* config_wait: replies held back until the workers run a configuration.
 *
 * A configuration change (a labeler's markets or roles, an audit policy)
 * reaches the workers through their heartbeats. Its reply is kept here,
 * encoded, with the client's routing id and the configuration version it
 * needs, and sent once the `reached` callback says every UP worker reported
 * that version (checked every CONFIG_WAIT_TICK_MS on the loop), or at the
 * deadline at the latest (then with a warning in the log): so a change
 * holds from the person's next lease, and a dead worker cannot hold a
 * reply longer than the bound.
 */
#ifndef TALLY_COORDINATOR_CONFIG_WAIT_H
#define TALLY_COORDINATOR_CONFIG_WAIT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tally.pb-c.h"

#define CONFIG_WAIT_DEFAULT_DEADLINE_MS 3000u
#define CONFIG_WAIT_TICK_MS 10u

typedef struct config_wait config_wait_t;

/* 1 when every UP worker runs `version` or later. */
typedef int (*config_wait_reached_fn)(void *user, uint64_t version);
/* Sends an encoded reply (borrowed) to peer (borrowed). */
typedef void (*config_wait_send_fn)(void *user, const uint8_t *peer, size_t peer_len,
                                    const uint8_t *data, size_t len);

/* A wait list on `loop`. *out is the caller's (config_wait_destroy).
 * Errors: TALLY_E_NOMEM. */
int config_wait_new(config_wait_t **out, uv_loop_t *loop, uint64_t deadline_ms,
                    config_wait_reached_fn reached, config_wait_send_fn send, void *user);

/* Sends every held reply now, closes the timer; safe on NULL; sets *wait
 * NULL. The loop must run once more (memory is freed in the close callback). */
void config_wait_destroy(config_wait_t **wait);

/* Holds `reply` (encoded here; borrowed) for `peer` until `version` is
 * reached. Sends at once when it is already reached. Returns 0 or
 * TALLY_E_NOMEM / TALLY_E_TOO_LARGE (then nothing was sent). */
int config_wait_add(config_wait_t *wait, const uint8_t *peer, size_t peer_len,
                    const Tally__Envelope *reply, uint64_t version);

/* Replies held (for tests and logs). */
size_t config_wait_pending(const config_wait_t *wait);

#endif
