/*
 * proc.c: process plumbing shared by the master and the workers.
 */
#include "autoconf.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/proc.h"

/*
 * Become a daemon (fork, setsid, fork, chdir). The calling process stays
 * behind and exits only when the daemon reports success or failure through
 * a pipe, so "drover" returns 0 once the workers serve and non-zero when
 * start-up fails. Stderr is kept until then so errors reach the user.
 * Returns 0 in the daemon, with *readyfd to pass to proc_daemon_ready().
 */
int
proc_daemonize(int *readyfd)
{
	int	 p[2], status;
	char	 c;
	ssize_t	 n;
	pid_t	 pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	switch ((pid = fork())) {
	case -1:
		return (-1);
	case 0:
		break;
	default:
		close(p[1]);
		do {
			n = read(p[0], &c, 1);
		} while (n == -1 && errno == EINTR);
		(void)waitpid(pid, &status, 0);
		_exit(n == 1 && c == '1' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		return (-1);
	switch (fork()) {
	case -1:
		return (-1);
	case 0:
		break;
	default:
		_exit(0);
	}
	if (chdir("/") == -1)
		return (-1);
	proc_stdio_null(0);
	*readyfd = p[1];
	return (0);
}

/* We serve: release whoever waits (the parent, an old master), and with
 * detach leave the terminal. */
void
proc_daemon_ready(int readyfd, int detach)
{
	ssize_t	 n;

	if (readyfd == -1)
		return;
	do {
		n = write(readyfd, "1", 1);
	} while (n == -1 && errno == EINTR);
	close(readyfd);
	if (detach)
		proc_stdio_null(1);
}

/* Point stdin (and with all, stdout and stderr) at /dev/null. */
void
proc_stdio_null(int all)
{
	int	 fd;

	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return;
	dup2(fd, STDIN_FILENO);
	if (all) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (fd > STDERR_FILENO)
		close(fd);
}

static int
proc_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid,
    char *err, size_t errlen)
{
	struct passwd	*pw = NULL;
	struct group	*gr;

	*uid = geteuid();
	*gid = getegid();
	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			snprintf(err, errlen, "user \"%s\": no such user",
			    user);
			return (-1);
		}
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen, "group \"%s\": no such group",
			    group);
			return (-1);
		}
		*gid = gr->gr_gid;
	}
	return (0);
}

/* Check at start-up and reload that user/group exist and can be used. */
int
proc_check_credentials(const char *user, const char *group, char *err,
    size_t errlen)
{
	uid_t	 uid;
	gid_t	 gid;

	if (user == NULL && group == NULL)
		return (0);
	if (proc_lookup(user, group, &uid, &gid, err, errlen) == -1)
		return (-1);
	if (geteuid() != 0 && (uid != geteuid() || gid != getegid())) {
		snprintf(err, errlen, "user/group are set but drover is not "
		    "running as root: cannot switch to %s%s%s", user ? user :
		    "", user && group ? ":" : "", group ? group : "");
		return (-1);
	}
	return (0);
}

/* Switch to user/group for good (setgroups, setgid, setuid) and verify. */
int
proc_drop_privileges(const char *user, const char *group, char *err,
    size_t errlen)
{
	uid_t	 uid;
	gid_t	 gid;

	if (user == NULL && group == NULL)
		return (0);
	if (proc_check_credentials(user, group, err, errlen) == -1 ||
	    proc_lookup(user, group, &uid, &gid, err, errlen) == -1)
		return (-1);
	if (geteuid() != 0)
		return (0);	/* already the user asked for */
	if (setgroups(1, &gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "cannot drop privileges to uid %lu "
		    "gid %lu: %s", (unsigned long)uid, (unsigned long)gid,
		    strerror(errno));
		return (-1);
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "privileges could be regained after "
		    "dropping them: refusing to run");
		return (-1);
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid) {
		snprintf(err, errlen, "dropping privileges did not take");
		return (-1);
	}
	return (0);
}

/* Set RLIMIT_NOFILE (soft and, when allowed, hard). */
int
proc_set_nofile(long n, char *err, size_t errlen)
{
	struct rlimit	 rl;
	rlim_t		 hard;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(err, errlen, "getrlimit: %s", strerror(errno));
		return (-1);
	}
	hard = rl.rlim_max;
	rl.rlim_cur = (rlim_t)n;
	if (rl.rlim_max < (rlim_t)n)
		rl.rlim_max = (rlim_t)n;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		/* Raising the hard limit takes CAP_SYS_RESOURCE: say what
		 * the limit is, so the fix is plain. */
		if (hard < (rlim_t)n)
			snprintf(err, errlen, "rlimit_nofile = %ld: %s (the "
			    "hard limit is %llu)", n, strerror(errno),
			    (unsigned long long)hard);
		else
			snprintf(err, errlen, "rlimit_nofile = %ld: %s", n,
			    strerror(errno));
		return (-1);
	}
	return (0);
}
