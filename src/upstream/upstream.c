/*
 * upstream.c: a worker's state of every configured upstream, and whether
 * each server is up.
 *
 * A server is down while the active check says so, or for fail_timeout
 * once max_fails failures came within fail_timeout (passive). Each
 * worker judges on its own: no state is shared between workers, so a
 * verdict costs no lock and a worker that saw nothing keeps sending.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "upstream/upstream_int.h"

struct event_base	*upstream_base;
static struct upstream	*upstreams;
static size_t		 nupstreams;

int
upstream_init(struct event_base *base, const struct config *conf, char *err,
    size_t errlen)
{
	struct upstream	*u;
	size_t		 i, j;

	upstream_base = base;
	nupstreams = conf->nupstreams;
	if (nupstreams == 0)
		return (0);
	if ((upstreams = calloc(nupstreams, sizeof(*upstreams))) == NULL)
		goto oom;
	for (i = 0; i < nupstreams; i++) {
		u = &upstreams[i];
		u->conf = &conf->upstreams[i];
		u->base = base;
		u->npeers = u->conf->nservers;
		if ((u->peers = calloc(u->npeers, sizeof(*u->peers))) == NULL)
			goto oom;
		for (j = 0; j < u->npeers; j++) {
			u->peers[j].conf = &u->conf->servers[j];
			u->peers[j].up = u;
			u->peers[j].index = (unsigned)j;
			TAILQ_INIT(&u->peers[j].idle);
		}
		/* Workers start at different servers: the first requests
		 * of each do not all go to the first one. */
		u->rr = (unsigned)getpid() % (unsigned)u->npeers;
		upstream_pool_init(u);
		if (upstream_health_start(u) == -1)
			goto oom;
	}
	return (0);
oom:
	snprintf(err, errlen, "upstreams: out of memory");
	return (-1);
}

/*
 * Draining: nothing new is kept, nothing checked. With the checks
 * stopped their verdicts would hold for good: a request still waiting
 * in retry_wait would see a server down that came back. Passive health
 * goes on judging.
 */
void
upstream_drain(void)
{
	size_t	 i, j;

	for (i = 0; i < nupstreams; i++) {
		upstreams[i].draining = 1;
		upstream_pool_close(&upstreams[i]);
		upstream_health_stop(&upstreams[i]);
		for (j = 0; j < upstreams[i].npeers; j++)
			upstreams[i].peers[j].check_down = 0;
	}
}

void
upstream_shutdown(void)
{
	size_t	 i;

	upstream_drain();
	for (i = 0; i < nupstreams; i++)
		free(upstreams[i].peers);
	free(upstreams);
	upstreams = NULL;
	nupstreams = 0;
}

struct upstream *
upstream_get(const struct upstream_conf *uc)
{
	size_t	 i;

	for (i = 0; i < nupstreams; i++)
		if (upstreams[i].conf == uc)
			return (&upstreams[i]);
	return (NULL);
}

const struct upstream_conf *
upstream_conf_of(const struct upstream *u)
{
	return (u->conf);
}

const char *
upstream_peer_name(const struct upstream_peer *p)
{
	return (p->conf->text);
}

int
upstream_peer_usable(const struct upstream_peer *p, int64_t now)
{
	return (!p->check_down && p->down_until <= now);
}

int
upstream_all_down(const struct upstream *u, int64_t now)
{
	size_t	 i;

	for (i = 0; i < u->npeers; i++)
		if (upstream_peer_usable(&u->peers[i], now))
			return (0);
	return (1);
}

/* Passive health: max_fails failures within fail_timeout. */
void
upstream_peer_failed(struct upstream_peer *p)
{
	const struct upstream	*u;
	int64_t			 now;
	int			 span;

	u = p->up;
	if (u->conf->max_fails == 0)
		return;
	now = clock_now_ms();
	span = u->conf->fail_timeout * 1000;
	if (p->fails == 0 || now - p->fail_start > span) {
		p->fails = 0;
		p->fail_start = now;
	}
	if (++p->fails < u->conf->max_fails || p->down_until > now)
		return;
	p->down_until = now + span;
	log_warnx("upstream %s: server %s is down for %d s after %d failures "
	    "within %d s", u->conf->name, p->conf->text, u->conf->fail_timeout,
	    p->fails, u->conf->fail_timeout);
}

void
upstream_peer_ok(struct upstream_peer *p)
{
	const struct upstream	*u = p->up;

	if (p->down_until != 0)
		log_notice("upstream %s: server %s answers again",
		    u->conf->name, p->conf->text);
	p->fails = 0;
	p->down_until = 0;
}

/* The active check's verdict on p; logged when it changes. */
void
upstream_peer_check(struct upstream_peer *p, const struct upstream *u,
    int up, const char *why)
{
	if (up && p->check_down) {
		log_notice("upstream %s: server %s is up (health check)",
		    u->conf->name, p->conf->text);
		p->check_down = 0;
		p->fails = 0;
		p->down_until = 0;
	} else if (!up && !p->check_down) {
		log_warnx("upstream %s: server %s is down (health check: %s)",
		    u->conf->name, p->conf->text, why);
		p->check_down = 1;
	}
}
