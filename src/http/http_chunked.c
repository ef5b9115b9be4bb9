/*
 * http_chunked.c: the chunked transfer coding of request bodies
 * (RFC 9112 7.1), decoded incrementally: sizes, extensions and trailers
 * are checked and skipped, the data is counted against max_body_size and
 * either skipped (http_chunked_feed) or left in place for a handler to
 * take (http_chunked_frame, http_chunked_take).
 */
#include "autoconf.h"

#include <string.h>

#include "http/http_parser.h"

enum {
	C_SIZE = 0,
	C_EXT,
	C_SIZE_LF,
	C_DATA,
	C_DATA_CR,
	C_DATA_LF,
	C_TRAILER_START,
	C_TRAILER,
	C_TRAILER_LF,
	C_FINAL_LF,
	C_DONE,
};

#define CHUNK_EXT_MAX	4096	/* bytes of extensions and trailers */

void
http_chunked_init(struct http_chunked *ck, uint64_t max_body)
{
	memset(ck, 0, sizeof(*ck));
	ck->max_body = max_body;
}

static enum http_parse_result
chunked_error(struct http_chunked *ck, int status)
{
	ck->error_status = status;
	return (HTTP_PARSE_ERROR);
}

/* An error: *used still says how far the decoder got. */
static enum http_parse_result
chunked_fail(struct http_chunked *ck, size_t *used, size_t i, int status)
{
	*used = i;
	return (chunked_error(ck, status));
}


/*
 * The decoder. With stop_at_data it consumes framing only and stops
 * where chunk data starts (http_chunked_frame); else it takes the data
 * too (http_chunked_feed).
 */
static enum http_parse_result
chunked_run(struct http_chunked *ck, const char *buf, size_t len,
    size_t *used, int stop_at_data)
{
	size_t		 i = 0, take;
	unsigned char	 c;
	int		 h;

	*used = 0;
	if (ck->error_status != 0)
		return (HTTP_PARSE_ERROR);
	while (i < len && ck->state != C_DONE) {
		c = (unsigned char)buf[i];
		switch (ck->state) {
		case C_SIZE:
			if ((h = http_hexval(c)) >= 0) {
				if (++ck->digits > 16)
					return (chunked_fail(ck, used, i, 400));
				ck->remaining = ck->remaining * 16 +
				    (uint64_t)h;
				break;
			}
			if (ck->digits == 0)
				return (chunked_fail(ck, used, i, 400));
			if (ck->remaining > ck->max_body ||
			    ck->total + ck->remaining > ck->max_body)
				return (chunked_fail(ck, used, i, 413));
			if (c == ';' || c == ' ' || c == '\t')
				ck->state = C_EXT;
			else if (c == '\r')
				ck->state = C_SIZE_LF;
			else
				return (chunked_fail(ck, used, i, 400));
			break;
		case C_EXT:
			if (++ck->extlen > CHUNK_EXT_MAX)
				return (chunked_fail(ck, used, i, 400));
			if (c == '\r')
				ck->state = C_SIZE_LF;
			else if (c == '\n' || (c < 0x20 && c != '\t') ||
			    c == 0x7f)
				return (chunked_fail(ck, used, i, 400));
			break;
		case C_SIZE_LF:
			if (c != '\n')
				return (chunked_fail(ck, used, i, 400));
			ck->digits = 0;
			/* The budget is per chunk line, and then for the
			 * trailer section: a long streamed body of chunks
			 * with extensions is not cut. */
			ck->extlen = 0;
			ck->state = ck->remaining == 0 ? C_TRAILER_START :
			    C_DATA;
			break;
		case C_DATA:
			if (stop_at_data) {
				*used = i;
				return (HTTP_PARSE_AGAIN);
			}
			take = len - i;
			if (take > ck->remaining)
				take = (size_t)ck->remaining;
			ck->remaining -= take;
			ck->total += take;
			i += take;
			if (ck->remaining == 0)
				ck->state = C_DATA_CR;
			continue;
		case C_DATA_CR:
			if (c != '\r')
				return (chunked_fail(ck, used, i, 400));
			ck->state = C_DATA_LF;
			break;
		case C_DATA_LF:
			if (c != '\n')
				return (chunked_fail(ck, used, i, 400));
			ck->state = C_SIZE;
			break;
		case C_TRAILER_START:
			if (c == '\r') {
				ck->state = C_FINAL_LF;
				break;
			}
			ck->state = C_TRAILER;
			/* FALLTHROUGH */
		case C_TRAILER:
			if (++ck->extlen > CHUNK_EXT_MAX)
				return (chunked_fail(ck, used, i, 400));
			if (c == '\r')
				ck->state = C_TRAILER_LF;
			else if (c == '\n' || (c < 0x20 && c != '\t'))
				return (chunked_fail(ck, used, i, 400));
			break;
		case C_TRAILER_LF:
			if (c != '\n')
				return (chunked_fail(ck, used, i, 400));
			ck->state = C_TRAILER_START;
			break;
		case C_FINAL_LF:
			if (c != '\n')
				return (chunked_fail(ck, used, i, 400));
			ck->state = C_DONE;
			break;
		}
		i++;
	}
	*used = i;
	return (ck->state == C_DONE ? HTTP_PARSE_DONE : HTTP_PARSE_AGAIN);
}

enum http_parse_result
http_chunked_feed(struct http_chunked *ck, const char *buf, size_t len,
    size_t *used)
{
	return (chunked_run(ck, buf, len, used, 0));
}

enum http_parse_result
http_chunked_frame(struct http_chunked *ck, const char *buf, size_t len,
    size_t *used)
{
	return (chunked_run(ck, buf, len, used, 1));
}

/* Bytes of chunk data that may be taken now (0: framing comes next). */
uint64_t
http_chunked_data_left(const struct http_chunked *ck)
{
	return (ck->state == C_DATA ? ck->remaining : 0);
}

/* n bytes of data (at most http_chunked_data_left) were taken. */
void
http_chunked_take(struct http_chunked *ck, uint64_t n)
{
	ck->remaining -= n;
	ck->total += n;
	if (ck->remaining == 0)
		ck->state = C_DATA_CR;
}
