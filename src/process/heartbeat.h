/*
 * heartbeat.h: a worker's proof that its event loop turns: a timestamp in
 * its stats record every second, which the master watches (master_hang.c)
 * to kill a worker that has hung.
 */
#ifndef DROVER_HEARTBEAT_H
#define DROVER_HEARTBEAT_H

struct event_base;

int	 heartbeat_start(struct event_base *);
void	 heartbeat_stop(void);

#endif
