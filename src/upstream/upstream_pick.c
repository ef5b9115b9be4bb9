/*
 * upstream_pick.c: which server a connection tries next.
 *
 * Servers already tried by this connection are skipped. Among the rest,
 * the ones up are preferred; when none is up, a server that is down only
 * by its failure count is tried anyway (an application that restarts is
 * refused a few times and would otherwise stay shunned for fail_timeout
 * after it is back), but never one the active check holds down.
 */
#include "autoconf.h"

#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "core/clock.h"
#include "upstream/upstream_int.h"

#define PICK_UNTRIED(uc, i)	(((uc)->tried & (UINT64_C(1) << (i))) == 0)

/* FNV-1a of the client's address without the port. */
static uint32_t
upstream_pick_hash(const struct upstream_connect *uc)
{
	const struct sockaddr_in	*sin = (const void *)&uc->client;
	const struct sockaddr_in6	*sin6 = (const void *)&uc->client;
	const unsigned char		*p;
	size_t				 n, i;
	uint32_t			 h = 2166136261u;

	if (uc->client.ss_family == AF_INET) {
		p = (const unsigned char *)&sin->sin_addr;
		n = sizeof(sin->sin_addr);
	} else if (uc->client.ss_family == AF_INET6) {
		p = (const unsigned char *)&sin6->sin6_addr;
		n = sizeof(sin6->sin6_addr);
	} else
		return (0);
	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return (h);
}

/* Whether server i is a candidate: untried and, on the first pass, up. */
static int
upstream_pick_ok(const struct upstream *u, const struct upstream_connect *uc,
    size_t i, int pass, int64_t now)
{
	const struct upstream_peer	*p = &u->peers[i];

	if (!PICK_UNTRIED(uc, i) || p->check_down)
		return (0);
	return (pass == 1 || upstream_peer_usable(p, now));
}

static struct upstream_peer *
upstream_pick_pass(struct upstream *u, const struct upstream_connect *uc,
    int pass, int64_t now)
{
	struct upstream_peer	*best = NULL;
	size_t			 i, k, start;

	switch (u->conf->balance) {
	case BALANCE_CLIENT_HASH:
		start = upstream_pick_hash(uc) % u->npeers;
		break;
	default:
		start = u->rr % u->npeers;
		break;
	}
	for (k = 0; k < u->npeers; k++) {
		i = (start + k) % u->npeers;
		if (!upstream_pick_ok(u, uc, i, pass, now))
			continue;
		if (u->conf->balance != BALANCE_LEAST_CONN) {
			best = &u->peers[i];
			break;
		}
		if (best == NULL || u->peers[i].active < best->active)
			best = &u->peers[i];
	}
	if (best != NULL && u->conf->balance != BALANCE_CLIENT_HASH)
		u->rr = best->index + 1;
	return (best);
}

struct upstream_peer *
upstream_pick(struct upstream *u, const struct upstream_connect *uc)
{
	struct upstream_peer	*p;
	int64_t			 now = clock_now_ms();

	if ((p = upstream_pick_pass(u, uc, 0, now)) == NULL)
		p = upstream_pick_pass(u, uc, 1, now);
	return (p);
}

/* Whether a server is left to try, without moving round_robin on. */
int
upstream_pick_left(const struct upstream *u, const struct upstream_connect *uc)
{
	size_t	 i;

	for (i = 0; i < u->npeers; i++)
		if (upstream_pick_ok(u, uc, i, 1, 0))
			return (1);
	return (0);
}
