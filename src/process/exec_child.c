/*
 * exec_child.c: between fork() and exec() in a new process of an exec
 * server. The program is handed its listeners the way systemd's socket
 * activation does (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES; descriptors 3,
 * 4, ...) and nothing else of the master's: every other descriptor is
 * closed, every signal is back at its default and unblocked.
 *
 * The master is single-threaded, so the child may allocate and format
 * before exec(). Anything that fails is written to the close-on-exec
 * error pipe, which the master reads (exec.c), and the child exits 127.
 */
#include "autoconf.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/conf_int.h"
#include "core/proc.h"
#include "process/master_int.h"

#define EXEC_STATUS_FAILED	127	/* as a shell says "cannot run" */

extern char	**environ;

/* Tell the master what failed, and go. */
static void __attribute__((noreturn))
exec_child_fail(int errfd, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(errfd, msg, strlen(msg));
	_exit(EXEC_STATUS_FAILED);
}

/* Whether an inherited variable is drover's to set, or the user's. */
static int
exec_child_env_skip(const char *e, char *const *conf_env, int user)
{
	static const char *const account[] = {
		"HOME=", "USER=", "LOGNAME=",
	};
	size_t	 i, n;

	if (conf_exec_reserved(e))
		return (1);
	for (i = 0; user && i < sizeof(account) / sizeof(account[0]); i++)
		if (strncmp(e, account[i], strlen(account[i])) == 0)
			return (1);	/* the user's own, below */
	n = strcspn(e, "=");
	for (i = 0; conf_env[i] != NULL; i++)
		if (strncmp(e, conf_env[i], n + 1) == 0)
			return (1);	/* `environment` sets it */
	return (0);
}

/* HOME, USER and LOGNAME of the user the program runs as. */
static int
exec_child_env_user(const char *user, char **env, size_t *k)
{
	struct passwd	*pw;

	if (user == NULL || (pw = getpwnam(user)) == NULL)
		return (0);
	if (asprintf(&env[(*k)++], "HOME=%s", pw->pw_dir) == -1 ||
	    asprintf(&env[(*k)++], "USER=%s", pw->pw_name) == -1 ||
	    asprintf(&env[(*k)++], "LOGNAME=%s", pw->pw_name) == -1)
		return (-1);
	return (0);
}

/*
 * The program's environment: drover's own, less what drover sets; the
 * socket activation variables and drover's; then `environment`.
 */
static char **
exec_child_env(const struct exec_child *a)
{
	const struct exec_conf	*ec = a->sc->exec;
	char			**env, *names;
	size_t			  n = 0, i, k = 0, len;
	int			  j;

	for (i = 0; environ[i] != NULL; i++)
		n++;
	for (i = 0; ec->env[i] != NULL; i++)
		n++;
	len = (strlen(a->sc->name) + 1) * (size_t)a->nlisteners + 1;
	if ((env = calloc(n + 20, sizeof(*env))) == NULL ||
	    (names = calloc(1, len)) == NULL)
		return (NULL);
	for (j = 0; j < a->nlisteners; j++)
		snprintf(names + strlen(names), len - strlen(names), "%s%s",
		    j > 0 ? ":" : "", a->sc->name);
	for (i = 0; environ[i] != NULL; i++)
		if (!exec_child_env_skip(environ[i], ec->env,
		    a->conf->user != NULL))
			env[k++] = environ[i];
	if (exec_child_env_user(a->conf->user, env, &k) == -1)
		return (NULL);
	if (asprintf(&env[k++], "LISTEN_FDS=%d", a->nlisteners) == -1 ||
	    asprintf(&env[k++], "LISTEN_PID=%ld", (long)getpid()) == -1 ||
	    asprintf(&env[k++], "LISTEN_FDNAMES=%s", names) == -1 ||
	    asprintf(&env[k++], "NOTIFY_SOCKET=%s", a->notify) == -1 ||
	    asprintf(&env[k++], "DROVER_SERVER=%s", a->sc->name) == -1 ||
	    asprintf(&env[k++], "DROVER_GENERATION=%u", a->generation) == -1 ||
	    asprintf(&env[k++], "DROVER_SLOT=%d", a->slot) == -1)
		return (NULL);
	if (a->conf->worker_hang_timeout > 0 &&
	    (asprintf(&env[k++], "WATCHDOG_USEC=%lld",
	    (long long)a->conf->worker_hang_timeout * 1000000) == -1 ||
	    asprintf(&env[k++], "WATCHDOG_PID=%ld", (long)getpid()) == -1))
		return (NULL);
	for (i = 0; ec->env[i] != NULL; i++)
		env[k++] = ec->env[i];
	env[k] = NULL;
	return (env);
}

/* Close every descriptor from lowfd up. */
static void
exec_child_close_from(int lowfd)
{
	long	 max, fd;

	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	if ((max = sysconf(_SC_OPEN_MAX)) == -1)
		max = 65536;
	for (fd = lowfd; fd < max; fd++)
		(void)close((int)fd);
}

/*
 * Put the descriptors where the program expects them: 0 /dev/null, 1 and
 * 2 the output pipe, 3.. the listeners, then the error pipe (close on
 * exec); everything above is closed. Copies are moved above the final
 * places first, so that no dup2() lands on one still to be moved.
 */
static int
exec_child_fds(const struct exec_child *a)
{
	int	 base = 3 + a->nlisteners + 1, null, out, err, *l, i;

	if ((l = calloc((size_t)a->nlisteners + 1, sizeof(*l))) == NULL)
		return (-1);
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    (null = fcntl(null, F_DUPFD_CLOEXEC, base)) == -1 ||
	    (out = fcntl(a->outfd, F_DUPFD_CLOEXEC, base)) == -1 ||
	    (err = fcntl(a->errfd, F_DUPFD_CLOEXEC, base)) == -1)
		return (-1);
	for (i = 0; i < a->nlisteners; i++)
		if ((l[i] = fcntl(a->listeners[i], F_DUPFD_CLOEXEC, base)) ==
		    -1)
			return (-1);
	if (dup2(null, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		return (-1);
	/* Their flags are the socket's, shared: not ours to change. */
	for (i = 0; i < a->nlisteners; i++)
		if (dup2(l[i], 3 + i) == -1)
			return (-1);
	if (dup3(err, 3 + a->nlisteners, O_CLOEXEC) == -1)
		return (-1);
	exec_child_close_from(base);
	return (3 + a->nlisteners);
}

/*
 * Every signal back at its default, as an exec'd program expects: those
 * this process inherited ignored too (exec keeps SIG_IGN). glibc refuses
 * its two internal signals (32, 33) to signal(); an ignored one would
 * reach the program, so they are reset with the system call itself,
 * harmless in a single thread that is about to exec.
 */
static void
exec_child_signals(void)
{
	struct {
		void		*handler;
		unsigned long	 flags;
		void		*restorer;
		unsigned long	 mask;
	}	 dfl;
	int	 s;

	memset(&dfl, 0, sizeof(dfl));	/* SIG_DFL is 0 */
	for (s = 1; s < NSIG; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (signal(s, SIG_DFL) == SIG_ERR)
			(void)syscall(SYS_rt_sigaction, s, &dfl, NULL,
			    sizeof(dfl.mask));
	}
}

/* In the new child: become the program, or report why not and exit. */
void
exec_child_run(const struct exec_child *a)
{
	const struct exec_conf	*ec = a->sc->exec;
	char			 err[512];
	char			**env;
	sigset_t		 none;
	int			 errfd;

	exec_child_signals();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own process group: a terminal's ^C is for the master, and
	 * the program's children can be stopped with it. */
	(void)setpgid(0, 0);
	if ((errfd = exec_child_fds(a)) == -1)
		exec_child_fail(a->errfd, "setting up descriptors: %s",
		    strerror(errno));
	if (proc_drop_privileges(a->conf->user, a->conf->group, err,
	    sizeof(err)) == -1)
		exec_child_fail(errfd, "%s", err);
	/*
	 * A master that dies without stopping it (SIGKILL, a crash) must
	 * not leave the program holding the port against the next drover:
	 * it gets stop_signal then. Set after the credentials change, which
	 * clears it; a master already gone is checked for.
	 */
	if (prctl(PR_SET_PDEATHSIG, ec->stop_signal) == -1 ||
	    getppid() != a->master)
		exec_child_fail(errfd, "the master is gone");
	if (chdir(ec->directory) == -1)
		exec_child_fail(errfd, "directory %s: %s", ec->directory,
		    strerror(errno));
	if ((env = exec_child_env(a)) == NULL)
		exec_child_fail(errfd, "environment: out of memory");
	execve(ec->path, ec->argv, env);
	exec_child_fail(errfd, "exec %s: %s", ec->path, strerror(errno));
}
