/*
 * clock: the project's clock readings in milliseconds, and deadlines for
 * pthread_cond_timedwait (which measures CLOCK_REALTIME unless told otherwise).
 * Pure reads of the system clocks: no state, any thread.
 */
#ifndef MEMDUMP_CLOCK_H
#define MEMDUMP_CLOCK_H

#include <time.h>

/* Wall-clock time in ms since the epoch (timestamps, InfluxDB times, expiries). */
long long clock_realtime_ms(void);
/* A clock that never jumps, in ms from an arbitrary origin (intervals, timeouts). */
long long clock_monotonic_ms(void);
/* The CLOCK_REALTIME instant ms milliseconds from now (ms >= 0), normalised. */
struct timespec clock_deadline_ms(long long ms);

#endif
