/*
 * listener.c: the sockets behind "listen".
 *
 * Each worker opens its own listening socket per address with SO_REUSEADDR
 * and SO_REUSEPORT, so the kernel balances new connections across workers.
 *
 * The master holds a "keeper" per address: a socket bound with SO_REUSEPORT
 * but never listening. It pins the port picked for "HOST:0" so every worker
 * of every generation binds the same one, and, having no SO_REUSEADDR, it
 * makes a second drover's probe fail instead of silently joining the group.
 * A UDP address has no such keeper (keeper.c says why): slot 0's socket
 * reserves it.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process/listener.h"

#define LISTENER_UDP_BUFFER	(4 * 1024 * 1024)	/* bytes, each way */

static int
listener_socket_type(const struct addr *a, int type, int reuseaddr,
    int reuseport, const char *what, char *err, size_t errlen)
{
	char	 text[ADDR_STRLEN];
	int	 fd, one = 1;

	addr_format(a, text, sizeof(text));
	fd = socket(addr_family(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "%s %s: socket: %s", what, text,
		    strerror(errno));
		return (-1);
	}
	if ((reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1) ||
	    (addr_family(a) == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)) {
		snprintf(err, errlen, "%s %s: setsockopt: %s", what, text,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen, "%s %s: address already in use "
			    "(another program, or another drover, holds it)",
			    what, text);
		else
			snprintf(err, errlen, "%s %s: bind: %s", what, text,
			    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

static int
listener_socket(const struct addr *a, int reuseaddr, int reuseport,
    const char *what, char *err, size_t errlen)
{
	return (listener_socket_type(a, SOCK_STREAM, reuseaddr, reuseport,
	    what, err, errlen));
}

/* A worker's own listening socket for a (resolved) address. */
int
listener_open(const struct addr *a, int backlog, char *err, size_t errlen)
{
	char	 text[ADDR_STRLEN];
	int	 fd;

	if ((fd = listener_socket(a, 1, 1, "listen", err, errlen)) == -1)
		return (-1);
	if (listen(fd, backlog) == -1) {
		addr_format(a, text, sizeof(text));
		snprintf(err, errlen, "listen %s: listen: %s", text,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Check nobody holds an address, then bind the socket that reserves it
 * (TCP: the keeper's, never listening; UDP: slot 0's), resolving port 0
 * in place. A plain bind (for TCP with SO_REUSEADDR, so that TIME_WAIT is
 * no obstacle) fails against any socket already there, reuseport or not.
 */
static int
listener_reserve_any(struct addr *a, int udp, char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 probe, fd;

	if (addr_port(a) != 0) {
		probe = listener_socket_type(a, udp ? SOCK_DGRAM : SOCK_STREAM,
		    !udp, 0, "listen", err, errlen);
		if (probe == -1)
			return (-1);
		close(probe);
	}
	fd = udp ? listener_open_udp(a, err, errlen) :
	    listener_socket(a, 0, 1, "listen", err, errlen);
	if (fd == -1)
		return (-1);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	memcpy(&a->ss, &ss, sizeof(ss));
	a->len = len;
	return (fd);
}

/*
 * Reserve an address for this drover: check nobody else holds it, then bind
 * the keeper socket. Port 0 is resolved in place. Returns the keeper's fd.
 */
int
listener_reserve(struct addr *a, char *err, size_t errlen)
{
	return (listener_reserve_any(a, 0, err, errlen));
}

/*
 * A UDP socket of a worker slot for a (resolved) address: SO_REUSEPORT,
 * the destination address of each datagram reported (so that a reply to
 * one sent to a wildcard address leaves from it), and buffers large
 * enough that a burst, or a worker slow for a moment, drops nothing.
 */
int
listener_open_udp(const struct addr *a, char *err, size_t errlen)
{
	int	 fd, one = 1, size = LISTENER_UDP_BUFFER;

	if ((fd = listener_socket_type(a, SOCK_DGRAM, 0, 1, "listen", err,
	    errlen)) == -1)
		return (-1);
	if ((addr_family(a) == AF_INET && setsockopt(fd, IPPROTO_IP,
	    IP_PKTINFO, &one, sizeof(one)) == -1) ||
	    (addr_family(a) == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_RECVPKTINFO, &one, sizeof(one)) == -1)) {
		snprintf(err, errlen, "listen udp: pktinfo: %s",
		    strerror(errno));
		close(fd);
		return (-1);
	}
	/* Past net.core.rmem_max when we may (root), else up to it. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
	    sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
		    sizeof(size));
	return (fd);
}

/*
 * Reserve a UDP address: check nobody holds it, then open the socket of
 * worker slot 0, which holds the port from then on. Unlike TCP, there is
 * no keeper socket of its own: a bound UDP socket in a reuseport group
 * receives its share of the datagrams, and one that nobody reads would
 * lose them. Port 0 is resolved in place.
 */
int
listener_reserve_udp(struct addr *a, char *err, size_t errlen)
{
	return (listener_reserve_any(a, 1, err, errlen));
}
