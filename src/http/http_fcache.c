/*
 * http_fcache.c: the open-file cache of static files.
 *
 * Without it a static response costs openat2, fstat, sendfile and close
 * (and an index file one more open). With it a hot file costs nothing but
 * the send: a small file's bytes go out of memory with the head in one
 * send(), a large one's with sendfile() from a descriptor kept open.
 *
 * The cache never decides what a path means: http_static.c opens the
 * file beneath the root as before and hands the result in. Once an entry
 * is older than FCACHE_VALID_MS the next request re-opens the path and
 * keeps the entry only if it is still the same file (device, inode, size,
 * mtime), so a changed, replaced or deleted file is noticed within a
 * second, and a path is never resolved other than beneath the root.
 *
 * Entries in use by a response being sent are counted (refs) and freed
 * only when the last one is done, even if they were replaced meanwhile.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_fcache.h"

#define FCACHE_BUCKETS		512	/* power of two */
#define FCACHE_RACY_SECONDS	2	/* mtime this recent: bytes not kept */

TAILQ_HEAD(fcache_lru, http_file);

struct http_fcache {
	struct http_file	*buckets[FCACHE_BUCKETS];
	struct fcache_lru	 lru;		/* most recently used first */
	size_t			 count;
};

static uint32_t
fcache_hash(int loc, const char *key, size_t len)
{
	uint32_t	 h = 2166136261u ^ (uint32_t)loc;
	size_t		 i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return (h);
}

struct http_fcache *
fcache_new(void)
{
	struct http_fcache	*fc;

	if ((fc = calloc(1, sizeof(*fc))) == NULL)
		return (NULL);
	TAILQ_INIT(&fc->lru);
	return (fc);
}

static void
fcache_entry_free(struct http_file *f)
{
	if (f->fd != -1)
		close(f->fd);
	free(f->data);
	free(f->key);
	free(f);
}

/* Take f out of the table; it is freed once no response uses it. */
void
fcache_drop(struct http_fcache *fc, struct http_file *f)
{
	struct http_file	**pp;

	if (!f->cached)
		return;
	for (pp = &fc->buckets[f->hash & (FCACHE_BUCKETS - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	TAILQ_REMOVE(&fc->lru, f, lru);
	f->cached = 0;
	fc->count--;
	if (f->refs == 0)
		fcache_entry_free(f);
}

void
fcache_free(struct http_fcache *fc)
{
	struct http_file	*f;

	if (fc == NULL)
		return;
	/* Connections are closed first, so nothing holds an entry. */
	while ((f = TAILQ_FIRST(&fc->lru)) != NULL)
		fcache_drop(fc, f);
	free(fc);
}

size_t
fcache_count(const struct http_fcache *fc)
{
	return (fc->count);
}

/* The entry for (loc, path), fresh or not; NULL if there is none. */
struct http_file *
fcache_find(struct http_fcache *fc, int loc, const char *key, size_t len)
{
	struct http_file	*f;
	uint32_t		 h = fcache_hash(loc, key, len);

	for (f = fc->buckets[h & (FCACHE_BUCKETS - 1)]; f != NULL;
	    f = f->hnext) {
		if (f->hash == h && f->loc == loc && f->keylen == len &&
		    memcmp(f->key, key, len) == 0)
			return (f);
	}
	return (NULL);
}

/* Is st the file the entry describes? */
int
fcache_same(const struct http_file *f, const struct stat *st)
{
	return (f->dev == st->st_dev && f->ino == st->st_ino &&
	    f->size == st->st_size &&
	    f->mtime.tv_sec == st->st_mtim.tv_sec &&
	    f->mtime.tv_nsec == st->st_mtim.tv_nsec);
}

/*
 * May the bytes of a file with this mtime be kept? Not if it changed in
 * the last moments: a write in the same mtime tick after our read would
 * leave mtime and size as they were, and the stale bytes would never be
 * noticed. Such a file is sent from its descriptor until it is older.
 */
static int
fcache_racy(const struct timespec *mtime)
{
	return (time(NULL) - mtime->tv_sec < FCACHE_RACY_SECONDS);
}

/* Is st the file the entry describes, and need it not be read again? */
int
fcache_keep(const struct http_file *f, const struct stat *st)
{
	if (!fcache_same(f, st))
		return (0);
	/* Kept as a descriptor while it was new: now load its bytes. */
	return (f->data != NULL || f->size > FCACHE_DATA_MAX ||
	    fcache_racy(&f->mtime));
}

/* Read a small file whole; -1 if it changed size under us. */
static int
fcache_read_all(struct http_file *f)
{
	size_t	 got = 0;
	ssize_t	 n;

	if ((f->data = malloc(f->size > 0 ? (size_t)f->size : 1)) == NULL)
		return (-1);
	while (got < (size_t)f->size) {
		n = pread(f->fd, f->data + got, (size_t)f->size - got,
		    (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)f->size) {
		free(f->data);
		f->data = NULL;
		return (-1);
	}
	return (0);
}

/* Make room for one more entry: drop the least recently used. */
static void
fcache_evict(struct http_fcache *fc)
{
	struct http_file	*f;

	while (fc->count >= FCACHE_ENTRIES_MAX &&
	    (f = TAILQ_LAST(&fc->lru, fcache_lru)) != NULL)
		fcache_drop(fc, f);
}

/* Describe the open regular file fd (st) in f: what a response needs. */
void
fcache_describe(struct http_file *f, int fd, const struct stat *st,
    const char *ctype)
{
	f->fd = fd;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->ctype = ctype;
	snprintf(f->etag, sizeof(f->etag), "\"%" PRIx64 "-%" PRIx64 "\"",
	    (uint64_t)st->st_mtime, (uint64_t)st->st_size);
	http_date_format(st->st_mtime, f->lastmod);
}

/*
 * Install the file fd (a regular file, opened for this path) and return
 * the entry with a reference held. The entry owns fd from then on. NULL
 * if memory is short: fd is then still the caller's.
 */
struct http_file *
fcache_put(struct http_fcache *fc, int loc, const char *key, size_t len,
    int fd, const struct stat *st, const char *ctype)
{
	struct http_file	*f, *old;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->key = malloc(len > 0 ? len : 1)) == NULL) {
		free(f);
		return (NULL);
	}
	memcpy(f->key, key, len);
	f->keylen = len;
	f->loc = loc;
	f->hash = fcache_hash(loc, key, len);
	fcache_describe(f, fd, st, ctype);
	if (f->size <= FCACHE_DATA_MAX && !fcache_racy(&f->mtime) &&
	    fcache_read_all(f) == 0) {
		close(f->fd);
		f->fd = -1;
	}
	if ((old = fcache_find(fc, loc, key, len)) != NULL)
		fcache_drop(fc, old);
	fcache_evict(fc);
	f->hnext = fc->buckets[f->hash & (FCACHE_BUCKETS - 1)];
	fc->buckets[f->hash & (FCACHE_BUCKETS - 1)] = f;
	TAILQ_INSERT_HEAD(&fc->lru, f, lru);
	f->cached = 1;
	f->refs = 1;
	fc->count++;
	return (f);
}

/* A response uses f: hold it, and keep it from being evicted first. */
void
fcache_hold(struct http_fcache *fc, struct http_file *f)
{
	f->refs++;
	if (f->cached && TAILQ_FIRST(&fc->lru) != f) {
		TAILQ_REMOVE(&fc->lru, f, lru);
		TAILQ_INSERT_HEAD(&fc->lru, f, lru);
	}
}

void
fcache_release(struct http_fcache *fc, struct http_file *f)
{
	if (f->refs > 0)
		f->refs--;
	if (f->refs == 0 && !f->cached)
		fcache_entry_free(f);
	(void)fc;
}
