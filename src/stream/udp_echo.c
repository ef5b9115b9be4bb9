/*
 * udp_echo.c: the UDP echo service: each datagram is answered with
 * itself, from the address it was sent to.
 *
 * Datagrams are read in batches (recvmmsg) into buffers taken once per
 * server, and the answers go out in one sendmmsg. Nothing waits: an
 * answer the socket has no room for (EAGAIN, ENOBUFS) is dropped and
 * counted, as the network would drop it, so a client that floods us
 * costs a bounded buffer and never blocks the worker. The socket is
 * level-triggered; a turn handles at most UDP_ECHO_TURN batches so the
 * worker's other servers get their turn too.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "stream/udp.h"

#define UDP_ECHO_BATCH		64	/* datagrams per recvmmsg */
#define UDP_ECHO_BUF_SIZE	65536	/* > any UDP payload (65507 on v4) */
#define UDP_ECHO_TURN		4	/* batches per readable event */

struct udp_echo_server {
	struct wserver		*sv;
	char			*bufs;	/* UDP_ECHO_BATCH payload buffers */
	struct udp_dgram	 d[UDP_ECHO_BATCH];
	struct mmsghdr		 rx[UDP_ECHO_BATCH];
	struct mmsghdr		 tx[UDP_ECHO_BATCH];
};

static int
udp_echo_init(struct wserver *sv, char *err, size_t errlen)
{
	struct udp_echo_server	*es;

	if ((es = calloc(1, sizeof(*es))) == NULL ||
	    (es->bufs = malloc((size_t)UDP_ECHO_BATCH *
	    UDP_ECHO_BUF_SIZE)) == NULL) {
		free(es);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	es->sv = sv;
	sv->svc_data = es;
	return (0);
}

/* Reset the receive headers: recvmmsg overwrote lengths and flags. */
static void
udp_echo_rx_prepare(struct udp_echo_server *es)
{
	int	 i;

	for (i = 0; i < UDP_ECHO_BATCH; i++)
		udp_dgram_rx(&es->d[i], &es->rx[i], es->bufs +
		    (size_t)i * UDP_ECHO_BUF_SIZE, UDP_ECHO_BUF_SIZE, 1);
}

/* Log at debug level why a datagram is not answered as it came. */
static void
udp_echo_debug(struct udp_echo_server *es, const struct msghdr *h,
    const char *what)
{
	struct addr	 a;
	char		 peer[ADDR_STRLEN];

	if (!log_wants(LOG_LEVEL_DEBUG))
		return;
	memset(&a, 0, sizeof(a));
	if (h->msg_namelen <= sizeof(a.ss)) {
		memcpy(&a.ss, h->msg_name, h->msg_namelen);
		a.len = h->msg_namelen;
	}
	addr_format(&a, peer, sizeof(peer));
	log_debug("server %s: datagram of %s: %s", es->sv->conf->name, peer,
	    what);
}

/* Turn the n datagrams received into answers in es->tx: their number. */
static int
udp_echo_answers(struct udp_echo_server *es, int n)
{
	struct msghdr		*in;
	struct udp_local	 local;
	uint64_t		 bytes = 0;
	int			 i, k = 0;

	for (i = 0; i < n; i++) {
		in = &es->rx[i].msg_hdr;
		bytes += es->rx[i].msg_len;
		if (in->msg_flags & MSG_TRUNC) {	/* cannot be, for UDP */
			udp_echo_debug(es, in, "truncated: not answered");
			continue;
		}
		if (in->msg_flags & MSG_CTRUNC)
			udp_echo_debug(es, in, "lost control data");
		(void)udp_local_get(in, &local);
		udp_dgram_tx(&es->d[i], &es->tx[k++], es->rx[i].msg_len,
		    &es->d[i].peer, in->msg_namelen, &local);
	}
	STATS_ADD(es->sv->st, datagrams_in, (uint64_t)n);
	STATS_ADD(es->sv->st, bytes_in, bytes);
	return (k);
}

/* Count the answers sendmmsg took. */
static void
udp_echo_sent(struct udp_echo_server *es, int first, int n)
{
	uint64_t	 bytes = 0;
	int		 i;

	for (i = first; i < first + n; i++)
		bytes += es->tx[i].msg_len;
	STATS_ADD(es->sv->st, datagrams_out, (uint64_t)n);
	STATS_ADD(es->sv->st, bytes_out, bytes);
}

/* Send the k answers: 0, or -1 when the socket's buffer is full (what
 * was left is dropped and counted). */
static int
udp_echo_send(struct udp_echo_server *es, int fd, int k)
{
	char	 why[128];
	int	 i = 0, n;

	while (i < k) {
		n = sendmmsg(fd, es->tx + i, (unsigned)(k - i), MSG_DONTWAIT);
		if (n > 0) {
			udp_echo_sent(es, i, n);
			i += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS)) {
			STATS_ADD(es->sv->st, dropped_full, (uint64_t)(k - i));
			return (-1);
		}
		/* This one answer failed (an unroutable peer, a local
		 * address gone): skip it, the others may still go. */
		snprintf(why, sizeof(why), "answer not sent: %s",
		    strerror(errno));
		udp_echo_debug(es, &es->tx[i].msg_hdr, why);
		i++;
	}
	return (0);
}

/* The socket is readable: answer up to UDP_ECHO_TURN batches. */
static void
udp_echo_datagrams(struct wserver *sv, int fd)
{
	struct udp_echo_server	*es = sv->svc_data;
	int			 turn, n, k;

	for (turn = 0; turn < UDP_ECHO_TURN; turn++) {
		udp_echo_rx_prepare(es);
		n = recvmmsg(fd, es->rx, UDP_ECHO_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("server %s: recvmmsg", sv->conf->name);
			return;
		}
		k = udp_echo_answers(es, n);
		/* A full send buffer drains while the others run; a short
		 * batch means the queue is empty: either way, next event. */
		if (udp_echo_send(es, fd, k) == -1 || n < UDP_ECHO_BATCH)
			return;
	}
}

/* Nothing is in flight: the worker stops reading and that is all. */
static void
udp_echo_drain(struct wserver *sv)
{
	(void)sv;
}

static void
udp_echo_shutdown(struct wserver *sv)
{
	struct udp_echo_server	*es = sv->svc_data;

	if (es == NULL)
		return;
	free(es->bufs);
	free(es);
	sv->svc_data = NULL;
}

const struct service udp_echo_service = {
	.name = "udp_echo",
	.init = udp_echo_init,
	.drain = udp_echo_drain,
	.shutdown = udp_echo_shutdown,
	.datagrams = udp_echo_datagrams,
};
