/*
 * stats.h: per-worker counters in shared memory.
 *
 * The master maps one region before forking anything and gives each worker
 * a record in it. A worker is the only writer of its record; anyone (the
 * stats handlers of any worker) may read every record. When a worker has
 * exited the master folds its counters into the "retired" record, so
 * totals survive worker replacement and reloads.
 */
#ifndef DROVER_STATS_H
#define DROVER_STATS_H

#include <stdint.h>
#include <sys/types.h>

#define STATS_MAX_WORKERS	1100	/* two full generations, and more */

enum stats_class {
	STATS_1XX = 0,
	STATS_2XX,
	STATS_3XX,
	STATS_4XX,
	STATS_5XX,
	STATS_NCLASSES
};

struct stats_counters {
	uint64_t	 accepted;
	uint64_t	 active;
	uint64_t	 requests;
	uint64_t	 responses[STATS_NCLASSES];
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
	uint64_t	 handoff_out;	/* idle connections handed on (drain) */
	uint64_t	 handoff_in;	/* idle connections taken over */
	uint64_t	 drain_closed;	/* closed by a drain: no one took them */
};

struct stats_worker {
	uint32_t		 in_use;
	int32_t			 pid;
	uint32_t		 generation;
	int32_t			 slot;
	int64_t			 started;	/* unix time */
	int64_t			 heartbeat;	/* CLOCK_MONOTONIC s, loop turned */
	struct stats_counters	 c;
};

struct stats_shm {
	uint64_t		 magic;
	int64_t			 started;	/* master start, unix time */
	struct stats_counters	 retired;	/* exited workers, summed */
	uint64_t		 retired_workers;
	uint64_t		 reloads_ok;	/* reloads and upgrades, by outcome */
	uint64_t		 reloads_failed;
	struct stats_worker	 workers[STATS_MAX_WORKERS];
};

/* The calling worker's record (NULL before stats_attach). */
extern struct stats_worker	*stats_self;
extern struct stats_shm		*stats_region;

struct stats_shm	*stats_create(void);
void			 stats_destroy(struct stats_shm *);
int			 stats_alloc(struct stats_shm *, uint32_t, int);
void			 stats_set_pid(struct stats_shm *, int, pid_t);
void			 stats_retire(struct stats_shm *, int);
void			 stats_attach(struct stats_shm *, int);
void			 stats_total(const struct stats_shm *,
			     struct stats_counters *);
void			 stats_read(const struct stats_counters *,
			     struct stats_counters *);

/* A worker counts into its own record; relaxed atomics, single writer. */
#define STATS_ADD(field, n) do {					\
	if (stats_self != NULL)						\
		__atomic_store_n(&stats_self->c.field,			\
		    __atomic_load_n(&stats_self->c.field,		\
		    __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED);		\
} while (0)
#define STATS_SUB(field, n)	STATS_ADD(field, -(uint64_t)(n))

#endif
