/*
 * channel.c: fixed-size messages between the master and one worker over a
 * SOCK_SEQPACKET socketpair, so one recvmsg() is always one whole message.
 * A file descriptor may ride along (SCM_RIGHTS).
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process/channel.h"

/* Both ends close-on-exec; the master's end is made non-blocking by it. */
int
channel_pair(int fds[2])
{
	return (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds));
}

void
channel_msg_init(struct chan_msg *m, enum chan_type type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
}

const char *
channel_type_name(uint32_t type)
{
	switch (type) {
	case CHAN_READY:
		return ("ready");
	case CHAN_FATAL:
		return ("fatal");
	case CHAN_DRAINED:
		return ("drained");
	case CHAN_DRAIN:
		return ("drain");
	case CHAN_LOG_FD:
		return ("log-fd");
	case CHAN_ACCESS_LOG_FD:
		return ("access-log-fd");
	case CHAN_LISTENER:
		return ("listener");
	case CHAN_ADOPT:
		return ("adopt");
	case CHAN_SIBLING:
		return ("sibling");
	case CHAN_UNLISTENED:
		return ("unlistened");
	default:
		return ("unknown");
	}
}

/* Send one message, with fd attached when passfd >= 0. */
int
channel_send(int fd, const struct chan_msg *m, int passfd)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*c;
	ssize_t		 n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)m;
	iov.iov_len = sizeof(*m);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (passfd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	}
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (-1);
	if ((size_t)n != sizeof(*m)) {
		errno = EMSGSIZE;
		return (-1);
	}
	return (0);
}

/*
 * Receive one message. Returns 1 for a message, 0 at EOF, -1 on error
 * (errno EAGAIN when there is nothing, EBADMSG for a malformed message).
 * A received descriptor is stored in *passfd (else -1).
 */
int
channel_recv(int fd, struct chan_msg *m, int *passfd)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*c;
	ssize_t		 n;
	int		 got = -1;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = m;
	iov.iov_len = sizeof(*m);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (-1);
	if (n == 0)
		return (0);
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&got, CMSG_DATA(c), sizeof(int));
	}
	if (passfd != NULL)
		*passfd = got;
	else if (got != -1)
		close(got);
	if ((size_t)n != sizeof(*m) || (mh.msg_flags & MSG_TRUNC) ||
	    m->type == 0 || m->type >= CHAN_TYPE_MAX) {
		if (passfd != NULL && got != -1) {
			close(got);
			*passfd = -1;
		}
		errno = EBADMSG;
		return (-1);
	}
	m->text[CHAN_TEXT_MAX - 1] = '\0';
	return (1);
}
