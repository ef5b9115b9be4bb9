/*
 * conf_check.c: the checks on the configuration file's values.
 *
 * Checks that need a value run as libconfuse validation callbacks so they
 * are reported at the line being parsed; checks across sections run when
 * a server section closes. The parsers of single values live here too, so
 * that conf.c fills struct config with exactly what was checked.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <confuse.h>

#include "core/conf.h"
#include "core/conf_int.h"
#include "core/log.h"

#define CONF_MAX_BODY_LIMIT		(1LL << 40)
#define CONF_DELAY_MAX			3600

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

/* worker_hang_timeout: 0 (off) or at least 2 s, since heartbeats come a
 * second apart in whole seconds: 1 would kill workers that are fine. */
static int
conf_check_hang(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_size(opt) > 0 && cfg_opt_getnint(opt, 0) == 0)
		return (0);
	return (conf_int_range(cfg, opt, 2, 86400));
}

/* workers = auto | N: 0 for auto; -1 if out of range. */
int
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

/* control_socket = PATH: it must fit a unix socket address. */
static int
conf_check_control(cfg_t *cfg, cfg_opt_t *opt)
{
	struct sockaddr_un	 sun;
	char			*p;
	int			 rc = 0;

	if (conf_check_nonempty(cfg, opt) == -1)
		return (-1);
	if ((p = conf_path(cfg->filename ? cfg->filename : "",
	    cfg_opt_getnstr(opt, 0))) == NULL)
		return (-1);
	if (strlen(p) >= sizeof(sun.sun_path)) {
		cfg_error(cfg, "control_socket \"%s\": longer than a unix "
		    "socket path may be (%zu bytes)", p,
		    sizeof(sun.sun_path) - 1);
		rc = -1;
	}
	free(p);
	return (rc);
}

/* user = NAME: the workers run as it, so it must exist now. */
static int
conf_check_user(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (conf_check_nonempty(cfg, opt) == -1)
		return (-1);
	if (getpwnam(s) == NULL) {
		cfg_error(cfg, "user \"%s\": no such user", s);
		return (-1);
	}
	return (0);
}

/* group = NAME: likewise. */
static int
conf_check_group(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (conf_check_nonempty(cfg, opt) == -1)
		return (-1);
	if (getgrnam(s) == NULL) {
		cfg_error(cfg, "group \"%s\": no such group", s);
		return (-1);
	}
	return (0);
}

/* protocol = echo | http. */
int
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
	if (strcmp(s, "exec") == 0) {
		*p = PROTO_EXEC;
		return (0);
	}
	if (strcmp(s, "udp_echo") == 0) {
		*p = PROTO_UDP_ECHO;
		return (0);
	}
	if (strcmp(s, "tcp_proxy") == 0) {
		*p = PROTO_TCP_PROXY;
		return (0);
	}
	if (strcmp(s, "udp_proxy") == 0) {
		*p = PROTO_UDP_PROXY;
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
	case PROTO_EXEC:
		return ("exec");
	case PROTO_UDP_ECHO:
		return ("udp_echo");
	case PROTO_TCP_PROXY:
		return ("tcp_proxy");
	case PROTO_UDP_PROXY:
		return ("udp_proxy");
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
		    "(known: echo, http, exec, udp_echo, tcp_proxy, udp_proxy)", s ? s : "");
		return (-1);
	}
	return (0);
}

/* Whether a is the any-address of its family (0.0.0.0 or ::). */
int
conf_addr_wildcard(const struct addr *a)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (addr_family(a) == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)&a->ss;
		return (sin->sin_addr.s_addr == htonl(INADDR_ANY));
	}
	sin6 = (const struct sockaddr_in6 *)(const void *)&a->ss;
	return (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
}

/*
 * Whether binding both a and b would fail: a wildcard and a specific
 * address of the same family and port (IPv6 listeners are V6ONLY, so the
 * families do not mix). Port 0 picks a free port for each: never.
 */
static int
conf_addr_overlap(const struct addr *a, const struct addr *b)
{
	return (addr_family(a) == addr_family(b) && addr_port(a) != 0 &&
	    addr_port(a) == addr_port(b) &&
	    (conf_addr_wildcard(a) || conf_addr_wildcard(b)));
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
			if (conf_addr_overlap(&a, &b)) {
				cfg_error(cfg, "listen: \"%s\" overlaps \"%s\"",
				    cfg_opt_getnstr(opt, i),
				    cfg_opt_getnstr(opt, j));
				return (-1);
			}
		}
	}
	return (0);
}

int
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

/*
 * The final statuses that return may send: those registered with IANA
 * from 200 to 599 (306 and 418 are reserved, unused). http_response.c has
 * a reason phrase for each; check_conf checks that it stays so.
 */
static int
conf_return_registered(int status)
{
	return ((status >= 200 && status <= 208) || status == 226 ||
	    (status >= 300 && status <= 308 && status != 306) ||
	    (status >= 400 && status <= 417) ||
	    (status >= 421 && status <= 426) || status == 428 ||
	    status == 429 || status == 431 || status == 451 ||
	    (status >= 500 && status <= 508) || status == 510 ||
	    status == 511);
}

/* A redirect: TEXT is the Location. */
static int
conf_return_redirect(int status)
{
	return (status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308);
}

/*
 * Why return = "STATUS [TEXT]" would not make a well-framed response, or
 * NULL if it is fine. The status and text are set when it is.
 */
static const char *
conf_return_problem(const char *s, int *status, const char **text,
    char *why, size_t whylen)
{
	const unsigned char	*p;
	char			*end;
	long			 v;

	v = strtol(s, &end, 10);
	if (end == s || *s < '0' || *s > '9' || v < 100 || v > 599 ||
	    (*end != '\0' && *end != ' '))
		return ("expected \"STATUS [TEXT]\" with a status from 200 to "
		    "599");
	*status = (int)v;
	*text = *end == ' ' ? end + 1 : end;
	if (v < 200)
		return ("a 1xx status is not a final response");
	if (!conf_return_registered(*status)) {
		snprintf(why, whylen, "%ld is not a registered status", v);
		return (why);
	}
	if ((v == 204 || v == 205 || v == 304) && **text != '\0') {
		snprintf(why, whylen, "%ld has no body: remove the text", v);
		return (why);
	}
	if (conf_return_redirect(*status) && **text == '\0') {
		snprintf(why, whylen, "%ld needs a target URL", v);
		return (why);
	}
	for (p = (const unsigned char *)*text; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(why, whylen, "the %s has a control character "
			    "(0x%02x)", conf_return_redirect(*status) ?
			    "target" : "text", *p);
			return (why);
		}
	}
	return (NULL);
}

/* Parse return = "STATUS [TEXT]"; -1 if conf_return_problem has one. */
int
conf_parse_return(const char *s, int *status, const char **text)
{
	char	 why[128];

	return (conf_return_problem(s, status, text, why, sizeof(why)) ==
	    NULL ? 0 : -1);
}

/* return = "STATUS [TEXT]", at the line where it is set. */
static int
conf_check_return(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0), *text, *problem;
	const char	*p;
	char		 why[128];
	int		 status;

	if (s == NULL)
		return (-1);
	if ((problem = conf_return_problem(s, &status, &text, why,
	    sizeof(why))) == NULL)
		return (0);
	/* The value goes into the message only if it cannot break a line. */
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			break;
	if (*p == '\0')
		cfg_error(cfg, "location %s: return = \"%s\": %s",
		    cfg_title(cfg), s, problem);
	else
		cfg_error(cfg, "location %s: return %d: %s", cfg_title(cfg),
		    status, problem);
	return (-1);
}

/* stats = json | prometheus. */
int
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
	const char	*title = cfg_title(loc);
	enum stats_format f;
	int		 n = 0;

	if (title == NULL || title[0] != '/') {
		cfg_error(cfg, "location \"%s\": a prefix starts with '/'",
		    title ? title : "");
		return (-1);
	}
	n = (cfg_size(loc, "return") > 0) + (cfg_size(loc, "root") > 0) +
	    (cfg_size(loc, "stats") > 0) + (cfg_size(loc, "echo_body") > 0 &&
	    cfg_getbool(loc, "echo_body")) + (cfg_size(loc, "proxy") > 0);
	if (n != 1) {
		cfg_error(cfg, "location %s: needs exactly one of return, root, "
		    "stats, echo_body or proxy (has %d)", title, n);
		return (-1);
	}
	if (cfg_size(loc, "delay") > 0 && (cfg_getfloat(loc, "delay") < 0 ||
	    cfg_getfloat(loc, "delay") > CONF_DELAY_MAX)) {
		cfg_error(cfg, "location %s: delay = %g is out of range (0 to "
		    "%d seconds)", title, cfg_getfloat(loc, "delay"),
		    CONF_DELAY_MAX);
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
	"header_timeout", "keepalive_timeout", "send_timeout", "body_timeout",
	"max_request_line", "max_header_size", "max_headers",
	"max_body_size", "access_log", "location",
};

/*
 * Keys of drover's own TCP accepting, with defaults (so set means
 * modified): errors in a server that accepts nothing (UDP) or whose
 * program accepts (exec). backlog applies to exec: the master listens.
 */
static const char *const conf_accept_keys[] = {
	"max_connections", "defer_accept", "backlog",	/* last: UDP only */
};

/* from: the first key that does not apply (udp_proxy limits its
 * sessions with max_connections, the first). */
static int
conf_check_accept_keys(cfg_t *cfg, cfg_t *sec, int udp, size_t from,
    const char *why)
{
	cfg_opt_t	*opt;
	size_t		 i, n = sizeof(conf_accept_keys) /
			    sizeof(conf_accept_keys[0]);

	for (i = from; i < (udp ? n : n - 1); i++) {
		opt = cfg_getopt(sec, conf_accept_keys[i]);
		if (opt != NULL && (opt->flags & CFGF_MODIFIED)) {
			cfg_error(cfg, "server %s: %s does not apply %s",
			    cfg_title(sec), conf_accept_keys[i], why);
			return (-1);
		}
	}
	return (0);
}

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
	if (conf_exec_check_server(cfg, sec, p) == -1 ||
	    (p == PROTO_EXEC && conf_check_accept_keys(cfg, sec, 0, 0,
	    "to protocol = exec (the program accepts)") == -1) ||
	    (CONF_PROTO_UDP(p) && conf_check_accept_keys(cfg, sec, 1,
	    p == PROTO_UDP_PROXY ? 1 : 0,
	    "to a UDP server (nothing is accepted)") == -1))
		return (-1);
	if ((p == PROTO_HTTP || p == PROTO_EXEC || p == PROTO_UDP_ECHO) &&
	    cfg_size(sec, "idle_timeout") > 0) {
		cfg_error(cfg, "server %s: idle_timeout applies to protocol = "
		    "echo, tcp_proxy and udp_proxy only (http has "
		    "header_timeout and keepalive_timeout)", cfg_title(sec));
		return (-1);
	}
	if (conf_upstream_check_server(cfg, sec, p) == -1)
		return (-1);
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

/* Whether a server section's protocol listens on UDP. */
static int
conf_server_udp(cfg_t *sec)
{
	enum protocol	 p = PROTO_ECHO;

	if (cfg_size(sec, "protocol") > 0)
		(void)conf_protocol_parse(cfg_getstr(sec, "protocol"), &p);
	return (CONF_PROTO_UDP(p));
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
		cfg_error(cfg, "server %s: no protocol (echo, http, exec, "
		    "udp_echo, tcp_proxy or udp_proxy)", cfg_title(sec));
		return (-1);
	}
	if (conf_check_protocol_keys(cfg, sec) == -1)
		return (-1);
	for (i = 0; i < cfg_size(sec, "listen"); i++) {
		(void)addr_parse(cfg_getnstr(sec, "listen", i), &a, err,
		    sizeof(err));
		for (j = 0; j + 1 < n; j++) {
			other = cfg_opt_getnsec(opt, j);
			/* TCP and UDP ports are apart: one number serves
			 * both. */
			if (conf_server_udp(sec) != conf_server_udp(other))
				continue;
			for (k = 0; k < cfg_size(other, "listen"); k++) {
				(void)addr_parse(cfg_getnstr(other, "listen",
				    k), &b, err, sizeof(err));
				if (addr_equal(&a, &b)) {
					cfg_error(cfg, "server %s: listen \"%s\" "
					    "is already used by server %s",
					    cfg_title(sec),
					    cfg_getnstr(sec, "listen", i),
					    cfg_title(other));
					return (-1);
				}
				if (!conf_addr_overlap(&a, &b))
					continue;
				cfg_error(cfg, "server %s: listen \"%s\" overlaps "
				    "\"%s\" of server %s", cfg_title(sec),
				    cfg_getnstr(sec, "listen", i),
				    cfg_getnstr(other, "listen", k),
				    cfg_title(other));
				return (-1);
			}
		}
	}
	return (0);
}

/* Attach the checks above to the keys they check. */
void
conf_set_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "workers", conf_check_workers);
	cfg_set_validate_func(cfg, "log_level", conf_check_log_level);
	cfg_set_validate_func(cfg, "pid_file", conf_check_nonempty);
	cfg_set_validate_func(cfg, "ports_file", conf_check_nonempty);
	cfg_set_validate_func(cfg, "control_socket", conf_check_control);
	cfg_set_validate_func(cfg, "error_log", conf_check_nonempty);
	cfg_set_validate_func(cfg, "user", conf_check_user);
	cfg_set_validate_func(cfg, "group", conf_check_group);
	cfg_set_validate_func(cfg, "shutdown_timeout", conf_check_timeout);
	cfg_set_validate_func(cfg, "ready_timeout", conf_check_ready);
	cfg_set_validate_func(cfg, "worker_hang_timeout", conf_check_hang);
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
	cfg_set_validate_func(cfg, "server|body_timeout",
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
	cfg_set_validate_func(cfg, "server|location|return",
	    conf_check_return);
	cfg_set_validate_func(cfg, "mime_types", conf_check_nonempty);
	conf_exec_set_validators(cfg);
	conf_upstream_set_validators(cfg);
}
