/*
 * stats.h: counters in shared memory, by server, generation and slot.
 *
 * The master maps one region (a memfd) before forking anything. Each
 * worker process has a record (pid, heartbeat, draining) and counts into
 * one series per server it runs, keyed (server, generation, slot): a
 * worker that replaces a dead one in its slot counts on into the same
 * series, so series are bounded by servers x live generations x slots and
 * never by pids. When a generation has ended the master folds its series
 * into one "retired" series per server (generation 0), so totals never go
 * down. Across a binary upgrade the new master maps the same memfd
 * (stats_pass_on, stats_open): both masters and their workers share it.
 */
#ifndef DROVER_STATS_H
#define DROVER_STATS_H

#include <stdint.h>
#include <sys/types.h>

#define STATS_MAX_WORKERS	1100	/* two full generations, and more */
#define STATS_MAX_SERIES	16384	/* servers x generations x slots */
#define STATS_NAME_MAX		64	/* CONF_NAME_MAX */
#define STATS_ENV		"DROVER_STATS_FD"

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
	uint64_t	 drain_closed;	/* a drain closed: no one took them */
	uint64_t	 datagrams_in;	/* UDP: read from clients */
	uint64_t	 datagrams_out;	/* UDP: sent to clients */
	uint64_t	 dropped_full;	/* UDP: not sent, buffer full */
	uint64_t	 dropped_upstream; /* UDP: upstream down */
	uint64_t	 dropped_session; /* UDP: session limit */
	uint64_t	 proxy_header_errors; /* PROXY header bad, late, none */
};

/* One worker process (in_use: 0 free, 1 taken; CAS between masters). */
struct stats_worker {
	uint32_t		 in_use;
	int32_t			 pid;
	uint32_t		 generation;
	int32_t			 slot;
	int64_t			 started;	/* unix time */
	int64_t			 heartbeat;	/* CLOCK_MONOTONIC s */
	int32_t			 master;	/* pid of its master */
	uint32_t		 draining;
};

enum stats_series_state {
	STATS_SERIES_FREE = 0,
	STATS_SERIES_CLAIMED,	/* being filled in: readers skip it */
	STATS_SERIES_LIVE,
};

/* The counters of one server in one slot of one generation. */
struct stats_series {
	uint32_t		 in_use;	/* enum stats_series_state */
	uint32_t		 generation;	/* 0: the server's retired */
	int32_t			 slot;		/* -1: retired */
	int32_t			 pad;
	char			 server[STATS_NAME_MAX];
	struct stats_counters	 c;
};

struct stats_shm {
	uint64_t		 magic;
	uint64_t		 size;		/* of this struct: the layout */
	int64_t			 started;	/* first master's start */
	uint32_t		 last_generation; /* shared by both masters */
	uint32_t		 folding;	/* folds running */
	uint64_t		 folds;		/* folds done */
	uint64_t		 retired_workers;
	uint64_t		 reloads_ok;	/* reloads, upgrades: outcome */
	uint64_t		 reloads_failed;
	uint32_t		 foreign_sockets; /* in our groups now */
	uint32_t		 pad;
	uint64_t		 foreign_seen;	/* ever noticed */
	struct stats_worker	 workers[STATS_MAX_WORKERS];
	struct stats_series	 series[STATS_MAX_SERIES];
};

/* The calling worker's record (NULL before stats_attach). */
extern struct stats_worker	*stats_self;
extern struct stats_shm		*stats_region;

/* stats.c: the region and worker records */
struct stats_shm	*stats_open(int);
void			 stats_destroy(struct stats_shm *);
int			 stats_pass_on(void);
unsigned		 stats_generation_next(struct stats_shm *, unsigned);
int			 stats_alloc(struct stats_shm *, uint32_t, int);
void			 stats_set_pid(struct stats_shm *, int, pid_t);
void			 stats_set_draining(struct stats_shm *, int);
void			 stats_retire(struct stats_shm *, int);
void			 stats_attach(struct stats_shm *, int);
void			 stats_heartbeat(void);
int64_t			 stats_heartbeat_of(const struct stats_shm *, int);
void			 stats_heartbeat_clear(struct stats_shm *, int);
void			 stats_set_foreign(struct stats_shm *, uint32_t,
			     uint64_t);

/* stats_series.c: counters by server, generation and slot */
int			 stats_series_get(struct stats_shm *, const char *,
			     uint32_t, int);
struct stats_counters	*stats_series_find(struct stats_shm *, const char *,
			     uint32_t, int);
void			 stats_series_end(struct stats_shm *, uint32_t);
void			 stats_series_idle(struct stats_shm *, uint32_t, int);
void			 stats_series_drain_closed(struct stats_shm *,
			     const char *);
void			 stats_add(struct stats_counters *,
			     const struct stats_counters *);
void			 stats_read(const struct stats_counters *,
			     struct stats_counters *);
int			 stats_snapshot(const struct stats_shm *,
			     struct stats_series **);
void			 stats_total(const struct stats_shm *,
			     struct stats_counters *);
uint64_t		 stats_series_active(const struct stats_shm *,
			     uint32_t, int);

/* A worker counts into its series st (NULL: not counted); relaxed atomics,
 * one writer: the slot's one live worker. */
#define STATS_ADD(st, field, n) do {					\
	struct stats_counters *stats_st_ = (st);			\
	if (stats_st_ != NULL)						\
		__atomic_store_n(&stats_st_->field,			\
		    __atomic_load_n(&stats_st_->field,			\
		    __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED);		\
} while (0)
#define STATS_SUB(st, field, n)	STATS_ADD(st, field, -(uint64_t)(n))

#endif
