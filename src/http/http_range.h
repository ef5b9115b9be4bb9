/* http_range.h: one byte range of a Range header (RFC 9110 14.2). */
#ifndef DROVER_HTTP_RANGE_H
#define DROVER_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

enum http_range_result {
	HTTP_RANGE_NONE = 0,	/* ignore the header: serve the whole (200) */
	HTTP_RANGE_OK,		/* serve [first, last] (206) */
	HTTP_RANGE_UNSATISFIABLE,	/* 416 */
};

/*
 * Parse "bytes=A-B", "bytes=A-" or "bytes=-N" against a resource of size
 * bytes. Several ranges, other units or bad syntax give HTTP_RANGE_NONE
 * (the whole resource is served, as RFC 9110 allows).
 */
enum http_range_result
	http_range_parse(const char *, size_t, uint64_t, uint64_t *,
	    uint64_t *);

#endif
