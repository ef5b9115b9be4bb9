/*
 * conf.c: read the configuration file with libconfuse into struct config.
 *
 * Every error names the file and line. The option tables are here; the
 * checks that libconfuse runs on them while parsing are in conf_check.c.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "core/conf.h"
#include "core/conf_int.h"
#include "core/log.h"

#define CONF_DEFAULT_BACKLOG		511
#define CONF_DEFAULT_IDLE		60
#define CONF_DEFAULT_SHUTDOWN		30
#define CONF_DEFAULT_READY		10
#define CONF_DEFAULT_HANG		30
#define CONF_FILE_MAX			(16 * 1024 * 1024)
#define CONF_DEFAULT_MAXCONN		10000
#define CONF_DEFAULT_HEADER_TIMEOUT	10
#define CONF_DEFAULT_KEEPALIVE	75
#define CONF_DEFAULT_SEND_TIMEOUT	60
#define CONF_DEFAULT_BODY_TIMEOUT	60
#define CONF_DEFAULT_REQUEST_LINE	8192
#define CONF_DEFAULT_HEADER_SIZE	16384
#define CONF_DEFAULT_MAX_HEADERS	100
#define CONF_DEFAULT_MAX_BODY		(1024 * 1024)

/* libconfuse's error callback has no user pointer: parsing is serial. */
static char	*conf_errbuf;
static size_t	 conf_errlen;
static const char *conf_errpath;
static int	 conf_nerrors;

static void
conf_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 n;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (conf_nerrors++ > 0 || conf_errbuf == NULL)
		return;		/* the first error is the one that matters */
	/* Our name for the file: cfg_parse_buf calls it "[buf]". */
	if (cfg != NULL && cfg->line > 0)
		n = snprintf(conf_errbuf, conf_errlen, "%s:%d: %s",
		    conf_errpath, cfg->line, msg);
	else
		n = snprintf(conf_errbuf, conf_errlen, "%s: %s",
		    conf_errpath, msg);
	(void)n;
}

static cfg_opt_t location_opts[] = {
	CFG_STR("return", NULL, CFGF_NODEFAULT),
	CFG_STR("root", NULL, CFGF_NODEFAULT),
	CFG_STR("index", "index.html", CFGF_NONE),
	CFG_BOOL("follow_symlinks", cfg_false, CFGF_NONE),
	CFG_STR("stats", NULL, CFGF_NODEFAULT),
	CFG_BOOL("echo_body", cfg_false, CFGF_NODEFAULT),
	CFG_FLOAT("delay", 0, CFGF_NODEFAULT),
	CFG_STR("proxy", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t upstream_opts[] = {
	CFG_STR_LIST("servers", NULL, CFGF_NODEFAULT),
	CFG_STR("balance", "round_robin", CFGF_NONE),
	CFG_INT("keepalive", 32, CFGF_NONE),
	CFG_INT("connect_timeout", 5, CFGF_NONE),
	CFG_INT("read_timeout", 60, CFGF_NONE),
	CFG_INT("send_timeout", 60, CFGF_NONE),
	CFG_INT("max_fails", 3, CFGF_NONE),
	CFG_INT("fail_timeout", 10, CFGF_NONE),
	CFG_STR("health_check", NULL, CFGF_NODEFAULT),
	CFG_INT("health_interval", 2, CFGF_NONE),
	CFG_INT("retry_wait", 10, CFGF_NONE),
	CFG_STR("source", NULL, CFGF_NODEFAULT),
	CFG_STR("proxy_protocol", "off", CFGF_NONE),
	CFG_END()
};

/* Protocol-specific keys have no libconfuse default, so that setting one
 * in a server of another protocol can be told apart and refused. */
static cfg_opt_t server_opts[] = {
	CFG_STR_LIST("listen", NULL, CFGF_NODEFAULT),
	CFG_STR("protocol", NULL, CFGF_NODEFAULT),
	CFG_INT("backlog", CONF_DEFAULT_BACKLOG, CFGF_NONE),
	CFG_BOOL("defer_accept", cfg_false, CFGF_NONE),
	CFG_INT("max_connections", CONF_DEFAULT_MAXCONN, CFGF_NONE),
	CFG_INT("idle_timeout", 0, CFGF_NODEFAULT),
	CFG_INT("header_timeout", 0, CFGF_NODEFAULT),
	CFG_INT("keepalive_timeout", 0, CFGF_NODEFAULT),
	CFG_INT("send_timeout", 0, CFGF_NODEFAULT),
	CFG_INT("body_timeout", 0, CFGF_NODEFAULT),
	CFG_INT("max_request_line", 0, CFGF_NODEFAULT),
	CFG_INT("max_header_size", 0, CFGF_NODEFAULT),
	CFG_INT("max_headers", 0, CFGF_NODEFAULT),
	CFG_INT("max_body_size", 0, CFGF_NODEFAULT),
	CFG_STR("access_log", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST("command", NULL, CFGF_NODEFAULT),
	CFG_INT("processes", 0, CFGF_NODEFAULT),
	CFG_STR("ready", NULL, CFGF_NODEFAULT),
	CFG_STR("stop_signal", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST("environment", NULL, CFGF_NODEFAULT),
	CFG_STR("directory", NULL, CFGF_NODEFAULT),
	CFG_STR("output_log", NULL, CFGF_NODEFAULT),
	CFG_STR("upstream", NULL, CFGF_NODEFAULT),
	CFG_BOOL("proxy_protocol", cfg_false, CFGF_NODEFAULT),
	CFG_INT("udp_responses", 0, CFGF_NODEFAULT),
	CFG_SEC("location", location_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

static cfg_opt_t root_opts[] = {
	CFG_STR("workers", "auto", CFGF_NONE),
	CFG_BOOL("daemon", cfg_true, CFGF_NONE),
	CFG_STR("pid_file", NULL, CFGF_NODEFAULT),
	CFG_STR("ports_file", NULL, CFGF_NODEFAULT),
	CFG_STR("control_socket", NULL, CFGF_NODEFAULT),
	CFG_STR("error_log", "stderr", CFGF_NONE),
	CFG_STR("log_level", "info", CFGF_NONE),
	CFG_STR("user", NULL, CFGF_NODEFAULT),
	CFG_STR("group", NULL, CFGF_NODEFAULT),
	CFG_INT("shutdown_timeout", CONF_DEFAULT_SHUTDOWN, CFGF_NONE),
	CFG_INT("ready_timeout", CONF_DEFAULT_READY, CFGF_NONE),
	CFG_INT("worker_hang_timeout", CONF_DEFAULT_HANG, CFGF_NONE),
	CFG_INT("rlimit_nofile", 0, CFGF_NONE),
	CFG_STR("mime_types", "/etc/mime.types", CFGF_NONE),
	CFG_SEC("upstream", upstream_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("server", server_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/* Number of online CPUs, at least 1. */
int
conf_online_cpus(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return (1);
	if (n > CONF_WORKERS_MAX)
		return (CONF_WORKERS_MAX);
	return ((int)n);
}

/* A relative path in the file is relative to the file's directory. */
char *
conf_path(const char *conffile, const char *value)
{
	const char	*slash;
	char		*out;
	int		 dirlen;

	if (value == NULL)
		return (NULL);
	if (value[0] == '/' || strcmp(value, "stderr") == 0 ||
	    strcmp(value, "syslog") == 0)
		return (strdup(value));
	slash = strrchr(conffile, '/');
	if (slash == NULL)
		return (strdup(value));
	dirlen = (int)(slash - conffile);
	if (asprintf(&out, "%.*s/%s", dirlen, conffile, value) == -1)
		return (NULL);
	return (out);
}

/* The control socket's default: beside the pid file, PIDFILE.pid -> .sock. */
char *
conf_control_default(const char *pid_file)
{
	size_t	 n;
	char	*out;

	if (pid_file == NULL)
		return (NULL);
	n = strlen(pid_file);
	if (n > 4 && strcmp(pid_file + n - 4, ".pid") == 0)
		n -= 4;
	if (asprintf(&out, "%.*s.sock", (int)n, pid_file) == -1)
		return (NULL);
	return (out);
}

static char *
conf_strdup_opt(cfg_t *cfg, const char *name)
{
	const char	*s;

	if (cfg_size(cfg, name) == 0 || (s = cfg_getstr(cfg, name)) == NULL)
		return (NULL);
	return (strdup(s));
}

static long
conf_int_or(cfg_t *sec, const char *name, long def)
{
	return (cfg_size(sec, name) > 0 ? cfg_getint(sec, name) : def);
}

/* Longest prefix first, so the first match is the one that wins. */
static int
conf_location_cmp(const void *a, const void *b)
{
	const struct location_conf	*la = a, *lb = b;

	if (la->prefix_len != lb->prefix_len)
		return (la->prefix_len > lb->prefix_len ? -1 : 1);
	return (strcmp(la->prefix, lb->prefix));
}

static int
conf_fill_locations(cfg_t *sec, const char *path, struct config *conf,
    struct server_conf *srv, char *err, size_t errlen)
{
	struct location_conf	*lc;
	cfg_t			*loc;
	const char		*text;
	size_t			 i, len;

	srv->nlocations = cfg_size(sec, "location");
	if (srv->nlocations == 0)
		return (0);
	srv->locations = calloc(srv->nlocations, sizeof(*srv->locations));
	if (srv->locations == NULL)
		goto oom;
	for (i = 0; i < srv->nlocations; i++) {
		loc = cfg_getnsec(sec, "location", i);
		lc = &srv->locations[i];
		if ((lc->prefix = strdup(cfg_title(loc))) == NULL)
			goto oom;
		lc->prefix_len = strlen(lc->prefix);
		lc->index = strdup(cfg_getstr(loc, "index"));
		lc->follow_symlinks = cfg_getbool(loc, "follow_symlinks");
		if (lc->index == NULL)
			goto oom;
		if (cfg_size(loc, "return") > 0) {
			lc->handler = LOC_RETURN;
			(void)conf_parse_return(cfg_getstr(loc, "return"),
			    &lc->status, &text);
			if ((lc->text = strdup(text)) == NULL)
				goto oom;
			lc->text_len = strlen(text);
		} else if (cfg_size(loc, "root") > 0) {
			lc->handler = LOC_ROOT;
			if ((lc->root = conf_path(path, cfg_getstr(loc,
			    "root"))) == NULL)
				goto oom;
			len = strlen(lc->root);
			while (len > 1 && lc->root[len - 1] == '/')
				lc->root[--len] = '\0';
		} else if (cfg_size(loc, "stats") > 0) {
			lc->handler = LOC_STATS;
			(void)conf_stats_parse(cfg_getstr(loc, "stats"),
			    &lc->stats);
		} else if (cfg_size(loc, "proxy") > 0) {
			lc->handler = LOC_PROXY;
			if (conf_upstream_link_location(loc, path, conf, lc,
			    err, errlen) == -1)
				return (-1);
		} else
			lc->handler = LOC_ECHO_BODY;
		if (cfg_size(loc, "delay") > 0)
			lc->delay_ms = (int)(cfg_getfloat(loc, "delay") * 1000 +
			    0.5);
	}
	qsort(srv->locations, srv->nlocations, sizeof(*srv->locations),
	    conf_location_cmp);
	return (0);
oom:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

static int
conf_fill_server(cfg_t *sec, const char *path, struct config *conf,
    struct server_conf *srv, char *err, size_t errlen)
{
	unsigned int	 i;

	snprintf(srv->name, sizeof(srv->name), "%s", cfg_title(sec));
	(void)conf_protocol_parse(cfg_getstr(sec, "protocol"),
	    &srv->protocol);
	srv->backlog = (int)cfg_getint(sec, "backlog");
	srv->defer_accept = cfg_getbool(sec, "defer_accept");
	srv->max_connections = (int)cfg_getint(sec, "max_connections");
	srv->idle_timeout = (int)conf_int_or(sec, "idle_timeout",
	    CONF_DEFAULT_IDLE);
	srv->header_timeout = (int)conf_int_or(sec, "header_timeout",
	    CONF_DEFAULT_HEADER_TIMEOUT);
	srv->keepalive_timeout = (int)conf_int_or(sec, "keepalive_timeout",
	    CONF_DEFAULT_KEEPALIVE);
	srv->body_timeout = (int)conf_int_or(sec, "body_timeout",
	    CONF_DEFAULT_BODY_TIMEOUT);
	srv->send_timeout = (int)conf_int_or(sec, "send_timeout",
	    CONF_DEFAULT_SEND_TIMEOUT);
	srv->max_request_line = (unsigned)conf_int_or(sec,
	    "max_request_line", CONF_DEFAULT_REQUEST_LINE);
	srv->max_header_size = (unsigned)conf_int_or(sec, "max_header_size",
	    CONF_DEFAULT_HEADER_SIZE);
	if (srv->max_request_line > srv->max_header_size)
		srv->max_request_line = srv->max_header_size;
	srv->max_headers = (unsigned)conf_int_or(sec, "max_headers",
	    CONF_DEFAULT_MAX_HEADERS);
	srv->max_body_size = (uint64_t)conf_int_or(sec, "max_body_size",
	    CONF_DEFAULT_MAX_BODY);
	if (cfg_size(sec, "access_log") > 0 &&
	    strcmp(cfg_getstr(sec, "access_log"), "off") != 0)
		srv->access_log = conf_path(path, cfg_getstr(sec,
		    "access_log"));
	srv->access_log_fd = -1;
	if (conf_fill_locations(sec, path, conf, srv, err, errlen) == -1 ||
	    conf_upstream_link_server(sec, path, conf, srv, err, errlen) == -1)
		return (-1);
	if (srv->protocol == PROTO_EXEC &&
	    conf_exec_fill(sec, path, conf->workers, srv, err, errlen) == -1)
		return (-1);
	srv->nlistens = cfg_size(sec, "listen");
	srv->listens = calloc(srv->nlistens, sizeof(*srv->listens));
	if (srv->listens == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < srv->nlistens; i++) {
		if (addr_parse(cfg_getnstr(sec, "listen", i),
		    &srv->listens[i].addr, err, errlen) == -1)
			return (-1);
		addr_format(&srv->listens[i].addr, srv->listens[i].text,
		    sizeof(srv->listens[i].text));
		srv->listens[i].inherit_fd = -1;
	}
	return (0);
}

static int
conf_fill(cfg_t *cfg, const char *path, struct config *conf, char *err,
    size_t errlen)
{
	unsigned int	 i;

	conf->path = strdup(path);
	(void)conf_parse_workers(cfg_getstr(cfg, "workers"), &conf->workers);
	conf->workers_auto = conf->workers == 0;
	if (conf->workers_auto)
		conf->workers = conf_online_cpus();
	conf->daemon = cfg_getbool(cfg, "daemon") == cfg_true;
	conf->pid_file = conf_path(path, cfg_size(cfg, "pid_file") ?
	    cfg_getstr(cfg, "pid_file") : NULL);
	conf->ports_file = conf_path(path, cfg_size(cfg, "ports_file") ?
	    cfg_getstr(cfg, "ports_file") : NULL);
	conf->control_socket = cfg_size(cfg, "control_socket") ?
	    conf_path(path, cfg_getstr(cfg, "control_socket")) :
	    conf_control_default(conf->pid_file);
	conf->error_log = conf_path(path, cfg_getstr(cfg, "error_log"));
	(void)log_level_parse(cfg_getstr(cfg, "log_level"), &conf->log_level);
	conf->user = conf_strdup_opt(cfg, "user");
	conf->group = conf_strdup_opt(cfg, "group");
	conf->shutdown_timeout = (int)cfg_getint(cfg, "shutdown_timeout");
	conf->ready_timeout = (int)cfg_getint(cfg, "ready_timeout");
	conf->worker_hang_timeout = (int)cfg_getint(cfg,
	    "worker_hang_timeout");
	conf->rlimit_nofile = cfg_getint(cfg, "rlimit_nofile");
	conf->mime_types = conf_path(path, cfg_getstr(cfg, "mime_types"));
	if (conf->path == NULL || conf->error_log == NULL ||
	    conf->mime_types == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}

	if (conf_upstream_fill(cfg, conf, err, errlen) == -1)
		return (-1);
	conf->nservers = cfg_size(cfg, "server");
	if (conf->nservers == 0) {
		snprintf(err, errlen, "%s: no server section: nothing to "
		    "serve", path);
		return (-1);
	}
	conf->servers = calloc(conf->nservers, sizeof(*conf->servers));
	if (conf->servers == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < conf->nservers; i++) {
		conf->servers[i].mime_types = conf->mime_types;
		if (conf_fill_server(cfg_getnsec(cfg, "server", i), path,
		    conf, &conf->servers[i], err, errlen) == -1)
			return (-1);
		if (conf->servers[i].protocol != PROTO_EXEC)
			conf->nworker_servers++;
	}
	return (0);
}

/*
 * Read a whole (small) file into a NUL-terminated buffer. The master reads
 * it on reload from its event loop: a FIFO or a device at the path would
 * block it in open() or read(), so the file is opened without blocking and
 * anything but a regular file is refused.
 */
static char *
conf_read_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: cannot stat: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	for (;;) {
		if (cap - len < 4097) {
			cap = cap ? cap * 2 : 8192;
			if (cap > CONF_FILE_MAX) {
				snprintf(err, errlen, "%s: larger than %d bytes",
				    path, CONF_FILE_MAX);
				goto fail;
			}
			if ((buf = realloc(buf, cap)) == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
fail:
	free(buf);
	close(fd);
	return (NULL);
}

/*
 * Turn comments (#, // and C-style) into spaces, keeping every newline.
 * libconfuse 3.3 counts each line of a comment twice, which would put
 * wrong line numbers in error messages; without comments it counts right.
 * Quoted strings are left alone. Returns the line where a C-style comment
 * opens that is never closed (it would hide the rest of the file), else 0.
 */
static int
conf_blank_comments(char *p)
{
	char	 quote = 0;
	int	 line = 1, open_line;

	for (; *p != '\0'; p++) {
		if (*p == '\n')
			line++;
		if (quote) {
			if (*p == '\\' && quote == '"' && p[1] != '\0') {
				if (*++p == '\n')
					line++;
			} else if (*p == quote)
				quote = 0;
			continue;
		}
		if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '#' || (*p == '/' && p[1] == '/')) {
			for (; *p != '\0' && *p != '\n'; p++)
				*p = ' ';
			if (*p == '\0')
				break;
			line++;
		} else if (*p == '/' && p[1] == '*') {
			open_line = line;
			*p++ = ' ';
			*p = ' ';
			for (p++; *p != '\0' && !(*p == '*' && p[1] == '/');
			    p++) {
				if (*p != '\n')
					*p = ' ';
				else
					line++;
			}
			if (*p == '\0')
				return (open_line);
			*p++ = ' ';
			*p = ' ';
		}
	}
	return (0);
}

/* The line of the first NUL byte in text[0..len), or 0 if there is none. */
static int
conf_nul_line(const char *text, size_t len)
{
	const char	*nul, *p;
	int		 line = 1;

	if ((nul = memchr(text, '\0', len)) == NULL)
		return (0);
	for (p = text; p < nul; p++)
		line += *p == '\n';
	return (line);
}

/* A token of the configuration syntax, as conf_check_repeats sees it. */
struct conf_tok {
	const char	*p;
	size_t		 len;
	int		 line;
	int		 punct;		/* one of {}=,+(), or 0 for a word */
};

/* The next token of comment-free text at *pp; 0 at the end. */
static int
conf_next_tok(const char **pp, int *line, struct conf_tok *t)
{
	const char	*p = *pp;
	char		 q;

	for (; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
		*line += *p == '\n';
	if (*p == '\0')
		return (0);
	t->p = p;
	t->line = *line;
	t->punct = 0;
	if (strchr("{}=,+()", *p) != NULL) {
		t->punct = *p++;
	} else if (*p == '"' || *p == '\'') {
		for (q = *p++; *p != '\0' && *p != q; p++) {
			if (*p == '\\' && q == '"' && p[1] != '\0')
				p++;
			*line += *p == '\n';
		}
		if (*p == q)
			p++;
	} else {
		while (*p != '\0' && strchr(" \t\r\n{}=,+()\"'", *p) == NULL)
			p++;
	}
	t->len = (size_t)(p - t->p);
	*pp = p;
	return (1);
}

#define CONF_KEYS_MAX	1024

/*
 * libconfuse keeps the last of two settings of a key without a word. Find
 * a key set twice with "=" in one section ("+=" appends to a list, and
 * sections repeat by design). Syntax errors are libconfuse's to report:
 * on anything unexpected this gives up quietly.
 */
static int
conf_check_repeats(const char *text, const char *path, char *err,
    size_t errlen)
{
	struct conf_tok	 keys[CONF_KEYS_MAX], name, t;
	int		 depth[CONF_KEYS_MAX];
	const char	*p = text;
	int		 line = 1, level = 0, n = 0, i, append;

	while (conf_next_tok(&p, &line, &name)) {
		if (name.punct == '}') {
			if (--level < 0)
				return (0);
			while (n > 0 && depth[n - 1] > level)
				n--;
			continue;
		}
		if (name.punct != 0 || !conf_next_tok(&p, &line, &t))
			return (0);
		if (t.punct != '=' && t.punct != '+') {
			/* A section, with or without a title, or a call. */
			if (t.punct == 0 && !conf_next_tok(&p, &line, &t))
				return (0);
			if (t.punct == '{')
				level++;
			else if (t.punct == '(') {
				while (conf_next_tok(&p, &line, &t) &&
				    t.punct != ')')
					;
			} else
				return (0);
			continue;
		}
		append = t.punct == '+';
		if (append && (!conf_next_tok(&p, &line, &t) || t.punct != '='))
			return (0);
		if (!conf_next_tok(&p, &line, &t))
			return (0);
		if (t.punct == '{') {
			while (conf_next_tok(&p, &line, &t) && t.punct != '}')
				;
		}
		for (i = n - 1; i >= 0 && depth[i] == level; i--) {
			if (append || keys[i].len != name.len ||
			    memcmp(keys[i].p, name.p, name.len) != 0)
				continue;
			snprintf(err, errlen, "%s:%d: %.*s is set twice (first "
			    "on line %d)", path, name.line, (int)name.len,
			    name.p, keys[i].line);
			return (-1);
		}
		if (n < CONF_KEYS_MAX) {
			keys[n] = name;
			depth[n++] = level;
		}
	}
	return (0);
}

/*
 * Parse text held in memory, through a FILE so that libconfuse does not
 * replace our file name with "[buf]" as cfg_parse_buf does.
 */
static int
conf_parse_text(cfg_t *cfg, const char *text)
{
	FILE	*fp;
	int	 rc;

	if ((fp = fmemopen((void *)(uintptr_t)text, strlen(text), "r")) ==
	    NULL)
		return (CFG_FILE_ERROR);
	rc = cfg_parse_fp(cfg, fp);
	fclose(fp);
	return (rc);
}

/* Errors of the probe parse below: kept, not reported. */
static int	 conf_probe_line;
static char	 conf_probe_msg[256];

static void
conf_probe_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	if (conf_probe_line != 0)
		return;
	conf_probe_line = cfg != NULL && cfg->line > 0 ? cfg->line : -1;
	(void)vsnprintf(conf_probe_msg, sizeof(conf_probe_msg), fmt, ap);
}

/*
 * libconfuse accepts end of file inside an open section. Parse the text
 * again with one more closing brace: a balanced file fails exactly there.
 */
static int
conf_check_closed(const char *text, const char *path, char *err,
    size_t errlen)
{
	cfg_t	*probe;
	char	*buf;
	int	 lines = 1, rc;
	size_t	 len = strlen(text), i;

	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (asprintf(&buf, "%s\n}\n", text) == -1) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if ((probe = cfg_init(root_opts, CFGF_NONE)) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	cfg_set_error_function(probe, conf_probe_errfunc);
	conf_probe_line = 0;
	probe->line = 1;
	rc = conf_parse_text(probe, buf);
	cfg_free(probe);
	free(buf);
	if (rc != CFG_SUCCESS && conf_probe_line == lines + 1 &&
	    strstr(conf_probe_msg, "closing brace") != NULL)
		return (0);
	snprintf(err, errlen, "%s:%d: unexpected end of file: a section is "
	    "not closed with '}'", path, lines);
	return (-1);
}

/*
 * Read and check a configuration file. Returns NULL with err set to
 * "FILE:LINE: what is wrong" on any error.
 */
struct config *
conf_load(const char *path, char *err, size_t errlen)
{
	struct config	*conf;
	cfg_t		*cfg;
	char		*text;
	size_t		 len;
	int		 rc, line;

	err[0] = '\0';
	if ((text = conf_read_file(path, &len, err, errlen)) == NULL)
		return (NULL);
	/* libconfuse would stop at a NUL and take the rest for missing. */
	if ((line = conf_nul_line(text, len)) != 0) {
		snprintf(err, errlen, "%s:%d: a NUL byte: not a text file", path,
		    line);
		free(text);
		return (NULL);
	}
	if ((line = conf_blank_comments(text)) != 0) {
		snprintf(err, errlen, "%s:%d: the /* comment opened here is not "
		    "closed", path, line);
		free(text);
		return (NULL);
	}
	if ((cfg = cfg_init(root_opts, CFGF_NONE)) == NULL) {
		free(text);
		snprintf(err, errlen, "%s: cannot initialise the parser",
		    path);
		return (NULL);
	}
	cfg_set_error_function(cfg, conf_errfunc);
	conf_set_validators(cfg);
	conf_errbuf = err;
	conf_errlen = errlen;
	conf_errpath = path;
	conf_nerrors = 0;
	/* cfg_parse_buf leaves the file name unset: give it one for errors. */
	free(cfg->filename);
	cfg->filename = strdup(path);
	cfg->line = 1;
	rc = conf_parse_text(cfg, text);
	conf_errbuf = NULL;
	if (rc != CFG_SUCCESS) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: cannot parse", path);
		cfg_free(cfg);
		free(text);
		return (NULL);
	}
	rc = conf_check_closed(text, path, err, errlen);
	if (rc == 0)
		rc = conf_check_repeats(text, path, err, errlen);
	free(text);
	if (rc == -1) {
		cfg_free(cfg);
		return (NULL);
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL) {
		cfg_free(cfg);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	rc = conf_fill(cfg, path, conf, err, errlen);
	cfg_free(cfg);
	if (rc == -1) {
		conf_free(conf);
		return (NULL);
	}
	return (conf);
}

void
conf_free(struct config *conf)
{
	struct server_conf	*sc;
	size_t			 i, j;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->nservers; i++) {
		sc = &conf->servers[i];
		for (j = 0; j < sc->nlocations; j++) {
			free(sc->locations[j].prefix);
			free(sc->locations[j].text);
			free(sc->locations[j].root);
			free(sc->locations[j].index);
		}
		free(sc->locations);
		free(sc->access_log);
		conf_exec_free(sc->exec);
		for (j = 0; j < sc->nlistens; j++)
			free(sc->listens[j].adopt_fds);
		free(sc->listens);
	}
	free(conf->servers);
	conf_upstream_free(conf);
	free(conf->path);
	free(conf->pid_file);
	free(conf->ports_file);
	free(conf->control_socket);
	free(conf->error_log);
	free(conf->user);
	free(conf->group);
	free(conf->mime_types);
	free(conf);
}
