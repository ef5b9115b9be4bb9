/*
 * upstream_pool.c: idle keep-alive connections to the servers, at most
 * keepalive per upstream and worker, the most recently used taken first
 * (the ones the server is least likely to have closed). A connection is
 * looked at when it is taken (a peek): anything it said meanwhile (the
 * server's FIN, or bytes no request asked for) closes it, so one handed
 * out was quiet. That is one system call per reuse, where watching each
 * kept connection in the loop would cost two (epoll_ctl in and out). A
 * sweep every few seconds closes what idled UPSTREAM_IDLE_MS or was
 * closed by its server.
 *
 * keepalive is the number kept for good. A burst (more clients than
 * keepalive finishing at once) may leave up to twice as many for a
 * moment: closing the surplus at once, as nginx does, makes the next
 * burst connect again (measured: 17-31% of requests on a new connection
 * with 64 clients and keepalive 32), so the surplus is closed only when
 * it found no use within UPSTREAM_SURPLUS_MS. The race with a server closing a connection just
 * as it is reused remains; the proxies retry that case on a new
 * connection (upstream_connect_retry).
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "upstream/upstream_int.h"

struct upstream_idle {
	TAILQ_ENTRY(upstream_idle)	 entry;	/* in its peer's, or free */
	struct upstream_peer		*peer;
	int				 fd;
	int64_t				 since;	/* ms: kept then */
};

#define UPSTREAM_SWEEP_MS	5000
#define UPSTREAM_SURPLUS_MS	1000	/* a burst's extra connections */

/* Out of its peer's list, onto the free list (no free(): the pool's
 * entries are reused, a request costs no allocation). */
static void
upstream_pool_unlink(struct upstream *u, struct upstream_idle *ui)
{
	TAILQ_REMOVE(&ui->peer->idle, ui, entry);
	u->nidle--;
	TAILQ_INSERT_HEAD(&u->idle_free, ui, entry);
}

static void
upstream_pool_drop(struct upstream *u, struct upstream_idle *ui)
{
	close(ui->fd);
	upstream_pool_unlink(u, ui);
}

/* Whether a kept connection is still quiet: nothing to read, no FIN. */
static int
upstream_pool_quiet(int fd)
{
	char	 c;

	return (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* The oldest idle connection of u, or NULL. */
static struct upstream_idle *
upstream_pool_oldest(struct upstream *u)
{
	struct upstream_idle	*ui, *old = NULL;
	size_t			 i;

	for (i = 0; i < u->npeers; i++) {
		ui = TAILQ_LAST(&u->peers[i].idle, upstream_idle_head);
		if (ui != NULL && (old == NULL || ui->since < old->since))
			old = ui;
	}
	return (old);
}

/* The next sweep: soon while more than keepalive are kept. A sweep
 * already due sooner stays as it is: re-arming each time the surplus
 * begins would put it off for good under steady traffic. */
static void
upstream_pool_arm(struct upstream *u)
{
	int		 ms = u->nidle > u->conf->keepalive ?
			    UPSTREAM_SURPLUS_MS : UPSTREAM_SWEEP_MS;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 }, due, now;

	if (u->nidle == 0)
		return;
	if (evtimer_pending(&u->idle_sweep, &due)) {
		event_base_gettimeofday_cached(u->base, &now);
		timeradd(&now, &tv, &now);
		if (timercmp(&due, &now, <=))
			return;
	}
	evtimer_add(&u->idle_sweep, &tv);
}

static void
upstream_pool_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream		*u = arg;
	struct upstream_idle	*ui, *next;
	int64_t			 now = clock_now_ms();
	size_t			 i;

	(void)fd;
	(void)what;
	for (i = 0; i < u->npeers; i++)
		for (ui = TAILQ_FIRST(&u->peers[i].idle); ui != NULL;
		    ui = next) {
			next = TAILQ_NEXT(ui, entry);
			if (now - ui->since >= UPSTREAM_IDLE_MS ||
			    !upstream_pool_quiet(ui->fd))
				upstream_pool_drop(u, ui);
		}
	/* A burst's surplus that found no use within a moment goes. */
	while (u->nidle > u->conf->keepalive &&
	    (ui = upstream_pool_oldest(u)) != NULL &&
	    now - ui->since >= UPSTREAM_SURPLUS_MS)
		upstream_pool_drop(u, ui);
	upstream_pool_arm(u);
}

/* Keep fd; -1 (and fd is the caller's to close) when it cannot be. */
int
upstream_pool_put(struct upstream *u, struct upstream_peer *p, int fd)
{
	struct upstream_idle	*ui;

	if (u->draining || u->conf->keepalive == 0 ||
	    u->conf->proxy_protocol != 0)
		return (-1);
	if (u->nidle >= 2 * u->conf->keepalive)
		upstream_pool_drop(u, upstream_pool_oldest(u));
	if ((ui = TAILQ_FIRST(&u->idle_free)) != NULL)
		TAILQ_REMOVE(&u->idle_free, ui, entry);
	else if ((ui = malloc(sizeof(*ui))) == NULL)
		return (-1);
	ui->peer = p;
	ui->fd = fd;
	ui->since = clock_now_ms();
	TAILQ_INSERT_HEAD(&p->idle, ui, entry);
	u->nidle++;
	if (u->nidle == 1 || u->nidle == u->conf->keepalive + 1)
		upstream_pool_arm(u);
	return (0);
}

/* An idle connection to p that is still quiet (and kept less than
 * recent_ms, if that is not 0), or -1. The most recent is first. */
int
upstream_pool_take(struct upstream *u, struct upstream_peer *p,
    int recent_ms)
{
	struct upstream_idle	*ui;
	int			 fd;

	while ((ui = TAILQ_FIRST(&p->idle)) != NULL) {
		if (recent_ms > 0 && clock_now_ms() - ui->since >= recent_ms)
			return (-1);
		fd = ui->fd;
		upstream_pool_unlink(u, ui);
		if (upstream_pool_quiet(fd))
			return (fd);
		close(fd);
	}
	return (-1);
}

void
upstream_pool_init(struct upstream *u)
{
	TAILQ_INIT(&u->idle_free);
	evtimer_assign(&u->idle_sweep, u->base, upstream_pool_sweep_cb, u);
}

/* Every kept connection closed, every entry freed. */
void
upstream_pool_close(struct upstream *u)
{
	struct upstream_idle	*ui;
	size_t			 i;

	evtimer_del(&u->idle_sweep);
	for (i = 0; i < u->npeers; i++)
		while ((ui = TAILQ_FIRST(&u->peers[i].idle)) != NULL)
			upstream_pool_drop(u, ui);
	while ((ui = TAILQ_FIRST(&u->idle_free)) != NULL) {
		TAILQ_REMOVE(&u->idle_free, ui, entry);
		free(ui);
	}
}
