/*
 * addr.c: listen addresses. Only numeric hosts are accepted so that the
 * meaning of a config file never depends on the resolver: "127.0.0.1:8080",
 * "[::1]:8080", "*:8080" (any IPv4) and "[::]:8080" (any IPv6).
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"

static int
addr_parse_port(const char *s, int *port)
{
	char	*end;
	long	 v;

	if (*s == '\0' || *s == '+' || *s == '-' || *s == ' ')
		return (-1);
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 65535)
		return (-1);
	*port = (int)v;
	return (0);
}

/* Parse a listen address; on error, err names what is wrong. */
int
addr_parse(const char *s, struct addr *a, char *err, size_t errlen)
{
	char			 host[ADDR_STRLEN];
	const char		*colon, *portstr;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a->ss;
	size_t			 hlen;
	int			 port;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (colon == NULL || colon[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [IPV6]:PORT", s);
			return (-1);
		}
		hlen = (size_t)(colon - s - 1);
		portstr = colon + 2;
		if (hlen == 0 || hlen >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": bad IPv6 address", s);
			return (-1);
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen, "\"%s\": bad IPv6 address \"%s\"",
			    s, host);
			return (-1);
		}
		sin6->sin6_family = AF_INET6;
		a->len = sizeof(*sin6);
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "\"%s\": expected HOST:PORT", s);
			return (-1);
		}
		hlen = (size_t)(colon - s);
		portstr = colon + 1;
		if (hlen == 0 || hlen >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": missing host", s);
			return (-1);
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (strchr(host, ':') != NULL) {
			snprintf(err, errlen,
			    "\"%s\": IPv6 addresses go in brackets: [%s]:PORT",
			    s, host);
			return (-1);
		}
		if (strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(err, errlen, "\"%s\": host \"%s\" is not a "
			    "numeric IPv4 address (or [IPv6], or *)", s, host);
			return (-1);
		}
		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
	}
	if (addr_parse_port(portstr, &port) == -1) {
		snprintf(err, errlen, "\"%s\": port must be a number from 0 "
		    "to 65535", s);
		return (-1);
	}
	addr_set_port(a, port);
	return (0);
}

/* Format as "1.2.3.4:80" or "[::1]:80". */
void
addr_format(const struct addr *a, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host,
		    sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, addr_port(a));
	} else if (a->ss.ss_family == AF_INET) {
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)&a->ss)->sin_addr, host,
		    sizeof(host));
		snprintf(buf, len, "%s:%d", host, addr_port(a));
	} else
		snprintf(buf, len, "(unknown family %d)", a->ss.ss_family);
}

/* Same family, host and port. */
int
addr_equal(const struct addr *a, const struct addr *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;

	if (a->ss.ss_family != b->ss.ss_family)
		return (0);
	if (a->ss.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->ss;
		b4 = (const struct sockaddr_in *)&b->ss;
		return (a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr);
	}
	a6 = (const struct sockaddr_in6 *)&a->ss;
	b6 = (const struct sockaddr_in6 *)&b->ss;
	return (a6->sin6_port == b6->sin6_port &&
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0);
}

int
addr_port(const struct addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return (ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port));
	return (ntohs(((const struct sockaddr_in *)&a->ss)->sin_port));
}

void
addr_set_port(struct addr *a, int port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
}

int
addr_family(const struct addr *a)
{
	return (a->ss.ss_family);
}
