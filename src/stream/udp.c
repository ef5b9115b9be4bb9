/*
 * udp.c: the local address a datagram came to, read from its pktinfo and
 * written back as the source of the answer (udp.h says why).
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <string.h>

#include "stream/udp.h"

/* A v4 address no datagram may leave from: multicast or limited
 * broadcast (a subnet's broadcast address cannot be told from here). */
static int
udp_v4_unusable(in_addr_t a)
{
	return (IN_MULTICAST(ntohl(a)) || a == htonl(INADDR_BROADCAST));
}

/* IP_PKTINFO: ipi_spec_dst is the kernel's choice of our address for an
 * answer: the destination for unicast, the interface's address for a
 * broadcast, where ipi_addr could not be a source. ifindex stays 0: with
 * asymmetric routes the answer may have to leave by another interface. */
static void
udp_local_v4(const struct in_pktinfo *pi, struct udp_local *l)
{
	memset(l, 0, sizeof(*l));
	l->family = AF_INET;
	l->addr.v4 = pi->ipi_spec_dst;
	if (udp_v4_unusable(l->addr.v4.s_addr))
		l->addr.v4.s_addr = htonl(INADDR_ANY);
}

/* IPV6_PKTINFO has only the destination: a multicast one (or a mapped v4
 * multicast or broadcast) is left to the kernel. A link-local address
 * means nothing without its interface; other answers route freely. */
static void
udp_local_v6(const struct in6_pktinfo *pi, struct udp_local *l)
{
	const struct in6_addr	*a = &pi->ipi6_addr;
	in_addr_t		 v4;

	memset(l, 0, sizeof(*l));
	l->family = AF_INET6;
	l->addr.v6 = *a;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&v4, &a->s6_addr[12], sizeof(v4));
		if (udp_v4_unusable(v4))
			memset(&l->addr.v6.s6_addr[12], 0, sizeof(v4));
	} else if (IN6_IS_ADDR_MULTICAST(a))
		l->addr.v6 = in6addr_any;
	else if (IN6_IS_ADDR_LINKLOCAL(a))
		l->ifindex = pi->ipi6_ifindex;
}

/* The local address from a received datagram's control data: 0, or -1
 * when it carries none (l->family is then 0). */
int
udp_local_get(const struct msghdr *msg, struct udp_local *l)
{
	struct cmsghdr	*cm;
	union {
		struct in_pktinfo	 v4;
		struct in6_pktinfo	 v6;
	} pi;

	memset(l, 0, sizeof(*l));
	/* The cast: glibc's CMSG_NXTHDR takes no const, and reads only. */
	for (cm = CMSG_FIRSTHDR(msg); cm != NULL;
	    cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
		/* memcpy: the data need not be aligned for the struct. */
		if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(pi.v4))) {
			memcpy(&pi.v4, CMSG_DATA(cm), sizeof(pi.v4));
			udp_local_v4(&pi.v4, l);
			return (0);
		}
		if (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(pi.v6))) {
			memcpy(&pi.v6, CMSG_DATA(cm), sizeof(pi.v6));
			udp_local_v6(&pi.v6, l);
			return (0);
		}
	}
	return (-1);
}

/* Write l as the pktinfo of an answer into buf (aligned for a cmsghdr,
 * UDP_CMSG_TX_SPACE bytes will do): the msg_controllen to send with, 0
 * for none (nothing known, or buf too small). */
size_t
udp_local_put(const struct udp_local *l, void *buf, size_t len)
{
	struct cmsghdr		*cm = buf;
	struct in_pktinfo	 v4;
	struct in6_pktinfo	 v6;

	if (l->family == AF_INET && len >= CMSG_SPACE(sizeof(v4))) {
		memset(buf, 0, CMSG_SPACE(sizeof(v4)));
		memset(&v4, 0, sizeof(v4));
		v4.ipi_spec_dst = l->addr.v4;
		v4.ipi_ifindex = (int)l->ifindex;
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(v4));
		memcpy(CMSG_DATA(cm), &v4, sizeof(v4));
		return (CMSG_SPACE(sizeof(v4)));
	}
	if (l->family == AF_INET6 && len >= CMSG_SPACE(sizeof(v6))) {
		memset(buf, 0, CMSG_SPACE(sizeof(v6)));
		memset(&v6, 0, sizeof(v6));
		v6.ipi6_addr = l->addr.v6;
		v6.ipi6_ifindex = l->ifindex;
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(v6));
		memcpy(CMSG_DATA(cm), &v6, sizeof(v6));
		return (CMSG_SPACE(sizeof(v6)));
	}
	return (0);
}

/* Set m up to receive into buf (len bytes) for d; named: with the
 * sender's address and pktinfo (a connected socket needs neither). */
void
udp_dgram_rx(struct udp_dgram *d, struct mmsghdr *m, void *buf, size_t len,
    int named)
{
	struct msghdr	*h = &m->msg_hdr;

	d->rx_iov.iov_base = buf;
	d->rx_iov.iov_len = len;
	memset(h, 0, sizeof(*h));
	if (named) {
		h->msg_name = &d->peer;
		h->msg_namelen = sizeof(d->peer);
		h->msg_control = d->rx_ctl.buf;
		h->msg_controllen = sizeof(d->rx_ctl.buf);
	}
	h->msg_iov = &d->rx_iov;
	h->msg_iovlen = 1;
	m->msg_len = 0;
}

/* Set out up to send d's payload (len bytes, as received) to dst (NULL:
 * the connected peer), from the local address from (NULL: any). */
void
udp_dgram_tx(struct udp_dgram *d, struct mmsghdr *out, size_t len,
    void *dst, socklen_t dstlen, const struct udp_local *from)
{
	struct msghdr	*h = &out->msg_hdr;

	d->tx_iov.iov_base = d->rx_iov.iov_base;
	d->tx_iov.iov_len = len;
	memset(h, 0, sizeof(*h));
	h->msg_name = dst;
	h->msg_namelen = dstlen;
	h->msg_iov = &d->tx_iov;
	h->msg_iovlen = 1;
	if (from != NULL) {
		h->msg_controllen = udp_local_put(from, d->tx_ctl.buf,
		    sizeof(d->tx_ctl.buf));
		h->msg_control = h->msg_controllen ? d->tx_ctl.buf : NULL;
	}
}
