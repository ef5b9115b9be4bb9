/*
 * http_range.c: one "bytes" range of a Range header (RFC 9110 14.1.2).
 * Anything drover does not serve as a single range (several ranges,
 * another unit, bad syntax) means "ignore the header": the whole resource
 * is sent with 200, which RFC 9110 allows.
 */
#include "autoconf.h"

#include <ctype.h>
#include <strings.h>

#include "http/http_range.h"

/* Digits at *p into *out; 0 if none or the number overflows. */
static int
range_number(const char **p, const char *end, uint64_t *out)
{
	uint64_t	 v = 0;
	const char	*s = *p;

	while (s < end && isdigit((unsigned char)*s)) {
		if (v > (UINT64_MAX - 9) / 10)
			return (0);
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (s == *p)
		return (0);
	*p = s;
	*out = v;
	return (1);
}

static const char *
range_ows(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return (p);
}

enum http_range_result
http_range_parse(const char *s, size_t len, uint64_t size, uint64_t *first,
    uint64_t *last)
{
	const char	*p = s, *end = s + len;
	uint64_t	 a = 0, b = 0;
	int		 has_a, has_b;

	if (len < 6 || strncasecmp(s, "bytes", 5) != 0)
		return (HTTP_RANGE_NONE);
	p = range_ows(p + 5, end);
	if (p == end || *p++ != '=')
		return (HTTP_RANGE_NONE);
	p = range_ows(p, end);
	has_a = range_number(&p, end, &a);
	if (p == end || *p++ != '-')
		return (HTTP_RANGE_NONE);
	has_b = range_number(&p, end, &b);
	p = range_ows(p, end);
	if (p != end || (!has_a && !has_b))
		return (HTTP_RANGE_NONE);	/* several ranges, or junk */
	if (!has_a) {
		/* Suffix: the last b bytes. */
		if (b == 0 || size == 0)
			return (HTTP_RANGE_UNSATISFIABLE);
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return (HTTP_RANGE_OK);
	}
	if (has_b && b < a)
		return (HTTP_RANGE_NONE);
	if (a >= size)
		return (HTTP_RANGE_UNSATISFIABLE);
	*first = a;
	*last = (!has_b || b >= size) ? size - 1 : b;
	return (HTTP_RANGE_OK);
}
