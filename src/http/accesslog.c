/*
 * accesslog.c: an access log buffer per http server and worker.
 *
 * Lines are appended to a buffer and written with one write() when it is
 * full, once a second (the worker's timer) and at exit. The descriptor is
 * opened by the master with O_APPEND and each write holds whole lines, so
 * workers sharing a file never interleave partial lines.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "http/accesslog.h"
#include "core/log.h"

#define ACCESSLOG_BUFSIZE	(64 * 1024)

struct accesslog {
	int	 fd;
	size_t	 len;
	char	 buf[ACCESSLOG_BUFSIZE];
};

struct accesslog *
accesslog_new(int fd)
{
	struct accesslog	*al;

	if ((al = malloc(sizeof(*al))) == NULL)
		return (NULL);
	al->fd = fd;
	al->len = 0;
	return (al);
}

void
accesslog_free(struct accesslog *al)
{
	if (al == NULL)
		return;
	accesslog_flush(al);
	if (al->fd != -1)
		close(al->fd);
	free(al);
}

/* Switch to a reopened file (USR1); what is buffered goes to the new one. */
void
accesslog_set_fd(struct accesslog *al, int fd)
{
	if (al->fd != -1 && al->fd != fd)
		close(al->fd);
	al->fd = fd;
}

/* Room for a line of at most len bytes, or NULL if it can never fit. */
char *
accesslog_reserve(struct accesslog *al, size_t len)
{
	if (len > sizeof(al->buf))
		return (NULL);
	if (sizeof(al->buf) - al->len < len)
		accesslog_flush(al);
	return (al->buf + al->len);
}

void
accesslog_commit(struct accesslog *al, size_t len)
{
	al->len += len;
}

/* Write out whole buffered lines; on error drop them (and say so once). */
void
accesslog_flush(struct accesslog *al)
{
	ssize_t	 n;
	size_t	 off = 0;

	while (off < al->len && al->fd != -1) {
		n = write(al->fd, al->buf + off, al->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("access log: %zu bytes lost", al->len - off);
			break;
		}
		off += (size_t)n;
	}
	al->len = 0;
}
