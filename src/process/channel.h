/* channel.h: the master<->worker channel (a SOCK_SEQPACKET socketpair). */
#ifndef DROVER_CHANNEL_H
#define DROVER_CHANNEL_H

#include <stdint.h>
#include <sys/types.h>

enum chan_type {
	CHAN_READY = 1,		/* W->M: listeners bound, loop running */
	CHAN_FATAL,		/* W->M: cannot start or run; text says why */
	CHAN_DRAINED,		/* W->M: drain finished, exiting now */
	CHAN_DRAIN,		/* M->W: stop accepting, finish, exit */
	CHAN_LOG_FD,		/* M->W: the reopened error log (fd attached) */
	CHAN_ACCESS_LOG_FD,	/* M->W: server arg's reopened access log */
	CHAN_LISTENER,		/* W->M: a copy of listener arg (fd attached) */
	CHAN_ADOPT,		/* M->W: accept on this one too (fd attached) */
	CHAN_SIBLING,		/* M->W: what to take over when sibling pid
				   dies (a socket, see sibling.c) */
	CHAN_UNLISTENED,	/* W->M: draining, it accepts no more */
	CHAN_TYPE_MAX
};

#define CHAN_TEXT_MAX	256

/* Every message has this one fixed size; anything else is a broken peer. */
struct chan_msg {
	uint32_t	 type;
	uint32_t	 generation;
	int32_t		 pid;
	int32_t		 slot;
	int32_t		 arg;
	char		 text[CHAN_TEXT_MAX];
};

int		 channel_pair(int [2]);
int		 channel_sendfd(int, const void *, size_t, int);
ssize_t		 channel_recvfd(int, void *, size_t, int, int *, int *);
int		 channel_send(int, const struct chan_msg *, int);
int		 channel_recv(int, struct chan_msg *, int *);
void		 channel_msg_init(struct chan_msg *, enum chan_type);
const char	*channel_type_name(uint32_t);

#endif
