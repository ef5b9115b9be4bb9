/*
 * log.c: the one logging API of drover.
 *
 * Every line is formatted into one buffer and written with a single write()
 * to an O_APPEND descriptor, so the master and its workers never interleave
 * partial lines in a shared log file.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static enum log_level	 log_min = LOG_LEVEL_INFO;
static enum log_dest	 log_dest = LOG_DEST_STDERR;
static int		 log_fd = STDERR_FILENO;
static int		 log_tee_stderr;	/* also copy lines to stderr */
static char		 log_path[4096];
static char		 log_role[32] = "drover";

static const char *const log_level_names[] = {
	"error", "warn", "notice", "info", "debug"
};

/* Parse a log_level keyword. */
int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]);
	    i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return (0);
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return (0);
	}
	return (-1);
}

/* Would a message at this level be written? For callers whose arguments
 * cost something to compute (a formatted address, say). */
int
log_wants(enum log_level level)
{
	return (level <= log_min);
}

/* Start logging to stderr with the given role name and level. */
void
log_init(const char *role, enum log_level level)
{
	log_set_role(role);
	log_min = level;
	log_dest = LOG_DEST_STDERR;
	log_fd = STDERR_FILENO;
}

/* Name this process in every line ("master", "worker 2.1"). */
void
log_set_role(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

/* While starting, lines go to stderr as well so the user sees errors. */
void
log_also_stderr(int on)
{
	log_tee_stderr = on;
}

static int
log_open_path(const char *path, char *err, size_t errlen)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		snprintf(err, errlen, "cannot open error_log \"%s\": %s",
		    path, strerror(errno));
	return (fd);
}

/*
 * Switch to a destination: "stderr", "syslog" or a file path. On failure the
 * previous destination is kept and err says why.
 */
int
log_open(const char *target, char *err, size_t errlen)
{
	int	 fd;

	if (strcmp(target, "stderr") == 0) {
		log_close();
		log_dest = LOG_DEST_STDERR;
		log_fd = STDERR_FILENO;
	} else if (strcmp(target, "syslog") == 0) {
		log_close();
		openlog("drover", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_dest = LOG_DEST_SYSLOG;
		log_fd = -1;
	} else {
		if ((fd = log_open_path(target, err, errlen)) == -1)
			return (-1);
		log_close();
		log_dest = LOG_DEST_FILE;
		log_fd = fd;
		snprintf(log_path, sizeof(log_path), "%s", target);
	}
	return (0);
}

/* Reopen the log file (logrotate); a no-op for stderr and syslog. */
int
log_reopen(char *err, size_t errlen)
{
	int	 fd;

	if (log_dest != LOG_DEST_FILE)
		return (0);
	if ((fd = log_open_path(log_path, err, errlen)) == -1)
		return (-1);
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return (0);
}

/* Adopt a log file descriptor opened by the master (workers, after USR1). */
void
log_set_fd(int fd)
{
	if (log_dest != LOG_DEST_FILE) {
		close(fd);
		return;
	}
	if (log_fd != -1 && log_fd != fd)
		close(log_fd);
	log_fd = fd;
}

int
log_get_fd(void)
{
	return (log_dest == LOG_DEST_FILE ? log_fd : -1);
}

const char *
log_target(void)
{
	switch (log_dest) {
	case LOG_DEST_SYSLOG:
		return ("syslog");
	case LOG_DEST_FILE:
		return (log_path);
	default:
		return ("stderr");
	}
}

void
log_close(void)
{
	if (log_dest == LOG_DEST_FILE && log_fd != -1)
		close(log_fd);
	else if (log_dest == LOG_DEST_SYSLOG)
		closelog();
	log_dest = LOG_DEST_STDERR;
	log_fd = STDERR_FILENO;
}

static int
log_syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return (LOG_ERR);
	case LOG_LEVEL_WARN:
		return (LOG_WARNING);
	case LOG_LEVEL_NOTICE:
		return (LOG_NOTICE);
	case LOG_LEVEL_INFO:
		return (LOG_INFO);
	default:
		return (LOG_DEBUG);
	}
}

static void
log_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Format one line and send it where it belongs; errnum != 0 appends it. */
void
log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char		 msg[2048], line[2304], ts[32];
	struct timespec	 now;
	struct tm	 tm;
	int		 n, saved = errno;

	if (level > log_min)
		goto out;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		goto out;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(errnum));

	if (log_dest == LOG_DEST_SYSLOG)
		syslog(log_syslog_priority(level), "%s: %s", log_role, msg);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s [%s] %s[%ld]: %s\n", ts,
	    log_level_names[level], log_role, (long)getpid(), msg);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (log_dest != LOG_DEST_SYSLOG && log_fd != -1)
		log_write_all(log_fd, line, (size_t)n);
	if (log_tee_stderr && log_fd != STDERR_FILENO)
		log_write_all(STDERR_FILENO, line, (size_t)n);
out:
	errno = saved;
}

/*
 * A line a program run by drover wrote (exec_output.c), tagged with who
 * wrote it: to fd, or with fd -1 where the log goes. Never filtered by
 * log_level: it is the program's, not ours.
 */
void
log_output(int fd, const char *who, long pid, const char *text, size_t len)
{
	char		 line[4352], ts[32];
	struct timespec	 now;
	struct tm	 tm;
	int		 n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s [output] %s[%ld]: %.*s\n", ts,
	    who, pid, (int)len, text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (fd != -1) {
		log_write_all(fd, line, (size_t)n);
		return;
	}
	if (log_dest == LOG_DEST_SYSLOG)
		syslog(LOG_INFO, "%s[%ld]: %.*s", who, pid, (int)len, text);
	else if (log_fd != -1)
		log_write_all(log_fd, line, (size_t)n);
	if (log_tee_stderr && log_fd != STDERR_FILENO)
		log_write_all(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(name, level, witherr)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
	int	 e = errno;					\
								\
	va_start(ap, fmt);					\
	log_vmsg(level, (witherr) ? e : 0, fmt, ap);		\
	va_end(ap);						\
}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

/* Log an error with strerror(errno) and exit: start-up or broken invariant. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 e = errno;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit: start-up or broken invariant. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
