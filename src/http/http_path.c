/*
 * http_path.c: turn a request path into one that is safe to use under a
 * root directory: percent-decoded, "." and ".." resolved, "//" collapsed.
 * What could be used to escape or confuse (".." above the root, NUL,
 * encoded slashes, backslashes) is refused rather than repaired.
 */
#include "autoconf.h"

#include <limits.h>
#include <string.h>

#include "http/http_parser.h"
#include "http/http_path.h"


/* Drop the last segment of out[0..*o) (which ends with '/'). */
static int
path_pop(char *out, size_t *o)
{
	if (*o <= 1)
		return (-1);		/* ".." above the root */
	(*o)--;				/* the trailing slash */
	while (*o > 0 && out[*o - 1] != '/')
		(*o)--;
	return (0);
}

/*
 * Nothing to decode, resolve or collapse (no '%', '\\' or NUL, no "//" and
 * no segment that starts with '.'): then the result is the path itself.
 * Most requests are such, and this look costs a third of the full walk.
 */
static int
path_is_plain(const char *src, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		switch (src[i]) {
		case '%':
		case '\\':
		case '\0':
			return (0);
		case '/':
			if (i + 1 < len && (src[i + 1] == '/' ||
			    src[i + 1] == '.'))
				return (0);
			break;
		}
	return (1);
}

int
http_path_normalize(const char *src, size_t len, char *out, size_t outlen)
{
	size_t	 i = 0, o = 0, seg;
	int	 hi, lo;
	char	 c;

	if (len == 0 || src[0] != '/' || outlen < 2)
		return (-1);
	if (len < outlen && len <= INT_MAX && path_is_plain(src, len)) {
		memcpy(out, src, len);
		out[len] = '\0';
		return ((int)len);
	}
	out[o++] = '/';
	seg = o;			/* start of the current segment */
	for (i = 1; i <= len; i++) {
		c = i < len ? src[i] : '/';
		if (c == '%' && i < len) {
			if (i + 2 >= len)
				return (-1);	/* truncated escape */
			hi = http_hexval((unsigned char)src[i + 1]);
			lo = http_hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return (-1);
			c = (char)(hi * 16 + lo);
			i += 2;
			/* An encoded separator would hide a segment. */
			if (c == '/' || c == '\\' || c == '\0')
				return (-1);
		} else if (c == '\0' || c == '\\')
			return (-1);
		if (c != '/') {
			if (o + 2 > outlen)
				return (-1);
			out[o++] = c;
			continue;
		}
		/* End of a segment: out[seg..o) holds it. */
		if (o == seg) {
			/* Empty ("//"): collapse. */
		} else if (o - seg == 1 && out[seg] == '.') {
			o = seg;
		} else if (o - seg == 2 && out[seg] == '.' &&
		    out[seg + 1] == '.') {
			o = seg;
			if (path_pop(out, &o) == -1)
				return (-1);
		} else if (i < len) {
			if (o + 2 > outlen)
				return (-1);
			out[o++] = '/';
		} else {
			/* The last segment, no slash after it. */
			out[o] = '\0';
			return ((int)o);
		}
		seg = o;
	}
	/* The path ended with '/' (or "." / ".."): keep the slash. */
	out[o] = '\0';
	return ((int)o);
}
