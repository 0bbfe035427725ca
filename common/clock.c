/* clock: see clock.h. */
#define _POSIX_C_SOURCE 200809L
#include "clock.h"

#include <time.h>

static uint64_t clock_read_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t clock_now_ms(void) { return clock_read_ms(CLOCK_REALTIME); }

uint64_t clock_monotonic_ms(void) { return clock_read_ms(CLOCK_MONOTONIC); }
