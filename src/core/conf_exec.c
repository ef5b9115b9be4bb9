/*
 * conf_exec.c: the keys of a `protocol = exec` server (command, processes,
 * ready, stop_signal, environment, directory, output_log): their checks,
 * run by libconfuse at the line being parsed, and their filled form.
 *
 * What can be checked before the program runs is checked here, so that
 * `drover -t` names the file and line: a command that cannot be found or
 * run, a directory that is not one, a variable drover itself sets.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "core/conf.h"
#include "core/conf_int.h"

#define CONF_EXEC_PROCESSES_MAX	CONF_WORKERS_MAX

static const struct {
	const char	*name;
	int		 sig;
} conf_signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "TERM", SIGTERM }, { "WINCH", SIGWINCH },
};

/* The variables drover sets for the program; `environment` may not. */
static const char *const conf_exec_own[] = {
	"LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
	"WATCHDOG_USEC=", "WATCHDOG_PID=", "DROVER_",
};

/* Whether "NAME=value" sets a variable drover sets for the program. */
int
conf_exec_reserved(const char *e)
{
	size_t	 i;

	for (i = 0; i < sizeof(conf_exec_own) / sizeof(conf_exec_own[0]); i++)
		if (strncmp(e, conf_exec_own[i], strlen(conf_exec_own[i])) ==
		    0)
			return (1);
	return (0);
}

/* The keys only an exec server has; an error in any other server. */
static const char *const conf_exec_keys[] = {
	"command", "processes", "ready", "stop_signal", "environment",
	"directory", "output_log",
};

/* stop_signal = TERM | SIGTERM | ...: the number, -1 if unknown. */
static int
conf_signal_parse(const char *s)
{
	size_t	 i;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(conf_signals) / sizeof(conf_signals[0]); i++)
		if (strcmp(s, conf_signals[i].name) == 0)
			return (conf_signals[i].sig);
	return (-1);
}

/* A signal's name without SIG, for the log. */
const char *
conf_signal_name(int sig)
{
	size_t	 i;

	for (i = 0; i < sizeof(conf_signals) / sizeof(conf_signals[0]); i++)
		if (conf_signals[i].sig == sig)
			return (conf_signals[i].name);
	return ("?");
}

/* ready = notify | started | "http:/PATH"; -1 if none of those. */
static int
conf_ready_parse(const char *s, enum exec_ready *r, const char **path)
{
	*path = NULL;
	if (strcmp(s, "notify") == 0)
		*r = EXEC_READY_NOTIFY;
	else if (strcmp(s, "started") == 0)
		*r = EXEC_READY_STARTED;
	else if (strncmp(s, "http:/", 6) == 0 && s[6] != '/' &&
	    strpbrk(s + 5, " \t\r\n") == NULL) {
		*r = EXEC_READY_HTTP;
		*path = s + 5;
	} else
		return (-1);
	return (0);
}

/*
 * The file argv[0] names: with a '/', that path (relative: to the config
 * file's directory); without, the first match in PATH, as execvp() would
 * look. NULL with errno set if there is none that may be executed.
 */
static char *
conf_exec_resolve(const char *conffile, const char *cmd)
{
	const char	*dirs, *end;
	char		*p;
	int		 saved = ENOENT;
	struct stat	 st;

	if (cmd[0] == '\0') {
		errno = ENOENT;
		return (NULL);
	}
	if (strchr(cmd, '/') != NULL) {
		if ((p = conf_path(conffile, cmd)) == NULL)
			return (NULL);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			errno = EISDIR;
		else if (access(p, X_OK) == 0)
			return (p);
		saved = errno;
		free(p);
		errno = saved;
		return (NULL);
	}
	if ((dirs = getenv("PATH")) == NULL || dirs[0] == '\0')
		dirs = "/usr/local/bin:/usr/bin:/bin";
	for (; *dirs != '\0'; dirs = *end ? end + 1 : end) {
		end = strchrnul(dirs, ':');
		if (asprintf(&p, "%.*s/%s", (int)(end - dirs), dirs, cmd) == -1)
			return (NULL);
		if (p[0] == '/' && stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(p, X_OK) == 0)
			return (p);
		if (errno == EACCES)
			saved = EACCES;
		free(p);
	}
	errno = saved;
	return (NULL);
}

static int
conf_check_command(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*cmd;
	char		*p;

	if (cfg_opt_size(opt) == 0) {
		cfg_error(cfg, "command = {}: needs the program and its "
		    "arguments");
		return (-1);
	}
	cmd = cfg_opt_getnstr(opt, 0);
	if ((p = conf_exec_resolve(cfg->filename ? cfg->filename : "",
	    cmd)) == NULL) {
		cfg_error(cfg, "command \"%s\": %s%s", cmd, strerror(errno),
		    strchr(cmd, '/') == NULL ? " (looked in PATH)" : "");
		return (-1);
	}
	free(p);
	return (0);
}

static int
conf_check_processes(cfg_t *cfg, cfg_opt_t *opt)
{
	long	 v = cfg_opt_getnint(opt, 0);

	if (v < 1 || v > CONF_EXEC_PROCESSES_MAX) {
		cfg_error(cfg, "processes = %ld is out of range (1 to %d)", v,
		    CONF_EXEC_PROCESSES_MAX);
		return (-1);
	}
	return (0);
}

static int
conf_check_ready(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0), *path;
	enum exec_ready	 r;

	if (s == NULL || conf_ready_parse(s, &r, &path) == -1) {
		cfg_error(cfg, "ready = \"%s\": expected notify, started or "
		    "\"http:/PATH\"", s ? s : "");
		return (-1);
	}
	return (0);
}

static int
conf_check_stop_signal(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || conf_signal_parse(s) == -1) {
		cfg_error(cfg, "stop_signal = \"%s\": expected one of TERM, "
		    "INT, QUIT, HUP, USR1, USR2, WINCH or KILL", s ? s : "");
		return (-1);
	}
	return (0);
}

static int
conf_check_environment(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s;
	unsigned int	 i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		s = cfg_opt_getnstr(opt, i);
		if (s[0] == '=' || strchr(s, '=') == NULL) {
			cfg_error(cfg, "environment \"%s\": expected "
			    "NAME=VALUE", s);
			return (-1);
		}
		if (conf_exec_reserved(s)) {
			cfg_error(cfg, "environment \"%s\": drover sets %.*s "
			    "itself", s, (int)strcspn(s, "="), s);
			return (-1);
		}
	}
	return (0);
}

/* directory must be one (relative: to the config file's directory). */
static int
conf_check_directory(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);
	struct stat	 st;
	char		*p;
	int		 rc = 0;

	if (s == NULL || s[0] == '\0') {
		cfg_error(cfg, "directory is empty");
		return (-1);
	}
	if ((p = conf_path(cfg->filename ? cfg->filename : "", s)) == NULL)
		return (-1);
	if (stat(p, &st) == -1) {
		cfg_error(cfg, "directory \"%s\": %s", p, strerror(errno));
		rc = -1;
	} else if (!S_ISDIR(st.st_mode)) {
		cfg_error(cfg, "directory \"%s\": not a directory", p);
		rc = -1;
	}
	free(p);
	return (rc);
}

static int
conf_check_output_log(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || s[0] == '\0') {
		cfg_error(cfg, "output_log is empty");
		return (-1);
	}
	if (strcmp(s, "syslog") == 0) {
		cfg_error(cfg, "output_log = syslog: not supported (a file, "
		    "or unset for the error_log)");
		return (-1);
	}
	return (0);
}

/* Attach the checks above to the keys they check. */
void
conf_exec_set_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "server|command", conf_check_command);
	cfg_set_validate_func(cfg, "server|processes", conf_check_processes);
	cfg_set_validate_func(cfg, "server|ready", conf_check_ready);
	cfg_set_validate_func(cfg, "server|stop_signal",
	    conf_check_stop_signal);
	cfg_set_validate_func(cfg, "server|environment",
	    conf_check_environment);
	cfg_set_validate_func(cfg, "server|directory", conf_check_directory);
	cfg_set_validate_func(cfg, "server|output_log",
	    conf_check_output_log);
}

/*
 * A server section just closed: an exec server has a command and no keys
 * of drover's services; any other has none of the exec keys.
 */
int
conf_exec_check_server(cfg_t *cfg, cfg_t *sec, enum protocol p)
{
	size_t		 i;

	if (p != PROTO_EXEC) {
		for (i = 0; i < sizeof(conf_exec_keys) /
		    sizeof(conf_exec_keys[0]); i++) {
			if (cfg_size(sec, conf_exec_keys[i]) > 0) {
				cfg_error(cfg, "server %s: %s applies to "
				    "protocol = exec only", cfg_title(sec),
				    conf_exec_keys[i]);
				return (-1);
			}
		}
		return (0);
	}
	if (cfg_size(sec, "command") == 0) {
		cfg_error(cfg, "server %s: protocol = exec needs a command",
		    cfg_title(sec));
		return (-1);
	}
	return (0);
}

/* A NULL-ended copy of a string list option. */
static char **
conf_exec_strv(cfg_t *sec, const char *name)
{
	char		**v;
	unsigned int	  i, n = cfg_size(sec, name);

	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		if ((v[i] = strdup(cfg_getnstr(sec, name, i))) == NULL) {
			conf_exec_strv_free(v);
			return (NULL);
		}
	}
	return (v);
}

void
conf_exec_strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Fill srv->exec from a checked exec server section. */
int
conf_exec_fill(cfg_t *sec, const char *path, int workers,
    struct server_conf *srv, char *err, size_t errlen)
{
	struct exec_conf	*ec;
	const char		*rp;
	size_t			 len;

	if ((ec = calloc(1, sizeof(*ec))) == NULL)
		goto oom;
	srv->exec = ec;
	ec->processes = cfg_size(sec, "processes") > 0 ?
	    (int)cfg_getint(sec, "processes") : workers;
	ec->ready = EXEC_READY_STARTED;
	if (cfg_size(sec, "ready") > 0) {
		(void)conf_ready_parse(cfg_getstr(sec, "ready"), &ec->ready,
		    &rp);
		if (rp != NULL && (ec->ready_path = strdup(rp)) == NULL)
			goto oom;
	}
	ec->stop_signal = cfg_size(sec, "stop_signal") > 0 ?
	    conf_signal_parse(cfg_getstr(sec, "stop_signal")) : SIGTERM;
	if ((ec->argv = conf_exec_strv(sec, "command")) == NULL ||
	    (ec->env = conf_exec_strv(sec, "environment")) == NULL)
		goto oom;
	if ((ec->path = conf_exec_resolve(path, ec->argv[0])) == NULL) {
		/* Checked while parsing: it went away since. */
		snprintf(err, errlen, "%s: server %s: command \"%s\": %s",
		    path, srv->name, ec->argv[0], strerror(errno));
		return (-1);
	}
	ec->directory = conf_path(path, cfg_size(sec, "directory") > 0 ?
	    cfg_getstr(sec, "directory") : "/");
	if (ec->directory == NULL)
		goto oom;
	len = strlen(ec->directory);
	if (len > 2 && strcmp(ec->directory + len - 2, "/.") == 0)
		ec->directory[len - 2] = '\0';	/* "." in the file */
	if (cfg_size(sec, "output_log") > 0 && (ec->output_log =
	    conf_path(path, cfg_getstr(sec, "output_log"))) == NULL)
		goto oom;
	return (0);
oom:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

void
conf_exec_free(struct exec_conf *ec)
{
	if (ec == NULL)
		return;
	conf_exec_strv_free(ec->argv);
	conf_exec_strv_free(ec->env);
	free(ec->path);
	free(ec->ready_path);
	free(ec->directory);
	free(ec->output_log);
	free(ec);
}
