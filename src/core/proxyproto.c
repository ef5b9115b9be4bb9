/*
 * proxyproto.c: the PROXY protocol codec, versions 1 and 2, as HAProxy's
 * proxy-protocol.txt specifies them. The parser is strict (a header that
 * the specification says must be rejected is), works on whatever prefix
 * of the stream has arrived, and needs no state between calls: the caller
 * peeks, calls again with more, and consumes exactly the header's length.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/proxyproto.h"

static const char pp_v1_sig[] = "PROXY ";
#define PP_V1_SIGLEN	(sizeof(pp_v1_sig) - 1)

static const unsigned char pp_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PP_V2_VERSION	0x20
#define PP_V2_LOCAL	0x00
#define PP_V2_PROXY	0x01
#define PP_V2_UNSPEC	0x00
#define PP_V2_INET	0x10
#define PP_V2_INET6	0x20
#define PP_V2_UNIX	0x30
#define PP_V2_STREAM	0x01
#define PP_V2_DGRAM	0x02
#define PP_V2_INET_LEN	12	/* two IPv4 addresses, two ports */
#define PP_V2_INET6_LEN	36
#define PP_V2_UNIX_LEN	216	/* two 108-byte paths */

/* An IPv4-mapped IPv6 address as the IPv4 one, into *out; 0 if not one. */
static int
pp_unmap(const struct sockaddr *sa, struct sockaddr_in *out)
{
	const struct sockaddr_in6	*s6 = (const void *)sa;

	if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return (0);
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = s6->sin6_port;
	memcpy(&out->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	return (1);
}

/*
 * The family both addresses can be sent in, 0 if none: differing ones
 * meet as IPv4 when one is IPv4-mapped (a dual-stack listener's client
 * talking to an IPv4 upstream), else the header says "unknown".
 */
static int
pp_family(const struct sockaddr **src, const struct sockaddr **dst,
    struct sockaddr_in *s4, struct sockaddr_in *d4)
{
	int	 f = (*src)->sa_family;

	if (f != (*dst)->sa_family) {
		if (pp_unmap(*src, s4))
			*src = (const struct sockaddr *)s4;
		if (pp_unmap(*dst, d4))
			*dst = (const struct sockaddr *)d4;
		f = (*src)->sa_family;
		if (f != (*dst)->sa_family)
			return (0);
	}
	return (f == AF_INET || f == AF_INET6 ? f : 0);
}

static int
pp_build_v1(int f, const struct sockaddr *src, const struct sockaddr *dst,
    char *buf, size_t len)
{
	const struct sockaddr_in	*s4 = (const void *)src;
	const struct sockaddr_in	*d4 = (const void *)dst;
	const struct sockaddr_in6	*s6 = (const void *)src;
	const struct sockaddr_in6	*d6 = (const void *)dst;
	char				 line[PROXYPROTO_V1_MAX + 1];
	char				 sa[INET6_ADDRSTRLEN];
	char				 da[INET6_ADDRSTRLEN];
	int				 n;

	if (f == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, sa, sizeof(sa));
		inet_ntop(AF_INET, &d4->sin_addr, da, sizeof(da));
		n = snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\r\n",
		    sa, da, ntohs(s4->sin_port), ntohs(d4->sin_port));
	} else if (f == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, sa, sizeof(sa));
		inet_ntop(AF_INET6, &d6->sin6_addr, da, sizeof(da));
		n = snprintf(line, sizeof(line), "PROXY TCP6 %s %s %u %u\r\n",
		    sa, da, ntohs(s6->sin6_port), ntohs(d6->sin6_port));
	} else
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > len)
		return (-1);
	memcpy(buf, line, (size_t)n);
	return (n);
}

static int
pp_build_v2(int f, int dgram, const struct sockaddr *src,
    const struct sockaddr *dst, char *buf, size_t len)
{
	const struct sockaddr_in	*s4 = (const void *)src;
	const struct sockaddr_in	*d4 = (const void *)dst;
	const struct sockaddr_in6	*s6 = (const void *)src;
	const struct sockaddr_in6	*d6 = (const void *)dst;
	unsigned char			*p = (unsigned char *)buf;
	size_t				 alen;

	alen = f == AF_INET ? PP_V2_INET_LEN : f == AF_INET6 ?
	    PP_V2_INET6_LEN : 0;
	if (len < PROXYPROTO_V2_HEAD + alen)
		return (-1);
	memcpy(p, pp_v2_sig, sizeof(pp_v2_sig));
	/* Nothing to tell: LOCAL, so the receiver uses the socket's. */
	p[12] = PP_V2_VERSION | (alen ? PP_V2_PROXY : PP_V2_LOCAL);
	p[13] = alen == 0 ? PP_V2_UNSPEC : (f == AF_INET ? PP_V2_INET :
	    PP_V2_INET6) | (dgram ? PP_V2_DGRAM : PP_V2_STREAM);
	p[14] = (unsigned char)(alen >> 8);
	p[15] = (unsigned char)alen;
	p += PROXYPROTO_V2_HEAD;
	if (f == AF_INET) {
		memcpy(p, &s4->sin_addr, 4);
		memcpy(p + 4, &d4->sin_addr, 4);
		memcpy(p + 8, &s4->sin_port, 2);
		memcpy(p + 10, &d4->sin_port, 2);
	} else if (f == AF_INET6) {
		memcpy(p, &s6->sin6_addr, 16);
		memcpy(p + 16, &d6->sin6_addr, 16);
		memcpy(p + 32, &s6->sin6_port, 2);
		memcpy(p + 34, &d6->sin6_port, 2);
	}
	return ((int)(PROXYPROTO_V2_HEAD + alen));
}

int
proxyproto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, char *buf, size_t len)
{
	struct sockaddr_in	 s4, d4;
	int			 dgram = (version & PROXYPROTO_DGRAM) != 0;
	int			 f = 0;

	if (src != NULL && dst != NULL)
		f = pp_family(&src, &dst, &s4, &d4);
	switch (version & ~PROXYPROTO_DGRAM) {
	case PROXYPROTO_V1:
		return (dgram ? -1 : pp_build_v1(f, src, dst, buf, len));
	case PROXYPROTO_V2:
		return (pp_build_v2(f, dgram, src, dst, buf, len));
	}
	return (-1);
}

static int
pp_error(struct proxyproto_result *r, const char *why)
{
	r->error = why;
	return (-1);
}

/* A v1 port: decimal 0..65535 without leading zeros; -1 if not one. */
static long
pp_v1_port(const char *s)
{
	long	 v = 0;
	size_t	 i, n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	return (v <= 65535 ? v : -1);
}

/* One address and port of a v1 line into ss; -1 if either is bad. */
static int
pp_v1_addr(int f, const char *a, const char *port,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	long			 p;

	if ((p = pp_v1_port(port)) == -1)
		return (-1);
	memset(ss, 0, sizeof(*ss));
	if (f == AF_INET) {
		/* glibc's inet_pton takes exactly four decimal octets,
		 * without leading zeros, as the specification asks. */
		if (inet_pton(AF_INET, a, &s4->sin_addr) != 1)
			return (-1);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*s4);
	} else {
		if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1)
			return (-1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*s6);
	}
	return (0);
}

/*
 * The end of a v1 line (just past its CRLF), 0 if not there yet, -1 if
 * it cannot be a v1 line: a bare CR or LF, a byte that is not printable
 * ASCII, or no CRLF within PROXYPROTO_V1_MAX bytes.
 */
static int
pp_v1_end(const char *buf, size_t len, struct proxyproto_result *r)
{
	size_t	 i;

	for (i = 0; i < len && i < PROXYPROTO_V1_MAX; i++) {
		if (buf[i] == '\r') {
			if (i + 1 < len && buf[i + 1] != '\n')
				return (pp_error(r, "v1: CR without LF"));
			continue;
		}
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return (pp_error(r, "v1: LF without CR"));
			return ((int)i + 1);
		}
		if ((unsigned char)buf[i] < 0x20 ||
		    (unsigned char)buf[i] > 0x7e)
			return (pp_error(r, "v1: a byte that is not text"));
	}
	if (len >= PROXYPROTO_V1_MAX)
		return (pp_error(r, "v1: no CRLF within 107 bytes"));
	return (0);
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n", TCP6, or "PROXY UNKNOWN...". */
static int
pp_parse_v1(const char *buf, size_t len, struct proxyproto_result *r)
{
	char	 line[PROXYPROTO_V1_MAX + 1], *f[5], *p;
	int	 end, n, family;

	if ((end = pp_v1_end(buf, len, r)) <= 0)
		return (end);
	r->version = 1;
	r->socktype = SOCK_STREAM;
	/* The line without "PROXY " and CRLF, split at single spaces. */
	memcpy(line, buf + PP_V1_SIGLEN, (size_t)end - PP_V1_SIGLEN - 2);
	line[end - PP_V1_SIGLEN - 2] = '\0';
	if (strcmp(line, "UNKNOWN") == 0 || strncmp(line, "UNKNOWN ", 8) == 0) {
		/* The rest of the line is to be ignored. */
		r->local = 1;
		r->socktype = 0;
		return (end);
	}
	for (n = 0, p = line; n < 5 && p != NULL; n++)
		f[n] = strsep(&p, " ");
	if (strcmp(f[0], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		family = AF_INET6;
	else
		return (pp_error(r, "v1: protocol not TCP4, TCP6 or UNKNOWN"));
	if (n != 5 || p != NULL)
		return (pp_error(r, "v1: not PROTOCOL SRC DST SPORT DPORT"));
	if (pp_v1_addr(family, f[1], f[3], &r->src, &r->srclen) == -1)
		return (pp_error(r, "v1: bad source address or port"));
	if (pp_v1_addr(family, f[2], f[4], &r->dst, &r->dstlen) == -1)
		return (pp_error(r, "v1: bad destination address or port"));
	return (end);
}

/* The addresses of a v2 PROXY command: family byte fam, at p. */
static void
pp_v2_addrs(int fam, const unsigned char *p, struct proxyproto_result *r)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&r->src;
	struct sockaddr_in	*d4 = (struct sockaddr_in *)&r->dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&r->src;
	struct sockaddr_in6	*d6 = (struct sockaddr_in6 *)&r->dst;

	if ((fam & 0xf0) == PP_V2_INET) {
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, p, 4);
		memcpy(&d4->sin_addr, p + 4, 4);
		memcpy(&s4->sin_port, p + 8, 2);
		memcpy(&d4->sin_port, p + 10, 2);
		r->srclen = r->dstlen = sizeof(*s4);
	} else {
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, p, 16);
		memcpy(&d6->sin6_addr, p + 16, 16);
		memcpy(&s6->sin6_port, p + 32, 2);
		memcpy(&d6->sin6_port, p + 34, 2);
		r->srclen = r->dstlen = sizeof(*s6);
	}
}

/* The 16-byte head, its address block and TLVs (skipped). */
static int
pp_parse_v2(const unsigned char *p, size_t len, struct proxyproto_result *r)
{
	size_t	 alen, need;
	int	 cmd, fam;

	if ((p[12] & 0xf0) != PP_V2_VERSION)
		return (pp_error(r, "v2: version is not 2"));
	cmd = p[12] & 0x0f;
	if (cmd != PP_V2_LOCAL && cmd != PP_V2_PROXY)
		return (pp_error(r, "v2: command not LOCAL or PROXY"));
	fam = p[13];
	alen = (size_t)p[14] << 8 | p[15];
	if (PROXYPROTO_V2_HEAD + alen > PROXYPROTO_MAX)
		return (pp_error(r, "v2: header longer than 4096 bytes"));
	if (len < PROXYPROTO_V2_HEAD + alen)
		return (0);
	r->version = 2;
	/* LOCAL: the family is to be ignored, the socket's addresses used. */
	if (cmd == PP_V2_LOCAL) {
		r->local = 1;
		return ((int)(PROXYPROTO_V2_HEAD + alen));
	}
	switch (fam & 0xf0) {
	case PP_V2_UNSPEC:
		need = 0;
		break;
	case PP_V2_INET:
		need = PP_V2_INET_LEN;
		break;
	case PP_V2_INET6:
		need = PP_V2_INET6_LEN;
		break;
	case PP_V2_UNIX:
		need = PP_V2_UNIX_LEN;
		break;
	default:
		return (pp_error(r, "v2: unknown address family"));
	}
	/* The specification lists 0x00, then STREAM or DGRAM for each. */
	if (fam == PP_V2_UNSPEC)
		r->socktype = 0;
	else if ((fam & 0x0f) == PP_V2_STREAM && need > 0)
		r->socktype = SOCK_STREAM;
	else if ((fam & 0x0f) == PP_V2_DGRAM && need > 0)
		r->socktype = SOCK_DGRAM;
	else
		return (pp_error(r, "v2: unknown transport protocol"));
	if (alen < need)
		return (pp_error(r, "v2: addresses longer than the header"));
	if (need == 0 || need == PP_V2_UNIX_LEN)
		r->local = 1;	/* nothing drover can use as a client */
	else
		pp_v2_addrs(fam, p + PROXYPROTO_V2_HEAD, r);
	return ((int)(PROXYPROTO_V2_HEAD + alen));
}

int
proxyproto_parse(const char *buf, size_t len, struct proxyproto_result *r)
{
	size_t	 n;

	memset(r, 0, sizeof(*r));
	if (len == 0)
		return (0);
	if (buf[0] == pp_v1_sig[0]) {
		n = len < PP_V1_SIGLEN ? len : PP_V1_SIGLEN;
		if (memcmp(buf, pp_v1_sig, n) != 0)
			return (pp_error(r, "not a PROXY header"));
		return (n < PP_V1_SIGLEN ? 0 : pp_parse_v1(buf, len, r));
	}
	n = len < sizeof(pp_v2_sig) ? len : sizeof(pp_v2_sig);
	if (memcmp(buf, pp_v2_sig, n) != 0)
		return (pp_error(r, "not a PROXY header"));
	if (len < PROXYPROTO_V2_HEAD)
		return (0);
	return (pp_parse_v2((const unsigned char *)buf, len, r));
}
