/*
 * refserver.c: the ceiling line for contrib/bench/run. A bare epoll loop
 * per process that answers every request (any request ending in an empty
 * line) with one canned 13-byte response, and closes after it when the
 * bytes read contain "Connection: close". No parsing, no timers, no
 * files: what one core can do when a server does almost nothing.
 * Also the upstream of contrib/bench/proxy/run.
 *
 * The processes it forks end with it: SIGTERM or SIGINT to the parent is
 * passed on to them, and each asks the kernel for SIGTERM when the
 * parent goes (a SIGKILL of the parent left them running before).
 *
 *   cc -O2 -o refserver refserver.c && ./refserver PORT [PROCESSES]
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char reply[] =
    "HTTP/1.1 200 OK\r\nServer: ref\r\nContent-Type: text/plain\r\n"
    "Content-Length: 13\r\n\r\nHello, World!";
static const char reply_close[] =
    "HTTP/1.1 200 OK\r\nServer: ref\r\nContent-Type: text/plain\r\n"
    "Content-Length: 13\r\nConnection: close\r\n\r\nHello, World!";

#define REF_MAXPROC	64

static pid_t		 ref_children[REF_MAXPROC];
static int		 ref_nchildren;

/* The parent's SIGTERM and SIGINT: the children go first. */
static void
ref_stop(int sig)
{
	int	 i;

	for (i = 0; i < ref_nchildren; i++)
		kill(ref_children[i], SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
ref_listen(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4096) == -1)
		return (-1);
	return (fd);
}

/* Answer every complete request head in buf; -1 to close. */
static int
ref_answer(int fd, const char *buf, ssize_t n, int *state)
{
	static char	 out[64 * sizeof(reply)];
	size_t		 len = 0;
	ssize_t		 i;
	int		 close_after;

	close_after = memmem(buf, (size_t)n, "Connection: close", 17) != NULL;
	if (close_after) {
		/* One request per connection: answer it and close. */
		if (write(fd, reply_close, sizeof(reply_close) - 1) !=
		    (ssize_t)sizeof(reply_close) - 1)
			return (-1);
		return (-1);
	}

	for (i = 0; i < n; i++) {
		/* state counts the bytes of "\r\n\r\n" seen so far */
		if (buf[i] == (*state % 2 == 0 ? '\r' : '\n'))
			(*state)++;
		else
			*state = buf[i] == '\r';
		if (*state == 4) {
			*state = 0;
			if (len + sizeof(reply) - 1 > sizeof(out)) {
				if (write(fd, out, len) != (ssize_t)len)
					return (-1);
				len = 0;
			}
			memcpy(out + len, reply, sizeof(reply) - 1);
			len += sizeof(reply) - 1;
		}
	}
	if (len > 0 && write(fd, out, len) != (ssize_t)len)
		return (-1);
	return (0);
}

static void
ref_loop(int lfd)
{
	struct epoll_event	 ev, evs[256];
	static int		 state[65536];
	char			 buf[16384];
	int			 ep, n, i, fd, one = 1;
	ssize_t			 r;

	if ((ep = epoll_create1(0)) == -1)
		exit(1);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					if (fd >= 65536) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					state[fd] = 0;
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r > 0 && ref_answer(fd, buf, r, &state[fd]) == 0)
				continue;
			if (r == -1 && errno == EAGAIN)
				continue;
			close(fd);
		}
	}
}

/* In a child: die with the parent, even when it was killed first. */
static void
ref_orphan_guard(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(1);
}

int
main(int argc, char **argv)
{
	pid_t	 parent = getpid(), pid;
	int	 port, nproc, lfd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: refserver PORT [PROCESSES]\n");
		return (2);
	}
	port = atoi(argv[1]);
	nproc = argc > 2 ? atoi(argv[2]) : 1;
	if (nproc < 1 || nproc > REF_MAXPROC) {
		fprintf(stderr, "refserver: 1 to %d processes\n", REF_MAXPROC);
		return (2);
	}
	signal(SIGTERM, ref_stop);
	signal(SIGINT, ref_stop);
	for (i = 0; i < nproc; i++) {
		if ((lfd = ref_listen(port)) == -1) {
			perror("refserver: listen");
			ref_stop(SIGTERM);
		}
		if ((pid = fork()) == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			ref_orphan_guard(parent);
			ref_loop(lfd);
		}
		if (pid > 0)
			ref_children[ref_nchildren++] = pid;
		close(lfd);
	}
	while (wait(NULL) > 0)
		;
	return (0);
}
