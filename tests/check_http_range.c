/* check_http_range.c: single byte ranges against a resource size. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_range.h"
#include "checklib.h"

struct range_case {
	const char		*hdr;
	uint64_t		 size;
	enum http_range_result	 result;
	uint64_t		 first;
	uint64_t		 last;
};

static const struct range_case cases[] = {
	{ "bytes=0-4", 12, HTTP_RANGE_OK, 0, 4 },
	{ "bytes=7-", 12, HTTP_RANGE_OK, 7, 11 },
	{ "bytes=-5", 12, HTTP_RANGE_OK, 7, 11 },
	{ "bytes=-50", 12, HTTP_RANGE_OK, 0, 11 },
	{ "bytes=5-100", 12, HTTP_RANGE_OK, 5, 11 },
	{ "bytes=11-11", 12, HTTP_RANGE_OK, 11, 11 },
	{ "BYTES = 1-2", 12, HTTP_RANGE_OK, 1, 2 },
	{ "bytes=12-", 12, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=50-60", 12, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-0", 12, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=0-0", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=5-4", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=0-1,3-4", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "items=0-1", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=-", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=a-b", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes 0-1", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=99999999999999999999999-", 12, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=0-1x", 12, HTTP_RANGE_NONE, 0, 0 },
};

START_TEST(test_cases)
{
	const struct range_case	*c = &cases[_i];
	uint64_t		 first = 99, last = 99;
	enum http_range_result	 r;

	r = http_range_parse(c->hdr, strlen(c->hdr), c->size, &first, &last);
	ck_assert_msg(r == c->result, "\"%s\"/%llu: %d, want %d", c->hdr,
	    (unsigned long long)c->size, r, c->result);
	if (r == HTTP_RANGE_OK) {
		ck_assert_uint_eq(first, c->first);
		ck_assert_uint_eq(last, c->last);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_range");
	TCase	*tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) /
	    sizeof(cases[0]));
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
