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

/*
 * One whole datagram of len bytes out, without waiting, with descriptor
 * passfd attached (SCM_RIGHTS) when it is not -1: 0, or -1 with errno.
 */
int
channel_sendfd(int sock, const void *buf, size_t len, int passfd)
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
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
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
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (-1);
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return (-1);
	}
	return (0);
}

/*
 * One datagram in, without waiting (flags may add MSG_PEEK): its length,
 * 0 at end of file, -1 with errno. A descriptor that came with it is
 * stored in *passfd (else -1), the message's flags (MSG_TRUNC,
 * MSG_CTRUNC: one came but found no free slot) in *mflags.
 */
ssize_t
channel_recvfd(int sock, void *buf, size_t len, int flags, int *passfd,
    int *mflags)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*c;
	ssize_t		 n;

	*passfd = -1;
	*mflags = 0;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(sock, &mh, flags | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (-1);
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(passfd, CMSG_DATA(c), sizeof(int));
	*mflags = mh.msg_flags;
	return (n);
}

/* Send one message, with fd attached when passfd >= 0. */
int
channel_send(int fd, const struct chan_msg *m, int passfd)
{
	return (channel_sendfd(fd, m, sizeof(*m), passfd));
}

/*
 * Receive one message. Returns 1 for a message, 0 at EOF, -1 on error
 * (errno EAGAIN when there is nothing, EBADMSG for a malformed message).
 * A received descriptor is stored in *passfd (else -1).
 */
int
channel_recv(int fd, struct chan_msg *m, int *passfd)
{
	ssize_t		 n;
	int		 got, mflags;

	n = channel_recvfd(fd, m, sizeof(*m), 0, &got, &mflags);
	if (n == -1)
		return (-1);
	if (n == 0) {
		if (got != -1)
			close(got);
		return (0);
	}
	if (passfd != NULL)
		*passfd = got;
	else if (got != -1)
		close(got);
	if ((size_t)n != sizeof(*m) || (mflags & MSG_TRUNC) ||
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
