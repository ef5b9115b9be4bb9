/*
 * pidfile.c: the pid file.
 *
 * The master holds a POSIX write lock on it for its whole life. The lock,
 * not the file's content, says whether drover runs: a file nobody holds is
 * stale and taken over, and F_GETLK names the pid that holds a live one.
 * The content is replaced atomically (write a locked temporary, rename it
 * into place) so a reader never sees a half-written pid. The temporary
 * gets a name nobody can plant a symlink at beforehand (mkostemp).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "core/pidfile.h"

static int
pidfile_lock(int fd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	return (fcntl(fd, F_SETLK, &fl));
}

/* The pid holding the lock on fd, 0 if none, -1 on error. */
static pid_t
pidfile_holder(int fd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) == -1)
		return (-1);
	if (fl.l_type == F_UNLCK)
		return (0);
	return (fl.l_pid);
}

/* The pid written in the file, or 0. */
static pid_t
pidfile_content(int fd)
{
	char	 buf[32];
	ssize_t	 n;
	long	 v;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	return (v > 0 ? (pid_t)v : 0);
}

/*
 * Become the owner of the pid file. Returns the locked descriptor, or -1
 * with err saying which pid holds it (or what failed). With takeover (a
 * new master after a binary upgrade) the old master's lock is not in the
 * way: the name moves to our file atomically, the old master keeps its
 * lock on what is then an unnamed file.
 */
int
pidfile_acquire(const char *path, int takeover, char *err, size_t errlen)
{
	char	 tmp[4096], buf[32];
	pid_t	 holder;
	int	 fd, nfd, len;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "pid file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (!takeover && pidfile_lock(fd) == -1) {
		holder = pidfile_holder(fd);
		if (holder <= 0)
			holder = pidfile_content(fd);
		snprintf(err, errlen, "drover is already running as pid %ld "
		    "(it holds the pid file %s)", (long)holder, path);
		close(fd);
		return (-1);
	}
	/*
	 * A fresh, unpredictable name created with O_EXCL: in a directory
	 * others can write to, a name they could guess (PATH.tmp.<pid>) may
	 * already be their symlink to a file we must never truncate.
	 */
	len = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (len < 0 || (size_t)len >= sizeof(tmp)) {
		snprintf(err, errlen, "pid file %s: path too long", path);
		close(fd);
		return (-1);
	}
	nfd = mkostemp(tmp, O_CLOEXEC);
	if (nfd == -1) {
		snprintf(err, errlen, "pid file %s: %s", tmp, strerror(errno));
		close(fd);
		return (-1);
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	/* Lock the new inode before it takes the name: no unlocked gap. */
	if (pidfile_lock(nfd) == -1 || fchmod(nfd, 0644) == -1 ||
	    write(nfd, buf, (size_t)len) != len || rename(tmp, path) == -1) {
		snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
		unlink(tmp);
		close(nfd);
		close(fd);
		return (-1);
	}
	close(fd);
	return (nfd);
}

/* Remove the pid file if it is still ours, and let go of it. */
void
pidfile_release(const char *path, int fd)
{
	int	 cur;

	if (fd == -1)
		return;
	cur = open(path, O_RDONLY | O_CLOEXEC);
	if (cur != -1) {
		if (pidfile_content(cur) == getpid())
			unlink(path);
		/* Closing any fd of the file drops our lock: do it last. */
		close(cur);
	}
	close(fd);
}

/* The pid of the running master named by path, or -1 with err set. */
pid_t
pidfile_running(const char *path, char *err, size_t errlen)
{
	pid_t	 holder, content;
	int	 fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "pid file %s: %s: is drover running?",
		    path, strerror(errno));
		return (-1);
	}
	holder = pidfile_holder(fd);
	content = pidfile_content(fd);
	close(fd);
	if (holder == 0) {
		snprintf(err, errlen, "drover is not running (pid file %s is "
		    "stale: nobody holds it%s)", path,
		    content > 0 ? ", it names a dead process" : "");
		return (-1);
	}
	if (holder < 0) {
		snprintf(err, errlen, "pid file %s: cannot test its lock: %s",
		    path, strerror(errno));
		return (-1);
	}
	(void)content;
	return (holder);
}
