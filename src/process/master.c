/*
 * master.c: the master process: its loop, its signals, stopping, reloading.
 *
 * It never accepts connections. It reserves the listen addresses (keepers,
 * see keeper.c), forks a generation of workers (generation.c), and on
 * SIGHUP starts a new generation with the new configuration, waits until
 * every new worker reports ready, and only then drains the old one. A
 * failed reload leaves the serving generation untouched. Workers that die
 * unexpectedly are replaced, with backoff when they keep dying. SIGUSR2
 * hands over to a new binary (master_upgrade.c).
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/pidfile.h"
#include "core/proc.h"
#include "core/stats.h"
#include "process/control.h"
#include "process/handover.h"
#include "process/master.h"
#include "process/master_int.h"

#define MASTER_STOP_GRACE	5	/* s after SIGTERM on fast stop */

struct master m;

/* Write "SERVER HOST:PORT" lines for the serving generation, atomically. */
void
master_write_ports(const struct config *conf)
{
	char	 tmp[4096], text[ADDR_STRLEN];
	FILE	*fp;
	size_t	 i, j;
	int	 fd;

	if (m.ports_file != NULL && (conf->ports_file == NULL ||
	    strcmp(m.ports_file, conf->ports_file) != 0)) {
		unlink(m.ports_file);
		free(m.ports_file);
		m.ports_file = NULL;
	}
	if (conf->ports_file == NULL)
		return;
	/* A name nobody can plant a symlink at beforehand (as pidfile.c). */
	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", conf->ports_file);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1 || fchmod(fd, 0644) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		log_warn("ports_file %s", tmp);
		if (fd != -1)
			close(fd);
		return;
	}
	for (i = 0; i < conf->nservers; i++) {
		for (j = 0; j < conf->servers[i].nlistens; j++) {
			addr_format(&conf->servers[i].listens[j].addr, text,
			    sizeof(text));
			fprintf(fp, "%s %s\n", conf->servers[i].name, text);
		}
	}
	if (fclose(fp) != 0 || rename(tmp, conf->ports_file) == -1) {
		log_warn("ports_file %s", conf->ports_file);
		unlink(tmp);
		return;
	}
	if (m.ports_file == NULL)
		m.ports_file = strdup(conf->ports_file);
}

/* In a new child: drop everything of the master's but what it is given. */
void
master_child_cleanup(struct generation *keep)
{
	struct generation	*g;
	size_t			 i;
	int			 s;

	/* A fresh backend first, so nothing below touches the master's. */
	(void)event_reinit(m.base);
	control_close(0);
	exec_output_cleanup();	/* before gen_free(): nothing read here */
	/* The listeners this child inherits are its own now. */
	keeper_child_keep(keep);
	while ((g = TAILQ_FIRST(&m.gens)) != NULL) {
		if (g == keep)
			g->conf = NULL;	/* the worker owns it now */
		gen_free(g);
	}
	keeper_put_all();
	for (i = 0; i < sizeof(m.ev_sig) / sizeof(m.ev_sig[0]); i++)
		if (m.ev_sig[i] != NULL)
			event_free(m.ev_sig[i]);
	if (m.ev_stop != NULL)
		event_free(m.ev_stop);
	master_upgrade_cleanup();
	master_notify_forget();
	master_hang_stop();
	master_foreign_stop();
	event_base_free(m.base);
	for (s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	if (m.opts.pidfd != -1)
		close(m.opts.pidfd);
	if (m.opts.readyfd != -1)
		close(m.opts.readyfd);
	free(m.pid_file);
	free(m.ports_file);
}

/* How a child ended, in words for the log. */
void
master_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", status);
}

/* SIGCHLD: a worker, or the new master of a binary upgrade, has exited. */
static void
master_reap(void)
{
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (!wproc_reaped(pid, status) && pid == m.upgrade_pid)
			master_upgrade_exited(status);
	}
}

/* Stopping and nothing left: leave the loop. */
void
master_check_done(void)
{
	if (m.stopping && TAILQ_EMPTY(&m.gens))
		event_base_loopexit(m.base, NULL);
}

/* Fast stop: the workers that outlive MASTER_STOP_GRACE are killed. */
static void
master_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct generation	*g;
	struct wproc		*wp;

	TAILQ_FOREACH(g, &m.gens, entry)
		TAILQ_FOREACH(wp, &g->procs, entry)
			kill(wp->pid, SIGKILL);
}

/* QUIT (graceful, 1) or TERM/INT (fast, 2). */
void
master_stop(int how)
{
	struct generation	*g, *next;
	struct wproc		*wp;
	struct timeval		 tv = { MASTER_STOP_GRACE, 0 };

	if (m.stopping >= how)
		return;
	m.stopping = how;
	control_stopping();
	master_notify_stopping();
	if (how == 1)
		log_notice("graceful stop: draining every worker");
	else {
		log_notice("fast stop: stopping every worker now");
		m.ev_stop = evtimer_new(m.base, master_stop_cb, NULL);
		if (m.ev_stop != NULL)
			evtimer_add(m.ev_stop, &tv);
	}
	for (g = TAILQ_FIRST(&m.gens); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (how == 1)
			gen_drain(g);
		else {
			gen_retire(g);
			TAILQ_FOREACH(wp, &g->procs, entry)
				kill(wp->pid, SIGTERM);
		}
		(void)gen_check_end(g);
	}
	master_check_done();
}

/*
 * A reload that cannot go on: the reason goes to the log, to the clients
 * waiting for a verdict and to systemd; the serving generation carries on.
 */
void
master_reload_failed(const char *fmt, ...)
{
	char	 why[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("reload failed: %s; generation %u keeps serving", why,
	    m.current != NULL ? m.current->id : 0);
	control_reload_done(0, "%s", why);
	master_notify_reloaded(0);
}

/* SIGHUP: a new generation with the new configuration, or nothing. */
void
master_reload(void)
{
	struct config	*conf;
	char		 err[1024];

	if (m.stopping)
		return;
	if (m.pending != NULL) {
		log_notice("reload: generation %u is still starting; "
		    "reloading again once it is done", m.pending->id);
		m.reload_again = 1;
		return;
	}
	log_notice("reload: reading %s", m.opts.conf_path);
	clock_gettime(CLOCK_MONOTONIC, &m.reload_start);
	master_notify_reloading();
	if ((conf = conf_load(m.opts.conf_path, err, sizeof(err))) == NULL) {
		master_reload_failed("%s", err);
		return;
	}
	if (proc_check_credentials(conf->user, conf->group, err,
	    sizeof(err)) == -1) {
		master_reload_failed("%s: %s", m.opts.conf_path, err);
		conf_free(conf);
		return;
	}
	if ((m.pid_file == NULL) != (conf->pid_file == NULL) ||
	    (m.pid_file != NULL && strcmp(m.pid_file, conf->pid_file) != 0))
		log_warnx("reload: pid_file changes only at restart");
	control_reload_conf(conf);
	if (!m.opts.log_stderr && m.current != NULL &&
	    strcmp(conf->error_log, m.current->conf->error_log) != 0 &&
	    log_open(conf->error_log, err, sizeof(err)) == -1) {
		master_reload_failed("%s", err);
		conf_free(conf);
		return;
	}
	log_set_level(conf->log_level);
	if ((m.pending = gen_create(conf, err, sizeof(err))) == NULL)
		master_reload_failed("%s", err);
}

/* USR1: reopen the logs here and hand the new files to every worker. */
static void
master_reopen(void)
{
	struct generation	*g;
	char			 err[512];
	int			 fd;

	if (log_reopen(err, sizeof(err)) == -1)
		log_warnx("reopen: %s", err);
	else {
		log_notice("reopened the error log (%s)", log_target());
		if ((fd = log_get_fd()) != -1)
			TAILQ_FOREACH(g, &m.gens, entry)
				gen_send_all(g, CHAN_LOG_FD, fd, 0);
	}
	TAILQ_FOREACH(g, &m.gens, entry)
		gen_reopen_access_logs(g);
	exec_output_reopen();
}

/* The master's signals, delivered by its event loop. */
static void
master_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		master_reload();
		break;
	case SIGQUIT:
		master_stop(1);
		break;
	case SIGTERM:
	case SIGINT:
		master_stop(2);
		break;
	case SIGUSR1:
		master_reopen();
		break;
	case SIGUSR2:
		master_upgrade_start();
		break;
	case SIGCHLD:
		master_reap();
		break;
	}
}

/* The loop is over: free everything, and remove the files that are ours. */
static void
master_cleanup(void)
{
	struct generation	*g;
	size_t			 i;

	while ((g = TAILQ_FIRST(&m.gens)) != NULL)
		gen_free(g);
	for (i = 0; i < sizeof(m.ev_sig) / sizeof(m.ev_sig[0]); i++)
		if (m.ev_sig[i] != NULL)
			event_free(m.ev_sig[i]);
	if (m.ev_stop != NULL)
		event_free(m.ev_stop);
	control_close(1);
	master_notify_cleanup();
	master_hang_stop();
	master_foreign_stop();
	event_base_free(m.base);
	/* After an upgrade these files are the new master's. */
	if (m.ports_file != NULL && !m.upgraded)
		unlink(m.ports_file);
	master_upgrade_cleanup();
	if (m.oldbin)
		master_upgrade_unlink_oldbin();
	free(m.ports_file);
	if (m.opts.pidfd != -1)
		pidfile_release(m.pid_file, m.opts.pidfd);
	free(m.pid_file);
	if (m.opts.readyfd != -1)
		close(m.opts.readyfd);
	stats_destroy(m.stats);
}

/* Run the master until it stops; returns the exit code. */
int
master_main(struct config *conf, const struct master_opts *opts)
{
	static const int	 sigs[] = { SIGHUP, SIGQUIT, SIGTERM, SIGINT,
				     SIGUSR1, SIGUSR2, SIGCHLD };
	char			 err[1024];
	size_t			 i;

	memset(&m, 0, sizeof(m));
	m.opts = *opts;
	TAILQ_INIT(&m.gens);
	TAILQ_INIT(&m.keepers);
	log_set_role("master");
	/* After an upgrade: the old master's region, so totals carry on. */
	if ((m.stats = stats_open(opts->upgrade != NULL)) == NULL)
		log_warn("stats: mmap (no counters)");
	if (conf->pid_file != NULL)
		m.pid_file = strdup(conf->pid_file);
	signal(SIGPIPE, SIG_IGN);
	if ((m.base = event_base_new()) == NULL)
		fatalx("cannot create an event base");
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		m.ev_sig[i] = evsignal_new(m.base, sigs[i], master_signal_cb,
		    NULL);
		if (m.ev_sig[i] == NULL || evsignal_add(m.ev_sig[i], NULL) == -1)
			fatalx("cannot watch signal %d", sigs[i]);
	}
	m.upgrade_fd = -1;
	if (handover_open(m.handover) == -1) {
		log_warn("handover inbox: socketpair: idle connections will "
		    "be closed on reloads, not handed on");
		m.handover[0] = m.handover[1] = -1;
	}
	master_notify_init();
	master_hang_start();
	master_foreign_start();
	log_info("drover %s starting: %s, %d workers", PACKAGE_VERSION,
	    opts->conf_path, conf->nworker_servers > 0 ? conf->workers : 0);
	if (conf->nworker_servers > 0)
		log_info("zero-downtime: each worker slot's listening socket "
		    "is kept by the master across reloads, crashes and binary "
		    "upgrades, and retired slots' sockets are adopted, never "
		    "closed (no privilege or sysctl needed)");
	exec_check_host(conf);
	if (opts->upgrade != NULL)
		master_upgrade_adopt(opts->upgrade);
	if (control_open(conf, opts->upgrade) == -1) {
		m.exit_code = 1;
		master_cleanup();
		conf_free(conf);
		return (1);
	}
	if ((m.pending = gen_create(conf, err, sizeof(err))) == NULL) {
		log_warnx("start-up failed: %s", err);
		m.exit_code = 1;
		master_stop(2);
	}
	keeper_put_unused();
	if (!m.stopping || !TAILQ_EMPTY(&m.gens))
		event_base_dispatch(m.base);
	if (m.exit_code == 0)
		log_notice("exiting");
	master_cleanup();
	return (m.exit_code);
}
