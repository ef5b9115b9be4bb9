/* check_addr.c: listen address parsing and formatting. */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "checklib.h"

struct good_case {
	const char	*in;
	int		 family;
	int		 port;
	const char	*formatted;
};

static const struct good_case good[] = {
	{ "127.0.0.1:8080", AF_INET, 8080, "127.0.0.1:8080" },
	{ "0.0.0.0:80", AF_INET, 80, "0.0.0.0:80" },
	{ "*:443", AF_INET, 443, "0.0.0.0:443" },
	{ "127.0.0.1:0", AF_INET, 0, "127.0.0.1:0" },
	{ "10.1.2.3:65535", AF_INET, 65535, "10.1.2.3:65535" },
	{ "[::1]:7000", AF_INET6, 7000, "[::1]:7000" },
	{ "[::]:80", AF_INET6, 80, "[::]:80" },
	{ "[2001:db8::1]:8443", AF_INET6, 8443, "[2001:db8::1]:8443" },
	{ "[0:0:0:0:0:0:0:1]:1", AF_INET6, 1, "[::1]:1" },
};

START_TEST(test_good)
{
	const struct good_case	*g = &good[_i];
	struct addr		 a;
	char			 err[256], buf[ADDR_STRLEN];

	ck_assert_msg(addr_parse(g->in, &a, err, sizeof(err)) == 0,
	    "%s: %s", g->in, err);
	ck_assert_int_eq(addr_family(&a), g->family);
	ck_assert_int_eq(addr_port(&a), g->port);
	ck_assert_int_eq(a.len, g->family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	addr_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, g->formatted);
}
END_TEST

struct bad_case {
	const char	*in;
	const char	*error;		/* a substring of the message */
};

static const struct bad_case bad[] = {
	{ "localhost:80", "not a numeric IPv4 address" },
	{ "127.0.0.1", "expected HOST:PORT" },
	{ "127.0.0.1:", "port must be a number" },
	{ "127.0.0.1:99999", "port must be a number" },
	{ "127.0.0.1:-1", "port must be a number" },
	{ "127.0.0.1:+80", "port must be a number" },
	{ "127.0.0.1:80x", "port must be a number" },
	{ ":80", "missing host" },
	{ "[::1:80", "expected [IPV6]:PORT" },
	{ "[::1]80", "expected [IPV6]:PORT" },
	{ "[]:80", "bad IPv6 address" },
	{ "[fe80::zz]:80", "bad IPv6 address" },
	{ "::1:80", "IPv6 addresses go in brackets" },
	{ "256.1.1.1:80", "not a numeric IPv4 address" },
	{ "", "expected HOST:PORT" },
};

START_TEST(test_bad)
{
	const struct bad_case	*b = &bad[_i];
	struct addr		 a;
	char			 err[256] = "";

	ck_assert_msg(addr_parse(b->in, &a, err, sizeof(err)) == -1,
	    "\"%s\" was accepted", b->in);
	ck_assert_msg(strstr(err, b->error) != NULL,
	    "\"%s\": error \"%s\" lacks \"%s\"", b->in, err, b->error);
}
END_TEST

START_TEST(test_equal_and_set_port)
{
	struct addr	 a, b, c;
	char		 err[256], buf[ADDR_STRLEN];

	ck_assert_int_eq(addr_parse("127.0.0.1:80", &a, err, sizeof(err)), 0);
	ck_assert_int_eq(addr_parse("127.0.0.1:80", &b, err, sizeof(err)), 0);
	ck_assert_int_eq(addr_parse("127.0.0.2:80", &c, err, sizeof(err)), 0);
	ck_assert(addr_equal(&a, &b));
	ck_assert(!addr_equal(&a, &c));
	addr_set_port(&b, 81);
	ck_assert(!addr_equal(&a, &b));
	addr_format(&b, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1:81");

	ck_assert_int_eq(addr_parse("[::1]:80", &a, err, sizeof(err)), 0);
	ck_assert_int_eq(addr_parse("[::1]:80", &b, err, sizeof(err)), 0);
	ck_assert_int_eq(addr_parse("127.0.0.1:80", &c, err, sizeof(err)), 0);
	ck_assert(addr_equal(&a, &b));
	ck_assert(!addr_equal(&a, &c));
	addr_set_port(&a, 0);
	ck_assert_int_eq(addr_port(&a), 0);
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite	*s = suite_create("addr");
	TCase	*tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_equal_and_set_port);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run_suite(addr_suite()));
}
