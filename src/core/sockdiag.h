/* sockdiag.h: which process holds a socket (sock_diag and /proc). */
#ifndef DROVER_SOCKDIAG_H
#define DROVER_SOCKDIAG_H

#include <sys/socket.h>
#include <sys/types.h>

int	 sockdiag_tcp_inode(const struct sockaddr_storage *,
	    const struct sockaddr_storage *, unsigned long *);
int	 sockdiag_pid_holds(pid_t, unsigned long);
int	 sockdiag_bound(const struct sockaddr_storage *, int,
	    unsigned long *, size_t);
pid_t	 sockdiag_holder(unsigned long, char *, size_t);

#endif
