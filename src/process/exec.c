/*
 * exec.c: the processes of an exec server (protocol = exec), seen from the
 * master. It forks each one with its slot's kept listeners (exec_child.c
 * lays them out and runs the program), learns whether exec() succeeded
 * through a close-on-exec pipe, marks the process ready by the server's
 * `ready` rule, stops it with its stop_signal and says why it ended.
 *
 * Such a process is a struct wproc of its generation like drover's own
 * workers, with no channel: generation.c starts, counts, respawns and
 * kills both kinds alike.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "process/master_int.h"

/* Stop watching a descriptor of a process's, and close it. */
void
exec_fd_close(struct event **ev, int *fd)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static void	exec_ran(struct wproc *);

static void
exec_err_close(struct xproc *x)
{
	exec_fd_close(&x->ev_err, &x->err_fd);
}

/*
 * Read the child's report of a failed exec (or of what failed before it)
 * into wp->reason. 1 once the pipe is at its end: with no report, exec()
 * succeeded.
 */
static int
exec_err_read(struct wproc *wp)
{
	struct xproc	*x = wp->x;
	size_t		 len = strlen(wp->reason);
	ssize_t		 n;

	for (;;) {
		if (len + 1 >= sizeof(wp->reason))
			return (1);
		n = read(x->err_fd, wp->reason + len, sizeof(wp->reason) - 1 -
		    len);
		if (n > 0) {
			len += (size_t)n;
			wp->reason[len] = '\0';
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK));
	}
}

/* The exec pipe is readable: the program runs, or it could not. */
static void
exec_err_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc	*wp = arg;
	struct xproc	*x = wp->x;

	(void)fd;
	(void)what;
	if (!exec_err_read(wp))
		return;
	exec_err_close(x);
	if (wp->reason[0] == '\0')
		exec_ran(wp);
	/* else the reaper reports it */
}

/* exec() succeeded: ready now, or once the program says or answers. */
static void
exec_ran(struct wproc *wp)
{
	struct xproc	*x = wp->x;

	x->execd = 1;
	if (wp->state != WPROC_STARTING)
		return;
	switch (x->sc->exec->ready) {
	case EXEC_READY_STARTED:
		wproc_ready(wp);
		break;
	case EXEC_READY_HTTP:
		exec_ready_start(wp);
		break;
	case EXEC_READY_NOTIFY:
		break;		/* exec_notify.c: READY=1 */
	}
}

static struct wproc *
exec_proc_new(struct generation *gen, struct gslot *gs)
{
	struct wproc	*wp;

	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		return (NULL);
	if ((wp->x = calloc(1, sizeof(*wp->x))) == NULL) {
		free(wp);
		return (NULL);
	}
	wp->x->sc = gs->sc;
	wp->x->err_fd = wp->x->notify_fd = wp->x->probe_fd = -1;
	wp->chan = -1;
	wp->stats_idx = -1;
	wp->slot = gs->slot;
	wp->gslot = (int)(gs - gen->slots);
	return (wp);
}

/* Fork what the child needs open, then run it (exec_child.c). */
static pid_t
exec_fork(const struct exec_child *a)
{
	sigset_t	 all, old;
	pid_t		 pid;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0)
		exec_child_run(a);	/* signals unblocked there */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return (pid);
}

/*
 * Start the process of slot gs (an exec server's) with the slot's kept
 * listeners. -1 if it could not be forked; a program that cannot run is
 * a process that exits (status 127) with the reason.
 */
int
exec_spawn(struct generation *gen, struct gslot *gs)
{
	struct server_conf	*sc = gs->sc;
	struct exec_child	 a;
	struct wproc		*wp;
	struct xproc		*x;
	char			 err[512], notify[108];
	int			*lfds, errp[2] = { -1, -1 }, outfd = -1;
	pid_t			 pid;

	memset(&a, 0, sizeof(a));
	if ((lfds = calloc(sc->nlistens + 1, sizeof(*lfds))) == NULL ||
	    (wp = exec_proc_new(gen, gs)) == NULL) {
		free(lfds);
		log_warnx("server %s: cannot start a process: out of memory",
		    sc->name);
		return (-1);
	}
	x = wp->x;
	a.nlisteners = keeper_exec_fds(gen, sc, gs->slot, lfds, err,
	    sizeof(err));
	if (a.nlisteners == -1) {
		log_warnx("server %s: %s", sc->name, err);
		goto fail;
	}
	if (pipe2(errp, O_CLOEXEC) == -1 ||
	    fcntl(errp[0], F_SETFL, O_NONBLOCK) == -1) {
		log_warn("server %s: cannot start a process: pipe", sc->name);
		goto fail;
	}
	if (exec_notify_open(wp, notify, sizeof(notify)) == -1 ||
	    (x->out = exec_output_open(wp, &outfd)) == NULL)
		goto fail;
	a.conf = gen->conf;
	a.sc = sc;
	a.generation = gen->id;
	a.slot = gs->slot;
	a.listeners = lfds;
	a.errfd = errp[1];
	a.outfd = outfd;
	a.notify = notify;
	a.master = getpid();
	if ((pid = exec_fork(&a)) == -1) {
		log_warn("server %s: cannot start a process: fork", sc->name);
		goto fail;
	}
	close(errp[1]);
	close(outfd);
	free(lfds);
	wp->pid = pid;
	exec_output_started(x->out, pid);
	x->err_fd = errp[0];
	x->ev_err = event_new(m.base, x->err_fd, EV_READ | EV_PERSIST,
	    exec_err_cb, wp);
	wproc_add(gen, wp);
	if (x->ev_err == NULL || event_add(x->ev_err, NULL) == -1) {
		log_warnx("process %ld: cannot watch its exec: taken for "
		    "run", (long)pid);
		exec_err_close(x);
		exec_ran(wp);
	}
	return (0);
fail:
	if (errp[0] != -1)
		close(errp[0]);
	if (errp[1] != -1)
		close(errp[1]);
	if (outfd != -1)
		close(outfd);
	free(lfds);
	exec_free(wp);
	free(wp);
	return (-1);
}

/* Ask a process to finish (its stop_signal), or stop it now (fast). */
void
exec_stop(struct wproc *wp, int fast)
{
	int	 sig = fast ? SIGTERM : wp->x->sc->exec->stop_signal;

	exec_ready_stop(wp->x);
	log_info("process %ld of server %s (generation %u): sending SIG%s",
	    (long)wp->pid, wp->x->sc->name, wp->gen->id,
	    conf_signal_name(sig));
	kill(wp->pid, sig);
}

/*
 * The process has been reaped (how: its status in words): what it said
 * before it went, and the line that tells its end.
 */
void
exec_exited(struct wproc *wp, const char *how, char *why, size_t len)
{
	struct xproc	*x = wp->x;

	/* What it started goes with it (as systemd's KillMode=mixed). */
	kill(-wp->pid, SIGKILL);
	if (x->err_fd != -1) {
		(void)exec_err_read(wp);
		exec_err_close(x);
	}
	exec_output_detach(x->out);	/* reads what is left first */
	x->out = NULL;
	snprintf(why, len, "process %ld of server %s (generation %u, slot "
	    "%d) %s%s%s%s%s", (long)wp->pid, x->sc->name, wp->gen->id,
	    wp->slot, how, wp->reason[0] ? ": " : "", wp->reason,
	    !wp->reason[0] && x->last[0] ? "; last output: " : "",
	    !wp->reason[0] ? x->last : "");
}

/* Let go of a process record's program state (nothing if a worker's). */
void
exec_free(struct wproc *wp)
{
	struct xproc	*x = wp->x;

	if (x == NULL)
		return;
	exec_err_close(x);
	exec_notify_close(x);
	exec_ready_stop(x);
	exec_output_detach(x->out);
	free(x);
	wp->x = NULL;
}

/*
 * At start: a reload to fewer processes, or one that adds some and fails,
 * closes exec slot listeners, and what is queued in one is reset unless
 * the kernel moves it to the rest of the group (Linux 5.14+).
 */
void
exec_check_host(const struct config *conf)
{
	FILE	*f;
	size_t	 i;
	int	 on = -1;

	for (i = 0; i < conf->nservers; i++)
		if (conf->servers[i].exec != NULL)
			break;
	if (i == conf->nservers)
		return;
	if ((f = fopen("/proc/sys/net/ipv4/tcp_migrate_req", "re")) != NULL) {
		if (fscanf(f, "%d", &on) != 1)
			on = -1;
		fclose(f);
	}
	log_info("zero-downtime: each exec process slot's listening socket "
	    "is kept by the master across reloads, crashes and binary "
	    "upgrades; a slot that a reload retires is closed once its old "
	    "process has exited");
	if (on != 1)
		log_notice("exec servers: net.ipv4.tcp_migrate_req is %s: "
		    "connections queued in the listener of a process slot a "
		    "reload retires are reset, not moved to the other "
		    "processes' (set it to 1 to keep them)", on == 0 ? "0" :
		    "not available");
}
