/* httphead.c: the front door's request-head parser (see httphead.h). Pure: no I/O, no
 * allocation. The listener calls it again each time more of a head has arrived; a head is
 * at most HTTPHEAD_MAX_HEAD bytes, so parsing from the start each time stays cheap.
 */
#include "control/httphead.h"
#include "common/rw.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int refuse(struct httphead *h, int status, const char *why)
{
	h->status = status;
	snprintf(h->errstr, sizeof(h->errstr), "%s", why);
	return RW_EPROTO;
}

/* RFC 9110 tchar: what a method or a field name is made of. */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A byte a field value may hold: visible ASCII, space, tab, and obs-text. */
static int is_value_char(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* Checks the bytes of a line that has not ended yet, so that a bad head is refused before
 * its end arrives: control characters, and obs-fold as soon as a field line starts. */
static int check_partial(struct httphead *h, const char *p, size_t n, int first_line)
{
	if (!first_line && n && (p[0] == ' ' || p[0] == '\t'))
		return refuse(h, 400, "obs-fold (a header line starting with a space or tab)");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (first_line ? (c < 0x20 || c >= 0x7f) : !is_value_char(c))
			return refuse(h, 400, "control character in the request head");
	}
	return 0;
}

static int parse_request_line(struct httphead *h, const char *p, size_t n)
{
	size_t i = 0, t;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (!i || i == n || p[i] != ' ')
		return refuse(h, 400, "malformed request line");
	h->method_len = (uint32_t)i;
	t = ++i;
	while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
		i++;
	if (i == t || i == n || p[i] != ' ')
		return refuse(h, 400, "malformed request line");
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) || (p[i + 7] != '0' && p[i + 7] != '1'))
		return refuse(h, 400, "malformed request line (want HTTP/1.0 or HTTP/1.1)");
	h->request_line_len = (uint32_t)n;
	return 0;
}

static int name_is(const char *buf, const struct httphead_field *f, const char *name)
{
	return f->name_len == strlen(name) && !strncasecmp(buf + f->name, name, f->name_len);
}

static int parse_field(struct httphead *h, const char *buf, size_t at, size_t n, int *te, int *hosts)
{
	const char *p = buf + at;
	size_t i = 0, v, e;
	struct httphead_field *f;

	if (p[0] == ' ' || p[0] == '\t')
		return refuse(h, 400, "obs-fold (a header line starting with a space or tab)");
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (!i || i == n || p[i] != ':')
		return refuse(h, 400, "malformed header field name");
	if (h->n_fields == HTTPHEAD_MAX_FIELDS)
		return refuse(h, 431, "more than 100 header fields");
	v = i + 1;
	while (v < n && (p[v] == ' ' || p[v] == '\t'))
		v++;
	e = n;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	for (size_t k = v; k < e; k++)
		if (!is_value_char((unsigned char)p[k]))
			return refuse(h, 400, "control character in a header value");
	f = &h->fields[h->n_fields];
	*f = (struct httphead_field){ (uint32_t)at, (uint32_t)i, (uint32_t)(at + v),
				      (uint32_t)(e - v), (uint32_t)at, (uint32_t)n };
	if (name_is(buf, f, "content-length")) {
		if (h->content_length >= 0)
			return refuse(h, 400, "Content-Length given twice");
		if (!f->value_len || f->value_len > 18)
			return refuse(h, 400, "malformed Content-Length");
		h->content_length = 0;
		for (size_t k = 0; k < f->value_len; k++) {
			char c = buf[f->value + k];
			if (c < '0' || c > '9')
				return refuse(h, 400, "malformed Content-Length");
			h->content_length = h->content_length * 10 + (c - '0');
		}
	} else if (name_is(buf, f, "transfer-encoding")) {
		*te = 1;
	} else if (name_is(buf, f, "host")) {
		if (++*hosts > 1)
			return refuse(h, 400, "Host given twice");
	} else if (name_is(buf, f, "sec-websocket-protocol")) {
		if (!h->n_protocol++)
			h->protocol = (int)h->n_fields;
	} else if (name_is(buf, f, HTTPHEAD_BEARER_HEADER)) {
		h->bearer_header = (int)h->n_fields;
	}
	h->n_fields++;
	return 0;
}

int httphead_parse(struct httphead *h, const char *buf, size_t len)
{
	size_t scan = len < HTTPHEAD_MAX_HEAD ? len : HTTPHEAD_MAX_HEAD, pos = 0;
	int line = 0, te = 0, hosts = 0, r;

	h->head_len = 0;
	h->method_len = h->request_line_len = 0;
	h->n_fields = 0;
	h->content_length = -1;
	h->protocol = h->bearer_header = -1;
	h->n_protocol = 0;
	h->status = 0;
	h->errstr[0] = '\0';
	for (;; line++) {
		size_t i = pos;
		while (i < scan && buf[i] != '\r' && buf[i] != '\n')
			i++;
		if (i < scan && buf[i] == '\n')
			return refuse(h, 400, "bare LF line end (want CRLF)");
		if (i + 1 < scan && buf[i + 1] != '\n')
			return refuse(h, 400, "bare CR in the request head");
		if (i + 1 >= scan) {
			/* the line has not ended in what arrived */
			if ((r = check_partial(h, buf + pos, i - pos, line == 0)))
				return r;
			if (len >= HTTPHEAD_MAX_HEAD)
				return refuse(h, 431, "request head larger than 16 KiB");
			return 0;
		}
		if (line == 0) {
			if ((r = parse_request_line(h, buf, i)))
				return r;
		} else if (i == pos) {
			h->head_len = i + 2;
			break;
		} else if ((r = parse_field(h, buf, pos, i - pos, &te, &hosts))) {
			return r;
		}
		pos = i + 2;
	}
	if (te && h->content_length >= 0)
		return refuse(h, 400, "both Transfer-Encoding and Content-Length");
	if (te)
		return refuse(h, 501, "Transfer-Encoding in a request is not supported");
	return (int)h->head_len;
}

/* A JWT is three base64url parts joined by dots. */
static int is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

int httphead_rewrite_bearer(struct httphead *h, const char *buf, char *out, size_t cap)
{
	static const char proto_line[] = "Sec-WebSocket-Protocol: bearer\r\n";
	static const char bearer_name[] = HTTPHEAD_BEARER_HEADER ": ";
	const struct httphead_field *pf;
	const char *v;
	size_t vl, total = 0, n, tok_len;

	if (h->protocol < 0)
		return 0;
	for (size_t i = 0; i < h->n_fields; i++)
		if (name_is(buf, &h->fields[i], "sec-websocket-protocol"))
			total += h->fields[i].value_len;
	if (total <= HTTPHEAD_PROTOCOL_LIMIT)
		return 0;
	pf = &h->fields[h->protocol];
	v = buf + pf->value;
	vl = pf->value_len;
	if (vl < 6 || strncasecmp(v, "bearer", 6) || (vl > 6 && v[6] != ',' && v[6] != ' '))
		return refuse(h, 431, "Sec-WebSocket-Protocol longer than 127 bytes");
	if (h->n_protocol > 1)
		return refuse(h, 400, "Sec-WebSocket-Protocol given twice with a bearer token");
	/* only the upgrade needs this path, and an upgrade has no body; lws 4.1 also spins
	 * serving a given head whose body is still in the socket */
	if (h->method_len != 3 || memcmp(buf, "GET", 3) || h->content_length > 0)
		return refuse(h, 400, "a bearer token in Sec-WebSocket-Protocol is for a GET upgrade without a body");
	if (h->bearer_header >= 0)
		return refuse(h, 400, "a bearer token both in Sec-WebSocket-Protocol and in "
				      HTTPHEAD_BEARER_HEADER);
	v += 6;
	vl -= 6;
	while (vl && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	if (!vl || *v != ',')
		return refuse(h, 400, "want \"bearer, <token>\" in Sec-WebSocket-Protocol");
	v++;
	vl--;
	while (vl && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	tok_len = vl;
	if (!tok_len || tok_len > HTTPHEAD_MAX_TOKEN)
		return refuse(h, 400, "bearer token missing or longer than 4096 bytes");
	for (size_t i = 0; i < tok_len; i++)
		if (!is_token_char((unsigned char)v[i]))
			return refuse(h, 400, "bearer token has a character a JWT never has");

	n = h->request_line_len + 2;
	if (n > cap)
		return refuse(h, 431, "rewritten head too large");
	memcpy(out, buf, n);
	for (size_t i = 0; i < h->n_fields; i++) {
		const struct httphead_field *f = &h->fields[i];
		if ((int)i == h->protocol)
			continue;
		if (n + f->line_len + 2 > cap)
			return refuse(h, 431, "rewritten head too large");
		memcpy(out + n, buf + f->line, f->line_len + 2);
		n += f->line_len + 2;
	}
	if (n + sizeof(proto_line) - 1 + sizeof(bearer_name) - 1 + tok_len + 4 > cap)
		return refuse(h, 431, "rewritten head too large");
	memcpy(out + n, proto_line, sizeof(proto_line) - 1);
	n += sizeof(proto_line) - 1;
	memcpy(out + n, bearer_name, sizeof(bearer_name) - 1);
	n += sizeof(bearer_name) - 1;
	memcpy(out + n, v, tok_len);
	n += tok_len;
	memcpy(out + n, "\r\n\r\n", 4);
	n += 4;
	return (int)n;
}
