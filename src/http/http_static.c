/*
 * http_static.c: static files for "location PREFIX { root = PATH }".
 *
 * The path has been decoded and normalised (http_path.c) and is opened
 * relative to the root's directory descriptor with openat2(RESOLVE_BENEATH)
 * so that neither ".." nor a symlink can lead outside the root (unless
 * follow_symlinks = true lets symlinks go anywhere). What was opened goes
 * into the open-file cache (http_fcache.c), from which later requests for
 * the same path are served until it needs revalidating. Small bodies go
 * out of memory in the same send() as the head; large ones with sendfile().
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "core/conf.h"
#include "http/http_handlers.h"
#include "http/http_date.h"
#include "http/http_fcache.h"
#include "http/http_range.h"
#include "core/log.h"
#include "http/mime.h"

/*
 * Every path is first opened with O_PATH, which neither reads nor runs a
 * driver's open: a device, FIFO or socket under the root is refused by
 * its type (EACCES: 403) before anything opens it for reading, so it
 * can neither block the worker nor have side effects (a tape rewinds on
 * open). Directories stay O_PATH (they are only used as dirfd); regular
 * files are reopened for reading through /proc/self/fd, which opens that
 * very inode whatever the path points to by now.
 */
static int
static_openat2(int dirfd, const char *rel, int follow)
{
	struct open_how	 how;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_NO_MAGICLINKS;
	if (!follow)
		how.resolve |= RESOLVE_BENEATH;
	return ((int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how)));
}

/* Kernels without openat2 (before 5.6): open, then check where it is. */
static int
static_open_fallback(int dirfd, const char *rel, int follow)
{
	char	 proc[64], root[PATH_MAX], got[PATH_MAX];
	ssize_t	 n, m;
	int	 fd;

	fd = openat(dirfd, rel, O_PATH | O_CLOEXEC);
	if (fd == -1 || follow)
		return (fd);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	n = readlink(proc, root, sizeof(root) - 1);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	m = readlink(proc, got, sizeof(got) - 1);
	if (n <= 0 || m <= 0) {
		close(fd);
		errno = EACCES;
		return (-1);
	}
	root[n] = got[m] = '\0';
	if (strncmp(got, root, (size_t)n) != 0 ||
	    (got[n] != '/' && got[n] != '\0' && strcmp(root, "/") != 0)) {
		close(fd);
		errno = EXDEV;
		return (-1);
	}
	return (fd);
}

/* The O_PATH descriptor of rel beneath dirfd (see above). */
static int
static_open_path_fd(int dirfd, const char *rel, int follow)
{
	static int	 no_openat2;
	int		 fd;

	if (!no_openat2) {
		fd = static_openat2(dirfd, rel, follow);
		/*
		 * EXDEV: the path crossed the root, which an absolute
		 * symlink always does, even to a file inside the root: let
		 * the fallback decide by where the file really is.
		 */
		if (fd != -1 || (errno != ENOSYS && errno != EXDEV))
			return (fd);
		if (errno == ENOSYS)
			no_openat2 = 1;
	}
	return (static_open_fallback(dirfd, rel, follow));
}

/*
 * Open rel beneath dirfd and stat it: a directory as O_PATH, a regular
 * file for reading, anything else refused with EACCES, never opened.
 */
static int
static_open(int dirfd, const char *rel, int follow, struct stat *st)
{
	struct stat	 st2;
	char		 proc[64];
	int		 pfd, fd;

	if ((pfd = static_open_path_fd(dirfd, rel, follow)) == -1)
		return (-1);
	if (fstat(pfd, st) == -1) {
		close(pfd);
		return (-1);
	}
	if (S_ISDIR(st->st_mode))
		return (pfd);
	if (!S_ISREG(st->st_mode)) {
		close(pfd);
		errno = EACCES;
		return (-1);
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1 && errno == ENOENT) {
		/* No /proc: by the path again, and the same file it must be
		 * (O_NONBLOCK, should it have become a FIFO meanwhile). */
		fd = openat(dirfd, rel,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd != -1 && (fstat(fd, &st2) == -1 ||
		    st2.st_dev != st->st_dev || st2.st_ino != st->st_ino)) {
			close(fd);
			fd = -1;
			errno = EACCES;
		}
	}
	close(pfd);
	return (fd);
}

static int
static_errno_status(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		return (404);
	case EACCES:
	case EPERM:
	case EXDEV:
	case ELOOP:
		return (403);
	default:
		return (500);
	}
}

/* Does an If-None-Match list name our entity tag (weak comparison)? */
static int
static_etag_matches(const char *list, size_t len, const char *etag)
{
	size_t	 elen = strlen(etag), i = 0, start;

	while (i < len) {
		while (i < len && (list[i] == ' ' || list[i] == '\t' ||
		    list[i] == ','))
			i++;
		if (i < len && list[i] == '*')
			return (1);
		if (i + 2 <= len && list[i] == 'W' && list[i + 1] == '/')
			i += 2;
		start = i;
		while (i < len && list[i] != ',')
			i++;
		while (i > start && (list[i - 1] == ' ' || list[i - 1] == '\t'))
			i--;
		if (i - start == elen && memcmp(list + start, etag, elen) == 0)
			return (1);
		while (i < len && list[i] != ',')
			i++;
	}
	return (0);
}

static void
static_validators(struct http_conn *c, const struct http_file *f)
{
	http_response_add(c, "Last-Modified: ", 15);
	http_response_add(c, f->lastmod, HTTP_DATE_LEN);
	http_response_add(c, "\r\nETag: ", 8);
	http_response_add(c, f->etag, strlen(f->etag));
	http_response_add(c, "\r\n", 2);
}

static int
static_not_modified(struct http_conn *c, const struct http_file *f)
{
	const struct http_request	*req = &c->x->req;
	time_t				 ims;

	if (req->if_none_match.len > 0)
		return (static_etag_matches(http_request_str(c,
		    req->if_none_match), req->if_none_match.len, f->etag));
	if (req->if_modified_since.len > 0) {
		ims = http_date_parse(http_request_str(c,
		    req->if_modified_since), req->if_modified_since.len);
		return (ims != -1 && f->mtime.tv_sec <= ims);
	}
	return (0);
}

/*
 * Does If-Range name the representation f (RFC 9110 section 13.1.5)? An
 * entity tag by strong comparison (never a weak one); a date only when it
 * is exactly Last-Modified and that is a strong validator, i.e. at least
 * one second older than the Date sent (section 8.8.2.2).
 */
static int
static_if_range_matches(struct http_conn *c, const struct http_file *f)
{
	const struct http_request	*req = &c->x->req;
	const char			*v = http_request_str(c, req->if_range);
	size_t				 len = req->if_range.len;
	time_t				 t;

	if (v[0] == '"')
		return (len == strlen(f->etag) && memcmp(v, f->etag, len) == 0);
	if (len >= 2 && v[0] == 'W' && v[1] == '/')
		return (0);
	if ((t = http_date_parse(v, len)) == -1 || t != f->mtime.tv_sec)
		return (0);
	return (time(NULL) - f->mtime.tv_sec >= 1);
}

/* RFC 3986 pchar and '/': what a path may hold unescaped. */
static const unsigned char static_path_safe[256] = {
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
	['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1,
	[':'] = 1, ['@'] = 1, ['/'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* Add the decoded path percent-encoded, so that no name on disk (a CR LF
 * in it, say) can add a header or change what the URI means. */
static void
static_add_path_escaped(struct http_conn *c, const char *path, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 buf[256];
	size_t			 i, n = 0;
	unsigned char		 ch;

	for (i = 0; i < len; i++) {
		if (n + 3 > sizeof(buf)) {
			http_response_add(c, buf, n);
			n = 0;
		}
		ch = (unsigned char)path[i];
		if (static_path_safe[ch])
			buf[n++] = (char)ch;
		else {
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 0xf];
		}
	}
	http_response_add(c, buf, n);
}

/* The directory path lacks its slash: send the client to the slash form.
 * The query goes back as it came: the parser let no CTL or space in. */
static void
static_redirect_slash(struct http_conn *c, const char *path, size_t len)
{
	http_response_head(c, 301, "text/plain; charset=utf-8", 0);
	http_response_add(c, "Location: ", 10);
	static_add_path_escaped(c, path, len);
	http_response_add(c, "/", 1);
	if (c->x->req.query.len > 0)
		http_response_printf(c, "?%.*s", (int)c->x->req.query.len,
		    http_request_str(c, c->x->req.query));
	http_response_add(c, "\r\n", 2);
	http_response_end_head(c);
}

/* Open the file for path (the index file for a directory). */
static int
static_open_path(struct http_conn *c, const struct location_conf *lc,
    int rootfd, const char *path, size_t len, struct stat *st,
    const char **name)
{
	char	 rel[8192];
	int	 fd, ifd, status;

	if (len + 1 > sizeof(rel)) {
		http_response_error(c, 414);
		return (-1);
	}
	if (len <= 1)
		snprintf(rel, sizeof(rel), ".");
	else
		snprintf(rel, sizeof(rel), "%.*s", (int)len - 1, path + 1);
	if ((fd = static_open(rootfd, rel, lc->follow_symlinks, st)) == -1) {
		status = static_errno_status(errno);
		if (status == 500)
			log_warn("static %s", rel);
		http_response_error(c, status);
		return (-1);
	}
	if (!S_ISDIR(st->st_mode)) {
		*name = strrchr(path, '/') + 1;
		return (fd);
	}
	if (path[len - 1] != '/') {
		close(fd);
		static_redirect_slash(c, path, len);
		return (-1);
	}
	ifd = static_open(fd, lc->index, lc->follow_symlinks, st);
	close(fd);
	if (ifd == -1) {
		/* No index and no listing: a directory is forbidden. */
		status = errno == ENOENT ? 403 : static_errno_status(errno);
		http_response_error(c, status);
		return (-1);
	}
	*name = lc->index;
	return (ifd);
}

/*
 * The cache entry for path: the cached one while it is fresh, else the
 * file opened now (revalidating the cached one if it is the same file).
 * NULL when a response (an error, a redirect) has been produced instead.
 * The entry comes with a reference held; *direct is set instead when the
 * cache is out of memory: then the caller owns that descriptor.
 */
static struct http_file *
static_lookup(struct http_conn *c, const struct location_conf *lc, int loc,
    const char *path, size_t len, struct http_file *direct)
{
	struct http_server	*hs = c->hs;
	struct http_file	*f;
	struct stat		 st;
	const char		*name;
	int64_t			 now = http_timeout_now();
	int			 fd;

	f = fcache_find(hs->fcache, loc, path, len);
	if (f != NULL && now - f->checked_ms < FCACHE_VALID_MS) {
		fcache_hold(hs->fcache, f);
		return (f);
	}
	if ((fd = static_open_path(c, lc, hs->root_fds[loc], path, len, &st,
	    &name)) == -1) {
		if (f != NULL)
			fcache_drop(hs->fcache, f);
		return (NULL);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		if (f != NULL)
			fcache_drop(hs->fcache, f);
		http_response_error(c, 403);
		return (NULL);
	}
	if (f != NULL && fcache_keep(f, &st)) {
		close(fd);
		f->checked_ms = now;
		fcache_hold(hs->fcache, f);
		return (f);
	}
	f = fcache_put(hs->fcache, loc, path, len, fd, &st,
	    mime_lookup(hs->mime, name));
	if (f != NULL) {
		f->checked_ms = now;
		return (f);
	}
	/* No memory for an entry: serve this once from fd, uncached. */
	memset(direct, 0, sizeof(*direct));
	fcache_describe(direct, fd, &st, mime_lookup(hs->mime, name));
	return (direct);
}

/* Headers and body of the response from f; the reference goes with it. */
static void
static_respond(struct http_conn *c, struct http_file *f, int cached)
{
	struct http_xchg	*x = c->x;
	uint64_t		 first = 0, last = 0, size = (uint64_t)f->size;
	enum http_range_result	 rr = HTTP_RANGE_NONE;

	x->file = cached ? f : NULL;
	x->file_fd = f->fd;
	if (static_not_modified(c, f)) {
		http_response_head(c, 304, NULL, -1);
		static_validators(c, f);
		http_response_end_head(c);
		http_conn_file_done(c);
		return;
	}
	/* A Range for another version of the file is ignored: all of it. */
	if (x->req.range.len > 0 && x->req.method == HTTP_METHOD_GET &&
	    (x->req.if_range.len == 0 || static_if_range_matches(c, f)))
		rr = http_range_parse(http_request_str(c, x->req.range),
		    x->req.range.len, size, &first, &last);
	if (rr == HTTP_RANGE_UNSATISFIABLE) {
		http_response_head(c, 416, "text/plain; charset=utf-8", 0);
		http_response_printf(c, "Content-Range: bytes */%" PRIu64
		    "\r\n", size);
		http_response_end_head(c);
		http_conn_file_done(c);
		return;
	}
	if (rr == HTTP_RANGE_OK) {
		http_response_head(c, 206, f->ctype,
		    (int64_t)(last - first + 1));
		http_response_printf(c, "Content-Range: bytes %" PRIu64 "-%"
		    PRIu64 "/%" PRIu64 "\r\n", first, last, size);
	} else {
		first = 0;
		last = size - 1;
		http_response_head(c, 200, f->ctype, (int64_t)size);
	}
	http_response_add(c, "Accept-Ranges: bytes\r\n", 22);
	static_validators(c, f);
	http_response_end_head(c);
	if (x->req.method == HTTP_METHOD_HEAD || size == 0) {
		http_conn_file_done(c);
		return;
	}
	x->body_bytes = last - first + 1;
	if (f->data != NULL) {
		http_response_add(c, f->data + first,
		    (size_t)(last - first + 1));
		http_conn_file_done(c);
		return;
	}
	x->file_off = (off_t)first;
	x->file_end = (off_t)last + 1;
}

/* Serve a file, honouring conditional and single-range requests. */
static enum http_hres
http_static_start(struct http_conn *c, const struct location_conf *lc,
    const char *path, size_t len)
{
	struct http_file	 direct, *f;
	int			 loc = (int)(lc - c->hs->conf->locations);

	if ((f = static_lookup(c, lc, loc, path, len, &direct)) != NULL)
		static_respond(c, f, f != &direct);
	return (HTTP_HANDLER_DONE);
}

const struct http_handler http_static_handler = {
	.name = "root",
	.start = http_static_start,
};
