/* listener.h: listening sockets (SO_REUSEPORT per worker) and port keepers. */
#ifndef DROVER_LISTENER_H
#define DROVER_LISTENER_H

#include <stddef.h>

#include "core/addr.h"

int	 listener_open(const struct addr *, int, char *, size_t);
int	 listener_reserve(struct addr *, char *, size_t);
int	 listener_open_udp(const struct addr *, char *, size_t);
int	 listener_reserve_udp(struct addr *, char *, size_t);

#endif
