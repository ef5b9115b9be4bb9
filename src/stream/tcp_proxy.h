/*
 * tcp_proxy.h: the TCP proxy service (tcp_proxy.c) and its byte relay
 * (tcp_relay.c), private to the two.
 *
 * A proxied connection is two sockets and two directions: up (client to
 * server) and down (server to client). Each direction moves bytes from
 * its "from" socket to its "to" socket, first through a small buffer,
 * and once it has moved TCP_RELAY_SPLICE_AFTER bytes through a pipe with
 * splice(2), so that a bulk transfer is never copied to user space.
 *
 * A direction whose "to" fails is dropped: what it holds is thrown away
 * and what "from" still sends is read and discarded, so the other
 * direction goes on to its own end. A read error of "from" ends the
 * direction like an EOF, but the end is passed on as a reset (aborted).
 */
#ifndef DROVER_TCP_PROXY_H
#define DROVER_TCP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "event/conn.h"

#define TCP_RELAY_BUF_SIZE	(16 * 1024)
#define TCP_RELAY_SPLICE_AFTER	(64 * 1024)
#define TCP_RELAY_PIPE_SIZE	(64 * 1024)	/* a default pipe's 16 pages */
#define TCP_RELAY_PIPES_KEPT	64		/* empty pipes kept for reuse */

/* A server's pipes: the empty ones it keeps, so a direction takes one
 * only while it moves bytes and a new transfer costs no pipe2() nor
 * close(), and a cap on how many exist (HAProxy's maxpipes): a pipe is
 * two descriptors, and a direction above the cap copies instead. */
struct tcp_relay_pipes {
	int		 fds[TCP_RELAY_PIPES_KEPT][2];
	int		 n;		/* kept, empty */
	int		 total;		/* open: kept and in use */
	int		 max;
};

/* One direction of a proxied connection. */
struct tcp_relay {
	struct conn		*from, *to;
	struct tcp_relay_pipes	*pipes;		/* the server's */
	char			*buf;		/* NULL while empty */
	size_t			 off, len;	/* bytes of buf to send */
	int			 pipe[2];	/* -1 while none is held */
	size_t			 piped;		/* bytes in the pipe */
	uint64_t		 moved;		/* bytes sent to "to" */
	unsigned		 eof:1;		/* from sent its FIN */
	unsigned		 shut:1;	/* ... passed on to "to" */
	unsigned		 nosplice:1;	/* it cannot splice */
	unsigned		 got:1;		/* from ever gave a byte */
	unsigned		 dropped:1;	/* "to" failed: from is discarded */
	unsigned		 aborted:1;	/* end passed on as a reset */
};

/* What tcp_relay_move did. */
enum tcp_relay_result {
	TCP_RELAY_IDLE = 0,	/* nothing to do until an edge */
	TCP_RELAY_MOVED,	/* progress: try again */
	TCP_RELAY_INTR,		/* a call was interrupted: run again soon */
	TCP_RELAY_EFROM,	/* reading "from" failed (errno) */
	TCP_RELAY_ETO,		/* writing "to" failed (errno) */
	TCP_RELAY_ENOMEM,
};

void	tcp_relay_init(struct tcp_relay *, struct conn *, struct conn *,
	    struct tcp_relay_pipes *);
enum tcp_relay_result tcp_relay_move(struct tcp_relay *);
int	tcp_relay_pending(const struct tcp_relay *);
int	tcp_relay_finish(struct tcp_relay *);
void	tcp_relay_idle(struct tcp_relay *);
void	tcp_relay_drop(struct tcp_relay *);
void	tcp_relay_free(struct tcp_relay *);
void	tcp_relay_pipes_init(struct tcp_relay_pipes *, int);
void	tcp_relay_pipes_free(struct tcp_relay_pipes *);

#endif
