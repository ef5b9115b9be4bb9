/*
 * check_proxyproto.c: the PROXY protocol codec: headers built and parsed
 * back (v1, v2, IPv4, IPv6, unknown families), every prefix of a header
 * asking for more, and the malformed headers the specification says a
 * receiver must refuse.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proxyproto.h"
#include "checklib.h"

static const char v2sig[] = "\r\n\r\n\0\r\nQUIT\n";

static void
sa_make(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') == NULL) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	}
}

/* "ip port" of a parsed address, to compare as text. */
static void
sa_text(const struct sockaddr_storage *ss, socklen_t len, char *buf,
    size_t buflen)
{
	const struct sockaddr_in	*s4 = (const void *)ss;
	const struct sockaddr_in6	*s6 = (const void *)ss;
	char				 a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		ck_assert_uint_eq(len, sizeof(*s4));
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, buflen, "%s %u", a, ntohs(s4->sin_port));
	} else {
		ck_assert_int_eq(ss->ss_family, AF_INET6);
		ck_assert_uint_eq(len, sizeof(*s6));
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, buflen, "%s %u", a, ntohs(s6->sin6_port));
	}
}

struct trip_case {
	int		 version;
	const char	*src, *dst;
	int		 sport, dport;
	const char	*v1;		/* the exact v1 line, or NULL */
	int		 len;		/* of a v2 header */
	int		 socktype;
};

static const struct trip_case trips[] = {
	{ PROXYPROTO_V1, "192.0.2.10", "127.0.0.1", 51234, 8080,
	    "PROXY TCP4 192.0.2.10 127.0.0.1 51234 8080\r\n", 0,
	    SOCK_STREAM },
	{ PROXYPROTO_V1, "255.255.255.255", "0.0.0.0", 65535, 0,
	    "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", 0,
	    SOCK_STREAM },
	{ PROXYPROTO_V1, "2001:db8::7", "::1", 40000, 443,
	    "PROXY TCP6 2001:db8::7 ::1 40000 443\r\n", 0, SOCK_STREAM },
	{ PROXYPROTO_V2, "198.51.100.3", "10.0.0.1", 1, 65535, NULL,
	    16 + 12, SOCK_STREAM },
	{ PROXYPROTO_V2, "2001:db8:1:2:3:4:5:6", "fe80::1", 5000, 80, NULL,
	    16 + 36, SOCK_STREAM },
	{ PROXYPROTO_V2 | PROXYPROTO_DGRAM, "203.0.113.9", "127.0.0.1", 53,
	    5353, NULL, 16 + 12, SOCK_DGRAM },
	{ PROXYPROTO_V2 | PROXYPROTO_DGRAM, "::ffff:1.2.3.4", "::2", 9, 10,
	    NULL, 16 + 36, SOCK_DGRAM },
};

START_TEST(test_roundtrip)
{
	const struct trip_case		*t = &trips[_i];
	struct sockaddr_storage		 src, dst;
	struct proxyproto_result	 r;
	char				 buf[PROXYPROTO_MAX], want[128];
	char				 got[128];
	int				 n;

	sa_make(&src, t->src, t->sport);
	sa_make(&dst, t->dst, t->dport);
	n = proxyproto_build(t->version, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, buf, sizeof(buf));
	ck_assert_int_eq(n, t->v1 != NULL ? (int)strlen(t->v1) : t->len);
	if (t->v1 != NULL)
		ck_assert_mem_eq(buf, t->v1, (size_t)n);
	else
		ck_assert_mem_eq(buf, v2sig, 12);
	/* Followed by the client's bytes, which are not the header's. */
	memcpy(buf + n, "GET / HTTP/1.1\r\n", 16);
	ck_assert_int_eq(proxyproto_parse(buf, (size_t)n + 16, &r), n);
	ck_assert_ptr_null(r.error);
	ck_assert_int_eq(r.version, t->v1 != NULL ? 1 : 2);
	ck_assert_int_eq(r.local, 0);
	ck_assert_int_eq(r.socktype, t->socktype);
	snprintf(want, sizeof(want), "%s %d", t->src, t->sport);
	sa_text(&r.src, r.srclen, got, sizeof(got));
	ck_assert_str_eq(got, want);
	snprintf(want, sizeof(want), "%s %d", t->dst, t->dport);
	sa_text(&r.dst, r.dstlen, got, sizeof(got));
	ck_assert_str_eq(got, want);
	/* A buffer one byte short is refused, not overrun. */
	ck_assert_int_eq(proxyproto_build(t->version, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, buf, (size_t)n - 1), -1);
}
END_TEST

/* Families the protocol cannot carry: v1 UNKNOWN, v2 LOCAL/UNSPEC. */
START_TEST(test_unknown_families)
{
	struct sockaddr_un		 un;
	struct sockaddr_storage		 v4, v6;
	struct proxyproto_result	 r;
	char				 buf[PROXYPROTO_MAX];
	int				 n;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, "/run/x.sock");
	sa_make(&v4, "127.0.0.1", 80);
	sa_make(&v6, "2001:db8::1", 80);

	n = proxyproto_build(PROXYPROTO_V1, (struct sockaddr *)&un,
	    (struct sockaddr *)&v4, buf, sizeof(buf));
	ck_assert_int_eq(n, 15);
	ck_assert_mem_eq(buf, "PROXY UNKNOWN\r\n", 15);
	ck_assert_int_eq(proxyproto_parse(buf, (size_t)n, &r), n);
	ck_assert_int_eq(r.local, 1);
	ck_assert_int_eq(r.version, 1);

	/* IPv4 against a real IPv6 address: nothing to meet in. */
	n = proxyproto_build(PROXYPROTO_V1, (struct sockaddr *)&v4,
	    (struct sockaddr *)&v6, buf, sizeof(buf));
	ck_assert_int_eq(n, 15);
	n = proxyproto_build(PROXYPROTO_V2, (struct sockaddr *)&v4,
	    (struct sockaddr *)&v6, buf, sizeof(buf));
	ck_assert_int_eq(n, 16);
	ck_assert_int_eq((unsigned char)buf[12], 0x20);	/* v2 LOCAL */
	ck_assert_int_eq((unsigned char)buf[13], 0x00);	/* UNSPEC */
	ck_assert_int_eq(proxyproto_parse(buf, (size_t)n, &r), 16);
	ck_assert_int_eq(r.local, 1);
	ck_assert_int_eq(r.version, 2);

	/* v1 has no datagram form. */
	ck_assert_int_eq(proxyproto_build(PROXYPROTO_V1 | PROXYPROTO_DGRAM,
	    (struct sockaddr *)&v4, (struct sockaddr *)&v4, buf,
	    sizeof(buf)), -1);
	ck_assert_int_eq(proxyproto_build(3, (struct sockaddr *)&v4,
	    (struct sockaddr *)&v4, buf, sizeof(buf)), -1);
}
END_TEST

/* An IPv4-mapped address meets an IPv4 one as TCP4. */
START_TEST(test_mapped_meets_ipv4)
{
	struct sockaddr_storage		 src, dst;
	static const char		 want[] =
	    "PROXY TCP4 192.0.2.1 127.0.0.1 1000 80\r\n";
	char				 buf[PROXYPROTO_V1_MAX];
	int				 n;

	sa_make(&src, "::ffff:192.0.2.1", 1000);
	sa_make(&dst, "127.0.0.1", 80);
	n = proxyproto_build(PROXYPROTO_V1, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, buf, sizeof(buf));
	ck_assert_int_eq(n, (int)sizeof(want) - 1);
	ck_assert_mem_eq(buf, want, sizeof(want) - 1);
}
END_TEST

struct hdr {
	const char	*bytes;
	size_t		 len;
};
#define HDR(s)	{ s, sizeof(s) - 1 }
#define TEN	"0123456789"
#define NINETY	TEN TEN TEN TEN TEN TEN TEN TEN TEN

/* Valid headers, including the limits: 107 bytes of v1, TLVs in v2. */
static const struct hdr valid[] = {
	HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
	HDR("PROXY TCP6 ::1 ::ffff:10.0.0.1 65535 0\r\n"),
	HDR("PROXY UNKNOWN\r\n"),
	HDR("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
	HDR("PROXY UNKNOWN " NINETY "0\r\n"),		/* 107 bytes */
	HDR("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"),
	/* TLVs after the addresses: ALPN "h2", then a NOOP. */
	HDR("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x15"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"
	    "\x01\x00\x02h2\x04\x00\x01\x00"),
	HDR("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00"),
	/* LOCAL with a family and addresses: both ignored. */
	HDR("\r\n\r\n\0\r\nQUIT\n\x20\x11\x00\x0c"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"),
	/* PROXY UNSPEC: the receiver may use the socket's addresses. */
	HDR("\r\n\r\n\0\r\nQUIT\n\x21\x00\x00\x00"),
};

/* Every prefix needs more; the whole parses; what follows is not read. */
START_TEST(test_every_split)
{
	const struct hdr		*h = &valid[_i];
	struct proxyproto_result	 r;
	char				 buf[PROXYPROTO_MAX];
	size_t				 k;

	for (k = 0; k < h->len; k++) {
		ck_assert_msg(proxyproto_parse(h->bytes, k, &r) == 0,
		    "header %d: %zu of %zu bytes: not 0 (%s)", _i, k, h->len,
		    r.error ? r.error : "");
	}
	ck_assert_int_eq(proxyproto_parse(h->bytes, h->len, &r),
	    (int)h->len);
	memcpy(buf, h->bytes, h->len);
	memset(buf + h->len, 'x', 300);
	ck_assert_int_eq(proxyproto_parse(buf, h->len + 300, &r),
	    (int)h->len);
}
END_TEST

struct bad {
	struct hdr	 h;
	const char	*error;		/* a substring of r.error */
};

static const struct bad bads[] = {
	{ HDR("GET / HTTP/1.1\r\n"), "not a PROXY header" },
	{ HDR("PROXZ TCP4"), "not a PROXY header" },
	{ HDR("\r\n\r\n\0\r\nQUIX\n"), "not a PROXY header" },
	{ HDR("\x16\x03\x01"), "not a PROXY header" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "LF without CR" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx"), "CR without LF" },
	{ HDR("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), "not text" },
	{ HDR("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), "PROTOCOL SRC" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), "PROTOCOL SRC" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "PROTOCOL SRC" },
	{ HDR("PROXY TCP4\r\n"), "PROTOCOL SRC" },
	{ HDR("PROXY \r\n"), "TCP4, TCP6" },
	{ HDR("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), "TCP4, TCP6" },
	{ HDR("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "TCP4, TCP6" },
	{ HDR("PROXY UNKNOWNX\r\n"), "TCP4, TCP6" },
	{ HDR("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), "source" },
	{ HDR("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n"), "source" },
	{ HDR("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), "source" },
	{ HDR("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), "source" },
	{ HDR("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), "source" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), "source" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "source" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), "source" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n"), "destination" },
	{ HDR("PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n"), "destination" },
	{ HDR("PROXY TCP6 ::1 ::g 1 2\r\n"), "destination" },
	{ HDR("PROXY UNKNOWN " NINETY "01\r\n"), "within 107" },
	{ HDR("PROXY UNKNOWN " NINETY "0123456789"), "within 107" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x11\x11\x00\x0c"), "version" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x22\x11\x00\x0c"), "command" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x41\x00\x00"), "family" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x13\x00\x0c"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"), "transport" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x10\x00\x0c"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"), "transport" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x01\x00\x00"), "transport" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x08"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02"), "addresses longer" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x0c"
	    "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"),
	    "addresses longer" },
	/* Refused on its length alone, before any of the rest arrives. */
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x11\x0f\xf1"), "longer than 4096" },
	{ HDR("\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff"), "longer than 4096" },
};

START_TEST(test_malformed)
{
	const struct bad		*b = &bads[_i];
	struct proxyproto_result	 r;

	ck_assert_msg(proxyproto_parse(b->h.bytes, b->h.len, &r) == -1,
	    "bad header %d was accepted", _i);
	ck_assert_ptr_nonnull(r.error);
	ck_assert_msg(strstr(r.error, b->error) != NULL,
	    "bad header %d: \"%s\", expected \"%s\"", _i, r.error,
	    b->error);
}
END_TEST

/* The longest v2 header accepted, and one byte more refused. */
START_TEST(test_v2_length_bound)
{
	struct proxyproto_result	 r;
	static char			 buf[PROXYPROTO_MAX + 1];
	size_t				 alen = PROXYPROTO_MAX - 16;

	memcpy(buf, v2sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = (char)(alen >> 8);
	buf[15] = (char)(alen & 0xff);
	ck_assert_int_eq(proxyproto_parse(buf, PROXYPROTO_MAX - 1, &r), 0);
	ck_assert_int_eq(proxyproto_parse(buf, PROXYPROTO_MAX, &r),
	    PROXYPROTO_MAX);
	alen++;
	buf[14] = (char)(alen >> 8);
	buf[15] = (char)(alen & 0xff);
	ck_assert_int_eq(proxyproto_parse(buf, 16, &r), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("proxyproto");
	TCase	*tb = tcase_create("build");
	TCase	*tp = tcase_create("parse");

	tcase_add_loop_test(tb, test_roundtrip, 0,
	    sizeof(trips) / sizeof(trips[0]));
	tcase_add_test(tb, test_unknown_families);
	tcase_add_test(tb, test_mapped_meets_ipv4);
	tcase_add_loop_test(tp, test_every_split, 0,
	    sizeof(valid) / sizeof(valid[0]));
	tcase_add_loop_test(tp, test_malformed, 0,
	    sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tp, test_v2_length_bound);
	suite_add_tcase(s, tb);
	suite_add_tcase(s, tp);
	return (check_run_suite(s));
}
