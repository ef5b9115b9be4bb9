/*
 * main.c: drover's command line.
 *
 *   drover [-c FILE] [-f] [-t] [-s reload|upgrade|status|quit|stop|reopen]
 *          [-j] [-V] [-h]
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>
#include <event2/event.h>

#include "core/conf.h"
#include "core/log.h"
#include "process/master.h"
#include "core/pidfile.h"
#include "core/proc.h"
#include "process/control.h"
#include "process/upgrade.h"

#ifndef DROVER_CONF_PATH
#define DROVER_CONF_PATH	"/etc/drover/drover.conf"
#endif

static const struct {
	const char	*name;
	int		 sig;
} main_signals[] = {
	{ "reload",	SIGHUP },
	{ "quit",	SIGQUIT },
	{ "stop",	SIGTERM },
	{ "reopen",	SIGUSR1 },
	{ "upgrade",	SIGUSR2 },
};

/* What the command line asks for. */
struct main_args {
	const char	*conf_path;
	const char	*sig;		/* -s NAME, or NULL */
	int		 json;		/* -j: -s status as JSON */
	int		 foreground;	/* -f */
	int		 test;		/* -t */
};

/* The command a binary upgrade runs: this binary, on the same file. */
struct main_exec {
	char	 path[4096];
	char	*argv[5];
};

/* libevent's own messages go through drover's log. */
static void
main_event_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

static void
main_event_fatal(int err)
{
	fatalx("libevent: fatal error %d", err);
}

static void __attribute__((noreturn))
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: drover [-c FILE] [-f] [-t] "
	    "[-s reload|upgrade|status|quit|stop|reopen] [-j] [-V] [-h]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -t       check the configuration and exit\n"
	    "  -s CMD   tell the running master: reload, upgrade (wait for the\n"
	    "           verdict on its control socket: exit 0 once the new\n"
	    "           generation or master serves, 1 with the reason if not),\n"
	    "           status (its generations, workers, listeners), or signal\n"
	    "           it: quit (QUIT), stop (TERM), reopen (USR1)\n"
	    "  -j       with -s status: print it as one JSON object\n"
	    "  -V       print the version and compiled-in features\n"
	    "  -h       print this help\n", DROVER_CONF_PATH);
	exit(code);
}

static void
print_version(void)
{
	printf("drover %s\n", PACKAGE_VERSION);
	printf("libevent %s, libconfuse %s\n", event_get_version(),
	    confuse_version);
	/* The notify protocol is drover's own: no libsystemd to link. */
	printf("features: sd_notify\n");
}

/* -s: signal the master named by the configured pid file. */
static int
send_signal(const struct config *conf, const char *name)
{
	char	 err[1024];
	size_t	 i;
	pid_t	 pid;

	for (i = 0; i < sizeof(main_signals) / sizeof(main_signals[0]); i++)
		if (strcmp(main_signals[i].name, name) == 0)
			break;
	if (i == sizeof(main_signals) / sizeof(main_signals[0])) {
		fprintf(stderr, "drover: -s %s: unknown command (reload, "
		    "upgrade, status, quit, stop or reopen)\n", name);
		return (1);
	}
	if (conf->pid_file == NULL) {
		fprintf(stderr, "drover: %s sets no pid_file: cannot find "
		    "the running master\n", conf->path);
		return (1);
	}
	if ((pid = pidfile_running(conf->pid_file, err, sizeof(err))) == -1) {
		fprintf(stderr, "drover: %s\n", err);
		return (1);
	}
	if (kill(pid, main_signals[i].sig) == -1) {
		fprintf(stderr, "drover: cannot signal pid %ld: %s\n",
		    (long)pid, strerror(errno));
		return (1);
	}
	return (0);
}

/* -s reload, upgrade and status go through the control socket. */
static int
main_is_control(const char *name)
{
	return (strcmp(name, "reload") == 0 || strcmp(name, "upgrade") == 0 ||
	    strcmp(name, "status") == 0);
}

/* The master answered: "ok TEXT" (0) or "error REASON" (1), said. */
static int
main_control_answer(const char *path, char *reply)
{
	char	*body = strchr(reply, '\n');

	if (body != NULL)
		*body++ = '\0';
	if (strncmp(reply, "ok", 2) == 0 && (reply[2] == '\0' ||
	    reply[2] == ' ')) {
		if (reply[2] == ' ')
			printf("%s\n", reply + 3);
		if (body != NULL)
			fputs(body, stdout);
		return (0);
	}
	if (strncmp(reply, "error ", 6) == 0)
		fprintf(stderr, "drover: %s\n", reply + 6);
	else if (reply[0] == '\0')
		fprintf(stderr, "drover: the master closed %s without an "
		    "answer\n", path);
	else
		fprintf(stderr, "drover: unexpected answer on %s: %s\n", path,
		    reply);
	return (1);
}

/* No master listens on the control socket: the pid file's, by signal. */
static int
main_control_fallback(const struct config *conf, const char *name)
{
	char	 err[1024];

	if (conf->pid_file == NULL) {
		fprintf(stderr, "drover: no master answers on the control "
		    "socket (%s) and %s sets no pid_file: cannot find the "
		    "running master\n", conf->control_socket ?
		    conf->control_socket : "none set", conf->path);
		return (1);
	}
	if (pidfile_running(conf->pid_file, err, sizeof(err)) == -1) {
		fprintf(stderr, "drover: %s\n", err);
		return (1);
	}
	if (strcmp(name, "status") == 0) {
		fprintf(stderr, "drover: the running master answers on no "
		    "control socket (%s): an older drover? no status\n",
		    conf->control_socket ? conf->control_socket : "none set");
		return (1);
	}
	fprintf(stderr, "drover: the running master answers on no control "
	    "socket (%s): an older drover? sending the signal; no verdict is "
	    "available (see the error log)\n",
	    conf->control_socket ? conf->control_socket : "none set");
	return (send_signal(conf, name));
}

/*
 * -s reload|upgrade|status: ask the master on its control socket and wait
 * for the answer: for a reload, the one running may end first (twice
 * ready_timeout); an upgrade's new master has ready_timeout + 5 s.
 */
static int
main_control(const struct config *conf, const char *name, int json)
{
	char	 err[1024], req[32], *reply = NULL;
	int	 rc, timeout = 10;

	if (conf->control_socket == NULL)
		return (main_control_fallback(conf, name));
	if (strcmp(name, "reload") == 0)
		timeout = 2 * conf->ready_timeout + 5;
	else if (strcmp(name, "upgrade") == 0)
		timeout = 2 * conf->ready_timeout + 10;
	snprintf(req, sizeof(req), "%s%s\n", name, json ? " json" : "");
	rc = control_request(conf->control_socket, req, timeout, &reply, err,
	    sizeof(err));
	if (rc == CONTROL_NOBODY)
		return (main_control_fallback(conf, name));
	if (rc == -1) {
		fprintf(stderr, "drover: %s\n", err);
		return (1);
	}
	rc = main_control_answer(conf->control_socket, reply);
	free(reply);
	return (rc);
}

/* Read the options; -V, -h and mistakes end the program here. */
static void
main_parse_args(int argc, char *argv[], struct main_args *a)
{
	int	 ch;

	memset(a, 0, sizeof(*a));
	a->conf_path = DROVER_CONF_PATH;
	while ((ch = getopt(argc, argv, "c:fjts:Vh")) != -1) {
		switch (ch) {
		case 'c':
			a->conf_path = optarg;
			break;
		case 'f':
			a->foreground = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 't':
			a->test = 1;
			break;
		case 's':
			a->sig = optarg;
			break;
		case 'V':
			print_version();
			exit(0);
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc || (a->json && (a->sig == NULL ||
	    strcmp(a->sig, "status") != 0)))
		usage(1);
}

/* Set up logging, then read the configuration; NULL (said) if it is bad. */
static struct config *
main_load(const char *conf_path)
{
	struct config	*conf;
	char		 err[1024];

	log_init("drover", LOG_LEVEL_INFO);
	event_set_log_callback(main_event_log);
	event_set_fatal_callback(main_event_fatal);
	if ((conf = conf_load(conf_path, err, sizeof(err))) == NULL)
		fprintf(stderr, "drover: %s\n", err);
	return (conf);
}

/* Whether the user and group the workers run as exist; 1 (said) if not. */
static int
main_check_credentials(const struct config *conf, const char *conf_path)
{
	char	 err[1024];

	if (proc_check_credentials(conf->user, conf->group, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "drover: %s: %s\n", conf_path, err);
		return (1);
	}
	return (0);
}

/* -t: the configuration loaded; say so if its credentials hold too. */
static int
main_test(const struct config *conf, const char *conf_path)
{
	if (main_check_credentials(conf, conf_path) != 0)
		return (1);
	fprintf(stderr, "drover: configuration file %s is valid\n",
	    conf_path);
	return (0);
}

/* SIGUSR2 runs the binary now at this path, on the same file. */
static void
main_set_exec(struct master_opts *opts, struct main_exec *ex,
    const struct main_args *a)
{
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", ex->path,
	    sizeof(ex->path) - 1)) <= 0)
		return;
	ex->path[n] = '\0';
	if ((n = (ssize_t)strlen(ex->path)) > 10 &&
	    strcmp(ex->path + n - 10, " (deleted)") == 0)
		ex->path[n - 10] = '\0';
	opts->exe = ex->path;
	ex->argv[0] = ex->path;
	ex->argv[1] = (char *)"-c";
	ex->argv[2] = (char *)(uintptr_t)a->conf_path;
	ex->argv[3] = a->foreground ? (char *)"-f" : NULL;
	ex->argv[4] = NULL;
	opts->upgrade_argv = ex->argv;
}

/* Started by an old master (SIGUSR2): take over what it hands us. */
static int
main_take_upgrade(struct master_opts *opts, struct upgrade_state *upgrade)
{
	const char	*up_env;
	char		 err[1024];

	if ((up_env = getenv(UPGRADE_ENV)) == NULL)
		return (0);
	/* The old master waits for us to serve. */
	if (upgrade_parse(up_env, upgrade, err, sizeof(err)) == -1) {
		fprintf(stderr, "drover: %s: %s\n", UPGRADE_ENV, err);
		return (-1);
	}
	unsetenv(UPGRADE_ENV);
	opts->upgrade = upgrade;
	opts->readyfd = upgrade->readyfd;
	fcntl(opts->readyfd, F_SETFD, FD_CLOEXEC);
	return (0);
}

/* The error log, the daemon, the pid file, in that order; -1 (said). */
static int
main_setup(const struct config *conf, struct master_opts *opts,
    int foreground)
{
	char	 err[1024];

	log_set_level(conf->log_level);
	if (!foreground && log_open(conf->error_log, err, sizeof(err)) == -1) {
		fprintf(stderr, "drover: %s\n", err);
		return (-1);
	}
	/* Until the workers serve, errors reach the terminal too. */
	log_also_stderr(1);
	if (opts->detach && opts->upgrade == NULL &&
	    proc_daemonize(&opts->readyfd) == -1)
		fatal("cannot become a daemon");
	/* After an upgrade the pid file is taken over once we serve. */
	if (conf->pid_file != NULL && opts->upgrade == NULL &&
	    (opts->pidfd = pidfile_acquire(conf->pid_file, 0, err,
	    sizeof(err))) == -1) {
		log_set_role("master");
		log_warnx("%s", err);
		return (-1);
	}
	return (0);
}

/* Start and run the master with conf (taken); the exit code. */
static int
main_start(struct config *conf, const struct main_args *a)
{
	struct master_opts	 opts;
	struct upgrade_state	 upgrade;
	struct main_exec	 ex;
	int			 rc;

	if (main_check_credentials(conf, a->conf_path) != 0) {
		conf_free(conf);
		return (1);
	}
	memset(&opts, 0, sizeof(opts));
	opts.conf_path = a->conf_path;
	opts.log_stderr = a->foreground;
	opts.detach = !a->foreground && conf->daemon;
	opts.readyfd = -1;
	opts.pidfd = -1;
	main_set_exec(&opts, &ex, a);
	if (main_take_upgrade(&opts, &upgrade) == -1 ||
	    main_setup(conf, &opts, a->foreground) == -1) {
		conf_free(conf);
		return (1);
	}
	rc = master_main(conf, &opts);
	if (opts.upgrade != NULL)
		upgrade_free(opts.upgrade);
	log_close();
	return (rc);
}

/* Options, configuration, then -s, -t or the master itself. */
int
main(int argc, char *argv[])
{
	struct main_args	 a;
	struct config		*conf;
	char			*abspath = NULL;
	int			 rc;

	main_parse_args(argc, argv, &a);
	/* Reloads happen after chdir("/"): remember where the file is. */
	if (a.conf_path[0] != '/' &&
	    (abspath = realpath(a.conf_path, NULL)) != NULL)
		a.conf_path = abspath;
	if ((conf = main_load(a.conf_path)) == NULL)
		rc = 1;
	else if (a.sig != NULL || a.test) {
		if (a.sig != NULL && main_is_control(a.sig))
			rc = main_control(conf, a.sig, a.json);
		else if (a.sig != NULL)
			rc = send_signal(conf, a.sig);
		else
			rc = main_test(conf, a.conf_path);
		conf_free(conf);
	} else
		rc = main_start(conf, &a);
	free(abspath);
	return (rc);
}
