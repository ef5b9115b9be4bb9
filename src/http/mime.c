/*
 * mime.c: Content-Type by file name extension, from a mime.types file
 * (Debian's /etc/mime.types) or a built-in table of the usual web types.
 * Lookups are a binary search in a sorted array: they run per request.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/mime.h"

#define MIME_DEFAULT	"application/octet-stream"
#define MIME_EXT_MAX	32

struct mime_entry {
	char	 ext[MIME_EXT_MAX];	/* lower case */
	char	*type;
	size_t	 seq;			/* order added: the file's come first */
};

struct mime_table {
	struct mime_entry	*entries;
	size_t			 n;
	size_t			 cap;
};

static const char *const mime_builtin[][2] = {
	{ "html", "text/html" }, { "htm", "text/html" },
	{ "css", "text/css" }, { "js", "text/javascript" },
	{ "mjs", "text/javascript" }, { "json", "application/json" },
	{ "txt", "text/plain" }, { "md", "text/markdown" },
	{ "csv", "text/csv" }, { "xml", "application/xml" },
	{ "svg", "image/svg+xml" }, { "png", "image/png" },
	{ "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" },
	{ "gif", "image/gif" }, { "webp", "image/webp" },
	{ "ico", "image/vnd.microsoft.icon" }, { "pdf", "application/pdf" },
	{ "wasm", "application/wasm" }, { "woff", "font/woff" },
	{ "woff2", "font/woff2" }, { "mp4", "video/mp4" },
	{ "webm", "video/webm" }, { "zip", "application/zip" },
	{ "gz", "application/gzip" }, { "tar", "application/x-tar" },
};

/* Text types are served as UTF-8 (the web's default for static text). */
static const char *const mime_charset_types[] = {
	"text/html", "text/plain", "text/css", "text/javascript",
	"text/markdown", "text/csv", "application/javascript",
	"application/json", "application/xml", "image/svg+xml",
};

static int
mime_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct mime_entry *)a)->ext,
	    ((const struct mime_entry *)b)->ext));
}

static int
mime_add(struct mime_table *mt, const char *ext, size_t extlen,
    const char *type)
{
	struct mime_entry	*e;
	size_t			 i, n;

	if (extlen == 0 || extlen >= MIME_EXT_MAX)
		return (0);
	if (mt->n == mt->cap) {
		n = mt->cap ? mt->cap * 2 : 256;
		if ((e = realloc(mt->entries, n * sizeof(*e))) == NULL)
			return (-1);
		mt->entries = e;
		mt->cap = n;
	}
	e = &mt->entries[mt->n];
	e->seq = mt->n;
	for (i = 0; i < extlen; i++)
		e->ext[i] = (char)tolower((unsigned char)ext[i]);
	e->ext[extlen] = '\0';
	for (i = 0; i < sizeof(mime_charset_types) /
	    sizeof(mime_charset_types[0]); i++)
		if (strcmp(type, mime_charset_types[i]) == 0)
			break;
	if (i < sizeof(mime_charset_types) / sizeof(mime_charset_types[0])) {
		if (asprintf(&e->type, "%s; charset=utf-8", type) == -1)
			return (-1);
	} else if ((e->type = strdup(type)) == NULL)
		return (-1);
	mt->n++;
	return (0);
}

/* Parse "type ext ext ..." lines; -1 on a read or memory error. */
static int
mime_read(struct mime_table *mt, FILE *f)
{
	char	 line[1024], *p, *type, *ext;

	while (fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		type = strtok(line, " \t\r\n");
		if (type == NULL || strchr(type, '/') == NULL)
			continue;
		while ((ext = strtok(NULL, " \t\r\n")) != NULL)
			if (mime_add(mt, ext, strlen(ext), type) == -1)
				return (-1);
	}
	return (ferror(f) ? -1 : 0);
}

/* By extension, then by the order added (qsort is not stable). */
static int
mime_cmp_seq(const void *a, const void *b)
{
	const struct mime_entry	*ea = a, *eb = b;
	int			 c = strcmp(ea->ext, eb->ext);

	if (c != 0)
		return (c);
	return (ea->seq < eb->seq ? -1 : ea->seq > eb->seq);
}

/* Sort, and for duplicate extensions keep the first one added. */
static void
mime_finish(struct mime_table *mt)
{
	size_t	 i, o = 0;

	qsort(mt->entries, mt->n, sizeof(*mt->entries), mime_cmp_seq);
	for (i = 0; i < mt->n; i++) {
		if (o > 0 && strcmp(mt->entries[o - 1].ext,
		    mt->entries[i].ext) == 0) {
			free(mt->entries[i].type);
			continue;
		}
		mt->entries[o++] = mt->entries[i];
	}
	mt->n = o;
}

struct mime_table *
mime_load(const char *path)
{
	struct mime_table	*mt;
	FILE			*f = NULL;
	size_t			 i;
	int			 rc = -1;

	if ((mt = calloc(1, sizeof(*mt))) == NULL)
		return (NULL);
	if (path != NULL && (f = fopen(path, "r")) != NULL) {
		rc = mime_read(mt, f);
		fclose(f);
	}
	/* The built-in types fill what the file lacks (or all of it). */
	for (i = 0; i < sizeof(mime_builtin) / sizeof(mime_builtin[0]); i++)
		if (mime_add(mt, mime_builtin[i][0], strlen(mime_builtin[i][0]),
		    mime_builtin[i][1]) == -1) {
			mime_free(mt);
			return (NULL);
		}
	(void)rc;
	mime_finish(mt);
	return (mt);
}

void
mime_free(struct mime_table *mt)
{
	size_t	 i;

	if (mt == NULL)
		return;
	for (i = 0; i < mt->n; i++)
		free(mt->entries[i].type);
	free(mt->entries);
	free(mt);
}

const char *
mime_lookup(const struct mime_table *mt, const char *name)
{
	struct mime_entry	 key;
	const struct mime_entry	*e;
	const char		*dot;
	size_t			 i, len;

	dot = strrchr(name, '.');
	if (mt == NULL || dot == NULL || dot == name || dot[1] == '\0')
		return (MIME_DEFAULT);
	len = strlen(dot + 1);
	if (len >= MIME_EXT_MAX)
		return (MIME_DEFAULT);
	for (i = 0; i <= len; i++)
		key.ext[i] = (char)tolower((unsigned char)dot[1 + i]);
	e = bsearch(&key, mt->entries, mt->n, sizeof(*mt->entries),
	    mime_cmp);
	return (e != NULL ? e->type : MIME_DEFAULT);
}
