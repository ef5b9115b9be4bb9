/* addr.h: listen address parsing and formatting ("HOST:PORT", "[V6]:PORT"). */
#ifndef DROVER_ADDR_H
#define DROVER_ADDR_H

#include <sys/socket.h>
#include <stddef.h>

#define ADDR_STRLEN	64	/* "[ffff:...:ffff]:65535" fits */

struct addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

int	 addr_parse(const char *, struct addr *, char *, size_t);
void	 addr_format(const struct addr *, char *, size_t);
int	 addr_equal(const struct addr *, const struct addr *);
int	 addr_port(const struct addr *);
void	 addr_set_port(struct addr *, int);
int	 addr_family(const struct addr *);

#endif
