/* conf.h: the configuration file (libconfuse syntax) and its checked form. */
#ifndef DROVER_CONF_H
#define DROVER_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/log.h"

#define CONF_NAME_MAX		64
#define CONF_WORKERS_MAX	512

enum protocol {
	PROTO_ECHO = 1,
	PROTO_HTTP,
	PROTO_EXEC,		/* a program of the user's, not a service */
	PROTO_UDP_ECHO,		/* each datagram answered with itself */
	PROTO_TCP_PROXY,	/* bytes relayed to an upstream */
	PROTO_UDP_PROXY,	/* datagrams relayed, a session per client */
};

/* Whether a server of protocol p listens on UDP sockets. */
#define CONF_PROTO_UDP(p)	((p) == PROTO_UDP_ECHO || (p) == PROTO_UDP_PROXY)

enum upstream_balance {
	BALANCE_ROUND_ROBIN = 1,
	BALANCE_LEAST_CONN,
	BALANCE_CLIENT_HASH,
};

enum upstream_source {
	SOURCE_NONE = 0,	/* the kernel chooses */
	SOURCE_IP,		/* "IP": the port chosen at connect */
	SOURCE_IP_PORT,		/* "IP:PORT": reuse options set */
	SOURCE_LISTEN,		/* the client's listener address and port */
};

/* One of an upstream's servers: "HOST:PORT" or "unix:PATH". */
struct upstream_server_conf {
	struct addr	 addr;
	char		 text[ADDR_STRLEN + 112];	/* "unix:" + a path */
};

/* upstream NAME { ... } */
struct upstream_conf {
	char				 name[CONF_NAME_MAX];
	struct upstream_server_conf	*servers;
	size_t				 nservers;
	enum upstream_balance		 balance;
	int				 keepalive;	/* idle, per worker */
	int				 connect_timeout;	/* seconds */
	int				 read_timeout;
	int				 send_timeout;
	int				 max_fails;
	int				 fail_timeout;
	char				*health_check;	/* NULL: off */
	int				 health_interval;
	int				 retry_wait;	/* seconds, 0: none */
	enum upstream_source		 source;
	struct addr			 source_addr;	/* IP, IP:PORT */
	int				 proxy_protocol;	/* 0, 1, 2 */
};

enum exec_ready {
	EXEC_READY_STARTED = 1,	/* once exec() succeeded */
	EXEC_READY_NOTIFY,	/* READY=1 on its NOTIFY_SOCKET */
	EXEC_READY_HTTP,	/* a GET on its listener answers 2xx */
};

/* protocol = exec: the program run as the server's processes. */
struct exec_conf {
	char			**argv;		/* as written, NULL-ended */
	char			 *path;		/* argv[0] resolved */
	int			  processes;	/* per generation */
	enum exec_ready		  ready;
	char			 *ready_path;	/* http: "/healthz" */
	int			  stop_signal;
	char			**env;		/* "K=V", NULL-ended */
	char			 *directory;
	char			 *output_log;	/* NULL: the error_log */
};

enum location_handler {
	LOC_RETURN = 1,		/* return = "STATUS [TEXT|URL]" */
	LOC_ROOT,		/* root = PATH: static files */
	LOC_STATS,		/* stats = json | prometheus */
	LOC_ECHO_BODY,		/* echo_body = on: the body streamed back */
	LOC_PROXY,		/* proxy = UPSTREAM */
};

enum stats_format {
	STATS_FORMAT_JSON = 1,
	STATS_FORMAT_PROMETHEUS,
};

/* location PREFIX { ... } in an http server. */
struct location_conf {
	char			*prefix;
	size_t			 prefix_len;
	enum location_handler	 handler;
	int			 status;	/* return */
	char			*text;		/* return: body or URL */
	size_t			 text_len;
	char			*root;		/* root: no trailing slash */
	char			*index;		/* root: index file name */
	int			 follow_symlinks;
	enum stats_format	 stats;
	int			 delay_ms;	/* delay = SECONDS before answering */
	const struct upstream_conf *proxy;	/* proxy = NAME */
};

struct listen_conf {
	struct addr	 addr;
	char		 text[ADDR_STRLEN];	/* as written, canonical */
	int		 inherit_fd;	/* runtime: the slot's kept listener */
	int		*adopt_fds;	/* runtime: listeners of retired slots */
	int		 nadopt;
};

struct server_conf {
	char			 name[CONF_NAME_MAX];
	enum protocol		 protocol;
	int			 backlog;
	int			 defer_accept;	/* TCP_DEFER_ACCEPT */
	int			 idle_timeout;	/* echo, proxies, seconds */
	int			 proxy_protocol;	/* on: a PROXY header
							 * comes first */
	const struct upstream_conf *upstream;	/* tcp_proxy, udp_proxy */
	int			 udp_responses;	/* udp_proxy: replies that
						 * end a session, 0: none */
	int			 max_connections;	/* per worker */
	struct listen_conf	*listens;
	size_t			 nlistens;

	/* protocol = http */
	int			 header_timeout;	/* seconds */
	int			 keepalive_timeout;	/* seconds */
	int			 send_timeout;		/* seconds */
	int			 body_timeout;		/* seconds */
	unsigned		 max_request_line;
	unsigned		 max_header_size;
	unsigned		 max_headers;
	uint64_t		 max_body_size;
	char			*access_log;		/* NULL: off */
	int			 access_log_fd;	/* opened by the master */
	const char		*mime_types;	/* the global setting */
	struct location_conf	*locations;	/* longest prefix first */
	size_t			 nlocations;

	struct exec_conf	*exec;		/* protocol = exec, or NULL */
};

struct config {
	char			*path;
	int			 workers;		/* resolved count */
	int			 nworker_servers;	/* not exec */
	int			 workers_auto;
	int			 daemon;
	char			*pid_file;		/* NULL: none */
	char			*ports_file;		/* NULL: none */
	char			*control_socket;	/* NULL: none */
	char			*error_log;
	enum log_level		 log_level;
	char			*user;			/* NULL: keep */
	char			*group;			/* NULL: keep */
	int			 shutdown_timeout;	/* seconds */
	int			 ready_timeout;		/* seconds */
	int			 worker_hang_timeout;	/* seconds, 0: off */
	long			 rlimit_nofile;		/* 0: keep */
	char			*mime_types;
	struct server_conf	*servers;
	size_t			 nservers;
	struct upstream_conf	*upstreams;
	size_t			 nupstreams;
};

struct config	*conf_load(const char *, char *, size_t);
void		 conf_free(struct config *);
const char	*conf_protocol_name(enum protocol);
int		 conf_online_cpus(void);
const char	*conf_signal_name(int);

#endif
