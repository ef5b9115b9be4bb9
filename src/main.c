/*
 * main.c: drover's command line.
 *
 *   drover [-c FILE] [-f] [-t] [-s reload|quit|stop|reopen|upgrade] [-V] [-h]
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
	    "[-s reload|quit|stop|reopen|upgrade] [-V] [-h]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -t       check the configuration and exit\n"
	    "  -s SIG   signal the running master: reload (HUP), quit (QUIT),\n"
	    "           stop (TERM), reopen (USR1), upgrade (USR2)\n"
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
		fprintf(stderr, "drover: -s %s: unknown signal name (reload, "
		    "quit, stop, reopen or upgrade)\n", name);
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

/* Read the options; -V, -h and mistakes end the program here. */
static void
main_parse_args(int argc, char *argv[], struct main_args *a)
{
	int	 ch;

	memset(a, 0, sizeof(*a));
	a->conf_path = DROVER_CONF_PATH;
	while ((ch = getopt(argc, argv, "c:fts:Vh")) != -1) {
		switch (ch) {
		case 'c':
			a->conf_path = optarg;
			break;
		case 'f':
			a->foreground = 1;
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
	if (optind != argc)
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
		if (a.sig != NULL)
			rc = send_signal(conf, a.sig);
		else
			rc = main_test(conf, a.conf_path);
		conf_free(conf);
	} else
		rc = main_start(conf, &a);
	free(abspath);
	return (rc);
}
