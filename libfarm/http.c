#include "http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct http_parser *parser_of(llhttp_t *l)
{
    return (struct http_parser *)l->data;
}

static int fail(struct http_parser *p, int status, const char *reason)
{
    p->error_status = status;
    p->error_reason = reason;
    return -1;
}

static int count_header_bytes(struct http_parser *p, size_t len)
{
    p->header_bytes += len;
    if (p->header_bytes > p->limits.max_header_bytes)
        return fail(p, 431, "request header fields too large");
    return 0;
}

static void extend(struct http_span *s, const char *base, const char *at, size_t len)
{
    if (s->len == 0)
        s->off = (uint32_t)(at - base);
    s->len += (uint32_t)len;
}

static int on_message_begin(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);
    struct http_request *r = &p->req;
    r->n_headers = 0;
    r->url.off = r->url.len = 0;
    buf_clear(&r->body);
    r->has_expect_continue = false;
    p->header_bytes = 0;
    p->in_headers = true;
    p->last_was_value = true; /* the next field starts a header */
    p->message_done = false;
    p->started = true;
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);
    extend(&p->req.url, p->base, at, len);
    return count_header_bytes(p, len);
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);
    struct http_request *r = &p->req;
    size_t framing = 0;
    if (p->last_was_value) {
        if (r->n_headers == HTTP_MAX_HEADERS)
            return fail(p, 431, "too many header fields");
        struct http_header *h = &r->headers[r->n_headers++];
        h->name.off = h->name.len = h->value.off = h->value.len = 0;
        p->last_was_value = false;
        framing = 4; /* ": " and CRLF, once per field: a name may come in several pieces */
    }
    /* RFC 9112 5.1: no whitespace between a field name and its colon (request smuggling). */
    for (size_t i = 0; i < len; i++)
        if (at[i] == ' ' || at[i] == '\t')
            return fail(p, 400, "whitespace in a header field name");
    extend(&r->headers[r->n_headers - 1].name, p->base, at, len);
    return count_header_bytes(p, len + framing);
}

/* RFC 9112 5.2: obsolete line folding. llhttp accepts a value continued on the next line
 * (CRLF, then space or tab); a node that does not unfold it reads another header, or none
 * (a folded Transfer-Encoding: request smuggling). It shows as a line break between the
 * field and the value, or inside the value. */
static bool folded(const char *from, const char *to)
{
    return to > from && memchr(from, '\n', (size_t)(to - from)) != NULL;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);
    struct http_request *r = &p->req;
    p->last_was_value = true;
    if (r->n_headers > 0) {
        struct http_header *h = &r->headers[r->n_headers - 1];
        const char *after = h->value.len ? p->base + h->value.off + h->value.len
                                         : p->base + h->name.off + h->name.len;
        if (folded(after, at))
            return fail(p, 400, "obsolete line folding in a header value");
        extend(&h->value, p->base, at, len);
    }
    return count_header_bytes(p, len);
}

static int on_headers_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);
    struct http_request *r = &p->req;
    p->in_headers = false;
    r->method = llhttp_get_method(l);
    size_t elen;
    const char *e = http_header_get(r, p->base, "Expect", &elen);
    r->has_expect_continue = e && elen == 12 && strncasecmp(e, "100-continue", 12) == 0;
    r->version_major = llhttp_get_http_major(l);
    r->version_minor = llhttp_get_http_minor(l);
    /* HTTP/1.0 and 1.1 only: llhttp also takes 0.9 ("GET /") and other versions. */
    if (r->version_major != 1 || r->version_minor > 1)
        return fail(p, 505, "HTTP version not supported");
    /* No tunnels: llhttp would switch to raw bytes after a CONNECT. */
    if (r->method == HTTP_CONNECT)
        return fail(p, 501, "CONNECT is not supported");
    /* A request that asks to upgrade (WebSocket, h2c) is served as the plain HTTP request it
     * also is (RFC 9110 7.8 lets a server ignore Upgrade), and the connection stays HTTP:
     * llhttp would otherwise take every byte after it for the new protocol, and the
     * client's next request (curl --http2 sends Upgrade: h2c on each) got a 400. */
    l->upgrade = 0;
    if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->limits.max_body_bytes)
        return fail(p, 413, "request body too large");
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    struct http_parser *p = parser_of(l);
    if (p->req.body.len + len > p->limits.max_body_bytes)
        return fail(p, 413, "request body too large");
    if (buf_append(&p->req.body, at, len) != 0)
        return fail(p, 500, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    struct http_parser *p = parser_of(l);
    p->req.keep_alive = llhttp_should_keep_alive(l);
    p->message_done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
    memset(p, 0, sizeof *p);
    p->limits = *limits;
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
    p->llhttp.data = p;
    buf_init(&p->req.body);
}

void http_parser_cleanup(struct http_parser *p)
{
    buf_cleanup(&p->req.body);
}

enum http_feed http_parser_feed(struct http_parser *p, const char *buf, size_t from, size_t len,
                                size_t *used)
{
    p->base = buf;
    *used = 0;
    if (from >= len)
        return HTTP_FEED_MORE;
    llhttp_errno_t e = llhttp_execute(&p->llhttp, buf + from, len - from);
    switch (e) {
    case HPE_OK:
        *used = len - from;
        return HTTP_FEED_MORE;
    case HPE_PAUSED:
        *used = (size_t)(llhttp_get_error_pos(&p->llhttp) - (buf + from));
        return HTTP_FEED_REQUEST;
    default:
        if (p->error_status == 0) {
            p->error_status = 400;
            p->error_reason = llhttp_errno_name(e);
        }
        return HTTP_FEED_ERROR;
    }
}

void http_parser_next(struct http_parser *p)
{
    p->message_done = false;
    p->started = false;
    llhttp_resume(&p->llhttp);
}

bool http_parser_mid_message(const struct http_parser *p)
{
    return p->started && !p->message_done;
}

double http_read_timeout(const struct http_parser *p, bool have_bytes, double now,
                         double header_timeout, double idle_timeout, double *deadline)
{
    bool mid = p != NULL && http_parser_mid_message(p);
    if (mid && !p->in_headers)
        return idle_timeout; /* the head is in; the body may take its time, but not stall */
    if (!mid && !have_bytes) {
        *deadline = 0;
        return idle_timeout;
    }
    if (*deadline == 0)
        *deadline = now + header_timeout;
    return *deadline - now > 0.001 ? *deadline - now : 0.001;
}

bool http_continue_due(const struct http_parser *p, bool *sent)
{
    if (*sent || !p->req.has_expect_continue || !p->started || p->in_headers)
        return false;
    *sent = true;
    return true;
}

const char *http_method_name(int method)
{
    return llhttp_method_name((llhttp_method_t)method);
}

const char *http_header_get(const struct http_request *r, const char *buf, const char *name,
                            size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name.len == n && strncasecmp(buf + h->name.off, name, n) == 0) {
            if (len)
                *len = h->value.len;
            return buf + h->value.off;
        }
    }
    return NULL;
}

/* host[:port], host an IPv4 address, [IPv6] or localhost. */
static bool authority_is_local(const char *s, size_t n)
{
    const char *colon = NULL;
    size_t hlen = n;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return false;
        hlen = (size_t)(close - s) + 1;
        if (hlen < n && s[hlen] != ':')
            return false;
        colon = hlen < n ? s + hlen : NULL;
    } else if ((colon = memchr(s, ':', n)) != NULL) {
        hlen = (size_t)(colon - s);
    }
    if (colon) { /* a port: 1 to 5 digits */
        size_t digits = n - hlen - 1;
        if (digits == 0 || digits > 5)
            return false;
        for (size_t i = hlen + 1; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                return false;
    }
    char host[64];
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return true;
    unsigned char addr[16];
    if (host[0] == '[') {
        host[hlen - 1] = '\0';
        return inet_pton(AF_INET6, host + 1, addr) == 1;
    }
    return inet_pton(AF_INET, host, addr) == 1;
}

bool http_request_is_local(const struct http_request *r, const char *buf)
{
    size_t n;
    const char *host = http_header_get(r, buf, "Host", &n);
    if (host && !authority_is_local(host, n))
        return false;
    const char *origin = http_header_get(r, buf, "Origin", &n);
    if (origin == NULL)
        return true;
    static const char http[] = "http://", https[] = "https://";
    if (n > sizeof http - 1 && strncasecmp(origin, http, sizeof http - 1) == 0)
        return authority_is_local(origin + sizeof http - 1, n - (sizeof http - 1));
    if (n > sizeof https - 1 && strncasecmp(origin, https, sizeof https - 1) == 0)
        return authority_is_local(origin + sizeof https - 1, n - (sizeof https - 1));
    return false; /* "null" (a sandboxed page, a file) or anything else */
}

void http_url_split(const struct http_request *r, const char *buf, const char **path,
                    size_t *path_len, const char **query, size_t *query_len)
{
    const char *u = buf + r->url.off;
    const char *q = memchr(u, '?', r->url.len);
    *path = u;
    *path_len = q ? (size_t)(q - u) : r->url.len;
    *query = q ? q + 1 : u + r->url.len;
    *query_len = q ? r->url.len - *path_len - 1 : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long http_param(const char *query, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && query[end] != '&')
            end++;
        const char *eq = memchr(query + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (query + i)) : end - i;
        if (klen == nlen && memcmp(query + i, name, nlen) == 0) {
            size_t o = 0;
            for (size_t j = eq ? (size_t)(eq - query) + 1 : end; j < end; j++) {
                char c = query[j];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && j + 2 < end && hexval(query[j + 1]) >= 0 &&
                           hexval(query[j + 2]) >= 0) {
                    c = (char)(hexval(query[j + 1]) << 4 | hexval(query[j + 2]));
                    j += 2;
                }
                if (o + 1 >= cap)
                    return -1;
                out[o++] = c;
            }
            out[o] = '\0';
            return (long)o;
        }
        i = end + 1;
    }
    return -1;
}

const char *http_cookie(const char *value, size_t len, const char *name, size_t *out_len)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == ';'))
            i++;
        const char *semi = memchr(value + i, ';', len - i);
        size_t end = semi ? (size_t)(semi - value) : len;
        if (end - i > nlen && memcmp(value + i, name, nlen) == 0 && value[i + nlen] == '=') {
            *out_len = end - i - nlen - 1;
            return value + i + nlen + 1;
        }
        i = end;
    }
    return NULL;
}

bool http_prefers_html(const struct http_request *r, const char *buf)
{
    size_t n;
    const char *a = http_header_get(r, buf, "Accept", &n);
    if (a == NULL)
        return false;
    for (size_t i = 0; i + 9 <= n; i++)
        if (strncasecmp(a + i, "text/html", 9) == 0)
            return true;
    return false;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

int http_start_response(struct buf *out, int status, bool close)
{
    return buf_printf(out, "HTTP/1.1 %d %s\r\n%s", status, http_reason(status),
                      close ? "Connection: close\r\n" : "");
}
