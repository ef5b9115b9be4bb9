/*
 * conn_socket.c: the plain-socket connection I/O (conn.h).
 *
 * Every operation keeps the poller item's readiness flags, the rule
 * being stated once here: rready is cleared when a read shows the socket
 * empty (EAGAIN, or fewer bytes than asked for with no FIN seen: the
 * end of the stream is still to be read then), wready when a write
 * would block. An EINTR leaves both as they were, so the owner's wait
 * posts it again rather than waiting for an edge.
 */
#include "autoconf.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "event/conn.h"

static ssize_t
conn_socket_recv(struct conn *c, void *buf, size_t len)
{
	struct poller_item	*it = &c->pi;
	ssize_t			 n;

	n = recv(it->fd, buf, len, 0);
	if ((n > 0 && (size_t)n < len && !it->rdhup) ||
	    (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)))
		it->rready = 0;
	return (n);
}

static ssize_t
conn_socket_peek(struct conn *c, void *buf, size_t len)
{
	return (recv(c->pi.fd, buf, len, MSG_PEEK));
}

static ssize_t
conn_socket_wrote(struct conn *c, ssize_t n)
{
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		c->pi.wready = 0;
	return (n);
}

static ssize_t
conn_socket_sendv(struct conn *c, const struct iovec *iov, int iovcnt,
    int more)
{
	struct msghdr	 msg;
	int		 flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);

	if (iovcnt == 1)
		return (conn_socket_wrote(c, send(c->pi.fd, iov[0].iov_base,
		    iov[0].iov_len, flags)));
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = (struct iovec *)(uintptr_t)iov;
	msg.msg_iovlen = (size_t)iovcnt;
	return (conn_socket_wrote(c, sendmsg(c->pi.fd, &msg, flags)));
}

static ssize_t
conn_socket_sendfile(struct conn *c, int fd, off_t *off, size_t len)
{
	return (conn_socket_wrote(c, sendfile(c->pi.fd, fd, off, len)));
}

/* Socket to pipe. EAGAIN means an empty socket only when the pipe had
 * room for anything (empty): a full pipe says it too, and clearing
 * rready then would wait for an edge that never comes. */
static ssize_t
conn_socket_splice_in(struct conn *c, int pipefd, size_t len, int empty)
{
	ssize_t	 n;

	n = splice(c->pi.fd, NULL, pipefd, NULL, len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n == -1 && empty && (errno == EAGAIN || errno == EWOULDBLOCK))
		c->pi.rready = 0;
	return (n);
}

/* Pipe to socket; the pipe has bytes, so EAGAIN is a full socket. */
static ssize_t
conn_socket_splice_out(struct conn *c, int pipefd, size_t len)
{
	return (conn_socket_wrote(c, splice(pipefd, NULL, c->pi.fd, NULL, len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK)));
}

static int
conn_socket_shutdown(struct conn *c)
{
	return (shutdown(c->pi.fd, SHUT_WR));
}

/* No epoll_ctl(DEL): the close removes the socket from the set, unless
 * another process may still hold it (poller.c). */
static void
conn_socket_close(struct conn *c, struct poller *p)
{
	if (c->pi.shared && c->pi.fd != -1)
		poller_remove(p, &c->pi);
	else
		poller_forget(p, &c->pi);
	if (c->pi.fd != -1)		/* -1: detached, handed on */
		close(c->pi.fd);
	c->pi.fd = -1;
}

/* The socket goes to another worker: stop watching it here. */
static int
conn_socket_detach(struct conn *c, struct poller *p)
{
	int	 fd = c->pi.fd;

	poller_remove(p, &c->pi);
	c->pi.fd = -1;
	return (fd);
}

static const struct conn_ops conn_socket_ops = {
	.recv = conn_socket_recv,
	.peek = conn_socket_peek,
	.sendv = conn_socket_sendv,
	.sendfile = conn_socket_sendfile,
	.splice_in = conn_socket_splice_in,
	.splice_out = conn_socket_splice_out,
	.shutdown = conn_socket_shutdown,
	.close = conn_socket_close,
	.detach = conn_socket_detach,
};

/* A freshly accepted, non-blocking socket. */
void
conn_socket_init(struct conn *c, int fd)
{
	c->ops = &conn_socket_ops;
	poller_item_init(&c->pi, fd);
}

/* A socket handed over by another worker, which may not have closed its
 * copy yet. */
void
conn_socket_adopt(struct conn *c, int fd)
{
	conn_socket_init(c, fd);
	c->pi.shared = 1;
}
