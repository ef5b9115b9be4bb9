/* check_udp.c: the reply's source address from the received pktinfo, and
 * the UDP echo service answering from the address it was sent to. */
#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/stats.h"
#include "event/service.h"
#include "stream/udp.h"
#include "checklib.h"

/* A received datagram's control data, as the kernel would write it. */
struct fake_rx {
	struct msghdr	 msg;
	union {
		struct cmsghdr	 align;
		char		 buf[256];
	} ctl;
	size_t		 len;
};

static void
fake_add(struct fake_rx *r, int level, int type, const void *data,
    size_t len)
{
	struct cmsghdr	*cm = (struct cmsghdr *)(void *)(r->ctl.buf + r->len);

	ck_assert_uint_le(r->len + CMSG_SPACE(len), sizeof(r->ctl.buf));
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
	r->len += CMSG_SPACE(len);
	r->msg.msg_control = r->ctl.buf;
	r->msg.msg_controllen = r->len;
}

static void
fake_v4(struct fake_rx *r, const char *spec_dst, const char *addr, int ifx)
{
	struct in_pktinfo	 pi;

	memset(&pi, 0, sizeof(pi));
	ck_assert_int_eq(inet_pton(AF_INET, spec_dst, &pi.ipi_spec_dst), 1);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &pi.ipi_addr), 1);
	pi.ipi_ifindex = ifx;
	fake_add(r, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
}

static void
fake_v6(struct fake_rx *r, const char *addr, unsigned ifx)
{
	struct in6_pktinfo	 pi;

	memset(&pi, 0, sizeof(pi));
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &pi.ipi6_addr), 1);
	pi.ipi6_ifindex = ifx;
	fake_add(r, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
}

/* The answer's control data for r: its one pktinfo's data, or NULL. */
static const void *
reply_of(struct fake_rx *r, void *out, size_t outlen, int level, int type)
{
	struct udp_local	 l;
	struct msghdr		 m;
	struct cmsghdr		*cm;

	memset(&m, 0, sizeof(m));
	(void)udp_local_get(&r->msg, &l);
	m.msg_control = out;
	m.msg_controllen = udp_local_put(&l, out, outlen);
	if (m.msg_controllen == 0)
		return (NULL);
	cm = CMSG_FIRSTHDR(&m);
	ck_assert_ptr_nonnull(cm);
	ck_assert_int_eq(cm->cmsg_level, level);
	ck_assert_int_eq(cm->cmsg_type, type);
	ck_assert_ptr_null(CMSG_NXTHDR(&m, cm));
	return (CMSG_DATA(cm));
}

static char *
ntop(int af, const void *a)
{
	static char	 s[INET6_ADDRSTRLEN];

	ck_assert_ptr_nonnull(inet_ntop(af, a, s, sizeof(s)));
	return (s);
}

START_TEST(test_v4_from_the_destination)
{
	struct fake_rx		 r = { 0 };
	union {
		struct cmsghdr	 align;
		char		 buf[UDP_CMSG_TX_SPACE];
	} out;
	struct in_pktinfo	 pi;

	fake_v4(&r, "127.0.0.2", "127.0.0.2", 1);
	memcpy(&pi, reply_of(&r, out.buf, sizeof(out.buf), IPPROTO_IP,
	    IP_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET, &pi.ipi_spec_dst), "127.0.0.2");
	ck_assert_int_eq(pi.ipi_ifindex, 0);
}
END_TEST

START_TEST(test_v4_broadcast_from_the_interface)
{
	struct fake_rx		 r = { 0 }, r2 = { 0 };
	union {
		struct cmsghdr	 align;
		char		 buf[UDP_CMSG_TX_SPACE];
	} out;
	struct in_pktinfo	 pi;

	/* Sent to the subnet's broadcast: the kernel names our address. */
	fake_v4(&r, "10.1.2.3", "10.1.2.255", 2);
	memcpy(&pi, reply_of(&r, out.buf, sizeof(out.buf), IPPROTO_IP,
	    IP_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET, &pi.ipi_spec_dst), "10.1.2.3");
	/* Never a source a datagram cannot have. */
	fake_v4(&r2, "255.255.255.255", "255.255.255.255", 2);
	memcpy(&pi, reply_of(&r2, out.buf, sizeof(out.buf), IPPROTO_IP,
	    IP_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET, &pi.ipi_spec_dst), "0.0.0.0");
}
END_TEST

START_TEST(test_v6_scope_only_for_link_local)
{
	struct fake_rx		 r = { 0 }, r2 = { 0 }, r3 = { 0 };
	union {
		struct cmsghdr	 align;
		char		 buf[UDP_CMSG_TX_SPACE];
	} out;
	struct in6_pktinfo	 pi;

	fake_v6(&r, "2001:db8::7", 3);
	memcpy(&pi, reply_of(&r, out.buf, sizeof(out.buf), IPPROTO_IPV6,
	    IPV6_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET6, &pi.ipi6_addr), "2001:db8::7");
	ck_assert_uint_eq(pi.ipi6_ifindex, 0);
	fake_v6(&r2, "fe80::1", 3);
	memcpy(&pi, reply_of(&r2, out.buf, sizeof(out.buf), IPPROTO_IPV6,
	    IPV6_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET6, &pi.ipi6_addr), "fe80::1");
	ck_assert_uint_eq(pi.ipi6_ifindex, 3);
	fake_v6(&r3, "ff02::1", 3);
	memcpy(&pi, reply_of(&r3, out.buf, sizeof(out.buf), IPPROTO_IPV6,
	    IPV6_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET6, &pi.ipi6_addr), "::");
}
END_TEST

START_TEST(test_v4_mapped)
{
	struct fake_rx		 r = { 0 }, r2 = { 0 };
	union {
		struct cmsghdr	 align;
		char		 buf[UDP_CMSG_TX_SPACE];
	} out;
	struct in6_pktinfo	 pi;

	fake_v6(&r, "::ffff:127.0.0.5", 1);
	memcpy(&pi, reply_of(&r, out.buf, sizeof(out.buf), IPPROTO_IPV6,
	    IPV6_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET6, &pi.ipi6_addr), "::ffff:127.0.0.5");
	fake_v6(&r2, "::ffff:224.0.0.1", 1);
	memcpy(&pi, reply_of(&r2, out.buf, sizeof(out.buf), IPPROTO_IPV6,
	    IPV6_PKTINFO), sizeof(pi));
	ck_assert_str_eq(ntop(AF_INET6, &pi.ipi6_addr), "::ffff:0.0.0.0");
}
END_TEST

START_TEST(test_found_among_others_or_none)
{
	struct fake_rx		 r = { 0 }, none = { 0 };
	struct udp_local	 l;
	char			 small[8];
	int			 one = 1;

	fake_add(&r, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one));
	fake_v4(&r, "127.0.0.9", "127.0.0.9", 1);
	ck_assert_int_eq(udp_local_get(&r.msg, &l), 0);
	ck_assert_int_eq(l.family, AF_INET);
	ck_assert_uint_eq(udp_local_put(&l, small, sizeof(small)), 0);
	fake_add(&none, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one));
	ck_assert_int_eq(udp_local_get(&none.msg, &l), -1);
	ck_assert_int_eq(l.family, 0);
	ck_assert_uint_eq(udp_local_put(&l, r.ctl.buf, sizeof(r.ctl.buf)),
	    0);
	none.msg.msg_controllen = 0;
	ck_assert_int_eq(udp_local_get(&none.msg, &l), -1);
}
END_TEST

/* The service on a socket bound to 0.0.0.0: sent to 127.0.0.2, the
 * answer must come from 127.0.0.2 (the routing alone says 127.0.0.1). */
START_TEST(test_echo_answers_from_the_address_sent_to)
{
	struct server_conf	 conf;
	struct stats_counters	 st;
	struct wserver		 sv;
	struct sockaddr_in	 a, from;
	socklen_t		 len = sizeof(a);
	struct pollfd		 p;
	char			 err[128], buf[16];
	int			 s, c, one = 1;

	memset(&conf, 0, sizeof(conf));
	memset(&st, 0, sizeof(st));
	memset(&sv, 0, sizeof(sv));
	strcpy(conf.name, "u");
	sv.conf = &conf;
	sv.st = &st;
	sv.svc = service_find(PROTO_UDP_ECHO);
	ck_assert_ptr_eq(sv.svc, &udp_echo_service);
	ck_assert_int_eq(sv.svc->init(&sv, err, sizeof(err)), 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one,
	    sizeof(one)), 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	a.sin_addr.s_addr = htonl(0x7f000002);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(sendto(c, "ping", 4, 0, (struct sockaddr *)&a,
	    sizeof(a)), 4);
	p.fd = s;
	p.events = POLLIN;
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	sv.svc->datagrams(&sv, s);
	len = sizeof(from);
	ck_assert_int_eq(recvfrom(c, buf, sizeof(buf), 0,
	    (struct sockaddr *)&from, &len), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	ck_assert_str_eq(ntop(AF_INET, &from.sin_addr), "127.0.0.2");
	ck_assert_uint_eq(from.sin_port, a.sin_port);
	ck_assert_uint_eq(st.datagrams_in, 1);
	ck_assert_uint_eq(st.datagrams_out, 1);
	ck_assert_uint_eq(st.bytes_in, 4);
	ck_assert_uint_eq(st.bytes_out, 4);
	ck_assert_uint_eq(st.dropped_full, 0);
	/* Nothing queued: the service returns at once. */
	sv.svc->datagrams(&sv, s);
	ck_assert_uint_eq(st.datagrams_in, 1);
	sv.svc->shutdown(&sv);
	ck_assert_ptr_null(sv.svc_data);
	close(c);
	close(s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("udp");
	TCase	*tc = tcase_create("pktinfo");
	TCase	*te = tcase_create("echo");

	tcase_add_test(tc, test_v4_from_the_destination);
	tcase_add_test(tc, test_v4_broadcast_from_the_interface);
	tcase_add_test(tc, test_v6_scope_only_for_link_local);
	tcase_add_test(tc, test_v4_mapped);
	tcase_add_test(tc, test_found_among_others_or_none);
	tcase_add_test(te, test_echo_answers_from_the_address_sent_to);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, te);
	return (check_run_suite(s));
}
