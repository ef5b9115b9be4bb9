/*
 * exec_notify.c: the NOTIFY_SOCKET of each exec process (the sd_notify
 * protocol): a datagram socket of its own in the abstract namespace, so
 * there is no file to clean up and no directory the program's user must
 * reach. Only the process itself is heard (its pid, from SCM_CREDENTIALS,
 * as systemd's NotifyAccess=main): READY=1, STATUS=, STOPPING=1 and
 * WATCHDOG=1; other assignments are ignored.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"
#include "process/master_int.h"

#define EXEC_NOTIFY_MAX	4096	/* bytes of one message we read */

/* One assignment of a message from the process. */
static void
exec_notify_line(struct wproc *wp, const char *line)
{
	struct xproc	*x = wp->x;

	if (strcmp(line, "READY=1") == 0) {
		if (x->sc->exec->ready == EXEC_READY_NOTIFY)
			wproc_ready(wp);
	} else if (strncmp(line, "STATUS=", 7) == 0) {
		snprintf(x->status, sizeof(x->status), "%s", line + 7);
		log_debug("process %ld of server %s: status \"%s\"",
		    (long)wp->pid, x->sc->name, x->status);
	} else if (strcmp(line, "STOPPING=1") == 0) {
		x->stopping = 1;
		log_info("process %ld of server %s is stopping",
		    (long)wp->pid, x->sc->name);
	} else if (strcmp(line, "WATCHDOG=1") == 0)
		x->watchdog = (long)(clock_now_ms() / 1000);
}

/* The pid that sent a message, from its credentials; -1 if none. */
static pid_t
exec_notify_sender(struct msghdr *mh)
{
	struct cmsghdr	*cm;
	struct ucred	 uc;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(uc))) {
			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			return (uc.pid);
		}
	}
	return (-1);
}

static void
exec_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc	*wp = arg;
	char		 buf[EXEC_NOTIFY_MAX + 1], *line, *next;
	union {
		struct cmsghdr	 h;
		char		 b[CMSG_SPACE(sizeof(struct ucred))];
	}		 cbuf;
	struct iovec	 iov = { buf, EXEC_NOTIFY_MAX };
	struct msghdr	 mh;
	ssize_t		 n;
	pid_t		 from;

	(void)what;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.b;
		mh.msg_controllen = sizeof(cbuf.b);
		if ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			return;		/* EAGAIN: all read */
		}
		from = exec_notify_sender(&mh);
		if (from != wp->pid) {
			log_debug("server %s: NOTIFY_SOCKET message from pid "
			    "%ld, not process %ld: ignored", wp->x->sc->name,
			    (long)from, (long)wp->pid);
			continue;
		}
		buf[n] = '\0';
		for (line = buf; line != NULL; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			exec_notify_line(wp, line);
		}
		if (wp->x == NULL || wp->x->notify_fd != fd)
			return;
	}
}

/*
 * Open the NOTIFY_SOCKET of a process about to start; its address, as
 * the program is to be told it, in addr. -1 (logged) if it cannot be.
 */
int
exec_notify_open(struct wproc *wp, char *addr, size_t len)
{
	static unsigned		 counter;
	struct xproc		*x = wp->x;
	struct sockaddr_un	 sun;
	socklen_t		 sl;
	int			 fd, one = 1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "drover/%ld/notify/%u", (long)getpid(), ++counter);
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sun.sun_path + 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)) == -1 || bind(fd, (struct sockaddr *)&sun, sl) ==
	    -1) {
		log_warn("server %s: cannot open a NOTIFY_SOCKET",
		    x->sc->name);
		if (fd != -1)
			close(fd);
		return (-1);
	}
	x->notify_fd = fd;
	x->ev_notify = event_new(m.base, fd, EV_READ | EV_PERSIST,
	    exec_notify_cb, wp);
	if (x->ev_notify == NULL || event_add(x->ev_notify, NULL) == -1) {
		log_warnx("server %s: cannot watch a NOTIFY_SOCKET",
		    x->sc->name);
		exec_notify_close(x);
		return (-1);
	}
	snprintf(addr, len, "@%s", sun.sun_path + 1);
	return (0);
}

void
exec_notify_close(struct xproc *x)
{
	exec_fd_close(&x->ev_notify, &x->notify_fd);
}

/*
 * worker_hang_timeout for a program that pings (WATCHDOG=1): one that
 * has, and then is silent for longer, is killed as a hung worker is.
 */
void
exec_watchdog_check(struct wproc *wp, int timeout, long now)
{
	struct xproc	*x = wp->x;

	if (x->watchdog <= 0 || now - x->watchdog <= timeout)
		return;
	log_warnx("process %ld of server %s has not sent WATCHDOG=1 for %ld "
	    "s: killing it with SIGABRT", (long)wp->pid, x->sc->name,
	    now - x->watchdog);
	kill(wp->pid, SIGABRT);
	kill(wp->pid, SIGCONT);
	x->watchdog = 0;
}
