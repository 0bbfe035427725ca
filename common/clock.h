/* clock: wall and monotonic milliseconds. */
#ifndef TALLY_CLOCK_H
#define TALLY_CLOCK_H

#include <stdint.h>

/* Unix time in milliseconds (CLOCK_REALTIME). Lease deadlines use it because
 * they must survive a restart. */
uint64_t clock_now_ms(void);

/* Monotonic milliseconds, for timeouts inside one process. */
uint64_t clock_monotonic_ms(void);

#endif
