/* check_http_date.c: formatting and parsing HTTP dates. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_date.h"
#include "checklib.h"

START_TEST(test_format)
{
	char	 buf[HTTP_DATE_LEN + 1];

	http_date_format(784111777, buf);
	ck_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	http_date_format(0, buf);
	ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_date_format(2147483648LL, buf);
	ck_assert_str_eq(buf, "Tue, 19 Jan 2038 03:14:08 GMT");
	ck_assert_uint_eq(strlen(buf), HTTP_DATE_LEN);
}
END_TEST

struct parse_case {
	const char	*in;
	time_t		 t;		/* -1: invalid */
};

static const struct parse_case cases[] = {
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777 },
	{ "Sun Nov  6 08:49:37 1994", 784111777 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
	{ "Tue, 19 Jan 2038 03:14:08 GMT", 2147483648LL },
	{ "Thursday, 01-Jan-15 00:00:00 GMT", 1420070400 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
	{ "Wed, 01 Mar 1995 00:00:00 GMT", 794016000 },
	{ "Wed, 29 Feb 1995 00:00:00 GMT", -1 },	/* not a leap year */
	{ "Tue, 29 Feb 2000 00:00:00 GMT", 951782400 },
	{ "Thu, 29 Feb 2100 00:00:00 GMT", -1 },
	{ "Sun, 06 Foo 1994 08:49:37 GMT", -1 },
	{ "Sun, 32 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 24:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:60:37 GMT", -1 },
	{ "Xyz, 06 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49:37 GMTx", -1 },
	{ "Sun,06 Nov 1994 08:49:37 GMT", -1 },
	{ "Sunday, 06-Nov-94 08:49:37", -1 },
	{ "Funday, 06-Nov-94 08:49:37 GMT", -1 },
	{ "Sun Nov 6 08:49:37 1994", -1 },
	{ "", -1 },
	{ "yesterday", -1 },
};

START_TEST(test_parse)
{
	const struct parse_case	*c = &cases[_i];

	ck_assert_msg(http_date_parse(c->in, strlen(c->in)) == c->t,
	    "\"%s\": %lld, want %lld", c->in,
	    (long long)http_date_parse(c->in, strlen(c->in)),
	    (long long)c->t);
}
END_TEST

START_TEST(test_roundtrip_and_now)
{
	char		 buf[HTTP_DATE_LEN + 1];
	const char	*now;
	time_t		 t, before = time(NULL), got;

	for (t = 0; t < 4000000000LL; t += 86399 * 37) {
		http_date_format(t, buf);
		ck_assert_int_eq(http_date_parse(buf, strlen(buf)), t);
	}
	now = http_date_now();
	got = http_date_parse(now, strlen(now));
	ck_assert_int_ge(got, before);
	ck_assert_int_le(got, time(NULL));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_date");
	TCase	*tc = tcase_create("dates");

	tcase_add_test(tc, test_format);
	tcase_add_loop_test(tc, test_parse, 0, sizeof(cases) /
	    sizeof(cases[0]));
	tcase_add_test(tc, test_roundtrip_and_now);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
