/*
 * proxyproto.h: the PROXY protocol (HAProxy's proxy-protocol.txt), version
 * 1 (a text line) and 2 (binary): building the header a proxy sends
 * before its first byte, and parsing the one a load balancer sends us.
 */
#ifndef DROVER_PROXYPROTO_H
#define DROVER_PROXYPROTO_H

#include <sys/socket.h>
#include <stddef.h>

#define PROXYPROTO_V1		1
#define PROXYPROTO_V2		2
#define PROXYPROTO_DGRAM	0x100	/* or'd with V2: a UDP flow */

#define PROXYPROTO_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PROXYPROTO_V2_HEAD	16	/* signature, command, family, length */
/*
 * The longest header accepted, as nginx's NGX_PROXY_PROTOCOL_MAX_HEADER.
 * v2's length field allows 16 + 65535 bytes; real senders send the
 * addresses and a few TLVs (ALPN, authority, unique id, SSL, cloud
 * endpoint ids), a few hundred bytes. drover skips TLVs, so a longer
 * header is refused rather than peeked at in a 64 KiB buffer.
 */
#define PROXYPROTO_MAX		4096

/* What a header said. */
struct proxyproto_result {
	int			 version;	/* 1 or 2 */
	/*
	 * 1: LOCAL (v2), UNKNOWN (v1), or a family drover does not use
	 * (v2 UNSPEC, AF_UNIX): the socket's own addresses stand, src and
	 * dst are not set.
	 */
	int			 local;
	int			 socktype;	/* SOCK_STREAM, SOCK_DGRAM, 0 */
	struct sockaddr_storage	 src;		/* the client */
	struct sockaddr_storage	 dst;		/* where it connected to */
	socklen_t		 srclen, dstlen;
	const char		*error;		/* -1: why, a short text */
};

/*
 * The header for a connection from src to dst, into buf: the bytes
 * written, or -1 when len is too small (PROXYPROTO_V1_MAX and
 * PROXYPROTO_V2_HEAD + 36 always do) or a v1 datagram header is asked
 * for (v1 has none). Families other than inet/inet6, or differing ones,
 * give "PROXY UNKNOWN" (v1) or LOCAL/UNSPEC (v2).
 */
int	 proxyproto_build(int, const struct sockaddr *,
	     const struct sockaddr *, char *, size_t);

/*
 * Parse the header at the start of buf: > 0 its length (what follows is
 * the client's), 0 more bytes are needed, -1 malformed or not a PROXY
 * header at all (r->error says which).
 */
int	 proxyproto_parse(const char *, size_t, struct proxyproto_result *);

#endif
