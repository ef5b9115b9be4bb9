/*
 * upstream_pool.c: idle keep-alive connections to the servers, at most
 * keepalive per upstream and worker, the most recently used taken first
 * (the ones the server is least likely to have closed). An idle one is
 * watched for reading: anything it says (the server's FIN, or bytes no
 * request asked for) closes it, so a connection handed out is one that
 * was quiet. The race with a server closing it just then remains; the
 * proxies retry that case on a new connection (upstream_connect_retry).
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "upstream/upstream_int.h"

struct upstream_idle {
	TAILQ_ENTRY(upstream_idle)	 entry;
	struct upstream			*u;
	struct upstream_peer		*peer;
	struct event			 ev;
	int				 fd;
	int64_t				 since;	/* ms: kept then */
};

static void
upstream_pool_free(struct upstream_idle *ui)
{
	TAILQ_REMOVE(&ui->peer->idle, ui, entry);
	ui->u->nidle--;
	event_del(&ui->ev);
	free(ui);
}

/* The server spoke or closed, or the connection idled too long. */
static void
upstream_pool_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_idle	*ui = arg;

	(void)what;
	upstream_pool_free(ui);
	close(fd);
}

/* The oldest idle connection of u, closed to make room. */
static void
upstream_pool_evict(struct upstream *u)
{
	struct upstream_idle	*ui, *old = NULL;
	size_t			 i;

	for (i = 0; i < u->npeers; i++) {
		ui = TAILQ_LAST(&u->peers[i].idle, upstream_idle_head);
		if (ui != NULL && (old == NULL || ui->since < old->since))
			old = ui;
	}
	if (old != NULL)
		upstream_pool_cb(old->fd, 0, old);
}

/* Keep fd; -1 (and fd is the caller's to close) when it cannot be. */
int
upstream_pool_put(struct upstream *u, struct upstream_peer *p, int fd)
{
	struct upstream_idle	*ui;
	struct timeval		 tv = { UPSTREAM_IDLE_MS / 1000, 0 };

	if (u->draining || u->conf->keepalive == 0 ||
	    u->conf->proxy_protocol != 0)
		return (-1);
	if (u->nidle >= u->conf->keepalive)
		upstream_pool_evict(u);
	if ((ui = malloc(sizeof(*ui))) == NULL)
		return (-1);
	ui->u = u;
	ui->peer = p;
	ui->fd = fd;
	ui->since = clock_now_ms();
	event_assign(&ui->ev, u->base, fd, EV_READ, upstream_pool_cb, ui);
	if (event_add(&ui->ev, &tv) == -1) {
		free(ui);
		return (-1);
	}
	TAILQ_INSERT_HEAD(&p->idle, ui, entry);
	u->nidle++;
	return (0);
}

/* Whether a kept connection is still quiet: its FIN may have come
 * since the loop last looked (the event has not run yet). */
static int
upstream_pool_quiet(int fd)
{
	char	 c;

	return (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* An idle connection to p, or -1. */
int
upstream_pool_take(struct upstream *u, struct upstream_peer *p)
{
	struct upstream_idle	*ui;
	int			 fd;

	(void)u;
	while ((ui = TAILQ_FIRST(&p->idle)) != NULL) {
		fd = ui->fd;
		upstream_pool_free(ui);
		if (upstream_pool_quiet(fd))
			return (fd);
		close(fd);
	}
	return (-1);
}

void
upstream_pool_close(struct upstream *u)
{
	struct upstream_idle	*ui;
	size_t			 i;

	for (i = 0; i < u->npeers; i++)
		while ((ui = TAILQ_FIRST(&u->peers[i].idle)) != NULL)
			upstream_pool_cb(ui->fd, 0, ui);
}
