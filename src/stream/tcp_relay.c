/*
 * tcp_relay.c: one direction of a proxied TCP connection: bytes from one
 * socket to the other, with back-pressure and the FIN passed on.
 *
 * A direction starts by copying through a buffer of TCP_RELAY_BUF_SIZE,
 * taken when bytes arrive and freed once they are sent: the small
 * exchanges of most protocols cost two system calls each, as they would
 * with splice, and no pipe. Once it has moved TCP_RELAY_SPLICE_AFTER
 * bytes it is a bulk transfer, and it moves through a pipe with
 * splice(2) from then on: the kernel hands pages from socket to socket
 * and nothing is copied to user space. A pipe costs two descriptors, so
 * it too is held only while bytes are in it, and kept empty by the
 * server for the next one (struct tcp_relay_pipes); above the server's
 * cap on pipes a direction copies through its buffer, and takes a pipe
 * again once one is free.
 *
 * Back-pressure either way: a direction reads only while its buffer or
 * pipe has room, so a receiver that does not read stops the sender by
 * TCP's own flow control, and memory stays bounded per connection.
 *
 * A dropped direction (its "to" failed) holds nothing and reads "from"
 * into a common sink: the peer is not stalled in its writes (as it would
 * not be talking to the server directly, which would have reset it),
 * and the other direction goes on to its end.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "stream/tcp_proxy.h"

void
tcp_relay_init(struct tcp_relay *r, struct conn *from, struct conn *to,
    struct tcp_relay_pipes *pipes)
{
	r->from = from;
	r->to = to;
	r->pipes = pipes;
	r->pipe[0] = r->pipe[1] = -1;
	r->nosplice = !conn_can_splice(from) || !conn_can_splice(to);
}

/* A pipe for the direction: a kept one, or a new one below the cap;
 * -1 if none (the direction copies this time). */
static int
tcp_relay_pipe_take(struct tcp_relay *r)
{
	struct tcp_relay_pipes	*p = r->pipes;

	if (p->n > 0) {
		p->n--;
		r->pipe[0] = p->fds[p->n][0];
		r->pipe[1] = p->fds[p->n][1];
		return (0);
	}
	if (p->total >= p->max)
		return (-1);
	if (pipe2(r->pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		r->pipe[0] = r->pipe[1] = -1;
		r->nosplice = 1;	/* out of descriptors: copy */
		return (-1);
	}
	p->total++;
	return (0);
}

/* Give the pipe back: kept if it is empty and there is room, else
 * closed (bytes left in it belong to a connection that is gone). */
static void
tcp_relay_pipe_put(struct tcp_relay *r)
{
	struct tcp_relay_pipes	*p = r->pipes;

	if (r->pipe[0] == -1)
		return;
	if (r->piped == 0 && p->n < TCP_RELAY_PIPES_KEPT) {
		p->fds[p->n][0] = r->pipe[0];
		p->fds[p->n][1] = r->pipe[1];
		p->n++;
	} else {
		close(r->pipe[0]);
		close(r->pipe[1]);
		p->total--;
	}
	r->pipe[0] = r->pipe[1] = -1;
	r->piped = 0;
}

/* What a failed call's errno means: wait for an edge (the socket or
 * pipe is empty or full), run again soon (EINTR: no edge will come for
 * it), or fail. */
static enum tcp_relay_result
tcp_relay_errno(int err, enum tcp_relay_result fail)
{
	if (err == EAGAIN || err == EWOULDBLOCK)
		return (TCP_RELAY_IDLE);
	return (err == EINTR ? TCP_RELAY_INTR : fail);
}

/* Buffer to "to". */
static enum tcp_relay_result
tcp_relay_buf_write(struct tcp_relay *r)
{
	ssize_t	 n;

	if (r->off == r->len || !r->to->pi.wready)
		return (TCP_RELAY_IDLE);
	n = conn_send(r->to, r->buf + r->off, r->len - r->off, 0);
	if (n > 0) {
		r->off += (size_t)n;
		r->moved += (uint64_t)n;
		if (r->off == r->len)
			r->off = r->len = 0;
		return (TCP_RELAY_MOVED);
	}
	return (tcp_relay_errno(errno, TCP_RELAY_ETO));
}

/* "from" to the buffer's free end. */
static enum tcp_relay_result
tcp_relay_buf_read(struct tcp_relay *r)
{
	ssize_t	 n;

	if (r->eof || !r->from->pi.rready || r->len == TCP_RELAY_BUF_SIZE)
		return (TCP_RELAY_IDLE);
	if (r->buf == NULL && (r->buf = malloc(TCP_RELAY_BUF_SIZE)) == NULL)
		return (TCP_RELAY_ENOMEM);
	n = conn_recv(r->from, r->buf + r->len, TCP_RELAY_BUF_SIZE - r->len);
	if (n > 0) {
		r->len += (size_t)n;
		r->got = 1;
		return (TCP_RELAY_MOVED);
	}
	if (n == 0) {
		r->eof = 1;
		return (TCP_RELAY_MOVED);
	}
	return (tcp_relay_errno(errno, TCP_RELAY_EFROM));
}

/* Pipe to "to". */
static enum tcp_relay_result
tcp_relay_pipe_write(struct tcp_relay *r)
{
	ssize_t	 n;

	if (r->piped == 0 || !r->to->pi.wready)
		return (TCP_RELAY_IDLE);
	n = conn_splice_out(r->to, r->pipe[0], r->piped);
	if (n > 0) {
		r->piped -= (size_t)n;
		r->moved += (uint64_t)n;
		return (TCP_RELAY_MOVED);
	}
	if (n == 0)
		errno = EPIPE;	/* nothing taken from a full pipe */
	return (tcp_relay_errno(errno, TCP_RELAY_ETO));
}

/* "from" to the direction's pipe. */
static enum tcp_relay_result
tcp_relay_pipe_read(struct tcp_relay *r)
{
	ssize_t	 n;

	if (r->eof || !r->from->pi.rready || r->piped >= TCP_RELAY_PIPE_SIZE)
		return (TCP_RELAY_IDLE);
	n = conn_splice_in(r->from, r->pipe[1], TCP_RELAY_PIPE_SIZE - r->piped,
	    r->piped == 0);
	if (n > 0) {
		r->piped += (size_t)n;
		r->got = 1;
		return (TCP_RELAY_MOVED);
	}
	if (n == 0) {
		r->eof = 1;
		return (TCP_RELAY_MOVED);
	}
	if (errno == EINVAL && r->piped == 0) {
		tcp_relay_pipe_put(r);	/* a socket splice does not take */
		r->nosplice = 1;
		return (TCP_RELAY_MOVED);
	}
	return (tcp_relay_errno(errno, TCP_RELAY_EFROM));
}

/* A dropped direction: "from" read into a common sink, a buffer's worth
 * per round (the caller bounds the rounds). */
static enum tcp_relay_result
tcp_relay_discard(struct tcp_relay *r)
{
	static char	 sink[TCP_RELAY_BUF_SIZE];
	ssize_t		 n;

	if (r->eof || !r->from->pi.rready)
		return (TCP_RELAY_IDLE);
	n = conn_recv(r->from, sink, sizeof(sink));
	if (n > 0)
		return (TCP_RELAY_MOVED);
	if (n == 0) {
		r->eof = 1;
		return (TCP_RELAY_MOVED);
	}
	return (tcp_relay_errno(errno, TCP_RELAY_EFROM));
}

/* A bulk transfer (past TCP_RELAY_SPLICE_AFTER, the buffer empty) with
 * something to read takes a pipe, if one can be had. */
static void
tcp_relay_want_pipe(struct tcp_relay *r)
{
	if (r->pipe[0] == -1 && !r->nosplice && r->len == 0 &&
	    r->moved >= TCP_RELAY_SPLICE_AFTER && !r->eof &&
	    r->from->pi.rready)
		(void)tcp_relay_pipe_take(r);
}

/* One round: read what there is room for, send what there is. */
enum tcp_relay_result
tcp_relay_move(struct tcp_relay *r)
{
	enum tcp_relay_result	 rd, wr;

	if (r->dropped)
		return (tcp_relay_discard(r));
	tcp_relay_want_pipe(r);
	if (r->pipe[0] != -1) {
		rd = tcp_relay_pipe_read(r);
		wr = rd >= TCP_RELAY_EFROM ? rd : tcp_relay_pipe_write(r);
	} else {
		rd = tcp_relay_buf_read(r);
		wr = rd >= TCP_RELAY_EFROM ? rd : tcp_relay_buf_write(r);
	}
	if (wr >= TCP_RELAY_EFROM)
		return (wr);
	if (rd == TCP_RELAY_MOVED || wr == TCP_RELAY_MOVED)
		return (TCP_RELAY_MOVED);
	return (rd == TCP_RELAY_INTR || wr == TCP_RELAY_INTR ?
	    TCP_RELAY_INTR : TCP_RELAY_IDLE);
}

/* Bytes taken from "from" and not yet sent to "to". */
int
tcp_relay_pending(const struct tcp_relay *r)
{
	return (r->off < r->len || r->piped > 0);
}

/*
 * The FIN passed on once "from" has sent it and every byte before it
 * is sent: 1 when the direction is done (now or before, or dropped), 0
 * if not yet, -1 if the shutdown failed. An aborted direction sends no
 * FIN: the connection's close passes the reset on.
 */
int
tcp_relay_finish(struct tcp_relay *r)
{
	if (r->shut || r->dropped)
		return (1);
	if (!r->eof || tcp_relay_pending(r))
		return (0);
	r->shut = 1;
	if (r->aborted)
		return (1);
	return (conn_shutdown(r->to) == -1 && errno != ENOTCONN ? -1 : 1);
}

/* Between turns: what is empty is given back (an idle direction holds
 * neither buffer nor pipe). */
void
tcp_relay_idle(struct tcp_relay *r)
{
	if (r->len == 0 && r->buf != NULL) {
		free(r->buf);
		r->buf = NULL;
	}
	if (r->piped == 0)
		tcp_relay_pipe_put(r);
}

/* "to" failed: what the direction holds goes nowhere; from now on it
 * only reads "from" and discards (tcp_relay_discard). */
void
tcp_relay_drop(struct tcp_relay *r)
{
	r->dropped = 1;
	tcp_relay_free(r);
}

void
tcp_relay_free(struct tcp_relay *r)
{
	free(r->buf);
	r->buf = NULL;
	r->off = r->len = 0;
	tcp_relay_pipe_put(r);
}

/* max: how many pipes may be open at once (0: none, always copy). */
void
tcp_relay_pipes_init(struct tcp_relay_pipes *p, int max)
{
	p->n = p->total = 0;
	p->max = max;
}

void
tcp_relay_pipes_free(struct tcp_relay_pipes *p)
{
	while (p->n > 0) {
		p->n--;
		close(p->fds[p->n][0]);
		close(p->fds[p->n][1]);
		p->total--;
	}
}
