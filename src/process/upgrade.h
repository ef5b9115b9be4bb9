/*
 * upgrade.h: handing the listening sockets to a new drover binary
 * (SIGUSR2). The old master execs the new binary with the sockets open and
 * their description in the environment; the new master takes them over.
 */
#ifndef DROVER_UPGRADE_H
#define DROVER_UPGRADE_H

#include <stddef.h>

#include "core/addr.h"

#define UPGRADE_ENV	"DROVER_UPGRADE"

/* One listen address: the keeper socket and each slot's listener. */
struct upgrade_listener {
	char	 key[ADDR_STRLEN + 8];	/* "udp " and the address */
	int	 keeper_fd;
	int	*slot_fds;	/* index: slot, -1 if none */
	int	 nslots;
	int	*xslot_fds;	/* exec process slots */
	int	 nxslots;
};

struct upgrade_state {
	int			 readyfd;	/* write "1" once serving */
	int			 controlfd;	/* control socket, or -1 */
	struct upgrade_listener	*ls;
	size_t			 n;
};

int	 upgrade_parse(const char *, struct upgrade_state *, char *, size_t);
void	 upgrade_free(struct upgrade_state *);
char	*upgrade_format(const struct upgrade_state *);

#endif
