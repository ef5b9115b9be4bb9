/*
 * http_proxy_head.c: the request head a proxied request is sent upstream
 * with: the method and target as received, HTTP/1.1, the client's header
 * fields minus the hop-by-hop ones (RFC 9110 7.6.1), the forwarding
 * fields (X-Forwarded-For appended to the client's, X-Forwarded-Proto,
 * X-Forwarded-Host, Forwarded as RFC 7239, Via), and the body's framing:
 * Content-Length as it came, chunked passed on in chunks. The whole head
 * is built in the proxy's output buffer, to go out with one send.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conf.h"
#include "http/http_proxy.h"

#define HTTP_PROXY_OUT_MIN	4096

enum http_proxy_kind {
	KIND_PASS,
	KIND_DROP,	/* hop-by-hop, or one we write ourselves */
	KIND_XFF,	/* X-Forwarded-For: kept, ours appended */
	KIND_FWD,	/* Forwarded */
	KIND_VIA,
	KIND_CLEN,	/* Content-Length: dropped if chunked */
};

/* Room for n more bytes in p->out: 0, or -1 out of memory. */
int
http_proxy_out_reserve(struct http_proxy *p, size_t n)
{
	size_t	 cap;
	char	*b;

	if (p->out_sent > 0 && p->out_sent == p->out_len) {
		p->out_sent = p->out_len = 0;
		p->replayable = 0;
	}
	if (p->out_cap - p->out_len >= n)
		return (0);
	if (p->out_sent > 0) {
		p->replayable = 0;
		memmove(p->out, p->out + p->out_sent, p->out_len - p->out_sent);
		p->out_len -= p->out_sent;
		p->out_sent = 0;
		if (p->out_cap - p->out_len >= n)
			return (0);
	}
	cap = p->out_cap ? p->out_cap : HTTP_PROXY_OUT_MIN;
	while (cap - p->out_len < n)
		cap *= 2;
	if ((b = realloc(p->out, cap)) == NULL)
		return (-1);
	p->out = b;
	p->out_cap = cap;
	return (0);
}

/* Append to p->out (room reserved by the caller). */
static void
http_proxy_put(struct http_proxy *p, const void *s, size_t n)
{
	memcpy(p->out + p->out_len, s, n);
	p->out_len += n;
}

#define PUTS(p, lit)	http_proxy_put((p), (lit), sizeof(lit) - 1)

static int
http_proxy_is(const char *s, size_t len, const char *lit, size_t litlen)
{
	return (len == litlen && strncasecmp(s, lit, len) == 0);
}

#define IS(s, len, lit)	http_proxy_is((s), (len), (lit), sizeof(lit) - 1)

/* A hop-by-hop field: never passed on, either way. */
int
http_proxy_hop(const char *s, size_t len)
{
	if (len >= 6 && strncasecmp(s, "proxy-", 6) == 0)
		return (1);
	return (IS(s, len, "connection") || IS(s, len, "keep-alive") ||
	    IS(s, len, "te") || IS(s, len, "trailer") ||
	    IS(s, len, "transfer-encoding") || IS(s, len, "upgrade"));
}

/* Is name one of the comma-separated tokens of list (Connection)? */
int
http_proxy_named(const char *list, size_t llen, const char *name,
    size_t nlen)
{
	size_t	 i = 0, start, end;

	while (i < llen) {
		while (i < llen && (list[i] == ' ' || list[i] == '\t' ||
		    list[i] == ','))
			i++;
		start = i;
		while (i < llen && list[i] != ',')
			i++;
		end = i;
		while (end > start && (list[end - 1] == ' ' ||
		    list[end - 1] == '\t'))
			end--;
		if (end > start && http_proxy_is(list + start, end - start,
		    name, nlen))
			return (1);
	}
	return (0);
}

static enum http_proxy_kind
http_proxy_head_kind(const char *s, size_t len)
{
	if (http_proxy_hop(s, len))
		return (KIND_DROP);
	if (len < 3 || len > 17)
		return (KIND_PASS);
	if (IS(s, len, "x-forwarded-for"))
		return (KIND_XFF);
	if (IS(s, len, "forwarded"))
		return (KIND_FWD);
	if (IS(s, len, "via"))
		return (KIND_VIA);
	if (IS(s, len, "content-length"))
		return (KIND_CLEN);
	if (IS(s, len, "x-forwarded-proto") || IS(s, len, "x-forwarded-host") ||
	    IS(s, len, "expect"))	/* the core answered 100 already */
		return (KIND_DROP);
	return (KIND_PASS);
}

/* The request's header field i: name and value. */
static void
http_proxy_head_field(struct http_conn *c, unsigned i, const char **n,
    size_t *nl, const char **v, size_t *vl)
{
	const struct http_header	*h = &c->x->req.headers[i];

	*n = http_request_str(c, h->name);
	*nl = h->name.len;
	*v = http_request_str(c, h->value);
	*vl = h->value.len;
}

/* The client's Connection fields: their indices, found once a request
 * (a field is then checked against these, not against every field). */
#define HTTP_PROXY_CONN_MAX	8

struct http_proxy_conns {
	unsigned	 n;		/* > HTTP_PROXY_CONN_MAX: see named */
	unsigned	 idx[HTTP_PROXY_CONN_MAX];
};

static void
http_proxy_head_conns(struct http_conn *c, struct http_proxy_conns *cn)
{
	const char	*n, *v;
	size_t		 l, vl;
	unsigned	 i;

	cn->n = 0;
	for (i = 0; i < c->x->req.nheaders; i++) {
		http_proxy_head_field(c, i, &n, &l, &v, &vl);
		if (!IS(n, l, "connection"))
			continue;
		if (cn->n < HTTP_PROXY_CONN_MAX)
			cn->idx[cn->n] = i;
		cn->n++;
	}
}

/* Is name listed in the client's Connection fields? With more of them
 * than remembered (odd, never seen), every field is looked at. */
static int
http_proxy_head_conn_named(struct http_conn *c,
    const struct http_proxy_conns *cn, const char *name, size_t nl)
{
	const char	*n, *v;
	size_t		 l, vl;
	unsigned	 i, k, end;
	int		 all = cn->n > HTTP_PROXY_CONN_MAX;

	end = all ? c->x->req.nheaders : cn->n;
	for (k = 0; k < end; k++) {
		i = all ? k : cn->idx[k];
		http_proxy_head_field(c, i, &n, &l, &v, &vl);
		if (IS(n, l, "connection") && http_proxy_named(v, vl, name, nl))
			return (1);
	}
	return (0);
}

/* The value of the client's first field called name, or NULL. */
static const char *
http_proxy_head_value(struct http_conn *c, const char *name, size_t nl,
    size_t *vl)
{
	const char	*n, *v;
	size_t		 l;
	unsigned	 i;

	for (i = 0; i < c->x->req.nheaders; i++) {
		http_proxy_head_field(c, i, &n, &l, &v, vl);
		if (http_proxy_is(n, l, name, nl))
			return (v);
	}
	return (NULL);
}

/* "Name: v1, v2, " from the client's fields of kind k (none: "Name: "). */
static int
http_proxy_head_join(struct http_proxy *p, enum http_proxy_kind k,
    const char *name, size_t nl)
{
	struct http_conn	*c = p->c;
	const char		*n, *v;
	size_t			 l, vl;
	unsigned		 i;

	if (http_proxy_out_reserve(p, nl + 2) == -1)
		return (-1);
	http_proxy_put(p, name, nl);
	PUTS(p, ": ");
	for (i = 0; i < c->x->req.nheaders; i++) {
		http_proxy_head_field(c, i, &n, &l, &v, &vl);
		if (vl == 0 || http_proxy_head_kind(n, l) != k)
			continue;
		if (http_proxy_out_reserve(p, vl + 2) == -1)
			return (-1);
		http_proxy_put(p, v, vl);
		PUTS(p, ", ");
	}
	return (0);
}

/* The client's address as text (a, n) for Forwarded: IPv6 as "[v6]". */
static size_t
http_proxy_head_fwd_addr(struct http_conn *c, const char *a, size_t n,
    char *buf, size_t size)
{
	if (c->peer.sa.sa_family != AF_INET6 || n + 5 > size) {
		memcpy(buf, a, n < size ? n : size);
		return (n < size ? n : size);
	}
	buf[0] = '"';
	buf[1] = '[';
	memcpy(buf + 2, a, n);
	memcpy(buf + 2 + n, "]\"", 2);
	return (n + 4);
}

/* Forwarded's host parameter: a quoted-string (a Host may hold ':'). */
static int
http_proxy_head_quoted(struct http_proxy *p, const char *s, size_t len)
{
	size_t	 i;

	if (http_proxy_out_reserve(p, 2 * len + 2) == -1)
		return (-1);
	PUTS(p, "\"");
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			PUTS(p, "\\");
		http_proxy_put(p, s + i, 1);
	}
	PUTS(p, "\"");
	return (0);
}

/* X-Forwarded-*, Forwarded and Via, each after the client's own. */
static int
http_proxy_head_forwarding(struct http_proxy *p)
{
	struct http_request	*req = &p->c->x->req;
	const char		*host = http_request_str(p->c, req->host);
	const char		*peer = http_conn_peer(p->c);	/* once */
	size_t			 plen = strlen(peer), n;
	char			 addr[INET6_ADDRSTRLEN + 8];

	if (http_proxy_head_join(p, KIND_XFF, "X-Forwarded-For", 15) == -1 ||
	    http_proxy_out_reserve(p, 256 + req->host.len) == -1)
		return (-1);
	n = http_proxy_head_fwd_addr(p->c, peer, plen, addr, sizeof(addr));
	http_proxy_put(p, peer, plen);
	PUTS(p, "\r\nX-Forwarded-Proto: http\r\n");
	if (req->has_host) {
		PUTS(p, "X-Forwarded-Host: ");
		http_proxy_put(p, host, req->host.len);
		PUTS(p, "\r\n");
	}
	if (http_proxy_head_join(p, KIND_FWD, "Forwarded", 9) == -1 ||
	    http_proxy_out_reserve(p, 64) == -1)
		return (-1);
	PUTS(p, "for=");
	http_proxy_put(p, addr, n);
	PUTS(p, ";proto=http");
	if (req->has_host && req->host.len > 0) {
		PUTS(p, ";host=");
		if (http_proxy_head_quoted(p, host, req->host.len) == -1)
			return (-1);
	}
	PUTS(p, "\r\n");
	if (http_proxy_head_join(p, KIND_VIA, "Via", 3) == -1 ||
	    http_proxy_out_reserve(p, 16) == -1)
		return (-1);
	PUTS(p, "1.1 drover\r\n");
	return (0);
}

/* The request line: the method and target as they came. */
static int
http_proxy_head_line(struct http_proxy *p)
{
	struct http_request	*req = &p->c->x->req;

	if (http_proxy_out_reserve(p, req->method_text.len +
	    req->target.len + 16) == -1)
		return (-1);
	http_proxy_put(p, http_request_str(p->c, req->method_text),
	    req->method_text.len);
	PUTS(p, " ");
	http_proxy_put(p, http_request_str(p->c, req->target),
	    req->target.len);
	PUTS(p, " HTTP/1.1\r\n");
	return (0);
}

/* Fields Connection may not take away: the body's framing (its
 * Content-Length; chunked is ours) and Host. Dropping them while the
 * body still went up would make it a request of its own (smuggling). */
static int
http_proxy_head_kept(const char *n, size_t l, enum http_proxy_kind k)
{
	return (k == KIND_CLEN || IS(n, l, "host"));
}

/* The client's fields that pass, as they came. */
static int
http_proxy_head_fields(struct http_proxy *p,
    const struct http_proxy_conns *cn)
{
	struct http_conn	*c = p->c;
	enum http_proxy_kind	 k;
	const char		*n, *v;
	size_t			 l, vl;
	unsigned		 i;

	for (i = 0; i < c->x->req.nheaders; i++) {
		http_proxy_head_field(c, i, &n, &l, &v, &vl);
		k = http_proxy_head_kind(n, l);
		if (k == KIND_CLEN && c->x->req.chunked)
			continue;	/* the chunks frame the body */
		if ((k != KIND_PASS && k != KIND_CLEN) || (cn->n > 0 &&
		    !http_proxy_head_kept(n, l, k) &&
		    http_proxy_head_conn_named(c, cn, n, l)))
			continue;
		if (http_proxy_out_reserve(p, l + vl + 4) == -1)
			return (-1);
		http_proxy_put(p, n, l);
		PUTS(p, ": ");
		http_proxy_put(p, v, vl);
		PUTS(p, "\r\n");
	}
	return (0);
}

/* The Host to send when the client sent none (HTTP/1.0): the server's
 * address, or "localhost" for a unix socket (no host name to give). */
static void
http_proxy_head_host(struct http_proxy *p)
{
	const char	*name = "localhost";

	if (p->uc.peer->conf->addr.ss.ss_family != AF_UNIX)
		name = upstream_peer_name(p->uc.peer);
	PUTS(p, "Host: ");
	http_proxy_put(p, name, strlen(name));
	PUTS(p, "\r\n");
}

/* The body's framing, the upgrade asked for, a Host if there was none.
 * An upgrade only for GET in HTTP/1.1 (RFC 9110 7.8: HTTP/1.0 ignores
 * it; a HEAD's 101 would tunnel with no body to end it). */
static int
http_proxy_head_end(struct http_proxy *p, const struct http_proxy_conns *cn)
{
	struct http_conn	*c = p->c;
	const char		*up = NULL;
	size_t			 ul = 0;

	if (c->x->req.method == HTTP_METHOD_GET && c->x->req.version == 11 &&
	    cn->n > 0)
		up = http_proxy_head_value(c, "upgrade", 7, &ul);
	p->upgrade = up != NULL && ul > 0 &&
	    http_proxy_head_conn_named(c, cn, "upgrade", 7);
	if (http_proxy_out_reserve(p, ul + 128 +
	    sizeof(p->uc.peer->conf->text)) == -1)
		return (-1);
	if (!c->x->req.has_host)	/* HTTP/1.1 requires one */
		http_proxy_head_host(p);
	if (p->req_chunked)
		PUTS(p, "Transfer-Encoding: chunked\r\n");
	if (p->upgrade) {
		PUTS(p, "Connection: upgrade\r\nUpgrade: ");
		http_proxy_put(p, up, ul);
		PUTS(p, "\r\n");
	}
	PUTS(p, "\r\n");
	return (0);
}

/* The whole head in p->out: 0, or -1 out of memory. */
int
http_proxy_head_build(struct http_proxy *p)
{
	struct http_proxy_conns	 cn;

	p->out_len = p->out_sent = 0;
	p->req_chunked = p->c->x->req.chunked;
	http_proxy_head_conns(p->c, &cn);
	if (http_proxy_head_line(p) == -1 ||
	    http_proxy_head_fields(p, &cn) == -1 ||
	    http_proxy_head_forwarding(p) == -1 ||
	    http_proxy_head_end(p, &cn) == -1)
		return (-1);
	p->replayable = 1;
	return (0);
}
