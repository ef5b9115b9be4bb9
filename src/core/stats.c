/*
 * stats.c: the shared counters region (see stats.h).
 */
#include "autoconf.h"

#include <sys/mman.h>

#include <string.h>
#include <time.h>

#include "core/stats.h"

#define STATS_MAGIC	0x64726f7665727374ULL	/* "drovrst" */

struct stats_worker	*stats_self;
struct stats_shm	*stats_region;

/* Map the region; it is inherited by every worker forked afterwards. */
struct stats_shm *
stats_create(void)
{
	struct stats_shm	*shm;

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return (NULL);
	memset(shm, 0, sizeof(*shm));
	shm->magic = STATS_MAGIC;
	shm->started = (int64_t)time(NULL);
	stats_region = shm;
	return (shm);
}

void
stats_destroy(struct stats_shm *shm)
{
	if (shm == NULL)
		return;
	if (stats_region == shm)
		stats_region = NULL;
	munmap(shm, sizeof(*shm));
}

/* A free record for a worker about to be forked, or -1 if none. */
int
stats_alloc(struct stats_shm *shm, uint32_t generation, int slot)
{
	struct stats_worker	*w;
	int			 i;

	if (shm == NULL)
		return (-1);
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		w = &shm->workers[i];
		if (__atomic_load_n(&w->in_use, __ATOMIC_ACQUIRE))
			continue;
		memset(&w->c, 0, sizeof(w->c));
		w->pid = 0;
		w->generation = generation;
		w->slot = slot;
		w->started = (int64_t)time(NULL);
		__atomic_store_n(&w->in_use, 1, __ATOMIC_RELEASE);
		return (i);
	}
	return (-1);
}

void
stats_set_pid(struct stats_shm *shm, int idx, pid_t pid)
{
	if (shm != NULL && idx >= 0)
		__atomic_store_n(&shm->workers[idx].pid, pid,
		    __ATOMIC_RELAXED);
}

static void
stats_add(struct stats_counters *to, const struct stats_counters *from)
{
	int	 i;

	to->accepted += from->accepted;
	to->active += from->active;
	to->requests += from->requests;
	for (i = 0; i < STATS_NCLASSES; i++)
		to->responses[i] += from->responses[i];
	to->bytes_in += from->bytes_in;
	to->bytes_out += from->bytes_out;
	to->handoff_out += from->handoff_out;
	to->handoff_in += from->handoff_in;
	to->drain_closed += from->drain_closed;
}

/* A consistent-enough copy of one record (each field read atomically). */
void
stats_read(const struct stats_counters *in, struct stats_counters *out)
{
	int	 i;

	out->accepted = __atomic_load_n(&in->accepted, __ATOMIC_RELAXED);
	out->active = __atomic_load_n(&in->active, __ATOMIC_RELAXED);
	out->requests = __atomic_load_n(&in->requests, __ATOMIC_RELAXED);
	for (i = 0; i < STATS_NCLASSES; i++)
		out->responses[i] = __atomic_load_n(&in->responses[i],
		    __ATOMIC_RELAXED);
	out->bytes_in = __atomic_load_n(&in->bytes_in, __ATOMIC_RELAXED);
	out->bytes_out = __atomic_load_n(&in->bytes_out, __ATOMIC_RELAXED);
	out->handoff_out = __atomic_load_n(&in->handoff_out, __ATOMIC_RELAXED);
	out->handoff_in = __atomic_load_n(&in->handoff_in, __ATOMIC_RELAXED);
	out->drain_closed = __atomic_load_n(&in->drain_closed,
	    __ATOMIC_RELAXED);
}

/* The worker of record idx has exited: fold it into the totals. */
void
stats_retire(struct stats_shm *shm, int idx)
{
	struct stats_worker	*w;
	struct stats_counters	 c, r;
	int			 i;

	if (shm == NULL || idx < 0)
		return;
	w = &shm->workers[idx];
	stats_read(&w->c, &c);
	c.active = 0;	/* its connections died with it */
	r = shm->retired;
	stats_add(&r, &c);
	/* Readers may look at retired while we write it: field by field. */
	__atomic_store_n(&shm->retired.accepted, r.accepted, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired.requests, r.requests, __ATOMIC_RELAXED);
	for (i = 0; i < STATS_NCLASSES; i++)
		__atomic_store_n(&shm->retired.responses[i], r.responses[i],
		    __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired.bytes_in, r.bytes_in, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired.bytes_out, r.bytes_out,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired.handoff_out, r.handoff_out,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired.handoff_in, r.handoff_in,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired.drain_closed, r.drain_closed,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&shm->retired_workers, shm->retired_workers + 1,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&w->in_use, 0, __ATOMIC_RELEASE);
}

/* In a worker: count into record idx from now on. */
void
stats_attach(struct stats_shm *shm, int idx)
{
	stats_region = shm;
	stats_self = (shm != NULL && idx >= 0) ? &shm->workers[idx] : NULL;
}

/* Live workers plus retired ones. */
void
stats_total(const struct stats_shm *shm, struct stats_counters *out)
{
	struct stats_counters	 c;
	int			 i;

	memset(out, 0, sizeof(*out));
	if (shm == NULL)
		return;
	stats_read(&shm->retired, &c);
	stats_add(out, &c);
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		if (!__atomic_load_n(&shm->workers[i].in_use,
		    __ATOMIC_ACQUIRE))
			continue;
		stats_read(&shm->workers[i].c, &c);
		stats_add(out, &c);
	}
}
