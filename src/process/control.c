/*
 * control.c: the master's control socket.
 *
 * A unix stream socket (control_socket, mode 0600) in the master's event
 * loop. A client sends one request line and the master answers once and
 * closes (the protocol is in control.h). "reload" and "upgrade" are
 * answered when their outcome is known: the places in master.c,
 * generation.c and master_upgrade.c that decide it call
 * control_reload_done() or control_upgrade_done().
 *
 * Reloads are told apart by counting outcomes. A request made while no
 * reload runs is answered by the next outcome; one made while a reload
 * runs, by the one after: master_reload() folds it into a reload that
 * starts once the running one is done (reload_again), so the running
 * one, which read the configuration before the request, is not its own.
 *
 * Across a binary upgrade the listening socket is inherited (upgrade.c):
 * the path is bound all along. The new master watches it once it serves;
 * the old one stops watching it when it hears so, and never unlinks it.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/stats.h"
#include "process/control.h"
#include "process/master_int.h"
#include "process/upgrade.h"

#define CONTROL_TIMEOUT		5	/* s to send a request, to read a reply */
#define CONTROL_MAX_CLIENTS	256
#define CONTROL_BACKLOG		64

enum ctl_state {
	CTL_READING,
	CTL_WAIT_RELOAD,
	CTL_WAIT_UPGRADE,
	CTL_SETTLING,		/* "ok" held until the old stop accepting */
	CTL_WRITING,
};

/* One connection to the control socket. */
struct ctl_client {
	TAILQ_ENTRY(ctl_client)	 entry;
	int			 fd;
	struct event		*ev;		/* reading or writing */
	enum ctl_state		 state;
	unsigned		 want;		/* the reload outcome it waits for */
	struct timespec		 accepted;	/* CLOCK_MONOTONIC */
	char			 in[CONTROL_LINE_MAX];
	size_t			 inlen;
	char			*out;
	size_t			 outlen;
	size_t			 outoff;
};

static struct {
	int			 fd;		/* listening, or -1 */
	char			*path;		/* where it is bound */
	int			 owner;		/* it is ours to unlink */
	struct event		*ev;		/* accepting */
	struct event		*ev_pause;	/* out of descriptors */
	TAILQ_HEAD(, ctl_client) clients;
	int			 nclients;
	unsigned		 reloads;	/* reload outcomes so far */
	unsigned		 upgrades;	/* upgrade outcomes so far */
	struct timespec		 started;	/* this master's start */
} ctl = { .fd = -1 };

static void	control_flush(struct ctl_client *);

/* A client is done with: answered, gone, or too slow. */
static void
control_client_free(struct ctl_client *c)
{
	TAILQ_REMOVE(&ctl.clients, c, entry);
	ctl.nclients--;
	if (c->ev != NULL)
		event_free(c->ev);
	close(c->fd);
	free(c->out);
	free(c);
}

/* The socket is writable again, or the client did not read in time. */
static void
control_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client	*c = arg;

	if (what & EV_TIMEOUT)
		control_client_free(c);
	else
		control_flush(c);
}

/* Send what is left of the reply; the client is freed once it is out. */
static void
control_flush(struct ctl_client *c)
{
	struct timeval	 tv = { CONTROL_TIMEOUT, 0 };
	ssize_t		 n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (c->ev != NULL)
				return;
			c->ev = event_new(m.base, c->fd, EV_WRITE | EV_PERSIST,
			    control_write_cb, c);
			if (c->ev != NULL && event_add(c->ev, &tv) == 0)
				return;
			break;
		}
		if (n <= 0)
			break;		/* the client has gone */
		c->outoff += (size_t)n;
	}
	control_client_free(c);
}

/* Answer a client with buf (taken), then close. */
static void
control_send(struct ctl_client *c, char *buf, size_t len)
{
	if (c->ev != NULL)
		event_free(c->ev);
	c->ev = NULL;
	c->out = buf;
	c->outlen = len;
	c->outoff = 0;
	c->state = CTL_WRITING;
	control_flush(c);
}

/* One line: "ok TEXT" or "error REASON"; held (not sent) if hold. */
static void __attribute__((format(printf, 3, 4)))
control_reply_line(struct ctl_client *c, int hold, const char *fmt, ...)
{
	va_list	 ap;
	char	*buf;
	int	 n, i;

	va_start(ap, fmt);
	n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n == -1) {
		control_client_free(c);
		return;
	}
	/* One line: a reason may quote a file that holds anything. */
	for (i = 0; i < n; i++)
		if ((unsigned char)buf[i] < ' ')
			buf[i] = ' ';
	buf[n] = '\n';	/* over the terminating NUL: the reply is n + 1 */
	if (!hold) {
		control_send(c, buf, (size_t)n + 1);
		return;
	}
	c->out = buf;
	c->outlen = (size_t)n + 1;
	c->state = CTL_SETTLING;
}

#define control_reply(c, ...)	control_reply_line((c), 0, __VA_ARGS__)

/* Whether a worker told to drain may still accept a connection. */
static int
control_old_accepting(void)
{
	struct generation	*g;
	struct wproc		*wp;

	TAILQ_FOREACH(g, &m.gens, entry) {
		if (g->state != GEN_DRAINING)
			continue;
		TAILQ_FOREACH(wp, &g->procs, entry)
			if (!wp->unlistened && wp->chan != -1)
				return (1);
	}
	return (0);
}

/*
 * Send the "ok" verdicts held until every worker told to drain has
 * closed its listeners (CHAN_UNLISTENED, or it is gone): whoever reads
 * "ok" and connects then reaches the new generation, never the old.
 * Called whenever that may have changed.
 */
void
control_settle(void)
{
	struct ctl_client	*c, *next;

	if (control_old_accepting())
		return;
	for (c = TAILQ_FIRST(&ctl.clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CTL_SETTLING)
			control_send(c, c->out, c->outlen);
	}
}

/* Count an outcome in the stats region that /status and /metrics read. */
static void
control_count(int ok)
{
	if (m.stats == NULL)
		return;
	if (ok)
		__atomic_add_fetch(&m.stats->reloads_ok, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&m.stats->reloads_failed, 1,
		    __ATOMIC_RELAXED);
}

/* Answer every client waiting in state (for a reload: up to outcome n). */
static void
control_verdict(enum ctl_state state, unsigned n, int ok, const char *text)
{
	struct ctl_client	*c, *next;

	for (c = TAILQ_FIRST(&ctl.clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state != state ||
		    (state == CTL_WAIT_RELOAD && c->want > n))
			continue;
		control_reply_line(c, ok, "%s %s", ok ? "ok" : "error", text);
	}
}

/* An outcome: counted, and told to the clients waiting in state. */
static void
control_done(enum ctl_state state, unsigned n, int ok, const char *fmt,
    va_list ap)
{
	char	 text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	control_count(ok);
	control_verdict(state, n, ok, text);
}

/* A reload has served (ok) or failed; text says how, or why. */
void
control_reload_done(int ok, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	control_done(CTL_WAIT_RELOAD, ++ctl.reloads, ok, fmt, ap);
	va_end(ap);
}

/* Stop accepting: the new master of an upgrade owns the socket now. */
static void
control_unlisten(void)
{
	if (ctl.ev != NULL)
		event_free(ctl.ev);
	ctl.ev = NULL;
	if (ctl.ev_pause != NULL)
		event_free(ctl.ev_pause);
	ctl.ev_pause = NULL;
	if (ctl.fd != -1)
		close(ctl.fd);
	ctl.fd = -1;
	ctl.owner = 0;
}

/* A binary upgrade has served (ok) or failed; text says how, or why. */
void
control_upgrade_done(int ok, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	ctl.upgrades++;
	control_done(CTL_WAIT_UPGRADE, 0, ok, fmt, ap);
	va_end(ap);
	if (ok)
		control_unlisten();
}

/* The master stops: no outcome will come for those who wait. */
void
control_stopping(void)
{
	control_verdict(CTL_WAIT_RELOAD, ~0U, 0, "the master is stopping");
	control_verdict(CTL_WAIT_UPGRADE, 0, 0, "the master is stopping");
}

/* "reload": its verdict comes from control_reload_done(). */
static void
control_req_reload(struct ctl_client *c)
{
	if (m.stopping) {
		control_reply(c, "error the master is stopping");
		return;
	}
	/* At start-up the first generation is not a reload: no outcome. */
	c->want = ctl.reloads + 1 + (m.pending != NULL && m.started);
	c->state = CTL_WAIT_RELOAD;
	master_reload();	/* may answer c at once: c is not touched */
}

/* "upgrade": its verdict comes from control_upgrade_done(). */
static void
control_req_upgrade(struct ctl_client *c)
{
	unsigned	 before = ctl.upgrades;

	if (m.stopping || m.upgraded) {
		control_reply(c, "error the master is stopping");
		return;
	}
	c->state = CTL_WAIT_UPGRADE;
	if (m.ev_upgrade != NULL)
		return;		/* one is running: its outcome is ours */
	master_upgrade_start();
	if (ctl.upgrades == before && m.ev_upgrade == NULL)
		control_upgrade_done(0, "the binary upgrade did not start "
		    "(the error log says why)");
}

/* "status" or "status json". */
static void
control_req_status(struct ctl_client *c, int json)
{
	size_t	 len;
	char	*buf;

	if ((buf = control_status(json, &ctl.started, &len)) == NULL)
		control_reply(c, "error out of memory");
	else
		control_send(c, buf, len);
}

/* A whole request line has come: act on it. */
static void
control_dispatch(struct ctl_client *c)
{
	size_t	 n = strlen(c->in), i;

	if (n > 0 && c->in[n - 1] == '\r')
		c->in[--n] = '\0';
	if (strcmp(c->in, "reload") == 0)
		control_req_reload(c);
	else if (strcmp(c->in, "upgrade") == 0)
		control_req_upgrade(c);
	else if (strcmp(c->in, "status") == 0)
		control_req_status(c, 0);
	else if (strcmp(c->in, "status json") == 0)
		control_req_status(c, 1);
	else {
		for (i = 0; i < n; i++)
			if ((unsigned char)c->in[i] < ' ' ||
			    (unsigned char)c->in[i] > '~')
				c->in[i] = '?';
		control_reply(c, "error unknown request \"%s\" (reload, "
		    "upgrade, status or status json)", c->in);
	}
}

/* Read the request line; a client that says nothing in time is dropped. */
static void
control_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client	*c = arg;
	struct timespec		 now;
	char			*nl;
	ssize_t			 n;

	/* Silent for a while, or dribbling: the line has its time in all. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((what & EV_TIMEOUT) ||
	    now.tv_sec - c->accepted.tv_sec > CONTROL_TIMEOUT) {
		control_client_free(c);
		return;
	}
	n = read(fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1 || (n == 0 && c->inlen == 0)) {
		control_client_free(c);
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if ((nl = memchr(c->in, '\n', c->inlen)) != NULL)
		*nl = '\0';
	else if (n > 0 && c->inlen == sizeof(c->in) - 1) {
		control_reply(c, "error request longer than %d bytes",
		    CONTROL_LINE_MAX - 1);
		return;
	} else if (n > 0)
		return;		/* more to come; EOF ends the line too */
	event_free(c->ev);
	c->ev = NULL;
	control_dispatch(c);
}

/* Out of descriptors for a moment: accept again a second later. */
static void
control_pause_cb(evutil_socket_t fd, short what, void *arg)
{
	if (ctl.ev != NULL)
		event_add(ctl.ev, NULL);
}

/* New clients on the control socket. */
static void
control_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char	 busy[] = "error too many control clients\n";
	struct timeval		 tv = { CONTROL_TIMEOUT, 0 }, sec = { 1, 0 };
	struct ctl_client	*c;
	ssize_t			 n;
	int			 cfd, i;

	for (i = 0; i < CONTROL_BACKLOG; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("control socket: accept");
				event_del(ctl.ev);
				if (ctl.ev_pause == NULL)
					ctl.ev_pause = evtimer_new(m.base,
					    control_pause_cb, NULL);
				if (ctl.ev_pause != NULL)
					evtimer_add(ctl.ev_pause, &sec);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("control socket: accept");
			return;
		}
		if (ctl.nclients >= CONTROL_MAX_CLIENTS ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			n = send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			(void)n;
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->state = CTL_READING;
		clock_gettime(CLOCK_MONOTONIC, &c->accepted);
		TAILQ_INSERT_TAIL(&ctl.clients, c, entry);
		ctl.nclients++;
		c->ev = event_new(m.base, cfd, EV_READ | EV_PERSIST,
		    control_read_cb, c);
		if (c->ev == NULL || event_add(c->ev, &tv) == -1)
			control_client_free(c);
	}
}

/*
 * Bind a listening socket at path, mode 0600 from the start. Whatever
 * socket is already there and answers nobody is a dead drover's; one
 * that answers is a running master's (not ours to take).
 */
static int
control_bind(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	int			 fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket %s: longer than a unix "
		    "socket path may be (%zu bytes)", path,
		    sizeof(sun.sun_path) - 1);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "control_socket: %s", strerror(errno));
		return (-1);
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control_socket %s: exists and "
			    "is not a socket", path);
			close(fd);
			return (-1);
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
		    errno == EAGAIN) {
			snprintf(err, errlen, "control_socket %s: another "
			    "drover answers there", path);
			close(fd);
			return (-1);
		}
		close(fd);
		unlink(path);
		return (control_bind(path, err, errlen));
	}
	/* The master is single-threaded: the umask is not seen elsewhere. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1 || listen(fd, CONTROL_BACKLOG) == -1) {
		snprintf(err, errlen, "control_socket %s: %s", path,
		    strerror(errno));
		if (rc == 0)
			unlink(path);
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Take the socket an old master handed over; watched once we serve. */
static int
control_adopt(int fd)
{
	struct sockaddr_un	 sun;
	socklen_t		 len = sizeof(sun);

	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0') {
		log_warnx("upgrade: the control descriptor is not a bound "
		    "unix socket: closing it");
		close(fd);
		return (0);
	}
	ctl.fd = fd;
	ctl.path = strndup(sun.sun_path, sizeof(sun.sun_path));
	log_info("upgrade: took over the control socket %s", ctl.path);
	return (0);
}

/*
 * At start-up, after the pid file is locked: the control socket, bound
 * and watched. A new master of an upgrade takes the old one's, or binds
 * its own once it serves (control_listen). -1 (said) if it cannot.
 */
int
control_open(const struct config *conf, const struct upgrade_state *up)
{
	char	 err[512];

	TAILQ_INIT(&ctl.clients);
	clock_gettime(CLOCK_MONOTONIC, &ctl.started);
	if (up != NULL && up->controlfd != -1)
		return (control_adopt(up->controlfd));
	if (conf->control_socket == NULL) {
		log_info("no control socket (no control_socket, no "
		    "pid_file): drover -s reload gives no verdict");
		return (0);
	}
	if (strlen(conf->control_socket) >= sizeof(((struct sockaddr_un *)
	    NULL)->sun_path)) {
		log_warnx("control_socket %s (beside the pid file) is too long "
		    "for a unix socket: no control socket; set control_socket",
		    conf->control_socket);
		return (0);
	}
	if ((ctl.path = strdup(conf->control_socket)) == NULL) {
		log_warnx("control_socket: out of memory");
		return (-1);
	}
	if (up != NULL)
		return (0);	/* an old master without one: ours later */
	if ((ctl.fd = control_bind(ctl.path, err, sizeof(err))) == -1) {
		log_warnx("%s", err);
		return (-1);
	}
	control_listen();
	return (0);
}

/* Accept requests from now on (the master serves, or is about to). */
void
control_listen(void)
{
	char	 err[512];

	if (ctl.ev != NULL || ctl.path == NULL)
		return;
	if (ctl.fd == -1 &&
	    (ctl.fd = control_bind(ctl.path, err, sizeof(err))) == -1) {
		log_warnx("%s: no control socket", err);
		return;
	}
	ctl.owner = 1;
	ctl.ev = event_new(m.base, ctl.fd, EV_READ | EV_PERSIST,
	    control_accept_cb, NULL);
	if (ctl.ev == NULL || event_add(ctl.ev, NULL) == -1)
		log_warnx("control socket %s: cannot watch it", ctl.path);
	else
		log_info("control socket %s", ctl.path);
}

/* The listening descriptor (for an upgrade to hand over), or -1. */
int
control_fd(void)
{
	return (ctl.fd);
}

/* A reload cannot move the socket: say so if the file asks to. */
void
control_reload_conf(const struct config *conf)
{
	if (ctl.path != NULL && conf->control_socket != NULL &&
	    strcmp(ctl.path, conf->control_socket) != 0)
		log_warnx("reload: control_socket changes only at restart "
		    "(it stays %s)", ctl.path);
}

/*
 * Close everything. final: the master exits (those who wait are told,
 * the socket file goes unless an upgrade's new master owns it); else we
 * are a new child, and the master's copies simply go.
 */
void
control_close(int final)
{
	static const char	 bye[] = "error the master exited\n";
	struct ctl_client	*c;
	ssize_t			 n;

	while ((c = TAILQ_FIRST(&ctl.clients)) != NULL) {
		if (final && c->state == CTL_WRITING)
			n = send(c->fd, c->out + c->outoff,
			    c->outlen - c->outoff, MSG_NOSIGNAL);
		else if (final && c->state != CTL_READING)
			n = send(c->fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL);
		else
			n = 0;
		(void)n;
		control_client_free(c);
	}
	if (final && ctl.owner && !m.upgraded && ctl.path != NULL)
		unlink(ctl.path);
	control_unlisten();
	free(ctl.path);
	ctl.path = NULL;
}
