/*
 * control_client.c: drover -s talking to the master's control socket:
 * one request line out, the whole answer in (the master closes when it
 * has said it), within a deadline.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "process/control.h"

#define CONTROL_REPLY_MAX	(16 << 20)	/* a status of many workers */

/* Milliseconds left until deadline (CLOCK_MONOTONIC), at least 0. */
static int
control_left_ms(const struct timespec *deadline)
{
	struct timespec	 now;
	long		 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000L +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000L;
	return (ms < 0 ? 0 : (int)ms);
}

/* Wait until fd is ready for events; -1 once the deadline has passed. */
static int
control_wait(int fd, short events, const struct timespec *deadline)
{
	struct pollfd	 pfd = { .fd = fd, .events = events };
	int		 rc;

	do
		rc = poll(&pfd, 1, control_left_ms(deadline));
	while (rc == -1 && errno == EINTR);
	if (rc == 0)
		errno = ETIMEDOUT;
	return (rc > 0 ? 0 : -1);
}

/* Connect to path; CONTROL_NOBODY if no master listens there. */
static int
control_connect(const char *path, int timeout, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { timeout, 0 };
	int			 fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	/* A full backlog (a busy master) makes connect wait: this long. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
	    fcntl(fd, F_SETFL, O_NONBLOCK) == 0)
		return (fd);
	e = errno;
	close(fd);
	if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
		return (CONTROL_NOBODY);
	snprintf(err, errlen, "control socket %s: %s", path,
	    strerror(e == EAGAIN || e == EINPROGRESS ? ETIMEDOUT : e));
	return (-1);
}

/* Send the whole line. */
static int
control_write_line(int fd, const char *line, const struct timespec *deadline)
{
	size_t	 len = strlen(line), off = 0;
	ssize_t	 n;

	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n == -1 && errno == EINTR)
			continue;
		else if (n == -1 && errno == EAGAIN &&
		    control_wait(fd, POLLOUT, deadline) == 0)
			continue;
		else
			return (-1);
	}
	return (0);
}

/* Read until the master closes; the answer NUL-terminated in *out. */
static int
control_read_all(int fd, char **out, const struct timespec *deadline)
{
	char	*buf = NULL, *nb;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (cap - len < 4096) {
			if (cap >= CONTROL_REPLY_MAX) {
				errno = EMSGSIZE;
				break;
			}
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL)
				break;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == ECONNRESET && len > 0)
			n = 0;	/* it closed with bytes of ours unread */
		if (n == 0) {
			buf[len] = '\0';
			*out = buf;
			return (0);
		}
		if (n > 0)
			len += (size_t)n;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN ||
		    control_wait(fd, POLLIN, deadline) == -1)
			break;
	}
	free(buf);
	return (-1);
}

/*
 * Send request (a line, newline included) to the control socket at path
 * and read the answer into *reply (malloc'd), waiting at most timeout
 * seconds. 0 on an answer; CONTROL_NOBODY if no master listens at path
 * (none runs, or an older one without a control socket); -1 with err.
 */
int
control_request(const char *path, const char *request, int timeout,
    char **reply, char *err, size_t errlen)
{
	struct timespec	 deadline;
	int		 fd, rc;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	if ((fd = control_connect(path, timeout, err, errlen)) == -1 ||
	    fd == CONTROL_NOBODY)
		return (fd);
	if (control_write_line(fd, request, &deadline) == -1) {
		snprintf(err, errlen, "control socket %s: send: %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	rc = control_read_all(fd, reply, &deadline);
	if (rc == -1)
		snprintf(err, errlen, "control socket %s: no complete answer "
		    "within %d s: %s", path, timeout, strerror(errno));
	close(fd);
	return (rc);
}
