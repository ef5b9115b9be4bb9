/*
 * handover.h: the inbox of idle connections between generations (see
 * handover.c). service_handover() (event/service.h) is the sending side.
 */
#ifndef DROVER_HANDOVER_H
#define DROVER_HANDOVER_H

#include <event2/event.h>

#define HANDOVER_NAME_MAX	128	/* a server's name, with its NUL */

/* The master. */
int	 handover_open(int [2]);
void	 handover_exec_child(const int [2]);

/* A worker. */
int	 handover_worker_init(struct event_base *, int, int);
void	 handover_receive(int);
void	 handover_worker_free(void);

#endif
