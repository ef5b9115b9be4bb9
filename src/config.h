/* config.h: the configuration file (libconfuse syntax) and its checked form. */
#ifndef DROVER_CONFIG_H
#define DROVER_CONFIG_H

#include <stddef.h>

#include "addr.h"
#include "log.h"

#define CONFIG_NAME_MAX		64
#define CONFIG_WORKERS_MAX	512

enum protocol {
	PROTO_ECHO = 1,
};

struct listen_conf {
	struct addr	 addr;
	char		 text[ADDR_STRLEN];	/* as written, canonical */
};

struct server_conf {
	char			 name[CONFIG_NAME_MAX];
	enum protocol		 protocol;
	int			 backlog;
	int			 idle_timeout;		/* seconds */
	struct listen_conf	*listens;
	size_t			 nlistens;
};

struct config {
	char			*path;
	int			 workers;		/* resolved count */
	int			 workers_auto;
	int			 daemon;
	char			*pid_file;		/* NULL: none */
	char			*ports_file;		/* NULL: none */
	char			*error_log;
	enum log_level		 log_level;
	char			*user;			/* NULL: keep */
	char			*group;			/* NULL: keep */
	int			 shutdown_timeout;	/* seconds */
	int			 ready_timeout;		/* seconds */
	long			 rlimit_nofile;		/* 0: keep */
	struct server_conf	*servers;
	size_t			 nservers;
};

struct config	*config_load(const char *, char *, size_t);
void		 config_free(struct config *);
const char	*config_protocol_name(enum protocol);
int		 config_online_cpus(void);

#endif
