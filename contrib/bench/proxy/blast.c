/*
 * blast.c: the two ends of contrib/bench/proxy/run's tcp scenario, a
 * source and a sink that move bytes as fast as loopback lets them, so
 * that what the bench sees is the CPU of the proxy between them.
 *
 *   blast sink PORT                 listen on 127.0.0.1:PORT
 *   blast send HOST PORT UP DOWN    connect, send UP bytes, get DOWN back
 *
 * A transfer: the sender writes a 16-byte header (UP and DOWN, 64-bit
 * big endian) and UP bytes; the sink reads them all, answers with the
 * 8-byte count it read, then writes DOWN bytes and closes. The sender
 * checks the count and the bytes that came back, and prints one line:
 * "up UP down DOWN seconds S". Nothing depends on half-close, which not
 * every proxy passes on. The sink serves one connection at a time.
 *
 *   cc -O2 -o blast blast.c
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLAST_CHUNK	(256 * 1024)

static char	 blast_buf[BLAST_CHUNK];

/* Read exactly len bytes into buf (NULL: discard); -1 on EOF or error. */
static int
blast_read(int fd, char *buf, uint64_t len)
{
	ssize_t	 n;
	size_t	 want;

	while (len > 0) {
		want = len < BLAST_CHUNK ? (size_t)len : BLAST_CHUNK;
		n = read(fd, buf != NULL ? buf : blast_buf, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		if (buf != NULL)
			buf += n;
		len -= (uint64_t)n;
	}
	return (0);
}

/* Write len bytes from buf (NULL: the filler buffer). */
static int
blast_write(int fd, const char *buf, uint64_t len)
{
	ssize_t	 n;
	size_t	 want;

	while (len > 0) {
		want = len < BLAST_CHUNK ? (size_t)len : BLAST_CHUNK;
		n = write(fd, buf != NULL ? buf : blast_buf, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		if (buf != NULL)
			buf += n;
		len -= (uint64_t)n;
	}
	return (0);
}

static void
blast_put64(char *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (char)(v & 0xff);
}

static uint64_t
blast_get64(const char *p)
{
	uint64_t v = 0;
	int	 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (unsigned char)p[i];
	return (v);
}

/* One transfer on an accepted connection. */
static void
blast_serve(int fd)
{
	char		 head[16], ack[8];
	uint64_t	 up, down;

	if (blast_read(fd, head, sizeof(head)) == -1)
		return;
	up = blast_get64(head);
	down = blast_get64(head + 8);
	if (blast_read(fd, NULL, up) == -1)
		return;
	blast_put64(ack, up);
	if (blast_write(fd, ack, sizeof(ack)) == -1)
		return;
	(void)blast_write(fd, NULL, down);
}

static int
blast_sink(int port)
{
	struct sockaddr_in	 sin;
	int			 lfd, fd, one = 1;

	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (1);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 128) == -1) {
		perror("blast: listen");
		return (1);
	}
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("blast: accept");
			return (1);
		}
		blast_serve(fd);
		close(fd);
	}
}

static int
blast_send(const char *host, int port, uint64_t up, uint64_t down)
{
	struct sockaddr_in	 sin;
	struct timespec		 t0, t1;
	char			 head[16], ack[8];
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "blast: bad address %s\n", host);
		return (2);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("blast: connect");
		return (1);
	}
	blast_put64(head, up);
	blast_put64(head + 8, down);
	if (blast_write(fd, head, sizeof(head)) == -1 ||
	    blast_write(fd, NULL, up) == -1) {
		perror("blast: write");
		return (1);
	}
	if (blast_read(fd, ack, sizeof(ack)) == -1 ||
	    blast_get64(ack) != up) {
		fprintf(stderr, "blast: the sink did not get all %llu bytes\n",
		    (unsigned long long)up);
		return (1);
	}
	if (blast_read(fd, NULL, down) == -1) {
		fprintf(stderr, "blast: fewer than %llu bytes came back\n",
		    (unsigned long long)down);
		return (1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	printf("up %llu down %llu seconds %.3f\n", (unsigned long long)up,
	    (unsigned long long)down, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return (0);
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	memset(blast_buf, 'x', sizeof(blast_buf));
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		return (blast_sink(atoi(argv[2])));
	if (argc == 6 && strcmp(argv[1], "send") == 0)
		return (blast_send(argv[2], atoi(argv[3]),
		    strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10)));
	fprintf(stderr, "usage: blast sink PORT | "
	    "blast send HOST PORT UP DOWN\n");
	return (2);
}
