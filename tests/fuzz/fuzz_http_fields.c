/*
 * fuzz_http_fields.c: libFuzzer target for the small field parsers: a
 * Range header against a resource size, an HTTP date and a request path.
 * The first byte picks the parser; for a range the next 8 bytes are the
 * size. Each result is checked against what the callers rely on.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_date.h"
#include "http/http_path.h"
#include "http/http_range.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A range served must lie inside the resource. */
static void
fuzz_range(const uint8_t *data, size_t size)
{
	uint64_t		 len, first = 0, last = 0;
	enum http_range_result	 r;

	if (size < sizeof(len))
		return;
	memcpy(&len, data, sizeof(len));
	r = http_range_parse((const char *)data + sizeof(len),
	    size - sizeof(len), len, &first, &last);
	if (r == HTTP_RANGE_OK && (len == 0 || first > last || last >= len))
		abort();
	if (r != HTTP_RANGE_NONE && r != HTTP_RANGE_OK &&
	    r != HTTP_RANGE_UNSATISFIABLE)
		abort();
}

/* A date parsed, formatted and parsed again is the same time. */
static void
fuzz_date(const uint8_t *data, size_t size)
{
	char	 buf[HTTP_DATE_LEN + 1];
	time_t	 t;

	if ((t = http_date_parse((const char *)data, size)) == -1)
		return;
	http_date_format(t, buf);
	if (strlen(buf) != HTTP_DATE_LEN ||
	    http_date_parse(buf, HTTP_DATE_LEN) != t)
		abort();
}

/*
 * A normalized path is absolute, NUL-terminated at the length returned,
 * within the buffer, and has no empty, "." or ".." segment, no NUL and no
 * backslash; without a '%' left in it, normalizing it again changes
 * nothing.
 */
static void
fuzz_path(const uint8_t *data, size_t size)
{
	char	 out[256], again[256];
	size_t	 outlen, i, seg;
	int	 n;

	if (size < 1)
		return;
	outlen = 1 + data[0];		/* 1 to 256: the edges too */
	n = http_path_normalize((const char *)data + 1, size - 1, out,
	    outlen);
	if (n < 0)
		return;
	if ((size_t)n >= outlen || out[n] != '\0' || strlen(out) != (size_t)n ||
	    out[0] != '/' || memchr(out, '\\', (size_t)n) != NULL)
		abort();
	for (seg = 1, i = 1; i <= (size_t)n; i++) {
		if (i < (size_t)n && out[i] != '/')
			continue;
		if (i == seg && i < (size_t)n)
			abort();	/* "//" */
		if ((i - seg == 1 && out[seg] == '.') ||
		    (i - seg == 2 && out[seg] == '.' && out[seg + 1] == '.'))
			abort();	/* "." or ".." */
		seg = i + 1;
	}
	if (memchr(out, '%', (size_t)n) == NULL &&
	    (http_path_normalize(out, (size_t)n, again, sizeof(again)) != n ||
	    memcmp(out, again, (size_t)n + 1) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return (0);
	switch (data[0] % 3) {
	case 0:
		fuzz_range(data + 1, size - 1);
		break;
	case 1:
		fuzz_date(data + 1, size - 1);
		break;
	default:
		fuzz_path(data + 1, size - 1);
		break;
	}
	return (0);
}
