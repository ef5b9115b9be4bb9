/*
 * http_fcache.h: the open-file cache of static files, per worker and
 * server. An entry maps (location, request path) to an open regular file
 * and what its response needs: size, validators, MIME type and, for a
 * small file, its bytes. Entries are revalidated (re-opened beneath the
 * root and compared) once they are older than FCACHE_VALID_MS.
 */
#ifndef DROVER_HTTP_FCACHE_H
#define DROVER_HTTP_FCACHE_H

#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/http_date.h"

#define FCACHE_VALID_MS		1000	/* trust an entry this long */
#define FCACHE_DATA_MAX		(32 * 1024)	/* bytes kept in memory */
#define FCACHE_ENTRIES_MAX	256

struct http_file {
	struct http_file	*hnext;		/* hash chain */
	TAILQ_ENTRY(http_file)	 lru;
	uint32_t		 hash;
	int			 loc;		/* location index */
	char			*key;		/* normalised request path */
	size_t			 keylen;
	int			 fd;		/* -1 when data holds it all */
	char			*data;		/* the whole file, or NULL */
	dev_t			 dev;
	ino_t			 ino;
	off_t			 size;
	struct timespec		 mtime;
	const char		*ctype;
	char			 etag[48];
	char			 lastmod[HTTP_DATE_LEN + 1];
	int64_t			 checked_ms;	/* last (re)validation */
	unsigned		 refs;		/* responses using it */
	int			 cached;	/* still in the table */
};

struct http_fcache;

struct http_fcache *fcache_new(void);
void		 fcache_free(struct http_fcache *);
struct http_file *fcache_find(struct http_fcache *, int, const char *,
		     size_t);
int		 fcache_same(const struct http_file *, const struct stat *);
int		 fcache_keep(const struct http_file *, const struct stat *);
void		 fcache_describe(struct http_file *, int, const struct stat *,
		     const char *);
struct http_file *fcache_put(struct http_fcache *, int, const char *, size_t,
		     int, const struct stat *, const char *);
void		 fcache_drop(struct http_fcache *, struct http_file *);
void		 fcache_hold(struct http_fcache *, struct http_file *);
void		 fcache_release(struct http_fcache *, struct http_file *);
size_t		 fcache_count(const struct http_fcache *);

#endif
