/* conf_int.h: shared by the files of the conf module only. */
#ifndef DROVER_CONF_INT_H
#define DROVER_CONF_INT_H

#include <confuse.h>

#include "core/conf.h"

/* conf.c */
char	*conf_path(const char *, const char *);
char	*conf_control_default(const char *);

/* conf_check.c */
void	 conf_set_validators(cfg_t *);
int	 conf_parse_workers(const char *, int *);
int	 conf_protocol_parse(const char *, enum protocol *);
int	 conf_parse_return(const char *, int *, const char **);
int	 conf_stats_parse(const char *, enum stats_format *);
int	 conf_check_name(const char *);
int	 conf_addr_wildcard(const struct addr *);

/* conf_upstream.c */
void	 conf_upstream_set_validators(cfg_t *);
int	 conf_upstream_check_server(cfg_t *, cfg_t *, enum protocol);
int	 conf_upstream_fill(cfg_t *, struct config *, char *, size_t);
int	 conf_upstream_link_server(cfg_t *, const char *, struct config *,
	    struct server_conf *, char *, size_t);
int	 conf_upstream_link_location(cfg_t *, const char *, struct config *,
	    struct location_conf *, char *, size_t);
void	 conf_upstream_free(struct config *);

/* conf_exec.c */
void	 conf_exec_set_validators(cfg_t *);
int	 conf_exec_check_server(cfg_t *, cfg_t *, enum protocol);
int	 conf_exec_fill(cfg_t *, const char *, int, struct server_conf *,
	    char *, size_t);
void	 conf_exec_free(struct exec_conf *);
void	 conf_exec_strv_free(char **);
int	 conf_exec_reserved(const char *);

#endif
