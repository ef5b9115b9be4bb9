/*
 * stats.c: the shared counters region and its worker records (see
 * stats.h); the series are in stats_series.c.
 */
#include "autoconf.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stats.h"

#define STATS_MAGIC	0x64726f7665727374ULL	/* "drovrst" */

struct stats_worker	*stats_self;
struct stats_shm	*stats_region;
static int		 stats_fd = -1;	/* the memfd behind stats_region */

/* Map fd as the region; NULL if it is not one of ours of this layout. */
static struct stats_shm *
stats_map(int fd, int fresh)
{
	struct stats_shm	*shm;
	struct stat		 st;

	if (fstat(fd, &st) == -1 || (size_t)st.st_size != sizeof(*shm))
		return (NULL);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (shm == MAP_FAILED)
		return (NULL);
	if (fresh) {
		shm->magic = STATS_MAGIC;
		shm->size = sizeof(*shm);
		shm->started = (int64_t)time(NULL);
	} else if (shm->magic != STATS_MAGIC || shm->size != sizeof(*shm)) {
		munmap(shm, sizeof(*shm));
		return (NULL);
	}
	return (shm);
}

/* The region the old master passed on in the environment, or NULL. */
static struct stats_shm *
stats_inherit(void)
{
	struct stats_shm	*shm;
	const char		*env = getenv(STATS_ENV);
	char			*end;
	long			 fd;

	if (env == NULL)
		return (NULL);
	errno = 0;
	fd = strtol(env, &end, 10);
	if (*env == '\0' || *end != '\0' || errno != 0 || fd < 0 ||
	    fd > 1 << 20) {
		log_warnx("stats: %s=%s: not a descriptor: counting from zero",
		    STATS_ENV, env);
		unsetenv(STATS_ENV);
		return (NULL);
	}
	unsetenv(STATS_ENV);
	/* Left open if it is not ours: it may be something else inherited. */
	if ((shm = stats_map((int)fd, 0)) == NULL) {
		log_warnx("stats: descriptor %ld is no counters region of this "
		    "version (another layout?): counting from zero", fd);
		return (NULL);
	}
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	stats_fd = (int)fd;
	log_info("stats: carrying on the old master's counters");
	return (shm);
}

/*
 * Map the region; every worker forked afterwards inherits it. After a
 * binary upgrade (inherit) it is the old master's, so totals carry on.
 */
struct stats_shm *
stats_open(int inherit)
{
	struct stats_shm	*shm = NULL;
	int			 fd;

	if (inherit)
		shm = stats_inherit();
	else
		unsetenv(STATS_ENV);
	if (shm == NULL) {
		fd = memfd_create("drover-stats", MFD_CLOEXEC);
		if (fd != -1 && ftruncate(fd, sizeof(*shm)) == 0 &&
		    (shm = stats_map(fd, 1)) != NULL)
			stats_fd = fd;
		else if (fd != -1)
			close(fd);
	}
	if (shm == NULL) {
		/* No memfd: counted still, but not carried across exec. */
		shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (shm == MAP_FAILED)
			return (NULL);
		shm->magic = STATS_MAGIC;
		shm->size = sizeof(*shm);
		shm->started = (int64_t)time(NULL);
	}
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
	if (stats_fd != -1)
		close(stats_fd);
	stats_fd = -1;
}

/* In the child about to exec a new master: let the region survive exec
 * and name it in the environment. -1 if there is nothing to pass on. */
int
stats_pass_on(void)
{
	char	 buf[32];

	if (stats_fd == -1 || fcntl(stats_fd, F_SETFD, 0) == -1)
		return (-1);
	snprintf(buf, sizeof(buf), "%d", stats_fd);
	return (setenv(STATS_ENV, buf, 1));
}

/* A generation number neither master has used (they share the region),
 * so series of the old and the new master never share a key. */
unsigned
stats_generation_next(struct stats_shm *shm, unsigned last)
{
	if (shm == NULL)
		return (last + 1);
	return (__atomic_add_fetch(&shm->last_generation, 1,
	    __ATOMIC_RELAXED));
}

/* A free record for a worker about to be forked, or -1 if none. */
int
stats_alloc(struct stats_shm *shm, uint32_t generation, int slot)
{
	struct stats_worker	*w;
	uint32_t		 free_;
	int			 i;

	if (shm == NULL)
		return (-1);
	for (i = 0; i < STATS_MAX_WORKERS; i++) {
		w = &shm->workers[i];
		free_ = 0;
		/* The other master may be taking records at the same time. */
		if (!__atomic_compare_exchange_n(&w->in_use, &free_, 2, 0,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		w->pid = 0;
		w->generation = generation;
		w->slot = slot;
		w->started = (int64_t)time(NULL);
		w->heartbeat = 0;
		w->master = (int32_t)getpid();
		w->draining = 0;
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

/* The worker of record idx was told to drain. */
void
stats_set_draining(struct stats_shm *shm, int idx)
{
	if (shm != NULL && idx >= 0)
		__atomic_store_n(&shm->workers[idx].draining, 1,
		    __ATOMIC_RELAXED);
}

/*
 * The worker of record idx has exited: its open connections died with it
 * (its series' "active" goes to 0; the next worker of the slot counts on
 * in the same series) and its record is free.
 */
void
stats_retire(struct stats_shm *shm, int idx)
{
	struct stats_worker	*w;

	if (shm == NULL || idx < 0)
		return;
	w = &shm->workers[idx];
	stats_series_idle(shm, w->generation, w->slot);
	__atomic_add_fetch(&shm->retired_workers, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&w->in_use, 0, __ATOMIC_RELEASE);
}

/* In a worker: its record, for the heartbeat and the stats handlers. */
void
stats_attach(struct stats_shm *shm, int idx)
{
	stats_region = shm;
	stats_self = (shm != NULL && idx >= 0) ? &shm->workers[idx] : NULL;
	/* The mapping is inherited; the descriptor is the master's. */
	if (stats_fd != -1)
		close(stats_fd);
	stats_fd = -1;
}

/* In a worker: its loop has turned (see heartbeat.c). */
void
stats_heartbeat(void)
{
	struct timespec	 now;

	if (stats_self == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	__atomic_store_n(&stats_self->heartbeat, (int64_t)now.tv_sec,
	    __ATOMIC_RELAXED);
}

/* When record idx's worker last turned its loop; 0 if never (or -1). */
int64_t
stats_heartbeat_of(const struct stats_shm *shm, int idx)
{
	if (shm == NULL || idx < 0)
		return (0);
	return (__atomic_load_n(&shm->workers[idx].heartbeat,
	    __ATOMIC_RELAXED));
}

/* Forget record idx's heartbeat: it was killed for its silence. */
void
stats_heartbeat_clear(struct stats_shm *shm, int idx)
{
	if (shm != NULL && idx >= 0)
		__atomic_store_n(&shm->workers[idx].heartbeat, 0,
		    __ATOMIC_RELAXED);
}

/* The master's count of foreign sockets in its reuseport groups: now,
 * and ever noticed (master_foreign.c). */
void
stats_set_foreign(struct stats_shm *shm, uint32_t now, uint64_t seen)
{
	if (shm == NULL)
		return;
	__atomic_store_n(&shm->foreign_sockets, now, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->foreign_seen, seen, __ATOMIC_RELAXED);
}
