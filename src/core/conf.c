/*
 * conf.c: read and check the configuration file with libconfuse.
 *
 * Every error names the file and line. Checks that need a value run as
 * libconfuse validation callbacks so they are reported at the line being
 * parsed; checks across sections run when a server section closes.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "core/conf.h"
#include "core/log.h"

#define CONF_DEFAULT_BACKLOG		511
#define CONF_DEFAULT_IDLE		60
#define CONF_DEFAULT_SHUTDOWN		30
#define CONF_DEFAULT_READY		10
#define CONF_FILE_MAX			(16 * 1024 * 1024)
#define CONF_DEFAULT_MAXCONN		10000
#define CONF_DEFAULT_HEADER_TIMEOUT	10
#define CONF_DEFAULT_KEEPALIVE	75
#define CONF_DEFAULT_SEND_TIMEOUT	60
#define CONF_DEFAULT_REQUEST_LINE	8192
#define CONF_DEFAULT_HEADER_SIZE	16384
#define CONF_DEFAULT_MAX_HEADERS	100
#define CONF_DEFAULT_MAX_BODY		(1024 * 1024)
#define CONF_MAX_BODY_LIMIT		(1LL << 40)
#define CONF_DELAY_MAX			3600

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

static int
conf_int_range(cfg_t *cfg, cfg_opt_t *opt, long lo, long hi)
{
	unsigned int	 i;
	long		 v;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		v = cfg_opt_getnint(opt, i);
		if (v < lo || v > hi) {
			cfg_error(cfg, "%s = %ld is out of range (%ld to %ld)",
			    cfg_opt_name(opt), v, lo, hi);
			return (-1);
		}
	}
	return (0);
}

#define RANGE_VALIDATOR(fn, lo, hi)				\
static int							\
fn(cfg_t *cfg, cfg_opt_t *opt)					\
{								\
	return (conf_int_range(cfg, opt, lo, hi));		\
}

RANGE_VALIDATOR(conf_check_timeout, 1, 86400)
RANGE_VALIDATOR(conf_check_ready, 1, 3600)
RANGE_VALIDATOR(conf_check_nofile, 0, 1048576)
RANGE_VALIDATOR(conf_check_backlog, 1, 65535)
RANGE_VALIDATOR(conf_check_maxconn, 1, 1000000)
RANGE_VALIDATOR(conf_check_request_line, 64, 65536)
RANGE_VALIDATOR(conf_check_header_size, 256, 1048576)
RANGE_VALIDATOR(conf_check_max_headers, 1, 256)
RANGE_VALIDATOR(conf_check_max_body, 0, CONF_MAX_BODY_LIMIT)

static int
conf_parse_workers(const char *s, int *out)
{
	char	*end;
	long	 v;

	if (strcmp(s, "auto") == 0) {
		*out = 0;
		return (0);
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 ||
	    v > CONF_WORKERS_MAX)
		return (-1);
	*out = (int)v;
	return (0);
}

static int
conf_check_workers(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);
	int		 n;

	if (s == NULL || conf_parse_workers(s, &n) == -1) {
		cfg_error(cfg, "workers = \"%s\": expected auto or a number "
		    "from 1 to %d", s ? s : "", CONF_WORKERS_MAX);
		return (-1);
	}
	return (0);
}

static int
conf_check_log_level(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);
	enum log_level	 l;

	if (s == NULL || log_level_parse(s, &l) == -1) {
		cfg_error(cfg, "log_level = \"%s\": expected error, warn, "
		    "notice, info or debug", s ? s : "");
		return (-1);
	}
	return (0);
}

static int
conf_check_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || *s == '\0') {
		cfg_error(cfg, "%s must not be empty", cfg_opt_name(opt));
		return (-1);
	}
	return (0);
}

static int
conf_protocol_parse(const char *s, enum protocol *p)
{
	if (strcmp(s, "echo") == 0) {
		*p = PROTO_ECHO;
		return (0);
	}
	if (strcmp(s, "http") == 0) {
		*p = PROTO_HTTP;
		return (0);
	}
	return (-1);
}

const char *
conf_protocol_name(enum protocol p)
{
	switch (p) {
	case PROTO_ECHO:
		return ("echo");
	case PROTO_HTTP:
		return ("http");
	}
	return ("unknown");
}

static int
conf_check_protocol(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);
	enum protocol	 p;

	if (s == NULL || conf_protocol_parse(s, &p) == -1) {
		cfg_error(cfg, "protocol = \"%s\": unknown protocol "
		    "(known: echo, http)", s ? s : "");
		return (-1);
	}
	return (0);
}

static int
conf_check_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	struct addr	 a, b;
	char		 err[256];
	unsigned int	 i, j;

	if (cfg_opt_size(opt) == 0) {
		cfg_error(cfg, "listen: the list is empty");
		return (-1);
	}
	for (i = 0; i < cfg_opt_size(opt); i++) {
		if (addr_parse(cfg_opt_getnstr(opt, i), &a, err,
		    sizeof(err)) == -1) {
			cfg_error(cfg, "listen: %s", err);
			return (-1);
		}
		for (j = 0; j < i; j++) {
			(void)addr_parse(cfg_opt_getnstr(opt, j), &b, err,
			    sizeof(err));
			if (addr_equal(&a, &b)) {
				cfg_error(cfg, "listen: \"%s\" is listed twice",
				    cfg_opt_getnstr(opt, i));
				return (-1);
			}
		}
	}
	return (0);
}

static int
conf_check_name(const char *name)
{
	const char	*p;

	if (name == NULL || *name == '\0' ||
	    strlen(name) >= CONF_NAME_MAX)
		return (-1);
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			return (-1);
	}
	return (0);
}

/* Parse return = "STATUS [TEXT]"; -1 if the status is not 100 to 599. */
static int
conf_parse_return(const char *s, int *status, const char **text)
{
	char	*end;
	long	 v;

	v = strtol(s, &end, 10);
	if (end == s || v < 100 || v > 599 || (*end != '\0' && *end != ' '))
		return (-1);
	*status = (int)v;
	*text = *end == ' ' ? end + 1 : end;
	return (0);
}

static int
conf_stats_parse(const char *s, enum stats_format *f)
{
	if (strcmp(s, "json") == 0)
		*f = STATS_FORMAT_JSON;
	else if (strcmp(s, "prometheus") == 0)
		*f = STATS_FORMAT_PROMETHEUS;
	else
		return (-1);
	return (0);
}

static char	*conf_path(const char *, const char *);

/* root must name a directory (relative: to the config file's directory). */
static int
conf_check_root(cfg_t *cfg, const char *title, const char *root)
{
	struct stat	 st;
	char		*p;
	int		 rc = 0;

	if (root[0] == '\0') {
		cfg_error(cfg, "location %s: root is empty", title);
		return (-1);
	}
	if ((p = conf_path(cfg->filename ? cfg->filename : "", root)) ==
	    NULL)
		return (-1);
	if (stat(p, &st) == -1) {
		cfg_error(cfg, "location %s: root \"%s\": %s", title, p,
		    strerror(errno));
		rc = -1;
	} else if (!S_ISDIR(st.st_mode)) {
		cfg_error(cfg, "location %s: root \"%s\": not a directory",
		    title, p);
		rc = -1;
	}
	free(p);
	return (rc);
}

/* A location section just closed: one handler, and a usable one. */
static int
conf_check_location(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t		*loc = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char	*title = cfg_title(loc), *text;
	enum stats_format f;
	int		 n = 0, status;

	if (title == NULL || title[0] != '/') {
		cfg_error(cfg, "location \"%s\": a prefix starts with '/'",
		    title ? title : "");
		return (-1);
	}
	n = (cfg_size(loc, "return") > 0) + (cfg_size(loc, "root") > 0) +
	    (cfg_size(loc, "stats") > 0) + (cfg_size(loc, "echo_body") > 0 &&
	    cfg_getbool(loc, "echo_body"));
	if (n != 1) {
		cfg_error(cfg, "location %s: needs exactly one of return, root, "
		    "stats or echo_body (has %d)", title, n);
		return (-1);
	}
	if (cfg_size(loc, "delay") > 0 && (cfg_getfloat(loc, "delay") < 0 ||
	    cfg_getfloat(loc, "delay") > CONF_DELAY_MAX)) {
		cfg_error(cfg, "location %s: delay = %g is out of range (0 to "
		    "%d seconds)", title, cfg_getfloat(loc, "delay"),
		    CONF_DELAY_MAX);
		return (-1);
	}
	if (cfg_size(loc, "return") > 0 && conf_parse_return(
	    cfg_getstr(loc, "return"), &status, &text) == -1) {
		cfg_error(cfg, "location %s: return = \"%s\": expected "
		    "\"STATUS [TEXT]\" with a status from 100 to 599", title,
		    cfg_getstr(loc, "return"));
		return (-1);
	}
	if (cfg_size(loc, "root") > 0 &&
	    conf_check_root(cfg, title, cfg_getstr(loc, "root")) == -1)
		return (-1);
	if (cfg_size(loc, "stats") > 0 &&
	    conf_stats_parse(cfg_getstr(loc, "stats"), &f) == -1) {
		cfg_error(cfg, "location %s: stats = \"%s\": expected json or "
		    "prometheus", title, cfg_getstr(loc, "stats"));
		return (-1);
	}
	if (strchr(cfg_getstr(loc, "index"), '/') != NULL ||
	    cfg_getstr(loc, "index")[0] == '\0') {
		cfg_error(cfg, "location %s: index \"%s\" must be a plain file "
		    "name", title, cfg_getstr(loc, "index"));
		return (-1);
	}
	return (0);
}

static const char *const conf_http_keys[] = {
	"header_timeout", "keepalive_timeout", "send_timeout",
	"max_request_line", "max_header_size", "max_headers",
	"max_body_size", "access_log", "location",
};

/* Keys that belong to one protocol are errors in a server of another. */
static int
conf_check_protocol_keys(cfg_t *cfg, cfg_t *sec)
{
	enum protocol	 p = PROTO_ECHO;
	size_t		 i;

	(void)conf_protocol_parse(cfg_getstr(sec, "protocol"), &p);
	for (i = 0; i < sizeof(conf_http_keys) / sizeof(conf_http_keys[0]);
	    i++) {
		if (p != PROTO_HTTP && cfg_size(sec, conf_http_keys[i]) > 0) {
			cfg_error(cfg, "server %s: %s applies to protocol = "
			    "http only", cfg_title(sec), conf_http_keys[i]);
			return (-1);
		}
	}
	if (p != PROTO_ECHO && cfg_size(sec, "idle_timeout") > 0) {
		cfg_error(cfg, "server %s: idle_timeout applies to protocol = "
		    "echo only (http has header_timeout and "
		    "keepalive_timeout)", cfg_title(sec));
		return (-1);
	}
	if (p == PROTO_HTTP && cfg_size(sec, "max_request_line") > 0 &&
	    cfg_size(sec, "max_header_size") > 0 &&
	    cfg_getint(sec, "max_request_line") >
	    cfg_getint(sec, "max_header_size")) {
		cfg_error(cfg, "server %s: max_request_line is larger than "
		    "max_header_size", cfg_title(sec));
		return (-1);
	}
	return (0);
}

/* A server section just closed: check it whole and against earlier ones. */
static int
conf_check_server(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t		*sec, *other;
	struct addr	 a, b;
	char		 err[256];
	unsigned int	 n, i, j, k;

	n = cfg_opt_size(opt);
	sec = cfg_opt_getnsec(opt, n - 1);
	if (conf_check_name(cfg_title(sec)) == -1) {
		cfg_error(cfg, "server \"%s\": a name is 1 to %d letters, "
		    "digits, '_', '-' or '.'", cfg_title(sec),
		    CONF_NAME_MAX - 1);
		return (-1);
	}
	if (cfg_size(sec, "listen") == 0) {
		cfg_error(cfg, "server %s: no listen address", cfg_title(sec));
		return (-1);
	}
	if (cfg_size(sec, "protocol") == 0) {
		cfg_error(cfg, "server %s: no protocol (echo or http)",
		    cfg_title(sec));
		return (-1);
	}
	if (conf_check_protocol_keys(cfg, sec) == -1)
		return (-1);
	for (i = 0; i < cfg_size(sec, "listen"); i++) {
		(void)addr_parse(cfg_getnstr(sec, "listen", i), &a, err,
		    sizeof(err));
		for (j = 0; j + 1 < n; j++) {
			other = cfg_opt_getnsec(opt, j);
			for (k = 0; k < cfg_size(other, "listen"); k++) {
				(void)addr_parse(cfg_getnstr(other, "listen",
				    k), &b, err, sizeof(err));
				if (!addr_equal(&a, &b))
					continue;
				cfg_error(cfg, "server %s: listen \"%s\" is "
				    "already used by server %s",
				    cfg_title(sec),
				    cfg_getnstr(sec, "listen", i),
				    cfg_title(other));
				return (-1);
			}
		}
	}
	return (0);
}

static cfg_opt_t location_opts[] = {
	CFG_STR("return", NULL, CFGF_NODEFAULT),
	CFG_STR("root", NULL, CFGF_NODEFAULT),
	CFG_STR("index", "index.html", CFGF_NONE),
	CFG_BOOL("follow_symlinks", cfg_false, CFGF_NONE),
	CFG_STR("stats", NULL, CFGF_NODEFAULT),
	CFG_BOOL("echo_body", cfg_false, CFGF_NODEFAULT),
	CFG_FLOAT("delay", 0, CFGF_NODEFAULT),
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
	CFG_INT("max_request_line", 0, CFGF_NODEFAULT),
	CFG_INT("max_header_size", 0, CFGF_NODEFAULT),
	CFG_INT("max_headers", 0, CFGF_NODEFAULT),
	CFG_INT("max_body_size", 0, CFGF_NODEFAULT),
	CFG_STR("access_log", NULL, CFGF_NODEFAULT),
	CFG_SEC("location", location_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

static cfg_opt_t root_opts[] = {
	CFG_STR("workers", "auto", CFGF_NONE),
	CFG_BOOL("daemon", cfg_true, CFGF_NONE),
	CFG_STR("pid_file", NULL, CFGF_NODEFAULT),
	CFG_STR("ports_file", NULL, CFGF_NODEFAULT),
	CFG_STR("error_log", "stderr", CFGF_NONE),
	CFG_STR("log_level", "info", CFGF_NONE),
	CFG_STR("user", NULL, CFGF_NODEFAULT),
	CFG_STR("group", NULL, CFGF_NODEFAULT),
	CFG_INT("shutdown_timeout", CONF_DEFAULT_SHUTDOWN, CFGF_NONE),
	CFG_INT("ready_timeout", CONF_DEFAULT_READY, CFGF_NONE),
	CFG_INT("rlimit_nofile", 0, CFGF_NONE),
	CFG_STR("mime_types", "/etc/mime.types", CFGF_NONE),
	CFG_SEC("server", server_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

static void
conf_set_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "workers", conf_check_workers);
	cfg_set_validate_func(cfg, "log_level", conf_check_log_level);
	cfg_set_validate_func(cfg, "pid_file", conf_check_nonempty);
	cfg_set_validate_func(cfg, "ports_file", conf_check_nonempty);
	cfg_set_validate_func(cfg, "error_log", conf_check_nonempty);
	cfg_set_validate_func(cfg, "user", conf_check_nonempty);
	cfg_set_validate_func(cfg, "group", conf_check_nonempty);
	cfg_set_validate_func(cfg, "shutdown_timeout", conf_check_timeout);
	cfg_set_validate_func(cfg, "ready_timeout", conf_check_ready);
	cfg_set_validate_func(cfg, "rlimit_nofile", conf_check_nofile);
	cfg_set_validate_func(cfg, "server", conf_check_server);
	cfg_set_validate_func(cfg, "server|listen", conf_check_listen);
	cfg_set_validate_func(cfg, "server|protocol", conf_check_protocol);
	cfg_set_validate_func(cfg, "server|backlog", conf_check_backlog);
	cfg_set_validate_func(cfg, "server|idle_timeout",
	    conf_check_timeout);
	cfg_set_validate_func(cfg, "server|max_connections",
	    conf_check_maxconn);
	cfg_set_validate_func(cfg, "server|header_timeout",
	    conf_check_timeout);
	cfg_set_validate_func(cfg, "server|keepalive_timeout",
	    conf_check_timeout);
	cfg_set_validate_func(cfg, "server|send_timeout",
	    conf_check_timeout);
	cfg_set_validate_func(cfg, "server|max_request_line",
	    conf_check_request_line);
	cfg_set_validate_func(cfg, "server|max_header_size",
	    conf_check_header_size);
	cfg_set_validate_func(cfg, "server|max_headers",
	    conf_check_max_headers);
	cfg_set_validate_func(cfg, "server|max_body_size",
	    conf_check_max_body);
	cfg_set_validate_func(cfg, "server|access_log",
	    conf_check_nonempty);
	cfg_set_validate_func(cfg, "server|location", conf_check_location);
	cfg_set_validate_func(cfg, "mime_types", conf_check_nonempty);
}

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
static char *
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
conf_fill_locations(cfg_t *sec, const char *path, struct server_conf *srv,
    char *err, size_t errlen)
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
conf_fill_server(cfg_t *sec, const char *path, struct server_conf *srv,
    char *err, size_t errlen)
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
	if (conf_fill_locations(sec, path, srv, err, errlen) == -1)
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
	conf->error_log = conf_path(path, cfg_getstr(cfg, "error_log"));
	(void)log_level_parse(cfg_getstr(cfg, "log_level"), &conf->log_level);
	conf->user = conf_strdup_opt(cfg, "user");
	conf->group = conf_strdup_opt(cfg, "group");
	conf->shutdown_timeout = (int)cfg_getint(cfg, "shutdown_timeout");
	conf->ready_timeout = (int)cfg_getint(cfg, "ready_timeout");
	conf->rlimit_nofile = cfg_getint(cfg, "rlimit_nofile");
	conf->mime_types = conf_path(path, cfg_getstr(cfg, "mime_types"));
	if (conf->path == NULL || conf->error_log == NULL ||
	    conf->mime_types == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}

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
		    &conf->servers[i], err, errlen) == -1)
			return (-1);
	}
	return (0);
}

/* Read a whole (small) file into a NUL-terminated buffer. */
static char *
conf_read_file(const char *path, char *err, size_t errlen)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return (NULL);
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
		n = fread(buf + len, 1, cap - len - 1, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		goto fail;
	}
	fclose(fp);
	buf[len] = '\0';
	return (buf);
fail:
	free(buf);
	fclose(fp);
	return (NULL);
}

/*
 * Turn comments (#, // and C-style) into spaces, keeping every newline.
 * libconfuse 3.3 counts each line of a comment twice, which would put
 * wrong line numbers in error messages; without comments it counts right.
 * Quoted strings are left alone.
 */
static void
conf_blank_comments(char *p)
{
	char	 quote = 0;

	for (; *p != '\0'; p++) {
		if (quote) {
			if (*p == '\\' && quote == '"' && p[1] != '\0')
				p++;
			else if (*p == quote)
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
		} else if (*p == '/' && p[1] == '*') {
			*p++ = ' ';
			*p = ' ';
			for (p++; *p != '\0' && !(*p == '*' && p[1] == '/');
			    p++)
				if (*p != '\n')
					*p = ' ';
			if (*p == '\0')
				break;
			*p++ = ' ';
			*p = ' ';
		}
	}
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
	int		 rc;

	err[0] = '\0';
	if ((text = conf_read_file(path, err, errlen)) == NULL)
		return (NULL);
	conf_blank_comments(text);
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
		for (j = 0; j < sc->nlistens; j++)
			free(sc->listens[j].adopt_fds);
		free(sc->listens);
	}
	free(conf->servers);
	free(conf->path);
	free(conf->pid_file);
	free(conf->ports_file);
	free(conf->error_log);
	free(conf->user);
	free(conf->group);
	free(conf->mime_types);
	free(conf);
}
