/*
 * contrib/bench/udp/ceiling.c: the cheapest UDP echo there is, for
 * contrib/bench/udp/run: one process, one socket, recvmmsg() a batch,
 * sendmmsg() it back to where each datagram came from, block in poll()
 * when there is nothing to read. It is both the throughput ceiling the
 * daemon is compared with and the upstream behind nginx's stream proxy.
 *
 *   ceiling HOST PORT [PORTFILE]
 *
 * Binds HOST:PORT (port 0: the kernel picks; the port is written to
 * PORTFILE when given, then the file is renamed into place), runs until
 * SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH	64
#define MAXDG	2048

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Bind a UDP socket to host:port (IPv4 or IPv6 literal); -1 on error. */
static int
bind_udp(const char *host, const char *port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	int fd, one = 1, size = 8 << 20;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(atoi(port));
		*len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(atoi(port));
		*len = sizeof(*sin6);
	} else {
		fprintf(stderr, "ceiling: %s: not an address\n", host);
		return -1;
	}
	if ((fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)ss, *len) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Write the bound port to path (through a temporary file and rename). */
static int
write_port(const char *path, int port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

int
main(int argc, char **argv)
{
	static char bufs[BATCH][MAXDG];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage peers[BATCH], ss;
	struct pollfd pfd;
	socklen_t len;
	int fd, i, n, sent, port;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: ceiling HOST PORT [PORTFILE]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((fd = bind_udp(argv[1], argv[2], &ss, &len)) < 0) {
		perror("ceiling: bind");
		return 1;
	}
	port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (argc == 4 && write_port(argv[3], port) < 0) {
		perror("ceiling: port file");
		return 1;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!stop) {
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = MAXDG;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &peers[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		}
		n = recvmmsg(fd, msgs, BATCH, 0, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					break;
				continue;
			}
			perror("ceiling: recvmmsg");
			continue;
		}
		for (i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len;
		/* A datagram that cannot be sent now is dropped, as a server
		 * would: the ceiling never blocks on a reply. */
		for (sent = 0; sent < n; ) {
			i = sendmmsg(fd, msgs + sent, n - sent, 0);
			if (i <= 0) {
				if (i < 0 && errno == EINTR)
					continue;
				sent++;
				continue;
			}
			sent += i;
		}
	}
	close(fd);
	return 0;
}
