/* worker.h: a worker process: its listeners, its event loop, draining. */
#ifndef DROVER_WORKER_H
#define DROVER_WORKER_H

#include <sys/types.h>

struct config;

struct worker_args {
	struct config	*conf;		/* owned by the worker from now on */
	unsigned	 generation;
	int		 slot;
	int		 chan;		/* worker's end of the channel */
	pid_t		 master;
	int		 detach_stdio;	/* daemon: stdio to /dev/null */
	int		 stats_idx;	/* record in the stats region, or -1 */
	int		 handover_send;	/* the inbox (handover.c), or -1 */
	int		 handover_recv;
};

struct wserver;

void		 worker_main(struct worker_args *) __attribute__((noreturn));
struct wserver	*worker_server_find(const char *, int);
void		 worker_adopt(int, int, int);

#endif
