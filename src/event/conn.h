/*
 * conn.h: a connection's byte I/O, the one way protocol code reads and
 * writes (nginx's c->recv, c->send_chain). HTTP and the stream services
 * never call recv(), send() or sendfile() themselves: they call these
 * operations, so TLS or io_uring can later sit underneath without a
 * change to the protocols. conn_socket.c is the plain-socket kind.
 *
 * Readiness stays in the connection's poller item (poller.h): an
 * operation that finds the socket empty or full clears rready or wready,
 * which is what the protocol waits on.
 */
#ifndef DROVER_CONN_H
#define DROVER_CONN_H

#include <sys/types.h>
#include <sys/uio.h>

#include "event/poller.h"

struct conn;

struct conn_ops {
	/* recv(): bytes, 0 at the peer's end, -1 with errno. */
	ssize_t	(*recv)(struct conn *, void *, size_t);
	/* As recv, but the bytes stay to be read (MSG_PEEK): whether a
	 * FIN or a reset came after bytes or alone. Readiness unchanged. */
	ssize_t	(*peek)(struct conn *, void *, size_t);
	/* Send a vector; more: further bytes follow at once (MSG_MORE). */
	ssize_t	(*sendv)(struct conn *, const struct iovec *, int, int);
	/* Send len bytes of a file from *off, advancing it. */
	ssize_t	(*sendfile)(struct conn *, int, off_t *, size_t);
	/* Move up to len bytes from the socket into a pipe (splice(2)):
	 * as recv. A full pipe says EAGAIN too, so rready is cleared only
	 * when the caller says the pipe was empty. NULL: this kind has
	 * no socket to splice (TLS); the caller copies through a buffer. */
	ssize_t	(*splice_in)(struct conn *, int, size_t, int);
	/* Move up to len bytes from a pipe to the socket: as a send. */
	ssize_t	(*splice_out)(struct conn *, int, size_t);
	/* No more output: our FIN. */
	int	(*shutdown)(struct conn *);
	/* Close the descriptor; the connection is gone from its poller. */
	void	(*close)(struct conn *, struct poller *);
	/* Out of the poller, not closed: the descriptor, for another
	 * owner (a handover), or -1 when this kind cannot be handed on. */
	int	(*detach)(struct conn *, struct poller *);
};

/* Embedded in a protocol's connection struct. */
struct conn {
	const struct conn_ops	*ops;
	struct poller_item	 pi;	/* readiness of the socket */
};

void	conn_socket_init(struct conn *, int);
void	conn_socket_adopt(struct conn *, int);

static inline ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	return (c->ops->recv(c, buf, len));
}

static inline ssize_t
conn_peek(struct conn *c, void *buf, size_t len)
{
	return (c->ops->peek(c, buf, len));
}

static inline ssize_t
conn_sendv(struct conn *c, const struct iovec *iov, int iovcnt, int more)
{
	return (c->ops->sendv(c, iov, iovcnt, more));
}

static inline ssize_t
conn_send(struct conn *c, const void *buf, size_t len, int more)
{
	struct iovec	 iov = { (void *)(uintptr_t)buf, len };

	return (c->ops->sendv(c, &iov, 1, more));
}

static inline ssize_t
conn_sendfile(struct conn *c, int fd, off_t *off, size_t len)
{
	return (c->ops->sendfile(c, fd, off, len));
}

/* Whether the connection can splice (its kind has the operations). */
static inline int
conn_can_splice(const struct conn *c)
{
	return (c->ops->splice_in != NULL && c->ops->splice_out != NULL);
}

static inline ssize_t
conn_splice_in(struct conn *c, int pipefd, size_t len, int empty)
{
	return (c->ops->splice_in(c, pipefd, len, empty));
}

static inline ssize_t
conn_splice_out(struct conn *c, int pipefd, size_t len)
{
	return (c->ops->splice_out(c, pipefd, len));
}

static inline int
conn_shutdown(struct conn *c)
{
	return (c->ops->shutdown(c));
}

static inline void
conn_close(struct conn *c, struct poller *p)
{
	c->ops->close(c, p);
}

static inline int
conn_detach(struct conn *c, struct poller *p)
{
	return (c->ops->detach(c, p));
}

#endif
