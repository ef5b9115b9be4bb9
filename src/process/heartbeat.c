/*
 * heartbeat.c: the worker's side of hang detection (see heartbeat.h).
 */
#include "autoconf.h"

#include <stddef.h>

#include <event2/event.h>

#include "core/stats.h"
#include "process/heartbeat.h"

#define HEARTBEAT_PERIOD	1	/* s */

static struct event	*heartbeat_ev;

/* The loop has turned: say so in the worker's record. */
static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	stats_heartbeat();
}

/* Beat now and every HEARTBEAT_PERIOD on base; -1 if it cannot. */
int
heartbeat_start(struct event_base *base)
{
	struct timeval	 tv = { HEARTBEAT_PERIOD, 0 };

	heartbeat_ev = event_new(base, -1, EV_PERSIST, heartbeat_cb, NULL);
	if (heartbeat_ev == NULL || event_add(heartbeat_ev, &tv) == -1)
		return (-1);
	stats_heartbeat();
	return (0);
}

void
heartbeat_stop(void)
{
	if (heartbeat_ev != NULL)
		event_free(heartbeat_ev);
	heartbeat_ev = NULL;
}
