/*
 * http_proxy_resp.c: the upstream's response head: parsed whole and
 * checked before a byte of it goes to the client (a head that fails is
 * a 502, never passed on), its body's framing decided (RFC 9112 6.3),
 * then written to the client with drover's status line, Server and Date
 * and the client's own framing, minus the hop-by-hop fields.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_proxy.h"

/* A token character (RFC 9110 5.6.2). */
static int
http_proxy_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return (1);
	return (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
http_proxy_resp_is(const char *s, size_t len, const char *lit)
{
	return (strlen(lit) == len && strncasecmp(s, lit, len) == 0);
}

/* "HTTP/1.x SSS[ reason]": -1 if not. */
static int
http_proxy_resp_status(struct http_proxy_resp *r, const char *s, size_t len)
{
	if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
	    (s[7] != '0' && s[7] != '1') || s[8] != ' ' ||
	    s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9' || (len > 12 && s[12] != ' '))
		return (-1);
	r->version = s[7] == '1' ? 11 : 10;
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return (0);
}

/* Content-Length: digits; repeated ones must agree. */
static int
http_proxy_resp_clen(struct http_proxy_resp *r, const char *v, size_t len)
{
	int64_t	 n = 0;
	size_t	 i;

	if (len == 0 || len > 18)
		return (-1);
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return (-1);
		n = n * 10 + (v[i] - '0');
	}
	if (r->content_length != -1 && r->content_length != n)
		return (-1);
	r->content_length = n;
	return (0);
}

/* Transfer-Encoding: chunked last, or the body runs to the close. */
static void
http_proxy_resp_te(struct http_proxy_resp *r, const char *v, size_t len)
{
	size_t	 end = len;

	while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t'))
		end--;
	if (end >= 7 && strncasecmp(v + end - 7, "chunked", 7) == 0 &&
	    (end == 7 || v[end - 8] == ',' || v[end - 8] == ' ')) {
		r->chunked = 1;
		r->te_other = 0;
	} else {
		r->chunked = 0;
		r->te_other = 1;
	}
}

/* What a field says about the framing and the connection; the
 * Connection fields are remembered, for the fields they name. */
static int
http_proxy_resp_meaning(struct http_proxy_resp *r, const char *n, size_t nl,
    const char *v, size_t vl)
{
	if (http_proxy_resp_is(n, nl, "content-length"))
		return (http_proxy_resp_clen(r, v, vl));
	if (http_proxy_resp_is(n, nl, "transfer-encoding")) {
		r->te = 1;
		http_proxy_resp_te(r, v, vl);
	} else if (http_proxy_resp_is(n, nl, "connection")) {
		r->conn[r->nconn++] = (uint8_t)(r->nhdrs - 1);
		r->conn_close |= http_proxy_named(v, vl, "close", 5);
		r->conn_keep |= http_proxy_named(v, vl, "keep-alive", 10);
		r->conn_upgrade |= http_proxy_named(v, vl, "upgrade", 7);
	}
	return (0);
}

/* One field line "name: value" (base: the offset of s in p->in). */
static int
http_proxy_resp_field(struct http_proxy *p, size_t base, size_t len)
{
	struct http_proxy_resp	*r = &p->resp;
	struct http_proxy_hdr	*h;
	const char		*s = p->in + base;
	size_t			 i, colon, vs, ve;

	for (i = 0; i < len && http_proxy_tchar((unsigned char)s[i]); i++)
		;
	if (i == 0 || i == len || s[i] != ':' ||
	    r->nhdrs == HTTP_PROXY_MAX_HEADERS)
		return (-1);	/* obs-fold, a bad name, too many */
	colon = i;
	for (vs = i + 1; vs < len && (s[vs] == ' ' || s[vs] == '\t'); vs++)
		;
	for (ve = len; ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t');)
		ve--;
	for (i = vs; i < ve; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') ||
		    s[i] == 0x7f)
			return (-1);
	h = &r->hdrs[r->nhdrs++];
	h->name = (uint16_t)base;
	h->name_len = (uint16_t)colon;
	h->value = (uint16_t)(base + vs);
	h->value_len = (uint16_t)(ve - vs);
	return (http_proxy_resp_meaning(r, s, h->name_len, s + vs, ve - vs));
}

/* A framing that cannot be trusted (RFC 9112 6.1, 6.3): both
 * Content-Length and Transfer-Encoding (smuggling, or splitting), or a
 * Transfer-Encoding in HTTP/1.0. A 502, and the connection closed. */
static int
http_proxy_resp_check(struct http_proxy *p)
{
	const struct http_proxy_resp	*r = &p->resp;

	if (r->te && r->content_length != -1)
		p->cause = "both Content-Length and Transfer-Encoding";
	else if (r->te && r->version == 10)
		p->cause = "Transfer-Encoding in an HTTP/1.0 response";
	else
		return (0);
	return (-1);
}

/* The status line and the fields of the head in in[off, end). */
static int
http_proxy_resp_lines(struct http_proxy *p, size_t off, size_t end)
{
	const char	*eol;
	size_t		 len;
	int		 first = 1;

	memset(&p->resp, 0, offsetof(struct http_proxy_resp, hdrs));
	p->resp.content_length = -1;
	while (off < end) {
		eol = memmem(p->in + off, end - off + 2, "\r\n", 2);
		len = (size_t)(eol - (p->in + off));
		if (first ? http_proxy_resp_status(&p->resp, p->in + off,
		    len) : http_proxy_resp_field(p, off, len)) {
			p->cause = first ? "a bad status line" :
			    "a bad header field";
			return (-1);
		}
		first = 0;
		off += len + 2;
	}
	if (first) {
		p->cause = "an empty response head";
		return (-1);
	}
	return (http_proxy_resp_check(p));
}

/* How the body ends (RFC 9112 6.3). */
static void
http_proxy_resp_framing(struct http_proxy *p)
{
	struct http_proxy_resp	*r = &p->resp;
	int			 s = r->status;

	p->resp_done = 0;
	if (s < 200) {		/* interim: the final head is still to come */
		p->framing = HTTP_PROXY_NONE;
		return;
	}
	if (p->c->x->req.method == HTTP_METHOD_HEAD || s == 204 || s == 304)
		p->framing = HTTP_PROXY_NONE;
	else if (r->chunked) {
		p->framing = HTTP_PROXY_CHUNKED;
		http_chunked_init(&p->chunked, UINT64_MAX);
	} else if (r->te_other || r->content_length < 0)
		p->framing = HTTP_PROXY_CLOSE;
	else {
		p->framing = HTTP_PROXY_LENGTH;
		p->left = (uint64_t)r->content_length;
	}
	if (p->framing == HTTP_PROXY_NONE ||
	    (p->framing == HTTP_PROXY_LENGTH && p->left == 0))
		p->resp_done = 1;
}

/* Parse the head at in_off once it is whole: 1 parsed, 0 more needed,
 * -1 bad (or larger than the buffer). */
int
http_proxy_resp_parse(struct http_proxy *p)
{
	const char	*end;
	size_t		 from = p->head_scan > 3 ? p->head_scan - 3 : p->in_off;

	if (from < p->in_off)
		from = p->in_off;
	end = memmem(p->in + from, p->in_len - from, "\r\n\r\n", 4);
	if (end == NULL) {
		p->head_scan = p->in_len;
		if (p->in_len == HTTP_PROXY_IN) {
			p->cause = "a response head too large";
			return (-1);
		}
		return (0);
	}
	if (http_proxy_resp_lines(p, p->in_off, (size_t)(end - p->in)) == -1)
		return (-1);
	p->in_off = (size_t)(end - p->in) + 4;
	p->head_scan = p->in_off;
	http_proxy_resp_framing(p);
	return (1);
}

/* Fields of the response that do not pass: hop-by-hop ones, those its
 * Connection names, and those drover writes itself. */
static int
http_proxy_resp_skip(struct http_proxy *p, const char *n, size_t nl)
{
	struct http_proxy_resp	*r = &p->resp;
	struct http_proxy_hdr	*h;
	unsigned		 i;

	if (http_proxy_hop(n, nl) || http_proxy_resp_is(n, nl,
	    "content-length") || http_proxy_resp_is(n, nl, "server") ||
	    http_proxy_resp_is(n, nl, "date") || http_proxy_resp_is(n, nl,
	    "via"))
		return (1);
	for (i = 0; i < r->nconn; i++) {
		h = &r->hdrs[r->conn[i]];
		if (http_proxy_named(p->in + h->value, h->value_len, n, nl))
			return (1);
	}
	return (0);
}

/* The fields that pass, then Via (the upstream's, and ours). */
static void
http_proxy_resp_fields(struct http_proxy *p)
{
	struct http_conn	*c = p->c;
	struct http_proxy_hdr	*h;
	unsigned		 i;

	for (i = 0; i < p->resp.nhdrs; i++) {
		h = &p->resp.hdrs[i];
		if (http_proxy_resp_skip(p, p->in + h->name, h->name_len))
			continue;
		/* name, ": ", value as one span: the line as it came,
		 * but for the spaces around the value */
		http_response_add(c, p->in + h->name, h->name_len);
		http_response_add(c, ": ", 2);
		http_response_add(c, p->in + h->value, h->value_len);
		http_response_add(c, "\r\n", 2);
	}
	http_response_add(c, "Via: ", 5);
	for (i = 0; i < p->resp.nhdrs; i++) {
		h = &p->resp.hdrs[i];
		if (!http_proxy_resp_is(p->in + h->name, h->name_len, "via"))
			continue;
		http_response_add(c, p->in + h->value, h->value_len);
		http_response_add(c, ", ", 2);
	}
	http_response_add(c, "1.1 drover\r\n", 12);
}

/* The head to the client: the body in the framing the client can read
 * (chunked for HTTP/1.1 when its length is not known, for HTTP/1.0 up
 * to the close). */
void
http_proxy_resp_send(struct http_proxy *p)
{
	struct http_conn	*c = p->c;
	struct http_proxy_resp	*r = &p->resp;
	int64_t			 clen = -1;
	int			 stream;

	stream = p->framing == HTTP_PROXY_CHUNKED ||
	    p->framing == HTTP_PROXY_CLOSE;
	if (p->framing == HTTP_PROXY_LENGTH)
		clen = r->content_length;
	else if (c->x->req.method == HTTP_METHOD_HEAD && !r->chunked &&
	    r->status >= 200 && r->status != 204 && r->status != 304)
		clen = r->content_length;
	if (stream && c->x->req.version == 10)
		c->keep_alive = 0;	/* to the close: no chunks in 1.0 */
	http_response_head(c, r->status, NULL, clen);
	if (stream && c->x->req.version != 10)
		http_response_chunked(c);
	http_proxy_resp_fields(p);
	http_response_end_head(c);
	p->head_sent = 1;
}

/* A 101: its head as the upstream sent it but for Server, Date and
 * Via, with the Upgrade the upstream agreed to. */
void
http_proxy_resp_send_101(struct http_proxy *p)
{
	struct http_conn	*c = p->c;
	struct http_proxy_hdr	*h;
	unsigned		 i;

	c->x->status = 101;
	http_response_add(c, "HTTP/1.1 101 Switching Protocols\r\n", 34);
	http_proxy_resp_fields(p);
	http_response_add(c, "Connection: upgrade\r\n", 21);
	for (i = 0; i < p->resp.nhdrs; i++) {
		h = &p->resp.hdrs[i];
		if (!http_proxy_resp_is(p->in + h->name, h->name_len,
		    "upgrade"))
			continue;
		http_response_add(c, "Upgrade: ", 9);
		http_response_add(c, p->in + h->value, h->value_len);
		http_response_add(c, "\r\n", 2);
	}
	http_response_end_head(c);
	p->head_sent = 1;
}
