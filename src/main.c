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
	printf("features: %clibsystemd %clibbpf\n",
#ifdef HAVE_LIBSYSTEMD
	    '+',
#else
	    '-',
#endif
#ifdef HAVE_LIBBPF
	    '+'
#else
	    '-'
#endif
	    );
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

int
main(int argc, char *argv[])
{
	struct master_opts	 opts;
	struct upgrade_state	 upgrade;
	struct config		*conf;
	char			 exe[4096], *up_argv[5];
	const char		*up_env;
	ssize_t			 n;
	const char		*conf_path = DROVER_CONF_PATH, *sig = NULL;
	char			 err[1024], *abspath = NULL;
	int			 ch, foreground = 0, test = 0, rc;

	while ((ch = getopt(argc, argv, "c:fts:Vh")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		case 's':
			sig = optarg;
			break;
		case 'V':
			print_version();
			return (0);
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	/* Reloads happen after chdir("/"): remember where the file is. */
	if (conf_path[0] != '/' && (abspath = realpath(conf_path, NULL)) != NULL)
		conf_path = abspath;
	log_init("drover", LOG_LEVEL_INFO);
	event_set_log_callback(main_event_log);
	event_set_fatal_callback(main_event_fatal);
	if ((conf = conf_load(conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "drover: %s\n", err);
		free(abspath);
		return (1);
	}
	if (test || sig != NULL) {
		if (sig != NULL)
			rc = send_signal(conf, sig);
		else if (proc_check_credentials(conf->user, conf->group, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "drover: %s: %s\n", conf_path, err);
			rc = 1;
		} else {
			fprintf(stderr, "drover: configuration file %s is "
			    "valid\n", conf_path);
			rc = 0;
		}
		conf_free(conf);
		free(abspath);
		return (rc);
	}
	if (proc_check_credentials(conf->user, conf->group, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "drover: %s: %s\n", conf_path, err);
		conf_free(conf);
		free(abspath);
		return (1);
	}

	memset(&opts, 0, sizeof(opts));
	opts.conf_path = conf_path;
	opts.log_stderr = foreground;
	opts.detach = !foreground && conf->daemon;
	opts.readyfd = -1;
	opts.pidfd = -1;
	/* SIGUSR2 runs the binary now at this path, on the same file. */
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((n = (ssize_t)strlen(exe)) > 10 &&
		    strcmp(exe + n - 10, " (deleted)") == 0)
			exe[n - 10] = '\0';
		opts.exe = exe;
		up_argv[0] = exe;
		up_argv[1] = (char *)"-c";
		up_argv[2] = (char *)(uintptr_t)conf_path;
		up_argv[3] = foreground ? (char *)"-f" : NULL;
		up_argv[4] = NULL;
		opts.upgrade_argv = up_argv;
	}
	if ((up_env = getenv(UPGRADE_ENV)) != NULL) {
		/* Started by an old master (SIGUSR2): it waits for us. */
		if (upgrade_parse(up_env, &upgrade, err, sizeof(err)) == -1) {
			fprintf(stderr, "drover: %s: %s\n", UPGRADE_ENV, err);
			conf_free(conf);
			free(abspath);
			return (1);
		}
		unsetenv(UPGRADE_ENV);
		opts.upgrade = &upgrade;
		opts.readyfd = upgrade.readyfd;
		fcntl(opts.readyfd, F_SETFD, FD_CLOEXEC);
	}
	log_set_level(conf->log_level);
	if (!foreground && log_open(conf->error_log, err, sizeof(err)) == -1) {
		fprintf(stderr, "drover: %s\n", err);
		conf_free(conf);
		free(abspath);
		return (1);
	}
	/* Until the workers serve, errors reach the terminal too. */
	log_also_stderr(1);
	if (opts.detach && opts.upgrade == NULL &&
	    proc_daemonize(&opts.readyfd) == -1)
		fatal("cannot become a daemon");
	/* After an upgrade the pid file is taken over once we serve. */
	if (conf->pid_file != NULL && opts.upgrade == NULL &&
	    (opts.pidfd = pidfile_acquire(conf->pid_file, 0, err,
	    sizeof(err))) == -1) {
		log_set_role("master");
		log_warnx("%s", err);
		conf_free(conf);
		free(abspath);
		return (1);
	}
	rc = master_main(conf, &opts);
	if (opts.upgrade != NULL)
		upgrade_free(opts.upgrade);
	log_close();
	free(abspath);
	return (rc);
}
