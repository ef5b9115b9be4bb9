/*
 * conf_upstream.c: upstream NAME { ... } sections, the proxies' keys in
 * servers and locations, and the names that tie them together.
 *
 * An upstream may be defined before or after the servers that use it, so
 * names are resolved once the whole file is read (conf_upstream_link);
 * the checks of one section's own values run as it closes, like the
 * server's, so every error names the line.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <confuse.h>

#include "core/conf.h"
#include "core/conf_int.h"

#define CONF_KEEPALIVE_MAX	10000
#define CONF_UPSTREAM_SERVERS_MAX 64	/* a bit each in a connect's mask */

/* "unix:PATH", or a numeric "HOST:PORT" with a port that is not 0. */
static int
conf_upstream_server_parse(const char *s, struct addr *a, char *err,
    size_t errlen)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)&a->ss;
	const char		*path;

	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		path = s + 5;
		if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "\"%s\": a unix socket path is 1 "
			    "to %zu bytes", s, sizeof(sun->sun_path) - 1);
			return (-1);
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, strlen(path) + 1);
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(path) + 1);
		return (0);
	}
	if (addr_parse(s, a, err, errlen) == -1)
		return (-1);
	if (strchr(s, '*') != NULL || conf_addr_wildcard(a)) {
		snprintf(err, errlen, "\"%s\": an upstream server needs an "
		    "address to connect to, not a wildcard", s);
		return (-1);
	}
	if (addr_port(a) == 0) {
		snprintf(err, errlen, "\"%s\": an upstream server needs a port",
		    s);
		return (-1);
	}
	return (0);
}

/* source = "IP" | "IP:PORT" | "[V6]:PORT" | "listen". */
static int
conf_upstream_source_parse(const char *s, enum upstream_source *kind,
    struct addr *a, char *err, size_t errlen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (strcmp(s, "listen") == 0) {
		*kind = SOURCE_LISTEN;
		return (0);
	}
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
		*kind = SOURCE_IP;
		return (0);
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		a->len = sizeof(*sin6);
		*kind = SOURCE_IP;
		return (0);
	}
	if (addr_parse(s, a, err, errlen) == -1 || addr_port(a) == 0 ||
	    strchr(s, '*') != NULL) {
		snprintf(err, errlen, "source = \"%s\": expected \"IP\", "
		    "\"IP:PORT\" or \"listen\"", s);
		return (-1);
	}
	*kind = SOURCE_IP_PORT;
	return (0);
}

static int
conf_upstream_balance_parse(const char *s, enum upstream_balance *b)
{
	if (strcmp(s, "round_robin") == 0)
		*b = BALANCE_ROUND_ROBIN;
	else if (strcmp(s, "least_conn") == 0)
		*b = BALANCE_LEAST_CONN;
	else if (strcmp(s, "client_hash") == 0)
		*b = BALANCE_CLIENT_HASH;
	else
		return (-1);
	return (0);
}

static int
conf_upstream_pp_parse(const char *s, int *v)
{
	if (strcmp(s, "off") == 0)
		*v = 0;
	else if (strcmp(s, "v1") == 0)
		*v = 1;
	else if (strcmp(s, "v2") == 0)
		*v = 2;
	else
		return (-1);
	return (0);
}

/* Each server's address, and the source's family against theirs. */
static int
conf_upstream_check_servers(cfg_t *cfg, cfg_t *sec)
{
	struct addr	 a, src;
	enum upstream_source kind = SOURCE_NONE;
	char		 err[256];
	unsigned int	 i, n = cfg_size(sec, "servers");

	if (n == 0 || n > CONF_UPSTREAM_SERVERS_MAX) {
		cfg_error(cfg, "upstream %s: servers lists 1 to %d addresses "
		    "(has %u)", cfg_title(sec), CONF_UPSTREAM_SERVERS_MAX, n);
		return (-1);
	}
	if (cfg_size(sec, "source") > 0 &&
	    conf_upstream_source_parse(cfg_getstr(sec, "source"), &kind, &src,
	    err, sizeof(err)) == -1) {
		cfg_error(cfg, "upstream %s: %s", cfg_title(sec), err);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (conf_upstream_server_parse(cfg_getnstr(sec, "servers", i),
		    &a, err, sizeof(err)) == -1) {
			cfg_error(cfg, "upstream %s: servers: %s",
			    cfg_title(sec), err);
			return (-1);
		}
		if (addr_family(&a) == AF_UNIX)
			continue;	/* no source address to bind */
		if ((kind == SOURCE_IP || kind == SOURCE_IP_PORT) &&
		    addr_family(&a) != addr_family(&src)) {
			cfg_error(cfg, "upstream %s: source \"%s\" is not of "
			    "the family of server \"%s\"", cfg_title(sec),
			    cfg_getstr(sec, "source"),
			    cfg_getnstr(sec, "servers", i));
			return (-1);
		}
	}
	return (0);
}

/* A path for the check's request line: it goes there as it is. */
static int
conf_upstream_check_path(const char *p)
{
	if (p[0] != '/' || strlen(p) > 1024)
		return (-1);
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (-1);
	return (0);
}

/* An upstream section just closed: its values, each with its line. */
static int
conf_upstream_check(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t			*sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char		*name = cfg_title(sec);
	enum upstream_balance	 b;
	int			 v;

	if (conf_check_name(name) == -1) {
		cfg_error(cfg, "upstream \"%s\": a name is 1 to %d letters, "
		    "digits, '_', '-' or '.'", name ? name : "",
		    CONF_NAME_MAX - 1);
		return (-1);
	}
	if (conf_upstream_check_servers(cfg, sec) == -1)
		return (-1);
	if (conf_upstream_balance_parse(cfg_getstr(sec, "balance"), &b) ==
	    -1) {
		cfg_error(cfg, "upstream %s: balance = \"%s\": expected "
		    "round_robin, least_conn or client_hash", name,
		    cfg_getstr(sec, "balance"));
		return (-1);
	}
	if (conf_upstream_pp_parse(cfg_getstr(sec, "proxy_protocol"), &v) ==
	    -1) {
		cfg_error(cfg, "upstream %s: proxy_protocol = \"%s\": expected "
		    "off, v1 or v2", name, cfg_getstr(sec, "proxy_protocol"));
		return (-1);
	}
	if (cfg_size(sec, "health_check") > 0 &&
	    conf_upstream_check_path(cfg_getstr(sec, "health_check")) == -1) {
		cfg_error(cfg, "upstream %s: health_check = \"%s\": a path "
		    "starts with '/' and has no spaces or control characters",
		    name, cfg_getstr(sec, "health_check"));
		return (-1);
	}
	return (0);
}

static int
conf_upstream_range(cfg_t *cfg, cfg_opt_t *opt, long lo, long hi)
{
	long	 v = cfg_opt_getnint(opt, 0);

	if (v < lo || v > hi) {
		cfg_error(cfg, "%s = %ld is out of range (%ld to %ld)",
		    cfg_opt_name(opt), v, lo, hi);
		return (-1);
	}
	return (0);
}

static int
conf_upstream_check_keepalive(cfg_t *cfg, cfg_opt_t *opt)
{
	return (conf_upstream_range(cfg, opt, 0, CONF_KEEPALIVE_MAX));
}

static int
conf_upstream_check_seconds(cfg_t *cfg, cfg_opt_t *opt)
{
	return (conf_upstream_range(cfg, opt, 1, 86400));
}

static int
conf_upstream_check_wait(cfg_t *cfg, cfg_opt_t *opt)
{
	return (conf_upstream_range(cfg, opt, 0, 3600));
}

static int
conf_upstream_check_fails(cfg_t *cfg, cfg_opt_t *opt)
{
	return (conf_upstream_range(cfg, opt, 0, 1000));
}

static int
conf_upstream_check_responses(cfg_t *cfg, cfg_opt_t *opt)
{
	return (conf_upstream_range(cfg, opt, 0, 1000000));
}

void
conf_upstream_set_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "upstream", conf_upstream_check);
	cfg_set_validate_func(cfg, "upstream|keepalive",
	    conf_upstream_check_keepalive);
	cfg_set_validate_func(cfg, "upstream|connect_timeout",
	    conf_upstream_check_seconds);
	cfg_set_validate_func(cfg, "upstream|read_timeout",
	    conf_upstream_check_seconds);
	cfg_set_validate_func(cfg, "upstream|send_timeout",
	    conf_upstream_check_seconds);
	cfg_set_validate_func(cfg, "upstream|fail_timeout",
	    conf_upstream_check_seconds);
	cfg_set_validate_func(cfg, "upstream|health_interval",
	    conf_upstream_check_seconds);
	cfg_set_validate_func(cfg, "upstream|max_fails",
	    conf_upstream_check_fails);
	cfg_set_validate_func(cfg, "upstream|retry_wait",
	    conf_upstream_check_wait);
	cfg_set_validate_func(cfg, "server|udp_responses",
	    conf_upstream_check_responses);
}

/*
 * The proxy keys of a server section (checked as it closes): upstream is
 * needed by tcp_proxy and udp_proxy and nowhere else; proxy_protocol is
 * read before a TCP service sees the connection; udp_responses is
 * udp_proxy's. Whether the names exist is known only at the end.
 */
int
conf_upstream_check_server(cfg_t *cfg, cfg_t *sec, enum protocol p)
{
	const char	*name = cfg_title(sec);
	int		 proxy = p == PROTO_TCP_PROXY || p == PROTO_UDP_PROXY;

	if (proxy && cfg_size(sec, "upstream") == 0) {
		cfg_error(cfg, "server %s: protocol = %s needs upstream = NAME",
		    name, conf_protocol_name(p));
		return (-1);
	}
	if (!proxy && cfg_size(sec, "upstream") > 0) {
		cfg_error(cfg, "server %s: upstream applies to protocol = "
		    "tcp_proxy and udp_proxy only (http: a location's proxy)",
		    name);
		return (-1);
	}
	if (p != PROTO_UDP_PROXY && cfg_size(sec, "udp_responses") > 0) {
		cfg_error(cfg, "server %s: udp_responses applies to protocol "
		    "= udp_proxy only", name);
		return (-1);
	}
	if ((CONF_PROTO_UDP(p) || p == PROTO_EXEC) &&
	    cfg_size(sec, "proxy_protocol") > 0) {
		cfg_error(cfg, "server %s: proxy_protocol applies to servers "
		    "drover accepts TCP for (http, echo, tcp_proxy)", name);
		return (-1);
	}
	return (0);
}

static struct upstream_conf *
conf_upstream_find(struct config *conf, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf->nupstreams; i++)
		if (strcmp(conf->upstreams[i].name, name) == 0)
			return (&conf->upstreams[i]);
	return (NULL);
}

static int
conf_upstream_fill_one(cfg_t *sec, struct upstream_conf *uc, char *err,
    size_t errlen)
{
	size_t	 i;

	snprintf(uc->name, sizeof(uc->name), "%s", cfg_title(sec));
	uc->nservers = cfg_size(sec, "servers");
	if ((uc->servers = calloc(uc->nservers, sizeof(*uc->servers))) ==
	    NULL)
		goto oom;
	for (i = 0; i < uc->nservers; i++) {
		(void)conf_upstream_server_parse(cfg_getnstr(sec, "servers",
		    i), &uc->servers[i].addr, err, errlen);
		snprintf(uc->servers[i].text, sizeof(uc->servers[i].text),
		    "%s", cfg_getnstr(sec, "servers", i));
	}
	(void)conf_upstream_balance_parse(cfg_getstr(sec, "balance"),
	    &uc->balance);
	uc->keepalive = (int)cfg_getint(sec, "keepalive");
	uc->connect_timeout = (int)cfg_getint(sec, "connect_timeout");
	uc->read_timeout = (int)cfg_getint(sec, "read_timeout");
	uc->send_timeout = (int)cfg_getint(sec, "send_timeout");
	uc->max_fails = (int)cfg_getint(sec, "max_fails");
	uc->fail_timeout = (int)cfg_getint(sec, "fail_timeout");
	uc->health_interval = (int)cfg_getint(sec, "health_interval");
	uc->retry_wait = (int)cfg_getint(sec, "retry_wait");
	if (cfg_size(sec, "health_check") > 0 &&
	    (uc->health_check = strdup(cfg_getstr(sec, "health_check"))) ==
	    NULL)
		goto oom;
	if (cfg_size(sec, "source") > 0)
		(void)conf_upstream_source_parse(cfg_getstr(sec, "source"),
		    &uc->source, &uc->source_addr, err, errlen);
	(void)conf_upstream_pp_parse(cfg_getstr(sec, "proxy_protocol"),
	    &uc->proxy_protocol);
	err[0] = '\0';
	return (0);
oom:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

int
conf_upstream_fill(cfg_t *cfg, struct config *conf, char *err,
    size_t errlen)
{
	size_t	 i;

	conf->nupstreams = cfg_size(cfg, "upstream");
	if (conf->nupstreams == 0)
		return (0);
	conf->upstreams = calloc(conf->nupstreams, sizeof(*conf->upstreams));
	if (conf->upstreams == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < conf->nupstreams; i++)
		if (conf_upstream_fill_one(cfg_getnsec(cfg, "upstream", i),
		    &conf->upstreams[i], err, errlen) == -1)
			return (-1);
	return (0);
}

/* upstream = NAME of a server, once every upstream is known. */
int
conf_upstream_link_server(cfg_t *sec, const char *path, struct config *conf,
    struct server_conf *srv, char *err, size_t errlen)
{
	const char	*name;

	srv->proxy_protocol = cfg_size(sec, "proxy_protocol") > 0 &&
	    cfg_getbool(sec, "proxy_protocol");
	srv->udp_responses = cfg_size(sec, "udp_responses") > 0 ?
	    (int)cfg_getint(sec, "udp_responses") : 0;
	if (cfg_size(sec, "upstream") == 0)
		return (0);
	name = cfg_getstr(sec, "upstream");
	if ((srv->upstream = conf_upstream_find(conf, name)) == NULL) {
		snprintf(err, errlen, "%s:%d: server %s: upstream = \"%s\": no "
		    "upstream of that name", path, sec->line, srv->name, name);
		return (-1);
	}
	if (srv->protocol == PROTO_UDP_PROXY &&
	    (srv->upstream->source == SOURCE_IP_PORT ||
	    srv->upstream->source == SOURCE_LISTEN)) {
		/* Each session is its own connected socket: one fixed port
		 * would give them all one 4-tuple. */
		snprintf(err, errlen, "%s:%d: server %s: upstream %s has a "
		    "fixed source port: udp_proxy needs a port per session "
		    "(source = \"IP\" or none)", path, sec->line, srv->name,
		    name);
		return (-1);
	}
	if (srv->protocol == PROTO_UDP_PROXY &&
	    srv->upstream->health_check != NULL) {
		snprintf(err, errlen, "%s:%d: server %s: upstream %s has a "
		    "health_check: it is an HTTP request, which a UDP server "
		    "does not answer", path, sec->line, srv->name, name);
		return (-1);
	}
	if (srv->protocol == PROTO_UDP_PROXY &&
	    srv->upstream->proxy_protocol != 0) {
		snprintf(err, errlen, "%s:%d: server %s: upstream %s sends a "
		    "PROXY header: udp_proxy does not (set proxy_protocol = "
		    "off)", path, sec->line, srv->name, name);
		return (-1);
	}
	if (srv->protocol == PROTO_UDP_PROXY) {
		size_t	 i;

		for (i = 0; i < srv->upstream->nservers; i++) {
			if (addr_family(&srv->upstream->servers[i].addr) !=
			    AF_UNIX)
				continue;
			snprintf(err, errlen, "%s:%d: server %s: upstream %s has "
			    "a unix socket server (%s): udp_proxy relays to "
			    "UDP addresses only", path, sec->line, srv->name,
			    name, srv->upstream->servers[i].text);
			return (-1);
		}
	}
	return (0);
}

/* proxy = NAME in a location. */
int
conf_upstream_link_location(cfg_t *loc, const char *path,
    struct config *conf, struct location_conf *lc, char *err, size_t errlen)
{
	const char	*name = cfg_getstr(loc, "proxy");

	if ((lc->proxy = conf_upstream_find(conf, name)) == NULL) {
		snprintf(err, errlen, "%s:%d: location %s: proxy = \"%s\": no "
		    "upstream of that name", path, loc->line, lc->prefix, name);
		return (-1);
	}
	return (0);
}

void
conf_upstream_free(struct config *conf)
{
	size_t	 i;

	for (i = 0; i < conf->nupstreams; i++) {
		free(conf->upstreams[i].servers);
		free(conf->upstreams[i].health_check);
	}
	free(conf->upstreams);
}
