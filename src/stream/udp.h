/*
 * udp.h: what UDP services share: the local address a datagram came to
 * (IP_PKTINFO / IPV6_PKTINFO), kept so the answer leaves from it.
 *
 * A socket bound to a wildcard address would otherwise answer from the
 * address the routing table picks, which the client does not know and
 * drops (a client that sent to 127.0.0.2 expects 127.0.0.2 back).
 */
#ifndef DROVER_UDP_H
#define DROVER_UDP_H

#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <stddef.h>

/* Room for what a received datagram carries: a v6 socket receiving a
 * v4-mapped datagram may get both kinds of pktinfo. */
#define UDP_CMSG_RX_SPACE						\
	(CMSG_SPACE(sizeof(struct in6_pktinfo)) +			\
	    CMSG_SPACE(sizeof(struct in_pktinfo)))
/* Room for the one pktinfo an answer carries. */
#define UDP_CMSG_TX_SPACE	CMSG_SPACE(sizeof(struct in6_pktinfo))

/* Where a datagram arrived: the source address its answer must have. */
struct udp_local {
	int		 family;	/* AF_INET, AF_INET6; 0: not known */
	unsigned	 ifindex;	/* 0: let the routing decide */
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	} addr;				/* any: let the kernel choose */
};

/* What one datagram in a recvmmsg/sendmmsg batch needs besides its
 * payload: where it came from, its pktinfo in, and the answer's out. */
struct udp_dgram {
	struct sockaddr_storage	 peer;
	struct iovec		 rx_iov;
	struct iovec		 tx_iov;
	union {
		struct cmsghdr	 align;
		char		 buf[UDP_CMSG_RX_SPACE];
	} rx_ctl;
	union {
		struct cmsghdr	 align;
		char		 buf[UDP_CMSG_TX_SPACE];
	} tx_ctl;
};

int	 udp_local_get(const struct msghdr *, struct udp_local *);
size_t	 udp_local_put(const struct udp_local *, void *, size_t);
void	 udp_dgram_rx(struct udp_dgram *, struct mmsghdr *, void *, size_t,
	     int);
void	 udp_dgram_tx(struct udp_dgram *, struct mmsghdr *, size_t, void *,
	     socklen_t, const struct udp_local *);

#endif
