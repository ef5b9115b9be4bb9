/*
 * exec_output.c: what exec processes write on stdout and stderr. Each has
 * a pipe the master reads; every line goes, tagged "NAME[PID]", to the
 * server's output_log or, without one, to the error log (log_output()).
 * A reader lives until its pipe's end, which may be after the process
 * (a child of the program may hold the pipe): it is not the process's.
 * The last line of a process is kept for the report of its end.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "process/master_int.h"

#define EXEC_LINE_MAX	4096	/* a longer line is cut in pieces */

/* An output_log file, shared by the processes of the servers using it. */
struct xlog {
	TAILQ_ENTRY(xlog)	 entry;
	char			*path;
	int			 fd;
	int			 refs;
};

struct xout {
	TAILQ_ENTRY(xout)	 entry;
	int			 fd;
	struct event		*ev;
	struct xlog		*log;		/* NULL: the error log */
	struct xproc		*x;		/* NULL once reaped */
	char			 name[CONF_NAME_MAX];
	pid_t			 pid;
	size_t			 len;
	char			 buf[EXEC_LINE_MAX];
};

static TAILQ_HEAD(, xlog)	exec_logs = TAILQ_HEAD_INITIALIZER(exec_logs);
static TAILQ_HEAD(, xout)	exec_outs = TAILQ_HEAD_INITIALIZER(exec_outs);

static int
exec_log_open(const char *path)
{
	int	 fd;

	if (strcmp(path, "stderr") == 0)
		return (fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		log_warn("output_log %s", path);
	return (fd);
}

static struct xlog *
exec_log_get(const char *path)
{
	struct xlog	*l;

	TAILQ_FOREACH(l, &exec_logs, entry)
		if (strcmp(l->path, path) == 0) {
			l->refs++;
			return (l);
		}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->path = strdup(path)) == NULL) {
		free(l);
		return (NULL);
	}
	l->fd = exec_log_open(path);
	l->refs = 1;
	TAILQ_INSERT_TAIL(&exec_logs, l, entry);
	return (l);
}

static void
exec_log_put(struct xlog *l)
{
	if (l == NULL || --l->refs > 0)
		return;
	TAILQ_REMOVE(&exec_logs, l, entry);
	if (l->fd != -1)
		close(l->fd);
	free(l->path);
	free(l);
}

/* One line of output, where it belongs. */
static void
exec_output_line(struct xout *o, const char *text, size_t len)
{
	if (len > 0 && text[len - 1] == '\r')
		len--;
	if (o->log != NULL && o->log->fd == -1)
		return;		/* the file could not be opened: warned */
	log_output(o->log != NULL ? o->log->fd : -1, o->name, (long)o->pid,
	    text, len);
	if (o->x != NULL)
		snprintf(o->x->last, sizeof(o->x->last), "%.*s", (int)len,
		    text);
}

static void
exec_output_free(struct xout *o)
{
	if (o->len > 0)
		exec_output_line(o, o->buf, o->len);
	TAILQ_REMOVE(&exec_outs, o, entry);
	if (o->ev != NULL)
		event_free(o->ev);
	close(o->fd);
	exec_log_put(o->log);
	if (o->x != NULL)
		o->x->out = NULL;
	free(o);
}

/* Read what is there; the complete lines go out. 0 at the pipe's end. */
static int
exec_output_read(struct xout *o)
{
	char	*nl, *p;
	ssize_t	 n;

	for (;;) {
		n = read(o->fd, o->buf + o->len, sizeof(o->buf) - o->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (errno == EAGAIN || errno == EWOULDBLOCK);
		if (n == 0)
			return (0);
		o->len += (size_t)n;
		p = o->buf;
		while ((nl = memchr(p, '\n', o->len - (size_t)(p - o->buf))) !=
		    NULL) {
			exec_output_line(o, p, (size_t)(nl - p));
			p = nl + 1;
		}
		o->len -= (size_t)(p - o->buf);
		memmove(o->buf, p, o->len);
		if (o->len == sizeof(o->buf)) {
			exec_output_line(o, o->buf, o->len);
			o->len = 0;
		}
	}
}

static void
exec_output_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xout	*o = arg;

	(void)fd;
	(void)what;
	if (!exec_output_read(o))
		exec_output_free(o);
}

/*
 * The output pipe of a process about to start: the reader, and the end
 * the child writes to in *wfd. NULL (logged) if there is none.
 */
struct xout *
exec_output_open(struct wproc *wp, int *wfd)
{
	struct server_conf	*sc = wp->x->sc;
	struct xout		*o;
	int			 p[2];

	if ((o = calloc(1, sizeof(*o))) == NULL || pipe2(p, O_CLOEXEC) == -1) {
		log_warn("server %s: cannot start a process: output pipe",
		    sc->name);
		free(o);
		return (NULL);
	}
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	o->fd = p[0];
	o->x = wp->x;
	snprintf(o->name, sizeof(o->name), "%s", sc->name);
	if (sc->exec->output_log != NULL &&
	    (o->log = exec_log_get(sc->exec->output_log)) == NULL)
		log_warnx("output_log %s: out of memory: to the error log",
		    sc->exec->output_log);
	o->ev = event_new(m.base, o->fd, EV_READ | EV_PERSIST, exec_output_cb,
	    o);
	if (o->ev == NULL || event_add(o->ev, NULL) == -1) {
		log_warnx("server %s: cannot read a process's output",
		    sc->name);
		close(p[1]);
		TAILQ_INSERT_TAIL(&exec_outs, o, entry);
		exec_output_free(o);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&exec_outs, o, entry);
	*wfd = p[1];
	return (o);
}

/* The process writing to o has started as pid. */
void
exec_output_started(struct xout *o, pid_t pid)
{
	o->pid = pid;
}

/* The process is gone: what it wrote before counts for its report. */
void
exec_output_detach(struct xout *o)
{
	if (o == NULL)
		return;
	if (!exec_output_read(o)) {
		exec_output_free(o);
		return;
	}
	if (o->x != NULL)
		o->x->out = NULL;
	o->x = NULL;
}

/* USR1: every output_log opened again (after a rotation). */
void
exec_output_reopen(void)
{
	struct xlog	*l;
	int		 fd;

	TAILQ_FOREACH(l, &exec_logs, entry) {
		if ((fd = exec_log_open(l->path)) == -1)
			continue;
		if (l->fd != -1)
			close(l->fd);
		l->fd = fd;
		log_info("reopened output_log %s", l->path);
	}
}

/* In a new worker: none of this is its. */
void
exec_output_cleanup(void)
{
	struct xout	*o;
	struct xlog	*l;

	while ((o = TAILQ_FIRST(&exec_outs)) != NULL) {
		TAILQ_REMOVE(&exec_outs, o, entry);
		if (o->x != NULL)
			o->x->out = NULL;
		if (o->ev != NULL)
			event_free(o->ev);
		close(o->fd);
		free(o);
	}
	while ((l = TAILQ_FIRST(&exec_logs)) != NULL) {
		TAILQ_REMOVE(&exec_logs, l, entry);
		if (l->fd != -1)
			close(l->fd);
		free(l->path);
		free(l);
	}
}
