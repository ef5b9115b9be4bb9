/*
 * handover.c: the inbox through which a draining worker hands its idle
 * connections to the workers of the serving generation.
 *
 * One SOCK_SEQPACKET socketpair for a drover's whole life: the master
 * makes it at start (or takes it over from the old master in a binary
 * upgrade, DROVER_HANDOVER=SEND,RECV in the environment) and every worker
 * inherits both ends. A draining worker writes a message (the server's
 * name, the connection's idle deadline, its peer) with the connection's
 * descriptor attached to the send end; every serving worker reads the
 * receive end, and the kernel gives each message to exactly one of them.
 * So there is no routing, no hop through the master, and the old and new
 * masters' workers meet in the same inbox. A worker reads it only while
 * it serves (from ready to drain).
 *
 * A receiver keeps one descriptor spare (/dev/null) and frees it just
 * before each recvmsg(), so a descriptor attached to a message always
 * finds a slot: at the fd limit the kernel would otherwise close it
 * unseen. When the spare cannot be had again, the receiver stops reading
 * for a while and leaves the inbox to the other workers. A connection
 * that no worker had room for within HANDOVER_WAIT_MS is taken out by a
 * worker without a free slot all the same: the kernel closes it, and as
 * nothing of a request was read, a request racing with that close meets
 * a reset (the close rule of http_handover.c).
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "event/service.h"
#include "process/channel.h"
#include "process/handover.h"
#include "process/worker.h"

#define HANDOVER_ENV		"DROVER_HANDOVER"
#define HANDOVER_MAGIC		0x64726f7668616e64ULL	/* "drovhand" */
#define HANDOVER_BATCH		4	/* per wake-up: spread among workers */
#define HANDOVER_PAUSE_MS	200	/* out of descriptors: others read */
#define HANDOVER_SNDBUF		(4 * 1024 * 1024)	/* asked, not got */
#define HANDOVER_WAIT_MS	5000	/* in the inbox, then closed */

struct handover_msg {
	uint64_t		 magic;
	int64_t			 sent;		/* ms, CLOCK_MONOTONIC */
	int32_t			 protocol;
	char			 server[HANDOVER_NAME_MAX];
	struct service_handoff	 h;
};

static struct {
	struct event_base	*base;
	int			 send_fd;
	int			 recv_fd;
	struct event		*ev_recv;
	struct event		*ev_resume;
	int			 spare;
	int			 on;
} ho = { NULL, -1, -1, NULL, NULL, -1, 0 };

/* -- the master: making the inbox, passing it to a new binary ----------- */

static int
handover_is_seqpacket(int fd)
{
	int		 type;
	socklen_t	 len = sizeof(type);

	return (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_SEQPACKET);
}

/* The inbox: taken over from an old master, or a new one; -1 on error. */
int
handover_open(int fds[2])
{
	const char	*env = getenv(HANDOVER_ENV);
	int		 size = HANDOVER_SNDBUF;

	if (env != NULL) {
		if (sscanf(env, "%d,%d", &fds[0], &fds[1]) == 2 &&
		    handover_is_seqpacket(fds[0]) &&
		    handover_is_seqpacket(fds[1])) {
			fcntl(fds[0], F_SETFD, FD_CLOEXEC);
			fcntl(fds[1], F_SETFD, FD_CLOEXEC);
			unsetenv(HANDOVER_ENV);
			return (0);
		}
		log_warnx("%s=%s: not the old master's inbox: idle "
		    "connections of its workers cannot come here",
		    HANDOVER_ENV, env);
		unsetenv(HANDOVER_ENV);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, fds) == -1)
		return (-1);
	/* More in flight than the default before a sender must wait. */
	(void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return (0);
}

/* In the child about to exec the new binary: it inherits the inbox. */
void
handover_exec_child(const int fds[2])
{
	char	 buf[32];

	if (fds[0] == -1)
		return;
	fcntl(fds[0], F_SETFD, 0);
	fcntl(fds[1], F_SETFD, 0);
	snprintf(buf, sizeof(buf), "%d,%d", fds[0], fds[1]);
	setenv(HANDOVER_ENV, buf, 1);
}

/* -- a worker: taking connections in --------------------------------- */

static void	handover_recv_cb(evutil_socket_t, short, void *);

static void
handover_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	if (ho.on && ho.ev_recv != NULL)
		event_add(ho.ev_recv, NULL);
}

/* Out of descriptors: let the other workers take what comes for now. */
static void
handover_pause(void)
{
	struct timeval	 tv = { 0, HANDOVER_PAUSE_MS * 1000 };

	event_del(ho.ev_recv);
	evtimer_add(ho.ev_resume, &tv);
}

/* A connection handed over and closed unread: a drain closed it. */
static void
handover_count_closed(const struct handover_msg *msg)
{
	struct wserver	*sv;

	if ((sv = worker_server_find(msg->server, msg->protocol)) != NULL)
		STATS_ADD(sv->st, drain_closed, 1);
	else
		stats_series_drain_closed(stats_region, msg->server);
}

/* The connection goes to our server of that name, or is closed unread. */
static void
handover_deliver(const struct handover_msg *msg, int fd)
{
	struct wserver	*sv;

	sv = worker_server_find(msg->server, msg->protocol);
	if (sv == NULL || sv->svc->adopt == NULL) {
		log_notice("a connection handed over for server %s, which "
		    "this configuration does not have: closed", msg->server);
		close(fd);
		handover_count_closed(msg);
		return;
	}
	sv->svc->adopt(sv, fd, &msg->h);
}

static int64_t
handover_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * No descriptor slot free. A message that waited too long is taken out
 * anyway: with no slot, the kernel closes its descriptor. 1 if one was,
 * else 0 (the next is younger still, or there is none).
 */
static int
handover_expire_one(void)
{
	struct handover_msg	 msg;
	ssize_t			 n;
	int			 fd, mflags;

	n = channel_recvfd(ho.recv_fd, &msg, sizeof(msg), MSG_PEEK, &fd,
	    &mflags);
	if (fd != -1)
		close(fd);	/* a slot came free: the next turn takes it */
	if (n != (ssize_t)sizeof(msg) || msg.magic != HANDOVER_MAGIC ||
	    fd != -1 || handover_now() - msg.sent < HANDOVER_WAIT_MS)
		return (0);
	if (channel_recvfd(ho.recv_fd, &msg, sizeof(msg), 0, &fd,
	    &mflags) == -1)
		return (0);
	if (fd != -1)
		close(fd);
	msg.server[sizeof(msg.server) - 1] = '\0';
	handover_count_closed(&msg);
	return (1);
}

/* One message: 1 taken, 0 none left, -1 stop reading for now. */
static int
handover_recv_one(void)
{
	struct handover_msg	 msg;
	ssize_t			 n;
	int			 i, fd, mflags;

	if (ho.spare == -1 &&
	    (ho.spare = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		for (i = 0; i < HANDOVER_BATCH && handover_expire_one(); i++)
			;
		if (i > 0)
			log_warnx("%d connections handed over waited %d ms for "
			    "a worker with a free descriptor: closed (raise "
			    "rlimit_nofile?)", i, HANDOVER_WAIT_MS);
		return (-1);
	}
	close(ho.spare);	/* the slot the descriptor will take */
	n = channel_recvfd(ho.recv_fd, &msg, sizeof(msg), 0, &fd, &mflags);
	ho.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return (0);
	if (n == -1) {
		log_warn("handover inbox");	/* a pause, not a spin */
		return (-1);
	}
	if (n != (ssize_t)sizeof(msg) || msg.magic != HANDOVER_MAGIC ||
	    fd == -1 || (mflags & (MSG_TRUNC | MSG_CTRUNC))) {
		log_warnx("handover: a malformed message (%zd bytes%s): "
		    "dropped", n, fd == -1 ? ", no descriptor" : "");
		if (fd != -1)
			close(fd);
		return (1);
	}
	msg.server[sizeof(msg.server) - 1] = '\0';
	handover_deliver(&msg, fd);
	return (ho.spare == -1 ? -1 : 1);
}

static void
handover_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 i, rc = 1;

	(void)fd;
	(void)what;
	for (i = 0; i < HANDOVER_BATCH && ho.on && rc == 1; i++)
		rc = handover_recv_one();
	if (rc == -1 && ho.on)
		handover_pause();
}

/* The worker's end: nothing is read until handover_receive(1). */
int
handover_worker_init(struct event_base *base, int send_fd, int recv_fd)
{
	ho.base = base;
	ho.send_fd = send_fd;
	ho.recv_fd = recv_fd;
	if (recv_fd == -1)
		return (0);
	ho.ev_recv = event_new(base, recv_fd, EV_READ | EV_PERSIST,
	    handover_recv_cb, NULL);
	ho.ev_resume = evtimer_new(base, handover_resume_cb, NULL);
	ho.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (ho.ev_recv == NULL || ho.ev_resume == NULL ? -1 : 0);
}

/* Serving: take connections (1); draining: leave them to others (0). */
void
handover_receive(int on)
{
	if (ho.ev_recv == NULL || ho.on == on)
		return;
	ho.on = on;
	if (on)
		event_add(ho.ev_recv, NULL);
	else {
		event_del(ho.ev_recv);
		evtimer_del(ho.ev_resume);
	}
}

void
handover_worker_free(void)
{
	if (ho.ev_recv != NULL)
		event_free(ho.ev_recv);
	if (ho.ev_resume != NULL)
		event_free(ho.ev_resume);
	ho.ev_recv = ho.ev_resume = NULL;
	if (ho.spare != -1)
		close(ho.spare);
	ho.spare = -1;
	ho.on = 0;
}

/* -- a worker: handing connections on -------------------------------- */

/*
 * Put an idle connection of server sv in the inbox: 0 sent (the caller
 * closes its copy), -1 with errno (EAGAIN and the like: try again soon).
 */
int
service_handover(struct wserver *sv, int fd, const struct service_handoff *h)
{
	struct handover_msg	 msg;

	if (ho.send_fd == -1 ||
	    strlen(sv->conf->name) >= sizeof(msg.server)) {
		errno = EOPNOTSUPP;
		return (-1);
	}
	memset(&msg, 0, sizeof(msg));
	msg.magic = HANDOVER_MAGIC;
	msg.sent = handover_now();
	msg.protocol = sv->conf->protocol;
	snprintf(msg.server, sizeof(msg.server), "%s", sv->conf->name);
	msg.h = *h;
	return (channel_sendfd(ho.send_fd, &msg, sizeof(msg), fd));
}
