/* clock.c: the monotonic clock in milliseconds (CLOCK_MONOTONIC). */
#include "autoconf.h"

#include <stdint.h>
#include <time.h>

#include "core/clock.h"

/* Milliseconds on CLOCK_MONOTONIC, for deadlines. */
int64_t
clock_now_ms(void)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
}

/* Milliseconds since a CLOCK_MONOTONIC time. */
int64_t
clock_ms_since(const struct timespec *since)
{
	return (clock_now_ms() - ((int64_t)since->tv_sec * 1000 +
	    since->tv_nsec / 1000000));
}
