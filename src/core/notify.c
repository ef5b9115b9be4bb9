/*
 * notify.c: the service manager's notify protocol (sd_notify(3)), spoken
 * without libsystemd so that Type=notify works in every build.
 *
 * The protocol is one datagram per message on the AF_UNIX socket named by
 * $NOTIFY_SOCKET: a filesystem path, or an abstract name when it starts
 * with '@'. The message is newline-separated VAR=VALUE assignments
 * (READY=1, RELOADING=1, STOPPING=1, MAINPID=, STATUS=, WATCHDOG=1...).
 * The manager learns who sent it from the socket's credentials. Nothing
 * listening is not an error: drover runs the same with or without one, so
 * failures are only logged at debug level.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/notify.h"

#define NOTIFY_MSG_MAX	1024	/* our messages are a few short lines */

/* The manager's address from $NOTIFY_SOCKET; its length, or 0 if none. */
static socklen_t
notify_address(struct sockaddr_un *sun)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	if (path == NULL || path[0] == '\0')
		return (0);
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof(sun->sun_path)) {
		log_debug("notify: NOTIFY_SOCKET=%s: not a socket path or "
		    "an abstract name that fits: ignored", path);
		return (0);
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@') {
		/* Abstract: a leading NUL, and the length says where it ends
		 * (no terminating NUL, which would be part of the name). */
		sun->sun_path[0] = '\0';
		return ((socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len));
	}
	return ((socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1));
}

/*
 * Send one message to the service manager, if one listens. 1 if it was
 * sent, 0 if there is no manager, -1 if sending failed (logged at debug).
 */
int
notify_send(const char *state)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	ssize_t			 n;
	int			 fd;

	if ((len = notify_address(&sun)) == 0)
		return (0);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_debug("notify: socket: %s", strerror(errno));
		return (-1);
	}
	do {
		n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		    (struct sockaddr *)&sun, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		log_debug("notify: %s: %s", getenv("NOTIFY_SOCKET"),
		    strerror(errno));
	close(fd);
	return (n == -1 ? -1 : 1);
}

/* notify_send() with printf formatting. */
int
notify_sendf(const char *fmt, ...)
{
	char	 buf[NOTIFY_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return (notify_send(buf));
}

/* CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants MONOTONIC_USEC=. */
uint64_t
notify_monotonic_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

/*
 * The watchdog interval asked of this process, in microseconds, or 0: it
 * is $WATCHDOG_USEC, meant for us unless $WATCHDOG_PID names another
 * process (it names the main process, and children inherit it).
 */
uint64_t
notify_watchdog_usec(void)
{
	const char		*s = getenv("WATCHDOG_USEC"), *p;
	char			*end;
	unsigned long long	 usec;
	long			 pid;

	if (s == NULL || getenv("NOTIFY_SOCKET") == NULL)
		return (0);
	if ((p = getenv("WATCHDOG_PID")) != NULL) {
		errno = 0;
		pid = strtol(p, &end, 10);
		if (errno != 0 || *end != '\0' || pid != (long)getpid())
			return (0);
	}
	errno = 0;
	usec = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || usec == 0) {
		log_debug("notify: WATCHDOG_USEC=%s: not a number of "
		    "microseconds: ignored", s);
		return (0);
	}
	return ((uint64_t)usec);
}

/*
 * In the child that execs the new master of a binary upgrade: the
 * watchdog is its to feed once it serves, so $WATCHDOG_PID names it.
 */
void
notify_watchdog_handover(void)
{
	char	 buf[32];

	if (getenv("WATCHDOG_USEC") == NULL)
		return;
	snprintf(buf, sizeof(buf), "%ld", (long)getpid());
	(void)setenv("WATCHDOG_PID", buf, 1);
}

/* In a worker: the manager is the master's to talk to, never ours. */
void
notify_forget(void)
{
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
}
