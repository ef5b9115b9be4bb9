/*
 * backoff.c: respawn delays for crashing workers. The first unexpected
 * death is replaced at once; deaths in quick succession double the delay
 * from BACKOFF_FIRST_MS up to BACKOFF_MAX_MS, so a crash loop never becomes
 * a fork storm. A worker that stayed up BACKOFF_STABLE_MS resets the count.
 */
#include "autoconf.h"

#include "core/backoff.h"

/* Record a death after uptime_ms; returns the delay before respawning. */
long
backoff_next(struct backoff *b, long uptime_ms)
{
	long	 delay;
	int	 i;

	if (uptime_ms >= BACKOFF_STABLE_MS)
		b->failures = 0;
	b->failures++;
	if (b->failures == 1)
		return (0);
	delay = BACKOFF_FIRST_MS;
	for (i = 2; i < b->failures && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	return (delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay);
}
