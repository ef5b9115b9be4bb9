/*
 * master_upgrade.c: the master's side of a binary upgrade (SIGUSR2).
 *
 * The old master forks and execs the binary at the path it was started
 * from, with every kept socket open and described in the environment
 * (upgrade.c), and waits on a pipe until the new master serves; then it
 * drains its workers and exits, and the new master takes the pid file.
 * Until then the old master carries on as if nothing happened, and on
 * any failure it stays the one that serves.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>

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
#include "core/notify.h"
#include "core/pidfile.h"
#include "process/control.h"
#include "core/stats.h"
#include "process/master_int.h"
#include "process/handover.h"
#include "process/upgrade.h"

static void
master_upgrade_oldbin_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s.oldbin", m.pid_file);
}

/* The upgrade is over, one way or the other: PIDFILE.oldbin goes. */
void
master_upgrade_unlink_oldbin(void)
{
	char	 path[4200];
	FILE	*f;
	long	 pid;

	master_upgrade_oldbin_path(path, sizeof(path));
	/*
	 * Only if it still names this master: after A upgraded to B and B
	 * to C while A was still draining, the file names B, and A exiting
	 * used to remove it while B was the old master.
	 */
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &pid) == 1 && pid == (long)getpid())
			unlink(path);
		fclose(f);
	}
	m.oldbin = 0;
}

/* While both masters run, PIDFILE.oldbin names this one (as nginx does). */
static void
master_upgrade_write_oldbin(void)
{
	char	 path[4200];
	FILE	*f;

	master_upgrade_oldbin_path(path, sizeof(path));
	if ((f = fopen(path, "w")) == NULL) {
		log_warn("binary upgrade: %s", path);
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		log_warn("binary upgrade: %s", path);
	m.oldbin = 1;
}

/* Stop watching the new master: it serves, failed, or we are a child. */
void
master_upgrade_cleanup(void)
{
	if (m.ev_upgrade != NULL)
		event_free(m.ev_upgrade);
	m.ev_upgrade = NULL;
	if (m.ev_upgrade_timer != NULL)
		event_free(m.ev_upgrade_timer);
	m.ev_upgrade_timer = NULL;
	if (m.upgrade_fd != -1)
		close(m.upgrade_fd);
	m.upgrade_fd = -1;
}

/* A new master after an upgrade serves: the pid file names it now. */
void
master_upgrade_take_pid_file(void)
{
	char	 err[1024];

	control_listen();
	if (m.pid_file == NULL)
		return;
	if ((m.opts.pidfd = pidfile_acquire(m.pid_file, 1, err,
	    sizeof(err))) == -1)
		log_warnx("%s", err);
}

/* The new binary did not make it: carry on as if nothing happened. */
static void
master_upgrade_failed(const char *why)
{
	log_warnx("binary upgrade failed: %s; this master (pid %ld) carries "
	    "on", why, (long)getpid());
	control_upgrade_done(0, "binary upgrade failed: %s", why);
	master_upgrade_cleanup();
	if (m.upgrade_pid > 0)
		kill(m.upgrade_pid, SIGTERM);
	if (m.oldbin)
		master_upgrade_unlink_oldbin();
}

/* The new master's ready pipe: "1" once it serves; EOF or timeout fail. */
static void
master_upgrade_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 c;
	ssize_t	 n;

	if (what & EV_TIMEOUT) {
		master_upgrade_failed("the new master was not ready in time");
		return;
	}
	n = read(fd, &c, 1);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != 1 || c != '1') {
		master_upgrade_failed("the new master exited before it "
		    "served");
		return;
	}
	log_notice("binary upgrade: the new master (pid %ld) serves; "
	    "draining and exiting", (long)m.upgrade_pid);
	control_upgrade_done(1, "binary upgrade done: the new master (pid %ld) "
	    "serves", (long)m.upgrade_pid);
	master_upgrade_cleanup();
	m.upgraded = 1;
	m.upgrade_pid = 0;	/* no longer ours to watch */
	master_stop(1);
	control_settle();	/* "ok" once our workers accept no more */
}

/* The new master was reaped: a failure unless it served already. */
void
master_upgrade_exited(int status)
{
	char	 how[128];

	master_describe_status(status, how, sizeof(how));
	m.upgrade_pid = 0;
	if (m.ev_upgrade != NULL) {
		char why[192];

		snprintf(why, sizeof(why), "the new master exited (%s) "
		    "before it served", how);
		master_upgrade_failed(why);
	}
}

/* The sockets the new binary takes over, described for its environment. */
static char *
master_upgrade_env(int readyfd)
{
	struct upgrade_state	 st;
	struct keeper		*k;
	char			*env;
	size_t			 n = 0;

	memset(&st, 0, sizeof(st));
	st.readyfd = readyfd;
	st.controlfd = control_fd();
	TAILQ_FOREACH(k, &m.keepers, entry)
		n++;
	if ((st.ls = calloc(n + 1, sizeof(*st.ls))) == NULL)
		return (NULL);
	TAILQ_FOREACH(k, &m.keepers, entry) {
		snprintf(st.ls[st.n].key, sizeof(st.ls[st.n].key), "%s",
		    k->key);
		st.ls[st.n].keeper_fd = k->fd;
		st.ls[st.n].slot_fds = k->slot_fds;
		st.ls[st.n].nslots = k->nslot_fds;
		st.ls[st.n].xslot_fds = k->xslot_fds;
		st.ls[st.n].nxslots = k->nxslot_fds;
		st.n++;
	}
	env = upgrade_format(&st);
	free(st.ls);
	return (env);
}

/* In the child: let the sockets (and the ready pipe) survive exec. */
static void
master_upgrade_child(const char *env, int readyfd)
{
	struct keeper	*k;
	sigset_t	 none;
	int		 s;

	fcntl(readyfd, F_SETFD, 0);
	if (control_fd() != -1)
		fcntl(control_fd(), F_SETFD, 0);
	TAILQ_FOREACH(k, &m.keepers, entry) {
		fcntl(k->fd, F_SETFD, 0);
		for (s = 0; s < k->nslot_fds; s++)
			if (k->slot_fds[s] != -1)
				fcntl(k->slot_fds[s], F_SETFD, 0);
		for (s = 0; s < k->nxslot_fds; s++)
			if (k->xslot_fds[s] != -1)
				fcntl(k->xslot_fds[s], F_SETFD, 0);
	}
	setenv(UPGRADE_ENV, env, 1);
	handover_exec_child(m.handover);
	notify_watchdog_handover();
	(void)stats_pass_on();	/* the counters carry on */
	for (s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGPIPE)
			signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(m.opts.exe, m.opts.upgrade_argv);
	log_warn("binary upgrade: exec %s", m.opts.exe);
	_exit(127);
}

/*
 * SIGUSR2: run the binary at the path this one was started from, handing
 * it every listening socket. It starts its own generation on them; once it
 * serves, this master drains its workers and exits. The pid file names the
 * new master from its start; this one's is kept as PIDFILE.oldbin.
 */
void
master_upgrade_start(void)
{
	struct timeval	 tv;
	char		*env;
	sigset_t	 all, old;
	int		 p[2];
	pid_t		 pid;

	if (m.stopping || m.upgraded)
		return;
	if (m.upgrade_pid > 0 || m.ev_upgrade != NULL) {
		log_notice("binary upgrade already in progress (pid %ld)",
		    (long)m.upgrade_pid);
		return;
	}
	if (m.opts.exe == NULL || m.opts.upgrade_argv == NULL) {
		log_warnx("binary upgrade: this binary's path is unknown");
		return;
	}
	log_notice("binary upgrade: starting %s", m.opts.exe);
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("binary upgrade: pipe");
		return;
	}
	if ((env = master_upgrade_env(p[1])) == NULL) {
		log_warnx("binary upgrade: out of memory");
		close(p[0]);
		close(p[1]);
		return;
	}
	if (m.pid_file != NULL)
		master_upgrade_write_oldbin();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		master_upgrade_child(env, p[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(env);
	close(p[1]);
	m.upgrade_fd = p[0];
	if (pid == -1) {
		log_warn("binary upgrade: fork");
		master_upgrade_failed("cannot fork");
		return;
	}
	m.upgrade_pid = pid;
	m.ev_upgrade = event_new(m.base, p[0], EV_READ | EV_PERSIST,
	    master_upgrade_ready_cb, NULL);
	m.ev_upgrade_timer = evtimer_new(m.base, master_upgrade_ready_cb,
	    NULL);
	tv.tv_sec = (m.current ? m.current->conf->ready_timeout : 10) + 5;
	tv.tv_usec = 0;
	if (m.ev_upgrade == NULL || m.ev_upgrade_timer == NULL ||
	    event_add(m.ev_upgrade, NULL) == -1 ||
	    evtimer_add(m.ev_upgrade_timer, &tv) == -1)
		master_upgrade_failed("cannot watch the new master");
}

/* A new master after an upgrade: take over the old master's sockets. */
void
master_upgrade_adopt(const struct upgrade_state *st)
{
	struct sockaddr_storage	 ss;
	struct keeper		*k;
	socklen_t		 len;
	size_t			 i;
	int			 s;

	for (i = 0; i < st->n; i++) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			fatalx("out of memory");
		snprintf(k->key, sizeof(k->key), "%s", st->ls[i].key);
		k->udp = strncmp(k->key, KEEPER_UDP, strlen(KEEPER_UDP)) == 0;
		k->fd = st->ls[i].keeper_fd;
		fcntl(k->fd, F_SETFD, FD_CLOEXEC);
		len = sizeof(ss);
		if (getsockname(k->fd, (struct sockaddr *)&ss, &len) == -1)
			fatal("upgrade: getsockname");
		memcpy(&k->addr.ss, &ss, sizeof(ss));
		k->addr.len = len;
		for (s = 0; s < st->ls[i].nslots; s++)
			if (st->ls[i].slot_fds[s] != -1) {
				fcntl(st->ls[i].slot_fds[s], F_SETFD,
				    FD_CLOEXEC);
				keeper_store(k, 0, s, st->ls[i].slot_fds[s]);
			}
		for (s = 0; s < st->ls[i].nxslots; s++)
			if (st->ls[i].xslot_fds[s] != -1) {
				fcntl(st->ls[i].xslot_fds[s], F_SETFD,
				    FD_CLOEXEC);
				keeper_store(k, 1, s, st->ls[i].xslot_fds[s]);
			}
		TAILQ_INSERT_TAIL(&m.keepers, k, entry);
		log_info("upgrade: took over listen %s (%d slot listeners, %d "
		    "of exec processes)", k->key, k->nslot_fds,
		    k->nxslot_fds);
	}
}
