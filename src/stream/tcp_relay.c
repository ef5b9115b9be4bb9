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
 * server for the next one (struct tcp_relay_pipes).
 *
 * Back-pressure either way: a direction reads only while its buffer or
 * pipe has room, so a receiver that does not read stops the sender by
 * TCP's own flow control, and memory stays bounded per connection.
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

/* A pipe for the direction: a kept one, or a new one; -1 if none. */
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
	return (pipe2(r->pipe, O_NONBLOCK | O_CLOEXEC));
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
	}
	r->pipe[0] = r->pipe[1] = -1;
	r->piped = 0;
}

/* Whether an errno says "try later" (or again at once: EINTR). */
static int
tcp_relay_again(int err)
{
	return (err == EAGAIN || err == EWOULDBLOCK || err == EINTR);
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
	return (tcp_relay_again(errno) ? TCP_RELAY_IDLE : TCP_RELAY_ETO);
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
		return (TCP_RELAY_MOVED);
	}
	if (n == 0) {
		r->eof = 1;
		return (TCP_RELAY_MOVED);
	}
	return (tcp_relay_again(errno) ? TCP_RELAY_IDLE : TCP_RELAY_EFROM);
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
	return (n == -1 && tcp_relay_again(errno) ? TCP_RELAY_IDLE :
	    TCP_RELAY_ETO);
}

/* "from" to the pipe, taking one if the direction holds none. */
static enum tcp_relay_result
tcp_relay_pipe_read(struct tcp_relay *r)
{
	ssize_t	 n;

	if (r->eof || !r->from->pi.rready || r->piped >= TCP_RELAY_PIPE_SIZE)
		return (TCP_RELAY_IDLE);
	if (r->pipe[0] == -1 && tcp_relay_pipe_take(r) == -1) {
		r->splice = 0;		/* out of descriptors: copy */
		r->nosplice = 1;
		return (TCP_RELAY_MOVED);
	}
	n = conn_splice_in(r->from, r->pipe[1], TCP_RELAY_PIPE_SIZE - r->piped,
	    r->piped == 0);
	if (n > 0) {
		r->piped += (size_t)n;
		return (TCP_RELAY_MOVED);
	}
	if (n == 0) {
		r->eof = 1;
		return (TCP_RELAY_MOVED);
	}
	if (errno == EINVAL && r->piped == 0) {
		r->splice = 0;		/* a socket splice does not take */
		r->nosplice = 1;
		return (TCP_RELAY_MOVED);
	}
	return (tcp_relay_again(errno) ? TCP_RELAY_IDLE : TCP_RELAY_EFROM);
}

/* One round: read what there is room for, send what there is. */
enum tcp_relay_result
tcp_relay_move(struct tcp_relay *r)
{
	enum tcp_relay_result	 rd, wr;

	if (!r->splice && !r->nosplice && r->len == 0 &&
	    r->moved >= TCP_RELAY_SPLICE_AFTER)
		r->splice = 1;		/* a bulk transfer: the buffer is empty */
	if (r->splice) {
		rd = tcp_relay_pipe_read(r);
		wr = rd >= TCP_RELAY_EFROM ? rd : tcp_relay_pipe_write(r);
	} else {
		rd = tcp_relay_buf_read(r);
		wr = rd >= TCP_RELAY_EFROM ? rd : tcp_relay_buf_write(r);
	}
	if (wr >= TCP_RELAY_EFROM)
		return (wr);
	return (rd == TCP_RELAY_MOVED || wr == TCP_RELAY_MOVED ?
	    TCP_RELAY_MOVED : TCP_RELAY_IDLE);
}

/* Bytes taken from "from" and not yet sent to "to". */
int
tcp_relay_pending(const struct tcp_relay *r)
{
	return (r->off < r->len || r->piped > 0);
}

/*
 * The FIN passed on once "from" has sent it and every byte before it
 * is sent: 1 when the direction is done (now or before), 0 if not yet,
 * -1 if the shutdown failed.
 */
int
tcp_relay_finish(struct tcp_relay *r)
{
	if (r->shut)
		return (1);
	if (!r->eof || tcp_relay_pending(r))
		return (0);
	r->shut = 1;
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

void
tcp_relay_free(struct tcp_relay *r)
{
	free(r->buf);
	r->buf = NULL;
	r->off = r->len = 0;
	tcp_relay_pipe_put(r);
}

void
tcp_relay_pipes_free(struct tcp_relay_pipes *p)
{
	while (p->n > 0) {
		p->n--;
		close(p->fds[p->n][0]);
		close(p->fds[p->n][1]);
	}
}
