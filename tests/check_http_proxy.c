/* check_http_proxy.c: the proxy's response head parser (framing, the
 * heads it refuses), and its Connection token match. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_proxy.h"
#include "checklib.h"

struct resp_case {
	const char		*head;
	enum http_method	 method;
	int			 rc;		/* of http_proxy_resp_parse */
	int			 status;
	enum http_proxy_framing	 framing;
	int			 conn_close;
};

static const struct resp_case cases[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_METHOD_GET,
	    1, 200, HTTP_PROXY_LENGTH, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_METHOD_GET,
	    1, 200, HTTP_PROXY_LENGTH, 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    HTTP_METHOD_GET, 1, 200, HTTP_PROXY_CHUNKED, 0 },
	/* framing that cannot be trusted (RFC 9112 6.1, 6.3) */
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
	    "Content-Length: 9\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", HTTP_METHOD_HEAD, -1, 0,
	    0, 0 },
	{ "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	    HTTP_METHOD_GET, 1, 200, HTTP_PROXY_CLOSE, 0 },
	{ "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n", HTTP_METHOD_GET,
	    1, 200, HTTP_PROXY_CLOSE, 1 },
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
	    HTTP_METHOD_GET, 1, 204, HTTP_PROXY_NONE, 0 },
	{ "HTTP/1.1 304 Not Modified\r\n\r\n", HTTP_METHOD_GET, 1, 304,
	    HTTP_PROXY_NONE, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_METHOD_HEAD,
	    1, 200, HTTP_PROXY_NONE, 0 },
	{ "HTTP/1.1 200\r\nX-A:\t v \t\r\n\r\n", HTTP_METHOD_GET, 1, 200,
	    HTTP_PROXY_CLOSE, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", HTTP_METHOD_GET, 0, 0,
	    0, 0 },
	{ "HTTP/2 200 OK\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 20 OK\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 200OK\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", HTTP_METHOD_GET, -1, 0,
	    0, 0 },
	{ "HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n", HTTP_METHOD_GET,
	    -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nX : 1\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0,
	    0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
	    "\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HTTP_METHOD_GET,
	    -1, 0, 0, 0 },
	{ "\r\n\r\n", HTTP_METHOD_GET, -1, 0, 0, 0 },
};

struct fixture {
	struct http_conn	 c;
	struct http_xchg	 x;
	struct http_proxy	 p;
};

static struct fixture *
fixture_new(const char *head, enum http_method m)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->c.x = &f->x;
	f->x.req.method = m;
	f->p.c = &f->c;
	f->p.in = malloc(HTTP_PROXY_IN);
	ck_assert_ptr_nonnull(f->p.in);
	f->p.in_len = strlen(head);
	memcpy(f->p.in, head, f->p.in_len);
	return (f);
}

static void
fixture_free(struct fixture *f)
{
	free(f->p.in);
	free(f);
}

START_TEST(test_heads)
{
	const struct resp_case	*t = &cases[_i];
	struct fixture		*f = fixture_new(t->head, t->method);
	int			 rc = http_proxy_resp_parse(&f->p);

	ck_assert_msg(rc == t->rc, "\"%s\": %d, want %d", t->head, rc, t->rc);
	if (rc == 1) {
		ck_assert_int_eq(f->p.resp.status, t->status);
		ck_assert_int_eq(f->p.framing, t->framing);
		ck_assert_int_eq(f->p.resp.conn_close, t->conn_close);
		ck_assert_uint_eq(f->p.in_off, strlen(t->head));
	}
	fixture_free(f);
}
END_TEST

/* A head in pieces, after a 100 Continue: found whole once it is. */
START_TEST(test_split_head)
{
	const char	*all = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 "
	    "Created\r\nContent-Length: 3\r\n\r\nabc";
	struct fixture	*f = fixture_new("", HTTP_METHOD_POST);
	size_t		 i, n = strlen(all);
	int		 rc = 0, heads = 0;

	for (i = 1; i <= n && heads < 2; i++) {
		f->p.in[i - 1] = all[i - 1];
		f->p.in_len = i;
		while ((rc = http_proxy_resp_parse(&f->p)) == 1)
			heads++;
		ck_assert_int_ne(rc, -1);
	}
	ck_assert_int_eq(heads, 2);
	ck_assert_int_eq(f->p.resp.status, 201);
	ck_assert_int_eq(f->p.framing, HTTP_PROXY_LENGTH);
	ck_assert_uint_eq(f->p.left, 3);
	fixture_free(f);
}
END_TEST

/* An interim head (1xx) is no response: the final one is still to
 * come, so the exchange must not be done after it, even for HEAD. */
START_TEST(test_interim_not_done)
{
	static const char	*heads[] = {
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 102 Processing\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
	};
	struct fixture		*f;
	size_t			 i;
	int			 m;

	for (m = 0; m < 2; m++)
		for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
			f = fixture_new(heads[i], m ? HTTP_METHOD_HEAD :
			    HTTP_METHOD_GET);
			ck_assert_int_eq(http_proxy_resp_parse(&f->p), 1);
			ck_assert_int_lt(f->p.resp.status, 200);
			ck_assert_msg(!f->p.resp_done, "%s: done", heads[i]);
			fixture_free(f);
		}
}
END_TEST

START_TEST(test_named)
{
	const char	*v = "keep-alive, X-Private ,upgrade";

	ck_assert(http_proxy_named(v, strlen(v), "x-private", 9));
	ck_assert(http_proxy_named(v, strlen(v), "Upgrade", 7));
	ck_assert(http_proxy_named(v, strlen(v), "keep-alive", 10));
	ck_assert(!http_proxy_named(v, strlen(v), "x-priv", 6));
	ck_assert(!http_proxy_named("", 0, "close", 5));
	ck_assert(http_proxy_hop("Proxy-Authorization", 19));
	ck_assert(http_proxy_hop("TE", 2));
	ck_assert(!http_proxy_hop("Tee", 3));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_proxy");
	TCase	*tc = tcase_create("resp");

	tcase_add_loop_test(tc, test_heads, 0, sizeof(cases) /
	    sizeof(cases[0]));
	tcase_add_test(tc, test_split_head);
	tcase_add_test(tc, test_interim_not_done);
	tcase_add_test(tc, test_named);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
