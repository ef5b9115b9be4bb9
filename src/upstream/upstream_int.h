/* upstream_int.h: shared by the files of the upstream module only. */
#ifndef DROVER_UPSTREAM_INT_H
#define DROVER_UPSTREAM_INT_H

#include "core/conf.h"
#include "upstream/upstream.h"

#define UPSTREAM_IDLE_MS	60000	/* an idle kept connection closes */
#define UPSTREAM_BACKOFF_MIN_MS	20	/* retry_wait: first pause */
#define UPSTREAM_BACKOFF_MAX_MS	500

struct upstream {
	const struct upstream_conf	*conf;
	struct event_base		*base;
	struct upstream_peer		*peers;
	size_t				 npeers;
	unsigned			 rr;	/* round_robin's next */
	int				 nidle;
	struct upstream_idle_head	 idle_free;	/* entries to reuse */
	struct event			 idle_sweep;
	int				 draining;
};

/* upstream.c */
extern struct event_base	*upstream_base;
int	 upstream_peer_usable(const struct upstream_peer *, int64_t);
int	 upstream_all_down(const struct upstream *, int64_t);
void	 upstream_peer_check(struct upstream_peer *, const struct upstream *,
	     int, const char *);

/* upstream_pick.c */
struct upstream_peer *upstream_pick(struct upstream *,
	     const struct upstream_connect *);
int	 upstream_pick_left(const struct upstream *,
	     const struct upstream_connect *);

/* upstream_pool.c: idle keep-alive connections */
int	 upstream_pool_take(struct upstream *, struct upstream_peer *, int);
int	 upstream_pool_put(struct upstream *, struct upstream_peer *, int);
void	 upstream_pool_init(struct upstream *);
void	 upstream_pool_close(struct upstream *);

/* upstream_health.c: the active check */
int	 upstream_health_start(struct upstream *);
void	 upstream_health_stop(struct upstream *);

#endif
