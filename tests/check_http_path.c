/* check_http_path.c: decoding and normalising request paths. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_path.h"
#include "checklib.h"

struct path_case {
	const char	*in;
	const char	*out;		/* NULL: must be refused */
};

static const struct path_case cases[] = {
	{ "/", "/" },
	{ "/index.html", "/index.html" },
	{ "/a/b/c", "/a/b/c" },
	{ "/dir/", "/dir/" },
	{ "//etc//passwd", "/etc/passwd" },
	{ "/a/./b/../c", "/a/c" },
	{ "/a/b/..", "/a/" },
	{ "/dir/.", "/dir/" },
	{ "/a/..", "/" },
	{ "/%41%42", "/AB" },
	{ "/%7e%7E", "/~~" },
	{ "/a%20b", "/a b" },
	{ "/..a/b..", "/..a/b.." },
	{ "/.hidden", "/.hidden" },
	{ "/a/%2e/b", "/a/b" },
	{ "/a/%2e%2e/b", "/b" },
	{ "/..", NULL },
	{ "/../x", NULL },
	{ "/a/../../x", NULL },
	{ "/%2e%2e/x", NULL },
	{ "/%2E%2e/", NULL },
	{ "/./../etc/passwd", NULL },
	{ "/a%2fb", NULL },
	{ "/a%2Fb", NULL },
	{ "/a%5cb", NULL },
	{ "/a\\b", NULL },
	{ "/a%00b", NULL },
	{ "/%4", NULL },
	{ "/%", NULL },
	{ "/%zz", NULL },
	{ "/%g0", NULL },
	{ "relative", NULL },
	{ "", NULL },
};

START_TEST(test_cases)
{
	const struct path_case	*c = &cases[_i];
	char			 out[256];
	int			 n;

	n = http_path_normalize(c->in, strlen(c->in), out, sizeof(out));
	if (c->out == NULL) {
		ck_assert_msg(n == -1, "\"%s\" accepted as \"%s\"", c->in,
		    out);
		return;
	}
	ck_assert_msg(n >= 0, "\"%s\" refused", c->in);
	ck_assert_str_eq(out, c->out);
	ck_assert_int_eq(n, (int)strlen(c->out));
}
END_TEST

START_TEST(test_raw_nul_and_small_buffer)
{
	char	 out[8];

	ck_assert_int_eq(http_path_normalize("/a\0b", 4, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(http_path_normalize("/abcdef", 7, out, sizeof(out)),
	    7);
	ck_assert_str_eq(out, "/abcdef");
	ck_assert_int_eq(http_path_normalize("/abcdefg", 8, out, sizeof(out)),
	    -1);
	/* Only the given length counts. */
	ck_assert_int_eq(http_path_normalize("/ab/../zzz", 3, out,
	    sizeof(out)), 3);
	ck_assert_str_eq(out, "/ab");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_path");
	TCase	*tc = tcase_create("normalize");

	tcase_add_loop_test(tc, test_cases, 0, sizeof(cases) /
	    sizeof(cases[0]));
	tcase_add_test(tc, test_raw_nul_and_small_buffer);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
