/*
 * stats_series.c: the counters by (server, generation, slot) in the shared
 * region (see stats.h), and their fold into one retired series per server
 * once a generation has ended.
 *
 * Both masters of a binary upgrade take series from the same table; a
 * series is claimed with a compare-and-swap, filled in, then published.
 * Their generation numbers differ (stats_generation_next), so only the
 * retired series (generation 0) can be created twice for one server;
 * readers add such twins up.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/stats.h"

#define STATS_SNAPSHOT_TRIES	100	/* 1 ms apart, while a fold runs */

static int
stats_series_live(const struct stats_series *s)
{
	return (__atomic_load_n(&s->in_use, __ATOMIC_ACQUIRE) ==
	    STATS_SERIES_LIVE);
}

static int
stats_series_is(const struct stats_series *s, const char *server,
    uint32_t generation, int slot)
{
	return (stats_series_live(s) && s->generation == generation &&
	    s->slot == slot && strcmp(s->server, server) == 0);
}

/* The index of the series for (server, generation, slot), or -1. */
static int
stats_series_index(const struct stats_shm *shm, const char *server,
    uint32_t generation, int slot)
{
	int	 i;

	for (i = 0; i < STATS_MAX_SERIES; i++)
		if (stats_series_is(&shm->series[i], server, generation, slot))
			return (i);
	return (-1);
}

/* The series for (server, generation, slot), created if need be; -1 if
 * the table is full. */
int
stats_series_get(struct stats_shm *shm, const char *server,
    uint32_t generation, int slot)
{
	struct stats_series	*s;
	uint32_t		 expect;
	int			 i;

	if (shm == NULL)
		return (-1);
	if ((i = stats_series_index(shm, server, generation, slot)) != -1)
		return (i);
	for (i = 0; i < STATS_MAX_SERIES; i++) {
		s = &shm->series[i];
		expect = STATS_SERIES_FREE;
		if (!__atomic_compare_exchange_n(&s->in_use, &expect,
		    STATS_SERIES_CLAIMED, 0, __ATOMIC_ACQUIRE,
		    __ATOMIC_RELAXED))
			continue;
		memset(&s->c, 0, sizeof(s->c));
		s->generation = generation;
		s->slot = slot;
		snprintf(s->server, sizeof(s->server), "%s", server);
		__atomic_store_n(&s->in_use, STATS_SERIES_LIVE,
		    __ATOMIC_RELEASE);
		return (i);
	}
	return (-1);
}

/* In a worker: where to count for a server of its slot (NULL: nowhere). */
struct stats_counters *
stats_series_find(struct stats_shm *shm, const char *server,
    uint32_t generation, int slot)
{
	int	 i;

	if (shm == NULL ||
	    (i = stats_series_index(shm, server, generation, slot)) == -1)
		return (NULL);
	return (&shm->series[i].c);
}

/*
 * A connection of a server this generation does not run was closed by a
 * drain (its handover found no taker): count it in the server's retired
 * series, with an atomic add as the folds do.
 */
void
stats_series_drain_closed(struct stats_shm *shm, const char *server)
{
	int	 i;

	if ((i = stats_series_get(shm, server, 0, -1)) != -1)
		__atomic_add_fetch(&shm->series[i].c.drain_closed, 1,
		    __ATOMIC_RELAXED);
}

/* The slot's worker is dead: so are the connections it had open. */
void
stats_series_idle(struct stats_shm *shm, uint32_t generation, int slot)
{
	struct stats_series	*s;
	int			 i;

	for (i = 0; i < STATS_MAX_SERIES; i++) {
		s = &shm->series[i];
		if (stats_series_live(s) && s->generation == generation &&
		    s->slot == slot)
			__atomic_store_n(&s->c.active, 0, __ATOMIC_RELAXED);
	}
}

/*
 * Every field of struct stats_counters is a uint64_t, so the three copies
 * below (add, read, fold) go over them as an array: a counter added to
 * the struct is added, read and folded without a line here.
 */
#define STATS_NFIELDS	(sizeof(struct stats_counters) / sizeof(uint64_t))
_Static_assert(sizeof(struct stats_counters) % sizeof(uint64_t) == 0,
    "struct stats_counters holds uint64_t fields only");

#define STATS_FIELDS(c)		((uint64_t *)(void *)(c))
#define STATS_CFIELDS(c)	((const uint64_t *)(const void *)(c))
#define STATS_ACTIVE	(offsetof(struct stats_counters, active) / \
			    sizeof(uint64_t))

/*
 * Add a snapshot into a series another master may be adding to too; not
 * "active", which is a gauge of live connections (they died with the
 * generation).
 */
static void
stats_fold(struct stats_counters *to, const struct stats_counters *c)
{
	size_t	 i;

	for (i = 0; i < STATS_NFIELDS; i++)
		if (i != STATS_ACTIVE)
			__atomic_add_fetch(&STATS_FIELDS(to)[i],
			    STATS_CFIELDS(c)[i], __ATOMIC_RELAXED);
}

/*
 * Generation has ended (its workers are all reaped): fold its series into
 * their servers' retired series and free them. A count is in both for an
 * instant: stats_snapshot waits for folds under way, so no reader sees a
 * total go up then down.
 */
void
stats_series_end(struct stats_shm *shm, uint32_t generation)
{
	struct stats_series	*s;
	struct stats_counters	 c;
	int			 i, r;

	if (shm == NULL)
		return;
	__atomic_add_fetch(&shm->folding, 1, __ATOMIC_ACQ_REL);
	for (i = 0; i < STATS_MAX_SERIES; i++) {
		s = &shm->series[i];
		if (!stats_series_live(s) || s->generation != generation ||
		    s->slot < 0)
			continue;
		stats_read(&s->c, &c);
		if ((r = stats_series_get(shm, s->server, 0, -1)) == -1)
			continue;	/* full: kept as it is, still counted */
		stats_fold(&shm->series[r].c, &c);
		__atomic_store_n(&s->in_use, STATS_SERIES_FREE,
		    __ATOMIC_RELEASE);
	}
	__atomic_add_fetch(&shm->folds, 1, __ATOMIC_ACQ_REL);
	__atomic_sub_fetch(&shm->folding, 1, __ATOMIC_ACQ_REL);
}

void
stats_add(struct stats_counters *to, const struct stats_counters *from)
{
	size_t	 i;

	for (i = 0; i < STATS_NFIELDS; i++)
		STATS_FIELDS(to)[i] += STATS_CFIELDS(from)[i];
}

/* A consistent-enough copy of one series (each field read atomically). */
void
stats_read(const struct stats_counters *in, struct stats_counters *out)
{
	size_t	 i;

	for (i = 0; i < STATS_NFIELDS; i++)
		STATS_FIELDS(out)[i] = __atomic_load_n(&STATS_CFIELDS(in)[i],
		    __ATOMIC_RELAXED);
}

/* Copy the live series into *v (grown as needed); their number, or -1. */
static int
stats_copy(const struct stats_shm *shm, struct stats_series **v, int *cap)
{
	struct stats_series	*nv;
	int			 i, n = 0;

	for (i = 0; i < STATS_MAX_SERIES; i++) {
		if (!stats_series_live(&shm->series[i]))
			continue;
		if (n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			if ((nv = realloc(*v, (size_t)*cap * sizeof(*nv))) ==
			    NULL)
				return (-1);
			*v = nv;
		}
		nv = &(*v)[n++];
		nv->in_use = STATS_SERIES_LIVE;
		nv->generation = shm->series[i].generation;
		nv->slot = shm->series[i].slot;
		memcpy(nv->server, shm->series[i].server, sizeof(nv->server));
		nv->server[sizeof(nv->server) - 1] = '\0';
		stats_read(&shm->series[i].c, &nv->c);
	}
	return (n);
}

/* Add retired twins (both masters made one) into the first; new count. */
static int
stats_merge_twins(struct stats_series *v, int n)
{
	int	 i, j, k;

	for (i = 0; i < n; i++) {
		if (v[i].slot >= 0)
			continue;
		for (j = i + 1; j < n; j++) {
			if (v[j].slot >= 0 || strcmp(v[i].server,
			    v[j].server) != 0)
				continue;
			stats_add(&v[i].c, &v[j].c);
			for (k = j; k + 1 < n; k++)
				v[k] = v[k + 1];
			n--;
			j--;
		}
	}
	return (n);
}

/* By server, then generation, then slot; a server's retired series last. */
static int
stats_series_cmp(const void *a, const void *b)
{
	const struct stats_series	*x = a, *y = b;
	int				 c;
	uint32_t			 gx, gy;

	if ((c = strcmp(x->server, y->server)) != 0)
		return (c);
	gx = x->slot < 0 ? UINT32_MAX : x->generation;
	gy = y->slot < 0 ? UINT32_MAX : y->generation;
	if (gx != gy)
		return (gx < gy ? -1 : 1);
	return (x->slot < y->slot ? -1 : x->slot > y->slot);
}

/*
 * A copy of every live series for a reader (malloc'd in *out), taken
 * when no generation is being folded, so that a count is never seen
 * twice; after STATS_SNAPSHOT_TRIES it makes do. The count, or -1.
 */
int
stats_snapshot(const struct stats_shm *shm, struct stats_series **out)
{
	struct timespec	 ms = { 0, 1000000 };
	uint64_t	 folds;
	int		 n = -1, cap = 0, try, last;

	*out = NULL;
	for (try = 0;; try++) {
		last = try >= STATS_SNAPSHOT_TRIES;
		folds = __atomic_load_n(&shm->folds, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&shm->folding, __ATOMIC_ACQUIRE) == 0 ||
		    last) {
			if ((n = stats_copy(shm, out, &cap)) == -1 || last)
				break;
			if (__atomic_load_n(&shm->folding, __ATOMIC_ACQUIRE) ==
			    0 && __atomic_load_n(&shm->folds,
			    __ATOMIC_ACQUIRE) == folds)
				break;
		}
		nanosleep(&ms, NULL);
	}
	if (n == -1) {
		free(*out);
		*out = NULL;
		return (-1);
	}
	n = stats_merge_twins(*out, n);
	if (n > 1)
		qsort(*out, (size_t)n, sizeof(**out), stats_series_cmp);
	return (n);
}

/* Every live series summed (a snapshot: see stats_snapshot). */
void
stats_total(const struct stats_shm *shm, struct stats_counters *out)
{
	struct stats_series	*v;
	int			 i, n;

	memset(out, 0, sizeof(*out));
	if (shm == NULL || (n = stats_snapshot(shm, &v)) == -1)
		return;
	for (i = 0; i < n; i++)
		stats_add(out, &v[i].c);
	free(v);
}

/* The open connections of one worker slot, over its servers. */
uint64_t
stats_series_active(const struct stats_shm *shm, uint32_t generation,
    int slot)
{
	const struct stats_series	*s;
	uint64_t			 n = 0;
	int				 i;

	for (i = 0; shm != NULL && i < STATS_MAX_SERIES; i++) {
		s = &shm->series[i];
		if (stats_series_live(s) && s->generation == generation &&
		    s->slot == slot)
			n += __atomic_load_n(&s->c.active, __ATOMIC_RELAXED);
	}
	return (n);
}
