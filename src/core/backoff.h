/* backoff.h: how long to wait before replacing a worker that keeps dying. */
#ifndef DROVER_BACKOFF_H
#define DROVER_BACKOFF_H

#define BACKOFF_STABLE_MS	10000	/* a worker up this long was fine */
#define BACKOFF_FIRST_MS	100
#define BACKOFF_MAX_MS		30000

struct backoff {
	int	 failures;	/* unexpected deaths in a row */
};

long	 backoff_next(struct backoff *, long);

#endif
