/*
 * exec_ready.c: ready = "http:/PATH". Once its exec() succeeded, the master
 * sends GET PATH to the server's first listen address a few times a
 * second, one request at a time, until the process answers 2xx;
 * ready_timeout bounds it (generation.c).
 *
 * The answer must be the process's own. During a reload the process being
 * checked shares its slot's listener with the one it replaces, and the
 * address is a whole reuseport group: any of them may accept the check's
 * connection. So the request is sent only once the connection has been
 * accepted by the process checked (or a child of it): sock_diag gives the
 * inode of the accepted socket, /proc/PID/fd who holds it. A connection
 * another process accepted is closed unused and the check tries again.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/addr.h"
#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/sockdiag.h"
#include "process/master_int.h"

#define EXEC_PROBE_PERIOD_MS	200	/* between two requests */
#define EXEC_PROBE_TIMEOUT_MS	2000	/* one request, accept to answer */
#define EXEC_PROBE_ACCEPT_MS	5	/* between two looks at the accept */
#define EXEC_PROBE_QUEUED_MS	200	/* not accepted yet: another socket */
#define EXEC_PROBE_QUICK	8	/* tries at once, then a period's wait */

static void	exec_probe_owner_cb(evutil_socket_t, short, void *);

/* Where to connect for an address: the any-address means loopback. */
static void
exec_probe_addr(const struct addr *listen, struct addr *to)
{
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	*to = *listen;
	if (addr_family(to) == AF_INET) {
		sin = (struct sockaddr_in *)(void *)&to->ss;
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (addr_family(to) == AF_INET6) {
		sin6 = (struct sockaddr_in6 *)(void *)&to->ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
	}
}

static void
exec_probe_close(struct xproc *x)
{
	exec_fd_close(&x->ev_probe, &x->probe_fd);
	x->probe_len = 0;
}

/* The next request in EXEC_PROBE_PERIOD_MS (soon: at once). */
static void
exec_probe_again_in(struct wproc *wp, int soon)
{
	struct timeval	 tv = { 0, 0 };

	/* Never a loop of connections at an old process: a few, then a
	 * period's wait. */
	if (!soon || ++wp->x->probe_quick > EXEC_PROBE_QUICK) {
		tv.tv_usec = EXEC_PROBE_PERIOD_MS * 1000;
		wp->x->probe_quick = 0;
	}
	exec_probe_close(wp->x);
	if (wp->x->ev_probe_timer != NULL)
		evtimer_add(wp->x->ev_probe_timer, &tv);
}

static void
exec_probe_again(struct wproc *wp)
{
	exec_probe_again_in(wp, 0);
}

/* Wait on the probe's socket (or, with fd -1, a while) then call cb. */
static void
exec_probe_wait(struct wproc *wp, int fd, short what, long ms,
    event_callback_fn cb)
{
	struct xproc	*x = wp->x;
	struct timeval	 tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (x->ev_probe != NULL)
		event_free(x->ev_probe);
	x->ev_probe = event_new(m.base, fd, what, cb, wp);
	if (x->ev_probe == NULL || event_add(x->ev_probe, &tv) == -1)
		exec_probe_again(wp);
}

/* The status of a complete status line in buf, or 0 if there is none. */
static int
exec_probe_status(const char *buf, size_t len)
{
	int	 status;

	if (memchr(buf, '\n', len) == NULL)
		return (0);
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
	    sscanf(buf + 9, "%3d", &status) != 1)
		return (-1);
	return (status);
}

/* The answer: ready on a 2xx. */
static void
exec_probe_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc	*wp = arg;
	struct xproc	*x = wp->x;
	ssize_t		 n;
	int		 status;

	if (what & EV_TIMEOUT) {
		exec_probe_again(wp);
		return;
	}
	n = recv(fd, x->probe_buf + x->probe_len, sizeof(x->probe_buf) -
	    x->probe_len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		x->probe_len += (size_t)n;
	status = exec_probe_status(x->probe_buf, x->probe_len);
	if (status == 0 && n > 0 && x->probe_len < sizeof(x->probe_buf))
		return;
	log_debug("process %ld of server %s: GET %s: %d", (long)wp->pid,
	    x->sc->name, x->sc->exec->ready_path, status);
	if (status >= 200 && status <= 299) {
		exec_ready_stop(x);
		wproc_ready(wp);
		return;
	}
	exec_probe_again(wp);
}

/* The process checked has the connection: ask. */
static void
exec_probe_send(struct wproc *wp)
{
	struct xproc	*x = wp->x;
	char		 req[1024], host[ADDR_STRLEN];
	int		 len;

	addr_format(&x->sc->listens[0].addr, host, sizeof(host));
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: drover (ready check)\r\nConnection: close\r\n\r\n",
	    x->sc->exec->ready_path, host);
	/* A fresh socket's buffer takes a request this small. */
	if (send(x->probe_fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		exec_probe_again(wp);
		return;
	}
	exec_probe_wait(wp, x->probe_fd, EV_READ | EV_PERSIST,
	    x->probe_deadline - clock_now_ms(), exec_probe_read_cb);
}

/* Who accepted the connection: the process checked, another, nobody yet. */
static void
exec_probe_owner_cb(evutil_socket_t unused, short what, void *arg)
{
	struct wproc	*wp = arg;
	struct xproc	*x = wp->x;
	unsigned long	 ino = 0;

	(void)unused;
	(void)what;
	if (sockdiag_tcp_inode(&x->probe_to, &x->probe_from, &ino) == -1) {
		exec_probe_again(wp);
		return;
	}
	/*
	 * The kernel put the connection in one socket of the group by a
	 * hash of its addresses: one a process accepted that is not the one
	 * checked, or one nobody accepts on for a while (a sibling still
	 * starting), says nothing about it. Another connection, with
	 * another port, goes elsewhere: try again at once.
	 */
	if (ino == 0) {
		if (clock_now_ms() >= x->probe_deadline -
		    EXEC_PROBE_TIMEOUT_MS + EXEC_PROBE_QUEUED_MS)
			exec_probe_again_in(wp, 1);
		else
			exec_probe_wait(wp, -1, 0, EXEC_PROBE_ACCEPT_MS,
			    exec_probe_owner_cb);
		return;
	}
	if (!sockdiag_pid_holds(wp->pid, ino)) {
		log_debug("process %ld of server %s: the check's connection "
		    "went to another process: again", (long)wp->pid,
		    x->sc->name);
		exec_probe_again_in(wp, 1);
		return;
	}
	exec_probe_send(wp);
}

/* Connected (or not). */
static void
exec_probe_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc	*wp = arg;
	struct xproc	*x = wp->x;
	socklen_t	 len = sizeof(x->probe_from);
	int		 err = 0;
	socklen_t	 elen = sizeof(err);

	if ((what & EV_TIMEOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
	    &elen) == -1 || err != 0 || getsockname(fd,
	    (struct sockaddr *)&x->probe_from, &len) == -1) {
		exec_probe_again(wp);
		return;
	}
	exec_probe_owner_cb(-1, 0, wp);
}

/* Time for a request: connect. */
static void
exec_probe_tick(evutil_socket_t unused, short what, void *arg)
{
	struct wproc	*wp = arg;
	struct xproc	*x = wp->x;
	struct addr	 to;
	int		 fd;

	(void)unused;
	(void)what;
	if (wp->state != WPROC_STARTING)
		return;
	exec_probe_addr(&x->sc->listens[0].addr, &to);
	memcpy(&x->probe_to, &to.ss, sizeof(x->probe_to));
	x->probe_deadline = clock_now_ms() + EXEC_PROBE_TIMEOUT_MS;
	fd = socket(addr_family(&to), SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 || (connect(fd, (struct sockaddr *)&to.ss, to.len) ==
	    -1 && errno != EINPROGRESS)) {
		if (fd != -1)
			close(fd);
		exec_probe_again(wp);
		return;
	}
	x->probe_fd = fd;
	exec_probe_wait(wp, fd, EV_WRITE, EXEC_PROBE_TIMEOUT_MS,
	    exec_probe_connect_cb);
}

/* The program runs: check it until it answers. */
void
exec_ready_start(struct wproc *wp)
{
	struct timeval	 now = { 0, 0 };

	if (wp->x->ev_probe_timer == NULL)
		wp->x->ev_probe_timer = evtimer_new(m.base, exec_probe_tick,
		    wp);
	if (wp->x->ev_probe_timer == NULL) {
		log_warnx("process %ld: cannot check it: taken for ready",
		    (long)wp->pid);
		wproc_ready(wp);
		return;
	}
	evtimer_add(wp->x->ev_probe_timer, &now);
}

/* No more checks (ready, stopping or gone). */
void
exec_ready_stop(struct xproc *x)
{
	exec_probe_close(x);
	if (x->ev_probe_timer != NULL)
		event_free(x->ev_probe_timer);
	x->ev_probe_timer = NULL;
}
