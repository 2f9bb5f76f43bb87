/*
 * clock: see clock.h. clock_gettime on these two clocks cannot fail on Linux,
 * so the readings have no error path.
 */
#include "clock.h"

static long long clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_realtime_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

long long clock_monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

struct timespec clock_deadline_ms(long long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
